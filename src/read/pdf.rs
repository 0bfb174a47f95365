//! PDF reader: text per page in reading order, with running headers and footers removed,
//! hyphenation repaired, lines joined into paragraphs and a heading trail from the
//! outline (bookmarks) or, failing that, from font sizes.
//!
//! Parsing and glyph decoding (fonts, encodings, ToUnicode CMaps, Type1/TrueType/CFF/CID)
//! are `pdf-extract` on top of `lopdf`: the most used pure-Rust extractor, and it hands
//! every glyph over with its position and size, so lines, paragraphs, headers and
//! headings are rebuilt here from geometry. `pdf-extract` panics on much malformed input,
//! so every page runs under `catch_unwind`; the two things `catch_unwind` cannot stop — a
//! stack overflow from a Form XObject that draws itself or a `/Parent` loop — are checked
//! for before a page is handed over. The outline is walked by hand (not lopdf's
//! `get_toc`) because lopdf's walk follows a cyclic `/Next` chain forever and merges
//! bookmarks with equal titles.
//!
//! Text comes in content-stream order, which for the producers of manuals (LaTeX, Word,
//! DocBook, Doxygen) is reading order, columns included; it is not re-sorted by position.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use lopdf::{Dictionary, Document, Object, ObjectId};
use pdf_extract::{MediaBox, OutputDev, OutputError, Transform};
use rayon::prelude::*;

use super::{Block, Budget, Loc, LocUnit, Parsed, ReadError, SkipReason};

/// Deepest nesting of Form XObjects a page may use (real files use two or three).
const MAX_FORM_DEPTH: usize = 24;
/// Most Form XObject invocations one page may expand to (a "billion laughs" guard).
const MAX_FORM_EXPANSIONS: u64 = 20_000;
/// Most outline entries read (a cyclic or absurd outline stops here).
const MAX_OUTLINE_ENTRIES: usize = 20_000;

/// Reads a PDF file's bytes: one or more `Text` blocks per page (location = the page),
/// `Heading` blocks from the outline or font sizes.
pub fn read(bytes: &[u8], budget: &Budget) -> Result<Parsed, ReadError> {
    budget.check()?;
    let head = &bytes[..bytes.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-") {
        return Err(ReadError::parse("not a PDF (no %PDF- header)"));
    }
    let mut doc = match catch_unwind(|| Document::load_mem(bytes)) {
        Ok(Ok(doc)) => doc,
        Ok(Err(e)) => {
            if has_encrypt_entry(bytes) {
                return Err(ReadError::parse(format!("encrypted ({e})")));
            }
            return Err(ReadError::parse(e.to_string()));
        }
        Err(_) => return Err(ReadError::parse("the PDF parser failed on this file")),
    };
    budget.check()?;
    if doc.trailer.get(b"Encrypt").is_ok() && doc.encryption_state.is_none() {
        return Err(ReadError::parse("encrypted (needs a password)"));
    }
    blank_images(&mut doc);
    check_inflated_sizes(&doc, budget)?;
    budget.check()?;

    let pages: Vec<(u32, ObjectId)> = catch_unwind(AssertUnwindSafe(|| doc.get_pages()))
        .map_err(|_| ReadError::parse("unreadable page tree"))?
        .into_iter()
        .collect();
    if pages.is_empty() {
        return Err(ReadError::parse("no pages"));
    }
    expand_quote_operators(&mut doc, &pages, budget)?;

    let extracted = extract_pages(&doc, &pages, budget)?;
    let mut pages_text: Vec<PageText> = Vec::with_capacity(extracted.len());
    let mut first_error: Option<String> = None;
    for page in extracted {
        match page {
            Ok(p) => pages_text.push(p),
            Err(e) => {
                first_error.get_or_insert(e);
                pages_text.push(PageText::default());
            }
        }
    }
    if pages_text.iter().all(|p| p.lines.is_empty()) {
        return Err(match first_error {
            Some(e) => ReadError::parse(e),
            None => ReadError::new(SkipReason::NoTextLayer, "no page has extractable text"),
        });
    }
    budget.check()?;

    remove_running_lines(&mut pages_text);

    let page_of: HashMap<ObjectId, u32> = pages.iter().map(|&(n, id)| (id, n)).collect();
    let outline =
        catch_unwind(AssertUnwindSafe(|| read_outline(&doc, &page_of))).unwrap_or_default();
    let page_nums: Vec<u32> = pages.iter().map(|&(n, _)| n).collect();
    let blocks = build_blocks(&pages_text, &page_nums, &outline);

    let title = catch_unwind(AssertUnwindSafe(|| info_title(&doc)))
        .ok()
        .flatten()
        .or_else(|| {
            let lines = pages_text.iter().find(|p| !p.lines.is_empty())?;
            // A man page printed by groff opens with its NAME section: the line after it
            // ("bash − GNU Bourne-Again SHell") is its title, as the man reader takes it.
            let first = match &lines.lines[..] {
                [name, line, ..] if name.text == "NAME" => line,
                [line, ..] => line,
                [] => return None,
            };
            Some(short_title(&first.text))
        });
    Ok(Parsed {
        title,
        unit: LocUnit::Pages,
        blocks,
    })
}

/// One line of glyphs on a baseline.
#[derive(Debug, Clone, Default)]
struct Line {
    text: String,
    /// Baseline, measured down from the top of the page.
    y: f32,
    x0: f32,
    x1: f32,
    /// Largest glyph size on the line.
    size: f32,
    /// Largest size of the line's letters and digits (`size` when it has none), which is
    /// what makes a heading: a symbol drawn larger than its text, such as groff's 12 pt `ˆ`
    /// in 10 pt body text, does not.
    text_size: f32,
}

#[derive(Debug, Clone, Default)]
struct PageText {
    lines: Vec<Line>,
    height: f32,
}

