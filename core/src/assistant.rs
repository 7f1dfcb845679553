//! The AI Assistant's planner: a message in plain language (with N attached images and the
//! conversation so far) → a typed plan of `/v1/run` steps, an answer, a question back, or a
//! refusal. Pure and deterministic: the fast path, and the fallback when a language model is
//! configured (its plans go through [`check_steps`] too).
//!
//! An image input of a step is a reference, resolved when the plan runs:
//! `"$image:K"` (the K-th image attached to this message, from 0), `"$step:K"` (the first output
//! of step K of this plan), `"$last"` (the latest result in the conversation) and
//! `"$result:K"` (the K-th result of the conversation, from 0: "the second one from before").
//!
//! How it reads a message: it is normalised (lower case, typos of the vocabulary corrected),
//! checked for what the Assistant does not do (web URLs, account changes, video input) and for
//! questions (answered from core's catalog, prices and plans), then split into clauses at
//! "then", ";", and at commas or "and" that start a new instruction. Each clause picks one tool
//! by its words and what images there are, and its parameters (ratio, resolution, duration,
//! factor, count, mode, colour, prompt) from the same clause.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::catalog::{self, ApiModel, AspectRatio, Context};
use crate::pricing::{self, Duration, Plan as Tier, Surface, VideoResolution};
use crate::tool::{FieldError, Tool};

/// A plan above this many credits waits for the user's confirmation instead of running.
pub const CONFIRM_ABOVE: u32 = 10;
/// The most steps one message may chain.
pub const MAX_STEPS: usize = 6;
/// The longest message read, in characters.
pub const MAX_MESSAGE: usize = 4000;
/// The most images one message may attach.
pub const MAX_IMAGES: u32 = 8;
/// The most earlier turns read.
pub const MAX_HISTORY: usize = 50;

/// `POST /api/assistant/plan`'s body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanRequest {
    pub message: String,
    /// How many images are attached to this message.
    #[serde(default)]
    pub images: u32,
    /// The earlier turns, oldest first, with their plans.
    #[serde(default)]
    pub history: Vec<Turn>,
}

/// An earlier turn of the conversation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub images: u32,
    /// The steps it ran; each made one result of the conversation.
    #[serde(default)]
    pub steps: Vec<Step>,
}

/// One step: exactly a `/v1/run` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub model_name: String,
    pub inputs: Map<String, Value>,
}

/// What kind of reply a plan is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Steps to run.
    Run,
    /// An answer to a question; nothing runs.
    Answer,
    /// The Assistant needs something from the user (`question`).
    Question,
    /// Something the Assistant does not do.
    Refusal,
    /// A look at the attached images: the edge asks the inference node what each one shows
    /// ([`ImageFacts`]) and [`analysis_reply`] says which tools fit.
    Analyze,
}

/// The planner's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub kind: Kind,
    pub reply: String,
    pub steps: Vec<Step>,
    pub question: Option<String>,
    /// What the steps cost on the App's price list.
    pub credits: u32,
    /// Whether the plan waits for a confirmation before it runs ([`CONFIRM_ABOVE`], or a
    /// plan gate that refuses one of its steps).
    pub confirm: bool,
}

impl Plan {
    fn say(kind: Kind, reply: impl Into<String>) -> Plan {
        Plan {
            kind,
            reply: reply.into(),
            steps: vec![],
            question: None,
            credits: 0,
            confirm: false,
        }
    }

    fn ask(q: impl Into<String>) -> Plan {
        let q = q.into();
        Plan {
            question: Some(q.clone()),
            ..Plan::say(Kind::Question, q)
        }
    }
}

/// Where a turn of the conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TurnStatus {
    /// An answer, a question or a refusal: nothing to run.
    Answered,
    /// A plan waiting for the user's confirmation.
    Waiting,
    /// Its steps are running, one after another.
    Running,
    Completed,
    /// A step failed, was canceled or could not start; `error` says which and why.
    Failed,
    /// A waiting plan the user set aside.
    Dismissed,
}

impl TurnStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TurnStatus::Answered => "answered",
            TurnStatus::Waiting => "waiting",
            TurnStatus::Running => "running",
            TurnStatus::Completed => "completed",
            TurnStatus::Failed => "failed",
            TurnStatus::Dismissed => "dismissed",
        }
    }

    /// A new turn's status: a plan runs at once unless it waits for a confirmation.
    pub fn of(plan: &Plan) -> TurnStatus {
        match (plan.kind, plan.confirm) {
            (Kind::Run, false) => TurnStatus::Running,
            (Kind::Run, true) => TurnStatus::Waiting,
            _ => TurnStatus::Answered,
        }
    }
}

/// One step of a turn as the chat shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    pub model_name: String,
    pub inputs: Map<String, Value>,
    /// The Studio tool and params it runs as ([`studio_body`]): the deep link's settings.
    pub tool: Option<Tool>,
    pub params: Map<String, Value>,
    /// "Upscale (2x)".
    pub summary: String,
    /// Its App price.
    pub credits: Option<u32>,
    /// Its Studio generation, once it started.
    pub generation: Option<crate::views::GenerationView>,
}

impl StepView {
    pub fn of(step: &Step, generation: Option<crate::views::GenerationView>) -> StepView {
        let body = studio_body(step).ok();
        StepView {
            model_name: step.model_name.clone(),
            inputs: step.inputs.clone(),
            tool: body.as_ref().map(|b| b.tool),
            params: body.map(|b| b.params).unwrap_or_default(),
            summary: step_summary(step),
            credits: price(step).ok(),
            generation,
        }
    }
}

/// A turn of the conversation (`/api/assistant/messages`): the message, its attached images
/// (asset hashes), the plan's reply, and where its run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnView {
    pub id: String,
    pub created_at: f64,
    pub message: String,
    pub images: Vec<String>,
    pub kind: Kind,
    pub reply: String,
    pub question: Option<String>,
    pub credits: u32,
    pub confirm: bool,
    pub status: TurnStatus,
    pub error: Option<String>,
    pub steps: Vec<StepView>,
}

/// Checks a request's sizes: the field and the reason.
pub fn check_request(r: &PlanRequest) -> Result<(), Vec<FieldError>> {
    let mut e = vec![];
    if r.message.trim().is_empty() && r.images == 0 {
        e.push(FieldError::new(
            "message",
            "required",
            "Write a message (or attach an image).",
        ));
    }
    if r.message.chars().count() > MAX_MESSAGE {
        e.push(FieldError::new(
            "message",
            "too_long",
            format!("A message is at most {MAX_MESSAGE} characters."),
        ));
    }
    if r.images > MAX_IMAGES {
        e.push(FieldError::new(
            "images",
            "out_of_range",
            format!("Attach at most {MAX_IMAGES} images to one message."),
        ));
    }
    if r.history.len() > MAX_HISTORY {
        e.push(FieldError::new(
            "history",
            "too_long",
            format!("Send at most the last {MAX_HISTORY} turns."),
        ));
    }
    if e.is_empty() {
        Ok(())
    } else {
        Err(e)
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the words.

/// Words the typo correction may land on (and never corrects away from).
const VOCAB: &[&str] = &[
    "background",
    "backdrop",
    "remove",
    "removal",
    "upscale",
    "upscaled",
    "model",
    "models",
    "video",
    "reframe",
    "packshot",
    "mannequin",
    "transparent",
    "animate",
    "animation",
    "enhance",
    "resolution",
    "create",
    "generate",
    "swap",
    "change",
    "replace",
    "square",
    "portrait",
    "landscape",
    "vertical",
    "horizontal",
    "seconds",
    "second",
    "dress",
    "shirt",
    "tshirt",
    "jacket",
    "garment",
    "product",
    "photo",
    "image",
    "picture",
    "studio",
    "reference",
    "quality",
    "balanced",
    "credits",
    "credit",
    "difference",
    "aspect",
    "ratio",
    "story",
    "clip",
    "person",
    "woman",
    "female",
    "male",
    "trousers",
    "skirt",
    "sweater",
    "hoodie",
    "blouse",
    "coat",
    "jeans",
    "shoes",
    "sneakers",
    "handbag",
    "outfit",
    "clothes",
    "clothing",
    "wearing",
    "sunglasses",
    "necklace",
    "earrings",
    "smiling",
    "smile",
    "previous",
    "generation",
    "generated",
    "result",
    "results",
    "variations",
    "versions",
    "images",
    "photos",
    "pictures",
    "options",
    "sharpen",
    "sharper",
    "detail",
    "details",
    "enlarge",
    "bigger",
    "larger",
    "crop",
    "extend",
    "expand",
    "widescreen",
    "instagram",
    "tiktok",
    "banner",
    "flatlay",
    "hanger",
    "ghost",
    "catalog",
    "catalogue",
    "motion",
    "camera",
    "seconds",
    "minute",
    "please",
    "upload",
    "uploaded",
    "attached",
    "attach",
    "turn",
    "against",
    "setting",
    "scene",
    "backgrounds",
    "price",
    "prices",
    "pricing",
    "cost",
    "costs",
    "plan",
    "plans",
    "subscription",
    "upgrade",
    "downgrade",
    "cancel",
    "billing",
    "refund",
    "password",
    "account",
    "delete",
    "available",
    "options",
    "features",
    "feature",
    "explain",
    "different",
    "between",
    "another",
    "older",
    "younger",
    "female",
    "athletic",
    "streetwear",
    "white",
    "black",
    "beach",
    "street",
    "cafe",
    "office",
    "forest",
    "garden",
    "beige",
    "yellow",
    "purple",
    "orange",
    "green",
    "brown",
];

/// Ordinary words near a vocabulary word that must stay as they are.
const KEEP: &[&str] = &[
    "remote", "modes", "mode", "video", "their", "there", "these", "those", "where", "whose",
    "shirts", "dresses", "photos", "image", "makes", "maker", "title", "smaller", "should",
    "could", "would", "change", "chance", "charge", "price", "prize", "pride", "cropped", "older",
    "holder", "other", "model", "modal", "medal", "motel", "hotel", "pose", "posed", "poses",
    "posing", "close", "closer", "coats", "boats", "story", "store", "stone", "stones", "clip",
    "clips", "flip", "slip", "extend", "extent", "trend", "shoes", "shows", "showed", "shown",
    "scene", "seen", "skirt", "shirt", "short", "sport", "sports", "plan", "plain", "planes",
    "plane", "plant", "white", "while", "write", "quite", "quiet", "quit", "smile", "simile",
    "still", "style", "styled", "styles", "setting", "settings", "sitting", "hoodie", "moody",
    "hanger", "hunger", "anger", "banner", "manner", "dinner", "winter", "window",
];

fn edit_distance(a: &str, b: &str) -> usize {
    // Optimal string alignment (a transposition counts one).
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[n][m]
}

/// A word as the vocabulary spells it, when it is a likely typo of one.
fn correct(w: &str) -> String {
    let n = w.chars().count();
    if n < 5 || !w.chars().all(|c| c.is_ascii_alphabetic()) || KEEP.contains(&w) {
        return w.to_string();
    }
    if VOCAB.contains(&w) {
        return w.to_string();
    }
    // An inflection of a vocabulary word ("turns", "swapped") is a word, not a typo.
    let inflected = ["s", "es", "ed", "d", "ing", "er", "ly"].iter().any(|suf| {
        w.strip_suffix(suf)
            .is_some_and(|stem| VOCAB.contains(&stem))
    });
    if inflected {
        return w.to_string();
    }
    let limit = if n >= 8 { 2 } else { 1 };
    let mut best: Option<(usize, &str)> = None;
    for v in VOCAB {
        if v.len().abs_diff(n) > limit {
            continue;
        }
        let d = edit_distance(w, v);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, v));
        }
    }
    best.map_or_else(|| w.to_string(), |(_, v)| v.to_string())
}

