//! The Developer API page: the organization's API keys (create — the value shown once —,
//! rename, revoke), the storefront widget's publishable keys with their embed snippets, and
//! its request history with filters. At `/developer` (the sidebar's "Developer API").

use atelier_core::catalog::ApiModel;
use leptos::prelude::*;

use crate::api::{self, ApiKey, ApiRequest, NewKey, WidgetKeyView};

/// Dates as "2026-11-25 14:03" in the viewer's time zone.
fn when(ms: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        d.get_full_year(),
        d.get_month() + 1,
        d.get_date(),
        d.get_hours(),
        d.get_minutes()
    )
}

fn duration(ms: Option<f64>) -> String {
    match ms {
        Some(ms) if ms < 1000.0 => format!("{ms:.0} ms"),
        Some(ms) => format!("{:.1} s", ms / 1000.0),
        None => "—".into(),
    }
}

#[component]
pub fn DeveloperPage() -> impl IntoView {
    view! {
        <div class="atl-developer" data-testid="developer-page">
            <main class="atl-dev-main">
                <h1>"Developer API"</h1>
                <CreditsBar/>
                <p><a class="atl-link" href="/v1/openapi.json" target="_blank" rel="external noopener">"OpenAPI 3.1 document"</a></p>
                <p class="atl-hint">
                    "Call the API with a key: "
                    <code>"Authorization: Bearer <key>"</code>
                    " against this server's /v1/run, /v1/status/{id} and /v1/credits. Keys belong to your organization; API credits are separate from App credits."
                </p>
                <Keys/>
                <WidgetKeys/>
                <History/>
            </main>
        </div>
    }
}

/// The API credits bar: the balance by bucket, Top up and API Billing.
#[component]
fn CreditsBar() -> impl IntoView {
    let b = LocalResource::new(api::billing);
    view! {
        <div class="atl-credits-bar" data-testid="api-credits-bar">
            <span>{move || match b.get() {
                Some(Ok(v)) => {
                    let a = v.api;
                    if a.subscription.is_some() {
                        format!("API credits: {} ({} monthly, {} top-up) · {}", a.available, a.monthly, a.top_up, a.tier.info().name)
                    } else {
                        format!("API credits: {}", a.available)
                    }
                }
                Some(Err(e)) => e.message,
                None => String::new(),
            }}</span>
            {move || match b.get() {
                // The docs' "top-up alerts", in the app: a low balance without automatic top-up.
                Some(Ok(v)) if v.api.available < atelier_core::billing::LOW_BALANCE_ALERT && v.api.auto_topup.is_none() => Some(view! {
                    <strong class="atl-error" role="status" data-testid="low-balance">
                        "Low balance: requests fail with OutOfCredits at 0. Top up, or turn on automatic top-up."
                    </strong>
                }),
                _ => None,
            }}
            <a class="atl-primary" href="/billing/api" data-testid="api-topup">"Top up"</a>
            <a class="atl-link" href="/billing/api" data-testid="to-api-billing">"API Billing"</a>
        </div>
    }
}

