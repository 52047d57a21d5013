//! Clustering texts (`PairCoder`'s plans) without an embedding model: k-means++ over TF-IDF
//! features.
//!
//! `PairCoder` embeds its Navigator's plans and clusters them with k-means++ into representative
//! plans. codeloop has no embedding model, so a text's features are the TF-IDF weights of its
//! lower-cased word unigrams and bigrams (words: runs of letters and digits), L2-normalised;
//! distances are 1 minus cosine similarity. Seeding is k-means++ with draws from a seed, then
//! Lloyd's iterations until the assignment stops changing (at most 100); of 10 such runs the one
//! with the lowest inertia is kept. Each cluster's representative is its member closest to the
//! centroid. Everything is deterministic for a seed.

use std::collections::BTreeMap;

use crate::select::draw;

/// One cluster of texts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// Its members (indices into the texts), in order.
    pub members: Vec<usize>,
    /// The member closest to the centroid.
    pub representative: usize,
}

/// A sparse, L2-normalised feature vector.
type Features = BTreeMap<String, f64>;

/// k-means++ runs from different seeds; the one with the lowest inertia (sum of squared distances
/// to the centroids) is kept, as scikit-learn's `n_init` does.
const RESTARTS: u64 = 10;

/// `texts` in at most `k` clusters, largest first (the first member breaks ties). Fewer clusters
/// when there are fewer distinct texts; none for no text.
#[must_use]
pub fn cluster_texts(texts: &[&str], k: usize, seed: u64) -> Vec<Cluster> {
    if texts.is_empty() || k == 0 {
        return Vec::new();
    }
    let features = tf_idf(texts);
    let (assignment, centroids) = (0..RESTARTS)
        .map(|r| lloyd(&features, k, draw(seed, r)))
        .min_by(|a, b| inertia(&features, a).total_cmp(&inertia(&features, b)))
        .expect("at least one restart");
    let mut clusters: Vec<Cluster> = (0..centroids.len())
        .filter_map(|c| {
            let members: Vec<usize> = (0..features.len())
                .filter(|&i| assignment[i] == c)
                .collect();
            let representative = *members.iter().min_by(|&&a, &&b| {
                distance(&features[a], &centroids[c])
                    .total_cmp(&distance(&features[b], &centroids[c]))
                    .then(a.cmp(&b))
            })?;
            Some(Cluster {
                members,
                representative,
            })
        })
        .collect();
    clusters.sort_by(|a, b| {
        b.members
            .len()
            .cmp(&a.members.len())
            .then(a.members[0].cmp(&b.members[0]))
    });
    clusters
}

/// One k-means++ run: each text's cluster, and the centroids.
fn lloyd(features: &[Features], k: usize, seed: u64) -> (Vec<usize>, Vec<Features>) {
    let centres = seed_centres(features, k, seed);
    let mut assignment = vec![usize::MAX; features.len()];
    let mut centroids: Vec<Features> = centres.iter().map(|&c| features[c].clone()).collect();
    for _ in 0..100 {
        let next: Vec<usize> = features.iter().map(|f| nearest(f, &centroids)).collect();
        if next == assignment {
            break;
        }
        assignment = next;
        centroids = (0..centroids.len())
            .map(|c| {
                let members: Vec<&Features> = features
                    .iter()
                    .zip(&assignment)
                    .filter(|&(_, &a)| a == c)
                    .map(|(f, _)| f)
                    .collect();
                mean(&members)
            })
            .collect();
    }
    (assignment, centroids)
}

/// The sum of each text's squared distance to its centroid.
fn inertia(features: &[Features], (assignment, centroids): &(Vec<usize>, Vec<Features>)) -> f64 {
    features
        .iter()
        .zip(assignment)
        .map(|(f, &c)| distance(f, &centroids[c]).powi(2))
        .sum()
}

/// The TF-IDF features of each text (unigrams and bigrams; IDF = ln((1 + n) / (1 + df)) + 1).
fn tf_idf(texts: &[&str]) -> Vec<Features> {
    let terms: Vec<Vec<String>> = texts.iter().map(|t| terms(t)).collect();
    let mut df: BTreeMap<&str, usize> = BTreeMap::new();
    for doc in &terms {
        let mut seen: Vec<&str> = doc.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for t in seen {
            *df.entry(t).or_insert(0) += 1;
        }
    }
    let n = texts.len() as f64;
    terms
        .iter()
        .map(|doc| {
            let mut f: Features = BTreeMap::new();
            for t in doc {
                *f.entry(t.clone()).or_insert(0.0) += 1.0;
            }
            for (t, w) in &mut f {
                let idf = ((1.0 + n) / (1.0 + df[t.as_str()] as f64)).ln() + 1.0;
                *w *= idf;
            }
            normalise(f)
        })
        .collect()
}

/// Lower-cased words and word pairs.
fn terms(text: &str) -> Vec<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let pairs = words.windows(2).map(|w| format!("{} {}", w[0], w[1]));
    words.iter().cloned().chain(pairs).collect()
}

