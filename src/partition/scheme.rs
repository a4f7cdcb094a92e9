//! Partition schemes: how a layer's work is split over a grid of nodes by
//! output channels, output map tiles, batch and input channels.

use serde::Serialize;

use super::range::FmapRange;
use super::region::{Coord, NodeRegion};
use crate::hw::Dim2;
use crate::network::Layer;
use crate::util::{approx_dividable, factorize, idivc, ith_range, permutations};

/// A dimension a layer can be partitioned along.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartDim {
    /// Output channels.
    Outp,
    /// Output map tiles (height x width).
    Ofmp,
    /// Batch samples.
    Batp,
    /// Input channels (partial sums are reduced across nodes).
    Inpp,
}

impl PartDim {
    pub const ALL: [PartDim; 4] = [PartDim::Outp, PartDim::Ofmp, PartDim::Batp, PartDim::Inpp];
}

/// An index per partition dimension: which part a node processes.
pub type PartIdx = [Dim2; 4];

/// A partition: the grid extent of each dimension, and their nesting order
/// on the node grid (`order[0]` outermost).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PartitionScheme {
    pub order: [PartDim; 4],
    pub pdims: [Dim2; 4],
}

/// What is partitioned: the features of a layer partitioning depends on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PartTarget<'a> {
    Layer(&'a Layer),
    /// The network input (or an external input) of this many channels and
    /// size, laid out in DRAM.
    Input {
        nofm: u64,
        hofm: u64,
        wofm: u64,
    },
}

impl PartTarget<'_> {
    fn ofm(&self) -> (u64, u64, u64) {
        match self {
            PartTarget::Layer(l) => (l.nofm(), l.hofm(), l.wofm()),
            PartTarget::Input { nofm, hofm, wofm } => (*nofm, *hofm, *wofm),
        }
    }
}

/// Which partitions the search may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PartitionOptions {
    /// Combine partition dimensions; otherwise output maps for conv and
    /// output channels for FC only.
    pub hybrid: bool,
    /// Allow splitting the batch over nodes.
    pub batch: bool,
    /// Allow splitting input channels over nodes (with `hybrid`).
    pub ifmaps: bool,
}

/// A fmap range split among a partition's parts, per dimension.
#[derive(Clone, Debug)]
pub struct FmapSplit {
    /// Samples by flat batch index.
    bat: Vec<(u64, u64)>,
    /// Channels by flat output index.
    out: Vec<(u64, u64)>,
    /// Rows and columns by fmap index.
    pub rows: Vec<(u64, u64)>,
    pub cols: Vec<(u64, u64)>,
}

impl FmapSplit {
    /// The share of part `pidx` of `part` (which made the split).
    pub fn range(&self, part: &PartitionScheme, pidx: &PartIdx) -> FmapRange {
        let b = self.bat[part.flat_index(pidx, PartDim::Batp)];
        let n = self.out[part.flat_index(pidx, PartDim::Outp)];
        let ofi = pidx[PartDim::Ofmp as usize];
        let (h, w) = (self.rows[ofi.h as usize], self.cols[ofi.w as usize]);
        FmapRange {
            beg: [b.0, n.0, h.0, w.0],
            end: [b.1, n.1, h.1, w.1],
        }
    }
}

impl PartitionScheme {
    /// The trivial scheme on one node.
    pub fn single() -> Self {
        PartitionScheme {
            order: PartDim::ALL,
            pdims: [Dim2::new(1, 1); 4],
        }
    }

    pub fn pdim(&self, p: PartDim) -> Dim2 {
        self.pdims[p as usize]
    }

    /// Grid extent of all dimensions together.
    pub fn dim(&self) -> Dim2 {
        self.pdims
            .iter()
            .fold(Dim2::new(1, 1), |a, d| Dim2::new(a.h * d.h, a.w * d.w))
    }

    pub fn size(&self) -> u64 {
        self.dim().size()
    }

    /// Every part index, dimensions in `PartDim` order, each row-major.
    pub fn pidxs(&self) -> Vec<PartIdx> {
        let mut out = vec![[Dim2::new(0, 0); 4]];
        for (i, d) in self.pdims.iter().enumerate() {
            let mut next = Vec::with_capacity(out.len() * d.size() as usize);
            for p in &out {
                for h in 0..d.h {
                    for w in 0..d.w {
                        let mut q = *p;
                        q[i] = Dim2::new(h, w);
                        next.push(q);
                    }
                }
            }
            out = next;
        }
        out
    }

