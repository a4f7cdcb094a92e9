//! The mapping of one layer onto the hardware, and the one function that
//! costs it.
//!
//! A [`LayerMapping`] is every decision for one layer: its placement, its
//! partition over the nodes, the row-stationary array mapping of one
//! node's share, and the loop blocking of that share (costed by
//! `blocking::evaluate`). The search enumerates mappings and ranks them;
//! `evaluate` rebuilds one from a schedule file with [`LayerMapping::build`],
//! which checks it. Both get a layer's full cost from
//! [`LayerMapping::cost`], in nn_dataflow's summation order.

use std::sync::Arc;

use crate::array::{NestedLoopDesc, row_stationary};
use crate::blocking::{self, Blocking, BlockingScheme, Infeasible, NodeEnv, TopConstraint};
use crate::dims::{
    BlockLevel, DataCat, LoopDim, MemLevel, OrderedLevel, PerCat, PerLevel, PerLoop,
};
use crate::hw::Hardware;
use crate::network::{Layer, LayerId};
use crate::options::SearchOptions;
use crate::partition::{BufShr, Coord, DataLayout, FmapRange, HopSite, PartHops, PartitionScheme};
use crate::pipeline::{LayerTimes, SchedSeq};
use crate::placement::Placement;

/// All decisions for one layer, with the blocking costed on one node.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerMapping {
    pub placement: Placement,
    /// How the layer (one group of a grouped conv) is split over the nodes.
    pub partition: PartitionScheme,
    /// The array mapping of one node's share.
    pub array: Arc<NestedLoopDesc>,
    /// The blocking of one node's share, with its per-node costs.
    pub scheme: BlockingScheme,
}

/// Why a mapping read from a file does not hold together.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MappingError {
    #[error("processing region {dim} at ({row}, {col}) is not within the {grid} node grid")]
    Region {
        dim: crate::hw::Dim2,
        row: i64,
        col: i64,
        grid: crate::hw::Dim2,
    },
    #[error("partition spans {part} nodes, the processing region has {region}")]
    Partition {
        part: crate::hw::Dim2,
        region: crate::hw::Dim2,
    },
    #[error("no row-stationary mapping replicates {ifms} input and {ofms} output channels")]
    Replication { ifms: u64, ofms: u64 },
    #[error(
        "blocking factors of loop {loop_name} multiply to {}, the mapping has {want} iterations",
        product.map_or("more than 2^64".into(), |p| p.to_string())
    )]
    Factors {
        loop_name: &'static str,
        /// `None`: beyond `u64`.
        product: Option<u64>,
        want: u64,
    },
    #[error("the register file overflows: the blocking needs {need} words, a PE has {have}")]
    Regf { need: u64, have: u64 },
    #[error("the global buffer overflows: the blocking needs {need} words, a node has {have}")]
    Gbuf { need: u64, have: u64 },
    #[error("on-chip input or output data would be fetched more than once")]
    OnChipRefetch,
}

impl From<Infeasible> for MappingError {
    fn from(e: Infeasible) -> Self {
        match e {
            Infeasible::RegfOverflow { need, have } => MappingError::Regf { need, have },
            Infeasible::GbufOverflow { need, have } => MappingError::Gbuf { need, have },
            Infeasible::OnChipRefetch => MappingError::OnChipRefetch,
        }
    }
}

/// The decisions a schedule file records for one layer.
#[derive(Clone, Debug)]
pub struct Decisions {
    pub placement: Placement,
    pub partition: PartitionScheme,
    /// Input and output channels the array replicas take.
    pub replication: (u64, u64),
    /// The blocking; its buffer-level order is the one the search chose,
    /// before buffer sharing rearranges it.
    pub blocking: Blocking,
}

/// What costing a layer needs besides its mapping.
pub struct LayerCtx<'a> {
    pub id: LayerId,
    pub name: &'a str,
    /// The whole layer.
    pub layer: &'a Layer,
    /// The layer scheduled per group (itself unless grouped).
    pub slice: &'a Layer,
    pub hw: &'a Hardware,
    pub opts: &'a SearchOptions,
}

