//! Generation requests and their validation into a checked type.

use serde::{Deserialize, Serialize};

pub use codeloop_types::{Message, Role};

use crate::errors::LlmError;

/// What the model continues.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Prompt {
    /// A conversation (`/v1/chat/completions`).
    Chat(Vec<Message>),
    /// Raw text (`/v1/completions`).
    Text(String),
}

/// A request as a caller builds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    /// The prompt.
    pub prompt: Prompt,
    /// Completions wanted.
    pub n: u32,
    /// Sampling temperature (0 = greedy).
    pub temperature: f32,
    /// Nucleus sampling mass.
    pub top_p: f32,
    /// Most tokens per completion.
    pub max_tokens: u32,
    /// Strings that end a completion.
    pub stop: Vec<String>,
    /// Sampling seed, where the backend honours one.
    pub seed: Option<u64>,
    /// Ask for token log-probabilities.
    pub logprobs: bool,
    /// Keeps requests with the same key on the same endpoint (a trajectory's turns share a prefix).
    #[serde(default)]
    pub affinity: Option<u64>,
    /// Index of the first sample asked for: with a seed, sample `i` is the same whether it is asked
    /// for alone or among others (the cache asks only for the samples it lacks).
    #[serde(default)]
    pub first_sample: u32,
}

impl GenerationRequest {
    /// A chat request with defaults: n 1, temperature 0, `top_p` 1, 512 tokens.
    #[must_use]
    pub fn chat(messages: Vec<Message>) -> Self {
        GenerationRequest {
            prompt: Prompt::Chat(messages),
            n: 1,
            temperature: 0.0,
            top_p: 1.0,
            max_tokens: 512,
            stop: Vec::new(),
            seed: None,
            logprobs: false,
            affinity: None,
            first_sample: 0,
        }
    }

    /// Checks every field; the only way to a [`ValidRequest`].
    pub fn validate(self) -> Result<ValidRequest, LlmError> {
        let invalid = |field, message: &str| LlmError::Invalid {
            field,
            message: message.to_owned(),
        };
        match &self.prompt {
            Prompt::Chat(m) if m.is_empty() => return Err(invalid("prompt", "has no message")),
            Prompt::Text(t) if t.is_empty() => return Err(invalid("prompt", "is empty")),
            _ => {}
        }
        if self.n == 0 || self.n > 1024 {
            return Err(invalid("n", "must be 1..=1024"));
        }
        if !(0.0..=5.0).contains(&self.temperature) || self.temperature.is_nan() {
            return Err(invalid("temperature", "must be in 0..=5"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(invalid("top_p", "must be in (0, 1]"));
        }
        if self.max_tokens == 0 {
            return Err(invalid("max_tokens", "must be at least 1"));
        }
        if self.stop.len() > 16 || self.stop.iter().any(String::is_empty) {
            return Err(invalid("stop", "takes at most 16 non-empty strings"));
        }
        Ok(ValidRequest(self))
    }
}

/// A request that passed [`GenerationRequest::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRequest(GenerationRequest);

impl ValidRequest {
    /// The request.
    #[must_use]
    pub fn get(&self) -> &GenerationRequest {
        &self.0
    }

    /// The same request asking for `n` completions (`n` within the validated bounds).
    #[must_use]
    pub(crate) fn with_n(&self, n: u32) -> ValidRequest {
        let mut r = self.0.clone();
        r.n = n.clamp(1, 1024);
        ValidRequest(r)
    }

    /// The same request asking for samples `first..first + n`.
    #[must_use]
    pub(crate) fn samples(&self, first: u32, n: u32) -> ValidRequest {
        let mut r = self.0.clone();
        r.first_sample = first;
        r.n = n.clamp(1, 1024);
        ValidRequest(r)
    }

    /// What identifies the request's completions: everything but `n`, `affinity` and `first_sample`.
    #[must_use]
    pub(crate) fn cache_text(&self) -> String {
        let mut r = self.0.clone();
        r.n = 0;
        r.affinity = None;
        r.first_sample = 0;
        serde_json::to_string(&r).expect("requests serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_field() {
        let mut r = GenerationRequest::chat(vec![Message::new(Role::User, "hi")]);
        r.n = 0;
        assert_eq!(
            r.validate().unwrap_err().to_string(),
            "invalid request: field `n` must be 1..=1024"
        );
        let r = GenerationRequest::chat(vec![]);
        assert!(r.validate().unwrap_err().to_string().contains("`prompt`"));
    }
}
