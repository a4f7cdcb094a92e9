//! Timing of a pipeline segment: when each layer can start given its
//! producers (after the first group of a producer's output when the groups
//! match, else after the producer finishes), the critical path, and the
//! segment time with batch groups overlapping.

use super::SchedIdx;

/// Per-layer timing inputs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LayerTimes {
    pub time: u64,
    pub node_time: u64,
    pub dram_time: u64,
    pub num_nodes: u64,
    /// Outermost non-trivial blocking loops: batch groups, then the next
    /// loop's factor as input or output channel groups.
    pub top_bat: u64,
    pub top_ifm: u64,
    pub top_ofm: u64,
    pub is_conv: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct LayerTiming {
    time: u64,
    node_time: u64,
    dram_time: u64,
    num_nodes: u64,
    ngrp: u64,
    ts: u64,
    td: u64,
}

/// The timing of a segment as its layers are added.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentTiming {
    slots: Vec<Vec<LayerTiming>>,
    bat_ngrp: Option<u64>,
    pub dram_time: u64,
    pub node_time: u64,
    pub critical_time: u64,
}

impl Default for SegmentTiming {
    fn default() -> Self {
        Self::new()
    }
}

impl SegmentTiming {
    pub fn new() -> Self {
        SegmentTiming {
            slots: Vec::new(),
            bat_ngrp: None,
            dram_time: 0,
            node_time: 0,
            critical_time: 0,
        }
    }

    /// Segment time: nodes or DRAM, whichever is longer.
    pub fn time(&self) -> u64 {
        self.node_time.max(self.dram_time)
    }

    /// Relative slowdown against running each layer alone on its nodes.
    pub fn time_overhead(&self) -> f64 {
        let total_nodes: u64 = self.slots.iter().map(|s| s[0].num_nodes).sum();
        let indv = self.slots.iter().flatten().fold(0.0, |acc, t| {
            acc + (t.node_time as f64 * t.num_nodes as f64 / total_nodes as f64)
                .max(t.dram_time as f64)
        });
        (self.time() as f64 - indv) / indv
    }

    /// Adds a layer at `idx`, a new slot when it is first in its slot, with
    /// producers in this segment at `prevs`.
    pub fn add(&mut self, idx: SchedIdx, t: LayerTimes, prevs: &[SchedIdx]) {
        let (sp, tm) = (idx.sp, idx.tm);
        if tm == 0 {
            debug_assert_eq!(sp, self.slots.len());
            self.slots.push(Vec::new());
        }
        match self.bat_ngrp {
            None => self.bat_ngrp = Some(t.top_bat),
            Some(b) if b != t.top_bat => self.bat_ngrp = Some(1),
            _ => {}
        }
        let (mut ts, mut td) = (0u64, 0u64);
        for &SchedIdx { sp: psp, tm: ptm } in prevs {
            let p = self.slots[psp][ptm];
            let start;
            if psp == sp {
                start = if !t.is_conv && t.top_ofm == p.ngrp {
                    p.ts + p.time / p.ngrp
                } else {
                    p.td
                };
                td = p.td + t.time;
            } else {
                let grp = if t.is_conv { t.top_ifm } else { t.top_ofm };
                start = if grp == p.ngrp {
                    p.ts + p.time / p.ngrp
                } else {
                    p.td
                };
            }
            ts = ts.max(start);
        }
        td = td.max(ts + t.time);
        self.slots[sp].push(LayerTiming {
            time: t.time,
            node_time: t.node_time,
            dram_time: t.dram_time,
            num_nodes: t.num_nodes,
            ngrp: t.top_ofm,
            ts,
            td,
        });
        self.critical_time = self
            .slots
            .iter()
            .map(|s| s[s.len() - 1].td - s[0].ts)
            .max()
            .unwrap_or(0);
        self.dram_time += t.dram_time;
        let b = self.bat_ngrp.unwrap_or(1);
        self.node_time = self
            .slots
            .iter()
            .map(|s| (s[s.len() - 1].td + self.critical_time * (b - 1)) / b)
            .max()
            .unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ix(sp: usize, tm: usize) -> SchedIdx {
        SchedIdx { sp, tm }
    }

    /// A layer result as nn_dataflow's timing tests make them: 4 nodes,
    /// no DRAM time, outermost loops batch then output or input groups.
    fn lt(time: u64, top_ifm: u64, top_ofm: u64, top_bat: u64, is_conv: bool) -> LayerTimes {
        LayerTimes {
            time,
            node_time: time,
            dram_time: 0,
            num_nodes: 4,
            top_bat,
            top_ifm,
            top_ofm,
            is_conv,
        }
    }

    #[test]
    fn single_layer_takes_its_time() {
        let mut s = SegmentTiming::new();
        s.add(
            ix(0, 0),
            LayerTimes {
                dram_time: 30,
                ..lt(100, 1, 2, 4, true)
            },
            &[],
        );
        assert_eq!((s.critical_time, s.node_time, s.time()), (100, 100, 100));
    }

    /// nn_dataflow's test_time_bat_ngrp on its chain '0', '1' > '1p', '2',
    /// '3' (FC, FC > pooling, FC, FC), one slot each.
    #[test]
    fn batch_groups_overlap() {
        let mut t = SegmentTiming::new();
        t.add(ix(0, 0), lt(120, 1, 1, 4, true), &[]);
        t.add(ix(1, 0), lt(130, 1, 1, 4, true), &[ix(0, 0)]);
        t.add(ix(1, 1), lt(20, 1, 1, 4, false), &[ix(1, 0)]);
        t.add(ix(2, 0), lt(136, 1, 1, 4, true), &[ix(1, 1)]);
        assert_eq!(t.critical_time, 150);
        assert_eq!(t.time(), 120 / 4 + 130 + 20 + 136 / 4);
        let want = t.time() as f64 / ((120 + 130 + 20 + 136) as f64 / 3.0) - 1.0;
        assert!((t.time_overhead() - want).abs() < 1e-12);
        // A layer in other batch groups serializes everything.
        t.add(ix(3, 0), lt(100, 1, 1, 2, true), &[ix(2, 0)]);
        assert_eq!(t.time(), 120 + 130 + 20 + 136 + 100);
    }

    /// nn_dataflow's test_time_ifm_ofm_ngrp: a consumer waits for the first
    /// output group when its input groups match, else for all of it.
    #[test]
    fn channel_groups_overlap() {
        let two = |a: LayerTimes, b: LayerTimes| {
            let mut t = SegmentTiming::new();
            t.add(ix(0, 0), a, &[]);
            t.add(ix(1, 0), b, &[ix(0, 0)]);
            (t.critical_time, t.time())
        };
        assert_eq!(
            two(lt(120, 1, 3, 2, true), lt(90, 3, 1, 2, true)),
            (120, 120 - 120 / 2 + 120 / 2 / 3 + 90 / 2)
        );
        assert_eq!(
            two(lt(120, 1, 3, 2, true), lt(150, 3, 1, 2, true)),
            (150, 120 / 2 / 3 + 150)
        );
        assert_eq!(
            two(lt(120, 1, 3, 2, true), lt(90, 1, 3, 2, true)),
            (120, 120 + 90 / 2)
        );
        assert_eq!(
            two(lt(120, 3, 1, 2, true), lt(150, 3, 1, 2, true)),
            (150, 120 / 2 + 150)
        );
    }
}
