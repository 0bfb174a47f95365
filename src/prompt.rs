//! Prompt assembly: turns retrieved hits into an augmented prompt that any chat model can
//! take, with numbered citations, inside a token budget.
//!
//! Kept pure (no I/O besides reading the template and example files it is pointed at) so the
//! CLI (`lore prompt`), the HTTP server (`POST /v1/prompt`, `POST /v1/chat/completions`) and
//! the tests all get byte-identical prompts for the same hits.
//!
//! Pipeline: relevance floor → dedup → merge neighbouring chunks of one file into passages →
//! number the passages in relevance order → keep passages while they fit the budget → render
//! the user message (default format or a minijinja template) → messages + plain text.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tiktoken_rs::CoreBPE;

use crate::error::{Error, Result};
use crate::read::LocUnit;
use crate::search::Hit;

/// The instructions a grounded answer needs; [`PromptOptions::system`] replaces it for
/// deployments that want another tone or language.
pub const DEFAULT_SYSTEM_PROMPT: &str = "You answer questions using only the numbered sources \
given in the user's message.
- Base every statement on those sources; do not add facts from elsewhere.
- Cite the sources you use inline by their numbers in square brackets, such as [1] or [2][3], \
right after the statement they support.
- Cite only numbers that appear in the sources; never invent a citation.
- If the sources do not contain the answer, or no sources are given, say clearly that you \
don't know based on the available documents instead of guessing.
- Be concise.";

/// Names accepted by [`TokenCounter::new`], listed in its error so a typo is easy to fix.
const TOKENIZERS: [&str; 2] = ["o200k_base", "cl100k_base"];

/// Separates passages inside the sources block.
const PASSAGE_SEPARATOR: &str = "\n\n";

/// OpenAI's chat format costs this many tokens per message on top of role and content.
const TOKENS_PER_MESSAGE: usize = 3;

/// OpenAI's chat format primes every reply with this many tokens.
const TOKENS_REPLY_PRIMING: usize = 3;

/// The longest "word" kept when a budget cannot hold even the first word, so an unbroken
/// blob (base64, a long URL) cannot smuggle a whole chunk past the budget.
const MAX_FLOOR_CHARS: usize = 32;

/// Counts tokens the way the target model family will, so the budget means the same thing
/// to lore and to the model.
///
/// Building a BPE is costly (it parses a vocabulary of 100-200k entries), so each encoding is
/// built once per process and shared: a `TokenCounter` is `Copy` and free to pass around.
#[derive(Clone, Copy)]
pub struct TokenCounter {
    name: &'static str,
    bpe: &'static CoreBPE,
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCounter")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TokenCounter {
    /// Accepts `o200k_base` (GPT-4o and later OpenAI models) or `cl100k_base` (GPT-4,
    /// GPT-3.5); for other model families either is an approximation. The vocabularies are
    /// compiled into the binary, so this never touches the network; an unknown name is a
    /// [`Error::Config`] error listing the valid ones.
    pub fn new(name: &str) -> Result<Self> {
        static O200K: OnceLock<std::result::Result<CoreBPE, String>> = OnceLock::new();
        static CL100K: OnceLock<std::result::Result<CoreBPE, String>> = OnceLock::new();
        let (name, built) = match name.trim() {
            "o200k_base" => (
                TOKENIZERS[0],
                O200K.get_or_init(|| tiktoken_rs::o200k_base().map_err(|e| e.to_string())),
            ),
            "cl100k_base" => (
                TOKENIZERS[1],
                CL100K.get_or_init(|| tiktoken_rs::cl100k_base().map_err(|e| e.to_string())),
            ),
            other => {
                return Err(Error::Config(format!(
                    "unknown tokenizer {other:?}; valid tokenizers: {}",
                    TOKENIZERS.join(", ")
                )))
            }
        };
        let bpe = built
            .as_ref()
            .map_err(|e| Error::Config(format!("tokenizer {name}: {e}")))?;
        Ok(TokenCounter { name, bpe })
    }

    /// Lets callers report which encoding the token numbers refer to.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Special-token markers such as `<|endoftext|>` are counted as plain text, because
    /// documents and questions are data, never control tokens.
    pub fn count(&self, text: &str) -> usize {
        self.bpe.encode_ordinary(text).len()
    }
}

/// One chat message in the OpenAI shape, so the result can be posted to any
/// OpenAI-compatible server as is.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Message {
    pub role: String,
    pub content: String,
}

/// One few-shot conversation, in the OpenAI fine-tuning JSONL shape so existing fine-tuning
/// files can be reused as examples. Extra keys (such as `weight`) are ignored.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Example {
    pub messages: Vec<Message>,
}

/// Everything that shapes a prompt besides the question and the hits; built once from the
/// configuration and reused for every request.
#[derive(Clone, Debug)]
pub struct PromptOptions {
    /// Bounds the tokens of the sources block only: the question, system prompt and
    /// examples are never trimmed, so a caller adds their size to know the full prompt.
    /// The one overrun: a budget too small for even the first passage's header line still
    /// gets that header and the passage's first word, because an answer needs a source.
    pub max_context_tokens: usize,
    /// `None` uses [`DEFAULT_SYSTEM_PROMPT`].
    pub system: Option<String>,
    /// minijinja source for the user message (see [`assemble`] for its variables);
    /// `None` uses the built-in "Sources: … Question: …" layout.
    pub template: Option<String>,
    /// Few-shot conversations placed between the system and the user message.
    pub examples: Vec<Example>,
    /// Hits scoring below this are noise: with none left the prompt says so plainly
    /// instead of padding the context with unrelated text.
    pub min_score: Option<f32>,
    pub tokenizer: TokenCounter,
    /// Largest user message a template may render, in bytes (see [`TEMPLATE_FUEL`]).
    pub max_output_bytes: usize,
}

/// minijinja instructions one template render may execute. A template is a program, and a
/// loop over `range(100000)` nested twice would otherwise run for hours; real templates over
/// a hundred passages use a few thousand.
pub const TEMPLATE_FUEL: u64 = 5_000_000;
/// Nesting depth of macro calls, includes and loops a template may reach.
pub const TEMPLATE_RECURSION: usize = 64;
/// The default [`PromptOptions::max_output_bytes`].
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1 << 20;

