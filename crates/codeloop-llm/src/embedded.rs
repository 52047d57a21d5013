//! The embedded backend: a GGUF model run in-process by llama.cpp (crate `llama-cpp-2`) on a
//! dedicated thread behind a channel, so no server is needed.
//!
//! Why llama.cpp and not candle: measured on this project's 2-core machine for SmolLM2-135M
//! (`shared/reference/embedded-model.md`), llama.cpp generates at 89–92 tok/s short and 47–50 at 1.5k
//! context against candle's 67–87 and 21–32, and the target is parity with `llama-cpp-python`, which
//! is llama.cpp. The price is cmake and libclang at build time.
//!
//! One request at a time owns the model: `n > 1` samples share one prefill (the prompt's KV cache is
//! copied to each sequence) and then decode together, one batch per step.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::oneshot;

use crate::backend::{Backend, BoxFuture, Choice, FinishReason, Generation, Usage};
use crate::errors::LlmError;
use crate::request::{GenerationRequest, Prompt, Role, ValidRequest};

/// How to run the embedded model.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// The GGUF file.
    pub path: PathBuf,
    /// CPU threads for prefill and generation (default: all cores).
    pub threads: usize,
    /// Context tokens per sequence.
    pub context: u32,
    /// Sequences decoded together (larger `n` is done in rounds of this many).
    pub parallel: u32,
}

impl EmbeddedConfig {
    /// Defaults for `path`: all cores, 4,096 tokens per sequence, 4 sequences at a time (the KV cache
    /// of SmolLM2-135M takes about 23 KB per token, so this is about 380 MB).
    #[must_use]
    pub fn new(path: &Path) -> Self {
        EmbeddedConfig {
            path: path.to_path_buf(),
            threads: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            context: 4096,
            parallel: 4,
        }
    }
}

type Job = (
    GenerationRequest,
    oneshot::Sender<Result<Generation, LlmError>>,
);

/// A GGUF model on its own thread.
pub struct EmbeddedBackend {
    identity: String,
    jobs: mpsc::Sender<Job>,
}

