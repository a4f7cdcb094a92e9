//! NoC hops to bring one copy of each data category to the nodes that
//! process a partitioned layer, and to send results to where they are stored.

use super::layout::{DataLayout, Pieces, spanning_tree};
use super::range::FmapRange;
use super::region::{Coord, NodeRegion};
use super::scheme::{FmapSplit, PartDim, PartIdx, PartitionScheme};
use crate::dims::PerCat;
use crate::network::Layer;
use crate::util::{Lru, idivc, ith_range};

/// The ranges each part of a partitioned layer processes, from ranges per
/// partition dimension worked out once: a partition has up to hundreds of
/// parts, and each part's ranges combine a few of them.
struct PartRanges<'a> {
    layer: &'a Layer,
    part: &'a PartitionScheme,
    ofm: FmapSplit,
    /// Input channels by flat input index (conv layers).
    inp: Vec<(u64, u64)>,
    /// The input rows and columns each fmap row and column index reads.
    in_rows: Vec<(u64, u64)>,
    in_cols: Vec<(u64, u64)>,
}

impl<'a> PartRanges<'a> {
    fn new(layer: &'a Layer, batch: u64, part: &'a PartitionScheme) -> PartRanges<'a> {
        let full = FmapRange::full(batch, layer.nofm(), layer.hofm(), layer.wofm());
        let ofm = part.fmap_split(&full);
        let inp = if layer.is_conv() {
            let n = part.pdim(PartDim::Inpp).size();
            (0..n).map(|i| ith_range(0, layer.nifm(), i, n)).collect()
        } else {
            Vec::new()
        };
        PartRanges {
            layer,
            part,
            in_rows: ofm
                .rows
                .iter()
                .map(|r| layer.input_rows(r.0, r.1))
                .collect(),
            in_cols: ofm
                .cols
                .iter()
                .map(|c| layer.input_cols(c.0, c.1))
                .collect(),
            ofm,
            inp,
        }
    }

    /// The filter channel ranges (input, output), input and output ranges
    /// part `pidx` processes.
    fn of(&self, pidx: &PartIdx) -> ((u64, u64), (u64, u64), FmapRange, FmapRange) {
        let o = self.ofm.range(self.part, pidx);
        let layer = self.layer;
        let (nreg, _, _) = layer.region();
        let (n_beg, n_end) = if layer.is_conv() {
            self.inp[self.part.flat_index(pidx, PartDim::Inpp)]
        } else {
            (
                o.beg[1].saturating_sub(nreg / 2),
                layer.nifm().min(o.end[1] + nreg - nreg / 2),
            )
        };
        let ofi = pidx[PartDim::Ofmp as usize];
        let (hi, wi) = (self.in_rows[ofi.h as usize], self.in_cols[ofi.w as usize]);
        let i = FmapRange {
            beg: [o.beg[0], n_beg, hi.0, wi.0],
            end: [o.end[0], n_end, hi.1, wi.1],
        };
        let fil = if layer.is_conv() {
            ((n_beg, n_end), (o.beg[1], o.end[1]))
        } else {
            ((0, 0), (0, 0))
        };
        (fil.0, fil.1, i, o)
    }
}

/// Nodes grouped by the range they need, groups in first-seen order and
/// each group's nodes in order, in flat arrays: the search holds tens of
/// thousands of partitions' groups at once.
#[derive(Debug)]
struct Groups<K> {
    keys: Box<[K]>,
    /// Where each group's nodes end in `nodes`.
    ends: Box<[u32]>,
    nodes: Box<[Coord]>,
}

impl<K> Groups<K> {
    fn iter(&self) -> impl Iterator<Item = (&K, &[Coord])> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        (self.keys.iter().zip(starts.zip(self.ends.iter())))
            .map(|(k, (s, &e))| (k, &self.nodes[s as usize..e as usize]))
    }
}

/// Builds `Groups` from nodes added in order.
struct Grouper<K> {
    keys: Vec<K>,
    /// Each added node and its group.
    added: Vec<(u32, Coord)>,
    index: rustc_hash::FxHashMap<K, u32>,
}

impl<K: Eq + std::hash::Hash + Copy> Grouper<K> {
    fn new(capacity: usize) -> Self {
        Grouper {
            keys: Vec::new(),
            added: Vec::with_capacity(capacity),
            index: rustc_hash::FxHashMap::with_capacity_and_hasher(capacity, Default::default()),
        }
    }

    fn add(&mut self, k: K, c: Coord) {
        let next = self.keys.len() as u32;
        let g = *self.index.entry(k).or_insert(next);
        if g == next {
            self.keys.push(k);
        }
        self.added.push((g, c));
    }

