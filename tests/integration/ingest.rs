//! Ingesting folders that are missing, empty, partly unreadable, partly ignored, or that
//! point at someone else's files.

use std::collections::BTreeSet;

use lore::ingest::{ingest_folder, IngestSettings, NoProgress};
use lore::{Error, Mode};

use crate::support::{embedder, paths, search, write_bytes, write_files, Fixture, TOPICS};

fn generation_dirs(index: &std::path::Path) -> BTreeSet<String> {
    std::fs::read_dir(index)
        .expect("read index folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-"))
        .collect()
}

#[test]
fn missing_folder_is_refused_with_its_name() {
    let f = Fixture::empty();
    let missing = f.corpus().join("no-such-folder");
    let err = ingest_folder(
        &missing,
        &f.index(),
        &embedder(),
        &IngestSettings::default(),
        &NoProgress,
    )
    .expect_err("ingesting a missing folder must fail");
    assert!(matches!(err, Error::Corpus { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "message does not name the folder: {message}"
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(
        !f.index().exists(),
        "a failed ingest created the index folder"
    );
}

#[test]
fn empty_folder_is_refused_and_the_published_index_keeps_serving() {
    let f = Fixture::topics();
    let engine = f.engine();
    let generation = engine.index().manifest().generation;
    let dirs = generation_dirs(&f.index());

    let empty = tempfile::TempDir::new().expect("temp folder");
    // Files lore cannot read leave the index alone (and the error names why).
    write_files(
        empty.path(),
        &[("photo.jpg", "not text"), ("notes.pdf", "%PDF")],
    );
    let err = ingest_folder(
        empty.path(),
        &f.index(),
        &embedder(),
        &IngestSettings::default(),
        &NoProgress,
    )
    .expect_err("ingesting an empty folder must fail");
    let message = err.to_string();
    assert!(
        message.contains(&empty.path().display().to_string()),
        "{message}"
    );
    assert!(message.contains("read none"), "{message}");
    assert!(message.contains("unsupported 1 (.jpg 1)"), "{message}");
    assert!(message.contains("parse_error 1"), "{message}");

    // The running engine and a freshly opened one both still answer from the same generation.
    assert_eq!(engine.reload_if_changed().expect("reload"), None);
    let response = search(&engine, "sourdough starter feeding", Mode::Hybrid, 5);
    assert_eq!(response.generation, generation);
    assert_eq!(paths(&response).first(), Some(&"bread/sourdough.md"));
    let reopened = f.engine();
    assert_eq!(reopened.index().manifest().generation, generation);
    assert_eq!(reopened.index().manifest().documents.len(), TOPICS.len());
    assert_eq!(
        generation_dirs(&f.index()),
        dirs,
        "generation folders changed"
    );
}

#[test]
fn folder_of_only_unreadable_files_is_refused_and_changes_nothing() {
    let f = Fixture::topics();
    let generation = f.engine().index().manifest().generation;
    let bad = tempfile::TempDir::new().expect("temp folder");
    write_bytes(
        bad.path(),
        "blob.md",
        b"\x7fELF\x02\x01\x01\0\0\0\0binary\0\x01",
    );
    let err = ingest_folder(
        bad.path(),
        &f.index(),
        &embedder(),
        &IngestSettings::default(),
        &NoProgress,
    )
    .expect_err("a folder with nothing readable must fail");
    assert!(err.to_string().contains("read none"), "{err}");
    assert!(err.to_string().contains("binary 1"), "{err}");
    let engine = f.engine();
    assert_eq!(engine.index().manifest().generation, generation);
    assert_eq!(engine.index().manifest().documents.len(), TOPICS.len());
}

#[test]
fn legacy_encodings_are_decoded_and_binary_files_are_skipped_and_counted() {
    let f = Fixture::with_files(&TOPICS[..2]);
    // Latin-1 (Windows-1252) text: decoded, not refused.
    write_bytes(
        f.corpus(),
        "legacy/latin1.md",
        b"# Caf\xe9\nlatinmarker text in Latin-1, na\xefve r\xe9sum\xe9 for the caf\xe9 menu.\n",
    );
    // A binary file with a Markdown name: NUL bytes, and a word that must not be indexed.
    let mut binary = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    binary.extend_from_slice(b" binarymarker \0\x01\x02 more bytes\n");
    write_bytes(f.corpus(), "assets/image.md", &binary);
    // Unsupported files are counted by extension.
    write_bytes(f.corpus(), "assets/logo.png", b"\x89PNG\r\n");
    write_bytes(f.corpus(), "assets/site.css", b"body {}");

    let report = f.ingest().expect("the good files are still ingested");
    assert_eq!(report.files_found, 6);
    assert_eq!(report.files_read, 3);
    assert_eq!(report.files_skipped, 3);
    let skipped: Vec<(String, String)> = report
        .skipped
        .iter()
        .map(|s| (s.path.clone(), s.reason.to_string()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("assets/image.md".to_string(), "binary".to_string()),
            ("assets/logo.png".to_string(), "unsupported".to_string()),
            ("assets/site.css".to_string(), "unsupported".to_string()),
        ]
    );
    assert_eq!(report.skipped_by_reason["unsupported"], 2);
    assert_eq!(report.skipped_by_reason["binary"], 1);

    let engine = f.engine();
    let r = search(&engine, "latinmarker", Mode::Bm25, 10);
    assert_eq!(paths(&r), ["legacy/latin1.md"]);
    assert!(r.results[0].text.contains("Café"), "{}", r.results[0].text);
    let r = search(&engine, "binarymarker", Mode::Bm25, 10);
    assert!(r.results.is_empty(), "binary was indexed: {:?}", paths(&r));
}

#[test]
fn gitignored_and_hidden_files_are_not_ingested() {
    let f = Fixture::with_files(&[
        (
            "kept.md",
            "# Kept\nkeptmarker is the only visible document.\n",
        ),
        ("sub/also-kept.txt", "alsokeptmarker plain text file.\n"),
        (".gitignore", "ignored.md\nbuild/\n*.draft.md\n"),
        ("ignored.md", "# Ignored\nignoredmarker must stay out.\n"),
        ("build/output.md", "# Build\nbuildmarker must stay out.\n"),
        ("sub/wip.draft.md", "# Draft\ndraftmarker must stay out.\n"),
        (".hidden.md", "# Hidden\nhiddenmarker must stay out.\n"),
        (
            ".private/notes.md",
            "# Private\nprivatemarker must stay out.\n",
        ),
    ]);
    let report = f.ingest().expect("ingest");
    assert_eq!(report.files_read, 2);
    assert_eq!(
        report.files_skipped, 0,
        "hidden and ignored files are not part of the folder"
    );

    let engine = f.engine();
    let docs: Vec<String> = engine
        .index()
        .manifest()
        .documents
        .keys()
        .cloned()
        .collect();
    assert_eq!(docs, ["kept.md", "sub/also-kept.txt"]);
    for marker in ["keptmarker", "alsokeptmarker"] {
        let r = search(&engine, marker, Mode::Bm25, 10);
        assert_eq!(r.results.len(), 1, "{marker}: {:?}", paths(&r));
    }
    for marker in [
        "ignoredmarker",
        "buildmarker",
        "draftmarker",
        "hiddenmarker",
        "privatemarker",
    ] {
        let r = search(&engine, marker, Mode::Bm25, 10);
        assert!(
            r.results.is_empty(),
            "{marker} was indexed: {:?}",
            paths(&r)
        );
    }
}

const WITH_FRONT_MATTER: &str = "---
title: \"Proofing Handbook\"
author: frontmatterauthor
tags: [bread, proofing]
---
# Cold proofing

Retarding shaped loaves in the refrigerator overnight slows the yeast while bacteria keep
producing acids, so the bread tastes more complex. Bake straight from the fridge.
";

#[test]
fn front_matter_gives_the_title_and_is_not_indexed() {
    let f = Fixture::with_files(&[("proofing.md", WITH_FRONT_MATTER), TOPICS[3]]);
    f.ingest().expect("ingest");
    let engine = f.engine();

    let r = search(
        &engine,
        "retarding loaves in the refrigerator",
        Mode::Hybrid,
        5,
    );
    let top = &r.results[0];
    assert_eq!(top.source.path, "proofing.md");
    assert_eq!(top.source.title, "Proofing Handbook");
    assert_eq!(top.source.heading, "Cold proofing");
    // Line numbers still count the front matter: the body starts on line 6.
    assert_eq!(top.source.start_line, 6);
    crate::support::check_source(f.corpus(), top);

    let index = engine.index();
    for chunk in index.chunks().expect("chunks") {
        for fm in ["frontmatterauthor", "tags:", "---"] {
            assert!(
                !chunk.text.contains(fm),
                "chunk {}#{} holds front matter {fm:?}",
                chunk.path,
                chunk.ordinal
            );
        }
    }
    let r = search(&engine, "frontmatterauthor", Mode::Bm25, 10);
    assert!(
        r.results.is_empty(),
        "front matter was indexed: {:?}",
        paths(&r)
    );
}

#[test]
fn index_folder_holding_other_files_is_refused_and_left_untouched() {
    let f = Fixture::with_files(&TOPICS[..1]);
    let index = f.index();
    std::fs::create_dir_all(&index).unwrap();
    let docx = index.join("notes.docx");
    let contents = b"PK\x03\x04 someone's thesis".to_vec();
    std::fs::write(&docx, &contents).unwrap();

    let err = f
        .ingest()
        .expect_err("must refuse a folder that is not a lore index");
    let message = err.to_string();
    assert!(message.contains("not a lore index"), "{message}");
    assert!(message.contains("notes.docx"), "{message}");
    assert!(message.contains(&index.display().to_string()), "{message}");

    assert_eq!(
        std::fs::read(&docx).unwrap(),
        contents,
        "the file was changed"
    );
    let names: Vec<String> = std::fs::read_dir(&index)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["notes.docx"], "the ingest wrote into the folder");
}

#[test]
fn a_second_writer_is_refused_while_the_lock_is_held() {
    let f = Fixture::topics();
    let generation = f.engine().index().manifest().generation;
    std::fs::write(
        f.corpus().join("new.md"),
        "# New\nA note that arrives while another ingest runs.\n",
    )
    .unwrap();

    let held = lore::store::lock(&f.index()).expect("take the writer lock");
    let err = f
        .ingest()
        .expect_err("an ingest must not run while another holds the lock");
    assert!(matches!(err, Error::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains("locked"), "{err}");
    assert_eq!(f.engine().index().manifest().generation, generation);

    drop(held);
    let report = f.ingest().expect("the lock is free again");
    assert_eq!(report.files_added, 1);
    assert_eq!(report.generation, generation + 1);
}

#[test]
fn old_generations_and_interrupted_ones_are_collected() {
    let f = Fixture::topics();
    let edit = |n: usize| {
        std::fs::write(
            f.corpus().join("changing.md"),
            format!("# Changing\nRevision {n} of a file that keeps changing.\n"),
        )
        .unwrap();
        f.ingest().expect("ingest")
    };
    assert_eq!(edit(2).generation, 2);
    // What an ingest killed while writing generation 3 leaves behind.
    let leftover = f.index().join("gen-000003.tmp");
    std::fs::create_dir_all(&leftover).unwrap();
    std::fs::write(leftover.join("chunks.jsonl"), "half a line").unwrap();

    let report = edit(3);
    assert_eq!(report.generation, 3);
    // The current generation and the one before it (for servers still reading it) remain.
    let expected: BTreeSet<String> = ["gen-000002", "gen-000003"].map(String::from).into();
    assert_eq!(generation_dirs(&f.index()), expected);
    let engine = f.engine();
    assert_eq!(engine.index().manifest().generation, 3);
    let r = search(
        &engine,
        "revision 3 of a file that keeps changing",
        Mode::Bm25,
        1,
    );
    assert_eq!(paths(&r), ["changing.md"]);
    assert!(r.results[0].text.contains("Revision 3"));
}

// The tests below document bugs in src/ (see each `ignore` reason); run them with
// `cargo test --release --test integration -- --ignored` once fixed, then drop the `ignore`.

#[test]
fn a_crash_before_the_first_pointer_rename_does_not_lock_the_user_out() {
    let f = Fixture::topics();
    // A first ingest that died between writing CURRENT.tmp and renaming it to CURRENT.
    std::fs::rename(f.index().join("CURRENT"), f.index().join("CURRENT.tmp")).unwrap();
    let report = f
        .ingest()
        .expect("lore's own leftovers must not block the next ingest");
    assert!(report.generation >= 1);
    f.engine();
}

#[test]
fn front_matter_after_a_byte_order_mark_is_still_metadata() {
    let f = Fixture::with_files(&[(
        "bom.md",
        "\u{feff}---\ntitle: Saved On Windows\nauthor: bomauthor\n---\n# Heading\nA note saved with a byte-order mark.\n",
    )]);
    f.ingest().expect("ingest");
    let engine = f.engine();
    let index = engine.index();
    let chunk = &index.chunks().expect("chunks")[0];
    assert_eq!(chunk.title, "Saved On Windows");
    assert_eq!(chunk.heading, "Heading");
    assert!(!chunk.text.contains("bomauthor"), "{:?}", chunk.text);
    assert!(!chunk.text.contains('\u{feff}'), "{:?}", chunk.text);
}

#[test]
fn a_comment_in_a_code_block_is_not_the_title() {
    let f = Fixture::with_files(&[(
        "setup-notes.md",
        "Intro paragraph.\n\n```bash\n# install the deps\napt install foo\n```\n\n## Usage\nrun it\n",
    )]);
    f.ingest().expect("ingest");
    let engine = f.engine();
    let index = engine.index();
    // No level-1 heading outside code: the title falls back to the file stem.
    assert_eq!(index.chunks().expect("chunks")[0].title, "setup-notes");
}
