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

use super::{Budget, LlmStep};
use crate::errors::EngineError;

/// LLM spending, both kinds, under one lock so that a reservation checks both limits at once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct LlmAccount {
    /// Calls the journal holds, plus calls reserved and not yet journaled.
    work_calls: u64,
    /// Tokens of the journaled answers.
    work_tokens: u64,
    /// Requests sent by earlier invocations.
    sent_before: u64,
    /// Tokens of answers received by earlier invocations.
    tokens_before: u64,
    /// Requests sent (or about to be) by this invocation.
    sent: u64,
    /// Tokens of answers this invocation received from the model.
    tokens: u64,
}

/// The resource ledger of one invocation.
#[derive(Debug)]
pub struct Ledger {
    budget: Budget,
    pub(super) start: std::time::Instant,
    llm: Mutex<LlmAccount>,
    /// Programs submitted.
    pub submissions: AtomicU64,
    /// Programs generated.
    pub programs: AtomicU64,
    /// Test-case executions.
    pub executions: AtomicU64,
}

/// The work spending the journal holds: (LLM calls, prompt plus completion tokens).
pub fn journal_spending(store: &RunStore) -> Result<(u64, u64), EngineError> {
    let (mut calls, mut tokens) = (0u64, 0u64);
    let mut bad = None;
    store.for_each_step("llm", |problem, t, s| {
        match serde_json::from_str::<LlmStep>(&s.data) {
            Ok(a) => {
                calls += 1;
                tokens += a.prompt_tokens + a.completion_tokens;
            }
            Err(e) => {
                bad.get_or_insert_with(|| {
                    format!(
                        "journal of {problem} trajectory {t} step {} is unreadable: {e}",
                        s.step
                    )
                });
            }
        }
    })?;
    match bad {
        Some(message) => Err(EngineError::Run(message)),
        None => Ok((calls, tokens)),
    }
}

impl Ledger {
    /// A ledger with `budget`, starting from the work the journal holds (`work`: calls, tokens)
    /// and what the earlier invocations `sessions` sent.
    #[must_use]
    pub fn new(budget: Budget, work: (u64, u64), sessions: &[SessionRow]) -> Self {
        Ledger {
            budget,
            start: std::time::Instant::now(),
            llm: Mutex::new(LlmAccount {
                work_calls: work.0,
                work_tokens: work.1,
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
        }
    }

    fn over(limit: Option<u64>, counter: &AtomicU64) -> bool {
        limit.is_some_and(|l| counter.load(Ordering::SeqCst) >= l)
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
        let tokens_over = self
            .budget
            .tokens
            .is_some_and(|l| a.work_tokens >= l || a.tokens_before + a.tokens >= l);
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

    /// A reserved call was answered with `tokens`; from the response cache if `cached` (then it
    /// was not sent after all).
    pub(super) fn answered(&self, tokens: u64, cached: bool) {
        let mut a = self.llm.lock().expect("ledger lock");
        a.work_tokens += tokens;
        if cached {
            a.sent -= 1;
        } else {
            a.tokens += tokens;
        }
    }

    /// A reserved call failed: it was sent, but the journal will not hold it.
    pub(super) fn failed(&self) {
        self.llm.lock().expect("ledger lock").work_calls -= 1;
    }

    /// Work spending on the model: (calls, tokens).
    #[must_use]
    pub fn work_llm(&self) -> (u64, u64) {
        let a = self.llm.lock().expect("ledger lock");
        (a.work_calls, a.work_tokens)
    }

    /// Requests this invocation sent.
    #[must_use]
    pub fn sent(&self) -> u64 {
        self.llm.lock().expect("ledger lock").sent
    }

    /// Whether a program may be run.
    pub(super) fn admit_program(&self) -> bool {
        !(Self::over(self.budget.programs, &self.programs)
            || Self::over(self.budget.executions, &self.executions))
    }
}

#[cfg(test)]
mod tests {
    use codeloop_store::SessionId;

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

    #[test]
    fn requests_lost_by_earlier_sessions_count_against_the_budget() {
        // The journal holds 3 calls, but killed sessions sent 8: a budget of 10 allows 2 more.
        let ledger = Ledger::new(calls(10), (3, 0), &[session(5), session(3)]);
        assert!(ledger.reserve_llm());
        assert!(ledger.reserve_llm());
        assert!(!ledger.reserve_llm());
        assert_eq!(ledger.work_llm().0, 5);
        assert_eq!(ledger.sent(), 2);
    }

    #[test]
    fn work_spending_caps_a_run_whose_answers_came_from_the_cache() {
        let ledger = Ledger::new(calls(2), (0, 0), &[]);
        for _ in 0..2 {
            assert!(ledger.reserve_llm());
            ledger.answered(10, true);
        }
        assert!(!ledger.reserve_llm());
        assert_eq!(ledger.sent(), 0);
        assert_eq!(ledger.work_llm(), (2, 20));
    }

    #[test]
    fn a_failed_call_is_sent_but_not_work() {
        let ledger = Ledger::new(calls(2), (0, 0), &[]);
        assert!(ledger.reserve_llm());
        ledger.failed();
        assert!(ledger.reserve_llm());
        assert!(!ledger.reserve_llm());
        assert_eq!((ledger.work_llm().0, ledger.sent()), (1, 2));
    }

    #[test]
    fn tokens_received_by_earlier_sessions_count_against_the_budget() {
        let mut earlier = session(1);
        earlier.completion_tokens = 100;
        let budget = Budget {
            tokens: Some(100),
            ..Budget::default()
        };
        let ledger = Ledger::new(budget, (0, 0), &[earlier]);
        assert!(!ledger.reserve_llm());
    }
}
