//! HTML reader: the main content of a page as headings, paragraphs, code and table rows,
//! each with the 1-based source lines it came from.
//!
//! Generated documentation sites (Sphinx, mdBook, rustdoc, Javadoc, Doxygen, Docusaurus,
//! MkDocs) repeat their navigation on every page. Indexed as-is, that chrome would match
//! every query equally, so the reader keeps only the page's main content: it picks the
//! content root the site generator marks (`main`, `[role=main]`, `#main-content`, …) or,
//! failing that, the block holding nearly all the prose, and drops navigation, sidebars,
//! headers, footers, scripts and forms inside it.
//!
//! Parsing is html5ever's (the browser-grade, spec-following parser Servo uses), into a
//! small arena of our own so that each node remembers the source line it came from (the
//! tree builder reports the tokenizer's line; no published DOM crate keeps it). The tree is
//! walked with explicit stacks, never recursion, so hostile nesting cannot overflow the
//! stack; the input is fed in chunks so the deadline is checked while parsing too.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use html5ever::interface::tree_builder::{ElementFlags, NodeOrText, QuirksMode, TreeSink};
use html5ever::tendril::{StrTendril, TendrilSink};
use html5ever::{ns, parse_document, Attribute, ParseOpts, QualName};

use super::prose::{union, Prose};
use super::{short_signature, Block, Budget, LocUnit, Parsed, ReadError};
use crate::read::Loc;

/// No node (end of a sibling list, no parent).
const NONE: usize = usize::MAX;
/// Input is fed to the parser in pieces of this size, checking the deadline in between.
const CHUNK: usize = 32 * 1024;
/// Deeper element nesting than this is refused: no real page comes close, and the tree
/// builder's scope checks walk the whole open-element stack, so pathological nesting costs
/// quadratic time.
const MAX_DEPTH: usize = 2_000;
/// How many loop steps pass between deadline checks.
const CHECK_EVERY: usize = 4096;

/// Least text (bytes, outside links or not) a page read as all chrome must hold before it
/// is read again with class names ignored: a redirect stub or an empty template stays empty.
const FALLBACK_TEXT: usize = 400;

/// The page's title and the blocks of its main content.
fn read_tree(nodes: &[Node], budget: &Budget) -> Result<(Option<String>, Vec<Block>), ReadError> {
    let tree = Tree { nodes };
    let body = tree.find_first(0, |e| e.tag == Tag::Body).unwrap_or(0);
    let title = tree
        .find_first(0, |e| e.tag == Tag::Title)
        .map(|t| tree.inline_text(t, budget).map(|(s, _)| s))
        .transpose()?
        .filter(|s| !s.is_empty())
        .map(unrepeated);
    let stats = tree.stats(body, budget)?;
    let root = tree.content_root(body, &stats);
    let in_section = root != body && !matches!(tree.elem(root).map(|e| e.tag), Some(Tag::Body));
    Ok((title, tree.blocks(root, in_section, &stats, budget)?))
}

/// A title that says its page's name twice, as a site's name after the page's when the page
/// is the site's front page ("The Rust Programming Language - The Rust Programming
/// Language" in mdBook, "GLib Reference Manual: GLib Reference Manual" in gtk-doc), once.
fn unrepeated(title: String) -> String {
    for sep in [" - ", " – ", " — ", ": ", " | ", " :: "] {
        if let Some((a, b)) = title.split_once(sep) {
            if !a.trim().is_empty() && a.trim() == b.trim() {
                return a.trim().to_string();
            }
        }
    }
    title
}

/// Reads a decoded HTML file into its main content.
pub fn read(text: &str, budget: &Budget) -> Result<Parsed, ReadError> {
    if noindex(text) {
        // The page's authors asked search engines to leave it out: an old link's stub
        // pointing to the new chapter (60 of mdBook's Rust book as Debian ships it), a
        // print or search page. Algolia's crawler and web search honour it; so does lore.
        return Err(ReadError::new(
            super::SkipReason::Generated,
            "marked `noindex` for search engines (<meta name=\"robots\">)",
        ));
    }
    let redirect = redirect_target(text);
    let mut nodes = parse(text, budget)?;
    protect_main(&mut nodes);
    protect_boxes(&mut nodes);
    hide_implicit_enum_members(&mut nodes);
    mark_term_lists(&mut nodes, by_texinfo(text));
    let (title, mut blocks) = read_tree(&nodes, budget)?;
    if blocks.is_empty() && redirect.is_none() {
        // Every element was chrome by its class, id or role: a theme whose wrappers are named
        // like navigation and that marks no main content. Rather than an empty page, read it
        // with only elements (`<nav>`, `<footer>`, scripts) and hidden ones as chrome, if what
        // that gives is prose rather than a page of links.
        for n in &mut nodes {
            if let Data::Element(e) = &mut n.data {
                e.holds_main = true;
            }
        }
        let tree = Tree { nodes: &nodes };
        let body = tree.find_first(0, |e| e.tag == Tag::Body).unwrap_or(0);
        let stats = tree.stats(body, budget)?;
        if stats[body].text >= FALLBACK_TEXT && stats[body].link * 2 < stats[body].text {
            blocks = read_tree(&nodes, budget)?.1;
        }
    }
    // A chapter page of gtk-doc or DocBook XSL is its title over a table of contents
    // (`div.toc`, dropped as navigation): headings alone would be a chunk that matches its
    // chapter's every question and answers none.
    if redirect.is_none()
        && !blocks.is_empty()
        && blocks
            .iter()
            .all(|b| matches!(b, Block::Heading { .. } | Block::End { .. }))
    {
        return Err(ReadError::new(
            super::SkipReason::Empty,
            "only headings once its navigation is removed (a table of contents)",
        ));
    }
    if let Some(url) = redirect {
        let words: usize = blocks
            .iter()
            .map(|b| b.text().split_whitespace().count())
            .sum();
        if words < REDIRECT_WORDS {
            return Err(ReadError::new(
                super::SkipReason::Generated,
                format!("a page that only redirects to {url}"),
            ));
        }
    }
    let title = title.or_else(|| {
        blocks.iter().find_map(|b| match b {
            Block::Heading { text, .. } => Some(text.clone()),
            _ => None,
        })
    });
    Ok(Parsed {
        title,
        unit: LocUnit::Lines,
        blocks,
    })
}

// ---------------------------------------------------------------------------------------
// The arena tree html5ever builds into.

/// The element names the reader treats specially; everything else is `Inline` (its text
/// flows into the surrounding paragraph) or `Block` (it breaks paragraphs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Tag {
    Head,
    Title,
    Body,
    Main,
    Article,
    Section,
    Div,
    P,
    H(u8),
    Pre,
    Table,
    Tr,
    Cell,
    Caption,
    Ul,
    Ol,
    Li,
    Br,
    A,
    Span,
    Header,
    Footer,
    /// Never content: scripts, styles, navigation, forms, embedded media.
    Noise,
    /// Breaks paragraphs (p-like containers without special handling).
    Block,
    #[default]
    Inline,
}

impl Tag {
    fn of(name: &QualName) -> Tag {
        if name.ns != ns!(html) {
            // The root of inline SVG is noise; MathML keeps its text.
            return match &*name.local {
                "svg" => Tag::Noise,
                _ => Tag::Inline,
            };
        }
        match &*name.local {
            "head" => Tag::Head,
            "title" => Tag::Title,
            "body" => Tag::Body,
            "main" => Tag::Main,
            "article" => Tag::Article,
            "section" => Tag::Section,
            "div" => Tag::Div,
            "p" => Tag::P,
            "h1" => Tag::H(1),
            "h2" => Tag::H(2),
            "h3" => Tag::H(3),
            "h4" => Tag::H(4),
            "h5" => Tag::H(5),
            "h6" => Tag::H(6),
            "pre" | "listing" | "xmp" | "plaintext" => Tag::Pre,
            "table" => Tag::Table,
            "tr" => Tag::Tr,
            "td" | "th" => Tag::Cell,
            "caption" => Tag::Caption,
            "ul" | "menu" | "dir" => Tag::Ul,
            "ol" => Tag::Ol,
            "li" => Tag::Li,
            "br" => Tag::Br,
            "a" => Tag::A,
            "span" => Tag::Span,
            "header" => Tag::Header,
            "footer" => Tag::Footer,
            "script" | "style" | "noscript" | "template" | "nav" | "aside" | "form" | "button"
            | "select" | "input" | "textarea" | "iframe" | "object" | "embed" | "canvas"
            | "audio" | "video" | "dialog" | "link" | "meta" | "map" | "search" | "frameset"
            | "noframes" | "rustdoc-search" | "rustdoc-toolbar" | "rustdoc-topbar" => Tag::Noise,
            "address" | "blockquote" | "center" | "dd" | "details" | "dl" | "dt" | "fieldset"
            | "figcaption" | "figure" | "hgroup" | "hr" | "html" | "legend" | "summary"
            | "tbody" | "tfoot" | "thead" | "colgroup" | "option" | "optgroup" => Tag::Block,
            _ => Tag::Inline,
        }
    }
}

/// The `alt` text of an image that draws a formula: Doxygen's `img.formulaInl` and
/// `img.formulaDsp`, Sphinx imgmath's `img.math`, MediaWiki's `mwe-math-fallback-image`, or
/// any image whose alt text is LaTeX (`$…$`, `\LaTeX`). Other images' alt text is left out:
/// it is mostly "logo", "screenshot" or a file name.
fn formula_alt(name: &QualName, elem: &Elem, attrs: &[Attribute]) -> Option<String> {
    if &*name.local != "img" {
        return None;
    }
    let alt = attrs
        .iter()
        .find(|a| a.name.ns == ns!() && &*a.name.local == "alt")
        .map(|a| a.value.trim())
        .filter(|a| !a.is_empty())?;
    let by_class = elem.classes().any(|c| {
        let c = c.to_ascii_lowercase();
        c.starts_with("formula") || c == "math" || c.contains("math-fallback") || c == "latex"
    });
    (by_class || alt.starts_with(['$', '\\'])).then(|| alt.to_string())
}

/// Javadoc 17's classes for a signature set as code (`div.member-signature`,
/// `div.type-signature`).
fn is_javadoc_signature(class: &str) -> bool {
    matches!(class, "member-signature" | "type-signature")
}

/// The attributes the reader looks at.
#[derive(Debug, Default)]
struct Elem {
    tag: Tag,
    id: Option<Box<str>>,
    class: Option<Box<str>>,
    role: Option<Box<str>>,
    name: Option<Box<str>>,
    href: Option<Box<str>>,
    itemprop: Option<Box<str>>,
    start: Option<i64>,
    hidden: bool,
    /// A `<dt>`, which may title an API entry (Sphinx's object descriptions): see
    /// [`Tree::entry_depth`].
    dt: bool,
    /// A `<dl>`.
    dl: bool,
    /// A `<dl>` whose terms each title an entry of their own ([`mark_term_lists`]).
    term_list: bool,
    /// The element holds the page's marked main content ([`protect_main`]), so its class
    /// or id never makes it chrome.
    holds_main: bool,
}

impl Elem {
    fn new(name: &QualName, attrs: &[Attribute]) -> Elem {
        let mut e = Elem {
            tag: Tag::of(name),
            ..Elem::default()
        };
        e.add_attrs(attrs, false);
        e.dt = &*name.local == "dt" && name.ns == ns!(html);
        e.dl = &*name.local == "dl" && name.ns == ns!(html);
        // rdoc (darkfish) heads each method's section with a `div.method-heading`, not an
        // `<h*>`; its `div.method-detail` holds the anchor (`#method-i-content`).
        if e.tag == Tag::Div && e.classes().any(|c| c == "method-heading") {
            e.tag = Tag::H(4);
        }
        // Javadoc 17 sets a member's and a type's signature in a `div` its style sheet
        // shows as code (white space kept, line breaks between parameters), not a `<pre>`
        // as before: read as prose, "public static String abbreviate(String str, int
        // maxWidth)" was a paragraph like the description under it.
        if e.tag == Tag::Div && e.classes().any(is_javadoc_signature) {
            e.tag = Tag::Pre;
        }
        // Docutils ≥ 0.18 (so Sphinx) sets footnotes, citations and topics (a page's
        // abstract) in `<aside>`, which is otherwise a site's sidebar: those are the page's
        // own text.
        if e.tag == Tag::Noise
            && &*name.local == "aside"
            && e.classes().any(|c| {
                matches!(
                    c,
                    "footnote"
                        | "footnote-list"
                        | "citation"
                        | "citation-list"
                        | "topic"
                        | "sidebar"
                )
            })
        {
            e.tag = Tag::Block;
        }
        // DocBook XSL sets a book's authors, editors and corporate author on its title page
        // as `<h3>`s: names, not sections (read as headings, "Thorsten Kukuk" titled the
        // guide's abstract).
        if matches!(e.tag, Tag::H(_))
            && e.classes()
                .any(|c| matches!(c, "author" | "corpauthor" | "editor" | "othercredit"))
        {
            e.tag = Tag::Block;
        }
        // texi2any 6 sets both a subsection and its subsubsections as `<h4>`; the class
        // says which is which, and "3.1.2 Quoting" must stay in "3.1.2.1 Escape
        // Character"'s trail.
        if e.tag == Tag::H(4)
            && e.classes().any(|c| {
                matches!(
                    c,
                    "subsubsection" | "appendixsubsubsec" | "unnumberedsubsubsec"
                )
            })
        {
            e.tag = Tag::H(5);
        }
        e
    }

    fn add_attrs(&mut self, attrs: &[Attribute], only_missing: bool) {
        for a in attrs {
            if a.name.ns != ns!() {
                continue;
            }
            let value = || Some(Box::<str>::from(&*a.value));
            let slot = match &*a.name.local {
                "id" => &mut self.id,
                "class" => &mut self.class,
                "role" => &mut self.role,
                "name" => &mut self.name,
                "href" => &mut self.href,
                "itemprop" => &mut self.itemprop,
                "start" => {
                    self.start = a.value.trim().parse().ok();
                    continue;
                }
                "hidden" => {
                    self.hidden = true;
                    continue;
                }
                "aria-hidden" => {
                    self.hidden |= a.value.trim().eq_ignore_ascii_case("true");
                    continue;
                }
                "style" => {
                    let squashed: String = a.value.chars().filter(|c| !c.is_whitespace()).collect();
                    self.hidden |= squashed.to_ascii_lowercase().contains("display:none");
                    continue;
                }
                _ => continue,
            };
            if !(only_missing && slot.is_some()) {
                *slot = value();
            }
        }
    }

    fn classes(&self) -> impl Iterator<Item = &str> {
        self.class.as_deref().unwrap_or("").split_ascii_whitespace()
    }

    fn has_class(&self, class: &str) -> bool {
        self.classes().any(|c| c.eq_ignore_ascii_case(class))
    }
}

#[derive(Debug)]
enum Data {
    Document,
    Element(Box<Elem>),
    Text(String),
    Other,
}

#[derive(Debug)]
struct Node {
    parent: usize,
    first: usize,
    last: usize,
    prev: usize,
    next: usize,
    depth: usize,
    /// First and last source line holding non-blank text of a text node, or the line where
    /// an element's start tag ended; 0 when unknown.
    line: u32,
    line_end: u32,
    data: Data,
}

impl Node {
    fn new(data: Data, line: u32) -> Node {
        Node {
            parent: NONE,
            first: NONE,
            last: NONE,
            prev: NONE,
            next: NONE,
            depth: 0,
            line,
            line_end: line,
            data,
        }
    }
}

/// html5ever's handle on a node: its arena index plus what the tree builder asks about
/// without touching the arena (the element name, template contents).
struct Handle {
    idx: usize,
    name: Option<QualName>,
    template: Option<Rc<Handle>>,
    mathml_integration_point: bool,
}

struct Sink {
    nodes: RefCell<Vec<Node>>,
    line: Cell<u64>,
    max_depth: Cell<usize>,
    document: Rc<Handle>,
    /// Returned for the name of a non-element, which the tree builder promises never to ask.
    no_name: QualName,
}

impl Sink {
    fn new() -> Sink {
        Sink {
            nodes: RefCell::new(vec![Node::new(Data::Document, 0)]),
            line: Cell::new(1),
            max_depth: Cell::new(0),
            document: Rc::new(Handle {
                idx: 0,
                name: None,
                template: None,
                mathml_integration_point: false,
            }),
            no_name: QualName::new(None, ns!(html), html5ever::local_name!("div")),
        }
    }

    fn line(&self) -> u32 {
        u32::try_from(self.line.get()).unwrap_or(u32::MAX)
    }

    fn push(&self, data: Data) -> usize {
        let mut nodes = self.nodes.borrow_mut();
        nodes.push(Node::new(data, self.line()));
        nodes.len() - 1
    }

    fn handle(&self, idx: usize, name: Option<QualName>) -> Rc<Handle> {
        Rc::new(Handle {
            idx,
            name,
            template: None,
            mathml_integration_point: false,
        })
    }

    /// Appends text to `node` (a text node) or makes a new text node, recording the lines
    /// its non-blank characters sit on. The tokenizer reports the line where a run of text
    /// *ends*, so the run's first line is that minus its newlines.
    fn text_node(&self, nodes: &mut Vec<Node>, existing: Option<usize>, text: &str) -> usize {
        let end_line = self.line();
        let newlines = count_newlines(text);
        let (first, last) = match text.find(|c: char| !c.is_whitespace()) {
            Some(i) => {
                let lead = count_newlines(&text[..i]);
                let trail = text
                    .rfind(|c: char| !c.is_whitespace())
                    .map_or(0, |j| count_newlines(&text[j..]));
                let start = end_line.saturating_sub(newlines);
                (start.saturating_add(lead), end_line.saturating_sub(trail))
            }
            None => (0, 0),
        };
        if let Some(i) = existing {
            if let Data::Text(s) = &mut nodes[i].data {
                s.push_str(text);
                if first != 0 {
                    if nodes[i].line == 0 {
                        nodes[i].line = first;
                    }
                    nodes[i].line_end = last;
                }
                return i;
            }
        }
        let mut node = Node::new(Data::Text(text.to_string()), first);
        node.line_end = last;
        nodes.push(node);
        nodes.len() - 1
    }

    fn is_text(nodes: &[Node], i: usize) -> bool {
        i != NONE && matches!(nodes.get(i).map(|n| &n.data), Some(Data::Text(_)))
    }

    fn detach(nodes: &mut [Node], c: usize) {
        let (parent, prev, next) = (nodes[c].parent, nodes[c].prev, nodes[c].next);
        if parent == NONE {
            return;
        }
        if prev != NONE {
            nodes[prev].next = next;
        } else {
            nodes[parent].first = next;
        }
        if next != NONE {
            nodes[next].prev = prev;
        } else {
            nodes[parent].last = prev;
        }
        nodes[c].parent = NONE;
        nodes[c].prev = NONE;
        nodes[c].next = NONE;
    }

    fn set_depth(&self, nodes: &mut [Node], c: usize, parent: usize) {
        let depth = nodes[parent].depth.saturating_add(1);
        nodes[c].depth = depth;
        if depth > self.max_depth.get() {
            self.max_depth.set(depth);
        }
    }

    fn append_child(&self, nodes: &mut [Node], parent: usize, c: usize) {
        Sink::detach(nodes, c);
        let last = nodes[parent].last;
        nodes[c].parent = parent;
        nodes[c].prev = last;
        if last != NONE {
            nodes[last].next = c;
        } else {
            nodes[parent].first = c;
        }
        nodes[parent].last = c;
        self.set_depth(nodes, c, parent);
    }

    fn insert_before(&self, nodes: &mut [Node], sibling: usize, c: usize) {
        let parent = nodes[sibling].parent;
        if parent == NONE {
            return;
        }
        Sink::detach(nodes, c);
        let prev = nodes[sibling].prev;
        nodes[c].parent = parent;
        nodes[c].prev = prev;
        nodes[c].next = sibling;
        nodes[sibling].prev = c;
        if prev != NONE {
            nodes[prev].next = c;
        } else {
            nodes[parent].first = c;
        }
        self.set_depth(nodes, c, parent);
    }
}

fn count_newlines(s: &str) -> u32 {
    u32::try_from(s.bytes().filter(|&b| b == b'\n').count()).unwrap_or(u32::MAX)
}

impl TreeSink for Sink {
    type Handle = Rc<Handle>;
    type Output = Vec<Node>;
    type ElemName<'a> = &'a QualName;

    fn finish(self) -> Vec<Node> {
        self.nodes.into_inner()
    }

    fn parse_error(&self, _msg: Cow<'static, str>) {}

    fn get_document(&self) -> Rc<Handle> {
        self.document.clone()
    }

    fn elem_name<'a>(&'a self, target: &'a Rc<Handle>) -> &'a QualName {
        target.name.as_ref().unwrap_or(&self.no_name)
    }

    fn create_element(
        &self,
        name: QualName,
        attrs: Vec<Attribute>,
        flags: ElementFlags,
    ) -> Rc<Handle> {
        let elem = Elem::new(&name, &attrs);
        let alt = formula_alt(&name, &elem, &attrs);
        let idx = self.push(Data::Element(Box::new(elem)));
        if let Some(alt) = alt {
            // A formula drawn as an image is part of its sentence: its LaTeX source becomes
            // the image's text, so every path that collects text sees it.
            let mut nodes = self.nodes.borrow_mut();
            let t = self.text_node(&mut nodes, None, &alt);
            self.append_child(&mut nodes, idx, t);
        }
        let template = flags.template.then(|| {
            let t = self.push(Data::Document);
            self.handle(t, None)
        });
        Rc::new(Handle {
            idx,
            name: Some(name),
            template,
            mathml_integration_point: flags.mathml_annotation_xml_integration_point,
        })
    }

    fn create_comment(&self, _text: StrTendril) -> Rc<Handle> {
        let idx = self.push(Data::Other);
        self.handle(idx, None)
    }

    fn create_pi(&self, _target: StrTendril, _data: StrTendril) -> Rc<Handle> {
        let idx = self.push(Data::Other);
        self.handle(idx, None)
    }

    fn append(&self, parent: &Rc<Handle>, child: NodeOrText<Rc<Handle>>) {
        let mut nodes = self.nodes.borrow_mut();
        match child {
            NodeOrText::AppendNode(c) => self.append_child(&mut nodes, parent.idx, c.idx),
            NodeOrText::AppendText(text) => {
                let last = nodes[parent.idx].last;
                let existing = Sink::is_text(&nodes, last).then_some(last);
                let t = self.text_node(&mut nodes, existing, &text);
                if existing.is_none() {
                    self.append_child(&mut nodes, parent.idx, t);
                }
            }
        }
    }

    fn append_based_on_parent_node(
        &self,
        element: &Rc<Handle>,
        prev_element: &Rc<Handle>,
        child: NodeOrText<Rc<Handle>>,
    ) {
        let has_parent = self.nodes.borrow()[element.idx].parent != NONE;
        if has_parent {
            self.append_before_sibling(element, child);
        } else {
            self.append(prev_element, child);
        }
    }

    fn append_doctype_to_document(&self, _: StrTendril, _: StrTendril, _: StrTendril) {}

    fn get_template_contents(&self, target: &Rc<Handle>) -> Rc<Handle> {
        target
            .template
            .clone()
            .unwrap_or_else(|| self.document.clone())
    }

    fn same_node(&self, x: &Rc<Handle>, y: &Rc<Handle>) -> bool {
        x.idx == y.idx
    }

    fn set_quirks_mode(&self, _mode: QuirksMode) {}

    fn append_before_sibling(&self, sibling: &Rc<Handle>, child: NodeOrText<Rc<Handle>>) {
        let mut nodes = self.nodes.borrow_mut();
        match child {
            NodeOrText::AppendNode(c) => self.insert_before(&mut nodes, sibling.idx, c.idx),
            NodeOrText::AppendText(text) => {
                let prev = nodes[sibling.idx].prev;
                let existing = Sink::is_text(&nodes, prev).then_some(prev);
                let t = self.text_node(&mut nodes, existing, &text);
                if existing.is_none() {
                    self.insert_before(&mut nodes, sibling.idx, t);
                }
            }
        }
    }

    fn add_attrs_if_missing(&self, target: &Rc<Handle>, attrs: Vec<Attribute>) {
        if let Data::Element(e) = &mut self.nodes.borrow_mut()[target.idx].data {
            e.add_attrs(&attrs, true);
        }
    }

    fn remove_from_parent(&self, target: &Rc<Handle>) {
        Sink::detach(&mut self.nodes.borrow_mut(), target.idx);
    }

    fn reparent_children(&self, node: &Rc<Handle>, new_parent: &Rc<Handle>) {
        let mut nodes = self.nodes.borrow_mut();
        let mut c = nodes[node.idx].first;
        while c != NONE {
            let next = nodes[c].next;
            self.append_child(&mut nodes, new_parent.idx, c);
            c = next;
        }
    }

    fn is_mathml_annotation_xml_integration_point(&self, handle: &Rc<Handle>) -> bool {
        handle.mathml_integration_point
    }

    fn set_current_line(&self, line: u64) {
        self.line.set(line);
    }
}

/// A page that redirects elsewhere with fewer words than this is only a signpost (texi2any
/// writes one per node and anchor: "The node you are looking for is at Aliasing.").
const REDIRECT_WORDS: usize = 40;

/// The attribute text of each `<meta …>` tag in a page's (lower-cased) head: where a page
/// states what it is for machines — its generator, a robots directive.
pub(crate) fn head_meta_tags(head: &str) -> impl Iterator<Item = &str> {
    let head = head.split("</head").next().unwrap_or_default();
    head.split("<meta")
        .skip(1)
        .map(|tag| tag.split('>').next().unwrap_or_default())
}

/// The value of attribute `name` in a start tag's (lower-cased) attribute text.
pub(crate) fn attribute<'t>(tag: &'t str, name: &str) -> Option<&'t str> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        if !before.is_none_or(char::is_whitespace) {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        return Some(match value.chars().next()? {
            q @ ('"' | '\'') => value[1..].split(q).next()?,
            _ => value
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()?,
        });
    }
    None
}

/// The page's first 8 KB, ASCII-lowercased (every byte offset kept, so a position found in
/// it holds in the page): where its `<meta>` tags are looked for, as they sit in the head.
fn lowercase_head(text: &str) -> String {
    let mut end = text.len().min(8192);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_ascii_lowercase()
}