/// What `[n]` in the prompt (and so in the model's answer) points at, so a client can turn
/// citations into links to the exact lines.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct Citation {
    /// The number used in the prompt text: citations are numbered 1..=len without gaps.
    pub n: usize,
    /// The most relevant hit's id when several chunks were merged into this passage.
    pub id: String,
    pub path: String,
    pub heading: String,
    pub start_line: u32,
    pub end_line: u32,
    /// Where to open it, as the format counts (`lines 3–10`, `pp. 12–13`, `cells 2–4`,
    /// with `#anchor` for HTML sections).
    #[serde(default)]
    pub location: String,
    /// The nearest heading's `id` (HTML): link to `path#anchor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<String>,
    /// PDF pages, 1-based inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_start: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_end: Option<u32>,
    /// The best score among the merged hits.
    pub score: f32,
    /// The collection of the cited file (when retrieved through collections).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<String>,
}

/// Token accounting, so callers can check the prompt against the model's window and see
/// what the budget cost in retrieved chunks.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, utoipa::ToSchema)]
pub struct Usage {
    /// Tokens of the sources block as it appears in the default user message.
    pub context_tokens: usize,
    /// All messages as OpenAI counts chat prompts: for each message 3 tokens of framing plus
    /// its role and content, plus 3 tokens that prime the reply.
    pub prompt_tokens: usize,
    /// Hits whose text made it into the prompt (merged and duplicate hits included).
    pub chunks_used: usize,
    /// The other hits: below the relevance floor, empty, or over the budget. Together with
    /// `chunks_used` this adds up to the number of hits given.
    pub chunks_dropped: usize,
}

/// The same prompt in the two shapes clients need: chat messages for chat APIs and one plain
/// text for pasting or completion APIs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, utoipa::ToSchema)]
pub struct AssembledPrompt {
    pub messages: Vec<Message>,
    /// [`render_text`] of `messages`.
    pub prompt: String,
    pub citations: Vec<Citation>,
    pub usage: Usage,
    /// True when no hit cleared the relevance floor: the caller may then skip the model.
    pub no_relevant_context: bool,
    /// True when the first passage alone exceeded the budget and was shortened.
    pub truncated: bool,
}

/// Builds the augmented prompt for `question` from `hits` (best first).
///
/// Passages are merged neighbouring chunks of one file, numbered `[1]`, `[2]`, … in relevance
/// order and kept while they fit `max_context_tokens`; the first passage is always kept, cut at
/// a sentence (or, failing that, a word) boundary when it alone is over budget. Messages are
/// `[system, few-shot messages…, user]`.
///
/// A custom template sees `question`, `passages` (list of `{n, path, heading, start_line,
/// end_line, text, score}`), `citations`, `context` (the formatted sources block, empty when
/// nothing is relevant) and `no_relevant_context`. Undefined variables are errors (typos
/// should not silently render as nothing), and `trim_blocks`/`lstrip_blocks` are on so
/// `{% for %}` lines do not leave blank lines behind.
pub fn assemble(question: &str, hits: &[Hit], opts: &PromptOptions) -> Result<AssembledPrompt> {
    let question = question.trim();
    if question.is_empty() {
        return Err(Error::invalid("query", "the question is empty"));
    }
    if opts.max_context_tokens == 0 {
        return Err(Error::invalid(
            "max_context_tokens",
            "must be at least 1 (it is the token budget for the retrieved passages)",
        ));
    }
    if opts.min_score.is_some_and(f32::is_nan) {
        return Err(Error::invalid("min_score", "must be a number, not NaN"));
    }
    let tok = &opts.tokenizer;

    let passages = merge(dedup(hits, opts.min_score));
    let (used, truncated) = fit_budget(passages, opts.max_context_tokens, tok);
    let block = format_block(&used);
    let context_tokens = if used.is_empty() {
        0
    } else {
        tok.count(&block)
    };
    let no_relevant_context = used.is_empty();

    let citations: Vec<Citation> = used
        .iter()
        .enumerate()
        .map(|(i, p)| Citation {
            n: i + 1,
            id: p.id.clone(),
            path: p.path.clone(),
            heading: p.heading.clone(),
            start_line: p.start_line,
            end_line: p.end_line,
            location: p.location(),
            anchor: p.anchor.clone(),
            page_start: (p.place.0 == LocUnit::Pages).then_some(p.place.1),
            page_end: (p.place.0 == LocUnit::Pages).then_some(p.place.2),
            score: p.score,
            collection: p.collection.clone(),
        })
        .collect();

    let user = match &opts.template {
        Some(source) => render_template(
            source,
            question,
            &used,
            &citations,
            &block,
            opts.max_output_bytes,
        )?,
        None => default_user_message(question, &block),
    };

    let mut messages = Vec::with_capacity(2 + opts.examples.len() * 2);
    messages.push(Message {
        role: "system".into(),
        content: opts
            .system
            .clone()
            .unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_string()),
    });
    messages.extend(
        opts.examples
            .iter()
            .flat_map(|e| &e.messages)
            .filter(|m| m.role != "system")
            .cloned(),
    );
    messages.push(Message {
        role: "user".into(),
        content: user,
    });

    let prompt_tokens = TOKENS_REPLY_PRIMING
        + messages
            .iter()
            .map(|m| TOKENS_PER_MESSAGE + tok.count(&m.role) + tok.count(&m.content))
            .sum::<usize>();
    let chunks_used: usize = used.iter().map(|p| p.chunks).sum();

    Ok(AssembledPrompt {
        prompt: render_text(&messages),
        messages,
        citations,
        usage: Usage {
            context_tokens,
            prompt_tokens,
            chunks_used,
            chunks_dropped: hits.len() - chunks_used,
        },
        no_relevant_context,
        truncated,
    })
}

