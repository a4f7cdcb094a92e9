//! Grouped convolution's cost model: one group scheduled as a plain conv,
//! the groups run one after another.

mod common;

use std::path::PathBuf;

use nnsched::hw::Hardware;
use nnsched::network::{FmapShape, Layer, Network, NetworkBuilder};
use nnsched::{Schedule, SearchOptions, schedule};

fn hw(name: &str) -> Hardware {
    Hardware::load(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("hw/{name}.yaml")))
        .unwrap()
}

fn single(layer: Layer, input: FmapShape) -> Network {
    let mut b = NetworkBuilder::new("one", input);
    b.add("conv", layer, &[]);
    b.build().unwrap()
}

fn run(net: &Network, hw: &Hardware, exhaustive: bool) -> Schedule {
    let mut opts = SearchOptions::new(4);
    opts.solve_loopblocking = !exhaustive;
    opts.partition.hybrid = true;
    schedule(net, hw, &opts).unwrap()
}

fn assert_same(a: &Schedule, b: &Schedule, what: &str) {
    let close = |x: f64, y: f64| common::rel_close(x, y, 1e-12);
    let (a, b) = (&a.totals, &b.totals);
    assert!(
        close(a.cost, b.cost),
        "{what}: cost {} vs {}",
        a.cost,
        b.cost
    );
    assert_eq!(a.time, b.time, "{what}: time");
    assert!(close(a.ops.0, b.ops.0), "{what}: ops");
    let levels =
        |l: &nnsched::doc::Levels<nnsched::doc::Count>| [l.dram.0, l.gbuf.0, l.itcn.0, l.regf.0];
    for (x, y) in levels(&a.accesses).iter().zip(levels(&b.accesses)) {
        assert!(
            close(*x, y),
            "{what}: accesses {:?} vs {:?}",
            a.accesses,
            b.accesses
        );
    }
    assert!(close(a.noc_hops.0, b.noc_hops.0), "{what}: NoC hops");
}

#[test]
fn one_group_is_the_plain_conv() {
    let plain = Layer::conv(64, 128, (28, 28), (3, 3), (1, 1)).unwrap();
    let g1 = Layer::grouped_conv(64, 128, (28, 28), (3, 3), (1, 1), 1).unwrap();
    assert_eq!(plain, g1);
    let input = FmapShape {
        n: 64,
        h: 30,
        w: 30,
    };
    for h in ["eyeriss", "tetris"] {
        let hw = hw(h);
        let a = run(&single(plain, input), &hw, false);
        let b = run(&single(g1, input), &hw, false);
        assert_same(&a, &b, h);
    }
}

/// Two groups cost what nn_dataflow's two-tower split costs (each tower a
/// conv on its half of the channels) when the towers run in turn.
#[test]
fn two_groups_cost_two_towers_in_turn() {
    let input = FmapShape {
        n: 96,
        h: 31,
        w: 31,
    };
    let grouped = single(
        Layer::grouped_conv(96, 256, (27, 27), (5, 5), (1, 1), 2).unwrap(),
        input,
    );
    let tower = Layer::conv(48, 128, (27, 27), (5, 5), (1, 1)).unwrap();
    let mut b = NetworkBuilder::new("towers", input);
    b.add_sliced("conv_a", tower, &[(Network::INPUT, Some(0..48))]);
    b.add_sliced("conv_b", tower, &[(Network::INPUT, Some(48..96))]);
    let towers = b.build().unwrap();
    for (h, exhaustive) in [("eyeriss", true), ("eyeriss", false), ("tetris", false)] {
        let hw = hw(h);
        let g = run(&grouped, &hw, exhaustive);
        let t = run(&towers, &hw, exhaustive);
        assert_eq!(t.segments.len(), 2, "the towers run one after the other");
        assert_same(&g, &t, h);
    }
}
