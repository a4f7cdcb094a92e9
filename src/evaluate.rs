//! Evaluating a schedule document: every layer's mapping is rebuilt from
//! the document's decisions alone (no search), checked, and costed by the
//! same function the search uses. This lets a compiler or a person edit a
//! schedule and see what it costs.

use std::sync::Arc;

use crate::blocking::{Blocking, Goal};
use crate::cost::{Decisions, LayerCtx, LayerMapping};
use crate::dims::{PerBlock, PerCat, PerLoop, PerOrdered};
use crate::doc::{self, LayerDoc, LoopName, PartName, Schedule};
use crate::hw::{Dim2, Hardware};
use crate::network::{LayerId, Network, Source};
use crate::options::{InterlayerSearch, PipelineOptions, SearchOptions};
use crate::partition::{
    Coord, DataLayout, FmapRange, HopMemo, HopQuery, NodeRegion, PartDim, PartitionOptions,
    PartitionScheme, RegionKind,
};
use crate::pipeline::{SchedIdx, SchedSeq};
use crate::placement::Placement;
use crate::placement::stored_inputs;
use crate::search::{NetworkSchedule, assemble};

/// Why a schedule document cannot be evaluated: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Document(String),
    #[error("layer '{layer}': {reason}")]
    Layer { layer: String, reason: String },
}

fn doc_err(e: impl ToString) -> EvalError {
    EvalError::Document(e.to_string())
}

/// The search options a document records.
pub fn options(d: &Schedule) -> Result<SearchOptions, EvalError> {
    let o = &d.options;
    let opts = SearchOptions {
        batch: d.batch,
        goal: match o.goal {
            doc::GoalName::E => Goal::Energy,
            doc::GoalName::D => Goal::Delay,
            doc::GoalName::Ed => Goal::EnergyDelay,
        },
        bypass: o.bypass.into(),
        solve_loopblocking: o.solve_loopblocking,
        partition: PartitionOptions {
            hybrid: o.partition.hybrid,
            batch: o.partition.batch,
            ifmaps: o.partition.ifmaps,
        },
        access_forwarding: o.access_forwarding,
        gbuf_sharing: o.gbuf_sharing,
        ntops: usize::try_from(o.top).unwrap_or(usize::MAX),
        pipeline: PipelineOptions {
            interlayer: o.pipeline.interlayer,
            save_writeback: o.pipeline.save_writeback,
            time_overhead: o.pipeline.time_overhead.unwrap_or(f64::INFINITY),
            max_degree: o.pipeline.max_degree.unwrap_or(f64::INFINITY),
            optimize: o.pipeline.optimize,
        },
        exact_noc_hops: o.noc_hops == doc::NocHops::Exact,
        interlayer_search: match o.search {
            doc::SearchName::Beam => InterlayerSearch::Beam,
            doc::SearchName::Frontier => InterlayerSearch::Frontier,
        },
        time_limit: None,
        cancel: None,
    };
    opts.validate()
        .map_err(|e| doc_err(format!("options: {e}")))?;
    Ok(opts)
}

/// The hardware a document records.
pub fn hardware(d: &Schedule) -> Result<Hardware, EvalError> {
    Hardware::from_spec(d.hardware.clone()).map_err(|e| doc_err(format!("hardware: {e:#}")))
}

fn region(r: &doc::Region) -> Result<NodeRegion, String> {
    let [h, w] = r.dim;
    if h == 0 || w == 0 || r.wtot <= 0 || r.wbeg == 0 || r.wbeg.abs() > r.wtot {
        return Err(format!(
            "region {h}x{w} (wtot {}, wbeg {}) is empty or malformed",
            r.wtot, r.wbeg
        ));
    }
    Ok(NodeRegion {
        dim: Dim2::new(h, w),
        origin: Coord::new(r.origin[0], r.origin[1]),
        dist: Coord::new(r.dist[0], r.dist[1]),
        kind: match r.kind {
            doc::RegionKindName::Proc => RegionKind::Proc,
            doc::RegionKindName::Dram => RegionKind::Dram,
        },
        wtot: r.wtot,
        wbeg: r.wbeg,
    })
}

/// Checks that a processing region's nodes are grid neighbours.
fn spaced(r: &NodeRegion) -> Result<(), String> {
    if r.dist == Coord::new(1, 1) {
        Ok(())
    } else {
        Err(format!(
            "processing nodes must be 1 apart, not [{}, {}]",
            r.dist.h, r.dist.w
        ))
    }
}

