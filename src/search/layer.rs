//! Scheduling one layer: array mappings x blockings, ranked by full cost.

use serde::Serialize;

use crate::blocking::{
    self, Blocking, BlockingScheme, DataSite, Infeasible, NodeEnv, TopConstraint, cmp_key,
    exhaustive, solver,
};
use crate::dims::{DataCat, DataLoops, MemLevel, PerCat, PerLevel, PerLoop};
use crate::hw::Hardware;
use crate::mapping::{MappingError, NestedLoopDesc, row_stationary};
use crate::network::{Layer, LayerId};

use super::SearchConfig;

/// The schedule of one layer, with its costs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerResult {
    #[serde(skip)]
    pub layer: LayerId,
    pub name: String,
    pub cost: f64,
    pub time: u64,
    pub ops: f64,
    pub num_nodes: u64,
    pub cost_op: f64,
    pub cost_access: f64,
    pub cost_noc: f64,
    pub cost_static: f64,
    pub proc_time: u64,
    pub bus_time: u64,
    pub dram_time: u64,
    /// Accesses per level and category (all groups of a grouped conv).
    pub access: PerLevel<PerCat<f64>>,
    pub remote_gbuf_access: PerCat<f64>,
    /// NoC word-hops per category.
    pub total_nhops: PerCat<f64>,
    /// Times the group schedule repeats (groups of a grouped conv).
    pub groups: u64,
    /// The array mapping of one group.
    pub mapping: NestedLoopDesc,
    /// The blocking of one group.
    pub scheme: BlockingScheme,
}

impl LayerResult {
    /// Accesses per level summed over categories, remote buffer accesses
    /// counted at the buffer level.
    pub fn total_accesses(&self) -> PerLevel<f64> {
        let mut a = PerLevel::from_fn(|m| self.access[m].sum());
        a[MemLevel::Gbuf] += self.remote_gbuf_access.sum();
        a
    }

    /// Active PEs per node on average over processing time.
    pub fn active_pes(&self) -> f64 {
        self.ops / self.proc_time as f64 / self.num_nodes as f64
    }
}

/// Why a layer has no schedule.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum NoSchedule {
    #[error("{0}")]
    Mapping(#[from] MappingError),
    #[error("the register file is too small: a PE needs {need} words, it has {have}")]
    Regf { need: u64, have: u64 },
    #[error(
        "the global buffer is too small: a node needs {need} words for data that may not bypass it, it has {have}"
    )]
    Gbuf { need: u64, have: u64 },
    #[error("no loop blocking satisfies the scheduling constraints")]
    Constraints,
}

/// The `cfg.ntops` best schedules of `layer` on one node of `hw`, and the
/// number of candidate blockings costed.
pub fn search_layer(
    layer: &Layer,
    hw: &Hardware,
    cfg: &SearchConfig,
) -> Result<(Vec<LayerResult>, u64), NoSchedule> {
    let groups = layer.groups();
    let unit = layer.group_slice();
    let env = NodeEnv {
        gbuf_words: hw.gbuf_words,
        regf_words: hw.regf_words,
        num_nodes: 1,
        bus_words: hw.array_bus_words,
        dram_bw: hw.dram_words_per_cycle,
        src: DataSite::Dram,
        dst: DataSite::Dram,
        no_time_mux: false,
        bypass: cfg.bypass,
        accfwd: PerCat::splat(1),
    };
    let cstr = TopConstraint::default();
    let nlds = row_stationary(&unit, cfg.batch, 1.0, hw.pe_array)?;
    let mut results = Vec::new();
    let mut evaluated = 0;
    for nld in &nlds {
        let schemes = if cfg.solve_loopblocking && nld.data_loops == DataLoops::CONV {
            let mut v = Vec::new();
            for b in solver::solve(nld, env.gbuf_words, env.regf_words, env.bypass) {
                evaluated += 1;
                if let Ok(s) = blocking::evaluate(nld, &env, &hw.energy, &b)
                    && cstr.allows(&s.blocking)
                {
                    v.push(s);
                }
            }
            v
        } else {
            let (v, n) = exhaustive::search(nld, &env, &hw.energy, &cstr, cfg.goal, cfg.ntops);
            evaluated += n;
            v
        };
        for s in schemes {
            results.push(make_result(nld, s, hw, groups));
        }
    }
    if results.is_empty() {
        return Err(diagnose(&nlds, &env));
    }
    let goal = cfg.goal;
    results.sort_by(|a, b| cmp_key(&goal.key(a.cost, a.time), &goal.key(b.cost, b.time)));
    results.truncate(cfg.ntops);
    Ok((results, evaluated))
}

/// Full cost of a blocking, summed in nn_dataflow's order: ops, accesses,
/// NoC, static. A grouped conv runs its groups one after another.
fn make_result(nld: &NestedLoopDesc, s: BlockingScheme, hw: &Hardware, groups: u64) -> LayerResult {
    let e = &hw.energy;
    let g = groups as f64;
    let total_nhops = PerCat::splat(0.0);
    let cost_op = e.mac * s.ops;
    let cost_access = s.access_cost;
    let cost_noc = e.noc_hop * total_nhops.sum();
    let cost_static = e.idle * s.time as f64;
    let cost = cost_op + cost_access + cost_noc + cost_static;
    LayerResult {
        layer: LayerId(0),
        name: String::new(),
        cost: cost * g,
        time: s.time * groups,
        ops: s.ops * g,
        num_nodes: 1,
        cost_op: cost_op * g,
        cost_access: cost_access * g,
        cost_noc: cost_noc * g,
        cost_static: cost_static * g,
        proc_time: s.proc_time * groups,
        bus_time: s.bus_time * groups,
        dram_time: s.dram_time * groups,
        access: s.access.map(|_, a| a.map(|_, v| v * g)),
        remote_gbuf_access: s.remote_gbuf_access.map(|_, v| v * g),
        total_nhops,
        groups,
        mapping: nld.clone(),
        scheme: s,
    }
}

/// The most specific reason no blocking fits: the least any blocking needs
/// is every loop outside the buffer.
fn diagnose(nlds: &[NestedLoopDesc], env: &NodeEnv) -> NoSchedule {
    let mut worst = NoSchedule::Constraints;
    for nld in nlds {
        let b = Blocking {
            ts: [nld.loopcnt, PerLoop::splat(1), PerLoop::splat(1)],
            ords: [PerLoop([0, 1, 2]); 2],
        };
        match blocking::fits_before_ordering(nld, env, &b) {
            Ok(()) => return NoSchedule::Constraints,
            Err(Infeasible::RegfOverflow { need, have }) => worst = NoSchedule::Regf { need, have },
            Err(Infeasible::GbufOverflow { need, have }) => {
                if !matches!(worst, NoSchedule::Regf { .. }) {
                    worst = NoSchedule::Gbuf { need, have };
                }
            }
            Err(Infeasible::OnChipRefetch) => {}
        }
    }
    let _ = DataCat::ALL;
    worst
}