#[component]
fn Keys() -> impl IntoView {
    // Reads are a resource (refetched after a change), writes an action.
    let keys = LocalResource::new(api::keys);
    let create = Action::new_local(|name: &String| {
        let n = name.clone();
        async move { api::create_key(&n).await }
    });
    let error = RwSignal::new(None::<String>);
    let created = RwSignal::new(None::<NewKey>);
    let name = RwSignal::new(String::new());
    let busy = create.pending();
    let reload = move || keys.refetch();
    Effect::new(move |_| match create.value().get() {
        Some(Ok(k)) => {
            created.set(Some(k));
            name.set(String::new());
            error.set(None);
            keys.refetch();
        }
        Some(Err(e)) => error.set(Some(e.message)),
        None => {}
    });
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if !busy.get_untracked() {
            create.dispatch_local(name.get_untracked());
        }
    };
    let list = move || keys.get().and_then(Result::ok).unwrap_or_default();
    let load_error = move || keys.get().and_then(Result::err).map(|e| e.message);
    view! {
        <section class="atl-panel" aria-labelledby="keys-h">
            <h2 id="keys-h">"API keys"</h2>
            <form class="atl-row" on:submit=create>
                <label class="atl-field">
                    <span>"Name"</span>
                    <input data-testid="key-name" maxlength="60" placeholder="e.g. Storefront"
                        prop:value=move || name.get()
                        on:input=move |e| name.set(event_target_value(&e))/>
                </label>
                <button class="atl-primary" type="submit" data-testid="create-key" disabled=move || busy.get()>"Create key"</button>
            </form>
            {move || created.get().map(|k| view! {
                <div class="atl-newkey" role="status" data-testid="new-key">
                    <p>"Your new key " <strong>{k.name.clone()}</strong> ". Copy it now: it is shown only this once."</p>
                    <input readonly data-testid="new-key-value" class="atl-mono" prop:value=k.key.clone()
                        on:focus=move |e| {
                            use wasm_bindgen::JsCast;
                            if let Some(i) = e.target().and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok()) { i.select(); }
                        }/>
                    <button class="atl-link" on:click=move |_| created.set(None)>"Done"</button>
                </div>
            })}
            {move || error.get().or_else(load_error).map(|m| view! { <p class="atl-error" role="alert">{m}</p> })}
            <table class="atl-table" data-testid="keys">
                <thead><tr><th>"Name"</th><th>"Key"</th><th>"Created"</th><th>"Last used"</th><th>"Status"</th><th></th></tr></thead>
                <tbody>
                    <For each=list key=|k| (k.id.clone(), k.name.clone(), k.revoked_at.is_some()) let:k>
                        <KeyRow k=k reload=reload error=error/>
                    </For>
                </tbody>
            </table>
            {move || (keys.get().is_some() && list().is_empty()).then(|| view! { <p class="atl-hint">"No keys yet."</p> })}
        </section>
    }
}

