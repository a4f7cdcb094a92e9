//! Loop blocking and reordering: splitting the ifm/ofm/batch loops of a
//! nested loop over three levels (outside the global buffer, between buffer
//! and register files, inside the register files), ordering each level, and
//! costing the result. `evaluate` is the cost model of one choice; the
//! `exhaustive` and `solver` submodules generate the choices.
//!
//! Invariant: `evaluate` reproduces nn_dataflow's LoopBlockingScheme to the
//! last bit, so every float is formed in its operation order.

pub mod exhaustive;
mod sharing;
pub mod solver;

pub use sharing::SharingStats;

use serde::Serialize;

use crate::array::NestedLoopDesc;
use crate::dims::{
    BlockLevel, DataCat, LoopDim, MemLevel, OrderedLevel, PerBlock, PerCat, PerLevel, PerLoop,
    PerOrdered,
};
use crate::hw::Energy;
use crate::partition::BufShr;
use crate::util::idivc;

/// Blocking factors per level and the loop orders of the two outer levels.
///
/// `ords[level][loop]` is the loop's position at that level, 0 being
/// innermost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Blocking {
    pub ts: PerBlock<PerLoop<u64>>,
    pub ords: PerOrdered<PerLoop<u8>>,
}

impl Blocking {
    /// Every loop at the DRAM level, none in the buffer or register files,
    /// in loop order: the blocking that needs the least storage.
    pub fn all_outside(loopcnt: PerLoop<u64>) -> Blocking {
        Blocking {
            ts: PerBlock([loopcnt, PerLoop::splat(1), PerLoop::splat(1)]),
            ords: PerOrdered::splat(PerLoop([0, 1, 2])),
        }
    }

    /// Product of each loop's factors from level `from` inward.
    #[inline]
    fn tp(&self, from: BlockLevel) -> PerLoop<u64> {
        let levels = &self.ts.0[from as usize..];
        PerLoop::from_fn(|l| levels.iter().map(|t| t[l]).product())
    }

    /// The non-trivial loops of an ordered level, outermost first.
    pub fn ordered_loops(&self, lvl: OrderedLevel) -> impl Iterator<Item = (LoopDim, u64)> {
        let t = self.ts[lvl.level()];
        let mut v = LoopDim::ALL;
        // Orders are permutations: no ties, so unstable sorting is exact
        // (and allocates nothing).
        v.sort_unstable_by_key(|&l| std::cmp::Reverse(self.ords[lvl][l]));
        v.into_iter()
            .filter(move |&l| t[l] > 1)
            .map(move |l| (l, t[l]))
    }
}

/// Where a layer's input or output data lives relative to its nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataSite {
    Dram,
    /// In the buffers of other nodes on chip.
    OtherNodes,
    /// In the buffers of the processing nodes themselves.
    SameNodes,
}

/// What blocking needs to know about the nodes running the layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeEnv {
    pub gbuf_words: u64,
    pub regf_words: u64,
    pub num_nodes: u64,
    /// Array bus words per cycle; `None` is unlimited.
    pub bus_words: Option<u64>,
    /// DRAM words per cycle (may be infinite).
    pub dram_bw: f64,
    pub src: DataSite,
    pub dst: DataSite,
    /// Each node runs one layer only, so filters can stay resident.
    pub no_time_mux: bool,
    /// Data categories allowed to bypass the global buffer.
    pub bypass: PerCat<bool>,
    /// Divisor of DRAM accesses from access forwarding or buffer sharing.
    pub accfwd: PerCat<u64>,
    /// Buffer-sharing group sizes (all 1 without buffer sharing).
    pub share_grp: PerCat<u64>,
}

impl Eq for NodeEnv {}

impl std::hash::Hash for NodeEnv {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        let NodeEnv {
            gbuf_words,
            regf_words,
            num_nodes,
            bus_words,
            dram_bw,
            src,
            dst,
            no_time_mux,
            bypass,
            accfwd,
            share_grp,
        } = self;
        (gbuf_words, regf_words, num_nodes, bus_words).hash(h);
        dram_bw.to_bits().hash(h);
        (src, dst, no_time_mux, bypass, accfwd, share_grp).hash(h);
    }
}

/// The optimization goal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Goal {
    /// Energy, then time.
    Energy,
    /// Time, then energy.
    Delay,
    /// Energy-delay product.
    EnergyDelay,
}

