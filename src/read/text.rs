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
//!
//! Vim's help files (`*usr_05.txt*` on the first line; Vim's own manual and every plugin's
//! `doc/*.txt`) mark sections their own way, and are read by it: a title under a line of
//! `=`, `*tags*` (jump targets) right of a heading, and a line of tags alone above an entry
//! (an option, a command). Tags are left out of the heading text; each tagged entry is a
//! section of its own, so a hit on `options.txt` cites `'tabstop' 'ts'`.

use super::{Block, HeadingAt, Loc};

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
    /// An entry of a Vim help file, under its line of tags.
    Entry,
}

/// Longest name of a Vim help entry ("'tabstop' 'ts'", ":no[remap] {lhs} {rhs}").
const MAX_ENTRY_CHARS: usize = 50;
/// Shortest `=` rule that opens a section of a Vim help file (Vim draws 78).
const MIN_HELP_RULE: usize = 40;

/// The headings of `text`, in order, with byte offsets into `text` (the start of the
/// heading line, or of its overline). Levels follow the order in which underline styles
/// first appear (as reStructuredText assigns them), then a section number's depth, then
/// capitals, then a Vim help file's entries.
pub fn headings(text: &str) -> Vec<HeadingAt> {
    let help = is_vim_help(text);
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
        if help {
            if let Some((skip, style, t)) = help_heading(&lines[i..]) {
                found.push((lines[i].offset, style, t));
                i += skip;
                continue;
            }
        }
        let blank = |l: &Line| words(l, help).trim().is_empty();
        let before_blank = i == 0 || blank(&lines[i - 1]);
        // `strlen({string})  …  *strlen()*`: an entry tagged on its own line.
        let line = lines[i].text;
        let tagged = untag(line) != line.trim_end();
        // "1.1 MAP COMMANDS  *:map-commands*" is a section, not an entry.
        let section = || numbered(untag(line)).is_some() || caps(untag(line)).is_some();
        if help && before_blank && tagged && !line.starts_with([' ', '\t']) && !section() {
            if let Some(t) = entry_title(line) {
                found.push((lines[i].offset, Style::Entry, t));
                i += 1;
                continue;
            }
        }
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
        let after_blank = lines.get(i + 1).is_none_or(blank);
        if before_blank && after_blank {
            let line = words(&lines[i], help);
            if let Some((parts, t)) = numbered(line) {
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
            } else if let Some(t) = caps(line) {
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
        Style::Underline(..) | Style::Entry => true,
    });
    let caps_levels = usize::from(found.iter().any(|(_, s, _)| *s == Style::Caps));

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
                Style::Entry => base + numbered_levels + caps_levels + 1,
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

/// A line's text as heading rules see it: in a Vim help file its tags are not its text, and
/// a line of tags alone is blank.
fn words<'a>(line: &Line<'a>, help: bool) -> &'a str {
    if help {
        untag(line.text)
    } else {
        line.text.trim_end()
    }
}

/// A verbatim block that holds a whole Vim help file, as its headings and the verbatim text
/// between them: vim2html, which makes vim-doc's HTML, writes each help file as one `<pre>`.
/// `loc` is the block's source lines; `None` when the text is not Vim help, has no headings,
/// or does not hold one line per source line (its headings could not be placed).
pub fn help_blocks(text: &str, loc: Loc) -> Option<Vec<Block>> {
    let text = text.trim_matches('\n');
    let lines = text.split('\n').count();
    if !is_vim_help(text) || u64::from(loc.end - loc.start) + 1 != lines as u64 {
        return None;
    }
    let heads = headings(text);
    if heads.is_empty() {
        return None;
    }
    let line_of = |offset: usize| loc.start + text[..offset].matches('\n').count() as u32;
    let mut blocks = Vec::with_capacity(2 * heads.len() + 1);
    let verbatim = |blocks: &mut Vec<Block>, from: usize, to: usize| {
        let part = &text[from..to];
        let lead = part.len() - part.trim_start_matches('\n').len();
        let body = part.trim_matches('\n');
        if !body.trim().is_empty() {
            let first = line_of(from + lead);
            blocks.push(Block::Code {
                lang: None,
                text: body.to_string(),
                loc: Loc::new(first, first + body.matches('\n').count() as u32),
            });
        }
    };
    let mut from = 0;
    for h in heads {
        verbatim(&mut blocks, from, h.offset);
        let at = line_of(h.offset);
        blocks.push(Block::Heading {
            level: h.level,
            text: h.text,
            anchor: None,
            loc: Loc::new(at, at),
        });
        from = h.offset;
    }
    verbatim(&mut blocks, from, text.len());
    Some(blocks)
}

