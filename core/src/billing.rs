//! An account's money on one surface, as one state machine: its credit [`Ledger`], its App plan
//! or API tier ([`Subscription`]), when its daily credits refresh, its automatic top-up and
//! whether a payment method is saved. The edge stores one [`Account`] per account and surface and
//! changes it only through these methods, so every rule of "Billing", "App Subscription Plans"
//! and "API On-Demand & Commitment Tiers" lives here, tested with a fake clock.
//!
//! Callers bring the account to the present with [`Account::tick`] (which returns the renewals
//! to charge) before any other operation; the operations themselves do not tick, so no charge
//! is ever computed and dropped.

use serde::{Deserialize, Serialize};

use crate::ledger::{AutoTopUp, BucketKind, Ledger, Millis, DAY_MS, TOPUP_LIFETIME_MS};
use crate::pricing::{topup_cents, valid_topup, ApiTier, Plan, Surface};
use crate::subscription::{Interval, Pending, Subscription, SubscriptionError};

/// What one operation asks the payment provider to collect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    pub cents: u64,
    /// What it is for, as an invoice line: "Pro (monthly)", "500 App credits", …
    pub description: String,
    /// Credits it adds (top-ups), for the receipt.
    pub credits: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    #[error("Top-ups are at least 100 credits, in steps of 100 (you asked for {0}).")]
    BadTopUp(u64),
    #[error("You are already on {0}.")]
    AlreadyOn(String),
    #[error("{0}")]
    Subscription(String),
    #[error("There is no change waiting to be undone.")]
    NothingPending,
    #[error("Automatic top-up needs a saved payment method: add one first.")]
    NoPaymentMethod,
    #[error("The automatic top-up amount is at least 100 credits, in steps of 100; the threshold is below 1,000,000.")]
    BadAutoTopUp,
    #[error("That is for the {0} surface.")]
    WrongSurface(&'static str),
}

impl From<SubscriptionError> for BillingError {
    fn from(e: SubscriptionError) -> Self {
        BillingError::Subscription(e.to_string())
    }
}

/// One account's billing on one surface (the App and the API are separate accounts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub surface: Surface,
    pub ledger: Ledger,
    /// The App plan (App surface); `None` or inactive: Free.
    #[serde(default)]
    pub plan: Option<Subscription<Plan>>,
    /// The API commitment tier (API surface); `None` or inactive: on demand.
    #[serde(default)]
    pub tier: Option<Subscription<ApiTier>>,
    /// When the daily credits next refresh (Pro and Agency plans).
    #[serde(default)]
    pub daily_at: Option<Millis>,
    /// API: buy credits automatically when the balance reaches a threshold.
    #[serde(default)]
    pub auto_topup: Option<AutoTopUp>,
    /// A saved payment method, as the provider names it ("Visa •••• 4242").
    #[serde(default)]
    pub payment_method: Option<String>,
    /// The provider's id of the saved payment method (Stripe's `pm_…`), when a provider that
    /// charges off-session saved it; none for the local provider's test card.
    #[serde(default)]
    pub provider_payment_method: Option<String>,
    /// The provider's id of the active subscription (Stripe's `sub_…`) when the provider bills
    /// it: plan changes then go through the provider first.
    #[serde(default)]
    pub provider_subscription: Option<String>,
    /// Since when an automatic top-up is being charged off-session (one at a time; a claim older
    /// than [`AUTO_TOPUP_RETRY_MS`] may be taken again).
    #[serde(default)]
    pub auto_topup_pending: Option<Millis>,
    /// E-mail alerts (low balance, automatic top-ups bought or failed) switched off.
    #[serde(default)]
    pub alerts_off: bool,
}

/// An API balance falling under this many credits, with no automatic top-up, is a low-balance
/// alert (the Developer page's credits bar warns at the same level).
pub const LOW_BALANCE_ALERT: u64 = 100;

/// How long an off-session automatic top-up may stay unanswered before another may be claimed.
pub const AUTO_TOPUP_RETRY_MS: Millis = 15 * 60 * 1000;

/// Where a plan change leaves the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Started,
    Upgraded,
    /// Takes effect at the end of the cycle.
    DowngradeScheduled,
    /// Ends at the end of the cycle.
    CancelScheduled,
}

impl Account {
    /// A new account: the App starts on Free with its one-time credits; the API at 0, on demand.
    pub fn new(surface: Surface) -> Account {
        let mut ledger = Ledger::new();
        if surface == Surface::App {
            ledger.grant(
                BucketKind::TopUp,
                Plan::Free.info().one_time_credits as u64,
                None,
            );
        }
        Account::from_ledger(surface, ledger)
    }

