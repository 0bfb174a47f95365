//! Segmented generations (issue 13): an update writes one segment of what changed and
//! leaves the others untouched, deletes are tombstones that no search returns, a merge
//! equals a rebuild, garbage collection removes only unreferenced segments, and a merge
//! killed mid-way leaves the previous generation serving.

use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;

use lore::compact::{self, MergePolicy};
use lore::ingest::{ingest_folder, IngestSettings, NoProgress};
use lore::store;
use lore::{Mode, SearchOptions};

use crate::support::{
    embedder, lore_cmd, search, write_files, Fixture, BREAD, CALIBRATION, RARE_TOKEN, TOPICS,
};

fn manifest(index: &Path) -> store::Manifest {
    let c = store::read_current(index).unwrap().unwrap();
    store::read_manifest(&index.join(c.dir)).unwrap()
}

fn segment_dirs(index: &Path) -> BTreeSet<String> {
    std::fs::read_dir(index.join(store::SEGMENTS))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Every segment a generation folder left in the index lists.
fn referenced(index: &Path) -> BTreeSet<String> {
    std::fs::read_dir(index)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("gen-"))
        .flat_map(|e| store::read_manifest(&e.path()).unwrap().segments)
        .map(|r| store::segment_dir_name(r.id))
        .collect()
}

fn all_modes(engine: &lore::Engine, query: &str) -> Vec<lore::Hit> {
    [Mode::Bm25, Mode::Dense, Mode::Hybrid]
        .into_iter()
        .flat_map(|m| search(engine, query, m, 50).results)
        .collect()
}

fn index_ok(index: &Path) {
    let config = lore::Config {
        index: Some(index.to_path_buf()),
        ..lore::Config::default()
    };
    for c in lore::doctor::check_index(&config, Some(&embedder())) {
        assert!(c.ok || c.name == "disk space", "{c:?}");
    }
}

#[test]
fn an_update_writes_only_what_changed_deletes_never_return_and_a_merge_equals_a_rebuild() {
    let f = Fixture::with_files(&TOPICS);
    f.ingest().expect("first ingest");
    let index = f.index();
    let first = manifest(&index);
    assert_eq!(first.segments.len(), 1);
    let engine = f.engine();
    assert!(
        all_modes(&engine, "crumbometer")
            .iter()
            .any(|h| h.text.contains("crumbometer")),
        "fixture check"
    );

    // Edit one file: one new segment holding exactly its chunks; the first is untouched.
    let text = f.read(BREAD);
    std::fs::write(
        f.corpus().join(BREAD),
        text.replace("No crumbometer is needed", "No ovenspringgauge is needed"),
    )
    .unwrap();
    let report = f.ingest().expect("update");
    assert_eq!(report.files_changed, 1);
    let second = manifest(&index);
    assert_eq!(second.segments.len(), 2, "{:?}", second.segments);
    assert_eq!(
        second.segments[0], first.segments[0],
        "the old segment was rewritten"
    );
    let new = &second.segments[1];
    let bread = &second.documents[BREAD];
    assert_eq!((bread.segment, bread.first_chunk), (new.id, 0));
    assert_eq!(
        new.chunks, bread.chunks,
        "the new segment holds only the edited file"
    );
    for (path, e) in &second.documents {
        if path != BREAD {
            assert_eq!(e, &first.documents[path], "{path} moved");
        }
    }
    engine.reload_if_changed().expect("reload");
    // The old chunk is a tombstone: no mode returns it, the new text is found.
    for h in all_modes(&engine, "crumbometer") {
        assert!(
            !h.text.contains("crumbometer"),
            "a deleted chunk came back: {h:?}"
        );
    }
    assert!(all_modes(&engine, "ovenspringgauge")
        .iter()
        .any(|h| h.text.contains("ovenspringgauge")));

    // Delete a file: no new segment, its chunks are tombstones.
    assert!(!search(&engine, RARE_TOKEN, Mode::Bm25, 10)
        .results
        .is_empty());
    std::fs::remove_file(f.corpus().join(CALIBRATION)).unwrap();
    let report = f.ingest().expect("delete");
    assert_eq!(report.files_removed, 1);
    let third = manifest(&index);
    assert_eq!(third.segments, second.segments, "a delete wrote a segment");
    engine.reload_if_changed().expect("reload");
    for h in all_modes(&engine, RARE_TOKEN) {
        assert_ne!(h.source.path, CALIBRATION, "a deleted document came back");
    }
    index_ok(&index);

    // A full merge: one segment, the deleted chunks dropped, doctor passes.
    let merged = compact::compact(&index, &MergePolicy::default(), true)
        .expect("compact")
        .expect("something to merge");
    assert_eq!(merged.merged.len(), 2);
    assert!(merged.dropped > first.documents[CALIBRATION].chunks as usize);
    let fourth = manifest(&index);
    assert_eq!(fourth.segments.len(), 1);
    assert_eq!(fourth.chunks, third.chunks);
    index_ok(&index);
    // Only segments some remaining generation lists are on disk.
    assert_eq!(segment_dirs(&index), referenced(&index));
    // Nothing more to merge.
    assert!(compact::compact(&index, &MergePolicy::default(), true)
        .expect("compact")
        .is_none());

    // The merged index scores like a fresh build of the same folder (BM25 statistics are
    // those of the live chunks once the tombstones are gone).
    engine.reload_if_changed().expect("reload");
    let (_fresh, rebuilt) = fresh_build(f.corpus());
    for q in [
        "sourdough starter feeding",
        "arctic terns migrate",
        "kubernetes autoscaling pods",
    ] {
        let a = search(&engine, q, Mode::Bm25, 20).results;
        let b = search(&rebuilt, q, Mode::Bm25, 20).results;
        assert_eq!(a.len(), b.len(), "{q}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.id, y.id, "{q}");
            let (sx, sy) = (x.bm25_score.unwrap(), y.bm25_score.unwrap());
            assert!((sx - sy).abs() < 1e-4, "{q}: {} {sx} vs {sy}", x.id);
        }
    }
}

