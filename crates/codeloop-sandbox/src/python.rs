//! The Python runtime: finding the interpreter, and the worker and judge processes that speak our
//! line-delimited JSON protocol (its messages are the types of [`crate::protocol`]; the other side
//! is `python/worker/` and `python/judge.py`). The Python sources are embedded in the binary:
//! the worker's files are joined, after `wire.py`, into one program, and the judge is `wire.py`,
//! `judge_tests.py` (reading model-written tests) and `judge.py`; each process gets its program whole on its command line (or, compiled once
//! by its interpreter, as marshalled code on its stdin), never from a file on disk.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, LazyLock, Mutex};

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::errors::SandboxError;
use crate::linux;
use crate::protocol::PROTOCOL_VERSION;
use crate::protocol::judge::{
    Ack, ByTest, DocCalls, Expected, Hello, JudgeReply, JudgeRequest, Judgement, MbppEntry,
    ParsedTests, RecordRequest, Recorded, WireInputs,
};
use crate::protocol::worker::{STOP_LINE, StreamLine};

/// The wire encoding both sides share; put in front of each program below.
const WIRE_SRC: &str = include_str!("../python/wire.py");
/// The protocol version and request checks both sides share; put in front of each program below,
/// after the wire encoding.
const PROTOCOL_SRC: &str = include_str!("../python/protocol.py");

/// The worker's files (`python/worker/`), in the order they make one program (see `base.py`).
const WORKER_PARTS: [&str; 6] = [
    include_str!("../python/worker/base.py"),
    include_str!("../python/worker/hardening.py"),
    include_str!("../python/worker/driver.py"),
    include_str!("../python/worker/tracer.py"),
    include_str!("../python/worker/supervisor.py"),
    include_str!("../python/worker/serve.py"),
];

/// Source of the untrusted-side worker (zygote, fresh runner and driver), wire encoding included:
/// its files joined into one program, embedded in the binary and handed to the interpreter whole
/// (as `-c` source or marshalled code), so that nothing is imported from a directory a run could
/// write.
pub(crate) static WORKER_SRC: LazyLock<String> = LazyLock::new(|| {
    [WIRE_SRC, PROTOCOL_SRC]
        .into_iter()
        .chain(WORKER_PARTS)
        .collect::<Vec<_>>()
        .join("\n")
});
/// Source of the trusted judge, wire encoding and protocol checks included.
pub(crate) static JUDGE_SRC: LazyLock<String> = LazyLock::new(|| {
    [
        WIRE_SRC,
        PROTOCOL_SRC,
        include_str!("../python/judge_tests.py"),
        include_str!("../python/judge.py"),
    ]
    .join("\n")
});

/// A resolved Python interpreter: the real binary, never a shim.
#[derive(Debug, Clone)]
pub struct Interpreter {
    /// Absolute path of the real executable.
    pub path: PathBuf,
    /// Its version, e.g. `3.11.2`.
    pub version: String,
    /// Directory of its standard library.
    pub stdlib: PathBuf,
}

