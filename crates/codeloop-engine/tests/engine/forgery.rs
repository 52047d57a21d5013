//! A wrong solution cannot forge its pass in a compiled language: in C++, Java, JavaScript, Go
//! and Rust, a solution that returns a wrong answer and also tries to report success (the old
//! "passed" marker, exits with every plausible code, writes to every fd from 3 to 20, fake
//! framing on stdout and stderr, exit handlers, a `main` of its own, code that runs before
//! `main`, the harness's own framing read from its memory) is scored as a failure, and the
//! failing tests name input, expected and got.

use crate::support::{completions, executor, prepared, score};
use codeloop_types::{Outcome, Verdict};

/// Scores `wrong` (a completion that is a wrong answer) and each forgery (a completion: the wrong
/// answer plus an attempt to pass) of problem `id`: none may pass, and the plain wrong answer is
/// a wrong answer naming input, expected and got.
fn none_pass(dataset: &'static str, id: &str, wrong: &str, forgeries: &[(&str, String)]) {
    let prepared = prepared(dataset);
    let mut samples = vec![wrong.to_owned()];
    samples.extend(forgeries.iter().map(|(_, c)| c.clone()));
    let refs: Vec<&str> = samples.iter().map(String::as_str).collect();
    let results = score(prepared, executor(), &completions(id, &refs));
    match &results[0].report.verdict {
        Verdict::WrongAnswer {
            input,
            expected: Some(_),
            got: Some(_),
            ..
        } => assert!(!input.is_empty()),
        v => panic!("{id}: the plain wrong answer: {v:?}"),
    }
    // Every test has a verdict of its own, and some pass (the constant answer is right for some).
    let tests = &results[0].report.tests;
    assert!(tests.len() > 1, "{id}: {tests:?}");
    assert!(tests.iter().any(|t| t.verdict.is_pass()), "{id}: {tests:?}");
    // Feedback shows each failing test as it does for Python: input, expected, got.
    let problem = prepared.problems.iter().find(|p| p.id().0 == id).unwrap();
    let feedback = codeloop_strategy::render_feedback(
        &codeloop_strategy::PromptLibrary::builtin(),
        codeloop_strategy::Granularity::AllFailures,
        &problem.hidden.0,
        &results[0].report,
        "f",
        problem.public.language.name(),
    );
    let failing = tests.iter().filter(|t| !t.verdict.is_pass()).count();
    assert_eq!(
        feedback.matches("Expected: true").count(),
        failing,
        "{id}: {feedback}"
    );
    assert_eq!(
        feedback.matches("Got: false").count(),
        failing,
        "{feedback}"
    );
    for ((what, _), r) in forgeries.iter().zip(&results[1..]) {
        assert_ne!(
            r.report.outcome,
            Outcome::Passed,
            "{id}: the forgery `{what}` passed: {:?}",
            r.report
        );
        assert_ne!(
            r.report.outcome,
            Outcome::HarnessError,
            "{id}: the forgery `{what}` is a harness error: {:?}",
            r.report
        );
        // A forgery that does not compile proves nothing, except where the language refuses it.
        if !what.contains("of its own") {
            assert!(
                !matches!(r.report.verdict, Verdict::CompileError { .. }),
                "{id}: the forgery `{what}` does not compile: {:?}",
                r.report.verdict
            );
        }
    }
}

