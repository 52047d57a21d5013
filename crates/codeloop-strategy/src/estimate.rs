//! n@k of a selector: the chance that, when k programs are generated and a selector submits n of
//! them, one submitted program is correct (`AlphaCode`'s definition). Whether a program is correct
//! comes from the hidden tests; the selector never sees it.
//!
//! A selector that looks at the whole pool (`CodeT`, B4, clustering) chooses differently in a
//! smaller pool, so n@k at k below the pool's size N is not read off one ranking of the pool: it
//! is the mean over sub-pools of k programs drawn from the N. When every sub-pool can be listed
//! (C(N, k) at most the number of draws asked for) each is ranked once and the figure is exact for
//! the seed; otherwise `draws` sub-pools are drawn without replacement, each ranked with a seed of
//! its own, and the 95% interval is Wilson's over the draws.
//!
//! Where a selector's tie-breaks can be counted, a sub-pool's figure is exact over them: the
//! public filter's at any n (hypergeometric), every selector's at n = 1
//! ([`first_pick_chance`]); so with every sub-pool listed
//! those figures are exact. For n > 1 a grouping selector's sub-pool is ranked once, one seeded
//! draw of its tie-breaks.

use crate::select::{Pool, Selector, draw, first_pick_chance, rank};

/// n@k on one problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NAtK {
    /// The share of sub-pools whose first n ranked programs include a correct one.
    pub mean: f64,
    /// Sub-pools ranked.
    pub draws: u64,
    /// Whether every sub-pool of k programs was ranked (then the interval is the mean itself).
    pub exact: bool,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
}

/// n@k of `selector` on `pool`, whose programs are `correct` or not, from at most `draws`
/// sub-pools of `k` programs. `None` when the pool holds fewer than `k` programs or `n` is 0.
#[must_use]
pub fn n_at_k(
    selector: Selector,
    pool: &Pool,
    correct: &[bool],
    n: usize,
    k: usize,
    draws: u64,
    seed: u64,
) -> Option<NAtK> {
    let size = pool.len().max(correct.len());
    if n == 0 || k == 0 || k > size || draws == 0 {
        return None;
    }
    let solved = |members: &[usize], draw_seed: u64| {
        let sub = sub_pool(pool, members);
        let sub_correct: Vec<bool> = members
            .iter()
            .map(|&m| correct.get(m).copied().unwrap_or(false))
            .collect();
        // Exact over the selector's tie-breaks where they can be counted.
        if selector == Selector::PublicFilterRandom {
            return public_filter_chance(&sub, &sub_correct, n);
        }
        if n == 1 {
            return first_pick_chance(selector, &sub, &sub_correct);
        }
        let hit = rank(selector, &sub, draw_seed)
            .iter()
            .take(n)
            .any(|&i| correct.get(members[i]).copied().unwrap_or(false));
        f64::from(u8::from(hit))
    };
    let mut hits = 0.0f64;
    let mut total = 0u64;
    let exact = combinations(size, k).is_some_and(|c| c <= draws);
    if exact {
        let mut members: Vec<usize> = (0..k).collect();
        loop {
            hits += solved(&members, seed);
            total += 1;
            if !next_combination(&mut members, size) {
                break;
            }
        }
    } else {
        let mut rng = Draws { seed, count: 0 };
        let mut order: Vec<usize> = (0..size).collect();
        for _ in 0..draws {
            // A partial Fisher-Yates shuffle: the first k of `order` are a uniform k-subset.
            for i in 0..k {
                let j = i + (rng.next() % (size - i) as u64) as usize;
                order.swap(i, j);
            }
            let mut members = order[..k].to_vec();
            members.sort_unstable();
            hits += solved(&members, rng.next());
            total += 1;
        }
    }
    let mean = hits / total as f64;
    let (lo, hi) = if exact {
        (mean, mean)
    } else {
        wilson(hits, total)
    };
    Some(NAtK {
        mean,
        draws: total,
        exact,
        lo,
        hi,
    })
}

