//! The Billing pages: `/billing` (App: plan, interval, next reset, features, the three credit
//! buckets, plans to subscribe / upgrade / downgrade / cancel, top-ups) and `/billing/api` (API:
//! balance by bucket, top-ups at the tier's rate, commitment tiers, automatic top-up, payment
//! method). Every price and rule comes from core (`pricing`, `billing`); every change is one POST
//! whose answer is the new state. Money moves only after an explicit confirmation.

use atelier_core::billing::{AccountView, BillingView};
use atelier_core::pricing::{topup_cents, valid_topup, ApiTier, Plan, Surface, VideoResolution};
use atelier_core::subscription::Interval;
use leptos::prelude::*;
use serde_json::json;

use crate::api::{self, BillingDone, Payment};
use crate::AppState;

/// "$1,249.00".
fn dollars(cents: u64) -> String {
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("${grouped}.{:02}", cents % 100)
}

/// Dates as "Jan 5, 2027" in the viewer's time zone.
fn day(ms: u64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ms as f64));
    const M: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {}, {}",
        M[d.get_month() as usize % 12],
        d.get_date(),
        d.get_full_year()
    )
}

fn plan_id(p: Plan) -> &'static str {
    match p {
        Plan::Free => "free",
        Plan::Basic => "basic",
        Plan::Pro => "pro",
        Plan::Agency => "agency",
        Plan::Agency2x => "agency_2x",
    }
}

fn tier_id(t: ApiTier) -> &'static str {
    match t {
        ApiTier::OnDemand => "on_demand",
        ApiTier::Tier1 => "tier1",
        ApiTier::Tier2 => "tier2",
        ApiTier::Tier3 => "tier3",
    }
}

/// A plan's or tier's name from its id (`agency_2x` → "Agency 2×").
fn offer_name(id: &str) -> String {
    let v = serde_json::Value::from(id);
    if let Ok(p) = serde_json::from_value::<Plan>(v.clone()) {
        return p.info().name.into();
    }
    serde_json::from_value::<ApiTier>(v)
        .map(|t| t.info().name.to_string())
        .unwrap_or_else(|_| id.to_string())
}

fn interval_id(i: Interval) -> &'static str {
    match i {
        Interval::Monthly => "monthly",
        Interval::Annual => "annual",
    }
}

/// What a plan includes, as the pricing cards list it.
fn features(p: Plan) -> Vec<String> {
    let i = p.info();
    let mut f = vec![];
    if p == Plan::Free {
        f.push(format!(
            "{} complimentary credits to try the core tools",
            i.one_time_credits
        ));
    } else {
        f.push(format!("{} monthly credits", i.monthly_credits));
    }
    if i.daily_credits > 0 {
        f.push(format!("{} daily credits", i.daily_credits));
    }
    f.push("All core AI fashion tools, up to 4K".into());
    if i.quality_mode {
        f.push("Quality mode: the most realistic results".into());
    }
    f.push(
        match i.max_video {
            VideoResolution::P1080 => "AI videos up to 1080p, with an End Image",
            _ => "AI videos up to 720p",
        }
        .into(),
    );
    if i.custom_faces {
        f.push("Upload or create your own Face References".into());
    }
    if i.invites > 0 {
        f.push(format!("Invite {} team members", i.invites));
    }
    f.push(format!(
        "Up to {} simultaneous generation{}",
        i.simultaneous_generations,
        if i.simultaneous_generations == 1 {
            ""
        } else {
            "s"
        }
    ));
    f
}

/// A change waiting for the user's confirmation: what it does, what it costs now, the POST.
#[derive(Clone, PartialEq)]
struct Pending {
    summary: String,
    what: &'static str,
    body: serde_json::Value,
}

#[derive(Clone, Copy)]
struct Ctx {
    view: RwSignal<Option<BillingView>>,
    error: RwSignal<Option<String>>,
    notice: RwSignal<Option<String>>,
    pending: RwSignal<Option<Pending>>,
    busy: RwSignal<bool>,
    payments: RwSignal<u32>,
}

