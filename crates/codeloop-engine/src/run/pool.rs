//! A problem's pool stage: the driver of a pool strategy ([`SelectorPolicy`]) once the problem's
//! trajectories (the pool) have finished.
//!
//! The stage's model calls (tests written by the model) are journaled like a trajectory's steps,
//! under the trajectory index [`POOL_STAGE`], and replayed on resume. The pool's runs on the
//! model's tests are stored as executions (program, suite), so a resumed stage reuses them
//! instead of running them again; the ranking is a pure function of those observations and the
//! run's seed, so a resumed run submits exactly what an uninterrupted one does. The finished
//! stage is a [`PoolRecord`] in the store's `pools` table.
//!
//! **Model-written tests** are read (`generated.rs`: asserts through the trusted judge, stdio
//! blocks as text; nothing the model wrote is run) into a suite of their own that never mixes
//! with the problem's public or hidden tests and is never shown to the evaluator.

use std::collections::BTreeMap;
use std::sync::Arc;

use codeloop_store::Write;
use codeloop_strategy::{
    Pool, PoolAction, PoolObservation, PoolSpec, Purpose, Selector, SelectorPolicy,
};
use codeloop_types::{Problem, TestSuite};
use serde::{Deserialize, Serialize};

use super::answers::{Asked, answer};
use super::context::Shared;
use super::execute::Runs;
use super::generated::{generated_limits, outcome_key, read_tests};
use super::journal::{JOURNAL_VERSION, StepKey, TrajectoryRecord};
use super::ledger::Spending;
use crate::errors::EngineError;

/// The journal's trajectory index of a problem's pool stage (its test-writing calls).
pub const POOL_STAGE: u32 = u32::MAX;

/// One program of a pool: a trajectory's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolMember {
    /// The trajectory.
    pub trajectory: u32,
    /// The answer's blob hash (`None`: the trajectory wrote no program).
    pub program: Option<String>,
    /// Whether it passed the public tests (`None`: none were run).
    pub public_passed: Option<bool>,
    /// Whether it passed the hidden tests (the evaluator's verdict; no selector sees it).
    pub hidden_passed: bool,
}

/// A finished pool stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolRecord {
    /// Format version (the journal's).
    pub version: u32,
    /// The problem.
    pub problem: String,
    /// The selector that ranked the pool.
    pub selector: Selector,
    /// The pool, in trajectory order.
    pub members: Vec<PoolMember>,
    /// The model-written tests kept, as the judge normalised them.
    pub tests: Vec<String>,
    /// Statements of the model's answers that were not usable tests.
    pub tests_rejected: u64,
    /// Tests dropped as duplicates of earlier ones.
    pub tests_duplicates: u64,
    /// The generated suite's key (`None`: no test was kept).
    pub suite: Option<String>,
    /// Per member: which model-written tests it passed, as `0`/`1` characters.
    pub passes: Vec<String>,
    /// Per member: its behaviour class (members with identical outputs on the generated inputs
    /// share a class; numbered in order of first appearance).
    pub behaviour: Vec<u32>,
    /// The submission order, best first (indices into `members`).
    pub ranking: Vec<usize>,
    /// Whether the first submission passed the hidden tests.
    pub solved: bool,
    /// What the stage spent: its test-writing calls and tokens, the executions of the pool on
    /// the model's tests and their sandbox CPU (no program: the trajectories wrote those).
    pub spent: Spending,
}

impl Spending {
    /// Adds what a finished pool stage's record says it spent.
    pub fn add_pool(&mut self, record: &PoolRecord) {
        let s = &record.spent;
        self.llm_calls += s.llm_calls;
        self.prompt_tokens += s.prompt_tokens;
        self.completion_tokens += s.completion_tokens;
        self.executions += s.executions;
        self.sandbox_cpu_ms += s.sandbox_cpu_ms;
    }
}

impl PoolRecord {
    /// The evidence the selector saw, rebuilt (outputs as behaviour classes).
    #[must_use]
    pub fn pool(&self) -> Pool {
        Pool {
            public_pass: self
                .members
                .iter()
                .map(|m| m.public_passed.unwrap_or(true) && m.program.is_some())
                .collect(),
            passes: self
                .passes
                .iter()
                .map(|row| row.bytes().map(|b| b == b'1').collect())
                .collect(),
            outputs: self.behaviour.iter().map(|c| vec![c.to_string()]).collect(),
        }
    }

    /// Whether each member passed the hidden tests.
    #[must_use]
    pub fn correct(&self) -> Vec<bool> {
        self.members.iter().map(|m| m.hidden_passed).collect()
    }
}

/// A finished trajectory as the pool stage needs it: its record, and the text of its answer
/// when this invocation ran it (the store's copy may not be committed yet).
pub(super) struct Sampled {
    pub(super) record: TrajectoryRecord,
    pub(super) answer: Option<String>,
}

