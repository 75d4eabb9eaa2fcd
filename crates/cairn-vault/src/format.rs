//! On-storage structures. See FORMAT.md; every change here bumps [`FORMAT_VERSION`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Id;

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

pub(crate) const PACK_MAGIC: &[u8; 8] = b"CAIRNPK1";
pub(crate) const INDEX_MAGIC: &[u8; 8] = b"CAIRNIX1";
/// Bytes of one blob record in a pack header or index: type, id, offset, length, raw length.
pub(crate) const ENTRY_LEN: usize = 1 + 32 + 4 + 4 + 4;

/// FastCDC v2020 parameters (pinned by the format: cut points decide dedup).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ChunkerParams {
    pub algorithm: String,
    pub min_size: u32,
    pub avg_size: u32,
    pub max_size: u32,
    pub normalization: u32,
}

impl Default for ChunkerParams {
    fn default() -> Self {
        ChunkerParams {
            algorithm: "fastcdc-v2020".to_owned(),
            min_size: 256 * 1024,
            avg_size: 1024 * 1024,
            max_size: 4 * 1024 * 1024,
            normalization: 1,
        }
    }
}

impl ChunkerParams {
    /// Sizes within FastCDC v2020's bounds, `min_size <= avg_size <= max_size`. Outside them the chunker
    /// panics (mask selection) or, with `max_size` 0, cuts every stream to nothing.
    pub fn check(&self) -> Result<(), String> {
        use fastcdc::v2020::{
            AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN,
        };
        let (min, avg, max) = (
            self.min_size as usize,
            self.avg_size as usize,
            self.max_size as usize,
        );
        if !(MINIMUM_MIN..=MINIMUM_MAX).contains(&min)
            || !(AVERAGE_MIN..=AVERAGE_MAX).contains(&avg)
            || !(MAXIMUM_MIN..=MAXIMUM_MAX).contains(&max)
            || min > avg
            || avg > max
        {
            return Err(format!(
                "chunk sizes min {min}, avg {avg}, max {max} are outside FastCDC's bounds \
                 ({MINIMUM_MIN}..={MINIMUM_MAX}, {AVERAGE_MIN}..={AVERAGE_MAX}, {MAXIMUM_MIN}..={MAXIMUM_MAX}, min <= avg <= max)"
            ));
        }
        Ok(())
    }
}

/// `config`: plaintext JSON, readable without a key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub format: String,
    pub version: u32,
    /// Random repository id (32 hex digits); bound into every key slot.
    pub id: String,
    pub created: chrono::DateTime<chrono::Utc>,
    pub chunker: ChunkerParams,
    /// Defaults for writers; readers ignore them.
    pub pack_target_size: u64,
    pub zstd_level: i32,
}

/// What a blob holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobKind {
    /// A document or a chunk of a stream.
    Data,
    /// A tree node (JSON).
    Tree,
}

impl BlobKind {
    fn code(self) -> u8 {
        match self {
            BlobKind::Data => 0,
            BlobKind::Tree => 1,
        }
    }
    fn from_code(c: u8) -> Option<Self> {
        match c {
            0 => Some(BlobKind::Data),
            1 => Some(BlobKind::Tree),
            _ => None,
        }
    }
}

/// One blob inside a pack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedBlob {
    pub kind: BlobKind,
    pub id: Id,
    /// Byte offset of the sealed blob in the pack.
    pub offset: u32,
    /// Sealed length (nonce + ciphertext + tag).
    pub length: u32,
    /// Plaintext length.
    pub raw_length: u32,
}

pub(crate) fn encode_entries(out: &mut Vec<u8>, entries: &[PackedBlob]) {
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for e in entries {
        out.push(e.kind.code());
        out.extend_from_slice(&e.id.0);
        out.extend_from_slice(&e.offset.to_le_bytes());
        out.extend_from_slice(&e.length.to_le_bytes());
        out.extend_from_slice(&e.raw_length.to_le_bytes());
    }
}

/// Parse `count` + entries from `buf` at `*pos`.
pub(crate) fn decode_entries(buf: &[u8], pos: &mut usize) -> Option<Vec<PackedBlob>> {
    let n = u32::from_le_bytes(buf.get(*pos..*pos + 4)?.try_into().ok()?) as usize;
    *pos += 4;
    if buf.len().saturating_sub(*pos) < n.checked_mul(ENTRY_LEN)? {
        return None;
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let b = &buf[*pos..*pos + ENTRY_LEN];
        let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        v.push(PackedBlob {
            kind: BlobKind::from_code(b[0])?,
            id: Id(b[1..33].try_into().ok()?),
            offset: u(33),
            length: u(37),
            raw_length: u(41),
        });
        *pos += ENTRY_LEN;
    }
    Some(v)
}

