//! ONNX import: small graphs built here, op by op, and the shipped models.

#![cfg(feature = "onnx")]

mod common;

use common::onnx_graph::*;
use nnsched::hw::Hardware;
use nnsched::network::{ConvForm, FmapShape, Layer, LayerKind, Network, Source, VectorOp};
use nnsched::onnx::{ImportOptions, import, import_bytes};
use nnsched::{SearchOptions, schedule};
fn layer<'a>(net: &'a Network, name: &str) -> &'a Layer {
    let id = net.find(name).unwrap_or_else(|| {
        let names: Vec<&str> = net.layers().iter().map(|l| l.name.as_str()).collect();
        panic!("no layer '{name}' in {names:?}")
    });
    net.layer(id)
}

fn prev_names(net: &Network, name: &str) -> Vec<String> {
    let id = net.find(name).unwrap();
    net.prevs(id)
        .iter()
        .map(|&s| net.source_name(s).to_string())
        .collect()
}

#[test]
fn conv_strides_and_asymmetric_pads() {
    let mut g = Graph::image(3, 32, 32);
    let y = g.conv(
        "/features/features.0/Conv",
        "x",
        3,
        16,
        (3, 3),
        vec![
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[0, 0, 1, 1]),
        ],
    );
    let imp = g.import(&[&y]);
    let net = &imp.network;
    assert_eq!(net.len(), 1);
    // (32 + 1 - 3) / 2 + 1 = 16 outputs.
    assert_eq!(
        *layer(net, "features.0"),
        Layer::conv(3, 16, (16, 16), (3, 3), (2, 2)).unwrap()
    );
    assert_eq!(prev_names(net, "features.0"), vec![Network::INPUT]);
    assert_eq!(imp.batch, Some(1));
}

#[test]
fn grouped_and_depthwise_convs_are_single_layers() {
    let mut g = Graph::image(32, 8, 8);
    let a = g.conv(
        "grouped",
        "x",
        32,
        64,
        (3, 3),
        vec![attr_int("group", 4), attr_ints("pads", &[1, 1, 1, 1])],
    );
    let b = g.conv(
        "depthwise",
        &a,
        64,
        64,
        (3, 3),
        vec![attr_int("group", 64), attr_ints("pads", &[1, 1, 1, 1])],
    );
    let net = g.import(&[&b]).network;
    let ga = layer(&net, "grouped");
    assert_eq!(
        *ga,
        Layer::grouped_conv(32, 64, (8, 8), (3, 3), (1, 1), 4).unwrap()
    );
    assert_eq!(ga.total_ops(1), 64 * 8 * 8 * 8 * 9);
    let gb = layer(&net, "depthwise");
    assert_eq!(gb.groups(), 64);
    assert_eq!(gb.total_ops(1), 64 * 8 * 8 * 9);
    assert_eq!(gb.type_name(), "dwconv");
}

#[test]
fn same_upper_padding_with_an_even_kernel() {
    let mut g = Graph::image(8, 10, 10);
    let y = g.conv(
        "c",
        "x",
        8,
        8,
        (4, 4),
        vec![attr_str("auto_pad", "SAME_UPPER")],
    );
    let net = g.import(&[&y]).network;
    // Output keeps the size; the window reads 10 + 3 rows with padding.
    assert_eq!(
        *layer(&net, "c"),
        Layer::conv(8, 8, (10, 10), (4, 4), (1, 1)).unwrap()
    );
}

#[test]
fn dilated_and_1d_convs() {
    // A dilated 3x3 (an ASPP branch): the MACs of a 3x3, the input window
    // of a 5x5.
    let mut g = Graph::image(8, 16, 16);
    let y = g.conv(
        "/aspp/dil/Conv",
        "x",
        8,
        8,
        (3, 3),
        vec![
            attr_ints("dilations", &[2, 2]),
            attr_ints("pads", &[2, 2, 2, 2]),
        ],
    );
    let net = g.import(&[&y]).network;
    let l = layer(&net, "aspp.dil");
    assert_eq!(l.dilation(), (2, 2));
    assert_eq!((l.hfil(), l.hofm(), l.hifm()), (3, 16, 20));
    assert_eq!(l.total_ops(1), 8 * 16 * 16 * 8 * 9);

    // A 1D conv over an NCL input is a conv of one row.
    let mut g = Graph::new(&[Some(1), Some(4), Some(16)]);
    let w = g.weight(&[8, 4, 3]);
    let y = g.node(
        "Conv",
        "/tcn/Conv",
        &["x", &w],
        vec![attr_ints("pads", &[1, 1]), attr_ints("dilations", &[2])],
    );
    let net = g.import(&[&y]).network;
    let l = layer(&net, "tcn");
    assert_eq!((l.hofm(), l.wofm(), l.hfil(), l.wfil()), (1, 14, 1, 3));
    assert_eq!(l.dilation(), (1, 2));
    assert_eq!(l.total_ops(1), 8 * 14 * 4 * 3);
}

#[test]
fn convs_that_are_not_modelled_name_the_node() {
    let mut g = Graph::image(4, 16, 16);
    let c = g.conv("c", "x", 4, 4, (1, 1), vec![]);
    let shape = g.ints(&[1, 4, 256]);
    let sq = g.node("Reshape", "sq", &[&c, &shape], vec![]);
    let w = g.weight(&[8, 4, 3]);
    let y = g.node("Conv", "conv1d", &[&sq, &w], vec![]);
    let e = g.error(&[&y]);
    assert!(
        e.contains("node 'conv1d' (Conv): reads 1x256 maps its producer made as 16x16"),
        "{e}"
    );

    // A kernel that does not split evenly into the stride's phases.
    let mut g = Graph::image(8, 8, 8);
    let w = g.weight(&[8, 4, 3, 3]);
    let y = g.node(
        "ConvTranspose",
        "/up/ConvTranspose",
        &["x", &w],
        vec![attr_ints("strides", &[2, 2])],
    );
    let e = g.error(&[&y]);
    assert!(
        e.contains("node '/up/ConvTranspose' (ConvTranspose): a transposed convolution's kernel (3) must be a multiple of its stride (2)"),
        "{e}"
    );

    let mut g = Graph::image(8, 8, 8);
    let scales = g.floats(&[1.0, 1.0, 1.5, 1.5]);
    let y = g.node("Resize", "resize", &["x", "", &scales], vec![]);
    let e = g.error(&[&y]);
    assert!(
        e.contains("node 'resize' (Resize): resizes 8x8 maps to 12x12, not by integer factors"),
        "{e}"
    );
}