/// Extracts every page in parallel. The outer error is a document-wide stop (timeout, output
/// cap); an inner error is one page that could not be read.
fn extract_pages(
    doc: &Document,
    pages: &[(u32, ObjectId)],
    budget: &Budget,
) -> Result<Vec<Result<PageText, String>>, ReadError> {
    let produced = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let out: Vec<Result<Result<PageText, String>, ReadError>> = pages
        .par_iter()
        .map(|&(num, id)| {
            if stop.load(Ordering::Relaxed) {
                return Err(ReadError::new(SkipReason::Timeout, "stopped"));
            }
            if let Err(e) = budget.check() {
                stop.store(true, Ordering::Relaxed);
                return Err(e);
            }
            let page = extract_page(doc, num, id);
            if let Ok(p) = &page {
                let len: usize = p.lines.iter().map(|l| l.text.len() + 1).sum();
                let total = produced.fetch_add(len, Ordering::Relaxed) + len;
                if let Err(e) = budget.check_size(total) {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
            Ok(page)
        })
        .collect();
    // Report the real cause, not the "stopped" of the pages that merely saw the flag.
    let mut stopped = None;
    let mut pages_out = Vec::with_capacity(out.len());
    for r in out {
        match r {
            Ok(p) => pages_out.push(p),
            Err(e) if e.detail == "stopped" => {
                stopped.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(e) = stopped {
        return Err(ReadError::new(e.reason, "ran past the per-file time limit"));
    }
    Ok(pages_out)
}

fn extract_page(doc: &Document, num: u32, id: ObjectId) -> Result<PageText, String> {
    let safe = catch_unwind(AssertUnwindSafe(|| page_is_safe(doc, id))).unwrap_or(false);
    if !safe {
        return Err(format!(
            "page {num}: cyclic or too deeply nested page objects"
        ));
    }
    let mut collector = Collector::default();
    match catch_unwind(AssertUnwindSafe(|| {
        pdf_extract::output_doc_page(doc, &mut collector, num)
    })) {
        Ok(Ok(())) => {
            collector.finish_line();
            Ok(PageText {
                lines: collector.lines,
                height: collector.height,
            })
        }
        Ok(Err(e)) => Err(format!("page {num}: {e:?}")),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("malformed page");
            Err(format!("page {num}: {msg}"))
        }
    }
}

/// Receives glyphs from `pdf-extract` and groups them into lines by baseline.
#[derive(Default)]
struct Collector {
    top: f64,
    height: f32,
    lines: Vec<Line>,
    cur: Option<Line>,
    last_end: f32,
}

impl Collector {
    fn finish_line(&mut self) {
        if let Some(mut line) = self.cur.take() {
            let trimmed = line.text.trim();
            if !trimmed.is_empty() {
                if line.text_size == 0.0 {
                    line.text_size = line.size;
                }
                if trimmed.len() != line.text.len() {
                    line.text = trimmed.to_string();
                }
                self.lines.push(line);
            }
        }
    }
}

impl OutputDev for Collector {
    fn begin_page(
        &mut self,
        _page_num: u32,
        media_box: &MediaBox,
        _art_box: Option<(f64, f64, f64, f64)>,
    ) -> Result<(), OutputError> {
        self.top = media_box.ury;
        self.height = (media_box.ury - media_box.lly).abs() as f32;
        Ok(())
    }

    fn end_page(&mut self) -> Result<(), OutputError> {
        self.finish_line();
        Ok(())
    }

    fn output_character(
        &mut self,
        trm: &Transform,
        width: f64,
        _spacing: f64,
        font_size: f64,
        ch: &str,
    ) -> Result<(), OutputError> {
        let fs = if font_size.is_finite() && font_size != 0.0 {
            font_size.abs()
        } else {
            1.0
        };
        let sx = (trm.m11.hypot(trm.m12) * fs) as f32;
        let mut size = (trm.m21.hypot(trm.m22) * fs) as f32;
        if !size.is_finite() || size <= 0.0 {
            size = 10.0;
        }
        let x = trm.m31 as f32;
        let y = (self.top - trm.m32) as f32;
        if !x.is_finite() || !y.is_finite() {
            return Ok(());
        }
        let advance = (width as f32) * if sx.is_finite() { sx } else { size };
        let x_end = x + if advance.is_finite() { advance } else { 0.0 };

        let new_line = match &self.cur {
            Some(cur) => (y - cur.y).abs() > 0.5 * cur.size.max(size),
            None => true,
        };
        if new_line {
            self.finish_line();
            self.cur = Some(Line {
                text: String::new(),
                y,
                x0: x,
                x1: x_end,
                size: 0.0,
                text_size: 0.0,
            });
        } else if let Some(cur) = &mut self.cur {
            let gap = x - self.last_end;
            if (gap > 0.15 * size || gap < -2.0 * size)
                && !cur.text.is_empty()
                && !cur.text.ends_with(' ')
            {
                cur.text.push(' ');
            }
        }
        let Some(cur) = self.cur.as_mut() else {
            return Ok(());
        };
        if ch.chars().all(char::is_whitespace) {
            if !cur.text.is_empty() && !cur.text.ends_with(' ') {
                cur.text.push(' ');
            }
        } else {
            for c in ch.chars() {
                push_char(&mut cur.text, c);
            }
            cur.size = cur.size.max(size);
            if ch.chars().any(is_text_glyph) {
                cur.text_size = cur.text_size.max(size);
            }
            cur.x0 = cur.x0.min(x);
        }
        cur.x1 = cur.x1.max(x_end);
        self.last_end = x_end;
        Ok(())
    }

    fn begin_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_word(&mut self) -> Result<(), OutputError> {
        Ok(())
    }

    fn end_line(&mut self) -> Result<(), OutputError> {
        Ok(())
    }
}

/// Appends a glyph's text, spelling out typographic ligatures and dropping controls.
/// A letter or digit, which sizes its line. Spacing modifier letters (`ˆ`, `˜`, `ˇ`) are
/// letters to Unicode but accents on the page.
fn is_text_glyph(c: char) -> bool {
    c.is_alphanumeric() && !('\u{02B0}'..='\u{02FF}').contains(&c)
}

/// A circle drawn over a letter (plain TeX's `\copyright`, which Texinfo's `@copyright{}`
/// and many LaTeX manuals use) comes out as the letter plus U+20DD, "c⃝", which neither a
/// reader nor the tokenizer knows as the sign it is.
fn circled(letter: char) -> Option<char> {
    match letter {
        'c' | 'C' => Some('©'),
        'r' | 'R' => Some('®'),
        'p' | 'P' => Some('℗'),
        _ => None,
    }
}

fn push_char(out: &mut String, c: char) {
    const CIRCLE: char = '\u{20DD}';
    if c == CIRCLE || out.ends_with(CIRCLE) {
        let sign = match (c == CIRCLE, out.chars().next_back()) {
            (true, Some(letter)) => circled(letter),
            (false, Some(_)) => circled(c),
            _ => None,
        };
        if let Some(sign) = sign {
            out.pop();
            out.push(sign);
            return;
        }
    }
    match c {
        '\u{FB00}' => out.push_str("ff"),
        '\u{FB01}' => out.push_str("fi"),
        '\u{FB02}' => out.push_str("fl"),
        '\u{FB03}' => out.push_str("ffi"),
        '\u{FB04}' => out.push_str("ffl"),
        '\u{FB06}' => out.push_str("st"),
        c if c.is_control() => {}
        c => out.push(c),
    }
}

/// Empties image streams: `pdf-extract` runs an image's pixels through the content-stream
/// parser when a page draws it (`Do`), which fails and loses the page's text.
fn blank_images(doc: &mut Document) {
    for obj in doc.objects.values_mut() {
        if let Object::Stream(s) = obj {
            let is_image = s
                .dict
                .get(b"Subtype")
                .and_then(Object::as_name)
                .is_ok_and(|n| n == b"Image");
            if is_image {
                s.content.clear();
                s.dict.remove(b"Filter");
                s.dict.remove(b"DecodeParms");
            }
        }
    }
}

/// Refuses a file with a Flate stream that inflates past the output cap: lopdf inflates a
/// stream in full, unbounded, when a page using it is drawn (a "flate bomb").
fn check_inflated_sizes(doc: &Document, budget: &Budget) -> Result<(), ReadError> {
    use std::io::Read;
    let limit = budget.max_output_bytes as u64;
    let bomb = doc.objects.par_iter().find_any(|(_, obj)| {
        let Object::Stream(s) = obj else {
            return false;
        };
        let flate = match s.dict.get(b"Filter") {
            Ok(Object::Name(n)) => n == b"FlateDecode",
            Ok(Object::Array(a)) => a
                .first()
                .and_then(|f| f.as_name().ok())
                .is_some_and(|n| n == b"FlateDecode"),
            _ => false,
        };
        // Deflate cannot expand more than 1032:1, so small streams need no look.
        if !flate || (s.content.len() as u64).saturating_mul(1032) <= limit {
            return false;
        }
        let mut inflater = flate2::read::ZlibDecoder::new(s.content.as_slice()).take(limit + 1);
        let n = std::io::copy(&mut inflater, &mut std::io::sink()).unwrap_or(0);
        n > limit
    });
    match bomb {
        Some((id, _)) => Err(ReadError::new(
            SkipReason::TooLarge,
            format!("stream {} 0 R inflates past {} MB", id.0, limit >> 20),
        )),
        None => Ok(()),
    }
}

/// Rewrites the text-showing operators `'` and `"` into `T*`, `Tw`, `Tc` and `Tj`, which
/// mean the same (ISO 32000 §9.4.3): `pdf-extract` has no case for the two and silently
/// drops what they draw, and groff (through Ghostscript) sets most lines with them.
///
/// Each page content stream and Form XObject is rewritten in place, once however many pages
/// share it, and only when it holds such an operator (a byte scan rules out the rest before
/// any parsing). A stream that does not parse whole on its own (an operation split across
/// a page's streams) is left as it was, as is everything past the output cap: their quoted
/// text stays lost, as before, rather than the page's meaning changing.
fn expand_quote_operators(
    doc: &mut Document,
    pages: &[(u32, ObjectId)],
    budget: &Budget,
) -> Result<(), ReadError> {
    let mut ids: HashSet<ObjectId> = catch_unwind(AssertUnwindSafe(|| {
        pages
            .iter()
            .flat_map(|&(_, page)| doc.get_page_contents(page))
            .collect()
    }))
    .unwrap_or_default();
    ids.extend(doc.objects.iter().filter_map(|(&id, obj)| {
        match obj {
            Object::Stream(s)
                if s.dict
                    .get(b"Subtype")
                    .and_then(Object::as_name)
                    .is_ok_and(|n| n == b"Form") =>
            {
                Some(id)
            }
            _ => None,
        }
    }));
    let ids: Vec<ObjectId> = ids.into_iter().collect();
    let written = AtomicUsize::new(0);
    let rewritten: Vec<Option<(ObjectId, Vec<u8>)>> = ids
        .par_iter()
        .map(|&id| {
            budget.check()?;
            let Some(Object::Stream(stream)) = doc.objects.get(&id) else {
                return Ok(None);
            };
            let Some(content) = catch_unwind(AssertUnwindSafe(|| expand_quotes(stream)))
                .ok()
                .flatten()
            else {
                return Ok(None);
            };
            let total = written.fetch_add(content.len(), Ordering::Relaxed) + content.len();
            Ok((total <= budget.max_output_bytes).then_some((id, content)))
        })
        .collect::<Result<_, ReadError>>()?;
    for (id, content) in rewritten.into_iter().flatten() {
        if let Some(Object::Stream(stream)) = doc.objects.get_mut(&id) {
            stream.set_plain_content(content);
        }
    }
    budget.check()
}

/// The stream's content with `'` and `"` spelled out, or `None` when there is nothing to
/// rewrite or it cannot be done faithfully.
fn expand_quotes(stream: &lopdf::Stream) -> Option<Vec<u8>> {
    use lopdf::content::{Content, Operation};
    let data = stream.decompressed_content().ok()?;
    if !may_hold_quote_operator(&data) {
        return None;
    }
    let content = Content::decode_strict(&data).ok()?;
    let mut found = false;
    let numeric = |o: &Object| matches!(o, Object::Integer(_) | Object::Real(_));
    let mut ops = Vec::with_capacity(content.operations.len() + 64);
    for op in content.operations {
        match (op.operator.as_str(), op.operands.as_slice()) {
            ("'", [Object::String(..)]) => {
                found = true;
                ops.push(Operation::new("T*", vec![]));
                ops.push(Operation::new("Tj", op.operands));
            }
            ("\"", [aw, ac, Object::String(..)]) if numeric(aw) && numeric(ac) => {
                found = true;
                let mut operands = op.operands;
                let string = operands.pop();
                let ac = operands.pop();
                ops.push(Operation::new("Tw", operands));
                ops.push(Operation::new("Tc", ac.into_iter().collect()));
                ops.push(Operation::new("T*", vec![]));
                ops.push(Operation::new("Tj", string.into_iter().collect()));
            }
            // lopdf cannot write an inline image back, and no text is lost without it.
            ("BI", _) => {}
            _ => ops.push(op),
        }
    }
    if !found {
        return None;
    }
    Content { operations: ops }.encode().ok()
}

/// Whether a content stream may use `'` or `"` as an operator: either byte outside strings
/// and comments. Inline image data can hold anything, so a stream with one is not ruled out.
fn may_hold_quote_operator(data: &[u8]) -> bool {
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\'' | b'"' => return true,
            b'(' => {
                let mut depth = 0usize;
                while i < data.len() {
                    match data[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
            }
            b'<' if data.get(i + 1) == Some(&b'<') => i += 1,
            b'<' => {
                while i < data.len() && data[i] != b'>' {
                    i += 1;
                }
            }
            b'%' => {
                while i < data.len() && data[i] != b'\n' && data[i] != b'\r' {
                    i += 1;
                }
            }
            b'B' if data.get(i + 1) == Some(&b'I')
                && (i == 0 || data[i - 1].is_ascii_whitespace())
                && data.get(i + 2).is_none_or(u8::is_ascii_whitespace) =>
            {
                return true;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

fn has_encrypt_entry(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

fn deref<'a>(doc: &'a Document, obj: &'a Object) -> Option<&'a Object> {
    doc.dereference(obj).ok().map(|(_, o)| o)
}

fn dict_get<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    dict.get(key).ok().and_then(|o| deref(doc, o))
}

/// Whether `pdf-extract` can walk this page without unbounded recursion: its `/Parent`
/// chain ends, and its Form XObjects neither draw themselves nor expand beyond reason.
fn page_is_safe(doc: &Document, page_id: ObjectId) -> bool {
    let Ok(page) = doc.get_dictionary(page_id) else {
        return false;
    };
    // pdf-extract looks up inherited attributes recursively through /Parent.
    let mut seen = HashSet::from([page_id]);
    let mut node = page;
    let mut resources = dict_get(doc, page, b"Resources").and_then(|o| o.as_dict().ok());
    while let Ok(parent) = node.get(b"Parent") {
        let Ok(pid) = parent.as_reference() else {
            break;
        };
        if !seen.insert(pid) || seen.len() > 64 {
            return false;
        }
        let Ok(p) = doc.get_dictionary(pid) else {
            break;
        };
        if resources.is_none() {
            resources = dict_get(doc, p, b"Resources").and_then(|o| o.as_dict().ok());
        }
        node = p;
    }
    let Some(resources) = resources else {
        return true;
    };
    let mut walk = FormWalk {
        doc,
        calls: HashMap::new(),
        totals: HashMap::new(),
        stack: HashSet::new(),
    };
    walk.expansions(resources, None, 0).is_some()
}

/// Counts how many Form XObject invocations drawing a page expands to, detecting cycles.
struct FormWalk<'a> {
    doc: &'a Document,
    /// Names each form's content invokes with `Do`, and how often.
    calls: HashMap<ObjectId, Vec<(Vec<u8>, u64)>>,
    /// Memo: expansions of (form, resources it is drawn with).
    totals: HashMap<(ObjectId, usize), u64>,
    stack: HashSet<(ObjectId, usize)>,
}

impl<'a> FormWalk<'a> {
    /// Expansions below `resources` (`calls` = the names invoked; `None` = all of them, for
    /// the page itself). `None` on a cycle or past the limits.
    fn expansions(
        &mut self,
        resources: &'a Dictionary,
        calls: Option<Vec<(Vec<u8>, u64)>>,
        depth: usize,
    ) -> Option<u64> {
        let doc = self.doc;
        let Some(xobjects) = dict_get(doc, resources, b"XObject").and_then(|o| o.as_dict().ok())
        else {
            return Some(0);
        };
        let calls: Vec<(Vec<u8>, u64)> =
            calls.unwrap_or_else(|| xobjects.iter().map(|(k, _)| (k.clone(), 1)).collect());
        let mut total: u64 = 0;
        for (name, times) in calls {
            let Ok(obj) = xobjects.get(&name) else {
                continue;
            };
            let Ok((Some(id), Object::Stream(form))) = doc.dereference(obj) else {
                continue;
            };
            if !form
                .dict
                .get(b"Subtype")
                .and_then(Object::as_name)
                .is_ok_and(|n| n == b"Form")
            {
                continue;
            }
            if depth >= MAX_FORM_DEPTH {
                return None;
            }
            let child_res = dict_get(doc, &form.dict, b"Resources")
                .and_then(|o| o.as_dict().ok())
                .unwrap_or(resources);
            let key = (id, child_res as *const Dictionary as usize);
            let sub = if let Some(&t) = self.totals.get(&key) {
                t
            } else {
                if !self.stack.insert(key) {
                    return None; // draws itself
                }
                let child_calls = self
                    .calls
                    .entry(id)
                    .or_insert_with(|| {
                        let content = form
                            .decompressed_content()
                            .unwrap_or_else(|_| form.content.clone());
                        form_calls(&content)
                    })
                    .clone();
                let t = 1 + self.expansions(child_res, Some(child_calls), depth + 1)?;
                self.stack.remove(&key);
                self.totals.insert(key, t);
                t
            };
            total = total.saturating_add(sub.saturating_mul(times));
            if total > MAX_FORM_EXPANSIONS {
                return None;
            }
        }
        Some(total)
    }
}

/// The XObject names a content stream draws with `Do`, with counts.
fn form_calls(content: &[u8]) -> Vec<(Vec<u8>, u64)> {
    let mut counts: HashMap<Vec<u8>, u64> = HashMap::new();
    if let Ok(c) = lopdf::content::Content::decode(content) {
        for op in c.operations {
            if op.operator == "Do" {
                if let Some(Ok(name)) = op.operands.first().map(Object::as_name) {
                    *counts.entry(name.to_vec()).or_default() += 1;
                }
            }
        }
    }
    counts.into_iter().collect()
}

/// A PDF text string (UTF-16 with BOM, UTF-8, or PDFDocEncoding read as Latin-1).
fn text_string(bytes: &[u8]) -> String {
    let s = if let Some(rest) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        let units: Vec<u16> = rest
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    } else if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        String::from_utf8_lossy(rest).into_owned()
    } else if let Ok(s) = std::str::from_utf8(bytes) {
        s.to_string()
    } else {
        bytes.iter().map(|&b| b as char).collect()
    };
    s.chars()
        .filter(|c| !c.is_control() || c.is_whitespace())
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `/Info /Title` unless it is empty or a producer's placeholder.
fn info_title(doc: &Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok().and_then(|o| deref(doc, o))?;
    let title = dict_get(doc, info.as_dict().ok()?, b"Title")?
        .as_str()
        .ok()?;
    let title = text_string(title);
    let lower = title.to_lowercase();
    let junk = title.chars().filter(|c| c.is_alphanumeric()).count() < 2
        || matches!(
            lower.as_str(),
            "untitled" | "title" | "document" | "no title" | "(anonymous)" | "slide 1"
        )
        || lower.starts_with("microsoft word - ")
        || lower.starts_with("microsoft powerpoint - ")
        || lower.starts_with("untitled")
        || [
            ".doc", ".docx", ".pdf", ".tex", ".dvi", ".rtf", ".odt", ".indd", ".qxd",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext));
    (!junk).then_some(title)
}

/// A first line used as the title, cut at a word boundary when a page's text ran together.
fn short_title(line: &str) -> String {
    const MAX: usize = 120;
    if line.len() <= MAX {
        return line.to_string();
    }
    let mut cut = MAX;
    while !line.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &line[..cut];
    let head = head.rsplit_once(' ').map_or(head, |(h, _)| h);
    format!("{}…", head.trim_end())
}

#[derive(Debug, Clone, PartialEq)]
struct OutlineEntry {
    level: u8,
    title: String,
    page: u32,
}

/// The bookmarks, depth first, with their destination pages.
fn read_outline(doc: &Document, page_of: &HashMap<ObjectId, u32>) -> Vec<OutlineEntry> {
    let mut out = Vec::new();
    let Ok(catalog) = doc.catalog() else {
        return out;
    };
    let Some(root) = dict_get(doc, catalog, b"Outlines").and_then(|o| o.as_dict().ok()) else {
        return out;
    };
    let mut dests = NamedDests::default();
    let mut seen: HashSet<ObjectId> = HashSet::new();
    // (node, level): an explicit stack, so a deep outline cannot overflow ours.
    let mut stack: Vec<(&Object, u8)> = Vec::new();
    if let Ok(first) = root.get(b"First") {
        stack.push((first, 1));
    }
    let mut steps = 0usize;
    while let Some((mut node, level)) = stack.pop() {
        // Walk the sibling chain; children go on the stack in front of the next sibling.
        loop {
            steps += 1;
            if steps > MAX_OUTLINE_ENTRIES {
                return out;
            }
            let Ok((id, obj)) = doc.dereference(node) else {
                break;
            };
            if let Some(id) = id {
                if !seen.insert(id) {
                    break;
                }
            }
            let Ok(item) = obj.as_dict() else {
                break;
            };
            let title = dict_get(doc, item, b"Title")
                .and_then(|t| t.as_str().ok())
                .map(text_string)
                .unwrap_or_default();
            let dest = dict_get(doc, item, b"Dest").or_else(|| {
                let action = dict_get(doc, item, b"A")?.as_dict().ok()?;
                let kind = dict_get(doc, action, b"S")?.as_name().ok()?;
                (kind == b"GoTo")
                    .then(|| dict_get(doc, action, b"D"))
                    .flatten()
            });
            let page = dest.and_then(|d| dest_page(doc, d, page_of, &mut dests, 0));
            if let (Some(page), false) = (page, title.is_empty()) {
                out.push(OutlineEntry {
                    level: level.min(9),
                    title,
                    page,
                });
            }
            let next = item.get(b"Next").ok();
            if let Ok(first) = item.get(b"First") {
                if let Some(next) = next {
                    stack.push((next, level));
                }
                stack.push((first, level.saturating_add(1)));
                break;
            }
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
    }
    out
}

/// The named destinations (`/Dests` dictionary or `/Names /Dests` name tree), read once.
#[derive(Default)]
struct NamedDests {
    loaded: bool,
    map: HashMap<Vec<u8>, Object>,
}

impl NamedDests {
    fn get<'d>(&'d mut self, doc: &Document, name: &[u8]) -> Option<&'d Object> {
        if !self.loaded {
            self.loaded = true;
            self.load(doc);
        }
        self.map.get(name)
    }

    fn load(&mut self, doc: &Document) {
        let Ok(catalog) = doc.catalog() else {
            return;
        };
        if let Some(d) = dict_get(doc, catalog, b"Dests").and_then(|o| o.as_dict().ok()) {
            for (k, v) in d.iter() {
                self.map.insert(k.clone(), v.clone());
            }
        }
        let Some(tree) = dict_get(doc, catalog, b"Names")
            .and_then(|o| o.as_dict().ok())
            .and_then(|n| dict_get(doc, n, b"Dests"))
        else {
            return;
        };
        let mut seen = HashSet::new();
        let mut todo = vec![tree];
        while let Some(node) = todo.pop() {
            if self.map.len() > 200_000 || seen.len() > 100_000 {
                return;
            }
            let Ok(node) = node.as_dict() else {
                continue;
            };
            if let Some(Ok(names)) = dict_get(doc, node, b"Names").map(Object::as_array) {
                for pair in names.chunks_exact(2) {
                    if let Some(Ok(key)) = deref(doc, &pair[0]).map(Object::as_str) {
                        self.map.insert(key.to_vec(), pair[1].clone());
                    }
                }
            }
            if let Some(Ok(kids)) = dict_get(doc, node, b"Kids").map(Object::as_array) {
                for kid in kids {
                    if let Ok((id, obj)) = doc.dereference(kid) {
                        if id.is_none_or(|id| seen.insert(id)) {
                            todo.push(obj);
                        }
                    }
                }
            }
        }
    }
}

fn dest_page(
    doc: &Document,
    dest: &Object,
    page_of: &HashMap<ObjectId, u32>,
    named: &mut NamedDests,
    depth: u8,
) -> Option<u32> {
    if depth > 4 {
        return None;
    }
    match deref(doc, dest)? {
        Object::Array(a) => match a.first()? {
            Object::Reference(id) => page_of.get(id).copied(),
            Object::Integer(i) => u32::try_from(*i).ok().map(|i| i + 1),
            _ => None,
        },
        Object::Dictionary(d) => {
            let d = d.get(b"D").ok()?.clone();
            dest_page(doc, &d, page_of, named, depth + 1)
        }
        Object::Name(n) | Object::String(n, _) => {
            let target = named.get(doc, n)?.clone();
            dest_page(doc, &target, page_of, named, depth + 1)
        }
        _ => None,
    }
}

/// Drops running headers and footers: a line at the top or bottom edge of a page that
/// recurs, digits aside, at the same edge of many pages; or one that carries the printed
/// page number (an edge number that runs in step with the page index on many pages, which
/// catches per-chapter running heads too).
fn remove_running_lines(pages: &mut [PageText]) {
    let with_text = pages.iter().filter(|p| !p.lines.is_empty()).count();
    if with_text < 3 {
        return;
    }
    // A chapter's running head repeats on its pages only, so a long document needs fewer
    // than "most" pages; never fewer than 3.
    let threshold = ((with_text * 2).div_ceil(5)).clamp(3, 8);
    let edges: Vec<Vec<(usize, bool, String)>> = pages.iter().map(edge_lines).collect();
    let mut counts: HashMap<(bool, &str), usize> = HashMap::new();
    let mut offsets: HashMap<i64, usize> = HashMap::new();
    for (idx, edge) in edges.iter().enumerate() {
        let unique: HashSet<(bool, &str)> = edge.iter().map(|(_, t, k)| (*t, k.as_str())).collect();
        for key in unique {
            *counts.entry(key).or_default() += 1;
        }
        let page_offsets: HashSet<i64> = outermost(&pages[idx], edge)
            .flat_map(|i| edge_numbers(&pages[idx].lines[i].text))
            .map(|n| n - idx as i64)
            .collect();
        for o in page_offsets {
            *offsets.entry(o).or_default() += 1;
        }
    }
    let offset = offsets
        .into_iter()
        .filter(|&(_, c)| c >= 3 && c * 5 >= with_text)
        .max_by_key(|&(o, c)| (c, -o.abs()))
        .map(|(o, _)| o);
    let drop: Vec<HashSet<usize>> = edges
        .iter()
        .enumerate()
        .map(|(idx, edge)| {
            edge.iter()
                .filter(|(i, top, key)| {
                    counts.get(&(*top, key.as_str())).copied().unwrap_or(0) >= threshold
                        || offset.is_some_and(|o| {
                            outermost(&pages[idx], edge).any(|j| j == *i)
                                && edge_numbers(&pages[idx].lines[*i].text)
                                    .contains(&(idx as i64 + o))
                        })
                })
                .map(|(i, _, _)| *i)
                .collect()
        })
        .collect();
    for (page, drop) in pages.iter_mut().zip(drop) {
        if !drop.is_empty() {
            let mut i = 0;
            page.lines.retain(|_| {
                i += 1;
                !drop.contains(&(i - 1))
            });
        }
    }
}

/// The top-most and bottom-most of a page's edge lines: where a printed page number sits
/// (a chapter heading below the header may carry a number that matches by chance).
fn outermost<'e>(
    page: &'e PageText,
    edge: &'e [(usize, bool, String)],
) -> impl Iterator<Item = usize> + 'e {
    let top = edge
        .iter()
        .filter(|e| e.1)
        .min_by(|a, b| page.lines[a.0].y.total_cmp(&page.lines[b.0].y));
    let bottom = edge
        .iter()
        .filter(|e| !e.1)
        .max_by(|a, b| page.lines[a.0].y.total_cmp(&page.lines[b.0].y));
    top.into_iter().chain(bottom).map(|e| e.0)
}

/// The numbers a header or footer line starts or ends with ("12", "4.10 … Reference 49").
fn edge_numbers(text: &str) -> Vec<i64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    for w in [words.first(), words.last()].into_iter().flatten() {
        if w.len() <= 5 && w.chars().all(|c| c.is_ascii_digit()) {
            if let Ok(n) = w.parse() {
                out.push(n);
            }
        }
    }
    out
}

/// The two top-most and two bottom-most lines of a page (index, at top?, digit-free key),
/// when they sit in the top or bottom 15 % of the page.
fn edge_lines(page: &PageText) -> Vec<(usize, bool, String)> {
    let mut order: Vec<usize> = (0..page.lines.len()).collect();
    order.sort_by(|&a, &b| page.lines[a].y.total_cmp(&page.lines[b].y));
    let band = if page.height > 0.0 {
        page.height * 0.15
    } else {
        f32::INFINITY
    };
    let mut out = Vec::new();
    for &i in order.iter().take(2) {
        if page.lines[i].y <= band {
            out.push((i, true, running_key(&page.lines[i].text)));
        }
    }
    for &i in order.iter().rev().take(2) {
        if page.height - page.lines[i].y <= band && !out.iter().any(|(j, _, _)| *j == i) {
            out.push((i, false, running_key(&page.lines[i].text)));
        }
    }
    out
}

/// A line's identity as a running header: case and spaces ignored, digit runs and a
/// leading or trailing roman page number ("Manual ii") replaced by `#`.
fn running_key(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut key = String::new();
    for (i, w) in words.iter().enumerate() {
        let roman = (i == 0 || i + 1 == words.len())
            && w.chars().all(|c| "ivxlcdmIVXLCDM".contains(c))
            && w.len() <= 6;
        if roman {
            key.push('#');
            continue;
        }
        for c in w.chars() {
            if c.is_ascii_digit() {
                if !key.ends_with('#') {
                    key.push('#');
                }
            } else {
                key.extend(c.to_lowercase());
            }
        }
    }
    key
}

fn norm(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// What a line turned out to be once headings are known.
#[derive(Clone, Copy, PartialEq)]
enum Role {
    Body,
    /// The first line of a heading (outline entry index or heuristic level).
    Heading(HeadingSource),
    /// The second line of a heading broken over two lines.
    Absorbed,
    /// A line of the document's table of contents: left out.
    Contents,
}

#[derive(Clone, Copy, PartialEq)]
enum HeadingSource {
    Outline(usize),
    Size(u8),
}

fn build_blocks(pages: &[PageText], page_nums: &[u32], outline: &[OutlineEntry]) -> Vec<Block> {
    let (body_size, size_levels) = if outline.is_empty() {
        size_heading_levels(pages)
    } else {
        (0.0, Vec::new())
    };
    let mut blocks = Vec::new();
    for (idx, page) in pages.iter().enumerate() {
        let num = page_nums.get(idx).copied().unwrap_or(idx as u32 + 1);
        let loc = Loc::new(num, num);
        let mut roles = vec![Role::Body; page.lines.len()];

        // Outline entries: at the line that matches the title, else at a line that opens
        // with it (a run-in heading: "Using examples This creates a plot…"), else at the
        // top of the page.
        let mut unplaced: Vec<usize> = Vec::new();
        // The text after a run-in heading, by line.
        let mut run_in: Vec<Option<&str>> = vec![None; page.lines.len()];
        let mut from = 0;
        for (ei, e) in outline.iter().enumerate().filter(|(_, e)| e.page == num) {
            let want = norm(&e.title);
            let found = (from..page.lines.len()).find_map(|i| {
                if roles[i] != Role::Body {
                    return None;
                }
                let one = norm(&page.lines[i].text);
                if matches_title(&one, &want) {
                    return Some((i, false));
                }
                let two = page
                    .lines
                    .get(i + 1)
                    .map(|l| format!("{one}{}", norm(&l.text)))?;
                (roles[i + 1] == Role::Body && matches_title(&two, &want)).then_some((i, true))
            });
            let run_in_at = || {
                (from..page.lines.len()).find_map(|i| {
                    (roles[i] == Role::Body)
                        .then(|| run_in_rest(&page.lines[i].text, &want))
                        .flatten()
                        .map(|rest| (i, rest))
                })
            };
            match found {
                Some((i, two)) => {
                    roles[i] = Role::Heading(HeadingSource::Outline(ei));
                    if two {
                        roles[i + 1] = Role::Absorbed;
                    }
                    from = i + 1;
                }
                None => match run_in_at() {
                    Some((i, rest)) => {
                        roles[i] = Role::Heading(HeadingSource::Outline(ei));
                        run_in[i] = Some(rest);
                        from = i + 1;
                    }
                    None => unplaced.push(ei),
                },
            }
        }
        for ei in unplaced {
            blocks.push(Block::Heading {
                level: outline[ei].level,
                text: outline[ei].title.clone(),
                anchor: None,
                loc,
            });
        }
        if !size_levels.is_empty() {
            let mut prev_heading: Option<u8> = None;
            for (i, line) in page.lines.iter().enumerate() {
                let level = size_level(line, body_size, &size_levels);
                match (level, prev_heading) {
                    (Some(l), Some(p)) if l == p && i > 0 => roles[i] = Role::Absorbed,
                    (Some(l), _) => roles[i] = Role::Heading(HeadingSource::Size(l)),
                    _ => {}
                }
                prev_heading = level;
            }
        }

        // A table of contents (three or more dot-leader lines on the page) is left out: it
        // points at pages the outline and the headings already name, and its leaders would
        // fill whole chunks with dots that then match any query naming a section.
        // Between its first and last entry, the page's other lines are entries too: a long
        // title wraps above its leaders, and one that leaves room for only two leader dots
        // (`Appendix C GNU Free Documentation License . . 174`) is not caught on its own.
        let contents: Vec<usize> = (0..page.lines.len())
            .filter(|&i| roles[i] == Role::Body && is_toc_entry(&page.lines[i].text))
            .collect();
        if let (true, Some(&first), Some(&last)) = (
            contents.len() >= MIN_CONTENTS_LINES,
            contents.first(),
            contents.last(),
        ) {
            for role in &mut roles[first..=last] {
                if *role == Role::Body {
                    *role = Role::Contents;
                }
            }
            // An index's letter headings (`A`, `B`, `!`) above its first entry.
            for (i, role) in roles.iter_mut().enumerate() {
                if *role == Role::Body && page.lines[i].text.trim().chars().count() <= 2 {
                    *role = Role::Contents;
                }
            }
        }

        // Geometry of the page's body text, for paragraph breaks.
        let right = page.lines.iter().map(|l| l.x1).fold(f32::MIN, f32::max);
        let left = page.lines.iter().map(|l| l.x0).fold(f32::MAX, f32::min);
        // Line spacing of body text: the median gap between consecutive body lines of one size.
        let mut gaps: Vec<f32> = (1..page.lines.len())
            .filter(|&i| roles[i - 1] == Role::Body && roles[i] == Role::Body)
            .map(|i| (&page.lines[i - 1], &page.lines[i]))
            .filter(|(a, b)| (a.size - b.size).abs() <= 0.1 * a.size.max(b.size))
            .map(|(a, b)| b.y - a.y)
            .filter(|&d| d > 0.0 && d < 4.0 * page.lines[0].size.max(10.0))
            .collect();
        gaps.sort_by(f32::total_cmp);
        let leading = gaps.get(gaps.len().saturating_sub(1) / 2).copied();

        let mut para = String::new();
        let mut prev: Option<&Line> = None;
        let mut i = 0;
        while i < page.lines.len() {
            let line = &page.lines[i];
            match roles[i] {
                Role::Heading(src) => {
                    flush(&mut blocks, &mut para, loc);
                    let (level, mut text) = match src {
                        HeadingSource::Outline(ei) => {
                            (outline[ei].level, outline[ei].title.clone())
                        }
                        HeadingSource::Size(l) => (l, line.text.clone()),
                    };
                    let mut j = i + 1;
                    while j < page.lines.len() && roles[j] == Role::Absorbed {
                        if matches!(src, HeadingSource::Size(_)) {
                            text.push(' ');
                            text.push_str(&page.lines[j].text);
                        }
                        j += 1;
                    }
                    blocks.push(Block::Heading {
                        level,
                        text,
                        anchor: None,
                        loc,
                    });
                    prev = None;
                    if let Some(rest) = run_in[i] {
                        join_line(&mut para, rest);
                        prev = Some(line);
                    }
                    i = j;
                    continue;
                }
                Role::Absorbed | Role::Contents => {
                    i += 1;
                    continue;
                }
                Role::Body => {}
            }
            if let Some(p) = prev {
                if breaks_paragraph(p, line, leading, left, right) {
                    flush(&mut blocks, &mut para, loc);
                }
            }
            join_line(&mut para, &line.text);
            prev = Some(line);
            i += 1;
        }
        flush(&mut blocks, &mut para, loc);
    }
    blocks
}

/// The rest of `line` when it opens with the (normalised) outline title `want` and then
/// a new sentence, as a run-in heading does ("Using examples This creates a plot…"); a line
/// that merely starts with the same word ("Using the mouse…") does not start a sentence
/// after it. Titles shorter than four letters are too common to place this way.
fn run_in_rest<'l>(line: &'l str, want: &str) -> Option<&'l str> {
    if want.chars().count() < 4 {
        return None;
    }
    let mut wanted = want.chars().peekable();
    let mut end = 0;
    for (at, c) in line.char_indices() {
        if wanted.peek().is_none() {
            break;
        }
        if !c.is_alphanumeric() {
            continue;
        }
        for lower in c.to_lowercase() {
            if wanted.next() != Some(lower) {
                return None;
            }
        }
        end = at + c.len_utf8();
    }
    if wanted.peek().is_some() {
        return None;
    }
    let (head, rest) = line.split_at(end);
    let rest = rest.strip_prefix(|c: char| c.is_whitespace())?.trim_start();
    let opens_sentence = rest
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c == '(');
    (!head.is_empty() && opens_sentence).then_some(rest)
}

