//! Where feature maps live: ranges of (batch, channel, height, width) and
//! data layouts mapping them onto node regions through partitions.

use std::ops::Range;

use serde::Serialize;

use super::range::FmapRange;
use super::region::{Coord, NodeRegion};
use super::scheme::PartitionScheme;

/// Feature maps stored as consecutive channel ranges, each spread over a
/// region by a partition.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct DataLayout {
    pub frngs: Vec<FmapRange>,
    pub regions: Vec<NodeRegion>,
    pub parts: Vec<PartitionScheme>,
    /// Per range, the part of it in use when only some of its channels are
    /// (a channel split); `None`: all of `frngs[i]`, as stored.
    pub views: Vec<Option<ChannelView>>,
}

/// Channels `beg..end` of a stored range, seen from channel `at` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ChannelView {
    pub beg: u64,
    pub end: u64,
    pub at: u64,
}

impl DataLayout {
    /// One range on one region.
    pub fn single(frng: FmapRange, region: NodeRegion, part: PartitionScheme) -> Self {
        DataLayout {
            frngs: vec![frng],
            regions: vec![region],
            parts: vec![part],
            views: vec![None],
        }
    }

    /// The same data seen as `n` channels of `h` x `w` maps (a reshaping
    /// consumer's view): each range keeps its batch, spans the new map and
    /// keeps its share of the channels (scaled when positions are regrouped
    /// into channels or back), spread over the same nodes in the same
    /// proportions.
    pub fn reshaped(mut self, n: u64, h: u64, w: u64) -> DataLayout {
        let total = self.complete_fmap_range();
        let from = total.end[1] - total.beg[1];
        let scale = |c: u64| c * n / from;
        for (f, v) in self.frngs.iter_mut().zip(&mut self.views) {
            (f.beg[2], f.end[2], f.beg[3], f.end[3]) = (0, h, 0, w);
            if n != from {
                (f.beg[1], f.end[1]) = (scale(f.beg[1]), scale(f.end[1]));
                if let Some(v) = v {
                    (v.beg, v.end, v.at) = (scale(v.beg), scale(v.end), scale(v.at));
                }
            }
        }
        self
    }

    /// Channels of range `i` as seen in this layout.
    fn seen_channels(&self, i: usize) -> Range<u64> {
        match self.views[i] {
            Some(v) => v.at..v.at + (v.end - v.beg),
            None => self.frngs[i].beg[1]..self.frngs[i].end[1],
        }
    }

    /// Channel ranges of layouts side by side, in order. A whole layout
    /// keeps its ranges (moved along channels); a part of one is a view.
    pub fn concat(parts: &[(&DataLayout, Range<u64>)]) -> DataLayout {
        let mut out = DataLayout {
            frngs: Vec::new(),
            regions: Vec::new(),
            parts: Vec::new(),
            views: Vec::new(),
        };
        let mut n_off = 0;
        for (dl, take) in parts {
            let all = dl.complete_fmap_range();
            let whole = dl.views.iter().all(Option::is_none)
                && take.start == all.beg[1]
                && take.end == all.end[1];
            for i in 0..dl.frngs.len() {
                let f = dl.frngs[i];
                let seen = dl.seen_channels(i);
                let view = if whole {
                    None
                } else {
                    let (b, e) = (seen.start.max(take.start), seen.end.min(take.end));
                    if b >= e {
                        continue;
                    }
                    let stored = dl.views[i].map_or(f.beg[1], |v| v.beg);
                    Some(ChannelView {
                        beg: stored + (b - seen.start),
                        end: stored + (e - seen.start),
                        at: n_off + (b - take.start),
                    })
                };
                let mut g = f;
                if view.is_none() {
                    g.beg[1] += n_off;
                    g.end[1] += n_off;
                }
                out.frngs.push(g);
                out.regions.push(dl.regions[i]);
                out.parts.push(dl.parts[i]);
                out.views.push(view);
            }
            n_off += take.end - take.start;
        }
        out
    }

    /// The range covered by all pieces.
    pub fn complete_fmap_range(&self) -> FmapRange {
        let last = self.frngs.len() - 1;
        let mut r = FmapRange {
            beg: self.frngs[0].beg,
            end: self.frngs[last].end,
        };
        r.beg[1] = self.seen_channels(0).start;
        r.end[1] = self.seen_channels(last).end;
        r
    }

