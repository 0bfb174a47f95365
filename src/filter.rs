//! Metadata filters: one expression language (Meilisearch's filter strings), parsed here and
//! evaluated per document.
//!
//! ```text
//! tags = "api" AND version >= 2 AND NOT draft = true
//! path STARTS WITH "guide/" OR path GLOB "docs/**/*.md"
//! format IN [html, pdf] AND lang != en AND mtime > 2024-01-01
//! (categories = howto OR categories = tutorial) AND weight 1 TO 10 AND series EXISTS
//! ```
//!
//! **Fields.** `path` (the document path, relative to the ingested folder), `format` (the
//! reader: markdown, html, pdf, …), `mtime` (the file's modified time, Unix seconds; compare
//! it with seconds or an RFC 3339 date/time such as `2024-05-01` or
//! `2024-05-01T12:00:00Z`, read as UTC), `collection` (the name of the collection the
//! document is in, so one filter can scope a multi-collection search), and every front-matter field (scalars and lists; nested tables as
//! `params.lang`). The built-in names win over front-matter fields of the same name.
//!
//! **Tests.** `=`, `!=`, `>`, `>=`, `<`, `<=`, `IN [a, b]`, `NOT IN [...]`, `a TO b`
//! (inclusive), `EXISTS`, `NOT EXISTS`, `STARTS WITH`, `CONTAINS`, `GLOB` (`*` stays
//! within one `/` segment, `**` crosses them); `AND`, `OR`, `NOT`, parentheses. `AND` binds
//! tighter than `OR`. Keywords are case-insensitive; values are bare words or quoted with
//! `"` or `'` (backslash escapes the quote).
//!
//! **Comparison.** Values are compared as text by one rule: two *versions* (digit groups
//! joined by dots, an optional leading `v`: `2`, `1.9`, `1.10`, `v2.0.1`) compare group by
//! group as integers, so `1.10 > 1.9` and `2 = 2.0`; otherwise two numbers (`-3`, `2.5e3`)
//! compare numerically; anything else compares exactly, byte by byte (so ISO dates order
//! correctly and strings are case-sensitive). The version rule comes first on purpose:
//! decimals with different digit counts compare as versions (`0.5 < 0.25`), the price of
//! `version >= 1.10` working on docs front matter. A list field (`tags`) satisfies a test
//! when any element does.
//!
//! **Missing fields.** A test of a field the document lacks is false, and `NOT` of it true:
//! `draft = true` skips documents without `draft`, `NOT draft = true` keeps them. `!=` is
//! `NOT =` (as in Meilisearch), so `lang != en` keeps documents without `lang`.
//! Indexes written before filters existed know only `path` and `format` until the folder
//! is ingested again.
//!
//! The parser is hand-written recursive descent (about 300 lines): the grammar is a dozen
//! productions, and errors must name the byte position and what was expected there, which
//! a hand parser reports directly; a parser-combinator crate would add a dependency and its
//! error type for no less code.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;

use crate::error::{Error, Result};
use crate::store::DocEntry;

/// Longest filter accepted, in bytes.
pub const MAX_FILTER_BYTES: usize = 8192;
/// Deepest nesting of parentheses and `NOT`s.
const MAX_DEPTH: usize = 64;
/// Fields every document has (or derives), which win over front-matter fields of the
/// same name.
pub const BUILT_IN: [&str; 4] = ["path", "format", "mtime", "collection"];

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: Expr,
}

#[derive(Debug, Clone)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Test { field: String, test: Test },
}

