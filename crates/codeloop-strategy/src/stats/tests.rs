use proptest::prelude::*;

use super::*;

fn program(public_pass: Option<bool>, correct: bool, cost: f64) -> ProgramOutcome {
    ProgramOutcome {
        public_pass,
        correct,
        cost,
    }
}

/// A program that fails its public tests (so is not correct).
fn failing(cost: f64) -> ProgramOutcome {
    program(Some(false), false, cost)
}

/// C(n, k) as a float, 0 when k > n.
fn choose(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |c, i| c * (n - i) as f64 / (i + 1) as f64)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

#[test]
fn bootstrap_is_seeded_and_collapses_on_equal_values() {
    assert_eq!(bootstrap_mean(&[], 100, 0), None);
    assert_eq!(bootstrap_mean(&[1.0], 0, 0), None);
    let values = [0.2, 0.9, 0.4, 0.4, 1.0, 0.0, 0.7];
    let first = bootstrap_mean(&values, 500, 3).unwrap();
    assert_eq!(Some(first), bootstrap_mean(&values, 500, 3));
    assert_eq!(first.resamples, 500);
    assert!(first.lo < first.mean && first.mean < first.hi, "{first:?}");
    let equal = bootstrap_mean(&[0.37; 9], 200, 1).unwrap();
    assert_eq!((equal.mean, equal.lo, equal.hi), (0.37, 0.37, 0.37));
}

#[test]
fn one_solved_of_twenty_is_not_a_point() {
    let mut solved = [0.0; 20];
    solved[7] = 1.0;
    let got = bootstrap_mean(&solved, 10_000, 42).unwrap();
    assert!(close(got.mean, 0.05), "{got:?}");
    // The number solved in a resample is Binomial(20, 0.05): P(0) = 0.36, so the 2.5th
    // percentile is 0; P(at most 2) = 0.92 and P(at most 3) = 0.98, so the 97.5th is 3 of 20.
    assert!(close(got.lo, 0.0), "{got:?}");
    assert!((0.1..=0.2).contains(&got.hi), "{got:?}");
}

#[test]
fn paired_difference_resamples_problems_jointly() {
    assert_eq!(paired_difference(&[1.0, 0.0], &[1.0], 100, 0), None);
    assert_eq!(paired_difference(&[], &[], 100, 0), None);
    // b = a - 0.25 on every problem: the difference is 0.25 whatever the resample.
    let a: Vec<f64> = (0..12).map(|i| f64::from(i % 5) * 0.25).collect();
    let b: Vec<f64> = a.iter().map(|x| x - 0.25).collect();
    let shifted = paired_difference(&a, &b, 300, 5).unwrap();
    assert_eq!((shifted.mean, shifted.lo, shifted.hi), (0.25, 0.25, 0.25));
    // b solves 10 of 40, a the same 10 and 8 more: the difference is clearly positive, and far
    // narrower than the spread of a's own mean.
    let b: Vec<f64> = (0..40).map(|i| f64::from(u8::from(i < 10))).collect();
    let a: Vec<f64> = (0..40).map(|i| f64::from(u8::from(i < 18))).collect();
    let diff = paired_difference(&a, &b, 2000, 9).unwrap();
    assert!(
        close(diff.mean, 0.2) && diff.lo > 0.05 && diff.hi < 0.35,
        "{diff:?}"
    );
    let own = bootstrap_mean(&a, 2000, 9).unwrap();
    assert!(
        diff.hi - diff.lo < own.hi - own.lo,
        "{diff:?} against {own:?}"
    );
}

/// Single-turn n@k with public filtering, by the closed form: of N samples P pass the public tests
/// and C of those are correct; k are drawn. With j passers drawn (hypergeometric), the first
/// m = min(n, j) of them in draw order are a uniform m-subset of the P passers.
fn single_turn(samples: usize, passing: usize, correct: usize, k: usize, n: usize) -> f64 {
    (0..=k.min(passing))
        .map(|j| {
            let drawn = choose(passing, j) * choose(samples - passing, k - j) / choose(samples, k);
            let m = n.min(j);
            drawn * (1.0 - choose(passing - correct, m) / choose(passing, m))
        })
        .sum()
}

/// N one-program trajectories of cost 1: C correct, P - C passing (some with no public tests)
/// but wrong, the rest failing.
fn single_turn_pool(samples: usize, passing: usize, correct: usize) -> Vec<Vec<ProgramOutcome>> {
    (0..samples)
        .map(|i| match i {
            i if i < correct => vec![program(Some(true), true, 1.0)],
            i if i < passing && i % 2 == 0 => vec![program(None, false, 1.0)],
            i if i < passing => vec![program(Some(true), false, 1.0)],
            _ => vec![failing(1.0)],
        })
        .collect()
}

