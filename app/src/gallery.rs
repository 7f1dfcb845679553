//! The Gallery: its Library (`/gallery`: every completed Studio result, date-grouped, newest
//! first, a page at a time) and its Collections (`/gallery/collections`, one at
//! `/gallery/collections/:id`). The filters, the page and the open item live in the address
//! (`?tool=upscale&liked=1&page=2&item=<id>`), so a filtered view can be shared, survives a
//! reload, and Back closes the detail view. Bulk actions take the selected entries, or with
//! Select All every entry the filters show; the ZIP download is a form POST, so the browser
//! streams it to disk.

use std::collections::HashSet;

use atelier_core::gallery::{Filter, Media};
use atelier_core::Tool;
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use leptos_router::NavigateOptions;
use wasm_bindgen::JsCast;

use crate::api::{self, Collection, Entry, Selection};

/// The Library's address state.
#[derive(Clone, Debug, PartialEq, Default)]
struct View {
    filter: Filter,
    page: u32,
    item: Option<String>,
}

impl View {
    fn url(&self, base: &str) -> String {
        let mut f = self.filter.clone();
        // A Collection is in the path, not the query.
        f.collection = None;
        let mut q = api::filter_query(&f);
        let mut add = |k: &str, v: &str| {
            if !q.is_empty() {
                q.push('&');
            }
            q.push_str(&format!("{k}={v}"));
        };
        if self.page > 1 {
            add("page", &self.page.to_string());
        }
        if let Some(i) = &self.item {
            add("item", i);
        }
        if q.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{q}")
        }
    }
}

/// "Today", "Yesterday" or "6 December 2026", in the viewer's time zone.
fn day_label(ms: f64) -> String {
    let d = js_sys::Date::new(&ms.into());
    let key = |d: &js_sys::Date| (d.get_full_year(), d.get_month(), d.get_date());
    let now = js_sys::Date::new_0();
    let yesterday = js_sys::Date::new(&(now.get_time() - 86_400_000.0).into());
    if key(&d) == key(&now) {
        return "Today".into();
    }
    if key(&d) == key(&yesterday) {
        return "Yesterday".into();
    }
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    format!(
        "{} {} {}",
        d.get_date(),
        MONTHS[d.get_month() as usize % 12],
        d.get_full_year()
    )
}

/// "6 December 2026, 14:03".
fn date_time(ms: f64) -> String {
    let d = js_sys::Date::new(&ms.into());
    format!(
        "{}, {:02}:{:02}",
        day_label(ms),
        d.get_hours(),
        d.get_minutes()
    )
}

/// Entries grouped by day, in order.
fn by_day(entries: &[Entry]) -> Vec<(String, Vec<Entry>)> {
    let mut groups: Vec<(String, Vec<Entry>)> = vec![];
    for g in entries {
        let day = day_label(g.created_at);
        match groups.last_mut() {
            Some((d, list)) if *d == day => list.push(g.clone()),
            _ => groups.push((day, vec![g.clone()])),
        }
    }
    groups
}

/// The Studio address that opens `next` with this output in the right slot (`from` names the
/// tool that made it; an imported image has none).
fn use_in_url(g: &Entry, index: u32, next: Tool) -> String {
    let from = g
        .tool
        .map_or(String::new(), |t| format!("&from={}", t.id()));
    format!("/studio/{}?carry={}.{index}{from}", next.id(), g.id)
}

/// Submits a form POST to the ZIP download (the browser saves the streamed answer).
fn submit_download(sel: &Selection, format: Option<&str>) {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Ok(form) = doc
        .create_element("form")
        .map(|e| e.unchecked_into::<web_sys::HtmlFormElement>())
    else {
        return;
    };
    form.set_method("post");
    form.set_action("/api/gallery/download");
    let mut fields = sel.fields();
    if let Some(f) = format {
        fields.push(("format".into(), f.into()));
    }
    for (k, v) in fields {
        if let Ok(i) = doc.create_element("input") {
            let _ = i.set_attribute("type", "hidden");
            let _ = i.set_attribute("name", &k);
            let _ = i.set_attribute("value", &v);
            let _ = form.append_child(&i);
        }
    }
    if let Some(body) = doc.body() {
        let _ = body.append_child(&form);
        let _ = form.submit();
        form.remove();
    }
}

/// The Gallery's two tabs.
#[component]
fn Tabs(collections: bool) -> impl IntoView {
    view! {
        <nav class="atl-g-tabs" aria-label="Gallery">
            <a href="/gallery" data-testid="tab-library" aria-current=(!collections).then_some("page")>"Library"</a>
            <a href="/gallery/collections" data-testid="tab-collections" aria-current=collections.then_some("page")>"Collections"</a>
        </nav>
    }
}

/// A shared handle on the page's data: refetch after a change.
#[derive(Clone, Copy)]
struct Shared {
    collections: LocalResource<Result<Vec<Collection>, api::ApiError>>,
    error: RwSignal<Option<String>>,
    notice: RwSignal<Option<String>>,
}

impl Shared {
    fn new() -> Self {
        Shared {
            collections: LocalResource::new(api::collections),
            error: RwSignal::new(None),
            notice: RwSignal::new(None),
        }
    }

    fn list(&self) -> Vec<Collection> {
        self.collections
            .get()
            .and_then(Result::ok)
            .unwrap_or_default()
    }
}

impl View {
    /// What the address asks for: the page, the item open, the filters and the Collection.
    fn of(q: &leptos_router::params::ParamsMap, collection: Option<String>) -> View {
        let page = q
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1);
        let item = q.get("item");
        let pairs: Vec<(String, String)> = q
            .clone()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut filter =
            Filter::parse(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))).unwrap_or_default();
        filter.collection = collection;
        View { filter, page, item }
    }
}

/// Asks for the first Library page ahead of the Gallery's own module (run by the lazy route's
/// `data()`, in the main module): [`Library`]'s first request picks the answer up. Only for the
/// plain `/gallery` (where the Gallery link leads); a filtered address asks when the page loads.
/// Parsing its filters here (`View::of`) measured +0.13 KB of first load: a cheap next step.
pub fn fetch_first_page() {
    if use_query_map().with_untracked(|q| q.into_iter().next().is_none())
        && use_params_map().with_untracked(|p| p.get("id").is_none())
    {
        api::fetch_early(api::library_url(&Filter::default(), 1));
    }
}

