//! n@k of a selector: the chance that, when k programs are generated and a selector submits n of
//! them, one submitted program is correct (`AlphaCode`'s definition). Whether a program is correct
//! comes from the hidden tests; the selector never sees it.
//!
//! A selector that looks at the whole pool (`CodeT`, B4, clustering) chooses differently in a
//! smaller pool, so n@k at k below the pool's size N is not read off one ranking of the pool: it
//! is the mean over sub-pools of k programs drawn from the N. When every sub-pool can be listed
//! (C(N, k) at most the number of draws asked for) each is counted once and the figure is exact;
//! otherwise `draws` sub-pools are drawn without replacement, and the 95% interval is Wilson's over
//! the draws.
//!
//! A sub-pool's figure is exact over the selector's tie-breaks, at every n and for every selector
//! ([`submission_chance`]): not one seeded ranking of it, but the chance over every order
//! [`rank`] can draw. So with every sub-pool listed, n@k has no randomness left.

use crate::select::{Pool, Selector, draw, grouped, rank};

/// n@k on one problem.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NAtK {
    /// The mean over sub-pools of the chance that the first n ranked programs include a correct
    /// one (exact over the selector's tie-breaks).
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
    let solved = |members: &[usize]| {
        let sub = sub_pool(pool, members);
        let sub_correct: Vec<bool> = members
            .iter()
            .map(|&m| correct.get(m).copied().unwrap_or(false))
            .collect();
        submission_chance(selector, &sub, &sub_correct, n)
    };
    let mut hits = 0.0f64;
    let mut total = 0u64;
    let exact = combinations(size, k).is_some_and(|c| c <= draws);
    if exact {
        let mut members: Vec<usize> = (0..k).collect();
        loop {
            hits += solved(&members);
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
            hits += solved(&members);
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

/// The chance that `selector`'s first `n` submissions from `pool` include a correct program,
/// exactly, over every way [`rank`] may break its ties (a seeded ranking is one draw of them).
///
/// [`rank`] orders tied groups uniformly, the members of each group uniformly, and then emits one
/// member per group per round, best group first. How many members each group gives to the first
/// n depends only on the group sizes, except in the last, partial round: there the first m of the
/// groups still holding members are served, and among a tier of equal score that straddles the
/// cut, a uniform subset of them. Given how many members a group gives, it misses the correct
/// ones with the hypergeometric chance; groups are ordered independently of their members, so
/// the chance of missing is a product over groups, averaged over the straddling tier's subsets.
/// The public filter is one group (the passers) before the rest; `AlphaCode`'s filtered-out
/// programs come after every cluster, in uniform order.
#[must_use]
pub fn submission_chance(selector: Selector, pool: &Pool, correct: &[bool], n: usize) -> f64 {
    let right = |i: usize| correct.get(i).copied().unwrap_or(false);
    if n == 0 || pool.is_empty() {
        return 0.0;
    }
    if selector == Selector::FirstPublicPass {
        // No ties: generation order.
        return f64::from(u8::from(
            rank(selector, pool, 0).into_iter().take(n).any(right),
        ));
    }
    let (groups, rest) = grouped(selector, pool);
    // (score, size, correct members), best score first.
    let mut groups: Vec<(f64, usize, usize)> = groups
        .iter()
        .filter(|(_, members)| !members.is_empty())
        .map(|(score, members)| {
            (
                *score,
                members.len(),
                members.iter().filter(|&&i| right(i)).count(),
            )
        })
        .collect();
    groups.sort_by(|a, b| b.0.total_cmp(&a.0));
    let in_groups = n.min(groups.iter().map(|g| g.1).sum());
    // Whole rounds: round r serves every group with more than r members.
    let (mut round, mut served) = (0, 0);
    loop {
        let serving = groups.iter().filter(|g| g.1 > round).count();
        if served + serving > in_groups || serving == 0 {
            break;
        }
        served += serving;
        round += 1;
    }
    let mut partial = in_groups - served;
    let mut hit_none = 1.0;
    let mut tier = 0;
    while tier < groups.len() {
        let score = groups[tier].0;
        let end = tier
            + groups[tier..]
                .iter()
                .take_while(|g| g.0.total_cmp(&score).is_eq())
                .count();
        let (eligible, full): (Vec<&(f64, usize, usize)>, Vec<_>) =
            groups[tier..end].iter().partition(|g| g.1 > round);
        for g in full {
            hit_none *= miss(g.1, g.2, g.1);
        }
        let extra = partial.min(eligible.len());
        hit_none *= straddle(&eligible, round, extra);
        partial -= extra;
        tier = end;
    }
    let rest_correct = rest.iter().filter(|&&i| right(i)).count();
    hit_none *= miss(rest.len(), rest_correct, n - in_groups);
    1.0 - hit_none
}

/// The chance that none of a uniform `extra`-subset of `groups` (size, correct) giving `round + 1`
/// members, the others `round`, is correct: a walk choosing each group with chance
/// still-to-choose / groups-left, which picks a uniform subset.
fn straddle(groups: &[&(f64, usize, usize)], round: usize, extra: usize) -> f64 {
    // mass[j]: probability, times the chance of missing so far, with j groups still to choose.
    let mut mass = vec![0.0; extra + 1];
    mass[extra] = 1.0;
    for (index, &&(_, size, good)) in groups.iter().enumerate() {
        let left = (groups.len() - index) as f64;
        let mut next = vec![0.0; extra + 1];
        for (j, &m) in mass.iter().enumerate() {
            let chosen = j as f64 / left;
            if j > 0 {
                next[j - 1] += m * chosen * miss(size, good, round + 1);
            }
            next[j] += m * (1.0 - chosen) * miss(size, good, round);
        }
        mass = next;
    }
    mass[0]
}

/// The chance that `taken` members drawn without replacement from `size`, of which `good` are
/// correct, are all wrong.
fn miss(size: usize, good: usize, taken: usize) -> f64 {
    (0..taken.min(size)).fold(1.0, |p, i| {
        p * (size - good).saturating_sub(i) as f64 / (size - i) as f64
    })
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

    /// 9 programs in behaviour clusters a {0, 1, 2}, b {3, 4}, c {5, 6}, d {7}, e {8} (outputs,
    /// and for `CodeT`/B4 one generated test per cluster, passed by its members alone, so sizes
    /// tie as scores do); 1, 4 and 8 are correct; 0, 1, 3, 4, 5 and 7 pass the public tests.
    fn clustered() -> (Pool, Vec<bool>) {
        let cluster = [0usize, 0, 0, 1, 1, 2, 2, 3, 4];
        let pool = Pool {
            public_pass: [1, 1, 0, 1, 1, 1, 0, 1, 0]
                .iter()
                .map(|&p| p == 1)
                .collect(),
            passes: cluster
                .iter()
                .map(|&c| (0..5).map(|t| t == c).collect())
                .collect(),
            outputs: cluster.iter().map(|&c| vec![format!("{c}")]).collect(),
        };
        let correct = (0..9).map(|i| [1, 4, 8].contains(&i)).collect();
        (pool, correct)
    }

    /// Every ranking [`rank`] can draw, each as likely as the others: tied groups in every order,
    /// each group's members in every order, one member per group per round, then the rest in
    /// every order. Built here by listing, independently of [`submission_chance`]'s counting.
    fn every_ranking(selector: Selector, pool: &Pool) -> Vec<Vec<usize>> {
        let (mut groups, rest) = grouped(selector, pool);
        groups.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut tiers: Vec<Vec<Vec<usize>>> = Vec::new();
        let mut last = None;
        for (score, members) in groups {
            if last.is_none_or(|s: f64| s.total_cmp(&score).is_ne()) {
                tiers.push(Vec::new());
            }
            last = Some(score);
            tiers.last_mut().unwrap().push(members);
        }
        // Group orders: the product of each tier's orders.
        let mut group_orders: Vec<Vec<Vec<usize>>> = vec![Vec::new()];
        for tier in &tiers {
            let index: Vec<usize> = (0..tier.len()).collect();
            group_orders = group_orders
                .iter()
                .flat_map(|before| {
                    orders(&index).into_iter().map(move |o| {
                        let mut next = before.clone();
                        next.extend(o.iter().map(|&g| tier[g].clone()));
                        next
                    })
                })
                .collect();
        }
        let mut out = Vec::new();
        for order in group_orders {
            // Each group's members in every order.
            let mut member_orders: Vec<Vec<Vec<usize>>> = vec![Vec::new()];
            for members in &order {
                member_orders = member_orders
                    .iter()
                    .flat_map(|before| {
                        orders(members).into_iter().map(move |o| {
                            let mut next = before.clone();
                            next.push(o);
                            next
                        })
                    })
                    .collect();
            }
            for groups in member_orders {
                let longest = groups.iter().map(Vec::len).max().unwrap_or(0);
                let served: Vec<usize> = (0..longest)
                    .flat_map(|r| groups.iter().filter_map(move |g| g.get(r).copied()))
                    .collect();
                for tail in orders(&rest) {
                    out.push(served.iter().chain(&tail).copied().collect());
                }
            }
        }
        out
    }

    #[test]
    fn the_submission_chance_counts_every_tie_break_at_every_n() {
        let (pool, correct) = clustered();
        let selectors = [
            Selector::PublicFilterRandom,
            Selector::CodeT { sqrt: false },
            Selector::CodeT { sqrt: true },
            Selector::B4_DEFAULT,
            Selector::AlphaCode,
            Selector::MbrExec,
        ];
        for selector in selectors {
            let rankings = every_ranking(selector, &pool);
            assert!(rankings.len() > 1, "{selector:?}: no ties to count");
            for n in 1..=9 {
                let hits = rankings
                    .iter()
                    .filter(|r| r.iter().take(n).any(|&i| correct[i]))
                    .count();
                let want = hits as f64 / rankings.len() as f64;
                let got = submission_chance(selector, &pool, &correct, n);
                assert!(
                    (got - want).abs() < 1e-12,
                    "{selector:?} n = {n}: {got} vs {want} over {} rankings",
                    rankings.len()
                );
            }
        }
    }

    #[test]
    fn the_submission_chance_is_the_seeded_ranking_averaged_over_seeds() {
        let (pool, correct) = clustered();
        let selectors = [
            Selector::PublicFilterRandom,
            Selector::CodeT { sqrt: false },
            Selector::B4_DEFAULT,
            Selector::AlphaCode,
            Selector::MbrExec,
        ];
        let seeds = 20_000u64;
        for selector in selectors {
            // The first position holding a correct program, per seed.
            let firsts: Vec<usize> = (0..seeds)
                .map(|seed| {
                    let ranking = rank(selector, &pool, seed);
                    ranking.iter().position(|&i| correct[i]).unwrap()
                })
                .collect();
            for n in 1..=9 {
                let hits = firsts.iter().filter(|&&first| first < n).count();
                let drawn = hits as f64 / seeds as f64;
                let exact = submission_chance(selector, &pool, &correct, n);
                assert!(
                    (drawn - exact).abs() < 0.02,
                    "{selector:?} n = {n}: {drawn} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn the_first_pick_chance_is_a_uniform_member_of_a_uniform_best_group() {
        // Two tied CodeT sets of 2 (one all correct, one half correct) and a weaker set; public
        // results tie three programs for the public filter.
        let pool = Pool {
            public_pass: vec![true, false, true, true, false],
            passes: vec![
                vec![true, true, false],
                vec![true, true, false],
                vec![false, true, true],
                vec![false, true, true],
                vec![true, false, false],
            ],
            outputs: ["a", "a", "b", "c", "b"]
                .iter()
                .map(|&o| vec![o.to_owned()])
                .collect(),
        };
        let correct = [true, true, true, false, false];
        let selectors = [
            (Selector::FirstPublicPass, 1.0),
            // Passers 0, 2, 3: two of three correct.
            (Selector::PublicFilterRandom, 2.0 / 3.0),
            // Sets {0, 1} (all correct) and {2, 3} (half) tie at 2 x 2: (1 + 0.5) / 2.
            (Selector::CodeT { sqrt: false }, 0.75),
            // Clusters of the passers: {0}, {2}, {3} all of size 1: 2 of 3.
            (Selector::AlphaCode, 2.0 / 3.0),
            // Clusters {0, 1} and {2, 4} tie at 2: (1 + 0.5) / 2.
            (Selector::MbrExec, 0.75),
        ];
        for (selector, want) in selectors {
            let exact = submission_chance(selector, &pool, &correct, 1);
            assert!(
                (exact - want).abs() < 1e-12,
                "{selector:?}: {exact} vs {want}"
            );
        }
        // Round two of MBR-exec after {0, 1} and {2, 4}: the second member of each, then {3}:
        // n = 2 takes one of each tied cluster, so a correct one for sure.
        assert!((submission_chance(Selector::MbrExec, &pool, &correct, 2) - 1.0).abs() < 1e-12);
    }
}
