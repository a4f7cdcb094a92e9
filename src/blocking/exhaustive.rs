//! Exhaustive blocking search: every factorization of the three loops over
//! the three levels, with every loop order of the two outer levels.
//!
//! For conv-like loops most orders are equivalent to a "regular" one or
//! provably worse; nn_dataflow filters the full cross product, nnsched
//! generates only the survivors, in the same relative order, so the winner
//! (first best in enumeration order) is the same.

use rayon::prelude::*;

use super::{Blocking, BlockingScheme, Coster, Footprint, Goal, NodeEnv, TopConstraint, cmp_key};
use crate::array::NestedLoopDesc;
use crate::dims::{BlockLevel, DataLoops, LoopDim, PerBlock, PerLoop, PerOrdered};
use crate::hw::Energy;
use crate::util::{factorize, permutations};

/// The six orders of one level in `itertools.permutations` order; entry
/// `[l]` is loop `l`'s position (0 innermost).
static PERMS: std::sync::LazyLock<Vec<[u8; 3]>> = std::sync::LazyLock::new(|| {
    permutations(&[0u8, 1, 2])
        .into_iter()
        .map(|p| [p[0], p[1], p[2]])
        .collect()
});

fn perm_index(p: [u8; 3]) -> usize {
    PERMS.iter().position(|&q| q == p).expect("a permutation")
}

/// The regular order of a level with non-trivial loops `nt` and innermost
/// loop `inn`: `inn` innermost, then the other non-trivial loops, then the
/// trivial ones, each group in loop order.
fn regular_order(inn: Option<usize>, nt: [bool; 3]) -> [u8; 3] {
    let mut loops = [0usize, 1, 2];
    loops.sort_by_key(|&l| (Some(l) != inn, !nt[l], l));
    let mut ord = [0u8; 3];
    for (pos, &l) in loops.iter().enumerate() {
        ord[l] = pos as u8;
    }
    ord
}

/// Candidate orders of one level for conv loops: one regular order per
/// choice of innermost non-trivial loop, as (order, innermost loop), in
/// permutation order.
fn level_orders(t: &PerLoop<u64>) -> &'static LevelOrders {
    let mask = (t.0[0] > 1) as usize | ((t.0[1] > 1) as usize) << 1 | ((t.0[2] > 1) as usize) << 2;
    &LEVEL_ORDERS[mask]
}

/// A level's candidate orders, each with its innermost non-trivial loop.
type LevelOrders = Small<([u8; 3], Option<usize>), 3>;

/// `level_orders` for each set of non-trivial loops (bit `l` for loop `l`).
static LEVEL_ORDERS: std::sync::LazyLock<[LevelOrders; 8]> = std::sync::LazyLock::new(|| {
    std::array::from_fn(|mask| {
        let nt = [mask & 1 != 0, mask & 2 != 0, mask & 4 != 0];
        let mut v = Small::new(([0, 1, 2], None));
        if nt.iter().any(|&x| x) {
            for l in (0..3).filter(|&l| nt[l]) {
                v.push((regular_order(Some(l), nt), Some(l)));
            }
        } else {
            v.push(([0, 1, 2], None));
        }
        v.items_mut().sort_unstable_by_key(|x| perm_index(x.0));
        v
    })
});

/// A vector of at most `N` items on the stack: the search's inner loop
/// allocates nothing.
struct Small<T: Copy, const N: usize> {
    items: [T; N],
    len: usize,
}

impl<T: Copy, const N: usize> Small<T, N> {
    fn new(fill: T) -> Self {
        Small {
            items: [fill; N],
            len: 0,
        }
    }

    fn push(&mut self, t: T) {
        self.items[self.len] = t;
        self.len += 1;
    }

    fn items(&self) -> &[T] {
        &self.items[..self.len]
    }

    fn items_mut(&mut self) -> &mut [T] {
        &mut self.items[..self.len]
    }
}

type Orders = PerOrdered<PerLoop<u8>>;

