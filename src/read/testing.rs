//! Helpers shared by the readers' unit tests: block extraction and the pseudo-random
//! mutations the robustness tests feed every reader.

use super::{Block, Budget, Loc, Parsed, ReadError};

/// `(level, text, anchor)` of every heading block.
pub fn headings(p: &Parsed) -> Vec<(u8, String, Option<String>)> {
    titles(p, false)
}

/// `(level, text, anchor)` of every entry block (the titles of a reference's entries).
pub fn entries(p: &Parsed) -> Vec<(u8, String, Option<String>)> {
    titles(p, true)
}

fn titles(p: &Parsed, entries: bool) -> Vec<(u8, String, Option<String>)> {
    p.blocks
        .iter()
        .filter_map(|b| match b {
            Block::Heading {
                level,
                text,
                anchor,
                ..
            }
            | Block::Entry {
                level,
                text,
                anchor,
                ..
            } if matches!(b, Block::Entry { .. }) == entries => {
                Some((*level, text.clone(), anchor.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The text of every prose block, a list's items joined to its first line as the layout
/// joins them.
pub fn texts(p: &Parsed) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for b in &p.blocks {
        match (b, out.last_mut()) {
            // Readers emit an item only right after the list's first line or another item.
            (Block::Item { text, .. }, Some(last)) => {
                last.push('\n');
                last.push_str(text);
            }
            (Block::Text { text, .. } | Block::Item { text, .. }, _) => out.push(text.clone()),
            _ => {}
        }
    }
    out
}

/// The source lines the first occurrence of `needle` in the rendered text came from.
pub fn rendered_loc(p: &Parsed, needle: &str) -> Loc {
    let (text, layout) = super::render(p);
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {text:?}"));
    layout.loc_of(at, at + needle.len()).expect("located")
}

/// A function giving the heading trail (`A > B > entry`) at the first occurrence of a
/// needle in the rendered text of `p`; panics with the text when the needle is not there.
pub fn trail_of(p: &Parsed) -> impl Fn(&str) -> String {
    let (text, layout) = super::render(p);
    move |needle: &str| {
        let at = text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle}: {text}"));
        layout.trail_at(at).0.join(" > ")
    }
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

/// Up to five random edits of `sample` on character boundaries: truncate, insert one of
/// `pieces` (a format's markup characters), or delete a few bytes. For the text readers'
/// never-panic rounds.
pub fn mutate_text(sample: &str, pieces: &[&str], rng: &mut Rng) -> String {
    let mut s = sample.to_string();
    for _ in 0..(rng.next() % 6) {
        let pos = (rng.next() as usize) % (s.len() + 1);
        let pos = (0..=pos)
            .rev()
            .find(|&p| s.is_char_boundary(p))
            .unwrap_or(0);
        match rng.next() % 3 {
            0 => s.truncate(pos),
            1 => s.insert_str(pos, pieces[(rng.next() as usize) % pieces.len()]),
            _ => {
                let end = (pos + (rng.next() as usize) % 8).min(s.len());
                let end = (end..=s.len())
                    .find(|&p| s.is_char_boundary(p))
                    .unwrap_or(s.len());
                s.replace_range(pos..end, "");
            }
        }
    }
    s
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

/// Reads every file with extension `ext` under the folder in `$env` (a real docs tree), with
/// `read`, printing the rendered text of files whose path contains `$LORE_DUMP` and the parse
/// speed. For the ignored `corpus_speed` tests; does nothing when `$env` is unset.
pub fn corpus_speed(env: &str, ext: &str, read: fn(&str, &Budget) -> Result<Parsed, ReadError>) {
    let Ok(dir) = std::env::var(env) else {
        return;
    };
    let dump = std::env::var("LORE_DUMP").unwrap_or_default();
    let mut stack = vec![std::path::PathBuf::from(dir)];
    let (mut bytes, mut files) = (0usize, 0usize);
    let mut elapsed = std::time::Duration::ZERO;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == ext) {
                let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).to_string();
                let t = std::time::Instant::now();
                let parsed = read(&text, &Budget::unlimited()).unwrap();
                elapsed += t.elapsed();
                bytes += text.len();
                files += 1;
                if !dump.is_empty() && p.to_string_lossy().contains(&dump) {
                    println!("{}", super::render(&parsed).0);
                }
            }
        }
    }
    let mbs = bytes as f64 / 1e6 / elapsed.as_secs_f64();
    println!("{files} files, {bytes} bytes, {mbs:.1} MB/s");
}

/// Files by name, for [`super::Includes`]: remembers every name asked for and every one
/// spliced in.
pub struct Files {
    files: Vec<(&'static str, &'static str)>,
    pub asked: std::cell::RefCell<Vec<String>>,
    pub spliced: std::cell::RefCell<Vec<String>>,
}

impl Files {
    pub fn new(files: Vec<(&'static str, &'static str)>) -> Files {
        Files {
            files,
            asked: Default::default(),
            spliced: Default::default(),
        }
    }
}

impl super::Includes for Files {
    fn include(&self, name: &str) -> Option<String> {
        self.asked.borrow_mut().push(name.to_string());
        let found = self.files.iter().find(|(n, _)| *n == name);
        found.map(|(_, text)| text.to_string())
    }

    fn spliced(&self, name: &str) {
        self.spliced.borrow_mut().push(name.to_string());
    }
}
