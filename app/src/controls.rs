//! Every tool's controls, from its `core::catalog::ToolSpec`: references (each slot the tool
//! takes beyond its main image, with upload), prompt with the tool's placeholder, aspect ratio,
//! resolution, generation mode, number of outputs and the tool's own options (Face Swap match
//! mode, video duration and resolution, Try-On category). Validation and the cost come from core
//! live (`catalog::validate` + `catalog::quote`), inline at each field. Tools whose engine is not
//! on this installation show all of this, with Run disabled and the reason — not failing late.

use std::collections::BTreeMap;

use atelier_core::catalog::{
    self, AspectRatio, Category, Context, FaceMatch, ImageInput, ImageSource, PromptSupport, Slot,
    ToolRequest,
};
use atelier_core::pricing::{Duration, Mode, Resolution, Surface, VideoResolution};
use atelier_core::{FieldError, Tool};
use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api::{self, Asset};
use crate::AppState;

/// The slot a tool's main image (the upload area) fills, if it has one.
pub fn main_slot(tool: Tool) -> Option<Slot> {
    catalog::spec(tool)
        .slots
        .iter()
        .map(|s| s.slot)
        .find(|s| matches!(s, Slot::Image | Slot::Product | Slot::Model))
}

/// The choices made on the input screen for the generic tools.
#[derive(Clone, Copy)]
pub struct Controls {
    pub prompt: RwSignal<String>,
    /// None: Auto (the input's ratio); Reframe: not chosen yet.
    pub aspect: RwSignal<Option<AspectRatio>>,
    /// None: Auto.
    pub resolution: RwSignal<Option<Resolution>>,
    /// None: Auto.
    pub mode: RwSignal<Option<Mode>>,
    pub outputs: RwSignal<u8>,
    pub face_match: RwSignal<FaceMatch>,
    pub duration: RwSignal<Duration>,
    pub video_resolution: RwSignal<VideoResolution>,
    pub category: RwSignal<Category>,
    /// Images beyond the main one, by slot.
    pub refs: RwSignal<BTreeMap<Slot, Vec<Asset>>>,
    /// Options to restore when the panel for this tool (re)opens (branching from history).
    pub restore: RwSignal<Option<(Tool, serde_json::Value)>>,
}

impl Controls {
    /// Back to each option's default (when another tool is chosen, so no hidden choice of the
    /// previous tool carries over). References are kept: each tool reads only its own slots.
    pub fn reset_options(&self) {
        self.prompt.set(String::new());
        self.aspect.set(None);
        self.resolution.set(None);
        self.mode.set(None);
        // Every default from core's one table (`catalog::defaults`).
        use atelier_core::catalog::defaults as d;
        self.outputs.set(d::OUTPUTS);
        self.face_match.set(d::FACE_MATCH);
        self.duration.set(d::DURATION);
        self.video_resolution.set(d::VIDEO_RESOLUTION);
        self.category.set(d::CATEGORY);
    }

    pub fn new() -> Controls {
        let c = Controls {
            prompt: RwSignal::new(String::new()),
            aspect: RwSignal::new(None),
            resolution: RwSignal::new(None),
            mode: RwSignal::new(None),
            outputs: RwSignal::new(1),
            face_match: RwSignal::new(catalog::defaults::FACE_MATCH),
            duration: RwSignal::new(catalog::defaults::DURATION),
            video_resolution: RwSignal::new(catalog::defaults::VIDEO_RESOLUTION),
            category: RwSignal::new(catalog::defaults::CATEGORY),
            refs: RwSignal::new(BTreeMap::new()),
            restore: RwSignal::new(None),
        };
        c.reset_options();
        c
    }

