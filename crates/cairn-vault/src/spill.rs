//! External merge sort of a snapshot's entries, so a writer's memory does not grow with the number of entries.
//!
//! Entries arrive in any order. They are buffered up to a byte budget, then sorted and written to an anonymous
//! temporary file (a "run"). At commit the runs are merged back in tree order: the order in which a
//! depth-first walk meets the entries when every directory is sorted by name. The temporary files are private
//! to the process (never part of the repository) and vanish when closed, also on a crash.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::PathBuf;

use crate::Id;
use crate::error::{Error, Result};
use crate::format::{EntryKind, TreeEntry};

/// Default memory for buffered entry metadata before a run is written.
pub(crate) const DEFAULT_BUDGET: usize = 8 * 1024 * 1024;
/// Runs are merged in tiers: this many runs of one tier become one run of the next, so the final merge holds at
/// most `15 × tiers` read buffers and each entry is rewritten once per tier (log16 of the run count).
const FAN_IN: usize = 16;
const READ_BUF: usize = 64 * 1024;

/// The sort key of a path: `/` becomes NUL (which names never contain), so that keys sort component by
/// component (`a/b` before `a.json`, as directory `a` sorts before `a.json` in the root).
pub(crate) fn sort_key(path: &str) -> Vec<u8> {
    path.bytes()
        .map(|b| if b == b'/' { 0 } else { b })
        .collect()
}

/// The path of a sort key.
pub(crate) fn key_path(key: &[u8]) -> Result<String> {
    let bytes: Vec<u8> = key.iter().map(|&b| if b == 0 { b'/' } else { b }).collect();
    String::from_utf8(bytes).map_err(|_| spill_damaged("a path is not UTF-8"))
}

fn spill_damaged(why: &str) -> Error {
    Error::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("temporary entry file: {why}"),
    ))
}

/// Approximate heap bytes of one buffered entry.
fn entry_cost(key: &[u8], e: &TreeEntry) -> usize {
    96 + 2 * key.len()
        + e.name.len()
        + 32 * e.content.len()
        + e.attrs
            .iter()
            .map(|(k, v)| 64 + k.len() + v.len())
            .sum::<usize>()
}

pub(crate) struct EntrySorter {
    buf: Vec<(Vec<u8>, TreeEntry)>,
    buf_bytes: usize,
    budget: usize,
    dir: Option<PathBuf>,
    /// (tier, run), tiers non-increasing from first to last.
    runs: Vec<(u32, File)>,
    written: usize,
}

impl EntrySorter {
    pub(crate) fn new(budget: usize, dir: Option<PathBuf>) -> Self {
        EntrySorter {
            buf: Vec::new(),
            buf_bytes: 0,
            budget: budget.max(1),
            dir,
            runs: Vec::new(),
            written: 0,
        }
    }

    /// Runs written so far.
    #[cfg(test)]
    pub(crate) fn runs_written(&self) -> usize {
        self.written
    }

    pub(crate) fn push(&mut self, path: &str, entry: TreeEntry) -> Result<()> {
        let key = sort_key(path);
        self.buf_bytes += entry_cost(&key, &entry);
        self.buf.push((key, entry));
        if self.buf_bytes >= self.budget {
            self.spill()?;
        }
        Ok(())
    }

    fn temp_file(&self) -> Result<File> {
        Ok(match &self.dir {
            Some(d) => tempfile::tempfile_in(d)?,
            None => tempfile::tempfile()?,
        })
    }