/// Whether some `<meta name="NAME" content="…">` in the page's head has a content `wanted`
/// accepts (`name` lowercase; the content is passed lowercased).
fn meta_says(text: &str, name: &str, wanted: impl Fn(&str) -> bool) -> bool {
    let head = lowercase_head(text);
    let found = head_meta_tags(&head).any(|tag| {
        attribute(tag, "name") == Some(name) && attribute(tag, "content").is_some_and(&wanted)
    });
    found
}

/// Whether the page's head says `<meta name="robots" content="noindex">` (or `none`, which
/// means noindex and nofollow).
fn noindex(text: &str) -> bool {
    meta_says(text, "robots", |c| {
        c.split(',').any(|d| matches!(d.trim(), "noindex" | "none"))
    })
}

/// Where `<meta http-equiv="refresh" content="0; url=…">` in the head sends the reader.
/// Only the first 8 KB are looked at: the tag belongs in the head.
fn redirect_target(text: &str) -> Option<String> {
    // Positions found in `head` hold in `text` ([`lowercase_head`]).
    let head = lowercase_head(text);
    head.match_indices("<meta").find_map(|(at, _)| {
        let tag = &head[at..at + head[at..].find('>')?];
        let refresh = ["\"refresh\"", "'refresh'", "refresh"]
            .iter()
            .any(|v| tag.contains(&format!("http-equiv={v}")));
        let from = at + tag.find("url=").filter(|_| refresh)? + 4;
        let url = text[from..at + tag.len()]
            .split(['"', '\'', ' '])
            .next()?
            .trim();
        (!url.is_empty()).then(|| url.to_string())
    })
}

/// Parses `text` into the arena, in chunks, stopping at the deadline or at pathological
/// nesting.
fn parse(text: &str, budget: &Budget) -> Result<Vec<Node>, ReadError> {
    budget.check()?;
    let text = blank_man2html_chrome(text);
    let text = &*close_empty_xml_tags(&text);
    let mut parser = parse_document(Sink::new(), ParseOpts::default());
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + CHUNK).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        parser.process(StrTendril::from_slice(&text[start..end]));
        start = end;
        budget.check()?;
        if parser.tokenizer.sink.sink.max_depth.get() > MAX_DEPTH {
            return Err(ReadError::parse(format!(
                "elements nested more than {MAX_DEPTH} deep"
            )));
        }
    }
    Ok(parser.finish())
}

/// Elements HTML defines as empty: `<br/>` already means `<br>` to an HTML parser.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// XHTML (DocBook XSL, Javadoc, many generators) writes an empty element as `<a id="x"/>`.
/// An HTML parser ignores that slash on any element that is not void, so the `<a>` stays
/// open around the heading after it and the heading's own `id` is lost to the anchor before
/// it. In a page that declares the XHTML namespace, such a tag becomes `<a id="x"></a>`.
/// Only characters other than newlines are added, so every line keeps its number.
/// A page written by a CGI script and saved as is starts with its HTTP header
/// (`Content-type: text/html`), which a parser reads as the page's first words; man2html
/// (Debian's bash-doc `bash.html`) also adds "Index" and "Return to Main Contents" links on
/// top and, below the page, an index of its sections as links and a "This document was
/// created by man2html" trailer. All are blanked in place (spaces for their bytes, newlines
/// kept), so lines still match the file.
fn blank_man2html_chrome(text: &str) -> Cow<'_, str> {
    let header = text
        .get(..14)
        .is_some_and(|h| h.eq_ignore_ascii_case("content-type: "));
    let man2html = text.contains("HREF=\"/cgi-bin/man/man2html\"");
    if !header && !man2html {
        return Cow::Borrowed(text);
    }
    let mut hidden = Vec::new();
    if header {
        // The header ends at its first blank line.
        let end = text.find("\n\n").or_else(|| text.find("\r\n\r\n"));
        if let Some(end) = end.filter(|&e| !text[..e].contains('<')) {
            hidden.push(0..end);
        }
    }
    if man2html {
        for link in [
            "<A HREF=\"#index\">Index</A>",
            "<A HREF=\"/cgi-bin/man/man2html\">Return to Main Contents</A>",
        ] {
            if let Some(at) = text.find(link) {
                hidden.push(at..at + link.len());
            }
        }
        if let Some(at) = text.rfind("<A NAME=\"index\">") {
            let end = text[at..].find("</BODY>").map_or(text.len(), |e| at + e);
            hidden.push(at..end);
        }
    }
    super::blank_ranges(text, &hidden)
}

fn close_empty_xml_tags(text: &str) -> Cow<'_, str> {
    let head = &text.as_bytes()[..text.len().min(4096)];
    if !head
        .windows(28)
        .any(|w| w == b"http://www.w3.org/1999/xhtml")
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + text.len() / 64);
    let mut done = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(lt) = bytes[i..].iter().position(|&b| b == b'<').map(|o| i + o) {
        let name_end = bytes[lt + 1..]
            .iter()
            .position(|b| !b.is_ascii_alphanumeric())
            .map_or(bytes.len(), |o| lt + 1 + o);
        if name_end == lt + 1 || !bytes[lt + 1].is_ascii_alphabetic() {
            i = lt + 1;
            continue;
        }
        // The tag's end, outside quoted attribute values.
        let mut quote = None;
        let mut end = None;
        for (j, &b) in bytes.iter().enumerate().skip(name_end) {
            match (quote, b) {
                (Some(q), _) if b == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(b),
                (None, b'>') => {
                    end = Some(j);
                    break;
                }
                (None, b'<') => break,
                _ => {}
            }
        }
        let Some(end) = end else {
            // A `<` inside the tag: not a tag, look again from there. A quote that never
            // closes: nothing after it is rewritten (scanning on from every `<` would be
            // quadratic on such a file).
            if quote.is_some() {
                break;
            }
            i = lt + 1;
            continue;
        };
        let name = text[lt + 1..name_end].to_ascii_lowercase();
        if bytes[end - 1] == b'/' && !VOID.contains(&name.as_str()) {
            out.push_str(&text[done..end - 1]);
            out.push_str("></");
            out.push_str(&name);
            out.push('>');
            done = end + 1;
        }
        i = end + 1;
    }
    if done == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

// ---------------------------------------------------------------------------------------
// Noise: what is never main content.

/// Class or id words (split at `-`/`_`) that mark site chrome.
const NOISE_WORDS: &[&str] = &[
    "sidebar",
    "sidebars",
    "sphinxsidebar",
    "sphinxsidebarwrapper",
    "related",
    "toc",
    "tableofcontents",
    "breadcrumb",
    "breadcrumbs",
    "menu",
    "menubar",
    "navbar",
    "nav",
    "navigation",
    "pagination",
    "pager",
    "footer",
    "headerlink",
    "searchbox",
    "search",
    "skiplink",
    "cookie",
    "cookies",
    "masthead",
    "topnav",
    "subnav",
    "bottomnav",
    "legalcopy",
    "toolbar",
    "rightside",
    "hideme",
    "linenos",
    "lineno",
    "announcementbar",
    "share",
    "social",
];

/// Whole class tokens that mark site chrome (their words alone are too common).
const NOISE_TOKENS: &[&str] = &[
    "table-of-contents",
    "hash-link",
    "doc-anchor",
    "src",
    "since",
    "tooltip",
    "prompt",
    "md-header",
    "md-tabs",
    "md-source",
    "rst-versions",
    "out-of-band",
    "skip-link",
    "theme-edit-this-page",
    // gtk-doc's column of line numbers beside a code listing.
    "listing_lines",
    // DocBook XSL's bars above and below every chunked page (the page's own title again,
    // Prev / Up / Home / Next and the neighbouring pages' titles): read, every chunk of a
    // page carried two other pages' titles.
    "navheader",
    "navfooter",
    // DocBook XSL's lists of the book's tables, figures and examples (links to them).
    "list-of-tables",
    "list-of-figures",
    "list-of-examples",
    "list-of-procedures",
    "list-of-equations",
    // A site's slogan in its header (sqlite.org: "Small. Fast. Reliable.").
    "tagline",
    // rdoc's (darkfish) method source, hidden until "click to toggle source" is clicked:
    // read, it was two thirds of a Ruby library's chunks.
    "method-source-code",
    "method-click-advice",
    // texi2any's tables of contents in a one-page manual (6.x names, then 7.x).
    "contents_element",
    "overview_element",
    "shortcontents_element",
    "element-contents",
    "element-shortcontents",
    // gi-docgen's "[src]" link beside each heading.
    "srclink",
    // Sphinx viewcode's "[source]" link in an API entry's signature.
    "viewcode-link",
    // Sphinx's `.. toctree::` as built: a list of links to other pages (section titles
    // only), which would make every index page a near-match for every question.
    "toctree-wrapper",
    // rustdoc's "Run" link (to the playground) after every code example: 229 lines of
    // "Run" in `Vec`'s page.
    "test-arrow",
    // rustdoc's "ⓘ" tooltip inside a method's signature heading, listing the notable traits
    // of its return type ("ⓘNotable traits for Split<'a, T, P>impl<'a, T, P> Iterator
    // for …"): the heading is the signature alone.
    "notable-traits",
    // texi2any's ` ¶` link after every definition term and `@deffn` line (6.8 names, then
    // 7.x).
    "copiable-anchor",
    "copiable-link",
    // pydata-sphinx-theme's and sphinx-book-theme's "previous / next" page links under
    // the content ("previous pandas.Series.str.rstrip next …").
    "prev-next-area",
    // Doxygen: the tooltips of the names in a code fragment (`div.ttc`, shown on hover:
    // "Eigen::Matrix / The matrix class, … / Definition: Matrix.h:180"), the groups a page
    // belongs to beside its title ("Concurrency » Mutexes"), and the caption of a graph
    // drawn as an image ("Collaboration diagram for SDL_Surface:").
    "ttc",
    "ingroups",
    "dynheader",
    // gtk-doc's summary tables at the top of an API page: a return type and a linked name
    // per row (`g_hash_table_new ()`), each the entry the page documents below, with its
    // signature and text. Read, they were 3 to 5 chunks of bare names per page (194 of GLib
    // reference's 3,400) that match a question's words and answer nothing.
    "function_type",
    "function_name",
    "datatype_keyword",
    "property_type",
    "property_name",
    "property_flags",
    "signal_type",
    "signal_name",
    "signal_flags",
];

const NOISE_ROLES: &[&str] = &[
    "navigation",
    "banner",
    "contentinfo",
    "search",
    "complementary",
    "menu",
    "menubar",
    "toolbar",
    "dialog",
];

/// Whole class tokens that hold content although a word of theirs marks chrome: Docutils
/// wraps every section heading's text in `<a class="toc-backref">` (a link back to the
/// table of contents), so dropping it as a `toc` would drop every heading of the page.
const CONTENT_TOKENS: &[&str] = &["toc-backref", "sidebar-title", "sidebar-subtitle"];

fn chrome_name(value: &str) -> bool {
    value.split_ascii_whitespace().any(|tok| {
        if CONTENT_TOKENS.iter().any(|t| t.eq_ignore_ascii_case(tok)) {
            return false;
        }
        NOISE_TOKENS.iter().any(|t| t.eq_ignore_ascii_case(tok))
            || tok
                .split(['-', '_'])
                .any(|w| NOISE_WORDS.iter().any(|n| n.eq_ignore_ascii_case(w)))
    })
}

/// The line texi2html (and texi2any, when asked) sets at the foot of every page it builds
/// ("This document was generated by Bruno Haible on July, 26 2020 using texi2html 1.78a."),
/// or Doxygen above a class page's list of sources: a stamp on every chunk's end, not the
/// manual's text.
fn is_generator_stamp(text: &str) -> bool {
    text.len() < 300
        && ((text.starts_with("This document was generated ")
            && (text.contains(" using texi2html") || text.contains(" using texi2any")))
            || (text.starts_with("The documentation for this ")
                && text.contains(" was generated from the following file")))
}

/// A Texinfo index (`@printindex`) as texi2any lays it out: a table of links to every
/// indexed place, `class="index-cp"` (6.x) or `class="cp-entries-printindex"` and its
/// letter bar `cp-letters-header-printindex` (7.x). Its words are the manual's index terms
/// pointing elsewhere; read, an index page outranks the pages it points to.
fn texinfo_index(class: &str) -> bool {
    class
        .split_ascii_whitespace()
        .any(|t| t.starts_with("index-") || t.ends_with("-printindex"))
}

/// Marks the ancestors of the page's marked main content (`role="main"`, `<main>`,
/// `itemprop="articleBody"`) as holding it. Read the Docs' theme wraps the whole page in
/// `<body class="wy-body-for-nav">`, `<div class="wy-grid-for-nav">` and the content in
/// `<section class="wy-nav-content-wrap">`: read as navigation by their `nav`, every page
/// of a Sphinx site with that theme was empty. An element holding the content is not
/// chrome, whatever its name says, and neither is the marked element itself.
fn protect_main(nodes: &mut [Node]) {
    let marked: Vec<usize> = nodes
        .iter()
        .enumerate()
        .filter_map(|(i, n)| match &n.data {
            Data::Element(e)
                if e.tag == Tag::Main
                    || e.itemprop.as_deref() == Some("articleBody")
                    || e.role.as_deref().is_some_and(|r| r.trim() == "main") =>
            {
                Some(i)
            }
            _ => None,
        })
        .collect();
    for m in marked {
        // The element itself too: SQLAlchemy's `<div role="main" class="…
        // tutorial-orm_related_objects">` holds the word `related` (Sphinx's link bar).
        let mut i = m;
        // The root's parent is NONE; a node already marked has its ancestors marked too.
        while let Some(n) = nodes.get_mut(i) {
            match &mut n.data {
                Data::Element(e) if e.holds_main && i != m => break,
                Data::Element(e) => e.holds_main = true,
                _ => {}
            }
            if i == 0 {
                break;
            }
            i = n.parent;
        }
    }
}

/// Marks the boxes of a page's own text that are named like a site's sidebar: DocBook's
/// `<sidebar>` (debian-handbook's TIP and GOING FURTHER boxes, a quarter of that book's
/// text, as `div.sidebar` with a `div.titlepage`) and Docutils' `.. sidebar::` (`aside.sidebar`
/// opened by `p.sidebar-title`, as in Python's library reference). A site's sidebar is a
/// column of links beside the content; such a box is titled like a section or sits inside
/// one (`div.section`, `div.chapter`, `<section>`, `<article>`), and is read.
fn protect_boxes(nodes: &mut [Node]) {
    fn elem(nodes: &[Node], i: usize) -> Option<&Elem> {
        match &nodes.get(i)?.data {
            Data::Element(e) => Some(e),
            _ => None,
        }
    }
    let titled = |nodes: &[Node], i: usize| {
        let mut c = nodes[i].first;
        while c != NONE {
            if let Some(e) = elem(nodes, c) {
                return matches!(e.tag, Tag::H(_))
                    || e.classes()
                        .any(|t| matches!(t, "sidebar-title" | "titlepage" | "title"));
            }
            c = nodes[c].next;
        }
        false
    };
    let in_text = |nodes: &[Node], i: usize| {
        let mut a = nodes[i].parent;
        while let Some(e) = elem(nodes, a) {
            let section = matches!(e.tag, Tag::Section | Tag::Article)
                || (e.tag == Tag::Div
                    && e.classes().any(|t| {
                        matches!(
                            t,
                            "section" | "chapter" | "appendix" | "preface" | "article"
                        )
                    }));
            if section {
                return true;
            }
            a = nodes[a].parent;
        }
        false
    };
    let boxes: Vec<usize> = (0..nodes.len())
        .filter(|&i| {
            elem(nodes, i).is_some_and(|e| e.classes().any(|t| t.eq_ignore_ascii_case("sidebar")))
        })
        .filter(|&i| titled(nodes, i) || (in_text(nodes, i) && !Tree { nodes }.mostly_links(i)))
        .collect();
    for i in boxes {
        if let Data::Element(e) = &mut nodes[i].data {
            e.holds_main = true;
        }
    }
}

/// The two members the Java compiler gives every enum, as Javadoc (16 and later) documents
/// them on the enum's page: `values()` and `valueOf(String)`, each with the same text taken
/// from the Java Language Specification ("Returns the enum constant of this type with the
/// specified name…") and only the enum's name changed. A library with a few enums had as
/// many copies, which took the first five results for "look up an enum constant by name"
/// in Commons Lang's reference above `EnumUtils`, the class that does it; what they say is
/// the language's, not the library's. The page's member summary still lists them.
fn hide_implicit_enum_members(nodes: &mut [Node]) {
    let members: Vec<usize> = (0..nodes.len())
        .filter(|&i| {
            let Data::Element(e) = &nodes[i].data else {
                return false;
            };
            let text = |i| Tree { nodes }.text_under(i);
            e.tag == Tag::Section
                && e.has_class("detail")
                && match e.id.as_deref() {
                    Some("values()") => text(i).contains("the constants of this enum"),
                    Some("valueOf(java.lang.String)") => {
                        text(i).contains("Returns the enum constant of this")
                    }
                    _ => false,
                }
        })
        .collect();
    for i in members {
        if let Data::Element(e) = &mut nodes[i].data {
            e.hidden = true;
        }
    }
}

/// Whether an element's subtree is never main content. `in_section` says whether it sits
/// inside an article/section/main, where `<header>` holds the page's own title.
fn is_noise(e: &Elem, in_section: bool) -> bool {
    match e.tag {
        Tag::Noise | Tag::Head => return true,
        Tag::Footer => return true,
        Tag::Header if !in_section => return true,
        _ => {}
    }
    if e.hidden {
        return true;
    }
    if e.holds_main {
        return false;
    }
    if let Some(role) = &e.role {
        if NOISE_ROLES
            .iter()
            .any(|r| r.eq_ignore_ascii_case(role.trim()))
        {
            return true;
        }
    }
    if e.class.as_deref().is_some_and(chrome_name) {
        return true;
    }
    if e.tag == Tag::Table && e.class.as_deref().is_some_and(texinfo_index) {
        return true;
    }
    // Docutils' `.. contents::` (Sphinx pages too): the page's own table of contents, links
    // to the sections that follow. (`contents` alone is Doxygen's main content.)
    if e.class.as_deref().is_some_and(|c| {
        let mut t = c.split_ascii_whitespace();
        t.clone().any(|w| w == "contents") && t.any(|w| w == "topic")
    }) {
        return true;
    }
    // Ids of sections and headings are slugs of their titles ("menu-widgets"), not chrome.
    matches!(
        e.tag,
        Tag::Div | Tag::Ul | Tag::Ol | Tag::Table | Tag::Block
    ) && e.id.as_deref().is_some_and(chrome_name)
}

// ---------------------------------------------------------------------------------------
// Reading the tree.

struct Tree<'n> {
    nodes: &'n [Node],
}

/// Per-node text measures for finding the content block when a page marks none.
#[derive(Clone, Copy, Default)]
struct Stats {
    text: usize,
    link: usize,
    heading: bool,
}

