//! Planning and search methods as agents: `MapCoder`, `CODESIM`, `PairCoder`, `CodeTree` and
//! Scattered Forest Search, each a short async function over a `Kit` (ask the model,
//! run a program, read a structured answer), run by the same driver as every other strategy
//! through [`Policy`](crate::Policy) (the `bridge` module turns the async code into actions and
//! observations).
//!
//! Every model call is a fresh conversation: the system message, then the problem statement and
//! the agent's prompt (`agent.<method>-<role>` in the prompt library, overridable). Every program
//! is a turn. A structured answer a weak model broke (a plan, a confidence, a list, a verdict)
//! falls back to the default its reader documents ([`crate::parse`]) and is noted; the report
//! counts them. When the budget refuses a call or a program, the method submits its own pick of
//! the programs it has (see `Method::fallback`).
//!
//! Each method's parameters default to its paper's released code; the field docs cite file and
//! line.

mod bridge;
mod codesim;
mod codetree;
mod kit;
mod mapcoder;
mod paircoder;
mod sfs;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};

use codeloop_types::PublicProblem;
use serde::{Deserialize, Serialize};

use crate::errors::StrategyError;
use crate::prompts::PromptLibrary;
use bridge::{Io, Notes, Scripted};
use kit::{Halt, Kit};

pub use codesim::CodeSim;
pub use codetree::CodeTree;
pub use mapcoder::MapCoder;
pub use paircoder::PairCoder;
pub use sfs::Sfs;

/// A planning or search method and its parameters (`[agent.<method>]` in a strategy file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Method {
    /// `MapCoder` (Islam, Ali and Parvez, ACL 2024).
    Mapcoder(MapCoder),
    /// `CODESIM` (Islam et al., NAACL Findings 2025).
    Codesim(CodeSim),
    /// `PairCoder` (Zhang et al., ASE 2024).
    Paircoder(PairCoder),
    /// `CodeTree` (Li et al., NAACL 2025).
    Codetree(CodeTree),
    /// Scattered Forest Search (Light et al., 2024).
    Sfs(Sfs),
}

impl Method {
    /// The method a built-in strategy name stands for, with its defaults.
    #[must_use]
    pub fn builtin(name: &str) -> Option<Self> {
        Some(match name {
            "mapcoder" => Method::Mapcoder(MapCoder::default()),
            "codesim" => Method::Codesim(CodeSim::default()),
            "paircoder" => Method::Paircoder(PairCoder::default()),
            "codetree" => Method::Codetree(CodeTree::default()),
            "sfs" => Method::Sfs(Sfs::default()),
            _ => return None,
        })
    }

    /// Its name.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Method::Mapcoder(_) => "mapcoder",
            Method::Codesim(_) => "codesim",
            Method::Paircoder(_) => "paircoder",
            Method::Codetree(_) => "codetree",
            Method::Sfs(_) => "sfs",
        }
    }

    /// The most programs one trajectory of it writes.
    #[must_use]
    pub fn max_programs(&self) -> u32 {
        match self {
            Method::Mapcoder(m) => m.exemplars * (1 + m.debug_rounds),
            Method::Codesim(m) => m.plan_tries * (1 + m.debug_rounds),
            Method::Paircoder(m) => m.max_programs,
            Method::Codetree(m) => m.max_programs,
            Method::Sfs(m) => m.seeds + m.max_iters,
        }
    }

    /// The prompts (`agent.<key>`) it asks with.
    #[must_use]
    pub fn prompts(&self) -> &'static [&'static str] {
        match self {
            Method::Mapcoder(_) => mapcoder::PROMPTS,
            Method::Codesim(_) => codesim::PROMPTS,
            Method::Paircoder(_) => paircoder::PROMPTS,
            Method::Codetree(_) => codetree::PROMPTS,
            Method::Sfs(_) => sfs::PROMPTS,
        }
    }

    /// What it submits when the budget cuts it short: `MapCoder` and `CODESIM` the last program
    /// (a passing one ended them), `PairCoder` the closest to the expected outputs, `CodeTree`
    /// the latest failing program, Scattered Forest Search the highest-scoring.
    fn fallback(&self, kit: &Kit) -> Option<usize> {
        match self {
            Method::Mapcoder(_) | Method::Codesim(_) => kit.last(),
            Method::Paircoder(_) => paircoder::fallback(kit),
            Method::Codetree(_) => codetree::fallback(kit),
            Method::Sfs(_) => sfs::fallback(kit),
        }
    }

    /// Checks its parameters and that the library has its prompts.
    pub(crate) fn validate(&self, library: &PromptLibrary) -> Result<(), String> {
        let zero = match self {
            Method::Mapcoder(m) => m.exemplars == 0,
            Method::Codesim(m) => m.plan_tries == 0,
            Method::Paircoder(m) => m.plans == 0 || m.clusters == 0 || m.max_programs == 0,
            Method::Codetree(m) => m.strategies == 0 || m.max_programs == 0,
            Method::Sfs(m) => m.seeds == 0 || m.directions == 0,
        };
        if zero {
            return Err(format!(
                "`[agent.{}]`: counts of plans, seeds and programs must be at least 1",
                self.name()
            ));
        }
        for key in self.prompts() {
            library
                .get("agent", key)
                .map_err(|e| format!("`[agent.{}]`: {e}", self.name()))?;
        }
        Ok(())
    }
}

/// Starts `method` on `problem`.
pub(crate) fn start(
    method: Method,
    problem: Arc<PublicProblem>,
    library: Arc<PromptLibrary>,
    seed: u64,
) -> Result<impl crate::Policy, StrategyError> {
    let io = Io::default();
    let notes = Arc::new(Mutex::new(Notes::default()));
    let mut kit = Kit::new(io.clone(), problem, library, notes.clone(), seed)?;
    let agent = async move {
        let run = match &method {
            Method::Mapcoder(m) => mapcoder::run(&mut kit, m).await,
            Method::Codesim(m) => codesim::run(&mut kit, m).await,
            Method::Paircoder(m) => paircoder::run(&mut kit, m).await,
            Method::Codetree(m) => codetree::run(&mut kit, m).await,
            Method::Sfs(m) => sfs::run(&mut kit, m).await,
        };
        let pick = match run {
            Ok(pick) => pick,
            Err(Halt::Cut) => method.fallback(&kit),
            Err(Halt::Error(e)) => return Err(e),
        };
        Ok(pick.map(|i| (kit.attempts[i].turn, kit.attempts[i].extracted.clone())))
    };
    Ok(Scripted::new(io, notes, Box::pin(agent)))
}