/// Lower case, the apostrophes and dashes of everyday typing folded, typos corrected; words are
/// separated by single spaces and punctuation (`, ; . ? ! :`) stands as its own token.
fn normalise(s: &str) -> String {
    let s = s
        .to_lowercase()
        .replace(['’', '‘', '`'], "'")
        .replace(['“', '”'], "\"")
        .replace(['–', '—'], " - ")
        .replace("t-shirt", "tshirt")
        .replace("t shirt", "tshirt")
        .replace("tee shirt", "tshirt")
        .replace("try-on", "try on")
        .replace("tryon", "try on")
        .replace("on-model", "on model")
        .replace("flat-lay", "flatlay")
        .replace("flat lay", "flatlay")
        .replace("pack shot", "packshot")
        .replace("pack-shot", "packshot")
        .replace("on-hanger", "on hanger")
        .replace("up-scale", "upscale")
        .replace("up scale", "upscale")
        .replace("re-frame", "reframe")
        .replace("what's", "what is")
        .replace("whats ", "what is ")
        .replace("how's", "how is")
        .replace("it's", "it is")
        .replace("i'd", "i would")
        .replace("can't", "cannot");
    let mut out = String::with_capacity(s.len() + 8);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if !word.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&correct(word));
            word.clear();
        }
    };
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev_digit = i > 0 && chars[i - 1].is_ascii_digit();
        let next_digit = chars.get(i + 1).is_some_and(|c| c.is_ascii_digit());
        if c.is_alphanumeric() || c == '\'' || c == '#' || c == '-' && !word.is_empty() {
            word.push(c);
        } else if (c == ':' || c == '.') && prev_digit && next_digit {
            word.push(c); // 9:16, 2.5
        } else if matches!(c, ',' | ';' | '.' | '?' | '!' | ':') {
            flush(&mut word, &mut out);
            if !out.is_empty() {
                out.push(' ');
            }
            out.push(c);
        } else if c == '/' && (s[..].contains("http") || s.contains("www")) {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A clause's words.
#[derive(Debug, Clone)]
struct Words {
    w: Vec<String>,
}

impl Words {
    fn new(text: &str) -> Words {
        Words {
            w: text
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        }
    }

    fn text(&self) -> String {
        self.w.join(" ")
    }

    fn has(&self, word: &str) -> bool {
        self.w.iter().any(|w| w == word)
    }

    fn any(&self, words: &[&str]) -> bool {
        words.iter().any(|w| self.has(w))
    }

    /// Whether a phrase (words separated by spaces) occurs.
    fn phrase(&self, p: &str) -> bool {
        let p: Vec<&str> = p.split(' ').collect();
        self.w
            .windows(p.len())
            .any(|win| win.iter().zip(&p).all(|(a, b)| a == b))
    }

    fn any_phrase(&self, ps: &[&str]) -> bool {
        ps.iter().any(|p| self.phrase(p))
    }

    /// Whether a word of `a` is followed by a word of `b` within `gap` words.
    fn near(&self, a: &[&str], b: &[&str], gap: usize) -> bool {
        self.w.iter().enumerate().any(|(i, w)| {
            a.contains(&w.as_str())
                && self.w[i + 1..(i + 1 + gap).min(self.w.len())]
                    .iter()
                    .any(|x| b.contains(&x.as_str()))
        })
    }

    fn pos(&self, words: &[&str]) -> Option<usize> {
        self.w.iter().position(|w| words.contains(&w.as_str()))
    }
}

const GARMENTS: &[&str] = &[
    "tshirt",
    "shirt",
    "shirts",
    "dress",
    "dresses",
    "jacket",
    "jackets",
    "coat",
    "coats",
    "hoodie",
    "sweater",
    "sweatshirt",
    "jumper",
    "cardigan",
    "blouse",
    "top",
    "tops",
    "skirt",
    "trousers",
    "pants",
    "jeans",
    "shorts",
    "leggings",
    "suit",
    "blazer",
    "vest",
    "tank",
    "garment",
    "garments",
    "outfit",
    "product",
    "item",
    "piece",
    "clothes",
    "clothing",
    "bag",
    "handbag",
    "shoes",
    "sneakers",
    "boots",
    "scarf",
    "hat",
    "cap",
    "swimsuit",
    "bikini",
    "jumpsuit",
    "romper",
    "gown",
    "polo",
    "tee",
    "apparel",
    "look",
    "set",
    "bodysuit",
    "parka",
    "kimono",
    "robe",
    "bathrobe",
    "lingerie",
    "bra",
    "overalls",
    "denim",
    "knit",
    "knitwear",
];
const PEOPLE: &[&str] = &[
    "model", "models", "woman", "women", "man", "men", "girl", "boy", "guy", "lady", "person",
    "people", "her", "him", "she", "he", "someone", "female", "male", "teen", "teenager", "kid",
    "child",
];
const COLOURS: &[(&str, &str)] = &[
    ("white", "#FFFFFF"),
    ("black", "#000000"),
    ("grey", "#808080"),
    ("gray", "#808080"),
    ("red", "#FF0000"),
    ("blue", "#0000FF"),
    ("green", "#00FF00"),
    ("yellow", "#FFFF00"),
    ("pink", "#FFC0CB"),
    ("beige", "#F5F5DC"),
    ("cream", "#FFFDD0"),
    ("orange", "#FFA500"),
    ("purple", "#800080"),
    ("brown", "#8B4513"),
];
/// Words that carry no scene (what is left of "make the background plain white" is a colour).
const PLAIN_WORDS: &[&str] = &[
    "make",
    "change",
    "set",
    "turn",
    "swap",
    "replace",
    "put",
    "give",
    "use",
    "the",
    "a",
    "an",
    "it",
    "its",
    "this",
    "that",
    "to",
    "into",
    "with",
    "background",
    "backdrop",
    "bg",
    "plain",
    "solid",
    "pure",
    "clean",
    "simple",
    "color",
    "colour",
    "colored",
    "coloured",
    "please",
    "now",
    "just",
    "and",
    "of",
    "image",
    "photo",
    "picture",
    "one",
    "instead",
    "for",
    "me",
    "can",
    "you",
    "could",
    "would",
    "on",
    "in",
    "be",
    "only",
    "a",
    "fully",
    "completely",
    "totally",
    "flat",
    "i",
    "want",
    "need",
    "like",
    "should",
    "is",
    "background's",
    "them",
    ",",
    ".",
    "!",
];
const FILLER: &[&str] = &[
    "please",
    "pls",
    "plz",
    "now",
    "also",
    "then",
    "and",
    "next",
    "finally",
    "lastly",
    "after",
    "that",
    "kindly",
    "ok",
    "okay",
    "so",
    "great",
    "thanks",
    "thank",
    "you",
    "cool",
    "nice",
    "hey",
    "hi",
    "hello",
    "afterwards",
    "first",
    "firstly",
    "second",
    "secondly",
    "third",
    "next,",
    "lastly,",
];
/// Words that begin a new instruction after a comma or "and".
const VERBS: &[&str] = &[
    "put",
    "show",
    "place",
    "try",
    "dress",
    "create",
    "generate",
    "make",
    "turn",
    "change",
    "swap",
    "replace",
    "remove",
    "cut",
    "upscale",
    "enhance",
    "reframe",
    "crop",
    "animate",
    "extend",
    "expand",
    "add",
    "give",
    "edit",
    "convert",
    "render",
    "produce",
    "get",
    "use",
    "do",
    "apply",
    "sharpen",
    "enlarge",
    "erase",
    "delete",
    "isolate",
    "design",
    "build",
    "style",
    "restyle",
    "relight",
    "zoom",
    "film",
    "upres",
    "resize",
    "shoot",
    "photograph",
];

// ---------------------------------------------------------------------------------------------
// What the conversation holds.

/// What a plan's references may point at: `images` attached to this message, `results` of
/// the conversation so far, `uploads` attached to its earlier messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refs {
    pub images: u32,
    pub results: u32,
    pub uploads: u32,
}

type Ctx = Refs;

impl Refs {
    /// The references a request's plan may use.
    pub fn of(req: &PlanRequest) -> Refs {
        Refs {
            images: req.images.min(MAX_IMAGES),
            results: req.history.iter().map(|t| t.steps.len() as u32).sum(),
            uploads: req.history.iter().map(|t| t.images).sum(),
        }
    }
}

/// An earlier turn's step as this turn would write it: `$image:K` of turn T becomes
/// `$upload:N`, `$step:K` and `$last` become `$result:N`.
fn rebase(step: &Step, history: &[Turn], turn: usize) -> Step {
    let uploads: u32 = history[..turn].iter().map(|t| t.images).sum();
    let results: u32 = history[..turn].iter().map(|t| t.steps.len() as u32).sum();
    let mut s = step.clone();
    for v in s.inputs.values_mut() {
        let Some(r) = v.as_str() else { continue };
        let new = if let Some(k) = r
            .strip_prefix("$image:")
            .and_then(|k| k.parse::<u32>().ok())
        {
            format!("$upload:{}", uploads + k)
        } else if let Some(k) = r.strip_prefix("$step:").and_then(|k| k.parse::<u32>().ok()) {
            format!("$result:{}", results + k)
        } else if r == "$last" && results > 0 {
            format!("$result:{}", results - 1)
        } else {
            continue;
        };
        *v = json!(new);
    }
    s
}

fn image_ref(k: u32) -> String {
    format!("$image:{k}")
}
fn step_ref(k: usize) -> String {
    format!("$step:{k}")
}

/// The earlier result a clause points at: "the second one (from before)", "the first image",
/// "the last one". None: no such words.
fn ordinal_result(w: &Words, ctx: Ctx) -> Option<String> {
    const ORD: &[(&str, u32)] = &[
        ("first", 0),
        ("1st", 0),
        ("second", 1),
        ("2nd", 1),
        ("third", 2),
        ("3rd", 2),
        ("fourth", 3),
        ("4th", 3),
        ("fifth", 4),
        ("5th", 4),
    ];
    let earlier = w.any(&[
        "before",
        "earlier",
        "previous",
        "previously",
        "ago",
        "made",
        "generated",
    ]) || w.any_phrase(&["from before", "you made", "we made"]);
    for (word, k) in ORD {
        if w.has(word)
            && (earlier || ctx.images == 0)
            && w.near(
                &[word],
                &[
                    "one",
                    "image",
                    "result",
                    "picture",
                    "photo",
                    "generation",
                    "version",
                    "from",
                ],
                2,
            )
            && *k < ctx.results
        {
            return Some(format!("$result:{k}"));
        }
    }
    None
}

/// Whether a clause points at an earlier result ("it", "that", "the result", "her").
fn points_back(w: &Words) -> bool {
    w.any(&[
        "it", "that", "her", "him", "them", "result", "last", "latest", "previous", "before",
        "same", "again", "one",
    ])
}

// ---------------------------------------------------------------------------------------------
// Refusals and questions.

/// What the Assistant does not do. `raw` is the message in lower case, before normalising.
fn refusal(raw: &str, w: &Words) -> Option<Plan> {
    let web_address = raw.split_whitespace().any(|x| {
        let x = x.trim_matches(|c: char| !c.is_alphanumeric() && c != '/');
        x.contains("://")
            || x.starts_with("www.")
            || [".com", ".net", ".org", ".io", ".shop", ".co", ".store"]
                .iter()
                .any(|d| x.ends_with(d) || x.contains(&format!("{d}/")))
    });
    if web_address
        || w.any_phrase(&[
            "from the web",
            "from the internet",
            "from a website",
            "from this link",
            "this link",
            "from google",
            "from a url",
            "this url",
        ])
    {
        return Some(Plan::say(
            Kind::Refusal,
            "I can't fetch web addresses or download images from the web. Save the image and \
             attach it to your message (upload, paste, drop, or From Gallery), and I'll take it \
             from there.",
        ));
    }
    let account_verb = w.any(&[
        "upgrade",
        "downgrade",
        "cancel",
        "change",
        "switch",
        "buy",
        "purchase",
        "refund",
        "delete",
        "reset",
        "update",
        "renew",
        "add",
        "create",
        "generate",
        "revoke",
        "rotate",
        "give",
        "top",
    ]);
    let account_thing = w.any(&[
        "plan",
        "subscription",
        "billing",
        "invoice",
        "payment",
        "card",
        "password",
        "email",
        "account",
        "refund",
        "key",
        "keys",
        "seat",
        "seats",
        "member",
        "members",
    ]) || w.phrase("api key")
        || w.near(
            &["buy", "purchase", "give", "add", "top"],
            &["credits", "credit"],
            4,
        );
    let account_names =
        w.any(&["pro", "basic", "agency"]) && w.any(&["upgrade", "downgrade", "switch"]);
    if (account_verb && account_thing) || account_names {
        return Some(Plan::say(
            Kind::Refusal,
            "I can't make account changes (billing, plans, credits, API keys, members). Open \
             your profile menu → Billing for plans and credits, or Developer API for keys.",
        ));
    }
    let video_input = w.near(
        &["my", "this", "the", "attached", "uploaded", "that"],
        &["video", "clip", "footage", "mp4", "movie", "reel"],
        1,
    ) && (w.any(&[
        "edit",
        "trim",
        "slow",
        "speed",
        "cut",
        "shorten",
        "lengthen",
        "loop",
        "reverse",
        "stabilize",
        "stabilise",
        "extend",
        "upscale",
        "crop",
        "mute",
        "from",
        "frame",
        "frames",
        "analyze",
        "analyse",
    ]) || w.near(&["in", "from", "of"], &["video", "clip", "footage"], 2));
    let into_video = w.any_phrase(&[
        "into a video",
        "into a clip",
        "make a video",
        "make a clip",
        "create a video",
        "a video of",
        "to video",
        "into video",
    ]);
    if video_input && !into_video {
        return Some(Plan::say(
            Kind::Refusal,
            "I work with images and text only, so I can't take a video as input. Attach a still \
             (a frame exported from the video works) and I can animate it with Image to Video.",
        ));
    }
    None
}

