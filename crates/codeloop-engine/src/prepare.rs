//! From raw dataset records to [`Problem`]s with public and hidden test suites.
//!
//! Test code in datasets is trusted, but expected values must never enter the sandbox, so suites are
//! built in two ways (see `codeloop-sandbox`'s `judge.py`):
//! - *value* tests (HumanEval+/MBPP+ inputs, docstring examples): the reference solution runs once on
//!   every input in the sandbox; what it returns becomes the expected value, and its CPU time scales the
//!   per-call limit (`EvalPlus`'s rule: `max(floor, 4 x reference)`);
//! - *replay* tests (`HumanEval`'s `check`, MBPP's asserts): the judge runs the test script once against
//!   the reference, recording the calls each statement makes; a candidate is then run on those calls and
//!   the judge replays each statement with the candidate's values.
//!
//! Prepared datasets are cached as JSON under the cache dir, keyed by the dataset's hash, this module's
//! format version, the interpreter version and the options.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use codeloop_data::{Dataset, Format, RawTask};
use codeloop_sandbox::protocol::judge::RecordRequest;
use codeloop_sandbox::{Executor, Job, PythonJudge, SandboxError};
use codeloop_types::{
    Call, Expect, HiddenTests, Interface, Language, Limits, OutputCompare, Problem, ProblemId,
    ProgramTest, PublicProblem, Reference, TestCase, TestId, TestSuite,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::errors::EngineError;

/// Version of the prepared-dataset cache format; bump when suites change shape or meaning.
/// 3: recorded test statements hold no assert message (the judge drops them before recording).
/// 5: value suites hold each expected value once, in their tests (the judge spec only the tolerance
/// and oracle), and mark the tests a byte-identical value passes; 6: and keep the digests of long
/// expected values; 7: expected values shown as the reference's run made their repr.
pub const PREPARED_VERSION: u32 = 7;

/// Options of preparation.
#[derive(Debug, Clone, Serialize)]
pub struct PrepareOptions {
    /// Least CPU time per call, in milliseconds.
    pub call_cpu_floor_ms: u32,
    /// Per-call CPU limit as a multiple of the reference's CPU time (value tests).
    pub reference_factor: f64,
    /// Per-test CPU time of stdio problems whose dataset gives no time limit, in milliseconds.
    pub stdio_cpu_ms: u32,
    /// How stdio outputs are compared.
    pub stdio_compare: OutputCompare,
    /// A checker program (Python) deciding stdio tests instead (see [`TestSuite::checker`]).
    pub stdio_checker: Option<String>,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        PrepareOptions {
            call_cpu_floor_ms: 1_000,
            reference_factor: 4.0,
            stdio_cpu_ms: 2_000,
            stdio_compare: OutputCompare::Tokens,
            stdio_checker: None,
        }
    }
}

/// Something worth telling about a prepared problem (a test dropped, no public test, ...).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepNote {
    /// The problem.
    pub problem: ProblemId,
    /// What happened.
    pub message: String,
}

/// A dataset turned into problems.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PreparedDataset {
    /// Cache format version.
    pub version: u32,
    /// The dataset format, e.g. `humaneval+`.
    pub format: String,
    /// Where it was loaded from.
    pub origin: String,
    /// SHA-256 of the loaded bytes.
    pub sha256: String,
    /// The problems, in dataset order.
    pub problems: Vec<Problem>,
    /// Notes from preparation.
    pub notes: Vec<PrepNote>,
}

