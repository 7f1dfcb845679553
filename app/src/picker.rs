//! "From Gallery": the picker for the main image and every reference slot. Its tabs are the
//! slot's starter library (Starter Faces, Backgrounds, Packshot References, Models), for a Face
//! Reference the faces you made with Create Face, your results (the Gallery's Library) and your
//! uploads. Picking a result makes it an input asset on the server (no download, no
//! re-upload), as the suggestion bar does.

use leptos::prelude::*;

use atelier_core::catalog::LibraryKind;

use crate::api::{self, Asset, GalleryItem, LibraryItem};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tab {
    Starter(LibraryKind),
    Faces,
    Library,
    Uploads,
}

impl Tab {
    fn id(self) -> &'static str {
        match self {
            Tab::Starter(_) => "starter",
            Tab::Faces => "faces",
            Tab::Library => "results",
            Tab::Uploads => "uploads",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Starter(k) => k.label(),
            Tab::Faces => "Recently created faces",
            Tab::Library => "Results",
            Tab::Uploads => "Uploads",
        }
    }

    fn empty(self) -> &'static str {
        match self {
            Tab::Starter(_) => "This installation offers no starter images here yet.",
            Tab::Faces => "No faces yet: faces you make with Create Face appear here.",
            Tab::Library => "No results yet: what you make in the Studio appears here.",
            Tab::Uploads => "No uploads yet.",
        }
    }
}

#[derive(Clone, PartialEq, Debug)]
enum Item {
    Starter(LibraryItem),
    Result(GalleryItem),
    Upload(Asset),
}

/// The "From Gallery" button and its dialog; picking an image calls `on_pick`.
/// `library` is the slot's starter library (first when there is one); `faces` adds the
/// Create Face results, for a Face Reference.
#[component]
pub fn GalleryPicker(
    label: String,
    #[prop(optional)] faces: bool,
    #[prop(optional, into)] library: Option<Signal<Option<LibraryKind>>>,
    on_pick: Callback<Asset>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let library = move || library.and_then(|l| l.get());
    let tabs = move || {
        let mut t: Vec<Tab> = library().map(Tab::Starter).into_iter().collect();
        if faces {
            t.push(Tab::Faces);
        }
        t.extend([Tab::Library, Tab::Uploads]);
        t
    };
    let tab = RwSignal::new(Tab::Library);
    let items = RwSignal::new(Vec::<Item>::new());
    let next = RwSignal::new(None::<f64>);
    let loading = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let load = move |t: Tab, before: Option<f64>| {
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
            // Another tab was chosen meanwhile: its own load fills the grid.
            if tab.get_untracked() != t || !open.get_untracked() {
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
        load(t, None);
    };
    let pick = move |item: Item| match item {
        Item::Starter(i) => {
            loading.set(true);
            error.set(None);
            leptos::task::spawn_local(async move {
                match api::use_library(&i.kind, &i.hash).await {
                    Ok(a) => {
                        on_pick.run(a);
                        open.set(false);
                    }
                    Err(e) => error.set(Some(e.message)),
                }
                loading.set(false);
            });
        }
        Item::Upload(a) => {
            on_pick.run(a);
            open.set(false);
        }
        Item::Result(g) => {
            loading.set(true);
            error.set(None);
            leptos::task::spawn_local(async move {
                match api::asset_from_output(&g.generation_id, g.index).await {
                    Ok(a) => {
                        on_pick.run(a);
                        open.set(false);
                    }
                    Err(e) => error.set(Some(e.message)),
                }
                loading.set(false);
            });
        }
    };
    let dialog = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        if let Some(el) = dialog.get() {
            let _ = el.focus();
        }
    });
    let title = format!("Choose {label} from Gallery");
    view! {
        <span class="atl-pick">
        <button class="atl-chip" data-testid="gallery-open" aria-haspopup="dialog"
            aria-label=title.clone()
            on:click=move |ev: leptos::ev::MouseEvent| { ev.stop_propagation(); open.set(true); choose(tabs()[0]); }>
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
                    <div class="atl-gallery-grid" role="tabpanel" aria-busy=move || loading.get().to_string()>
                        {move || items.get().into_iter().enumerate().map(|(i, item)| {
                            let (src, name, hover) = match &item {
                                Item::Starter(l) => (l.url.clone(), l.name.clone(), l.name.clone()),
                                Item::Result(g) => (g.url.clone(), format!("{} result {}", g.tool_label, i + 1), g.tool_label.clone()),
                                Item::Upload(a) => (format!("/api/assets/{}", a.hash), format!("Upload {}", i + 1), "Upload".to_string()),
                            };
                            let tool = match &item { Item::Result(g) => g.tool.clone(), _ => String::new() };
                            view! {
                                <button class="atl-gallery-item" data-testid="gallery-item" data-tool=tool title=hover
                                    aria-label=name disabled=move || loading.get()
                                    on:click=move |_| pick(item.clone())>
                                    <img src=src alt="" loading="lazy"/>
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