    fn spill(&mut self) -> Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        self.buf_bytes = 0;
        buf.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut file = self.temp_file()?;
        {
            let mut w = BufWriter::with_capacity(READ_BUF, &mut file);
            for (k, e) in &buf {
                write_record(&mut w, k, e)?;
            }
            w.flush()?;
        }
        file.rewind()?;
        self.runs.push((0, file));
        self.written += 1;
        loop {
            let tier = self.runs.last().map_or(0, |r| r.0);
            let same = self.runs.iter().rev().take_while(|r| r.0 == tier).count();
            if same < FAN_IN {
                return Ok(());
            }
            let group: Vec<File> = self
                .runs
                .drain(self.runs.len() - same..)
                .map(|r| r.1)
                .collect();
            let mut out = self.temp_file()?;
            {
                let mut w = BufWriter::with_capacity(READ_BUF, &mut out);
                let mut m = Merge::new(group, Vec::new())?;
                while let Some((k, e)) = m.next_raw()? {
                    write_record(&mut w, &k, &e)?;
                }
                w.flush()?;
            }
            out.rewind()?;
            self.runs.push((tier + 1, out));
            self.written += 1;
        }
    }

    /// All entries in tree order. Equal keys (a path added twice) come out next to each other.
    pub(crate) fn finish(mut self) -> Result<Merge> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let runs = std::mem::take(&mut self.runs)
            .into_iter()
            .map(|r| r.1)
            .collect();
        Merge::new(runs, buf)
    }
}

fn put_u32(w: &mut impl Write, n: usize) -> Result<()> {
    let n = u32::try_from(n).map_err(|_| Error::InvalidArgument("entry field too large".into()))?;
    w.write_all(&n.to_le_bytes())?;
    Ok(())
}

fn put_bytes(w: &mut impl Write, b: &[u8]) -> Result<()> {
    put_u32(w, b.len())?;
    w.write_all(b)?;
    Ok(())
}

/// Record of a temporary run (process-private, not part of the repository format).
fn write_record(w: &mut impl Write, key: &[u8], e: &TreeEntry) -> Result<()> {
    put_bytes(w, key)?;
    let kind = match e.kind {
        EntryKind::Doc => 0u8,
        EntryKind::Stream => 1,
        EntryKind::Dir => 2,
    };
    w.write_all(&[kind])?;
    w.write_all(&e.size.to_le_bytes())?;
    put_u32(w, e.content.len())?;
    for id in &e.content {
        w.write_all(&id.0)?;
    }
    match &e.tree {
        Some(t) => {
            w.write_all(&[1])?;
            w.write_all(&t.0)?;
        }
        None => w.write_all(&[0])?,
    }
    put_u32(w, e.attrs.len())?;
    for (k, v) in &e.attrs {
        put_bytes(w, k.as_bytes())?;
        put_bytes(w, v.as_bytes())?;
    }
    Ok(())
}

struct RunReader {
    r: BufReader<File>,
}

impl RunReader {
    fn exact<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b)?;
        Ok(b)
    }
    fn u32(&mut self) -> Result<usize> {
        Ok(u32::from_le_bytes(self.exact::<4>()?) as usize)
    }
    fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.u32()?;
        let mut v = vec![0u8; n];
        self.r.read_exact(&mut v)?;
        Ok(v)
    }
    fn string(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?).map_err(|_| spill_damaged("a string is not UTF-8"))
    }

    /// The next record, or `None` at the end of the run.
    fn next(&mut self) -> Result<Option<(Vec<u8>, TreeEntry)>> {
        let mut len = [0u8; 4];
        match self.r.read(&mut len[..1])? {
            0 => return Ok(None),
            _ => self.r.read_exact(&mut len[1..])?,
        }
        let mut key = vec![0u8; u32::from_le_bytes(len) as usize];
        self.r.read_exact(&mut key)?;
        let kind = match self.exact::<1>()?[0] {
            0 => EntryKind::Doc,
            1 => EntryKind::Stream,
            2 => EntryKind::Dir,
            _ => return Err(spill_damaged("unknown entry kind")),
        };
        let size = u64::from_le_bytes(self.exact::<8>()?);
        let n = self.u32()?;
        let mut content = Vec::with_capacity(n.min(1 << 16));
        for _ in 0..n {
            content.push(Id(self.exact::<32>()?));
        }
        let tree = match self.exact::<1>()?[0] {
            0 => None,
            _ => Some(Id(self.exact::<32>()?)),
        };
        let mut attrs = BTreeMap::new();
        for _ in 0..self.u32()? {
            let k = self.string()?;
            attrs.insert(k, self.string()?);
        }
        let name = key
            .rsplit(|&b| b == 0)
            .next()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        Ok(Some((
            key,
            TreeEntry {
                name,
                kind,
                size,
                content,
                tree,
                attrs,
            },
        )))
    }
}