fn matches_title(line: &str, title: &str) -> bool {
    if title.is_empty() || line.is_empty() {
        return false;
    }
    // "3.2 Installing" against the bookmark "Installing": allow a short number in front.
    line == title
        || (line.ends_with(title)
            && line.len() - title.len() <= 8
            && line[..line.len() - title.len()]
                .chars()
                .all(|c| c.is_ascii_digit() || "ivxlcdm".contains(c) || c.is_ascii_uppercase()))
        || (title.ends_with(line) && title.len() - line.len() <= 8 && line.len() >= 4)
}

fn breaks_paragraph(prev: &Line, line: &Line, leading: Option<f32>, left: f32, right: f32) -> bool {
    let dy = line.y - prev.y;
    if dy <= 0.0 {
        return true; // moved up: a new column or a separate block
    }
    let spaced = match leading {
        Some(l) => dy > l * 1.4 + 0.5,
        None => dy > prev.size.max(line.size) * 1.8,
    };
    if spaced {
        return true;
    }
    if (prev.size - line.size).abs() > 0.15 * prev.size.max(line.size) {
        return true;
    }
    if is_toc_entry(&prev.text) {
        return true;
    }
    let first = line.text.chars().next().unwrap_or(' ');
    if matches!(first, '•' | '●' | '◦' | '▪' | '■' | '–' | '—' | '*' | '·') {
        return true;
    }
    // A short line ending a sentence closes its paragraph.
    let width = right - left;
    let short = width > 0.0 && prev.x1 < right - width * 0.15;
    short && prev.text.ends_with(['.', ':', '!', '?'])
}

