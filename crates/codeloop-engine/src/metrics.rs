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
}