/// The k-way merge of sorted runs and the sorted in-memory tail.
pub(crate) struct Merge {
    readers: Vec<RunReader>,
    heads: Vec<Option<TreeEntry>>,
    heap: BinaryHeap<Reverse<(Vec<u8>, usize)>>,
    tail: std::iter::Peekable<std::vec::IntoIter<(Vec<u8>, TreeEntry)>>,
}

impl Merge {
    fn new(runs: Vec<File>, tail: Vec<(Vec<u8>, TreeEntry)>) -> Result<Self> {
        let mut m = Merge {
            readers: runs
                .into_iter()
                .map(|f| RunReader {
                    r: BufReader::with_capacity(READ_BUF, f),
                })
                .collect(),
            heads: Vec::new(),
            heap: BinaryHeap::new(),
            tail: tail.into_iter().peekable(),
        };
        m.heads = (0..m.readers.len()).map(|_| None).collect();
        for i in 0..m.readers.len() {
            m.refill(i)?;
        }
        Ok(m)
    }

    fn refill(&mut self, i: usize) -> Result<()> {
        if let Some((k, e)) = self.readers[i].next()? {
            self.heads[i] = Some(e);
            self.heap.push(Reverse((k, i)));
        }
        Ok(())
    }

    fn next_raw(&mut self) -> Result<Option<(Vec<u8>, TreeEntry)>> {
        let from_tail = match (self.heap.peek(), self.tail.peek()) {
            (None, None) => return Ok(None),
            (Some(_), None) => false,
            (None, Some(_)) => true,
            (Some(Reverse((k, _))), Some((t, _))) => t < k,
        };
        if from_tail {
            return Ok(self.tail.next());
        }
        let Some(Reverse((k, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let e = self.heads[i]
            .take()
            .ok_or_else(|| spill_damaged("merge state"))?;
        self.refill(i)?;
        Ok(Some((k, e)))
    }

    /// The next entry in tree order, as (path, entry).
    pub(crate) fn next_entry(&mut self) -> Result<Option<(String, TreeEntry)>> {
        match self.next_raw()? {
            None => Ok(None),
            Some((k, e)) => Ok(Some((key_path(&k)?, e))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, n: u8) -> TreeEntry {
        TreeEntry {
            name: name.rsplit('/').next().unwrap_or(name).to_owned(),
            kind: EntryKind::Doc,
            size: n as u64,
            content: vec![Id([n; 32])],
            tree: None,
            attrs: [("updated".to_owned(), n.to_string())].into(),
        }
    }

    #[test]
    fn tree_order_puts_a_directory_before_longer_names() {
        let mut v = vec!["a.json", "a/b", "ab", "a/b.c", "a/b/c"];
        v.sort_by_key(|p| sort_key(p));
        assert_eq!(v, ["a/b", "a/b/c", "a/b.c", "a.json", "ab"]);
    }

    /// Spilled runs (and the merge of runs when there are too many) give the same order and entries as
    /// sorting in memory.
    #[test]
    fn spilled_runs_merge_in_tree_order() {
        let paths: Vec<String> = (0..3000u32)
            .map(|i| format!("d{}/f{}", (i * 7919) % 13, (i * 104_729) % 3001))
            .collect();
        let run = |budget: usize| {
            let mut s = EntrySorter::new(budget, None);
            for (i, p) in paths.iter().enumerate() {
                s.push(p, doc(p, i as u8)).unwrap();
            }
            let runs = s.runs_written();
            let mut m = s.finish().unwrap();
            let mut out = Vec::new();
            while let Some(x) = m.next_entry().unwrap() {
                out.push(x);
            }
            (out, runs)
        };
        let (in_memory, runs) = run(usize::MAX);
        assert_eq!(runs, 0);
        let (spilled, runs) = run(4096);
        assert!(runs >= 1, "the tiny budget spilled");
        assert_eq!(spilled, in_memory);
        let mut expected: Vec<_> = paths.clone();
        expected.sort_by_key(|p| sort_key(p));
        let got: Vec<_> = in_memory.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(got, expected);
        assert_eq!(
            in_memory[0].1.name,
            in_memory[0].0.rsplit('/').next().unwrap()
        );
    }
}