impl Ctx {
    fn run(self, what: &'static str, body: serde_json::Value) {
        if self.busy.get_untracked() {
            return;
        }
        self.busy.set(true);
        self.error.set(None);
        let state = expect_context::<AppState>();
        leptos::task::spawn_local(async move {
            let r: Result<BillingDone, api::ApiError> = api::billing_change(what, body).await;
            let _ = self.busy.try_set(false);
            match r {
                Ok(d) if d.url.is_some() => {
                    // Stripe: Checkout or the Billing Portal finishes it; its webhook applies it.
                    if let (Some(w), Some(url)) = (web_sys::window(), d.url.as_deref()) {
                        let _ = w.location().assign(url);
                    }
                }
                Ok(d) => {
                    let _ = self.notice.try_set(Some(done_message(&d)));
                    let _ = self.view.try_set(Some(d.billing));
                    let _ = self.pending.try_set(None);
                    let _ = self.payments.try_update(|n| *n += 1);
                    state.refresh_credits();
                }
                Err(e) => {
                    let _ = self.error.try_set(Some(e.message));
                }
            }
        });
    }

    fn ask(self, summary: String, what: &'static str, body: serde_json::Value) {
        self.notice.set(None);
        self.error.set(None);
        self.pending.set(Some(Pending {
            summary,
            what,
            body,
        }));
    }
}

fn done_message(d: &BillingDone) -> String {
    let paid = d
        .charged_cents
        .map(|c| format!(" {} was charged.", dollars(c)))
        .unwrap_or_default();
    let what = match d.result.as_str() {
        "started" => "Your subscription has started.",
        "upgraded" => "Upgraded: the new plan applies now.",
        "downgrade_scheduled" => "The downgrade takes effect at the end of this cycle.",
        "cancel_scheduled" => "Your subscription ends at the end of this cycle.",
        "kept" => "Your current plan will renew as usual.",
        "paid" => "Credits added.",
        "auto_topup_on" => "Automatic top-up is on.",
        "auto_topup_off" => "Automatic top-up is off.",
        "card_saved" => "Payment method saved.",
        "card_removed" => "Payment method removed.",
        _ => "Done.",
    };
    format!("{what}{paid}")
}

/// `/billing` and `/billing/api`.
#[component]
pub fn BillingPage() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    let api_tab = move || location.pathname.get().trim_end_matches('/') == "/billing/api";
    let ctx = Ctx {
        view: RwSignal::new(None),
        error: RwSignal::new(None),
        notice: RwSignal::new(None),
        pending: RwSignal::new(None),
        busy: RwSignal::new(false),
        payments: RwSignal::new(0),
    };
    leptos::task::spawn_local(async move {
        match api::billing().await {
            Ok(v) => {
                let _ = ctx.view.try_set(Some(v));
            }
            Err(e) => {
                let _ = ctx.error.try_set(Some(e.message));
            }
        }
    });
    // Back from Stripe Checkout: its webhook applies the purchase in a moment.
    let query = leptos_router::hooks::use_query_map();
    if let Some(c) = query.get_untracked().get("checkout") {
        ctx.notice.set(Some(if c == "done" {
            "Payment received: your plan or credits appear here as soon as Stripe confirms it (reload in a moment).".into()
        } else {
            "Checkout was canceled; nothing was charged.".into()
        }));
    }
    if let Some(c) = query.get_untracked().get("card") {
        ctx.notice.set(Some(if c == "saved" {
            "Card saved: it appears here as soon as Stripe confirms it (reload in a moment).".into()
        } else {
            "Nothing was saved.".into()
        }));
    }
    // A new tab starts without the other tab's confirmation or message.
    Effect::new(move |prev: Option<bool>| {
        let t = api_tab();
        if prev.is_some_and(|p| p != t) {
            ctx.pending.set(None);
            ctx.notice.set(None);
        }
        t
    });
    let tab = move |api: bool| if api_tab() == api { "page" } else { "false" };
    view! {
        <main class="atl-dev-main atl-billing" data-testid="billing-page">
            <div class="atl-billing-head">
                <h1>"Billing"</h1>
                {move || if ctx.view.get().is_some_and(|v| v.provider.as_deref() == Some("stripe")) {
                    let back = if api_tab() { "/billing/api" } else { "/billing" };
                    view! { <button class="atl-link" data-testid="manage-billing" on:click=move |_| ctx.run("portal", json!({"back": back}))>"Manage my billing settings"</button> }.into_any()
                } else {
                    view! { <a class="atl-link" href="#payment" data-testid="manage-billing">"Manage my billing settings"</a> }.into_any()
                }}
            </div>
            <nav class="atl-tabs" aria-label="Billing">
                <a class="atl-tab" href="/billing" aria-current=move || tab(false) data-testid="billing-tab-app">"App"</a>
                <a class="atl-tab" href="/billing/api" aria-current=move || tab(true) data-testid="billing-tab-api">"Developer API"</a>
            </nav>
            {move || ctx.view.get().is_some_and(|v| v.provider.as_deref() == Some("local")).then(|| view! {
                <p class="atl-hint atl-provider" data-testid="local-provider">
                    "Local payment provider: purchases complete at once and no money moves. An operator connects a real provider for production."
                </p>
            })}
            {move || ctx.view.get().is_some_and(|v| v.provider.is_none()).then(|| view! {
                <p class="atl-error">"Payments are not set up on this instance. Ask its operator to change your plan."</p>
            })}
            <Confirm ctx=ctx/>
            {move || ctx.notice.get().map(|n| view! { <p class="atl-notice" role="status" data-testid="billing-notice">{n}</p> })}
            {move || ctx.error.get().map(|e| view! { <p class="atl-error" role="alert" data-testid="billing-error">{e}</p> })}
            {move || match ctx.view.get() {
                None => view! { <p class="atl-loading">"Loading…"</p> }.into_any(),
                Some(v) if api_tab() => view! { <ApiBilling ctx=ctx a=v.api.clone()/> }.into_any(),
                Some(v) => view! { <AppBilling ctx=ctx a=v.app.clone()/> }.into_any(),
            }}
            <PaymentSection ctx=ctx api=Signal::derive(api_tab)/>
        </main>
    }
}

