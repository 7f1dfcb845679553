//! Atelier's Studio, a Leptos client-side app. Real routes (`leptos_router`): `/` (Home, where
//! sign-in lands), `/assistant`, `/studio`, `/studio/:tool` (its settings in the query;
//! `result=`/`branch=` open a generation), `/gallery` (and its Collections), `/developer`; the shell (`shell.rs`) around them.
//! One module per screen; every network call in `api`; shared state is a small context struct
//! of signals.

mod account;
mod api;
mod auth;
mod billing;
mod controls;
mod developer;
mod editor;
mod events;
mod export;
mod gallery;
mod home;
mod orgs;
mod picker;
mod shell;
mod studio;

use leptos::prelude::*;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{lazy_route, path, Lazy, LazyRoute};

use api::{Generation, User};

/// State shared by the screens.
#[derive(Clone, Copy)]
pub struct AppState {
    /// None until `/api/me` answered; then Some(None) when signed out.
    pub user: RwSignal<Option<Option<User>>>,
    /// Recent generations, newest first.
    pub history: RwSignal<Vec<Generation>>,
    /// Where the next history page starts, if there is one.
    pub history_next: RwSignal<Option<f64>>,
    /// The generation shown on the result screen.
    pub current: RwSignal<Option<Generation>>,
    /// Available App credits (refreshed when a generation starts or ends).
    pub credits: RwSignal<Option<f64>>,
    /// The App plan in force (refreshed with the credits): the Studio shows its gates.
    pub plan: RwSignal<Option<atelier_core::pricing::Plan>>,
    /// What the inference service runs (None until known).
    pub caps: RwSignal<Option<Vec<api::ToolCap>>>,
    /// The organization the session acts in (refreshed with the credits).
    pub org: RwSignal<Option<api::OrgNow>>,
}

impl AppState {
    /// Whether `tool` can run now, or why not.
    pub fn availability(&self, tool: atelier_core::Tool) -> Result<(), String> {
        self.caps.with(|c| match c {
            None => Err("checking the inference service…".into()),
            Some(caps) => match caps.iter().find(|c| c.tool == tool) {
                Some(c) if c.available => Ok(()),
                Some(c) => Err(c
                    .reason
                    .clone()
                    .unwrap_or_else(|| "not available on this installation".into())),
                None => Err("not available on this installation".into()),
            },
        })
    }

    /// Records an update from the server (event, poll or creation).
    pub fn refresh_credits(&self) {
        let (credits, plan, org) = (self.credits, self.plan, self.org);
        leptos::task::spawn_local(async move {
            if let Ok((c, p, o)) = api::credits().await {
                let _ = credits.try_set(Some(c));
                let _ = plan.try_set(Some(p));
                let _ = org.try_set(o);
            }
        });
    }

    pub fn upsert(&self, g: Generation) {
        let changed = self.history.with_untracked(|h| {
            h.iter()
                .find(|x| x.id == g.id)
                .is_none_or(|x| x.status != g.status)
        });
        if changed && (g.is_terminal() || g.status == atelier_core::JobStatus::InQueue) {
            self.refresh_credits();
        }
        self.history
            .update(|h| match h.iter_mut().find(|x| x.id == g.id) {
                Some(x) => *x = g.clone(),
                None => {
                    h.insert(0, g.clone());
                    h.sort_by(|a, b| b.created_at.total_cmp(&a.created_at));
                }
            });
        if self
            .current
            .with_untracked(|c| c.as_ref().is_some_and(|c| c.id == g.id))
        {
            self.current.set(Some(g));
        }
    }
}

// The Gallery, the Developer page and Billing are wasm modules of their own, fetched when first visited
// (Leptos lazy routes; `app/wasm-split-hook.sh` splits the linked wasm). Home (where sign-in
// lands) and the Assistant are not: a link followed while a lazy page is still loading shows
// that page under the new address (leptos_router 0.8.17), and sign-in must never race that.
macro_rules! lazy_page {
    ($route:ident, $page:path) => {
        struct $route;
        #[lazy_route]
        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }
            fn view(_this: Self) -> AnyView {
                view! { <$page/> }.into_any()
            }
        }
    };
}

// The Library asks for its first page as the route is chosen, while its module loads.
struct LibraryRoute;
#[lazy_route]
impl LazyRoute for LibraryRoute {
    fn data() -> Self {
        gallery::fetch_first_page();
        LibraryRoute
    }
    fn view(_this: Self) -> AnyView {
        view! { <gallery::Library/> }.into_any()
    }
}
lazy_page!(CollectionsRoute, gallery::Collections);
lazy_page!(DeveloperRoute, developer::DeveloperPage);
lazy_page!(BillingRoute, billing::BillingPage);
lazy_page!(OrganizationsRoute, orgs::OrganizationsPage);
lazy_page!(InviteRoute, orgs::InvitePage);
lazy_page!(AccountRoute, account::AccountPage);
lazy_page!(HelpRoute, account::HelpPage);

#[component]
fn App() -> impl IntoView {
    let state = AppState {
        user: RwSignal::new(None),
        history: RwSignal::new(vec![]),
        history_next: RwSignal::new(None),
        current: RwSignal::new(None),
        credits: RwSignal::new(None),
        plan: RwSignal::new(None),
        caps: RwSignal::new(None),
        org: RwSignal::new(None),
    };
    provide_context(state);
    leptos::task::spawn_local(async move {
        let me = api::me().await.ok();
        if let Some((_, credits, plan, org)) = &me {
            state.credits.set(Some(*credits));
            state.plan.set(Some(*plan));
            state.org.set(org.clone());
        }
        state.user.set(Some(me.map(|m| m.0)));
    });
    view! {
        <Router>
            <div class="atl-app">
                {move || match state.user.get() {
                    None => view! { <div class="atl-loading">"Loading…"</div> }.into_any(),
                    Some(None) => view! { <auth::AuthScreen/> }.into_any(),
                    Some(Some(u)) => view! {
                        <shell::Shell user=u>
                            <Routes fallback=|| view! { <shell::NotFound/> }>
                                <Route path=path!("/") view=home::Home/>
                                <Route path=path!("/assistant") view=home::AssistantPage/>
                                <Route path=path!("/studio") view=studio::Studio/>
                                <Route path=path!("/studio/:tool") view=studio::Studio/>
                                <Route path=path!("/gallery") view={Lazy::<LibraryRoute>::new()}/>
                                <Route path=path!("/gallery/collections") view={Lazy::<CollectionsRoute>::new()}/>
                                <Route path=path!("/gallery/collections/:id") view={Lazy::<LibraryRoute>::new()}/>
                                <Route path=path!("/developer") view={Lazy::<DeveloperRoute>::new()}/>
                                <Route path=path!("/billing") view={Lazy::<BillingRoute>::new()}/>
                                <Route path=path!("/billing/api") view={Lazy::<BillingRoute>::new()}/>
                                <Route path=path!("/organizations") view={Lazy::<OrganizationsRoute>::new()}/>
                                <Route path=path!("/invite/:token") view={Lazy::<InviteRoute>::new()}/>
                                <Route path=path!("/account") view={Lazy::<AccountRoute>::new()}/>
                                <Route path=path!("/help") view={Lazy::<HelpRoute>::new()}/>
                            </Routes>
                        </shell::Shell>
                    }.into_any(),
                }}
            </div>
        </Router>
    }
}

fn main() {
    console_error_panic_hook_lite();
    leptos::mount::mount_to_body(App);
}

/// Logs panics to the console (no extra crate needed for this).
fn console_error_panic_hook_lite() {
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("panic: {info}").into());
    }));
}
