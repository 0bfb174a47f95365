//! Reading documents: walking a folder (honouring `.gitignore`, skipping hidden files),
//! choosing a reader per file, and turning each file into a [`Document`].
//!
//! Every file under the folder ends up either as a document or as a [`Skipped`] entry with
//! a [`SkipReason`], so the ingest summary can account for all of them. A [`Document`] is
//! the unit of change for incremental ingestion: its content hash decides whether it is
//! re-chunked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::IngestConfig;
use crate::error::{Error, Result};
use crate::read::html::attribute;
use crate::read::{self, Budget, Layout, ReadError, SkipReason};
pub use crate::read::{Format, EXTENSIONS};

/// A document's filterable fields, stored in its manifest entry: filters are evaluated per
/// document (its chunks are one contiguous range of one segment), so nothing is stored per
/// chunk.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DocMeta {
    /// The reader's name (`markdown`, `html`, `pdf`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// The source file's modified time, Unix seconds (for API documents: when received).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<i64>,
    /// Front-matter fields: each a scalar (string, number, boolean) or a list of scalars;
    /// nested tables are flattened to dotted names (`params.version`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// One source document, read fully into memory.
#[derive(Debug, Clone)]
pub struct Document {
    /// Path relative to the ingested folder, with `/` separators; the document's identity.
    /// Bytes that are not UTF-8 are kept as `\xNN` escapes (see [`rel_path`]).
    pub path: String,
    /// From front matter or the format's metadata, else the first heading, else the file
    /// stem.
    pub title: String,
    /// What is chunked: the whole file text for Markdown and plain text (front matter
    /// included, so line numbers match the file), the reader's rendering for converted
    /// formats (then `layout` maps it back to the file).
    pub text: String,
    /// Byte offset where the body starts (after front matter).
    pub body_start: usize,
    pub format: Format,
    /// blake3 of the file bytes (of the given title and the bytes, when a title was given;
    /// of the bytes and the files it included, when its reader followed includes), hex:
    /// decides whether the document changed.
    pub hash: String,
    /// For converted formats: headings, anchors and source locations of `text`.
    pub layout: Option<Arc<Layout>>,
    /// What filters test: format, front-matter fields, and (set by [`read_file`]) the
    /// file's modified time.
    pub meta: DocMeta,
    /// Files of the folder whose text this document holds (DocBook's `xi:include`s and
    /// external entities, reST's `include` and `literalinclude`, AsciiDoc's `include::`),
    /// relative to the folder;
    /// set by [`read_file`]. A fragment one of them names is read here, not again on its own.
    pub parts: Vec<String>,
    /// The file is a piece made to be included, not a page (a DocBook file that opens with
    /// a `refsect1` or a `variablelist`, a reST or AsciiDoc file with no section title): an ingest
    /// skips it as [`SkipReason::Included`] when another document holds it.
    pub fragment: bool,
}

impl Document {
    /// Builds a document from text already in memory (the BEIR loader and
    /// `POST /v1/documents` use this; the folder walk does too). Formats that need
    /// conversion (HTML, reStructuredText, …) go through their reader; binary formats
    /// (PDF, docx) cannot arrive as text and are refused.
    pub fn from_text(
        path: String,
        text: String,
        format: Format,
        title: Option<String>,
    ) -> Document {
        match Document::try_from_text(path.clone(), text.clone(), format, title.clone()) {
            Ok(d) => d,
            // A document sent as text whose reader refuses it is still text: index it plainly
            // rather than lose it.
            Err(_) => Document::plain(path, text, Format::Text, title),
        }
    }

    /// [`Document::from_text`], but saying why a reader refused the text.
    pub fn try_from_text(
        path: String,
        text: String,
        format: Format,
        title: Option<String>,
    ) -> std::result::Result<Document, ReadError> {
        let budget = Budget::new(Duration::from_secs(30), 256 << 20);
        Document::convert_text(path, text, format, title, &budget, None)
    }

    /// Runs the text format's reader within `budget`; `includes` finds the files it names
    /// (a folder's file has them, text sent over the API has not).
    fn convert_text(
        path: String,
        text: String,
        format: Format,
        title: Option<String>,
        budget: &Budget,
        includes: Option<&dyn read::Includes>,
    ) -> std::result::Result<Document, ReadError> {
        let hash = content_hash(title.as_deref(), text.as_bytes());
        type Reader = fn(&str, &Budget) -> std::result::Result<read::Parsed, ReadError>;
        let reader: Reader = match format {
            // A `.txt` AsciiDoc source (git's manuals before 2.49, AsciiDoc.py projects).
            Format::Text if read::asciidoc::looks_like_asciidoc(&text) => {
                let parsed = read::asciidoc::read_including(&text, budget, includes)?;
                return Ok(Document::piece(path, hash, Format::Asciidoc, title, parsed));
            }
            Format::Asciidoc => {
                let parsed = read::asciidoc::read_including(&text, budget, includes)?;
                return Ok(Document::piece(path, hash, format, title, parsed));
            }
            Format::Markdown | Format::Text => {
                return Ok(Document::plain(path, text, format, title));
            }
            Format::Mdx => {
                let mut d = Document::plain(path, read::mdx::clean(&text), format, title);
                d.hash = hash;
                return Ok(d);
            }
            // A `NOTES.1` that holds no roff is prose: read it as text.
            Format::Man if !read::man::looks_like_roff(&text) => {
                let mut d = Document::plain(path, text, Format::Text, title);
                d.hash = hash;
                return Ok(d);
            }
            Format::Html => read::html::read,
            Format::Ipynb => read::ipynb::read,
            Format::Man => read::man::read,
            Format::Pod => read::pod::read,
            Format::Info => read::info::read,
            // An `.xml` build file or data set is not documentation.
            Format::Docbook => {
                if !read::docbook::named(&path) {
                    read::docbook::sniff(&text)
                        .map_err(|why| ReadError::new(SkipReason::Unsupported, why))?;
                }
                let parsed = read::docbook::read_including(&text, budget, includes)?;
                let mut doc = Document::converted(path, hash, format, title, parsed);
                doc.fragment = read::docbook::is_fragment(&text);
                return Ok(doc);
            }
            Format::Rst => {
                let parsed = read::rst::read_including(&text, budget, includes)?;
                return Ok(Document::piece(path, hash, format, title, parsed));
            }
            Format::Texinfo => {
                let parsed = read::texinfo::read_including(&text, budget, includes)?;
                return Ok(Document::converted(path, hash, format, title, parsed));
            }
            Format::Pdf | Format::Docx => {
                return Err(ReadError::parse(format!(
                    "{} documents are binary; ingest the file from a folder instead",
                    format.name()
                )));
            }
        };
        let parsed = reader(&text, budget)?;
        Ok(Document::converted(path, hash, format, title, parsed))
    }

    /// [`Document::converted`] for a markup that includes files by name (reST, AsciiDoc):
    /// a file with no section title is a piece others include (a shared note, an Antora
    /// partial, docutils' `header.txt`), skipped when a page holds it.
    fn piece(
        path: String,
        hash: String,
        format: Format,
        title: Option<String>,
        parsed: read::Parsed,
    ) -> Document {
        let fragment = !parsed
            .blocks
            .iter()
            .any(|b| matches!(b, read::Block::Heading { .. }));
        let mut doc = Document::converted(path, hash, format, title, parsed);
        doc.fragment = fragment;
        doc
    }

    /// A document chunked as it is (Markdown, MDX after cleaning, plain text).
    fn plain(path: String, text: String, format: Format, title: Option<String>) -> Document {
        // The title is embedded and indexed with every chunk, so a given title is part of the
        // identity; folder documents (no title given) hash just their bytes.
        let hash = content_hash(title.as_deref(), text.as_bytes());
        // A UTF-8 byte-order mark (Windows editors) is neither metadata nor text.
        let bom = if text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        // Link definitions and HTML comments are blanked in place (lines stay the file's).
        let text = match format.markdown_like() {
            true => match read::markup::blank_hidden(&text) {
                std::borrow::Cow::Owned(blanked) => blanked,
                std::borrow::Cow::Borrowed(_) => text,
            },
            false => text,
        };
        let fm = if format.markdown_like() {
            front_matter(&text[bom..])
        } else {
            FrontMatter::default()
        };
        let (fm_title, fields) = (fm.title, fm.fields);
        let body_start = bom + fm.end;
        let title = title
            .or(fm_title)
            .or_else(|| {
                if format.markdown_like() {
                    first_heading(&text[body_start..])
                } else {
                    None
                }
            })
            .unwrap_or_else(|| file_stem(&path));
        // Plain text keeps its bytes; the sections a reader sees in it (underlined,
        // numbered, capitalised lines) give its chunks heading trails and cut points.
        let layout = (format == Format::Text)
            .then(|| read::text::headings(&text[body_start..]))
            .filter(|h| !h.is_empty())
            .map(|headings| read::Layout {
                unit: read::LocUnit::Lines,
                headings: headings
                    .into_iter()
                    .map(|h| read::HeadingAt {
                        offset: h.offset + body_start,
                        ..h
                    })
                    .collect(),
                spans: Vec::new(),
            })
            .map(std::sync::Arc::new);
        Document {
            path,
            title,
            text,
            body_start,
            format,
            hash,
            layout,
            meta: DocMeta {
                format: Some(format.name().to_string()),
                mtime: None,
                fields,
            },
            parts: Vec::new(),
            fragment: false,
        }
    }

    /// A document whose reader rendered it (see [`read::render`]).
    fn converted(
        path: String,
        hash: String,
        format: Format,
        title: Option<String>,
        parsed: read::Parsed,
    ) -> Document {
        let (text, layout) = read::render(&parsed);
        // The format's own title, whole. Dropping a generated site's "— <site name>" suffix
        // (keeping the page heading alone) was tried on the HTML doc set and scored lower
        // (hybrid success@5 0.857 against 0.886, dense 0.800 against 0.886), so the title
        // stays as the page gives it.
        let title = title
            .or(parsed.title.filter(|t| !t.trim().is_empty()))
            .or_else(|| {
                layout
                    .headings
                    .iter()
                    .find(|h| !h.text.is_empty())
                    .map(|h| h.text.clone())
            })
            .unwrap_or_else(|| file_stem(&path));
        Document {
            path,
            title: title.split_whitespace().collect::<Vec<_>>().join(" "),
            text,
            body_start: 0,
            format,
            hash,
            layout: Some(Arc::new(layout)),
            meta: DocMeta {
                format: Some(format.name().to_string()),
                ..DocMeta::default()
            },
            parts: Vec::new(),
            fragment: false,
        }
    }

