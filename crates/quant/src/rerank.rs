//! Exact re-rank: the last step of every quantized search. A walk or scan
//! over codes returns candidates with estimated distances; the `k` best by
//! exact f32 distance to their full vectors are the answer.

use zgq_distance::Metric;

use crate::error::{Error, Result, check_rows, check_shape};

/// Re-ranks candidates by exact distance, reusing its buffer across
/// queries (no allocation once warm).
#[derive(Clone, Debug, Default)]
pub struct Reranker {
    exact: Vec<(f32, u64)>,
}

impl Reranker {
    /// An empty re-ranker; it sizes itself on first use.
    pub fn new() -> Reranker {
        Reranker::default()
    }

    /// The `k` candidates nearest to `query` by exact `metric` distance to
    /// their rows of `vectors` (row-major, `query.len()` values per row),
    /// into `out` as `(row, distance)`, nearest first, ties by smaller row.
    /// A row listed twice is scored once. Every candidate row is prefetched
    /// before any is scored, so the random reads overlap.
    ///
    /// For [`Metric::Cosine`], `query` and `vectors` must be unit-norm.
    ///
    /// # Errors
    /// [`Error::Ragged`] if `vectors` is not whole rows of `query.len()`;
    /// [`Error::NonFinite`] for a NaN/inf query value; [`Error::Parameter`]
    /// for an empty query or a row past the end.
    pub fn rerank_into(
        &mut self,
        query: &[f32],
        vectors: &[f32],
        metric: Metric,
        rows: impl IntoIterator<Item = u64>,
        k: usize,
        out: &mut Vec<(u64, f32)>,
    ) -> Result<()> {
        out.clear();
        let dim = query.len();
        // Shape only: checking every stored value per query would cost a
        // full pass over `vectors` (it did, in the first version: 70× slower).
        let n = check_shape(vectors, dim)? as u64;
        check_rows(query, dim)?;
        self.exact.clear();
        self.exact.extend(rows.into_iter().map(|r| (0.0, r)));
        if let Some(&(_, bad)) = self.exact.iter().find(|&&(_, r)| r >= n) {
            return Err(Error::parameter(
                "rows",
                format!("candidate row {bad} is past the {n} rows of vectors"),
            ));
        }
        let row = |r: u64| &vectors[r as usize * dim..][..dim];
        for &(_, r) in &self.exact {
            zgq_distance::prefetch_lines(row(r), usize::MAX);
        }
        let kern = zgq_distance::kernels();
        for (d, r) in self.exact.iter_mut() {
            *d = metric.distance(kern, query, row(*r));
        }
        let order = |a: &(f32, u64), b: &(f32, u64)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        let k = k.min(self.exact.len());
        if k == 0 {
            return Ok(());
        }
        // Select the k best, sort only those; copies of one row have equal
        // keys, so they sit side by side once sorted.
        if k < self.exact.len() {
            self.exact.select_nth_unstable_by(k - 1, order);
        }
        let best = &mut self.exact[..k];
        best.sort_unstable_by(order);
        if best.windows(2).any(|w| w[0].1 == w[1].1) {
            // A repeated row among the best: rank everything, once per row.
            self.exact.sort_unstable_by(order);
            self.exact.dedup_by_key(|e| e.1);
        }
        out.extend(self.exact.iter().take(k).map(|&(d, r)| (r, d)));
        Ok(())
    }
}
