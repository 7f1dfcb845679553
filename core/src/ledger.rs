//! Credits as a state machine. One ledger per balance (an organization's App credits and its API
//! credits are two ledgers). Buckets are spent daily → monthly → top-up (earliest expiry first
//! inside a kind). A generation first *holds* its full cost, then *settles* each successful
//! output and *releases* the rest: a failed output costs nothing.
//!
//! Accounting identity, kept by every operation: for each bucket
//! `granted = held + available + spent + expired + moved`, and for the ledger
//! `granted_externally = Σ remaining + Σ spent + Σ expired` where `remaining = held + available`
//! (credits moved between buckets, e.g. unused monthly credits converted to top-up credits on an
//! upgrade, leave one bucket as `moved` and enter another as granted).

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (passed in; core reads no clock).
pub type Millis = u64;

pub const DAY_MS: Millis = 24 * 60 * 60 * 1000;
/// Top-up credits expire 12 months after purchase (counted as 365 days).
pub const TOPUP_LIFETIME_MS: Millis = 365 * DAY_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BucketKind {
    Daily,
    Monthly,
    TopUp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bucket {
    pub id: u32,
    pub kind: BucketKind,
    pub granted: u64,
    pub held: u64,
    pub spent: u64,
    pub expired: u64,
    pub moved: u64,
    pub expires_at: Option<Millis>,
    /// Discounted API top-ups expire when the subscription ends.
    pub discounted: bool,
    /// Expired or emptied by a move: nothing more can be held from it.
    pub closed: bool,
}

impl Bucket {
    /// Credits not yet spent, expired or moved (held ones included).
    pub fn remaining(&self) -> u64 {
        self.granted - self.spent - self.expired - self.moved
    }

    /// Credits that a new hold may take.
    pub fn available(&self) -> u64 {
        if self.closed {
            0
        } else {
            self.remaining() - self.held
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    pub id: String,
    pub per_output: u64,
    /// Amounts still held, per bucket, in spending order.
    pub parts: Vec<(u32, u64)>,
    pub settled: Vec<bool>,
    pub released: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("not enough credits: this needs {needed} and {available} are available")]
    Insufficient { needed: u64, available: u64 },
    #[error("there is already a hold with this id")]
    HoldExists,
    #[error("there is no hold with this id")]
    UnknownHold,
    #[error("output {index} is not part of this hold ({outputs} outputs)")]
    NoSuchOutput { index: u32, outputs: u32 },
    #[error("a generation must have 1 to 4 outputs")]
    BadOutputCount,
}

/// Automatic top-up settings (API): when the available balance reaches `threshold`, buy
/// `amount` credits (a multiple of 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutoTopUp {
    pub threshold: u64,
    pub amount: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub buckets: Vec<Bucket>,
    pub holds: Vec<Hold>,
    pub granted_externally: u64,
    next_id: u32,
    /// Buckets folded away by [`Ledger::compact`] (closed, nothing held), as totals.
    #[serde(default)]
    pub archived: Archived,
}

/// Totals of compacted buckets, so the accounting identity still holds after compaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Archived {
    pub buckets: u64,
    pub granted: u64,
    pub spent: u64,
    pub expired: u64,
    pub moved: u64,
}

/// Which counter of a bucket a journal entry moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Granted,
    Held,
    Spent,
    Expired,
    Moved,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Granted,
        Field::Held,
        Field::Spent,
        Field::Expired,
        Field::Moved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Granted => "granted",
            Field::Held => "held",
            Field::Spent => "spent",
            Field::Expired => "expired",
            Field::Moved => "moved",
        }
    }

    /// How an entry of this field changes the available balance (+1 or −1).
    pub fn sign(self) -> i64 {
        if self == Field::Granted {
            1
        } else {
            -1
        }
    }

    fn of(self, b: &Bucket) -> u64 {
        match self {
            Field::Granted => b.granted,
            Field::Held => b.held,
            Field::Spent => b.spent,
            Field::Expired => b.expired,
            Field::Moved => b.moved,
        }
    }
}

