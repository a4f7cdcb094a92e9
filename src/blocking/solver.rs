//! The analytical bypass solvers of TETRIS (Gao et al., ASPLOS'17): for each
//! data category that may be the only one kept in the global buffer, solve
//! the blocking that minimizes DRAM traffic with the other two streamed past
//! the buffer. Applies to conv-like loops only.

use super::Blocking;
use crate::array::NestedLoopDesc;
use crate::dims::{BlockLevel, DataCat, LoopDim, PerBlock, PerCat, PerLoop, PerOrdered};
use crate::util::{closest_factor, factorize};

/// Up to three blockings, one per category that may reside in the buffer
/// alone (all others allowed to bypass), in category order.
pub fn solve(
    nld: &NestedLoopDesc,
    gbuf_words: u64,
    regf_words: u64,
    bypass: PerCat<bool>,
) -> Vec<Blocking> {
    DataCat::ALL
        .into_iter()
        .filter(|&r| DataCat::ALL.iter().all(|&d| d == r || bypass[d]))
        .filter_map(|r| solve_reside(nld, gbuf_words, regf_words, r))
        .collect()
}

/// Loops x, y (indexing the resident category), z, with the categories
/// indexed by xy, yz, xz and their access multipliers (outputs count twice:
/// read and write).
fn roles(r: DataCat) -> ([LoopDim; 3], [DataCat; 3], [f64; 3]) {
    use DataCat::*;
    use LoopDim as L;
    match r {
        Fil => ([L::Ifm, L::Ofm, L::Bat], [Fil, Ofm, Ifm], [1.0, 2.0, 1.0]),
        Ifm => ([L::Ifm, L::Bat, L::Ofm], [Ifm, Ofm, Fil], [1.0, 2.0, 1.0]),
        Ofm => ([L::Ofm, L::Bat, L::Ifm], [Ofm, Ifm, Fil], [2.0, 1.0, 1.0]),
    }
}

/// The loop counts, per-category sizes and access multipliers of the
/// solver's roles for resident category `r`.
struct Roles {
    loops: [LoopDim; 3],
    /// Loop counts of x, y, z.
    n: [u64; 3],
    /// Buffer and register-file words of the categories indexed by xy, yz
    /// and xz.
    sg: [u64; 3],
    sr: [u64; 3],
    f: [f64; 3],
}

fn solve_reside(
    nld: &NestedLoopDesc,
    size_gbuf: u64,
    size_regf: u64,
    r: DataCat,
) -> Option<Blocking> {
    let (loops, cats, f) = roles(r);
    let ro = Roles {
        loops,
        n: loops.map(|l| nld.loopcnt[l]),
        sg: cats.map(|d| nld.usize_gbuf[d]),
        sr: cats.map(|d| nld.usize_regf[d]),
        f,
    };
    let (tx0, ty0) = opt_outer(&ro, size_gbuf, size_regf)?;
    let (tx2, ty2, tz2) = opt_inner(&ro, size_regf, tx0, ty0)?;
    Some(blocking_of(&ro, (tx0, ty0), (tx2, ty2, tz2)))
}

/// Opt I: outer factors of x and y minimizing DRAM traffic within the
/// buffer and with some register-file blocking feasible; the first strict
/// minimum in ascending factor order.
fn opt_outer(ro: &Roles, size_gbuf: u64, size_regf: u64) -> Option<(u64, u64)> {
    let (n, sg, sr) = (ro.n, ro.sg, ro.sr);
    let goal = |tx0: u64, ty0: u64| {
        let numloops = [n[0] * n[1], n[1] * n[2], n[0] * n[2]];
        let tl = [1, tx0, ty0];
        (0..3).fold(0.0, |acc, i| {
            acc + (numloops[i] * sg[i]) as f64 * ro.f[i] * tl[i] as f64
        })
    };
    let feasible = |tx0: u64, ty0: u64| {
        (n[0] / tx0) * (n[1] / ty0) * sg[0] <= size_gbuf
            && (n[0] / tx0 * (sr[0] + sr[2]) + sr[1]).min(n[1] / ty0 * (sr[0] + sr[1]) + sr[2])
                <= size_regf
    };
    let mut best: Option<(f64, u64, u64)> = None;
    for &[tx0, _] in factorize::<2>(n[0]).iter() {
        for &[ty0, _] in factorize::<2>(n[1]).iter() {
            if !feasible(tx0, ty0) {
                continue;
            }
            let g = goal(tx0, ty0);
            if best.is_none_or(|b| g < b.0) {
                best = Some((g, tx0, ty0));
            }
        }
    }
    best.map(|(_, tx0, ty0)| (tx0, ty0))
}

/// Opt II: the largest register-file block of z that fits with x and y,
/// trying the whole inner x and y first, then either alone (x wins ties,
/// as Python's `max` keeps the first).
fn opt_inner(ro: &Roles, size_regf: u64, tx0: u64, ty0: u64) -> Option<(u64, u64, u64)> {
    let (n, sr) = (ro.n, ro.sr);
    let goal = |tx2: u64, ty2: u64| -> Option<u64> {
        let num = size_regf as f64 - (tx2 * ty2 * sr[0]) as f64;
        let tz2 = num / (ty2 * sr[1] + tx2 * sr[2]) as f64;
        if tz2 < 0.0 {
            return None;
        }
        let (below, above) = closest_factor(n[2], tz2);
        let f = below.or(above)?;
        (f as f64 <= tz2).then_some(f)
    };
    let (tx2, ty2) = (n[0] / tx0, n[1] / ty0);
    if let Some(tz2) = goal(tx2, ty2) {
        return Some((tx2, ty2, tz2));
    }
    let cands = [(1, n[1] / ty0), (n[0] / tx0, 1)];
    let scored = cands.map(|(x, y)| (goal(x, y), x, y));
    let pick = if scored[1].0 > scored[0].0 {
        scored[1]
    } else {
        scored[0]
    };
    let (tz2, tx2, ty2) = pick;
    Some((tx2, ty2, tz2?))
}

/// The blocking of the solved factors: z innermost at the DRAM level, x
/// or y innermost at the buffer level; with no outer z block, the buffer
/// level merges into the DRAM level.
fn blocking_of(
    ro: &Roles,
    (mut tx0, mut ty0): (u64, u64),
    (tx2, ty2, tz2): (u64, u64, u64),
) -> Blocking {
    let n = ro.n;
    let tz0 = n[2] / tz2;
    let mut tx1 = n[0] / tx0 / tx2;
    let mut ty1 = n[1] / ty0 / ty2;
    let [x, y, z] = ro.loops;
    let mut ord0 = PerLoop([0u8; 3]);
    ord0[x] = 2;
    ord0[y] = 1;
    ord0[z] = 0;
    let mut ord1 = PerLoop([0u8; 3]);
    ord1[x] = if tx1 > 1 { 0 } else { 1 };
    ord1[y] = if tx1 > 1 { 1 } else { 0 };
    ord1[z] = 2;
    if tz0 == 1 {
        tx0 *= tx1;
        tx1 = 1;
        ty0 *= ty1;
        ty1 = 1;
        ord0 = ord1;
    }
    let mut ts = PerBlock([PerLoop([0u64; 3]); 3]);
    let levels = [(tx0, ty0, tz0), (tx1, ty1, 1), (tx2, ty2, tz2)];
    for (lv, (a, b, c)) in BlockLevel::ALL.into_iter().zip(levels) {
        ts[lv][x] = a;
        ts[lv][y] = b;
        ts[lv][z] = c;
    }
    Blocking {
        ts,
        ords: PerOrdered([ord0, ord1]),
    }
}
