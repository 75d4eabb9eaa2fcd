//! Multipart uploads streamed to disk. An upload's body goes, chunk by chunk, into a file in the
//! site's upload directory; its parts are then found by scanning that file, and each part's
//! bytes stay there as a range ([`Blob::File`]). Nothing is held whole in memory.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use futures::StreamExt;
use tempfile::TempPath;
use tokio::io::AsyncWriteExt;

use crate::model::Blob;

/// Default largest upload body: the `uploadLimit` Jira Cloud reports (1 GiB).
pub const UPLOAD_LIMIT: u64 = 1 << 30;

/// Largest non-file field read into memory (`comment`, `minorEdit`, ...).
const FIELD_LIMIT: u64 = 64 * 1024;

/// One part of a multipart upload.
#[derive(Clone, Debug)]
pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    /// The part's bytes: a range of the upload's file.
    pub blob: Blob,
}

impl Part {
    /// The part as text (small form fields only; larger parts give an empty string).
    pub fn text(&self) -> String {
        if self.blob.size() > FIELD_LIMIT {
            return String::new();
        }
        let mut buf = vec![];
        if crate::content::read_all(&self.blob, &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// Why an upload was refused.
pub enum UploadError {
    TooLarge,
    Malformed(String),
    Io(std::io::Error),
}

/// The `boundary` of a `multipart/form-data` content type.
pub fn boundary(content_type: Option<&str>) -> Result<String, UploadError> {
    let ct = content_type.ok_or_else(|| UploadError::Malformed("missing content type".into()))?;
    if !ct.to_ascii_lowercase().starts_with("multipart/form-data") {
        return Err(UploadError::Malformed(
            "content type must be multipart/form-data".into(),
        ));
    }
    ct.split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"').to_string())
        .filter(|b| !b.is_empty())
        .ok_or_else(|| UploadError::Malformed("missing boundary".into()))
}

/// Stream `body` into a new file in `dir` (at most `limit` bytes), then find its parts.
pub async fn receive(
    dir: &Path,
    body: Body,
    boundary: String,
    limit: u64,
) -> Result<Vec<Part>, UploadError> {
    let (file, path) = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(dir)
        .map_err(UploadError::Io)?
        .into_parts();
    let mut out = tokio::fs::File::from_std(file);
    let mut stream = body.into_data_stream();
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| UploadError::Io(std::io::Error::other(e)))?;
        written += chunk.len() as u64;
        if written > limit {
            // `path` is dropped here, which deletes the partial file.
            return Err(UploadError::TooLarge);
        }
        out.write_all(&chunk).await.map_err(UploadError::Io)?;
    }
    out.flush().await.map_err(UploadError::Io)?;
    drop(out);
    let path = Arc::new(path);
    tokio::task::spawn_blocking(move || scan(path, &boundary))
        .await
        .map_err(|e| UploadError::Io(std::io::Error::other(e)))?
}

/// Offsets in `r` of every occurrence of `needle`, read in chunks of 1 MiB.
fn find_all(r: &mut impl Read, needle: &[u8]) -> std::io::Result<Vec<u64>> {
    let mut hits = vec![];
    let mut window: Vec<u8> = vec![];
    let mut window_at = 0u64; // file offset of window[0]
    let mut chunk = vec![0u8; 1 << 20];
    loop {
        let n = r.read(&mut chunk)?;
        if n == 0 {
            return Ok(hits);
        }
        window.extend_from_slice(&chunk[..n]);
        let mut i = 0;
        while i + needle.len() <= window.len() {
            match window[i..].iter().position(|&b| b == needle[0]) {
                None => {
                    i = window.len();
                    break;
                }
                Some(p) => {
                    i += p;
                    if i + needle.len() > window.len() {
                        break;
                    }
                    if &window[i..i + needle.len()] == needle {
                        hits.push(window_at + i as u64);
                    }
                    i += 1;
                }
            }
        }
        // Keep the tail that may hold the start of a needle cut by the chunk end.
        let keep = i.min(window.len().saturating_sub(needle.len() - 1));
        window.drain(..keep);
        window_at += keep as u64;
    }
}

fn read_at(f: &mut std::fs::File, at: u64, len: usize) -> std::io::Result<Vec<u8>> {
    f.seek(SeekFrom::Start(at))?;
    let mut buf = Vec::with_capacity(len);
    f.take(len as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

fn malformed(m: &str) -> UploadError {
    UploadError::Malformed(m.into())
}

/// The parts of the multipart body in the file at `path`.
fn scan(path: Arc<TempPath>, boundary: &str) -> Result<Vec<Part>, UploadError> {
    let mut f = std::fs::File::open(&**path).map_err(UploadError::Io)?;
    let len = f.metadata().map_err(UploadError::Io)?.len();
    let delim = format!("--{boundary}");
    let d = delim.len() as u64;
    let mut hits = find_all(&mut f, delim.as_bytes()).map_err(UploadError::Io)?;
    // A delimiter starts the body or follows a CRLF, and is followed by CRLF or `--` (the
    // last); other matches are content.
    let mut valid = vec![];
    for h in hits.drain(..) {
        let before = h == 0 || read_at(&mut f, h - 2, 2).map_err(UploadError::Io)? == b"\r\n";
        let after = read_at(&mut f, h + d, 2).map_err(UploadError::Io)?;
        if before && (after == b"\r\n" || after == b"--") {
            valid.push(h);
        }
    }
    if valid.is_empty() {
        return Err(malformed("no boundary in body"));
    }
    let mut parts = vec![];
    for w in valid.windows(2) {
        let (at, next) = (w[0] + d, w[1]);
        if read_at(&mut f, at, 2).map_err(UploadError::Io)? == b"--" {
            break;
        }
        let head_from = at + 2;
        let head = read_at(&mut f, head_from, 16 * 1024).map_err(UploadError::Io)?;
        let hend = head
            .windows(4)
            .position(|x| x == b"\r\n\r\n")
            .ok_or_else(|| malformed("bad part headers"))?;
        let start = head_from + hend as u64 + 4;
        let end = next - 2;
        if start > end || end > len {
            return Err(malformed("unterminated part"));
        }
        let (name, filename, content_type) = part_headers(&String::from_utf8_lossy(&head[..hend]));
        parts.push(Part {
            name,
            filename,
            content_type,
            blob: Blob::File {
                file: path.clone(),
                offset: start,
                size: end - start,
            },
        });
    }
    let last = *valid.last().unwrap_or(&0);
    if read_at(&mut f, last + d, 2).map_err(UploadError::Io)? != b"--" {
        return Err(malformed("unterminated multipart body"));
    }
    Ok(parts)
}

/// Field name, filename and content type from a part's headers.
fn part_headers(headers: &str) -> (String, Option<String>, Option<String>) {
    let mut name = String::new();
    let mut filename = None;
    let mut ctype = None;
    for line in headers.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("content-disposition:") {
            for attr in line.split(';').skip(1) {
                let attr = attr.trim();
                if let Some(v) = attr.strip_prefix("name=") {
                    name = v.trim_matches('"').to_string();
                } else if let Some(v) = attr.strip_prefix("filename=") {
                    filename = Some(v.trim_matches('"').to_string());
                }
            }
        } else if lower.starts_with("content-type:") {
            ctype = Some(line["content-type:".len()..].trim().to_string());
        }
    }
    (name, filename, ctype)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_cut_by_chunk_ends_are_found() {
        let mut data = vec![b'x'; (1 << 20) - 3];
        data.extend_from_slice(b"--abc");
        data.extend_from_slice(&[b'-'; 10]);
        data.extend_from_slice(b"--abc--");
        let hits = find_all(&mut &data[..], b"--abc").unwrap();
        assert_eq!(hits, vec![(1 << 20) - 3, (1 << 20) - 3 + 15]);
    }

    #[test]
    fn parts_are_ranges_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.bin\"\r\nContent-Type: application/x-test\r\n\r\n\r\n--XyZx--XyZ\r\n--XyZ--\r\n";
        let (mut f, path) = tempfile::Builder::new()
            .tempfile_in(dir.path())
            .unwrap()
            .into_parts();
        std::io::Write::write_all(&mut f, body).unwrap();
        let parts = match scan(Arc::new(path), "XyZ") {
            Ok(p) => p,
            Err(_) => panic!("scan failed"),
        };
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "comment");
        assert_eq!(parts[0].text(), "hello");
        assert_eq!(parts[1].filename.as_deref(), Some("a.bin"));
        assert_eq!(parts[1].content_type.as_deref(), Some("application/x-test"));
        // A boundary not after CRLF is content.
        assert_eq!(parts[1].text(), "\r\n--XyZx--XyZ");
    }
}