/// Whether `text` is a Vim help file: its first line names it as a tag (`*usr_05.txt*`), or
/// its modeline sets `ft=help`.
fn is_vim_help(text: &str) -> bool {
    let first = text.lines().next().unwrap_or("").trim_start();
    let named = first
        .strip_prefix('*')
        .and_then(|t| t.split_once('*'))
        .is_some_and(|(name, _)| name.ends_with(".txt") && !name.contains(char::is_whitespace));
    named
        || text
            .lines()
            .rev()
            .take(3)
            .any(|l| l.contains("vim:") && (l.contains("ft=help") || l.contains("filetype=help")))
}

/// `line` without the `*tags*` at its end ("1.1 MAP COMMANDS\t\t*:map-commands*").
fn untag(line: &str) -> &str {
    let mut t = line.trim_end();
    while let Some(rest) = t.strip_suffix('*') {
        let Some(open) = rest.rfind(['*', ' ', '\t']) else {
            break;
        };
        let tag = &rest[open + 1..];
        if rest.as_bytes()[open] != b'*' || tag.is_empty() || tag.contains('|') {
            break;
        }
        let before = &rest[..open];
        if !(before.is_empty() || before.ends_with([' ', '\t'])) {
            break;
        }
        t = before.trim_end();
    }
    t
}

/// A heading of a Vim help file at the start of `lines`: how many lines it takes, its style
/// and its text. A rule of `=` opens a section, titled by the next line with text; a line
/// of tags alone (set right of the text) names the entry on the line under it, whose first
/// field ("'tabstop' 'ts'", before the type and default) is its title.
fn help_heading(lines: &[Line]) -> Option<(usize, Style, String)> {
    let first = lines.first()?.text.trim();
    if rule_char(first) == Some('=') && first.len() >= MIN_HELP_RULE {
        let gap = lines[1..].iter().take_while(|l| l.blank()).count();
        let title = lines.get(1 + gap)?;
        let t = untag(title.text).trim();
        // `*05.1*  The vimrc file`: the section number is a tag too.
        let t = match t.strip_prefix('*').and_then(|r| r.split_once('*')) {
            Some((number, rest)) => format!("{number} {rest}"),
            None => t.to_string(),
        };
        return heading_text(&t).map(|t| (2 + gap, Style::Underline('=', true), t));
    }
    let tags = lines[0].text;
    let entry = lines.get(1)?.text;
    let only_tags =
        !tags.trim().is_empty() && tags.starts_with([' ', '\t']) && untag(tags).trim().is_empty();
    if !only_tags || entry.starts_with([' ', '\t']) || entry.trim().is_empty() {
        return None;
    }
    entry_title(entry).map(|t| (1, Style::Entry, t))
}