    /// An account around a ledger stored before plans existed (Free / on demand).
    pub fn from_ledger(surface: Surface, ledger: Ledger) -> Account {
        Account {
            surface,
            ledger,
            plan: None,
            tier: None,
            daily_at: None,
            auto_topup: None,
            payment_method: None,
            provider_payment_method: None,
            provider_subscription: None,
            auto_topup_pending: None,
            alerts_off: false,
        }
    }

    /// The App plan in force (Free without an active subscription).
    pub fn app_plan(&self) -> Plan {
        self.plan
            .as_ref()
            .filter(|s| s.active)
            .map_or(Plan::Free, |s| s.offer)
    }

    /// The API tier in force (on demand without an active subscription).
    pub fn api_tier(&self) -> ApiTier {
        self.tier
            .as_ref()
            .filter(|s| s.active)
            .map_or(ApiTier::OnDemand, |s| s.offer)
    }

    /// Brings the account to `now`: monthly allowances and renewals that fell due (each renewal
    /// a charge), daily credits, expiries. Idempotent for the same `now`.
    pub fn tick(&mut self, now: Millis) -> Vec<Charge> {
        let mut charges = vec![];
        if let Some(s) = self.plan.as_mut() {
            let cents = s.tick(now, &mut self.ledger);
            if cents > 0 {
                charges.push(Charge {
                    cents,
                    description: format!(
                        "{} renewal ({})",
                        s.offer.info().name,
                        interval_name(s.interval)
                    ),
                    credits: 0,
                });
            }
        }
        if let Some(s) = self.tier.as_mut() {
            let cents = s.tick(now, &mut self.ledger);
            if cents > 0 {
                charges.push(Charge {
                    cents,
                    description: format!(
                        "API {} renewal ({})",
                        s.offer.info().name,
                        interval_name(s.interval)
                    ),
                    credits: 0,
                });
            }
        }
        self.refresh_daily(now);
        self.ledger.expire(now);
        charges
    }

    /// Daily credits: Pro and Agency get a fresh bucket every 24 hours (yesterday's leftovers
    /// lapse); any other plan has none.
    fn refresh_daily(&mut self, now: Millis) {
        let daily = self.app_plan().info().daily_credits as u64;
        if self.surface != Surface::App || daily == 0 {
            if self.ledger.available_by_kind(BucketKind::Daily) > 0 {
                self.ledger.expire_kind(BucketKind::Daily);
            }
            self.daily_at = None;
            return;
        }
        if self.daily_at.is_none_or(|t| t <= now) {
            self.ledger.refresh_daily(daily, now);
            self.daily_at = Some(now + DAY_MS);
        }
    }

    /// The next moment [`Account::tick`] has something to do (a refresh, a renewal, an expiry).
    pub fn due_at(&self) -> Option<Millis> {
        let subs = [
            self.plan
                .as_ref()
                .filter(|s| s.active)
                .map(|s| s.next_grant.min(s.cycle_end)),
            self.tier
                .as_ref()
                .filter(|s| s.active)
                .map(|s| s.next_grant.min(s.cycle_end)),
        ];
        let expiries = self
            .ledger
            .buckets
            .iter()
            .filter(|b| !b.closed)
            .filter_map(|b| b.expires_at);
        subs.into_iter()
            .flatten()
            .chain(self.daily_at)
            .chain(expiries)
            .min()
    }

    fn app_only(&self) -> Result<(), BillingError> {
        (self.surface == Surface::App)
            .then_some(())
            .ok_or(BillingError::WrongSurface("App"))
    }

    fn api_only(&self) -> Result<(), BillingError> {
        (self.surface == Surface::Api)
            .then_some(())
            .ok_or(BillingError::WrongSurface("API"))
    }

    /// Chooses an App plan. Free: cancel at the end of the cycle. From Free: subscribe now.
    /// Higher: upgrade now (monthly: unused monthly credits become top-ups, the cycle restarts;
    /// annual: prorated, the cycle stays). Lower: downgrade at the end of the cycle. The other
    /// interval while subscribed: refused (cancel, let the cycle end, subscribe again).
    pub fn choose_plan(
        &mut self,
        plan: Plan,
        interval: Interval,
        now: Millis,
    ) -> Result<(Change, Option<Charge>), BillingError> {
        self.app_only()?;
        let current = self.plan.as_mut().filter(|s| s.active);
        let r = choose(current, plan, Plan::Free, interval, now, &mut self.ledger)?;
        if let (Change::Started, Some(s)) = (r.0, r.2) {
            self.plan = Some(s);
        }
        // A new or higher plan's daily credits start today.
        if matches!(r.0, Change::Started | Change::Upgraded) {
            self.daily_at = None;
            self.refresh_daily(now);
        }
        let charge = r.1.map(|cents| Charge {
            cents,
            description: format!("{} ({})", plan.info().name, interval_name(interval)),
            credits: 0,
        });
        Ok((r.0, charge))
    }

