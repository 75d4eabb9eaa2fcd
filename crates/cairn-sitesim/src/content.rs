//! Deterministic attachment content, generated on the fly (never held whole in memory).

use bytes::Bytes;
use futures::Stream;
use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;

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
    futures::stream::unfold(start, move |pos| {
        let blob = blob.clone();
        async move {
            if pos >= end {
                return None;
            }
            let n = ((end - pos) as usize).min(CHUNK);
            let chunk = match &blob {
                Blob::Gen { seed, .. } => {
                    let mut buf = vec![0u8; n];
                    fill(*seed, pos, &mut buf);
                    Bytes::from(buf)
                }
                Blob::Stored(b) => b.slice(pos as usize..pos as usize + n),
            };
            Some((Ok(chunk), pos + n as u64))
        }
    })
}

/// blake3 of the whole content (streamed through, never held whole).
pub fn hash(blob: &Blob) -> String {
    match blob {
        Blob::Stored(b) => blake3::hash(b).to_hex().to_string(),
        Blob::Gen { seed, size } => {
            let mut h = blake3::Hasher::new();
            let mut buf = vec![0u8; CHUNK];
            let mut rng = ChaCha8Rng::seed_from_u64(*seed);
            let mut left = *size;
            while left > 0 {
                let n = (left as usize).min(CHUNK);
                rng.fill_bytes(&mut buf[..n]);
                h.update(&buf[..n]);
                left -= n as u64;
            }
            h.finalize().to_hex().to_string()
        }
    }
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