    /// The stored pieces: each node with the range it holds.
    pub fn pieces(&self) -> Pieces {
        let mut pieces = Vec::new();
        for (i, (f, region)) in self.frngs.iter().zip(&self.regions).enumerate() {
            let part = &self.parts[i];
            let split = part.fmap_split(f);
            for pidx in part.pidxs() {
                let mut piece = split.range(part, &pidx);
                if let Some(v) = self.views[i] {
                    let (b, e) = (piece.beg[1].max(v.beg), piece.end[1].min(v.end));
                    if b >= e {
                        continue;
                    }
                    piece.beg[1] = v.at + (b - v.beg);
                    piece.end[1] = v.at + (e - v.beg);
                }
                pieces.push((part.coordinate(region, &pidx), piece));
            }
        }
        Pieces::new(pieces, self.complete_fmap_range())
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
    /// Sorted by their start in dimension `dim`, the one that splits them
    /// most, so that a range's overlaps lie in one window.
    pieces: Vec<(Coord, FmapRange)>,
    dim: usize,
    /// The longest piece in `dim`.
    longest: u64,
    complete: FmapRange,
}

impl Pieces {
    fn new(mut pieces: Vec<(Coord, FmapRange)>, complete: FmapRange) -> Pieces {
        let starts = |d: usize| {
            let mut b: Vec<u64> = pieces.iter().map(|p| p.1.beg[d]).collect();
            b.sort_unstable();
            b.dedup();
            b.len()
        };
        let dim = (0..4)
            .max_by_key(|&d| (starts(d), usize::MAX - d))
            .unwrap_or(0);
        pieces.sort_by_key(|p| p.1.beg[dim]);
        let longest = pieces
            .iter()
            .map(|p| p.1.end[dim] - p.1.beg[dim])
            .max()
            .unwrap_or(0);
        Pieces {
            pieces,
            dim,
            longest,
            complete,
        }
    }

    /// The pieces `frng` may overlap.
    fn near(&self, frng: &FmapRange) -> &[(Coord, FmapRange)] {
        let (d, lo) = (self.dim, frng.beg[self.dim].saturating_sub(self.longest));
        let first = self.pieces.partition_point(|p| p.1.beg[d] < lo);
        let last = self.pieces.partition_point(|p| p.1.beg[d] < frng.end[d]);
        &self.pieces[first..last.max(first)]
    }

    /// Words of `frng` the layout holds.
    pub fn covered(&self, frng: &FmapRange) -> u64 {
        self.complete.overlap_size(frng)
    }