/// "What can I do with this?", "analyze this photo", "which tool fits this image": a look at
/// the attached images, not a request for one tool (no tool named, no goal stated).
fn wants_analysis(w: &Words) -> bool {
    let asks = w.any(&[
        "analyze",
        "analyse",
        "analysis",
        "identify",
        "recognize",
        "recognise",
    ]) || w.any_phrase(&[
        "what is this",
        "what is in this",
        "whats this",
        "whats in this",
        "what can i do with",
        "what could i do with",
        "what should i do with",
        "what do you see",
        "what kind of photo",
        "what kind of image",
        "what type of photo",
        "what type of image",
        "describe this",
        "describe the image",
        "describe the photo",
        "look at this",
        "tell me about this",
        "which tool fits",
        "which tool should i use for this",
        "which tool for this",
        "what tool fits",
        "what tool should i use for this",
        "what tool for this",
        "which tools fit",
        "is this a product",
        "is this a model",
    ]);
    asks && mentioned_tools(w).is_empty()
        && !w.any(&[
            "cost",
            "costs",
            "price",
            "credits",
            "video",
            "upscale",
            "background",
            "wear",
            "wearing",
        ])
        && !w.any_phrase(&["on a model", "on model"])
}

fn is_question(w: &Words) -> bool {
    let first =
        w.w.iter()
            .find(|x| !FILLER.contains(&x.as_str()))
            .map(String::as_str)
            .unwrap_or("");
    let request = w.any_phrase(&[
        "can you",
        "could you",
        "would you",
        "will you",
        "can u",
        "please",
    ]) && w.w.iter().any(|x| VERBS.contains(&x.as_str()))
        && !w.any(&["how", "what", "which", "why", "difference"]);
    if request {
        return false;
    }
    if w.any(&["explain"]) || w.any_phrase(&["tell me about", "tell me how", "tell me what"]) {
        return true;
    }
    matches!(
        first,
        "what"
            | "how"
            | "why"
            | "which"
            | "when"
            | "where"
            | "who"
            | "is"
            | "are"
            | "does"
            | "do"
            | "explain"
            | "tell"
            | "describe"
            | "help"
            | "whats"
    ) || w.has("?")
        || w.any_phrase(&["difference between", "i wonder", "is it possible"])
}

fn tool_words(t: Tool) -> &'static [&'static str] {
    match t {
        Tool::ProductToModel => &["product to model", "product-to-model", "on model"],
        Tool::TryOn => &["try on", "tryon", "virtual try"],
        Tool::Packshot => &["packshot", "ghost mannequin", "flatlay"],
        Tool::ModelSwap => &["model swap", "swap the model", "swap model"],
        Tool::CreateModel => &["create model", "create a model", "model create"],
        Tool::CreateFace => &["create face", "create a face", "face create"],
        Tool::Edit => &["edit"],
        Tool::Reframe => &["reframe"],
        Tool::BackgroundRemove => &[
            "background remove",
            "background removal",
            "remove background",
            "remove the background",
        ],
        Tool::FaceSwap => &["face swap", "swap face", "swap the face"],
        Tool::Upscale => &["upscale", "upscaling", "upscaler"],
        Tool::ImageToVideo => &["image to video", "video", "videos", "animate"],
    }
}

/// What a tool does, in the docs' words.
pub fn describe(t: Tool) -> &'static str {
    match t {
        Tool::ProductToModel => "Product to Model puts a product photo (flat-lay, ghost mannequin or on a hanger) on an AI model; your prompt picks who wears it, the pose and framing, and the scene.",
        Tool::TryOn => "Try-On dresses an existing model photo in a specific garment: the person, pose and background stay, only the clothing changes.",
        Tool::Packshot => "Packshot turns a product or on-model photo into a clean catalog packshot — ghost mannequin on a neutral background by default; a prompt picks flat-lay, on-hanger or another presentation.",
        Tool::ModelSwap => "Model Swap replaces the person in a photo with a new identity you describe (or a Face Reference) and keeps the outfit.",
        Tool::CreateModel => "Create Model builds a new model from a text description (with an optional Image Reference for pose and framing).",
        Tool::CreateFace => "Create Face generates a new face from a description, to use as a Face Reference in the other tools.",
        Tool::Edit => "Edit makes a focused change to an existing image from a plain-language instruction: background, pose, expression, accessories.",
        Tool::Reframe => "Reframe changes an image's aspect ratio and fills the new canvas with matching background.",
        Tool::BackgroundRemove => "Background Remove cuts the subject out onto transparency, or onto a solid colour.",
        Tool::FaceSwap => "Face Swap puts the face of a reference photo onto the person in your image.",
        Tool::Upscale => "Upscale enlarges an image 2× or 4×, or Enhance adds detail at the same size.",
        Tool::ImageToVideo => "Image to Video adds subtle camera and fabric motion to a still: 5 or 10 seconds at 480p, 720p or 1080p.",
    }
}

fn mentioned_tools(w: &Words) -> Vec<Tool> {
    let mut found: Vec<(usize, Tool)> = vec![];
    for t in Tool::ALL {
        for p in tool_words(t) {
            let pw: Vec<&str> = p.split(' ').collect();
            if let Some(i) =
                w.w.windows(pw.len())
                    .position(|win| win.iter().zip(&pw).all(|(a, b)| a == b))
            {
                if !found.iter().any(|(_, f)| *f == t) {
                    found.push((i, t));
                }
            }
        }
    }
    // "model swap" also reads as "create model"; keep the longer name.
    if found.iter().any(|(_, t)| *t == Tool::ModelSwap) {
        found.retain(|(_, t)| *t != Tool::CreateModel);
    }
    if found.iter().any(|(_, t)| *t == Tool::FaceSwap) {
        found.retain(|(_, t)| *t != Tool::CreateFace);
    }
    if found.len() > 1
        && found.iter().any(|(_, t)| *t == Tool::ImageToVideo)
        && !w.any(&["video", "videos", "animate"])
    {
        found.retain(|(_, t)| *t != Tool::ImageToVideo);
    }
    found.sort_by_key(|(i, _)| *i);
    found.into_iter().map(|(_, t)| t).collect()
}

fn credits_word(n: u32) -> String {
    if n == 1 {
        "1 credit".into()
    } else {
        format!("{n} credits")
    }
}

fn answer(w: &Words, ctx: Ctx) -> Plan {
    let a = |s: String| Plan::say(Kind::Answer, s);
    let tools = mentioned_tools(w);
    // Prices: "how much does a 10 s 1080p video cost", "how many credits is an upscale".
    if w.any(&[
        "cost", "costs", "price", "prices", "pricing", "charge", "charged", "spend",
    ]) || w.phrase("how much")
        || w.phrase("how many credits")
    {
        if w.any(&[
            "plan",
            "plans",
            "subscription",
            "monthly",
            "month",
            "annual",
            "yearly",
        ]) {
            return a(plans_answer());
        }
        // Price the step the question describes, as a plan would run it.
        let q = strip_question_words(w);
        let mut probe = Ctx {
            images: 2,
            results: 1,
            uploads: 0,
        };
        probe.images = probe.images.max(ctx.images);
        if let Some((tool, _)) = pick_tool(&q, probe, None) {
            if let Some(step) = build_step(tool, &q, probe, None, &mut 0) {
                if let Ok(priced) = price(&step) {
                    return a(format!(
                        "{} costs {} in the Studio ({}).",
                        step_summary(&step),
                        credits_word(priced),
                        "credits are charged only for delivered outputs"
                    ));
                }
            }
        }
        return a(prices_answer());
    }
    if w.any(&["free"]) && w.any(&["credits", "credit", "start", "trial", "signup", "sign"]) {
        return a(format!(
            "A new account starts with {} free credits; Free keeps them until used. Paid plans add monthly credits ({}).",
            Tier::Free.info().one_time_credits,
            paid_plans_short()
        ));
    }
    if w.any(&[
        "plan",
        "plans",
        "subscription",
        "subscriptions",
        "tier",
        "tiers",
    ]) {
        return a(plans_answer());
    }
    if w.any(&["ratio", "ratios", "aspect"]) || w.phrase("which formats") {
        let all: Vec<String> = AspectRatio::STUDIO.iter().map(|r| r.label()).collect();
        return a(format!(
            "Image tools take these aspect ratios: {}. Reframe changes the ratio of an existing image (e.g. \"reframe to 9:16\").",
            all.join(", ")
        ));
    }
    if w.any(&[
        "resolution",
        "resolutions",
        "4k",
        "2k",
        "1k",
        "1080p",
        "720p",
        "480p",
        "size",
        "sizes",
    ]) {
        return a("Image tools render at 1K, 2K or 4K (Auto picks from your input; higher tiers cost more credits per image). Image to Video renders 480p, 720p or 1080p (1080p needs Pro or higher), 5 or 10 seconds. Upscale enlarges an image 2× or 4×.".into());
    }
    if w.phrase("face reference") || (w.has("face") && w.has("reference")) {
        return a("A Face Reference is a photo of a face (yours, a library face, or one from Create Face) that Product to Model, Create Model, Model Swap and Face Swap keep on the person they generate. \"Match Reference\" keeps the reference's look; \"Match Base\" blends it into the scene's lighting. Using your own faces needs the Agency plan.".into());
    }
    if tools.len() >= 2
        && (w.any(&[
            "difference",
            "differ",
            "different",
            "vs",
            "versus",
            "between",
            "compare",
            "or",
        ]))
    {
        let (x, y) = (tools[0], tools[1]);
        return a(format!(
            "{} {} In short: use {} when {}; use {} when {}.",
            describe(x),
            describe(y),
            x.label(),
            when(x),
            y.label(),
            when(y)
        ));
    }
    if let Some(t) = tools.first() {
        return a(format!(
            "{} Ask me for it in plain words, e.g. \"{}\".",
            describe(*t),
            example(*t)
        ));
    }
    if w.any(&["limit", "limits", "limitations", "cannot", "cant", "unable"])
        || w.phrase("what can you not")
    {
        return a(LIMITS.into());
    }
    if w.any(&[
        "tool",
        "tools",
        "can",
        "do",
        "help",
        "features",
        "abilities",
    ]) {
        let names: Vec<&str> = Tool::ALL.iter().map(|t| t.label()).collect();
        return a(format!(
            "I run any Studio tool from plain language — {} — chain them (\"put this on a model, change the background to a cafe, then upscale\"), iterate on the last result, analyze attached images, and answer questions about tools, credits and plans. {LIMITS}",
            names.join(", ")
        ));
    }
    if w.any(&["credits", "credit"]) {
        return a(prices_answer());
    }
    Plan::ask("I'm not sure what you'd like to know. Ask about a tool, its options, credits or plans — or tell me what to make, e.g. \"show this t-shirt on a male Turkish model\".")
}

const LIMITS: &str = "I can't fetch web addresses (URLs) or images from the web, make account changes (billing, plans, API keys), or take video as input (images and text only).";

fn when(t: Tool) -> &'static str {
    match t {
        Tool::ProductToModel => "you have a product photo and no model yet",
        Tool::TryOn => "you already have the model photo and want to change what they wear",
        Tool::ModelSwap => "the outfit is right and you want a different person",
        Tool::CreateModel => "you need a new model from a description",
        Tool::CreateFace => "you need a new face to reuse as a Face Reference",
        Tool::Edit => "you want one focused change to an image",
        Tool::Reframe => "you need another aspect ratio",
        Tool::BackgroundRemove => "you want the subject cut out",
        Tool::FaceSwap => "you have a face photo to put on the person",
        Tool::Upscale => "you need a bigger or sharper image",
        Tool::Packshot => "you need a clean catalog shot of the product",
        Tool::ImageToVideo => "you want motion from a still",
    }
}

