//! The zone scan ([`crate::Design::Scan`]): no graph. Every stored vector is the
//! centroid of its zone plus a residual coded with 4-bit PQ; a search scans
//! the packed codes of the `nprobe` nearest zones with the fast-scan kernel
//! and re-ranks the best `rerank` exactly. ScaNN's shape.
//!
//! One lookup table serves every zone. With `x = c + r`, `r̂` the coded
//! residual and `T = −⟨q, r̂⟩` (the byte table's sum):
//!
//! ```text
//!  L2             ‖q − x‖² = ‖q − c‖² + ‖r‖² − 2⟨q − c, r⟩
//!                          ≈ ‖q − c‖² + 2T + (‖r‖² + 2⟨c, r̂⟩)
//!  cosine         1 − ⟨q, x⟩ = ‖q − x‖² / 2   (q and x unit-norm): half of L2
//!  inner product  −⟨q, x⟩ ≈ −⟨q, c⟩ + T
//! ```
//!
//! `‖q − c‖²` and `⟨q, c⟩` come from routing, the bracket is stored per
//! vector (`norms`), so the table `−⟨q_s, r_sj⟩` is computed and quantized
//! to bytes once per query and a probed zone adds only its own term. For
//! L2 and cosine the estimate's error is `2⟨q − c, r − r̂⟩`: it scales with
//! the query's distance to the probed centroid, not with `‖q‖` (the form
//! `‖q‖² + ‖x‖² − 2⟨q, c + r̂⟩` had error `2⟨q, r − r̂⟩` and lost
//! recall on fashion-mnist, whose vectors are far from the origin). Tables
//! of the residual `q − c` per zone, as FAISS's IVF-PQ builds them, cost
//! `dim · 16` multiply-adds and a quantization per probed zone — as much as
//! scanning a zone of ~200 vectors.

use rayon::prelude::*;
use zgq_distance::{FASTSCAN_BLOCK, Metric};
use zgq_hnsw::Neighbor;
use zgq_quant::{Centroids, FastScanCodes, PqParams, ProductQuantizer};

use super::{Built, Query, Searcher, Shape, Tune, base_sections, f32_bytes};
use crate::Progress;
use crate::error::Result;
use crate::format::Section;
use crate::format::view::{View, Zone};
use crate::params::Resolved;
use crate::search::SearchScratch;
use crate::zones::Zones;

/// Candidates re-ranked exactly for k = 10 by default (scaled with k).
const RERANK: usize = 100;

/// The `rerank` of a search for `k` results that leaves it unset:
/// `k · default_ef / 10` (the scan stores [`RERANK`] as its default `ef`).
pub(crate) fn default_rerank(v: &View<'_>, k: usize) -> usize {
    k.saturating_mul(v.default_ef())
        .div_ceil(10)
        .min(v.slots())
        .max(k)
}

/// The sections of a zone scan over `zones`; the residuals' quantizer is
/// `frozen` (a shard's, trained once for all shards) or trained here.
pub(crate) fn build<'a>(
    zones: &'a Zones,
    r: &Resolved,
    frozen: Option<&ProductQuantizer>,
    progress: &'a dyn Progress,
) -> Result<Built<'a>> {
    let mut records: Vec<Zone> = (0..zones.len())
        .scan(0usize, |block, z| {
            let range = zones.range(z);
            let zone = Zone {
                start: range.start,
                len: range.len(),
                entry: range.start as u32,
                max_level: 0,
                block_start: *block,
                t_min: 0.0,
            };
            *block += range.len().div_ceil(FASTSCAN_BLOCK);
            Some(zone)
        })
        .collect();
    progress.stage("encode", zones.slots() as u64);
    let parts = encode(
        r,
        &zones.centroids,
        &mut records,
        &zones.vectors,
        zones.dim,
        frozen,
    )?;
    progress.advance(zones.slots() as u64);
    let mut sections = base_sections(zones, &records, true);
    sections.extend([
        (Section::PqCodebook, parts.codebook.into()),
        (Section::Blocks, parts.blocks.into()),
        (Section::Norms, f32_owned(parts.norms)),
        (Section::CentroidColumns, f32_owned(parts.centroid_columns)),
        (Section::CentroidNorms, f32_owned(parts.centroid_norms)),
        (
            Section::ZoneGroups,
            bytemuck::cast_slice(zones.centroids.group_starts().unwrap_or_default()).into(),
        ),
        (
            Section::GroupCentres,
            f32_bytes(zones.centroids.group_centres().unwrap_or_default()),
        ),
    ]);
    Ok(Built {
        shape: Shape {
            pq_m: parts.m,
            ..Shape::default()
        },
        meta: super::meta(r, zones.len().min(16), RERANK),
        sections,
        reserved: Vec::new(),
        fill: None,
        tune: Tune::Nprobe,
    })
}