    /// The groups, by a stable counting sort of the added nodes.
    fn finish(self) -> Groups<K> {
        let mut ends = vec![0u32; self.keys.len()];
        for &(g, _) in &self.added {
            ends[g as usize] += 1;
        }
        let mut end = 0;
        for e in ends.iter_mut() {
            end += *e;
            *e = end;
        }
        let mut next: Vec<u32> = std::iter::once(0).chain(ends.iter().copied()).collect();
        let mut nodes = vec![Coord::new(0, 0); self.added.len()];
        for &(g, c) in &self.added {
            nodes[next[g as usize] as usize] = c;
            next[g as usize] += 1;
        }
        Groups {
            keys: self.keys.into(),
            ends: ends.into(),
            nodes: nodes.into(),
        }
    }
}

/// Filter channel ranges (input, output) and, for a second operand that
/// differs per sample, the samples (else `(0, 1)`).
type FilRange = ((u64, u64), (u64, u64), (u64, u64));

/// The nodes of a partitioned layer grouped by the filters, inputs and
/// outputs they need.
struct NodeGroups {
    fil: Groups<FilRange>,
    ifm: Groups<FmapRange>,
    ofm: Groups<FmapRange>,
}

/// Which node groups to make; the others are left empty.
#[derive(Clone, Copy, PartialEq)]
enum Wanted {
    Inputs,
    FiltersOutputs,
    All,
}

fn node_groups(
    layer: &Layer,
    batch: u64,
    region: &NodeRegion,
    part: &PartitionScheme,
    wanted: Wanted,
) -> NodeGroups {
    let pidxs = part.pidxs();
    let n = pidxs.len();
    let ranges = PartRanges::new(layer, batch, part);
    let (mut fil, mut ifm, mut ofm) = (Grouper::new(n), Grouper::new(n), Grouper::new(n));
    for pidx in pidxs {
        let c = part.coordinate(region, &pidx);
        let (fi, fo, i, o) = ranges.of(&pidx);
        if i.size() > 0 && o.size() > 0 {
            if wanted != Wanted::FiltersOutputs {
                ifm.add(i, c);
            }
            if wanted == Wanted::Inputs {
                continue;
            }
            ofm.add(o, c);
            if fi.1 > fi.0 && fo.1 > fo.0 {
                let samples = if layer.is_matmul() {
                    (o.beg[0], o.end[0])
                } else {
                    (0, 1)
                };
                fil.add((fi, fo, samples), c);
            }
        }
    }
    NodeGroups {
        fil: fil.finish(),
        ifm: ifm.finish(),
        ofm: ofm.finish(),
    }
}

fn fil_hops(
    layer: &Layer,
    filter_nodes: &[Coord],
    fil: &Groups<FilRange>,
    forwarding: bool,
) -> u64 {
    let filter_size = layer.filter_taps();
    let mut n = 0;
    for ((fi, fo, fb), coords) in fil.iter() {
        let size = (fi.1 - fi.0) * (fo.1 - fo.0) * (fb.1 - fb.0) * filter_size;
        n += if forwarding {
            size * spanning_tree(filter_nodes, coords)
        } else {
            size * coords
                .iter()
                .map(|c| {
                    filter_nodes
                        .iter()
                        .map(|f| c.hop_dist(*f))
                        .min()
                        .unwrap_or(0)
                })
                .sum::<u64>()
        };
    }
    n
}

/// Nodes grouped by the input range they need, with the hops of a
/// spanning tree among each group's nodes (for forwarding).
#[derive(Debug)]
struct IfmGroups {
    groups: Groups<FmapRange>,
    /// Empty without forwarding.
    trees: Box<[u64]>,
}

impl IfmGroups {
    fn new(groups: Groups<FmapRange>, forwarding: bool) -> IfmGroups {
        let trees = if forwarding {
            groups.iter().map(|g| spanning_tree(&[], g.1)).collect()
        } else {
            Box::default()
        };
        IfmGroups { groups, trees }
    }

    fn hops(&self, pieces: &Pieces) -> u64 {
        (self.groups.iter().enumerate())
            .map(|(i, (range, nodes))| pieces.nhops_to(range, nodes, self.trees.get(i).copied()))
            .sum()
    }
}

