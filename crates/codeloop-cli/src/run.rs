//! `codeloop run` (the main job), `codeloop report` and `codeloop sweep`.
//!
//! **Fault hook** (for tests): `CODELOOP_FAULT=kill-after-answers:N` makes `run` kill itself with
//! `SIGKILL`, as `kill -9` would, right after the `N`-th answer of the invocation has arrived and
//! before anything is done with it (the engine's `FaultPoint::AnswerReceived`). The kill test in
//! `tests/it/resume.rs` uses it to kill at a named point rather than after a sleep.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Args;
use codeloop_engine::report::{Axis, ReportOptions, RunResults, results_with};
use codeloop_engine::run::{Budget, FaultHook, FaultPoint, RunConfig, RunContext, Sampling};
use codeloop_store::{ResponseCache, RunStore};
use codeloop_strategy::presets::{PRESETS, Preset};
use codeloop_strategy::{PoolSpec, PromptLibrary, SELECTORS, Selector, StrategySpec};

use crate::compare::{RESAMPLES, parse_axis};
use crate::{DatasetArgs, ExecOptions};

/// Options of the model and sampling, shared by `run` and `sweep`.
#[derive(Args, Debug, Clone)]
pub(crate) struct ModelArgs {
    /// `local` (the embedded SmolLM2-135M), `gguf:PATH`, or an endpoint name of the registry.
    #[arg(long, default_value = "local")]
    model: String,
    /// The endpoint registry (TOML).
    #[arg(long, env = "CODELOOP_REGISTRY")]
    registry: Option<PathBuf>,
    /// Trajectories per problem (default 1; pool strategies take `--samples` instead).
    #[arg(long)]
    trajectories: Option<u32>,
    /// Sampling temperature (default 0.2; Zheng et al. use 1.0 with top-p 0.95 on large models,
    /// `--preset zheng2025`; small models write better code cooler).
    #[arg(long)]
    temperature: Option<f32>,
    /// Nucleus sampling mass (default 0.95).
    #[arg(long)]
    top_p: Option<f32>,
    /// Most tokens per answer.
    #[arg(long, default_value_t = 512)]
    max_tokens: u32,
    /// Run seed (each request's seed derives from it, the problem, the trajectory and the step).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Trajectories in flight at once (default: 4 for the embedded model, 64 for an endpoint).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Neither read nor write the shared response cache (the run store still journals everything).
    #[arg(long)]
    no_response_cache: bool,
    /// A prompt library file laid over the built-in one (same TOML layout).
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// Stop starting LLM calls after this many.
    #[arg(long)]
    budget_llm_calls: Option<u64>,
    /// Stop starting LLM calls after this many prompt plus completion tokens.
    #[arg(long)]
    budget_tokens: Option<u64>,
    /// Stop running programs after this many.
    #[arg(long)]
    budget_programs: Option<u64>,
    /// Start no LLM call after this many seconds (per invocation; a re-run resumes).
    #[arg(long)]
    budget_wall_secs: Option<u64>,
}

