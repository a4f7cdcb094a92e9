//! ONNX import: an ONNX model file becomes a `Network`.
//!
//! The protobuf is decoded and checked first (one model input, no tensor
//! above the size limit), then tract-onnx infers every tensor's shape; its
//! typed model keeps the ONNX tensor names as outlet labels. The ONNX nodes,
//! in file order, decide the layers through the operator registry in
//! `ops`: convs, dense products, pools and eltwise combinations become
//! layers; concatenations, channel splits and slices become channel ranges
//! of predecessors; operators without MACs pass their input through.
//! Anything else stops the import with the node named, or, when asked, is
//! passed through and reported.

mod ops;
mod proto;
mod typing;
mod weights;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use prost::Message;
use tract_onnx::pb::{GraphProto, ModelProto, NodeProto};
use tract_onnx::prelude::*;

use crate::network::{FmapShape, Layer, Network, NetworkBuilder, VectorOp};
use ops::Role;
use proto::{Constants, int, ints};

pub use super::{DEFAULT_MAX_TENSOR_ELEMENTS, LoadOptions as ImportOptions};
use crate::error::ModelIssue;

/// An import refused for a reason a front end may point at its own option
/// for (`--skip-unsupported`, `--max-tensor-elements`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// The message, naming the file and node.
    pub message: String,
    /// What the refusal is about.
    pub issue: ModelIssue,
}

fn refusal(issue: ModelIssue, message: String) -> anyhow::Error {
    anyhow::Error::new(Refusal { message, issue })
}

/// An imported network and what the import noticed.
#[derive(Debug)]
pub struct Imported {
    /// The layers.
    pub network: Network,
    /// The model's batch size, if it fixes one.
    pub batch: Option<u64>,
    /// Unsupported nodes passed through, as `name (OpType)`.
    pub skipped: Vec<String>,
}

/// Imports an ONNX model file.
pub fn import(path: &Path, opts: &ImportOptions) -> Result<Imported> {
    let file = path.display().to_string();
    let bytes = crate::files::read(path, crate::files::Limit::Model).map_err(|e| anyhow!("{e}"))?;
    // External data lies beside the model file.
    let dir = path.parent().map(|d| {
        if d.as_os_str().is_empty() {
            Path::new(".")
        } else {
            d
        }
    });
    import_model(&bytes, &file, dir, opts)
}

/// Imports an ONNX model held in memory; `file` names it in messages and
/// names the network (so that a schedule leads back to its model file).
/// A model with external data must be imported from its file instead.
pub fn import_bytes(bytes: &[u8], file: &str, opts: &ImportOptions) -> Result<Imported> {
    import_model(bytes, file, None, opts)
}

fn import_model(
    bytes: &[u8],
    file: &str,
    dir: Option<&Path>,
    opts: &ImportOptions,
) -> Result<Imported> {
    let mut model =
        ModelProto::decode(bytes).map_err(|e| anyhow!("{file}: not an ONNX model ({e})"))?;
    let graph = model
        .graph
        .as_ref()
        .with_context(|| format!("{file}: the ONNX model has no graph"))?;
    let consts = Constants::collect(graph);
    proto::check_graph(graph, &consts).map_err(|e| anyhow!("{file}: {e}"))?;
    let limit = opts.max_tensor_elements;
    if let Some((what, n)) = proto::oversized(graph, &consts, limit) {
        return Err(refusal(
            ModelIssue::TooLarge,
            format!(
                "{file}: {what} declares a tensor of {} elements, above the limit of {limit}",
                n.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string())
            ),
        ));
    }
    let inputs = model_inputs(graph, file, opts)?;
    for t in &graph.initializer {
        if !t.external_data.is_empty() {
            weights::check_external(t, dir, file)?;
        }
    }
    // Weights become declared inputs: tract types the model from their
    // shapes without reading or materializing them.
    weights::declare(&mut model, &consts);
    proto::patch_for_tract(model.graph.as_mut().expect("checked above"));
    proto::forget_symbolic_dims(model.graph.as_mut().expect("checked above"));
    let graph = model.graph.as_ref().expect("checked above");
    let typed = match quietly(|| typing::type_graph(&model, &inputs)) {
        Ok(Ok(typed)) => typed,
        failed => {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(explain_typing_failure(graph, &names, file, opts, failed));
        }
    };
    let mut cv = Converter {
        file,
        consts: &consts,
        typed: &typed,
        skip_unsupported: opts.skip_unsupported,
        max_elements: limit,
        opset: model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(13, |o| o.version),
        batch: inputs[0].batch.unwrap_or(1),
        builder: NetworkBuilder::new(file, inputs[0].shape()),
        acts: HashMap::new(),
        input_shapes: inputs
            .iter()
            .map(|i| (i.name.clone(), i.concrete()))
            .collect(),
        names: HashSet::new(),
        maps: HashMap::new(),
        skipped: Vec::new(),
    };
    // The first input is the network's; the others are external inputs
    // (read from DRAM like it).
    for (i, input) in inputs.iter().enumerate() {
        let shape = input.shape();
        let source = if i == 0 {
            Network::INPUT
        } else {
            cv.builder.ext(&input.name, shape);
            &input.name
        };
        cv.maps.insert(source.to_string(), (shape.h, shape.w));
        let act = Act::new(
            vec![Taken::all(source, shape.n)],
            shape,
            input.channels_last,
        );
        cv.acts.insert(input.name.clone(), act);
    }
    cv.graph(graph)?;
    let skipped = cv.skipped;
    if cv.builder.last().is_none() {
        let note = if skipped.is_empty() {
            String::new()
        } else {
            format!(" (passed through: {})", skipped.join(", "))
        };
        bail!("{file}: no convs, dense products, pools or eltwise ops to schedule{note}");
    }
    let network = cv
        .builder
        .build()
        .map_err(|e| anyhow!("{file}: the imported network is inconsistent: {e}"))?;
    Ok(Imported {
        network,
        batch: inputs[0].batch,
        skipped,
    })
}

/// A model input: its name, element type, batch (if fixed) and
/// per-sample sizes.
pub(super) struct ModelInput {
    name: String,
    elem_type: i32,
    batch: Option<u64>,
    per_sample: Vec<u64>,
    /// A `[B, T, C]` token sequence (not an NCL sequence for convs).
    channels_last: bool,
}

impl ModelInput {
    /// Integer ids of a token sequence, `[B, T]`.
    fn is_token_ids(&self) -> bool {
        self.elem_type == tract_onnx::pb::tensor_proto::DataType::Int64 as i32
            && self.per_sample.len() == 1
    }

    /// The shape tract types the model with (a symbolic batch as 1).
    fn concrete(&self) -> Vec<u64> {
        let mut v = vec![self.batch.unwrap_or(1)];
        v.extend(&self.per_sample);
        v
    }

    fn shape(&self) -> FmapShape {
        if let (true, &[t, c]) = (self.channels_last, self.per_sample.as_slice()) {
            return FmapShape { n: c, h: 1, w: t };
        }
        if let (true, &[t]) = (self.is_token_ids(), self.per_sample.as_slice()) {
            return FmapShape { n: 1, h: 1, w: t };
        }
        let mut s = vec![0];
        s.extend(&self.per_sample);
        fmap(&s).expect("checked to be 2 to 4 dimensions")
    }
}