impl Goal {
    /// A sort key: smaller is better.
    #[inline]
    pub fn key(self, cost: f64, time: u64) -> (f64, f64) {
        match self {
            Goal::Energy => (cost, time as f64),
            Goal::Delay => (time as f64, cost),
            Goal::EnergyDelay => (cost * time as f64, 0.0),
        }
    }
}

/// Total order on goal keys (they are never NaN).
#[inline]
pub fn cmp_key(a: &(f64, f64), b: &(f64, f64)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))
}

/// Why a blocking choice does not fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Infeasible {
    /// Register file words needed and available.
    RegfOverflow { need: u64, have: u64 },
    /// Global buffer words needed and available.
    GbufOverflow { need: u64, have: u64 },
    /// On-chip input or output data would be fetched more than once.
    OnChipRefetch,
}

/// A costed blocking choice.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockingScheme {
    /// The blocking as run: with buffer sharing, the buffer-level order is
    /// the sharing arrangement's.
    pub blocking: Blocking,
    /// The buffer-level order the search chose, before buffer sharing
    /// rearranged it.
    pub searched_gbuf_order: PerLoop<u8>,
    /// Buffer sharing, when enabled and some data is shared (boxed: the
    /// searches keep many schemes without it).
    pub sharing: Option<Box<SharingStats>>,
    pub stored_in_gbuf: PerCat<bool>,
    /// Fetches from above into the level below each ordered level: into
    /// the buffer (`Dram`) and into the register files (`Gbuf`).
    pub fetch: PerOrdered<PerCat<u64>>,
    /// Words held in one global buffer and in one register file.
    pub gbuf_words: PerCat<u64>,
    pub regf_words: PerCat<u64>,
    pub ops: f64,
    pub proc_time: u64,
    pub bus_time: u64,
    pub dram_time: u64,
    pub time: u64,
    pub access: PerLevel<PerCat<f64>>,
    /// Accesses to data in other nodes' buffers, charged at buffer energy.
    pub remote_gbuf_access: PerCat<f64>,
    /// Word-hops of buffer sharing.
    pub noc_access: PerCat<f64>,
    pub accfwd_reduction: PerCat<u64>,
    pub filter_pinned: bool,
    pub access_cost: f64,
}

/// Words per global buffer of each category for given blocking factors,
/// buffer residency and sharing subgroup sizes.
#[inline(always)]
fn gbuf_sizes(
    nld: &NestedLoopDesc,
    b: &Blocking,
    stored: PerCat<bool>,
    subgrp: PerCat<u64>,
) -> PerCat<u64> {
    let below_gbuf = b.tp(BlockLevel::Gbuf);
    let dl = nld.data_loops;
    PerCat::from_fn(|d| {
        let unshared = if stored[d] {
            dl.take_prod(d, &below_gbuf) * nld.usize_gbuf[d]
        } else {
            0
        };
        share(unshared, subgrp[d])
    })
}

/// Words per register file of each category.
#[inline(always)]
fn regf_sizes(nld: &NestedLoopDesc, b: &Blocking) -> PerCat<u64> {
    let below_regf = b.ts[BlockLevel::Regf];
    PerCat::from_fn(|d| nld.data_loops.take_prod(d, &below_regf) * nld.usize_regf[d])
}

#[inline]
fn check_regf(env: &NodeEnv, regf: &PerCat<u64>) -> Result<(), Infeasible> {
    let need = regf.0.iter().sum::<u64>();
    if need > env.regf_words {
        return Err(Infeasible::RegfOverflow {
            need,
            have: env.regf_words,
        });
    }
    Ok(())
}

#[inline]
fn check_gbuf(env: &NodeEnv, gbuf: &PerCat<u64>) -> Result<(), Infeasible> {
    let need = gbuf.0.iter().sum::<u64>();
    if need > env.gbuf_words {
        return Err(Infeasible::GbufOverflow {
            need,
            have: env.gbuf_words,
        });
    }
    Ok(())
}

/// Words a blocking's factors need in one buffer (for each category, if
/// held there) and one register file, whatever its loop orders: searches
/// compute it once for all orders of the same factors.
#[derive(Clone, Copy, Debug)]
pub struct Footprint {
    gbuf_if_held: PerCat<u64>,
    regf: PerCat<u64>,
}

