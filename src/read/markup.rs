//! Index-time hygiene for Markdown: the text a chunk is *embedded and indexed* with has
//! template markup removed (Hugo/Jekyll shortcodes, Liquid/Jinja tags, HTML comments and
//! inline HTML tags, reference-link brackets), while the chunk keeps its original text for
//! display. Without this, `{{< code-toggle >}}` and `[text][ref]` become BM25 terms and
//! pull the embedding toward markup.
//!
//! Fenced code is left exactly as written: there, markup is the content.

use std::borrow::Cow;

/// The text to embed and index for a Markdown chunk.
pub fn clean_for_index(text: &str) -> Cow<'_, str> {
    if !text.contains(['{', '<', '[']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut fence: Option<Fence> = None;
    let mut in_comment = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(f) = fence {
            out.push_str(line);
            if f.closed_by(trimmed) {
                fence = None;
            }
            continue;
        }
        if !in_comment {
            if let Some(f) = Fence::opened_by(trimmed) {
                fence = Some(f);
                out.push_str(line);
                continue;
            }
        }
        if !in_comment && is_link_definition(trimmed) {
            out.push('\n');
            continue;
        }
        clean_line(line, &mut out, &mut in_comment);
    }
    Cow::Owned(out)
}

/// Markdown with what is never shown blanked out: link reference definitions
/// (`[label]: https://…`) and HTML comments outside fenced code. Every blanked byte becomes a
/// space and newlines stay, so lines and byte offsets still match the file; the splitter
/// then never cuts a chunk out of them. Node.js's API pages end in hundreds of definitions
/// and open each section with a `<!-- YAML … -->` comment: kept, they made chunks of nothing
/// but URLs that the page's title alone ranked.
pub fn blank_hidden(text: &str) -> Cow<'_, str> {
    if !text.contains("]:") && !text.contains("<!--") {
        return Cow::Borrowed(text);
    }
    let mut hidden = Vec::new();
    let mut fence: Option<Fence> = None;
    let mut comment_from: Option<usize> = None;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let trimmed = line.trim_start();
        if let Some(f) = fence {
            if f.closed_by(trimmed) {
                fence = None;
            }
            continue;
        }
        let mut i = 0;
        if let Some(from) = comment_from {
            match line.find("-->") {
                Some(j) => {
                    hidden.push(from..start + j + 3);
                    comment_from = None;
                    i = j + 3;
                }
                None => continue,
            }
        } else {
            if let Some(f) = Fence::opened_by(trimmed) {
                fence = Some(f);
                continue;
            }
            if is_link_definition(trimmed) {
                hidden.push(start..at);
                continue;
            }
        }
        while let Some(j) = line[i..].find("<!--") {
            let open = i + j;
            match line[open + 4..].find("-->") {
                Some(k) => {
                    let close = open + 4 + k + 3;
                    hidden.push(start + open..start + close);
                    i = close;
                }
                None => {
                    comment_from = Some(start + open);
                    break;
                }
            }
        }
    }
    if let Some(from) = comment_from {
        // A comment never closed hides the rest of the file, as a browser would.
        hidden.push(from..text.len());
    }
    // Only ASCII delimiters bound the ranges, so they sit on character boundaries.
    super::blank_ranges(text, &hidden)
}

/// An open fenced code block: its character and how many opened it.
#[derive(Clone, Copy)]
struct Fence(char, usize);

impl Fence {
    /// The fence a (left-trimmed) line opens: three or more backticks or tildes.
    fn opened_by(trimmed: &str) -> Option<Fence> {
        ['`', '~'].into_iter().find_map(|c| {
            let n = trimmed.chars().take_while(|&x| x == c).count();
            (n >= 3).then_some(Fence(c, n))
        })
    }

    /// Whether a (left-trimmed) line closes this fence: as many of its character or more,
    /// and nothing else.
    fn closed_by(self, trimmed: &str) -> bool {
        trimmed.chars().take_while(|&x| x == self.0).count() >= self.1
            && trimmed.trim_start_matches(self.0).trim().is_empty()
    }
}

/// `[label]: https://…` lines define reference links; they are not prose.
fn is_link_definition(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('[') else {
        return false;
    };
    match rest.find("]:") {
        Some(i) => !rest[..i].contains(']') && !rest[..i].is_empty(),
        None => false,
    }
}