#[test]
fn the_tiered_policy_merges_a_full_tier_of_small_segments() {
    let f = Fixture::with_files(&TOPICS);
    f.ingest().expect("first ingest");
    let index = f.index();
    let policy = MergePolicy {
        segments_per_tier: 3,
        ..MergePolicy::default()
    };
    for round in 0..2 {
        write_files(
            f.corpus(),
            &[(
                &format!("notes/round-{round}.md"),
                &format!(
                    "# Round {round}\n\nA note about glassblowing written in round {round}.\n"
                ),
            )],
        );
        f.ingest().expect("update");
        assert!(compact::choose(&manifest(&index), &policy).is_empty() || round == 1);
    }
    // Three tier-0 segments (the first build is small too): merged into one.
    assert_eq!(manifest(&index).segments.len(), 3);
    let r = compact::compact(&index, &policy, false)
        .expect("merge")
        .expect("the tier is full");
    assert_eq!(r.merged.len(), 3);
    assert_eq!(manifest(&index).segments.len(), 1);
    index_ok(&index);
    let engine = f.engine();
    let hits = search(&engine, "glassblowing", Mode::Bm25, 10).results;
    assert_eq!(hits.len(), 2, "{hits:?}");
}

/// A merge killed with SIGKILL at some moment of its write leaves the previous generation
/// opening and passing doctor; the next merge cleans up and succeeds. Several kill points
/// (spread over the merge's run time) are tried.
#[test]
fn a_killed_merge_leaves_the_previous_generation_serving() {
    let f = Fixture::with_files(&TOPICS);
    // Enough chunks that a merge takes a moment.
    write_bulk_notes(f.corpus(), 150);
    f.ingest().expect("first ingest");
    std::fs::write(
        f.corpus().join(BREAD),
        "# Sourdough\n\nRewritten entirely.\n",
    )
    .unwrap();
    f.ingest().expect("update");
    let index = f.index();
    let before = manifest(&index);
    assert_eq!(before.segments.len(), 2);
    let queries = ["sentence of note about topic", "arctic terns"];
    let answers = |e: &lore::Engine| -> Vec<Vec<String>> {
        queries
            .iter()
            .map(|q| {
                let opts = SearchOptions {
                    mode: Mode::Hybrid,
                    ..e.defaults()
                };
                e.search(q, &opts)
                    .unwrap()
                    .results
                    .into_iter()
                    .map(|h| h.id)
                    .collect()
            })
            .collect()
    };
    let expected = answers(&f.engine());
    let cwd = tempfile::TempDir::new().unwrap();
    // Time one merge to spread the kill points over it.
    let timed = {
        let copy = tempfile::TempDir::new().unwrap();
        copy_dir(&index, copy.path());
        let t = Instant::now();
        let out = lore_cmd(cwd.path())
            .args(["compact", "--index"])
            .arg(copy.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.elapsed()
    };
    let mut killed = 0;
    for trial in 0..6u32 {
        let mut child = lore_cmd(cwd.path())
            .args(["compact", "--index"])
            .arg(&index)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(timed.mul_f64(0.15 + 0.12 * trial as f64));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.signal() != Some(9) || manifest(&index).generation != before.generation {
            // It published before the kill: that generation must be whole.
            index_ok(&index);
            break;
        }
        killed += 1;
        let engine = f.engine();
        assert_eq!(answers(&engine), expected, "trial {trial}");
        index_ok(&index);
    }
    assert!(killed >= 1, "no merge was killed mid-way");
    // The next writer removes the leftovers and merges.
    let r = compact::compact(&index, &MergePolicy::default(), true).expect("merge");
    if let Some(r) = r {
        assert_eq!(r.segments, 1);
    }
    index_ok(&index);
    assert!(
        std::fs::read_dir(index.join(store::SEGMENTS))
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().ends_with(".tmp")),
        "a half-written segment was left"
    );
    assert_eq!(segment_dirs(&index), referenced(&index));
    assert!(answers(&f.engine()).iter().all(|a| !a.is_empty()));
}

