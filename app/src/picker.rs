//! "From Gallery": the picker for the main image and every reference slot. Its tabs are the
//! slot's starter library (Starter Faces, Backgrounds, Packshot References, Models), for a Face
//! Reference the faces you made with Create Face, your results (the Gallery's Library) and your
//! uploads. Picking a result makes it an input asset on the server (no download, no
//! re-upload), as the suggestion bar does.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use atelier_core::catalog::LibraryKind;

use crate::api::{self, Asset, GalleryItem, LibraryItem};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tab {
    Starter(LibraryKind),
    Faces,
    Library,
    Collections,
    Uploads,
}

impl Tab {
    fn id(self) -> &'static str {
        match self {
            Tab::Starter(_) => "starter",
            Tab::Faces => "faces",
            Tab::Library => "results",
            Tab::Collections => "collections",
            Tab::Uploads => "uploads",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Starter(k) => k.label(),
            Tab::Faces => "Recently created faces",
            Tab::Library => "Results",
            Tab::Collections => "Collections",
            Tab::Uploads => "Uploads",
        }
    }

    fn empty(self) -> &'static str {
        match self {
            Tab::Starter(_) => "This installation offers no starter images here yet.",
            Tab::Faces => "No faces yet: faces you make with Create Face appear here.",
            Tab::Library => "No results yet: what you make in the Studio appears here.",
            Tab::Collections => "No Collections yet: make them in the Gallery's Collections tab.",
            Tab::Uploads => "No uploads yet.",
        }
    }
}

#[derive(Clone, PartialEq, Debug)]
enum Item {
    Starter(LibraryItem),
    Result(GalleryItem),
    Upload(Asset),
    /// A Collection: choosing it shows its images.
    Collection(api::Collection),
}

/// The asset a picked item becomes (a library image or a result is recorded as yours first).
async fn resolve(item: Item) -> Result<Asset, String> {
    match item {
        Item::Starter(i) => api::use_library(&i.kind, &i.hash).await,
        Item::Result(g) => api::asset_from_output(&g.generation_id, g.index).await,
        Item::Upload(a) => Ok(a),
        Item::Collection(_) => Err(api::ApiError {
            status: 0,
            message: "Choose an image inside the Collection.".into(),
        }),
    }
    .map_err(|e| e.message)
}

/// Resolves a picked item, hands its asset on and closes: `busy` meanwhile, `failed` on error.
fn pick_item(
    item: Item,
    busy: RwSignal<bool>,
    open: RwSignal<bool>,
    on_pick: Callback<Asset>,
    failed: impl Fn(String) + 'static,
) {
    busy.set(true);
    leptos::task::spawn_local(async move {
        match resolve(item).await {
            Ok(a) => {
                // The picker (and whoever asked) may be gone by now: then nothing is done.
                let _ = on_pick.try_run(a);
                open.set(false);
            }
            Err(m) => failed(m),
        }
        busy.set(false);
    });
}