/// The model's inputs, in order: NCHW, NCL or batch x features, a leading
/// batch, every other dimension fixed or named and given a size in
/// `opts.dims`, within the size limit.
fn model_inputs(graph: &GraphProto, file: &str, opts: &ImportOptions) -> Result<Vec<ModelInput>> {
    let sigs: Vec<proto::InputSig> = proto::activation_inputs(graph)
        .into_iter()
        .map(proto::input_sig)
        .collect();
    if sigs.is_empty() {
        bail!("{file}: the model has no inputs");
    }
    // A size for a dimension no input has is a typo, not a no-op.
    if let Some((name, _)) = opts.dims.iter().find(|(name, _)| {
        !sigs
            .iter()
            .flat_map(|s| &s.dims)
            .any(|d| matches!(d, proto::Dim::Named(n) if n == name))
    }) {
        bail!("{file}: no input has a dimension named '{name}' (given a size)");
    }
    sigs.into_iter()
        .map(|sig| {
            // A sequence a conv reads is NCL; one a linear layer reads holds
            // its channels last.
            let convolved = graph
                .node
                .iter()
                .any(|n| n.op_type == "Conv" && n.input.first() == Some(&sig.name));
            let channels_last = sig.dims.len() == 3 && !convolved;
            let mut input = model_input(sig, file, opts)?;
            input.channels_last = channels_last || input.is_token_ids();
            Ok(input)
        })
        .collect()
}

fn model_input(sig: proto::InputSig, file: &str, opts: &ImportOptions) -> Result<ModelInput> {
    if !(2..=4).contains(&sig.dims.len()) {
        bail!(
            "{file}: input '{}' has {} dimensions; nnsched imports NCHW images, NCL sequences or batch x features vectors",
            sig.name,
            sig.dims.len()
        );
    }
    let given = |n: &str| opts.dims.iter().find(|(k, _)| k == n).map(|&(_, v)| v);
    let batch = match &sig.dims[0] {
        proto::Dim::Fixed(b) => u64::try_from(*b).ok().filter(|&b| b > 0),
        proto::Dim::Named(n) => given(n),
        proto::Dim::Unknown => None,
    };
    let mut per_sample = Vec::new();
    for d in &sig.dims[1..] {
        let v = match d {
            proto::Dim::Fixed(v) => u64::try_from(*v).ok().filter(|&v| v > 0),
            proto::Dim::Named(n) => match given(n) {
                Some(v) => Some(v),
                None => {
                    return Err(refusal(
                        ModelIssue::OpenDimension,
                        format!(
                            "{file}: input '{}': dimension '{n}' is symbolic; give it a size",
                            sig.name
                        ),
                    ));
                }
            },
            proto::Dim::Unknown => None,
        };
        match v {
            Some(v) => per_sample.push(v),
            None => bail!(
                "{file}: input '{}' has an unnamed symbolic or empty dimension besides the batch",
                sig.name
            ),
        }
    }
    let input = ModelInput {
        name: sig.name,
        elem_type: sig.elem_type,
        batch,
        per_sample,
        channels_last: false,
    };
    let concrete = input.concrete();
    let limit = opts.max_tensor_elements;
    if concrete
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d))
        .is_none_or(|e| e > limit)
    {
        return Err(refusal(
            ModelIssue::TooLarge,
            format!(
                "{file}: input '{}' of shape {concrete:?} is above the limit of {limit} elements",
                input.name
            ),
        ));
    }
    Ok(input)
}

/// Why tract could not type the model. tract often stops at an operator
/// nnsched would refuse anyway: name that one, which the user can act on.
fn explain_typing_failure(
    graph: &GraphProto,
    inputs: &[&str],
    file: &str,
    opts: &ImportOptions,
    failed: std::thread::Result<TractResult<typing::Typed>>,
) -> anyhow::Error {
    if !opts.skip_unsupported
        && let Some(n) = first_unsupported(graph, inputs)
    {
        return refusal(
            ModelIssue::Unsupported,
            format!(
                "{file}: node '{}' ({}): {}",
                node_name(n),
                n.op_type,
                ops::refusal(n)
            ),
        );
    }
    match failed {
        Ok(Err(e)) => anyhow!(
            "{file}: tract cannot infer the model's shapes: {}",
            format!("{e:#}").replace('\n', " ")
        ),
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let why = why.lines().next().unwrap_or_default();
            anyhow!("{file}: tract failed while inferring the model's shapes ({why})")
        }
        Ok(Ok(_)) => anyhow!("{file}: tract failed while inferring the model's shapes"),
    }
}

thread_local! {
    /// Set while this thread runs tract under `quietly`.
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, catching a panic (tract's, on a graph it cannot type) without
/// its text reaching standard error: the import reports it as one line.
/// Panics on other threads, or outside `f`, are reported as before.
fn quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    r
}

/// A node's name for messages: its own, else its first output's.
fn node_name(n: &NodeProto) -> &str {
    if n.name.is_empty() {
        n.output.first().map_or("", String::as_str)
    } else {
        &n.name
    }
}

/// The first node, in file order, that reads a feature map (a tensor
/// computed from the input) and has no role in the registry.
fn first_unsupported<'a>(graph: &'a GraphProto, inputs: &[&str]) -> Option<&'a NodeProto> {
    let mut maps: HashSet<&str> = inputs.iter().copied().collect();
    for n in &graph.node {
        if !n.input.iter().any(|i| maps.contains(i.as_str())) {
            continue;
        }
        match ops::role(n) {
            None => return Some(n),
            Some(Role::ShapeOf) => {}
            Some(_) => maps.extend(n.output.iter().map(String::as_str)),
        }
    }
    None
}

/// Some channels of a producer (a layer or the input).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Taken {
    source: String,
    chans: Range<u64>,
}

impl Taken {
    fn all(source: &str, n: u64) -> Taken {
        Taken {
            source: source.to_string(),
            chans: 0..n,
        }
    }
}

/// A feature map tensor: the producers' channels that make it, in order,
/// and its per-sample shape. A view (reshape, flatten, shuffle) keeps the
/// shape of the maps it was made from, so that an FC after a flatten sees
/// the conv's C x H x W, and a linear layer on tokens sees the map the
/// tokens were cut from.
#[derive(Clone, Debug)]
struct Act {
    parts: Vec<Taken>,
    shape: FmapShape,
    /// The tensor holds the channels on its last axis (`[B, T, C]` token
    /// sequences, `[B, H, W, C]` maps), not on axis 1.
    channels_last: bool,
    /// What else the tensor is, beyond a feature map.
    kind: ActKind,
}

/// Tensors that only some operators may read.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
enum ActKind {
    /// A feature map any layer may read.
    #[default]
    Map,
    /// A normalization's output before it is multiplied into the tensor
    /// it normalizes (made of these parts): RMSNorm's `x * rsqrt(mean)`.
    ScaleOf(Vec<Taken>),
    /// Pieces (RoPE's halves, a cyclic shift's, a patch merge's strided
    /// slices) of a tensor of this shape, whole again once concatenated.
    Partial(Vec<u64>),
    /// Concatenated along tokens (a KV cache and the new token's K or V):
    /// only the second operand of an activation product.
    Operand,
}

impl Act {
    fn new(parts: Vec<Taken>, shape: FmapShape, channels_last: bool) -> Act {
        Act {
            parts,
            shape,
            channels_last,
            kind: ActKind::Map,
        }
    }

    /// The same data seen as channels-last `shape` (the last axis holds
    /// the channels; the leading ones, less the batch, and the
    /// second-to-last lay out the map), if its size allows.
    fn viewed(&self, shape: &[u64], batch: u64) -> Option<Act> {
        let (&n, lead) = shape.split_last()?;
        let (h, w) = match *lead {
            [] => return None,
            [rows] => (1, rows / batch),
            [ref outer @ .., inner] => (outer.iter().product::<u64>() / batch, inner),
        };
        let shape = FmapShape { n, h, w };
        (shape.n * shape.h * shape.w == self.size()).then(|| Act {
            shape,
            channels_last: true,
            ..self.clone()
        })
    }

    /// Channels `r` of this tensor.
    fn slice(&self, r: Range<u64>) -> Act {
        let mut parts = Vec::new();
        let mut off = 0;
        for p in &self.parts {
            let len = p.chans.end - p.chans.start;
            let (b, e) = (r.start.max(off), r.end.min(off + len));
            if b < e {
                parts.push(Taken {
                    source: p.source.clone(),
                    chans: p.chans.start + (b - off)..p.chans.start + (e - off),
                });
            }
            off += len;
        }
        Act::new(
            parts,
            FmapShape {
                n: r.end - r.start,
                ..self.shape
            },
            self.channels_last,
        )
    }