fn example(t: Tool) -> &'static str {
    match t {
        Tool::ProductToModel => "Generate an on-model image of this jacket",
        Tool::TryOn => "Try this shirt on the model from my last generation",
        Tool::ModelSwap => "Swap the model for a young woman with curly red hair",
        Tool::Edit => "Change the background to a minimalist white studio",
        Tool::CreateFace => "Create a new face: woman in her 40s, warm skin, short natural hair",
        Tool::CreateModel => "Create a tall athletic male model in streetwear",
        Tool::BackgroundRemove => "Remove the background",
        Tool::Reframe => "Reframe this to 9:16",
        Tool::FaceSwap => "Swap the face to match this reference",
        Tool::Upscale => "Upscale 2x",
        Tool::ImageToVideo => "Turn this into a 5 second video",
        Tool::Packshot => "Flat-lay packshot on marble with soft window-light shadows",
    }
}

fn paid_plans_short() -> String {
    Tier::ALL
        .iter()
        .filter(|p| p.info().monthly_cents > 0)
        .map(|p| {
            let i = p.info();
            format!(
                "{} {} credits for ${}/month",
                i.name,
                i.monthly_credits,
                i.monthly_cents / 100
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn plans_answer() -> String {
    format!(
        "Plans: Free ({} credits once, one generation at a time); {}. Annual billing costs 10 months. Quality mode, 1080p video and End Image need Pro or higher; your own Face References need Agency.",
        Tier::Free.info().one_time_credits,
        paid_plans_short()
    )
}

fn prices_answer() -> String {
    let v = |d, r| pricing::video_cost(d, r);
    format!(
        "Image tools cost credits per output image, more at higher resolution and in Quality mode; Background Remove and Upscale are the cheapest. Image to Video costs {}/{}/{} credits for 5 s and {}/{}/{} for 10 s (480p/720p/1080p). Ask me about a specific run (\"how much is a 4K on-model image?\") for its exact price.",
        v(Duration::S5, VideoResolution::P480),
        v(Duration::S5, VideoResolution::P720),
        v(Duration::S5, VideoResolution::P1080),
        v(Duration::S10, VideoResolution::P480),
        v(Duration::S10, VideoResolution::P720),
        v(Duration::S10, VideoResolution::P1080),
    )
}

fn strip_question_words(w: &Words) -> Words {
    const Q: &[&str] = &[
        "how", "much", "many", "does", "do", "is", "it", "cost", "costs", "price", "what", "would",
        "will", "credits", "credit", "the", "for", "?", "to", "of", "per", "a", "an",
    ];
    let mut out = Words {
        w: w.w
            .iter()
            .filter(|x| !Q.contains(&x.as_str()))
            .cloned()
            .collect(),
    };
    if out.w.is_empty() {
        out.w.push("nothing".into());
    }
    // A bare tool name reads as running it.
    if !out.any(&["video", "videos", "clip"]) || out.any(&["make", "turn"]) {
        return out;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Clauses.

/// Splits a message into instructions.
fn clauses(t: &str) -> Vec<Words> {
    let w = Words::new(t);
    let mut out: Vec<Vec<String>> = vec![vec![]];
    let mut i = 0;
    let is_verb_at = |j: usize| -> bool {
        let mut k = j;
        while k < w.w.len()
            && (FILLER.contains(&w.w[k].as_str())
                || w.w[k] == ","
                || w.w[k] == "i"
                || w.w[k] == "want"
                || w.w[k] == "to"
                || w.w[k] == "you"
                || w.w[k] == "can"
                || w.w[k] == "could"
                || w.w[k] == "let's"
                || w.w[k] == "lets"
                || w.w[k] == "we"
                || w.w[k] == "will"
                || w.w[k] == "should")
        {
            k += 1;
        }
        k < w.w.len() && VERBS.contains(&w.w[k].as_str())
    };
    while i < w.w.len() {
        let x = w.w[i].as_str();
        let cut = match x {
            ";" => true,
            "then" | "afterwards" | "finally" | "lastly" => true,
            "." | "!" => i + 1 < w.w.len(),
            "," => is_verb_at(i + 1),
            "and" => is_verb_at(i + 1),
            "after" if w.w.get(i + 1).is_some_and(|n| n == "that" || n == "which") => true,
            "followed" if w.w.get(i + 1).is_some_and(|n| n == "by") => true,
            _ => false,
        };
        if cut {
            if !out.last().is_some_and(|c| c.is_empty()) {
                out.push(vec![]);
            }
        } else if let Some(c) = out.last_mut() {
            c.push(x.to_string());
        }
        i += 1;
    }
    out.into_iter()
        .map(|c| {
            let mut c: Vec<String> = c;
            while c.first().is_some_and(|x| {
                FILLER.contains(&x.as_str()) || x == "," || x == "by" || x == "which" || x == "that"
            }) {
                c.remove(0);
            }
            while c
                .last()
                .is_some_and(|x| [",", ".", "!", "and", "then"].contains(&x.as_str()))
            {
                c.pop();
            }
            Words { w: c }
        })
        .filter(|c| !c.w.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tools.

/// What a clause asks for: the tool, and whether the Try-On's model is an earlier step.
fn pick_tool(w: &Words, ctx: Ctx, prev: Option<Tool>) -> Option<(Tool, ())> {
    let has_image = ctx.images > 0 || ctx.results > 0 || prev.is_some();
    let garment = w.any(GARMENTS);
    let person = w.any(PEOPLE);
    let the_model = w.any_phrase(&[
        "the model",
        "this model",
        "my model",
        "same model",
        "that model",
        "on her",
        "on him",
        "the woman",
        "the man",
        "the girl",
        "the guy",
        "the person",
        "this person",
        "this woman",
        "this man",
        "on them",
        "dress her",
        "dress him",
        "the second",
        "the other",
        "on it",
        "my last",
        "last generation",
        "the last",
        "previous model",
        "model from",
        "model i",
        "model we",
        "model you",
        "created model",
        "new model",
    ]) || (w.has("model") && w.any(&["before", "earlier", "previous", "last"]));
    let model_available = ctx.images >= 2
        || (ctx.images >= 1 && ctx.results > 0)
        || matches!(
            prev,
            Some(
                Tool::CreateModel
                    | Tool::ModelSwap
                    | Tool::ProductToModel
                    | Tool::TryOn
                    | Tool::Edit
            )
        );

    // Named tools first: "model swap", "packshot", "upscale", "reframe"…
    if w.any(&["packshot", "packshots", "mannequin", "flatlay"])
        || w.any_phrase(&[
            "on hanger",
            "on a hanger",
            "catalog shot",
            "catalogue shot",
            "product shot",
            "ecommerce shot",
            "e-commerce shot",
            "floating garment",
            "hanger shot",
            "just the shoes",
            "only the jacket",
        ])
    {
        return Some((Tool::Packshot, ()));
    }
    if w.any(&[
        "video",
        "videos",
        "clip",
        "animate",
        "animated",
        "animation",
        "movie",
        "gif",
        "cinemagraph",
        "film",
        "footage",
    ]) || w.any_phrase(&[
        "make it move",
        "bring it to life",
        "bring to life",
        "in motion",
        "moving image",
        "image to video",
    ]) {
        return Some((Tool::ImageToVideo, ()));
    }
    if w.any_phrase(&["try on", "virtual try"])
        || (w.has("try") && garment && (person || the_model))
    {
        // Nothing attached but an earlier result "on her": she is the model, the garment is
        // missing (Try-On asks for it).
        let onto_last = ctx.images == 0 && ctx.results > 0 && the_model;
        return Some((
            if model_available || prev.is_some() || onto_last {
                Tool::TryOn
            } else {
                Tool::ProductToModel
            },
            (),
        ));
    }
    if w.any_phrase(&["face swap", "faceswap"])
        || (w.near(
            &["swap", "replace", "change", "switch", "use", "put"],
            &["face", "faces"],
            4,
        ) && !w.any_phrase(&["new face", "create a face", "create face"]))
    {
        if ctx.images >= 1 && (ctx.images >= 2 || ctx.results > 0 || prev.is_some()) {
            return Some((Tool::FaceSwap, ()));
        }
        if !w.any(&["this", "reference", "these"]) && has_image {
            return Some((Tool::ModelSwap, ()));
        }
        return Some((Tool::FaceSwap, ()));
    }
    if w.any_phrase(&[
        "model swap",
        "swap model",
        "swap the model",
        "change the model",
        "replace the model",
        "different model",
        "another model",
        "switch the model",
        "new identity",
        "different person",
        "another person",
        "swap the person",
        "replace the person",
        "change the person",
        "swap her for",
        "swap him for",
        "replace her with",
        "replace him with",
    ]) || (w.near(&["swap", "replace", "switch", "exchange"], PEOPLE, 2)
        && w.any(&["for", "with", "into", "to"])
        && has_image)
    {
        return Some((Tool::ModelSwap, ()));
    }
    let create = w.any(&[
        "create", "generate", "make", "design", "build", "invent", "give", "need", "want",
    ]);
    if w.any(&["face", "faces", "headshot"])
        && (create || w.has("new"))
        && !garment
        && !w.any(&["on", "onto"])
    {
        return Some((Tool::CreateFace, ()));
    }
    let this_product =
        w.near(&["this", "these", "my", "the", "that"], GARMENTS, 2) && ctx.images > 0;
    let on_a_model = w.any_phrase(&[
        "on a model",
        "on an model",
        "on model",
        "on models",
        "model wearing",
        "model shot",
        "model photo",
        "model image",
        "worn by",
        "on a person",
        "on someone",
        "on a woman",
        "on a man",
        "on a girl",
        "on a guy",
        "on a female",
        "on a male",
        "on a young",
        "on an older",
        "on an elderly",
        "on a plus",
        "on a tall",
        "on a curvy",
        "on a petite",
        "lifestyle shot",
        "lifestyle photo",
        "wearing it",
        "wearing this",
        "on a real",
    ]) || w.near(&["on"], &["a", "an"], 1) && w.near(&["a", "an"], PEOPLE, 6)
        || (w.has("wear") || w.has("wearing") || w.has("worn")) && person;
    let pronoun = w.any(&["him", "her", "his", "she", "he", "them", "their", "it"]);
    // Nothing attached and a person described: a new model ("make me a male model wearing a
    // grey suit"), not a product on one.
    if ctx.images == 0 && prev.is_none() && create && person && !pronoun && !the_model {
        return Some((Tool::CreateModel, ()));
    }
    // "try this dress on her", "try the jacket on him": the garment onto the person there is.
    // With nothing attached, the person is the last result and the garment is missing: Try-On
    // asks for it rather than dressing a model in the last result.
    if w.near(&["try"], &["on"], 5)
        && (pronoun || the_model)
        && (model_available || ctx.images == 0 && ctx.results > 0)
        && !w.any_phrase(&["on a model", "on model"])
    {
        return Some((Tool::TryOn, ()));
    }
    if on_a_model
        || (this_product && person && !the_model)
        || (w.any(&["show", "put", "place", "style"]) && this_product && w.has("on"))
    {
        if the_model && model_available && !w.any_phrase(&["on a model", "on model"]) {
            return Some((Tool::TryOn, ()));
        }
        return Some((Tool::ProductToModel, ()));
    }
    if (w.any(&["dress", "put", "place"])
        && the_model
        && (garment || ctx.images > 0)
        && model_available)
        || (w.any(&["put", "place"]) && garment && the_model && model_available)
    {
        return Some((Tool::TryOn, ()));
    }
    if create
        && person
        && !this_product
        && !(has_image && pronoun)
        && !w.near(&["the", "this", "her", "his"], PEOPLE, 0)
    {
        // "create a model", "make me a plus size female model", "generate a woman in a red dress".
        let edit_like = w.any(&["her", "him", "their"]) && w.any(&["change", "add", "remove"]);
        if !edit_like && !w.any(&["background", "backdrop", "smile", "pose"])
            || w.has("model") && w.any(&["create", "generate", "new"])
        {
            return Some((Tool::CreateModel, ()));
        }
    }
    // Background words: a plain colour → Background Remove on that colour; a scene → Edit.
    let bg = w.any(&["background", "backdrop", "bg", "backgrounds"]);
    let removes = w.near(
        &[
            "remove", "removing", "delete", "erase", "strip", "drop", "lose", "rid", "without",
            "no", "ditch", "clear", "take",
        ],
        &["background", "backdrop", "bg", "backgrounds"],
        4,
    ) || w.any(&[
        "transparent",
        "transparency",
        "cutout",
        "isolate",
        "isolated",
    ]) || w.any_phrase(&[
        "cut out",
        "cut it out",
        "cut this out",
        "cut him out",
        "cut her out",
        "background removal",
        "knock out",
        "remove bg",
    ]);
    if removes && (!w.any(&["add", "replace", "with"]) || w.has("transparent")) {
        return Some((Tool::BackgroundRemove, ()));
    }
    if bg && solid_colour(w).is_some() {
        return Some((Tool::BackgroundRemove, ()));
    }
    if w.any(&[
        "upscale",
        "upscaled",
        "upscaling",
        "upres",
        "enlarge",
        "enhance",
        "sharpen",
        "sharper",
        "sharpness",
        "crisper",
        "crisp",
        "upsample",
        "superres",
        "blurry",
        "pixelated",
        "deblur",
    ]) || w.any_phrase(&[
        "higher resolution",
        "more resolution",
        "increase the resolution",
        "increase resolution",
        "higher res",
        "more detail",
        "add detail",
        "more details",
        "twice as big",
        "twice the size",
        "double the size",
        "double size",
        "double it",
        "double its size",
        "bigger",
        "larger",
        "make it hd",
        "in hd",
        "super resolution",
        "improve the quality",
        "improve quality",
        "better quality",
        "higher quality",
        "high res",
        "hi res",
        "hires",
        "4 times",
        "four times",
        "to 4k",
        "2x",
        "4x",
    ]) && !w.any_phrase(&["more detail on her", "more detail to the"])
    {
        return Some((Tool::Upscale, ()));
    }
    if w.any(&[
        "reframe",
        "crop",
        "outpaint",
        "widen",
        "recompose",
        "resize",
    ]) || aspect_ratio(w).is_some() && !w.any(&["create", "generate"]) && !on_a_model
        || w.any_phrase(&[
            "aspect ratio",
            "extend the canvas",
            "extend the image",
            "expand the image",
            "expand the canvas",
            "zoom out",
        ])
    {
        return Some((Tool::Reframe, ()));
    }
    if has_image
        && (w.any(&[
            "change",
            "make",
            "add",
            "remove",
            "replace",
            "put",
            "give",
            "edit",
            "fix",
            "turn",
            "adjust",
            "tilt",
            "relax",
            "set",
            "move",
            "raise",
            "lower",
            "swap",
            "let",
            "have",
            "place",
            "rotate",
            "open",
            "close",
            "smile",
            "looking",
            "look",
            "holding",
            "hold",
            "wear",
            "wearing",
            "without",
            "brighter",
            "darker",
            "warmer",
            "cooler",
            "relight",
            "style",
            "restyle",
            "switch",
            "background",
            "backdrop",
            "instead",
        ]) || bg)
    {
        return Some((Tool::Edit, ()));
    }
    if create && w.any(&["model", "person"]) {
        return Some((Tool::CreateModel, ()));
    }
    if let Some(t) = mentioned_tools(w).first() {
        return Some((*t, ()));
    }
    None
}

fn solid_colour(w: &Words) -> Option<&'static str> {
    let (name, hex) = COLOURS.iter().find(|(c, _)| w.has(c))?;
    let rest =
        w.w.iter()
            .filter(|x| x.as_str() != *name && !PLAIN_WORDS.contains(&x.as_str()))
            .count();
    (rest == 0).then_some(hex)
}

fn aspect_ratio(w: &Words) -> Option<AspectRatio> {
    for x in &w.w {
        if let Some(r) = AspectRatio::parse(x) {
            return Some(r);
        }
        // "9x16", "16by9" are not read; "9/16" is.
        if let Some(r) = AspectRatio::parse(&x.replace('/', ":")) {
            if x.contains('/') {
                return Some(r);
            }
        }
    }
    if w.any_phrase(&[
        "instagram post",
        "instagram feed",
        "instagram portrait",
        "ig post",
        "feed post",
    ]) {
        return AspectRatio::parse("4:5");
    }
    if w.any(&[
        "story",
        "stories",
        "reel",
        "reels",
        "tiktok",
        "shorts",
        "vertical",
        "wallpaper",
    ]) || w.phrase("phone screen")
    {
        return AspectRatio::parse("9:16");
    }
    if w.any(&[
        "landscape",
        "horizontal",
        "widescreen",
        "banner",
        "youtube",
        "website",
        "hero",
        "desktop",
    ]) {
        return AspectRatio::parse("16:9");
    }
    if w.any(&["cinematic", "ultrawide"]) {
        return AspectRatio::parse("21:9");
    }
    if w.any(&["square", "squared"]) {
        return AspectRatio::parse("1:1");
    }
    if w.near(
        &["portrait"],
        &["format", "orientation", "mode", "ratio", "crop"],
        1,
    ) || w.phrase("in portrait")
        || w.phrase("to portrait")
    {
        return AspectRatio::parse("3:4");
    }
    None
}

fn number_word(x: &str) -> Option<u32> {
    Some(match x {
        "one" | "a" | "single" => 1,
        "two" | "couple" | "pair" | "both" => 2,
        "three" | "few" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "ten" => 10,
        _ => x.parse().ok()?,
    })
}

fn count(w: &Words) -> Option<u32> {
    const UNITS: &[&str] = &[
        "images",
        "image",
        "variations",
        "variation",
        "versions",
        "version",
        "options",
        "outputs",
        "photos",
        "shots",
        "looks",
        "takes",
        "variants",
        "pictures",
        "results",
        "different",
        "alternatives",
        "samples",
        "ones",
        "generations",
        "poses",
        "models",
        "faces",
    ];
    for (i, x) in w.w.iter().enumerate() {
        if let Some(n) = number_word(x) {
            let next = w.w.get(i + 1).map(String::as_str).unwrap_or("");
            // "2 variations", "2 on model images": a unit within three words, no seconds or
            // punctuation between.
            let unit = w.w[i + 1..(i + 4).min(w.w.len())]
                .iter()
                .map(String::as_str)
                .take_while(|x| {
                    ![
                        "seconds", "second", "s", "sec", ",", ".", ";", ":", "and", "then", "x",
                    ]
                    .contains(x)
                })
                .any(|x| UNITS.contains(&x));
            if unit && !(n == 1 && x == "a")
                || next == "times"
                    && n > 1
                    && n <= 10
                    && !w.any(&["bigger", "larger", "upscale", "zoom"])
            {
                return Some(n.clamp(1, 4));
            }
        }
    }
    None
}

fn mode(w: &Words) -> Option<&'static str> {
    if w.any_phrase(&[
        "quality mode",
        "best quality",
        "highest quality",
        "max quality",
        "maximum quality",
        "top quality",
        "in quality",
        "premium quality",
    ]) {
        return Some("quality");
    }
    if w.any_phrase(&[
        "fast mode",
        "quick",
        "quickly",
        "fast",
        "draft",
        "rough",
        "asap",
        "fastest",
    ]) && !w.phrase("fast motion")
    {
        return Some("fast");
    }
    if w.phrase("balanced mode") || w.has("balanced") {
        return Some("balanced");
    }
    None
}

fn image_resolution(w: &Words) -> Option<&'static str> {
    if w.any(&["4k", "uhd"]) {
        Some("4k")
    } else if w.has("2k") {
        Some("2k")
    } else if w.has("1k") {
        Some("1k")
    } else {
        None
    }
}

fn video_resolution(w: &Words) -> Option<&'static str> {
    if w.any(&["1080p", "1080", "fhd", "fullhd"]) || w.phrase("full hd") {
        Some("1080p")
    } else if w.any(&["720p", "720", "hd"]) {
        Some("720p")
    } else if w.any(&["480p", "480", "sd"]) || w.phrase("low res") {
        Some("480p")
    } else {
        None
    }
}

fn duration(w: &Words) -> Option<u64> {
    for (i, x) in w.w.iter().enumerate() {
        let n = x
            .strip_suffix("sec")
            .or_else(|| x.strip_suffix("secs"))
            .or_else(|| x.strip_suffix('s'))
            .and_then(|d| d.parse::<u32>().ok())
            .or_else(|| {
                let next = w.w.get(i + 1).map(String::as_str).unwrap_or("");
                if ["s", "sec", "secs", "second", "seconds", "-second"].contains(&next)
                    || next.starts_with("second")
                {
                    number_word(x)
                } else {
                    None
                }
            });
        if let Some(n) = n {
            return Some(if n >= 8 { 10 } else { 5 });
        }
    }
    if w.any(&["long", "longer"]) {
        return Some(10);
    }
    None
}

fn factor(w: &Words) -> &'static str {
    if w.any(&["4x", "4k", "quadruple", "x4"])
        || w.any_phrase(&[
            "4 times",
            "four times",
            "4 x",
            "max size",
            "maximum size",
            "as big as possible",
        ])
    {
        "4x"
    } else if w.any(&[
        "enhance",
        "enhanced",
        "sharpen",
        "sharper",
        "sharpness",
        "detail",
        "details",
        "crisp",
        "crisper",
        "restore",
        "blurry",
        "deblur",
        "pixelated",
        "quality",
    ]) && !w.any(&["2x", "bigger", "larger", "enlarge", "double", "twice"])
    {
        "enhance"
    } else {
        "2x"
    }
}

/// The prompt words of a clause: the clause without the instruction and reference words.
fn strip(w: &Words, drop: &[&str]) -> Option<String> {
    const META: &[&str] = &[
        "please", "can", "could", "would", "you", "i", "want", "need", "like", "to", "me", "us",
        "this", "these", "that", "it", "its", "the", "a", "an", "my", "our", "image", "photo",
        "picture", "pic", "shot", "now", "just", "also", "then", "and", "so", "of", "for", ",",
        ".", "!", "?", ":", ";", "some", "kindly", "let's", "lets", "generate", "create", "make",
        "show", "put", "get", "give", "do", "produce", "render", "uploaded", "attached", "one",
    ];
    const ANYWHERE: &[&str] = &["please", "pls", "plz", "kindly"];
    let mut kept: Vec<&str> =
        w.w.iter()
            .map(String::as_str)
            .filter(|x| !drop.contains(x) && !ANYWHERE.contains(x))
            .collect();
    // Instruction words go from the edges; inside, "in the city" keeps its article.
    while kept.first().is_some_and(|x| META.contains(x)) {
        kept.remove(0);
    }
    while kept.last().is_some_and(|x| META.contains(x)) {
        kept.pop();
    }
    if kept.is_empty() {
        None
    } else {
        Some(kept.join(" "))
    }
}

/// The clause as a person's instruction (Edit's prompt): fillers off the front, capitalised.
fn instruction(w: &Words) -> String {
    let mut words: Vec<&str> = w.w.iter().map(String::as_str).collect();
    const LEAD: &[&str] = &[
        "please", "now", "also", "can", "could", "would", "you", "just", "ok", "okay", "so", "and",
        "then", "i", "want", "to", "need", "you,", "let's", "lets",
    ];
    while words.first().is_some_and(|x| LEAD.contains(x)) {
        words.remove(0);
    }
    while words
        .last()
        .is_some_and(|x| ["?", ".", "!", "please", ","].contains(x))
    {
        words.pop();
    }
    let mut s = words.join(" ").replace(" ,", ",").replace(" .", ".");
    if let Some(f) = s.get(0..1) {
        s = f.to_uppercase() + &s[1..];
    }
    s
}

/// The words after the first of `marks` ("… on a male Turkish model" → "male Turkish model").
fn after(w: &Words, marks: &[&str]) -> Option<Words> {
    let i = w.pos(marks)?;
    let rest = Words {
        w: w.w[i + 1..].to_vec(),
    };
    (!rest.w.is_empty()).then_some(rest)
}

fn prompt_for(tool: Tool, w: &Words) -> Option<String> {
    const TECH: &[&str] = &[
        "in",
        "at",
        "with",
        "4k",
        "2k",
        "1k",
        "resolution",
        "quality",
        "mode",
        "fast",
        "balanced",
        "images",
        "image",
        "variations",
        "versions",
        "options",
        "two",
        "three",
        "four",
        "2",
        "3",
        "4",
        "times",
        "aspect",
        "ratio",
        "1:1",
        "9:16",
        "16:9",
        "4:5",
        "3:4",
        "4:3",
        "2:3",
        "3:2",
        "21:9",
        "5:4",
        "square",
        "vertical",
        "landscape",
        "portrait",
        "format",
        "high",
        "best",
        "highest",
        "quick",
        "quickly",
        "different",
        "photos",
        "shots",
        "looks",
    ];
    let cleaned = |s: Option<String>| -> Option<String> {
        let s = s?;
        let ws = Words::new(&s);
        let kept: Vec<&str> = ws.w.iter().map(String::as_str).collect();
        // Trailing technical words ("… in 4k", "… 2 variations") leave the prompt.
        let mut end = kept.len();
        while end > 0 && TECH.contains(&kept[end - 1]) {
            end -= 1;
        }
        let mut start = 0;
        while start < end && TECH.contains(&kept[start]) {
            start += 1;
        }
        let out = kept[start..end].join(" ").replace(" ,", ",");
        let out = out.trim_matches(|c: char| c == ',' || c == ' ').to_string();
        let meaningful = Words::new(&out).w.iter().any(|x| {
            ![
                "model", "models", "a", "an", "on", "person", "someone", "the", "in", "setting",
                "photo",
            ]
            .contains(&x.as_str())
        });
        (meaningful && !out.is_empty()).then_some(out)
    };
    match tool {
        Tool::ProductToModel => {
            // "show this t-shirt on a male Turkish model" → "male Turkish model"
            let on = w.w.iter().position(|x| x == "on").and_then(|i| {
                let rest: Vec<String> = w.w[i + 1..].to_vec();
                (!rest.is_empty()).then_some(Words { w: rest })
            });
            let base = on.unwrap_or_else(|| w.clone());
            let mut drop: Vec<&str> = GARMENTS.to_vec();
            drop.extend([
                "on", "model", "onto", "wearing", "worn", "by", "image", "photo", "shot",
                "generate", "an", "a",
            ]);
            let text = strip(&base, &[]).map(|s| {
                let ws = Words::new(&s);
                // The product's own words go; the model's description stays.
                ws.w.iter()
                    .filter(|x| !GARMENTS.contains(&x.as_str()))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ")
            });
            cleaned(text)
        }
        Tool::CreateModel | Tool::CreateFace => {
            let base = after(w, &[":"]).unwrap_or_else(|| w.clone());
            let drop: &[&str] = if tool == Tool::CreateFace {
                &["new", "face"]
            } else {
                &["new"]
            };
            cleaned(strip(&base, drop))
        }
        Tool::ModelSwap => {
            let base = after(w, &["for", "with", "into", "to", "as"]).unwrap_or_else(|| w.clone());
            cleaned(strip(
                &base,
                &["swap", "replace", "change", "switch", "model", "person"],
            ))
        }
        Tool::Edit => Some(instruction(w)),
        Tool::Packshot => {
            let s = strip(
                w,
                &[
                    "packshot",
                    "packshots",
                    "turn",
                    "into",
                    "convert",
                    "clean",
                    "catalog",
                    "catalogue",
                ],
            )?;
            let only_default = Words::new(&s).w.iter().all(|x| {
                GARMENTS.contains(&x.as_str())
                    || [
                        "ghost",
                        "mannequin",
                        "neutral",
                        "background",
                        "on",
                        "default",
                        "standard",
                        "in",
                        "as",
                        "from",
                        "invisible",
                    ]
                    .contains(&x.as_str())
            });
            if only_default {
                None
            } else {
                cleaned(Some(s)).map(|s| {
                    Words::new(&s)
                        .w
                        .iter()
                        .filter(|x| {
                            !GARMENTS.contains(&x.as_str())
                                || ["shoes", "jacket", "bag", "dress"].contains(&x.as_str())
                                    && w.any(&["just", "only"])
                        })
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
            }
        }
        Tool::ImageToVideo => {
            let base = after(w, &[",", ":", "where", "showing", "while", "as", "which"]).or_else(
                || {
                    w.near(&["video", "clip"], &["of", "with"], 1)
                        .then(|| after(w, &["of", "with"]))
                        .flatten()
                },
            )?;
            let s = strip(
                &base,
                &[
                    "video", "clip", "second", "seconds", "s", "sec", "long", "short", "5", "10",
                    "five", "ten", "480p", "720p", "1080p", "hd", "turn", "into", "animate",
                ],
            )?;
            cleaned(Some(s))
        }
        Tool::TryOn => {
            let styled = w.any(&[
                "open",
                "tucked",
                "rolled",
                "buttoned",
                "unbuttoned",
                "untucked",
                "cropped",
                "loose",
                "zipped",
                "unzipped",
                "belted",
                "sleeves",
                "collar",
                "layered",
                "remove",
            ]);
            styled
                .then(|| after(w, &[",", "with", "worn", "and"]).map(|a| instruction(&a)))
                .flatten()
        }
        _ => None,
    }
}

/// A step's inputs for a clause, its image references resolved against the conversation;
/// `used` counts the attached images taken so far. None: an image it needs is missing.
fn build_step(
    tool: Tool,
    w: &Words,
    ctx: Ctx,
    prev: Option<usize>,
    used: &mut u32,
) -> Option<Step> {
    let model = ApiModel::for_tool(tool);
    let mut i = Map::new();
    let next_attached = |used: &mut u32| -> Option<String> {
        (*used < ctx.images).then(|| {
            *used += 1;
            image_ref(*used - 1)
        })
    };
    let earlier = ordinal_result(w, ctx);
    // The main image: an earlier step's output, an attached image, an earlier result.
    let main = |used: &mut u32| -> Option<String> {
        if let Some(e) = &earlier {
            return Some(e.clone());
        }
        if let Some(p) = prev {
            // "…then try on this dress": the step's own attached image is a reference below.
            return Some(step_ref(p));
        }
        if ctx.images > *used && !(ctx.results > 0 && *used > 0) {
            return next_attached(used);
        }
        (ctx.results > 0).then(|| "$last".to_string())
    };
    match tool {
        Tool::CreateModel | Tool::CreateFace => {
            if tool == Tool::CreateModel
                && ctx.images > *used
                && prev.is_none()
                && w.any(&[
                    "pose",
                    "like",
                    "reference",
                    "framing",
                    "composition",
                    "this",
                ])
            {
                i.insert("image_reference".into(), json!(next_attached(used)?));
            }
        }
        Tool::TryOn => {
            // The garment: an attached image; the model: an earlier step, a second attached
            // image, or an earlier result.
            let (garment, person);
            if let Some(p) = prev {
                person = step_ref(p);
                garment = next_attached(used)?;
            } else if ctx.images - (*used).min(ctx.images) >= 2 {
                let a = next_attached(used)?;
                let b = next_attached(used)?;
                // "try this model in this shirt": the model comes first.
                let model_first = match (
                    w.pos(&["model", "woman", "man", "person", "girl", "guy"]),
                    w.pos(GARMENTS),
                ) {
                    (Some(m), Some(g)) => {
                        m < g && !w.phrase("on the model") && !w.phrase("on this model")
                    }
                    _ => false,
                };
                if model_first {
                    (person, garment) = (a, b);
                } else {
                    (garment, person) = (a, b);
                }
            } else {
                garment = next_attached(used)?;
                person = earlier
                    .clone()
                    .or_else(|| (ctx.results > 0).then(|| "$last".to_string()))?;
            }
            i.insert("model_image".into(), json!(person));
            i.insert("product_image".into(), json!(garment));
        }
        Tool::FaceSwap => {
            let image = match (&earlier, prev) {
                (Some(e), _) => e.clone(),
                (None, Some(p)) => step_ref(p),
                (None, None) if ctx.images >= 2 + *used => next_attached(used)?,
                (None, None) if ctx.results > 0 => "$last".into(),
                _ => next_attached(used)?,
            };
            let face = next_attached(used)?;
            i.insert("image".into(), json!(image));
            i.insert("face_reference".into(), json!(face));
        }
        Tool::ModelSwap => {
            let image = main(used)?;
            i.insert("model_image".into(), json!(image));
            if ctx.images > *used && w.any(&["face", "reference", "this"]) {
                i.insert("face_reference".into(), json!(next_attached(used)?));
            }
        }
        Tool::ProductToModel => {
            // The product is attached (never an earlier result's person).
            let product = if prev.is_some() && ctx.images <= *used {
                step_ref(prev?)
            } else if ctx.images > *used {
                next_attached(used)?
            } else if let Some(e) = &earlier {
                e.clone()
            } else if ctx.results > 0 && points_back(w) {
                "$last".into()
            } else {
                return None;
            };
            i.insert("product_image".into(), json!(product));
        }
        Tool::Packshot => {
            i.insert("product_image".into(), json!(main(used)?));
        }
        Tool::Edit => {
            i.insert("image".into(), json!(main(used)?));
            if ctx.images > *used && w.any(&["this", "these", "like", "reference"]) {
                i.insert("image_context".into(), json!(next_attached(used)?));
            }
        }
        _ => {
            i.insert("image".into(), json!(main(used)?));
        }
    }
    // Parameters.
    let fields = catalog::field_list(model);
    let takes = |k: &str| fields.contains(&k);
    if let Some(p) = prompt_for(tool, w) {
        if takes("prompt") {
            i.insert("prompt".into(), json!(p));
        }
    }
    if matches!(tool, Tool::CreateModel | Tool::CreateFace | Tool::Edit)
        && !i.contains_key("prompt")
    {
        let p = instruction(w);
        i.insert("prompt".into(), json!(p));
    }
    match tool {
        Tool::Upscale => {
            i.insert("factor".into(), json!(factor(w)));
        }
        Tool::ImageToVideo => {
            if let Some(d) = duration(w) {
                i.insert("duration".into(), json!(d));
            }
            if let Some(r) = video_resolution(w) {
                i.insert("resolution".into(), json!(r));
            }
        }
        Tool::BackgroundRemove => {
            if let Some(hex) = solid_colour(w).or_else(|| {
                (w.any(&["background", "backdrop", "bg"]) && !w.has("transparent"))
                    .then(|| {
                        COLOURS
                            .iter()
                            .find(|(c, _)| {
                                w.near(&[c], &["background", "backdrop", "bg"], 1)
                                    || w.near(&["background", "backdrop", "bg"], &[c], 3)
                            })
                            .map(|(_, h)| *h)
                    })
                    .flatten()
            }) {
                i.insert("background".into(), json!("solid"));
                i.insert("color".into(), json!(hex));
            }
        }
        _ => {
            if let Some(r) = image_resolution(w) {
                if takes("resolution") && catalog::spec(tool).resolutions {
                    i.insert("resolution".into(), json!(r));
                }
            }
        }
    }
    // Options the App's tool offers (the Assistant runs Studio generations).
    let sp = catalog::spec(tool);
    if takes("aspect_ratio") && (!sp.aspect_ratios.is_empty() || tool == Tool::Reframe) {
        if let Some(r) = aspect_ratio(w) {
            i.insert("aspect_ratio".into(), json!(r.label()));
        }
    }
    if let Some(n) = count(w) {
        if takes("num_images") && sp.max_outputs > 1 {
            i.insert("num_images".into(), json!(n.min(u32::from(sp.max_outputs))));
        }
    }
    if let Some(m) = mode(w) {
        let offered = sp.modes.iter().any(|x| {
            serde_json::to_value(x)
                .ok()
                .as_ref()
                .and_then(Value::as_str)
                == Some(m)
        });
        if takes("generation_mode") && offered {
            i.insert("generation_mode".into(), json!(m));
        }
    }
    Some(Step {
        model_name: model.name(),
        inputs: i,
    })
}

// ---------------------------------------------------------------------------------------------
// Checking and pricing steps.

/// A stand-in image for validating a step before its references exist (1×1 PNG).
const PLACEHOLDER: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn is_ref(s: &str) -> bool {
    s == "$last"
        || ["$image:", "$step:", "$result:", "$upload:"]
            .iter()
            .any(|p| {
                s.strip_prefix(p)
                    .is_some_and(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_digit()))
            })
}

/// A step's inputs with each reference replaced by a stand-in image, as `/v1/run` checks them.
fn with_placeholders(step: &Step) -> Map<String, Value> {
    step.inputs
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) if is_ref(s) => (k.clone(), json!(PLACEHOLDER)),
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

/// A step's App price in credits, or the problems `/v1/run` would report.
pub fn price(step: &Step) -> Result<u32, Vec<FieldError>> {
    let ctx = Context {
        surface: Surface::App,
        plan: None,
    };
    let (_, resolved) = catalog::resolve_api(&step.model_name, &with_placeholders(step), ctx)?;
    Ok(catalog::quote(Surface::App, &resolved).credits)
}

/// Checks a plan's steps (from the planner or a language model): each a valid `/v1/run` body,
/// each reference one the conversation has (`images` attached, `results` earlier results, a
/// `$step:K` only to an earlier step). Returns the total App price.
pub fn check_steps(steps: &[Step], refs: Refs) -> Result<u32, Vec<FieldError>> {
    let Refs {
        images,
        results,
        uploads,
    } = refs;
    let mut e = vec![];
    let mut total = 0;
    if steps.len() > MAX_STEPS {
        e.push(FieldError::new(
            "steps",
            "too_long",
            format!("A plan has at most {MAX_STEPS} steps."),
        ));
    }
    for (n, s) in steps.iter().enumerate() {
        for (k, v) in &s.inputs {
            let Some(r) = v.as_str().filter(|r| r.starts_with('$')) else {
                continue;
            };
            let path = format!("steps[{n}].inputs.{k}");
            let bad = |why: String| FieldError::new(&path, "invalid_reference", why);
            if !is_ref(r) {
                e.push(bad(format!(
                    "{r} is not a reference; use $image:K, $step:K, $result:K, $upload:K or $last."
                )));
            } else if let Some(k) = r.strip_prefix("$image:") {
                if k.parse::<u32>().map_or(true, |k| k >= images) {
                    e.push(bad(format!(
                        "{r}: this message has {images} attached image(s)."
                    )));
                }
            } else if let Some(k) = r.strip_prefix("$step:") {
                if k.parse::<usize>().map_or(true, |k| k >= n) {
                    e.push(bad(format!(
                        "{r}: a step can only use an earlier step's output."
                    )));
                }
            } else if let Some(k) = r.strip_prefix("$result:") {
                if k.parse::<u32>().map_or(true, |k| k >= results) {
                    e.push(bad(format!(
                        "{r}: the conversation has {results} result(s)."
                    )));
                }
            } else if let Some(k) = r.strip_prefix("$upload:") {
                if k.parse::<u32>().map_or(true, |k| k >= uploads) {
                    e.push(bad(format!(
                        "{r}: the conversation's earlier messages attached {uploads} image(s)."
                    )));
                }
            } else if r == "$last" && results == 0 {
                e.push(bad("$last: the conversation has no result yet.".into()));
            }
        }
        match price(s) {
            Ok(c) => total += c,
            Err(errs) => e.extend(errs.into_iter().map(|f| FieldError {
                path: format!("steps[{n}].{}", f.path),
                ..f
            })),
        }
    }
    if e.is_empty() {
        Ok(total)
    } else {
        Err(e)
    }
}

/// A step as the Studio runs it ([`studio_body`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StudioStep {
    pub tool: Tool,
    /// Image inputs by Studio field (`image`, or a [`Tool::studio_refs`] field).
    pub inputs: Map<String, Value>,
    /// Options under the Studio body's param names.
    pub params: Map<String, Value>,
}

/// A step as a Studio generation's body: its tool, its image inputs by Studio field (`image`
/// for the tool's main slot, else the [`Tool::studio_refs`] field of the same slot) still as
/// references, and its options under the Studio's param names (`face_reference_mode` →
/// `face_match`, a video's `resolution` → `video_resolution`, `num_samples` → `num_images`).
/// What the Studio has no place for is an error naming the step's field.
pub fn studio_body(step: &Step) -> Result<StudioStep, Vec<FieldError>> {
    let model = ApiModel::parse(&step.model_name).ok_or_else(|| {
        vec![FieldError::new(
            "model_name",
            "unknown_model",
            format!(
                "{} is not a model; use one of {}.",
                step.model_name,
                ApiModel::ALL.map(|m| m.name()).join(", ")
            ),
        )]
    })?;
    let tool = model.tool();
    let fields = catalog::api_image_fields(model);
    let (mut inputs, mut params, mut e) = (Map::new(), Map::new(), vec![]);
    for (k, v) in &step.inputs {
        if v.is_null() {
            continue;
        }
        if let Some((_, slot)) = fields.iter().find(|(f, _)| f == k) {
            let main = tool.main_slot() == Some(*slot) && !inputs.contains_key("image");
            let field = if main {
                Some("image")
            } else {
                tool.studio_refs()
                    .iter()
                    .find(|(f, s)| s == slot && !inputs.contains_key(*f))
                    .map(|(f, _)| *f)
            };
            match field {
                Some(f) => {
                    inputs.insert(f.to_string(), v.clone());
                }
                None => e.push(FieldError::new(
                    &format!("inputs.{k}"),
                    "not_in_studio",
                    format!("The Studio's {} has no place for {k}.", tool.label()),
                )),
            }
            continue;
        }
        let name = match (k.as_str(), tool) {
            ("face_reference_mode", _) => "face_match",
            ("resolution", Tool::ImageToVideo) => "video_resolution",
            ("num_samples", _) => "num_images",
            (
                "output_format" | "return_base64" | "seed" | "width" | "height" | "mode"
                | "moderation_level" | "garment_photo_type" | "segmentation_free",
                _,
            ) => continue,
            (k, _) => k,
        };
        params.insert(name.to_string(), v.clone());
    }
    if e.is_empty() {
        Ok(StudioStep {
            tool,
            inputs,
            params,
        })
    } else {
        Err(e)
    }
}

/// How much of a person is in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Head to feet.
    FullBody,
    /// Head to knees.
    ThreeQuarter,
    /// Head to waist or chest.
    UpperBody,
    /// A face or head and shoulders filling the frame.
    CloseUp,
}

impl Framing {
    fn words(self) -> &'static str {
        match self {
            Framing::FullBody => "full body in frame",
            Framing::ThreeQuarter => "framed to the knees",
            Framing::UpperBody => "upper body in frame",
            Framing::CloseUp => "a close-up",
        }
    }
}

/// What the inference node sees in an image (`POST /v1/analyze`): its size, faces, whether a
/// person is there and how they are framed, and whether the background is plain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageFacts {
    pub width: u32,
    pub height: u32,
    /// Faces the face detector found.
    pub faces: u32,
    /// Whether the pose model sees a person (with a body, not only a face).
    pub person: bool,
    pub framing: Option<Framing>,
    /// A plain (studio, single-colour) background rather than a busy scene.
    pub plain_background: bool,
    /// The share of the image the subject covers (the segmentation matte), 0..1.
    pub subject_share: f32,
}

