//! The Studio: toolbar, input screen, result screen and history panel. Its draft changes only
//! through `update(Msg)`; the address (`/studio/:tool?settings`) and the selected tool are kept
//! in step.

use atelier_core::catalog::{self, Context};
use atelier_core::pricing::Surface;
use atelier_core::studio::{validate_generation, GenerationRequest};
use atelier_core::Tool;
use leptos::prelude::*;
use serde_json::json;
use wasm_bindgen::JsCast;

use crate::api::{self, Asset, Generation};
use crate::events;
use crate::AppState;

/// The input being prepared on the input screen.
#[derive(Clone, Copy)]
struct Draft {
    asset: RwSignal<Option<Asset>>,
    preview: RwSignal<Option<String>>,
    uploading: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    background: RwSignal<String>,
    color: RwSignal<String>,
    /// Upscale's factor: "2x", "4x" or "enhance".
    factor: RwSignal<String>,
    /// Reframe's target ratio.
    aspect: RwSignal<String>,
    /// Starting a run: an action; while it is pending, Run is busy.
    run: Action<(Tool, serde_json::Value, serde_json::Value), Result<Generation, api::ApiError>>,
    /// The selected tool.
    tool: RwSignal<Tool>,
}

/// The own panels' starting choices (Background Remove, Upscale, Reframe).
struct PanelDefaults {
    background: String,
    color: String,
    factor: String,
    aspect: String,
}

impl Draft {
    fn defaults() -> PanelDefaults {
        let wire = |v: serde_json::Value| v.as_str().unwrap_or_default().to_string();
        PanelDefaults {
            background: wire(
                json!(atelier_core::catalog::defaults::BACKGROUND)["background"].clone(),
            ),
            color: "#ffffff".into(),
            factor: wire(json!(atelier_core::catalog::defaults::UPSCALE)),
            aspect: "1:1".into(),
        }
    }

    /// The Studio params for the selected tool (validated by core and the edge).
    fn params(&self) -> serde_json::Value {
        match self.tool.get() {
            Tool::Upscale => json!({"factor": self.factor.get()}),
            Tool::Reframe => json!({"aspect_ratio": self.aspect.get()}),
            _ if self.background.get() == "solid" => {
                json!({"background": "solid", "color": self.color.get()})
            }
            _ => json!({"background": "transparent"}),
        }
    }
}

/// The tools with their own option panel on the input screen; the others use the generic
/// controls from their spec (`controls::ToolControls`).
fn own_panel(t: Tool) -> bool {
    matches!(t, Tool::BackgroundRemove | Tool::Upscale | Tool::Reframe)
}

/// What changes the Studio's draft. Every change goes through [`update`], so the order of its
/// writes (tool, options, images, result screen) is decided here, not by effects reacting to
/// one another.
enum Msg {
    /// The toolbar: another tool, its options fresh.
    SelectTool(Tool),
    /// A Studio address (typed, a link, Back or Forward): the tool with its settings.
    Open(Tool, serde_json::Value),
    /// A file picked, dropped or pasted becomes the main image.
    Upload(web_sys::File),
    /// A history item's tool, images and options back on the input screen.
    Branch(Generation),
    /// A result carried into the next tool (the suggestion bar).
    Carry {
        /// The tool that made it (None: an image imported into the Gallery).
        from: Option<Tool>,
        output: (String, u32),
        next: Tool,
    },
}

/// The one update function of the Studio's draft.
fn update(state: AppState, draft: Draft, controls: crate::controls::Controls, msg: Msg) {
    match msg {
        Msg::SelectTool(t) => {
            draft.tool.set(t);
            draft.error.set(None);
            state.current.set(None);
        }
        Msg::Open(t, params) => {
            prefill(draft, controls, t, &params);
            state.current.set(None);
        }
        Msg::Upload(file) => handle_file(draft, state, file),
        Msg::Branch(g) => branch(state, draft, controls, g),
        Msg::Carry { from, output, next } => carry_into(state, draft, controls, from, output, next),
    }
}

fn handle_file(draft: Draft, state: AppState, file: web_sys::File) {
    state.current.set(None);
    draft.error.set(None);
    draft.asset.set(None);
    if let Ok(url) = web_sys::Url::create_object_url_with_blob(&file) {
        if let Some(old) = draft.preview.get_untracked() {
            let _ = web_sys::Url::revoke_object_url(&old);
        }
        draft.preview.set(Some(url));
    }
    draft.uploading.set(true);
    leptos::task::spawn_local(async move {
        match api::upload(&file).await {
            Ok(a) => draft.asset.set(Some(a)),
            Err(e) => draft.error.set(Some(e.message)),
        }
        draft.uploading.set(false);
    });
}

/// Starts a generation with a Studio body; [`Studio`] opens it on the result screen when the
/// action answers.
fn start(draft: Draft, inputs: serde_json::Value, params: serde_json::Value) {
    draft.error.set(None);
    draft
        .run
        .dispatch_local((draft.tool.get_untracked(), inputs, params));
}

fn first_file(list: Option<web_sys::FileList>) -> Option<web_sys::File> {
    list.and_then(|l| l.get(0))
}

/// The tool in the address (`/studio/:tool`), if it names one; `Err` with the name when it
/// names none.
fn route_tool() -> Memo<Result<Option<Tool>, String>> {
    let params = leptos_router::hooks::use_params_map();
    Memo::new(move |_| match params.read().get("tool") {
        None => Ok(None),
        Some(id) => Tool::from_id(&id).map(Some).ok_or(id),
    })
}

/// Sets a tool and its options on the input screen (a Studio link's query, or a history item's
/// params when branching): the generic panel's options come back after its reset, the
/// own-panel tools' options at once.
fn prefill(draft: Draft, c: crate::controls::Controls, tool: Tool, params: &serde_json::Value) {
    let p = |k: &str| params.get(k).and_then(|v| v.as_str()).map(str::to_string);
    if !own_panel(tool) {
        // The generic panel resets its options when it opens for a tool; these come back after.
        c.restore.set(Some((tool, params.clone())));
        c.apply(params);
    }
    draft.tool.set(tool);
    draft.error.set(None);
    if own_panel(tool) {
        // What the address or the history item leaves out is the panel's default.
        let d = Draft::defaults();
        draft.factor.set(p("factor").unwrap_or(d.factor));
        if tool == Tool::Reframe {
            draft.aspect.set(p("aspect_ratio").unwrap_or(d.aspect));
        }
        draft
            .background
            .set(p("background").unwrap_or(d.background));
        draft.color.set(p("color").unwrap_or(d.color));
    }
}

