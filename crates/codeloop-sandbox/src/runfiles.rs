//! Files a job puts into its run's directory and reads back from it (`Job::files`,
//! `Job::fetch_files`): the rule their paths follow, and the hex the worker protocol carries
//! their contents in.

/// The most bytes a run's fetched files come back with, in all; files past it are left out.
pub const FETCH_BYTES: usize = 64 << 20;

/// Whether `path` may name a file in a run's directory: relative, made of normal components
/// (no `.`, `..` or empty ones), no NUL, at most 4,096 bytes with components of at most 255.
/// The error says what is wrong with it.
pub fn check_run_path(path: &str) -> Result<(), String> {
    let why = if path.is_empty() {
        Some("is empty")
    } else if path.starts_with('/') {
        Some("is absolute (paths are relative to the run's directory)")
    } else if path.contains('\0') {
        Some("contains a NUL byte")
    } else if path.len() > 4096 {
        Some("is longer than 4,096 bytes")
    } else if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        Some("has an empty, `.` or `..` component (it must stay inside the run's directory)")
    } else if path.split('/').any(|c| c.len() > 255) {
        Some("has a component longer than 255 bytes")
    } else {
        None
    };
    match why {
        Some(why) => Err(format!("the path `{}` {why}", path.escape_debug())),
        None => Ok(()),
    }
}

/// Bytes from lowercase or uppercase hex (`None` when it is not hex).
pub(crate) fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    hex.as_bytes()
        .chunks(2)
        .map(|pair| {
            let digit = |b: u8| (b as char).to_digit(16);
            Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_run_directory() {
        for ok in ["a.txt", "data/in.txt", "x/y/z", ".hidden", "a..b"] {
            assert!(check_run_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "./a",
            "a/",
            "a\0b",
        ] {
            assert!(check_run_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_run_path(&"a".repeat(256)).is_err());
    }

    #[test]
    fn hex_reads_back() {
        assert_eq!(from_hex("00ab7F"), Some(vec![0, 0xab, 0x7f]));
        assert_eq!(from_hex("0"), None);
        assert_eq!(from_hex("zz"), None);
    }
}
