//! Metrics over pools of samples.

use crate::errors::EngineError;

/// The unbiased pass@k estimator of Chen et al. (2021), in product form:
/// `1 - prod_{i=n-c+1}^{n} (1 - k/i)`, which equals `1 - C(n-c, k) / C(n, k)` without overflowing.
/// `c = 0` gives 0. `k > n` is an error (there is no unbiased estimate), never a silent 1.
pub fn pass_at_k(n: u64, c: u64, k: u64) -> Result<f64, EngineError> {
    if k == 0 {
        return Err(EngineError::Metric("pass@k needs k >= 1".to_owned()));
    }
    if k > n {
        return Err(EngineError::Metric(format!(
            "pass@{k} needs at least {k} samples per problem, got {n}"
        )));
    }
    if c > n {
        return Err(EngineError::Metric(format!(
            "{c} correct out of {n} samples is impossible"
        )));
    }
    if n - c < k {
        return Ok(1.0);
    }
    let mut prod = 1.0;
    for i in (n - c + 1)..=n {
        prod *= 1.0 - k as f64 / i as f64;
    }
    Ok(1.0 - prod)
}

/// Mean pass@k over problems given as `(n, c)` pairs; `None` when some problem has fewer than k samples.
#[must_use]
pub fn mean_pass_at_k(counts: &[(u64, u64)], k: u64) -> Option<f64> {
    if counts.is_empty() {
        return None;
    }
    let mut total = 0.0;
    for &(n, c) in counts {
        total += pass_at_k(n, c, k).ok()?;
    }
    Some(total / counts.len() as f64)
}

/// `C(a, k) / C(b, k)` for `a <= b`, as a product (0 when `k > a`).
fn comb_ratio(a: u64, b: u64, k: u64) -> f64 {
    if k > a {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (a - i) as f64 / (b - i) as f64)
}

/// `ln C(n, k)`.
fn ln_choose(n: u64, k: u64) -> f64 {
    let k = k.min(n - k);
    (0..k).map(|i| ((n - i) as f64 / (i + 1) as f64).ln()).sum()
}