    /// The text after front matter.
    pub fn body(&self) -> &str {
        &self.text[self.body_start..]
    }
}

fn content_hash(title: Option<&str>, bytes: &[u8]) -> String {
    match title {
        Some(t) => {
            let mut h = blake3::Hasher::new();
            h.update(t.as_bytes());
            h.update(&[0]);
            h.update(bytes);
            h.finalize().to_hex().to_string()
        }
        None => blake3::hash(bytes).to_hex().to_string(),
    }
}

/// The title a document gets when nothing better names it: its file name without the
/// extension.
pub fn file_stem(path: &str) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    match name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_string(),
        _ => name.to_string(),
    }
}

/// A file that was not ingested, and why; ingestion goes on and counts these.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Skipped {
    /// Relative to the ingested folder (lossless, as [`rel_path`] spells it).
    pub path: String,
    pub reason: SkipReason,
    /// What exactly went wrong ("encrypted", "first bad byte at offset 12", …).
    pub detail: String,
    /// How the summary counts a by-product, so it need not parse `detail` back: the
    /// generator folder it was found in (`_sources/`, or a whole build's
    /// `docs/_build/html/`), or [`BUILT_BESIDE`] for a page built beside its source; `None`
    /// for an index, search or print page and for any other skip.
    #[serde(skip)]
    pub group: Option<String>,
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{} ({})", self.path, self.reason)
        } else {
            write!(f, "{} ({}: {})", self.path, self.reason, self.detail)
        }
    }
}

/// A file the walk found a reader for.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub path: PathBuf,
    pub format: Format,
}

/// Everything under a folder: the files to read and the ones already skipped by the walk
/// (unsupported, excluded, links, special files, unreadable entries).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub files: Vec<Candidate>,
    pub skipped: Vec<Skipped>,
}

/// Lists every file under `root` (hidden files and `.gitignore`d ones are not part of a
/// docs folder and are not listed), in a stable (sorted) order.
pub fn list_files(root: &Path, cfg: &IngestConfig) -> Result<Listing> {
    if !root.exists() {
        return Err(Error::Corpus {
            path: root.to_path_buf(),
            message: "folder does not exist".into(),
        });
    }
    if !root.is_dir() {
        return Err(Error::Corpus {
            path: root.to_path_buf(),
            message: "not a folder".into(),
        });
    }
    let filters = Filters::new(root, cfg)?;
    let mut generators = Generators::default();
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        // Honour .gitignore files even when the folder is not inside a git checkout.
        .require_git(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let mut listing = Listing::default();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = match &e {
                    ignore::Error::WithPath { path, .. } => rel_path(root, path),
                    _ => String::from("?"),
                };
                listing.skipped.push(Skipped {
                    path,
                    reason: SkipReason::Unreadable,
                    detail: e.to_string(),
                    group: None,
                });
                continue;
            }
        };
        let Some(ft) = entry.file_type() else {
            continue; // stdin, never produced by a directory walk
        };
        if ft.is_dir() {
            continue;
        }
        let path = entry.into_path();
        let rel = rel_path(root, &path);
        let skip = |reason, detail: &str| Skipped {
            path: rel.clone(),
            reason,
            detail: detail.to_string(),
            group: None,
        };
        if ft.is_symlink() {
            listing.skipped.push(skip(
                SkipReason::Symlink,
                "symbolic links are not followed (they may leave the folder or loop)",
            ));
            continue;
        }
        if !ft.is_file() {
            listing.skipped.push(skip(
                SkipReason::SpecialFile,
                "not a regular file (FIFO, socket or device)",
            ));
            continue;
        }
        if !filters.wanted(&path) {
            listing
                .skipped
                .push(skip(SkipReason::Excluded, "ingest.include/exclude"));
            continue;
        }
        let Some(format) = generators.format_of(&path, &cfg.formats) else {
            listing.skipped.push(skip(SkipReason::Unsupported, ""));
            continue;
        };
        let by_product = cfg.skip_generated.then(|| {
            generators.by_product(root, &path).or_else(|| {
                (format == Format::Html)
                    .then(|| {
                        generators.built_beside_source(&path, |src| {
                            filters.wanted(src)
                                && Format::for_path_with(src, &cfg.formats).is_some()
                        })
                    })
                    .flatten()
            })
        });
        match by_product.flatten() {
            Some(b) => listing.skipped.push(Skipped {
                group: b.group,
                ..skip(SkipReason::Generated, &b.detail)
            }),
            None => listing.files.push(Candidate { path, format }),
        }
    }
    Ok(listing)
}

/// Finds the by-products of documentation generators: files a generator writes beside the
/// pages it renders, which its own search leaves out and which would otherwise compete with
/// the pages (a Sphinx page and its `_sources/page.rst.txt` copy hold the same words; an
/// mdBook's `print.html` holds every chapter again).
///
/// A generator's output folder is recognised by the files it always writes there (see
/// [`Generator`]); what is skipped is what that generator's own search does not index.
#[derive(Default)]
pub struct Generators {
    /// Folder → the generator whose output root it is, if any.
    roots: std::collections::HashMap<PathBuf, Option<Generator>>,
    /// Sphinx build root → the nearest folder above it holding the `conf.py` it was built
    /// from, if any.
    sources: std::collections::HashMap<PathBuf, Option<PathBuf>>,
    /// HTML page → the one-file generator its `<meta name="generator">` names, if any.
    pages: std::collections::HashMap<PathBuf, Option<PageBuilder>>,
}

/// The documentation generators whose output lore recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    /// Sphinx HTML builds: `objects.inv` or `searchindex.js` at the root.
    Sphinx,
    /// mdBook: `book.js` beside `searchindex.js`/`searchindex.json` or `print.html`.
    MdBook,
    /// rustdoc: `search-index*.js` and `crates*.js` at the root.
    Rustdoc,
    /// Javadoc: `element-list`, or `package-list` with `stylesheet.css`, at the root.
    Javadoc,
    /// Doxygen HTML: `doxygen.css` at the root.
    Doxygen,
    /// texi2html (GNU manuals, e.g. Debian's gettext-doc): `P_abt.html`, its help page for
    /// the navigation buttons, beside `P_toc.html`.
    Texi2html,
    /// gtk-doc (GLib, GTK and the GNOME libraries' API references): `NAME.devhelp2`, the
    /// book's index for the Devhelp browser, at the root.
    GtkDoc,
    /// rdoc's darkfish theme (Ruby libraries): `js/darkfish.js` and `table_of_contents.html`.
    Rdoc,
    /// MkDocs: `search/search_index.json` (its built-in search) at the root.
    MkDocs,
    /// Node.js's API documentation: `all.html` beside `all.json` (Debian: `all.json.gz`).
    NodeDocs,
}

impl Generator {
    fn name(self) -> &'static str {
        match self {
            Generator::Sphinx => "Sphinx build",
            Generator::MdBook => "mdBook",
            Generator::Rustdoc => "rustdoc output",
            Generator::Javadoc => "Javadoc output",
            Generator::Doxygen => "Doxygen output",
            Generator::Texi2html => "texi2html output",
            Generator::GtkDoc => "gtk-doc output",
            Generator::Rdoc => "rdoc output",
            Generator::MkDocs => "MkDocs site",
            Generator::NodeDocs => "Node.js API docs",
        }
    }

    /// Folders at the root that hold no pages, and what they hold.
    fn folders(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Generator::Sphinx => &[
                ("_sources", "a copy of a page's source"),
                ("_modules", "highlighted source code"),
                ("_static", "a static file of the theme or the project"),
                ("_images", "an image file"),
                ("_downloads", "a file offered for download"),
            ],
            Generator::MdBook => &[
                ("FontAwesome", "a static file of the theme"),
                ("css", "a static file of the theme"),
                ("fonts", "a static file of the theme"),
            ],
            Generator::Rustdoc => &[
                ("src", "highlighted source code"),
                ("implementors", "a script of the documentation"),
                ("static.files", "a static file of the theme"),
            ],
            Generator::Javadoc => &[
                ("src-html", "highlighted source code"),
                ("index-files", "a page of the generated index"),
                ("legal", "a licence of the documentation tool"),
                ("resources", "a static file of the theme"),
                ("script-dir", "a static file of the theme"),
            ],
            Generator::Doxygen => &[("search", "a page of the search index")],
            Generator::MkDocs => &[("search", "a file of the search index")],
            Generator::Texi2html | Generator::GtkDoc | Generator::Rdoc | Generator::NodeDocs => &[],
        }
    }

    /// Why a page at `rel` (relative to the root, `/`-separated) is not documentation.
    fn page(self, rel: &str) -> Option<&'static str> {
        let (dir, name) = rel.rsplit_once('/').unwrap_or(("", rel));
        let top = dir.is_empty();
        match self {
            Generator::Sphinx => (top
                && (name.starts_with("genindex")
                    || name == "search.html"
                    || name.ends_with("-modindex.html")))
            .then_some("a generated index or search page"),
            Generator::MdBook => match name {
                "print.html" if top => Some("every chapter again on one page"),
                "toc.html" | "404.html" if top => Some("the table of contents or error page"),
                _ => None,
            },
            Generator::Rustdoc => match name {
                "settings.html" | "help.html" if top => Some("a page of the documentation viewer"),
                // One per crate: every item's name, as links.
                "all.html" if !dir.contains('/') => Some("a generated list of all items"),
                _ => None,
            },
            Generator::Javadoc => {
                // Listings and cross references built from the class pages, which are read.
                let listing = matches!(
                    name,
                    "package-tree.html" | "package-use.html" | "package-frame.html"
                ) || dir.split('/').any(|c| c == "class-use")
                    || top
                        && (name.starts_with("allclasses")
                            || matches!(
                                name,
                                "index-all.html"
                                    | "allpackages-index.html"
                                    | "overview-tree.html"
                                    | "overview-frame.html"
                                    | "constant-values.html"
                                    | "serialized-form.html"
                                    | "help-doc.html"
                                    | "search.html"
                            ));
                listing.then_some("a generated index, tree or cross-reference page")
            }
            Generator::Doxygen => {
                let index = ["functions", "globals", "namespacemembers"]
                    .iter()
                    .any(|p| name.starts_with(p))
                    || matches!(
                        name,
                        "files.html"
                            | "annotated.html"
                            | "classes.html"
                            | "hierarchy.html"
                            | "inherits.html"
                            | "namespaces.html"
                            | "modules.html"
                            | "graph_legend.html"
                    );
                // With CREATE_SUBDIRS, pages sit in hashed folders (`d6/d97/`); their
                // names still say what they are. The index pages stay at the root.
                if name.ends_with("_source.html") {
                    Some("highlighted source code")
                } else if name.ends_with("-members.html") {
                    Some("a list of members the class page also has")
                } else if name.starts_with("dir_") {
                    Some("a generated index page")
                } else {
                    (top && index).then_some("a generated index page")
                }
            }
            Generator::Rdoc => {
                (top && name == "table_of_contents.html").then_some("the table of contents")
            }
            Generator::MkDocs => (top && name == "404.html").then_some("the error page"),
            Generator::NodeDocs => {
                (top && name == "all.html").then_some("every page again on one page")
            }
            // Every symbol of the library again, as links to the pages that document it.
            Generator::GtkDoc => {
                (top && name.starts_with("api-index-")).then_some("a generated index page")
            }
            Generator::Texi2html => {
                if !top {
                    None
                } else if name.ends_with("_abt.html") {
                    Some("the help page of the navigation buttons")
                } else if name.ends_with("_toc.html") || name.ends_with("_ovr.html") {
                    Some("the table of contents")
                } else {
                    None
                }
            }
        }
    }

    /// The generator whose output root `dir` is, from the files it always writes there.
    fn of_root(dir: &Path) -> Option<Generator> {
        let has = |name: &str| dir.join(name).is_file();
        // MkDocs 1.4 writes an `objects.inv` too, so it is told apart first.
        if has("search/search_index.json") {
            return Some(Generator::MkDocs);
        }
        if has("objects.inv") {
            return Some(Generator::Sphinx);
        }
        // mdBook writes a `searchindex.js` too, so it is told apart first.
        if has("book.js") && (has("searchindex.js") || has("searchindex.json") || has("print.html"))
        {
            return Some(Generator::MdBook);
        }
        if has("searchindex.js") {
            return Some(Generator::Sphinx);
        }
        // Javadoc before 1.4 wrote neither list (Debian's gettext-doc `javadoc2/`).
        if has("element-list")
            || (has("package-list") || has("allclasses-frame.html")) && has("stylesheet.css")
        {
            return Some(Generator::Javadoc);
        }
        if has("doxygen.css") {
            return Some(Generator::Doxygen);
        }
        if has("js/darkfish.js") && has("table_of_contents.html") {
            return Some(Generator::Rdoc);
        }
        if has("all.html") && (has("all.json") || has("all.json.gz")) {
            return Some(Generator::NodeDocs);
        }
        let names: Vec<String> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".js") || n.ends_with("_abt.html") || n.ends_with(".devhelp2"))
            .collect();
        if names.iter().any(|n| n.ends_with(".devhelp2")) {
            return Some(Generator::GtkDoc);
        }
        let any = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
        if any("search-index") && any("crates") {
            return Some(Generator::Rustdoc);
        }
        names
            .iter()
            .filter_map(|n| n.strip_suffix("_abt.html"))
            .any(|manual| has(&format!("{manual}_toc.html")))
            .then_some(Generator::Texi2html)
    }
}

