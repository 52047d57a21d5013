//! Each method against a scripted model and a scripted judge: the exact sequence of prompts, the
//! branching and stopping decisions, the fallbacks on broken answers, and budget cuts.

use std::sync::Arc;

use codeloop_types::{
    ExecReport, Expect, Interface, Language, Outcome, PublicProblem, TestCase, TestId, TestResult,
    TestSuite, Verdict,
};

use super::*;
use crate::multiturn::{Action, Observation};
use crate::parse::ReadFailure;
use crate::policy::Policy;

/// Two public tests, so a program can pass none, one or both.
fn problem() -> Arc<PublicProblem> {
    let test = |i: u32| TestCase {
        id: TestId(i),
        calls: (i, i + 1),
        input: format!("inc({i})"),
        expected: Some(format!("{}", i + 1)),
        expect: Expect::Replay,
    };
    Arc::new(PublicProblem {
        id: codeloop_types::ProblemId("T/0".into()),
        dataset: "t".into(),
        prompt: "def inc(x):\n    \"\"\"Add one.\"\"\"\n".into(),
        language: Language::Python,
        interface: Interface::Function {
            entry_point: "inc".into(),
        },
        public_tests: Arc::new(TestSuite {
            tests: vec![test(0), test(1)],
            ..TestSuite::empty("k")
        }),
        completion_prefix: String::new(),
    })
}

/// The judge: a program containing `PASS` passes both tests, `HALF` the first, else none; a
/// wrong value is the number after `GOT` (default 0).
fn judge(program: &str) -> ExecReport {
    let mut r: ExecReport =
        serde_json::from_str(include_str!("../../tests/failed_report.json")).unwrap();
    let passing = if program.contains("PASS") {
        2
    } else {
        usize::from(program.contains("HALF"))
    };
    let got = program
        .split("GOT")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or("0")
        .to_owned();
    r.tests = (0..2u32)
        .map(|i| TestResult {
            id: TestId(i),
            verdict: if (i as usize) < passing {
                Verdict::Pass
            } else {
                Verdict::WrongAnswer {
                    input: format!("inc({i})"),
                    expected: Some(format!("{}", i + 1)),
                    got: Some(got.clone()),
                    detail: None,
                }
            },
            cpu_ms: 1.0,
        })
        .collect();
    r.outcome = if passing == 2 {
        Outcome::Passed
    } else {
        Outcome::Failed
    };
    r
}

/// A program in an answer.
fn code(body: &str) -> String {
    format!("```python\ndef inc(x):\n    return x  # {body}\n```")
}

/// What a scripted run did.
#[derive(Debug)]
struct Run {
    /// The prompt of each call (`mapcoder-plan`...).
    calls: Vec<String>,
    /// The user message of each call.
    messages: Vec<String>,
    /// The programs run, in order.
    programs: Vec<String>,
    /// The submission: turn and program.
    submitted: Option<(u32, String)>,
    failures: Vec<ReadFailure>,
}

/// Runs `method` with the model answering `model(prompt, call index)`; the budget refuses call
/// number `cut` (0-based) and everything after it.
fn drive(method: Method, mut model: impl FnMut(&str, usize) -> String, cut: Option<usize>) -> Run {
    let mut library = PromptLibrary::builtin();
    for (key, template) in &mut library.agent {
        *template = format!("@@{key}@@\n{template}");
    }
    let mut policy = start(method, problem(), Arc::new(library), 7).unwrap();
    let mut run = Run {
        calls: Vec::new(),
        messages: Vec::new(),
        programs: Vec::new(),
        submitted: None,
        failures: Vec::new(),
    };
    let mut answer = String::new();
    let mut report;
    let mut action = policy.next(Observation::Start).unwrap();
    for _ in 0..1000 {
        action = match action {
            Action::Llm { messages, .. } => {
                if cut.is_some_and(|c| run.calls.len() >= c) {
                    policy.next(Observation::Refused).unwrap()
                } else {
                    let user = &messages.last().unwrap().content;
                    let key = user.split("@@").nth(1).unwrap().to_owned();
                    answer = model(&key, run.calls.len());
                    run.calls.push(key);
                    run.messages.push(user.clone());
                    policy.next(Observation::Llm(&answer)).unwrap()
                }
            }
            Action::Exec { extracted, .. } => {
                run.programs.push(extracted.program.clone());
                report = judge(&extracted.program);
                policy.next(Observation::Exec(&report)).unwrap()
            }
            Action::Submit { turn, program } => {
                run.submitted = Some((turn, program.program));
                policy.next(Observation::Submitted).unwrap()
            }
            Action::Trace { .. } => panic!("agents trace nothing"),
            Action::Stop => break,
        };
    }
    assert_eq!(action, Action::Stop, "the run ends");
    let _ = answer;
    run.failures = policy.read_failures();
    run
}

fn submitted(run: &Run) -> &str {
    &run.submitted.as_ref().expect("a submission").1
}