impl Footprint {
    /// The footprint of `b`'s factors, if they fit with only the data that
    /// may not bypass in the buffer: the capacity check that does not
    /// depend on loop orders, which lets searches skip all orders of
    /// factors that never fit. Register files are checked first, as they
    /// need no buffer-sharing division.
    #[inline]
    pub fn fits(
        nld: &NestedLoopDesc,
        env: &NodeEnv,
        b: &Blocking,
    ) -> Result<Footprint, Infeasible> {
        let regf = regf_sizes(nld, b);
        check_regf(env, &regf)?;
        let gbuf_if_held = gbuf_sizes(nld, b, PerCat::splat(true), env.share_grp);
        let fp = Footprint { gbuf_if_held, regf };
        fp.check_gbuf(env, env.bypass.map(|_, v| !v))?;
        Ok(fp)
    }

    #[inline]
    fn gbuf(&self, held: PerCat<bool>) -> PerCat<u64> {
        PerCat::from_fn(|d| if held[d] { self.gbuf_if_held[d] } else { 0 })
    }

    /// The buffer check with categories `held` in the buffer (the
    /// register files passed in `fits`).
    #[inline]
    fn check_gbuf(&self, env: &NodeEnv, held: PerCat<bool>) -> Result<(), Infeasible> {
        check_gbuf(env, &self.gbuf(held))
    }
}

/// One node's share of `words` held by a buffer-sharing group of `grp`
/// nodes. Groups are mostly powers of two (often one node): no division.
#[inline(always)]
fn share(words: u64, grp: u64) -> u64 {
    if grp.is_power_of_two() {
        (words + grp - 1) >> grp.trailing_zeros()
    } else {
        idivc(words, grp)
    }
}

/// `Footprint::fits` of one blocking.
pub fn fits_before_ordering(
    nld: &NestedLoopDesc,
    env: &NodeEnv,
    b: &Blocking,
) -> Result<(), Infeasible> {
    Footprint::fits(nld, env, b).map(|_| ())
}

/// Fetch counts per ordered level: how often each category is brought
/// into the level below it, given reuse across the loops that do not index
/// it.
fn fetches(nld: &NestedLoopDesc, b: &Blocking) -> PerOrdered<PerCat<u64>> {
    let dl = nld.data_loops;
    let mut fetch = PerOrdered::splat(PerCat::splat(1u64));
    let mut outer = PerCat::splat(1u64);
    // Each loop's factors at the levels above this one, multiplied.
    let mut above = [1u64; 3];
    for lvl in OrderedLevel::ALL {
        let (t, ord) = (b.ts[lvl.level()].0, b.ords[lvl].0);
        for d in DataCat::ALL {
            let has = dl.0[d].0;
            // The position of the innermost non-trivial loop of `d`.
            let mut inn = u8::MAX;
            for l in 0..3 {
                if has[l] && t[l] > 1 && ord[l] < inn {
                    inn = ord[l];
                }
            }
            fetch[lvl][d] = if inn == u8::MAX {
                // Fetched as often as into the level above.
                outer[d]
            } else {
                // The loops outside this level, and this level's own if it
                // encloses the innermost data loop.
                let mut f = 1;
                for l in 0..3 {
                    if !has[l] {
                        f *= if ord[l] > inn {
                            above[l] * t[l]
                        } else {
                            above[l]
                        };
                    }
                }
                if d == DataCat::Ofm { 2 * f - 1 } else { f }
            };
        }
        outer = fetch[lvl];
        for l in 0..3 {
            above[l] *= t[l];
        }
    }
    fetch
}

/// Fetch counts no blocking of `nld` that `cstr` allows goes below: the
/// constrained outermost loops (batch, then input, then output channels,
/// `TopConstraint::allows_order`) outside a category's innermost
/// constrained loop refetch it (`fetches`); everything else may be
/// fetched once, and filters a node can keep not at all from memory
/// (`Coster::evaluate_fitting`). A buffer fetches at least as often as
/// the memory above it.
fn least_fetches(
    nld: &NestedLoopDesc,
    env: &NodeEnv,
    cstr: &TopConstraint,
) -> PerOrdered<PerCat<u64>> {
    let outer = [
        (LoopDim::Bat, cstr.topbat),
        (LoopDim::Ifm, cstr.topifm),
        (LoopDim::Ofm, cstr.topofm),
    ];
    let outer: Vec<(LoopDim, u64)> = outer.into_iter().filter(|&(_, c)| c > 1).collect();
    let dl = nld.data_loops;
    let mut fetch = PerOrdered::splat(PerCat::splat(1u64));
    for d in DataCat::ALL {
        let f = match outer.iter().rposition(|&(l, _)| dl.has(d, l)) {
            None => 1,
            Some(inn) => (outer[..inn].iter())
                .filter(|&&(l, _)| !dl.has(d, l))
                .map(|&(_, c)| c)
                .product(),
        };
        let f = if d == DataCat::Ofm { 2 * f - 1 } else { f };
        fetch[OrderedLevel::Dram][d] = f;
        fetch[OrderedLevel::Gbuf][d] = f;
    }
    let pinnable = !outer.iter().any(|&(l, _)| dl.has(DataCat::Fil, l));
    if env.no_time_mux && pinnable {
        fetch[OrderedLevel::Dram][DataCat::Fil] = 0;
    }
    fetch
}

