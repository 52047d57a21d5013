//! The normalized problem model: statement, interface, public tests, hidden tests.
//!
//! Hidden tests live in [`HiddenTests`], a field of [`Problem`] but not of [`PublicProblem`]: a strategy
//! is handed a `&PublicProblem`, so it cannot put a hidden test into a prompt (the compiler says no).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A problem's id within its dataset, e.g. `HumanEval/0` or `Mbpp/2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProblemId(pub String);

impl fmt::Display for ProblemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A test case's index within its suite; feedback names failing tests by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TestId(pub u32);

/// The language a program is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Python 3.
    Python,
    /// C++ (g++, C++17).
    Cpp,
    /// JavaScript (Node.js).
    #[serde(rename = "javascript")]
    JavaScript,
    /// Rust (rustc, edition 2021).
    Rust,
    /// Java (javac and java, from the JDK).
    Java,
    /// Go (`go test`, GOPATH mode, testify from Debian's package).
    Go,
}

impl Language {
    /// The name as datasets, fences and reports write it (`python`, `cpp`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Cpp => "cpp",
            Language::JavaScript => "javascript",
            Language::Rust => "rust",
            Language::Java => "java",
            Language::Go => "go",
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A test that is a program: trusted test code (a `main` with asserts, as HumanEval-X writes them)
/// compiled together with the solution; the single test passes when that program runs to its end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramTest {
    /// The language of solution and test.
    pub language: Language,
    /// The test code, put after the solution.
    pub code: String,
    /// Libraries the program links from the executor's library set (HumanEval-X Rust: the crates
    /// `rand`, `regex` and `md5`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<String>,
}

/// How a program is exercised by its tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Interface {
    /// The tests call a function by name with arguments and look at the returned value.
    Function {
        /// The function's name.
        entry_point: String,
    },
    /// The tests feed standard input and read standard output.
    Stdio,
}

/// One call of the program under test: the wire-encoded argument list, or (for an inline test) a
/// trusted statement that runs inside the program's namespace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Call {
    /// Wire JSON text of the argument list.
    Args(String),
    /// A test statement run in the program's namespace; used only when the arguments have no value
    /// encoding (instances of classes the program defines). Its expected values do enter the sandbox.
    Inline(String),
}

/// What a test case expects of the values its calls return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Expect {
    /// The single call's value equals this wire value (with the suite's float tolerance), as the
    /// judge decides; the judge gets the expected value with each request and holds none.
    Value {
        /// Wire JSON text of the expected value (the only copy a prepared suite holds).
        wire: String,
        /// A returned wire identical to `wire`, byte for byte, passes without asking the judge:
        /// true when the judge's comparison passes every value equal to itself (no NaN, no opaque
        /// object, no oracle that ignores the expected value).
        #[serde(default)]
        exact: bool,
        /// The SHA-256 of `wire` (hex), kept for values long enough to travel as their digest
        /// (`codeloop_sandbox::DIGEST_OVER`); computed when needed otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digest: Option<String>,
    },
    /// The recorded test statement, replayed by the judge with the returned values, must hold.
    Replay,
    /// The inline statement must run without raising.
    Inline,
    /// (Program-test suites) the test program runs to its end: its trusted `main` reports, with the
    /// run's framing, that the test code returned. The weakest form, for test code whose checks
    /// could not be located.
    Program,
    /// (Program-test suites) the value the test's hook reports (the call's returned value, in the
    /// canonical value form, see `codeloop_sandbox::values`) equals `expected` under `compare`;
    /// the comparison happens outside the sandbox, and the expected value never enters it.
    Judged {
        /// The expected value in the canonical value form (JSON text).
        expected: String,
        /// How the two are compared, as the original test compared them.
        compare: ValueCompare,
    },
    /// (Program-test suites) the test's own check, computed inside the sandbox and reported with
    /// the run's framing, must hold: the fallback for asserts that are not a call compared with a
    /// constant (weaker: the solution shares the process that computes it).
    Check,
    /// (Stdio suites) the program's standard output, given the test's `input` on standard input,
    /// matches the test's `expected` text under the suite's [`OutputCompare`].
    Stdout,
}

/// How a judged value is compared with the expected one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ValueCompare {
    /// Structural equality: numbers by value (an integer equals the float of the same value),
    /// strings, lists in order, maps and sets regardless of order.
    Equal,
    /// As [`ValueCompare::Equal`], but numbers, also inside lists and maps, match within
    /// `tolerance` of each other (the test's `abs(got - expected) < tolerance`, or its comparison
    /// helper's).
    Within {
        /// The absolute tolerance, exclusive.
        tolerance: f64,
    },
    /// JavaScript's `==`: as [`ValueCompare::Equal`], and a string equals the number it reads as,
    /// a boolean the number 1 or 0, `null` equals `undefined`.
    Loose,
}