/// The pool restricted to `members` (in that order).
fn sub_pool(pool: &Pool, members: &[usize]) -> Pool {
    fn pick<T: Clone + Default>(rows: &[T], members: &[usize]) -> Vec<T> {
        if rows.is_empty() {
            return Vec::new();
        }
        members
            .iter()
            .map(|&i| rows.get(i).cloned().unwrap_or_default())
            .collect()
    }
    Pool {
        public_pass: pick(&pool.public_pass, members),
        passes: pick(&pool.passes, members),
        outputs: pick(&pool.outputs, members),
    }
}

/// C(n, k), or `None` past `u64`.
fn combinations(n: usize, k: usize) -> Option<u64> {
    let k = k.min(n - k) as u64;
    let mut c: u64 = 1;
    for i in 0..k {
        c = c.checked_mul(n as u64 - i)? / (i + 1);
    }
    Some(c)
}

/// The next k-subset of `0..n` in lexicographic order; false after the last.
fn next_combination(members: &mut [usize], n: usize) -> bool {
    let k = members.len();
    let Some(i) = (0..k).rev().find(|&i| members[i] < n - k + i) else {
        return false;
    };
    members[i] += 1;
    for j in i + 1..k {
        members[j] = members[j - 1] + 1;
    }
    true
}

/// The chance that the public filter's first `n` submissions include a correct program, exact:
/// a uniform order of the public passers, then a uniform order of the rest.
fn public_filter_chance(pool: &Pool, correct: &[bool], n: usize) -> f64 {
    let size = pool.len().max(correct.len());
    let public = |i: usize| pool.public_pass.get(i).copied().unwrap_or(false);
    let right = |i: usize| correct.get(i).copied().unwrap_or(false);
    let (mut passing, mut passing_right, mut rest_right) = (0usize, 0usize, 0usize);
    for i in 0..size {
        match (public(i), right(i)) {
            (true, r) => {
                passing += 1;
                passing_right += usize::from(r);
            }
            (false, r) => rest_right += usize::from(r),
        }
    }
    let rest = size - passing;
    // P(m draws without replacement from `all`, of which `good` are correct, miss them all).
    let miss = |all: usize, good: usize, m: usize| {
        (0..m.min(all)).fold(1.0, |p, i| {
            p * (all - good).saturating_sub(i) as f64 / (all - i) as f64
        })
    };
    let from_passing = n.min(passing);
    1.0 - miss(passing, passing_right, from_passing) * miss(rest, rest_right, n - from_passing)
}

