//! Keys, AEAD sealing, keyed ids and key slots.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::Id;

/// Associated data of non-blob encrypted objects.
pub(crate) const AD_INDEX: &[u8] = b"cairn-vault/index";
pub(crate) const AD_SNAPSHOT: &[u8] = b"cairn-vault/snapshot";
pub(crate) const AD_PACK_HEADER: &[u8] = b"cairn-vault/pack-header";
pub(crate) const AD_PRUNE_MARK: &[u8] = b"cairn-vault/prune-mark";

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes a sealed object adds to its plaintext (nonce + tag).
pub const SEAL_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// The repository's master key material: 32 bytes for XChaCha20-Poly1305, 32 bytes for keyed BLAKE3 ids.
#[derive(Clone)]
pub struct MasterKey {
    enc: [u8; 32],
    id_key: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A fresh random key (what `init` does).
    pub fn random() -> Self {
        let mut enc = [0u8; 32];
        let mut id_key = [0u8; 32];
        rand::rng().fill_bytes(&mut enc);
        rand::rng().fill_bytes(&mut id_key);
        MasterKey { enc, id_key }
    }

    fn to_bytes(&self) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(&self.enc);
        out[32..].copy_from_slice(&self.id_key);
        out
    }

    fn from_bytes(b: &[u8]) -> Option<Self> {
        if b.len() != 64 {
            return None;
        }
        let mut enc = [0u8; 32];
        let mut id_key = [0u8; 32];
        enc.copy_from_slice(&b[..32]);
        id_key.copy_from_slice(&b[32..]);
        Some(MasterKey { enc, id_key })
    }

    /// The blob id of some plaintext: BLAKE3 keyed with the repository's id key.
    pub fn blob_id(&self, plaintext: &[u8]) -> Id {
        Id(*blake3::keyed_hash(&self.id_key, plaintext).as_bytes())
    }

    /// The FastCDC gear-table seed of this repository (derived, never stored).
    pub fn chunker_seed(&self) -> u64 {
        let k = blake3::derive_key("cairn-vault v1 fastcdc gear seed", &self.id_key);
        u64::from_le_bytes(k[..8].try_into().unwrap_or([0; 8]))
    }

    /// Compress (if it helps) and seal a blob; the blob id is the associated data.
    pub fn seal_blob(&self, id: &Id, plaintext: &[u8], zstd_level: i32) -> Vec<u8> {
        seal_with(&self.enc, &id.0, plaintext.len() + 1, |out| {
            encode_compressed(out, plaintext, zstd_level)
        })
    }

    /// Open, decompress and check a blob against its id. `None` means damaged.
    pub fn open_blob(&self, id: &Id, sealed: &[u8]) -> Option<Bytes> {
        let body = open_with(&self.enc, &id.0, sealed)?;
        let plain = decode_compressed(body)?;
        (self.blob_id(&plain) == *id).then_some(plain)
    }

    /// Seal a whole object (index, snapshot, pack header, prune mark), compressed with zstd.
    pub(crate) fn seal_object(&self, ad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal_with(&self.enc, ad, plaintext.len() + 1, |out| {
            encode_compressed(out, plaintext, 3)
        })
    }

    pub(crate) fn open_object(&self, ad: &[u8], sealed: &[u8]) -> Option<Bytes> {
        decode_compressed(open_with(&self.enc, ad, sealed)?)
    }
}

/// `nonce ‖ ciphertext ‖ tag`, with the plaintext written by `body` straight into the output and encrypted in
/// place (one copy of the data instead of three).
fn seal_with(
    key: &[u8; 32],
    ad: &[u8],
    len_hint: usize,
    body: impl FnOnce(&mut Vec<u8>),
) -> Vec<u8> {
    let mut out = Vec::with_capacity(NONCE_LEN + len_hint + TAG_LEN);
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill_bytes(&mut nonce);
    out.extend_from_slice(&nonce);
    body(&mut out);
    let cipher = XChaCha20Poly1305::new(key.into());
    let tag = cipher
        .encrypt_inout_detached(&nonce.into(), ad, out[NONCE_LEN..].as_mut().into())
        .expect("XChaCha20-Poly1305 encryption cannot fail for in-range lengths");
    out.extend_from_slice(&tag);
    out
}

/// The plaintext of `nonce ‖ ciphertext ‖ tag`, decrypted in place in one copy; `None` if it does not authenticate.
fn open_with(key: &[u8; 32], ad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < SEAL_OVERHEAD {
        return None;
    }
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce: [u8; NONCE_LEN] = sealed[..NONCE_LEN].try_into().ok()?;
    let (ct, tag) = sealed[NONCE_LEN..].split_at(sealed.len() - SEAL_OVERHEAD);
    let tag: [u8; TAG_LEN] = tag.try_into().ok()?;
    let mut buf = ct.to_vec();
    cipher
        .decrypt_inout_detached(&nonce.into(), ad, buf.as_mut_slice().into(), &tag.into())
        .ok()?;
    Some(buf)
}

