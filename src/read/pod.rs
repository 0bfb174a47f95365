//! Perl's POD (Plain Old Documentation, `perlpodspec`): `.pod` files, as perl-doc and CPAN
//! distributions ship them.
//!
//! POD is a sequence of paragraphs separated by blank lines. A paragraph that starts with
//! `=name` is a command (`=head1`–`=head6`, `=over`/`=item`/`=back`, `=begin`/`=end`,
//! `=for`, `=pod`/`=cut`, `=encoding`), one that starts with white space is verbatim (code),
//! any other is prose with formatting codes (`B<bold>`, `C<< $a <=> $b >>`,
//! `L<text|perlsyn/"For Loops">`, `E<gt>`, `X<index entry>`). Text outside POD (before the
//! first command, after `=cut`) is program code and is not read.
//!
//! A list item with a name (`=item abs VALUE`, `=item $_`, `=item B<-w>`) is the entry of a
//! reference, as Sphinx's object descriptions are: it stands on the heading trail
//! ([`Block::Entry`]) one level below the section, the `=back` that closes its list ends it
//! ([`Block::End`]), and names given one after the other (`=item chomp( VARIABLE )`,
//! `=item chomp( LIST )`) are one entry. Bullets (`=item *`) and numbers (`=item 1.`) are
//! ordinary list items. The document's title is its `NAME` paragraph
//! (`perlfilter - Source Filters`), as `perldoc` and man pages show it.

use super::{short_signature, Block, Budget, Loc, LocUnit, Parsed, ReadError};

/// Deepest nesting of formatting codes read (real POD nests two or three: `L<C<open>|…>`);
/// deeper ones are kept as text, so a paragraph of `B<B<B<…` costs linear time and no stack.
const MAX_CODE_DEPTH: usize = 8;

