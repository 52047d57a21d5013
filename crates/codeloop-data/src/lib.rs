//! Dataset loading for codeloop: where the bytes come from ([`Source`]), what format they are in
//! ([`Format`]) and the raw records ([`RawTask`]), with a content hash of what was loaded.
//!
//! This crate knows file formats, not tests: turning a raw record into a problem with public and
//! hidden test suites needs the sandbox (reference solutions are run) and lives in `codeloop-engine`.
//!
//! Dependencies: `ureq` (small blocking HTTP client; downloads are rare and sequential, so an async
//! stack would be weight for nothing), `flate2` for `.gz`, `sha2` for the content hash, `parquet`
//! (Apache Arrow's reader, without its Arrow layer: rows are read as records and turned into the
//! same JSON the other layouts are, so each format has one parser) for the hub's Parquet files, with
//! the codecs the hub uses (snappy, zstd, lz4, gzip).

mod errors;
mod facts;
mod formats;
mod source;
mod stdio;

pub use errors::DataError;
pub use facts::{
    KNOWN_BROKEN, is_mbpp_task, known_broken, mbpp_task_id, mbpp_task_number, special_oracle,
};
pub use formats::{
    Dataset, Format, HumanEvalRecord, HumanEvalXRecord, MultiplERecord, RawTask, parse_dataset,
};
pub use source::{KnownDataset, Source, cache_dir, cached_or_download, load, python_package_file};
pub use stdio::StdioRecord;
