//! The wire types the app and the edge share: what `/api/generations`, `/api/gallery` and
//! `/api/assets` answer. The edge builds them from its rows; the app reads them as they are, so
//! a field renamed on one side no longer compiles on the other. Tools and job states are typed.

use serde::{Deserialize, Serialize};

use crate::job::JobStatus;
use crate::tool::Tool;

/// One stored output of a generation, with the URL the app reads it from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputView {
    pub index: u32,
    /// `/api/generations/<id>/outputs/<index>` (owner only).
    pub url: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    /// The stored file's size in bytes.
    pub bytes: u64,
    /// A small WebP of it (`…/outputs/<index>/thumb`), when one was made: grids show this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
}

impl OutputView {
    /// What a grid shows: the thumbnail, else the file itself.
    pub fn preview_url(&self) -> &str {
        self.thumb_url.as_deref().unwrap_or(&self.url)
    }

    pub fn is_video(&self) -> bool {
        self.content_type.starts_with("video/")
    }
}

/// Why a generation failed: one of FASHN's error names and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorView {
    pub name: String,
    pub message: Option<String>,
}

/// A Studio generation as the app sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationView {
    pub id: String,
    pub tool: Tool,
    pub status: JobStatus,
    /// 0.0 ..= 1.0 while it runs.
    pub progress: f64,
    pub stage: Option<String>,
    /// The Studio body's `inputs` (asset hashes by field).
    pub inputs: serde_json::Value,
    /// The Studio body's `params` as the user chose them (Auto stays Auto): branching restores
    /// these.
    pub params: serde_json::Value,
    pub outputs: Vec<OutputView>,
    pub error: Option<ErrorView>,
    pub engine: Option<String>,
    pub run_ms: Option<f64>,
    pub created_at: f64,
    pub updated_at: f64,
    pub completed_at: Option<f64>,
    /// What core quoted for the run.
    pub credits_quoted: f64,
    /// Charged per successful output: 0 until it completes, and for anything that failed.
    pub credits_used: f64,
    /// Waiting jobs ahead of this one (only while it waits, and only from a direct read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u64>,
}

impl GenerationView {
    pub fn is_terminal(&self) -> bool {
        self.status.is_terminal()
    }

    /// The main input's asset hash (None for prompt-only tools and API URL inputs).
    pub fn input_hash(&self) -> Option<String> {
        self.inputs
            .get("image")
            .and_then(|v| v.as_str())
            .map(str::to_string)
    }
}

/// One output in the Gallery's list of results (`GET /api/gallery`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryItemView {
    pub generation_id: String,
    pub index: u32,
    /// None: an imported image.
    pub tool: Option<Tool>,
    pub tool_label: String,
    pub url: String,
    /// Its thumbnail, when one was made (the picker's grid shows this).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumb_url: Option<String>,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    pub created_at: f64,
}

/// An API key as the request history names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRefView {
    pub name: String,
    /// The key's first characters (`atl_1a2b`); the rest is never stored.
    pub prefix: Option<String>,
}

/// One API prediction in an organization's request history (`GET /api/requests`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestView {
    pub id: String,
    pub model_name: Option<String>,
    pub status: JobStatus,
    pub created_at: f64,
    /// From creation to the end, once it ended.
    pub duration_ms: Option<f64>,
    /// Charged per successful output: 0 unless it completed.
    pub credits_used: u64,
    pub error: Option<ErrorView>,
    pub key: Option<KeyRefView>,
}

/// One page of a newest-first list, and where the next one starts — the one paging rule of
/// every list the app reads (history, Gallery, uploads, API requests).
/// A storefront widget's publishable key as the Developer page lists it: public by design, so
/// with its value and the two embed snippets (core's `widget::snippets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WidgetKeyView {
    pub id: String,
    pub name: String,
    pub key: String,
    pub origins: Vec<String>,
    pub retention_hours: u32,
    pub created_at: f64,
    pub last_used_at: Option<f64>,
    pub revoked_at: Option<f64>,
    pub snippet_script: String,
    pub snippet_iframe: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// `before=` for the next page: the `created_at` of the last item shown, when more follow.
    pub next_before: Option<f64>,
}

impl<T> Page<T> {
    /// From the rows a store read with a limit of `limit + 1`: the extra row only says that
    /// more follow, so a last page that happens to be full says none do.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, created_at: impl Fn(&T) -> f64) -> Page<T> {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_before = more.then(|| rows.last().map(&created_at)).flatten();
        Page {
            items: rows,
            next_before,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_before: self.next_before,
        }
    }
}

/// One page of the Gallery's Library (`GET /api/gallery/entries`): whole generations (a run with
/// several outputs is one entry), newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryPage {
    pub entries: Vec<EntryView>,
    /// From 1.
    pub page: u32,
    pub pages: u32,
    /// Entries matching the filters, on every page.
    pub total: u64,
}