/// What an analysed image is, for the tools that fit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A person wearing clothes: a model photo.
    Model,
    /// A face filling the frame: a Face Reference.
    Face,
    /// No person: a product photo (flat-lay, ghost mannequin, on a hanger).
    Product,
}

impl ImageFacts {
    pub fn subject(&self) -> Subject {
        match (self.person, self.framing, self.faces) {
            (true, Some(Framing::CloseUp), _) => Subject::Face,
            (true, _, _) => Subject::Model,
            (false, _, f) if f > 0 && self.subject_share < 0.6 => Subject::Face,
            _ => Subject::Product,
        }
    }

    /// The tools that fit, best first, each with why.
    pub fn fitting_tools(&self) -> Vec<(Tool, &'static str)> {
        let mut t = match self.subject() {
            Subject::Model => vec![
                (Tool::TryOn, "dress this model in another garment"),
                (Tool::ModelSwap, "keep the outfit, change the person"),
                (Tool::Edit, "change the background, pose or details"),
                (Tool::ImageToVideo, "make a short clip of it"),
            ],
            Subject::Face => vec![
                (
                    Tool::CreateModel,
                    "use this face as the Face Reference of a new model",
                ),
                (Tool::FaceSwap, "put this face on another photo"),
                (
                    Tool::ProductToModel,
                    "show your product on a model with this face",
                ),
            ],
            Subject::Product => vec![
                (Tool::ProductToModel, "put it on an AI model"),
                (Tool::Packshot, "make a clean catalog packshot"),
                (
                    Tool::BackgroundRemove,
                    "cut it out onto transparency or a colour",
                ),
            ],
        };
        if self.subject() == Subject::Model && !self.plain_background {
            t.insert(
                2,
                (
                    Tool::BackgroundRemove,
                    "cut the model out of the busy background",
                ),
            );
        }
        if self.width.max(self.height) < 1024 {
            t.push((
                Tool::Upscale,
                "enlarge it first (it is small) for sharper results",
            ));
        }
        t
    }
}