impl Interpreter {
    /// Resolves `requested` (or, when `None`, `/usr/bin/python3` and then `python3` on `PATH`) to the
    /// real interpreter by asking it for `sys.executable` once; shims (pyenv) are resolved away here.
    pub fn resolve(requested: Option<&Path>) -> Result<Self, SandboxError> {
        let candidates: Vec<PathBuf> = match requested {
            Some(p) => vec![p.to_path_buf()],
            None => vec![PathBuf::from("/usr/bin/python3"), PathBuf::from("python3")],
        };
        for candidate in &candidates {
            let Ok(out) = Command::new(candidate)
                .args([
                    "-I",
                    "-S",
                    "-c",
                    "import sys, os; print(sys.executable); print(sys.version.split()[0]); print(os.path.dirname(os.__file__))",
                ])
                .stdin(Stdio::null())
                .stderr(Stdio::null())
                .output()
            else {
                continue;
            };
            if !out.status.success() {
                continue;
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let (Some(exe), Some(version), Some(stdlib)) =
                (lines.next(), lines.next(), lines.next())
            else {
                continue;
            };
            if exe.is_empty() {
                continue;
            }
            return Ok(Interpreter {
                path: PathBuf::from(exe),
                version: version.to_owned(),
                stdlib: PathBuf::from(stdlib),
            });
        }
        Err(SandboxError::NoInterpreter {
            tried: candidates
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Whether an unprivileged uid can run this interpreter: its binary and standard library must be
    /// reachable by "others" (a pyenv build under `/root` is not).
    #[must_use]
    pub fn usable_by_others(&self) -> bool {
        fn traversable(path: &Path) -> bool {
            path.ancestors().all(|dir| {
                std::fs::metadata(dir)
                    .is_ok_and(|m| !m.is_dir() || m.permissions().mode() & 0o001 != 0)
            })
        }
        let readable =
            |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o004 != 0);
        traversable(&self.path)
            && readable(&self.path)
            && traversable(&self.stdlib.join("os.py"))
            && readable(&self.stdlib.join("os.py"))
    }

    /// `source` compiled by this interpreter into a marshalled code object, made once per
    /// interpreter and source: the processes below start from it instead of compiling their 40 KB
    /// of source every time (5 ms of the ~20 a fresh runner takes to start here). `None` if this
    /// interpreter cannot make it; they then start from the source.
    pub(crate) fn precompiled(&self, source: &'static str) -> Option<Arc<[u8]>> {
        type Cache = Mutex<HashMap<(PathBuf, usize), Option<Arc<[u8]>>>>;
        static CACHE: LazyLock<Cache> = LazyLock::new(Cache::default);
        let key = (self.path.clone(), source.as_ptr() as usize);
        let mut cache = CACHE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .entry(key)
            .or_insert_with(|| {
                let mut child = self
                    .command_with(
                        "import marshal, sys\nsys.stdout.buffer.write(marshal.dumps(compile(sys.stdin.read(), '<string>', 'exec')))",
                        &[],
                    )
                    .stderr(Stdio::null())
                    .spawn()
                    .ok()?;
                let mut stdin = child.stdin.take()?;
                let writer = std::thread::spawn(move || stdin.write_all(source.as_bytes()));
                let out = child.wait_with_output().ok()?;
                writer.join().ok()?.ok()?;
                (out.status.success() && !out.stdout.is_empty()).then(|| out.stdout.into())
            })
            .clone()
    }

    /// The command that runs `source` with `args`: from its precompiled code when there is one
    /// (returned: the caller writes it to the process's stdin first), else from the source.
    fn command(&self, source: &'static str, role: &str) -> (Command, Option<Arc<[u8]>>) {
        match self.precompiled(source) {
            Some(code) => (
                self.command_with(LOADER, &[&code.len().to_string(), role]),
                Some(code),
            ),
            None => (self.command_with(source, &[role]), None),
        }
    }

    fn command_with(&self, source: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.path);
        // `-I` would be `-E -P -s`; we keep `-s -S` and clear the environment ourselves instead of
        // `-E`, so that PYTHONHASHSEED can pin string hashing: set iteration order then does not
        // differ between the reference's process and the candidate's (MBPP+ task 769 needs it).
        cmd.args(["-s", "-S", "-c", source])
            .args(args)
            .env_clear()
            // Children of the zygote inherit exactly this environment.
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("PYTHONHASHSEED", "0")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        cmd
    }
}

/// Starts a process from marshalled code: reads exactly as many bytes as its first argument says
/// from stdin (before any request), drops that argument and runs the code as `__main__`, with the
/// bytes at hand as `__codeloop_code__` (a worker hands them on to the fresh interpreters it execs).
const LOADER: &str = "import marshal, os, sys
n = int(sys.argv.pop(1))
b = bytearray()
while len(b) < n:
    c = os.read(0, n - len(b))
    if not c:
        raise SystemExit('codeloop: the code ended early')
    b += c
exec(marshal.loads(b), {'__name__': '__main__', '__codeloop_code__': bytes(b)})
";

/// Where the descriptors a worker is given start (see [`WorkerSetup::fds`]).
pub(crate) const WORKER_FIRST_FD: std::os::fd::RawFd = 10;

/// How a worker (zygote or fresh runner) is started: its view of the machine and its per-run
/// hardening (the JSON object `python/worker/serve.py` reads from its second argument).
#[derive(Clone, Default)]
pub(crate) struct WorkerSetup {
    pub(crate) confinement: Option<std::sync::Arc<linux::Confinement>>,
    pub(crate) config: String,
    /// Descriptors handed to the worker as 10, 11, ... (the slot's cgroup files).
    pub(crate) fds: Vec<std::os::fd::RawFd>,
}

/// A long-lived child speaking one JSON line per request and per reply.
pub(crate) struct LineProcess {
    what: &'static str,
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    line: String,
}

impl LineProcess {
    pub(crate) fn spawn(
        interp: &Interpreter,
        source: &'static str,
        role: &str,
        what: &'static str,
        harden: bool,
        setup: Option<&WorkerSetup>,
    ) -> Result<Self, SandboxError> {
        let (mut cmd, code) = interp.command(source, role);
        if harden {
            linux::harden_worker(&mut cmd);
        }
        if let Some(setup) = setup {
            cmd.arg(&setup.config);
            if let Some(c) = &setup.confinement {
                linux::confine_worker(&mut cmd, c.clone());
            }
            if !setup.fds.is_empty() {
                linux::pass_fds(&mut cmd, setup.fds.clone(), WORKER_FIRST_FD);
            }
        }
        let mut child = cmd.spawn().map_err(|source| SandboxError::Spawn {
            path: interp.path.clone(),
            source,
        })?;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        if let Some(code) = code {
            // If it is larger than a pipe holds, this waits until the process reads it (its first act).
            stdin.write_all(&code).map_err(|e| SandboxError::Worker {
                what,
                message: format!("cannot hand it its code: {e}"),
            })?;
        }
        Ok(LineProcess {
            what,
            child,
            stdin,
            stdout,
            line: String::new(),
        })
    }

    /// Sends one request line (JSON without a newline) and returns the reply line (without its
    /// newline).
    pub(crate) fn request(&mut self, request: &[u8]) -> Result<&str, SandboxError> {
        self.send(request)?;
        self.read_line()
    }

    /// Sends one request line and reads the lines streamed before the reply: each result line
    /// goes to `on_line` and is appended to the returned results (newline-terminated); when
    /// `on_line` says stop, [`STOP_LINE`] is sent once. Returns the results and the reply line.
    pub(crate) fn request_streamed(
        &mut self,
        request: &[u8],
        mut on_line: impl FnMut(&str) -> bool,
    ) -> Result<(String, &str), SandboxError> {
        self.send(request)?;
        let mut results = String::new();
        let mut stopped = false;
        loop {
            self.read_line()?;
            let StreamLine::Result(line) = StreamLine::parse(self.line.trim_end_matches('\n'))
            else {
                break;
            };
            if !stopped && on_line(line) {
                stopped = true;
                let what = self.what;
                self.stdin
                    .write_all(STOP_LINE)
                    .and_then(|()| self.stdin.flush())
                    .map_err(|e| SandboxError::Worker {
                        what,
                        message: format!("cannot write a stop: {e}"),
                    })?;
            }
            results.push_str(line);
            results.push('\n');
        }
        Ok((results, self.line.trim_end_matches('\n')))
    }

    fn send(&mut self, request: &[u8]) -> Result<(), SandboxError> {
        debug_assert!(!request.contains(&b'\n'));
        self.stdin
            .write_all(request)
            .and_then(|()| self.stdin.write_all(b"\n"))
            .and_then(|()| self.stdin.flush())
            .map_err(|e| self.died(format!("cannot write a request: {e}")))
    }

    fn died(&self, message: String) -> SandboxError {
        SandboxError::Worker {
            what: self.what,
            message,
        }
    }

    pub(crate) fn read_line(&mut self) -> Result<&str, SandboxError> {
        self.line.clear();
        match self.stdout.read_line(&mut self.line) {
            Ok(0) => Err(self.died("it exited".to_owned())),
            Ok(_) => Ok(self.line.trim_end_matches('\n')),
            Err(e) => Err(self.died(format!("cannot read its reply: {e}"))),
        }
    }
}

impl Drop for LineProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The trusted judge: prepares suites from trusted test code and compares returned values with
/// Python's semantics. It never runs candidate code. One method per op of its protocol (see
/// `protocol::judge`); an op the judge refused is a [`SandboxError::Judge`] with its message.
pub struct PythonJudge {
    process: LineProcess,
    /// The request being written, kept for its capacity.
    buf: Vec<u8>,
}

impl PythonJudge {
    /// Starts a judge process and checks that it speaks our protocol.
    pub fn start(interp: &Interpreter) -> Result<Self, SandboxError> {
        let process = LineProcess::spawn(interp, &JUDGE_SRC, "judge", "judge", false, None)?;
        let mut judge = PythonJudge {
            process,
            buf: Vec::new(),
        };
        // Fail now, not on the first request, if the interpreter cannot run the judge.
        judge.hello(PROTOCOL_VERSION)?;
        Ok(judge)
    }

    /// The greeting: the judge must speak `protocol`.
    fn hello(&mut self, protocol: u32) -> Result<(), SandboxError> {
        let mismatch = |theirs: Option<u32>| SandboxError::Protocol {
            what: "judge",
            theirs: theirs.unwrap_or(0),
            ours: protocol,
        };
        let reply = self
            .process
            .request(&serde_json::to_vec(&JudgeRequest::Hello { protocol }).expect("a request"))?;
        match serde_json::from_str::<JudgeReply<Hello>>(reply) {
            Ok(JudgeReply::Ok(hello)) if hello.protocol == protocol => Ok(()),
            Ok(JudgeReply::Ok(hello)) => Err(mismatch(Some(hello.protocol))),
            Ok(JudgeReply::Error(e)) if e.protocol.is_some() => Err(mismatch(e.protocol)),
            Ok(JudgeReply::Error(e)) => Err(SandboxError::Judge {
                op: "hello",
                message: e.message,
                reload: false,
            }),
            Err(_) => Err(mismatch(None)),
        }
    }

    fn ask<T: DeserializeOwned>(
        &mut self,
        op: &'static str,
        request: &JudgeRequest<'_>,
    ) -> Result<T, SandboxError> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, request).map_err(|e| SandboxError::Worker {
            what: "judge",
            message: format!("cannot write a `{op}` request: {e}"),
        })?;
        let reply = self.process.request(&self.buf)?;
        judge_reply(op, reply)
    }