/// Wilson's 95% score interval for `hits` of `total` (hits may be fractional: a draw's chance
/// of success, where it is known exactly).
pub(crate) fn wilson(hits: f64, total: u64) -> (f64, f64) {
    const Z: f64 = 1.959_963_984_540_054;
    let n = total as f64;
    let p = hits / n;
    let denom = 1.0 + Z * Z / n;
    let centre = (p + Z * Z / (2.0 * n)) / denom;
    let half = Z * (p * (1.0 - p) / n + Z * Z / (4.0 * n * n)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Draws from a seed, one after another (a counter through [`select`](crate::select)'s mixer).
struct Draws {
    seed: u64,
    count: u64,
}

impl Draws {
    fn next(&mut self) -> u64 {
        self.count += 1;
        draw(self.seed, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 8 programs: 0 and 5 are correct; 0, 3 and 5 pass the public tests.
    fn pool() -> (Pool, Vec<bool>) {
        let pool = Pool {
            public_pass: vec![true, false, false, true, false, true, false, false],
            ..Pool::default()
        };
        let correct = vec![true, false, false, false, false, true, false, false];
        (pool, correct)
    }

    #[test]
    fn first_public_pass_matches_a_count_by_hand() {
        // 1@3 with "first public pass": a 3-subset is solved when its lowest public passer is
        // correct, or when it has no public passer and its first program is correct (impossible
        // here: 0 and 5 pass). Counted by hand over the C(8, 3) = 56 subsets:
        // - containing 0: C(7, 2) = 21, all solved (0 is the first passer);
        // - without 0, containing 5 and not 3: C(5, 2) = 10 solved (5 is the only passer);
        // - without 0, containing 3: never (3 comes first and is wrong).
        let (pool, correct) = pool();
        let got = n_at_k(Selector::FirstPublicPass, &pool, &correct, 1, 3, 1000, 0).unwrap();
        assert!(got.exact);
        assert_eq!(got.draws, 56);
        assert!((got.mean - 31.0 / 56.0).abs() < 1e-12, "{got:?}");
    }

    #[test]
    fn drawn_sub_pools_agree_with_listing_every_one() {
        let (pool, correct) = pool();
        let exact = n_at_k(Selector::FirstPublicPass, &pool, &correct, 1, 3, 1000, 0).unwrap();
        let drawn_few = n_at_k(Selector::FirstPublicPass, &pool, &correct, 1, 3, 50, 9).unwrap();
        assert!(exact.exact && !drawn_few.exact);
        assert_eq!(drawn_few.draws, 50);
        assert!(
            drawn_few.lo <= exact.mean && exact.mean <= drawn_few.hi,
            "{drawn_few:?} against {exact:?}"
        );
        // With the whole pool, n@N is one ranking: solved, as 0 passes first.
        let all = n_at_k(Selector::FirstPublicPass, &pool, &correct, 1, 8, 10, 0).unwrap();
        assert_eq!((all.mean, all.draws), (1.0, 1));
    }

    #[test]
    fn more_submissions_never_solve_less() {
        let (pool, correct) = pool();
        let at = |n| n_at_k(Selector::PublicFilterRandom, &pool, &correct, n, 4, 500, 3).unwrap();
        assert!(at(1).mean <= at(2).mean && at(2).mean <= at(4).mean);
        // All four submitted: solved unless the sub-pool holds neither 0 nor 5 (C(6,4) of C(8,4)).
        assert!((at(4).mean - 55.0 / 70.0).abs() < 1e-12, "{:?}", at(4));
        assert_eq!(
            n_at_k(Selector::MbrExec, &pool, &correct, 1, 9, 10, 0),
            None
        );
    }

    #[test]
    fn subsets_are_listed_in_order_and_counted() {
        let mut members = vec![0, 1];
        let mut seen = vec![members.clone()];
        while next_combination(&mut members, 4) {
            seen.push(members.clone());
        }
        assert_eq!(seen.len() as u64, combinations(4, 2).unwrap());
        assert_eq!(seen.last().unwrap(), &vec![2, 3]);
        assert_eq!(combinations(30, 15), Some(155_117_520));
        assert_eq!(combinations(100, 50), None);
    }

    /// Every order of `items`, by recursion (small lists only).
    fn orders(items: &[usize]) -> Vec<Vec<usize>> {
        if items.is_empty() {
            return vec![Vec::new()];
        }
        let mut out = Vec::new();
        for (i, &first) in items.iter().enumerate() {
            let mut rest = items.to_vec();
            rest.remove(i);
            for mut tail in orders(&rest) {
                tail.insert(0, first);
                out.push(tail);
            }
        }
        out
    }

    #[test]
    fn the_public_filter_is_exact_at_any_n() {
        // Passers 0, 2, 3 (0 correct), the rest 1, 4, 5 (5 correct: the public tests can be wrong).
        let pool = Pool {
            public_pass: vec![true, false, true, true, false, false],
            ..Pool::default()
        };
        let correct = [true, false, false, false, false, true];
        for n in 1..=6 {
            // Every order the filter can submit in: passers first, each group in any order.
            let (mut hits, mut total) = (0usize, 0usize);
            for p in orders(&[0, 2, 3]) {
                for r in orders(&[1, 4, 5]) {
                    let order: Vec<usize> = p.iter().chain(&r).copied().collect();
                    hits += usize::from(order.iter().take(n).any(|&i| correct[i]));
                    total += 1;
                }
            }
            let want = hits as f64 / total as f64;
            let got = n_at_k(Selector::PublicFilterRandom, &pool, &correct, n, 6, 10, 0).unwrap();
            assert!(
                (got.mean - want).abs() < 1e-12,
                "n = {n}: {} vs {want}",
                got.mean
            );
            assert!(got.exact);
        }
    }
}