    /// The node processing part `pidx` in `region`.
    pub fn coordinate(&self, region: &NodeRegion, pidx: &PartIdx) -> Coord {
        let mut c = (0i64, 0i64);
        for p in self.order {
            let (d, i) = (self.pdims[p as usize], pidx[p as usize]);
            c = (c.0 * d.h as i64 + i.h as i64, c.1 * d.w as i64 + i.w as i64);
        }
        region.rel2abs(Coord::new(c.0, c.1))
    }

    /// The split of `frng` (batch, channels, height, width) among the
    /// parts: each part's share (`FmapSplit::range`) combines one range
    /// per dimension, worked out once for all parts.
    pub fn fmap_split(&self, frng: &FmapRange) -> FmapSplit {
        let split = |d: usize, n: u64| -> Vec<(u64, u64)> {
            (0..n)
                .map(|i| ith_range(frng.beg[d], frng.end[d], i, n))
                .collect()
        };
        let of = self.pdim(PartDim::Ofmp);
        FmapSplit {
            bat: split(0, self.pdim(PartDim::Batp).size()),
            out: split(1, self.pdim(PartDim::Outp).size()),
            rows: split(2, of.h),
            cols: split(3, of.w),
        }
    }

    /// Part `pidx`'s index along dimension `p`, row-major.
    pub fn flat_index(&self, pidx: &PartIdx, p: PartDim) -> usize {
        let (i, d) = (pidx[p as usize], self.pdim(p));
        (i.h * d.w + i.w) as usize
    }

    /// One node's share of `layer` with `batch` samples: the partitioned
    /// layer, its batch, and the fraction of its ops that are real work
    /// (parts rounded up do some padding).
    pub fn part_layer(&self, layer: &Layer, batch: u64) -> (Layer, u64, f64) {
        let p_nifm = idivc(layer.nifm(), self.pdim(PartDim::Inpp).size());
        let p_nofm = idivc(layer.nofm(), self.pdim(PartDim::Outp).size());
        let of = self.pdim(PartDim::Ofmp);
        let p_layer = layer.resized(
            p_nifm,
            p_nofm,
            idivc(layer.hofm(), of.h),
            idivc(layer.wofm(), of.w),
        );
        let p_batch = idivc(batch, self.pdim(PartDim::Batp).size());
        let occ = layer.total_ops(batch) as f64 / (p_layer.total_ops(p_batch) * self.size()) as f64;
        (p_layer, p_batch, occ)
    }

    /// Mean hop distance between nodes adjacent along dimension `pae`, per
    /// grid direction (infinite where it does not extend), with `coords`
    /// each part's node in `pidxs` order.
    pub fn neighbor_dist(&self, coords: &[Coord], pae: PartDim) -> (f64, f64) {
        let (mut hsum, mut hn, mut wsum, mut wn) = (0u64, 0u64, 0u64, 0u64);
        let i = pae as usize;
        let d = self.pdims[i];
        // A dimension not split has no neighbours (and most are not).
        if d.size() == 1 {
            return (f64::INFINITY, f64::INFINITY);
        }
        // In `pidxs` order, later dimensions vary faster.
        let stride: u64 = self.pdims[i + 1..].iter().map(|d| d.size()).product();
        for (k, c) in coords.iter().enumerate() {
            let at = k as u64 / stride % d.size();
            if at / d.w > 0 {
                hsum += c.hop_dist(coords[k - (d.w * stride) as usize]);
                hn += 1;
            }
            if !at.is_multiple_of(d.w) {
                wsum += c.hop_dist(coords[k - stride as usize]);
                wn += 1;
            }
        }
        let mean = |s: u64, n: u64| {
            if n > 0 {
                s as f64 / n as f64
            } else {
                f64::INFINITY
            }
        };
        (mean(hsum, hn), mean(wsum, wn))
    }

    /// This partition adapted to lay data out over `region`: extra region
    /// extent goes to batch, missing extent is taken from the outermost
    /// dimensions. With `for_data`, input-channel partitioning is dropped
    /// (stored data has no partial sums).
    pub fn projection(&self, region: &NodeRegion, for_data: bool) -> PartitionScheme {
        let mut pdims = self.pdims;
        if for_data {
            pdims[PartDim::Inpp as usize] = Dim2::new(1, 1);
        }
        let part = pdims
            .iter()
            .fold(Dim2::new(1, 1), |a, d| Dim2::new(a.h * d.h, a.w * d.w));
        for di in 0..2 {
            let get = |d: &Dim2| if di == 0 { d.h } else { d.w };
            let pd = get(&part);
            let mut rd = get(&region.dim);
            if rd > pd {
                let b = &mut pdims[PartDim::Batp as usize];
                if di == 0 {
                    b.h *= rd / pd;
                } else {
                    b.w *= rd / pd;
                }
            } else {
                for &p in self.order.iter().rev() {
                    let v = get(&pdims[p as usize]);
                    if rd >= v {
                        rd /= v;
                    } else {
                        let d = &mut pdims[p as usize];
                        if di == 0 {
                            d.h = rd;
                        } else {
                            d.w = rd;
                        }
                        rd = 1;
                    }
                }
            }
        }
        PartitionScheme {
            order: self.order,
            pdims,
        }
    }
}

