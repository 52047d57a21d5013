//! A pool strategy end to end on `HumanEval/0` with a scripted model whose right answers are
//! known: 10 programs (3 correct and agreeing, 7 wrong in three ways) and model-written tests
//! (mostly right), through the real sandbox, judge and store.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use codeloop_llm::{Backend, BoxFuture, Generation, LlmError, Prompt};
use codeloop_sandbox::{Executor, ExecutorConfig};
use codeloop_store::RunStore;
use codeloop_strategy::{PoolSpec, Selector};

use super::pool::{POOL_STAGE, PoolRecord};
use super::tests::{config, generation, one_problem, run_one_at_a_time};

const CORRECT: &str = "def has_close_elements(numbers, threshold):
    for i, a in enumerate(numbers):
        for j, b in enumerate(numbers):
            if i != j and abs(a - b) < threshold:
                return True
    return False";

/// Passes the public examples, fails a hidden test: the threshold is half a unit too wide.
const WIDE: &str = "def has_close_elements(numbers, threshold):
    return any(abs(a - b) < threshold + 0.5 for i, a in enumerate(numbers) for j, b in enumerate(numbers) if i != j)";

const ALWAYS_FALSE: &str = "def has_close_elements(numbers, threshold):
    return False";

const ALWAYS_TRUE: &str = "def has_close_elements(numbers, threshold):
    return True";

/// The programs of trajectories 0..10, in order: the first public passer is a wrong one.
const PROGRAMS: [&str; 10] = [
    WIDE,
    ALWAYS_FALSE,
    WIDE,
    CORRECT,
    ALWAYS_TRUE,
    ALWAYS_FALSE,
    CORRECT,
    ALWAYS_FALSE,
    ALWAYS_TRUE,
    CORRECT,
];