#[component]
fn KeyRow(
    k: ApiKey,
    reload: impl Fn() + Copy + Send + Sync + 'static,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let draft = RwSignal::new(k.name.clone());
    let id = k.id.clone();
    let id2 = k.id.clone();
    let revoked = k.revoked_at.is_some();
    let save = move |_| {
        let (id, n) = (id.clone(), draft.get_untracked());
        leptos::task::spawn_local(async move {
            match api::rename_key(&id, &n).await {
                Ok(()) => {
                    editing.set(false);
                    reload();
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let revoke = move |_| {
        let ok = web_sys::window()
            .and_then(|w| {
                w.confirm_with_message("Revoke this key? Requests using it stop working at once.")
                    .ok()
            })
            .unwrap_or(false);
        if !ok {
            return;
        }
        let id = id2.clone();
        leptos::task::spawn_local(async move {
            match api::revoke_key(&id).await {
                Ok(()) => reload(),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let name = k.name.clone();
    view! {
        <tr data-testid="key-row" class:atl-revoked=revoked>
            <td>
                {move || if editing.get() {
                    view! {
                        <input data-testid="rename-input" maxlength="60" prop:value=move || draft.get()
                            on:input=move |e| draft.set(event_target_value(&e))/>
                        <button class="atl-link" data-testid="rename-save" on:click=save.clone()>"Save"</button>
                    }.into_any()
                } else {
                    view! { <span data-testid="key-name-cell">{name.clone()}</span> }.into_any()
                }}
            </td>
            <td class="atl-mono">{format!("{}…", k.prefix)}</td>
            <td>{when(k.created_at)}</td>
            <td>{k.last_used_at.map(when).unwrap_or_else(|| "never".into())}</td>
            <td data-testid="key-status">{if revoked { "Revoked" } else { "Active" }}</td>
            <td>
                {(!revoked).then(|| view! {
                    <button class="atl-link" data-testid="rename" on:click=move |_| editing.set(true)>"Rename"</button>
                    <button class="atl-link atl-danger" data-testid="revoke" on:click=revoke.clone()>"Revoke"</button>
                })}
            </td>
        </tr>
    }
}

/// The widget key form's origins (one per line, or separated by commas or spaces) and hours.
fn widget_form(origins: &str, hours: &str) -> Result<(Vec<String>, f64), String> {
    let list = origins
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let h = hours
        .trim()
        .parse::<f64>()
        .map_err(|_| "Keep photos for a whole number of hours (1 to 720).".to_string())?;
    Ok((list, h))
}

/// The storefront try-on widget: publishable keys (origins, retention), each with the snippet
/// to paste into the shop's product page.
#[component]
fn WidgetKeys() -> impl IntoView {
    let keys = LocalResource::new(api::widget_keys);
    let name = RwSignal::new(String::new());
    let origins = RwSignal::new(String::new());
    let hours = RwSignal::new(atelier_core::widget::RETENTION_DEFAULT_HOURS.to_string());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        let (list, h) = match widget_form(&origins.get_untracked(), &hours.get_untracked()) {
            Ok(v) => v,
            Err(m) => return error.set(Some(m)),
        };
        let n = name.get_untracked();
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::create_widget_key(&n, &list, h).await {
                Ok(_) => {
                    name.set(String::new());
                    origins.set(String::new());
                    error.set(None);
                    keys.refetch();
                }
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    let list = move || keys.get().and_then(Result::ok).unwrap_or_default();
    let load_error = move || keys.get().and_then(Result::err).map(|e| e.message);
    view! {
        <section class="atl-panel" aria-labelledby="widget-h" data-testid="widget-keys">
            <h2 id="widget-h">"Storefront try-on widget"</h2>
            <p class="atl-hint">
                "Let shoppers try your products on from your own product pages. A publishable key works only inside a frame on the sites you list, only for the try-on, and is paid from this organization's API credits (tryon-v1.6). Shoppers' photos and results are deleted after the time you choose."
            </p>
            <form class="atl-widget-form" on:submit=create>
                <label class="atl-field"><span>"Name"</span>
                    <input data-testid="widget-key-name" maxlength="60" placeholder="e.g. Main shop"
                        prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e))/>
                </label>
                <label class="atl-field"><span>"Shop origins (one per line)"</span>
                    <textarea data-testid="widget-origins" rows="2" placeholder="https://shop.example"
                        prop:value=move || origins.get() on:input=move |e| origins.set(event_target_value(&e))></textarea>
                </label>
                <label class="atl-field"><span>"Keep shoppers' photos (hours)"</span>
                    <input data-testid="widget-retention" type="number" min="1" max="720" step="1" inputmode="numeric"
                        prop:value=move || hours.get() on:input=move |e| hours.set(event_target_value(&e))/>
                </label>
                <button class="atl-primary" type="submit" data-testid="create-widget-key" disabled=move || busy.get()>"Create publishable key"</button>
            </form>
            {move || error.get().or_else(load_error).map(|m| view! { <p class="atl-error" role="alert" data-testid="widget-error">{m}</p> })}
            <For each=list key=|k| (k.id.clone(), k.revoked_at.is_some(), k.name.clone(), k.origins.join(" "), k.retention_hours) let:k>
                <WidgetKeyCard k=k reload=move || keys.refetch() error=error/>
            </For>
            {move || (keys.get().is_some() && list().is_empty()).then(|| view! { <p class="atl-hint">"No publishable keys yet."</p> })}
        </section>
    }
}

#[component]
fn WidgetKeyCard(
    k: WidgetKeyView,
    reload: impl Fn() + Copy + Send + Sync + 'static,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let revoked = k.revoked_at.is_some();
    let copied = RwSignal::new(None::<&'static str>);
    let copy = move |what: &'static str, text: String| {
        let ok = web_sys::window().is_some_and(|w| crate::orgs::copy_text(&w, &text));
        copied.set(Some(if ok { what } else { "select and copy" }));
    };
    let id = k.id.clone();
    let revoke = move |_| {
        let ok = web_sys::window()
            .and_then(|w| {
                w.confirm_with_message("Revoke this publishable key? The try-on stops working on every page that embeds it.")
                    .ok()
            })
            .unwrap_or(false);
        if !ok {
            return;
        }
        let id = id.clone();
        leptos::task::spawn_local(async move {
            match api::revoke_widget_key(&id).await {
                Ok(()) => reload(),
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    let (script, iframe) = (k.snippet_script.clone(), k.snippet_iframe.clone());
    let (script2, iframe2) = (script.clone(), iframe.clone());
    // Editing in place: the same key (and snippet) with other sites, name or retention.
    let editing = RwSignal::new(false);
    let name = RwSignal::new(k.name.clone());
    let origins = RwSignal::new(k.origins.join("\n"));
    let hours = RwSignal::new(k.retention_hours.to_string());
    let id = k.id.clone();
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let (list, h) = match widget_form(&origins.get_untracked(), &hours.get_untracked()) {
            Ok(v) => v,
            Err(m) => return error.set(Some(m)),
        };
        let (id, n) = (id.clone(), name.get_untracked());
        leptos::task::spawn_local(async move {
            match api::update_widget_key(&id, &n, &list, h).await {
                Ok(_) => {
                    error.set(None);
                    editing.set(false);
                    reload();
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    view! {
        <article class="atl-widget-key" class:atl-revoked=revoked data-testid="widget-key">
            <header class="atl-row">
                <strong>{k.name.clone()}</strong>
                <span class="atl-mono" data-testid="widget-key-value">{k.key.clone()}</span>
                <span data-testid="widget-key-status">{if revoked { "Revoked" } else { "Active" }}</span>
                {(!revoked).then(|| view! {
                    <button class="atl-link" data-testid="edit-widget-key" on:click=move |_| editing.set(true)>"Edit"</button>
                    <button class="atl-link atl-danger" data-testid="revoke-widget-key" on:click=revoke.clone()>"Revoke"</button>
                })}
            </header>
            <Show when=move || editing.get()>
                <form class="atl-widget-form" on:submit=save.clone() data-testid="widget-edit">
                    <label class="atl-field"><span>"Name"</span>
                        <input maxlength="60" prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e))/>
                    </label>
                    <label class="atl-field"><span>"Shop origins (one per line)"</span>
                        <textarea rows="2" data-testid="edit-origins" prop:value=move || origins.get() on:input=move |e| origins.set(event_target_value(&e))></textarea>
                    </label>
                    <label class="atl-field"><span>"Keep shoppers' photos (hours)"</span>
                        <input type="number" min="1" max="720" step="1" inputmode="numeric" data-testid="edit-retention"
                            prop:value=move || hours.get() on:input=move |e| hours.set(event_target_value(&e))/>
                    </label>
                    <span class="atl-row">
                        <button class="atl-primary" type="submit" data-testid="save-widget-key">"Save"</button>
                        <button class="atl-link" type="button" on:click=move |_| editing.set(false)>"Cancel"</button>
                    </span>
                </form>
            </Show>
            <p class="atl-hint">
                {format!("Sites: {} · Photos kept {} · Created {} · Last used {}",
                    k.origins.join(", "),
                    atelier_core::widget::retention_words(k.retention_hours),
                    when(k.created_at),
                    k.last_used_at.map(when).unwrap_or_else(|| "never".into()))}
            </p>
            {(!revoked).then(|| view! {
                <label class="atl-field"><span>"Embed: one script tag where the try-on should appear"</span>
                    <textarea readonly rows="2" class="atl-mono" data-testid="snippet-script" prop:value=script.clone()></textarea>
                </label>
                <button class="atl-link" type="button" data-testid="copy-script" on:click=move |_| copy("script tag", script2.clone())>"Copy script tag"</button>
                <label class="atl-field"><span>"Or the frame itself"</span>
                    <textarea readonly rows="2" class="atl-mono" data-testid="snippet-iframe" prop:value=iframe.clone()></textarea>
                </label>
                <button class="atl-link" type="button" data-testid="copy-iframe" on:click=move |_| copy("frame", iframe2.clone())>"Copy frame"</button>
                <p class="atl-hint">
                    "Set the product from your page: "
                    <code>"frame.contentWindow.postMessage({type: 'set-product', image: url, category: 'tops'}, origin)"</code>
                    " (the script tag's frame also takes " <code>"frame.atelierSetProduct(url, 'tops')"</code>
                    "); results arrive as " <code>"{type: 'result', url}"</code> "."
                </p>
                {move || copied.get().map(|w| view! { <p class="atl-hint" role="status">{format!("Copied the {w}.")}</p> })}
            })}
        </article>
    }
}

#[component]
fn History() -> impl IntoView {
    let rows = RwSignal::new(Vec::<ApiRequest>::new());
    let next = RwSignal::new(None::<f64>);
    let model = RwSignal::new(String::new());
    let status = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let load = move |more: bool| {
        let before = if more { next.get_untracked() } else { None };
        let (m, s) = (model.get_untracked(), status.get_untracked());
        leptos::task::spawn_local(async move {
            match api::requests(&m, &s, before).await {
                Ok(p) => {
                    if more {
                        rows.update(|r| r.extend(p.requests));
                    } else {
                        rows.set(p.requests);
                    }
                    next.set(p.next_before);
                    error.set(None);
                }
                Err(e) => error.set(Some(e.message)),
            }
        });
    };
    load(false);
    let models: Vec<String> = ApiModel::ALL.iter().map(|m| m.name()).collect();
    view! {
        <section class="atl-panel" aria-labelledby="history-h">
            <h2 id="history-h">"Request history"</h2>
            <div class="atl-row">
                <label class="atl-field"><span>"Model"</span>
                    <select data-testid="filter-model" on:change=move |e| { model.set(event_target_value(&e)); load(false); }>
                        <option value="">"All models"</option>
                        {models.into_iter().map(|m| view! { <option value=m.clone()>{m.clone()}</option> }).collect_view()}
                    </select>
                </label>
                <label class="atl-field"><span>"Status"</span>
                    <select data-testid="filter-status" on:change=move |e| { status.set(event_target_value(&e)); load(false); }>
                        <option value="">"All"</option>
                        <option value="completed">"Completed"</option>
                        <option value="failed">"Failed"</option>
                        <option value="active">"In progress"</option>
                    </select>
                </label>
                <button class="atl-link" data-testid="refresh-history" on:click=move |_| load(false)>"Refresh"</button>
            </div>
            {move || error.get().map(|m| view! { <p class="atl-error" role="alert">{m}</p> })}
            <table class="atl-table" data-testid="requests">
                <thead><tr><th>"Time"</th><th>"Model"</th><th>"Status"</th><th>"Credits"</th><th>"Duration"</th><th>"Error"</th><th>"Key"</th><th>"ID"</th></tr></thead>
                <tbody>
                    <For each=move || rows.get() key=|r| (r.id.clone(), r.status) let:r>
                        <tr data-testid="request-row" data-status=r.status.as_str()>
                            <td>{when(r.created_at)}</td>
                            <td>{r.model_name.clone().unwrap_or_default()}</td>
                            <td>{r.status.as_str()}</td>
                            <td>{r.credits_used}</td>
                            <td>{duration(r.duration_ms)}</td>
                            <td title=r.error.as_ref().and_then(|e| e.message.clone()).unwrap_or_default()>
                                {r.error.as_ref().map(|e| e.name.clone()).unwrap_or_default()}
                            </td>
                            <td>{r.key.as_ref().map(|k| k.name.clone()).unwrap_or_default()}</td>
                            <td class="atl-mono">{r.id.clone()}</td>
                        </tr>
                    </For>
                </tbody>
            </table>
            {move || rows.with(Vec::is_empty).then(|| view! { <p class="atl-hint">"No API requests match."</p> })}
            {move || next.get().is_some().then(|| view! {
                <button class="atl-link" data-testid="more-history" on:click=move |_| load(true)>"Load more"</button>
            })}
        </section>
    }
}
