//! Stdin/stdout tests a model wrote (pool strategies on contest problems): each test an input
//! and, where the model gave one, the output a correct program prints.
//!
//! The tests prompt (`tests.stdio`) asks for a ```` ```input ```` block followed by an
//! ```` ```output ```` block per test. Read here, in order:
//! - a fenced block tagged `input` (or `in`, `stdin`) opens a test; a block tagged `output` (or
//!   `out`, `stdout`, `expected`) right after it is its output;
//! - an untagged block whose preceding line names it (`Input:`, `Sample input 1`, `Output:`,
//!   `Expected output`) counts as tagged;
//! - an input with no output after it is a test without an expected output (`AlphaCode`'s
//!   clustering inputs); an output with no input before it is rejected.
//!
//! Inputs and outputs are kept byte for byte (a trailing newline is added to an input that lacks
//! one: programs read lines). Nothing is run.

/// One stdio test a model wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenStdio {
    /// What the program reads.
    pub input: String,
    /// What a correct program prints, when the model said.
    pub output: Option<String>,
}

/// What [`stdio_tests`] read from one answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadStdio {
    /// The tests, in order, each once, at most the `keep` asked for.
    pub tests: Vec<WrittenStdio>,
    /// Blocks that were not part of a test (an output with no input before it).
    pub rejected: u32,
    /// Tests dropped as repeats of an earlier one.
    pub duplicates: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Input,
    Output,
    Other,
}

fn role_of(word: &str) -> Role {
    let w = word.trim().trim_end_matches(':').to_ascii_lowercase();
    if matches!(w.as_str(), "input" | "in" | "stdin") {
        Role::Input
    } else if matches!(w.as_str(), "output" | "out" | "stdout" | "expected") {
        Role::Output
    } else {
        Role::Other
    }
}

/// The role a label line gives the block after it (`Input:`, `Sample output 2`, ...).
fn role_of_label(line: &str) -> Role {
    let l = line.trim().to_ascii_lowercase();
    if l.is_empty() || l.len() > 40 {
        return Role::Other;
    }
    let words: Vec<&str> = l
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.contains(&"output") || words.contains(&"expected") {
        Role::Output
    } else if words.contains(&"input") {
        Role::Input
    } else {
        Role::Other
    }
}

/// The fenced blocks of `text`, with the role their tag or label gives them.
fn blocks(text: &str) -> Vec<(Role, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    let mut previous = "";
    while let Some(line) = lines.next() {
        let Some(tag) = line.trim_start().strip_prefix("```") else {
            if !line.trim().is_empty() {
                previous = line;
            }
            continue;
        };
        let mut body = String::new();
        let mut closed = false;
        for l in lines.by_ref() {
            if l.trim_start().starts_with("```") {
                closed = true;
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        if !closed {
            // A cut answer's last block is not trusted.
            break;
        }
        let role = match role_of(tag) {
            Role::Other if tag.trim().is_empty() => role_of_label(previous),
            role => role,
        };
        out.push((role, body));
        previous = "";
    }
    out
}

/// The stdio tests of a model's answer, at most `keep` of them (0: all).
#[must_use]
pub fn stdio_tests(text: &str, keep: u32) -> ReadStdio {
    let mut read = ReadStdio::default();
    let mut pending: Option<String> = None;
    let push = |read: &mut ReadStdio, test: WrittenStdio| {
        if read.tests.contains(&test) {
            read.duplicates += 1;
        } else if keep == 0 || read.tests.len() < keep as usize {
            read.tests.push(test);
        }
    };
    for (role, body) in blocks(text) {
        match role {
            Role::Input => {
                if let Some(input) = pending.take() {
                    push(
                        &mut read,
                        WrittenStdio {
                            input,
                            output: None,
                        },
                    );
                }
                let mut input = body;
                if !input.ends_with('\n') {
                    input.push('\n');
                }
                pending = Some(input);
            }
            Role::Output => match pending.take() {
                Some(input) => push(
                    &mut read,
                    WrittenStdio {
                        input,
                        output: Some(body),
                    },
                ),
                None => read.rejected += 1,
            },
            Role::Other => {}
        }
    }
    if let Some(input) = pending {
        push(
            &mut read,
            WrittenStdio {
                input,
                output: None,
            },
        );
    }
    read
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(input: &str, output: Option<&str>) -> WrittenStdio {
        WrittenStdio {
            input: input.to_owned(),
            output: output.map(str::to_owned),
        }
    }

    #[test]
    fn tagged_and_labelled_blocks_make_tests() {
        let answer = "Here are tests.\n\n```input\n1 2\n```\n```output\n3\n```\n\nTest 2:\nInput:\n```\n5 5\n```\nExpected output:\n```\n10\n```\n\n```input\n7 1\n```\n```python\nprint(1)\n```\n```output\n9\n```\n```input\n1 2\n```\n```output\n3\n```\n";
        let read = stdio_tests(answer, 0);
        assert_eq!(
            read.tests,
            vec![
                test("1 2\n", Some("3\n")),
                test("5 5\n", Some("10\n")),
                test("7 1\n", Some("9\n")),
            ]
        );
        assert_eq!((read.rejected, read.duplicates), (0, 1));
    }

    #[test]
    fn inputs_alone_are_tests_without_outputs_and_stray_outputs_are_rejected() {
        let answer =
            "```output\n4\n```\n```input\n1\n```\n```input\n2\n```\n```input\n3\n```\n```output\n6";
        let read = stdio_tests(answer, 0);
        // The last output block is cut (no closing fence): its input stands alone.
        assert_eq!(
            read.tests,
            vec![test("1\n", None), test("2\n", None), test("3\n", None)]
        );
        assert_eq!(read.rejected, 1);
    }

    #[test]
    fn keep_limits_the_tests_of_one_answer() {
        let answer = "```input\n1\n```\n```input\n2\n```\n```input\n3\n```\n";
        assert_eq!(stdio_tests(answer, 2).tests.len(), 2);
    }
}