/// Dot-leader lines on one page that make it a table of contents (one or two may be a
/// paragraph's own "wait.... 5").
const MIN_CONTENTS_LINES: usize = 3;

/// A table-of-contents line: dot leaders and a page number.
fn is_toc_entry(text: &str) -> bool {
    let last = text.split_whitespace().next_back().unwrap_or("");
    (text.contains(". . .") || text.contains("....") || text.contains('…'))
        && !last.is_empty()
        && last
            .chars()
            .all(|c| c.is_ascii_digit() || "ivxlcdm".contains(c))
}

/// Appends a line to a paragraph, mending a word hyphenated across the line break.
fn join_line(para: &mut String, line: &str) {
    if para.is_empty() {
        para.push_str(line);
        return;
    }
    let next_lower = line.chars().next().is_some_and(char::is_lowercase);
    if para.ends_with('\u{AD}') {
        para.pop();
        para.push_str(line);
        return;
    }
    if next_lower && para.ends_with('-') {
        let before = para[..para.len() - 1].chars().next_back();
        if before.is_some_and(char::is_alphabetic) {
            para.pop();
            para.push_str(line);
            return;
        }
    }
    para.push(' ');
    para.push_str(line);
}

fn flush(blocks: &mut Vec<Block>, para: &mut String, loc: Loc) {
    let text = std::mem::take(para);
    if !text.trim().is_empty() {
        blocks.push(Block::Text { text, loc });
    }
}

