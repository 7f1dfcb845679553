//! Subscriptions as a state machine: App plans and API tiers, monthly or annual. Upgrades take
//! effect at once; downgrades and cancellations at the end of the cycle; there is no one-click
//! monthly ↔ annual switch. Credit effects go through the [`Ledger`].

use serde::{Deserialize, Serialize};

use crate::ledger::{Ledger, Millis, DAY_MS};
use crate::pricing::{ApiTier, Plan};

/// A billing cycle: 30 days monthly, 365 days annual. Annual subscriptions receive their
/// monthly allowance every 30 days (Decision: the docs do not say).
pub const MONTH_MS: Millis = 30 * DAY_MS;
pub const YEAR_MS: Millis = 365 * DAY_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Monthly,
    Annual,
}

/// What can be subscribed to: an App plan or an API tier.
pub trait Offer: Copy + PartialOrd + std::fmt::Debug {
    fn monthly_credits(self) -> u64;
    fn monthly_cents(self) -> u64;
    fn annual_cents(self) -> u64;
    /// API tiers: credits bought under the tier are discounted and expire with it.
    fn is_api(self) -> bool;
}

impl Offer for Plan {
    fn monthly_credits(self) -> u64 {
        self.info().monthly_credits as u64
    }
    fn monthly_cents(self) -> u64 {
        self.info().monthly_cents as u64
    }
    fn annual_cents(self) -> u64 {
        self.info().annual_cents as u64
    }
    fn is_api(self) -> bool {
        false
    }
}

