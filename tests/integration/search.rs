//! Searching an ingested folder through the library: each retriever alone and fused, the
//! sources hits cite, and an index reopened from disk.

use lore::Mode;

use crate::support::{
    check_ranks, check_source, paths, search, search_every_chunk, Fixture, CALIBRATION, K8S,
    RARE_TOKEN, TAXES, TERNS, TOPICS,
};

/// Shares no word with the tern document (checked below through BM25).
const POLE_TO_POLE: &str = "birds that fly from pole to pole every year";

#[test]
fn dense_query_without_shared_keywords_finds_the_document_by_meaning() {
    let f = Fixture::topics();
    let engine = f.engine();

    let keyword = search(&engine, POLE_TO_POLE, Mode::Bm25, 10);
    assert!(
        !paths(&keyword).contains(&TERNS),
        "the query was meant to share no keyword with {TERNS}, but BM25 found it: {:?}",
        paths(&keyword)
    );

    let dense = search(&engine, POLE_TO_POLE, Mode::Dense, 5);
    assert_eq!(paths(&dense).first(), Some(&TERNS), "{:?}", paths(&dense));
    assert!(dense.results.len() > 1, "dense search ranks every chunk");
    check_ranks(&dense, Mode::Dense);
    for hit in &dense.results {
        check_source(f.corpus(), hit);
        assert!(
            (-1.0..=1.0).contains(&hit.score),
            "dense score {} is not a cosine similarity",
            hit.score
        );
    }
}

#[test]
fn bm25_query_on_a_rare_token_finds_its_only_document() {
    let f = Fixture::topics();
    let engine = f.engine();
    let response = search(&engine, RARE_TOKEN, Mode::Bm25, 10);
    assert!(!response.results.is_empty(), "no BM25 hit for {RARE_TOKEN}");
    // The token occurs in one file only, so every keyword hit is from that file.
    assert!(
        paths(&response).iter().all(|p| *p == CALIBRATION),
        "{:?}",
        paths(&response)
    );
    let top = &response.results[0];
    assert!(top.text.contains(RARE_TOKEN));
    assert!(top.score > 0.0, "BM25 score {}", top.score);
    check_ranks(&response, Mode::Bm25);
    check_source(f.corpus(), top);
}

#[test]
fn hybrid_query_puts_the_right_document_first_with_both_ranks() {
    let f = Fixture::topics();
    let engine = f.engine();
    for (query, expected) in [
        (
            "how does Kubernetes add pod replicas when CPU utilisation is high",
            K8S,
        ),
        (
            "quarterly estimated tax payments for self-employed freelancers",
            TAXES,
        ),
    ] {
        let response = search(&engine, query, Mode::Hybrid, 10);
        assert_eq!(
            paths(&response).first(),
            Some(&expected),
            "{query:?}: {:?}",
            paths(&response)
        );
        let top = &response.results[0];
        assert!(
            top.ranks.dense.is_some() && top.ranks.bm25.is_some(),
            "{query:?}: the top hybrid hit should be found by both retrievers: {:?}",
            top.ranks
        );
        check_ranks(&response, Mode::Hybrid);
        for hit in &response.results {
            check_source(f.corpus(), hit);
        }
    }
}

#[test]
fn top_k_bounds_the_number_of_hits() {
    let f = Fixture::topics();
    let engine = f.engine();
    let chunks = engine.index().manifest().chunks;
    assert!(
        chunks > TOPICS.len(),
        "the sourdough file should need several chunks"
    );
    for mode in [Mode::Dense, Mode::Hybrid] {
        assert_eq!(search(&engine, "bread", mode, 1).results.len(), 1);
        assert_eq!(search(&engine, "bread", mode, 3).results.len(), 3);
        // One hit per document by default, so at most one per file however many are asked.
        let per_file = search(&engine, "bread", mode, 1000);
        assert_eq!(per_file.results.len(), TOPICS.len(), "{mode}");
        // With no cap, asking for more than there is returns every chunk once.
        let all = search_every_chunk(&engine, "bread", mode, 1000);
        let mut ids: Vec<&str> = all.results.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids.len(), chunks, "{mode}");
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), chunks, "{mode}: duplicate hits");
    }
}

