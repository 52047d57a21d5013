//! The OpenAI-compatible HTTP backend (`/v1/chat/completions`, `/v1/completions`): vLLM, `SGLang`,
//! llama.cpp's server, Ollama and hosted APIs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::backend::{Backend, BoxFuture, Choice, FinishReason, Generation, Usage};
use crate::errors::LlmError;
use crate::limiter::AimdLimiter;
use crate::request::{Prompt, ValidRequest};

/// How failed requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per HTTP request, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled per attempt, with full jitter.
    pub base_backoff: Duration,
    /// Largest backoff (and largest `Retry-After` honoured).
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_mins(1),
        }
    }
}

/// How to reach one endpoint.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Name in the registry (used in errors and stats).
    pub name: String,
    /// Base URL including `/v1`, e.g. `http://localhost:8000/v1`.
    pub base_url: String,
    /// Model name sent in requests.
    pub model: String,
    /// Bearer token, if the server wants one.
    pub api_key: Option<String>,
    /// Most requests in flight (the adaptive limit stays under it).
    pub max_concurrency: usize,
    /// Whether the server honours `n` (turned off automatically when it returns fewer choices).
    pub supports_n: bool,
    /// Per-request timeout.
    pub request_timeout: Duration,
    /// Retries.
    pub retry: RetryPolicy,
}

impl OpenAiConfig {
    /// A config with defaults: 256 in flight, `n` supported, 10 min timeout.
    #[must_use]
    pub fn new(name: &str, base_url: &str, model: &str) -> Self {
        OpenAiConfig {
            name: name.to_owned(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key: None,
            max_concurrency: 256,
            supports_n: true,
            request_timeout: Duration::from_mins(10),
            retry: RetryPolicy::default(),
        }
    }
}

/// Counters of one client; every HTTP request sent is counted exactly once as a success or under
/// one error class.
#[derive(Debug, Default)]
pub struct ClientStats {
    sent: AtomicU64,
    succeeded: AtomicU64,
    status_errors: AtomicU64,
    transport_errors: AtomicU64,
    timeouts: AtomicU64,
    protocol_errors: AtomicU64,
    retries: AtomicU64,
    gave_up: AtomicU64,
    n_fallbacks: AtomicU64,
    usage_missing: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

/// A copy of [`ClientStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// HTTP requests sent.
    pub sent: u64,
    /// Of those, answered with a usable response.
    pub succeeded: u64,
    /// Answered with an error status.
    pub status_errors: u64,
    /// Failed in transport (refused, reset, broken body).
    pub transport_errors: u64,
    /// Not answered in time.
    pub timeouts: u64,
    /// Answered with an unreadable body.
    pub protocol_errors: u64,
    /// Requests sent again after a retryable error.
    pub retries: u64,
    /// Requests abandoned (fatal error or attempts exhausted).
    pub gave_up: u64,
    /// Times a server was found to ignore `n`.
    pub n_fallbacks: u64,
    /// Successful responses without a usage block.
    pub usage_missing: u64,
    /// Prompt tokens reported.
    pub prompt_tokens: u64,
    /// Completion tokens reported.
    pub completion_tokens: u64,
}

impl ClientStats {
    /// Reads every counter.
    #[must_use]
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            sent: g(&self.sent),
            succeeded: g(&self.succeeded),
            status_errors: g(&self.status_errors),
            transport_errors: g(&self.transport_errors),
            timeouts: g(&self.timeouts),
            protocol_errors: g(&self.protocol_errors),
            retries: g(&self.retries),
            gave_up: g(&self.gave_up),
            n_fallbacks: g(&self.n_fallbacks),
            usage_missing: g(&self.usage_missing),
            prompt_tokens: g(&self.prompt_tokens),
            completion_tokens: g(&self.completion_tokens),
        }
    }
}

/// An OpenAI-compatible endpoint.
pub struct OpenAiBackend {
    config: OpenAiConfig,
    chat_url: String,
    completions_url: String,
    client: reqwest::Client,
    limiter: AimdLimiter,
    supports_n: AtomicBool,
    stats: Arc<ClientStats>,
}

