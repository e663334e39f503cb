//! A neighbour-block graph changed instead of rebuilt: the slots a caller
//! drops removed (FreshDiskANN's consolidation, `zgq_hnsw::Lists::remove`),
//! new vectors inserted as a build inserts them (each entering at its
//! nearest zone's entry), the slots renumbered zone by zone, the records
//! packed anew. Zones and their centroids stay; edge codes are trained
//! again on the vectors at hand. What a live index does when the vectors
//! it holds beside its base outgrow a brute-force scan.

use zgq_hnsw::{BlockLayout, HnswParams, Lists, NO_NEIGHBOR};

use crate::design::stitched::Stitched;
use crate::error::{Error, Result};
use crate::format::view::{View, Zone};
use crate::format::{LAST_UPPER_RECORDS_VERSION, Section};
use crate::zones::Zones;
use crate::{Design, EdgeCodes, NoProgress, ZgqIndex, ZgqParams};

/// `index` (a neighbour-block graph) without the slots `keep` refuses and
/// with `rows` (`labels[i]` for row `i`; as stored: normalized for cosine)
/// added.
///
/// # Errors
/// [`Error::Parameter`] if `index` is not a neighbour-block graph, `keep`
/// has no flag per slot, or every slot goes and no row comes; build errors.
pub(crate) fn extend(
    index: &ZgqIndex,
    keep: &[bool],
    rows: &[f32],
    labels: &[u64],
) -> Result<ZgqIndex> {
    extend_view(&index.view(), index.build_params(), keep, rows, labels)
}

/// A neighbour-block graph of an earlier format version (3 to 5: upper
/// records, f32 RaBitQ terms) rebuilt as this version lays it out, from
/// its lists and vectors: the same graph, its edge codes packed anew (the
/// same seed), each zone entered at its medoid. Costs what packing the
/// records costs at build (seconds per 100,000 vectors).
///
/// # Errors
/// As [`extend`].
pub(crate) fn upgrade(v: &View<'_>) -> Result<ZgqIndex> {
    let keep = vec![true; v.slots()];
    extend_view(v, crate::index::build_params(v), &keep, &[], &[])
}