    /// Chooses an API tier, with the same rules (on demand = cancel at the end of the cycle).
    pub fn choose_tier(
        &mut self,
        tier: ApiTier,
        interval: Interval,
        now: Millis,
    ) -> Result<(Change, Option<Charge>), BillingError> {
        self.api_only()?;
        let current = self.tier.as_mut().filter(|s| s.active);
        let r = choose(
            current,
            tier,
            ApiTier::OnDemand,
            interval,
            now,
            &mut self.ledger,
        )?;
        if let (Change::Started, Some(s)) = (r.0, r.2) {
            self.tier = Some(s);
        }
        let charge = r.1.map(|cents| Charge {
            cents,
            description: format!("API {} ({})", tier.info().name, interval_name(interval)),
            credits: 0,
        });
        Ok((r.0, charge))
    }

    /// Undoes a scheduled downgrade or cancellation: the current plan (or tier) renews as usual.
    pub fn keep(&mut self) -> Result<(), BillingError> {
        let pending = match self.surface {
            Surface::App => self
                .plan
                .as_mut()
                .filter(|s| s.active)
                .and_then(|s| s.pending.take())
                .is_some(),
            Surface::Api => self
                .tier
                .as_mut()
                .filter(|s| s.active)
                .and_then(|s| s.pending.take())
                .is_some(),
        };
        pending.then_some(()).ok_or(BillingError::NothingPending)
    }

    /// Buys `credits` (100-credit steps): App top-ups at $0.10 with a 12-month expiry; API
    /// top-ups at the tier's rate — on demand they expire after 12 months, bought under a tier
    /// they are discounted and expire when the subscription ends.
    pub fn top_up(&mut self, credits: u64, now: Millis) -> Result<Charge, BillingError> {
        if credits > u32::MAX as u64 || !valid_topup(credits as u32) {
            return Err(BillingError::BadTopUp(credits));
        }
        let tier = self.api_tier();
        let cents = topup_cents(self.surface, tier, credits as u32);
        let discounted = self.surface == Surface::Api && tier != ApiTier::OnDemand;
        if discounted {
            // Already ending (cancel or downgrade scheduled): they expire with this cycle.
            let end = self
                .tier
                .as_ref()
                .filter(|s| s.pending.is_some())
                .map(|s| s.cycle_end);
            self.ledger.grant_discounted(credits, end);
        } else {
            self.ledger
                .grant(BucketKind::TopUp, credits, Some(now + TOPUP_LIFETIME_MS));
        }
        let what = match self.surface {
            Surface::App => "App",
            Surface::Api => "API",
        };
        Ok(Charge {
            cents,
            description: format!("{credits} {what} credits"),
            credits,
        })
    }

    /// Sets (or, with `None`, turns off) the automatic API top-up.
    pub fn set_auto_topup(&mut self, cfg: Option<AutoTopUp>) -> Result<(), BillingError> {
        self.api_only()?;
        if let Some(c) = cfg {
            if c.amount > u32::MAX as u64
                || !valid_topup(c.amount as u32)
                || c.threshold >= 1_000_000
            {
                return Err(BillingError::BadAutoTopUp);
            }
            if self.payment_method.is_none() {
                return Err(BillingError::NoPaymentMethod);
            }
        }
        self.auto_topup = cfg;
        Ok(())
    }

    /// After the balance moved: buys the automatic top-up if it is due (and a card is saved).
    pub fn auto_top_up(&mut self, now: Millis) -> Option<Charge> {
        let cfg = self.auto_topup?;
        self.payment_method.as_ref()?;
        let amount = self.ledger.auto_topup_due(&cfg)?;
        let mut c = self.top_up(amount, now).ok()?;
        c.description = format!("Automatic top-up: {c}", c = c.description);
        Some(c)
    }

    /// A provider that charges the saved card off-session (Stripe) buys the automatic top-up
    /// after the change that made it due is stored: this claims it (one at a time) and returns
    /// what to collect; [`Account::finish_auto_top_up`] adds the credits once it is paid.
    pub fn claim_auto_top_up(&mut self, now: Millis) -> Option<Charge> {
        let cfg = self.auto_topup?;
        self.payment_method.as_ref()?;
        if self
            .auto_topup_pending
            .is_some_and(|t| now < t.saturating_add(AUTO_TOPUP_RETRY_MS))
        {
            return None;
        }
        let amount = self.ledger.auto_topup_due(&cfg)?;
        let mut c = self.clone().top_up(amount, now).ok()?;
        c.description = format!("Automatic top-up: {c}", c = c.description);
        self.auto_topup_pending = Some(now);
        Some(c)
    }

