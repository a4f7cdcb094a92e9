//! Reading a schedule file back: rebuild every layer's placement,
//! partition, array mapping and blocking from the file's fields alone (no
//! search), check them, and recompute costs with the cost model. This lets
//! a compiler or a person edit a schedule and see what it costs.

use std::sync::Arc;

use serde_json::Value;

use crate::blocking::{self, Blocking, Goal, Infeasible};
use crate::dims::{LoopDim, PerCat, PerLoop};
use crate::hw::{Dim2, Hardware, HwSpec};
use crate::mapping::row_stationary;
use crate::network::{Layer, LayerId, Network, Source};
use crate::partition::{
    Coord, DataLayout, FmapRange, HopMemo, HopQuery, NodeRegion, PartDim, PartitionOptions,
    PartitionScheme, RegionKind,
};
use crate::report::SCHEMA;
use crate::search::{
    LayerCtx, NetworkSchedule, PipelineOptions, Placement, SearchConfig, assemble, make_result,
    node_env, whole_chip,
};

/// Why a schedule file cannot be evaluated: where, and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    File(String),
    #[error("layer '{layer}': {reason}")]
    Layer { layer: String, reason: String },
}

type R<T> = Result<T, String>;

fn get<'a>(v: &'a Value, key: &str) -> R<&'a Value> {
    v.get(key).ok_or_else(|| format!("missing key '{key}'"))
}

fn u64_of(v: &Value, key: &str) -> R<u64> {
    get(v, key)?
        .as_u64()
        .ok_or_else(|| format!("key '{key}' must be a non-negative integer"))
}

fn bool_of(v: &Value, key: &str) -> R<bool> {
    get(v, key)?
        .as_bool()
        .ok_or_else(|| format!("key '{key}' must be true or false"))
}

fn f64_or_inf(v: &Value, key: &str) -> R<f64> {
    match get(v, key)? {
        Value::Null => Ok(f64::INFINITY),
        x => x
            .as_f64()
            .ok_or_else(|| format!("key '{key}' must be a number or null")),
    }
}

fn pair(v: &Value, key: &str) -> R<(u64, u64)> {
    let a = get(v, key)?
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| format!("key '{key}' must be [rows, cols]"))?;
    let n = |x: &Value| {
        x.as_u64()
            .ok_or_else(|| format!("key '{key}' must hold non-negative integers"))
    };
    Ok((n(&a[0])?, n(&a[1])?))
}

fn ipair(v: &Value, key: &str) -> R<(i64, i64)> {
    let a = get(v, key)?
        .as_array()
        .filter(|a| a.len() == 2)
        .ok_or_else(|| format!("key '{key}' must be [rows, cols]"))?;
    let n = |x: &Value| {
        x.as_i64()
            .ok_or_else(|| format!("key '{key}' must hold integers"))
    };
    Ok((n(&a[0])?, n(&a[1])?))
}

fn cats(v: &Value, key: &str) -> R<PerCat<bool>> {
    let o = get(v, key)?;
    Ok(PerCat([
        bool_of(o, "fil")?,
        bool_of(o, "ifm")?,
        bool_of(o, "ofm")?,
    ]))
}

/// Reads the search options of a schedule.
pub fn read_config(doc: &Value) -> R<SearchConfig> {
    let o = get(doc, "options")?;
    let goal = match get(o, "goal")?.as_str() {
        Some("e") => Goal::Energy,
        Some("d") => Goal::Delay,
        Some("ed") => Goal::EnergyDelay,
        _ => return Err("key 'options.goal' must be e, d or ed".into()),
    };
    let p = get(o, "partition")?;
    let pl = get(o, "pipeline")?;
    let cfg = SearchConfig {
        batch: u64_of(doc, "batch")?,
        goal,
        bypass: cats(o, "bypass")?,
        solve_loopblocking: bool_of(o, "solve_loopblocking")?,
        partition: PartitionOptions {
            hybrid: bool_of(p, "hybrid")?,
            batch: bool_of(p, "batch")?,
            ifmaps: bool_of(p, "ifmaps")?,
        },
        access_forwarding: bool_of(o, "access_forwarding")?,
        gbuf_sharing: bool_of(o, "gbuf_sharing")?,
        ntops: u64_of(o, "top")? as usize,
        pipeline: PipelineOptions {
            interlayer: bool_of(pl, "interlayer")?,
            save_writeback: bool_of(pl, "save_writeback")?,
            time_overhead: f64_or_inf(pl, "time_overhead")?,
            max_degree: f64_or_inf(pl, "max_degree")?,
            optimize: bool_of(pl, "optimize")?,
        },
        exact_noc_hops: match get(o, "noc_hops")?.as_str() {
            Some("exact") => true,
            Some("nn_dataflow") => false,
            _ => return Err("key 'options.noc_hops' must be exact or nn_dataflow".into()),
        },
    };
    cfg.validate().map_err(|e| format!("options: {e}"))?;
    Ok(cfg)
}

