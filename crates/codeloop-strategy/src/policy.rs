//! The seam between strategies and the driver: a [`Policy`] turns observations into actions.
//! [`MultiTurn`] runs turn schedules; the planning and search methods ([`crate::agent`]) run as
//! agents. [`policy`] picks the one a [`StrategySpec`] names.

use std::sync::Arc;

use codeloop_types::PublicProblem;

use crate::agent;
use crate::errors::StrategyError;
use crate::multiturn::{Action, MultiTurn, Observation, TranscriptMessage};
use crate::parse::ReadFailure;
use crate::prompts::PromptLibrary;
use crate::spec::StrategySpec;

/// A strategy over one trajectory, as an action/observation state machine: the driver carries
/// out each [`Action`] (or refuses it for the budget: [`Observation::Refused`], after which the
/// policy submits what it has or stops) and hands back what it observed.
pub trait Policy: Send {
    /// The next action, given what the last one observed.
    fn next(&mut self, observation: Observation<'_>) -> Result<Action, StrategyError>;

    /// The messages so far, with their parts.
    fn transcript(&self) -> Vec<TranscriptMessage>;

    /// The structured answers it could not read, each with the default it used instead.
    fn read_failures(&self) -> Vec<ReadFailure> {
        Vec::new()
    }
}

impl Policy for MultiTurn {
    fn next(&mut self, observation: Observation<'_>) -> Result<Action, StrategyError> {
        MultiTurn::next(self, observation)
    }

    fn transcript(&self) -> Vec<TranscriptMessage> {
        MultiTurn::transcript(self).to_vec()
    }
}

/// The policy `spec` names for `problem`, drawing its random choices from `seed`.
pub fn policy(
    problem: Arc<PublicProblem>,
    spec: Arc<StrategySpec>,
    library: Arc<PromptLibrary>,
    seed: u64,
) -> Result<Box<dyn Policy>, StrategyError> {
    Ok(match &spec.agent {
        Some(method) => Box::new(agent::start(method.clone(), problem, library, seed)?),
        None => Box::new(MultiTurn::new(problem, spec, library).seeded(seed)),
    })
}