#[component]
fn Confirm(ctx: Ctx) -> impl IntoView {
    move || {
        ctx.pending.get().map(|p| {
            let go = {
                let p = p.clone();
                move |_| ctx.run(p.what, p.body.clone())
            };
            view! {
                <div class="atl-card atl-confirm" role="group" aria-label="Confirm" data-testid="billing-confirm">
                    <p>{p.summary.clone()}</p>
                    <div class="atl-row">
                        <button class="atl-primary" data-testid="billing-confirm-go" disabled=move || ctx.busy.get() on:click=go>"Confirm"</button>
                        <button class="atl-link" data-testid="billing-confirm-cancel" on:click=move |_| ctx.pending.set(None)>"Cancel"</button>
                    </div>
                </div>
            }
        })
    }
}

/// The three buckets (or, for the API without a tier, the top-up balance alone).
#[component]
fn Buckets(a: AccountView, show_daily: bool, show_monthly: bool) -> impl IntoView {
    let refresh = a
        .daily_refresh_at
        .map(|t| {
            let hours = ((t as f64 - js_sys::Date::now()) / 3_600_000.0)
                .ceil()
                .max(0.0);
            format!("Refreshes in {hours} h")
        })
        .unwrap_or_default();
    view! {
        <div class="atl-buckets">
            {show_daily.then(|| view! {
                <div class="atl-bucket" data-testid="bucket-daily">
                    <span class="atl-muted">"Daily credits"</span>
                    <strong>{a.daily}</strong>
                    <span class="atl-hint">{format!("Used first. {refresh}")}</span>
                </div>
            })}
            {show_monthly.then(|| view! {
                <div class="atl-bucket" data-testid="bucket-monthly">
                    <span class="atl-muted">"Monthly credits"</span>
                    <strong>{a.monthly}</strong>
                    <span class="atl-hint">{if show_daily { "Used after daily credits." } else { "Your plan's allowance." }}</span>
                </div>
            })}
            <div class="atl-bucket" data-testid="bucket-topup">
                <span class="atl-muted">"Top-up credits"</span>
                <strong>{a.top_up}</strong>
                <span class="atl-hint">"Used last."</span>
            </div>
            <div class="atl-bucket" data-testid="bucket-available">
                <span class="atl-muted">"Available"</span>
                <strong>{a.available}</strong>
                <span class="atl-hint">{if a.held > 0 { format!("{} held by runs in progress", a.held) } else { String::new() }}</span>
            </div>
        </div>
    }
}