impl<'n> Tree<'n> {
    fn elem(&self, i: usize) -> Option<&'n Elem> {
        match &self.nodes.get(i)?.data {
            Data::Element(e) => Some(e),
            _ => None,
        }
    }

    fn children(&self, i: usize) -> impl Iterator<Item = usize> + 'n {
        let nodes = self.nodes;
        let first = nodes.get(i).map_or(NONE, |n| n.first);
        std::iter::successors((first != NONE).then_some(first), move |&c| {
            let next = nodes[c].next;
            (next != NONE).then_some(next)
        })
    }

    /// Nodes of `root`'s subtree in document order, skipping subtrees `skip` refuses.
    fn walk(&self, root: usize, mut skip: impl FnMut(usize) -> bool, mut visit: impl FnMut(usize)) {
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            if i != root && skip(i) {
                continue;
            }
            visit(i);
            let mut c = self.nodes[i].last;
            while c != NONE {
                stack.push(c);
                c = self.nodes[c].prev;
            }
        }
    }

    /// Whether any text node under `root` holds more than white space (stops at the first).
    fn has_text(&self, root: usize) -> bool {
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            match &self.nodes[i].data {
                Data::Text(t) if !t.trim().is_empty() => return true,
                _ => {}
            }
            let mut c = self.nodes[i].first;
            while c != NONE {
                stack.push(c);
                c = self.nodes[c].next;
            }
        }
        false
    }

    /// The text of every node under `root`, in document order, lines joined by a space.
    fn text_under(&self, root: usize) -> String {
        let mut out = String::new();
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            if let Data::Text(t) = &self.nodes[i].data {
                out.extend(t.split_whitespace().flat_map(|w| [w, " "]));
            }
            let mut c = self.nodes[i].last;
            while c != NONE {
                stack.push(c);
                c = self.nodes[c].prev;
            }
        }
        out
    }

    /// The first element in document order under `root` that `pred` accepts.
    fn find_first(&self, root: usize, pred: impl Fn(&Elem) -> bool) -> Option<usize> {
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            if self.elem(i).is_some_and(&pred) {
                return Some(i);
            }
            let mut c = self.nodes[i].last;
            while c != NONE {
                stack.push(c);
                c = self.nodes[c].prev;
            }
        }
        None
    }

    /// Text-and-link measures for every node under `root`, noise counting for nothing.
    fn stats(&self, root: usize, budget: &Budget) -> Result<Vec<Stats>, ReadError> {
        let mut stats = vec![Stats::default(); self.nodes.len()];
        let mut stack = vec![(root, false)];
        let mut steps = 0usize;
        while let Some((i, done)) = stack.pop() {
            steps += 1;
            if steps.is_multiple_of(CHECK_EVERY) {
                budget.check()?;
            }
            if done {
                let mut s = match &self.nodes[i].data {
                    Data::Text(t) => Stats {
                        text: t.bytes().filter(|b| !b.is_ascii_whitespace()).count(),
                        ..Stats::default()
                    },
                    Data::Element(e) => Stats {
                        heading: matches!(e.tag, Tag::H(_)),
                        ..Stats::default()
                    },
                    _ => Stats::default(),
                };
                for c in self.children(i) {
                    let cs = stats[c];
                    s.text += cs.text;
                    s.link += cs.link;
                    s.heading |= cs.heading;
                }
                if self.elem(i).is_some_and(|e| e.tag == Tag::A) {
                    s.link = s.text;
                }
                stats[i] = s;
                continue;
            }
            if i != root && self.elem(i).is_some_and(|e| is_noise(e, false)) {
                continue;
            }
            stack.push((i, true));
            for c in self.children(i) {
                stack.push((c, false));
            }
        }
        Ok(stats)
    }

    /// The element holding the page's main content: the one the generator marks, else the
    /// block holding nearly all of the prose.
    fn content_root(&self, body: usize, stats: &[Stats]) -> usize {
        let total = stats[body].text;
        type Pick = fn(&Elem) -> bool;
        let marked: [Pick; 8] = [
            // rustdoc; Node.js's API docs.
            |e| matches!(e.id.as_deref(), Some("main-content" | "apicontent")),
            |e| e.itemprop.as_deref() == Some("articleBody"),
            |e| {
                e.role.as_deref().is_some_and(|r| r.trim() == "main")
                    || e.id.as_deref() == Some("main")
            },
            |e| e.tag == Tag::Main,
            |e| e.tag == Tag::Article,
            |e| e.tag == Tag::Div && (e.has_class("body") || e.has_class("md-content")),
            |e| {
                e.has_class("contentContainer")
                    || e.has_class("content-container")
                    || (e.tag == Tag::Div && e.has_class("contents"))
            },
            |e| e.id.as_deref() == Some("content") || e.has_class("rst-content"),
        ];
        let mut found: Vec<Vec<usize>> = vec![Vec::new(); marked.len()];
        self.walk(
            body,
            |i| self.elem(i).is_some_and(|e| is_noise(e, true)),
            |i| {
                if let Some(e) = self.elem(i) {
                    for (rank, pick) in marked.iter().enumerate() {
                        if pick(e) {
                            found[rank].push(i);
                        }
                    }
                }
            },
        );
        for (rank, found) in found.iter().enumerate() {
            if rank == 4 {
                // Several separate articles make a listing page, not one article.
                let outer = found
                    .iter()
                    .filter(|&&a| !self.has_ancestor(a, |e| e.tag == Tag::Article))
                    .count();
                if outer > 1 {
                    continue;
                }
            }
            if let Some(&best) = found.iter().max_by_key(|&&i| stats[i].text) {
                // A marked block with a sliver of the page's text is a widget, not content.
                if stats[best].text > 0 && stats[best].text * 4 >= total {
                    return best;
                }
            }
        }
        // Unmarked page: descend while one child holds nearly all the prose and no heading
        // is left behind.
        let mut cur = body;
        loop {
            // A table or code block is one unit of content: its rows are not "the content".
            if self
                .elem(cur)
                .is_some_and(|e| matches!(e.tag, Tag::Table | Tag::Pre))
            {
                break;
            }
            let prose = |i: usize| stats[i].text.saturating_sub(stats[i].link);
            let here = prose(cur);
            let Some(best) = self
                .children(cur)
                .filter(|&c| self.elem(c).is_some_and(|e| !is_noise(e, false)))
                .max_by_key(|&c| prose(c))
            else {
                break;
            };
            let heading_elsewhere = self
                .children(cur)
                .any(|c| c != best && self.elem(c).is_some() && stats[c].heading);
            if here == 0 || prose(best) * 5 < here * 4 || heading_elsewhere {
                break;
            }
            cur = best;
        }
        cur
    }

    /// How deep the `<dt>` at `dt` sits in API entries, when it titles one: Sphinx's object
    /// descriptions (`dl.py.function`, `dl.std.confval`, …) put each function, class,
    /// option or setting's signature in a `<dt>`, its description in the `<dd>`, and a
    /// class's methods in a `<dl>` inside that. On the trail under the section
    /// ([`Block::Entry`]), they let a chunk and a citation name the entry
    /// (`Configuration > version`) rather than only the page's section. 1 for an entry of
    /// the section, 2 for a method of a class, ….
    fn entry_depth(&self, dt: usize) -> Option<u8> {
        let e = self.elem(dt)?;
        let titles = |dl: usize, e: &Elem| -> bool {
            // Sphinx 4 and later mark the signature; earlier ones give it the object's id
            // in a `dl` classed by the object's type.
            e.has_class("sig-object")
                || self.elem(dl).is_some_and(|d| d.term_list)
                || nonempty(e.id.as_deref()).is_some()
                    && self.elem(dl).is_some_and(|d| {
                        d.classes()
                            .any(|c| DESCRIPTION_TYPES.iter().any(|t| t.eq_ignore_ascii_case(c)))
                    })
        };
        let parent = self.nodes[dt].parent;
        if !titles(parent, e) {
            return None;
        }
        // Enclosing entries: each `dl` above whose own `<dt>` titles an entry.
        let mut depth = 1u8;
        let mut i = self.nodes[parent].parent;
        while i != NONE {
            if self.elem(i).is_some_and(|d| d.tag == Tag::Block)
                && self
                    .children(i)
                    .any(|c| self.elem(c).is_some_and(|ce| ce.dt && titles(i, ce)))
            {
                depth = depth.saturating_add(1);
            }
            i = self.nodes[i].parent;
        }
        Some(depth)
    }

    /// Whether the `<dt>` at `dt` is a second (third, …) signature of the entry the `<dt>`
    /// before it titles: Sphinx sets each overload of `int(x=0)` / `int(x, base=10)` in its
    /// own `<dt>` and gives only the first an id.
    fn further_signature(&self, dt: usize) -> bool {
        if self
            .elem(dt)
            .is_none_or(|e| nonempty(e.id.as_deref()).is_some())
        {
            return false;
        }
        // The two element siblings before this `<dt>`, nearest last.
        let (second, last) = self
            .children(self.nodes[dt].parent)
            .take_while(|&c| c != dt)
            .filter(|&c| self.elem(c).is_some())
            .fold((None, None), |(_, b), c| (b, Some(c)));
        let is_dt = |i: Option<usize>| i.is_some_and(|p| self.elem(p).is_some_and(|e| e.dt));
        // texi2any sets an `@itemx`'s index entries in a `<dd>` of their own between the
        // two names (`<dt>RPROMPT</dt><dd><span id="index-RPS1"></span></dd><dt>RPS1</dt>`).
        let term_list = self
            .elem(self.nodes[dt].parent)
            .is_some_and(|d| d.term_list);
        is_dt(last) || term_list && last.is_some_and(|p| !self.has_text(p)) && is_dt(second)
    }

    fn has_ancestor(&self, mut i: usize, pred: impl Fn(&Elem) -> bool) -> bool {
        loop {
            i = self.nodes[i].parent;
            if i == NONE {
                return false;
            }
            if self.elem(i).is_some_and(&pred) {
                return true;
            }
        }
    }

    /// The subtree's text on one line, whitespace collapsed, chrome left out, and the
    /// source lines it came from.
    fn inline_text(
        &self,
        root: usize,
        budget: &Budget,
    ) -> Result<(String, Option<Loc>), ReadError> {
        let mut out = Prose::default();
        let mut steps = 0usize;
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            steps += 1;
            if steps.is_multiple_of(CHECK_EVERY) {
                budget.check()?;
            }
            match &self.nodes[i].data {
                Data::Text(t) => out.push(t, text_loc(&self.nodes[i])),
                Data::Element(e) => {
                    if i != root
                        && (is_noise(e, true) || self.is_permalink(i) || self.is_more_link(i))
                    {
                        continue;
                    }
                    if let Some(labels) = self.mlabels(i) {
                        out.space();
                        out.push(&labels, text_loc(&self.nodes[i]));
                        out.space();
                        continue;
                    }
                    // gi-docgen separates "Json", "Array" and "hash" with an empty
                    // `span.sep` its style sheet fills in.
                    if !matches!(e.tag, Tag::Inline | Tag::A | Tag::Span) || e.has_class("sep") {
                        out.space();
                    }
                }
                _ => {}
            }
            let mut c = self.nodes[i].last;
            while c != NONE {
                stack.push(c);
                c = self.nodes[c].prev;
            }
        }
        let loc = out.loc;
        Ok((out.finish(), loc))
    }

    /// The subtree's text exactly as written (for `<pre>`), `<br>` as a newline.
    fn verbatim_text(
        &self,
        root: usize,
        budget: &Budget,
    ) -> Result<(String, Option<Loc>), ReadError> {
        let mut text = String::new();
        let mut loc: Option<Loc> = None;
        let mut steps = 0usize;
        let mut stack = vec![root];
        while let Some(i) = stack.pop() {
            steps += 1;
            if steps.is_multiple_of(CHECK_EVERY) {
                budget.check()?;
            }
            match &self.nodes[i].data {
                Data::Text(t) => {
                    text.push_str(t);
                    loc = union(loc, text_loc(&self.nodes[i]));
                }
                Data::Element(e) => {
                    if i != root && is_noise(e, true) {
                        continue;
                    }
                    if e.tag == Tag::Br {
                        text.push('\n');
                    }
                }
                _ => {}
            }
            let mut c = self.nodes[i].last;
            while c != NONE {
                stack.push(c);
                c = self.nodes[c].prev;
            }
        }
        Ok((text, loc))
    }

    /// The language of a code block, from `language-x`/`lang-x`/`highlight-x` classes on
    /// the `<pre>`, its `<code>`, or the wrappers Sphinx and Pygments put around it.
    fn code_lang(&self, pre: usize) -> Option<String> {
        let mut candidates: Vec<usize> = vec![pre];
        candidates.extend(
            self.children(pre)
                .filter(|&c| self.elem(c).is_some())
                .take(1),
        );
        let mut up = self.nodes[pre].parent;
        for _ in 0..2 {
            if up == NONE {
                break;
            }
            candidates.push(up);
            up = self.nodes[up].parent;
        }
        for i in candidates {
            let Some(e) = self.elem(i) else { continue };
            for class in e.classes() {
                let lang = ["language-", "lang-", "highlight-", "highlight-source-"]
                    .iter()
                    .find_map(|p| class.strip_prefix(p))
                    .filter(|l| !l.is_empty() && !matches!(*l, "default" | "none" | "text"));
                if let Some(l) = lang {
                    return Some(l.to_ascii_lowercase());
                }
                if class == "rust" {
                    return Some("rust".into());
                }
                if is_javadoc_signature(class) {
                    return Some("java".into());
                }
            }
        }
        None
    }

    /// The anchor a link to this heading would use: its own id, an id or name inside it (a
    /// permalink such as Node's `<a class="mark" id="path">#</a>`), the id of the section it
    /// opens (Sphinx, texi2any), an empty `<a id/name>` just before it (Doxygen, Javadoc),
    /// or the `#fragment` of its permalink.
    fn heading_anchor(&self, h: usize) -> Option<String> {
        let e = self.elem(h)?;
        if let Some(id) = nonempty(e.id.as_deref()) {
            return Some(id.to_string());
        }
        let mut inner: Option<String> = None;
        let mut link: Option<String> = None;
        self.walk(
            h,
            |i| self.elem(i).is_some_and(|e| is_noise(e, true)),
            |i| {
                if let Some(ie) = self.elem(i) {
                    if i != h && inner.is_none() && !ie.hidden {
                        inner = nonempty(ie.id.as_deref())
                            .or(nonempty(ie.name.as_deref()).filter(|_| ie.tag == Tag::A))
                            .map(str::to_string);
                    }
                    if ie.tag == Tag::A && link.is_none() {
                        link = ie
                            .href
                            .as_deref()
                            .and_then(|href| href.strip_prefix('#'))
                            .filter(|f| !f.is_empty())
                            .map(str::to_string);
                    }
                }
            },
        );
        if inner.is_some() {
            return inner;
        }
        let parent = self.nodes[h].parent;
        if let Some(p) = self.elem(parent) {
            if let Some(id) = nonempty(p.id.as_deref()) {
                // texi2html/texi2any put their bar of navigation links first in the section.
                let first = self.children(parent).find(|&c| {
                    self.elem(c).is_some_and(|ce| {
                        !(is_noise(ce, true)
                            || self.is_empty_anchor(c)
                            || ce.tag == Tag::Table && self.is_link_bar(c)
                            || self.is_nav_header(c))
                    })
                });
                if first == Some(h) && !matches!(p.tag, Tag::Body) {
                    return Some(id.to_string());
                }
            }
        }
        let mut prev = self.nodes[h].prev;
        while prev != NONE {
            match &self.nodes[prev].data {
                Data::Text(t) if t.trim().is_empty() => {}
                Data::Element(pe) if self.is_empty_anchor(prev) => {
                    if let Some(a) = target_name(pe) {
                        return Some(a.to_string());
                    }
                }
                Data::Element(_) if self.is_nav_header(prev) => {}
                Data::Element(_) => {
                    if let Some(a) = self.trailing_anchor(prev) {
                        return Some(a);
                    }
                    break;
                }
                _ => break,
            }
            prev = self.nodes[prev].prev;
        }
        link
    }

    /// A link to its own place drawn as a sign (`<a href="#path">#</a>`, `¶`, `§`): a
    /// heading's permalink, whatever its class. "Path#" is not the heading's text.
    /// (Doxygen marks each member's title with `◆`.)
    fn is_permalink(&self, i: usize) -> bool {
        self.in_page_link_text(i)
            .is_some_and(|(_, t)| matches!(t.trim(), "#" | "¶" | "§" | "🔗" | "⚓" | "◆"))
    }

    /// Doxygen's "More..." after a brief description: a link down to the details, on
    /// every class and file page (`#details`, or the page's own path and `#details`, and
    /// in a member table `#` and the member's anchor).
    fn is_more_link(&self, i: usize) -> bool {
        self.in_page_link_text(i)
            .is_some_and(|(href, t)| href == "#details" && t.trim() == "More...")
            || self.elem(i).is_some_and(|e| {
                e.tag == Tag::A
                    && e.href.as_deref().is_some_and(|h| h.contains('#'))
                    && self.children(i).count() == 1
                    && matches!(&self.nodes[self.nodes[i].first].data,
                        Data::Text(t) if t.trim() == "More...")
            })
    }

    /// rustdoc's "Read more" after the summary of a trait's method (58,000 in the standard
    /// library's docs), or a blog's after an excerpt: a link whose whole text says so,
    /// never the page's words.
    fn is_read_more_link(&self, i: usize) -> bool {
        let Some(e) = self.elem(i) else {
            return false;
        };
        if e.tag != Tag::A || e.href.is_none() {
            return false;
        }
        let mut text = String::new();
        for c in self.children(i) {
            match &self.nodes[c].data {
                Data::Text(t) => text.push_str(t),
                _ => return false,
            }
        }
        let text = text.trim().trim_end_matches(['…', '.', '»', '→', '›', ' ']);
        text.eq_ignore_ascii_case("read more")
    }

    /// An `<a href="#…">` holding text only: its target and text.
    fn in_page_link_text(&self, i: usize) -> Option<(&str, String)> {
        let e = self.elem(i)?;
        let href = e.href.as_deref().filter(|h| h.starts_with('#'))?;
        if e.tag != Tag::A {
            return None;
        }
        let mut text = String::new();
        for c in self.children(i) {
            match &self.nodes[c].data {
                Data::Text(t) => text.push_str(t),
                _ => return None,
            }
        }
        Some((href, text))
    }

    /// A page or section header that is a bar of navigation links, not a title: Node's
    /// `<header>` (site name and a version picker), texi2any 6's `div.header` ("Next: …,
    /// Previous: …, Up: … [Contents][Index]"). Doxygen's `div.header` holds the page title
    /// as text and stays.
    fn is_nav_header(&self, i: usize) -> bool {
        let Some(e) = self.elem(i) else {
            return false;
        };
        if !(e.tag == Tag::Header || e.tag == Tag::Div && e.classes().any(|c| c == "header")) {
            return false;
        }
        // Javadoc's `div.header` holds the page's `h1.title` ("Class Validate") under one
        // link to its package: a title, however short.
        let titled = self
            .find_first(i, |d| matches!(d.tag, Tag::H(_)) && d.has_class("title"))
            .is_some();
        !titled && self.mostly_links(i)
    }

    /// Whether half or more of the letters and digits under `i` are link text (a bar of
    /// links rather than prose); `false` for an empty element.
    fn mostly_links(&self, i: usize) -> bool {
        let (mut text, mut linked) = (0usize, 0usize);
        let mut stack = vec![(i, false)];
        while let Some((n, in_link)) = stack.pop() {
            match &self.nodes[n].data {
                Data::Text(t) => {
                    let k = t.chars().filter(|c| c.is_alphanumeric()).count();
                    text += k;
                    if in_link {
                        linked += k;
                    }
                }
                Data::Element(ce) => {
                    let in_link = in_link || ce.tag == Tag::A;
                    for c in self.children(n) {
                        stack.push((c, in_link));
                    }
                }
                _ => {}
            }
            if stack.len() > 10_000 {
                return false;
            }
        }
        text > 0 && linked * 2 >= text
    }

    /// The id or name of an empty `<a>` that ends element `i` (looking through its last
    /// children): an anchor written just before a heading lands inside the paragraph before
    /// it when that paragraph is left unclosed, as man2html writes every section of a man
    /// page (`<P>…<A NAME="lbAF">&nbsp;</A>\n<H2>OPTIONS</H2>`).
    fn trailing_anchor(&self, i: usize) -> Option<String> {
        let mut at = i;
        for _ in 0..4 {
            let mut last = self.nodes[at].last;
            while last != NONE
                && matches!(&self.nodes[last].data, Data::Text(t) if t.trim().is_empty())
            {
                last = self.nodes[last].prev;
            }
            let e = self.elem(last)?;
            if self.is_empty_anchor(last) {
                return target_name(e).map(str::to_string);
            }
            at = last;
        }
        None
    }

    /// An element with no text (an `<a id>` or `<span id>` link target).
    fn is_empty_anchor(&self, i: usize) -> bool {
        self.elem(i)
            .is_some_and(|e| matches!(e.tag, Tag::A | Tag::Span | Tag::Inline))
            && self.children(i).all(|c| match &self.nodes[c].data {
                Data::Text(t) => t.trim().is_empty(),
                _ => false,
            })
    }

    /// Whether a table lays out the page rather than holding data: it holds headings,
    /// code blocks or other tables.
    fn is_layout_table(&self, table: usize) -> bool {
        if self.elem(table).and_then(|e| e.role.as_deref()) == Some("presentation") {
            return true;
        }
        if let Some(doxygen) = self.elem(table).and_then(doxygen_table) {
            return doxygen;
        }
        let layout = Cell::new(false);
        self.walk(
            table,
            |i| layout.get() || self.elem(i).is_some_and(|e| is_noise(e, true)),
            |i| {
                if i != table
                    && self
                        .elem(i)
                        .is_some_and(|e| matches!(e.tag, Tag::H(_) | Tag::Pre | Tag::Table))
                {
                    layout.set(true);
                }
            },
        );
        layout.get()
    }

    /// A table that is only a bar of links: every text outside its links is brackets, bars
    /// or spaces. texi2html puts one above and below every page of a GNU manual
    /// (`[ << ] [ >> ] [Top] [Contents] [Index] [ ? ]`), with no class to recognise it by,
    /// and one of index letters (`Jump to: _ A B C …`) above and below each index page.
    fn is_link_bar(&self, table: usize) -> bool {
        let links = Cell::new(0usize);
        let other = Cell::new(false);
        self.walk(
            table,
            |i| {
                other.get()
                    || self.elem(i).is_some_and(|e| {
                        let link = e.tag == Tag::A && e.href.is_some();
                        if link {
                            links.set(links.get() + 1);
                        }
                        link
                    })
            },
            |i| {
                if let Data::Text(t) = &self.nodes[i].data {
                    // texi2html's bar of index letters says "Jump to:" before its links.
                    if t.trim() != "Jump to:"
                        && t.chars().any(|c| !c.is_whitespace() && !"[]|".contains(c))
                    {
                        other.set(true);
                    }
                }
            },
        );
        !other.get() && links.get() >= 2
    }

    /// Javadoc 17's summary tables, laid out as a CSS grid of `div`s rather than a
    /// `<table>`: `div.summary-table.three-column-summary` holds the header cells
    /// (`div.table-header`) and then each row's cells (`div.col-first`, `div.col-second`,
    /// `div.col-last`), in order, and only its class says how many make a row. Read as
    /// paragraphs, each cell ("static String", "abbreviate(String str, int maxWidth)",
    /// "Abbreviates a String using ellipses.") stood alone; as a table, each row is a line
    /// with its cells joined by ` | `, like [`Tree::table_blocks`]'s. None when `i` is no such
    /// grid or its cells do not fill whole rows.
    fn grid_table_blocks(
        &self,
        i: usize,
        budget: &Budget,
    ) -> Result<Option<Vec<Block>>, ReadError> {
        let Some(e) = self.elem(i) else {
            return Ok(None);
        };
        if e.tag != Tag::Div || !e.has_class("summary-table") {
            return Ok(None);
        }
        let Some(columns) = e
            .classes()
            .find_map(|c| match c.strip_suffix("-column-summary")? {
                "two" => Some(2),
                "three" => Some(3),
                "four" => Some(4),
                _ => None,
            })
        else {
            return Ok(None);
        };
        let cells: Vec<usize> = self
            .children(i)
            .filter(|&c| self.elem(c).is_some_and(|ce| !is_noise(ce, true)))
            .collect();
        if cells.is_empty() || !cells.len().is_multiple_of(columns) {
            return Ok(None);
        }
        let mut blocks = Vec::new();
        for row in cells.chunks(columns) {
            let mut texts = Vec::with_capacity(columns);
            let mut loc = None;
            for &c in row {
                let (t, l) = self.inline_text(c, budget)?;
                texts.push(t);
                loc = union(loc, l);
            }
            if texts.iter().all(String::is_empty) {
                continue;
            }
            let line = self.nodes[row[0]].line;
            let text = texts.join(" | ");
            let loc = loc.unwrap_or(Loc::new(line, line));
            blocks.push(if blocks.is_empty() {
                Block::Text { text, loc }
            } else {
                Block::Item { text, loc }
            });
        }
        Ok(Some(blocks))
    }

    /// The cells of a row of rustdoc's table of a module's items (the name, then the
    /// summary): `div.item-row > div.item-left + div.item-right` (rustdoc 1.63),
    /// `ul.item-table > li > div.item-name + div.desc`, or `dl.item-table > dt + dd`.
    fn item_row(&self, i: usize) -> Option<Vec<usize>> {
        let e = self.elem(i)?;
        let in_table = || {
            self.elem(self.nodes[i].parent)
                .is_some_and(|p| p.has_class("item-table"))
        };
        let cells = |i: usize| -> Vec<usize> {
            self.children(i)
                .filter(|&c| self.elem(c).is_some_and(|ce| !is_noise(ce, true)))
                .collect()
        };
        if e.tag == Tag::Div && e.has_class("item-row") || e.tag == Tag::Li && in_table() {
            return Some(cells(i));
        }
        if e.dt && in_table() {
            let mut row = vec![i];
            row.extend(self.next_elem(i).filter(|&d| self.is_item_description(d)));
            return Some(row);
        }
        None
    }

    /// The `<dd>` after a `<dt>` in rustdoc's `dl.item-table`: an item's summary.
    fn is_item_description(&self, i: usize) -> bool {
        self.elem(i).is_some_and(|e| !e.dt && e.tag == Tag::Block)
            && self
                .elem(self.nodes[i].parent)
                .is_some_and(|p| p.tag == Tag::Block && p.has_class("item-table"))
            && self
                .prev_elem(i)
                .is_some_and(|p| self.elem(p).is_some_and(|pe| pe.dt))
    }

    /// A row of a module's item table as one line: "ReadBuf (Experimental) — A wrapper
    /// around a byte buffer …". The stability badges rustdoc sets right after the name
    /// (`span.stab`: "Experimental", "Deprecated", "Unix") are put in brackets, not glued
    /// to it ("ReadBufExperimental").
    fn item_row_text(
        &self,
        cells: &[usize],
        budget: &Budget,
    ) -> Result<(String, Option<Loc>), ReadError> {
        let mut parts: Vec<String> = Vec::new();
        let mut loc = None;
        for (n, &cell) in cells.iter().enumerate() {
            if n > 0 {
                let (t, l) = self.inline_text(cell, budget)?;
                loc = union(loc, l);
                parts.push(t);
                continue;
            }
            let mut name = Prose::default();
            let mut badges: Vec<String> = Vec::new();
            for c in self.children(cell) {
                match &self.nodes[c].data {
                    Data::Text(t) => name.push(t, text_loc(&self.nodes[c])),
                    Data::Element(ce) if is_noise(ce, true) => {}
                    Data::Element(ce) => {
                        let (t, l) = self.inline_text(c, budget)?;
                        if ce.has_class("stab") {
                            badges.push(t);
                        } else {
                            name.push(&t, l);
                        }
                    }
                    _ => {}
                }
            }
            loc = union(loc, name.loc);
            let mut first = name.finish();
            badges.retain(|b| !b.is_empty());
            if !badges.is_empty() {
                first = format!("{first} ({})", badges.join(", "));
            }
            parts.push(first);
        }
        parts.retain(|p| !p.is_empty());
        Ok((parts.join(" — "), loc))
    }

    /// The element before `i` among its siblings, text left aside.
    fn prev_elem(&self, i: usize) -> Option<usize> {
        self.sibling_elem(i, |n| n.prev)
    }

    /// The element after `i` among its siblings, text left aside.
    fn next_elem(&self, i: usize) -> Option<usize> {
        self.sibling_elem(i, |n| n.next)
    }

    fn sibling_elem(&self, i: usize, step: impl Fn(&Node) -> usize) -> Option<usize> {
        let mut at = step(&self.nodes[i]);
        while at != NONE {
            if self.elem(at).is_some() {
                return Some(at);
            }
            at = step(&self.nodes[at]);
        }
        None
    }

    /// A data table as one paragraph, a row per line, cells joined by ` | `: its first row a
    /// `Text` block, every further row an `Item` with its own source lines (a long table cut
    /// into several chunks cites each chunk's rows).
    fn table_blocks(&self, table: usize, budget: &Budget) -> Result<Vec<Block>, ReadError> {
        // Doxygen lays a function's signature out as a table (name, `(`, each parameter's
        // type and name, `)`, a row per parameter): it reads as one line of code.
        let signature = self
            .elem(table)
            .and_then(|e| e.class.as_deref())
            .is_some_and(|c| {
                c.split_ascii_whitespace()
                    .any(|t| t == "memname" || t == "mlabels")
            });
        let sep = if signature { " " } else { " | " };
        let mut rows: Vec<(String, Option<Loc>)> = Vec::new();
        let mut row_loc: Option<Loc> = None;
        let mut cells: Vec<String> = Vec::new();
        // (node, is_exit)
        let mut stack = vec![(table, false)];
        let mut steps = 0usize;
        while let Some((i, exit)) = stack.pop() {
            steps += 1;
            if steps.is_multiple_of(CHECK_EVERY) {
                budget.check()?;
            }
            let Some(e) = self.elem(i) else { continue };
            if exit {
                if e.tag == Tag::Tr && cells.iter().any(|c| !c.is_empty()) {
                    rows.push((cells.join(sep), row_loc));
                }
                cells.clear();
                row_loc = None;
                continue;
            }
            if i != table && is_noise(e, true) {
                continue;
            }
            match e.tag {
                Tag::Cell | Tag::Caption => {
                    let (text, l) = self.inline_text(i, budget)?;
                    if e.tag == Tag::Caption {
                        if !text.is_empty() {
                            rows.push((text, l));
                        }
                    } else {
                        row_loc = union(row_loc, l);
                        cells.push(text);
                    }
                    continue;
                }
                Tag::Tr => {
                    cells.clear();
                    row_loc = None;
                    stack.push((i, true));
                }
                _ => {}
            }
            let mut c = self.nodes[i].last;
            while c != NONE {
                stack.push((c, false));
                c = self.nodes[c].prev;
            }
        }
        let line = self.nodes[table].line;
        if signature && !rows.is_empty() {
            let text = rows
                .iter()
                .map(|r| r.0.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let loc = rows.iter().fold(None, |l, r| union(l, r.1));
            rows = vec![(text, loc)];
        }
        Ok(rows
            .into_iter()
            .enumerate()
            .map(|(n, (text, loc))| {
                let loc = loc.unwrap_or(Loc::new(line, line));
                if n == 0 {
                    Block::Text { text, loc }
                } else {
                    Block::Item { text, loc }
                }
            })
            .collect())
    }

    /// The blocks of the content under `root`, in reading order.
    fn blocks(
        &self,
        root: usize,
        in_section: bool,
        stats: &[Stats],
        budget: &Budget,
    ) -> Result<Vec<Block>, ReadError> {
        enum Step {
            Enter(usize),
            Exit { node: usize, in_section: bool },
        }
        let mut out = Blocks::new(budget);
        let mut stack = vec![Step::Enter(root)];
        let mut in_section = in_section;
        // One entry per open list: the next number of an ordered list, None for bullets.
        let mut lists: Vec<List> = Vec::new();
        // The level of the last heading, under which API entries nest.
        let mut section = 0u8;
        // Where the last Texinfo index table was left out (the number of blocks then).
        let mut index_dropped: Option<usize> = None;
        // A Doxygen page's title, set above its `div.contents`: the page's top heading.
        let doxygen = self.doxygen_title(root);
        if let Some((header, title)) = doxygen {
            if !self.is_within(header, root) {
                self.push_doxygen_title(title, &mut out, budget)?;
            }
        }
        let mut steps = 0usize;
        while let Some(step) = stack.pop() {
            steps += 1;
            if steps.is_multiple_of(CHECK_EVERY) {
                budget.check()?;
            }
            let i = match step {
                Step::Exit {
                    node,
                    in_section: was,
                } => {
                    in_section = was;
                    if let Some(e) = self.elem(node) {
                        if matches!(e.tag, Tag::Ul | Tag::Ol) {
                            out.flush(&lists)?;
                            lists.pop();
                            if matches!(lists.last(), None | Some(List::Structural)) {
                                out.in_list = false;
                            }
                        } else if e.tag != Tag::Inline && e.tag != Tag::A && e.tag != Tag::Span {
                            out.flush(&lists)?;
                        }
                        // The end of a list of API entries: what follows is the section's
                        // own text again, not the last entry's.
                        if e.tag == Tag::Block {
                            let depth = self.children(node).find_map(|c| {
                                self.elem(c)
                                    .is_some_and(|ce| ce.dt)
                                    .then(|| self.entry_depth(c))
                                    .flatten()
                            });
                            if let Some(depth) = depth {
                                let line = self.nodes[node].line;
                                out.push(Block::End {
                                    level: section.saturating_add(depth),
                                    loc: Loc::new(line, line),
                                })?;
                            }
                        }
                    }
                    continue;
                }
                Step::Enter(i) => i,
            };
            let e = match &self.nodes[i].data {
                Data::Text(t) => {
                    out.para.push(t, text_loc(&self.nodes[i]));
                    continue;
                }
                Data::Element(e) => e,
                Data::Document => {
                    for c in self.children(i).collect::<Vec<_>>().into_iter().rev() {
                        stack.push(Step::Enter(c));
                    }
                    continue;
                }
                Data::Other => continue,
            };
            if let Some((_, title)) = doxygen.filter(|&(header, _)| header == i && i != root) {
                out.flush(&lists)?;
                self.push_doxygen_title(title, &mut out, budget)?;
                continue;
            }
            if i != root
                && (is_noise(e, in_section)
                    || self.is_nav_header(i)
                    || self.is_more_link(i)
                    || self.is_read_more_link(i))
            {
                if e.tag == Tag::Table && e.class.as_deref().is_some_and(texinfo_index) {
                    index_dropped = Some(out.blocks.len());
                }
                continue;
            }
            if let Some(rows) = self.grid_table_blocks(i, budget)? {
                out.flush(&lists)?;
                for b in rows {
                    out.push(b)?;
                }
                continue;
            }
            if let Some(cells) = self.item_row(i) {
                out.flush(&lists)?;
                let (text, loc) = self.item_row_text(&cells, budget)?;
                if !text.is_empty() {
                    let line = self.nodes[i].line;
                    let loc = loc.unwrap_or(Loc::new(line, line));
                    out.push(if self.prev_elem(i).is_some() {
                        Block::Item { text, loc }
                    } else {
                        Block::Text { text, loc }
                    })?;
                }
                continue;
            }
            if self.is_item_description(i) {
                // Read with its name, in its row.
                continue;
            }
            if let Some(depth) = e.dt.then(|| self.entry_depth(i)).flatten() {
                out.flush(&lists)?;
                let (text, loc) = self.inline_text(i, budget)?;
                let text = short_signature(&strip_permalink(&text));
                let line = self.nodes[i].line;
                if self.further_signature(i) {
                    // The entry stays the first signature's, which has the id to cite; this
                    // one is a line of its text.
                    if !text.is_empty() {
                        out.push(Block::Text {
                            text,
                            loc: loc.unwrap_or(Loc::new(line, line)),
                        })?;
                    }
                    continue;
                }
                if !text.is_empty() {
                    out.push(Block::Entry {
                        level: section.saturating_add(depth),
                        text,
                        anchor: nonempty(e.id.as_deref()).map(str::to_string),
                        loc: loc.unwrap_or(Loc::new(line, line)),
                    })?;
                }
                continue;
            }
            match e.tag {
                Tag::H(level) => {
                    let level = doxygen_level(e, level, doxygen.is_some());
                    section = level;
                    out.flush(&lists)?;
                    let (text, loc) = self.inline_text(i, budget)?;
                    let text = strip_permalink(&text);
                    if !text.is_empty() {
                        let line = self.nodes[i].line;
                        out.push(Block::Heading {
                            level,
                            text,
                            anchor: self.heading_anchor(i),
                            loc: loc.unwrap_or(Loc::new(line, line)),
                        })?;
                    }
                    continue;
                }
                Tag::Pre => {
                    out.flush(&lists)?;
                    let (mut text, loc) = self.verbatim_text(i, budget)?;
                    let line = self.nodes[i].line;
                    let loc = loc.unwrap_or(Loc::new(line, line));
                    // Javadoc writes `&nbsp;` between a signature's type and name.
                    if e.classes().any(is_javadoc_signature) {
                        text = text.replace('\u{a0}', " ");
                    }
                    // vim-doc's pages: a whole Vim help file in one `<pre>`.
                    if let Some(blocks) = super::text::help_blocks(&text, loc) {
                        for b in blocks {
                            out.push(b)?;
                        }
                        continue;
                    }
                    out.push(Block::Code {
                        lang: self.code_lang(i),
                        text,
                        loc,
                    })?;
                    continue;
                }
                Tag::Div if self.is_fragment(i) => {
                    out.flush(&lists)?;
                    let (text, loc) = self.fragment_text(i, budget)?;
                    let line = self.nodes[i].line;
                    out.push(Block::Code {
                        lang: None,
                        text,
                        loc: loc.unwrap_or(Loc::new(line, line)),
                    })?;
                    continue;
                }
                Tag::Tr if member_row(e).is_some() => {
                    out.flush(&lists)?;
                    self.push_member_row(i, &mut out, budget)?;
                    continue;
                }
                Tag::Table if self.is_link_bar(i) => continue,
                Tag::Table if !self.is_layout_table(i) => {
                    out.flush(&lists)?;
                    for b in self.table_blocks(i, budget)? {
                        out.push(b)?;
                    }
                    continue;
                }
                Tag::Br => {
                    out.para.newline();
                    continue;
                }
                Tag::Ul | Tag::Ol => {
                    out.flush(&lists)?;
                    lists.push(if stats.get(i).is_some_and(|s| s.heading) {
                        // Generators (Javadoc) lay out whole sections as list items.
                        List::Structural
                    } else if e.tag == Tag::Ol {
                        List::Ordered(e.start.unwrap_or(1))
                    } else {
                        List::Bullet
                    });
                }
                Tag::Li => {
                    out.flush(&lists)?;
                    out.marker = match lists.last_mut() {
                        Some(List::Ordered(n)) => {
                            let m = format!("{n}. ");
                            *n = n.saturating_add(1);
                            Some(m)
                        }
                        Some(List::Bullet) => Some("- ".to_string()),
                        _ => None,
                    };
                }
                Tag::Inline | Tag::A | Tag::Span => {}
                _ => out.flush(&lists)?,
            }
            stack.push(Step::Exit {
                node: i,
                in_section,
            });
            if matches!(e.tag, Tag::Article | Tag::Section | Tag::Main)
                || e.role.as_deref() == Some("main")
            {
                in_section = true;
            }
            let mut c = self.nodes[i].last;
            while c != NONE {
                stack.push(Step::Enter(c));
                c = self.nodes[c].prev;
            }
        }
        out.flush(&lists)?;
        let mut blocks = out.blocks;
        drop_index_headings(&mut blocks, index_dropped);
        Ok(blocks)
    }
}