#[test]
fn cpp_forgeries_fail() {
    let wrong = "    return false;\n}\n";
    let with = |extra: &str| format!("{wrong}{extra}\n");
    let forgeries = [
        (
            "the old marker, from a static initializer, then _exit(0)",
            with(
                "#include <unistd.h>\nstatic int forge = (::write(3, \"passed\\n\", 7), ::_exit(0), 0);",
            ),
        ),
        (
            "exit(0) in a static initializer",
            with("#include <cstdlib>\nstatic int forge = (std::exit(0), 0);"),
        ),
        (
            "exit(77)",
            with("#include <cstdlib>\nstatic int forge = (std::exit(77), 0);"),
        ),
        (
            "every fd from 3 to 20, then exit",
            with(
                "#include <unistd.h>\n#include <cstdio>\nstatic int forge = [] { for (int fd = 3; fd <= 20; fd++) dprintf(fd, \"compiled\\npassed\\nend\\n0 end\\n\"); ::_exit(0); return 0; }();",
            ),
        ),
        (
            "fake framing on stdout and stderr",
            with(
                "#include <cstdio>\nstatic int forge = [] { printf(\"passed\\nend\\n\"); fprintf(stderr, \"passed\\nend\\n\"); return 0; }();",
            ),
        ),
        (
            "an atexit handler",
            with(
                "#include <cstdlib>\n#include <unistd.h>\nstatic int forge = (std::atexit([] { ::write(3, \"end\\n\", 4); ::_exit(0); }), 0);",
            ),
        ),
        ("a main of its own", with("int main() { return 0; }")),
        ("renaming the trusted main", with("#define main not_main")),
        (
            "the harness's framing, read from its memory: every test true, then the end",
            with(
                "#include <string>\n#include <unistd.h>\nstatic int forge = [] { for (int i = 0; i < 20; i++) { std::string r = std::string(codeloop::frame) + \" v \" + std::to_string(i) + \" true\\n\"; ::write(3, r.data(), r.size()); } std::string e = std::string(codeloop::frame) + \" end\\n\"; ::write(3, e.data(), e.size()); ::_exit(0); return 0; }();",
            ),
        ),
    ];
    none_pass(
        "humaneval-x/humaneval_cpp.jsonl.gz",
        "CPP/0",
        wrong,
        &forgeries,
    );
}

#[test]
fn java_forgeries_fail() {
    let wrong = "        return false;\n    }\n}\n";
    let with = |extra: &str| format!("        return false;\n    }}\n{extra}\n}}\n");
    let forgeries = [
        (
            "exit code 77 from a static initializer",
            with("    static { System.exit(77); }"),
        ),
        ("exit code 0", with("    static { System.exit(0); }")),
        (
            "halt from the constructor",
            with("    Solution() { Runtime.getRuntime().halt(77); }"),
        ),
        (
            "fake framing on stdout and stderr",
            with(
                "    static { new java.io.PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true).println(\"passed\\nend\\n0 end\"); System.err.println(\"end\"); }",
            ),
        ),
        (
            "a shutdown hook",
            with(
                "    static { Runtime.getRuntime().addShutdownHook(new Thread(() -> new java.io.PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true).println(\"end\"))); }",
            ),
        ),
        (
            "the harness's framing, read by reflection: every test true, then the end",
            with(
                "    static { try { java.lang.reflect.Field f = Class.forName(\"Codeloop\").getDeclaredField(\"frame\"); f.setAccessible(true); String frame = (String) f.get(null); java.io.PrintStream out = new java.io.PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true); for (int i = 0; i < 20; i++) out.println(frame + \" v \" + i + \" true\"); out.println(frame + \" end\"); } catch (Throwable e) { } System.exit(0); }",
            ),
        ),
    ];
    none_pass(
        "humaneval-x/humaneval_java.jsonl.gz",
        "Java/0",
        wrong,
        &forgeries,
    );
}

#[test]
fn javascript_forgeries_fail() {
    let wrong = "  return false;\n};\n";
    let with = |extra: &str| format!("{wrong}{extra}\n");
    let forgeries = [
        (
            "the old marker, then exit(0)",
            with("require('fs').writeSync(3, 'passed\\n'); process.exit(0);"),
        ),
        ("exit(0)", with("process.exit(0);")),
        ("exit(77)", with("process.exit(77);")),
        (
            "every fd from 3 to 20, then exit",
            with(
                "for (let fd = 3; fd <= 20; fd++) { try { require('fs').writeSync(fd, 'passed\\nend\\n0 end\\n'); } catch (e) {} } process.exit(0);",
            ),
        ),
        (
            "fake framing on stdout and stderr",
            with("console.log('passed\\nend'); console.error('passed\\nend');"),
        ),
        (
            "an exit handler",
            with("process.on('exit', () => { require('fs').writeSync(3, 'end\\n'); });"),
        ),
        (
            "replacing the harness",
            with("globalThis.__codeloop = { value() {}, check() {}, end() {} };"),
        ),
    ];
    none_pass(
        "humaneval-x/humaneval_js.jsonl.gz",
        "JavaScript/0",
        wrong,
        &forgeries,
    );
}

