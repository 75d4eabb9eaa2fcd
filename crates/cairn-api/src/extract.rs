//! Extractors: who is calling ([`Authenticated`], [`OrgAdmin`]) and the query string
//! ([`QueryParams`]). Authorization shows in a handler's signature.

use std::net::IpAddr;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::HeaderName;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use cairn_control::ControlError;
use cairn_control::identity::Principal;

use crate::client::client_addr;
use crate::error::{ApiError, RequestError};
use crate::state::AppState;

/// Atlassian's caller header: when present it must name the authenticated account.
pub const X_ATL_ACCOUNT_ID: HeaderName = HeaderName::from_static("x-atl-account-id");

/// A caller who passed the Basic check.
pub struct Authenticated {
    pub principal: Principal,
    pub client_addr: IpAddr,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client_addr = client_addr(parts, &state.trusted_proxies);
        let mut values = parts.headers.get_all(AUTHORIZATION).iter();
        let first = values.next();
        if values.next().is_some() {
            state.metrics.auth_failure("repeated_header");
            return Err(RequestError::RepeatedAuthorization.into());
        }
        let principal = match state
            .identity
            .authenticate(first.map(|v| v.as_bytes()), client_addr)
            .await
        {
            Ok(p) => p,
            Err(err) => {
                match &err {
                    ControlError::Unauthenticated(f) => state.metrics.auth_failure(f.reason),
                    ControlError::Throttled { .. } => state.metrics.auth_failure("throttled"),
                    ControlError::RateLimited { .. } => state.metrics.rate_limited(),
                    _ => {}
                }
                return Err(err.into());
            }
        };
        if let Some(claimed) = parts.headers.get(X_ATL_ACCOUNT_ID)
            && claimed.as_bytes() != principal.account_id.as_bytes()
        {
            return Err(RequestError::OtherAccountId.into());
        }
        Ok(Authenticated {
            principal,
            client_addr,
        })
    }
}

/// An org admin of the `{orgId}` in the path.
pub struct OrgAdmin {
    pub principal: Principal,
    pub org_id: String,
    pub client_addr: IpAddr,
}

impl FromRequestParts<AppState> for OrgAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated {
            principal,
            client_addr,
        } = Authenticated::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| RequestError::NoSuchPath)?;
        let org_id = params
            .iter()
            .find(|(name, _)| *name == "orgId")
            .map(|(_, value)| value.to_string())
            .ok_or(RequestError::NoSuchPath)?;
        state.identity.require_org_admin(&principal, &org_id)?;
        Ok(OrgAdmin {
            principal,
            org_id,
            client_addr,
        })
    }
}

impl OrgAdmin {
    /// The caller as the audit log records them.
    pub fn actor(&self) -> cairn_control::identity::Actor {
        self.principal.actor(Some(self.client_addr.to_string()))
    }
}

/// Which base path the request came in on: v1 answers with v1's shapes where they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    pub v1: bool,
}

impl<S: Send + Sync> FromRequestParts<S> for ApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map(|u| u.path().to_string())
            .unwrap_or_else(|| parts.uri.path().to_string());
        Ok(ApiVersion {
            v1: path.starts_with(crate::routes::V1_BASE),
        })
    }
}

/// The query string as name/value pairs; the last of repeated names wins, unknown ones are
/// ignored (tolerant reader).
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The name of the first parameter for which `test` holds.
    pub fn first(&self, test: impl Fn(&str, &str) -> bool) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| test(k, v))
            .map(|(k, _)| k.as_str())
    }

    /// Every value of a repeated name, in order (e.g. the checked boxes of a form).
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl QueryParams {
    /// An optional enum filter, parsed exactly; a bad literal is a 400 naming the parameter.
    pub fn literal<T>(
        &self,
        name: &'static str,
        parse: fn(&str) -> Option<T>,
        literals: fn() -> String,
    ) -> Result<Option<T>, ApiError> {
        self.get(name)
            .map(|v| {
                parse(v).ok_or_else(|| {
                    RequestError::UnknownLiteral {
                        name,
                        value: v.to_string(),
                        literals: literals(),
                    }
                    .into()
                })
            })
            .transpose()
    }

    /// An optional boolean (`true`/`false`).
    pub fn flag(&self, name: &'static str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(_) => Err(RequestError::NotABoolean(name).into()),
        }
    }

    pub fn parse(query: &str) -> Self {
        QueryParams(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(QueryParams::parse(parts.uri.query().unwrap_or("")))
    }
}

/// An org admin of the org holding the registered site named by `{site}` in the path (its
/// cloudName or cloudId): the legacy export calls. A site in none of the caller's orgs is 404,
/// one in an org where the caller is a member is 403.
pub struct SiteAdmin {
    pub principal: Principal,
    pub site: cairn_store::SiteRecord,
    pub client_addr: IpAddr,
}

impl FromRequestParts<AppState> for SiteAdmin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Authenticated {
            principal,
            client_addr,
        } = Authenticated::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| RequestError::NoSuchPath)?;
        let name = params
            .iter()
            .find(|(name, _)| *name == "site")
            .map(|(_, value)| value.to_string())
            .ok_or(RequestError::NoSuchPath)?;
        let orgs: Vec<String> = principal
            .memberships
            .iter()
            .map(|(org, _)| org.clone())
            .collect();
        let site = state.management.find_site(&orgs, &name).await?;
        state.identity.require_org_admin(&principal, &site.org_id)?;
        Ok(SiteAdmin {
            principal,
            site,
            client_addr,
        })
    }
}

impl SiteAdmin {
    /// The caller as the audit log records them.
    pub fn actor(&self) -> cairn_control::identity::Actor {
        self.principal.actor(Some(self.client_addr.to_string()))
    }
}
