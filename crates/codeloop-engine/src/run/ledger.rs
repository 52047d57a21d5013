//! The resource ledger: what a run spent, against its budget, in two kinds.
//!
//! - **Work spending** is what the journal holds: the LLM calls and tokens of every journaled
//!   answer (replayed or new), the programs and executions of the trajectories. It is a function of
//!   the journal alone, so it is the same for a run killed and resumed as for one left alone; reports
//!   and matched-budget comparisons use it.
//! - **Session spending** is what invocations actually sent, counted as they go in the store's
//!   `sessions` table, including requests whose answers a kill took. It is the money a paid API
//!   charged for.
//!
//! A budget limit on LLM calls or tokens caps both: an action is refused once either kind reaches
//! the limit, so a run killed again and again never sends more than its budget, and a run left
//! alone stops exactly where it always did.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use codeloop_store::{RunStore, SessionRow};

use super::config::Budget;
use super::journal::{LlmStep, TrajectoryRecord};
use crate::errors::EngineError;

/// Work spending: what a trajectory (or a whole run) spent, as the journal holds it. The
/// `spending` of `results.json` is this, without the submissions.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Spending {
    /// LLM calls.
    pub llm_calls: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// Programs generated.
    pub programs: u64,
    /// Test-case executions (public runs, and a pool's runs on model-written tests).
    pub executions: u64,
    /// CPU milliseconds those executions took in the sandbox (stored reports count what they
    /// took when they ran).
    #[serde(default)]
    pub sandbox_cpu_ms: u64,
    /// Programs submitted.
    #[serde(skip)]
    pub submissions: u64,
}

impl Spending {
    /// Prompt plus completion tokens.
    #[must_use]
    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Adds what a finished trajectory's record says it spent.
    pub fn add_trajectory(&mut self, record: &TrajectoryRecord) {
        self.llm_calls += record.llm_calls;
        self.prompt_tokens += record.prompt_tokens;
        self.completion_tokens += record.completion_tokens;
        self.programs += record.programs.len() as u64;
        self.executions += record.executions;
        self.sandbox_cpu_ms += record.sandbox_cpu_ms;
        self.submissions += u64::from(record.submitted_turn.is_some());
    }

    fn llm(&mut self, answer: &LlmStep) {
        self.llm_calls += 1;
        self.prompt_tokens += answer.prompt_tokens;
        self.completion_tokens += answer.completion_tokens;
    }
}

/// What this invocation did, as against what the journal holds (the session's counts).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SessionWork {
    /// Requests sent to the model (cache hits excluded).
    pub llm_sent: u64,
    /// Answers received (cache hits included).
    pub answers: u64,
    /// Programs run in the sandbox (public and hidden runs).
    pub executed: u64,
    /// Executions answered from the store (identical program and suite).
    pub reused: u64,
    /// Journal steps replayed instead of redone.
    pub replayed: u64,
}

/// LLM spending, both kinds, under one lock so that a reservation checks both limits at once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct LlmAccount {
    /// Calls the journal holds, plus calls reserved and not yet journaled.
    work_calls: u64,
    /// Prompt tokens of the journaled answers.
    work_prompt: u64,
    /// Completion tokens of the journaled answers.
    work_completion: u64,
    /// Requests sent by earlier invocations.
    sent_before: u64,
    /// Tokens of answers received by earlier invocations.
    tokens_before: u64,
    /// Requests sent (or about to be) by this invocation.
    sent: u64,
    /// Tokens of answers this invocation received from the model.
    tokens: u64,
}

/// The resource ledger of one invocation: the one place that counts what the run spends.
#[derive(Debug)]
pub struct Ledger {
    budget: Budget,
    start: std::time::Instant,
    llm: Mutex<LlmAccount>,
    submissions: AtomicU64,
    programs: AtomicU64,
    executions: AtomicU64,
    sandbox_cpu_ms: AtomicU64,
    answers: AtomicU64,
    executed: AtomicU64,
    reused: AtomicU64,
    replayed: AtomicU64,
}

/// The work spending the journal holds: LLM calls and tokens of every journaled answer.
pub fn journal_spending(store: &RunStore) -> Result<Spending, EngineError> {
    let mut spent = Spending::default();
    for_each_answer(store, |_, _, answer| spent.llm(answer))?;
    Ok(spent)
}

