//! A sharded index: the zones trained once on a sample and frozen in a
//! small **routing file** ([`Routing`]), each **shard** an ordinary index
//! file holding some of the zones ([`Routing::build_shard`]), and a query
//! routed once over all zones by the driver, searched only on the shards
//! that hold its zones, the shards' lists merged ([`Routing::plan`],
//! [`merge`]). [`ShardedIndex`] is all of it in one process: the reference
//! a distributed deployment (the Python package's `zgq.ray`) must equal.
//!
//! # Same answers for any number of shards
//!
//! A shard returns, for each query, its best `rerank` estimates over the
//! zones it was given (ties by id), each with its exact distance
//! ([`ZgqIndex::search_shard_into`]); the driver keeps the best `rerank`
//! estimates of all shards' lists and answers their `k` nearest by exact
//! distance ([`merge`]) — exactly what one index of all the zones does
//! (its best `rerank` estimates over the probed zones, re-ranked). An
//! estimate depends only on the query, the vector's zone and the frozen
//! parts (centroids, the residual quantizer), a vector's zone only on the
//! vector and the centroids, and rows inside a zone are ordered by id: so
//! 1, 3 or 5 shards of the same data, routing file and seed return the
//! same ids and distances (tested), and a one-shard build is the single
//! index they equal. Each shard re-ranks up to `rerank` candidates, so a
//! query touching several shards computes more exact distances than one
//! index does (the driver keeps `rerank` of them).

//! The design is the zone scan ([`Design::Scan`]): zones are independent
//! there. The neighbour-block graph stitches its zones into one graph and
//! is not sharded.
//!
//! ```
//! use zgq::{Design, Metric, Routing, SearchParams, ShardedIndex, ZgqParams};
//! let dim = 8;
//! let data: Vec<f32> = (0..3000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
//! let ids: Vec<u64> = (0..3000).collect();
//! let params = ZgqParams { design: Design::Scan, ..ZgqParams::new(Metric::L2) };
//! let dir = std::env::temp_dir().join(format!("zgq-shard-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! // Train on a sample (here: all rows), for 3,000 rows in 2 shards.
//! let routing = Routing::train(&params, &data, dim, 3000, 2)?;
//! for s in 0..routing.shards() {
//!     // Each shard keeps the rows of its zones (rows of other shards are skipped).
//!     routing.build_shard(s, &data, &ids)?.save(routing.shard_path(&dir, s))?;
//! }
//! routing.save(dir.join("routing.zgqr"))?;  // last: the index exists from here on
//! let index = ShardedIndex::open(dir.join("routing.zgqr"))?;
//! let hits = index.search(&data[5 * dim..6 * dim], &SearchParams::new(3))?;
//! assert_eq!(hits[0].id, 5);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), zgq::Error>(())
//! ```

use std::path::{Path, PathBuf};

use zgq_distance::Metric;
use zgq_hnsw::Neighbor;
use zgq_quant::{Centroids, KMeans, ProductQuantizer};

use crate::build::normalized;
use crate::design::scan;
use crate::error::{Error, Result, check_rows};
use crate::format::Section;
use crate::format::header::{u32_at, u64_at};
use crate::format::view::ShardInfo;
use crate::zones::Zones;
use crate::{Design, NoProgress, Progress, SearchParams, SearchScratch, ZgqIndex, ZgqParams};

/// The magic bytes a routing file starts with.
pub const ROUTING_MAGIC: [u8; 8] = *b"ZGQROUTE";
/// The routing file version this build writes and reads.
const ROUTING_VERSION: u32 = 1;
/// Bytes before the archive: magic, version, CRC-32 of the archive, its
/// length.
const ROUTING_HEAD: usize = 24;

/// Candidates re-ranked exactly per 10 results when the caller leaves
/// `rerank` unset (the ordinary zone scan's default).
const RERANK: usize = 100;

/// The routing file's contents (an rkyv archive after a checked head).
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Archive {
    metric: u32,
    dim: u32,
    design: u32,
    seed: u64,
    replicas: u32,
    epsilon: f32,
    pq_m: u32,
    shards: u32,
    default_nprobe: u32,
    /// Candidates re-ranked per 10 results by default.
    rerank: u32,
    /// Rows the index was planned for (sets the zone count).
    rows: u64,
    centroids: Vec<f32>,
    /// The residuals' 4-bit codebooks, then the same values
    /// dimension-major (the index file's `pq_codebook`).
    codebook: Vec<f32>,
    /// The shard of every zone.
    shard_of: Vec<u32>,
    /// Two-level k-means's groups (from 1,024 zones; else empty): the
    /// first zone of every group, then the zone count ...
    group_starts: Vec<u32>,
    /// ... and every group's coarse centroid.
    group_centres: Vec<f32>,
    zgq_version: String,
}

/// A row is stored in the nearest zone of its nearest this many groups
/// (how two-level k-means assigns); a query scores at least this many
/// groups' zones ...
const ROUTE_GROUPS: usize = 4;
/// ... and enough groups that their zones number this many times `nprobe`.
const ROUTE_ZONES_PER_PROBE: usize = 4;

