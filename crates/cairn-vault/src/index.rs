//! The in-memory index: blob id → pack, offset, length. About 60 bytes per blob.

use std::collections::{HashMap, HashSet};

use crate::Id;
use crate::format::{BlobKind, PackedBlob};

/// One index file as read: its object name, and the packs it lists with their blobs.
pub(crate) type IndexFile = (String, Vec<(Id, Vec<PackedBlob>)>);

#[derive(Debug, Clone, Copy)]
struct Loc {
    pack: u32,
    offset: u32,
    length: u32,
    raw_length: u32,
    kind: BlobKind,
}

/// Where a blob is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack: Id,
    pub offset: u32,
    pub length: u32,
    pub raw_length: u32,
    pub kind: BlobKind,
    /// The pack is condemned by a pending prune mark (readable until deleted, never reused by writers).
    pub condemned: bool,
}

/// All blobs of all index files read at one moment.
#[derive(Debug, Default)]
pub struct Index {
    packs: Vec<Id>,
    condemned: Vec<bool>,
    pack_pos: HashMap<Id, u32>,
    blobs: HashMap<Id, Loc>,
}

impl Index {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The index of every pack named in some index files (as read by `Repository::read_index_files`).
    pub(crate) fn from_files(files: &[IndexFile], condemned: &HashSet<Id>) -> Self {
        let mut index = Index::new();
        for (_, packs) in files {
            for (pack, entries) in packs {
                index.add_pack(*pack, entries, condemned);
            }
        }
        index
    }

    /// Add a pack's entries. A blob already known keeps its location unless that one is condemned.
    pub(crate) fn add_pack(&mut self, pack: Id, entries: &[PackedBlob], condemned: &HashSet<Id>) {
        let p = *self.pack_pos.entry(pack).or_insert_with(|| {
            self.packs.push(pack);
            self.condemned.push(condemned.contains(&pack));
            (self.packs.len() - 1) as u32
        });
        let new_condemned = self.condemned[p as usize];
        for e in entries {
            let loc = Loc {
                pack: p,
                offset: e.offset,
                length: e.length,
                raw_length: e.raw_length,
                kind: e.kind,
            };
            match self.blobs.get_mut(&e.id) {
                None => {
                    self.blobs.insert(e.id, loc);
                }
                Some(old) => {
                    if self.condemned[old.pack as usize] && !new_condemned {
                        *old = loc;
                    }
                }
            }
        }
    }

    pub fn get(&self, id: &Id) -> Option<BlobLocation> {
        self.blobs.get(id).map(|l| BlobLocation {
            pack: self.packs[l.pack as usize],
            offset: l.offset,
            length: l.length,
            raw_length: l.raw_length,
            kind: l.kind,
            condemned: self.condemned[l.pack as usize],
        })
    }

    /// Present and not condemned: a writer may reuse it.
    pub fn is_live(&self, id: &Id) -> bool {
        self.blobs
            .get(id)
            .is_some_and(|l| !self.condemned[l.pack as usize])
    }

    pub fn len(&self) -> usize {
        self.blobs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blobs.is_empty()
    }

    pub fn pack_count(&self) -> usize {
        self.packs.len()
    }

    pub fn has_pack(&self, id: &Id) -> bool {
        self.pack_pos.contains_key(id)
    }

    /// Approximate heap bytes held (for the ~100 bytes/blob target).
    pub fn approx_heap_bytes(&self) -> usize {
        let blob_slot = std::mem::size_of::<(Id, Loc)>() + 1;
        let pack_slot = std::mem::size_of::<(Id, u32)>() + 1 + 33;
        self.blobs.capacity() * blob_slot + self.pack_pos.capacity() * pack_slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The target: index memory on the order of 100 bytes per blob.
    #[test]
    fn about_100_bytes_per_blob() {
        let mut idx = Index::new();
        let none = HashSet::new();
        let n = 200_000u32;
        for p in 0..(n / 1000) {
            let mut pid = [0u8; 32];
            pid[..4].copy_from_slice(&p.to_le_bytes());
            let entries: Vec<PackedBlob> = (0..1000u32)
                .map(|i| {
                    let mut id = [0u8; 32];
                    id[..4].copy_from_slice(&(p * 1000 + i).to_le_bytes());
                    id[4] = 1;
                    PackedBlob {
                        kind: BlobKind::Data,
                        id: Id(id),
                        offset: i * 100,
                        length: 100,
                        raw_length: 90,
                    }
                })
                .collect();
            idx.add_pack(Id(pid), &entries, &none);
        }
        assert_eq!(idx.len(), n as usize);
        let per_blob = idx.approx_heap_bytes() / idx.len();
        assert!(per_blob <= 110, "{per_blob} bytes per blob");
    }
}