thread_local! {
    /// One zstd context per thread and level: creating a context per blob costs more than compressing a small one.
    static COMPRESSOR: std::cell::RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { std::cell::RefCell::new(None) };
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { std::cell::RefCell::new(None) };
}

fn compress(plaintext: &[u8], level: i32) -> Option<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().is_none_or(|(l, _)| *l != level) {
            *c = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        c.as_mut()?.1.compress(plaintext).ok()
    })
}

fn decompress(frame: &[u8]) -> Option<Vec<u8>> {
    let size = zstd::zstd_safe::get_frame_content_size(frame).ok()??;
    if size > 1 << 31 {
        return None;
    }
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().ok()?);
        }
        d.as_mut()?.decompress(frame, size as usize).ok()
    })
}

/// Body = one byte of compression type (0 none, 1 zstd) then the payload, appended to `out`.
fn encode_compressed(out: &mut Vec<u8>, plaintext: &[u8], level: i32) {
    if plaintext.len() >= 64
        && let Some(c) = compress(plaintext, level)
        && c.len() < plaintext.len()
    {
        out.push(1);
        out.extend_from_slice(&c);
        return;
    }
    out.push(0);
    out.extend_from_slice(plaintext);
}

/// The payload of a body; a stored one is a view of the same buffer (no copy).
fn decode_compressed(body: Vec<u8>) -> Option<Bytes> {
    match body.first()? {
        0 => Some(Bytes::from(body).slice(1..)),
        1 => decompress(&body[1..]).map(Bytes::from),
        _ => None,
    }
}

/// What the operator gives to open the repository: a passphrase or a raw 32-byte key.
#[derive(Clone)]
pub enum KeySource {
    /// Passed through Argon2id with the slot's salt and parameters.
    Passphrase(String),
    /// A raw 32-byte key-encryption key.
    Raw([u8; 32]),
}

impl std::fmt::Debug for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Passphrase(_) => f.write_str("Passphrase(..)"),
            KeySource::Raw(_) => f.write_str("Raw(..)"),
        }
    }
}

impl KeySource {
    /// Parse a raw key: 64 hex digits or 44 base64 characters (whitespace trimmed).
    pub fn raw_from_text(text: &str) -> Option<KeySource> {
        let t = text.trim();
        let bytes = crate::id::decode_hex(t).or_else(|| B64.decode(t).ok())?;
        let arr: [u8; 32] = bytes.try_into().ok()?;
        Some(KeySource::Raw(arr))
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            KeySource::Passphrase(_) => "passphrase",
            KeySource::Raw(_) => "raw key",
        }
    }
}

/// Argon2id cost parameters of a passphrase slot.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// 64 MiB, 3 passes, 1 lane (OWASP-class settings; about 0.2 s here).
    fn default() -> Self {
        KdfParams {
            m_cost: 64 * 1024,
            t_cost: 3,
            p_cost: 1,
        }
    }
}

impl KdfParams {
    /// Cheap parameters for tests only.
    pub fn insecure_fast() -> Self {
        KdfParams {
            m_cost: 1024,
            t_cost: 1,
            p_cost: 1,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "algorithm", rename_all = "lowercase")]
pub(crate) enum Kdf {
    Argon2id {
        #[serde(flatten)]
        params: KdfParams,
        salt: String,
    },
    Raw,
}

/// The stored form of a key slot (`keys/<slot id>`), plaintext JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct KeySlotFile {
    pub version: u32,
    pub kdf: Kdf,
    pub label: String,
    pub created: chrono::DateTime<chrono::Utc>,
    /// base64 of nonce || XChaCha20-Poly1305(KEK, master key (64 bytes), ad = "cairn-vault/key-slot/" + repository id).
    pub sealed_master_key: String,
}

fn slot_ad(repo_id: &str) -> Vec<u8> {
    format!("cairn-vault/key-slot/{repo_id}").into_bytes()
}

fn derive_kek(source: &KeySource, kdf: &Kdf) -> Option<[u8; 32]> {
    match (source, kdf) {
        (KeySource::Raw(raw), Kdf::Raw) => Some(blake3::derive_key(
            "cairn-vault v1 raw key-encryption key",
            raw,
        )),
        (KeySource::Passphrase(p), Kdf::Argon2id { params, salt }) => {
            let salt = B64.decode(salt).ok()?;
            let a = argon2::Argon2::new(
                argon2::Algorithm::Argon2id,
                argon2::Version::V0x13,
                argon2::Params::new(params.m_cost, params.t_cost, params.p_cost, Some(32)).ok()?,
            );
            let mut out = [0u8; 32];
            a.hash_password_into(p.as_bytes(), &salt, &mut out).ok()?;
            Some(out)
        }
        _ => None,
    }
}

