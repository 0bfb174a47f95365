//! MDX reader: Markdown with `import`/`export` statements and JSX removed, line for line, so
//! the Markdown path chunks it and its line numbers still match the file.
//!
//! Hand-written (no maintained Rust MDX parser exists; the real one is the JavaScript
//! micromark): a single pass with a small state machine that knows just enough JavaScript
//! (strings, template literals, comments, bracket depth) to find where an ESM statement, a
//! JSX tag or a `{expression}` ends. Everything it removes is replaced by nothing except
//! the newlines inside it, so every kept character stays on its line. Fenced code, inline
//! code and front matter pass through untouched.

/// The Markdown inside an MDX file, with the same number of lines.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut st = State::default();
    let mut lines = text.split_inclusive('\n').enumerate().peekable();
    // Front matter passes through as is: it is YAML, where `{` and `<` mean nothing to JSX.
    if text.starts_with("---") && lines.peek().is_some_and(|(_, l)| l.trim_end() == "---") {
        for (n, line) in lines.by_ref() {
            out.push_str(line);
            if n > 0 && matches!(line.trim_end(), "---" | "...") {
                break;
            }
        }
    }
    for (_, line) in lines {
        st.line(line, &mut out);
    }
    out
}

#[derive(Default)]
struct State {
    /// Inside a fenced code block: its fence character and length, and whether it opened
    /// inside JSX (where its fences lose their indentation).
    fence: Option<(char, usize, bool)>,
    /// Inside an `import`/`export` statement.
    esm: Option<Js>,
    /// A construct that began on an earlier line and has not ended yet.
    open: Open,
    /// Nesting of open JSX elements (their content is not indented code in MDX).
    jsx_depth: usize,
}

/// Multi-line inline constructs.
#[derive(Default, Clone, Copy, PartialEq)]
enum Open {
    #[default]
    None,
    /// A JSX tag whose `>` has not come yet; `closing` for `</X`.
    Tag { js: Js, closing: bool },
    /// A `{…}` expression.
    Expr(Js),
    /// An HTML comment.
    Comment,
    /// A code span opened by this many backticks.
    Code(usize),
}

/// Just enough JavaScript lexing to find where brackets close.
#[derive(Default, Clone, Copy, PartialEq)]
struct Js {
    depth: usize,
    quote: Option<char>,
    block_comment: bool,
    escaped: bool,
}