impl Offer for ApiTier {
    fn monthly_credits(self) -> u64 {
        self.info().monthly_credits as u64
    }
    fn monthly_cents(self) -> u64 {
        self.info().monthly_cents as u64
    }
    fn annual_cents(self) -> u64 {
        self.info().annual_cents as u64
    }
    fn is_api(self) -> bool {
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pending<O> {
    Downgrade(O),
    Cancel,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubscriptionError {
    #[error("that is not an upgrade; downgrades take effect at the end of the cycle")]
    NotAnUpgrade,
    #[error("that is not a downgrade")]
    NotADowngrade,
    #[error("there is no one-click conversion between monthly and annual: cancel, let the cycle end, then subscribe with the other interval")]
    NoIntervalSwitch,
    #[error("the subscription has ended")]
    Ended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription<O> {
    pub offer: O,
    pub interval: Interval,
    pub cycle_start: Millis,
    pub cycle_end: Millis,
    /// Next monthly allowance (annual subscriptions get one every 30 days).
    pub next_grant: Millis,
    pub pending: Option<Pending<O>>,
    pub active: bool,
}

/// What an operation charges (US cents) — for the payment provider to collect.
pub type Charge = u64;

impl<O: Offer> Subscription<O> {
    fn length(interval: Interval) -> Millis {
        match interval {
            Interval::Monthly => MONTH_MS,
            Interval::Annual => YEAR_MS,
        }
    }

    fn price(offer: O, interval: Interval) -> Charge {
        match interval {
            Interval::Monthly => offer.monthly_cents(),
            Interval::Annual => offer.annual_cents(),
        }
    }

    /// Starts a subscription: charges the price, grants the first allowance.
    pub fn start(offer: O, interval: Interval, now: Millis, ledger: &mut Ledger) -> (Self, Charge) {
        let sub = Subscription {
            offer,
            interval,
            cycle_start: now,
            cycle_end: now + Self::length(interval),
            next_grant: now + MONTH_MS,
            pending: None,
            active: true,
        };
        ledger.renew_monthly(offer.monthly_credits(), now + MONTH_MS);
        (sub, Self::price(offer, interval))
    }

    /// Upgrades now. Monthly: full new price, the cycle restarts today, unused credits convert
    /// (App: to top-up credits; API: into the new allowance). Annual: prorated by the unused part
    /// of the current plan; the cycle and renewal date stay; (App) unused credits do not roll over.
    pub fn upgrade(
        &mut self,
        to: O,
        now: Millis,
        ledger: &mut Ledger,
    ) -> Result<Charge, SubscriptionError> {
        if !self.active {
            return Err(SubscriptionError::Ended);
        }
        if to <= self.offer {
            return Err(SubscriptionError::NotAnUpgrade);
        }
        let charge = match self.interval {
            Interval::Monthly => {
                if to.is_api() {
                    ledger.upgrade_api_monthly(to.monthly_credits(), now + MONTH_MS);
                } else {
                    ledger.upgrade_app_monthly(to.monthly_credits(), now, now + MONTH_MS);
                }
                self.cycle_start = now;
                self.cycle_end = now + MONTH_MS;
                self.next_grant = now + MONTH_MS;
                to.monthly_cents()
            }
            Interval::Annual => {
                let total = (self.cycle_end - self.cycle_start) as u128;
                let left = self.cycle_end.saturating_sub(now) as u128;
                let unused = (self.offer.annual_cents() as u128 * left / total.max(1)) as u64;
                let new_part = (to.annual_cents() as u128 * left / total.max(1)) as u64;
                if to.is_api() {
                    ledger.upgrade_api_monthly(to.monthly_credits(), self.next_grant);
                } else {
                    ledger.upgrade_app_annual(to.monthly_credits(), self.next_grant);
                }
                new_part.saturating_sub(unused)
            }
        };
        self.offer = to;
        self.pending = None;
        Ok(charge)
    }

    /// Schedules a downgrade for the end of the cycle. API: credits bought at this tier's
    /// discount expire at the end of the cycle.
    pub fn downgrade(&mut self, to: O, ledger: &mut Ledger) -> Result<(), SubscriptionError> {
        if !self.active {
            return Err(SubscriptionError::Ended);
        }
        if to >= self.offer {
            return Err(SubscriptionError::NotADowngrade);
        }
        if self.offer.is_api() {
            ledger.expire_discounted(self.cycle_end);
        }
        self.pending = Some(Pending::Downgrade(to));
        Ok(())
    }

    /// Schedules the end of the subscription at the end of the cycle.
    pub fn cancel(&mut self, ledger: &mut Ledger) {
        if self.offer.is_api() {
            ledger.expire_discounted(self.cycle_end);
        }
        self.pending = Some(Pending::Cancel);
    }

    pub fn switch_interval(&mut self, _to: Interval) -> Result<(), SubscriptionError> {
        Err(SubscriptionError::NoIntervalSwitch)
    }

    /// Advances time: grants monthly allowances that fall due and renews (or ends) the cycle.
    /// Returns what the renewal charges.
    pub fn tick(&mut self, now: Millis, ledger: &mut Ledger) -> Charge {
        let mut charged = 0;
        while self.active
            && self.next_grant <= now.min(self.cycle_end)
            && self.next_grant < self.cycle_end
        {
            ledger.renew_monthly(self.offer.monthly_credits(), self.next_grant + MONTH_MS);
            self.next_grant += MONTH_MS;
        }
        while self.active && now >= self.cycle_end {
            match self.pending.take() {
                Some(Pending::Cancel) => {
                    self.active = false;
                    ledger.expire_kind(crate::ledger::BucketKind::Monthly);
                    break;
                }
                Some(Pending::Downgrade(to)) => self.offer = to,
                None => {}
            }
            self.cycle_start = self.cycle_end;
            self.cycle_end += Self::length(self.interval);
            self.next_grant = self.cycle_start + MONTH_MS;
            ledger.renew_monthly(self.offer.monthly_credits(), self.cycle_start + MONTH_MS);
            charged += Self::price(self.offer, self.interval);
        }
        ledger.expire(now);
        charged
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::ledger::BucketKind;

    #[test]
    fn app_monthly_upgrade_downgrade_cancel() {
        let mut l = Ledger::new();
        let (mut s, c) = Subscription::start(Plan::Basic, Interval::Monthly, 0, &mut l);
        assert_eq!(c, 1900);
        assert_eq!(l.available(), 200);
        assert_eq!(
            s.upgrade(Plan::Basic, DAY_MS, &mut l),
            Err(SubscriptionError::NotAnUpgrade)
        );
        assert_eq!(s.upgrade(Plan::Pro, 10 * DAY_MS, &mut l), Ok(4900));
        assert_eq!(
            s.cycle_start,
            10 * DAY_MS,
            "the cycle resets to the upgrade date"
        );
        assert_eq!(
            (
                l.available_by_kind(BucketKind::TopUp),
                l.available_by_kind(BucketKind::Monthly)
            ),
            (200, 750)
        );
        s.downgrade(Plan::Basic, &mut l).unwrap();
        assert_eq!(
            s.offer,
            Plan::Pro,
            "downgrades wait for the end of the cycle"
        );
        assert_eq!(s.tick(10 * DAY_MS + MONTH_MS, &mut l), 1900);
        assert_eq!(s.offer, Plan::Basic);
        assert_eq!(l.available_by_kind(BucketKind::Monthly), 200);
        s.cancel(&mut l);
        assert_eq!(s.tick(10 * DAY_MS + 2 * MONTH_MS, &mut l), 0);
        assert!(!s.active);
        assert_eq!(l.available_by_kind(BucketKind::Monthly), 0);
        assert_eq!(
            l.available_by_kind(BucketKind::TopUp),
            200,
            "top-ups outlive the plan"
        );
        assert_eq!(
            s.switch_interval(Interval::Annual),
            Err(SubscriptionError::NoIntervalSwitch)
        );
    }

    #[test]
    fn annual_upgrade_is_prorated_and_keeps_the_cycle() {
        let mut l = Ledger::new();
        let (mut s, c) = Subscription::start(Plan::Basic, Interval::Annual, 0, &mut l);
        assert_eq!(c, 19000);
        let half = YEAR_MS / 2;
        s.tick(half, &mut l);
        let charge = s.upgrade(Plan::Pro, half, &mut l).unwrap();
        assert_eq!(charge, (49000 - 19000) / 2);
        assert_eq!(s.cycle_end, YEAR_MS, "renewal date stays");
        assert_eq!(
            l.available_by_kind(BucketKind::TopUp),
            0,
            "no roll-over on annual upgrades"
        );
        assert_eq!(l.available_by_kind(BucketKind::Monthly), 750);
    }

    #[test]
    fn api_tier_upgrade_rolls_credits_and_cancel_expires_discounted() {
        let mut l = Ledger::new();
        let (mut s, _) = Subscription::start(ApiTier::Tier1, Interval::Monthly, 0, &mut l);
        l.grant_discounted(1000, None);
        assert_eq!(s.upgrade(ApiTier::Tier2, 5 * DAY_MS, &mut l), Ok(24900));
        assert_eq!(l.available_by_kind(BucketKind::Monthly), 282 + 4150);
        s.cancel(&mut l);
        s.tick(5 * DAY_MS + MONTH_MS, &mut l);
        assert!(!s.active);
        assert_eq!(
            l.available(),
            0,
            "discounted credits expire with the subscription"
        );
    }
}