#[derive(Debug, Clone)]
enum Test {
    Cmp(Op, String),
    In(Vec<String>),
    Range(String, String),
    Exists,
    StartsWith(String),
    Contains(String),
    Glob(String, globset::GlobMatcher),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Filter {
    /// Parses a filter; the error names the byte position and what was expected there.
    pub fn parse(text: &str) -> Result<Filter> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(Error::Filter {
                position: MAX_FILTER_BYTES,
                message: format!("the filter is longer than {MAX_FILTER_BYTES} bytes"),
            });
        }
        let tokens = lex(text)?;
        let mut p = Parser {
            tokens,
            at: 0,
            end: text.len(),
            depth: 0,
        };
        let expr = p.or()?;
        if let Some(t) = p.peek() {
            return Err(p.error_at(t, "expected AND, OR or the end of the filter".to_string()));
        }
        Ok(Filter { expr })
    }

    /// Parses `text` unless it is blank (no filter).
    pub fn parse_optional(text: Option<&str>) -> Result<Option<Filter>> {
        match text {
            Some(t) if !t.trim().is_empty() => Filter::parse(t).map(Some),
            _ => Ok(None),
        }
    }

    /// A canonical spelling (keywords upper case, values quoted, groups parenthesised):
    /// two filters with the same meaning written differently (case, spacing, quoting)
    /// share a key, so they share a cached bitset.
    pub fn normalized(&self) -> String {
        self.expr.to_string()
    }

    /// Whether document `path` (its manifest entry `e`) passes.
    /// Whether document `path` (its manifest entry `e`, in collection `collection`) passes.
    pub fn matches(&self, path: &str, e: &DocEntry, collection: &str) -> bool {
        self.expr.eval(&Doc {
            path,
            e,
            collection,
        })
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.expr.fmt(f)
    }
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, xs: &[Expr], sep: &str| {
            f.write_str("(")?;
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{x}")?;
            }
            f.write_str(")")
        };
        match self {
            Expr::And(xs) => join(f, xs, " AND "),
            Expr::Or(xs) => join(f, xs, " OR "),
            Expr::Not(x) => write!(f, "NOT {x}"),
            Expr::Test { field, test } => {
                let field = quoted(field);
                match test {
                    Test::Cmp(op, v) => {
                        let op = match op {
                            Op::Eq => "=",
                            Op::Gt => ">",
                            Op::Ge => ">=",
                            Op::Lt => "<",
                            Op::Le => "<=",
                        };
                        write!(f, "{field} {op} {}", quoted(v))
                    }
                    Test::In(vs) => {
                        let vs: Vec<String> = vs.iter().map(|v| quoted(v)).collect();
                        write!(f, "{field} IN [{}]", vs.join(", "))
                    }
                    Test::Range(a, b) => write!(f, "{field} {} TO {}", quoted(a), quoted(b)),
                    Test::Exists => write!(f, "{field} EXISTS"),
                    Test::StartsWith(v) => write!(f, "{field} STARTS WITH {}", quoted(v)),
                    Test::Contains(v) => write!(f, "{field} CONTAINS {}", quoted(v)),
                    Test::Glob(v, _) => write!(f, "{field} GLOB {}", quoted(v)),
                }
            }
        }
    }
}

/// One document as filters see it.
struct Doc<'a> {
    path: &'a str,
    e: &'a DocEntry,
    collection: &'a str,
}

impl<'a> Doc<'a> {
    /// The field's values as text (`None` when the document lacks it).
    fn values(&self, field: &str) -> Option<Vec<Cow<'a, str>>> {
        let meta = self.e.meta.as_ref();
        match field {
            "path" => Some(vec![Cow::Borrowed(self.path)]),
            "format" => match meta.and_then(|m| m.format.as_deref()) {
                Some(f) => Some(vec![Cow::Borrowed(f)]),
                None => crate::source::Format::for_path(std::path::Path::new(self.path))
                    .map(|f| vec![Cow::Borrowed(f.name())]),
            },
            "mtime" => meta
                .and_then(|m| m.mtime)
                .map(|t| vec![Cow::Owned(t.to_string())]),
            "collection" => Some(vec![Cow::Borrowed(self.collection)]),
            _ => {
                let v = meta?.fields.get(field)?;
                Some(match v {
                    serde_json::Value::Array(items) => {
                        items.iter().filter_map(scalar_text).collect()
                    }
                    v => scalar_text(v).into_iter().collect(),
                })
            }
        }
    }
}