    /// Whether the judge still answers.
    pub fn ping(&mut self) -> Result<(), SandboxError> {
        self.ask::<Ack>("ping", &JudgeRequest::Ping).map(drop)
    }

    /// The calls to `entry_point` in the examples of `prompt`'s docstring.
    pub fn doc_calls(&mut self, prompt: &str, entry_point: &str) -> Result<DocCalls, SandboxError> {
        self.ask(
            "doc_calls",
            &JudgeRequest::DocCalls {
                prompt,
                entry_point,
            },
        )
    }

    /// Runs a trusted test script against the reference, recording the calls it makes.
    pub fn record(&mut self, request: &RecordRequest<'_>) -> Result<Recorded, SandboxError> {
        self.ask("record", &JudgeRequest::Record(request))
    }

    /// `EvalPlus` inputs (`raw`: a JSON list of argument lists) as wire values; `mbpp_task`
    /// rebuilds the argument types MBPP+ stores as lists.
    pub fn inputs_to_wire(
        &mut self,
        raw: &str,
        mbpp_task: Option<u64>,
    ) -> Result<WireInputs, SandboxError> {
        self.ask(
            "inputs_to_wire",
            &JudgeRequest::InputsToWire { raw, mbpp_task },
        )
    }

    /// The function of the MBPP reference `code` that its first test (`test`) calls.
    pub fn mbpp_entry(&mut self, code: &str, test: &str) -> Result<String, SandboxError> {
        self.ask::<MbppEntry>("mbpp_entry", &JudgeRequest::MbppEntry { code, test })
            .map(|r| r.entry_point)
    }

