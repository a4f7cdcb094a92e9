//! Pipeline segments (TANGRAM): groups of consecutive layers scheduled
//! together. Slots run side by side on disjoint node regions (spatial
//! pipelining); the layers of a slot run one after another on its region,
//! keeping intermediate data on chip (temporal pipelining).
//!
//! A segment is validated, given node regions, and turned into the finite
//! set of scheduling constraints its layers must share so that data can
//! flow between them: the outermost blocking factors (batch groups, output
//! or input channel groups) and which maps must be fully buffered. The
//! constraint system is built symbolically as nn_dataflow builds it with
//! sympy, simplified by the same rules, and enumerated in the same order.

use std::collections::HashMap;

use super::expr::{Expr, SymId};
use crate::blocking::TopConstraint;
use crate::network::{LayerId, Network, Source};
use crate::partition::NodeRegion;
use crate::placement::Placement;
use crate::util::divisors;

/// A layer's position in a segment: slot (spatial), and position within
/// the slot (temporal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SchedIdx {
    pub sp: usize,
    pub tm: usize,
}

impl SchedIdx {
    /// The first layer of a segment.
    pub const FIRST: SchedIdx = SchedIdx { sp: 0, tm: 0 };
}

/// A layer's place in a schedule: its segment, and its position in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SchedSeq {
    pub segment: usize,
    pub idx: SchedIdx,
}

/// Constraints on one layer's blocking within a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LayerConstraint {
    pub topbat: u64,
    pub topifm: u64,
    pub topofm: u64,
    /// Input maps fully buffered on chip.
    pub fbifm: bool,
    /// Output maps fully buffered on chip.
    pub fbofm: bool,
    /// Take `topofm` from this (conv) layer's schedule once it is known.
    pub update_from: Option<LayerId>,
}

impl LayerConstraint {
    /// What the constraint asks of the layer's blocking.
    pub fn top(&self) -> TopConstraint {
        TopConstraint {
            topbat: self.topbat,
            topifm: self.topifm,
            topofm: self.topofm,
        }
    }
}

/// Symbolic arguments of one layer's constraint.
#[derive(Clone, Debug, Default, PartialEq)]
struct Args {
    topbat: Option<Expr>,
    fbifm: Option<Expr>,
    fbofm: Option<Expr>,
    topifm: Option<Expr>,
    topofm: Option<Expr>,
    update_from: Option<LayerId>,
}

impl Args {
    fn values(&self) -> impl Iterator<Item = &Expr> {
        [
            &self.topbat,
            &self.fbifm,
            &self.fbofm,
            &self.topifm,
            &self.topofm,
        ]
        .into_iter()
        .flatten()
    }
    fn values_mut(&mut self) -> impl Iterator<Item = &mut Expr> {
        [
            &mut self.topbat,
            &mut self.fbifm,
            &mut self.fbofm,
            &mut self.topifm,
            &mut self.topofm,
        ]
        .into_iter()
        .flatten()
    }
    fn get_fbofm(&self) -> Expr {
        self.fbofm.clone().unwrap_or(Expr::Bool(false))
    }
}

#[derive(Clone, Debug)]
struct Sym {
    /// Symbols are enumerated in name order, as nn_dataflow does.
    name: String,
    /// Candidate values; `None` once the symbol is substituted away.
    values: Option<Vec<Expr>>,
    /// The value that leaves its constraint free: 0 for a blocking factor,
    /// false for a fully-buffered flag.
    free: Expr,
}

/// A validated segment with its node allocation and constraint system.
#[derive(Clone, Debug)]
pub struct PipelineSegment {
    pub slots: Vec<Vec<LayerId>>,
    /// Where each layer runs and where its data comes from and goes.
    pub placements: Vec<Vec<Placement>>,
    syms: Vec<Sym>,
    args: Vec<Vec<Args>>,
    num_sp_fbs: u64,
    topbat: SymId,
}

/// Options that shape segments.
#[derive(Clone, Copy, Debug)]
pub struct SegmentOptions {
    /// TANGRAM's optimizations; without them only linear chains pipeline.
    pub with_opt: bool,
}

/// Where each layer's inputs come from and outputs go, inside a segment.
struct Deps {
    /// `None` stands for memory.
    src: Vec<Vec<Vec<Option<SchedIdx>>>>,
    dst: Vec<Vec<Vec<Option<SchedIdx>>>>,
    /// Layers sharing the same memory inputs: the fetcher first.
    ifm_fwd: Vec<(Vec<Source>, Vec<SchedIdx>)>,
}

