//! Reading documents: walking a folder (honouring `.gitignore`, skipping hidden files),
//! rejecting binary and non-UTF-8 files, and separating front matter from the body.
//!
//! A [`Document`] is the unit of change for incremental ingestion: its content hash decides
//! whether it is re-chunked.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Extensions lore reads, and how it splits them.
pub const EXTENSIONS: [(&str, Format); 3] = [
    ("md", Format::Markdown),
    ("markdown", Format::Markdown),
    ("txt", Format::Text),
];

/// How a document's body is structured (decides the splitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Markdown,
    Text,
}

impl Format {
    /// The format for a file name, or `None` when lore does not read that kind of file.
    pub fn for_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        EXTENSIONS.iter().find(|(e, _)| *e == ext).map(|(_, f)| *f)
    }
}

/// One source document, read fully into memory.
#[derive(Debug, Clone)]
pub struct Document {
    /// Path relative to the ingested folder, with `/` separators; the document's identity.
    pub path: String,
    /// From front matter, else the first `# ` heading, else the file stem.
    pub title: String,
    /// The whole file text (front matter included, so line numbers match the file).
    pub text: String,
    /// Byte offset where the body starts (after front matter).
    pub body_start: usize,
    pub format: Format,
    /// blake3 of the file bytes (of the given title and the bytes, when a title was given),
    /// hex: decides whether the document changed.
    pub hash: String,
}

impl Document {
    /// Builds a document from text already in memory (the BEIR loader and
    /// `POST /v1/documents` use this; the folder walk does too).
    pub fn from_text(
        path: String,
        text: String,
        format: Format,
        title: Option<String>,
    ) -> Document {
        // The title is embedded and indexed with every chunk, so a given title is part of the
        // identity; folder documents (no title given) hash just their bytes.
        let hash = match &title {
            Some(t) => {
                let mut h = blake3::Hasher::new();
                h.update(t.as_bytes());
                h.update(&[0]);
                h.update(text.as_bytes());
                h.finalize().to_hex().to_string()
            }
            None => blake3::hash(text.as_bytes()).to_hex().to_string(),
        };
        // A UTF-8 byte-order mark (Windows editors) is neither metadata nor text.
        let bom = if text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        let (fm_title, fm_len) = match format {
            Format::Markdown => parse_front_matter(&text[bom..]),
            Format::Text => (None, 0),
        };
        let body_start = bom + fm_len;
        let title = title
            .or(fm_title)
            .or_else(|| match format {
                Format::Markdown => first_heading(&text[body_start..]),
                Format::Text => None,
            })
            .unwrap_or_else(|| {
                Path::new(&path)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.clone())
            });
        Document {
            path,
            title,
            text,
            body_start,
            format,
            hash,
        }
    }

    /// The text after front matter.
    pub fn body(&self) -> &str {
        &self.text[self.body_start..]
    }
}

/// A file that was not ingested, and why; ingestion goes on and counts these.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub path: PathBuf,
    pub reason: String,
}

/// The readable files under a folder, in a stable (sorted) order.
pub fn list_files(root: &Path) -> Result<Vec<PathBuf>> {
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
    let walker = ignore::WalkBuilder::new(root)
        .hidden(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        // Honour .gitignore files even when the folder is not inside a git checkout.
        .require_git(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    let mut files = Vec::new();
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "skipping an entry the walk could not read");
                continue;
            }
        };
        if entry.file_type().is_some_and(|t| t.is_file())
            && Format::for_path(entry.path()).is_some()
        {
            files.push(entry.into_path());
        }
    }
    Ok(files)
}

/// Reads one file. Binary (NUL bytes) and non-UTF-8 files are refused with a reason.
pub fn read_file(root: &Path, path: &Path) -> std::result::Result<Document, Skipped> {
    let skip = |reason: String| Skipped {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| skip(format!("unreadable: {e}")))?;
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err(skip("binary file (contains NUL bytes)".into()));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        skip(format!(
            "not valid UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    let format = Format::for_path(path).unwrap_or(Format::Text);
    let rel = path.strip_prefix(root).unwrap_or(path);
    let rel = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    Ok(Document::from_text(rel, text, format, None))
}

/// Splits YAML (`---`) or TOML (`+++`) front matter off a Markdown file.
/// Returns the `title` if present and the byte offset where the body starts.
pub fn parse_front_matter(text: &str) -> (Option<String>, usize) {
    let fence = if text.starts_with("---") {
        "---"
    } else if text.starts_with("+++") {
        "+++"
    } else {
        return (None, 0);
    };
    let first_line_end = match text.find('\n') {
        Some(i) => i + 1,
        None => return (None, 0),
    };
    if text[..first_line_end].trim_end() != fence {
        return (None, 0);
    }
    let mut offset = first_line_end;
    for line in text[first_line_end..].split_inclusive('\n') {
        if line.trim_end() == fence {
            let meta = &text[first_line_end..offset];
            let end = offset + line.len();
            let title = if fence == "+++" {
                toml::from_str::<toml::Table>(meta)
                    .ok()
                    .and_then(|t| t.get("title").and_then(|v| v.as_str()).map(str::to_string))
            } else {
                yaml_title(meta)
            };
            return (title.filter(|t| !t.is_empty()), end);
        }
        offset += line.len();
    }
    // An opening fence with no closing one is body text, not metadata.
    (None, 0)
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
}
