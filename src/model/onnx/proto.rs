//! What nnsched reads from the ONNX protobuf itself: attributes, the
//! constants that hold weight shapes, the model input, and the sizes the
//! file asks to materialize (checked before tract allocates anything).

use std::collections::HashMap;

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto, TensorProto, ValueInfoProto};

pub(super) fn attr<'a>(n: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    n.attribute.iter().find(|a| a.name == name)
}

pub(super) fn ints<'a>(n: &'a NodeProto, name: &str) -> Option<&'a [i64]> {
    attr(n, name).map(|a| a.ints.as_slice())
}

pub(super) fn int(n: &NodeProto, name: &str) -> Option<i64> {
    attr(n, name).map(|a| a.i)
}

/// A string attribute; `None` when absent or not UTF-8.
pub(super) fn string<'a>(n: &'a NodeProto, name: &str) -> Option<&'a str> {
    attr(n, name).and_then(|a| std::str::from_utf8(&a.s).ok())
}

/// Elements of a tensor of these dimensions; `None` if a dimension is
/// negative or the count overflows.
pub(super) fn elements(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| {
        u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

/// The integers a small tensor holds (shapes, axes, starts).
fn int_values(t: &TensorProto) -> Vec<i64> {
    if !t.int64_data.is_empty() {
        return t.int64_data.clone();
    }
    if !t.int32_data.is_empty() {
        return t.int32_data.iter().map(|&v| i64::from(v)).collect();
    }
    if t.data_type == DataType::Int64 as i32 {
        t.raw_data
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect()
    } else if t.data_type == DataType::Int32 as i32 {
        t.raw_data
            .chunks_exact(4)
            .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("chunks of 4"))))
            .collect()
    } else {
        Vec::new()
    }
}

/// Tensors known without running the graph: initializers, `Constant`
/// outputs and `ConstantOfShape` outputs of a constant shape (the form of
/// weights in stripped models).
#[derive(Default)]
pub(super) struct Constants {
    shapes: HashMap<String, Vec<i64>>,
    values: HashMap<String, Vec<i64>>,
}

impl Constants {
    pub(super) fn collect(graph: &GraphProto) -> Constants {
        let mut c = Constants::default();
        for t in &graph.initializer {
            c.tensor(&t.name, t);
        }
        for n in &graph.node {
            let Some(out) = n.output.first() else {
                continue;
            };
            match n.op_type.as_str() {
                "Constant" => {
                    if let Some(t) = attr(n, "value").and_then(|a| a.t.as_ref()) {
                        c.tensor(out, t);
                    }
                }
                "ConstantOfShape" => {
                    if let Some(v) = n.input.first().and_then(|i| c.values.get(i)) {
                        c.shapes.insert(out.clone(), v.clone());
                    }
                }
                _ => {}
            }
        }
        c
    }

    fn tensor(&mut self, name: &str, t: &TensorProto) {
        self.shapes.insert(name.to_string(), t.dims.clone());
        // Only small integer tensors matter (shapes, axes, starts).
        if elements(&t.dims).is_some_and(|e| e <= 16) {
            self.values.insert(name.to_string(), int_values(t));
        }
    }

    pub(super) fn shape(&self, name: &str) -> Option<&[i64]> {
        self.shapes.get(name).map(Vec::as_slice)
    }

    pub(super) fn ints(&self, name: &str) -> Option<&[i64]> {
        self.values.get(name).map(Vec::as_slice)
    }
}

/// A dimension of a model input as declared.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Dim {
    Fixed(i64),
    /// Symbolic, with this name.
    Named(String),
    /// Symbolic without a name, or missing.
    Unknown,
}

/// A model input: its name, element type and dimensions.
pub(super) struct InputSig {
    pub name: String,
    pub elem_type: i32,
    pub dims: Vec<Dim>,
}

/// The graph inputs that are not initializers.
pub(super) fn activation_inputs(graph: &GraphProto) -> Vec<&ValueInfoProto> {
    graph
        .input
        .iter()
        .filter(|i| !graph.initializer.iter().any(|t| t.name == i.name))
        .collect()
}

pub(super) fn input_sig(v: &ValueInfoProto) -> InputSig {
    let (elem_type, dims) = match v.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(TypeValue::TensorType(t)) => (
            t.elem_type,
            t.shape
                .as_ref()
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match &d.value {
                            Some(DimValue::DimValue(v)) => Dim::Fixed(*v),
                            Some(DimValue::DimParam(p)) if !p.is_empty() => Dim::Named(p.clone()),
                            _ => Dim::Unknown,
                        })
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => (0, Vec::new()),
    };
    InputSig {
        name: v.name.clone(),
        elem_type,
        dims,
    }
}

/// A tensor the file would make tract allocate beyond `limit` elements:
/// its name (node or initializer) and element count (`None`: overflow).
pub(super) fn oversized(
    graph: &GraphProto,
    consts: &Constants,
    limit: u64,
) -> Option<(String, Option<u64>)> {
    let over = |dims: &[i64]| match elements(dims) {
        Some(e) if e <= limit => None,
        e => Some(e),
    };
    for t in &graph.initializer {
        if let Some(e) = over(&t.dims) {
            return Some((format!("initializer '{}'", t.name), e));
        }
    }
    for n in &graph.node {
        let dims = match n.op_type.as_str() {
            "Constant" => attr(n, "value")
                .and_then(|a| a.t.as_ref())
                .map(|t| &t.dims[..]),
            "ConstantOfShape" => n.input.first().and_then(|i| consts.ints(i)),
            "Expand" => n.input.get(1).and_then(|i| consts.ints(i)),
            _ => None,
        };
        if let Some(e) = dims.and_then(over) {
            return Some((format!("node '{}' ({})", n.name, n.op_type), e));
        }
    }
    None
}