/// Order pairs for one set of blocking factors, in enumeration order.
fn order_pairs(ts: &PerBlock<PerLoop<u64>>, conv: bool) -> Small<Orders, 36> {
    let mut out = Small::new(PerOrdered::splat(PerLoop([0, 1, 2])));
    if !conv {
        for &a in PERMS.iter() {
            for &b in PERMS.iter() {
                out.push(PerOrdered([PerLoop(a), PerLoop(b)]));
            }
        }
        return out;
    }
    let o0 = level_orders(&ts[BlockLevel::Dram]);
    let o1 = level_orders(&ts[BlockLevel::Gbuf]);
    for &(ord0, inn0) in o0.items() {
        for &(ord1, inn1) in o1.items() {
            // An outer level's innermost loop continuing non-trivially, but
            // not innermost, in an inner level is a worse copy of merging it.
            if let Some(i0) = inn0
                && ts[BlockLevel::Gbuf].0[i0] > 1
                && inn1 != Some(i0)
            {
                continue;
            }
            let outer = inn1.or(inn0);
            if let Some(o) = outer
                && ts[BlockLevel::Regf].0[o] > 1
            {
                continue;
            }
            out.push(PerOrdered([PerLoop(ord0), PerLoop(ord1)]));
        }
    }
    out
}

/// Order pairs with their index among all 36, as `order_pairs` gives
/// them, that a constraint's order allows: a function of which loops are
/// non-trivial at each level and of which factors the constraint orders
/// (`TopConstraint::ordered`), so tabulated for each of the 512 patterns
/// of non-trivial loops and 8 of ordered factors, for conv loops and for
/// others (which take all 36 orders before the constraint).
type OrderList = Vec<(Orders, u64)>;

type OrderTable = [Vec<OrderList>; 8];

static ORDER_TABLE: std::sync::LazyLock<[OrderTable; 2]> = std::sync::LazyLock::new(|| {
    [false, true].map(|conv| {
        std::array::from_fn(|bits| {
            let cstr = TopConstraint::with_ordered(bits);
            (0..512)
                .map(|m: usize| {
                    let ts = PerBlock(std::array::from_fn(|lv| {
                        PerLoop(std::array::from_fn(|l| 1 + (m >> (lv * 3 + l) & 1) as u64))
                    }));
                    order_pairs(&ts, conv)
                        .items()
                        .iter()
                        .filter(|&&ords| cstr.allows_order(&Blocking { ts, ords }))
                        .map(|&o| {
                            let idx = perm_index(o.0[0].0) * 6 + perm_index(o.0[1].0);
                            (o, idx as u64)
                        })
                        .collect()
                })
                .collect()
        })
    })
});

/// The table's lists for `conv` loops and constraint-order bits `ordered`,
/// by pattern of non-trivial loops (`loop_bits`).
fn order_lists(conv: bool, ordered: usize) -> &'static [OrderList] {
    &ORDER_TABLE[usize::from(conv)][ordered]
}

/// Loop `l`'s part of the pattern of non-trivial loops, with factors `t`
/// per level.
fn loop_bits(l: LoopDim, t: &[u64; 3]) -> usize {
    (0..3)
        .map(|lv| usize::from(t[lv] > 1) << (lv * 3 + l as usize))
        .sum()
}

/// `order_pairs(ts, conv)` that constraint-order bits `ordered` allow,
/// with each pair's index, from the table.
#[cfg(test)]
fn tabled_order_pairs(
    ts: &PerBlock<PerLoop<u64>>,
    conv: bool,
    ordered: usize,
) -> &'static [(Orders, u64)] {
    let m: usize = LoopDim::ALL
        .iter()
        .map(|&l| loop_bits(l, &[0, 1, 2].map(|lv| ts.0[lv][l])))
        .sum();
    &order_lists(conv, ordered)[m]
}

/// Ranked candidate: goal key, enumeration index, scheme.
type Ranked = ((f64, f64), u64, BlockingScheme);