impl Js {
    /// Feeds one character; `line_comment` reports `//`, which the caller handles by
    /// skipping the rest of the line.
    fn feed(&mut self, c: char, next: Option<char>) -> Step {
        if self.escaped {
            self.escaped = false;
            return Step::Go;
        }
        if self.block_comment {
            if c == '*' && next == Some('/') {
                self.block_comment = false;
                return Step::SkipNext;
            }
            return Step::Go;
        }
        if let Some(q) = self.quote {
            if c == '\\' {
                self.escaped = true;
            } else if c == q {
                self.quote = None;
            } else if c == '\n' && q != '`' {
                // An unterminated string ends at the line: keeps a typo from eating the file.
                self.quote = None;
            }
            return Step::Go;
        }
        match c {
            '"' | '\'' | '`' => self.quote = Some(c),
            '/' if next == Some('*') => {
                self.block_comment = true;
                return Step::SkipNext;
            }
            '/' if next == Some('/') => return Step::LineComment,
            '{' | '(' | '[' => self.depth += 1,
            '}' | ')' | ']' => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        Step::Go
    }

    fn idle(&self) -> bool {
        self.depth == 0 && self.quote.is_none() && !self.block_comment
    }
}

enum Step {
    Go,
    SkipNext,
    LineComment,
}

/// Whether `line` opens or closes a code fence: returns its character and length.
fn fence_of(line: &str) -> Option<(char, usize, &str)> {
    let t = line.trim_start();
    let c = t.chars().next().filter(|&c| c == '`' || c == '~')?;
    let n = t.chars().take_while(|&x| x == c).count();
    (n >= 3).then(|| (c, n, &t[n..]))
}

fn push_newlines(out: &mut String, s: &str) {
    for _ in s.matches('\n') {
        out.push('\n');
    }
}

impl State {
    fn line(&mut self, line: &str, out: &mut String) {
        if let Some((fc, flen, in_jsx)) = self.fence {
            if let Some((c, n, rest)) = fence_of(line) {
                if c == fc && n >= flen && rest.trim().is_empty() {
                    self.fence = None;
                    out.push_str(if in_jsx { line.trim_start() } else { line });
                    return;
                }
            }
            out.push_str(line);
            return;
        }
        if let Some(js) = self.esm.as_mut() {
            let blank = line.trim().is_empty();
            let continues = !js.idle()
                || line.starts_with(char::is_whitespace)
                || line.starts_with(['}', ')', ']', '.'])
                || line.starts_with("import")
                || line.starts_with("export");
            if (blank && js.idle()) || !continues {
                self.esm = None;
            } else {
                Self::lex_esm(js, line);
                push_newlines(out, line);
                return;
            }
        }
        if self.open == Open::None {
            let at_top = self.jsx_depth == 0;
            if at_top && (line.starts_with("import ") || line.starts_with("export ")) {
                let mut js = Js::default();
                Self::lex_esm(&mut js, line);
                self.esm = Some(js);
                push_newlines(out, line);
                return;
            }
            let indent = line.len() - line.trim_start().len();
            if let Some((c, n, rest)) = fence_of(line) {
                if (indent <= 3 || !at_top) && !(c == '`' && rest.contains('`')) {
                    self.fence = Some((c, n, !at_top));
                    out.push_str(if at_top { line } else { line.trim_start() });
                    return;
                }
            }
        }
        let start = out.len();
        let strip_indent = self.jsx_depth > 0 && self.open == Open::None;
        self.inline(line, out);
        if strip_indent {
            let kept = out[start..].trim_start_matches([' ', '\t']).to_string();
            out.truncate(start);
            out.push_str(&kept);
        }
        if line.trim().is_empty() {
            // Neither a code span nor a tag crosses a blank line: an unclosed `<` or
            // backtick must not swallow the rest of the file.
            if let Open::Code(_) | Open::Tag { .. } = self.open {
                self.open = Open::None;
            }
        }
    }

    fn lex_esm(js: &mut Js, line: &str) {
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match js.feed(c, chars.peek().copied()) {
                Step::Go => {}
                Step::SkipNext => {
                    chars.next();
                }
                Step::LineComment => break,
            }
        }
    }

    /// Removes JSX tags, expressions and HTML comments from one line, keeping code spans.
    fn inline(&mut self, line: &str, out: &mut String) {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            match self.open {
                Open::Code(n) => {
                    let run = chars[i..].iter().take_while(|&&x| x == '`').count();
                    if run > 0 {
                        if run == n {
                            self.open = Open::None;
                        }
                        out.extend(&chars[i..i + run]);
                        i += run;
                    } else {
                        out.push(c);
                        i += 1;
                    }
                    continue;
                }
                Open::Comment => {
                    if c == '-' && next == Some('-') && chars.get(i + 2) == Some(&'>') {
                        self.open = Open::None;
                        i += 3;
                    } else {
                        if c == '\n' {
                            out.push('\n');
                        }
                        i += 1;
                    }
                    continue;
                }
                Open::Expr(mut js) => {
                    if c == '\n' {
                        out.push('\n');
                    }
                    if js.idle() && c == '}' {
                        self.open = Open::None;
                        i += 1;
                        continue;
                    }
                    i += match js.feed(c, next) {
                        Step::Go => 1,
                        Step::SkipNext => 2,
                        Step::LineComment => {
                            if line.ends_with('\n') {
                                out.push('\n');
                            }
                            chars.len() - i
                        }
                    };
                    // `feed` counted the closing brace of a nested object; the outer one
                    // is found above while the lexer is idle.
                    self.open = Open::Expr(js);
                    continue;
                }
                Open::Tag { mut js, closing } => {
                    if c == '\n' {
                        out.push('\n');
                    }
                    if js.idle() && c == '>' {
                        let self_closing = i > 0 && chars[i - 1] == '/';
                        if closing {
                            self.jsx_depth = self.jsx_depth.saturating_sub(1);
                        } else if !self_closing {
                            self.jsx_depth += 1;
                        }
                        self.open = Open::None;
                        i += 1;
                        continue;
                    }
                    i += match js.feed(c, next) {
                        Step::Go => 1,
                        Step::SkipNext => 2,
                        // `//` inside a tag is part of an attribute value (a URL), not a
                        // comment: strings are lexed, so this only happens unquoted.
                        Step::LineComment => 2,
                    };
                    self.open = Open::Tag { js, closing };
                    continue;
                }
                Open::None => {}
            }
            match c {
                '\\' => {
                    out.push(c);
                    if let Some(n) = next {
                        out.push(n);
                    }
                    i += 2;
                }
                '`' => {
                    let run = chars[i..].iter().take_while(|&&x| x == '`').count();
                    self.open = Open::Code(run);
                    out.extend(&chars[i..i + run]);
                    i += run;
                }
                '{' => {
                    self.open = Open::Expr(Js::default());
                    i += 1;
                }
                '<' if chars[i..].starts_with(&['<', '!', '-', '-']) => {
                    self.open = Open::Comment;
                    i += 4;
                }
                '<' if is_tag_start(&chars[i + 1..]) => {
                    let closing = next == Some('/');
                    self.open = Open::Tag {
                        js: Js::default(),
                        closing,
                    };
                    i += if closing { 2 } else { 1 };
                }
                _ => {
                    out.push(c);
                    i += 1;
                }
            }
        }
    }
}

