//! The tar container: ustar headers, with a pax extended header (`path`, `size`) before a member
//! whose path is longer than 100 bytes or whose size does not fit in ustar. GNU tar, bsdtar and
//! every tar library read it.

use super::{Container, Member};

const BLOCK: usize = 512;

pub(super) struct Tar {
    /// Every member's modification time (the backup's start), seconds since the epoch.
    mtime: u64,
}

impl Tar {
    pub(super) fn new(mtime: u64) -> Self {
        Tar { mtime }
    }
}

impl Container for Tar {
    fn head(&mut self, m: Member<'_>) -> Vec<u8> {
        if m.dir {
            member_header(&format!("{}/", m.path), Kind::Dir, 0, self.mtime)
        } else {
            member_header(m.path, Kind::File, m.size, self.mtime)
        }
    }

    fn tail(&mut self, m: Member<'_>, _crc: u32) -> Vec<u8> {
        vec![0; padding(m.size)]
    }

    /// Two zero blocks.
    fn finish(&mut self) -> Vec<u8> {
        vec![0; 2 * BLOCK]
    }
}

/// Zero bytes after `size` bytes of data up to the next block.
fn padding(size: u64) -> usize {
    let rest = (size % BLOCK as u64) as usize;
    if rest == 0 { 0 } else { BLOCK - rest }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Pax,
}

/// The largest size a ustar header's 11 octal digits hold.
const USTAR_MAX_SIZE: u64 = 0o77_777_777_777;

/// The header block(s) of one member: a pax extended header first when the path is longer than
/// 100 bytes or the size too big for ustar.
fn member_header(path: &str, kind: Kind, size: u64, mtime: u64) -> Vec<u8> {
    let mut records = Vec::new();
    if path.len() > 100 {
        records.extend(pax_record("path", path));
    }
    if size > USTAR_MAX_SIZE {
        records.extend(pax_record("size", &size.to_string()));
    }
    let name = truncated(path, 100);
    let mut out = Vec::with_capacity(BLOCK * 3);
    if !records.is_empty() {
        let pax_name = format!("PaxHeader/{}", truncated(path.trim_end_matches('/'), 90));
        out.extend_from_slice(&ustar_block(
            &pax_name,
            Kind::Pax,
            records.len() as u64,
            mtime,
        ));
        let pad = padding(records.len() as u64);
        out.extend_from_slice(&records);
        out.resize(out.len() + pad, 0);
    }
    out.extend_from_slice(&ustar_block(name, kind, size.min(USTAR_MAX_SIZE), mtime));
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
fn truncated(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// `"<length> key=value\n"`, where the length counts the whole record, its own digits included.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = rest + rest.to_string().len();
    if len.to_string().len() + rest != len {
        len = rest + len.to_string().len();
    }
    format!("{len} {key}={value}\n").into_bytes()
}

/// One ustar header block.
fn ustar_block(name: &str, kind: Kind, size: u64, mtime: u64) -> [u8; BLOCK] {
    let mut b = [0u8; BLOCK];
    let octal = |b: &mut [u8; BLOCK], at: usize, width: usize, value: u64| {
        // `width - 1` digits and a NUL.
        let text = format!("{value:0w$o}", w = width - 1);
        b[at..at + width - 1].copy_from_slice(&text.as_bytes()[text.len() - (width - 1)..]);
    };
    let name = name.as_bytes();
    b[..name.len()].copy_from_slice(name);
    let (mode, flag) = match kind {
        Kind::File => (0o644, b'0'),
        Kind::Dir => (0o755, b'5'),
        Kind::Pax => (0o644, b'x'),
    };
    octal(&mut b, 100, 8, mode);
    octal(&mut b, 108, 8, 0);
    octal(&mut b, 116, 8, 0);
    octal(&mut b, 124, 12, size);
    octal(&mut b, 136, 12, mtime.min(USTAR_MAX_SIZE));
    b[156] = flag;
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    // The checksum counts its own field as eight spaces.
    b[148..156].copy_from_slice(b"        ");
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    let text = format!("{sum:06o}\0 ");
    b[148..156].copy_from_slice(text.as_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn pax_records_count_their_own_length() {
        for value in ["x", &"y".repeat(90), &"z".repeat(95), &"w".repeat(994)] {
            let rec = pax_record("path", value);
            let text = String::from_utf8(rec.clone()).unwrap();
            let (len, _) = text.split_once(' ').unwrap();
            assert_eq!(len.parse::<usize>().unwrap(), rec.len(), "{text}");
        }
    }

    /// The system's tar reads what the header writer makes, long paths included.
    #[test]
    fn system_tar_lists_short_and_long_paths() {
        let long = format!("confluence/spaces/{}/pages/1.json", "K".repeat(120));
        let mut archive = Vec::new();
        archive.extend(member_header("jira/", Kind::Dir, 0, 1_700_000_000));
        for (path, data) in [("jira/site.json", &b"{}"[..]), (long.as_str(), b"hello")] {
            archive.extend(member_header(
                path,
                Kind::File,
                data.len() as u64,
                1_700_000_000,
            ));
            archive.extend_from_slice(data);
            archive.resize(archive.len() + padding(data.len() as u64), 0);
        }
        archive.resize(archive.len() + 2 * BLOCK, 0);
        let mut tar = std::process::Command::new("tar")
            .arg("-t")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        tar.stdin.take().unwrap().write_all(&archive).unwrap();
        let out = tar.wait_with_output().unwrap();
        assert!(out.status.success());
        let listed = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            listed.lines().collect::<Vec<_>>(),
            ["jira/", "jira/site.json", long.as_str()]
        );
    }
}