/// Transposed convs and resizes are layers that upsample: a transposed
/// conv of stride s does the MACs of its kernel over s x s outputs per
/// input, and holds the whole kernel; a resize reads one (nearest) or two
/// (linear) input rows and columns per output.
#[test]
fn transposed_convs_and_resizes_upsample() {
    let mut g = Graph::image(8, 8, 8);
    let w = g.weight(&[8, 2, 4, 4]);
    let t = g.node(
        "ConvTranspose",
        "/up/ConvTranspose",
        &["x", &w],
        vec![
            attr_ints("strides", &[2, 2]),
            attr_ints("pads", &[1, 1, 1, 1]),
            attr_int("group", 2),
        ],
    );
    let scales = g.floats(&[1.0, 1.0, 2.0, 2.0]);
    let near = g.node("Resize", "/near/Resize", &[&t, "", &scales], vec![]);
    let lin = g.node(
        "Resize",
        "/lin/Resize",
        &[&near, "", &scales],
        vec![attr_str("mode", "linear")],
    );
    let half = g.floats(&[1.0, 1.0, 0.5, 0.5]);
    let down = g.node("Resize", "/down/Resize", &[&lin, "", &half], vec![]);
    let net = g.import(&[&down]).network;
    let t = layer(&net, "up");
    assert_eq!(
        *t,
        Layer::transposed_conv(8, 4, (16, 16), (4, 4), (2, 2), 2).unwrap()
    );
    // torch counts every input times every kernel tap: 8 x 8 inputs, 4 x 4
    // taps, 4 input by 2 output channels per group, 2 groups.
    assert_eq!(t.total_ops(1), 8 * 8 * 16 * 4 * 2 * 2);
    assert_eq!(t.total_filter_size(), 8 * 2 * 16);
    assert_eq!((t.hifm(), t.wifm()), (9, 9));
    assert_eq!(
        *layer(&net, "near"),
        Layer::resize(4, (32, 32), (1, 1), (1, 1), (2, 2)).unwrap()
    );
    let lin = layer(&net, "lin");
    assert_eq!(
        (lin.type_name(), lin.hofm(), lin.hifm()),
        ("resize", 64, 33)
    );
    assert_eq!(lin.total_ops(1), 4 * 64 * 64 * 4);
    assert_eq!(
        *layer(&net, "down"),
        Layer::resize(4, (32, 32), (1, 1), (2, 2), (1, 1)).unwrap()
    );
    let s = schedule_and_evaluate(&net, 2);
    let up = s.layers.iter().find(|l| l.name == "up").unwrap();
    assert_eq!(up.shape.upsampling, [2, 2]);
    assert_eq!((up.shape.hfil, up.shape.groups), (2, 2));
}

#[test]
fn gemm_after_flatten_keeps_the_conv_geometry() {
    let mut g = Graph::image(3, 8, 8);
    let c = g.conv("/conv/Conv", "x", 3, 16, (3, 3), vec![]);
    let r = g.node("Relu", "/relu/Relu", &[&c], vec![]);
    let f = g.node(
        "Flatten",
        "/flatten/Flatten",
        &[&r],
        vec![attr_int("axis", 1)],
    );
    let w = g.weight(&[10, 16 * 6 * 6]);
    let y = g.node("Gemm", "/fc/Gemm", &[&f, &w], vec![attr_int("transB", 1)]);
    let w2 = g.weight(&[10, 5]);
    let z = g.node("MatMul", "/head/MatMul", &[&y, &w2], vec![]);
    let net = g.import(&[&z]).network;
    assert_eq!(net.len(), 3);
    assert_eq!(*layer(&net, "fc"), Layer::fc(16, 10, (6, 6)).unwrap());
    assert_eq!(*layer(&net, "head"), Layer::fc(10, 5, (1, 1)).unwrap());
    assert_eq!(prev_names(&net, "fc"), vec!["conv"]);
}

/// A product of two activations is a layer whose second operand is
/// another producer's output, read from memory.
#[test]
fn products_of_two_activations_are_matmul_layers() {
    let mut g = Graph::new(&[Some(1), Some(16)]);
    let t = g.node("Transpose", "t", &["x"], vec![attr_ints("perm", &[1, 0])]);
    let y = g.node("MatMul", "/attn/MatMul", &["x", &t], vec![]);
    let net = g.import(&[&y]).network;
    let id = net.find("attn").unwrap();
    let mm = net.layer(id);
    assert_eq!(mm.type_name(), "matmul");
    assert_eq!(
        (mm.nifm(), mm.nofm(), mm.wofm(), mm.total_ops(1)),
        (16, 1, 1, 16)
    );
    assert_eq!(net.operands(id), [Source::Input]);
}

/// GPT-NeoX's fused projection holds q, k and v side by side within each
/// head: a split of the last axis of `[B, heads, T, 3 d]` takes each head's
/// range, so q is channels 0..8 and 24..32 of the projection.
#[test]
fn splits_within_heads_take_every_heads_range() {
    let mut g = Graph::new(&[Some(1), Some(4), Some(16)]);
    let w = g.weight(&[16, 48]);
    let qkv = g.node("MatMul", "/qkv/MatMul", &["x", &w], vec![]);
    let shape = g.ints(&[1, 4, 2, 24]);
    let heads = g.node("Reshape", "/heads/Reshape", &[&qkv, &shape], vec![]);
    let t = g.node(
        "Transpose",
        "/heads/Transpose",
        &[&heads],
        vec![attr_ints("perm", &[0, 2, 1, 3])],
    );
    let sizes = g.ints(&[8, 8, 8]);
    let qkv3 = g.node_n(
        "Split",
        "/split/Split",
        &[&t, &sizes],
        3,
        vec![attr_int("axis", 3)],
    );
    let (q, k) = (&qkv3[0], &qkv3[1]);
    let kt = g.node(
        "Transpose",
        "/kt/Transpose",
        &[k],
        vec![attr_ints("perm", &[0, 1, 3, 2])],
    );
    let y = g.node("MatMul", "/attn/MatMul", &[q, &kt], vec![]);
    let net = g.import(&[&y]).network;
    let id = net.find("attn").unwrap();
    assert_eq!(*net.layer(id), Layer::matmul(2, 4, 8, 4).unwrap());
    assert_eq!(net.prev_channels(id), [0..8, 24..32]);
    assert_eq!(net.operands(id), [Source::Layer(net.find("qkv").unwrap())]);
}

#[test]
fn pools_global_pools_and_unit_pools() {
    let mut g = Graph::image(8, 16, 16);
    let m = g.node(
        "MaxPool",
        "/mp/MaxPool",
        &["x"],
        vec![
            attr_ints("kernel_shape", &[3, 3]),
            attr_ints("strides", &[2, 2]),
            attr_int("ceil_mode", 1),
        ],
    );
    let a = g.node(
        "AveragePool",
        "/unit/AveragePool",
        &[&m],
        vec![attr_ints("kernel_shape", &[1, 1])],
    );
    let gp = g.node("GlobalAveragePool", "/gap/GlobalAveragePool", &[&a], vec![]);
    let m2 = g.node(
        "ReduceMean",
        "/mean/ReduceMean",
        &[&m],
        vec![attr_ints("axes", &[2, 3]), attr_int("keepdims", 1)],
    );
    let s = g.node("Add", "/sum/Add", &[&gp, &m2], vec![]);
    let net = g.import(&[&s]).network;
    // ceil((16 - 3) / 2) + 1 = 8 outputs.
    assert_eq!(
        *layer(&net, "mp"),
        Layer::pool(8, (8, 8), (3, 3), (2, 2)).unwrap()
    );
    assert!(net.find("unit").is_none(), "a 1x1/1 pool passes through");
    assert_eq!(
        *layer(&net, "gap"),
        Layer::pool(8, (1, 1), (8, 8), (8, 8)).unwrap()
    );
    assert_eq!(
        *layer(&net, "mean"),
        Layer::pool(8, (1, 1), (8, 8), (8, 8)).unwrap()
    );
    assert_eq!(prev_names(&net, "gap"), vec!["mp"]);
    assert_eq!(*layer(&net, "sum"), Layer::eltwise(8, (1, 1), 2).unwrap());
    assert_eq!(prev_names(&net, "sum"), vec!["gap", "mean"]);

    // A global pool over 56 x 56 positions reads them in rows of 16 (a
    // window row per PE fits a small register file): same data, same ops.
    let mut g = Graph::image(4, 56, 56);
    let gp = g.node(
        "GlobalAveragePool",
        "/gap/GlobalAveragePool",
        &["x"],
        vec![],
    );
    let net = g.import(&[&gp]).network;
    let gap = layer(&net, "gap");
    assert_eq!(*gap, Layer::pool(4, (1, 1), (196, 16), (196, 16)).unwrap());
    assert_eq!(gap.total_ops(1), 4 * 56 * 56);
    assert!(net.get(net.find("gap").unwrap()).reshapes);
}

