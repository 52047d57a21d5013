//! The `check`, `eval` and `exec` commands.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use codeloop_data::{Source, cache_dir};
use codeloop_engine::evaluate::{self, CheckResult, evalplus};
use codeloop_engine::prepare::{NoteKind, PrepareOptions, PreparedDataset, prepare};
use codeloop_sandbox::{Executor, ExecutorConfig, Isolation, Job};
use codeloop_types::{ExecReport, Language, Limits, Verdict};

use crate::progress::Progress;
use crate::{CheckArgs, DatasetArgs, EvalArgs, ExecArgs, ExecOptions, IsolationArg};

/// An executor for programs in `languages` (its slots' views hold what those need; see
/// `ExecutorConfig::languages`).
pub(crate) fn executor(opts: &ExecOptions, languages: &[Language]) -> Result<Executor> {
    let mut config = ExecutorConfig {
        languages: languages.to_vec(),
        isolation: match opts.isolation {
            IsolationArg::Warm => Isolation::Warm,
            IsolationArg::Fresh => Isolation::Fresh,
        },
        python: opts.python.clone(),
        confine: !opts.no_namespaces,
        strict: opts.strict,
        library_dir: Some(cache_dir().join("libraries")),
        compile: codeloop_sandbox::CompileLimits {
            cpu_ms: opts.compile_cpu_ms,
            wall_ms: opts.compile_cpu_ms.saturating_mul(3),
            memory_mib: opts.compile_memory_mib,
        },
        ..ExecutorConfig::default()
    };
    if let Some(slots) = opts.slots {
        config.slots = slots.max(1);
    }
    let executor = Executor::start(&config).context("failed to start the executor")?;
    // The one degradation worth a warning on every command: confinement the kernel refused.
    for missing in executor.missing_layers() {
        if missing.contains("the kernel refused") {
            eprintln!(
                "warning: the sandbox runs without {missing} (`codeloop sandbox doctor` tells more; --strict refuses this)"
            );
        }
    }
    Ok(executor)
}

pub(crate) fn limits(opts: &ExecOptions) -> Limits {
    Limits {
        memory_mib: Some(opts.memory_mib),
        ..Limits::default()
    }
}

/// Loads the dataset, starts an executor for its languages, and prepares the problems with it.
pub(crate) fn load_problems(
    args: &DatasetArgs,
    opts: &ExecOptions,
) -> Result<(Executor, PreparedDataset)> {
    load_problems_for(args, opts, &[Language::Python])
}

/// [`load_problems`] with an executor that also runs `languages`.
pub(crate) fn load_problems_for(
    args: &DatasetArgs,
    opts: &ExecOptions,
    languages: &[Language],
) -> Result<(Executor, PreparedDataset)> {
    let source = Source::parse(&args.dataset)?;
    let dataset = codeloop_data::load(&source, None)?;
    eprintln!(
        "dataset {} ({}, {} records, sha256 {})",
        dataset.origin,
        dataset.format,
        dataset.tasks.len(),
        &dataset.sha256[..16]
    );
    let mut languages = languages.to_vec();
    for language in dataset
        .tasks
        .iter()
        .filter_map(codeloop_data::RawTask::language)
    {
        if !languages.contains(&language) {
            languages.push(language);
        }
    }
    let executor = executor(opts, &languages)?;
    let cache = (!args.no_cache).then(cache_dir);
    let mut progress = Progress::new("prepare", dataset.tasks.len() as u64);
    let options = PrepareOptions {
        stdio_compare: match args.compare {
            crate::CompareArg::Exact => codeloop_types::OutputCompare::Exact,
            crate::CompareArg::Tokens => codeloop_types::OutputCompare::Tokens,
            crate::CompareArg::Float => codeloop_types::OutputCompare::Float {
                abs: args.float_tolerance,
                rel: args.float_tolerance,
            },
            crate::CompareArg::CaseInsensitive => codeloop_types::OutputCompare::CaseInsensitive,
        },
        stdio_checker: match &args.checker {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the checker `{}`", path.display()))?,
            ),
            None => None,
        },
        ..PrepareOptions::default()
    };
    let mut prepared = prepare(&dataset, &executor, &options, cache.as_deref(), |m| {
        progress.message(m);
    })?;
    progress.finish();
    if !args.problems.is_empty() {
        for wanted in &args.problems {
            if !prepared.problems.iter().any(|p| &p.id().0 == wanted) {
                bail!("no problem `{wanted}` in dataset `{}`", args.dataset);
            }
        }
        prepared
            .problems
            .retain(|p| args.problems.contains(&p.id().0));
    }
    if let Some(limit) = args.limit {
        prepared.problems.truncate(limit);
    }
    Ok((executor, prepared))
}