/// The 24 nestings of the partition dimensions, in enumeration order.
static ORDERS: std::sync::LazyLock<Vec<[PartDim; 4]>> = std::sync::LazyLock::new(|| {
    permutations(&PartDim::ALL)
        .into_iter()
        .map(|o| o.try_into().expect("four dimensions"))
        .collect()
});

/// Every partition of `target` onto `nodes` the options allow, in
/// nn_dataflow's order; with `guaranteed`, a fallback when none qualifies.
pub fn gen_partition(
    target: PartTarget<'_>,
    batch: u64,
    nodes: Dim2,
    opts: &PartitionOptions,
    guaranteed: bool,
) -> Vec<PartitionScheme> {
    let mut out = Vec::new();
    let fh = factorize::<4>(nodes.h);
    let fw = factorize::<4>(nodes.w);
    for ph in fh.iter() {
        for pw in fw.iter() {
            let pdims: [Dim2; 4] = [0, 1, 2, 3].map(|i| Dim2::new(ph[i], pw[i]));
            if !admissible(&pdims, target, batch, nodes, opts) {
                continue;
            }
            for &order in ORDERS.iter() {
                if order_admissible(&order, &pdims) {
                    out.push(PartitionScheme { order, pdims });
                }
            }
        }
    }
    if guaranteed && out.is_empty() {
        let (_, hofm, wofm) = target.ofm();
        let mut pdims = [Dim2::new(1, 1); 4];
        if hofm == 1 && wofm == 1 {
            pdims[PartDim::Outp as usize] = nodes;
        } else {
            pdims[PartDim::Ofmp as usize] = nodes;
        }
        out.push(PartitionScheme {
            order: PartDim::ALL,
            pdims,
        });
    }
    out
}

/// Whether the options allow splitting `target` by these extents.
fn admissible(
    pdims: &[Dim2; 4],
    target: PartTarget<'_>,
    batch: u64,
    nodes: Dim2,
    opts: &PartitionOptions,
) -> bool {
    let (nofm, hofm, wofm) = target.ofm();
    let pd = |p: PartDim| pdims[p as usize];
    let batp = pd(PartDim::Batp).size();
    if (!opts.batch && batp > 1) || !batch.is_multiple_of(batp) {
        return false;
    }
    // Only output tiles may split both grid dimensions partway.
    if PartDim::ALL.iter().any(|&p| {
        let d = pd(p);
        p != PartDim::Ofmp && 1 < d.h && d.h < nodes.h && 1 < d.w && d.w < nodes.w
    }) {
        return false;
    }
    let inpp = pd(PartDim::Inpp).size();
    let split_ok = if opts.hybrid {
        let of = pd(PartDim::Ofmp);
        approx_dividable(nofm, pd(PartDim::Outp).size())
            && approx_dividable(hofm, of.h)
            && approx_dividable(wofm, of.w)
            && (opts.ifmaps || inpp == 1)
            && match target {
                PartTarget::Layer(l) if l.is_conv() => approx_dividable(l.nifm(), inpp),
                PartTarget::Layer(_) => inpp == 1,
                PartTarget::Input { .. } => true,
            }
    } else if inpp != 1 {
        false
    } else if hofm == 1 && wofm == 1 {
        pd(PartDim::Ofmp).size() == 1
    } else {
        pd(PartDim::Outp).size() == 1
    };
    if !split_ok {
        return false;
    }
    // A transposed copy of a one-dimensional partition is the same.
    if pd(PartDim::Ofmp).size() == 1 && pdims.iter().all(|d| d.h == 1 || d.w == 1) {
        let hs = pdims.map(|d| d.h);
        let ws = pdims.map(|d| d.w);
        if hs > ws {
            return false;
        }
    }
    true
}

