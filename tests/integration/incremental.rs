//! Re-ingesting a folder: unchanged files cost nothing, an edited file is re-embedded alone,
//! and a deleted file disappears from both retrievers.

use lore::Mode;

use crate::support::{
    paths, search, search_every_chunk, Fixture, BREAD, CALIBRATION, RARE_TOKEN, TOPICS,
};

#[test]
fn reingesting_an_unchanged_folder_embeds_nothing_and_publishes_nothing() {
    let f = Fixture::with_files(&TOPICS);
    let first = f.ingest().expect("first ingest");
    assert_eq!(first.files_added, TOPICS.len());
    assert_eq!(first.chunks_embedded, first.chunks);
    assert_eq!(first.generation, 1);
    let engine = f.engine();

    let second = f.ingest().expect("second ingest");
    assert_eq!(second.chunks_embedded, 0);
    assert_eq!(second.files_unchanged, TOPICS.len());
    assert_eq!(
        second.files_added + second.files_changed + second.files_removed,
        0
    );
    assert_eq!(second.chunks, first.chunks);
    assert_eq!(second.chunks_reused, first.chunks);
    assert_eq!(second.generation, first.generation);
    assert_eq!(engine.reload_if_changed().expect("reload"), None);
}

/// An index cut by a chunker version that composed embedding texts differently is chunked
/// and embedded again in full: no old vector is reused by embedding text (the stored chunk's
/// text, recomputed now, would otherwise fetch a vector of the old text). One whose versions
/// compose the same texts is chunked again (its locations may differ) but keeps its vectors.
#[test]
fn a_chunker_version_change_chunks_again_and_embeds_only_if_texts_changed() {
    let f = Fixture::with_files(&TOPICS);
    let first = f.ingest().expect("first ingest");
    let set_version = |v: u32| {
        crate::support::edit_manifest(&f.index(), |m| {
            m.insert("chunker".into(), serde_json::json!(v));
        })
    };
    set_version(lore::chunk::SAME_EMBEDDING_TEXT_SINCE - 1);
    let second = f.ingest().expect("second ingest");
    assert!(second.full_reembed_reason.is_some());
    assert_eq!(second.chunks, first.chunks);
    assert_eq!(second.chunks_embedded, second.chunks, "{second:?}");
    assert_eq!(second.chunks_reused, 0);

    if lore::chunk::SAME_EMBEDDING_TEXT_SINCE < lore::chunk::CHUNKER_VERSION {
        set_version(lore::chunk::SAME_EMBEDDING_TEXT_SINCE);
        let third = f.ingest().expect("third ingest");
        assert_eq!(third.full_reembed_reason, None, "{third:?}");
        assert_eq!(third.chunks, first.chunks);
        assert_eq!(third.chunks_embedded, 0, "{third:?}");
        assert_eq!(third.chunks_reused, third.chunks);
        // Chunked again: a new generation, stamped with this version.
        assert_eq!(third.generation, second.generation + 1);
    }
    let engine = f.engine();
    assert_eq!(
        engine.index().manifest().chunker,
        lore::chunk::CHUNKER_VERSION
    );
    let hits = search(&engine, "crumbometer", Mode::Hybrid, 3);
    assert_eq!(paths(&hits)[0], BREAD);
}

