//! Teams: `/organizations` (the current organization's card with rename, its members with
//! roles, seats, invite links, removing members, and the Danger Zone's Leave) and
//! `/invite/:token` (what an invite offers, and Accept). A lazy route: fetched when first
//! visited.

use atelier_core::org::{OrgView, Role};
use leptos::prelude::*;

use crate::api;

fn when(ms: f64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms));
    d.to_locale_date_string("en-US", &wasm_bindgen::JsValue::UNDEFINED)
        .as_string()
        .unwrap_or_default()
}

/// Reloads the whole app, so every page reads the organization the session now acts in.
fn reload_at(path: &str) {
    if let Some(w) = web_sys::window() {
        let _ = w.location().assign(path);
    }
}

/// `navigator.clipboard.writeText(text)`; false where the browser has no clipboard API.
pub(crate) fn copy_text(w: &web_sys::Window, text: &str) -> bool {
    use wasm_bindgen::JsCast;
    let get = |o: &wasm_bindgen::JsValue, k: &str| js_sys::Reflect::get(o, &k.into()).ok();
    let Some(clip) = get(w, "navigator").and_then(|n| get(&n, "clipboard")) else {
        return false;
    };
    get(&clip, "writeText")
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
        .is_some_and(|f| f.call1(&clip, &text.into()).is_ok())
}

#[derive(Clone, Copy)]
struct Ctx {
    view: RwSignal<Option<OrgView>>,
    error: RwSignal<Option<String>>,
    notice: RwSignal<Option<String>>,
    link: RwSignal<Option<String>>,
    busy: RwSignal<bool>,
}

impl Ctx {
    fn load(self) {
        leptos::task::spawn_local(async move {
            match api::org().await {
                Ok(v) => {
                    let _ = self.view.try_set(Some(v));
                }
                Err(e) => {
                    let _ = self.error.try_set(Some(e.message));
                }
            }
        });
    }

