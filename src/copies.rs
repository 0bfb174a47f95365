//! Telling a copy of a hit's text from a different text, for folding copies into one hit
//! (`search.collapse_duplicates`, [`crate::search::Hit::also_in`]).
//!
//! The same manual built twice (bash-doc ships both manuals as HTML and as PDF) is cut into
//! chunks at different places, with other quotes, hyphens and markup, so its copies overlap
//! rather than match. Two hits are copies when their files have one name ([`same_name`]:
//! `bashref.html`, `bashref.pdf`) and the smaller text shares at least half of its four-word
//! shingles with the larger (containment, not Jaccard: a chunk cut from the middle of a
//! longer one is a copy). Files of different names are folded only when identical: pages
//! made from one template overlap as much as copies do. Measured on the hits of real documentation (ARCHITECTURE.md,
//! "Copies"): copies across bash-doc's four files share 0.7–1.0; different files of the
//! Sphinx and Docutils sets at most 0.37 unless one quotes the other.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Words per shingle: four words in a row are rarely shared by chance.
const SHINGLE_WORDS: usize = 4;
/// Fewer shingles than this (about 20 words) is too little text to call a copy by overlap;
/// only identical text is folded then.
const MIN_SHINGLES: usize = 16;
/// Share of the smaller text's shingles the larger must hold for a copy.
const NEAR_DUPLICATE: f32 = 0.5;

