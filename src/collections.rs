//! Named collections in one index folder, and searches that span several of them.
//!
//! ```text
//! index/                 the `default` collection (a complete index root, as before
//!   CURRENT, lore.lock,  collections existed: old single-collection indexes open as
//!   gen-*, segments/     `default` with nothing to migrate)
//!   collections/
//!     api/               collection `api`: another complete index root of the same kind
//!       CURRENT, lore.lock, gen-*, segments/
//! ```
//!
//! Every collection is an index root of its own, so ingest, compaction, doctor and
//! [`Engine`] work on one unchanged, each with its own generations, model, chunking and
//! lock. A collection exists once it has published a generation (`CURRENT`).
//!
//! A search over several collections runs each collection's own engine and merges the hits
//! by their calibrated `confidence` ([`crate::confidence`]): a probability of relevance
//! computed from the cosine similarity and BM25 saturation that means the same in every
//! corpus, whereas fused scores (RRF, min-max) are relative to one result list and not
//! comparable across lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use serde::Serialize;

use crate::config::{EmbedConfig, SearchConfig};
use crate::embed::{Embedder, ModelSpec, Workload};
use crate::error::{Error, Result};
use crate::index::Engine;
use crate::search::{SearchOptions, SearchResponse};
use crate::store;

// The naming layer lives with the on-disk layout (`store`), so the index and ingest can
// name a root's collection without depending on this module.
pub use crate::store::{
    collection_root, name_of_root, validate_name, COLLECTIONS_DIR, DEFAULT, MAX_NAME,
};