#[test]
fn mapcoder_tries_plans_by_confidence_debugs_then_moves_on() {
    let method = Method::Mapcoder(MapCoder {
        exemplars: 2,
        debug_rounds: 1,
    });
    let run = drive(
        method,
        |key, i| match (key, i) {
            ("mapcoder-retrieve", _) => {
                "<problem>A</problem><problem>B</problem><algorithm>greedy</algorithm>".into()
            }
            ("mapcoder-plan", 1) => "<plan>plan from A</plan>".into(),
            ("mapcoder-plan", _) => "<plan>plan from B</plan>".into(),
            ("mapcoder-confidence", 2) => "Confidence: 30".into(),
            ("mapcoder-confidence", _) => "Confidence: 90".into(),
            ("mapcoder-code", 5) => code("B first"),
            ("mapcoder-debug", _) => code("B debugged"),
            ("mapcoder-code", _) => code("A PASS"),
            other => panic!("{other:?}"),
        },
        None,
    );
    assert_eq!(
        run.calls,
        [
            "mapcoder-retrieve",
            "mapcoder-plan",
            "mapcoder-confidence",
            "mapcoder-plan",
            "mapcoder-confidence",
            "mapcoder-code",
            "mapcoder-debug",
            "mapcoder-code",
        ]
    );
    assert!(run.messages[1].contains("<problem>") || run.messages[1].contains('A'));
    assert!(run.messages[1].contains("greedy"));
    assert!(
        run.messages[5].contains("plan from B"),
        "the confident plan first"
    );
    assert!(run.messages[7].contains("plan from A"));
    assert!(submitted(&run).contains("A PASS"));
    assert_eq!(run.submitted.as_ref().unwrap().0, 3);
    assert!(run.failures.is_empty(), "{:?}", run.failures);
}

#[test]
fn mapcoder_on_a_model_that_breaks_every_format_falls_back_and_submits_the_last_program() {
    let method = Method::Mapcoder(MapCoder {
        exemplars: 3,
        debug_rounds: 1,
    });
    let run = drive(method, |_, i| format!("I am not sure {i}"), None);
    // One exemplar (the whole answer), so one plan: code and one debugging round.
    assert_eq!(run.calls.len(), 1 + 2 + 2);
    assert_eq!(run.programs.len(), 2);
    assert_eq!(submitted(&run), run.programs[1]);
    let fields: Vec<&str> = run.failures.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["problem", "algorithm", "plan", "confidence"]);
}

#[test]
fn codesim_refines_a_plan_its_simulation_rejects_and_tries_a_new_plan_after_failed_debugging() {
    let method = Method::Codesim(CodeSim {
        plan_tries: 3,
        debug_rounds: 1,
    });
    let run = drive(
        method,
        |key, i| match (key, i) {
            ("codesim-plan", 0) => "<plan>first</plan>".into(),
            ("codesim-plan", _) => "<plan>second</plan>".into(),
            ("codesim-simulate", 1) => "2 != 3, Plan Modification Needed".into(),
            ("codesim-simulate", _) => "matches. No Need to Modify Plan".into(),
            ("codesim-refine", _) => "<plan>first, refined</plan>".into(),
            ("codesim-code", 3) => code("one"),
            ("codesim-debug", _) => code("two"),
            ("codesim-code", _) => code("PASS"),
            other => panic!("{other:?}"),
        },
        None,
    );
    assert_eq!(
        run.calls,
        [
            "codesim-plan",
            "codesim-simulate",
            "codesim-refine",
            "codesim-code",
            "codesim-debug",
            "codesim-plan",
            "codesim-simulate",
            "codesim-code",
        ]
    );
    assert!(run.messages[3].contains("first, refined"));
    assert!(run.messages[7].contains("second"));
    assert!(submitted(&run).contains("PASS"));
}

#[test]
fn paircoder_switches_plan_when_a_fix_repeats_and_chooses_with_the_navigator() {
    let method = Method::Paircoder(PairCoder {
        plan_samples: 2,
        plans: 2,
        clusters: 2,
        plan_attempts: 2,
        fixes_per_plan: 5,
        max_programs: 10,
    });
    let run = drive(
        method,
        |key, i| match (key, i) {
            ("paircoder-reflect", _) => "- add one".into(),
            ("paircoder-plans", 1) => {
                "1. sort the digits carefully\n2. use arithmetic addition".into()
            }
            ("paircoder-plans", _) => {
                "1. sort the digits carefully\n2. use arithmetic addition plainly".into()
            }
            ("paircoder-choose", _) => "Plan: 2".into(),
            ("paircoder-code", 4) | ("paircoder-fix", _) => code("first"),
            ("paircoder-analyse", _) => "it returns x".into(),
            ("paircoder-code", _) => code("PASS"),
            other => panic!("{other:?}"),
        },
        None,
    );
    assert_eq!(
        run.calls,
        [
            "paircoder-reflect",
            "paircoder-plans",
            "paircoder-plans",
            "paircoder-choose",
            "paircoder-code",
            "paircoder-analyse",
            "paircoder-fix",
            "paircoder-code",
        ]
    );
    // The chosen plan (the second listed) is coded first; the other one after the switch.
    let chosen = if run.messages[3].contains("Plan 2: sort") {
        "sort"
    } else {
        "arithmetic"
    };
    assert!(run.messages[4].contains(chosen), "{}", run.messages[4]);
    assert!(!run.messages[7].contains(chosen));
    assert!(submitted(&run).contains("PASS"));
}

