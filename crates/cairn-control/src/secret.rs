//! The server's secret: the key of every keyed hash the server keeps (API tokens, sessions) and of
//! the credentials it must keep readable (sites' API tokens, storages' access keys), which it
//! seals with XChaCha20-Poly1305.
//!
//! Every node of a cluster must hold the same secret. Its fingerprint is recorded in the store on
//! first start, so a node started with another secret refuses to run instead of rejecting every
//! token.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, Payload};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const NONCE_LEN: usize = 24;
/// Marks the sealing scheme, so it can change without guessing what a stored value is.
const SEALED_PREFIX: &str = "v1.";

/// 32 bytes from the OS random source, or supplied by the operator.
#[derive(Clone)]
pub struct ServerSecret([u8; 32]);

impl std::fmt::Debug for ServerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerSecret(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("a sealed value could not be opened: wrong server secret or damaged data")]
    Unsealable,
    #[error("the server secret must be 64 hexadecimal characters (32 bytes)")]
    Malformed,
    #[error("the OS random source failed: {0}")]
    Random(String),
}

impl ServerSecret {
    pub fn generate() -> Result<Self, SecretError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| SecretError::Random(e.to_string()))?;
        Ok(ServerSecret(key))
    }

    /// Parses the hex form kept in the secret file or in `CAIRN_SECRET`.
    pub fn from_hex(text: &str) -> Result<Self, SecretError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SecretError::Malformed)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::Malformed)?;
        Ok(ServerSecret(key))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// HMAC-SHA-256 under this secret, with a purpose label so that one key never produces the
    /// same hash for two different uses.
    pub fn keyed_hash(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0)
            .expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// A non-secret identifier of this secret, to detect nodes configured with different ones.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.keyed_hash("cairn.secret-fingerprint", b"")[..8])
    }

    /// Encrypts `plaintext` for storage. `purpose` is bound in as associated data, so a value
    /// sealed for one use (say a site's token) cannot be passed off as another.
    pub fn seal(&self, purpose: &str, plaintext: &str) -> Result<String, SecretError> {
        let key = self.keyed_hash("cairn.seal", b"");
        let cipher = XChaCha20Poly1305::new(&key.into());
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| SecretError::Random(e.to_string()))?;
        let sealed = cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Unsealable)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", B64.encode(out)))
    }

    /// Opens what [`ServerSecret::seal`] made with the same `purpose`.
    pub fn open(&self, purpose: &str, sealed: &str) -> Result<String, SecretError> {
        let bytes = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|b| b.len() > NONCE_LEN)
            .ok_or(SecretError::Unsealable)?;
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SecretError::Unsealable)?;
        let key = self.keyed_hash("cairn.seal", b"");
        let plain = XChaCha20Poly1305::new(&key.into())
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: body,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Unsealable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Unsealable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_secret_and_purpose() {
        let secret = ServerSecret::generate().unwrap();
        let sealed = secret.seal("site-token", "ATATT3x-secret").unwrap();
        assert!(!sealed.contains("ATATT3x"), "{sealed}");
        assert_eq!(
            secret.open("site-token", &sealed).unwrap(),
            "ATATT3x-secret"
        );
        // Fresh nonce each time: equal plaintexts do not look equal at rest.
        assert_ne!(sealed, secret.seal("site-token", "ATATT3x-secret").unwrap());
        assert!(secret.open("storage-secret", &sealed).is_err());
        let other = ServerSecret::generate().unwrap();
        assert!(other.open("site-token", &sealed).is_err());
        let mut damaged = sealed.clone();
        damaged.pop();
        assert!(secret.open("site-token", &damaged).is_err());
        assert!(secret.open("site-token", "v1.").is_err());
        assert!(secret.open("site-token", "plaintext").is_err());
    }

    /// ARCHITECTURE.md: secrets never appear in `Debug` output.
    #[test]
    fn debug_shows_neither_the_secret_nor_a_sealed_credential_key() {
        let secret = ServerSecret::generate().unwrap();
        let shown = format!("{secret:?}");
        assert!(!shown.contains(&secret.to_hex()), "{shown}");
        assert!(!shown.contains(&secret.to_hex()[..16]), "{shown}");
        let target = crate::management::S3Target {
            endpoint: None,
            region: "eu-west-1".into(),
            bucket: "b".into(),
            prefix: None,
            access_key_id: Some("AKIA-visible".into()),
            secret_access_key: Some("s3cr3t-key-value".into()),
        };
        let shown = format!("{target:?}");
        assert!(!shown.contains("s3cr3t-key-value"), "{shown}");
    }
}