impl Generators {
    /// Why `path` (under `root`) is a generator's by-product, or `None` for a page. The
    /// innermost generator root above the file decides (books nest inside books).
    pub fn by_product(&mut self, root: &Path, path: &Path) -> Option<ByProduct> {
        let mut dir = path.parent();
        while let Some(d) = dir.filter(|d| d.starts_with(root)) {
            if let Some(generator) = self.generator(d) {
                let rel = rel_path(d, path);
                let at = match rel_path(root, d).as_str() {
                    "" => format!("the {} at the folder's root", generator.name()),
                    r => format!("the {} {r}/", generator.name()),
                };
                if generator == Generator::Sphinx {
                    if let Some(src) = self.sources_of(root, d) {
                        return Some(ByProduct {
                            detail: format!(
                                "{at} was built from the Sphinx sources in {src}, which are read"
                            ),
                            group: Some(format!("{}/", rel_path(root, d))),
                        });
                    }
                }
                let (first, rest) = rel.split_once('/').unwrap_or((rel.as_str(), ""));
                if !rest.is_empty() {
                    if let Some(&(folder, what)) =
                        generator.folders().iter().find(|(f, _)| *f == first)
                    {
                        return Some(ByProduct {
                            detail: format!("{what}, in {at} ({folder}/)"),
                            group: Some(format!("{folder}/")),
                        });
                    }
                }
                return generator.page(&rel).map(|what| ByProduct {
                    detail: format!("{what} of {at}"),
                    group: None,
                });
            }
            dir = d.parent();
        }
        None
    }

    /// The Sphinx source folder (`conf.py`) that the build at `build` was made from, when it
    /// is inside `root`: `docs/_build/html` from `docs/`, `docs/build/html` from
    /// `docs/source/`. A build left in the sources holds every page a second time.
    fn sources_of(&mut self, root: &Path, build: &Path) -> Option<String> {
        // The nearest source folder above the build, wherever it is: one inside `root`, if
        // any, is nearer than any outside it, so the cache holds for every root.
        let nearest = self.sources.entry(build.to_path_buf()).or_insert_with(|| {
            build.ancestors().skip(1).find_map(|a| {
                [a.to_path_buf(), a.join("source")].into_iter().find(|d| {
                    // `conf.py` alone could be any Python project's; the root document says
                    // it is Sphinx's.
                    d.join("conf.py").is_file()
                        && ["index.rst", "index.md", "contents.rst", "index.txt"]
                            .iter()
                            .any(|n| d.join(n).is_file())
                })
            })
        });
        let src = nearest.as_deref().filter(|d| d.starts_with(root))?;
        Some(match rel_path(root, src).as_str() {
            "" => "the folder's root".to_string(),
            r => format!("{r}/"),
        })
    }

    /// The reader for a file: the one its name says ([`Format::for_path_with`]), except that
    /// a `.txt` that is the source of a page a one-file generator built beside it is read
    /// as the markup it is written in (`FAQ.txt` beside the `FAQ.html` Docutils made of it
    /// is reStructuredText), by its structure rather than as plain text.
    pub fn format_of(
        &mut self,
        path: &Path,
        overrides: &std::collections::BTreeMap<String, Format>,
    ) -> Option<Format> {
        let format = Format::for_path_with(path, overrides)?;
        if format == Format::Text && has_extension(path, "txt") && !overrides.contains_key("txt") {
            if let Some(markup) = self.markup_of_source(path) {
                return Some(markup);
            }
        }
        Some(format)
    }

    fn markup_of_source(&mut self, txt: &Path) -> Option<Format> {
        ["html", "htm"].iter().find_map(|ext| {
            let page = txt.with_extension(ext);
            if !page.is_file() {
                return None;
            }
            let builder = self.page_builder(&page)?;
            builder
                .sources()
                .iter()
                .find(|(e, _)| *e == "txt")
                .map(|&(_, f)| f)
        })
    }

    /// Why an HTML page is skipped: a one-file generator built it from the source beside it,
    /// which is read instead (by its own reader, with the source's lines to cite).
    /// `readable` says whether the source will be read (included, and a format lore reads);
    /// without that, the page is kept.
    pub fn built_beside_source(
        &mut self,
        page: &Path,
        readable: impl Fn(&Path) -> bool,
    ) -> Option<ByProduct> {
        // Most pages have no source beside them: a few `stat`s, and no read of the page.
        let mut extensions: Vec<&str> = PageBuilder::ALL
            .iter()
            .flat_map(|b| b.sources().iter().map(|&(ext, _)| ext))
            .collect();
        extensions.sort_unstable();
        extensions.dedup();
        let beside: Vec<_> = extensions
            .into_iter()
            .map(|ext| (ext, page.with_extension(ext)))
            .filter(|(_, src)| src.is_file())
            .collect();
        if beside.is_empty() {
            return None;
        }
        let builder = self.page_builder(page)?;
        let (_, src) = beside
            .into_iter()
            .find(|(ext, src)| builder.sources().iter().any(|(e, _)| e == ext) && readable(src))?;
        let name = src.file_name()?.to_string_lossy();
        Some(ByProduct {
            detail: format!(
                "built by {} from {name} beside it, which is read",
                builder.name()
            ),
            group: Some(BUILT_BESIDE.to_string()),
        })
    }

    fn page_builder(&mut self, page: &Path) -> Option<PageBuilder> {
        if let Some(&b) = self.pages.get(page) {
            return b;
        }
        let b = PageBuilder::of_page(page);
        self.pages.insert(page.to_path_buf(), b);
        b
    }

    fn generator(&mut self, dir: &Path) -> Option<Generator> {
        // Looked up before inserting: most files share a folder already seen, and the key
        // is only allocated for a new one.
        if let Some(&g) = self.roots.get(dir) {
            return g;
        }
        let g = Generator::of_root(dir);
        self.roots.insert(dir.to_path_buf(), g);
        g
    }
}

/// How the summary counts the pages a one-file generator built beside their sources.
pub const BUILT_BESIDE: &str = "pages built beside their sources";

/// A generator that turns one source file into one HTML page written beside it, and names
/// itself in the page's `<meta name="generator">` (`rst2html`, `asciidoc`/`asciidoctor`,
/// `pandoc -s`). Packages ship both (Debian's docutils-doc: `FAQ.txt` and `FAQ.html`, 64
/// pairs), and both read would put every answer in two result slots with different texts,
/// which folding exact copies cannot catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PageBuilder {
    Docutils,
    AsciiDoc,
    Pandoc,
}

impl PageBuilder {
    const ALL: [PageBuilder; 3] = [
        PageBuilder::Docutils,
        PageBuilder::AsciiDoc,
        PageBuilder::Pandoc,
    ];

    fn of_meta(content: &str) -> Option<PageBuilder> {
        let c = content.trim_start().to_ascii_lowercase();
        if c.starts_with("docutils") {
            Some(PageBuilder::Docutils)
        } else if c.starts_with("asciidoc") {
            // AsciiDoc (Python) and Asciidoctor.
            Some(PageBuilder::AsciiDoc)
        } else if c.starts_with("pandoc") {
            Some(PageBuilder::Pandoc)
        } else {
            None
        }
    }

