//! The driver end to end on one problem: the events of a run and of its resume, in order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use codeloop_data::{Source, load};
use codeloop_llm::{Backend, BoxFuture, Choice, FinishReason, Generation, LlmError, Usage};
use codeloop_sandbox::{Executor, ExecutorConfig};
use codeloop_store::RunStore;
use codeloop_strategy::{PromptLibrary, StrategySpec};
use codeloop_types::Problem;

use super::{Budget, RunConfig, RunContext, Sampling, run};
use crate::events::{Event, EventSink, Events, SuiteKind};
use crate::prepare::{PrepareOptions, prepare};

/// Answers every request with the same wrong program; fails the `fail_call`-th request (1-based).
#[derive(Default)]
struct Wrong {
    calls: AtomicU64,
    fail_call: Option<u64>,
}

impl Backend for Wrong {
    fn identity(&self) -> String {
        "test/wrong".to_owned()
    }

    fn generate<'a>(
        &'a self,
        _request: &'a codeloop_llm::ValidRequest,
    ) -> BoxFuture<'a, Result<Generation, LlmError>> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = self.fail_call == Some(call);
        Box::pin(async move {
            if fail {
                return Err(LlmError::Protocol {
                    endpoint: "test".to_owned(),
                    message: "failed on purpose".to_owned(),
                });
            }
            Ok(generation(
                "```python\ndef has_close_elements(numbers, threshold):\n    return None\n```"
                    .to_owned(),
            ))
        })
    }
}

/// A scripted model's answer: `text`, charged 10 prompt and 5 completion tokens.
pub(crate) fn generation(text: String) -> Generation {
    Generation {
        choices: vec![Choice {
            text,
            finish_reason: FinishReason::Stop,
            token_ids: None,
            logprobs: None,
        }],
        usage: Usage {
            prompt_tokens: 10,
            completion_tokens: 5,
        },
        usage_missing: false,
        endpoint: "test".to_owned(),
        cached: 0,
    }
}

/// A scripted model: `answer(turn, call)` is its answer, where `turn` counts the request's user
/// messages and `call` its calls so far (from 0).
pub(crate) struct ByTurn<F> {
    calls: AtomicU64,
    answer: F,
}

impl<F: Fn(usize, u64) -> String + Send + Sync> ByTurn<F> {
    pub(crate) fn new(answer: F) -> Self {
        ByTurn {
            calls: AtomicU64::new(0),
            answer,
        }
    }
}

impl<F: Fn(usize, u64) -> String + Send + Sync> Backend for ByTurn<F> {
    fn identity(&self) -> String {
        "test/by-turn".to_owned()
    }

    fn generate<'a>(
        &'a self,
        request: &'a codeloop_llm::ValidRequest,
    ) -> BoxFuture<'a, Result<Generation, LlmError>> {
        let turn = match &request.get().prompt {
            codeloop_llm::Prompt::Chat(messages) => messages
                .iter()
                .filter(|m| m.role == codeloop_types::Role::User)
                .count(),
            codeloop_llm::Prompt::Text(_) => 1,
        };
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        let text = (self.answer)(turn, call);
        Box::pin(async move { Ok(generation(text)) })
    }
}

/// Runs `problem` in `dir` under `config` with `backend`, one trajectory at a time (so a scripted
/// model's i-th answer goes to the i-th call in trajectory order); no trajectory may fail.
pub(crate) fn run_one_at_a_time(
    executor: &Arc<Executor>,
    dir: &std::path::Path,
    config: RunConfig,
    backend: Arc<dyn Backend>,
    problem: &Arc<Problem>,
) -> (Arc<RunStore>, super::RunOutcome) {
    let ctx = RunContext {
        store: Arc::new(RunStore::open(dir).unwrap()),
        backend,
        executor: executor.clone(),
        config: Arc::new(config),
        events: Events::none(),
        concurrency: 1,
        fault: None,
    };
    let outcome = runtime()
        .block_on(run(&ctx, std::slice::from_ref(problem)))
        .unwrap();
    assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
    (ctx.store, outcome)
}

/// Keeps every event.
#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl EventSink for Recorder {
    fn event(&self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

/// An event's name, with what the order test checks.
fn name(event: &Event) -> String {
    match event {
        Event::RunStarted(s) => format!("run started (resumed {})", s.resumed),
        Event::ProblemPrepared { .. } => "problem prepared".to_owned(),
        Event::LlmCallStarted { .. } => "llm started".to_owned(),
        Event::LlmCallFinished { .. } => "llm finished".to_owned(),
        Event::LlmCallFailed { .. } => "llm failed".to_owned(),
        Event::StepReplayed { .. } => "replayed".to_owned(),
        Event::ExecutionFinished { suite, .. } => match suite {
            SuiteKind::Public => "public run".to_owned(),
            SuiteKind::Hidden => "hidden run".to_owned(),
            SuiteKind::Generated => "generated run".to_owned(),
            SuiteKind::Traced => "traced run".to_owned(),
        },
        Event::PoolFinished { .. } => "pool finished".to_owned(),
        Event::TrajectoryFinished { earlier, .. } => {
            format!("trajectory finished (earlier {earlier})")
        }
        Event::TrajectoryFailed(_) => "trajectory failed".to_owned(),
        Event::ProblemFinished { .. } => "problem finished".to_owned(),
        Event::Warning(_) => "warning".to_owned(),
        Event::RunFinished(_) => "run finished".to_owned(),
    }
}

pub(crate) fn one_problem(executor: &Executor) -> (Arc<Problem>, codeloop_data::Dataset) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/datasets/humaneval/HumanEval.jsonl.gz");
    let mut dataset = load(&Source::Path(path), None).unwrap();
    dataset.tasks.truncate(1);
    let prepared = prepare(&dataset, executor, &PrepareOptions::default(), None, |_| {}).unwrap();
    (Arc::new(prepared.problems[0].clone()), dataset)
}