/// Four sections, each too long to share a chunk with its neighbour, each with a marker word
/// on its own line.
const GUIDE: &str = "# Alpha

Drip irrigation delivers water straight to the roots through a network of thin tubes and
emitters, which wastes far less than sprinklers because little evaporates or runs off.
Lay the main line along each bed, punch emitters next to each plant, and flush the lines
at the start of the season to clear out grit. A pressure regulator protects the emitters,
and a filter at the tap keeps sediment from clogging them. Run the system early in the
morning so leaves stay dry, and check the soil a finger deep before adding more time.
The alphamarker timer on the tap switches the whole system on at dawn.

## Beta

Soil acidity decides which nutrients plants can take up. Most vegetables prefer a pH
between six and seven, while blueberries and rhododendrons want much more acid soil.
Test the soil with a cheap kit or send a sample to a lab before changing anything.
The betamarker probe reads the pH directly when pushed into moist soil.
To raise the pH, work garden lime into the bed in autumn; to lower it, add elemental
sulfur and wait several months, since soil chemistry changes slowly. Retest each spring
and adjust in small steps, because overshooting is harder to undo than a slow correction.

### Gamma

Compost turns kitchen scraps and garden waste into dark crumbly humus. Balance green
material such as grass clippings and vegetable peels with brown material such as dry
leaves, straw and shredded cardboard, roughly one part green to two parts brown. Keep the
heap as moist as a wrung-out sponge and turn it each week or two to let air in.
The gammamarker thermometer shows the core heating to sixty degrees within days.
A hot heap is ready in two or three months; a cold one takes a year but needs no work.

## Delta

Prune apple and pear trees in late winter while they are dormant and the branch structure
is easy to see. Remove dead, diseased and crossing branches first, then thin the centre so
light and air reach the fruiting spurs. Cut just outside the branch collar and never leave
stubs, which rot and invite disease. Summer pruning of the new growth slows vigour and
encourages fruit buds for the following season.
The deltamarker saw cuts cleanly through branches up to five centimetres thick.
Stone fruit such as cherries and plums is pruned in summer instead, to avoid silver leaf.
";

#[test]
fn hits_carry_the_heading_trail_and_the_lines_of_their_text() {
    let f = Fixture::with_files(&[("garden/guide.md", GUIDE)]);
    f.ingest().expect("ingest");
    let engine = f.engine();
    for (marker, trail) in [
        ("alphamarker", "Alpha"),
        ("betamarker", "Alpha > Beta"),
        ("gammamarker", "Alpha > Beta > Gamma"),
        ("deltamarker", "Alpha > Delta"),
    ] {
        let line = GUIDE
            .lines()
            .position(|l| l.contains(marker))
            .expect("marker in fixture") as u32
            + 1;
        let response = search(&engine, marker, Mode::Bm25, 10);
        let hit = response
            .results
            .first()
            .unwrap_or_else(|| panic!("no hit for {marker}"));
        assert!(hit.text.contains(marker), "{marker}: top hit lacks it");
        assert_eq!(hit.source.path, "garden/guide.md");
        assert_eq!(hit.source.title, "Alpha", "title is the first heading");
        assert_eq!(hit.source.heading, trail, "{marker}");
        assert!(
            hit.source.start_line <= line && line <= hit.source.end_line,
            "{marker} is on line {line}, outside the hit's lines {}..={}",
            hit.source.start_line,
            hit.source.end_line
        );
        check_source(f.corpus(), hit);
    }
}

