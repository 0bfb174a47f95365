//! Retrieval-augmented prompts: search the index for a question and pack the hits into a
//! cited prompt. The one place that joins [`Engine::search`] and [`prompt::assemble`], so
//! `lore prompt`, `lore ask`, `POST /v1/prompt` and `POST /v1/chat/completions` agree.

use std::path::Path;

use crate::config::PromptConfig;
use crate::error::Result;
use crate::index::Engine;
use crate::prompt::{self, AssembledPrompt, PromptOptions, TokenCounter};
use crate::search::{Mode, SearchOptions};

/// Per-request overrides of the configured prompt settings.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptRequest {
    pub query: String,
    pub top_k: Option<usize>,
    pub mode: Option<Mode>,
    pub max_context_tokens: Option<usize>,
    /// Replaces the system prompt.
    pub system: Option<String>,
    /// A minijinja template for the user message (the source, not a path).
    pub template: Option<String>,
}

/// The configured prompt defaults, loaded once (template and examples files read, BPE built).
#[derive(Debug, Clone)]
pub struct PromptDefaults {
    pub options: PromptOptions,
    /// The relevance floor on query–chunk cosine similarity.
    pub min_similarity: f32,
}

impl PromptDefaults {
    /// Reads the template and few-shot files named in the configuration.
    pub fn from_config(c: &PromptConfig) -> Result<PromptDefaults> {
        let template = c
            .template
            .as_deref()
            .map(prompt::load_template)
            .transpose()?;
        let examples = match c.examples.as_deref() {
            Some(p) => prompt::load_examples(p)?,
            None => Vec::new(),
        };
        Ok(PromptDefaults {
            options: PromptOptions {
                max_context_tokens: c.max_context_tokens,
                system: c.system.clone(),
                template,
                examples,
                min_score: Some(c.min_similarity),
                tokenizer: TokenCounter::new(&c.tokenizer)?,
                max_output_bytes: c.max_output_bytes,
            },
            min_similarity: c.min_similarity,
        })
    }

    /// Uses a template file given on the command line instead of the configured one.
    pub fn with_template_file(mut self, path: &Path) -> Result<PromptDefaults> {
        self.options.template = Some(prompt::load_template(path)?);
        Ok(self)
    }
}

/// Searches for `req.query` and assembles the prompt.
///
/// The relevance floor is applied to the cosine similarity between the question and each
/// hit (a scale that means the same in every mode, unlike fused scores), so citation
/// scores in the answer are those similarities.
pub fn build_prompt(
    engine: &Engine,
    defaults: &PromptDefaults,
    req: &PromptRequest,
) -> Result<AssembledPrompt> {
    let mut opts: SearchOptions = engine.defaults();
    if let Some(k) = req.top_k {
        opts.top_k = k;
    }
    if let Some(m) = req.mode {
        opts.mode = m;
    }
    let response = engine.search(&req.query, &opts)?;
    let query_vec = engine.embed_query(&req.query)?;
    let index = engine.index();
    let mut hits = response.results;
    for h in &mut hits {
        let sim = h
            .similarity
            .unwrap_or_else(|| index.similarity(chunk_id(&index, h), &query_vec));
        h.similarity = Some(sim);
        h.score = sim;
    }
    let mut popts = defaults.options.clone();
    if let Some(n) = req.max_context_tokens {
        popts.max_context_tokens = n;
    }
    if let Some(s) = &req.system {
        popts.system = Some(s.clone());
    }
    if let Some(t) = &req.template {
        popts.template = Some(t.clone());
    }
    let t = std::time::Instant::now();
    let assembled = prompt::assemble(&req.query, &hits, &popts);
    crate::index::record_stage("prompt_assembly", t);
    assembled
}

/// The chunk id behind a hit (hits carry `path#ordinal`; the manifest maps path → first id).
fn chunk_id(index: &crate::index::Index, hit: &crate::search::Hit) -> u32 {
    let first = index
        .manifest()
        .documents
        .get(&hit.source.path)
        .map_or(0, |d| d.first_chunk);
    let ordinal = hit
        .id
        .rsplit_once('#')
        .and_then(|(_, o)| o.parse::<u32>().ok())
        .unwrap_or(0);
    first + ordinal
}
