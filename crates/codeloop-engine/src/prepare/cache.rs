//! The cache of prepared datasets: zstd-compressed JSON files under the cache dir, named by the
//! dataset's format, [`PREPARED_VERSION`] and a hash of what the suites depend on (the dataset's
//! bytes, the interpreter's version, the options, the sandbox's runtime sources and the splitter's).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use codeloop_data::Dataset;
use codeloop_sandbox::Executor;
use sha2::{Digest, Sha256};

use super::dataset::{PREPARED_VERSION, PrepareOptions, PreparedDataset};

/// Reads a cache file (zstd-compressed JSON, see [`write_cache`]), streaming: no copy of the
/// whole file is held beside what it decodes to. `None` when it is missing or unreadable.
pub(super) fn read_cache(file: &Path) -> Option<PreparedDataset> {
    let reader = std::io::BufReader::new(std::fs::File::open(file).ok()?);
    let decoder = zstd::stream::read::Decoder::new(reader).ok()?;
    serde_json::from_reader(std::io::BufReader::new(decoder)).ok()
}

/// Writes a cache file: the prepared dataset as JSON, zstd-compressed as it is serialized (level
/// 3: the expected values of `HumanEval+`, hundreds of MB of digits and repeated structure, shrink
/// tens of times), through a temporary file renamed into place.
pub(super) fn write_cache(file: &Path, prepared: &PreparedDataset) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = file.with_extension("partial");
    let out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
    let mut encoder = zstd::stream::write::Encoder::new(out, 3)?;
    serde_json::to_writer(&mut encoder, prepared)?;
    std::io::Write::flush(&mut encoder.finish()?)?;
    std::fs::rename(&tmp, file)
}

pub(super) fn cache_path(
    dir: &Path,
    dataset: &Dataset,
    executor: &Executor,
    options: &PrepareOptions,
) -> PathBuf {
    let mut h = Sha256::new();
    h.update(dataset.sha256.as_bytes());
    h.update(dataset.format.to_string().as_bytes());
    h.update(executor.interpreter().version.as_bytes());
    h.update(
        serde_json::to_string(options)
            .unwrap_or_default()
            .as_bytes(),
    );
    for source in codeloop_sandbox::runtime_sources() {
        h.update(source.as_bytes());
    }
    // Program-test suites are what the splitter makes of the test code.
    for source in crate::split::SOURCES {
        h.update(source.as_bytes());
    }
    let digest = h.finalize();
    let short: String = digest.iter().take(12).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    dir.join("prepared").join(format!(
        "{}-v{PREPARED_VERSION}-{short}.json.zst",
        dataset.format.to_string().replace('+', "plus")
    ))
}
