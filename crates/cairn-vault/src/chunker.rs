//! FastCDC v2020 over an `AsyncRead`, with the repository's gear seed.

use std::borrow::Cow;

use fastcdc::v2020::{Normalization, cut_gear, get_gear_with_seed, select_masks};

use crate::format::ChunkerParams;

/// Finds cut points; holds the gear tables of one repository.
#[derive(Debug, Clone)]
pub struct Chunker {
    min: usize,
    avg: usize,
    max: usize,
    mask_s: u64,
    mask_l: u64,
    gear: Cow<'static, [u64]>,
    gear_ls: Cow<'static, [u64]>,
}

impl Chunker {
    pub fn new(p: &ChunkerParams, seed: u64) -> Self {
        let level = match p.normalization {
            0 => Normalization::Level0,
            1 => Normalization::Level1,
            2 => Normalization::Level2,
            _ => Normalization::Level3,
        };
        let (mask_s, mask_l) = select_masks(p.avg_size as usize, level);
        let (gear, gear_ls) = get_gear_with_seed(seed);
        Chunker {
            min: p.min_size as usize,
            avg: p.avg_size as usize,
            max: p.max_size as usize,
            mask_s,
            mask_l,
            gear,
            gear_ls,
        }
    }

    pub fn max_size(&self) -> usize {
        self.max
    }

    /// Length of the next chunk at the start of `buf`. Only call with `buf.len() >= max_size()` or at the end of input.
    pub fn next_cut(&self, buf: &[u8]) -> usize {
        if buf.len() <= self.min {
            return buf.len();
        }
        let (_, n) = cut_gear(
            buf,
            self.min,
            self.avg,
            self.max,
            self.mask_s,
            self.mask_l,
            self.mask_s << 1,
            self.mask_l << 1,
            &self.gear,
            &self.gear_ls,
        );
        n.max(1)
    }
}