/// Object types that Sphinx before 4 named in an entry's `dl` class (`dl.function`,
/// `dl.py.method`); with an `id` on the `<dt>`, the `<dt>` is the entry's signature. A
/// glossary's terms (`dl.glossary`, `<dt id="term-builder">`) are entries too, so a hit on
/// the glossary cites the term it defines.
const DESCRIPTION_TYPES: &[&str] = &[
    "glossary",
    "function",
    "class",
    "method",
    "classmethod",
    "staticmethod",
    "attribute",
    "data",
    "exception",
    "decorator",
    "property",
    "describe",
    "confval",
    "option",
    "cmdoption",
    "envvar",
    "event",
    "directive",
    "role",
    "macro",
    "member",
    "type",
    "var",
];

/// Marks the definition lists whose terms each title an entry, so that the entry stands on
/// the trail below its section ([`Tree::entry_depth`]) as the source readers put it:
/// DocBook's `variablelist` as the DocBook XSL stylesheets write it (`div.variablelist >
/// dl.variablelist`, a bare `dl` in the `div` before 1.7x: a module's options, PostgreSQL's
/// settings), and on a page texi2any (makeinfo) wrote, every `<dl>`, which is a Texinfo
/// `@table`/`@vtable`/`@ftable` or a `@deffn` (Zsh's options and builtins, an R manual's
/// settings). A chunk and a citation then name the option (`OPTIONS > nullok`), not only
/// its section.
fn mark_term_lists(nodes: &mut [Node], texinfo: bool) {
    let marked = |nodes: &[Node], i: usize| {
        nodes
            .get(i)
            .is_some_and(|n| matches!(&n.data, Data::Element(e) if e.has_class("variablelist")))
    };
    for i in 0..nodes.len() {
        let in_variablelist = marked(nodes, i) || marked(nodes, nodes[i].parent);
        if let Data::Element(e) = &mut nodes[i].data {
            e.term_list = e.dl && (texinfo || in_variablelist);
        }
    }
}

/// Whether the page's head names texi2any or makeinfo as its generator (`<meta
/// name="Generator" content="texi2any">`; 6.x before 6.8 said `makeinfo`).
fn by_texinfo(text: &str) -> bool {
    meta_says(text, "generator", |c| {
        c.starts_with("texi2any") || c.starts_with("makeinfo")
    })
}

fn nonempty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

/// The name a link target answers to: its `id`, else its `name`.
fn target_name(e: &Elem) -> Option<&str> {
    nonempty(e.id.as_deref()).or(nonempty(e.name.as_deref()))
}

fn text_loc(n: &Node) -> Option<Loc> {
    (n.line != 0).then(|| Loc::new(n.line, n.line_end))
}

/// Drops the permalink sign Sphinx (`¶`), rustdoc (`§`), MkDocs/pydata (`#`) and others
/// append to headings when it survives as text.
fn strip_permalink(text: &str) -> String {
    let sign = |c: char| {
        c.is_whitespace() || matches!(c, '¶' | '§' | '🔗' | '⚓' | '◆' | '\u{200b}' | '\u{feff}')
    };
    let mut t = text.trim_matches(sign);
    while let Some(rest) = t.strip_suffix(" #") {
        t = rest.trim_end_matches(sign);
    }
    t.to_string()
}

/// Drops the run of headings that ends the page when a Texinfo index table was left out
/// under them: a one-page manual (bashref, autoconf) ends with "Appendix D Indexes" and
/// "D.1 Index of Shell Builtin Commands" … "D.5 Concept Index", whose indexes are not read,
/// and those five bare titles were laid out at the end of the license's last chunk. A page
/// that would be left with nothing but headings keeps them.
fn drop_index_headings(blocks: &mut Vec<Block>, index_dropped: Option<usize>) {
    let Some(at) = index_dropped else {
        return;
    };
    let run = blocks
        .iter()
        .rposition(|b| !matches!(b, Block::Heading { .. } | Block::End { .. }))
        .map_or(0, |k| k + 1);
    if at > run && run > 0 {
        blocks.truncate(run);
    }
}

/// An open list: what its items are numbered with.
#[derive(Debug, Clone, Copy, PartialEq)]
enum List {
    Bullet,
    Ordered(i64),
    /// A list laying out sections (it holds headings): its items are plain blocks.
    Structural,
}

/// The block list being built, with the paragraph in progress and list bookkeeping.
struct Blocks<'b> {
    blocks: Vec<Block>,
    para: Prose,
    /// The marker (`- `, `3. `) owed to the next list item's first line.
    marker: Option<String>,
    /// Whether the last block is a list the next item can join.
    in_list: bool,
    /// The last block is the row of a member of a Doxygen member table, which later rows
    /// of the same member join ([`Blocks::member_row`]).
    member: Option<Member>,
    produced: usize,
    budget: &'b Budget,
}

