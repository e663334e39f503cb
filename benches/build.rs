// Records what the harness was compiled from, for the report: the RUSTFLAGS
// and the git revision (HEAD when this binary was built, "+modified" when
// tracked files differed from it), so that a report written later, after
// commits the binary does not contain, still names the code it measured.
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn main() {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS")
        .unwrap_or_default()
        .replace('\x1f', " ");
    println!("cargo:rustc-env=ZGQ_BUILD_RUSTFLAGS={flags}");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    println!("cargo:rerun-if-changed=build.rs");
    // Run again when HEAD moves or the index changes (a commit, a checkout,
    // a staged edit); only existing files, or cargo would rerun every time.
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let branch = git(&["symbolic-ref", "-q", "HEAD"]);
        for f in ["HEAD", "index", "packed-refs"]
            .into_iter()
            .map(String::from)
            .chain(branch)
        {
            let path = std::path::Path::new(&dir).join(f);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
    let rev = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let modified =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let suffix = if modified { "+modified" } else { "" };
    println!("cargo:rustc-env=ZGQ_BUILD_REV={rev}{suffix}");
}