    /// Channels `r` of each run of `per_head` channels (one per head).
    fn slice_per_head(&self, per_head: u64, r: Range<u64>) -> Act {
        let heads = self.shape.n / per_head;
        let parts = (0..heads)
            .flat_map(|h| {
                self.slice(h * per_head + r.start..h * per_head + r.end)
                    .parts
            })
            .collect();
        let n = heads * (r.end - r.start);
        Act::new(parts, FmapShape { n, ..self.shape }, self.channels_last)
    }

    fn size(&self) -> u64 {
        self.shape.n * self.shape.h * self.shape.w
    }
}

struct Converter<'a> {
    file: &'a str,
    consts: &'a Constants,
    typed: &'a typing::Typed,
    skip_unsupported: bool,
    max_elements: u64,
    /// The default-domain opset, which sets some attributes' defaults.
    opset: i64,
    /// The batch the model is typed with: tensors of tokens may fold it
    /// into another leading axis (Swin's windows).
    batch: u64,
    builder: NetworkBuilder,
    /// Feature map tensors by ONNX name.
    acts: HashMap<String, Act>,
    /// The model inputs' shapes as typed (tract labels no outlet with them).
    input_shapes: HashMap<String, Vec<u64>>,
    /// Layer names given so far.
    names: HashSet<String>,
    /// The output map (height, width) of each layer and input by name.
    maps: HashMap<String, (u64, u64)>,
    skipped: Vec<String>,
}

/// A transpose: a view of the same data, which moves the channel axis
/// last (`[0, 2, .., r-1, 1]`) or back (`[0, r-1, 1, .., r-2]`); any other
/// permutation (a channel shuffle's) keeps the layout.
fn transpose(n: &NodeProto, mut x: Act) -> Act {
    let Some(perm) = ints(n, "perm") else {
        return x;
    };
    let r = perm.len() as i64;
    let to_last: Vec<i64> = [0].into_iter().chain(2..r).chain([1]).collect();
    let to_first: Vec<i64> = [0, r - 1].into_iter().chain(1..r - 1).collect();
    if r >= 3 && perm == to_last.as_slice() && !x.channels_last {
        x.channels_last = true;
    } else if r >= 3 && perm == to_first.as_slice() && x.channels_last {
        x.channels_last = false;
    }
    x
}

/// The per-sample shape of an NCHW, NCL (one row) or N x F tensor.
fn fmap(s: &[u64]) -> Option<FmapShape> {
    match *s {
        [_, n, h, w] => Some(FmapShape { n, h, w }),
        [_, n, w] => Some(FmapShape { n, h: 1, w }),
        [_, n] => Some(FmapShape { n, h: 1, w: 1 }),
        _ => None,
    }
}

/// The widest row a global pool's positions are laid out in.
const GLOBAL_POOL_ROW: u64 = 16;

/// `(h, w)` with `h * w = n`: the squarest arrangement whose rows hold at
/// most `GLOBAL_POOL_ROW` positions (7 x 7 stays, 56 x 56 is 196 x 16).
fn pool_rows(n: u64) -> (u64, u64) {
    let w = (1..=GLOBAL_POOL_ROW.min(n.isqrt()))
        .rev()
        .find(|&w| n.is_multiple_of(w))
        .unwrap_or(1);
    (n / w, w)
}

/// The (rows, cols) values of a spatial attribute of a 2D op, or of a 1D
/// op (one row: rows 1), or the default.
fn pair(v: Option<&[i64]>, default: u64) -> Option<(u64, u64)> {
    let u = |x: i64| u64::try_from(x).ok();
    match v {
        None => Some((default, default)),
        Some(&[a, b]) => Some((u(a)?, u(b)?)),
        Some(&[a]) => Some((1, u(a)?)),
        Some(_) => None,
    }
}