/// How a suite is to be built.
enum Plan {
    /// Value tests over inputs; expected values come from running the reference.
    Values {
        inputs: Vec<Value>,
        shown: Vec<String>,
        atol: f64,
        special: Option<&'static str>,
        group_sizes: Vec<(&'static str, usize)>,
    },
    /// A recorded test script.
    Replay(Value),
}

struct Draft {
    public: PublicProblem,
    reference: Reference,
    entry_point: String,
    public_plan: Plan,
    hidden_plan: Plan,
}

/// Prepares `dataset`, from the cache under `cache` when a matching entry exists.
pub fn prepare(
    dataset: &Dataset,
    executor: &Executor,
    options: &PrepareOptions,
    cache: Option<&Path>,
    mut progress: impl FnMut(&str),
) -> Result<PreparedDataset, EngineError> {
    let cache_file = cache.map(|dir| cache_path(dir, dataset, executor, options));
    if let Some(file) = &cache_file
        && let Some(prepared) = read_cache(file)
        && prepared.version == PREPARED_VERSION
        && prepared.sha256 == dataset.sha256
    {
        return Ok(prepared);
    }
    if dataset
        .tasks
        .first()
        .is_some_and(|t| matches!(t, RawTask::Stdio(_)))
    {
        return Ok(prepare_stdio(dataset, executor, options));
    }
    if dataset.tasks.first().is_some_and(|t| match t {
        RawTask::HumanEvalX(r) => r.language() != "Python",
        RawTask::MultiplE(_) => true,
        _ => false,
    }) {
        return prepare_program_tests(dataset);
    }
    let mut judge = PythonJudge::start(executor.interpreter())?;
    let mut notes = Vec::new();
    let mut drafts = Vec::with_capacity(dataset.tasks.len());
    for (i, task) in dataset.tasks.iter().enumerate() {
        if i % 20 == 0 {
            progress(&format!("recording tests {}/{}", i, dataset.tasks.len()));
        }
        drafts.push(draft(task, dataset.format, &mut judge, &mut notes)?);
    }
    // Reference runs for every value plan, all through the pool at once.
    // (which draft and suite, its calls, the first call this round runs)
    let mut runs: Vec<((usize, usize), Vec<Call>, usize)> = Vec::new();
    for (di, d) in drafts.iter().enumerate() {
        for (which, plan) in [(0usize, &d.public_plan), (1, &d.hidden_plan)] {
            if let Plan::Values { inputs, .. } = plan {
                if inputs.is_empty() {
                    continue;
                }
                let calls: Vec<Call> = inputs.iter().map(|w| Call::Args(w.to_string())).collect();
                runs.push(((di, which), calls, 0));
            }
        }
    }
    let reference_job = |di: usize, calls: &[Call], key: &str| {
        let d = &drafts[di];
        let suite = TestSuite {
            calls: calls.to_vec(),
            call_cpu_ms: vec![60_000; calls.len()],
            ..TestSuite::empty(key)
        };
        let mut job = Job::suite(
            d.reference.program.as_str().into(),
            &d.entry_point,
            Arc::new(suite),
            reference_limits(),
        );
        job.collect_values = true;
        job
    };
    let total = runs.len();
    let mut ref_reports: std::collections::HashMap<(usize, usize), codeloop_types::ExecReport> =
        std::collections::HashMap::with_capacity(total);
    let mut round = 0;
    // A reference that dies on one input (a memory or time limit, a crash) takes the calls after
    // it down too: they run again from the input after the one it died on, round by round, so
    // that only the inputs it fails on are dropped.
    while !runs.is_empty() {
        let jobs: Vec<Job> = runs
            .iter()
            .map(|((di, which), calls, offset)| {
                let key = format!("reference:{}:{which}:{offset}", drafts[*di].public.id);
                reference_job(*di, &calls[*offset..], &key)
            })
            .collect();
        let n = jobs.len();
        let mut outputs: Vec<Option<codeloop_types::ExecReport>> = vec![None; n];
        let mut done = 0;
        executor.run_all(jobs, |i, report| {
            done += 1;
            if round == 0 && (done % 20 == 0 || done == total) {
                progress(&format!("running reference solutions {done}/{total}"));
            }
            outputs[i] = Some(report);
        });
        let mut again = Vec::new();
        for ((key, calls, offset), report) in runs.into_iter().zip(outputs) {
            let report = report.expect("every job reports");
            let returned = report.returned.clone().unwrap_or_default();
            // Where the run stopped: the first call with no value after the last with one, when
            // the run ended badly (a run that ended well raised on its unanswered calls).
            let died_at = (!report.verdict.is_pass() && !returned.is_empty())
                .then(|| {
                    returned
                        .iter()
                        .rposition(Option::is_some)
                        .map_or(0, |l| l + 1)
                })
                .filter(|&d| d + 1 < returned.len());
            match ref_reports.get_mut(&key) {
                Some(merged) => {
                    let values = merged.returned.get_or_insert_with(Vec::new);
                    for (j, r) in returned.into_iter().enumerate() {
                        if let Some(slot) = values.get_mut(offset + j) {
                            *slot = r;
                        }
                    }
                    merged.verdict = report.verdict.clone();
                }
                None => {
                    ref_reports.insert(key, report);
                }
            }
            // At most 20 deaths per reference: one that dies on every input is not worth more.
            if let Some(d) = died_at
                && round < 20
            {
                again.push((key, calls, offset + d + 1));
            }
        }
        runs = again;
        round += 1;
    }

    let mut problems = Vec::with_capacity(drafts.len());
    for (di, d) in drafts.into_iter().enumerate() {
        let id = d.public.id.clone();
        let public = build_suite(
            &id,
            "public",
            d.public_plan,
            ref_reports.remove(&(di, 0)),
            options,
            &mut notes,
        )?;
        let hidden = build_suite(
            &id,
            "hidden",
            d.hidden_plan,
            ref_reports.remove(&(di, 1)),
            options,
            &mut notes,
        )?;
        if public.is_empty() {
            notes.push(PrepNote {
                problem: id.clone(),
                message: "no public test (the prompt's examples hold no call to the entry point)"
                    .to_owned(),
            });
        }
        if hidden.is_empty() {
            notes.push(PrepNote {
                problem: id.clone(),
                message: "no hidden test".to_owned(),
            });
        }
        let mut public_problem = d.public;
        public_problem.public_tests = Arc::new(public);
        problems.push(Problem {
            public: public_problem,
            hidden: HiddenTests(Arc::new(hidden)),
            reference: Some(d.reference),
        });
    }
    let prepared = PreparedDataset {
        version: PREPARED_VERSION,
        format: dataset.format.to_string(),
        origin: dataset.origin.clone(),
        sha256: dataset.sha256.clone(),
        problems,
        notes,
    };
    if let Some(file) = &cache_file {
        // The cache is an optimisation; failing to write it must not fail the run.
        let _ = write_cache(file, &prepared);
    }
    Ok(prepared)
}

/// Reads a cache file (zstd-compressed JSON, see [`write_cache`]), streaming: no copy of the
/// whole file is held beside what it decodes to. `None` when it is missing or unreadable.
fn read_cache(file: &Path) -> Option<PreparedDataset> {
    let reader = std::io::BufReader::new(std::fs::File::open(file).ok()?);
    let decoder = zstd::stream::read::Decoder::new(reader).ok()?;
    serde_json::from_reader(std::io::BufReader::new(decoder)).ok()
}

/// Writes a cache file: the prepared dataset as JSON, zstd-compressed as it is serialized (level
/// 3: the expected values of `HumanEval+`, hundreds of MB of digits and repeated structure, shrink
/// tens of times), through a temporary file renamed into place.
fn write_cache(file: &Path, prepared: &PreparedDataset) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("partial");
    let out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let mut encoder = zstd::stream::write::Encoder::new(out, 3)?;
    serde_json::to_writer(&mut encoder, prepared)?;
    std::io::Write::flush(&mut encoder.finish()?)?;
    std::fs::rename(&tmp, file)
}