/// How a stdio test's output is compared with the expected text.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum OutputCompare {
    /// Byte for byte, except that a trailing newline difference is forgiven.
    Exact,
    /// The same whitespace-separated tokens (APPS and contest judges' default).
    Tokens,
    /// Tokens, numeric ones equal within `abs` or `rel` tolerance.
    Float {
        /// Absolute tolerance.
        abs: f64,
        /// Relative tolerance.
        rel: f64,
    },
    /// Tokens, compared without regard to case.
    CaseInsensitive,
}

/// One individually addressable test case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    /// Index within the suite.
    pub id: TestId,
    /// The calls this test makes: indices `calls.0..calls.1` into [`TestSuite::calls`].
    pub calls: (u32, u32),
    /// How the test reads to a person, e.g. `add(2, 3)` or the assert statement.
    pub input: String,
    /// The expected value as a person reads it, where there is one.
    pub expected: Option<String>,
    /// How the returned values are judged.
    pub expect: Expect,
}

/// A prepared test suite: the calls to make in the sandbox, and how to judge what they return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestSuite {
    /// Content hash of the suite; the judge caches loaded suites under it.
    pub key: String,
    /// The calls, in order.
    pub calls: Vec<Call>,
    /// CPU-time limit of each call in milliseconds (same length as `calls`).
    pub call_cpu_ms: Vec<u32>,
    /// The test cases over those calls.
    pub tests: Vec<TestCase>,
    /// The judge's spec for this suite (JSON text, opaque to everyone but the judge).
    pub judge_spec: String,
    /// Named ranges of tests, e.g. `base` and `plus` for the `EvalPlus` datasets: `(name, start, end)`.
    #[serde(default)]
    pub groups: Vec<(String, u32, u32)>,
    /// For stdio suites: how outputs are compared. Each test then runs the program afresh with its
    /// `input` on standard input, under the CPU limit `call_cpu_ms[test]`; `calls` is empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdio: Option<OutputCompare>,
    /// For stdio suites: a checker program (Python) that decides each test instead of the comparison
    /// mode, for problems with several valid answers. It runs in the sandbox, reads
    /// `{"input", "expected", "output"}` as JSON on standard input, and accepts by exiting 0 (1:
    /// wrong answer, its output the reason; anything else: the checker failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checker: Option<String>,
    /// For program-test suites (compiled languages): the test program; the suite has one test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program_test: Option<ProgramTest>,
}

impl TestSuite {
    /// A suite with no tests.
    #[must_use]
    pub fn empty(key: &str) -> Self {
        TestSuite {
            key: key.to_owned(),
            calls: Vec::new(),
            call_cpu_ms: Vec::new(),
            tests: Vec::new(),
            judge_spec: "{\"tests\":[]}".to_owned(),
            groups: Vec::new(),
            stdio: None,
            checker: None,
            program_test: None,
        }
    }

    /// Whether the suite has no test.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tests.is_empty()
    }
}

/// A trusted reference solution (the dataset's canonical solution), as a whole program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// The full program text.
    pub program: String,
}

/// What a strategy may see of a problem: everything but the hidden tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicProblem {
    /// The problem's id.
    pub id: ProblemId,
    /// The dataset it came from, e.g. `humaneval`.
    pub dataset: String,
    /// The statement shown to a model (for `HumanEval`: signature plus docstring).
    pub prompt: String,
    /// The language of solutions.
    pub language: Language,
    /// How tests exercise a solution.
    pub interface: Interface,
    /// Tests a strategy may run and show in feedback.
    pub public_tests: Arc<TestSuite>,
    /// Code the harness puts in front of a completion to make a program (`HumanEval`: the prompt).
    pub completion_prefix: String,
}

/// The hidden tests of a problem, reachable only through [`Problem`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HiddenTests(pub Arc<TestSuite>);

/// A normalized, immutable problem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// The part a strategy may see.
    pub public: PublicProblem,
    /// The tests only the evaluator runs.
    pub hidden: HiddenTests,
    /// The dataset's canonical solution, when it has one.
    pub reference: Option<Reference>,
}

impl Problem {
    /// The problem's id.
    #[must_use]
    pub fn id(&self) -> &ProblemId {
        &self.public.id
    }

    /// The function name tests call, for function-call problems.
    #[must_use]
    pub fn entry_point(&self) -> Option<&str> {
        match &self.public.interface {
            Interface::Function { entry_point } => Some(entry_point),
            Interface::Stdio => None,
        }
    }
}
