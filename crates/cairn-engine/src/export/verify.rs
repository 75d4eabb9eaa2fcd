//! Checks an export archive on its own, with neither Cairn's store nor its vault: every member's
//! name is a plain relative path, every file's bytes match the manifest's size and SHA-256 (and,
//! in a zip, the entry's CRC-32), and the manifest lists exactly the files the archive holds. A
//! truncated, altered or hostile archive is refused with the entry named.
//!
//! Both containers are read as Cairn writes them (`docs/export-format.md`): a ustar/pax tar, or a
//! zip of stored entries (zip64 when large). Anything else is refused rather than guessed at.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use cairn_control::management::ArchiveFormat;
use serde_json::Value;
use sha2::Digest;

use super::{EXPORT_FORMAT_VERSION, MANIFEST};

/// The largest manifest read (its `entries` take about 150 bytes a file).
const MANIFEST_LIMIT: u64 = 1 << 30;

/// Why an archive is refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot read the archive: {0}")]
    Io(#[from] io::Error),
    #[error("not a Cairn export: neither a zip nor a tar archive")]
    UnknownFormat,
    #[error("the archive is truncated: it ends inside {0}")]
    Truncated(String),
    #[error("entry {entry}: {problem}")]
    Entry { entry: String, problem: String },
    #[error("the archive has no manifest ({MANIFEST}): it is not a complete Cairn export")]
    NoManifest,
    #[error("the manifest ({MANIFEST}) is not valid: {0}")]
    BadManifest(String),
}

fn refuse(entry: &str, problem: impl Into<String>) -> ArchiveError {
    ArchiveError::Entry {
        entry: entry.to_string(),
        problem: problem.into(),
    }
}

/// An archive that passed every check.
#[derive(Debug)]
pub struct VerifiedArchive {
    pub format: ArchiveFormat,
    /// The manifest as written (backup id, product, cloud id, entries...).
    pub manifest: Value,
    pub files: u64,
    pub directories: u64,
    /// The files' bytes (the manifest's own excluded).
    pub bytes: u64,
}

/// One file as read: its size and SHA-256.
struct Seen {
    size: u64,
    sha256: String,
}

/// Receives each file's bytes as the check reads them (the manifest's excepted), so that one
/// pass over the archive both checks and imports it. Until the check has ended they are not
/// known to be intact: a sink keeps them where nothing depends on them.
pub trait MemberSink: Send {
    /// A file member starts: `size` bytes at `path` follow.
    fn begin(&mut self, path: &str, size: u64) -> io::Result<()>;
    fn chunk(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// The member's bytes have all been given.
    fn end(&mut self) -> io::Result<()>;
}

/// What the container walk gathers before the manifest is compared.
#[derive(Default)]
struct Walked<'s> {
    files: BTreeMap<String, Seen>,
    directories: u64,
    manifest: Option<Vec<u8>>,
    sink: Option<&'s mut dyn MemberSink>,
}

impl<'s> Walked<'s> {
    fn new(sink: Option<&'s mut dyn MemberSink>) -> Self {
        Walked {
            sink,
            ..Walked::default()
        }
    }

    /// Records a member's name (refusing an unsafe or repeated one) before its bytes are read.
    fn admit(
        &mut self,
        name: &str,
        dir: bool,
        names: &mut HashSet<String>,
    ) -> Result<(), ArchiveError> {
        let path = name.strip_suffix('/').unwrap_or(name);
        if let Some(problem) = unsafe_path(path) {
            return Err(refuse(name, problem));
        }
        if !names.insert(path.to_string()) {
            return Err(refuse(name, "it appears twice in the archive"));
        }
        if dir {
            self.directories += 1;
        }
        Ok(())
    }

