//! Selectors over a problem's pool of programs: which of N programs to submit, best first, from
//! what a contestant can see (public tests, model-written tests, outputs on generated inputs),
//! never from the hidden tests.
//!
//! A selector ranks the whole pool; submitting n programs takes the first n of the ranking.
//! Selectors that group programs (`CodeT`'s consensus sets, `AlphaCode`'s and MBR-exec's clusters of
//! identical behaviour) emit one program per group, best group first, then a second program per
//! group, and so on, so that n submissions cover n different behaviours where the pool has them.
//! Ties, between groups of equal score and between programs inside a group, are broken by an
//! order drawn from a seed, so a ranking is a pure function of the pool and the seed.
//!
//! | selector | groups | score of a group |
//! |---|---|---|
//! | [`Selector::FirstPublicPass`] | passing the public tests, then the rest | generation order |
//! | [`Selector::PublicFilterRandom`] | passing the public tests, then the rest | seeded order |
//! | [`Selector::CodeT`] | identical pass rows on the generated tests | programs × tests passed (paper), or √programs × tests passed (released `agreement.py`) |
//! | [`Selector::B4`] | identical pass rows on the generated tests | log-posterior of "these programs and the tests they pass are the correct ones" (B4's `strategy.py`) |
//! | [`Selector::AlphaCode`] | public passers (all programs when none pass) clustered by identical outputs | cluster size |
//! | [`Selector::MbrExec`] | all programs clustered by identical outputs | cluster size |

use std::collections::BTreeMap;

/// What a pool of N programs did, as a selector may see it. Rows are programs, in the order they
/// were generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pool {
    /// Whether each program passed the problem's public tests.
    pub public_pass: Vec<bool>,
    /// Programs × model-written tests: whether program `i` passed test `j`.
    pub passes: Vec<Vec<bool>>,
    /// Each program's outputs on the generated inputs (its behaviour), one entry per input.
    pub outputs: Vec<Vec<String>>,
}

impl Pool {
    /// Programs in the pool.
    #[must_use]
    pub fn len(&self) -> usize {
        self.public_pass
            .len()
            .max(self.passes.len())
            .max(self.outputs.len())
    }

    /// Whether the pool holds no program.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a pool's programs are ranked for submission.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
// Externally tagged: serde_json's `arbitrary_precision` (on in this workspace) cannot read an
// internally tagged variant's `f64`s back.
pub enum Selector {
    /// Zheng et al.: programs that pass the public tests in the order they were generated, then
    /// the others in that order.
    #[serde(rename = "first-public-pass")]
    FirstPublicPass,
    /// Programs that pass the public tests in a seeded random order, then the others.
    #[serde(rename = "public-filter")]
    PublicFilterRandom,
    /// `CodeT` (Chen et al. 2023): consensus sets of programs passing exactly the same generated
    /// tests, scored by agreement. `sqrt` uses the released code's √(programs) instead of the
    /// paper's count.
    #[serde(rename = "codet")]
    CodeT {
        /// Score a set by √(programs) × tests passed (released code) instead of the product.
        sqrt: bool,
    },
    /// B4 (Chen et al. 2024): the same consensus sets as `CodeT`, ranked by the log-posterior of
    /// the hypothesis that a set's programs and the tests they pass are the correct ones, a sum of
    /// four Beta-Bernoulli marginal likelihoods (released `strategy.py`, function `B4`).
    #[serde(rename = "b4")]
    B4 {
        /// Prior weight against wrong programs passing wrong tests (`beta_0`; the README uses
        /// 1e4, 1e5 or 1e6).
        beta_0: f64,
        /// Prior weight on the fractions of correct programs and tests (`alpha_xy`; 1e3).
        alpha_xy: f64,
    },
    /// `AlphaCode` (Li et al. 2022): keep the programs that pass the public tests, cluster them by
    /// identical outputs on the generated inputs, one per cluster, largest cluster first.
    #[serde(rename = "alphacode")]
    AlphaCode,
    /// MBR-exec: every program clustered by identical outputs, largest cluster first.
    #[serde(rename = "mbr-exec")]
    MbrExec,
}

/// The pool's programs ranked by `selector`, best first: every index of the pool exactly once.
/// `seed` orders what the selector leaves tied.
#[must_use]
pub fn rank(selector: Selector, pool: &Pool, seed: u64) -> Vec<usize> {
    let n = pool.len();
    let public = |i: usize| pool.public_pass.get(i).copied().unwrap_or(false);
    match selector {
        Selector::FirstPublicPass => {
            let (pass, rest): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| public(i));
            pass.into_iter().chain(rest).collect()
        }
        Selector::PublicFilterRandom => {
            let (pass, rest): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| public(i));
            emit(vec![(1.0, pass), (0.0, rest)], seed, false)
        }
        _ => {
            let (groups, rest) = grouped(selector, pool);
            emit(groups, seed, true)
                .into_iter()
                .chain(emit(vec![(0.0, rest)], seed, false))
                .collect()
        }
    }
}

