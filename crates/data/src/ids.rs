//! Lists of ids in text: what `zgq add --ids` and `zgq delete --ids` read.

use std::path::Path;

use crate::error::{Error, Result};

/// The ids in the text file at `path`: unsigned 64-bit integers separated
/// by whitespace or commas; `#` starts a comment that runs to the end of
/// its line.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read; [`Error::Format`] naming the
/// line and the text of the first entry that is not an id.
///
/// # Example
/// ```
/// let path = std::env::temp_dir().join(format!("zgq-ids-doc-{}.txt", std::process::id()));
/// std::fs::write(&path, "# stale vectors\n3, 17\n18446744073709551615\n")?;
/// assert_eq!(zgq_data::read_ids(&path)?, [3, 17, u64::MAX]);
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_ids(path: &Path) -> Result<Vec<u64>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut ids = Vec::new();
    for (line, content) in text.lines().enumerate() {
        let content = content.split('#').next().unwrap_or("");
        for word in content
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
        {
            let id = word.parse::<u64>().map_err(|e| Error::Format {
                path: path.to_path_buf(),
                detail: format!(
                    "line {}: {word:?} is not an id (an integer in 0..=18446744073709551615: {e})",
                    line + 1
                ),
            })?;
            ids.push(id);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    /// The bug it catches: a negative or oversized id wrapped or
    /// truncated instead of refused with its line.
    #[test]
    fn ids_out_of_range_are_refused_with_their_line() {
        let dir = std::env::temp_dir().join(format!("zgq-ids-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (text, bad) in [
            ("1\n2\n-3\n", "line 3: \"-3\""),
            (
                "1 18446744073709551616\n",
                "line 1: \"18446744073709551616\"",
            ),
            ("1.5\n", "line 1: \"1.5\""),
        ] {
            let path = dir.join("ids.txt");
            std::fs::write(&path, text).unwrap();
            let e = super::read_ids(&path).unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