fn describe(v: &Verdict) -> String {
    match v {
        Verdict::WrongAnswer {
            input,
            expected,
            got,
            detail,
        } => format!(
            "wrong_answer on {input}: expected {}, got {}{}",
            expected.as_deref().unwrap_or("?"),
            got.as_deref().unwrap_or("nothing"),
            detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ),
        Verdict::RuntimeError { kind, message, .. } => format!("runtime_error {kind}: {message}"),
        Verdict::HarnessError { message } => format!("harness_error: {message}"),
        other => other.name().to_owned(),
    }
}

pub(crate) fn check(args: &CheckArgs) -> Result<ExitCode> {
    let (executor, prepared) = load_problems(&args.data, &args.exec)?;
    if !prepared.problems.is_empty() && prepared.problems.iter().all(|p| p.reference.is_none()) {
        bail!(
            "dataset `{}` ships no reference solutions, so there is nothing to check ({} problems loaded; `codeloop eval` and `codeloop run` work on it)",
            args.data.dataset,
            prepared.problems.len()
        );
    }
    let no_public = prepared
        .notes
        .iter()
        .filter(|n| {
            n.kind == NoteKind::NoPublicTest
                && prepared.problems.iter().any(|p| *p.id() == n.problem)
        })
        .count();
    let mut progress = Progress::new("check", prepared.problems.len() as u64 * 2);
    let limits = limits(&args.exec);
    let results = evaluate::check(&prepared.problems, &executor, &limits, |d| {
        progress.set(d as u64);
    });
    progress.finish();
    let mut out = std::io::stdout().lock();
    let mut failed = 0;
    let mut broken = 0;
    let mut json_lines = String::new();
    for r in &results {
        if args.json.is_some() {
            json_lines.push_str(&check_json(r).to_string());
            json_lines.push('\n');
        }
        if r.passed() {
            continue;
        }
        let (which, bad) = if r.hidden.outcome == codeloop_types::Outcome::Passed {
            ("public", &r.public)
        } else {
            ("hidden", &r.hidden)
        };
        if let Some(reason) = codeloop_data::known_broken(&prepared.format, &r.problem) {
            broken += 1;
            writeln!(
                out,
                "BROKEN {} ({which}): {} [documented: {reason}]",
                r.problem,
                describe(&bad.verdict)
            )?;
        } else {
            failed += 1;
            writeln!(
                out,
                "FAIL {} ({which}): {}",
                r.problem,
                describe(&bad.verdict)
            )?;
        }
    }
    for note in prepared
        .notes
        .iter()
        .filter(|n| n.kind != NoteKind::NoPublicTest)
    {
        if prepared.problems.iter().any(|p| *p.id() == note.problem) {
            writeln!(out, "note {}: {}", note.problem, note.message)?;
        }
    }
    let public_tests: usize = prepared
        .problems
        .iter()
        .map(|p| p.public.public_tests.tests.len())
        .sum();
    let hidden_tests: usize = prepared
        .problems
        .iter()
        .map(|p| p.hidden.0.tests.len())
        .sum();
    writeln!(
        out,
        "{}: {}/{} canonical solutions pass ({} documented broken, {} failing); {} public and {} hidden tests; {} problems have no public test",
        prepared.format,
        results.len() - failed - broken,
        results.len(),
        broken,
        failed,
        public_tests,
        hidden_tests,
        no_public
    )?;
    // Program tests (compiled languages): how many are judged by value, and how many fall back.
    let mut kinds = [0usize; 3];
    for p in &prepared.problems {
        for suite in [&p.public.public_tests, &p.hidden.0] {
            for t in &suite.tests {
                match t.expect {
                    codeloop_types::Expect::Judged { .. } => kinds[0] += 1,
                    codeloop_types::Expect::Check => kinds[1] += 1,
                    codeloop_types::Expect::Program => kinds[2] += 1,
                    _ => {}
                }
            }
        }
    }
    if kinds.iter().any(|&k| k > 0) {
        let all: usize = kinds.iter().sum();
        writeln!(
            out,
            "program tests: {} judged by value, {} checks computed in the sandbox (weaker), {} whole programs (weakest): {:.1}% fall back",
            kinds[0],
            kinds[1],
            kinds[2],
            100.0 * (kinds[1] + kinds[2]) as f64 / all as f64
        )?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, json_lines)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn check_json(r: &CheckResult) -> serde_json::Value {
    serde_json::json!({
        "task_id": r.problem,
        "passed": r.passed(),
        "public": {"verdict": r.public.verdict, "tests": r.public.tests.len()},
        "hidden": {"verdict": r.hidden.verdict, "tests": r.hidden.tests.len(), "cpu_ms": r.hidden.cpu_ms},
    })
}

/// Fails unless `dir` is a directory this process can create files in (checked before any work,
/// so that a wrong `--out-dir` never throws finished work away).
fn check_writable_dir(dir: &Path, what: &str) -> Result<()> {
    let meta = std::fs::metadata(dir)
        .with_context(|| format!("{what} `{}` does not exist", dir.display()))?;
    if !meta.is_dir() {
        bail!("{what} `{}` is not a directory", dir.display());
    }
    let probe = dir.join(format!(".codeloop-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"")
        .with_context(|| format!("cannot write in {what} `{}`", dir.display()))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

pub(crate) fn eval(args: &EvalArgs) -> Result<ExitCode> {
    // Everything a user can get wrong is checked before the dataset is prepared and any sample
    // runs: where results go, and every line of the samples file.
    match &args.out_dir {
        Some(dir) => check_writable_dir(dir, "--out-dir")?,
        None => check_writable_dir(
            args.samples
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new(".")),
            "the samples file's directory (where results go without --out-dir)",
        )?,
    }
    let samples_file = evaluate::SamplesFile::check(&args.samples)?;
    let (executor, prepared) = load_problems(&args.data, &args.exec)?;
    samples_file.check_tasks(&prepared.problems)?;
    // EvalPlus's `hash`: the MD5 of the dataset file as read.
    let dataset_hash = evalplus::md5_hex(&dataset_file(&args.data.dataset, &prepared.origin)?);
    let out_dir = args
        .out_dir
        .clone()
        .or_else(|| args.samples.parent().map(PathBuf::from))
        .unwrap_or_default();
    let stem = args.samples.file_name().map_or_else(
        || "samples.jsonl".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let he_path = out_dir.join(format!("{stem}_results.jsonl"));
    let ep_path = evalplus::results_path(&args.samples, args.out_dir.as_deref());
    // Streamed: samples are read as they are run, results written as they finish (in sample
    // order); what stays in memory is per problem.
    let mut files = evaluate::ResultFiles::create(&he_path, &ep_path)?;
    let mut progress = Progress::new("eval", samples_file.len as u64);
    let mut counts = std::collections::BTreeMap::new();
    let (mut done, mut harness, mut has_plus) = (0u64, 0usize, false);
    let mut write_error = None;
    let mut stream = samples_file.stream(&prepared.problems)?;
    evaluate::evaluate_stream(
        &prepared.problems,
        &mut stream,
        &executor,
        &limits(&args.exec),
        !args.all_tests,
        |i, r| {
            done += 1;
            progress.set(done);
            evaluate::add_count(&mut counts, &r);
            harness += usize::from(r.report.outcome == codeloop_types::Outcome::HarnessError);
            has_plus |= r.groups.iter().any(|g| g.name == "plus");
            if write_error.is_none()
                && let Err(e) = files.push(i, &r)
            {
                write_error = Some(e);
            }
        },
    );
    progress.finish();
    if let Some(e) = stream.error().or(write_error) {
        return Err(e.into());
    }
    files.finish(&local_date(), &dataset_hash)?;
    let missing = prepared
        .problems
        .iter()
        .filter(|p| !counts.contains_key(&p.id().0))
        .count();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{done} samples over {} problems ({missing} problems without samples)",
        counts.len(),
    )?;
    let ks = [1, 10, 100];
    if has_plus {
        // What EvalPlus prints, as it prints it (`humaneval`/`mbpp` are its dataset names).
        let dataset = prepared.format.trim_end_matches('+');
        let base = evaluate::pass_at_ks(&counts, &ks, Some("base"));
        let plus = evaluate::pass_at_ks(&counts, &ks, Some("plus"));
        write!(out, "{}", evalplus::summary(dataset, &base, &plus))?;
    } else {
        writeln!(
            out,
            "{}",
            format_scores(&evaluate::pass_at_ks(&counts, &ks, None))
        )?;
    }
    if harness > 0 {
        writeln!(
            out,
            "warning: {harness} samples ended in a harness error (not the program's fault)"
        )?;
    }
    writeln!(out, "wrote {} and {}", he_path.display(), ep_path.display())?;
    Ok(if harness > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The bytes of the dataset file `codeloop eval` loaded from `origin` (a path, or the URL behind a
/// cached file), for `EvalPlus`'s hash. Only a plain URL is downloaded again (nothing caches it).
fn dataset_file(spec: &str, origin: &str) -> Result<Vec<u8>> {
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))
    };
    if Path::new(origin).is_file() {
        return read(Path::new(origin));
    }
    match Source::parse(spec)? {
        Source::Path(path) => read(&path),
        Source::Known(known) => read(&cache_dir().join("datasets").join(known.file)),
        Source::Hub {
            repo,
            revision,
            file,
        } => read(&cache_dir().join("hub").join(repo).join(revision).join(file)),
        Source::Url(url) => {
            let dir = tempfile::tempdir()?;
            Ok(codeloop_data::cached_or_download(
                &dir.path().join("dataset"),
                &url,
            )?)
        }
    }
}

/// Now as `EvalPlus` dates its results: `datetime.now().strftime("%Y-%m-%d %H:%M")`, local time.
fn local_date() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let Ok(now) = libc::time_t::try_from(now) else {
        return evalplus::utc_date();
    };
    #[expect(
        unsafe_code,
        reason = "localtime_r is the only way to the local time zone"
    )]
    // SAFETY: `tm` is plain data (all-zero is a valid value) and both pointers are valid for the
    // call; localtime_r is the reentrant form and keeps no pointer.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        (!libc::localtime_r(&raw const now, &raw mut tm).is_null()).then_some(tm)
    };
    match tm {
        Some(tm) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min
        ),
        None => evalplus::utc_date(),
    }
}