/// Reads the hardware a schedule was made for.
pub fn read_hardware(doc: &Value) -> R<Hardware> {
    let spec: HwSpec = serde_json::from_value(get(doc, "hardware")?.clone())
        .map_err(|e| format!("hardware: {e}"))?;
    Hardware::from_spec(spec).map_err(|e| format!("hardware: {e:#}"))
}

fn read_region(v: &Value) -> R<NodeRegion> {
    let kind = match get(v, "kind")?.as_str() {
        Some("proc") => RegionKind::Proc,
        Some("dram") => RegionKind::Dram,
        _ => return Err("region kind must be proc or dram".into()),
    };
    let (h, w) = pair(v, "dim")?;
    let (oh, ow) = ipair(v, "origin")?;
    let (dh, dw) = ipair(v, "dist")?;
    let wtot = get(v, "wtot")?
        .as_i64()
        .ok_or("region wtot must be an integer")?;
    let wbeg = get(v, "wbeg")?
        .as_i64()
        .ok_or("region wbeg must be an integer")?;
    if h == 0 || w == 0 || wtot <= 0 || wbeg == 0 || wbeg.abs() > wtot {
        return Err(format!(
            "region {h}x{w} (wtot {wtot}, wbeg {wbeg}) is empty or malformed"
        ));
    }
    Ok(NodeRegion {
        dim: Dim2::new(h, w),
        origin: Coord::new(oh, ow),
        dist: Coord::new(dh, dw),
        kind,
        wtot,
        wbeg,
    })
}

fn read_partition(v: &Value) -> R<PartitionScheme> {
    let names = ["outp", "ofmp", "batp", "inpp"];
    let order_v = get(v, "order")?
        .as_array()
        .filter(|a| a.len() == 4)
        .ok_or("partition order must list 4 dimensions")?;
    let mut order = [PartDim::Outp; 4];
    for (i, x) in order_v.iter().enumerate() {
        let k = names
            .iter()
            .position(|n| Some(*n) == x.as_str())
            .ok_or_else(|| format!("unknown partition dimension {x}"))?;
        order[i] = PartDim::ALL[k];
    }
    if (0..4).any(|i| !order.contains(&PartDim::ALL[i])) {
        return Err("partition order must list each dimension once".into());
    }
    let dims = get(v, "dims")?;
    let mut pdims = [Dim2::new(1, 1); 4];
    for (i, n) in names.iter().enumerate() {
        let (h, w) = pair(dims, n)?;
        if h == 0 || w == 0 {
            return Err(format!("partition dimension {n} must be positive"));
        }
        pdims[i] = Dim2::new(h, w);
    }
    Ok(PartitionScheme { order, pdims })
}

fn read_layout(v: &Value) -> R<DataLayout> {
    let pieces = v
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("a data layout must be a non-empty list")?;
    let mut l = DataLayout {
        frngs: Vec::new(),
        regions: Vec::new(),
        parts: Vec::new(),
        views: Vec::new(),
    };
    for p in pieces {
        let arr = |k: &str| -> R<[u64; 4]> {
            let a = get(p, k)?
                .as_array()
                .filter(|a| a.len() == 4)
                .ok_or_else(|| format!("layout {k} must have 4 entries"))?;
            let mut o = [0; 4];
            for (i, x) in a.iter().enumerate() {
                o[i] = x
                    .as_u64()
                    .ok_or_else(|| format!("layout {k} must hold non-negative integers"))?;
            }
            Ok(o)
        };
        l.frngs.push(FmapRange {
            beg: arr("begin")?,
            end: arr("end")?,
        });
        l.regions.push(read_region(get(p, "region")?)?);
        l.parts.push(read_partition(get(p, "partition")?)?);
        l.views.push(None);
    }
    Ok(l)
}