#[test]
fn a_reopened_index_answers_exactly_as_before() {
    let f = Fixture::topics();
    let queries = [
        POLE_TO_POLE,
        RARE_TOKEN,
        "how long should sourdough proof in the refrigerator",
        "castle early and develop knights",
    ];
    let run = |engine: &lore::Engine| {
        let mut out = Vec::new();
        for q in queries {
            for mode in [Mode::Hybrid, Mode::Dense, Mode::Bm25] {
                out.push((q, mode, search(engine, q, mode, 10)));
            }
        }
        out
    };

    let engine = f.engine();
    let generation = engine.index().manifest().generation;
    let before = run(&engine);
    drop(engine);

    let engine = f.engine();
    assert_eq!(engine.index().manifest().generation, generation);
    let after = run(&engine);

    assert!(before.iter().any(|(_, _, r)| !r.results.is_empty()));
    for ((q, mode, a), (_, _, b)) in before.iter().zip(&after) {
        assert_eq!(a.generation, b.generation);
        let ids = |r: &lore::SearchResponse| -> Vec<(String, f32)> {
            r.results.iter().map(|h| (h.id.clone(), h.score)).collect()
        };
        assert_eq!(ids(a), ids(b), "{q:?} ({mode}) changed after reopening");
        assert_eq!(a.results, b.results, "{q:?} ({mode}): hits differ");
    }
}

#[test]
fn concurrent_queries_share_onnx_calls_and_get_the_vectors_they_would_get_alone() {
    let embedder = crate::support::embedder();
    // Different lengths, so a shared call pads the shorter ones.
    let queries: Vec<String> = (0..24)
        .map(|i| {
            format!(
                "question {i} about feeding a sourdough starter{}",
                " with rye flour and water".repeat(i % 7)
            )
        })
        .collect();
    let alone: Vec<Vec<f32>> = queries
        .iter()
        .map(|q| embedder.embed_query(q).expect("embeds"))
        .collect();
    let (calls_before, queries_before) = embedder.query_batching().expect("a query queue");
    // All submitted before any is awaited: the worker takes whatever is waiting per call.
    let pending: Vec<_> = queries.iter().map(|q| embedder.submit_query(q)).collect();
    let together: Vec<Vec<f32>> = pending
        .into_iter()
        .map(|p| p.wait().expect("embeds"))
        .collect();
    let (calls, embedded) = embedder.query_batching().expect("a query queue");
    // Other tests may embed meanwhile; their lone queries add one call each.
    assert!(embedded - queries_before >= queries.len());
    assert!(
        calls - calls_before < embedded - queries_before,
        "{} queries took {} ONNX calls",
        embedded - queries_before,
        calls - calls_before
    );
    for (q, (a, b)) in queries.iter().zip(alone.iter().zip(&together)) {
        let cos = lore::dense::dot(a, b);
        assert!(cos > 0.9999, "{q:?}: batched vector differs (cosine {cos})");
    }
}

/// The same page copied into two folders (two versions of a manual, a package's two builds)
/// takes one result slot, and the hit names the copy in `also_in`; with
/// `search.collapse_duplicates = false` both copies are listed.
#[test]
fn a_copied_page_takes_one_result_slot_and_names_its_copy() {
    let f = Fixture::topics_with_a_copied_page();
    let engine = f.engine();
    let query = "when does the island ferry leave the harbour";
    for mode in [Mode::Hybrid, Mode::Dense, Mode::Bm25] {
        let r = search(&engine, query, mode, 5);
        let top = &r.results[0];
        let copy = Fixture::other_copy(&top.source.path);
        assert!(
            top.source.path.ends_with("ferry.md"),
            "{mode}: {:?}",
            paths(&r)
        );
        assert_eq!(top.also_in, [copy], "{mode}");
        assert!(!paths(&r).contains(&copy), "{mode}: {:?}", paths(&r));
        // The slot went to the next chunk instead (BM25 matches fewer than five).
        if mode != Mode::Bm25 {
            assert_eq!(r.results.len(), 5, "{mode}");
        }
    }
    let all = engine
        .search(
            query,
            &lore::SearchOptions {
                top_k: 5,
                collapse_duplicates: false,
                ..engine.defaults()
            },
        )
        .expect("search");
    let mut first_two: Vec<&str> = paths(&all)[..2].to_vec();
    first_two.sort();
    assert_eq!(first_two, ["v1/ferry.md", "v2/ferry.md"]);
    assert!(all.results.iter().all(|h| h.also_in.is_empty()));
}