    /// Sets the options from a stored Studio body's params (see [`Controls::studio_body`]).
    pub fn apply(&self, params: &serde_json::Value) {
        let s = |k: &str| params.get(k).and_then(|v| v.as_str()).map(str::to_string);
        if let Some(v) = s("prompt") {
            self.prompt.set(v);
        }
        // Each option as core reads it; a value it does not know is left as it is.
        fn typed<T: serde::de::DeserializeOwned>(params: &serde_json::Value, k: &str) -> Option<T> {
            params
                .get(k)
                .cloned()
                .and_then(|v| serde_json::from_value(v).ok())
        }
        if let Some(v) = typed(params, "aspect_ratio") {
            self.aspect.set(Some(v));
        }
        if let Some(v) = typed(params, "resolution") {
            self.resolution.set(Some(v));
        }
        if let Some(v) = typed(params, "generation_mode") {
            self.mode.set(Some(v));
        }
        // Durations come as "5" or as 5.
        let duration = params.get("duration").map(|d| match d {
            serde_json::Value::Number(n) => serde_json::Value::String(n.to_string()),
            v => v.clone(),
        });
        if let Some(v) = duration.and_then(|d| serde_json::from_value(d).ok()) {
            self.duration.set(v);
        }
        if let Some(v) = typed(params, "video_resolution") {
            self.video_resolution.set(v);
        }
        if let Some(v) = typed(params, "face_match") {
            self.face_match.set(v);
        }
        if let Some(v) = typed(params, "category") {
            self.category.set(v);
        }
        if let Some(n) = params.get("num_images").and_then(|v| v.as_u64()) {
            self.outputs.set(n.clamp(1, 4) as u8);
        }
    }

    /// The catalog request these choices make for `tool`, with the main image `main`.
    pub fn request(&self, tool: Tool, main: Option<&Asset>) -> ToolRequest {
        let sp = catalog::spec(tool);
        let mut r = ToolRequest::default();
        let img = |a: &Asset| ImageInput {
            width: Some(a.width as u32),
            height: Some(a.height as u32),
            source: if a.library {
                ImageSource::Library
            } else {
                ImageSource::Upload
            },
        };
        if let (Some(slot), Some(a)) = (main_slot(tool), main) {
            r.images.entry(slot).or_default().push(img(a));
        }
        // Only what the tool's panel shows: its reference slots, and the main slot's extra images
        // where it takes several (a model image carried from another tool is not Try-On's).
        self.refs.with(|refs| {
            for (slot, list) in refs {
                if let Some(ss) = sp.slots.iter().find(|s| s.slot == *slot) {
                    let cap = if main_slot(tool) == Some(*slot) {
                        ss.max.saturating_sub(1)
                    } else {
                        ss.max
                    };
                    r.images
                        .entry(*slot)
                        .or_default()
                        .extend(list.iter().take(cap as usize).map(img));
                }
            }
        });
        let p = self.prompt.get();
        r.prompt = (!p.trim().is_empty()).then_some(p);
        r.num_outputs = Some(self.outputs.get());
        r.aspect_ratio = self.aspect.get();
        r.resolution = self.resolution.get();
        r.mode = self.mode.get();
        if self.shows_face_match(tool) {
            r.face_match = Some(self.face_match.get());
        }
        match tool {
            Tool::ImageToVideo => {
                r.duration = Some(self.duration.get());
                r.video_resolution = Some(self.video_resolution());
            }
            Tool::TryOn => r.category = Some(self.category.get()),
            _ => {}
        }
        r
    }
}

impl Controls {
    /// Image to Video's resolution: an End Image locks it to 1080p, the only one that takes it.
    pub fn video_resolution(&self) -> VideoResolution {
        let end = self
            .refs
            .with(|r| r.get(&Slot::EndImage).is_some_and(|v| !v.is_empty()));
        if end {
            catalog::defaults::VIDEO_RESOLUTION_WITH_END_IMAGE
        } else {
            self.video_resolution.get()
        }
    }

    /// Face Swap's match mode, and Face Reference's once one is attached.
    pub fn shows_face_match(&self, tool: Tool) -> bool {
        tool == Tool::FaceSwap
            || (catalog::spec(tool)
                .slots
                .iter()
                .any(|s| s.slot == Slot::FaceReference)
                && self
                    .refs
                    .with(|r| r.get(&Slot::FaceReference).is_some_and(|v| !v.is_empty())))
    }

    /// Subscribes the calling effect to every option (not the images).
    pub fn track_options(&self) {
        self.prompt.track();
        self.aspect.track();
        self.resolution.track();
        self.mode.track();
        self.outputs.track();
        self.face_match.track();
        self.duration.track();
        self.video_resolution.track();
        self.category.track();
    }

