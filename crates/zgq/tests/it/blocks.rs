//! The graph over neighbour blocks (`Design::Graph`, both edge codes): filters and caller ids,
//! determinism, and its records read from the file as docs/FORMAT.md
//! describes them (recall floors and exact distances: `search.rs`).

use zgq::{EdgeCodes, Metric, SearchParams, ZgqParams};

use crate::{GRAPH_PQ4, GRAPH_RABITQ, Kind, graph16};

use crate::search::data;

fn qg(metric: Metric, zones: usize) -> ZgqParams {
    GRAPH_PQ4.of(ZgqParams {
        zones: Some(zones),
        ..graph16(metric)
    })
}

/// Caller ids come back, a filter is honoured, and a replicated vector is
/// returned once, for both kinds of edge codes.
#[test]
fn caller_ids_filters_and_replicas() {
    for kind in [GRAPH_PQ4, GRAPH_RABITQ] {
        caller_ids_filters_and_replicas_of(kind);
    }
}

fn caller_ids_filters_and_replicas_of(kind: Kind) {
    let (base, queries) = data(3_000, 30, 16, 9);
    let labels: Vec<u64> = (0..3_000).map(|i| 1_000_000 + 3 * i).collect();
    let index = kind
        .of(ZgqParams {
            replicas: 2,
            epsilon: 0.3,
            ..qg(Metric::L2, 4)
        })
        .build_with(base.as_slice(), 16, Some(&labels), &zgq::NoProgress)
        .unwrap();
    assert!(index.stats().slots > 3_000, "some vectors are replicated");
    let even = |id: u64| id.is_multiple_of(2);
    for q in queries.iter_rows() {
        let hits = index.search(q, &SearchParams::new(10)).unwrap();
        assert_eq!(hits.len(), 10);
        let mut seen: Vec<u64> = hits.iter().map(|h| h.id).collect();
        assert!(seen.iter().all(|id| labels.contains(id)));
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 10, "an id returned twice: {hits:?}");
        let p = SearchParams {
            filter: Some(&even),
            ..SearchParams::new(10)
        };
        let hits = index.search(q, &p).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| even(h.id)));
    }
}

