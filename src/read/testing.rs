//! Helpers shared by the readers' unit tests: block extraction and the pseudo-random
//! mutations the robustness tests feed every reader.

use super::{Block, Parsed};

/// `(level, text, anchor)` of every heading block.
pub fn headings(p: &Parsed) -> Vec<(u8, String, Option<String>)> {
    p.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Heading {
                level,
                text,
                anchor,
                ..
            } => Some((*level, text.clone(), anchor.clone())),
            _ => None,
        })
        .collect()
}

/// The text of every prose block.
pub fn texts(p: &Parsed) -> Vec<String> {
    p.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// `(language, text)` of every code block.
pub fn codes(p: &Parsed) -> Vec<(Option<String>, String)> {
    p.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Code { lang, text, .. } => Some((lang.clone(), text.clone())),
            _ => None,
        })
        .collect()
}

/// xorshift64: a dependency-free, seeded pseudo-random source, so a failing mutation round
/// reproduces.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut s = self.0;
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        self.0 = s;
        s
    }
}

/// Round `round`'s damage to `sample`: every fourth round a truncation, otherwise one to
/// eight random bytes overwritten.
pub fn mutate(sample: &[u8], round: usize, rng: &mut Rng) -> Vec<u8> {
    let mut bytes = sample.to_vec();
    if round.is_multiple_of(4) {
        bytes.truncate(rng.next() as usize % sample.len().max(1));
    } else if !bytes.is_empty() {
        for _ in 0..=(rng.next() % 8) {
            let at = rng.next() as usize % bytes.len();
            bytes[at] = rng.next() as u8;
        }
    }
    bytes
}
