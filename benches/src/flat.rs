//! `flat`: exact brute force, the reference every other method is measured
//! against. Distances are scanned in f32 with the SIMD kernels, then every
//! candidate that could be among the true `k` (within the kernels' stated
//! error bound of the k-th f32 distance) is re-scored in f64 with the
//! ground-truth rule, so the answer is exact: ties go to the smaller id.

use zgq_data::Matrix;

/// Relative error bound of the f32 kernels (tested in zgq-distance).
const KERNEL_REL_ERR: f32 = 1e-5;

pub struct Flat<'a> {
    base: &'a Matrix<f32>,
}

/// Per-thread buffers, reused across queries.
#[derive(Default)]
pub struct Scratch {
    d32: Vec<f32>,
    select: Vec<f32>,
    candidates: Vec<(f64, u64)>,
}

impl<'a> Flat<'a> {
    pub fn new(base: &'a Matrix<f32>) -> Flat<'a> {
        Flat { base }
    }

    pub fn index_bytes(&self) -> usize {
        std::mem::size_of_val(self.base.as_slice())
    }

    pub fn search(&self, query: &[f32], k: usize, s: &mut Scratch, out: &mut Vec<u64>) {
        out.clear();
        let n = self.base.rows();
        let k = k.min(n);
        if k == 0 {
            return;
        }
        s.d32.resize(n, 0.0);
        zgq_distance::l2_sq_many(query, self.base.as_slice(), &mut s.d32);
        s.select.clear();
        s.select.extend_from_slice(&s.d32);
        let (_, kth, _) = s.select.select_nth_unstable_by(k - 1, f32::total_cmp);
        let bound = *kth * (1.0 + 3.0 * KERNEL_REL_ERR) + f32::MIN_POSITIVE;
        s.candidates.clear();
        for (i, &d) in s.d32.iter().enumerate() {
            if d <= bound {
                s.candidates
                    .push((exact_l2(query, self.base.row(i)), i as u64));
            }
        }
        s.candidates
            .sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out.extend(s.candidates.iter().take(k).map(|c| c.1));
    }
}

/// Squared L2 in f64, terms added in index order (the ground-truth rule).
fn exact_l2(a: &[f32], b: &[f32]) -> f64 {
    let mut acc = 0.0f64;
    for (&x, &y) in a.iter().zip(b) {
        let d = y as f64 - x as f64;
        acc += d * d;
    }
    acc
}
