//! The search driver: for each layer, every partition over the nodes, array
//! mapping and blocking (exhaustive or solved) is costed and ranked; across
//! layers, a dynamic program over the scheduling order keeps the `ntops`
//! best network schedules, as nn_dataflow does (the beam), and by default a
//! wider one beside it keeps the best of each frontier of live layouts
//! (see ARCHITECTURE.md). Data layouts pass from each layer to its
//! consumers and decide NoC hops.
//!
//! Invariants: results do not depend on the thread count (candidates are
//! ranked by (goal key, enumeration index), parallel work is merged in
//! order); every finished schedule passes `check_consistency`, in release
//! builds too.

mod dp;
mod layer;
mod result;

pub use crate::options::{
    Cancel, InterlayerSearch, MAX_BATCH, OptionsError, PipelineOptions, Progress, SearchOptions,
    StopReason,
};
pub use crate::partition::PartitionOptions;
pub(crate) use dp::run;
pub use layer::NoSchedule;
pub(crate) use result::{NetworkSchedule, assemble, check_consistency};

/// Why a network has no schedule.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SearchError {
    #[error("layer '{layer}': {reason}")]
    NoSchedule { layer: String, reason: NoSchedule },
    #[error("invalid options: {0}")]
    Options(OptionsError),
    #[error("internal consistency check failed: {0}")]
    Inconsistent(String),
}

#[cfg(test)]
mod tests {
    use super::dp::gen_segments;
    use super::*;
    use crate::hw::Hardware;
    use crate::network::zoo;
    use crate::pipeline::{Dag, PipelineSegment, SegmentOptions};
    use crate::placement::Placement;

    fn hw(nodes: u64, gbuf_bytes: u64) -> Hardware {
        Hardware::parse(&format!(
            "name: t\nword_bits: 16\nnodes: [{nodes}, {nodes}]\npe_array: [14, 14]\nregf_bytes: 512\n\
             gbuf_bytes: {gbuf_bytes}\nmemory: 3d\narray_bus_bits: 0\ndram_bandwidth: inf\n\
             energy: {{mac: 1, dram: 1, gbuf: 1, itcn: 1, regf: 1, noc_hop: 1, idle: 0}}\n"
        ))
        .unwrap()
    }

    /// Segment and constraint counts of nn_dataflow's InterLayerPipeline
    /// (3D memory, 14x14 PEs).
    #[test]
    fn segments_and_constraints_match_nn_dataflow() {
        // (interlayer, save-writeback, optimizations) -> (segments, constraints)
        let flags = [
            (false, false, true),
            (true, false, true),
            (true, true, true),
            (false, true, true),
            (true, false, false),
        ];
        // (network, batch, nodes, buffer bytes, counts per flag set)
        type Case = (&'static str, u64, u64, u64, [(usize, usize); 5]);
        let cases: [Case; 4] = [
            (
                "alex_net",
                16,
                4,
                133032,
                [(19, 19), (33, 1224), (59, 1354), (51, 179), (31, 79)],
            ),
            (
                "lstm_phoneme",
                4,
                2,
                32768,
                [(10, 10), (17, 31), (18, 34), (14, 22), (13, 19)],
            ),
            (
                "mlp_l",
                64,
                4,
                133032,
                [(4, 4), (6, 123), (12, 165), (10, 46), (6, 18)],
            ),
            (
                "googlenet",
                4,
                4,
                133032,
                [(63, 63), (96, 528), (118, 594), (90, 144), (80, 114)],
            ),
        ];
        for (name, batch, nodes, gbuf, want) in cases {
            let net = zoo::get(name).unwrap();
            let hw = hw(nodes, gbuf);
            let dag = Dag::new(&net);
            for ((il, swb, opt), (nseg, ncstr)) in flags.iter().zip(want) {
                let mut cfg = SearchOptions::new(batch);
                cfg.pipeline.interlayer = *il;
                cfg.pipeline.save_writeback = *swb;
                cfg.pipeline.optimize = *opt;
                let segs =
                    gen_segments(&net, &dag, &cfg, &Placement::whole_chip(&hw), hw.gbuf_words);
                let cstrs: usize = segs
                    .iter()
                    .map(|s| s.constraints(f64::INFINITY).len())
                    .sum();
                assert_eq!(
                    (segs.len(), cstrs),
                    (nseg, ncstr),
                    "{name} interlayer={il} savewb={swb} opt={opt}"
                );
            }
        }
    }

    /// nn_dataflow's example: AlexNet's fc1 and fc2 side by side share the
    /// batch groups, and fc1's output channel groups are fc2's input groups.
    #[test]
    fn fc_pair_constraints() {
        let net = zoo::get("alex_net").unwrap();
        let hw = hw(4, 133032);
        let (fc1, fc2) = (net.find("fc1").unwrap(), net.find("fc2").unwrap());
        let seg = PipelineSegment::new(
            vec![vec![fc1], vec![fc2]],
            &net,
            16,
            &Placement::whole_chip(&hw),
            hw.gbuf_words,
            SegmentOptions { with_opt: true },
        )
        .unwrap();
        let cs = seg.constraints(f64::INFINITY);
        assert_eq!(cs.len(), 25);
        let vals = [1, 2, 4, 8, 16];
        for (k, (c, hints)) in cs.iter().enumerate() {
            let (b, o) = (vals[k / 5], vals[k % 5]);
            assert_eq!(hints, &vec![b, o]);
            assert_eq!((c[0][0].topbat, c[0][0].topofm, c[0][0].topifm), (b, o, 0));
            assert_eq!((c[1][0].topbat, c[1][0].topifm, c[1][0].topofm), (b, o, 0));
        }
    }
}