fn scalar_text(v: &serde_json::Value) -> Option<Cow<'_, str>> {
    match v {
        serde_json::Value::String(s) => Some(Cow::Borrowed(s)),
        serde_json::Value::Number(n) => Some(Cow::Owned(n.to_string())),
        serde_json::Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

impl Expr {
    fn eval(&self, d: &Doc) -> bool {
        match self {
            Expr::And(xs) => xs.iter().all(|x| x.eval(d)),
            Expr::Or(xs) => xs.iter().any(|x| x.eval(d)),
            Expr::Not(x) => !x.eval(d),
            Expr::Test { field, test } => {
                let Some(values) = d.values(field) else {
                    return false;
                };
                if matches!(test, Test::Exists) {
                    return true;
                }
                values.iter().any(|v| test.holds(v))
            }
        }
    }
}

impl Test {
    fn holds(&self, v: &str) -> bool {
        match self {
            Test::Cmp(op, lit) => {
                let o = compare(v, lit);
                match op {
                    Op::Eq => o == Ordering::Equal,
                    Op::Gt => o == Ordering::Greater,
                    Op::Ge => o != Ordering::Less,
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                }
            }
            Test::In(lits) => lits.iter().any(|l| compare(v, l) == Ordering::Equal),
            Test::Range(a, b) => {
                compare(v, a) != Ordering::Less && compare(v, b) != Ordering::Greater
            }
            Test::Exists => true,
            Test::StartsWith(p) => v.starts_with(p.as_str()),
            Test::Contains(p) => v.contains(p.as_str()),
            Test::Glob(_, m) => m.is_match(v),
        }
    }
}

/// Digit groups of a version (`v1.10.2` → `["1", "10", "2"]`), `None` if `s` is not one.
fn version(s: &str) -> Option<Vec<&str>> {
    let s = s.strip_prefix(['v', 'V']).unwrap_or(s);
    let groups: Vec<&str> = s.split('.').collect();
    groups
        .iter()
        .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
        .then_some(groups)
}

/// Two digit strings as integers of any length.
fn cmp_digits(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// The comparison rule of the module documentation: versions, then numbers, then bytes.
pub fn compare(a: &str, b: &str) -> Ordering {
    if let (Some(x), Some(y)) = (version(a), version(b)) {
        for i in 0..x.len().max(y.len()) {
            let o = cmp_digits(x.get(i).unwrap_or(&"0"), y.get(i).unwrap_or(&"0"));
            if o != Ordering::Equal {
                return o;
            }
        }
        return Ordering::Equal;
    }
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

// ---------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    /// A bare word (keyword, field or value).
    Word(String),
    /// A quoted string.
    Str(String),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    at: usize,
}

fn lex(text: &str) -> Result<Vec<Token>> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let single = match c {
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            ',' => Some(Tok::Comma),
            '=' => Some(Tok::Eq),
            _ => None,
        };
        if let Some(tok) = single {
            chars.next();
            out.push(Token { tok, at });
            continue;
        }
        match c {
            '!' | '>' | '<' => {
                chars.next();
                let eq = chars.next_if(|&(_, c)| c == '=').is_some();
                let tok = match (c, eq) {
                    ('!', true) => Tok::Ne,
                    ('!', false) => {
                        return Err(Error::Filter {
                            position: at,
                            message: "expected `!=`; negate with NOT".into(),
                        })
                    }
                    ('>', true) => Tok::Ge,
                    ('>', false) => Tok::Gt,
                    ('<', true) => Tok::Le,
                    _ => Tok::Lt,
                };
                out.push(Token { tok, at });
            }
            '"' | '\'' => {
                chars.next();
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, d)) = chars.next() {
                    if d == '\\' {
                        if let Some((_, e)) = chars.next() {
                            s.push(e);
                        }
                    } else if d == c {
                        closed = true;
                        break;
                    } else {
                        s.push(d);
                    }
                }
                if !closed {
                    return Err(Error::Filter {
                        position: at,
                        message: format!("this string has no closing {c}"),
                    });
                }
                out.push(Token {
                    tok: Tok::Str(s),
                    at,
                });
            }
            _ => {
                let mut s = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if d.is_whitespace() || "()[],=!<>\"'".contains(d) {
                        break;
                    }
                    s.push(d);
                    chars.next();
                }
                out.push(Token {
                    tok: Tok::Word(s),
                    at,
                });
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Parser

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Byte length of the text (the position of "the end").
    end: usize,
    depth: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Eq => "`=`".into(),
        Tok::Ne => "`!=`".into(),
        Tok::Gt => "`>`".into(),
        Tok::Ge => "`>=`".into(),
        Tok::Lt => "`<`".into(),
        Tok::Le => "`<=`".into(),
        Tok::Word(w) => format!("`{w}`"),
        Tok::Str(s) => format!("the string {}", quoted(s)),
    }
}

