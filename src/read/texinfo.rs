//! Texinfo sources (`.texi`, `.texinfo`, `.txi`): GNU manuals as their authors write them
//! (`doc/coreutils.texi`, `doc/sed.texi`), before makeinfo turns them into Info
//! ([`super::info`]) or HTML.
//!
//! Texinfo is line-based: a command at the start of a line (`@chapter Title`, `@node Name`,
//! `@example` … `@end example`, `@item`, `@cindex entry`) structures the document, and
//! brace commands inside text (`@code{ls}`, `@var{file}`, `@xref{Block size}`) mark it up.
//! The reader works in two passes:
//!
//! 1. The *preprocessor* does what makeinfo does before formatting, line by line: it drops
//!    comments (`@c`, `@comment`), `@ignore` and the regions for other output formats
//!    (`@tex`, `@iftex`, `@html`, `@ifhtml`, `@ifplaintext`, …), keeps those Info shows
//!    (`@ifinfo`, `@ifnottex`, `@ifnothtml`, …; a manual says a thing once for each output,
//!    as m4's does a cross-reference in `@ifnothtml` and again as a link in `@ifhtml`, so
//!    keeping both kinds would read it twice), records `@set` values and `@macro`
//!    definitions and expands them where they are used (each expanded line keeps the line
//!    number of its invocation, so locations stay the file's), and drops the navigation and
//!    boilerplate a reader does not search: `@menu`, `@direntry`, `@titlepage` and the
//!    licence in `@copying`. coreutils' manual documents its common options through 33
//!    macros (`@optHumanReadable` expands to the `-h` item of every table that lists it), so
//!    leaving them out would lose whole options.
//! 2. The *reader* turns the lines into blocks. Sectioning commands are headings, at the
//!    levels Info gives them (`@top` and `@chapter` 1, `@section` 2, …), each anchored at
//!    its `@node` as texi2any names the node's HTML page (`ls-invocation`), as the Info
//!    reader does. A two-column table's items (`@table @code` … `@item -a` `@itemx --all`)
//!    and a definition (`@deffn Command chdir [directory]`) are entries ([`Block::Entry`]) on
//!    the trail below the section, so a hit cites `ls: List directory contents > -a, --all`,
//!    as for the same manual read as Info; `@end table` ends them ([`Block::End`]). Examples
//!    (`@example`, `@lisp`, `@display`, `@format`, `@verbatim`) are code; bullet and
//!    numbered lists are items; a `@multitable`'s rows are lines of cells joined by ` | `.
//!    A manual's text before its first node (Info's preamble: an old manual's licence) is
//!    not read, and the title is `@settitle`'s, else `@top`'s.
//!
//! Inline commands are reduced to the text Info shows, except that code is not quoted:
//! `@var{file}` is `FILE`, `@samp{-}` is `‘-’`, `@xref{Block size}` is "See Block size", a
//! footnote is kept in parentheses where it is referenced, index entries (`@cindex`,
//! `@opindex`, any `@…index`) are dropped. A command lore does not know keeps its text
//! (`@foo{bar}` is "bar"), and a line command it does not know is dropped.
//!
//! Each file is read as its own document, but a manual takes the *definitions* of the files
//! it `@include`s ([`read_including`]): their `@set` values and macros (`version.texi`'s
//! `VERSION`, sed's `config.texi` with `SSED`, "GNU sed", used 60 times), preprocessed as
//! makeinfo would at that line, nested includes too; their text stays in their own
//! documents, so a chapter kept in `perm.texi` is indexed once. The folder walk gives files
//! inside the ingested folder only and folds their bytes into the manual's hash, so an edit
//! to `version.texi` re-reads the manual. A value defined nowhere shows its name, as does one
//! an included chapter takes from the manual that includes it (the reverse direction is not
//! followed). A file of settings only (`version.texi`) gives no blocks and is counted as
//! `empty`. Malformed input is read as far as it makes sense: an unclosed brace runs to the
//! end of its paragraph, an `@end` without its start is ignored, an unterminated example
//! ends at the next node or heading; brace nesting is bounded ([`MAX_BRACE_DEPTH`]) and
//! macro expansion both in depth and in output, so every file costs time linear in its
//! size.

use std::collections::HashMap;

use super::{short_signature, Block, Budget, Includes, Loc, LocUnit, Parsed, ReadError};

/// Deepest brace nesting read as commands (real manuals nest three or four:
/// `@xref{@code{@var{x}}}`); braces deeper than this are dropped and their text kept, so
/// 10,000 nested braces cost linear time and no stack.
pub const MAX_BRACE_DEPTH: usize = 64;

/// How many times a line's macros and values are expanded again (a macro using another);
/// past it, a recursive macro stays unexpanded.
const MAX_MACRO_DEPTH: usize = 16;

/// Reads one Texinfo file into blocks, knowing only its own text.
pub fn read(text: &str, budget: &Budget) -> Result<Parsed, ReadError> {
    read_including(text, budget, None)
}

/// Reads one Texinfo file into blocks, taking the `@set` values and macros of the files it
/// `@include`s from `includes` (their text stays theirs: each is read as its own document).
pub fn read_including(
    text: &str,
    budget: &Budget,
    includes: Option<&dyn Includes>,
) -> Result<Parsed, ReadError> {
    let source = super::source_lines(text);
    let mut defs = Defs {
        macros: HashMap::new(),
        // makeinfo sets this flag itself: manuals test it before `@ifcommanddefined`.
        values: HashMap::from([("txicommandconditionals".to_string(), String::new())]),
    };
    let lines = preprocess(&source, budget, &mut defs, includes, 0)?;
    // A manual's own file (`\input texinfo`, `@setfilename`) puts what comes before its first
    // node in the Info file's preamble, which Info does not show as text (the Info reader
    // leaves it out too): an old manual's licence in `@ifinfo`. An included file's text
    // before its first node is the including node's, and is read.
    let main = source.first().is_some_and(|l| l.starts_with("\\input"))
        || lines.iter().any(|l| {
            command_at_start(l.text.trim_start()).is_some_and(|(n, _)| n == "setfilename")
        });
    let preamble = main
        && lines
            .iter()
            .any(|l| matches!(classify(&l.text), Cmd::Node(_) | Cmd::Heading { .. }));
    let mut r = Reader {
        preamble,
        lines: &lines,
        blocks: Vec::new(),
        title: None,
        top: None,
        section: 0,
        raise: 0,
        anchor: None,
        envs: Vec::new(),
        para: None,
        next_id: 0,
        continuing: None,
        open_entry: None,
        produced: 0,
    };
    r.run(budget)?;
    budget.check_size(r.produced)?;
    let title = r.title.take().or(r.top.take());
    Ok(Parsed {
        title,
        unit: LocUnit::Lines,
        blocks: r.blocks,
    })
}

/// A line after preprocessing: its text, the 1-based source line it came from (a macro's
/// expansion keeps its invocation's) and whether it is `@verbatim` content, read as is.
#[derive(Debug, Clone)]
struct Line {
    text: String,
    no: u32,
    raw: bool,
}

/// What the preprocessor has defined so far, shared with the files a manual includes (a
/// manual's `@set VERSION` lives in `version.texi`).
struct Defs {
    macros: HashMap<String, Macro>,
    values: HashMap<String, String>,
}

/// How deep `@include`s are followed for their definitions (makeinfo has no limit; a
/// manual nests two or three, and a file including itself stops here).
const MAX_INCLUDE_DEPTH: usize = 8;

/// A `@macro` definition: its parameter names and body.
struct Macro {
    params: Vec<String>,
    body: String,
}

/// What the preprocessor is passing over.
enum Skip {
    /// A dropped region (`@ignore`, `@tex`, `@menu`, …): its name and how many of it are
    /// open (they nest).
    Region { name: String, depth: usize },
    /// A `@macro` definition being collected.
    Macro {
        name: String,
        params: Vec<String>,
        body: Vec<String>,
        depth: usize,
    },
}

/// Conditionals whose text Info shows: their lines are read, the commands that open and
/// close them are not.
const KEPT_CONDITIONALS: [&str; 9] = [
    "ifinfo",
    "ifnottex",
    "ifnothtml",
    "ifnotdocbook",
    "ifnotxml",
    "ifnotlatex",
    "ifnotplaintext",
    "ifcommanddefined",
    "ifset",
];

/// Regions that are not read: other output formats, navigation, the title page and the
/// licence (`@copying`, which `@insertcopying` repeats), comments.
const DROPPED_REGIONS: [&str; 20] = [
    "ignore",
    "tex",
    "iftex",
    "ifhtml",
    "ifplaintext",
    "ifdocbook",
    "ifxml",
    "iflatex",
    "html",
    "docbook",
    "xml",
    "latex",
    "ifnotinfo",
    "titlepage",
    "copying",
    "menu",
    "detailmenu",
    "direntry",
    "documentdescription",
    "ifcommandnotdefined",
];

/// `("chapter", " Title")` for a line starting with a command (a letter after `@`).
fn command_at_start(t: &str) -> Option<(&str, &str)> {
    let rest = t.strip_prefix('@')?;
    if !rest.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let len = name_len(rest.as_bytes());
    Some((&rest[..len], &rest[len..]))
}

/// The length of the command name at the start of `b` (letters, digits, `_`; a macro's
/// name may also hold `-`, handled where macros are looked up).
fn name_len(b: &[u8]) -> usize {
    b.iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count()
}