impl PipelineSegment {
    /// Builds the segment, or `None` when it cannot be pipelined.
    pub fn new(
        slots: Vec<Vec<LayerId>>,
        net: &Network,
        batch: u64,
        whole: &Placement,
        gbuf_words: u64,
        opts: SegmentOptions,
    ) -> Option<PipelineSegment> {
        let deps = init_deps(&slots, net, opts.with_opt)?;
        let placements = alloc_resource(&slots, net, whole, &deps)?;
        let mut seg = PipelineSegment {
            slots,
            placements,
            syms: Vec::new(),
            args: Vec::new(),
            num_sp_fbs: 0,
            topbat: 0,
        };
        if !seg.init_constraints(net, batch, gbuf_words, &deps, opts) {
            return None;
        }
        Some(seg)
    }

    /// The last layer (of the last slot).
    pub fn last(&self) -> LayerId {
        *self
            .slots
            .last()
            .and_then(|s| s.last())
            .expect("segments are non-empty")
    }

    fn new_sym(&mut self, name: String, values: Vec<Expr>) -> SymId {
        let free = match values.first() {
            Some(Expr::Bool(_)) => Expr::Bool(false),
            _ => Expr::Int(0),
        };
        self.syms.push(Sym {
            name,
            values: Some(values),
            free,
        });
        self.syms.len() - 1
    }

    fn live(&self, s: SymId) -> bool {
        self.syms[s].values.is_some()
    }

    /// Builds the constraint system: chains the layers' blocking
    /// constraints, picks the first conv's fully-buffered choice, and
    /// shares the input groups of layers that read the same memory
    /// inputs. False when no choice fits the buffers.
    fn init_constraints(
        &mut self,
        net: &Network,
        batch: u64,
        gbuf_words: u64,
        deps: &Deps,
        opts: SegmentOptions,
    ) -> bool {
        let vals = FactorValues {
            net,
            batch,
            cap: 0.05 * gbuf_words as f64,
        };
        self.topbat = self.new_sym("topbat_shr".into(), int_exprs(divisors(batch)));
        let fbofm_init = self.new_sym(
            "fbofm_init".into(),
            vec![Expr::Bool(false), Expr::Bool(true)],
        );
        let topbat = Expr::Sym(self.topbat);
        self.args = self
            .slots
            .iter()
            .map(|s| {
                s.iter()
                    .map(|_| Args {
                        topbat: Some(topbat.clone()),
                        ..Default::default()
                    })
                    .collect()
            })
            .collect();
        let crit = self.chain(net, deps, opts, &vals, fbofm_init);
        self.simplify();
        let Some(num_sp_fbs) = self.choose_fbofm_init(net, &crit, fbofm_init, gbuf_words) else {
            return false;
        };
        self.simplify();
        self.share_fetched_inputs(deps, &vals);
        self.simplify();
        self.lazify(net);
        self.num_sp_fbs = num_sp_fbs;
        true
    }

    /// Chains each layer's constraint to its producer's, slot by slot, and
    /// returns the critical path: the longest chain of slots feeding each
    /// other (nn_dataflow takes the first of a hash-ordered set, nnsched
    /// the first found).
    fn chain(
        &mut self,
        net: &Network,
        deps: &Deps,
        opts: SegmentOptions,
        vals: &FactorValues<'_>,
        fbofm_init: SymId,
    ) -> Vec<usize> {
        let mut crit_cands: Vec<Vec<usize>> = vec![vec![0]];
        let mut st = ChainState {
            last_conv: None,
            pending_fbofm: None,
            topofm: Expr::Int(0),
        };
        for sp in 0..self.slots.len() {
            let v = vals.topofm(self.slots[sp][0]);
            st.topofm = Expr::Sym(self.new_sym(format!("topofm_{sp}_s"), v));
            for tm in 0..self.slots[sp].len() {
                let l = self.slots[sp][tm];
                let idx = SchedIdx { sp, tm };
                let nbr = deps.src[sp][tm].iter().flatten().next().copied();
                if let Some(n) = nbr {
                    extend_chains(&mut crit_cands, n.sp, sp);
                }
                if net.layer(l).is_conv() {
                    self.chain_conv(idx, nbr, &mut st, opts, vals.topofm(l), fbofm_init);
                } else {
                    self.chain_local(idx, nbr, &mut st);
                }
                if tm == self.slots[sp].len() - 1 && deps.dst[sp][tm].iter().all(|d| d.is_none()) {
                    self.args[sp][tm].fbofm = None;
                }
            }
        }
        let mut crit = crit_cands[0].clone();
        for c in &crit_cands {
            if c.len() > crit.len() {
                crit = c.clone();
            }
        }
        crit
    }

