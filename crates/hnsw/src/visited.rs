/// A visited set cleared in O(1): a node is visited when its tag equals the
/// current generation; starting a new search just increments the generation
/// (and really clears the array once every 65,535 searches).
#[derive(Clone, Debug, Default)]
pub(crate) struct Visited {
    tags: Vec<u16>,
    current: u16,
}

impl Visited {
    /// Starts a new search over `n` nodes.
    pub(crate) fn reset(&mut self, n: usize) {
        if self.tags.len() < n {
            self.tags.resize(n, 0);
        }
        self.current = self.current.wrapping_add(1);
        if self.current == 0 {
            self.tags.fill(0);
            self.current = 1;
        }
    }

    /// A hint that `id` will be checked soon.
    #[inline]
    pub(crate) fn prefetch(&self, id: u32) {
        if let Some(t) = self.tags.get(id as usize..) {
            zgq_distance::prefetch(t);
        }
    }

    /// Marks `id`; returns whether it was new.
    #[inline]
    pub(crate) fn insert(&mut self, id: u32) -> bool {
        let t = &mut self.tags[id as usize];
        if *t == self.current {
            false
        } else {
            *t = self.current;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_clear_and_wrap() {
        let mut v = Visited::default();
        v.reset(4);
        assert!(v.insert(2));
        assert!(!v.insert(2));
        for _ in 0..70_000 {
            v.reset(4);
            assert!(v.insert(2), "a new generation forgets old marks");
        }
        assert!(!v.insert(2));
    }
}