/// The same seed gives the same file bytes on one thread and on two, for
/// both kinds of edge codes (RaBitQ's rotation and mean are computed in
/// parallel).
#[test]
fn same_seed_same_bytes_for_any_thread_count() {
    let (base, _) = data(2_000, 1, 16, 4);
    for codes in [GRAPH_PQ4, GRAPH_RABITQ] {
        let build = |threads| {
            let params = codes.of(qg(Metric::L2, 4));
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| params.build(base.as_slice(), 16).unwrap())
        };
        assert!(build(1).as_bytes() == build(2).as_bytes(), "{codes:?}");
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// The bytes of the section of `kind`, found as FORMAT.md says: the
/// section table (32-byte entries from byte 128, their count at byte 20),
/// each entry's kind, offset and length.
fn section_of(b: &[u8], kind: u32) -> &[u8] {
    let count = u32_at(b, 20) as usize;
    (0..count)
        .map(|i| &b[128 + 32 * i..][..32])
        .find(|e| u32_at(e, 0) == kind)
        .map(|e| &b[u64_at(e, 8) as usize..][..u64_at(e, 16) as usize])
        .expect("section present")
}

/// Another tool reading the file by docs/FORMAT.md alone finds, in every
/// record, the slot's own vector (that of its label's input row), a list
/// of slots padded at its end only, and in the code block the 4-bit code
/// of each neighbour: the nearest of the 16 codewords of the codebook
/// section in every subspace.
#[test]
fn records_follow_the_documented_layout() {
    let (base, _) = data(2_000, 1, 16, 12);
    let dim = 16;
    let index = ZgqParams {
        pq_m: Some(8),
        ..qg(Metric::L2, 3)
    }
    .build(base.as_slice(), dim)
    .unwrap();
    let b = index.as_bytes();
    assert_eq!(u32_at(b, 8), 7, "format version");
    assert_eq!(
        (u32_at(b, 40), u32_at(b, 100)),
        (1, 1),
        "design graph, edge codes pq4"
    );
    let (m0, pq_m, slots) = (
        u32_at(b, 48) as usize,
        u32_at(b, 92) as usize,
        u64_at(b, 64),
    );
    assert_eq!((m0, pq_m), (32, 8));
    let section = |kind: u32| section_of(b, kind);
    let labels: &[u64] = bytemuck::cast_slice(section(5));
    let book: &[f32] = bytemuck::cast_slice(section(11));
    let records: &[u32] = bytemuck::cast_slice(section(16));
    let degree = m0.next_multiple_of(32);
    let block_words = 16 * pq_m / 4;
    let stride = (degree + degree / 32 * block_words + dim).next_multiple_of(16);
    assert_eq!(records.len(), slots as usize * stride);
    let dsub = dim / pq_m;
    let code = |x: &[f32], s: usize| -> u8 {
        let sub = &x[s * dsub..][..dsub];
        (0..16)
            .min_by(|&a, &c| {
                let d = |j: usize| -> f32 {
                    let w = &book[(s * 16 + j) * dsub..][..dsub];
                    w.iter().zip(sub).map(|(p, q)| (p - q) * (p - q)).sum()
                };
                d(a).total_cmp(&d(c))
            })
            .unwrap() as u8
    };
    let vector = |slot: usize| -> &[f32] {
        bytemuck::cast_slice(&records[slot * stride + degree + degree / 32 * block_words..][..dim])
    };
    let mut checked = 0;
    for slot in 0..slots as usize {
        let rec = &records[slot * stride..][..stride];
        assert_eq!(vector(slot), base.row(labels[slot] as usize), "slot {slot}");
        let list = &rec[..degree];
        let real = list.iter().take_while(|&&x| x != u32::MAX).count();
        assert!(real > 0 && list[real..].iter().all(|&x| x == u32::MAX));
        let block: &[u8] = bytemuck::cast_slice(&rec[degree..][..block_words]);
        for (lane, &nb) in list[..real].iter().enumerate() {
            assert!((nb as u64) < slots && nb as usize != slot);
            for s in 0..pq_m {
                let byte = block[s * 16 + lane % 16];
                let nibble = if lane < 16 { byte & 15 } else { byte >> 4 };
                assert_eq!(
                    nibble,
                    code(vector(nb as usize), s),
                    "slot {slot} lane {lane}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 2_000 * 8 * 8);
}

/// RaBitQ's `bits`: padded codes (more bits than dimensions) build, open
/// and find every row; impossible ones are typed errors before any work.
#[test]
fn rabitq_bits_padded_and_refused() {
    let (base, _) = data(1_500, 1, 12, 5);
    let with = |bits| ZgqParams {
        edge_codes: Some(EdgeCodes::Rabitq),
        bits,
        ..qg(Metric::L2, 2)
    };
    for bits in [12, 20, 200] {
        let err = with(Some(bits)).build(base.as_slice(), 12).unwrap_err();
        assert!(
            matches!(err, zgq::Error::Parameter { name: "bits", .. }),
            "{bits}: {err}"
        );
    }
    let index = with(Some(64)).build(base.as_slice(), 12).unwrap();
    let again = zgq::ZgqIndex::from_bytes(index.as_bytes()).unwrap();
    let p = SearchParams {
        nprobe: Some(2),
        ..SearchParams::new(1)
    };
    for (i, q) in base.iter_rows().enumerate().step_by(7) {
        assert_eq!(again.search(q, &p).unwrap()[0].id, i as u64, "row {i}");
    }
}

/// `fill`: the filled lists pass `verify` (ids in range, padding only at
/// the end), every row still finds itself, and the records differ from
/// the unfilled build's (the fill ran).
#[test]
fn filled_lists_verify_and_answer() {
    let (base, _) = data(2_000, 1, 16, 6);
    let build = |fill| {
        ZgqParams {
            edge_codes: Some(EdgeCodes::Rabitq),
            fill,
            ..qg(Metric::L2, 2)
        }
        .build(base.as_slice(), 16)
        .unwrap()
    };
    let (plain, filled) = (build(false), build(true));
    filled.verify().unwrap();
    assert!(plain.as_bytes() != filled.as_bytes());
    let p = SearchParams {
        nprobe: Some(2),
        ..SearchParams::new(1)
    };
    for (i, q) in base.iter_rows().enumerate().step_by(9) {
        assert_eq!(filled.search(q, &p).unwrap()[0].id, i as u64, "row {i}");
    }
}

/// The RaBitQ records read by docs/FORMAT.md alone: the rotation rebuilt
/// from its `rotation` section as the document describes it (here in f64,
/// independently of the library), every neighbour's sign bits and its
/// `a`, `b` terms recomputed from the rotated vectors and `rotated_mean`.
/// A document that misdescribed the transform, the bit order or a term
/// fails this.
#[test]
fn rabitq_records_follow_the_documented_layout() {
    let (base, _) = data(1_500, 1, 20, 13);
    let dim = 20;
    let index = ZgqParams {
        edge_codes: Some(EdgeCodes::Rabitq),
        bits: Some(48),
        ..qg(Metric::L2, 2)
    }
    .build(base.as_slice(), dim)
    .unwrap();
    let b = index.as_bytes();
    assert_eq!(
        (u32_at(b, 8), u32_at(b, 40), u32_at(b, 100)),
        (7, 1, 2),
        "version, design graph, edge codes rabitq"
    );
    let (m0, p, slots) = (
        u32_at(b, 48) as usize,
        u32_at(b, 96) as usize,
        u64_at(b, 64),
    );
    assert_eq!((u32_at(b, 92), p), (0, 48), "pq_m, bits");
    let section = |kind: u32| section_of(b, kind);
    let labels: &[u64] = bytemuck::cast_slice(section(5));
    let records: &[u32] = bytemuck::cast_slice(section(16));
    let signs: &[f32] = bytemuck::cast_slice(section(18));
    let mean: &[f32] = bytemuck::cast_slice(section(19));
    assert_eq!((signs.len(), mean.len()), (4 * p, p));
    // The transform as FORMAT.md gives it.
    let h = 32; // the largest power of two ≤ 48
    let rotate = |x: &[f32]| -> Vec<f64> {
        let mut y: Vec<f64> = x.iter().map(|&v| f64::from(v)).collect();
        y.resize(p, 0.0);
        for t in 0..4 {
            for (v, s) in y.iter_mut().zip(&signs[t * p..][..p]) {
                *v *= f64::from(*s);
            }
            let w = if t % 2 == 0 { 0 } else { p - h };
            let mut len = 1;
            while len < h {
                for start in (0..h).step_by(2 * len) {
                    for i in start..start + len {
                        let (u, v) = (y[w + i], y[w + i + len]);
                        y[w + i] = u + v;
                        y[w + i + len] = u - v;
                    }
                }
                len *= 2;
            }
            for v in &mut y[w..w + h] {
                *v /= (h as f64).sqrt();
            }
            for i in 0..p / 2 {
                let (u, v) = (y[i], y[i + p / 2]);
                y[i] = (u + v) / 2f64.sqrt();
                y[i + p / 2] = (u - v) / 2f64.sqrt();
            }
        }
        y.iter().zip(mean).map(|(v, m)| v - f64::from(*m)).collect()
    };
    let degree = m0.next_multiple_of(32);
    let block_bytes = 4 * p + 128;
    let stride = (degree + degree / 32 * block_bytes / 4 + dim).next_multiple_of(16);
    assert_eq!(records.len(), slots as usize * stride);
    let rotated: Vec<Vec<f64>> = (0..slots as usize)
        .map(|s| rotate(base.row(labels[s] as usize)))
        .collect();
    // The terms are bfloat16: 8 significant bits.
    let close = |x: f32, want: f64, scale: f64| (f64::from(x) - want).abs() <= 5e-3 * (1.0 + scale);
    let mut checked = 0;
    for slot in 0..slots as usize {
        let rec = &records[slot * stride..][..stride];
        let list = &rec[..degree];
        let real = list.iter().take_while(|&&x| x != u32::MAX).count();
        let c = &rotated[slot];
        for (lane, &nb) in list[..real].iter().enumerate() {
            let words = &rec[degree + lane / 32 * block_bytes / 4..][..block_bytes / 4];
            let block: &[u8] = bytemuck::cast_slice(words);
            let lane = lane % 32;
            let r: Vec<f64> = rotated[nb as usize]
                .iter()
                .zip(c)
                .map(|(x, y)| x - y)
                .collect();
            let (sq, abs): (f64, f64) = (
                r.iter().map(|v| v * v).sum(),
                r.iter().map(|v| v.abs()).sum(),
            );
            let mut s_c = 0.0;
            for (i, &ri) in r.iter().enumerate() {
                let byte = block[i / 4 * 16 + lane % 16];
                let nibble = if lane < 16 { byte & 15 } else { byte >> 4 };
                let bit = nibble >> (i % 4) & 1;
                if ri.abs() > 1e-3 {
                    assert_eq!(bit == 1, ri > 0.0, "slot {slot} lane {lane} coordinate {i}");
                }
                s_c += if bit == 1 { c[i] } else { -c[i] };
            }
            let terms: Vec<f32> = block[4 * p..]
                .chunks_exact(2)
                .map(|h| f32::from_bits(u32::from(u16::from_le_bytes([h[0], h[1]])) << 16))
                .collect();
            let g = sq / abs;
            let (a, bb) = (sq + 2.0 * g * s_c, -2.0 * g);
            assert!(
                close(terms[lane], a, sq + (2.0 * g * s_c).abs()),
                "slot {slot} lane {lane}: a {} vs {a}",
                terms[lane]
            );
            assert!(
                close(terms[32 + lane], bb, g),
                "slot {slot} lane {lane}: b {} vs {bb}",
                terms[32 + lane]
            );
            checked += 1;
        }
    }
    assert!(checked > 1_500 * 8, "{checked} neighbours checked");
}