fn clean_line(line: &str, out: &mut String, in_comment: &mut bool) {
    let b = line.as_bytes();
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        if *in_comment {
            match rest.find("-->") {
                Some(j) => {
                    i += j + 3;
                    *in_comment = false;
                }
                None => {
                    if line.ends_with('\n') {
                        out.push('\n');
                    }
                    return;
                }
            }
            continue;
        }
        match b[i] {
            b'<' if rest.starts_with("<!--") => {
                *in_comment = true;
                i += 4;
            }
            b'<' => match html_tag_len(rest) {
                Some(n) => {
                    out.push(' ');
                    i += n;
                }
                None => {
                    out.push('<');
                    i += 1;
                }
            },
            b'{' if rest.starts_with("{{<") || rest.starts_with("{{%") => {
                let close = if rest.starts_with("{{<") {
                    ">}}"
                } else {
                    "%}}"
                };
                match rest.find(close) {
                    Some(j) => i += j + close.len(),
                    None => {
                        out.push('{');
                        i += 1;
                    }
                }
            }
            b'{' if rest.starts_with("{%") => match rest.find("%}") {
                Some(j) => i += j + 2,
                None => {
                    out.push('{');
                    i += 1;
                }
            },
            b'[' => match reference_link(rest) {
                Some((text, n)) => {
                    out.push_str(text);
                    i += n;
                }
                None => {
                    out.push('[');
                    i += 1;
                }
            },
            _ => {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
}

/// Length of an HTML tag (`<span class="x">`, `</div>`, `<br/>`) at the start of `s`.
fn html_tag_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    if b.get(i) == Some(&b'/') {
        i += 1;
    }
    let name_start = i;
    while b
        .get(i)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'-')
    {
        i += 1;
    }
    if i == name_start || !b[name_start].is_ascii_alphabetic() {
        return None;
    }
    // Attributes up to the closing `>` on the same line, without another `<` in between.
    let end = s[i..].find(['>', '<', '\n'])?;
    if s.as_bytes()[i + end] != b'>' {
        return None;
    }
    let next = b.get(i).copied();
    if !matches!(next, Some(b'>' | b'/' | b' ' | b'\t')) {
        return None;
    }
    Some(i + end + 1)
}

/// `[text][ref]` or `[text][]` at the start of `s`: the text and the length consumed.
fn reference_link(s: &str) -> Option<(&str, usize)> {
    let close = s.find(']')?;
    let text = &s[1..close];
    if text.contains('[') {
        return None;
    }
    let rest = &s[close + 1..];
    let inner = rest.strip_prefix('[')?;
    let end = inner.find(']')?;
    if inner[..end].contains(['[', '(']) {
        return None;
    }
    Some((text, close + 1 + 1 + end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_template_markup_but_not_code() {
        let md = "Intro {{< code-toggle file=\"hugo\" >}} text {{< /code-toggle >}}.\n\
                  {% include note.html %}See [the guide][guide] and [Hugo][].\n\
                  <!-- hidden\nstill hidden -->shown <span class=\"x\">inline</span><br/>\n\
                  a < b and c > d\n\
                  [guide]: https://example.com/guide\n\
                  ```html\n<div>{{< kept >}}</div>\n```\n";
        let clean = clean_for_index(md);
        assert!(!clean.contains("code-toggle"), "{clean}");
        assert!(!clean.contains("include note"), "{clean}");
        assert!(clean.contains("See the guide and Hugo."), "{clean}");
        assert!(!clean.contains("hidden"), "{clean}");
        assert!(clean.contains("shown  inline"), "{clean}");
        assert!(clean.contains("a < b and c > d"), "{clean}");
        assert!(!clean.contains("example.com"), "{clean}");
        assert!(clean.contains("<div>{{< kept >}}</div>"), "{clean}");
    }

    #[test]
    fn hidden_markdown_is_blanked_in_place() {
        // Node.js 18's `events.md`, shortened: a YAML comment and the closing definitions.
        let md = "## `emitter.off(eventName, listener)`\n\n<!-- YAML\nadded: v10.0.0\n-->\n\n\
                  Alias for [`emitter.removeListener()`][]. ü\n\n```md\n[kept]: in code\n<!-- kept -->\n```\n\n\
                  [`emitter.removeListener()`]: #emitterremovelistenereventname-listener\n\
                  [é]: https://example.com <!-- x -->\n<!-- never closed\nhidden";
        let b = blank_hidden(md);
        assert_eq!(b.len(), md.len());
        assert_eq!(b.lines().count(), md.lines().count());
        assert!(!b.contains("YAML") && !b.contains("added"), "{b}");
        assert!(
            !b.contains("#emitterremovelistener") && !b.contains("example.com"),
            "{b}"
        );
        assert!(!b.contains("hidden"), "{b}");
        assert!(
            b.contains("Alias for [`emitter.removeListener()`][]. ü"),
            "{b}"
        );
        assert!(b.contains("[kept]: in code\n<!-- kept -->"), "{b}");
        assert!(matches!(blank_hidden("plain [a](b)"), Cow::Borrowed(_)));
    }

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(clean_for_index("no markup"), Cow::Borrowed(_)));
        // Inline links are prose and stay.
        assert_eq!(clean_for_index("[a](b) [c]"), "[a](b) [c]");
    }
}
