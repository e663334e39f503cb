//! SplitMix64, the one seeded pseudo-random generator shared by the ZGQ
//! crates (synthetic data in `zgq-data`, k-means and OPQ sampling in
//! `zgq-quant`, level draws in `zgq-hnsw`).
//!
//! # What this crate is for, and what it is not
//!
//! Reproducibility: a seed must mean the same synthetic data, the same graph
//! levels and the same centroids forever, whatever the versions of our
//! dependencies. A 20-line generator we own guarantees that; a general
//! random-number crate would not (its streams may change between versions).
//! It is not a cryptographic generator, and not a statistics library.
//!
//! # Design
//!
//! Steele, Lea & Flood's SplitMix64: a Weyl sequence (`state += γ`) passed
//! through a 64-bit finalizer. It has no dependencies, is `Copy`-cheap, and
//! [`SplitMix64::stream`] derives independent streams (one per row, say)
//! from one seed, so parallel generation gives the same output for any
//! number of threads.
//!
//! # Example
//!
//! ```
//! use zgq_rng::SplitMix64;
//!
//! let mut a = SplitMix64::new(7);
//! let mut b = SplitMix64::new(7);
//! assert_eq!(a.next_u64(), b.next_u64()); // same seed, same stream
//! let x = a.next_f64();
//! assert!((0.0..1.0).contains(&x));
//! assert!(a.below(10) < 10);
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The SplitMix64 generator. `Clone` gives a second generator at the same
/// point of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator whose state starts at `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    /// A generator for stream `index` of `seed`, independent of the others
    /// (the state is the seed mixed with the index, then advanced once).
    pub fn stream(seed: u64, index: u64) -> SplitMix64 {
        let mut s = SplitMix64(seed ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
        s.next_u64();
        s
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`, with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; `0` when `n = 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Standard normal (Box–Muller, one value per two draws).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// `count` distinct indices of `0..n` (all of them if `count ≥ n`), in
    /// sampling order (a partial Fisher–Yates shuffle).
    pub fn sample(&mut self, n: usize, count: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        let count = count.min(n);
        for i in 0..count {
            let j = i + self.below(n - i);
            idx.swap(i, j);
        }
        idx.truncate(count);
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_first_values_never_change() {
        // SplitMix64 reference outputs for seed 0.
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn normal_has_unit_variance() {
        let mut r = SplitMix64::new(7);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn below_stays_in_range_and_reaches_both_ends() {
        let mut r = SplitMix64::new(3);
        for n in 1..100 {
            assert!(r.below(n) < n);
        }
        let draws: Vec<usize> = (0..1000).map(|_| r.below(4)).collect();
        assert!(draws.contains(&0) && draws.contains(&3));
    }

    #[test]
    fn streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4)
            .map(|i| SplitMix64::stream(9, i).next_u64())
            .collect();
        let b: Vec<u64> = (0..4)
            .map(|i| SplitMix64::stream(9, i).next_u64())
            .collect();
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 4, "streams of one seed are distinct");
    }

    #[test]
    fn sample_is_distinct_and_in_range() {
        let mut r = SplitMix64::new(5);
        let s = r.sample(50, 20);
        assert_eq!(s.len(), 20);
        let mut d = s.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 20);
        assert!(s.iter().all(|&i| i < 50));
        assert_eq!(r.sample(3, 10).len(), 3);
    }
}