    /// Reads a file member's `size` bytes from `from`, keeping the manifest's.
    fn file(&mut self, name: &str, size: u64, from: &mut impl Read) -> Result<u32, ArchiveError> {
        let keep = name == MANIFEST;
        if keep && size > MANIFEST_LIMIT {
            return Err(refuse(name, "the manifest is larger than 1 GiB"));
        }
        let mut sha = sha2::Sha256::new();
        let mut crc = crc32fast::Hasher::new();
        let mut kept = Vec::new();
        let mut left = size;
        let mut buf = vec![0u8; 256 * 1024];
        let mut sink = self.sink.as_deref_mut().filter(|_| !keep);
        if let Some(sink) = sink.as_deref_mut() {
            sink.begin(name, size)?;
        }
        while left > 0 {
            let want = left.min(buf.len() as u64) as usize;
            let n = from.read(&mut buf[..want])?;
            if n == 0 {
                return Err(ArchiveError::Truncated(name.to_string()));
            }
            sha.update(&buf[..n]);
            crc.update(&buf[..n]);
            if keep {
                kept.extend_from_slice(&buf[..n]);
            }
            if let Some(sink) = sink.as_deref_mut() {
                sink.chunk(&buf[..n])?;
            }
            left -= n as u64;
        }
        if let Some(sink) = sink {
            sink.end()?;
        }
        if keep {
            self.manifest = Some(kept);
        } else {
            self.files.insert(
                name.to_string(),
                Seen {
                    size,
                    sha256: hex::encode(sha.finalize()),
                },
            );
        }
        Ok(crc.finalize())
    }
}

/// Why `path` may not be written under a destination folder, if it may not: Cairn's paths are
/// relative, `/`-separated, with no empty, `.` or `..` part, and no control character or `\`.
fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        return Some("its name is empty");
    }
    if path.starts_with('/') {
        return Some("its name is an absolute path");
    }
    if path.contains('\\') || path.chars().any(char::is_control) {
        return Some("its name holds a backslash or a control character");
    }
    if path.split('/').any(|part| matches!(part, "" | "." | "..")) {
        return Some("its name leaves the archive's folder or has an empty part (`..`, `.`, `//`)");
    }
    None
}

/// Checks the archive at `path` completely; see the module's comment.
pub fn verify(path: &Path) -> Result<VerifiedArchive, ArchiveError> {
    verify_into(path, None)
}

/// [`verify`], giving every file's bytes to `sink` as they are read (see [`MemberSink`]).
pub fn verify_into(
    path: &Path,
    sink: Option<&mut dyn MemberSink>,
) -> Result<VerifiedArchive, ArchiveError> {
    let mut file = File::open(path)?;
    let mut magic = [0u8; 512];
    let n = read_full(&mut file, &mut magic)?;
    file.seek(SeekFrom::Start(0))?;
    let (format, walked) = if n >= 4 && magic[..4] == *b"PK\x03\x04" {
        (ArchiveFormat::Zip, zip::walk(&mut file, sink)?)
    } else if n == 512 && &magic[257..262] == b"ustar" {
        (ArchiveFormat::Tar, tar::walk(BufReader::new(file), sink)?)
    } else {
        return Err(ArchiveError::UnknownFormat);
    };
    against_manifest(format, walked)
}

/// Reads until `buf` is full or the end; returns how many bytes were read.
fn read_full(from: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut at = 0;
    while at < buf.len() {
        match from.read(&mut buf[at..])? {
            0 => break,
            n => at += n,
        }
    }
    Ok(at)
}

fn against_manifest(
    format: ArchiveFormat,
    walked: Walked,
) -> Result<VerifiedArchive, ArchiveError> {
    let bad = |m: &str| ArchiveError::BadManifest(m.to_string());
    let manifest: Value =
        serde_json::from_slice(walked.manifest.as_deref().ok_or(ArchiveError::NoManifest)?)
            .map_err(|e| ArchiveError::BadManifest(e.to_string()))?;
    if manifest["format"] != "cairn-export" {
        return Err(bad("its format is not \"cairn-export\""));
    }
    if manifest["formatVersion"] != EXPORT_FORMAT_VERSION {
        return Err(ArchiveError::BadManifest(format!(
            "format version {} (this Cairn reads version {EXPORT_FORMAT_VERSION})",
            manifest["formatVersion"]
        )));
    }
    let entries = manifest["entries"]
        .as_array()
        .ok_or_else(|| bad("it has no `entries` (an export made before checksums were kept)"))?;
    let mut listed = HashSet::new();
    for entry in entries {
        let (Some(path), Some(size), Some(sha256)) = (
            entry["path"].as_str(),
            entry["size"].as_u64(),
            entry["sha256"].as_str(),
        ) else {
            return Err(bad("an entry lacks its path, size or sha256"));
        };
        let Some(seen) = walked.files.get(path) else {
            return Err(refuse(
                path,
                "it is in the manifest but missing from the archive",
            ));
        };
        if seen.size != size {
            return Err(refuse(
                path,
                format!(
                    "it holds {} bytes where the manifest says {size}",
                    seen.size
                ),
            ));
        }
        if seen.sha256 != sha256 {
            return Err(refuse(
                path,
                "its SHA-256 differs from the manifest's: the bytes were altered",
            ));
        }
        listed.insert(path);
    }
    if let Some(extra) = walked.files.keys().find(|p| !listed.contains(p.as_str())) {
        return Err(refuse(
            extra,
            "it is in the archive but not in the manifest",
        ));
    }
    Ok(VerifiedArchive {
        format,
        files: walked.files.len() as u64,
        directories: walked.directories,
        bytes: walked.files.values().map(|s| s.size).sum(),
        manifest,
    })
}

