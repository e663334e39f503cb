use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// Writes `bytes` to `path` atomically: into a temporary file in the same
/// folder, `fsync`ed, renamed over `path`, then the folder `fsync`ed. A
/// failed or killed write leaves any existing file at `path` whole (and
/// memory maps of it valid); a failed write removes its temporary file.
///
/// Every call writes its own temporary file (`.zgq-tmp-PID-N`, `N`
/// counting this process's writes): two threads or processes writing the
/// same path never share one, so the file ends as one writer's whole
/// bytes. The name is short whatever the target's, so any legal target
/// name works. Temporaries that crashed writers left in the folder (their
/// process gone, untouched for 10 minutes; see [`stale_temporaries`]) are
/// removed first.
///
/// What `path` may be: absent, or a regular file (replaced). A symbolic
/// link is followed: the file it points to is replaced atomically and the
/// link stays, as editors do. A folder, device, FIFO or socket is refused
/// (a device would have been replaced by a regular file).
///
/// # Errors
/// The operating system's error (the caller names the path),
/// `IsADirectory` for a folder, `InvalidInput` for another target that is
/// not a regular file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = &resolve(path)?;
    refuse_special(path)?;
    let dir = folder(path);
    for stale in stale_temporaries(dir) {
        let _ = std::fs::remove_file(stale);
    }
    let tmp = temporary(dir);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Checks before any work that [`write_atomic`] can write `path`: a
/// target it accepts (see there), in a folder where this process can
/// create a file, and not the same file (device and inode, whatever the
/// names) as any of `inputs` — an output written over its own input
/// destroys it. Front ends call it before a build or a search, so that a
/// mistake costs nothing.
///
/// # Errors
/// `IsADirectory` for a folder, `InvalidInput` naming what else is wrong
/// (a target that is not a regular file, or the input it is), or the operating system's error creating a
/// file in the folder.
pub fn check_output(path: &Path, inputs: &[&Path]) -> std::io::Result<()> {
    let target = resolve(path)?;
    refuse_special(&target)?;
    if let Ok(out) = std::fs::metadata(&target) {
        for input in inputs {
            if std::fs::metadata(input).is_ok_and(|i| same_file(&i, &out)) {
                return Err(invalid(format!(
                    "is the same file as the input {}; write the output elsewhere",
                    input.display()
                )));
            }
        }
    }
    let tmp = temporary(folder(&target));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map(drop)?;
    std::fs::remove_file(&tmp)
}

/// Temporary files of writers that died in `dir` (named like those of
/// [`write_atomic`], their process no longer running, not modified for 10
/// minutes). Only Linux tells whether a process runs (`/proc`); elsewhere
/// none is reported.
pub fn stale_temporaries(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(600);
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix(".zgq-tmp-"))
                .and_then(|rest| rest.split_once('-'))
                .and_then(|(pid, n)| n.parse::<u64>().ok().and(pid.parse::<u32>().ok()))
            else {
                return false;
            };
            let modified = e.metadata().and_then(|m| m.modified());
            !process_runs(pid) && modified.is_ok_and(|m| m < old)
        })
        .map(|e| e.path())
        .collect()
}

#[cfg(target_os = "linux")]
fn process_runs(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_runs(_pid: u32) -> bool {
    true
}

/// `path`, or the file a symbolic link at `path` points to.
fn resolve(path: &Path) -> std::io::Result<std::path::PathBuf> {
    if path.file_name().is_none() {
        return Err(invalid("the path names no file".into()));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => std::fs::canonicalize(path).map_err(|e| {
            invalid(format!(
                "is a symbolic link whose target cannot be reached ({e})"
            ))
        }),
        _ => Ok(path.to_path_buf()),
    }
}

fn refuse_special(path: &Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(std::io::Error::new(
            std::io::ErrorKind::IsADirectory,
            "is a folder; give a file name",
        )),
        Ok(m) if !m.is_file() => Err(invalid(
            "is not a regular file (a device, FIFO or socket); give a file name".into(),
        )),
        _ => Ok(()),
    }
}

fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn temporary(dir: &Path) -> std::path::PathBuf {
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".zgq-tmp-{}-{n}", std::process::id()))
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

#[cfg(not(unix))]
fn same_file(_a: &std::fs::Metadata, _b: &std::fs::Metadata) -> bool {
    false
}

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)
}

/// [`write_atomic`] with this crate's error, naming `path`.
pub(crate) fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes).map_err(|e| Error::io(path, e))
}

#[cfg(all(test, unix))]
mod tests {
    use std::path::{Path, PathBuf};

    use super::{check_output, stale_temporaries, write_atomic};

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("zgq-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn refused(e: std::io::Error, needle: &str) {
        use std::io::ErrorKind::{InvalidInput, IsADirectory};
        assert!(matches!(e.kind(), InvalidInput | IsADirectory), "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }

    /// A symbolic link is followed: its target gets the bytes, the link
    /// stays a link (it was replaced by a regular file).
    #[test]
    fn a_symbolic_link_replaces_its_target() {
        let d = dir("link");
        let (target, link) = (d.join("target.bin"), d.join("link.bin"));
        std::fs::write(&target, b"old").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        // A link to nothing is refused, not replaced by a file.
        let dangling = d.join("dangling.bin");
        std::os::unix::fs::symlink(d.join("absent"), &dangling).unwrap();
        refused(write_atomic(&dangling, b"x").unwrap_err(), "symbolic link");
        assert!(
            std::fs::symlink_metadata(&dangling)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// Devices, FIFOs and folders are refused untouched (a device was
    /// replaced by a regular file when written as root).
    #[test]
    fn special_files_are_refused() {
        let d = dir("special");
        let fifo = d.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        for (path, needle) in [
            (Path::new("/dev/null"), "not a regular file"),
            (d.as_path(), "is a folder"),
        ]
        .into_iter()
        .chain(
            made.is_ok_and(|s| s.success())
                .then_some((fifo.as_path(), "not a regular file")),
        ) {
            refused(write_atomic(path, b"x").unwrap_err(), needle);
            refused(check_output(path, &[]).unwrap_err(), needle);
        }
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// An output that is an input, by another name (a hard link, `./`), is
    /// refused; a distinct file is not.
    #[test]
    fn an_output_that_is_an_input_is_refused() {
        let d = dir("same");
        let input = d.join("in.fvecs");
        std::fs::write(&input, b"vectors").unwrap();
        let hard = d.join("hard.fvecs");
        std::fs::hard_link(&input, &hard).unwrap();
        for out in [input.clone(), d.join(".").join("in.fvecs"), hard] {
            refused(check_output(&out, &[&input]).unwrap_err(), "in.fvecs");
        }
        check_output(&d.join("other.ivecs"), &[&input]).unwrap();
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            2,
            "the probe file was left"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    /// A crashed writer's temporary (process gone, old) is found and
    /// removed by the next write; a recent one is left alone; a target
    /// name of 250 bytes works (the temporary's name is short).
    #[test]
    fn stale_temporaries_are_removed_and_long_names_work() {
        let d = dir("stale");
        // Linux pids stay below 2^22: this writer is gone.
        let (stale, fresh) = (
            d.join(".zgq-tmp-999999999-0"),
            d.join(".zgq-tmp-999999999-1"),
        );
        for p in [&stale, &fresh] {
            std::fs::write(p, b"half an index").unwrap();
        }
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        assert_eq!(stale_temporaries(&d), vec![stale.clone()]);
        let long = d.join("x".repeat(250));
        write_atomic(&long, b"bytes").unwrap();
        assert_eq!(std::fs::read(&long).unwrap(), b"bytes");
        assert!(!stale.exists() && fresh.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