/// Font sizes (rounded to half points) that mark headings, largest first, when the
/// document has no outline: clearly larger than the body size (the size most characters
/// have), used on short lines, and not so common that they are body text.
fn size_heading_levels(pages: &[PageText]) -> (f32, Vec<f32>) {
    let mut chars_by_size: HashMap<i32, usize> = HashMap::new();
    let mut total_lines = 0usize;
    for l in pages.iter().flat_map(|p| &p.lines) {
        *chars_by_size.entry(half_points(l.text_size)).or_default() += l.text.len();
        total_lines += 1;
    }
    let Some((&body, _)) = chars_by_size.iter().max_by_key(|(k, v)| (**v, -**k)) else {
        return (0.0, Vec::new());
    };
    let body = body as f32 / 2.0;
    let mut candidates: HashMap<i32, usize> = HashMap::new();
    for l in pages.iter().flat_map(|p| &p.lines) {
        if is_heading_like(l, body) {
            *candidates.entry(half_points(l.text_size)).or_default() += 1;
        }
    }
    let heading_lines: usize = candidates.values().sum();
    if heading_lines == 0 || heading_lines * 3 > total_lines {
        return (body, Vec::new());
    }
    let mut sizes: Vec<i32> = candidates.into_keys().collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    (body, sizes.into_iter().map(|s| s as f32 / 2.0).collect())
}

