//! Schedules an ONNX model through the library, as a compiler would, and
//! reads the result: the five most energy-hungry layers with their
//! partition and the loop blocking each node runs.
//!
//! cargo run --release --example schedule_onnx -- models/resnet50.onnx tetris

use std::process::ExitCode;

use nnsched::{LoadOptions, SearchOptions, load_hardware, load_model, schedule};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, hw] = args.as_slice() else {
        eprintln!("usage: schedule_onnx MODEL.onnx HW");
        return ExitCode::from(2);
    };
    match run(model, hw) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("schedule_onnx: {e}");
            ExitCode::from(if e.is_user_error() { 2 } else { 1 })
        }
    }
}

fn run(model: &str, hw: &str) -> Result<(), nnsched::Error> {
    let model = load_model(model, &LoadOptions::default())?;
    let hw = load_hardware(hw)?;
    let mut opts = SearchOptions::new(model.batch.unwrap_or(1));
    opts.solve_loopblocking = true;
    opts.partition.hybrid = true;
    let s = schedule(&model.network, &hw, &opts)?;

    println!(
        "{}: {} layers on {}, {:.3e} pJ in {} cycles",
        s.network,
        s.layers.len(),
        s.hardware.name,
        s.totals.cost,
        s.totals.time
    );
    let mut layers: Vec<_> = s.layers.iter().collect();
    layers.sort_by(|a, b| b.cost.total_cmp(&a.cost));
    for l in layers.iter().take(5) {
        let f = &l.blocking.factors;
        println!(
            "  {:<24} {:>7} {:>10.3e} pJ  outp {:?} ofmp {:?}  dram {:?} gbuf {:?} regf {:?}",
            l.name,
            l.type_name,
            l.cost,
            l.partition.dims.outp,
            l.partition.dims.ofmp,
            [f.dram.ifm, f.dram.ofm, f.dram.bat],
            [f.gbuf.ifm, f.gbuf.ofm, f.gbuf.bat],
            [f.regf.ifm, f.regf.ofm, f.regf.bat],
        );
    }
    // The document is the one `nnsched -o` writes: evaluate recomputes it.
    let again = nnsched::evaluate(&s, &model.network, Some(&hw))?;
    assert_eq!(
        again.totals, s.totals,
        "evaluate reproduces the search's totals"
    );
    println!("evaluate: totals reproduced");
    Ok(())
}