    /// The value tests of `entry_point` in the asserts of a model's text `source` (`CodeT`'s and
    /// B4's generated tests), at most `limit` of them (0: all); see [`ParsedTests`] for what is a
    /// test. The text is parsed, never run. A `source` of more than 200,000 characters, or an
    /// `entry_point` that is not a Python name, is a [`SandboxError::Judge`].
    pub fn parse_tests(
        &mut self,
        entry_point: &str,
        source: &str,
        limit: u32,
    ) -> Result<ParsedTests, SandboxError> {
        self.ask(
            "parse_tests",
            &JudgeRequest::ParseTests {
                entry_point,
                source,
                limit,
            },
        )
    }

    /// Prepares the suite with judge spec `spec` (JSON text) for judging under `key`.
    pub fn load(&mut self, key: &str, spec: &str) -> Result<(), SandboxError> {
        let spec: &RawValue = serde_json::from_str(spec).map_err(|e| SandboxError::Judge {
            op: "load",
            message: format!("the judge spec of `{key}` is not JSON: {e}"),
            reload: false,
        })?;
        self.ask::<Ack>("load", &JudgeRequest::Load { key, spec })
            .map(drop)
    }

    /// Forgets the suite `key`.
    pub(crate) fn unload(&mut self, key: &str) -> Result<(), SandboxError> {
        self.ask::<Ack>("unload", &JudgeRequest::Unload { key })
            .map(drop)
    }