fn ofm_hops(layout: &DataLayout, ofm: &Groups<FmapRange>, forwarding: bool) -> u64 {
    let layout = layout.pieces();
    let mut n = 0;
    for (o, coords) in ofm.iter() {
        n += if forwarding {
            // The nearest node reads (a zero-hop tree), all accumulate
            // along a spanning tree.
            let read = layout.nhops_to(o, coords, Some(0));
            let accum = read + layout.covered(o) * spanning_tree(&[], coords);
            idivc(read + accum, 2)
        } else {
            let mid = coords.len() / 2;
            coords
                .iter()
                .enumerate()
                .map(|(k, c)| {
                    if k == mid {
                        layout.nhops_to(o, &[*c], None)
                    } else {
                        idivc(o.size() * c.hop_dist(coords[mid]), 2)
                    }
                })
                .sum()
        };
    }
    n
}

/// A node grouping as nn_dataflow's memo keys compare it: by the set of
/// ranges and the set of node lists, not by which nodes need which range.
type GroupKey<R> = (Vec<R>, Vec<Vec<Coord>>);

fn group_key<R: Copy + Ord>(groups: &Groups<R>) -> GroupKey<R> {
    let mut ks: Vec<R> = groups.keys.to_vec();
    ks.sort();
    ks.dedup();
    let mut vs: Vec<Vec<Coord>> = groups.iter().map(|g| g.1.to_vec()).collect();
    vs.sort();
    vs.dedup();
    (ks, vs)
}

/// Where a partitioned layer runs and sends its results: filters from
/// `filter_nodes`, outputs to `ofmap_layout`, for `layer` run by `region`
/// under `part`. With `forwarding`, nodes needing the same data fetch it
/// once and pass it on.
#[derive(Clone, Copy, Debug)]
pub struct HopSite<'a> {
    pub layer: &'a Layer,
    pub batch: u64,
    pub region: &'a NodeRegion,
    pub part: &'a PartitionScheme,
    pub filter_nodes: &'a [Coord],
    pub ofmap_layout: &'a DataLayout,
    pub forwarding: bool,
}

/// The hops of one partitioned layer that do not depend on where its
/// inputs are (filters and outputs), and the node groups its input hops
/// need: made once per partition and placement, then combined with each
/// input layout the search tries. The search needs input hops for few
/// partitions (those whose other costs may win), so their node groups are
/// made when first needed.
#[derive(Debug)]
pub struct PartHops {
    fil: u64,
    ofm: u64,
    ifm_groups: std::sync::OnceLock<IfmGroups>,
    /// What the input node groups are made from.
    layer: Layer,
    batch: u64,
    region: NodeRegion,
    part: PartitionScheme,
    forwarding: bool,
    /// nn_dataflow's memo keys, but for the input layout.
    keys: Option<StaticKeys>,
}

#[derive(Debug)]
struct StaticKeys {
    outer: SiteKey,
    fil: FilKey,
    ifm: GroupKey<FmapRange>,
    ofm: Option<LayoutKey>,
}

type FilKey = (Layer, Vec<Coord>, GroupKey<FilRange>, bool);
type LayoutKey = (DataLayout, GroupKey<FmapRange>, bool);
/// A partitioned layer's site: layer, batch, region, partition, filter
/// nodes, output layout.
type SiteKey = (
    Layer,
    u64,
    NodeRegion,
    PartitionScheme,
    Vec<Coord>,
    DataLayout,
);
type OuterKey = (SiteKey, DataLayout, bool);

impl PartHops {
    /// With `memo_keys`, also the keys nn_dataflow's memo would use.
    pub fn new(s: &HopSite<'_>, memo_keys: bool) -> PartHops {
        // Input groups only for the memo's keys: input hops make their
        // own when first needed.
        let wanted = if memo_keys {
            Wanted::All
        } else {
            Wanted::FiltersOutputs
        };
        let g = node_groups(s.layer, s.batch, s.region, s.part, wanted);
        let in_place = s.ofmap_layout.parts.as_slice() == [*s.part]
            && s.ofmap_layout.regions.as_slice() == [*s.region];
        let ofm = if in_place {
            0
        } else {
            ofm_hops(s.ofmap_layout, &g.ofm, s.forwarding)
        };
        let fil = fil_hops(s.layer, s.filter_nodes, &g.fil, s.forwarding);
        let keys = memo_keys.then(|| {
            let mut fnodes = s.filter_nodes.to_vec();
            fnodes.sort();
            fnodes.dedup();
            StaticKeys {
                outer: (
                    *s.layer,
                    s.batch,
                    *s.region,
                    *s.part,
                    fnodes.clone(),
                    s.ofmap_layout.clone(),
                ),
                fil: (*s.layer, fnodes, group_key(&g.fil), s.forwarding),
                ifm: group_key(&g.ifm),
                ofm: (!in_place).then(|| (s.ofmap_layout.clone(), group_key(&g.ofm), s.forwarding)),
            }
        });
        PartHops {
            fil,
            ofm,
            ifm_groups: Default::default(),
            layer: *s.layer,
            batch: s.batch,
            region: *s.region,
            part: *s.part,
            forwarding: s.forwarding,
            keys,
        }
    }