    /// A conv at `idx`: a new output group symbol; fully buffered if it
    /// follows a conv in its slot, else taking its input groups from a
    /// neighbour slot's producer or, as the first conv, the open choice.
    fn chain_conv(
        &mut self,
        idx: SchedIdx,
        nbr: Option<SchedIdx>,
        st: &mut ChainState,
        opts: SegmentOptions,
        topofm_vals: Vec<Expr>,
        fbofm_init: SymId,
    ) {
        let SchedIdx { sp, tm } = idx;
        if let Some(v) = st.pending_fbofm.take() {
            let lc = st.last_conv.expect("a pending fbofm follows a conv");
            let (ps, pt) = if lc.sp == sp {
                (sp, tm - 1)
            } else {
                (lc.sp, self.args[lc.sp].len() - 1)
            };
            self.args[ps][pt].fbofm = Some(v);
        }
        let s = self.new_sym(format!("topofm_{sp}_{tm}"), topofm_vals);
        st.topofm = Expr::Sym(s);
        self.args[sp][tm].topofm = Some(st.topofm.clone());
        if let Some(lc) = st.last_conv.filter(|lc| lc.sp == sp) {
            self.args[sp][tm].fbifm = Some(Expr::Bool(true));
            self.args[sp][lc.tm].fbofm = Some(Expr::Bool(true));
            self.args[sp][tm - 1].fbofm = Some(Expr::Bool(true));
        } else if let Some(n) = nbr {
            if !opts.with_opt {
                self.args[n.sp][n.tm].fbofm = Some(Expr::Bool(true));
            }
            let nsa = self.args[n.sp][n.tm].clone();
            let nf = nsa.get_fbofm();
            let cur = &mut self.args[sp][tm];
            cur.fbifm = Some(Expr::eq(nf.clone(), true));
            cur.fbofm = Some(Expr::eq(nf.clone(), false));
            st.pending_fbofm = Some(Expr::eq(nf.clone(), false));
            let old = cur.topifm.clone().unwrap_or(Expr::Int(0));
            let ntop = nsa.topofm.clone().expect("every layer has a topofm here");
            cur.topifm = Some(Expr::pw(ntop, Expr::eq(nf, false), old));
        } else if st.last_conv.is_none() {
            self.args[sp][tm].fbofm = Some(Expr::Sym(fbofm_init));
            st.pending_fbofm = Some(Expr::Sym(fbofm_init));
        }
        st.last_conv = Some(idx);
    }

    /// A pooling or eltwise layer at `idx`: it keeps the output groups of
    /// its slot, or of a neighbour slot's producer it reads in groups.
    fn chain_local(&mut self, idx: SchedIdx, nbr: Option<SchedIdx>, st: &mut ChainState) {
        let SchedIdx { sp, tm } = idx;
        if let Some(n) = nbr {
            let nsa = self.args[n.sp][n.tm].clone();
            let nf = nsa.get_fbofm();
            let ntop = nsa.topofm.clone().expect("every layer has a topofm here");
            st.topofm = Expr::pw(ntop, Expr::eq(nf, false), st.topofm.clone());
            let from = st.last_conv.map_or(0, |lc| lc.tm);
            for bt in from..tm {
                self.args[sp][bt].topofm = Some(st.topofm.clone());
            }
        }
        self.args[sp][tm].topofm = Some(st.topofm.clone());
    }

