//! The Rust ANN crates a Rust user would otherwise pick, measured in this
//! process beside ZGQ with the same timing rules (feature `rust-peers`, off
//! by default so the default build stays lean): `hnsw_rs` (pure Rust) and
//! `usearch` (the C++ library through cxx). Both get `--peer-m` (or `--m`)
//! and `--ef-construction`, build on all threads, and sweep `--ef`.

use std::time::Instant;

use anyhow::{Result, anyhow};
use rayon::prelude::*;

use crate::harness::{Args, Data, Row, measure};

/// Resident set size of this process in bytes (Linux `/proc/self/statm`;
/// 0 elsewhere): the memory a peer without a size call is charged with.
fn rss() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// `hnsw_rs`: `Hnsw<f32, DistL2>` with `max_nb_connection = M` (level 0
/// holds 2M), parallel insertion, one query per `search` call. Its memory
/// is the growth of the resident set over the build (it has no size call).
pub(crate) fn bench_hnsw_rs(data: &Data, args: &Args) -> Result<Vec<Row>> {
    use hnsw_rs::prelude::{DistL2, Hnsw};
    let (n, dim) = (data.base.rows(), data.base.dim());
    let m = args.peer_m.or(args.m).unwrap_or(16);
    eprintln!(
        "hnsw_rs: building (M {m}, ef_construction {}) ...",
        args.ef_construction
    );
    let before = rss();
    let t = Instant::now();
    let max_layer = 16usize.min((n as f64).ln().max(1.0) as usize);
    let mut index = Hnsw::<f32, DistL2>::new(m, n, max_layer, args.ef_construction, DistL2 {});
    let rows: Vec<(&[f32], usize)> = data.base.iter_rows().zip(0..n).collect();
    index.parallel_insert_slice(&rows);
    index.set_searching_mode(true);
    let build = (t.elapsed().as_secs_f64(), rayon::current_num_threads());
    let bytes = rss().saturating_sub(before).max(n * dim * 4);
    eprintln!("hnsw_rs: built in {:.1}s", build.0);
    sweep(
        "hnsw_rs",
        data,
        args,
        (m, build, bytes),
        |_| {},
        |q, k, ef, found| {
            found.extend(index.search(q, k, ef).iter().map(|nb| nb.d_id as u64));
        },
    )
}

/// `usearch`: an f32 index with squared L2, `connectivity = M`,
/// `expansion_add = ef_construction`, parallel `add`, `expansion_search`
/// set to each `ef`. Memory: its own `memory_usage()`.
pub(crate) fn bench_usearch(data: &Data, args: &Args) -> Result<Vec<Row>> {
    use usearch::{Index, IndexOptions, MetricKind, ScalarKind};
    let (n, dim) = (data.base.rows(), data.base.dim());
    let m = args.peer_m.or(args.m).unwrap_or(16);
    eprintln!(
        "usearch: building (M {m}, ef_construction {}) ...",
        args.ef_construction
    );
    let options = IndexOptions {
        dimensions: dim,
        metric: MetricKind::L2sq,
        quantization: ScalarKind::F32,
        connectivity: m,
        expansion_add: args.ef_construction,
        expansion_search: 64,
        multi: false,
    };
    let t = Instant::now();
    let index = Index::new(&options).map_err(|e| anyhow!("usearch: {e}"))?;
    index
        .reserve_capacity_and_threads(n, rayon::current_num_threads())
        .map_err(|e| anyhow!("usearch: reserving {n} vectors: {e}"))?;
    data.base
        .as_slice()
        .par_chunks(dim)
        .enumerate()
        .try_for_each(|(i, row)| index.add(i as u64, row))
        .map_err(|e| anyhow!("usearch: adding vectors: {e}"))?;
    let build = (t.elapsed().as_secs_f64(), rayon::current_num_threads());
    let bytes = index.memory_usage();
    eprintln!("usearch: built in {:.1}s", build.0);
    sweep(
        "usearch",
        data,
        args,
        (m, build, bytes),
        |ef| index.change_expansion_search(ef),
        |q, k, _, found| {
            if let Ok(m) = index.search(q, k) {
                found.extend(m.keys.iter().copied());
            }
        },
    )
}

/// One row per `--ef`: `set_ef(ef)` once, then `search(query, k, ef, found)`
/// timed by the harness (`found` arrives empty).
fn sweep(
    name: &str,
    data: &Data,
    args: &Args,
    (m, build, bytes): (usize, (f64, usize), usize),
    set_ef: impl Fn(usize),
    search: impl Fn(&[f32], usize, usize, &mut Vec<u64>) + Sync,
) -> Result<Vec<Row>> {
    let k = args.k;
    let mut out = Vec::new();
    for &ef in &args.ef {
        let ef = ef.max(k);
        set_ef(ef);
        let measured = measure(data, k, args.repeats, |q, _: &mut (), found| {
            found.clear();
            search(q, k, ef, found);
        })?;
        eprintln!(
            "  {name} ef {ef:>4}: recall@10 {:.4}, {:>8.0} QPS 1 thread",
            measured.recall, measured.qps
        );
        let params = serde_json::json!({"M": m, "ef_construction": args.ef_construction, "ef": ef});
        out.push(Row::new(name, params, build, bytes, measured, k));
    }
    Ok(out)
}
