use std::fmt;
use std::str::FromStr;

use crate::Kernels;

/// How distances between vectors are measured. Whatever the metric, a
/// **smaller distance means closer**, so search code needs no special cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Metric {
    /// Squared Euclidean distance `Σ (aᵢ − bᵢ)²` (ranks like Euclidean distance).
    #[default]
    L2,
    /// Negated inner product `−a·b` (maximum inner product search).
    InnerProduct,
    /// Cosine distance `1 − a·b` of unit vectors. Indexes normalize vectors
    /// and queries for this metric ([`crate::normalize`]); given raw
    /// vectors, [`Metric::distance`] computes `1 − a·b` as is.
    Cosine,
}

impl Metric {
    /// The distance of `a` and `b` under this metric, with `kernels`.
    ///
    /// # Panics
    /// If `a.len() != b.len()`.
    #[inline]
    pub fn distance(self, kernels: &Kernels, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::L2 => kernels.l2_sq(a, b),
            Metric::InnerProduct => -kernels.dot(a, b),
            Metric::Cosine => 1.0 - kernels.dot(a, b),
        }
    }

    /// Whether vectors must be normalized to unit length before indexing.
    pub fn normalizes(self) -> bool {
        self == Metric::Cosine
    }

    /// `l2`, `ip` or `cosine`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::InnerProduct => "ip",
            Metric::Cosine => "cosine",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an unknown metric name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownMetric(pub String);

impl fmt::Display for UnknownMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown metric {:?}: expected l2, ip (inner product) or cosine (angular)",
            self.0
        )
    }
}

impl std::error::Error for UnknownMetric {}

impl FromStr for Metric {
    type Err = UnknownMetric;

    /// Accepts `l2`/`euclidean`, `ip`/`inner_product`/`dot`, `cosine`/`angular`.
    fn from_str(s: &str) -> Result<Metric, UnknownMetric> {
        match s.trim().to_ascii_lowercase().as_str() {
            "l2" | "euclidean" => Ok(Metric::L2),
            "ip" | "inner_product" | "innerproduct" | "dot" => Ok(Metric::InnerProduct),
            "cosine" | "angular" => Ok(Metric::Cosine),
            _ => Err(UnknownMetric(s.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smaller_is_closer_for_every_metric() {
        let k = Kernels::portable();
        let q = [0.6f32, 0.8];
        let near = [0.8f32, 0.6];
        let far = [-0.6f32, -0.8];
        for m in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            assert!(m.distance(&k, &q, &near) < m.distance(&k, &q, &far), "{m}");
        }
    }

    #[test]
    fn names_parse_back() {
        for m in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            assert_eq!(m.name().parse::<Metric>(), Ok(m));
        }
        assert_eq!("angular".parse::<Metric>(), Ok(Metric::Cosine));
        assert!("hamming".parse::<Metric>().is_err());
    }
}
