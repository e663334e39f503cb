//! Renumbering nodes so that graph neighbours sit near each other in memory.

use crate::graph::{Hnsw, NO_NEIGHBOR};

impl Hnsw {
    /// The same graph with nodes renumbered in breadth-first order from the
    /// entry point over level 0 (nodes the walk does not reach, if any, keep
    /// their relative order at the end). A search touches a node's
    /// neighbours together, and BFS order puts them near each other in the
    /// vector and list arrays, so fewer cache lines and pages are touched.
    ///
    /// Labels move with their nodes: searches return the same ids and
    /// distances (only the order among exactly equal distances may change).
    pub fn relabel_bfs(&self) -> Hnsw {
        let n = self.labels.len();
        if n == 0 {
            return self.clone();
        }
        let g = self.graph();
        let mut order = Vec::with_capacity(n);
        let mut seen = vec![false; n];
        seen[self.entry as usize] = true;
        order.push(self.entry);
        let mut head = 0;
        while head < order.len() {
            let v = order[head];
            head += 1;
            for &nb in g.neighbors(v, 0) {
                if !seen[nb as usize] {
                    seen[nb as usize] = true;
                    order.push(nb);
                }
            }
        }
        order.extend((0..n as u32).filter(|&v| !seen[v as usize]));
        self.permuted(&order)
    }

    /// The graph with node `order[i]` renamed `i` (`order` is a permutation).
    fn permuted(&self, order: &[u32]) -> Hnsw {
        let n = order.len();
        let mut new_of_old = vec![0u32; n];
        for (new, &old) in order.iter().enumerate() {
            new_of_old[old as usize] = new as u32;
        }
        let map = |x: u32| {
            if x == NO_NEIGHBOR {
                x
            } else {
                new_of_old[x as usize]
            }
        };
        let (dim, m, m0) = (self.dim, self.m, self.m0);
        let mut vectors = Vec::with_capacity(self.vectors.len());
        let mut labels = Vec::with_capacity(n);
        let mut links0 = Vec::with_capacity(self.links0.len());
        let mut upper_offsets = Vec::with_capacity(n + 1);
        let mut upper = Vec::with_capacity(self.upper.len());
        upper_offsets.push(0u32);
        for &old in order {
            let o = old as usize;
            vectors.extend_from_slice(&self.vectors[o * dim..(o + 1) * dim]);
            labels.push(self.labels[o]);
            links0.extend(self.links0[o * m0..(o + 1) * m0].iter().map(|&x| map(x)));
            let (from, to) = (
                self.upper_offsets[o] as usize,
                self.upper_offsets[o + 1] as usize,
            );
            upper.extend(self.upper[from * m..to * m].iter().map(|&x| map(x)));
            upper_offsets.push(upper_offsets.last().copied().unwrap_or(0) + (to - from) as u32);
        }
        Hnsw {
            entry: new_of_old[self.entry as usize],
            links0,
            upper_offsets,
            upper,
            vectors,
            labels,
            ..self.clone_header()
        }
    }

    fn clone_header(&self) -> Hnsw {
        Hnsw {
            dim: self.dim,
            metric: self.metric,
            m: self.m,
            m0: self.m0,
            entry: self.entry,
            max_level: self.max_level,
            links0: Vec::new(),
            upper_offsets: Vec::new(),
            upper: Vec::new(),
            vectors: Vec::new(),
            labels: Vec::new(),
        }
    }
}
