//! Integer helpers shared by the mapping, blocking and partitioning models.
//!
//! Their enumeration orders are part of the search contract: ties between
//! equally good schedules are broken by the order in which candidates are
//! generated, so `factorize` must list tuples exactly as documented.

/// Ceiling division of non-negative integers.
#[inline]
pub fn idivc(x: u64, y: u64) -> u64 {
    x.div_ceil(y)
}

/// All divisors of `v`, ascending.
pub fn divisors(v: u64) -> Vec<u64> {
    let mut small = Vec::new();
    let mut large = Vec::new();
    let mut d = 1;
    while d * d <= v {
        if v.is_multiple_of(d) {
            small.push(d);
            if d * d != v {
                large.push(v / d);
            }
        }
        d += 1;
    }
    small.extend(large.into_iter().rev());
    small
}

/// Every `N`-tuple of positive integers whose product is `v`.
///
/// Tuples come in lexicographic order of their first `N - 1` factors, the
/// last factor being implied; e.g. `factorize::<3>(12)` starts `(1,1,12),
/// (1,2,6), (1,3,4)`. Results are memoized because the search asks for the
/// same loop counts many times.
pub fn factorize<const N: usize>(v: u64) -> std::sync::Arc<Vec<[u64; N]>> {
    type Cache = std::cell::RefCell<
        rustc_hash::FxHashMap<(u64, usize), std::sync::Arc<dyn std::any::Any + Send + Sync>>,
    >;
    // One cache per thread: searches ask millions of times.
    thread_local! {
        static CACHE: Cache = Default::default();
    }
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&(v, N)).cloned())
        && let Ok(arc) = hit.downcast::<Vec<[u64; N]>>()
    {
        return arc;
    }
    let mut out = Vec::new();
    let mut cur = [1u64; N];
    fill_factors(v, 0, &mut cur, &mut out);
    let arc = std::sync::Arc::new(out);
    CACHE.with(|c| c.borrow_mut().insert((v, N), arc.clone()));
    arc
}

fn fill_factors<const N: usize>(
    rest: u64,
    pos: usize,
    cur: &mut [u64; N],
    out: &mut Vec<[u64; N]>,
) {
    if pos + 1 == N {
        cur[pos] = rest;
        out.push(*cur);
        return;
    }
    for d in divisors(rest) {
        cur[pos] = d;
        fill_factors(rest / d, pos + 1, cur, out);
    }
}

/// The largest factor of `v` not above `f` (present iff `f >= 1`) and the
/// smallest factor not below `f` (present iff `f <= v`).
pub fn closest_factor(v: u64, f: f64) -> (Option<u64>, Option<u64>) {
    let below = if f >= 1.0 {
        let mut c = f.floor() as u64;
        while c > 0 && !v.is_multiple_of(c) {
            c -= 1;
        }
        Some(c)
    } else {
        None
    };
    let above = if f <= v as f64 {
        let mut c = (f.ceil() as u64).max(1);
        while !v.is_multiple_of(c) {
            c += 1;
        }
        Some(c)
    } else {
        None
    };
    (below, above)
}

/// Whether `total` splits into `num` parts with little padding: at most 10%
/// of the padded total, or one element.
pub fn approx_dividable(total: u64, num: u64) -> bool {
    if total < num {
        return false;
    }
    let padded = idivc(total, num) * num;
    let diff = (padded - total) as f64;
    let tol = (0.1 * padded.max(total) as f64).max(1.0);
    diff <= tol
}

