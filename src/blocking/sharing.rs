//! Buffer sharing within a blocking (TETRIS): the buffer-level loops decide
//! how data spread over a sharing group's buffers is rotated between nodes.
//! Loops that fix the fetch counts stay innermost; the others may be split
//! into an extra level and reordered to minimize NoC traffic.

use serde::Serialize;

use super::Blocking;
use crate::array::NestedLoopDesc;
use crate::dims::{
    BlockLevel, DataCat, LoopDim, MemLevel, OrderedLevel, PerCat, PerLoop, PerOrdered,
};
use crate::partition::BufShr;
use crate::util::{factorize, idivc, permutations, positions_from_inner};

/// The chosen buffer-sharing arrangement of a blocking.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SharingStats {
    /// Nodes a category's buffered data is spread over.
    pub subgrp: PerCat<u64>,
    /// Factors of the extra sharing level above the buffer-level loops.
    pub bs_t: PerLoop<u64>,
    /// Its loop order (0 innermost).
    pub bs_ord: PerLoop<u8>,
    pub rot_fetch: PerCat<f64>,
    pub wide_fetch: PerCat<f64>,
    pub rot_round_cnt: PerCat<u64>,
    pub rot_unit_cnt: PerCat<u64>,
    pub wide_fetch_width: PerCat<f64>,
}

/// Inputs of the sharing search that come from the blocking evaluation.
pub(super) struct SharingCtx<'a> {
    pub nld: &'a NestedLoopDesc,
    pub bufshr: &'a BufShr,
    pub fetch: &'a PerOrdered<PerCat<u64>>,
    pub grp: PerCat<u64>,
    /// Words each category occupies in a buffer before sharing (unshared
    /// size times the stored flag).
    pub unshared_gbuf: PerCat<u64>,
    pub gbuf_words: u64,
    pub num_nodes: u64,
    /// The DRAM-level blocking factors.
    pub top: PerLoop<u64>,
}

impl SharingCtx<'_> {
    fn data_size(&self, d: DataCat, sgs: &PerCat<u64>) -> u64 {
        idivc(self.unshared_gbuf[d], sgs[d])
    }

    fn total(&self, sgs: &PerCat<u64>) -> u64 {
        DataCat::ALL.iter().map(|&d| self.data_size(d, sgs)).sum()
    }

    /// NoC accesses of per-category rotation or wide-fetch counts.
    pub fn noc_access(&self, x: &PerCat<f64>) -> PerCat<f64> {
        PerCat::from_fn(|d| {
            self.nld.total_access(MemLevel::Gbuf, d) * x[d] * (self.num_nodes / self.grp[d]) as f64
        })
    }
}

/// Innermost non-trivial loop indexing `d` at one level.
fn innt_dim_loop(
    nld: &NestedLoopDesc,
    d: DataCat,
    t: &PerLoop<u64>,
    ord: &PerLoop<u8>,
) -> Option<LoopDim> {
    LoopDim::ALL
        .into_iter()
        .filter(|&l| nld.data_loops.has(d, l) && t[l] > 1)
        .min_by_key(|&l| ord[l])
}

/// Chooses subgroup sizes and the sharing level for blocking `b`, rewriting
/// its buffer-level order. Returns the subgroup sizes, and the stats when
/// any data is shared.
pub(super) fn set_bufshr(
    ctx: &SharingCtx<'_>,
    b: &mut Blocking,
    sgs0: PerCat<u64>,
) -> (PerCat<u64>, Option<SharingStats>) {
    let sgs0 = PerCat::from_fn(|d| {
        if ctx.data_size(d, &sgs0) > 0 {
            sgs0[d]
        } else {
            1
        }
    });
    if sgs0.0.iter().all(|&s| s == 1) {
        return (sgs0, None);
    }
    let t_x = b.ts[BlockLevel::Gbuf];
    let (fixed, flex) = fixed_and_flexible(ctx.nld, &t_x, &b.ords[OrderedLevel::Gbuf]);
    let a = best_arrangement(ctx, &subgroup_candidates(ctx, sgs0), &t_x, &fixed, &flex);
    let mut stats = bufshr_fetch(ctx, &t_x, &fixed, &a);
    let Arrangement {
        sgs,
        t_bs,
        loops_bs,
        loops_bot,
    } = a;
    // Rewrite the buffer-level order: bottom loops, then fixed ones, inner
    // to outer; the rest above in loop order.
    b.ords[OrderedLevel::Gbuf] =
        positions_from_inner(loops_bot.iter().chain(&fixed).rev().copied());
    stats.bs_ord = positions_from_inner(loops_bs.iter().rev().copied().filter(|&l| t_bs[l] > 1));
    stats.bs_t = t_bs;
    stats.subgrp = sgs;
    (sgs, Some(stats))
}