/// The scored groups of a grouping selector (submitted one per group per round, best first),
/// and the programs it puts after them in a seeded order (`AlphaCode`'s filtered out).
pub(crate) fn grouped(selector: Selector, pool: &Pool) -> (Vec<(f64, Vec<usize>)>, Vec<usize>) {
    let n = pool.len();
    let public = |i: usize| pool.public_pass.get(i).copied().unwrap_or(false);
    match selector {
        Selector::CodeT { sqrt } => {
            let groups = group_by(0..n, |i| pool.passes.get(i).cloned().unwrap_or_default());
            let scored = groups
                .into_iter()
                .map(|(row, members)| {
                    let tests = row.iter().filter(|&&p| p).count() as f64;
                    let programs = members.len() as f64;
                    let agreement = if sqrt { programs.sqrt() } else { programs };
                    (agreement * tests, members)
                })
                .collect();
            (scored, Vec::new())
        }
        Selector::B4 { beta_0, alpha_xy } => {
            let scored = b4_scores(pool, beta_0, alpha_xy)
                .into_iter()
                .map(|(members, score)| (score, members))
                .collect();
            (scored, Vec::new())
        }
        Selector::AlphaCode => {
            let passing: Vec<usize> = (0..n).filter(|&i| public(i)).collect();
            let kept = if passing.is_empty() {
                (0..n).collect()
            } else {
                passing
            };
            let rest = (0..n).filter(|i| !kept.contains(i)).collect();
            (clusters(pool, kept.into_iter()), rest)
        }
        Selector::MbrExec => (clusters(pool, 0..n), Vec::new()),
        Selector::FirstPublicPass | Selector::PublicFilterRandom => {
            let (pass, rest): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| public(i));
            (vec![(1.0, pass)], rest)
        }
    }
}

/// The selectors by name, as `--strategy` takes them, with what each does.
pub const SELECTORS: &[(&str, &str)] = &[
    (
        "first-public-pass",
        "the first program that passes the public tests (Zheng et al.)",
    ),
    (
        "public-filter",
        "programs that pass the public tests, in a seeded random order",
    ),
    (
        "codet",
        "CodeT: consensus sets on model-written tests, scored by programs x tests passed",
    ),
    (
        "codet-sqrt",
        "CodeT as its released code scores: sqrt(programs) x tests passed",
    ),
    (
        "b4",
        "B4: consensus sets ranked by their log-posterior (beta_0 = 1e4, alpha_xy = 1e3)",
    ),
    (
        "alphacode",
        "AlphaCode: public-test filter, clusters by outputs on generated inputs, largest first",
    ),
    (
        "mbr-exec",
        "MBR-exec: every program clustered by outputs on generated inputs, largest first",
    ),
];

impl Selector {
    /// B4 with the released README's settings (`beta_0` = 1e4, `alpha_xy` = 1e3).
    pub const B4_DEFAULT: Selector = Selector::B4 {
        beta_0: 1e4,
        alpha_xy: 1e3,
    };

    /// The selector of a name in [`SELECTORS`].
    #[must_use]
    pub fn named(name: &str) -> Option<Selector> {
        Some(match name {
            "first-public-pass" => Selector::FirstPublicPass,
            "public-filter" => Selector::PublicFilterRandom,
            "codet" => Selector::CodeT { sqrt: false },
            "codet-sqrt" => Selector::CodeT { sqrt: true },
            "b4" => Selector::B4_DEFAULT,
            "alphacode" => Selector::AlphaCode,
            "mbr-exec" => Selector::MbrExec,
            _ => return None,
        })
    }