fn read_order(v: &Value, key: &str) -> R<PerLoop<u8>> {
    let a = get(v, key)?
        .as_array()
        .filter(|a| a.len() == 3)
        .ok_or_else(|| format!("order '{key}' must list 3 loops"))?;
    let mut ord = PerLoop([u8::MAX; 3]);
    for (i, x) in a.iter().enumerate() {
        let l = match x.as_str() {
            Some("ifm") => LoopDim::Ifm,
            Some("ofm") => LoopDim::Ofm,
            Some("bat") => LoopDim::Bat,
            _ => return Err(format!("order '{key}': unknown loop {x}")),
        };
        if ord[l] != u8::MAX {
            return Err(format!("order '{key}' lists {x} twice"));
        }
        ord[l] = (2 - i) as u8;
    }
    Ok(ord)
}

fn read_loops(v: &Value) -> R<PerLoop<u64>> {
    let f = |k| u64_of(v, k);
    Ok(PerLoop([f("ifm")?, f("ofm")?, f("bat")?]))
}

/// Recomputes a schedule document on `net` and `hw`.
pub fn evaluate(doc: &Value, net: &Network, hw: &Hardware) -> Result<NetworkSchedule, EvalError> {
    let file = |e: String| EvalError::File(e);
    match doc.get("schema").and_then(Value::as_str) {
        Some(SCHEMA) => {}
        Some(s) => {
            return Err(file(format!(
                "unsupported schema '{s}', this nnsched reads {SCHEMA}"
            )));
        }
        None => return Err(file("not a schedule file: no 'schema' key".into())),
    }
    let cfg = read_config(doc).map_err(file)?;
    let input_layout = Arc::new(
        read_layout(get(doc, "input_layout").map_err(file)?)
            .map_err(|e| file(format!("input_layout: {e}")))?,
    );
    let exts_v = get(doc, "ext_layouts").map_err(file)?;
    let mut ext_layouts = Vec::new();
    for e in net.exts() {
        let v = get(exts_v, &e.name).map_err(|m| file(format!("ext_layouts: {m}")))?;
        ext_layouts.push(Arc::new(
            read_layout(v).map_err(|m| file(format!("ext_layouts.{}: {m}", e.name)))?,
        ));
    }
    if doc.get("incomplete").is_some() {
        return Err(file(
            "the schedule is incomplete (its search was stopped early); only complete schedules can be evaluated".into(),
        ));
    }
    let layers_v = get(doc, "layers")
        .map_err(file)?
        .as_array()
        .ok_or_else(|| file("'layers' must be a list".into()))?;
    if layers_v.len() != net.len() {
        return Err(file(format!(
            "the schedule has {} layers, network '{}' has {}",
            layers_v.len(),
            net.name(),
            net.len()
        )));
    }
    let whole = whole_chip(hw);
    let mut memo = HopMemo::new(true);
    let mut outputs: Vec<Option<Arc<DataLayout>>> = vec![None; net.len()];
    let mut results = Vec::new();
    let mut last_seq: Option<(usize, usize, usize)> = None;
    for lv in layers_v {
        let name = lv
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| file("a layer has no name".into()))?;
        let id = net
            .find(name)
            .ok_or_else(|| file(format!("layer '{name}' is not in network '{}'", net.name())))?;
        let err = |reason: String| EvalError::Layer {
            layer: name.to_string(),
            reason,
        };
        let r = eval_layer(
            lv,
            net,
            id,
            hw,
            &cfg,
            &whole,
            &input_layout,
            &ext_layouts,
            &outputs,
            &mut memo,
            &mut last_seq,
        )
        .map_err(err)?;
        outputs[id.0] = Some(r.ofmap_layout.clone());
        results.push(r);
    }
    Ok(assemble(net, hw, results, input_layout, ext_layouts))
}