impl<'b> Blocks<'b> {
    fn new(budget: &'b Budget) -> Blocks<'b> {
        Blocks {
            blocks: Vec::new(),
            para: Prose::default(),
            marker: None,
            in_list: false,
            member: None,
            produced: 0,
            budget,
        }
    }

    fn push(&mut self, block: Block) -> Result<(), ReadError> {
        self.produced += block.text().len();
        self.budget.check_size(self.produced)?;
        self.in_list = false;
        self.member = None;
        self.blocks.push(block);
        Ok(())
    }

    /// Ends the paragraph in progress: a Text block, or a line of the list being built.
    fn flush(&mut self, lists: &[List]) -> Result<(), ReadError> {
        let para = std::mem::take(&mut self.para);
        let loc = para.loc;
        let text = para.finish();
        // Separators left behind by dropped chrome ("·", "|", "»") are not prose.
        if !text.chars().any(char::is_alphanumeric) || is_generator_stamp(&text) {
            return Ok(());
        }
        let loc = loc.unwrap_or(Loc::new(1, 1));
        if matches!(lists.last(), None | Some(List::Structural)) {
            return self.push(Block::Text { text, loc });
        }
        let depth = lists.iter().filter(|l| **l != List::Structural).count();
        let indent = "  ".repeat(depth.saturating_sub(1));
        let lead = match self.marker.take() {
            Some(m) => format!("{indent}{m}"),
            None => format!("{indent}  "),
        };
        let pad = " ".repeat(lead.chars().count());
        let mut item = String::new();
        for (n, line) in text.lines().enumerate() {
            if n > 0 {
                item.push('\n');
                item.push_str(&pad);
            } else {
                item.push_str(&lead);
            }
            item.push_str(line.trim());
        }
        if self.in_list {
            self.push(Block::Item { text: item, loc })?;
        } else {
            self.push(Block::Text { text: item, loc })?;
        }
        self.in_list = true;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Doxygen: its page title, code fragments, member tables and labels.

/// What a row of a Doxygen member table (`table.memberdecls`) holds, by its class.
#[derive(Debug, Clone, Copy, PartialEq)]
enum MemberRow<'a> {
    /// A member's declaration, `tr.memitem:ID`: its type (`td.memItemLeft`) and name
    /// (`td.memItemRight`), after a row of its template parameters with the same id.
    Item(&'a str),
    /// The member's brief description, `tr.memdesc:ID`.
    Desc(&'a str),
    /// "Public Member Functions inherited from Base", `tr.inherit_header`.
    Inherited,
    /// Nothing to read: the spacer between members (`tr.separator:ID`), or a member
    /// inherited from a base class, which Doxygen hides (`tr.inherit { display: none }`) and
    /// the base class's page documents. On Eigen's `Matrix` page, 372 of 405 members.
    Skip,
}

/// The member whose row of a Doxygen member table is the last block.
struct Member {
    /// From `tr.memitem:ID`; empty in a table of nested classes.
    id: String,
    /// The row holds only the member's template parameters: its declaration follows.
    template: bool,
}

fn member_row(e: &Elem) -> Option<MemberRow<'_>> {
    if e.tag != Tag::Tr {
        return None;
    }
    let (mut row, mut inherited) = (None, false);
    for c in e.classes() {
        match c.split_once(':') {
            Some(("memitem", id)) => row = Some(MemberRow::Item(id)),
            Some(("memdesc", id)) => row = Some(MemberRow::Desc(id)),
            Some(("separator", _)) => row = Some(MemberRow::Skip),
            None if c == "inherit_header" => row = Some(MemberRow::Inherited),
            None if c == "inherit" => inherited = true,
            _ => {}
        }
    }
    row.map(|r| if inherited { MemberRow::Skip } else { r })
}

/// Whether a Doxygen table lays out the page ([`Tree::is_layout_table`]), when it is one:
/// a member table holds its section's heading, so it is read row by row, while a member's
/// prototype beside its labels (`table.mlabels`, holding `table.memname`) is one line.
fn doxygen_table(e: &Elem) -> Option<bool> {
    e.classes().find_map(|c| match c {
        "memberdecls" => Some(true),
        "mlabels" => Some(false),
        _ => None,
    })
}

/// A heading's level on a Doxygen page. A member's title (`h2.memtitle`, "lock()") sits
/// under its section's (`h2.groupheader`, "Member Function Documentation"), one level
/// deeper; on a page whose title is its top heading ([`Tree::doxygen_title`]), the page's
/// own headings (`h1` from Markdown, `\section`) sit under that title.
fn doxygen_level(e: &Elem, level: u8, page: bool) -> u8 {
    if e.has_class("memtitle") {
        level.saturating_add(1)
    } else if e.has_class("groupheader") || !page {
        level
    } else {
        level.saturating_add(1).min(6)
    }
}

impl Tree<'_> {
    /// Doxygen's page title, `div.header > div.headertitle > div.title` ("std::mutex Class
    /// Reference"), neither a heading nor inside the page's `div.contents`: the header before
    /// `root`, or the first one inside it, and the title in it.
    fn doxygen_title(&self, root: usize) -> Option<(usize, usize)> {
        let div = |i: usize, class: &str| {
            self.elem(i)
                .is_some_and(|e| e.tag == Tag::Div && e.has_class(class))
        };
        let title_in = |header: usize| {
            self.children(header)
                .filter(|&c| div(c, "headertitle"))
                .find_map(|t| self.children(t).find(|&c| div(c, "title")))
                .map(|t| (header, t))
        };
        let mut prev = self.nodes[root].prev;
        while prev != NONE {
            match &self.nodes[prev].data {
                Data::Text(t) if !t.trim().is_empty() => break,
                Data::Element(_) if div(prev, "header") => {
                    if let Some(found) = title_in(prev) {
                        return Some(found);
                    }
                    break;
                }
                Data::Element(_) => break,
                _ => {}
            }
            prev = self.nodes[prev].prev;
        }
        let header = self.find_first(root, |e| e.tag == Tag::Div && e.has_class("header"))?;
        title_in(header)
    }

    fn push_doxygen_title(
        &self,
        title: usize,
        out: &mut Blocks,
        budget: &Budget,
    ) -> Result<(), ReadError> {
        let (text, loc) = self.inline_text(title, budget)?;
        let text = strip_permalink(&text);
        if text.is_empty() {
            return Ok(());
        }
        let line = self.nodes[title].line;
        out.push(Block::Heading {
            level: 1,
            text,
            anchor: None,
            loc: loc.unwrap_or(Loc::new(line, line)),
        })
    }

    /// Whether `i` is `root` or inside it.
    fn is_within(&self, mut i: usize, root: usize) -> bool {
        while i != NONE {
            if i == root {
                return true;
            }
            i = self.nodes[i].parent;
        }
        false
    }

    /// A Doxygen code fragment: `div.fragment` holding a `div.line` per line of code
    /// (`div.foldopen` around a foldable block in Doxygen ≥ 1.9.7).
    fn is_fragment(&self, i: usize) -> bool {
        self.elem(i)
            .is_some_and(|e| e.tag == Tag::Div && e.has_class("fragment"))
            && self.children(i).any(|c| {
                self.elem(c).is_some_and(|ce| {
                    ce.tag == Tag::Div
                        && (ce.has_class("line")
                            || ce.has_class("foldopen")
                            || ce.has_class("foldclosed"))
                })
            })
    }

    /// A code fragment's text: each `div.line` on a line of its own, as written (its
    /// indentation, a line of only `}`), without the line numbers (`span.lineno`) or the
    /// tooltips (`div.ttc`) beside them.
    fn fragment_text(
        &self,
        fragment: usize,
        budget: &Budget,
    ) -> Result<(String, Option<Loc>), ReadError> {
        let mut lines: Vec<String> = Vec::new();
        let mut loc: Option<Loc> = None;
        let mut stack = vec![fragment];
        while let Some(i) = stack.pop() {
            // Text between the lines is the source's line breaks.
            let Some(e) = self.elem(i) else { continue };
            if i != fragment && is_noise(e, true) {
                continue;
            }
            if e.tag == Tag::Div && e.has_class("line") {
                let (text, l) = self.verbatim_text(i, budget)?;
                lines.push(text.trim_end().to_string());
                loc = union(loc, l);
                continue;
            }
            let mut c = self.nodes[i].last;
            while c != NONE {
                stack.push(c);
                c = self.nodes[c].prev;
            }
        }
        while lines.last().is_some_and(|l| l.trim().is_empty()) {
            lines.pop();
        }
        let first = lines.iter().position(|l| !l.trim().is_empty());
        Ok((lines[first.unwrap_or(lines.len())..].join("\n"), loc))
    }

    /// A row of a Doxygen member table as one line ("void lock ()"): the cells of a
    /// member's declaration joined, its brief description after it.
    fn push_member_row(
        &self,
        tr: usize,
        out: &mut Blocks,
        budget: &Budget,
    ) -> Result<(), ReadError> {
        let Some(row) = self.elem(tr).and_then(member_row) else {
            return Ok(());
        };
        if row == MemberRow::Skip {
            return Ok(());
        }
        let mut text = String::new();
        let mut loc: Option<Loc> = None;
        let mut template = false;
        for c in self.children(tr) {
            let Some(ce) = self.elem(c) else { continue };
            if ce.tag != Tag::Cell || is_noise(ce, true) {
                continue;
            }
            // A row of its own for the template parameters (`td.memTemplParams`) of the
            // member on the next row.
            template |= ce.has_class("memTemplParams");
            let (cell, l) = self.inline_text(c, budget)?;
            if !cell.is_empty() {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&cell);
                loc = union(loc, l);
            }
        }
        if !text.chars().any(char::is_alphanumeric) {
            return Ok(());
        }
        let line = self.nodes[tr].line;
        out.member_row(row, template, text, loc.unwrap_or(Loc::new(line, line)))
    }

    /// Doxygen's labels of a member (`span.mlabels` of `span.mlabel`s), which its style
    /// sheet sets apart: "[inline, noexcept]", not "inlinenoexcept".
    fn mlabels(&self, i: usize) -> Option<String> {
        if !self
            .elem(i)
            .is_some_and(|e| e.tag == Tag::Span && e.has_class("mlabels"))
        {
            return None;
        }
        let labels: Vec<String> = self
            .children(i)
            .filter(|&c| self.elem(c).is_some_and(|ce| ce.has_class("mlabel")))
            .map(|c| {
                let mut text = String::new();
                self.walk(
                    c,
                    |_| false,
                    |n| {
                        if let Data::Text(t) = &self.nodes[n].data {
                            text.push_str(t);
                        }
                    },
                );
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            })
            .filter(|t| !t.is_empty())
            .collect();
        Some(if labels.is_empty() {
            String::new()
        } else {
            format!("[{}]", labels.join(", "))
        })
    }
}

impl Blocks<'_> {
    /// A row of a Doxygen member table: a paragraph of its own (not an item of a list: the
    /// splitter cuts a list too long for a chunk inside a line, at a `_` of a name); the
    /// row of a member's brief description, or its declaration after the row of its
    /// template parameters, joins the member's line.
    /// The ids are empty in a table of nested classes (`tr.memitem:`), so a description
    /// joins the member row just before it whatever its id, a declaration the row of
    /// template parameters just before it, or an earlier row of the same id.
    fn member_row(
        &mut self,
        row: MemberRow,
        template: bool,
        text: String,
        loc: Loc,
    ) -> Result<(), ReadError> {
        let joins = match (&self.member, row) {
            (Some(_), MemberRow::Desc(_)) => Some(" — "),
            (Some(m), MemberRow::Item(id)) if m.template || !id.is_empty() && m.id == id => {
                Some(" ")
            }
            _ => None,
        };
        if let Some(sep) = joins {
            if let Some(Block::Text { text: t, loc: l }) = self.blocks.last_mut() {
                t.push_str(sep);
                t.push_str(&text);
                *l = l.union(loc);
                self.produced += text.len() + sep.len();
                if let (Some(m), MemberRow::Item(_)) = (&mut self.member, row) {
                    m.template = template;
                }
                return self.budget.check_size(self.produced);
            }
        }
        self.push(Block::Text { text, loc })?;
        if let MemberRow::Item(id) = row {
            self.member = Some(Member {
                id: id.to_string(),
                template,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// vim2html (vim-doc's pages): a whole help file in one `<pre>`, its sections headings
    /// at their own lines, the text between them verbatim.
    #[test]
    fn a_vim_help_page_in_one_pre_keeps_its_sections() {
        let rule = "=".repeat(78);
        let page = format!(
            "<HTML>\n<HEAD>\n<TITLE>Vim documentation: usr_05</TITLE>\n</HEAD>\n<BODY>\n\
             <H1>Vim documentation: usr_05</H1>\n<PRE>\n\n\
             *<A NAME=\"usr_05.txt\"></A><B>usr_05.txt</B>*\tFor Vim version 9.0.\n\n\
             Vim can be tuned to work like you want it to.\n\n\
             {rule}\n\
             *<A NAME=\"05.1\"></A><B>05.1</B>*\tThe <A HREF=\"starting.html#vimrc\">vimrc</A> file\t\t*<A NAME=\"vimrc-intro\"></A><B>vimrc-intro</B>*\n\n\
             You probably got tired of typing commands.\n\n\
             </PRE>\n</BODY>\n</HTML>\n"
        );
        let p = read_ok(&page);
        let heading = p.blocks.iter().find_map(|b| match b {
            Block::Heading {
                level: 1,
                text,
                loc,
                ..
            } if text.starts_with("05.1") => Some((text.clone(), *loc)),
            _ => None,
        });
        assert_eq!(
            heading,
            Some(("05.1 The vimrc file".to_string(), Loc::new(13, 13)))
        );
        let last = p.blocks.last().expect("blocks");
        assert!(matches!(last, Block::Code { text, .. } if text.ends_with("typing commands.")));
        assert_eq!(last.loc(), Loc::new(13, 16));
    }

    #[test]
    fn man2html_pages_lose_their_cgi_header_links_and_index() {
        // man2html, as saved in Debian's bash-doc (`bash.html`), shortened.
        let page = "Content-type: text/html; charset=UTF-8\n\n\
            <!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n\
            <HTML><HEAD><TITLE>Man page of BASH</TITLE>\n</HEAD><BODY>\n<H1>BASH</H1>\n\
            Section: User Commands  (1)<BR>Updated: 2022 September 19<BR><A HREF=\"#index\">Index</A>\n\
            <A HREF=\"/cgi-bin/man/man2html\">Return to Main Contents</A><HR>\n\
            <A NAME=\"lbAB\">&nbsp;</A>\n<H2>NAME</H2>\n\nbash - GNU Bourne-Again SHell\n\
            <HR>\n<A NAME=\"index\">&nbsp;</A><H2>Index</H2>\n<DL>\n<DT><A HREF=\"#lbAB\">NAME</A><DD>\n</DL>\n\
            <HR>\nThis document was created by\n<A HREF=\"/cgi-bin/man/man2html\">man2html</A>,\n\
            using the manual pages.<BR>\nTime: 12:06:21 GMT, January 02, 2023\n</BODY>\n</HTML>\n";
        let p = read_ok(page);
        let text = all_text(&p);
        assert!(text.contains("bash - GNU Bourne-Again SHell"), "{text}");
        for chrome in [
            "Content-type",
            "Return to Main",
            "Index",
            "created by",
            "12:06:21",
        ] {
            assert!(!text.contains(chrome), "{chrome}: {text}");
        }
        assert_eq!(
            headings(&p),
            [
                (1, "BASH".to_string(), None),
                (2, "NAME".to_string(), Some("lbAB".to_string()))
            ]
        );
        assert_eq!(
            crate::read::testing::rendered_loc(&p, "bash - GNU"),
            Loc::new(line_of(page, "bash - GNU"), line_of(page, "bash - GNU"))
        );
    }

    #[test]
    fn boxes_named_sidebar_that_hold_the_pages_text_are_read() {
        // debian-handbook (DocBook XSL, `sect.apt-get.html`), Python's library reference
        // (Docutils' `.. sidebar::`), and a site's sidebar of links inside a `<section>`.
        let page = r#"<html><head><title>apt-get</title></head><body>
<div class="section"><h2 class="title">6.2. aptitude, apt-get, and apt</h2>
<div class="para">The apt-get command installs packages.</div>
<div class="sidebar"><div class="titlepage"><div><div><p class="title"><strong>TIP Installing the same selection of packages several times</strong></p></div></div></div>
<div class="para">Use dpkg --get-selections to save the list of installed packages.</div></div>
</div>
<section id="logging"><h1>logging</h1>
<aside class="sidebar"><p class="sidebar-title">Important</p>
<p>This page contains the API reference information.</p></aside>
<div class="sidebar"><ul><li><a href="a.html">Alpha page</a></li><li><a href="b.html">Beta page</a></li></ul></div>
<p>This module defines functions for a flexible event logging system.</p>
</section>
<div class="sidebar"><p>Site-wide column outside any section.</p></div>
</body></html>"#;
        let text = all_text(&read_ok(page));
        for kept in [
            "TIP Installing the same selection",
            "dpkg --get-selections",
            "Important",
            "API reference information",
            "flexible event logging",
        ] {
            assert!(text.contains(kept), "{kept} lost: {text}");
        }
        for dropped in ["Alpha page", "Site-wide column"] {
            assert!(!text.contains(dropped), "{dropped} read: {text}");
        }
    }

    #[test]
    fn a_chapter_page_of_headings_over_a_table_of_contents_is_empty() {
        // gtk-doc's `ButtonWidgets.html`: the chapter's title, then links to its pages.
        let page = r#"<html><head><title>Buttons and Toggles: GTK 3 Reference Manual</title></head><body>
<table class="navigation"><tr><td><a href="index.html">Home</a></td></tr></table>
<div class="chapter"><div class="titlepage"><div><div><h2 class="title"><a name="ButtonWidgets"></a>Buttons and Toggles</h2></div></div></div>
<div class="toc"><dl class="toc"><dt><span class="refentrytitle"><a href="GtkButton.html">GtkButton</a></span><span class="refpurpose"> — A widget that emits a signal when clicked on</span></dt></dl></div>
</div></body></html>"#;
        let e = read(page, &Budget::unlimited()).unwrap_err();
        assert_eq!(e.reason, crate::read::SkipReason::Empty, "{e:?}");
        // A heading over one sentence of its own is a page.
        let page = page.replace(
            "<div class=\"toc\">",
            "<p>Buttons start actions.</p><div class=\"toc\">",
        );
        assert!(all_text(&read_ok(&page)).contains("Buttons start actions."));
    }

    #[test]
    fn a_title_said_twice_is_said_once() {
        assert_eq!(
            unrepeated("GLib Reference Manual: GLib Reference Manual".into()),
            "GLib Reference Manual"
        );
        assert_eq!(unrepeated("The Book - The Book".into()), "The Book");
        for kept in ["Intro | My Site", "std - Rust", "a: b: a", ": "] {
            assert_eq!(unrepeated(kept.into()), kept);
        }
    }

    #[test]
    fn a_javadoc_header_is_the_pages_title_not_a_link_bar() {
        // javadoc 17 (commons-lang3 `Validate.html`): the package link and a short title.
        let page = r#"<html><head><title>Validate (Apache Commons Lang 3.12.0 API)</title></head><body>
<main role="main"><div class="header">
<div class="sub-title"><span class="package-label-in-type">Package</span>&nbsp;<a href="package-summary.html">org.apache.commons.lang3</a></div>
<h1 title="Class Validate" class="title">Class Validate</h1>
</div>
<section class="description"><p>This class assists in validating arguments.</p></section>
</main></body></html>"#;
        let p = read_ok(page);
        assert_eq!(
            headings(&p).first().map(|h| h.1.as_str()),
            Some("Class Validate")
        );
    }

    #[test]
    fn node_api_pages_lose_their_site_header_and_permalink_signs() {
        // Node.js 18's API docs (Debian's nodejs-doc `api/path.html`), shortened.
        let page = "<html><head><title>Path | Node.js v18.20.4 Documentation</title></head><body>\n\
            <div id=\"content\" class=\"clearfix\">\n<div id=\"column2\" class=\"interior\">\n\
            <div id=\"intro\" class=\"interior\"><a href=\"index.html\">Node.js</a></div>\n\
            <ul><li><a href=\"assert.html\">Assertion testing</a></li><li><a href=\"buffer.html\">Buffer</a></li></ul></div>\n\
            <div id=\"column1\" data-id=\"path\" class=\"interior\">\n\
            <header class=\"header\"><div class=\"header-container\"><h1>Node.js v18.20.4 documentation</h1></div>\n\
            <ul><li><a href=\"https://nodejs.org/docs/latest-v17.x/api/path.html\">17.x</a></li>\n\
            <li><a href=\"https://nodejs.org/docs/latest-v16.x/api/path.html\">16.x LTS</a></li></ul></header>\n\
            <div id=\"apicontent\">\n\
            <h2>Path<span><a class=\"mark\" href=\"#path\" id=\"path\">#</a></span><a aria-hidden=\"true\" class=\"legacy\" id=\"path_path\"></a></h2>\n\
            <p>The <code>node:path</code> module provides utilities for working with file and directory paths.</p>\n\
            <section><h3><code>path.basename(path[, suffix])</code><span><a class=\"mark\" href=\"#pathbasenamepath-suffix\" id=\"pathbasenamepath-suffix\">#</a></span></h3>\n\
            <p>The <code>path.basename()</code> method returns the last portion of a path.</p></section>\n\
            </div></div></div></body></html>";
        let p = read_ok(page);
        assert_eq!(
            headings(&p),
            [
                (2, "Path".to_string(), Some("path".to_string())),
                (
                    3,
                    "path.basename(path[, suffix])".to_string(),
                    Some("pathbasenamepath-suffix".to_string())
                )
            ]
        );
        let text = all_text(&p);
        assert!(
            !text.contains("17.x") && !text.contains("documentation") && !text.contains("Node.js"),
            "{text}"
        );
    }

    #[test]
    fn rdoc_methods_are_sections_without_their_hidden_source() {
        // rdoc's darkfish theme (Debian's asciidoctor-doc `Asciidoctor/Block.html`).
        let page = "<html><body><main role=\"main\" aria-labelledby=\"class-Asciidoctor::Block\">\n\
            <h1 id=\"class-Asciidoctor::Block\" class=\"class\">class Asciidoctor::Block</h1>\n\
            <section id=\"public-class-5Buntitled-5D-method-details\" class=\"method-section\">\n\
            <header><h3>Public Class Methods</h3></header>\n\
            <div id=\"method-c-new\" class=\"method-detail \">\n\
            <div class=\"method-heading\"><span class=\"method-name\">new</span><span class=\"method-args\">(parent, context, opts = {})</span>\n\
            <span class=\"method-click-advice\">click to toggle source</span></div>\n\
            <div class=\"method-description\"><p>Public: Initialize an Asciidoctor::Block object.</p>\n\
            <div class=\"method-source-code\" id=\"new-source\"><pre># File lib/asciidoctor/block.rb, line 50\ndef initialize parent, context, opts = {}</pre></div>\n\
            </div></div></section></main></body></html>";
        let p = read_ok(page);
        assert_eq!(
            headings(&p)[2],
            (
                4,
                "new(parent, context, opts = {})".to_string(),
                Some("method-c-new".to_string())
            )
        );
        let text = all_text(&p);
        assert!(text.contains("Initialize an Asciidoctor::Block object."));
        assert!(
            !text.contains("def initialize") && !text.contains("toggle source"),
            "{text}"
        );
    }

    #[test]
    fn a_one_page_texinfo_manual_loses_its_navigation_and_contents() {
        // texi2any 6.8, one page (Debian's bash-doc `bashref.html`), shortened.
        let page = "<html><body>\n<h1 class=\"settitle\">Bash Reference Manual</h1>\n\
            <div class=\"Contents_element\" id=\"SEC_Contents\">\n<h2 class=\"contents-heading\">Table of Contents</h2>\n\
            <div class=\"contents\"><ul class=\"no-bullet\"><li><a id=\"toc-Quoting-1\" href=\"#Quoting\">3.1.2 Quoting</a></li></ul></div></div>\n\
            <div class=\"subsection\" id=\"Quoting\">\n\
            <div class=\"header\"><p>Next: <a href=\"#Comments\">Comments</a>, Previous: <a href=\"#Shell-Operation\">Shell Operation</a>, Up: <a href=\"#Shell-Syntax\">Shell Syntax</a> &nbsp; [<a href=\"#SEC_Contents\">Contents</a>][<a href=\"#Indexes\">Index</a>]</p></div>\n\
            <h4 class=\"subsection\">3.1.2 Quoting</h4>\n<p>Quoting is used to remove the special meaning of certain characters or words to the shell.</p>\n\
            <div class=\"subsubsection\" id=\"Escape-Character\">\n\
            <div class=\"header\"><p>Next: <a href=\"#Single-Quotes\">Single Quotes</a>, Up: <a href=\"#Quoting\">Quoting</a> &nbsp; [<a href=\"#SEC_Contents\">Contents</a>]</p></div>\n\
            <h4 class=\"subsubsection\">3.1.2.1 Escape Character</h4>\n<p>A non-quoted backslash is the Bash escape character.</p></div></div>\n\
            <span id=\"Creating-Internationalized-Scripts\"></span><div class=\"header\"><p>Previous: <a href=\"#Locale-Translation\">Locale-Specific Translation</a>, Up: <a href=\"#Locale-Translation\">Locale Translation</a></p></div>\n\
            <h4 class=\"node-heading\">Creating Internationalized Scripts</h4>\n<p>Once you've marked the strings in your script that you want to translate using $\"...\", you create a gettext template file.</p>\n\
            </body></html>";
        let p = read_ok(page);
        assert_eq!(
            headings(&p),
            [
                (1, "Bash Reference Manual".to_string(), None),
                (4, "3.1.2 Quoting".to_string(), Some("Quoting".to_string())),
                (
                    5,
                    "3.1.2.1 Escape Character".to_string(),
                    Some("Escape-Character".to_string())
                ),
                (
                    4,
                    "Creating Internationalized Scripts".to_string(),
                    Some("Creating-Internationalized-Scripts".to_string())
                ),
            ]
        );
        let text = all_text(&p);
        assert!(
            !text.contains("Next:")
                && !text.contains("Previous:")
                && !text.contains("Table of Contents"),
            "{text}"
        );
    }

    #[test]
    fn gi_docgen_pages_keep_their_title_heading() {
        // gi-docgen (Debian's libjson-glib-doc `method.Array.hash.html`), shortened.
        let page = "<html><body><nav class=\"sidebar\"><h3><a href=\"index.html\">Json</a></h3></nav>\n\
            <section id=\"main\" class=\"content\">\n<header><h3>Method</h3>\n\
            <h1><a href=\"index.html\">Json</a><span class=\"sep\"></span><a href=\"struct.Array.html\">Array</a><span class=\"sep\"></span>hash</h1></header>\n\
            <section><div class=\"docblock\">\n<h4 id=\"description\" style=\"display:inline\">Description</h4>\n\
            <a class=\"srclink\" title=\"go to source location\" href=\"https://gitlab.gnome.org/x.c#L749\">[src]</a>\n\
            <p>Calculates a hash value for the given key. The hash is calculated over the array and all its elements, recursively.</p></div></section>\n\
            </section></body></html>";
        let p = read_ok(page);
        let h = headings(&p);
        assert_eq!(h[1], (1, "Json Array hash".to_string(), None));
        assert!(!all_text(&p).contains("[src]"), "{}", all_text(&p));
    }

    #[test]
    fn gtk_doc_summary_tables_are_left_to_the_entries_they_list() {
        // GLib's `glib-Timers.html`, shortened: the summary of functions and types, then the
        // entries themselves.
        let page = r##"<html><head><title>Timers: GLib Reference Manual</title></head><body>
<div class="refentry"><div class="refnamediv"><table width="100%"><tr><td valign="top">
<h2><span class="refentrytitle"><a name="glib-Timers.top_of_page"></a>Timers</span></h2>
<p>Timers — keep track of elapsed time</p></td></tr></table></div>
<div class="refsect1"><a name="glib-Timers.functions"></a><h2>Functions</h2>
<div class="informaltable"><table class="informaltable" width="100%" border="0">
<colgroup><col width="150px" class="functions_proto_type"><col class="functions_proto_name"></colgroup>
<tbody>
<tr><td class="function_type"><a class="link" href="glib-Timers.html#GTimer" title="GTimer"><span class="returnvalue">GTimer</span></a> *</td>
<td class="function_name"><a class="link" href="glib-Timers.html#g-timer-new" title="g_timer_new ()">g_timer_new</a> <span class="c_punctuation">()</span></td></tr>
<tr><td class="function_type"><span class="returnvalue">gdouble</span></td>
<td class="function_name"><a class="link" href="glib-Timers.html#g-timer-elapsed" title="g_timer_elapsed ()">g_timer_elapsed</a> <span class="c_punctuation">()</span></td></tr>
</tbody></table></div></div>
<div class="refsect1"><a name="glib-Timers.other"></a><h2>Types and Values</h2>
<div class="informaltable"><table class="informaltable" width="100%" border="0"><tbody><tr>
<td class="datatype_keyword"> </td>
<td class="function_name"><a class="link" href="glib-Timers.html#GTimer" title="GTimer">GTimer</a></td>
</tr></tbody></table></div></div>
<div class="refsect1"><a name="glib-Timers.description"></a><h2>Description</h2>
<p>GTimer records a start time, and counts microseconds elapsed since that time.</p></div>
<div class="refsect1"><a name="glib-Timers.functions_details"></a><h2>Functions</h2>
<div class="refsect2"><a name="g-timer-new"></a><h3>g_timer_new ()</h3>
<pre class="programlisting"><a class="link" href="glib-Timers.html#GTimer" title="GTimer"><span class="returnvalue">GTimer</span></a> *
g_timer_new (<em class="parameter"><code><span class="type">void</span></code></em>);</pre>
<p>Creates a new timer, and starts timing.</p></div>
<div class="refsect2"><a name="g-timer-elapsed"></a><h3>g_timer_elapsed ()</h3>
<pre class="programlisting"><span class="returnvalue">gdouble</span>
g_timer_elapsed (<em class="parameter"><code><a class="link" href="glib-Timers.html#GTimer" title="GTimer"><span class="type">GTimer</span></a> *timer</code></em>);</pre>
<p>If timer has been started but not stopped, obtains the time since the timer was started.</p>
<div class="refsect3"><h4>Parameters</h4><div class="informaltable"><table class="informaltable" width="100%" border="0"><tbody>
<tr><td class="parameter_name"><p>timer</p></td><td class="parameter_description"><p>a GTimer.</p></td><td class="parameter_annotations"> </td></tr>
</tbody></table></div></div></div></div>
</div></body></html>"##;
        let p = read_ok(page);
        let text = all_text(&p);
        // Each name once, in its entry; the description and parameters are kept.
        assert_eq!(text.matches("g_timer_elapsed").count(), 2, "{text}");
        assert!(!text.contains("| g_timer_new"), "{text}");
        assert!(text.contains("counts microseconds elapsed"), "{text}");
        assert!(text.contains("timer | a GTimer."), "{text}");
        let h = headings(&p);
        assert!(h.iter().any(|(_, t, _)| t == "g_timer_elapsed ()"), "{h:?}");
    }

    #[test]
    fn pages_marked_noindex_are_skipped_as_their_authors_ask() {
        // mdBook's Rust book as Debian ships it: a first-edition link's stub.
        let stub = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\n\
            <meta name=\"generator\" content=\"rustdoc\"><title>Associated Types</title>\n\
            <meta name=\"robots\" content=\"noindex,follow\">\n</head><body class=\"rustdoc\">\n\
            <h1 class=\"title\">Associated Types</h1>\n<p><small>There is a new edition of the book and this is an old link.</small></p>\n\
            <blockquote><p>Associated types are a way of associating a type placeholder with a trait.</p></blockquote>\n\
            <p>You can find the latest version of this information <a href=\"ch19-03-advanced-traits.html\">here</a>.</p></body></html>";
        let e = read(stub, &Budget::unlimited()).expect_err("noindex");
        assert_eq!(e.reason, crate::read::SkipReason::Generated);
        assert!(e.detail.contains("noindex"), "{}", e.detail);
        let body = "<body><h1>Page</h1><p>Some text about the page.</p></body></html>";
        for head in [
            "<meta content=\"NOINDEX\" name=\"ROBOTS\">",
            "<meta name=robots content=none>",
            "<meta name='robots' content=' nofollow , noindex '/>",
        ] {
            let page = format!("<html><head>{head}</head>{body}");
            let e = read(&page, &Budget::unlimited()).expect_err(head);
            assert_eq!(e.reason, crate::read::SkipReason::Generated, "{head}");
        }
        // Other directives, other robots, and the words outside a meta tag are pages.
        for head in [
            "<meta name=\"robots\" content=\"index,nofollow\">",
            "<meta name=\"googlebot-news\" content=\"nosnippet\">",
            "<meta name=\"description\" content=\"noindex\">",
            "<title>noindex robots</title>",
        ] {
            let page = format!("<html><head>{head}</head>{body}");
            let p = read_ok(&page);
            assert!(all_text(&p).contains("Some text"), "{head}");
        }
        // A directive in the body is not the page's.
        let page = format!(
            "<html><head></head>{}",
            body.replace(
                "<h1>",
                "<p>meta name=\"robots\" content=\"noindex\"</p><h1>"
            )
        );
        read_ok(&page);
    }

    #[test]
    fn texinfo_redirects_index_tables_and_line_number_columns_are_not_content() {
        // texi2any 6.8 (Debian's zsh-doc): one redirect page per node and anchor.
        let stub = "<html><head><title>Aliasing (zsh)</title>\n<style type=\"text/css\">\na.x {}\n</style>\n\
            <META HTTP-EQUIV=\"Refresh\" content=\"0; url=Shell-Grammar.html#Aliasing\">\n</head>\n\
            <body><p>The node you are looking for is at <a href=\"Shell-Grammar.html#Aliasing\">Aliasing</a>.</p></body></html>\n";
        let e = read(stub, &Budget::unlimited()).expect_err("a redirect is not a page");
        assert_eq!(e.reason, crate::read::SkipReason::Generated);
        assert_eq!(
            e.detail,
            "a page that only redirects to Shell-Grammar.html#Aliasing"
        );
        // A page with content of its own is read, redirect or not.
        let long = stub.replace(
            "The node",
            &"Aliases are expanded when a command is read. ".repeat(8),
        );
        assert!(read(&long, &Budget::unlimited()).is_ok());
        assert_eq!(
            redirect_target("<meta http-equiv=refresh content='5;URL=a.html'>").as_deref(),
            Some("a.html")
        );
        assert_eq!(
            redirect_target("<meta name=\"refresh\" content=\"url=a.html\">"),
            None
        );

        // Its index pages: the heading stays, the table of index entries does not.
        let index = "<html><body><div class=\"unnumbered\" id=\"Concept-Index\">\n<h2 class=\"unnumbered\">Concept Index</h2>\n\
            <table><tr><th>Jump to:</th><td><a class=\"summary-letter\" href=\"#A\"><b>A</b></a></td></tr></table>\n\
            <table class=\"index-cp\" border=\"0\"><tr><td><a href=\"Aliasing.html\">alias expansion</a></td><td>Shell Grammar</td></tr></table>\n\
            </div></body></html>\n";
        let parsed = read(index, &Budget::unlimited()).expect("read");
        let text: Vec<&str> = parsed.blocks.iter().map(Block::text).collect();
        assert!(
            !text.iter().any(|t| t.contains("alias expansion")),
            "{text:?}"
        );
        assert!(text.contains(&"Concept Index"), "{text:?}");

        // Docutils' local table of contents, DocBook's list of tables, a site's slogan.
        let chrome = "<html><body><div class=\"tagline desktoponly\">Small. Fast. Reliable.</div>\n\
            <div class=\"section\" id=\"guide\"><h1>Guide</h1>\n\
            <div class=\"contents topic\" id=\"contents\"><p class=\"topic-title\">Contents</p><ul><li><a href=\"#a\">Installing it</a></li></ul></div>\n\
            <div class=\"list-of-tables\"><p><b>List of Tables</b></p><dl><dt>3.1. <a href=\"#t\">Boot stages</a></dt></dl></div>\n\
            <p>Install the package with the package manager of your system.</p></div></body></html>";
        let parsed = read(chrome, &Budget::unlimited()).expect("read");
        let text: Vec<&str> = parsed.blocks.iter().map(Block::text).collect();
        assert_eq!(
            text,
            [
                "Guide",
                "Install the package with the package manager of your system."
            ]
        );

        // Doxygen: a function's signature table reads as one line.
        let sig = "<html><body><h2>SDL_CreateWindow()</h2><table class=\"memname\">\n\
            <tr><td class=\"memname\">SDL_Window* SDL_CreateWindow</td><td>(</td><td class=\"paramtype\">const char *&#160;</td><td class=\"paramname\"><em>title</em>, </td></tr>\n\
            <tr><td class=\"paramkey\"></td><td></td><td class=\"paramtype\">int&#160;</td><td class=\"paramname\"><em>x</em>&#160;</td></tr>\n\
            <tr><td></td><td>)</td><td></td><td></td></tr></table>\n<p>Create a window with the specified position.</p></body></html>";
        let parsed = read(sig, &Budget::unlimited()).expect("read");
        let text: Vec<&str> = parsed.blocks.iter().map(Block::text).collect();
        assert_eq!(
            text[1], "SDL_Window* SDL_CreateWindow ( const char * title, int x )",
            "{text:?}"
        );

        // gtk-doc: the code, not the column of line numbers beside it.
        let listing = "<html><body><h2>Example</h2><table class=\"listing_frame\"><tr>\
            <td class=\"listing_lines\" align=\"right\"><pre>1\n2</pre></td>\
            <td class=\"listing_code\"><pre class=\"programlisting\">GList *list = NULL;\nlist = g_list_append (list, \"first\");</pre></td>\
            </tr></table></body></html>";
        let parsed = read(listing, &Budget::unlimited()).expect("read");
        let text: Vec<&str> = parsed.blocks.iter().map(Block::text).collect();
        assert!(text.iter().any(|t| t.contains("g_list_append")), "{text:?}");
        assert!(
            !text.iter().any(|t| t.trim_start().starts_with("1\n2")),
            "{text:?}"
        );
    }

    #[test]
    fn sphinx_api_entries_stand_on_the_trail_and_end_with_their_list() {
        // Sphinx 5.3 (Debian's sphinx-doc), cut down: a class with an attribute, a
        // setting, then the section's own prose after the entries.
        let page = "<html><body><div role=\"main\"><section id=\"builders\">\n\
            <h1>Builders<a class=\"headerlink\" href=\"#builders\">¶</a></h1>\n\
            <dl class=\"py class\">\n\
            <dt class=\"sig sig-object py\" id=\"sphinx.builders.linkcheck.CheckExternalLinksBuilder\">\n\
            <em class=\"property\"><span class=\"pre\">class</span> </em><span class=\"sig-prename descclassname\"><span class=\"pre\">sphinx.builders.linkcheck.</span></span><span class=\"sig-name descname\"><span class=\"pre\">CheckExternalLinksBuilder</span></span><a class=\"reference internal\" href=\"../_modules/sphinx/builders/linkcheck.html\"><span class=\"viewcode-link\"><span class=\"pre\">[source]</span></span></a><a class=\"headerlink\" href=\"#sphinx.builders.linkcheck.CheckExternalLinksBuilder\">¶</a></dt>\n\
            <dd><p>This builder scans all documents for external links.</p>\n\
            <dl class=\"py attribute\">\n\
            <dt class=\"sig sig-object py\" id=\"sphinx.builders.linkcheck.CheckExternalLinksBuilder.name\">\n\
            <span class=\"sig-name descname\"><span class=\"pre\">name</span></span><em class=\"property\"> = 'linkcheck'</em></dt>\n\
            <dd><p>The builder's name, for the -b command line option.</p></dd></dl>\n\
            </dd></dl>\n\
            <dl class=\"std confval\">\n\
            <dt class=\"sig sig-object std\" id=\"confval-version\">\n\
            <span class=\"sig-name descname\"><span class=\"pre\">version</span></span></dt>\n\
            <dd><p>The major project version, used as the replacement for |version|.</p></dd></dl>\n\
            <dl class=\"py class\">\n\
            <dt class=\"sig sig-object py\" id=\"int\"><em>class</em> <span>int</span>(<em>x=0</em>)</dt>\n\
            <dt class=\"sig sig-object py\"><em>class</em> <span>int</span>(<em>x</em>, <em>base=10</em>)</dt>\n\
            <dd><p>Return an integer object constructed from a number or string x.</p></dd></dl>\n\
            <p>You can also give one or more filenames on the command line.</p>\n\
            <dl class=\"simple\"><dt>term</dt><dd><p>A definition list is no entry.</p></dd></dl>\n\
            </section></div></body></html>\n";
        let parsed = read(page, &Budget::unlimited()).expect("read");
        let entries = entries(&parsed);
        let own = |s: &str| Some(s.to_string());
        assert_eq!(
            entries,
            [
                (
                    2,
                    "class sphinx.builders.linkcheck.CheckExternalLinksBuilder".to_string(),
                    own("sphinx.builders.linkcheck.CheckExternalLinksBuilder")
                ),
                (
                    3,
                    "name = 'linkcheck'".to_string(),
                    own("sphinx.builders.linkcheck.CheckExternalLinksBuilder.name")
                ),
                (2, "version".to_string(), own("confval-version")),
                // Overloads: one entry, cited by the first signature's id.
                (2, "class int(x=0)".to_string(), own("int")),
            ]
        );
        let (text, layout) = crate::read::render(&parsed);
        // An entry is a line of the text, not a heading the splitter cuts at.
        assert!(!text.contains("# class"), "{text}");
        assert!(!text.contains("[source]"), "{text}");
        let trail = |needle: &str| {
            let (trail, anchor) = layout.trail_at(text.find(needle).expect(needle));
            (trail.join(" > "), anchor.map(str::to_string))
        };
        assert_eq!(
            trail("The builder's name"),
            (
                "Builders > class sphinx.builders.linkcheck.CheckExternalLinksBuilder > name = 'linkcheck'".to_string(),
                own("sphinx.builders.linkcheck.CheckExternalLinksBuilder.name")
            )
        );
        assert_eq!(
            trail("The major project version"),
            ("Builders > version".to_string(), own("confval-version"))
        );
        assert_eq!(
            trail("Return an integer"),
            ("Builders > class int(x=0)".to_string(), own("int"))
        );
        assert!(text.contains("class int(x, base=10)"), "{text}");
        // After the last entry, the section's own text is the section's again.
        assert_eq!(
            trail("You can also give"),
            ("Builders".to_string(), own("builders"))
        );
        assert_eq!(
            trail("A definition list"),
            ("Builders".to_string(), own("builders"))
        );
    }

    #[test]
    fn docbook_xsl_pages_lose_their_bars_and_put_variablelist_terms_on_the_trail() {
        // Debian's libpam-doc (DocBook XSL, chunked), cut down: the navigation bars above
        // and below the page, then a variablelist of options with one nested list.
        let page = "<html><head><title>6.34. pam_unix</title></head><body>\n\
            <div class=\"navheader\"><table summary=\"Navigation header\"><tr><th colspan=\"3\">6.34. pam_unix</th></tr>\n\
            <tr><td><a accesskey=\"p\" href=\"sag-pam_umask.html\">Prev</a></td><th>Chapter 6. A reference guide for available modules</th>\n\
            <td><a accesskey=\"n\" href=\"sag-pam_userdb.html\">Next</a></td></tr></table><hr></div>\n\
            <div class=\"section\"><div class=\"titlepage\"><h2 class=\"title\"><a name=\"sag-pam_unix\"></a>6.34. pam_unix</h2></div>\n\
            <div class=\"section\"><h3 class=\"title\"><a name=\"sag-pam_unix-options\"></a>6.34.2. OPTIONS</h3>\n\
            <div class=\"variablelist\"><dl class=\"variablelist\">\n\
            <dt><span class=\"term\"><code class=\"option\">nullok</code></span></dt>\n\
            <dd><p>Lets a user whose password is blank in.</p></dd>\n\
            <dt id=\"opt-obscure\"><span class=\"term\"><code class=\"option\">obscure</code></span></dt>\n\
            <dd><p>Checks the new password:</p><div class=\"variablelist\"><dl class=\"variablelist\">\n\
            <dt><span class=\"term\">Palindrome</span></dt><dd><p>Is it one?</p></dd></dl></div></dd>\n\
            </dl></div><p>The options above apply to every service.</p></div></div>\n\
            <div class=\"navfooter\"><hr><table summary=\"Navigation footer\"><tr><td><a href=\"sag-pam_umask.html\">Prev</a></td>\n\
            <td><a accesskey=\"u\" href=\"sag-module-reference.html\">Up</a></td><td><a href=\"sag-pam_userdb.html\">Next</a></td></tr>\n\
            <tr><td>6.33. pam_umask</td><td><a href=\"index.html\">Home</a></td><td>6.35. pam_userdb</td></tr></table></div></body></html>\n";
        let parsed = read(page, &Budget::unlimited()).expect("read");
        let text: Vec<&str> = parsed.blocks.iter().map(Block::text).collect();
        for bar in ["Prev", "Next", "pam_umask", "pam_userdb", "Chapter 6"] {
            assert!(!text.iter().any(|t| t.contains(bar)), "{bar}: {text:?}");
        }
        assert_eq!(
            entries(&parsed),
            [
                (4, "nullok".to_string(), None),
                (4, "obscure".to_string(), Some("opt-obscure".to_string())),
                (5, "Palindrome".to_string(), None),
            ]
        );
        let trail = crate::read::testing::trail_of(&parsed);
        assert_eq!(
            trail("Is it one?"),
            "6.34. pam_unix > 6.34.2. OPTIONS > obscure > Palindrome"
        );
        // After the list, the section's own text is on the section's trail again.
        assert_eq!(
            trail("The options above"),
            "6.34. pam_unix > 6.34.2. OPTIONS"
        );

        // A book's title page: its authors are names under the title, not sections.
        let title_page = "<html><body><div class=\"book\"><div class=\"titlepage\">\n\
            <h1 class=\"title\"><a name=\"sag\"></a>The Linux-PAM System Administrators' Guide</h1>\n\
            <div class=\"author\"><h3 class=\"author\">Andrew G. Morgan</h3></div>\n\
            <div class=\"author\"><h3 class=\"author\">Thorsten Kukuk</h3></div>\n\
            <div class=\"abstract\"><p>This manual documents what a system-administrator needs to know.</p></div>\n\
            </div></div></body></html>\n";
        let parsed = read(title_page, &Budget::unlimited()).expect("read");
        assert_eq!(
            crate::read::testing::trail_of(&parsed)("This manual"),
            "The Linux-PAM System Administrators' Guide"
        );
        assert!(crate::read::render(&parsed).0.contains("Thorsten Kukuk"));
    }

    #[test]
    fn texi2any_table_items_stand_on_the_trail() {
        // texi2any 6.8 (Debian's zsh-doc), cut down: a `@table` of options, each item's
        // index entries in a `<dd>` before it, an `@itemx` after an index-only `<dd>`.
        let page = "<html><head><meta name=\"Generator\" content=\"texi2any\"></head><body>\n\
            <h3 class=\"subsection\">16.2.1 Changing Directories</h3>\n\
            <dl compact=\"compact\">\n\
            <dd><span id=\"index-AUTO_005fCD\"></span>\n</dd>\n\
            <dt><span><tt>AUTO_CD</tt> (<tt>-J</tt>)</span></dt>\n\
            <dd><p>If a command is the name of a directory, perform the cd command to it.</p>\n\
            <span id=\"index-RPROMPT\"></span>\n</dd>\n\
            <dt><span><tt>RPROMPT</tt> &lt;S&gt;</span></dt>\n\
            <dd><span id=\"index-RPS1\"></span>\n</dd>\n\
            <dt><span><tt>RPS1</tt> &lt;S&gt;</span></dt>\n\
            <dd><p>This prompt is displayed on the right-hand side of the screen.</p></dd>\n\
            </dl>\n<p>Options are set with setopt.</p></body></html>\n";
        let parsed = read(page, &Budget::unlimited()).expect("read");
        assert_eq!(
            entries(&parsed),
            [
                (4, "AUTO_CD (-J)".to_string(), None),
                (4, "RPROMPT <S>".to_string(), None),
            ]
        );
        let trail = crate::read::testing::trail_of(&parsed);
        assert_eq!(
            trail("perform the cd"),
            "16.2.1 Changing Directories > AUTO_CD (-J)"
        );
        // The `@itemx` is a line of its entry's text, not an entry of its own.
        assert_eq!(
            trail("right-hand side"),
            "16.2.1 Changing Directories > RPROMPT <S>"
        );
        assert!(crate::read::render(&parsed).0.contains("RPS1 <S>"));
        assert_eq!(trail("Options are set"), "16.2.1 Changing Directories");

        // Without the generator's name, a bare `<dl>` is a definition list, not entries.
        let plain = page.replace("content=\"texi2any\"", "content=\"pandoc\"");
        let parsed = read(&plain, &Budget::unlimited()).expect("read");
        assert!(entries(&parsed).is_empty());
    }

    #[test]
    fn older_sphinx_entries_and_long_signatures() {
        // Sphinx 1.x–3.x: no `sig-object` class; the `dl` names the object's type and the
        // `<dt>` carries its id. A glossary's terms are entries; a `<dt>` with an id in any
        // other list is not one.
        let page = "<html><body><div class=\"body\"><h2>Utilities</h2>\n\
            <dl class=\"function\"><dt id=\"spam.eggs\"><code>spam.</code><code>eggs</code>(<em>count</em>)</dt>\n\
            <dd><p>Cooks eggs.</p></dd></dl>\n\
            <dl class=\"glossary docutils\"><dt id=\"term-egg\">egg</dt><dd><p>Food.</p></dd></dl>\n\
            <dl class=\"simple\"><dt id=\"ham\">ham</dt><dd><p>Also food.</p></dd></dl>\n\
            </div></body></html>\n";
        let parsed = read(page, &Budget::unlimited()).expect("read");
        assert_eq!(
            entries(&parsed),
            [
                (
                    3,
                    "spam.eggs(count)".to_string(),
                    Some("spam.eggs".to_string())
                ),
                (3, "egg".to_string(), Some("term-egg".to_string()))
            ]
        );
        assert_eq!(
            short_signature(
                "Sphinx.add_directive(name: str, cls: Type[Node], override: bool = False) → None, with more"
            ),
            "Sphinx.add_directive(…)"
        );
        assert_eq!(
            short_signature(
                "supported_image_types: List[str] = ['image/svg+xml', 'image/png', 'image/gif', 'image/jpeg']"
            ),
            "supported_image_types: List[str] = …"
        );
        assert_eq!(short_signature("  version "), "version");
    }

    #[test]
    fn a_heading_after_a_link_bar_takes_its_sections_id() {
        // texi2any 6.8 (Debian's zsh-doc): the id is on the section's div, the bar of
        // navigation links comes before the heading.
        let page = "<html><body><div class=\"section\" id=\"Parameter-Expansion\">\n\
            <h2 class=\"section\">14.3 Parameter Expansion</h2>\n<p>The character $ introduces parameter expansion.</p>\n\
            <div class=\"subsection\" id=\"Parameter-Expansion-Flags\">\n\
            <table class=\"header\"><tr><td>[<a href=\"#Expansion\"> &lt;&lt; </a>]</td><td>[<a href=\"#Rules\"> &gt; </a>]</td><td> &nbsp; </td></tr></table>\n\
            <h3 class=\"subsection\">14.3.1 Parameter Expansion Flags</h3>\n<p>If the opening brace is directly followed by an opening parenthesis, flags follow.</p>\n\
            </div></div></body></html>\n";
        let parsed = read(page, &Budget::unlimited()).expect("read");
        let anchors: Vec<Option<String>> = parsed
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading { anchor, .. } => Some(anchor.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(
            anchors,
            [
                Some("Parameter-Expansion".to_string()),
                Some("Parameter-Expansion-Flags".to_string())
            ]
        );
    }

    #[test]
    fn an_xhtml_empty_anchor_does_not_swallow_the_heading_after_it() {
        // DocBook XSL's XHTML output (Debian's debian-reference): before, the table's `<a/>`
        // stayed open and the heading cited the table's id.
        let page = "<?xml version=\"1.0\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\"><head><title>Ref</title></head><body>\n\
            <div class=\"section\"><h2 class=\"title\"><a id=\"_stage_2\"/>3.1.2. Stage 2: the boot loader</h2>\n\
            <p>The boot loader loads the kernel image and the initial RAM disk into memory.</p>\n\
            <div class=\"table\"><a id=\"grubcfg\"/><p class=\"title\"><b>Table 3.3. The meaning of grub.cfg</b></p>\n\
            <table><tr><td>root=/dev/sda1</td><td>the root partition</td></tr></table></div>\n\
            <h2 class=\"title\"><a id=\"_stage_3\"/>3.1.3. Stage 3: the mini-Debian system</h2>\n\
            <p>The mini-Debian system is the second stage of the boot process.<br/>It runs from RAM.</p>\n\
            </div></body></html>\n";
        let parsed = read(page, &Budget::unlimited()).expect("read");
        let headings: Vec<(String, Option<String>, u32)> = parsed
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading {
                    text, anchor, loc, ..
                } => Some((text.clone(), anchor.clone(), loc.start)),
                _ => None,
            })
            .collect();
        assert_eq!(
            headings,
            [
                (
                    "3.1.2. Stage 2: the boot loader".to_string(),
                    Some("_stage_2".to_string()),
                    3
                ),
                (
                    "3.1.3. Stage 3: the mini-Debian system".to_string(),
                    Some("_stage_3".to_string()),
                    7
                ),
            ]
        );
        // Outside XHTML the slash means nothing, as in a browser; quotes are respected.
        assert!(matches!(
            close_empty_xml_tags("<p><a id=x/>t</p>"),
            Cow::Borrowed(_)
        ));
        let x =
            "<html xmlns=\"http://www.w3.org/1999/xhtml\"><a title=\"a/>b\" id='c'/><br/><span/>";
        assert_eq!(
            close_empty_xml_tags(x),
            "<html xmlns=\"http://www.w3.org/1999/xhtml\"><a title=\"a/>b\" id='c'></a><br/><span></span>"
        );
        // A quote that never closes stops the rewriting, in linear time.
        let broken = format!(
            "<html xmlns=\"http://www.w3.org/1999/xhtml\"><a \"{}",
            "<a/>".repeat(100_000)
        );
        assert_eq!(close_empty_xml_tags(&broken).len(), broken.len());
    }
    use crate::read::testing::{entries, headings};

    fn read_ok(html: &str) -> Parsed {
        read(html, &Budget::unlimited()).expect("reads")
    }

    fn all_text(p: &Parsed) -> String {
        p.blocks
            .iter()
            .map(Block::text)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The 1-based line of the first occurrence of `needle` in `src`.
    fn line_of(src: &str, needle: &str) -> u32 {
        let at = src.find(needle).expect("needle in source");
        src[..at].matches('\n').count() as u32 + 1
    }

    const SPHINX: &str = r##"<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Installing the widget &#8212; Widget 2.1 documentation</title>
    <link rel="stylesheet" href="_static/pygments.css" type="text/css" />
    <script src="_static/doctools.js"></script>
  </head><body>
    <div class="related" role="navigation" aria-label="related navigation">
      <h3>Navigation</h3>
      <ul>
        <li class="right"><a href="genindex.html" title="General Index">index</a></li>
        <li class="nav-item nav-item-0"><a href="index.html">Widget 2.1 documentation</a> &#187;</li>
      </ul>
    </div>
    <div class="document">
      <div class="documentwrapper">
        <div class="bodywrapper">
          <div class="body" role="main">
  <section id="installing-the-widget">
<span id="install"></span><h1>Installing the widget<a class="headerlink" href="#installing-the-widget" title="Link to this heading">¶</a></h1>
<p>The widget needs <code class="docutils literal notranslate"><span class="pre">libfoo</span></code>
&gt;= 1.2 and a <em>working</em> compiler.</p>
<div class="toctree-wrapper compound"><p class="caption" role="heading"><span class="caption-text">Guides</span></p>
<ul><li class="toctree-l1"><a class="reference internal" href="upgrade.html">Upgrading an old widget</a></li></ul></div>
<section id="from-source">
<h2>From source<a class="headerlink" href="#from-source" title="Link to this heading">¶</a></h2>
<div class="highlight-shell notranslate"><div class="highlight"><pre><span></span>./configure --prefix<span class="o">=</span>/usr
make &amp;&amp; make install
</pre></div>
</div>
<table class="docutils align-default">
<thead>
<tr class="row-odd"><th class="head"><p>Option</p></th>
<th class="head"><p>Meaning</p></th>
</tr>
</thead>
<tbody>
<tr class="row-even"><td><p>--fast</p></td>
<td><p>Skip the checks</p></td>
</tr>
</tbody>
</table>
<ul class="simple">
<li><p>first step</p></li>
<li><p>second step</p>
<ul><li>nested detail</li></ul></li>
</ul>
</section>
</section>
          </div>
        </div>
      </div>
      <div class="sphinxsidebar" role="navigation" aria-label="main navigation">
        <div class="sphinxsidebarwrapper">
  <h3><a href="index.html">Table of Contents</a></h3>
  <ul>
<li><a class="reference internal" href="#">Installing the widget</a><ul>
<li><a class="reference internal" href="#from-source">Sidebar entry from source</a></li>
</ul></li>
</ul>
<div id="searchbox" style="display: none" role="search">
  <h3 id="searchlabel">Quick search</h3>
    <form class="search" action="search.html" method="get">
      <input type="text" name="q" />
    </form>
</div>
        </div>
      </div>
      <div class="clearer"></div>
    </div>
    <div class="footer">
      &#169;2024, Widget Team. Created using Sphinx 7.2.
    </div>
  </body>
</html>
"##;

    /// A page as Docutils' own HTML writer (`rst2html`, Debian's docutils-doc) writes it:
    /// each section heading's text is a link back to the table of contents.
    const DOCUTILS: &str = r##"<?xml version="1.0" encoding="utf-8" ?>
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">
<head>
<meta name="generator" content="Docutils 0.19: https://docutils.sourceforge.io/" />
<title>Widget FAQ</title>
</head>
<body>
<div class="document" id="widget-faq">
<h1 class="title">Widget FAQ</h1>
<div class="contents topic" id="contents">
<p class="topic-title">Contents</p>
<ul class="auto-toc simple">
<li><a class="reference internal" href="#general" id="toc-entry-1">1&nbsp;&nbsp;&nbsp;General</a></li>
</ul>
</div>
<div class="section" id="general">
<h1><a class="toc-backref" href="#toc-entry-1">1&nbsp;&nbsp;&nbsp;General</a></h1>
<div class="section" id="why-is-it-slow">
<h2><a class="toc-backref" href="#toc-entry-2" role="doc-backlink">1.1&nbsp;&nbsp;&nbsp;Why is it slow?</a></h2>
<p>It reads every file twice.</p>
</div>
</div>
</div>
</body>
</html>
"##;

    #[test]
    fn docutils_headings_are_headings_though_they_link_to_the_contents() {
        let p = read_ok(DOCUTILS);
        let heading =
            |level, text: &str, anchor: &str| (level, text.to_string(), Some(anchor.to_string()));
        assert_eq!(
            headings(&p),
            [
                heading(1, "Widget FAQ", "widget-faq"),
                heading(1, "1 General", "general"),
                heading(2, "1.1 Why is it slow?", "why-is-it-slow"),
            ]
        );
        let text = all_text(&p);
        assert!(text.contains("It reads every file twice."), "{text}");
        // The table of contents itself is still chrome.
        assert!(!text.contains("toc-entry"), "{text}");
        assert_eq!(text.matches("General").count(), 1, "{text}");
    }

    #[test]
    fn an_anchor_that_an_unclosed_paragraph_swallowed_still_names_the_next_heading() {
        // As man2html writes a man page (Debian's bash-doc `bash.html`): the `<P>` is never
        // closed, so the parser puts the anchor inside it, not beside the heading.
        let src = "<HTML><BODY>\n<H1>BASH</H1>\n<P>\n<B>Bash</B> is a shell.\n\
                   <A NAME=\"lbAF\">&nbsp;</A>\n<H2>OPTIONS</H2>\nAll options.\n\
                   <P>\nLast words, <A HREF=\"#x\">a link</A>.\n<H2>ARGUMENTS</H2>\n\
                   None.\n</BODY></HTML>\n";
        assert_eq!(
            headings(&read_ok(src)),
            [
                (1, "BASH".to_string(), None),
                (2, "OPTIONS".to_string(), Some("lbAF".to_string())),
                // A link with text that ends a paragraph is not the heading's anchor.
                (2, "ARGUMENTS".to_string(), None),
            ]
        );
    }

    #[test]
    fn a_table_of_bracketed_links_is_navigation() {
        // As texi2html writes it at the top and bottom of each page of a GNU manual, and
        // its bar of index letters (Debian's gettext-doc).
        let src = r#"<html><body>
<table cellpadding="1" cellspacing="1" border="0">
<tr><td>[<a href="m_10.html#SEC172" title="Previous chapter"> &lt;&lt; </a>]</td>
<td> &nbsp; </td>
<td>[<a href="m_toc.html#SEC_Contents" title="Table of contents">Contents</a>]</td>
<td>[<a href="m_abt.html#SEC_About" title="About (help)"> ? </a>]</td>
</tr></table>
<h1>11. The Programmer's View</h1>
<table><tr><th valign="top">Jump to: &nbsp; </th><td><a href="g_27.html#SEC392_0" class="summary-letter"><b>_</b></a>
 &nbsp; 
<br>
<a href="g_27.html#SEC392_1" class="summary-letter"><b>A</b></a>
 &nbsp; 
<a href="g_27.html#SEC392_2" class="summary-letter"><b>B</b></a>
</td></tr></table>
<p>One aim of the catalog implementation.</p>
<table><tr><td><a href="a.html">msgfmt</a></td><td>compiles a catalog</td></tr>
<tr><td><a href="b.html">msgmerge</a></td><td>merges two catalogs</td></tr></table>
<p>
 <font size="-1">
  This document was generated by <em>Bruno Haible</em> on <em>July, 26 2020</em> using <a href="https://www.nongnu.org/texi2html/"><em>texi2html 1.78a</em></a>.
 </font>
 <br>
</p>
</body></html>"#;
        let text = all_text(&read_ok(src));
        assert!(!text.contains("Contents"), "{text}");
        assert!(!text.contains("<<"), "{text}");
        assert!(!text.contains("Jump to"), "{text}");
        assert!(!text.contains("This document was generated"), "{text}");
        assert!(text.contains("One aim of the catalog"), "{text}");
        // A table of links with words beside them is data.
        assert!(text.contains("msgfmt | compiles a catalog"), "{text}");
    }

    #[test]
    fn sphinx_page_keeps_content_drops_navigation() {
        let p = read_ok(SPHINX);
        let text = all_text(&p);
        for chrome in [
            "Navigation",
            "General Index",
            "Widget 2.1 documentation",
            "Table of Contents",
            "Sidebar entry",
            "Quick search",
            "Created using Sphinx",
            "¶",
            // A built toctree: links to other pages.
            "Guides",
            "Upgrading an old widget",
        ] {
            assert!(!text.contains(chrome), "{chrome:?} leaked into {text}");
        }
        assert_eq!(
            p.title.as_deref(),
            Some("Installing the widget — Widget 2.1 documentation")
        );
        assert_eq!(
            headings(&p),
            [
                (
                    1,
                    "Installing the widget".to_string(),
                    Some("installing-the-widget".to_string())
                ),
                (
                    2,
                    "From source".to_string(),
                    Some("from-source".to_string())
                ),
            ]
        );
        // Inline markup does not break the paragraph; entities are decoded.
        let para = p
            .blocks
            .iter()
            .find_map(|b| match b {
                Block::Text { text, loc } if text.starts_with("The widget") => Some((text, *loc)),
                _ => None,
            })
            .expect("paragraph");
        assert_eq!(
            para.0,
            "The widget needs libfoo >= 1.2 and a working compiler."
        );
        assert_eq!(
            para.1,
            Loc::new(
                line_of(SPHINX, "<p>The widget"),
                line_of(SPHINX, "&gt;= 1.2")
            )
        );
        let code = p
            .blocks
            .iter()
            .find_map(|b| match b {
                Block::Code { lang, text, loc } => Some((lang.clone(), text.clone(), *loc)),
                _ => None,
            })
            .expect("code block");
        assert_eq!(code.0.as_deref(), Some("shell"));
        assert_eq!(code.1, "./configure --prefix=/usr\nmake && make install\n");
        assert_eq!(code.2.start, line_of(SPHINX, "./configure"));
        assert_eq!(code.2.end, line_of(SPHINX, "make &amp;&amp;"));
        assert!(text.contains("Option | Meaning\n--fast | Skip the checks"));
        assert!(text.contains("- first step\n- second step\n  - nested detail"));
    }

    const MDBOOK: &str = r##"<!DOCTYPE HTML>
<html lang="en" class="light sidebar-visible" dir="ltr">
    <head>
        <meta charset="UTF-8">
        <title>Configuration - The Guide</title>
    </head>
    <body>
    <div id="body-container">
        <nav id="sidebar" class="sidebar" aria-label="Table of contents">
            <div class="sidebar-scrollbox">
                <ol class="chapter"><li class="chapter-item expanded "><a href="intro.html"><strong aria-hidden="true">1.</strong> Introduction chapter</a></li><li class="chapter-item expanded "><a href="config.html" class="active"><strong aria-hidden="true">2.</strong> Configuration chapter</a></li><li class="chapter-item expanded "><a href="faq.html"><strong aria-hidden="true">3.</strong> Frequently asked</a></li></ol>
            </div>
        </nav>
        <div id="page-wrapper" class="page-wrapper">
            <div class="page">
                <div id="menu-bar" class="menu-bar sticky">
                    <div class="left-buttons">
                        <button id="sidebar-toggle" class="icon-button" type="button" title="Toggle Table of Contents">Toggle</button>
                    </div>
                    <h1 class="menu-title">The Guide</h1>
                </div>
                <div id="search-wrapper" class="hidden">
                    <form id="searchbar-outer" class="searchbar-outer">
                        <input type="search" id="searchbar" name="searchbar" placeholder="Search this book ...">
                    </form>
                </div>
                <div id="content" class="content">
                    <main>
                        <h1 id="configuration"><a class="header" href="#configuration">Configuration</a></h1>
<p>The book is configured by <code>book.toml</code>.</p>
<h2 id="the-build-table"><a class="header" href="#the-build-table">The build table</a></h2>
<pre><code class="language-toml">[build]
build-dir = "book"
</code></pre>
<ol>
<li>Edit the file.</li>
<li>Run <code>mdbook build</code>.</li>
</ol>
                    </main>
                    <nav class="nav-wrapper" aria-label="Page navigation">
                        <a rel="prev" href="intro.html" class="mobile-nav-chapters previous" title="Previous chapter">Previous chapter</a>
                    </nav>
                </div>
            </div>
        </div>
    </div>
    </body>
</html>
"##;

    #[test]
    fn mdbook_page_drops_chapter_sidebar() {
        let p = read_ok(MDBOOK);
        let text = all_text(&p);
        for chrome in [
            "Introduction chapter",
            "Configuration chapter",
            "Frequently asked",
            "The Guide",
            "Toggle",
            "Previous chapter",
            "Search this book",
        ] {
            assert!(!text.contains(chrome), "{chrome:?} leaked into {text}");
        }
        assert_eq!(p.title.as_deref(), Some("Configuration - The Guide"));
        assert_eq!(
            headings(&p),
            [
                (
                    1,
                    "Configuration".to_string(),
                    Some("configuration".to_string())
                ),
                (
                    2,
                    "The build table".to_string(),
                    Some("the-build-table".to_string())
                ),
            ]
        );
        assert!(p.blocks.iter().any(|b| matches!(b,
            Block::Code { lang: Some(l), text, .. } if l == "toml" && text == "[build]\nbuild-dir = \"book\"\n")));
        assert!(text.contains("1. Edit the file.\n2. Run mdbook build."));
    }

    const RUSTDOC: &str = r##"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Vec in std::vec - Rust</title></head>
<body class="rustdoc struct"><a class="skip-main-content" href="#main-content">Skip to main content</a>
<nav class="mobile-topbar"><button class="sidebar-menu-toggle" title="show sidebar"></button></nav>
<nav class="sidebar"><div class="sidebar-crate"><h2><a href="../../std/index.html">std</a><span class="version">1.80.0</span></h2></div>
<div class="sidebar-elems"><section id="rustdoc-toc"><h2 class="location"><a href="#">Vec</a></h2><h3><a href="#implementations">Sidebar methods list</a></h3><ul class="block method"><li><a href="#method.new">new</a></li></ul></section></div></nav>
<div class="sidebar-resizer"></div><main><div class="width-limiter"><rustdoc-search></rustdoc-search>
<section id="main-content" class="content"><div class="main-heading"><h1>Struct <span class="struct">Vec</span><button id="copy-path" title="Copy item path to clipboard">Copy item path</button></h1><rustdoc-toolbar></rustdoc-toolbar><span class="sub-heading"><span class="since" title="Stable since Rust version 1.0.0">1.0.0</span> · <a class="src" href="../../src/alloc/vec/mod.rs.html#397-400">Source</a> </span></div>
<pre class="rust item-decl"><code>pub struct Vec&lt;T&gt; { <span class="comment">/* private fields */</span> }</code></pre>
<details class="toggle top-doc" open><summary class="hideme"><span>Expand description</span></summary><div class="docblock"><p>A contiguous growable array type, written as <code>Vec&lt;T&gt;</code>.</p>
<h2 id="examples"><a class="doc-anchor" href="#examples">§</a>Examples</h2>
<div class="example-wrap"><pre class="rust rust-example-rendered"><code><span class="kw">let </span><span class="kw-2">mut </span>vec = Vec::new();
vec.push(<span class="number">1</span>);</code></pre></div></div></details>
<h2 id="implementations" class="section-header">Implementations<a href="#implementations" class="anchor">§</a></h2>
<details class="toggle implementors-toggle" open><summary><section id="method.new" class="method"><span class="rightside"><span class="const" title="const since 1.39.0">const: 1.39.0</span> · <a class="src" href="../../src/alloc/vec/mod.rs.html#420">Source</a></span><h4 class="code-header">pub const fn <a href="#method.new" class="fn">new</a>() -&gt; Vec&lt;T&gt;</h4></section></summary><div class="docblock"><p>Constructs a new, empty <code>Vec&lt;T&gt;</code>.</p></div></details>
</section></div></main></body></html>
"##;

    #[test]
    fn rustdoc_page_keeps_item_docs() {
        let p = read_ok(RUSTDOC);
        let text = all_text(&p);
        for chrome in [
            "Skip to main content",
            "Sidebar methods list",
            "1.80.0",
            "Copy item path",
            "Expand description",
            "§",
        ] {
            assert!(!text.contains(chrome), "{chrome:?} leaked into {text}");
        }
        assert_eq!(
            headings(&p),
            [
                (1, "Struct Vec".to_string(), None),
                (2, "Examples".to_string(), Some("examples".to_string())),
                (
                    2,
                    "Implementations".to_string(),
                    Some("implementations".to_string())
                ),
                (
                    4,
                    "pub const fn new() -> Vec<T>".to_string(),
                    Some("method.new".to_string())
                ),
            ]
        );
        assert!(p.blocks.iter().any(|b| matches!(b,
            Block::Code { lang: Some(l), text, .. } if l == "rust" && text.starts_with("let mut vec = Vec::new();\nvec.push(1);"))));
        assert!(text.contains("A contiguous growable array type, written as Vec<T>."));
    }

    #[test]
    fn unmarked_page_finds_the_dense_block() {
        let html = "<html><body>\n<div class=\"top\"><a href=\"/\">Home</a> <a href=\"/a\">About</a> <a href=\"/b\">Blog</a></div>\n<div class=\"wrap\"><div class=\"left\"><a href=\"/x\">Link one</a><br><a href=\"/y\">Link two</a></div>\n<div class=\"text\"><h1>Real title</h1><p>A long paragraph of real prose that holds most of the words on this page, which is what a reader wants.</p><p>And another paragraph with more of the actual content people search for.</p></div></div>\n</body></html>";
        let p = read_ok(html);
        let text = all_text(&p);
        assert!(text.contains("Real title") && text.contains("another paragraph"));
        for chrome in ["Home", "About", "Link one"] {
            assert!(!text.contains(chrome), "{chrome:?} leaked into {text}");
        }
        assert_eq!(p.title.as_deref(), Some("Real title"));
    }

    #[test]
    fn doxygen_anchor_before_heading_and_layout_table() {
        let html = r##"<html><head><title>Lib: Foo Class Reference</title></head><body>
<div id="top"><div id="titlearea">Lib 1.0</div></div>
<div class="contents">
<a name="details" id="details"></a><h2 class="groupheader">Detailed Description</h2>
<table><tr><td><h3>Inside a layout table</h3><p>Cell prose.</p></td></tr></table>
<table class="memname"><tr><td class="memname">int Foo::bar</td><td>(</td><td class="paramtype">int&#160;</td><td class="paramname"><em>x</em></td><td>)</td></tr></table>
<h2 class="memtitle"><span class="permalink"><a href="#a4d303">&#9670;&nbsp;</a></span>JSON_C_OBJECT_ADD_KEY</h2>
<p>Brief words. <a href="#details">More...</a></p>
<hr/>The documentation for this struct was generated from the following file:<ul>
<li>json_object.h</li></ul>
</div>
<hr class="footer"/><address class="footer"><small>Generated by doxygen</small></address>
</body></html>"##;
        let p = read_ok(html);
        let hs = headings(&p);
        assert_eq!(
            hs[0],
            (2, "Detailed Description".into(), Some("details".into()))
        );
        assert_eq!(hs[1].1, "Inside a layout table");
        let text = all_text(&p);
        assert!(text.contains("Cell prose."));
        assert!(text.contains("int Foo::bar ( int x )"), "{text}");
        assert!(!text.contains("Generated by doxygen") && !text.contains("Lib 1.0"));
        // A member's title sits under its section's heading.
        assert_eq!(
            hs[2],
            (3, "JSON_C_OBJECT_ADD_KEY".into(), Some("a4d303".into()))
        );
        assert!(text.contains("Brief words.") && text.contains("json_object.h"));
        for gone in ["◆", "More...", "documentation for this struct"] {
            assert!(!text.contains(gone), "{gone:?} in {text}");
        }
    }

    /// Doxygen 1.9's class page (libstdc++'s `std::mutex`, a08030.html): the title above
    /// `div.contents` heads the page, a member's title sits under its section, a row of the
    /// member table reads as one line, and labels stay apart.
    #[test]
    fn doxygen_class_page_title_member_rows_and_labels() {
        let html = r##"<html><head><title>libstdc++: std::mutex Class Reference</title></head><body>
<div id="top"><div id="titlearea">libstdc++</div></div>
<div id="doc-content">
<div class="header">
  <div class="summary">
<a href="#pub-types">Public Types</a> &#124;
<a href="#pub-methods">Public Member Functions</a> &#124;
<a href="a08027.html">List of all members</a>  </div>
  <div class="headertitle"><div class="title">std::mutex Class Reference<div class="ingroups"><a class="el" href="a01568.html">Concurrency</a> &raquo; <a class="el" href="a01606.html">Mutexes</a></div></div></div>
</div><!--header-->
<div class="contents">
<p><code>#include &lt;<a class="el" href="a00485_source.html">std_mutex.h</a>&gt;</code></p>
<table class="memberdecls">
<tr class="heading"><td colspan="2"><h2 class="groupheader"><a id="pub-methods" name="pub-methods"></a>
Public Member Functions</h2></td></tr>
<tr class="memitem:a497def"><td class="memItemLeft" align="right" valign="top">void&#160;</td><td class="memItemRight" valign="bottom"><a class="el" href="a08030.html#a497def">lock</a> ()</td></tr>
<tr class="memdesc:a497def"><td class="mdescLeft">&#160;</td><td class="mdescRight">Locks the mutex.  <a href="a08030.html#a497def">More...</a><br /></td></tr>
<tr class="separator:a497def"><td class="memSeparator" colspan="2">&#160;</td></tr>
<tr class="memitem:a5699ae"><td class="memItemLeft" align="right" valign="top">bool&#160;</td><td class="memItemRight" valign="bottom"><a class="el" href="a08030.html#a5699ae">try_lock</a> () noexcept</td></tr>
<tr class="separator:a5699ae"><td class="memSeparator" colspan="2">&#160;</td></tr>
</table>
<a name="details" id="details"></a><h2 class="groupheader">Detailed Description</h2>
<div class="textblock"><p >The standard mutex type. </p>
</div><h2 class="groupheader">Member Function Documentation</h2>
<a id="a497def" name="a497def"></a>
<h2 class="memtitle"><span class="permalink"><a href="#a497def">&#9670;&nbsp;</a></span>lock()</h2>

<div class="memitem">
<div class="memproto">
<table class="mlabels">
  <tr>
  <td class="mlabels-left">
      <table class="memname">
        <tr>
          <td class="memname">void std::mutex::lock </td>
          <td>(</td>
          <td class="paramname"></td><td>)</td>
          <td></td>
        </tr>
      </table>
  </td>
  <td class="mlabels-right">
<span class="mlabels"><span class="mlabel">inline</span><span class="mlabel">noexcept</span></span>  </td>
  </tr>
</table>
</div><div class="memdoc">
<p class="definition">Definition at line <a class="el" href="a00485_source.html#l00098">98</a> of file <a class="el" href="a00485_source.html">std_mutex.h</a>.</p>
</div>
</div>
</div><!-- contents -->
</div><!-- doc-content -->
</body></html>"##;
        let p = read_ok(html);
        assert_eq!(
            headings(&p),
            vec![
                (1, "std::mutex Class Reference".into(), None),
                (
                    2,
                    "Public Member Functions".into(),
                    Some("pub-methods".into())
                ),
                (2, "Detailed Description".into(), Some("details".into())),
                (2, "Member Function Documentation".into(), None),
                (3, "lock()".into(), Some("a497def".into())),
            ]
        );
        let (_, layout) = crate::read::render(&p);
        let at = layout.headings.last().unwrap().offset;
        assert_eq!(
            layout.trail_at(at).0,
            [
                "std::mutex Class Reference",
                "Member Function Documentation",
                "lock()"
            ]
        );
        let texts = crate::read::testing::texts(&p);
        assert!(
            texts.contains(&"void lock () — Locks the mutex.".to_string()),
            "{texts:#?}"
        );
        assert!(texts.contains(&"bool try_lock () noexcept".to_string()));
        assert!(texts.contains(&"void std::mutex::lock ( ) [inline, noexcept]".to_string()));
        let text = all_text(&p);
        for gone in [
            "Concurrency",
            "List of all members",
            "More...",
            "◆",
            "inlinenoexcept",
        ] {
            assert!(!text.contains(gone), "{gone:?} in {text}");
        }
    }

    /// A Doxygen code fragment (Eigen's tutorial, group__TutorialMatrixClass.html; a source
    /// listing with line numbers): one code block, a line per `div.line`, indentation and
    /// lone braces kept, line numbers and hover tooltips left out.
    #[test]
    fn doxygen_fragments_are_code_without_line_numbers_or_tooltips() {
        let html = r##"<html><body><div class="contents">
<p>This example is self-explanatory:</p>
<div class="fragment"><div class="line"><span class="preprocessor">#include &lt;iostream&gt;</span></div>
<div class="line"> </div>
<div class="line"><span class="keywordtype">int</span> main()</div>
<div class="line">{</div>
<div class="line">  <a class="code hl_class" href="classEigen_1_1Matrix.html">MatrixXd</a> m(2,2);</div>
<div class="line">  std::cout &lt;&lt; <span class="stringliteral">&quot;m:\n&quot;</span> &lt;&lt; m;</div>
<div class="line">}</div>
<div class="ttc" id="aclassEigen_1_1Matrix_html"><div class="ttname"><a href="classEigen_1_1Matrix.html">Eigen::Matrix</a></div><div class="ttdoc">The matrix class, also used for vectors and row-vectors.</div><div class="ttdef"><b>Definition:</b> Matrix.h:180</div></div>
</div><!-- fragment -->
<p>A listing:</p>
<div class="fragment"><div class="line"><a id="l00019" name="l00019"></a><span class="lineno">   19</span>{</div>
<div class="line"><a id="l00020" name="l00020"></a><span class="lineno">   20</span><span class="keyword">private</span>:</div>
<div class="line"><a id="l00021" name="l00021"></a><span class="lineno">   21</span>  <span class="keyword">enum</span> { size = 3 };</div>
</div><!-- fragment -->
<div class="ttc" id="anamespaceEigen_html"><div class="ttname"><a href="namespaceEigen.html">Eigen</a></div><div class="ttdoc">Namespace containing all symbols from the Eigen library.</div><div class="ttdef"><b>Definition:</b> Core:141</div></div>
</div></body></html>"##;
        let p = read_ok(html);
        let code: Vec<&str> = p
            .blocks
            .iter()
            .filter_map(|b| match b {
                Block::Code { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(
            code,
            [
                "#include <iostream>\n\nint main()\n{\n  MatrixXd m(2,2);\n  std::cout << \"m:\\n\" << m;\n}",
                "{\nprivate:\n  enum { size = 3 };",
            ]
        );
        let first = p
            .blocks
            .iter()
            .find(|b| matches!(b, Block::Code { .. }))
            .unwrap();
        assert_eq!(
            first.loc(),
            Loc::new(
                line_of(html, "#include &lt;iostream"),
                line_of(html, "<div class=\"line\">}</div>")
            )
        );
        let text = all_text(&p);
        for gone in [
            "Definition",
            "The matrix class",
            "Namespace containing",
            "19",
        ] {
            assert!(!text.contains(gone), "{gone:?} in {text}");
        }
    }

    /// Doxygen member tables: a member's template row, declaration and description make one
    /// line, also when the ids are empty (a file's nested classes, SDL_events.h); members
    /// inherited from a base class are hidden (Eigen's `Matrix`), their header stays; and a
    /// Markdown page's `h1`s sit under its title (SDL's README-android).
    #[test]
    fn doxygen_member_rows_inherited_members_and_page_sections() {
        let html = r##"<html><body><div id="doc-content">
<div><div class="header">
  <div class="headertitle"><div class="title">SDL_events.h File Reference</div></div>
</div><!--header-->
<div class="contents">
<table class="memberdecls">
<tr class="heading"><td colspan="2"><h2 class="groupheader"><a id="nested-classes" name="nested-classes"></a>
Data Structures</h2></td></tr>
<tr class="memitem:"><td class="memItemLeft" align="right" valign="top">struct &#160;</td><td class="memItemRight" valign="bottom"><a class="el" href="struct_s_d_l___common_event.html">SDL_CommonEvent</a></td></tr>
<tr class="memdesc:"><td class="mdescLeft">&#160;</td><td class="mdescRight">Fields shared by every event.  <a href="struct_s_d_l___common_event.html#details">More...</a><br /></td></tr>
<tr class="separator:"><td class="memSeparator" colspan="2">&#160;</td></tr>
<tr class="memitem:"><td class="memItemLeft" align="right" valign="top">struct &#160;</td><td class="memItemRight" valign="bottom"><a class="el" href="struct_s_d_l___display_event.html">SDL_DisplayEvent</a></td></tr>
<tr class="separator:"><td class="memSeparator" colspan="2">&#160;</td></tr>
<tr class="memitem:ab2e3"><td class="memTemplParams" colspan="2">template&lt;typename OtherDerived &gt; </td></tr>
<tr class="memitem:ab2e3"><td class="memTemplItemLeft" align="right" valign="top">&#160;</td><td class="memTemplItemRight" valign="bottom"><a class="el" href="#ab2e3">Matrix</a> (const <a class="el" href="structEigen_1_1EigenBase.html">EigenBase</a>&lt; OtherDerived &gt; &amp;other)</td></tr>
<tr class="memdesc:ab2e3"><td class="mdescTemplLeft">&#160;</td><td class="mdescTemplRight">Copy constructor for generic expressions.  <a href="#ab2e3">More...</a><br /></td></tr>
<tr class="separator:ab2e3"><td class="memSeparator" colspan="2">&#160;</td></tr>
<tr class="inherit_header pub_methods_classEigen_1_1DenseBase"><td colspan="2" onclick="javascript:toggleInherit('pub_methods_classEigen_1_1DenseBase')"><img src="closed.png" alt="-"/>&#160;Public Member Functions inherited from <a class="el" href="classEigen_1_1DenseBase.html">Eigen::DenseBase&lt; Derived &gt;</a></td></tr>
<tr class="memitem:a0632 inherit pub_methods_classEigen_1_1DenseBase"><td class="memItemLeft" align="right" valign="top">bool&#160;</td><td class="memItemRight" valign="bottom"><a class="el" href="classEigen_1_1DenseBase.html#a0632">allFinite</a> () const</td></tr>
<tr class="memdesc:a0632 inherit pub_methods_classEigen_1_1DenseBase"><td class="mdescLeft">&#160;</td><td class="mdescRight">Inherited description.  <a href="classEigen_1_1DenseBase.html#a0632">More...</a><br /></td></tr>
<tr class="separator:a0632 inherit pub_methods_classEigen_1_1DenseBase"><td class="memSeparator" colspan="2">&#160;</td></tr>
</table>
<div class="textblock"><p >Some words about events.</p>
<h1><a class="anchor" id="autotoc_md12"></a>
Requirements</h1>
<p >Android SDK (version 31 or later)</p>
</div></div><!-- contents -->
</div></div></body></html>"##;
        let p = read_ok(html);
        let texts = crate::read::testing::texts(&p);
        assert_eq!(
            texts,
            [
                "struct SDL_CommonEvent — Fields shared by every event.",
                "struct SDL_DisplayEvent",
                "template<typename OtherDerived > Matrix (const EigenBase< OtherDerived > &other) — Copy constructor for generic expressions.",
                "Public Member Functions inherited from Eigen::DenseBase< Derived >",
                "Some words about events.",
                "Android SDK (version 31 or later)",
            ]
        );
        assert_eq!(
            headings(&p),
            vec![
                (1, "SDL_events.h File Reference".into(), None),
                (2, "Data Structures".into(), Some("nested-classes".into())),
                (2, "Requirements".into(), Some("autotoc_md12".into())),
            ]
        );
    }

    /// Docutils ≥ 0.18 (Sphinx's Python 3.11 manual): footnotes and topics are `<aside>`s,
    /// which elsewhere hold a site's sidebar.
    #[test]
    fn docutils_footnotes_and_topics_in_asides_are_text() {
        let html = r##"<html><body><div class="body" role="main"><section id="t">
<h1>Control Flow</h1>
<aside class="topic"><p class="topic-title">Abstract</p>
<p>A 10,000 foot overview of sockets.</p></aside>
<p>Arguments are passed by value.<a class="footnote-reference brackets" href="#id2" id="id1" role="doc-noteref"><span class="fn-bracket">[</span>1<span class="fn-bracket">]</span></a></p>
<p class="rubric">Footnotes</p>
<aside class="footnote-list brackets"><aside class="footnote brackets" id="id2" role="doc-footnote">
<span class="label"><span class="fn-bracket">[</span><a role="doc-backlink" href="#id1">1</a><span class="fn-bracket">]</span></span>
<p>Actually, <em>call by object reference</em> would be a better description.</p>
</aside></aside></section></div>
<aside class="site-links"><p>Site sidebar</p></aside></body></html>"##;
        let text = all_text(&read_ok(html));
        for kept in [
            "A 10,000 foot overview of sockets.",
            "call by object reference would be a better description",
        ] {
            assert!(text.contains(kept), "{kept:?} lost from {text}");
        }
        assert!(!text.contains("Site sidebar"), "{text}");
    }

    /// Read the Docs' Sphinx theme (python-cryptography-doc): the body, the page grid and
    /// the content's wrapper all carry `nav` in their class names; the page was read as
    /// empty. What holds `role="main"` is content (also when its own class holds `related`,
    /// as SQLAlchemy's do); the side menu and breadcrumbs are not.
    #[test]
    fn read_the_docs_theme_keeps_its_content() {
        let html = r##"<html><body class="wy-body-for-nav"><div class="wy-grid-for-nav">
<nav data-toggle="wy-nav-shift" class="wy-nav-side"><div class="wy-menu wy-menu-vertical">
<ul><li class="toctree-l1"><a href="x.html">Side menu entry</a></li></ul></div></nav>
<section data-toggle="wy-nav-shift" class="wy-nav-content-wrap"><div class="wy-nav-content">
<div class="rst-content"><div role="navigation" aria-label="Page navigation">
<ul class="wy-breadcrumbs"><li>Breadcrumb trail</li></ul></div>
<div role="main" class="document tutorial-orm_related_objects" itemscope="itemscope">
<div itemprop="articleBody"><section id="fernet"><h1>Fernet (symmetric encryption)</h1>
<p>Fernet guarantees that a message encrypted using it cannot be read without the key.</p>
</section></div></div><footer><p>Built with Sphinx using a theme</p></footer>
</div></div></section></div></body></html>"##;
        let p = read_ok(html);
        let text = all_text(&p);
        assert!(text.contains("cannot be read without the key"), "{text}");
        for gone in ["Side menu entry", "Breadcrumb trail", "Built with Sphinx"] {
            assert!(!text.contains(gone), "{gone:?} in {text}");
        }
    }

    /// A theme that names its wrappers like navigation and marks no main content: read as
    /// all chrome, the page is read again with class names ignored (its `<nav>` still
    /// dropped). A page that is only a list of links stays empty.
    #[test]
    fn a_page_read_as_all_chrome_is_read_by_its_elements() {
        let prose = "Tides come twice a day and the ferry sails an hour after high water. ";
        let html = format!(
            "<html><body class=\"body-for-nav\"><nav><a href=\"a.html\">Site menu</a></nav>\
             <div class=\"nav-shift-content\"><h1>Tides</h1><p>{}</p></div></body></html>",
            prose.repeat(8)
        );
        let text = all_text(&read_ok(&html));
        assert!(text.contains("ferry sails an hour after"), "{text}");
        assert!(!text.contains("Site menu"), "{text}");
        let links: String = (0..40)
            .map(|i| format!("<li><a href=\"p{i}.html\">Chapter number {i} of the guide</a></li>"))
            .collect();
        let html =
            format!("<html><body><div class=\"navbar\"><ul>{links}</ul></div></body></html>");
        assert!(read(&html, &Budget::unlimited()).unwrap().blocks.is_empty());
    }

    #[test]
    fn docusaurus_article_keeps_header_h1_drops_toc() {
        let html = r##"<html><head><title>Intro | My Site</title></head><body>
<nav class="navbar">Docs Blog GitHub</nav>
<div class="main-wrapper"><div class="docsWrapper_x"><aside class="theme-doc-sidebar-container">Sidebar tree</aside>
<main class="docMainContainer_y"><div class="row"><div class="col">
<nav class="theme-doc-breadcrumbs" aria-label="Breadcrumbs">Home crumbs</nav>
<article><div class="theme-doc-markdown markdown"><header><h1>Tutorial Intro</h1></header>
<p>Let's discover <strong>Docusaurus in less than 5 minutes</strong>.</p>
<h2 class="anchor anchorWithStickyNavbar_z" id="getting-started">Getting Started<a href="#getting-started" class="hash-link" aria-label="Direct link to Getting Started" title="Direct link to Getting Started">&#8203;</a></h2>
</div><footer class="theme-doc-footer docusaurus-mt-lg">Edit this page</footer></article>
<nav class="pagination-nav docusaurus-mt-lg" aria-label="Docs pages">Next page</nav></div>
<div class="col col--3"><div class="tableOfContents_abc thin-scrollbar theme-doc-toc-desktop"><ul class="table-of-contents"><li><a href="#getting-started">TOC entry</a></li></ul></div></div></div></main></div></div>
<footer class="footer">Copyright footer</footer></body></html>"##;
        let p = read_ok(html);
        let text = all_text(&p);
        for chrome in [
            "Docs Blog",
            "Sidebar tree",
            "Home crumbs",
            "Edit this page",
            "Next page",
            "TOC entry",
            "Copyright",
        ] {
            assert!(!text.contains(chrome), "{chrome:?} leaked into {text}");
        }
        assert_eq!(
            headings(&p),
            [
                (1, "Tutorial Intro".to_string(), None),
                (
                    2,
                    "Getting Started".to_string(),
                    Some("getting-started".to_string())
                ),
            ]
        );
        assert!(text.contains("Let's discover Docusaurus in less than 5 minutes."));
    }

    /// An enum's page as Javadoc 17 writes it (Commons Lang's `JavaVersion`, shortened): the
    /// compiler's `values()` and `valueOf(String)` are left out, the enum's own method is
    /// read, and a method of the same name that a class writes itself stays.
    #[test]
    fn javadoc_leaves_out_the_members_every_enum_gets() {
        let page = |own: &str| {
            format!(
                r##"<!DOCTYPE HTML><html lang="en"><head><title>JavaVersion (lang 3.12 API)</title></head>
<body class="class-declaration-page"><main role="main"><div class="header">
<h1 title="Enum JavaVersion" class="title">Enum JavaVersion</h1></div>
<section class="class-description" id="class-description"><div class="block">An enum representing all the versions of the Java specification.</div></section>
<section class="details"><ul class="details-list"><li><section class="method-details" id="method-detail"><h2>Method Details</h2>
<ul class="member-list"><li><section class="detail" id="values()"><h3>values</h3>
<div class="member-signature"><span class="modifiers">public static</span>&nbsp;<span class="return-type">JavaVersion[]</span>&nbsp;<span class="element-name">values</span>()</div>
<div class="block">Returns an array containing the constants of this enum type, in
the order they are declared.</div>
<dl class="notes"><dt>Returns:</dt><dd>an array containing the constants of this enum type, in the order they are declared</dd></dl></section></li>
<li><section class="detail" id="valueOf(java.lang.String)"><h3>valueOf</h3>
<div class="member-signature"><span class="modifiers">public static</span>&nbsp;<span class="return-type">JavaVersion</span>&nbsp;<span class="element-name">valueOf</span><wbr><span class="parameters">(String&nbsp;name)</span></div>
<div class="block">{own}</div></section></li>
<li><section class="detail" id="atLeast(org.apache.commons.lang3.JavaVersion)"><h3>atLeast</h3>
<div class="block">Whether this version of Java is at least the version of Java passed in.</div></section></li>
</ul></section></li></ul></section></main></body></html>"##
            )
        };
        let generated = "Returns the enum constant of this type with the specified name.
The string             must match <i>exactly</i> an identifier used to declare an
enum constant in this type.";
        let p = read_ok(&page(generated));
        let text = all_text(&p);
        assert!(!text.contains("constants of this enum"), "{text}");
        assert!(!text.contains("specified name"), "{text}");
        assert!(
            text.contains("at least the version of Java passed in"),
            "{text}"
        );
        let names: Vec<String> = headings(&p).into_iter().map(|(_, h, _)| h).collect();
        assert_eq!(names, ["Enum JavaVersion", "Method Details", "atLeast"]);
        // A `valueOf(String)` documented by its author is the library's own text.
        let p = read_ok(&page("Parses a version string such as 1.8 or 17."));
        assert!(all_text(&p).contains("Parses a version string"));
        assert!(headings(&p).iter().any(|(_, h, _)| h == "valueOf"));
    }

    #[test]
    fn javadoc_member_sections_anchor_their_headings() {
        let html = r##"<!DOCTYPE HTML><html lang="en"><head><title>Widget (lib 1.0 API)</title></head>
<body class="class-declaration-page"><div class="flex-box">
<header role="banner" class="flex-header"><nav role="navigation"><div class="top-nav" id="navbar-top"><ul id="navbar-top-firstrow" class="nav-list" title="Navigation"><li><a href="package-summary.html">Package</a></li></ul></div>
<div class="sub-nav"><ol class="sub-nav-list"><li><a href="#method-summary">Method</a></li></ol></div></nav></header>
<div class="flex-content"><main role="main"><div class="header"><div class="sub-title">Package org.lib</div>
<h1 title="Class Widget" class="title">Class Widget</h1></div>
<section class="class-description" id="class-description"><div class="block">A thing that draws itself.</div></section>
<section class="details"><ul class="details-list"><li><section class="method-details" id="method-detail"><h2>Method Details</h2>
<ul class="member-list"><li><section class="detail" id="draw(int)"><h3>draw</h3>
<div class="member-signature"><span class="modifiers">public</span>&nbsp;<span class="return-type">void</span>&nbsp;<span class="element-name">draw</span><wbr><span class="parameters">(int&nbsp;scale)</span></div>
<div class="block">Draws at the given scale.</div></section></li></ul></section></li></ul></section></main>
<footer role="contentinfo"><p class="legal-copy"><small>Copyright 2024.</small></p></footer></div></div></body></html>"##;
        let p = read_ok(html);
        let text = all_text(&p);
        for chrome in ["Package\n", "Method\n", "Copyright"] {
            assert!(!text.contains(chrome), "{chrome:?} leaked into {text}");
        }
        assert_eq!(
            headings(&p),
            [
                (1, "Class Widget".to_string(), None),
                (
                    2,
                    "Method Details".to_string(),
                    Some("method-detail".to_string())
                ),
                (3, "draw".to_string(), Some("draw(int)".to_string())),
            ]
        );
        assert!(
            text.contains("public void draw(int scale)\nDraws at the given scale."),
            "{text}"
        );
    }

    #[test]
    fn line_breaks_and_crlf_lines() {
        let html = "<html><body><main>\r\n<p>one<br>two</p>\r\n\r\n<p>\r\nthree\r\n</p></main></body></html>";
        let p = read_ok(html);
        assert_eq!(
            p.blocks,
            [
                Block::Text {
                    text: "one\ntwo".into(),
                    loc: Loc::new(2, 2)
                },
                Block::Text {
                    text: "three".into(),
                    loc: Loc::new(5, 5)
                },
            ]
        );
    }

    #[test]
    fn list_items_keep_their_own_lines() {
        let html = "<html><body><main>\n<p>Intro.</p>\n<ul>\n<li>one\nstill one</li>\n<li>two</li>\n<li>three\n<ul><li>nested</li></ul></li>\n</ul>\n<p>After.</p></main></body></html>";
        let p = read_ok(html);
        // Laid out as before: the list is one paragraph to the splitter.
        assert_eq!(
            crate::read::render(&p).0,
            "Intro.\n\n- one still one\n- two\n- three\n  - nested\n\nAfter.\n\n"
        );
        let loc = |needle: &str| crate::read::testing::rendered_loc(&p, needle);
        assert_eq!(loc("one still"), Loc::new(4, 5));
        assert_eq!(loc("two"), Loc::new(6, 6));
        assert_eq!(loc("three"), Loc::new(7, 7));
        assert_eq!(loc("nested"), Loc::new(8, 8));
        assert_eq!(loc("two\n- three"), Loc::new(6, 7));
        assert_eq!(loc("After"), Loc::new(10, 10));
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let depth = 100_000;
        let html = format!("{}text{}", "<div>".repeat(depth), "</div>".repeat(depth));
        let err = read(&html, &Budget::unlimited()).expect_err("too deep");
        assert_eq!(err.reason, super::super::SkipReason::ParseError);
        // Just under the limit is read, iteratively.
        let depth = MAX_DEPTH - 10;
        let html = format!(
            "<body>{}<p>deep text</p>{}",
            "<div>".repeat(depth),
            "</div>".repeat(depth)
        );
        assert_eq!(all_text(&read_ok(&html)), "deep text");
    }

    #[test]
    fn past_deadline_times_out() {
        let budget = Budget::new(std::time::Duration::ZERO, usize::MAX);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let err = read(SPHINX, &budget).expect_err("timeout");
        assert_eq!(err.reason, super::super::SkipReason::Timeout);
    }

    #[test]
    fn output_cap_is_enforced() {
        let budget = Budget::new(std::time::Duration::from_secs(60), 10);
        let err = read(SPHINX, &budget).expect_err("too large");
        assert_eq!(err.reason, super::super::SkipReason::TooLarge);
    }

    #[test]
    fn mutated_and_truncated_pages_never_panic() {
        let samples = [SPHINX, MDBOOK, RUSTDOC];
        let budget = Budget::new(std::time::Duration::from_secs(60), 10_000_000);
        for sample in samples {
            for cut in (0..sample.len()).step_by(97) {
                let cut = (cut..=sample.len())
                    .find(|&c| sample.is_char_boundary(c))
                    .unwrap_or(sample.len());
                let _ = read(&sample[..cut], &budget);
            }
        }
        let pieces = [
            "<",
            ">",
            "</",
            "<div>",
            "</p>",
            "<table>",
            "<td>",
            "<pre>",
            "&amp",
            "&#x",
            "<h2 id=\"",
            "\"",
            "<!--",
            "<svg>",
            "<template>",
            "<li>",
            "\n",
            "é",
            "\u{0}",
        ];
        let mut state = crate::read::testing::Rng::new(0x9E37_79B9_7F4A_7C15);
        for n in 0..3000 {
            let base = samples[n % samples.len()];
            let mut s: Vec<char> = base.chars().collect();
            for _ in 0..(1 + state.next() % 12) {
                let at = (state.next() as usize) % (s.len() + 1);
                match state.next() % 3 {
                    0 => {
                        let piece = pieces[(state.next() as usize) % pieces.len()];
                        s.splice(at..at, piece.chars());
                    }
                    1 => {
                        let end = (at + (state.next() as usize) % 200).min(s.len());
                        s.drain(at..end);
                    }
                    _ => {
                        if at < s.len() {
                            s[at] = char::from_u32((state.next() % 0x250) as u32).unwrap_or('x');
                        }
                    }
                }
            }
            let mutated: String = s.into_iter().collect();
            let _ = read(&mutated, &budget);
        }
    }

    /// Not a timed assertion: prints throughput for the report (`--nocapture`).
    #[test]
    fn speed_report() {
        let mut page = String::new();
        while page.len() < 4_000_000 {
            page.push_str(SPHINX);
            page.push_str(RUSTDOC);
        }
        let start = std::time::Instant::now();
        let p = read_ok(&page);
        let secs = start.elapsed().as_secs_f64();
        assert!(!p.blocks.is_empty());
        eprintln!(
            "html reader: {:.1} MB in {:.3} s = {:.1} MB/s",
            page.len() as f64 / 1e6,
            secs,
            page.len() as f64 / 1e6 / secs
        );
    }

    /// Doxygen (and Sphinx imgmath) draw formulas as images whose alt text is their LaTeX:
    /// the sentence keeps it. A logo's alt text stays out.
    #[test]
    fn a_formula_image_keeps_its_latex_in_the_sentence() {
        let html = r#"<html><body><div class="contents"><div class="textblock">
<p>Doxygen allows you to put <img class="formulaInl" alt="{\LaTeX}" src="form_0.png"/> formulas in the output.</p>
<p>The distance is <img class="formulaInl" alt="$\sqrt{(x_2-x_1)^2+(y_2-y_1)^2}$" src="form_3.png"/>.</p>
<p>Sphinx: <img src="_images/math/a.png" alt="\alpha + \beta" class="math"/> and <img src="b.png" alt="$e^{i\pi}$"/>.</p>
<h2><img src="logo.png" alt="Project logo"/> Overview</h2>
<p>Text after.</p>
</div></div></body></html>"#;
        let p = read_ok(html);
        let text = all_text(&p);
        assert!(
            text.contains(r"put {\LaTeX} formulas in the output"),
            "{text}"
        );
        assert!(
            text.contains(r"is $\sqrt{(x_2-x_1)^2+(y_2-y_1)^2}$."),
            "{text}"
        );
        assert!(
            text.contains(r"Sphinx: \alpha + \beta and $e^{i\pi}$."),
            "{text}"
        );
        assert!(!text.contains("logo"), "{text}");
        let names: Vec<String> = headings(&p).into_iter().map(|h| h.1).collect();
        assert_eq!(names, ["Overview"]);
    }

    /// rustdoc 1.63 (Debian's rust-doc, `std/vec/struct.Vec.html`), shortened: the "Run"
    /// link after each example, the notable-traits tooltip inside a method's signature
    /// heading, and the "Read more" after a trait method's summary are not the page's text.
    #[test]
    fn rustdoc_drops_run_links_notable_traits_and_read_more() {
        let page = r##"<html><head><meta name="generator" content="rustdoc"><title>Vec in std::vec - Rust</title></head><body class="rustdoc struct">
<main><div class="width-limiter"><section id="main-content" class="content">
<h1 class="fqn"><span class="in-band">Struct <a class="struct" href="#">Vec</a></span></h1>
<details class="rustdoc-toggle top-doc" open><summary class="hideme"><span>Expand description</span></summary><div class="docblock"><p>A contiguous growable array type.</p>
<div class="example-wrap"><pre class="rust rust-example-rendered"><code><span class="kw">let</span> <span class="kw-2">mut</span> <span class="ident">vec</span> <span class="op">=</span> <span class="ident">Vec::new</span>();</code></pre><a class="test-arrow" target="_blank" href="https://play.rust-lang.org/?code=fn%20main()%20%7B%7D&amp;edition=2021">Run</a></div>
<p>The <code>vec!</code> macro is provided for convenient initialization.</p></div></details>
<h2 id="implementations" class="small-section-header">Implementations<a href="#implementations" class="anchor"></a></h2>
<details class="rustdoc-toggle method-toggle" open><summary><section id="method.split" class="method has-srclink"><h4 class="code-header">pub fn <a href="#method.split" class="fnname">split</a>&lt;F&gt;(&amp;self, pred: F) -&gt; <a class="struct" href="../slice/struct.Split.html">Split</a>&lt;'_, T, F&gt;<span class="notable-traits"><span class="notable-traits-tooltip">ⓘ<span class="notable-traits-tooltiptext"><span class="docblock"><span class="notable">Notable traits for <a class="struct" href="../slice/struct.Split.html">Split</a>&lt;'a, T, P&gt;</span><code class="content"><span class="where fmt-newline">impl&lt;'a, T, P&gt; <a class="trait" href="../iter/trait.Iterator.html">Iterator</a> for <a class="struct" href="../slice/struct.Split.html">Split</a>&lt;'a, T, P&gt;</span><span class="where fmt-newline">    type <a href="../iter/trait.Iterator.html#associatedtype.Item" class="associatedtype">Item</a> = &amp;'a <a class="primitive" href="../primitive.slice.html">[T]</a>;</span></code></span></span></span></span> <span class="where fmt-newline">where<br>&nbsp;&nbsp;&nbsp;&nbsp;F: <a class="trait" href="../ops/trait.FnMut.html">FnMut</a>(&amp;T) -&gt; bool,</span></h4></section></summary><div class="docblock"><p>Returns an iterator over subslices separated by elements that match <code>pred</code>.</p></div></details>
<details class="rustdoc-toggle method-toggle" open><summary><section id="method.borrow" class="method trait-impl has-srclink"><h4 class="code-header">fn <a href="#method.borrow" class="fnname">borrow</a>(&amp;self) -&gt; &amp;T</h4></section></summary><div class='docblock'><p>Immutably borrows from an owned value. <a href="../borrow/trait.Borrow.html#tymethod.borrow">Read more</a></p>
</div></details>
</section></div></main></body></html>"##;
        let p = read_ok(page);
        let text = all_text(&p);
        for chrome in ["Run", "ⓘ", "Notable traits", "Read more"] {
            assert!(!text.contains(chrome), "{chrome:?} leaked into {text}");
        }
        assert_eq!(
            headings(&p)[2],
            (
                4,
                "pub fn split<F>(&self, pred: F) -> Split<'_, T, F> where F: FnMut(&T) -> bool,"
                    .to_string(),
                Some("method.split".to_string())
            )
        );
        assert!(text.contains("The vec! macro is provided"), "{text}");
        assert!(
            text.ends_with("\nImmutably borrows from an owned value."),
            "{text}"
        );
    }

    /// A module's item table, one line per item with its summary, stability badges in
    /// brackets: rustdoc 1.63's `div.item-row` (Debian's rust-doc, `std/io/index.html`)
    /// and today's `dl.item-table`.
    #[test]
    fn rustdoc_item_tables_read_a_line_per_item() {
        let old = r##"<html><body class="rustdoc mod"><section id="main-content" class="content">
<h1 class="fqn"><span class="in-band">Module <a class="mod" href="#">std</a>::<wbr><a class="mod" href="#">io</a></span></h1>
<h2 id="structs" class="section-header"><a href="#structs">Structs</a></h2>
<div class="item-table"><div class="item-row"><div class="item-left unstable module-item"><a class="struct" href="struct.ReadBuf.html" title="std::io::ReadBuf struct">ReadBuf</a><span class="stab unstable" title="">Experimental</span></div><div class="item-right docblock-short"><p>A wrapper around a byte buffer that is incrementally filled and initialized.</p>
</div></div><div class="item-row"><div class="item-left module-item"><a class="struct" href="struct.BufReader.html" title="std::io::BufReader struct">BufReader</a></div><div class="item-right docblock-short"><p>The <code>BufReader&lt;R&gt;</code> struct adds buffering to any reader.</p>
</div></div><div class="item-row"><div class="item-left import-item"><code>pub use core::ffi::<a class="struct" href="struct.CStr.html">CStr</a>;</code></div><div class="item-right docblock-short"></div></div></div>
</section></body></html>"##;
        let p = read_ok(old);
        assert_eq!(
            crate::read::testing::texts(&p),
            ["ReadBuf (Experimental) — A wrapper around a byte buffer that is incrementally filled and initialized.\n\
              BufReader — The BufReader<R> struct adds buffering to any reader.\n\
              pub use core::ffi::CStr;"]
        );
        assert_eq!(
            crate::read::testing::rendered_loc(&p, "BufReader —"),
            Loc::new(
                line_of(old, "BufReader</a>"),
                line_of(old, "adds buffering")
            )
        );
        let new = r##"<html><body class="rustdoc mod"><main><section id="main-content" class="content">
<h1>Module <span>io</span></h1>
<h2 id="structs" class="section-header">Structs<a href="#structs" class="anchor">§</a></h2>
<dl class="item-table"><dt><a class="struct" href="struct.BorrowedBuf.html" title="struct std::io::BorrowedBuf">BorrowedBuf</a><wbr><span class="stab unstable" title="">Experimental</span></dt><dd>A borrowed byte buffer which is incrementally filled.</dd><dt><a class="struct" href="struct.Empty.html" title="struct std::io::Empty">Empty</a></dt><dt><a class="struct" href="struct.Sink.html" title="struct std::io::Sink">Sink</a></dt><dd>A writer which will move data into the void.</dd></dl>
</section></main></body></html>"##;
        let p = read_ok(new);
        assert_eq!(
            crate::read::testing::texts(&p),
            ["BorrowedBuf (Experimental) — A borrowed byte buffer which is incrementally filled.\n\
              Empty\n\
              Sink — A writer which will move data into the void."]
        );
    }

    /// texi2any 6.8 (Debian's autoconf-doc `autoconf.html`, bash-doc `bashref.html`),
    /// shortened: the ` ¶` link after a definition term and a `@deffn` line is dropped,
    /// and the bare headings of the index appendix that ends the manual go with their
    /// indexes.
    #[test]
    fn texinfo_copiable_anchors_and_trailing_index_headings_are_not_content() {
        let page = r##"<html><head><title>Bash Reference Manual</title></head><body>
<h1 class="settitle">Bash Reference Manual</h1>
<div class="chapter" id="Definitions"><h2 class="chapter">2 Definitions</h2>
<dl compact="compact">
<dt id='index-POSIX'><span><code>POSIX</code><a href='#index-POSIX' class='copiable-anchor'> &para;</a></span></dt>
<dd><p>A family of open system standards based on Unix.</p></dd></dl>
<dl class="def">
<dt id="index-AC_005fINIT-2"><span class="category">Macro: </span><span><strong>AC_INIT</strong> <em>(<var>package</var>, <var>version</var>)</em><a href='#index-AC_005fINIT-2' class='copiable-anchor'> &para;</a></span></dt>
<dd><p>Process any command-line arguments and perform initialization and verification.</p></dd></dl>
</div>
<div class="appendix" id="Indexes">
<div class="header"><p>Previous: <a href="#Definitions" accesskey="p" rel="prev">Definitions</a>, Up: <a href="#Top" accesskey="u" rel="up">Bash Features</a></p></div>
<span id="Indexes-1"></span><h2 class="appendix">Appendix D Indexes</h2>
<ul class="section-toc"><li><a href="#Builtin-Index" accesskey="1">Index of Shell Builtin Commands</a></li></ul>
<hr>
<div class="appendixsec" id="Builtin-Index">
<span id="Index-of-Shell-Builtin-Commands"></span><h3 class="appendixsec">D.1 Index of Shell Builtin Commands</h3>
<table><tr><th valign="top">Jump to: &nbsp; </th><td><a class="summary-letter" href="#Builtin-Index_bt_letter-A"><b>A</b></a>
 &nbsp; 
<a class="summary-letter" href="#Builtin-Index_bt_letter-B"><b>B</b></a></td></tr></table>
<table class="index-bt" border="0">
<tr><td></td><th align="left">Index Entry</th><td>&nbsp;</td><th align="left"> Section</th></tr>
<tr><td></td><td valign="top"><a href="#index-alias"><code>alias</code></a>:</td><td>&nbsp;</td><td valign="top"><a href="#Bash-Builtins">Bash Builtins</a></td></tr>
</table>
</div></div></body></html>"##;
        let p = read_ok(page);
        let text = all_text(&p);
        assert!(!text.contains('¶'), "{text}");
        assert!(text.contains("POSIX\n"), "{text}");
        assert!(
            text.contains("Macro: AC_INIT (package, version)\n"),
            "{text}"
        );
        let names: Vec<String> = headings(&p).into_iter().map(|h| h.1).collect();
        assert_eq!(names, ["Bash Reference Manual", "2 Definitions"]);
        // A page of an index alone (a split manual's index node) is headings only once the
        // index is dropped: skipped as empty, as a table-of-contents page is.
        let alone = page
            .split_once("<div class=\"chapter\"")
            .map(|(head, _)| head)
            .unwrap_or_default()
            .to_string()
            + &page[page.find("<div class=\"appendix\"").unwrap_or(0)..];
        let e = read(&alone, &Budget::unlimited()).unwrap_err();
        assert_eq!(e.reason, crate::read::SkipReason::Empty, "{e:?}");
    }

    /// pydata-sphinx-theme (Debian's python-pandas-doc, `pandas.Series.str.slice.html`),
    /// shortened: the previous/next page links under the content are not its text.
    #[test]
    fn pydata_prev_next_links_are_navigation() {
        let page = r##"<html><body><div class="container-xl"><div class="row">
<main class="col-12 col-md-9 col-xl-7 py-md-5 pl-md-5 pr-md-4 bd-content" role="main">
<div><section id="pandas-series-str-slice"><h1>pandas.Series.str.slice<a class="headerlink" href="#pandas-series-str-slice" title="Permalink to this headline">#</a></h1>
<p>Slice substrings from each element in the Series or Index.</p></section></div>
<div class='prev-next-bottom'></div>
<div class='prev-next-area'>
    <a class='left-prev' id="prev-link" href="pandas.Series.str.rstrip.html" title="previous page">
        <i class="fas fa-angle-left"></i>
        <div class="prev-next-info">
            <p class="prev-next-subtitle">previous</p>
            <p class="prev-next-title">pandas.Series.str.rstrip</p>
        </div>
    </a>
    <a class='right-next' id="next-link" href="pandas.Series.str.slice_replace.html" title="next page">
    <div class="prev-next-info">
        <p class="prev-next-subtitle">next</p>
        <p class="prev-next-title">pandas.Series.str.slice_replace</p>
    </div>
    </a>
</div>
</main></div></div></body></html>"##;
        let p = read_ok(page);
        assert_eq!(
            crate::read::testing::texts(&p),
            ["Slice substrings from each element in the Series or Index."]
        );
    }

    /// Javadoc 17 (Debian's libcommons-lang3-java-doc, `StringUtils.html`), shortened: a
    /// member's signature is code, and a summary table laid out as a grid of `div`s is
    /// read a row per line like a `<table>`.
    #[test]
    fn javadoc_17_signatures_are_code_and_summary_grids_are_tables() {
        let page = r##"<!DOCTYPE HTML>
<html lang="en"><head><title>StringUtils (Apache Commons Lang 3.12.0 API)</title></head><body class="class-declaration-page">
<div class="flex-box"><div class="flex-content"><main role="main">
<div class="header"><h1 title="Class StringUtils" class="title">Class StringUtils</h1></div>
<section class="description">
<div class="type-signature"><span class="modifiers">public class </span><span class="element-name"><a href="../../../../src-html/org/apache/commons/lang3/StringUtils.html#line-123">StringUtils</a></span>
<span class="extends-implements">extends <a href="https://docs.oracle.com/javase/8/docs/api/java/lang/Object.html" class="external-link">Object</a></span></div>
<div class="block"><p>Operations on <code>String</code> that are <code>null</code> safe.</p></div></section>
<section class="summary"><ul class="summary-list">
<li><section class="method-summary" id="method-summary"><h2>Method Summary</h2>
<div id="method-summary-table">
<div class="table-tabs" role="tablist" aria-orientation="horizontal"><button id="method-summary-table-tab0" role="tab" aria-selected="true" class="active-table-tab">All Methods</button></div>
<div id="method-summary-table.tabpanel" role="tabpanel">
<div class="summary-table three-column-summary">
<div class="table-header col-first">Modifier and Type</div>
<div class="table-header col-second">Method</div>
<div class="table-header col-last">Description</div>
<div class="col-first even-row-color method-summary-table"><code>static <a href="https://docs.oracle.com/javase/8/docs/api/java/lang/String.html" class="external-link">String</a></code></div>
<div class="col-second even-row-color method-summary-table"><code><a href="#abbreviate(java.lang.String,int)" class="member-name-link">abbreviate</a><wbr>(<a href="https://docs.oracle.com/javase/8/docs/api/java/lang/String.html" class="external-link">String</a>&nbsp;str,
 int&nbsp;maxWidth)</code></div>
<div class="col-last even-row-color method-summary-table">
<div class="block">Abbreviates a String using ellipses.</div>
</div>
<div class="col-first odd-row-color method-summary-table"><code>static boolean</code></div>
<div class="col-second odd-row-color method-summary-table"><code><a href="#isBlank(java.lang.CharSequence)" class="member-name-link">isBlank</a><wbr>(<a href="https://docs.oracle.com/javase/8/docs/api/java/lang/CharSequence.html" class="external-link">CharSequence</a>&nbsp;cs)</code></div>
<div class="col-last odd-row-color method-summary-table">
<div class="block">Checks if a CharSequence is empty (""), null or whitespace only.</div>
</div>
</div></div></div></section></li></ul></section>
<section class="details"><ul class="details-list"><li><section class="method-details" id="method-detail"><h2>Method Details</h2>
<ul class="member-list"><li><section class="detail" id="abbreviate(java.lang.String,int)">
<h3>abbreviate</h3>
<div class="member-signature"><span class="modifiers">public static</span>&nbsp;<span class="return-type"><a href="https://docs.oracle.com/javase/8/docs/api/java/lang/String.html" class="external-link">String</a></span>&nbsp;<span class="element-name"><a href="../../../../src-html/org/apache/commons/lang3/StringUtils.html#line-221">abbreviate</a></span><wbr><span class="parameters">(<a href="https://docs.oracle.com/javase/8/docs/api/java/lang/String.html" class="external-link">String</a>&nbsp;str,
 int&nbsp;maxWidth)</span></div>
<div class="block"><p>Abbreviates a String using ellipses.</p></div>
</section></li></ul></section></li></ul></section>
</main></div></div></body></html>"##;
        let p = read_ok(page);
        assert_eq!(
            crate::read::testing::codes(&p),
            [
                (
                    Some("java".to_string()),
                    "public class StringUtils\nextends Object".to_string()
                ),
                (
                    Some("java".to_string()),
                    "public static String abbreviate(String str,\n int maxWidth)".to_string()
                ),
            ]
        );
        let texts = crate::read::testing::texts(&p);
        assert!(
            texts.contains(
                &"Modifier and Type | Method | Description\n\
                  static String | abbreviate(String str, int maxWidth) | Abbreviates a String using ellipses.\n\
                  static boolean | isBlank(CharSequence cs) | Checks if a CharSequence is empty (\"\"), null or whitespace only."
                    .to_string()
            ),
            "{texts:#?}"
        );
        assert_eq!(
            crate::read::testing::rendered_loc(&p, "static boolean | isBlank"),
            Loc::new(
                line_of(page, "<code>static boolean"),
                line_of(page, "Checks if a CharSequence")
            )
        );
    }
}