/// Costs one blocking choice of `nld` on nodes `env`.
/// With buffer sharing, capacity checks count each group's buffers together
/// (`env.share_grp`); how the data is then arranged and rotated is chosen by
/// `with_sharing`, which changes NoC traffic only, not the access cost or
/// time, so searches rank without it and arrange only the winners.
pub fn evaluate(
    nld: &NestedLoopDesc,
    env: &NodeEnv,
    energy: &Energy,
    b: &Blocking,
) -> Result<BlockingScheme, Infeasible> {
    let fp = Footprint::fits(nld, env, b)?;
    Ok(Coster::new(nld, env, energy)
        .evaluate_fitting(b, &fp)?
        .scheme(nld, env, b))
}

/// The costs of one blocking choice, before they are assembled into a
/// `BlockingScheme`: searches rank on them and assemble only the best.
#[derive(Clone, Copy, Debug)]
pub struct Costed {
    stored: PerCat<bool>,
    fetch: PerOrdered<PerCat<u64>>,
    gbuf_words: PerCat<u64>,
    regf_words: PerCat<u64>,
    filter_pinned: bool,
    lcnt: u64,
    proc_time: u64,
    bus_time: u64,
    dram_time: u64,
    pub time: u64,
    access: PerLevel<PerCat<f64>>,
    remote: PerCat<f64>,
    pub access_cost: f64,
}

/// Costs blockings of one nested loop on given nodes. What no blocking
/// changes (the accesses that touch each category's data once) is worked
/// out once: searches cost millions of blockings of the same loop.
pub struct Coster<'a> {
    nld: &'a NestedLoopDesc,
    env: &'a NodeEnv,
    energy: &'a Energy,
    /// `nld.total_access` of each level and category.
    total: PerLevel<PerCat<f64>>,
}