/// Checks that a region is one the chip has: processing nodes neighbours
/// on the grid, or the chip's DRAM.
fn on_grid(r: &NodeRegion, whole: &Placement) -> Result<(), String> {
    let grid = whole.proc.dim;
    match r.kind {
        RegionKind::Proc => {
            spaced(r)?;
            if r.within(grid) {
                Ok(())
            } else {
                Err(format!(
                    "region {} at ({}, {}) is not within the {grid} node grid",
                    r.dim, r.origin.h, r.origin.w
                ))
            }
        }
        RegionKind::Dram if *r == whole.dram => Ok(()),
        RegionKind::Dram => Err("a DRAM region other than the chip's".into()),
    }
}

/// Checks that a stored tensor's layout lies on the chip and holds every
/// element of `full` exactly once.
fn check_layout(l: &DataLayout, full: FmapRange, whole: &Placement) -> Result<(), String> {
    // Far more than any search makes (a concatenation's producers), few
    // enough for the pairwise overlap check.
    const MAX_PIECES: usize = 4096;
    if l.frngs.len() > MAX_PIECES {
        return Err(format!(
            "{} pieces, more than the {MAX_PIECES} a layout may have",
            l.frngs.len()
        ));
    }
    for (i, r) in l.regions.iter().enumerate() {
        on_grid(r, whole).map_err(|e| format!("piece {}: {e}", i + 1))?;
    }
    let inside = |f: &FmapRange| (0..4).all(|d| f.beg[d] < f.end[d] && f.end[d] <= full.end[d]);
    if let Some(i) = l.frngs.iter().position(|f| !inside(f)) {
        return Err(format!(
            "piece {}: range {:?}..{:?} is empty or outside the tensor's {:?}",
            i + 1,
            l.frngs[i].beg,
            l.frngs[i].end,
            full.end
        ));
    }
    for (i, a) in l.frngs.iter().enumerate() {
        if let Some(j) = l.frngs[..i].iter().position(|b| a.overlap_size(b) > 0) {
            return Err(format!("pieces {} and {} overlap", j + 1, i + 1));
        }
    }
    let held: u64 = l.frngs.iter().map(FmapRange::size).sum();
    if held != full.size() {
        return Err(format!(
            "the pieces hold {held} of the tensor's {} elements",
            full.size()
        ));
    }
    Ok(())
}

fn partition(p: &doc::PartitionDoc) -> Result<PartitionScheme, String> {
    let dim = |n: PartName| match n {
        PartName::Outp => PartDim::Outp,
        PartName::Ofmp => PartDim::Ofmp,
        PartName::Batp => PartDim::Batp,
        PartName::Inpp => PartDim::Inpp,
    };
    let order = p.order.map(dim);
    if PartDim::ALL.iter().any(|d| !order.contains(d)) {
        return Err("partition order must list each dimension once".into());
    }
    let d = &p.dims;
    let mut pdims = [Dim2::new(1, 1); 4];
    for (i, (name, [h, w])) in [
        ("outp", d.outp),
        ("ofmp", d.ofmp),
        ("batp", d.batp),
        ("inpp", d.inpp),
    ]
    .into_iter()
    .enumerate()
    {
        if h == 0 || w == 0 {
            return Err(format!("partition dimension {name} must be positive"));
        }
        pdims[i] = Dim2::new(h, w);
    }
    Ok(PartitionScheme { order, pdims })
}

fn layout(pieces: &doc::Layout) -> Result<DataLayout, String> {
    if pieces.is_empty() {
        return Err("a data layout must be a non-empty list".into());
    }
    let mut l = DataLayout {
        frngs: Vec::new(),
        regions: Vec::new(),
        parts: Vec::new(),
        views: Vec::new(),
    };
    for p in pieces {
        l.frngs.push(FmapRange {
            beg: p.begin,
            end: p.end,
        });
        l.regions.push(region(&p.region)?);
        l.parts.push(partition(&p.partition)?);
        l.views.push(None);
    }
    Ok(l)
}

/// Loop positions (0 innermost) from an order listed outermost first.
fn order(o: &[LoopName; 3], what: &str) -> Result<PerLoop<u8>, String> {
    let mut ord = PerLoop([u8::MAX; 3]);
    for (i, &l) in o.iter().enumerate() {
        let l = l.into();
        if ord[l] != u8::MAX {
            return Err(format!(
                "order '{what}' lists {} twice",
                crate::dims::LoopDim::name(l)
            ));
        }
        ord[l] = (2 - i) as u8;
    }
    Ok(ord)
}