/// Calls `f` on every journaled answer (problem, trajectory, answer), in no particular order;
/// the first unreadable one is the error, naming its problem, trajectory and step.
pub fn for_each_answer(
    store: &RunStore,
    mut f: impl FnMut(&str, u32, &LlmStep),
) -> Result<(), EngineError> {
    let mut bad = None;
    store.for_each_step("llm", |problem, t, s| {
        match serde_json::from_str::<LlmStep>(&s.data) {
            Ok(a) => f(problem, t, &a),
            Err(source) => {
                bad.get_or_insert(EngineError::JournalUnreadable {
                    problem: problem.to_owned(),
                    trajectory: t,
                    step: s.step,
                    source,
                });
            }
        }
    })?;
    bad.map_or(Ok(()), Err)
}

impl Ledger {
    /// A ledger with `budget`, starting from the work the journal holds (`work`, LLM calls and
    /// tokens) and what the earlier invocations `sessions` sent.
    #[must_use]
    pub fn new(budget: Budget, work: Spending, sessions: &[SessionRow]) -> Self {
        Ledger {
            budget,
            start: std::time::Instant::now(),
            llm: Mutex::new(LlmAccount {
                work_calls: work.llm_calls,
                work_prompt: work.prompt_tokens,
                work_completion: work.completion_tokens,
                sent_before: sessions.iter().map(|s| s.llm_sent).sum(),
                tokens_before: sessions
                    .iter()
                    .map(|s| s.prompt_tokens + s.completion_tokens)
                    .sum(),
                sent: 0,
                tokens: 0,
            }),
            submissions: AtomicU64::new(0),
            programs: AtomicU64::new(0),
            executions: AtomicU64::new(0),
            sandbox_cpu_ms: AtomicU64::new(0),
            answers: AtomicU64::new(0),
            executed: AtomicU64::new(0),
            reused: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
        }
    }

    fn over(limit: Option<u64>, counter: &AtomicU64) -> bool {
        limit.is_some_and(|l| counter.load(Ordering::SeqCst) >= l)
    }