    /// Hops to bring each node its inputs once from the layout resolved
    /// to `pieces`.
    pub fn ifm(&self, pieces: &Pieces) -> u64 {
        self.ifm_groups
            .get_or_init(|| {
                let g = node_groups(
                    &self.layer,
                    self.batch,
                    &self.region,
                    &self.part,
                    Wanted::Inputs,
                );
                IfmGroups::new(g.ifm, self.forwarding)
            })
            .hops(pieces)
    }

    /// The exact hops to move each category once, with `ifm` input hops.
    pub fn unit_nhops(&self, ifm: u64) -> PerCat<u64> {
        PerCat([self.fil, ifm, self.ofm])
    }
}

/// One hop count to make: a partitioned layer reading its inputs from
/// `ifmap_layout`, which takes `ifm` hops counted exactly
/// (`PartHops::ifm`).
#[derive(Clone, Copy, Debug)]
pub struct HopQuery<'a> {
    pub part: &'a PartHops,
    pub ifmap_layout: &'a DataLayout,
    pub ifm: u64,
}

/// Hop counts with nn_dataflow's memoization. Its per-category memos are
/// keyed by the set of ranges and the set of node lists, so two partitions
/// that differ only in their order (which nodes get which range) share one
/// entry, and the later one is charged the hops of the first. nnsched
/// reproduces that for parity, in nn_dataflow's call order and with its
/// LRU capacity; with `exact`, every partition is counted for itself.
#[derive(Debug)]
pub struct HopMemo {
    exact: bool,
    outer: Lru<OuterKey, PerCat<u64>>,
    fil: Lru<FilKey, u64>,
    ifm: Lru<LayoutKey, u64>,
    ofm: Lru<LayoutKey, u64>,
}

/// nn_dataflow's memo size.
const MEMO_SIZE: usize = 1024;

impl HopMemo {
    pub fn new(exact: bool) -> Self {
        HopMemo {
            exact,
            outer: Lru::new(MEMO_SIZE),
            fil: Lru::new(MEMO_SIZE),
            ifm: Lru::new(MEMO_SIZE),
            ofm: Lru::new(MEMO_SIZE),
        }
    }

    /// Whether `PartHops` must carry memo keys.
    pub fn memoizes(&self) -> bool {
        !self.exact
    }

