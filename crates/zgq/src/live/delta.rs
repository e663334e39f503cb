//! The vectors added since the base was built: rows appended in chunks of
//! write-once cells, so that a search reads them while the writer appends,
//! without a lock. Each row carries the sequence number of the write that
//! added it and of the write that deleted it; a search sees the rows its
//! snapshot's sequence number admits ([`Row::visible`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use zgq_distance::Metric;
use zgq_hnsw::Neighbor;

/// Rows per chunk.
pub(crate) const CHUNK: usize = 1024;

/// `deleted` of a row no write deleted.
pub(crate) const LIVE: u64 = u64::MAX;

/// One added vector.
#[derive(Debug)]
pub(crate) struct Row {
    pub id: u64,
    /// The write that added it.
    pub seq: u64,
    /// The write that deleted it, or [`LIVE`].
    pub deleted: AtomicU64,
    /// Normalized for cosine, as the base stores its vectors.
    pub vector: Box<[f32]>,
}

impl Row {
    /// Whether a search of snapshot `seq` sees this row.
    #[inline]
    pub fn visible(&self, seq: u64) -> bool {
        self.seq <= seq && self.deleted.load(Ordering::Relaxed) > seq
    }
}

/// [`CHUNK`] write-once rows, filled in order.
#[derive(Debug)]
pub(crate) struct Chunk {
    rows: Box<[OnceLock<Row>]>,
}

impl Chunk {
    pub fn new() -> Chunk {
        Chunk {
            rows: (0..CHUNK).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The filled rows, in order.
    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().map_while(OnceLock::get)
    }

    pub fn row(&self, i: usize) -> Option<&Row> {
        self.rows.get(i).and_then(OnceLock::get)
    }

    /// Fills row `i` (the next empty one; the single writer's call).
    pub fn fill(&self, i: usize, row: Row) {
        // A full cell cannot happen: the writer fills each index once.
        let _ = self.rows[i].set(row);
    }
}

/// The chunks of a snapshot (the writer swaps in a longer list when it
/// needs a new chunk; the chunks themselves are shared).
pub(crate) type Chunks = Arc<[Arc<Chunk>]>;

/// The row at `at` (chunk-major numbering).
pub(crate) fn row(chunks: &[Arc<Chunk>], at: usize) -> Option<&Row> {
    chunks.get(at / CHUNK).and_then(|c| c.row(at % CHUNK))
}

/// Exact search of the visible rows: appends to `out` the `k` nearest of
/// `query` (prepared: normalized for cosine) that `keep` allows, as
/// unsorted candidates; the caller merges and sorts.
pub(crate) fn search(
    chunks: &[Arc<Chunk>],
    seq: u64,
    metric: Metric,
    query: &[f32],
    k: usize,
    keep: Option<&(dyn Fn(u64) -> bool + Sync)>,
    out: &mut Vec<Neighbor>,
) {
    let kernels = zgq_distance::kernels();
    let start = out.len();
    let mut worst = f32::INFINITY;
    for chunk in chunks {
        for row in chunk.rows() {
            if !row.visible(seq) || keep.is_some_and(|f| !f(row.id)) {
                continue;
            }
            let distance = metric.distance(kernels, query, &row.vector);
            if distance > worst {
                continue; // cannot be among the k best
            }
            out.push(Neighbor {
                id: row.id,
                distance,
            });
            if out.len() - start >= 2 * k.max(16) {
                keep_best(&mut out[start..], k);
                out.truncate(start + k);
                worst = out[start..]
                    .iter()
                    .map(|n| n.distance)
                    .fold(f32::NEG_INFINITY, f32::max);
            }
        }
    }
    if out.len() - start > k {
        keep_best(&mut out[start..], k);
        out.truncate(start + k);
    }
}

/// Sorts `hits` nearest first, ties by id.
pub(crate) fn sort(hits: &mut [Neighbor]) {
    hits.sort_unstable_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
}

/// Moves the `k` best of `hits` to its front (any order).
fn keep_best(hits: &mut [Neighbor], k: usize) {
    if k < hits.len() && k > 0 {
        hits.select_nth_unstable_by(k - 1, |a, b| {
            a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id))
        });
    }
}