    /// Judges `values` (test index, the values its calls returned) against the loaded suite
    /// `key`, whose tests expect `tests`. A suite the judge does not hold is an error with
    /// `reload`.
    pub(crate) fn judge(
        &mut self,
        key: &str,
        values: &[(usize, Vec<&RawValue>)],
        tests: &[(usize, Expected<'_>)],
    ) -> Result<Judgement, SandboxError> {
        self.ask(
            "judge",
            &JudgeRequest::Judge {
                key,
                values: ByTest(values),
                tests: ByTest(tests),
            },
        )
    }
}

/// Reads the judge's reply to an `op` request.
pub(crate) fn judge_reply<T: DeserializeOwned>(
    op: &'static str,
    reply: &str,
) -> Result<T, SandboxError> {
    match serde_json::from_str::<JudgeReply<T>>(reply) {
        Ok(JudgeReply::Ok(payload)) => Ok(payload),
        Ok(JudgeReply::Error(e)) => Err(SandboxError::Judge {
            op,
            message: e.message,
            reload: e.reload,
        }),
        Err(e) => Err(SandboxError::Worker {
            what: "judge",
            message: format!("unreadable reply to `{op}`: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processes_start_from_code_compiled_once_by_their_interpreter() {
        let interp = Interpreter::resolve(None).expect("a python3");
        let code = interp.precompiled(&JUDGE_SRC).expect("marshalled code");
        // The same bytes again, not a second compile.
        assert!(Arc::ptr_eq(
            &code,
            &interp.precompiled(&JUDGE_SRC).expect("cached")
        ));
        // What the interpreter cannot compile has no code: such a process starts from the source.
        assert!(interp.precompiled("def broken(:").is_none());
        // A judge started from them answers.
        let mut judge = PythonJudge::start(&interp).expect("judge starts");
        judge.ping().expect("the judge answers");
    }

    #[test]
    fn a_suite_is_loaded_judged_and_unloaded_and_then_wants_a_reload() {
        let interp = Interpreter::resolve(None).expect("a python3");
        let mut judge = PythonJudge::start(&interp).expect("judge starts");
        judge.load("k", r#"{"atol":0,"special":null}"#).unwrap();
        let raw = |s: &'static str| -> &'static RawValue { serde_json::from_str(s).unwrap() };
        let values = [(0, vec![raw("3")]), (1, vec![raw("[1, 2]")])];
        let tests = [
            (
                0,
                Expected {
                    expected: raw("3"),
                    args: None,
                },
            ),
            (
                1,
                Expected {
                    expected: raw(r#"{"t":[1,2]}"#),
                    args: None,
                },
            ),
        ];
        let judged = judge.judge("k", &values, &tests).unwrap().results;
        assert!(judged[&0].pass);
        // A list is not the tuple expected.
        assert!(!judged[&1].pass);
        assert_eq!(judged[&1].got.as_deref(), Some(&["[1, 2]".to_owned()][..]));
        judge.unload("k").unwrap();
        let err = judge.judge("k", &values, &tests).unwrap_err();
        assert!(
            matches!(&err, SandboxError::Judge { op: "judge", reload: true, message } if message == "suite `k` not loaded"),
            "{err:?}"
        );
    }

    #[test]
    fn both_sides_speak_the_same_protocol_version() {
        assert!(
            PROTOCOL_SRC.contains(&format!("\nPROTOCOL_VERSION = {PROTOCOL_VERSION}\n")),
            "python/protocol.py and protocol::PROTOCOL_VERSION differ"
        );
    }

    #[test]
    fn a_judge_of_another_protocol_version_is_a_clear_error() {
        let interp = Interpreter::resolve(None).expect("a python3");
        let mut judge = PythonJudge::start(&interp).expect("judge starts");
        let err = judge.hello(PROTOCOL_VERSION + 1).unwrap_err();
        assert!(
            matches!(err, SandboxError::Protocol { what: "judge", theirs, ours }
                if theirs == PROTOCOL_VERSION && ours == PROTOCOL_VERSION + 1),
            "{err}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("protocol version {PROTOCOL_VERSION}"))
                && text.contains(&format!("version {}", PROTOCOL_VERSION + 1)),
            "{text}"
        );
        // The judge goes on serving.
        judge.ping().expect("still answers");
    }

    #[test]
    fn the_judge_answers_a_malformed_request_with_a_clear_error() {
        let interp = Interpreter::resolve(None).expect("a python3");
        let mut judge = PythonJudge::start(&interp).expect("judge starts");
        let mut ask = |line: &str| {
            let reply = judge.process.request(line.as_bytes()).unwrap().to_owned();
            match judge_reply::<Ack>("test", &reply) {
                Err(SandboxError::Judge { message, .. }) => message,
                other => panic!("not a refusal: {other:?} ({reply})"),
            }
        };
        assert_eq!(ask("not json"), "malformed request: not a JSON object");
        assert_eq!(ask("[1]"), "malformed request: not a JSON object");
        assert_eq!(
            ask(r#"{"op":"fly"}"#),
            "malformed request: unknown op `fly`"
        );
        assert_eq!(ask(r#"{"prompt":"x"}"#), "malformed request: no `op`");
        assert_eq!(
            ask(r#"{"op":"doc_calls","prompt":"x"}"#),
            "malformed request: op `doc_calls` needs field `entry_point` (a string)"
        );
        assert_eq!(
            ask(
                r#"{"op":"record","style":"asserts","statements":"x","prelude":"","entry_point":"f","program":""}"#
            ),
            "malformed request: op `record` needs field `statements` (a list)"
        );
        assert_eq!(
            ask(r#"{"op":"judge","key":"k","values":[]}"#),
            "malformed request: op `judge` needs field `values` (an object)"
        );
        assert_eq!(
            ask(r#"{"op":"parse_tests","entry_point":"f","source":"x","limit":"3"}"#),
            "malformed request: op `parse_tests` needs field `limit` (an integer)"
        );
        assert_eq!(
            ask(r#"{"op":"parse_tests","entry_point":"f","source":"x","limit":-1}"#),
            "malformed request: op `parse_tests` needs field `limit` (a non-negative integer)"
        );
        assert_eq!(
            ask(r#"{"op":"parse_tests","entry_point":"f","limit":0}"#),
            "malformed request: op `parse_tests` needs field `source` (a string)"
        );
        // Typed requests pass the checks.
        assert_eq!(
            judge.mbpp_entry("def f(): pass", "assert f()").unwrap(),
            "f"
        );
        let calls = judge
            .doc_calls("def f(x):\n    \"\"\">>> f(1)\"\"\"\n", "f")
            .unwrap();
        assert_eq!(calls.calls.len(), 1);
    }

    /// A model's answer in the style `CodeT` prompts for: asserts in fenced markdown, prose, a
    /// `check(candidate)` function, and a last line cut short.
    const CODET_ANSWER: &str = r#"Here are tests for `has_close_elements`:

```python
from typing import List

assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False
assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True
assert has_close_elements(numbers=[1.0, 2.0], threshold=0.5) == False
assert has_close_elements(sorted([3.0, 1.0]), 0.5) == False
assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False, "no two numbers are close"
assert has_close_elements([1.0, 1.5], 0.6) == True
assert False == has_close_elements([1.0, 1.5], 0.6)
assert not has_close_elements([], 1.0)
```

The same as a check function:

```python
def check(candidate):
    assert candidate([1.0, 1.05], 0.1) is True
    assert candidate(
        [10.0, 20.0],
        5.0,
    ) == False
    assert candidate([1.0, 2.0], 0.5) != True
    assert candidate([1.0, 2.0, 3.0], 0.5) == False
```

One more, for a long list:
assert has_close_elements([1.0, 2.0, 3.0, 4.0, 5.0"#;

    fn tests_of(parsed: &ParsedTests) -> Vec<(serde_json::Value, serde_json::Value, &str)> {
        parsed
            .tests
            .iter()
            .map(|t| (t.args.clone(), t.expected.clone(), t.src.as_str()))
            .collect()
    }

    fn rejected_of(parsed: &ParsedTests) -> Vec<(&str, &str)> {
        parsed
            .rejected
            .iter()
            .map(|r| (r.src.as_str(), r.reason.as_str()))
            .collect()
    }

    #[test]
    fn parse_tests_reads_the_value_tests_of_a_model_answer() {
        use serde_json::json;
        let interp = Interpreter::resolve(None).expect("a python3");
        let mut judge = PythonJudge::start(&interp).expect("judge starts");
        let parsed = judge
            .parse_tests("has_close_elements", CODET_ANSWER, 0)
            .unwrap();
        let expected = [
            (
                json!([[1.0, 2.0, 3.0], 0.5]),
                json!(false),
                "assert has_close_elements([1.0, 2.0, 3.0], 0.5) == False",
            ),
            (
                json!([[1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3]),
                json!(true),
                "assert has_close_elements([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) == True",
            ),
            // The same arguments with two expected values: both kept.
            (
                json!([[1.0, 1.5], 0.6]),
                json!(true),
                "assert has_close_elements([1.0, 1.5], 0.6) == True",
            ),
            (
                json!([[1.0, 1.5], 0.6]),
                json!(false),
                "assert False == has_close_elements([1.0, 1.5], 0.6)",
            ),
            (
                json!([[], 1.0]),
                json!(false),
                "assert not has_close_elements([], 1.0)",
            ),
            // In `check`, through its parameter, shown calling the entry point; one spans lines.
            (
                json!([[1.0, 1.05], 0.1]),
                json!(true),
                "assert has_close_elements([1.0, 1.05], 0.1) is True",
            ),
            (
                json!([[10.0, 20.0], 5.0]),
                json!(false),
                "assert has_close_elements([10.0, 20.0], 5.0) == False",
            ),
        ];
        assert_eq!(tests_of(&parsed), expected);
        assert!(parsed.tests.iter().all(|t| t.atol.is_none()));
        // The one with a message and the one in `check` repeat the first.
        assert_eq!((parsed.duplicates, parsed.beyond_limit), (2, 0));
        assert_eq!(
            rejected_of(&parsed),
            [
                (
                    "assert has_close_elements(numbers=[1.0, 2.0], threshold=0.5) == False",
                    "keyword arguments are not supported"
                ),
                (
                    "assert has_close_elements(sorted([3.0, 1.0]), 0.5) == False",
                    "argument is not a literal"
                ),
                (
                    "assert candidate([1.0, 2.0], 0.5) != True",
                    "not a call of has_close_elements compared with a constant"
                ),
                (
                    "assert has_close_elements([1.0, 2.0, 3.0, 4.0, 5.0",
                    "does not parse"
                ),
            ]
        );

        // A limit keeps the first tests; the rest are counted.
        let limited = judge
            .parse_tests("has_close_elements", CODET_ANSWER, 3)
            .unwrap();
        assert_eq!(tests_of(&limited), expected[..3]);
        assert_eq!((limited.duplicates, limited.beyond_limit), (2, 4));
        assert_eq!(limited.rejected.len(), 4);
    }

    #[test]
    fn parse_tests_reads_literals_tolerances_and_scopes() {
        use serde_json::json;
        let interp = Interpreter::resolve(None).expect("a python3");
        let mut judge = PythonJudge::start(&interp).expect("judge starts");
        // The whole text parses: `candidate` calls the entry point only inside `check`.
        let source = r#"
import math

def check(candidate):
    assert candidate((1, 'a'), {2: None}, -3) == {'k': (1.5, -2)}, "msg " + str(candidate(0))
    assert candidate({1, 2}, [], True) is None
    assert candidate(*[1]) == 2
    if True:
        assert candidate(b'\x00', 1e400, 2j) == [-0.5, "x"]

assert candidate(1) == 2
assert f(7)
assert abs(f(0.5) - 0.25) < 1e-6
assert 0.01 >= abs(1.5 - f(1))
assert math.isclose(f(2.0), 4.0)
assert math.isclose(4.0, f(3.0), rel_tol=0.1, abs_tol=1e-3)
assert abs(f(1) - 2) < -1
assert math.isclose(f(1), 'a')
assert f(...) == 1
assert f(1) == float('nan')
assert f(1) is not None
assert f(1) == f(2)
check(f)
"#;
        let parsed = judge.parse_tests("f", source, 0).unwrap();
        assert_eq!(
            tests_of(&parsed),
            [
                (
                    json!([{"t": [1, "a"]}, {"d": [[2, null]]}, -3]),
                    json!({"d": [["k", {"t": [1.5, -2]}]]}),
                    "assert f((1, 'a'), {2: None}, -3) == {'k': (1.5, -2)}",
                ),
                (
                    json!([{"s": [1, 2]}, [], true]),
                    json!(null),
                    "assert f({1, 2}, [], True) is None",
                ),
                (
                    json!([{"b": "00"}, {"f": "inf"}, {"c": [0.0, 2.0]}]),
                    json!([-0.5, "x"]),
                    "assert f(b'\\x00', 1e309, 2j) == [-0.5, 'x']",
                ),
                (json!([7]), json!(true), "assert f(7)"),
                (
                    json!([0.5]),
                    json!(0.25),
                    "assert abs(f(0.5) - 0.25) < 1e-06"
                ),
                (json!([1]), json!(1.5), "assert 0.01 >= abs(1.5 - f(1))"),
                (json!([2.0]), json!(4.0), "assert math.isclose(f(2.0), 4.0)"),
                (
                    json!([3.0]),
                    json!(4.0),
                    "assert math.isclose(4.0, f(3.0), rel_tol=0.1, abs_tol=0.001)"
                ),
            ]
        );
        let atols: Vec<Option<f64>> = parsed.tests.iter().map(|t| t.atol).collect();
        assert_eq!(
            atols,
            [
                None,
                None,
                None,
                None,
                Some(1e-6),
                Some(0.01),
                Some(4e-9),
                Some(0.4)
            ]
        );
        assert_eq!(
            rejected_of(&parsed),
            [
                (
                    "assert candidate(*[1]) == 2",
                    "starred arguments are not supported"
                ),
                (
                    "assert candidate(1) == 2",
                    "not a call of f compared with a constant"
                ),
                (
                    "assert abs(f(1) - 2) < -1",
                    "tolerance is not a finite non-negative number"
                ),
                (
                    "assert math.isclose(f(1), 'a')",
                    "an approximate comparison's expected value is not a finite number"
                ),
                ("assert f(...) == 1", "value has no wire encoding"),
                (
                    "assert f(1) == float('nan')",
                    "expected value is not a literal"
                ),
                (
                    "assert f(1) is not None",
                    "not a call of f compared with a constant"
                ),
                ("assert f(1) == f(2)", "expected value is not a literal"),
            ]
        );
        assert_eq!((parsed.duplicates, parsed.beyond_limit), (0, 0));
    }

    #[test]
    fn parse_tests_rejects_hostile_text_and_the_judge_goes_on() {
        let interp = Interpreter::resolve(None).expect("a python3");
        let mut judge = PythonJudge::start(&interp).expect("judge starts");
        let good = "assert f(1) == 2";
        let deep = format!("assert f({}{}) == 1", "[".repeat(5000), "]".repeat(5000));
        let nested = format!("assert f({}{}) == 1", "[".repeat(150), "]".repeat(150));
        let long_int = format!("assert f({}) == 1", "7".repeat(20_000));
        let nots = format!("assert {}f(1)", "not ".repeat(20_000));
        let minus = format!("assert f({}1) == 1", "-".repeat(5000));
        let unclosed = "assert f((\n".repeat(1000);
        let source = [
            deep.as_str(),
            nested.as_str(),
            long_int.as_str(),
            nots.as_str(),
            minus.as_str(),
            good,
            unclosed.as_str(),
        ]
        .join("\n");
        assert!(source.len() < 200_000);
        let parsed = judge.parse_tests("f", &source, 0).unwrap();
        assert_eq!(
            tests_of(&parsed),
            [(serde_json::json!([1]), serde_json::json!(2), good)]
        );
        let reasons: Vec<&str> = parsed.rejected.iter().map(|r| r.reason.as_str()).collect();
        let mut want = vec![
            // Past the parser's nesting limit.
            "does not parse",
            // Deeper than a wire value may be.
            "value has no wire encoding",
            // More digits than Python converts by default.
            "does not parse",
            // Past the parser's memory for nested operators.
            "does not parse",
            "argument is not a literal",
        ];
        want.extend(std::iter::repeat_n("does not parse", 1000));
        assert_eq!(reasons, want);
        // Shown cut short.
        assert!(parsed.rejected.iter().all(|r| r.src.len() <= 2003));

        let huge = format!("assert f([{}]) == 1", "1, ".repeat(70_000));
        let err = judge.parse_tests("f", &huge, 0).unwrap_err();
        assert!(
            matches!(&err, SandboxError::Judge { op: "parse_tests", message, .. }
                if message == "parse_tests: the source is 210017 characters long, more than the 200000 accepted"),
            "{err:?}"
        );
        let err = judge.parse_tests("f(x)", good, 0).unwrap_err();
        assert!(
            matches!(&err, SandboxError::Judge { op: "parse_tests", message, .. }
                if message == "parse_tests: the entry point `f(x)` is not a Python name"),
            "{err:?}"
        );
        // The judge still answers.
        judge.ping().expect("still answers");
        assert_eq!(judge.parse_tests("f", good, 0).unwrap().tests.len(), 1);
    }
}