    /// The Studio generation body's `inputs` and `params` for `tool` (the generic options the
    /// tool's spec lists; Auto choices are left out).
    pub fn studio_body(
        &self,
        tool: Tool,
        main: Option<&Asset>,
    ) -> (serde_json::Value, serde_json::Value) {
        use serde_json::{json, Map, Value};
        let sp = catalog::spec(tool);
        let mut inputs = Map::new();
        if let Some(main) = main.filter(|_| main_slot(tool).is_some()) {
            inputs.insert("image".into(), json!(main.hash));
        }
        self.refs.with(|refs| {
            // Fields of the same slot take its images in order (Product to Model's 2nd and
            // 3rd products).
            let mut taken: BTreeMap<Slot, usize> = BTreeMap::new();
            for (field, slot) in tool.studio_refs() {
                let n = taken.entry(*slot).or_default();
                if let Some(a) = refs.get(slot).and_then(|v| v.get(*n)) {
                    inputs.insert((*field).into(), json!(a.hash));
                }
                *n += 1;
            }
        });
        let mut p = Map::new();
        let mut put = |k: &str, v: String| {
            if !v.is_empty() {
                p.insert(k.into(), Value::String(v));
            }
        };
        if sp.prompt != PromptSupport::None {
            put("prompt", self.prompt.get_untracked().trim().to_string());
        }
        if !sp.aspect_ratios.is_empty() {
            put("aspect_ratio", ser(&self.aspect.get_untracked()));
        }
        if sp.resolutions {
            put("resolution", ser(&self.resolution.get_untracked()));
        }
        if !sp.modes.is_empty() {
            put("generation_mode", ser(&self.mode.get_untracked()));
        }
        if sp.pricing == catalog::Pricing::Video {
            put("duration", ser(&self.duration.get_untracked()));
            put(
                "video_resolution",
                ser(&untrack(|| self.video_resolution())),
            );
        }
        if self.shows_face_match(tool) {
            put("face_match", ser(&self.face_match.get_untracked()));
        }
        if tool == Tool::TryOn {
            put("category", ser(&self.category.get_untracked()));
        }
        if sp.max_outputs > 1 {
            p.insert("num_images".into(), json!(self.outputs.get_untracked()));
        }
        (Value::Object(inputs), Value::Object(p))
    }
}

impl Default for Controls {
    fn default() -> Self {
        Controls::new()
    }
}

fn errors_at(errors: &[FieldError], key: &str) -> Vec<String> {
    errors
        .iter()
        .filter(|e| e.path == key || e.path.ends_with(&format!(".{key}")))
        .map(|e| e.message.clone())
        .collect()
}

/// A labelled select bound to a typed signal; `options` are (value, label). Each option's
/// `value` attribute is the choice as core writes it ("4:5", "2k", "match_base"; "" for Auto).
#[component]
fn Choice<T>(
    label: &'static str,
    testid: &'static str,
    value: RwSignal<T>,
    options: Vec<(T, String)>,
) -> impl IntoView
where
    T: serde::Serialize + Clone + PartialEq + Send + Sync + 'static,
{
    let values: Vec<T> = options.iter().map(|(v, _)| v.clone()).collect();
    view! {
        <label class="atl-field"><span>{label}</span>
            <select data-testid=testid prop:value=move || ser(&value.get())
                on:change=move |e| {
                    let picked = event_target_value(&e);
                    if let Some(v) = values.iter().find(|v| ser(*v) == picked) {
                        value.set(v.clone());
                    }
                }>
                {options.into_iter().map(|(v, l)| view! { <option value=ser(&v)>{l}</option> }).collect_view()}
            </select>
        </label>
    }
}