/// `n` notes of ~4 chunks each under `bulk/`.
fn write_bulk_notes(corpus: &Path, n: usize) {
    let bulk: Vec<(String, String)> = (0..n)
        .map(|i| {
            (
                format!("bulk/note-{i:03}.md"),
                format!(
                    "# Note {i}\n\n{}\n",
                    (0..60)
                        .map(|j| format!(
                            "Sentence {j} of note {i} about topic {} and more.",
                            (i * j) % 17
                        ))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            )
        })
        .collect();
    let refs: Vec<(&str, &str)> = bulk.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    write_files(corpus, &refs);
}

/// A build of `corpus` with the default settings into a new folder, opened.
fn fresh_build(corpus: &Path) -> (tempfile::TempDir, lore::Engine) {
    let dir = tempfile::TempDir::new().unwrap();
    ingest_folder(
        corpus,
        dir.path(),
        &embedder(),
        &IngestSettings::default(),
        &NoProgress,
    )
    .expect("fresh build");
    let engine = lore::Engine::open(
        dir.path(),
        embedder(),
        lore::config::SearchConfig::default(),
        8,
    )
    .unwrap();
    (dir, engine)
}

fn streaming(segment_chunks: usize) -> IngestSettings {
    IngestSettings {
        read: lore::config::IngestConfig {
            segment_chunks,
            ..Default::default()
        },
        ..IngestSettings::default()
    }
}

/// Where each hit points and how it scored, for comparing two indexes of one folder.
fn answers_by_source(engine: &lore::Engine, query: &str, mode: Mode) -> Vec<(String, u32, f32)> {
    search(engine, query, mode, 10)
        .results
        .into_iter()
        .map(|h| (h.source.path, h.source.start_line, h.score))
        .collect()
}

#[test]
fn a_folder_ingest_streams_into_segments_of_bounded_size() {
    let f = Fixture::with_files(&TOPICS);
    write_bulk_notes(f.corpus(), 30);
    let index = f.index();
    let limit = 25;
    let report = ingest_folder(
        f.corpus(),
        &index,
        &embedder(),
        &streaming(limit),
        &NoProgress,
    )
    .expect("streamed ingest");
    let m = manifest(&index);
    let largest = m
        .documents
        .values()
        .map(|e| e.chunks as usize)
        .max()
        .unwrap();
    assert!(largest < limit, "documents of {largest} chunks");
    // Segments of at most one document past the limit, none of them split a document.
    assert!(
        m.segments.len() >= report.chunks / (limit + largest),
        "{:?}",
        m.segments
    );
    assert!(
        m.segments.len() >= 4,
        "{} chunks in {:?}",
        report.chunks,
        m.segments
    );
    for r in &m.segments {
        assert!(r.chunks as usize <= limit - 1 + largest, "{r:?}");
    }
    assert_eq!(
        m.segments.iter().map(|r| r.chunks as usize).sum::<usize>(),
        report.chunks
    );
    assert_eq!(report.chunks_embedded, report.chunks);
    assert_eq!(report.files_read, TOPICS.len() + 30);
    index_ok(&index);
    assert_eq!(segment_dirs(&index), referenced(&index));

    // The same documents, chunks and answers as one segment built in one go.
    let (whole, single) = fresh_build(f.corpus());
    let one = manifest(whole.path());
    assert_eq!(one.segments.len(), 1);
    assert_eq!(one.documents.len(), m.documents.len());
    for (path, e) in &m.documents {
        let o = &one.documents[path];
        assert_eq!((&e.hash, e.chunks), (&o.hash, o.chunks), "{path}");
    }
    let streamed = f.engine();
    for q in [
        "sourdough starter feeding",
        "arctic terns migrate",
        "note about topic 5",
    ] {
        for mode in [Mode::Bm25, Mode::Dense, Mode::Hybrid] {
            let (a, b) = (
                answers_by_source(&streamed, q, mode),
                answers_by_source(&single, q, mode),
            );
            assert_eq!(a.len(), b.len(), "{q} {mode:?}");
            for (x, y) in a.iter().zip(&b) {
                assert_eq!((&x.0, x.1), (&y.0, y.1), "{q} {mode:?}: {a:?} vs {b:?}");
                assert!((x.2 - y.2).abs() < 1e-3, "{q} {mode:?}: {x:?} vs {y:?}");
            }
        }
    }

    // Unchanged: nothing is published. One edited note: one small segment, the rest kept.
    let again = ingest_folder(
        f.corpus(),
        &index,
        &embedder(),
        &streaming(limit),
        &NoProgress,
    )
    .expect("unchanged");
    assert_eq!(again.generation, m.generation);
    std::fs::write(
        f.corpus().join("bulk/note-007.md"),
        "# Note 7\n\nRewritten: glassblowing furnaces and annealing ovens.\n",
    )
    .unwrap();
    let edit = ingest_folder(
        f.corpus(),
        &index,
        &embedder(),
        &streaming(limit),
        &NoProgress,
    )
    .expect("edit");
    assert_eq!(
        (edit.files_changed, edit.chunks_embedded),
        (1, 1),
        "{edit:?}"
    );
    let after = manifest(&index);
    assert_eq!(after.segments.len(), m.segments.len() + 1);
    let hits = search(&f.engine(), "glassblowing annealing ovens", Mode::Hybrid, 3).results;
    assert_eq!(hits[0].source.path, "bulk/note-007.md");
}

/// `kill -9` while a streaming ingest has written some of its segments: the previous
/// generation still answers, `doctor` passes, and the next ingest removes the orphans.
#[test]
fn a_killed_streaming_ingest_leaves_the_previous_generation_and_no_orphans() {
    let f = Fixture::with_files(&TOPICS);
    f.ingest().expect("first ingest");
    let index = f.index();
    let before = manifest(&index);
    let expected = answers_by_source(&f.engine(), "arctic terns migrate", Mode::Hybrid);
    write_bulk_notes(f.corpus(), 150);
    let cwd = tempfile::TempDir::new().unwrap();
    let mut child = lore_cmd(cwd.path())
        .arg("ingest")
        .arg(f.corpus())
        .args(["--segment-chunks", "20", "--index"])
        .arg(&index)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until two new segments are on disk (the ingest is then mid-way: ~600 chunks
    // go into ~30 segments), then kill it.
    let deadline = Instant::now() + std::time::Duration::from_secs(600);
    let mut published = false;
    loop {
        let new = segment_dirs(&index).len() - before.segments.len();
        if new >= 2 {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            published = true;
            break;
        }
        assert!(Instant::now() < deadline, "the ingest wrote no segment");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let status = child.wait().unwrap();
    assert!(
        !published && status.signal() == Some(9),
        "the ingest finished first"
    );
    assert_eq!(manifest(&index).generation, before.generation);
    assert!(segment_dirs(&index).len() > referenced(&index).len());
    assert_eq!(
        answers_by_source(&f.engine(), "arctic terns migrate", Mode::Hybrid),
        expected
    );
    index_ok(&index);
    // The next ingest finishes the job and leaves only referenced segments.
    let r = f.ingest().expect("next ingest");
    assert_eq!(r.files_added, 150);
    assert_eq!(segment_dirs(&index), referenced(&index));
    index_ok(&index);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}