pub(crate) fn config(
    problem: &Problem,
    dataset: &codeloop_data::Dataset,
    strategy: &str,
) -> RunConfig {
    let prompts = PromptLibrary::builtin();
    RunConfig {
        journal_version: super::JOURNAL_VERSION,
        dataset: dataset.origin.clone(),
        dataset_format: "humaneval".to_owned(),
        dataset_sha256: dataset.sha256.clone(),
        problems: vec![problem.id().0.clone()],
        trajectories: 1,
        strategy: StrategySpec::resolve(strategy, &prompts).unwrap(),
        prompts,
        model: "test/wrong".to_owned(),
        sampling: Sampling {
            temperature: 0.0,
            top_p: 1.0,
            max_tokens: 64,
            seed: 0,
        },
        limits: codeloop_types::Limits::default(),
        budget: Budget::default(),
        pool: None,
    }
}

/// One invocation of the run in `dir` with `backend`: its outcome and its events' names.
fn invoke(
    runtime: &tokio::runtime::Runtime,
    executor: &Arc<Executor>,
    dir: &std::path::Path,
    config: &Arc<RunConfig>,
    problem: &Arc<Problem>,
    backend: Wrong,
) -> (super::RunOutcome, Vec<String>) {
    let recorder = Arc::new(Recorder::default());
    let ctx = RunContext {
        store: Arc::new(RunStore::open(dir).unwrap()),
        backend: Arc::new(backend),
        executor: executor.clone(),
        config: config.clone(),
        events: Events::to(recorder.clone()),
        concurrency: 1,
        fault: None,
    };
    let outcome = runtime
        .block_on(run(&ctx, std::slice::from_ref(problem)))
        .unwrap();
    let names = recorder.0.lock().unwrap().iter().map(name).collect();
    (outcome, names)
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_run_and_its_resume_emit_their_events_in_order() {
    let executor = Arc::new(Executor::start(&ExecutorConfig::default()).unwrap());
    let (problem, dataset) = one_problem(&executor);
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config(&problem, &dataset, "single"));
    let runtime = runtime();
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (outcome, names) = invoke(
            &runtime,
            &executor,
            dir.path(),
            &config,
            &problem,
            Wrong::default(),
        );
        assert!(outcome.failed.is_empty(), "{:?}", outcome.failed);
        assert_eq!(
            (outcome.work.llm_calls, outcome.work.programs),
            (1, 1),
            "the resume is charged what the first run spent, once"
        );
        seen.push(names);
    }
    assert_eq!(
        seen[0],
        [
            "run started (resumed false)",
            "problem prepared",
            "llm started",
            "llm finished",
            "public run",
            "hidden run",
            "trajectory finished (earlier false)",
            "problem finished",
            "run finished",
        ]
    );
    assert_eq!(
        seen[1],
        [
            "run started (resumed true)",
            "problem prepared",
            "trajectory finished (earlier true)",
            "problem finished",
            "run finished",
        ]
    );
}

#[test]
fn a_trajectory_cut_by_a_failed_call_replays_its_journal_and_is_charged_once() {
    let executor = Arc::new(Executor::start(&ExecutorConfig::default()).unwrap());
    let (problem, dataset) = one_problem(&executor);
    let config = Arc::new(config(&problem, &dataset, "multi-turn"));
    let runtime = runtime();
    let whole = tempfile::tempdir().unwrap();
    let (reference, _) = invoke(
        &runtime,
        &executor,
        whole.path(),
        &config,
        &problem,
        Wrong::default(),
    );
    let cut = tempfile::tempdir().unwrap();
    let failing = Wrong {
        fail_call: Some(2),
        ..Wrong::default()
    };
    let (first, names) = invoke(&runtime, &executor, cut.path(), &config, &problem, failing);
    assert_eq!(first.failed.len(), 1);
    assert_eq!(
        names,
        [
            "run started (resumed false)",
            "problem prepared",
            "llm started",
            "llm finished",
            "public run",
            "llm started",
            "llm failed",
            "trajectory failed",
            "run finished",
        ]
    );
    let (resumed, names) = invoke(
        &runtime,
        &executor,
        cut.path(),
        &config,
        &problem,
        Wrong::default(),
    );
    assert!(resumed.failed.is_empty(), "{:?}", resumed.failed);
    assert_eq!(
        names,
        [
            "run started (resumed true)",
            "problem prepared",
            "replayed",
            "replayed",
            "public run",
            "llm started",
            "llm finished",
            "public run",
            "llm started",
            "llm finished",
            "public run",
            "hidden run",
            "hidden run",
            "hidden run",
            "trajectory finished (earlier false)",
            "problem finished",
            "run finished",
        ]
    );
    // Sandbox CPU time is measured, not replayed: the rest of the work is the same.
    let replayable = |s: super::Spending| super::Spending {
        sandbox_cpu_ms: 0,
        ..s
    };
    assert_eq!(replayable(resumed.work), replayable(reference.work));
    assert_eq!(resumed.invocation.replayed, 2);
    assert_eq!(resumed.invocation.llm_sent, 2);
}
