//! Merging segments (compaction): every update adds a small segment and leaves tombstones
//! in older ones, so without merges a search would visit ever more graphs and BM25 indexes
//! and skip ever more deleted chunks. A merge rewrites the live chunks of some segments
//! into one new segment (vectors reused, graph and BM25 index rebuilt) and publishes that
//! as a new generation, like any update: same lock, same atomic pointer, same garbage
//! collection. Searches never wait for it (they read the published generation, and the
//! server swaps to the merged one like to any other).
//!
//! The policy is tiered, as Lucene's: segments are grouped by size into tiers a factor of
//! `segments_per_tier` apart (everything under `floor_chunks` live chunks is tier 0); when
//! a tier holds `segments_per_tier` segments they are merged into one, which lands about a
//! tier up. So each chunk is rewritten about log(corpus / floor) times over its life, and a
//! search visits at most `segments_per_tier - 1` segments per tier. A segment whose deleted
//! share passes `deletes_allowed` is rewritten as well, so tombstones cannot accumulate.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::error::Result;
use crate::segment::Segment;
use crate::store::{self, DocEntry, Manifest};

/// Runs index writes that share the machine with searches (a server's updates and merges,
/// `serve --watch` re-ingests) on their own thread pool at a lower CPU priority. Both
/// matter: a graph build occupies every thread of its rayon pool until it is done, so on
/// the global pool a search's parallel legs would queue behind a whole merge; and on a
/// small machine the searches' threads should win the cores while both run.
pub fn in_background<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    static POOL: std::sync::OnceLock<Option<rayon::ThreadPool>> = std::sync::OnceLock::new();
    let pool = POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("lore-write-{i}"))
            .start_handler(|_| lower_this_threads_priority())
            .build()
            .ok()
    });
    match pool {
        Some(pool) => pool.install(f),
        None => f(),
    }
}

/// Nice 10 for the calling thread only (Linux applies `setpriority` to one thread when given
/// its id); elsewhere nothing.
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on this thread's own id, no memory is passed.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

/// When segments are merged.
#[derive(Debug, Clone)]
pub struct MergePolicy {
    /// Segments of one tier that trigger a merge of that tier.
    pub segments_per_tier: usize,
    /// Segments with fewer live chunks than this are all tier 0.
    pub floor_chunks: usize,
    /// Share of deleted chunks above which a segment is rewritten.
    pub deletes_allowed: f64,
    /// A tier merge never makes a segment larger than this (live chunks), and a segment
    /// past half of it takes part only in deletion rewrites (Lucene's
    /// `maxMergedSegmentMB`): a merge's time and memory stay those of a bounded segment,
    /// however large the index grows.
    pub max_merged_chunks: usize,
}

impl Default for MergePolicy {
    /// 8 segments per tier and a 1,000-chunk floor: a 100-document update (a few hundred
    /// chunks) is tier 0, and eight of them merge in well under a second. A third deleted
    /// (Lucene's default `deletesPctAllowed`) bounds the tombstones a search walks past.
    fn default() -> MergePolicy {
        MergePolicy {
            segments_per_tier: 8,
            floor_chunks: 1_000,
            deletes_allowed: 0.33,
            max_merged_chunks: 500_000,
        }
    }
}

/// What a merge did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct CompactReport {
    /// The generation the merge published.
    pub generation: u64,
    /// Segments merged away.
    pub merged: Vec<u64>,
    /// The segment they became (none when they held no live chunk).
    pub into: Option<u64>,
    /// Live chunks rewritten.
    pub chunks: usize,
    /// Deleted chunks dropped.
    pub dropped: usize,
    /// Segments in the generation after the merge.
    pub segments: usize,
    pub seconds: f64,
}

/// Live chunks per segment id, from the documents.
fn live_counts(m: &Manifest) -> HashMap<u64, usize> {
    let mut live: HashMap<u64, usize> = m.segments.iter().map(|r| (r.id, 0)).collect();
    for e in m.documents.values() {
        if let Some(n) = live.get_mut(&e.segment) {
            *n += e.chunks as usize;
        }
    }
    live
}

/// The segments `policy` would merge now (empty: nothing to do).
pub fn choose(m: &Manifest, policy: &MergePolicy) -> Vec<u64> {
    let live = live_counts(m);
    let factor = policy.segments_per_tier.max(2) as f64;
    let floor = policy.floor_chunks.max(1) as f64;
    let mut tiers: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    let full = policy.max_merged_chunks.max(2) / 2;
    for r in m.segments.iter().filter(|r| live[&r.id] < full) {
        let n = live[&r.id] as f64;
        let tier = if n < floor {
            0
        } else {
            (n / floor).log(factor).floor() as u32 + 1
        };
        tiers.entry(tier).or_default().push(r.id);
    }
    let mut chosen: BTreeSet<u64> = BTreeSet::new();
    if let Some(ids) = tiers
        .values()
        .find(|ids| ids.len() >= policy.segments_per_tier.max(2))
    {
        // Smallest first, while the merged segment stays within the cap.
        let mut ids = ids.clone();
        ids.sort_by_key(|id| (live[id], *id));
        let mut total = 0;
        for id in ids {
            if total + live[&id] > policy.max_merged_chunks && chosen.len() >= 2 {
                break;
            }
            total += live[&id];
            chosen.insert(id);
        }
        if chosen.len() < 2 {
            chosen.clear();
        }
    }
    // Small segments are left to the tier rule (they merge soon anyway).
    for r in m
        .segments
        .iter()
        .filter(|r| r.chunks as usize >= policy.floor_chunks)
    {
        let stored = r.chunks as f64;
        if (stored - live[&r.id] as f64) / stored > policy.deletes_allowed {
            chosen.insert(r.id);
        }
    }
    chosen.into_iter().collect()
}