/// The plain-text form, for completion APIs and for pasting into any chat UI: each message
/// becomes a `### Role` heading line (role capitalised: `### System`, `### User`,
/// `### Assistant`) followed by its content, with one blank line between messages. No
/// trailing `### Assistant` cue is added, so pasted text does not carry an empty turn.
pub fn render_text(messages: &[Message]) -> String {
    messages
        .iter()
        .map(|m| {
            let mut role = m.role.chars();
            let title: String = match role.next() {
                Some(first) => first.to_uppercase().chain(role).collect(),
                None => "Message".into(),
            };
            format!("### {title}\n{}", m.content)
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Reads a user-message template once at start-up, and checks its syntax then, so a broken
/// file fails `lore serve` immediately (naming the file and line) rather than every request.
pub fn load_template(path: &Path) -> Result<String> {
    let source = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading prompt template {}", path.display()), e))?;
    let name = path.display().to_string();
    template_env()
        .template_from_named_str(&name, &source)
        .map_err(|e| Error::Config(format!("prompt template {name}: {e}")))?;
    Ok(source)
}

/// Reads few-shot examples from a JSONL file of `{"messages": [...]}` objects (the OpenAI
/// fine-tuning format), so one file can serve both purposes. Blank lines are skipped; errors
/// name the file and the 1-based line.
pub fn load_examples(path: &Path) -> Result<Vec<Example>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("reading few-shot examples {}", path.display()), e))?;
    let mut examples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}');
        if line.trim().is_empty() {
            continue;
        }
        let at = || format!("few-shot examples {}:{}", path.display(), i + 1);
        let example: Example = serde_json::from_str(line).map_err(|e| {
            Error::Config(format!(
                "{}: {e} (expected {{\"messages\": [{{\"role\": ..., \"content\": ...}}]}})",
                at()
            ))
        })?;
        if example.messages.is_empty() {
            return Err(Error::Config(format!("{}: \"messages\" is empty", at())));
        }
        if let Some(m) = example
            .messages
            .iter()
            .find(|m| !matches!(m.role.as_str(), "system" | "user" | "assistant"))
        {
            return Err(Error::Config(format!(
                "{}: role {:?} is not one of system, user, assistant",
                at(),
                m.role
            )));
        }
        examples.push(example);
    }
    Ok(examples)
}

/// A contiguous span of one file built from one or more hits.
#[derive(Debug, Clone)]
struct Passage {
    /// The best-ranked member's id.
    id: String,
    /// Two collections may hold the same path: passages never mix them.
    collection: Option<String>,
    path: String,
    heading: String,
    start_line: u32,
    end_line: u32,
    byte_start: usize,
    byte_end: usize,
    /// The range in the format's own unit (pages, cells, paragraphs; lines otherwise).
    place: (LocUnit, u32, u32),
    anchor: Option<String>,
    text: String,
    score: f32,
    /// Index in `hits` of the best-ranked member: passages are ordered by it.
    rank: usize,
    /// Hits represented, duplicates included.
    chunks: usize,
    /// The hits merged here, so a shortened passage can credit only those it still shows.
    members: Vec<Member>,
}

/// One hit inside a passage.
#[derive(Debug, Clone)]
struct Member {
    /// Where the hit's text starts in the passage text.
    offset: usize,
    rank: usize,
    id: String,
    score: f32,
    chunks: usize,
}

/// A hit that survived the floor and dedup, with how many hits it stands for.
struct Unique<'a> {
    rank: usize,
    hit: &'a Hit,
    chunks: usize,
}

/// Applies the relevance floor and keeps the first of hits sharing an id or a text.
fn dedup(hits: &[Hit], min_score: Option<f32>) -> Vec<Unique<'_>> {
    let mut out: Vec<Unique<'_>> = Vec::new();
    // By collection and id: the same `path#n` in two collections is two hits.
    let mut by_id: HashMap<(Option<&str>, &str), usize> = HashMap::new();
    let mut by_text: HashMap<&str, usize> = HashMap::new();
    for (rank, hit) in hits.iter().enumerate() {
        // NaN scores fail any floor.
        let below = |min: f32| hit.score < min || hit.score.is_nan();
        if min_score.is_some_and(below) || hit.text.trim().is_empty() {
            continue;
        }
        let twin = by_id
            .get(&(hit.collection.as_deref(), hit.id.as_str()))
            .or_else(|| by_text.get(hit.text.as_str()));
        if let Some(&i) = twin {
            out[i].chunks += 1;
            continue;
        }
        by_id.insert((hit.collection.as_deref(), &hit.id), out.len());
        by_text.insert(&hit.text, out.len());
        out.push(Unique {
            rank,
            hit,
            chunks: 1,
        });
    }
    out
}

/// Hits whose text is exactly their byte range can be stitched by offsets; any other hit is
/// kept as a passage of its own rather than risk garbling text.
fn mergeable(hit: &Hit) -> bool {
    hit.source.byte_end >= hit.source.byte_start
        && hit.text.len() == hit.source.byte_end - hit.source.byte_start
}

/// Merges overlapping or adjacent chunks of one file (transitively) and orders the passages
/// by their best hit's rank.
fn merge(unique: Vec<Unique<'_>>) -> Vec<Passage> {
    let mut passages = Vec::new();
    let mut groups: HashMap<(Option<&str>, &str), Vec<&Unique<'_>>> = HashMap::new();
    for u in &unique {
        if mergeable(u.hit) {
            groups
                .entry((u.hit.collection.as_deref(), u.hit.source.path.as_str()))
                .or_default()
                .push(u);
        } else {
            passages.push(Passage::from(u));
        }
    }
    for (_, mut group) in groups {
        group.sort_by_key(|u| {
            (
                u.hit.source.byte_start,
                std::cmp::Reverse(u.hit.source.byte_end),
            )
        });
        let mut current: Option<Passage> = None;
        for u in group {
            if let Some(p) = current.as_mut() {
                if u.hit.source.byte_start <= p.byte_end + 2 {
                    p.absorb(u);
                    continue;
                }
            }
            passages.extend(current.replace(Passage::from(u)));
        }
        passages.extend(current);
    }
    passages.sort_by_key(|p| p.rank);
    for p in &mut passages {
        p.text.truncate(p.text.trim_end().len());
    }
    passages
}

impl From<&Unique<'_>> for Passage {
    fn from(u: &Unique<'_>) -> Self {
        let h = u.hit;
        Passage {
            id: h.id.clone(),
            collection: h.collection.clone(),
            path: h.source.path.clone(),
            heading: h.source.heading.clone(),
            start_line: h.source.start_line,
            end_line: h.source.end_line,
            byte_start: h.source.byte_start,
            byte_end: h.source.byte_end,
            place: h.source.place(),
            anchor: h.source.anchor.clone(),
            text: h.text.clone(),
            score: h.score,
            rank: u.rank,
            chunks: u.chunks,
            members: vec![Member::new(0, u)],
        }
    }
}

impl Member {
    fn new(offset: usize, u: &Unique<'_>) -> Self {
        Member {
            offset,
            rank: u.rank,
            id: u.hit.id.clone(),
            score: u.hit.score,
            chunks: u.chunks,
        }
    }
}

