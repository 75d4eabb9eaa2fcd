//! Parsing an `Authorization` header for HTTP Basic authentication (RFC 7617), as Atlassian's
//! APIs accept it: `Basic base64(email:api_token)`.
//!
//! Pure functions, no I/O: this is what the fuzz and property tests drive.

use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};

/// Longest header value considered; anything longer is refused before decoding.
pub const MAX_HEADER_LEN: usize = 8 * 1024;

/// Standard alphabet; padding may be present or missing.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

#[derive(PartialEq, Eq)]
pub struct BasicCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// Why a header could not be read. Each has a message safe to show the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BasicError {
    Missing,
    Bearer,
    OtherScheme,
    NoCredentials,
    TooLong,
    NotBase64,
    NotUtf8,
    NoColon,
    EmptyUser,
    /// The decoded credential ends in a line break: made with `echo` instead of `echo -n`.
    TrailingNewline,
}

impl BasicError {
    pub fn message(self) -> &'static str {
        match self {
            BasicError::Missing => {
                "Authentication required. Send HTTP Basic credentials: your account email and an API token."
            }
            BasicError::Bearer => {
                "These APIs accept only HTTP Basic authentication with your account email and an API token; Bearer tokens are not accepted."
            }
            BasicError::OtherScheme => {
                "Unsupported authorization scheme. Use HTTP Basic with your account email and an API token."
            }
            BasicError::NoCredentials => {
                "The Basic authorization header is empty. Send Basic base64(email:api_token)."
            }
            BasicError::TooLong => "The authorization header is too long.",
            BasicError::NotBase64 => {
                "The Basic credentials are not valid Base64. Encode email:api_token with Base64 (for example: echo -n 'email:token' | base64 -w0)."
            }
            BasicError::NotUtf8 => "The Basic credentials are not valid UTF-8 text.",
            BasicError::NoColon => {
                "The Basic credentials have no colon. Send email:api_token, Base64-encoded."
            }
            BasicError::EmptyUser => "The Basic credentials have no email before the colon.",
            BasicError::TrailingNewline => {
                "The credentials end with a trailing newline: encode them with 'echo -n' (not 'echo') or printf, so no line break is included."
            }
        }
    }

    /// A short fixed label for metrics.
    pub fn reason(self) -> &'static str {
        match self {
            BasicError::Missing => "missing",
            BasicError::Bearer => "bearer",
            BasicError::OtherScheme => "other_scheme",
            BasicError::NoCredentials => "empty",
            BasicError::TooLong => "too_long",
            BasicError::NotBase64 => "not_base64",
            BasicError::NotUtf8 => "not_utf8",
            BasicError::NoColon => "no_colon",
            BasicError::EmptyUser => "empty_user",
            BasicError::TrailingNewline => "trailing_newline",
        }
    }
}

/// Reads one `Authorization` header value (as raw bytes: a header need not be UTF-8).
pub fn parse_authorization(value: Option<&[u8]>) -> Result<BasicCredentials, BasicError> {
    let value = value.ok_or(BasicError::Missing)?;
    if value.len() > MAX_HEADER_LEN {
        return Err(BasicError::TooLong);
    }
    let value = trim_ascii(value);
    let (scheme, rest) = match value.iter().position(|b| *b == b' ') {
        Some(i) => (&value[..i], trim_ascii(&value[i + 1..])),
        None => (value, &value[value.len()..]),
    };
    if scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(BasicError::Bearer);
    }
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return Err(BasicError::OtherScheme);
    }
    if rest.is_empty() {
        return Err(BasicError::NoCredentials);
    }
    let decoded = LENIENT
        .decode(rest)
        .or_else(|_| general_purpose::STANDARD.decode(rest))
        .map_err(|_| BasicError::NotBase64)?;
    let text = String::from_utf8(decoded).map_err(|_| BasicError::NotUtf8)?;
    if text.ends_with('\n') || text.ends_with('\r') {
        return Err(BasicError::TrailingNewline);
    }
    let (user, password) = text.split_once(':').ok_or(BasicError::NoColon)?;
    if user.is_empty() {
        return Err(BasicError::EmptyUser);
    }
    Ok(BasicCredentials {
        user: user.to_string(),
        password: password.to_string(),
    })
}