    /// Fixes the fully-buffered choice of the first conv: fewest buffered
    /// slots on the critical path, then the smallest buffer need, among the
    /// choices whose buffered maps fit. Returns the number of buffered
    /// slots on the critical path, or `None` when no choice fits.
    fn choose_fbofm_init(
        &mut self,
        net: &Network,
        crit: &[usize],
        fbofm_init: SymId,
        gbuf_words: u64,
    ) -> Option<u64> {
        let vals = self.syms[fbofm_init]
            .values
            .clone()
            .unwrap_or_else(|| vec![Expr::Bool(false)]);
        let mut opt: Option<(Expr, (u64, u64))> = None;
        'vals: for val in vals {
            let sub = |s: SymId| (s == fbofm_init).then(|| val.clone());
            let holds = |e: &Option<Expr>| e.as_ref().is_some_and(|e| e.subs(&sub).truthy());
            let mut maxsz = 0;
            let mut numfb = 0;
            for (sp, slot) in self.slots.iter().enumerate() {
                let mut ms = 0;
                for (tm, &l) in slot.iter().enumerate() {
                    let a = &self.args[sp][tm];
                    let layer = net.layer(l);
                    let sz = if holds(&a.fbofm) {
                        layer.total_ofmap_size()
                    } else {
                        0
                    } + if holds(&a.fbifm) {
                        layer.total_ifmap_size()
                    } else {
                        0
                    };
                    ms = ms.max(sz);
                }
                if ms > self.placements[sp][0].proc.dim.size() * gbuf_words {
                    continue 'vals;
                }
                maxsz = maxsz.max(ms);
                let last = self.args[sp].last().expect("non-empty");
                if crit.contains(&sp) && holds(&last.fbofm) {
                    numfb += 1;
                }
            }
            if opt.as_ref().is_none_or(|o| (numfb, maxsz) < o.1) {
                opt = Some((val, (numfb, maxsz)));
            }
        }
        let (val, (numfb, _)) = opt?;
        self.syms[fbofm_init].values = Some(vec![val]);
        Some(numfb)
    }

    /// Layers reading the same memory inputs share them as the first one
    /// fetches them: all fully buffered if any buffers its maps whole, else
    /// in the same input groups.
    fn share_fetched_inputs(&mut self, deps: &Deps, vals: &FactorValues<'_>) {
        for (_, sh) in &deps.ifm_fwd {
            let fet_sp = sh[0].sp;
            let any_fb = sh.iter().any(|i| {
                let a = &self.args[i.sp][0];
                a.fbofm.as_ref().is_some_and(Expr::truthy)
                    || a.topofm.as_ref().is_some_and(Expr::truthy)
            });
            let (fbifm, topifm) = if any_fb {
                (Some(Expr::Bool(true)), None)
            } else {
                let v = vals.topifm(self.slots[fet_sp][0]);
                (
                    None,
                    Some(Expr::Sym(self.new_sym(format!("topifm_{fet_sp}"), v))),
                )
            };
            for i in sh {
                let a = &mut self.args[i.sp][0];
                if fbifm.is_some() {
                    a.fbifm = fbifm.clone();
                }
                if topifm.is_some() {
                    a.topifm = topifm.clone();
                }
            }
        }
    }

    /// One pass of nn_dataflow's simplification; false if it changed
    /// anything.
    fn simplify_pass(&mut self) -> bool {
        for a in self.args.iter_mut().flatten() {
            match a.fbifm {
                Some(Expr::Bool(true)) => a.topifm = None,
                Some(Expr::Bool(false)) => a.fbifm = None,
                _ => {}
            }
            match a.fbofm {
                Some(Expr::Bool(true)) => a.topofm = None,
                Some(Expr::Bool(false)) => a.fbofm = None,
                _ => {}
            }
        }
        // Uses: once per (layer, key) whose value mentions the symbol.
        let mut counts = vec![0usize; self.syms.len()];
        for a in self.args.iter().flatten() {
            for v in a.values() {
                let mut s = Vec::new();
                v.symbols(&mut s);
                for x in s {
                    counts[x] += 1;
                }
            }
        }
        let mut subs: Vec<(SymId, Option<Expr>)> = Vec::new();
        for (i, sym) in self.syms.iter().enumerate() {
            let Some(vals) = &sym.values else { continue };
            // The last applicable rule wins, as in nn_dataflow's dict update.
            let mut sub = None;
            let mut hit = false;
            if vals.len() == 1 {
                sub = Some(vals[0].clone());
                hit = true;
            }
            if counts[i] == 0 {
                sub = None;
                hit = true;
            } else if counts[i] <= 1 {
                sub = Some(sym.free.clone());
                hit = true;
            }
            if hit {
                subs.push((i, sub));
            }
        }
        if subs.is_empty() {
            return true;
        }
        let map: HashMap<SymId, Expr> = subs
            .iter()
            .filter_map(|(s, e)| e.clone().map(|e| (*s, e)))
            .collect();
        let f = |s: SymId| map.get(&s).cloned();
        for a in self.args.iter_mut().flatten() {
            for v in a.values_mut() {
                *v = v.subs(&f);
            }
        }
        for (s, _) in subs {
            self.syms[s].values = None;
        }
        false
    }

    fn simplify(&mut self) {
        while !self.simplify_pass() {}
    }

    /// A topofm symbol shared by one conv and the pooling layers after it
    /// becomes lazy: the pooling layers take the conv's chosen factor.
    fn lazify(&mut self, net: &Network) {
        let flat: Vec<(LayerId, SchedIdx)> = self
            .slots
            .iter()
            .enumerate()
            .flat_map(|(sp, s)| {
                s.iter()
                    .enumerate()
                    .map(move |(tm, &l)| (l, SchedIdx { sp, tm }))
            })
            .collect();
        let mut sym2conv: Vec<(SymId, LayerId)> = Vec::new();
        let mut sym2lrs: HashMap<SymId, Vec<LayerId>> = HashMap::new();
        let mut unqual: Vec<SymId> = Vec::new();
        for &(l, i) in &flat {
            let a = &self.args[i.sp][i.tm];
            let topofm = a.topofm.clone().unwrap_or(Expr::Int(0));
            if net.layer(l).is_conv() {
                let topifm = a.topifm.clone().unwrap_or(Expr::Int(0));
                let mut syms = Vec::new();
                topofm.symbols(&mut syms);
                topifm.symbols(&mut syms);
                for s in syms {
                    if unqual.contains(&s) {
                        continue;
                    }
                    if let Some(pos) = sym2conv.iter().position(|e| e.0 == s) {
                        sym2conv.remove(pos);
                        sym2lrs.remove(&s);
                        unqual.push(s);
                    } else if topofm == Expr::Sym(s) {
                        sym2conv.push((s, l));
                    }
                }
            } else if let Expr::Sym(s) = topofm
                && sym2conv.iter().any(|e| e.0 == s)
            {
                sym2lrs.entry(s).or_default().push(l);
            }
        }
        let mut lr2conv: HashMap<LayerId, LayerId> = HashMap::new();
        for &(s, c) in &sym2conv {
            for lr in sym2lrs.get(&s).into_iter().flatten() {
                lr2conv.insert(*lr, c);
            }
        }
        let lconvs: Vec<LayerId> = lr2conv.values().copied().collect();
        for &(l, i) in &flat {
            let a = &mut self.args[i.sp][i.tm];
            if lconvs.contains(&l) {
                a.topofm = None;
            } else if let Some(&c) = lr2conv.get(&l) {
                a.topofm = None;
                a.update_from = Some(c);
            }
        }
        for (s, _) in sym2conv {
            self.syms[s].values = None;
        }
    }

    /// Every constraint assignment in nn_dataflow's order, with its hints
    /// (the symbol values, for dominance pruning). Batch groups too small
    /// for `max_time_overhead` are skipped.
    pub fn constraints(
        &self,
        max_time_overhead: f64,
    ) -> Vec<(Vec<Vec<LayerConstraint>>, Vec<u64>)> {
        let mut live: Vec<SymId> = (0..self.syms.len()).filter(|&s| self.live(s)).collect();
        live.sort_by(|&a, &b| self.syms[a].name.cmp(&self.syms[b].name));
        let mut vals: Vec<Vec<u64>> = live
            .iter()
            .map(|&s| {
                let mut v: Vec<u64> = self.syms[s]
                    .values
                    .as_ref()
                    .expect("live")
                    .iter()
                    .map(Expr::as_int)
                    .collect();
                v.sort();
                v
            })
            .collect();
        if let Some(pos) = live.iter().position(|&s| s == self.topbat) {
            let min = self.num_sp_fbs as f64 / max_time_overhead;
            vals[pos].retain(|&t| t as f64 >= min);
        }
        let mut out = Vec::new();
        if vals.iter().any(|v| v.is_empty()) {
            return out;
        }
        // An odometer over the values, the last symbol fastest.
        let mut combo = vec![0usize; live.len()];
        loop {
            let valp: Vec<u64> = combo.iter().enumerate().map(|(i, &k)| vals[i][k]).collect();
            if let Some(cstr) = self.assign(&live, &valp) {
                let hints = if live.is_empty() { vec![1] } else { valp };
                out.push((cstr, hints));
            }
            let mut i = live.len();
            loop {
                if i == 0 {
                    return out;
                }
                i -= 1;
                combo[i] += 1;
                if combo[i] < vals[i].len() {
                    break;
                }
                combo[i] = 0;
            }
        }
    }

    /// The constraints of every layer with symbols `live` set to `vals`;
    /// `None` for an assignment nn_dataflow rejects (a layer both in input
    /// and output channel groups).
    fn assign(&self, live: &[SymId], vals: &[u64]) -> Option<Vec<Vec<LayerConstraint>>> {
        let map: HashMap<SymId, Expr> = live
            .iter()
            .zip(vals)
            .map(|(&s, &v)| (s, Expr::Int(v)))
            .collect();
        let f = |s: SymId| map.get(&s).cloned();
        let ev = |e: &Option<Expr>| e.as_ref().map(|e| e.subs(&f));
        let layer = |a: &Args| {
            let fbifm = ev(&a.fbifm).is_some_and(|e| e.truthy());
            let fbofm = ev(&a.fbofm).is_some_and(|e| e.truthy());
            let c = LayerConstraint {
                topbat: ev(&a.topbat).map_or(0, |e| e.as_int()),
                topifm: if fbifm {
                    1
                } else {
                    ev(&a.topifm).map_or(0, |e| e.as_int())
                },
                topofm: if fbofm {
                    1
                } else {
                    ev(&a.topofm).map_or(0, |e| e.as_int())
                },
                fbifm,
                fbofm,
                update_from: a.update_from,
            };
            (c.topifm <= 1 || c.topofm <= 1).then_some(c)
        };
        self.args
            .iter()
            .map(|slot| slot.iter().map(layer).collect())
            .collect()
    }
}