/// The frozen zones of a sharded index and the shard of each: what the
/// driver routes with and every shard is built against. Small: the
/// centroids, the residual codebooks, one number per zone.
#[derive(Clone, Debug)]
pub struct Routing {
    a: Archive,
    /// FNV-1a of the archive: what a shard carries to be recognised.
    id: u64,
    metric: Metric,
    centroids: Centroids,
    pq: ProductQuantizer,
    /// Every zone's number inside its shard.
    local: Vec<u32>,
    /// Every shard's zones, ascending.
    shard_zones: Vec<Vec<u32>>,
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn metric_code(m: Metric) -> u32 {
    crate::format::header::metric_code(m)
}

impl Routing {
    /// Trains the zones of a sharded zone scan on `sample` (row-major,
    /// `dim` values per row, normalized here for cosine) for an index of
    /// about `rows` vectors in `shards` shards: k-means (zones of about 200
    /// vectors, or `params.zones`), the residuals' 4-bit quantizer, zones
    /// split into `shards` runs of neighbouring zones holding about equal
    /// parts of the sample, and the default `nprobe` calibrated on a
    /// one-shard index of the sample (recall@10 ≈ 0.95, as a build does).
    ///
    /// # Errors
    /// [`Error::Parameter`] for a design other than the zone scan, fewer
    /// zones than shards, a sample smaller than the zones, and as
    /// [`ZgqParams::build`] for the sample's rows.
    pub fn train(
        params: &ZgqParams,
        sample: &[f32],
        dim: usize,
        rows: usize,
        shards: usize,
    ) -> Result<Routing> {
        Routing::train_with(params, sample, dim, rows, shards, &NoProgress)
    }

    /// [`Routing::train`] with a progress receiver (stages `k-means`,
    /// `calibrate`).
    ///
    /// # Errors
    /// As [`Routing::train`].
    pub fn train_with(
        params: &ZgqParams,
        sample: &[f32],
        dim: usize,
        rows: usize,
        shards: usize,
        progress: &dyn Progress,
    ) -> Result<Routing> {
        if params.design != Design::Scan {
            return Err(Error::parameter(
                "design",
                format!(
                    "a sharded index is a zone scan (design \"scan\"), not {}: the graph \
                     designs stitch their zones into one graph",
                    params.design
                ),
            ));
        }
        let n = check_rows(sample, dim)?;
        if n == 0 {
            return Err(Error::Empty);
        }
        let r = params.resolve(rows.max(n), dim)?;
        if shards == 0 || shards > r.zones {
            return Err(Error::parameter(
                "shards",
                format!("{shards} is not in 1..={} (the zones)", r.zones),
            ));
        }
        if n < r.zones {
            return Err(Error::parameter(
                "sample",
                format!(
                    "{n} rows train {} zones: give at least one row per zone",
                    r.zones
                ),
            ));
        }
        let sample = normalized(sample, dim, params.metric)?;
        progress.stage("k-means", 1);
        let centroids = KMeans {
            seed: r.seed,
            balance: (r.zones > 1).then_some(r.balance),
            max_points_per_centroid: 128,
            two_level_from: crate::zones::TWO_LEVEL_ZONES,
            ..KMeans::new(r.zones)
        }
        .train(&sample, dim)?;
        progress.advance(1);
        // Without groups: the zones as k-means numbered them.
        let zones = centroids.k();
        let plain = Centroids::from_vec(centroids.as_slice().to_vec(), dim)?;
        // Trained once, then frozen: the GEMM assignment serves (shards
        // assign row by row, `zones_of`).
        let nearest = centroids.assign(&sample)?;
        let mut counts = vec![0usize; zones];
        let mut residuals = sample.to_vec();
        for (row, &(z, _)) in residuals.chunks_exact_mut(dim).zip(&nearest) {
            let z = z as usize;
            counts[z] += 1;
            row.iter_mut()
                .zip(plain.centroid(z))
                .for_each(|(x, c)| *x -= c);
        }
        let pq = scan::train_residual_pq(&residuals, dim, r.pq_m, r.seed)?;
        let shard_of = shards_by_place(&plain, &counts, shards, r.seed)?;
        let mut routing = Routing::from_archive(Archive {
            metric: metric_code(params.metric),
            dim: dim as u32,
            design: 3,
            seed: r.seed,
            replicas: r.replicas as u32,
            epsilon: r.epsilon,
            pq_m: r.pq_m as u32,
            shards: shards as u32,
            default_nprobe: 1,
            rerank: RERANK as u32,
            rows: rows as u64,
            centroids: plain.as_slice().to_vec(),
            codebook: bytemuck::cast_slice(&crate::design::pq_codebook_bytes(&pq)).to_vec(),
            shard_of,
            group_starts: centroids.group_starts().unwrap_or_default().to_vec(),
            group_centres: centroids.group_centres().unwrap_or_default().to_vec(),
            zgq_version: env!("CARGO_PKG_VERSION").to_string(),
        })?;
        // The default nprobe: calibrated on the sample, in one shard.
        progress.stage("calibrate", 1);
        let one = Routing::from_archive(Archive {
            shards: 1,
            shard_of: vec![0; zones],
            ..routing.a.clone()
        })?;
        // On at most 128 rows per zone (a caller may pass all its rows).
        let step = n.div_ceil(128 * zones).max(1);
        let calib: Vec<f32> = sample
            .chunks_exact(dim)
            .step_by(step)
            .flatten()
            .copied()
            .collect();
        let ids: Vec<u64> = (0..(calib.len() / dim) as u64).collect();
        let index = one.build_shard(0, &calib, &ids)?;
        let ladder: Vec<usize> = crate::build::NPROBE_LADDER
            .into_iter()
            .filter(|&p| p <= zones)
            .collect();
        // A sample's nearest 10·f stand for the whole data's nearest 10.
        let k = (10 * calib.len() / dim).div_ceil(rows.max(n)).clamp(1, 10);
        let nprobe = crate::build::calibrate(&index, &calib, None, &ladder, k, |p| SearchParams {
            nprobe: Some(p),
            ..SearchParams::new(11)
        })?;
        progress.advance(1);
        routing = Routing::from_archive(Archive {
            default_nprobe: nprobe as u32,
            ..routing.a
        })?;
        Ok(routing)
    }