    /// Ends a claimed automatic top-up: paid, its credits are added (the returned charge is the
    /// receipt); refused (a declined card), automatic top-up is switched off so it is not retried
    /// on every run — the owner is told and turns it on again.
    pub fn finish_auto_top_up(&mut self, credits: u64, paid: bool, now: Millis) -> Option<Charge> {
        self.auto_topup_pending = None;
        if !paid {
            self.auto_topup = None;
            return None;
        }
        let mut c = self.top_up(credits, now).ok()?;
        c.description = format!("Automatic top-up: {c}", c = c.description);
        Some(c)
    }

    /// Whether going from `before` to this account takes the API balance under
    /// [`LOW_BALANCE_ALERT`] with no automatic top-up to refill it (an alert is due).
    pub fn low_balance_crossed(&self, before: &Account) -> bool {
        self.surface == Surface::Api
            && !self.alerts_off
            && self.auto_topup.is_none()
            && before.ledger.available() >= LOW_BALANCE_ALERT
            && self.ledger.available() < LOW_BALANCE_ALERT
    }

    /// Brings the scheduled change to what the provider reports: `cancel` (the subscription
    /// ends at the cycle's end), else `next` (the plan or tier id it renews as, when lower), else
    /// nothing pending. Returns what it did: `unchanged`, `cancel_scheduled`,
    /// `downgrade_scheduled` or `kept`.
    pub fn align_pending(
        &mut self,
        cancel: bool,
        next: Option<&str>,
        now: Millis,
    ) -> Result<&'static str, BillingError> {
        fn ids<O: Serialize + Copy>(p: Pending<O>) -> Pending<String> {
            match p {
                Pending::Cancel => Pending::Cancel,
                Pending::Downgrade(o) => Pending::Downgrade(id_of(o)),
            }
        }
        let (have, wanted, interval) = match self.surface {
            Surface::App => {
                let Some(s) = self.plan.as_ref().filter(|s| s.active) else {
                    return Ok("unchanged");
                };
                let w = match (cancel, next.and_then(parse_offer::<Plan>)) {
                    (true, _) => Some(Pending::Cancel),
                    (false, Some(o)) if o < s.offer => Some(Pending::Downgrade(o)),
                    _ => None,
                };
                (s.pending.map(ids), w.map(ids), s.interval)
            }
            Surface::Api => {
                let Some(s) = self.tier.as_ref().filter(|s| s.active) else {
                    return Ok("unchanged");
                };
                let w = match (cancel, next.and_then(parse_offer::<ApiTier>)) {
                    (true, _) => Some(Pending::Cancel),
                    (false, Some(o)) if o < s.offer => Some(Pending::Downgrade(o)),
                    _ => None,
                };
                (s.pending.map(ids), w.map(ids), s.interval)
            }
        };
        if have == wanted {
            return Ok("unchanged");
        }
        match wanted {
            None => self.keep().map(|()| "kept"),
            Some(Pending::Cancel) => self.choose_floor(interval, now).map(|_| "cancel_scheduled"),
            Some(Pending::Downgrade(id)) => {
                let r = match self.surface {
                    Surface::App => self.choose_plan(
                        parse_offer::<Plan>(&id).unwrap_or(Plan::Free),
                        interval,
                        now,
                    ),
                    Surface::Api => self.choose_tier(
                        parse_offer::<ApiTier>(&id).unwrap_or(ApiTier::OnDemand),
                        interval,
                        now,
                    ),
                };
                // From a scheduled cancellation, undo it first.
                let r = match r {
                    Err(_) if have == Some(Pending::Cancel) => {
                        self.keep()?;
                        self.align_pending(false, Some(&id), now)
                            .map(|_| (Change::DowngradeScheduled, None))
                    }
                    r => r,
                };
                r.map(|_| "downgrade_scheduled")
            }
        }
    }

    fn choose_floor(&mut self, interval: Interval, now: Millis) -> Result<Change, BillingError> {
        match self.surface {
            Surface::App => self.choose_plan(Plan::Free, interval, now).map(|c| c.0),
            Surface::Api => self
                .choose_tier(ApiTier::OnDemand, interval, now)
                .map(|c| c.0),
        }
    }
}

fn parse_offer<O: serde::de::DeserializeOwned>(id: &str) -> Option<O> {
    serde_json::from_value(serde_json::Value::from(id)).ok()
}

