//! Zones, shared by both designs: balanced k-means over the vectors, each
//! vector's zone (plus SPANN-style replicas in neighbouring zones), the
//! zone-major numbering of the stored vectors ("slots"), and the routing
//! of a query to its nearest zones.
//!
//! Slot `s` of zone `z` lies in `starts[z]..starts[z + 1]`; inside a zone
//! the input rows keep their order. A zone is what a search probes, what a
//! build runs in parallel, and (later) the unit of updates and shards.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use zgq_distance::Metric;
use zgq_quant::{Centroids, KMeans};

use crate::Progress;
use crate::error::Result;

/// How to split the vectors into zones.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ZonePlan {
    /// Number of zones.
    pub zones: usize,
    /// No zone gets more than `balance · n / zones` primary vectors when
    /// avoidable.
    pub balance: f32,
    /// Copies a vector may have across zones (1: none).
    pub replicas: usize,
    /// A replica goes only to zones within `(1 + epsilon)` of the nearest
    /// centroid's distance.
    pub epsilon: f32,
    /// k-means trains on at most this many rows per centroid.
    pub points_per_centroid: usize,
    /// Seed of k-means.
    pub seed: u64,
}

/// Zone counts from which k-means trains in two levels (`⌈√k⌉` coarse
/// clusters, each split into its share): the zone scan's thousands of
/// zones at 1 M vectors and more, where one level costs `n·k·d` per
/// iteration (docs/BENCHMARKS.md, "Two-level k-means").
pub(crate) const TWO_LEVEL_ZONES: usize = 1024;

/// The zones of a build: centroids, and the stored vectors in slot order.
#[derive(Debug)]
pub(crate) struct Zones {
    pub centroids: Centroids,
    /// First slot of every zone, then the slot count (`zones + 1` values).
    pub starts: Vec<usize>,
    /// The stored vectors, zone by zone (`slots × dim`).
    pub vectors: Vec<f32>,
    /// The caller's id of every slot.
    pub labels: Vec<u64>,
    pub dim: usize,
}

impl Zones {
    /// Trains the centroids on `data` (`dim` values per row), assigns every
    /// row (and its replicas) and lays the vectors out zone by zone.
    /// `labels[i]` is row `i`'s id (`None`: `i`). Reports the stages
    /// `k-means` and `assign`.
    pub fn build(
        data: &[f32],
        dim: usize,
        labels: Option<&[u64]>,
        plan: &ZonePlan,
        progress: &dyn Progress,
    ) -> Result<Zones> {
        let kmeans = KMeans {
            seed: plan.seed,
            balance: (plan.zones > 1).then_some(plan.balance),
            max_points_per_centroid: plan.points_per_centroid,
            two_level_from: TWO_LEVEL_ZONES,
            ..KMeans::new(plan.zones)
        };
        let iters = kmeans.max_iters as u64;
        progress.stage("k-means", iters);
        let reported = AtomicU64::new(0);
        let centroids = kmeans.train_with_progress(data, dim, &|_, _| {
            reported.fetch_add(1, Ordering::Relaxed);
            progress.advance(1);
        })?;
        // Convergence may stop it early: complete the stage.
        progress.advance(iters.saturating_sub(reported.into_inner()));

        let n = data.len() / dim;
        progress.stage("assign", n as u64);
        let members = assign(&centroids, data, plan)?;
        progress.advance(n as u64);
        Ok(Zones::lay_out(centroids, data, dim, labels, &members))
    }

    /// Zones over given `centroids` whose rows of `data` are already
    /// chosen: `members[z]` lists zone `z`'s rows in slot order.
    pub fn lay_out(
        centroids: Centroids,
        data: &[f32],
        dim: usize,
        labels: Option<&[u64]>,
        members: &[Vec<u32>],
    ) -> Zones {
        let mut starts = Vec::with_capacity(members.len() + 1);
        starts.push(0);
        let slots: usize = members.iter().map(Vec::len).sum();
        let mut vectors = Vec::with_capacity(slots * dim);
        let mut slot_labels = Vec::with_capacity(slots);
        for zone in members {
            for &r in zone {
                let r = r as usize;
                vectors.extend_from_slice(&data[r * dim..][..dim]);
                slot_labels.push(labels.map_or(r as u64, |l| l[r]));
            }
            starts.push(slot_labels.len());
        }
        Zones {
            centroids,
            starts,
            vectors,
            labels: slot_labels,
            dim,
        }
    }

    /// Number of zones.
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// Stored vectors (replicas included).
    pub fn slots(&self) -> usize {
        self.labels.len()
    }

    /// The slots of zone `z`.
    pub fn range(&self, z: usize) -> Range<usize> {
        self.starts[z]..self.starts[z + 1]
    }

    /// The vectors of zone `z`, row-major.
    pub fn rows(&self, z: usize) -> &[f32] {
        let r = self.range(z);
        &self.vectors[r.start * self.dim..r.end * self.dim]
    }

