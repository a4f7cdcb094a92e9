//! Where feature maps live: ranges of (batch, channel, height, width) and
//! data layouts mapping them onto node regions through partitions.

use serde::Serialize;

use super::region::{Coord, NodeRegion};
use super::scheme::PartitionScheme;

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

/// Feature maps stored as consecutive channel ranges, each spread over a
/// region by a partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct DataLayout {
    pub frngs: Vec<FmapRange>,
    pub regions: Vec<NodeRegion>,
    pub parts: Vec<PartitionScheme>,
}

impl DataLayout {
    /// One range on one region.
    pub fn single(frng: FmapRange, region: NodeRegion, part: PartitionScheme) -> Self {
        DataLayout {
            frngs: vec![frng],
            regions: vec![region],
            parts: vec![part],
        }
    }

    /// The layouts side by side along channels, in order.
    pub fn concat(layouts: &[&DataLayout]) -> DataLayout {
        let mut out = DataLayout {
            frngs: Vec::new(),
            regions: Vec::new(),
            parts: Vec::new(),
        };
        let mut n_off = 0;
        for dl in layouts {
            for f in &dl.frngs {
                let mut g = *f;
                g.beg[1] += n_off;
                g.end[1] += n_off;
                n_off += f.end[1] - f.beg[1];
                out.frngs.push(g);
            }
            out.regions.extend_from_slice(&dl.regions);
            out.parts.extend_from_slice(&dl.parts);
        }
        out
    }

    /// The range covered by all pieces.
    pub fn complete_fmap_range(&self) -> FmapRange {
        FmapRange {
            beg: self.frngs[0].beg,
            end: self.frngs[self.frngs.len() - 1].end,
        }
    }

    /// The stored pieces: each node with the range it holds.
    pub fn pieces(&self) -> Pieces {
        let mut pieces = Vec::new();
        for ((f, region), part) in self.frngs.iter().zip(&self.regions).zip(&self.parts) {
            for pidx in part.pidxs() {
                pieces.push((part.coordinate(region, &pidx), part.fmap_range(f, &pidx)));
            }
        }
        Pieces {
            pieces,
            complete: self.complete_fmap_range(),
        }
    }

    /// Whether every node of the layout lies in one of `regions` of the
    /// same kind.
    pub fn is_in(&self, regions: &[&NodeRegion]) -> bool {
        self.regions.iter().all(|r| {
            r.nodes()
                .all(|c| regions.iter().any(|o| o.kind == r.kind && o.contains(c)))
        })
    }
}

/// A layout resolved to nodes, for repeated hop counts.
#[derive(Clone, Debug)]
pub struct Pieces {
    pieces: Vec<(Coord, FmapRange)>,
    complete: FmapRange,
}

impl Pieces {
    /// Word-hops to bring `frng` to each of `dests`: with `forwarding`, to
    /// the nearest one, which passes it on along a minimum spanning tree.
    pub fn nhops_to(&self, frng: &FmapRange, dests: &[Coord], forwarding: bool) -> u64 {
        let mut per_dest = vec![0u64; dests.len()];
        for (src, piece) in &self.pieces {
            let size = frng.overlap_size(piece);
            if size == 0 {
                continue;
            }
            for (n, d) in per_dest.iter_mut().zip(dests) {
                *n += size * d.hop_dist(*src);
            }
        }
        if forwarding {
            let nearest = per_dest.iter().copied().min().unwrap_or(0);
            nearest + self.complete.overlap_size(frng) * spanning_tree(&[], dests)
        } else {
            per_dest.iter().sum()
        }
    }
}

/// Total hops of a minimum spanning tree connecting `dests` to the set
/// `roots` (or to each other when `roots` is empty), built greedily.
pub fn spanning_tree(roots: &[Coord], dests: &[Coord]) -> u64 {
    let mut reached: Vec<Coord> = roots.to_vec();
    let mut left: Vec<Coord> = Vec::new();
    for d in dests {
        if !left.contains(d) && !reached.contains(d) {
            left.push(*d);
        }
    }
    if reached.is_empty() {
        if left.is_empty() {
            return 0;
        }
        reached.push(left.remove(0));
    }
    // Prim: distance from each unreached node to the tree.
    let mut best: Vec<u64> = left
        .iter()
        .map(|d| {
            reached
                .iter()
                .map(|r| d.hop_dist(*r))
                .min()
                .unwrap_or(u64::MAX)
        })
        .collect();
    let mut total = 0;
    while !left.is_empty() {
        let (i, _) = best
            .iter()
            .enumerate()
            .min_by_key(|(_, b)| **b)
            .expect("non-empty");
        total += best[i];
        let n = left.swap_remove(i);
        best.swap_remove(i);
        for (d, b) in left.iter().zip(best.iter_mut()) {
            *b = (*b).min(d.hop_dist(n));
        }
    }
    total
}
