//! Jupyter notebook reader: markdown cells as headings and Markdown text, code cells as code
//! in the kernel's language, and their text outputs (shortened), each located by its
//! 1-based cell number.
//!
//! Outputs are kept because they often hold the answer a reader is after (a printed value,
//! an error message), but they are truncated: a cell that prints a million log lines or a
//! base64 blob must not drown the notebook's prose. Images and other binary outputs are
//! dropped. nbformat 4 is the format; nbformat 3's `worksheets` layout is read too since it
//! costs a few lines.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
use serde_json::Value;

use super::{Block, Budget, Loc, LocUnit, Parsed, ReadError};

/// Outputs of one cell beyond this many characters are cut.
const OUTPUT_MAX_CHARS: usize = 2_000;
/// Outputs of one cell beyond this many lines are cut.
const OUTPUT_MAX_LINES: usize = 40;
const TRUNCATED: &str = "… (truncated)";

/// Reads a decoded notebook.
pub fn read(text: &str, budget: &Budget) -> Result<Parsed, ReadError> {
    budget.check()?;
    let nb: Value = serde_json::from_str(text)
        .map_err(|e| ReadError::parse(format!("not valid notebook JSON: {e}")))?;
    let Some(top) = nb.as_object() else {
        return Err(ReadError::parse("a notebook is a JSON object"));
    };
    budget.check()?;
    let meta = top.get("metadata");
    let kernel_lang = meta
        .and_then(|m| {
            str_at(m, &["kernelspec", "language"])
                .or_else(|| str_at(m, &["language_info", "name"]))
                .or_else(|| str_at(m, &["language"]))
        })
        .map(str::to_ascii_lowercase);
    let cells: Vec<&Value> = if let Some(cells) = top.get("cells").and_then(Value::as_array) {
        cells.iter().collect()
    } else if let Some(sheets) = top.get("worksheets").and_then(Value::as_array) {
        sheets
            .iter()
            .filter_map(|w| w.get("cells").and_then(Value::as_array))
            .flatten()
            .collect()
    } else {
        return Err(ReadError::parse("a notebook has a `cells` list"));
    };

    let mut out = Out {
        blocks: Vec::new(),
        produced: 0,
        budget,
    };
    for (n, cell) in cells.iter().enumerate() {
        budget.check()?;
        let number = u32::try_from(n + 1).unwrap_or(u32::MAX);
        let loc = Loc::new(number, number);
        let kind = cell.get("cell_type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "markdown" => markdown_cell(&joined(cell.get("source")), loc, &mut out)?,
            "heading" => {
                // nbformat 3 heading cells.
                let text = joined(cell.get("source")).trim().to_string();
                let level = cell.get("level").and_then(Value::as_u64).unwrap_or(1);
                out.push(Block::Heading {
                    level: u8::try_from(level.clamp(1, 6)).unwrap_or(1),
                    anchor: anchor_of(&text),
                    text,
                    loc,
                })?;
            }
            "code" => {
                let source = joined(cell.get("source").or_else(|| cell.get("input")));
                let lang = cell
                    .get("language")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
                    .or_else(|| kernel_lang.clone());
                if !source.trim().is_empty() {
                    out.push(Block::Code {
                        lang,
                        text: source,
                        loc,
                    })?;
                }
                let outputs = cell.get("outputs").and_then(Value::as_array);
                let text = outputs
                    .into_iter()
                    .flatten()
                    .filter_map(output_text)
                    .filter(|t| !t.trim().is_empty())
                    .collect::<Vec<_>>()
                    .join("\n");
                if !text.trim().is_empty() {
                    out.push(Block::Code {
                        lang: None,
                        text: truncate(&text),
                        loc,
                    })?;
                }
            }
            "raw" => {
                let source = joined(cell.get("source"));
                if !source.trim().is_empty() {
                    out.push(Block::Text {
                        text: source.trim().to_string(),
                        loc,
                    })?;
                }
            }
            _ => {}
        }
    }
    let title = meta
        .and_then(|m| m.get("title"))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .or_else(|| {
            out.blocks.iter().find_map(|b| match b {
                Block::Heading { text, .. } => Some(text.clone()),
                _ => None,
            })
        });
    Ok(Parsed {
        title,
        unit: LocUnit::Cells,
        blocks: out.blocks,
    })
}

