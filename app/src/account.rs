//! `/account` (profile picture, display name, e-mail, sign out everywhere, the Danger Zone's
//! Delete Account) and `/help` (support channels, the WebGL troubleshooting steps, Privacy
//! Policy and Terms). A lazy route.

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use crate::api;

/// The profile picture's side, after the square crop.
const AVATAR_SIDE: u32 = 256;

/// Crops the picked image to its centred square, scales it to 256 px and encodes a PNG.
async fn square_png(file: web_sys::File) -> Result<Vec<u8>, String> {
    let url =
        web_sys::Url::create_object_url_with_blob(&file).map_err(|_| "cannot read the file")?;
    let img = web_sys::HtmlImageElement::new().map_err(|_| "no image support")?;
    img.set_src(&url);
    let decoded = wasm_bindgen_futures::JsFuture::from(img.decode()).await;
    let _ = web_sys::Url::revoke_object_url(&url);
    decoded.map_err(|_| {
        "That file is not an image this browser can read; pick a PNG, JPEG or WebP."
    })?;
    let (w, h) = (img.natural_width() as f64, img.natural_height() as f64);
    let side = w.min(h);
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let canvas: web_sys::HtmlCanvasElement = doc
        .create_element("canvas")
        .map_err(|_| "no canvas")?
        .dyn_into()
        .map_err(|_| "no canvas")?;
    canvas.set_width(AVATAR_SIDE);
    canvas.set_height(AVATAR_SIDE);
    let ctx: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into().ok())
        .ok_or("no 2D canvas")?;
    ctx.draw_image_with_html_image_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
        &img,
        (w - side) / 2.0,
        (h - side) / 2.0,
        side,
        side,
        0.0,
        0.0,
        AVATAR_SIDE as f64,
        AVATAR_SIDE as f64,
    )
    .map_err(|_| "cannot draw the image")?;
    let data_url = canvas
        .to_data_url_with_type("image/png")
        .map_err(|_| "cannot encode the picture")?;
    // A data: URL through fetch gives its bytes back.
    let r = gloo_net::http::Request::get(&data_url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    r.binary().await.map_err(|e| e.to_string())
}

