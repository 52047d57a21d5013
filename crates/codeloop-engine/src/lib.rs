//! The engine: turns raw dataset records into problems with public and hidden test suites
//! ([`prepare`]), scores samples against hidden tests ([`evaluate`]), and computes metrics
//! ([`metrics`]).

mod errors;
pub mod evaluate;
pub mod export;
pub mod metrics;
pub mod prepare;
pub mod report;
pub mod run;

pub use errors::EngineError;
