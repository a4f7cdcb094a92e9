//! Ranges of feature maps over (batch, channel, height, width).

use serde::Serialize;

/// A half-open 4D range over (batch, channel, height, width).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct FmapRange {
    pub beg: [u64; 4],
    pub end: [u64; 4],
}

impl FmapRange {
    /// The whole range from the origin to `end`.
    pub fn full(b: u64, n: u64, h: u64, w: u64) -> Self {
        FmapRange {
            beg: [0; 4],
            end: [b, n, h, w],
        }
    }

    pub fn size(&self) -> u64 {
        (0..4).map(|i| self.end[i] - self.beg[i]).product()
    }

    /// Elements in common with `o`.
    #[inline]
    pub fn overlap_size(&self, o: &FmapRange) -> u64 {
        let mut sz = 1;
        for i in 0..4 {
            let b = self.beg[i].max(o.beg[i]);
            let e = self.end[i].min(o.end[i]);
            if b >= e {
                return 0;
            }
            sz *= e - b;
        }
        sz
    }
}