fn go(path: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.location().assign(path);
    }
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let account = RwSignal::new(None::<api::Account>);
    let error = RwSignal::new(None::<String>);
    let notice = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let load = move || {
        leptos::task::spawn_local(async move {
            match api::account().await {
                Ok(a) => {
                    let _ = account.try_set(Some(a));
                }
                Err(e) => {
                    let _ = error.try_set(Some(e.message));
                }
            }
        });
    };
    load();
    let name = RwSignal::new(String::new());
    Effect::new(move |_| {
        if let Some(a) = account.get() {
            name.set(a.name.clone().unwrap_or_default());
        }
    });
    let save_name = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        let n = name.get_untracked();
        leptos::task::spawn_local(async move {
            let r = api::set_display_name(&n).await;
            let _ = busy.try_set(false);
            match r {
                Ok(_) => {
                    let _ = notice.try_set(Some("Display name saved.".into()));
                    let _ = error.try_set(None);
                    load();
                }
                Err(e) => {
                    let _ = error.try_set(Some(e.message));
                }
            }
        });
    };
    let pick = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        busy.set(true);
        leptos::task::spawn_local(async move {
            let r = match square_png(file).await {
                Ok(png) => api::put_avatar(png).await.map_err(|e| e.message),
                Err(e) => Err(e),
            };
            let _ = busy.try_set(false);
            match r {
                Ok(_) => {
                    let _ = notice.try_set(Some("Profile picture updated.".into()));
                    let _ = error.try_set(None);
                    load();
                }
                Err(e) => {
                    let _ = error.try_set(Some(e));
                }
            }
        });
    };
    let everywhere = move |_| {
        leptos::task::spawn_local(async move {
            match api::sign_out_everywhere().await {
                Ok(()) => go("/"),
                Err(e) => {
                    let _ = error.try_set(Some(e.message));
                }
            }
        });
    };
    let confirming = RwSignal::new(false);
    let confirm_email = RwSignal::new(String::new());
    let delete = move |_| {
        busy.set(true);
        let e = confirm_email.get_untracked();
        leptos::task::spawn_local(async move {
            match api::delete_account(&e).await {
                Ok(()) => go("/"),
                Err(err) => {
                    let _ = busy.try_set(false);
                    let _ = error.try_set(Some(err.message));
                }
            }
        });
    };
    view! {
        <main class="atl-dev-main atl-orgs" data-testid="account-page">
            <h1>"Account"</h1>
            {move || notice.get().map(|n| view! { <p class="atl-notice" role="status" data-testid="account-notice">{n}</p> })}
            {move || error.get().map(|e| view! { <p class="atl-error" role="alert" data-testid="account-error">{e}</p> })}
            {move || account.get().map(|a| {
                let initial = a.display_name.chars().next().unwrap_or('?').to_uppercase().to_string();
                let owned = a.owned_organizations.clone();
                let email = a.email.clone();
                view! {
                    <section class="atl-card" aria-labelledby="acc-profile">
                        <h2 id="acc-profile">"Profile"</h2>
                        <div class="atl-row atl-avatar-row">
                            {match a.avatar_url.clone() {
                                Some(u) => view! { <img class="atl-avatar atl-avatar-lg" src=u alt="Your profile picture" data-testid="account-avatar"/> }.into_any(),
                                None => view! { <span class="atl-avatar atl-avatar-lg" aria-hidden="true">{initial}</span> }.into_any(),
                            }}
                            <label class="atl-secondary atl-file">
                                "Change picture"
                                <input type="file" accept="image/png,image/jpeg,image/webp" class="atl-visually-hidden"
                                    data-testid="avatar-input" on:change=pick/>
                            </label>
                            <span class="atl-hint">"Cropped to a square."</span>
                        </div>
                        <form class="atl-row" on:submit=save_name>
                            <label class="atl-field">
                                <span>"Display name"</span>
                                <input data-testid="display-name" maxlength="60" placeholder=a.display_name.clone()
                                    prop:value=move || name.get() on:input=move |e| name.set(event_target_value(&e))/>
                            </label>
                            <button class="atl-secondary" type="submit" data-testid="save-name" disabled=move || busy.get()>"Save"</button>
                        </form>
                        <p>"E-mail: " <strong data-testid="account-email">{email.clone()}</strong></p>
                    </section>
                    <section class="atl-card" aria-labelledby="acc-sessions">
                        <h2 id="acc-sessions">"Sessions"</h2>
                        <p class="atl-hint">"Signs you out in every browser and device, this one included."</p>
                        <div><button class="atl-secondary" data-testid="signout-everywhere" on:click=everywhere>"Sign out everywhere"</button></div>
                    </section>
                    <section class="atl-card atl-danger-zone" aria-labelledby="acc-danger">
                        <h2 id="acc-danger">"Danger Zone"</h2>
                        <p class="atl-hint">"Deleting your account is permanent."</p>
                        <div><button class="atl-secondary atl-danger" data-testid="delete-account" on:click=move |_| confirming.set(true)>"Delete account"</button></div>
                        <Show when=move || confirming.get()>
                            <div class="atl-card atl-confirm" role="alertdialog" aria-labelledby="del-title" data-testid="delete-dialog">
                                <h3 id="del-title">"Delete your account?"</h3>
                                <p>"This deletes, for good:"</p>
                                <ul>
                                    <li>"All your generated images and videos"</li>
                                    <li>"Your saved models and customizations"</li>
                                    <li>"API keys and subscriptions"</li>
                                    <li>"Account settings and preferences"</li>
                                    <li>"All associated data and files"</li>
                                </ul>
                                <p>"These organizations you own go with it, with all their assets; their members lose access but keep their own accounts:"</p>
                                <ul data-testid="delete-orgs">
                                    {owned.iter().map(|o| view! {
                                        <li>{format!("{} — {} member{}", o.name, o.members, if o.members == 1.0 { "" } else { "s" })}</li>
                                    }).collect_view()}
                                </ul>
                                <label class="atl-field">
                                    <span>{format!("Type {email} to confirm")}</span>
                                    <input data-testid="delete-confirm-email" autocomplete="off"
                                        prop:value=move || confirm_email.get() on:input=move |e| confirm_email.set(event_target_value(&e))/>
                                </label>
                                <div class="atl-row">
                                    <button class="atl-primary atl-danger-fill" data-testid="delete-confirm"
                                        disabled={let email = email.clone(); move || busy.get() || confirm_email.get().trim().to_lowercase() != email}
                                        on:click=delete>"Delete my account"</button>
                                    <button class="atl-link" on:click=move |_| confirming.set(false)>"Cancel"</button>
                                </div>
                            </div>
                        </Show>
                    </section>
                }
            })}
        </main>
    }
}