/// Whether a nesting order is one nn_dataflow keeps: trivial dimensions in
/// order and innermost, no row-split dimension outside a column-split one
/// (but for batch), and a batch split outermost.
fn order_admissible(order: &[PartDim; 4], pdims: &[Dim2; 4]) -> bool {
    let pd = |p: PartDim| pdims[p as usize];
    let ok = order.windows(2).all(|pair| {
        let (a, b) = (pair[0], pair[1]);
        let (da, db) = (pd(a), pd(b));
        !((da.size() == 1 && db.size() == 1 && a > b)
            || (da.size() > 1 && db.size() == 1)
            || (a != PartDim::Batp && db.h == 1 && db.w > 1 && da.h > 1 && da.w == 1))
    });
    let trivial = PartDim::ALL.iter().filter(|&&p| pd(p).size() == 1).count();
    ok && !(pd(PartDim::Batp).size() > 1 && order[trivial] != PartDim::Batp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::zoo;
    use PartDim::*;

    fn opts(hybrid: bool, batch: bool, ifmaps: bool) -> PartitionOptions {
        PartitionOptions {
            hybrid,
            batch,
            ifmaps,
        }
    }

    /// Partition counts of AlexNet layers (batch 16) as nn_dataflow's
    /// gen_partition gives them.
    #[test]
    fn partition_counts_match_nn_dataflow() {
        let net = zoo::get("alex_net").unwrap();
        let layers = ["conv1_a", "pool1_a", "conv2_a", "conv3_a", "fc1", "fc3"]
            .map(|n| *net.layer(net.find(n).unwrap()));
        let cases = [
            (2, opts(false, false, false), [1, 1, 1, 1, 1, 1]),
            (2, opts(true, false, false), [4, 4, 4, 4, 1, 1]),
            (2, opts(true, true, false), [8, 8, 8, 8, 3, 3]),
            (2, opts(true, true, true), [12, 8, 13, 13, 6, 6]),
            (4, opts(false, false, false), [1, 1, 1, 1, 1, 1]),
            (4, opts(true, false, false), [12, 12, 12, 5, 1, 1]),
            (4, opts(true, true, false), [36, 36, 36, 23, 7, 7]),
            (4, opts(true, true, true), [87, 36, 109, 84, 26, 26]),
        ];
        for (n, o, want) in cases {
            let got = layers
                .map(|l| gen_partition(PartTarget::Layer(&l), 16, Dim2::new(n, n), &o, true).len());
            assert_eq!(got, want, "{n}x{n} {o:?}");
        }
    }

    #[test]
    fn partition_order_matches_nn_dataflow() {
        let net = zoo::get("alex_net").unwrap();
        let l = *net.layer(net.find("conv2_a").unwrap());
        let got = gen_partition(
            PartTarget::Layer(&l),
            16,
            Dim2::new(2, 2),
            &opts(true, true, false),
            true,
        );
        let d = Dim2::new;
        let one = d(1, 1);
        let want = [
            ([Outp, Ofmp, Inpp, Batp], [one, one, d(2, 2), one]),
            ([Outp, Inpp, Batp, Ofmp], [one, d(1, 2), d(2, 1), one]),
            ([Ofmp, Inpp, Batp, Outp], [d(1, 2), one, d(2, 1), one]),
            ([Outp, Inpp, Batp, Ofmp], [one, d(2, 1), d(1, 2), one]),
            ([Outp, Batp, Inpp, Ofmp], [one, d(2, 2), one, one]),
            ([Batp, Inpp, Outp, Ofmp], [d(1, 2), d(2, 1), one, one]),
            ([Batp, Inpp, Ofmp, Outp], [d(2, 1), d(1, 2), one, one]),
            ([Ofmp, Batp, Inpp, Outp], [d(2, 2), one, one, one]),
        ];
        let got: Vec<_> = got.iter().map(|p| (p.order, p.pdims)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn projection_spreads_over_data_region() {
        // One node's output over the four 2D-memory channels: by batch.
        let dram = NodeRegion::new(
            Dim2::new(2, 2),
            Coord::new(0, 0),
            Coord::new(0, 0),
            super::super::RegionKind::Dram,
        );
        let p = PartitionScheme::single().projection(&dram, true);
        assert_eq!(p.pdim(Batp), Dim2::new(2, 2));
        assert_eq!(p.size(), 4);
        // A 4x4 partition onto 2x2 keeps the innermost dimensions.
        let mut pdims = [Dim2::new(1, 1); 4];
        pdims[Outp as usize] = Dim2::new(2, 2);
        pdims[Ofmp as usize] = Dim2::new(2, 2);
        let p = PartitionScheme {
            order: [Batp, Inpp, Outp, Ofmp],
            pdims,
        }
        .projection(&dram, true);
        assert_eq!(p.pdim(Outp), Dim2::new(1, 1));
        assert_eq!(p.pdim(Ofmp), Dim2::new(2, 2));
    }
}
