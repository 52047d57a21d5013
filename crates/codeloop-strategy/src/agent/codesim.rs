//! `CODESIM` (Islam et al., NAACL Findings 2025; `src/promptings/CodeSIM.py` of
//! `kagnlp/CodeGenerator`): up to p times, plan (one call: understanding, a recalled example, an
//! algorithm, a plan), simulate the plan by hand on a sample input, refine the plan when the
//! simulation says it needs changing, write code, and run the sample tests; on failure, up to d
//! debugging rounds that also simulate the failing case. The first passing program is the answer;
//! when none passes, the last one (`CodeSIM.py` l.378).

use serde::{Deserialize, Serialize};

use super::kit::{Halt, Kit};
use crate::multiturn::Purpose;
use crate::parse::{Read, tagged};

/// The prompts it asks with.
pub(crate) const PROMPTS: &[&str] = &[
    "codesim-plan",
    "codesim-simulate",
    "codesim-refine",
    "codesim-code",
    "codesim-debug",
];

/// `CODESIM`'s parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodeSim {
    /// p: plans tried (`max_plan_try`, `CodeSIM.py` l.32 of `kagnlp/CodeGenerator` @ 9cf09ee).
    pub plan_tries: u32,
    /// d: debugging rounds per plan (`max_debug_try`, `CodeSIM.py` l.33).
    pub debug_rounds: u32,
}

impl Default for CodeSim {
    fn default() -> Self {
        CodeSim {
            plan_tries: 5,
            debug_rounds: 5,
        }
    }
}

/// Whether the simulation asks for the plan to change: "Plan Modification Needed" against "No Need
/// to Modify Plan" (the released prompt's phrase, l.436) or "No Plan Modification Needed" (the
/// phrase its code looks for). Neither keeps the plan, as the released code does, and is noted.
fn needs_change(simulation: &str) -> Read<bool> {
    let lower = simulation.to_ascii_lowercase();
    let keep = ["no need to modify plan", "no plan modification needed"];
    let cleared = keep
        .iter()
        .fold(lower.clone(), |text, p| text.replace(p, ""));
    if cleared.contains("plan modification needed") {
        Read::ok(true)
    } else if keep.iter().any(|p| lower.contains(p)) {
        Read::ok(false)
    } else {
        Read::fallback(
            false,
            "simulation verdict",
            "neither 'Plan Modification Needed' nor 'No Need to Modify Plan': the plan is kept"
                .to_owned(),
        )
    }
}

pub(crate) async fn run(kit: &mut Kit, params: &CodeSim) -> Result<Option<usize>, Halt> {
    for _ in 0..params.plan_tries {
        let answer = kit.ask(Purpose::Reason, "codesim-plan", &[]).await?;
        let mut plan = kit.read(tagged(&answer, "plan"));
        let simulation = kit
            .ask(Purpose::Reason, "codesim-simulate", &[("plan", &plan)])
            .await?;
        if kit.read(needs_change(&simulation)) {
            let refined = kit
                .ask(
                    Purpose::Reason,
                    "codesim-refine",
                    &[("plan", &plan), ("simulation", &simulation)],
                )
                .await?;
            plan = kit.read(tagged(&refined, "plan"));
        }
        let first = kit.code("codesim-code", &[("plan", &plan)]).await?;
        let at = kit
            .debug(
                "codesim-debug",
                first,
                &mut plan,
                params.debug_rounds,
                |_| None,
            )
            .await?;
        if kit.attempts[at].passed() {
            return Ok(Some(at));
        }
    }
    Ok(kit.last())
}

#[cfg(test)]
mod tests {
    use super::needs_change;

    #[test]
    fn the_simulation_verdict_reads_both_phrasings() {
        assert!(needs_change("... so: Plan Modification Needed").value);
        assert!(!needs_change("all good. No Need to Modify Plan").value);
        let r = needs_change("No Plan Modification Needed.");
        assert!(!r.value && r.failure.is_none());
        let r = needs_change("looks fine");
        assert!(!r.value && r.failure.is_some());
    }
}