/// Stdin/stdout problems: suites straight from the records (no judge: outputs are compared as text).
/// Per-test CPU limits are the dataset's time limit when it has one; else, with a reference
/// solution, `max(floor, factor x its slowest test)` (see [`scale_stdio_limits`]); else
/// [`PrepareOptions::stdio_cpu_ms`]. Call-based records are skipped with a note.
fn prepare_stdio(
    dataset: &Dataset,
    executor: &Executor,
    options: &PrepareOptions,
) -> PreparedDataset {
    let mut notes = Vec::new();
    let mut problems = Vec::new();
    // Problems whose dataset gives no time limit: their limits come from the reference's runs.
    let mut to_scale: Vec<usize> = Vec::new();
    let mut hidden_is_public = 0;
    let format = dataset.format.to_string();
    for task in &dataset.tasks {
        let RawTask::Stdio(r) = task else { continue };
        let id = ProblemId(r.task_id.clone());
        if r.call_based {
            notes.push(PrepNote {
                problem: id,
                message: "skipped: call-based problems of this layout are not supported yet"
                    .to_owned(),
            });
            continue;
        }
        let cpu = r
            .time_limit_ms
            .map_or(options.stdio_cpu_ms, |ms| ms.min(60_000) as u32);
        let suite = |which: &str, tests: &[(String, String)]| {
            let cases: Vec<TestCase> = tests
                .iter()
                .enumerate()
                .map(|(i, (input, output))| TestCase {
                    id: TestId(i as u32),
                    calls: (i as u32, i as u32 + 1),
                    input: input.clone(),
                    expected: Some(output.clone()),
                    expect: Expect::Stdout,
                })
                .collect();
            let spec =
                serde_json::to_string(&(&cases, options.stdio_compare, &options.stdio_checker))
                    .unwrap_or_default();
            TestSuite {
                key: suite_key(&id, which, &[], &spec, std::iter::empty()),
                call_cpu_ms: vec![cpu; cases.len()],
                tests: cases,
                stdio: Some(options.stdio_compare),
                checker: options.stdio_checker.clone(),
                ..TestSuite::empty("")
            }
        };
        let public = suite("public", &r.public);
        let hidden = suite("hidden", &r.hidden);
        if public.is_empty() {
            notes.push(PrepNote {
                problem: id.clone(),
                message: "no public test".to_owned(),
            });
        }
        if hidden.is_empty() {
            notes.push(PrepNote {
                problem: id.clone(),
                message: "no hidden test".to_owned(),
            });
        }
        hidden_is_public += usize::from(r.hidden_is_public);
        if r.time_limit_ms.is_none() && !r.solutions.is_empty() && !r.hidden.is_empty() {
            to_scale.push(problems.len());
        }
        problems.push(Problem {
            public: PublicProblem {
                id: id.clone(),
                dataset: format.clone(),
                prompt: r.statement.clone(),
                language: Language::Python,
                interface: Interface::Stdio,
                public_tests: Arc::new(public),
                completion_prefix: String::new(),
            },
            hidden: HiddenTests(Arc::new(hidden)),
            reference: r.solutions.first().map(|program| Reference {
                program: program.clone(),
            }),
        });
    }
    scale_stdio_limits(&mut problems, &to_scale, executor, options, &mut notes);
    if hidden_is_public > 0
        && let Some(first) = problems.first()
    {
        notes.push(PrepNote {
                problem: first.id().clone(),
                message: format!(
                    "the dataset holds public tests only: for {hidden_is_public} problems the hidden tests are the public ones"
                ),
            });
    }
    PreparedDataset {
        version: PREPARED_VERSION,
        format,
        origin: dataset.origin.clone(),
        sha256: dataset.sha256.clone(),
        problems,
        notes,
    }
}