fn f32_owned(v: Vec<f32>) -> super::Bytes<'static> {
    std::borrow::Cow::Owned(f32_bytes(&v).into_owned())
}

/// What the scan build adds to the zones.
struct ScanParts {
    m: usize,
    /// The codebooks, then the same values dimension-major, as bytes.
    codebook: Vec<u8>,
    blocks: Vec<u8>,
    norms: Vec<f32>,
    centroid_columns: Vec<f32>,
    centroid_norms: Vec<f32>,
}

/// Codes the residuals of `vectors` (zone-major, zone `z` holding slots
/// `zones[z].start ..`) to their zone centroids and packs them zone by zone.
fn encode(
    params: &Resolved,
    centroids: &Centroids,
    zones: &mut [Zone],
    vectors: &[f32],
    dim: usize,
    frozen: Option<&ProductQuantizer>,
) -> Result<ScanParts> {
    let m = params.pq_m;
    let mut residuals = vectors.to_vec();
    for (z, zone) in zones.iter().enumerate() {
        let c = centroids.centroid(z);
        for row in residuals[zone.start * dim..(zone.start + zone.len) * dim].chunks_exact_mut(dim)
        {
            row.iter_mut().zip(c).for_each(|(x, c)| *x -= c);
        }
    }
    let n = residuals.len() / dim;
    let pq = match frozen {
        Some(pq) => pq.clone(),
        None => train_residual_pq(&residuals, dim, m, params.seed)?,
    };
    // Encoded in chunks that stay in cache (each subspace reads the chunk).
    let codes: Vec<u8> = residuals
        .par_chunks(4096 * dim)
        .map(|chunk| pq.encode(chunk))
        .collect::<zgq_quant::Result<Vec<_>>>()?
        .concat();
    let mut blocks = Vec::new();
    for zone in zones.iter() {
        let packed = FastScanCodes::pack(&codes[zone.start * m..(zone.start + zone.len) * m], m)?;
        blocks.extend_from_slice(packed.blocks());
    }
    let kern = zgq_distance::kernels();
    let mut norms = Vec::new();
    if params.metric != Metric::InnerProduct {
        let half = if params.metric == Metric::Cosine {
            0.5
        } else {
            1.0
        };
        norms.reserve(n);
        let mut table = Vec::new();
        for (z, zone) in zones.iter_mut().enumerate() {
            // −⟨c_s, codeword⟩ for every sub-quantizer and code: ⟨c, r̂⟩ of
            // a vector is then m lookups, no decoding.
            pq.lookup_table_into(centroids.centroid(z), Metric::InnerProduct, &mut table)?;
            let mut least = f32::INFINITY;
            let rows = zone.start..zone.start + zone.len;
            for (r, code) in residuals[rows.start * dim..rows.end * dim]
                .chunks_exact(dim)
                .zip(codes[rows.start * m..rows.end * m].chunks_exact(m))
            {
                let c_dot_r: f32 = -code
                    .iter()
                    .enumerate()
                    .map(|(s, &j)| table[s * 16 + usize::from(j)])
                    .sum::<f32>();
                let t = half * (kern.norm_sq(r) + 2.0 * c_dot_r);
                least = least.min(t);
                norms.push(t);
            }
            zone.t_min = if least.is_finite() { least } else { 0.0 };
        }
    }
    let codebook = super::pq_codebook_bytes(&pq);
    let k = centroids.k();
    let mut centroid_columns = vec![0f32; k * dim];
    for (z, c) in centroids.as_slice().chunks_exact(dim).enumerate() {
        for (d, &v) in c.iter().enumerate() {
            centroid_columns[d * k + z] = v;
        }
    }
    let kern = zgq_distance::kernels();
    let centroid_norms = centroids
        .as_slice()
        .chunks_exact(dim)
        .map(|c| kern.norm_sq(c))
        .collect();
    Ok(ScanParts {
        m,
        codebook,
        blocks,
        norms,
        centroid_columns,
        centroid_norms,
    })
}

