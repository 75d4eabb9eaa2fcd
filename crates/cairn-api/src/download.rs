//! A backup's archive as an HTTP download: `Content-Length`, an `ETag`, and one `Range` (206,
//! or 416 when it lies past the end), so an interrupted download resumes where it stopped
//! (`curl -C -`, `wget -c`). The archive of a backup never changes, so its `ETag` is its id and
//! format.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_control::management::{BackupExport, ByteStream};

use crate::error::ApiError;
use futures::TryStreamExt;

/// The response for `export`, honouring the request's `Range` and `If-Range`.
pub fn archive_response(export: BackupExport, request: &HeaderMap) -> Response {
    let len = export.archive.len;
    let etag = format!("\"{}.{}\"", export.backup.id, export.format.extension());
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(export.format.media_type()),
    );
    headers.insert(header::CONTENT_DISPOSITION, attachment(&export.file_name()));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    // A range of another version of the file (If-Range) is answered with the whole file.
    let same_version = request
        .get(header::IF_RANGE)
        .is_none_or(|v| v.as_bytes() == etag.as_bytes());
    let range = request
        .get(header::RANGE)
        .filter(|_| same_version)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| byte_range(v, len));
    match range {
        None => {
            headers.insert(header::CONTENT_LENGTH, len.into());
            (StatusCode::OK, headers, streamed(export.archive.bytes)).into_response()
        }
        Some(Err(())) => ApiError::range_not_satisfiable(len).into_response(),
        Some(Ok((start, end))) => {
            headers.insert(header::CONTENT_LENGTH, (end - start).into());
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1)) {
                headers.insert(header::CONTENT_RANGE, v);
            }
            let bytes = export.archive.slice(start, end);
            (StatusCode::PARTIAL_CONTENT, headers, streamed(bytes)).into_response()
        }
    }
}

/// One range of a `Range: bytes=...` header as `start..end` (end exclusive). `None` when there
/// is no usable range (another unit, several ranges, a malformed one: the whole file is sent, as
/// RFC 9110 allows); `Some(Err(()))` when it lies past the end (416).
fn byte_range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?.trim();
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let number = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse::<u64>().ok()
        }
    };
    if first.is_empty() {
        // The last `n` bytes.
        let n = number(last)?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        return Some(Ok((len.saturating_sub(n), len)));
    }
    let start = number(first)?;
    let end = match last {
        "" => len,
        l => {
            let end = number(l)?;
            if end < start {
                return None;
            }
            end.saturating_add(1).min(len)
        }
    };
    if start >= len {
        return Some(Err(()));
    }
    Some(Ok((start, end)))
}

/// A body read from the vault piece by piece. A failure once the status is sent can only cut
/// the response short (the client sees a truncated body); it is logged here.
pub fn streamed(bytes: ByteStream) -> Body {
    Body::from_stream(bytes.inspect_err(|e| {
        tracing::error!(detail = %e, "reading a backup's snapshot failed while streaming it");
    }))
}

/// `Content-Disposition` of a download: a browser saves the bytes (a backed-up attachment may
/// be HTML or script) under `name`, kept to `[A-Za-z0-9._-]` in `filename` (quotes, slashes or
/// control characters could break the header or pick the folder) and given whole, UTF-8 and
/// percent-encoded, in `filename*` (RFC 6266).
pub fn attachment(name: &str) -> HeaderValue {
    let plain: String = name
        .chars()
        .map(|c| match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .collect();
    let plain = match plain.trim_start_matches('.') {
        "" => "download".to_string(),
        rest => rest.to_string(),
    };
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{plain}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::{attachment, byte_range};

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        let len = 1000;
        assert_eq!(byte_range("bytes=0-", len), Some(Ok((0, 1000))));
        assert_eq!(byte_range("bytes=500-", len), Some(Ok((500, 1000))));
        assert_eq!(byte_range("bytes=10-19", len), Some(Ok((10, 20))));
        assert_eq!(byte_range("bytes=990-5000", len), Some(Ok((990, 1000))));
        assert_eq!(byte_range("bytes=-10", len), Some(Ok((990, 1000))));
        assert_eq!(byte_range("bytes=-5000", len), Some(Ok((0, 1000))));
        assert_eq!(byte_range("bytes=1000-", len), Some(Err(())));
        assert_eq!(byte_range("bytes=-0", len), Some(Err(())));
        for ignored in [
            "items=0-1",
            "bytes=0-1,5-6",
            "bytes=a-",
            "bytes=5-1",
            "bytes=-",
            "0-1",
        ] {
            assert_eq!(byte_range(ignored, len), None, "{ignored}");
        }
    }

    #[test]
    fn a_download_is_an_attachment_under_a_safe_name() {
        assert_eq!(
            attachment("10001.json"),
            "attachment; filename=\"10001.json\"; filename*=UTF-8''10001.json"
        );
        assert_eq!(
            attachment("a\"b\\..\r\nX: y;ü.html"),
            "attachment; filename=\"a_b_..__X__y__.html\"; \
             filename*=UTF-8''a%22b%5C..%0D%0AX%3A%20y%3B%C3%BC.html"
        );
        assert_eq!(
            attachment(".."),
            "attachment; filename=\"download\"; filename*=UTF-8''.."
        );
    }
}