mod tar {
    use super::*;

    /// The member whose header comes next, for a truncation message.
    fn after(last: &Option<String>) -> String {
        match last {
            Some(name) => format!("the member after {name}"),
            None => "the first member".into(),
        }
    }

    pub(super) fn walk(
        mut from: impl Read,
        sink: Option<&mut dyn MemberSink>,
    ) -> Result<Walked<'_>, ArchiveError> {
        let mut walked = Walked::new(sink);
        let mut names = HashSet::new();
        let mut last: Option<String> = None;
        // A pax header's `path` and `size` for the next member.
        let mut pax: BTreeMap<String, String> = BTreeMap::new();
        loop {
            let mut header = [0u8; 512];
            if read_full(&mut from, &mut header)? < 512 {
                return Err(ArchiveError::Truncated(after(&last)));
            }
            if header.iter().all(|&b| b == 0) {
                let mut second = [0u8; 512];
                if read_full(&mut from, &mut second)? < 512 {
                    return Err(ArchiveError::Truncated("the end-of-archive blocks".into()));
                }
                return Ok(walked);
            }
            let here = after(&last);
            check_sum(&header).map_err(|p| refuse(&here, p))?;
            let name = match pax.remove("path") {
                Some(p) => p,
                None => field_name(&header),
            };
            let size = match pax.remove("size") {
                Some(s) => s
                    .parse()
                    .map_err(|_| refuse(&name, "its pax size is not a number"))?,
                None => octal(&header[124..136])
                    .ok_or_else(|| refuse(&name, "its size is not a number"))?,
            };
            pax.clear();
            match header[156] {
                b'x' => {
                    if size > 1 << 20 {
                        return Err(refuse(&name, "its pax header is larger than 1 MiB"));
                    }
                    let mut records = vec![0u8; size as usize];
                    if read_full(&mut from, &mut records)? < records.len() {
                        return Err(ArchiveError::Truncated(format!("the pax header of {here}")));
                    }
                    skip_padding(&mut from, size, &here)?;
                    pax = pax_records(&records)
                        .ok_or_else(|| refuse(&here, "its pax header is malformed"))?;
                    continue;
                }
                b'5' => {
                    walked.admit(&name, true, &mut names)?;
                }
                b'0' | 0 => {
                    walked.admit(&name, false, &mut names)?;
                    walked.file(&name, size, &mut from)?;
                    skip_padding(&mut from, size, &name)?;
                }
                other => {
                    return Err(refuse(
                        &name,
                        format!(
                            "member type {:?} is not a file or a directory",
                            other as char
                        ),
                    ));
                }
            }
            last = Some(name);
        }
    }

    fn skip_padding(from: &mut impl Read, size: u64, name: &str) -> Result<(), ArchiveError> {
        let pad = (512 - size % 512) % 512;
        let mut buf = [0u8; 512];
        if read_full(from, &mut buf[..pad as usize])? < pad as usize {
            return Err(ArchiveError::Truncated(name.to_string()));
        }
        Ok(())
    }

    fn check_sum(header: &[u8; 512]) -> Result<(), &'static str> {
        let want = octal(&header[148..156]).ok_or("its header checksum is not a number")?;
        let got: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    b as u64
                }
            })
            .sum();
        if got == want {
            Ok(())
        } else {
            Err("its header's checksum does not match: the header was altered or damaged")
        }
    }

    /// ustar's `prefix/name`, each NUL-terminated.
    fn field_name(header: &[u8; 512]) -> String {
        let cut = |b: &[u8]| {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            String::from_utf8_lossy(&b[..end]).into_owned()
        };
        let (name, prefix) = (cut(&header[..100]), cut(&header[345..500]));
        if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        }
    }

    fn octal(field: &[u8]) -> Option<u64> {
        let text = std::str::from_utf8(field).ok()?;
        let text = text.trim_matches(|c: char| c == '\0' || c == ' ');
        if text.is_empty() {
            return Some(0);
        }
        u64::from_str_radix(text, 8).ok()
    }

    /// pax records: `LEN key=value\n`, LEN counting the whole record.
    pub(super) fn pax_records(mut data: &[u8]) -> Option<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        while !data.is_empty() {
            let space = data.iter().position(|&b| b == b' ')?;
            let len: usize = std::str::from_utf8(&data[..space]).ok()?.parse().ok()?;
            if len <= space + 1 || len > data.len() || data[len - 1] != b'\n' {
                return None;
            }
            let record = std::str::from_utf8(&data[space + 1..len - 1]).ok()?;
            let (key, value) = record.split_once('=')?;
            out.insert(key.to_string(), value.to_string());
            data = &data[len..];
        }
        Some(out)
    }
}