/// One movement in the ledger's journal: a bucket's counter changed by `delta`. Every change
/// of a ledger is a list of entries ([`Ledger::entries_since`]); the available balance is
/// `Σ sign(field) × delta` over all entries ([`available_from`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub bucket: u32,
    pub kind: BucketKind,
    pub field: Field,
    pub delta: i64,
}

/// The available balance a journal adds up to.
pub fn available_from(entries: &[Entry]) -> i64 {
    entries.iter().map(|e| e.field.sign() * e.delta).sum()
}

/// Available credits per kind, from a journal.
pub fn available_by_kind_from(entries: &[Entry], kind: BucketKind) -> i64 {
    entries
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.field.sign() * e.delta)
        .sum()
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    fn push(
        &mut self,
        kind: BucketKind,
        amount: u64,
        expires_at: Option<Millis>,
        discounted: bool,
    ) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        self.buckets.push(Bucket {
            id,
            kind,
            granted: amount,
            held: 0,
            spent: 0,
            expired: 0,
            moved: 0,
            expires_at,
            discounted,
            closed: false,
        });
        id
    }

    /// Adds credits from outside (a plan's allowance, a purchase, a gift).
    pub fn grant(&mut self, kind: BucketKind, amount: u64, expires_at: Option<Millis>) -> u32 {
        self.granted_externally += amount;
        self.push(kind, amount, expires_at, false)
    }

    /// A discounted API top-up: expires when the subscription ends (see [`Ledger::expire_discounted`]).
    pub fn grant_discounted(&mut self, amount: u64, expires_at: Option<Millis>) -> u32 {
        self.granted_externally += amount;
        self.push(BucketKind::TopUp, amount, expires_at, true)
    }

    fn close(b: &mut Bucket) {
        if !b.closed {
            b.expired += b.available();
            b.closed = true;
        }
    }

    /// Expires every bucket whose time has come. Held credits stay held: a job that started
    /// before the expiry may still be charged; if released, they expire then.
    pub fn expire(&mut self, now: Millis) {
        for b in &mut self.buckets {
            if b.expires_at.is_some_and(|t| t <= now) {
                Self::close(b);
            }
        }
    }

    /// Ends every open bucket of a kind now (a daily refresh, a monthly reset).
    pub fn expire_kind(&mut self, kind: BucketKind) {
        for b in self.buckets.iter_mut().filter(|b| b.kind == kind) {
            Self::close(b);
        }
    }

    /// Sets discounted top-ups to expire at `at` (the end of the subscription's cycle).
    pub fn expire_discounted(&mut self, at: Millis) {
        for b in self
            .buckets
            .iter_mut()
            .filter(|b| b.discounted && !b.closed)
        {
            b.expires_at = Some(b.expires_at.map_or(at, |t| t.min(at)));
        }
    }

    /// Daily credits: the previous day's leftovers lapse and a fresh bucket starts.
    pub fn refresh_daily(&mut self, amount: u64, now: Millis) -> Option<u32> {
        self.expire_kind(BucketKind::Daily);
        (amount > 0).then(|| self.grant(BucketKind::Daily, amount, Some(now + DAY_MS)))
    }

    /// A new billing cycle: unused monthly credits lapse, the new allowance starts.
    pub fn renew_monthly(&mut self, amount: u64, cycle_end: Millis) -> Option<u32> {
        self.expire_kind(BucketKind::Monthly);
        (amount > 0).then(|| self.grant(BucketKind::Monthly, amount, Some(cycle_end)))
    }

    /// Moves the unused credits of every open bucket of `from` into one new bucket of `to`.
    /// Returns the amount moved.
    pub fn move_unused(
        &mut self,
        from: BucketKind,
        to: BucketKind,
        expires_at: Option<Millis>,
    ) -> u64 {
        let mut total = 0;
        for b in self
            .buckets
            .iter_mut()
            .filter(|b| b.kind == from && !b.closed)
        {
            let v = b.available();
            b.moved += v;
            b.closed = true;
            total += v;
        }
        if total > 0 {
            self.push(to, total, expires_at, false);
        }
        total
    }

    /// A monthly App plan upgrade: unused monthly credits become top-up credits (12-month
    /// expiry), then the new plan's allowance starts a cycle that ends at `cycle_end`.
    pub fn upgrade_app_monthly(&mut self, allowance: u64, now: Millis, cycle_end: Millis) -> u64 {
        let moved = self.move_unused(
            BucketKind::Monthly,
            BucketKind::TopUp,
            Some(now + TOPUP_LIFETIME_MS),
        );
        self.renew_monthly(allowance, cycle_end);
        moved
    }

    /// An annual App plan upgrade: unused credits do not roll over.
    pub fn upgrade_app_annual(&mut self, allowance: u64, cycle_end: Millis) {
        self.renew_monthly(allowance, cycle_end);
    }

    /// A monthly API tier upgrade: unused monthly credits roll into the new tier's allowance.
    pub fn upgrade_api_monthly(&mut self, allowance: u64, cycle_end: Millis) -> u64 {
        let moved = self.move_unused(BucketKind::Monthly, BucketKind::Monthly, Some(cycle_end));
        if allowance > 0 {
            self.grant(BucketKind::Monthly, allowance, Some(cycle_end));
        }
        moved
    }

    /// Sets the available balance to `amount` (an operator's correction): every open bucket
    /// lapses and one top-up bucket without expiry holds the new balance. Running holds keep
    /// their credits (charged or released as usual).
    pub fn set_balance(&mut self, amount: u64) {
        for b in &mut self.buckets {
            Self::close(b);
        }
        if amount > 0 {
            self.grant(BucketKind::TopUp, amount, None);
        }
    }

    /// Open buckets in spending order: daily, monthly, top-up; earliest expiry first.
    fn spending_order(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.buckets.len())
            .filter(|&i| !self.buckets[i].closed)
            .collect();
        idx.sort_by_key(|&i| {
            let b = &self.buckets[i];
            (b.kind, b.expires_at.unwrap_or(Millis::MAX), b.id)
        });
        idx
    }

    /// Credits a new hold could take now.
    pub fn available(&self) -> u64 {
        self.buckets.iter().map(Bucket::available).sum()
    }

    /// Available credits per kind.
    pub fn available_by_kind(&self, kind: BucketKind) -> u64 {
        self.buckets
            .iter()
            .filter(|b| b.kind == kind)
            .map(Bucket::available)
            .sum()
    }

    /// Holds the full cost of a generation: `per_output × outputs`.
    pub fn hold(
        &mut self,
        id: &str,
        per_output: u64,
        outputs: u32,
        now: Millis,
    ) -> Result<(), LedgerError> {
        self.expire(now);
        if !(1..=4).contains(&outputs) {
            return Err(LedgerError::BadOutputCount);
        }
        if self.holds.iter().any(|h| h.id == id) {
            return Err(LedgerError::HoldExists);
        }
        let needed = per_output * outputs as u64;
        let available = self.available();
        if available < needed {
            return Err(LedgerError::Insufficient { needed, available });
        }
        let mut left = needed;
        let mut parts = vec![];
        for i in self.spending_order() {
            if left == 0 {
                break;
            }
            let b = &mut self.buckets[i];
            let take = b.available().min(left);
            if take > 0 {
                b.held += take;
                left -= take;
                parts.push((b.id, take));
            }
        }
        self.holds.push(Hold {
            id: id.into(),
            per_output,
            parts,
            settled: vec![false; outputs as usize],
            released: false,
        });
        Ok(())
    }

    fn hold_mut(&mut self, id: &str) -> Result<usize, LedgerError> {
        self.holds
            .iter()
            .position(|h| h.id == id)
            .ok_or(LedgerError::UnknownHold)
    }

    fn bucket_mut(&mut self, id: u32) -> &mut Bucket {
        self.buckets
            .iter_mut()
            .find(|b| b.id == id)
            .expect("hold parts name existing buckets")
    }

    /// Charges one successful output. Idempotent: a second call for the same output, or a call
    /// after release, charges nothing. Returns the credits charged.
    pub fn settle(&mut self, id: &str, index: u32) -> Result<u64, LedgerError> {
        let h = self.hold_mut(id)?;
        let outputs = self.holds[h].settled.len() as u32;
        if index >= outputs {
            return Err(LedgerError::NoSuchOutput { index, outputs });
        }
        if self.holds[h].released || self.holds[h].settled[index as usize] {
            return Ok(0);
        }
        self.holds[h].settled[index as usize] = true;
        let mut left = self.holds[h].per_output;
        let mut parts = std::mem::take(&mut self.holds[h].parts);
        for (bucket, amount) in parts.iter_mut() {
            if left == 0 {
                break;
            }
            let take = (*amount).min(left);
            *amount -= take;
            left -= take;
            let b = self.bucket_mut(*bucket);
            b.held -= take;
            b.spent += take;
        }
        parts.retain(|(_, a)| *a > 0);
        self.holds[h].parts = parts;
        Ok(self.holds[h].per_output - left)
    }

    /// Releases whatever is still held (the outputs that failed or were never made).
    /// Idempotent. Returns the credits released.
    pub fn release(&mut self, id: &str) -> Result<u64, LedgerError> {
        let h = self.hold_mut(id)?;
        if self.holds[h].released {
            return Ok(0);
        }
        self.holds[h].released = true;
        let parts = std::mem::take(&mut self.holds[h].parts);
        let mut total = 0;
        for (bucket, amount) in parts {
            let b = self.bucket_mut(bucket);
            b.held -= amount;
            if b.closed {
                b.expired += amount;
            }
            total += amount;
        }
        Ok(total)
    }

    /// Settles the successful outputs and releases the rest; returns the credits charged.
    pub fn finish(&mut self, id: &str, succeeded: &[u32]) -> Result<u64, LedgerError> {
        let mut charged = 0;
        for &i in succeeded {
            charged += self.settle(id, i)?;
        }
        self.release(id)?;
        Ok(charged)
    }

    /// Whether an automatic top-up should be bought now, and how much.
    pub fn auto_topup_due(&self, cfg: &AutoTopUp) -> Option<u64> {
        (cfg.amount > 0 && self.available() <= cfg.threshold).then_some(cfg.amount)
    }

    /// Totals for the accounting identity.
    pub fn totals(&self) -> (u64, u64, u64, u64) {
        let f = |g: fn(&Bucket) -> u64| self.buckets.iter().map(g).sum::<u64>();
        (
            f(Bucket::remaining),
            f(|b| b.spent) + self.archived.spent,
            f(|b| b.expired) + self.archived.expired,
            f(|b| b.held),
        )
    }

    /// Keeps a long-lived ledger small: finished holds are dropped (settling or releasing an
    /// unknown hold is then a no-op for callers that treat `UnknownHold` as done) and closed
    /// buckets with nothing held fold into [`Archived`] totals. Balances do not change.
    pub fn compact(&mut self) {
        self.holds.retain(|h| !h.released);
        let mut kept = Vec::with_capacity(self.buckets.len());
        for b in std::mem::take(&mut self.buckets) {
            if b.closed && b.held == 0 {
                let a = &mut self.archived;
                a.buckets += 1;
                a.granted += b.granted;
                a.spent += b.spent;
                a.expired += b.expired;
                a.moved += b.moved;
            } else {
                kept.push(b);
            }
        }
        self.buckets = kept;
    }

    /// The journal entries that turn `before` into `self` (both states of one ledger; buckets
    /// are matched by id). Buckets that compaction removed had no movement left to record.
    pub fn entries_since(&self, before: &Ledger) -> Vec<Entry> {
        let mut out = vec![];
        for b in &self.buckets {
            let old = before.buckets.iter().find(|o| o.id == b.id);
            for f in Field::ALL {
                let delta = f.of(b) as i64 - old.map_or(0, |o| f.of(o) as i64);
                if delta != 0 {
                    out.push(Entry {
                        bucket: b.id,
                        kind: b.kind,
                        field: f,
                        delta,
                    });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn spends_daily_then_monthly_then_topup() {
        let mut l = Ledger::new();
        l.grant(BucketKind::TopUp, 100, Some(TOPUP_LIFETIME_MS));
        l.grant(BucketKind::Monthly, 5, Some(30 * DAY_MS));
        l.refresh_daily(3, 0);
        l.hold("g", 3, 3, 1).unwrap();
        assert_eq!(l.available_by_kind(BucketKind::Daily), 0);
        assert_eq!(l.available_by_kind(BucketKind::Monthly), 0);
        assert_eq!(l.available_by_kind(BucketKind::TopUp), 99);
        // Two outputs succeed, one fails: 6 charged, 3 back.
        assert_eq!(l.finish("g", &[0, 2]).unwrap(), 6);
        assert_eq!(l.available(), 102);
        assert_eq!(l.totals().1, 6);
    }

    #[test]
    fn settle_and_release_are_idempotent() {
        let mut l = Ledger::new();
        l.grant(BucketKind::Monthly, 10, None);
        l.hold("g", 2, 2, 0).unwrap();
        assert_eq!(l.settle("g", 0).unwrap(), 2);
        assert_eq!(l.settle("g", 0).unwrap(), 0);
        assert_eq!(l.release("g").unwrap(), 2);
        assert_eq!(l.release("g").unwrap(), 0);
        assert_eq!(l.settle("g", 1).unwrap(), 0, "nothing after release");
        assert_eq!(l.available(), 8);
        assert!(matches!(
            l.settle("g", 7),
            Err(LedgerError::NoSuchOutput { .. })
        ));
        assert_eq!(l.hold("g", 1, 1, 0), Err(LedgerError::HoldExists));
    }

    #[test]
    fn insufficient_credits_hold_nothing() {
        let mut l = Ledger::new();
        l.grant(BucketKind::Monthly, 5, None);
        assert_eq!(
            l.hold("g", 3, 2, 0),
            Err(LedgerError::Insufficient {
                needed: 6,
                available: 5
            })
        );
        assert_eq!(l.available(), 5);
        assert!(l.holds.is_empty());
    }

    #[test]
    fn expiry_and_daily_refresh() {
        let mut l = Ledger::new();
        l.refresh_daily(50, 0);
        l.hold("g", 10, 1, 1).unwrap();
        l.refresh_daily(50, DAY_MS);
        // Yesterday's 40 unheld lapsed; the held 10 can still be charged.
        assert_eq!(l.available(), 50);
        assert_eq!(l.settle("g", 0).unwrap(), 10);
        let mut l2 = l.clone();
        l2.hold("h", 5, 1, DAY_MS + 1).unwrap();
        l2.refresh_daily(50, 2 * DAY_MS);
        assert_eq!(l2.release("h").unwrap(), 5);
        let (_, spent, expired, _) = l2.totals();
        assert_eq!((spent, expired), (10, 40 + 45 + 5));
    }

    #[test]
    fn monthly_upgrade_converts_unused_monthly_to_topup() {
        let mut l = Ledger::new();
        l.grant(BucketKind::Monthly, 200, Some(30 * DAY_MS));
        l.hold("g", 50, 1, 0).unwrap();
        l.settle("g", 0).unwrap();
        let moved = l.move_unused(
            BucketKind::Monthly,
            BucketKind::TopUp,
            Some(10 * DAY_MS + TOPUP_LIFETIME_MS),
        );
        assert_eq!(moved, 150);
        l.renew_monthly(750, 40 * DAY_MS);
        assert_eq!(l.available_by_kind(BucketKind::TopUp), 150);
        assert_eq!(l.available_by_kind(BucketKind::Monthly), 750);
        assert_eq!(l.granted_externally, 950);
    }

    #[test]
    fn plan_changes() {
        let mut app = Ledger::new();
        app.grant(BucketKind::Monthly, 200, Some(30 * DAY_MS));
        app.hold("g", 20, 1, 0).unwrap();
        app.finish("g", &[0]).unwrap();
        assert_eq!(app.upgrade_app_monthly(750, 5 * DAY_MS, 35 * DAY_MS), 180);
        assert_eq!(
            (
                app.available_by_kind(BucketKind::TopUp),
                app.available_by_kind(BucketKind::Monthly)
            ),
            (180, 750)
        );
        app.expire(5 * DAY_MS + TOPUP_LIFETIME_MS);
        assert_eq!(
            app.available_by_kind(BucketKind::TopUp),
            0,
            "converted credits expire after 12 months"
        );
        let mut annual = Ledger::new();
        annual.grant(BucketKind::Monthly, 200, Some(30 * DAY_MS));
        annual.upgrade_app_annual(750, 30 * DAY_MS);
        assert_eq!(
            annual.available(),
            750,
            "annual upgrades do not roll credits over"
        );
        let mut api = Ledger::new();
        api.grant(BucketKind::Monthly, 282, Some(30 * DAY_MS));
        assert_eq!(api.upgrade_api_monthly(4150, 40 * DAY_MS), 282);
        assert_eq!(
            api.available_by_kind(BucketKind::Monthly),
            4432,
            "rolled into the new allowance"
        );
        assert_eq!(api.granted_externally, 282 + 4150);
    }

    #[test]
    fn discounted_topups_expire_with_the_subscription() {
        let mut l = Ledger::new();
        l.grant_discounted(300, None);
        l.grant(BucketKind::TopUp, 100, Some(TOPUP_LIFETIME_MS));
        l.expire_discounted(5 * DAY_MS);
        l.expire(5 * DAY_MS);
        assert_eq!(l.available(), 100);
    }

    #[test]
    fn auto_topup_at_threshold() {
        let mut l = Ledger::new();
        l.grant(BucketKind::TopUp, 400, None);
        let cfg = AutoTopUp {
            threshold: 300,
            amount: 1000,
        };
        assert_eq!(l.auto_topup_due(&cfg), None);
        l.hold("g", 100, 1, 0).unwrap();
        assert_eq!(l.auto_topup_due(&cfg), Some(1000));
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Grant(u8, u16, Option<u16>),
            Hold(u8, u8, u8),
            Settle(u8, u8),
            Release(u8),
            Expire(u16),
            Daily(u16, u16),
            Move,
            Renew(u16),
            Set(u16),
            UpApp(u16),
            UpApi(u16),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..3u8, 0..500u16, proptest::option::of(0..2000u16))
                    .prop_map(|(k, a, e)| Op::Grant(k, a, e)),
                (0..6u8, 0..20u8, 1..5u8).prop_map(|(h, c, n)| Op::Hold(h, c, n)),
                (0..6u8, 0..5u8).prop_map(|(h, i)| Op::Settle(h, i)),
                (0..6u8).prop_map(Op::Release),
                (0..2000u16).prop_map(Op::Expire),
                (0..100u16, 0..2000u16).prop_map(|(a, t)| Op::Daily(a, t)),
                Just(Op::Move),
                (0..800u16).prop_map(Op::Renew),
                (0..800u16).prop_map(Op::Set),
                (0..800u16).prop_map(Op::UpApp),
                (0..800u16).prop_map(Op::UpApi),
            ]
        }

        fn kind(k: u8) -> BucketKind {
            [BucketKind::Daily, BucketKind::Monthly, BucketKind::TopUp][k as usize % 3]
        }

        fn check(l: &Ledger) {
            for b in &l.buckets {
                assert!(
                    b.held <= b.remaining(),
                    "holds never exceed the balance: {b:?}"
                );
                assert_eq!(
                    b.granted,
                    b.held
                        + b.available()
                        + b.spent
                        + b.expired
                        + b.moved
                        + if b.closed { b.remaining() - b.held } else { 0 },
                    "{b:?}"
                );
            }
            let (remaining, spent, expired, held) = l.totals();
            assert_eq!(
                l.granted_externally,
                remaining + spent + expired,
                "granted = remaining + spent + expired"
            );
            let open_holds: u64 = l
                .holds
                .iter()
                .flat_map(|h| h.parts.iter().map(|p| p.1))
                .sum();
            assert_eq!(held, open_holds, "bucket holds match the open holds");
        }

        proptest! {
            #[test]
            fn ledger_invariants_hold_for_any_sequence(ops in proptest::collection::vec(op(), 0..60)) {
                let mut l = Ledger::new();
                let mut now: Millis = 0;
                let mut journal: Vec<Entry> = vec![];
                for (step, o) in ops.into_iter().enumerate() {
                    now += 1;
                    let before = l.clone();
                    match o {
                        Op::Grant(k, a, e) => { l.grant(kind(k), a as u64, e.map(|e| e as u64)); }
                        Op::Hold(h, c, n) => {
                            let before = l.clone();
                            if l.hold(&format!("h{h}"), c as u64, n as u32, now).is_err() {
                                // A refused hold changes nothing but expiry.
                                let mut b = before; b.expire(now);
                                prop_assert_eq!(&l, &b);
                            }
                        }
                        Op::Settle(h, i) => {
                            let id = format!("h{h}");
                            if let Ok(first) = l.settle(&id, i as u32) {
                                prop_assert_eq!(l.settle(&id, i as u32).unwrap(), 0, "settle is idempotent (first charged {})", first);
                            }
                        }
                        Op::Release(h) => {
                            let id = format!("h{h}");
                            if l.release(&id).is_ok() {
                                prop_assert_eq!(l.release(&id).unwrap(), 0);
                            }
                        }
                        Op::Expire(t) => { now = now.max(t as u64); l.expire(now); }
                        Op::Daily(a, t) => { now = now.max(t as u64); l.refresh_daily(a as u64, now); }
                        Op::Move => { l.move_unused(BucketKind::Monthly, BucketKind::TopUp, Some(now + TOPUP_LIFETIME_MS)); }
                        Op::Renew(a) => { l.renew_monthly(a as u64, now + 30 * DAY_MS); }
                        Op::Set(a) => {
                            l.set_balance(a as u64);
                            prop_assert_eq!(l.available(), a as u64);
                        }
                        Op::UpApp(a) => {
                            l.upgrade_app_monthly(a as u64, now, now + 30 * DAY_MS);
                        }
                        Op::UpApi(a) => {
                            l.upgrade_api_monthly(a as u64, now + 30 * DAY_MS);
                        }
                    }
                    check(&l);
                    journal.extend(l.entries_since(&before));
                    prop_assert_eq!(available_from(&journal), l.available() as i64, "the journal adds up to the balance");
                    for k in [BucketKind::Daily, BucketKind::Monthly, BucketKind::TopUp] {
                        prop_assert_eq!(available_by_kind_from(&journal, k), l.available_by_kind(k) as i64);
                    }
                    if step % 3 == 2 {
                        let (available, totals) = (l.available(), l.totals());
                        l.compact();
                        check(&l);
                        prop_assert_eq!((l.available(), l.totals()), (available, totals), "compaction changes no balance");
                    }
                }
            }
        }
    }
}