/// Hashes of a text's word shingles (lowercased letters and digits, markup and
/// punctuation ignored, so an HTML page and its PDF compare equal), sorted and distinct.
/// Words are hashed as they are read, without allocating: this runs for every hit shown.
pub fn shingles(text: &str) -> Vec<u64> {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut words: Vec<u64> = Vec::with_capacity(text.len() / 5);
    let mut word: Option<u64> = None;
    for c in text.chars() {
        let mix = |h: u64, l: char| (h ^ u64::from(l)).wrapping_mul(FNV_PRIME);
        if c.is_ascii_alphanumeric() {
            word = Some(mix(word.unwrap_or(FNV_OFFSET), c.to_ascii_lowercase()));
        } else if !c.is_ascii() && c.is_alphanumeric() {
            word = Some(c.to_lowercase().fold(word.unwrap_or(FNV_OFFSET), mix));
        } else if let Some(h) = word.take() {
            words.push(h);
        }
    }
    words.extend(word);
    let mut out: Vec<u64> = words
        .windows(SHINGLE_WORDS)
        .map(|w| {
            // splitmix64's finaliser over an order-dependent mix of the four words.
            let mut x = w.iter().fold(0u64, |acc, &h| acc.rotate_left(17) ^ h);
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// A shingle is already a well-mixed hash: the map uses it as it is.
#[derive(Default)]
struct Passthrough(u64);

impl Hasher for Passthrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The shingles of the hits shown so far, indexed by shingle: a new hit is compared with
/// every shown hit in one pass over its own shingles, instead of a merge per pair (which at
/// 100 hits cost more than the BM25 search itself).
#[derive(Default)]
pub struct Shown {
    /// The first shown hit holding each shingle.
    first: HashMap<u64, u32, BuildHasherDefault<Passthrough>>,
    /// The later ones, for the few shingles several shown hits hold (shared boilerplate).
    more: HashMap<u64, Vec<u32>, BuildHasherDefault<Passthrough>>,
    sizes: Vec<usize>,
}

impl Shown {
    /// Records the next shown hit's shingles (its index is the number added before it).
    pub fn add(&mut self, shingles: Vec<u64>) {
        let at = self.sizes.len() as u32;
        self.sizes.push(shingles.len());
        for s in shingles {
            match self.first.entry(s) {
                Entry::Vacant(v) => {
                    v.insert(at);
                }
                Entry::Occupied(_) => self.more.entry(s).or_default().push(at),
            }
        }
    }

    /// The shown hits (by index, ascending) that `shingles` is a copy of.
    pub fn copies_of(&self, shingles: &[u64]) -> Vec<usize> {
        if shingles.len() < MIN_SHINGLES || self.sizes.is_empty() {
            return Vec::new();
        }
        let mut common = vec![0usize; self.sizes.len()];
        for s in shingles {
            if let Some(&i) = self.first.get(s) {
                common[i as usize] += 1;
                for &i in self.more.get(s).map(Vec::as_slice).unwrap_or_default() {
                    common[i as usize] += 1;
                }
            }
        }
        common
            .iter()
            .enumerate()
            .filter(|&(i, &n)| is_copy(n, shingles.len(), self.sizes[i]))
            .map(|(i, _)| i)
            .collect()
    }
}

/// Whether two paths name the same document (`html/bashref.html`, `pdf/bashref.pdf`,
/// `v2/bashref.md.gz`): the file name before its first dot, ignoring case. Only such hits are
/// folded by overlap: pages generated from one template (`CURLOPT_TIMEOUT.3` and
/// `CURLOPT_TIMEOUT_MS.3`, an API's endpoint pages) share most of their words, yet the word
/// they differ by is the answer.
pub fn same_name(a: &str, b: &str) -> bool {
    let name = |p: &str| {
        let file = p.rsplit(['/', '\\']).next().unwrap_or(p);
        file.split('.').next().unwrap_or(file).to_lowercase()
    };
    let (a, b) = (name(a), name(b));
    !a.is_empty() && a == b
}

/// Whether two hits hold the same passage: identical text, or text whose lines differ only
/// in their headings' section numbers. ffmpeg-doc ships each manual alone and again inside
/// `ffmpeg-all.html`, `ffplay-all.html` and `ffprobe-all.html`, renumbered (`8.45 areverse`,
/// `36.45 areverse`): four files of four names, cut alike, whose copies would otherwise fill
/// the first results. Only a heading's leading number may differ, so pages made from one
/// template still differ by the word that is the answer.
pub fn same_text(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (mut a, mut b) = (a.lines(), b.lines());
    loop {
        match (a.next(), b.next()) {
            (None, None) => return true,
            (Some(x), Some(y)) if x == y => {}
            (Some(x), Some(y)) => match (unnumbered_heading(x), unnumbered_heading(y)) {
                (Some(x), Some(y)) if x == y => {}
                _ => return false,
            },
            _ => return false,
        }
    }
}

/// A heading line's marker and text without its section number (`## 36.45 areverse` gives
/// `##`, `areverse`); `None` for a line that is not a numbered heading. A section number is
/// plain text's ([`crate::read::text::section_number`]): `## 2024 in review` is not numbered.
fn unnumbered_heading(line: &str) -> Option<(&str, &str)> {
    let text = line.trim_start_matches('#');
    let marker = &line[..line.len() - text.len()];
    let text = text.strip_prefix(' ')?;
    let (number, rest) = text.split_once(' ')?;
    let numbered = !marker.is_empty() && crate::read::text::section_number(number).is_some();
    numbered.then_some((marker, rest))
}

/// Whether two texts of `a` and `b` shingles sharing `common` of them are copies.
fn is_copy(common: usize, a: usize, b: usize) -> bool {
    let smaller = a.min(b);
    smaller >= MIN_SHINGLES && common as f32 >= NEAR_DUPLICATE * smaller as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn copies(texts: &[&str], new: &str) -> Vec<usize> {
        let mut shown = Shown::default();
        for t in texts {
            shown.add(shingles(t));
        }
        shown.copies_of(&shingles(new))
    }

    /// bash's manual as its HTML and its PDF print it: the same words, cut at other places,
    /// with other quotes and hyphens. A neighbouring section of one manual is not a copy.
    #[test]
    fn copies_cut_differently_are_found_and_neighbours_are_not() {
        let html = "Quick substitution. Repeat the previous command, replacing string1 with \
            string2. Equivalent to \"!!:s^string1^string2^\" (see Modifiers below). The \
            entire command line typed so far. Word designators are used to select desired \
            words from the event.";
        let pdf = "the event.\n\n^string1^string2^ Quick substitution. Repeat the previous \
            command, replacing string1 with string2. Equivalent to ‘‘!!:s^string1^string2^’’ \
            (see Modifiers below). !# The entire command line typed so far.";
        let next = "Word designators are used to select desired words from the event. A : \
            separates the event specification from the word designator. It may be omitted \
            if the word designator begins with a ^, $, *, -, or %. Words are numbered from \
            the beginning of the line.";
        assert_eq!(copies(&[next, html], pdf), [1]);
        // Both shown hits hold the shared sentence: each is counted.
        assert_eq!(copies(&[html, pdf], html), [0, 1]);
        assert_eq!(copies(&[pdf], html), [0]);
        assert!(copies(&[html, pdf], next).is_empty());
        // Too short to judge by overlap: only identical text is folded (by the caller).
        assert!(copies(&[html], "Repeat the previous command, replacing string1.").is_empty());
        assert_eq!(shingles("A b, c d!"), shingles("a B c\nD"));
        assert_ne!(shingles("a b c d"), shingles("d c b a"));
    }

    #[test]
    fn copies_are_looked_for_among_files_of_one_name() {
        assert!(same_name("html/bashref.html", "bashref.pdf"));
        assert!(same_name("a/FAQ.txt", "b/faq.HTML"));
        assert!(same_name("api/x.md.gz", "web/x.html"));
        assert!(!same_name(
            "man3/CURLOPT_TIMEOUT.3",
            "man3/CURLOPT_TIMEOUT_MS.3"
        ));
        assert!(!same_name("guide/api-1.md", "guide/api-2.md"));
        assert!(!same_name(".hidden", ".profile"));
    }

    /// ffmpeg's filter manual and the same section in `ffmpeg-all.html`, renumbered.
    #[test]
    fn a_passage_renumbered_is_the_same_text() {
        let body = "Reverse an audio clip.\n\nWarning: This filter requires memory.";
        let alone = format!("#### 8.45 areverse\n\n{body}");
        let inside_all = format!("#### 36.45 areverse\n\n{body}");
        assert!(same_text(&alone, &inside_all));
        assert!(same_text(
            &format!("## 3. Options\n{body}"),
            &format!("## 12 Options\n{body}")
        ));
        // Anything but the number differs: another passage.
        assert!(!same_text(&alone, &format!("#### 36.45 reverse\n\n{body}")));
        assert!(!same_text(&alone, &format!("### 36.45 areverse\n\n{body}")));
        assert!(!same_text(&alone, &format!("{alone}\nMore.")));
        assert!(!same_text(
            &format!("Timeout in 30 s.\n{body}"),
            &format!("Timeout in 60 s.\n{body}")
        ));
        assert!(!same_text(
            &format!("8.45 areverse\n{body}"),
            &format!("36.45 areverse\n{body}")
        ));
        assert!(!same_text(
            &format!("## v1.2 areverse\n{body}"),
            &format!("## v1.3 areverse\n{body}")
        ));
        assert_eq!(
            unnumbered_heading("#### 39.209.1 Examples"),
            Some(("####", "Examples"))
        );
        // A year is not a section number.
        assert_eq!(unnumbered_heading("# 2024 in review"), None);
        assert_eq!(unnumbered_heading("#### Examples"), None);
    }

    #[test]
    fn the_threshold_is_half_of_the_smaller_text() {
        assert!(is_copy(8, 16, 400));
        assert!(!is_copy(7, 16, 400));
        assert!(!is_copy(15, 15, 15));
        assert!(is_copy(100, 200, 300));
    }
}