#[allow(clippy::too_many_arguments)]
fn eval_layer(
    lv: &Value,
    net: &Network,
    id: LayerId,
    hw: &Hardware,
    cfg: &SearchConfig,
    whole: &Placement,
    input_layout: &Arc<DataLayout>,
    ext_layouts: &[Arc<DataLayout>],
    outputs: &[Option<Arc<DataLayout>>],
    memo: &mut HopMemo,
    last_seq: &mut Option<(usize, usize, usize)>,
) -> R<crate::search::LayerResult> {
    let layer: &Layer = net.layer(id);
    if let Some(t) = lv.get("type").and_then(Value::as_str)
        && t != layer.type_name()
    {
        return Err(format!(
            "type '{t}' does not match the network's '{}'",
            layer.type_name()
        ));
    }
    // Segment position: segments in order, slots and positions in order.
    let seq = (
        u64_of(lv, "segment")? as usize,
        u64_of(lv, "slot")? as usize,
        u64_of(lv, "slot_position")? as usize,
    );
    let ok = match *last_seq {
        None => seq == (0, 0, 0),
        Some((g, sp, tm)) => {
            seq == (g + 1, 0, 0) || seq == (g, sp + 1, 0) || seq == (g, sp, tm + 1)
        }
    };
    if !ok {
        return Err(format!(
            "segment position {seq:?} cannot follow {last_seq:?}"
        ));
    }
    *last_seq = Some(seq);

    let plv = get(lv, "placement")?;
    let proc = read_region(get(plv, "proc")?)?;
    if proc
        .dim
        .h
        .checked_mul(proc.dim.w)
        .is_none_or(|n| n > hw.nodes.size())
        || proc.kind != RegionKind::Proc
        || proc
            .nodes()
            .any(|c| c.h < 0 || c.w < 0 || c.h as u64 >= hw.nodes.h || c.w as u64 >= hw.nodes.w)
    {
        return Err(format!(
            "processing region {} at {:?} is not within the {} node grid",
            proc.dim, proc.origin, hw.nodes
        ));
    }
    let pl = Placement {
        proc,
        dram: whole.dram,
        src: read_region(get(plv, "src")?)?,
        dst: read_region(get(plv, "dst")?)?,
        no_time_mux: bool_of(plv, "filters_pinned_possible")?,
    };
    let part = read_partition(get(lv, "partition")?)?;
    if part
        .pdims
        .iter()
        .any(|d| d.h > proc.dim.h || d.w > proc.dim.w)
        || part.dim() != proc.dim
    {
        return Err(format!(
            "partition spans {} nodes, the processing region has {}",
            part.dim(),
            proc.dim
        ));
    }
    let slice = layer.group_slice();
    let (p_layer, p_batch, p_occ) = part.part_layer(&slice, cfg.batch);
    let mv = get(lv, "mapping")?;
    let nlds = row_stationary(&p_layer, p_batch, p_occ, hw.pe_array);
    let (ri, ro) = (
        u64_of(mv, "replicated_ifms")?,
        u64_of(mv, "replicated_ofms")?,
    );
    let nld = nlds
        .into_iter()
        .find(|n| n.repl_ifms == ri && n.repl_ofms == ro)
        .ok_or_else(|| {
            format!("no row-stationary mapping replicates {ri} input and {ro} output channels")
        })?;

    let bv = get(lv, "blocking")?;
    let fv = get(bv, "factors")?;
    let ts = [
        read_loops(get(fv, "dram")?)?,
        read_loops(get(fv, "gbuf")?)?,
        read_loops(get(fv, "regf")?)?,
    ];
    for l in LoopDim::ALL {
        let prod: u64 = ts.iter().map(|t| t[l]).product();
        if prod != nld.loopcnt[l] {
            let n = ["ifm", "ofm", "bat"][l as usize];
            return Err(format!(
                "blocking factors of loop {n} multiply to {prod}, the mapping has {} iterations",
                nld.loopcnt[l]
            ));
        }
    }
    let ov = get(bv, "orders")?;
    let searched = read_order(bv, "searched_gbuf_order")?;
    let run_order = read_order(ov, "gbuf")?;
    let blk = Blocking {
        ts,
        ords: [
            read_order(ov, "dram")?,
            if cfg.gbuf_sharing {
                searched
            } else {
                run_order
            },
        ],
    };
    let (env, bufshr) = node_env(&pl, &part, p_layer.data_loops(), hw, cfg);
    let scheme = blocking::evaluate(&nld, &env, &hw.energy, &blk).map_err(|e| match e {
        Infeasible::RegfOverflow { need, have } => {
            format!("the register file overflows: the blocking needs {need} words, a PE has {have}")
        }
        Infeasible::GbufOverflow { need, have } => format!(
            "the global buffer overflows: the blocking needs {need} words, a node has {have}"
        ),
        Infeasible::OnChipRefetch => {
            "on-chip input or output data would be fetched more than once".to_string()
        }
    })?;
    let scheme = if cfg.gbuf_sharing {
        blocking::with_sharing(&nld, &env, scheme, &bufshr)
    } else {
        scheme
    };

    let ofrng = FmapRange::full(cfg.batch, layer.nofm(), layer.hofm(), layer.wofm());
    let proj = part.projection(&pl.dst, true);
    let ofmap_layout = Arc::new(DataLayout::single(ofrng, pl.dst, proj));
    let unh = if cfg.exact_noc_hops {
        let mut parts: Vec<(&DataLayout, std::ops::Range<u64>)> = Vec::new();
        for (&s, chans) in net.prevs(id).iter().zip(net.prev_channels(id)) {
            let l = match s {
                Source::Input => input_layout,
                Source::Ext(i) => &ext_layouts[i],
                Source::Layer(p) => outputs[p.0].as_deref().ok_or_else(|| {
                    format!(
                        "producer '{}' comes later in the schedule",
                        net.layer_name(p)
                    )
                })?,
            };
            parts.push((l, chans.clone()));
        }
        let mut ifmap = DataLayout::concat(&parts);
        // Data forwarded on chip: inputs stored in DRAM but read from the
        // nodes of the layer that fetched or produced them.
        if pl.src.kind == RegionKind::Proc
            && ifmap.regions.iter().any(|r| r.kind == RegionKind::Dram)
        {
            ifmap.regions = vec![pl.src; ifmap.frngs.len()];
            ifmap.parts = ifmap
                .parts
                .iter()
                .map(|p| p.projection(&pl.src, true))
                .collect();
        }
        let slice_layout = if slice == *layer {
            (*ofmap_layout).clone()
        } else {
            DataLayout::single(
                FmapRange::full(cfg.batch, slice.nofm(), slice.hofm(), slice.wofm()),
                pl.dst,
                proj,
            )
        };
        let filter_nodes: Vec<Coord> = pl.dram.nodes().collect();
        let q = HopQuery {
            layer: &slice,
            batch: cfg.batch,
            region: &pl.proc,
            part: &part,
            filter_nodes: &filter_nodes,
            ifmap_layout: &ifmap,
            ofmap_layout: &slice_layout,
            forwarding: cfg.access_forwarding || cfg.gbuf_sharing,
        };
        memo.unit_nhops(&[q])[0]
    } else {
        // nn_dataflow's memoized hop counts depend on the search history,
        // not on the schedule alone: they are taken as written.
        let u = get(lv, "unit_nhops")?;
        PerCat::from_fn(|d| {
            u.get(["fil", "ifm", "ofm"][d as usize])
                .and_then(Value::as_u64)
                .unwrap_or(0)
        })
    };
    let ctx = LayerCtx {
        id,
        name: net.layer_name(id),
        layer,
        slice: &slice,
        batch: cfg.batch,
        placement: &pl,
        hw,
        cfg,
    };
    Ok(make_result(
        &ctx,
        &Arc::new(nld),
        &scheme,
        unh,
        &part,
        &ofmap_layout,
        seq,
    ))
}