struct Out<'b> {
    blocks: Vec<Block>,
    produced: usize,
    budget: &'b Budget,
}

impl Out<'_> {
    fn push(&mut self, block: Block) -> Result<(), ReadError> {
        self.produced += block.text().len();
        self.budget.check_size(self.produced)?;
        self.blocks.push(block);
        Ok(())
    }
}

/// The string at a path of object keys.
fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// nbformat "multiline strings" are a string or a list of strings (lines with their `\n`).
fn joined(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// The anchor Jupyter gives a Markdown heading: its text with spaces as hyphens.
fn anchor_of(text: &str) -> Option<String> {
    let a = text.split_whitespace().collect::<Vec<_>>().join("-");
    (!a.is_empty()).then_some(a)
}

/// A markdown cell's headings as heading blocks and the Markdown between them as text.
fn markdown_cell(source: &str, loc: Loc, out: &mut Out<'_>) -> Result<(), ReadError> {
    let mut text_from = 0;
    let mut heading: Option<(u8, String, usize)> = None;
    let flush_text = |from: usize, to: usize, out: &mut Out<'_>| {
        let text = source.get(from..to).unwrap_or("").trim();
        if text.is_empty() {
            Ok(())
        } else {
            out.push(Block::Text {
                text: text.to_string(),
                loc,
            })
        }
    };
    for (event, range) in Parser::new_ext(source, Options::empty()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                flush_text(text_from, range.start, out)?;
                heading = Some((level as u8, String::new(), range.end));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text, end)) = heading.take() {
                    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    if !text.is_empty() {
                        out.push(Block::Heading {
                            level,
                            anchor: anchor_of(&text),
                            text,
                            loc,
                        })?;
                    }
                    text_from = end.max(range.end);
                }
            }
            Event::Text(t) | Event::Code(t) | Event::InlineMath(t) => {
                if let Some((_, text, _)) = heading.as_mut() {
                    text.push_str(&t);
                }
            }
            Event::SoftBreak | Event::HardBreak => {
                if let Some((_, text, _)) = heading.as_mut() {
                    text.push(' ');
                }
            }
            _ => {}
        }
    }
    flush_text(text_from, source.len(), out)
}

/// The readable text of one output: stream text, the plain or Markdown form of a result
/// (unless it is only the caption of an image), or an error's traceback.
fn output_text(o: &Value) -> Option<String> {
    let kind = o.get("output_type").and_then(Value::as_str)?;
    match kind {
        "stream" => Some(strip_ansi(&joined(o.get("text")))),
        "execute_result" | "display_data" | "pyout" | "update_display_data" => {
            // nbformat 4 nests representations under `data`; nbformat 3 puts them inline.
            let data = o.get("data").unwrap_or(o);
            let has_image = data.as_object().is_some_and(|d| {
                d.keys().any(|k| {
                    k.starts_with("image/") || matches!(k.as_str(), "png" | "jpeg" | "svg")
                })
            });
            if let Some(md) = data.get("text/markdown") {
                return Some(joined(Some(md)));
            }
            if has_image {
                return None;
            }
            data.get("text/plain")
                .or_else(|| data.get("text"))
                .map(|t| strip_ansi(&joined(Some(t))))
        }
        "error" | "pyerr" => {
            let tb = joined_lines(o.get("traceback"));
            if tb.trim().is_empty() {
                let name = o.get("ename").and_then(Value::as_str).unwrap_or("Error");
                let value = o.get("evalue").and_then(Value::as_str).unwrap_or("");
                Some(format!("{name}: {value}"))
            } else {
                Some(strip_ansi(&tb))
            }
        }
        _ => None,
    }
}

/// Traceback entries are separate strings without their newlines.
fn joined_lines(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        other => joined(other),
    }
}