impl<'a> Coster<'a> {
    pub fn new(nld: &'a NestedLoopDesc, env: &'a NodeEnv, energy: &'a Energy) -> Coster<'a> {
        Coster {
            nld,
            env,
            energy,
            total: PerLevel::from_fn(|m| PerCat::from_fn(|d| nld.total_access(m, d))),
        }
    }

    /// `evaluate` of a blocking whose factors fit (`Footprint::fits`).
    #[inline]
    pub fn evaluate_fitting(&self, b: &Blocking, fp: &Footprint) -> Result<Costed, Infeasible> {
        let (nld, env) = (self.nld, self.env);
        let (stored, mut fetch) = residency(nld, env, b)?;
        fp.check_gbuf(env, stored)?;

        // Filters a node keeps across the whole layer are fetched once, up
        // front, not counted per pass.
        let filter_pinned = env.no_time_mux
            && LoopDim::ALL
                .iter()
                .all(|&l| !nld.data_loops.has(DataCat::Fil, l) || b.ts[BlockLevel::Dram][l] == 1);
        if filter_pinned {
            fetch[OrderedLevel::Dram][DataCat::Fil] = 0;
        }

        let lcnt: u64 = b.tp(BlockLevel::Dram).0.iter().product();
        let n = env.num_nodes as f64;
        let (access, remote) = self.accesses(stored, &fetch, lcnt);
        let dram_time = (access[MemLevel::Dram].sum() / env.dram_bw).ceil() as u64;
        let max_gbuf = access[MemLevel::Gbuf]
            .0
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        let bus_time = match env.bus_words {
            None => 0,
            Some(w) => ((max_gbuf / n).ceil() as u64).div_ceil(w),
        };
        let proc_time = nld.unit_time * lcnt;
        let time = proc_time.max(bus_time).max(dram_time);
        let access_cost = self.access_cost(&access, &remote);
        Ok(Costed {
            stored,
            fetch,
            gbuf_words: fp.gbuf(stored),
            regf_words: fp.regf,
            filter_pinned,
            lcnt,
            proc_time,
            bus_time,
            dram_time,
            time,
            access,
            remote,
            access_cost,
        })
    }

    /// A lower bound on the access cost of every blocking of the loop on
    /// these nodes that `cstr` allows, with the fetch counts from memory
    /// it assumes: the least fetch counts (`least_fetches`), each category
    /// held in the buffer or not, whichever costs less. Costs only grow
    /// with fetch counts.
    pub fn least_access(&self, cstr: &TopConstraint) -> (f64, PerCat<u64>) {
        let env = self.env;
        let fetch = least_fetches(self.nld, env, cstr);
        let lcnt: u64 = self.nld.loopcnt.0.iter().product();
        let forced = PerCat::from_fn(|d| {
            !env.bypass[d]
                || (d == DataCat::Ifm && env.src == DataSite::SameNodes)
                || (d == DataCat::Ofm && env.dst == DataSite::SameNodes)
        });
        let mut least = f64::INFINITY;
        for mask in 0..8u8 {
            let stored = PerCat::from_fn(|d| forced[d] || mask >> d as u8 & 1 == 1);
            let (access, remote) = self.accesses(stored, &fetch, lcnt);
            least = least.min(self.access_cost(&access, &remote));
        }
        (least, fetch[OrderedLevel::Dram])
    }

    /// The energy of accesses per level and of accesses to other nodes'
    /// buffers (`accesses`).
    #[inline(always)]
    fn access_cost(&self, access: &PerLevel<PerCat<f64>>, remote: &PerCat<f64>) -> f64 {
        let mut cost = 0.0;
        for m in MemLevel::ALL {
            cost += self.energy.access(m) * access[m].sum();
        }
        cost + self.energy.gbuf * remote.sum()
    }

    /// Accesses per level and category of `lcnt` loop bodies on every
    /// node, and the accesses to other nodes' buffers (on-chip inputs and
    /// outputs), which DRAM then does not see.
    #[inline(always)]
    fn accesses(
        &self,
        stored: PerCat<bool>,
        fetch: &PerOrdered<PerCat<u64>>,
        lcnt: u64,
    ) -> (PerLevel<PerCat<f64>>, PerCat<f64>) {
        let (nld, env, total) = (self.nld, self.env, &self.total);
        let n = env.num_nodes as f64;
        let lcnt_f = lcnt as f64;
        let mut access = PerLevel::splat(PerCat::splat(0.0));
        access[MemLevel::Regf] = PerCat::from_fn(|d| {
            let t = if d == DataCat::Ofm { 2.0 } else { 1.0 };
            nld.unit_access[MemLevel::Regf][d] * lcnt_f * t * n
        });
        access[MemLevel::Itcn] =
            PerCat::from_fn(|d| total[MemLevel::Itcn][d] * fetch[OrderedLevel::Gbuf][d] as f64 * n);
        access[MemLevel::Gbuf] = PerCat::from_fn(|d| {
            let s = if stored[d] { 1.0 } else { 0.0 };
            total[MemLevel::Gbuf][d] * fetch[OrderedLevel::Gbuf][d] as f64 * s * n
        });
        access[MemLevel::Dram] = PerCat::from_fn(|d| {
            let level = if stored[d] {
                MemLevel::Dram
            } else {
                MemLevel::Gbuf
            };
            total[level][d] * fetch[OrderedLevel::Dram][d] as f64 * n / env.accfwd[d] as f64
        });
        let mut remote = PerCat::splat(0.0);
        for (site, d) in [(env.src, DataCat::Ifm), (env.dst, DataCat::Ofm)] {
            if site != DataSite::Dram {
                remote[d] += access[MemLevel::Dram][d];
                access[MemLevel::Dram][d] = 0.0;
            }
        }
        (access, remote)
    }
}

impl Costed {
    /// The scheme of blocking `b` with these costs.
    pub fn scheme(&self, nld: &NestedLoopDesc, env: &NodeEnv, b: &Blocking) -> BlockingScheme {
        BlockingScheme {
            blocking: *b,
            searched_gbuf_order: b.ords[OrderedLevel::Gbuf],
            sharing: None,
            stored_in_gbuf: self.stored,
            fetch: self.fetch,
            gbuf_words: self.gbuf_words,
            regf_words: self.regf_words,
            ops: nld.unit_ops * self.lcnt as f64 * env.num_nodes as f64,
            proc_time: self.proc_time,
            bus_time: self.bus_time,
            dram_time: self.dram_time,
            time: self.time,
            access: self.access,
            remote_gbuf_access: self.remote,
            noc_access: PerCat::splat(0.0),
            accfwd_reduction: env.accfwd,
            filter_pinned: self.filter_pinned,
            access_cost: self.access_cost,
        }
    }
}

/// Which categories the buffer holds, and the fetch counts. Data that may
/// not bypass is held; on-chip inputs and outputs must be fetched once
/// (and are held when on the same nodes); data fetched into the register
/// files more often than from DRAM is held, to be reused.
#[inline(always)]
fn residency(
    nld: &NestedLoopDesc,
    env: &NodeEnv,
    b: &Blocking,
) -> Result<(PerCat<bool>, PerOrdered<PerCat<u64>>), Infeasible> {
    let mut stored = env.bypass.map(|_, v| !v);
    let fetch = fetches(nld, b);
    for (site, d) in [(env.src, DataCat::Ifm), (env.dst, DataCat::Ofm)] {
        if site != DataSite::Dram {
            if fetch[OrderedLevel::Dram][d] > 1 {
                return Err(Infeasible::OnChipRefetch);
            }
            if site == DataSite::SameNodes {
                stored[d] = true;
            }
        }
    }
    for d in DataCat::ALL {
        if !stored[d] && fetch[OrderedLevel::Dram][d] < fetch[OrderedLevel::Gbuf][d] {
            stored[d] = true;
        }
    }
    Ok((stored, fetch))
}

/// Chooses the buffer-sharing arrangement of a costed scheme: subgroup
/// sizes, the extra sharing level and the buffer-level loop order, and the
/// NoC traffic of rotations and wide fetches.
pub fn with_sharing(
    nld: &NestedLoopDesc,
    env: &NodeEnv,
    mut s: BlockingScheme,
    bufshr: &BufShr,
) -> BlockingScheme {
    // Sharing is decided on the fetch counts before filter pinning.
    let fetch = fetches(nld, &s.blocking);
    let stored = s.stored_in_gbuf;
    let unshared = gbuf_sizes(nld, &s.blocking, stored, PerCat::splat(1));
    let ctx = sharing::SharingCtx {
        nld,
        bufshr,
        fetch: &fetch,
        grp: env.share_grp,
        unshared_gbuf: unshared,
        gbuf_words: env.gbuf_words,
        num_nodes: env.num_nodes,
        top: s.blocking.ts[BlockLevel::Dram],
    };
    let (sgs, st) = sharing::set_bufshr(&ctx, &mut s.blocking, env.share_grp);
    s.gbuf_words = gbuf_sizes(nld, &s.blocking, stored, sgs);
    if let Some(st) = &st {
        let rot = ctx.noc_access(&st.rot_fetch);
        let wf = ctx.noc_access(&st.wide_fetch);
        s.noc_access = PerCat::from_fn(|d| rot[d] + wf[d]);
    }
    s.sharing = st.map(Box::new);
    s
}

/// Costs one blocking choice (`evaluate`) and, with buffer sharing,
/// arranges its sharing (`with_sharing`).
pub fn cost(
    nld: &NestedLoopDesc,
    env: &NodeEnv,
    energy: &Energy,
    b: &Blocking,
    bufshr: Option<&BufShr>,
) -> Result<BlockingScheme, Infeasible> {
    let s = evaluate(nld, env, energy, b)?;
    Ok(match bufshr {
        Some(bs) => with_sharing(nld, env, s, bs),
        None => s,
    })
}

/// Constraints on the outermost blocking factors, which inter-layer
/// pipelining imposes; 0 leaves a factor free.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct TopConstraint {
    pub topbat: u64,
    pub topifm: u64,
    pub topofm: u64,
}