/// Whether a candidate ranks among the `n` best so far.
#[inline]
fn enters(tops: &[Ranked], n: usize, key: &(f64, f64), seq: u64) -> bool {
    tops.len() < n
        || tops
            .last()
            .is_some_and(|last| cmp_key(key, &last.0).then(seq.cmp(&last.1)).is_lt())
}

/// Keeps the `n` best by (key, index) in a sorted vector.
fn push_top(tops: &mut Vec<Ranked>, n: usize, item: Ranked) {
    if !enters(tops, n, &item.0, item.1) {
        return;
    }
    if tops.len() == n {
        tops.pop();
    }
    let pos = tops.partition_point(|t| cmp_key(&t.0, &item.0).then(t.1.cmp(&item.1)).is_lt());
    tops.insert(pos, item);
}

/// The `ntops` best valid blockings of `nld` by access cost under `goal`,
/// ties going to the earliest in enumeration order. Also counts the
/// candidates costed.
pub fn search(
    nld: &NestedLoopDesc,
    env: &NodeEnv,
    energy: &Energy,
    cstr: &TopConstraint,
    goal: Goal,
    ntops: usize,
) -> (Vec<BlockingScheme>, u64) {
    let lc = nld.loopcnt;
    let filt = |l: LoopDim| -> Vec<[u64; 3]> {
        factorize::<3>(lc[l])
            .iter()
            .copied()
            .filter(|t| cstr.allows_factor(l, t[0]))
            .collect()
    };
    let (ti, to, tb) = (filt(LoopDim::Ifm), filt(LoopDim::Ofm), filt(LoopDim::Bat));
    let conv = nld.data_loops == DataLoops::CONV;
    // The factors are filtered above; the order by the table, indexed by
    // each loop's part of the pattern of non-trivial loops.
    let lists = order_lists(conv, cstr.ordered());
    let bits = |l: LoopDim, ts: &[[u64; 3]]| -> Vec<usize> {
        ts.iter().map(|t| loop_bits(l, t)).collect()
    };
    let (ifm_bits, ofm_bits, bat_bits) = (
        bits(LoopDim::Ifm, &ti),
        bits(LoopDim::Ofm, &to),
        bits(LoopDim::Bat, &tb),
    );
    let n_inner = (tb.len() * 36) as u64;
    let coster = Coster::new(nld, env, energy);
    // The candidates of input-channel splits `is`, the best kept by (key,
    // index): how the splits are grouped changes nothing.
    let scan = |is: std::ops::Range<usize>| {
        let mut tops = Vec::with_capacity(ntops + 1);
        let mut count = 0;
        for i in is {
            for (o, to_o) in to.iter().enumerate() {
                let base = (i * to.len() + o) as u64 * n_inner;
                for (bi, b) in tb.iter().enumerate() {
                    let ts = PerBlock([0, 1, 2].map(|lv| PerLoop([ti[i][lv], to_o[lv], b[lv]])));
                    let orders = &lists[ifm_bits[i] | ofm_bits[o] | bat_bits[bi]];
                    if orders.is_empty() {
                        continue;
                    }
                    let probe = Blocking {
                        ts,
                        ords: PerOrdered::splat(PerLoop([0, 1, 2])),
                    };
                    let Ok(fp) = Footprint::fits(nld, env, &probe) else {
                        continue;
                    };
                    for &(ords, idx) in orders {
                        let blk = Blocking { ts, ords };
                        let Ok(c) = coster.evaluate_fitting(&blk, &fp) else {
                            continue;
                        };
                        count += 1;
                        let seq = base + bi as u64 * 36 + idx;
                        let key = goal.key(c.access_cost, c.time);
                        if enters(&tops, ntops, &key, seq) {
                            push_top(&mut tops, ntops, (key, seq, c.scheme(nld, env, &blk)));
                        }
                    }
                }
            }
        }
        (tops, count)
    };
    // Searches usually run many at a time; a large one alone splits its
    // input-channel splits over threads.
    let results: Vec<(Vec<Ranked>, u64)> = if ti.len() * to.len() * tb.len() < PARALLEL_MIN {
        vec![scan(0..ti.len())]
    } else {
        (0..ti.len())
            .into_par_iter()
            .map(|i| scan(i..i + 1))
            .collect()
    };
    let mut all: Vec<Ranked> = Vec::new();
    let mut count = 0;
    for (tops, c) in results {
        count += c;
        for t in tops {
            push_top(&mut all, ntops, t);
        }
    }
    // A new vector of the exact size: collecting in place would keep the
    // larger buffer of the ranked tuples, and searches' results are kept.
    let mut best = Vec::with_capacity(all.len());
    best.extend(all.into_iter().map(|t| t.2));
    (best, count)
}

