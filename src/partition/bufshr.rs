//! Buffer sharing groups (TETRIS): nodes that hold different parts of the
//! same data can share their global buffers over the NoC, rotating data
//! among themselves; the NoC cost of rotations and of wide fetches.

use std::collections::HashMap;
use std::sync::Mutex;

use super::region::NodeRegion;
use super::scheme::{PartDim, PartitionScheme};
use crate::dims::{DataCat, DataLoops, LoopDim, PerCat};
use crate::hw::Dim2;
use crate::util::factorize;

/// Sharing groups of one partitioned layer: per data category, the grid of
/// nodes that hold disjoint parts of the same data, and the mean hop
/// distance between neighbours in each grid direction.
#[derive(Debug)]
pub struct BufShr {
    dims: PerCat<Dim2>,
    nbr_dists: PerCat<(f64, f64)>,
    cache: Mutex<HashMap<(DataCat, u64, u64), f64>>,
}

impl BufShr {
    pub fn new(region: &NodeRegion, part: &PartitionScheme, loops: DataLoops) -> BufShr {
        let idx = |p: PartDim| {
            part.order
                .iter()
                .position(|&q| q == p)
                .expect("every dimension is ordered")
        };
        let (d_ofmp, d_batp) = (part.pdim(PartDim::Ofmp), part.pdim(PartDim::Batp));
        let coords: Vec<_> = (part.pidxs().iter())
            .map(|p| part.coordinate(region, p))
            .collect();
        let nd = |p| part.neighbor_dist(&coords, p);
        let bat = if d_ofmp.size() == 1 {
            (d_batp, nd(PartDim::Batp))
        } else if d_batp.size() == 1 {
            (d_ofmp, nd(PartDim::Ofmp))
        } else if idx(PartDim::Ofmp).abs_diff(idx(PartDim::Batp)) == 1 {
            let (a, b) = (nd(PartDim::Ofmp), nd(PartDim::Batp));
            (
                Dim2::new(d_batp.h * d_ofmp.h, d_batp.w * d_ofmp.w),
                (a.0.min(b.0), a.1.min(b.1)),
            )
        } else if idx(PartDim::Ofmp) > idx(PartDim::Batp) {
            (d_ofmp, nd(PartDim::Ofmp))
        } else {
            (d_batp, nd(PartDim::Batp))
        };
        let by_loop = |l: LoopDim| match l {
            LoopDim::Bat => bat,
            LoopDim::Ofm => (part.pdim(PartDim::Outp), nd(PartDim::Outp)),
            LoopDim::Ifm => (part.pdim(PartDim::Inpp), nd(PartDim::Inpp)),
        };
        // A category is shared along the first loop that does not index it.
        let grp = PerCat::from_fn(
            |d| match LoopDim::ALL.into_iter().find(|&l| !loops.has(d, l)) {
                Some(l) => by_loop(l),
                None => (Dim2::new(1, 1), (f64::INFINITY, f64::INFINITY)),
            },
        );
        BufShr {
            dims: grp.map(|_, g| g.0),
            nbr_dists: grp.map(|_, g| g.1),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Nodes in the sharing group of `d`.
    pub fn size(&self, d: DataCat) -> u64 {
        self.dims[d].size()
    }

    /// Hops to rotate all data of `d` once around a subgroup of `m` nodes,
    /// where each rotation moves `units` units (`units` = `m`: one unit a
    /// step), over all subgroups of the group.
    pub fn nhops_rotate_all(&self, d: DataCat, m: u64, units: u64) -> f64 {
        if let Some(&v) = self.cache.lock().expect("bufshr cache").get(&(d, m, units)) {
            return v;
        }
        let (sub, pr) = self.subgrp_dim(d, m);
        let (d_pr, d_npr) = if pr == 0 {
            (sub.h, sub.w)
        } else {
            (sub.w, sub.h)
        };
        let n_pr = (d_pr - 1) * d_npr;
        let n_npr = d_npr - 1;
        let counts = if pr == 0 {
            (n_pr, n_npr)
        } else {
            (n_npr, n_pr)
        };
        let nbr = self.hops_with_dist(d, counts);
        let lpbk = self.hops_with_dist(d, Self::snake_coord(m - 1, sub, pr));
        let skipped = (m as f64 / units as f64).max(1.0);
        let v = (nbr + lpbk) * (m as f64 - skipped) * (1.0 / m as f64) * (self.size(d) / m) as f64;
        self.cache
            .lock()
            .expect("bufshr cache")
            .insert((d, m, units), v);
        v
    }

    /// Hops of one fetch of `width` units spread over a subgroup of `m`.
    pub fn nhops_wide_fetch_once(&self, d: DataCat, m: u64, width: f64) -> f64 {
        if width <= 1.0 {
            return 0.0;
        }
        let perstep = self.nhops_rotate_all(d, m, m) / (m - 1) as f64;
        let cw = (width - 1e-6).ceil();
        let steps = (cw - 1.0) * cw / 2.0 - (cw - 1.0) * (cw - width);
        perstep * steps / width
    }

    /// Shape of a subgroup of (at least) `m` nodes, and the grid direction
    /// rotations go along first (the one with closer neighbours).
    fn subgrp_dim(&self, d: DataCat, m: u64) -> (Dim2, usize) {
        let size = self.size(d);
        let mut true_m = m;
        while !size.is_multiple_of(true_m) {
            true_m += 1;
        }
        let dim = self.dims[d];
        let nd = self.nbr_dists[d];
        let sm = if nd.0 <= nd.1 { 0 } else { 1 };
        let dim_sm = if sm == 0 { dim.h } else { dim.w };
        let mut t = [1u64; 2];
        for &[f, _] in factorize::<2>(dim_sm).iter() {
            if f > t[sm] && true_m.is_multiple_of(f) {
                t[sm] = f;
            }
        }
        t[1 - sm] = true_m / t[sm];
        (Dim2::new(t[0], t[1]), sm)
    }

    fn snake_coord(index: u64, dim: Dim2, pr: usize) -> (u64, u64) {
        let (d_pr, _) = if pr == 0 {
            (dim.h, dim.w)
        } else {
            (dim.w, dim.h)
        };
        let (c_npr, mut c_pr) = (index / d_pr, index % d_pr);
        if c_npr % 2 == 1 {
            c_pr = d_pr - 1 - c_pr;
        }
        if pr == 0 {
            (c_pr, c_npr)
        } else {
            (c_npr, c_pr)
        }
    }

    fn hops_with_dist(&self, d: DataCat, c: (u64, u64)) -> f64 {
        let nd = self.nbr_dists[d];
        let h = if c.0 > 0 { c.0 as f64 * nd.0 } else { 0.0 };
        let w = if c.1 > 0 { c.1 as f64 * nd.1 } else { 0.0 };
        h.abs() + w.abs()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::region::{Coord, RegionKind};

    #[test]
    fn conv_groups_follow_unindexed_loops() {
        // Output channels over 2x1, batch over 1x2 on a 2x2 grid.
        let region = NodeRegion::new(
            Dim2::new(2, 2),
            Coord::new(0, 0),
            Coord::new(1, 1),
            RegionKind::Proc,
        );
        let mut pdims = [Dim2::new(1, 1); 4];
        pdims[PartDim::Outp as usize] = Dim2::new(2, 1);
        pdims[PartDim::Batp as usize] = Dim2::new(1, 2);
        let part = PartitionScheme {
            order: [PartDim::Batp, PartDim::Outp, PartDim::Ofmp, PartDim::Inpp],
            pdims,
        };
        let bs = BufShr::new(&region, &part, DataLoops::CONV);
        // Filters are shared across batch, inputs across output channels,
        // outputs across input channels (none).
        assert_eq!(bs.size(DataCat::Fil), 2);
        assert_eq!(bs.size(DataCat::Ifm), 2);
        assert_eq!(bs.size(DataCat::Ofm), 1);
        // Two neighbours one hop apart: a rotation moves everything one hop
        // and back.
        assert_eq!(bs.nhops_rotate_all(DataCat::Fil, 2, 2), 1.0);
        assert_eq!(bs.nhops_wide_fetch_once(DataCat::Fil, 2, 2.0), 0.5);
    }
}