impl LayerCtx<'_> {
    /// Where the layer's outputs are stored under a partition and
    /// placement, for the whole layer and for one group (which NoC hops
    /// count; the same layout unless the layer is grouped).
    pub fn ofmap_layouts(
        &self,
        part: &PartitionScheme,
        pl: &Placement,
    ) -> (Arc<DataLayout>, Arc<DataLayout>) {
        let full = Arc::new(ofmap_layout(self.layer, self.opts.batch, part, pl));
        let slice = if self.slice == self.layer {
            full.clone()
        } else {
            Arc::new(ofmap_layout(self.slice, self.opts.batch, part, pl))
        };
        (full, slice)
    }
}

/// Where a layer's outputs are stored under a partition and placement.
fn ofmap_layout(l: &Layer, batch: u64, part: &PartitionScheme, pl: &Placement) -> DataLayout {
    let frng = FmapRange::full(batch, l.nofm(), l.hofm(), l.wofm());
    DataLayout::single(frng, pl.dst, part.projection(&pl.dst, true))
}

/// The NoC hops of one group of a layer (`slice`) under a partition and
/// placement that do not depend on where its inputs are; with `memo_keys`,
/// also nn_dataflow's memo keys.
pub fn part_hops(
    slice: &Layer,
    part: &PartitionScheme,
    pl: &Placement,
    opts: &SearchOptions,
    memo_keys: bool,
) -> PartHops {
    let filter_nodes: Vec<Coord> = pl.dram.nodes().collect();
    let ofmap = ofmap_layout(slice, opts.batch, part, pl);
    let site = HopSite {
        layer: slice,
        batch: opts.batch,
        region: &pl.proc,
        part,
        filter_nodes: &filter_nodes,
        ofmap_layout: &ofmap,
        forwarding: opts.forwarding(),
    };
    PartHops::new(&site, memo_keys)
}

/// The node resources one partition of a layer runs on, and its buffer
/// sharing groups.
pub fn node_env(
    pl: &Placement,
    part: &PartitionScheme,
    layer: &Layer,
    hw: &Hardware,
    opts: &SearchOptions,
) -> (NodeEnv, BufShr) {
    let bufshr = BufShr::new(&pl.proc, part, layer.data_loops());
    let sizes = PerCat::from_fn(|d| bufshr.size(d));
    let env = NodeEnv {
        gbuf_words: hw.gbuf_words,
        regf_words: hw.regf_words,
        num_nodes: pl.proc.dim.size(),
        bus_words: hw.array_bus_words,
        dram_bw: hw.dram_words_per_cycle,
        src: pl.site(&pl.src),
        dst: pl.site(&pl.dst),
        no_time_mux: pl.no_time_mux,
        bypass: opts.bypass,
        accfwd: if opts.access_forwarding || opts.gbuf_sharing {
            sizes
        } else {
            PerCat::splat(1)
        },
        share_grp: if opts.gbuf_sharing {
            sizes
        } else {
            PerCat::splat(1)
        },
    };
    (env, bufshr)
}

impl LayerMapping {
    /// Rebuilds a mapping from recorded decisions, checking that they hold
    /// together: the region lies on the node grid, the partition covers it,
    /// the array mapping exists, the blocking factors multiply to the loop
    /// counts and its data fits the buffers.
    pub fn build(ctx: &LayerCtx<'_>, d: &Decisions) -> Result<LayerMapping, MappingError> {
        let (hw, pl, part) = (ctx.hw, &d.placement, &d.partition);
        let grid = hw.nodes;
        if !pl.proc.within(grid) {
            return Err(MappingError::Region {
                dim: pl.proc.dim,
                row: pl.proc.origin.h,
                col: pl.proc.origin.w,
                grid,
            });
        }
        let too_wide = part
            .pdims
            .iter()
            .any(|x| x.h > pl.proc.dim.h || x.w > pl.proc.dim.w);
        if too_wide || part.dim() != pl.proc.dim {
            return Err(MappingError::Partition {
                part: part.dim(),
                region: pl.proc.dim,
            });
        }
        let (p_layer, p_batch, p_occ) = part.part_layer(ctx.slice, ctx.opts.batch);
        let (ifms, ofms) = d.replication;
        let array = row_stationary(&p_layer, p_batch, p_occ, hw.pe_array)
            .into_iter()
            .find(|n| n.repl_ifms == ifms && n.repl_ofms == ofms)
            .ok_or(MappingError::Replication { ifms, ofms })?;
        for l in LoopDim::ALL {
            // Checked: factors whose product wraps to the count are not.
            let product = BlockLevel::ALL
                .iter()
                .try_fold(1u64, |p, &lv| p.checked_mul(d.blocking.ts[lv][l]));
            if product != Some(array.loopcnt[l]) {
                return Err(MappingError::Factors {
                    loop_name: l.name(),
                    product,
                    want: array.loopcnt[l],
                });
            }
        }
        let (env, bufshr) = node_env(pl, part, &p_layer, hw, ctx.opts);
        let shared = ctx.opts.gbuf_sharing.then_some(&bufshr);
        let scheme = blocking::cost(&array, &env, &hw.energy, &d.blocking, shared)?;
        Ok(LayerMapping {
            placement: *pl,
            partition: *part,
            array: Arc::new(array),
            scheme,
        })
    }