/// Removes terminal escape sequences (colours in tracebacks and progress bars).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match chars.next() {
            // CSI: parameters and intermediates, then one final byte in @..~.
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            // OSC: up to BEL or ESC \.
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\u{7}' {
                        break;
                    }
                    if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                        chars.next();
                        break;
                    }
                }
            }
            // Two-character escapes (ESC plus one).
            _ => {}
        }
    }
    out
}

/// Cuts an output to its first lines and characters, saying so.
fn truncate(text: &str) -> String {
    let text = text.trim_end();
    let mut end = text.len();
    if let Some((i, _)) = text.match_indices('\n').nth(OUTPUT_MAX_LINES - 1) {
        end = i;
    }
    if let Some((i, _)) = text.char_indices().nth(OUTPUT_MAX_CHARS) {
        end = end.min(i);
    }
    if end == text.len() {
        return text.to_string();
    }
    format!("{}\n{TRUNCATED}", text[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use super::super::SkipReason;
    use super::*;

    const NOTEBOOK: &str = r###"{
 "cells": [
  {
   "cell_type": "markdown",
   "metadata": {},
   "source": [
    "# Loading data\n",
    "\n",
    "We read the **CSV** file first.\n",
    "\n",
    "## The `read_csv` call\n",
    "It takes a path."
   ]
  },
  {
   "cell_type": "code",
   "execution_count": 1,
   "metadata": {},
   "outputs": [
    {
     "name": "stdout",
     "output_type": "stream",
     "text": [
      "rows: 3\n"
     ]
    },
    {
     "data": {
      "text/html": ["<table><tr><td>1</td></tr></table>"],
      "text/plain": ["   a  b\n", "0  1  2"]
     },
     "execution_count": 1,
     "metadata": {},
     "output_type": "execute_result"
    }
   ],
   "source": [
    "import pandas as pd\n",
    "df = pd.read_csv('data.csv')\n",
    "print('rows:', len(df))\n",
    "df.head()"
   ]
  },
  {
   "cell_type": "code",
   "execution_count": 2,
   "metadata": {},
   "outputs": [
    {
     "data": {
      "image/png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk",
      "text/plain": ["<Figure size 640x480 with 1 Axes>"]
     },
     "metadata": {},
     "output_type": "display_data"
    }
   ],
   "source": "df.plot()"
  },
  {
   "cell_type": "code",
   "execution_count": 3,
   "metadata": {},
   "outputs": [
    {
     "ename": "KeyError",
     "evalue": "'c'",
     "output_type": "error",
     "traceback": [
      "\u001b[0;31m---------------------------------------------------------------------------\u001b[0m",
      "\u001b[0;31mKeyError\u001b[0m                                  Traceback (most recent call last)",
      "\u001b[0;31mKeyError\u001b[0m: 'c'"
     ]
    }
   ],
   "source": ["df['c']"]
  },
  {
   "cell_type": "raw",
   "metadata": {},
   "source": []
  }
 ],
 "metadata": {
  "kernelspec": {
   "display_name": "Python 3 (ipykernel)",
   "language": "python",
   "name": "python3"
  },
  "language_info": {"name": "python", "version": "3.11.4"}
 },
 "nbformat": 4,
 "nbformat_minor": 5
}"###;

    #[test]
    fn reads_cells_headings_code_and_outputs() {
        let p = read(NOTEBOOK, &Budget::unlimited()).unwrap();
        assert_eq!(p.unit, LocUnit::Cells);
        assert_eq!(p.title.as_deref(), Some("Loading data"));
        let c1 = Loc::new(1, 1);
        let c2 = Loc::new(2, 2);
        assert_eq!(
            p.blocks[..4],
            [
                Block::Heading {
                    level: 1,
                    text: "Loading data".into(),
                    anchor: Some("Loading-data".into()),
                    loc: c1
                },
                Block::Text {
                    text: "We read the **CSV** file first.".into(),
                    loc: c1
                },
                Block::Heading {
                    level: 2,
                    text: "The read_csv call".into(),
                    anchor: Some("The-read_csv-call".into()),
                    loc: c1
                },
                Block::Text {
                    text: "It takes a path.".into(),
                    loc: c1
                },
            ]
        );
        assert_eq!(
            p.blocks[4],
            Block::Code {
                lang: Some("python".into()),
                text: "import pandas as pd\ndf = pd.read_csv('data.csv')\nprint('rows:', len(df))\ndf.head()".into(),
                loc: c2
            }
        );
        assert_eq!(
            p.blocks[5],
            Block::Code {
                lang: None,
                text: "rows: 3\n\n   a  b\n0  1  2".into(),
                loc: c2
            }
        );
        // The figure's caption is dropped with its image; the plot call stays.
        assert_eq!(
            p.blocks[6],
            Block::Code {
                lang: Some("python".into()),
                text: "df.plot()".into(),
                loc: Loc::new(3, 3)
            }
        );
        assert_eq!(p.blocks[7].loc(), Loc::new(4, 4));
        let Block::Code { text, .. } = &p.blocks[8] else {
            panic!("traceback block")
        };
        assert!(!text.contains('\u{1b}'), "{text:?}");
        assert!(text.ends_with("KeyError: 'c'"), "{text:?}");
        assert_eq!(p.blocks.len(), 9);
    }

    #[test]
    fn long_output_is_truncated() {
        let lines: Vec<String> = (0..500).map(|i| format!("\"line {i}\\n\"")).collect();
        let nb = format!(
            r#"{{"cells":[{{"cell_type":"code","source":"for i in range(500): print(i)","outputs":[{{"output_type":"stream","name":"stdout","text":[{}]}}]}}],"metadata":{{}},"nbformat":4}}"#,
            lines.join(",")
        );
        let p = read(&nb, &Budget::unlimited()).unwrap();
        let Block::Code { text, .. } = &p.blocks[1] else {
            panic!("output block")
        };
        assert!(text.ends_with(TRUNCATED));
        assert_eq!(text.lines().count(), OUTPUT_MAX_LINES + 1);
        assert!(text.starts_with("line 0\nline 1\n"));
        let long = "x".repeat(10_000);
        let cut = truncate(&long);
        assert_eq!(
            cut.chars().count(),
            OUTPUT_MAX_CHARS + 1 + TRUNCATED.chars().count()
        );
    }

    #[test]
    fn nbformat3_worksheets() {
        let nb = r#"{"metadata":{"name":"old"},"nbformat":3,"worksheets":[{"cells":[
            {"cell_type":"heading","level":2,"source":["Old style"]},
            {"cell_type":"code","language":"python","input":["x = 1\n","x"],"outputs":[{"output_type":"pyout","text":["1"],"prompt_number":1}]},
            {"cell_type":"markdown","source":"Some prose."}]}]}"#;
        let p = read(nb, &Budget::unlimited()).unwrap();
        assert_eq!(
            p.blocks,
            [
                Block::Heading {
                    level: 2,
                    text: "Old style".into(),
                    anchor: Some("Old-style".into()),
                    loc: Loc::new(1, 1)
                },
                Block::Code {
                    lang: Some("python".into()),
                    text: "x = 1\nx".into(),
                    loc: Loc::new(2, 2)
                },
                Block::Code {
                    lang: None,
                    text: "1".into(),
                    loc: Loc::new(2, 2)
                },
                Block::Text {
                    text: "Some prose.".into(),
                    loc: Loc::new(3, 3)
                },
            ]
        );
    }

    #[test]
    fn broken_json_is_a_parse_error_with_position() {
        let err = read(
            "{\"cells\": [\n  {\"cell_type\": }\n]}",
            &Budget::unlimited(),
        )
        .unwrap_err();
        assert_eq!(err.reason, SkipReason::ParseError);
        assert!(err.detail.contains("line 2"), "{}", err.detail);
        let err = read("[1, 2]", &Budget::unlimited()).unwrap_err();
        assert_eq!(err.reason, SkipReason::ParseError);
        let err = read("{\"metadata\": {}}", &Budget::unlimited()).unwrap_err();
        assert_eq!(err.reason, SkipReason::ParseError);
    }

    #[test]
    fn metadata_title_wins() {
        let nb = r##"{"metadata":{"title":"Given title"},"cells":[{"cell_type":"markdown","source":"# Heading"}]}"##;
        let p = read(nb, &Budget::unlimited()).unwrap();
        assert_eq!(p.title.as_deref(), Some("Given title"));
    }

    #[test]
    fn strips_ansi_sequences() {
        assert_eq!(
            strip_ansi("\u{1b}[1;31mred\u{1b}[0m \u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{7} ok"),
            "red link ok"
        );
    }

    #[test]
    fn output_cap_is_enforced() {
        let err = read(
            NOTEBOOK,
            &Budget::new(std::time::Duration::from_secs(60), 20),
        )
        .unwrap_err();
        assert_eq!(err.reason, SkipReason::TooLarge);
    }

    #[test]
    fn mutated_and_truncated_notebooks_never_panic() {
        let budget = Budget::new(std::time::Duration::from_secs(60), 10_000_000);
        for cut in (0..NOTEBOOK.len()).step_by(97) {
            assert!(read(&NOTEBOOK[..cut], &budget).is_err());
        }
        let pieces = [
            "{",
            "}",
            "[",
            "]",
            "\"",
            ",",
            ":",
            "null",
            "1",
            "\"# h\\n\"",
            "\\u001b[",
            "é",
            "\"outputs\"",
        ];
        let mut state = crate::read::testing::Rng::new(0x1234_5678_9ABC_DEF1);
        let mut parsed = 0;
        for _ in 0..3000 {
            let mut s: Vec<char> = NOTEBOOK.chars().collect();
            for _ in 0..(1 + state.next() % 4) {
                let at = (state.next() as usize) % (s.len() + 1);
                match state.next() % 3 {
                    0 => {
                        let piece = pieces[(state.next() as usize) % pieces.len()];
                        s.splice(at..at, piece.chars());
                    }
                    1 => {
                        let end = (at + (state.next() as usize) % 20).min(s.len());
                        s.drain(at..end);
                    }
                    _ => {
                        // Swap a string value's character: keeps the JSON valid more often.
                        if at < s.len() && s[at].is_ascii_alphabetic() {
                            s[at] = (b'a' + (state.next() % 26) as u8) as char;
                        }
                    }
                }
            }
            let mutated: String = s.into_iter().collect();
            if read(&mutated, &budget).is_ok() {
                parsed += 1;
            }
        }
        // Some mutations must leave valid notebooks, or the test exercises only the JSON parser.
        assert!(parsed > 100, "only {parsed} mutated notebooks parsed");
    }

    /// Not a timed assertion: prints throughput for the report (`--nocapture`).
    #[test]
    fn speed_report() {
        let cell = r##"{"cell_type":"markdown","metadata":{},"source":["# Section\n","Some prose about the data, with a [link](http://x) and `code`.\n","\n","- a list item\n"]},
{"cell_type":"code","execution_count":1,"metadata":{},"outputs":[{"name":"stdout","output_type":"stream","text":["result 42\n"]}],"source":["x = compute()\n","print('result', x)\n"]}"##;
        let mut cells = Vec::new();
        let mut size = 0;
        while size < 4_000_000 {
            cells.push(cell);
            size += cell.len() + 1;
        }
        let nb = format!(
            r#"{{"cells":[{}],"metadata":{{"kernelspec":{{"language":"python"}}}},"nbformat":4,"nbformat_minor":5}}"#,
            cells.join(",")
        );
        let start = std::time::Instant::now();
        let p = read(&nb, &Budget::unlimited()).unwrap();
        let secs = start.elapsed().as_secs_f64();
        assert!(p.blocks.len() > cells.len());
        eprintln!(
            "ipynb reader: {:.1} MB in {:.3} s = {:.1} MB/s",
            nb.len() as f64 / 1e6,
            secs,
            nb.len() as f64 / 1e6 / secs
        );
    }
}