fn half_points(size: f32) -> i32 {
    (size * 2.0).round().clamp(-1e6, 1e6) as i32
}

/// A line at least 8% larger than the body: groff sets a man page's section headings at
/// 10.9 pt over 10 pt text, a word processor's third heading level 12 over 11.
fn is_heading_like(l: &Line, body: f32) -> bool {
    l.text_size >= body * 1.08
        && l.text.chars().count() <= 150
        && l.text.chars().filter(|c| c.is_alphabetic()).count() >= 2
        && !l.text.ends_with([',', ';'])
}

/// Levels 1 and 2 for the two largest heading sizes, 3 for all smaller ones.
fn size_level(l: &Line, body: f32, levels: &[f32]) -> Option<u8> {
    if !is_heading_like(l, body) {
        return None;
    }
    let pos = levels
        .iter()
        .position(|&s| half_points(s) == half_points(l.text_size))?;
    Some((pos as u8).saturating_add(1).min(3))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::content::{Content, Operation};
    use lopdf::{dictionary, Stream, StringFormat};
    use std::time::Duration;

    #[test]
    fn a_letter_in_a_circle_is_its_sign() {
        let pushed = |glyphs: &str| {
            let mut out = String::new();
            glyphs.chars().for_each(|c| push_char(&mut out, c));
            out
        };
        assert_eq!(pushed("Copyright c\u{20DD} 2022"), "Copyright © 2022");
        assert_eq!(pushed("\u{20DD}R Linux"), "® Linux");
        assert_eq!(
            pushed("x\u{20DD}"),
            "x\u{20DD}",
            "other letters keep the circle"
        );
        assert_eq!(pushed("\u{FB01}le"), "file");
    }

    /// (x, y from the bottom, size, text) for each line of a page.
    type PageSpec<'a> = Vec<(f32, f32, f32, &'a str)>;

    struct Bookmark<'a> {
        title: &'a str,
        page: usize,
        children: Vec<Bookmark<'a>>,
    }

    fn bm<'a>(title: &'a str, page: usize, children: Vec<Bookmark<'a>>) -> Bookmark<'a> {
        Bookmark {
            title,
            page,
            children,
        }
    }

    /// Builds a PDF with Helvetica text lines, an optional outline and /Info title.
    fn build(pages: &[PageSpec], outline: &[Bookmark], title: Option<&str>) -> Vec<u8> {
        let mut doc = Document::with_version("1.5");
        let pages_id = doc.new_object_id();
        let font_id = doc.add_object(dictionary! {
            "Type" => "Font",
            "Subtype" => "Type1",
            "BaseFont" => "Helvetica",
            "Encoding" => "WinAnsiEncoding",
        });
        let resources_id = doc.add_object(dictionary! {
            "Font" => dictionary! { "F1" => font_id },
        });
        let mut kids = Vec::new();
        let mut page_ids = Vec::new();
        for spec in pages {
            let mut ops = Vec::new();
            for &(x, y, size, text) in spec {
                ops.push(Operation::new("BT", vec![]));
                ops.push(Operation::new("Tf", vec!["F1".into(), size.into()]));
                ops.push(Operation::new("Td", vec![x.into(), y.into()]));
                ops.push(Operation::new(
                    "Tj",
                    vec![Object::String(
                        text.as_bytes().to_vec(),
                        StringFormat::Literal,
                    )],
                ));
                ops.push(Operation::new("ET", vec![]));
            }
            if spec.is_empty() {
                // Graphics only: a filled rectangle, like a scanned page's frame.
                ops.push(Operation::new(
                    "re",
                    vec![10.into(), 10.into(), 100.into(), 100.into()],
                ));
                ops.push(Operation::new("f", vec![]));
            }
            let content = Content { operations: ops };
            let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
            let page_id = doc.add_object(dictionary! {
                "Type" => "Page",
                "Parent" => pages_id,
                "Contents" => content_id,
                "Resources" => resources_id,
                "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            });
            kids.push(page_id.into());
            page_ids.push(page_id);
        }
        doc.objects.insert(
            pages_id,
            Object::Dictionary(dictionary! {
                "Type" => "Pages",
                "Kids" => kids,
                "Count" => pages.len() as i64,
            }),
        );
        let mut catalog = dictionary! { "Type" => "Catalog", "Pages" => pages_id };
        if !outline.is_empty() {
            let root_id = doc.new_object_id();
            let (first, last) = add_bookmarks(&mut doc, outline, root_id, &page_ids);
            doc.objects.insert(
                root_id,
                Object::Dictionary(dictionary! {
                    "Type" => "Outlines", "First" => first, "Last" => last,
                }),
            );
            catalog.set("Outlines", root_id);
        }
        let catalog_id = doc.add_object(catalog);
        doc.trailer.set("Root", catalog_id);
        if let Some(t) = title {
            let info = doc.add_object(dictionary! {
                "Title" => Object::string_literal(t),
            });
            doc.trailer.set("Info", info);
        }
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    fn add_bookmarks(
        doc: &mut Document,
        items: &[Bookmark],
        parent: ObjectId,
        page_ids: &[ObjectId],
    ) -> (ObjectId, ObjectId) {
        let ids: Vec<ObjectId> = items.iter().map(|_| doc.new_object_id()).collect();
        for (i, item) in items.iter().enumerate() {
            let mut d = dictionary! {
                "Title" => Object::string_literal(item.title),
                "Parent" => parent,
                "Dest" => vec![page_ids[item.page - 1].into(), "Fit".into()],
            };
            if i > 0 {
                d.set("Prev", ids[i - 1]);
            }
            if i + 1 < ids.len() {
                d.set("Next", ids[i + 1]);
            }
            if !item.children.is_empty() {
                let (f, l) = add_bookmarks(doc, &item.children, ids[i], page_ids);
                d.set("First", f);
                d.set("Last", l);
            }
            doc.objects.insert(ids[i], Object::Dictionary(d));
        }
        (ids[0], ids[ids.len() - 1])
    }

    /// Four pages, a running header and page-number footer on each, an outline.
    fn manual() -> Vec<u8> {
        let header = (72.0, 800.0, 9.0, "Lore Test Manual");
        let pages = vec![
            vec![
                header,
                (72.0, 740.0, 18.0, "1 Introduction"),
                (
                    72.0,
                    700.0,
                    11.0,
                    "This manual explains how the retrieval of infor-",
                ),
                (
                    72.0,
                    686.0,
                    11.0,
                    "mation works in practice, from folders to answers and",
                ),
                (72.0, 672.0, 11.0, "back again to the reader."),
                (
                    72.0,
                    640.0,
                    11.0,
                    "A second paragraph starts after a blank gap here.",
                ),
                (300.0, 40.0, 9.0, "Page 1"),
            ],
            vec![
                header,
                (
                    72.0,
                    740.0,
                    11.0,
                    "Details continue on the second page of the manual",
                ),
                (72.0, 726.0, 11.0, "with a well-known hyphen kept as it is."),
                (300.0, 40.0, 9.0, "Page 2"),
            ],
            vec![
                header,
                (72.0, 740.0, 14.0, "2 Usage"),
                (72.0, 710.0, 11.0, "Run the command and read the answers."),
                (300.0, 40.0, 9.0, "Page 3"),
            ],
            vec![
                header,
                (
                    72.0,
                    740.0,
                    11.0,
                    "The last page has text without its own heading.",
                ),
                (300.0, 40.0, 9.0, "Page 4"),
            ],
        ];
        let outline = vec![
            bm("Introduction", 1, vec![bm("Details", 2, vec![])]),
            bm("Usage", 3, vec![bm("Reference", 4, vec![])]),
        ];
        build(&pages, &outline, Some("Microsoft Word - manual.doc"))
    }

    fn texts(p: &Parsed) -> Vec<(String, Loc)> {
        p.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Text { text, loc } => Some((text.clone(), *loc)),
                _ => None,
            })
            .collect()
    }

    fn headings(p: &Parsed) -> Vec<(u8, String, u32)> {
        p.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading {
                    level, text, loc, ..
                } => Some((*level, text.clone(), loc.start)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reads_a_manual_with_outline_headers_and_hyphenation() {
        let parsed = read(&manual(), &Budget::unlimited()).unwrap();
        assert_eq!(parsed.unit, LocUnit::Pages);
        let texts = texts(&parsed);
        let all: String = texts
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(!all.contains("Lore Test Manual"), "{all}");
        assert!(!all.contains("Page "), "{all}");
        assert!(all.contains("retrieval of information works"), "{all}");
        assert!(all.contains("well-known"), "{all}");
        // The three lines of the first paragraph are one block; the gap starts another.
        let first = texts
            .iter()
            .find(|(t, _)| t.starts_with("This manual"))
            .unwrap();
        assert!(
            first.0.ends_with("back again to the reader."),
            "{}",
            first.0
        );
        assert_eq!(first.1, Loc::new(1, 1));
        assert!(texts
            .iter()
            .any(|(t, l)| t.starts_with("A second") && *l == Loc::new(1, 1)));
        let second = texts
            .iter()
            .find(|(t, _)| t.starts_with("Details"))
            .unwrap();
        assert_eq!(second.1, Loc::new(2, 2));

        assert_eq!(
            headings(&parsed),
            vec![
                (1, "Introduction".to_string(), 1),
                (2, "Details".to_string(), 2),
                (1, "Usage".to_string(), 3),
                (2, "Reference".to_string(), 4),
            ]
        );
        // The heading line "1 Introduction" became the heading, not body text.
        assert!(!all.contains("Introduction"), "{all}");
        // Junk /Info title: the first line of the first page instead.
        assert_eq!(parsed.title.as_deref(), Some("1 Introduction"));

        let (text, layout) = super::super::render(&parsed);
        let at = text.find("Run the command").unwrap();
        assert_eq!(layout.trail_at(at).0, ["Usage"]);
        let at = text.find("The last page").unwrap();
        assert_eq!(layout.trail_at(at).0, ["Usage", "Reference"]);
        assert_eq!(layout.loc_of(at, at + 5), Some(Loc::new(4, 4)));
    }

    #[test]
    fn run_in_outline_headings_are_placed_where_they_start() {
        // "Examples" is a run-in heading in the middle of its page; "Using the mouse"
        // merely opens with the word of the next bookmark, which has no line of its own.
        let pages = vec![vec![
            (72.0, 740.0, 14.0, "Plotting"),
            (
                72.0,
                710.0,
                11.0,
                "Plot columns of a data file with a using clause.",
            ),
            (
                72.0,
                680.0,
                11.0,
                "Examples This plots the sum of the 2nd and 3rd",
            ),
            (72.0, 666.0, 11.0, "columns against the first one."),
            (72.0, 636.0, 11.0, "Using the mouse is described elsewhere."),
        ]];
        let outline = vec![bm(
            "Plotting",
            1,
            vec![bm("Examples", 1, vec![]), bm("Using", 1, vec![])],
        )];
        let parsed = read(&build(&pages, &outline, None), &Budget::unlimited()).unwrap();
        let (text, layout) = super::super::render(&parsed);
        let trail = |s: &str| layout.trail_at(text.find(s).unwrap()).0;
        assert_eq!(trail("Plot columns"), ["Plotting"]);
        assert_eq!(trail("This plots the sum"), ["Plotting", "Examples"]);
        assert!(!text.contains("Examples This"), "{text}");
        assert!(text.contains("This plots the sum of the 2nd and 3rd columns against"));
        // "Using" found no line of its own nor a run-in line: at the top of the page.
        assert!(text.contains("Using the mouse"), "{text}");
        assert_eq!(
            run_in_rest("Using examples This creates", &norm("Using_examples")),
            Some("This creates")
        );
        assert_eq!(run_in_rest("Using the mouse", &norm("Using")), None);
        assert_eq!(run_in_rest("Key Value", &norm("Key")), None);
        assert_eq!(run_in_rest("Usingexamples Foo", &norm("Using")), None);
    }

    #[test]
    fn running_heads_carrying_the_page_number_are_removed() {
        let heads = [
            "Installing the tool 11",
            "12 Configuring it",
            "Using it well 13",
            "14 Fixing problems",
            "Appendix 15",
        ];
        let pages: Vec<PageSpec> = heads
            .iter()
            .map(|h| {
                vec![
                    (72.0, 800.0, 9.0, *h),
                    (72.0, 700.0, 11.0, "Body text that stays where it is."),
                    (72.0, 686.0, 11.0, "12 apples are not a page number here."),
                ]
            })
            .collect();
        let parsed = read(&build(&pages, &[], None), &Budget::unlimited()).unwrap();
        let all: Vec<String> = texts(&parsed).into_iter().map(|(t, _)| t).collect();
        assert_eq!(all.len(), 10, "{all:?}");
        for t in &all {
            assert!(
                t.starts_with("Body text") || t.starts_with("12 apples"),
                "{t}"
            );
        }
    }

    #[test]
    fn toc_lines_stay_apart_and_long_first_lines_make_short_titles() {
        let long = "Word ".repeat(60);
        let pages = vec![vec![
            (72.0, 760.0, 11.0, long.as_str()),
            (72.0, 720.0, 11.0, "1 Introduction . . . . . . . . . . 3"),
            (72.0, 706.0, 11.0, "2 Usage . . . . . . . . . . . . . . 7"),
        ]];
        let parsed = read(&build(&pages, &[], None), &Budget::unlimited()).unwrap();
        let title = parsed.title.clone().unwrap();
        assert!(title.len() <= 125 && title.starts_with("Word Word") && title.ends_with('…'));
        let texts = texts(&parsed);
        assert!(texts
            .iter()
            .any(|(t, _)| t == "1 Introduction . . . . . . . . . . 3"));
        assert!(texts
            .iter()
            .any(|(t, _)| t == "2 Usage . . . . . . . . . . . . . . 7"));
    }

    #[test]
    fn a_table_of_contents_page_is_left_out() {
        // Debian Reference's PDF: 18 pages of contents made 157 chunks of dots.
        let pages = vec![
            vec![
                (72.0, 760.0, 11.0, "Contents"),
                (
                    72.0,
                    740.0,
                    11.0,
                    "1.1 Console basics . . . . . . . . . . . . . . 1",
                ),
                (
                    72.0,
                    726.0,
                    11.0,
                    "1.1.1 The shell prompt . . . . . . . . . . . . 1",
                ),
                (
                    72.0,
                    712.0,
                    11.0,
                    "1.1.2 The root account . . . . . . . . . . . . 2",
                ),
                // bashref.pdf: a title long enough to leave two leader dots, and one that
                // wraps above its leaders.
                (
                    72.0,
                    698.0,
                    11.0,
                    "1.1.3 Commands that read the root account's own settings . . 3",
                ),
                (
                    72.0,
                    684.0,
                    11.0,
                    "1.1.4 Commands that change the root account's",
                ),
                (
                    72.0,
                    670.0,
                    11.0,
                    "settings for a session . . . . . . . . . . 4",
                ),
                (
                    72.0,
                    656.0,
                    11.0,
                    "1.2 Unix-like filesystem . . . . . . . . . . . 6",
                ),
            ],
            vec![(
                72.0,
                760.0,
                11.0,
                "The shell prompt shows your user name and host.",
            )],
        ];
        let parsed = read(&build(&pages, &[], None), &Budget::unlimited()).unwrap();
        let all: Vec<String> = texts(&parsed).into_iter().map(|(t, _)| t).collect();
        assert_eq!(
            all,
            [
                "Contents",
                "The shell prompt shows your user name and host."
            ],
            "{all:?}"
        );
    }

    #[test]
    fn metadata_title_and_size_headings_without_outline() {
        let pages = vec![
            vec![
                (72.0, 760.0, 20.0, "Getting Started"),
                (
                    72.0,
                    720.0,
                    11.0,
                    "Body text of the first section is set in eleven point.",
                ),
                (
                    72.0,
                    706.0,
                    11.0,
                    "It goes on for a second line of the paragraph.",
                ),
                (72.0, 670.0, 15.0, "Configuration"),
                (
                    72.0,
                    640.0,
                    11.0,
                    "Settings live in a file that the program reads first.",
                ),
            ],
            vec![
                (
                    72.0,
                    760.0,
                    11.0,
                    "More body text on the second page of the guide, set",
                ),
                (
                    72.0,
                    746.0,
                    11.0,
                    "in the body size and long enough to count as body.",
                ),
            ],
        ];
        let parsed = read(&build(&pages, &[], Some("The Guide")), &Budget::unlimited()).unwrap();
        assert_eq!(parsed.title.as_deref(), Some("The Guide"));
        assert_eq!(
            headings(&parsed),
            vec![
                (1, "Getting Started".to_string(), 1),
                (2, "Configuration".to_string(), 1)
            ]
        );
    }

    /// groff draws `ˆ` larger than the text around it (bash.pdf: 12 pt in 10 pt body). The
    /// line is body text, not a 12 pt heading over the pages after it.
    #[test]
    fn a_symbol_drawn_larger_than_its_line_does_not_make_a_heading() {
        let body = |y: f32, text: &'static str| (72.0, y, 10.0, text);
        let pages = vec![vec![
            (72.0, 780.0, 16.0, "History Expansion"),
            body(
                750.0,
                "Quick substitution. Repeat the previous command, replacing",
            ),
            body(
                736.0,
                "string1 with string2. Equivalent to the longer form below",
            ),
            body(722.0, "!!:s"),
            (92.0, 722.0, 12.0, "^"),
            (100.0, 722.0, 10.0, "string1"),
            (140.0, 722.0, 12.0, "^"),
            (148.0, 722.0, 10.0, "string2 (see Modifiers below)."),
            body(
                708.0,
                "The entire command line typed so far is the next word",
            ),
            body(
                694.0,
                "designator, and more body text follows in this section",
            ),
            (72.0, 660.0, 16.0, "Word Designators"),
            body(
                630.0,
                "Word designators are used to select desired words from",
            ),
        ]];
        let parsed = read(&build(&pages, &[], None), &Budget::unlimited()).unwrap();
        assert_eq!(
            headings(&parsed),
            vec![
                (1, "History Expansion".to_string(), 1),
                (1, "Word Designators".to_string(), 1)
            ]
        );
        let all: String = texts(&parsed).into_iter().map(|(t, _)| t + "\n").collect();
        assert!(all.contains("!!:s ^ string1 ^ string2"), "{all}");
        assert!(!is_text_glyph('ˆ') && !is_text_glyph('^') && !is_text_glyph('~'));
        assert!(is_text_glyph('é') && is_text_glyph('7') && is_text_glyph('Ж'));
    }

    /// groff's man macros set section headings at 10.9 pt over 10 pt text, and the page
    /// opens with NAME: its line is the title (bash.pdf).
    #[test]
    fn a_man_page_printed_by_groff_has_sections_and_its_name_line_as_title() {
        let body = |y: f32, text: &'static str| (108.0, y, 10.0, text);
        let pages = vec![vec![
            (72.0, 780.0, 10.9, "NAME"),
            body(768.0, "bash - GNU Bourne-Again SHell"),
            (72.0, 750.0, 10.9, "SYNOPSIS"),
            body(738.0, "bash [options] [command_string | file]"),
            (72.0, 720.0, 10.9, "DESCRIPTION"),
            body(
                708.0,
                "Bash is an sh-compatible command language interpreter that",
            ),
            body(
                696.0,
                "executes commands read from the standard input or from a file.",
            ),
            body(
                684.0,
                "Bash also incorporates useful features from the Korn and C",
            ),
            body(
                672.0,
                "shells (ksh and csh), and is intended to be a conformant one.",
            ),
        ]];
        let parsed = read(&build(&pages, &[], None), &Budget::unlimited()).unwrap();
        assert_eq!(
            parsed.title.as_deref(),
            Some("bash - GNU Bourne-Again SHell")
        );
        let names: Vec<String> = headings(&parsed).into_iter().map(|h| h.1).collect();
        assert_eq!(names, ["NAME", "SYNOPSIS", "DESCRIPTION"]);
    }

    #[test]
    fn no_text_layer_encrypted_and_garbage() {
        let scanned = build(&[vec![], vec![]], &[], None);
        let err = read(&scanned, &Budget::unlimited()).unwrap_err();
        assert_eq!(err.reason, SkipReason::NoTextLayer, "{err}");

        let err = read(b"not a pdf at all", &Budget::unlimited()).unwrap_err();
        assert_eq!(err.reason, SkipReason::ParseError);
        let err = read(b"%PDF-1.4\n garbage garbage", &Budget::unlimited()).unwrap_err();
        assert_eq!(err.reason, SkipReason::ParseError);

        // An /Encrypt dictionary whose user password is not empty.
        let mut doc = Document::load_mem(&manual()).unwrap();
        let enc = doc.add_object(dictionary! {
            "Filter" => "Standard", "V" => 1, "R" => 2, "P" => -4,
            "O" => Object::String(vec![7; 32], StringFormat::Hexadecimal),
            "U" => Object::String(vec![9; 32], StringFormat::Hexadecimal),
        });
        doc.trailer.set("Encrypt", enc);
        let id = Object::String(vec![1; 16], StringFormat::Hexadecimal);
        doc.trailer.set("ID", vec![id.clone(), id]);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        let err = read(&bytes, &Budget::unlimited()).unwrap_err();
        assert_eq!(err.reason, SkipReason::ParseError);
        assert!(err.detail.contains("encrypted"), "{err}");
    }

    #[test]
    fn quote_operators_draw_their_lines() {
        let mut doc = Document::load_mem(&build(&[vec![]], &[], None)).unwrap();
        let page_id = doc.get_pages()[&1];
        let form_id = doc.add_object(Stream::new(
            dictionary! { "Type" => "XObject", "Subtype" => "Form" },
            b"BT /F1 11 Tf 14 TL 72 500 Td (A form's first line)Tj (and its second.)' ET".to_vec(),
        ));
        let content = b"BT /F1 11 Tf 14 TL 72 700 Td (Shown with Tj, then)Tj\n\
            (a quote's line,)'\n\
            2 0.5 (a double quote's line)\"\n\
            ((quoted \\) too))' ET /Fm Do";
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.to_vec()));
        let page = doc.get_dictionary_mut(page_id).unwrap();
        page.set("Contents", content_id);
        let resources = page.get(b"Resources").unwrap().as_reference().unwrap();
        doc.get_dictionary_mut(resources)
            .unwrap()
            .set("XObject", dictionary! { "Fm" => form_id });
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();

        let mut doc = Document::load_mem(&bytes).unwrap();
        let pages: Vec<(u32, ObjectId)> = doc.get_pages().into_iter().collect();
        expand_quote_operators(&mut doc, &pages, &Budget::unlimited()).unwrap();
        let page = extract_page(&doc, 1, page_id).unwrap();
        let lines: Vec<&str> = page.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            lines,
            [
                "Shown with Tj, then",
                "a quote's line,",
                "a double quote's line",
                "(quoted ) too)",
                "A form's first line",
                "and its second.",
            ]
        );
        let ys: Vec<f32> = page.lines.iter().map(|l| l.y).collect();
        assert_eq!(ys[..4], [142.0, 156.0, 170.0, 184.0]);

        let parsed = read(&bytes, &Budget::unlimited()).unwrap();
        let all: Vec<String> = texts(&parsed).into_iter().map(|(t, _)| t).collect();
        assert!(
            all.join(" ")
                .contains("a double quote's line (quoted ) too)"),
            "{all:?}"
        );
        // A stream without the operators is left as it was.
        let plain = build(&[vec![(72.0, 700.0, 11.0, "Don't rewrite me")]], &[], None);
        let mut doc = Document::load_mem(&plain).unwrap();
        let before = doc.objects.clone();
        let pages: Vec<(u32, ObjectId)> = doc.get_pages().into_iter().collect();
        expand_quote_operators(&mut doc, &pages, &Budget::unlimited()).unwrap();
        assert_eq!(format!("{:?}", doc.objects), format!("{before:?}"));
    }

    #[test]
    fn quote_operator_scan() {
        assert!(may_hold_quote_operator(b"(a)'"));
        assert!(may_hold_quote_operator(b"1 2 (a)\""));
        assert!(!may_hold_quote_operator(
            b"(don't \\) say \"no\")Tj <27> Tj % it's\n"
        ));
        assert!(may_hold_quote_operator(b"(x)Tj % it's\n(y)'"));
        assert!(may_hold_quote_operator(b"q BI /W 1 /H 1 ID (' EI Q"));
        assert!(!may_hold_quote_operator(b"<< /BIG 1 >> BDC (BI) Tj EMC"));
    }

    #[test]
    fn self_drawing_form_is_refused_not_overflowed() {
        let mut doc = Document::load_mem(&manual()).unwrap();
        let pages = doc.get_pages();
        let page_id = pages[&1];
        let form_id = doc.new_object_id();
        let res = dictionary! { "XObject" => dictionary! { "X" => form_id } };
        doc.objects.insert(
            form_id,
            Object::Stream(Stream::new(
                dictionary! { "Type" => "XObject", "Subtype" => "Form", "Resources" => res.clone() },
                b"/X Do".to_vec(),
            )),
        );
        let content_id = doc.add_object(Stream::new(dictionary! {}, b"/X Do".to_vec()));
        let page = doc.get_dictionary_mut(page_id).unwrap();
        page.set("Resources", res);
        page.set("Contents", content_id);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        let parsed = read(&bytes, &Budget::unlimited()).unwrap();
        // Page 1 is lost, the other pages are read.
        assert!(texts(&parsed).iter().all(|(_, l)| l.start != 1));
        assert!(texts(&parsed).iter().any(|(_, l)| l.start == 2));
    }

    #[test]
    fn budget_is_enforced() {
        let bytes = manual();
        let past = Budget {
            deadline: std::time::Instant::now() - Duration::from_secs(1),
            max_output_bytes: usize::MAX,
        };
        let err = read(&bytes, &past).unwrap_err();
        assert_eq!(err.reason, SkipReason::Timeout);
        let err = read(&bytes, &Budget::new(Duration::from_secs(60), 50)).unwrap_err();
        assert_eq!(err.reason, SkipReason::TooLarge);
    }

    #[test]
    fn flate_bombs_are_refused() {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![b' '; 4 << 20]).unwrap();
        let packed = z.finish().unwrap();
        let mut doc = Document::load_mem(&manual()).unwrap();
        let page_id = doc.get_pages()[&1];
        let content_id = doc.add_object(Stream::new(
            dictionary! { "Filter" => "FlateDecode" },
            packed,
        ));
        doc.get_dictionary_mut(page_id)
            .unwrap()
            .set("Contents", content_id);
        let mut bytes = Vec::new();
        doc.save_to(&mut bytes).unwrap();
        let err = read(&bytes, &Budget::new(Duration::from_secs(60), 1 << 20)).unwrap_err();
        assert_eq!(err.reason, SkipReason::TooLarge, "{err}");
        // Within a larger cap the same file reads (page 1 is blank, the rest has text).
        let parsed = read(&bytes, &Budget::new(Duration::from_secs(60), 8 << 20)).unwrap();
        assert!(texts(&parsed).iter().all(|(_, l)| l.start != 1));
    }

    #[test]
    fn mutations_never_panic() {
        let sample = manual();
        let mut rng = crate::read::testing::Rng::new(0x9E37_79B9_7F4A_7C15);
        for round in 0..2000 {
            let bytes = crate::read::testing::mutate(&sample, round, &mut rng);
            let budget = Budget::new(Duration::from_secs(10), 1 << 20);
            let started = std::time::Instant::now();
            let _ = read(&bytes, &budget);
            assert!(started.elapsed() < Duration::from_secs(10), "round {round}");
        }
    }
}