    /// Word-hops to bring `frng` to each of `dests`: with `forwarding`, to
    /// the nearest one, which passes it on along a minimum spanning tree
    /// of `tree` hops (`spanning_tree(&[], dests)`).
    pub fn nhops_to(&self, frng: &FmapRange, dests: &[Coord], forwarding: Option<u64>) -> u64 {
        let mut per_dest = [0u64; 8];
        let mut heap;
        let per_dest = if dests.len() <= per_dest.len() {
            &mut per_dest[..dests.len()]
        } else {
            heap = vec![0u64; dests.len()];
            &mut heap[..]
        };
        for (src, piece) in self.near(frng) {
            let size = frng.overlap_size(piece);
            if size == 0 {
                continue;
            }
            for (n, d) in per_dest.iter_mut().zip(dests) {
                *n += size * d.hop_dist(*src);
            }
        }
        match forwarding {
            Some(tree) => {
                let nearest = per_dest.iter().copied().min().unwrap_or(0);
                nearest + self.covered(frng) * tree
            }
            None => per_dest.iter().sum(),
        }
    }
}

/// Total hops of a minimum spanning tree connecting `dests` to the set
/// `roots` (or to each other when `roots` is empty), built greedily.
pub fn spanning_tree(roots: &[Coord], dests: &[Coord]) -> u64 {
    // The tree's weight does not depend on the order nodes are taken in.
    let mut left: Vec<Coord> = dests.to_vec();
    left.sort_unstable();
    left.dedup();
    left.retain(|d| !roots.contains(d));
    if left.is_empty() {
        return 0;
    }
    // Nodes adjacent in one piece need one hop per node but the first,
    // and every tree as much: each edge is at least a hop, and one edge
    // reaches the roots.
    if adjacent_in_one_piece(&left) {
        let to_roots = (roots.iter())
            .flat_map(|r| left.iter().map(|d| d.hop_dist(*r)))
            .min()
            .unwrap_or(0);
        return left.len() as u64 - 1 + to_roots;
    }
    let mut reached: Vec<Coord> = roots.to_vec();
    if reached.is_empty() {
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

/// Whether sorted, distinct `nodes` form one piece of grid neighbours:
/// each node's neighbours to the right and below are found by sweeping
/// (the next node, and a pointer into the next row), and joined.
fn adjacent_in_one_piece(nodes: &[Coord]) -> bool {
    let mut parent: Vec<u32> = (0..nodes.len() as u32).collect();
    fn root(p: &mut [u32], mut i: u32) -> u32 {
        while p[i as usize] != i {
            p[i as usize] = p[p[i as usize] as usize];
            i = p[i as usize];
        }
        i
    }
    let mut pieces = nodes.len();
    let mut join = |p: &mut [u32], i: usize, j: usize| {
        let (a, b) = (root(p, i as u32), root(p, j as u32));
        if a != b {
            p[a as usize] = b;
            pieces -= 1;
        }
    };
    let mut below = 0;
    for (i, c) in nodes.iter().enumerate() {
        if nodes.get(i + 1) == Some(&Coord::new(c.h, c.w + 1)) {
            join(&mut parent, i, i + 1);
        }
        let want = Coord::new(c.h + 1, c.w);
        while below < nodes.len() && nodes[below] < want {
            below += 1;
        }
        if nodes.get(below) == Some(&want) {
            join(&mut parent, i, below);
        }
    }
    pieces == 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::Dim2;
    use crate::partition::region::RegionKind;
    use crate::partition::scheme::PartDim;

    /// A minimum spanning tree's weight by Kruskal over all pairs, the
    /// roots joined at no cost.
    fn kruskal(roots: &[Coord], dests: &[Coord]) -> u64 {
        let mut nodes: Vec<Coord> = roots.iter().chain(dests).copied().collect();
        nodes.sort();
        nodes.dedup();
        let mut parent: Vec<usize> = (0..nodes.len()).collect();
        fn find(p: &mut [usize], i: usize) -> usize {
            if p[i] == i {
                i
            } else {
                let r = find(p, p[i]);
                p[i] = r;
                r
            }
        }
        let mut edges = Vec::new();
        for i in 0..nodes.len() {
            for j in i + 1..nodes.len() {
                let both_roots = roots.contains(&nodes[i]) && roots.contains(&nodes[j]);
                let w = if both_roots {
                    0
                } else {
                    nodes[i].hop_dist(nodes[j])
                };
                edges.push((w, i, j));
            }
        }
        edges.sort();
        let mut total = 0;
        for (w, i, j) in edges {
            let (a, b) = (find(&mut parent, i), find(&mut parent, j));
            if a != b {
                parent[a] = b;
                total += w;
            }
        }
        total
    }

    /// Spanning trees, with and without roots, in one piece of grid
    /// neighbours or scattered, weigh what an exact minimum spanning tree
    /// does.
    #[test]
    fn spanning_trees_are_minimal() {
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let corners = [
            Coord::new(0, 0),
            Coord::new(0, 7),
            Coord::new(7, 0),
            Coord::new(7, 7),
        ];
        for case in 0..400 {
            let n = 1 + next(20) as usize;
            let dests: Vec<Coord> = if case % 2 == 0 {
                // A random walk: one piece.
                let mut c = Coord::new(next(8) as i64, next(8) as i64);
                (0..n)
                    .map(|_| {
                        let d = [(0, 1), (1, 0), (0, -1), (-1, 0)][next(4) as usize];
                        c = Coord::new((c.h + d.0).clamp(0, 7), (c.w + d.1).clamp(0, 7));
                        c
                    })
                    .collect()
            } else {
                (0..n)
                    .map(|_| Coord::new(next(8) as i64, next(8) as i64))
                    .collect()
            };
            for roots in [&[][..], &corners[..1], &corners[..]] {
                assert_eq!(
                    spanning_tree(roots, &dests),
                    kruskal(roots, &dests),
                    "{roots:?} {dests:?}"
                );
            }
        }
    }

    /// `n` channels split by output channel over a 1 x 2 region at `w`.
    fn split_by_channels(n: u64, w: i64) -> DataLayout {
        let region = NodeRegion::new(
            Dim2::new(1, 2),
            Coord::new(0, w),
            Coord::new(1, 1),
            RegionKind::Dram,
        );
        let mut part = PartitionScheme::single();
        part.pdims[PartDim::Outp as usize] = Dim2::new(1, 2);
        DataLayout::single(FmapRange::full(1, n, 4, 4), region, part)
    }

    fn channels(l: &DataLayout) -> Vec<(i64, [u64; 2])> {
        l.pieces()
            .pieces
            .iter()
            .map(|(c, f)| (c.w, [f.beg[1], f.end[1]]))
            .collect()
    }

    #[test]
    fn a_channel_slice_is_a_view_of_the_stored_pieces() {
        let a = split_by_channels(8, 0);
        let b = split_by_channels(6, 4);
        // Channels 2..6 of `a` (2..4 on node 0, 4..6 on node 1), then all of `b`.
        let l = DataLayout::concat(&[(&a, 2..6), (&b, 0..6)]);
        assert_eq!(
            channels(&l),
            [(0, [0, 2]), (1, [2, 4]), (4, [4, 7]), (5, [7, 10])]
        );
        let all = l.complete_fmap_range();
        assert_eq!((all.beg[1], all.end[1]), (0, 10));
        // A slice of a slice; whole layouts stay as stored, moved.
        let ll = DataLayout::concat(&[(&l, 3..5)]);
        assert_eq!(channels(&ll), [(1, [0, 1]), (4, [1, 2])]);
        let whole = DataLayout::concat(&[(&b, 0..6), (&a, 0..8)]);
        assert_eq!(whole.views, [None, None]);
        assert_eq!(channels(&whole)[2..], [(0, [6, 10]), (1, [10, 14])]);
    }
}