/// Merges what `policy` chooses (or, with `all`, every segment into one) and publishes the
/// result. `Ok(None)` when there was nothing to merge. Takes `lore.lock`, so it fails with
/// [`crate::Error::Locked`] while another writer runs.
pub fn compact(root: &Path, policy: &MergePolicy, all: bool) -> Result<Option<CompactReport>> {
    let started = Instant::now();
    let _lock = store::lock(root)?;
    let Some(current) = store::read_current(root)? else {
        return Ok(None);
    };
    store::collect_garbage(root, current.generation.saturating_sub(1));
    let manifest = store::read_manifest(&root.join(&current.dir))?;
    let chosen = if all {
        let live: usize = live_counts(&manifest).values().sum();
        let stored: usize = manifest.segments.iter().map(|r| r.chunks as usize).sum();
        if manifest.segments.len() > 1 || stored > live {
            manifest.segments.iter().map(|r| r.id).collect()
        } else {
            Vec::new()
        }
    } else {
        choose(&manifest, policy)
    };
    if chosen.is_empty() {
        return Ok(None);
    }
    let mut report = merge(root, &manifest, &chosen)?;
    report.seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        generation = report.generation,
        merged = ?report.merged,
        into = ?report.into,
        chunks = report.chunks,
        dropped = report.dropped,
        "merged segments"
    );
    Ok(Some(report))
}

/// Rewrites the live chunks of segments `chosen` into one new segment and publishes the
/// generation that reads it instead of them. The caller holds the lock.
fn merge(root: &Path, m: &Manifest, chosen: &[u64]) -> Result<CompactReport> {
    let chosen_set: BTreeSet<u64> = chosen.iter().copied().collect();
    let generation = m.generation + 1;
    let new_id = store::next_segment_id(root, generation);
    let mut stores = HashMap::new();
    let mut chunks = Vec::new();
    let mut vectors = Vec::new();
    let mut documents: BTreeMap<String, DocEntry> = BTreeMap::new();
    for (path, e) in &m.documents {
        if !chosen_set.contains(&e.segment) || e.chunks == 0 {
            documents.insert(path.clone(), e.clone());
            continue;
        }
        let (cs, vs) = store::read_document(root, m, &mut stores, e)?;
        let first = chunks.len() as u32;
        chunks.extend(cs);
        vectors.extend(vs);
        documents.insert(
            path.clone(),
            DocEntry {
                hash: e.hash.clone(),
                segment: new_id,
                first_chunk: first,
                chunks: chunks.len() as u32 - first,
                meta: e.meta.clone(),
            },
        );
    }
    drop(stores);
    let stored: usize = m
        .segments
        .iter()
        .filter(|r| chosen_set.contains(&r.id))
        .map(|r| r.chunks as usize)
        .sum();
    let mut next = m.clone();
    next.generation = generation;
    next.created_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    next.documents = documents;
    next.segments = m
        .segments
        .iter()
        .filter(|r| !chosen_set.contains(&r.id))
        .cloned()
        .collect();
    let into = if chunks.is_empty() {
        None
    } else {
        // The merged segment takes the place of the oldest one it replaces, so segment
        // order stays oldest first.
        let r = Segment::write(root, new_id, &chunks, &vectors, m.model.dim, &m.hnsw)?;
        let at = m
            .segments
            .iter()
            .filter(|s| !chosen_set.contains(&s.id))
            .take_while(|s| s.id < chosen[0])
            .count();
        next.segments.insert(at, r);
        Some(new_id)
    };
    let n = chunks.len();
    drop((chunks, vectors));
    store::publish(root, &next)?;
    store::release_free_memory();
    Ok(CompactReport {
        generation,
        merged: chosen.to_vec(),
        into,
        chunks: n,
        dropped: stored - n,
        segments: next.segments.len(),
        seconds: 0.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ChunkingConfig, HnswConfig};
    use crate::store::{FileSum, SegmentRef};

    /// A manifest whose segment `i` holds `sizes[i]` live chunks (one document each).
    fn manifest(sizes: &[usize]) -> Manifest {
        let model = crate::embed::ModelInfo {
            name: "m".into(),
            hash: "h".into(),
            dim: 4,
            max_length: 256,
            pooling: "mean".into(),
            query_prompt: String::new(),
            document_prompt: String::new(),
            normalize: true,
        };
        let documents = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let e = DocEntry {
                    hash: String::new(),
                    segment: i as u64 + 1,
                    first_chunk: 0,
                    chunks: n as u32,
                    meta: None,
                };
                (format!("d{i}"), e)
            })
            .collect();
        let mut m = Manifest::new(
            1,
            model,
            ChunkingConfig::default(),
            HnswConfig::default(),
            sizes.iter().sum(),
            documents,
            None,
        );
        m.segments = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| SegmentRef {
                id: i as u64 + 1,
                chunks: n as u32,
                meta: FileSum {
                    size: 0,
                    blake3: String::new(),
                },
            })
            .collect();
        m
    }

    #[test]
    fn a_tier_merge_stays_within_the_cap_and_full_segments_stay_out() {
        let policy = MergePolicy::default();
        // Ten bulk-load segments of 100k: one merge of the five smallest ids (500k).
        let chosen = choose(&manifest(&[100_000; 10]), &policy);
        assert_eq!(chosen, vec![1, 2, 3, 4, 5]);
        // Segments at half the cap or more never join a tier merge.
        assert!(choose(&manifest(&[300_000; 9]), &policy).is_empty());
        // Small segments still merge as before.
        assert_eq!(choose(&manifest(&[5; 8]), &policy).len(), 8);
        assert!(choose(&manifest(&[5; 7]), &policy).is_empty());
    }
}
