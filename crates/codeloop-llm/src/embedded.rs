//! The embedded backend: a GGUF model run in-process by llama.cpp (crate `llama-cpp-2`) on a
//! dedicated thread behind a channel, so no server is needed.
//!
//! Why llama.cpp and not candle: measured on this project's 2-core machine for SmolLM2-135M,
//! llama.cpp generates at 89–92 tok/s short and 47–50 at 1.5k
//! context against candle's 67–87 and 21–32, and the target is parity with `llama-cpp-python`, which
//! is llama.cpp. The price is cmake and libclang at build time.
//!
//! The model thread batches continuously: up to `parallel` sequences run at once, from any requests;
//! a request's `n > 1` samples share one prefill (the prompt's KV cache is copied to each of its
//! sequences); every step decodes one token of every running sequence in one batch, and a freed
//! sequence takes the next waiting sample at once. So concurrent trajectories of `codeloop run`
//! share the decode batches instead of queueing. Measured (`codeloop run humaneval --limit 8
//! --strategy single --no-response-cache`, 4 trajectories in flight): 22.4 s against 28.2 s when
//! one request owned the model at a time. A seeded request gives the same completions every time it
//! runs alone; sharing a batch with other requests can change the floating-point sums, and so the
//! tokens, as in llama.cpp's own server (the run store journals what was generated, so resumes stay
//! exact).

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

