//! Real docs folders are not only Markdown: every format goes through its reader into the
//! same chunk path, every file is accounted for, and hits carry a location that fits the
//! format (lines, `#anchor`, pages, cells).

use lore::ingest::{ingest_folder, IngestSettings, NoProgress};
use lore::Mode;

use crate::support::{embedder, paths, search, write_bytes, write_files, Fixture};

/// The navigation a generated doc site repeats on every page.
const SIDEBAR: &str = r#"<div class="sphinxsidebar" role="navigation"><h3>Navigation</h3>
<ul><li><a href="index.html">sidebarmarker Contents</a></li><li><a href="guide.html">Guide</a></li>
<li><a href="api.html">API reference</a></li></ul>
<div id="searchbox"><form action="search.html"><input type="text" name="q"/></form></div></div>"#;

fn sphinx_page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head><title>{title} — Frob docs</title>\n<style>body{{color:red}}</style></head>\n<body>\n<div class=\"related\" role=\"navigation\"><a href=\"genindex.html\">index</a> relatedmarker</div>\n<div class=\"document\"><div class=\"body\" role=\"main\">\n{body}\n</div></div>\n{SIDEBAR}\n<div class=\"footer\">footermarker © 2024</div>\n</body></html>\n"
    )
}

/// The files skipped as pieces that a page of the folder holds.
fn included(report: &lore::ingest::IngestReport) -> Vec<&str> {
    report
        .skipped
        .iter()
        .filter(|s| s.reason == lore::read::SkipReason::Included)
        .map(|s| s.path.as_str())
        .collect()
}

/// Each skipped file with its reason, in the report's order.
fn skip_reasons(report: &lore::ingest::IngestReport) -> Vec<(&str, String)> {
    report
        .skipped
        .iter()
        .map(|s| (s.path.as_str(), s.reason.to_string()))
        .collect()
}

/// `data` gzip-compressed, as Debian installs most documentation files.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("compress");
    e.finish().expect("compress")
}