/// What the Billing pages show of one surface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    pub surface: Surface,
    /// App: the plan in force.
    pub plan: Plan,
    /// API: the tier in force.
    pub tier: ApiTier,
    /// The active subscription (App plan or API tier), if any.
    pub subscription: Option<SubscriptionView>,
    pub daily: u64,
    pub monthly: u64,
    pub top_up: u64,
    /// What a new run may use (the three buckets together).
    pub available: u64,
    /// Held by runs in progress.
    pub held: u64,
    pub daily_refresh_at: Option<Millis>,
    pub auto_topup: Option<AutoTopUp>,
    pub payment_method: Option<String>,
    /// E-mail alerts for the API balance (low balance, automatic top-ups) are on.
    #[serde(default)]
    pub alerts: bool,
    /// The available balance as the journal adds it up (the edge fills it in from its stored
    /// entries; equal to `available` unless something is wrong).
    #[serde(default)]
    pub journal_available: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionView {
    /// `pro`, `agency_2x`, `tier1`, …
    pub id: String,
    pub name: String,
    pub interval: Interval,
    pub cycle_start: Millis,
    /// The next reset (renewal) date.
    pub cycle_end: Millis,
    /// Annual: when the next monthly allowance arrives.
    pub next_grant: Millis,
    /// `downgrade` or `cancel`, at `cycle_end`.
    pub pending: Option<String>,
    /// A pending downgrade's target (`basic`, `tier1`, …).
    pub pending_to: Option<String>,
}

/// `GET /api/billing`: both surfaces and who collects payments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingView {
    /// `local` (purchases complete at once, for local instances), or none when payments are
    /// not set up on this instance.
    pub provider: Option<String>,
    pub app: AccountView,
    pub api: AccountView,
}

fn id_of<T: Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn sub_view<O: crate::subscription::Offer + NamedOffer + Serialize>(
    s: &Subscription<O>,
) -> SubscriptionView {
    SubscriptionView {
        id: id_of(s.offer),
        name: s.offer.name().into(),
        interval: s.interval,
        cycle_start: s.cycle_start,
        cycle_end: s.cycle_end,
        next_grant: s.next_grant,
        pending: s.pending.map(|p| match p {
            Pending::Downgrade(_) => "downgrade".into(),
            Pending::Cancel => "cancel".into(),
        }),
        pending_to: match s.pending {
            Some(Pending::Downgrade(o)) => Some(id_of(o)),
            _ => None,
        },
    }
}

impl Account {
    pub fn view(&self) -> AccountView {
        let l = &self.ledger;
        let subscription = match self.surface {
            Surface::App => self.plan.as_ref().filter(|s| s.active).map(sub_view),
            Surface::Api => self.tier.as_ref().filter(|s| s.active).map(sub_view),
        };
        AccountView {
            surface: self.surface,
            plan: self.app_plan(),
            tier: self.api_tier(),
            subscription,
            daily: l.available_by_kind(BucketKind::Daily),
            monthly: l.available_by_kind(BucketKind::Monthly),
            top_up: l.available_by_kind(BucketKind::TopUp),
            available: l.available(),
            held: l.totals().3,
            daily_refresh_at: self.daily_at,
            auto_topup: self.auto_topup,
            payment_method: self.payment_method.clone(),
            alerts: !self.alerts_off,
            journal_available: None,
        }
    }
}

fn interval_name(i: Interval) -> &'static str {
    match i {
        Interval::Monthly => "monthly",
        Interval::Annual => "annual",
    }
}

/// A plan change: what happened, the cents to collect now, the subscription that started.
type Chosen<O> = (Change, Option<u64>, Option<Subscription<O>>);

/// The rules shared by plans and tiers. Returns the change, the cents to collect now, and a new
/// subscription when one started.
fn choose<O: crate::subscription::Offer + Eq + NamedOffer>(
    current: Option<&mut Subscription<O>>,
    to: O,
    floor: O,
    interval: Interval,
    now: Millis,
    ledger: &mut Ledger,
) -> Result<Chosen<O>, BillingError> {
    match current {
        None if to == floor => Err(BillingError::AlreadyOn(to.name().into())),
        None => {
            let (s, cents) = Subscription::start(to, interval, now, ledger);
            Ok((Change::Started, Some(cents), Some(s)))
        }
        Some(s) if to == floor => {
            if s.pending == Some(Pending::Cancel) {
                return Err(BillingError::Subscription(
                    "Your subscription already ends at the end of this cycle.".into(),
                ));
            }
            s.cancel(ledger);
            Ok((Change::CancelScheduled, None, None))
        }
        Some(s) if to == s.offer && interval == s.interval => Err(BillingError::AlreadyOn(
            format!("{} ({})", to.name(), interval_name(interval)),
        )),
        Some(s) if interval != s.interval => Err(s.switch_interval(interval).unwrap_err().into()),
        Some(s) if to > s.offer => {
            let cents = s.upgrade(to, now, ledger)?;
            Ok((Change::Upgraded, Some(cents), None))
        }
        Some(s) => {
            s.downgrade(to, ledger)?;
            Ok((Change::DowngradeScheduled, None, None))
        }
    }
}