    /// The zone of every slot.
    pub fn zone_of(&self) -> Vec<u32> {
        (0..self.len())
            .flat_map(|z| std::iter::repeat_n(z as u32, self.range(z).len()))
            .collect()
    }
}

/// The rows of each zone, ascending: the balanced primary assignment,
/// plus SPANN-style replicas (a row also joins its next-nearest zones whose
/// centroid is within `(1 + epsilon)` of the distance to its own zone's).
fn assign(centroids: &Centroids, data: &[f32], plan: &ZonePlan) -> Result<Vec<Vec<u32>>> {
    let zones = plan.zones;
    let mut members = vec![Vec::new(); zones];
    if zones == 1 {
        members[0] = (0..(data.len() / centroids.dim()) as u32).collect();
        return Ok(members);
    }
    let primary = centroids.assign_balanced(data, plan.balance)?;
    let top = plan.replicas.min(zones);
    let near = if top > 1 {
        centroids.assign_top(data, top)?
    } else {
        Vec::new()
    };
    let slack = (1.0 + plan.epsilon) * (1.0 + plan.epsilon);
    for (row, &(zone, d0)) in primary.iter().enumerate() {
        members[zone as usize].push(row as u32);
        if top > 1 {
            // Squared distances: the (1 + ε) rule on distances is
            // (1 + ε)² on squares. Measured from the zone the row was
            // given (balancing may have moved it off its nearest).
            let limit = d0.max(0.0) * slack;
            let mut copies = 1;
            for &(z, d) in &near[row * top..][..top] {
                if copies >= plan.replicas || d > limit {
                    break;
                }
                if z != zone {
                    members[z as usize].push(row as u32);
                    copies += 1;
                }
            }
        }
    }
    for m in &mut members {
        m.sort_unstable();
    }
    Ok(members)
}

/// The `nprobe` zones nearest by `route` (one score per zone, smaller is
/// nearer; ties by zone number) into `order`, nearest first. With a finite
/// `probe_factor` (not for inner product), a zone beyond the nearest stays
/// only if its score is at most `probe_factor²` times the nearest's
/// (scores are squared distances).
pub(crate) fn nearest(
    route: &[f32],
    nprobe: usize,
    probe_factor: f32,
    metric: Metric,
    order: &mut Vec<u32>,
) {
    let zones = route.len();
    order.clear();
    order.extend(0..zones as u32);
    let by = |a: &u32, b: &u32| {
        route[*a as usize]
            .total_cmp(&route[*b as usize])
            .then(a.cmp(b))
    };
    if nprobe < zones {
        order.select_nth_unstable_by(nprobe - 1, by);
        order.truncate(nprobe);
    }
    order.sort_unstable_by(by);
    if metric != Metric::InnerProduct
        && probe_factor.is_finite()
        && let Some(&first) = order.first()
    {
        let limit = route[first as usize] * probe_factor * probe_factor;
        order.retain(|&z| route[z as usize] <= limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nearest zones come back nearest first, ties by zone number, cut
    /// to `nprobe`; a probe factor drops zones too far behind the nearest.
    #[test]
    fn nearest_orders_cuts_and_breaks_ties_by_zone() {
        let route = [4.0, 1.0, 9.0, 1.0, 16.0];
        let mut order = Vec::new();
        nearest(&route, 3, f32::INFINITY, Metric::L2, &mut order);
        assert_eq!(order, [1, 3, 0]);
        nearest(&route, 5, 2.0, Metric::L2, &mut order);
        assert_eq!(order, [1, 3, 0]);
        nearest(&route, 5, 2.0, Metric::InnerProduct, &mut order);
        assert_eq!(order, [1, 3, 0, 2, 4]);
    }

    /// Slots are zone-major with rows in order inside a zone, every row
    /// once without replication, and labels follow their rows.
    #[test]
    fn slots_are_zone_major_and_carry_their_labels() {
        let dim = 2;
        let data: Vec<f32> = (0..40)
            .flat_map(|i| {
                let c = if i % 2 == 0 { 0.0 } else { 100.0 };
                [c + (i / 2) as f32 * 0.01, c]
            })
            .collect();
        let labels: Vec<u64> = (0..40).map(|i| 1000 + i).collect();
        let plan = ZonePlan {
            zones: 2,
            balance: 1.3,
            replicas: 1,
            epsilon: 0.1,
            points_per_centroid: 256,
            seed: 0,
        };
        let z = Zones::build(&data, dim, Some(&labels), &plan, &crate::NoProgress).unwrap();
        assert_eq!((z.len(), z.slots()), (2, 40));
        for zone in 0..2 {
            let ids = &z.labels[z.range(zone)];
            assert_eq!(ids.len(), 20);
            // One parity per zone, in row order.
            assert!(ids.windows(2).all(|w| w[0] + 2 == w[1]), "{ids:?}");
            for (slot, &id) in z.range(zone).zip(ids) {
                let row = (id - 1000) as usize;
                assert_eq!(&z.vectors[slot * dim..][..dim], &data[row * dim..][..dim]);
            }
        }
        assert_eq!(z.zone_of().iter().filter(|&&x| x == 1).count(), 20);
    }
}
