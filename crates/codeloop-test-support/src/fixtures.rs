//! The repository's test data (`testdata/`), found from any crate's tests.

use std::path::PathBuf;

/// The repository's `testdata/` directory: an absolute path with no `..` in it, so that it prints
/// the same in every message and a snapshot filter can replace it whole.
#[must_use]
pub fn testdata_root() -> PathBuf {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata");
    std::fs::canonicalize(root).expect("the repository's testdata/ directory")
}

/// `relative` under [`testdata_root`].
#[must_use]
pub fn testdata(relative: &str) -> PathBuf {
    testdata_root().join(relative)
}
