//! Program-test suites (HumanEval-X in compiled languages, MultiPL-E): each suite is a test program
//! compiled with the solution, its asserts split into judged values where they can be (see
//! [`crate::split`]).

use std::sync::Arc;

use codeloop_data::{Dataset, RawTask};
use codeloop_types::{
    Expect, HiddenTests, Interface, Language, Problem, ProblemId, ProgramTest, PublicProblem,
    Reference, TestCase, TestId, TestSuite,
};

use super::dataset::{NoteKind, PrepNote, PreparedDataset};
use super::suite::suite_key;
use crate::errors::EngineError;

/// HumanEval-X: each suite is one test program (the record's `example_test` for public, `test` for
/// hidden) compiled with the solution. The reference is `declaration` + `canonical_solution`, and a
/// completion goes after `declaration` (as `CodeGeeX` evaluates). The test code's asserts are split
/// into judged values where they can be (see [`crate::split`]). MultiPL-E's records take the same
/// path. A language codeloop cannot run (none of HumanEval-X's today) is refused with a clear error.
pub(super) fn prepare_program_tests(dataset: &Dataset) -> Result<PreparedDataset, EngineError> {
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
                        r.language_prefix()
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
            notes.push(PrepNote::new(
                &id,
                NoteKind::NoPublicTest,
                "no public test (the record's example_test is empty)",
            ));
            no_test(&id, language, libraries.clone())
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
    Ok(PreparedDataset::new(dataset, problems, notes))
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

/// The public suite of a problem with no public test: it only checks that the program compiles and
/// starts.
fn no_test(id: &ProblemId, language: Language, libraries: Vec<String>) -> TestSuite {
    TestSuite {
        program_test: Some(ProgramTest {
            language,
            code: String::new(),
            libraries,
        }),
        ..TestSuite::empty(&format!("{id}:public:none"))
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
    let public = no_test(&id, language, Vec::new());
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
pub(super) fn entry_of(language: Language, declaration: &str) -> Option<String> {
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