    fn from_archive(a: Archive) -> Result<Routing> {
        let bytes = rkyv::to_bytes::<rkyv::rancor::Error>(&a)
            .map_err(|e| Error::parameter("routing", format!("cannot encode: {e}")))?;
        Routing::checked(a, fnv1a(&bytes), Path::new("<memory>"))
    }

    /// The archive checked for consistency (a damaged or crafted file is
    /// refused, naming `path`), with what a search needs derived.
    fn checked(a: Archive, id: u64, path: &Path) -> Result<Routing> {
        let bad = |detail: String| Error::Corrupt {
            path: path.to_path_buf(),
            detail,
        };
        let dim = a.dim as usize;
        let metric = match a.metric {
            0 => Metric::L2,
            1 => Metric::InnerProduct,
            2 => Metric::Cosine,
            m => return Err(bad(format!("unknown metric {m}"))),
        };
        if a.design != 3 {
            return Err(bad(format!("design {} is not the zone scan (3)", a.design)));
        }
        let zones = a.shard_of.len();
        if dim == 0 || zones == 0 || a.centroids.len() != zones * dim {
            return Err(bad(format!(
                "{} centroid values for {zones} zones of dimension {dim}",
                a.centroids.len()
            )));
        }
        if let Some(i) = a.centroids.iter().position(|c| !c.is_finite()) {
            return Err(bad(format!("centroid value {i} is {}", a.centroids[i])));
        }
        let shards = a.shards as usize;
        if shards == 0 || a.shard_of.iter().any(|&s| s as usize >= shards) {
            return Err(bad(format!("a zone's shard is not in 0..{shards}")));
        }
        if !((1..=8).contains(&a.replicas) && a.epsilon >= 0.0 && a.epsilon.is_finite()) {
            return Err(bad(format!(
                "replicas {} / epsilon {} out of range",
                a.replicas, a.epsilon
            )));
        }
        if a.default_nprobe == 0 || a.default_nprobe as usize > zones || a.rerank == 0 {
            return Err(bad(format!(
                "default nprobe {} / rerank {} out of range",
                a.default_nprobe, a.rerank
            )));
        }
        let pq_m = a.pq_m as usize;
        if pq_m == 0 || !dim.is_multiple_of(pq_m) || a.codebook.len() != 2 * 16 * dim {
            return Err(bad(format!(
                "a codebook of {} values for {pq_m} sub-quantizers of dimension {dim}",
                a.codebook.len()
            )));
        }
        let half = a.codebook.len() / 2;
        let pq = ProductQuantizer::from_parts(
            dim,
            pq_m,
            4,
            a.codebook[..half].to_vec(),
            a.codebook[half..].to_vec(),
        )
        .map_err(|e| bad(format!("the codebook is invalid: {e}")))?;
        let centroids = Centroids::from_vec(a.centroids.clone(), dim)
            .map_err(|e| bad(format!("the centroids are invalid: {e}")))?;
        let gs = &a.group_starts;
        let grouped = !gs.is_empty();
        let rises = gs.first() == Some(&0)
            && gs.last() == Some(&(zones as u32))
            && gs.windows(2).all(|w| w[0] <= w[1]);
        if grouped && (!rises || gs.len() < 2 || a.group_centres.len() != (gs.len() - 1) * dim)
            || (!grouped && !a.group_centres.is_empty())
            || a.group_centres.iter().any(|c| !c.is_finite())
        {
            return Err(bad(format!(
                "its zone groups do not split the {zones} zones (or their centres are wrong)"
            )));
        }
        let mut shard_zones = vec![Vec::new(); shards];
        let mut local = Vec::with_capacity(zones);
        for (z, &s) in a.shard_of.iter().enumerate() {
            local.push(shard_zones[s as usize].len() as u32);
            shard_zones[s as usize].push(z as u32);
        }
        if let Some(s) = shard_zones.iter().position(Vec::is_empty) {
            return Err(bad(format!("shard {s} has no zones")));
        }
        Ok(Routing {
            a,
            id,
            metric,
            centroids,
            pq,
            local,
            shard_zones,
        })
    }

    /// Writes the routing file (atomically: a temporary file, `fsync`,
    /// rename). Write it after the shards: the sharded index exists once
    /// it does.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::format::writer::write_atomic(path.as_ref(), &self.to_bytes()?)
    }