    fn name(self) -> &'static str {
        match self {
            PageBuilder::Docutils => "Docutils",
            PageBuilder::AsciiDoc => "AsciiDoc",
            PageBuilder::Pandoc => "pandoc",
        }
    }

    /// The source extensions it reads, each with the reader for it: a `.txt` source is in
    /// the generator's own markup (Docutils and AsciiDoc both default to `.txt`).
    fn sources(self) -> &'static [(&'static str, Format)] {
        match self {
            PageBuilder::Docutils => &[
                ("txt", Format::Rst),
                ("rst", Format::Rst),
                ("rest", Format::Rst),
            ],
            PageBuilder::AsciiDoc => &[
                ("txt", Format::Asciidoc),
                ("adoc", Format::Asciidoc),
                ("asciidoc", Format::Asciidoc),
                ("asc", Format::Asciidoc),
            ],
            PageBuilder::Pandoc => &[
                ("md", Format::Markdown),
                ("markdown", Format::Markdown),
                ("rst", Format::Rst),
            ],
        }
    }

    /// The generator a page's head names. Only the first 8 KB are read: the meta tag sits
    /// in the head, before any content.
    fn of_page(page: &Path) -> Option<PageBuilder> {
        use std::io::Read;
        let mut head = Vec::with_capacity(8192);
        std::fs::File::open(page)
            .ok()?
            .take(8192)
            .read_to_end(&mut head)
            .ok()?;
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let builder = crate::read::html::head_meta_tags(&head).find_map(|tag| {
            (attribute(tag, "name")? == "generator")
                .then(|| attribute(tag, "content"))
                .flatten()
                .and_then(PageBuilder::of_meta)
        });
        builder
    }
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// A generator's by-product: why it is one, and how the summary counts it
/// ([`Skipped::group`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ByProduct {
    pub detail: String,
    pub group: Option<String>,
}

/// `ingest.include` / `ingest.exclude`, matched against the path relative to the folder.
struct Filters {
    root: PathBuf,
    include: Option<ignore::overrides::Override>,
    exclude: Option<ignore::overrides::Override>,
}

impl Filters {
    fn new(root: &Path, cfg: &IngestConfig) -> Result<Filters> {
        let build = |globs: &[String]| -> Result<Option<ignore::overrides::Override>> {
            if globs.is_empty() {
                return Ok(None);
            }
            let mut b = ignore::overrides::OverrideBuilder::new(root);
            for g in globs {
                b.add(g)
                    .map_err(|e| Error::Config(format!("ingest glob `{g}`: {e}")))?;
            }
            b.build()
                .map(Some)
                .map_err(|e| Error::Config(format!("ingest globs: {e}")))
        };
        Ok(Filters {
            root: root.to_path_buf(),
            include: build(&cfg.include)?,
            exclude: build(&cfg.exclude)?,
        })
    }

    fn wanted(&self, path: &Path) -> bool {
        // An override set treats its globs as whitelist entries: `is_whitelist` means the
        // path matched one of them. As in a `.gitignore`, a glob that names a folder (`old/`,
        // `old`, `build/**`) covers every file under it, so the folders on the way are
        // matched too.
        let matches = |o: &ignore::overrides::Override| {
            o.matched(path, false).is_whitelist()
                || path
                    .ancestors()
                    .skip(1)
                    .take_while(|a| a.starts_with(&self.root) && *a != self.root)
                    .any(|dir| o.matched(dir, true).is_whitelist())
        };
        self.include.as_ref().is_none_or(matches) && !self.exclude.as_ref().is_some_and(matches)
    }
}

/// Reads one file with its format's reader, within the configured size and time limits.
/// Never panics: a reader's panic becomes a `parse_error` skip.
pub fn read_file(
    root: &Path,
    candidate: &Candidate,
    cfg: &IngestConfig,
) -> std::result::Result<Document, Skipped> {
    let rel = rel_path(root, &candidate.path);
    let skip = |e: ReadError| Skipped {
        path: rel.clone(),
        reason: e.reason,
        detail: e.detail,
        group: None,
    };
    let max_bytes = (cfg.max_file_mb * 1_000_000.0) as u64;
    let meta = std::fs::metadata(&candidate.path)
        .map_err(|e| skip(ReadError::new(SkipReason::Unreadable, e.to_string())))?;
    if meta.len() > max_bytes {
        return Err(skip(ReadError::new(
            SkipReason::TooLarge,
            format!(
                "{:.1} MB is over ingest.max_file_mb = {}",
                meta.len() as f64 / 1e6,
                cfg.max_file_mb
            ),
        )));
    }
    let bytes = std::fs::read(&candidate.path)
        .map_err(|e| skip(ReadError::new(SkipReason::Unreadable, e.to_string())))?;
    let is_gzip = candidate
        .path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let hash = blake3::hash(&bytes).to_hex().to_string();
    let bytes = if is_gzip {
        gunzip(&bytes, max_bytes, cfg.max_file_mb).map_err(skip)?
    } else {
        bytes
    };
    let budget = Budget::new(
        Duration::from_secs_f64(cfg.file_timeout_s),
        // Extracted text may be larger than the file (compressed PDF streams, docx), but not
        // without bound: a zip bomb stops here.
        (max_bytes as usize).saturating_mul(4).max(16 << 20),
    );
    let format = candidate.format;
    let includes = FolderIncludes::new(root, &candidate.path, max_bytes);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_bytes(rel.clone(), &bytes, format, &budget, hash, &includes)
    }))
    .unwrap_or_else(|panic| {
        Err(ReadError::parse(format!(
            "the {} reader failed: {}",
            format.name(),
            crate::error::panic_message(panic.as_ref())
        )))
    });
    let mut doc = result.map_err(skip)?;
    doc.hash = includes.identity(doc.hash);
    doc.parts = includes.parts.take();
    doc.meta.mtime = meta.modified().ok().and_then(unix_seconds);
    if doc.body().trim().is_empty() {
        return Err(skip(ReadError::new(
            SkipReason::Empty,
            "no text once markup is removed",
        )));
    }
    Ok(doc)
}

/// [`read::Includes`] over the ingested folder. A name resolves beside the including file
/// and must stay inside the folder (no `..` or link out of it) and within
/// `ingest.max_file_mb`. Every name asked for, found or not, is remembered, and
/// [`FolderIncludes::identity`] folds them into the including document's hash: a manual is
/// read again when the `version.texi` it takes its `@set`s from changes, appears or goes.
struct FolderIncludes {
    /// The ingested folder as given; resolved only when a reader asks for a file (most
    /// files include nothing, and resolving costs a system call per file).
    root: PathBuf,
    resolved: std::cell::OnceCell<Option<PathBuf>>,
    /// The including file's folder.
    dir: PathBuf,
    max_bytes: u64,
    asked: std::cell::RefCell<Vec<(String, Option<blake3::Hash>)>>,
    /// The files spliced in ([`read::Includes::spliced`]), relative to the folder, sorted.
    parts: std::cell::RefCell<Vec<String>>,
}

impl FolderIncludes {
    fn new(root: &Path, file: &Path, max_bytes: u64) -> FolderIncludes {
        // `a.texi`'s folder is the empty path, which names no folder to resolve.
        let here = |p: &Path| match p.as_os_str().is_empty() {
            true => PathBuf::from("."),
            false => p.to_path_buf(),
        };
        FolderIncludes {
            root: here(root),
            resolved: std::cell::OnceCell::new(),
            dir: here(file.parent().unwrap_or(Path::new(""))),
            max_bytes,
            asked: Default::default(),
            parts: Default::default(),
        }
    }

    /// `own` (the file's hash) when nothing was included, else a hash of it and of every
    /// included name with its bytes' hash, in the order the reader asked.
    fn identity(&self, own: String) -> String {
        let asked = self.asked.borrow();
        if asked.is_empty() {
            return own;
        }
        let mut h = blake3::Hasher::new();
        h.update(own.as_bytes());
        for (name, bytes) in asked.iter() {
            h.update(b"\0");
            h.update(name.as_bytes());
            h.update(bytes.as_ref().map_or(&[0u8; 32], |b| b.as_bytes()));
        }
        h.finalize().to_hex().to_string()
    }

    fn find(&self, name: &str) -> Option<PathBuf> {
        if let Some(path) = self.antora(name) {
            return self.confined(path);
        }
        let path = match name.strip_prefix('/') {
            // Sphinx's "absolute" names start at the source folder: the nearest one up
            // holding `conf.py`, else the ingested folder.
            Some(rel) => self
                .dir
                .ancestors()
                .take_while(|a| a.starts_with(&self.root))
                .find(|a| a.join("conf.py").is_file())
                .unwrap_or(&self.root)
                .join(rel),
            None => self.dir.join(name),
        };
        self.confined(path)
    }

    /// An Antora resource ID (`partial$table.adoc`, `example$conf.rb`,
    /// `other-module:partial$x.adoc`) as a path: the family's folder in the module of the
    /// page that names it (`modules/M/pages/a/b.adoc` → `modules/M/partials/table.adoc`).
    /// IDs naming another component or version are not resolved.
    fn antora(&self, name: &str) -> Option<PathBuf> {
        const FAMILIES: [(&str, &str); 4] = [
            ("partial", "partials"),
            ("example", "examples"),
            ("attachment", "attachments"),
            ("page", "pages"),
        ];
        let (head, rest) = name.split_once('$')?;
        let (module, family) = match head.split_once(':') {
            Some((m, f)) if !m.contains([':', '@']) => (Some(m), f),
            Some(_) => return None,
            None => (None, head),
        };
        let (_, folder) = FAMILIES.iter().find(|(f, _)| *f == family)?;
        let family_dir = self
            .dir
            .ancestors()
            .take_while(|a| a.starts_with(&self.root))
            .find(|a| {
                a.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| FAMILIES.iter().any(|(_, f)| *f == n))
            })?;
        let own = family_dir.parent()?;
        let module_dir = match module.filter(|m| !m.is_empty()) {
            Some(m) => own.parent()?.join(m),
            None => own.to_path_buf(),
        };
        Some(module_dir.join(folder).join(rest))
    }

    /// `path` when it is a file inside the ingested folder within the size limit.
    fn confined(&self, path: PathBuf) -> Option<PathBuf> {
        let path = path.canonicalize().ok()?;
        let root = self.resolved.get_or_init(|| self.root.canonicalize().ok());
        let inside = path.starts_with(root.as_ref()?);
        let meta = std::fs::metadata(&path).ok()?;
        (inside && meta.is_file() && meta.len() <= self.max_bytes).then_some(path)
    }
}

