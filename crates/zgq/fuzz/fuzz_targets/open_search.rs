//! Any bytes: `from_bytes` gives a typed error or an index; an index
//! answers searches (possibly wrongly, if damaged) and `verify` returns,
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(index) = zgq::ZgqIndex::from_bytes(data) {
        let dim = index.dim().min(4096);
        let query: Vec<f32> = (0..dim).map(|i| (i % 7) as f32 * 0.25 - 0.5).collect();
        for k in [1, 10] {
            let p = zgq::SearchParams {
                nprobe: Some(index.zones().clamp(1, 3)),
                ..zgq::SearchParams::new(k.min(index.len().max(1)))
            };
            let _ = index.search(&query, &p);
        }
        let _ = index.stats();
        let _ = index.verify();
    }
});