/// The decisions a layer's entry records.
fn decisions(lv: &LayerDoc, whole: &Placement, sharing: bool) -> Result<Decisions, String> {
    let pl = &lv.placement;
    let placement = Placement {
        proc: region(&pl.proc)?,
        dram: whole.dram,
        src: region(&pl.src)?,
        dst: region(&pl.dst)?,
        no_time_mux: pl.filters_pinned_possible,
    };
    // The processing region's place on the grid is checked with the
    // mapping (`LayerMapping::build`).
    let proc = placement.proc;
    if proc.kind != RegionKind::Proc {
        return Err("placement.proc: a region of kind 'dram' cannot process".into());
    }
    spaced(&proc).map_err(|e| format!("placement.proc: {e}"))?;
    for (what, r) in [("src", &placement.src), ("dst", &placement.dst)] {
        on_grid(r, whole).map_err(|e| format!("placement.{what}: {e}"))?;
    }
    let b = &lv.blocking;
    let f = &b.factors;
    // With buffer sharing the file's buffer-level order is the sharing
    // arrangement's; the searched one is rearranged again.
    let gbuf_order = if sharing {
        &b.searched_gbuf_order
    } else {
        &b.orders.gbuf
    };
    let blocking = Blocking {
        ts: PerBlock([f.dram.into(), f.gbuf.into(), f.regf.into()]),
        ords: PerOrdered([order(&b.orders.dram, "dram")?, order(gbuf_order, "gbuf")?]),
    };
    Ok(Decisions {
        placement,
        partition: partition(&lv.partition)?,
        replication: (lv.mapping.replicated_ifms, lv.mapping.replicated_ofms),
        blocking,
    })
}

/// Where each layer of a schedule is, as it is rebuilt in order.
struct Rebuilt<'a> {
    net: &'a Network,
    input: Arc<DataLayout>,
    exts: Vec<Arc<DataLayout>>,
    outputs: Vec<Option<Arc<DataLayout>>>,
    /// The segment each layer rebuilt so far runs in.
    segments: Vec<Option<usize>>,
    last: Option<SchedSeq>,
}

impl Rebuilt<'_> {
    /// Checks that `seq` follows the previous layer's place.
    fn follow(&mut self, seq: SchedSeq) -> Result<(), String> {
        let ok = match self.last {
            None => seq.segment == 0 && seq.idx == SchedIdx::FIRST,
            Some(l) => {
                let (g, sp, tm) = (l.segment, l.idx.sp, l.idx.tm);
                let next = |g, sp, tm| {
                    seq == SchedSeq {
                        segment: g,
                        idx: SchedIdx { sp, tm },
                    }
                };
                next(g + 1, 0, 0) || next(g, sp + 1, 0) || next(g, sp, tm + 1)
            }
        };
        if !ok {
            let show = |s: Option<SchedSeq>| {
                s.map_or("the start".into(), |s| {
                    format!("{}:{}.{}", s.segment, s.idx.sp, s.idx.tm)
                })
            };
            return Err(format!(
                "segment position {} cannot follow {}",
                show(Some(seq)),
                show(self.last)
            ));
        }
        self.last = Some(seq);
        Ok(())
    }

    /// Checks that the producers of `id`'s second operand ran in earlier
    /// segments, which left it in memory.
    fn operands_stored(&self, id: LayerId, segment: usize) -> Result<(), String> {
        for &s in self.net.operands(id) {
            if let Source::Layer(p) = s
                && self.segments[p.0].is_none_or(|g| g >= segment)
            {
                return Err(format!(
                    "its second operand's producer '{}' must run in an earlier segment",
                    self.net.layer_name(p)
                ));
            }
        }
        Ok(())
    }

    /// Where the producers of `id` stored their outputs.
    fn stored_inputs(&self, id: LayerId) -> Result<DataLayout, String> {
        stored_inputs(self.net, id, |s| match s {
            Source::Input => Ok(&*self.input),
            Source::Ext(i) => Ok(&*self.exts[i]),
            Source::Layer(p) => self.outputs[p.0].as_deref().ok_or_else(|| {
                format!(
                    "producer '{}' comes later in the schedule",
                    self.net.layer_name(p)
                )
            }),
        })
    }
}

