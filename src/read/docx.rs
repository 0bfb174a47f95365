//! Word (`.docx`) reader: paragraphs in document order, headings from paragraph styles,
//! tables as one line per row, the title from the document properties.
//!
//! A `.docx` is a zip of XML parts; `word/document.xml` is read with `zip` (deflate only)
//! and `quick-xml`. The markup needed is small (paragraphs, runs, tables, style ids) and the
//! Rust docx crates are either writers or young and unmaintained, so it is parsed here.
//! Entries are decompressed through `take(limit)`, so a zip bomb stops at the budget's
//! output cap whatever its headers claim.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use zip::result::ZipError;
use zip::ZipArchive;

use super::{Block, Budget, Loc, LocUnit, Parsed, ReadError, SkipReason};

const W_NS: &[&[u8]] = &[
    b"http://schemas.openxmlformats.org/wordprocessingml/2006/main",
    b"http://purl.oclc.org/ooxml/wordprocessingml/main",
];
const MC_NS: &[u8] = b"http://schemas.openxmlformats.org/markup-compatibility/2006";
/// An entry this many times larger than its compressed size is treated as a zip bomb.
const MAX_RATIO: u64 = 200;
/// Below this size the ratio is not checked (tiny, highly repetitive XML is normal).
const RATIO_FLOOR: u64 = 4 << 20;

/// Reads a `.docx` file's bytes. Locations count paragraphs (1-based, as Word numbers
/// them: empty paragraphs too; a table row counts one).
pub fn read(bytes: &[u8], budget: &Budget) -> Result<Parsed, ReadError> {
    budget.check()?;
    let mut zip = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| ReadError::parse(format!("not a docx (zip): {e}")))?;
    let mut used = 0usize;
    let document = read_entry(&mut zip, "word/document.xml", budget, &mut used)?
        .ok_or_else(|| ReadError::parse("no word/document.xml"))?;
    let styles = read_entry(&mut zip, "word/styles.xml", budget, &mut used)?
        .map(|x| parse_styles(&x))
        .unwrap_or_default();
    let core_title =
        read_entry(&mut zip, "docProps/core.xml", budget, &mut used)?.and_then(|x| core_title(&x));
    let (blocks, style_title) = parse_document(&document, &styles, budget)?;
    Ok(Parsed {
        title: core_title.or(style_title),
        unit: LocUnit::Paragraphs,
        blocks,
    })
}

/// An entry's bytes, `None` if absent; refuses entries that expand past the budget.
fn read_entry(
    zip: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    budget: &Budget,
    used: &mut usize,
) -> Result<Option<Vec<u8>>, ReadError> {
    let entry = match zip.by_name(name) {
        Ok(e) => e,
        Err(ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(ReadError::parse(format!("{name}: {e}"))),
    };
    let limit = budget.max_output_bytes.saturating_sub(*used);
    let (size, packed) = (entry.size(), entry.compressed_size());
    if size > RATIO_FLOOR && size / packed.max(1) > MAX_RATIO {
        return Err(ReadError::new(
            SkipReason::TooLarge,
            format!("{name} expands {}x (zip bomb?)", size / packed.max(1)),
        ));
    }
    budget.check_size(
        usize::try_from(size)
            .unwrap_or(usize::MAX)
            .saturating_add(*used),
    )?;
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(limit).min(64 << 20));
    entry
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ReadError::parse(format!("{name}: {e}")))?;
    *used = used.saturating_add(out.len());
    budget.check_size(*used)?;
    Ok(Some(out))
}

fn is_w(ns: &ResolveResult) -> bool {
    matches!(ns, ResolveResult::Bound(n) if W_NS.contains(&n.as_ref()))
}

/// The `val` attribute of a `w:` element.
fn val(e: &BytesStart) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.local_name().as_ref() == b"val")
        .and_then(|a| a.unescape_value().ok())
        .map(|v| v.into_owned())
}

