//! Building an index: zones (balanced k-means, optional boundary
//! replication), vectors renumbered zone by zone, codes, one HNSW graph per
//! zone (zones in parallel, each zone's build sequential and seeded, so the
//! file bytes depend on the seed only), then the file image.

use std::borrow::Cow;

use rayon::prelude::*;
use zgq_distance::Metric;
use zgq_hnsw::{BlockLayout, Blocks, GraphParts, Hnsw, HnswGraph, HnswParams, NO_NEIGHBOR};

use crate::stitch::Stitch;
use crate::zones::{ZonePlan, Zones};
use zgq_quant::SqParams;

use crate::error::{Error, Result, check_rows};
use crate::format::header::Header;
use crate::format::view::Zone;
use crate::format::writer::Source;
use crate::format::{
    GRAPH_VERSION, Meta, QG_VERSION, RABITQ_VERSION, SCAN_VERSION, Section, writer,
};
use crate::{Codes, NoProgress, Progress, SearchParams, SearchScratch, ZgqIndex, ZgqParams};

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
        self.check(n, dim)?;
        if let Some(l) = labels {
            check_labels(l, n)?;
        }
        let scan = self.codes == Codes::Pq4;
        let zones = self.zones.unwrap_or_else(|| {
            if scan {
                ZgqParams::default_scan_zones(n)
            } else {
                ZgqParams::default_zones(n)
            }
        });

        // Cosine: normalize once; every distance is then 1 − dot.
        let normalized;
        let data = if self.metric == Metric::Cosine {
            let mut v = data.to_vec();
            for (row, x) in v.chunks_exact_mut(dim).enumerate() {
                if zgq_distance::normalize(x) == 0.0 {
                    return Err(Error::parameter(
                        "data",
                        format!("row {row} is the zero vector, which has no cosine distance"),
                    ));
                }
            }
            normalized = v;
            &normalized[..]
        } else {
            data
        };

        let zs = Zones::build(
            data,
            dim,
            labels,
            &ZonePlan {
                zones,
                balance: self.balance,
                replicas: self.replicas,
                epsilon: self.epsilon,
                // Thousands of small zones: k-means' cost is n · zones · dim
                // per iteration, so a zone scan trains on a smaller sample.
                points_per_centroid: if scan { 128 } else { 256 },
                seed: self.seed,
            },
            progress,
        )?;
        let (centroids, starts, vectors, slot_labels) =
            (&zs.centroids, &zs.starts, &zs.vectors, &zs.labels);
        let slots = &slot_labels[..];
        debug_assert_eq!(slots.len(), zs.slots());

        if scan {
            let zone_list: Vec<Zone> = (0..zones)
                .scan(0usize, |block, z| {
                    let len = starts[z + 1] - starts[z];
                    let zone = Zone {
                        start: starts[z],
                        len,
                        entry: starts[z] as u32,
                        max_level: 0,
                        block_start: *block,
                        t_min: 0.0,
                    };
                    *block += len.div_ceil(zgq_distance::FASTSCAN_BLOCK);
                    Some(zone)
                })
                .collect();
            progress.stage("encode", slots.len() as u64);
            let mut zone_list = zone_list;
            let parts = crate::scan::encode(self, &centroids, &mut zone_list, &vectors, dim)?;
            progress.advance(slots.len() as u64);
            let header = self.header(SCAN_VERSION, dim, parts.m, 0, zones, n, slots.len());
            let meta = Meta {
                ef_construction: 0,
                stitch: 0,
                stitch_ef: 0,
                default_nprobe: zones.min(16) as u32,
                default_ef: SCAN_RERANK as u32,
                ..self.meta()
            };
            let mut sections = base_sections(&centroids, &zone_list, &vectors, &slot_labels);
            sections.extend([
                (Section::PqCodebook, f32_bytes(&parts.codebook)),
                (Section::Blocks, parts.blocks.into()),
                (Section::Norms, f32_bytes(&parts.norms)),
                (Section::CentroidColumns, f32_bytes(&parts.centroid_columns)),
                (Section::CentroidNorms, f32_bytes(&parts.centroid_norms)),
            ]);
            let ladder: Vec<usize> = NPROBE_LADDER.into_iter().filter(|&p| p <= zones).collect();
            return finish(
                header,
                meta,
                &sections,
                &[],
                |_| Ok(()),
                |index, meta| {
                    progress.stage("calibrate", ladder.len() as u64);
                    let nprobe = calibrate(index, data, dim, self.metric, labels, &ladder, |p| {
                        SearchParams {
                            nprobe: Some(p),
                            ..SearchParams::new(11)
                        }
                    })?;
                    Ok(Meta {
                        default_nprobe: nprobe as u32,
                        ..meta.clone()
                    })
                },
            );
        }

        progress.stage("encode", slots.len() as u64);
        let (codes, sq_min, sq_step) = match self.codes {
            Codes::Sq8 => {
                let sq = SqParams::default().train(data, dim)?;
                let codes = sq.encode(&vectors)?;
                (codes, sq.min().to_vec(), sq.step().to_vec())
            }
            Codes::F32 | Codes::Pq4 | Codes::Qg | Codes::QgRabitq => {
                (Vec::new(), Vec::new(), Vec::new())
            }
        };
        progress.advance(slots.len() as u64);

        progress.stage("graphs", slots.len() as u64);
        let graphs: Vec<Option<Hnsw>> = (0..zones)
            .into_par_iter()
            .map(|z| {
                let rows = zs.rows(z);
                if rows.is_empty() {
                    return Ok(None);
                }
                let g = HnswParams {
                    m: self.m,
                    ef_construction: self.ef_construction,
                    metric: self.metric,
                    seed: self.seed ^ (z as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    keep_pruned: false,
                    alpha: self.alpha,
                }
                .build_sequential_with_progress(rows, dim, &|r| progress.advance(r as u64))?;
                Ok(Some(g))
            })
            .collect::<Result<_>>()?;

        // One graph over every slot: each zone's lists, ids shifted to slots.
        let m0 = 2 * self.m;
        let mut links0 = Vec::with_capacity(slots.len() * m0);
        let mut upper_offsets = Vec::with_capacity(slots.len() + 1);
        upper_offsets.push(0u32);
        let mut upper = Vec::new();
        let mut zone_list = Vec::with_capacity(zones);
        for (z, g) in graphs.iter().enumerate() {
            let mut zone = Zone {
                start: starts[z],
                len: starts[z + 1] - starts[z],
                entry: starts[z] as u32,
                max_level: 0,
                block_start: 0,
                t_min: 0.0,
            };
            if let Some(g) = g {
                let g = g.graph();
                let p = g.parts();
                let lists_before = (upper.len() / self.m) as u32;
                links0.extend(shifted(p.links0, zone.start));
                upper_offsets.extend(p.upper_offsets[1..].iter().map(|&o| o + lists_before));
                upper.extend(shifted(p.upper, zone.start));
                zone.entry = p.entry + zone.start as u32;
                zone.max_level = g.max_level() as u32;
            }
            zone_list.push(zone);
        }

        // One graph over every slot: its parts but the level-0 lists.
        let slot_graph = GraphParts {
            dim,
            metric: self.metric,
            m: self.m,
            m0,
            entry: zone_list[0].entry,
            links0: &[],
            upper_offsets: &upper_offsets,
            upper: &upper,
            vectors: &vectors,
            labels: &slot_labels,
        };
        if self.stitch > 0 && zones > 1 {
            progress.stage("stitch", slots.len() as u64);
            let zone_of = zs.zone_of();
            let per_slot = self.stitch.min(zones - 1);
            let top = per_slot + 1;
            let nearest = centroids.assign_top(&vectors, top)?;
            let near: Vec<u32> = nearest
                .chunks_exact(top)
                .zip(&zone_of)
                .flat_map(|(c, &own)| {
                    // Only zones whose centroid is within the slack of the
                    // nearest one: a vector deep inside its zone has no
                    // neighbours across the border worth a search.
                    let limit = c[0].1.max(0.0) * self.stitch_slack * self.stitch_slack;
                    let mut others: Vec<u32> = c
                        .iter()
                        .filter(|x| x.0 != own && x.1 <= limit)
                        .map(|x| x.0)
                        .collect();
                    others.resize(per_slot, u32::MAX);
                    others
                })
                .collect();
            let graph = HnswGraph::open(GraphParts {
                links0: &links0,
                ..slot_graph
            })?;
            links0 = Stitch {
                vectors: &vectors,
                dim,
                metric: self.metric,
                m0,
                zones: &zone_list,
                zone_of: &zone_of,
                near: &near,
                per_slot,
                ef: self.stitch_ef,
            }
            .run(&graph)?;
            progress.advance(slots.len() as u64);
        }
        if self.fill && self.codes.has_records() {
            // Blocks of 32 lanes cost the same used or not.
            progress.stage("fill", 1);
            zgq_hnsw::fill_level0(&mut links0, m0, &vectors, dim, self.metric);
            progress.advance(1);
        }

        let version = match self.codes {
            Codes::Qg => QG_VERSION,
            Codes::QgRabitq => RABITQ_VERSION,
            _ => GRAPH_VERSION,
        };
        let mut header = self.header(version, dim, self.m, m0, zones, n, slots.len());
        let meta = Meta {
            // Stitched: one entry suffices (measured: nprobe 2 gains
            // ≤ 0.001 recall on both datasets); separate zones need more.
            default_nprobe: if self.stitch > 0 {
                1
            } else {
                zones.min(4) as u32
            },
            default_ef: 64,
            ..self.meta()
        };
        let mut sections = base_sections(&centroids, &zone_list, &vectors, &slot_labels);
        // Neighbour blocks: the records (400 MB on fashion-mnist) are
        // built in place in the image: sections reserved at the end.
        let mut reserved = Vec::new();
        let graph;
        let mut record_shape = None;
        if self.codes.has_records() {
            // Versions 3 and 4: the vectors live in the records.
            sections.retain(|(s, _)| *s != Section::Vectors);
            progress.stage("records", slots.len() as u64);
            graph = HnswGraph::open(GraphParts {
                links0: &links0,
                ..slot_graph
            })?;
            let (packer, block_bytes) = if self.codes == Codes::Qg {
                let pq_m = self.pq_m.unwrap_or_else(|| ZgqParams::default_pq_m(dim));
                let (pq, pq_codes) = crate::blocks::encode_pq4(&vectors, dim, pq_m)?;
                header.pq_m = pq_m as u32;
                sections.extend([
                    (
                        Section::UpperOffsets,
                        bytemuck::cast_slice(&upper_offsets).into(),
                    ),
                    (Section::PqCodebook, pq_codebook_bytes(&pq).into()),
                ]);
                (Packer::Pq4(pq_codes, pq_m), crate::pq4_block_bytes(pq_m))
            } else {
                let bits = self.bits.unwrap_or_else(|| zgq_quant::padded_dim(dim));
                let edges = crate::RabitqEdges::new(&vectors, dim, bits, self.metric, self.seed)?;
                header.bits = bits as u32;
                sections.extend([
                    (
                        Section::UpperOffsets,
                        bytemuck::cast_slice(&upper_offsets).into(),
                    ),
                    (
                        Section::Rotation,
                        Cow::Owned(bytemuck::cast_slice(edges.rotation().signs()).to_vec()),
                    ),
                    (
                        Section::RotatedMean,
                        Cow::Owned(bytemuck::cast_slice(edges.mean()).to_vec()),
                    ),
                ]);
                let block_bytes = edges.block_bytes();
                (Packer::Rabitq(edges), block_bytes)
            };
            let words = |slots: usize| -> Result<usize> {
                let l =
                    BlockLayout::new(dim, slots.next_multiple_of(zgq_hnsw::BLOCK), block_bytes)?;
                Ok(l.stride())
            };
            let upper_lists = *upper_offsets.last().unwrap_or(&0) as usize;
            reserved.push((Section::Records, 4 * slots.len() * words(m0)?));
            reserved.push((Section::UpperRecords, 4 * upper_lists * words(self.m)?));
            record_shape = Some((&graph, packer, block_bytes));
        } else {
            // Version 1's order: codes between vectors and labels.
            sections.insert(3, (Section::Codes, codes.into()));
            sections.extend([
                (Section::Links0, bytemuck::cast_slice(&links0).into()),
                (
                    Section::UpperOffsets,
                    bytemuck::cast_slice(&upper_offsets).into(),
                ),
                (Section::Upper, bytemuck::cast_slice(&upper).into()),
                (Section::SqMin, f32_bytes(&sq_min)),
                (Section::SqStep, f32_bytes(&sq_step)),
            ]);
        }
        let fill = |parts: Vec<&mut [u8]>| -> Result<()> {
            let Some((graph, packer, block_bytes)) = &record_shape else {
                return Ok(());
            };
            // `Blocks::build_with` asks for the records, then the upper
            // records: hand it the reserved sections in that order.
            let mut words = Vec::with_capacity(2);
            for bytes in parts.into_iter().rev() {
                words.push(bytemuck::try_cast_slice_mut::<u8, u32>(bytes).map_err(|e| {
                    Error::parameter("records", format!("a misaligned section: {e}"))
                })?);
            }
            let words = std::cell::RefCell::new(words);
            Blocks::build_with(
                graph,
                *block_bytes,
                |node, ids, block| match packer {
                    Packer::Pq4(codes, m) => crate::pack_pq4_block(codes, *m, ids, block),
                    Packer::Rabitq(edges) => edges.pack_block(node, ids, block),
                },
                |_| {
                    words
                        .borrow_mut()
                        .pop()
                        .ok_or_else(|| zgq_hnsw::Error::Parameter {
                            name: "records",
                            detail: "no reserved section left".into(),
                        })
                },
            )?;
            progress.advance(graph.len() as u64);
            Ok(())
        };
        finish(header, meta, &sections, &reserved, fill, |index, meta| {
            progress.stage("calibrate", EF_LADDER.len() as u64);
            let ef = calibrate(index, data, dim, self.metric, labels, &EF_LADDER, |ef| {
                SearchParams {
                    ef: Some(ef),
                    ..SearchParams::new(11)
                }
            })?;
            Ok(Meta {
                default_ef: ef as u32,
                ..meta.clone()
            })
        })
    }

    /// The header of an index of this build's metric and codes (offsets,
    /// lengths and checksums are filled in by `writer::assemble`).
    #[allow(clippy::too_many_arguments)]
    fn header(
        &self,
        version: u32,
        dim: usize,
        m: usize,
        m0: usize,
        zones: usize,
        n: usize,
        slots: usize,
    ) -> Header {
        Header {
            version,
            flags: 0,
            file_len: 0,
            dim: dim as u32,
            metric: self.metric,
            codes: self.codes,
            m: m as u32,
            m0: m0 as u32,
            zones: zones as u32,
            n: n as u64,
            slots: slots as u64,
            meta_offset: 0,
            meta_len: 0,
            meta_crc: 0,
            pq_m: 0,
            bits: 0,
            entries: Vec::new(),
        }
    }

    /// The build parameters as stored; the defaults are the caller's.
    fn meta(&self) -> Meta {
        Meta {
            ef_construction: self.ef_construction as u32,
            seed: self.seed,
            replicas: self.replicas as u32,
            epsilon: self.epsilon,
            balance: self.balance,
            stitch: self.stitch as u32,
            stitch_ef: self.stitch_ef as u32,
            default_nprobe: 1,
            default_ef: 64,
            zgq_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    fn check(&self, n: usize, dim: usize) -> Result<()> {
        if !(2..=256).contains(&self.m) {
            return Err(Error::parameter(
                "m",
                format!("{} is not in 2..=256", self.m),
            ));
        }
        if self.ef_construction == 0 {
            return Err(Error::parameter("ef_construction", "must be at least 1"));
        }
        if let Some(z) = self.zones {
            if z == 0 || z > n {
                return Err(Error::parameter(
                    "zones",
                    format!("{z} zones for {n} vectors: need 1..={n}"),
                ));
            }
            if z > u32::MAX as usize {
                return Err(Error::parameter("zones", format!("{z} is too many")));
            }
        }
        if self.stitch_slack.is_nan() || self.stitch_slack < 1.0 {
            return Err(Error::parameter(
                "stitch_slack",
                format!("{} must be ≥ 1 (infinity: every vector)", self.stitch_slack),
            ));
        }
        if self.stitch_ef == 0 {
            return Err(Error::parameter("stitch_ef", "must be at least 1"));
        }
        if self.replicas == 0 || self.replicas > 8 {
            return Err(Error::parameter(
                "replicas",
                format!("{} is not in 1..=8 (1: no replication)", self.replicas),
            ));
        }
        if !(self.epsilon >= 0.0 && self.epsilon.is_finite()) {
            return Err(Error::parameter(
                "epsilon",
                format!("{} must be a finite value ≥ 0", self.epsilon),
            ));
        }
        if !(self.balance >= 1.0 && self.balance.is_finite()) {
            return Err(Error::parameter(
                "balance",
                format!("{} must be a finite factor ≥ 1", self.balance),
            ));
        }
        if self.codes == Codes::QgRabitq
            && let Some(bits) = self.bits
            && (bits < dim || !bits.is_multiple_of(16) || bits > 16 * dim)
        {
            return Err(Error::parameter(
                "bits",
                format!("{bits}: need a multiple of 16 from the dimension {dim} to 16 times it"),
            ));
        }
        if n >= u32::MAX as usize / self.replicas {
            return Err(Error::parameter(
                "data",
                format!(
                    "{n} vectors (× {} replicas) do not fit 32-bit row ids",
                    self.replicas
                ),
            ));
        }
        Ok(())
    }
}

/// The `pq_codebook` section: the codebooks, then the same values
/// dimension-major (what [`ProductQuantizer::from_parts`] takes back).
pub(crate) fn pq_codebook_bytes(pq: &zgq_quant::ProductQuantizer) -> Vec<u8> {
    let mut bytes = bytemuck::cast_slice::<f32, u8>(pq.centroids()).to_vec();
    bytes.extend_from_slice(bytemuck::cast_slice(pq.columns()));
    bytes
}

/// A section's bytes: borrowed from the build's arrays where they already
/// have the section's layout, owned where they were made for it.
type Bytes<'a> = Cow<'a, [u8]>;

/// What packs the code blocks of a graph's records.
enum Packer {
    /// 4-bit PQ codes of every slot, `m` bytes each.
    Pq4(Vec<u8>, usize),
    /// RaBitQ edge codes.
    Rabitq(crate::RabitqEdges),
}

fn f32_bytes(v: &[f32]) -> Bytes<'_> {
    Cow::Borrowed(bytemuck::cast_slice::<f32, u8>(v))
}