const KEYWORDS: [&str; 11] = [
    "AND", "OR", "NOT", "IN", "TO", "EXISTS", "STARTS", "WITH", "CONTAINS", "GLOB", "IS",
];

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    /// Whether the next token is the keyword `kw` (consumed if so).
    fn keyword(&mut self, kw: &str) -> bool {
        let yes = matches!(self.peek(), Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case(kw));
        self.at += yes as usize;
        yes
    }

    fn error_at(&self, t: &Token, expected: String) -> Error {
        Error::Filter {
            position: t.at,
            message: format!("{expected}, found {}", describe(&t.tok)),
        }
    }

    /// "expected …, found …" at the next token or the end.
    fn expected(&self, what: &str) -> Error {
        match self.peek() {
            Some(t) => self.error_at(t, format!("expected {what}")),
            None => Error::Filter {
                position: self.end,
                message: format!("expected {what}, found the end of the filter"),
            },
        }
    }

    fn or(&mut self) -> Result<Expr> {
        let mut xs = vec![self.and()?];
        while self.keyword("OR") {
            xs.push(self.and()?);
        }
        Ok(if xs.len() == 1 {
            xs.remove(0)
        } else {
            Expr::Or(xs)
        })
    }

    fn and(&mut self) -> Result<Expr> {
        let mut xs = vec![self.unary()?];
        while self.keyword("AND") {
            xs.push(self.unary()?);
        }
        Ok(if xs.len() == 1 {
            xs.remove(0)
        } else {
            Expr::And(xs)
        })
    }

    fn unary(&mut self) -> Result<Expr> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let position = self.peek().map_or(self.end, |t| t.at);
            return Err(Error::Filter {
                position,
                message: format!("nested more than {MAX_DEPTH} levels deep"),
            });
        }
        let out = if self.keyword("NOT") {
            self.unary().map(|x| Expr::Not(Box::new(x)))
        } else if matches!(
            self.peek(),
            Some(Token {
                tok: Tok::LParen,
                ..
            })
        ) {
            self.at += 1;
            let x = self.or()?;
            if matches!(
                self.peek(),
                Some(Token {
                    tok: Tok::RParen,
                    ..
                })
            ) {
                self.at += 1;
                Ok(x)
            } else {
                Err(self.expected("`)`, AND or OR"))
            }
        } else {
            self.test()
        };
        self.depth -= 1;
        out
    }

    /// A field name: a bare word that is not a keyword, or a quoted string.
    fn field(&mut self) -> Result<String> {
        match self.peek().cloned() {
            Some(Token {
                tok: Tok::Word(w), ..
            }) if !KEYWORDS.iter().any(|k| w.eq_ignore_ascii_case(k)) => {
                self.at += 1;
                Ok(w)
            }
            Some(Token {
                tok: Tok::Str(s), ..
            }) if !s.is_empty() => {
                self.at += 1;
                Ok(s)
            }
            _ => Err(self.expected("a field name, NOT or `(`")),
        }
    }

    /// A value (bare word or quoted string) and its position.
    fn value(&mut self) -> Result<(String, usize)> {
        match self.peek().cloned() {
            Some(Token {
                tok: Tok::Word(w) | Tok::Str(w),
                at,
            }) => {
                self.at += 1;
                Ok((w, at))
            }
            _ => Err(self.expected("a value")),
        }
    }

    fn test(&mut self) -> Result<Expr> {
        let field = self.field()?;
        let op = self.peek().map(|t| t.tok.clone());
        let simple = |op: Op| Some((op, false));
        let cmp = match op {
            Some(Tok::Eq) => simple(Op::Eq),
            Some(Tok::Ne) => Some((Op::Eq, true)),
            Some(Tok::Gt) => simple(Op::Gt),
            Some(Tok::Ge) => simple(Op::Ge),
            Some(Tok::Lt) => simple(Op::Lt),
            Some(Tok::Le) => simple(Op::Le),
            _ => None,
        };
        let wrap = |field: String, test: Test, negate: bool| {
            let x = Expr::Test { field, test };
            if negate {
                Expr::Not(Box::new(x))
            } else {
                x
            }
        };
        if let Some((op, negate)) = cmp {
            self.at += 1;
            let (v, at) = self.value()?;
            let v = literal(&field, v, at)?;
            return Ok(wrap(field, Test::Cmp(op, v), negate));
        }
        let negate = self.keyword("NOT");
        if self.keyword("IN") {
            let list = self.list(&field)?;
            return Ok(wrap(field, Test::In(list), negate));
        }
        if self.keyword("EXISTS") {
            return Ok(wrap(field, Test::Exists, negate));
        }
        if negate {
            return Err(self.expected("IN or EXISTS after NOT"));
        }
        if self.keyword("STARTS") {
            if !self.keyword("WITH") {
                return Err(self.expected("WITH after STARTS"));
            }
            let (v, _) = self.value()?;
            return Ok(wrap(field, Test::StartsWith(v), false));
        }
        if self.keyword("CONTAINS") {
            let (v, _) = self.value()?;
            return Ok(wrap(field, Test::Contains(v), false));
        }
        if self.keyword("GLOB") {
            let (v, at) = self.value()?;
            let m = globset::GlobBuilder::new(&v)
                .literal_separator(true)
                .build()
                .map_err(|e| Error::Filter {
                    position: at,
                    message: format!("not a glob: {}", e.kind()),
                })?
                .compile_matcher();
            return Ok(wrap(field, Test::Glob(v, m), false));
        }
        // `field low TO high`
        let to_follows = matches!(
            self.tokens.get(self.at + 1),
            Some(Token { tok: Tok::Word(w), .. }) if w.eq_ignore_ascii_case("TO")
        );
        if to_follows {
            let (a, at_a) = self.value()?;
            self.at += 1;
            let (b, at_b) = self.value()?;
            let a = literal(&field, a, at_a)?;
            let b = literal(&field, b, at_b)?;
            return Ok(wrap(field, Test::Range(a, b), false));
        }
        Err(self.expected(
            "an operator (=, !=, >, >=, <, <=, IN, NOT IN, EXISTS, NOT EXISTS, STARTS WITH, CONTAINS, GLOB, or `low TO high`) after the field name",
        ))
    }

    fn list(&mut self, field: &str) -> Result<Vec<String>> {
        if !matches!(
            self.peek(),
            Some(Token {
                tok: Tok::LBracket,
                ..
            })
        ) {
            return Err(self.expected("`[` opening a list"));
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            if matches!(
                self.peek(),
                Some(Token {
                    tok: Tok::RBracket,
                    ..
                })
            ) {
                self.at += 1;
                return Ok(out);
            }
            let (v, at) = self.value()?;
            out.push(literal(field, v, at)?);
            match self.peek().map(|t| &t.tok) {
                Some(Tok::Comma) => self.at += 1,
                Some(Tok::RBracket) => {}
                _ => return Err(self.expected("`,` or `]`")),
            }
        }
    }
}