impl OpenAiBackend {
    /// A client for `config`.
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmError> {
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(config.max_concurrency)
            .pool_idle_timeout(Duration::from_secs(90))
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| LlmError::Config(format!("cannot build an HTTP client: {e}")))?;
        Ok(OpenAiBackend {
            chat_url: format!("{}/chat/completions", config.base_url),
            completions_url: format!("{}/completions", config.base_url),
            limiter: AimdLimiter::new(config.max_concurrency, Duration::from_secs(1)),
            supports_n: AtomicBool::new(config.supports_n),
            config,
            client,
            stats: Arc::new(ClientStats::default()),
        })
    }

    /// The endpoint's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The client's counters.
    #[must_use]
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// The adaptive limiter (in flight, current limit).
    #[must_use]
    pub fn limiter(&self) -> &AimdLimiter {
        &self.limiter
    }

    /// Whether `n` is currently believed to work.
    #[must_use]
    pub fn supports_n(&self) -> bool {
        self.supports_n.load(Ordering::Relaxed)
    }

    async fn generate_inner(&self, request: &ValidRequest) -> Result<Generation, LlmError> {
        let want = request.get().n as usize;
        let mut choices = Vec::with_capacity(want);
        let mut usage = Usage::default();
        let mut usage_missing = false;
        if want > 1 && self.supports_n() {
            let (got, u) = self.call_with_retries(request).await?;
            if got.len() < want && self.supports_n.swap(false, Ordering::Relaxed) {
                self.stats.n_fallbacks.fetch_add(1, Ordering::Relaxed);
            }
            choices.extend(got.into_iter().take(want));
            add_usage(&mut usage, &mut usage_missing, u);
        }
        let missing = want - choices.len();
        if missing > 0 {
            let single = request.with_n(1);
            let results = join_all((0..missing).map(|_| self.call_with_retries(&single))).await;
            for r in results {
                let (got, u) = r?;
                let first = got.into_iter().next().ok_or_else(|| LlmError::Protocol {
                    endpoint: self.config.name.clone(),
                    message: "no choice in the response".to_owned(),
                })?;
                choices.push(first);
                add_usage(&mut usage, &mut usage_missing, u);
            }
        }
        Ok(Generation {
            choices,
            usage,
            usage_missing,
            endpoint: self.config.name.clone(),
            cached: 0,
        })
    }

    async fn call_with_retries(
        &self,
        request: &ValidRequest,
    ) -> Result<(Vec<Choice>, Option<Usage>), LlmError> {
        let policy = &self.config.retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let slot = self.limiter.acquire().await;
            self.stats.sent.fetch_add(1, Ordering::Relaxed);
            let result =
                match tokio::time::timeout(self.config.request_timeout, self.send(request)).await {
                    Ok(r) => r,
                    Err(_) => Err(LlmError::Timeout {
                        endpoint: self.config.name.clone(),
                        seconds: self.config.request_timeout.as_secs_f64(),
                    }),
                };
            match result {
                Ok(out) => {
                    self.limiter.release(slot, Some(true));
                    self.stats.succeeded.fetch_add(1, Ordering::Relaxed);
                    if let Some(u) = out.1 {
                        self.stats
                            .prompt_tokens
                            .fetch_add(u.prompt_tokens, Ordering::Relaxed);
                        self.stats
                            .completion_tokens
                            .fetch_add(u.completion_tokens, Ordering::Relaxed);
                    } else {
                        self.stats.usage_missing.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(out);
                }
                Err(e) => {
                    self.limiter.release(slot, e.is_overload().then_some(false));
                    let counter = match &e {
                        LlmError::Status { .. } => &self.stats.status_errors,
                        LlmError::Timeout { .. } => &self.stats.timeouts,
                        LlmError::Protocol { .. } => &self.stats.protocol_errors,
                        _ => &self.stats.transport_errors,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    if !e.is_retryable() || attempt >= policy.max_attempts {
                        self.stats.gave_up.fetch_add(1, Ordering::Relaxed);
                        return Err(if attempt > 1 {
                            LlmError::Exhausted {
                                attempts: attempt,
                                last: Box::new(e),
                            }
                        } else {
                            e
                        });
                    }
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(policy, attempt, &e)).await;
                }
            }
        }
    }

    async fn send(&self, request: &ValidRequest) -> Result<(Vec<Choice>, Option<Usage>), LlmError> {
        let r = request.get();
        let (chat, url) = match &r.prompt {
            Prompt::Chat(_) => (true, &self.chat_url),
            Prompt::Text(_) => (false, &self.completions_url),
        };
        let body = RequestBody {
            model: &self.config.model,
            messages: match &r.prompt {
                Prompt::Chat(m) => Some(m),
                Prompt::Text(_) => None,
            },
            prompt: match &r.prompt {
                Prompt::Text(t) => Some(t),
                Prompt::Chat(_) => None,
            },
            n: r.n,
            temperature: r.temperature,
            top_p: r.top_p,
            max_tokens: r.max_tokens,
            stop: &r.stop,
            seed: r.seed,
            // Chat takes a bool, completions the number of alternatives per position.
            logprobs: r
                .logprobs
                .then(|| if chat { json!(true) } else { json!(1) }),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| LlmError::Config(format!("cannot encode a request: {e}")))?;
        let mut http = self
            .client
            .post(url.as_str())
            .header("content-type", "application/json")
            .body(body);
        if let Some(key) = &self.config.api_key {
            http = http.bearer_auth(key);
        }
        let endpoint = || self.config.name.clone();
        let response = http.send().await.map_err(|e| LlmError::Transport {
            endpoint: endpoint(),
            message: error_chain(&e),
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let bytes = response.bytes().await.map_err(|e| LlmError::Transport {
            endpoint: endpoint(),
            message: format!("reading the body: {}", error_chain(&e)),
        })?;
        if !(200..300).contains(&status) {
            return Err(LlmError::Status {
                endpoint: endpoint(),
                status,
                body: String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
                retry_after,
            });
        }
        parse_response(&bytes, chat).map_err(|message| LlmError::Protocol {
            endpoint: endpoint(),
            message,
        })
    }
}

impl Backend for OpenAiBackend {
    fn identity(&self) -> String {
        format!("openai:{}:{}", self.config.base_url, self.config.model)
    }

    fn generate<'a>(
        &'a self,
        request: &'a ValidRequest,
    ) -> BoxFuture<'a, Result<Generation, LlmError>> {
        Box::pin(self.generate_inner(request))
    }
}

