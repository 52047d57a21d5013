//! `codeloop bench embedded`: prefill and generation tokens/s of the embedded backend against
//! `llama-cpp-python` (`PyPI`; built from source into a venv in the cache dir on first use) on the same
//! GGUF with the same threads, at a short context and at about 1,500 tokens; ratios last.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use codeloop_data::cache_dir;
use codeloop_llm::{Backend, EmbeddedBackend, EmbeddedConfig, GenerationRequest, Prompt};

use crate::Host;

/// `codeloop bench embedded`'s arguments.
#[derive(Args, Debug)]
pub struct BenchEmbeddedArgs {
    /// The GGUF (default: the embedded default model).
    #[arg(long)]
    model_path: Option<PathBuf>,
    /// CPU threads for both engines (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Tokens to generate per measurement.
    #[arg(long, default_value_t = 128)]
    gen_tokens: u32,
    /// Repetitions (medians are kept).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Skip the llama-cpp-python baseline.
    #[arg(long)]
    no_baseline: bool,
}

/// The two contexts measured: a short code prompt, and one of about 1,500 tokens.
fn prompts() -> [(&'static str, String); 2] {
    let short = "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n".to_owned();
    let block = "def add_numbers(values: list[int]) -> int:\n    \"\"\"Add every value of the list and return the total, which may be negative.\"\"\"\n    total = 0\n    for value in values:\n        total += value\n    return total\n\n";
    let long = format!("{}{short}", block.repeat(28));
    [("short", short), ("1.5k", long)]
}

struct Rates {
    prompt_tokens: u64,
    prefill: f64,
    generation: f64,
}

fn measure_ours(
    backend: &EmbeddedBackend,
    prompt: &str,
    gen_tokens: u32,
    repeat: usize,
) -> Result<Rates> {
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let run = |max_tokens: u32| -> Result<(f64, u64, u64)> {
        let mut r = GenerationRequest::chat(Vec::new());
        r.prompt = Prompt::Text(prompt.to_owned());
        r.max_tokens = max_tokens;
        let r = r.validate()?;
        let start = Instant::now();
        let g = runtime.block_on(backend.generate(&r))?;
        Ok((
            start.elapsed().as_secs_f64(),
            g.usage.prompt_tokens,
            g.usage.completion_tokens,
        ))
    };
    let (mut t1s, mut t2s, mut gs) = (Vec::new(), Vec::new(), Vec::new());
    let mut prompt_tokens = 0;
    for _ in 0..repeat {
        let (t1, p, _) = run(1)?;
        let (t2, _, g) = run(gen_tokens)?;
        prompt_tokens = p;
        t1s.push(t1);
        t2s.push(t2);
        gs.push(g as f64);
    }
    Ok(rates(prompt_tokens, &mut t1s, &mut t2s, &mut gs))
}

/// Prefill from the median time of a 1-token completion, generation from the difference of the
/// medians of a long and a 1-token one. At a long context both include the same several-second
/// prefill, whose run-to-run noise would dominate a difference of single runs (or of the best of
/// each), so medians it is, for both engines alike.
fn rates(prompt_tokens: u64, t1s: &mut [f64], t2s: &mut [f64], gs: &mut [f64]) -> Rates {
    fn median(xs: &mut [f64]) -> f64 {
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    }
    let (t1, t2, g) = (median(t1s), median(t2s), median(gs));
    Rates {
        prompt_tokens,
        prefill: prompt_tokens as f64 / t1,
        generation: if g > 1.0 && t2 > t1 {
            (g - 1.0) / (t2 - t1)
        } else {
            0.0
        },
    }
}

pub(crate) fn run<E: Host>(args: &BenchEmbeddedArgs) -> Result<ExitCode> {
    let path = match &args.model_path {
        Some(p) => p.clone(),
        None => E::local_model()?,
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, std::num::NonZero::get));
    let mut config = EmbeddedConfig::new(&path);
    config.threads = threads;
    config.parallel = 1;
    let backend = EmbeddedBackend::load(config)?;
    let mut ours = Vec::new();
    for (name, prompt) in prompts() {
        let r = measure_ours(&backend, &prompt, args.gen_tokens, args.repeat)?;
        println!(
            "codeloop embedded, {name} ({} prompt tokens): prefill {:.0} tok/s, generation {:.1} tok/s",
            r.prompt_tokens, r.prefill, r.generation
        );
        ours.push((name, r));
    }
    if args.no_baseline {
        return Ok(ExitCode::SUCCESS);
    }
    let python = llama_cpp_python()?;
    let mut ratios = Vec::new();
    for (name, prompt) in prompts() {
        let out = Command::new(&python)
            .args(["-c", BASELINE_SCRIPT])
            .arg(&path)
            .arg(threads.to_string())
            .arg(args.gen_tokens.to_string())
            .arg(args.repeat.to_string())
            .arg(&prompt)
            .output()
            .context("failed to run llama-cpp-python")?;
        if !out.status.success() {
            bail!(
                "llama-cpp-python failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |key: &str| -> Result<f64> {
            text.split_whitespace()
                .find_map(|w| w.strip_prefix(key).and_then(|v| v.parse().ok()))
                .with_context(|| format!("llama-cpp-python printed no `{key}`"))
        };
        let (prefill, generation) = (field("prefill=")?, field("generation=")?);
        println!(
            "llama-cpp-python, {name}: prefill {prefill:.0} tok/s, generation {generation:.1} tok/s"
        );
        let ours = &ours.iter().find(|(n, _)| *n == name).expect("measured").1;
        ratios.push(format!(
            "{name}: generation {:.2}x, prefill {:.2}x",
            ours.generation / generation,
            ours.prefill / prefill
        ));
    }
    println!(
        "ratio (codeloop / llama-cpp-python, {threads} threads): {}",
        ratios.join("; ")
    );
    Ok(ExitCode::SUCCESS)
}

/// A venv under the cache dir with llama-cpp-python, built from source on first use (~20 min on 2 cores).
fn llama_cpp_python() -> Result<PathBuf> {
    let venv = cache_dir().join("bench").join("llama-cpp-python-venv");
    let python = venv.join("bin").join("python");
    if python.exists()
        && Command::new(&python)
            .args(["-c", "import llama_cpp"])
            .status()
            .is_ok_and(|s| s.success())
    {
        return Ok(python);
    }
    eprintln!(
        "building llama-cpp-python into {} (about 20 minutes on 2 cores)",
        venv.display()
    );
    // The same instruction sets as codeloop's llama.cpp build (llama-cpp-sys-2 without
    // target-cpu=native: AVX2, FMA, F16C, BMI2), so both engines run the same kernels. A native build
    // would also pick llama.cpp's AMX kernels, which crash in this project's VMs (SIGSEGV in
    // ggml_backend_amx_mul_mat on a Xeon with AMX).
    crate::venv::make(
        &venv,
        Path::new("python3"),
        &["--no-cache-dir", "llama-cpp-python==0.3.36"],
        &[(
            "CMAKE_ARGS",
            "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_SSE42=ON",
        )],
    )
    .map_err(|e| anyhow::anyhow!("{e} (it needs cmake and a C++ compiler)"))?;
    Ok(python)
}

/// The same measurement with llama-cpp-python (medians, as `rates`); `reset()` first so that no
/// prompt prefix is reused.
const BASELINE_SCRIPT: &str = r#"
import sys, time
from llama_cpp import Llama
path, threads, gen, repeat, prompt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
llm = Llama(model_path=path, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
def run(n):
    llm.reset()
    t = time.perf_counter()
    out = llm.create_completion(prompt, max_tokens=n, temperature=0.0)
    return time.perf_counter() - t, out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"]
t1s, t2s, gs = [], [], []
for _ in range(repeat):
    t1, p, _ = run(1)
    t2, _, g = run(gen)
    t1s.append(t1); t2s.append(t2); gs.append(g)
med = lambda xs: sorted(xs)[len(xs) // 2]
t1, t2, g = med(t1s), med(t2s), med(gs)
print(f"prefill={p / t1:.1f} generation={((g - 1) / (t2 - t1)) if g > 1 and t2 > t1 else 0.0:.2f}")
"#;
