use std::sync::Arc;

use cairn_control::identity::Identity;
use cairn_control::management::Management;
use cairn_store::MetaStore;

use crate::client::TrustedProxies;
use crate::metrics::Metrics;
use crate::web::WebSettings;

/// What every handler may use. Cloned per request (all fields are `Arc`s).
#[derive(Clone)]
pub struct AppState {
    pub identity: Arc<Identity>,
    pub management: Arc<Management>,
    /// Only for the readiness check: the domain reaches the store through its services.
    pub store: Arc<dyn MetaStore>,
    pub metrics: Arc<Metrics>,
    /// How the web pages set cookies.
    pub web: WebSettings,
    /// Whose `X-Forwarded-For` names the client (see `client.rs`).
    pub trusted_proxies: TrustedProxies,
}
