//! Distances per second per core: our kernels (each available tier) against a
//! plain scalar loop, in the same run, one query against an in-cache block of
//! rows resident in L1; and fast-scan codes per second, each tier. Run with `cargo bench -p zgq-distance --bench kernels`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use zgq_distance::Kernels;

const DIMS: [usize; 5] = [50, 128, 384, 784, 960];

fn scalar_l2(a: &[f32], b: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for i in 0..a.len() {
        let d = a[i] - b[i];
        s += d * d;
    }
    s
}

fn data(dim: usize, rows: usize) -> (Vec<f32>, Vec<f32>) {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    let q = (0..dim).map(|_| next()).collect();
    let block = (0..dim * rows).map(|_| next()).collect();
    (q, block)
}

fn l2(c: &mut Criterion) {
    let mut g = c.benchmark_group("l2_sq");
    for dim in DIMS {
        // 32 KiB of rows (at least 8): resident in L1 (48 KiB on the benchmark
        // machine), so this measures the kernel, not the memory system.
        let rows = (8 * 1024 / dim).max(8);
        let (q, block) = data(dim, rows);
        let mut out = vec![0.0f32; rows];
        g.throughput(Throughput::Elements(rows as u64));
        g.bench_with_input(BenchmarkId::new("scalar", dim), &dim, |b, _| {
            b.iter(|| {
                for (o, row) in out.iter_mut().zip(block.chunks_exact(dim)) {
                    *o = scalar_l2(black_box(&q), row);
                }
                black_box(&out);
            })
        });
        for k in Kernels::available() {
            g.bench_with_input(BenchmarkId::new(k.tier().name(), dim), &dim, |b, _| {
                b.iter(|| {
                    k.l2_sq_many(black_box(&q), black_box(&block), &mut out);
                    black_box(&out);
                })
            });
        }
    }
    g.finish();
}

fn dot(c: &mut Criterion) {
    let mut g = c.benchmark_group("dot");
    for dim in [128usize, 784] {
        let rows = (8 * 1024 / dim).max(8);
        let (q, block) = data(dim, rows);
        let mut out = vec![0.0f32; rows];
        g.throughput(Throughput::Elements(rows as u64));
        for k in Kernels::available() {
            g.bench_with_input(BenchmarkId::new(k.tier().name(), dim), &dim, |b, _| {
                b.iter(|| {
                    k.dot_many(black_box(&q), black_box(&block), &mut out);
                    black_box(&out);
                })
            });
        }
    }
    g.finish();
}

/// Rows against columns for short vectors: PQ sub-vectors (2 and 8
/// dimensions, 256 centroids) and a coarse quantizer (50 dimensions, 1,024
/// centroids), the same points in both layouts.
fn columns(c: &mut Criterion) {
    let mut g = c.benchmark_group("l2_sq_columns");
    for (dim, n) in [(2usize, 256usize), (8, 256), (50, 1024)] {
        let (q, rows) = data(dim, n);
        let mut cols = vec![0.0f32; dim * n];
        for j in 0..n {
            for d in 0..dim {
                cols[d * n + j] = rows[j * dim + d];
            }
        }
        let mut out = vec![0.0f32; n];
        g.throughput(Throughput::Elements(n as u64));
        let id = format!("{dim}x{n}");
        for k in Kernels::available() {
            let tier = k.tier().name();
            g.bench_with_input(
                BenchmarkId::new(format!("{tier}/rows"), &id),
                &dim,
                |b, _| {
                    b.iter(|| {
                        k.l2_sq_many(black_box(&q), black_box(&rows), &mut out);
                        black_box(&out);
                    })
                },
            );
            g.bench_with_input(
                BenchmarkId::new(format!("{tier}/columns"), &id),
                &dim,
                |b, _| {
                    b.iter(|| {
                        k.l2_sq_columns(black_box(&q), black_box(&cols), &mut out);
                        black_box(&out);
                    })
                },
            );
        }
    }
    g.finish();
}

/// One fast-scan block (32 codes of `m` 4-bit sub-quantizers) per call, per
/// tier: 8 blocks in L1, codes per second. `m`: 25 is glove-50's PQ edge
/// codes, 96 and 196 the RaBitQ edge codes of 384 and 784 dimensions (one
/// 4-bit group per 4 dimensions).
fn fastscan(c: &mut Criterion) {
    let mut g = c.benchmark_group("fastscan_block");
    for m in [16usize, 25, 32, 48, 64, 96, 196] {
        let blocks = 8;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut byte = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 56) as u8
        };
        let codes: Vec<u8> = (0..blocks * 16 * m).map(|_| byte()).collect();
        let luts: Vec<u8> = (0..16 * m).map(|_| byte()).collect();
        let mut out = [0u16; 32];
        g.throughput(Throughput::Elements((32 * blocks) as u64));
        for k in Kernels::available() {
            g.bench_with_input(BenchmarkId::new(k.tier().name(), m), &m, |b, _| {
                b.iter(|| {
                    for block in codes.chunks_exact(16 * m) {
                        k.fastscan_block(black_box(block), black_box(&luts), &mut out);
                        black_box(&out);
                    }
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = l2, dot, columns, fastscan
}
criterion_main!(benches);