#[test]
fn residual_add_squeeze_excitation_and_swish() {
    let mut g = Graph::image(16, 8, 8);
    let a = g.conv(
        "/b/conv1/Conv",
        "x",
        16,
        16,
        (3, 3),
        vec![attr_ints("pads", &[1, 1, 1, 1])],
    );
    // Swish: x * sigmoid(x) is an activation function.
    let sg = g.node("Sigmoid", "/b/act/Sigmoid", &[&a], vec![]);
    let sw = g.node("Mul", "/b/act/Mul", &[&a, &sg], vec![]);
    // Squeeze and excitation: a per-channel scale of the map.
    let p = g.node(
        "GlobalAveragePool",
        "/b/se/avgpool/GlobalAveragePool",
        &[&sw],
        vec![],
    );
    let f = g.conv("/b/se/fc1/Conv", &p, 16, 4, (1, 1), vec![]);
    let f2 = g.conv("/b/se/fc2/Conv", &f, 4, 16, (1, 1), vec![]);
    let s = g.node("Sigmoid", "/b/se/Sigmoid", &[&f2], vec![]);
    let scaled = g.node("Mul", "/b/se/Mul", &[&sw, &s], vec![]);
    let b = g.conv(
        "/b/conv2/Conv",
        &scaled,
        16,
        16,
        (3, 3),
        vec![attr_ints("pads", &[1, 1, 1, 1])],
    );
    let y = g.node("Add", "/b/Add", &[&b, "x"], vec![]);
    // A constant bias is no layer.
    let bias = g.weight(&[1, 16, 1, 1]);
    let z = g.node("Add", "/bias/Add", &[&y, &bias], vec![]);
    let net = g.import(&[&z]).network;
    let names: Vec<&str> = net.layers().iter().map(|l| l.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "b.conv1",
            "b.se.avgpool",
            "b.se.fc1",
            "b.se.fc2",
            "b.conv2",
            "b"
        ]
    );
    assert_eq!(prev_names(&net, "b.conv2"), vec!["b.conv1"]);
    assert_eq!(*layer(&net, "b"), Layer::eltwise(16, (8, 8), 2).unwrap());
    assert_eq!(prev_names(&net, "b"), vec!["b.conv2", Network::INPUT]);
}

#[test]
fn concat_along_channels_feeds_several_predecessors() {
    let mut g = Graph::image(8, 8, 8);
    let a = g.conv("/inc/b1/Conv", "x", 8, 4, (1, 1), vec![]);
    let b = g.conv(
        "/inc/b2/Conv",
        "x",
        8,
        6,
        (3, 3),
        vec![attr_ints("pads", &[1, 1, 1, 1])],
    );
    let c = g.node(
        "Concat",
        "/inc/Concat",
        &[&a, &b, "x"],
        vec![attr_int("axis", 1)],
    );
    let y = g.conv("/out/Conv", &c, 18, 8, (1, 1), vec![]);
    let net = g.import(&[&y]).network;
    assert_eq!(
        prev_names(&net, "out"),
        vec!["inc.b1", "inc.b2", Network::INPUT]
    );
    assert_eq!(layer(&net, "out").nifm(), 18);

    let mut g = Graph::image(8, 8, 8);
    let c = g.node(
        "Concat",
        "/rows/Concat",
        &["x", "x"],
        vec![attr_int("axis", 2)],
    );
    let e = g.error(&[&c]);
    assert!(
        e.contains("node '/rows/Concat' (Concat): works along axis 2"),
        "{e}"
    );
}

#[test]
fn split_slice_and_shuffle_take_channel_ranges() {
    let mut g = Graph::image(16, 8, 8);
    let c = g.conv("/stem/Conv", "x", 16, 16, (1, 1), vec![]);
    let sizes = g.ints(&[6, 10]);
    let parts = g.node_n(
        "Split",
        "/split/Split",
        &[&c, &sizes],
        2,
        vec![attr_int("axis", 1)],
    );
    let a = g.conv("/left/Conv", &parts[1], 10, 10, (1, 1), vec![]);
    let cat = g.node(
        "Concat",
        "/cat/Concat",
        &[&parts[0], &a],
        vec![attr_int("axis", 1)],
    );
    // Channel shuffle of 2 groups: Reshape, Transpose, Reshape.
    let s5 = g.ints(&[1, 2, 8, 8, 8]);
    let r = g.node("Reshape", "/shuf/Reshape", &[&cat, &s5], vec![]);
    let t = g.node(
        "Transpose",
        "/shuf/Transpose",
        &[&r],
        vec![attr_ints("perm", &[0, 2, 1, 3, 4])],
    );
    let s4 = g.ints(&[1, 16, 8, 8]);
    let sh = g.node("Reshape", "/shuf/Reshape_1", &[&t, &s4], vec![]);
    let (st, en, ax) = (g.ints(&[4]), g.ints(&[12]), g.ints(&[1]));
    let sl = g.node("Slice", "/slice/Slice", &[&sh, &st, &en, &ax], vec![]);
    let y = g.conv("/right/Conv", &sl, 8, 8, (1, 1), vec![]);
    let net = g.import(&[&y]).network;
    let id = |n: &str| net.find(n).unwrap();
    assert_eq!(net.prevs(id("left")), [Source::Layer(id("stem"))]);
    assert_eq!(net.prev_channels(id("left")).to_vec(), vec![6..16u64]);
    // Channels 4..12 of [stem 0..6, left 0..10]: stem 4..6, left 0..6.
    assert_eq!(
        net.prevs(id("right")),
        [Source::Layer(id("stem")), Source::Layer(id("left"))]
    );
    assert_eq!(net.prev_channels(id("right")), [4..6, 0..6]);

    let mut g = Graph::image(16, 8, 8);
    let (st, en, ax) = (g.ints(&[0]), g.ints(&[4]), g.ints(&[2]));
    let sl = g.node("Slice", "/crop/Slice", &["x", &st, &en, &ax], vec![]);
    let e = g.error(&[&sl]);
    assert!(
        e.contains("node '/crop/Slice' (Slice): slices along axis 2"),
        "{e}"
    );
}