impl Passage {
    /// Appends the part of a later-starting chunk that this passage does not cover yet.
    fn absorb(&mut self, u: &Unique<'_>) {
        let (h, s) = (u.hit, &u.hit.source);
        let offset = if s.byte_start <= self.byte_end {
            self.text.len().saturating_sub(self.byte_end - s.byte_start)
        } else {
            self.text.len() + 2
        };
        self.members.push(Member::new(offset, u));
        if s.byte_end > self.byte_end {
            let tail = if s.byte_start <= self.byte_end {
                h.text.get(self.byte_end - s.byte_start..)
            } else {
                None
            };
            match tail {
                Some(tail) => self.text.push_str(tail),
                None => {
                    // A 1-2 byte gap of unknown content (or offsets that are not on a char
                    // boundary): keep both texts whole, as separate paragraphs (chunk
                    // boundaries are usually blank lines between Markdown blocks).
                    self.text.push_str("\n\n");
                    self.text.push_str(&h.text);
                }
            }
            self.byte_end = s.byte_end;
        }
        self.start_line = self.start_line.min(s.start_line);
        self.end_line = self.end_line.max(s.end_line);
        let (unit, a, b) = s.place();
        if unit == self.place.0 {
            self.place = (unit, self.place.1.min(a), self.place.2.max(b));
        }
        self.summarise();
    }

    /// `lines 3-10`, `p. 4-5`, …: what the citation header shows.
    fn location(&self) -> String {
        let (unit, a, b) = match self.place.0 {
            LocUnit::Lines => (LocUnit::Lines, self.start_line, self.end_line),
            other => (other, self.place.1, self.place.2),
        };
        crate::search::describe_location(unit, a, b, self.anchor.as_deref())
    }

    /// Derives id, rank, score and chunk count from the members.
    fn summarise(&mut self) {
        if let Some(best) = self.members.iter().min_by_key(|m| m.rank) {
            self.rank = best.rank;
            self.id = best.id.clone();
        }
        self.score = self
            .members
            .iter()
            .map(|m| m.score)
            .fold(f32::NEG_INFINITY, f32::max);
        self.chunks = self.members.iter().map(|m| m.chunks).sum();
    }

    /// The passage shortened to `text[..cut]`; line range, id, score and chunk count follow
    /// the hits whose text still shows.
    fn cut(&self, cut: usize, ellipsis: bool) -> Passage {
        let kept = self.text[..cut].trim_end();
        let lines = u32::try_from(kept.matches('\n').count()).unwrap_or(u32::MAX);
        let mut p = self.clone();
        p.end_line = self.start_line.saturating_add(lines).min(self.end_line);
        p.byte_end = self.byte_start + kept.len();
        p.text = kept.to_string();
        if ellipsis {
            p.text.push('…');
        }
        p.members.retain(|m| m.offset < kept.len() || m.offset == 0);
        p.summarise();
        p
    }
}

/// `[n] path — heading (lines a-b)` then the text: the header is what the model cites.
fn format_passage(n: usize, p: &Passage) -> String {
    let mut s = format!("[{n}] {}", p.path);
    if !p.heading.trim().is_empty() {
        s.push_str(" — ");
        s.push_str(p.heading.trim());
    }
    s.push_str(&format!(" ({})\n", p.location()));
    s.push_str(&p.text);
    s
}

fn format_block(passages: &[Passage]) -> String {
    passages
        .iter()
        .enumerate()
        .map(|(i, p)| format_passage(i + 1, p))
        .collect::<Vec<_>>()
        .join(PASSAGE_SEPARATOR)
}

/// Keeps passages in order while they fit; returns them and whether the first was shortened.
///
/// Token counts of joined texts are not exactly additive (BPE can merge across a boundary,
/// e.g. `.` with the blank line after it), so a running sum of the parts is only used while it
/// is clearly within budget; near the limit the real block is counted.
fn fit_budget(passages: Vec<Passage>, budget: usize, tok: &TokenCounter) -> (Vec<Passage>, bool) {
    let separator = tok.count(PASSAGE_SEPARATOR);
    let mut used = Vec::new();
    let mut block = String::new();
    let mut estimate = 0;
    let mut truncated = false;
    for (i, p) in passages.into_iter().enumerate() {
        let formatted = format_passage(i + 1, &p);
        let cost = tok.count(&formatted) + if i > 0 { separator } else { 0 };
        let mut candidate = std::mem::take(&mut block);
        if i > 0 {
            candidate.push_str(PASSAGE_SEPARATOR);
        }
        candidate.push_str(&formatted);
        let fits = if estimate + cost <= budget {
            estimate += cost;
            true
        } else {
            estimate = tok.count(&candidate);
            estimate <= budget
        };
        if fits {
            block = candidate;
            used.push(p);
            continue;
        }
        if i == 0 {
            used.push(shorten(&p, budget, tok));
            truncated = true;
        }
        break;
    }
    // The running sum can undercount too: give passages back until the real block fits.
    while used.len() > 1 && tok.count(&format_block(&used)) > budget {
        used.pop();
    }
    (used, truncated)
}

/// Shortens the first passage to fit the budget: at the last sentence end that fits; else at
/// the last word end that fits, marked "…"; else inside an unbroken first word. When the
/// budget cannot hold even the header, the first word (at most [`MAX_FLOOR_CHARS`] chars) is
/// kept anyway so the citation still points at real text.
fn shorten(p: &Passage, budget: usize, tok: &TokenCounter) -> Passage {
    let fits =
        |cut: usize, ellipsis: bool| tok.count(&format_passage(1, &p.cut(cut, ellipsis))) <= budget;
    let last_fitting = |cuts: &[usize], ellipsis: bool| {
        let k = cuts.partition_point(|&c| fits(c, ellipsis));
        k.checked_sub(1).map(|k| cuts[k])
    };

    let text = p.text.as_str();
    let nonempty = |c: &usize| !text[..*c].trim().is_empty();
    let mut sentences: Vec<usize> = Vec::new();
    let mut words: Vec<usize> = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        if c == '\n' {
            sentences.push(i);
        } else if matches!(c, '.' | '!' | '?') && next.is_some_and(char::is_whitespace) {
            sentences.push(i + c.len_utf8());
        }
        if !c.is_whitespace() && next.is_some_and(char::is_whitespace) {
            words.push(i + c.len_utf8());
        }
    }
    sentences.retain(nonempty);
    sentences.dedup();
    words.retain(nonempty);

    if let Some(cut) = last_fitting(&sentences, false) {
        return p.cut(cut, false);
    }
    if let Some(cut) = last_fitting(&words, true) {
        return p.cut(cut, true);
    }
    let first_word = words.first().copied().unwrap_or(text.len());
    let start = text.len() - text.trim_start().len();
    let inside: Vec<usize> = text
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .filter(|&i| i > start && i < first_word)
        .collect();
    if let Some(cut) = last_fitting(&inside, true) {
        return p.cut(cut, true);
    }
    let floor = inside
        .get(MAX_FLOOR_CHARS - 1)
        .copied()
        .unwrap_or(first_word);
    p.cut(floor, floor < text.len())
}