#[test]
fn editing_one_file_reembeds_only_its_chunks() {
    let f = Fixture::with_files(&TOPICS);
    let first = f.ingest().expect("first ingest");
    let engine = f.engine();
    let before = search(&engine, "crumbometer", Mode::Bm25, 10);
    assert_eq!(
        paths(&before),
        [BREAD],
        "fixture check: the old word is found"
    );

    // Change one sentence in the last section of the multi-chunk sourdough file.
    let text = f.read(BREAD);
    let edited = text.replace("No crumbometer is needed", "No ovenspringgauge is needed");
    assert_ne!(text, edited);
    std::fs::write(f.corpus().join(BREAD), edited).unwrap();

    let report = f.ingest().expect("second ingest");
    assert_eq!(report.files_changed, 1);
    assert_eq!(report.files_unchanged, TOPICS.len() - 1);
    assert_eq!(report.files_added + report.files_removed, 0);
    assert_eq!(report.generation, first.generation + 1);

    assert_eq!(
        engine.reload_if_changed().expect("reload"),
        Some(report.generation)
    );
    let index = engine.index();
    let bread_chunks = index.manifest().documents[BREAD].chunks as usize;
    assert!(
        bread_chunks > 1,
        "fixture check: the sourdough file spans several chunks"
    );
    assert!(
        (1..=bread_chunks).contains(&report.chunks_embedded),
        "{} chunks embedded; the edited file has {bread_chunks}",
        report.chunks_embedded
    );
    // Only the last section changed: the file's other chunks keep their vectors too.
    assert!(
        report.chunks_embedded < bread_chunks,
        "all {bread_chunks} chunks of the edited file were embedded again"
    );
    assert_eq!(report.chunks_reused + report.chunks_embedded, report.chunks);
    assert_eq!(report.chunks, index.manifest().chunks);

    // The index serves the new text and not the old, in both retrievers.
    let new = search(&engine, "ovenspringgauge", Mode::Bm25, 10);
    assert_eq!(paths(&new), [BREAD]);
    assert!(search(&engine, "crumbometer", Mode::Bm25, 10)
        .results
        .is_empty());
    let edited_hit = &new.results[0];
    let dense = search(
        &engine,
        "how do I know the loaf is baked through",
        Mode::Dense,
        3,
    );
    assert!(
        dense.results.iter().any(|h| h.id == edited_hit.id),
        "the re-embedded chunk is not found by meaning: {:?}",
        paths(&dense)
    );
}

#[test]
fn deleting_a_file_removes_it_from_both_retrievers() {
    let f = Fixture::with_files(&TOPICS);
    let first = f.ingest().expect("first ingest");
    let engine = f.engine();
    let calibration_query = "spectrometer wavelength calibration with a reference crystal";
    let dense_before = search(&engine, calibration_query, Mode::Dense, 3);
    assert_eq!(
        paths(&dense_before).first(),
        Some(&CALIBRATION),
        "fixture check"
    );
    let removed_chunks = engine.index().manifest().documents[CALIBRATION].chunks as usize;

    std::fs::remove_file(f.corpus().join(CALIBRATION)).unwrap();
    let report = f.ingest().expect("second ingest");
    assert_eq!(report.files_removed, 1);
    assert_eq!(report.files_unchanged, TOPICS.len() - 1);
    assert_eq!(report.chunks_embedded, 0, "nothing new to embed");
    assert_eq!(report.chunks_removed, removed_chunks);
    assert_eq!(report.chunks, first.chunks - removed_chunks);

    assert_eq!(
        engine.reload_if_changed().expect("reload"),
        Some(report.generation)
    );
    assert!(!engine
        .index()
        .manifest()
        .documents
        .contains_key(CALIBRATION));
    let bm25 = search(&engine, RARE_TOKEN, Mode::Bm25, 100);
    assert!(bm25.results.is_empty(), "{:?}", paths(&bm25));
    // Dense search ranks every chunk left: none may come from the deleted file.
    for mode in [Mode::Dense, Mode::Hybrid] {
        let r = search_every_chunk(&engine, calibration_query, mode, 100);
        assert_eq!(r.results.len(), report.chunks, "{mode}");
        assert!(!paths(&r).contains(&CALIBRATION), "{mode}: {:?}", paths(&r));
    }
}

/// Unchanged bytes are read again when the reader that reads them changes: a `.txt` that
/// Docutils' page now sits beside is reStructuredText, re-chunked with its sections. (Its
/// adornments are `:` and `'`, which reST accepts and plain text's heading rules do not.)
#[test]
fn a_file_whose_reader_changes_is_chunked_again_though_its_bytes_did_not() {
    let faq = "Widget FAQ\n::::::::::\n\nWhy is it slow?\n'''''''''''''''\n\n\
               The quokka index reads every file twice.\n";
    let f = Fixture::with_files(&[("FAQ.txt", faq)]);
    let first = f.ingest().expect("first ingest");
    assert_eq!(first.files_by_format.get("text"), Some(&1), "{first:?}");
    let heading = |f: &Fixture| {
        let r = search(&f.engine(), "quokka index reads", Mode::Bm25, 1);
        r.results[0].source.heading.clone()
    };
    assert_eq!(heading(&f), "");

    crate::support::write_bytes(
        f.corpus(),
        "FAQ.html",
        b"<html><head><meta name=\"generator\" content=\"Docutils 0.19\" /></head>\n\
          <body><p>The quokka index reads every file twice.</p></body></html>\n",
    );
    let second = f.ingest().expect("second ingest");
    assert_eq!(second.files_by_format.get("rst"), Some(&1), "{second:?}");
    assert_eq!(second.files_changed, 1, "{second:?}");
    assert_eq!(second.files_read, 1, "{second:?}");
    assert_eq!(heading(&f), "Widget FAQ > Why is it slow?");
}