/// Values a group symbol may take: divisors of a layer's channels whose
/// groups are not below 5% of a buffer (1 always qualifies).
struct FactorValues<'a> {
    net: &'a Network,
    batch: u64,
    /// 5% of a buffer, in words.
    cap: f64,
}

impl FactorValues<'_> {
    fn divisors_within(&self, n: u64, total: u64) -> Vec<Expr> {
        let tmax = (total * self.batch) as f64 / self.cap;
        int_exprs(
            divisors(n)
                .into_iter()
                .filter(|&t| t as f64 <= tmax || t == 1)
                .collect(),
        )
    }

    /// Output channel groups of a layer.
    fn topofm(&self, id: LayerId) -> Vec<Expr> {
        let l = self.net.layer(id);
        self.divisors_within(l.nofm(), l.total_ofmap_size())
    }

    /// Input channel groups of a layer.
    fn topifm(&self, id: LayerId) -> Vec<Expr> {
        let l = self.net.layer(id);
        self.divisors_within(l.nifm(), l.total_ifmap_size())
    }
}

fn int_exprs(v: Vec<u64>) -> Vec<Expr> {
    v.into_iter().map(Expr::Int).collect()
}

/// Chains of slots feeding each other: those ending at `from` extended to
/// `to`, each chain once.
fn extend_chains(chains: &mut Vec<Vec<usize>>, from: usize, to: usize) {
    let new: Vec<Vec<usize>> = chains
        .iter()
        .filter(|c| *c.last().expect("non-empty") == from)
        .map(|c| {
            let mut c = c.clone();
            c.push(to);
            c
        })
        .collect();
    for c in new {
        if !chains.contains(&c) {
            chains.push(c);
        }
    }
}