mod zip {
    use super::*;

    const LOCAL: u32 = 0x0403_4b50;
    const CENTRAL: u32 = 0x0201_4b50;
    const ZIP64_END: u32 = 0x0606_4b50;
    const ZIP64_LOCATOR: u32 = 0x0706_4b50;
    const END: u32 = 0x0605_4b50;
    const CUT: &str = "the central directory (the archive is cut short)";

    fn u16_at(b: &[u8], at: usize) -> u16 {
        u16::from_le_bytes([b[at], b[at + 1]])
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
    }
    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
    }

    /// One central directory record.
    struct Central {
        name: String,
        method: u16,
        crc: u32,
        size: u64,
        offset: u64,
    }

    pub(super) fn walk<'s>(
        file: &mut File,
        sink: Option<&'s mut dyn MemberSink>,
    ) -> Result<Walked<'s>, ArchiveError> {
        let len = file.metadata()?.len();
        let (count, cd_size, cd_offset) = end_records(file, len)?;
        if cd_offset.checked_add(cd_size).is_none_or(|end| end > len) || cd_size > 1 << 32 {
            return Err(ArchiveError::Truncated(CUT.into()));
        }
        file.seek(SeekFrom::Start(cd_offset))?;
        let mut cd = vec![0u8; cd_size as usize];
        file.read_exact(&mut cd)?;
        let centrals = central_records(&cd, count)?;
        let mut walked = Walked::new(sink);
        let mut names = HashSet::new();
        for c in &centrals {
            let dir = c.name.ends_with('/');
            walked.admit(&c.name, dir, &mut names)?;
            if dir {
                continue;
            }
            if c.method != 0 {
                return Err(refuse(
                    &c.name,
                    "it is compressed: Cairn's exports store their entries",
                ));
            }
            file.seek(SeekFrom::Start(c.offset))?;
            let mut local = [0u8; 30];
            if read_full(file, &mut local)? < 30 {
                return Err(ArchiveError::Truncated(c.name.clone()));
            }
            if u32_at(&local, 0) != LOCAL {
                return Err(refuse(
                    &c.name,
                    "its local header is not where the central directory says",
                ));
            }
            let skip = u16_at(&local, 26) as i64 + u16_at(&local, 28) as i64;
            file.seek(SeekFrom::Current(skip))?;
            let mut from = BufReader::new(&mut *file).take(c.size);
            let crc = walked.file(&c.name, c.size, &mut from)?;
            if crc != c.crc {
                return Err(refuse(
                    &c.name,
                    "its bytes do not match their CRC-32: they were altered or damaged",
                ));
            }
        }
        Ok(walked)
    }

    /// The entry count, size and offset of the central directory, from the end records (zip64's
    /// when the classic ones are saturated).
    fn end_records(file: &mut File, len: u64) -> Result<(u64, u64, u64), ArchiveError> {
        let tail_len = len.min(22 + 65_535);
        file.seek(SeekFrom::Start(len - tail_len))?;
        let mut tail = vec![0u8; tail_len as usize];
        file.read_exact(&mut tail)?;
        let at = (0..tail.len().saturating_sub(21))
            .rev()
            .find(|&i| u32_at(&tail, i) == END)
            .ok_or_else(|| ArchiveError::Truncated(CUT.into()))?;
        let end = &tail[at..];
        let (count, size, offset) = (
            u16_at(end, 10) as u64,
            u32_at(end, 12) as u64,
            u32_at(end, 16) as u64,
        );
        if count != 0xFFFF && size != 0xFFFF_FFFF && offset != 0xFFFF_FFFF {
            return Ok((count, size, offset));
        }
        // The zip64 locator sits just before the classic end record.
        let locator_at = (len - tail_len + at as u64)
            .checked_sub(20)
            .ok_or_else(|| ArchiveError::Truncated(CUT.into()))?;
        let mut locator = [0u8; 20];
        file.seek(SeekFrom::Start(locator_at))?;
        file.read_exact(&mut locator)?;
        if u32_at(&locator, 0) != ZIP64_LOCATOR {
            return Err(ArchiveError::Truncated(CUT.into()));
        }
        let mut end64 = [0u8; 56];
        file.seek(SeekFrom::Start(u64_at(&locator, 8)))?;
        if read_full(file, &mut end64)? < 56 || u32_at(&end64, 0) != ZIP64_END {
            return Err(ArchiveError::Truncated(CUT.into()));
        }
        Ok((u64_at(&end64, 32), u64_at(&end64, 40), u64_at(&end64, 48)))
    }

    fn central_records(cd: &[u8], count: u64) -> Result<Vec<Central>, ArchiveError> {
        let mut out = Vec::new();
        let mut at = 0usize;
        for _ in 0..count {
            let short = || ArchiveError::Truncated(CUT.into());
            if at + 46 > cd.len() || u32_at(cd, at) != CENTRAL {
                return Err(short());
            }
            let rec = &cd[at..];
            let (name_len, extra_len, comment_len) = (
                u16_at(rec, 28) as usize,
                u16_at(rec, 30) as usize,
                u16_at(rec, 32) as usize,
            );
            if 46 + name_len + extra_len + comment_len > rec.len() {
                return Err(short());
            }
            let name = String::from_utf8(rec[46..46 + name_len].to_vec()).map_err(|_| {
                refuse(
                    &String::from_utf8_lossy(&rec[46..46 + name_len]),
                    "its name is not UTF-8",
                )
            })?;
            let mut size = u32_at(rec, 24) as u64;
            let mut compressed = u32_at(rec, 20) as u64;
            let mut offset = u32_at(rec, 42) as u64;
            // zip64's extra field holds, in this order, each of the three that is saturated.
            let mut extra = &rec[46 + name_len..46 + name_len + extra_len];
            while extra.len() >= 4 {
                let (id, n) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
                let body = extra
                    .get(4..4 + n)
                    .ok_or_else(|| refuse(&name, "its extra field is malformed"))?;
                if id == 0x0001 {
                    let mut values = body.chunks_exact(8).map(|c| u64_at(c, 0));
                    for field in [&mut size, &mut compressed, &mut offset] {
                        if *field == 0xFFFF_FFFF {
                            *field = values
                                .next()
                                .ok_or_else(|| refuse(&name, "its zip64 field is short"))?;
                        }
                    }
                }
                extra = &extra[4 + n..];
            }
            if compressed != size {
                return Err(refuse(&name, "its stored and original sizes differ"));
            }
            out.push(Central {
                method: u16_at(rec, 10),
                crc: u32_at(rec, 16),
                name,
                size,
                offset,
            });
            at += 46 + name_len + extra_len + comment_len;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::unsafe_path;

    #[test]
    fn only_plain_relative_paths_are_admitted() {
        for fine in [
            "jira",
            "jira/site.json",
            "confluence/spaces/ÉTÉ/space.json",
            "a/.hidden",
        ] {
            assert_eq!(unsafe_path(fine), None, "{fine}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "jira/../../x",
            "jira/./x",
            "jira//x",
            "..",
            "a\\b",
            "a\u{0}b",
            "a\nb",
        ] {
            assert!(unsafe_path(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn pax_records_are_read_by_their_length() {
        let records = b"30 path=jira/a-long-name.json\n11 size=42\n";
        let read = super::tar::pax_records(records).unwrap();
        assert_eq!(read["path"], "jira/a-long-name.json");
        assert_eq!(read["size"], "42");
        assert!(super::tar::pax_records(b"99 path=x\n").is_none());
        assert!(super::tar::pax_records(b"nonsense").is_none());
    }
}