/// The 4-bit quantizer of `m` sub-quantizers a zone scan trains on the
/// residuals of its vectors to their zones' centroids (row-major).
pub(crate) fn train_residual_pq(
    residuals: &[f32],
    dim: usize,
    m: usize,
    seed: u64,
) -> Result<ProductQuantizer> {
    let sample = crate::design::pq4_sample(residuals, dim);
    Ok(PqParams {
        seed,
        ..PqParams::new(m, 4)
    }
    .train(&sample, dim)?)
}

/// An opened zone scan: the residuals' product quantizer and the coarse
/// groups of its zones.
pub(crate) struct Scan {
    pq: ProductQuantizer,
    router: Option<Router>,
}

impl Scan {
    pub fn open(v: &View<'_>) -> Result<Scan> {
        let pq = super::pq_codebook(v, v.header().pq_m as usize)?;
        Ok(Scan {
            pq,
            router: Router::open(v)?,
        })
    }
}

/// Groups scored first: at least this many (the build put each vector in
/// the nearest zone of its 4 nearest groups, `zgq_quant`'s two-level
/// assignment) ...
const ROUTE_GROUPS: usize = 4;
/// ... and enough that their zones number at least this many times
/// `nprobe` (docs/BENCHMARKS.md, "Routing through the zone groups").
const ROUTE_ZONES_PER_PROBE: usize = 4;

/// Routing through the coarse groups of a two-level k-means (format 7's
/// `zone_groups`): a query scores the groups' centres, then the centroids
/// of the nearest groups only, `(√zones + covered zones) · dim`
/// multiply-adds instead of `zones · dim` (2.5 MB of centroids per query
/// at 1 M vectors of 128 dimensions).
struct Router {
    /// The first zone of every group, then the zone count.
    starts: Vec<u32>,
    /// The groups' coarse centroids, row-major.
    centres: Vec<f32>,
}

impl Router {
    /// The file's groups, checked; `None` for a file without them (one
    /// level of k-means, or format version 6 and older).
    fn open(v: &View<'_>) -> Result<Option<Router>> {
        if v.header().version <= crate::format::LAST_UNGROUPED_SCAN_VERSION {
            return Ok(None);
        }
        let (starts, centres) = (v.u32s(Section::ZoneGroups), v.f32s(Section::GroupCentres));
        let zones = v.zones().len();
        if starts.is_empty() && centres.is_empty() {
            return Ok(None);
        }
        let rises = starts.first() == Some(&0)
            && starts.last() == Some(&(zones as u32))
            && starts.windows(2).all(|w| w[0] <= w[1]);
        if !rises || starts.len() < 2 {
            return Err(v.corrupt(format!(
                "section `zone_groups` does not split the {zones} zones into groups \
                 (it must rise from 0 to {zones})"
            )));
        }
        let groups = starts.len() - 1;
        if centres.len() != groups * v.dim() {
            return Err(v.corrupt(format!(
                "section `group_centres` holds {} values, not {groups} groups × {} dimensions",
                centres.len(),
                v.dim()
            )));
        }
        if let Some(i) = centres.iter().position(|c| !c.is_finite()) {
            return Err(v.corrupt(format!(
                "section `group_centres`: value {i} is {}",
                centres[i]
            )));
        }
        Ok(Some(Router {
            starts: starts.to_vec(),
            centres: centres.to_vec(),
        }))
    }