/// What chaining carries from layer to layer within a segment.
struct ChainState {
    last_conv: Option<SchedIdx>,
    /// A fully-buffered condition waiting for the conv that ends its run.
    pending_fbofm: Option<Expr>,
    /// The output groups of the slot so far.
    topofm: Expr,
}

/// Where each layer's inputs come from and outputs go; `None` when the
/// layers cannot form a segment (a slot's layers must form a chain, a layer
/// reads memory or one neighbour slot, not both, ...).
fn init_deps(slots: &[Vec<LayerId>], net: &Network, with_opt: bool) -> Option<Deps> {
    let mut idx: HashMap<LayerId, SchedIdx> = HashMap::new();
    for (sp, s) in slots.iter().enumerate() {
        for (tm, &l) in s.iter().enumerate() {
            idx.insert(l, SchedIdx { sp, tm });
        }
    }
    let mut d = Deps {
        src: slots.iter().map(|s| vec![Vec::new(); s.len()]).collect(),
        dst: slots.iter().map(|s| vec![Vec::new(); s.len()]).collect(),
        ifm_fwd: Vec::new(),
    };
    // A second operand is read from memory: its producer must have written
    // it there, in an earlier segment.
    let operand_inside = |l: &LayerId| {
        net.operands(*l)
            .iter()
            .any(|p| matches!(p, Source::Layer(id) if idx.contains_key(id)))
    };
    if slots.iter().flatten().any(operand_inside) {
        return None;
    }
    let mut prevs2layer: Vec<(Vec<Source>, LayerId)> = Vec::new();
    for (sp, slot) in slots.iter().enumerate() {
        let mut single_nbr: Option<SchedIdx> = None;
        for (tm, &l) in slot.iter().enumerate() {
            let me = SchedIdx { sp, tm };
            let ins = Links::of(
                me,
                net.prevs(l).iter().map(|p| match p {
                    Source::Layer(id) => idx.get(id).copied(),
                    _ => None,
                }),
            );
            let nexts = net.nexts(l);
            let mut outs = Links::of(me, nexts.iter().map(|n| idx.get(n).copied()));
            outs.mem |= nexts.is_empty();
            // Inputs: the previous layer of the slot, or memory or a single
            // neighbour slot (not both, and one neighbour per slot).
            let chained_in = match ins.local.as_slice() {
                [] => tm == 0,
                [p] => p.tm + 1 == tm,
                _ => false,
            };
            if !chained_in || (ins.mem && !ins.nbr.is_empty()) || ins.nbr.len() > 1 {
                return None;
            }
            if let Some(&n) = ins.nbr.first() {
                if single_nbr.is_some() {
                    return None;
                }
                single_nbr = Some(n);
            }
            if ins.mem && ins.local.is_empty() {
                share_fetch(&mut d, &mut prevs2layer, &idx, net.prevs(l), l, me);
            }
            // Outputs: the next layer of the slot, or the end of the slot.
            let chained_out = match outs.local.as_slice() {
                [] => tm == slot.len() - 1,
                [n] => n.tm == tm + 1,
                _ => false,
            };
            if !chained_out {
                return None;
            }
            if !with_opt
                && (ins.nbr.len() + ins.local.len() > 1
                    || outs.nbr.len() + outs.local.len() > 1
                    || (me != SchedIdx::FIRST && ins.nbr.is_empty() && ins.local.is_empty()))
            {
                return None;
            }
            d.src[sp][tm] = ins.sources();
            d.dst[sp][tm] = outs.sources();
        }
    }
    Some(d)
}

