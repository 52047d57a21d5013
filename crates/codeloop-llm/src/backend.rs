//! The backend seam: one async trait, responses with choices and usage.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use crate::errors::LlmError;
use crate::request::ValidRequest;

/// A boxed future, so that [`Backend`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// A stop string or end-of-sequence token.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// Anything else the server said.
    Other,
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    /// The text.
    pub text: String,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Token ids, where the backend gives them.
    pub token_ids: Option<Vec<u32>>,
    /// Per-token log-probabilities, where asked for and given.
    pub logprobs: Option<Vec<f32>>,
}

/// Token counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens (counted once per HTTP request that carried the prompt).
    pub prompt_tokens: u64,
    /// Completion tokens over all choices.
    pub completion_tokens: u64,
}

/// A backend's answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Exactly `n` choices.
    pub choices: Vec<Choice>,
    /// Token counts, summed over the HTTP requests made.
    pub usage: Usage,
    /// Whether some response lacked a usage block (then `usage` undercounts).
    pub usage_missing: bool,
    /// The endpoint that answered.
    pub endpoint: String,
    /// How many of the choices came from the response cache.
    #[serde(default)]
    pub cached: u32,
}

/// Something that turns prompts into completions.
pub trait Backend: Send + Sync {
    /// A stable name for what answers: endpoint (or engine) and model. Part of cache keys.
    fn identity(&self) -> String;

    /// Generates `request.n` completions.
    fn generate<'a>(
        &'a self,
        request: &'a ValidRequest,
    ) -> BoxFuture<'a, Result<Generation, LlmError>>;
}