/// The nearest common ratio to `w`:`h` ("2:3"), when one is within 2 %.
fn ratio_name(w: u32, h: u32) -> Option<String> {
    let r = w as f64 / h.max(1) as f64;
    AspectRatio::STUDIO
        .iter()
        .map(|a| (a, (a.value() / r - 1.0).abs()))
        .filter(|(_, d)| *d <= 0.02)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(a, _)| a.label())
}

/// The Assistant's answer about the attached images, from what the node saw in each: what it
/// is, its framing and background, its size, and the tools that fit (each a Studio tool).
pub fn analysis_reply(facts: &[ImageFacts]) -> String {
    let mut out = vec![];
    for (k, f) in facts.iter().enumerate() {
        let who = if facts.len() == 1 {
            "This".to_string()
        } else {
            format!("Image {}", k + 1)
        };
        let what = match f.subject() {
            Subject::Model => format!(
                "{who} is a model photo: a person, {}{}",
                f.framing.map_or("in frame", Framing::words),
                match f.faces {
                    0 => ", face not visible".to_string(),
                    1 => ", face visible".to_string(),
                    n => format!(", {n} faces"),
                }
            ),
            Subject::Face => format!("{who} is a face close-up, good as a Face Reference"),
            Subject::Product => format!("{who} is a product photo with no person in it"),
        };
        let bg = if f.plain_background { "plain" } else { "busy" };
        let size = match ratio_name(f.width, f.height) {
            Some(r) => format!("{}×{} ({r})", f.width, f.height),
            None => format!("{}×{}", f.width, f.height),
        };
        let tools: Vec<String> = f
            .fitting_tools()
            .iter()
            .map(|(t, why)| format!("{} to {why}", t.label()))
            .collect();
        out.push(format!(
            "{what}, on a {bg} background, {size}. Fits: {}.",
            tools.join("; ")
        ));
    }
    out.join("\n")
}