impl read::Includes for FolderIncludes {
    fn include(&self, name: &str) -> Option<String> {
        let name = name.trim();
        let bytes = self
            .find(name)
            .filter(|_| !name.is_empty())
            .and_then(|p| std::fs::read(p).ok());
        self.asked
            .borrow_mut()
            .push((name.to_string(), bytes.as_ref().map(|b| blake3::hash(b))));
        read::decode::decode(&bytes?).ok()
    }

    fn spliced(&self, name: &str) {
        let Some(path) = self.find(name.trim()) else {
            return;
        };
        let Some(Some(root)) = self.resolved.get() else {
            return;
        };
        let rel = rel_path(root, &path);
        let mut parts = self.parts.borrow_mut();
        if let Err(i) = parts.binary_search(&rel) {
            parts.insert(i, rel);
        }
    }
}

/// The contents of a gzip file, refused past `max_bytes` (a small file can expand without
/// bound).
fn gunzip(bytes: &[u8], max_bytes: u64, max_mb: f64) -> std::result::Result<Vec<u8>, ReadError> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .take(max_bytes + 1)
        .read_to_end(&mut out)
        .map_err(|e| ReadError::parse(format!("not a readable gzip file: {e}")))?;
    if out.len() as u64 > max_bytes {
        return Err(ReadError::new(
            SkipReason::TooLarge,
            format!("decompresses to more than ingest.max_file_mb = {max_mb}"),
        ));
    }
    Ok(out)
}

fn read_bytes(
    rel: String,
    bytes: &[u8],
    format: Format,
    budget: &Budget,
    hash: String,
    includes: &FolderIncludes,
) -> std::result::Result<Document, ReadError> {
    let parsed = match format {
        Format::Pdf => read::pdf::read(bytes, budget)?,
        Format::Docx => read::docx::read(bytes, budget)?,
        _ => {
            let text = read::decode::decode(bytes)?;
            let mut doc = Document::convert_text(rel, text, format, None, budget, Some(includes))?;
            // Identity is the file's bytes, whatever encoding they were decoded from.
            doc.hash = hash;
            return Ok(doc);
        }
    };
    Ok(Document::converted(rel, hash, format, None, parsed))
}

/// A path relative to `root` with `/` separators. Bytes that are not UTF-8 become `\xNN`
/// (and a literal backslash `\\`), so two different names never collapse into one.
pub fn rel_path(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| escape_os(c.as_os_str()))
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(unix)]
fn escape_os(s: &std::ffi::OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    let bytes = s.as_bytes();
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.contains('\\') => s.to_string(),
        _ => {
            let mut out = String::with_capacity(bytes.len() + 8);
            for chunk in bytes.utf8_chunks() {
                out.push_str(&chunk.valid().replace('\\', "\\\\"));
                for b in chunk.invalid() {
                    out.push_str(&format!("\\x{b:02x}"));
                }
            }
            out
        }
    }
}

#[cfg(not(unix))]
fn escape_os(s: &std::ffi::OsStr) -> String {
    s.to_string_lossy().into_owned()
}

/// Seconds since the Unix epoch (negative before it), for `mtime` filters.
pub fn unix_seconds(t: std::time::SystemTime) -> Option<i64> {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok(),
        Err(e) => i64::try_from(e.duration().as_secs()).ok().map(|s| -s),
    }
}

/// Splits YAML (`---`) or TOML (`+++`) front matter off a Markdown file.
/// Returns the `title` if present and the byte offset where the body starts.
pub fn parse_front_matter(text: &str) -> (Option<String>, usize) {
    let f = front_matter(text);
    (f.title, f.end)
}

/// A Markdown file's front matter: its title, its fields (what filters test) and where the
/// body starts.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FrontMatter {
    pub title: Option<String>,
    /// Byte offset where the body starts (0 without front matter).
    pub end: usize,
    /// Scalars and lists of scalars, nested tables flattened to dotted names; at most
    /// [`MAX_FIELDS`] fields, each string cut to [`MAX_VALUE_BYTES`].
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// Front-matter fields kept per document (the manifest holds them for every document, so a
/// hostile file must not grow it without bound).
pub const MAX_FIELDS: usize = 64;
/// Longest string value (or field name) kept, in bytes.
pub const MAX_VALUE_BYTES: usize = 256;
/// Most elements kept of one list.
const MAX_LIST: usize = 64;
/// Deepest nesting flattened (`a.b.c.d`); deeper values are left out.
const MAX_DEPTH: usize = 4;

/// Splits off and parses front matter. A block that is not valid YAML/TOML still ends
/// before the body (it is metadata, not text), but contributes no fields; its `title:`
/// line is still read as before.
pub fn front_matter(text: &str) -> FrontMatter {
    let fence = if text.starts_with("---") {
        "---"
    } else if text.starts_with("+++") {
        "+++"
    } else {
        return FrontMatter::default();
    };
    let first_line_end = match text.find('\n') {
        Some(i) => i + 1,
        None => return FrontMatter::default(),
    };
    if text[..first_line_end].trim_end() != fence {
        return FrontMatter::default();
    }
    let mut offset = first_line_end;
    for line in text[first_line_end..].split_inclusive('\n') {
        if line.trim_end() == fence {
            let meta = &text[first_line_end..offset];
            let end = offset + line.len();
            let fields = if fence == "+++" {
                toml_fields(meta)
            } else {
                yaml_fields(meta)
            };
            let title = match fields.get("title") {
                Some(serde_json::Value::String(t)) => Some(t.clone()),
                _ if fence == "---" => yaml_title(meta),
                _ => None,
            };
            return FrontMatter {
                title: title.filter(|t| !t.is_empty()),
                end,
                fields,
            };
        }
        offset += line.len();
    }
    // An opening fence with no closing one is body text, not metadata.
    FrontMatter::default()
}

/// A parsed front-matter value before flattening.
enum Node {
    Null,
    Scalar(serde_json::Value),
    List(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// Builds [`Node`]s from YAML events. Aliases become null rather than copies of their
/// anchor (so nested aliases cannot multiply), and containers nested deeper than
/// [`MAX_DEPTH`] + 1 are skipped (so dropping the tree cannot recurse deeply).
#[derive(Default)]
struct YamlTree {
    /// Open containers, each with a map's pending key.
    stack: Vec<(Node, Option<Node>)>,
    /// Containers opened past the depth limit and not yet closed.
    skipped: usize,
    root: Option<Node>,
}

impl YamlTree {
    fn add(&mut self, n: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(n);
                }
            }
            Some((Node::List(items), _)) => items.push(n),
            Some((Node::Map(entries), pending)) => match pending.take() {
                None => *pending = Some(n),
                Some(k) => entries.push((k, n)),
            },
            Some(_) => {}
        }
    }

    fn open(&mut self, n: Node) {
        if self.skipped > 0 || self.stack.len() > MAX_DEPTH {
            self.skipped += 1;
        } else {
            self.stack.push((n, None));
        }
    }

    fn close(&mut self) {
        if self.skipped > 0 {
            self.skipped -= 1;
            if self.skipped == 0 {
                self.add(Node::Null);
            }
        } else if let Some((n, _)) = self.stack.pop() {
            self.add(n);
        }
    }
}

impl yaml_rust2::parser::EventReceiver for YamlTree {
    fn on_event(&mut self, ev: yaml_rust2::Event) {
        use yaml_rust2::scanner::TScalarStyle;
        use yaml_rust2::{Event, Yaml};
        match ev {
            Event::Scalar(..) | Event::Alias(_) if self.skipped > 0 => {}
            Event::Scalar(text, style, _, tag) => {
                let as_string =
                    style != TScalarStyle::Plain || tag.is_some_and(|t| t.suffix == "str");
                let v = if as_string {
                    Node::Scalar(serde_json::Value::String(text))
                } else {
                    match Yaml::from_str(&text) {
                        Yaml::Integer(i) => Node::Scalar(i.into()),
                        Yaml::Boolean(b) => Node::Scalar(b.into()),
                        // Kept as written, so `1.10` stays a version, not 1.1.
                        Yaml::Real(r) => Node::Scalar(serde_json::Value::String(r)),
                        Yaml::String(s) => Node::Scalar(serde_json::Value::String(s)),
                        _ => Node::Null,
                    }
                };
                self.add(v);
            }
            Event::Alias(_) => self.add(Node::Null),
            Event::SequenceStart(..) => self.open(Node::List(Vec::new())),
            Event::MappingStart(..) => self.open(Node::Map(Vec::new())),
            Event::SequenceEnd | Event::MappingEnd => self.close(),
            _ => {}
        }
    }
}

/// The fields of a YAML front-matter block (empty when it is not a valid YAML mapping).
fn yaml_fields(meta: &str) -> BTreeMap<String, serde_json::Value> {
    let mut tree = YamlTree::default();
    let mut parser = yaml_rust2::parser::Parser::new_from_str(meta);
    let mut out = BTreeMap::new();
    if parser.load(&mut tree, false).is_ok() {
        if let Some(root @ Node::Map(_)) = tree.root.take() {
            flatten("", root, 0, &mut out);
        }
    }
    out
}

/// The fields of a TOML front-matter block (empty when it is not valid TOML).
fn toml_fields(meta: &str) -> BTreeMap<String, serde_json::Value> {
    fn node(v: toml::Value, depth: usize) -> Node {
        match v {
            toml::Value::String(s) => Node::Scalar(s.into()),
            toml::Value::Integer(i) => Node::Scalar(i.into()),
            toml::Value::Float(f) => {
                serde_json::Number::from_f64(f).map_or(Node::Null, |n| Node::Scalar(n.into()))
            }
            toml::Value::Boolean(b) => Node::Scalar(b.into()),
            toml::Value::Datetime(d) => Node::Scalar(d.to_string().into()),
            _ if depth > MAX_DEPTH => Node::Null,
            toml::Value::Array(a) => {
                Node::List(a.into_iter().map(|v| node(v, depth + 1)).collect())
            }
            toml::Value::Table(t) => Node::Map(
                t.into_iter()
                    .map(|(k, v)| (Node::Scalar(k.into()), node(v, depth + 1)))
                    .collect(),
            ),
        }
    }
    let mut out = BTreeMap::new();
    if let Ok(t) = toml::from_str::<toml::Table>(meta) {
        flatten("", node(toml::Value::Table(t), 0), 0, &mut out);
    }
    out
}

/// A scalar's text for a field name.
fn key_text(k: &Node) -> Option<String> {
    match k {
        Node::Scalar(serde_json::Value::String(s)) => Some(s.clone()),
        Node::Scalar(v) => Some(v.to_string()),
        _ => None,
    }
}