    /// The routing file's bytes (what [`Routing::save`] writes), to send
    /// to a build's workers.
    ///
    /// # Errors
    /// [`Error::Parameter`] if the archive cannot be encoded.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let archive = rkyv::to_bytes::<rkyv::rancor::Error>(&self.a)
            .map_err(|e| Error::parameter("routing", format!("cannot encode: {e}")))?;
        let mut bytes = Vec::with_capacity(ROUTING_HEAD + archive.len());
        bytes.extend_from_slice(&ROUTING_MAGIC);
        bytes.extend_from_slice(&ROUTING_VERSION.to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&archive).to_le_bytes());
        bytes.extend_from_slice(&(archive.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&archive);
        Ok(bytes)
    }

    /// Reads and checks a routing file written by [`Routing::save`].
    ///
    /// # Errors
    /// [`Error::Io`]; [`Error::Corrupt`] for a file that is not a routing
    /// file, fails its checksum or holds inconsistent values;
    /// [`Error::Version`] for a newer routing file version.
    pub fn open(path: impl AsRef<Path>) -> Result<Routing> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Routing::parse(&bytes, path)
    }

    /// [`Routing::open`] of bytes from [`Routing::to_bytes`].
    ///
    /// # Errors
    /// As [`Routing::open`], without [`Error::Io`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Routing> {
        Routing::parse(bytes, Path::new("<memory>"))
    }

    fn parse(bytes: &[u8], path: &Path) -> Result<Routing> {
        let bad = |detail: &str| Error::Corrupt {
            path: path.to_path_buf(),
            detail: detail.to_string(),
        };
        if bytes.len() < ROUTING_HEAD || bytes[..8] != ROUTING_MAGIC {
            return Err(bad(
                "not a ZGQ routing file (it does not start with \"ZGQROUTE\")",
            ));
        }
        let version = u32_at(bytes, 8);
        if version != ROUTING_VERSION {
            return Err(Error::Version {
                path: path.to_path_buf(),
                expected: ROUTING_VERSION,
                oldest: ROUTING_VERSION,
                got: version,
            });
        }
        let len = u64_at(bytes, 16);
        if len != (bytes.len() - ROUTING_HEAD) as u64 {
            return Err(bad("its length does not match its head (truncated?)"));
        }
        let archive = &bytes[ROUTING_HEAD..];
        if crc32fast::hash(archive) != u32_at(bytes, 12) {
            return Err(bad("it fails its checksum"));
        }
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(archive.len());
        aligned.extend_from_slice(archive);
        let a = rkyv::from_bytes::<Archive, rkyv::rancor::Error>(&aligned)
            .map_err(|e| bad(&format!("it cannot be decoded: {e}")))?;
        Routing::checked(a, fnv1a(archive), path)
    }

    /// The identity every shard built against this routing file carries.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Shards.
    pub fn shards(&self) -> usize {
        self.shard_zones.len()
    }

    /// Zones over all shards.
    pub fn zones(&self) -> usize {
        self.local.len()
    }

    /// The routing file's zones held by shard `s`, ascending.
    pub fn shard_zones(&self, s: usize) -> &[u32] {
        &self.shard_zones[s]
    }

    /// Dimension of the vectors.
    pub fn dim(&self) -> usize {
        self.a.dim as usize
    }

    /// Distance measure.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// The `nprobe` a search uses when the caller leaves it unset.
    pub fn default_nprobe(&self) -> usize {
        self.a.default_nprobe as usize
    }

    /// The candidates a search for `k` results re-ranks: `rerank`, or by
    /// default `k · 10` (at least `k`) — what every shard and [`merge`]
    /// must be given alike.
    pub fn rerank(&self, k: usize, rerank: Option<usize>) -> usize {
        rerank
            .unwrap_or_else(|| k.saturating_mul(self.a.rerank as usize).div_ceil(10))
            .max(k)
    }

    /// Where shard `s` of this routing file lives in folder `dir`:
    /// `shard-00000.zgq`, `shard-00001.zgq`, ...
    pub fn shard_path(&self, dir: impl AsRef<Path>, s: usize) -> PathBuf {
        dir.as_ref().join(format!("shard-{s:05}.zgq"))
    }

    /// The shards each row of `data` is stored in (its nearest zone's,
    /// then its replicas' when [`ZgqParams::replicas`] > 1; without
    /// duplicates, nearest first): what a build sends to which shard.
    ///
    /// # Errors
    /// As [`ZgqParams::build`] for the rows.
    pub fn shards_of(&self, data: &[f32]) -> Result<Vec<Vec<u32>>> {
        let dim = self.dim();
        check_rows(data, dim)?;
        let data = normalized(data, dim, self.metric)?;
        Ok(data
            .chunks_exact(dim)
            .map(|row| {
                let mut shards: Vec<u32> = Vec::new();
                for z in self.zones_of(row) {
                    let s = self.a.shard_of[z as usize];
                    if !shards.contains(&s) {
                        shards.push(s);
                    }
                }
                shards
            })
            .collect())
    }

    /// The zones whose centroids `q` is scored against: every zone, or
    /// with groups the zones of the nearest groups — at least
    /// [`ROUTE_GROUPS`], and enough to hold `want` zones. Groups are
    /// scored by squared L2, or `−⟨q, g⟩` with `ip`.
    fn candidates(&self, q: &[f32], want: usize, ip: bool, out: &mut Vec<u32>) {
        out.clear();
        let starts = &self.a.group_starts;
        if starts.is_empty() {
            out.extend(0..self.zones() as u32);
            return;
        }
        let kern = zgq_distance::kernels();
        let groups = starts.len() - 1;
        let mut scores = vec![0f32; groups];
        if ip {
            kern.dot_many(q, &self.a.group_centres, &mut scores);
            scores.iter_mut().for_each(|d| *d = -*d);
        } else {
            kern.l2_sq_many(q, &self.a.group_centres, &mut scores);
        }
        let mut order: Vec<u32> = (0..groups as u32).collect();
        order.sort_unstable_by(|a, b| {
            scores[*a as usize]
                .total_cmp(&scores[*b as usize])
                .then(a.cmp(b))
        });
        for (taken, g) in order.into_iter().enumerate() {
            if out.len() >= want && taken >= ROUTE_GROUPS {
                break;
            }
            out.extend(starts[g as usize]..starts[g as usize + 1]);
        }
    }

    /// The zones a (normalized) row is stored in: its nearest, then up to
    /// `replicas − 1` more within `(1 + epsilon)` of its distance; with
    /// groups, among the zones of its 4 nearest groups.
    fn zones_of(&self, row: &[f32]) -> Vec<u32> {
        let top = (self.a.replicas as usize).min(self.zones());
        let mut cands = Vec::new();
        self.candidates(row, 0, false, &mut cands);
        let kern = zgq_distance::kernels();
        let dim = self.dim();
        let mut near: Vec<(u32, f32)> = cands
            .iter()
            .map(|&z| {
                let mut d = [0f32];
                let c = &self.centroids.as_slice()[z as usize * dim..][..dim];
                kern.l2_sq_many(row, c, &mut d);
                (z, d[0])
            })
            .collect();
        let by = |a: &(u32, f32), b: &(u32, f32)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
        let top = top.min(near.len()).max(1);
        if top < near.len() {
            near.select_nth_unstable_by(top - 1, by);
            near.truncate(top);
        }
        near.sort_unstable_by(by);
        let limit = near[0].1.max(0.0) * (1.0 + self.a.epsilon) * (1.0 + self.a.epsilon);
        near.iter()
            .enumerate()
            .take_while(|&(i, &(_, d))| i == 0 || d <= limit)
            .map(|(_, &(z, _))| z)
            .collect()
    }

    /// Checks a sharded build's ids: one per row of `rows`, all distinct.
    /// [`Routing::build_shard`] sees only the rows it is given, so an id
    /// repeated in two shards' rows passes it; check the whole input here
    /// (or, split across machines, by buckets of id values).
    ///
    /// # Errors
    /// [`Error::Parameter`] naming a repeated id and its two rows, or a
    /// count that is not one per row.
    pub fn check_ids(ids: &[u64], rows: usize) -> Result<()> {
        crate::build::check_labels(ids, rows)
    }

    /// Builds shard `s` from the rows of `data` stored in its zones (rows
    /// of other shards are skipped; [`Routing::shards_of`] says which go
    /// where); `ids[i]` is row `i`'s id, distinct across the whole sharded
    /// input ([`Routing::check_ids`]). An ordinary index file of the
    /// shard's zones that carries this routing file's identity.
    ///
    /// # Errors
    /// [`Error::Parameter`] for `s` out of range, ids not one per row or
    /// repeated, or no row for this shard; as [`ZgqParams::build`] for the
    /// rows.
    pub fn build_shard(&self, s: usize, data: &[f32], ids: &[u64]) -> Result<ZgqIndex> {
        self.build_shard_with(s, data, ids, &NoProgress)
    }

    /// [`Routing::build_shard`] with a progress receiver.
    ///
    /// # Errors
    /// As [`Routing::build_shard`].
    pub fn build_shard_with(
        &self,
        s: usize,
        data: &[f32],
        ids: &[u64],
        progress: &dyn Progress,
    ) -> Result<ZgqIndex> {
        let dim = self.dim();
        if s >= self.shards() {
            return Err(Error::parameter(
                "shard",
                format!("{s} is not in 0..{}", self.shards()),
            ));
        }
        let n = check_rows(data, dim)?;
        crate::build::check_labels(ids, n)?;
        let data = normalized(data, dim, self.metric)?;
        let mine = &self.shard_zones[s];
        progress.stage("assign", n as u64);
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); mine.len()];
        let mut distinct = 0;
        for (i, row) in data.chunks_exact(dim).enumerate() {
            let mut kept = false;
            for z in self.zones_of(row) {
                if self.a.shard_of[z as usize] as usize == s {
                    members[self.local[z as usize] as usize].push(i as u32);
                    kept = true;
                }
            }
            distinct += usize::from(kept);
        }
        progress.advance(n as u64);
        if distinct == 0 {
            return Err(Error::parameter(
                "data",
                format!("none of the {n} rows belongs to shard {s} (its zones hold none of them)"),
            ));
        }
        // Inside a zone, rows by id: the same zone, the same slots, from
        // any split of the input.
        for m in &mut members {
            m.sort_unstable_by_key(|&i| ids[i as usize]);
        }
        let centroids: Vec<f32> = mine
            .iter()
            .flat_map(|&z| self.centroids.centroid(z as usize))
            .copied()
            .collect();
        let zones = Zones::lay_out(
            Centroids::from_vec(centroids, dim)?,
            &data,
            dim,
            Some(ids),
            &members,
        );
        let params = ZgqParams {
            design: Design::Scan,
            zones: Some(mine.len()),
            pq_m: Some(self.a.pq_m as usize),
            replicas: self.a.replicas as usize,
            epsilon: self.a.epsilon,
            seed: self.a.seed,
            ..ZgqParams::new(self.metric)
        };
        // A shard may hold fewer vectors than zones (empty zones).
        let r = params.resolve(distinct.max(mine.len()), dim)?;
        let mut built = scan::build(&zones, &r, Some(&self.pq), progress)?;
        built.meta.default_nprobe = self.a.default_nprobe.min(mine.len() as u32);
        built.meta.default_ef = self.a.rerank;
        let info = ShardInfo {
            routing_id: self.id,
            shard: s,
            shards: self.shards(),
            total_zones: self.zones(),
            zones: mine.clone(),
        };
        built.sections.push((
            Section::Shard,
            bytemuck::cast_slice(&info.to_words()).to_vec().into(),
        ));
        crate::build::assemble(&zones, built, &r, distinct)
    }

    /// Routes every row of `queries` to its `nprobe` nearest zones (the
    /// default when `None`) and groups them by shard: what each shard must
    /// search, in its own zone numbers.
    ///
    /// # Errors
    /// [`Error::Parameter`] for `nprobe` outside `1..=zones()`; as a
    /// search for the queries' rows.
    pub fn plan(&self, queries: &[f32], nprobe: Option<usize>) -> Result<Plan> {
        let dim = self.dim();
        let nprobe = nprobe.unwrap_or(self.default_nprobe());
        if nprobe == 0 || nprobe > self.zones() {
            return Err(Error::parameter(
                "nprobe",
                format!("{nprobe} is not in 1..={} (the zones)", self.zones()),
            ));
        }
        check_rows(queries, dim)?;
        let queries = normalized(queries, dim, self.metric)?;
        let mut plan = Plan {
            shards: (0..self.shards())
                .map(|shard| ShardQueries {
                    shard,
                    queries: Vec::new(),
                    starts: vec![0],
                    zones: Vec::new(),
                })
                .collect(),
        };
        let kern = zgq_distance::kernels();
        let ip = self.metric == Metric::InnerProduct;
        let (mut scored, mut cands) = (Vec::new(), Vec::new());
        for (qi, q) in queries.chunks_exact(dim).enumerate() {
            // The scores a shard's own routing computes (`route_rows`),
            // for the candidate zones; the nearest `nprobe`, ties by zone.
            self.candidates(
                q,
                nprobe.saturating_mul(ROUTE_ZONES_PER_PROBE),
                ip,
                &mut cands,
            );
            scored.clear();
            scored.extend(cands.iter().map(|&z| {
                let c = &self.centroids.as_slice()[z as usize * dim..][..dim];
                let mut d = [0f32];
                if ip {
                    kern.dot_many(q, c, &mut d);
                    d[0] = -d[0];
                } else {
                    kern.l2_sq_many(q, c, &mut d);
                }
                (d[0], z)
            }));
            let by = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
            let nprobe = nprobe.min(scored.len());
            if nprobe < scored.len() {
                scored.select_nth_unstable_by(nprobe - 1, by);
                scored.truncate(nprobe);
            }
            scored.sort_unstable_by(by);
            for &(_, z) in &scored {
                let sq = &mut plan.shards[self.a.shard_of[z as usize] as usize];
                if sq.queries.last() != Some(&(qi as u32)) {
                    if !sq.queries.is_empty() {
                        sq.starts.push(sq.zones.len() as u32);
                    }
                    sq.queries.push(qi as u32);
                }
                sq.zones.push(self.local[z as usize]);
            }
        }
        for sq in &mut plan.shards {
            if !sq.queries.is_empty() {
                sq.starts.push(sq.zones.len() as u32);
            }
        }
        Ok(plan)
    }

    /// Checks that `index` is shard `s` of this routing file.
    ///
    /// # Errors
    /// [`Error::Shard`] naming `path` and what differs.
    pub fn check_shard(&self, index: &ZgqIndex, s: usize, path: &Path) -> Result<()> {
        let wrong = |detail: String| Error::Shard {
            path: path.to_path_buf(),
            detail,
        };
        let Some(info) = index.view().shard() else {
            return Err(wrong(format!(
                "not a shard of a sharded index (wanted shard {s} of {})",
                self.shards()
            )));
        };
        if info.routing_id != self.id {
            return Err(wrong(format!(
                "shard {} of another sharded index (routing id {:016x}, this one's is {:016x})",
                info.shard, info.routing_id, self.id
            )));
        }
        if info.shard != s || info.shards != self.shards() || info.zones != self.shard_zones[s] {
            return Err(wrong(format!(
                "holds shard {} of {}, wanted shard {s} of {}",
                info.shard,
                info.shards,
                self.shards()
            )));
        }
        if index.dim() != self.dim() || index.metric() != self.metric {
            return Err(wrong(
                "dimension or metric differ from the routing file's".into(),
            ));
        }
        Ok(())
    }
}