/// llama.cpp's flash attention, off: on the CPU it decodes a 1.5k context at a third of the speed
/// (measured by `codeloop bench embedded` on this 2-core machine, SmolLM2-135M).
const FLASH_ATTENTION: llama_cpp_sys_2::llama_flash_attn_type =
    llama_cpp_sys_2::LLAMA_FLASH_ATTN_TYPE_DISABLED;

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
    engine.serve(jobs);
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
            .with_n_threads_batch(threads)
            .with_flash_attention_policy(FLASH_ATTENTION);
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

    /// Tokenizes a request's prompt and checks it fits.
    fn admit(&self, request: GenerationRequest, reply: Reply) -> Result<Active, (LlmError, Reply)> {
        let text = match self.render(&request.prompt) {
            Ok(t) => t,
            Err(e) => return Err((e, reply)),
        };
        let vocab = self.model.vocab();
        let prompt = vocab.tokenize(text.as_bytes(), vocab.should_add_bos(), true);
        if prompt.is_empty() {
            return Err((
                LlmError::Invalid {
                    field: "prompt",
                    message: "tokenizes to nothing".to_owned(),
                },
                reply,
            ));
        }
        let room = self.config.context as usize;
        if prompt.len() + 1 >= room {
            return Err((
                LlmError::Invalid {
                    field: "prompt",
                    message: format!(
                        "has {} tokens; the embedded model's context is {room}",
                        prompt.len()
                    ),
                },
                reply,
            ));
        }
        let n = request.n as usize;
        Ok(Active {
            max_new: (request.max_tokens as usize).min(room - prompt.len()),
            next_sample: 0,
            choices: vec![None; n],
            prompt,
            request,
            reply: Some(reply),
            failed: None,
        })
    }

    /// The scheduler: continuous batching over `parallel` sequences. Requests are admitted as
    /// sequences free up; a request's samples share one prefill (its KV is copied to each of its
    /// sequences); every step decodes one token of every running sequence, whatever request it
    /// belongs to, in one batch.
    fn serve(&mut self, jobs: &mpsc::Receiver<Job>) {
        let slots = self.config.parallel.max(1) as usize;
        let mut free: Vec<i32> = (0..slots as i32).rev().collect();
        let mut running: Vec<Seq> = Vec::new();
        let mut active: Vec<Active> = Vec::new();
        let mut closed = false;
        loop {
            // Take in new requests: block only when there is nothing else to do.
            if running.is_empty() && active.iter().all(Active::started) {
                if closed {
                    return;
                }
                match jobs.recv() {
                    Ok((request, reply)) => self.push_request(&mut active, request, reply),
                    Err(_) => return,
                }
            }
            loop {
                match jobs.try_recv() {
                    Ok((request, reply)) => self.push_request(&mut active, request, reply),
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                }
            }
            // Fill free sequences with unstarted samples, oldest request first.
            while !free.is_empty() {
                let Some(ai) = active.iter().position(|a| !a.started()) else {
                    break;
                };
                let k = free
                    .len()
                    .min(active[ai].choices.len() - active[ai].next_sample);
                let seqs: Vec<i32> = (0..k).map(|_| free.pop().expect("k <= free")).collect();
                if let Err(e) = self.prefill(&mut active[ai], ai, &seqs, &mut running) {
                    active[ai].failed = Some(e);
                    active[ai].next_sample = active[ai].choices.len();
                    for s in seqs {
                        self.context
                            .clear_kv_cache_seq(Some(s as u32), None, None)
                            .ok();
                        free.push(s);
                    }
                }
            }
            // One decode step for every running sequence.
            if let Err(e) = self.step(&mut running, &mut active, &mut free) {
                for seq in running.drain(..) {
                    self.context
                        .clear_kv_cache_seq(Some(seq.id as u32), None, None)
                        .ok();
                    free.push(seq.id);
                    active[seq.request].failed.get_or_insert_with(|| e.clone());
                }
            }
            // Answer finished requests.
            let mut i = 0;
            while i < active.len() {
                let done = active[i].started()
                    && (active[i].failed.is_some()
                        || active[i].choices.iter().all(Option::is_some))
                    && !running.iter().any(|s| s.request == i);
                if done {
                    let a = active.remove(i);
                    for s in &mut running {
                        if s.request > i {
                            s.request -= 1;
                        }
                    }
                    a.answer();
                } else {
                    i += 1;
                }
            }
        }
    }

    fn push_request(&self, active: &mut Vec<Active>, request: GenerationRequest, reply: Reply) {
        match self.admit(request, reply) {
            Ok(a) => active.push(a),
            Err((e, reply)) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Prefills `a`'s prompt into `seqs[0]`, copies it to the others, and samples each sequence's
    /// first token from the prompt's logits.
    fn prefill(
        &mut self,
        a: &mut Active,
        index: usize,
        seqs: &[i32],
        running: &mut Vec<Seq>,
    ) -> Result<(), LlmError> {
        let vocab = self.model.vocab();
        let ctx = &mut self.context;
        for &s in seqs {
            ctx.clear_kv_cache_seq(Some(s as u32), None, None)
                .map_err(|e| engine_error("kv clear", e))?;
        }
        let mut batch = LlamaBatch::new(a.prompt.len(), 1);
        for (i, &t) in a.prompt.iter().enumerate() {
            batch
                .add(t, i as i32, &[seqs[0]], i + 1 == a.prompt.len())
                .map_err(|e| engine_error("batch", e))?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| engine_error("prefill", e))?;
        for &s in &seqs[1..] {
            ctx.copy_kv_cache_seq(seqs[0], s, None, None)
                .map_err(|e| engine_error("kv copy", e))?;
        }
        let logits_at = batch.n_tokens() - 1;
        for &s in seqs {
            let sample = a.next_sample;
            a.next_sample += 1;
            let mut seq = Seq {
                id: s,
                request: index,
                sample,
                sampler: sampler(
                    &a.request,
                    u64::from(a.request.first_sample) + sample as u64,
                ),
                tokens: Vec::new(),
                bytes: Vec::new(),
                logprobs: Vec::new(),
                logits_at,
                pending: None,
                finish: None,
                cut: None,
                prompt_len: a.prompt.len(),
            };
            seq.sample_next(ctx, &vocab, &a.request, a.max_new);
            running.push(seq);
        }
        Ok(())
    }

    /// Decodes the pending token of every running sequence in one batch and samples the next ones;
    /// finished sequences hand their choice to their request and free their slot.
    fn step(
        &mut self,
        running: &mut Vec<Seq>,
        active: &mut [Active],
        free: &mut Vec<i32>,
    ) -> Result<(), LlmError> {
        // Retire sequences that finished on their last sample.
        let mut i = 0;
        while i < running.len() {
            if running[i].finish.is_some() {
                let seq = running.swap_remove(i);
                self.context
                    .clear_kv_cache_seq(Some(seq.id as u32), None, None)
                    .map_err(|e| engine_error("kv clear", e))?;
                free.push(seq.id);
                let a = &mut active[seq.request];
                let sample = seq.sample;
                a.choices[sample] = Some(seq.into_choice(a.request.logprobs));
            } else {
                i += 1;
            }
        }
        if running.is_empty() {
            return Ok(());
        }
        let mut batch = LlamaBatch::new(running.len(), running.len() as i32);
        for (j, seq) in running.iter_mut().enumerate() {
            let token = seq
                .pending
                .take()
                .expect("a running sequence has a token to decode");
            let pos = (seq.prompt_len + seq.tokens.len() - 1) as i32;
            batch
                .add(token, pos, &[seq.id], true)
                .map_err(|e| engine_error("batch", e))?;
            seq.logits_at = j as i32;
        }
        self.context
            .decode(&mut batch)
            .map_err(|e| engine_error("decode", e))?;
        let vocab = self.model.vocab();
        for seq in running.iter_mut() {
            let a = &active[seq.request];
            seq.sample_next(&mut self.context, &vocab, &a.request, a.max_new);
        }
        Ok(())
    }
}

type Reply = oneshot::Sender<Result<Generation, LlmError>>;

/// A request being served.
struct Active {
    request: GenerationRequest,
    reply: Option<Reply>,
    prompt: Vec<LlamaToken>,
    max_new: usize,
    /// Samples started so far.
    next_sample: usize,
    choices: Vec<Option<Choice>>,
    failed: Option<LlmError>,
}

impl Active {
    fn started(&self) -> bool {
        self.next_sample >= self.choices.len()
    }

    fn answer(mut self) {
        let reply = self.reply.take().expect("answered once");
        if let Some(e) = self.failed {
            let _ = reply.send(Err(e));
            return;
        }
        let choices: Vec<Choice> = self
            .choices
            .into_iter()
            .map(|c| c.expect("every sample done"))
            .collect();
        let completion_tokens = choices
            .iter()
            .map(|c| c.token_ids.as_ref().map_or(0, |t| t.len() as u64))
            .sum();
        let _ = reply.send(Ok(Generation {
            choices,
            usage: Usage {
                prompt_tokens: self.prompt.len() as u64,
                completion_tokens,
            },
            usage_missing: false,
            endpoint: "embedded".to_owned(),
            cached: 0,
        }));
    }
}

/// One sample being generated in one sequence of the context.
struct Seq {
    id: i32,
    request: usize,
    sample: usize,
    sampler: LlamaSampler,
    tokens: Vec<LlamaToken>,
    bytes: Vec<u8>,
    logprobs: Vec<f32>,
    logits_at: i32,
    /// The sampled token still to be decoded.
    pending: Option<LlamaToken>,
    finish: Option<FinishReason>,
    cut: Option<usize>,
    prompt_len: usize,
}

impl Seq {
    /// Samples from the logits of the last decode; sets `pending` or `finish`.
    fn sample_next(
        &mut self,
        ctx: &mut LlamaContext<'static>,
        vocab: &llama_cpp_2::vocab::LlamaVocab<'_>,
        request: &GenerationRequest,
        max_new: usize,
    ) {
        let token = if request.temperature <= 0.0 {
            // Greedy: the argmax of the logits, without building llama.cpp's candidate array
            // over the whole vocabulary each token (about 1% of a token's time here).
            let logits = ctx.get_logits_ith(self.logits_at);
            let best = logits
                .iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &l)| {
                    if l > best.1 { (i, l) } else { best }
                })
                .0;
            LlamaToken(best as i32)
        } else {
            self.sampler.sample(ctx, self.logits_at)
        };
        if request.logprobs {
            self.logprobs
                .push(log_softmax_at(ctx.get_logits_ith(self.logits_at), token.0));
        }
        if vocab.is_eog(token) {
            self.finish = Some(FinishReason::Stop);
            return;
        }
        self.tokens.push(token);
        let piece = vocab.token_to_piece(token, false, None);
        let before = self.bytes.len();
        self.bytes.extend_from_slice(&piece);
        if let Some(at) = stop_at(&self.bytes, before, &request.stop) {
            self.cut = Some(at);
            self.finish = Some(FinishReason::Stop);
            return;
        }
        if self.tokens.len() >= max_new {
            self.finish = Some(FinishReason::Length);
            return;
        }
        self.pending = Some(token);
    }

    fn into_choice(mut self, logprobs: bool) -> Choice {
        if let Some(at) = self.cut {
            self.bytes.truncate(at);
        }
        Choice {
            text: String::from_utf8_lossy(&self.bytes).into_owned(),
            finish_reason: self.finish.unwrap_or(FinishReason::Length),
            token_ids: Some(self.tokens.iter().map(|t| t.0 as u32).collect()),
            logprobs: logprobs.then_some(self.logprobs),
        }
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