/// A Studio address for `tool` with the settings that differ from a fresh panel's.
fn studio_url(tool: Tool, params: &serde_json::Value, fresh: &serde_json::Value) -> String {
    let mut q = vec![];
    if let Some(m) = params.as_object() {
        for (k, v) in m {
            if fresh.get(k) == Some(v) {
                continue;
            }
            let v = match v {
                serde_json::Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            q.push(format!(
                "{k}={}",
                String::from(js_sys::encode_uri_component(&v))
            ));
        }
    }
    if q.is_empty() {
        format!("/studio/{}", tool.id())
    } else {
        format!("/studio/{}?{}", tool.id(), q.join("&"))
    }
}

/// A result carried in by the address (`carry=<generation id>.<output index>&from=<tool>`;
/// without `from`, an imported image).
fn carried(q: &leptos_router::params::ParamsMap, next: Tool) -> Option<Msg> {
    let carry = q.get("carry")?;
    let (id, index) = carry.rsplit_once('.')?;
    // No `from`: an imported image, which goes to the tool's main image.
    let from = match q.get("from") {
        Some(f) => Some(Tool::from_id(&f)?),
        None => None,
    };
    Some(Msg::Carry {
        from,
        output: (id.to_string(), index.parse().ok()?),
        next,
    })
}

/// A Studio link's settings: the query's keys as the Studio body's params (`num_images` a
/// number, the rest strings), e.g. `/studio/packshot?prompt=on%20grey&num_images=2`.
fn query_params(q: &leptos_router::params::ParamsMap) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (k, v) in q.into_iter() {
        if matches!(k.as_ref(), "carry" | "from" | "result" | "branch") {
            continue;
        }
        let v = match (k.as_ref(), v.parse::<u64>()) {
            ("num_images", Ok(n)) => json!(n),
            _ => json!(v),
        };
        m.insert(k.to_string(), v);
    }
    serde_json::Value::Object(m)
}

#[component]
pub fn Studio() -> impl IntoView {
    let state = expect_context::<AppState>();
    let draft = Draft {
        asset: RwSignal::new(None),
        preview: RwSignal::new(None),
        uploading: RwSignal::new(false),
        error: RwSignal::new(None),
        background: RwSignal::new(Draft::defaults().background),
        color: RwSignal::new(Draft::defaults().color),
        run: Action::new_local(
            |(tool, inputs, params): &(Tool, serde_json::Value, serde_json::Value)| {
                let (tool, inputs, params) = (*tool, inputs.clone(), params.clone());
                async move { api::create_generation(tool.id(), inputs, params).await }
            },
        ),
        factor: RwSignal::new(Draft::defaults().factor),
        aspect: RwSignal::new(Draft::defaults().aspect),
        tool: RwSignal::new(Tool::BackgroundRemove),
    };
    provide_context(draft);
    let controls = crate::controls::Controls::new();
    provide_context(controls);
    // A run that started opens on the result screen; one refused says why above Run.
    Effect::new(move |_| match draft.run.value().get() {
        Some(Ok(g)) => {
            state.current.set(Some(g.clone()));
            state.upsert(g);
        }
        Some(Err(e)) => draft.error.set(Some(e.message)),
        None => {}
    });

    // The address and the selected tool stay in step: a typed `/studio/packshot?…` opens that
    // tool with its settings, Back and Forward move between tools, and choosing a tool (the
    // toolbar, branching, the suggestion bar) puts it in the address.
    let navigate = leptos_router::hooks::use_navigate();
    let from_route = route_tool();
    let query = leptos_router::hooks::use_query_map();
    match from_route.get_untracked() {
        Ok(Some(t)) => {
            update(
                state,
                draft,
                controls,
                Msg::Open(t, query_params(&query.get_untracked())),
            );
            // The Gallery's "Use in": `?carry=<generation>.<output>&from=<tool>` puts that
            // result in the tool's slot (the address then drops it, as for any input).
            if let Some(msg) = carried(&query.get_untracked(), t) {
                update(state, draft, controls, msg);
            }
            // A generation by id (the Assistant's and Home's links): `result=` opens it on the
            // result screen, `branch=` puts its inputs and settings on the input screen.
            let q = query.get_untracked();
            let by_id = q
                .get("result")
                .map(|id| (id, false))
                .or_else(|| q.get("branch").map(|id| (id, true)));
            if let Some((id, branch)) = by_id {
                leptos::task::spawn_local(async move {
                    let answer = api::generation(&id).await;
                    // The Studio may have closed meanwhile: then the answer is dropped.
                    if draft.tool.try_get_untracked().is_none() {
                        return;
                    }
                    match answer {
                        Ok(g) if branch => update(state, draft, controls, Msg::Branch(g)),
                        Ok(g) => {
                            state.upsert(g.clone());
                            state.current.set(Some(g));
                        }
                        Err(e) => {
                            draft.error.try_set(Some(e.message));
                        }
                    }
                });
            }
        }
        Ok(None) => {}
        Err(id) => draft.error.set(Some(format!(
            "There is no tool called \"{id}\"; showing {}.",
            draft.tool.get_untracked().label()
        ))),
    }
    Effect::new(move |_| {
        if let Ok(Some(t)) = from_route.get() {
            // Back, Forward or a link to another tool: that address's settings come with it.
            if draft.tool.get_untracked() != t {
                let params = query_params(&query.get_untracked());
                update(state, draft, controls, Msg::Open(t, params));
            }
        }
    });
    // The address follows the tool and its settings (so a copied address opens the same
    // panel): another tool is a step Back can undo, a changed setting replaces the address.
    Effect::new(move |_| {
        let t = draft.tool.get();
        controls.track_options();
        let (params, fresh) = if own_panel(t) {
            let d = Draft::defaults();
            let fresh = match t {
                Tool::Upscale => json!({"factor": d.factor}),
                Tool::Reframe => json!({"aspect_ratio": d.aspect}),
                _ => json!({"background": d.background}),
            };
            (draft.params(), fresh)
        } else {
            let fresh = crate::controls::Controls::new().studio_body(t, None).1;
            (controls.studio_body(t, None).1, fresh)
        };
        let url = studio_url(t, &params, &fresh);
        // Only the tool and its settings drive this: a change of address (Back, Forward, a
        // link) reaches the tool through `from_route` first, and this then finds it in step.
        // `/studio`, a wrong name and a changed setting replace the address.
        let replace = from_route.get_untracked() == Ok(Some(t))
            || !matches!(from_route.get_untracked(), Ok(Some(_)));
        let navigate = navigate.clone();
        let sync = move || {
            let here = web_sys::window()
                .map(|w| {
                    let l = w.location();
                    format!(
                        "{}{}",
                        l.pathname().unwrap_or_default(),
                        l.search().unwrap_or_default()
                    )
                })
                .unwrap_or_default();
            // Still on another page: the router is moving into the Studio and has not written
            // its address yet (replacing now would drop the page before it from the history).
            if !here.starts_with("/studio") {
                return false;
            }
            if here != url {
                navigate(
                    &url,
                    leptos_router::NavigateOptions {
                        replace,
                        scroll: false,
                        ..Default::default()
                    },
                );
            }
            true
        };
        if !sync() {
            set_timeout(
                move || {
                    sync();
                },
                std::time::Duration::ZERO,
            );
        }
    });

    // Capabilities, credits, history, then live events, then a slow poll of unfinished jobs.
    leptos::task::spawn_local(async move {
        if let Ok(caps) = api::capabilities().await {
            state.caps.set(Some(caps));
        }
    });
    state.refresh_credits();
    leptos::task::spawn_local(async move {
        if let Ok(page) = api::history(None).await {
            state.history.set(page.generations);
            state.history_next.set(page.next_before);
        }
    });
    let stop = events::connect(state);
    let poll = set_interval_with_handle(
        move || {
            let pending: Vec<String> = state.history.with_untracked(|h| {
                h.iter()
                    .filter(|g| !g.is_terminal())
                    .map(|g| g.id.clone())
                    .collect()
            });
            for id in pending {
                leptos::task::spawn_local(async move {
                    if let Ok(g) = api::generation(&id).await {
                        state.upsert(g);
                    }
                });
            }
        },
        std::time::Duration::from_millis(2000),
    )
    .ok();
    let paste = window_event_listener(leptos::ev::paste, move |ev: web_sys::ClipboardEvent| {
        if let Some(f) = first_file(ev.clipboard_data().and_then(|d| d.files())) {
            ev.prevent_default();
            update(state, draft, controls, Msg::Upload(f));
        }
    });
    let cleanup = send_wrapper::SendWrapper::new((stop, paste, poll));
    on_cleanup(move || {
        let (stop, paste, poll) = cleanup.take();
        stop.set(true);
        paste.remove();
        if let Some(p) = poll {
            p.clear();
        }
    });

    view! {
        <div class="atl-studio">
            <div class="atl-body">
                <main class="atl-main">
                    {move || if state.current.get().is_some() {
                        view! { <ResultScreen/> }.into_any()
                    } else {
                        view! { <InputScreen/> }.into_any()
                    }}
                </main>
                <HistoryPanel/>
            </div>
        </div>
    }
}