/// HumanEval-X: each suite is one test program (the record's `example_test` for public, `test` for
/// hidden) compiled with the solution. The reference is `declaration` + `canonical_solution`, and a
/// completion goes after `declaration` (as `CodeGeeX` evaluates). The test code's asserts are split
/// into judged values where they can be (see [`crate::split`]). MultiPL-E's records take the same
/// path. A language codeloop cannot run (none of HumanEval-X's today) is refused with a clear error.
fn prepare_program_tests(dataset: &Dataset) -> Result<PreparedDataset, EngineError> {
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for task in &dataset.tasks {
        if let RawTask::MultiplE(r) = task {
            problems.push(multipl_e_problem(
                r,
                task.language(),
                &dataset.format.to_string(),
            )?);
            continue;
        }
        let RawTask::HumanEvalX(r) = task else {
            continue;
        };
        let id = ProblemId(r.task_id.clone());
        let language = match task.language() {
            Some(language) if language != Language::Python => language,
            _ => {
                return Err(EngineError::Prepare {
                    problem: r.task_id.clone(),
                    message: format!(
                        "HumanEval-X {} is not supported yet (Python, C++, Java, JavaScript, Go and Rust are)",
                        r.language()
                    ),
                });
            }
        };
        let entry_point =
            entry_of(language, &r.declaration).ok_or_else(|| EngineError::Prepare {
                problem: r.task_id.clone(),
                message: "field `declaration` holds no function signature".to_owned(),
            })?;
        // HumanEval-X Rust declares `use rand::Rng; use regex::Regex; use md5;`.
        let libraries: Vec<String> = if language == Language::Rust {
            ["rand", "regex", "md5"].map(str::to_owned).to_vec()
        } else {
            Vec::new()
        };
        let suite = |which: &str, input: &str, code: &str| {
            program_suite(&id, which, language, code, &libraries, input)
        };
        // Go keeps the test file's package clause and imports apart (`test_setup`); the solution's
        // imports are in `import`.
        let with_setup = |code: &str| {
            if r.test_setup.trim().is_empty() {
                code.to_owned()
            } else {
                format!("{}\n{code}", r.test_setup)
            }
        };
        // Go's prompt holds the imports, helper functions and the signature; the declaration only
        // the signature.
        let prefix = if language == Language::Go {
            r.prompt.clone()
        } else {
            format!("{}{}", r.imports, r.declaration)
        };
        let public = if !r.example_test.trim().is_empty() && r.example_test.trim() != "None" {
            suite(
                "public",
                "the examples of the prompt",
                &with_setup(&r.example_test),
            )
        } else {
            notes.push(PrepNote {
                problem: id.clone(),
                message: "no public test (the record's example_test is empty)".to_owned(),
            });
            TestSuite {
                program_test: Some(ProgramTest {
                    language,
                    code: String::new(),
                    libraries: libraries.clone(),
                }),
                ..TestSuite::empty(&format!("{id}:public:none"))
            }
        };
        problems.push(Problem {
            public: PublicProblem {
                id: id.clone(),
                dataset: dataset.format.to_string(),
                prompt: r.prompt.clone(),
                language,
                interface: Interface::Function { entry_point },
                public_tests: Arc::new(public),
                completion_prefix: prefix.clone(),
            },
            hidden: HiddenTests(Arc::new(suite(
                "hidden",
                "the hidden test program",
                &with_setup(&r.test),
            ))),
            reference: Some(Reference {
                program: format!("{prefix}{}", r.canonical_solution),
            }),
        });
    }
    Ok(PreparedDataset {
        version: PREPARED_VERSION,
        format: dataset.format.to_string(),
        origin: dataset.origin.clone(),
        sha256: dataset.sha256.clone(),
        problems,
        notes,
    })
}

/// A program-test suite over `code` in `language`: its asserts split into judged values and
/// checks (see [`crate::split`]), and a last whole-program test when asserts remain that could
/// not be split (`whole` names it).
fn program_suite(
    id: &ProblemId,
    which: &str,
    language: Language,
    code: &str,
    libraries: &[String],
    whole: &str,
) -> TestSuite {
    let split = crate::split::split(language, code);
    let mut tests: Vec<TestCase> = split
        .tests
        .iter()
        .enumerate()
        .map(|(i, t)| TestCase {
            id: TestId(i as u32),
            calls: (i as u32, i as u32 + 1),
            input: t.input.clone(),
            expected: t.expected.clone(),
            expect: t.expect.clone(),
        })
        .collect();
    if split.remaining > 0 {
        let i = tests.len() as u32;
        tests.push(TestCase {
            id: TestId(i),
            calls: (i, i + 1),
            input: if tests.is_empty() {
                whole.to_owned()
            } else {
                format!(
                    "{whole}: the {} assert(s) it runs in loops or helpers",
                    split.remaining
                )
            },
            expected: None,
            expect: Expect::Program,
        });
    }
    let test = ProgramTest {
        language,
        code: split.code,
        libraries: libraries.to_vec(),
    };
    let spec = serde_json::to_string(&(&test, &tests)).unwrap_or_default();
    TestSuite {
        key: suite_key(id, which, &[], &spec, std::iter::empty()),
        tests,
        call_cpu_ms: vec![10_000],
        program_test: Some(test),
        ..TestSuite::empty("")
    }
}

/// A MultiPL-E problem: the test program is hidden; there is no public test (the suite only checks
/// that the program compiles and starts) and no reference solution.
fn multipl_e_problem(
    r: &codeloop_data::MultiplERecord,
    language: Option<Language>,
    format: &str,
) -> Result<Problem, EngineError> {
    let language = language.ok_or_else(|| EngineError::Prepare {
        problem: r.name.clone(),
        message: format!(
            "MultiPL-E language `{}` is not supported yet (rs, cpp and js are)",
            r.language
        ),
    })?;
    let id = ProblemId(r.name.clone());
    let hidden = program_suite(
        &id,
        "hidden",
        language,
        &r.test,
        &[],
        "the hidden test program",
    );
    let public = TestSuite {
        program_test: Some(ProgramTest {
            language,
            code: String::new(),
            libraries: Vec::new(),
        }),
        ..TestSuite::empty(&format!("{id}:public:none"))
    };
    Ok(Problem {
        public: PublicProblem {
            id,
            dataset: format.to_owned(),
            prompt: r.prompt.clone(),
            language,
            interface: Interface::Function {
                entry_point: r.entry_point.clone(),
            },
            public_tests: Arc::new(public),
            completion_prefix: r.prompt.clone(),
        },
        hidden: HiddenTests(Arc::new(hidden)),
        reference: None,
    })
}

