//! `PairCoder` (Zhang et al., ASE 2024; `src/gen/pair_programming.py` of `nju-websoft/PairCoder`
//! @ ac7ce88): a navigator reflects on the problem and proposes plans (several answers, a few plans
//! each), clustered into representative plans; for each plan it chooses among those left, the
//! driver writes code and runs the public tests, and on failure the navigator analyses the result
//! and the driver fixes the code. The plan is switched when the latest attempt on it repeats an
//! earlier attempt's code or error (`decide_direction.py` l.22-35). At most `max_programs`
//! programs in all; when every plan fails, a direct attempt with fixes. The answer is the first
//! program that passes, else the one whose outputs are closest to the expected ones (`d_tot`,
//! `src/gen/utils.py` l.239-248; the earliest of equals).
//!
//! Left out: the static analysis before each run (a linter's findings, fixed by the pair); a
//! program that fails to load shows up in its public run instead. Plans are clustered over TF-IDF
//! features ([`crate::cluster`]) where the released code embeds them with an embedding model.

use serde::{Deserialize, Serialize};

use super::kit::{Halt, Kit};
use crate::cluster::cluster_texts;
use crate::multiturn::Purpose;
use crate::parse::{list, score};

/// The prompts it asks with.
pub(crate) const PROMPTS: &[&str] = &[
    "paircoder-reflect",
    "paircoder-plans",
    "paircoder-choose",
    "paircoder-code",
    "paircoder-analyse",
    "paircoder-fix",
    "paircoder-direct",
];

/// `PairCoder`'s parameters (`src/settings/configuration.toml` of `nju-websoft/PairCoder` @
/// ac7ce88 unless noted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PairCoder {
    /// Answers asked for plans (`n = 5`, `generate_possible_solutions.toml` l.2; one call each here).
    pub plan_samples: u32,
    /// Plans per answer (`max_num_of_possible_solutions`, l.30).
    pub plans: u32,
    /// Clusters of plans (`num_clusters`, l.31).
    pub clusters: u32,
    /// Representative plans tried (`max_plan_attempts`, l.40).
    pub plan_attempts: u32,
    /// Fixes per plan (`initial_code_generation.max_attempts`, l.36).
    pub fixes_per_plan: u32,
    /// Programs in all (`max_coding_count`, l.21).
    pub max_programs: u32,
}

impl Default for PairCoder {
    fn default() -> Self {
        PairCoder {
            plan_samples: 5,
            plans: 3,
            clusters: 3,
            plan_attempts: 3,
            fixes_per_plan: 5,
            max_programs: 10,
        }
    }
}

/// The first passing program, else the closest to the expected outputs.
pub(crate) fn fallback(kit: &Kit) -> Option<usize> {
    kit.first_pass().or_else(|| {
        (0..kit.programs())
            .min_by(|&a, &b| kit.distance(a).total_cmp(&kit.distance(b)).then(a.cmp(&b)))
    })
}

/// Whether the latest of `tries` (attempts on one plan, at least 2) repeats an earlier one's code
/// or error.
fn repeats(kit: &Kit, tries: &[usize]) -> bool {
    let Some((&latest, earlier)) = tries.split_last() else {
        return false;
    };
    let latest = &kit.attempts[latest];
    earlier.iter().any(|&e| {
        let e = &kit.attempts[e];
        e.extracted.program == latest.extracted.program || e.errors() == latest.errors()
    })
}

/// Analyses attempt `at` and asks for its fix (`key`: `paircoder-fix`); returns the new attempt.
async fn fix(kit: &mut Kit, at: usize, plan: &str) -> Result<usize, Halt> {
    let (code, feedback) = (kit.code_of(at).to_owned(), kit.feedback(at));
    let analysis = kit
        .ask(
            Purpose::Reason,
            "paircoder-analyse",
            &[("code", &code), ("feedback", &feedback), ("plan", plan)],
        )
        .await?;
    kit.code(
        "paircoder-fix",
        &[
            ("plan", plan),
            ("code", &code),
            ("feedback", &feedback),
            ("analysis", &analysis),
        ],
    )
    .await
}

pub(crate) async fn run(kit: &mut Kit, params: &PairCoder) -> Result<Option<usize>, Halt> {
    let max = params.max_programs as usize;
    let reflection = kit.ask(Purpose::Reason, "paircoder-reflect", &[]).await?;
    let count = params.plans.to_string();
    let mut proposed = Vec::new();
    for _ in 0..params.plan_samples {
        let answer = kit
            .ask(
                Purpose::Reason,
                "paircoder-plans",
                &[("reflection", &reflection), ("count", &count)],
            )
            .await?;
        proposed.extend(kit.read(list(&answer, "plans", params.plans as usize)));
    }
    let texts: Vec<&str> = proposed.iter().map(String::as_str).collect();
    let mut left: Vec<String> = cluster_texts(&texts, params.clusters as usize, kit.seed)
        .into_iter()
        .map(|c| proposed[c.representative].clone())
        .take(params.plan_attempts as usize)
        .collect();
    while !left.is_empty() {
        let plan = if left.len() == 1 {
            left.remove(0)
        } else {
            let numbered = left
                .iter()
                .enumerate()
                .map(|(i, p)| format!("Plan {}: {p}", i + 1))
                .collect::<Vec<_>>()
                .join("\n\n");
            let answer = kit
                .ask(Purpose::Reason, "paircoder-choose", &[("plans", &numbered)])
                .await?;
            let top = left.len() as f64;
            let chosen = kit.read(score(&answer, "plan", (1.0, top), 1.0));
            left.remove(chosen.round() as usize - 1)
        };
        let mut at = kit
            .code(
                "paircoder-code",
                &[("plan", &plan), ("reflection", &reflection)],
            )
            .await?;
        let mut tries = vec![at];
        while !kit.attempts[at].passed()
            && tries.len() <= params.fixes_per_plan as usize
            && kit.programs() < max
            && !(tries.len() >= 2 && repeats(kit, &tries))
        {
            at = fix(kit, at, &plan).await?;
            tries.push(at);
        }
        if kit.attempts[at].passed() {
            return Ok(Some(at));
        }
        if kit.programs() >= max {
            return Ok(fallback(kit));
        }
    }
    // Every plan failed: a direct attempt, then fixes while programs are left.
    let mut at = kit.code("paircoder-direct", &[]).await?;
    while !kit.attempts[at].passed() && kit.programs() < max {
        at = fix(kit, at, "").await?;
    }
    Ok(fallback(kit))
}