/// A scalar for storing, strings cut to [`MAX_VALUE_BYTES`] (at a character boundary).
fn bounded(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(mut s) if s.len() > MAX_VALUE_BYTES => {
            let mut at = MAX_VALUE_BYTES;
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.truncate(at);
            serde_json::Value::String(s)
        }
        v => v,
    }
}

/// Adds `node` under `name` (tables as `name.key`), within the field and size limits.
fn flatten(name: &str, node: Node, depth: usize, out: &mut BTreeMap<String, serde_json::Value>) {
    if out.len() >= MAX_FIELDS && !name.is_empty() {
        return;
    }
    match node {
        Node::Null => {}
        Node::Scalar(v) => {
            if !name.is_empty() {
                out.insert(name.to_string(), bounded(v));
            }
        }
        Node::List(items) => {
            if name.is_empty() {
                return;
            }
            let list: Vec<serde_json::Value> = items
                .into_iter()
                .filter_map(|n| match n {
                    Node::Scalar(v) => Some(bounded(v)),
                    _ => None,
                })
                .take(MAX_LIST)
                .collect();
            out.insert(name.to_string(), serde_json::Value::Array(list));
        }
        Node::Map(entries) => {
            if depth >= MAX_DEPTH {
                return;
            }
            for (k, v) in entries {
                let Some(k) = key_text(&k).filter(|k| !k.is_empty()) else {
                    continue;
                };
                let full = if name.is_empty() {
                    k
                } else {
                    format!("{name}.{k}")
                };
                if full.len() <= MAX_VALUE_BYTES {
                    flatten(&full, v, depth + 1, out);
                }
            }
        }
    }
}

/// The top-level `title:` of a YAML block (scalars only; enough for front matter).
fn yaml_title(meta: &str) -> Option<String> {
    meta.lines().find_map(|line| {
        let rest = line.strip_prefix("title:")?;
        let v = rest.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
            .unwrap_or(v);
        Some(v.to_string())
    })
}

