//! The `codeloop` binary end to end: `exec --json`, and `generate` against a real HTTP server on
//! loopback (the mock OpenAI server, started here).

use std::process::Command;

use codeloop_llm::mock::{MockConfig, MockServer};

fn codeloop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_codeloop"))
}

#[test]
fn exec_json_reports_verdict_resources_and_layers() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("p.py");
    std::fs::write(
        &program,
        "import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)\n",
    )
    .unwrap();
    let out = codeloop()
        .arg("exec")
        .arg(&program)
        .arg("--json")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "runtime_error");
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["signal"], serde_json::Value::Null);
    assert_eq!(v["stdout"], "out\n");
    assert_eq!(v["stderr"], "err\n");
    assert_eq!(v["stdout_truncated"], false);
    for key in ["cpu_ms", "wall_ms", "max_rss_kib", "limits", "layers"] {
        assert!(!v[key].is_null(), "missing {key}");
    }
    assert!(
        v["layers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "rlimits")
    );
}

#[test]
fn exec_feeds_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("p.py");
    let input = dir.path().join("in.txt");
    std::fs::write(&program, "print(int(input()) * 2)\n").unwrap();
    std::fs::write(&input, "21\n").unwrap();
    let out = codeloop()
        .arg("exec")
        .arg(&program)
        .arg("--stdin")
        .arg(&input)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "42\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_prints_n_completions_from_a_registry_endpoint() {
    let server = MockServer::start(MockConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("endpoints.toml");
    std::fs::write(
        &registry,
        format!(
            "[[endpoint]]\nname = \"m\"\nbase_url = \"{}\"\nmodel = \"mock\"\n",
            server.base_url()
        ),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        codeloop()
            .args([
                "generate",
                "write add",
                "--model",
                "m",
                "-n",
                "3",
                "--json",
                "--registry",
            ])
            .arg(&registry)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["choices"].as_array().unwrap().len(), 3);
    assert_eq!(v["usage"]["completion_tokens"], 60);
    assert_eq!(v["endpoint"], "m");
}

#[test]
fn generate_with_an_unknown_model_says_what_to_do() {
    let out = codeloop()
        .args(["generate", "hi", "--model", "no-such-endpoint"])
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env_remove("CODELOOP_REGISTRY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pass `--registry FILE`"), "{err}");
}

#[test]
fn sandbox_doctor_lists_layers_and_probes_them() {
    let out = codeloop().args(["sandbox", "doctor"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("layers in force:") && text.contains("missing layers:"),
        "{text}"
    );
    assert!(text.contains("seccomp filter: not built yet"), "{text}");
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if root {
        // As root every probe must find the run contained.
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("net-namespace") && !text.contains("FAIL"),
            "{text}"
        );
    }
    // --strict refuses while layers are missing.
    let out = codeloop()
        .args(["sandbox", "doctor", "--strict"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing layers"));
}
