//! Typing the graph with tract: every tensor's shape (and the constants
//! tract folds), found by ONNX tensor name.
//!
//! tract adds each node to its model with a scan of all nodes before it
//! (name and constant checks in `wire_node`), so one model of `n` nodes
//! takes time quadratic in `n`. A large graph is typed in consecutive
//! chunks instead, each a model of its own whose inputs are the tensors
//! earlier chunks made: declared with the types tract found for them, or,
//! when tract folded them into constants, given as those constants. A
//! graph that cannot be cut so (a subgraph reaching outside its node, a
//! tensor of a type ONNX cannot hold) is typed whole.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{GraphProto, ModelProto, TensorProto, ValueInfoProto};
use tract_onnx::prelude::*;

use super::ModelInput;
use super::weights::declared;

/// Graphs of more nodes are typed in chunks of this many: small enough
/// that tract's scans stay short, large enough that few tensors cross.
const CHUNK: usize = 4096;

/// An outlet of one of the typed models.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Outlet {
    model: usize,
    id: OutletId,
}

/// The typed graph: one model, or one per chunk, and each ONNX tensor's
/// outlet (where it is made; a later chunk's copy is not listed).
pub(super) struct Typed {
    models: Vec<TypedModel>,
    outlets: HashMap<String, Outlet>,
}

impl Typed {
    fn new() -> Typed {
        Typed {
            models: Vec::new(),
            outlets: HashMap::new(),
        }
    }

    fn push(&mut self, m: TypedModel) {
        let model = self.models.len();
        // Ties (never seen) go to the first outlet, for determinism.
        let mut labels: Vec<(&OutletId, &String)> = m.outlet_labels.iter().collect();
        labels.sort();
        for (&id, label) in labels {
            self.outlets
                .entry(label.clone())
                .or_insert(Outlet { model, id });
        }
        self.models.push(m);
    }

    /// The outlet of a tensor.
    pub(super) fn outlet(&self, name: &str) -> Option<Outlet> {
        self.outlets.get(name).copied()
    }

    /// What tract knows of an outlet's tensor.
    pub(super) fn fact(&self, o: Outlet) -> Option<&TypedFact> {
        self.models[o.model].outlet_fact(o.id).ok()
    }

    /// The node making an outlet, and its input outlets.
    pub(super) fn node(&self, o: Outlet) -> (&TypedNode, Vec<Outlet>) {
        let node = self.models[o.model].node(o.id.node);
        let inputs = node
            .inputs
            .iter()
            .map(|&id| Outlet { model: o.model, id })
            .collect();
        (node, inputs)
    }
}

/// Types the model with concrete input facts, each input of its declared
/// element type (int64 token ids, say; floats otherwise): whole, or in
/// chunks when it is large.
pub(super) fn type_graph(model: &ModelProto, inputs: &[ModelInput]) -> TractResult<Typed> {
    let nodes = model.graph.as_ref().map_or(0, |g| g.node.len());
    if nodes > 2 * CHUNK
        && let Some(t) = chunked(model, inputs, CHUNK)
    {
        return Ok(t);
    }
    let mut t = Typed::new();
    t.push(type_model(model, inputs)?);
    Ok(t)
}

fn input_fact(input: &ModelInput) -> InferenceFact {
    let shape: Vec<usize> = input.concrete().iter().map(|&d| d as usize).collect();
    if input.elem_type == DataType::Int64 as i32 {
        i64::fact(&shape).into()
    } else {
        f32::fact(&shape).into()
    }
}

fn type_model(model: &ModelProto, inputs: &[ModelInput]) -> TractResult<TypedModel> {
    let mut m = tract_onnx::onnx().model_for_proto_model(model)?;
    for (i, input) in inputs.iter().enumerate() {
        m = m.with_input_fact(i, input_fact(input))?;
    }
    m.into_typed()
}