impl TopConstraint {
    /// Whether a factor tuple of `loop_` passes on its outermost factor.
    #[inline]
    pub fn allows_factor(&self, l: LoopDim, outer: u64) -> bool {
        let c = match l {
            LoopDim::Ifm => self.topifm,
            LoopDim::Ofm => self.topofm,
            LoopDim::Bat => self.topbat,
        };
        c == 0 || c == outer
    }

    /// Whether a whole blocking satisfies the constraint: the factors, and
    /// the order of the outermost loops (`allows_order`).
    pub fn allows(&self, b: &Blocking) -> bool {
        LoopDim::ALL
            .iter()
            .all(|&l| self.allows_factor(l, b.ts[BlockLevel::Dram][l]))
            && self.allows_order(b)
    }

    /// Whether the outermost loops are in the constrained order: a
    /// constrained batch split outermost, then a constrained input or
    /// output channel split, so that groups of data flow to the next layer
    /// one after another. Only which factors are constrained above 1
    /// matters (`ordered`).
    pub fn allows_order(&self, b: &Blocking) -> bool {
        let mut outer = b.ordered_loops(OrderedLevel::Dram).map(|(l, _)| l);
        for (c, l) in [
            (self.topbat, LoopDim::Bat),
            (self.topifm, LoopDim::Ifm),
            (self.topofm, LoopDim::Ofm),
        ] {
            if c > 1 && outer.next() != Some(l) {
                return false;
            }
        }
        true
    }