    /// Runs an action, then reloads the page's data; its error (if any) is shown.
    fn act<F, Fut>(self, f: F, done: Option<&'static str>)
    where
        F: FnOnce() -> Fut + 'static,
        Fut: std::future::Future<Output = Result<(), api::ApiError>> + 'static,
    {
        self.busy.set(true);
        self.error.set(None);
        leptos::task::spawn_local(async move {
            let r = f().await;
            let _ = self.busy.try_set(false);
            match r {
                Ok(()) => {
                    let _ = self.notice.try_set(done.map(str::to_string));
                    self.load();
                }
                Err(e) => {
                    let _ = self.error.try_set(Some(e.message));
                }
            }
        });
    }
}

#[component]
pub fn OrganizationsPage() -> impl IntoView {
    let ctx = Ctx {
        view: RwSignal::new(None),
        error: RwSignal::new(None),
        notice: RwSignal::new(None),
        link: RwSignal::new(None),
        busy: RwSignal::new(false),
    };
    ctx.load();
    view! {
        <main class="atl-dev-main atl-orgs" data-testid="organizations-page">
            <h1>"Organizations"</h1>
            {move || ctx.notice.get().map(|n| view! { <p class="atl-notice" role="status" data-testid="org-notice">{n}</p> })}
            {move || ctx.error.get().map(|e| view! { <p class="atl-error" role="alert" data-testid="org-error">{e}</p> })}
            {move || match ctx.view.get() {
                None => view! { <p class="atl-loading">"Loading…"</p> }.into_any(),
                Some(v) => view! { <OrgBody ctx=ctx v=v/> }.into_any(),
            }}
        </main>
    }
}

#[component]
fn OrgBody(ctx: Ctx, v: OrgView) -> impl IntoView {
    let owner = v.role == Role::Owner;
    let state = use_context::<crate::AppState>();
    let name = RwSignal::new(v.name.clone());
    let rename = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = name.get_untracked();
        ctx.act(
            move || async move {
                api::rename_org(&n).await?;
                // The sidebar's switcher and organization follow.
                if let Some(s) = state {
                    s.refresh_credits();
                }
                Ok(())
            },
            Some("Renamed."),
        );
    };
    let invite_email = RwSignal::new(String::new());
    let invite = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        ctx.busy.set(true);
        ctx.error.set(None);
        let to = invite_email.get_untracked();
        leptos::task::spawn_local(async move {
            let r = api::create_invite(&to).await;
            let _ = ctx.busy.try_set(false);
            match r {
                Ok(i) => {
                    let _ = ctx.link.try_set(Some(i.url));
                    let _ = ctx.notice.try_set(Some(if i.emailed {
                        format!("Invite sent to {}. The link below works too.", to.trim())
                    } else if let Some(e) = i.email_error {
                        e
                    } else {
                        "Invite link ready: copy it and send it to your teammate.".into()
                    }));
                    let _ = invite_email.try_set(String::new());
                    ctx.load();
                }
                Err(e) => {
                    let _ = ctx.error.try_set(Some(e.message));
                }
            }
        });
    };
    let copy = move |_| {
        if let (Some(link), Some(w)) = (ctx.link.get_untracked(), web_sys::window()) {
            ctx.notice.set(Some(if copy_text(&w, &link) {
                "Invite link copied.".into()
            } else {
                "Copy the link from the box above.".into()
            }));
        }
    };
    let seats = v.seats;
    let personal = v.personal;
    let members = v.members.clone();
    let invites = v.invites.clone();
    view! {
        <section class="atl-card" aria-labelledby="org-current" data-testid="org-card">
            <h2 id="org-current">"Current organization"</h2>
            {if owner {
                view! {
                    <form class="atl-row" on:submit=rename>
                        <label class="atl-field">
                            <span>"Name"</span>
                            <input data-testid="org-name" maxlength="60" prop:value=move || name.get()
                                on:input=move |e| name.set(event_target_value(&e))/>
                        </label>
                        <button class="atl-secondary" type="submit" data-testid="org-rename" disabled=move || ctx.busy.get()>"Rename"</button>
                    </form>
                }.into_any()
            } else {
                view! { <p class="atl-org-name" data-testid="org-name-text">{v.name.clone()}</p> }.into_any()
            }}
            <p>"Your role: " <strong data-testid="org-role">{v.role.label()}</strong>
                {personal.then_some(" · your personal organization")}</p>
        </section>
        <section class="atl-card" aria-labelledby="org-members" data-testid="org-members">
            <div class="atl-row atl-between">
                <h2 id="org-members">"Team members"</h2>
                <span class="atl-muted" data-testid="org-seats">
                    {format!("Seats: {} of {} used · {} remaining", seats.used, seats.included, seats.remaining)}
                </span>
            </div>
            {(seats.included == 0).then(|| view! {
                <p class="atl-hint">"Your plan includes no team seats. "<a href="/billing">"Subscribe in Billing"</a>" to invite members (Basic 2, Pro 5, Agency 10)."</p>
            })}
            {owner.then(|| view! {
                <form class="atl-row" on:submit=invite>
                    <label class="atl-field">
                        <span>"E-mail (optional)"</span>
                        <input type="email" data-testid="org-invite-email" placeholder="teammate@example.com"
                            prop:value=move || invite_email.get() on:input=move |e| invite_email.set(event_target_value(&e))/>
                    </label>
                    <button class="atl-primary" type="submit" data-testid="org-invite" disabled=move || ctx.busy.get() || seats.remaining == 0>"Invite"</button>
                    <span class="atl-hint">"A single-use link, valid 7 days; e-mailed when this server sends mail."</span>
                </form>
            })}
            {move || ctx.link.get().map(|l| view! {
                <div class="atl-row atl-invite-link">
                    <label class="atl-field atl-grow">
                        <span>"Invite link"</span>
                        <input readonly data-testid="org-invite-link" prop:value=l.clone()/>
                    </label>
                    <button class="atl-secondary" data-testid="org-invite-copy" on:click=copy>"Copy"</button>
                </div>
            })}
            <ul class="atl-members" data-testid="org-member-list">
                {members.into_iter().map(|m| {
                    let uid = m.user_id.clone();
                    let uid2 = m.user_id.clone();
                    let manageable = owner && !m.owner_of_record;
                    let role_now = m.role;
                    view! {
                        <li class="atl-member" data-testid="org-member">
                            <span class="atl-member-name">{m.name.clone()}</span>
                            <span class="atl-muted">{m.email.clone()}</span>
                            {if manageable {
                                view! {
                                    <label class="atl-visually-hidden" for=format!("role-{}", m.user_id)>{format!("Role of {}", m.email)}</label>
                                    <select id=format!("role-{}", m.user_id) data-testid="org-member-role" disabled=move || ctx.busy.get()
                                        on:change=move |e| {
                                            let role = event_target_value(&e);
                                            let uid = uid.clone();
                                            ctx.act(move || async move { api::set_role(&uid, &role).await.map(|_| ()) }, Some("Role changed."));
                                        }>
                                        <option value="collaborator" selected={role_now == Role::Collaborator}>"Collaborator"</option>
                                        <option value="owner" selected={role_now == Role::Owner}>"Owner"</option>
                                    </select>
                                    <button class="atl-link atl-danger" data-testid="org-member-remove" disabled=move || ctx.busy.get()
                                        on:click=move |_| {
                                            let uid = uid2.clone();
                                            ctx.act(move || async move { api::remove_member(&uid).await }, Some("Member removed."));
                                        }>"Remove"</button>
                                }.into_any()
                            } else {
                                view! { <span class="atl-pill">{m.role.label()}</span> }.into_any()
                            }}
                        </li>
                    }
                }).collect_view()}
            </ul>
            {(!invites.is_empty()).then(|| view! {
                <h3>"Open invites"</h3>
                <ul class="atl-members" data-testid="org-invites">
                    {invites.into_iter().map(|i| {
                        let id = i.id.clone();
                        view! {
                            <li class="atl-member">
                                <span>{i.email.clone().unwrap_or_else(|| "Invite link".into())}</span>
                                <span class="atl-muted">{format!("expires {}", when(i.expires_at))}</span>
                                <button class="atl-link" data-testid="org-invite-revoke" on:click=move |_| {
                                    let id = id.clone();
                                    ctx.act(move || async move { api::revoke_invite(&id).await }, Some("Invite revoked."));
                                }>"Revoke"</button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
        {(!personal).then(|| view! {
            <section class="atl-card atl-danger-zone" aria-labelledby="org-danger">
                <h2 id="org-danger">"Danger Zone"</h2>
                {if owner {
                    view! { <p class="atl-hint">"Organization owners cannot leave their organization. To transfer ownership, contact support."</p> }.into_any()
                } else {
                    view! {
                        <p class="atl-hint">"Leaving removes your membership at once: you lose access to this organization's assets and plan; what you made stays with it."</p>
                        <button class="atl-secondary atl-danger" data-testid="org-leave" disabled=move || ctx.busy.get() on:click=move |_| {
                            ctx.busy.set(true);
                            leptos::task::spawn_local(async move {
                                match api::leave_org().await {
                                    Ok(()) => reload_at("/"),
                                    Err(e) => {
                                        let _ = ctx.busy.try_set(false);
                                        let _ = ctx.error.try_set(Some(e.message));
                                    }
                                }
                            });
                        }>"Leave organization"</button>
                    }.into_any()
                }}
            </section>
        })}
    }
}

/// `/invite/:token`: who invites you where, and Accept (which switches you into it).
#[component]
pub fn InvitePage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let token = params.get_untracked().get("token").unwrap_or_default();
    let preview = RwSignal::new(None::<Result<api::InvitePreview, String>>);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    {
        let token = token.clone();
        leptos::task::spawn_local(async move {
            let r = api::invite_preview(&token).await.map_err(|e| e.message);
            let _ = preview.try_set(Some(r));
        });
    }
    let accept = move |_| {
        let token = token.clone();
        busy.set(true);
        leptos::task::spawn_local(async move {
            match api::accept_invite(&token).await {
                Ok(()) => reload_at("/studio"),
                Err(e) => {
                    let _ = busy.try_set(false);
                    let _ = error.try_set(Some(e.message));
                }
            }
        });
    };
    view! {
        <main class="atl-dev-main" data-testid="invite-page">
            <h1>"Organization invite"</h1>
            {move || error.get().map(|e| view! { <p class="atl-error" role="alert" data-testid="invite-error">{e}</p> })}
            {move || match preview.get() {
                None => view! { <p class="atl-loading">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="atl-error" role="alert" data-testid="invite-error">{e}</p> }.into_any(),
                Some(Ok(p)) if p.member => view! {
                    <p>{format!("You are already a member of {}.", p.org_name)}</p>
                    <p><a href="/organizations">"Open Organizations"</a></p>
                }.into_any(),
                Some(Ok(p)) => {
                    let accept = accept.clone();
                    view! {
                        <section class="atl-card">
                            <p data-testid="invite-offer">{format!("{} invites you to join {} as a Collaborator.", p.invited_by, p.org_name)}</p>
                            <p class="atl-hint">{format!("You will use its plan and credits, and what you make there belongs to it. The link expires {}.", when(p.expires_at))}</p>
                            <button class="atl-primary" data-testid="invite-accept" disabled=move || busy.get() on:click=accept>"Accept and switch"</button>
                        </section>
                    }.into_any()
                }
            }}
        </main>
    }
}
