//! The shell around every page, the docs' layout: a left sidebar with the pages (Home,
//! Assistant, Studio, Gallery, Developer API), the App Credits panel (with Top up)
//! and the profile menu (Billing, Sign out) at the bottom-left. On narrow screens (iPad portrait) it collapses to a
//! bar across the top. Links are plain anchors: the router turns them into client-side
//! navigation, so Back, Forward, reload and a typed URL all land on the same page.

use leptos::prelude::*;
use leptos_router::hooks::{use_location, use_navigate};
use leptos_router::NavigateOptions;

use crate::api::{self, User};
use crate::AppState;

/// A page in the sidebar: its path, label and test id.
const PAGES: [(&str, &str, &str); 5] = [
    ("/", "Home", "to-home"),
    ("/assistant", "Assistant", "to-assistant"),
    ("/studio", "Studio", "to-studio"),
    ("/gallery", "Gallery", "to-gallery"),
    ("/developer", "Developer API", "to-developer"),
];

#[component]
pub fn Shell(user: User, children: Children) -> impl IntoView {
    let state = expect_context::<AppState>();
    let location = use_location();
    // The old `#developer` address (bookmarks from before real routes) opens its page.
    if web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .is_some_and(|h| h == "#developer")
    {
        use_navigate()(
            "/developer",
            NavigateOptions {
                replace: true,
                ..Default::default()
            },
        );
    }
    state.refresh_credits();
    let sign_out = move |_| {
        leptos::task::spawn_local(async move {
            let _ = api::sign_out().await;
            state.history.set(vec![]);
            state.current.set(None);
            state.user.set(Some(None));
        });
    };
    view! {
        <div class="atl-shell">
            <nav class="atl-sidebar" aria-label="Pages">
                <a class="atl-brand" href="/">"Atelier"</a>
                <ul class="atl-nav">
                    {PAGES.iter().map(|(href, label, testid)| {
                        let href = *href;
                        let current = move || {
                            let p = location.pathname.get();
                            (p == href || (href != "/" && p.starts_with(&format!("{href}/")))).then_some("page")
                        };
                        view! {
                            <li><a href=href data-testid=*testid aria-current=current>{*label}</a></li>
                        }
                    }).collect_view()}
                </ul>
                <span class="atl-spacer"></span>
                <div class="atl-credits-panel">
                    <span class="atl-muted">"App credits"</span>
                    <span class="atl-credits" data-testid="credits" title="Available App credits">
                        {move || state.credits.get().map(|c| format!("{c} credits")).unwrap_or_default()}
                    </span>
                    <a class="atl-link atl-topup-link" href="/billing" data-testid="sidebar-topup">"Top up"</a>
                </div>
                <div class="atl-profile">
                    <span class="atl-user" data-testid="user-email" title="Signed in">{user.email.clone()}</span>
                    <a class="atl-link" href="/billing" data-testid="to-billing" aria-current=move || location.pathname.get().starts_with("/billing").then_some("page")>"Billing"</a>
                    <button class="atl-link" data-testid="signout" on:click=sign_out>"Sign out"</button>
                </div>
            </nav>
            <div class="atl-page">{children()}</div>
        </div>
    }
}

/// An address that is no page of the app.
#[component]
pub fn NotFound() -> impl IntoView {
    let location = use_location();
    view! {
        <main class="atl-dev-main" data-testid="not-found">
            <h1>"Page not found"</h1>
            <p class="atl-hint">{move || format!("There is no page at {}.", location.pathname.get())}</p>
            <p><a href="/studio">"Open the Studio"</a></p>
        </main>
    }
}