#[component]
fn Toolbar() -> impl IntoView {
    use catalog::Group;
    let draft = expect_context::<Draft>();
    let state = expect_context::<AppState>();
    let controls = expect_context::<crate::controls::Controls>();
    let groups = [
        (Group::Generate, "Generate"),
        (Group::Refine, "Refine"),
        (Group::EnhanceAndAnimate, "Enhance and Animate"),
    ]
    .map(|(g, name)| {
        let tools: Vec<Tool> = Tool::ALL
            .into_iter()
            .filter(|t| catalog::spec(*t).group == g)
            .collect();
        (name, tools)
    });
    view! {
        <nav class="atl-toolbar" aria-label="Tools">
            {groups.into_iter().map(|(name, tools)| view! {
                <div class="atl-toolgroup">
                    <span class="atl-toolgroup-name">{name}</span>
                    {tools.iter().map(|t| {
                        let t = *t;
                        let why = move || state.availability(t).err();
                        view! {
                            <button class="atl-tool" class:atl-active=move || draft.tool.get() == t
                                class:atl-unavailable=move || why().is_some()
                                aria-pressed=move || (draft.tool.get() == t).to_string()
                                on:click=move |_| update(state, draft, controls, Msg::SelectTool(t))
                                title=move || match why() { None => t.label().to_string(), Some(w) => format!("{}: {w}", t.label()) }
                                data-tool=t.id()>
                                {t.label()}
                            </button>
                        }
                    }).collect_view()}
                </div>
            }).collect_view()}
        </nav>
    }
}