/// `/gallery` and `/gallery/collections/:id`.
#[component]
pub fn Library() -> impl IntoView {
    let query = use_query_map();
    let params = use_params_map();
    let navigate = use_navigate();
    let collection_id = Memo::new(move |_| params.read().get("id"));
    let base = move || match collection_id.get() {
        Some(id) => format!("/gallery/collections/{id}"),
        None => "/gallery".to_string(),
    };
    let view_state = Memo::new(move |_| View::of(&query.get(), collection_id.get()));
    let go = {
        let navigate = navigate.clone();
        move |v: View, replace: bool| {
            navigate(
                &v.url(&base()),
                NavigateOptions {
                    replace,
                    scroll: false,
                    ..Default::default()
                },
            )
        }
    };
    let go = StoredValue::new_local(go);
    let reload = RwSignal::new(0u32);
    let page = LocalResource::new(move || {
        let v = view_state.get();
        reload.track();
        async move { api::library_page(&v.filter, v.page).await }
    });
    let shared = Shared::new();
    provide_context(shared);
    let selecting = RwSignal::new(false);
    let selected = RwSignal::new(HashSet::<String>::new());
    let all = RwSignal::new(false);
    let menu = RwSignal::new(None::<(f64, f64, Entry)>);
    let filters_open = RwSignal::new(false);
    let confirm_delete = RwSignal::new(false);

    let entries = move || {
        page.get()
            .and_then(Result::ok)
            .map(|p| p.entries)
            .unwrap_or_default()
    };
    let total = move || page.get().and_then(Result::ok).map_or(0, |p| p.total);
    let pages = move || page.get().and_then(Result::ok).map_or(1, |p| p.pages);
    let changed = move || {
        reload.update(|n| *n += 1);
        shared.collections.refetch();
    };
    let selection = move || {
        if all.get_untracked() {
            Selection::All(view_state.get_untracked().filter)
        } else {
            Selection::Ids(selected.get_untracked().into_iter().collect())
        }
    };
    let cancel_selection = move || {
        selecting.set(false);
        all.set(false);
        selected.set(HashSet::new());
        confirm_delete.set(false);
    };
    let open_item = move |id: String| {
        let mut v = view_state.get_untracked();
        v.item = Some(id);
        let _ = go.try_with_value(|go| go(v, false));
    };
    let set_filter = move |f: Filter| {
        let v = View {
            filter: f,
            page: 1,
            item: None,
        };
        cancel_selection();
        let _ = go.try_with_value(|go| go(v, false));
    };
    let close_item = move || {
        let mut v = view_state.get_untracked();
        v.item = None;
        let _ = go.try_with_value(|go| go(v, false));
    };
    let to_page = move |p: u32| {
        let mut v = view_state.get_untracked();
        v.page = p;
        v.item = None;
        let _ = go.try_with_value(|go| go(v, false));
    };

    let collection_name = move || {
        collection_id.get().map(|id| {
            shared
                .list()
                .into_iter()
                .find(|c| c.id == id)
                .map_or_else(|| "Collection".to_string(), |c| c.name)
        })
    };
    let count_label = move || {
        let n = if all.get() {
            total() as usize
        } else {
            selected.get().len()
        };
        format!("{n} selected")
    };
    let bulk_delete = move |_| {
        let sel = selection();
        leptos::task::spawn_local(async move {
            match api::delete_selection(&sel).await {
                Ok(ids) => {
                    shared.notice.set(Some(format!(
                        "Deleted {} item{}.",
                        ids.len(),
                        if ids.len() == 1 { "" } else { "s" }
                    )));
                    cancel_selection();
                    changed();
                }
                Err(e) => shared.error.set(Some(e.message)),
            }
        });
    };
    let bulk_add = move |collection: String| {
        let sel = selection();
        leptos::task::spawn_local(async move {
            match api::add_to_collection(&collection, &sel).await {
                Ok(n) => {
                    shared
                        .notice
                        .set(Some(format!("Added; the Collection now holds {n}.")));
                    cancel_selection();
                    shared.collections.refetch();
                }
                Err(e) => shared.error.set(Some(e.message)),
            }
        });
    };
    let nothing_selected = move || !all.get() && selected.get().is_empty();
    // A tile clicked in select mode. Under Select All, it leaves Select All: the page's other
    // entries stay selected, this one not.
    let toggle = Callback::new(move |id: String| {
        if all.get_untracked() {
            all.set(false);
            selected.set(
                untrack(entries)
                    .into_iter()
                    .map(|e| e.id)
                    .filter(|x| *x != id)
                    .collect(),
            );
        } else {
            selected.update(|s| {
                if !s.remove(&id) {
                    s.insert(id);
                }
            });
        }
    });
    // Import: files picked (many at once, or a folder's) or dropped on the page, one after the
    // other; files that are not PNG, JPEG or WebP are skipped and named.
    let importing = RwSignal::new(None::<(usize, usize)>);
    let dragging = RwSignal::new(false);
    let import_files = move |files: Vec<web_sys::File>| {
        let (images, skipped): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| {
            matches!(
                f.type_().as_str(),
                "image/png" | "image/jpeg" | "image/webp"
            )
        });
        let mut failed: Vec<String> = skipped
            .iter()
            .filter(|f| !f.name().starts_with('.'))
            .map(|f| format!("{}: not a PNG, JPEG or WebP image", f.name()))
            .collect();
        if images.is_empty() {
            shared.error.set(Some(if failed.is_empty() {
                "Choose PNG, JPEG or WebP images to import.".to_string()
            } else {
                format!("Nothing imported — {}.", failed.join("; "))
            }));
            return;
        }
        let total = images.len();
        importing.set(Some((0, total)));
        shared.error.set(None);
        leptos::task::spawn_local(async move {
            let mut ok = 0;
            for (i, f) in images.into_iter().enumerate() {
                match api::import(&f).await {
                    Ok(_) => ok += 1,
                    Err(e) => failed.push(format!("{}: {}", f.name(), e.message)),
                }
                importing.set(Some((i + 1, total)));
            }
            importing.set(None);
            shared.notice.set(Some(format!(
                "Imported {ok} image{}: they are marked as imported, newest first.",
                if ok == 1 { "" } else { "s" }
            )));
            if !failed.is_empty() {
                shared
                    .error
                    .set(Some(format!("Not imported — {}.", failed.join("; "))));
            }
            changed();
        });
    };
    let from_list = |list: Option<web_sys::FileList>| -> Vec<web_sys::File> {
        list.map(|l| (0..l.length()).filter_map(|i| l.get(i)).collect())
            .unwrap_or_default()
    };
    let on_pick = move |e: leptos::ev::Event| {
        let input: Option<web_sys::HtmlInputElement> = e.target().and_then(|t| t.dyn_into().ok());
        if let Some(input) = input {
            import_files(from_list(input.files()));
            input.set_value("");
        }
    };
    let on_key = window_event_listener(leptos::ev::keydown, move |e| {
        if e.key() == "Escape" {
            menu.set(None);
            filters_open.set(false);
        }
    });
    on_cleanup(move || on_key.remove());

    view! {
        <main class="atl-gallery-page" class:atl-dragging=move || dragging.get() data-testid="gallery-page"
            on:click=move |_| menu.set(None)
            on:dragover=move |e: leptos::ev::DragEvent| { e.prevent_default(); dragging.set(true); }
            on:dragleave=move |_| dragging.set(false)
            on:drop=move |e: leptos::ev::DragEvent| {
                e.prevent_default();
                dragging.set(false);
                import_files(from_list(e.data_transfer().and_then(|d| d.files())));
            }>
            <header class="atl-g-head">
                <h1>"Gallery"</h1>
                <Tabs collections=false/>
                <span class="atl-spacer"></span>
                <button class="atl-chip" data-testid="filters" aria-expanded=move || filters_open.get().to_string()
                    on:click=move |e| { e.stop_propagation(); filters_open.update(|o| *o = !*o); }>
                    {move || {
                        let n = view_state.get().filter.query().iter().filter(|(k, _)| *k != "collection").count();
                        if n > 0 { format!("Filters ({n})") } else { "Filters".to_string() }
                    }}
                </button>
                <label class="atl-chip atl-g-import" title="Add your own images (PNG, JPEG, WebP) to the Library; drop files here too">
                    {move || match importing.get() {
                        Some((done, total)) => format!("Importing {done} of {total}…"),
                        None => "Import".to_string(),
                    }}
                    <input type="file" class="atl-visually-hidden" data-testid="import-input" multiple accept="image/png,image/jpeg,image/webp"
                        disabled=move || importing.get().is_some() on:change=on_pick/>
                </label>
                <label class="atl-chip atl-g-import" title="Import every image of a folder">
                    "Import folder"
                    <input type="file" class="atl-visually-hidden" data-testid="import-folder" multiple prop:webkitdirectory=true
                        disabled=move || importing.get().is_some() on:change=on_pick/>
                </label>
                <button class="atl-chip" data-testid="select-mode" aria-pressed=move || selecting.get().to_string()
                    on:click=move |_| if selecting.get_untracked() { cancel_selection() } else { selecting.set(true) }>
                    {move || if selecting.get() { "Cancel Selection" } else { "Select" }}
                </button>
            </header>
            {move || collection_name().map(|name| view! {
                <p class="atl-g-crumb"><a href="/gallery/collections">"Collections"</a>" / "<strong data-testid="collection-title">{name}</strong></p>
            })}
            {move || filters_open.get().then(|| {
                let f = view_state.get_untracked().filter;
                view! { <Filters filter=f on_change=Callback::new(set_filter)/> }
            })}
            {move || selecting.get().then(|| view! {
                <div class="atl-g-bulk" role="toolbar" aria-label="Selected items" data-testid="bulk-bar">
                    <span data-testid="selected-count">{count_label}</span>
                    <button class="atl-chip" data-testid="select-all" on:click=move |_| { all.set(true); }>
                        {move || format!("Select All ({})", total())}
                    </button>
                    <button class="atl-chip" data-testid="bulk-download" disabled=nothing_selected
                        on:click=move |_| submit_download(&selection(), None)>"Download"</button>
                    <button class="atl-chip" data-testid="bulk-export" disabled=nothing_selected
                        title="A ZIP of WebP files at 95% quality"
                        on:click=move |_| submit_download(&selection(), Some("webp"))>"Export for Web"</button>
                    <label class="atl-g-inline">
                        <span class="atl-muted">"Add to"</span>
                        <select data-testid="bulk-collection" disabled=nothing_selected
                            on:change=move |e| {
                                let v = event_target_value(&e);
                                if !v.is_empty() { bulk_add(v); }
                            }>
                            <option value="">"Collection…"</option>
                            {move || shared.list().into_iter().map(|c| view! { <option value=c.id.clone()>{c.name.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                    {move || if confirm_delete.get() {
                        view! {
                            <span class="atl-g-confirm" role="alert">
                                {move || format!("Delete {} for good?", count_label().replace(" selected", ""))}
                                <button class="atl-chip atl-danger" data-testid="bulk-delete-confirm" on:click=bulk_delete>"Delete"</button>
                                <button class="atl-chip" on:click=move |_| confirm_delete.set(false)>"Keep"</button>
                            </span>
                        }.into_any()
                    } else {
                        view! {
                            <button class="atl-chip atl-danger" data-testid="bulk-delete" disabled=nothing_selected
                                on:click=move |_| confirm_delete.set(true)>"Delete"</button>
                        }.into_any()
                    }}
                    <button class="atl-link" data-testid="cancel-selection" on:click=move |_| cancel_selection()>"Cancel Selection"</button>
                </div>
            })}
            {move || shared.notice.get().map(|m| view! { <p class="atl-g-notice" role="status" data-testid="gallery-notice">{m}</p> })}
            {move || shared.error.get().map(|m| view! { <p class="atl-error" role="alert" data-testid="gallery-error">{m}</p> })}
            {move || page.get().and_then(Result::err).map(|e| view! { <p class="atl-error" role="alert">{e.message}</p> })}
            <div class="atl-g-days" data-testid="gallery-grid">
                {move || {
                    let list = entries();
                    if page.get().is_none() {
                        return view! { <p class="atl-hint">"Loading…"</p> }.into_any();
                    }
                    if list.is_empty() {
                        let v = view_state.get();
                        if v.page > 1 {
                            let first = View { page: 1, item: None, ..v.clone() }.url(&base());
                            return view! {
                                <p class="atl-hint" data-testid="gallery-empty">
                                    {format!("There is no page {} here. ", v.page)}
                                    <a href=first>"Go to the first page"</a>
                                </p>
                            }.into_any();
                        }
                        let msg = if v.filter.collection.is_some() && !v.filter.query().iter().any(|(k, _)| *k != "collection") {
                            "This Collection is empty: add items from the Library (Select, or right-click an item)."
                        } else if v.filter.is_set() {
                            "No results match these filters."
                        } else {
                            "Nothing here yet: every image and video you make in the Studio appears here."
                        };
                        return view! { <p class="atl-hint" data-testid="gallery-empty">{msg}</p> }.into_any();
                    }
                    by_day(&list).into_iter().map(|(day, items)| view! {
                        <section class="atl-g-day">
                            <h2>{day}</h2>
                            <div class="atl-g-grid">
                                {items.into_iter().map(|g| view! {
                                    <Tile g=g selecting=selecting selected=selected all=all menu=menu
                                        open=Callback::new(open_item) on_toggle=toggle/>
                                }).collect_view()}
                            </div>
                        </section>
                    }).collect_view().into_any()
                }}
            </div>
            <nav class="atl-g-pages" aria-label="Pages" data-testid="pagination">
                <button class="atl-chip" data-testid="prev-page" disabled=move || { view_state.get().page <= 1 }
                    on:click=move |_| to_page(view_state.get_untracked().page - 1)>"Previous"</button>
                <span data-testid="page-label">{move || format!("Page {} of {}", view_state.get().page, pages())}</span>
                <button class="atl-chip" data-testid="next-page" disabled=move || { view_state.get().page >= pages() }
                    on:click=move |_| to_page(view_state.get_untracked().page + 1)>"Next"</button>
            </nav>
            {move || menu.get().map(|(x, y, g)| view! { <ContextMenu x=x y=y g=g collection=collection_id.get_untracked() on_done=Callback::new(move |_| { menu.set(None); changed(); })/> })}
            {move || view_state.get().item.map(|id| {
                let known = entries().into_iter().find(|g| g.id == id);
                view! { <Detail id=id known=known on_close=Callback::new(move |_| close_item())
                    on_changed=Callback::new(move |_| changed())/> }
            })}
        </main>
    }
}

#[component]
fn Filters(filter: Filter, on_change: Callback<Filter>) -> impl IntoView {
    let f = StoredValue::new(filter.clone());
    let set = move |change: &dyn Fn(&mut Filter)| {
        let mut next = f.get_value();
        change(&mut next);
        f.set_value(next.clone());
        on_change.run(next);
    };
    let tool = filter.tool.map_or(String::new(), |t| t.id().to_string());
    let media = filter.media.id();
    view! {
        <div class="atl-g-filters" data-testid="filter-panel" on:click=|e| e.stop_propagation()>
            <label class="atl-field">
                <span>"Tool"</span>
                <select data-testid="filter-tool" on:change=move |e| {
                    let v = event_target_value(&e);
                    set(&|f| f.tool = Tool::from_id(&v));
                }>
                    <option value="" selected=tool.is_empty()>"All tools"</option>
                    {Tool::ALL.into_iter().map(|t| view! {
                        <option value=t.id() selected=tool == t.id()>{t.label()}</option>
                    }).collect_view()}
                </select>
            </label>
            <label class="atl-field">
                <span>"Media"</span>
                <select data-testid="filter-media" on:change=move |e| {
                    let v = event_target_value(&e);
                    set(&|f| f.media = match v.as_str() { "image" => Media::Image, "video" => Media::Video, _ => Media::All });
                }>
                    <option value="all" selected=media == "all">"Images and videos"</option>
                    <option value="image" selected=media == "image">"Images"</option>
                    <option value="video" selected=media == "video">"Videos"</option>
                </select>
            </label>
            <label class="atl-g-check">
                <input type="checkbox" data-testid="filter-liked" checked=filter.liked
                    on:change=move |e| { let on = event_target_checked(&e); set(&|f| f.liked = on); }/>
                " Liked only"
            </label>
            {filter.is_set().then(|| view! {
                <button class="atl-link" data-testid="clear-filters" on:click=move |_| set(&|f| { let c = f.collection.take(); *f = Filter { collection: c, ..Default::default() }; })>"Clear filters"</button>
            })}
        </div>
    }
}

/// One Library entry: its first output (the others a click on the arrows away), the tool on
/// hover, the heart when liked; a checkbox in select mode; right-click or a long press for the
/// context menu.
#[component]
fn Tile(
    g: Entry,
    selecting: RwSignal<bool>,
    selected: RwSignal<HashSet<String>>,
    all: RwSignal<bool>,
    menu: RwSignal<Option<(f64, f64, Entry)>>,
    open: Callback<String>,
    /// Selects or unselects it (select mode).
    on_toggle: Callback<String>,
) -> impl IntoView {
    let shown = RwSignal::new(0usize);
    let n = g.outputs.len();
    let id = g.id.clone();
    let label = g.label();
    let is_selected = {
        let id = id.clone();
        Memo::new(move |_| all.get() || selected.with(|s| s.contains(&id)))
    };
    let toggle = {
        let id = id.clone();
        move || on_toggle.run(id.clone())
    };
    let activate = {
        let (id, toggle) = (id.clone(), toggle.clone());
        move || {
            if selecting.get_untracked() {
                toggle();
            } else {
                open.run(id.clone());
            }
        }
    };
    let press = StoredValue::new_local(None::<i32>);
    let g_menu = g.clone();
    let g_press = g.clone();
    let outputs = g.outputs.clone();
    let activate2 = activate.clone();
    view! {
        <div class="atl-g-tile" class:atl-selected=move || is_selected.get() role="button" tabindex="0"
            data-testid="gallery-item" data-id=id.clone() data-tool=g.tool.map_or("import", |t| t.id())
            title=format!("{label} · {}", date_time(g.created_at))
            aria-label=format!("{label} result, {}", date_time(g.created_at))
            on:click=move |e| { e.stop_propagation(); activate() }
            on:keydown=move |e| if e.key() == "Enter" || e.key() == " " { e.prevent_default(); activate2() }
            on:contextmenu=move |e| {
                e.prevent_default();
                e.stop_propagation();
                menu.set(Some((e.client_x() as f64, e.client_y() as f64, g_menu.clone())));
            }
            on:pointerdown=move |e: leptos::ev::PointerEvent| {
                if e.pointer_type() == "touch" {
                    let (x, y, g) = (e.client_x() as f64, e.client_y() as f64, g_press.clone());
                    // The grid may be redrawn (a live update) before the timer fires: `try_`
                    // reads and writes do nothing once the tile or the page is gone.
                    let cb = wasm_bindgen::closure::Closure::once_into_js(move || {
                        let _ = menu.try_set(Some((x, y, g)));
                    });
                    let t = web_sys::window().and_then(|w| w.set_timeout_with_callback_and_timeout_and_arguments_0(cb.unchecked_ref(), 550).ok());
                    let _ = press.try_set_value(t);
                }
            }
            on:pointerup=move |_| if let (Some(Some(t)), Some(w)) = (press.try_get_value(), web_sys::window()) { w.clear_timeout_with_handle(t); let _ = press.try_set_value(None); }
            on:pointermove=move |_| if let (Some(Some(t)), Some(w)) = (press.try_get_value(), web_sys::window()) { w.clear_timeout_with_handle(t); let _ = press.try_set_value(None); }
        >
            {move || {
                let o = outputs.get(shown.get().min(n.saturating_sub(1))).cloned();
                o.map(|o| if o.is_video() {
                    view! {
                    // The poster frame when there is one: nothing of the clip loads until it plays.
                    <video src=o.url.clone() poster=o.thumb_url.clone() muted playsinline data-testid="tile-video"
                        preload=if o.thumb_url.is_some() { "none" } else { "metadata" }></video>
                }.into_any()
                } else {
                    view! { <img src=o.preview_url().to_string() loading="lazy" decoding="async" alt=format!("{label} result")/> }.into_any()
                })
            }}
            <span class="atl-g-tool">{label}</span>
            {g.tool.is_none().then(|| view! { <span class="atl-g-imported" data-testid="imported-mark">"Imported"</span> })}
            {g.liked.then(|| view! { <span class="atl-g-heart" aria-label="Liked" data-testid="liked-mark">"♥"</span> })}
            {move || selecting.get().then(|| view! {
                <span class="atl-g-check-mark" aria-hidden="true">{move || if is_selected.get() { "✓" } else { "" }}</span>
            })}
            {(n > 1).then(|| view! {
                <span class="atl-g-count">
                    <button class="atl-g-arrow" aria-label="Previous output" on:click=move |e| { e.stop_propagation(); shown.update(|s| *s = (*s + n - 1) % n); }>"‹"</button>
                    <span data-testid="output-count">{move || format!("{}/{n}", shown.get() + 1)}</span>
                    <button class="atl-g-arrow" aria-label="Next output" on:click=move |e| { e.stop_propagation(); shown.update(|s| *s = (*s + 1) % n); }>"›"</button>
                </span>
            })}
        </div>
    }
}

/// The right-click (long-press) menu of an entry.
#[component]
fn ContextMenu(
    x: f64,
    y: f64,
    g: Entry,
    /// The Collection being browsed, if any: the menu can take the item out of it.
    collection: Option<String>,
    on_done: Callback<()>,
) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let navigate = use_navigate();
    let first = g.outputs.first().cloned();
    let tools = g.use_in(0);
    let id = g.id.clone();
    let id2 = g.id.clone();
    let id3 = g.id.clone();
    let confirm = RwSignal::new(false);
    let sub = RwSignal::new(None::<&'static str>);
    let style = format!(
        "left:{}px;top:{}px",
        x.min(
            web_sys::window()
                .and_then(|w| w.inner_width().ok())
                .and_then(|v| v.as_f64())
                .unwrap_or(1200.0)
                - 240.0
        )
        .max(4.0),
        y.min(
            web_sys::window()
                .and_then(|w| w.inner_height().ok())
                .and_then(|v| v.as_f64())
                .unwrap_or(800.0)
                - 260.0
        )
        .max(4.0)
    );
    let add = Callback::new(move |collection: String| {
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match api::add_to_collection(&collection, &Selection::Ids(vec![id])).await {
                Ok(_) => shared.notice.set(Some("Added to the Collection.".into())),
                Err(e) => shared.error.set(Some(e.message)),
            }
            let _ = on_done.try_run(());
        });
    });
    let delete = Callback::new(move |_: ()| {
        let id = id2.clone();
        leptos::task::spawn_local(async move {
            match api::delete_generation(&id).await {
                Ok(()) => shared.notice.set(Some("Deleted 1 item.".into())),
                Err(e) => shared.error.set(Some(e.message)),
            }
            let _ = on_done.try_run(());
        });
    });
    let g2 = g.clone();
    let remove = collection.map(|c| {
        let id = g.id.clone();
        view! {
            <button role="menuitem" data-testid="menu-remove-from-collection" on:click=move |_| {
                let (c, id) = (c.clone(), id.clone());
                leptos::task::spawn_local(async move {
                    match api::remove_from_collection(&c, &id).await {
                        Ok(()) => shared.notice.set(Some("Removed from the Collection (it stays in the Library).".into())),
                        Err(e) => shared.error.set(Some(e.message)),
                    }
                    let _ = on_done.try_run(());
                });
            }>"Remove from this Collection"</button>
        }
    });
    view! {
        <div class="atl-g-menu" role="menu" data-testid="context-menu" style=style on:click=|e| e.stop_propagation()>
            <button role="menuitem" data-testid="menu-collection" on:click=move |_| sub.set(Some("collections"))>"Add to Collection ›"</button>
            {remove}
            {move || (sub.get() == Some("collections")).then(|| {
                let list = shared.list();
                view! {
                    <div class="atl-g-submenu">
                        {list.is_empty().then(|| view! { <p class="atl-hint">"No Collections yet: make one in the Collections tab."</p> })}
                        {list.into_iter().map(|c| {
                            let cid = c.id.clone();
                            view! { <button role="menuitem" data-testid="menu-collection-item" on:click=move |_| add.run(cid.clone())>{c.name.clone()}</button> }
                        }).collect_view()}
                    </div>
                }
            })}
            {first.clone().map(|o| view! {
                <a role="menuitem" data-testid="menu-download" href=format!("{}?download=1", o.url) download="">"Download"</a>
            })}
            {(!tools.is_empty()).then(|| view! {
                <button role="menuitem" data-testid="menu-use-in" on:click=move |_| sub.set(Some("use"))>"Use in ›"</button>
            })}
            {move || (sub.get() == Some("use")).then(|| {
                let navigate = navigate.clone();
                let g = g2.clone();
                view! {
                    <div class="atl-g-submenu">
                        {tools.clone().into_iter().map(|t| {
                            let (navigate, url) = (navigate.clone(), use_in_url(&g, 0, t));
                            view! { <button role="menuitem" on:click=move |_| navigate(&url, Default::default())>{t.label()}</button> }
                        }).collect_view()}
                    </div>
                }
            })}
            {move || if confirm.get() {
                view! { <button role="menuitem" class="atl-danger" data-testid="menu-delete-confirm" on:click=move |_| delete.run(())>"Delete for good"</button> }.into_any()
            } else {
                view! { <button role="menuitem" class="atl-danger" data-testid="menu-delete" on:click=move |_| confirm.set(true)>"Delete…"</button> }.into_any()
            }}
            <span class="atl-hidden">{id3}</span>
        </div>
    }
}

/// The detail view of an entry: full size with zoom on the left; date, "Created in", "Use in",
/// the inputs, and Download, Open externally, Like, Delete and Export for Web on the right.
#[component]
fn Detail(
    id: String,
    known: Option<Entry>,
    on_close: Callback<()>,
    on_changed: Callback<()>,
) -> impl IntoView {
    let entry = RwSignal::new(known.clone());
    let error = RwSignal::new(None::<String>);
    if known.is_none() {
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match api::entry(&id).await {
                Ok(g) => entry.set(Some(g)),
                Err(e) => error.set(Some(e.message)),
            }
        });
    }
    let on_key = window_event_listener(leptos::ev::keydown, move |e| {
        if e.key() == "Escape" {
            let _ = on_close.try_run(());
        }
    });
    on_cleanup(move || on_key.remove());
    view! {
        <div class="atl-dialog-backdrop" on:click=move |_| on_close.run(())></div>
        <div class="atl-g-detail" role="dialog" aria-modal="true" aria-label="Gallery item" data-testid="gallery-detail"
            on:click=|e| e.stop_propagation()>
            {move || error.get().map(|m| view! { <p class="atl-error" role="alert">{m}</p> })}
            {move || entry.get().map(|g| view! { <DetailBody g=g entry=entry on_close=on_close on_changed=on_changed/> })}
        </div>
    }
}

