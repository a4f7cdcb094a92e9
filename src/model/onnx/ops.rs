//! The operator registry: how each ONNX operator enters the layer graph.

use tract_onnx::pb::NodeProto;

use crate::network::VectorOp;

/// What an ONNX operator becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// A convolution layer (grouped and depthwise included).
    Conv,
    /// A transposed convolution: a conv that upsamples.
    ConvTranspose,
    /// A resize layer (nearest, bilinear or bicubic), or a pass-through
    /// when the size does not change.
    Resize,
    /// A fully-connected layer: an activation times a constant weight.
    Dense,
    /// An `Einsum`: a product of two activations when it is a batched
    /// matrix product.
    Einsum,
    /// A pooling layer, or a pass-through for a 1x1 window of stride 1.
    Pool,
    /// A pooling layer over the whole map.
    GlobalPool,
    /// An eltwise layer when it combines distinct activations of one shape;
    /// otherwise (a constant, a per-channel scale, `x * f(x)`) a
    /// pass-through of the larger activation.
    Binary,
    /// Several predecessors, concatenated along channels.
    Concat,
    /// Channel ranges of one activation, one per output.
    Split,
    /// One channel range of an activation.
    Slice,
    /// No MACs in this model: the activation passes through.
    PassThrough,
    /// A view that may move the channel axis last or back.
    Transpose,
    /// A vector layer along the channels of each position.
    Vector(VectorOp),
    /// Picks along one axis by constant indices: an embedding lookup when
    /// the table is a weight, else a slice of an activation.
    Gather,
    /// Computes a shape, not a feature map.
    ShapeOf,
    /// Picks elements of a constant table by computed indices (position
    /// ids from token ids): the indices pass through.
    IndexPick,
    /// `Where(cond, x, y)`: a mask applied to an activation, which passes
    /// through.
    Select,
}

/// Operators and their roles.
const REGISTRY: &[(&str, Role)] = &[
    ("Conv", Role::Conv),
    ("ConvTranspose", Role::ConvTranspose),
    ("Resize", Role::Resize),
    ("Gemm", Role::Dense),
    ("MatMul", Role::Dense),
    ("Einsum", Role::Einsum),
    ("MaxPool", Role::Pool),
    ("AveragePool", Role::Pool),
    ("GlobalAveragePool", Role::GlobalPool),
    ("GlobalMaxPool", Role::GlobalPool),
    ("ReduceMean", Role::GlobalPool),
    ("ReduceMax", Role::GlobalPool),
    ("Add", Role::Binary),
    ("Sum", Role::Binary),
    ("Mul", Role::Binary),
    ("Sub", Role::Binary),
    ("Div", Role::Binary),
    ("Max", Role::Binary),
    ("Min", Role::Binary),
    ("Concat", Role::Concat),
    ("LayerNormalization", Role::Vector(VectorOp::LayerNorm)),
    ("Softmax", Role::Vector(VectorOp::Softmax)),
    ("RMSNormalization", Role::Vector(VectorOp::RmsNorm)),
    ("Gather", Role::Gather),
    ("LogSoftmax", Role::Vector(VectorOp::Softmax)),
    ("Split", Role::Split),
    ("Slice", Role::Slice),
    ("Shape", Role::ShapeOf),
    // Index and mask arithmetic on token ids (RoBERTa's position ids from
    // its padding mask): no MACs.
    ("Equal", Role::PassThrough),
    ("Not", Role::PassThrough),
    ("And", Role::PassThrough),
    ("Or", Role::PassThrough),
    ("Greater", Role::PassThrough),
    ("Less", Role::PassThrough),
    ("GreaterOrEqual", Role::PassThrough),
    ("LessOrEqual", Role::PassThrough),
    ("CumSum", Role::PassThrough),
    ("GatherElements", Role::IndexPick),
    ("Where", Role::Select),
    // Activation functions: elementwise, no MACs.
    ("Relu", Role::PassThrough),
    ("Clip", Role::PassThrough),
    ("Sigmoid", Role::PassThrough),
    ("HardSigmoid", Role::PassThrough),
    ("HardSwish", Role::PassThrough),
    ("Tanh", Role::PassThrough),
    ("LeakyRelu", Role::PassThrough),
    ("PRelu", Role::PassThrough),
    ("Elu", Role::PassThrough),
    ("Selu", Role::PassThrough),
    ("Softplus", Role::PassThrough),
    ("Erf", Role::PassThrough),
    ("Gelu", Role::PassThrough),
    ("Neg", Role::PassThrough),
    // The square, root and reciprocal of a decomposed RMSNorm, whose cost
    // the reduction over channels carries (see `ReduceMean`); GELU's cube.
    ("Pow", Role::PassThrough),
    ("Sqrt", Role::PassThrough),
    ("Reciprocal", Role::PassThrough),
    // Folded into the conv before it (scale and shift of its outputs).
    ("BatchNormalization", Role::PassThrough),
    // No-ops at inference.
    ("Dropout", Role::PassThrough),
    ("Identity", Role::PassThrough),
    ("Cast", Role::PassThrough),
    // Views of the same data: a reshape between a conv and an FC, and the
    // Reshape-Transpose-Reshape of a channel shuffle.
    ("Flatten", Role::PassThrough),
    ("Reshape", Role::PassThrough),
    ("Transpose", Role::Transpose),
    ("Squeeze", Role::PassThrough),
    ("Unsqueeze", Role::PassThrough),
    // Broadcasts K and V to the query heads sharing them (grouped-query
    // attention): a view.
    ("Expand", Role::PassThrough),
    // Folded into the next conv or pool, whose input extent includes it.
    ("Pad", Role::PassThrough),
];

/// Why some operators are refused, beyond "not supported".
const REASONS: &[(&str, &str)] = &[
    (
        "Upsample",
        "deprecated since opset 10; export with opset 11 or later, which writes Resize",
    ),
    ("LSTM", "recurrent layers are not imported from ONNX"),
    ("GRU", "recurrent layers are not imported from ONNX"),
    ("RNN", "recurrent layers are not imported from ONNX"),
];

/// Whether a node's operator is ONNX's own (not another domain's of the
/// same name).
fn onnx_domain(n: &NodeProto) -> bool {
    matches!(n.domain.as_str(), "" | "ai.onnx")
}

/// The node's role; `None` for operators nnsched does not model, and for
/// every operator of another domain.
pub(super) fn role(n: &NodeProto) -> Option<Role> {
    REGISTRY
        .iter()
        .find(|(name, _)| onnx_domain(n) && *name == n.op_type)
        .map(|&(_, r)| r)
}

/// Why the node cannot be imported.
pub(super) fn refusal(n: &NodeProto) -> String {
    if !onnx_domain(n) {
        return format!("operator of domain '{}', unsupported", n.domain);
    }
    REASONS
        .iter()
        .find(|(name, _)| *name == n.op_type)
        .map_or("unsupported operator", |&(_, r)| r)
        .to_string()
}
