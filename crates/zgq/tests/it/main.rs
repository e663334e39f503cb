//! Integration tests of the `zgq` index: recall, round trips, the file.

mod blocks;
mod file;
mod hostile;
mod live;
mod scan;
mod search;
mod shard;

use zgq::{Design, EdgeCodes, ZgqParams};

/// A kind of index the tests build: a design and, for the graph, its edge
/// codes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Kind(pub Design, pub Option<EdgeCodes>);

pub(crate) const GRAPH_PQ4: Kind = Kind(Design::Graph, Some(EdgeCodes::Pq4));
pub(crate) const GRAPH_RABITQ: Kind = Kind(Design::Graph, Some(EdgeCodes::Rabitq));
pub(crate) const SQ8_GRAPH: Kind = Kind(Design::Sq8Graph, None);
pub(crate) const SCAN: Kind = Kind(Design::Scan, None);

/// Every kind of index.
pub(crate) const KINDS: [Kind; 4] = [GRAPH_PQ4, GRAPH_RABITQ, SQ8_GRAPH, SCAN];

impl Kind {
    /// `p` with this design and edge codes.
    pub(crate) fn of(self, p: ZgqParams) -> ZgqParams {
        ZgqParams {
            design: self.0,
            edge_codes: self.1,
            ..p
        }
    }

    /// A short name for file names and messages.
    pub(crate) fn name(self) -> String {
        match self.1 {
            Some(e) => format!("{}-{}", self.0, e),
            None => self.0.to_string(),
        }
    }
}

/// The graph parameters of most tests: `m = 16` (not the dimension's
/// default), so builds stay quick.
pub(crate) fn graph16(metric: zgq::Metric) -> ZgqParams {
    ZgqParams {
        m: Some(16),
        ..ZgqParams::new(metric)
    }
}
