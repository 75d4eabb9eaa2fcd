//! The zip container (APPNOTE 6.3): entries stored, not compressed (attachments mostly are
//! already, and a stored entry's offset is known before its bytes are read), names in UTF-8, and
//! each file's CRC-32 in a data descriptor after its bytes, since it is known only then. An entry
//! or an archive past 4 GiB (or 65535 entries) gets zip64 records. Readers (Info-ZIP `unzip`,
//! Python's `zipfile`, 7-Zip, bsdtar, the desktops' archive tools) read the central directory.

use chrono::{Datelike, NaiveDateTime, Timelike};

use super::{Container, Member};

const LOCAL: u32 = 0x0403_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const ZIP64_END: u32 = 0x0606_4b50;
const ZIP64_LOCATOR: u32 = 0x0706_4b50;
const END: u32 = 0x0605_4b50;
/// Bit 3: sizes and CRC follow the data; bit 11: the name is UTF-8.
const FLAGS_FILE: u16 = 1 << 3 | 1 << 11;
const FLAGS_DIR: u16 = 1 << 11;
/// Version 4.5 (zip64), made on Unix (so the external attributes hold a mode).
const MADE_BY: u16 = 3 << 8 | 45;
const NEEDS: u16 = 20;
const NEEDS_ZIP64: u16 = 45;
const ZIP64_EXTRA: u16 = 0x0001;

/// One entry's line in the central directory.
struct Central {
    name: String,
    dir: bool,
    size: u64,
    crc: u32,
    offset: u64,
}

pub(super) struct Zip {
    /// Sizes, offsets and counts at or past this need zip64 (`u32::MAX`; lower in tests).
    limit: u64,
    dos_time: u16,
    dos_date: u16,
    /// Bytes written so far.
    offset: u64,
    /// Where the entry being written began.
    pending: u64,
    central: Vec<Central>,
}

impl Zip {
    pub(super) fn new(modified: NaiveDateTime) -> Self {
        Self::with_limit(modified, u64::from(u32::MAX))
    }

    fn with_limit(modified: NaiveDateTime, limit: u64) -> Self {
        let (dos_time, dos_date) = dos_time(modified);
        Zip {
            limit,
            dos_time,
            dos_date,
            offset: 0,
            pending: 0,
            central: Vec::new(),
        }
    }

    fn big(&self, n: u64) -> bool {
        n >= self.limit
    }
}

/// MS-DOS time and date (two-second steps, 1980 to 2107), as zip headers hold them.
fn dos_time(t: NaiveDateTime) -> (u16, u16) {
    let year = t.year().clamp(1980, 2107) as u16;
    let time = (t.hour() as u16) << 11 | (t.minute() as u16) << 5 | (t.second() as u16 / 2);
    let date = (year - 1980) << 9 | (t.month() as u16) << 5 | t.day() as u16;
    (time, date)
}

fn name(m: Member<'_>) -> String {
    if m.dir {
        format!("{}/", m.path)
    } else {
        m.path.to_string()
    }
}

/// Little-endian writes.
trait Put {
    fn u16(&mut self, v: u16);
    fn u32(&mut self, v: u32);
    fn u64(&mut self, v: u64);
}

impl Put for Vec<u8> {
    fn u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
}

impl Container for Zip {
    fn head(&mut self, m: Member<'_>) -> Vec<u8> {
        let name = name(m);
        let big = !m.dir && self.big(m.size);
        let mut b = Vec::with_capacity(30 + name.len() + 20);
        b.u32(LOCAL);
        b.u16(if big { NEEDS_ZIP64 } else { NEEDS });
        b.u16(if m.dir { FLAGS_DIR } else { FLAGS_FILE });
        b.u16(0); // stored
        b.u16(self.dos_time);
        b.u16(self.dos_date);
        b.u32(0); // CRC-32: in the data descriptor (0 for a directory)
        let size_field = if big { u32::MAX } else { 0 };
        b.u32(size_field);
        b.u32(size_field);
        b.u16(name.len() as u16);
        b.u16(if big { 20 } else { 0 });
        b.extend_from_slice(name.as_bytes());
        if big {
            // Zip64 sizes, given in the data descriptor.
            b.u16(ZIP64_EXTRA);
            b.u16(16);
            b.u64(0);
            b.u64(0);
        }
        self.pending = self.offset;
        self.offset += b.len() as u64 + m.size;
        b
    }

    fn tail(&mut self, m: Member<'_>, crc: u32) -> Vec<u8> {
        self.central.push(Central {
            name: name(m),
            dir: m.dir,
            size: m.size,
            crc,
            offset: self.pending,
        });
        if m.dir {
            return Vec::new();
        }
        let mut b = Vec::with_capacity(24);
        b.u32(DESCRIPTOR);
        b.u32(crc);
        if self.big(m.size) {
            b.u64(m.size);
            b.u64(m.size);
        } else {
            b.u32(m.size as u32);
            b.u32(m.size as u32);
        }
        self.offset += b.len() as u64;
        b
    }