/// A plan's or tier's display name.
pub trait NamedOffer {
    fn name(self) -> &'static str;
}

impl NamedOffer for Plan {
    fn name(self) -> &'static str {
        self.info().name
    }
}

impl NamedOffer for ApiTier {
    fn name(self) -> &'static str {
        self.info().name
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::subscription::MONTH_MS;

    fn kinds(a: &Account) -> (u64, u64, u64) {
        let l = &a.ledger;
        (
            l.available_by_kind(BucketKind::Daily),
            l.available_by_kind(BucketKind::Monthly),
            l.available_by_kind(BucketKind::TopUp),
        )
    }

    #[test]
    fn free_then_pro_then_top_up_then_downgrade_at_the_cycle_end() {
        let mut a = Account::new(Surface::App);
        assert_eq!(a.app_plan(), Plan::Free);
        assert_eq!(kinds(&a), (0, 0, 10), "10 complimentary credits");
        assert_eq!(
            a.choose_plan(Plan::Free, Interval::Monthly, 0),
            Err(BillingError::AlreadyOn("Free".into()))
        );
        let (c, charge) = a.choose_plan(Plan::Pro, Interval::Monthly, 0).unwrap();
        assert_eq!((c, charge.unwrap().cents), (Change::Started, 4900));
        assert_eq!(kinds(&a), (50, 750, 10));
        let t = a.top_up(200, DAY_MS / 2).unwrap();
        assert_eq!((t.cents, t.credits), (2000, 200));
        assert_eq!(a.top_up(150, 0), Err(BillingError::BadTopUp(150)));
        assert_eq!(a.top_up(0, 0), Err(BillingError::BadTopUp(0)));
        // Spent daily first, then monthly, then top-up.
        a.ledger.hold("g", 60, 1, DAY_MS / 2).unwrap();
        a.ledger.finish("g", &[0]).unwrap();
        assert_eq!(kinds(&a), (0, 740, 210));
        // A day later the daily credits are back; the monthly ones are not.
        a.tick(DAY_MS);
        assert_eq!(kinds(&a), (50, 740, 210));
        a.tick(2 * DAY_MS);
        let (c, _) = a
            .choose_plan(Plan::Basic, Interval::Monthly, 2 * DAY_MS)
            .unwrap();
        assert_eq!(c, Change::DowngradeScheduled);
        assert_eq!(
            a.app_plan(),
            Plan::Pro,
            "a downgrade waits for the cycle's end"
        );
        assert_eq!(a.due_at(), Some(3 * DAY_MS), "the next daily refresh");
        let renewals = a.tick(MONTH_MS);
        assert_eq!(renewals.len(), 1);
        assert_eq!(renewals[0].cents, 1900, "the new plan is charged");
        assert_eq!(a.app_plan(), Plan::Basic);
        assert_eq!(kinds(&a), (0, 200, 210), "no daily credits on Basic");
        assert_eq!(a.daily_at, None);
    }

    #[test]
    fn monthly_upgrade_converts_unused_monthly_credits_and_keep_undoes_a_cancel() {
        let mut a = Account::new(Surface::App);
        a.choose_plan(Plan::Basic, Interval::Monthly, 0).unwrap();
        let (c, ch) = a
            .choose_plan(Plan::Agency, Interval::Monthly, 5 * DAY_MS)
            .unwrap();
        assert_eq!((c, ch.unwrap().cents), (Change::Upgraded, 9900));
        assert_eq!(kinds(&a), (100, 1500, 210), "200 unused monthly → top-up");
        assert_eq!(
            a.choose_plan(Plan::Agency, Interval::Annual, 6 * DAY_MS),
            Err(BillingError::Subscription(
                SubscriptionError::NoIntervalSwitch.to_string()
            ))
        );
        assert_eq!(a.keep(), Err(BillingError::NothingPending));
        let (c, ch) = a
            .choose_plan(Plan::Free, Interval::Monthly, 6 * DAY_MS)
            .unwrap();
        assert_eq!((c, ch), (Change::CancelScheduled, None));
        a.keep().unwrap();
        assert_eq!(
            a.tick(5 * DAY_MS + MONTH_MS)[0].cents,
            9900,
            "kept: it renews"
        );
        a.choose_plan(Plan::Free, Interval::Monthly, 40 * DAY_MS)
            .unwrap();
        assert!(
            a.tick(5 * DAY_MS + 2 * MONTH_MS).is_empty(),
            "cancelled: no charge"
        );
        assert_eq!(a.app_plan(), Plan::Free);
        assert_eq!(
            kinds(&a).0 + kinds(&a).1,
            0,
            "plan credits end with the plan"
        );
        assert_eq!(kinds(&a).2, 210, "top-ups stay");
    }