/// Runs `problem`'s pool stage over its finished trajectories `sampled` (in trajectory order),
/// or returns the record an earlier invocation finished.
pub(super) async fn pool_stage(
    shared: &Shared<'_>,
    problem: &Arc<Problem>,
    spec: PoolSpec,
    sampled: Vec<Sampled>,
) -> Result<PoolRecord, EngineError> {
    let ctx = shared.ctx;
    let id = problem.id().0.as_str();
    if let Some(text) = ctx.store.pool(id)? {
        let record: PoolRecord =
            serde_json::from_str(&text).map_err(|source| EngineError::RecordUnreadable {
                path: ctx.store.path().to_path_buf(),
                problem: id.to_owned(),
                trajectory: POOL_STAGE,
                source,
            })?;
        shared
            .ledger
            .charge_executions(record.spent.executions, record.spent.sandbox_cpu_ms);
        return Ok(record);
    }
    let seed = pool_seed(ctx.config.sampling.seed, id);
    let mut stage = Stage {
        shared,
        problem,
        journal: ctx.store.steps(id, POOL_STAGE)?,
        account: shared.ledger.account(),
        members: members(&sampled),
        texts: sampled.into_iter().map(|s| s.answer).collect(),
        suite: None,
        tests: Vec::new(),
        expects: Vec::new(),
        rejected: 0,
        duplicates: 0,
        passes: Vec::new(),
        behaviour: Vec::new(),
        ranking: Vec::new(),
        seed,
    };
    let public = Arc::new(problem.public.clone());
    let mut policy = SelectorPolicy::new(public, shared.library.clone(), spec, seed);
    let mut action = policy.next(PoolObservation::Start)?;
    loop {
        action = match action {
            PoolAction::Sample { count } => {
                if count as usize != stage.members.len() {
                    return Err(EngineError::Prepare {
                        problem: id.to_owned(),
                        message: format!(
                            "the pool holds {} programs, the strategy asked for {count}",
                            stage.members.len()
                        ),
                    });
                }
                let public_pass = stage.record_pool().public_pass;
                policy.next(PoolObservation::Sampled {
                    public_pass: &public_pass,
                })?
            }
            PoolAction::Generate {
                messages,
                answers,
                purpose,
                keep,
                limit,
            } => {
                let count = stage.tests(messages, answers, purpose, keep, limit).await?;
                policy.next(PoolObservation::Tests { count })?
            }
            PoolAction::Execute { .. } => {
                let pool = stage.execute().await?;
                policy.next(PoolObservation::Executed(&pool))?
            }
            PoolAction::Submit { ranking } => {
                stage.ranking = ranking;
                policy.next(PoolObservation::Submitted)?
            }
            PoolAction::Stop => break,
        };
    }
    Ok(stage.finish(spec.selector))
}

/// The seed of `problem`'s pool stage in a run seeded with `run_seed`: it breaks the selector's
/// ties, in the run and in `report`'s n@k.
#[must_use]
pub fn pool_seed(run_seed: u64, problem: &str) -> u64 {
    crate::stable_hash(run_seed, problem.bytes().chain(*b"pool"))
}

/// Each trajectory's answer as a pool member.
fn members(sampled: &[Sampled]) -> Vec<PoolMember> {
    sampled
        .iter()
        .map(|s| {
            let r = &s.record;
            let answer = r
                .submitted_turn
                .and_then(|turn| r.programs.iter().rev().find(|p| p.turn == turn));
            PoolMember {
                trajectory: r.trajectory,
                program: answer.map(|p| p.program.clone()),
                public_passed: answer.and_then(|p| p.public_passed),
                hidden_passed: answer.is_some_and(|p| p.hidden_passed),
            }
        })
        .collect()
}

/// A pool stage in progress.
struct Stage<'s, 'a> {
    shared: &'s Shared<'a>,
    problem: &'s Arc<Problem>,
    journal: Vec<codeloop_store::StoredStep>,
    account: super::ledger::Account<'s>,
    members: Vec<PoolMember>,
    texts: Vec<Option<String>>,
    suite: Option<Arc<TestSuite>>,
    tests: Vec<String>,
    expects: Vec<bool>,
    rejected: u64,
    duplicates: u64,
    passes: Vec<String>,
    behaviour: Vec<u32>,
    ranking: Vec<usize>,
    seed: u64,
}

impl Stage<'_, '_> {
    fn id(&self) -> &str {
        self.problem.id().0.as_str()
    }

    /// The evidence so far.
    fn record_pool(&self) -> Pool {
        let record = PoolRecord {
            members: self.members.clone(),
            passes: self.passes.clone(),
            behaviour: self.behaviour.clone(),
            ..self.empty_record(Selector::FirstPublicPass)
        };
        record.pool()
    }