/// The buffer level's non-trivial loops split into those that fix the
/// fetch counts (inside the outermost of the categories' innermost data
/// loops; outer to inner) and the flexible rest (in loop order).
fn fixed_and_flexible(
    nld: &NestedLoopDesc,
    t_x: &PerLoop<u64>,
    ord_x: &PerLoop<u8>,
) -> (Vec<LoopDim>, Vec<LoopDim>) {
    let nt: Vec<LoopDim> = LoopDim::ALL.into_iter().filter(|&l| t_x[l] > 1).collect();
    let mut o_inn: Option<LoopDim> = None;
    for d in DataCat::ALL {
        let l = innt_dim_loop(nld, d, t_x, ord_x);
        let key = |l: Option<LoopDim>| l.map_or(-1, |l| ord_x[l] as i32);
        if key(l) > key(o_inn) {
            o_inn = l;
        }
    }
    let mut fixed: Vec<LoopDim> = match o_inn {
        Some(oi) => nt
            .iter()
            .copied()
            .filter(|&l| ord_x[l] < ord_x[oi])
            .collect(),
        None => Vec::new(),
    };
    fixed.sort_by_key(|&l| std::cmp::Reverse(ord_x[l]));
    let flex = nt.into_iter().filter(|l| !fixed.contains(l)).collect();
    (fixed, flex)
}

/// Subgroup candidates: as is, then the smallest that fit, shrinking
/// categories in each order (each distinct one once).
fn subgroup_candidates(ctx: &SharingCtx<'_>, sgs0: PerCat<u64>) -> Vec<PerCat<u64>> {
    let min_sgs = |order: &[DataCat]| -> PerCat<u64> {
        let mut free = ctx.gbuf_words as i64 - ctx.total(&sgs0) as i64;
        let mut s = sgs0;
        for &d in order {
            if s[d] <= 1 {
                continue;
            }
            let cur = ctx.data_size(d, &sgs0);
            let tot = cur * sgs0[d];
            let mut c = s[d];
            while c >= 1 {
                if ctx.grp[d].is_multiple_of(c) {
                    if idivc(tot, c) as i64 <= free + cur as i64 {
                        s[d] = c;
                    } else {
                        break;
                    }
                }
                c -= 1;
            }
            free -= idivc(tot, s[d]) as i64 - cur as i64;
        }
        s
    };
    let mut cands = vec![sgs0];
    let mut seen = Vec::new();
    for p in permutations(&DataCat::ALL) {
        let c = min_sgs(&p);
        if !seen.contains(&c) {
            seen.push(c);
        }
    }
    cands.extend(seen);
    cands
}

/// The arrangement with the least rotation and wide-fetch traffic, the
/// first of equals in nn_dataflow's sweep order.
fn best_arrangement(
    ctx: &SharingCtx<'_>,
    cands: &[PerCat<u64>],
    t_x: &PerLoop<u64>,
    fixed: &[LoopDim],
    flex: &[LoopDim],
) -> Arrangement {
    let tot = PerLoop::from_fn(|l| if flex.contains(&l) { t_x[l] } else { 1 });
    let fi = factorize::<2>(tot[LoopDim::Ifm]);
    let fo = factorize::<2>(tot[LoopDim::Ofm]);
    let fb = factorize::<2>(tot[LoopDim::Bat]);
    let mut best: Option<(f64, Arrangement)> = None;
    let bottom_orders = permutations(flex);
    for &sgs in cands {
        for a in fi.iter() {
            for o in fo.iter() {
                for bb in fb.iter() {
                    let t_bs = PerLoop([a[0], o[0], bb[0]]);
                    let trivial: Vec<LoopDim> =
                        flex.iter().copied().filter(|&l| t_bs[l] == 1).collect();
                    let nontriv: Vec<LoopDim> =
                        flex.iter().copied().filter(|&l| t_bs[l] > 1).collect();
                    for p in permutations(&nontriv) {
                        let mut loops_bs = trivial.clone();
                        loops_bs.extend(p);
                        for loops_bot in &bottom_orders {
                            let a = Arrangement {
                                sgs,
                                t_bs,
                                loops_bs: loops_bs.clone(),
                                loops_bot: loops_bot.clone(),
                            };
                            let f = bufshr_fetch(ctx, t_x, fixed, &a);
                            let key = ctx.noc_access(&f.rot_fetch).sum()
                                + ctx.noc_access(&f.wide_fetch).sum();
                            if best.as_ref().is_none_or(|bst| key < bst.0) {
                                best = Some((key, a));
                            }
                        }
                    }
                }
            }
        }
    }
    best.expect("at least one sharing arrangement").1
}

