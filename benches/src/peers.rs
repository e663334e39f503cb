//! Peers measured beside ZGQ in the same run: a Python virtual environment
//! under `target/peers/venv` built from `benches/peers/requirements.txt`, and
//! one script per peer that writes result rows in the harness's shape.
//! Without Python the harness says so and runs ZGQ alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

const REQUIREMENTS: &str = "benches/peers/requirements.txt";

fn target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// The venv's python, creating or updating the venv when the requirements changed.
fn python() -> Result<Option<PathBuf>> {
    let venv = target().join("peers").join("venv");
    let py = venv.join("bin").join("python");
    let wanted =
        std::fs::read_to_string(REQUIREMENTS).with_context(|| format!("reading {REQUIREMENTS}"))?;
    let marker = venv.join(".zgq-requirements");
    if py.exists() && std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(Some(py));
    }
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("peers: python3 not found; running ZGQ alone");
        return Ok(None);
    }
    eprintln!(
        "peers: creating {} from {REQUIREMENTS} (hnswlib compiles; a few minutes) ...",
        venv.display()
    );
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()?
        .success()
        && Command::new(&py)
            .args(["-m", "pip", "install", "--quiet", "-r", REQUIREMENTS])
            .status()?
            .success();
    if !ok {
        eprintln!("peers: could not set up the Python environment; running ZGQ alone");
        return Ok(None);
    }
    std::fs::write(&marker, wanted)?;
    Ok(Some(py))
}

/// Runs peer `name` on the dataset folder; `extra` are the script's options.
pub fn run(name: &str, dataset: &Path, extra: &[String]) -> Result<Vec<serde_json::Value>> {
    let script = match name {
        "hnswlib" => "benches/peers/hnswlib_peer.py",
        "faiss-hnsw" => "benches/peers/faiss_hnsw_peer.py",
        "faiss-kmeans" => "benches/peers/faiss_kmeans_peer.py",
        "faiss-ivfpq" => "benches/peers/faiss_ivfpq_peer.py",
        "symqg" => "benches/peers/symqg_peer.py",
        "scann" => "benches/peers/scann_peer.py",
        other => bail!(
            "unknown peer {other:?}; available: hnswlib, faiss-hnsw, symqg, scann, faiss-kmeans, faiss-ivfpq"
        ),
    };
    let Some(py) = python()? else {
        return Ok(Vec::new());
    };
    let out = target().join("peers").join(format!("{name}-rows.json"));
    let status = Command::new(&py)
        .arg(script)
        .arg("--dataset")
        .arg(dataset)
        .args(extra)
        .arg("--out")
        .arg(&out)
        .status()
        .with_context(|| format!("running {script}"))?;
    if !status.success() {
        bail!("peer {name} failed ({status})");
    }
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("reading {}", out.display()))?;
    Ok(serde_json::from_str(&text)?)
}