/// Paragraph style id → heading level (0 for the Title style).
fn parse_styles(xml: &[u8]) -> HashMap<String, u8> {
    struct Style {
        level: Option<u8>,
        based_on: Option<String>,
    }
    let mut styles: HashMap<String, Style> = HashMap::new();
    let mut reader = NsReader::from_reader(xml);
    let mut buf = Vec::new();
    let mut current: Option<String> = None;
    loop {
        let (ns, ev) = match reader.read_resolved_event_into(&mut buf) {
            Ok((_, Event::Eof)) | Err(_) => break,
            Ok((ns, ev)) => (ns, ev),
        };
        let w = is_w(&ns);
        match ev {
            Event::Start(e) | Event::Empty(e) if w => match e.local_name().as_ref() {
                b"style" => {
                    let is_para = e.attributes().flatten().any(|a| {
                        a.key.local_name().as_ref() == b"type" && &*a.value == b"paragraph"
                    });
                    let id = e
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"styleId")
                        .and_then(|a| a.unescape_value().ok())
                        .map(|v| v.into_owned());
                    current = id.filter(|_| is_para);
                    if let Some(id) = &current {
                        styles.insert(
                            id.clone(),
                            Style {
                                level: level_from_name(id),
                                based_on: None,
                            },
                        );
                    }
                }
                b"name" => {
                    if let (Some(id), Some(name)) = (&current, val(&e)) {
                        if let (Some(s), Some(l)) = (styles.get_mut(id), level_from_name(&name)) {
                            s.level = Some(l);
                        }
                    }
                }
                b"basedOn" => {
                    if let (Some(id), Some(base)) = (&current, val(&e)) {
                        if let Some(s) = styles.get_mut(id) {
                            s.based_on = Some(base);
                        }
                    }
                }
                b"outlineLvl" => {
                    if let (Some(id), Some(l)) =
                        (&current, val(&e).and_then(|v| v.parse::<u8>().ok()))
                    {
                        if let Some(s) = styles.get_mut(id) {
                            if s.level.is_none() && l < 9 {
                                s.level = Some(l + 1);
                            }
                        }
                    }
                }
                _ => {}
            },
            Event::End(e) if w && e.local_name().as_ref() == b"style" => current = None,
            _ => {}
        }
        buf.clear();
    }
    let mut out = HashMap::new();
    for id in styles.keys() {
        // Follow basedOn to inherit a heading level (bounded: chains can loop).
        let mut cur = id;
        for _ in 0..16 {
            let Some(s) = styles.get(cur) else { break };
            if let Some(l) = s.level {
                out.insert(id.clone(), l);
                break;
            }
            match &s.based_on {
                Some(b) => cur = b,
                None => break,
            }
        }
    }
    out
}

/// "heading 2" / "Heading2" → 2, "Title" → 0.
fn level_from_name(name: &str) -> Option<u8> {
    let lower = name.to_ascii_lowercase();
    if lower == "title" {
        return Some(0);
    }
    let rest = lower.strip_prefix("heading")?.trim();
    match rest.parse::<u8>() {
        Ok(n @ 1..=9) => Some(n),
        _ => None,
    }
}

fn core_title(xml: &[u8]) -> Option<String> {
    let mut reader = NsReader::from_reader(xml);
    let mut buf = Vec::new();
    let mut inside = false;
    let mut title = String::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Eof) | Err(_) => break,
            Ok(Event::Start(e)) if e.local_name().as_ref() == b"title" => inside = true,
            Ok(Event::End(e)) if e.local_name().as_ref() == b"title" => break,
            Ok(Event::Text(t)) if inside => title.push_str(&t.decode().ok()?),
            Ok(Event::GeneralRef(r)) if inside => push_ref(&mut title, &r),
            _ => {}
        }
        buf.clear();
    }
    let title = one_line(&title);
    (!title.is_empty()).then_some(title)
}

fn push_ref(out: &mut String, r: &quick_xml::events::BytesRef) {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        out.push(c);
        return;
    }
    match r.decode().as_deref() {
        Ok("amp") => out.push('&'),
        Ok("lt") => out.push('<'),
        Ok("gt") => out.push('>'),
        Ok("quot") => out.push('"'),
        Ok("apos") => out.push('\''),
        _ => {}
    }
}

/// Runs of spaces and tabs collapsed, explicit line breaks (`w:br`) kept.
fn tidy(s: &str) -> String {
    s.split('\n')
        .map(one_line)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Default)]
struct Para {
    style: Option<String>,
    outline: Option<u8>,
    text: String,
}

#[derive(Default)]
struct Row {
    cells: Vec<String>,
    cell: String,
}