    #[test]
    fn agency_2x_is_an_upgrade_from_agency() {
        let mut a = Account::new(Surface::App);
        a.choose_plan(Plan::Agency, Interval::Annual, 0).unwrap();
        let (c, ch) = a
            .choose_plan(Plan::Agency2x, Interval::Annual, YEAR_HALF)
            .unwrap();
        assert_eq!(c, Change::Upgraded);
        assert_eq!(ch.unwrap().cents, (199_000 - 99_000) / 2, "prorated");
        assert_eq!(kinds(&a).1, 3000);
        a.tick(YEAR_HALF + DAY_MS);
        assert_eq!(kinds(&a).0, 200, "2× daily credits");
    }
    const YEAR_HALF: Millis = crate::subscription::YEAR_MS / 2;

    #[test]
    fn api_tiers_discounts_and_auto_top_up() {
        let mut a = Account::new(Surface::Api);
        assert_eq!(a.ledger.available(), 0);
        assert_eq!(a.top_up(100, 0).unwrap().cents, 750, "$7.50 on demand");
        assert!(matches!(
            a.choose_plan(Plan::Pro, Interval::Monthly, 0),
            Err(BillingError::WrongSurface(_))
        ));
        a.choose_tier(ApiTier::Tier2, Interval::Monthly, 0).unwrap();
        assert_eq!(
            a.top_up(1000, 1).unwrap().cents,
            6000,
            "$0.06 under Tier II"
        );
        assert_eq!(a.ledger.available(), 100 + 4150 + 1000);
        assert_eq!(
            a.set_auto_topup(Some(AutoTopUp {
                threshold: 300,
                amount: 1000
            })),
            Err(BillingError::NoPaymentMethod)
        );
        a.payment_method = Some("Test card •••• 4242".into());
        assert_eq!(
            a.set_auto_topup(Some(AutoTopUp {
                threshold: 300,
                amount: 150
            })),
            Err(BillingError::BadAutoTopUp)
        );
        a.set_auto_topup(Some(AutoTopUp {
            threshold: 300,
            amount: 1000,
        }))
        .unwrap();
        assert_eq!(a.auto_top_up(2), None, "above the threshold");
        a.ledger.hold("big", 5000, 1, 2).unwrap();
        a.ledger.finish("big", &[0]).unwrap();
        let c = a.auto_top_up(3).expect("at the threshold it buys");
        assert_eq!((c.cents, c.credits), (6000, 1000));
        assert_eq!(a.ledger.available(), 250 + 1000);
        // Cancel: discounted credits expire with the cycle, on-demand ones do not.
        a.choose_tier(ApiTier::OnDemand, Interval::Monthly, 4)
            .unwrap();
        a.tick(MONTH_MS);
        assert_eq!(a.api_tier(), ApiTier::OnDemand);
        assert!(
            a.ledger.available() <= 100,
            "only the on-demand top-up is left"
        );
    }

    #[test]
    fn a_simulated_year_adds_up() {
        // Pro monthly from day 0; daily ticks; an upgrade to Agency on day 100; cancel on day
        // 200. Every day's expected balance follows from the plan table.
        let mut a = Account::new(Surface::App);
        let mut charged = 0;
        charged += a
            .choose_plan(Plan::Pro, Interval::Monthly, 0)
            .unwrap()
            .1
            .unwrap()
            .cents;
        let mut journal = a.ledger.entries_since(&Ledger::new());
        for day in 1..=365u64 {
            let before = a.ledger.clone();
            let now = day * DAY_MS;
            charged += a.tick(now).iter().map(|c| c.cents).sum::<u64>();
            if day == 100 {
                charged += a
                    .choose_plan(Plan::Agency, Interval::Monthly, now)
                    .unwrap()
                    .1
                    .unwrap()
                    .cents;
            }
            if day == 200 {
                a.choose_plan(Plan::Free, Interval::Monthly, now).unwrap();
            }
            journal.extend(a.ledger.entries_since(&before));
            a.ledger.compact();
            assert_eq!(
                crate::ledger::available_from(&journal),
                a.ledger.available() as i64
            );
        }
        // Pro: days 0, 30, 60, 90 → 4 × $49; Agency from day 100: 100, 130, 160, 190 → 4 × $99
        // (the cancel on day 200 ends it on day 220, with no charge).
        assert_eq!(charged, 4 * 4900 + 4 * 9900);
        assert_eq!(a.app_plan(), Plan::Free);
        // Left: the 10 free credits and the Pro month's unused 750 converted on day 100.
        assert_eq!(kinds(&a), (0, 0, 10 + 750));
        assert!(
            a.ledger.buckets.len() < 10,
            "compaction keeps the ledger small"
        );
    }