/// A comparison value, with `mtime`'s dates turned into Unix seconds.
fn literal(field: &str, v: String, at: usize) -> Result<String> {
    if field != "mtime" || v.trim().parse::<f64>().is_ok() {
        return Ok(v);
    }
    let seconds = v
        .parse::<jiff::Timestamp>()
        .ok()
        .or_else(|| {
            let dt = v.parse::<jiff::civil::DateTime>().ok()?;
            jiff::tz::TimeZone::UTC.to_timestamp(dt).ok()
        })
        .map(|t| t.as_second());
    match seconds {
        Some(s) => Ok(s.to_string()),
        None => Err(Error::Filter {
            position: at,
            message: format!(
                "mtime takes Unix seconds or an RFC 3339 date/time (2024-05-01, 2024-05-01T12:00:00Z), found `{v}`"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::DocMeta;

    fn doc(fields: serde_json::Value) -> DocEntry {
        DocEntry {
            hash: String::new(),
            segment: 0,
            first_chunk: 0,
            chunks: 1,
            meta: Some(DocMeta {
                format: Some("markdown".into()),
                mtime: Some(1_714_564_800), // 2024-05-01T12:00:00Z
                fields: serde_json::from_value(fields).unwrap(),
            }),
        }
    }

    fn eval(filter: &str, path: &str, e: &DocEntry) -> bool {
        Filter::parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(path, e, "default")
    }

    fn error(filter: &str) -> (usize, String) {
        match Filter::parse(filter) {
            Err(Error::Filter { position, message }) => (position, message),
            other => panic!("{filter}: expected a filter error, got {other:?}"),
        }
    }

    #[test]
    fn valid_forms_evaluate() {
        let api = doc(serde_json::json!({
            "tags": ["api", "cli"], "version": "1.10", "draft": false, "lang": "en", "weight": 5
        }));
        let draft = doc(serde_json::json!({"tags": ["guide"], "version": 2, "draft": true}));
        let cases: [(&str, bool, bool); 24] = [
            (r#"tags = "api""#, true, false),
            ("tags = guide", false, true),
            ("TAGS = api", false, false), // field names are case-sensitive
            ("tags IN [guide, x]", false, true),
            ("tags NOT IN [guide]", true, false),
            ("version >= 2", false, true),
            ("version > 1.9", true, true),
            ("version < 1.9", false, false),
            ("version 1.9 TO 1.10", true, false),
            ("draft = true", false, true),
            ("NOT draft = true", true, false),
            ("lang != en", false, true), // `!=` is NOT =: documents without lang pass
            ("lang = en", true, false),
            ("lang EXISTS", true, false),
            ("lang NOT EXISTS", false, true),
            (r#"path STARTS WITH "guide/""#, true, false),
            (r#"path GLOB "guide/*.md""#, true, false),
            (r#"path GLOB "**/*.md""#, true, true),
            ("path GLOB '*.md'", false, false), // `*` stays within one folder
            ("format IN [html, markdown]", true, true),
            ("collection = default", true, true),
            (
                "mtime > 2024-01-01 AND mtime < '2024-06-01T00:00:00Z'",
                true,
                true,
            ),
            (
                "(tags = api OR tags = guide) and not (weight 1 to 4)",
                true,
                true,
            ),
            ("tags = api AND version >= 1 OR draft = true", true, true),
        ];
        for (f, a, d) in cases {
            assert_eq!(eval(f, "guide/install.md", &api), a, "{f} on the api doc");
            assert_eq!(eval(f, "ref/x.md", &draft), d, "{f} on the draft doc");
        }
    }

    /// Every prefix and every one-character deletion of valid filters either parses or
    /// fails with a position inside the text (never a panic, never a position past it).
    #[test]
    fn damaged_filters_fail_cleanly() {
        let filters = [
            r#"(tags = "a\"b" OR tags IN [x, 'y']) AND NOT version 1 TO 2.5"#,
            "path GLOB 'docs/**/*.{md,mdx}' AND mtime >= 2024-05-01T00:00:00Z",
            "lang NOT EXISTS OR titre STARTS WITH \"été\" AND x != y AND z CONTAINS w",
        ];
        for f in filters {
            Filter::parse(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            let cuts: Vec<usize> = f.char_indices().map(|(i, _)| i).collect();
            let mut damaged: Vec<String> = cuts.iter().map(|&i| f[..i].to_string()).collect();
            for (n, &i) in cuts.iter().enumerate() {
                let next = cuts.get(n + 1).copied().unwrap_or(f.len());
                damaged.push(format!("{}{}", &f[..i], &f[next..]));
            }
            for d in damaged {
                match Filter::parse(&d) {
                    Ok(_) => {}
                    Err(Error::Filter { position, message }) => {
                        assert!(position <= d.len(), "{d:?}: position {position}");
                        assert!(!message.is_empty());
                    }
                    Err(e) => panic!("{d:?}: {e}"),
                }
            }
        }
    }

    #[test]
    fn comparison_rule() {
        assert_eq!(compare("1.10", "1.9"), Ordering::Greater);
        assert_eq!(compare("v2", "2.0.0"), Ordering::Equal);
        assert_eq!(compare("10", "9"), Ordering::Greater);
        assert_eq!(compare("-3", "2.5e0"), Ordering::Less);
        assert_eq!(compare("2024-05-01", "2024-10-01"), Ordering::Less);
        assert_eq!(compare("B", "a"), Ordering::Less);
        assert_eq!(compare("99999999999999999999999", "1"), Ordering::Greater);
    }

    #[test]
    fn absent_metadata_knows_path_and_format() {
        let old = DocEntry {
            meta: None,
            ..doc(serde_json::json!({}))
        };
        assert!(eval(
            "format = html AND path = 'a/b.html'",
            "a/b.html",
            &old
        ));
        assert!(!eval("mtime > 0", "a/b.html", &old));
        assert!(eval("NOT mtime > 0", "a/b.html", &old));
        assert!(!eval("tags EXISTS", "a/b.html", &old));
    }

    #[test]
    fn equivalent_spellings_normalise_alike() {
        let a = Filter::parse("tags='api'  and (version>=2)").unwrap();
        let b = Filter::parse("tags = api AND version >= \"2\"").unwrap();
        assert_eq!(a.normalized(), b.normalized());
        assert_ne!(
            a.normalized(),
            Filter::parse("tags = api OR version >= 2")
                .unwrap()
                .normalized()
        );
        // The normal form parses to itself.
        let n = a.normalized();
        assert_eq!(Filter::parse(&n).unwrap().normalized(), n);
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        let (p, m) = error("tags = ");
        assert_eq!(p, 7);
        assert!(m.contains("expected a value"), "{m}");
        let (p, m) = error("tags = api AND");
        assert_eq!(p, 14);
        assert!(m.contains("field name"), "{m}");
        let (p, m) = error("tags = api version = 2");
        assert_eq!(p, 11);
        assert!(m.contains("AND, OR"), "{m}");
        let (p, m) = error("(tags = api");
        assert_eq!(p, 11);
        assert!(m.contains("`)`"), "{m}");
        let (p, m) = error("tags ~ api");
        assert_eq!(p, 5);
        assert!(m.contains("operator"), "{m}");
        let (p, _) = error("title = \"open");
        assert_eq!(p, 8);
        let (p, m) = error("mtime > yesterday");
        assert_eq!(p, 8);
        assert!(m.contains("RFC 3339"), "{m}");
        let (p, _) = error("path GLOB 'a/[b'");
        assert_eq!(p, 10);
        let (p, m) = error("tags IN [a b]");
        assert_eq!(p, 11);
        assert!(m.contains("`,` or `]`"), "{m}");
        let (p, _) = error("a ! b");
        assert_eq!(p, 2);
        let (_, m) = error(&"(".repeat(1000));
        assert!(m.contains("nested"), "{m}");
        let (p, _) = error(&"a = b OR ".repeat(2000));
        assert_eq!(p, MAX_FILTER_BYTES);
        // Positions are bytes, after multi-byte text.
        let (p, _) = error("titre = \"été\" ET");
        assert_eq!(p, 16);
    }
}