    /// Its name (B4 with other priors keeps the name `b4`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Selector::FirstPublicPass => "first-public-pass",
            Selector::PublicFilterRandom => "public-filter",
            Selector::CodeT { sqrt: false } => "codet",
            Selector::CodeT { sqrt: true } => "codet-sqrt",
            Selector::B4 { .. } => "b4",
            Selector::AlphaCode => "alphacode",
            Selector::MbrExec => "mbr-exec",
        }
    }

    /// Whether it needs model-written tests (a pass matrix or outputs on generated inputs).
    #[must_use]
    pub fn needs_tests(self) -> bool {
        !matches!(
            self,
            Selector::FirstPublicPass | Selector::PublicFilterRandom
        )
    }
}

/// B4's consensus sets (programs with identical pass rows) with their log-posteriors, as
/// `strategy.py` computes them. For a set X of programs and the tests Y its row passes, over N
/// programs and M tests, with `betaln(a, b)` the log of the Beta function:
///
/// - `betaln(|Y| + alpha_xy, M - |Y| + 1)`, the prior on the fraction of correct tests;
/// - `betaln(|X| + alpha_xy, N - |X| + 1)`, the prior on the fraction of correct programs;
/// - `betaln(s1 + 1, n1 - s1 + 1)`: the programs outside X on the tests in Y (`s1` passes of `n1`);
/// - `betaln(s0 + 1, n0 - s0 + beta_0)`: the programs outside X on the tests outside Y.
#[must_use]
pub fn b4_scores(pool: &Pool, beta_0: f64, alpha_xy: f64) -> Vec<(Vec<usize>, f64)> {
    let n = pool.len();
    let row = |i: usize| pool.passes.get(i).map_or(&[][..], Vec::as_slice);
    let tests = (0..n).map(|i| row(i).len()).max().unwrap_or(0);
    let passed = |i: usize, j: usize| row(i).get(j).copied().unwrap_or(false);
    let groups = group_by(0..n, |i| {
        (0..tests).map(|j| passed(i, j)).collect::<Vec<_>>()
    });
    groups
        .into_iter()
        .map(|(y, members)| {
            let ny = y.iter().filter(|&&p| p).count() as f64;
            let nx = members.len() as f64;
            let (mut s1, mut n1, mut s0, mut n0) = (0.0, 0.0, 0.0, 0.0);
            for i in (0..n).filter(|i| !members.contains(i)) {
                for (j, &correct) in y.iter().enumerate() {
                    let pass = f64::from(u8::from(passed(i, j)));
                    if correct {
                        (s1, n1) = (s1 + pass, n1 + 1.0);
                    } else {
                        (s0, n0) = (s0 + pass, n0 + 1.0);
                    }
                }
            }
            let score = betaln(ny + alpha_xy, tests as f64 - ny + 1.0)
                + betaln(nx + alpha_xy, n as f64 - nx + 1.0)
                + betaln(s1 + 1.0, n1 - s1 + 1.0)
                + betaln(s0 + 1.0, n0 - s0 + beta_0);
            (members, score)
        })
        .collect()
}

/// The log of the Beta function.
fn betaln(a: f64, b: f64) -> f64 {
    libm::lgamma(a) + libm::lgamma(b) - libm::lgamma(a + b)
}

/// `programs` clustered by identical outputs, largest cluster first, one per cluster per round.
/// `programs` clustered by identical outputs, each scored by its size.
fn clusters(pool: &Pool, programs: impl Iterator<Item = usize>) -> Vec<(f64, Vec<usize>)> {
    group_by(programs, |i| {
        pool.outputs.get(i).cloned().unwrap_or_default()
    })
    .into_values()
    .map(|members| (members.len() as f64, members))
    .collect()
}

fn group_by<K: Ord>(
    programs: impl Iterator<Item = usize>,
    key: impl Fn(usize) -> K,
) -> BTreeMap<K, Vec<usize>> {
    let mut groups: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for i in programs {
        groups.entry(key(i)).or_default().push(i);
    }
    groups
}

