//! Prose being gathered by the markup readers that walk a tree of elements (HTML, DocBook):
//! white space collapsed as it arrives, zero-width characters dropped, and the source lines
//! it came from kept alongside.

use super::Loc;

/// A paragraph in progress.
#[derive(Default)]
pub(super) struct Prose {
    pub(super) text: String,
    pub(super) loc: Option<Loc>,
    /// Whether a space is owed before the next word.
    space: bool,
    /// No space is owed after an opening bracket or quote either: DocBook's readers write
    /// `(`, `“` themselves around inline elements whose source has white space inside.
    tight: bool,
}

impl Prose {
    /// A paragraph that owes no space after an opening bracket or quote (DocBook).
    pub(super) fn tight() -> Prose {
        Prose {
            tight: true,
            ..Prose::default()
        }
    }

    pub(super) fn push(&mut self, t: &str, loc: Option<Loc>) {
        let mut any = false;
        for c in t.chars() {
            if c.is_whitespace() {
                self.space = true;
            } else if c == '\u{200b}' || c == '\u{feff}' || c == '\u{ad}' {
                continue;
            } else {
                let after_open = self.tight && self.text.ends_with(['(', '“', '[', '{']);
                if self.space && !self.text.is_empty() && !self.text.ends_with('\n') && !after_open
                {
                    self.text.push(' ');
                }
                self.space = false;
                self.text.push(c);
                any = true;
            }
        }
        if any {
            self.loc = union(self.loc, loc);
        }
    }

    /// Text that must not be separated from the word before it (`”`, `)`).
    pub(super) fn push_tight(&mut self, t: &str) {
        self.space = false;
        self.text.push_str(t);
    }

    pub(super) fn space(&mut self) {
        self.space = true;
    }

    /// A line break (`<br>`) kept in the text.
    pub(super) fn newline(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self.space = false;
    }

    pub(super) fn is_empty(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// The text gathered (trimmed) and its lines; the paragraph starts again, as tight as
    /// it was.
    pub(super) fn take(&mut self) -> (String, Option<Loc>) {
        let fresh = Prose {
            tight: self.tight,
            ..Prose::default()
        };
        let p = std::mem::replace(self, fresh);
        (p.text.trim().to_string(), p.loc)
    }

    pub(super) fn finish(self) -> String {
        self.text.trim().to_string()
    }
}

/// The lines two pieces of text span together.
pub(super) fn union(a: Option<Loc>, b: Option<Loc>) -> Option<Loc> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.union(b)),
        (a, b) => a.or(b),
    }
}