#[test]
fn one_program_trajectories_give_single_turn_n_at_k() {
    for (passing, correct) in [(0, 0), (1, 1), (3, 1), (4, 2), (5, 0), (7, 3)] {
        let pool = single_turn_pool(7, passing, correct);
        for k in 1..=7 {
            for n in 1..=3 {
                let got = budget_n_at_k(&pool, n, k as f64, 5040, 0).unwrap();
                let want = single_turn(7, passing, correct, k, n);
                assert!(got.exact && got.draws == 5040, "{got:?}");
                assert!(
                    close(got.mean, want),
                    "P={passing} C={correct} k={k} n={n}: {got:?} {want}"
                );
                assert!(!got.saturated, "k = 7 spends the pool exactly");
            }
        }
    }
    // 12! orders are too many to list: drawn orders, whose interval holds the closed form.
    let pool = single_turn_pool(12, 6, 2);
    let got = budget_n_at_k(&pool, 2, 5.0, 20_000, 11).unwrap();
    let want = single_turn(12, 6, 2, 5, 2);
    assert!(!got.exact && got.draws == 20_000, "{got:?}");
    assert!(
        got.lo <= want && want <= got.hi && got.hi - got.lo < 0.02,
        "{got:?} {want}"
    );
}

#[test]
fn three_program_trajectories_at_three_n_give_pass_at_n() {
    // 7 trajectories of 3 programs; 0, 3 and 5 end correct. 4's middle program is marked correct
    // and its last is not: its answer is the last, so it does not count.
    let correct_end = [0, 3, 5];
    let pool: Vec<Vec<ProgramOutcome>> = (0..7)
        .map(|t| {
            let middle = program(Some(false), t == 4, 1.0);
            let last = if correct_end.contains(&t) {
                program(Some(true), true, 1.0)
            } else {
                failing(1.0)
            };
            vec![failing(1.0), middle, last]
        })
        .collect();
    for n in 1..=6 {
        let got = budget_n_at_k(&pool, n, 3.0 * n as f64, 5040, 0).unwrap();
        let want = 1.0 - choose(7 - 3, n) / choose(7, n);
        assert!(got.exact && !got.saturated, "{got:?}");
        assert!(close(got.mean, want), "n={n}: {got:?} {want}");
    }
}

/// Every order of `0..m`, listed by recursion.
fn orders(m: usize) -> Vec<Vec<usize>> {
    if m == 0 {
        return vec![Vec::new()];
    }
    orders(m - 1)
        .into_iter()
        .flat_map(|order| {
            (0..m).map(move |at| {
                let mut longer = order.clone();
                longer.insert(at, m - 1);
                longer
            })
        })
        .collect()
}

/// Budgeted n@k by brute force: for each order, the drawn trajectories' programs laid end to end,
/// the longest prefix whose cumulative cost fits; each trajectory's answer is its last program in
/// that prefix; a stable sort puts the public passers first.
fn brute_force(pool: &[Vec<ProgramOutcome>], n: usize, budget: f64) -> f64 {
    let all = orders(pool.len());
    let solved = all.iter().filter(|order| {
        let laid: Vec<(usize, ProgramOutcome)> = order
            .iter()
            .flat_map(|&t| pool[t].iter().map(move |&p| (t, p)))
            .collect();
        let mut cumulative = 0.0;
        let kept = laid
            .iter()
            .take_while(|(_, p)| {
                cumulative += p.cost;
                cumulative <= budget
            })
            .count();
        let mut answers: Vec<ProgramOutcome> = order
            .iter()
            .filter_map(|&t| {
                laid[..kept]
                    .iter()
                    .rev()
                    .find(|(u, _)| *u == t)
                    .map(|x| x.1)
            })
            .collect();
        answers.sort_by_key(|p| p.public_pass == Some(false));
        answers.iter().take(n).any(|p| p.correct)
    });
    solved.count() as f64 / all.len() as f64
}

#[test]
fn mixed_trajectories_match_brute_force() {
    let pool = vec![
        vec![failing(1.0), failing(1.0), program(Some(true), true, 1.0)],
        vec![program(Some(true), false, 2.0)],
        vec![failing(3.0), program(Some(true), true, 1.0)],
        vec![program(None, true, 1.5)],
        // Kept going after a correct public pass: a cut after the first program answers right.
        vec![program(Some(true), true, 1.0), failing(2.0)],
    ];
    for budget in [0.5, 1.0, 2.0, 2.5, 3.0, 4.5, 6.0, 9.0, 13.5, 20.0] {
        for n in 1..=3 {
            let got = budget_n_at_k(&pool, n, budget, 120, 0).unwrap();
            let want = brute_force(&pool, n, budget);
            assert!(got.exact && got.draws == 120, "{got:?}");
            assert!(close(got.mean, want), "B={budget} n={n}: {got:?} {want}");
            assert_eq!(got.saturated, budget > 13.5);
        }
    }
}