/// Recomputes a schedule document on `net` and `hw`.
pub fn evaluate(d: &Schedule, net: &Network, hw: &Hardware) -> Result<NetworkSchedule, EvalError> {
    let opts = options(d)?;
    if d.incomplete.is_some() {
        return Err(doc_err(
            "the schedule is incomplete (its search was stopped early); only complete schedules can be evaluated",
        ));
    }
    let whole = Placement::whole_chip(hw);
    let inp = net.input();
    let input = layout(&d.input_layout)
        .and_then(|l| {
            check_layout(&l, FmapRange::full(d.batch, inp.n, inp.h, inp.w), &whole)?;
            Ok(l)
        })
        .map_err(|e| doc_err(format!("input_layout: {e}")))?;
    let input = Arc::new(input);
    if let Some(name) = d
        .ext_layouts
        .keys()
        .find(|k| !net.exts().iter().any(|e| e.name == **k))
    {
        return Err(doc_err(format!(
            "ext_layouts: network '{}' has no external input '{name}'",
            net.name()
        )));
    }
    let mut exts = Vec::new();
    for e in net.exts() {
        let l = d
            .ext_layouts
            .get(&e.name)
            .ok_or_else(|| doc_err(format!("ext_layouts: missing key '{}'", e.name)))?;
        let s = &e.shape;
        let l = layout(l)
            .and_then(|l| {
                check_layout(&l, FmapRange::full(d.batch, s.n, s.h, s.w), &whole)?;
                Ok(l)
            })
            .map_err(|m| doc_err(format!("ext_layouts.{}: {m}", e.name)))?;
        exts.push(Arc::new(l));
    }
    if d.layers.len() != net.len() {
        return Err(doc_err(format!(
            "the schedule has {} layers, network '{}' has {}",
            d.layers.len(),
            net.name(),
            net.len()
        )));
    }
    let mut state = Rebuilt {
        net,
        input: input.clone(),
        exts: exts.clone(),
        outputs: vec![None; net.len()],
        segments: vec![None; net.len()],
        last: None,
    };
    let mut memo = HopMemo::new(true);
    let mut results = Vec::new();
    for lv in &d.layers {
        let id = net.find(&lv.name).ok_or_else(|| {
            doc_err(format!(
                "layer '{}' is not in network '{}'",
                lv.name,
                net.name()
            ))
        })?;
        if state.outputs[id.0].is_some() {
            return Err(doc_err(format!("layer '{}' is scheduled twice", lv.name)));
        }
        let r = layer(lv, id, &mut state, hw, &opts, &whole, &mut memo).map_err(|reason| {
            EvalError::Layer {
                layer: lv.name.clone(),
                reason,
            }
        })?;
        state.outputs[id.0] = Some(r.ofmap_layout.clone());
        results.push(r);
    }
    Ok(assemble(net, hw, results, input, exts))
}

/// One layer rebuilt and costed.
fn layer(
    lv: &LayerDoc,
    id: LayerId,
    state: &mut Rebuilt<'_>,
    hw: &Hardware,
    opts: &SearchOptions,
    whole: &Placement,
    memo: &mut HopMemo,
) -> Result<crate::cost::LayerResult, String> {
    let net = state.net;
    let l = net.layer(id);
    if lv.type_name != l.type_name() {
        return Err(format!(
            "type '{}' does not match the network's '{}'",
            lv.type_name,
            l.type_name()
        ));
    }
    let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let seq = SchedSeq {
        segment: to_usize(lv.segment),
        idx: SchedIdx {
            sp: to_usize(lv.slot),
            tm: to_usize(lv.slot_position),
        },
    };
    if lv.shape != doc::shape(l) {
        return Err("shape: does not match the network's layer".into());
    }
    state.follow(seq)?;
    state.operands_stored(id, seq.segment)?;
    state.segments[id.0] = Some(seq.segment);
    let slice = l.group_slice();
    let ctx = LayerCtx {
        id,
        name: net.layer_name(id),
        layer: l,
        slice: &slice,
        hw,
        opts,
    };
    let d = decisions(lv, whole, opts.gbuf_sharing)?;
    let mapping = LayerMapping::build(&ctx, &d).map_err(|e| e.to_string())?;
    let (full, _) = ctx.ofmap_layouts(&d.partition, &d.placement);
    let unit_nhops = if opts.exact_noc_hops {
        let ifmap = d.placement.input_layout(state.stored_inputs(id)?);
        let part = crate::cost::part_hops(&slice, &d.partition, &d.placement, opts, false);
        let q = HopQuery {
            part: &part,
            ifmap_layout: &ifmap,
            ifm: part.ifm(&ifmap.pieces()),
        };
        memo.unit_nhops(&[q])[0]
    } else {
        // nn_dataflow's memoized hop counts depend on the search history,
        // not on the schedule alone: they are taken as written.
        PerCat::from(lv.unit_nhops)
    };
    Ok(mapping.cost(&ctx, unit_nhops, &full, seq))
}
