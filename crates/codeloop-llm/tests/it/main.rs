//! The integration tests of `codeloop-llm`, one binary: the HTTP backend against a real server on
//! loopback, and the embedded backend on a real model file.

mod embedded;
mod openai;