    /// [`Searcher::route`] through the groups: the zones of the nearest
    /// groups get their scores (and `s.dots` their `⟨q, c⟩`), every other
    /// zone `+∞`.
    fn route(&self, v: &View<'_>, nprobe: usize, s: &mut SearchScratch) {
        let kern = zgq_distance::kernels();
        let (dim, zones) = (v.dim(), v.zones().len());
        let ip = v.metric() == Metric::InnerProduct;
        let groups = self.starts.len() - 1;
        let scores = &mut s.group_route;
        scores.clear();
        scores.resize(groups, 0.0);
        if ip {
            kern.dot_many(&s.query, &self.centres, scores);
            scores.iter_mut().for_each(|d| *d = -*d);
        } else {
            kern.l2_sq_many(&s.query, &self.centres, scores);
        }
        let order = &mut s.group_order;
        order.clear();
        order.extend(0..groups as u32);
        order.sort_unstable_by(|a, b| {
            scores[*a as usize]
                .total_cmp(&scores[*b as usize])
                .then(a.cmp(b))
        });
        s.route.clear();
        s.route.resize(zones, f32::INFINITY);
        s.dots.resize(zones, 0.0);
        let centroids = v.f32s(Section::Centroids);
        let norms = v.f32s(Section::CentroidNorms);
        let qn = kern.norm_sq(&s.query);
        let want = nprobe.saturating_mul(ROUTE_ZONES_PER_PROBE);
        let (mut covered, mut taken) = (0, 0);
        for &g in order.iter() {
            if covered >= want && taken >= ROUTE_GROUPS {
                break;
            }
            let (a, b) = (
                self.starts[g as usize] as usize,
                self.starts[g as usize + 1] as usize,
            );
            if a == b {
                continue;
            }
            let dots = &mut s.dots[a..b];
            kern.dot_many(&s.query, &centroids[a * dim..b * dim], dots);
            for ((r, d), cn) in s.route[a..b].iter_mut().zip(&*dots).zip(&norms[a..b]) {
                *r = if ip { -d } else { (qn + cn - 2.0 * d).max(0.0) };
            }
            covered += b - a;
            taken += 1;
        }
    }
}

/// Candidates in estimate order, ties by slot.
fn order_estimates(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// What the scan of one zone reads: the query's quantized table and the
/// zone's codes and per-vector terms.
struct ZoneScanner<'a> {
    kern: &'static zgq_distance::Kernels,
    blocks: &'a [u8],
    norms: &'a [f32],
    luts: &'a [u8],
    /// Bytes of one block of codes.
    stride: usize,
    /// `w · scale` and `w · bias` of the quantized table.
    ws: f32,
    bias: f32,
    filter: Option<&'a (dyn Fn(u32) -> bool + Sync)>,
    rerank: usize,
    /// Ties between estimates broken by these ids (a shard), else by slot.
    labels: Option<&'a [u64]>,
}