#[test]
fn saturation_and_refusals() {
    let pool = vec![
        vec![failing(2.0), program(Some(true), true, 1.0)],
        vec![program(Some(true), false, 3.0)],
    ];
    let at = |budget| budget_n_at_k(&pool, 1, budget, 100, 0).unwrap();
    assert!(!at(5.0).saturated && !at(6.0).saturated && at(6.5).saturated && at(100.0).saturated);
    assert!(close(at(6.0).mean, 0.5) && at(6.5) == at(100.0));
    assert!(
        close(at(6.0).mean, at(100.0).mean),
        "the same figure, saturated or not"
    );
    assert_eq!(budget_n_at_k(&pool, 0, 5.0, 100, 0), None);
    assert_eq!(budget_n_at_k(&[], 1, 5.0, 100, 0), None);
    for budget in [0.0, -1.0, f64::NAN] {
        assert_eq!(budget_n_at_k(&pool, 1, budget, 100, 0), None);
    }
    assert_eq!(budget_n_at_k(&pool, 1, 5.0, 0, 0), None);
    let points = curve(&pool, 1, &[0.0, 3.0, 6.0], 100, 0);
    assert_eq!(points.len(), 3);
    assert_eq!(points[0], (0.0, None));
    assert_eq!(points[2], (6.0, Some(at(6.0))));
}

#[test]
fn a_larger_budget_can_lose_a_correct_early_answer() {
    // The policy did not stop at the public pass: the first program was correct, the second not.
    let pool = vec![vec![program(Some(true), true, 1.0), failing(1.0)]];
    assert!(close(
        budget_n_at_k(&pool, 1, 1.0, 10, 0).unwrap().mean,
        1.0
    ));
    assert!(close(
        budget_n_at_k(&pool, 1, 2.0, 10, 0).unwrap().mean,
        0.0
    ));
}

/// Any trajectories (empty ones too), costs in halves.
fn any_pool() -> impl Strategy<Value = Vec<Vec<ProgramOutcome>>> {
    let outcome = (0u8..3, any::<bool>(), 0u8..=4).prop_map(|(public, correct, halves)| {
        let public_pass = [None, Some(true), Some(false)][usize::from(public)];
        program(public_pass, correct, f64::from(halves) / 2.0)
    });
    prop::collection::vec(prop::collection::vec(outcome, 0..=3), 1..=5)
}

/// Trajectories of a policy that stops at the first public pass: every program but the last
/// fails its public tests, and a correct program passes them (or has none).
fn stopping_pool(max: usize) -> impl Strategy<Value = Vec<Vec<ProgramOutcome>>> {
    let trajectory = (
        0usize..3,
        0u8..3,
        any::<bool>(),
        prop::collection::vec(1u8..=4, 3),
    )
        .prop_map(|(failed, public, correct, halves)| {
            let public_pass = [None, Some(true), Some(false)][usize::from(public)];
            let cost = |i: usize| f64::from(halves[i]) / 2.0;
            let mut programs: Vec<ProgramOutcome> = (0..failed).map(|i| failing(cost(i))).collect();
            let correct = correct && public_pass != Some(false);
            programs.push(program(public_pass, correct, cost(failed)));
            programs
        });
    prop::collection::vec(trajectory, 1..=max)
}

proptest! {
    #[test]
    fn any_pool_matches_brute_force(pool in any_pool(), n in 1usize..=3, halves in 1u8..=24) {
        let budget = f64::from(halves) / 2.0;
        let got = budget_n_at_k(&pool, n, budget, 120, 0).unwrap();
        prop_assert!(got.exact);
        prop_assert!(close(got.mean, brute_force(&pool, n, budget)), "{:?}", got);
    }

    #[test]
    fn more_budget_or_submissions_never_solve_less(pool in stopping_pool(7), seed in 0u64..100) {
        // Up to 4 trajectories every order is listed; from 5 on, 100 are drawn (the same ones at
        // every budget).
        let at = |n, halves: u8| budget_n_at_k(&pool, n, f64::from(halves) / 2.0, 100, seed).unwrap();
        for n in 1..=3 {
            for halves in 1..=30 {
                let (here, more) = (at(n, halves), at(n, halves + 1));
                prop_assert!(here.mean <= more.mean + 1e-12, "{:?} then {:?}", here, more);
                prop_assert!(here.mean <= at(n + 1, halves).mean + 1e-12);
            }
        }
    }
}