#[test]
fn unsupported_operators_stop_or_pass_through() {
    let mut g = Graph::image(8, 8, 8);
    let a = g.node("LRN", "/norm/LRN", &["x"], vec![attr_int("size", 5)]);
    let y = g.conv("/c/Conv", &a, 8, 8, (1, 1), vec![]);
    let e = g.error(&[&y]);
    assert!(
        e.contains("test.onnx: node '/norm/LRN' (LRN): unsupported operator"),
        "{e}"
    );
    let opts = ImportOptions {
        skip_unsupported: true,
        ..Default::default()
    };
    let imp = g.import_opts(&[&y], &opts).unwrap();
    assert_eq!(imp.skipped, ["/norm/LRN (LRN)"]);
    assert_eq!(imp.network.len(), 1);

    // Through the library: a refusal a caller can match, naming no flag.
    let dir = common::scratch("unsupported");
    let path = dir.join("lrn.onnx");
    std::fs::write(&path, g.bytes(&[&y])).unwrap();
    match nnsched::load_model(path.to_str().unwrap(), &Default::default()) {
        Err(nnsched::Error::Model { message, issue }) => {
            assert_eq!(issue, nnsched::ModelIssue::Unsupported);
            assert!(
                message.ends_with("(LRN): unsupported operator"),
                "{message}"
            );
        }
        other => panic!("not refused as unsupported: {other:?}"),
    }
}

#[test]
fn batch_names_and_bad_files() {
    // A symbolic batch is left to the caller; names are unique.
    let mut g = Graph::new(&[None, Some(4), Some(8), Some(8)]);
    let a = g.conv("/blk/Conv", "x", 4, 4, (1, 1), vec![]);
    let b = g.conv("/blk/Conv_1", &a, 4, 4, (1, 1), vec![]);
    let c = g.conv("", &b, 4, 4, (1, 1), vec![]);
    let imp = g.import(&[&c]);
    assert_eq!(imp.batch, None);
    let names: Vec<&str> = imp
        .network
        .layers()
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["blk", "blk_2", ":0"]);

    let mut g2 = Graph::new(&[Some(8), Some(4), Some(8), Some(8)]);
    let y = g2.conv("c", "x", 4, 4, (1, 1), vec![]);
    assert_eq!(g2.import(&[&y]).batch, Some(8));

    let bytes = g2.bytes(&[&y]);
    let e = import_bytes(
        &bytes[..bytes.len() / 2],
        "cut.onnx",
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(
        format!("{e:#}").starts_with("cut.onnx: not an ONNX model"),
        "{e:#}"
    );

    let mut g = Graph::image(4, 8, 8);
    let shape = g.ints(&[1 << 20, 1 << 20]);
    let big = g.node(
        "ConstantOfShape",
        "/huge/ConstantOfShape",
        &[&shape],
        vec![],
    );
    let y = g.node("Add", "add", &["x", &big], vec![]);
    let e = g.error(&[&y]);
    assert!(e.contains("node '/huge/ConstantOfShape' (ConstantOfShape) declares a tensor of 1099511627776 elements"), "{e}");
}

// ---- The shipped models.

fn model(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("models/{name}.onnx"))
}