#[derive(Args, Debug, Clone)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    data: DatasetArgs,
    /// A built-in strategy (cot-retry, single, multi-turn; the debuggers ldb, self-debug,
    /// self-debug-simple, self-debug-unit-test, self-debug-trace; the planning and search methods
    /// mapcoder, codesim, paircoder, codetree, sfs), a grid cell like `R1-I5-F2-t3`, a strategy
    /// file (TOML), or a pool strategy: a selector over `--samples` programs per problem (codet,
    /// codet-sqrt, b4, alphacode, mbr-exec, public-filter, first-public-pass).
    /// Default: cot-retry, or the preset's.
    #[arg(long)]
    strategy: Option<String>,
    /// Code attempts per trajectory, instead of the strategy's own (ldb and self-debug: 11, a
    /// first attempt and LDB's `max_iters` = 10 fixes).
    #[arg(long)]
    max_turns: Option<u32>,
    /// When an answer's program repeats one its trajectory already tried, ask again, at most N
    /// times per turn (each a model call, counted in the budget; useless at temperature 0).
    #[arg(long, value_name = "N")]
    no_repeat: Option<u32>,
    /// A strategy parameter, `KEY=VALUE` (repeatable): a method's (`--param exemplars=5` with
    /// mapcoder) or any field of a strategy file (`--param budget.programs=10`).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Most LLM calls per trajectory; past it the strategy submits its pick of what it has.
    #[arg(long, value_name = "N")]
    trajectory_llm_calls: Option<u64>,
    /// Most prompt plus completion tokens per trajectory (no call starts past it).
    #[arg(long, value_name = "N")]
    trajectory_tokens: Option<u64>,
    /// Most programs per trajectory.
    #[arg(long, value_name = "N")]
    trajectory_programs: Option<u64>,
    /// A paper's settings (zheng2025, codet, alphacode, mapcoder, codesim, paircoder, codetree,
    /// sfs): its strategy, sampling and sizes, each value with its source in
    /// `codeloop_strategy::presets`; flags given explicitly win.
    #[arg(long)]
    preset: Option<String>,
    /// Pool strategies: programs per problem (N), each a trajectory of `--schedule`.
    #[arg(long)]
    samples: Option<u32>,
    /// Pool strategies: model-written tests per problem (M), for the selectors that use them.
    #[arg(long)]
    tests: Option<u32>,
    /// Pool strategies: the turn schedule each program of the pool comes from.
    #[arg(long)]
    schedule: Option<String>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    exec: ExecOptions,
    /// The run directory (default: `runs/<dataset>-<strategy>-<model>-<config hash>`). Re-running
    /// the same command resumes it.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct ReportArgs {
    /// The run directory.
    run: PathBuf,
    /// Print the results as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// The (n, k) pairs of pass n@k at a budget of k, e.g. `1@10,10@30,33@100` (default: Zheng
    /// et al.'s 1@T, 10@10T, 33@100T/3, 100@100T for T turns, where every pool is big enough).
    #[arg(long, value_parser = parse_pairs_arg)]
    n_at_k: Option<Pairs>,
    /// What k counts: programs generated, prompt plus completion tokens, or LLM calls.
    #[arg(long, default_value = "programs", value_parser = parse_axis)]
    budget: Axis,
}

/// (n, k) pairs as `--n-at-k` gives them.
#[derive(Debug, Clone)]
struct Pairs(Vec<(u64, u64)>);

fn parse_pairs_arg(text: &str) -> Result<Pairs, String> {
    codeloop_engine::report::parse_pairs(text).map(Pairs)
}

