//! Node coordinates and rectangular (possibly zig-zag folded) node regions.

use serde::Serialize;

use crate::hw::Dim2;

/// A node's position on the chip, or an offset between positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Coord {
    pub h: i64,
    pub w: i64,
}

impl Coord {
    pub const fn new(h: i64, w: i64) -> Self {
        Coord { h, w }
    }

    /// Manhattan distance in hops.
    #[inline]
    pub fn hop_dist(self, o: Coord) -> u64 {
        self.h.abs_diff(o.h) + self.w.abs_diff(o.w)
    }
}

/// What a region's nodes are used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RegionKind {
    /// Processing nodes.
    Proc,
    /// DRAM channels (stacked on or beside nodes).
    Dram,
}

/// A `dim.h` x `dim.w` block of nodes `dist` apart starting at `origin`.
///
/// A region cut from a wider one by `allocate` may fold: its rows wrap
/// around the parent's width `wtot` in a zig-zag, starting `|wbeg|` nodes
/// before the parent's edge (moving left when `wbeg` is negative).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct NodeRegion {
    pub dim: Dim2,
    pub origin: Coord,
    pub dist: Coord,
    pub kind: RegionKind,
    pub wtot: i64,
    pub wbeg: i64,
}

impl NodeRegion {
    /// An unfolded region.
    pub fn new(dim: Dim2, origin: Coord, dist: Coord, kind: RegionKind) -> Self {
        NodeRegion {
            dim,
            origin,
            dist,
            kind,
            wtot: dim.w as i64,
            wbeg: dim.w as i64,
        }
    }

    /// Absolute coordinate of the node at relative position `r`.
    pub fn rel2abs(&self, r: Coord) -> Coord {
        let (hh, ww) = (
            (r.w + self.wtot - self.wbeg.abs()).div_euclid(self.wtot),
            (r.w + self.wtot - self.wbeg.abs()).rem_euclid(self.wtot),
        );
        let dir = if self.wbeg < 0 { -1 } else { 1 } * if hh % 2 == 1 { -1 } else { 1 };
        let w = if dir > 0 { ww } else { self.wtot - 1 - ww };
        let shift = if self.wbeg > 0 {
            self.wtot - self.wbeg
        } else {
            -self.wbeg - 1
        };
        let rel = Coord::new(hh * self.dim.h as i64 + r.h, w - shift);
        Coord::new(
            self.origin.h + rel.h * self.dist.h,
            self.origin.w + rel.w * self.dist.w,
        )
    }