#[component]
fn DetailBody(
    g: Entry,
    entry: RwSignal<Option<Entry>>,
    on_close: Callback<()>,
    on_changed: Callback<()>,
) -> impl IntoView {
    let shown = RwSignal::new(0usize);
    let zoom = RwSignal::new(1.0f64);
    let pinch = StoredValue::new(None::<(f64, f64)>);
    let confirm = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let n = g.outputs.len();
    let outputs = g.outputs.clone();
    let out = Memo::new(move |_| outputs.get(shown.get().min(n.saturating_sub(1))).cloned());
    let out2 = move || out.get();
    let liked = g.liked;
    let id = g.id.clone();
    let like = {
        let id = id.clone();
        move |_| {
            let (id, next) = (
                id.clone(),
                !entry.with_untracked(|e| e.as_ref().is_some_and(|g| g.liked)),
            );
            leptos::task::spawn_local(async move {
                match api::set_liked(&id, next).await {
                    Ok(()) => {
                        entry.update(|e| {
                            if let Some(g) = e {
                                g.liked = next;
                            }
                        });
                        let _ = on_changed.try_run(());
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        }
    };
    let delete = {
        let id = id.clone();
        Callback::new(move |_: ()| {
            let id = id.clone();
            leptos::task::spawn_local(async move {
                match api::delete_generation(&id).await {
                    Ok(()) => {
                        let _ = on_changed.try_run(());
                        let _ = on_close.try_run(());
                    }
                    Err(e) => error.set(Some(e.message)),
                }
            });
        })
    };
    let is_liked = move || entry.with(|e| e.as_ref().map_or(liked, |g| g.liked));
    let inputs: Vec<(String, String)> = g
        .inputs
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let params: Vec<(String, String)> = g
        .params
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.as_str() != "prompt")
                .map(|(k, v)| {
                    (
                        k.replace('_', " "),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let prompt = g
        .params
        .get("prompt")
        .and_then(|p| p.as_str())
        .filter(|p| !p.is_empty())
        .map(str::to_string);
    let g2 = g.clone();
    let tool_id = g.tool.map_or("import", |t| t.id()).to_string();
    view! {
        <div class="atl-g-detail-view">
            <div class="atl-zoom" role="group" aria-label="Zoom">
                <button class="atl-chip" data-testid="zoom-in" aria-label="Zoom in" on:click=move |_| zoom.update(|z| *z = (*z * 1.5).min(8.0))>"+"</button>
                <button class="atl-chip" data-testid="zoom-out" aria-label="Zoom out" on:click=move |_| zoom.update(|z| *z = (*z / 1.5).max(0.25))>"−"</button>
                <button class="atl-chip" data-testid="zoom-reset" on:click=move |_| zoom.set(1.0)>"Reset"</button>
                <span class="atl-muted" data-testid="zoom-level">{move || format!("{:.0}%", zoom.get() * 100.0)}</span>
            </div>
            <div class="atl-g-stage atl-checker" tabindex="0" role="region" aria-label="The result at full size (Ctrl + wheel or pinch to zoom)"
                on:wheel=move |e: leptos::ev::WheelEvent| if e.ctrl_key() { e.prevent_default(); zoom.update(|z| *z = (*z * if e.delta_y() < 0.0 { 1.1 } else { 1.0 / 1.1 }).clamp(0.25, 8.0)); }
                on:touchstart=move |e: leptos::ev::TouchEvent| {
                    let t = e.touches();
                    if let (Some(a), Some(b)) = (t.get(0), t.get(1)) {
                        let d = ((a.client_x() - b.client_x()) as f64).hypot((a.client_y() - b.client_y()) as f64);
                        pinch.set_value(Some((d, zoom.get_untracked())));
                    }
                }
                on:touchmove=move |e: leptos::ev::TouchEvent| {
                    let t = e.touches();
                    if let (Some(a), Some(b), Some((d0, z0))) = (t.get(0), t.get(1), pinch.get_value()) {
                        e.prevent_default();
                        let d = ((a.client_x() - b.client_x()) as f64).hypot((a.client_y() - b.client_y()) as f64);
                        zoom.set((z0 * d / d0.max(1.0)).clamp(0.25, 8.0));
                    }
                }
                on:touchend=move |_| pinch.set_value(None)>
                {move || out.get().map(|o| if o.is_video() {
                    view! { <video src=o.url.clone() poster=o.thumb_url.clone() controls playsinline data-testid="detail-video"></video> }.into_any()
                } else {
                    view! { <img src=o.url.clone() data-testid="detail-image" alt="Full size"
                        style=move || format!("zoom:{}", zoom.get())/> }.into_any()
                })}
            </div>
            {(n > 1).then(|| view! {
                <div class="atl-outputs">
                    {(0..n).map(|i| view! {
                        <button class="atl-chip" aria-pressed=move || (shown.get() == i).to_string() on:click=move |_| shown.set(i)>{format!("{}", i + 1)}</button>
                    }).collect_view()}
                </div>
            })}
        </div>
        <aside class="atl-g-side">
            <div class="atl-g-actions">
                {move || out2().map(|o| view! {
                    <a class="atl-chip" data-testid="detail-download" href=format!("{}?download=1", o.url) download="">"Download"</a>
                    <a class="atl-chip" data-testid="detail-open" href=o.url.clone() target="_blank" rel="noopener">"Open externally"</a>
                })}
                <button class="atl-chip" data-testid="detail-like" aria-pressed=move || is_liked().to_string() on:click=like>
                    {move || if is_liked() { "♥ Liked" } else { "♡ Like" }}
                </button>
                {move || if confirm.get() {
                    view! {
                        <span class="atl-g-confirm" role="alert">"Delete for good? "
                            <button class="atl-chip atl-danger" data-testid="detail-delete-confirm" on:click=move |_| delete.run(())>"Delete"</button>
                            <button class="atl-chip" on:click=move |_| confirm.set(false)>"Keep"</button>
                        </span>
                    }.into_any()
                } else {
                    view! { <button class="atl-chip atl-danger" data-testid="detail-delete" on:click=move |_| confirm.set(true)>"Delete"</button> }.into_any()
                }}
                <button class="atl-chip" data-testid="detail-close" aria-label="Close" on:click=move |_| on_close.run(())>"✕"</button>
            </div>
            {move || error.get().map(|m| view! { <p class="atl-error" role="alert">{m}</p> })}
            <dl class="atl-g-facts">
                <dt>"Created"</dt><dd data-testid="detail-date">{date_time(g.created_at)}</dd>
                <dt>"Created in"</dt><dd data-testid="detail-tool">{g.label()}</dd>
                <dt>"Resolution"</dt><dd data-testid="detail-resolution">{move || out.get().map(|o| format!("{} × {}", o.width, o.height)).unwrap_or_default()}</dd>
            </dl>
            {move || {
                let index = out.get().as_ref().map_or(0, |o| o.index);
                let tools = g2.use_in(shown.get());
                (!tools.is_empty()).then(|| {
                    let g = g2.clone();
                    let navigate = navigate.clone();
                    view! {
                        <div class="atl-g-use">
                            <h3>"Use in"</h3>
                            <div class="atl-g-use-list">
                                {tools.into_iter().map(|t| {
                                    let (navigate, url) = (navigate.clone(), use_in_url(&g, index, t));
                                    view! { <button class="atl-chip" data-testid=format!("use-in-{}", t.id()) on:click=move |_| navigate(&url, Default::default())>{t.label()}</button> }
                                }).collect_view()}
                            </div>
                        </div>
                    }
                })
            }}
            <details class="atl-g-inputs" data-testid="detail-inputs">
                <summary>"Inputs"</summary>
                {prompt.map(|p| view! { <p><strong>"Prompt: "</strong><span data-testid="detail-prompt">{p}</span></p> })}
                <div class="atl-g-sources">
                    {inputs.into_iter().map(|(k, hash)| view! {
                        <figure>
                            <img src=format!("/api/assets/{hash}") alt=k.replace('_', " ") loading="lazy"/>
                            <figcaption>{k.replace('_', " ")}</figcaption>
                        </figure>
                    }).collect_view()}
                </div>
                <table class="atl-table">
                    <tbody>
                        {params.into_iter().map(|(k, v)| view! { <tr><th>{k}</th><td>{v}</td></tr> }).collect_view()}
                    </tbody>
                </table>
            </details>
            {move || out.get().filter(|o| !o.is_video()).map(|o| view! {
                <crate::export::ExportForWeb id=entry.with_untracked(|e| e.as_ref().map(|g| g.id.clone()).unwrap_or_default()) tool=tool_id.clone() output=o/>
            })}
        </aside>
    }
}

/// `/gallery/collections`: every Collection as a thumbnail grid with its count; New
/// Collection; Rename and Delete from its menu (right-click, or the ⋯ button).
#[component]
pub fn Collections() -> impl IntoView {
    let shared = Shared::new();
    provide_context(shared);
    let name = RwSignal::new(String::new());
    let creating = RwSignal::new(false);
    let create = move |e: leptos::ev::SubmitEvent| {
        e.prevent_default();
        let n = name.get_untracked();
        leptos::task::spawn_local(async move {
            match api::create_collection(&n).await {
                Ok(_) => {
                    name.set(String::new());
                    creating.set(false);
                    shared.error.set(None);
                    shared.collections.refetch();
                }
                Err(e) => shared.error.set(Some(e.message)),
            }
        });
    };
    view! {
        <main class="atl-gallery-page" data-testid="collections-page">
            <header class="atl-g-head">
                <h1>"Gallery"</h1>
                <Tabs collections=true/>
                <span class="atl-spacer"></span>
                <button class="atl-primary" data-testid="new-collection" on:click=move |_| creating.set(true)>"New Collection"</button>
            </header>
            {move || creating.get().then(|| view! {
                <form class="atl-row" on:submit=create>
                    <label class="atl-field">
                        <span>"Name"</span>
                        <input data-testid="collection-name" maxlength="80" autofocus placeholder="e.g. Summer campaign"
                            prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e))/>
                    </label>
                    <button class="atl-primary" type="submit" data-testid="create-collection">"Create"</button>
                    <button class="atl-link" type="button" on:click=move |_| creating.set(false)>"Cancel"</button>
                </form>
            })}
            {move || shared.error.get().map(|m| view! { <p class="atl-error" role="alert" data-testid="gallery-error">{m}</p> })}
            {move || match shared.collections.get() {
                None => view! { <p class="atl-hint">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="atl-error" role="alert">{e.message}</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="atl-hint" data-testid="collections-empty">"No Collections yet. Group results by project, campaign or season: New Collection, then add items from the Library."</p>
                }.into_any(),
                Some(Ok(list)) => view! {
                    <div class="atl-g-collections" data-testid="collections">
                        {list.into_iter().map(|c| view! { <CollectionCard c=c/> }).collect_view()}
                    </div>
                }.into_any(),
            }}
        </main>
    }
}

#[component]
fn CollectionCard(c: Collection) -> impl IntoView {
    let shared = expect_context::<Shared>();
    let menu = RwSignal::new(false);
    let renaming = RwSignal::new(false);
    let confirm = RwSignal::new(false);
    let draft = RwSignal::new(c.name.clone());
    let id = c.id.clone();
    let id2 = c.id.clone();
    let rename = Callback::new(move |e: leptos::ev::SubmitEvent| {
        e.prevent_default();
        let (id, n) = (id.clone(), draft.get_untracked());
        leptos::task::spawn_local(async move {
            match api::rename_collection(&id, &n).await {
                Ok(()) => {
                    renaming.set(false);
                    shared.collections.refetch();
                }
                Err(e) => shared.error.set(Some(e.message)),
            }
        });
    });
    let delete = Callback::new(move |_: ()| {
        let id = id2.clone();
        leptos::task::spawn_local(async move {
            match api::delete_collection(&id).await {
                Ok(()) => shared.collections.refetch(),
                Err(e) => shared.error.set(Some(e.message)),
            }
        });
    });
    let href = format!("/gallery/collections/{}", c.id);
    let count = format!("{} item{}", c.count, if c.count == 1 { "" } else { "s" });
    view! {
        <div class="atl-g-collection" data-testid="collection-card" data-id=c.id.clone()
            on:contextmenu=move |e| { e.prevent_default(); menu.set(true); }>
            <a href=href.clone() class="atl-g-cover" aria-label=format!("Open {}", c.name)>
                {(0..4).map(|i| match c.cover.get(i) {
                    Some(u) => view! { <img src=u.clone() loading="lazy" alt=""/> }.into_any(),
                    None => view! { <span></span> }.into_any(),
                }).collect_view()}
            </a>
            {move || if renaming.get() {
                view! {
                    <form class="atl-row" on:submit=move |e| rename.run(e)>
                        <input data-testid="rename-input" maxlength="80" prop:value=move || draft.get() on:input=move |e| draft.set(event_target_value(&e))/>
                        <button class="atl-chip" type="submit" data-testid="rename-save">"Save"</button>
                    </form>
                }.into_any()
            } else {
                view! {
                    <div class="atl-g-collection-name">
                        <a href=href.clone() data-testid="collection-link">{c.name.clone()}</a>
                        <span class="atl-muted" data-testid="collection-count">{count.clone()}</span>
                        <button class="atl-chip" data-testid="collection-menu" aria-label=format!("{} options", c.name) aria-expanded=move || menu.get().to_string()
                            on:click=move |_| menu.update(|m| *m = !*m)>"⋯"</button>
                    </div>
                }.into_any()
            }}
            {move || menu.get().then(|| view! {
                <div class="atl-g-menu atl-g-menu-inline" role="menu">
                    <button role="menuitem" data-testid="collection-rename" on:click=move |_| { menu.set(false); renaming.set(true); }>"Rename"</button>
                    {move || if confirm.get() {
                        view! { <button role="menuitem" class="atl-danger" data-testid="collection-delete-confirm" on:click=move |_| delete.run(())>"Delete Collection (items stay in the Library)"</button> }.into_any()
                    } else {
                        view! { <button role="menuitem" class="atl-danger" data-testid="collection-delete" on:click=move |_| confirm.set(true)>"Delete…"</button> }.into_any()
                    }}
                </div>
            })}
        </div>
    }
}