/// One manual built twice (bash-doc ships HTML and PDF): the copies are cut at other places
/// and punctuated differently, yet the second takes no slot of its own; a different page
/// that shares a sentence keeps its slot, and so do two pages made from one template.
#[test]
fn a_copy_cut_differently_is_folded_into_the_better_hit() {
    let para = "Quick substitution repeats the previous command, replacing string1 with string2. It is equivalent to the substitution modifier applied to the last command, and the final caret may be omitted if it would be the last character typed on the line.";
    let html = format!(
        "<html><head><title>Bash Reference</title></head><body><h1>History Expansion</h1><p>History expansion takes place before the shell breaks a line into words.</p><h2>Event Designators</h2><p>{}</p><p>Word designators select words from the event.</p></body></html>",
        para.replace("string1 with", "<code>string1</code> with")
    );
    let markdown = format!(
        "# BASH\n\n## HISTORY EXPANSION\n\nAn event designator is a reference to a command line entry in the history list. {}\n",
        para.replace(", and", " — and")
    );
    let other = "# Sed\n\nThe s command of sed replaces string1 with string2 in every line of its input, and the g flag replaces every match rather than the first.\n";
    let template = |opt: &str, unit: &str| {
        format!("# {opt}\n\nPass a long as parameter containing the maximum time in {unit} that you allow the libcurl transfer operation to take. Normally, name lookups can take a considerable time and limiting operations risk aborting perfectly normal operations.\n")
    };
    let (seconds, millis) = (
        template("CURLOPT_TIMEOUT", "seconds"),
        template("CURLOPT_TIMEOUT_MS", "milliseconds"),
    );
    let f = Fixture::with_files(&[
        ("html/bashref.html", html.as_str()),
        ("text/bashref.md", markdown.as_str()),
        ("sed.md", other),
        ("man3/CURLOPT_TIMEOUT.md", seconds.as_str()),
        ("man3/CURLOPT_TIMEOUT_MS.md", millis.as_str()),
    ]);
    f.ingest().expect("ingest");
    let engine = f.engine();
    let r = search(
        &engine,
        "quick substitution replacing string1 with string2",
        Mode::Hybrid,
        3,
    );
    let top = &r.results[0];
    let copy = if top.source.path == "text/bashref.md" {
        "html/bashref.html"
    } else {
        "text/bashref.md"
    };
    assert_eq!(top.also_in, [copy], "{:?}", paths(&r));
    assert!(!paths(&r).contains(&copy), "{:?}", paths(&r));
    assert!(paths(&r).contains(&"sed.md"), "{:?}", paths(&r));
    let r = search(
        &engine,
        "maximum time allowed for the transfer",
        Mode::Hybrid,
        2,
    );
    let mut both = paths(&r);
    both.sort();
    assert_eq!(
        both,
        ["man3/CURLOPT_TIMEOUT.md", "man3/CURLOPT_TIMEOUT_MS.md"]
    );
    assert!(r.results.iter().all(|h| h.also_in.is_empty()));
}