#[derive(Args, Debug)]
pub(crate) struct SweepArgs {
    #[command(flatten)]
    data: DatasetArgs,
    /// Strategies to compare (names, grid cells or files), comma-separated.
    #[arg(long, value_delimiter = ',')]
    strategies: Vec<String>,
    /// Or a grid: reasoning prompts (use `none` for no reasoning), comma-separated.
    #[arg(long, value_delimiter = ',')]
    reasoning: Vec<String>,
    /// Grid: instruction prompts.
    #[arg(long, value_delimiter = ',', default_value = "I0")]
    instruction: Vec<String>,
    /// Grid: feedback granularities (F1, F2, F2-all, F3, F4: a failing test's trace).
    #[arg(long, value_delimiter = ',', default_value = "F2")]
    feedback: Vec<String>,
    /// Grid: turns.
    #[arg(long, default_value_t = 3)]
    turns: u32,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    exec: ExecOptions,
    /// Parent directory of the sweep's runs.
    #[arg(long, default_value = "runs/sweep")]
    out: PathBuf,
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '+' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Everything a run needs that does not depend on the strategy.
struct Setup {
    prepared: codeloop_engine::prepare::PreparedDataset,
    executor: Arc<codeloop_sandbox::Executor>,
    backend: Arc<dyn codeloop_llm::Backend>,
    library: PromptLibrary,
    embedded: bool,
}

fn setup(data: &DatasetArgs, model: &ModelArgs, exec: &ExecOptions) -> Result<Setup> {
    let library = match &model.prompts {
        Some(path) => PromptLibrary::with_overrides(path)?,
        None => PromptLibrary::builtin(),
    };
    let (executor, prepared) = crate::commands::load_problems(data, exec)?;
    let mut backend = crate::model::backend(&model.model, model.registry.as_deref())?;
    if !model.no_response_cache {
        let cache = Arc::new(ResponseCache::open(
            &codeloop_data::cache_dir().join("responses.sqlite"),
        )?);
        backend = Arc::new(codeloop_llm::CachedBackend::new(backend, cache));
    }
    Ok(Setup {
        prepared,
        executor: Arc::new(executor),
        backend,
        library,
        embedded: model.model == "local" || model.model.starts_with("gguf:"),
    })
}

fn config_for(
    setup: &Setup,
    spec: StrategySpec,
    model: &ModelArgs,
    exec: &ExecOptions,
) -> RunConfig {
    RunConfig {
        journal_version: codeloop_engine::run::JOURNAL_VERSION,
        dataset: setup.prepared.origin.clone(),
        dataset_format: setup.prepared.format.clone(),
        dataset_sha256: setup.prepared.sha256.clone(),
        problems: setup
            .prepared
            .problems
            .iter()
            .map(|p| p.id().0.clone())
            .collect(),
        trajectories: model.trajectories.unwrap_or(1).max(1),
        strategy: spec,
        prompts: setup.library.clone(),
        model: setup.backend.identity(),
        sampling: Sampling {
            temperature: model.temperature.unwrap_or(0.2),
            top_p: model.top_p.unwrap_or(0.95),
            max_tokens: model.max_tokens,
            seed: model.seed,
        },
        limits: crate::commands::limits(exec),
        budget: Budget {
            llm_calls: model.budget_llm_calls,
            tokens: model.budget_tokens,
            programs: model.budget_programs,
            executions: None,
            wall_secs: model.budget_wall_secs,
        },
        pool: None,
    }
}

/// `args` with `--preset`'s values where the user gave none; the preset's settings are printed
/// with their sources.
fn with_preset(args: &RunArgs) -> Result<RunArgs> {
    let mut args = args.clone();
    let Some(name) = args.preset.clone() else {
        return Ok(args);
    };
    let Some(preset) = Preset::named(&name) else {
        bail!(
            "no preset `{name}` (known: {})",
            PRESETS
                .iter()
                .map(|p| p.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    };
    eprintln!("preset {}: {}", preset.name, preset.description);
    let note = |what: &str, value: String, source: &str, given: bool| {
        if given {
            eprintln!("  {what}: as given (the preset's {value}: {source})");
        } else {
            eprintln!("  {what} {value}: {source}");
        }
    };
    let s = preset.strategy;
    note(
        "strategy",
        s.value.to_owned(),
        s.source,
        args.strategy.is_some(),
    );
    args.strategy.get_or_insert_with(|| s.value.to_owned());
    let m = &mut args.model;
    if let Some(t) = preset.temperature {
        note(
            "temperature",
            t.value.to_string(),
            t.source,
            m.temperature.is_some(),
        );
        m.temperature.get_or_insert(t.value);
    }
    if let Some(t) = preset.top_p {
        note("top-p", t.value.to_string(), t.source, m.top_p.is_some());
        m.top_p.get_or_insert(t.value);
    }
    if let Some(t) = preset.trajectories {
        note(
            "trajectories",
            t.value.to_string(),
            t.source,
            m.trajectories.is_some(),
        );
        m.trajectories.get_or_insert(t.value);
    }
    if let Some(pool) = preset.pool {
        note(
            "samples",
            pool.samples.to_string(),
            pool.source,
            args.samples.is_some(),
        );
        let samples = *args.samples.get_or_insert(pool.samples);
        let tests = preset.tests_for(samples).unwrap_or(1);
        note(
            "tests",
            tests.to_string(),
            pool.source,
            args.tests.is_some(),
        );
        args.tests.get_or_insert(tests);
    }
    eprintln!("  not held by the preset: {}", preset.unrecorded);
    Ok(args)
}

/// `spec` with `--max-turns`, `--no-repeat`, `--param` and the per-trajectory budget, where
/// given.
fn with_overrides(
    mut spec: StrategySpec,
    args: &RunArgs,
    library: &PromptLibrary,
) -> Result<StrategySpec> {
    for param in &args.params {
        let Some((key, value)) = param.split_once('=') else {
            bail!("--param {param}: expected KEY=VALUE");
        };
        spec = spec.with_param(key.trim(), value.trim())?;
    }
    let budget = &mut spec.budget;
    for (cap, given) in [
        (&mut budget.llm_calls, args.trajectory_llm_calls),
        (&mut budget.tokens, args.trajectory_tokens),
        (&mut budget.programs, args.trajectory_programs),
    ] {
        if given.is_some() {
            *cap = given;
        }
    }
    spec.validate(library, &spec.name.clone())?;
    if let Some(turns) = args.max_turns {
        if turns == 0 || turns > 100 {
            bail!("--max-turns must be 1..=100");
        }
        spec.max_turns = turns;
    }
    if let Some(n) = args.no_repeat {
        spec.no_repeat = n;
    }
    Ok(spec)
}

/// The turn schedule and pool of `run`'s arguments: a selector name makes a pool strategy over
/// `--samples` trajectories of `--schedule`; anything else is a turn schedule alone.
fn strategy_of(
    args: &RunArgs,
    library: &PromptLibrary,
) -> Result<(StrategySpec, Option<PoolSpec>)> {
    let strategy = args.strategy.as_deref().unwrap_or("cot-retry");
    let Some(selector) = Selector::named(strategy) else {
        for (flag, given) in [
            ("--samples", args.samples.is_some()),
            ("--tests", args.tests.is_some()),
            ("--schedule", args.schedule.is_some()),
        ] {
            if given {
                bail!(
                    "{flag} is for pool strategies ({}); `{}` is a turn schedule (use --trajectories)",
                    SELECTORS
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", "),
                    strategy
                );
            }
        }
        let spec = with_overrides(StrategySpec::resolve(strategy, library)?, args, library)?;
        return Ok((spec, None));
    };
    if args.model.trajectories.is_some() {
        bail!(
            "pool strategy `{strategy}` takes --samples N (programs per problem), not --trajectories"
        );
    }
    let samples = args.samples.unwrap_or(10);
    if samples == 0 {
        bail!("--samples must be at least 1");
    }
    let schedule = StrategySpec::resolve(args.schedule.as_deref().unwrap_or("single"), library)?;
    let mut spec = with_overrides(schedule, args, library)?;
    spec.name = match &args.schedule {
        Some(_) => format!("{strategy}+{}", spec.name),
        None => strategy.to_owned(),
    };
    Ok((
        spec,
        Some(PoolSpec::new(selector, samples, args.tests.unwrap_or(10))),
    ))
}

fn default_dir(parent: &Path, config: &RunConfig, dataset_arg: &str, model: &str) -> PathBuf {
    let hash =
        codeloop_store::content_hash(&serde_json::to_string(config).expect("configs serialise"));
    let dataset = Path::new(dataset_arg).file_name().map_or_else(
        || dataset_arg.to_owned(),
        |f| f.to_string_lossy().into_owned(),
    );
    parent.join(format!(
        "{}-{}-{}-{}",
        sanitize(&dataset),
        sanitize(&config.strategy.name),
        sanitize(model),
        &hash[..10]
    ))
}

/// Runs one strategy into `dir` (the engine claims the directory's store for `config`, or resumes
/// it); returns its results.
fn run_one(
    setup: &Setup,
    config: RunConfig,
    dir: &Path,
    model: &ModelArgs,
) -> Result<(RunResults, bool)> {
    let store = Arc::new(RunStore::open(dir)?);
    let problems: Vec<Arc<codeloop_types::Problem>> = setup
        .prepared
        .problems
        .iter()
        .cloned()
        .map(Arc::new)
        .collect();
    let (events, reporter) = crate::reporter::start(RESAMPLES);
    let ctx = RunContext {
        store: store.clone(),
        backend: setup.backend.clone(),
        executor: setup.executor.clone(),
        config: Arc::new(config),
        events,
        concurrency: model
            .concurrency
            .unwrap_or(if setup.embedded { 4 } else { 64 }),
        fault: fault_hook()?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(codeloop_engine::run::run(&ctx, &problems));
    // The reporters end when the last events handle is gone; the results reporter has then
    // written results.json.
    drop(ctx);
    let results = reporter
        .join()
        .map_err(|_| anyhow::anyhow!("the reporter thread panicked"))??;
    let outcome = outcome?;
    let results = results.context("the run ended without finishing")?;
    Ok((results, outcome.failed.is_empty()))
}

/// The fault hook `CODELOOP_FAULT` asks for (see the module docs), if any.
fn fault_hook() -> Result<Option<FaultHook>> {
    let Ok(spec) = std::env::var("CODELOOP_FAULT") else {
        return Ok(None);
    };
    let Some(n) = spec
        .strip_prefix("kill-after-answers:")
        .and_then(|n| n.parse::<u64>().ok())
    else {
        bail!("unknown fault `{spec}` in CODELOOP_FAULT\n(known: kill-after-answers:N)");
    };
    Ok(Some(Arc::new(move |point| {
        if point == FaultPoint::AnswerReceived(n) {
            #[expect(
                unsafe_code,
                reason = "kill(2) is how a process dies as `kill -9` kills it"
            )]
            // SAFETY: kill(2) on our own pid touches no memory of ours.
            let _ = unsafe { libc::kill(std::process::id().cast_signed(), libc::SIGKILL) };
            std::process::abort();
        }
    })))
}

pub(crate) fn run(args: &RunArgs) -> Result<ExitCode> {
    let args = &with_preset(args)?;
    let setup = setup(&args.data, &args.model, &args.exec)?;
    let (spec, pool) = strategy_of(args, &setup.library)?;
    let mut config = config_for(&setup, spec, &args.model, &args.exec);
    if let Some(pool) = pool {
        config.trajectories = pool.samples;
        config.pool = Some(pool);
    }
    let dir = args.out.clone().unwrap_or_else(|| {
        default_dir(
            Path::new("runs"),
            &config,
            &args.data.dataset,
            &args.model.model,
        )
    });
    let (results, complete) = run_one(&setup, config, &dir, &args.model)?;
    println!();
    crate::reporter::results::print_table(&results);
    println!("results: {}", dir.join("results.json").display());
    if !complete {
        eprintln!("some trajectories failed; run the same command again to resume them");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn report(args: &ReportArgs) -> Result<ExitCode> {
    if !args.run.join("run.sqlite").is_file() {
        bail!(
            "`{}` is not a run directory (no run.sqlite)",
            args.run.display()
        );
    }
    let store = RunStore::open(&args.run)?;
    let options = ReportOptions {
        pairs: args.n_at_k.clone().map(|p| p.0),
        axis: args.budget,
        ..ReportOptions::new(RESAMPLES, 0)
    };
    let results = results_with(&store, &options)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        crate::reporter::results::print_table(&results);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn sweep(args: &SweepArgs) -> Result<ExitCode> {
    let setup = setup(&args.data, &args.model, &args.exec)?;
    let mut names = args.strategies.clone();
    if !args.reasoning.is_empty() {
        for r in &args.reasoning {
            for i in &args.instruction {
                for f in &args.feedback {
                    let cell = if r == "none" {
                        format!("{i}-{f}-t{}", args.turns)
                    } else {
                        format!("{r}-{i}-{f}-t{}", args.turns)
                    };
                    names.push(cell);
                }
            }
        }
    }
    if names.is_empty() {
        bail!(
            "name strategies with --strategies, or a grid with --reasoning (and --instruction, --feedback)"
        );
    }
    if let Some(pool) = names.iter().find(|n| Selector::named(n).is_some()) {
        bail!(
            "`{pool}` is a pool strategy: run it with `codeloop run --strategy {pool} --samples N` and line the runs up with `codeloop compare DIR...`; sweep runs turn schedules"
        );
    }
    let specs = names
        .iter()
        .map(|n| StrategySpec::resolve(n, &setup.library))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rows = Vec::new();
    let mut dirs = Vec::new();
    let mut complete = true;
    for spec in specs {
        eprintln!("== {}", spec.name);
        let config = config_for(&setup, spec, &args.model, &args.exec);
        let dir = default_dir(&args.out, &config, &args.data.dataset, &args.model.model);
        let (results, ok) = run_one(&setup, config, &dir, &args.model)?;
        complete &= ok;
        rows.push(results);
        dirs.push(dir);
    }
    println!();
    let stores = dirs
        .iter()
        .map(|d| Ok((d.display().to_string(), RunStore::open(d)?)))
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<(String, &RunStore)> = stores.iter().map(|(d, s)| (d.clone(), s)).collect();
    let compared = codeloop_engine::report::compare(&refs, 1, None, Axis::Programs, RESAMPLES, 0)?;
    crate::compare::print(&compared, crate::compare::Format::Table)?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("comparison.json"),
        serde_json::to_string_pretty(&compared)?,
    )?;
    let json: Vec<_> = rows.iter().collect();
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("sweep.json"),
        serde_json::to_string_pretty(&json)?,
    )?;
    println!("results: {}", args.out.join("sweep.json").display());
    Ok(if complete {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[derive(Args, Debug)]
pub(crate) struct ExportArgs {
    /// The run directory.
    run: PathBuf,
    /// Output format (`sft`: chat JSON Lines, documented in codeloop-engine's `export.rs`).
    #[arg(long, default_value = "sft")]
    format: String,
    /// Only trajectories whose answer passed the hidden tests.
    #[arg(long)]
    only_solved: bool,
    /// Remove reasoning, instruction and retry prompts (the model's reasoning stays).
    #[arg(long)]
    strip_reasoning_prompts: bool,
    /// At most this many trajectories per problem (Zheng et al. keep 50).
    #[arg(long)]
    max_per_problem: Option<usize>,
    /// Near-duplicate threshold on the final code (estimated Jaccard over 5-token shingles);
    /// `1.1` keeps duplicates.
    #[arg(long, default_value_t = 0.8)]
    dedup_threshold: f64,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub(crate) fn export(args: &ExportArgs) -> Result<ExitCode> {
    if args.format != "sft" {
        bail!("unknown export format `{}` (known: sft)", args.format);
    }
    if !args.run.join("run.sqlite").is_file() {
        bail!(
            "`{}` is not a run directory (no run.sqlite)",
            args.run.display()
        );
    }
    let store = RunStore::open(&args.run)?;
    let options = codeloop_engine::export::ExportOptions {
        only_solved: args.only_solved,
        strip_reasoning_prompts: args.strip_reasoning_prompts,
        max_per_problem: args.max_per_problem,
        dedup_threshold: (args.dedup_threshold <= 1.0).then_some(args.dedup_threshold),
    };
    let counts = if let Some(path) = &args.output {
        // Write to a temporary file and rename, so a failed export leaves no half file.
        let tmp = path.with_extension("partial");
        let mut file = std::io::BufWriter::new(
            std::fs::File::create(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?,
        );
        let counts = codeloop_engine::export::export_sft(&store, &options, &mut file)?;
        std::io::Write::flush(&mut file)?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        counts
    } else {
        let stdout = std::io::stdout();
        let mut lock = std::io::BufWriter::new(stdout.lock());
        let counts = codeloop_engine::export::export_sft(&store, &options, &mut lock)?;
        std::io::Write::flush(&mut lock)?;
        counts
    };
    eprintln!(
        "exported {} of {} trajectories ({} unsolved, {} near-duplicates, {} over the per-problem cap left out)",
        counts.written, counts.seen, counts.unsolved, counts.duplicates, counts.over_cap
    );
    Ok(ExitCode::SUCCESS)
}