/// The programs of scored groups, best score first (ties in seeded order), each group's members
/// in seeded order. `round_robin`: one member per group per round; otherwise whole groups.
fn emit(mut groups: Vec<(f64, Vec<usize>)>, seed: u64, round_robin: bool) -> Vec<usize> {
    for (_, members) in &mut groups {
        members.sort_by_key(|&i| draw(seed, i as u64));
    }
    groups.sort_by(|(a, x), (b, y)| {
        b.total_cmp(a)
            .then_with(|| draw(seed, group_key(x)).cmp(&draw(seed, group_key(y))))
    });
    if !round_robin {
        return groups.into_iter().flat_map(|(_, m)| m).collect();
    }
    let longest = groups.iter().map(|(_, m)| m.len()).max().unwrap_or(0);
    (0..longest)
        .flat_map(|round| {
            groups
                .iter()
                .filter_map(move |(_, m)| m.get(round).copied())
        })
        .collect()
}

/// A group's identity for tie-breaking: its smallest member (groups are disjoint).
fn group_key(members: &[usize]) -> u64 {
    members
        .iter()
        .min()
        .map_or(u64::MAX, |&i| i as u64 | 1 << 63)
}

/// A pseudo-random draw for `item` under `seed` (the `SplitMix64` finaliser): a fixed order per seed.
pub(crate) fn draw(seed: u64, item: u64) -> u64 {
    let mut z = seed ^ item.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 10 programs: 0, 4 and 7 are correct and pass the same 8 of 10 generated tests; the 7 wrong
    /// ones each pass 2 tests, every one a different pair.
    fn three_correct_of_ten() -> Pool {
        let correct: Vec<bool> = (0..10).map(|j| j < 8).collect();
        let passes = (0..10)
            .map(|i| {
                if [0, 4, 7].contains(&i) {
                    correct.clone()
                } else {
                    (0..10).map(|j| j == i || j == (i + 1) % 10).collect()
                }
            })
            .collect();
        Pool {
            public_pass: vec![false; 10],
            passes,
            outputs: Vec::new(),
        }
    }

    fn is_permutation(ranking: &[usize], n: usize) -> bool {
        let mut sorted = ranking.to_vec();
        sorted.sort_unstable();
        sorted == (0..n).collect::<Vec<_>>()
    }

    #[test]
    fn codet_and_b4_submit_a_program_of_the_agreeing_correct_set_first() {
        let pool = three_correct_of_ten();
        let selectors = [
            Selector::CodeT { sqrt: false },
            Selector::CodeT { sqrt: true },
            Selector::B4_DEFAULT,
        ];
        for selector in selectors {
            for seed in 0..20 {
                let ranking = rank(selector, &pool, seed);
                assert!(is_permutation(&ranking, 10));
                assert!([0, 4, 7].contains(&ranking[0]), "{ranking:?}");
            }
        }
    }

    #[test]
    fn codet_scores_sets_as_the_paper_and_as_the_released_code() {
        // Set A: 9 programs passing tests 0-1 (paper 9 x 2 = 18, released 3 x 2 = 6). Set B: one
        // program passing all 10 tests (paper 1 x 10 = 10, released 1 x 10 = 10).
        let a: Vec<bool> = (0..10).map(|j| j < 2).collect();
        let mut passes = vec![a; 9];
        passes.push(vec![true; 10]);
        let pool = Pool {
            public_pass: vec![false; 10],
            passes,
            outputs: Vec::new(),
        };
        assert!(rank(Selector::CodeT { sqrt: false }, &pool, 1)[0] < 9);
        assert_eq!(rank(Selector::CodeT { sqrt: true }, &pool, 1)[0], 9);
    }

    /// `beta_0`, `alpha_xy`, and B4's sets with their scores, best first.
    type B4Case = (f64, f64, [(&'static [usize], f64); 4]);

    /// The log-posteriors B4's released `strategy.py` gives for this matrix (computed with its
    /// code and scipy 1.17.1), best first.
    #[test]
    fn b4_scores_are_the_released_codes() {
        let rows = [
            [1, 1, 1, 0, 1],
            [1, 1, 1, 0, 1],
            [1, 1, 1, 0, 1],
            [1, 0, 0, 1, 0],
            [0, 1, 0, 1, 1],
            [1, 1, 1, 1, 1],
        ];
        let pool = Pool {
            public_pass: vec![false; 6],
            passes: rows
                .iter()
                .map(|r| r.iter().map(|&p| p == 1).collect())
                .collect(),
            outputs: Vec::new(),
        };
        let expected: [B4Case; 2] = [
            (
                1e4,
                1e3,
                [
                    (&[5], -69.955_103_178_139_5),
                    (&[0, 1, 2], -83.971_421_608_848_93),
                    (&[4], -146.809_118_411_586_07),
                    (&[3], -183.254_110_303_870_56),
                ],
            ),
            (
                10.0,
                1.0,
                [
                    (&[5], -24.984_039_588_625_333),
                    (&[0, 1, 2], -25.540_927_457_361_32),
                    (&[4], -33.041_346_378_325_08),
                    (&[3], -33.284_988_451_187_63),
                ],
            ),
        ];
        for (beta_0, alpha_xy, want) in expected {
            let mut got = b4_scores(&pool, beta_0, alpha_xy);
            got.sort_by(|a, b| b.1.total_cmp(&a.1));
            assert_eq!(got.len(), want.len());
            for ((members, score), (want_members, want_score)) in got.iter().zip(want) {
                assert_eq!(members.as_slice(), want_members);
                assert!(
                    (score - want_score).abs() < 1e-9 * want_score.abs(),
                    "{score} against {want_score}"
                );
            }
            let first = rank(Selector::B4 { beta_0, alpha_xy }, &pool, 0)[0];
            assert_eq!(first, 5);
        }
    }

    #[test]
    fn alphacode_filters_on_public_tests_then_submits_one_per_cluster_largest_first() {
        let out = |s: &str| vec![s.to_owned(), "x".to_owned()];
        let pool = Pool {
            // Program 5 fails the public tests, so its large cluster does not count.
            public_pass: vec![true, true, true, true, true, false, false, false],
            passes: Vec::new(),
            outputs: vec![
                out("a"),
                out("b"),
                out("b"),
                out("c"),
                out("b"),
                out("z"),
                out("z"),
                out("z"),
            ],
        };
        for seed in 0..10 {
            let ranking = rank(Selector::AlphaCode, &pool, seed);
            assert!(is_permutation(&ranking, 8));
            // The "b" cluster (3 programs) first, then "a" and "c" in seeded order, then the second
            // and third "b", then the programs that failed the public tests.
            assert!([1, 2, 4].contains(&ranking[0]), "{ranking:?}");
            let mut next: Vec<usize> = ranking[1..3].to_vec();
            next.sort_unstable();
            assert_eq!(next, vec![0, 3], "{ranking:?}");
            let mut tail: Vec<usize> = ranking[5..].to_vec();
            tail.sort_unstable();
            assert_eq!(tail, vec![5, 6, 7], "{ranking:?}");
        }
        // MBR-exec does not filter: the "z" cluster ties with "b" on size.
        let mbr = rank(Selector::MbrExec, &pool, 3);
        assert!([1, 2, 4, 5, 6, 7].contains(&mbr[0]), "{mbr:?}");
    }

    #[test]
    fn ties_are_broken_by_the_seed_alone() {
        let pool = Pool {
            public_pass: vec![true; 6],
            passes: Vec::new(),
            outputs: Vec::new(),
        };
        let first = rank(Selector::PublicFilterRandom, &pool, 7);
        assert_eq!(first, rank(Selector::PublicFilterRandom, &pool, 7));
        let firsts: std::collections::BTreeSet<usize> = (0..50)
            .map(|seed| rank(Selector::PublicFilterRandom, &pool, seed)[0])
            .collect();
        assert!(firsts.len() > 3, "{firsts:?}");
        assert_eq!(
            rank(Selector::FirstPublicPass, &pool, 7),
            (0..6).collect::<Vec<_>>()
        );
    }

    #[test]
    fn first_public_pass_keeps_generation_order_among_passers() {
        let pool = Pool {
            public_pass: vec![false, true, false, true],
            ..Pool::default()
        };
        assert_eq!(rank(Selector::FirstPublicPass, &pool, 0), vec![1, 3, 0, 2]);
    }
}
