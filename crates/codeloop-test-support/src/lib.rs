//! What codeloop's tests and benchmarks share and the product never runs: [`mock::MockServer`], a
//! local server speaking the `OpenAI` API with scripted faults and scripted models, the far end of
//! the HTTP backend's tests, of the CLI's end-to-end tests and of `codeloop bench llm`/`run`; and
//! [`testdata`], the repository's test data found from any crate's tests.
//!
//! It is a crate of its own so that no product crate carries a test double: the crates that test
//! with it take it as a dev-dependency, and only the benchmarks (which run it on purpose) as a
//! normal one.
//!
//! Dependencies: `tokio` (the server is a real TCP server on loopback, so clients are tested over
//! the network stack they use in production) and `serde_json` (request bodies are read, and
//! answers written, as the JSON the `OpenAI` API speaks).

mod fixtures;
pub mod mock;

pub use fixtures::{testdata, testdata_root};