fn default_user_message(question: &str, block: &str) -> String {
    if block.is_empty() {
        format!(
            "No relevant passages were found in the knowledge base for this question, so there \
             are no sources to cite. Say that you don't know rather than guessing.\n\n\
             Question: {question}"
        )
    } else {
        format!("Sources:\n\n{block}\n\nQuestion: {question}")
    }
}

/// The settings shared by rendering and by [`load_template`]'s early syntax check.
/// Every render runs with fuel and a recursion limit, so no template runs unbounded.
fn template_env() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_fuel(Some(TEMPLATE_FUEL));
    env.set_recursion_limit(TEMPLATE_RECURSION);
    env
}

/// Collects a render's output and fails the render once it passes `limit` bytes, so a
/// template like `{{ "x" * 50000000 }}` in a loop stops at the cap instead of holding
/// gigabytes. (minijinja renders through `io::Write`; an error aborts the render.)
struct BoundedOutput {
    buf: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl std::io::Write for BoundedOutput {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("template output limit reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a template sees for each passage.
#[derive(Serialize)]
struct PassageView<'a> {
    n: usize,
    path: &'a str,
    heading: &'a str,
    start_line: u32,
    end_line: u32,
    text: &'a str,
    score: f32,
}

fn render_template(
    source: &str,
    question: &str,
    used: &[Passage],
    citations: &[Citation],
    block: &str,
    max_output_bytes: usize,
) -> Result<String> {
    let passages: Vec<PassageView<'_>> = used
        .iter()
        .enumerate()
        .map(|(i, p)| PassageView {
            n: i + 1,
            path: &p.path,
            heading: &p.heading,
            start_line: p.start_line,
            end_line: p.end_line,
            text: &p.text,
            score: p.score,
        })
        .collect();
    let ctx = minijinja::context! {
        question => question,
        passages => passages,
        citations => citations,
        context => block,
        no_relevant_context => used.is_empty(),
    };
    let env = template_env();
    let template = env
        .template_from_named_str("template", source)
        .map_err(|e| Error::invalid("template", e.to_string()))?;
    let mut out = BoundedOutput {
        buf: Vec::new(),
        limit: max_output_bytes,
        exceeded: false,
    };
    match template.render_captured_to(ctx, &mut out) {
        Ok(_) => {}
        Err(_) if out.exceeded => {
            return Err(Error::invalid(
                "template",
                format!("the template's output passed the limit of {max_output_bytes} bytes (prompt.max_output_bytes)"),
            ))
        }
        Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => {
            return Err(Error::invalid(
                "template",
                format!("the template ran out of fuel: it executed more than {TEMPLATE_FUEL} instructions (a runaway loop?)"),
            ))
        }
        Err(e) => return Err(Error::invalid("template", e.to_string())),
    }
    String::from_utf8(out.buf)
        .map_err(|_| Error::invalid("template", "the template rendered invalid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::{Ranks, Source};

    const INSTALL: &str = "# Install\n\
Lore runs on Linux and macOS. It needs Rust 1.92 or newer! Is a GPU required? No, a CPU is enough.\n\
\n\
## Linux\n\
Download the release archive from the project page. Unpack it into a folder on your PATH. \
Run lore --version to check that it works.\n\
\n\
## Configuration\n\
Copy lore.toml next to the index folder. Set max_context_tokens to bound the size of prompts.\n";

    const FAQ: &str = "# FAQ\n\
Lore never sends your documents anywhere. Everything stays on the local machine.\n\
\n\
## Models\n\
Any OpenAI-compatible chat server works, such as llama.cpp or Ollama.\n";

    const TUNING: &str = "# Tuning\n\
Raise min_score to drop weak matches. Lower it when answers miss obvious passages.\n";

    fn tok() -> TokenCounter {
        TokenCounter::new("o200k_base").unwrap()
    }

    fn opts(max_context_tokens: usize) -> PromptOptions {
        PromptOptions {
            max_context_tokens,
            system: None,
            template: None,
            examples: Vec::new(),
            min_score: None,
            tokenizer: tok(),
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
        }
    }

    fn line_of(file: &str, byte: usize) -> u32 {
        1 + file[..byte].matches('\n').count() as u32
    }

    /// A chunk of `file` from the first occurrence of `from` to the end of the first
    /// occurrence of `to` at or after it.
    fn chunk(path: &str, file: &str, ordinal: u32, from: &str, to: &str, score: f32) -> Hit {
        let start = file.find(from).expect("from in file");
        let end = start + file[start..].find(to).expect("to in file") + to.len();
        hit_at(path, file, ordinal, start, end, score)
    }

    fn hit_at(path: &str, file: &str, ordinal: u32, start: usize, end: usize, score: f32) -> Hit {
        let heading = file[start..]
            .lines()
            .next()
            .filter(|l| l.starts_with('#'))
            .or_else(|| file[..start].lines().rev().find(|l| l.starts_with('#')))
            .unwrap_or("")
            .trim_start_matches('#')
            .trim()
            .to_string();
        Hit {
            id: format!("{path}#{ordinal}"),
            score,
            similarity: None,
            confidence: None,
            bm25_score: None,
            snippet: None,
            text: file[start..end].to_string(),
            source: Source {
                path: path.into(),
                title: path.into(),
                heading,
                start_line: line_of(file, start),
                end_line: line_of(file, end.saturating_sub(1).max(start)),
                byte_start: start,
                byte_end: end,
                location: String::new(),
                anchor: None,
                page_start: None,
                page_end: None,
                cell_start: None,
                cell_end: None,
                paragraph_start: None,
                paragraph_end: None,
            },
            ranks: Ranks::default(),
            collection: None,
            also_in: Vec::new(),
        }
    }

    /// Three hits from three files, so nothing merges.
    fn three_files() -> Vec<Hit> {
        vec![
            chunk("docs/install.md", INSTALL, 0, "## Linux", "it works.", 0.9),
            chunk("docs/faq.md", FAQ, 1, "## Models", "Ollama.", 0.8),
            chunk("docs/tuning.md", TUNING, 0, "# Tuning", "passages.", 0.7),
        ]
    }

    fn user_message(p: &AssembledPrompt) -> &str {
        &p.messages.last().unwrap().content
    }

    /// The `[n]` numbers that start a line, in order: the citation headers the model sees.
    fn header_numbers(text: &str) -> Vec<usize> {
        text.lines()
            .filter_map(|l| {
                let rest = l.strip_prefix('[')?;
                let close = rest.find(']')?;
                let n = rest[..close].parse().ok()?;
                rest[close + 1..].starts_with(' ').then_some(n)
            })
            .collect()
    }

    fn unique_temp(name: &str) -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        std::env::temp_dir().join(format!(
            "lore-prompt-test-{}-{}-{name}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ))
    }

    #[test]
    fn huge_budget_uses_every_passage() {
        let hits = three_files();
        let p = assemble("How do I install lore?", &hits, &opts(100_000)).unwrap();
        assert_eq!(p.citations.len(), 3);
        assert_eq!(p.usage.chunks_used, 3);
        assert_eq!(p.usage.chunks_dropped, 0);
        assert!(!p.truncated && !p.no_relevant_context);
        assert_eq!(p.citations[0].path, "docs/install.md");
        assert_eq!(p.citations[0].heading, "Linux");
        assert_eq!(p.citations[0].id, "docs/install.md#0");
        let user = user_message(&p);
        assert!(user.starts_with("Sources:\n\n[1] docs/install.md — Linux (lines 4-5)\n## Linux\n"));
        assert!(user.ends_with("\n\nQuestion: How do I install lore?"));
        for h in &hits {
            assert!(user.contains(&h.text));
        }
        assert_eq!(p.messages.len(), 2);
        assert_eq!(p.messages[0].role, "system");
        assert_eq!(p.messages[0].content, DEFAULT_SYSTEM_PROMPT);
        assert_eq!(p.prompt, render_text(&p.messages));
        assert!(p.prompt.starts_with("### System\n"));
        assert!(p.prompt.contains("\n\n### User\nSources:"));
        let block = &user["Sources:\n\n".len()..user.find("\n\nQuestion:").unwrap()];
        assert_eq!(p.usage.context_tokens, tok().count(block));
        let expected: usize = 3 + p
            .messages
            .iter()
            .map(|m| 3 + tok().count(&m.role) + tok().count(&m.content))
            .sum::<usize>();
        assert_eq!(p.usage.prompt_tokens, expected);
    }

    #[test]
    fn budget_that_fits_exactly_two_passages_drops_the_third() {
        let hits = three_files();
        let all = assemble("q?", &hits, &opts(100_000)).unwrap();
        let user = user_message(&all);
        let two = &user["Sources:\n\n".len()..user.find("\n\n[3] ").unwrap()];
        let budget = tok().count(two);

        let p = assemble("q?", &hits, &opts(budget)).unwrap();
        assert_eq!(p.citations.len(), 2);
        assert_eq!(p.usage.context_tokens, budget);
        assert_eq!(p.usage.chunks_used, 2);
        assert_eq!(p.usage.chunks_dropped, 1);
        assert!(!p.truncated);
        assert!(!user_message(&p).contains("docs/tuning.md"));

        let p = assemble("q?", &hits, &opts(budget - 1)).unwrap();
        assert_eq!(p.citations.len(), 1);
        assert_eq!(p.usage.chunks_dropped, 2);
        assert!(p.usage.context_tokens < budget);
    }

    #[test]
    fn over_budget_first_passage_is_cut_at_a_sentence_boundary() {
        let hits = vec![chunk(
            "docs/install.md",
            INSTALL,
            0,
            "Lore runs",
            "enough.",
            0.9,
        )];
        let full = format_passage(1, &merge(dedup(&hits, None)).remove(0));
        let first = "Lore runs on Linux and macOS. It needs Rust 1.92 or newer!";
        let budget = tok().count(&full.replace(" Is a GPU required? No, a CPU is enough.", "")) + 2;
        assert!(budget < tok().count(&full));

        let p = assemble("q?", &hits, &opts(budget)).unwrap();
        assert!(p.truncated);
        assert_eq!(p.citations.len(), 1);
        assert_eq!(p.citations[0].n, 1);
        assert!(p.usage.context_tokens <= budget);
        assert_eq!(p.usage.chunks_used, 1);
        let user = user_message(&p);
        assert!(user.contains(&format!(
            "[1] docs/install.md — Install (line 2)\n{first}\n\nQuestion:"
        )));
    }

    #[test]
    fn one_token_budget_still_cites_the_first_passage() {
        let hits = three_files();
        let p = assemble("q?", &hits, &opts(1)).unwrap();
        assert!(p.truncated);
        assert!(!p.no_relevant_context);
        assert_eq!(p.citations.len(), 1);
        assert_eq!(header_numbers(user_message(&p)), vec![1]);
        assert_eq!(p.usage.chunks_used, 1);
        assert_eq!(p.usage.chunks_dropped, 2);
        // Not even a sentence fits: the text is cut at a word boundary and marked.
        assert!(user_message(&p).contains("[1] docs/install.md — Linux (line 4)\n##…\n\nQuestion:"));
    }

    #[test]
    fn word_cut_when_no_sentence_fits() {
        let hits = vec![chunk(
            "docs/install.md",
            INSTALL,
            0,
            "Download",
            "works.",
            0.9,
        )];
        let header = "[1] docs/install.md — Linux (line 5)\n";
        let budget = tok().count(&format!("{header}Download the release archive from…"));
        let p = assemble("q?", &hits, &opts(budget)).unwrap();
        assert!(p.truncated);
        assert!(p.usage.context_tokens <= budget);
        let user = user_message(&p);
        assert!(
            user.contains(&format!(
                "{header}Download the release archive from…\n\nQuestion:"
            )),
            "{user}"
        );
    }

    #[test]
    fn overlapping_and_adjacent_chunks_merge_into_one_passage() {
        let start = INSTALL.find("## Linux").unwrap();
        let mid = INSTALL.find("Unpack it").unwrap();
        let end = INSTALL.find("\n\n## Configuration").unwrap();
        let cfg = INSTALL.find("## Configuration").unwrap();
        let hits = vec![
            // Overlaps the next one: "Unpack it ... PATH." is in both.
            hit_at("docs/install.md", INSTALL, 2, mid, end, 0.9),
            chunk("docs/faq.md", FAQ, 0, "Lore never", "machine.", 0.8),
            hit_at(
                "docs/install.md",
                INSTALL,
                1,
                start,
                mid + "Unpack it into a folder on your PATH.".len(),
                0.7,
            ),
            // Adjacent to the one above, with a 2-byte gap ("\n\n").
            hit_at("docs/install.md", INSTALL, 3, cfg, INSTALL.len(), 0.6),
        ];
        let p = assemble("q?", &hits, &opts(100_000)).unwrap();
        assert_eq!(p.citations.len(), 2);
        let c = &p.citations[0];
        assert_eq!(c.path, "docs/install.md");
        assert_eq!(c.id, "docs/install.md#2");
        assert_eq!(c.heading, "Linux");
        assert_eq!((c.start_line, c.end_line), (4, 8));
        assert_eq!(c.score, 0.9);
        assert_eq!(p.citations[1].path, "docs/faq.md");
        assert_eq!(p.usage.chunks_used, 4);
        assert_eq!(p.usage.chunks_dropped, 0);

        let user = user_message(&p);
        let expected = format!(
            "[1] docs/install.md — Linux (lines 4-8)\n{}\n\n{}\n\n[2] docs/faq.md",
            &INSTALL[start..end],
            INSTALL[cfg..].trim_end()
        );
        assert!(user.contains(&expected), "{user}");
        assert_eq!(user.matches("Unpack it into a folder").count(), 1);
    }

    #[test]
    fn shortened_merged_passage_credits_only_the_hits_it_shows() {
        let linux = chunk("docs/install.md", INSTALL, 1, "## Linux", "it works.", 0.7);
        let config = chunk(
            "docs/install.md",
            INSTALL,
            2,
            "## Configuration",
            "prompts.",
            0.9,
        );
        let hits = vec![config, linux];
        let p = assemble("q?", &hits, &opts(100_000)).unwrap();
        assert_eq!(p.citations.len(), 1);
        assert_eq!(p.citations[0].id, "docs/install.md#2");
        assert_eq!(p.usage.chunks_used, 2);

        let p = assemble("q?", &hits, &opts(30)).unwrap();
        assert!(p.truncated);
        let user = user_message(&p);
        assert!(
            user.contains("[1] docs/install.md — Linux (lines 4-5)\n## Linux\nDownload"),
            "{user}"
        );
        assert!(!user.contains("Configuration"));
        let c = &p.citations[0];
        assert_eq!(
            (c.id.as_str(), c.score, c.start_line, c.end_line),
            ("docs/install.md#1", 0.7, 4, 5)
        );
        assert_eq!(p.usage.chunks_used, 1);
        assert_eq!(p.usage.chunks_dropped, 1);
    }

    #[test]
    fn exactly_adjacent_chunks_join_without_a_separator() {
        let cut = INSTALL.find("Unpack it").unwrap();
        let start = INSTALL.find("## Linux").unwrap();
        let end = INSTALL.find("\n\n## Configuration").unwrap();
        let hits = vec![
            hit_at("docs/install.md", INSTALL, 2, cut, end, 0.9),
            hit_at("docs/install.md", INSTALL, 1, start, cut, 0.8),
        ];
        let p = assemble("q?", &hits, &opts(100_000)).unwrap();
        assert_eq!(p.citations.len(), 1);
        assert!(user_message(&p).contains(&format!(
            "(lines 4-5)\n{}\n\nQuestion",
            &INSTALL[start..end]
        )));
    }

    #[test]
    fn duplicates_are_removed() {
        let a = chunk("docs/install.md", INSTALL, 0, "## Linux", "it works.", 0.9);
        let b = chunk("docs/faq.md", FAQ, 1, "## Models", "Ollama.", 0.8);
        let mut same_text = b.clone();
        same_text.id = "copy/faq.md#1".into();
        same_text.source.path = "copy/faq.md".into();
        let hits = vec![a.clone(), b.clone(), a.clone(), same_text];
        let p = assemble("q?", &hits, &opts(100_000)).unwrap();
        assert_eq!(p.citations.len(), 2);
        assert_eq!(p.usage.chunks_used, 4);
        assert_eq!(p.usage.chunks_dropped, 0);
        assert_eq!(user_message(&p).matches(&a.text).count(), 1);
        assert_eq!(user_message(&p).matches(&b.text).count(), 1);
    }

    #[test]
    fn citation_headers_match_the_citations_array() {
        let mut hits = three_files();
        hits.push(chunk(
            "docs/install.md",
            INSTALL,
            5,
            "## Configuration",
            "prompts.",
            0.5,
        ));
        for budget in [1, 40, 80, 120, 100_000] {
            let p = assemble("q?", &hits, &opts(budget)).unwrap();
            let ns: Vec<usize> = p.citations.iter().map(|c| c.n).collect();
            assert_eq!(ns, (1..=p.citations.len()).collect::<Vec<_>>());
            assert_eq!(header_numbers(user_message(&p)), ns, "budget {budget}");
            assert_eq!(p.usage.chunks_used + p.usage.chunks_dropped, hits.len());
            for c in &p.citations {
                let header = format!("[{}] {}", c.n, c.path);
                assert!(user_message(&p).contains(&header));
            }
        }
    }

    #[test]
    fn relevance_floor_reports_no_relevant_context() {
        let hits = three_files();
        let mut o = opts(1000);
        o.min_score = Some(0.95);
        let p = assemble("What is the capital of France?", &hits, &o).unwrap();
        assert!(p.no_relevant_context);
        assert!(p.citations.is_empty());
        assert_eq!(p.usage.context_tokens, 0);
        assert_eq!(p.usage.chunks_used, 0);
        assert_eq!(p.usage.chunks_dropped, 3);
        let user = user_message(&p);
        assert!(user.contains("No relevant passages were found in the knowledge base"));
        assert!(user.ends_with("Question: What is the capital of France?"));
        assert!(!user.contains("docs/"));
        assert!(p.messages[0].content.contains("don't know"));

        o.min_score = Some(0.75);
        let p = assemble("q?", &hits, &o).unwrap();
        assert_eq!(p.citations.len(), 2);
        assert_eq!(p.usage.chunks_dropped, 1);

        let p = assemble("q?", &[], &opts(1000)).unwrap();
        assert!(p.no_relevant_context);
    }

    #[test]
    fn custom_template_and_system_prompt() {
        let mut o = opts(100_000);
        o.system = Some("Be brief.".into());
        o.template = Some(
            "Q={{ question }} none={{ no_relevant_context }}\n\
             {% for p in passages %}\n\
             <{{ p.n }}|{{ p.path }}|{{ p.heading }}|{{ p.start_line }}-{{ p.end_line }}>\n\
             {% endfor %}\n\
             ids={{ citations | map(attribute='id') | join(',') }}\n\
             {{ context }}"
                .into(),
        );
        let hits = three_files();
        let p = assemble("why?", &hits, &o).unwrap();
        assert_eq!(p.messages[0].content, "Be brief.");
        let user = user_message(&p);
        assert!(
            user.starts_with(
                "Q=why? none=False\n<1|docs/install.md|Linux|4-5>\n<2|docs/faq.md|Models|4-5>\n"
            ),
            "{user}"
        );
        assert!(user
            .contains("ids=docs/install.md#0,docs/faq.md#1,docs/tuning.md#0\n[1] docs/install.md"));

        o.min_score = Some(5.0);
        let p = assemble("why?", &hits, &o).unwrap();
        assert!(user_message(&p).starts_with("Q=why? none=True\nids=\n"));
    }

    #[test]
    fn broken_template_is_an_invalid_request() {
        let mut o = opts(1000);
        o.template = Some("Hello\n{% for p in passages %}{{ p.n }}".into());
        let err = assemble("q?", &three_files(), &o).unwrap_err();
        match &err {
            Error::InvalidRequest { field, message } => {
                assert_eq!(*field, "template");
                assert!(message.contains("template:"), "{message}");
            }
            other => panic!("unexpected error {other:?}"),
        }
        assert!(err.to_string().starts_with("template: "));

        o.template = Some("{{ questoin }}".into());
        let err = assemble("q?", &three_files(), &o).unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidRequest {
                    field: "template",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn load_template_reads_and_checks_the_file() {
        let path = unique_temp("user.j2");
        std::fs::write(&path, "{{ context }}\n\nQ: {{ question }}\n").unwrap();
        let source = load_template(&path).unwrap();
        let mut o = opts(1000);
        o.template = Some(source);
        let p = assemble("q?", &three_files(), &o).unwrap();
        assert!(user_message(&p).starts_with("[1] docs/install.md"));
        assert!(user_message(&p).ends_with("\n\nQ: q?"));

        std::fs::write(&path, "ok\n{% if %}").unwrap();
        let err = load_template(&path).unwrap_err().to_string();
        assert!(
            err.contains(&path.display().to_string()) && err.contains(":2"),
            "{err}"
        );
        std::fs::remove_file(&path).unwrap();

        let err = load_template(&path).unwrap_err();
        assert!(matches!(err, Error::Io { .. }));
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn few_shot_examples_sit_between_system_and_user() {
        let path = unique_temp("examples.jsonl");
        std::fs::write(
            &path,
            concat!(
                r#"{"messages": [{"role": "system", "content": "ignored"}, {"role": "user", "content": "Sources: [1] a\n\nQuestion: x?"}, {"role": "assistant", "content": "x is a [1]."}]}"#,
                "\n\n",
                r#"{"messages": [{"role": "user", "content": "Question: y?"}, {"role": "assistant", "content": "I don't know."}], "weight": 1}"#,
                "\n"
            ),
        )
        .unwrap();
        let examples = load_examples(&path).unwrap();
        assert_eq!(examples.len(), 2);
        let mut o = opts(1000);
        o.examples = examples;
        let p = assemble("q?", &three_files(), &o).unwrap();
        let roles: Vec<&str> = p.messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(
            roles,
            ["system", "user", "assistant", "user", "assistant", "user"]
        );
        assert_eq!(p.messages[0].content, DEFAULT_SYSTEM_PROMPT);
        assert_eq!(p.messages[2].content, "x is a [1].");
        assert_eq!(p.messages[4].content, "I don't know.");
        assert!(p.messages[5].content.starts_with("Sources:"));
        assert!(!p.prompt.contains("ignored"));
        assert!(p
            .prompt
            .contains("\n\n### Assistant\nx is a [1].\n\n### User\nQuestion: y?"));

        std::fs::write(
            &path,
            "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n{\"messages\": [oops]}\n",
        )
        .unwrap();
        let err = load_examples(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("{}:2", path.display())), "{err}");

        std::fs::write(
            &path,
            "{\"messages\": [{\"role\": \"robot\", \"content\": \"hi\"}]}\n",
        )
        .unwrap();
        let err = load_examples(&path).unwrap_err().to_string();
        assert!(
            err.contains(&format!("{}:1", path.display())) && err.contains("robot"),
            "{err}"
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn tokenizers_count_and_unknown_names_fail() {
        for name in ["o200k_base", "cl100k_base"] {
            let t = TokenCounter::new(name).unwrap();
            assert_eq!(t.name(), name);
            assert!(t.count("hello world") > 0);
            assert_eq!(t.count(""), 0);
            // Special-token text is counted as data, not rejected.
            assert!(t.count("<|endoftext|>") > 1);
        }
        let err = TokenCounter::new("gpt2").unwrap_err();
        assert!(matches!(err, Error::Config(_)));
        let msg = err.to_string();
        assert!(
            msg.contains("o200k_base") && msg.contains("cl100k_base"),
            "{msg}"
        );
    }

    #[test]
    fn validation() {
        let err = assemble("  ", &three_files(), &opts(100)).unwrap_err();
        assert!(matches!(err, Error::InvalidRequest { field: "query", .. }));
        let err = assemble("q?", &three_files(), &opts(0)).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidRequest {
                field: "max_context_tokens",
                ..
            }
        ));
    }

    #[test]
    fn render_text_format() {
        let messages = vec![
            Message {
                role: "system".into(),
                content: "S".into(),
            },
            Message {
                role: "user".into(),
                content: "U".into(),
            },
            Message {
                role: "assistant".into(),
                content: "A".into(),
            },
        ];
        assert_eq!(
            render_text(&messages),
            "### System\nS\n\n### User\nU\n\n### Assistant\nA"
        );
    }
}