/// The top-up form: 100-credit steps, the price at the surface's (and tier's) rate.
#[component]
fn TopUp(ctx: Ctx, surface: Surface, tier: ApiTier) -> impl IntoView {
    let amount = RwSignal::new(100u32);
    let (label, sid) = match surface {
        Surface::App => ("Top up App credits", "app"),
        Surface::Api => ("Top up API credits", "api"),
    };
    let valid = move || valid_topup(amount.get());
    let price = move || dollars(topup_cents(surface, tier, amount.get()));
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let n = amount.get_untracked();
        if valid_topup(n) {
            ctx.ask(
                format!("Buy {n} credits for {}? They are added at once.", price()),
                "topup",
                json!({"surface": sid, "credits": n}),
            );
        }
    };
    view! {
        <form class="atl-card atl-topup" id="top-up" on:submit=submit data-testid=format!("topup-{sid}")>
            <h2>{label}</h2>
            <label>
                "Credits (at least 100, in steps of 100)"
                <input type="number" min="100" step="100" inputmode="numeric" data-testid="topup-amount"
                    prop:value=move || amount.get().to_string()
                    on:input=move |ev| amount.set(event_target_value(&ev).trim().parse().unwrap_or(0))/>
            </label>
            <p class="atl-hint" data-testid="topup-price">{move || if valid() { format!("{} · {}", price(), if surface == Surface::App { "expires 12 months after purchase".to_string() } else if tier == ApiTier::OnDemand { "on-demand rate; expires 12 months after purchase".to_string() } else { format!("{} rate; expires when the subscription ends", tier.info().name) }) } else { "Choose at least 100 credits, in steps of 100.".into() }}</p>
            <button class="atl-primary" type="submit" data-testid="topup-buy" disabled=move || !valid() || ctx.busy.get()>"Top up"</button>
        </form>
    }
}

/// The current subscription's line: plan, interval, next reset, what is scheduled.
fn current_line(a: &AccountView, name: &str) -> impl IntoView {
    let s = a.subscription.clone();
    match s {
        None => view! { <p data-testid="current-plan"><strong>{name.to_string()}</strong></p> }
            .into_any(),
        Some(s) => {
            let reset = if s.interval == Interval::Annual && s.next_grant < s.cycle_end {
                format!(
                    "Annual · monthly credits reset {} · renews {}",
                    day(s.next_grant),
                    day(s.cycle_end)
                )
            } else {
                format!(
                    "{} · next reset {}",
                    if s.interval == Interval::Annual {
                        "Annual"
                    } else {
                        "Monthly"
                    },
                    day(s.cycle_end)
                )
            };
            let pending = match s.pending.as_deref() {
                Some("cancel") => Some(format!("Ends on {}.", day(s.cycle_end))),
                Some("downgrade") => Some(format!(
                    "Changes to {} on {}.",
                    offer_name(s.pending_to.as_deref().unwrap_or_default()),
                    day(s.cycle_end)
                )),
                _ => None,
            };
            view! {
                <p data-testid="current-plan"><strong>{s.name.clone()}</strong>" · "<span data-testid="plan-reset">{reset}</span></p>
                {pending.map(|p| view! { <p class="atl-hint" data-testid="plan-pending">{p}</p> })}
            }
            .into_any()
        }
    }
}