#[component]
fn InputScreen() -> impl IntoView {
    let state = expect_context::<AppState>();
    let draft = expect_context::<Draft>();
    let controls = expect_context::<crate::controls::Controls>();
    let input_ref = NodeRef::<leptos::html::Input>::new();
    let dragging = RwSignal::new(false);
    let on_pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        if let Some(f) = first_file(input.files()) {
            update(state, draft, controls, Msg::Upload(f));
        }
        input.set_value("");
    };
    let on_drop = move |ev: leptos::ev::DragEvent| {
        ev.prevent_default();
        dragging.set(false);
        if let Some(f) = first_file(ev.data_transfer().and_then(|d| d.files())) {
            update(state, draft, controls, Msg::Upload(f));
        }
    };
    // The cost on the Run button, or what is wrong, from core: the same rules the edge applies.
    let check = move || -> Option<Result<u32, Vec<String>>> {
        let a = draft.asset.get()?;
        let body = GenerationRequest {
            tool: draft.tool.get().id().into(),
            inputs: json!({"image": a.hash})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            params: draft.params().as_object().cloned().unwrap_or_default(),
        };
        let messages =
            |e: Vec<atelier_core::FieldError>| e.into_iter().map(|e| e.message).collect();
        let valid = match validate_generation(&body) {
            Ok(v) => v,
            Err(e) => return Some(Err(messages(e))),
        };
        let ctx = Context {
            surface: Surface::App,
            plan: None,
        };
        Some(
            catalog::validate(
                valid.tool,
                &valid.request(a.width as u32, a.height as u32),
                ctx,
            )
            .map(|v| catalog::quote(Surface::App, &v).credits)
            .map_err(messages),
        )
    };
    let cost = move || check().and_then(Result::ok);
    let problems = move || check().and_then(Result::err).unwrap_or_default();
    let run = move |_: ()| {
        let Some(asset) = draft.asset.get_untracked() else {
            return;
        };
        start(draft, json!({"image": asset.hash}), draft.params());
    };
    let run_generic = Callback::new(
        move |(inputs, params): (serde_json::Value, serde_json::Value)| {
            start(draft, inputs, params)
        },
    );
    // Enter runs (outside text areas and buttons, which keep their own Enter).
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        if ev.key() != "Enter" || ev.shift_key() {
            return;
        }
        let target = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok());
        let tag = target.as_ref().map(|e| e.tag_name()).unwrap_or_default();
        // Not from a field, a button, or anything inside a dialog or popover (the Gallery, the
        // editor): Enter there is theirs.
        let in_dialog = target
            .as_ref()
            .and_then(|e| e.closest("[role=dialog]").ok().flatten())
            .is_some();
        if in_dialog || matches!(tag.as_str(), "TEXTAREA" | "BUTTON" | "A" | "SELECT") {
            return;
        }
        let tool = draft.tool.get_untracked();
        // Whether the tool runs comes from the node's capabilities (its own engines, or the
        // upstream it forwards generative tools to).
        let ready = (draft.asset.get_untracked().is_some()
            || crate::controls::main_slot(tool).is_none())
            && !draft.run.pending().get_untracked()
            && !draft.uploading.get_untracked()
            && state.availability(tool).is_ok();
        if ready {
            ev.prevent_default();
            if own_panel(tool) {
                if untrack(problems).is_empty() {
                    run(());
                }
            } else if let Some(b) = document()
                .query_selector("[data-testid=run-generic]")
                .ok()
                .flatten()
            {
                // The generic panel's Run knows its options and whether they are valid.
                if let Some(b) = b.dyn_ref::<web_sys::HtmlElement>() {
                    b.click();
                }
            }
        }
    };
    view! {
        <section class="atl-input" on:keydown=on_key>
            <h2 data-testid="tool-title">{move || draft.tool.get().label()}</h2>
            <p class="atl-hint">{move || match draft.tool.get() {
                Tool::Upscale => "Increase resolution and sharpen details: 2x, 4x (up to 4K), or Enhance at the same size.",
                Tool::Reframe => "Change the aspect ratio: the subject is kept whole, by cropping around it or extending the picture.",
                Tool::BackgroundRemove => "Isolate your model or product: keep a transparent background or fill it with a solid color.",
                t => tool_hint(t),
            }}</p>
            <Show when=move || crate::controls::main_slot(draft.tool.get()).is_some()>
            <div class="atl-drop" class:atl-dragging=move || dragging.get() data-testid="drop-zone"
                on:dragover=move |ev: leptos::ev::DragEvent| { ev.prevent_default(); dragging.set(true); }
                on:dragleave=move |_| dragging.set(false)
                on:drop=on_drop
                on:click=move |_| { if let Some(i) = input_ref.get() { i.click(); } }>
                {move || match draft.preview.get() {
                    Some(url) => view! {
                        <img class="atl-preview" src=url alt="Your photo" data-testid="preview"/>
                        {draft.asset.get().map(|a| view! {
                            <crate::editor::EditButton src=Signal::stored(format!("/api/assets/{}", a.hash)) name="the image".to_string()
                                on_edited=Callback::new(move |a: Asset| {
                                    draft.preview.set(Some(format!("/api/assets/{}", a.hash)));
                                    draft.asset.set(Some(a));
                                })/>
                            // Removing it before running; the next product (Product to Model)
                            // moves up into its place.
                            <button class="atl-remove" data-testid="remove-image" aria-label="Remove the image" title="Remove"
                                on:click=move |ev: leptos::ev::MouseEvent| {
                                    ev.stop_propagation();
                                    let c = expect_context::<crate::controls::Controls>();
                                    let next = crate::controls::main_slot(draft.tool.get_untracked()).and_then(|slot| {
                                        let mut up = None;
                                        c.refs.update(|r| up = r.get_mut(&slot).filter(|v| !v.is_empty()).map(|v| v.remove(0)));
                                        up
                                    });
                                    draft.preview.set(next.as_ref().map(|a| format!("/api/assets/{}", a.hash)));
                                    draft.asset.set(next);
                                }>"×"</button>
                        })}
                    }.into_any(),
                    None => view! {
                        <div class="atl-drop-empty">
                            <strong>"Upload a photo"</strong>
                            <span>"Click to choose, drag and drop, or paste (Ctrl/⌘ V). PNG, JPEG or WebP up to 20 MB."</span>
                        </div>
                    }.into_any(),
                }}
                <input type="file" accept="image/png,image/jpeg,image/webp" class="atl-hidden"
                    node_ref=input_ref data-testid="file-input" on:change=on_pick
                    on:click=move |ev| ev.stop_propagation()/>
            </div>
            <crate::picker::GalleryPicker label="the image".to_string()
                library=Signal::derive(move || crate::controls::main_slot(draft.tool.get()).and_then(|s| atelier_core::catalog::LibraryKind::for_slot(draft.tool.get(), s)))
                on_pick=Callback::new(move |a: Asset| {
                    draft.error.set(None);
                    draft.preview.set(Some(format!("/api/assets/{}", a.hash)));
                    draft.asset.set(Some(a));
                })/>
            </Show>
            <Show when=move || draft.uploading.get()>
                <p class="atl-muted" data-testid="uploading">"Uploading…"</p>
            </Show>
            <Show when=move || draft.error.get().is_some()>
                <p class="atl-error" role="alert" data-testid="input-error">{move || draft.error.get()}</p>
            </Show>
            // The toolbar sits under the upload area, the tool's controls below it; on the
            // result screen the suggestion bar takes its place.
            <Toolbar/>
            <Show when=move || draft.tool.get() == Tool::Upscale>
                <fieldset class="atl-options">
                    <legend>"Upscaling factor"</legend>
                    {[("2x", "2x (Recommended)"), ("4x", "4x (up to 4K)"), ("enhance", "Enhance")].map(|(v, label)| view! {
                        <label><input type="radio" name="factor" value=v data-testid=format!("factor-{v}")
                            prop:checked=move || draft.factor.get() == v
                            on:change=move |_| draft.factor.set(v.into())/>" "{label}</label>
                    }).collect_view()}
                </fieldset>
            </Show>
            <Show when=move || draft.tool.get() == Tool::Reframe>
                <fieldset class="atl-options">
                    <legend>"Target aspect ratio"</legend>
                    <select data-testid="aspect-ratio" aria-label="Target aspect ratio"
                        prop:value=move || draft.aspect.get()
                        on:change=move |ev| draft.aspect.set(event_target_value(&ev))>
                        {catalog::spec(Tool::Reframe).aspect_ratios.iter().map(|r| {
                            let l = r.label();
                            view! { <option value=l.clone()>{l.clone()}</option> }
                        }).collect_view()}
                    </select>
                </fieldset>
            </Show>
            <Show when=move || draft.tool.get() == Tool::BackgroundRemove>
            <fieldset class="atl-options">
                <legend>"Background"</legend>
                <label><input type="radio" name="bg" value="transparent" data-testid="bg-transparent"
                    prop:checked=move || draft.background.get() == "transparent"
                    on:change=move |_| draft.background.set("transparent".into())/>" Transparent"</label>
                <label><input type="radio" name="bg" value="solid" data-testid="bg-solid"
                    prop:checked=move || draft.background.get() == "solid"
                    on:change=move |_| draft.background.set("solid".into())/>" Solid color"</label>
                <input type="color" data-testid="color" aria-label="Background color"
                    disabled=move || draft.background.get() != "solid"
                    prop:value=move || draft.color.get()
                    on:input=move |ev| draft.color.set(event_target_value(&ev))/>
            </fieldset>
            </Show>
            <Show when=move || !own_panel(draft.tool.get())>
                <crate::controls::ToolControls tool=Signal::derive(move || draft.tool.get()) main=Signal::derive(move || draft.asset.get())
                    on_run=run_generic running=Signal::derive(move || draft.run.pending().get() || draft.uploading.get())/>
            </Show>
            <Show when=move || own_panel(draft.tool.get())>
            {move || problems().into_iter().map(|m| view! { <p class="atl-error atl-field-error" data-testid="own-error">{m}</p> }).collect_view()}
            {move || state.availability(draft.tool.get()).err().map(|w| view! {
                <p class="atl-muted" data-testid="unavailable-reason">{format!("{} can't run here: {w}.", draft.tool.get().label())}</p>
            })}
            <button class="atl-primary atl-run" data-testid="run" on:click=move |_| run(())
                disabled=move || draft.asset.get().is_none() || !problems().is_empty() || draft.run.pending().get() || draft.uploading.get() || state.availability(draft.tool.get()).is_err()>
                {move || match (draft.run.pending().get(), cost()) {
                    (true, _) => "Starting…".to_string(),
                    (false, Some(1)) => "Run · 1 credit".to_string(),
                    (false, Some(n)) => format!("Run · {n} credits"),
                    (false, None) => "Run".to_string(),
                }}
            </button>
            </Show>
        </section>
    }
}

