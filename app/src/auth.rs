//! Sign in and sign up.

use leptos::prelude::*;

use crate::api;
use crate::AppState;

#[component]
pub fn AuthScreen() -> impl IntoView {
    let state = expect_context::<AppState>();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let create = RwSignal::new(false);
    // A provider's sign-in that failed comes back with `?auth_error=…`.
    let query = leptos_router::hooks::use_query_map();
    let error = RwSignal::new(query.get_untracked().get("auth_error"));
    let busy = RwSignal::new(false);
    // Sign-in providers the operator configured (OpenID Connect), each back to this address.
    let providers = RwSignal::new(Vec::<api::AuthProvider>::new());
    leptos::task::spawn_local(async move {
        if let Ok(p) = api::auth_providers().await {
            let _ = providers.try_set(p);
        }
    });
    let here = web_sys::window()
        .and_then(|w| w.location().pathname().ok())
        .unwrap_or_else(|| "/".into());
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let (e, p, c) = (
            email.get_untracked(),
            password.get_untracked(),
            create.get_untracked(),
        );
        leptos::task::spawn_local(async move {
            match api::sign_in(&e, &p, c).await {
                Ok(u) => {
                    password.set(String::new());
                    state.user.set(Some(Some(u)));
                }
                Err(err) => error.set(Some(err.message)),
            }
            busy.set(false);
        });
    };
    view! {
        <main class="atl-auth">
            <h1 class="atl-brand">"Atelier"</h1>
            <p class="atl-tagline">"AI fashion photo studio"</p>
            <form class="atl-card" on:submit=submit data-testid="auth-form">
                <h2>{move || if create.get() { "Create your account" } else { "Sign in" }}</h2>
                <label>"Email"
                    <input type="email" name="email" autocomplete="email" required
                        data-testid="email"
                        prop:value=move || email.get()
                        on:input=move |ev| email.set(event_target_value(&ev))/>
                </label>
                <label>"Password"
                    <input type="password" name="password" required minlength="8"
                        data-testid="password"
                        autocomplete=move || if create.get() { "new-password" } else { "current-password" }
                        prop:value=move || password.get()
                        on:input=move |ev| password.set(event_target_value(&ev))/>
                </label>
                <Show when=move || error.get().is_some()>
                    <p class="atl-error" role="alert" data-testid="auth-error">{move || error.get()}</p>
                </Show>
                <button type="submit" class="atl-primary" data-testid="auth-submit" disabled=move || busy.get()>
                    {move || if create.get() { "Create account" } else { "Sign in" }}
                </button>
                {move || {
                    let list = providers.get();
                    (!list.is_empty()).then(|| {
                        let here = here.clone();
                        view! {
                            <div class="atl-providers" role="group" aria-label="Other ways to sign in">
                                <span class="atl-muted">"or"</span>
                                {list.into_iter().map(|p| view! {
                                    <a class="atl-secondary atl-provider-button" rel="external" data-testid=format!("oidc-{}", p.id)
                                        href=format!("{}?return_to={}", p.url, js_sys::encode_uri_component(&here))>
                                        {format!("Continue with {}", p.name)}
                                    </a>
                                }).collect_view()}
                            </div>
                        }
                    })
                }}
                <button type="button" class="atl-link" data-testid="auth-toggle"
                    on:click=move |_| { create.update(|c| *c = !*c); error.set(None); }>
                    {move || if create.get() { "I have an account: sign in" } else { "New here? Create an account" }}
                </button>
            </form>
        </main>
    }
}