/// A layer's producers (or consumers) relative to the segment: memory
/// (outside it), layers of its own slot, layers of other slots.
struct Links {
    mem: bool,
    local: Vec<SchedIdx>,
    nbr: Vec<SchedIdx>,
}

impl Links {
    /// Sorts `others` (`None` outside the segment) relative to `me`.
    fn of(me: SchedIdx, others: impl Iterator<Item = Option<SchedIdx>>) -> Links {
        let mut l = Links {
            mem: false,
            local: Vec::new(),
            nbr: Vec::new(),
        };
        for o in others {
            match o {
                None => l.mem = true,
                Some(i) if i.sp == me.sp => l.local.push(i),
                Some(i) => l.nbr.push(i),
            }
        }
        l
    }

    /// Memory (`None`) first, then the neighbour slots' layers.
    fn sources(&self) -> Vec<Option<SchedIdx>> {
        let mut v = Vec::new();
        if self.mem {
            v.push(None);
        }
        v.extend(self.nbr.iter().map(|&i| Some(i)));
        v
    }
}

/// A layer reading only memory inputs that an earlier layer of the segment
/// also reads shares that layer's fetch.
fn share_fetch(
    d: &mut Deps,
    prevs2layer: &mut Vec<(Vec<Source>, LayerId)>,
    idx: &HashMap<LayerId, SchedIdx>,
    prevs: &[Source],
    l: LayerId,
    me: SchedIdx,
) {
    match prevs2layer.iter().find(|(p, _)| p.as_slice() == prevs) {
        Some((_, fetcher)) => {
            let f = idx[fetcher];
            match d.ifm_fwd.iter_mut().find(|(p, _)| p.as_slice() == prevs) {
                Some((_, v)) => v.push(me),
                None => d.ifm_fwd.push((prevs.to_vec(), vec![f, me])),
            }
        }
        None => prevs2layer.push((prevs.to_vec(), l)),
    }
}

/// Splits the processing nodes among the slots in proportion to their work,
/// in stripes whose height divides the grid's, accepting the first split
/// (tallest stripes first) that loses at most 5% utilization.
fn alloc_proc(slots: &[Vec<LayerId>], net: &Network, proc: &NodeRegion) -> Option<Vec<NodeRegion>> {
    let total = proc.dim.size();
    let ops: Vec<u64> = slots
        .iter()
        .map(|s| s.iter().map(|&l| net.layer(l).total_ops(1)).sum())
        .collect();
    let sum_ops: u64 = ops.iter().sum();
    let mut cfs = divisors(proc.dim.h);
    cfs.reverse();
    for cf in cfs {
        let raw: Vec<f64> = ops
            .iter()
            .map(|&o| o as f64 / sum_ops as f64 * total as f64)
            .collect();
        let mut nodes: Vec<u64> = raw
            .iter()
            .map(|&r| ((r / cf as f64).round_ties_even() as u64).max(1) * cf)
            .collect();
        while nodes.iter().sum::<u64>() != total {
            let diff: Vec<f64> = nodes
                .iter()
                .zip(&raw)
                .map(|(&n, &r)| n as f64 - r)
                .collect();
            if nodes.iter().sum::<u64>() > total {
                let i = first_max(&diff);
                nodes[i] -= cf;
            } else {
                let i = first_min(&diff);
                nodes[i] += cf;
            }
        }
        if nodes.contains(&0) {
            continue;
        }
        let time = ops
            .iter()
            .zip(&nodes)
            .map(|(&o, &n)| o as f64 / n as f64)
            .fold(f64::NEG_INFINITY, f64::max);
        let util = sum_ops as f64 / time / nodes.iter().sum::<u64>() as f64;
        if util >= 1.0 - 0.05 {
            return Some(proc.allocate(&nodes));
        }
    }
    None
}