/// Factor choices from which a search splits over threads.
const PARALLEL_MIN: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    /// nn_dataflow's `skip_conv`, written as a filter over all 36 orders.
    fn skip_conv(ts: &[PerLoop<u64>; 3], ords: &[PerLoop<u8>; 2]) -> bool {
        let mut outer: Option<usize> = None;
        for lv in 0..3 {
            let nt: Vec<usize> = (0..3).filter(|&l| ts[lv].0[l] > 1).collect();
            let inn = if lv < 2 {
                nt.iter().copied().min_by_key(|&l| ords[lv].0[l])
            } else {
                None
            };
            if outer != inn && outer.is_some_and(|o| nt.contains(&o)) {
                return true;
            }
            if inn.is_some() {
                outer = inn;
            }
            if lv < 2 {
                let mut m = [false; 3];
                for &l in &nt {
                    m[l] = true;
                }
                if regular_order(inn, m) != ords[lv].0 {
                    return true;
                }
            }
        }
        false
    }

    #[test]
    fn tabled_orders_equal_generated() {
        for t in factorize::<3>(12).iter() {
            for u in factorize::<3>(4).iter() {
                for v in factorize::<3>(6).iter() {
                    let ts = PerBlock([0, 1, 2].map(|lv| PerLoop([t[lv], u[lv], v[lv]])));
                    // Constraints on each factor: none, 1 (no order), more.
                    for (conv, c) in [true, false]
                        .into_iter()
                        .flat_map(|c| (0..27).map(move |k| (c, k)))
                    {
                        let v = |k: usize| [0, 1, 2][k % 3];
                        let cstr = TopConstraint {
                            topbat: v(c),
                            topifm: v(c / 3),
                            topofm: v(c / 9),
                        };
                        let want: Vec<_> = order_pairs(&ts, conv)
                            .items()
                            .iter()
                            .copied()
                            .filter(|&ords| cstr.allows_order(&Blocking { ts, ords }))
                            .collect();
                        let tabled = tabled_order_pairs(&ts, conv, cstr.ordered());
                        let got: Vec<_> = tabled.iter().map(|p| p.0).collect();
                        assert_eq!(got, want, "{ts:?} {cstr:?}");
                        for &(o, idx) in tabled {
                            assert_eq!(
                                idx as usize,
                                perm_index(o.0[0].0) * 6 + perm_index(o.0[1].0)
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn generated_orders_equal_filtered_cross_product() {
        for t in factorize::<3>(12).iter() {
            for u in factorize::<3>(4).iter() {
                for v in factorize::<3>(6).iter() {
                    let ts = [0, 1, 2].map(|lv| PerLoop([t[lv], u[lv], v[lv]]));
                    let want: Vec<PerOrdered<PerLoop<u8>>> = PERMS
                        .iter()
                        .flat_map(|&a| PERMS.iter().map(move |&b| [PerLoop(a), PerLoop(b)]))
                        .filter(|o| !skip_conv(&ts, o))
                        .map(PerOrdered)
                        .collect();
                    assert_eq!(
                        order_pairs(&PerBlock(ts), true).items().to_vec(),
                        want,
                        "{ts:?}"
                    );
                }
            }
        }
    }
}