/// The function a HumanEval-X declaration declares: C++ `type name(...) {`, JavaScript
/// `const name = (...) => {` or `function name(...) {`.
fn entry_of(language: Language, declaration: &str) -> Option<String> {
    let line = declaration.lines().rev().find(|l| l.contains('('))?;
    let name = match language {
        Language::JavaScript => {
            let t = line.trim_start();
            let rest = ["const ", "let ", "var ", "function "]
                .iter()
                .find_map(|k| t.strip_prefix(k))?;
            rest.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                .next()?
        }
        Language::Python => line
            .trim_start()
            .strip_prefix("def ")?
            .split('(')
            .next()?
            .trim(),
        _ => line.split('(').next()?.split_whitespace().last()?,
    };
    let name = name.trim_start_matches(['*', '&']);
    (!name.is_empty()).then(|| name.to_owned())
}

/// Per-test CPU limits from the reference solution, as `EvalPlus` scales them: each test of a problem
/// in `which` gets `max(floor, factor x the reference's slowest test)`. A problem whose reference
/// fails its own tests keeps the default limit, with a note.
fn scale_stdio_limits(
    problems: &mut [Problem],
    which: &[usize],
    executor: &Executor,
    options: &PrepareOptions,
    notes: &mut Vec<PrepNote>,
) {
    let jobs: Vec<Job> = which
        .iter()
        .map(|&i| {
            let p = &problems[i];
            let mut suite = (*p.hidden.0).clone();
            suite.call_cpu_ms = vec![60_000; suite.tests.len()];
            Job::suite(
                p.reference
                    .as_ref()
                    .map_or("", |r| r.program.as_str())
                    .into(),
                "",
                Arc::new(suite),
                reference_limits(),
            )
        })
        .collect();
    let mut reports: Vec<Option<codeloop_types::ExecReport>> = vec![None; jobs.len()];
    executor.run_all(jobs, |i, r| reports[i] = Some(r));
    for (&i, report) in which.iter().zip(reports) {
        let Some(report) = report else { continue };
        let p = &mut problems[i];
        if report.outcome != codeloop_types::Outcome::Passed {
            notes.push(PrepNote {
                problem: p.id().clone(),
                message: format!(
                    "the reference fails its own tests ({}); default time limits kept",
                    report.verdict.name()
                ),
            });
            continue;
        }
        let slowest = report.tests.iter().map(|t| t.cpu_ms).fold(0.0, f64::max);
        let limit = (options.reference_factor * slowest)
            .max(f64::from(options.call_cpu_floor_ms))
            .min(60_000.0) as u32;
        for suite in [&mut p.public.public_tests, &mut p.hidden.0] {
            let s = Arc::make_mut(suite);
            s.call_cpu_ms = vec![limit; s.tests.len()];
        }
    }
}

fn cache_path(
    dir: &Path,
    dataset: &Dataset,
    executor: &Executor,
    options: &PrepareOptions,
) -> PathBuf {
    let mut h = Sha256::new();
    h.update(dataset.sha256.as_bytes());
    h.update(dataset.format.to_string().as_bytes());
    h.update(executor.interpreter().version.as_bytes());
    h.update(
        serde_json::to_string(options)
            .unwrap_or_default()
            .as_bytes(),
    );
    for source in codeloop_sandbox::runtime_sources() {
        h.update(source.as_bytes());
    }
    // Program-test suites are what the splitter makes of the test code.
    for source in crate::split::SOURCES {
        h.update(source.as_bytes());
    }
    let digest = h.finalize();
    let short: String = digest.iter().take(12).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    dir.join("prepared").join(format!(
        "{}-v{PREPARED_VERSION}-{short}.json.zst",
        dataset.format.to_string().replace('+', "plus")
    ))
}

fn reference_limits() -> Limits {
    Limits {
        cpu_ms: 600_000,
        wall_ms: 1_200_000,
        memory_mib: Some(4096),
        output_bytes: 1 << 20,
        ..Limits::default()
    }
}

/// A judge reply for problem `id`: a request the judge refused fails the problem with its message.
fn ask<T>(id: &str, reply: Result<T, SandboxError>) -> Result<T, EngineError> {
    reply.map_err(|e| match e {
        SandboxError::Judge { message, .. } => EngineError::Prepare {
            problem: id.to_owned(),
            message,
        },
        e => e.into(),
    })
}

fn doc_plan(
    judge: &mut PythonJudge,
    id: &str,
    prompt: &str,
    entry: &str,
    atol: f64,
) -> Result<Plan, EngineError> {
    let calls = ask(id, judge.doc_calls(prompt, entry))?.calls;
    let n = calls.len();
    Ok(Plan::Values {
        shown: calls.iter().map(|c| c.src.clone()).collect(),
        inputs: calls.into_iter().map(|c| c.args).collect(),
        atol,
        special: None,
        group_sizes: vec![("examples", n)],
    })
}

