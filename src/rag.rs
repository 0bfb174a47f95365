//! Retrieval-augmented prompts: search the index for a question and pack the hits into a
//! cited prompt. The one place that joins [`Engine::search`] and [`prompt::assemble`], so
//! `lore prompt`, `lore ask`, `POST /v1/prompt` and `POST /v1/chat/completions` agree.

use std::path::Path;

use crate::config::PromptConfig;
use crate::error::Result;
use crate::index::Engine;
use crate::prompt::{self, AssembledPrompt, PromptOptions, TokenCounter};
use crate::search::{Mode, SearchOptions, SearchResponse};

/// What a prompt retrieves from: one collection's [`Engine`], or several collections
/// searched as one ([`crate::collections::Selection`]).
pub trait Retrieve {
    /// The configured search options.
    fn defaults(&self) -> SearchOptions;
    /// One search, as [`Engine::search`].
    fn search(&self, query: &str, opts: &SearchOptions) -> Result<SearchResponse>;
}

impl Retrieve for Engine {
    fn defaults(&self) -> SearchOptions {
        Engine::defaults(self)
    }

    fn search(&self, query: &str, opts: &SearchOptions) -> Result<SearchResponse> {
        Engine::search(self, query, opts)
    }
}

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
    /// At most this many passages per document (`true` = 1).
    pub distinct: Option<crate::search::Distinct>,
    /// Replaces `prompt.min_confidence`: hits below this calibrated confidence are left out.
    pub min_confidence: Option<f32>,
    /// The collection to retrieve from (default: `default`).
    pub collection: Option<String>,
    /// Several collections to retrieve from, their hits merged by confidence (`["*"]`:
    /// all of them).
    pub collections: Option<Vec<String>>,
    /// Retrieve only from documents whose metadata passes this filter (README "Filters").
    pub filter: Option<String>,
    /// Ranking rules replacing `search.boost` for this retrieval (README "Ranking rules").
    pub boost: Option<Vec<crate::search::Boost>>,
    /// Searched instead of `query` (a chat follow-up rewritten as a standalone question;
    /// see [`crate::chat::FollowUp`]). Not part of the HTTP request.
    #[serde(skip)]
    pub retrieval_query: Option<String>,
    /// Searched when `query` alone finds nothing confidently (the conversation around a
    /// chat follow-up). Not part of the HTTP request.
    #[serde(skip)]
    pub fallback_query: Option<String>,
}

impl PromptRequest {
    /// The collections the request names (`collection` and `collections` together; empty
    /// means `default`).
    pub fn collection_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.collection.iter().cloned().collect();
        names.extend(self.collections.iter().flatten().cloned());
        names
    }

    /// Sets what to search for from a chat conversation's [`crate::chat::FollowUp`].
    pub fn with_follow_up(mut self, f: crate::chat::FollowUp) -> PromptRequest {
        self.query = f.question;
        self.retrieval_query = f.rewritten;
        self.fallback_query = f.conversation;
        self
    }
}

/// The configured prompt defaults, loaded once (template and examples files read, BPE built).
#[derive(Debug, Clone)]
pub struct PromptDefaults {
    pub options: PromptOptions,
    /// The relevance floor on each hit's calibrated confidence.
    pub min_confidence: f32,
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
                min_score: Some(c.min_confidence),
                tokenizer: TokenCounter::new(&c.tokenizer)?,
                max_output_bytes: c.max_output_bytes,
            },
            min_confidence: c.min_confidence,
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
/// The relevance floor is applied to each hit's calibrated confidence (a probability of
/// relevance that means the same for every query and mode, unlike fused scores), so
/// citation scores in the answer are those confidences.
pub fn build_prompt<R: Retrieve + ?Sized>(
    engine: &R,
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
    if let Some(d) = req.distinct {
        opts.distinct = d.count();
    }
    opts.filter = req.filter.clone();
    if let Some(rules) = &req.boost {
        opts.boost = rules.clone();
    }
    let floor = req.min_confidence.unwrap_or(defaults.min_confidence);
    if !(0.0..=1.0).contains(&floor) {
        return Err(crate::error::Error::invalid(
            "min_confidence",
            "must be within 0..=1",
        ));
    }
    // Setting a floor makes BM25-only searches embed the query too, so every hit has a
    // confidence; the prompt applies the floor itself (so it can say nothing matched).
    opts.min_confidence = Some(0.0);
    let query = req.retrieval_query.as_deref().unwrap_or(&req.query);
    let mut response = engine.search(query, &opts)?;
    if let Some(fallback) = req.fallback_query.as_deref() {
        // The second answer replaces the first whole (hits carry their own text), so the
        // prompt is built from one generation even if a reload falls between the two.
        // The conversation is used only when it makes retrieval more confident: a change
        // of subject whose own words find little must not be pulled back to the old one.
        if response.low_confidence && fallback != query {
            let with_context = engine.search(fallback, &opts)?;
            if top_confidence(&with_context) > top_confidence(&response) {
                response = with_context;
            }
        }
    }
    let mut hits = response.results;
    for h in &mut hits {
        h.score = h.confidence.unwrap_or(0.0);
    }
    let mut popts = defaults.options.clone();
    popts.min_score = Some(floor);
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
    crate::storage::record_stage("prompt_assembly", t);
    assembled
}

/// The best hit's calibrated confidence (0 when nothing was found).
pub fn top_confidence(r: &crate::search::SearchResponse) -> f32 {
    r.results.first().and_then(|h| h.confidence).unwrap_or(0.0)
}