#[component]
fn AppBilling(ctx: Ctx, a: AccountView) -> impl IntoView {
    let plan = a.plan;
    let sub = a.subscription.clone();
    let current_interval = sub.as_ref().map(|s| s.interval);
    let pending = sub.as_ref().and_then(|s| s.pending.clone());
    let annual = RwSignal::new(current_interval == Some(Interval::Annual));
    let double = RwSignal::new(plan == Plan::Agency2x);
    let keep = move |_| ctx.run("keep", json!({"surface": "app"}));
    let cancel = {
        let end = sub.as_ref().map(|s| day(s.cycle_end)).unwrap_or_default();
        move |_| {
            ctx.ask(
                format!("Cancel your subscription? You keep your plan and its credits until {end}; top-up credits stay."),
                "plan",
                json!({"plan": "free"}),
            )
        }
    };
    let card = move |p: Plan| {
        let info = move || {
            let p = if p == Plan::Agency && double.get() {
                Plan::Agency2x
            } else {
                p
            };
            p.info()
        };
        let price = move || {
            let i = info();
            if annual.get() {
                format!("{}/yr", dollars(i.annual_cents as u64))
            } else {
                format!("{}/mo", dollars(i.monthly_cents as u64))
            }
        };
        let action = move || {
            let target = info().plan;
            let interval = if annual.get() {
                Interval::Annual
            } else {
                Interval::Monthly
            };
            match current_interval {
                _ if target == plan && current_interval.is_none_or(|i| i == interval) => {
                    ("Current plan", None)
                }
                Some(i) if i != interval => ("Other interval", None),
                None => ("Subscribe", Some(target)),
                Some(_) if target > plan => ("Upgrade", Some(target)),
                Some(_) => ("Downgrade", Some(target)),
            }
        };
        let click = move |_| {
            let (verb, Some(target)) = action() else {
                return;
            };
            let i = target.info();
            let interval = if annual.get() {
                Interval::Annual
            } else {
                Interval::Monthly
            };
            let cost = match interval {
                Interval::Monthly => i.monthly_cents,
                Interval::Annual => i.annual_cents,
            } as u64;
            let summary = match verb {
                "Subscribe" => format!("Subscribe to {} for {} ({})? It starts today with {} monthly credits.", i.name, dollars(cost), interval_id(interval), i.monthly_credits),
                "Upgrade" if interval == Interval::Monthly => format!("Upgrade to {} now for {}? Your cycle restarts today and unused monthly credits become top-up credits (12-month expiry).", i.name, dollars(cost)),
                "Upgrade" => format!("Upgrade to {} now? You pay the difference for the rest of this year; your renewal date stays. Unused credits do not roll over.", i.name),
                _ => format!("Downgrade to {}? You keep your current plan until the end of this cycle; then {} is charged.", i.name, dollars(cost)),
            };
            ctx.ask(
                summary,
                "plan",
                json!({"plan": plan_id(target), "interval": interval_id(interval)}),
            );
        };
        let testid = format!("plan-{}", plan_id(p));
        view! {
            <div class="atl-card atl-plan" data-testid=testid aria-current=move || (info().plan == plan).then_some("true")>
                <h3>{move || info().name}</h3>
                <p class="atl-price">{price}</p>
                {(p == Plan::Agency).then(|| view! {
                    <label class="atl-toggle"><input type="checkbox" data-testid="agency-2x" prop:checked=move || double.get() on:change=move |ev| double.set(event_target_checked(&ev))/>"2× Credits"</label>
                })}
                <ul class="atl-features">{move || features(info().plan).into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}</ul>
                <button class="atl-primary" data-testid="plan-action" disabled=move || action().1.is_none() || ctx.busy.get()
                    title=move || (action().0 == "Other interval").then_some("There is no one-click switch between monthly and annual: cancel, let the cycle end, then subscribe again.")
                    on:click=click>{move || action().0}</button>
            </div>
        }
    };
    view! {
        <section class="atl-card" data-testid="app-current">
            <h2>"Current plan"</h2>
            {current_line(&a, "Free")}
            {pending.is_some().then(|| view! { <button class="atl-link" data-testid="plan-keep" on:click=keep>{format!("Keep {}", a.subscription.as_ref().map(|s| s.name.clone()).unwrap_or_default())}</button> })}
            <ul class="atl-features">{features(plan).into_iter().map(|f| view! { <li>{f}</li> }).collect_view()}</ul>
        </section>
        <section class="atl-card" data-testid="app-credits">
            <h2>"App credits"</h2>
            <p class="atl-hint">"Spent in this order: daily, then monthly, then top-up credits. App credits are separate from API credits."</p>
            <Buckets a=a.clone() show_daily={plan.info().daily_credits > 0} show_monthly=true/>
        </section>
        <TopUp ctx=ctx surface=Surface::App tier=ApiTier::OnDemand/>
        <section class="atl-plans-wrap">
            <div class="atl-billing-head">
                <h2>"Plans"</h2>
                <label class="atl-toggle"><input type="checkbox" data-testid="annual" prop:checked=move || annual.get() on:change=move |ev| annual.set(event_target_checked(&ev))/>"Annual billing (10 months' price)"</label>
            </div>
            <div class="atl-plans">
                {card(Plan::Basic)}{card(Plan::Pro)}{card(Plan::Agency)}
            </div>
            {(sub.is_some() && pending.as_deref() != Some("cancel")).then(|| view! {
                <button class="atl-link" data-testid="plan-cancel" on:click=cancel>"Cancel subscription"</button>
            })}
        </section>
    }
}