impl EmbeddedBackend {
    /// Loads the model (on the model thread; errors come back here).
    pub fn load(config: EmbeddedConfig) -> Result<Self, LlmError> {
        let file_name = config.path.file_name().map_or_else(
            || config.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let (jobs, rx) = mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("codeloop-model".to_owned())
            .spawn(move || model_thread(&config, &rx, &ready_tx))
            .map_err(|e| LlmError::Config(format!("cannot start the model thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| LlmError::Config("the model thread ended while loading".to_owned()))??;
        Ok(EmbeddedBackend {
            identity: format!("embedded:{file_name}"),
            jobs,
        })
    }
}

impl Backend for EmbeddedBackend {
    fn identity(&self) -> String {
        self.identity.clone()
    }

    fn generate<'a>(
        &'a self,
        request: &'a ValidRequest,
    ) -> BoxFuture<'a, Result<Generation, LlmError>> {
        Box::pin(async move {
            let (tx, rx) = oneshot::channel();
            self.jobs
                .send((request.get().clone(), tx))
                .map_err(|_| LlmError::Config("the model thread has stopped".to_owned()))?;
            rx.await
                .map_err(|_| LlmError::Config("the model thread dropped a request".to_owned()))?
        })
    }
}

fn model_thread(
    config: &EmbeddedConfig,
    jobs: &mpsc::Receiver<Job>,
    ready: &mpsc::Sender<Result<(), LlmError>>,
) {
    let loaded = Engine::load(config);
    let mut engine = match loaded {
        Ok(e) => {
            let _ = ready.send(Ok(()));
            e
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    for (request, reply) in jobs {
        let result = engine.generate(&request);
        let _ = reply.send(result);
    }
}

/// The model and what llama.cpp needs around it; lives on the model thread only.
struct Engine {
    // Field order matters: the context borrows the model, which needs the backend.
    context: LlamaContext<'static>,
    model: &'static LlamaModel,
    template: Option<llama_cpp_2::model::LlamaChatTemplate>,
    config: EmbeddedConfig,
    name: String,
    _backend: &'static LlamaBackend,
}

fn engine_error(what: &str, e: impl std::fmt::Display) -> LlmError {
    LlmError::Config(format!("embedded model: {what}: {e}"))
}

impl Engine {
    fn load(config: &EmbeddedConfig) -> Result<Self, LlmError> {
        if !config.path.is_file() {
            return Err(LlmError::Config(format!(
                "no model file at `{}`",
                config.path.display()
            )));
        }
        llama_cpp_2::send_logs_to_tracing(
            llama_cpp_2::LogOptions::default().with_logs_enabled(false),
        );
        // The backend and model live as long as the process's model thread; leaking them gives the
        // context the 'static borrow it needs without a self-referential struct.
        let backend: &'static LlamaBackend = Box::leak(Box::new(
            LlamaBackend::init().map_err(|e| engine_error("init", e))?,
        ));
        let model: &'static LlamaModel = Box::leak(Box::new(
            LlamaModel::load_from_file(backend, &config.path, &LlamaModelParams::default())
                .map_err(|e| {
                    engine_error(&format!("cannot load `{}`", config.path.display()), e)
                })?,
        ));
        let parallel = config.parallel.max(1);
        let total = config.context.saturating_mul(parallel).max(512);
        let threads = i32::try_from(config.threads.max(1)).unwrap_or(1);
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(total))
            .with_n_batch(config.context)
            .with_n_ubatch(512)
            .with_n_seq_max(parallel)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let context = model
            .new_context(backend, params)
            .map_err(|e| engine_error("cannot create a context", e))?;
        let template = model.chat_template(None).ok();
        Ok(Engine {
            context,
            model,
            template,
            name: config.path.display().to_string(),
            config: config.clone(),
            _backend: backend,
        })
    }

    fn render(&self, prompt: &Prompt) -> Result<String, LlmError> {
        match prompt {
            Prompt::Text(t) => Ok(t.clone()),
            Prompt::Chat(messages) => {
                let template = self.template.as_ref().ok_or_else(|| {
                    LlmError::Config(format!(
                        "`{}` has no chat template; send a text prompt",
                        self.name
                    ))
                })?;
                let chat = messages
                    .iter()
                    .map(|m| {
                        let role = match m.role {
                            Role::System => "system",
                            Role::User => "user",
                            Role::Assistant => "assistant",
                        };
                        LlamaChatMessage::new(role.to_owned(), m.content.clone())
                            .map_err(|e| engine_error("a message holds a NUL byte", e))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.model
                    .apply_chat_template(template, &chat, true)
                    .map_err(|e| engine_error("cannot apply the chat template", e))
            }
        }
    }

    fn generate(&mut self, request: &GenerationRequest) -> Result<Generation, LlmError> {
        let text = self.render(&request.prompt)?;
        let vocab = self.model.vocab();
        let prompt = vocab.tokenize(text.as_bytes(), vocab.should_add_bos(), true);
        if prompt.is_empty() {
            return Err(LlmError::Invalid {
                field: "prompt",
                message: "tokenizes to nothing".to_owned(),
            });
        }
        let room = self.config.context as usize;
        if prompt.len() + 1 >= room {
            return Err(LlmError::Invalid {
                field: "prompt",
                message: format!(
                    "has {} tokens; the embedded model's context is {room}",
                    prompt.len()
                ),
            });
        }
        let max_new = (request.max_tokens as usize).min(room - prompt.len());
        let mut choices = Vec::with_capacity(request.n as usize);
        let mut completion_tokens = 0u64;
        let per_round = self.config.parallel.max(1) as usize;
        let mut next_sample = u64::from(request.first_sample);
        while choices.len() < request.n as usize {
            let k = per_round.min(request.n as usize - choices.len());
            let round = self.round(request, &prompt, k, max_new, next_sample)?;
            next_sample += k as u64;
            for c in round {
                completion_tokens += c.token_ids.as_ref().map_or(0, |t| t.len() as u64);
                choices.push(c);
            }
        }
        Ok(Generation {
            choices,
            usage: Usage {
                prompt_tokens: prompt.len() as u64,
                completion_tokens,
            },
            usage_missing: false,
            endpoint: "embedded".to_owned(),
            cached: 0,
        })
    }

    /// Generates `k` completions of `prompt` together: one prefill, its KV copied to `k` sequences,
    /// then one batched decode per step.
    fn round(
        &mut self,
        request: &GenerationRequest,
        prompt: &[LlamaToken],
        k: usize,
        max_new: usize,
        first_sample: u64,
    ) -> Result<Vec<Choice>, LlmError> {
        let model = self.model;
        let vocab = model.vocab();
        let ctx = &mut self.context;
        ctx.clear_kv_cache();
        let mut batch = LlamaBatch::new(prompt.len().max(k), 1);
        for (i, &t) in prompt.iter().enumerate() {
            batch
                .add(t, i as i32, &[0], i + 1 == prompt.len())
                .map_err(|e| engine_error("batch", e))?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| engine_error("prefill", e))?;
        for s in 1..k {
            ctx.copy_kv_cache_seq(0, s as i32, None, None)
                .map_err(|e| engine_error("kv copy", e))?;
        }
        let mut samplers: Vec<LlamaSampler> = (0..k)
            .map(|s| sampler(request, first_sample + s as u64))
            .collect();
        let mut tokens: Vec<Vec<LlamaToken>> = vec![Vec::new(); k];
        let mut bytes: Vec<Vec<u8>> = vec![Vec::new(); k];
        let mut logprobs: Vec<Vec<f32>> = vec![Vec::new(); k];
        let mut finish: Vec<Option<FinishReason>> = vec![None; k];
        let mut cut: Vec<Option<usize>> = vec![None; k];
        let mut logits_at: Vec<i32> = vec![prompt.len() as i32 - 1; k];
        let mut batch = LlamaBatch::new(k, k as i32);
        for step in 0..max_new {
            let mut next = Vec::with_capacity(k);
            for s in 0..k {
                if finish[s].is_some() {
                    continue;
                }
                let token = samplers[s].sample(ctx, logits_at[s]);
                if request.logprobs {
                    logprobs[s].push(log_softmax_at(ctx.get_logits_ith(logits_at[s]), token.0));
                }
                if vocab.is_eog(token) {
                    finish[s] = Some(FinishReason::Stop);
                    continue;
                }
                tokens[s].push(token);
                let piece = vocab.token_to_piece(token, false, None);
                let before = bytes[s].len();
                bytes[s].extend_from_slice(&piece);
                if let Some(at) = stop_at(&bytes[s], before, &request.stop) {
                    cut[s] = Some(at);
                    finish[s] = Some(FinishReason::Stop);
                    continue;
                }
                if step + 1 == max_new {
                    finish[s] = Some(FinishReason::Length);
                    continue;
                }
                next.push((s, token));
            }
            if next.is_empty() {
                break;
            }
            batch.clear();
            for (j, &(s, token)) in next.iter().enumerate() {
                let pos = (prompt.len() + tokens[s].len() - 1) as i32;
                batch
                    .add(token, pos, &[s as i32], true)
                    .map_err(|e| engine_error("batch", e))?;
                logits_at[s] = j as i32;
            }
            ctx.decode(&mut batch)
                .map_err(|e| engine_error("decode", e))?;
        }
        Ok((0..k)
            .map(|s| {
                let mut b = std::mem::take(&mut bytes[s]);
                if let Some(at) = cut[s] {
                    b.truncate(at);
                }
                Choice {
                    text: String::from_utf8_lossy(&b).into_owned(),
                    finish_reason: finish[s].unwrap_or(FinishReason::Length),
                    token_ids: Some(tokens[s].iter().map(|t| t.0 as u32).collect()),
                    logprobs: request.logprobs.then(|| std::mem::take(&mut logprobs[s])),
                }
            })
            .collect())
    }
}

/// Greedy at temperature 0; otherwise top-p, temperature, then a draw seeded per sample, so that a
/// request with a seed gives the same completions every time.
fn sampler(request: &GenerationRequest, sample: u64) -> LlamaSampler {
    if request.temperature <= 0.0 {
        return LlamaSampler::greedy();
    }
    let seed = request.seed.map_or_else(
        || fastrand::u32(..),
        |s| (s.wrapping_mul(0x9E37_79B9) ^ sample) as u32,
    );
    LlamaSampler::chain_simple([
        LlamaSampler::top_p(request.top_p, 1),
        LlamaSampler::temp(request.temperature),
        LlamaSampler::dist(seed),
    ])
}

/// Where a stop string first appears in `text`, looking only at matches that end after `from`
/// (earlier text was checked at earlier steps).
fn stop_at(text: &[u8], from: usize, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter_map(|s| {
            let s = s.as_bytes();
            let start = from.saturating_sub(s.len() - 1);
            text[start..]
                .windows(s.len())
                .position(|w| w == s)
                .map(|p| start + p)
        })
        .min()
}

fn log_softmax_at(logits: &[f32], token: i32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    logits
        .get(token as usize)
        .map_or(f32::NEG_INFINITY, |l| l - max - sum.ln())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_strings_are_found_across_token_boundaries() {
        let stops = vec!["\n```".to_owned()];
        assert_eq!(stop_at(b"x = 1\n``", 6, &stops), None);
        assert_eq!(stop_at(b"x = 1\n```", 8, &stops), Some(5));
    }

    #[test]
    fn log_softmax_sums_to_one() {
        let logits = [1.0f32, 2.0, 3.0];
        let total: f32 = (0..3).map(|t| log_softmax_at(&logits, t).exp()).sum();
        assert!((total - 1.0).abs() < 1e-5);
    }
}