/// The line without its comment (`@c …`, `@comment …` to the end of the line); `None` when
/// the line is only a comment, which makeinfo removes whole (it does not end a paragraph).
fn strip_comment(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    let mut i = 0;
    while let Some(p) = b[i..].iter().position(|&c| c == b'@') {
        let at = i + p;
        match b.get(at + 1) {
            Some(c) if c.is_ascii_alphabetic() => {
                let end = at + 1 + name_len(&b[at + 1..]);
                let name = &line[at + 1..end];
                if (name == "c" || name == "comment")
                    && b.get(end).is_none_or(|c| c.is_ascii_whitespace())
                {
                    let before = &line[..at];
                    return (!before.trim().is_empty()).then(|| before.trim_end());
                }
                i = end;
            }
            Some(_) => i = at + 2,
            None => break,
        }
    }
    Some(line)
}

/// The first pass (see the module's doc): comments, conditionals, dropped regions, `@set`
/// values and macros resolved, one [`Line`] per line the reader sees.
/// An `@include`d file is preprocessed into the same definitions and its lines are dropped
/// (`nesting` counts the files open).
fn preprocess(
    src: &[&str],
    budget: &Budget,
    defs: &mut Defs,
    includes: Option<&dyn Includes>,
    nesting: usize,
) -> Result<Vec<Line>, ReadError> {
    let mut out: Vec<Line> = Vec::with_capacity(src.len());
    let mut skip: Option<Skip> = None;
    let mut verbatim = false;
    // Lines an expansion produced, to be read before the next source line (last first).
    let mut pending: Vec<(String, u32, usize)> = Vec::new();
    let mut next = 0usize;
    let input: usize = src.iter().map(|l| l.len() + 1).sum();
    // Expansion stops growing the text past this (a macro that doubles itself at each
    // level); the rest is read unexpanded.
    let expansion_cap = input.saturating_mul(16).saturating_add(1 << 20);
    let mut produced = 0usize;
    let mut steps = 0usize;
    loop {
        let (line, no, depth) = match pending.pop() {
            Some(p) => p,
            None if next < src.len() => {
                next += 1;
                (src[next - 1].to_string(), next as u32, 0)
            }
            None => break,
        };
        steps += 1;
        if steps.is_multiple_of(1024) {
            budget.check()?;
            budget.check_size(produced)?;
        }
        if verbatim {
            let end = command_at_start(line.trim())
                .is_some_and(|(n, rest)| n == "end" && rest.trim() == "verbatim");
            verbatim = !end;
            produced += line.len();
            out.push(Line {
                text: line,
                no,
                raw: !end,
            });
            continue;
        }
        if let Some(s) = &mut skip {
            let cmd = command_at_start(line.trim_start());
            match s {
                Skip::Region { name, depth } => match cmd {
                    Some((n, _)) if n == name.as_str() => *depth += 1,
                    Some(("end", rest)) if rest.trim() == name.as_str() => {
                        *depth -= 1;
                        if *depth == 0 {
                            skip = None;
                        }
                    }
                    _ => {}
                },
                Skip::Macro {
                    name,
                    params,
                    body,
                    depth,
                } => match cmd {
                    Some(("macro" | "rmacro", _)) => {
                        *depth += 1;
                        body.push(line);
                    }
                    Some(("end", rest)) if matches!(rest.trim(), "macro" | "rmacro") => {
                        *depth -= 1;
                        if *depth == 0 {
                            let m = Macro {
                                params: std::mem::take(params),
                                body: body.join("\n"),
                            };
                            defs.macros.insert(std::mem::take(name), m);
                            skip = None;
                        } else {
                            body.push(line);
                        }
                    }
                    _ => body.push(line),
                },
            }
            continue;
        }
        if no == 1 && depth == 0 && line.starts_with("\\input") {
            continue;
        }
        let Some(line) = strip_comment(&line) else {
            continue;
        };
        if let Some((name, rest)) = command_at_start(line.trim_start()) {
            let arg = rest.trim();
            match name {
                "bye" => break,
                "verbatim" => verbatim = true,
                "macro" | "rmacro" => {
                    let (mname, params) = macro_head(arg);
                    skip = Some(Skip::Macro {
                        name: mname,
                        params,
                        body: Vec::new(),
                        depth: 1,
                    });
                    continue;
                }
                "unmacro" => {
                    defs.macros.remove(arg);
                    continue;
                }
                "include" if nesting < MAX_INCLUDE_DEPTH => {
                    if let Some(text) = includes.and_then(|i| i.include(arg)) {
                        let inner = super::source_lines(&text);
                        preprocess(&inner, budget, defs, includes, nesting + 1)?;
                        continue;
                    }
                }
                "set" => {
                    let (n, v) = arg.split_once(char::is_whitespace).unwrap_or((arg, ""));
                    defs.values.insert(n.to_string(), v.trim().to_string());
                    continue;
                }
                "clear" => {
                    defs.values.remove(arg);
                    continue;
                }
                "ifset" | "ifclear" => {
                    if defs.values.contains_key(arg) != (name == "ifset") {
                        skip = Some(Skip::Region {
                            name: name.to_string(),
                            depth: 1,
                        });
                    }
                    continue;
                }
                "end" if KEPT_CONDITIONALS.contains(&arg) || arg == "ifclear" => continue,
                n if KEPT_CONDITIONALS.contains(&n) => continue,
                n if DROPPED_REGIONS.contains(&n) => {
                    skip = Some(Skip::Region {
                        name: n.to_string(),
                        depth: 1,
                    });
                    continue;
                }
                _ => {}
            }
        }
        if depth < MAX_MACRO_DEPTH && produced < expansion_cap && line.contains('@') {
            if let Some(expanded) = expand(line, &defs.macros, &defs.values) {
                produced += expanded.len();
                for l in expanded.split('\n').rev() {
                    pending.push((l.to_string(), no, depth + 1));
                }
                continue;
            }
        }
        produced += line.len();
        out.push(Line {
            text: line.to_string(),
            no,
            raw: false,
        });
    }
    budget.check_size(produced)?;
    Ok(out)
}