/// "Product to Model (prompt “male Turkish model”, 9:16)".
pub fn step_summary(s: &Step) -> String {
    let label: String = ApiModel::parse(&s.model_name)
        .map_or_else(|| s.model_name.clone(), |m| m.tool().label().to_string());
    let mut parts = vec![];
    let i = &s.inputs;
    let st = |k: &str| i.get(k).and_then(Value::as_str);
    if let Some(p) = st("prompt") {
        parts.push(format!("“{p}”"));
    }
    if let Some(f) = st("factor") {
        parts.push(if f == "enhance" {
            "Enhance".into()
        } else {
            f.to_string()
        });
    }
    if let Some(d) = i.get("duration").and_then(Value::as_u64) {
        parts.push(format!("{d} s"));
    }
    if let Some(r) = st("resolution") {
        parts.push(r.to_uppercase().replace('P', "p"));
    }
    if let Some(r) = st("aspect_ratio") {
        parts.push(r.to_string());
    }
    if let Some(c) = st("color") {
        parts.push(format!("on {c}"));
    }
    if let Some(m) = st("generation_mode") {
        parts.push(format!("{m} mode"));
    }
    if let Some(n) = i.get("num_images").and_then(Value::as_u64) {
        parts.push(format!("{n} images"));
    }
    if parts.is_empty() {
        label.to_string()
    } else {
        format!("{label} ({})", parts.join(", "))
    }
}

// ---------------------------------------------------------------------------------------------
// The planner.

/// What a tool needs that the conversation lacks, as a question.
fn missing(tool: Tool, ctx: Ctx) -> String {
    match tool {
        Tool::TryOn if ctx.images == 0 => "Which garment should I try on? Attach its photo (upload, paste, drop, or From Gallery).".into(),
        Tool::TryOn => "Who should wear it? Attach the model photo too, or make a model first (\"create a model, then try this on\").".into(),
        Tool::FaceSwap => "Whose face should I use? Attach the face reference photo (and the image to change, if it isn't your last result).".into(),
        Tool::ProductToModel | Tool::Packshot => format!("Which product should I use for {}? Attach its photo (upload, paste, drop, or From Gallery).", tool.label()),
        _ => format!("Which image should I use for {}? Attach it (upload, paste, drop, or From Gallery), or make one first.", tool.label()),
    }
}

