//! Peers measured beside ZGQ in the same run: a Python virtual environment
//! under `target/peers/venv` built from `benches/peers/requirements.txt`, and
//! one script per peer that writes result rows in the harness's shape.
//! Without Python the harness says so and runs ZGQ alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The peer scripts and their requirements, built into the binary so that
/// an installed `zgq bench` runs them outside the source tree: written to
/// `target/peers/scripts/` before a run.
const FILES: [(&str, &str); 11] = [
    (
        "requirements.txt",
        include_str!("../peers/requirements.txt"),
    ),
    ("peercommon.py", include_str!("../peers/peercommon.py")),
    ("hnswlib_peer.py", include_str!("../peers/hnswlib_peer.py")),
    (
        "faiss_hnsw_peer.py",
        include_str!("../peers/faiss_hnsw_peer.py"),
    ),
    (
        "faiss_kmeans_peer.py",
        include_str!("../peers/faiss_kmeans_peer.py"),
    ),
    ("symqg_peer.py", include_str!("../peers/symqg_peer.py")),
    ("scann_peer.py", include_str!("../peers/scann_peer.py")),
    (
        "zgq_python_peer.py",
        include_str!("../peers/zgq_python_peer.py"),
    ),
    (
        "zgq_annb_peer.py",
        include_str!("../peers/zgq_annb_peer.py"),
    ),
    ("churn_peer.py", include_str!("../peers/churn_peer.py")),
    (
        "zgq_annb_config.yml",
        include_str!("../../crates/python/ann-benchmarks/zgq/config.yml"),
    ),
];

/// The path of one of [`FILES`], written out.
pub fn script(name: &str) -> Result<PathBuf> {
    Ok(scripts()?.join(name))
}

/// The Python package's source (`crates/python`), where this binary was built.
fn package_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("crates")
        .join("python")
}

/// Installs the `zgq` package from [`package_source`] into the peers' venv
/// (pip builds it with cargo: quick when nothing changed), so the Python
/// peers time the code of this checkout.
fn install_zgq(py: &Path) -> Result<()> {
    let src = package_source();
    if !src.join("pyproject.toml").exists() {
        bail!(
            "the peers python and annb install the zgq package from its source, {}, which is not \
             there (an installed binary): run them from a checkout with cargo xtask bench",
            src.display()
        );
    }
    eprintln!(
        "peers: installing the zgq package from {} ...",
        src.display()
    );
    let ok = Command::new(py)
        .args(["-m", "pip", "install", "--quiet"])
        .arg(&src)
        .status()?
        .success();
    if !ok {
        bail!("pip could not build and install {}", src.display());
    }
    Ok(())
}

/// Writes [`FILES`] where the peers run from (only those that changed).
fn scripts() -> Result<PathBuf> {
    let dir = target().join("peers").join("scripts");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, text) in FILES {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text) {
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(dir)
}

fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The venv's python, creating or updating the venv when the requirements changed.
fn python() -> Result<Option<PathBuf>> {
    let venv = target().join("peers").join("venv");
    let py = venv.join("bin").join("python");
    let requirements = scripts()?.join("requirements.txt");
    let wanted = FILES[0].1;
    let marker = venv.join(".zgq-requirements");
    if py.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted) {
        return Ok(Some(py));
    }
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("peers: python3 not found; running ZGQ alone");
        return Ok(None);
    }
    eprintln!(
        "peers: creating {} from {} (hnswlib compiles; a few minutes) ...",
        venv.display(),
        requirements.display()
    );
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()?
        .success()
        && Command::new(&py)
            .args(["-m", "pip", "install", "--quiet", "-r"])
            .arg(&requirements)
            .status()?
            .success();
    if !ok {
        eprintln!("peers: could not set up the Python environment; running ZGQ alone");
        return Ok(None);
    }
    std::fs::write(&marker, wanted)?;
    Ok(Some(py))
}

/// A command running the peer script `script` with the venv's python.
///
/// # Errors
/// If there is no Python environment.
pub fn command(script: &str) -> Result<Command> {
    let Some(py) = python()? else {
        bail!("no Python environment for the peers");
    };
    let mut cmd = Command::new(py);
    cmd.arg(scripts()?.join(script));
    Ok(cmd)
}

/// Runs peer `name` on the dataset folder; `extra` are the script's options.
pub fn run(name: &str, dataset: &Path, extra: &[String]) -> Result<Vec<serde_json::Value>> {
    let script = match name {
        "hnswlib" => "hnswlib_peer.py",
        "faiss-hnsw" => "faiss_hnsw_peer.py",
        "faiss-kmeans" => "faiss_kmeans_peer.py",
        "symqg" => "symqg_peer.py",
        "scann" => "scann_peer.py",
        "python" => "zgq_python_peer.py",
        "annb" => "zgq_annb_peer.py",
        other => bail!(
            "unknown peer {other:?}; available: hnswlib, faiss-hnsw, symqg, scann, faiss-kmeans, \
             python (ZGQ from Python beside hnswlib), annb (ZGQ's ann-benchmarks wrapper)"
        ),
    };
    let Some(py) = python()? else {
        return Ok(Vec::new());
    };
    if matches!(name, "python" | "annb") {
        install_zgq(&py)?;
    }
    let out = target().join("peers").join(format!("{name}-rows.json"));
    let script = scripts()?.join(script);
    let status = Command::new(&py)
        .arg(&script)
        .arg("--dataset")
        .arg(dataset)
        .args(extra)
        .arg("--out")
        .arg(&out)
        .status()
        .with_context(|| format!("running {}", script.display()))?;
    if !status.success() {
        bail!("peer {name} failed ({status})");
    }
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    Ok(serde_json::from_str(&text)?)
}