/// One way of sharing: subgroup sizes, the sharing level's factors, and
/// the flexible loops' order in the sharing level and below it (outer
/// first).
struct Arrangement {
    sgs: PerCat<u64>,
    t_bs: PerLoop<u64>,
    loops_bs: Vec<LoopDim>,
    loops_bot: Vec<LoopDim>,
}

/// The loops of the sharing level and below it, outer first, with their
/// factors: the sharing level's, the rest of the flexible ones, then the
/// fixed ones.
fn level_loops(t_x: &PerLoop<u64>, fixed: &[LoopDim], a: &Arrangement) -> Vec<(LoopDim, u64)> {
    let t_bs = &a.t_bs;
    let mut lp_t: Vec<(LoopDim, u64)> = Vec::with_capacity(6);
    lp_t.extend(
        a.loops_bs
            .iter()
            .filter(|&&l| t_bs[l] > 1)
            .map(|&l| (l, t_bs[l])),
    );
    lp_t.extend(
        a.loops_bot
            .iter()
            .filter(|&&l| t_x[l] > t_bs[l])
            .map(|&l| (l, idivc(t_x[l], t_bs[l]))),
    );
    lp_t.extend(fixed.iter().map(|&l| (l, t_x[l])));
    lp_t
}

/// Rotation and wide-fetch counts of one sharing arrangement.
fn bufshr_fetch(
    ctx: &SharingCtx<'_>,
    t_x: &PerLoop<u64>,
    fixed: &[LoopDim],
    a: &Arrangement,
) -> SharingStats {
    let lp_t = level_loops(t_x, fixed, a);
    let mut s = SharingStats {
        subgrp: a.sgs,
        bs_t: a.t_bs,
        bs_ord: PerLoop([0, 1, 2]),
        rot_fetch: PerCat::splat(0.0),
        wide_fetch: PerCat::splat(0.0),
        rot_round_cnt: PerCat::splat(0),
        rot_unit_cnt: PerCat::splat(1),
        wide_fetch_width: PerCat::splat(0.0),
    };
    for d in DataCat::ALL {
        let (rot, units) = rotation(ctx, d, &lp_t, a.sgs[d]);
        let buf_fetch = ctx.fetch[OrderedLevel::Gbuf][d];
        let width = a.sgs[d] as f64 / units as f64;
        let wf_once = ctx.bufshr.nhops_wide_fetch_once(d, a.sgs[d], width);
        let mut comb = if d == DataCat::Ofm {
            if buf_fetch as i64 > 2 * rot as i64 - 1 {
                (2 * rot) as f64
            } else {
                (2 * rot) as f64 - 1.0
            }
        } else {
            rot as f64
        };
        comb *= (units - 1) as f64 / units as f64;
        s.wide_fetch[d] = wf_once * (buf_fetch as f64 - comb);
        s.rot_fetch[d] = ctx.bufshr.nhops_rotate_all(d, a.sgs[d], units) * rot as f64;
        s.rot_round_cnt[d] = rot;
        s.rot_unit_cnt[d] = units;
        s.wide_fetch_width[d] = width;
    }
    s
}

/// Rotation rounds of category `d` (0 when it is not rotated) and the
/// units its subgroup rotates in, given the loops of the sharing level and
/// below (`lp_t`, outer first).
fn rotation(ctx: &SharingCtx<'_>, d: DataCat, lp_t: &[(LoopDim, u64)], sgs: u64) -> (u64, u64) {
    let is_dim = |l: LoopDim| ctx.nld.data_loops.has(d, l);
    let idx = lp_t.iter().position(|&(l, _)| is_dim(l));
    let mut rot: u64 = match idx {
        Some(i) if sgs != 1 => {
            let top: u64 = LoopDim::ALL
                .iter()
                .filter(|&&l| !is_dim(l))
                .map(|&l| ctx.top[l])
                .product();
            top * lp_t[..i].iter().map(|&(_, t)| t).product::<u64>()
        }
        _ => 0,
    };
    // DRAM fetch rounds: outputs count their write-backs twice.
    let mem_fetch = ctx.fetch[OrderedLevel::Dram][d];
    let mem_rounds = if d == DataCat::Ofm {
        mem_fetch.div_ceil(2)
    } else {
        mem_fetch
    };
    if rot == mem_rounds {
        rot = 0;
    }
    let units: u64 = match idx {
        Some(i) => lp_t[i..]
            .iter()
            .take_while(|&&(l, _)| is_dim(l))
            .map(|&(_, t)| t)
            .product(),
        None => 1,
    };
    (rot, units)
}