/// Reads one POD file into blocks. A file with no POD command in it gives no blocks, and is
/// counted as `empty` rather than indexed as the program text it holds.
pub fn read(text: &str, budget: &Budget) -> Result<Parsed, ReadError> {
    let lines = super::source_lines(text);
    let mut r = Reader::default();
    let mut i = 0;
    let mut in_pod = false;
    let (mut produced, mut paragraphs) = (0usize, 0usize);
    while i < lines.len() {
        if lines[i].trim().is_empty() {
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && !lines[i].trim().is_empty() {
            i += 1;
        }
        if paragraphs % 256 == 0 {
            budget.check()?;
            budget.check_size(produced)?;
        }
        paragraphs += 1;
        let para = &lines[start..i];
        let loc = Loc::new(start as u32 + 1, i as u32);
        produced += para.iter().map(|l| l.len() + 1).sum::<usize>();
        let command = command_of(para[0]);
        if !in_pod {
            // Program code until a command starts POD (`.pod` files usually open with one).
            if command.is_none() {
                continue;
            }
            in_pod = true;
        }
        match command {
            Some(("cut", _)) => in_pod = false,
            Some((name, rest)) => {
                let mut body = rest.to_string();
                for l in &para[1..] {
                    body.push(' ');
                    body.push_str(l.trim());
                }
                r.command(name, body.trim(), loc);
            }
            None if para[0].starts_with([' ', '\t']) => r.verbatim(para, loc),
            None => r.prose(para, loc),
        }
    }
    r.close_lists(0);
    let title = r.title.take();
    Ok(Parsed {
        title,
        unit: LocUnit::Lines,
        blocks: r.blocks,
    })
}

/// `("head1", "NAME")` for a command paragraph's first line.
fn command_of(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('=')?;
    let end = rest
        .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .unwrap_or(rest.len());
    let name = &rest[..end];
    if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    Some((name, rest[end..].trim()))
}

/// One `=over` … `=back` list being read.
#[derive(Debug, Default)]
struct List {
    /// Whether a named `=item` of it stood on the trail (so `=back` must end it).
    entries: bool,
}

#[derive(Debug, Default)]
struct Reader {
    blocks: Vec<Block>,
    title: Option<String>,
    /// Level of the innermost `=headN` so far (0 before any).
    section: u8,
    lists: Vec<List>,
    /// Inside `=begin FORMAT` … `=end FORMAT` for a formatter other than POD itself: the
    /// names of the open regions.
    skipped: Vec<String>,
    /// The heading just read was `NAME`: its paragraph is the title.
    name_next: bool,
    /// The last block was an entry with no paragraph after it yet: a following `=item`
    /// names the same entry.
    open_entry: Option<usize>,
}

impl Reader {
    fn command(&mut self, name: &str, body: &str, loc: Loc) {
        if let Some(open) = self.skipped.last() {
            if name == "end" && body.split_whitespace().next() == Some(open.as_str()) {
                self.skipped.pop();
            } else if name == "begin" {
                self.skipped.push(region_name(body));
            }
            return;
        }
        match name {
            "head1" | "head2" | "head3" | "head4" | "head5" | "head6" => {
                let level = name.as_bytes()[4] - b'0';
                self.close_lists(0);
                self.section = level;
                let text = inline(body);
                self.name_next = level == 1 && text.eq_ignore_ascii_case("name");
                if !text.is_empty() {
                    self.push(Block::Heading {
                        level,
                        text,
                        anchor: None,
                        loc,
                    });
                }
            }
            "over" => self.lists.push(List::default()),
            "back" => {
                let depth = self.lists.len();
                if depth > 0 {
                    self.close_lists(depth - 1);
                }
            }
            "item" => self.item(body, loc),
            // `=begin html` holds another format's paragraphs; `=begin :text` holds POD's.
            "begin" if !body.starts_with(':') => self.skipped.push(region_name(body)),
            // `=for comment …`, `=for html …`: one paragraph for another formatter.
            // `=for :text …` is POD.
            "for" => {
                if let Some(rest) = body.strip_prefix(':') {
                    let text = rest.split_once(char::is_whitespace).map_or("", |p| p.1);
                    self.text(inline(text), loc);
                }
            }
            // `=pod`, `=encoding` (the bytes were decoded already), `=end` without a
            // `=begin`, and commands POD does not define say nothing to a reader.
            _ => {}
        }
    }

    /// `=item *`, `=item 1.`, or a named item (an entry).
    fn item(&mut self, body: &str, loc: Loc) {
        if self.lists.is_empty() {
            // An `=item` outside `=over` (common in hand-written POD): a list of one level.
            self.lists.push(List::default());
        }
        let marker = body.split_whitespace().next().unwrap_or("");
        let numbered = marker.trim_end_matches(['.', ')']).parse::<u32>().is_ok();
        if body.is_empty() || marker == "*" || marker == "-" || numbered {
            self.open_entry = None;
            let rest = body[marker.len()..].trim();
            if !rest.is_empty() {
                self.text(format!("{marker} {}", inline(rest)), loc);
            }
            return;
        }
        let text = inline(body);
        if text.is_empty() {
            return;
        }
        if let Some(i) = self.open_entry {
            // Another name for the entry just opened (`=item chomp( LIST )`).
            if let Some(Block::Entry {
                text: first,
                loc: at,
                ..
            }) = self.blocks.get_mut(i)
            {
                *first = short_signature(&format!("{first}, {text}"));
                *at = at.union(loc);
                return;
            }
        }
        let depth = self.lists.len() as u8;
        if let Some(list) = self.lists.last_mut() {
            list.entries = true;
        }
        self.push(Block::Entry {
            level: self.section.saturating_add(depth),
            text: short_signature(&text),
            anchor: None,
            loc,
        });
        self.open_entry = Some(self.blocks.len() - 1);
    }

    /// Closes the open lists deeper than `keep`, ending the entries of each.
    fn close_lists(&mut self, keep: usize) {
        while self.lists.len() > keep {
            let depth = self.lists.len() as u8;
            let list = self.lists.pop().unwrap_or_default();
            if list.entries {
                let at = self.blocks.last().map_or(Loc::new(1, 1), |b| b.loc());
                self.push(Block::End {
                    level: self.section.saturating_add(depth),
                    loc: Loc::new(at.end, at.end),
                });
            }
        }
    }

    fn prose(&mut self, para: &[&str], loc: Loc) {
        if !self.skipped.is_empty() {
            return;
        }
        let joined = para.iter().map(|l| l.trim()).collect::<Vec<_>>().join(" ");
        let text = inline(&joined);
        if self.name_next {
            self.name_next = false;
            if !text.is_empty() && text.len() <= 240 {
                self.title = Some(text.clone());
            }
        }
        self.text(text, loc);
    }

    fn text(&mut self, text: String, loc: Loc) {
        if !text.trim().is_empty() {
            self.push(Block::Text { text, loc });
        }
    }

    /// A verbatim paragraph, its common indentation removed. Verbatim paragraphs one after
    /// another (a code sample with blank lines in it) are one block.
    fn verbatim(&mut self, para: &[&str], loc: Loc) {
        if !self.skipped.is_empty() {
            return;
        }
        let indent = para
            .iter()
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let body: Vec<&str> = para
            .iter()
            .map(|l| l.get(indent..).unwrap_or(l.trim_start()).trim_end())
            .collect();
        if let Some(Block::Code { text, loc: at, .. }) = self.blocks.last_mut() {
            let gap = loc.start.saturating_sub(at.end).max(1) as usize;
            text.push_str(&"\n".repeat(gap));
            text.push_str(&body.join("\n"));
            *at = at.union(loc);
            return;
        }
        self.push(Block::Code {
            lang: None,
            text: body.join("\n"),
            loc,
        });
    }

    fn push(&mut self, block: Block) {
        if !matches!(block, Block::Entry { .. }) {
            self.open_entry = None;
        }
        // Only the paragraph right below `NAME` is the title.
        if !matches!(block, Block::Heading { .. }) {
            self.name_next = false;
        }
        self.blocks.push(block);
    }
}

/// The formatter an `=begin` region is for (`html`, `comment`).
fn region_name(body: &str) -> String {
    body.split_whitespace().next().unwrap_or("").to_string()
}

/// A paragraph's text with its formatting codes resolved: `B<…>`, `I<…>`, `C<…>`, `F<…>`
/// and `S<…>` give their text, `L<…>` its link text, `E<…>` its character; `X<…>` (index
/// entries) and `Z<>` give nothing. Malformed codes keep their text; nothing panics.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    render(s, &mut out, 0);
    super::one_line(&out)
}