/// The text of the first level-1 heading (a real one: `#` lines inside code blocks are not
/// headings).
fn first_heading(body: &str) -> Option<String> {
    use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
    let mut inside = false;
    let mut text = String::new();
    for event in Parser::new(body) {
        match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H1,
                ..
            }) => inside = true,
            Event::Text(t) | Event::Code(t) if inside => text.push_str(&t),
            Event::End(TagEnd::Heading(HeadingLevel::H1)) => {
                let t = text.trim();
                if !t.is_empty() {
                    return Some(t.to_string());
                }
                inside = false;
                text.clear();
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_naming_a_folder_covers_every_file_under_it() {
        let root = Path::new("/docs");
        let filters = |include: &[&str], exclude: &[&str]| {
            let cfg = IngestConfig {
                include: include.iter().map(|g| g.to_string()).collect(),
                exclude: exclude.iter().map(|g| g.to_string()).collect(),
                ..Default::default()
            };
            Filters::new(root, &cfg).expect("globs")
        };
        let f = filters(&[], &["drafts/", "attic", "build/**", "*.tmp.md"]);
        for (path, wanted) in [
            ("guide.md", true),
            ("drafts/wip.md", false),
            ("drafts/deep/er.md", false),
            ("api/attic/old.md", false),
            ("build/html/index.html", false),
            ("notes.tmp.md", false),
            ("draftsman.md", true),
            ("api/attic.md", true),
        ] {
            assert_eq!(f.wanted(&root.join(path)), wanted, "{path}");
        }
        // The folder the globs are relative to is not itself matched.
        let f = filters(&[], &["docs/"]);
        assert!(f.wanted(&root.join("guide.md")));
        let f = filters(&["guide/"], &[]);
        assert!(f.wanted(&root.join("guide/install.md")));
        assert!(!f.wanted(&root.join("api/install.md")));
    }

    #[test]
    fn yaml_front_matter_is_metadata() {
        let text = "---\ntitle: \"Install guide\"\ntags: [a]\n---\n# Heading\nbody\n";
        let (title, start) = parse_front_matter(text);
        assert_eq!(title.as_deref(), Some("Install guide"));
        assert_eq!(&text[start..], "# Heading\nbody\n");
    }

    #[test]
    fn toml_front_matter_is_metadata() {
        let text = "+++\ntitle = 'Config'\n+++\nbody\n";
        let (title, start) = parse_front_matter(text);
        assert_eq!(title.as_deref(), Some("Config"));
        assert_eq!(&text[start..], "body\n");
    }

    #[test]
    fn yaml_fields_keep_types_lists_and_version_text() {
        let text = "---\ntitle: Guide\ntags: [api, \"cli\"]\nversion: 1.10\nrev: 3\ndraft: false\nparams:\n  lang: en\nempty:\nanchor: &a x\nalias: *a\n---\nbody\n";
        let f = front_matter(text);
        assert_eq!(f.title.as_deref(), Some("Guide"));
        assert_eq!(&text[f.end..], "body\n");
        let j = serde_json::json!({
            "title": "Guide", "tags": ["api", "cli"], "version": "1.10", "rev": 3,
            "draft": false, "params.lang": "en", "anchor": "x"
        });
        assert_eq!(serde_json::to_value(&f.fields).unwrap(), j);
    }

    #[test]
    fn toml_fields_and_bad_blocks() {
        let f = front_matter("+++\ntags = ['a']\nversion = 2\n[extra]\nlang = 'de'\n+++\nx");
        assert_eq!(f.fields["tags"], serde_json::json!(["a"]));
        assert_eq!(f.fields["version"], serde_json::json!(2));
        assert_eq!(f.fields["extra.lang"], serde_json::json!("de"));
        // Not YAML: still metadata (the body starts after it), no fields, title still read.
        let text = "---\ntitle: A: B\n  - [\n---\nbody";
        let f = front_matter(text);
        assert!(f.fields.is_empty());
        assert_eq!(f.title.as_deref(), Some("A: B"));
        assert_eq!(&text[f.end..], "body");
    }

    #[test]
    fn hostile_front_matter_is_bounded() {
        // Billion laughs: aliases are not expanded.
        let mut y = String::from("---\na: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..9 {
            y.push_str(&format!(
                "b{i}: &b{i} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
                p = if i == 0 {
                    "a".to_string()
                } else {
                    format!("b{}", i - 1)
                }
            ));
        }
        y.push_str("---\nbody");
        let f = front_matter(&y);
        assert_eq!(f.fields["a"].as_array().map(Vec::len), Some(10));
        // Deep nesting and many fields stay within the limits.
        let deep = format!(
            "---\nd: {}{}\n---\n",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        let _ = front_matter(&deep);
        let many: String = (0..1000)
            .map(|i| format!("k{i}: {}\n", "v".repeat(1000)))
            .collect();
        let f = front_matter(&format!("---\n{many}---\n"));
        assert_eq!(f.fields.len(), MAX_FIELDS);
        assert!(f
            .fields
            .values()
            .all(|v| v.as_str().is_some_and(|s| s.len() <= MAX_VALUE_BYTES)));
    }

    #[test]
    fn unclosed_fence_is_body() {
        let text = "---\nnot front matter\n";
        assert_eq!(parse_front_matter(text), (None, 0));
    }

    #[test]
    fn title_falls_back_to_heading_then_stem() {
        let d = Document::from_text(
            "a/b.md".into(),
            "intro\n# Real title\n".into(),
            Format::Markdown,
            None,
        );
        assert_eq!(d.title, "Real title");
        let d = Document::from_text("a/notes.txt".into(), "plain".into(), Format::Text, None);
        assert_eq!(d.title, "notes");
    }

    /// git's manuals before 2.49 (`git-add.txt`) are AsciiDoc named `.txt`: read as AsciiDoc,
    /// with their sections' anchors; a plain `.txt` stays plain text.
    #[test]
    fn asciidoc_named_txt_is_read_as_asciidoc() {
        let src = "git-frob(1)\n===========\n\nOPTIONS\n-------\n-n::\n\tDry run.\n\n\
                   include::config.txt[]\n\nPart of the linkgit:git[1] suite\n";
        let d = Document::from_text("git-frob.txt".into(), src.into(), Format::Text, None);
        assert_eq!(d.format, Format::Asciidoc);
        assert!(
            d.text.contains("## OPTIONS") && !d.text.contains("-------"),
            "{}",
            d.text
        );
        let d = Document::from_text(
            "notes.txt".into(),
            "Notes\n=====\n\nPlain.\n".into(),
            Format::Text,
            None,
        );
        assert_eq!(d.format, Format::Text);
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_names_stay_distinct() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt;
        let root = Path::new("/r");
        let a = root.join(OsStr::from_bytes(b"\xff.md"));
        let b = root.join(OsStr::from_bytes(b"\xfe.md"));
        let c = root.join(OsStr::from_bytes(b"\\xff.md"));
        let names = [rel_path(root, &a), rel_path(root, &b), rel_path(root, &c)];
        assert_eq!(names[0], "\\xff.md");
        assert_eq!(names[1], "\\xfe.md");
        assert_eq!(names[2], "\\\\xff.md");
    }

    #[test]
    fn overrides_choose_the_reader() {
        let mut o = BTreeMap::new();
        o.insert("txt".to_string(), Format::Asciidoc);
        assert_eq!(
            Format::for_path_with(Path::new("a/B.TXT"), &o),
            Some(Format::Asciidoc)
        );
        assert_eq!(Format::for_path(Path::new("a/b.txt")), Some(Format::Text));
        assert_eq!(Format::for_path(Path::new("a/b.png")), None);
        // An override of `txt` wins over what the name says is inside.
        assert_eq!(
            Format::for_path_with(Path::new("_sources/a.rst.txt"), &o),
            Some(Format::Asciidoc)
        );
    }

    #[test]
    fn a_source_published_as_txt_is_read_by_its_inner_extension() {
        let f = |p: &str| Format::for_path(Path::new(p));
        assert_eq!(f("_sources/usage/intro.rst.txt"), Some(Format::Rst));
        assert_eq!(f("notes.MD.txt"), Some(Format::Markdown));
        assert_eq!(f("guide.adoc.txt"), Some(Format::Asciidoc));
        assert_eq!(f("tour.ipynb.txt"), Some(Format::Ipynb));
        // Not text a person writes, or no inner extension: plain text as before.
        assert_eq!(f("conf.py.txt"), Some(Format::Text));
        assert_eq!(f("manual.pdf.txt"), Some(Format::Text));
        assert_eq!(f("page.html.txt"), Some(Format::Text));
        assert_eq!(f(".rst.txt"), Some(Format::Text));
        assert_eq!(f("a.rst.bak"), None);
    }

    #[test]
    fn a_gzip_file_is_read_by_the_name_inside() {
        let f = |p: &str| Format::for_path(Path::new(p));
        assert_eq!(f("usr/share/doc/x/README.rst.gz"), Some(Format::Rst));
        assert_eq!(f("NEWS.md.GZ"), Some(Format::Markdown));
        assert_eq!(f("manual.pdf.gz"), Some(Format::Pdf));
        assert_eq!(f("intro.rst.txt.gz"), Some(Format::Rst));
        assert_eq!(f("changelog.gz"), Some(Format::Text));
        assert_eq!(f("pod/perlfunc.pod.gz"), Some(Format::Pod));
        assert_eq!(f("usr/share/info/sed.info.gz"), Some(Format::Info));
        assert_eq!(f("usr/share/info/emacs.info-12.gz"), Some(Format::Info));
        assert_eq!(f("m4.info-2"), Some(Format::Info));
        assert_eq!(f("doc/coreutils.texi"), Some(Format::Texinfo));
        assert_eq!(f("doc/screen.texinfo"), Some(Format::Texinfo));
        assert_eq!(f("doc/gawkinet.txi"), Some(Format::Texinfo));
        assert_eq!(f("notes.info-x.gz"), None);
        assert_eq!(f("changelog.Debian.gz"), Some(Format::Text));
        assert_eq!(f("logo.png.gz"), None);
    }

    #[test]
    fn man_pages_are_known_by_their_section() {
        let f = |p: &str| Format::for_path(Path::new(p));
        for name in [
            "man3/CURLOPT_URL.3.gz",
            "man1/ls.1",
            "man3/Tcl_Eval.3tcl.gz",
            "man1/openssl.1ssl.gz",
            "man3/POSIX.3perl.gz",
            "doc/after.n",
            "doc/tool.man",
        ] {
            assert_eq!(f(name), Some(Format::Man), "{name}");
        }
        // A rotated changelog is text; numbers and long suffixes are not sections.
        assert_eq!(f("changelog.1"), Some(Format::Text));
        assert_eq!(f("archive.001"), None);
        assert_eq!(f("notes.10"), None);
        assert_eq!(f("x.1verylong"), None);
    }

    #[test]
    fn documentation_named_without_an_extension_is_plain_text() {
        let f = |p: &str| Format::for_path(Path::new(p));
        for name in [
            "README",
            "docs/NEWS",
            "ChangeLog",
            "INSTALL",
            "CONTRIBUTING",
            "readme",
            "README.Debian",
            "README.Debian-Source",
            "README.W32",
            "README.customs",
            "changelog.1",
        ] {
            assert_eq!(f(name), Some(Format::Text), "{name}");
        }
        // Any other extensionless file, or a well-known name with a code, template or backup
        // suffix, is not.
        for name in [
            "COPYING",
            "AUTHORS",
            "Makefile",
            "objects",
            "README.sh",
            "INSTALL.in",
            "NEWS.orig",
            "README.old",
            "README.",
            "README..x",
        ] {
            assert_eq!(f(name), None, "{name}");
        }
        // Known extensions decide first.
        assert_eq!(f("README.md"), Some(Format::Markdown));
        assert_eq!(f("CHANGES.rst"), Some(Format::Rst));
    }

    #[test]
    fn gunzip_refuses_what_expands_past_the_limit_and_what_is_not_gzip() {
        use std::io::Write;
        let gz = |data: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        };
        assert_eq!(gunzip(&gz(b"# Hi\n"), 100, 1e-4).unwrap(), b"# Hi\n");
        // 10 MB of zeros is a few KB compressed.
        let bomb = gz(&vec![0u8; 10_000_000]);
        assert!(bomb.len() < 20_000);
        let e = gunzip(&bomb, 1_000_000, 1.0).unwrap_err();
        assert_eq!(e.reason, SkipReason::TooLarge, "{e:?}");
        assert!(e.detail.contains("max_file_mb = 1"), "{}", e.detail);
        let e = gunzip(b"plain text, not gzip", 100, 1.0).unwrap_err();
        assert_eq!(e.reason, SkipReason::ParseError, "{e:?}");
    }

    #[test]
    fn a_manual_takes_its_includes_definitions_and_is_read_again_when_they_change() {
        let tmp = tempfile::TempDir::new().unwrap();
        let root = tmp.path().join("docs");
        std::fs::create_dir_all(root.join("doc")).unwrap();
        // Outside the ingested folder: never read, even when named.
        std::fs::write(tmp.path().join("secret.texi"), "@set SECRET leaked\n").unwrap();
        let write = |rel: &str, text: &str| std::fs::write(root.join(rel), text).unwrap();
        write(
            "doc/manual.texi",
            "\\input texinfo\n@include version.texi\n@include ../../secret.texi\n@node Top\n@top Frob @value{VERSION}\n\nFrob @value{VERSION} keeps @value{SECRET} out.\n@bye\n",
        );
        write("doc/version.texi", "@set VERSION 1.0\n");
        let cfg = IngestConfig::default();
        let read = || {
            let listing = list_files(&root, &cfg).unwrap();
            let c = listing
                .files
                .iter()
                .find(|c| c.path.ends_with("manual.texi"))
                .unwrap();
            read_file(&root, c, &cfg).unwrap()
        };
        let first = read();
        assert_eq!(first.title, "Frob 1.0");
        assert!(
            first.body().contains("Frob 1.0 keeps SECRET out."),
            "{}",
            first.body()
        );
        // Its identity covers what it included: unchanged files, the same hash; a new
        // version, a new hash (so an incremental ingest reads the manual again).
        assert_eq!(read().hash, first.hash);
        assert_ne!(
            first.hash,
            blake3::hash(&std::fs::read(root.join("doc/manual.texi")).unwrap())
                .to_hex()
                .to_string()
        );
        // Definitions are not text: `version.texi` is not a part of the manual.
        assert!(first.parts.is_empty(), "{:?}", first.parts);
        write("doc/version.texi", "@set VERSION 1.1\n");
        let second = read();
        assert_ne!(second.hash, first.hash);
        assert_eq!(second.title, "Frob 1.1");
        // A file that includes nothing keeps the hash of its bytes.
        let listing = list_files(&root, &cfg).unwrap();
        let v = listing
            .files
            .iter()
            .find(|c| c.path.ends_with("version.texi"))
            .unwrap();
        let skipped = read_file(&root, v, &cfg).unwrap_err();
        assert_eq!(skipped.reason, SkipReason::Empty);
    }

    #[test]
    fn a_docbook_page_names_the_files_whose_text_it_holds() {
        let tmp = tempfile::TempDir::new().unwrap();
        let root = tmp.path().join("docs");
        std::fs::create_dir_all(root.join("man")).unwrap();
        std::fs::create_dir_all(root.join("shared")).unwrap();
        std::fs::write(
            tmp.path().join("outside.xml"),
            "<para id='x'>outside</para>",
        )
        .unwrap();
        let write = |rel: &str, text: &str| std::fs::write(root.join(rel), text).unwrap();
        write(
            "man/frob.xml",
            "<refentry xmlns:xi='http://www.w3.org/2001/XInclude'><refsect1><title>Options</title>\
             <variablelist><xi:include href='../shared/opts.xml' xpointer='help'/>\
             <xi:include href='../shared/opts.xml' xpointer='nonesuch'/>\
             <xi:include href='../../outside.xml' xpointer='x'/>\
             <xi:include href='missing.xml'/></variablelist>\
             <programlisting><xi:include href='example.c' parse='text'/></programlisting>\
             </refsect1></refentry>",
        );
        write(
            "shared/opts.xml",
            "<variablelist><varlistentry id='help'><term>--help</term>\
             <listitem><para>Print help.</para></listitem></varlistentry></variablelist>",
        );
        write("man/example.c", "int main(void) { return 0; }\n");
        let cfg = IngestConfig::default();
        let listing = list_files(&root, &cfg).unwrap();
        let read = |name: &str| {
            let c = listing.files.iter().find(|c| c.path.ends_with(name));
            read_file(&root, c.unwrap(), &cfg).unwrap()
        };
        let page = read("frob.xml");
        assert!(page.body().contains("Print help."), "{}", page.body());
        assert!(!page.body().contains("outside"), "{}", page.body());
        // What was spliced in, once each, sorted; not a file outside the folder, a missing
        // one, or an id the file does not have.
        assert_eq!(page.parts, ["man/example.c", "shared/opts.xml"]);
        assert!(!page.fragment);
        let opts = read("opts.xml");
        assert!(opts.fragment && opts.parts.is_empty());
    }

    #[test]
    fn a_page_names_its_generator_in_any_attribute_order_and_quoting() {
        let tmp = tempfile::TempDir::new().unwrap();
        let builder = |head: &str| {
            let p = tmp.path().join("page.html");
            std::fs::write(
                &p,
                format!("<html><head>{head}</head><body>x</body></html>"),
            )
            .unwrap();
            PageBuilder::of_page(&p)
        };
        use PageBuilder::*;
        for (head, want) in [
            (
                r#"<meta name="generator" content="Docutils 0.19: https://x" />"#,
                Some(Docutils),
            ),
            (
                r#"<META CONTENT='Asciidoctor 2.0.18' NAME='generator'>"#,
                Some(AsciiDoc),
            ),
            (
                r#"<meta charset="utf-8"><meta name=generator content="pandoc">"#,
                Some(Pandoc),
            ),
            (
                r#"<meta name="generator" content="AsciiDoc 10.2.0">"#,
                Some(AsciiDoc),
            ),
            // Another generator, another attribute ending in `name`, a meta after the head.
            (r#"<meta name="generator" content="Sphinx 5.3.0">"#, None),
            (r#"<meta data-name="generator" content="Docutils">"#, None),
            (r#"</head><meta name="generator" content="Docutils">"#, None),
        ] {
            assert_eq!(builder(head), want, "{head}");
        }
    }

    #[test]
    fn sphinx_by_products_are_named_only_inside_a_sphinx_build() {
        let tmp = tempfile::TempDir::new().unwrap();
        let root = tmp.path();
        let write = |rel: &str| {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
            p
        };
        write("site/objects.inv");
        write("docs/build/html/searchindex.js");
        let mut g = Generators::default();
        let mut why = |rel: &str| g.by_product(root, &write(rel)).map(|b| b.detail);
        // Pages are not by-products; each by-product's detail says what it is and where.
        let mut check = |pages: &[&str], by_products: &[(&str, &str, &str)]| {
            for page in pages {
                assert_eq!(why(page), None, "{page}");
            }
            for (by_product, says, at) in by_products {
                let detail = why(by_product).unwrap_or_else(|| panic!("{by_product} not named"));
                assert!(
                    detail.contains(says) && detail.contains(at),
                    "{by_product}: {detail}"
                );
            }
        };
        check(
            &[
                "site/index.html",
                "site/usage/intro.html",
                "site/usage/_sources/deep.rst.txt", // `_sources` only counts at the build's root
                "site/changes.html",
                "site/searching.html",
                "other/_sources/page.rst.txt", // no Sphinx build here
                "other/genindex.html",
                "docs/build/html/api.html",
            ],
            &[
                (
                    "site/_sources/usage/intro.rst.txt",
                    "a copy of a page's source",
                    "Sphinx build site/",
                ),
                (
                    "site/_modules/frob/core.html",
                    "highlighted source code",
                    "Sphinx build site/",
                ),
                (
                    "site/_static/conf.py.txt",
                    "a static file",
                    "Sphinx build site/",
                ),
                (
                    "site/_images/plot.pdf",
                    "an image file",
                    "Sphinx build site/",
                ),
                (
                    "site/_downloads/abc/example.ipynb",
                    "a file offered for download",
                    "Sphinx build site/",
                ),
                (
                    "site/genindex.html",
                    "generated index or search page",
                    "Sphinx build site/",
                ),
                (
                    "site/genindex-A.html",
                    "generated index or search page",
                    "Sphinx build site/",
                ),
                (
                    "site/search.html",
                    "generated index or search page",
                    "Sphinx build site/",
                ),
                (
                    "site/py-modindex.html",
                    "generated index or search page",
                    "Sphinx build site/",
                ),
                (
                    "docs/build/html/_sources/api.rst.txt",
                    "copy of a page's source",
                    "Sphinx build docs/build/html/",
                ),
            ],
        );
        // mdBook (books nest inside books) and rustdoc.
        for marker in [
            "rust/book/book.js",
            "rust/book/searchindex.js",
            "rust/book/first-edition/book.js",
            "rust/book/first-edition/print.html",
            "rust/search-index1.63.0.js",
            "rust/crates1.63.0.js",
        ] {
            write(marker);
        }
        check(
            &[
                "rust/book/ch01-00-getting-started.html",
                "rust/book/first-edition/ownership.html",
                "rust/book/appendix/print.html",
                "rust/std/vec/struct.Vec.html",
                "rust/std/index.html",
                "rust/guide-ffi.html",
                "rust/std/vec/all.html",
            ],
            &[
                (
                    "rust/book/print.html",
                    "every chapter again",
                    "mdBook rust/book/",
                ),
                (
                    "rust/book/toc.html",
                    "table of contents",
                    "mdBook rust/book/",
                ),
                (
                    "rust/book/first-edition/print.html",
                    "every chapter again",
                    "mdBook rust/book/first-edition/",
                ),
                (
                    "rust/src/core/option.rs.html",
                    "highlighted source code",
                    "rustdoc output rust/",
                ),
                (
                    "rust/std/all.html",
                    "list of all items",
                    "rustdoc output rust/",
                ),
                (
                    "rust/settings.html",
                    "documentation viewer",
                    "rustdoc output rust/",
                ),
            ],
        );
        // Javadoc and Doxygen, as Debian's libcommons-lang3-java-doc and libjsoncpp-doc lay
        // them out.
        for marker in [
            "java/api/element-list",
            "cpp/html/doxygen.css",
            "gettext/javadoc2/allclasses-frame.html",
            "gettext/javadoc2/stylesheet.css",
            "gettext/gettext_toc.html",
            "gettext/gettext_abt.html",
            "gtk-doc/html/glib/glib.devhelp2",
            "ruby/html/js/darkfish.js",
            "ruby/html/table_of_contents.html",
            "mkdocs/html/objects.inv",
            "mkdocs/html/search/search_index.json",
            "node/api/all.json.gz",
            "node/api/all.html",
        ] {
            write(marker);
        }
        check(
            &[
                "java/api/index.html",
                "java/api/overview-summary.html",
                "java/api/deprecated-list.html",
                "java/api/org/apache/commons/lang3/StringUtils.html",
                "java/api/org/apache/commons/lang3/package-summary.html",
                "cpp/html/index.html",
                "cpp/html/class_json_1_1_value.html",
                "cpp/html/namespace_json.html",
                "cpp/html/writer_8h.html",
                "cpp/html/deprecated.html",
                "cpp/html/d6/d97/_s_d_l__atomic_8h.html", // CREATE_SUBDIRS (libsdl2-doc)
                "cpp/html/d6/d97/functions_note.html",    // an index name only counts at the root
                "gettext/gettext_11.html",
                "gettext/gettext_fot.html", // footnotes are text
                "gettext/javadoc2/gnu/gettext/GettextResource.html",
                "other/manual_toc.html", // no help page beside it: not texi2html's
                "gtk-doc/html/glib/glib-Hash-Tables.html",
                "gtk-doc/html/glib/annotation-glossary.html",
                "other/api-index-full.html", // no devhelp2 beside it: not gtk-doc's
                "ruby/html/Asciidoctor/Block.html",
                "mkdocs/html/index.html",
                "mkdocs/html/user-guide/404.html", // only the root's error page
                "node/api/path.html",
            ],
            &[
                (
                    "java/api/index-all.html",
                    "generated index",
                    "Javadoc output java/api/",
                ),
                (
                    "java/api/allclasses-index.html",
                    "generated index",
                    "Javadoc",
                ),
                ("java/api/overview-tree.html", "tree", "Javadoc"),
                (
                    "java/api/org/apache/commons/lang3/class-use/StringUtils.html",
                    "cross-reference",
                    "Javadoc",
                ),
                (
                    "java/api/org/apache/commons/lang3/package-tree.html",
                    "tree",
                    "Javadoc",
                ),
                (
                    "java/api/src-html/org/apache/commons/lang3/StringUtils.html",
                    "highlighted source code",
                    "Javadoc",
                ),
                (
                    "cpp/html/writer_8h_source.html",
                    "highlighted source code",
                    "Doxygen output cpp/html/",
                ),
                (
                    "cpp/html/class_json_1_1_value-members.html",
                    "list of members",
                    "Doxygen",
                ),
                (
                    "cpp/html/functions_func_n.html",
                    "generated index",
                    "Doxygen",
                ),
                ("cpp/html/globals.html", "generated index", "Doxygen"),
                (
                    "cpp/html/dir_e68e8157741866f444e17edd764ebbae.html",
                    "generated index",
                    "Doxygen",
                ),
                ("cpp/html/annotated.html", "generated index", "Doxygen"),
                (
                    "gtk-doc/html/glib/api-index-full.html",
                    "generated index",
                    "gtk-doc output gtk-doc/html/glib/",
                ),
                (
                    "gtk-doc/html/glib/api-index-deprecated.html",
                    "generated index",
                    "gtk-doc",
                ),
                (
                    "cpp/html/d6/d97/_s_d_l__atomic_8h_source.html",
                    "highlighted source code",
                    "Doxygen output cpp/html/",
                ),
                (
                    "cpp/html/d0/d1a/struct_s_d_l___rect-members.html",
                    "list of members",
                    "Doxygen",
                ),
                (
                    "cpp/html/d4/d6b/dir_1a2b3c.html",
                    "generated index",
                    "Doxygen",
                ),
                ("cpp/html/search/all_0.html", "search index", "Doxygen"),
                (
                    "gettext/gettext_abt.html",
                    "navigation buttons",
                    "texi2html output gettext/",
                ),
                ("gettext/gettext_toc.html", "table of contents", "texi2html"),
                (
                    "ruby/html/table_of_contents.html",
                    "table of contents",
                    "rdoc output ruby/html/",
                ),
                (
                    "mkdocs/html/404.html",
                    "error page",
                    "MkDocs site mkdocs/html/",
                ),
                (
                    "node/api/all.html",
                    "every page again",
                    "Node.js API docs node/api/",
                ),
                ("gettext/gettext_ovr.html", "table of contents", "texi2html"),
                (
                    "gettext/javadoc2/index-all.html",
                    "generated index",
                    "Javadoc output gettext/javadoc2/",
                ),
            ],
        );
        // A build left inside the Sphinx sources it was built from is skipped whole: each
        // page is read from its source. Both layouts sphinx-quickstart offers.
        for f in [
            "proj/docs/conf.py",
            "proj/docs/index.rst",
            "proj/docs/_build/html/objects.inv",
            "split/docs/source/conf.py",
            "split/docs/source/index.md",
            "split/docs/build/html/searchindex.js",
            "app/conf.py", // a Python project's, not Sphinx's: no root document
            "app/build/html/objects.inv",
        ] {
            write(f);
        }
        check(
            &[
                "proj/docs/index.rst",
                "split/docs/source/index.md",
                "app/build/html/index.html",
            ],
            &[
                (
                    "proj/docs/_build/html/usage.html",
                    "built from the Sphinx sources in proj/docs/",
                    "Sphinx build proj/docs/_build/html/",
                ),
                (
                    "proj/docs/_build/html/_sources/usage.rst.txt",
                    "built from",
                    "proj/docs/_build/html/",
                ),
                (
                    "split/docs/build/html/api/index.html",
                    "built from the Sphinx sources in split/docs/source/",
                    "Sphinx build split/docs/build/html/",
                ),
            ],
        );
        let mut g = Generators::default();
        let b = g
            .by_product(root, &root.join("proj/docs/_build/html/usage.html"))
            .expect("named");
        assert_eq!(b.group.as_deref(), Some("proj/docs/_build/html/"));
        // Ingesting the build itself reads it.
        let build = root.join("proj/docs/_build/html");
        assert_eq!(g.by_product(&build, &build.join("usage.html")), None);

        // A build at the ingested folder itself.
        let mut g = Generators::default();
        let html = root.join("docs/build/html");
        let p = html.join("_sources/api.rst.txt");
        let detail = g.by_product(&html, &p).expect("named").detail;
        assert!(
            detail.contains("Sphinx build at the folder's root"),
            "{detail}"
        );
    }
}
