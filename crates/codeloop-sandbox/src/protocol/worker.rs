//! Messages between codeloop and the worker (`python/worker/`): its setup object
//! ([`WorkerConfig`], its second argument), its ready line ([`Ready`]), run requests
//! ([`RunRequest`]), the lines of a streamed run ([`StreamLine`], [`STOP_LINE`]), run replies
//! ([`WorkerReply`]) and the result lines the driver writes on the run's result channel
//! ([`ResultLine`]), which reach codeloop inside the reply's `results` or streamed.

use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

/// The line that ends a streamed run early (its verdict is known).
pub(crate) const STOP_LINE: &[u8] = b"stop\n";

/// How a worker is set up (its second argument): the per-run hardening it applies (see
/// `python/worker/hardening.py`) and the protocol version it must speak.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerConfig {
    pub(crate) protocol: u32,
    pub(crate) pidns: bool,
    pub(crate) runns: bool,
    pub(crate) tmp: bool,
    pub(crate) landlock: i64,
    pub(crate) nproc_base: usize,
    /// Syscall filters, each the hex of a `struct sock_filter` array.
    pub(crate) seccomp: Vec<String>,
    pub(crate) cg_procs: Vec<i32>,
    pub(crate) cg_pids: Option<i32>,
    pub(crate) cg_mem: Vec<i32>,
    /// The CPU counter's fd, and whether it is cgroup v2's `cpu.stat`.
    pub(crate) cg_cpu: Option<(i32, bool)>,
}

/// A zygote's first line: warm and serving; or, from a worker speaking another protocol, `error`.
#[derive(Debug, Deserialize)]
#[expect(clippy::struct_field_names, reason = "the line's own key")]
pub(crate) struct Ready {
    #[serde(default)]
    pub(crate) ready: bool,
    #[serde(default)]
    pub(crate) protocol: Option<u32>,
    #[serde(default)]
    pub(crate) error: Option<String>,
}

/// Limits of one run, as the worker applies them.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerLimits {
    pub(crate) cpu_ms: u64,
    pub(crate) wall_ms: u64,
    pub(crate) memory_mib: Option<u64>,
    pub(crate) stack_mib: u64,
    pub(crate) processes: Option<u64>,
    pub(crate) file_size_mib: u64,
    pub(crate) output_bytes: u64,
    pub(crate) result_bytes: u64,
}

/// One run. The run's `mode` fields sit beside the common ones, as `python/worker/serve.py`
/// checks them.
#[derive(Debug, Serialize)]
pub(crate) struct RunRequest<'a> {
    pub(crate) source: &'a str,
    pub(crate) limits: WorkerLimits,
    pub(crate) work_root: &'a Path,
    pub(crate) uid: Option<u32>,
    pub(crate) fail_fast: bool,
    /// Through the zygote: the run's process execs a fresh interpreter.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) fresh: bool,
    /// Standard input (absent: `/dev/null`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stdin: Option<&'a str>,
    /// Files written into the work dir before the program starts (path, content).
    #[serde(skip_serializing_if = "<[_]>::is_empty", serialize_with = "blobs")]
    pub(crate) blobs: &'a [(String, Vec<u8>)],
    /// Paths read back from the work dir after the run (the reply's `fetched`).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub(crate) fetch: &'a [String],
    #[serde(flatten)]
    pub(crate) mode: RunMode<'a>,
}

/// `blobs` as a map from path to hex content.
fn blobs<S: Serializer>(blobs: &&[(String, Vec<u8>)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(blobs.iter().map(|(k, v)| (k, Hex(v))))
}

/// What the run does.
#[derive(Debug, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub(crate) enum RunMode<'a> {
    /// Runs `source` as a script named `filename` (under the tracer with `trace`).
    Script {
        filename: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        trace: Option<crate::trace::TraceRequest>,
    },
    /// Writes `files` (and `binary` as `./prog`) into the work dir and execs `argv`; with
    /// `run_phase`, a compile step comes first and the run's own limits apply once it says
    /// `compiled` on the result channel.
    Exec(ExecMode<'a>),
    /// Calls `entry_point` of `source` once per call.
    Calls(CallsMode<'a>),
}

/// The fields of an `exec` run.
#[derive(Debug, Default, Serialize)]
pub(crate) struct ExecMode<'a> {
    pub(crate) argv: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "files")]
    pub(crate) files: Vec<(&'static str, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) binary: Option<Hex<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) run_phase: Option<RunPhase>,
}

