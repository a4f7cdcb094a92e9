//! Small ONNX graphs built in tests, encoded with tract's protobuf types.

#![allow(dead_code)]

use nnsched::onnx::{ImportOptions, Imported, import_bytes};
use prost::Message;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::type_proto::{self, Value as TypeValue};
use tract_onnx::pb::*;

/// An ONNX graph under construction, with one input `x`.
#[derive(Clone)]
pub struct Graph {
    pub nodes: Vec<NodeProto>,
    pub inits: Vec<TensorProto>,
    pub input: Vec<Option<i64>>,
    pub extra_inputs: Vec<&'static str>,
    /// Declared types of intermediate tensors (floats of these shapes), as
    /// torch's dynamo exporter writes for every tensor.
    pub value_info: Vec<(String, Vec<Option<i64>>)>,
}

pub fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Ints as i32,
        ints: v.to_vec(),
        ..Default::default()
    }
}

pub fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Int as i32,
        i: v,
        ..Default::default()
    }
}

pub fn attr_str(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: v.as_bytes().to_vec(),
        ..Default::default()
    }
}

pub fn value_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(v) => dimension::Value::DimValue(*v),
                None => dimension::Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Graph {
    /// A graph whose input `x` has these dimensions (`None`: symbolic).
    pub fn new(input: &[Option<i64>]) -> Graph {
        Graph {
            nodes: Vec::new(),
            inits: Vec::new(),
            input: input.to_vec(),
            extra_inputs: Vec::new(),
            value_info: Vec::new(),
        }
    }

    /// NCHW input of batch 1.
    pub fn image(c: i64, h: i64, w: i64) -> Graph {
        Graph::new(&[Some(1), Some(c), Some(h), Some(w)])
    }

    /// Adds an initializer named `prefix` and its index; returns the name.
    fn init(&mut self, prefix: char, t: TensorProto) -> String {
        let name = format!("{prefix}{}", self.inits.len());
        self.inits.push(TensorProto {
            name: name.clone(),
            ..t
        });
        name
    }

    /// A zero-filled float constant; a huge one is only declared.
    pub fn weight(&mut self, dims: &[i64]) -> String {
        let n = dims.iter().try_fold(1i64, |a, &d| a.checked_mul(d));
        let float_data = match n {
            Some(n) if n < 1 << 20 => vec![0.0; n as usize],
            _ => Vec::new(),
        };
        self.init(
            'w',
            TensorProto {
                dims: dims.to_vec(),
                data_type: DataType::Float as i32,
                float_data,
                ..Default::default()
            },
        )
    }

    /// A float constant of these values.
    pub fn floats(&mut self, v: &[f32]) -> String {
        self.init(
            'f',
            TensorProto {
                dims: vec![v.len() as i64],
                data_type: DataType::Float as i32,
                float_data: v.to_vec(),
                ..Default::default()
            },
        )
    }

    /// An int64 constant.
    pub fn ints(&mut self, v: &[i64]) -> String {
        self.init(
            'i',
            TensorProto {
                dims: vec![v.len() as i64],
                data_type: DataType::Int64 as i32,
                int64_data: v.to_vec(),
                ..Default::default()
            },
        )
    }

    /// A node with `nout` outputs named after it.
    pub fn node_n(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        nout: usize,
        attrs: Vec<AttributeProto>,
    ) -> Vec<String> {
        let outs: Vec<String> = (0..nout).map(|i| format!("{name}:{i}")).collect();
        self.nodes.push(NodeProto {
            name: name.into(),
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outs.clone(),
            attribute: attrs,
            ..Default::default()
        });
        outs
    }

    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        attrs: Vec<AttributeProto>,
    ) -> String {
        self.node_n(op, name, inputs, 1, attrs).remove(0)
    }

    /// A conv of `k` output channels with a `r` x `s` kernel.
    pub fn conv(
        &mut self,
        name: &str,
        x: &str,
        cin: i64,
        k: i64,
        rs: (i64, i64),
        attrs: Vec<AttributeProto>,
    ) -> String {
        let group = attrs.iter().find(|a| a.name == "group").map_or(1, |a| a.i);
        let w = self.weight(&[k, cin / group, rs.0, rs.1]);
        self.node("Conv", name, &[x, &w], attrs)
    }

    /// Keeps initializer `name`'s data in file `location` (relative to the
    /// model's folder) at `offset`, as torch's dynamo exporter does.
    pub fn external(&mut self, name: &str, location: &str, offset: u64) {
        let t = self.inits.iter_mut().find(|t| t.name == name).unwrap();
        let entry = |key: &str, value: String| StringStringEntryProto {
            key: key.into(),
            value,
        };
        let n: i64 = t.dims.iter().product();
        t.float_data.clear();
        t.data_location = Some(tensor_proto::DataLocation::External as i32);
        t.external_data = vec![
            entry("location", location.into()),
            entry("offset", offset.to_string()),
            entry("length", (n * 4).to_string()),
        ];
    }

    pub fn bytes(&self, outputs: &[&str]) -> Vec<u8> {
        let mut inputs = vec![value_info("x", &self.input)];
        for name in &self.extra_inputs {
            inputs.push(value_info(name, &self.input));
        }
        ModelProto {
            ir_version: 8,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: 17,
            }],
            graph: Some(GraphProto {
                name: "g".into(),
                node: self.nodes.clone(),
                initializer: self.inits.clone(),
                input: inputs,
                value_info: self
                    .value_info
                    .iter()
                    .map(|(n, d)| value_info(n, d))
                    .collect(),
                output: outputs
                    .iter()
                    .map(|o| ValueInfoProto {
                        name: o.to_string(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .encode_to_vec()
    }

    pub fn import_opts(&self, outputs: &[&str], opts: &ImportOptions) -> anyhow::Result<Imported> {
        import_bytes(&self.bytes(outputs), "test.onnx", opts)
    }

    pub fn import(&self, outputs: &[&str]) -> Imported {
        self.import_opts(outputs, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{e:#}"))
    }

    pub fn error(&self, outputs: &[&str]) -> String {
        let e = self
            .import_opts(outputs, &ImportOptions::default())
            .expect_err("the import should fail");
        format!("{e:#}")
    }
}