fn format_scores(scores: &[(u64, f64)]) -> String {
    if scores.is_empty() {
        return "no pass@k: some problem has no sample".to_owned();
    }
    scores
        .iter()
        .map(|(k, s)| format!("pass@{k}: {s:.4}"))
        .collect::<Vec<_>>()
        .join("  ")
}

/// The most `codeloop exec` reads of a program file or of `--stdin`: 64 MiB.
pub(crate) const MAX_INPUT_BYTES: u64 = 64 << 20;

/// Reads `path`, refusing more than [`MAX_INPUT_BYTES`] (a device such as `/dev/zero` never ends).
fn read_bounded(path: &Path, what: &str) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        bail!(
            "{what} `{}` is larger than the {} MiB limit",
            path.display(),
            MAX_INPUT_BYTES >> 20
        );
    }
    Ok(bytes)
}

pub(crate) fn exec(args: &ExecArgs) -> Result<ExitCode> {
    let bytes = read_bounded(&args.file, "the program")?;
    // An executable (ELF) runs as it is; anything else is a Python program.
    let binary = bytes.starts_with(b"\x7fELF");
    let program = if binary {
        String::new()
    } else {
        String::from_utf8(bytes.clone()).with_context(|| {
            format!(
                "`{}` is neither UTF-8 text nor an ELF executable",
                args.file.display()
            )
        })?
    };
    let stdin = match &args.stdin {
        Some(p) => Some(
            String::from_utf8(read_bounded(p, "--stdin")?)
                .with_context(|| format!("--stdin `{}` is not UTF-8 text", p.display()))?,
        ),
        None => None,
    };
    let mut opts = args.exec.clone();
    opts.slots = Some(1);
    let executor = executor(&opts, &[Language::Python])?;
    let mut job = Job::script(
        &program,
        Limits {
            cpu_ms: args.cpu_ms,
            wall_ms: args.wall_ms,
            ..limits(&args.exec)
        },
    );
    job.stdin = stdin;
    if binary {
        job.binary = Some(bytes.into());
    }
    let report = executor.run(job);
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", exec_json(&report))?;
    } else {
        out.write_all(report.stdout.as_bytes())?;
        std::io::stderr().write_all(report.stderr.as_bytes())?;
        eprintln!(
            "verdict: {}  exit: {}  signal: {}  cpu: {:.1} ms  wall: {:.1} ms  max rss: {} KiB",
            describe(&report.verdict),
            report
                .status
                .exit_code
                .map_or("-".to_owned(), |c| c.to_string()),
            report
                .status
                .signal
                .map_or("-".to_owned(), |s| s.to_string()),
            report.cpu_ms,
            report.wall_ms,
            report.max_rss_kib
        );
    }
    Ok(if report.verdict.is_pass() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The JSON object `codeloop exec --json` prints (format version 1).
pub(crate) fn exec_json(report: &ExecReport) -> serde_json::Value {
    serde_json::json!({
        "format": 1,
        "verdict": report.verdict.name(),
        "detail": report.verdict,
        "exit_code": report.status.exit_code,
        "signal": report.status.signal,
        "cpu_ms": report.cpu_ms,
        "wall_ms": report.wall_ms,
        "max_rss_kib": report.max_rss_kib,
        "stdout": report.stdout,
        "stdout_truncated": report.stdout_truncated,
        "stderr": report.stderr,
        "stderr_truncated": report.stderr_truncated,
        "stragglers": report.stragglers,
        "limits": report.limits,
        "layers": report.layers,
    })
}