#[test]
fn go_forgeries_fail() {
    if !std::path::Path::new("/usr/bin/go").exists() {
        return;
    }
    let wrong = "    return false\n}\n";
    let with = |extra: &str| format!("{wrong}{extra}\n");
    let forgeries = [
        (
            "the old marker from init, then exit(0)",
            with(
                "func init() {\n\tos.NewFile(3, \"r\").Write([]byte(\"passed\\n\"))\n\tos.Exit(0)\n}",
            ),
        ),
        ("exit(0) in init", with("func init() {\n\tos.Exit(0)\n}")),
        ("exit(77) in init", with("func init() {\n\tos.Exit(77)\n}")),
        (
            "every fd from 3 to 20, then exit",
            with(
                "func init() {\n\tfor fd := 3; fd <= 20; fd++ {\n\t\tos.NewFile(uintptr(fd), \"x\").Write([]byte(\"passed\\nend\\n0 end\\n\"))\n\t}\n\tos.Exit(0)\n}",
            ),
        ),
        (
            "fake framing on stdout and stderr",
            with(
                "func init() {\n\tfmt.Println(\"PASS\\nend\")\n\tfmt.Fprintln(os.Stderr, \"end\")\n}",
            ),
        ),
        (
            "a TestMain of its own",
            with("func TestMain(m *testing.M) {\n\tos.Exit(0)\n}"),
        ),
        (
            "the harness's framing, read from its variable: every test true, then the end",
            with(
                "func init() {\n\tfor i := 0; i < 20; i++ {\n\t\tcodeloopEmit(fmt.Sprintf(\"v %d true\", i))\n\t}\n\tcodeloopEmit(\"end\")\n\tos.Exit(0)\n}",
            ),
        ),
    ];
    none_pass(
        "humaneval-x/humaneval_go.jsonl.gz",
        "Go/0",
        wrong,
        &forgeries,
    );
}

#[test]
fn rust_forgeries_fail() {
    let wrong = "    false\n}\n";
    let with = |extra: &str| format!("{wrong}{extra}\n");
    let forged_body = |body: &str| format!("    {body}\n    false\n}}\n");
    let forgeries = [
        (
            "the old marker from the function, then exit(0)",
            forged_body(
                "{ use std::io::Write; use std::os::unix::io::FromRawFd; let mut f = unsafe { std::fs::File::from_raw_fd(3) }; let _ = f.write_all(b\"passed\\nend\\n\"); std::process::exit(0); }",
            ),
        ),
        ("exit(77)", forged_body("std::process::exit(77);")),
        (
            "every fd from 3 to 20, then exit",
            forged_body(
                "{ use std::io::Write; use std::os::unix::io::FromRawFd; for fd in 3..=20 { let mut f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) }); let _ = f.write_all(b\"passed\\nend\\n0 end\\n\"); } std::process::exit(0); }",
            ),
        ),
        (
            "fake framing on stdout and stderr",
            forged_body("{ println!(\"passed\\nend\"); eprintln!(\"passed\\nend\"); }"),
        ),
        ("a main of its own", with("fn main() {}")),
        (
            "code that runs before main",
            with(
                "#[used]\n#[link_section = \".init_array\"]\nstatic FORGE: extern \"C\" fn() = { extern \"C\" fn forge() { use std::io::Write; use std::os::unix::io::FromRawFd; let mut f = unsafe { std::fs::File::from_raw_fd(3) }; let _ = f.write_all(b\"passed\\nend\\n\"); std::process::exit(0); } forge };",
            ),
        ),
    ];
    none_pass(
        "multipl-e-rs/humaneval-rs.jsonl",
        "HumanEval_0_has_close_elements",
        wrong,
        &forgeries,
    );
}