/// The `idx`-th of `num` near-equal parts of the half-open range `[beg, end)`.
pub fn ith_range(beg: u64, end: u64, idx: u64, num: u64) -> (u64, u64) {
    let len = end - beg;
    (beg + idx * len / num, beg + (idx + 1) * len / num)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factorize_order_and_count() {
        let f = factorize::<3>(12);
        assert_eq!(&f[..4], &[[1, 1, 12], [1, 2, 6], [1, 3, 4], [1, 4, 3]]);
        assert_eq!(f[6], [2, 1, 6]);
        assert_eq!(f.len(), 18);
        assert!(f.iter().all(|t| t.iter().product::<u64>() == 12));
        // 4096 = 2^12: C(14, 2) ways to split the exponent into three parts.
        assert_eq!(factorize::<3>(4096).len(), 91);
        assert_eq!(&factorize::<2>(6)[..], &[[1, 6], [2, 3], [3, 2], [6, 1]]);
        assert_eq!(&factorize::<4>(1)[..], &[[1, 1, 1, 1]]);
    }

    #[test]
    fn closest_factor_both_sides() {
        assert_eq!(closest_factor(24, 5.0), (Some(4), Some(6)));
        assert_eq!(closest_factor(25, 3.0), (Some(1), Some(5)));
        assert_eq!(closest_factor(24, 4.5), (Some(4), Some(6)));
        assert_eq!(closest_factor(24, 0.5), (None, Some(1)));
        assert_eq!(closest_factor(24, 30.0), (Some(24), None));
    }

    #[test]
    fn approx_dividable_tolerance() {
        assert!(approx_dividable(55, 4)); // 56 - 55 = 1
        assert!(approx_dividable(13, 2));
        assert!(!approx_dividable(3, 4));
        assert!(!approx_dividable(10, 4)); // 12 - 10 = 2 > 1.2
        assert!(approx_dividable(96, 16));
    }

    #[test]
    fn ranges_cover() {
        assert_eq!(ith_range(0, 10, 0, 3), (0, 3));
        assert_eq!(ith_range(0, 10, 1, 3), (3, 6));
        assert_eq!(ith_range(0, 10, 2, 3), (6, 10));
    }
}

/// All orderings of `v` in `itertools.permutations` order (lexicographic in
/// positions), which search enumerations follow.
pub fn permutations<T: Copy>(v: &[T]) -> Vec<Vec<T>> {
    if v.len() <= 1 {
        return vec![v.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..v.len() {
        let mut rest = v.to_vec();
        let x = rest.remove(i);
        for mut p in permutations(&rest) {
            p.insert(0, x);
            out.push(p);
        }
    }
    out
}

/// Positions (0 innermost) of three loops listed innermost first; loops not
/// listed follow, in loop order.
pub fn positions_from_inner(
    inner_first: impl IntoIterator<Item = crate::dims::LoopDim>,
) -> crate::dims::PerLoop<u8> {
    let mut ord = crate::dims::PerLoop([u8::MAX; 3]);
    let mut pos = 0;
    for l in inner_first {
        ord[l] = pos;
        pos += 1;
    }
    for l in crate::dims::LoopDim::ALL {
        if ord[l] == u8::MAX {
            ord[l] = pos;
            pos += 1;
        }
    }
    ord
}

/// A least-recently-used map of bounded size.
#[derive(Debug)]
pub struct Lru<K, V> {
    cap: usize,
    tick: u64,
    map: rustc_hash::FxHashMap<K, (V, u64)>,
    order: std::collections::BTreeMap<u64, K>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Lru<K, V> {
    pub fn new(cap: usize) -> Self {
        Lru {
            cap,
            tick: 0,
            map: rustc_hash::FxHashMap::default(),
            order: std::collections::BTreeMap::new(),
        }
    }

    /// The value for `k`, marking it most recently used.
    pub fn get(&mut self, k: &K) -> Option<V> {
        self.tick += 1;
        let tick = self.tick;
        let (v, t) = self.map.get_mut(k)?;
        self.order.remove(t);
        *t = tick;
        self.order.insert(tick, k.clone());
        Some(v.clone())
    }

    /// Inserts `k`, evicting the least recently used entry when full.
    pub fn insert(&mut self, k: K, v: V) {
        self.tick += 1;
        if let Some((_, t)) = self.map.remove(&k) {
            self.order.remove(&t);
        }
        if self.map.len() >= self.cap
            && let Some((_, old)) = self.order.pop_first()
        {
            self.map.remove(&old);
        }
        self.order.insert(self.tick, k.clone());
        self.map.insert(k, (v, self.tick));
    }
}

#[cfg(test)]
mod lru_tests {
    use super::Lru;

    #[test]
    fn evicts_least_recently_used() {
        // Same sequence as Python's lru_cache(maxsize=2) on f(1) f(2) f(1)
        // f(3) f(1) f(2): computes 1, 2, 3, 2.
        let mut c = Lru::new(2);
        let mut computed = Vec::new();
        for x in [1, 2, 1, 3, 1, 2] {
            if c.get(&x).is_none() {
                computed.push(x);
                c.insert(x, x);
            }
        }
        assert_eq!(computed, [1, 2, 3, 2]);
    }
}