/// Each shipped model imports with the convs, grouped convs, linear layers
/// and MACs that torch counts for it (`models/expected.py`).
#[test]
fn shipped_models_have_their_own_macs() {
    let text = std::fs::read_to_string(common::fixture_path("onnx_models.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let expected = expected.as_object().unwrap();
    assert_eq!(expected.len(), 12);
    for (name, e) in expected {
        let net = import(&model(name), &ImportOptions::default())
            .unwrap_or_else(|err| panic!("{name}: {err:#}"))
            .network;
        let (mut convs, mut grouped, mut depthwise, mut dense, mut macs) = (0, 0, 0, 0, 0);
        for l in net.layers() {
            if let LayerKind::Conv {
                form, groups, nifm, ..
            } = l.layer.kind()
            {
                macs += l.layer.total_ops(1);
                if form == ConvForm::Fc {
                    dense += 1;
                    continue;
                }
                convs += 1;
                if groups > 1 && groups == nifm && groups == l.layer.nofm() {
                    depthwise += 1;
                } else if groups > 1 {
                    grouped += 1;
                }
            }
        }
        let n = |k: &str| e[k].as_u64().unwrap();
        assert_eq!(
            (convs, grouped, depthwise, dense, macs),
            (
                n("convs"),
                n("grouped_convs"),
                n("depthwise_convs"),
                n("dense"),
                n("macs")
            ),
            "{name}"
        );
    }
}

/// Each shipped model schedules on the shipped Eyeriss and TETRIS.
#[test]
fn shipped_models_schedule() {
    let hws: Vec<Hardware> = ["eyeriss", "tetris"]
        .iter()
        .map(|h| {
            Hardware::load(
                &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("hw/{h}.yaml")),
            )
            .unwrap()
        })
        .collect();
    for name in [
        "alexnet",
        "vgg16",
        "resnet50",
        "googlenet",
        "inception_v3",
        "densenet121",
        "mobilenet_v2",
        "efficientnet_b0",
        "shufflenet_v2",
        "resnext50",
        "squeezenet",
        "mlp",
    ] {
        let net = import(&model(name), &ImportOptions::default())
            .unwrap()
            .network;
        for hw in &hws {
            let mut cfg = SearchOptions::new(1);
            cfg.solve_loopblocking = true;
            let s =
                schedule(&net, hw, &cfg).unwrap_or_else(|e| panic!("{name} on {}: {e}", hw.name));
            assert_eq!(s.layers.len(), net.len(), "{name}");
            let ops: f64 = net
                .layers()
                .iter()
                .map(|l| l.layer.total_ops(1) as f64)
                .sum();
            assert!(
                common::rel_close(s.totals.ops.0, ops, 1e-12),
                "{name}: {} vs {ops}",
                s.totals.ops.0
            );
        }
    }
}

/// The imported VGG-16 is nn_dataflow's `vgg_net`, layer for layer, and
/// schedules to the same cost.
#[test]
fn imported_vgg16_is_the_builtin_vgg_net() {
    let onnx = import(&model("vgg16"), &ImportOptions::default())
        .unwrap()
        .network;
    let builtin = nnsched::network::zoo::get("vgg_net").unwrap();
    let shapes = |n: &Network| n.layers().iter().map(|l| l.layer).collect::<Vec<_>>();
    assert_eq!(shapes(&onnx), shapes(&builtin));
    let hw = Hardware::load(
        &std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hw/tetris.yaml"),
    )
    .unwrap();
    let mut cfg = SearchOptions::new(2);
    cfg.solve_loopblocking = true;
    cfg.partition.hybrid = true;
    let a = schedule(&onnx, &hw, &cfg).unwrap().totals;
    let b = schedule(&builtin, &hw, &cfg).unwrap().totals;
    assert!(a.cost > 0.0);
    assert_eq!(a.cost, b.cost);
    assert_eq!(a.time, b.time);
    assert_eq!(a.noc_hops, b.noc_hops);
}

/// Transformers, LLMs (prefill and one decode step with a KV cache), ViT
/// and segmentation models import with the MACs torch counts for them,
/// attention's activation products included (`models/export_transformers.py`),
/// schedule, and evaluate to the same schedule.
#[test]
fn transformer_models_have_their_own_macs() {
    let text = std::fs::read_to_string(common::fixture_path("transformer_models.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    // (model, activation products, vector layers, embeddings, resizes,
    // transposed convs)
    let models = [
        ("bert_base", 24, 37, 1, 0, 0),
        ("gpt2", 24, 37, 1, 0, 0),
        ("gpt2_decode", 24, 37, 1, 0, 0),
        ("llama_tiny", 8, 13, 1, 0, 0),
        ("vit_b_16", 24, 37, 0, 0, 0),
        ("swin_t", 24, 41, 0, 0, 0),
        // Position ids computed from the token ids' padding mask.
        ("roberta_base", 24, 37, 3, 0, 0),
        // Half of each head rotated (partial RoPE).
        ("phi_tiny", 4, 5, 1, 0, 0),
        // Attention over patches unfolded from maps and folded back.
        ("mobilevit_s", 18, 30, 0, 0, 0),
        // Window and grid attention as Einsums.
        ("maxvit_t", 44, 67, 0, 0, 0),
        ("fcn_resnet50", 0, 0, 0, 1, 0),
        ("lraspp_mobilenet_v3", 0, 0, 0, 2, 0),
        // ASPP's image pooling is resized from 1x1 back to the map.
        ("deeplabv3_mobilenet_v3", 0, 0, 0, 2, 0),
        ("unet_small", 0, 0, 0, 1, 2),
    ];
    for (name, products, vectors, embeddings, resizes, transposed) in models {
        // Phi is exported with a symbolic sequence length, counted at 64.
        let opts = ImportOptions {
            dims: (name == "phi_tiny")
                .then(|| ("sequence".into(), 64))
                .into_iter()
                .collect(),
            ..Default::default()
        };
        let net = import(&model(name), &opts)
            .unwrap_or_else(|err| panic!("{name}: {err:#}"))
            .network;
        let (mut macs, mut product_macs, mut counts) = (0, 0, (0, 0, 0, 0, 0));
        for l in net.layers() {
            let ops = l.layer.total_ops(1);
            match l.layer.kind() {
                LayerKind::Conv { form, .. } => {
                    macs += ops;
                    if form == ConvForm::MatMul {
                        product_macs += ops;
                        counts.0 += 1;
                    }
                    if l.layer.up() != (1, 1) {
                        counts.4 += 1;
                    }
                }
                LayerKind::Vector(VectorOp::Embedding) => counts.2 += 1,
                LayerKind::Vector(_) => counts.1 += 1,
                LayerKind::Resize { .. } => counts.3 += 1,
                _ => {}
            }
        }
        let e = &expected[name];
        assert_eq!(
            (macs, product_macs),
            (
                e["macs"].as_u64().unwrap(),
                e["product_macs"].as_u64().unwrap()
            ),
            "{name}"
        );
        assert_eq!(
            counts,
            (products, vectors, embeddings, resizes, transposed),
            "{name}"
        );
        let s = schedule_and_evaluate(&net, 1);
        let typed = |t: &str| s.layers.iter().filter(|l| l.type_name == t).count();
        assert_eq!(typed("matmul"), products, "{name}");
        assert_eq!(typed("resize"), resizes, "{name}");
        // And on TANGRAM's small register files and buffers, pipelined.
        let hw = nnsched::load_hardware("tangram").unwrap();
        let mut o = SearchOptions::new(1);
        o.partition.hybrid = true;
        o.pipeline.interlayer = true;
        let s = schedule(&net, &hw, &o).unwrap_or_else(|e| panic!("{name}: {e:#}"));
        assert_eq!(nnsched::evaluate(&s, &net, None).unwrap(), s, "{name}");
    }
}

/// A schedule file that runs a product in the segment of the layer that
/// computes its second operand (which it must read from memory) is refused
/// by `evaluate`, naming both.
#[test]
fn evaluate_refuses_a_product_beside_its_operand_producer() {
    let net = import(&model("llama_tiny"), &ImportOptions::default())
        .unwrap()
        .network;
    let hw = nnsched::load_hardware("tetris").unwrap();
    let mut s = schedule(&net, &hw, &SearchOptions::new(1)).unwrap();
    let seg = |s: &nnsched::Schedule, name: &str| {
        s.layers.iter().find(|l| l.name == name).unwrap().segment as usize
    };
    // Q x K^T of the first block, and the K projection feeding it.
    let (k, qk) = (seg(&s, "node_linear_1"), seg(&s, "node_matmul"));
    assert_eq!(qk, k + 1);
    s.segments[k].slots[0].layers.push("node_matmul".into());
    s.segments.remove(qk);
    for l in &mut s.layers {
        if l.name == "node_matmul" {
            (l.segment, l.slot, l.slot_position) = (k as u64, 0, 1);
        } else if l.segment as usize > qk {
            l.segment -= 1;
        }
    }
    let e = nnsched::evaluate(&s, &net, None).unwrap_err().to_string();
    assert!(
        e.contains("layer 'node_matmul': its second operand's producer 'node_linear_1' must run in an earlier segment"),
        "{e}"
    );
}

/// A dynamo export with a symbolic sequence length (every intermediate
/// tensor annotated with it) needs `--dim sequence=N`, and scales with it:
/// the linear layers' MACs with N, the attention products' with N^2.
#[test]
fn symbolic_sequence_lengths_are_set_by_name() {
    let e = import(&model("phi_tiny"), &ImportOptions::default()).unwrap_err();
    assert!(
        format!("{e:#}").contains("input 'input_ids': dimension 'sequence' is symbolic"),
        "{e:#}"
    );
    let macs = |seq: u64| {
        let opts = ImportOptions {
            dims: vec![("sequence".into(), seq)],
            ..Default::default()
        };
        let net = import(&model("phi_tiny"), &opts).unwrap().network;
        let (mut linear, mut products) = (0, 0);
        for l in net.layers() {
            match l.layer.kind() {
                LayerKind::Conv {
                    form: ConvForm::MatMul,
                    ..
                } => products += l.layer.total_ops(1),
                LayerKind::Conv { .. } => linear += l.layer.total_ops(1),
                _ => {}
            }
        }
        (linear, products)
    };
    let (l64, p64) = macs(64);
    assert_eq!(l64 + p64, 104_857_600);
    assert_eq!(macs(512), (l64 * 8, p64 * 64));
    // A size for a dimension the model does not have is a mistake.
    let opts = ImportOptions {
        dims: vec![("sequence".into(), 64), ("seq".into(), 8)],
        ..Default::default()
    };
    let e = import(&model("phi_tiny"), &opts).unwrap_err();
    assert!(
        format!("{e:#}").contains("no input has a dimension named 'seq'"),
        "{e:#}"
    );
}

/// With inter-layer pipelining, an activation product never shares a
/// segment with the producer of its second operand (which it reads from
/// memory), and `evaluate` reproduces the schedule.
#[test]
fn products_read_their_second_operand_from_an_earlier_segment() {
    let net = import(&model("gpt2_decode"), &ImportOptions::default())
        .unwrap()
        .network;
    let hw = nnsched::load_hardware("tangram").unwrap();
    let mut o = SearchOptions::new(1);
    o.partition.hybrid = true;
    o.pipeline.interlayer = true;
    o.pipeline.save_writeback = true;
    let s = schedule(&net, &hw, &o).unwrap();
    assert_eq!(nnsched::evaluate(&s, &net, None).unwrap(), s);
    let segment_of = |name: &str| {
        s.segments
            .iter()
            .position(|g| g.slots.iter().any(|sl| sl.layers.iter().any(|l| l == name)))
            .unwrap()
    };
    let mut pipelined = 0;
    for id in net.ids() {
        if s.segments[segment_of(net.layer_name(id))]
            .slots
            .iter()
            .map(|sl| sl.layers.len())
            .sum::<usize>()
            > 1
        {
            pipelined += 1;
        }
        for &op in net.operands(id) {
            if let Source::Layer(p) = op {
                assert!(
                    segment_of(net.layer_name(p)) < segment_of(net.layer_name(id)),
                    "{}",
                    net.layer_name(id)
                );
            }
        }
    }
    assert!(pipelined > 0, "no layer was pipelined");
}

/// Windowed attention (Swin-T's first stage: 8 x 8 windows of 7 x 7
/// tokens, 3 heads of 32) is a product per window and head: each window's
/// tokens are the rows of its own groups, its keys the second operand; the
/// output regroups into the 56 x 56 map for the residual add.
#[test]
fn windowed_attention_is_a_product_per_window() {
    let net = import(&model("swin_t"), &ImportOptions::default())
        .unwrap()
        .network;
    let qk = layer(&net, "features.1.0.attn_2");
    assert_eq!(*qk, Layer::matmul(64 * 3, 49, 32, 49).unwrap());
    let pv = layer(&net, "features.1.0.attn_4");
    assert_eq!(*pv, Layer::matmul(64 * 3, 49, 49, 32).unwrap());
    let id = net.find("features.1.0.attn_2").unwrap();
    assert!(net.get(id).reshapes);
    let add = layer(&net, "features.1.0");
    assert_eq!((add.nofm(), add.hofm(), add.wofm()), (96, 56, 56));
    // The 4x4 patch embedding is a 1x1 conv over each patch's 48 values.
    assert_eq!(
        *layer(&net, "features.0.0"),
        Layer::conv(48, 96, (56, 56), (1, 1), (1, 1)).unwrap()
    );
}

// ---- The command line on ONNX files.

fn run(args: &[&str]) -> (i32, String, String) {
    let out = common::bin().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn cli_stats_schedule_and_batch_on_onnx_files() {
    let squeeze = model("squeezenet");
    let (rc, out, err) = run(&["stats", squeeze.to_str().unwrap(), "--format", "json"]);
    assert_eq!(rc, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["batch"], 1);
    assert_eq!(v["layers"][0]["name"], "features.0");
    assert_eq!(v["layers"][0]["macs"], 96 * 109 * 109 * 3 * 7 * 7);

    // A symbolic batch: 1 unless set, and said so.
    let dir = common::scratch("onnx-cli");
    let mut g = Graph::new(&[None, Some(4), Some(8), Some(8)]);
    let y = g.conv("/c/Conv", "x", 4, 8, (3, 3), vec![]);
    let path = dir.join("dyn.onnx");
    std::fs::write(&path, g.bytes(&[&y])).unwrap();
    let p = path.to_str().unwrap();
    let hw = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("hw/eyeriss.yaml");
    let out_file = dir.join("s.json");
    let (rc, _, err) = run(&[
        p,
        "--hw",
        hw.to_str().unwrap(),
        "-q",
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(rc, 0, "{err}");
    assert!(
        err.contains("dyn.onnx: the model's batch size is symbolic; using 1 (set it with --batch)"),
        "{err}"
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(doc["batch"], 1);
    assert_eq!(doc["network"], p);
    assert_eq!(doc["layers"][0]["name"], "c");
    assert_eq!(doc["totals"]["ops"], 8 * 6 * 6 * 4 * 9);

    let (rc, _, err) = run(&[
        p,
        "--hw",
        hw.to_str().unwrap(),
        "--batch",
        "3",
        "-q",
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(rc, 0, "{err}");
    assert!(err.is_empty(), "{err}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    assert_eq!(doc["totals"]["ops"], 3 * 8 * 6 * 6 * 4 * 9);
    // The schedule leads back to its model file.
    let (rc, out, err) = run(&["evaluate", out_file.to_str().unwrap()]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("equal to the file's"), "{out}");

    // An unsupported node: exit 2, one line naming file, node and op.
    let mut g = Graph::image(4, 8, 8);
    let y = g.node("LpNormalization", "/norm/LpNorm", &["x"], vec![]);
    let bad = dir.join("bad.onnx");
    std::fs::write(&bad, g.bytes(&[&y])).unwrap();
    let (rc, _, err) = run(&["stats", bad.to_str().unwrap()]);
    assert_eq!(rc, 2);
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.onnx: node '/norm/LpNorm' (LpNormalization): unsupported operator"),
        "{err}"
    );
    let (rc, _, err) = run(&["stats", bad.to_str().unwrap(), "--skip-unsupported"]);
    assert_eq!(rc, 2, "no layer is left: {err}");
    assert!(err.contains("bad.onnx: no convs, dense products, pools or eltwise ops to schedule (passed through: /norm/LpNorm (LpNormalization))"), "{err}");

    // Passed through with a layer after it: a warning, and a schedule.
    let mut g = Graph::image(4, 8, 8);
    let a = g.node("LpNormalization", "/norm/LpNorm", &["x"], vec![]);
    let y = g.conv("/c/Conv", &a, 4, 8, (1, 1), vec![]);
    let skip = dir.join("skip.onnx");
    std::fs::write(&skip, g.bytes(&[&y])).unwrap();
    let (rc, out, err) = run(&["stats", skip.to_str().unwrap(), "--skip-unsupported"]);
    assert_eq!(rc, 0, "{err}");
    assert!(
        err.contains("warning: ")
            && err.contains(
                "skip.onnx: passed through unsupported nodes: /norm/LpNorm (LpNormalization)"
            ),
        "{err}"
    );
    assert!(out.contains("c "), "{out}");
}

/// Inferred shapes are bounded like declared ones: an upsampling passed
/// through would otherwise make the next conv enormous.
#[test]
fn inferred_outputs_above_the_limit_are_refused() {
    let mut g = Graph::image(4, 8, 8);
    let scales = g.floats(&[1.0, 1.0, 10_000.0, 10_000.0]);
    let r = g.node("Resize", "/up/Resize", &["x", "", &scales], vec![]);
    let y = g.conv("/c/Conv", &r, 4, 4, (1, 1), vec![]);
    let e = format!(
        "{:#}",
        g.import_opts(&[&y], &ImportOptions::default()).unwrap_err()
    );
    assert!(
        e.contains("test.onnx: node '/up/Resize' (Resize): output of shape [1, 4, 80000, 80000] is above the limit of 268435456 elements"),
        "{e}"
    );
}

/// Weights in a side file, as torch's current exporter writes them: the
/// file is checked (inside the model's folder, long enough) but its data is
/// never read: 40 GB of weights import at once.
#[test]
fn external_weights_are_checked_not_read() {
    let dir = common::scratch("external");
    let (k, n) = (100_000i64, 100_000i64);
    let mut g = Graph::new(&[Some(1), Some(k)]);
    let w = g.weight(&[k, n]);
    let y = g.node("MatMul", "/fc/MatMul", &["x", &w], vec![]);
    let bytes = (k * n * 4) as u64;
    let opts = ImportOptions {
        max_tensor_elements: 1 << 40,
        ..Default::default()
    };
    let import = |g: &Graph, side: Option<u64>| {
        let model = dir.join("big.onnx");
        std::fs::write(&model, g.bytes(&[&y])).unwrap();
        let data = dir.join("big.onnx.data");
        let _ = std::fs::remove_file(&data);
        if let Some(len) = side {
            // Sparse: nothing is written, and reading it all would not fit
            // in memory.
            std::fs::File::create(&data).unwrap().set_len(len).unwrap();
        }
        import(&model, &opts).map_err(|e| format!("{e:#}"))
    };

    let mut ok = g.clone();
    ok.external(&w, "big.onnx.data", 0);
    let net = import(&ok, Some(bytes)).unwrap().network;
    assert_eq!(
        net.layer(net.find("fc").unwrap()).total_ops(1),
        (k * n) as u64
    );

    let e = import(&ok, Some(bytes - 1)).unwrap_err();
    assert!(
        e.contains("big.onnx: initializer 'w0': external data file 'big.onnx.data' holds 39999999999 bytes, the tensor needs bytes 0..40000000000"),
        "{e}"
    );
    let e = import(&ok, None).unwrap_err();
    assert!(
        e.contains("initializer 'w0': external data file 'big.onnx.data' is missing"),
        "{e}"
    );
    for location in ["../big.onnx.data", "/etc/passwd", "sub/../../x"] {
        let mut bad = g.clone();
        bad.external(&w, location, 0);
        let e = import(&bad, Some(bytes)).unwrap_err();
        assert!(
            e.contains(&format!(
                "initializer 'w0': external data location '{location}' points outside the model's folder"
            )),
            "{e}"
        );
    }
    // In memory there is no folder to look in.
    let e = format!(
        "{:#}",
        import_bytes(&ok.bytes(&[&y]), "mem.onnx", &opts).unwrap_err()
    );
    assert!(
        e.contains("mem.onnx: initializer 'w0' keeps its data in 'big.onnx.data'"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Several model inputs: the first is the network's, the others external
/// inputs read from DRAM; named dimensions get their sizes from the caller.
#[test]
fn several_inputs_and_named_dimensions() {
    let mut g = Graph::new(&[Some(1), Some(4), None, None]);
    g.extra_inputs.push("h");
    let c = g.conv("/c/Conv", "x", 4, 4, (1, 1), vec![]);
    let y = g.node("Add", "/add/Add", &[&c, "h"], vec![]);
    let e = g.error(&[&y]);
    assert!(
        e.contains("test.onnx: input 'x': dimension 'N' is symbolic"),
        "{e}"
    );
    let opts = ImportOptions {
        dims: vec![("N".into(), 6)],
        ..Default::default()
    };
    let imp = g.import_opts(&[&y], &opts).unwrap();
    let net = imp.network;
    assert_eq!(imp.batch, Some(1));
    assert_eq!(net.input(), FmapShape { n: 4, h: 6, w: 6 });
    assert_eq!(net.exts().len(), 1);
    assert_eq!(
        (net.exts()[0].name.as_str(), net.exts()[0].shape),
        ("h", FmapShape { n: 4, h: 6, w: 6 })
    );
    let add = net.find("add").unwrap();
    assert_eq!(
        net.prevs(add),
        [Source::Layer(net.find("c").unwrap()), Source::Ext(0)]
    );

    // Scheduled and evaluated back, the external input laid out by name.
    let s = schedule_and_evaluate(&net, 2);
    assert!(s.ext_layouts.contains_key("h"));

    // Through the command line.
    let dir = common::scratch("dims");
    let path = dir.join("two.onnx");
    std::fs::write(&path, g.bytes(&[&y])).unwrap();
    let (rc, out, err) = run(&[
        "stats",
        path.to_str().unwrap(),
        "--dim",
        "N=6",
        "--format",
        "json",
    ]);
    assert_eq!(rc, 0, "{err}");
    assert!(out.contains("\"ifmap_bytes\": 576"), "{out}");
    let (rc, _, err) = run(&["stats", path.to_str().unwrap(), "--dim", "N=zero"]);
    assert_eq!(rc, 2);
    assert!(
        err.contains("'N=zero': the size of 'N' must be a positive integer"),
        "{err}"
    );
}

/// torch's dynamo exporter leaves out ConstantOfShape's value when it is a
/// float zero and declares the result float; ONNX's default is float32 0.
#[test]
fn constant_of_shape_defaults_to_float32() {
    let mut g = Graph::image(4, 8, 8);
    let shape = g.ints(&[1, 4, 8, 8]);
    let zeros = g.node(
        "ConstantOfShape",
        "/mask/ConstantOfShape",
        &[&shape],
        vec![],
    );
    g.value_info
        .push((zeros.clone(), vec![Some(1), Some(4), Some(8), Some(8)]));
    let c = g.conv("/c/Conv", "x", 4, 4, (1, 1), vec![]);
    let y = g.node("Add", "/add/Add", &[&c, &zeros], vec![]);
    let net = g.import(&[&y]).network;
    assert_eq!(net.len(), 1);
}

/// A linear layer on every token of a sequence (or position of a
/// channels-last map) is a 1x1 conv over the map the tokens form: it
/// reuses its weight across them.
#[test]
fn linear_layers_on_tokens_are_1x1_convs() {
    // [1, 16, 32] tokens: Linear 32->64, bias, ReLU, Linear 64->32.
    let mut g = Graph::new(&[Some(1), Some(16), Some(32)]);
    let w1 = g.weight(&[32, 64]);
    let a = g.node("MatMul", "/fc1/MatMul", &["x", &w1], vec![]);
    let b = g.weight(&[64]);
    let a = g.node("Add", "/fc1/Add", &[&a, &b], vec![]);
    let a = g.node("Relu", "/act/Relu", &[&a], vec![]);
    let w2 = g.weight(&[64, 32]);
    let y = g.node("MatMul", "/fc2/MatMul", &[&a, &w2], vec![]);
    let net = g.import(&[&y]).network;
    assert_eq!(net.input(), FmapShape { n: 32, h: 1, w: 16 });
    let (fc1, fc2) = (layer(&net, "fc1"), layer(&net, "fc2"));
    assert_eq!(
        (fc1.nifm(), fc1.nofm(), fc1.hofm(), fc1.wofm()),
        (32, 64, 1, 16)
    );
    assert_eq!((fc1.hfil(), fc1.wfil(), fc1.type_name()), (1, 1, "conv"));
    assert_eq!(fc1.total_ops(1) + fc2.total_ops(1), 2 * 16 * 32 * 64);
    let s = schedule_and_evaluate(&net, 4);
    assert_eq!(s.totals.ops.0, (4 * 2 * 16 * 32 * 64) as f64);

    // Patch tokens cut from a conv's map (ViT's Reshape and Transpose):
    // the linear layer runs over the 4x4 map, and a Transpose back makes
    // the map a conv reads again.
    let mut g = Graph::image(3, 8, 8);
    let c = g.conv(
        "/patch/Conv",
        "x",
        3,
        8,
        (2, 2),
        vec![attr_ints("strides", &[2, 2])],
    );
    let flat = g.ints(&[1, 8, 16]);
    let t = g.node("Reshape", "/flat/Reshape", &[&c, &flat], vec![]);
    let t = g.node(
        "Transpose",
        "/tok/Transpose",
        &[&t],
        vec![attr_ints("perm", &[0, 2, 1])],
    );
    let w = g.weight(&[8, 12]);
    let t = g.node("MatMul", "/proj/MatMul", &[&t, &w], vec![]);
    let back = g.node(
        "Transpose",
        "/back/Transpose",
        &[&t],
        vec![attr_ints("perm", &[0, 2, 1])],
    );
    let map = g.ints(&[1, 12, 4, 4]);
    let m = g.node("Reshape", "/map/Reshape", &[&back, &map], vec![]);
    let y = g.conv(
        "/head/Conv",
        &m,
        12,
        4,
        (3, 3),
        vec![attr_ints("pads", &[1, 1, 1, 1])],
    );
    let net = g.import(&[&y]).network;
    let proj = layer(&net, "proj");
    assert_eq!(
        (proj.nifm(), proj.nofm(), proj.hofm(), proj.wofm()),
        (8, 12, 4, 4)
    );
    assert_eq!(proj.total_ops(1), 16 * 8 * 12);
    assert_eq!(prev_names(&net, "head"), ["proj"]);

    // A fused projection split along the channels (GPT-2's q, k, v).
    let mut g = Graph::new(&[Some(1), Some(4), Some(8)]);
    let w = g.weight(&[8, 24]);
    let qkv = g.node("MatMul", "/attn/c_attn/MatMul", &["x", &w], vec![]);
    let sizes = g.ints(&[8, 8, 8]);
    let parts = g.node_n(
        "Split",
        "/attn/Split",
        &[&qkv, &sizes],
        3,
        vec![attr_int("axis", 2)],
    );
    let wv = g.weight(&[8, 8]);
    let v = g.node("MatMul", "/attn/v/MatMul", &[&parts[2], &wv], vec![]);
    let net = g.import(&[&v]).network;
    let vid = net.find("attn.v").unwrap();
    assert_eq!(net.prev_channels(vid).to_vec(), vec![16..24]);

    // Multiplying along a map's rows or columns is not a linear layer.
    let mut g = Graph::image(3, 8, 8);
    let c = g.conv(
        "/c/Conv",
        "x",
        3,
        8,
        (2, 2),
        vec![attr_ints("strides", &[2, 2])],
    );
    let flat = g.ints(&[1, 8, 16]);
    let t = g.node("Reshape", "/flat/Reshape", &[&c, &flat], vec![]);
    let w = g.weight(&[16, 10]);
    let y = g.node("MatMul", "/mix/MatMul", &[&t, &w], vec![]);
    let e = g.error(&[&y]);
    assert!(
        e.contains("node '/mix/MatMul' (MatMul): multiplies along the rows or columns of a map"),
        "{e}"
    );
}

/// Layer norms and softmaxes are layers: they read and write their maps and
/// take a few operations per element, along each position's channels.
#[test]
fn normalizations_and_softmax_are_vector_layers() {
    let mut g = Graph::new(&[Some(1), Some(16), Some(32)]);
    let (scale, bias) = (g.weight(&[32]), g.weight(&[32]));
    let n = g.node(
        "LayerNormalization",
        "/ln/LayerNormalization",
        &["x", &scale, &bias],
        vec![attr_int("axis", -1)],
    );
    let w = g.weight(&[32, 10]);
    let y = g.node("MatMul", "/head/MatMul", &[&n, &w], vec![]);
    let y = g.node(
        "Softmax",
        "/probs/Softmax",
        &[&y],
        vec![attr_int("axis", -1)],
    );
    let net = g.import(&[&y]).network;
    let (ln, probs) = (layer(&net, "ln"), layer(&net, "probs"));
    assert_eq!(
        (ln.type_name(), probs.type_name()),
        ("layernorm", "softmax")
    );
    assert_eq!((ln.nofm(), ln.hofm(), ln.wofm()), (32, 1, 16));
    assert_eq!(ln.total_ops(1), 16 * 32 * 8);
    assert_eq!(probs.total_ops(1), 16 * 10 * 5);
    assert_eq!(prev_names(&net, "head"), ["ln"]);

    let s = schedule_and_evaluate(&net, 2);
    assert_eq!(s.layers[0].type_name, "layernorm");

    // Along an axis that is not the channels: not modelled.
    let mut g = Graph::new(&[Some(1), Some(16), Some(32)]);
    let y = g.node("Softmax", "/s/Softmax", &["x"], vec![attr_int("axis", 1)]);
    let e = g.error(&[&y]);
    assert!(
        e.contains(
            "node '/s/Softmax' (Softmax): works along axis 1; only the channel axis (2) is modelled"
        ),
        "{e}"
    );
}

/// Schedules `net` on TETRIS (hybrid partitioning) and checks
/// that `evaluate` reproduces the schedule.
fn schedule_and_evaluate(net: &Network, batch: u64) -> nnsched::Schedule {
    let hw = nnsched::load_hardware("tetris").unwrap();
    let mut o = SearchOptions::new(batch);
    o.partition.hybrid = true;
    let s = schedule(net, &hw, &o).unwrap();
    assert_eq!(nnsched::evaluate(&s, net, None).unwrap(), s);
    s
}

/// A linear layer whose small weight is stored (not stripped), followed by
/// a constant Reshape: tract folds the pair, and the product's output is
/// still typed.
#[test]
fn a_stored_weight_before_a_constant_reshape() {
    for input in [vec![Some(1), Some(4), Some(16)], vec![Some(1), Some(16)]] {
        let mut g = Graph::new(&input);
        let w = g.weight(&[16, 16]);
        let y = g.node("MatMul", "/fc/MatMul", &["x", &w], vec![]);
        let shape = if input.len() == 3 {
            g.ints(&[1, 4, 4, 4])
        } else {
            g.ints(&[1, 4, 4])
        };
        let z = g.node("Reshape", "/r/Reshape", &[&y, &shape], vec![]);
        let net = g.import(&[&z]).network;
        let l = layer(&net, "fc");
        assert_eq!((l.nifm(), l.nofm()), (16, 16), "{input:?}");
    }
}

/// A graph too large to type whole (tract's node checks are quadratic)
/// is typed in chunks: layers, shapes and a shape computed in the first
/// chunk and used in the last are as in a small graph.
#[test]
fn large_graphs_are_typed_in_chunks() {
    let pads = || vec![attr_ints("pads", &[1, 1, 1, 1])];
    let mut g = Graph::image(4, 8, 8);
    let shape = g.node("Shape", "/s/Shape", &["x"], vec![]);
    let mut x = "x".to_string();
    let convs = 4600;
    for i in 0..convs {
        let c = g.conv(&format!("/c{i}/Conv"), &x, 4, 4, (3, 3), pads());
        x = g.node("Relu", &format!("/r{i}/Relu"), &[&c], vec![]);
    }
    assert!(g.nodes.len() > 9000);
    let flat = g.ints(&[1, -1]);
    let f = g.node("Reshape", "/f/Reshape", &[&x, &flat], vec![]);
    let back = g.node("Reshape", "/b/Reshape", &[&f, &shape], vec![]);
    let last = g.conv("/last/Conv", &back, 4, 8, (3, 3), vec![]);
    let net = g.import(&[&last]).network;
    assert_eq!(net.len(), convs + 1);
    let l = layer(&net, "last");
    assert_eq!((l.nifm(), l.nofm(), l.hofm(), l.wofm()), (4, 8, 6, 6));
    assert_eq!(prev_names(&net, "last"), [format!("c{}", convs - 1)]);
    let l = layer(&net, "c2500");
    assert_eq!((l.nifm(), l.nofm(), l.hofm(), l.wofm()), (4, 4, 8, 8));
}