#[component]
fn ApiBilling(ctx: Ctx, a: AccountView) -> impl IntoView {
    let tier = a.tier;
    let sub = a.subscription.clone();
    let current_interval = sub.as_ref().map(|s| s.interval);
    let pending = sub.as_ref().and_then(|s| s.pending.clone());
    let annual = RwSignal::new(current_interval == Some(Interval::Annual));
    let keep = move |_| ctx.run("keep", json!({"surface": "api"}));
    let card = move |t: ApiTier| {
        let i = t.info();
        let price = move || {
            if annual.get() {
                format!("{}/yr", dollars(i.annual_cents as u64))
            } else {
                format!("{}/mo", dollars(i.monthly_cents as u64))
            }
        };
        let action = move || {
            let interval = if annual.get() {
                Interval::Annual
            } else {
                Interval::Monthly
            };
            match current_interval {
                _ if t == tier && current_interval.is_none_or(|c| c == interval) => {
                    ("Current tier", false)
                }
                Some(c) if c != interval => ("Other interval", false),
                None => ("Subscribe", true),
                Some(_) if t > tier => ("Upgrade", true),
                Some(_) => ("Downgrade", true),
            }
        };
        let click = move |_| {
            let (verb, true) = action() else { return };
            let interval = if annual.get() {
                Interval::Annual
            } else {
                Interval::Monthly
            };
            let cost = if interval == Interval::Annual {
                i.annual_cents
            } else {
                i.monthly_cents
            } as u64;
            let summary = match verb {
                "Subscribe" => format!("Subscribe to {} for {} ({})? It includes {} credits a month and top-ups at ${:.4} per credit.", i.name, dollars(cost), interval_id(interval), i.monthly_credits, i.topup_micros_per_credit as f64 / 1e6),
                "Upgrade" => format!("Upgrade to {} now? Unused credits roll into the new allowance{}.", i.name, if interval == Interval::Monthly { " and the cycle restarts today" } else { "; you pay the prorated difference" }),
                _ => format!("Downgrade to {} at the end of this cycle? Discounted credits bought under your current tier expire then.", i.name),
            };
            ctx.ask(
                summary,
                "tier",
                json!({"tier": tier_id(t), "interval": interval_id(interval)}),
            );
        };
        view! {
            <div class="atl-card atl-plan" data-testid=format!("tier-{}", tier_id(t)) aria-current=(t == tier).then_some("true")>
                <h3>{i.name}</h3>
                <p class="atl-price">{price}</p>
                <ul class="atl-features">
                    <li>{format!("{} monthly credits included", i.monthly_credits)}</li>
                    <li>{format!("Top-ups at ${:.4} per credit ({}% off)", i.topup_micros_per_credit as f64 / 1e6, i.discount_percent)}</li>
                </ul>
                <button class="atl-primary" data-testid="tier-action" disabled=move || !action().1 || ctx.busy.get() on:click=click>{move || action().0}</button>
            </div>
        }
    };
    let cancel = {
        let end = sub.as_ref().map(|s| day(s.cycle_end)).unwrap_or_default();
        move |_| {
            ctx.ask(format!("Cancel your commitment tier? It stays until {end}; discounted credits expire then."), "tier", json!({"tier": "on_demand"}))
        }
    };
    let subscribed = sub.is_some();
    view! {
        <section class="atl-card" data-testid="api-current">
            <h2>"Current API plan"</h2>
            {current_line(&a, "On-Demand")}
            {pending.is_some().then(|| view! { <button class="atl-link" data-testid="tier-keep" on:click=keep>"Keep my tier"</button> })}
            <Buckets a=a.clone() show_daily=false show_monthly=subscribed/>
        </section>
        <TopUp ctx=ctx surface=Surface::Api tier=tier/>
        <AutoTopUpForm ctx=ctx a=a.clone()/>
        <section class="atl-plans-wrap">
            <div class="atl-billing-head">
                <h2>"Commitment tiers"</h2>
                <label class="atl-toggle"><input type="checkbox" data-testid="annual" prop:checked=move || annual.get() on:change=move |ev| annual.set(event_target_checked(&ev))/>"Annual billing (10 months' price)"</label>
            </div>
            <div class="atl-plans">{card(ApiTier::Tier1)}{card(ApiTier::Tier2)}{card(ApiTier::Tier3)}</div>
            {(subscribed && pending.as_deref() != Some("cancel")).then(|| view! {
                <button class="atl-link" data-testid="tier-cancel" on:click=cancel>"Cancel commitment"</button>
            })}
        </section>
    }
}