    /// All nodes, row by row.
    pub fn nodes(&self) -> impl Iterator<Item = Coord> + '_ {
        (0..self.dim.h as i64)
            .flat_map(move |h| (0..self.dim.w as i64).map(move |w| self.rel2abs(Coord::new(h, w))))
    }

    /// Whether every node lies on a `grid` of nodes from (0, 0).
    pub fn within(&self, grid: Dim2) -> bool {
        let inside =
            |c: Coord| c.h >= 0 && c.w >= 0 && (c.h as u64) < grid.h && (c.w as u64) < grid.w;
        self.dim
            .h
            .checked_mul(self.dim.w)
            .is_some_and(|n| n <= grid.size())
            && self.nodes().all(inside)
    }

    pub fn contains(&self, c: Coord) -> bool {
        self.nodes().any(|n| n == c)
    }

    /// Cuts consecutive subregions of `reqs` nodes each, in stripes of
    /// `gcd(dim.h, reqs...)` rows, zig-zagging across the width. Empty if
    /// the requests exceed the region.
    pub fn allocate(&self, reqs: &[u64]) -> Vec<NodeRegion> {
        if reqs.iter().sum::<u64>() > self.dim.size() {
            return Vec::new();
        }
        let hstrp = reqs.iter().fold(self.dim.h, |a, &b| gcd(a, b)) as i64;
        let wtot = self.dim.w as i64;
        let (mut ofs_h, mut ofs_w) = (0i64, 0i64);
        let mut right = true;
        let mut out = Vec::with_capacity(reqs.len());
        for &req in reqs {
            let width = req as i64 / hstrp;
            let (origin, wbeg) = if right {
                (Coord::new(ofs_h, ofs_w), (wtot - ofs_w).min(width))
            } else {
                (
                    Coord::new(ofs_h, wtot - ofs_w - 1),
                    -(wtot - ofs_w).min(width),
                )
            };
            out.push(NodeRegion {
                dim: Dim2::new(hstrp as u64, width as u64),
                origin: Coord::new(
                    self.origin.h + origin.h * self.dist.h,
                    self.origin.w + origin.w * self.dist.w,
                ),
                dist: self.dist,
                kind: self.kind,
                wtot,
                wbeg,
            });
            ofs_w += width;
            while ofs_w >= wtot {
                ofs_w -= wtot;
                ofs_h += hstrp;
                right = !right;
            }
        }
        out
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_region_maps_by_distance() {
        let r = NodeRegion::new(
            Dim2::new(2, 2),
            Coord::new(0, 0),
            Coord::new(3, 3),
            RegionKind::Dram,
        );
        let n: Vec<Coord> = r.nodes().collect();
        assert_eq!(
            n,
            [
                Coord::new(0, 0),
                Coord::new(0, 3),
                Coord::new(3, 0),
                Coord::new(3, 3)
            ]
        );
    }

    /// The folded regions of nn_dataflow's test_node_region.
    #[test]
    fn folded_region_zigzags() {
        let region = |wtot, wbeg| NodeRegion {
            dim: Dim2::new(4, 8),
            origin: Coord::new(1, 3),
            dist: Coord::new(1, 1),
            kind: RegionKind::Proc,
            wtot,
            wbeg,
        };
        let cases = [
            (
                region(3, 3),
                [
                    ((1, 2), (2, 5)),
                    ((2, 3), (7, 5)),
                    ((0, 5), (5, 3)),
                    ((3, 7), (12, 4)),
                ],
            ),
            (
                region(3, 1),
                [
                    ((2, 0), (3, 3)),
                    ((1, 2), (6, 2)),
                    ((2, 3), (7, 1)),
                    ((0, 5), (9, 2)),
                ],
            ),
            (
                region(4, -2),
                [
                    ((1, 1), (2, 2)),
                    ((2, 3), (7, 3)),
                    ((0, 5), (5, 5)),
                    ((3, 7), (12, 4)),
                ],
            ),
        ];
        for (r, pts) in cases {
            for ((h, w), (ah, aw)) in pts {
                assert_eq!(
                    r.rel2abs(Coord::new(h, w)),
                    Coord::new(ah, aw),
                    "{r:?} ({h}, {w})"
                );
            }
            let set: std::collections::HashSet<Coord> = r.nodes().collect();
            assert_eq!(set.len(), 32);
        }
        let plain = NodeRegion::new(
            Dim2::new(4, 4),
            Coord::new(1, 3),
            Coord::new(5, 3),
            RegionKind::Proc,
        );
        assert_eq!(plain.rel2abs(Coord::new(0, 3)), Coord::new(1, 12));
        assert_eq!(plain.rel2abs(Coord::new(2, 1)), Coord::new(11, 6));
    }

    #[test]
    fn allocate_stripes() {
        // nn_dataflow's test_allocate: requests [2, 3, 3, 2, 4, 2] on a
        // 4x4 region fill it as
        //   5544
        //   3344
        //   2221
        //   0011
        let r = NodeRegion::new(
            Dim2::new(4, 4),
            Coord::new(1, 3),
            Coord::new(1, 1),
            RegionKind::Proc,
        );
        assert!(r.allocate(&[4, 4, 4, 4, 4]).is_empty());
        let subs = r.allocate(&[2, 3, 3, 2, 4, 2]);
        let owner = |h: i64, w: i64| {
            subs.iter()
                .position(|s| s.contains(Coord::new(1 + h, 3 + w)))
                .unwrap()
        };
        let grid: Vec<Vec<usize>> = (0..4)
            .map(|h| (0..4).map(|w| owner(h, w)).collect())
            .collect();
        assert_eq!(
            grid,
            [[0, 0, 1, 1], [2, 2, 2, 1], [3, 3, 4, 4], [5, 5, 4, 4]]
        );
        assert_eq!(subs[0].dim, Dim2::new(1, 2));
    }
}