/// Plans a message. Pure: the same request gives the same plan.
pub fn plan(req: &PlanRequest) -> Plan {
    let ctx = Refs::of(req);
    let text: String = req.message.chars().take(MAX_MESSAGE).collect();
    let t = normalise(&text);
    let all = Words::new(&t);
    if let Some(r) = refusal(&text.to_lowercase(), &all) {
        return r;
    }
    if all.w.is_empty() {
        return if ctx.images > 0 {
            Plan::ask("What should I do with this image? For example: \"put it on a model\", \"remove the background\", \"make a 5 second video\".")
        } else {
            Plan::ask("What would you like to make?")
        };
    }
    if ctx.images > 0 && wants_analysis(&all) {
        return Plan::say(
            Kind::Analyze,
            format!(
                "Let me look at {}.",
                if ctx.images == 1 {
                    "your image".to_string()
                } else {
                    format!("your {} images", ctx.images)
                }
            ),
        );
    }
    if is_question(&all) {
        return answer(&all, ctx);
    }
    // "again", "another one", "try again": the last step once more.
    let again = all.any_phrase(&[
        "try again",
        "do it again",
        "again",
        "another one",
        "one more",
        "re-run",
        "rerun",
        "run it again",
        "regenerate",
        "redo",
    ]) && all.w.len() <= 6;
    if again {
        let last = req
            .history
            .iter()
            .enumerate()
            .rev()
            .find_map(|(n, t)| t.steps.last().map(|s| (n, s)));
        if let Some((turn, last)) = last {
            let mut step = rebase(last, &req.history, turn);
            if let Some(n) = count(&all) {
                if catalog::field_list(ApiModel::parse(&step.model_name).unwrap_or(ApiModel::Edit))
                    .contains(&"num_images")
                {
                    step.inputs.insert("num_images".into(), json!(n));
                }
            }
            return finish(vec![step], ctx);
        }
    }
    let mut steps: Vec<Step> = vec![];
    let mut used = 0u32;
    let mut prev_tool: Option<Tool> = None;
    for c in clauses(&t) {
        if steps.len() >= MAX_STEPS {
            return Plan::ask(format!("That is more than {MAX_STEPS} steps. Split it into shorter requests, and I'll run them in turn."));
        }
        let Some((tool, ())) = pick_tool(&c, ctx, prev_tool) else {
            // A description that belongs to the step before ("…, male model, studio light").
            if let Some(last) = steps.last_mut() {
                if let Some(Value::String(p)) = last.inputs.get_mut("prompt") {
                    p.push_str(", ");
                    p.push_str(&c.text());
                    continue;
                }
                continue;
            }
            continue;
        };
        let prev = (!steps.is_empty()).then(|| steps.len() - 1);
        // "remove the background and make it white": the colour belongs to the cut-out.
        if prev_tool == Some(Tool::BackgroundRemove)
            && matches!(tool, Tool::BackgroundRemove | Tool::Edit)
            && !c.any(&["remove", "transparent", "cut"])
        {
            if let (Some(hex), Some(last)) = (solid_colour(&c), steps.last_mut()) {
                last.inputs.insert("background".into(), json!("solid"));
                last.inputs.insert("color".into(), json!(hex));
                continue;
            }
        }
        match build_step(tool, &c, ctx, prev, &mut used) {
            Some(s) => steps.push(s),
            None => {
                return Plan::ask(missing(
                    tool,
                    Ctx {
                        images: ctx.images.saturating_sub(used),
                        ..ctx
                    },
                ))
            }
        }
        // A ratio the tool has no option for ("create a model in 9:16"): a Reframe after it.
        let sp = catalog::spec(tool);
        if sp.aspect_ratios.is_empty()
            && !matches!(
                tool,
                Tool::Reframe | Tool::ImageToVideo | Tool::BackgroundRemove
            )
        {
            if let Some(r) = aspect_ratio(&c).filter(|r| AspectRatio::REFRAME.contains(r)) {
                let mut i = Map::new();
                i.insert("image".into(), json!(step_ref(steps.len() - 1)));
                i.insert("aspect_ratio".into(), json!(r.label()));
                steps.push(Step {
                    model_name: ApiModel::Reframe.name(),
                    inputs: i,
                });
            }
        }
        prev_tool = Some(tool);
    }
    if steps.is_empty() {
        return if ctx.images > 0 {
            Plan::ask("I'm not sure which tool you mean. With this image I can, for example, put it on a model, remove the background, reframe it, upscale it or make a video. Which one?")
        } else if ctx.results > 0 {
            Plan::ask("I'm not sure what to change. Tell me what to do with the last result — e.g. \"make the background white\", \"reframe to 9:16\", \"upscale 2x\".")
        } else {
            Plan::ask("I'm not sure what you'd like to make. Describe it — e.g. \"create a tall athletic male model in streetwear\" — or attach a product photo and say what to do with it.")
        };
    }
    finish(steps, ctx)
}

fn finish(steps: Vec<Step>, ctx: Ctx) -> Plan {
    match check_steps(&steps, ctx) {
        Ok(credits) => {
            let confirm = credits > CONFIRM_ABOVE;
            let list: Vec<String> = steps.iter().map(step_summary).collect();
            let body = if list.len() == 1 {
                format!("I'll run {}", list[0])
            } else {
                let numbered: Vec<String> = list
                    .iter()
                    .enumerate()
                    .map(|(n, s)| format!("{}. {s}", n + 1))
                    .collect();
                format!(
                    "I'll run {} steps, each on the previous result: {}",
                    list.len(),
                    numbered.join("; ")
                )
            };
            let reply = if confirm {
                format!("{body} — {} in all. That is more than {CONFIRM_ABOVE} credits, so confirm to start.", credits_word(credits))
            } else {
                format!("{body} — {}.", credits_word(credits))
            };
            Plan {
                kind: Kind::Run,
                reply,
                steps,
                question: None,
                credits,
                confirm,
            }
        }
        Err(e) => Plan::ask(format!(
            "I can't run that as asked: {} What should I change?",
            crate::tool::messages(&e)
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// A language model, when one is configured: the same typed tools, the same checks.

/// The name of the one function a language model is offered.
pub const LLM_FUNCTION: &str = "run_plan";

/// The tools offered to an OpenAI-compatible chat endpoint: one function, `run_plan`, whose
/// arguments are a reply and the steps, each a `/v1/run` body of one of the models.
pub fn llm_tools() -> Value {
    let models: Vec<String> = ApiModel::ALL.iter().map(|m| m.name()).collect();
    json!([{
        "type": "function",
        "function": {
            "name": LLM_FUNCTION,
            "description": "Run Atelier tools in order, each step a /v1/run body; image inputs are references.",
            "parameters": {
                "type": "object",
                "required": ["reply", "steps"],
                "properties": {
                    "reply": {"type": "string", "description": "One sentence to the user: what will run."},
                    "steps": {
                        "type": "array",
                        "maxItems": MAX_STEPS,
                        "items": {
                            "type": "object",
                            "required": ["model_name", "inputs"],
                            "properties": {
                                "model_name": {"type": "string", "enum": models},
                                "inputs": {"type": "object"}
                            }
                        }
                    }
                }
            }
        }
    }])
}

/// The system prompt: what each tool does, each model's input fields, the references the
/// conversation has now, and the rules the steps are checked against.
pub fn llm_system_prompt(refs: Refs) -> String {
    let mut out = String::from(
        "You are the AI Assistant of Atelier, an AI fashion photo studio. When the user asks for images or videos, call run_plan with the steps to run, in order; otherwise answer in plain words without calling it. Never invent URLs: image inputs are references only.\n\nTools (model name: fields):\n",
    );
    for m in ApiModel::ALL {
        if m == ApiModel::TryonV16 || m == ApiModel::FaceToModel || m == ApiModel::BackgroundChange
        {
            continue;
        }
        out.push_str(&format!(
            "- {} ({}): {}. Fields: {}.\n",
            m.name(),
            m.tool().label(),
            describe(m.tool()).trim_end_matches('.'),
            catalog::field_list(m).join(", ")
        ));
    }
    out.push_str(&format!(
        "\nReferences for image fields: $image:0..$image:{} (the {} image(s) attached to this message), $step:K (the first output of step K of this plan, K from 0), $last (the latest result), $result:0..$result:{} (the conversation's {} results), $upload:0..$upload:{} (the {} image(s) attached earlier). Use only references that exist. A plan above {CONFIRM_ABOVE} credits waits for the user's confirmation.",
        refs.images.saturating_sub(1),
        refs.images,
        refs.results.saturating_sub(1),
        refs.results,
        refs.uploads.saturating_sub(1),
        refs.uploads
    ));
    out
}

/// A language model's `run_plan` arguments (the JSON its tool call carries) as a plan, checked
/// exactly as the planner's are ([`check_steps`]): a valid `/v1/run` body per step, references
/// the conversation has, at most [`MAX_STEPS`]. Errors name the field.
pub fn plan_from_llm(arguments: &str, refs: Refs) -> Result<Plan, Vec<FieldError>> {
    #[derive(Deserialize)]
    struct Args {
        #[serde(default)]
        reply: String,
        steps: Vec<Step>,
    }
    let a: Args = serde_json::from_str(arguments).map_err(|e| {
        vec![FieldError::new(
            "arguments",
            "invalid_json",
            format!("The tool call's arguments are not a plan: {e}."),
        )]
    })?;
    if a.steps.is_empty() {
        return Err(vec![FieldError::new(
            "steps",
            "required",
            "A plan needs at least one step.",
        )]);
    }
    // Images only by reference: a model may not bring in a URL or a file of its own.
    let mut e = vec![];
    for (n, s) in a.steps.iter().enumerate() {
        let Some(m) = ApiModel::parse(&s.model_name) else {
            continue;
        };
        for (f, _) in catalog::api_image_fields(m) {
            if let Some(v) = s.inputs.get(*f).filter(|v| !v.is_null()) {
                if !v.as_str().is_some_and(is_ref) {
                    e.push(FieldError::new(
                        &format!("steps[{n}].inputs.{f}"),
                        "invalid_reference",
                        "An image input must be a reference ($image:K, $step:K, $result:K, $upload:K or $last).",
                    ));
                }
            }
        }
    }
    if let Err(more) = check_steps(&a.steps, refs) {
        e.extend(more);
    }
    if !e.is_empty() {
        return Err(e);
    }
    let mut p = finish(a.steps, refs);
    let reply = a.reply.trim();
    if !reply.is_empty() && reply.len() <= 600 {
        // The model's sentence, then the checked price (the model's own arithmetic is not used).
        p.reply = format!("{reply} {}", p.reply);
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(msg: &str, images: u32) -> Plan {
        plan(&PlanRequest {
            message: msg.into(),
            images,
            history: vec![],
        })
    }

    #[test]
    fn typos_are_corrected_only_towards_the_vocabulary() {
        assert_eq!(normalise("Remvoe the backgrund"), "remove the background");
        assert_eq!(normalise("a remote model"), "a remote model");
        assert_eq!(
            normalise("Reframe to 9:16, please!"),
            "reframe to 9:16 , please !"
        );
    }

    #[test]
    fn the_quick_start_example_runs_product_to_model() {
        let r = p("show this t-shirt on a male Turkish model", 1);
        assert_eq!(r.kind, Kind::Run, "{r:?}");
        assert_eq!(r.steps[0].model_name, "product-to-model");
        assert_eq!(r.steps[0].inputs["product_image"], "$image:0");
        assert_eq!(r.steps[0].inputs["prompt"], "male turkish model");
        assert!(r.credits > 0 && r.reply.contains("credit"), "{}", r.reply);
    }

    fn refs(images: u32, results: u32) -> Refs {
        Refs {
            images,
            results,
            uploads: 0,
        }
    }

    #[test]
    fn references_are_checked() {
        let step = |img: &str| Step {
            model_name: "upscale".into(),
            inputs: json!({"image": img, "factor": "2x"})
                .as_object()
                .unwrap()
                .clone(),
        };
        assert!(check_steps(&[step("$image:0")], refs(1, 0)).is_ok());
        let e = check_steps(&[step("$image:1")], refs(1, 0)).unwrap_err();
        assert_eq!(e[0].path, "steps[0].inputs.image");
        assert!(check_steps(&[step("$step:0")], refs(0, 0)).is_err());
        assert!(check_steps(&[step("$last")], refs(0, 0)).is_err());
        assert!(check_steps(&[step("$last")], refs(0, 1)).is_ok());
        let bad = Step {
            model_name: "upscale".into(),
            inputs: json!({"image": "$image:0", "factor": "9x"})
                .as_object()
                .unwrap()
                .clone(),
        };
        let e = check_steps(&[bad], refs(1, 0)).unwrap_err();
        assert_eq!(e[0].path, "steps[0].inputs.factor");
    }
}