    /// Which factors the order constraint applies to (bit 0 batch, 1 input
    /// channels, 2 output channels): what `allows_order` depends on.
    pub fn ordered(&self) -> usize {
        usize::from(self.topbat > 1)
            | usize::from(self.topifm > 1) << 1
            | usize::from(self.topofm > 1) << 2
    }

    /// A constraint with the same `ordered` bits, for tabulating orders.
    fn with_ordered(bits: usize) -> TopConstraint {
        let c = |bit: usize| if bits >> bit & 1 == 1 { 2 } else { 0 };
        TopConstraint {
            topbat: c(0),
            topifm: c(1),
            topofm: c(2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::array::row_stationary;
    use crate::hw::Dim2;
    use crate::network::Layer;

    /// The energies of nn_dataflow's blocking tests (no NoC, no static
    /// energy).
    const NNDF_TEST_ENERGY: Energy = Energy {
        mac: 1.0,
        dram: 200.0,
        gbuf: 6.0,
        itcn: 2.0,
        regf: 1.0,
        noc_hop: 0.0,
        idle: 0.0,
    };

    /// `least_fetches` and `Coster::least_access` bound every blocking a
    /// constraint allows from below, and tightly: some allowed blocking
    /// fetches each category from memory that rarely. A conv and an FC
    /// layer, with and without filters kept on the nodes and on-chip
    /// inputs and outputs, under constraints of every order.
    #[test]
    fn least_access_bounds_every_allowed_blocking() {
        let energy = NNDF_TEST_ENERGY;
        let conv = Layer::conv(8, 16, (8, 8), (3, 3), (1, 1)).unwrap();
        let fc = Layer::fc(64, 32, (2, 2)).unwrap();
        let cstrs = [
            (0, 0, 0),
            (2, 0, 0),
            (2, 0, 4),
            (0, 2, 0),
            (0, 0, 4),
            (4, 2, 2),
            (1, 2, 0),
        ];
        let mut checked = 0;
        for layer in [conv, fc] {
            for nld in row_stationary(&layer, 4, 1.0, Dim2::new(8, 8)) {
                for (no_time_mux, src, dst) in [
                    (false, DataSite::Dram, DataSite::Dram),
                    (true, DataSite::OtherNodes, DataSite::SameNodes),
                ] {
                    let env = NodeEnv {
                        gbuf_words: 1 << 16,
                        regf_words: 64,
                        num_nodes: 2,
                        bus_words: None,
                        dram_bw: f64::INFINITY,
                        src,
                        dst,
                        no_time_mux,
                        bypass: PerCat([true, true, false]),
                        accfwd: PerCat::splat(1),
                        share_grp: PerCat::splat(1),
                    };
                    for (topbat, topifm, topofm) in cstrs {
                        let cstr = TopConstraint {
                            topbat,
                            topifm,
                            topofm,
                        };
                        let (all, _) = exhaustive::search(
                            &nld,
                            &env,
                            &energy,
                            &cstr,
                            Goal::Energy,
                            usize::MAX,
                        );
                        let (least, fetch) = Coster::new(&nld, &env, &energy).least_access(&cstr);
                        let mut fewest = PerCat::splat(u64::MAX);
                        for s in &all {
                            assert!(s.access_cost >= least * (1.0 - 1e-12), "{cstr:?}");
                            for d in DataCat::ALL {
                                let f = s.fetch[OrderedLevel::Dram][d];
                                assert!(f >= fetch[d], "{cstr:?} {d:?}: {f} < {}", fetch[d]);
                                fewest[d] = fewest[d].min(f);
                            }
                        }
                        if !all.is_empty() {
                            assert_eq!(fewest, fetch, "{cstr:?}, {no_time_mux}");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked >= 20, "{checked}");
    }

    /// A small conv on an 8x8 array, against nn_dataflow's
    /// MapStrategyEyeriss and LoopBlockingScheme on the same inputs
    /// (4096-word buffer, 64-word register files, a 2-word bus, 4 DRAM
    /// words per cycle, all data allowed to bypass).
    #[test]
    fn small_conv_matches_nn_dataflow() {
        let layer = Layer::conv(8, 16, (8, 8), (3, 3), (1, 1)).unwrap();
        let nlds = row_stationary(&layer, 4, 1.0, Dim2::new(8, 8));
        assert_eq!(nlds.len(), 2);
        let n = &nlds[0];
        assert_eq!(n.loopcnt.0, [8, 8, 4]);
        assert_eq!(n.usize_gbuf.0, [18, 100, 128]);
        assert_eq!(n.usize_regf.0, [3, 3, 1]);
        assert_eq!((n.unit_ops, n.unit_time), (1152.0, 24));
        assert_eq!(
            n.unit_access.0.map(|a| a.0),
            [
                [18.0, 100.0, 128.0],
                [18.0, 100.0, 128.0],
                [144.0, 480.0, 384.0],
                [1152.0, 1152.0, 1152.0]
            ]
        );
        assert_eq!(
            (nlds[1].loopcnt.0, nlds[1].usize_gbuf.0),
            ([4, 16, 4], [18, 200, 64])
        );

        let env = NodeEnv {
            gbuf_words: 4096,
            regf_words: 64,
            num_nodes: 1,
            bus_words: Some(2),
            dram_bw: 4.0,
            src: DataSite::Dram,
            dst: DataSite::Dram,
            no_time_mux: false,
            bypass: PerCat::splat(true),
            accfwd: PerCat::splat(1),
            share_grp: PerCat::splat(1),
        };
        let energy = NNDF_TEST_ENERGY;
        let ts = PerBlock([PerLoop([2, 1, 2]), PerLoop([2, 2, 2]), PerLoop([2, 4, 1])]);
        // (orders, accesses, access cost, (time, proc, bus, dram), fetches,
        // stored, sizes)
        type Want = (
            [[u8; 3]; 2],
            [[f64; 3]; 4],
            f64,
            [u64; 4],
            [[u64; 3]; 2],
            [bool; 3],
            [[u64; 3]; 2],
        );
        let cases: [Want; 2] = [
            (
                [[0, 1, 2], [1, 0, 2]],
                [
                    [2304.0, 3200.0, 4096.0],
                    [4608.0, 0.0, 28672.0],
                    [36864.0, 15360.0, 86016.0],
                    [294912.0, 294912.0, 589824.0],
                ],
                3575808.0,
                [14336, 6144, 14336, 2400],
                [[2, 1, 1], [4, 1, 7]],
                [true, false, true],
                [[576, 0, 2048], [24, 6, 4]],
            ),
            (
                [[2, 1, 0], [0, 1, 2]],
                [
                    [1152.0, 3200.0, 12288.0],
                    [4608.0, 6400.0, 0.0],
                    [36864.0, 30720.0, 36864.0],
                    [294912.0, 294912.0, 589824.0],
                ],
                4782592.0,
                [6144, 6144, 3200, 4160],
                [[1, 1, 3], [4, 2, 3]],
                [true, true, false],
                [[576, 800, 0], [24, 6, 4]],
            ),
        ];
        for (ords, acc, cost, times, fetch, stored, size) in cases {
            let b = Blocking {
                ts,
                ords: PerOrdered(ords.map(PerLoop)),
            };
            let s = evaluate(n, &env, &energy, &b).unwrap();
            assert_eq!(s.access.0.map(|a| a.0), acc);
            assert_eq!(s.access_cost, cost);
            assert_eq!([s.time, s.proc_time, s.bus_time, s.dram_time], times);
            assert_eq!(s.fetch.0.map(|f| f.0), fetch);
            assert_eq!(s.stored_in_gbuf.0, stored);
            assert_eq!([s.gbuf_words.0, s.regf_words.0], size);
        }
        // A register file too small for the innermost block.
        let small = NodeEnv {
            regf_words: 16,
            ..env
        };
        let b = Blocking {
            ts,
            ords: PerOrdered::splat(PerLoop([0, 1, 2])),
        };
        assert_eq!(
            evaluate(n, &small, &energy, &b),
            Err(Infeasible::RegfOverflow { need: 34, have: 16 })
        );
    }
}