/// The "From Gallery" button and its dialog; picking an image calls `on_pick`.
/// `library` is the slot's starter library (first when there is one); `faces` adds the
/// Create Face results, for a Face Reference.
#[component]
pub fn GalleryPicker(
    label: String,
    #[prop(optional)] faces: bool,
    #[prop(optional, into)] library: Option<Signal<Option<LibraryKind>>>,
    /// Opens the dialog from outside too (a quick-pick's "Browse all").
    #[prop(optional)]
    open: Option<RwSignal<bool>>,
    on_pick: Callback<Asset>,
) -> impl IntoView {
    let open = open.unwrap_or_else(|| RwSignal::new(false));
    let library = move || library.and_then(|l| l.get());
    let tabs = move || {
        let mut t: Vec<Tab> = library().map(Tab::Starter).into_iter().collect();
        if faces {
            t.push(Tab::Faces);
        }
        t.extend([Tab::Library, Tab::Collections, Tab::Uploads]);
        t
    };
    let tab = RwSignal::new(Tab::Library);
    let items = RwSignal::new(Vec::<Item>::new());
    let next = RwSignal::new(None::<f64>);
    let loading = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // Each load is numbered; only the latest one's answer is kept (no page appended twice).
    let seq = StoredValue::new(0u64);
    // The Collection open in the Collections tab (its images instead of the list).
    let inside = RwSignal::new(None::<api::Collection>);
    let load = move |t: Tab, before: Option<f64>| {
        seq.update_value(|n| *n += 1);
        let me = seq.get_value();
        loading.set(true);
        error.set(None);
        if before.is_none() {
            items.set(vec![]);
            next.set(None);
        }
        leptos::task::spawn_local(async move {
            let page = match t {
                Tab::Starter(k) => api::library(k.id())
                    .await
                    .map(|v| (v.into_iter().map(Item::Starter).collect::<Vec<_>>(), None)),
                Tab::Uploads => api::uploads(before).await.map(|p| {
                    (
                        p.assets.into_iter().map(Item::Upload).collect::<Vec<_>>(),
                        p.next_before,
                    )
                }),
                Tab::Collections => match inside.get_untracked() {
                    None => api::collections()
                        .await
                        .map(|v| (v.into_iter().map(Item::Collection).collect(), None)),
                    Some(c) => {
                        let filter = api::GalleryFilter {
                            collection: Some(c.id),
                            media: atelier_core::gallery::Media::Image,
                            ..Default::default()
                        };
                        // `before` carries the next page's number here.
                        let page = before.map_or(1, |p| p as u32);
                        api::library_page(&filter, page).await.map(|p| {
                            let more = (p.page < p.pages).then_some(f64::from(p.page + 1));
                            (
                                p.entries
                                    .into_iter()
                                    .flat_map(|g| {
                                        let label = g.label();
                                        g.outputs
                                            .into_iter()
                                            .map(move |o| {
                                                Item::Result(GalleryItem {
                                                    generation_id: g.id.clone(),
                                                    index: o.index,
                                                    tool: g.tool,
                                                    tool_label: label.to_string(),
                                                    url: o.url.clone(),
                                                    thumb_url: o.thumb_url.clone(),
                                                    content_type: o.content_type.clone(),
                                                    width: o.width,
                                                    height: o.height,
                                                    created_at: g.created_at,
                                                })
                                            })
                                            .collect::<Vec<_>>()
                                    })
                                    .collect(),
                                more,
                            )
                        })
                    }
                },
                Tab::Library | Tab::Faces => {
                    api::gallery((t == Tab::Faces).then_some("create-face"), before)
                        .await
                        .map(|p| {
                            (
                                p.items.into_iter().map(Item::Result).collect(),
                                p.next_before,
                            )
                        })
                }
            };
            // Another load was started meanwhile (another tab, a reopening), or the picker is
            // gone: that one fills the grid.
            if seq.try_get_value() != Some(me) || open.try_get_untracked() != Some(true) {
                return;
            }
            match page {
                Ok((v, n)) => {
                    items.update(|i| i.extend(v));
                    next.set(n);
                }
                Err(e) => error.set(Some(e.message)),
            }
            loading.set(false);
        });
    };
    let choose = move |t: Tab| {
        tab.set(t);
        inside.set(None);
        load(t, None);
    };
    let pick = move |item: Item| {
        error.set(None);
        if let Item::Collection(c) = item {
            inside.set(Some(c));
            load(Tab::Collections, None);
            return;
        }
        pick_item(item, loading, open, on_pick, move |m| error.set(Some(m)));
    };
    // Opening (by its button or from outside) shows the first tab; closing gives the focus back
    // to the button.
    let opener = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |was: Option<bool>| {
        let now = open.get();
        if now && was != Some(true) {
            choose(untrack(tabs)[0]);
        }
        if !now && was == Some(true) {
            if let Some(b) = opener.get_untracked() {
                let _ = b.focus();
            }
        }
        now
    });
    let dialog = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        if let Some(el) = dialog.get() {
            let _ = el.focus();
        }
    });
    let title = format!("Choose {label} from Gallery");
    view! {
        <span class="atl-pick">
        <button class="atl-chip" data-testid="gallery-open" aria-haspopup="dialog" node_ref=opener
            aria-label=title.clone()
            on:click=move |ev: leptos::ev::MouseEvent| { ev.stop_propagation(); open.set(true); }>
            "From Gallery"
        </button>
        {move || open.get().then(|| {
            let tabs = tabs();
            view! {
                <div class="atl-dialog-backdrop" on:click=move |_| open.set(false)></div>
                <div class="atl-dialog atl-gallery" role="dialog" aria-modal="true" aria-label=title.clone()
                    data-testid="gallery-dialog" tabindex="-1" node_ref=dialog
                    on:keydown=move |e: web_sys::KeyboardEvent| if e.key() == "Escape" { open.set(false) }>
                    <h2>{title.clone()}</h2>
                    <div class="atl-tabs" role="tablist" aria-label="Gallery">
                        {tabs.into_iter().map(|t| view! {
                            <button role="tab" class="atl-tab" data-testid=format!("gallery-tab-{}", t.id())
                                aria-selected=move || (tab.get() == t).to_string()
                                on:click=move |_| choose(t)>{t.label()}</button>
                        }).collect_view()}
                    </div>
                    {move || inside.get().map(|c| view! {
                        <p class="atl-g-crumb">
                            <button class="atl-link" data-testid="picker-collections-back" on:click=move |_| choose(Tab::Collections)>"Collections"</button>
                            " / " <strong>{c.name}</strong>
                        </p>
                    })}
                    <div class="atl-gallery-grid" role="tabpanel" aria-busy=move || loading.get().to_string()
                        on:scroll=move |ev| {
                            // Near the end: the next page.
                            let Some(el) = ev.target().and_then(|t| t.dyn_into::<web_sys::Element>().ok()) else { return };
                            if el.scroll_top() + el.client_height() + 80 >= el.scroll_height() && !loading.get_untracked() {
                                if let Some(b) = next.get_untracked() { load(tab.get_untracked(), Some(b)); }
                            }
                        }>
                        {move || items.get().into_iter().enumerate().map(|(i, item)| {
                            let (src, name, hover) = match &item {
                                Item::Starter(l) => (l.url.clone(), l.name.clone(), l.name.clone()),
                                Item::Result(g) => (g.thumb_url.clone().unwrap_or_else(|| g.url.clone()), format!("{} result {}", g.tool_label, i + 1), g.tool_label.clone()),
                                Item::Collection(c) => (
                                    c.cover.first().cloned().unwrap_or_default(),
                                    format!("Collection {} ({} items)", c.name, c.count),
                                    c.name.clone(),
                                ),
                                Item::Upload(a) => (format!("/api/assets/{}", a.hash), format!("Upload {}", i + 1), "Upload".to_string()),
                            };
                            let tool = match &item { Item::Result(g) => g.tool.map_or("import", |t| t.id()), _ => "" };
                            let caption = match &item {
                                Item::Collection(c) => Some(format!("{} · {}", c.name, c.count)),
                                _ => None,
                            };
                            view! {
                                <button class="atl-gallery-item" data-testid="gallery-item" data-tool=tool title=hover
                                    aria-label=name disabled=move || loading.get()
                                    on:click=move |_| pick(item.clone())>
                                    <img src=src alt="" loading="lazy"/>
                                    {caption.map(|c| view! { <span class="atl-gallery-caption">{c}</span> })}
                                </button>
                            }
                        }).collect_view()}
                    </div>
                    {move || (!loading.get() && error.get().is_none() && items.with(Vec::is_empty))
                        .then(|| view! { <p class="atl-muted" data-testid="gallery-empty">{tab.get().empty()}</p> })}
                    {move || loading.get().then(|| view! { <p class="atl-muted" aria-live="polite">"Loading…"</p> })}
                    {move || error.get().map(|m| view! { <p class="atl-error" role="alert" data-testid="gallery-error">{m}</p> })}
                    <div class="atl-actions">
                        {move || next.get().filter(|_| !loading.get()).map(|b| view! {
                            <button class="atl-chip" data-testid="gallery-more" on:click=move |_| load(tab.get_untracked(), Some(b))>"Load more"</button>
                        })}
                        <button class="atl-chip" data-testid="gallery-close" on:click=move |_| open.set(false)>"Cancel"</button>
                    </div>
                </div>
            }
        })}
        </span>
    }
}