/// One line on what a tool does, from its documentation.
fn tool_hint(t: Tool) -> &'static str {
    match t {
        Tool::ProductToModel => "Put your product on an AI model: up to 3 product images; optional Image Prompt, Face Reference, Background and model image.",
        Tool::TryOn => "Dress a model photo in a garment from a product photo.",
        Tool::Packshot => "Turn an on-model or flat photo into a clean product packshot.",
        Tool::ModelSwap => "Keep the outfit, change the model.",
        Tool::CreateModel => "Create a model from a description, with optional face and pose references.",
        Tool::CreateFace => "Create a face to reuse as a Face Reference.",
        Tool::Edit => "Change part of an image with a prompt; an optional mask limits where.",
        Tool::FaceSwap => "Put the face from a Face Reference on the model in your image.",
        Tool::ImageToVideo => "Animate a photo into a 5 or 10 second video, optionally ending on an End Image.",
        _ => "",
    }
}

/// The options a result was made with, in a line.
fn summary(g: &Generation) -> String {
    let p = |k: &str| g.params.get(k).and_then(|v| v.as_str()).unwrap_or("");
    match g.tool.id() {
        "upscale" => format!(
            "Factor {}",
            if p("factor").is_empty() {
                serde_json::to_value(atelier_core::catalog::defaults::UPSCALE)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            } else {
                p("factor").to_string()
            }
        ),
        "reframe" => format!("Reframed to {}", p("aspect_ratio")),
        "background-remove" if p("background") == "solid" => format!("Solid color {}", p("color")),
        "background-remove" => "Transparent background".to_string(),
        "face-swap" => format!(
            "{} · with a Face Reference",
            if p("face_match") == "match_base" {
                "Match Current Model"
            } else {
                "Match Reference"
            }
        ),
        "image-to-video" => {
            let d = g
                .params
                .get("duration")
                .map(|v| v.as_str().map(str::to_string).unwrap_or(v.to_string()));
            let mut s = format!(
                "{} s at {}",
                d.unwrap_or_else(|| "5".into()),
                if p("video_resolution").is_empty() {
                    "720p"
                } else {
                    p("video_resolution")
                }
            );
            if g.inputs.get("end_image").is_some() {
                s.push_str(", with an End Image");
            }
            if !p("prompt").is_empty() {
                s.push_str(&format!(" · \u{201c}{}\u{201d}", p("prompt")));
            }
            s
        }
        _ => {
            let mut parts = vec![];
            if !p("prompt").is_empty() {
                parts.push(format!("\u{201c}{}\u{201d}", p("prompt")));
            }
            if !p("aspect_ratio").is_empty() {
                parts.push(p("aspect_ratio").to_string());
            }
            if !p("resolution").is_empty() {
                parts.push(p("resolution").to_uppercase());
            }
            match p("category") {
                "tops" => parts.push("Tops".into()),
                "bottoms" => parts.push("Bottoms".into()),
                "one-pieces" => parts.push("One-pieces".into()),
                _ => {}
            }
            if let Some(n) = g
                .params
                .get("num_images")
                .and_then(|v| v.as_u64())
                .filter(|n| *n > 1)
            {
                parts.push(format!("{n} outputs"));
            }
            if parts.is_empty() {
                "Default options".into()
            } else {
                parts.join(" · ")
            }
        }
    }
}

fn status_text(g: &Generation) -> String {
    match g.status.as_str() {
        "starting" | "in_queue" => match g.queue_position {
            Some(0) => "Queued: next in line…".into(),
            Some(1) => "Queued: 1 job ahead…".into(),
            Some(n) => format!("Queued: {n} jobs ahead…"),
            None => "Waiting for a free slot…".into(),
        },
        "processing" => format!("Processing {}%", (g.progress * 100.0).round() as i64),
        "completed" => "Done".into(),
        "failed" => "Failed".into(),
        "canceled" => "Canceled".into(),
        "time_out" => "Timed out".into(),
        other => other.to_string(),
    }
}

fn clamp_zoom(z: f64) -> f64 {
    z.clamp(0.25, 8.0)
}

/// The distance between two fingers, when exactly two touch the screen.
fn pinch_distance(e: &web_sys::TouchEvent) -> Option<f64> {
    let t = e.touches();
    if t.length() != 2 {
        return None;
    }
    let (a, b) = (t.get(0)?, t.get(1)?);
    let (dx, dy) = (
        (a.client_x() - b.client_x()) as f64,
        (a.client_y() - b.client_y()) as f64,
    );
    Some((dx * dx + dy * dy).sqrt().max(1.0))
}