impl Converter<'_> {
    fn graph(&mut self, graph: &GraphProto) -> Result<()> {
        for n in &graph.node {
            let outs = self.node(n)?;
            if let Some(outs) = outs {
                for (name, act) in n.output.iter().zip(outs) {
                    self.acts.insert(name.clone(), act);
                }
            }
        }
        Ok(())
    }

    /// tract's outlet of an ONNX tensor.
    fn outlet(&self, name: &str) -> Option<typing::Outlet> {
        self.typed.outlet(name)
    }

    /// The node, for messages.
    fn what(&self, n: &NodeProto) -> String {
        format!("{}: node '{}' ({})", self.file, node_name(n), n.op_type)
    }

    /// A constant integer tensor's values: from the file, else as tract
    /// folded them.
    fn const_ints(&self, name: &str) -> Option<Vec<i64>> {
        if let Some(v) = self.consts.ints(name) {
            return Some(v.to_vec());
        }
        self.konst(self.outlet(name)?)
    }

    /// The integer values tract folded an outlet into, if constant.
    fn konst(&self, o: typing::Outlet) -> Option<Vec<i64>> {
        let fact = self.typed.fact(o)?;
        let t = fact.konst.as_ref()?.cast_to::<i64>().ok()?;
        Some(
            t.to_plain_array_view::<i64>()
                .ok()?
                .iter()
                .copied()
                .collect(),
        )
    }

    /// A tensor's shape: from the file for constants, else from tract.
    fn shape_of(&self, name: &str) -> Option<Vec<u64>> {
        if let Some(s) = self.consts.shape(name) {
            return s.iter().map(|&d| u64::try_from(d).ok()).collect();
        }
        if let Some(s) = self.input_shapes.get(name) {
            return Some(s.clone());
        }
        let fact = self.typed.fact(self.outlet(name)?)?;
        let dims = fact.shape.as_concrete()?;
        Some(dims.iter().map(|&d| d as u64).collect())
    }

    fn out_fmap(&self, n: &NodeProto) -> Result<FmapShape> {
        let out = n.output.first().map_or("", String::as_str);
        let s = self
            .shape_of(out)
            .with_context(|| format!("{}: its output has no concrete shape", self.what(n)))?;
        let f = fmap(&s).with_context(|| {
            format!(
                "{}: output of shape {s:?}; nnsched models NCHW feature maps and batch x features vectors",
                self.what(n)
            )
        })?;
        // Shapes are inferred, never allocated, so bound them here too.
        if f.n
            .checked_mul(f.h)
            .and_then(|v| v.checked_mul(f.w))
            .is_none_or(|e| e > self.max_elements)
        {
            return Err(refusal(
                ModelIssue::TooLarge,
                format!(
                    "{}: output of shape {s:?} is above the limit of {} elements",
                    self.what(n),
                    self.max_elements
                ),
            ));
        }
        Ok(f)
    }

    /// A readable, unique layer name from the node's scope: torch's
    /// `/layer1/layer1.0/conv2/Conv` gives `layer1.0.conv2`.
    fn layer_name(&mut self, n: &NodeProto) -> String {
        let parts: Vec<&str> = node_name(n).split('/').filter(|p| !p.is_empty()).collect();
        let scope = if parts.len() > 1 {
            &parts[..parts.len() - 1]
        } else {
            &parts[..]
        };
        let mut comps: Vec<&str> = Vec::new();
        for p in scope {
            match comps.last_mut() {
                Some(last) if p.starts_with(&format!("{last}.")) => *last = p,
                _ => comps.push(p),
            }
        }
        let base = if comps.is_empty() {
            n.op_type.to_lowercase()
        } else {
            comps.join(".")
        };
        let mut name = base.clone();
        let mut k = 1;
        while self.names.contains(&name) || name == Network::INPUT {
            k += 1;
            name = format!("{base}_{k}");
        }
        self.names.insert(name.clone());
        name
    }

    /// Adds a layer fed by `inputs` (concatenated) and returns its output.
    fn add(&mut self, n: &NodeProto, layer: Layer, inputs: &[&Act]) -> Result<Act> {
        self.add_product(n, layer, inputs, None)
    }

    /// Adds a layer fed by `inputs`, and by `operand` as the second operand
    /// of an activation product; returns its output.
    fn add_product(
        &mut self,
        n: &NodeProto,
        layer: Layer,
        inputs: &[&Act],
        operand: Option<&Act>,
    ) -> Result<Act> {
        for a in inputs {
            let why = match a.kind {
                ActKind::Map | ActKind::ScaleOf(_) => continue,
                ActKind::Partial(_) => "reads part of each position's channels",
                ActKind::Operand => "reads a concatenation along tokens",
            };
            bail!(
                "{}: {why}; only as an operand of a matrix product is this modelled",
                self.what(n)
            );
        }
        let name = self.layer_name(n);
        let prevs: Vec<(&str, Option<Range<u64>>)> = inputs
            .iter()
            .flat_map(|a| &a.parts)
            .map(|t| (t.source.as_str(), Some(t.chans.clone())))
            .collect();
        // Inputs seen in another arrangement than their producers made.
        let reshapes = inputs.iter().any(|a| {
            a.parts
                .iter()
                .any(|t| self.maps.get(&t.source) != Some(&(a.shape.h, a.shape.w)))
        });
        match operand {
            Some(b) => {
                let mut ops: Vec<&str> = b.parts.iter().map(|t| t.source.as_str()).collect();
                ops.dedup();
                self.builder.add_product(&name, layer, &prevs, &ops)
            }
            None => self.builder.add_sliced(&name, layer, &prevs),
        };
        if reshapes {
            self.builder.reshaping();
        }
        let shape = FmapShape {
            n: layer.nofm(),
            h: layer.hofm(),
            w: layer.wofm(),
        };
        self.maps.insert(name.clone(), (shape.h, shape.w));
        Ok(Act::new(vec![Taken::all(&name, shape.n)], shape, false))
    }

    /// The node's outputs, or `None` when it computes no feature map.
    fn node(&mut self, n: &NodeProto) -> Result<Option<Vec<Act>>> {
        let acts: Vec<Option<Act>> = n.input.iter().map(|i| self.acts.get(i).cloned()).collect();
        let Some(x) = acts.iter().flatten().next().cloned() else {
            return Ok(None); // constants and weight arithmetic
        };
        let two_acts = acts.len() >= 2 && acts[0].is_some() && acts[1].is_some();
        let Some(role) = ops::role(n) else {
            if !self.skip_unsupported {
                return Err(refusal(
                    ModelIssue::Unsupported,
                    format!("{}: {}", self.what(n), ops::refusal(n)),
                ));
            }
            self.skipped
                .push(format!("{} ({})", node_name(n), n.op_type));
            return Ok(Some(vec![x; n.output.len().max(1)]));
        };
        let out = match role {
            Role::ShapeOf => return Ok(None),
            Role::Split => return self.split(n, &x).map(Some),
            Role::PassThrough if n.op_type == "Reshape" => self.relayout(n, x),
            Role::PassThrough => x,
            Role::Transpose => self.relayout(n, x),
            Role::Vector(op) => self.vector(n, op, x)?,
            Role::Conv => self.conv(n, &acts, x)?,
            Role::ConvTranspose => self.conv_transpose(n, &acts, x)?,
            Role::Resize => self.resize(n, x)?,
            Role::Dense if two_acts => self.product(n, &acts)?,
            Role::Einsum => self.einsum(n, &acts)?,
            Role::Dense => self.dense(n, &acts, x)?,
            Role::Gather => self.gather(n, &acts)?,
            Role::IndexPick => match &acts[..] {
                [None, Some(ids), ..] => ids.clone(),
                _ => bail!(
                    "{}: picks activation elements by computed indices; not modelled",
                    self.what(n)
                ),
            },
            // The larger of the values selected from, else the condition.
            Role::Select => acts
                .iter()
                .skip(1)
                .flatten()
                .max_by_key(|a| a.size())
                .cloned()
                .unwrap_or(x),
            Role::Pool => self.pool(n, x)?,
            Role::GlobalPool => self.global_pool(n, x)?,
            Role::Binary => self.binary(n, &acts)?,
            Role::Concat => self.concat(n, &acts, x)?,
            Role::Slice => self.slice(n, x)?,
        };
        Ok(Some(vec![out; n.output.len().max(1)]))
    }

    /// After a view: where the channels are. A transpose moves a channel
    /// axis it can see (axis 1, or the last) exactly; a reshape puts the
    /// channels last when its trailing axes hold exactly them (whole or
    /// split into heads), on axis 1 when that axis does, and keeps them
    /// where they were when both or neither could. MobileViT's unfolding
    /// reshapes and transposes maps into `[patch pixels, patches, C]` and
    /// back.
    fn relayout(&self, n: &NodeProto, x: Act) -> Act {
        let c = x.shape.n;
        let shape = |t: Option<&String>| t.and_then(|t| self.shape_of(t)).filter(|s| s.len() >= 3);
        let (Some(input), Some(out)) = (shape(n.input.first()), shape(n.output.first())) else {
            return x;
        };
        let last = if n.op_type == "Transpose" {
            let axis = match (x.channels_last, input[1] == c, input.last() == Some(&c)) {
                (true, _, true) => Some(input.len() - 1),
                (false, true, _) => Some(1),
                _ => None,
            };
            let perm = ints(n, "perm").unwrap_or_default();
            match axis.and_then(|a| perm.iter().position(|&p| p == a as i64)) {
                Some(p) if p + 1 == out.len() => Some(true),
                Some(1) => Some(false),
                _ => None,
            }
        } else {
            let trailing = (1..out.len()).any(|k| out[k..].iter().product::<u64>() == c);
            match (trailing, out[1] == c && out[0] == self.batch) {
                (true, false) => Some(true),
                (false, true) => Some(false),
                _ => None,
            }
        };
        match last {
            Some(channels_last) => Act { channels_last, ..x },
            None if n.op_type == "Transpose" => transpose(n, x),
            None => x,
        }
    }

    /// The shape of the weight (input 1) of a node whose only activation is
    /// input 0; `refusal` says what is wrong otherwise.
    fn weight_shape(&self, n: &NodeProto, acts: &[Option<Act>], refusal: &str) -> Result<Vec<u64>> {
        if acts.iter().flatten().count() != 1 || acts[0].is_none() {
            bail!("{}: {refusal}", self.what(n));
        }
        n.input
            .get(1)
            .and_then(|w| self.shape_of(w))
            .with_context(|| format!("{}: its weight has no known shape", self.what(n)))
    }

    /// A conv layer (grouped, depthwise and dilated included); a 1D conv is
    /// a 2D conv of one row.
    fn conv(&mut self, n: &NodeProto, acts: &[Option<Act>], x: Act) -> Result<Act> {
        let w = self.weight_shape(
            n,
            acts,
            "convolves an activation with another activation; only constant weights are modelled",
        )?;
        let what = || self.what(n);
        let (kh, kw) = match *w.as_slice() {
            [_, _, kh, kw] => (kh, kw),
            [_, _, k] => (1, k),
            _ => bail!(
                "{}: a {}D convolution; nnsched models 1D and 2D convolutions",
                what(),
                w.len().saturating_sub(2)
            ),
        };
        let spatial = |name: &str, what_: &str| {
            pair(ints(n, name), 1)
                .with_context(|| format!("{}: {name} must be {what_} non-negative values", what()))
        };
        if x.channels_last {
            bail!("{}: convolves a channels-last tensor; not modelled", what());
        }
        let strd = spatial("strides", "one or two")?;
        let dilation = spatial("dilations", "one or two")?;
        let groups = int(n, "group").unwrap_or(1);
        let groups = u64::try_from(groups)
            .ok()
            .filter(|&g| g > 0)
            .with_context(|| format!("{}: group {groups} must be positive", what()))?;
        if w[1].checked_mul(groups) != Some(x.shape.n) {
            bail!(
                "{}: a weight for {} input channels in {groups} groups, but the input has {}",
                what(),
                w[1].saturating_mul(groups),
                x.shape.n
            );
        }
        let o = self.out_fmap(n)?;
        // A view keeps its producer's maps; a conv reading them in another
        // arrangement of rows and columns (a 2D map flattened into one row)
        // is not the conv this model would cost.
        let seen = n
            .input
            .first()
            .and_then(|i| self.shape_of(i))
            .and_then(|s| fmap(&s));
        if let Some(seen) = seen.filter(|s| (s.h, s.w) != (x.shape.h, x.shape.w)) {
            bail!(
                "{}: reads {}x{} maps its producer made as {}x{}; only convolutions over maps as produced are modelled",
                what(),
                seen.h,
                seen.w,
                x.shape.h,
                x.shape.w
            );
        }
        // A patch embedding (stride = kernel, tiling the input exactly) is
        // a 1x1 conv over each patch's values: the same MACs, weights and
        // data, without a filter row as wide as the patch, which a PE's
        // register file may not hold (ViT's 16 taps).
        let tiles = strd == (kh, kw)
            && kh * kw > 1
            && (groups, dilation) == (1, (1, 1))
            && (x.shape.h, x.shape.w) == (o.h * kh, o.w * kw);
        if tiles {
            let patches = Act {
                shape: FmapShape {
                    n: x.shape.n * kh * kw,
                    h: o.h,
                    w: o.w,
                },
                ..x
            };
            let layer =
                Layer::conv(patches.shape.n, o.n, (o.h, o.w), (1, 1), (1, 1)).with_context(what)?;
            return self.add(n, layer, &[&patches]);
        }
        let layer = Layer::grouped_conv(x.shape.n, o.n, (o.h, o.w), (kh, kw), strd, groups)
            .and_then(|l| l.dilated(dilation))
            .with_context(what)?;
        self.add(n, layer, &[&x])
    }

    /// A transposed conv: the stride is the upsampling factor, and each
    /// output reads the `kernel / stride` taps of its phase.
    fn conv_transpose(&mut self, n: &NodeProto, acts: &[Option<Act>], x: Act) -> Result<Act> {
        let w = self.weight_shape(
            n,
            acts,
            "convolves an activation with another activation; only constant weights are modelled",
        )?;
        let what = || self.what(n);
        let kernel = match *w.as_slice() {
            [_, _, kh, kw] => (kh, kw),
            [_, _, k] => (1, k),
            _ => bail!(
                "{}: a {}D transposed convolution; nnsched models 1D and 2D ones",
                what(),
                w.len().saturating_sub(2)
            ),
        };
        if x.channels_last {
            bail!("{}: convolves a channels-last tensor; not modelled", what());
        }
        if ints(n, "dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
            bail!(
                "{}: dilated transposed convolutions are not modelled",
                what()
            );
        }
        let up = pair(ints(n, "strides"), 1).with_context(|| {
            format!("{}: strides must be one or two non-negative values", what())
        })?;
        let groups = u64::try_from(int(n, "group").unwrap_or(1))
            .ok()
            .filter(|&g| g > 0)
            .with_context(|| format!("{}: group must be positive", what()))?;
        // The weight is [input channels, output channels per group, k..].
        if w[0] != x.shape.n {
            bail!(
                "{}: a weight for {} input channels, but the input has {}",
                what(),
                w[0],
                x.shape.n
            );
        }
        let o = self.out_fmap(n)?;
        let layer = Layer::transposed_conv(x.shape.n, o.n, (o.h, o.w), kernel, up, groups)
            .with_context(what)?;
        self.add(n, layer, &[&x])
    }

    /// A resize of each channel's map by integer factors: upsampling
    /// (outputs per input row and column) or downsampling (inputs per
    /// output); nearest reads one input per output, linear two per axis,
    /// cubic four.
    fn resize(&mut self, n: &NodeProto, x: Act) -> Result<Act> {
        let what = || self.what(n);
        let o = self.out_fmap(n)?;
        if x.channels_last || o.n != x.shape.n {
            bail!(
                "{}: resizes more than height and width; only spatial resizes of NCHW maps are modelled",
                what()
            );
        }
        let (i, out) = ((x.shape.h, x.shape.w), (o.h, o.w));
        if i == out {
            return Ok(x);
        }
        let factor = |i: u64, o: u64| {
            if o.is_multiple_of(i) {
                Some((1, o / i))
            } else if i.is_multiple_of(o) {
                Some((i / o, 1))
            } else {
                None
            }
        };
        let (Some((sh, uh)), Some((sw, uw))) = (factor(i.0, out.0), factor(i.1, out.1)) else {
            bail!(
                "{}: resizes {}x{} maps to {}x{}, not by integer factors; not modelled",
                what(),
                i.0,
                i.1,
                out.0,
                out.1
            );
        };
        let mode = proto::string(n, "mode").unwrap_or("nearest");
        let taps = match mode {
            "nearest" => 1,
            "linear" => 2,
            "cubic" => 4,
            m => bail!("{}: resize mode '{m}' is not modelled", what()),
        };
        // A single row or column interpolates along the other axis only.
        let taps = (
            if i.0 == 1 { 1 } else { taps },
            if i.1 == 1 { 1 } else { taps },
        );
        let layer = Layer::resize(o.n, (o.h, o.w), taps, (sh, sw), (uh, uw)).with_context(what)?;
        self.add(n, layer, &[&x])
    }

    /// A product of two activations (`MatMul` of `[.., M, K]` and
    /// `[.., K, N]`): the leading axes (heads, windows) less the batch are
    /// groups; the first operand is `groups * K` channels over `M` tokens,
    /// the second is read whole from memory.
    fn product(&mut self, n: &NodeProto, acts: &[Option<Act>]) -> Result<Act> {
        let what = || self.what(n);
        let shape = |i: usize| {
            n.input
                .get(i)
                .or(n.output.first().filter(|_| i == 2))
                .and_then(|t| self.shape_of(t))
                .with_context(|| format!("{}: an operand has no known shape", what()))
        };
        let (sa, sb, so) = (
            shape(0)?,
            shape(1)?,
            n.output.first().and_then(|o| self.shape_of(o)),
        );
        let so = so.with_context(|| format!("{}: its output has no known shape", what()))?;
        let r = so.len();
        if r < 2 || sa.len() != r || sb.len() != r {
            bail!(
                "{}: multiplies tensors of shapes {sa:?} and {sb:?}; only batched matrix products of equal rank are modelled",
                what()
            );
        }
        let (m, nn, k) = (so[r - 2], so[r - 1], sa[r - 1]);
        let lead: u64 = so[..r - 2].iter().product();
        if sb[r - 2] != k {
            bail!(
                "{}: multiplies {sa:?} by {sb:?}, not a matrix product per sample",
                what()
            );
        }
        self.product_layer(n, acts, &sa, lead, (m, k, nn))
    }

    /// An `Einsum` of two activations that is a batched matrix product:
    /// `batch.. i k, batch.. (k j | j k) -> batch.. i j` (MaxViT's
    /// attention), with its letters as `MatMul`'s axes.
    fn einsum(&mut self, n: &NodeProto, acts: &[Option<Act>]) -> Result<Act> {
        let what = || self.what(n);
        let eq: String = proto::string(n, "equation")
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let unsupported = || {
            anyhow!(
                "{}: equation '{eq}' is not a batched matrix product of two activations; not modelled",
                what()
            )
        };
        let (ins, out) = eq.split_once("->").ok_or_else(unsupported)?;
        let (a, b) = ins.split_once(',').ok_or_else(unsupported)?;
        let (a, b, o): (Vec<char>, Vec<char>, Vec<char>) = (
            a.chars().collect(),
            b.chars().collect(),
            out.chars().collect(),
        );
        if acts.len() != 2 || acts.iter().any(Option::is_none) || eq.contains('.') {
            return Err(unsupported());
        }
        // a = batch.. i k and out = batch.. i j; b holds batch.. then k, j.
        let (Some((&kk, a_lead)), Some((&jj, o_lead))) = (a.split_last(), o.split_last()) else {
            return Err(unsupported());
        };
        let batch = &a_lead[..a_lead.len().saturating_sub(1)];
        let b_ok = b.len() == a.len()
            && b[..batch.len()] == *batch
            && matches!(b[batch.len()..], [x, y] if (x, y) == (kk, jj) || (x, y) == (jj, kk));
        if a_lead != o_lead || o.contains(&kk) || a.contains(&jj) || !b_ok || batch.is_empty() {
            return Err(unsupported());
        }
        let sa = n
            .input
            .first()
            .and_then(|t| self.shape_of(t))
            .filter(|s| s.len() == a.len())
            .with_context(|| format!("{}: an operand has no known shape", what()))?;
        let sb = n
            .input
            .get(1)
            .and_then(|t| self.shape_of(t))
            .unwrap_or_default();
        let j_at = b.iter().position(|&c| c == jj).expect("checked");
        let nn = *sb.get(j_at).ok_or_else(unsupported)?;
        let (m, k) = (sa[a.len() - 2], sa[a.len() - 1]);
        let lead = sa[..batch.len()].iter().product();
        self.product_layer(n, acts, &sa, lead, (m, k, nn))
    }

    /// The product of `lead` (batch x groups) `m` x `k` by `k` x `nn`
    /// matrices, the first operand `acts[0]` of shape `sa`.
    fn product_layer(
        &mut self,
        n: &NodeProto,
        acts: &[Option<Act>],
        sa: &[u64],
        lead: u64,
        (m, k, nn): (u64, u64, u64),
    ) -> Result<Act> {
        let what = || self.what(n);
        if !lead.is_multiple_of(self.batch) {
            bail!(
                "{}: {lead} matrix products for a batch of {}; not a product per sample",
                what(),
                self.batch
            );
        }
        let groups = lead / self.batch;
        let a = acts[0].as_ref().expect("checked");
        let b = acts[1].as_ref().expect("checked");
        let view = FmapShape {
            n: groups * k,
            h: 1,
            w: m,
        };
        if a.size() != view.n * m {
            bail!(
                "{}: a first operand of {} elements for {sa:?}",
                what(),
                a.size()
            );
        }
        // Windowed attention (Swin, MobileViT) regroups positions: each
        // window's tokens are rows of their own groups. Anything else that
        // spreads a position's channels over several rows (a transposed
        // first operand) is not this product.
        let windowed = a.channels_last
            && view.n.is_multiple_of(a.shape.n)
            && a.shape.n.is_multiple_of(k)
            && a.shape.h * a.shape.w == view.n / a.shape.n * m;
        if a.shape.n != view.n && !windowed {
            bail!(
                "{}: reads {groups} x {m} rows of {k} values from {} channels per position; transposed first operands are not modelled",
                what(),
                a.shape.n
            );
        }
        let a = Act {
            shape: view,
            ..a.clone()
        };
        let layer = Layer::matmul(groups, m, k, nn).with_context(what)?;
        let mut y = self.add_product(n, layer, &[&a], Some(b))?;
        y.channels_last = true;
        Ok(y)
    }

    /// A pick along one axis by constant indices. With a weight table and
    /// token ids, an embedding lookup: a layer copying one row per token
    /// from the table, which is read from memory like an input. With an
    /// activation and one index: a slice of its channels (q, k or v of a
    /// fused projection) or of its positions (the class token).
    fn gather(&mut self, n: &NodeProto, acts: &[Option<Act>]) -> Result<Act> {
        let what = || self.what(n);
        let out = n
            .output
            .first()
            .and_then(|o| self.shape_of(o))
            .with_context(|| format!("{}: its output has no known shape", what()))?;
        let (Some(x), None) = (&acts[0], acts.get(1).cloned().flatten()) else {
            let ids = acts.get(1).cloned().flatten().expect("an activation");
            return self.embedding(n, &out, &ids);
        };
        let input = self.shape_of(&n.input[0]).unwrap_or_default();
        let axis = int(n, "axis").unwrap_or(0);
        let axis = if axis < 0 {
            axis + input.len() as i64
        } else {
            axis
        };
        let len = usize::try_from(axis)
            .ok()
            .and_then(|a| input.get(a))
            .copied();
        let index = n
            .input
            .get(1)
            .and_then(|i| self.const_ints(i))
            .filter(|v| v.len() == 1)
            .map(|v| v[0]);
        let (Some(len), Some(index)) = (len, index) else {
            bail!(
                "{}: gathers from an activation by more than one constant index; not modelled",
                what()
            );
        };
        let i = u64::try_from(if index < 0 { index + len as i64 } else { index })
            .ok()
            .filter(|&i| i < len)
            .with_context(|| format!("{}: index {index} out of range", what()))?;
        let elems = out.iter().product::<u64>() / self.batch;
        let positions = x.shape.h * x.shape.w;
        if len == positions && elems == x.shape.n {
            // One position: read in place by the consumer.
            return Ok(Act {
                shape: FmapShape {
                    h: 1,
                    w: 1,
                    ..x.shape
                },
                ..x.clone()
            });
        }
        if x.shape.n.is_multiple_of(len) && elems * len == x.size() {
            let c = x.shape.n / len;
            return Ok(x.slice(i * c..(i + 1) * c));
        }
        bail!(
            "{}: gathers along an axis of {len} that is neither the channels' outermost split nor the positions; not modelled",
            what()
        )
    }

    /// An embedding lookup of one row of a weight table per token id.
    fn embedding(&mut self, n: &NodeProto, out: &[u64], ids: &Act) -> Result<Act> {
        let what = || self.what(n);
        let table = n.input.first().map_or("", String::as_str);
        let rows = self.shape_of(table).unwrap_or_default();
        let (&[_, d], Some(&c)) = (rows.as_slice(), out.last()) else {
            bail!(
                "{}: looks up rows of a table of shape {rows:?}; only [rows, features] tables are modelled",
                what()
            );
        };
        let tokens = ids.size();
        if c != d || out.iter().product::<u64>() != self.batch * tokens * d {
            bail!(
                "{}: {tokens} ids giving {out:?} from a table of shape {rows:?}",
                what()
            );
        }
        // The rows read: an input of `tokens` positions of `d` values.
        let shape = FmapShape {
            n: d,
            h: 1,
            w: tokens,
        };
        if !self.maps.contains_key(table) {
            self.builder.ext(table, shape);
            self.maps.insert(table.to_string(), (1, tokens));
        }
        let rows = Act::new(vec![Taken::all(table, d)], shape, true);
        let layer =
            Layer::vector(d, (1, tokens), VectorOp::Embedding).with_context(|| self.what(n))?;
        let mut y = self.add(n, layer, &[&rows])?;
        y.channels_last = true;
        Ok(y)
    }

    /// An FC layer: the activation `x` times a constant weight.
    fn dense(&mut self, n: &NodeProto, acts: &[Option<Act>], x: Act) -> Result<Act> {
        let w = self.weight_shape(
            n,
            acts,
            "multiplies two activations (as attention does); nnsched models products with a constant weight only",
        )?;
        let what = || self.what(n);
        if n.op_type == "Gemm" && int(n, "transA").unwrap_or(0) != 0 {
            bail!(
                "{}: a transposed activation (transA) is not modelled",
                what()
            );
        }
        let out = n
            .output
            .first()
            .and_then(|o| self.shape_of(o))
            .unwrap_or_default();
        if out.len() > 2 || x.channels_last {
            return self.token_linear(n, &w, &out, x);
        }
        let &[_, nofm] = out.as_slice() else {
            bail!(
                "{}: output of shape {out:?}; nnsched models batch x features products only",
                what()
            );
        };
        let k = match (n.op_type.as_str(), w.as_slice()) {
            ("Gemm", &[_, b]) if int(n, "transB").unwrap_or(0) != 0 => Some(b),
            (_, &[a, _]) => Some(a),
            _ => None,
        };
        if k != Some(x.size()) {
            bail!(
                "{}: a weight of shape {w:?} for an input of {} features",
                what(),
                x.size()
            );
        }
        let layer = Layer::fc(x.shape.n, nofm, (x.shape.h, x.shape.w)).with_context(what)?;
        self.add(n, layer, &[&x])
    }

    /// A linear layer applied to every token (or map position) of a
    /// channels-last `x`: a 1x1 conv over the map the tokens form, which
    /// reuses its weight across them.
    fn token_linear(&mut self, n: &NodeProto, w: &[u64], out: &[u64], x: Act) -> Result<Act> {
        let what = || self.what(n);
        if !x.channels_last {
            bail!(
                "{}: multiplies along the rows or columns of a map, not its channels; not modelled",
                what()
            );
        }
        let transposed = n.op_type == "Gemm" && int(n, "transB").unwrap_or(0) != 0;
        let (k, nofm) = match *w {
            [a, b] if transposed => (b, a),
            [a, b] => (a, b),
            _ => bail!(
                "{}: a weight of shape {w:?}; only matrices are modelled",
                what()
            ),
        };
        // The input as this product reads it: windows of a map, a map of
        // heads merged back, rows of tokens.
        let input = n.input.first().and_then(|i| self.shape_of(i));
        let x = match input.and_then(|s| x.viewed(&s, self.batch)) {
            _ if x.shape.n == k => x,
            Some(v) if v.shape.n == k => v,
            _ => bail!(
                "{}: a weight of shape {w:?} for {} elements giving {out:?}",
                what(),
                x.size()
            ),
        };
        if out.last() != Some(&nofm) {
            bail!("{}: a weight of shape {w:?} giving {out:?}", what());
        }
        let layer =
            Layer::conv(k, nofm, (x.shape.h, x.shape.w), (1, 1), (1, 1)).with_context(what)?;
        let mut y = self.add(n, layer, &[&x])?;
        y.channels_last = true;
        Ok(y)
    }

    /// A vector layer (normalization, softmax) along the channels of each
    /// position of `x`.
    fn vector(&mut self, n: &NodeProto, op: VectorOp, x: Act) -> Result<Act> {
        // Softmax's axis was 1 before opset 13, -1 since; LayerNorm's -1.
        let default = if n.op_type.ends_with("Softmax") && self.opset < 13 {
            1
        } else {
            -1
        };
        self.channel_axis(n, int(n, "axis").unwrap_or(default), &x)?;
        let layer =
            Layer::vector(x.shape.n, (x.shape.h, x.shape.w), op).with_context(|| self.what(n))?;
        let mut y = self.add(n, layer, &[&x])?;
        y.channels_last = x.channels_last;
        Ok(y)
    }

    /// A pooling layer, or `x` itself for a 1x1 window of stride 1.
    fn pool(&mut self, n: &NodeProto, x: Act) -> Result<Act> {
        let what = || self.what(n);
        if ints(n, "dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
            bail!("{}: dilated pooling is not modelled", what());
        }
        let k = pair(ints(n, "kernel_shape"), 0)
            .filter(|&(a, b)| a > 0 && b > 0)
            .with_context(|| format!("{}: kernel_shape must be two positive values", what()))?;
        let s = pair(ints(n, "strides"), 1)
            .with_context(|| format!("{}: strides must be two non-negative values", what()))?;
        let o = self.out_fmap(n)?;
        if k == (1, 1) && s == (1, 1) {
            return Ok(Act { shape: o, ..x });
        }
        let layer = Layer::pool(o.n, (o.h, o.w), k, s).with_context(what)?;
        self.add(n, layer, &[&x])
    }

    /// A pooling layer over the whole map; on a channels-last tensor, the
    /// mean square of a decomposed RMSNorm: the norm is one vector layer,
    /// whose output replaces the tensor where it is scaled by it.
    fn global_pool(&mut self, n: &NodeProto, x: Act) -> Result<Act> {
        let what = || self.what(n);
        if x.channels_last {
            let rank = self.shape_of(&n.input[0]).map_or(0, |s| s.len()) as i64;
            let axes = ints(n, "axes")
                .map(<[i64]>::to_vec)
                .or_else(|| n.input.get(1).and_then(|a| self.const_ints(a)));
            if axes
                .as_deref()
                .is_some_and(|a| a.len() == 1 && (a[0] == -1 || a[0] == rank - 1))
            {
                let layer = Layer::vector(x.shape.n, (x.shape.h, x.shape.w), VectorOp::RmsNorm)
                    .with_context(what)?;
                let mut y = self.add(n, layer, &[&x])?;
                y.channels_last = true;
                y.kind = ActKind::ScaleOf(x.parts);
                return Ok(y);
            }
        }
        let o = self.out_fmap(n)?;
        if o.n != x.shape.n || o.h != 1 || o.w != 1 {
            bail!(
                "{}: reduces over more than height and width; only spatial reductions are modelled",
                what()
            );
        }
        if x.shape.h * x.shape.w == 1 {
            return Ok(x);
        }
        // The order of positions does not change a mean or a maximum, and
        // each PE holds a window row: rows of at most `GLOBAL_POOL_ROW`
        // positions fit small register files (TANGRAM's 32 words).
        let win = pool_rows(x.shape.h * x.shape.w);
        let layer = Layer::pool(o.n, (1, 1), win, win).with_context(what)?;
        let x = Act {
            shape: FmapShape {
                h: win.0,
                w: win.1,
                ..x.shape
            },
            ..x
        };
        self.add(n, layer, &[&x])
    }

    /// An eltwise layer of distinct activations of one shape, else the larger
    /// activation.
    fn binary(&mut self, n: &NodeProto, acts: &[Option<Act>]) -> Result<Act> {
        let what = || self.what(n);
        let ins: Vec<&Act> = acts.iter().flatten().collect();
        // A normalization multiplied into what it normalizes is its output.
        if let [a, b] = ins[..] {
            for (s, t) in [(a, b), (b, a)] {
                if s.kind == ActKind::ScaleOf(t.parts.clone()) {
                    return Ok(Act {
                        kind: ActKind::Map,
                        ..s.clone()
                    });
                }
            }
        }
        // The largest operand; of equal ones, the squarest map (a map of
        // positions rather than the windows or tokens it was regrouped in).
        let big = ins
            .iter()
            .copied()
            .max_by_key(|a| (a.size(), a.shape.h.min(a.shape.w)))
            .expect("an activation");
        let same: Vec<&Act> = ins
            .iter()
            .copied()
            .filter(|a| a.size() == big.size() && a.shape.n == big.shape.n)
            .collect();
        if same.len() < 2 || same.iter().all(|a| a.parts == same[0].parts) {
            // With a constant, a per-channel scale (squeeze and
            // excitation) or itself (x * sigmoid(x)).
            return Ok(big.clone());
        }
        let layer = Layer::eltwise(big.shape.n, (big.shape.h, big.shape.w), same.len() as u64)
            .with_context(what)?;
        // Operands of one size but other arrangements (a token sequence and
        // the map it was cut from) are read as the larger one's map.
        let same: Vec<Act> = same
            .into_iter()
            .map(|a| Act {
                shape: big.shape,
                ..a.clone()
            })
            .collect();
        let same: Vec<&Act> = same.iter().collect();
        let mut y = self.add(n, layer, &same)?;
        y.channels_last = big.channels_last;
        Ok(y)
    }

    /// Activations side by side along channels. Along tokens: a constant
    /// prepended (a class token) is read with them by the next layer, and
    /// activations joined (a KV cache and the new token's) make a second
    /// operand. Halves of each position's channels make them whole again.
    fn concat(&mut self, n: &NodeProto, acts: &[Option<Act>], x: Act) -> Result<Act> {
        let what = || self.what(n);
        let ins: Vec<&Act> = acts.iter().flatten().collect();
        let out = n
            .output
            .first()
            .and_then(|o| self.shape_of(o))
            .unwrap_or_default();
        let elems = out.iter().product::<u64>() / self.batch;
        let pieces = ins.len() == n.input.len()
            && ins.iter().all(|a| a.kind == x.kind && a.parts == x.parts);
        if pieces && matches!(x.kind, ActKind::Partial(_)) && elems < x.size() {
            // A bigger piece, still not whole (a partial rotary embedding's
            // rotated half, before the part it leaves alone joins it).
            return Ok(x);
        }
        if pieces
            && let ActKind::Partial(sliced) = &x.kind
            && elems == x.size()
        {
            // Pieces of one tensor back together: as it was, or rearranged
            // (a patch merge's channels).
            let same = *sliced == out;
            let whole = Act {
                kind: ActKind::Map,
                ..x.clone()
            };
            return Ok(if same {
                None
            } else {
                whole.viewed(&out, self.batch)
            }
            .unwrap_or(whole));
        }
        let axis = int(n, "axis").unwrap_or(0);
        if self.channel_axis(n, axis, &x).is_err() && ins.iter().any(|a| a.channels_last) {
            let parts = ins.iter().flat_map(|a| a.parts.clone()).collect();
            let joined = Act { parts, ..x.clone() };
            if ins.len() > 1 {
                return Ok(Act {
                    kind: ActKind::Operand,
                    ..joined
                });
            }
            // A constant (class token) and an activation: more positions.
            return Ok(Act {
                shape: FmapShape {
                    h: 1,
                    w: elems / x.shape.n,
                    ..x.shape
                },
                ..joined
            });
        }
        if ins.len() != n.input.len() {
            bail!(
                "{}: concatenates a constant with activations along channels; not modelled",
                what()
            );
        }
        self.channel_axis(n, axis, &x)?;
        if ins
            .iter()
            .any(|a| (a.shape.h, a.shape.w) != (x.shape.h, x.shape.w))
        {
            bail!("{}: concatenates maps of different sizes", what());
        }
        let parts = ins.iter().flat_map(|a| a.parts.clone()).collect();
        let c = ins.iter().map(|a| a.shape.n).sum();
        Ok(Act::new(
            parts,
            FmapShape { n: c, ..x.shape },
            x.channels_last,
        ))
    }

    /// Channel ranges of `x`, one per output.
    fn split(&mut self, n: &NodeProto, x: &Act) -> Result<Vec<Act>> {
        let what = || self.what(n);
        self.channel_axis(n, int(n, "axis").unwrap_or(0), x)?;
        // Splitting each head's channels (GPT-NeoX's q, k and v interleaved
        // per head): every output takes its range of every head.
        let per_head = n
            .input
            .first()
            .and_then(|i| self.shape_of(i))
            .and_then(|s| s.last().copied())
            .filter(|&l| x.channels_last && l < x.shape.n && x.shape.n.is_multiple_of(l));
        let mut outs = Vec::new();
        let mut off = 0;
        for o in &n.output {
            let at = |s: Vec<u64>| {
                if x.channels_last {
                    s.last().copied()
                } else {
                    s.get(1).copied()
                }
            };
            let c = self
                .shape_of(o)
                .and_then(at)
                .with_context(|| format!("{}: output '{o}' has no known shape", what()))?;
            if off + c > per_head.unwrap_or(x.shape.n) {
                bail!("{}: splits more channels than its input has", what());
            }
            outs.push(match per_head {
                Some(l) => x.slice_per_head(l, off..off + c),
                None => x.slice(off..off + c),
            });
            off += c;
        }
        Ok(outs)
    }

    /// A channel range of `x`.
    fn slice(&mut self, n: &NodeProto, x: Act) -> Result<Act> {
        let what = || self.what(n);
        if x.channels_last {
            return self.slice_last(n, x);
        }
        let o = self.out_fmap(n)?;
        if o == x.shape {
            return Ok(x);
        }
        let out = n.output.first().map_or("", String::as_str);
        let (axis, start) = self.typed_slice(out).with_context(|| {
            format!(
                "{}: not a constant slice of stride 1; only channel slices are modelled",
                what()
            )
        })?;
        if axis != 1 || (o.h, o.w) != (x.shape.h, x.shape.w) {
            bail!(
                "{}: slices along axis {axis}; only channel slices are modelled",
                what()
            );
        }
        if start + o.n > x.shape.n {
            bail!("{}: an out-of-range channel slice", what());
        }
        Ok(x.slice(start..start + o.n))
    }

    /// A slice of a channels-last tensor: a channel range when it takes
    /// whole positions' channels, else a piece to be put back together.
    fn slice_last(&self, n: &NodeProto, x: Act) -> Result<Act> {
        let input = n.input.first().and_then(|i| self.shape_of(i));
        let out = n.output.first().and_then(|o| self.shape_of(o));
        let (Some(input), Some(out)) = (input, out) else {
            bail!("{}: a slice of unknown shape", self.what(n));
        };
        if input == out {
            return Ok(x);
        }
        let whole_channels = input.last() == Some(&x.shape.n);
        if let (true, Some((axis, start))) = (whole_channels, self.typed_slice(&n.output[0]))
            && axis + 1 == input.len()
        {
            let c = *out.last().expect("a slice has axes");
            if start + c <= x.shape.n {
                return Ok(x.slice(start..start + c));
            }
        }
        // A piece of a piece is a piece of the first tensor.
        let kind = match x.kind {
            ActKind::Partial(_) => x.kind.clone(),
            _ => ActKind::Partial(input),
        };
        Ok(Act { kind, ..x })
    }

    /// The axis and start of the slice tract made of a tensor: a core
    /// `Slice`, or a strided slice whose starts, axes and steps tract has
    /// folded into constants (they are often shape arithmetic in the file).
    fn typed_slice(&self, out: &str) -> Option<(usize, u64)> {
        use tract_onnx::tract_core::ops::array::Slice;
        let (node, inputs) = self.typed.node(self.outlet(out)?);
        if let Some(op) = node.op_as::<Slice>() {
            return Some((op.axis, u64::try_from(op.start.to_i64().ok()?).ok()?));
        }
        let konst = |i: usize| self.konst(*inputs.get(i)?);
        let rank = self.typed.fact(*inputs.first()?)?.rank() as i64;
        let starts = konst(1)?;
        let axes = konst(3).unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = konst(4).unwrap_or_else(|| vec![1; starts.len()]);
        let (&[start], &[axis], &[1]) = (&starts[..], &axes[..], &steps[..]) else {
            return None;
        };
        let axis = if axis < 0 { axis + rank } else { axis };
        Some((usize::try_from(axis).ok()?, u64::try_from(start).ok()?))
    }

    /// Checks that `axis` (of the node's first input) is the channel axis
    /// of `x`: axis 1, or the last one for channels-last tensors.
    fn channel_axis(&self, n: &NodeProto, axis: i64, x: &Act) -> Result<()> {
        let rank = n
            .input
            .first()
            .and_then(|i| self.shape_of(i))
            .map_or(4, |s| s.len()) as i64;
        let a = if axis < 0 { axis + rank } else { axis };
        let want = if x.channels_last { rank - 1 } else { 1 };
        if a != want {
            bail!(
                "{}: works along axis {axis}; only the channel axis ({want}) is modelled",
                self.what(n)
            );
        }
        Ok(())
    }
}