/// One entry of the Gallery's Library: a Studio result (a whole run: 1–4 outputs) or an
/// imported image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntryView {
    pub id: String,
    /// The tool that made it; None for an image imported into the Gallery.
    pub tool: Option<Tool>,
    pub outputs: Vec<OutputView>,
    /// The Studio body's `inputs` and `params` (an import's params hold its file name).
    pub inputs: serde_json::Value,
    pub params: serde_json::Value,
    pub created_at: f64,
    /// Liked (its heart).
    pub liked: bool,
}

impl EntryView {
    /// "Upscale", or "Imported".
    pub fn label(&self) -> &'static str {
        self.tool.map_or("Imported", Tool::label)
    }

    /// The tools this entry's output can be sent to ("Use in"): those with a slot for it (a
    /// Create Face result goes to Face References, a Create Model result to Model slots, any
    /// other image to the tool's main image); none for a video.
    pub fn use_in(&self, index: usize) -> Vec<Tool> {
        if self.outputs.get(index).is_none_or(OutputView::is_video) {
            return vec![];
        }
        Tool::ALL
            .into_iter()
            .filter(|t| match self.tool {
                Some(from) => from.carry_slot(*t).is_some(),
                None => t.main_slot().is_some(),
            })
            .collect()
    }
}

/// A Collection as its grid and the pickers show it (`GET /api/collections`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectionView {
    pub id: String,
    pub name: String,
    /// Entries in it.
    pub count: u64,
    /// Up to four of its newest items' previews (thumbnails where made).
    pub cover: Vec<String>,
    pub created_at: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_page_says_more_follow_only_when_they_do() {
        let p = Page::from_rows(vec![5.0, 4.0, 3.0], 2, |t| *t);
        assert_eq!(
            (p.items.clone(), p.next_before),
            (vec![5.0, 4.0], Some(4.0))
        );
        let p = Page::from_rows(vec![5.0, 4.0], 2, |t| *t);
        assert_eq!(p.next_before, None, "a full last page is the last");
        let p = Page::from_rows(Vec::<f64>::new(), 2, |t| *t);
        assert_eq!((p.items.len(), p.next_before), (0, None));
        assert_eq!(p.map(|t| t as u32).items, Vec::<u32>::new());
    }

    #[test]
    fn a_generation_reads_with_typed_tool_and_status() {
        let g: GenerationView = serde_json::from_value(json!({
            "id": "g1", "tool": "image-to-video", "status": "in_queue", "progress": 0.0,
            "stage": null, "inputs": {"image": "ab"}, "params": {}, "outputs": [], "error": null,
            "engine": null, "run_ms": null, "created_at": 1.0, "updated_at": 1.0,
            "completed_at": null, "credits_quoted": 2.0, "credits_used": 0.0, "queue_position": 3
        }))
        .unwrap();
        assert_eq!(g.tool, Tool::ImageToVideo);
        assert_eq!(g.status, JobStatus::InQueue);
        assert!(!g.is_terminal());
        assert_eq!(g.input_hash().as_deref(), Some("ab"));
        // An unknown tool or state is an error, not a silent default.
        let bad = json!({"id": "g", "tool": "teleport"});
        assert!(serde_json::from_value::<GenerationView>(bad).is_err());
        let v = serde_json::to_value(GenerationView {
            queue_position: None,
            ..g
        })
        .unwrap();
        assert!(v.get("queue_position").is_none());
        assert_eq!(v["status"], "in_queue");
    }

    #[test]
    fn use_in_sends_a_result_where_it_fits_and_an_import_to_any_main_image() {
        let out = |ct: &str| OutputView {
            index: 0,
            url: "/x".into(),
            content_type: ct.into(),
            width: 1,
            height: 1,
            bytes: 1,
            thumb_url: None,
        };
        let entry = |tool, ct: &str| EntryView {
            id: "e".into(),
            tool,
            outputs: vec![out(ct)],
            inputs: json!({}),
            params: json!({}),
            created_at: 0.0,
            liked: false,
        };
        let import = entry(None, "image/jpeg");
        assert_eq!(import.label(), "Imported");
        let tools = import.use_in(0);
        assert!(tools.contains(&Tool::Upscale) && tools.contains(&Tool::ImageToVideo));
        assert!(
            !tools.contains(&Tool::CreateFace),
            "prompt-only tools take no image"
        );
        // A Create Face result goes where a Face Reference goes.
        let face = entry(Some(Tool::CreateFace), "image/png").use_in(0);
        assert!(face.contains(&Tool::FaceSwap));
        assert!(!face.contains(&Tool::CreateFace));
        assert!(entry(Some(Tool::ImageToVideo), "video/mp4")
            .use_in(0)
            .is_empty());
        assert!(import.use_in(3).is_empty());
    }
}
