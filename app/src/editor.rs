//! The hook to the built-in image editor (crop, rotate, flip, scale, annotate). The editor is its
//! own module, loaded on demand — never on the Studio's first load — from [`EDITOR_URL`]:
//!
//! ```text
//! export default function init(): Promise<unknown>      // optional (wasm-bindgen --target web)
//! export function edit(host: HTMLElement, src: string): Promise<Blob | null>
//! ```
//!
//! `edit` draws into `host` (a full-window element the Studio gives it) the image at `src`, and
//! resolves to the edited image when the user clicks Done, or `null` on Cancel. The Studio then
//! uploads the blob as a new input asset and puts it where the original was.

use leptos::prelude::*;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::api::{self, Asset};

/// Where the editor module is served from (beside the app, under `dist/editor/`).
pub const EDITOR_URL: &str = "/editor/editor.js";

// Asked first, so that an installation without the editor (the SPA fallback answers its URL
// with the app's HTML) gets a message, not a failed module load.
#[wasm_bindgen(inline_js = "export async function load_module(u) { \
    const r = await fetch(u, { method: 'HEAD' }); \
    if (!r.ok || !/javascript/.test(r.headers.get('content-type') || '')) throw new Error('missing'); \
    return import(u); }")]
extern "C" {
    #[wasm_bindgen(catch)]
    fn load_module(url: &str) -> Result<js_sys::Promise, JsValue>;
}

const MISSING: &str = "The image editor isn't available on this installation (it loads from \
    /editor/editor.js). You can still upload, generate and download without it.";

/// Opens the editor in `host` on the image at `src`: `Some(blob)` on Done, `None` on Cancel.
/// `loaded` runs once the module is ready, before it draws.
pub async fn edit(
    host: &web_sys::HtmlElement,
    src: &str,
    loaded: impl FnOnce(),
) -> Result<Option<web_sys::Blob>, String> {
    let promise = load_module(EDITOR_URL).map_err(|_| MISSING.to_string())?;
    let module = JsFuture::from(promise)
        .await
        .map_err(|_| MISSING.to_string())?;
    let get = |name: &str| js_sys::Reflect::get(&module, &JsValue::from_str(name)).ok();
    let failed = |e: JsValue| {
        format!(
            "The image editor failed: {}",
            e.as_string()
                .or_else(|| e
                    .dyn_ref::<js_sys::Error>()
                    .map(|e| String::from(e.message())))
                .unwrap_or_else(|| "unknown error".into())
        )
    };
    if let Some(init) = get("default").and_then(|f| f.dyn_into::<js_sys::Function>().ok()) {
        let r = init.call0(&module).map_err(failed)?;
        JsFuture::from(js_sys::Promise::resolve(&r))
            .await
            .map_err(failed)?;
    }
    let run = get("edit")
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .ok_or_else(|| format!("{MISSING} (The module has no edit function.)"))?;
    loaded();
    let r = run
        .call2(&module, host, &JsValue::from_str(src))
        .map_err(failed)?;
    let out = JsFuture::from(js_sys::Promise::resolve(&r))
        .await
        .map_err(failed)?;
    if out.is_null() || out.is_undefined() {
        return Ok(None);
    }
    out.dyn_into::<web_sys::Blob>()
        .map(Some)
        .map_err(|_| "The image editor returned something that is not an image.".to_string())
}

/// The pencil on an uploaded image: opens the editor on `src`; the edited image is uploaded
/// and handed to `on_edited`.
#[component]
pub fn EditButton(
    src: Signal<String>,
    /// What the image is, for the button's label ("the image", "product image 2").
    name: String,
    on_edited: Callback<Asset>,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let status = RwSignal::new(None::<Result<String, String>>);
    let host = NodeRef::<leptos::html::Div>::new();
    // Each opening is a session; a late answer from a closed one is dropped.
    let session = StoredValue::new(0u32);
    let close = move || {
        session.update_value(|s| *s += 1);
        open.set(false);
    };
    Effect::new(move |_| {
        let Some(el) = host.get() else { return };
        let el: web_sys::HtmlElement = el.unchecked_into();
        // Keyboard users land in the editor (Escape, then its own controls).
        let _ = el.focus();
        let me = session.get_value();
        let src = src.get_untracked();
        status.set(Some(Ok("Loading the editor…".into())));
        leptos::task::spawn_local(async move {
            let r = edit(&el, &src, move || status.set(None)).await;
            // Closed meanwhile (or the button is gone): this answer is dropped.
            if session.try_get_value() != Some(me) {
                return;
            }
            match r {
                Ok(None) => close(),
                Ok(Some(blob)) => {
                    status.set(Some(Ok("Saving the edited image…".into())));
                    match api::upload(&blob).await {
                        Ok(a) if session.try_get_value() == Some(me) => {
                            on_edited.run(a);
                            close();
                        }
                        Ok(_) => {}
                        Err(e) => status.set(Some(Err(format!(
                            "The edited image could not be saved: {}",
                            e.message
                        )))),
                    }
                }
                Err(m) => status.set(Some(Err(m))),
            }
        });
    });
    let label = format!("Edit {name}");
    view! {
        <button class="atl-edit" data-testid="edit-image" aria-label=label.clone() title="Edit"
            on:click=move |ev: leptos::ev::MouseEvent| { ev.stop_propagation(); status.set(None); open.set(true); }>
            <svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true">
                <path fill="currentColor" d="M3 17.25V21h3.75L17.8 9.94l-3.75-3.75L3 17.25zm17.7-10.2a1 1 0 0 0 0-1.42l-2.33-2.33a1 1 0 0 0-1.42 0l-1.83 1.83 3.75 3.75 1.83-1.83z"/>
            </svg>
        </button>
        {move || open.get().then(|| view! {
            <div class="atl-editor" role="dialog" aria-modal="true" aria-label=label.clone() data-testid="editor"
                on:click=|ev: leptos::ev::MouseEvent| ev.stop_propagation()
                on:dragover=|ev: leptos::ev::DragEvent| { ev.prevent_default(); ev.stop_propagation(); }
                on:drop=|ev: leptos::ev::DragEvent| { ev.prevent_default(); ev.stop_propagation(); }
                // While it loads or after an error, Escape closes (the editor handles its own).
                on:keydown=move |e: web_sys::KeyboardEvent| if e.key() == "Escape" && status.get_untracked().is_some() { close() }>
                <div class="atl-editor-host" node_ref=host data-testid="editor-host" tabindex="-1"></div>
                {move || status.get().map(|s| match s {
                    Ok(m) => view! {
                        <div class="atl-editor-status">
                            <p class="atl-muted" aria-live="polite">{m}</p>
                            <button class="atl-chip" data-testid="editor-cancel" on:click=move |_| close()>"Cancel"</button>
                        </div>
                    }.into_any(),
                    Err(m) => view! {
                        <div class="atl-editor-status">
                            <p class="atl-error" role="alert" data-testid="editor-error">{m}</p>
                            <button class="atl-chip" data-testid="editor-close" on:click=move |_| close()>"Close"</button>
                        </div>
                    }.into_any(),
                })}
            </div>
        })}
    }
}