/// Plaintext of an index file: magic, pack count, then per pack its id and entries.
pub(crate) fn encode_index(packs: &[(Id, Vec<PackedBlob>)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        12 + packs
            .iter()
            .map(|(_, e)| 36 + e.len() * ENTRY_LEN)
            .sum::<usize>(),
    );
    out.extend_from_slice(INDEX_MAGIC);
    out.extend_from_slice(&(packs.len() as u32).to_le_bytes());
    for (id, entries) in packs {
        out.extend_from_slice(&id.0);
        encode_entries(&mut out, entries);
    }
    out
}

pub(crate) fn decode_index(buf: &[u8]) -> Option<Vec<(Id, Vec<PackedBlob>)>> {
    if buf.get(..8)? != INDEX_MAGIC {
        return None;
    }
    let n = u32::from_le_bytes(buf.get(8..12)?.try_into().ok()?) as usize;
    let mut pos = 12;
    let mut packs = Vec::with_capacity(n.min(1 << 20));
    for _ in 0..n {
        let id = Id(buf.get(pos..pos + 32)?.try_into().ok()?);
        pos += 32;
        packs.push((id, decode_entries(buf, &mut pos)?));
    }
    (pos == buf.len()).then_some(packs)
}

/// `snapshots/<id>`: sealed JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotFile {
    pub version: u32,
    pub time: chrono::DateTime<chrono::Utc>,
    /// Root tree blob.
    pub tree: Id,
    /// Free-form key/values (site, product, counts, ...).
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Id>,
    pub stats: WriteStats,
}

/// What a writer did.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct WriteStats {
    /// Entries in the snapshot.
    pub entries: u64,
    /// Entries taken unchanged from the parent snapshot without reading them.
    pub entries_from_parent: u64,
    /// Plaintext bytes of all entries (including those from the parent).
    pub bytes_in: u64,
    /// Bytes this writer added to storage (sealed blobs, pack headers, index, snapshot).
    pub bytes_stored: u64,
    pub blobs_new: u64,
    pub blobs_reused: u64,
    pub packs_written: u64,
}

/// The kind of a tree entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A small document: one blob.
    Doc,
    /// A byte stream cut with FastCDC: a list of chunk blobs.
    Stream,
    /// A directory: a subtree.
    Dir,
}

/// One named entry of a tree node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TreeEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    #[serde(default)]
    pub size: u64,
    /// Data blobs, in order (documents and streams).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<Id>,
    /// Subtree (directories).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<Id>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

/// A page reference of a large directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TreePage {
    /// Name of the page's first entry.
    pub first: String,
    pub tree: Id,
}

/// A tree blob: either entries sorted by name, or (large directories) pages sorted by first name.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TreeNode {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<TreeEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pages: Vec<TreePage>,
}

/// Content-defined page boundaries: a page ends after an entry whose unkeyed BLAKE3 name hash starts with
/// a zero byte once it holds at least [`PAGE_MIN`] entries, or at [`PAGE_MAX`] entries.
pub(crate) const PAGE_MIN: usize = 64;
pub(crate) const PAGE_MAX: usize = 2048;

pub(crate) fn page_boundary_after(name: &str, len: usize) -> bool {
    len >= PAGE_MAX || (len >= PAGE_MIN && blake3::hash(name.as_bytes()).as_bytes()[0] == 0)
}

/// Why a name cannot be one component of an entry path (FORMAT.md §8), if it cannot.
pub(crate) fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() || name == "." || name == ".." {
        Some("empty, `.` or `..` component")
    } else if name.contains('\0') {
        Some("NUL byte")
    } else if name.contains('/') {
        Some("`/` inside a name")
    } else {
        None
    }
}

impl TreeNode {
    /// Parse a tree blob and check every name in it: a tree naming `..`, `a/b` or an empty entry is damaged
    /// (restoring it could write outside the target directory).
    pub(crate) fn decode(raw: &[u8]) -> Result<TreeNode, String> {
        let node: TreeNode = serde_json::from_slice(raw).map_err(|e| e.to_string())?;
        for e in &node.entries {
            if let Some(why) = name_problem(&e.name) {
                return Err(format!("entry name {:?} is invalid: {why}", e.name));
            }
        }
        Ok(node)
    }
}