#[test]
fn paircoder_out_of_programs_submits_the_attempt_closest_to_the_expected_outputs() {
    let method = Method::Paircoder(PairCoder {
        plan_samples: 1,
        plans: 1,
        clusters: 1,
        plan_attempts: 1,
        fixes_per_plan: 5,
        max_programs: 3,
    });
    let mut written = 0;
    let run = drive(
        method,
        |key, _| match key {
            "paircoder-code" | "paircoder-fix" | "paircoder-direct" => {
                written += 1;
                code(&format!("GOT {} ", [9, 2, 7][written - 1]))
            }
            _ => "1. a plan".into(),
        },
        None,
    );
    assert_eq!(run.programs.len(), 3);
    // Outputs 2 against expected 1 and 2 are closest (distance 1).
    assert!(submitted(&run).contains("GOT 2"), "{}", submitted(&run));
}

#[test]
fn codetree_expands_by_reflection_aborts_below_the_parent_and_stops_on_the_critics_accept() {
    let method = Method::Codetree(CodeTree {
        strategies: 3,
        max_depth: 3,
        max_programs: 20,
    });
    let mut debugged = 0;
    let run = drive(
        method,
        |key, _| match key {
            "codetree-strategies" => "1. strategy A\n2. strategy B".into(),
            "codetree-solve" => code("HALF"),
            "codetree-score" if debugged == 0 => "Score: 3".into(),
            "codetree-score" => "Score: 0".into(),
            "codetree-reflect" => "1. reflection one\n2. reflection two".into(),
            "codetree-debug" => {
                debugged += 1;
                code(if debugged == 1 { "worse" } else { "PASS" })
            }
            "codetree-accept" => "It is right. True".into(),
            other => panic!("{other}"),
        },
        None,
    );
    assert_eq!(
        run.calls,
        [
            "codetree-strategies",
            "codetree-solve",
            "codetree-score",
            "codetree-reflect",
            // Reflection one: worse than its parent (0 < 0.5 + 3/15): not expanded.
            "codetree-debug",
            "codetree-score",
            // Reflection two: passes and is accepted.
            "codetree-debug",
            "codetree-accept",
        ]
    );
    assert!(
        run.messages[4].contains("reflection one") && run.messages[6].contains("reflection two")
    );
    assert!(submitted(&run).contains("PASS"));
}

#[test]
fn codetree_cut_by_the_budget_submits_the_latest_failing_program_not_a_rejected_pass() {
    let method = Method::Codetree(CodeTree::default());
    let run = drive(
        method,
        |key, i| match key {
            "codetree-strategies" => "1. A\n2. B".into(),
            "codetree-solve" if i == 1 => code("PASS rejected"),
            "codetree-solve" | "codetree-debug" => code(&format!("fails {i}")),
            "codetree-accept" => "False".into(),
            "codetree-reflect" => "1. r".into(),
            _ => "Score: 1".into(),
        },
        Some(6),
    );
    assert_eq!(run.calls.len(), 6);
    assert!(!submitted(&run).contains("PASS"));
    assert_eq!(submitted(&run), run.programs.last().unwrap());
}

#[test]
fn sfs_seeds_a_forest_scatters_directions_and_returns_the_best_program() {
    let method = Method::Sfs(Sfs {
        seeds: 2,
        max_iters: 2,
        directions: 2,
        exploration: std::f64::consts::SQRT_2,
    });
    let mut improved = 0;
    let run = drive(
        method,
        |key, _| match key {
            "sfs-seed" => code("seed HALF"),
            "sfs-directions" => "1. go left\n2. go right".into(),
            "sfs-improve" => {
                improved += 1;
                code(if improved == 1 { "left PASS" } else { "other" })
            }
            "sfs-insights" => "- going left helps".into(),
            other => panic!("{other}"),
        },
        None,
    );
    assert_eq!(
        run.calls,
        [
            "sfs-seed",
            "sfs-seed",
            "sfs-directions",
            "sfs-improve",
            "sfs-insights",
            "sfs-directions",
            "sfs-improve",
            "sfs-insights",
        ]
    );
    assert!(run.messages[3].contains("go left"));
    // The second iteration visits the unvisited second seed, with the shared insights.
    assert!(run.messages[5].contains("going left helps"));
    assert!(submitted(&run).contains("left PASS"));
    // Two seeds in different styles.
    let style = |m: &str| {
        m.split("@@sfs-seed@@")
            .nth(1)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert_ne!(style(&run.messages[0]), style(&run.messages[1]));
}

#[test]
fn a_method_cut_before_any_program_submits_nothing() {
    let run = drive(
        Method::builtin("mapcoder").unwrap(),
        |_, _| "x".into(),
        Some(2),
    );
    assert_eq!(run.calls.len(), 2);
    assert!(run.programs.is_empty() && run.submitted.is_none());
}