fn first_max(v: &[f64]) -> usize {
    let mut best = 0;
    for i in 1..v.len() {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}

fn first_min(v: &[f64]) -> usize {
    let mut best = 0;
    for i in 1..v.len() {
        if v[i] < v[best] {
            best = i;
        }
    }
    best
}

fn alloc_resource(
    slots: &[Vec<LayerId>],
    net: &Network,
    whole: &Placement,
    deps: &Deps,
) -> Option<Vec<Vec<Placement>>> {
    let subs = alloc_proc(slots, net, &whole.proc)?;
    let mut no_time_mux = net.len() == slots.iter().map(Vec::len).sum::<usize>();
    if no_time_mux
        && slots
            .iter()
            .any(|s| s.iter().filter(|&&l| net.layer(l).is_conv()).count() > 1)
    {
        no_time_mux = false;
    }
    let mut out = Vec::new();
    for (sp, slot) in slots.iter().enumerate() {
        let proc = subs[sp];
        let mut row = Vec::new();
        for tm in 0..slot.len() {
            let src = &deps.src[sp][tm];
            let src_region = if src.contains(&None) {
                let me = SchedIdx { sp, tm };
                deps.ifm_fwd
                    .iter()
                    .find(|(_, v)| v[1..].contains(&me))
                    .map_or(whole.src, |(_, v)| subs[v[0].sp])
            } else if let Some(Some(i)) = src.first() {
                subs[i.sp]
            } else {
                proc
            };
            let dst = &deps.dst[sp][tm];
            let dst_region = if dst.contains(&None) { whole.dst } else { proc };
            row.push(Placement {
                proc,
                dram: whole.dram,
                src: src_region,
                dst: dst_region,
                no_time_mux,
            });
        }
        out.push(row);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hw::Dim2;
    use crate::network::{FmapShape, Layer, NetworkBuilder};
    use crate::partition::{Coord, RegionKind};

    /// nn_dataflow's test_alloc_proc: the chain net1 (ops 200, 600 + 30,
    /// 1200, 2000) on 8x8 nodes.
    #[test]
    fn nodes_follow_ops() {
        let mut b = NetworkBuilder::new("net1", FmapShape { n: 10, h: 1, w: 1 });
        b.add("0", Layer::fc(10, 20, (1, 1)).unwrap(), &[]);
        b.add("1", Layer::fc(20, 30, (1, 1)).unwrap(), &[]);
        b.add("1p", Layer::pool(30, (1, 1), (1, 1), (1, 1)).unwrap(), &[]);
        b.add("2", Layer::fc(30, 40, (1, 1)).unwrap(), &[]);
        b.add("3", Layer::fc(40, 50, (1, 1)).unwrap(), &[]);
        let net = b.build().unwrap();
        let proc = NodeRegion::new(
            Dim2::new(8, 8),
            Coord::new(0, 0),
            Coord::new(1, 1),
            RegionKind::Proc,
        );
        let id = |n: &str| net.find(n).unwrap();
        let nodes = |slots: Vec<Vec<LayerId>>| -> Vec<u64> {
            alloc_proc(&slots, &net, &proc)
                .unwrap()
                .iter()
                .map(|r| r.dim.size())
                .collect()
        };
        assert_eq!(nodes(vec![vec![id("0")]]), [64]);
        assert_eq!(
            nodes(vec![vec![id("0")], vec![id("1"), id("1p")]]),
            [16, 48]
        );
        assert_eq!(nodes(vec![vec![id("2")], vec![id("3")]]), [24, 40]);
        let mid = nodes(vec![vec![id("1"), id("1p")], vec![id("2")]]);
        assert!(mid == [24, 40] || mid == [22, 42], "{mid:?}");
    }
}