/// A PDF with one text line per page (Helvetica, no compression), built by hand so the test
/// needs no tool: objects, then an xref table with their exact byte offsets.
pub fn tiny_pdf(pages: &[&str]) -> Vec<u8> {
    let n = pages.len();
    let mut objects: Vec<String> = Vec::new();
    objects.push("<< /Type /Catalog /Pages 2 0 R >>".into());
    let kids: Vec<String> = (0..n).map(|i| format!("{} 0 R", 4 + 2 * i)).collect();
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {n} >>",
        kids.join(" ")
    ));
    objects.push("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".into());
    for (i, text) in pages.iter().enumerate() {
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents {} 0 R >>",
            5 + 2 * i
        ));
        let stream: String = text
            .lines()
            .enumerate()
            .map(|(i, line)| format!("BT /F1 10 Tf 72 {} Td ({line}) Tj ET\n", 740 - 14 * i))
            .collect();
        objects.push(format!(
            "<< /Length {} >>\nstream\n{stream}\nendstream",
            stream.len()
        ));
    }
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for off in offsets {
        out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A page of 30 lines with `key` in the middle, so each page chunks on its own.
pub fn filler(key: &str, page: usize) -> String {
    (0..30)
        .map(|i| {
            if i == 15 {
                key.to_string()
            } else {
                format!("Line {i} of page {page} describes routine crew duties in plain words")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const RST: &str = "\
=============
API reference
=============

.. toctree::
   :maxdepth: 2

   toctreehiddenentry

.. _retry-policy:

Retry policy
------------

Set ``max_retries`` on :class:`frob.Client` to bound how often a failed upload of a
quokka archive is tried again before giving up.

.. note::

   Retries back off exponentially.
";

const ADOC: &str = "\
= Widget Manual
:author: attrmarker Person

[[calibrate]]
== Calibrating the widget

Turn the brass dial until the needle rests on the capybara mark, then tighten the screw.

[source,sh]
----
widget calibrate --dial 3
----
";

const NOTEBOOK: &str = r##"{
 "cells": [
  {"cell_type": "markdown", "metadata": {}, "source": ["# Plotting tutorial\n", "\n", "Draw axolotl population charts with a few lines of plotting code."]},
  {"cell_type": "code", "execution_count": 1, "metadata": {}, "outputs": [{"name": "stdout", "output_type": "stream", "text": ["axolotls: 42\n"]}], "source": ["print('axolotls:', 42)"]}
 ],
 "metadata": {"kernelspec": {"language": "python", "name": "python3", "display_name": "Python 3"}},
 "nbformat": 4, "nbformat_minor": 5
}"##;

const MDX: &str = "\
import Tabs from '@theme/Tabs';
import TabItem from '@theme/TabItem';

# Installing the gizmo

<Tabs>
<TabItem value=\"linux\" label=\"Linux\">

Unpack the narwhal tarball into your home folder and run the installer.

</TabItem>
</Tabs>
";

/// The heading trail a converted document has at the first occurrence of `needle` in its
/// rendered text (chunks carry the trail at their start; this checks the structure itself).
fn trail_of(text: &str, format: lore::source::Format, needle: &str) -> Option<String> {
    let doc = lore::source::Document::try_from_text("x".into(), text.into(), format, None).ok()?;
    let at = doc.text.find(needle)?;
    let layout = doc.layout.as_ref()?;
    Some(layout.trail_at(at).0.join(" > "))
}

#[test]
fn a_mixed_docs_folder_is_read_by_structure_and_fully_accounted_for() {
    let guide = sphinx_page(
        "Guide",
        "<section id=\"configuring-the-frobnicator\">\n<h1>Configuring the frobnicator<a class=\"headerlink\" href=\"#configuring-the-frobnicator\">¶</a></h1>\n<p>The frobnicator reads <code>frob.toml</code> at startup; each key &amp; value sets one option.</p>\n<pre>frob --config frob.toml</pre>\n<table><tr><th>key</th><th>meaning</th></tr><tr><td>speed</td><td>how fast it frobs</td></tr></table>\n</section>",
    );
    let index = sphinx_page(
        "Welcome",
        "<section id=\"welcome\"><h1>Welcome to Frob</h1><p>Frob turns widgets into gadgets for teams of every size.</p></section>",
    );
    let f = Fixture::with_files(&[
        ("site/guide.html", &guide),
        ("site/index.html", &index),
        ("api.rst", RST),
        ("manual.adoc", ADOC),
        ("tutorial.ipynb", NOTEBOOK),
        ("gizmo.mdx", MDX),
        (
            "notes.md",
            "# Notes\n\nThe release train leaves every second Tuesday of the month.\n",
        ),
        ("assets/site.css", "body { color: red }"),
        ("assets/app.js", "console.log(1)"),
        // Documentation named without an extension is text; a licence is not read.
        (
            "README",
            "Frob\n\nThe hovercraft ballast tank holds four litres of seawater.\n",
        ),
        ("COPYING", "GNU GENERAL PUBLIC LICENSE\n"),
    ]);
    write_bytes(f.corpus(), "assets/logo.png", b"\x89PNG\r\n\x1a\n\0\0");
    write_bytes(
        f.corpus(),
        "handbook.pdf",
        &tiny_pdf(&[
            &filler("Handbook introduction for new crew members", 0),
            &filler(
                "The zeppelin mooring procedure needs three ropes and a winch",
                1,
            ),
            &filler("Appendix on hangar safety and fire drills", 2),
        ]),
    );
    write_bytes(
        f.corpus(),
        "broken.pdf",
        b"%PDF-1.4\ngarbage without objects",
    );

    let report = f.ingest().expect("ingest");
    assert_eq!(report.files_found, 14, "{report:?}");
    assert_eq!(report.files_read, 9, "{:?}", report.skipped);
    assert_eq!(report.skipped_by_reason.get("unsupported"), Some(&4));
    assert_eq!(report.skipped_by_reason.get("parse_error"), Some(&1));
    assert_eq!(
        report.unsupported_extensions,
        [
            ("(no extension)".to_string(), 1),
            (".css".to_string(), 1),
            (".js".to_string(), 1),
            (".png".to_string(), 1)
        ]
    );
    for format in [
        "html", "rst", "asciidoc", "ipynb", "mdx", "pdf", "markdown", "text",
    ] {
        assert!(
            report.files_by_format.contains_key(format),
            "{format} missing from {:?}",
            report.files_by_format
        );
    }

    let engine = f.engine();
    let r = search(&engine, "hovercraft ballast tank", Mode::Bm25, 1);
    assert_eq!(r.results[0].source.path, "README");
    let index = engine.index();
    // Navigation, footers, directives and attributes never reach a chunk.
    for chunk in index.chunks().expect("chunks") {
        for marker in [
            "sidebarmarker",
            "relatedmarker",
            "footermarker",
            "toctreehiddenentry",
            "attrmarker",
            "@theme/Tabs",
            "color:red",
        ] {
            assert!(
                !chunk.text.contains(marker),
                "{marker} leaked into {}: {}",
                chunk.path,
                chunk.text
            );
        }
    }

    // HTML: the section's anchor and its source lines.
    let r = search(
        &engine,
        "frobnicator startup configuration file",
        Mode::Hybrid,
        3,
    );
    let hit = &r.results[0];
    assert_eq!(hit.source.path, "site/guide.html", "{:?}", paths(&r));
    assert_eq!(
        hit.source.anchor.as_deref(),
        Some("configuring-the-frobnicator")
    );
    assert!(hit
        .source
        .location
        .ends_with("#configuring-the-frobnicator"));
    assert_eq!(hit.source.title, "Guide — Frob docs");
    assert!(hit.text.contains("frob.toml"), "{}", hit.text);
    assert!(
        hit.text.contains("speed | how fast it frobs"),
        "{}",
        hit.text
    );
    let lines: Vec<&str> = guide.lines().collect();
    let span = lines[hit.source.start_line as usize - 1..hit.source.end_line as usize].join("\n");
    assert!(span.contains("reads <code>frob.toml</code>"), "{span}");

    // reStructuredText: the heading trail from adornments, roles reduced to their text.
    let r = search(
        &engine,
        "how often is a failed quokka upload retried",
        Mode::Hybrid,
        3,
    );
    let hit = &r.results[0];
    assert_eq!(hit.source.path, "api.rst");
    assert!(hit.source.heading.starts_with("API reference"));
    assert_eq!(
        trail_of(RST, lore::source::Format::Rst, "Set ``max").or_else(|| trail_of(
            RST,
            lore::source::Format::Rst,
            "Set max"
        )),
        Some("API reference > Retry policy".into())
    );
    assert!(hit.text.contains("frob.Client"), "{}", hit.text);
    assert!(!hit.text.contains(":class:"), "{}", hit.text);

    // AsciiDoc.
    let r = search(&engine, "calibrate the widget dial", Mode::Hybrid, 3);
    assert_eq!(r.results[0].source.path, "manual.adoc");
    assert_eq!(
        trail_of(ADOC, lore::source::Format::Asciidoc, "Turn the brass"),
        Some("Widget Manual > Calibrating the widget".into())
    );

    // PDF: page numbers.
    let r = search(&engine, "zeppelin mooring ropes", Mode::Bm25, 3);
    let hit = &r.results[0];
    assert_eq!(hit.source.path, "handbook.pdf");
    let (a, b) = (hit.source.page_start.unwrap(), hit.source.page_end.unwrap());
    assert!(a <= 2 && 2 <= b && b - a <= 1, "pages {a}-{b}");
    assert!(
        hit.source.location.starts_with("p. "),
        "{}",
        hit.source.location
    );
    assert!(hit.text.contains("zeppelin mooring"), "{}", hit.text);

    // Notebook: cells.
    let r = search(&engine, "axolotl population charts", Mode::Bm25, 3);
    let hit = &r.results[0];
    assert_eq!(hit.source.path, "tutorial.ipynb");
    assert_eq!(hit.source.heading, "Plotting tutorial");
    assert!(hit.source.cell_start.is_some(), "{:?}", hit.source);

    // MDX: the text inside components is kept, the imports are not.
    let r = search(&engine, "narwhal tarball installer", Mode::Bm25, 3);
    assert_eq!(r.results[0].source.path, "gizmo.mdx");
}

#[test]
fn links_special_files_and_odd_names_are_counted_not_lost() {
    use std::os::unix::ffi::OsStrExt;
    let f = Fixture::with_files(&[
        (
            "real.md",
            "# Real\n\nThe lighthouse keeper logs the weather twice a day.\n",
        ),
        (
            "drafts/wip.md",
            "# Draft\n\nThe draftmarker paragraph must be excluded by a glob.\n",
        ),
    ]);
    std::os::unix::fs::symlink(f.corpus().join("real.md"), f.corpus().join("link.md"))
        .expect("symlink");
    let fifo = f.corpus().join("pipe.md");
    let c = std::ffi::CString::new(fifo.as_os_str().as_bytes()).expect("path");
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo");
    // Two names that are not UTF-8 and differ only in the invalid byte.
    for (byte, word) in [(0xffu8, "ferretmarker"), (0xfe, "wombatmarker")] {
        let bytes = [byte, b'.', b'm', b'd'];
        let name = std::ffi::OsStr::from_bytes(&bytes);
        std::fs::write(
            f.corpus().join(name),
            format!("# Odd\n\nThe {word} file has a name that is not UTF-8.\n"),
        )
        .expect("write");
    }
    let settings = IngestSettings {
        read: lore::config::IngestConfig {
            exclude: vec!["drafts/**".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    let ingest = || ingest_folder(f.corpus(), &f.index(), &embedder(), &settings, &NoProgress);
    let report = ingest().expect("ingest");
    assert_eq!(report.files_read, 3, "{:?}", report.skipped);
    let reasons = skip_reasons(&report);
    assert_eq!(
        reasons,
        [
            ("drafts/wip.md", "excluded".to_string()),
            ("link.md", "symlink".to_string()),
            ("pipe.md", "special_file".to_string()),
        ]
    );
    let engine = f.engine();
    for (word, path) in [("ferretmarker", "\\xff.md"), ("wombatmarker", "\\xfe.md")] {
        let r = search(&engine, word, Mode::Bm25, 3);
        assert_eq!(paths(&r), [path]);
    }
    assert!(search(&engine, "draftmarker", Mode::Bm25, 3)
        .results
        .is_empty());
    // Nothing changed, so nothing is published: the names are stable across ingests.
    let again = ingest().expect("second ingest");
    assert_eq!(
        (again.files_changed, again.files_unchanged, again.generation),
        (0, 3, report.generation)
    );
}

/// A Sphinx HTML build as a package ships it (`/usr/share/doc/*/html`): the pages are read;
/// the copy of every page's source in `_sources/`, the highlighted code, static files and
/// generated index pages are counted as `generated`, so the source copy of a page never takes
/// a result slot beside the page. Outside a build, a `.rst.txt` file is read as reST.
#[test]
fn a_sphinx_build_is_read_as_its_pages_and_its_by_products_are_counted() {
    let usage = sphinx_page(
        "Usage",
        "<h1 id=\"usage\">Usage</h1>\n<p>Feed the quokka marigolds every morning.</p>",
    );
    let index = sphinx_page("Welcome", "<h1>Welcome</h1>\n<p>The quokka handbook.</p>");
    let generated_index = sphinx_page("Index", "<h1>Index</h1><p>marigolds, quokka</p>");
    let f = Fixture::with_files(&[
        ("site/objects.inv", "# Sphinx inventory version 2\n"),
        ("site/searchindex.js", "Search.setIndex({})"),
        ("site/index.html", &index),
        ("site/usage.html", &usage),
        (
            "site/_sources/usage.rst.txt",
            "Usage\n=====\n\nFeed the quokka marigolds every morning.\n",
        ),
        (
            "site/_modules/quokka.html",
            "<h1>Source code for quokka</h1><pre>def feed(): return 'marigolds every morning'</pre>",
        ),
        ("site/_static/conf.py.txt", "marigolds = 'every morning'\n"),
        ("site/genindex.html", &generated_index),
        ("site/search.html", &generated_index),
        ("site/py-modindex.html", &generated_index),
        (
            "notes/howto.rst.txt",
            "How to\n======\n\nRotate the beds weekly.\n\nTulip care\n----------\n\nWater the tulips sparingly.\n",
        ),
    ]);
    let ingest = |skip_generated| {
        let settings = IngestSettings {
            read: lore::config::IngestConfig {
                skip_generated,
                ..Default::default()
            },
            ..Default::default()
        };
        ingest_folder(f.corpus(), &f.index(), &embedder(), &settings, &NoProgress).expect("ingest")
    };
    let report = ingest(true);
    let mut generated: Vec<&str> = skip_reasons(&report)
        .into_iter()
        .filter(|(_, reason)| reason == "generated")
        .map(|(path, _)| path)
        .collect();
    generated.sort();
    assert_eq!(
        generated,
        [
            "site/_modules/quokka.html",
            "site/_sources/usage.rst.txt",
            "site/_static/conf.py.txt",
            "site/genindex.html",
            "site/py-modindex.html",
            "site/search.html",
        ]
    );
    for s in report
        .skipped
        .iter()
        .filter(|s| s.reason.to_string() == "generated")
    {
        assert!(s.detail.contains("Sphinx build site/"), "{s}");
    }
    // The summary counts them by the generator's folder they were in.
    assert!(
        lore::ingest::summarize_skips(&report.skipped)
            .contains(&"generated 6 (pages 3, _modules/ 1, _sources/ 1, _static/ 1)".to_string()),
        "{:?}",
        lore::ingest::summarize_skips(&report.skipped)
    );
    assert_eq!(report.files_read, 3, "{:?}", report.skipped);

    let engine = f.engine();
    let r = search(&engine, "quokka marigolds every morning", Mode::Hybrid, 5);
    assert_eq!(r.results[0].source.path, "site/usage.html");
    assert_eq!(r.results[0].source.anchor.as_deref(), Some("usage"));
    assert!(
        paths(&r).iter().all(|p| !p.contains("/_")),
        "a by-product was indexed: {:?}",
        paths(&r)
    );
    // Read by the reST reader: the title is a heading, its underline is gone.
    let r = search(&engine, "water the tulips", Mode::Bm25, 1);
    let hit = &r.results[0];
    assert_eq!(hit.source.path, "notes/howto.rst.txt");
    assert_eq!(hit.source.heading, "How to");
    assert!(!hit.text.contains("==="), "{}", hit.text);

    // Switched off, every by-product is read like any other file.
    let report = ingest(false);
    assert_eq!(report.files_read, 9, "{:?}", report.skipped);
    let r = search(
        &f.engine(),
        "quokka marigolds every morning",
        Mode::Bm25,
        10,
    );
    assert!(
        paths(&r).contains(&"site/_sources/usage.rst.txt"),
        "{:?}",
        paths(&r)
    );
}

/// A project's Sphinx sources with a build left inside them (`make html` without a
/// `.gitignore`): the sources are read, the build is skipped whole as `generated`, so no
/// page is in the index twice.
#[test]
fn a_sphinx_build_left_inside_its_sources_is_skipped() {
    let page = sphinx_page(
        "Welcome",
        "<h1>Welcome</h1>\n<p>The quokka handbook covers feeding.</p>",
    );
    let f = Fixture::with_files(&[
        ("docs/conf.py", "project = 'Quokka'\n"),
        (
            "docs/index.rst",
            "Welcome\n=======\n\nThe quokka handbook covers feeding.\n",
        ),
        (
            "docs/_build/html/objects.inv",
            "# Sphinx inventory version 2\n",
        ),
        ("docs/_build/html/index.html", &page),
        (
            "docs/_build/html/_sources/index.rst.txt",
            "Welcome\n=======\n\nThe quokka handbook covers feeding.\n",
        ),
    ]);
    let report = f.ingest().expect("ingest");
    assert_eq!(report.files_read, 1, "{:?}", report.skipped);
    let summary = lore::ingest::summarize_skips(&report.skipped);
    assert!(
        summary.contains(&"generated 2 (docs/_build/html/ 2)".to_string()),
        "{summary:?}"
    );
    let r = search(&f.engine(), "quokka handbook", Mode::Hybrid, 5);
    assert_eq!(paths(&r), ["docs/index.rst"]);
}

/// A page a one-file generator built beside its source (Debian's docutils-doc ships
/// `FAQ.txt` and the `FAQ.html` rst2html made of it) is skipped, named as such; the source
/// is read by its own markup, even as `.txt`. A page whose head names no generator, or
/// whose source is not beside it, is read.
#[test]
fn a_page_built_beside_its_source_is_skipped_and_the_source_read_by_its_markup() {
    let page = |generator: &str, body: &str| {
        format!(
            "<html><head>\n<meta content=\"{generator}\" name=\"generator\" />\n\
             <title>Page</title></head>\n<body>\n{body}\n</body></html>\n"
        )
    };
    let f = Fixture::with_files(&[
        (
            "FAQ.txt",
            "Widget FAQ\n==========\n\nWhy is it slow?\n---------------\n\n\
             The quokka index reads every file twice.\n",
        ),
        (
            "FAQ.html",
            &page(
                "Docutils 0.19: https://docutils.sourceforge.io/",
                "<h1>Widget FAQ</h1>\n<h2>Why is it slow?</h2>\n\
                 <p>The quokka index reads every file twice.</p>",
            ),
        ),
        (
            "guide.adoc",
            "= Wombat guide\n\n== Feeding\n\nThe wombat eats grass at dusk.\n",
        ),
        (
            "guide.html",
            &page(
                "Asciidoctor 2.0.18",
                "<h1>Wombat guide</h1>\n<h2>Feeding</h2>\n<p>The wombat eats grass at dusk.</p>",
            ),
        ),
        ("notes.txt", "The numbat notes are plain text.\n"),
        (
            "notes.html",
            "<html><body><p>The numbat notes, as a web page.</p></body></html>\n",
        ),
        (
            "lone.html",
            &page(
                "Docutils 0.19",
                "<p>The bilby page has no source beside it.</p>",
            ),
        ),
    ]);
    let report = f.ingest().expect("ingest");
    assert_eq!(report.files_read, 5, "{:?}", report.skipped);
    let summary = lore::ingest::summarize_skips(&report.skipped);
    assert!(
        summary.contains(&"generated 2 (pages built beside their sources 2)".to_string()),
        "{summary:?}"
    );
    let faq = report
        .skipped
        .iter()
        .find(|s| s.path == "FAQ.html")
        .expect("FAQ.html skipped");
    assert_eq!(
        faq.detail, "built by Docutils from FAQ.txt beside it, which is read",
        "{faq:?}"
    );
    let engine = f.engine();
    let r = search(
        &engine,
        "quokka index reads every file twice",
        Mode::Hybrid,
        5,
    );
    assert_eq!(paths(&r)[0], "FAQ.txt", "{r:?}");
    // Read as reStructuredText: the hit cites its section, not a bare text file.
    assert_eq!(r.results[0].source.heading, "Widget FAQ > Why is it slow?");
    let r = search(&engine, "wombat eats grass", Mode::Hybrid, 5);
    assert_eq!(paths(&r)[0], "guide.adoc", "{r:?}");
    assert!(!paths(&r).contains(&"guide.html"), "{r:?}");
    for (query, path) in [("numbat notes", "notes.html"), ("bilby page", "lone.html")] {
        let r = search(&engine, query, Mode::Bm25, 5);
        assert!(paths(&r).contains(&path), "{query}: {r:?}");
    }
}

/// `/usr/share/doc/<package>` as Debian installs it: `README.rst.gz` is read by the reST
/// reader after decompression, `changelog.gz` as plain text; a gzip file that would expand
/// past `max_file_mb` is skipped as too large, and a `.gz` with no document inside is
/// unsupported.
#[test]
fn gzip_compressed_documents_are_read_by_the_name_inside() {
    let f = Fixture::empty();
    write_bytes(
        f.corpus(),
        "usr/share/doc/frob/README.rst.gz",
        &gzip(
            b"Frob\n====\n\nInstalling\n----------\n\nThe capybara installer needs a warm room.\n",
        ),
    );
    write_bytes(
        f.corpus(),
        "usr/share/doc/frob/big.md.gz",
        &gzip(&vec![b'a'; 3_000_000]),
    );
    write_bytes(
        f.corpus(),
        "usr/share/doc/frob/changelog.gz",
        &gzip(b"frob (1.0) stable\n"),
    );
    write_bytes(
        f.corpus(),
        "usr/share/doc/frob/logo.png.gz",
        &gzip(b"\x89PNG\r\n\x1a\n"),
    );
    let settings = IngestSettings {
        read: lore::config::IngestConfig {
            max_file_mb: 1.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let report =
        ingest_folder(f.corpus(), &f.index(), &embedder(), &settings, &NoProgress).expect("ingest");
    assert_eq!(report.files_read, 2, "{:?}", report.skipped);
    let reasons = skip_reasons(&report);
    assert_eq!(
        reasons,
        [
            ("usr/share/doc/frob/big.md.gz", "too_large".to_string()),
            ("usr/share/doc/frob/logo.png.gz", "unsupported".to_string()),
        ]
    );
    // Named without an extension inside, like Debian's changelogs: plain text.
    let r = search(&f.engine(), "frob stable", Mode::Bm25, 1);
    assert_eq!(r.results[0].source.path, "usr/share/doc/frob/changelog.gz");
    let r = search(&f.engine(), "capybara installer", Mode::Bm25, 1);
    let hit = &r.results[0];
    assert_eq!(hit.source.path, "usr/share/doc/frob/README.rst.gz");
    assert_eq!(hit.source.heading, "Frob > Installing");
    assert!(
        hit.text.contains("warm room") && !hit.text.contains("---"),
        "{}",
        hit.text
    );
}

/// A list or table longer than a chunk is cut into several chunks; each cites the source
/// lines of the items or rows it holds, not the whole list's, in every format with line
/// locations (the HTML and reST readers lay a list or table out as one paragraph, so there a
/// coarse location would show).
#[test]
fn a_long_list_is_cited_by_the_lines_of_its_own_items() {
    let item = |n: usize| {
        format!(
            "Option {n} sets the marker{n} value the frobnicator reads when it starts, and keeps it until the daemon stops."
        )
    };
    let mut html = String::from(
        "<html><head><title>Options</title></head><body><main>\n<h1>Options</h1>\n<p>Every option the frobnicator reads.</p>\n<ul>\n",
    );
    let mut rst = String::from("Options\n=======\n\nEvery option the frobnicator reads.\n\n");
    let mut adoc = String::from("= Options\n\nEvery option the frobnicator reads.\n\n");
    let mut md = String::from("# Options\n\nEvery option the frobnicator reads.\n\n");
    let mut table = String::from(
        "<html><head><title>Options</title></head><body><main>\n<h1>Options</h1>\n<table>\n<tr><th>option</th><th>meaning</th></tr>\n",
    );
    for n in 1..=40 {
        table.push_str(&format!("<tr><td>{n}</td>\n<td>{}</td></tr>\n", item(n)));
        html.push_str(&format!("<li><p>{}</p></li>\n", item(n)));
        rst.push_str(&format!("- {}\n", item(n)));
        adoc.push_str(&format!("* {}\n", item(n)));
        md.push_str(&format!("- {}\n", item(n)));
    }
    html.push_str("</ul>\n</main></body></html>\n");
    table.push_str("</table>\n</main></body></html>\n");
    let files = [
        ("options.html", &html),
        ("options.rst", &rst),
        ("options.adoc", &adoc),
        ("options.md", &md),
        ("table.html", &table),
    ];
    let f = Fixture::with_files(&files.map(|(p, s)| (p, s.as_str())));
    assert_eq!(f.ingest().expect("ingest").files_read, 5);
    let engine = f.engine();
    for (path, source) in files {
        let lines: Vec<&str> = source.lines().collect();
        let line_of =
            |needle: &str| 1 + lines.iter().position(|l| l.contains(needle)).unwrap() as u32;
        let (first, last) = (line_of("marker1 "), line_of("marker40 "));
        // The Markdown, reST and AsciiDoc lists render to the same text: keep every copy.
        let opts = lore::SearchOptions {
            mode: Mode::Bm25,
            top_k: 10,
            collapse_duplicates: false,
            ..engine.defaults()
        };
        let r = engine.search("marker33", &opts).expect("search");
        let hit = r
            .results
            .iter()
            .find(|h| h.source.path == path)
            .unwrap_or_else(|| panic!("{path} not found: {:?}", paths(&r)));
        let (start, end) = (hit.source.start_line, hit.source.end_line);
        assert!(
            start <= line_of("marker33 ") && line_of("marker33 ") <= end,
            "{path}: lines {start}-{end}"
        );
        assert!(
            start > first || end < last,
            "{path}: lines {start}-{end} are the whole list's or table's ({first}-{last})"
        );
        // The cited lines hold the chunk's own items: its first and last item are there.
        let cited = lines[start as usize - 1..end as usize].join("\n");
        for word in hit
            .text
            .split_whitespace()
            .filter(|w| w.starts_with("marker"))
        {
            assert!(
                cited.contains(&format!("{word} ")),
                "{path}: {word} not in lines {start}-{end}"
            );
        }
    }
}

#[test]
fn pathological_files_chunk_in_bounded_pieces() {
    let mut nested = String::from("# Deep\n\n");
    'fill: loop {
        for depth in 0..1000 {
            nested.push_str(&"  ".repeat(depth));
            nested.push_str("- nested item text\n");
            if nested.len() > 1_000_000 {
                break 'fill;
            }
        }
    }
    // Sizes kept small enough to embed quickly; the criterion bench `chunking_pathological`
    // times the full-size versions (10 MB line, 10 MB word, 50 MB file).
    let long_line = "many words on a single line ".repeat(8_000);
    let word = "y".repeat(300_000);
    let table = format!(
        "<table>{}</table>",
        "<tr><td>alpha</td><td>beta</td></tr>".repeat(20_000)
    );
    let f = Fixture::empty();
    write_files(
        f.corpus(),
        &[
            ("nested.md", &nested),
            ("line.txt", &long_line),
            ("word.md", &word),
            ("table.html", &table),
            (
                "control.md",
                "# Control\n\nThe control document about lighthouses stays searchable.\n",
            ),
        ],
    );
    let report = f.ingest().expect("ingest");
    assert_eq!(report.files_read, 5);
    let engine = f.engine();
    let cap = lore::config::ChunkingConfig::default().max_tokens * 8;
    let index = engine.index();
    let chunks = index.chunks().expect("chunks");
    let count = |path: &str| chunks.iter().filter(|c| c.path == path).count();
    // Hundreds of identical slices and rows are kept once each: copies only crowd results.
    assert!(
        (1..=3).contains(&count("word.md")),
        "{} chunks",
        count("word.md")
    );
    assert!(
        (1..=3).contains(&count("table.html")),
        "{} chunks",
        count("table.html")
    );
    assert!(
        chunks
            .iter()
            .any(|c| c.path == "table.html" && c.text.contains("alpha | beta")),
        "a data table outside any marked content block keeps its rows"
    );
    for mode in [Mode::Hybrid, Mode::Dense, Mode::Bm25] {
        let hits = search(&engine, "lighthouses", mode, 3).results;
        assert_eq!(
            hits.first().map(|h| h.source.path.as_str()),
            Some("control.md"),
            "{mode:?}"
        );
    }
    for c in &chunks {
        assert!(
            c.text.len() <= cap,
            "{} chunk {} is {} bytes",
            c.path,
            c.ordinal,
            c.text.len()
        );
    }
}

#[test]
fn limits_turn_into_skip_reasons_not_hangs() {
    let page = sphinx_page(
        "Big",
        &"<p>A paragraph about pelicans and their fishing habits.</p>\n".repeat(4000),
    );
    let f = Fixture::with_files(&[
        ("big.html", &page),
        ("api.rst", RST),
        (
            "small.md",
            "# Small\n\nA short note about otters and their dens.\n",
        ),
    ]);
    // A reader still busy after its time limit gives up on the file; a file over the size
    // limit is never opened.
    let settings = |timeout: f64, mb: f64| IngestSettings {
        read: lore::config::IngestConfig {
            file_timeout_s: timeout,
            max_file_mb: mb,
            ..Default::default()
        },
        ..Default::default()
    };
    let report = ingest_folder(
        f.corpus(),
        &f.index(),
        &embedder(),
        &settings(1e-9, 50.0),
        &NoProgress,
    )
    .expect("the Markdown file is still read");
    let big = report
        .skipped
        .iter()
        .find(|s| s.path == "big.html")
        .expect("big.html is skipped");
    assert_eq!(big.reason.as_str(), "timeout", "{big:?}");
    assert!(report.files_by_format.contains_key("markdown"));

    let report = ingest_folder(
        f.corpus(),
        &f.index(),
        &embedder(),
        &settings(30.0, 0.1),
        &NoProgress,
    )
    .expect("the small files are read");
    assert_eq!(report.files_read, 2, "{:?}", report.skipped);
    let big = &report.skipped[0];
    assert_eq!(
        (big.path.as_str(), big.reason.as_str()),
        ("big.html", "too_large")
    );
    assert!(big.detail.contains("max_file_mb"), "{}", big.detail);
}

/// The entries of an API reference are small sibling sections, packed several to a chunk. A
/// hit on such a chunk cites the entry the query names (heading and `#anchor`), not the
/// chunk's first entry, in HTML and in Markdown.
#[test]
fn a_hit_cites_the_packed_section_the_query_names() {
    const ENTRIES: [(&str, &str); 8] = [
        (
            "quillOpen",
            "Opens a quill archive on disk and returns a handle ready for reading",
        ),
        (
            "quillClose",
            "Closes the handle and releases the locks held on the archive",
        ),
        (
            "quillRead",
            "Moves the cursor to the next record; returns one when a record was read",
        ),
        (
            "quillSeek",
            "Positions the cursor at a byte offset counted from the archive start",
        ),
        (
            "quillTell",
            "Reports the byte offset where the cursor currently stands",
        ),
        (
            "quillFlush",
            "Writes buffered records out so that readers in other processes see them",
        ),
        (
            "quillVerify",
            "Checks every record checksum and reports the first corrupt one",
        ),
        (
            "quillDump",
            "Prints the records as text, one per line, for debugging",
        ),
    ];
    let html: String = ENTRIES
        .iter()
        .map(|(name, what)| {
            format!("<h3 id=\"{name}\">Function: {name}</h3>\n<pre>int {name}(quill *q)</pre>\n<p>{what}.</p>\n")
        })
        .collect();
    let html = format!(
        "<html><head><title>quill API</title></head><body><h1>quill API</h1>\n<h2>Description</h2>\n{html}</body></html>\n"
    );
    let md: String = ENTRIES
        .iter()
        .map(|(name, what)| {
            format!("### Function: {name}\n\n`int {name}(quill *q)`\n\n{what}.\n\n")
        })
        .collect();
    let md = format!("# quill API\n\n## Description\n\n{md}");
    let f = Fixture::with_files(&[("api.html", &html), ("api.md", &md)]);
    f.ingest().expect("ingest");
    let engine = f.engine();
    let mut packed = 0;
    for (name, what) in ENTRIES {
        let words: Vec<&str> = what.split_whitespace().skip(1).take(4).collect();
        let query = format!("{name} {}", words.join(" "));
        for (path, anchor) in [("api.html", Some(name)), ("api.md", None)] {
            let r = engine
                .search(
                    &query,
                    &lore::SearchOptions {
                        top_k: 1,
                        filter: Some(format!("path = \"{path}\"")),
                        ..lore::SearchOptions::default()
                    },
                )
                .expect("search");
            let hit = &r.results[0];
            let heading = format!("quill API > Description > Function: {name}");
            assert_eq!(hit.source.heading, heading, "{path}: {query}");
            assert_eq!(hit.source.anchor.as_deref(), anchor, "{path}: {query}");
            if let Some(anchor) = anchor {
                assert!(hit.source.location.ends_with(&format!("#{anchor}")));
            }
            assert!(hit.text.contains(what), "{path}: {query}: {}", hit.text);
            if !hit
                .text
                .trim_start()
                .starts_with(&format!("### Function: {name}"))
            {
                packed += 1;
            }
        }
    }
    // Most entries share a chunk with the entry before them: what this test is about.
    assert!(
        packed >= 8,
        "only {packed} hits were on a chunk another entry opens"
    );
}

/// The heading trail BM25's best hit for `query` cites.
fn cited_heading(engine: &lore::Engine, query: &str) -> String {
    search(engine, query, Mode::Bm25, 1)
        .results
        .remove(0)
        .source
        .heading
}

/// Sphinx's HTML reference entries (`dl.std.confval`, `dl.py.function`, …) are not
/// headings, but a hit on one cites it by name and `#anchor`; the section's own text after
/// the entries cites the section again. In the reST source, object directives and glossary
/// terms are the entries.
#[test]
fn sphinx_entries_are_cited_by_name() {
    let settings = [
        (
            "ferry_port",
            "The harbour whose departures the timetable lists, by its code",
        ),
        (
            "ferry_rows",
            "How many departures the window shows before it scrolls further down",
        ),
        (
            "ferry_tide",
            "Whether the tide table is drawn beside the sailings in a second column",
        ),
    ];
    let entries: String = settings
        .iter()
        .map(|(name, what)| {
            format!(
                "<dl class=\"std confval\">\n<dt class=\"sig sig-object std\" id=\"confval-{name}\">\n\
                 <span class=\"sig-name descname\"><span class=\"pre\">{name}</span></span>\
                 <a class=\"headerlink\" href=\"#confval-{name}\">¶</a></dt>\n\
                 <dd><p>{what}. The default is taken from the harbour master file.</p></dd></dl>\n"
            )
        })
        .collect();
    let page = format!(
        "<html><head><title>Configuration — ferry 1.0</title></head><body><div role=\"main\">\n\
         <section id=\"settings\"><h1>Settings<a class=\"headerlink\" href=\"#settings\">¶</a></h1>\n\
         <p>Every setting lives in ferry.toml beside the timetable.</p>\n{entries}\
         <p>Settings given on the command line override the file, one flag for every setting named above.</p>\n\
         </section></div></body></html>\n"
    );
    let f = Fixture::with_files(&[("config.html", &page)]);
    f.ingest().expect("ingest");
    let engine = f.engine();
    let cite = |query: &str| {
        let hit = search(&engine, query, Mode::Bm25, 1).results.remove(0);
        (hit.source.heading, hit.source.anchor)
    };
    assert_eq!(
        cite("tide table drawn beside the sailings"),
        (
            "Settings > ferry_tide".to_string(),
            Some("confval-ferry_tide".to_string())
        )
    );
    assert_eq!(
        cite("how many departures the window shows"),
        (
            "Settings > ferry_rows".to_string(),
            Some("confval-ferry_rows".to_string())
        )
    );
    assert_eq!(
        cite("command line override the file flag"),
        ("Settings".to_string(), Some("settings".to_string()))
    );
    // The chunk opens with the section's heading, so its own first lines cite the section,
    // not the first entry below them.
    assert_eq!(
        cite("every setting lives in ferry.toml"),
        ("Settings".to_string(), Some("settings".to_string()))
    );

    // The same settings as Sphinx's reST source.
    let entries: String = settings
        .iter()
        .map(|(name, what)| {
            format!(
                ".. confval:: {name}\n\n   {what}. The default is taken from the harbour master file.\n\n"
            )
        })
        .collect();
    // And a glossary, whose terms Sphinx links to as it does to the settings.
    let source = format!(
        "Settings\n========\n\nEvery setting lives in ferry.toml beside the timetable.\n\n{entries}\
         Settings given on the command line override the file, one flag for every setting named above.\n\n\
         Terms\n=====\n\n.. glossary::\n\n   berth\n   quay\n      \
         The stretch of harbour wall where one ferry ties up while it loads its passengers.\n\n   \
         sailing\n      One departure of one ferry, with its port, its time and the tide it waits for.\n"
    );
    let f = Fixture::with_files(&[("config.rst", &source)]);
    f.ingest().expect("ingest");
    let engine = f.engine();
    for (query, heading) in [
        (
            "tide table drawn beside the sailings",
            "Settings > ferry_tide",
        ),
        ("command line override the file flag", "Settings"),
        ("every setting lives in ferry.toml", "Settings"),
        (
            "harbour wall where one ferry ties up",
            "Terms > berth, quay",
        ),
        ("one departure with its time and tide", "Terms > sailing"),
    ] {
        assert_eq!(cited_heading(&engine, query), heading, "{query}");
    }
}

/// A Sphinx project's includes: `literalinclude` brings the example's code into the page
/// (a leading `/` names Sphinx's source folder, the one holding `conf.py`), and an untitled
/// snippet that a page includes is read there, cited at the directive, and skipped on its
/// own as `included`; a titled page that another includes stays its own document.
#[test]
fn rst_includes_are_read_where_sphinx_shows_them() {
    let f = Fixture::with_files(&[
        ("docs/conf.py", "project = 'ferry'\n"),
        (
            "docs/howto/boarding.rst",
            "Boarding\n========\n\nHow a ferry boards.\n\n.. literalinclude:: /examples/board.py\n   :pyobject: board\n\n\
             .. include:: ../snippets/tides.rst\n\n.. include:: ../intro.rst\n",
        ),
        (
            "docs/examples/board.py",
            "import ferry\n\ndef board(quokkaship):\n    return quokkaship.lower_ramp()\n\ndef other():\n    pass\n",
        ),
        (
            "docs/snippets/tides.rst",
            ".. note:: Boarding waits for the wombatide to turn.\n",
        ),
        (
            "docs/intro.rst",
            "Introduction\n============\n\nFerries carry marmotcars across the harbour.\n",
        ),
    ]);
    let report = f.ingest().expect("ingest");
    assert_eq!(included(&report), ["docs/snippets/tides.rst"], "{report:?}");
    let engine = f.engine();
    let top = |q: &str| search(&engine, q, Mode::Bm25, 5);
    assert_eq!(
        paths(&top("quokkaship lower_ramp")),
        ["docs/howto/boarding.rst"]
    );
    let tide = top("wombatide");
    assert_eq!(paths(&tide), ["docs/howto/boarding.rst"]);
    assert_eq!(tide.results[0].source.heading, "Boarding");
    // Cited within the including page's own lines (the directive is line 9 of 11).
    let (start, end) = (
        tide.results[0].source.start_line,
        tide.results[0].source.end_line,
    );
    assert!(start <= 9 && (9..=11).contains(&end), "{start}-{end}");
    assert!(top("other pass").results.is_empty());
    assert_eq!(paths(&top("marmotcars")), ["docs/intro.rst"]);
}

/// An Antora component: a page's `include::partial$…[]` resolves in its module's
/// `partials/` folder (from a page in a subfolder too), the partial's table is read in
/// each page that includes it, cited there, and skipped on its own as `included`.
#[test]
fn antora_partials_are_read_in_the_pages_that_include_them() {
    let table = "[cols=\"1,2\"]\n|===\n| quokkaok | the module succeeded\n| noop | the module did nothing\n|===\n";
    let f = Fixture::with_files(&[
        ("docs/modules/unlang/partials/rcode_table.adoc", table),
        (
            "docs/modules/unlang/pages/return_codes.adoc",
            "= Return codes\n\nEvery module returns one code.\n\ninclude::partial$rcode_table.adoc[]\n",
        ),
        (
            "docs/modules/unlang/pages/condition/rcode.adoc",
            "= Testing a return code\n\nA condition can test the last code.\n\ninclude::unlang:partial$rcode_table.adoc[]\n",
        ),
    ]);
    let report = f.ingest().expect("ingest");
    assert_eq!(
        included(&report),
        ["docs/modules/unlang/partials/rcode_table.adoc"],
        "{report:?}"
    );
    let engine = f.engine();
    let mut found = paths(&search(&engine, "quokkaok", Mode::Bm25, 5))
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    found.sort();
    assert_eq!(
        found,
        [
            "docs/modules/unlang/pages/condition/rcode.adoc",
            "docs/modules/unlang/pages/return_codes.adoc"
        ]
    );
}

/// Man pages, as Debian installs them (`man3/NAME.3.gz`): read by their sections, titled by
/// their NAME line, cited by the roff source's lines. A page that only includes another
/// (`.so`) is counted as generated, and a `NOTES.1` that holds no roff is read as text.
#[test]
fn man_pages_are_read_by_their_sections() {
    let f = Fixture::empty();
    let page = "\
.\\\" Copyright (C) Daniel Stenberg
.TH CURLOPT_TIMEOUT 3 \"January 02, 2023\" \"libcurl 7.88.1\" \"curl_easy_setopt options\"
.SH NAME
CURLOPT_TIMEOUT \\- maximum time the transfer is allowed to complete
.SH SYNOPSIS
.nf
#include <curl/curl.h>

CURLcode curl_easy_setopt(CURL *handle, CURLOPT_TIMEOUT, long timeout);
.fi
.SH DESCRIPTION
Pass a long as parameter containing \\fItimeout\\fP \\- the maximum time in
seconds that you allow the libcurl transfer operation to take.
.SH DEFAULT
Default timeout is 0 (zero) which means it never times out during transfer.
";
    write_bytes(
        f.corpus(),
        "usr/share/man/man3/CURLOPT_TIMEOUT.3.gz",
        &gzip(page.as_bytes()),
    );
    write_bytes(
        f.corpus(),
        "usr/share/man/man3/CURLOPT_TIMEOUT_ALIAS.3.gz",
        &gzip(b".so man3/CURLOPT_TIMEOUT.3\n"),
    );
    write_files(
        f.corpus(),
        &[(
            "NOTES.1",
            "Release notes\n\n.. the porcupine release fixed quills.\n",
        )],
    );
    let report = ingest_folder(
        f.corpus(),
        &f.index(),
        &embedder(),
        &IngestSettings::default(),
        &NoProgress,
    )
    .expect("ingest");
    assert_eq!(report.files_read, 2, "{:?}", report.skipped);
    assert_eq!(
        skip_reasons(&report),
        [(
            "usr/share/man/man3/CURLOPT_TIMEOUT_ALIAS.3.gz",
            "generated".to_string()
        )]
    );
    let r = search(&f.engine(), "never times out by default", Mode::Bm25, 1);
    let hit = &r.results[0];
    assert_eq!(hit.source.path, "usr/share/man/man3/CURLOPT_TIMEOUT.3.gz");
    assert_eq!(
        hit.source.title,
        "CURLOPT_TIMEOUT - maximum time the transfer is allowed to complete"
    );
    assert_eq!(hit.source.heading, "DEFAULT");
    // The page is one chunk: it cites the roff lines from NAME's heading to its last line.
    assert_eq!((hit.source.start_line, hit.source.end_line), (3, 15));
    assert!(
        !hit.text.contains("\\f") && !hit.text.contains(".SH"),
        "{}",
        hit.text
    );
    // The hybrid search finds the page by its purpose, in other words.
    let r = search(
        &f.engine(),
        "limit how long a transfer may take",
        Mode::Hybrid,
        1,
    );
    assert_eq!(
        r.results[0].source.path,
        "usr/share/man/man3/CURLOPT_TIMEOUT.3.gz"
    );
    // Prose with a man-page extension is text, not lost to a request it does not hold.
    let r = search(&f.engine(), "porcupine quills", Mode::Bm25, 1);
    assert_eq!(r.results[0].source.path, "NOTES.1");
    assert!(r.results[0].text.contains("porcupine release"));
}

/// Perl's POD (perlfunc's layout): titled by its NAME paragraph, cited by section and by the
/// named `=item` an answer stands under, with the source's lines; formatting codes, index
/// entries and the program code around the POD are not indexed.
#[test]
fn pod_is_read_by_its_sections_and_items() {
    let pod = "\
package Ferry::Timetable;
use strict;

=head1 NAME

Ferry::Timetable - departures of the harbour ferries

=head1 FUNCTIONS

=over 4

=item departures HARBOUR

=item departures

X<departures> X<sailing>
Returns the list of B<sailings> leaving I<HARBOUR> today, earliest first.
See L<the tide tables|Ferry::Tide/\"High water\">.

    my @s = departures('Kirkwall');

=item cancel SAILING

Marks a sailing as cancelled because of C<< $wind >= 9 >>.

=back

Functions not listed here are private to the module.

=cut

sub departures { return () }
";
    let f = Fixture::with_files(&[("lib/Ferry/Timetable.pod", pod)]);
    let report = f.ingest().expect("ingest");
    assert_eq!(report.files_read, 1, "{:?}", report.skipped);
    let engine = f.engine();
    let hit = search(&engine, "sailings leaving the harbour today", Mode::Bm25, 1)
        .results
        .remove(0);
    assert_eq!(
        hit.source.title,
        "Ferry::Timetable - departures of the harbour ferries"
    );
    assert_eq!(
        hit.source.heading,
        "FUNCTIONS > departures HARBOUR, departures"
    );
    assert!(
        hit.text
            .contains("Returns the list of sailings leaving HARBOUR today")
            && hit.text.contains("the tide tables")
            && !hit.text.contains("X<")
            && !hit.text.contains("use strict")
            && !hit.text.contains("return ()"),
        "{}",
        hit.text
    );
    // The file is one chunk: it cites the lines from NAME's heading to the last paragraph
    // before `=cut`, not the code around them.
    assert_eq!((hit.source.start_line, hit.source.end_line), (4, 28));
    for (query, heading) in [
        ("cancelled because of wind", "FUNCTIONS > cancel SAILING"),
        ("functions not listed are private", "FUNCTIONS"),
    ] {
        assert_eq!(cited_heading(&engine, query), heading, "{query}");
    }
}

/// GNU Info manuals, as Debian installs them (`usr/share/info/NAME.info.gz`): read by their
/// nodes and sections, a table's options on the trail, menus and tag tables left out, each
/// hit citing its node as texi2any names it. The index file of a split manual holds no node
/// and is counted as empty.
#[test]
fn info_manuals_are_read_by_their_nodes() {
    let f = Fixture::empty();
    let manual = "\
This is ferry.info, produced by makeinfo version 6.8 from ferry.texi.

INFO-DIR-SECTION Travel
START-INFO-DIR-ENTRY
* ferry: (ferry).   Harbour ferry timetables.
END-INFO-DIR-ENTRY

\x1f
File: ferry.info,  Node: Top,  Next: Invoking ferry,  Up: (dir)

GNU Ferry
*********

This manual documents ‘ferry’, which prints the departures of harbour ferries.

* Menu:

* Invoking ferry::    Options and arguments.

\x1f
File: ferry.info,  Node: Invoking ferry,  Prev: Top,  Up: Top

1 Invoking ‘ferry’
******************

‘ferry’ prints today's sailings.  *Note Top::, for an overview.

‘-t’
‘--tide’
     Draw the tide table beside the sailings, with high and low water
     marked for every port of call.

‘-w COLUMNS’
     Wrap the timetable at COLUMNS characters, for example:

          $ ferry --wrap 60 kirkwall

   An exit status of zero means every sailing was printed.

\x1f
Tag Table:
Node: Top\x7f200
\x1f
End Tag Table
";
    write_bytes(
        f.corpus(),
        "usr/share/info/ferry.info.gz",
        &gzip(manual.as_bytes()),
    );
    write_bytes(
        f.corpus(),
        "usr/share/info/ferry-split.info.gz",
        &gzip(b"This is ferry-split.info, produced by makeinfo.\n\n\x1f\nIndirect:\nferry-split.info-1: 120\n\x1f\nTag Table:\n(Indirect)\nNode: Top\x7f120\n\x1f\nEnd Tag Table\n"),
    );
    let report = f.ingest().expect("ingest");
    assert_eq!(report.files_read, 1, "{:?}", report.skipped);
    assert_eq!(
        skip_reasons(&report),
        [("usr/share/info/ferry-split.info.gz", "empty".to_string())]
    );
    let engine = f.engine();
    let hit = search(&engine, "tide table high and low water", Mode::Bm25, 1)
        .results
        .remove(0);
    assert_eq!(hit.source.path, "usr/share/info/ferry.info.gz");
    assert_eq!(hit.source.title, "GNU Ferry");
    assert_eq!(hit.source.heading, "1 Invoking ‘ferry’ > -t, --tide");
    assert_eq!(hit.source.anchor.as_deref(), Some("Invoking-ferry"));
    assert!(
        hit.text.contains("high and low water")
            && hit.text.contains("See Top, for an overview")
            && !hit.text.contains("Menu")
            && !hit.text.contains("Next:"),
        "{}",
        hit.text
    );
    // The short Top node and the node's opening sentence pack with the first option (each
    // under 40 words); the chunk cites the decompressed file's lines from the Top node's
    // heading to that option's last line, not the preamble before it.
    assert_eq!((hit.source.start_line, hit.source.end_line), (11, 31));
    // The second option is a chunk with the paragraph that closes the table, up to the last
    // paragraph and not the tag table after it.
    let hit = search(&engine, "wrap the timetable at columns", Mode::Bm25, 1)
        .results
        .remove(0);
    assert!(
        hit.text.contains("$ ferry --wrap 60 kirkwall")
            && hit.text.contains("every sailing was printed")
            && !hit.text.contains("Tag Table"),
        "{}",
        hit.text
    );
    assert_eq!((hit.source.start_line, hit.source.end_line), (33, 38));
    for (query, heading) in [
        (
            "wrap the timetable at columns",
            "1 Invoking ‘ferry’ > -w COLUMNS",
        ),
        (
            "exit status zero every sailing printed",
            "1 Invoking ‘ferry’",
        ),
        ("departures of harbour ferries", "GNU Ferry"),
    ] {
        assert_eq!(cited_heading(&engine, query), heading, "{query}");
    }
}

/// Texinfo sources (`doc/NAME.texi`): read by their nodes and sections, a table's options
/// (macros expanded) and a definition on the trail, each hit citing its node as texi2any
/// names it; the licence, menus, index entries and comments are left out. An included file
/// of `@set` lines only (`version.texi`) is counted as empty.
#[test]
fn texinfo_sources_are_read_by_their_nodes() {
    let manual = include_str!("../data/ferry.texi");
    let f = Fixture::with_files(&[
        ("doc/ferry.texi", manual),
        (
            "doc/version.texi",
            "@set UPDATED 2 December 2026\n@set VERSION 1.0\n",
        ),
    ]);
    let report = f.ingest().expect("ingest");
    assert_eq!(report.files_read, 1, "{:?}", report.skipped);
    assert_eq!(
        skip_reasons(&report),
        [("doc/version.texi", "empty".to_string())]
    );
    let engine = f.engine();
    let hit = search(&engine, "tide table high and low water", Mode::Bm25, 1)
        .results
        .remove(0);
    assert_eq!(hit.source.path, "doc/ferry.texi");
    assert_eq!(hit.source.title, "GNU Ferry Manual");
    assert_eq!(hit.source.heading, "Invoking ferry > -t, --tide");
    assert_eq!(hit.source.anchor.as_deref(), Some("Invoking-ferry"));
    assert!(
        hit.text.contains("high and low water")
            && hit.text.contains("See Top, for an overview")
            && !hit.text.contains('@')
            && !hit.text.contains("Permission")
            && !hit.text.contains("Options and arguments")
            && !hit.text.contains("invoking"),
        "{}",
        hit.text
    );
    // The short Top node and the chapter's opening sentence pack with the first option
    // (each under 40 words): the chunk cites the source from the Top node's heading to the
    // macro call that holds the option.
    let line = |needle: &str| manual.lines().position(|l| l.contains(needle)).unwrap() as u32 + 1;
    assert_eq!(
        (hit.source.start_line, hit.source.end_line),
        (line("@top GNU Ferry"), line("@optTide"))
    );
    // The second option packs with the rest of the node: the paragraph after the table and
    // the definition, up to its last line.
    let hit = search(&engine, "wrap the timetable at columns", Mode::Bm25, 1)
        .results
        .remove(0);
    assert!(
        hit.text.contains("$ ferry --wrap 60 kirkwall") && !hit.text.contains('@'),
        "{}",
        hit.text
    );
    assert_eq!(
        (hit.source.start_line, hit.source.end_line),
        (line("@item -w"), line("cancelled because of a gale"))
    );
    for (query, heading) in [
        (
            "wrap the timetable at columns",
            "Invoking ferry > -w COLUMNS, --wrap=COLUMNS",
        ),
        ("exit status zero every sailing printed", "Invoking ferry"),
        (
            "sailing cancelled because of a gale",
            "Invoking ferry > ferry-cancel SAILING",
        ),
        ("departures of harbour ferries", "GNU Ferry"),
    ] {
        assert_eq!(cited_heading(&engine, query), heading, "{query}");
    }
}

/// A plain-text FAQ (libcurl's layout): each answer is cited under its numbered question and
/// section, and a chunk starts at its question.
#[test]
fn plain_text_sections_give_trails_and_cut_points() {
    let f = Fixture::empty();
    let mut faq = String::from(
        "FAQ\n\n 1. Philosophy\n  1.1 What is cURL?\n  1.2 What is libcurl?\n\n 2. Install Related Problems\n  2.1 configure fails when using static libraries\n\n==============================================================================\n\n1. Philosophy\n\n  1.1 What is cURL?\n\n  cURL is the name of the project. The name is a play on 'Client for URLs',\n  originally with URL spelled in uppercase to make it obvious it deals with\n  URLs.\n\n  1.2 What is libcurl?\n\n  libcurl is a reliable and portable library for doing Internet data\n  transfers using one or more of its supported Internet protocols.\n\n2. Install Related Problems\n\n  2.1 configure fails when using static libraries\n\n",
    );
    // A long answer, so the file is several chunks and the cuts matter.
    for i in 0..60 {
        faq.push_str(&format!(
            "  You may find that configure fails to properly detect the entire dependency chain of libraries, step {i}.\n"
        ));
    }
    write_files(f.corpus(), &[("docs/FAQ", faq.as_str())]);
    let report = f.ingest().expect("ingest");
    assert_eq!(report.files_read, 1, "{:?}", report.skipped);
    let r = search(
        &f.engine(),
        "portable library for internet data transfers",
        Mode::Bm25,
        1,
    );
    let hit = &r.results[0];
    assert_eq!(hit.source.heading, "1. Philosophy > 1.2 What is libcurl?");
    let line = |needle: &str| faq[..faq.find(needle).unwrap()].matches('\n').count() as u32 + 1;
    assert_eq!(
        hit.source.start_line,
        line("  1.2 What is libcurl?\n\n  libcurl")
    );
    assert!(
        hit.text.trim_start().starts_with("1.2 What is libcurl?"),
        "{}",
        hit.text
    );
    assert!(!hit.text.contains("Client for URLs"), "{}", hit.text);
    let r = search(&f.engine(), "dependency chain step 3", Mode::Bm25, 1);
    assert_eq!(
        r.results[0].source.heading,
        "2. Install Related Problems > 2.1 configure fails when using static libraries"
    );
}

/// A Vim plugin's `doc/*.txt`: a hit on an option's entry cites the section and the option,
/// without the tags, at the entry's lines.
#[test]
fn vim_help_entries_are_cited_by_name() {
    let f = Fixture::empty();
    let rule = "=".repeat(78);
    let mut help = format!(
        "*ferry.txt*\tFor Vim version 9.0\tLast change: 2026 Nov 30\n\n\
         Ferry timetable plugin\n\n\
         1. Introduction\t\t|ferry-intro|\n\
         2. Options\t\t|ferry-options|\n\n\
         {rule}\n\
         1. Introduction\t\t\t\t\t*ferry-intro*\n\n\
         Ferry shows the sailings of the harbour in a window of its own.\n\n\
         {rule}\n\
         2. Options\t\t\t\t\t\t*ferry-options*\n\n"
    );
    for (name, what) in [
        ("ferryport", "the harbour whose departures are listed"),
        ("ferryrows", "how many departures the window shows"),
        (
            "ferrytide",
            "whether the tide table is drawn beside the sailings",
        ),
    ] {
        help.push_str(&format!(
            "\t\t\t\t\t\t*'{name}'*\n'{name}'\t\tstring\t(default empty)\n\t\t\tglobal\n"
        ));
        for i in 0..12 {
            help.push_str(&format!(
                "\tThe option {name} sets {what}; note {i} on its use in the timetable.\n"
            ));
        }
        help.push('\n');
    }
    help.push_str(" vim:tw=78:ts=8:noet:ft=help:norl:\n");
    write_files(f.corpus(), &[("doc/ferry.txt", help.as_str())]);
    f.ingest().expect("ingest");
    let r = search(
        &f.engine(),
        "tide table drawn beside the sailings",
        Mode::Bm25,
        1,
    );
    let hit = &r.results[0];
    assert_eq!(hit.source.heading, "2. Options > 'ferrytide'");
    let line = help[..help.find("'ferrytide'\t").unwrap()]
        .matches('\n')
        .count() as u32
        + 1;
    assert!(
        (line - 1..=line).contains(&hit.source.start_line),
        "{} vs {line}",
        hit.source.start_line
    );
    assert!(!hit.text.contains("ferryrows sets"), "{}", hit.text);
}

/// vim-doc's HTML is one `<pre>` per page: a chunk from its middle cites its own lines.
#[test]
fn a_chunk_of_a_long_pre_cites_its_own_lines() {
    let f = Fixture::empty();
    let mut page = String::from(
        "<html><head><title>Vim documentation: ferry</title></head><body>\n<h1>Vim documentation: ferry</h1>\n<pre>\n",
    );
    for i in 0..300 {
        page.push_str(&format!(
            "Line {i} of the manual, about <a href=\"x.html#s{i}\">sailing {i}</a> and its harbour.\n"
        ));
    }
    page.push_str("The lighthouse keeper rings the fog bell at dusk.\n");
    for i in 300..400 {
        page.push_str(&format!("Line {i} of the manual, about the harbour.\n"));
    }
    page.push_str("</pre>\n</body></html>\n");
    write_files(f.corpus(), &[("html/ferry.html", page.as_str())]);
    f.ingest().expect("ingest");
    let r = search(&f.engine(), "lighthouse keeper fog bell", Mode::Bm25, 1);
    let hit = &r.results[0];
    let line = page[..page.find("The lighthouse").unwrap()]
        .matches('\n')
        .count() as u32
        + 1;
    let (start, end) = (hit.source.start_line, hit.source.end_line);
    assert!(start <= line && line <= end, "{start}-{end} vs {line}");
    assert!(end - start < 100, "{start}-{end}: the whole <pre>");
}

/// DocBook sources (a systemd-style reference page, a PostgreSQL-style fragment without a
/// prolog): titled like man pages, an option cited by its terms and the entry's id, lines of
/// the source; an `.xml` that is not DocBook (a build file) is skipped as unsupported.
#[test]
fn docbook_is_read_by_its_sections_and_entries() {
    let f = Fixture::empty();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/docbook");
    let page = std::fs::read_to_string(data.join("ferryctl.xml")).expect("fixture");
    for name in ["ferryctl.xml", "timetables.sgml", "build.xml"] {
        let bytes = std::fs::read(data.join(name)).expect("fixture");
        write_bytes(f.corpus(), &format!("man/{name}"), &bytes);
    }
    let report = ingest_folder(
        f.corpus(),
        &f.index(),
        &embedder(),
        &IngestSettings::default(),
        &NoProgress,
    )
    .expect("ingest");
    assert_eq!(report.files_read, 2, "{:?}", report.skipped);
    assert_eq!(
        skip_reasons(&report),
        [("man/build.xml", "unsupported".to_string())]
    );
    assert!(
        report.skipped[0].detail.contains("not DocBook"),
        "{}",
        report.skipped[0].detail
    );
    let engine = f.engine();
    let hit = search(&engine, "tide table high and low water", Mode::Bm25, 1)
        .results
        .remove(0);
    assert_eq!(hit.source.path, "man/ferryctl.xml");
    assert_eq!(
        hit.source.title,
        "ferryctl — Print the departures of harbour ferries"
    );
    let line = |needle: &str| page.lines().position(|l| l.contains(needle)).unwrap() as u32 + 1;
    assert!(
        hit.source.start_line <= line("Draw the tide table")
            && hit.source.end_line >= line("marked for every port"),
        "{:?}",
        (hit.source.start_line, hit.source.end_line)
    );
    assert!(
        hit.text.contains("from Kirkwall onwards")
            && hit.text.contains("$ ferryctl --wrap=60 kirkwall")
            && hit.text.contains("ferryctl [OPTIONS...] {PORT}")
            && !hit.text.contains("Lovelace")
            && !hit.text.contains("indexonlyword")
            && !hit.text.contains("<option>"),
        "{}",
        hit.text
    );
    for (query, heading) in [
        (
            "draw the tide table beside the sailings",
            "ferryctl(1) > Options > -t, --tide",
        ),
        (
            "wrap the timetable at columns characters",
            "ferryctl(1) > Options > --wrap=COLUMNS",
        ),
        (
            "exit status zero every sailing printed",
            "ferryctl(1) > Options",
        ),
    ] {
        assert_eq!(cited_heading(&engine, query), heading, "{query}");
    }
    let hit = search(&engine, "winter sailings october march", Mode::Bm25, 1)
        .results
        .remove(0);
    assert_eq!(hit.source.path, "man/timetables.sgml");
    assert_eq!(hit.source.heading, "Seasonal Timetables in product");
    assert_eq!(hit.source.anchor.as_deref(), Some("timetables"));
    assert_eq!((hit.source.start_line, hit.source.end_line), (4, 8));
}