/// Walks `word/document.xml`: blocks, and the text of the first Title-styled paragraph.
fn parse_document(
    xml: &[u8],
    styles: &HashMap<String, u8>,
    budget: &Budget,
) -> Result<(Vec<Block>, Option<String>), ReadError> {
    let mut reader = NsReader::from_reader(xml);
    let mut buf = Vec::new();
    let mut blocks = Vec::new();
    let mut title: Option<String> = None;
    let mut index: u32 = 0; // paragraphs and top-level rows seen
    let mut paras: Vec<Para> = Vec::new();
    let mut rows: Vec<Row> = Vec::new();
    let mut in_text = false;
    let mut skip_depth = 0usize; // inside mc:Fallback (a duplicate of mc:Choice)
    let mut produced = 0usize;
    let mut events = 0u32;
    let mut saw_body = false;
    loop {
        events = events.wrapping_add(1);
        if events.is_multiple_of(4096) {
            budget.check()?;
        }
        let (ns, ev) = match reader.read_resolved_event_into(&mut buf) {
            Ok((_, Event::Eof)) => break,
            Ok(x) => x,
            Err(e) => {
                return Err(ReadError::parse(format!(
                    "word/document.xml at byte {}: {e}",
                    reader.buffer_position()
                )))
            }
        };
        let mc = matches!(&ns, ResolveResult::Bound(n) if n.as_ref() == MC_NS);
        let w = is_w(&ns);
        if skip_depth > 0 {
            match ev {
                Event::Start(_) => skip_depth += 1,
                Event::End(_) => skip_depth -= 1,
                _ => {}
            }
            buf.clear();
            continue;
        }
        match ev {
            Event::Start(e) if mc && e.local_name().as_ref() == b"Fallback" => skip_depth = 1,
            Event::Start(e) if w => match e.local_name().as_ref() {
                b"body" => saw_body = true,
                b"p" => paras.push(Para::default()),
                b"t" => in_text = true,
                b"tr" => rows.push(Row::default()),
                b"tc" => {
                    if let Some(r) = rows.last_mut() {
                        r.cell.clear();
                    }
                }
                _ => {}
            },
            Event::Empty(e) if w => {
                let push = |paras: &mut Vec<Para>, c: char| {
                    if let Some(p) = paras.last_mut() {
                        p.text.push(c);
                    }
                };
                match e.local_name().as_ref() {
                    b"pStyle" => {
                        if let Some(p) = paras.last_mut() {
                            p.style = val(&e);
                        }
                    }
                    b"outlineLvl" => {
                        if let Some(p) = paras.last_mut() {
                            p.outline = val(&e)
                                .and_then(|v| v.parse::<u8>().ok())
                                .filter(|&l| l < 9);
                        }
                    }
                    b"tab" => push(&mut paras, '\t'),
                    b"br" | b"cr" => push(&mut paras, '\n'),
                    b"noBreakHyphen" => push(&mut paras, '-'),
                    // An empty paragraph: still counted.
                    b"p" if paras.is_empty() && rows.is_empty() => index += 1,
                    _ => {}
                }
            }
            Event::Text(t) if in_text => {
                if let Some(p) = paras.last_mut() {
                    let s = t
                        .decode()
                        .map_err(|e| ReadError::parse(format!("word/document.xml: {e}")))?;
                    produced += s.len();
                    // Newlines inside w:t are layout of the XML, not of the text.
                    p.text.extend(
                        s.chars()
                            .map(|c| if c == '\n' || c == '\r' { ' ' } else { c }),
                    );
                }
            }
            Event::GeneralRef(r) if in_text => {
                if let Some(p) = paras.last_mut() {
                    push_ref(&mut p.text, &r);
                }
            }
            Event::End(e) if w => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => {
                    let Some(p) = paras.pop() else { continue };
                    budget.check_size(produced)?;
                    if let Some(outer) = paras.last_mut() {
                        // A text box inside a paragraph: its text joins the paragraph.
                        if !p.text.trim().is_empty() {
                            outer.text.push(' ');
                            outer.text.push_str(&p.text);
                        }
                    } else if let Some(row) = rows.last_mut() {
                        if !row.cell.is_empty() {
                            row.cell.push('\n');
                        }
                        row.cell.push_str(p.text.trim());
                    } else {
                        index += 1;
                        let loc = Loc::new(index, index);
                        let level = p
                            .style
                            .as_deref()
                            .and_then(|s| styles.get(s).copied().or_else(|| level_from_name(s)))
                            .or(p.outline.map(|l| l + 1));
                        let text = tidy(&p.text);
                        let text = text.as_str();
                        match level {
                            _ if text.is_empty() => {}
                            Some(0) => {
                                if title.is_none() {
                                    title = Some(one_line(text));
                                }
                                blocks.push(Block::Text {
                                    text: text.to_string(),
                                    loc,
                                });
                            }
                            Some(level) => blocks.push(Block::Heading {
                                level,
                                text: one_line(text),
                                anchor: None,
                                loc,
                            }),
                            None => blocks.push(Block::Text {
                                text: text.to_string(),
                                loc,
                            }),
                        }
                    }
                }
                b"tc" => {
                    if let Some(r) = rows.last_mut() {
                        let cell = one_line(&r.cell);
                        r.cells.push(cell);
                        r.cell.clear();
                    }
                }
                b"tr" => {
                    let Some(r) = rows.pop() else { continue };
                    let line = r.cells.join(" | ");
                    let has_text = r.cells.iter().any(|c| !c.is_empty());
                    if let Some(outer) = rows.last_mut() {
                        // A nested table: its rows go into the enclosing cell.
                        if has_text {
                            if !outer.cell.is_empty() {
                                outer.cell.push('\n');
                            }
                            outer.cell.push_str(&line);
                        }
                    } else if let Some(p) = paras.last_mut() {
                        if has_text {
                            p.text.push(' ');
                            p.text.push_str(&line);
                        }
                    } else {
                        index += 1;
                        if has_text {
                            blocks.push(Block::Text {
                                text: line,
                                loc: Loc::new(index, index),
                            });
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
        buf.clear();
    }
    if !saw_body {
        return Err(ReadError::parse("word/document.xml has no w:body"));
    }
    Ok((blocks, title))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;
    use zip::write::SimpleFileOptions;

    const W: &str = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

    fn docx(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        {
            let mut z = zip::ZipWriter::new(&mut out);
            let opts =
                SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
            for (name, body) in parts {
                z.start_file(*name, opts).unwrap();
                z.write_all(body.as_bytes()).unwrap();
            }
            z.finish().unwrap();
        }
        out.into_inner()
    }

    fn document(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="{W}" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>{body}<w:sectPr/></w:body></w:document>"#
        )
    }

    fn para(style: Option<&str>, text: &str) -> String {
        let ppr = style
            .map(|s| format!(r#"<w:pPr><w:pStyle w:val="{s}"/></w:pPr>"#))
            .unwrap_or_default();
        format!(r#"<w:p>{ppr}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>"#)
    }

    const STYLES: &str = r#"<?xml version="1.0"?>
<w:styles xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:style w:type="paragraph" w:styleId="Titre1"><w:name w:val="heading 1"/></w:style>
<w:style w:type="paragraph" w:styleId="Titre2"><w:name w:val="heading 2"/><w:basedOn w:val="Titre1"/></w:style>
<w:style w:type="paragraph" w:styleId="MyTitle"><w:name w:val="Title"/></w:style>
<w:style w:type="paragraph" w:styleId="Custom"><w:name w:val="Custom"/><w:pPr><w:outlineLvl w:val="2"/></w:pPr></w:style>
<w:style w:type="paragraph" w:styleId="Derived"><w:name w:val="Derived"/><w:basedOn w:val="Titre2"/></w:style>
</w:styles>"#;

    fn sample() -> Vec<u8> {
        let body = [
            para(Some("MyTitle"), "The Styled Title"),
            para(Some("Titre1"), "Installation"),
            para(None, "Install it with &amp; care."),
            "<w:p/>".to_string(),
            para(Some("Titre2"), "From source"),
            r#"<w:p><w:r><w:t>Run </w:t></w:r><w:r><w:t xml:space="preserve">make
 </w:t><w:tab/><w:t>now</w:t><w:br/><w:t>then test</w:t></w:r></w:p>"#
                .to_string(),
            r#"<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Option</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Meaning</w:t></w:r></w:p></w:tc></w:tr><w:tr><w:tc><w:p><w:r><w:t>-v</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>verbose</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"#
                .to_string(),
            para(Some("Custom"), "Outline level styled"),
            para(Some("Derived"), "Inherited level"),
            r#"<w:p><w:r><mc:AlternateContent><mc:Choice><w:t>shown</w:t></mc:Choice><mc:Fallback><w:t>duplicate</w:t></mc:Fallback></mc:AlternateContent></w:r><w:r><w:delText>deleted</w:delText></w:r></w:p>"#
                .to_string(),
        ]
        .concat();
        docx(&[
            ("word/document.xml", &document(&body)),
            ("word/styles.xml", STYLES),
        ])
    }

    #[test]
    fn reads_headings_tables_and_paragraph_numbers() {
        let parsed = read(&sample(), &Budget::unlimited()).unwrap();
        assert_eq!(parsed.unit, LocUnit::Paragraphs);
        assert_eq!(parsed.title.as_deref(), Some("The Styled Title"));
        let expect = vec![
            Block::Text {
                text: "The Styled Title".into(),
                loc: Loc::new(1, 1),
            },
            Block::Heading {
                level: 1,
                text: "Installation".into(),
                anchor: None,
                loc: Loc::new(2, 2),
            },
            Block::Text {
                text: "Install it with & care.".into(),
                loc: Loc::new(3, 3),
            },
            // Paragraph 4 is empty.
            Block::Heading {
                level: 2,
                text: "From source".into(),
                anchor: None,
                loc: Loc::new(5, 5),
            },
            Block::Text {
                text: "Run make now\nthen test".into(),
                loc: Loc::new(6, 6),
            },
            Block::Text {
                text: "Option | Meaning".into(),
                loc: Loc::new(7, 7),
            },
            Block::Text {
                text: "-v | verbose".into(),
                loc: Loc::new(8, 8),
            },
            Block::Heading {
                level: 3,
                text: "Outline level styled".into(),
                anchor: None,
                loc: Loc::new(9, 9),
            },
            Block::Heading {
                level: 2,
                text: "Inherited level".into(),
                anchor: None,
                loc: Loc::new(10, 10),
            },
            Block::Text {
                text: "shown".into(),
                loc: Loc::new(11, 11),
            },
        ];
        assert_eq!(parsed.blocks, expect);
    }

    #[test]
    fn core_title_wins_and_builtin_style_ids_work_without_styles_xml() {
        let core = r#"<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Core &amp; Title</dc:title></cp:coreProperties>"#;
        let body = [
            para(Some("Title"), "Styled"),
            para(Some("Heading3"), "Deep"),
        ]
        .concat();
        let bytes = docx(&[
            ("word/document.xml", &document(&body)),
            ("docProps/core.xml", core),
        ]);
        let parsed = read(&bytes, &Budget::unlimited()).unwrap();
        assert_eq!(parsed.title.as_deref(), Some("Core & Title"));
        assert!(
            matches!(&parsed.blocks[1], Block::Heading { level: 3, text, .. } if text == "Deep")
        );
    }

    #[test]
    fn refuses_broken_files_and_bombs() {
        let err = read(b"PK\x03\x04 not really", &Budget::unlimited()).unwrap_err();
        assert_eq!(err.reason, SkipReason::ParseError);
        let err = read(&docx(&[("word/other.xml", "<x/>")]), &Budget::unlimited()).unwrap_err();
        assert_eq!(err.reason, SkipReason::ParseError);
        assert!(err.detail.contains("document.xml"), "{err}");
        let err = read(
            &docx(&[("word/document.xml", "<w:document><w:body>")]),
            &Budget::unlimited(),
        )
        .unwrap_err();
        assert_eq!(err.reason, SkipReason::ParseError, "{err}");

        // 8 MB of one repeated paragraph compresses ~1000x: refused as a bomb, and with a
        // small output cap refused by size.
        let body = para(None, "aaaaaaaa").repeat(8 << 20 >> 6);
        let bomb = docx(&[("word/document.xml", &document(&body))]);
        let err = read(&bomb, &Budget::unlimited()).unwrap_err();
        assert_eq!(err.reason, SkipReason::TooLarge, "{err}");
        let err = read(&sample(), &Budget::new(Duration::from_secs(60), 100)).unwrap_err();
        assert_eq!(err.reason, SkipReason::TooLarge, "{err}");
    }

    #[test]
    fn mutations_never_panic() {
        let sample = sample();
        let mut zip = ZipArchive::new(Cursor::new(sample.as_slice())).unwrap();
        let mut used = 0;
        let budget = Budget::unlimited();
        let xml = read_entry(&mut zip, "word/document.xml", &budget, &mut used)
            .unwrap()
            .unwrap();
        let styles = parse_styles(STYLES.as_bytes());
        let mut rng = crate::read::testing::Rng::new(0x2545_F491_4F6C_DD1D);
        for round in 0..3000 {
            let bytes = crate::read::testing::mutate(&sample, round, &mut rng);
            let budget = Budget::new(Duration::from_secs(10), 1 << 20);
            let started = std::time::Instant::now();
            let _ = read(&bytes, &budget);
            // Zip CRCs stop most corruption before the XML parser: feed it mutated XML too.
            let mut xml = xml.clone();
            if round % 2 == 0 {
                xml.truncate(rng.next() as usize % xml.len());
            } else {
                for _ in 0..=(rng.next() % 8) {
                    let at = rng.next() as usize % xml.len();
                    xml[at] = rng.next() as u8;
                }
            }
            let _ = parse_document(&xml, &styles, &budget);
            let _ = parse_styles(&xml);
            assert!(started.elapsed() < Duration::from_secs(10), "round {round}");
        }
    }
}
