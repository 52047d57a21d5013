//! `codeloop serve` over real HTTP: the binary started on a free port, spoken to over TCP. verl's
//! request bodies (`testdata/serve/verl`), files in and out, bad requests, the token, a full
//! queue, a slow client, graceful shutdown, the hostile programs of `testdata/attacks` through
//! `/run_code`, and `/v1/execute`'s per-test verdicts. The endpoints over a loaded dataset are in
//! `serve_data`.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use codeloop_test_support::testdata;
use serde_json::{Value, json};

/// A running `codeloop serve`.
pub(crate) struct Serve {
    child: Child,
    pub(crate) addr: String,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    /// Starts `codeloop serve` on a free loopback port with `args`.
    pub(crate) fn start(args: &[&str]) -> Serve {
        let cache = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_codeloop"))
            .args(["serve", "--listen", "127.0.0.1:0", "--slots", "2"])
            .args(args)
            .env("CODELOOP_CACHE_DIR", cache.keep())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = String::new();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("codeloop serve ended before it listened: {seen}");
            };
            if let Some(addr) = line.strip_prefix("listening on http://") {
                break addr.to_owned();
            }
            seen.push_str(&line);
            seen.push('\n');
        };
        let stderr = Arc::new(Mutex::new(seen));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        Serve {
            child,
            addr,
            stderr,
        }
    }

    pub(crate) fn post(&self, path: &str, body: &str) -> Reply {
        http(&self.addr, "POST", path, &[], body.as_bytes())
    }

    pub(crate) fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post(path, &body.to_string())
    }

    /// Waits until `n` executions are admitted (the queue depth `/metrics` shows).
    fn wait_for_admitted(&self, n: usize) {
        let want = format!("codeloop_queue_depth {n}\n");
        for _ in 0..200 {
            if http(&self.addr, "GET", "/metrics", &[], b"")
                .body
                .contains(&want)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{n} executions were never admitted at once");
    }

    /// Sends SIGTERM and waits for the process to end.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: sending a signal to our own child process.
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        self.child.wait().unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: String,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// One HTTP/1.1 request on a new connection (closed after the answer).
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(head, "{k}: {v}\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // A body the server refuses early (413) may not be read to its end.
    let _ = stream.write_all(body);
    read_reply(&mut stream)
}

fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    Reply {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

fn run_code(code: &str, language: &str) -> Value {
    json!({"code": code, "language": language, "run_timeout": 5, "compile_timeout": 30})
}

#[test]
fn verl_request_bodies_get_sandboxfusion_answers() {
    let server = Serve::start(&[]);
    let answer = |name: &str| -> Value {
        let body = std::fs::read_to_string(testdata(&format!("serve/verl/{name}"))).unwrap();
        let r = server.post("/run_code", &body);
        assert_eq!(r.status, 200, "{name}: {r:?}");
        let v = r.json();
        // Every key is there, null or not, as SandboxFusion's response model writes them.
        for key in [
            "status",
            "message",
            "compile_result",
            "run_result",
            "executor_pod_name",
            "files",
        ] {
            assert!(v.get(key).is_some(), "{name}: no `{key}` in {v}");
        }
        v
    };
    let v = answer("stdio_pass.json");
    assert_eq!(v["status"], "Success", "{v}");
    assert_eq!(v["run_result"]["stdout"], "42\n", "{v}");
    assert_eq!(v["run_result"]["stderr"], "", "{v}");
    assert_eq!(v["run_result"]["return_code"], 0, "{v}");
    assert!(v["compile_result"].is_null(), "{v}");
    let v = answer("call_based.json");
    assert_eq!(v["status"], "Success", "{v}");
    assert_eq!(v["run_result"]["stdout"], "[0, 1]\n", "{v}");
    let v = answer("timeout.json");
    assert_eq!(v["status"], "Failed", "{v}");
    assert_eq!(v["run_result"]["status"], "TimeLimitExceeded", "{v}");
    assert!(v["run_result"]["return_code"].is_null(), "{v}");
    let v = answer("runtime_error.json");
    assert_eq!(v["status"], "Failed", "{v}");
    assert_eq!(v["run_result"]["status"], "Finished", "{v}");
    assert_ne!(v["run_result"]["return_code"], 0, "{v}");
    assert!(
        v["run_result"]["stderr"]
            .as_str()
            .unwrap()
            .contains("ValueError: bad input"),
        "{v}"
    );
    let v = answer("cpp_tool.json");
    assert_eq!(v["status"], "Success", "{v}");
    assert_eq!(v["compile_result"]["status"], "Finished", "{v}");
    assert_eq!(v["compile_result"]["return_code"], 0, "{v}");
    assert_eq!(v["run_result"]["stdout"], "5050\n", "{v}");
    let v = answer("cpp_compile_error.json");
    assert_eq!(v["status"], "Failed", "{v}");
    assert_eq!(v["compile_result"]["status"], "Finished", "{v}");
    assert_ne!(v["compile_result"]["return_code"], 0, "{v}");
    assert!(
        v["compile_result"]["stderr"]
            .as_str()
            .unwrap()
            .contains("error"),
        "{v}"
    );
    assert!(v["run_result"].is_null(), "{v}");
}

#[test]
fn every_language_runs_a_whole_program_with_stdin() {
    let server = Serve::start(&[]);
    let programs = [
        ("python", "print(int(input()) + 1)"),
        (
            "cpp",
            "#include <iostream>\nint main() { int n; std::cin >> n; std::cout << n + 1 << std::endl; }",
        ),
        (
            "nodejs",
            "const n = parseInt(require('fs').readFileSync(0, 'utf8')); console.log(n + 1);",
        ),
        (
            "go",
            "package main\nimport \"fmt\"\nfunc main() { var n int; fmt.Scan(&n); fmt.Println(n + 1) }",
        ),
        (
            "java",
            "import java.util.Scanner;\npublic class Main { public static void main(String[] a) { System.out.println(new Scanner(System.in).nextInt() + 1); } }",
        ),
        (
            "rust",
            "fn main() { let mut s = String::new(); std::io::stdin().read_line(&mut s).unwrap(); let n: i64 = s.trim().parse().unwrap(); println!(\"{}\", n + 1); }",
        ),
    ];
    for (language, code) in programs {
        let mut body = run_code(code, language);
        body["stdin"] = json!("41\n");
        let v = server.post_json("/run_code", &body).json();
        assert_eq!(v["status"], "Success", "{language}: {v}");
        assert_eq!(v["run_result"]["stdout"], "42\n", "{language}: {v}");
        // Compiled languages report their compile step; the others have none.
        let compiled = !matches!(language, "python" | "nodejs");
        assert_eq!(!v["compile_result"].is_null(), compiled, "{language}: {v}");
    }
    // A program that fails after compiling: the run's return code, and the compile step's success.
    let v = server
        .post_json("/run_code", &run_code("int main() { return 3; }", "cpp"))
        .json();
    assert_eq!(v["status"], "Failed", "{v}");
    assert_eq!(v["compile_result"]["return_code"], 0, "{v}");
    assert_eq!(v["run_result"]["return_code"], 3, "{v}");
}

/// A compiled program runs under the run's limits whatever the compile step's (a CPU limit can be
/// lowered, never raised), and the compiler's warnings come back in `compile_result`.
#[test]
fn a_compiled_program_gets_the_run_limits_and_the_compiler_warnings() {
    let server = Serve::start(&[]);
    let code = "#include <cstdio>\n#include <sys/resource.h>\n#warning \"from the compiler\"\nint main() { rlimit r; getrlimit(RLIMIT_CPU, &r); std::printf(\"%ld\\n\", (long)r.rlim_cur); }";
    let body = json!({"code": code, "language": "cpp", "compile_timeout": 5, "run_timeout": 9});
    let v = server.post_json("/run_code", &body).json();
    assert_eq!(v["status"], "Success", "{v}");
    assert_eq!(v["run_result"]["stdout"], "9\n", "{v}");
    assert!(
        v["compile_result"]["stderr"]
            .as_str()
            .unwrap()
            .contains("from the compiler"),
        "{v}"
    );
}

#[test]
fn files_go_in_before_the_run_and_come_back_after_it_never_through_a_link() {
    let server = Serve::start(&[]);
    let code = "import os\ndata = open('data/in.txt').read()\nopen('out.txt', 'w').write(data.upper())\nos.symlink('/etc/hostname', 'leak')\nos.mkdir('dir')\nprint(len(data))\n";
    let body = json!({
        "code": code, "language": "python",
        "files": {"data/in.txt": "aGVsbG8gd29ybGQK", "skipped.txt": null},
        "fetch_files": ["out.txt", "missing.txt", "leak", "dir", "data/in.txt"],
    });
    let v = server.post_json("/run_code", &body).json();
    assert_eq!(v["status"], "Success", "{v}");
    assert_eq!(v["run_result"]["stdout"], "12\n", "{v}");
    // HELLO WORLD\n; the link, the directory and the missing file are left out.
    assert_eq!(
        v["files"],
        json!({"out.txt": "SEVMTE8gV09STEQK", "data/in.txt": "aGVsbG8gd29ybGQK"}),
        "{v}"
    );
    // Paths that would leave the run's directory are refused, naming the entry.
    for (field, body) in [
        (
            "files.../x",
            json!({"code": "", "language": "python", "files": {"../x": "eA=="}}),
        ),
        (
            "files./etc/x",
            json!({"code": "", "language": "python", "files": {"/etc/x": "eA=="}}),
        ),
        (
            "fetch_files[1]",
            json!({"code": "", "language": "python", "fetch_files": ["a", "../../etc/shadow"]}),
        ),
        (
            "files.a",
            json!({"code": "", "language": "python", "files": {"a": "not base64!"}}),
        ),
    ] {
        let r = server.post_json("/run_code", &body);
        assert_eq!(r.status, 400, "{field}: {r:?}");
        assert_eq!(r.json()["field"], field, "{r:?}");
    }
}

#[test]
fn bad_requests_are_refused_with_the_field_at_fault() {
    let server = Serve::start(&["--max-body-mib", "1"]);
    let r = server.post("/run_code", "{not json");
    assert_eq!(r.status, 400, "{r:?}");
    let r = server.post_json("/run_code", &json!({"language": "python"}));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.json()["error"].as_str().unwrap().contains("code"),
        "{r:?}"
    );
    let r = server.post_json(
        "/run_code",
        &json!({"code": "", "language": "python", "run_timeout": "ten"}),
    );
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (400, json!("run_timeout")),
        "{r:?}"
    );
    let r = server.post_json(
        "/run_code",
        &json!({"code": "", "language": "python", "run_timeout": 0}),
    );
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (400, json!("run_timeout")),
        "{r:?}"
    );
    // A name SandboxFusion does not know: a 400 naming the field.
    let r = server.post_json("/run_code", &json!({"code": "", "language": "cobol"}));
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (400, json!("language")),
        "{r:?}"
    );
    // One it knows and codeloop does not run: SandboxError, as SandboxFusion answers, naming what
    // this server runs.
    let r = server.post_json(
        "/run_code",
        &json!({"code": "<?php echo 1;", "language": "php"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert_eq!(v["status"], "SandboxError", "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("php") && message.contains("cpp"), "{v}");
    // Too large.
    let big = json!({"code": "#".repeat(2 << 20), "language": "python"});
    let r = server.post_json("/run_code", &big);
    assert_eq!(r.status, 413, "{r:?}");
    // No such endpoint, and an unknown field of the native API.
    assert_eq!(server.post("/nothing", "{}").status, 404);
    let r = server.post_json("/v1/execute", &json!({"program": "", "test": []}));
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (400, json!("test")),
        "{r:?}"
    );
}

#[test]
fn a_token_guards_everything_but_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "s3cret-token\n").unwrap();
    let server = Serve::start(&["--token-file", token_file.to_str().unwrap()]);
    let body = run_code("print(1)", "python").to_string();
    let call = |headers: &[(&str, &str)]| {
        http(&server.addr, "POST", "/run_code", headers, body.as_bytes())
    };
    let r = call(&[]);
    assert_eq!(r.status, 401, "{r:?}");
    assert!(r.headers.contains("www-authenticate: bearer"), "{r:?}");
    assert_eq!(call(&[("Authorization", "Bearer wrong")]).status, 401);
    assert_eq!(call(&[("Authorization", "s3cret-token")]).status, 401);
    let r = call(&[("Authorization", "Bearer s3cret-token")]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["run_result"]["stdout"], "1\n");
    assert_eq!(http(&server.addr, "GET", "/metrics", &[], b"").status, 401);
    assert_eq!(http(&server.addr, "GET", "/healthz", &[], b"").status, 200);
    // Beyond loopback without a token: refused before listening.
    let out = Command::new(env!("CARGO_BIN_EXE_codeloop"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("without a token"), "{stderr}");
}

#[test]
fn a_full_queue_answers_429_and_a_slow_client_holds_no_slot() {
    let server = Arc::new(Serve::start(&["--queue", "1", "--read-timeout-s", "2"]));
    // A slow client: headers and a tenth of its body, then nothing.
    let mut slow = TcpStream::connect(&server.addr).unwrap();
    slow.write_all(b"POST /run_code HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"code\":")
        .unwrap();
    // Meanwhile the one admission goes to a program that sleeps.
    let s = server.clone();
    let sleeper = std::thread::spawn(move || {
        s.post_json(
            "/run_code",
            &run_code("import time\ntime.sleep(1.5)\nprint('slept')", "python"),
        )
    });
    server.wait_for_admitted(1);
    let r = server.post_json("/run_code", &run_code("print(2)", "python"));
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.headers.contains("retry-after: 1"), "{r:?}");
    let r = sleeper.join().unwrap();
    assert_eq!(r.json()["run_result"]["stdout"], "slept\n", "{r:?}");
    // The slot is free again although the slow client still holds its connection.
    let r = server.post_json("/run_code", &run_code("print(3)", "python"));
    assert_eq!(r.json()["run_result"]["stdout"], "3\n", "{r:?}");
    let r = read_reply(&mut slow);
    assert_eq!(r.status, 408, "{r:?}");
    let metrics = http(&server.addr, "GET", "/metrics", &[], b"").body;
    assert!(
        metrics.contains("codeloop_requests_refused_total{reason=\"busy\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("codeloop_requests_refused_total{reason=\"slow_body\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("codeloop_executions_total{endpoint=\"run_code\",verdict=\"Success\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("codeloop_queue_depth 0"), "{metrics}");
}

#[test]
fn shutdown_answers_every_admitted_execution() {
    let mut server = Serve::start(&[]);
    let addr = server.addr.clone();
    let body = run_code("import time\ntime.sleep(1.5)\nprint('done')", "python").to_string();
    let running =
        std::thread::spawn(move || http(&addr, "POST", "/run_code", &[], body.as_bytes()));
    server.wait_for_admitted(1);
    let status = server.terminate();
    let r = running.join().unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["run_result"]["stdout"], "done\n", "{r:?}");
    assert!(status.success(), "{status:?}");
    let stderr = server.stderr.lock().unwrap().clone();
    assert!(
        stderr.contains("every admitted execution was answered"),
        "{stderr}"
    );
    assert!(TcpStream::connect(&server.addr).is_err());
}

/// The `verdict:` header of an attack file: the verdicts it may get.
fn expected_verdicts(source: &str) -> Vec<String> {
    source
        .lines()
        .find_map(|l| l.split_once("verdict:").map(|(_, v)| v))
        .unwrap_or_else(|| panic!("no verdict header"))
        .split('|')
        .map(|v| v.trim().to_owned())
        .collect()
}

#[test]
fn hostile_programs_through_run_code_are_contained() {
    let server = Serve::start(&["--memory-mib", "256"]);
    let dir = testdata("attacks");
    let extension = |n: &str| {
        std::path::Path::new(n)
            .extension()
            .map(|e| e.to_string_lossy().into_owned())
    };
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| matches!(extension(n).as_deref(), Some("py" | "c")))
        .collect();
    names.sort();
    let mut ran = 0;
    for name in names {
        let source = std::fs::read_to_string(dir.join(&name)).unwrap();
        // Harness-tampering files are solutions to a problem, not programs: `/v1/execute` and the
        // sandbox tests run them against that problem.
        if source.contains("problem: P0") {
            continue;
        }
        let language = if extension(&name).as_deref() == Some("c") {
            "cpp"
        } else {
            "python"
        };
        // The attack corpus's default profile: 5 s of wall clock, 256 MiB.
        let body = json!({"code": source, "language": language, "run_timeout": 5,
                          "compile_timeout": 30, "memory_limit_MB": 256});
        let v = server.post_json("/run_code", &body).json();
        let run = &v["run_result"];
        let out = format!("{}{}", run["stdout"], run["stderr"]);
        assert!(!out.contains("SANDBOX-BREACH:"), "{name}: {v}");
        let status = v["status"].as_str().unwrap();
        let got = match (status, run["status"].as_str()) {
            ("Success", _) => "ok",
            (_, Some("TimeLimitExceeded")) => "time_limit",
            ("Failed", Some("Finished")) => "failed",
            _ => panic!("{name}: {v}"),
        };
        // SandboxFusion's answer has no verdict beyond a return code: a memory, output or runtime
        // failure is a failed run with a non-zero return code.
        let allowed: Vec<&str> = expected_verdicts(&source)
            .iter()
            .map(|e| match e.as_str() {
                "ok" => "ok",
                "time_limit" => "time_limit",
                _ => "failed",
            })
            .collect();
        assert!(
            allowed.contains(&got),
            "{name}: expected {allowed:?}, got {got}: {v}"
        );
        ran += 1;
    }
    assert!(ran >= 12, "only {ran} attacks ran");
}

#[test]
fn execute_gives_per_test_verdicts_in_every_language() {
    let server = Serve::start(&[]);
    let tests = json!([
        {"input": "1 2\n", "output": "3\n"},
        {"input": "2 2\n", "output": "5\n"},
        {"input": "10 -3\n", "output": "7"},
    ]);
    let v = server
        .post_json(
            "/v1/execute",
            &json!({"program": "a, b = map(int, input().split())\nprint(a + b)", "tests": tests}),
        )
        .json();
    assert_eq!(v["passed"], false, "{v}");
    assert_eq!(
        (v["tests_passed"].clone(), v["tests_total"].clone()),
        (json!(2), json!(3)),
        "{v}"
    );
    let results = v["report"]["tests"].as_array().unwrap();
    let verdicts: Vec<&str> = results
        .iter()
        .map(|t| t["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["pass", "wrong_answer", "pass"], "{v}");
    assert_eq!(results[1]["expected"], "5\n", "{v}");
    assert_eq!(results[1]["got"], "4\n", "{v}");
    // C++, compiled per test; and a program that does not compile.
    let cpp = "#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b << \"\\n\"; }";
    let v = server
        .post_json(
            "/v1/execute",
            &json!({"language": "cpp", "program": cpp, "tests": tests}),
        )
        .json();
    assert_eq!(v["tests_passed"], 2, "{v}");
    let v = server
        .post_json(
            "/v1/execute",
            &json!({"language": "cpp", "program": "int main( {", "tests": tests}),
        )
        .json();
    assert_eq!(v["passed"], false, "{v}");
    assert_eq!(v["report"]["tests"][0]["verdict"], "compile_error", "{v}");
    // No tests: one run judged by its exit, with stdin.
    let v = server
        .post_json(
            "/v1/execute",
            &json!({"program": "import sys\nsys.exit(int(input()))", "stdin": "3\n"}),
        )
        .json();
    assert_eq!(v["passed"], false, "{v}");
    assert_eq!(v["report"]["status"]["exit_code"], 3, "{v}");
}