/// ffmpeg-doc ships each manual alone and again, renumbered, inside `ffmpeg-all.html`: a
/// section whose only difference is its number takes no second slot.
#[test]
fn a_renumbered_copy_is_folded_into_the_better_hit() {
    let areverse = "Reverse an audio clip. This filter requires memory to buffer the entire clip, so trimming the input before the reversal is suggested, for example with the atrim filter placed in front of it in the filter graph. Without trimming, a long input can exhaust the memory of the machine, because no frame is sent on before the last frame of the input has been read. The filter takes no options; chain it after asetpts to reset the timestamps of the reversed clip when they matter to a later filter or to the muxer that writes the output file.";
    let apulsator = "Audio pulsator is something between an autopanner and a tremolo, but it can produce funny stereo effects as well. Pulsator changes the volume of the left and right channel based on a low frequency oscillator with different waveforms and shifted phases. This filter has the level of the input and output signal, the mode of the oscillator (sine, triangle, square, sawup or sawdown), the amount of the effect, the offset of the left and right channel, the width and the timing of the pulses as its options, all of them set on the command line as named values.";
    let acrusher = "Reduce audio bit resolution. This filter is bit crusher with enhanced functionality. A bit crusher is used to audibly reduce number of bits an audio signal is sampled with. This does not change the bit depth at all, it just produces the effect. Material reduced in bit depth sounds more harsh and crunchy, which is the whole point of the filter, and its options set the input gain, the output gain, the reduction, the mix of dry and wet signal and the mode of the reduction, linear or logarithmic.";
    let all = format!("# ffmpeg Documentation\n\nThe complete manual.\n\n## 36.44 apulsator\n\n{apulsator}\n\n## 36.45 areverse\n\n{areverse}\n");
    let alone = format!("# FFmpeg Filters Documentation\n\nThe filters of libavfilter.\n\n## 8.44 acrusher\n\n{acrusher}\n\n## 8.45 areverse\n\n{areverse}\n");
    let f = Fixture::with_files(&[
        ("manual/ffmpeg-all.md", all.as_str()),
        ("manual/ffmpeg-filters.md", alone.as_str()),
    ]);
    f.ingest().expect("ingest");
    let engine = f.engine();
    let r = search_every_chunk(
        &engine,
        "reverse an audio clip, it buffers the entire clip in memory",
        Mode::Hybrid,
        2,
    );
    let top = &r.results[0];
    assert!(top.text.contains("areverse"), "{}", top.text);
    assert_eq!(top.also_in.len(), 1, "{:?}", paths(&r));
    assert_ne!(top.also_in[0], top.source.path);
    assert!(!r.results[1].text.contains("areverse"), "{:?}", paths(&r));
}

/// Capping hits per document (`distinct`) fuses exactly the candidates an uncapped search
/// fuses: fetching deeper lists for it changed each leg's z-score statistics, and so the
/// order of the hits it kept (pooled success@1 over the documentation sets fell 0.774 →
/// 0.763). Only `fuse_documents` (the BEIR benchmark's) collapses each leg to documents.
#[test]
fn capping_hits_per_document_fuses_the_same_candidates() {
    let f = Fixture::topics();
    let engine = f.engine();
    let index = engine.index();
    let query = "feed the sourdough starter, shape the dough and bake the loaf";
    let v = engine.embed_query(query).unwrap();
    let opts = |distinct: usize, fuse_documents: bool| lore::search::SearchOptions {
        candidates: 4,
        top_k: 4,
        distinct,
        fuse_documents,
        ..engine.defaults()
    };
    let plain = index.candidates(query, Some(&v), &opts(0, false)).unwrap();
    assert_eq!(plain.dense.len(), 4, "more chunks than candidates");
    for distinct in [1, 2, 3] {
        let capped = index
            .candidates(query, Some(&v), &opts(distinct, false))
            .unwrap();
        assert_eq!(capped.dense, plain.dense, "distinct {distinct}");
        assert_eq!(capped.bm25, plain.bm25, "distinct {distinct}");
    }
    let docs = index.candidates(query, Some(&v), &opts(0, true)).unwrap();
    assert_ne!(docs.dense, plain.dense, "keyed by document");
    assert!(docs.dense.len() <= TOPICS.len(), "one entry per document");
}
