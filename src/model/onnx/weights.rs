//! Weights without their values: scheduling needs shapes only, so weights
//! are declared to tract as model inputs of their shape instead of being
//! read (external data files are checked, never opened for reading) or
//! materialized (the `ConstantOfShape` weights of stripped models).

use std::collections::HashSet;
use std::path::{Component, Path};

use anyhow::{Result, bail};
use tract_onnx::pb::tensor_proto::{DataLocation, DataType};
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::type_proto::{self, Value as TypeValue};
use tract_onnx::pb::{
    GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

use super::proto::{Constants, attr, elements};

/// Tensors up to this many elements keep their values: shapes, axes,
/// biases and scales that tract folds while typing.
const SMALL: u64 = 1024;

/// Whether input `i` of `n` is a weight operand: read as a whole, never
/// folded into a shape.
fn weight_operand(n: &NodeProto, i: usize) -> bool {
    match n.op_type.as_str() {
        "Conv" | "ConvTranspose" => i >= 1,
        "MatMul" | "Gemm" => true,
        "Gather" => i == 0,
        _ => false,
    }
}

/// The tensors used only as weight operands, wherever used.
fn weights_only(graph: &GraphProto) -> HashSet<&str> {
    let mut weight = HashSet::new();
    let mut other = HashSet::new();
    for n in &graph.node {
        for (i, x) in n.input.iter().enumerate() {
            if weight_operand(n, i) {
                weight.insert(x.as_str());
            } else {
                other.insert(x.as_str());
            }
        }
    }
    weight.retain(|x| !other.contains(x));
    weight
}

fn is_external(t: &TensorProto) -> bool {
    t.data_location == Some(DataLocation::External as i32)
}

/// A declared input of `name`'s element type and dimensions.
pub(super) fn declared(name: &str, elem_type: i32, dims: &[i64]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(dimension::Value::DimValue(d)),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(type_proto::Tensor {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Bytes per element of an ONNX data type (0 when unknown).
fn element_bytes(data_type: i32) -> u64 {
    use DataType::*;
    match DataType::try_from(data_type) {
        Ok(Float | Int32 | Uint32) => 4,
        Ok(Double | Int64 | Uint64 | Complex64) => 8,
        Ok(Float16 | Bfloat16 | Int16 | Uint16) => 2,
        Ok(Int8 | Uint8 | Bool) => 1,
        Ok(Complex128) => 16,
        _ => 0,
    }
}

/// Checks where an initializer's external data lies, without reading it:
/// inside the model's folder, in a file long enough.
pub(super) fn check_external(t: &TensorProto, dir: Option<&Path>, file: &str) -> Result<()> {
    let entry = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    };
    let name = &t.name;
    let Some(location) = entry("location") else {
        bail!("{file}: initializer '{name}' has external data without a location");
    };
    let rel = Path::new(location);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!(
            "{file}: initializer '{name}': external data location '{location}' points outside the model's folder"
        );
    }
    let Some(dir) = dir else {
        bail!(
            "{file}: initializer '{name}' keeps its data in '{location}'; load the model from its file so that it can be found"
        );
    };
    let path = dir.join(rel);
    let Ok(meta) = std::fs::metadata(&path) else {
        bail!("{file}: initializer '{name}': external data file '{location}' is missing");
    };
    // Through links too: the file must be in the folder.
    let inside = match (path.canonicalize(), dir.canonicalize()) {
        (Ok(p), Ok(d)) => p.starts_with(d),
        _ => false,
    };
    if !inside || !meta.is_file() {
        bail!(
            "{file}: initializer '{name}': external data location '{location}' points outside the model's folder"
        );
    }
    let number = |key: &str| -> Result<Option<u64>> {
        match entry(key) {
            None => Ok(None),
            Some(v) => match v.parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) => bail!(
                    "{file}: initializer '{name}': external data {key} '{v}' is not a byte count"
                ),
            },
        }
    };
    let offset = number("offset")?.unwrap_or(0);
    let need = elements(&t.dims)
        .unwrap_or(u64::MAX)
        .saturating_mul(element_bytes(t.data_type));
    let length = number("length")?.unwrap_or(need);
    let end = offset.saturating_add(length);
    if meta.len() < end {
        bail!(
            "{file}: initializer '{name}': external data file '{location}' holds {} bytes, the tensor needs bytes {offset}..{end}",
            meta.len()
        );
    }
    Ok(())
}

/// Declares the weights of `model` as inputs of their shape, after the
/// model's own inputs: initializers with external data, large initializers
/// used only as weights, and large `ConstantOfShape` weights.
pub(super) fn declare(model: &mut ModelProto, consts: &Constants) {
    let Some(graph) = model.graph.as_mut() else {
        return;
    };
    let weights: HashSet<String> = weights_only(graph).into_iter().map(String::from).collect();
    let large_weight = |name: &str, dims: &[i64]| {
        weights.contains(name) && elements(dims).is_some_and(|e| e > SMALL)
    };
    let mut declared_inputs = Vec::new();
    let (moved, kept): (Vec<TensorProto>, Vec<TensorProto>) =
        std::mem::take(&mut graph.initializer)
            .into_iter()
            .partition(|t| is_external(t) || large_weight(&t.name, &t.dims));
    graph.initializer = kept;
    for t in moved {
        // An initializer may also be listed as an input already.
        graph.input.retain(|i| i.name != t.name);
        declared_inputs.push(declared(&t.name, t.data_type, &t.dims));
    }
    graph.node.retain(|n| {
        let out = n.output.first().map(String::as_str).unwrap_or("");
        match consts.shape(out) {
            Some(dims) if n.op_type == "ConstantOfShape" && large_weight(out, dims) => {
                let elem_type = attr(n, "value")
                    .and_then(|a| a.t.as_ref())
                    .map_or(DataType::Float as i32, |t| t.data_type);
                declared_inputs.push(declared(out, elem_type, dims));
                false
            }
            _ => true,
        }
    });
    graph.input.extend(declared_inputs);
}