fn normalise(mut f: Features) -> Features {
    let norm = f.values().map(|w| w * w).sum::<f64>().sqrt();
    if norm > 0.0 {
        for w in f.values_mut() {
            *w /= norm;
        }
    }
    f
}

/// 1 minus the cosine similarity (both vectors normalised, or the zero vector).
fn distance(a: &Features, b: &Features) -> f64 {
    let dot: f64 = a.iter().filter_map(|(t, w)| b.get(t).map(|v| w * v)).sum();
    (1.0 - dot).max(0.0)
}

fn nearest(f: &Features, centroids: &[Features]) -> usize {
    (0..centroids.len())
        .min_by(|&a, &b| {
            distance(f, &centroids[a])
                .total_cmp(&distance(f, &centroids[b]))
                .then(a.cmp(&b))
        })
        .expect("at least one centroid")
}

/// The normalised mean of `members` (the zero vector for none).
fn mean(members: &[&Features]) -> Features {
    let mut sum: Features = BTreeMap::new();
    for f in members {
        for (t, w) in *f {
            *sum.entry(t.clone()).or_insert(0.0) += w;
        }
    }
    normalise(sum)
}

/// k-means++ seeding: the first centre drawn uniformly, each next one with chance proportional to
/// its squared distance to the nearest centre chosen; stops early when every text sits on a centre.
fn seed_centres(features: &[Features], k: usize, seed: u64) -> Vec<usize> {
    let unit = |i: u64| (draw(seed, i) >> 11) as f64 / (1u64 << 53) as f64;
    let mut centres = vec![(draw(seed, 0) % features.len() as u64) as usize];
    while centres.len() < k {
        let weights: Vec<f64> = features
            .iter()
            .map(|f| {
                let d = centres
                    .iter()
                    .map(|&c| distance(f, &features[c]))
                    .fold(f64::INFINITY, f64::min);
                d * d
            })
            .collect();
        let total: f64 = weights.iter().sum();
        if total <= 1e-12 {
            break;
        }
        let mut target = unit(centres.len() as u64) * total;
        let mut chosen = weights.len() - 1;
        for (i, w) in weights.iter().enumerate() {
            if target < *w {
                chosen = i;
                break;
            }
            target -= w;
        }
        centres.push(chosen);
    }
    centres
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLANS: [&str; 6] = [
        "Sort the numbers, then compare each adjacent pair of sorted numbers.",
        "Sort the list and compare adjacent sorted numbers pairwise.",
        "Use two nested loops over every pair of numbers and compare their distance.",
        "Loop over every pair with two nested loops and check the distance.",
        "Sort the numbers, then check each adjacent pair of sorted numbers.",
        "Build a hash map keyed by rounded values and look up near duplicates in it.",
    ];

    #[test]
    fn plans_that_share_their_words_fall_together() {
        for seed in 0..20 {
            let clusters = cluster_texts(&PLANS, 3, seed);
            let members: Vec<Vec<usize>> = clusters.iter().map(|c| c.members.clone()).collect();
            assert_eq!(members, [vec![0, 1, 4], vec![2, 3], vec![5]], "seed {seed}");
        }
        let clusters = cluster_texts(&PLANS, 3, 7);
        assert_eq!(clusters.len(), 3, "{clusters:?}");
        // The sorting plans, the nested-loop plans, the hash-map plan.
        assert_eq!(clusters[0].members, vec![0, 1, 4], "{clusters:?}");
        assert_eq!(clusters[1].members, vec![2, 3], "{clusters:?}");
        assert_eq!(clusters[2].members, vec![5], "{clusters:?}");
        for c in &clusters {
            assert!(c.members.contains(&c.representative));
        }
    }

    #[test]
    fn clustering_is_deterministic_and_handles_small_and_repeated_inputs() {
        assert_eq!(cluster_texts(&PLANS, 3, 1), cluster_texts(&PLANS, 3, 1));
        assert!(cluster_texts(&[], 3, 0).is_empty());
        // Three copies of one plan: one cluster, whatever k.
        let same = ["a plan", "a plan", "a plan"];
        let clusters = cluster_texts(&same, 3, 0);
        assert_eq!(clusters.len(), 1);
        assert_eq!(clusters[0].members, vec![0, 1, 2]);
        // More clusters asked for than texts.
        assert_eq!(
            cluster_texts(&PLANS[..2], 5, 0)
                .iter()
                .map(|c| c.members.len())
                .sum::<usize>(),
            2
        );
    }

    #[test]
    fn features_weigh_rare_terms_over_common_ones() {
        let f = tf_idf(&["sort the list", "loop the list"]);
        // `sort` appears in one text, `the` in both.
        assert!(f[0]["sort"] > f[0]["the"]);
        assert!((distance(&f[0], &f[0])).abs() < 1e-12);
        assert!(distance(&f[0], &f[1]) > 0.3);
    }
}