impl ZoneScanner<'_> {
    /// Keeps the best `rerank` of `cands`, ties as [`ZoneScanner::labels`]
    /// says.
    fn keep_best(&self, cands: &mut Vec<(f32, u32)>) {
        let rerank = self.rerank;
        if cands.len() <= rerank {
            return;
        }
        match self.labels {
            Some(ids) => cands.select_nth_unstable_by(rerank - 1, |a, b| {
                a.0.total_cmp(&b.0)
                    .then(ids[a.1 as usize].cmp(&ids[b.1 as usize]))
            }),
            None => cands.select_nth_unstable_by(rerank - 1, order_estimates),
        };
        cands.truncate(rerank);
    }

    /// Adds the zone's estimates below `bound` to `cands`; when it holds
    /// twice `rerank`, keeps the best half and tightens the bound.
    fn scan_into(&self, zone: &Zone, zone_term: f32, bound: &mut f32, cands: &mut Vec<(f32, u32)>) {
        if zone.len == 0 {
            return;
        }
        let stride = self.stride;
        // With ids breaking ties an estimate equal to the bound may still
        // belong (a smaller id): only larger ones are dropped.
        let beyond = |e: f32, bound: f32| {
            if self.labels.is_some() {
                e > bound
            } else {
                e >= bound
            }
        };
        let base = zone_term + self.bias;
        let mut sums = [0u16; FASTSCAN_BLOCK];
        let mut est = [0f32; FASTSCAN_BLOCK];
        let zone_blocks =
            &self.blocks[zone.block_start * stride..][..zone.len.div_ceil(FASTSCAN_BLOCK) * stride];
        for (b, block) in zone_blocks.chunks_exact(stride).enumerate() {
            self.kern.fastscan_block(block, self.luts, &mut sums);
            // A block whose least sum cannot beat the bound with the
            // zone's least per-vector term is skipped whole.
            let least = sums.iter().copied().min().unwrap_or(0);
            if beyond(base + zone.t_min + self.ws * f32::from(least), *bound) {
                continue;
            }
            let first = zone.start + b * FASTSCAN_BLOCK;
            let count = (zone.len - b * FASTSCAN_BLOCK).min(FASTSCAN_BLOCK);
            for (e, &sum) in est.iter_mut().zip(&sums) {
                *e = base + self.ws * f32::from(sum);
            }
            if !self.norms.is_empty() {
                for (e, &t) in est.iter_mut().zip(&self.norms[first..first + count]) {
                    *e += t;
                }
            }
            for (i, &e) in est[..count].iter().enumerate() {
                if beyond(e, *bound) {
                    continue;
                }
                let slot = (first + i) as u32;
                if let Some(keep) = self.filter
                    && !keep(slot)
                {
                    continue;
                }
                cands.push((e, slot));
                if cands.len() >= self.rerank.saturating_mul(2) {
                    self.keep_best(cands);
                    // The worst kept: after the selection, the largest.
                    *bound = cands.iter().fold(f32::NEG_INFINITY, |m, c| m.max(c.0));
                }
            }
        }
    }
}

impl Searcher for Scan {
    /// Through the zone groups when the file has them and `nprobe` is a
    /// small part of the zones; otherwise one column pass gives `⟨q, c⟩`
    /// for every zone. The scan reuses `⟨q, c⟩` for the probed zones.
    fn route(&self, v: &View<'_>, nprobe: usize, s: &mut SearchScratch) {
        let zones = v.zones().len();
        if v.shard().is_some() {
            // A shard: every zone's exact score, row by row, as the
            // sharded index's driver computes it (`crate::Routing`).
            return super::route_rows(v, s);
        }
        if let Some(router) = &self.router
            && nprobe.saturating_mul(ROUTE_ZONES_PER_PROBE) < zones / 2
        {
            return router.route(v, nprobe, s);
        }
        let kern = zgq_distance::kernels();
        let zones = v.zones().len();
        s.route.clear();
        s.route.resize(zones, 0.0);
        s.dots.resize(zones, 0.0);
        kern.dot_columns(&s.query, v.f32s(Section::CentroidColumns), &mut s.dots);
        if v.metric() == Metric::InnerProduct {
            s.route.iter_mut().zip(&s.dots).for_each(|(r, d)| *r = -d);
        } else {
            let qn = kern.norm_sq(&s.query);
            let norms = v.f32s(Section::CentroidNorms);
            for ((r, d), cn) in s.route.iter_mut().zip(&s.dots).zip(norms) {
                *r = (qn + cn - 2.0 * d).max(0.0);
            }
        }
    }