/// A reference slot's popover: Upload, a quick-pick strip (the slot's starter library, else your
/// latest uploads) and "Browse all" (the Gallery dialog). `input_id` is the slot's file input.
#[component]
pub fn QuickPick(
    /// The slot's name ("Face Reference"), and the chip's text.
    label: String,
    chip: String,
    input_id: String,
    library: Signal<Option<LibraryKind>>,
    disabled: Signal<bool>,
    on_pick: Callback<Asset>,
    on_browse: Callback<()>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let items = RwSignal::new(None::<Result<Vec<Item>, String>>);
    let busy = RwSignal::new(false);
    let toggle = move |_| {
        let now = !open.get_untracked();
        open.set(now);
        if now {
            items.set(None);
            let kind = library.get_untracked();
            leptos::task::spawn_local(async move {
                let r = match kind {
                    Some(k) => api::library(k.id())
                        .await
                        .map(|v| v.into_iter().take(8).map(Item::Starter).collect()),
                    None => api::uploads(None)
                        .await
                        .map(|p| p.assets.into_iter().take(8).map(Item::Upload).collect()),
                };
                items.set(Some(r.map_err(|e| e.message)));
            });
        }
    };
    let pick =
        move |item: Item| pick_item(item, busy, open, on_pick, move |m| items.set(Some(Err(m))));
    let strip_name = move || {
        library
            .get()
            .map_or("Your uploads".to_string(), |k| k.label().to_string())
    };
    let chip_ref = NodeRef::<leptos::html::Button>::new();
    let browse_ref = NodeRef::<leptos::html::Button>::new();
    // Focus moves into the popover when it opens.
    Effect::new(move |_| {
        if let Some(b) = browse_ref.get() {
            let _ = b.focus();
        }
    });
    view! {
        <span class="atl-quick" on:keydown=move |e: web_sys::KeyboardEvent| {
            if e.key() == "Escape" && open.get_untracked() {
                open.set(false);
                if let Some(b) = chip_ref.get_untracked() { let _ = b.focus(); }
            }
        }>
            <button class="atl-chip atl-ref-add" data-testid="ref-open" aria-haspopup="dialog" node_ref=chip_ref
                aria-expanded=move || open.get().to_string() disabled=disabled on:click=toggle>{chip}</button>
            {move || open.get().then(|| view! {
                <div class="atl-popover atl-quick-pop" role="dialog" aria-label=label.clone() data-testid="ref-popover">
                    <label class="atl-chip" for=input_id.clone() on:click=move |_| open.set(false)>"Upload"</label>
                    <p class="atl-quick-name">{strip_name}</p>
                    <div class="atl-quick-strip">
                        {move || match items.get() {
                            None => view! { <p class="atl-muted">"Loading…"</p> }.into_any(),
                            Some(Err(m)) => view! { <p class="atl-error" role="alert">{m}</p> }.into_any(),
                            Some(Ok(v)) if v.is_empty() => view! { <p class="atl-muted">"Nothing here yet."</p> }.into_any(),
                            Some(Ok(v)) => v.into_iter().enumerate().map(|(i, item)| {
                                let (src, name) = match &item {
                                    Item::Starter(l) => (l.url.clone(), l.name.clone()),
                                    Item::Upload(a) => (format!("/api/assets/{}", a.hash), format!("Upload {}", i + 1)),
                                    Item::Result(g) => (g.thumb_url.clone().unwrap_or_else(|| g.url.clone()), g.tool_label.clone()),
                                    Item::Collection(c) => (c.cover.first().cloned().unwrap_or_default(), c.name.clone()),
                                };
                                view! {
                                    <button class="atl-recent-item" data-testid="quick-pick" title=name.clone() aria-label=name
                                        disabled=move || busy.get() on:click=move |_| pick(item.clone())>
                                        <img src=src alt="" loading="lazy"/>
                                    </button>
                                }
                            }).collect_view().into_any(),
                        }}
                    </div>
                    <button class="atl-link" data-testid="ref-browse" node_ref=browse_ref on:click=move |_| { open.set(false); on_browse.run(()); }>"Browse all"</button>
                </div>
            })}
        </span>
    }
}