    /// The full cost of the layer under this mapping, given the hops to
    /// move each data category once between memory and the nodes: ops,
    /// accesses, NoC, static energy, summed in nn_dataflow's order. A
    /// grouped conv runs its groups one after another.
    pub fn cost(
        &self,
        ctx: &LayerCtx<'_>,
        unit_nhops: PerCat<u64>,
        ofmap_layout: &Arc<DataLayout>,
        seq: SchedSeq,
    ) -> LayerResult {
        let s = &self.scheme;
        let c = SchemeCost::new(ctx, s, unit_nhops);
        let groups = c.groups;
        let g = groups as f64;
        let scale = |v: f64| if groups == 1 { v } else { v * g };
        LayerResult {
            layer: ctx.id,
            name: ctx.name.to_string(),
            cost: c.cost(),
            time: c.time(),
            ops: scale(s.ops),
            num_nodes: self.placement.proc.dim.size(),
            cost_op: scale(c.op),
            cost_access: scale(c.access),
            cost_noc: scale(c.noc),
            cost_static: scale(c.idle),
            proc_time: s.proc_time * groups,
            bus_time: s.bus_time * groups,
            dram_time: s.dram_time * groups,
            access: s.access.map(|_, a| a.map(|_, v| scale(v))),
            remote_gbuf_access: s.remote_gbuf_access.map(|_, v| scale(v)),
            total_nhops: c.total_nhops.map(|_, v| scale(v)),
            unit_nhops,
            groups,
            mapping: self.clone(),
            ofmap_layout: ofmap_layout.clone(),
            seq,
        }
    }
}

/// The energy terms of a layer run with a blocking scheme, given its unit
/// hops: what `LayerMapping::cost` reports, and what searches rank by
/// before they build results.
///
/// The cost never decreases as `unit_nhops` or the scheme's NoC accesses
/// grow (every term is a sum of non-negative products, which rounding
/// keeps monotone): searches bound a mapping's cost from below with parts
/// of its hops.
pub struct SchemeCost {
    op: f64,
    access: f64,
    noc: f64,
    idle: f64,
    total_nhops: PerCat<f64>,
    groups: u64,
    node_time: u64,
}

impl SchemeCost {
    pub fn new(ctx: &LayerCtx<'_>, s: &BlockingScheme, unit_nhops: PerCat<u64>) -> SchemeCost {
        let e = &ctx.hw.energy;
        let mem_fetch = s.fetch[OrderedLevel::Dram];
        let total_nhops =
            PerCat::from_fn(|d| s.noc_access[d] + (unit_nhops[d] * mem_fetch[d]) as f64);
        SchemeCost {
            op: e.mac * s.ops,
            access: s.access_cost,
            noc: e.noc_hop * total_nhops.sum(),
            idle: e.idle * s.time as f64,
            total_nhops,
            groups: ctx.layer.groups(),
            node_time: s.time,
        }
    }

