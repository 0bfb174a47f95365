//! Section headings of a plain-text file (README, FAQ, INSTALL, a `.txt` guide).
//!
//! Plain text is chunked as it is, but its sections are still visible to a reader: a line
//! underlined with `===` or `---`, a numbered line set apart by blank lines ("1.2 What is
//! libcurl?"), a short line in capitals ("INSTALLATION"). Found here, they give each chunk a
//! heading trail (which is embedded and indexed with it) and a place to cut, so one chunk is
//! one FAQ answer under its question rather than the tail of one and the head of the next.
//!
//! The rules only take a line that a reader would take for a heading: set apart by blank
//! lines, short, with letters. A table of contents (numbered lines one after another) and a
//! list of steps (`1.`, `2.`, … each followed by the next step) are not headings.

use super::HeadingAt;

/// Longest heading line, in characters.
const MAX_HEADING_CHARS: usize = 100;
/// Longest line in capitals taken for a heading.
const MAX_CAPS_CHARS: usize = 60;
/// Deepest section number taken ("1.2.3.4.5").
const MAX_NUMBER_PARTS: usize = 5;

/// One line of the file: its byte offset and text without the line break.
struct Line<'a> {
    offset: usize,
    text: &'a str,
}

impl Line<'_> {
    fn blank(&self) -> bool {
        self.text.trim().is_empty()
    }
}

/// How a heading is marked: underlined (with overline or not) by a character, numbered with
/// this many parts, or a line in capitals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Underline(char, bool),
    Numbered(usize),
    Caps,
}

/// The headings of `text`, in order, with byte offsets into `text` (the start of the
/// heading line, or of its overline). Levels follow the order in which underline styles
/// first appear (as reStructuredText assigns them), then a section number's depth, then
/// capitals.
pub fn headings(text: &str) -> Vec<HeadingAt> {
    let mut lines = Vec::new();
    let mut offset = 0;
    for raw in text.split_inclusive('\n') {
        let body = raw.trim_end_matches(['\n', '\r']);
        lines.push(Line { offset, text: body });
        offset += raw.len();
    }
    let mut found: Vec<(usize, Style, String)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let before_blank = i == 0 || lines[i - 1].blank();
        // Overline, title, underline.
        if let (Some(c), Some(t), Some(under)) = (
            rule_char(lines[i].text).filter(|_| before_blank),
            lines.get(i + 1).and_then(|l| heading_text(l.text)),
            lines.get(i + 2).and_then(|l| rule_char(l.text)),
        ) {
            if c == under {
                found.push((lines[i].offset, Style::Underline(c, true), t));
                i += 3;
                continue;
            }
        }
        // Title, underline at least half as long.
        if let (Some(t), Some(c)) = (
            heading_text(lines[i].text).filter(|_| before_blank),
            lines.get(i + 1).and_then(|l| rule_char(l.text)),
        ) {
            let under = lines[i + 1].text.trim().chars().count();
            if under * 2 >= t.chars().count() && !lines[i].text.starts_with(char::is_whitespace) {
                found.push((lines[i].offset, Style::Underline(c, false), t));
                i += 2;
                continue;
            }
        }
        let after_blank = lines.get(i + 1).is_none_or(Line::blank);
        if before_blank && after_blank {
            if let Some((parts, t)) = numbered(lines[i].text) {
                // "1. Download", "2. Unpack": a list of steps, not sections.
                let one_part = |l: Option<&Line>| {
                    l.is_some_and(|l| numbered(l.text).is_some_and(|(p, _)| p == 1))
                };
                let next = lines[i + 1..].iter().find(|l| !l.blank());
                let prev = lines[..i].iter().rev().find(|l| !l.blank());
                let step_list = parts == 1 && (one_part(next) || one_part(prev));
                if !step_list {
                    found.push((lines[i].offset, Style::Numbered(parts), t));
                }
            } else if let Some(t) = caps(lines[i].text) {
                found.push((lines[i].offset, Style::Caps, t));
            }
        }
        i += 1;
    }
    // A lone numbered or capitalised line is as likely an aside as a section.
    let count = |f: fn(&Style) -> bool| found.iter().filter(|(_, s, _)| f(s)).count();
    let numbered_count = count(|s| matches!(s, Style::Numbered(_)));
    let caps_count = count(|s| matches!(s, Style::Caps));
    found.retain(|(_, s, _)| match s {
        Style::Numbered(_) => numbered_count >= 2,
        Style::Caps => caps_count >= 2,
        Style::Underline(..) => true,
    });

    let mut underline_order: Vec<(char, bool)> = Vec::new();
    for (_, s, _) in &found {
        if let Style::Underline(c, over) = s {
            if !underline_order.contains(&(*c, *over)) {
                underline_order.push((*c, *over));
            }
        }
    }
    let base = underline_order.len();
    let parts = || {
        found.iter().filter_map(|(_, s, _)| match s {
            Style::Numbered(p) => Some(*p),
            _ => None,
        })
    };
    // The shallowest number present is the first numbered level ("1.1" alone is level 1).
    let min_parts = parts().min().unwrap_or(1);
    let numbered_levels = parts().max().map_or(0, |max| max - min_parts + 1);
    found
        .into_iter()
        .map(|(offset, style, text)| {
            let level = match style {
                Style::Underline(c, over) => {
                    underline_order
                        .iter()
                        .position(|&u| u == (c, over))
                        .unwrap_or(0)
                        + 1
                }
                Style::Numbered(parts) => base + parts - min_parts + 1,
                Style::Caps => base + numbered_levels + 1,
            };
            HeadingAt {
                offset,
                level: level.clamp(1, 6) as u8,
                text,
                anchor: None,
            }
        })
        .collect()
}