/// Every zone's shard: neighbouring zones together, so that a query's
/// `nprobe` zones fall in few shards, and shards of about equal rows.
/// k-means over the zones' centroids (`4 · shards` places) groups them;
/// the places are chained nearest to nearest, the zones ordered by their
/// place's link in the chain (then by distance to it), and that order cut
/// into `shards` runs of about equal `counts` ([`split`]). On built-in
/// 1 M × 128 data in 8 shards a query touches 1.25 of them and the shards
/// are 74.7–74.9 MB; a balanced k-means into `shards` places touched 1.35
/// and left one shard of 9.5 MB (docs/BENCHMARKS.md, "Shards on a
/// loopback Ray cluster").
fn shards_by_place(
    centroids: &Centroids,
    counts: &[usize],
    shards: usize,
    seed: u64,
) -> Result<Vec<u32>> {
    let zones = counts.len();
    if shards == 1 {
        return Ok(vec![0; zones]);
    }
    let (rows, dim) = (centroids.as_slice(), centroids.dim());
    let places = KMeans {
        seed,
        ..KMeans::new((4 * shards).min(zones))
    }
    .train(rows, dim)?;
    let nearest = places.assign(rows)?;
    // The places chained: from place 0, each time the nearest not yet taken.
    let k = places.k();
    let kern = zgq_distance::kernels();
    let mut link = vec![usize::MAX; k];
    let mut at = 0;
    for step in 0..k {
        link[at] = step;
        let next = (0..k).filter(|&p| link[p] == usize::MAX).min_by(|&a, &b| {
            let d = |p: usize| kern.l2_sq(places.centroid(at), places.centroid(p));
            d(a).total_cmp(&d(b)).then(a.cmp(&b))
        });
        match next {
            Some(p) => at = p,
            None => break,
        }
    }
    let mut order: Vec<usize> = (0..zones).collect();
    order.sort_by(|&a, &b| {
        let (pa, da) = nearest[a];
        let (pb, db) = nearest[b];
        link[pa as usize]
            .cmp(&link[pb as usize])
            .then(da.total_cmp(&db))
            .then(a.cmp(&b))
    });
    let runs = split(
        &order.iter().map(|&z| counts[z]).collect::<Vec<_>>(),
        shards,
    );
    let mut shard_of = vec![0u32; zones];
    for (&z, &s) in order.iter().zip(&runs) {
        shard_of[z] = s;
    }
    Ok(shard_of)
}

