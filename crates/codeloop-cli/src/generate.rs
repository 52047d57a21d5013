//! `codeloop generate`: one prompt to n completions, for trying a backend by hand.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use codeloop_llm::{GenerationRequest, Message, Role};

#[derive(Args, Debug)]
pub(crate) struct GenerateArgs {
    /// The user message.
    prompt: String,
    /// `local` (the embedded SmolLM2-135M), `gguf:PATH`, or an endpoint name of the registry.
    #[arg(long, default_value = "local")]
    model: String,
    /// The endpoint registry (TOML).
    #[arg(long, env = "CODELOOP_REGISTRY")]
    registry: Option<PathBuf>,
    /// A system message.
    #[arg(long)]
    system: Option<String>,
    /// Completions.
    #[arg(short, long, default_value_t = 1)]
    n: u32,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Nucleus sampling mass.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Most tokens per completion.
    #[arg(long, default_value_t = 256)]
    max_tokens: u32,
    /// Sampling seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Print one JSON object (choices, usage, endpoint) instead of text.
    #[arg(long)]
    json: bool,
    /// Neither read nor write the response cache.
    #[arg(long)]
    no_cache: bool,
}

pub(crate) fn run(args: &GenerateArgs) -> Result<ExitCode> {
    let mut backend = crate::model::backend(&args.model, args.registry.as_deref())?;
    if !args.no_cache {
        let cache = std::sync::Arc::new(codeloop_store::ResponseCache::open(
            &codeloop_data::cache_dir().join("responses.sqlite"),
        )?);
        backend = std::sync::Arc::new(codeloop_llm::CachedBackend::new(backend, cache));
    }
    let mut messages = Vec::new();
    if let Some(system) = &args.system {
        messages.push(Message::new(Role::System, system.as_str()));
    }
    messages.push(Message::new(Role::User, args.prompt.as_str()));
    let mut request = GenerationRequest::chat(messages);
    request.n = args.n;
    request.temperature = args.temperature;
    request.top_p = args.top_p;
    request.max_tokens = args.max_tokens;
    request.seed = args.seed;
    let request = request.validate()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let generation = runtime.block_on(backend.generate(&request))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&generation)?)?;
    } else {
        for (i, choice) in generation.choices.iter().enumerate() {
            if generation.choices.len() > 1 {
                writeln!(out, "--- completion {} ({:?})", i + 1, choice.finish_reason)?;
            }
            writeln!(out, "{}", choice.text)?;
        }
        eprintln!(
            "{}: {} prompt + {} completion tokens{}; {} of {} completions from the cache{}",
            generation.endpoint,
            generation.usage.prompt_tokens,
            generation.usage.completion_tokens,
            if generation.usage_missing {
                " (some responses had no usage)"
            } else {
                ""
            },
            generation.cached,
            generation.choices.len(),
            if args.no_cache { " (off)" } else { "" }
        );
    }
    Ok(ExitCode::SUCCESS)
}