/// The character of a rule line (`=====`, `-----`, `~~~~~`): one punctuation character
/// repeated at least three times.
fn rule_char(line: &str) -> Option<char> {
    let t = line.trim();
    let c = t.chars().next()?;
    (t.chars().count() >= 3
        && matches!(c, '=' | '-' | '~' | '*' | '#' | '^' | '+' | '_')
        && t.chars().all(|x| x == c))
    .then_some(c)
}

/// The line as heading text, if it could be one: short, with letters, not a rule.
fn heading_text(line: &str) -> Option<String> {
    let t = line.trim();
    (!t.is_empty()
        && t.chars().count() <= MAX_HEADING_CHARS
        && t.chars().filter(|c| c.is_alphabetic()).count() >= 2
        && rule_char(t).is_none())
    .then(|| t.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// A numbered heading line ("1. Philosophy", "  1.2 What is libcurl?", "3.1) Setup"): how
/// many parts its number has, and its text (number included).
fn numbered(line: &str) -> Option<(usize, String)> {
    let indent = line.len() - line.trim_start().len();
    if indent > 4 {
        return None;
    }
    let t = line.trim();
    let number_end = t.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let number = t[..number_end].trim_end_matches('.');
    let parts: Vec<&str> = number.split('.').collect();
    if number.is_empty()
        || parts.len() > MAX_NUMBER_PARTS
        || parts.iter().any(|p| p.is_empty() || p.len() > 3)
    {
        return None;
    }
    let closed = t[..number_end].ends_with('.') || t[number_end..].starts_with(')');
    // "2 methods are …": a single number needs its "." or ")" to be a section's.
    if parts.len() == 1 && !closed {
        return None;
    }
    let rest = t[number_end..]
        .strip_prefix(')')
        .unwrap_or(&t[number_end..]);
    // "1.5 GB of disk" or "2023. A year": a number that is part of a sentence.
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let words = rest.trim();
    let first = words.chars().next()?;
    if !first.is_alphabetic() || words.ends_with(['.', ',', ';', ':']) {
        return None;
    }
    heading_text(line).map(|text| (parts.len(), text))
}

/// A short line in capitals ("INSTALLATION", "SEE ALSO"), without sentence punctuation.
fn caps(line: &str) -> Option<String> {
    let t = line.trim();
    let letters = t.chars().filter(|c| c.is_alphabetic()).count();
    (letters >= 4
        && t.chars().count() <= MAX_CAPS_CHARS
        && t.split_whitespace().count() <= 8
        && !line.starts_with(char::is_whitespace)
        && t.chars().all(|c| !c.is_lowercase())
        && !t.ends_with(['.', ',', ';', ':', '!']))
    .then(|| heading_text(t))
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(text: &str) -> Vec<(u8, String)> {
        headings(text)
            .into_iter()
            .map(|h| {
                assert!(text.is_char_boundary(h.offset));
                (h.level, h.text)
            })
            .collect()
    }

    /// libcurl's FAQ: a numbered table of contents, then numbered sections and questions.
    #[test]
    fn numbered_sections_and_questions_but_not_the_table_of_contents() {
        let faq = "                                  _   _ ____  _\n                              ___| | | |  _ \\| |\n\nFAQ\n\n 1. Philosophy\n  1.1 What is cURL?\n  1.2 What is libcurl?\n\n 2. Install Related Problems\n  2.1 configure fails when using static libraries\n\n==============================================================================\n\n1. Philosophy\n\n  1.1 What is cURL?\n\n  cURL is the name of the project. The name is a play on 'Client for URLs',\n  originally with URL spelled in uppercase.\n\n  1.2 What is libcurl?\n\n  libcurl is a reliable and portable library for doing Internet data transfers.\n\n2. Install Related Problems\n\n  2.1 configure fails when using static libraries\n\n  You may find that configure fails to properly detect the entire dependency\n  chain of libraries when you provide static versions of the libraries.\n";
        assert_eq!(
            trail(faq),
            vec![
                (1, "1. Philosophy".to_string()),
                (2, "1.1 What is cURL?".to_string()),
                (2, "1.2 What is libcurl?".to_string()),
                (1, "2. Install Related Problems".to_string()),
                (
                    2,
                    "2.1 configure fails when using static libraries".to_string()
                ),
            ]
        );
        let at = headings(faq)[1].offset;
        assert!(faq[at..].starts_with("  1.1 What is cURL?\n\n  cURL is"));
    }

    #[test]
    fn underlined_and_overlined_titles_take_levels_in_order_of_appearance() {
        let text = "=========\n Widget\n=========\n\nIntro text.\n\nInstalling\n==========\n\nRun the installer.\n\nFrom source\n-----------\n\nBuild it.\n\nUsing\n=====\n\nText.\n";
        assert_eq!(
            trail(text),
            vec![
                (1, "Widget".to_string()),
                (2, "Installing".to_string()),
                (3, "From source".to_string()),
                (2, "Using".to_string()),
            ]
        );
        // A rule under a paragraph's last line is not an underline: the line before it is
        // not set apart, and a separator alone is no heading.
        let prose = "Some text that goes on\nand ends here\n-------------\n\nmore\n\n----------\n";
        assert!(trail(prose).is_empty(), "{:?}", trail(prose));
    }

    #[test]
    fn capitals_set_apart_are_sections() {
        let readme = "Widget 2.1\n\nINSTALLATION\n\nRun make install.\n\nSEE ALSO\n\nThe manual.\n\nNOTE: THIS IS SHOUTED.\n\nAPI\n\nshort caps are left out.\n";
        assert_eq!(
            trail(readme),
            vec![(1, "INSTALLATION".to_string()), (1, "SEE ALSO".to_string())]
        );
        // One line in capitals alone is an aside.
        assert!(trail("Intro\n\nWARNING ABOUT THIS\n\nText.\n").is_empty());
    }

    #[test]
    fn steps_sentences_and_tables_of_contents_are_not_headings() {
        let steps =
            "To install:\n\n1. Download the archive\n\n2. Unpack it\n\n3. Run the installer\n";
        assert!(trail(steps).is_empty(), "{:?}", trail(steps));
        // Steps inside a document that has numbered sections stay steps.
        let both = format!("1.1 Getting it\n\nText.\n\n{steps}\n1.2 Using it\n\nText.\n");
        assert_eq!(
            trail(&both),
            vec![
                (1, "1.1 Getting it".to_string()),
                (1, "1.2 Using it".to_string())
            ]
        );
        let sentences = "Intro\n\n1.5 GB of disk space is needed.\n\n2023. A year of releases\n\n3. Done.\n\n4. Also done;\n\n2 methods are: a and b\n\n3 more methods are c and d\n";
        assert!(trail(sentences).is_empty(), "{:?}", trail(sentences));
        let toc = "Contents\n\n1. Intro\n2. Usage\n3. Limits\n";
        assert!(trail(toc).is_empty(), "{:?}", trail(toc));
    }

    #[test]
    fn odd_input_never_panics() {
        for t in [
            "",
            "\n",
            "=",
            "===\n",
            "1.\n",
            "1.1.1.1.1.1.1 x\n\n",
            "é\n===\n",
            "\r\n\r\n",
        ] {
            let _ = headings(t);
        }
        let crlf = "Title\r\n=====\r\n\r\nBody\r\n";
        assert_eq!(trail(crlf), vec![(1, "Title".to_string())]);
    }
}