/// Loads a generation's tool, inputs and options back into the input screen (branching from a
/// history item). The input's size is read from the image itself.
fn branch(state: AppState, draft: Draft, c: crate::controls::Controls, g: Generation) {
    let Some(tool) = Some(g.tool) else {
        return;
    };
    prefill(draft, c, tool, &g.params);
    state.current.set(None);
    // A later branch supersedes this one: its answers are dropped.
    let me = BRANCH.with(|b| {
        b.set(b.get() + 1);
        b.get()
    });
    let current = move || BRANCH.with(|b| b.get()) == me;
    c.refs.update(|r| {
        for (_, slot) in tool.studio_refs() {
            r.remove(slot);
        }
    });
    // The reference images (End Image, Image Context, products…) come back in their slots too.
    let refs: Vec<(&'static str, atelier_core::catalog::Slot, String)> = tool
        .studio_refs()
        .iter()
        .filter_map(|(f, slot)| Some((*f, *slot, g.inputs.get(*f)?.as_str()?.to_string())))
        .collect();
    let hash = g.input_hash();
    if let Some(h) = &hash {
        draft.preview.set(Some(format!("/api/assets/{h}")));
        draft.asset.set(None);
    }
    draft.uploading.set(true);
    leptos::task::spawn_local(async move {
        if let Some(hash) = hash {
            let a = stored_asset(hash).await;
            if !current() {
                return;
            }
            match a {
                Some(a) => draft.asset.set(Some(a)),
                None => draft.error.set(Some(
                    "The input image could not be loaded; upload it again.".into(),
                )),
            }
        }
        // In field order, so a slot's images (Product to Model's products) keep theirs.
        let mut lost = vec![];
        for (field, slot, hash) in refs {
            let kind = atelier_core::catalog::LibraryKind::for_slot(tool, slot);
            let a = stored_asset(hash.clone()).await;
            // A starter-library image keeps its source (a library face needs no plan).
            let library = match kind {
                Some(k) => api::library(k.id())
                    .await
                    .is_ok_and(|items| items.iter().any(|i| i.hash == hash)),
                None => false,
            };
            if !current() {
                return;
            }
            match a {
                Some(a) => c
                    .refs
                    .update(|r| r.entry(slot).or_default().push(Asset { library, ..a })),
                None => lost.push(format!("{} ({field})", slot.label())),
            }
        }
        if !lost.is_empty() {
            draft.error.set(Some(format!(
                "These reference images could not be loaded; add them again: {}.",
                lost.join(", ")
            )));
        }
        draft.uploading.set(false);
    });
}

thread_local! {
    /// The latest branch (history click); an earlier one's late answers are dropped.
    static BRANCH: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// One of your stored images as an asset, its size read from the image itself.
async fn stored_asset(hash: String) -> Option<Asset> {
    let img = web_sys::HtmlImageElement::new().ok()?;
    img.set_src(&format!("/api/assets/{hash}"));
    wasm_bindgen_futures::JsFuture::from(img.decode())
        .await
        .ok()?;
    Some(Asset {
        hash,
        content_type: String::new(),
        width: img.natural_width() as f64,
        height: img.natural_height() as f64,
        library: false,
    })
}

/// Carries a result into the next tool: no download, no re-upload. It becomes the tool's main
/// image, or the slot core names for it (a created face is the next tool's Face Reference).
fn carry_into(
    state: AppState,
    draft: Draft,
    controls: crate::controls::Controls,
    from: Option<Tool>,
    (generation_id, index): (String, u32),
    next: Tool,
) {
    draft.error.set(None);
    draft.uploading.set(true);
    leptos::task::spawn_local(async move {
        match api::asset_from_output(&generation_id, index).await {
            Ok(a) => {
                let slot = from.map_or(next.main_slot(), |f| f.carry_slot(next));
                if slot.is_some() && slot == next.main_slot() {
                    draft.preview.set(Some(format!("/api/assets/{}", a.hash)));
                    draft.asset.set(Some(a));
                } else if let Some(slot) = slot {
                    // The next tool's own main image is still to be chosen.
                    draft.preview.set(None);
                    draft.asset.set(None);
                    controls.refs.update(|r| {
                        r.insert(slot, vec![a]);
                    });
                }
                draft.tool.set(next);
                state.current.set(None);
            }
            Err(e) => draft.error.set(Some(e.message)),
        }
        draft.uploading.set(false);
    });
}

#[component]
fn ResultScreen() -> impl IntoView {
    let state = expect_context::<AppState>();
    let draft = expect_context::<Draft>();
    let controls = expect_context::<crate::controls::Controls>();
    let zoom = RwSignal::new(1.0f64);
    let pinch = RwSignal::new(None::<(f64, f64)>);
    // Which of the 1–4 outputs is shown.
    let shown = RwSignal::new(0usize);
    // A new result opens fitted, on its first output.
    Effect::new(move |_| {
        state.current.with(|c| c.as_ref().map(|c| c.id.clone()));
        zoom.set(1.0);
        shown.set(0);
    });
    let g = move || state.current.get();
    let count = move || {
        state
            .current
            .with(|c| c.as_ref().map_or(0, |c| c.outputs.len()))
    };
    let step = move |d: isize| {
        let n = count() as isize;
        if n > 1 {
            shown.update(|i| *i = ((*i as isize + d).rem_euclid(n)) as usize);
        }
    };
    // The checkerboard is for transparent cut-outs only.
    let solid = move || {
        g().is_none_or(|g| {
            g.tool != Tool::BackgroundRemove
                || g.params.get("background").and_then(|v| v.as_str()) == Some("solid")
        })
    };
    view! {
        <section class="atl-result">
            <aside class="atl-summary">
                <button class="atl-link" data-testid="back" on:click=move |_| state.current.set(None)>"← Back"</button>
                {move || g().map(|g| view! {
                    <h3>{g.tool.label()}</h3>
                    <button class="atl-link" data-testid="branch" on:click={
                        let g = g.clone();
                        move |_| update(state, draft, controls, Msg::Branch(g.clone()))
                    }>"Edit inputs and run again"</button>
                    {g.input_hash().map(|h| view! { <img class="atl-thumb" src=format!("/api/assets/{h}") alt="Input"/> })}
                    {Some(g.tool).map(|t| t.studio_refs().iter().filter_map(|(field, slot)| {
                        let h = g.inputs.get(*field)?.as_str()?.to_string();
                        Some(view! {
                            <figure class="atl-summary-ref" data-testid="summary-ref">
                                <img class="atl-ref-thumb" src=format!("/api/assets/{h}") alt=crate::controls::capitalise(slot.label())/>
                                <figcaption>{crate::controls::capitalise(slot.label())}</figcaption>
                            </figure>
                        })
                    }).collect::<Vec<_>>())}
                    <p class="atl-muted">{summary(&g)}</p>
                })}
            </aside>
            <div class="atl-viewer">
                <p class="atl-status" data-testid="status" data-status=move || g().map_or("", |g| g.status.as_str())>
                    {move || g().map(|g| status_text(&g)).unwrap_or_default()}
                </p>
                {move || g().filter(|g| !g.is_terminal()).map(|g| {
                    let id = g.id.clone();
                    view! {
                        <div class="atl-running">
                            <progress class="atl-progress" data-testid="progress" max="1" value=g.progress aria-label="Progress"></progress>
                            <button class="atl-chip" data-testid="cancel" on:click=move |_| {
                                let id = id.clone();
                                leptos::task::spawn_local(async move {
                                    match api::cancel_generation(&id).await {
                                        Ok(n) => {
                                            if state.current.with_untracked(|c| c.as_ref().is_some_and(|c| c.id == n.id)) {
                                                state.current.set(Some(n.clone()));
                                            }
                                            state.upsert(n);
                                        }
                                        // Already finished: the live update brings its state.
                                        Err(e) => leptos::logging::log!("cancel: {}", e.message),
                                    }
                                });
                            }>"Cancel"</button>
                        </div>
                    }
                })}
                {move || g().and_then(|g| g.error.clone()).map(|e| view! {
                    <p class="atl-error" role="alert" data-testid="result-error">
                        {format!("{}: {}", e.name, e.message.unwrap_or_default())}
                    </p>
                })}
                {move || g().and_then(|g| {
                    let i = shown.get().min(g.outputs.len().saturating_sub(1));
                    g.outputs.get(i).cloned().map(|o| (o, g.id.clone(), g.tool))
                }).map(|(o, gid, gtool)| { let video = o.content_type == "video/mp4"; view! {
                    <div class="atl-zoom" role="group" aria-label="Zoom">
                        <button class="atl-chip" data-testid="zoom-out" aria-label="Zoom out"
                            on:click=move |_| zoom.update(|z| *z = clamp_zoom(*z / 1.25))>"−"</button>
                        <button class="atl-chip" data-testid="zoom-reset" aria-label=move || format!("{:.0}% zoom, reset", zoom.get() * 100.0)
                            on:click=move |_| zoom.set(1.0)>{move || format!("{:.0}%", zoom.get() * 100.0)}</button>
                        <button class="atl-chip" data-testid="zoom-in" aria-label="Zoom in"
                            on:click=move |_| zoom.update(|z| *z = clamp_zoom(*z * 1.25))>"+"</button>
                    </div>
                    <div class="atl-canvas" class:atl-checker=move || !solid() class:atl-zoomed=move || zoom.get() != 1.0
                        on:touchstart=move |e: web_sys::TouchEvent| {
                            if let Some(d) = pinch_distance(&e) { pinch.set(Some((d, zoom.get_untracked()))); }
                        }
                        on:touchmove=move |e: web_sys::TouchEvent| {
                            if let (Some(d), Some((d0, z0))) = (pinch_distance(&e), pinch.get_untracked()) {
                                e.prevent_default();
                                zoom.set(clamp_zoom(z0 * d / d0));
                            }
                        }
                        on:touchend=move |_| pinch.set(None)
                        on:wheel=move |e: web_sys::WheelEvent| {
                            // Trackpad pinch arrives as a wheel event with Ctrl held.
                            if e.ctrl_key() {
                                e.prevent_default();
                                zoom.update(|z| *z = clamp_zoom(*z * (-e.delta_y() / 200.0).exp()));
                            }
                        }>
                        {if video {
                            view! {
                                <video data-testid="result-video" src=o.url.clone() poster=o.thumb_url.clone() controls=true autoplay=true muted=true loop=true
                                    playsinline=true aria-label="Result video" width=o.width height=o.height
                                    style:zoom=move || zoom.get().to_string()></video>
                            }.into_any()
                        } else {
                            view! {
                                <img data-testid="result-image" src=o.url.clone() alt=format!("Result {}", o.index + 1)
                                    width=o.width height=o.height style:zoom=move || zoom.get().to_string()/>
                            }.into_any()
                        }}
                    </div>
                    {move || (count() > 1).then(|| view! {
                        <div class="atl-outputs" role="group" aria-label="Outputs">
                            <button class="atl-chip" data-testid="output-prev" aria-label="Previous output" on:click=move |_| step(-1)>"‹"</button>
                            {move || g().map(|g| g.outputs.iter().enumerate().map(|(i, t)| view! {
                                <button class="atl-output-thumb" class:atl-selected=move || shown.get() == i
                                    data-testid="output-thumb" aria-label=format!("Output {} of {}", i + 1, g.outputs.len())
                                    aria-pressed=move || (shown.get() == i).to_string()
                                    on:click=move |_| shown.set(i)>
                                    <img src=t.url.clone() alt="" loading="lazy"/>
                                </button>
                            }).collect_view())}
                            <button class="atl-chip" data-testid="output-next" aria-label="Next output" on:click=move |_| step(1)>"›"</button>
                            <span class="atl-muted" data-testid="output-position">{move || format!("{} / {}", shown.get() + 1, count())}</span>
                        </div>
                    })}
                    <div class="atl-actions">
                        <a class="atl-primary" data-testid="download" href=format!("{}?download=1", o.url) download="">
                            {match o.content_type.as_str() {
                                "video/mp4" => "Download MP4",
                                "image/jpeg" => "Download JPEG",
                                _ => "Download PNG",
                            }}
                        </a>
                        {(!video).then(|| view! { <crate::export::ExportForWeb id=gid tool=gtool.id().to_string() output=o.clone()/> })}
                    </div>
                }})}
                <IterationPrompt shown=shown/>
                <div class="atl-suggestions" aria-label="Where next?">
                    <span class="atl-muted">"Where next?"</span>
                    {move || g().and_then(|g| Some(g.tool).map(|t| (g, t))).map(|(g, t)| {
                        let next = catalog::spec(t).where_next;
                        view! {
                            // Upscale and Image to Video end a flow: their next step is the file.
                            {next.is_empty().then(|| view! {
                                <span class="atl-muted" data-testid="next-file">
                                    {if t == Tool::ImageToVideo { "Download the video above." } else { "Download it, or Export for Web, above." }}
                                </span>
                            })}
                            {next.iter().map(|n| {
                                let (n, id) = (*n, g.id.clone());
                                let why = move || state.availability(n).err();
                                let done = g.status == atelier_core::JobStatus::Completed;
                                view! {
                                    <button class="atl-chip" data-next=n.id()
                                        disabled=move || !done || why().is_some()
                                        title=move || match why() { None => format!("Continue in {} with this result", n.label()), Some(w) => format!("{}: {w}", n.label()) }
                                        on:click=move |_| update(state, draft, controls, Msg::Carry { from: Some(t), output: (id.clone(), shown.get_untracked() as u32), next: n })>
                                        {n.label()}
                                    </button>
                                }
                            }).collect_view()}
                        }
                    })}
                </div>
            </div>
        </section>
    }
}

/// "What would you like to change?": reruns the shown generation's tool on the same inputs and
/// options with the typed prompt in place of the old one (tools that take a prompt). The field
/// starts with the old prompt, so one thing can be changed at a time; Enter runs.
#[component]
fn IterationPrompt(
    /// The output shown (a Create Face / Create Model variation starts from it).
    shown: RwSignal<usize>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let text = RwSignal::new(String::new());
    let running = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // Which generation the field belongs to: a new result brings its own prompt.
    Effect::new(move |_| {
        let prompt = state.current.with(|c| {
            c.as_ref()
                .filter(|g| Some(g.tool).is_some_and(|t| t.iteration_tool() == t))
                .map(|g| {
                    g.params
                        .get("prompt")
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_string()
                })
        });
        text.set(prompt.unwrap_or_default());
        error.set(None);
    });
    // The tool the change runs (Edit for a created face or model).
    let tool = move || {
        state.current.with(|c| {
            c.as_ref()
                .filter(|g| g.is_terminal())
                .and_then(|g| Some(g.tool).map(|t| (g, t)))
                // An Edit of a created face needs the face: only once it completed.
                .filter(|(g, t)| {
                    t.iteration_tool() == *t || g.status == atelier_core::JobStatus::Completed
                })
                .map(|(_, t)| t.iteration_tool())
                .filter(|t| catalog::spec(*t).prompt != catalog::PromptSupport::None)
        })
    };
    let run = move || {
        let Some(g) = state.current.get_untracked() else {
            return;
        };
        let change = text.get_untracked().trim().to_string();
        if change.is_empty() {
            error.set(Some(
                "Type what you would like to change, e.g. \"on pure white\".".into(),
            ));
            return;
        }
        let from = Some(g.tool);
        let next = from.map(Tool::iteration_tool);
        running.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let body = if next.is_some() && next != from {
                // A created face or model opens in Edit: the shown output is Edit's image.
                let index = g.outputs.get(shown.get_untracked()).map_or(0, |o| o.index);
                match api::asset_from_output(&g.id, index).await {
                    Ok(a) => Ok((
                        Tool::Edit.id().to_string(),
                        serde_json::json!({"image": a.hash}),
                        serde_json::json!({"prompt": change}),
                    )),
                    Err(e) => Err(e.message),
                }
            } else {
                let mut params = g.params.clone();
                if let Some(p) = params.as_object_mut() {
                    p.insert("prompt".into(), serde_json::Value::String(change));
                }
                Ok((g.tool.id().to_string(), g.inputs.clone(), params))
            };
            let (tool, inputs, params) = match body {
                Ok(b) => b,
                Err(m) => {
                    error.set(Some(m));
                    running.set(false);
                    return;
                }
            };
            match api::create_generation(&tool, inputs, params).await {
                Ok(n) => {
                    state.current.set(Some(n.clone()));
                    state.upsert(n);
                }
                Err(e) => error.set(Some(e.message)),
            }
            running.set(false);
        });
    };
    move || {
        tool().map(|t| {
            let same = state
                .current
                .with_untracked(|c| c.as_ref().is_some_and(|g| g.tool == t));
            // The same run again costs what it was quoted; an Edit of a created face or model
            // is quoted by core for the shown output.
            let cost = if same {
                state
                    .current
                    .with_untracked(|c| c.as_ref().map(|g| g.credits_quoted))
                    .map(|c| c.round() as u32)
            } else {
                state.current.with_untracked(|c| {
                    let o = c.as_ref()?.outputs.get(shown.get_untracked())?;
                    let mut r = catalog::ToolRequest::default();
                    atelier_core::studio::add_reference(&mut r, catalog::Slot::Image, o.width, o.height);
                    r.prompt = Some("change".into());
                    let ctx = Context { surface: Surface::App, plan: None };
                    catalog::validate(t, &r, ctx)
                        .ok()
                        .map(|v| catalog::quote(Surface::App, &v).credits)
                })
            };
            let why = move || state.availability(t).err();
            view! {
                <form class="atl-iterate" data-testid="iterate" on:submit=move |ev| { ev.prevent_default(); run(); }>
                    <label for="atl-iterate-prompt">"What would you like to change?"</label>
                    {(!same).then(|| view! {
                        <p class="atl-muted" data-testid="iterate-in-edit">"Opens in Edit: a variation of this result, e.g. \"three-quarter view\", \"slight smile\"."</p>
                    })}
                    <div class="atl-iterate-row">
                        <textarea id="atl-iterate-prompt" data-testid="iterate-prompt" rows="2"
                            placeholder=catalog::spec(t).prompt_placeholder
                            prop:value=move || text.get()
                            on:input=move |ev| text.set(event_target_value(&ev))
                            on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                                if ev.key() == "Enter" && !ev.shift_key() {
                                    ev.prevent_default();
                                    run();
                                }
                            }></textarea>
                        <button type="submit" class="atl-primary" data-testid="iterate-run"
                            disabled=move || running.get() || why().is_some()
                            title=move || why().unwrap_or_default()>
                            {match cost {
                                Some(c) => format!("Run · {c} credit{}", if c == 1 { "" } else { "s" }),
                                None => "Run".to_string(),
                            }}
                        </button>
                    </div>
                    {move || error.get().map(|e| view! { <p class="atl-error" role="alert" data-testid="iterate-error">{e}</p> })}
                </form>
            }
        })
    }
}