fn extend_view(
    v: &View<'_>,
    params: ZgqParams,
    keep: &[bool],
    rows: &[f32],
    labels: &[u64],
) -> Result<ZgqIndex> {
    if v.header().design != Design::Graph {
        return Err(Error::parameter(
            "design",
            "only a neighbour-block graph is extended in place",
        ));
    }
    let (dim, metric, slots) = (v.dim(), v.metric(), v.slots());
    if keep.len() != slots || rows.len() != labels.len() * dim {
        return Err(Error::parameter(
            "keep",
            format!(
                "{} flags for {slots} slots, {} values for {} rows",
                keep.len(),
                rows.len(),
                labels.len()
            ),
        ));
    }
    let (mut lists, mut vectors) = lists_of(v)?;
    let mut slot_labels = v.labels().to_vec();
    let mut zone_of: Vec<u32> = zone_of(v);
    // Each zone's HNSW entry: its node of highest level (the first).
    let mut entries: Vec<Option<u32>> = v
        .zones()
        .iter()
        .map(|z| {
            (z.start as u32..(z.start + z.len) as u32)
                .max_by_key(|&i| (lists.level(i), std::cmp::Reverse(i)))
        })
        .collect();
    let alpha = params.alpha;

    // Out with the dropped slots.
    if keep.iter().any(|k| !k) {
        let new_id = lists.remove(keep, &vectors, dim, metric, alpha);
        let kept = |i: &usize| keep[*i];
        vectors = (0..slots)
            .filter(kept)
            .flat_map(|i| vectors[i * dim..][..dim].to_vec())
            .collect();
        slot_labels = (0..slots).filter(kept).map(|i| slot_labels[i]).collect();
        zone_of = (0..slots).filter(kept).map(|i| zone_of[i]).collect();
        for (z, e) in entries.iter_mut().enumerate() {
            let mapped = e.map(|e| new_id[e as usize]).filter(|&e| e != NO_NEIGHBOR);
            // A zone whose entry went: its highest remaining node.
            *e = mapped.or_else(|| {
                (0..zone_of.len() as u32)
                    .filter(|&i| zone_of[i as usize] == z as u32)
                    .max_by_key(|&i| (lists.level(i), std::cmp::Reverse(i)))
            });
        }
    }

    // In with the new rows, each from its nearest zone's entry.
    let centroids = zgq_quant::Centroids::from_vec(v.f32s(Section::Centroids).to_vec(), dim)?;
    if !labels.is_empty() {
        let near = centroids.assign(rows)?;
        let fallback = entries
            .iter()
            .flatten()
            .copied()
            .max_by_key(|&e| lists.level(e));
        let mut starts = Vec::with_capacity(labels.len());
        for (row, &(z, _)) in near.iter().enumerate() {
            let entry = entries[z as usize].or(fallback);
            match entry {
                Some(e) => starts.push(e),
                None => {
                    // No node left anywhere: the first new row starts the graph.
                    return Err(Error::parameter(
                        "rows",
                        format!("row {row}: no node left to insert it from"),
                    ));
                }
            }
        }
        vectors.extend_from_slice(rows);
        HnswParams {
            m: lists.m,
            ef_construction: params.ef_construction,
            metric,
            seed: params.seed ^ slot_labels.len() as u64,
            alpha,
        }
        .insert(&mut lists, &vectors, dim, &starts)?;
        slot_labels.extend_from_slice(labels);
        zone_of.extend(near.iter().map(|&(z, _)| z));
    }
    let n = slot_labels.len();
    if n == 0 {
        return Err(Error::Empty);
    }

    // Zone by zone again, stably.
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&i| zone_of[i as usize]);
    lists.permute(&order);
    let mut new_of = vec![0u32; n];
    for (j, &o) in order.iter().enumerate() {
        new_of[o as usize] = j as u32;
    }
    let vectors: Vec<f32> = order
        .iter()
        .flat_map(|&o| vectors[o as usize * dim..][..dim].to_vec())
        .collect();
    let slot_labels: Vec<u64> = order.iter().map(|&o| slot_labels[o as usize]).collect();
    let mut starts = vec![0usize; centroids.k() + 1];
    for &z in &zone_of {
        starts[z as usize + 1] += 1;
    }
    for z in 0..centroids.k() {
        starts[z + 1] += starts[z];
    }
    let records: Vec<Zone> = (0..centroids.k())
        .map(|z| {
            let entry = entries[z].map(|e| new_of[e as usize]);
            // A zone that only gained rows: its highest new node.
            let entry = entry.or_else(|| {
                (starts[z] as u32..starts[z + 1] as u32).max_by_key(|&i| lists.level(i))
            });
            Zone {
                start: starts[z],
                len: starts[z + 1] - starts[z],
                entry: entry.unwrap_or(starts[z] as u32),
                max_level: entry.map_or(0, |e| lists.level(e) as u32),
                block_start: 0,
                t_min: 0.0,
            }
        })
        .collect();
    let zone_entries: Vec<u32> = records
        .iter()
        .filter(|z| z.len > 0)
        .map(|z| z.entry)
        .collect();
    lists.connect(&zone_entries, &vectors, dim, metric);
    let r = params.resolve(slot_labels.len(), dim)?;
    if r.fill {
        zgq_hnsw::fill_level0(&mut lists.links0, lists.m0, &vectors, dim, metric);
    }
    let zones = Zones {
        centroids,
        starts,
        vectors,
        labels: slot_labels,
        dim,
    };
    let stitched = Stitched {
        m: lists.m,
        m0: lists.m0,
        links0: lists.links0,
        upper_offsets: lists.upper_offsets,
        upper: lists.upper,
        records,
    };
    let mut built = super::pack(&zones, stitched, &r, &NoProgress)?;
    // The search default stays the one calibrated at build.
    built.meta.default_ef = v.default_ef() as u32;
    let distinct = if v.replicas() > 1 {
        let mut l = zones.labels.clone();
        l.sort_unstable();
        l.dedup();
        l.len()
    } else {
        zones.labels.len()
    };
    crate::build::assemble(&zones, built, &r, distinct)
}