fn add_usage(total: &mut Usage, missing: &mut bool, u: Option<Usage>) {
    match u {
        Some(u) => {
            total.prompt_tokens += u.prompt_tokens;
            total.completion_tokens += u.completion_tokens;
        }
        None => *missing = true,
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

/// Full-jitter exponential backoff; a server's `Retry-After` is honoured (up to the cap).
fn backoff(policy: &RetryPolicy, attempt: u32, error: &LlmError) -> Duration {
    if let LlmError::Status {
        retry_after: Some(seconds),
        ..
    } = error
        && seconds.is_finite()
        && *seconds >= 0.0
    {
        return Duration::from_secs_f64(seconds.min(policy.max_backoff.as_secs_f64()));
    }
    let ceiling = policy
        .base_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(policy.max_backoff);
    ceiling.mul_f64(fastrand::f64())
}

#[derive(Serialize)]
struct RequestBody<'a> {
    model: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    messages: Option<&'a Vec<crate::request::Message>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a String>,
    n: u32,
    temperature: f32,
    top_p: f32,
    max_tokens: u32,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<Value>,
}

#[derive(Deserialize)]
struct Response {
    choices: Vec<ResponseChoice>,
    #[serde(default)]
    usage: Option<ResponseUsage>,
}

#[derive(Deserialize)]
struct ResponseChoice {
    #[serde(default)]
    index: Option<u32>,
    #[serde(default)]
    message: Option<ResponseMessage>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    logprobs: Option<Value>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    #[serde(default)]
    content: Option<String>,
}

#[derive(Deserialize)]
struct ResponseUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

fn parse_response(bytes: &[u8], chat: bool) -> Result<(Vec<Choice>, Option<Usage>), String> {
    let mut response: Response = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    response.choices.sort_by_key(|c| c.index.unwrap_or(0));
    let choices = response
        .choices
        .into_iter()
        .map(|c| {
            let text = if chat {
                c.message.and_then(|m| m.content).or(c.text)
            } else {
                c.text.or(c.message.and_then(|m| m.content))
            };
            let logprobs = c.logprobs.as_ref().and_then(|l| {
                let values: Vec<f32> = match (l.get("content"), l.get("token_logprobs")) {
                    (Some(Value::Array(items)), _) => items
                        .iter()
                        .filter_map(|t| t.get("logprob").and_then(Value::as_f64))
                        .map(|x| x as f32)
                        .collect(),
                    (_, Some(Value::Array(items))) => items
                        .iter()
                        .filter_map(Value::as_f64)
                        .map(|x| x as f32)
                        .collect(),
                    _ => return None,
                };
                Some(values)
            });
            Ok(Choice {
                text: text.ok_or_else(|| "a choice has no text".to_owned())?,
                finish_reason: match c.finish_reason.as_deref() {
                    Some("stop") => FinishReason::Stop,
                    Some("length") => FinishReason::Length,
                    _ => FinishReason::Other,
                },
                token_ids: None,
                logprobs,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if choices.is_empty() {
        return Err("no choice in the response".to_owned());
    }
    let usage = response.usage.map(|u| Usage {
        prompt_tokens: u.prompt_tokens,
        completion_tokens: u.completion_tokens,
    });
    Ok((choices, usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_chat_and_completion_bodies() {
        let chat = br#"{"choices":[{"index":1,"message":{"content":"b"},"finish_reason":"length"},{"index":0,"message":{"content":"a"},"finish_reason":"stop","logprobs":{"content":[{"token":"a","logprob":-0.5}]}}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
        let (choices, usage) = parse_response(chat, true).unwrap();
        assert_eq!(choices[0].text, "a");
        assert_eq!(choices[0].logprobs, Some(vec![-0.5]));
        assert_eq!(choices[1].finish_reason, FinishReason::Length);
        assert_eq!(usage.unwrap().completion_tokens, 4);
        let text = br#"{"choices":[{"text":"x","finish_reason":"stop"}]}"#;
        let (choices, usage) = parse_response(text, false).unwrap();
        assert_eq!(choices[0].text, "x");
        assert!(usage.is_none());
        assert!(parse_response(b"{\"choices\": [", true).is_err());
    }

    #[test]
    fn retry_after_is_honoured_and_backoff_is_capped() {
        let p = RetryPolicy::default();
        let e = LlmError::Status {
            endpoint: "e".into(),
            status: 429,
            body: String::new(),
            retry_after: Some(2.0),
        };
        assert_eq!(backoff(&p, 1, &e), Duration::from_secs(2));
        let t = LlmError::Timeout {
            endpoint: "e".into(),
            seconds: 1.0,
        };
        for attempt in 1..40 {
            assert!(backoff(&p, attempt, &t) <= p.max_backoff);
        }
    }
}
