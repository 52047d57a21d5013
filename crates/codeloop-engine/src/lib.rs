//! The engine: turns raw dataset records into problems with public and hidden test suites
//! ([`prepare`], with [`split`] for compiled languages), scores samples against hidden tests
//! ([`evaluate`]), computes metrics ([`metrics`]), and drives `codeloop run` ([`run`]), whose
//! progress it reports as typed [`events`].
//!
//! Dependencies: `sha2` and `md-5` (`RustCrypto`, the well-kept digest crates) for the hashes in
//! result files (`EvalPlus` writes the MD5 of its dataset file, so ours must be MD5 too);
//! `tree-sitter` with the C++, Java, JavaScript, Go and Rust grammars to split compiled-language
//! test code into judged values ([`split`]: real parsers, error-tolerant, with byte-exact spans,
//! where hand-written pattern matching would misread nested calls and strings); `flate2` for
//! gzip-compressed samples files, as `codeloop-data` reads compressed datasets; `strsim` (already
//! in the tree through `clap`'s suggestions) for the token edit distance of the turn analyses
//! (`report::turn_analyses`), over token slices rather than characters.

mod errors;
pub mod evaluate;
pub mod events;
pub mod export;
pub mod metrics;
pub mod prepare;
pub mod report;
pub mod run;
pub mod split;

pub use errors::EngineError;

/// FNV-1a over `bytes`, its offset basis mixed with `seed`: stable across Rust versions and
/// machines (std's hasher is not promised to be), for seeds, signatures and scripted answers.
#[must_use]
pub fn stable_hash(seed: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