/// Whether the text after a `<` starts a JSX tag: a name, a closing slash or a fragment,
/// but not an autolink (`<https://…>`) or a comparison (`a < b`).
fn is_tag_start(rest: &[char]) -> bool {
    let name: Vec<char> = match rest.first() {
        Some('>') => return true,
        Some('/') => {
            return rest
                .get(1)
                .is_some_and(|c| *c == '>' || c.is_ascii_alphabetic());
        }
        Some(c) if c.is_ascii_alphabetic() => rest
            .iter()
            .copied()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
            .collect(),
        _ => return false,
    };
    // `<scheme:…>` is an autolink and `<user@host>` an email link.
    let after = rest.get(name.len()).copied();
    !(name.contains(&':') || after == Some('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_lines(src: &str) -> String {
        let out = clean(src);
        assert_eq!(
            out.split('\n').count(),
            src.split('\n').count(),
            "line count changed:\n{out}"
        );
        out
    }

    const DOC: &str = r#"---
title: Install {version}
sidebar_position: 2
---
import Tabs from '@theme/Tabs';
import TabItem from '@theme/TabItem';
import {
  Foo,
  Bar,
} from '../components';
export const meta = {
  author: 'Ann',
  tags: ['a', 'b'],
};

# Installing <Badge text="beta" />

{/* a comment
   over two lines */}
Run the installer. It needs {props.version} or later, and `<Tabs>` is literal here.

<Tabs groupId="os">
  <TabItem value="linux" label="Linux" default>

    Use the package manager:

    ```bash
    apt install foo {x}
    ```

  </TabItem>
  <TabItem
    value="mac"
    label={`macOS ${version}`}
  >
    Use `brew install foo`.
  </TabItem>
</Tabs>

See <https://example.com> and note that a < b and <user@example.com>.

```jsx
<Tabs>{keep}</Tabs>
import x from 'y'
```

<Foo bar={{ a: 1, b: "}" }} />Trailing text.
<>Fragment text</>
"#;

    #[test]
    fn removes_esm_and_jsx_line_for_line() {
        let out = same_lines(DOC);
        let lines: Vec<&str> = out.split('\n').collect();
        let src: Vec<&str> = DOC.split('\n').collect();
        // Front matter untouched.
        assert_eq!(lines[..4], src[..4]);
        // ESM blanked, including the multi-line import and export.
        for (n, line) in lines.iter().enumerate().take(14).skip(4) {
            assert_eq!(*line, "", "line {} not blanked", n + 1);
        }
        let at = |needle: &str| src.iter().position(|l| l.contains(needle)).unwrap();
        assert_eq!(lines[at("# Installing")].trim_end(), "# Installing");
        assert_eq!(lines[at("{/* a comment")], "");
        assert_eq!(lines[at("over two lines")], "");
        assert_eq!(
            lines[at("Run the installer")],
            "Run the installer. It needs  or later, and `<Tabs>` is literal here."
        );
        assert_eq!(lines[at("<Tabs groupId")], "");
        assert_eq!(lines[at("<TabItem value=\"linux\"")], "");
        // Inside JSX the indentation goes, so the text is not an indented code block.
        assert_eq!(
            lines[at("Use the package manager")],
            "Use the package manager:"
        );
        assert_eq!(lines[at("```bash")], "```bash");
        // Code inside the fence is untouched, braces and all.
        assert_eq!(lines[at("apt install")], "    apt install foo {x}");
        assert_eq!(lines[at("apt install") + 1], "```");
        assert_eq!(lines[at("label={`macOS")], "");
        assert_eq!(lines[at("Use `brew")], "Use `brew install foo`.");
        assert_eq!(lines[at("</Tabs>")], "");
        assert_eq!(
            lines[at("See <https")],
            "See <https://example.com> and note that a < b and <user@example.com>."
        );
        assert_eq!(lines[at("<Tabs>{keep}")], "<Tabs>{keep}</Tabs>");
        assert_eq!(lines[at("import x from")], "import x from 'y'");
        assert_eq!(lines[at("<Foo bar")], "Trailing text.");
        assert_eq!(lines[at("<>Fragment")], "Fragment text");
    }

    #[test]
    fn plain_markdown_is_unchanged() {
        let md = "# Title\n\nSome *text* with `code {x}`.\n\n- a\n    - b\n\n    indented code\n";
        assert_eq!(clean(md), md);
    }

    #[test]
    fn unclosed_tag_stops_at_blank_line() {
        let src = "Intro <Broken attr=\"x\"\n\nStill here.\n";
        assert_eq!(same_lines(src), "Intro \n\nStill here.\n");
    }

    #[test]
    fn export_without_blank_line_ends_at_prose() {
        let src = "export const x = 1;\n# Heading\ntext\n";
        assert_eq!(same_lines(src), "\n# Heading\ntext\n");
    }

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn mutated_and_truncated_inputs_keep_line_count() {
        for cut in (0..DOC.len()).step_by(97) {
            let cut = (cut..=DOC.len())
                .find(|&c| DOC.is_char_boundary(c))
                .unwrap_or(DOC.len());
            same_lines(&DOC[..cut]);
        }
        let pieces = [
            "<", ">", "{", "}", "`", "```", "\"", "'", "/*", "*/", "//", "\n", "<!--", "-->",
            "import ", "\\", "é",
        ];
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..3000 {
            let mut s: Vec<char> = DOC.chars().collect();
            for _ in 0..(1 + xorshift(&mut state) % 10) {
                let at = (xorshift(&mut state) as usize) % (s.len() + 1);
                if xorshift(&mut state).is_multiple_of(2) {
                    let piece = pieces[(xorshift(&mut state) as usize) % pieces.len()];
                    s.splice(at..at, piece.chars());
                } else {
                    let end = (at + (xorshift(&mut state) as usize) % 50).min(s.len());
                    s.drain(at..end);
                }
            }
            let mutated: String = s.into_iter().collect();
            same_lines(&mutated);
        }
    }

    /// Not a timed assertion: prints throughput for the report (`--nocapture`).
    #[test]
    fn speed_report() {
        let doc = DOC.repeat(4_000_000 / DOC.len());
        let start = std::time::Instant::now();
        let out = clean(&doc);
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(out.matches('\n').count(), doc.matches('\n').count());
        eprintln!(
            "mdx clean: {:.1} MB in {:.3} s = {:.1} MB/s",
            doc.len() as f64 / 1e6,
            secs,
            doc.len() as f64 / 1e6 / secs
        );
    }
}
