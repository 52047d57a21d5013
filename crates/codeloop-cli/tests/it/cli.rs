//! The `codeloop` binary end to end: `exec --json`, and `generate` against a real HTTP server on
//! loopback (the mock `OpenAI` server, started here).

use std::process::Command;

use codeloop_test_support::mock::{MockConfig, MockServer};

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
    crate::assert_success(&out);
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
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if root {
        // As root every layer is in force and every probe must find the run contained.
        assert!(out.status.success(), "{text}");
        assert!(text.contains("missing layers: none"), "{text}");
        for layer in [
            "pid-namespace",
            "cgroup",
            "landlock",
            "seccomp",
            "uid-per-slot",
        ] {
            assert!(text.contains(&format!("  + {layer}")), "{layer}: {text}");
        }
        assert!(
            text.contains("net-namespace") && !text.contains("FAIL"),
            "{text}"
        );
    }
    // --strict runs where every layer is in force, and refuses where any is missing (here: turned
    // off).
    let strict = codeloop()
        .args(["sandbox", "doctor", "--strict"])
        .output()
        .unwrap();
    assert_eq!(strict.status.success(), root, "{strict:?}");
    let out = codeloop()
        .args(["sandbox", "doctor", "--strict", "--no-hardening"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing layers"));
}

#[test]
fn sandbox_doctor_without_root_builds_the_view_in_a_user_namespace() {
    use std::os::unix::fs::PermissionsExt;
    let root = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !root || !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipping: needs root (to become another user) and setpriv");
        return;
    }
    // A developer without root: an unprivileged uid with its own cache and temp dirs.
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = Command::new("/usr/bin/setpriv")
        .args(["--reuid=61500", "--regid=61500", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_codeloop"))
        .args(["sandbox", "doctor"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join("cache"))
        .env("TMPDIR", home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if text.contains("no user namespace") {
        eprintln!("skipping: this kernel gives unprivileged users no user namespace: {text}");
        return;
    }
    // Every probe contained; the layers that need no root are all there, and the two that do
    // (a uid per slot, cgroups) are reported missing with the reason.
    assert!(out.status.success(), "{text}\n{err}");
    for layer in [
        "user-namespace",
        "pid-namespace",
        "mount-namespace",
        "net-namespace",
        "landlock",
        "seccomp",
    ] {
        assert!(text.contains(&format!("  + {layer}")), "{layer}: {text}");
    }
    assert!(
        text.contains("  - uid-per-slot: not running as root"),
        "{text}"
    );
    assert!(text.contains("  - cgroup:"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
}

/// Runs `scripts/find-libclang.sh` over a fake root holding `files` (relative paths), with
/// `LIBCLANG_PATH` set or not; its exit code and what it printed.
fn find_libclang(files: &[&str], libclang_path: Option<&str>) -> (i32, String) {
    let root = tempfile::tempdir().unwrap();
    for f in files {
        let path = root.path().join(f);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
    }
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/find-libclang.sh");
    let mut cmd = Command::new("bash");
    cmd.arg(script).arg(root.path()).env_remove("LIBCLANG_PATH");
    if let Some(p) = libclang_path {
        cmd.env("LIBCLANG_PATH", p);
    }
    let out = cmd.output().unwrap();
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let relative = printed
        .strip_prefix(root.path().to_str().unwrap())
        .unwrap_or(&printed)
        .to_owned();
    (out.status.code().unwrap(), relative)
}

#[test]
fn setup_finds_libclang_as_bindgen_does_and_libclang_cpp_does_not_count() {
    const HEADERS: &str = "usr/lib/llvm-14/lib/clang/14.0.6/include/stddef.h";
    // A fresh Debian 12 with clang's C++ library only (what the outside check found): not enough.
    assert_eq!(
        find_libclang(
            &[
                "usr/lib/llvm-14/lib/libclang-cpp.so.14",
                "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14",
            ],
            None
        )
        .0,
        1
    );
    // The library without clang's resource headers: bindgen could not parse llama.cpp's headers.
    assert_eq!(
        find_libclang(&["usr/lib/llvm-14/lib/libclang.so.1"], None).0,
        1
    );
    // libclang-dev's layout, in each name bindgen accepts.
    for lib in [
        "usr/lib/llvm-14/lib/libclang.so",
        "usr/lib/llvm-14/lib/libclang-14.so",
        "usr/lib/llvm-14/lib/libclang.so.1",
        "usr/lib/x86_64-linux-gnu/libclang-14.so.1",
    ] {
        assert_eq!(
            find_libclang(
                &["usr/lib/llvm-14/lib/libclang-cpp.so.14", lib, HEADERS],
                None
            ),
            (0, format!("/{lib}")),
            "{lib}"
        );
    }
    // LIBCLANG_PATH first, with the headers beside it.
    assert_eq!(
        find_libclang(
            &[
                "opt/llvm/lib/libclang.so",
                "opt/llvm/lib/clang/17/include/stddef.h"
            ],
            Some("/opt/llvm/lib")
        ),
        (0, "/opt/llvm/lib/libclang.so".to_owned())
    );
}

/// `codeloop eval` on `samples` (HumanEval): its exit status and its error output.
fn eval_error(dir: &std::path::Path, samples: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let dataset = codeloop_test_support::testdata("datasets/humaneval/HumanEval.jsonl.gz");
    let out = codeloop()
        .arg("eval")
        .arg(dataset)
        .arg("--samples")
        .arg(samples)
        .args(extra)
        .env("CODELOOP_CACHE_DIR", dir.join("cache"))
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Bad inputs to `eval` get a clear error, naming file, line and field, before any work starts.
#[test]
fn eval_refuses_bad_inputs_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let good = br#"{"task_id": "HumanEval/0", "completion": "    return False\n"}"#;

    let (ok, err) = eval_error(dir.path(), &write("empty.jsonl", b"\n\n"), &[]);
    assert!(
        !ok && err.contains("empty.jsonl") && err.contains("holds no samples"),
        "{err}"
    );

    let (ok, err) = eval_error(
        dir.path(),
        &write(
            "number.jsonl",
            br#"{"task_id": "HumanEval/0", "completion": 42}"#,
        ),
        &[],
    );
    assert!(
        !ok && err.contains("line 1")
            && err.contains("field `completion` is a number, not a string"),
        "{err}"
    );

    let mut bad_utf8 = good.to_vec();
    bad_utf8.extend_from_slice(b"\n{\"task_id\": \"HumanEval/0\", \"completion\": \"\xff\"}\n");
    let (ok, err) = eval_error(dir.path(), &write("utf8.jsonl", &bad_utf8), &[]);
    assert!(
        !ok && err.contains("line 2") && err.contains("not UTF-8"),
        "{err}"
    );

    // A missing output directory is found before the dataset is even read, so nothing is lost.
    let samples = write("good.jsonl", good);
    let missing = dir.path().join("no-such-dir");
    let (ok, err) = eval_error(
        dir.path(),
        &samples,
        &["--out-dir", missing.to_str().unwrap()],
    );
    assert!(
        !ok && err.contains("--out-dir") && err.contains("does not exist"),
        "{err}"
    );
    assert!(
        !err.contains("dataset"),
        "the dataset was read first: {err}"
    );

    // Samples compressed with gzip are read; a truncated stream names the line it broke in.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let many: Vec<u8> = std::iter::repeat_n(&good[..], 400)
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    std::io::Write::write_all(&mut gz, &many).unwrap();
    let gz = gz.finish().unwrap();
    let (ok, err) = eval_error(dir.path(), &write("cut.jsonl.gz", &gz[..gz.len() / 2]), &[]);
    assert!(!ok && err.contains("truncated or corrupt"), "{err}");
    assert!(!err.contains("line 0"), "{err}");
}

/// A truncated gzip dataset is reported at the line it broke in, not "line 0".
#[test]
fn a_truncated_dataset_names_the_line_it_broke_in() {
    let dir = tempfile::tempdir().unwrap();
    let source = codeloop_test_support::testdata("datasets/humaneval/HumanEval.jsonl.gz");
    let bytes = std::fs::read(source).unwrap();
    let cut = dir.path().join("cut.jsonl.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = codeloop()
        .arg("check")
        .arg(&cut)
        .env("CODELOOP_CACHE_DIR", dir.path().join("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("truncated or corrupt") && !err.contains("line 0"),
        "{err}"
    );
    assert!(err.contains(" at line "), "{err}");
}

/// `exec --stdin` reads at most 64 MiB: `/dev/zero` is refused at once.
#[test]
fn exec_stdin_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("p.py");
    std::fs::write(&program, "print(1)\n").unwrap();
    let out = codeloop()
        .arg("exec")
        .arg(&program)
        .args(["--stdin", "/dev/zero"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("larger than the 64 MiB limit"), "{err}");
}