#[component]
fn AutoTopUpForm(ctx: Ctx, a: AccountView) -> impl IntoView {
    let on = a.auto_topup;
    let amount = RwSignal::new(on.map_or(1000, |c| c.amount as u32));
    let threshold = RwSignal::new(on.map_or(300, |c| c.threshold as u32));
    let has_card = a.payment_method.is_some();
    let alerts = a.alerts;
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        ctx.run(
            "auto-topup",
            json!({"threshold": threshold.get_untracked(), "amount": amount.get_untracked()}),
        );
    };
    view! {
        <form class="atl-card" data-testid="auto-topup" on:submit=save>
            <h2>"Credit auto top-up"</h2>
            <p class="atl-hint">{match on {
                Some(c) => format!("On: when your balance reaches {} credits, {} credits are bought with your saved payment method.", c.threshold, c.amount),
                None => "Off. When your balance reaches the threshold, the amount is bought with your saved payment method.".into(),
            }}</p>
            <label>"Purchase amount (credits, steps of 100)"
                <input type="number" min="100" step="100" data-testid="auto-amount" prop:value=move || amount.get().to_string()
                    on:input=move |ev| amount.set(event_target_value(&ev).trim().parse().unwrap_or(0))/>
            </label>
            <label>"Trigger threshold (credits)"
                <input type="number" min="0" step="1" data-testid="auto-threshold" prop:value=move || threshold.get().to_string()
                    on:input=move |ev| threshold.set(event_target_value(&ev).trim().parse().unwrap_or(0))/>
            </label>
            <p class="atl-hint" data-testid="auto-suggest">{move || format!("We recommend 30% of the amount: {} credits.", amount.get() * 3 / 10)}</p>
            {(!has_card).then(|| view! { <p class="atl-hint">"Automatic top-up needs a saved payment method (below)."</p> })}
            <label class="atl-toggle">
                <input type="checkbox" data-testid="alerts" prop:checked=alerts disabled=move || ctx.busy.get()
                    on:change=move |ev| ctx.run("alerts", json!({"on": event_target_checked(&ev)}))/>
                "E-mail me when my API balance is low, and when an automatic top-up is bought or fails"
            </label>
            <div class="atl-row">
                <button class="atl-primary" type="submit" data-testid="auto-save" disabled=move || !has_card || !valid_topup(amount.get()) || ctx.busy.get()>"Save"</button>
                {on.is_some().then(|| view! { <button class="atl-link" type="button" data-testid="auto-off" on:click=move |_| ctx.run("auto-topup", json!({}))>"Turn off"</button> })}
            </div>
        </form>
    }
}

/// Payment methods and invoices ("Manage my billing settings").
#[component]
fn PaymentSection(ctx: Ctx, api: Signal<bool>) -> impl IntoView {
    let list = LocalResource::new(move || {
        ctx.payments.track();
        let s = if api.get() { "api" } else { "app" };
        async move { api::payments(s).await }
    });
    let card = move || ctx.view.get().and_then(|v| v.app.payment_method.clone());
    let rows = move || list.get().and_then(Result::ok).unwrap_or_default();
    view! {
        <section class="atl-card" id="payment" data-testid="payment-section">
            <h2>"Payment method and invoices"</h2>
            {move || match card() {
                Some(c) => view! {
                    <p data-testid="payment-method">{c}" "
                        <button class="atl-link" data-testid="card-remove" on:click=move |_| ctx.run("payment-method", json!({"action": "remove"}))>"Remove"</button>
                    </p>
                }.into_any(),
                None => view! {
                    <p><span class="atl-muted">"No saved payment method. "</span>
                        <button class="atl-link" data-testid="card-add" disabled=move || ctx.busy.get() on:click=move |_| ctx.run("payment-method", json!({"action": "add"}))>
                            {move || if ctx.view.get().is_some_and(|v| v.provider.as_deref() == Some("stripe")) { "Add a card" } else { "Add a test card" }}
                        </button>
                    </p>
                }.into_any(),
            }}
            <table class="atl-table" data-testid="payments">
                <thead><tr><th>"Date"</th><th>"Description"</th><th>"Amount"</th><th>"Status"</th></tr></thead>
                <tbody>
                    {move || {
                        let r: Vec<Payment> = rows();
                        if r.is_empty() {
                            view! { <tr><td colspan="4" class="atl-muted">"No payments yet."</td></tr> }.into_any()
                        } else {
                            r.into_iter().map(|p| view! {
                                <tr><td>{day(p.created_at as u64)}</td><td>{p.description}</td><td>{dollars(p.cents as u64)}</td><td>{p.status}</td></tr>
                            }).collect_view().into_any()
                        }
                    }}
                </tbody>
            </table>
        </section>
    }
}