/// Exact pass n@k with public-test filtering (reference/methods.md section 1.6): of `total` samples,
/// `public` pass the public tests and `correct` (of those) also pass the hidden ones. Draw `k`
/// samples; of the `j` that pass the public tests, submit `min(n, j)` at random; the problem is solved
/// when a submission is correct. With every sample submitted (`public = total`) and `n = k` this is
/// pass@k; with trajectories as samples it is Zheng et al.'s pass n@(T n).
pub fn pass_n_at_k(
    total: u64,
    public: u64,
    correct: u64,
    n: u64,
    k: u64,
) -> Result<f64, EngineError> {
    if n == 0 || k == 0 {
        return Err(EngineError::Metric(
            "pass n@k needs n >= 1 and k >= 1".to_owned(),
        ));
    }
    if k > total {
        return Err(EngineError::Metric(format!(
            "pass {n}@{k} needs at least {k} samples per problem, got {total}"
        )));
    }
    if public > total || correct > public {
        return Err(EngineError::Metric(format!(
            "{correct} correct of {public} public-passing of {total} samples is impossible"
        )));
    }
    let ln_all = ln_choose(total, k);
    let mut p = 0.0;
    let lo = k.saturating_sub(total - public);
    for j in lo..=k.min(public) {
        let m = n.min(j);
        if m == 0 {
            continue;
        }
        let hyper = (ln_choose(public, j) + ln_choose(total - public, k - j) - ln_all).exp();
        p += hyper * (1.0 - comb_ratio(public - correct, public, m));
    }
    Ok(p.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn binom(n: u64, k: u64) -> f64 {
        if k > n {
            return 0.0;
        }
        (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "c = 0 and c = n give exactly 0 and 1")]
    fn known_values() {
        assert!((pass_at_k(10, 3, 1).unwrap() - 0.3).abs() < 1e-12);
        assert_eq!(pass_at_k(5, 0, 1).unwrap(), 0.0);
        assert_eq!(pass_at_k(5, 5, 5).unwrap(), 1.0);
        assert!((pass_at_k(2, 1, 2).unwrap() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn k_above_n_is_an_error_not_one() {
        let err = pass_at_k(1, 0, 10).unwrap_err().to_string();
        assert_eq!(err, "pass@10 needs at least 10 samples per problem, got 1");
        assert_eq!(mean_pass_at_k(&[(10, 1), (1, 1)], 10), None);
    }

    proptest! {
        #[test]
        fn matches_the_binomial_form(n in 1u64..60, c in 0u64..60, k in 1u64..60) {
            prop_assume!(c <= n && k <= n);
            let exact = 1.0 - binom(n - c, k) / binom(n, k);
            prop_assert!((pass_at_k(n, c, k).unwrap() - exact).abs() < 1e-9);
        }

        #[test]
        fn monotone_in_c_and_k(n in 2u64..80, c in 0u64..79, k in 1u64..79) {
            prop_assume!(c < n && k < n);
            let p = pass_at_k(n, c, k).unwrap();
            prop_assert!((0.0..=1.0).contains(&p));
            prop_assert!(pass_at_k(n, c + 1, k).unwrap() >= p - 1e-12);
            prop_assert!(pass_at_k(n, c, k + 1).unwrap() >= p - 1e-12);
        }
    }

    #[test]
    fn n_at_k_reduces_to_pass_at_k_and_matches_enumeration() {
        for (total, c, k) in [(10u64, 3u64, 1u64), (10, 3, 5), (7, 0, 2), (5, 5, 5)] {
            let a = pass_n_at_k(total, total, c, k, k).unwrap();
            assert!((a - pass_at_k(total, c, k).unwrap()).abs() < 1e-12);
        }
        // Enumerate every k-subset of a small pool and every submission choice.
        let pool = [
            (true, true),
            (true, false),
            (false, false),
            (true, false),
            (false, false),
        ];
        let (n, k) = (1usize, 3usize);
        let mut total = 0.0;
        let mut subsets = 0;
        for mask in 0u32..32 {
            if mask.count_ones() as usize != k {
                continue;
            }
            subsets += 1;
            let chosen: Vec<_> = (0..5)
                .filter(|i| mask >> i & 1 == 1)
                .map(|i| pool[i])
                .collect();
            let passers: Vec<_> = chosen.iter().filter(|s| s.0).collect();
            if passers.is_empty() {
                continue;
            }
            // n = 1: a uniform pick among the passers.
            total += passers.iter().filter(|s| s.1).count() as f64 / passers.len() as f64;
        }
        let exact = pass_n_at_k(5, 3, 1, n as u64, k as u64).unwrap();
        assert!(
            (exact - total / f64::from(subsets)).abs() < 1e-12,
            "{exact} vs {}",
            total / f64::from(subsets)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn the_closed_form_equals_every_draw_order_of_a_budget(
            pool in proptest::collection::vec((any::<bool>(), any::<bool>()), 1..7),
            n in 1usize..4,
            k in 1usize..7,
        ) {
            // Correct programs pass the public tests (the closed form's assumption).
            let pool: Vec<(bool, bool)> = pool.into_iter().map(|(p, c)| (p, p && c)).collect();
            prop_assume!(k <= pool.len());
            let public = pool.iter().filter(|s| s.0).count() as u64;
            let correct = pool.iter().filter(|s| s.1).count() as u64;
            let exact = pass_n_at_k(pool.len() as u64, public, correct, n as u64, k as u64).unwrap();
            // The same pool as one-program trajectories, every draw order (at most 6! = 720).
            let trajectories: Vec<Vec<codeloop_strategy::ProgramOutcome>> = pool
                .iter()
                .map(|&(p, c)| vec![codeloop_strategy::ProgramOutcome { public_pass: Some(p), correct: c, cost: 1.0 }])
                .collect();
            let enumerated = codeloop_strategy::budget_n_at_k(&trajectories, n, k as f64, 720, 0).unwrap();
            prop_assert!(enumerated.exact);
            prop_assert!((enumerated.mean - exact).abs() < 1e-9, "{} vs {exact}", enumerated.mean);
        }
    }
}