fn inputs_plan(
    judge: &mut PythonJudge,
    id: &str,
    entry: &str,
    groups: &[(&'static str, &str)],
    atol: f64,
) -> Result<Plan, EngineError> {
    // MBPP+ stores tuples as lists; the judge rebuilds the argument types per task number.
    let mbpp_task: Option<u64> = id.strip_prefix("Mbpp/").and_then(|n| n.parse().ok());
    let mut inputs = Vec::new();
    let mut shown = Vec::new();
    let mut group_sizes = Vec::new();
    for (name, raw) in groups {
        let reply = ask(id, judge.inputs_to_wire(raw, mbpp_task))?;
        group_sizes.push((*name, reply.inputs.len()));
        inputs.extend(reply.inputs);
        shown.extend(reply.shown.iter().map(|s| format!("{entry}({s})")));
    }
    Ok(Plan::Values {
        inputs,
        shown,
        atol,
        special: special_oracle(id, entry),
        group_sizes,
    })
}

/// The tasks `EvalPlus` judges with a special oracle instead of equality.
fn special_oracle(id: &str, entry: &str) -> Option<&'static str> {
    let mbpp = id.starts_with("Mbpp/");
    match entry {
        "find_zero" if !mbpp => Some("find_zero"),
        "are_equivalent" if mbpp => Some("any"),
        "sum_div" if mbpp => Some("zero_ok"),
        "check_str" | "text_match_three" | "text_starta_endb" if mbpp => Some("not_none"),
        _ => None,
    }
}

fn record_plan(
    judge: &mut PythonJudge,
    id: &str,
    request: &RecordRequest<'_>,
    notes: &mut Vec<PrepNote>,
) -> Result<Plan, EngineError> {
    let recorded = ask(id, judge.record(request))?;
    for failure in &recorded.failures {
        notes.push(PrepNote {
            problem: ProblemId(id.to_owned()),
            message: format!(
                "the reference fails test statement {}: {}",
                failure.index, failure.error
            ),
        });
    }
    let mut reply = serde_json::to_value(recorded).map_err(|e| EngineError::Prepare {
        problem: id.to_owned(),
        message: format!("unwritable recording: {e}"),
    })?;
    reply["program"] = request.program().into();
    reply["entry_point"] = request.entry_point().into();
    Ok(Plan::Replay(reply))
}

/// MBPP asserts as statements; other lines of the text (imports) go to the prelude.
fn split_asserts(lines: &[String]) -> (String, Vec<String>) {
    let mut prelude = String::new();
    let mut stmts = Vec::new();
    for line in lines.iter().flat_map(|l| l.lines()) {
        if line.trim_start().starts_with("assert") {
            stmts.push(line.trim().to_owned());
        } else if !line.trim().is_empty() {
            prelude.push_str(line);
            prelude.push('\n');
        }
    }
    (prelude, stmts)
}

fn draft(
    task: &RawTask,
    format: Format,
    judge: &mut PythonJudge,
    notes: &mut Vec<PrepNote>,
) -> Result<Draft, EngineError> {
    let id = task.task_id();
    let dataset = format.to_string();
    let public_problem = |prompt: String, entry: &str, prefix: String| PublicProblem {
        id: ProblemId(id.clone()),
        dataset: dataset.clone(),
        prompt,
        language: Language::Python,
        interface: Interface::Function {
            entry_point: entry.to_owned(),
        },
        public_tests: Arc::new(TestSuite::empty("")),
        completion_prefix: prefix,
    };
    match task {
        // HumanEval-X Python is HumanEval with the call of `check` written into the test: the
        // judge makes that call itself.
        RawTask::HumanEvalX(r) if r.language() == "Python" => {
            let entry =
                entry_of(Language::Python, &r.declaration).ok_or_else(|| EngineError::Prepare {
                    problem: id.clone(),
                    message: "field `declaration` holds no function signature".to_owned(),
                })?;
            let test: Vec<&str> = r
                .test
                .lines()
                .filter(|l| !l.trim_start().starts_with("check("))
                .collect();
            let converted = codeloop_data::RawTask::HumanEval(codeloop_data::HumanEvalRecord {
                task_id: r.task_id.clone(),
                prompt: r.prompt.clone(),
                entry_point: entry,
                canonical_solution: r.canonical_solution.clone(),
                test: test.join("\n"),
            });
            draft(&converted, Format::HumanEval, judge, notes)
        }
        RawTask::Stdio(_) | RawTask::HumanEvalX(_) | RawTask::MultiplE(_) => {
            Err(EngineError::Prepare {
                problem: id,
                message: "a record of another layout in a function-call dataset".to_owned(),
            })
        }
        RawTask::HumanEval(r) => {
            let program = format!("{}{}", r.prompt, r.canonical_solution);
            Ok(Draft {
                public: public_problem(r.prompt.clone(), &r.entry_point, r.prompt.clone()),
                public_plan: doc_plan(judge, &id, &r.prompt, &r.entry_point, 0.0)?,
                hidden_plan: record_plan(
                    judge,
                    &id,
                    &RecordRequest::Check {
                        test: &r.test,
                        entry_point: &r.entry_point,
                        program: &program,
                    },
                    notes,
                )?,
                reference: Reference { program },
                entry_point: r.entry_point.clone(),
            })
        }
        RawTask::HumanEvalPlus(r) => {
            let program = format!("{}{}", r.prompt, r.canonical_solution);
            Ok(Draft {
                public: public_problem(r.prompt.clone(), &r.entry_point, r.prompt.clone()),
                public_plan: doc_plan(judge, &id, &r.prompt, &r.entry_point, r.atol)?,
                hidden_plan: inputs_plan(
                    judge,
                    &id,
                    &r.entry_point,
                    &[("base", r.base_input.get()), ("plus", r.plus_input.get())],
                    r.atol,
                )?,
                reference: Reference { program },
                entry_point: r.entry_point.clone(),
            })
        }
        RawTask::Mbpp(r) => {
            let first = r.test_list.first().cloned().unwrap_or_default();
            let entry = mbpp_entry(judge, &id, &r.code, &first)?;
            let prompt = format!("{}\nYour code should pass this test:\n{first}\n", r.text);
            let all: Vec<String> = r
                .test_list
                .iter()
                .chain(&r.challenge_test_list)
                .cloned()
                .collect();
            mbpp_draft(
                judge,
                &id,
                public_problem(prompt, &entry, String::new()),
                &r.code,
                &entry,
                &r.test_setup_code,
                &r.test_list[..1.min(r.test_list.len())],
                &all,
                notes,
            )
        }
        RawTask::MbppSanitized(r) => {
            let first = r.test_list.first().cloned().unwrap_or_default();
            let entry = mbpp_entry(judge, &id, &r.code, &first)?;
            let prompt = format!("{}\nYour code should pass this test:\n{first}\n", r.prompt);
            let setup = r.test_imports.join("\n");
            mbpp_draft(
                judge,
                &id,
                public_problem(prompt, &entry, String::new()),
                &r.code,
                &entry,
                &setup,
                &r.test_list[..1.min(r.test_list.len())],
                &r.test_list,
                notes,
            )
        }
        RawTask::MbppPlus(r) => {
            let (prelude, stmts) = split_asserts(std::slice::from_ref(&r.assertion));
            // Some MBPP+ assertions use `math.isclose` without importing math (task 120).
            let prelude = format!("import math\n{prelude}");
            let public_plan = record_plan(
                judge,
                &id,
                &RecordRequest::Asserts {
                    statements: &stmts[..1.min(stmts.len())],
                    prelude: &prelude,
                    entry_point: &r.entry_point,
                    program: &r.canonical_solution,
                },
                notes,
            )?;
            Ok(Draft {
                public: public_problem(r.prompt.clone(), &r.entry_point, String::new()),
                public_plan,
                hidden_plan: inputs_plan(
                    judge,
                    &id,
                    &r.entry_point,
                    &[("base", r.base_input.get()), ("plus", r.plus_input.get())],
                    r.atol,
                )?,
                reference: Reference {
                    program: r.canonical_solution.clone(),
                },
                entry_point: r.entry_point.clone(),
            })
        }
    }
}

fn mbpp_entry(
    judge: &mut PythonJudge,
    id: &str,
    code: &str,
    first_test: &str,
) -> Result<String, EngineError> {
    ask(id, judge.mbpp_entry(code, first_test))
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site per MBPP flavour; a struct would only rename them"
)]
fn mbpp_draft(
    judge: &mut PythonJudge,
    id: &str,
    public: PublicProblem,
    code: &str,
    entry: &str,
    setup: &str,
    public_tests: &[String],
    hidden_tests: &[String],
    notes: &mut Vec<PrepNote>,
) -> Result<Draft, EngineError> {
    let (p_prelude, p_stmts) = split_asserts(public_tests);
    let (h_prelude, h_stmts) = split_asserts(hidden_tests);
    let mut record = |prelude: String, statements: &[String]| {
        let prelude = format!("{setup}\n{prelude}");
        let request = RecordRequest::Asserts {
            statements,
            prelude: &prelude,
            entry_point: entry,
            program: code,
        };
        record_plan(judge, id, &request, notes)
    };
    Ok(Draft {
        public,
        public_plan: record(p_prelude, &p_stmts)?,
        hidden_plan: record(h_prelude, &h_stmts)?,
        reference: Reference {
            program: code.to_owned(),
        },
        entry_point: entry.to_owned(),
    })
}