/// The documented prompting tips for a tool ("Tool-Specific Tips"), shortened.
fn prompt_tips(tool: Tool) -> &'static [&'static str] {
    match tool {
        Tool::ProductToModel => &[
            "Try your first run without a prompt: the default is often close, or a clear starting point.",
            "Describe the model (age range, body type, hair), pose and framing, background, lighting and mood.",
            "You rarely need to describe the product; mention it only for how it is worn (\"jacket worn open\") or to fix a detail the first result missed.",
            "An Image Prompt can carry the framing and scene, so the text can stay short.",
        ],
        Tool::TryOn => &[
            "No prompt at all often gives the most natural result.",
            "Say how the garment is worn: \"jacket worn open\", \"shirt tucked in\", \"sleeves rolled up\".",
            "You don't need to describe the model: identity, pose and background are kept.",
        ],
        Tool::Packshot => &[
            "No prompt gives a ghost mannequin on a clean background.",
            "Pick a presentation (\"flat-lay\", \"on-hanger\", \"floating garment\"), a surface and light, an angle when it matters.",
            "Isolate one piece of several: \"only the jacket\", \"just the shoes\".",
            "Easier to show than to describe? Add an Image Context and keep the prompt short.",
        ],
        Tool::ModelSwap => &[
            "Describe the person: hair texture and style, eyes, skin tone and marks, face shape.",
            "Specific regional descriptors (Thai, Italian, Kenyan…) give more consistent looks than broad labels.",
            "Treat it as a change of who; adjust pose or background afterwards with Edit.",
        ],
        Tool::CreateModel => &[
            "Lock in what is hard to change later: body build and proportions, framing and camera distance, face shape.",
            "Treat the first result as a starting point; refine expression and details with Edit.",
            "A Pose reference grounds the composition; then the prompt can focus on the person.",
        ],
        Tool::CreateFace => &[
            "Describe age, features, hair and expression; the face is made to be reused as a Face Reference.",
            "Upscale your favourite faces (2x) for more detail in later generations.",
        ],
        Tool::Edit => &[
            "Change one thing at a time: pose, arm placement, expression, head angle or an accessory.",
            "Split large changes into steps (front → three-quarter → profile).",
            "To replace the background, describe the new scene: \"clean white studio backdrop\".",
        ],
        Tool::ImageToVideo => &[
            "Running without a prompt often gives the most natural, subtle motion.",
            "Keep a prompt short and specific: \"touch fabric\", \"subtle camera pan\", \"wind blows hair gently\".",
            "Avoid complex action sequences: small, natural movements work best.",
        ],
        _ => &[],
    }
}

/// "Auto" (the empty value) first, then the choices.
fn auto_then<T>(choices: impl Iterator<Item = (T, String)>) -> Vec<(Option<T>, String)> {
    std::iter::once((None, "Auto".to_string()))
        .chain(choices.map(|(v, l)| (Some(v), l)))
        .collect()
}

/// Inline messages for one field.
#[component]
fn FieldErrors(errors: Signal<Vec<FieldError>>, key: &'static str) -> impl IntoView {
    move || {
        errors
            .with(|e| errors_at(e, key))
            .into_iter()
            .map(|m| {
                view! { <p class="atl-error atl-field-error" data-field-error=key>{m}</p> }
            })
            .collect_view()
    }
}