    /// A lower bound on the energy without static energy (all groups) of
    /// any blocking of `nld` on nodes `env` that `cstr` allows, from any
    /// input layout (`unit_nhops` without input hops): the terms of `new`
    /// with the least accesses and fetch counts (`Coster::least_access`)
    /// and no buffer-sharing traffic.
    pub fn least_dynamic(
        ctx: &LayerCtx<'_>,
        nld: &NestedLoopDesc,
        env: &NodeEnv,
        cstr: &TopConstraint,
        unit_nhops: PerCat<u64>,
    ) -> f64 {
        let e = &ctx.hw.energy;
        let (access, mem_fetch) = blocking::Coster::new(nld, env, e).least_access(cstr);
        let nhops: u64 = DataCat::ALL
            .iter()
            .map(|&d| unit_nhops[d] * mem_fetch[d])
            .sum();
        let ops = nld.total_ops() * env.num_nodes as f64;
        (e.mac * ops + access + e.noc_hop * nhops as f64) * ctx.layer.groups() as f64
    }

    /// The layer's energy (all groups).
    pub fn cost(&self) -> f64 {
        self.all_groups(self.op + self.access + self.noc + self.idle)
    }

    /// The layer's energy without static energy (all groups): what it adds
    /// to a schedule whatever the segment's time.
    pub fn dynamic(&self) -> f64 {
        self.all_groups(self.op + self.access + self.noc)
    }

    fn all_groups(&self, c: f64) -> f64 {
        if self.groups == 1 {
            c
        } else {
            c * self.groups as f64
        }
    }

    /// The layer's time (all groups).
    pub fn time(&self) -> u64 {
        self.node_time * self.groups
    }

    /// The goal's ranking key.
    pub fn key(&self, goal: crate::blocking::Goal) -> (f64, f64) {
        goal.key(self.cost(), self.time())
    }
}

/// The schedule of one layer, with its costs.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerResult {
    pub layer: LayerId,
    pub name: String,
    pub cost: f64,
    pub time: u64,
    pub ops: f64,
    pub num_nodes: u64,
    pub cost_op: f64,
    pub cost_access: f64,
    pub cost_noc: f64,
    pub cost_static: f64,
    pub proc_time: u64,
    pub bus_time: u64,
    pub dram_time: u64,
    /// Accesses per level and category (all groups of a grouped conv).
    pub access: PerLevel<PerCat<f64>>,
    pub remote_gbuf_access: PerCat<f64>,
    /// NoC word-hops per category: within the processing nodes plus to and
    /// from memory.
    pub total_nhops: PerCat<f64>,
    /// Hops to move each category once between memory and the nodes.
    pub unit_nhops: PerCat<u64>,
    /// Times the group schedule repeats (groups of a grouped conv).
    pub groups: u64,
    pub mapping: LayerMapping,
    /// Where the output maps are stored.
    pub ofmap_layout: Arc<DataLayout>,
    pub seq: SchedSeq,
}

impl LayerResult {
    /// Accesses per level summed over categories, remote buffer accesses
    /// counted at the buffer level.
    pub fn total_accesses(&self) -> PerLevel<f64> {
        let mut a = PerLevel::from_fn(|m| self.access[m].sum());
        a[MemLevel::Gbuf] += self.remote_gbuf_access.sum();
        a
    }

    pub fn node_time(&self) -> u64 {
        self.proc_time.max(self.bus_time)
    }

    /// What segment timing needs: times, and the outermost blocking loops
    /// (batch groups if batch is outermost, then the next loop's groups).
    pub fn layer_times(&self, is_conv: bool) -> LayerTimes {
        let b = &self.mapping.scheme.blocking;
        let mut outer = b.ordered_loops(OrderedLevel::Dram).peekable();
        let mut top = PerLoop::splat(1u64);
        if let Some(&(LoopDim::Bat, t)) = outer.peek() {
            top[LoopDim::Bat] = t;
            outer.next();
        }
        if let Some((l, t)) = outer.next() {
            top[l] = t;
        }
        LayerTimes {
            time: self.time,
            node_time: self.node_time(),
            dram_time: self.dram_time,
            num_nodes: self.num_nodes,
            top_bat: top[LoopDim::Bat],
            top_ifm: top[LoopDim::Ifm],
            top_ofm: top[LoopDim::Ofm],
            is_conv,
        }
    }
}