/// A suite's content key: its problem, calls, judge spec and the expected values its tests hold.
fn suite_key<'a>(
    id: &ProblemId,
    which: &str,
    calls: &[Call],
    spec: &str,
    expected: impl Iterator<Item = &'a str>,
) -> String {
    let mut h = Sha256::new();
    h.update(id.0.as_bytes());
    h.update(which.as_bytes());
    for c in calls {
        h.update(serde_json::to_string(c).unwrap_or_default().as_bytes());
    }
    h.update(spec.as_bytes());
    for e in expected {
        h.update(e.as_bytes());
    }
    let d = h.finalize();
    d.iter()
        .take(16)
        .fold(format!("{id}:{which}:"), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Whether a wire value can differ from itself in the judge's comparison: a NaN (unequal to
/// itself) or an opaque object (equal to nothing).
fn inexact_wire(wire: &str) -> bool {
    wire.contains("{\"f\":\"nan\"}") || wire.contains("{\"o\":")
}

fn build_suite(
    id: &ProblemId,
    which: &str,
    plan: Plan,
    reference: Option<codeloop_types::ExecReport>,
    options: &PrepareOptions,
    notes: &mut Vec<PrepNote>,
) -> Result<TestSuite, EngineError> {
    let floor = options.call_cpu_floor_ms;
    match plan {
        Plan::Values {
            inputs,
            shown,
            atol,
            special,
            group_sizes,
        } => {
            if inputs.is_empty() {
                return Ok(TestSuite::empty(&format!("{id}:{which}:empty")));
            }
            let report = reference.ok_or_else(|| EngineError::Prepare {
                problem: id.0.clone(),
                message: "the reference solution did not run".to_owned(),
            })?;
            let verdict = report.verdict.name();
            let returned = report.returned.unwrap_or_default();
            if returned.iter().all(Option::is_none) {
                return Err(EngineError::Prepare {
                    problem: id.0.clone(),
                    message: format!("the reference solution returned nothing: {verdict}"),
                });
            }
            // The reference's run sent each value's repr with it (cut at 2,000 characters).
            let reprs: Vec<Option<String>> = returned
                .iter()
                .map(|r| r.as_ref().and_then(|r| r.repr.clone()))
                .collect();
            // Oracles that decide from more than the expected value: a byte-identical value can
            // still fail them (`find_zero` checks the root itself).
            let exact = matches!(special, None | Some("any" | "not_none" | "zero_ok"));
            let mut calls = Vec::new();
            let mut cpu = Vec::new();
            let mut tests = Vec::new();
            let mut groups = Vec::new();
            let mut index = 0usize;
            let mut dropped = 0usize;
            for (name, size) in group_sizes {
                let start = tests.len() as u32;
                for _ in 0..size {
                    let i = index;
                    index += 1;
                    let Some(Some(ret)) = returned.get(i) else {
                        dropped += 1;
                        continue;
                    };
                    let t = tests.len() as u32;
                    calls.push(Call::Args(inputs[i].to_string()));
                    let limit = (ret.cpu_ms * options.reference_factor).ceil() as u32;
                    cpu.push(limit.max(floor));
                    tests.push(TestCase {
                        id: TestId(t),
                        calls: (t, t + 1),
                        input: shown[i].clone(),
                        expected: reprs.get(i).cloned().flatten(),
                        expect: Expect::Value {
                            exact: exact && !inexact_wire(&ret.wire),
                            digest: (ret.wire.len() > codeloop_sandbox::DIGEST_OVER)
                                .then(|| codeloop_sandbox::wire_digest(&ret.wire)),
                            wire: ret.wire.clone(),
                        },
                    });
                }
                groups.push((name.to_owned(), start, tests.len() as u32));
            }
            if dropped > 0 {
                notes.push(PrepNote {
                    problem: id.clone(),
                    message: format!(
                        "{dropped} {which} input(s) dropped: the reference solution fails on them"
                    ),
                });
            }
            // The expected values live in the tests alone: the judge gets them with each request.
            let spec = json!({"atol": atol, "special": special}).to_string();
            let expected = tests.iter().filter_map(|t| match &t.expect {
                Expect::Value { wire, .. } => Some(wire.as_str()),
                _ => None,
            });
            Ok(TestSuite {
                key: suite_key(id, which, &calls, &spec, expected),
                calls,
                call_cpu_ms: cpu,
                tests,
                judge_spec: spec,
                groups,
                stdio: None,
                checker: None,
                program_test: None,
            })
        }
        Plan::Replay(recorded) => {
            let mut calls = Vec::new();
            let mut cpu = Vec::new();
            let mut tests = Vec::new();
            let mut spec_tests = Vec::new();
            let prelude = recorded["prelude"].as_str().unwrap_or_default();
            let bind = recorded["bind"].as_str().unwrap_or_default();
            let entry = recorded["entry_point"].as_str().unwrap_or_default();
            for t in recorded["tests"].as_array().into_iter().flatten() {
                let tid = tests.len() as u32;
                let start = calls.len() as u32;
                let src = t["src"].as_str().unwrap_or_default();
                let inline = t["inline"].as_bool().unwrap_or(false);
                let ref_cpu: Vec<f64> = t["cpu_ms"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_f64)
                    .collect();
                let limit = |ms: f64| ((ms * options.reference_factor).ceil() as u32).max(floor);
                if inline {
                    calls.push(Call::Inline(format!("{prelude}\n{bind} = {entry}\n{src}")));
                    cpu.push(limit(ref_cpu.iter().sum()));
                } else {
                    for (j, c) in t["calls"].as_array().into_iter().flatten().enumerate() {
                        calls.push(Call::Args(c.to_string()));
                        cpu.push(limit(ref_cpu.get(j).copied().unwrap_or(0.0)));
                    }
                }
                let outputs: Vec<&str> = t["outputs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                tests.push(TestCase {
                    id: TestId(tid),
                    calls: (start, calls.len() as u32),
                    input: src.to_owned(),
                    expected: (!outputs.is_empty() && !inline).then(|| outputs.join(", ")),
                    expect: if inline {
                        Expect::Inline
                    } else {
                        Expect::Replay
                    },
                });
                spec_tests.push(json!({"stmt": t["index"], "calls": if inline { json!([]) } else { t["calls"].clone() }}));
            }
            let spec = json!({
                "replay": {
                    "program": recorded["program"],
                    "prelude": prelude,
                    "statements": recorded["statements"],
                    "bind": bind,
                },
                "tests": spec_tests,
            })
            .to_string();
            Ok(TestSuite {
                key: suite_key(id, which, &calls, &spec, std::iter::empty()),
                calls,
                call_cpu_ms: cpu,
                tests,
                judge_spec: spec,
                groups: Vec::new(),
                stdio: None,
                checker: None,
                program_test: None,
            })
        }
    }
}