    /// Seconds since the invocation began.
    #[must_use]
    pub fn elapsed_secs(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Reserves one LLM call if the budget allows it, as work and as a request this invocation
    /// sends (atomically, so concurrent trajectories cannot overshoot either limit).
    pub(super) fn reserve_llm(&self) -> bool {
        if self
            .budget
            .wall_secs
            .is_some_and(|w| self.start.elapsed().as_secs() >= w)
        {
            return false;
        }
        let mut a = self.llm.lock().expect("ledger lock");
        let tokens_over = self.budget.tokens.is_some_and(|l| {
            a.work_prompt + a.work_completion >= l || a.tokens_before + a.tokens >= l
        });
        let calls_over = self
            .budget
            .llm_calls
            .is_some_and(|l| a.work_calls >= l || a.sent_before + a.sent >= l);
        if tokens_over || calls_over {
            return false;
        }
        a.work_calls += 1;
        a.sent += 1;
        true
    }

    /// An answer arrived (before it is journaled); returns how many this invocation received.
    pub(super) fn answer_received(&self) -> u64 {
        self.answers.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// A reserved call was answered with `answer`; from the response cache if it says so (then
    /// it was not sent after all).
    pub(super) fn answered(&self, answer: &LlmStep) {
        let mut a = self.llm.lock().expect("ledger lock");
        a.work_prompt += answer.prompt_tokens;
        a.work_completion += answer.completion_tokens;
        if answer.cached {
            a.sent -= 1;
        } else {
            a.tokens += answer.prompt_tokens + answer.completion_tokens;
        }
    }

    /// A reserved call failed: it was sent, but the journal will not hold it.
    pub(super) fn failed(&self) {
        self.llm.lock().expect("ledger lock").work_calls -= 1;
    }

    /// Whether a program may be run.
    pub(super) fn admit_program(&self) -> bool {
        !(Self::over(self.budget.programs, &self.programs)
            || Self::over(self.budget.executions, &self.executions))
    }

    /// A program ran in the sandbox (`reused`: its stored report was used instead).
    pub(super) fn executed(&self, reused: bool) {
        let counter = if reused { &self.reused } else { &self.executed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Charges a trajectory an earlier invocation finished (its LLM spending is the journal's,
    /// counted when the ledger was made).
    pub(super) fn charge_finished(&self, r: &TrajectoryRecord) {
        self.programs
            .fetch_add(r.programs.len() as u64, Ordering::SeqCst);
        self.executions.fetch_add(r.executions, Ordering::SeqCst);
        self.sandbox_cpu_ms
            .fetch_add(r.sandbox_cpu_ms, Ordering::SeqCst);
        self.submissions
            .fetch_add(u64::from(r.submitted_turn.is_some()), Ordering::SeqCst);
    }

    /// Charges the executions of a pool stage an earlier invocation finished, and their CPU
    /// milliseconds (its LLM spending is the journal's).
    pub(super) fn charge_executions(&self, executions: u64, cpu_ms: u64) {
        self.executions.fetch_add(executions, Ordering::SeqCst);
        self.sandbox_cpu_ms.fetch_add(cpu_ms, Ordering::SeqCst);
    }

    /// Work spending so far (LLM calls include those reserved and not yet answered).
    #[must_use]
    pub fn work(&self) -> Spending {
        let a = *self.llm.lock().expect("ledger lock");
        Spending {
            llm_calls: a.work_calls,
            prompt_tokens: a.work_prompt,
            completion_tokens: a.work_completion,
            programs: self.programs.load(Ordering::SeqCst),
            executions: self.executions.load(Ordering::SeqCst),
            sandbox_cpu_ms: self.sandbox_cpu_ms.load(Ordering::SeqCst),
            submissions: self.submissions.load(Ordering::SeqCst),
        }
    }

    /// What this invocation did.
    #[must_use]
    pub fn session(&self) -> SessionWork {
        SessionWork {
            llm_sent: self.llm.lock().expect("ledger lock").sent,
            answers: self.answers.load(Ordering::SeqCst),
            executed: self.executed.load(Ordering::SeqCst),
            reused: self.reused.load(Ordering::SeqCst),
            replayed: self.replayed.load(Ordering::SeqCst),
        }
    }

    /// An account for one trajectory's spending, charged to this ledger as it goes.
    pub(super) fn account(&self) -> Account<'_> {
        Account {
            ledger: self,
            spent: Spending::default(),
        }
    }
}

/// One trajectory's spending: each charge counts for the trajectory and for the run at once.
pub(super) struct Account<'l> {
    ledger: &'l Ledger,
    spent: Spending,
}

impl Account<'_> {
    /// An answer the trajectory acts on, new or `replayed` from the journal. The run's LLM work
    /// was counted already: journaled answers when the ledger was made, new ones as they were
    /// reserved and answered.
    pub(super) fn llm(&mut self, answer: &LlmStep, replayed: bool) {
        self.spent.llm(answer);
        if replayed {
            self.ledger.replayed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An execution step fed back from the journal.
    pub(super) fn replayed(&self) {
        self.ledger.replayed.fetch_add(1, Ordering::Relaxed);
    }

    /// A program run on `tests` public test cases.
    pub(super) fn program(&mut self, tests: u64) {
        self.spent.programs += 1;
        self.spent.executions += tests;
        self.ledger.programs.fetch_add(1, Ordering::SeqCst);
        self.ledger.executions.fetch_add(tests, Ordering::SeqCst);
    }

    /// Test-case executions that are not a program's public run (a pool run on model-written
    /// tests).
    pub(super) fn executions(&mut self, tests: u64) {
        self.spent.executions += tests;
        self.ledger.executions.fetch_add(tests, Ordering::SeqCst);
    }

    /// An execution's CPU time in the sandbox (`cpu_ms` of its report, new or stored).
    pub(super) fn sandbox_cpu(&mut self, cpu_ms: f64) {
        let ms = cpu_ms.max(0.0).round() as u64;
        self.spent.sandbox_cpu_ms += ms;
        self.ledger.sandbox_cpu_ms.fetch_add(ms, Ordering::SeqCst);
    }

    /// A program submitted without a public run (the problem has no public tests).
    pub(super) fn unrun_program(&mut self) {
        self.program(0);
    }

    /// A submission.
    pub(super) fn submission(&mut self) {
        self.spent.submissions += 1;
        self.ledger.submissions.fetch_add(1, Ordering::SeqCst);
    }

    /// What the trajectory spent.
    pub(super) fn spent(&self) -> Spending {
        self.spent
    }
}

#[cfg(test)]
mod tests {
    use codeloop_llm::FinishReason;
    use codeloop_store::SessionId;
    use codeloop_strategy::Purpose;

    use super::*;

    fn session(sent: u64) -> SessionRow {
        SessionRow {
            id: SessionId(1),
            started_unix: 0,
            codeloop_version: String::new(),
            llm_sent: sent,
            llm_cached: 0,
            llm_answered: 0,
            llm_failed: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            end: None,
        }
    }

    fn calls(limit: u64) -> Budget {
        Budget {
            llm_calls: Some(limit),
            ..Budget::default()
        }
    }

    fn work(llm_calls: u64) -> Spending {
        Spending {
            llm_calls,
            ..Spending::default()
        }
    }

    fn answer(prompt_tokens: u64, completion_tokens: u64, cached: bool) -> LlmStep {
        LlmStep {
            purpose: Purpose::Code,
            turn: 1,
            text: String::new(),
            finish_reason: FinishReason::Stop,
            prompt_tokens,
            completion_tokens,
            token_ids: None,
            logprobs: None,
            seed: 0,
            endpoint: String::new(),
            cached,
        }
    }

    #[test]
    fn requests_lost_by_earlier_sessions_count_against_the_budget() {
        // The journal holds 3 calls, but killed sessions sent 8: a budget of 10 allows 2 more.
        let ledger = Ledger::new(calls(10), work(3), &[session(5), session(3)]);
        assert!(ledger.reserve_llm());
        assert!(ledger.reserve_llm());
        assert!(!ledger.reserve_llm());
        assert_eq!(ledger.work().llm_calls, 5);
        assert_eq!(ledger.session().llm_sent, 2);
    }

    #[test]
    fn work_spending_caps_a_run_whose_answers_came_from_the_cache() {
        let ledger = Ledger::new(calls(2), work(0), &[]);
        for _ in 0..2 {
            assert!(ledger.reserve_llm());
            ledger.answered(&answer(4, 6, true));
        }
        assert!(!ledger.reserve_llm());
        assert_eq!(ledger.session().llm_sent, 0);
        assert_eq!((ledger.work().llm_calls, ledger.work().tokens()), (2, 20));
    }

    #[test]
    fn a_failed_call_is_sent_but_not_work() {
        let ledger = Ledger::new(calls(2), work(0), &[]);
        assert!(ledger.reserve_llm());
        ledger.failed();
        assert!(ledger.reserve_llm());
        assert!(!ledger.reserve_llm());
        assert_eq!((ledger.work().llm_calls, ledger.session().llm_sent), (1, 2));
    }

    #[test]
    fn tokens_received_by_earlier_sessions_count_against_the_budget() {
        let mut earlier = session(1);
        earlier.completion_tokens = 100;
        let budget = Budget {
            tokens: Some(100),
            ..Budget::default()
        };
        let ledger = Ledger::new(budget, work(0), &[earlier]);
        assert!(!ledger.reserve_llm());
    }

    /// One trajectory of two answers, a public run of 3 tests and a submission; `replay` feeds
    /// the answers back from a journal that holds them (the ledger starts from the journal).
    fn one_trajectory(replay: bool) -> (Spending, Spending, SessionWork) {
        let answers = [answer(10, 5, false), answer(20, 7, false)];
        let journaled = if replay {
            let mut w = Spending::default();
            for a in &answers {
                w.llm(a);
            }
            w
        } else {
            Spending::default()
        };
        let ledger = Ledger::new(Budget::default(), journaled, &[]);
        let mut account = ledger.account();
        for a in &answers {
            if !replay {
                assert!(ledger.reserve_llm());
                ledger.answered(a);
            }
            account.llm(a, replay);
        }
        account.program(3);
        account.submission();
        (account.spent(), ledger.work(), ledger.session())
    }

    #[test]
    fn spending_is_counted_once_whether_answers_are_new_or_replayed() {
        let (fresh, fresh_run, fresh_session) = one_trajectory(false);
        let (replayed, replayed_run, replayed_session) = one_trajectory(true);
        let expected = Spending {
            llm_calls: 2,
            prompt_tokens: 30,
            completion_tokens: 12,
            programs: 1,
            executions: 3,
            sandbox_cpu_ms: 0,
            submissions: 1,
        };
        assert_eq!(fresh, expected);
        assert_eq!(replayed, expected);
        assert_eq!(fresh_run, expected);
        assert_eq!(replayed_run, expected);
        // Only the session's counts tell them apart.
        assert_eq!((fresh_session.llm_sent, fresh_session.replayed), (2, 0));
        assert_eq!(
            (replayed_session.llm_sent, replayed_session.replayed),
            (0, 2)
        );
    }

    #[test]
    fn a_finished_trajectory_is_charged_its_programs_and_executions() {
        let ledger = Ledger::new(Budget::default(), work(1), &[]);
        let record = TrajectoryRecord {
            version: 1,
            problem: "p".to_owned(),
            trajectory: 0,
            transcript: Vec::new(),
            programs: Vec::new(),
            submitted_turn: Some(1),
            solved: false,
            stop: super::super::journal::StopReason::Done,
            llm_calls: 1,
            prompt_tokens: 0,
            completion_tokens: 0,
            executions: 4,
            sandbox_cpu_ms: 7,
            read_failures: Vec::new(),
        };
        ledger.charge_finished(&record);
        let w = ledger.work();
        assert_eq!((w.llm_calls, w.executions, w.submissions), (1, 4, 1));
        assert_eq!(w.sandbox_cpu_ms, 7);
    }
}