fn trim_ascii(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(credential: &str) -> Vec<u8> {
        format!("Basic {}", general_purpose::STANDARD.encode(credential)).into_bytes()
    }

    #[test]
    fn reads_what_curl_sends() {
        let creds = parse_authorization(Some(&header("ada@example.com:tok:en"))).unwrap();
        assert_eq!(creds.user, "ada@example.com");
        assert_eq!(
            creds.password, "tok:en",
            "the password is everything after the first colon"
        );
    }

    #[test]
    fn table_of_malformed_headers() {
        let b64 = |s: &str| general_purpose::STANDARD.encode(s);
        type Case = (&'static str, Option<Vec<u8>>, Result<(), BasicError>);
        let cases: Vec<Case> = vec![
            ("absent", None, Err(BasicError::Missing)),
            ("empty", Some(b"".to_vec()), Err(BasicError::OtherScheme)),
            (
                "only the scheme",
                Some(b"Basic".to_vec()),
                Err(BasicError::NoCredentials),
            ),
            (
                "scheme and spaces",
                Some(b"Basic    ".to_vec()),
                Err(BasicError::NoCredentials),
            ),
            (
                "bearer",
                Some(b"Bearer abc.def".to_vec()),
                Err(BasicError::Bearer),
            ),
            (
                "digest",
                Some(b"Digest username=x".to_vec()),
                Err(BasicError::OtherScheme),
            ),
            (
                "lower-case scheme",
                Some(format!("basic {}", b64("a@b:c")).into_bytes()),
                Ok(()),
            ),
            (
                "upper-case scheme",
                Some(format!("BASIC {}", b64("a@b:c")).into_bytes()),
                Ok(()),
            ),
            (
                "missing padding",
                Some(format!("Basic {}", b64("a@b:cd").trim_end_matches('=')).into_bytes()),
                Ok(()),
            ),
            (
                "invalid base64",
                Some(b"Basic !!!not-base64!!!".to_vec()),
                Err(BasicError::NotBase64),
            ),
            (
                "url-safe alphabet",
                Some(b"Basic _-_-".to_vec()),
                Err(BasicError::NotBase64),
            ),
            (
                "invalid utf-8",
                Some(
                    format!(
                        "Basic {}",
                        general_purpose::STANDARD.encode([0xff, 0xfe, b':', b'x'])
                    )
                    .into_bytes(),
                ),
                Err(BasicError::NotUtf8),
            ),
            (
                "no colon",
                Some(header("ada@example.com")),
                Err(BasicError::NoColon),
            ),
            ("many colons", Some(header("a@b:c:d:e")), Ok(())),
            (
                "empty user",
                Some(header(":token")),
                Err(BasicError::EmptyUser),
            ),
            (
                "echo without -n",
                Some(header("a@b:token\n")),
                Err(BasicError::TrailingNewline),
            ),
            (
                "windows newline",
                Some(header("a@b:token\r\n")),
                Err(BasicError::TrailingNewline),
            ),
            (
                "64 KiB",
                Some(vec![b'A'; 64 * 1024]),
                Err(BasicError::TooLong),
            ),
            (
                "binary",
                Some(vec![0, 159, 146, 150]),
                Err(BasicError::OtherScheme),
            ),
        ];
        for (name, value, expected) in cases {
            let got = parse_authorization(value.as_deref()).map(|_| ());
            assert_eq!(got, expected, "case {name}");
        }
    }

    proptest! {
        #[test]
        fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_authorization(Some(&bytes));
        }

        #[test]
        fn round_trips_any_user_and_password(user in "[^:\\r\\n]{1,40}", password in "[^\\r\\n]{0,80}") {
            let creds = parse_authorization(Some(&header(&format!("{user}:{password}")))).unwrap();
            prop_assert_eq!(creds.user, user);
            prop_assert_eq!(creds.password, password);
        }
    }
}