    fn finish(&mut self) -> Vec<u8> {
        let start = self.offset;
        let mut b = Vec::new();
        for c in &self.central {
            let big_size = !c.dir && self.big(c.size);
            let big_offset = self.big(c.offset);
            let mut extra = Vec::new();
            if big_size {
                extra.u64(c.size);
                extra.u64(c.size);
            }
            if big_offset {
                extra.u64(c.offset);
            }
            b.u32(CENTRAL);
            b.u16(MADE_BY);
            b.u16(if extra.is_empty() { NEEDS } else { NEEDS_ZIP64 });
            b.u16(if c.dir { FLAGS_DIR } else { FLAGS_FILE });
            b.u16(0);
            b.u16(self.dos_time);
            b.u16(self.dos_date);
            b.u32(c.crc);
            let size = if big_size { u32::MAX } else { c.size as u32 };
            b.u32(size);
            b.u32(size);
            b.u16(c.name.len() as u16);
            b.u16(if extra.is_empty() {
                0
            } else {
                4 + extra.len() as u16
            });
            b.u16(0); // comment
            b.u16(0); // disk
            b.u16(0); // internal attributes
            // Unix mode in the high half; MS-DOS's directory bit for a directory.
            b.u32(if c.dir {
                0o040_755 << 16 | 0x10
            } else {
                0o100_644 << 16
            });
            b.u32(if big_offset {
                u32::MAX
            } else {
                c.offset as u32
            });
            b.extend_from_slice(c.name.as_bytes());
            if !extra.is_empty() {
                b.u16(ZIP64_EXTRA);
                b.u16(extra.len() as u16);
                b.extend_from_slice(&extra);
            }
        }
        let size = b.len() as u64;
        let count = self.central.len() as u64;
        let zip64 = count >= 0xFFFF.min(self.limit) || self.big(start) || self.big(size);
        if zip64 {
            let record = start + size;
            b.u32(ZIP64_END);
            b.u64(44); // the record's size after this field
            b.u16(MADE_BY);
            b.u16(NEEDS_ZIP64);
            b.u32(0); // this disk
            b.u32(0); // the central directory's disk
            b.u64(count);
            b.u64(count);
            b.u64(size);
            b.u64(start);
            b.u32(ZIP64_LOCATOR);
            b.u32(0);
            b.u64(record);
            b.u32(1); // disks
        }
        b.u32(END);
        b.u16(0);
        b.u16(0);
        let count16 = if zip64 { 0xFFFF } else { count as u16 };
        b.u16(count16);
        b.u16(count16);
        b.u32(if zip64 { u32::MAX } else { size as u32 });
        b.u32(if zip64 { u32::MAX } else { start as u32 });
        b.u16(0); // comment
        self.offset += b.len() as u64;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// An archive of `members` written with `zip`, bytes and all.
    fn archive(mut zip: Zip, members: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (path, data) in members {
            let m = Member {
                path,
                dir: data.is_none(),
                size: data.map_or(0, |d| d.len() as u64),
            };
            out.extend(zip.head(m));
            out.extend_from_slice(data.unwrap_or_default());
            out.extend(zip.tail(m, crc32fast::hash(data.unwrap_or_default())));
        }
        out.extend(zip.finish());
        assert_eq!(
            out.len() as u64,
            zip.offset,
            "the container counts what it writes"
        );
        out
    }

    /// Python's `zipfile` lists the archive and checks every CRC; prints `name size` lines.
    fn python_reads(archive: &[u8]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        std::fs::File::create(&path)
            .unwrap()
            .write_all(archive)
            .unwrap();
        let script = "import sys, zipfile\n\
                      z = zipfile.ZipFile(sys.argv[1])\n\
                      bad = z.testzip()\n\
                      assert bad is None, bad\n\
                      for i in z.infolist(): print(i.filename, i.file_size, oct(i.external_attr >> 16), i.date_time)\n";
        let out = std::process::Command::new("python3")
            .args(["-c", script])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn start() -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
            .unwrap()
            .and_hms_opt(2, 0, 7)
            .unwrap()
    }

    const MEMBERS: &[(&str, Option<&[u8]>)] = &[
        ("jira", None),
        ("jira/site.json", Some(b"{}")),
        ("jira/attachments", None),
        ("jira/attachments/10001", Some(b"")),
        (
            "jira/attachments/10002",
            Some(b"PK\x03\x04 looks like a header"),
        ),
        (
            "confluence/spaces/\u{00c9}T\u{00c9}/space.json",
            Some(b"{\"key\":1}"),
        ),
    ];

    #[test]
    fn python_reads_a_small_archive_with_its_times_and_modes() {
        let listed = python_reads(&archive(Zip::new(start()), MEMBERS));
        assert_eq!(
            listed.lines().collect::<Vec<_>>(),
            [
                "jira/ 0 0o40755 (2026, 11, 27, 2, 0, 6)",
                "jira/site.json 2 0o100644 (2026, 11, 27, 2, 0, 6)",
                "jira/attachments/ 0 0o40755 (2026, 11, 27, 2, 0, 6)",
                "jira/attachments/10001 0 0o100644 (2026, 11, 27, 2, 0, 6)",
                "jira/attachments/10002 24 0o100644 (2026, 11, 27, 2, 0, 6)",
                "confluence/spaces/\u{00c9}T\u{00c9}/space.json 9 0o100644 (2026, 11, 27, 2, 0, 6)",
            ]
        );
    }

    /// With the zip64 threshold at 0 every size, offset and count takes the zip64 records, as
    /// an archive past 4 GiB does: the same reader still reads every entry and CRC.
    #[test]
    fn python_reads_the_zip64_records() {
        let small = archive(Zip::new(start()), MEMBERS);
        let big = archive(Zip::with_limit(start(), 0), MEMBERS);
        assert!(big.len() > small.len(), "zip64 records were written");
        assert_eq!(python_reads(&big), python_reads(&small));
    }

    /// A changed byte in a file is caught by the CRC the descriptor carries.
    #[test]
    fn a_changed_byte_fails_the_crc() {
        let mut bytes = archive(Zip::new(start()), MEMBERS);
        let at = bytes.windows(10).position(|w| w == b"looks like").unwrap();
        bytes[at] ^= 1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.zip");
        std::fs::write(&path, &bytes).unwrap();
        let out = std::process::Command::new("python3")
            .args([
                "-c",
                "import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).testzip())",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            "jira/attachments/10002"
        );
    }
}