/// The generic tool panel; `main` is the uploaded main image.
#[component]
pub fn ToolControls(
    tool: Signal<Tool>,
    main: Signal<Option<Asset>>,
    /// Runs the generation: `(inputs, params)` of the Studio body.
    on_run: Callback<(serde_json::Value, serde_json::Value)>,
    /// A run is being started.
    running: Signal<bool>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let c = expect_context::<Controls>();
    let upload_error = RwSignal::new(None::<String>);
    Effect::new(move |prev: Option<Tool>| {
        let t = tool.get();
        // Also on mount: the panel is rebuilt when coming back from a tool with its own screen.
        if prev != Some(t) {
            c.reset_options();
            if let Some((rt, p)) = c.restore.get_untracked() {
                if rt == t {
                    c.apply(&p);
                }
                c.restore.set(None);
            }
        }
        t
    });
    let check = Signal::derive(move || {
        let t = tool.get();
        let req = c.request(t, main.get().as_ref());
        catalog::validate(
            t,
            &req,
            Context {
                surface: Surface::App,
                plan: None,
            },
        )
        .map(|r| catalog::quote(Surface::App, &r).credits)
    });
    // Under the Studio body's paths, as the edge reports them (`params.generation_mode`…).
    let errors = Signal::derive(move || catalog::in_studio(check.get().err().unwrap_or_default()));
    // Options the account's plan does not include: the same rules the edge enforces, shown
    // before Run with the plan that unlocks each (and Run waits for an upgrade).
    let gates = Signal::derive(move || {
        let Some(plan) = state.plan.get() else {
            return vec![];
        };
        let t = tool.get();
        let req = c.request(t, main.get().as_ref());
        catalog::validate(
            t,
            &req,
            Context {
                surface: Surface::App,
                plan: Some(plan),
            },
        )
        .err()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.code == "plan_required")
        .map(|e| e.message)
        .collect::<Vec<_>>()
    });
    let sp = move || catalog::spec(tool.get());
    let why = move || state.availability(tool.get()).err();
    let has_main = Memo::new(move |_| main.get().is_some());
    let add_ref = move |slot: Slot, ev: leptos::ev::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|l| l.get(0)) else {
            return;
        };
        input.set_value("");
        upload_error.set(None);
        leptos::task::spawn_local(async move {
            match api::upload(&file).await {
                Ok(a) => c.refs.update(|r| r.entry(slot).or_default().push(a)),
                Err(e) => upload_error.set(Some(e.message)),
            }
        });
    };
    view! {
        <div class="atl-controls" data-testid="tool-controls">
            // References: every slot beyond the main image.
            {move || {
                let t = tool.get();
                let main_s = main_slot(t);
                sp().slots.iter().filter_map(|ss| {
                    let extra = if Some(ss.slot) == main_s { ss.max.saturating_sub(1) } else { ss.max };
                    // "Add another image" once the first is in.
                    let is_main = Some(ss.slot) == main_s;
                    (extra > 0 && (!is_main || has_main.get())).then_some((ss.slot, ss.min, extra, is_main))
                }).map(|(slot, min, extra, is_main)| {
                    let key = serde_json::to_value(slot).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                    let label = if is_main { format!("Add another {}", slot.label()) } else { format!("{}{}", capitalise(slot.label()), match (min > 0, slot) { (true, _) => " (required)", (false, Slot::EndImage) => " (optional, Pro and higher)", _ => " (optional)" }) };
                    // This slot's images only: a change elsewhere does not rebuild its pickers.
                    let list = Memo::new(move |_| c.refs.with(|r| r.get(&slot).cloned().unwrap_or_default()));
                    let full = Memo::new(move |_| list.with(Vec::len) >= extra as usize);
                    let input_id = format!("ref-{key}");
                    let library = Signal::derive(move || atelier_core::catalog::LibraryKind::for_slot(tool.get(), slot));
                    let pick_ref = Callback::new(move |a: Asset| c.refs.update(|r| r.entry(slot).or_default().push(a)));
                    let browse = RwSignal::new(false);
                    view! {
                        <div class="atl-ref" data-slot=key.clone()>
                            // The slot's popover (Upload, quick-pick, Browse all), and the Gallery.
                            <crate::picker::QuickPick label=capitalise(slot.label()) chip=label.clone() input_id=input_id.clone()
                                library=library disabled=full.into() on_pick=pick_ref
                                on_browse=Callback::new(move |_| browse.set(true))/>
                            <input id=input_id type="file" class="atl-hidden" accept="image/png,image/jpeg,image/webp"
                                aria-label=label.clone() data-testid=format!("ref-input-{key}") disabled=move || full.get()
                                on:change=move |ev| add_ref(slot, ev)/>
                            <Show when=move || !full.get()>
                                <crate::picker::GalleryPicker label=slot.label().to_string() faces=slot == Slot::FaceReference
                                    library=library open=browse on_pick=pick_ref/>
                            </Show>
                            {move || list.get().into_iter().enumerate().map(|(i, a)| view! {
                                <span class="atl-ref-item">
                                    <img class="atl-ref-thumb" src=format!("/api/assets/{}", a.hash) alt=format!("{} {}", slot.label(), i + 1)/>
                                    <crate::editor::EditButton src=Signal::stored(format!("/api/assets/{}", a.hash)) name=format!("{} {}", slot.label(), i + 1)
                                        on_edited=Callback::new(move |e: Asset| c.refs.update(|r| { if let Some(x) = r.get_mut(&slot).and_then(|v| v.get_mut(i)) { *x = e; } }))/>
                                    {(i > 0).then(|| view! {
                                        // Reorder before running (Product to Model's extra product images).
                                        <button class="atl-link" data-testid="ref-move-earlier" aria-label=format!("Move {} {} earlier", slot.label(), i + 1)
                                            on:click=move |_| c.refs.update(|r| { if let Some(v) = r.get_mut(&slot) { if i < v.len() { v.swap(i - 1, i); } } })>"‹"</button>
                                    })}
                                    <button class="atl-link" aria-label=format!("Remove {} {}", slot.label(), i + 1)
                                        on:click=move |_| c.refs.update(|r| { if let Some(v) = r.get_mut(&slot) { if i < v.len() { v.remove(i); } } })>"×"</button>
                                </span>
                            }).collect_view()}
                            <FieldErrors errors=errors key=tool.get().studio_refs().iter().find(|(_, s)| *s == slot).map_or("__none", |(f, _)| *f)/>
                        </div>
                    }
                }).collect_view()
            }}
            {move || upload_error.get().map(|m| view! { <p class="atl-error" role="alert">{m}</p> })}
            {move || (sp().prompt != PromptSupport::None).then(|| view! {
                <label class="atl-field atl-prompt">
                    <span>{if sp().prompt == PromptSupport::Required { "Prompt (required)" } else { "Prompt (optional)" }}</span>
                    <textarea data-testid="prompt" rows="3" maxlength="2000" placeholder=sp().prompt_placeholder
                        prop:value=move || c.prompt.get() on:input=move |e| c.prompt.set(event_target_value(&e))></textarea>
                </label>
                <FieldErrors errors=errors key="prompt"/>
                {let tips = prompt_tips(tool.get()); (!tips.is_empty()).then(|| view! {
                    <details class="atl-tips" data-testid="prompt-tips">
                        <summary>"Prompt tips"</summary>
                        <ul>{tips.iter().map(|t| view! { <li>{*t}</li> }).collect_view()}</ul>
                    </details>
                })}
            })}
            <div class="atl-row">
                {move || (!sp().aspect_ratios.is_empty()).then(|| {
                    let first = if tool.get() == Tool::Reframe { "Choose…" } else { "Auto" };
                    let mut o = vec![(None, first.to_string())];
                    o.extend(sp().aspect_ratios.iter().map(|r| (Some(*r), r.label())));
                    view! { <Choice label="Aspect ratio" testid="gen-aspect" value=c.aspect options=o/> }
                })}
                {move || sp().resolutions.then(|| {
                    let o = auto_then(Resolution::ALL.iter().map(|r| (*r, r.label().to_string())));
                    view! { <Choice label="Resolution" testid="gen-resolution" value=c.resolution options=o/> }
                })}
                {move || (!sp().modes.is_empty()).then(|| {
                    // Quality is Pro's: the option says so before it is picked.
                    let o = auto_then(sp().modes.iter().map(|m: &Mode| (*m, if *m == Mode::Quality { format!("{} (Pro)", m.label()) } else { m.label().to_string() })));
                    view! { <Choice label="Generation mode" testid="gen-mode" value=c.mode options=o/> }
                })}
                {move || (sp().max_outputs > 1).then(|| view! {
                    <label class="atl-field"><span>"Outputs"</span>
                        <select data-testid="gen-outputs" prop:value=move || c.outputs.get().to_string()
                            on:change=move |e| c.outputs.set(event_target_value(&e).parse().unwrap_or(1))>
                            {(1..=sp().max_outputs).map(|n| view! { <option value=n.to_string()>{n}</option> }).collect_view()}
                        </select>
                    </label>
                })}
                {move || c.shows_face_match(tool.get()).then(|| {
                    // Match Reference on every tool; then Match Base when the tool starts from an
                    // image, Match Prompt when from a prompt (Face Swap's is the current model).
                    let other = match tool.get() {
                        Tool::FaceSwap => "Match Current Model",
                        Tool::ModelSwap => "Match Base",
                        _ => "Match Prompt",
                    };
                    let o = [(FaceMatch::MatchReference, "Match Reference"), (FaceMatch::MatchBase, other)]
                        .map(|(m, l)| (m, l.to_string())).to_vec();
                    view! { <Choice label="Match" testid="gen-face-match" value=c.face_match options=o/> }
                })}
                {move || (tool.get() == Tool::ImageToVideo).then(|| {
                    let d = [(Duration::S5, "5 s"), (Duration::S10, "10 s")].map(|(d, l)| (d, l.to_string())).to_vec();
                    // 1080p is Pro's; an End Image locks it (the only resolution that takes one).
                    let r = [VideoResolution::P480, VideoResolution::P720, VideoResolution::P1080]
                        .map(|r| (r, if r == VideoResolution::P1080 { format!("{} (Pro)", r.label()) } else { r.label().to_string() })).to_vec();
                    let end = move || c.refs.with(|r| r.get(&Slot::EndImage).is_some_and(|v| !v.is_empty()));
                    view! {
                        <Choice label="Duration" testid="gen-duration" value=c.duration options=d/>
                        <label class="atl-field"><span>"Video resolution"</span>
                            <select data-testid="gen-video-resolution" prop:value=move || ser(&c.video_resolution())
                                disabled=end title=move || end().then_some("An End Image needs 1080p: the resolution is locked while one is set.")
                                on:change=move |e| {
                                    let picked = event_target_value(&e);
                                    if let Some((v, _)) = r.iter().find(|(v, _)| ser(v) == picked) {
                                        c.video_resolution.set(*v);
                                    }
                                }>
                                {r.iter().map(|(v, l)| view! { <option value=ser(v)>{l.clone()}</option> }).collect_view()}
                            </select>
                        </label>
                    }
                })}
                {move || (tool.get() == Tool::TryOn).then(|| {
                    let o = [(Category::Auto, "Auto"), (Category::Tops, "Tops"), (Category::Bottoms, "Bottoms"), (Category::OnePieces, "One-pieces")]
                        .map(|(v, l)| (v, l.to_string())).to_vec();
                    view! { <Choice label="Category" testid="gen-category" value=c.category options=o/> }
                })}
            </div>
            <FieldErrors errors=errors key="aspect_ratio"/>
            <FieldErrors errors=errors key="resolution"/>
            <FieldErrors errors=errors key="generation_mode"/>
            <FieldErrors errors=errors key="num_images"/>
            <FieldErrors errors=errors key="tool"/>
            // Missing images, and anything not shown at a field above.
            {move || {
                const SHOWN: [&str; 7] = ["params.prompt", "params.aspect_ratio", "params.resolution", "params.generation_mode", "params.num_images", "tool", "inputs.face_reference"];
                errors.with(|e| e.iter().filter(|e| !SHOWN.contains(&e.path.as_str())).map(|e| {
                    let (kind, class) = if e.path.starts_with("inputs.") { ("inputs", "atl-muted") } else { ("other", "atl-error") };
                    view! { <p class=format!("{class} atl-field-error") data-field-error=kind>{e.message.clone()}</p> }
                }).collect_view())
            }}
            {move || gates.get().into_iter().map(|m| view! {
                <p class="atl-plan-gate" data-testid="plan-gate">{m}" "<a href="/billing" data-testid="plan-upgrade">"Upgrade"</a></p>
            }).collect_view()}
            <button class="atl-primary atl-run" data-testid="run-generic"
                disabled=move || why().is_some() || check.get().is_err() || running.get() || !gates.get().is_empty()
                    || (main.get().is_none() && main_slot(tool.get()).is_some())
                on:click=move |_| {
                    let (t, a) = (tool.get_untracked(), main.get_untracked());
                    // Prompt-only tools (Create Model, Create Face) run without a main image.
                    if a.is_some() || main_slot(t).is_none() {
                        on_run.run(c.studio_body(t, a.as_ref()));
                    }
                }>
                {move || match check.get() {
                    _ if running.get() => "Starting…".to_string(),
                    Ok(1) => "Run · 1 credit".to_string(),
                    Ok(n) => format!("Run · {n} credits"),
                    Err(_) => "Run".to_string(),
                }}
            </button>
            {move || why().map(|w| view! {
                <p class="atl-muted" data-testid="unavailable-reason">{format!("{} can't run here: {w}.", tool.get().label())}</p>
            })}
        </div>
    }
}

fn ser<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