    /// The scan of the zones in `s.order`, then the exact re-rank of the
    /// best `rerank` estimates (in a shard, ties by id, every candidate
    /// kept in `s.shard_hits` for the driver's merge).
    fn search(
        &self,
        v: &View<'_>,
        q: &Query<'_>,
        s: &mut SearchScratch,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        let (metric, k) = (v.metric(), q.k);
        let rerank = q
            .rerank
            .unwrap_or_else(|| default_rerank(v, k))
            .min(v.slots())
            .max(k);
        let pq = &self.pq;
        pq.lookup_table_into(&s.query, Metric::InnerProduct, &mut s.table)?;
        pq.quantize_lut_into(&s.table, &mut s.lut)?;
        // estimate = zone term + w · (bias + scale · sum) + norms[slot]
        // (module docs); zone term: ‖q − c‖² (L2, from routing), half that
        // (cosine), −⟨q, c⟩ (inner product).
        let (h, w) = match metric {
            Metric::L2 => (1.0, 2.0),
            Metric::Cosine => (0.5, 1.0),
            Metric::InnerProduct => (0.0, 1.0),
        };
        let scanner = ZoneScanner {
            kern: zgq_distance::kernels(),
            blocks: v.section(Section::Blocks),
            norms: v.f32s(Section::Norms),
            luts: s.lut.bytes(),
            stride: pq.m() * 16,
            ws: w * s.lut.scale(),
            bias: w * s.lut.bias(),
            filter: q.filter,
            rerank,
            labels: None,
        };
        let zone_term = |z: usize| {
            if metric == Metric::InnerProduct {
                -s.dots[z]
            } else {
                h * s.route[z]
            }
        };
        let (labels, vectors) = (v.labels(), v.f32s(Section::Vectors));
        let cands = &mut s.scan;
        if v.shard().is_some() {
            // A shard: the best `rerank` estimates over the given zones,
            // ties by id (not slot: another split numbers slots
            // differently), each with its exact distance, into
            // `s.shard_hits`; the answer is their merge
            // (`crate::shard::merge`), as a driver merges the
            // shards' lists.
            cands.clear();
            let mut bound = f32::INFINITY;
            let by_id = ZoneScanner {
                labels: Some(labels),
                ..scanner
            };
            for &z in &s.order {
                let zone = v.zones()[z as usize];
                by_id.scan_into(&zone, zone_term(z as usize), &mut bound, cands);
            }
            by_id.keep_best(cands);
            let kern = zgq_distance::kernels();
            let dim = v.dim();
            let row = |slot: u32| &vectors[slot as usize * dim..][..dim];
            for &(_, slot) in cands.iter() {
                zgq_distance::prefetch_lines(row(slot), usize::MAX);
            }
            s.shard_hits.clear();
            s.shard_hits
                .extend(cands.iter().map(|&(estimate, slot)| crate::ShardHit {
                    id: labels[slot as usize],
                    distance: metric.distance(kern, &s.query, row(slot)),
                    estimate,
                }));
            let merged = crate::shard::merge([&s.shard_hits[..]], k, rerank);
            out.extend_from_slice(&merged);
            return Ok(());
        }
        // Keep the best `rerank` estimates over all probed zones.
        cands.clear();
        let mut bound = f32::INFINITY;
        for &z in &s.order {
            let zone = v.zones()[z as usize];
            scanner.scan_into(&zone, zone_term(z as usize), &mut bound, cands);
        }
        scanner.keep_best(cands);
        // A replicated vector has several slots: rank them all, keep the
        // first copy of each id.
        let want = if v.slots() > v.len() { rerank } else { k };
        s.rerank.rerank_into(
            &s.query,
            vectors,
            metric,
            cands.iter().map(|c| u64::from(c.1)),
            want,
            &mut s.best,
        )?;
        for &(slot, distance) in &s.best {
            let id = labels[slot as usize];
            if out.len() == k {
                break;
            }
            if want > k && out.iter().any(|n| n.id == id) {
                continue;
            }
            out.push(Neighbor { id, distance });
        }
        Ok(())
    }