/// The name of the Vim help entry `line` starts (its first field, before a tab), unless
/// the line is a sentence: a tag may name a paragraph too.
fn entry_title(line: &str) -> Option<String> {
    let mut fields = untag(line).split('\t').filter(|f| !f.trim().is_empty());
    let mut field = fields.next().unwrap_or("").trim().to_string();
    // `:map<Tab>{lhs} {rhs}`: a command's arguments are part of its name.
    if let Some(args) = fields
        .next()
        .filter(|f| f.trim_start().starts_with(['{', '[']))
    {
        field = format!("{field} {}", args.trim());
    }
    let sentence = field.chars().count() > MAX_ENTRY_CHARS
        || field.ends_with(['.', ',', ':', ';', '>'])
        || field.contains(". ");
    if sentence {
        return None;
    }
    heading_text(&field)
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
    let parts = section_number(&t[..number_end])?;
    let closed = t[..number_end].ends_with('.') || t[number_end..].starts_with(')');
    // "2 methods are …": a single number needs its "." or ")" to be a section's.
    if parts == 1 && !closed {
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
    heading_text(line).map(|text| (parts, text))
}

/// How many parts a section number has ("1.", "1.2", "36.209.1"): each one to three digits
/// (so a year is not one), at most five. `None` for anything else.
pub fn section_number(number: &str) -> Option<usize> {
    let number = number.trim_end_matches('.');
    let mut parts = 0;
    for part in number.split('.') {
        if !(1..=3).contains(&part.len()) || !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        parts += 1;
    }
    (parts <= MAX_NUMBER_PARTS).then_some(parts)
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

    /// Vim's help format (usr_05.txt, map.txt, options.txt, builtin.txt, as Vim 9.0 ships
    /// them): `=` rules open sections, tags are left out of titles, and entries under a line
    /// of tags or tagged on their own line are sections of their own.
    #[test]
    fn vim_help_sections_and_entries() {
        let rule = "=".repeat(78);
        let help = format!(
            "*map.txt*       For Vim version 9.0.  Last change: 2022 Dec 01\n\n\
             1. Key mapping\t\t|key-mapping|\n\
             2. Abbreviations\t\t|abbreviations|\n\n\
             {rule}\n\
             1. Key mapping\t\t\t\t*key-mapping* *mapping* *macro*\n\n\
             Key mapping is used to change the meaning of typed keys.\n\n\
             1.1 MAP COMMANDS\t\t\t\t\t*:map-commands*\n\n\
             There are commands to enter new mappings.\n\n\
             :map\t{{lhs}} {{rhs}}\t\t|mapmode-nvo|\t\t*:map*\n\
             :nm[ap]\t{{lhs}} {{rhs}}\t\t|mapmode-n|\t\t*:nm* *:nmap*\n\n\
             \t\t\t\t\t\t*map-ambiguous*\n\
             When two mappings start with the same sequence of characters, they are\n\
             ambiguous.\n\n\
             \t\t\t\t\t\t*'tabstop'* *'ts'*\n\
             'tabstop' 'ts'\t\tnumber\t(default 8)\n\
             \t\t\tlocal to buffer\n\n\
             1.2 SPECIAL ARGUMENTS\t\t\t\t*:map-arguments*\n\n\
             If the first argument is \"<buffer>\" the mapping is local.\n\n\
             {rule}\n\
             *05.1*\tThe vimrc file\t\t\t\t\t*vimrc-intro*\n\n\
             You probably got tired of typing commands.\n\n\
             vim:tw=78:ts=8:noet:ft=help:norl:\n"
        );
        assert_eq!(
            trail(&help),
            vec![
                (1, "1. Key mapping".to_string()),
                (2, "1.1 MAP COMMANDS".to_string()),
                (3, ":map {lhs} {rhs}".to_string()),
                (3, "'tabstop' 'ts'".to_string()),
                (2, "1.2 SPECIAL ARGUMENTS".to_string()),
                (1, "05.1 The vimrc file".to_string()),
            ]
        );
        // The same lines outside a help file are plain text: tags stay, no entries.
        let plain = help
            .replacen("*map.txt*", "map.txt", 1)
            .replace("ft=help", "");
        assert!(trail(&plain).iter().all(|(_, t)| !t.contains("tabstop")));
        assert_eq!(
            untag("1.1 MAP COMMANDS\t*:map-commands* *x*"),
            "1.1 MAP COMMANDS"
        );
        assert_eq!(untag("a*b* c"), "a*b* c");
        assert_eq!(untag("**"), "**");
        assert_eq!(untag("see |x| *"), "see |x| *");
    }

    #[test]
    fn help_blocks_place_headings_at_their_lines() {
        let rule = "=".repeat(60);
        let help =
            format!("*a.txt*\tFor Vim\n\nIntro.\n\n{rule}\n1. Usage\t\t*a-usage*\n\nUse it.\n");
        let blocks = help_blocks(&format!("\n{help}"), Loc::new(10, 17)).expect("help");
        let got: Vec<(Option<u8>, Loc)> = blocks
            .iter()
            .map(|b| match b {
                Block::Heading { level, .. } => (Some(*level), b.loc()),
                _ => (None, b.loc()),
            })
            .collect();
        assert_eq!(
            got,
            [
                (None, Loc::new(10, 12)),
                (Some(1), Loc::new(14, 14)),
                (None, Loc::new(14, 17)),
            ]
        );
        // Not help, or lines that do not match the source: the caller keeps one block.
        assert!(help_blocks("Intro.\n\n1. Usage\n", Loc::new(1, 3)).is_none());
        assert!(help_blocks(&help, Loc::new(1, 3)).is_none());
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
            "*a.txt*\n*\n\t*x*\n",
            "*a.txt*\n======================================================================\n",
            "*a.txt*\n\t*t*\n*\n",
        ] {
            let _ = headings(t);
        }
        let crlf = "Title\r\n=====\r\n\r\nBody\r\n";
        assert_eq!(trail(crlf), vec![(1, "Title".to_string())]);
    }
}