/// The graph typed chunk by chunk, or `None` where it cannot be cut (the
/// caller types it whole, which also reports what tract refuses).
fn chunked(model: &ModelProto, inputs: &[ModelInput], chunk: usize) -> Option<Typed> {
    let graph = model.graph.as_ref()?;
    // A subgraph (If, Loop, Scan) may read outer tensors by name.
    if graph.node.iter().any(|n| {
        n.attribute
            .iter()
            .any(|a| a.g.is_some() || !a.graphs.is_empty())
    }) {
        return None;
    }
    let inits: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .map(|t| (t.name.as_str(), t))
        .collect();
    let listed: HashMap<&str, &ValueInfoProto> =
        graph.input.iter().map(|v| (v.name.as_str(), v)).collect();
    // A chunk's outputs: what later chunks read, and the graph's own (so
    // that tract drops the same dead ends as in the whole graph).
    let mut last_reader: HashMap<&str, usize> = HashMap::new();
    for (i, n) in graph.node.iter().enumerate() {
        for input in &n.input {
            last_reader.insert(input, i / chunk);
        }
    }
    for o in &graph.output {
        last_reader.insert(&o.name, usize::MAX);
    }
    let mut typed = Typed::new();
    for (k, nodes) in graph.node.chunks(chunk).enumerate() {
        let made: HashSet<&str> = nodes
            .iter()
            .flat_map(|n| &n.output)
            .map(String::as_str)
            .collect();
        let mut read: Vec<&str> = Vec::new();
        for i in nodes.iter().flat_map(|n| &n.input).map(String::as_str) {
            if !i.is_empty() && !made.contains(i) && !read.contains(&i) {
                read.push(i);
            }
        }
        let mut g = GraphProto {
            name: format!("{}-{k}", graph.name),
            node: nodes.to_vec(),
            output: made
                .iter()
                .filter(|o| !o.is_empty() && last_reader.get(*o).is_some_and(|&r| r > k))
                .map(|o| ValueInfoProto {
                    name: o.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        g.output.sort_by(|a, b| a.name.cmp(&b.name));
        let mut facts: Vec<(usize, InferenceFact)> = Vec::new();
        for name in read {
            if let Some(t) = inits.get(name) {
                g.initializer.push((*t).clone());
            } else if let Some(input) = inputs.iter().find(|i| i.name == name) {
                facts.push((g.input.len(), input_fact(input)));
                g.input.push((*listed.get(name)?).clone());
            } else if let Some(&o) = typed.outlets.get(name) {
                let fact = typed.fact(o)?;
                match fact.konst.as_ref().and_then(|k| initializer(name, k)) {
                    Some(t) => g.initializer.push(t),
                    None => {
                        let shape = fact.shape.as_concrete()?.to_vec();
                        facts.push((
                            g.input.len(),
                            TypedFact::dt_shape(fact.datum_type, &*shape).into(),
                        ));
                        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
                        g.input
                            .push(declared(name, data_type(fact.datum_type)?, &dims));
                    }
                }
            } else {
                g.input.push((*listed.get(name)?).clone());
            }
        }
        let chunk = ModelProto {
            ir_version: model.ir_version,
            opset_import: model.opset_import.clone(),
            graph: Some(g),
            ..Default::default()
        };
        let mut m = tract_onnx::onnx().model_for_proto_model(&chunk).ok()?;
        for (i, f) in facts {
            m = m.with_input_fact(i, f).ok()?;
        }
        typed.push(m.into_typed().ok()?);
    }
    Some(typed)
}

/// The ONNX element type of a tract datum type, if ONNX has it.
fn data_type(dt: DatumType) -> Option<i32> {
    use DataType as D;
    let t = match dt {
        DatumType::F16 => D::Float16,
        DatumType::F32 => D::Float,
        DatumType::F64 => D::Double,
        DatumType::I8 => D::Int8,
        DatumType::I16 => D::Int16,
        DatumType::I32 => D::Int32,
        DatumType::I64 | DatumType::TDim => D::Int64,
        DatumType::U8 => D::Uint8,
        DatumType::U16 => D::Uint16,
        DatumType::U32 => D::Uint32,
        DatumType::U64 => D::Uint64,
        DatumType::Bool => D::Bool,
        _ => return None,
    };
    Some(t as i32)
}

/// A constant tract folded, as an initializer of `name`: integers
/// (symbolic dimensions made concrete) as int64, anything else by its
/// bytes.
fn initializer(name: &str, k: &Tensor) -> Option<TensorProto> {
    let dims = k.shape().iter().map(|&d| d as i64).collect();
    let (data_type, raw_data) = if k.datum_type() == DatumType::TDim {
        let ints = k.cast_to::<i64>().ok()?;
        let bytes = ints
            .to_plain_array_view::<i64>()
            .ok()?
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        (DataType::Int64 as i32, bytes)
    } else {
        let bytes = k.as_bytes().to_vec();
        (data_type(k.datum_type())?, bytes)
    };
    Some(TensorProto {
        name: name.to_string(),
        dims,
        data_type,
        raw_data,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use tract_onnx::pb::{AttributeProto, NodeProto, OperatorSetIdProto, attribute_proto};

    use super::*;

    fn node(op: &str, name: &str, inputs: &[&str]) -> NodeProto {
        NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.into()],
            ..Default::default()
        }
    }

    /// A conv and relu chain with shape arithmetic across it: a `Shape`
    /// of the input used at the end, a constant-folded `Concat` of shapes.
    fn model() -> (ModelProto, Vec<ModelInput>) {
        let weight = |name: &str| TensorProto {
            name: name.into(),
            dims: vec![4, 4, 3, 3],
            data_type: DataType::Float as i32,
            float_data: vec![0.0; 144],
            ..Default::default()
        };
        let mut nodes = vec![node("Shape", "s", &["x"])];
        let mut inits = vec![TensorProto {
            name: "flat".into(),
            dims: vec![2],
            data_type: DataType::Int64 as i32,
            int64_data: vec![1, -1],
            ..Default::default()
        }];
        let mut x = "x".to_string();
        for i in 0..12 {
            let w = format!("w{i}");
            inits.push(weight(&w));
            let mut c = node("Conv", &format!("c{i}"), &[&x, &w]);
            c.attribute.push(AttributeProto {
                name: "pads".into(),
                r#type: attribute_proto::AttributeType::Ints as i32,
                ints: vec![1, 1, 1, 1],
                ..Default::default()
            });
            nodes.push(c);
            x = format!("r{i}");
            nodes.push(node("Relu", &x, &[&format!("c{i}")]));
        }
        nodes.push(node("Reshape", "f", &[&x, "flat"]));
        nodes.push(node("Shape", "fs", &["f"]));
        nodes.push(node("Reshape", "b", &["f", "s"]));
        let input = declared("x", DataType::Float as i32, &[1, 4, 8, 8]);
        let m = ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            graph: Some(GraphProto {
                name: "g".into(),
                node: nodes,
                initializer: inits,
                input: vec![input],
                output: ["b", "fs"]
                    .iter()
                    .map(|o| ValueInfoProto {
                        name: o.to_string(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let inputs = vec![ModelInput {
            name: "x".into(),
            elem_type: DataType::Float as i32,
            batch: Some(1),
            per_sample: vec![4, 8, 8],
            channels_last: false,
        }];
        (m, inputs)
    }

    /// Shapes and constants of every tensor, typed whole and in chunks of
    /// 5 nodes: the same.
    #[test]
    fn chunks_type_every_tensor_as_the_whole_graph_does() {
        let (m, inputs) = model();
        let mut whole = Typed::new();
        whole.push(type_model(&m, &inputs).unwrap());
        let parts = chunked(&m, &inputs, 5).expect("the graph can be cut");
        assert_eq!(parts.models.len(), 6);
        let mut names: Vec<&String> = m
            .graph
            .as_ref()
            .unwrap()
            .node
            .iter()
            .flat_map(|n| &n.output)
            .collect();
        names.sort();
        for name in names {
            let (Some(a), Some(b)) = (whole.outlet(name), parts.outlet(name)) else {
                panic!("{name}: {:?} {:?}", whole.outlet(name), parts.outlet(name))
            };
            let (fa, fb) = (whole.fact(a).unwrap(), parts.fact(b).unwrap());
            assert_eq!(fa.shape.as_concrete(), fb.shape.as_concrete(), "{name}");
            assert!(fa.shape.as_concrete().is_some(), "{name}");
            assert_eq!(
                fa.konst
                    .as_ref()
                    .map(|k| k.cast_to::<i64>().unwrap().into_owned()),
                fb.konst
                    .as_ref()
                    .map(|k| k.cast_to::<i64>().unwrap().into_owned()),
                "{name}"
            );
        }
        let fs = parts.fact(parts.outlet("fs").unwrap()).unwrap();
        assert!(fs.konst.is_some(), "a shape folded in the last chunk");
    }
}