    fn verify(&self, v: &View<'_>) -> Result<()> {
        // No graph; the codebook was checked at open.
        super::check_vectors(v)
    }

    fn reachable(&self, _: &View<'_>) -> Result<Option<usize>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use zgq_distance::Metric;

    use super::Scan;
    use crate::design::Opened;
    use crate::format::Section;
    use crate::{Design, SearchParams, SearchScratch, ZgqParams};

    /// Seeded floats in [-0.5, 0.5) (a 64-bit LCG's high bits).
    fn uniform(mut state: u64) -> impl FnMut() -> f32 {
        move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        }
    }

    /// The candidates the scan keeps are the best by estimate: every slot
    /// whose unquantized ADC estimate (decoded residual + centroid, scored
    /// directly) is clearly inside the best `rerank` is kept, and each kept
    /// estimate is within the byte-table rounding of its unquantized one.
    /// A wrong formula (sign, weight, centroid term), a wrong block offset
    /// or a block skipped that should not be fails it.
    #[test]
    fn kept_candidates_are_the_best_estimates() {
        let (n, dim, rerank) = (3_000usize, 16usize, 40usize);
        let mut next = uniform(99);
        let data: Vec<f32> = (0..n * dim)
            .map(|i| next() + (i / dim % 7) as f32 * 0.3)
            .collect();
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            let index = ZgqParams {
                design: Design::Scan,
                zones: Some(23),
                pq_m: Some(8),
                ..ZgqParams::new(metric)
            }
            .build(&data, dim)
            .unwrap();
            let v = index.view();
            let Opened::Scan(Scan { pq, .. }) = &index.design else {
                panic!("not a scan")
            };
            let m = pq.m();
            let vectors = v.f32s(Section::Vectors);
            let centroids = v.f32s(Section::Centroids);
            let blocks = v.section(Section::Blocks);
            let kern = zgq_distance::kernels();
            for qi in 0..5 {
                let mut q: Vec<f32> = (0..dim).map(|_| next()).collect();
                let p = SearchParams {
                    nprobe: Some(index.zones()),
                    rerank: Some(rerank),
                    ..SearchParams::new(10)
                };
                let mut s = SearchScratch::new();
                let mut out = Vec::new();
                index.search_into(&q, &p, &mut s, &mut out).unwrap();
                if metric == Metric::Cosine {
                    zgq_distance::normalize(&mut q);
                }
                // Unquantized estimates from decoded codes.
                let mut float_est = vec![0f32; index.slots()];
                for z in 0..index.zones() {
                    let zone = v.zones()[z];
                    let c = &centroids[z * dim..][..dim];
                    for i in 0..zone.len {
                        let b = &blocks[(zone.block_start + i / 32) * m * 16..][..m * 16];
                        let code: Vec<u8> = (0..m)
                            .map(|sub| {
                                let byte = b[sub * 16 + i % 16];
                                if i % 32 < 16 { byte & 15 } else { byte >> 4 }
                            })
                            .collect();
                        let r_hat = pq.decode(&code).unwrap();
                        let slot = zone.start + i;
                        let x = &vectors[slot * dim..][..dim];
                        let qc: Vec<f32> = q.iter().zip(c).map(|(q, c)| q - c).collect();
                        let r: Vec<f32> = x.iter().zip(c).map(|(x, c)| x - c).collect();
                        // ‖q − x‖² with r̂ for r in the cross term only.
                        let l2 = kern.norm_sq(&qc) + kern.norm_sq(&r) - 2.0 * kern.dot(&qc, &r_hat);
                        float_est[slot] = match metric {
                            Metric::L2 => l2,
                            Metric::InnerProduct => -kern.dot(&q, c) - kern.dot(&q, &r_hat),
                            Metric::Cosine => l2 / 2.0,
                        };
                    }
                }
                let w = if metric == Metric::L2 { 2.0 } else { 1.0 };
                let tol = w * s.lut.scale() * m as f32 + 1e-3; // rounding ≤ one step per table
                let mut sorted = float_est.clone();
                sorted.sort_by(f32::total_cmp);
                let threshold = sorted[rerank - 1] - 2.0 * tol;
                let kept: std::collections::HashMap<u32, f32> =
                    s.scan.iter().map(|&(e, slot)| (slot, e)).collect();
                assert_eq!(kept.len(), rerank, "{metric:?} query {qi}");
                for (slot, &f) in float_est.iter().enumerate() {
                    if f < threshold {
                        assert!(
                            kept.contains_key(&(slot as u32)),
                            "{metric:?} query {qi}: slot {slot} ({f} < {threshold}) dropped"
                        );
                    }
                }
                for (&slot, &e) in &kept {
                    let f = float_est[slot as usize];
                    assert!(
                        (e - f).abs() <= tol,
                        "{metric:?} query {qi}: slot {slot} estimate {e}, unquantized {f}, tolerance {tol}"
                    );
                }
            }
        }
    }

    /// Routing through the zone groups probes the zones that scoring every
    /// centroid would: over 1,024 zones of two-level k-means it scores at
    /// least `nprobe` zones, each exactly as full routing does, and its
    /// `nprobe` nearest are at least 97 % the same. Group ranges off by
    /// one, the wrong centres scored, a term of the route formula wrong or
    /// too few groups taken fail it.
    #[test]
    fn grouped_routing_finds_the_nearest_zones() {
        let (n, dim, blobs) = (1024 * 16, 8usize, 40usize);
        let mut next = uniform(7);
        let centres: Vec<f32> = (0..blobs * dim).map(|_| 8.0 * next()).collect();
        let data: Vec<f32> = (0..n * dim)
            .map(|i| centres[(i / dim % blobs) * dim + i % dim] + next())
            .collect();
        for metric in [Metric::L2, Metric::Cosine, Metric::InnerProduct] {
            let index = ZgqParams {
                design: Design::Scan,
                zones: Some(1024),
                ..ZgqParams::new(metric)
            }
            .build(&data, dim)
            .unwrap();
            let v = index.view();
            let Opened::Scan(Scan {
                router: Some(router),
                ..
            }) = &index.design
            else {
                panic!("{metric:?}: 1,024 zones of two-level k-means have groups")
            };
            assert!(router.starts.len() > 2, "{metric:?}");
            let mut s = SearchScratch::new();
            let (mut grouped, mut full) = (Vec::new(), Vec::new());
            for nprobe in [1, 8, 32] {
                let mut same = 0;
                for qi in 0..100 {
                    let row = (qi * 163) % n;
                    let mut q: Vec<f32> = data[row * dim..][..dim]
                        .iter()
                        .map(|x| x + 0.5 * next())
                        .collect();
                    if metric == Metric::Cosine {
                        zgq_distance::normalize(&mut q);
                    }
                    s.query = q;
                    router.route(&v, nprobe, &mut s);
                    let scores = s.route.clone();
                    crate::zones::nearest(&scores, nprobe, f32::INFINITY, metric, &mut grouped);
                    crate::design::route_rows(&v, &mut s);
                    let exact = s.route.clone();
                    crate::zones::nearest(&exact, nprobe, f32::INFINITY, metric, &mut full);
                    let scored = scores.iter().filter(|r| r.is_finite()).count();
                    assert!(scored >= 4 * nprobe, "{metric:?} nprobe {nprobe}: {scored}");
                    for (z, (g, e)) in scores.iter().zip(&exact).enumerate() {
                        assert!(
                            !g.is_finite() || (g - e).abs() <= 1e-3 * (1.0 + e.abs()),
                            "{metric:?} zone {z}: {g} routed, {e} exact"
                        );
                    }
                    same += grouped.iter().filter(|z| full.contains(z)).count();
                }
                assert!(
                    same * 100 >= 97 * 100 * nprobe,
                    "{metric:?} nprobe {nprobe}: {same} of {} zones the same",
                    100 * nprobe
                );
            }
        }
    }
}