/// Forgets the symbolic dimensions (`sequence`, `s0 + 1`) the dynamo
/// exporter writes on intermediate tensors and outputs: once the inputs are
/// given sizes, tract infers every shape from them, and a symbol left in
/// the annotations would contradict the size it infers.
pub(super) fn forget_symbolic_dims(graph: &mut GraphProto) {
    for v in graph.value_info.iter_mut().chain(&mut graph.output) {
        if let Some(TypeValue::TensorType(t)) = v.r#type.as_mut().and_then(|t| t.value.as_mut())
            && let Some(shape) = t.shape.as_mut()
        {
            for d in &mut shape.dim {
                if matches!(d.value, Some(DimValue::DimParam(_))) {
                    d.value = None;
                }
            }
        }
    }
}

/// Rewrites what tract gets wrong: a `CumSum` (see below), and a
/// `ConstantOfShape` without a `value`, which makes float32 zeros (ONNX's default; tract assumes float64, and
/// torch's dynamo exporter leaves the value out when it is a float zero).
pub(super) fn patch_for_tract(graph: &mut GraphProto) {
    for n in &mut graph.node {
        // A running sum keeps its input's shape and type; its values (a
        // mask's position ids) never decide a shape, and tract cannot sum
        // the symbolic integers a shape computation leaves there.
        if n.op_type == "CumSum" {
            n.op_type = "Identity".into();
            n.input.truncate(1);
            n.attribute.clear();
        }
        if n.op_type == "ConstantOfShape" && attr(n, "value").is_none() {
            n.attribute.push(AttributeProto {
                name: "value".into(),
                r#type: AttributeType::Tensor as i32,
                t: Some(TensorProto {
                    dims: vec![1],
                    data_type: DataType::Float as i32,
                    float_data: vec![0.0],
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
    }
}

/// What makes a graph ill-formed, or makes tract panic instead of
/// refusing it, found before tract sees the graph: a tensor written twice
/// (by two nodes, two initializers, or a node and an input), a scalar
/// `MatMul` operand, a `Resize` to negative sizes, a `ConvTranspose` whose
/// pads remove its whole output. The message names the node or tensor.
pub(super) fn check_graph<'g>(graph: &'g GraphProto, consts: &Constants) -> Result<(), String> {
    let mut writers: HashMap<&str, String> = HashMap::new();
    let mut write = |name: &'g str, by: String| -> Result<(), String> {
        if name.is_empty() {
            return Ok(());
        }
        match writers.insert(name, by.clone()) {
            Some(first) => Err(format!(
                "tensor '{name}' is written twice: by {first} and by {by}"
            )),
            None => Ok(()),
        }
    };
    for t in &graph.initializer {
        write(&t.name, format!("initializer '{}'", t.name))?;
    }
    for i in &graph.input {
        if !graph.initializer.iter().any(|t| t.name == i.name) {
            write(&i.name, format!("input '{}'", i.name))?;
        }
    }
    for n in &graph.node {
        let what = || {
            let name = if n.name.is_empty() {
                n.output.first().map_or("", String::as_str)
            } else {
                &n.name
            };
            format!("node '{name}' ({})", n.op_type)
        };
        for o in &n.output {
            write(o, what())?;
        }
        let input = |i: usize| n.input.get(i).map(String::as_str).filter(|s| !s.is_empty());
        match n.op_type.as_str() {
            "MatMul"
                if (0..2).any(|i| {
                    input(i)
                        .and_then(|x| consts.shape(x))
                        .is_some_and(<[i64]>::is_empty)
                }) =>
            {
                return Err(format!(
                    "{}: a scalar operand (MatMul needs at least one dimension)",
                    what()
                ));
            }
            "Resize"
                if input(3)
                    .and_then(|x| consts.ints(x))
                    .is_some_and(|s| s.iter().any(|&v| v < 0)) =>
            {
                return Err(format!("{}: negative output sizes", what()));
            }
            "ConvTranspose" => {
                // A pad beyond the kernel's extent cuts away real output
                // (torch refuses it too): tract panics on some.
                let kernel = input(1)
                    .and_then(|w| consts.shape(w))
                    .and_then(|s| s.get(2..));
                if let (Some(k), Some(pads)) = (kernel, ints(n, "pads")) {
                    let dil = ints(n, "dilations").unwrap_or(&[]);
                    let extent =
                        |a: usize| (k[a] - 1).saturating_mul(dil.get(a).copied().unwrap_or(1));
                    let bad = pads.iter().enumerate().any(|(i, &p)| {
                        p < 0 || (i % k.len().max(1) < k.len() && p > extent(i % k.len()))
                    });
                    if bad {
                        return Err(format!(
                            "{}: pads {pads:?} larger than the kernel's extent",
                            what()
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}