/// A `@macro` line's name and parameters: `optBackup` → (`optBackup`, []),
/// `ovar{varname}` → (`ovar`, [`varname`]).
fn macro_head(arg: &str) -> (String, Vec<String>) {
    let len = arg
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
        .count();
    let name = arg[..len].to_string();
    let rest = arg[len..].trim_start();
    let params = rest
        .strip_prefix('{')
        .map(|r| r.split('}').next().unwrap_or(r))
        .map(|p| {
            p.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default();
    (name, params)
}

/// `line` with its macro invocations and known `@value{…}`s replaced, or `None` when it has
/// none. The result is read again (a macro's body may use other macros).
fn expand(
    line: &str,
    macros: &HashMap<String, Macro>,
    values: &HashMap<String, String>,
) -> Option<String> {
    let b = line.as_bytes();
    let mut out = String::new();
    let (mut i, mut plain) = (0usize, 0usize);
    let mut changed = false;
    while let Some(p) = b[i..].iter().position(|&c| c == b'@') {
        let at = i + p;
        let start = at + 1;
        if !b.get(start).is_some_and(|c| c.is_ascii_alphabetic()) {
            // `@@`, `@{`: the escaped character is not a command's start.
            i = (start + 1).min(b.len());
            if b.get(start).is_some_and(|c| !c.is_ascii()) {
                i = start;
            }
            continue;
        }
        let end = start
            + b[start..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-'))
                .count();
        let name = &line[start..end];
        // A macro's name may hold `-`; a built-in command's may not (`@var{x}-y`).
        let builtin = &line[start..start + name_len(&b[start..])];
        if builtin == "value" && b.get(start + 5) == Some(&b'{') {
            if let Some(close) = line[start + 6..].find('}') {
                let key = line[start + 6..start + 6 + close].trim();
                if let Some(v) = values.get(key) {
                    out.push_str(&line[plain..at]);
                    out.push_str(v);
                    i = start + 6 + close + 1;
                    plain = i;
                    changed = true;
                    continue;
                }
            }
        }
        let (name, end) = if macros.contains_key(name) {
            (name, end)
        } else {
            (builtin, start + builtin.len())
        };
        let Some(m) = macros.get(name) else {
            i = end;
            continue;
        };
        let (args, after) = if b.get(end) == Some(&b'{') {
            macro_args(line, end, m.params.len() > 1)
        } else if m.params.len() == 1 {
            // A macro of one parameter called without braces takes the rest of the line.
            (vec![line[end..].trim().to_string()], line.len())
        } else {
            (Vec::new(), end)
        };
        out.push_str(&line[plain..at]);
        out.push_str(&substitute(m, &args));
        i = after;
        plain = after;
        changed = true;
    }
    changed.then(|| {
        out.push_str(&line[plain..]);
        out
    })
}

/// The arguments of a macro call whose `{` is at `open`, split at top-level commas when it
/// takes several (`\,` is a literal comma), and the byte after its `}` (the line's end when
/// it is not closed on the line).
fn macro_args(line: &str, open: usize, several: bool) -> (Vec<String>, usize) {
    let b = line.as_bytes();
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    let mut i = open + 1;
    let mut from = i;
    while i < b.len() {
        match b[i] {
            b'@' if i + 1 < b.len() && matches!(b[i + 1], b'{' | b'}' | b'@' | b',') => i += 2,
            b'\\' if b.get(i + 1) == Some(&b',') => {
                cur.push_str(&line[from..i]);
                cur.push(',');
                i += 2;
                from = i;
            }
            b'{' => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => {
                cur.push_str(&line[from..i]);
                args.push(cur.trim().to_string());
                return (args, i + 1);
            }
            b'}' => {
                depth -= 1;
                i += 1;
            }
            b',' if several && depth == 0 => {
                cur.push_str(&line[from..i]);
                args.push(std::mem::take(&mut cur).trim().to_string());
                i += 1;
                from = i;
            }
            _ => i += 1,
        }
    }
    cur.push_str(&line[from.min(b.len())..]);
    args.push(cur.trim().to_string());
    (args, b.len())
}

/// A macro's body with `\param\` replaced by its argument and `\\` by `\`.
fn substitute(m: &Macro, args: &[String]) -> String {
    let body = &m.body;
    let mut out = String::with_capacity(body.len());
    let mut rest = body.as_str();
    while let Some(p) = rest.find('\\') {
        out.push_str(&rest[..p]);
        let after = &rest[p + 1..];
        match after.find('\\') {
            Some(0) => {
                out.push('\\');
                rest = &after[1..];
            }
            Some(q) if m.params.iter().any(|n| n == &after[..q]) => {
                let k = m.params.iter().position(|n| n == &after[..q]).unwrap_or(0);
                out.push_str(args.get(k).map_or("", String::as_str));
                rest = &after[q + 1..];
            }
            _ => {
                out.push('\\');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Environments whose content is kept verbatim as code.
const CODE_ENVS: [&str; 9] = [
    "example",
    "smallexample",
    "lisp",
    "smalllisp",
    "display",
    "smalldisplay",
    "format",
    "smallformat",
    "verbatim",
];

/// Definition commands (`@deffn`, `@defun`, …) and how many words before the name they
/// take: a category (`@deffn Command`), a category and a class (`@defop Operation Class`),
/// or a class (`@defmethod Class`).
fn def_skip(name: &str) -> Option<usize> {
    Some(match name {
        "deffn" | "defvr" | "deftp" | "deftypefn" | "deftypevr" | "defline" | "deftypeline" => 1,
        "defop" | "defcv" | "deftypeop" | "deftypecv" => 2,
        "defmethod" | "deftypemethod" | "defivar" | "deftypeivar" => 1,
        "defun" | "defmac" | "defspec" | "defvar" | "defopt" | "deftypefun" | "deftypevar" => 0,
        _ => return None,
    })
}

/// What a line is to the reader.
#[derive(Debug, PartialEq)]
enum Cmd<'a> {
    /// Text (possibly starting with an inline command such as `@code{…}`).
    Text,
    /// A command that shows nothing (`@cindex`, `@page`, `@setfilename`, an unknown one);
    /// `breaks` when it ends the paragraph around it (anything but an index entry).
    Drop {
        breaks: bool,
    },
    Node(&'a str),
    Heading {
        level: u8,
        top: bool,
        rest: &'a str,
    },
    Begin(&'a str, &'a str),
    End(&'a str),
    /// `@item`, `@itemx`, `@headitem` (an `@itemx` right after an item names the same
    /// entry, as does an `@item` with no text before it).
    Item(&'a str),
    /// `@deffn …` (`x` for `@deffnx` and `@defline`, a further signature).
    Def {
        name: &'a str,
        x: bool,
        rest: &'a str,
    },
    Center(&'a str),
    /// `@noindent`, `@indent`, `@exdent`: the line's text, if any, is read.
    Keep(&'a str),
    SetTitle(&'a str),
    Raise(i8),
}

fn classify(line: &str) -> Cmd<'_> {
    let Some((name, rest)) = command_at_start(line.trim_start()) else {
        return Cmd::Text;
    };
    if rest.starts_with('{') {
        return Cmd::Text;
    }
    let arg = rest.trim();
    let heading = |level: u8| Cmd::Heading {
        level,
        top: name == "top",
        rest: arg,
    };
    match name {
        "node" => Cmd::Node(arg),
        "top" | "chapter" | "unnumbered" | "appendix" | "majorheading" | "chapheading"
        | "centerchap" | "part" => heading(1),
        "section" | "unnumberedsec" | "appendixsec" | "appendixsection" | "heading" => heading(2),
        "subsection" | "unnumberedsubsec" | "appendixsubsec" | "subheading" => heading(3),
        "subsubsection" | "unnumberedsubsubsec" | "appendixsubsubsec" | "subsubheading" => {
            heading(4)
        }
        "end" => Cmd::End(arg.split_whitespace().next().unwrap_or("")),
        "itemize" | "enumerate" | "table" | "vtable" | "ftable" | "multitable" | "quotation"
        | "smallquotation" | "defblock" => Cmd::Begin(name, arg),
        n if CODE_ENVS.contains(&n) => Cmd::Begin(name, arg),
        "item" | "itemx" | "headitem" => Cmd::Item(arg),
        "tab" => Cmd::Text,
        "center" => Cmd::Center(arg),
        "noindent" | "indent" | "exdent" => Cmd::Keep(arg),
        "settitle" => Cmd::SetTitle(arg),
        "raisesections" => Cmd::Raise(1),
        "lowersections" => Cmd::Raise(-1),
        n if def_skip(n).is_some() => Cmd::Def {
            name: n,
            x: matches!(n, "defline" | "deftypeline"),
            rest: arg,
        },
        n if n.ends_with('x') && def_skip(&n[..n.len() - 1]).is_some() => Cmd::Def {
            name: &n[..n.len() - 1],
            x: true,
            rest: arg,
        },
        n => Cmd::Drop {
            breaks: !n.ends_with("index") || n == "printindex",
        },
    }
}

/// The kind of an open environment.
#[derive(Debug)]
enum Kind {
    /// `@itemize` (no counter) or `@enumerate` (the next item's number or letter).
    List(Option<Counter>),
    /// `@table`, `@vtable`, `@ftable` and the command its items are formatted with.
    Table(String),
    Multitable,
    Quotation,
    Def,
}

#[derive(Debug, Clone, Copy)]
enum Counter {
    Number(u64),
    Letter(char),
}

impl Counter {
    /// The marker of the next item (`3. `, `c. `), advancing the counter.
    fn next(&mut self) -> String {
        match self {
            Counter::Number(n) => {
                let m = format!("{n}. ");
                *n = n.saturating_add(1);
                m
            }
            Counter::Letter(c) => {
                let m = format!("{c}. ");
                *c = char::from_u32(*c as u32 + 1)
                    .filter(char::is_ascii_alphabetic)
                    .unwrap_or(*c);
                m
            }
        }
    }
}

#[derive(Debug)]
struct Env {
    /// The name its `@end` gives (`table`, `deffn`).
    name: String,
    kind: Kind,
    /// Tells the paragraphs of one list apart from another's.
    id: usize,
    /// The level of its open entry on the trail (a table item, a definition).
    entry: Option<u8>,
    /// What the next paragraph starts with (`- `, `2. `, a quotation's `Note: `), and
    /// whether that paragraph is an item of this list (laid out as continuing it).
    marker: Option<(String, bool)>,
}

/// A paragraph being gathered: its raw lines (inline commands may span them).
struct Para {
    text: String,
    start: u32,
    end: u32,
    marker: Option<String>,
    /// The list it is an item of.
    list: Option<usize>,
}

struct Reader<'l> {
    lines: &'l [Line],
    /// Before the first node or heading of a manual's own file: only settings are read.
    preamble: bool,
    blocks: Vec<Block>,
    /// `@settitle`'s text.
    title: Option<String>,
    /// `@top`'s text, the title when there is no `@settitle`.
    top: Option<String>,
    /// The level of the last heading, under which entries nest.
    section: u8,
    /// `@raisesections` minus `@lowersections`.
    raise: i32,
    /// The anchor of the last `@node`, for the heading that follows it.
    anchor: Option<String>,
    envs: Vec<Env>,
    para: Option<Para>,
    next_id: usize,
    /// The list whose item was the last block (its next item continues it).
    continuing: Option<usize>,
    /// The last block is this entry, with no text after it yet: an `@itemx` or `@deffnx`
    /// names it again.
    open_entry: Option<usize>,
    produced: usize,
}

impl Reader<'_> {
    fn run(&mut self, budget: &Budget) -> Result<(), ReadError> {
        let lines = self.lines;
        let mut i = 0;
        while i < lines.len() {
            if i.is_multiple_of(256) {
                budget.check()?;
                budget.check_size(self.produced)?;
            }
            let line = &lines[i];
            let no = line.no;
            if line.text.trim().is_empty() {
                self.flush();
                i += 1;
                continue;
            }
            let cmd = classify(&line.text);
            if self.preamble {
                match cmd {
                    Cmd::Node(_) | Cmd::Heading { .. } => self.preamble = false,
                    Cmd::SetTitle(_) | Cmd::Raise(_) => {}
                    _ => {
                        i += 1;
                        continue;
                    }
                }
            }
            match cmd {
                // Verbatim content outside `@verbatim` cannot happen; read it as text.
                _ if line.raw => self.add_text(&line.text, no),
                Cmd::Text => self.add_text(&line.text, no),
                Cmd::Drop { breaks } => {
                    if breaks {
                        self.flush();
                    }
                }
                Cmd::Node(rest) => {
                    self.flush();
                    let name = split_args(rest).into_iter().next().unwrap_or_default();
                    let name = inline(&name, Mode::Code);
                    self.anchor = Some(super::info::node_anchor(&name)).filter(|a| !a.is_empty());
                }
                Cmd::Heading { level, top, rest } => self.heading(level, top, rest, no),
                Cmd::Begin(name, rest) if CODE_ENVS.contains(&name) => {
                    i = self.code(name, rest, i);
                    continue;
                }
                Cmd::Begin(name, rest) => self.begin(name, rest),
                Cmd::End(name) => self.end(name, no),
                Cmd::Item(rest) => self.item(rest, no),
                Cmd::Def { name, x, rest } => self.def(name, x, rest, no),
                Cmd::Center(rest) => {
                    self.flush();
                    self.add_text(rest, no);
                    self.flush();
                }
                Cmd::Keep(rest) => {
                    if !rest.is_empty() {
                        self.add_text(rest, no);
                    }
                }
                Cmd::SetTitle(rest) => {
                    let t = super::one_line(&inline(rest, Mode::Prose));
                    if !t.is_empty() {
                        self.title = Some(t);
                    }
                }
                Cmd::Raise(d) => self.raise += i32::from(d),
            }
            i += 1;
        }
        self.flush();
        let last = lines.last().map_or(1, |l| l.no);
        self.close_envs(0, last);
        Ok(())
    }

    fn push(&mut self, block: Block) {
        if !matches!(block, Block::Entry { .. }) {
            self.open_entry = None;
        }
        self.continuing = None;
        self.produced += block.text().len();
        self.blocks.push(block);
    }

    /// Adds a line to the paragraph being gathered (starting one, with the marker of the
    /// list item it opens, if any).
    fn add_text(&mut self, text: &str, no: u32) {
        if let Some(p) = &mut self.para {
            p.text.push('\n');
            p.text.push_str(text);
            p.end = p.end.max(no);
            return;
        }
        let (marker, list) = match self.envs.last_mut() {
            Some(env) => match env.marker.take() {
                Some((m, item)) => (Some(m), item.then_some(env.id)),
                None => (None, None),
            },
            None => (None, None),
        };
        self.para = Some(Para {
            text: text.to_string(),
            start: no,
            end: no,
            marker,
            list,
        });
    }

    /// Ends the paragraph being gathered: its text with inline commands resolved, as an
    /// item continuing its list when the block before was the list's previous item.
    fn flush(&mut self) {
        let Some(p) = self.para.take() else {
            return;
        };
        let mut text = super::one_line(&inline(&p.text, Mode::Prose));
        if text.is_empty() {
            return;
        }
        if let Some(m) = p.marker {
            text = format!("{m}{text}");
        }
        // A multitable row whose last cell holds only a block (an example) ends in `@tab`.
        if let Some(row) = text.strip_suffix(" |") {
            text = row.to_string();
        }
        let loc = Loc::new(p.start, p.end);
        let block = match p.list {
            Some(id) if self.continuing == Some(id) => Block::Item { text, loc },
            _ => Block::Text { text, loc },
        };
        self.push(block);
        self.continuing = p.list;
    }

    fn heading(&mut self, level: u8, top: bool, rest: &str, no: u32) {
        self.flush();
        self.close_envs(0, no);
        let text = super::one_line(&inline(rest, Mode::Prose));
        let level = (i32::from(level) - self.raise).clamp(1, 6) as u8;
        self.section = level;
        if text.is_empty() {
            return;
        }
        if top && self.top.is_none() {
            self.top = Some(text.clone());
        }
        let anchor = self.anchor.take();
        self.push(Block::Heading {
            level,
            text,
            anchor,
            loc: Loc::new(no, no),
        });
    }

    /// The level an entry of the environment at `pos` stands at: one below the innermost
    /// entry open around it, or below the section.
    fn entry_level(&self, pos: usize) -> u8 {
        self.envs[..pos]
            .iter()
            .filter_map(|e| e.entry)
            .max()
            .unwrap_or(self.section)
            .saturating_add(1)
    }

    fn open(&mut self, name: &str, kind: Kind, marker: Option<(String, bool)>) -> usize {
        self.next_id += 1;
        self.envs.push(Env {
            name: name.to_string(),
            kind,
            id: self.next_id,
            entry: None,
            marker,
        });
        self.envs.len() - 1
    }

    fn begin(&mut self, name: &str, rest: &str) {
        self.flush();
        match name {
            "itemize" => {
                self.open(name, Kind::List(None), None);
            }
            "enumerate" => {
                let start = rest.trim();
                let counter = match start.parse::<u64>() {
                    Ok(n) => Counter::Number(n),
                    Err(_) => match start.chars().next() {
                        Some(c) if c.is_ascii_alphabetic() && start.len() == 1 => {
                            Counter::Letter(c)
                        }
                        _ => Counter::Number(1),
                    },
                };
                self.open(name, Kind::List(Some(counter)), None);
            }
            "table" | "vtable" | "ftable" => {
                let fmt = rest
                    .trim()
                    .strip_prefix('@')
                    .map(|f| f[..name_len(f.as_bytes())].to_string())
                    .unwrap_or_else(|| "asis".to_string());
                self.open(name, Kind::Table(fmt), None);
            }
            "multitable" => {
                self.open(name, Kind::Multitable, None);
            }
            "quotation" | "smallquotation" => {
                let label = super::one_line(&inline(rest, Mode::Prose));
                let marker = (!label.is_empty()).then(|| (format!("{label}: "), false));
                self.open(name, Kind::Quotation, marker);
            }
            // `@defblock`: definitions given by `@defline`s.
            _ => {
                self.open(name, Kind::Def, None);
            }
        }
    }

    fn end(&mut self, name: &str, no: u32) {
        self.flush();
        if let Some(pos) = self.envs.iter().rposition(|e| e.name == name) {
            self.close_envs(pos, no);
        }
        // An `@end` of a block that changes nothing here (`@end group`, `@end cartouche`),
        // or of one that was never opened, closes nothing.
    }

    /// Closes the environments after the first `keep`, ending their entries on the trail.
    fn close_envs(&mut self, keep: usize, no: u32) {
        while self.envs.len() > keep {
            let Some(env) = self.envs.pop() else { break };
            if let Some(level) = env.entry {
                self.push(Block::End {
                    level,
                    loc: Loc::new(no, no),
                });
            }
        }
    }

    fn item(&mut self, rest: &str, no: u32) {
        let Some(pos) = self
            .envs
            .iter()
            .rposition(|e| matches!(e.kind, Kind::List(_) | Kind::Table(_) | Kind::Multitable))
        else {
            // An `@item` outside any list: its text is text.
            self.add_text(rest, no);
            return;
        };
        self.flush();
        self.close_envs(pos + 1, no);
        match &mut self.envs[pos].kind {
            Kind::List(counter) => {
                let marker = counter
                    .as_mut()
                    .map_or_else(|| "- ".to_string(), Counter::next);
                self.envs[pos].marker = Some((marker, true));
                if !rest.is_empty() {
                    self.add_text(rest, no);
                }
            }
            Kind::Multitable => {
                self.envs[pos].marker = Some((String::new(), true));
                if !rest.is_empty() {
                    self.add_text(rest, no);
                }
            }
            Kind::Table(fmt) => {
                let term = table_term(fmt, rest);
                if term.is_empty() {
                    return;
                }
                self.entry(pos, &term, no);
            }
            Kind::Quotation | Kind::Def => {}
        }
    }

    /// Opens the entry `name` for the environment at `pos`, or adds it to the entry just
    /// opened (`@itemx`, `@deffnx`: several names of one entry).
    fn entry(&mut self, pos: usize, name: &str, no: u32) {
        if let (Some(i), Some(_)) = (self.open_entry, self.envs[pos].entry) {
            if let Some(Block::Entry { text, loc, .. }) = self.blocks.get_mut(i) {
                // find's manual gives `-files0-from file` twice, as `@deffn` and `@deffnx`.
                let joined = if text.split(", ").any(|n| n == name) {
                    text.clone()
                } else {
                    short_signature(&format!("{text}, {name}"))
                };
                self.produced += joined.len().saturating_sub(text.len());
                *text = joined;
                *loc = loc.union(Loc::new(no, no));
                return;
            }
        }
        let level = self.envs[pos]
            .entry
            .unwrap_or_else(|| self.entry_level(pos));
        self.envs[pos].entry = Some(level);
        self.push(Block::Entry {
            level,
            text: short_signature(name),
            anchor: None,
            loc: Loc::new(no, no),
        });
        self.open_entry = Some(self.blocks.len() - 1);
    }

    fn def(&mut self, name: &str, x: bool, rest: &str, no: u32) {
        self.flush();
        let sig = def_signature(name, rest);
        let pos = if x {
            match self.envs.iter().rposition(|e| matches!(e.kind, Kind::Def)) {
                Some(pos) => {
                    self.close_envs(pos + 1, no);
                    pos
                }
                // `@deffnx` with no `@deffn`: a definition of its own, closed by nothing.
                None => self.open(name, Kind::Def, None),
            }
        } else {
            self.open(name, Kind::Def, None)
        };
        if !sig.is_empty() {
            self.entry(pos, &sig, no);
        }
    }

    /// Reads a code environment starting at line `i` up to its `@end` (or, unterminated, to
    /// the next node or heading); returns the index of the line after it.
    fn code(&mut self, name: &str, rest: &str, i: usize) -> usize {
        self.flush();
        let lines = self.lines;
        let raw = name == "verbatim";
        let mut body: Vec<(&str, u32)> = Vec::new();
        let mut depth = 0usize;
        let mut j = i + 1;
        let mut next = lines.len();
        while j < lines.len() {
            let l = &lines[j];
            if raw {
                if !l.raw {
                    next = j + 1;
                    break;
                }
                body.push((&l.text, l.no));
                j += 1;
                continue;
            }
            match classify(&l.text) {
                Cmd::End(n) if n == name => {
                    if depth == 0 {
                        next = j + 1;
                        break;
                    }
                    depth -= 1;
                }
                Cmd::Begin(n, _) if n == name => depth += 1,
                Cmd::Heading { .. } | Cmd::Node(_) => {
                    next = j;
                    break;
                }
                Cmd::Text => body.push((&l.text, l.no)),
                Cmd::Keep(r) | Cmd::Center(r) if !r.is_empty() => body.push((r, l.no)),
                // The lines of commands (`@group`, `@cindex`, a nested block's start and
                // end) show nothing.
                _ => {}
            }
            j += 1;
        }
        while body.first().is_some_and(|(t, _)| t.trim().is_empty()) {
            body.remove(0);
        }
        while body.last().is_some_and(|(t, _)| t.trim().is_empty()) {
            body.pop();
        }
        if let (Some(&(_, first)), Some(&(_, last))) = (body.first(), body.last()) {
            let joined = body.iter().map(|(t, _)| *t).collect::<Vec<_>>().join("\n");
            let text = if raw {
                joined
            } else {
                inline(&joined, Mode::Code)
            };
            let lang = match name {
                "lisp" | "smalllisp" => Some("lisp".to_string()),
                "example" | "smallexample" => rest
                    .split_whitespace()
                    .next()
                    .filter(|l| l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                    .map(str::to_string),
                _ => None,
            };
            self.push(Block::Code {
                lang,
                text,
                loc: Loc::new(first, last),
            });
        }
        next
    }
}

/// A table item's term formatted as the table says (`@table @code`: `@code{TERM}`). A term
/// is a name, read as code even in an `@asis` table (`--all` stays two hyphens), and code
/// is not quoted on the trail, so `@samp` is read as `@code` there.
fn table_term(fmt: &str, rest: &str) -> String {
    let fmt = match fmt {
        "samp" => "code",
        "asis" | "" => return super::one_line(&inline(rest, Mode::Code)),
        f => f,
    };
    super::one_line(&inline(&format!("@{fmt}{{{rest}}}"), Mode::Code))
}

/// A definition's name and arguments, without the category and class words before them:
/// `@deffn Command chdir [directory]` → `chdir [directory]`, `@deftypefn {Library
/// Function} int foo (int @var{x})` → `int foo (int X)`.
fn def_signature(name: &str, rest: &str) -> String {
    let mut s = rest.trim_start();
    for _ in 0..def_skip(name).unwrap_or(0) {
        s = s[word_end(s)..].trim_start();
    }
    super::one_line(&inline(s, Mode::Code))
}

/// The end of the first word of `s`: a `{…}` group, or a run up to white space outside
/// braces (`@var{a b}` is one word).
fn word_end(s: &str) -> usize {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'@' => {
                i += 2;
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 && b[0] == b'{' {
                    return i + 1;
                }
            }
            c if c.is_ascii_whitespace() && depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    b.len()
}

/// A line command's arguments split at top-level commas (`@node Name, Next, Prev, Up`).
fn split_args(s: &str) -> Vec<String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let (mut depth, mut from, mut i) = (0usize, 0usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'@' => {
                i += 2;
                continue;
            }
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                out.push(s[from..i].trim().to_string());
                from = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(s[from.min(s.len())..].trim().to_string());
    out
}

/// How text is being read: prose (``` ``quotes'' ``` become curly, `@samp` is quoted) or
/// code (kept as written, white space included).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Prose,
    Code,
}

/// A brace command being read: its name (empty for a bare `{…}` group), its arguments so
/// far and the text of the current one.
struct Frame {
    cmd: String,
    args: Vec<String>,
    buf: String,
    /// Commas separate its arguments (`@xref{node, label}`), rather than being text.
    multi: bool,
    /// Its content is code (no curly quotes inside).
    code: bool,
}

/// Commands whose arguments are separated by commas.
fn multi_arg(cmd: &str) -> bool {
    matches!(
        cmd,
        "url"
            | "uref"
            | "email"
            | "xref"
            | "pxref"
            | "ref"
            | "inforef"
            | "acronym"
            | "abbr"
            | "image"
            | "inlinefmt"
            | "inlineraw"
            | "inlineifset"
            | "inlineifclear"
            | "inlinefmtifelse"
    )
}

fn code_like(cmd: &str) -> bool {
    matches!(
        cmd,
        "code"
            | "command"
            | "option"
            | "env"
            | "file"
            | "kbd"
            | "key"
            | "samp"
            | "t"
            | "verb"
            | "indicateurl"
            | "url"
            | "uref"
            | "email"
    )
}

/// Text with its inline commands resolved (see the module's doc). Linear in the input:
/// braces are matched with a stack, bounded at [`MAX_BRACE_DEPTH`].
fn inline(s: &str, mode: Mode) -> String {
    let b = s.as_bytes();
    let mut root = String::with_capacity(s.len());
    let mut stack: Vec<Frame> = Vec::new();
    // Braces opened past the depth limit, whose closing braces are dropped too.
    let mut overflow = 0usize;
    let mut code = usize::from(mode == Mode::Code);
    let mut i = 0;
    let mut plain = 0;
    macro_rules! out {
        () => {
            match stack.last_mut() {
                Some(f) => &mut f.buf,
                None => &mut root,
            }
        };
    }
    while i < b.len() {
        let c = b[i];
        if !matches!(c, b'@' | b'{' | b'}' | b',' | b'`' | b'\'' | b'-') {
            i += 1;
            continue;
        }
        out!().push_str(&s[plain..i]);
        plain = i + 1;
        match c {
            b'@' => {
                let Some(&n) = b.get(i + 1) else {
                    i += 1;
                    continue;
                };
                if n.is_ascii_alphabetic() {
                    let end = i + 1 + name_len(&b[i + 1..]);
                    let name = &s[i + 1..end];
                    if b.get(end) == Some(&b'{') {
                        if name == "verb" {
                            let (text, after) = verb(s, end + 1);
                            out!().push_str(text);
                            i = after;
                            plain = after;
                            continue;
                        }
                        if stack.len() >= MAX_BRACE_DEPTH {
                            overflow += 1;
                        } else {
                            let is_code = code_like(name);
                            code += usize::from(is_code);
                            stack.push(Frame {
                                cmd: name.to_string(),
                                args: Vec::new(),
                                buf: String::new(),
                                multi: multi_arg(name),
                                code: is_code,
                            });
                        }
                        i = end + 1;
                    } else {
                        match name {
                            "tab" => out!().push_str(" | "),
                            "c" | "comment" => {
                                // A comment runs to the end of its line.
                                let eol = s[end..].find('\n').map_or(s.len(), |p| end + p);
                                i = eol;
                                plain = eol;
                                continue;
                            }
                            // Any other command without braces (a line command in the middle
                            // of text, an unknown macro) shows nothing.
                            _ => {}
                        }
                        i = end;
                        // The blank that ends a brace-less command's name belongs to it.
                        if matches!(name, "tab") && b.get(i) == Some(&b' ') {
                            i += 1;
                        }
                    }
                    plain = i;
                    continue;
                }
                let ch = s[i + 1..].chars().next().unwrap_or(' ');
                let mut after = i + 1 + ch.len_utf8();
                match ch {
                    '@' | '{' | '}' | '.' | '!' | '?' | '\\' => out!().push(ch),
                    '*' => out!().push(if code > 0 { '\n' } else { ' ' }),
                    ' ' | '\t' | '\n' | '\r' => out!().push(' '),
                    '\'' | '"' | '`' | '^' | '~' | '=' | ',' => {
                        let mark = ch.to_string();
                        if b.get(after) == Some(&b'{') {
                            if stack.len() >= MAX_BRACE_DEPTH {
                                overflow += 1;
                            } else {
                                stack.push(Frame {
                                    cmd: mark,
                                    args: Vec::new(),
                                    buf: String::new(),
                                    multi: false,
                                    code: false,
                                });
                            }
                            after += 1;
                        } else if let Some(base) = s[after..]
                            .chars()
                            .next()
                            .filter(|c| !matches!(c, '@' | '\n'))
                        {
                            out!().push_str(&accent(&mark, &base.to_string()));
                            after += base.len_utf8();
                        }
                    }
                    // `@:`, `@-`, `@/`, `@|` and anything else: nothing.
                    _ => {}
                }
                i = after;
                plain = after;
            }
            b'{' => {
                if stack.len() >= MAX_BRACE_DEPTH {
                    overflow += 1;
                } else {
                    stack.push(Frame {
                        cmd: String::new(),
                        args: Vec::new(),
                        buf: String::new(),
                        multi: false,
                        code: false,
                    });
                }
                i += 1;
            }
            b'}' => {
                if overflow > 0 {
                    overflow -= 1;
                } else if let Some(f) = stack.pop() {
                    code -= usize::from(f.code);
                    let text = finish(f, code > 0);
                    out!().push_str(&text);
                }
                // A `}` closing nothing is dropped.
                i += 1;
            }
            b',' => {
                match stack.last_mut() {
                    Some(f) if f.multi && overflow == 0 => {
                        let arg = std::mem::take(&mut f.buf);
                        f.args.push(arg);
                    }
                    _ => out!().push(','),
                }
                i += 1;
            }
            // ``quoted'' text in prose: curly quotes, as makeinfo writes them.
            b'`' | b'\'' if code == 0 && b.get(i + 1) == Some(&c) => {
                out!().push(if c == b'`' { '“' } else { '”' });
                i += 2;
                plain = i;
            }
            // `---` and `--` in prose are dashes (makeinfo's em and en dash); in code they
            // are an option's.
            b'-' if code == 0 && b.get(i + 1) == Some(&b'-') => {
                if b.get(i + 2) == Some(&b'-') {
                    out!().push('—');
                    i += 3;
                } else {
                    out!().push('–');
                    i += 2;
                }
                plain = i;
            }
            _ => {
                out!().push(c as char);
                i += 1;
            }
        }
    }
    out!().push_str(&s[plain.min(s.len())..]);
    // Unclosed commands end with the text.
    while let Some(f) = stack.pop() {
        code -= usize::from(f.code);
        let text = finish(f, code > 0);
        out!().push_str(&text);
    }
    root
}

/// `@verb{|text|}` whose content starts at `from`: the text between the delimiters, and the
/// byte after the closing `}`.
fn verb(s: &str, from: usize) -> (&str, usize) {
    let Some(delim) = s[from..].chars().next() else {
        return ("", s.len());
    };
    let start = from + delim.len_utf8();
    let close = format!("{delim}}}");
    match s[start..].find(&close) {
        Some(p) => (&s[start..start + p], start + p + close.len()),
        None => (&s[start..], s.len()),
    }
}

/// The text a finished brace command gives; `in_code` when it stands inside code.
fn finish(f: Frame, in_code: bool) -> String {
    let mut args = f.args;
    args.push(f.buf);
    let arg = |k: usize| {
        args.get(k)
            .map(|a| super::one_line(a))
            .filter(|a| !a.is_empty())
    };
    let all = || args.join(", ");
    let cmd = f.cmd.as_str();
    if let Some(g) = glyph(cmd) {
        return format!("{g}{}", args.concat());
    }
    match cmd {
        "samp" if !in_code => format!("‘{}’", all()),
        "var" | "sc" => all().to_uppercase(),
        "key" => format!("<{}>", all()),
        "sup" => format!("^{}", all()),
        "acronym" | "abbr" => match (arg(0), arg(1)) {
            (Some(a), Some(e)) => format!("{a} ({e})"),
            (a, _) => a.unwrap_or_default(),
        },
        "url" | "uref" => match (arg(0), arg(1), arg(2)) {
            (_, _, Some(shown)) => shown,
            (Some(url), Some(text), None) => format!("{text} ({url})"),
            (url, text, None) => url.or(text).unwrap_or_default(),
        },
        "email" => match (arg(0), arg(1)) {
            (Some(a), Some(t)) => format!("{t} <{a}>"),
            (a, t) => a.or(t).unwrap_or_default(),
        },
        "xref" | "pxref" | "ref" | "inforef" => {
            let node = arg(0);
            let label = arg(1).or(if cmd == "inforef" { None } else { arg(2) });
            let manual = if cmd == "inforef" {
                arg(2)
            } else {
                arg(4).or(arg(3))
            };
            let mut name = label.clone().or(node.clone()).unwrap_or_default();
            if let Some(m) = manual {
                name = if label.is_none() && node.as_deref().is_none_or(|n| n == "Top") {
                    m
                } else {
                    format!("{name} in {m}")
                };
            }
            match cmd {
                "xref" | "inforef" => format!("See {name}"),
                "pxref" => format!("see {name}"),
                _ => name,
            }
        }
        "footnote" => format!(" ({})", all().trim()),
        "image" => arg(3).unwrap_or_default(),
        "anchor" | "hyphenation" | "sortas" | "seeentry" | "seealso" | "indexterm" => String::new(),
        "U" => u32::from_str_radix(all().trim(), 16)
            .ok()
            .and_then(char::from_u32)
            .map(String::from)
            .unwrap_or_default(),
        "dotless" => match all().trim() {
            "i" => "ı".to_string(),
            "j" => "ȷ".to_string(),
            other => other.to_string(),
        },
        "inlinefmt" | "inlineraw" => match arg(0).as_deref() {
            Some("info" | "plaintext") => args[1..].join(", "),
            _ => String::new(),
        },
        "inlinefmtifelse" => match arg(0).as_deref() {
            Some("info" | "plaintext") => arg(1).unwrap_or_default(),
            _ => arg(2).unwrap_or_default(),
        },
        "inlineifset" => args.get(1).cloned().unwrap_or_default(),
        "inlineifclear" => String::new(),
        c if accent_mark(c).is_some() => accent(c, &all()),
        // `@code`, `@emph`, `@w`, a bare `{…}` group, an unknown command: its text.
        _ => all(),
    }
}

/// Commands that stand for a character or a word (`@dots{}`, `@result{}`, `@TeX{}`).
fn glyph(cmd: &str) -> Option<&'static str> {
    Some(match cmd {
        "dots" => "...",
        "enddots" => "....",
        "TeX" => "TeX",
        "LaTeX" => "LaTeX",
        "copyright" => "©",
        "registeredsymbol" => "®",
        "result" => "⇒",
        "expansion" => "↦",
        "print" => "-|",
        "error" => "error→",
        "equiv" => "≡",
        "point" => "∗",
        "bullet" => "•",
        "minus" => "-",
        "comma" => ",",
        "atchar" => "@",
        "lbracechar" => "{",
        "rbracechar" => "}",
        "backslashchar" => "\\",
        "hashchar" => "#",
        "tie" => " ",
        "exclamdown" => "¡",
        "questiondown" => "¿",
        "pounds" => "£",
        "euro" => "€",
        "textdegree" => "°",
        "ordf" => "ª",
        "ordm" => "º",
        "geq" => "≥",
        "leq" => "≤",
        "arrow" | "click" => "→",
        "guillemetleft" | "guillemotleft" => "«",
        "guillemetright" | "guillemotright" => "»",
        "guilsinglleft" => "‹",
        "guilsinglright" => "›",
        "quotedblleft" => "“",
        "quotedblright" => "”",
        "quoteleft" => "‘",
        "quoteright" => "’",
        "quotedblbase" => "„",
        "quotesinglbase" => "‚",
        "ss" => "ß",
        "aa" => "å",
        "AA" => "Å",
        "ae" => "æ",
        "AE" => "Æ",
        "oe" => "œ",
        "OE" => "Œ",
        "o" => "ø",
        "O" => "Ø",
        "l" => "ł",
        "L" => "Ł",
        "dh" => "ð",
        "DH" => "Ð",
        "th" => "þ",
        "TH" => "Þ",
        "today" => "",
        _ => return None,
    })
}

/// The combining mark an accent command puts on its letter.
fn accent_mark(cmd: &str) -> Option<char> {
    Some(match cmd {
        "'" => '\u{301}',
        "`" => '\u{300}',
        "^" => '\u{302}',
        "\"" => '\u{308}',
        "~" => '\u{303}',
        "=" => '\u{304}',
        "," => '\u{327}',
        "u" => '\u{306}',
        "v" => '\u{30c}',
        "H" => '\u{30b}',
        "dotaccent" => '\u{307}',
        "ringaccent" => '\u{30a}',
        "ogonek" => '\u{328}',
        "tieaccent" => '\u{361}',
        "udotaccent" => '\u{323}',
        "ubaraccent" => '\u{332}',
        _ => return None,
    })
}

/// `@'e` → `é`: the precomposed letter where Latin-1 and Latin Extended-A have one, else
/// the letter followed by the combining mark.
fn accent(cmd: &str, base: &str) -> String {
    let base = base.trim();
    let Some(mark) = accent_mark(cmd) else {
        return base.to_string();
    };
    let mut chars = base.chars();
    let Some(c) = chars.next() else {
        return String::new();
    };
    const TABLE: [(char, &str, &str); 13] = [
        ('\u{301}', "aeiouyAEIOUYcnszCNSZ", "áéíóúýÁÉÍÓÚÝćńśźĆŃŚŹ"),
        ('\u{300}', "aeiouAEIOU", "àèìòùÀÈÌÒÙ"),
        ('\u{302}', "aeiouAEIOU", "âêîôûÂÊÎÔÛ"),
        ('\u{308}', "aeiouyAEIOUY", "äëïöüÿÄËÏÖÜŸ"),
        ('\u{303}', "anoANO", "ãñõÃÑÕ"),
        ('\u{327}', "cCsS", "çÇşŞ"),
        ('\u{30a}', "aAuU", "åÅůŮ"),
        ('\u{30c}', "cCsSzZrReEnN", "čČšŠžŽřŘěĚňŇ"),
        ('\u{30b}', "oOuU", "őŐűŰ"),
        ('\u{306}', "aAgG", "ăĂğĞ"),
        ('\u{304}', "aeiouAEIOU", "āēīōūĀĒĪŌŪ"),
        ('\u{328}', "aeAE", "ąęĄĘ"),
        ('\u{307}', "zZeEgGI", "żŻėĖġĠİ"),
    ];
    let composed = TABLE
        .iter()
        .find(|(m, _, _)| *m == mark)
        .and_then(|(_, from, to)| {
            from.chars()
                .position(|x| x == c)
                .and_then(|k| to.chars().nth(k))
        });
    let mut out = String::new();
    match composed {
        Some(p) => out.push(p),
        None => {
            out.push(c);
            out.push(mark);
        }
    }
    out.push_str(chars.as_str());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::testing::{codes, entries, headings, texts, trail_of, Files};

    fn parse(s: &str) -> Parsed {
        read(s, &Budget::unlimited()).expect("read")
    }

    fn prose(s: &str) -> String {
        crate::read::one_line(&inline(s, Mode::Prose))
    }

    const SAMPLE: &str = r#"\input texinfo   @c -*-texinfo-*-
@c %**start of header
@setfilename tide.info
@settitle GNU Tide Manual
@c %**end of header
@set VERSION 2.1
@set EDITION second

@copying
This manual is for GNU Tide.  Permission is granted to copy it.
@end copying

@titlepage
@title GNU Tide
@insertcopying
@end titlepage

@dircategory Utilities
@direntry
* tide: (tide).   Print tide tables.
@end direntry

@ifnottex
@node Top
@top GNU Tide

This is the @value{EDITION} edition, for Tide @value{VERSION}.
@end ifnottex

@menu
* Invoking tide::     Options and arguments.
@end menu

@node Invoking tide
@chapter Invoking @command{tide}
@cindex invoking
@cindex options

@command{tide} prints the tides of one harbour.  @xref{Harbours},
for the list, and see @ref{Top}.

@table @samp
@item -p @var{port}
@itemx --port=@var{port}
@opindex -p
Print the tides of @var{port}.  For example,

@example
$ tide --port=brest
high 06:12  @result{} @code{ok}
@end example

@item -w
Wide output.
@table @code
@item -wx
Same as @samp{-w -x}.
@end table
@end table

Exit status is 0 on success.

@deffn Command tide-sync [--force] @var{host}
@deffnx Command tide-push @var{host}
Copy the tables from @var{host}.
@end deffn

@node Lists
@section Lists and quotes

@itemize @bullet
@item
one bullet with its text
continued here
@item another
@end itemize

@enumerate
@item first
@item second
@end enumerate

@quotation Note
Tides are not currents.
@end quotation

@multitable @columnfractions .3 .7
@headitem Port @tab Range
@item Brest @tab 7 m
@item Kirkwall
@tab 3 m
@end multitable

@ignore
This is ignored.
@end ignore

@iftex
Only in print.
@end iftex

@ifinfo
Only in Info.
@end ifinfo

@ifnothtml
@xref{Tides, , Tides, tidal, The Tidal Manual}.
@end ifnothtml
@ifhtml
See @uref{https://example.org/tides.html, Tides} in the Tidal Manual.
@end ifhtml

@printindex cp
@bye
After bye.
"#;

    #[test]
    fn structure_titles_and_anchors() {
        let p = parse(SAMPLE);
        assert_eq!(p.title.as_deref(), Some("GNU Tide Manual"));
        assert_eq!(
            headings(&p),
            [
                (1, "GNU Tide".into(), Some("Top".into())),
                (1, "Invoking tide".into(), Some("Invoking-tide".into())),
                (2, "Lists and quotes".into(), Some("Lists".into())),
            ]
        );
        // Without `@settitle`, `@top` titles the manual.
        let p = parse("@node Top\n@top The Tide Book\n\nText.\n");
        assert_eq!(p.title.as_deref(), Some("The Tide Book"));
        // Heading levels: every sectioning and heading command, raised and lowered.
        let p = parse(
            "@chapter A\n@section B\n@subsection C\n@subsubsection D\n@unnumbered E\n\
             @appendixsec F\n@heading G\n@subheading H\n@lowersections\n@section I\n\
             @raisesections\n@raisesections\n@section J\n",
        );
        let levels: Vec<(u8, String)> = headings(&p).into_iter().map(|(l, t, _)| (l, t)).collect();
        assert_eq!(
            levels,
            [
                (1, "A".into()),
                (2, "B".into()),
                (3, "C".into()),
                (4, "D".into()),
                (1, "E".into()),
                (2, "F".into()),
                (2, "G".into()),
                (3, "H".into()),
                (3, "I".into()),
                (1, "J".into()),
            ]
        );
    }

    #[test]
    fn tables_and_definitions_are_entries_on_the_trail() {
        let p = parse(SAMPLE);
        let e: Vec<(u8, String)> = entries(&p).into_iter().map(|(l, t, _)| (l, t)).collect();
        assert_eq!(
            e,
            [
                (2, "-p PORT, --port=PORT".to_string()),
                (2, "-w".to_string()),
                (3, "-wx".to_string()),
                (2, "tide-sync [--force] HOST, tide-push HOST".to_string()),
            ]
        );
        let trail = trail_of(&p);
        assert_eq!(
            trail("Print the tides of PORT"),
            "Invoking tide > -p PORT, --port=PORT"
        );
        assert_eq!(trail("high 06:12"), "Invoking tide > -p PORT, --port=PORT");
        assert_eq!(trail("Wide output"), "Invoking tide > -w");
        assert_eq!(trail("Same as ‘-w -x’"), "Invoking tide > -w > -wx");
        assert_eq!(trail("Exit status is 0"), "Invoking tide");
        assert_eq!(
            trail("Copy the tables"),
            "Invoking tide > tide-sync [--force] HOST, tide-push HOST"
        );
        assert_eq!(
            trail("Tides are not currents"),
            "Invoking tide > Lists and quotes"
        );
        // Other definition commands: the category (and class) words are not the name.
        let p = parse(
            "@defun tide-at harbour time\nA.\n@end defun\n\
             @deftypefn {Library Function} int tide_level (const char *@var{port})\nB.\n@end deftypefn\n\
             @defop Operation Harbour open when\nC.\n@end defop\n\
             @defvr {User Option} tide-units\nD.\n@end defvr\n",
        );
        let e: Vec<String> = entries(&p).into_iter().map(|(_, t, _)| t).collect();
        assert_eq!(
            e,
            [
                "tide-at harbour time",
                "int tide_level (const char *PORT)",
                "open when",
                "tide-units",
            ]
        );
    }

    #[test]
    fn examples_lists_rows_and_quotations() {
        let p = parse(SAMPLE);
        assert_eq!(
            codes(&p),
            [(None, "$ tide --port=brest\nhigh 06:12  ⇒ ok".to_string())]
        );
        let t = texts(&p);
        for want in [
            "This is the second edition, for Tide 2.1.",
            "tide prints the tides of one harbour. See Harbours, for the list, and see Top.",
            "- one bullet with its text continued here\n- another",
            "1. first\n2. second",
            "Note: Tides are not currents.",
            "Port | Range\nBrest | 7 m\nKirkwall | 3 m",
            "Only in Info.",
            "See Tides in The Tidal Manual.",
        ] {
            assert!(t.contains(&want.to_string()), "{want:?} not in {t:#?}");
        }
        // Left out: comments, the licence, the title page, the directory entry, menus,
        // index entries, `@ignore`, TeX-only text and everything after `@bye`.
        let all = format!("{t:?} {:?}", headings(&p));
        for gone in [
            "texinfo",
            "Permission",
            "dircategory",
            "Options and arguments",
            "invoking",
            "ignored",
            "Only in print",
            "example.org",
            "After bye",
            "tide.info",
        ] {
            assert!(!all.contains(gone), "{gone}: {all}");
        }
        // Lines are the file's own, 1-based.
        let lines: Vec<&str> = SAMPLE.lines().collect();
        let at = |needle: &str| lines.iter().position(|l| l.contains(needle)).unwrap() as u32 + 1;
        let code = p
            .blocks
            .iter()
            .find(|b| matches!(b, Block::Code { .. }))
            .unwrap();
        assert_eq!(code.loc(), Loc::new(at("$ tide --port"), at("high 06:12")));
        assert_eq!(
            crate::read::testing::rendered_loc(&p, "one bullet"),
            Loc::new(at("one bullet"), at("continued here"))
        );
    }

    #[test]
    fn verbatim_lisp_and_display_are_code() {
        let p = parse(
            "@verbatim\n@code{raw} {braces} @c not a comment\n@end verbatim\n\
             @lisp\n(setq x 1) @c comment\n@end lisp\n\
             @display\nline one@*\n   line two\n@end display\n\
             @example sh\n@group\necho @@home @{x@}\n@end group\n@end example\n",
        );
        assert_eq!(
            codes(&p),
            [
                (None, "@code{raw} {braces} @c not a comment".to_string()),
                (Some("lisp".to_string()), "(setq x 1)".to_string()),
                (None, "line one\n\n   line two".to_string()),
                (Some("sh".to_string()), "echo @home {x}".to_string()),
            ]
        );
    }

    #[test]
    fn inline_commands_read_as_info_shows_them() {
        assert_eq!(
            prose("Use @code{ls} on @file{/tmp} with @option{-l}, @env{HOME} and @command{cat}."),
            "Use ls on /tmp with -l, HOME and cat."
        );
        assert_eq!(prose("Give @var{file} and @samp{-}."), "Give FILE and ‘-’.");
        assert_eq!(
            prose("@emph{very} @strong{bold} @dfn{term} @cite{Book} @kbd{C-a d} @key{RET}"),
            "very bold term Book C-a d <RET>"
        );
        assert_eq!(
            prose("@acronym{GNU, GNU's Not Unix} and @abbr{etc.} @sc{posix}"),
            "GNU (GNU's Not Unix) and etc. POSIX"
        );
        assert_eq!(
            prose("@url{https://gnu.org} @uref{https://a.org, the site} @uref{https://b.org, x, shown}"),
            "https://gnu.org the site (https://a.org) shown"
        );
        assert_eq!(
            prose("@email{bug@@gnu.org} @email{a@@b.c, Bugs}"),
            "bug@gnu.org Bugs <a@b.c>"
        );
        assert_eq!(
            prose(
                "@xref{Block size}. (@pxref{Exit status, the codes}) @ref{Top,,, grep, GNU Grep}"
            ),
            "See Block size. (see the codes) GNU Grep"
        );
        assert_eq!(
            prose("@xref{Usage,,, grep, GNU Grep}, and @inforef{Node, Name, file}."),
            "See Usage in GNU Grep, and See Name in file."
        );
        assert_eq!(
            prose("A copy@footnote{Even when\nnothing changed.}."),
            "A copy (Even when nothing changed.)."
        );
        assert_eq!(
            prose(
                "@dots{} @enddots{} a@tie{}b @@ @{x@} a@*b e.g.@: end@. x@-y @TeX{} @copyright{}"
            ),
            "... .... a b @ {x} a b e.g. end. xy TeX ©"
        );
        assert_eq!(
            prose("@result{} @error{} @print{} @equiv{}"),
            "⇒ error→ -| ≡"
        );
        assert_eq!(
            prose("Fran@,{c}ois, @'e@`a@^o@\"u@~n, @'{E}, @ss{}, @dotless{i}, @v{s}"),
            "François, éàôüñ, É, ß, ı, š"
        );
        assert_eq!(prose("@H{x}"), "x\u{30b}");
        assert_eq!(
            prose("``quoted'' and @code{``raw''}"),
            "“quoted” and ``raw''"
        );
        assert_eq!(
            prose("Lempel--Ziv, nonzero---typically; @option{--all} and @code{a---b}"),
            "Lempel–Ziv, nonzero—typically; --all and a---b"
        );
        assert_eq!(
            prose("@verb{|@code{x}|} and @w{non breaking}"),
            "@code{x} and non breaking"
        );
        // Unknown commands keep their text; `@value` of an unknown name keeps the name.
        assert_eq!(
            prose("@frobnicate{kept text} @value{UNSET}"),
            "kept text UNSET"
        );
        assert_eq!(prose("@anchor{here}Here @U{00e9}"), "Here é");
        assert_eq!(prose("@image{tide, 5cm,, A tide chart}"), "A tide chart");
    }

    #[test]
    fn macros_values_and_conditionals() {
        let src = "@macro optWide\n@item -w\n@itemx --wide\nPrint wide.\n@end macro\n\
                   @macro opt{name, val}\nOption \\name\\ takes \\val\\ (\\\\).\n@end macro\n\
                   @macro line{arg}\nline: \\arg\\\n@end macro\n\
                   @set FLAG\n@clear GONE\n@set PORT Brest\n\
                   @chapter Options\n@table @code\n@optWide\n@end table\n\
                   @opt{x, 1\\, 2}\n\n@line rest of it\n\n\
                   @ifset FLAG\nFlag set at @value{PORT}.\n@end ifset\n\n\
                   @ifclear FLAG\nnot shown\n@end ifclear\n\
                   @ifset GONE\nnot shown either\n@end ifset\n\
                   @ifclear GONE\nGone is clear.\n@end ifclear\n\
                   @html\n<b>no</b>\n@end html\n@tex\n\\TeX\n@end tex\n";
        let p = parse(src);
        assert_eq!(
            entries(&p)
                .into_iter()
                .map(|(_, t, _)| t)
                .collect::<Vec<_>>(),
            ["-w, --wide"]
        );
        let t = texts(&p);
        assert_eq!(
            t,
            [
                "Print wide.",
                "Option x takes 1, 2 (\\).",
                "line: rest of it",
                "Flag set at Brest.",
                "Gone is clear.",
            ]
        );
        // A macro's expansion keeps its invocation's line.
        let call = src.lines().position(|l| l == "@optWide").unwrap() as u32 + 1;
        let wide = p.blocks.iter().find(|b| b.text() == "Print wide.").unwrap();
        assert_eq!(wide.loc(), Loc::new(call, call));
        // A recursive macro stops expanding.
        let p = parse("@macro loop\n@loop again\n@end macro\n@loop\n\nAfter.\n");
        assert!(texts(&p).contains(&"After.".to_string()));
        // So does one that doubles at every level.
        let mut src = String::from("@macro m0\nx\n@end macro\n");
        for k in 1..40 {
            src.push_str(&format!(
                "@macro m{k}\n@m{} @m{}\n@end macro\n",
                k - 1,
                k - 1
            ));
        }
        src.push_str("@m39\n");
        let t = std::time::Instant::now();
        let _ = read(&src, &Budget::unlimited());
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    }

    /// A manual's text before its first node is Info's preamble (an old manual's licence);
    /// an included file's is the including node's text.
    #[test]
    fn a_manuals_preamble_is_not_read() {
        let body = "@settitle Tide\n@ifinfo\nPermission is granted.\n@end ifinfo\n\
                    @node Top\n@top Tide\nText.\n";
        let p = parse(&format!("\\input texinfo\n{body}"));
        assert_eq!(texts(&p), ["Text."]);
        assert_eq!(p.title.as_deref(), Some("Tide"));
        let p = parse(&format!("@setfilename tide.info\n{body}"));
        assert_eq!(texts(&p), ["Text."]);
        let p = parse(body);
        assert_eq!(texts(&p), ["Permission is granted.", "Text."]);
        // A manual with no node or heading at all is read whole.
        let p = parse("\\input texinfo\n@settitle T\nJust text.\n@bye\n");
        assert_eq!(texts(&p), ["Just text."]);
    }

    #[test]
    fn definitions_come_from_included_files_and_their_text_does_not() {
        let files = Files::new(
            vec![
                ("version.texi", "@set VERSION 4.9\n@include config.texi\n"),
                (
                    "config.texi",
                    "@set SSED GNU sed\n@macro opt{name}\n@item --\\name\\\n@end macro\nText of config.\n",
                ),
                ("self.texi", "@set LOOP yes\n@include self.texi\n"),
            ],
        );
        let text = "\\input texinfo\n@include version.texi\n@include self.texi\n@include absent.texi\n@node Top\n@top @value{SSED} @value{VERSION}\n\n@table @code\n@opt{debug}\nPrints @value{LOOP} and @value{NONE}.\n@end table\n@bye\n";
        let p = read_including(text, &Budget::unlimited(), Some(&files)).unwrap();
        let texts: Vec<String> = p.blocks.iter().map(|b| format!("{b:?}")).collect();
        let all = texts.join("\n");
        assert_eq!(p.title.as_deref(), Some("GNU sed 4.9"), "{all}");
        assert!(
            all.contains("--debug") && all.contains("Prints yes and NONE."),
            "{all}"
        );
        // An included file's own text is its document's, not the includer's.
        assert!(!all.contains("Text of config"), "{all}");
        // Nested includes are followed; one including itself stops at the depth bound.
        let asked = files.asked.borrow();
        assert!(asked.contains(&"config.texi".to_string()), "{asked:?}");
        let selves = asked.iter().filter(|n| *n == "self.texi").count();
        assert_eq!(selves, MAX_INCLUDE_DEPTH, "{asked:?}");
        // Without the files, the names show, as before.
        let alone = parse(text);
        assert_eq!(alone.title.as_deref(), Some("SSED VERSION"));
    }

    #[test]
    fn settings_only_files_and_includes_give_no_blocks() {
        let p = parse("@set UPDATED 4 November 2022\n@set VERSION 9.1\n@c comment\n");
        assert!(p.blocks.is_empty(), "{:?}", p.blocks);
        let p = parse("\\input texinfo\n@include version.texi\n@include fdl.texi\n@bye\n");
        assert!(p.blocks.is_empty(), "{:?}", p.blocks);
    }

    #[test]
    fn malformed_input_is_read_as_far_as_it_goes() {
        // An unterminated example ends at the next heading.
        let p = parse("@chapter A\n@example\ncode\n@section B\nText.\n");
        assert_eq!(codes(&p), [(None, "code".to_string())]);
        assert_eq!(headings(&p).len(), 2);
        assert_eq!(texts(&p), ["Text."]);
        // Unbalanced braces: the open one runs to the paragraph's end, a stray one is dropped.
        let p = parse("An @code{open brace\nstill code.\n\nA } stray.\n");
        assert_eq!(texts(&p), ["An open brace still code.", "A stray."]);
        // `@end` without a start, and mismatched ones, close what they name or nothing.
        let p = parse(
            "@end table\n@table @code\n@item x\n@itemize\n@item in\n@end table\nAfter.\n@end itemize\n",
        );
        assert_eq!(texts(&p), ["- in", "After."]);
        let trail = trail_of(&p);
        assert_eq!(trail("After."), "");
        // An unterminated verbatim, an item outside any list, a lone `@deffnx`.
        let p = parse("@item loose\n@deffnx Command c x\nbody\n@verbatim\nraw @{\n");
        assert_eq!(texts(&p), ["loose", "body"]);
        assert_eq!(codes(&p), [(None, "raw @{".to_string())]);
    }

    /// 10,000 nested braces: read in linear time, without recursion.
    #[test]
    fn deep_nesting_is_bounded() {
        let deep = format!("{}core{}", "@code{".repeat(10_000), "}".repeat(10_000));
        let t = std::time::Instant::now();
        assert_eq!(prose(&deep), "core");
        let unclosed = "@emph{x ".repeat(100_000);
        assert!(prose(&unclosed).starts_with("x x"));
        let p = parse(&format!("@chapter Deep\n{deep}\n{}\n", "{".repeat(10_000)));
        assert_eq!(texts(&p), ["core"]);
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
    }

    #[test]
    fn mutations_never_panic() {
        let pieces = [
            "@",
            "{",
            "}",
            "@end ",
            "@end example\n",
            "@example\n",
            "@table @code\n",
            "@item ",
            "@itemx ",
            "@deffn Command ",
            "@macro m{a}\n",
            "@end macro\n",
            "@m{",
            "\\a\\",
            ",",
            "@value{",
            "@set x ",
            "@ifset x\n",
            "@end ifset\n",
            "@verbatim\n",
            "@verb{|",
            "@xref{",
            "@'",
            "@,",
            "@c ",
            "\n\n",
            "@node ",
            "@chapter ",
            "é",
            "\t",
        ];
        let mut rng = crate::read::testing::Rng::new(0x9e37_79b9_7f4a_7c15u64);
        for _ in 0..3000 {
            let s = crate::read::testing::mutate_text(SAMPLE, &pieces, &mut rng);
            let _ = read(&s, &Budget::unlimited());
            let _ = inline(&s, Mode::Prose);
        }
    }

    /// Reads every `.texi` file under `$LORE_TEXINFO_CORPUS`, printing the rendered text of
    /// files named in `$LORE_DUMP` and the parse speed.
    #[test]
    #[ignore = "needs a corpus on disk"]
    fn corpus_speed() {
        crate::read::testing::corpus_speed("LORE_TEXINFO_CORPUS", "texi", read);
    }
}