fn render(s: &str, out: &mut String, depth: usize) {
    let b = s.as_bytes();
    let mut i = 0;
    let mut plain = 0;
    while i < b.len() {
        if let Some((code, inner, end)) = code_at(s, i, depth) {
            out.push_str(&s[plain..i]);
            let inner = &s[inner.0..inner.1];
            match code {
                b'X' | b'Z' => {}
                b'E' => out.push_str(&escape(inner.trim())),
                b'L' => link(inner, out, depth + 1),
                _ => render(inner, out, depth + 1),
            }
            i = end;
            plain = end;
        } else {
            i += s[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push_str(&s[plain..]);
}

/// A formatting code starting at byte `i`: its letter, the byte range of its content and
/// the byte after it. `C<< … >>` (several brackets, white space inside) ends at the first
/// white space followed by as many `>`; `C<…>` at the `>` that balances it, codes nested in
/// it counted. At [`MAX_CODE_DEPTH`] codes are no longer recognised.
fn code_at(s: &str, i: usize, depth: usize) -> Option<(u8, (usize, usize), usize)> {
    if depth >= MAX_CODE_DEPTH {
        return None;
    }
    let b = s.as_bytes();
    let letter = *b.get(i)?;
    if !b"IBCLEFSXZ".contains(&letter) || b.get(i + 1) != Some(&b'<') {
        return None;
    }
    let open = b[i + 1..].iter().take_while(|&&c| c == b'<').count();
    let start = i + 1 + open;
    if open > 1 && b.get(start).is_some_and(|c| c.is_ascii_whitespace()) {
        let close = ">".repeat(open);
        let mut j = start;
        while let Some(k) = s[j..].find(&close) {
            let at = j + k;
            if at > start && b[at - 1].is_ascii_whitespace() {
                return Some((letter, (start, at), at + open));
            }
            j = at + 1;
        }
        return Some((letter, (start, s.len()), s.len()));
    }
    // One bracket (or several with no white space, read as one).
    let start = i + 2;
    let mut j = start;
    while j < b.len() {
        // A code nested in this one is skipped whole, so the next `>` closes this one.
        if let Some((_, _, end)) = code_at(s, j, depth + 1) {
            j = end;
            continue;
        }
        match b[j] {
            b'>' => return Some((letter, (start, j), j + 1)),
            // `C<$a->[0]>`: an arrow is not a close.
            b'-' | b'=' if b.get(j + 1) == Some(&b'>') => j += 1,
            _ => {}
        }
        j += 1;
    }
    Some((letter, (start, s.len()), s.len()))
}

/// `L<text|target>` gives its text; `L<perlsyn/"For Loops">` gives `"For Loops" in
/// perlsyn` as perldoc does; `L<perlfunc>` and `L<https://…>` give themselves.
fn link(inner: &str, out: &mut String, depth: usize) {
    if let Some(bar) = top_level_bar(inner, depth) {
        render(&inner[..bar], out, depth);
        return;
    }
    if inner.contains("://") {
        render(inner, out, depth);
        return;
    }
    match inner.split_once('/') {
        Some((page, section)) => {
            let section = section.trim().trim_matches('"');
            out.push('"');
            render(section, out, depth);
            out.push('"');
            if !page.trim().is_empty() {
                out.push_str(" in ");
                render(page.trim(), out, depth);
            }
        }
        None => render(inner, out, depth),
    }
}

/// The first `|` of a link's content that is not inside a nested code.
fn top_level_bar(inner: &str, depth: usize) -> Option<usize> {
    let mut j = 0;
    while j < inner.len() {
        if let Some((_, _, end)) = code_at(inner, j, depth) {
            j = end;
            continue;
        }
        if inner.as_bytes()[j] == b'|' {
            return Some(j);
        }
        j += inner[j..].chars().next().map_or(1, char::len_utf8);
    }
    None
}

/// `E<…>`: POD's own names (`lt`, `gt`, `verbar`, `sol`), a number (decimal, `0x` hex, `0`
/// octal) or an HTML entity name, looked up in html5ever's table of them.
fn escape(name: &str) -> String {
    let own = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "verbar" => Some('|'),
        "sol" => Some('/'),
        _ => None,
    };
    let number = || {
        let n = if let Some(h) = name.strip_prefix("0x").or(name.strip_prefix("0X")) {
            u32::from_str_radix(h, 16).ok()
        } else if name.len() > 1 && name.starts_with('0') {
            u32::from_str_radix(&name[1..], 8).ok()
        } else {
            name.parse().ok()
        };
        n.and_then(char::from_u32)
    };
    if let Some(c) = own.or_else(number) {
        return c.to_string();
    }
    // An HTML entity is one code point or two (the second 0 when there is none).
    match html5ever::data::NAMED_ENTITIES.get(format!("{name};").as_str()) {
        Some(&(a, b)) => [a, b]
            .into_iter()
            .filter(|&c| c != 0)
            .filter_map(char::from_u32)
            .collect(),
        // An entity lore does not know keeps its name, which is still a word.
        None => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::testing::{codes, entries, headings, texts};

    fn parse(s: &str) -> Parsed {
        read(s, &Budget::unlimited()).expect("parsed")
    }

    #[test]
    fn formatting_codes_resolve_to_their_text() {
        assert_eq!(inline("a B<bold> and I<it> C<code>"), "a bold and it code");
        assert_eq!(inline("C<< $a <=> $b >> sorts"), "$a <=> $b sorts");
        assert_eq!(inline("C<<< $x >> 1 >>> shifts"), "$x >> 1 shifts");
        assert_eq!(inline("C<$a->[0]> and C<$h{x}>"), "$a->[0] and $h{x}");
        assert_eq!(inline("B<I<nested>> codes"), "nested codes");
        assert_eq!(inline("E<lt>fhE<gt> E<0x263A> E<eacute>"), "<fh> ☺ é");
        assert_eq!(inline("E<ocirc>te E<hellip> E<nosuch>"), "ôte … nosuch");
        assert_eq!(inline("X<abs> X<absolute>abs VALUE"), "abs VALUE");
        assert_eq!(
            inline("see L<perlsyn/\"For Loops\">"),
            "see \"For Loops\" in perlsyn"
        );
        assert_eq!(inline("see L<the loops|perlsyn/Loops>"), "see the loops");
        assert_eq!(inline("L<C<open>|perlfunc/open> it"), "open it");
        assert_eq!(inline("L<https://perl.org/>"), "https://perl.org/");
        assert_eq!(inline("L</SYNOPSIS>"), "\"SYNOPSIS\"");
        // A code inside a word is still one (perlpodspec); an unclosed one keeps its text.
        assert_eq!(inline("fooE<gt>bar and B<unclosed"), "foo>bar and unclosed");
        assert_eq!(inline("S<non breaking> Z<>x"), "non breaking x");
    }

    #[test]
    fn sections_verbatim_blocks_and_the_name_title() {
        let p = parse(
            "#!/usr/bin/perl\nmy $code = 1;\n\n=head1 NAME\n\nperlfilter - Source Filters\n\n\
             =head1 DESCRIPTION\n\nThis article is about\nI<source filters>.\n\n    file -> parser\n\n    \
             gunzip -c trial.gz | sh\n\n=head2 Writing one\n\nUse C<Filter::Util::Call>.\n\n=cut\n\n\
             sub ignored { 1 }\n",
        );
        assert_eq!(p.title.as_deref(), Some("perlfilter - Source Filters"));
        assert_eq!(
            headings(&p),
            [
                (1, "NAME".to_string(), None),
                (1, "DESCRIPTION".to_string(), None),
                (2, "Writing one".to_string(), None)
            ]
        );
        let t = texts(&p);
        assert!(t.contains(&"This article is about source filters.".to_string()));
        assert!(t.contains(&"Use Filter::Util::Call.".to_string()));
        assert!(!t
            .iter()
            .any(|t| t.contains("my $code") || t.contains("ignored")));
        assert_eq!(
            codes(&p),
            [(
                None,
                "file -> parser\n\ngunzip -c trial.gz | sh".to_string()
            )]
        );
        let code = p
            .blocks
            .iter()
            .find(|b| matches!(b, Block::Code { .. }))
            .unwrap();
        assert_eq!(code.loc(), Loc::new(13, 15));
        // Only the paragraph right below NAME is the title.
        let p = parse("=head1 NAME\n\n    code\n\nNot a title.\n");
        assert_eq!(p.title, None);
    }

    /// perlfunc's shape: named items are entries one level below their section, several
    /// names in a row are one entry, `=back` ends them, bullets are text.
    #[test]
    fn named_items_are_entries_and_back_ends_them() {
        let p = parse(
            "=head2 Alphabetical Listing of Perl Functions\n\n=over\n\n\
             =item abs VALUE\nX<abs> X<absolute>\n\n=item abs\n\nReturns the absolute value.\n\n\
             =item chomp( VARIABLE )\n\n=item chomp( LIST )\n\nRemoves a trailing newline.\n\n\
             =over 4\n\n=item *\n\nA bullet.\n\n=item * inline bullet\n\n=back\n\n=back\n\n\
             Functions not listed are not builtins.\n\n=begin html\n\n<p>hidden</p>\n\n=end html\n\n\
             =for comment also hidden\n\n=head2 Next\n",
        );
        assert_eq!(
            entries(&p),
            [
                (3, "abs VALUE, abs".to_string(), None),
                (3, "chomp( VARIABLE ), chomp( LIST )".to_string(), None)
            ]
        );
        let t = texts(&p);
        assert!(t.contains(&"A bullet.".to_string()));
        assert!(t.contains(&"* inline bullet".to_string()));
        assert!(!t.iter().any(|t| t.contains("hidden")));
        let (text, layout) = crate::read::render(&p);
        let trail = |needle: &str| layout.trail_at(text.find(needle).unwrap()).0.join(" > ");
        assert_eq!(
            trail("Removes a trailing"),
            "Alphabetical Listing of Perl Functions > chomp( VARIABLE ), chomp( LIST )"
        );
        assert_eq!(
            trail("Functions not listed"),
            "Alphabetical Listing of Perl Functions"
        );
    }

    #[test]
    fn mutations_never_panic() {
        let sample =
            "=head1 NAME\n\nx - y\n\n=over\n\n=item L<a|b/\"c\">\n\nC<< $a <=> $b >> B<I<x>>\n\n\
                      =item *\n\n    code\n\n=back\n\n=begin html\n\n<p>\n\n=end html\n\n=cut\n";
        let pieces = [
            "<",
            ">",
            "<<",
            ">>",
            " >>",
            "=",
            "\n\n",
            "=over\n\n",
            "=back\n\n",
            "=item ",
            "=head",
            "E<",
            "L<",
            "C<",
            "X<",
            "|",
            "/",
            "=begin x\n\n",
            "=end x\n\n",
            "=cut\n\n",
            "é",
            "\t",
        ];
        let mut rng = crate::read::testing::Rng::new(0x9e37_79b9_7f4a_7c15u64);
        for _ in 0..3000 {
            let s = crate::read::testing::mutate_text(sample, &pieces, &mut rng);
            let _ = read(&s, &Budget::unlimited());
            let _ = inline(&s);
        }
    }

    /// Codes nested past the limit are text: no stack overflow, linear time.
    #[test]
    fn deep_nesting_is_read_as_text() {
        let deep = format!("{}core{}", "B<".repeat(100_000), ">".repeat(100_000));
        let text = inline(&deep);
        assert!(
            text.starts_with("B<") && text.contains("core"),
            "{}",
            &text[..40]
        );
        let unclosed = "B<x ".repeat(100_000);
        assert!(inline(&unclosed).contains("x B<x"));
        let p = parse(&format!("=head1 Deep\n\n{deep}\n"));
        assert_eq!(texts(&p).len(), 1);
    }

    /// Reads every `.pod` file under `$LORE_POD_CORPUS`, printing the rendered text of files
    /// named in `$LORE_DUMP` and the parse speed.
    #[test]
    #[ignore = "needs a corpus on disk"]
    fn corpus_speed() {
        crate::read::testing::corpus_speed("LORE_POD_CORPUS", "pod", read);
    }
}
