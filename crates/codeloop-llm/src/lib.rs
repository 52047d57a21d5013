//! LLM backends for codeloop.
//!
//! One async [`Backend`] trait; requests are validated into a [`ValidRequest`] before scheduling. The
//! OpenAI-compatible HTTP backend ([`OpenAiBackend`]) keeps hundreds of requests in flight per
//! endpoint under an adaptive (AIMD) limit, retries what is retryable with jittered backoff and
//! `Retry-After`, and falls back from `n` to repeated requests when a server ignores `n`.
//! [`Router`] spreads one model over several endpoints, keeping a trajectory on one server.
//! Endpoints come from a TOML [`Registry`]. Its tests talk to a real server on loopback, the mock
//! of `codeloop-test-support`.
//!
//! [`CachedBackend`] puts the `SQLite` response cache of `codeloop-store` in front of any backend.
//! [`EmbeddedBackend`] (cargo feature `embedded`, on by default) runs a GGUF model in-process with
//! llama.cpp, so codeloop works with no server at all.
//!
//! Dependencies: `llama-cpp-2` (llama.cpp, chosen over candle by measurement: see `embedded.rs`)
//! and `llama-cpp-sys-2` for the one setting the former does not name (the flash-attention
//! policy),
//! `tokio` (the async runtime), `reqwest` with rustls on `ring` (a pooled keep-alive
//! HTTP client that builds with cargo alone; TLS for hosted APIs), `toml` for the registry,
//! `fastrand` for backoff jitter.

mod backend;
mod cache;
#[cfg(feature = "embedded")]
mod embedded;
mod errors;
mod limiter;
mod openai;
mod registry;
mod request;
mod router;

pub use backend::{Backend, BoxFuture, Choice, FinishReason, Generation, Usage};
pub use cache::CachedBackend;
#[cfg(feature = "embedded")]
pub use embedded::{EmbeddedBackend, EmbeddedConfig};
pub use errors::LlmError;
pub use limiter::{AimdLimiter, LimiterSnapshot};
pub use openai::{ClientStats, OpenAiBackend, OpenAiConfig, RetryPolicy, StatsSnapshot};
pub use registry::{Capabilities, Endpoint, Registry};
pub use request::{GenerationRequest, Message, Prompt, Role, ValidRequest};
pub use router::Router;