/// Two answers of tests: right ones, one the wide program also passes, one it fails, a
/// duplicate, a wrong test and lines that are not tests.
const TESTS: [&str; 2] = [
    "```python
assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False
assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True
assert has_close_elements([], 1.0) == False
assert has_close_elements([1.0, 1.8], 0.5) == False
assert has_close_elements(numbers=[1.0], threshold=1.0) == False
```",
    "Here are more tests:
```python
assert has_close_elements([1.0, 1.0], 0.1) == True
assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False
assert has_close_elements([5.0, 5.05], 0.1) == False
```",
];

/// A scripted model: code requests get `programs[i]` for the i-th one (in call order), test
/// requests `tests[j]` for the j-th.
struct Scripted {
    programs: &'static [&'static str],
    tests: &'static [&'static str],
    code_calls: AtomicU64,
    test_calls: AtomicU64,
}

impl Scripted {
    fn new(programs: &'static [&'static str], tests: &'static [&'static str]) -> Self {
        Scripted {
            programs,
            tests,
            code_calls: AtomicU64::new(0),
            test_calls: AtomicU64::new(0),
        }
    }
}

impl Backend for Scripted {
    fn identity(&self) -> String {
        "test/scripted-pool".to_owned()
    }

    fn generate<'a>(
        &'a self,
        request: &'a codeloop_llm::ValidRequest,
    ) -> BoxFuture<'a, Result<Generation, LlmError>> {
        let asks_tests = match &request.get().prompt {
            Prompt::Chat(messages) => messages
                .last()
                .is_some_and(|m| m.content.contains("Do not solve the problem")),
            Prompt::Text(text) => text.contains("Do not solve the problem"),
        };
        let text = if asks_tests {
            let i = self.test_calls.fetch_add(1, Ordering::SeqCst) as usize;
            self.tests[i % self.tests.len()].to_owned()
        } else {
            let i = self.code_calls.fetch_add(1, Ordering::SeqCst) as usize;
            format!("```python\n{}\n```", self.programs[i % self.programs.len()])
        };
        Box::pin(async move { Ok(generation(text)) })
    }
}

/// Runs `selector` over the scripted pool in `dir`; returns the pool record and the run's calls.
fn pool_run(selector: Selector, dir: &std::path::Path) -> (PoolRecord, super::RunOutcome) {
    let executor = Arc::new(Executor::start(&ExecutorConfig::default()).unwrap());
    let (problem, dataset) = one_problem(&executor);
    let mut config = config(&problem, &dataset, "single");
    config.trajectories = 10;
    config.pool = Some(PoolSpec::new(selector, 10, 10));
    // One trajectory at a time: trajectory t gets program t.
    let backend = Arc::new(Scripted::new(&PROGRAMS, &TESTS));
    let (store, outcome) = run_one_at_a_time(&executor, dir, config, backend, &problem);
    let text = store.pool(&problem.id().0).unwrap().expect("a pool record");
    (serde_json::from_str(&text).unwrap(), outcome)
}

#[test]
fn codet_submits_a_correct_program_where_the_first_public_pass_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let (record, outcome) = pool_run(Selector::CodeT { sqrt: false }, dir.path());
    let correct: Vec<usize> = (0..10).filter(|&i| PROGRAMS[i] == CORRECT).collect();
    let hidden: Vec<usize> = (0..10)
        .filter(|&i| record.members[i].hidden_passed)
        .collect();
    assert_eq!(hidden, correct, "the hidden tests know which are right");
    // Kept: the five distinct right tests, the wrong one (5.0 and 5.05 are within 0.1); the
    // keyword call is rejected and the repeated assert dropped.
    assert_eq!(record.tests.len(), 6, "{:?}", record.tests);
    assert_eq!((record.tests_rejected, record.tests_duplicates), (1, 1));
    assert!(
        correct.contains(&record.ranking[0]),
        "CodeT's first submission {} is one of the correct {correct:?}: {record:?}",
        record.ranking[0]
    );
    assert!(record.solved);
    // The three correct programs agree on every test but the wrong one.
    for &i in &correct {
        assert_eq!(record.passes[i], "111110", "program {i}");
    }
    assert_eq!(
        (record.spent.llm_calls, outcome.work.llm_calls),
        (2, 12),
        "ten programs and two answers of tests"
    );
    // One run per distinct program: four programs, six tests each.
    assert_eq!(record.spent.executions, 6 * 4);
}

#[test]
fn the_first_public_pass_submits_the_wide_program_and_writes_no_tests() {
    let dir = tempfile::tempdir().unwrap();
    let (record, outcome) = pool_run(Selector::FirstPublicPass, dir.path());
    assert_eq!(record.ranking[0], 0, "{record:?}");
    assert!(!record.solved);
    assert!(record.tests.is_empty());
    assert_eq!(outcome.work.llm_calls, 10);
}

#[test]
fn a_resumed_pool_stage_replays_its_tests_and_submits_the_same_ranking() {
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = pool_run(Selector::B4_DEFAULT, dir.path());
    // Forget the finished stage, keep its journal: the resume replays the stage.
    let store = RunStore::open(dir.path()).unwrap();
    store.delete_pool(&first.problem).unwrap();
    assert_eq!(store.steps(&first.problem, POOL_STAGE).unwrap().len(), 2);
    drop(store);
    let (again, outcome) = pool_run(Selector::B4_DEFAULT, dir.path());
    assert_eq!(again, first);
    assert_eq!(outcome.invocation.llm_sent, 0, "nothing is asked again");
    assert_eq!(outcome.invocation.replayed, 2);
}

/// A stdin/stdout problem: print the sum of two integers.
fn sum_problem() -> Arc<codeloop_types::Problem> {
    use codeloop_types::{
        HiddenTests, Interface, Language, OutputCompare, Problem, ProblemId, PublicProblem,
    };
    let id = ProblemId("sum".to_owned());
    let suite = |which: &str, tests: &[(&str, &str)]| {
        let tests: Vec<(String, String)> = tests
            .iter()
            .map(|(i, o)| ((*i).to_owned(), (*o).to_owned()))
            .collect();
        Arc::new(crate::prepare::stdio_suite(
            &id,
            which,
            &tests,
            2_000,
            OutputCompare::Tokens,
            None,
        ))
    };
    Arc::new(Problem {
        public: PublicProblem {
            id: id.clone(),
            dataset: "test".to_owned(),
            prompt: "Read two integers; print their sum.".to_owned(),
            language: Language::Python,
            interface: Interface::Stdio,
            public_tests: suite("public", &[("3 4\n", "7\n")]),
            completion_prefix: String::new(),
        },
        hidden: HiddenTests(suite("hidden", &[("10 20\n", "30\n"), ("-1 1\n", "0\n")])),
        reference: None,
    })
}

const SUM: &str = "a, b = map(int, input().split())\nprint(a + b)";
const DIFFERENCE: &str = "a, b = map(int, input().split())\nprint(a - b)";
const PRODUCT: &str = "a, b = map(int, input().split())\nprint(a * b)";
const STDIO_PROGRAMS: [&str; 6] = [DIFFERENCE, SUM, PRODUCT, SUM, DIFFERENCE, SUM];

/// One answer of tests: two with outputs (one labelled in words), one input alone.
const STDIO_TESTS: [&str; 1] = [
    "Tests:\n```input\n1 2\n```\n```output\n3\n```\nInput:\n```\n2 2\n```\nOutput:\n```\n4\n```\n```input\n5 0\n```\n",
];

#[test]
fn stdio_problems_take_model_written_inputs_and_outputs() {
    let executor = Arc::new(Executor::start(&ExecutorConfig::default()).unwrap());
    let (humaneval, dataset) = one_problem(&executor);
    let problem = sum_problem();
    for selector in [Selector::CodeT { sqrt: false }, Selector::MbrExec] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(&humaneval, &dataset, "single");
        config.problems = vec!["sum".to_owned()];
        config.trajectories = 6;
        config.pool = Some(PoolSpec::new(selector, 6, 10));
        let backend = Arc::new(Scripted::new(&STDIO_PROGRAMS, &STDIO_TESTS));
        let (store, _) = run_one_at_a_time(&executor, dir.path(), config, backend, &problem);
        let record: PoolRecord =
            serde_json::from_str(&store.pool("sum").unwrap().unwrap()).unwrap();
        assert_eq!(record.tests.len(), 3, "{:?}", record.tests);
        let sums: Vec<usize> = (0..6).filter(|&i| STDIO_PROGRAMS[i] == SUM).collect();
        let hidden: Vec<usize> = (0..6)
            .filter(|&i| record.members[i].hidden_passed)
            .collect();
        assert_eq!(hidden, sums);
        // Rows over the two tests with outputs: the sum passes both, the product the second.
        assert_eq!(
            record.passes,
            ["00", "11", "01", "11", "00", "11"],
            "{selector:?}"
        );
        // Three behaviours over the three inputs.
        assert_eq!(record.behaviour, [0, 1, 2, 1, 0, 1]);
        assert!(
            sums.contains(&record.ranking[0]),
            "{selector:?}: {record:?}"
        );
        assert!(record.solved);
    }
}