#[component]
pub fn HelpPage() -> impl IntoView {
    let help = RwSignal::new(None::<api::Help>);
    leptos::task::spawn_local(async move {
        if let Ok(h) = api::help().await {
            let _ = help.try_set(Some(h));
        }
    });
    view! {
        <main class="atl-dev-main atl-orgs" data-testid="help-page">
            <h1>"Help"</h1>
            {move || help.get().map(|h| view! {
                <section class="atl-card" aria-labelledby="help-get">
                    <h2 id="help-get">"How to get help"</h2>
                    <ul>
                        <li><a href=h.chat_url.clone() data-testid="help-chat">"Chat with support"</a>" — the quickest way, for product and billing questions."</li>
                        <li id="community"><a href=h.community_url.clone() data-testid="help-community">"Community"</a>" — ask other users, share feedback and feature requests."</li>
                        <li>"E-mail: "<a href=format!("mailto:{}", h.support_email) data-testid="help-support">{h.support_email.clone()}</a></li>
                        <li>"Billing: "<a href=format!("mailto:{}", h.billing_email)>{h.billing_email.clone()}</a>" · Legal: "<a href=format!("mailto:{}", h.legal_email)>{h.legal_email.clone()}</a></li>
                    </ul>
                </section>
                <section class="atl-card" aria-labelledby="help-webgl">
                    <h2 id="help-webgl">"The image editor says “Missing WebGL Support”"</h2>
                    <p>"The editor draws with your graphics card. These settings live in your browser; after changing them, restart the browser and reopen the editor."</p>
                    <ol>
                        <li>"Update your browser (its About page installs pending updates)."</li>
                        <li>"Restart your computer: it clears stuck GPU processes and applies driver updates."</li>
                        <li>"Pause extensions that block scripts or graphics (uBlock Origin in strict mode, NoScript, Privacy Badger) on this site, and reload."</li>
                        <li>"Turn on hardware acceleration: Chrome — Settings › System › “Use hardware acceleration when available”, then Relaunch (check chrome://gpu: WebGL and WebGL2 “Hardware accelerated”); Edge — Settings › System and performance, the same switch, then Restart (edge://gpu); Firefox — Settings › General › Performance: uncheck “Use recommended performance settings”, check “Use hardware acceleration when available”, restart (about:support › Graphics; about:config webgl.disabled = false); Safari — update macOS, then Settings › Advanced › “Show features for web developers” and keep WebGL features on."</li>
                    </ol>
                </section>
                <section class="atl-card" aria-labelledby="help-legal">
                    <h2 id="help-legal">"Legal"</h2>
                    <p><a href=h.privacy_url.clone() data-testid="help-privacy">"Privacy Policy"</a>" · "<a href=h.terms_url.clone() data-testid="help-terms">"Terms of Use"</a></p>
                    <p id="privacy" class="atl-hint">{format!("Questions about privacy or these terms: {}.", h.legal_email)}</p>
                    <p id="terms" class="atl-hint">"This installation's operator publishes its policies at the links above."</p>
                </section>
            })}
        </main>
    }
}