/// A manual that takes definitions from another file (Texinfo's `@include version.texi`,
/// DocBook's `xi:include`) is read again when only that file changes, and serves its new
/// text; files that include nothing stay as they were.
#[test]
fn editing_an_included_file_reads_the_including_manual_again() {
    let manual = "doc/frob.texi";
    let f = Fixture::with_files(&[
        (
            manual,
            "\\input texinfo\n@include version.texi\n@settitle Frob\n@node Top\n@top Frob\n\n\
             @node Releases\n@chapter Releases\n\nThis manual documents the frobnicator release @value{CODENAME}.\n@bye\n",
        ),
        ("doc/version.texi", "@set CODENAME quokkafrost\n"),
        (
            "notes.md",
            "# Notes\n\nUnrelated notes about sourdough starters and their feeding.\n",
        ),
    ]);
    f.ingest().expect("first ingest");
    let engine = f.engine();
    let hits = search(&engine, "quokkafrost", Mode::Bm25, 5);
    assert_eq!(paths(&hits), [manual]);

    crate::support::write_files(
        f.corpus(),
        &[("doc/version.texi", "@set CODENAME wombatdawn\n")],
    );
    let report = f.ingest().expect("second ingest");
    // The manual changed through its include; the settings file alone is still `empty`.
    assert_eq!(report.files_changed, 1, "{report:?}");
    assert_eq!(report.files_unchanged, 1, "{report:?}");
    engine.reload_if_changed().expect("reload");
    assert_eq!(
        paths(&search(&engine, "wombatdawn", Mode::Bm25, 5)),
        [manual]
    );
    assert!(search(&engine, "quokkafrost", Mode::Bm25, 5)
        .results
        .is_empty());
}

/// A DocBook fragment (a `variablelist` of shared options) that a man page includes is read
/// as part of that page and skipped on its own as `included`; once no page includes it, the
/// next ingest reads it as a document again. A fragment no page includes is always read.
#[test]
fn a_fragment_a_page_includes_is_read_there_and_not_again_on_its_own() {
    let page = |body: &str| {
        format!(
            "<refentry id='frob' xmlns:xi='http://www.w3.org/2001/XInclude'>\
             <refmeta><refentrytitle>frob</refentrytitle><manvolnum>1</manvolnum></refmeta>\
             <refsect1><title>Options</title><variablelist>{body}</variablelist></refsect1></refentry>\n"
        )
    };
    let frob = page("<xi:include href='options.xml' xpointer='help'/>");
    let f = Fixture::with_files(&[
        ("man/frob.xml", frob.as_str()),
        (
            "man/options.xml",
            "<variablelist><varlistentry id='help'><term><option>--help</option></term>\
             <listitem><para>Print the quokkafrost help text and exit.</para></listitem>\
             </varlistentry></variablelist>\n",
        ),
        (
            "man/lonely.xml",
            "<refsect1><title>Lonely</title><para>A wombatdawn part that no page includes.</para></refsect1>\n",
        ),
        (
            "notes.md",
            "# Notes\n\nUnrelated notes about sourdough starters and their feeding.\n",
        ),
    ]);
    let report = f.ingest().expect("first ingest");
    let included: Vec<(&str, &str)> = report
        .skipped
        .iter()
        .filter(|s| s.reason == lore::read::SkipReason::Included)
        .map(|s| (s.path.as_str(), s.detail.as_str()))
        .collect();
    assert_eq!(
        included,
        [(
            "man/options.xml",
            "its text is read as part of man/frob.xml"
        )],
        "{report:?}"
    );
    let engine = f.engine();
    assert_eq!(
        paths(&search(&engine, "quokkafrost", Mode::Bm25, 5)),
        ["man/frob.xml"]
    );
    assert_eq!(
        paths(&search(&engine, "wombatdawn", Mode::Bm25, 5)),
        ["man/lonely.xml"]
    );

    crate::support::write_files(f.corpus(), &[("man/frob.xml", page("").as_str())]);
    let report = f.ingest().expect("second ingest");
    assert_eq!(report.files_added, 1, "{report:?}");
    assert_eq!(report.files_changed, 1, "{report:?}");
    engine.reload_if_changed().expect("reload");
    assert_eq!(
        paths(&search(&engine, "quokkafrost", Mode::Bm25, 5)),
        ["man/options.xml"]
    );
}
