//! The server's secret: the key of every keyed hash the server keeps (API tokens today).
//!
//! Every node of a cluster must hold the same secret. Its fingerprint is recorded in the store on
//! first start, so a node started with another secret refuses to run instead of rejecting every
//! token.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

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
}
