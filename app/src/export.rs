//! Export for Web on the result screen: a dialog with the format (Original, JPEG, PNG, WebP),
//! the quality slider (JPEG and WebP), the resolution and the file's real size for those
//! settings (the server encodes it; the same file is then saved), and Export.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api;
use atelier_core::views::OutputView as Output;

fn human(bytes: usize) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1_000_000.0)
    } else if bytes >= 1_000 {
        format!("{:.0} KB", bytes as f64 / 1_000.0)
    } else {
        format!("{bytes} bytes")
    }
}

/// Saves a blob as a download named `name`.
fn save(blob: &web_sys::Blob, name: &str) -> Result<(), String> {
    let url = web_sys::Url::create_object_url_with_blob(blob).map_err(|_| "no object URL")?;
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlElement = doc
        .create_element("a")
        .map_err(|_| "no link")?
        .dyn_into()
        .map_err(|_| "no link")?;
    let _ = a.set_attribute("href", &url);
    let _ = a.set_attribute("download", name);
    a.click();
    // Revoked a moment later, once the browser has started the download.
    let revoke = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    if let Some(w) = web_sys::window() {
        let _ =
            w.set_timeout_with_callback_and_timeout_and_arguments_0(revoke.unchecked_ref(), 2000);
    }
    Ok(())
}

#[component]
pub fn ExportForWeb(id: String, tool: String, output: Output) -> impl IntoView {
    let open = RwSignal::new(false);
    let format = RwSignal::new("webp".to_string());
    let quality = RwSignal::new(atelier_core::export::DEFAULT_QUALITY);
    let size = RwSignal::new(None::<usize>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // The last encoded file, with the settings it was made with.
    let cached = StoredValue::new_local(None::<(String, web_sys::Blob)>);
    let key = move || format!("{}:{}", format.get_untracked(), quality.get_untracked());
    let original_bytes = Some(output.bytes as usize);
    let (index, url) = (output.index, output.url.clone());
    let (id2, tool2) = (id.clone(), tool.clone());
    let name_for = move |f: &str| {
        let ef = match f {
            "jpeg" => atelier_core::export::ExportFormat::Jpeg,
            "png" => atelier_core::export::ExportFormat::Png,
            _ => atelier_core::export::ExportFormat::Webp,
        };
        atelier_core::export::file_name(&tool2, &id2, index, ef)
    };
    // Encodes with the current settings (the size shown is the real file's), then `then`.
    let encode = {
        let id = id.clone();
        move |download: bool| {
            let f = format.get_untracked();
            if f == "original" {
                size.set(original_bytes);
                return;
            }
            let k = key();
            if let Some(blob) = cached
                .try_with_value(|c| {
                    c.as_ref()
                        .filter(|(ck, _)| *ck == k)
                        .map(|(_, b)| b.clone())
                })
                .flatten()
            {
                if download {
                    if let Err(e) = save(&blob, &name_for(&f)) {
                        error.set(Some(format!("The download could not start: {e}")));
                    }
                }
                return;
            }
            let (id, q) = (id.clone(), quality.get_untracked());
            let name_for = name_for.clone();
            busy.set(true);
            error.set(None);
            leptos::task::spawn_local(async move {
                match api::export_output(&id, index, &f, q).await {
                    Ok((blob, len)) => {
                        // Settings changed meanwhile: this file is not the one asked for now.
                        if key() == k {
                            size.set(Some(len));
                            if download {
                                if let Err(e) = save(&blob, &name_for(&f)) {
                                    error.set(Some(format!("The download could not start: {e}")));
                                }
                            }
                            cached.set_value(Some((k, blob)));
                        }
                    }
                    Err(e) => error.set(Some(e.message)),
                }
                busy.set(false);
            });
        }
    };
    let encode2 = encode.clone();
    let encode3 = encode.clone();
    let run = move |_| {
        if format.get_untracked() == "original" {
            if let Some(w) = web_sys::window() {
                let _ = w.location().assign(&format!("{url}?download=1"));
            }
            open.set(false);
            return;
        }
        encode3(true);
    };
    let (w, h) = (output.width, output.height);
    // Focus moves into the dialog when it opens (keyboard and screen-reader users land in it).
    let first = NodeRef::<leptos::html::Select>::new();
    Effect::new(move |_| {
        if let Some(el) = first.get() {
            let _ = el.focus();
        }
    });
    view! {
        <button class="atl-chip" data-testid="export-open" aria-haspopup="dialog"
            on:click=move |_| { open.set(true); encode(false); }>"Export for Web"</button>
        {move || open.get().then(|| {
            let encode = encode2.clone();
            let encode_q = encode2.clone();
            let run = run.clone();
            view! {
                <div class="atl-dialog-backdrop" on:click=move |_| open.set(false)></div>
                <div class="atl-dialog" role="dialog" aria-modal="true" aria-labelledby="export-title" data-testid="export-dialog"
                    on:keydown=move |e: web_sys::KeyboardEvent| if e.key() == "Escape" { open.set(false) }>
                    <h2 id="export-title">"Export for Web"</h2>
                    <label class="atl-field">
                        <span>"Format"</span>
                        <select data-testid="export-format" node_ref=first prop:value=move || format.get()
                            on:change=move |e| { format.set(event_target_value(&e)); size.set(None); encode(false); }>
                            <option value="original">"Original"</option>
                            <option value="jpeg">"JPEG"</option>
                            <option value="png">"PNG"</option>
                            <option value="webp">"WebP"</option>
                        </select>
                    </label>
                    <label class="atl-field">
                        <span>{move || format!("Quality: {} %", quality.get())}</span>
                        <input type="range" min="1" max="100" step="1" data-testid="export-quality"
                            disabled=move || matches!(format.get().as_str(), "png" | "original")
                            prop:value=move || quality.get().to_string()
                            on:input=move |e| { if let Ok(q) = event_target_value(&e).parse::<u8>() { quality.set(q) } }
                            on:change=move |_| { size.set(None); encode_q(false); }/>
                    </label>
                    <p class="atl-muted">
                        {move || match format.get().as_str() {
                            "jpeg" => "JPEG has no transparency: transparent areas become white.",
                            "png" => "PNG is lossless and keeps transparency; quality does not apply.",
                            "webp" => "WebP keeps transparency; 95 % is a good web baseline.",
                            _ => "The file as it was made, not re-encoded.",
                        }}
                    </p>
                    <p data-testid="export-resolution">{format!("Resolution: {w} × {h} px")}</p>
                    <p data-testid="export-size" aria-live="polite">
                        {move || match (busy.get(), size.get()) {
                            (true, _) => "File size: measuring…".to_string(),
                            (_, Some(b)) => format!("File size: {}", human(b)),
                            _ => "File size: –".to_string(),
                        }}
                    </p>
                    {move || error.get().map(|m| view! { <p class="atl-error" role="alert" data-testid="export-error">{m}</p> })}
                    <div class="atl-actions">
                        <button class="atl-primary" data-testid="export-run" disabled=move || busy.get() on:click=run>"Export"</button>
                        <button class="atl-chip" data-testid="export-close" on:click=move |_| open.set(false)>"Cancel"</button>
                    </div>
                </div>
            }
        })}
    }
}
