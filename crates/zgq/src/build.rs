//! Building an index: check the input, resolve the parameters, normalize
//! (cosine), split into zones, let the design build its sections, write
//! the file image, then calibrate the search default on stored vectors.

use rayon::prelude::*;
use zgq_distance::Metric;

use crate::design::{self, Tune};
use crate::error::{Error, Result, check_rows};
use crate::format::header::Header;
use crate::format::writer::{self, Source};
use crate::format::{FORMAT_VERSION, Meta, Section};
use crate::zones::{ZonePlan, Zones};
use crate::{Design, NoProgress, Progress, SearchParams, SearchScratch, ZgqIndex, ZgqParams};

impl ZgqParams {
    /// Builds an index over `data` (row-major, `dim` values per row); row
    /// `i` gets id `i`. Uses the current rayon thread pool.
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::Ragged`], [`Error::NonFinite`] (also for
    /// a zero vector under cosine), [`Error::Parameter`] for parameters out
    /// of range (more zones than vectors, `m` outside 2..=256, ...).
    pub fn build(&self, data: &[f32], dim: usize) -> Result<ZgqIndex> {
        self.build_with(data, dim, None, &NoProgress)
    }

    /// [`ZgqParams::build`] with the caller's ids (`labels[i]` for row `i`,
    /// all distinct; `None`: row numbers) and a progress receiver.
    ///
    /// # Errors
    /// As [`ZgqParams::build`], and [`Error::Parameter`] if `labels` does
    /// not have one distinct id per row.
    pub fn build_with(
        &self,
        data: &[f32],
        dim: usize,
        labels: Option<&[u64]>,
        progress: &dyn Progress,
    ) -> Result<ZgqIndex> {
        let n = check_rows(data, dim)?;
        if n == 0 {
            return Err(Error::Empty);
        }
        let r = self.resolve(n, dim)?;
        if let Some(l) = labels {
            check_labels(l, n)?;
        }
        // Cosine: normalize once; every distance is then 1 − dot.
        let data = normalized(data, dim, self.metric)?;
        let data = &data[..];
        let zones = Zones::build(
            data,
            dim,
            labels,
            &ZonePlan {
                zones: r.zones,
                balance: r.balance,
                replicas: r.replicas,
                epsilon: r.epsilon,
                // Thousands of small zones: k-means' cost is n · zones · dim
                // per iteration, so a zone scan trains on a smaller sample.
                points_per_centroid: if r.design == Design::Scan { 128 } else { 256 },
                seed: r.seed,
            },
            progress,
        )?;
        let built = design::build(&zones, &r, progress)?;
        let tune = built.tune;
        let meta = built.meta.clone();
        let index = assemble(&zones, built, &r, n)?;
        progress.stage("calibrate", 1);
        let meta = &meta;
        let tuned = match tune {
            Tune::Ef => Meta {
                default_ef: calibrate(&index, data, labels, &EF_LADDER, 10, |ef| SearchParams {
                    ef: Some(ef),
                    ..SearchParams::new(11)
                })? as u32,
                ..meta.clone()
            },
            Tune::Nprobe => {
                let ladder: Vec<usize> = NPROBE_LADDER
                    .into_iter()
                    .filter(|&p| p <= zones.len())
                    .collect();
                Meta {
                    default_nprobe: calibrate(&index, data, labels, &ladder, 10, |p| {
                        SearchParams {
                            nprobe: Some(p),
                            ..SearchParams::new(11)
                        }
                    })? as u32,
                    ..meta.clone()
                }
            }
        };
        progress.advance(1);
        if tuned == *meta {
            return Ok(index);
        }
        // Only numbers change, so the archive keeps its length: written
        // over the old one in the same image.
        let mut image = index.into_image()?;
        writer::replace_meta(&mut image, &tuned)?;
        ZgqIndex::from_image(image)
    }
}

/// The file image of the sections `built` over `zones` (`n` distinct
/// vectors), as an index.
pub(crate) fn assemble(
    zones: &Zones,
    built: design::Built<'_>,
    r: &crate::params::Resolved,
    n: usize,
) -> Result<ZgqIndex> {
    let header = Header {
        version: FORMAT_VERSION,
        flags: 0,
        file_len: 0,
        dim: zones.dim as u32,
        metric: r.metric,
        design: r.design,
        edge_codes: built.shape.edge_codes,
        m: built.shape.m as u32,
        m0: built.shape.m0 as u32,
        zones: zones.len() as u32,
        n: n as u64,
        slots: zones.slots() as u64,
        meta_offset: 0,
        meta_len: 0,
        meta_crc: 0,
        pq_m: built.shape.pq_m as u32,
        bits: built.shape.bits as u32,
        entries: Vec::new(),
    };
    let sources: Vec<(Section, Source<'_>)> = built
        .sections
        .iter()
        .map(|(s, v)| (*s, Source::Bytes(&v[..])))
        .chain(
            built
                .reserved
                .iter()
                .map(|&(s, len)| (s, Source::Reserved(len))),
        )
        .collect();
    let fill = built.fill;
    let image = writer::assemble_with(header, &built.meta, &sources, |parts| match fill {
        Some(f) => f(parts),
        None => Ok(()),
    })?;
    drop(sources);
    ZgqIndex::from_image(image)
}

/// The `ef` values [`calibrate`] tries for a graph index, smallest first.
const EF_LADDER: [usize; 12] = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];

/// The `nprobe` values [`calibrate`] tries for a zone scan.
pub(crate) const NPROBE_LADDER: [usize; 20] = [
    1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024,
];

/// The default `ef` (graph) or `nprobe` (zone scan): one rung of the
/// ladder (e.g. [`EF_LADDER`]) above the smallest whose
/// recall@10 reaches 0.95 on up to 200 stored vectors (spread evenly over
/// the rows) used as queries, each excluding itself, against their exact
/// neighbours (brute force, in parallel).
///
/// Why the extra rung: stored vectors are easier queries than held-out
/// ones. The smallest rung alone chose ef 10 on fashion-mnist (held-out
/// recall 0.931) and ef 96 on glove-50 (0.954); one rung up gives 16 and
/// 128, held-out recall 0.9675 and 0.9680 (first 5000 queries,
/// docs/BENCHMARKS.md). Midpoints
/// of neighbouring vectors as queries were no harder on fashion-mnist.
///
/// `k` is 10 for an index of all the rows; a sample of a fraction `f` of
/// them (a sharded index's routing) counts recall@`10·f`: a sample's
/// nearest `10·f` lie about as far as the whole data's nearest 10.
pub(crate) fn calibrate(
    index: &ZgqIndex,
    data: &[f32],
    labels: Option<&[u64]>,
    ladder: &[usize],
    k: usize,
    params: impl Fn(usize) -> SearchParams<'static> + Sync,
) -> Result<usize> {
    let (dim, metric) = (index.dim(), index.metric());
    let n = data.len() / dim;
    let last = ladder.last().copied().unwrap_or(1);
    if n <= 4 * k {
        // Small enough that the default must be near-exhaustive.
        return Ok(if ladder == EF_LADDER { 64 } else { last });
    }
    let queries = n.min(200);
    let step = n / queries;
    let rows: Vec<usize> = (0..queries).map(|i| i * step + step / 2).collect();
    let id = |r: usize| labels.map_or(r as u64, |l| l[r]);
    let row = |r: usize| &data[r * dim..][..dim];
    let kern = zgq_distance::kernels();
    let truth: Vec<Vec<u64>> = rows
        .par_iter()
        .map(|&r| {
            let mut d: Vec<(f32, usize)> = (0..n)
                .filter(|&j| j != r)
                .map(|j| (metric.distance(kern, row(r), row(j)), j))
                .collect();
            let order =
                |a: &(f32, usize), b: &(f32, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            d.select_nth_unstable_by(k - 1, order);
            d[..k].iter().map(|&(_, j)| id(j)).collect()
        })
        .collect();
    for (i, &rung) in ladder.iter().enumerate() {
        let p = params(rung);
        let hits = rows
            .par_iter()
            .zip(&truth)
            .map_init(SearchScratch::new, |s, (&r, t)| {
                let mut out = Vec::with_capacity(k + 1);
                index.search_into(row(r), &p, s, &mut out)?;
                Ok(out
                    .iter()
                    .filter(|h| h.id != id(r))
                    .take(k)
                    .filter(|h| t.contains(&h.id))
                    .count())
            })
            .sum::<Result<usize>>()?;
        if hits as f64 >= 0.95 * (k * queries) as f64 {
            return Ok(ladder[(i + 1).min(ladder.len() - 1)]);
        }
    }
    Ok(last)
}

/// Cosine rows normalized (a zero row refused, naming it); other metrics'
/// rows as given.
pub(crate) fn normalized(
    data: &[f32],
    dim: usize,
    metric: Metric,
) -> Result<std::borrow::Cow<'_, [f32]>> {
    if metric != Metric::Cosine {
        return Ok(data.into());
    }
    let mut v = data.to_vec();
    for (row, x) in v.chunks_exact_mut(dim).enumerate() {
        if zgq_distance::normalize(x) == 0.0 {
            return Err(Error::parameter(
                "data",
                format!("row {row} is the zero vector, which has no cosine distance"),
            ));
        }
    }
    Ok(v.into())
}

pub(crate) fn check_labels(labels: &[u64], n: usize) -> Result<()> {
    if labels.len() != n {
        return Err(Error::parameter(
            "labels",
            format!("{} ids for {n} vectors", labels.len()),
        ));
    }
    let mut sorted: Vec<(u64, usize)> = labels.iter().copied().zip(0..).collect();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::parameter(
            "labels",
            format!(
                "id {} is given to rows {} and {}; ids must be distinct",
                w[0].0, w[0].1, w[1].1
            ),
        ));
    }
    Ok(())
}