    /// Hops to move each data category once between the processing nodes
    /// and where the data is, for each query in order: the exact counts, or
    /// the memo's, consulted and filled in query order as nn_dataflow's
    /// calls would.
    pub fn unit_nhops(&mut self, queries: &[HopQuery<'_>]) -> Vec<PerCat<u64>> {
        if self.exact {
            return queries.iter().map(|q| q.part.unit_nhops(q.ifm)).collect();
        }
        queries
            .iter()
            .map(|q| {
                let ifm = q.ifm;
                let p = q.part;
                let keys = p.keys.as_ref().expect("memo keys are made unless exact");
                let outer = (keys.outer.clone(), q.ifmap_layout.clone(), p.forwarding);
                if let Some(v) = self.outer.get(&outer) {
                    return v;
                }
                let fil = self.fil.get(&keys.fil).unwrap_or_else(|| {
                    self.fil.insert(keys.fil.clone(), p.fil);
                    p.fil
                });
                let ifm_key = (q.ifmap_layout.clone(), keys.ifm.clone(), p.forwarding);
                let ifm = self.ifm.get(&ifm_key).unwrap_or_else(|| {
                    self.ifm.insert(ifm_key, ifm);
                    ifm
                });
                let ofm = match &keys.ofm {
                    None => 0,
                    Some(k) => self.ofm.get(k).unwrap_or_else(|| {
                        self.ofm.insert(k.clone(), p.ofm);
                        p.ofm
                    }),
                };
                let v = PerCat([fil, ifm, ofm]);
                self.outer.insert(outer, v);
                v
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::Dim2;
    use crate::partition::{PartDim, RegionKind};

    #[allow(clippy::too_many_arguments)]
    /// A layout over `dims` nodes at `origin`: batch over `bdim`, channels
    /// over `ndim`, the rest over map tiles (nn_dataflow's test helper).
    fn layout(
        batch: u64,
        nfm: u64,
        hfm: u64,
        wfm: u64,
        origin: Coord,
        bdim: Dim2,
        ndim: Dim2,
        dims: Dim2,
    ) -> DataLayout {
        let region = NodeRegion::new(dims, origin, Coord::new(1, 1), RegionKind::Dram);
        let mut pdims = [Dim2::new(1, 1); 4];
        pdims[PartDim::Batp as usize] = bdim;
        pdims[PartDim::Outp as usize] = ndim;
        pdims[PartDim::Ofmp as usize] =
            Dim2::new(dims.h / bdim.h / ndim.h, dims.w / bdim.w / ndim.w);
        let part = PartitionScheme {
            order: [PartDim::Ofmp, PartDim::Batp, PartDim::Outp, PartDim::Inpp],
            pdims,
        };
        DataLayout::single(FmapRange::full(batch, nfm, hfm, wfm), region, part)
    }

    /// A node computing output rows 0..4 of a 3x3 conv dilated by 2 reads
    /// input rows 0..8 (the last output's taps at rows 3, 5, 7).
    #[test]
    fn dilated_windows_read_further() {
        let layer = Layer::conv(2, 2, (8, 8), (3, 3), (1, 1))
            .unwrap()
            .dilated((2, 2))
            .unwrap();
        let mut pdims = [Dim2::new(1, 1); 4];
        pdims[PartDim::Ofmp as usize] = Dim2::new(2, 1);
        let part = PartitionScheme {
            order: PartDim::ALL,
            pdims,
        };
        let first = [Dim2::new(0, 0); 4];
        let (_, _, i, o) = PartRanges::new(&layer, 1, &part).of(&first);
        assert_eq!((o.beg[2], o.end[2]), (0, 4));
        assert_eq!((i.beg[2], i.end[2]), (0, 8));
        assert_eq!((i.beg[3], i.end[3]), (0, 12));
    }

    /// nn_dataflow's hand-computed test_small of unit_nhops_to_proc_region.
    #[test]
    fn small_layer_hops_by_hand() {
        let layer = Layer::conv(6, 8, (16, 16), (3, 3), (1, 1)).unwrap();
        let mut pdims = [Dim2::new(1, 1); 4];
        pdims[PartDim::Outp as usize] = Dim2::new(2, 1);
        pdims[PartDim::Ofmp as usize] = Dim2::new(2, 2);
        pdims[PartDim::Batp as usize] = Dim2::new(1, 2);
        let part = PartitionScheme {
            order: [PartDim::Batp, PartDim::Inpp, PartDim::Outp, PartDim::Ofmp],
            pdims,
        };
        let region = NodeRegion::new(
            part.dim(),
            Coord::new(0, 0),
            Coord::new(1, 1),
            RegionKind::Proc,
        );
        let d = Dim2::new;
        let il = layout(8, 6, 18, 18, Coord::new(-2, -2), d(2, 1), d(1, 1), d(2, 2));
        let ol = layout(8, 8, 16, 16, Coord::new(2, 2), d(1, 1), d(2, 1), d(2, 2));
        let fnodes = [Coord::new(0, 0)];
        let site = HopSite {
            layer: &layer,
            batch: 8,
            region: &region,
            part: &part,
            filter_nodes: &fnodes,
            ofmap_layout: &ol,
            forwarding: false,
        };
        let ph = PartHops::new(&site, true);
        let q = HopQuery {
            part: &ph,
            ifmap_layout: &il,
            ifm: ph.ifm(&il.pieces()),
        };
        let n = HopMemo::new(true).unit_nhops(&[q])[0];
        let fil: u64 = 6 * 4 * 3 * 3 * (0..4).flat_map(|h| (0..4).map(move |w| h + w)).sum::<u64>();
        let ifm = 4
            * 6
            * 10
            * ((4 + 6) * 9
                + (5 + 7)
                + (5 + 7) * 9
                + (6 + 8)
                + (3 + 5)
                + (4 + 6) * 9
                + (4 + 6)
                + (5 + 7) * 9
                + (5 + 7) * 9
                + (6 + 8)
                + (6 + 8) * 9
                + (7 + 9)
                + (4 + 6)
                + (5 + 7) * 9
                + (5 + 7)
                + (6 + 8) * 9);
        let ofm = 4 * 4 * 8 * 8 * ((4 + 2 + 3 + 1) + (4 + 2 + 3 + 1) + (3 + 1 + 2) + (3 + 1 + 2));
        assert_eq!(n.0, [fil, ifm, ofm]);
        // The memoized count agrees on a first call, and on a repeat.
        let mut memo = HopMemo::new(false);
        assert_eq!(
            memo.unit_nhops(&[q, q])
                .iter()
                .map(|v| v.0)
                .collect::<Vec<_>>(),
            [[fil, ifm, ofm]; 2]
        );
    }
}
