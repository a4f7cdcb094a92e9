//! Dilated convolutions through the whole library: scheduled, written,
//! evaluated back, and costed as the wider input window they read.

use nnsched::network::{Layer, Network};
use nnsched::{Schedule, SearchOptions, load_hardware, schedule};

fn net(layer: Layer) -> Network {
    Network::single_layer("conv", layer)
}

fn run(net: &Network, hw: &str) -> Schedule {
    let mut opts = SearchOptions::new(2);
    opts.partition.hybrid = true;
    schedule(net, &load_hardware(hw).unwrap(), &opts).unwrap()
}

#[test]
fn dilated_convs_schedule_and_evaluate() {
    let plain = Layer::conv(64, 64, (28, 28), (3, 3), (1, 1)).unwrap();
    let dilated = plain.dilated((4, 4)).unwrap();
    for hw in ["eyeriss", "tetris"] {
        let d = run(&net(dilated), hw);
        let p = run(&net(plain), hw);
        let shape = &d.layers[0].shape;
        assert_eq!(shape.dilation, [4, 4]);
        assert_eq!((shape.hfil, shape.hifm), (3, 36));
        assert_eq!(d.totals.ops, p.totals.ops, "{hw}: the MACs of a 3x3");
        // Whatever the blocking, the whole (larger) input is read at least
        // once from DRAM.
        let ifm = d.layers[0].access_by_category.dram.ifm.0;
        assert!(ifm >= (64 * 36 * 36 * 2) as f64, "{hw}: {ifm}");
        // The written document evaluates to itself.
        let again = nnsched::evaluate(&d, &net(dilated), None).unwrap();
        assert_eq!(again, d, "{hw}");
        let text = d.to_json();
        assert!(text.contains("\"dilation\""));
        assert!(
            !p.to_json().contains("\"dilation\""),
            "written for dilated convs only"
        );
    }
}
