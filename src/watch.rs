//! `lore serve --watch DIR`: re-ingest a folder when its files change, so a saved edit is
//! searchable seconds later.
//!
//! Polling (a fingerprint of paths, sizes and modification times every `every`) rather than
//! OS notifications: it works the same on every file system, including network and
//! container mounts, and a docs folder is small enough that a listing costs microseconds.
//! A change is acted on once two polls in a row agree (a debounce, so an editor's
//! save-in-several-writes triggers one ingest).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::index::Engine;
use crate::ingest::{self, IngestSettings, NoProgress};

/// Paths with their size and modification time (of the files lore would read).
fn fingerprint(
    dir: &Path,
    cfg: &crate::config::IngestConfig,
) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    crate::source::list_files(dir, cfg)
        .map(|l| l.files)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.path)
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let len = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (p, len, modified)
        })
        .collect()
}

/// Watches `dir` until the process ends, ingesting it into the engine's index on change.
pub async fn watch_folder(
    engine: Arc<Engine>,
    settings: IngestSettings,
    dir: PathBuf,
    every: Duration,
) {
    // Starts from "nothing seen", so changes made before the server started (or while it
    // was down) are ingested on the first stable poll; an unchanged folder costs one
    // incremental ingest that embeds nothing and publishes nothing.
    let mut last = Vec::new();
    let mut pending: Option<Vec<_>> = None;
    let mut last_error: Option<String> = None;
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let (d, cfg) = (dir.clone(), settings.read.clone());
        let now = tokio::task::spawn_blocking(move || fingerprint(&d, &cfg))
            .await
            .unwrap_or_default();
        match pending.take() {
            // Stable since the last poll: ingest.
            Some(prev) if prev == now => {
                let (e, s, d) = (engine.clone(), settings.clone(), dir.clone());
                let result = tokio::task::spawn_blocking(move || {
                    let _turn = e.write_turn();
                    crate::compact::in_background(|| {
                        let mut report =
                            ingest::ingest_folder(&d, e.root(), e.embedder(), &s, &NoProgress)?;
                        e.reload_if_changed()?;
                        // Then merge small segments (searches keep running on the update
                        // meanwhile) and swap to the merged generation.
                        report.merge = crate::compact::compact(
                            e.root(),
                            &crate::compact::MergePolicy::default(),
                            false,
                        )?;
                        if report.merge.is_some() {
                            e.reload_if_changed()?;
                        }
                        Ok::<_, crate::Error>(report)
                    })
                })
                .await;
                match result {
                    Ok(Ok(r)) => {
                        tracing::info!(
                            added = r.files_added,
                            changed = r.files_changed,
                            removed = r.files_removed,
                            embedded = r.chunks_embedded,
                            generation = r.generation,
                            "re-ingested after a change"
                        );
                        last = now;
                        last_error = None;
                    }
                    // `last` stays as it was, so the change is tried again on the next
                    // stable poll (a locked index or a half-written file heals by itself).
                    Ok(Err(e)) => {
                        let msg = e.to_string();
                        if last_error.as_deref() != Some(msg.as_str()) {
                            tracing::warn!(error = %msg, "re-ingest after a change failed; still serving the previous generation, will retry");
                        }
                        last_error = Some(msg);
                    }
                    Err(e) => tracing::warn!(error = %e, "re-ingest task failed"),
                }
            }
            // Still changing: wait for it to settle.
            Some(_) => pending = Some(now),
            None if now != last => pending = Some(now),
            None => {}
        }
    }
}
