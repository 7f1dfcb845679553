//! The shell around every page, the docs' layout: a left sidebar with the pages (Home,
//! Assistant, Studio, Gallery, Developer API), the App Credits panel (with Top up)
//! and the profile menu (the organization switcher and Organizations settings, Billing, Sign
//! out) at the bottom-left. On narrow screens (iPad portrait) it collapses to a
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
    // Known already when the app started signed in (`/api/me`); after a sign-in, asked now.
    if state.credits.get_untracked().is_none() {
        state.refresh_credits();
    }
    // The switcher: the organizations the account is in (shown by the docs' rule).
    let orgs = RwSignal::new(None::<api::OrgsView>);
    // Fetched again whenever the current organization changes (a rename, a switch), not each
    // time the credits are refreshed.
    let org_now = Memo::new(move |_| state.org.get());
    Effect::new(move |_| {
        org_now.track();
        leptos::task::spawn_local(async move {
            if let Ok(o) = api::orgs().await {
                let _ = orgs.try_set(Some(o));
            }
        });
    });
    let email = user.email.clone();
    let initial = atelier_core::org::display_name(user.name.as_deref(), &user.email)
        .chars()
        .next()
        .unwrap_or('?')
        .to_uppercase()
        .to_string();
    // The menu closes when a page opens.
    let menu = NodeRef::<leptos::html::Details>::new();
    Effect::new(move |_| {
        location.pathname.track();
        if let Some(d) = menu.get_untracked() {
            d.set_open(false);
        }
    });
    let switch = move |ev: leptos::ev::Event| {
        let id = event_target_value(&ev);
        leptos::task::spawn_local(async move {
            if api::switch_org(&id).await.is_ok() {
                // Everything on screen belonged to the other organization: start over in this one.
                if let Some(w) = web_sys::window() {
                    let _ = w.location().assign("/");
                }
            }
        });
    };
    let is_owner = move || {
        state
            .org
            .get()
            .is_none_or(|o| o.role == atelier_core::org::Role::Owner)
    };
    let sign_out = move |_| {
        leptos::task::spawn_local(async move {
            let _ = api::sign_out().await;
            state.history.set(vec![]);
            state.current.set(None);
            // The next account's credits and organization are asked for when it signs in.
            state.credits.set(None);
            state.plan.set(None);
            state.org.set(None);
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
                    <Show when=is_owner>
                        <a class="atl-link atl-topup-link" href="/billing" data-testid="sidebar-topup">"Top up"</a>
                    </Show>
                </div>
                <details class="atl-profile atl-profile-menu" data-testid="profile-menu" node_ref=menu>
                    <summary class="atl-profile-button" data-testid="profile-button" title="Profile menu: account, organizations, billing, help, sign out">
                        {match user.avatar_at {
                            Some(t) => view! { <img class="atl-avatar" src=format!("/api/account/avatar?v={t}") alt=""/> }.into_any(),
                            None => view! { <span class="atl-avatar" aria-hidden="true">{initial}</span> }.into_any(),
                        }}
                        <span class="atl-user" data-testid="user-email" title="Signed in">{user.email.clone()}</span>
                    </summary>
                    <div class="atl-menu-items">
                        {move || orgs.get().filter(|o| o.menu).map(|o| {
                            let current = o.current.clone();
                            view! {
                                <div class="atl-org-switch" role="group" aria-label="Organizations">
                                    <label class="atl-muted" for="org-switch">"Organization"</label>
                                    <select id="org-switch" data-testid="org-switch" on:change=switch>
                                        {o.orgs.into_iter().map(|x| {
                                            let label = match (x.personal, x.name == email) {
                                                (true, true) => "Personal".to_string(),
                                                (true, false) => format!("{} (personal)", x.name),
                                                _ => x.name.clone(),
                                            };
                                            view! { <option value=x.id.clone() selected={x.id == current}>{label}</option> }
                                        }).collect_view()}
                                    </select>
                                    <a class="atl-link" href="/organizations" data-testid="to-organizations">"Organization settings"</a>
                                </div>
                            }
                        })}
                        <a class="atl-link" href="/account" data-testid="to-account">"Account"</a>
                        <Show when=is_owner>
                            <a class="atl-link" href="/billing" data-testid="to-billing">"Billing"</a>
                        </Show>
                        <a class="atl-link" href="/developer" data-testid="menu-developer">"Developer API"</a>
                        <a class="atl-link" href="/help" data-testid="to-help">"Help"</a>
                        <button class="atl-link" data-testid="signout" on:click=sign_out>"Sign out"</button>
                    </div>
                </details>
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