impl KeySlotFile {
    pub(crate) fn create(
        repo_id: &str,
        master: &MasterKey,
        source: &KeySource,
        kdf: KdfParams,
        label: &str,
    ) -> Self {
        let kdf = match source {
            KeySource::Raw(_) => Kdf::Raw,
            KeySource::Passphrase(_) => {
                let mut salt = [0u8; 16];
                rand::rng().fill_bytes(&mut salt);
                Kdf::Argon2id {
                    params: kdf,
                    salt: B64.encode(salt),
                }
            }
        };
        let kek =
            derive_kek(source, &kdf).expect("kdf matches the source and parameters are valid");
        let sealed = seal_with(&kek, &slot_ad(repo_id), 64, |out| {
            out.extend_from_slice(&master.to_bytes())
        });
        KeySlotFile {
            version: 1,
            kdf,
            label: label.to_owned(),
            created: chrono::Utc::now(),
            sealed_master_key: B64.encode(sealed),
        }
    }

    pub(crate) fn matches_kind(&self, source: &KeySource) -> bool {
        matches!(
            (source, &self.kdf),
            (KeySource::Raw(_), Kdf::Raw) | (KeySource::Passphrase(_), Kdf::Argon2id { .. })
        )
    }

    pub(crate) fn try_open(&self, repo_id: &str, source: &KeySource) -> Option<MasterKey> {
        let kek = derive_kek(source, &self.kdf)?;
        let sealed = B64.decode(&self.sealed_master_key).ok()?;
        MasterKey::from_bytes(&open_with(&kek, &slot_ad(repo_id), &sealed)?)
    }

    pub(crate) fn kind_name(&self) -> &'static str {
        match self.kdf {
            Kdf::Raw => "raw",
            Kdf::Argon2id { .. } => "passphrase",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// In-place sealing is the same construction as `Aead::encrypt`: objects written either way open either way.
    #[test]
    fn in_place_sealing_matches_the_plain_aead() {
        use chacha20poly1305::aead::{Aead, Payload};
        let key = [7u8; 32];
        let cipher = XChaCha20Poly1305::new(&key.into());
        let nonce = [9u8; NONCE_LEN];
        let ct = cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: b"hello vault",
                    aad: b"ad",
                },
            )
            .unwrap();
        let mut old = nonce.to_vec();
        old.extend_from_slice(&ct);
        assert_eq!(
            open_with(&key, b"ad", &old).as_deref(),
            Some(&b"hello vault"[..])
        );
        let new = seal_with(&key, b"ad", 11, |o| o.extend_from_slice(b"hello vault"));
        let nonce: [u8; NONCE_LEN] = new[..NONCE_LEN].try_into().unwrap();
        let plain = cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: &new[NONCE_LEN..],
                    aad: b"ad",
                },
            )
            .unwrap();
        assert_eq!(plain, b"hello vault");
    }

    #[test]
    fn blob_roundtrip_and_tamper() {
        let k = MasterKey::random();
        let data =
            b"hello hello hello hello hello hello hello hello hello hello hello hello".to_vec();
        let id = k.blob_id(&data);
        let mut sealed = k.seal_blob(&id, &data, 3);
        assert_eq!(k.open_blob(&id, &sealed).as_deref(), Some(&data[..]));
        let other = k.blob_id(b"x");
        assert!(
            k.open_blob(&other, &sealed).is_none(),
            "id is bound as associated data"
        );
        sealed[30] ^= 1;
        assert!(k.open_blob(&id, &sealed).is_none());
    }

    #[test]
    fn slots_open_only_with_their_key() {
        let k = MasterKey::random();
        let src = KeySource::Passphrase("correct horse".into());
        let slot = KeySlotFile::create("r1", &k, &src, KdfParams::insecure_fast(), "test");
        assert!(slot.try_open("r1", &src).is_some());
        assert!(
            slot.try_open("r1", &KeySource::Passphrase("wrong".into()))
                .is_none()
        );
        assert!(
            slot.try_open("r2", &src).is_none(),
            "bound to the repository id"
        );
        let raw = KeySource::Raw([7; 32]);
        let slot = KeySlotFile::create("r1", &k, &raw, KdfParams::default(), "raw");
        assert!(slot.try_open("r1", &raw).is_some());
        assert!(slot.try_open("r1", &KeySource::Raw([8; 32])).is_none());
    }
}