/// The sections both designs have, in file order: centroids, zones,
/// vectors, labels.
fn base_sections<'a>(
    centroids: &'a zgq_quant::Centroids,
    zones: &[Zone],
    vectors: &'a [f32],
    labels: &'a [u64],
) -> Vec<(Section, Bytes<'a>)> {
    vec![
        (Section::Centroids, f32_bytes(centroids.as_slice())),
        (
            Section::Zones,
            Cow::Owned(zones.iter().flat_map(|z| z.to_bytes()).collect()),
        ),
        (Section::Vectors, f32_bytes(vectors)),
        (Section::Labels, bytemuck::cast_slice(labels).into()),
    ]
}

/// The index of `sections` then `reserved` (zeroed sections that `fill`
/// writes in place) with `meta`; then `tune` measures it and gives the
/// metadata with its calibrated default, written over the old one in the
/// same image (only numbers change, so its archive keeps its length).
fn finish(
    header: Header,
    meta: Meta,
    sections: &[(Section, Bytes<'_>)],
    reserved: &[(Section, usize)],
    fill: impl FnOnce(Vec<&mut [u8]>) -> Result<()>,
    tune: impl FnOnce(&ZgqIndex, &Meta) -> Result<Meta>,
) -> Result<ZgqIndex> {
    let sources: Vec<(Section, Source<'_>)> = sections
        .iter()
        .map(|(s, v)| (*s, Source::Bytes(&v[..])))
        .chain(reserved.iter().map(|&(s, len)| (s, Source::Reserved(len))))
        .collect();
    let image = writer::assemble_with(header.clone(), &meta, &sources, fill)?;
    let index = ZgqIndex::from_image(image)?;
    let tuned = tune(&index, &meta)?;
    if tuned == meta {
        return Ok(index);
    }
    let mut image = index.into_image()?;
    writer::replace_meta(&mut image, &tuned)?;
    ZgqIndex::from_image(image)
}

/// Zone-local ids as slots (padding stays padding).
fn shifted(ids: &[u32], by: usize) -> impl Iterator<Item = u32> + '_ {
    ids.iter().map(move |&id| {
        if id == NO_NEIGHBOR {
            id
        } else {
            id + by as u32
        }
    })
}

/// The `ef` values [`calibrate`] tries for a graph index, smallest first.
const EF_LADDER: [usize; 12] = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512];

/// The `nprobe` values [`calibrate`] tries for a zone scan.
const NPROBE_LADDER: [usize; 20] = [
    1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024,
];

/// Zone scan: candidates re-ranked exactly for k = 10 by default (scaled
/// with k).
const SCAN_RERANK: usize = 100;

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
fn calibrate(
    index: &ZgqIndex,
    data: &[f32],
    dim: usize,
    metric: Metric,
    labels: Option<&[u64]>,
    ladder: &[usize],
    params: impl Fn(usize) -> SearchParams<'static> + Sync,
) -> Result<usize> {
    let n = data.len() / dim;
    let k = 10;
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

fn check_labels(labels: &[u64], n: usize) -> Result<()> {
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