/// Zones `0..counts.len()` in `shards` runs of about equal `counts`, each
/// at least one zone: every zone's shard.
fn split(counts: &[usize], shards: usize) -> Vec<u32> {
    let zones = counts.len();
    let total: usize = counts.iter().sum::<usize>().max(1);
    let mut shard_of = Vec::with_capacity(zones);
    let (mut s, mut sum) = (0usize, 0usize);
    for (z, &c) in counts.iter().enumerate() {
        // Move on when this shard has its share, or when the zones left
        // are only enough for one each of the shards left.
        let left = zones - z;
        if s + 1 < shards
            && !shard_of.is_empty()
            && shard_of.last() == Some(&(s as u32))
            && (sum * shards >= (s + 1) * total || left <= shards - 1 - s)
        {
            s += 1;
        }
        shard_of.push(s as u32);
        sum += c;
    }
    shard_of
}

/// What [`Routing::plan`] sends each shard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// One entry per shard, in shard order (`queries` empty for a shard no
    /// query touches).
    pub shards: Vec<ShardQueries>,
}

/// The queries one shard searches, each with its zones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShardQueries {
    /// The shard.
    pub shard: usize,
    /// Row numbers in the batch of queries, ascending.
    pub queries: Vec<u32>,
    /// `queries.len() + 1` offsets into `zones` (empty when no query).
    pub starts: Vec<u32>,
    /// Every query's zones in the shard's numbering, nearest first.
    pub zones: Vec<u32>,
}

