//! Deterministic attachment content, generated on the fly (never held whole in memory).

use std::io::{Read, Seek};

use bytes::Bytes;
use futures::Stream;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::model::Blob;

const CHUNK: usize = 64 * 1024;

/// Fill `buf` with the content of a generated blob starting at byte `offset`.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // ChaCha word position counts 32-bit words.
    let word = offset / 4;
    rng.set_word_pos(word as u128);
    let skip = (offset % 4) as usize;
    if skip == 0 {
        rng.fill_bytes(buf);
    } else {
        let mut tmp = vec![0u8; buf.len() + skip];
        rng.fill_bytes(&mut tmp);
        buf.copy_from_slice(&tmp[skip..]);
    }
}

/// A stream of the bytes `[start, end)` of the blob, in chunks of 64 KiB.
pub fn stream(
    blob: Blob,
    start: u64,
    end: u64,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::try_unfold((start, None::<tokio::fs::File>), move |(pos, mut open)| {
        let blob = blob.clone();
        async move {
            if pos >= end {
                return Ok(None);
            }
            let n = ((end - pos) as usize).min(CHUNK);
            let mut buf = vec![0u8; n];
            match &blob {
                Blob::Gen { seed, .. } => fill(*seed, pos, &mut buf),
                Blob::File { file, offset, .. } => {
                    if open.is_none() {
                        let mut f = tokio::fs::File::open(&**file).await?;
                        f.seek(std::io::SeekFrom::Start(offset + pos)).await?;
                        open = Some(f);
                    }
                    if let Some(f) = open.as_mut() {
                        f.read_exact(&mut buf).await?;
                    }
                }
            }
            Ok(Some((Bytes::from(buf), (pos + n as u64, open))))
        }
    })
}

/// Feed the whole content to `sink`, chunk by chunk.
fn each_chunk(blob: &Blob, mut sink: impl FnMut(&[u8])) -> std::io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    match blob {
        Blob::Gen { seed, size } => {
            let mut rng = ChaCha8Rng::seed_from_u64(*seed);
            let mut left = *size;
            while left > 0 {
                let n = (left as usize).min(CHUNK);
                rng.fill_bytes(&mut buf[..n]);
                sink(&buf[..n]);
                left -= n as u64;
            }
        }
        Blob::File { file, offset, size } => {
            let mut f = std::fs::File::open(&**file)?;
            f.seek(std::io::SeekFrom::Start(*offset))?;
            let mut f = f.take(*size);
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                sink(&buf[..n]);
            }
        }
    }
    Ok(())
}

/// blake3 of the whole content (streamed through, never held whole).
pub fn hash(blob: &Blob) -> String {
    let mut h = blake3::Hasher::new();
    match each_chunk(blob, |b| {
        h.update(b);
    }) {
        Ok(()) => h.finalize().to_hex().to_string(),
        // An upload file that cannot be read any more hashes to a marker, not to a value
        // that could equal real content.
        Err(e) => format!("unreadable: {e}"),
    }
}

/// The whole content, appended to `out` (small blobs only: form fields).
pub fn read_all(blob: &Blob, out: &mut Vec<u8>) -> std::io::Result<()> {
    each_chunk(blob, |b| out.extend_from_slice(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_agree_with_whole() {
        let mut whole = vec![0u8; 1000];
        fill(7, 0, &mut whole);
        for off in [0usize, 1, 3, 4, 5, 99, 500] {
            let mut part = vec![0u8; 100];
            fill(7, off as u64, &mut part);
            assert_eq!(&part[..], &whole[off..off + 100], "offset {off}");
        }
    }
}