fn files<S: Serializer>(files: &[(&'static str, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(files.iter().map(|(k, v)| (k, v)))
}

/// The limits of a compiled program's run phase.
#[derive(Debug, Serialize)]
pub(crate) struct RunPhase {
    pub(crate) wall_ms: u64,
    pub(crate) memory_mib: Option<u64>,
}

/// Bytes written as a hex string, without an intermediate copy.
#[derive(Debug)]
pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The fields of a `calls` run.
#[derive(Debug, Serialize)]
pub(crate) struct CallsMode<'a> {
    pub(crate) entry_point: &'a str,
    pub(crate) call_cpu_ms: &'a [u32],
    /// The suite's calls: each a wire argument list, or `{"exec": statement}` for an inline test.
    pub(crate) calls: &'a RawValue,
    /// Values whose wire text is longer than this travel as their digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) digest_over: Option<usize>,
    /// Result lines passed on as they come, and the run stoppable.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) stream: bool,
    /// Each value's `repr` sent with it (reference runs).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) reprs: bool,
    /// Each call run under the tracer (`python/worker/tracer.py`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) trace: Option<crate::trace::TraceRequest>,
}

/// A line the worker writes while a streamed run goes: a result line, or the run's reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamLine<'a> {
    /// `R <result line>`.
    Result(&'a str),
    /// The reply, which ends the run.
    Reply(&'a str),
}

impl<'a> StreamLine<'a> {
    /// Reads one line (without its newline).
    pub(crate) fn parse(line: &'a str) -> Self {
        match line.strip_prefix("R ") {
            Some(result) => StreamLine::Result(result),
            None => StreamLine::Reply(line),
        }
    }
}

/// The supervisor's reply for one run (see `supervise` in `python/worker/supervisor.py`).
#[derive(Debug, Deserialize)]
pub(crate) struct WorkerReply {
    #[serde(default)]
    pub(crate) harness_error: Option<String>,
    #[serde(default)]
    pub(crate) exit_code: Option<i32>,
    #[serde(default)]
    pub(crate) signal: Option<i32>,
    #[serde(default)]
    pub(crate) cpu_ms: f64,
    #[serde(default)]
    pub(crate) wall_ms: f64,
    #[serde(default)]
    pub(crate) max_rss_kib: u64,
    #[serde(default)]
    pub(crate) killed: Option<Killed>,
    #[serde(default)]
    pub(crate) stragglers: u32,
    #[serde(default)]
    pub(crate) stdout: String,
    #[serde(default)]
    pub(crate) stdout_bytes: u64,
    #[serde(default)]
    pub(crate) stderr: String,
    #[serde(default)]
    pub(crate) stderr_bytes: u64,
    /// The result lines, each ending in a newline (empty for a streamed run: they came before).
    #[serde(default)]
    pub(crate) results: String,
    #[serde(default)]
    pub(crate) results_truncated: bool,
    /// When the compile step ended (a run with a run phase), in milliseconds from the start.
    #[serde(default)]
    pub(crate) compile_ms: Option<f64>,
    /// The files the request asked back that were there: (path, hex content), in its order.
    #[serde(default)]
    pub(crate) fetched: Vec<(String, String)>,
    /// Set from the slot's cgroup, not by the worker: the kernel killed a process of the run for
    /// memory.
    #[serde(skip)]
    pub(crate) oom_killed: bool,
}

/// Why the supervisor ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Killed {
    /// Its wall-clock limit.
    Wall,
    /// Its stdout or stderr went past the output limit.
    Output,
    /// Its result channel went past the result limit.
    Result,
    /// codeloop sent [`STOP_LINE`]: its verdict was known.
    Stopped,
}

/// One line the driver wrote on the result channel, read in place.
#[derive(Debug)]
pub(crate) enum ResultLine<'a> {
    /// The program did not load (a syntax error, an exception at import).
    LoadError(Failure),
    /// The program loaded.
    Loaded,
    /// The program called `exit` (while loading, or in call `call`).
    Exit { call: Option<usize>, code: i64 },
    /// Call `call` returned.
    Returned {
        call: usize,
        value: ReturnedValue<'a>,
        cpu: f64,
    },
    /// Call `call` raised.
    Raised {
        call: usize,
        failure: Failure,
        cpu: f64,
    },
    /// Call `call` reached its time limit.
    TimeLimit { call: usize, cpu: f64 },
    /// Call `call` ran out of memory.
    MemoryLimit { call: usize, cpu: f64 },
    /// Every call was made.
    Done,
}