#[component]
fn HistoryPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let loading = RwSignal::new(false);
    let load_more = move || {
        let Some(before) = state.history_next.get_untracked() else {
            return;
        };
        if loading.get_untracked() {
            return;
        }
        loading.set(true);
        leptos::task::spawn_local(async move {
            if let Ok(page) = api::history(Some(before)).await {
                state.history.update(|h| {
                    for g in page.generations {
                        if !h.iter().any(|x| x.id == g.id) {
                            h.push(g);
                        }
                    }
                });
                state.history_next.set(page.next_before);
            }
            loading.set(false);
        });
    };
    let on_scroll = move |ev: leptos::ev::Event| {
        if let Some(el) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            if el.scroll_top() + el.client_height() + 80 >= el.scroll_height() {
                load_more();
            }
        }
    };
    view! {
        <aside class="atl-history" on:scroll=on_scroll data-testid="history">
            <h3>"History"</h3>
            <Show when=move || state.history.with(|h| h.is_empty())>
                <p class="atl-muted">"Your generations appear here."</p>
            </Show>
            <For each=move || state.history.get() key=|g| (g.id.clone(), g.status) children=move |g: Generation| {
                // A video's thumbnail is its input image.
                let thumb = g.outputs.first().filter(|o| o.content_type.starts_with("image/")).map(|o| o.url.clone())
                    .or_else(|| g.input_hash().map(|h| format!("/api/assets/{h}")));
                let id = g.id.clone();
                let selected = move || state.current.with(|c| c.as_ref().is_some_and(|c| c.id == id));
                let g2 = g.clone();
                view! {
                    <button class="atl-history-item" class:atl-selected=selected
                        title=g.tool.label() data-testid="history-item" data-status=g.status.as_str()
                        on:click=move |_| state.current.set(Some(g2.clone()))>
                        {thumb.map(|t| view! { <img src=t alt=g.tool.label() loading="lazy"/> })}
                        <span class="atl-history-status">{status_text(&g)}</span>
                    </button>
                }
            }/>
            <Show when=move || state.history_next.get().is_some()>
                <button class="atl-link" on:click=move |_| load_more()>"Load more"</button>
            </Show>
        </aside>
    }
}