/// The stitched graph's lists and the slots' vectors, read back from the
/// records (and, up to format version 5, the upper-level records).
fn lists_of(v: &View<'_>) -> Result<(Lists, Vec<f32>)> {
    let h = v.header();
    let (m, m0, slots, dim) = (h.m as usize, h.m0 as usize, v.slots(), v.dim());
    let legacy = h.version <= LAST_UPPER_RECORDS_VERSION;
    let block_bytes = match h.edge_codes {
        Some(EdgeCodes::Rabitq) if legacy => super::legacy_rabitq_block_bytes(h.bits as usize),
        Some(EdgeCodes::Rabitq) => super::rabitq_block_bytes(h.bits as usize),
        _ => super::pq4_block_bytes(h.pq_m as usize),
    };
    let layout = BlockLayout::new(dim, m0.next_multiple_of(zgq_hnsw::BLOCK), block_bytes)
        .map_err(|e| v.corrupt(format!("the record shape: {e}")))?;
    // (The view checked the section's length against the shape.)
    let records = v.u32s(Section::Records);
    let mut links0 = Vec::with_capacity(slots * m0);
    let mut vectors = Vec::with_capacity(slots * dim);
    for rec in records.chunks_exact(layout.stride()).take(slots) {
        links0.extend_from_slice(&rec[..m0]);
        vectors.extend_from_slice(bytemuck::cast_slice(&rec[layout.vector_at()..][..dim]));
    }
    let upper_offsets = v.u32s(Section::UpperOffsets).to_vec();
    let upper: Vec<u32> = if legacy {
        let upper_stride = v.u32s(Section::UpperRecords).len()
            / (*upper_offsets.last().unwrap_or(&0)).max(1) as usize;
        v.u32s(Section::UpperRecords)
            .chunks(upper_stride.max(1))
            .flat_map(|rec| rec[..m.min(rec.len())].to_vec())
            .collect()
    } else {
        v.u32s(Section::Upper).to_vec()
    };
    let lists = Lists {
        m,
        m0,
        links0,
        upper_offsets,
        upper,
    };
    lists
        .check()
        .map_err(|e| v.corrupt(format!("the graph's lists: {e}")))?;
    Ok((lists, vectors))
}

/// The zone of every slot, from the zone records.
fn zone_of(v: &View<'_>) -> Vec<u32> {
    let mut out = vec![0u32; v.slots()];
    for (z, zone) in v.zones().iter().enumerate() {
        for slot in zone.start..(zone.start + zone.len).min(out.len()) {
            out[slot] = z as u32;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::format::Section;
    use crate::{Metric, ZgqIndex, ZgqParams};

    /// The bug it catches: a damaged or crafted file (a list id past the
    /// slots; `open` checks only what costs nothing per node) that panics
    /// a live index's merge instead of failing it.
    #[test]
    fn a_list_id_past_the_slots_fails_the_merge_without_a_panic() {
        let (n, dim) = (300usize, 8usize);
        let data: Vec<f32> = (0..n * dim)
            .map(|i| ((i * 7919) % 1009) as f32 / 1009.0)
            .collect();
        let index = ZgqParams::new(Metric::L2).build(&data, dim).unwrap();
        let mut bytes = index.as_bytes().to_vec();
        let at = index.view().layout.range(Section::Records).start;
        bytes[at..at + 4].copy_from_slice(&(n as u32 + 5).to_le_bytes());
        let crafted = ZgqIndex::from_bytes(&bytes).unwrap();
        let keep = vec![true; n];
        let e = super::extend(&crafted, &keep, &data[..dim], &[9999]).unwrap_err();
        assert!(e.to_string().contains("outside 0..300"), "{e}");
    }
}