impl ShardQueries {
    /// The zones of the `i`-th query of this shard.
    pub fn zones_of(&self, i: usize) -> &[u32] {
        &self.zones[self.starts[i] as usize..self.starts[i + 1] as usize]
    }
}

/// A candidate a shard returns for a query: the id, its exact distance and
/// the estimate that made it a candidate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ShardHit {
    /// The caller's id.
    pub id: u64,
    /// The exact distance.
    pub distance: f32,
    /// The zone scan's estimate of the distance.
    pub estimate: f32,
}

/// The answer to one query from the shards' candidate lists (each a
/// shard's best `rerank` estimates for it, [`ZgqIndex::search_shard_into`]):
/// the best `rerank` estimates over all lists (ties by id), then their `k`
/// nearest by exact distance, nearest first, ties by id, each id once —
/// what one index of all the zones answers.
pub fn merge<'a>(
    lists: impl IntoIterator<Item = &'a [ShardHit]>,
    k: usize,
    rerank: usize,
) -> Vec<Neighbor> {
    let mut all: Vec<ShardHit> = lists.into_iter().flatten().copied().collect();
    let by_estimate =
        |a: &ShardHit, b: &ShardHit| a.estimate.total_cmp(&b.estimate).then(a.id.cmp(&b.id));
    let rerank = rerank.max(1);
    if all.len() > rerank {
        all.select_nth_unstable_by(rerank - 1, by_estimate);
        all.truncate(rerank);
    }
    let mut hits: Vec<Neighbor> = all
        .iter()
        .map(|h| Neighbor {
            id: h.id,
            distance: h.distance,
        })
        .collect();
    hits.sort_unstable_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
    // Copies of one vector have the same exact distance: adjacent.
    hits.dedup_by_key(|h| h.id);
    hits.truncate(k);
    hits
}

