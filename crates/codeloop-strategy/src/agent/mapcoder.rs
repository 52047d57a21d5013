//! `MapCoder` (Islam, Ali and Parvez, ACL 2024; `src/promptings/MapCoder.py` of
//! `Md-Ashraful-Pramanik/MapCoder`): a retrieval agent recalls k similar problems with their
//! plans and names the algorithm; a planning agent writes a plan for the problem from each, and a
//! confidence for it; in order of confidence, a coding agent writes code from the plan, and a
//! debugging agent revises plan and code on the sample tests' failures up to t times. The first
//! program that passes the sample tests is the answer; when none does, the last one.
//!
//! Calls: 1 + 2k + k(1 + t) at most.

use serde::{Deserialize, Serialize};

use super::kit::{Halt, Kit};
use crate::multiturn::Purpose;
use crate::parse::{every, score, tagged};

/// The prompts it asks with.
pub(crate) const PROMPTS: &[&str] = &[
    "mapcoder-retrieve",
    "mapcoder-plan",
    "mapcoder-confidence",
    "mapcoder-code",
    "mapcoder-debug",
];

/// `MapCoder`'s parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MapCoder {
    /// k: similar problems recalled, each giving one plan (methods.md §2.12: k = 3, the paper's
    /// default; its `HumanEval` results use 5).
    pub exemplars: u32,
    /// t: debugging rounds per plan (methods.md §2.12: t = 5).
    pub debug_rounds: u32,
}

impl Default for MapCoder {
    fn default() -> Self {
        MapCoder {
            exemplars: 3,
            debug_rounds: 5,
        }
    }
}

/// A plan and its confidence.
struct Plan {
    text: String,
    confidence: f64,
}

pub(crate) async fn run(kit: &mut Kit, params: &MapCoder) -> Result<Option<usize>, Halt> {
    let k = params.exemplars.to_string();
    let recalled = kit
        .ask(Purpose::Reason, "mapcoder-retrieve", &[("count", &k)])
        .await?;
    let mut exemplars = kit.read(every(&recalled, "problem", params.exemplars as usize));
    if exemplars.is_empty() {
        exemplars.push(String::new());
    }
    let algorithm = kit.read(tagged(&recalled, "algorithm"));
    let mut plans = Vec::with_capacity(exemplars.len());
    for exemplar in &exemplars {
        let answer = kit
            .ask(
                Purpose::Reason,
                "mapcoder-plan",
                &[("exemplar", exemplar), ("algorithm", &algorithm)],
            )
            .await?;
        let text = kit.read(tagged(&answer, "plan"));
        let rated = kit
            .ask(Purpose::Reason, "mapcoder-confidence", &[("plan", &text)])
            .await?;
        // A confidence nobody could read ranks last; ties keep the recall order.
        let confidence = kit.read(score(&rated, "confidence", (0.0, 100.0), 0.0));
        plans.push(Plan { text, confidence });
    }
    plans.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    for plan in &plans {
        let mut plan_text = plan.text.clone();
        let first = kit
            .code(
                "mapcoder-code",
                &[("plan", &plan_text), ("algorithm", &algorithm)],
            )
            .await?;
        // The debugging agent revises the plan with the code; its revision is kept.
        let revised = |answer: &str| {
            let plan = tagged(answer, "plan");
            plan.failure.is_none().then_some(plan.value)
        };
        let at = kit
            .debug(
                "mapcoder-debug",
                first,
                &mut plan_text,
                params.debug_rounds,
                revised,
            )
            .await?;
        if kit.attempts[at].passed() {
            return Ok(Some(at));
        }
    }
    Ok(kit.last())
}