/// The published collections of the index folder `root`, sorted by name (`default` when
/// the root itself has a generation).
pub fn list(root: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    if root.join(store::CURRENT).is_file() {
        names.push(DEFAULT.to_string());
    }
    let dir = root.join(COLLECTIONS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
        Err(e) => return Err(Error::io(format!("reading {}", dir.display()), e)),
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name != DEFAULT
            && validate_name(&name).is_ok()
            && entry.path().join(store::CURRENT).is_file()
        {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// One collection as `lore collections` and `GET /v1/collections` describe it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CollectionInfo {
    pub name: String,
    pub documents: usize,
    pub chunks: usize,
    /// The embedding model's name (folder and ONNX file).
    pub model: String,
    /// The folder it was ingested from (absent when built through the API only).
    pub source: Option<String>,
    pub generation: u64,
    /// Bytes on disk: every generation and segment it keeps (not the other collections).
    pub disk_bytes: u64,
}

/// Describes collection `name` from its published manifest.
pub fn describe(root: &Path, name: &str) -> Result<CollectionInfo> {
    let croot = collection_root(root, name)?;
    let Some((_, dir)) = store::current_generation_dir(&croot)? else {
        return Err(unknown(root, name));
    };
    let m = store::read_manifest(&dir)?;
    Ok(info_of(root, name, &m))
}

fn info_of(root: &Path, name: &str, m: &store::Manifest) -> CollectionInfo {
    let croot = collection_root(root, name).unwrap_or_else(|_| root.to_path_buf());
    CollectionInfo {
        name: name.to_string(),
        documents: m.documents.len(),
        chunks: m.chunks,
        model: m.model.name.clone(),
        source: m.source.clone(),
        generation: m.generation,
        disk_bytes: collection_disk_size(&croot),
    }
}

/// Bytes a collection's root holds, leaving out the other collections nested under the
/// default one.
fn collection_disk_size(croot: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(croot) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name() != COLLECTIONS_DIR)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                store::disk_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// Describes every published collection.
pub fn describe_all(root: &Path) -> Result<Vec<CollectionInfo>> {
    list(root)?.iter().map(|n| describe(root, n)).collect()
}

/// The error for a collection that does not exist, listing those that do.
pub fn unknown(root: &Path, name: &str) -> Error {
    Error::UnknownCollection {
        name: name.to_string(),
        known: list(root).unwrap_or_default(),
    }
}

/// Removes collection `name`: takes its writer lock (so no ingest of it runs meanwhile;
/// one that starts later begins a new, empty collection), unpublishes it by removing
/// `CURRENT` (servers forget it at their next poll), then deletes its generations and
/// segments. Dropping `default` leaves the other collections (and the root folder) in place.
pub fn drop_collection(root: &Path, name: &str) -> Result<CollectionInfo> {
    let croot = collection_root(root, name)?;
    if !croot.join(store::CURRENT).is_file() {
        return Err(unknown(root, name));
    }
    let info = describe(root, name)?;
    let _lock = store::lock(&croot)?;
    let current = croot.join(store::CURRENT);
    std::fs::remove_file(&current)
        .map_err(|e| Error::io(format!("removing {}", current.display()), e))?;
    store::sync_dir(&croot)?;
    if name == DEFAULT {
        let entries = std::fs::read_dir(&croot)
            .map_err(|e| Error::io(format!("reading {}", croot.display()), e))?;
        for entry in entries.flatten() {
            let n = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let result = if n == store::SEGMENTS || n.starts_with("gen-") {
                std::fs::remove_dir_all(&path)
            } else if n == "CURRENT.tmp" {
                std::fs::remove_file(&path)
            } else {
                continue;
            };
            result.map_err(|e| Error::io(format!("removing {}", path.display()), e))?;
        }
    } else {
        // The lock file goes with the folder; the held descriptor stays valid until dropped.
        std::fs::remove_dir_all(&croot)
            .map_err(|e| Error::io(format!("removing {}", croot.display()), e))?;
    }
    Ok(info)
}

/// The collections of one index folder opened for searching: one [`Engine`] per
/// collection, opened when first asked for (or by [`Collections::refresh`]), and one
/// [`Embedder`] per distinct model, shared by every collection built with it.
pub struct Collections {
    root: PathBuf,
    search: SearchConfig,
    embed: EmbedConfig,
    cache_size: usize,
    embedders: Mutex<Vec<Arc<Embedder>>>,
    engines: RwLock<BTreeMap<String, Arc<Engine>>>,
    /// One opening at a time, so two requests never load the same collection twice.
    opening: Mutex<()>,
    /// Collections that failed to open, with the generation that failed: the poll retries
    /// them only once a new generation is published (a model load per poll would be ruinous).
    failed: Mutex<BTreeMap<String, u64>>,
}

impl Collections {
    /// The collections of the index folder `root`; `embedder` is the configured model
    /// (collections built with another model load theirs from the folder their manifest
    /// records). Nothing is opened yet.
    pub fn new(
        root: &Path,
        embedder: Arc<Embedder>,
        search: SearchConfig,
        embed: EmbedConfig,
        cache_size: usize,
    ) -> Collections {
        Collections {
            root: root.to_path_buf(),
            search,
            embed,
            cache_size,
            embedders: Mutex::new(vec![embedder]),
            engines: RwLock::new(BTreeMap::new()),
            opening: Mutex::new(()),
            failed: Mutex::new(BTreeMap::new()),
        }
    }

    /// Wraps an open engine as the `default` collection of its index folder (the other
    /// collections there are found by [`Collections::refresh`] or when asked for).
    pub fn from_engine(engine: Arc<Engine>, embed: EmbedConfig) -> Collections {
        let c = Collections::new(
            engine.root(),
            engine.embedder().clone(),
            engine.search_config().clone(),
            embed,
            engine.cache_capacity(),
        );
        c.write().insert(DEFAULT.to_string(), engine);
        c
    }

    /// The index folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Engine>>> {
        self.engines.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Engine>>> {
        self.engines.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Collection `name`'s engine if it is open (never opens one).
    pub fn loaded(&self, name: &str) -> Option<Arc<Engine>> {
        self.read().get(name).cloned()
    }

    /// The open collections' names.
    pub fn names(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// Collection `name`'s engine, opening it if it is published but not open yet.
    pub fn get(&self, name: &str) -> Result<Arc<Engine>> {
        validate_name(name)?;
        if let Some(e) = self.read().get(name) {
            return Ok(e.clone());
        }
        let _one = self.opening.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = self.read().get(name) {
            return Ok(e.clone());
        }
        let engine = Arc::new(self.open(name)?);
        self.write().insert(name.to_string(), engine.clone());
        Ok(engine)
    }

    /// Opens collection `name` with a loaded model of its manifest, loading the model
    /// from the folder the manifest records when no loaded one matches.
    fn open(&self, name: &str) -> Result<Engine> {
        let croot = collection_root(&self.root, name)?;
        let Some((_, dir)) = store::current_generation_dir(&croot)? else {
            if name == DEFAULT && list(&self.root).unwrap_or_default().is_empty() {
                // No collection at all: the index folder's own message (it does not exist,
                // or nothing was ingested yet).
                crate::index::Index::open(&croot)?;
            }
            return Err(unknown(&self.root, name));
        };
        let manifest = store::read_manifest(&dir)?;
        let embedder = self.embedder_for(&manifest)?;
        Engine::open(&croot, embedder, self.search.clone(), self.cache_size)
    }

    fn embedder_for(&self, m: &store::Manifest) -> Result<Arc<Embedder>> {
        let mut loaded = self.embedders.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = loaded.iter().find(|e| *e.info() == m.model) {
            return Ok(e.clone());
        }
        let Some(dir) = m.model_dir.as_deref().map(PathBuf::from) else {
            // Engine::open names both models and the fix.
            return Ok(loaded[0].clone());
        };
        let spec = ModelSpec::from_dir(&dir, m.model_quantized, m.model.max_length)?;
        let embedder = Arc::new(Embedder::load(spec, &self.embed, Workload::Queries)?);
        if *embedder.info() != m.model {
            return Ok(loaded[0].clone());
        }
        tracing::info!(model = %m.model.name, dir = %dir.display(), "loaded another collection's model");
        loaded.push(embedder.clone());
        Ok(embedder)
    }

    /// Picks up what changed on disk: every open collection switches to its newest
    /// generation, dropped ones are forgotten, and new ones are opened. Returns the
    /// problems met (each collection is handled on its own, so one damaged collection
    /// does not keep the others from updating).
    pub fn refresh(&self) -> Vec<(String, Error)> {
        let mut problems = Vec::new();
        let on_disk = match list(&self.root) {
            Ok(l) => l,
            Err(e) => return vec![(String::new(), e)],
        };
        let open: Vec<(String, Arc<Engine>)> = self
            .read()
            .iter()
            .map(|(n, e)| (n.clone(), e.clone()))
            .collect();
        for (name, engine) in &open {
            if !on_disk.contains(name) {
                tracing::info!(collection = %name, "collection dropped; no longer served");
                self.write().remove(name);
                continue;
            }
            if let Err(e) = engine.reload_if_changed() {
                problems.push((name.clone(), e));
            }
        }
        for name in on_disk {
            if open.iter().any(|(n, _)| *n == name) {
                continue;
            }
            let generation = collection_root(&self.root, &name)
                .ok()
                .and_then(|r| store::read_current(&r).ok().flatten())
                .map_or(0, |c| c.generation);
            let mut failed = self.failed.lock().unwrap_or_else(|p| p.into_inner());
            if failed.get(&name) == Some(&generation) {
                continue;
            }
            match self.get(&name) {
                Ok(_) => {
                    failed.remove(&name);
                    tracing::info!(collection = %name, "serving a new collection")
                }
                Err(e) => {
                    failed.insert(name.clone(), generation);
                    problems.push((name, e))
                }
            }
        }
        problems
    }

    /// The open collections' descriptions (from the generation each engine serves).
    pub fn describe(&self) -> Vec<CollectionInfo> {
        self.read()
            .iter()
            .map(|(n, e)| info_of(&self.root, n, e.index().manifest()))
            .collect()
    }

    /// The engines for a request's collections: `names` empty means `default`, `*` every
    /// published collection (leaving out, with a warning, one that cannot be opened).
    /// Unknown names fail with [`Error::UnknownCollection`].
    pub fn select(&self, names: &[String]) -> Result<Selection> {
        let mut wanted: Vec<(String, bool)> = Vec::new();
        for n in names {
            if n == "*" {
                wanted.extend(list(&self.root)?.into_iter().map(|n| (n, true)));
            } else {
                wanted.push((n.clone(), false));
            }
        }
        if names.is_empty() {
            wanted.push((DEFAULT.to_string(), false));
        }
        let mut engines: Vec<(String, Arc<Engine>)> = Vec::new();
        for (n, any) in wanted {
            if engines.iter().any(|(have, _)| *have == n) {
                continue;
            }
            match self.get(&n) {
                Ok(engine) => engines.push((n, engine)),
                Err(e) if any => {
                    tracing::warn!(collection = %n, error = %e, "collection left out of `*`")
                }
                Err(e) => return Err(e),
            }
        }
        if engines.is_empty() {
            return Err(unknown(&self.root, DEFAULT));
        }
        Ok(Selection { engines })
    }
}

/// The collections one request searches, each with its engine.
#[derive(Clone)]
pub struct Selection {
    pub engines: Vec<(String, Arc<Engine>)>,
}

impl Selection {
    /// The first collection's engine (for settings that are per process, not per
    /// collection: search defaults, highlighting).
    pub fn first(&self) -> &Arc<Engine> {
        &self.engines[0].1
    }

    /// Searches every collection and returns one ranking, each hit naming its collection.
    ///
    /// One collection answers with its own engine's ranking. Several are merged by the
    /// calibrated `confidence` of each hit, which is comparable across collections (a
    /// logistic model over cosine similarity and BM25 saturation), unlike fused scores,
    /// which are normalised per result list; so every collection's search embeds the
    /// query, whatever the mode. Ties keep the order of the collections as named.
    pub fn search(&self, query: &str, opts: &SearchOptions) -> Result<SearchResponse> {
        if let [(name, engine)] = self.engines.as_slice() {
            let mut r = engine.search(query, opts)?;
            for h in &mut r.results {
                h.collection = Some(name.clone());
            }
            r.generations.insert(name.clone(), r.generation);
            return Ok(r);
        }
        let started = Instant::now();
        let mut each = opts.clone();
        // A floor, even 0, makes BM25-only searches embed the query so hits carry a
        // confidence to be merged by.
        each.min_confidence = Some(opts.min_confidence.unwrap_or(0.0));
        opts.validate(query)?;
        // The query is embedded once per model, not once per collection.
        let mut vectors: Vec<(&Arc<Embedder>, Arc<[f32]>)> = Vec::new();
        let mut hits = Vec::new();
        let mut generations = BTreeMap::new();
        for (name, engine) in &self.engines {
            match vectors
                .iter()
                .find(|(e, _)| Arc::ptr_eq(e, engine.embedder()))
            {
                Some((_, v)) => engine.remember_query(query, v.clone()),
                None => vectors.push((engine.embedder(), engine.embed_query(query)?)),
            }
            let r = engine.search(query, &each)?;
            generations.insert(name.clone(), r.generation);
            hits.extend(r.results.into_iter().map(|mut h| {
                h.collection = Some(name.clone());
                h
            }));
        }
        // A stable sort: equal confidences keep collection order, then each list's order.
        hits.sort_by(|a, b| {
            b.confidence
                .unwrap_or(0.0)
                .total_cmp(&a.confidence.unwrap_or(0.0))
        });
        hits.truncate(opts.top_k);
        let low_confidence = hits
            .first()
            .is_none_or(|h| h.confidence.is_some_and(|c| c < opts.confidence_flag));
        Ok(SearchResponse {
            results: hits,
            took_ms: started.elapsed().as_secs_f64() * 1000.0,
            generation: generations.get(&self.engines[0].0).copied().unwrap_or(0),
            low_confidence,
            generations,
        })
    }
}

impl crate::rag::Retrieve for Selection {
    fn defaults(&self) -> SearchOptions {
        self.first().defaults()
    }

    fn search(&self, query: &str, opts: &SearchOptions) -> Result<SearchResponse> {
        Selection::search(self, query, opts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_folder_names() {
        for ok in ["default", "api", "v2_docs", "a-b", &"x".repeat(64)] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "API",
            "a/b",
            "..",
            ".hidden",
            "a b",
            "é",
            &"x".repeat(65),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roots_and_names_round_trip() {
        let root = Path::new("/data/index");
        assert_eq!(collection_root(root, "default").unwrap(), root);
        let api = collection_root(root, "api").unwrap();
        assert_eq!(api, Path::new("/data/index/collections/api"));
        assert_eq!(name_of_root(&api), "api");
        assert_eq!(name_of_root(root), "default");
        assert!(collection_root(root, "../x").is_err());
    }
}