/// A sharded index with every shard in this process: the routing file and
/// its shard files, memory-mapped. What a distributed deployment must
/// answer, query for query.
#[derive(Debug)]
pub struct ShardedIndex {
    routing: Routing,
    shards: Vec<ZgqIndex>,
}

impl ShardedIndex {
    /// Opens a routing file and its shards (`shard-00000.zgq`, ... in the
    /// routing file's folder), each checked to belong to it.
    ///
    /// # Errors
    /// As [`Routing::open`] and [`ZgqIndex::open`]; [`Error::Shard`] for a
    /// shard file that is missing or belongs to another index, naming it.
    pub fn open(routing: impl AsRef<Path>) -> Result<ShardedIndex> {
        let path = routing.as_ref();
        let routing = Routing::open(path)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let shards = (0..routing.shards())
            .map(|s| {
                let p = routing.shard_path(dir, s);
                let index = ZgqIndex::open(&p).map_err(|e| match e {
                    Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                        Error::Shard {
                            path: p.clone(),
                            detail: format!(
                                "shard {s} of {} is missing (the routing file names it)",
                                routing.shards()
                            ),
                        }
                    }
                    e => e,
                })?;
                routing.check_shard(&index, s, &p)?;
                Ok(index)
            })
            .collect::<Result<_>>()?;
        Ok(ShardedIndex { routing, shards })
    }

    /// The routing file.
    pub fn routing(&self) -> &Routing {
        &self.routing
    }

    /// The shards, in shard order.
    pub fn shards(&self) -> &[ZgqIndex] {
        &self.shards
    }

    /// Distinct vectors over all shards (a vector replicated into two
    /// shards counts twice).
    pub fn len(&self) -> usize {
        self.shards.iter().map(ZgqIndex::len).sum()
    }

    /// Whether no shard holds a vector (never true: shards are not empty).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `params.k` nearest neighbours of `query`: routed to its
    /// `nprobe` zones, each shard holding some searched for them, merged.
    /// `ef` and `zones` are ignored.
    ///
    /// # Errors
    /// As [`ZgqIndex::search`].
    pub fn search(&self, query: &[f32], params: &SearchParams<'_>) -> Result<Vec<Neighbor>> {
        Ok(self.search_batch(query, params)?.pop().unwrap_or_default())
    }

    /// Every row of `queries` searched as [`ShardedIndex::search`] does,
    /// one shard after another, each shard's queries in parallel.
    ///
    /// # Errors
    /// As [`ShardedIndex::search`]; [`Error::Ragged`] for a partial row.
    pub fn search_batch(
        &self,
        queries: &[f32],
        params: &SearchParams<'_>,
    ) -> Result<Vec<Vec<Neighbor>>> {
        use rayon::prelude::*;
        let dim = self.routing.dim();
        if params.k == 0 {
            return Err(Error::parameter("k", "must be at least 1"));
        }
        if !queries.len().is_multiple_of(dim) {
            return Err(Error::Ragged {
                len: queries.len(),
                dim,
            });
        }
        if queries.len() < dim {
            return Err(Error::Dimension {
                expected: dim,
                got: queries.len(),
            });
        }
        let plan = self.routing.plan(queries, params.nprobe)?;
        let rerank = self.routing.rerank(params.k, params.rerank);
        let mut lists: Vec<Vec<ShardHit>> = vec![Vec::new(); queries.len() / dim];
        for sq in &plan.shards {
            let shard = &self.shards[sq.shard];
            let found: Vec<Vec<ShardHit>> = (0..sq.queries.len())
                .into_par_iter()
                .map_init(SearchScratch::new, |s, i| {
                    let q = sq.queries[i] as usize;
                    let p = SearchParams {
                        k: params.k.min(shard.len()),
                        rerank: Some(rerank),
                        zones: Some(sq.zones_of(i)),
                        ..*params
                    };
                    let mut out = Vec::new();
                    shard.search_shard_into(&queries[q * dim..][..dim], &p, s, &mut out)?;
                    Ok(out)
                })
                .collect::<Result<_>>()?;
            for (&q, list) in sq.queries.iter().zip(found) {
                lists[q as usize].extend(list);
            }
        }
        let hits = lists
            .iter()
            .map(|l| merge([l.as_slice()], params.k, rerank))
            .collect();
        Ok(hits)
    }
}