    #[test]
    fn an_off_session_top_up_is_claimed_once_and_added_when_paid() {
        let mut a = Account::new(Surface::Api);
        a.payment_method = Some("Visa •••• 4242".into());
        a.set_auto_topup(Some(AutoTopUp {
            threshold: 300,
            amount: 1000,
        }))
        .unwrap();
        assert_eq!(
            a.claim_auto_top_up(0),
            Some(Charge {
                cents: 7500,
                description: "Automatic top-up: 1000 API credits".into(),
                credits: 1000,
            })
        );
        assert_eq!(
            a.ledger.available(),
            0,
            "nothing is added before it is paid"
        );
        assert_eq!(a.claim_auto_top_up(1000), None, "one at a time");
        assert!(
            a.claim_auto_top_up(AUTO_TOPUP_RETRY_MS).is_some(),
            "a lost claim expires"
        );
        let c = a.finish_auto_top_up(1000, true, 2).unwrap();
        assert_eq!((c.cents, c.credits), (7500, 1000));
        assert_eq!(a.ledger.available(), 1000);
        assert_eq!(a.auto_topup_pending, None);
        // Declined: switched off, nothing added.
        a.ledger.hold("g", 800, 1, 3).unwrap();
        assert!(a.claim_auto_top_up(4).is_some());
        assert_eq!(a.finish_auto_top_up(1000, false, 5), None);
        assert_eq!((a.auto_topup, a.ledger.available()), (None, 200));
        assert_eq!(a.claim_auto_top_up(6), None);
    }

    #[test]
    fn a_low_balance_alert_is_due_once_when_the_balance_crosses_under_it() {
        let mut a = Account::new(Surface::Api);
        a.ledger.grant(BucketKind::TopUp, 150, None);
        let before = a.clone();
        a.ledger.hold("g1", 40, 1, 0).unwrap();
        assert!(!a.low_balance_crossed(&before), "110 is not low");
        let before = a.clone();
        a.ledger.hold("g2", 20, 1, 0).unwrap();
        assert!(a.low_balance_crossed(&before), "90 is");
        let before = a.clone();
        a.ledger.hold("g3", 20, 1, 0).unwrap();
        assert!(!a.low_balance_crossed(&before), "once per crossing");
        let mut off = before.clone();
        off.alerts_off = true;
        let b2 = off.clone();
        off.ledger.grant(BucketKind::TopUp, 100, None);
        off.ledger.hold("g4", 120, 1, 0).unwrap();
        assert!(!off.low_balance_crossed(&b2));
    }

    #[test]
    fn the_pending_change_follows_what_the_provider_reports() {
        let mut a = Account::new(Surface::App);
        a.choose_plan(Plan::Pro, Interval::Monthly, 0).unwrap();
        assert_eq!(a.align_pending(false, None, 1), Ok("unchanged"));
        assert_eq!(a.align_pending(false, Some("pro"), 1), Ok("unchanged"));
        assert_eq!(
            a.align_pending(false, Some("agency"), 1),
            Ok("unchanged"),
            "not a downgrade"
        );
        assert_eq!(
            a.align_pending(false, Some("basic"), 1),
            Ok("downgrade_scheduled")
        );
        assert_eq!(
            a.plan.as_ref().unwrap().pending,
            Some(Pending::Downgrade(Plan::Basic))
        );
        assert_eq!(a.align_pending(false, Some("basic"), 2), Ok("unchanged"));
        assert_eq!(
            a.align_pending(true, Some("basic"), 2),
            Ok("cancel_scheduled")
        );
        assert_eq!(a.plan.as_ref().unwrap().pending, Some(Pending::Cancel));
        assert_eq!(
            a.align_pending(false, Some("basic"), 3),
            Ok("downgrade_scheduled")
        );
        assert_eq!(a.align_pending(false, None, 3), Ok("kept"));
        assert_eq!(a.plan.as_ref().unwrap().pending, None);
        assert_eq!(a.app_plan(), Plan::Pro);
        let mut api = Account::new(Surface::Api);
        assert_eq!(
            api.align_pending(true, None, 0),
            Ok("unchanged"),
            "no subscription"
        );
    }
}
