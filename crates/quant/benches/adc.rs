//! ADC scan throughput: codes per second per core for 8-bit PQ (table
//! lookups) and 4-bit fast-scan (byte shuffles), at the same code size of
//! 16 bytes per vector, in the same run.
//! Run with `cargo bench -p zgq-quant --bench adc`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use zgq_distance::Metric;
use zgq_quant::{FastScanCodes, PqParams};

fn data(n: usize, dim: usize) -> Vec<f32> {
    let mut rng = zgq_rng::SplitMix64::new(7u64);
    (0..n * dim)
        .map(|_| {
            let s = rng.next_u64();
            (s >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

fn adc(c: &mut Criterion) {
    let (n, dim) = (4096, 64);
    let train = data(4096, dim);
    let q = &train[..dim];
    let mut g = c.benchmark_group("adc_scan_16_bytes_per_code");
    g.throughput(Throughput::Elements(n as u64));

    let pq8 = PqParams {
        iters: 4,
        ..PqParams::new(16, 8)
    }
    .train(&train, dim)
    .unwrap();
    let codes8 = pq8.encode(&train[..n * dim]).unwrap();
    let table8 = pq8.lookup_table(q, Metric::L2).unwrap();
    let mut out = vec![0.0f32; n];
    g.bench_function("pq8_m16", |b| {
        b.iter(|| {
            pq8.distances(black_box(&table8), black_box(&codes8), &mut out);
            black_box(&out);
        })
    });

    let pq4 = PqParams {
        iters: 4,
        ..PqParams::new(32, 4)
    }
    .train(&train, dim)
    .unwrap();
    let packed = FastScanCodes::pack(&pq4.encode(&train[..n * dim]).unwrap(), 32).unwrap();
    let lut = pq4
        .quantize_lut(&pq4.lookup_table(q, Metric::L2).unwrap())
        .unwrap();
    g.bench_function("fastscan4_m32", |b| {
        b.iter(|| {
            pq4.fast_scan(black_box(&lut), black_box(&packed), &mut out);
            black_box(&out);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = adc
}
criterion_main!(benches);