/// A value a call returned.
#[derive(Debug)]
pub(crate) enum ReturnedValue<'a> {
    /// Its wire text, with its `repr` when the request asked for `reprs`.
    Value(&'a RawValue, Option<String>),
    /// The SHA-256 of its wire text, in hex (longer than the request's `digest_over`).
    Digest(&'a str),
}

/// An exception the program raised.
#[derive(Debug, Clone, Default)]
pub(crate) struct Failure {
    pub(crate) kind: String,
    pub(crate) message: String,
    pub(crate) traceback: String,
    /// A `MemoryError` the driver caught while loading.
    pub(crate) memory: bool,
}

/// The line as written: one object whose `k` says which kind it is. Read flat and then typed,
/// because serde's tagged enums cannot borrow a [`RawValue`].
#[derive(Deserialize)]
struct Line<'a> {
    k: &'a str,
    #[serde(default)]
    i: Option<usize>,
    /// Present (even when it is JSON `null`, Python's `None`) exactly when a value was returned.
    #[serde(default, borrow, deserialize_with = "present")]
    v: Option<&'a RawValue>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    tb: Option<String>,
    #[serde(default)]
    cpu: f64,
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    mle: bool,
    #[serde(default)]
    h: Option<&'a str>,
    #[serde(default)]
    repr: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

impl<'a> ResultLine<'a> {
    /// Reads one result line; `None` for one that is not a result line of ours.
    pub(crate) fn parse(line: &'a str) -> Option<Self> {
        let l: Line<'a> = serde_json::from_str(line).ok()?;
        let failure = |l: Line<'a>| Failure {
            kind: l.kind.unwrap_or_default(),
            message: l.msg.unwrap_or_default(),
            traceback: l.tb.unwrap_or_default(),
            memory: l.mle,
        };
        let (cpu, i) = (l.cpu, l.i);
        Some(match l.k {
            "load_error" => ResultLine::LoadError(failure(l)),
            "loaded" => ResultLine::Loaded,
            "exit" => ResultLine::Exit {
                call: i,
                code: l.code.unwrap_or(0),
            },
            "done" => ResultLine::Done,
            "ret" => ResultLine::Returned {
                call: i?,
                value: match (l.v, l.h) {
                    (Some(v), _) => ReturnedValue::Value(v, l.repr),
                    (None, Some(h)) => ReturnedValue::Digest(h),
                    (None, None) => return None,
                },
                cpu,
            },
            "exc" => ResultLine::Raised {
                call: i?,
                failure: failure(l),
                cpu,
            },
            "tle" => ResultLine::TimeLimit { call: i?, cpu },
            "mle" => ResultLine::MemoryLimit { call: i?, cpu },
            _ => return None,
        })
    }

    /// The call the line is about, if any.
    pub(crate) fn call(&self) -> Option<usize> {
        match self {
            ResultLine::Exit { call, .. } => *call,
            ResultLine::Returned { call, .. }
            | ResultLine::Raised { call, .. }
            | ResultLine::TimeLimit { call, .. }
            | ResultLine::MemoryLimit { call, .. } => Some(*call),
            ResultLine::LoadError(_) | ResultLine::Loaded | ResultLine::Done => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(mode: RunMode<'_>) -> serde_json::Value {
        let req = RunRequest {
            source: "print(1)",
            limits: WorkerLimits {
                cpu_ms: 1,
                wall_ms: 2,
                memory_mib: None,
                stack_mib: 3,
                processes: Some(4),
                file_size_mib: 5,
                output_bytes: 6,
                result_bytes: 7,
            },
            work_root: Path::new("/sandbox"),
            uid: None,
            fail_fast: true,
            fresh: false,
            stdin: Some("in"),
            blobs: &[],
            fetch: &[],
            mode,
        };
        let mut buf = Vec::new();
        serde_json::to_writer(&mut buf, &req).unwrap();
        serde_json::from_slice(&buf).unwrap()
    }

    #[test]
    fn run_requests_carry_their_mode_beside_the_common_fields() {
        let script = request(RunMode::Script {
            filename: "main.py",
            trace: None,
        });
        assert_eq!(
            script,
            serde_json::json!({"source": "print(1)", "limits": {"cpu_ms": 1, "wall_ms": 2,
                "memory_mib": null, "stack_mib": 3, "processes": 4, "file_size_mib": 5,
                "output_bytes": 6, "result_bytes": 7}, "work_root": "/sandbox", "uid": null,
                "fail_fast": true, "stdin": "in", "mode": "script", "filename": "main.py"})
        );
        let calls: Box<RawValue> = RawValue::from_string("[[1],{\"exec\":\"x\"}]".into()).unwrap();
        let v = request(RunMode::Calls(CallsMode {
            entry_point: "f",
            call_cpu_ms: &[10, 20],
            calls: &calls,
            digest_over: Some(5),
            stream: true,
            reprs: false,
            trace: None,
        }));
        assert_eq!(v["mode"], "calls");
        assert_eq!(v["calls"], serde_json::json!([[1], {"exec": "x"}]));
        assert_eq!(v["call_cpu_ms"], serde_json::json!([10, 20]));
        assert_eq!(
            (v["digest_over"].as_u64(), v["stream"].as_bool()),
            (Some(5), Some(true))
        );
        assert!(v.get("reprs").is_none());
        let exec = request(RunMode::Exec(ExecMode {
            argv: vec!["./prog".into()],
            files: vec![("main.c", "int main;".into())],
            binary: Some(Hex(&[0, 0xab])),
            run_phase: Some(RunPhase {
                wall_ms: 9,
                memory_mib: Some(8),
            }),
        }));
        assert_eq!(exec["mode"], "exec");
        assert_eq!(exec["binary"], "00ab");
        assert_eq!(exec["files"]["main.c"], "int main;");
        assert_eq!(exec["run_phase"]["wall_ms"], 9);
    }

    #[test]
    fn result_lines_read_as_their_kind() {
        let ret = ResultLine::parse(r#"{"k":"ret","i":2,"v":null,"cpu":1.5,"repr":"None"}"#);
        assert!(matches!(
            ret,
            Some(ResultLine::Returned { call: 2, value: ReturnedValue::Value(v, Some(r)), cpu })
                if v.get() == "null" && r == "None" && (cpu - 1.5).abs() < 1e-9
        ));
        let digest = ResultLine::parse(r#"{"k":"ret","i":0,"h":"ab","n":9,"cpu":0}"#);
        assert!(matches!(
            digest,
            Some(ResultLine::Returned {
                value: ReturnedValue::Digest("ab"),
                ..
            })
        ));
        let exc =
            ResultLine::parse(r#"{"k":"exc","i":1,"type":"KeyError","msg":"m","tb":"t","cpu":0}"#);
        assert!(
            matches!(&exc, Some(ResultLine::Raised { call: 1, failure, .. }) if failure.kind == "KeyError")
        );
        assert!(matches!(
            ResultLine::parse(r#"{"k":"exit","code":3}"#),
            Some(ResultLine::Exit {
                call: None,
                code: 3
            })
        ));
        assert!(matches!(
            ResultLine::parse(
                r#"{"k":"load_error","type":"MemoryError","msg":"","tb":"","mle":true}"#
            ),
            Some(ResultLine::LoadError(Failure { memory: true, .. }))
        ));
        for (line, call) in [
            (r#"{"k":"tle","i":4,"cpu":1}"#, Some(4)),
            (r#"{"k":"mle","i":5,"cpu":1}"#, Some(5)),
            (r#"{"k":"loaded"}"#, None),
            (r#"{"k":"done"}"#, None),
        ] {
            assert_eq!(ResultLine::parse(line).expect(line).call(), call);
        }
        assert!(ResultLine::parse(r#"{"k":"ret","i":0}"#).is_none());
        assert!(ResultLine::parse("compiled").is_none());
        assert_eq!(StreamLine::parse("R {}"), StreamLine::Result("{}"));
        assert_eq!(StreamLine::parse("{}"), StreamLine::Reply("{}"));
    }

    #[test]
    fn replies_read_what_the_worker_writes() {
        let reply: WorkerReply = serde_json::from_str(
            r#"{"exit_code":0,"signal":null,"cpu_ms":1.0,"wall_ms":2.0,"max_rss_kib":3,"killed":"stopped","stragglers":0,"stdout":"","stdout_bytes":0,"stderr":"","stderr_bytes":0,"results":"","results_truncated":false,"compile_ms":null}"#,
        )
        .unwrap();
        assert_eq!(reply.killed, Some(Killed::Stopped));
        let ready: Ready =
            serde_json::from_str(r#"{"ready":true,"pid":1,"python":"3.11","protocol":1}"#).unwrap();
        assert!(ready.ready && ready.protocol == Some(1));
    }
}