    /// Asks the model for tests `answers` times, parses them, and builds the generated suite;
    /// returns how many tests it holds.
    async fn tests(
        &mut self,
        messages: Vec<codeloop_types::Message>,
        answers: u32,
        purpose: Purpose,
        keep: u32,
        limit: u32,
    ) -> Result<usize, EngineError> {
        let mut texts = Vec::with_capacity(answers as usize);
        for step in 0..answers {
            let asked = Asked {
                key: StepKey {
                    problem: self.id().to_owned(),
                    trajectory: POOL_STAGE,
                    step,
                },
                journaled: self.journal.get(step as usize).map(|s| s.data.clone()),
                purpose,
                turn: 0,
                seed: self.seed.wrapping_add(u64::from(step)),
                affinity: self.seed,
            };
            match answer(self.shared, asked, messages.clone(), &mut self.account).await? {
                Some(a) => texts.push(a.text),
                // The budget refused the call: the tests written so far are what there is.
                None => break,
            }
        }
        let generated = read_tests(self.shared, self.problem, texts, keep, limit).await?;
        self.rejected = generated.rejected;
        self.duplicates = generated.duplicates;
        self.tests = generated.shown;
        self.expects = generated.expects;
        self.suite = generated.suite.map(Arc::new);
        Ok(self.tests.len())
    }

    /// Runs every member on the generated suite: one sandbox run per distinct program.
    async fn execute(&mut self) -> Result<Pool, EngineError> {
        let suite = self.suite.clone().expect("tests before their execution");
        let shared = self.shared;
        let runs = Runs {
            shared,
            problem: self.problem,
            trajectory: POOL_STAGE,
        };
        let limits = generated_limits(&shared.ctx.config.limits, &suite);
        let mut classes: BTreeMap<String, u32> = BTreeMap::new();
        let mut rows: BTreeMap<String, (String, u32)> = BTreeMap::new();
        self.passes.clear();
        self.behaviour.clear();
        for (i, member) in self.members.iter().enumerate() {
            let Some(hash) = &member.program else {
                let expected = self.expects.iter().filter(|e| **e).count();
                self.passes.push("0".repeat(expected));
                self.behaviour
                    .push(class(&mut classes, "(no program)".to_owned()));
                continue;
            };
            if let Some((row, class)) = rows.get(hash) {
                self.passes.push(row.clone());
                self.behaviour.push(*class);
                continue;
            }
            let text = match &self.texts[i] {
                Some(text) => text.clone(),
                None => shared
                    .ctx
                    .store
                    .blob(hash)?
                    .ok_or_else(|| EngineError::Prepare {
                        problem: self.problem.id().0.clone(),
                        message: format!("the store lacks program {hash} of the pool"),
                    })?,
            };
            let report = runs.generated(hash, &text, &suite, &limits).await?;
            self.account.executions(suite.tests.len() as u64);
            self.account.sandbox_cpu(report.cpu_ms);
            // Tests without an expectation (a stdio input alone) show behaviour only.
            let row: String = report
                .tests
                .iter()
                .zip(&self.expects)
                .filter(|(_, expects)| **expects)
                .map(|(t, _)| if t.verdict.is_pass() { '1' } else { '0' })
                .collect();
            let outputs: Vec<String> = (0..suite.tests.len())
                .map(|j| outcome_key(&suite, &report, j))
                .collect();
            let c = class(&mut classes, outputs.join("\u{1f}"));
            rows.insert(hash.clone(), (row.clone(), c));
            self.passes.push(row);
            self.behaviour.push(c);
        }
        Ok(self.record_pool())
    }

    fn empty_record(&self, selector: Selector) -> PoolRecord {
        let spent = self.account.spent();
        PoolRecord {
            version: JOURNAL_VERSION,
            problem: self.id().to_owned(),
            selector,
            members: Vec::new(),
            tests: Vec::new(),
            tests_rejected: self.rejected,
            tests_duplicates: self.duplicates,
            suite: self.suite.as_ref().map(|s| s.key.clone()),
            passes: Vec::new(),
            behaviour: Vec::new(),
            ranking: Vec::new(),
            solved: false,
            spent,
        }
    }

    /// The finished record, queued for the store.
    fn finish(self, selector: Selector) -> PoolRecord {
        let solved = self
            .ranking
            .first()
            .is_some_and(|&i| self.members.get(i).is_some_and(|m| m.hidden_passed));
        let record = PoolRecord {
            members: self.members.clone(),
            tests: self.tests.clone(),
            passes: self.passes.clone(),
            behaviour: self.behaviour.clone(),
            ranking: self.ranking.clone(),
            solved,
            ..self.empty_record(selector)
        };
        self.shared.writer.queue(vec![Write::Pool {
            problem: record.problem.clone(),
            data: serde_json::to_string(&record).expect("records serialise"),
        }]);
        record
    }
}

/// The class number of `key`, numbering new keys in order of appearance.
fn class(classes: &mut BTreeMap<String, u32>, key: String) -> u32 {
    let next = classes.len() as u32;
    *classes.entry(key).or_insert(next)
}
