//! The live local ids of a segment (its chunks not tombstoned, or those a filter admits):
//! the test every search leg applies. Here, below `segment`, because the graph's filtered
//! walk takes it as well.

/// The live local ids of one segment in one generation, as a bitset. Hand-written (a
/// `Vec<u64>` and three methods) rather than a crate: it needs nothing but set/test, and
/// tantivy's and the graph's filters take a plain closure over it.
#[derive(Debug, Clone)]
pub struct LiveSet {
    bits: Vec<u64>,
    live: usize,
    len: usize,
}

impl LiveSet {
    /// An empty set over `len` local ids.
    pub fn new(len: usize) -> LiveSet {
        LiveSet {
            bits: vec![0; len.div_ceil(64)],
            live: 0,
            len,
        }
    }

    /// Marks `range` live; `false` when part of it is out of bounds or already live (two
    /// documents claiming one chunk is an inconsistent manifest).
    pub fn insert_range(&mut self, range: std::ops::Range<u32>) -> bool {
        if range.end as usize > self.len {
            return false;
        }
        for i in range {
            let (w, b) = (i as usize / 64, i % 64);
            if self.bits[w] & (1 << b) != 0 {
                return false;
            }
            self.bits[w] |= 1 << b;
            self.live += 1;
        }
        true
    }

    #[inline]
    pub fn contains(&self, i: u32) -> bool {
        self.bits
            .get(i as usize / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// Live ids.
    pub fn live(&self) -> usize {
        self.live
    }

    /// True when every id is live (searches then skip the filter).
    pub fn is_full(&self) -> bool {
        self.live == self.len
    }

    /// The ids in the set, ascending (a metadata filter's exact search walks these).
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.bits.iter().enumerate().flat_map(|(w, &word)| {
            let mut rest = word;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let b = rest.trailing_zeros();
                    rest &= rest - 1;
                    (w * 64) as u32 + b
                })
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_set_refuses_overlaps_and_out_of_range() {
        let mut s = LiveSet::new(130);
        assert!(s.insert_range(0..3));
        assert!(s.insert_range(64..129));
        assert!(!s.insert_range(2..4), "overlap");
        assert!(!s.insert_range(129..131), "beyond the segment");
        assert!(s.contains(0) && s.contains(128) && !s.contains(3) && !s.contains(129));
        assert!(!s.contains(10_000));
        assert!(!s.is_full());
        let ids: Vec<u32> = s.iter().collect();
        assert_eq!(
            ids,
            [0, 1, 2].into_iter().chain(64..129).collect::<Vec<u32>>()
        );
    }
}
