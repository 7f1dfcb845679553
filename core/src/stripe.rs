//! Stripe, the payment provider, as pure functions: webhook signature checks (Stripe's scheme:
//! `Stripe-Signature: t=<unix secs>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>`, any of several
//! `v1`, a timestamp tolerance), what a purchase is (`Purchase`, carried in Checkout metadata and
//! read back from the webhook), and the form bodies of the Checkout Session and Billing Portal
//! calls. The edge does the I/O.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::pricing::{ApiTier, Plan, Surface};
use crate::subscription::Interval;

/// Stripe's own default: events older (or newer) than 5 minutes are refused.
pub const TOLERANCE_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or has no t= and v1=")]
    Malformed,
    #[error("the signature's timestamp is outside the tolerance ({0} s)")]
    Stale(u64),
    #[error("no v1 signature matches the payload")]
    Mismatch,
}

/// Checks a webhook's `Stripe-Signature` against its raw payload; returns the signed timestamp.
pub fn verify(
    header: &str,
    payload: &[u8],
    secret: &str,
    now_secs: u64,
    tolerance_secs: u64,
) -> Result<u64, SignatureError> {
    let mut t = None;
    let mut sigs = vec![];
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => sigs.push(v.to_string()),
            _ => {}
        }
    }
    let (Some(t), false) = (t, sigs.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let expected = mac.finalize().into_bytes();
    let ok = sigs.iter().any(|s| {
        hex::decode(s).is_ok_and(|given| {
            // Constant time over the 32 bytes.
            given.len() == expected.len()
                && given
                    .iter()
                    .zip(expected.iter())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    });
    if !ok {
        return Err(SignatureError::Mismatch);
    }
    if now_secs.abs_diff(t) > tolerance_secs {
        return Err(SignatureError::Stale(tolerance_secs));
    }
    Ok(t)
}

/// What a Checkout Session buys, written into its metadata and read back from the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purchase {
    TopUp { surface: Surface, credits: u64 },
    Plan { plan: Plan, interval: Interval },
    Tier { tier: ApiTier, interval: Interval },
}

fn id<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::from(s)).ok()
}

impl Purchase {
    /// The metadata pairs (besides `user_id`).
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        match *self {
            Purchase::TopUp { surface, credits } => vec![
                ("kind", "topup".into()),
                ("surface", id(surface)),
                ("credits", credits.to_string()),
            ],
            Purchase::Plan { plan, interval } => vec![
                ("kind", "plan".into()),
                ("plan", id(plan)),
                ("interval", id(interval)),
            ],
            Purchase::Tier { tier, interval } => vec![
                ("kind", "tier".into()),
                ("tier", id(tier)),
                ("interval", id(interval)),
            ],
        }
    }

    /// Reads a purchase back from a metadata object.
    pub fn from_metadata(m: &serde_json::Value) -> Option<Purchase> {
        let get = |k: &str| m.get(k).and_then(|v| v.as_str());
        let interval = || get("interval").and_then(parse::<Interval>);
        match get("kind")? {
            "topup" => Some(Purchase::TopUp {
                surface: get("surface").and_then(parse)?,
                credits: get("credits")?.parse().ok()?,
            }),
            "plan" => Some(Purchase::Plan {
                plan: get("plan").and_then(parse)?,
                interval: interval()?,
            }),
            "tier" => Some(Purchase::Tier {
                tier: get("tier").and_then(parse)?,
                interval: interval()?,
            }),
            _ => None,
        }
    }

    /// The line on the receipt and what it costs (US cents), from core's price tables.
    pub fn line(&self) -> (String, u64) {
        let per = |i: Interval, m: u32, a: u32| match i {
            Interval::Monthly => m as u64,
            Interval::Annual => a as u64,
        };
        match *self {
            Purchase::TopUp { surface, credits } => (
                format!(
                    "{credits} {} credits",
                    if surface == Surface::App {
                        "App"
                    } else {
                        "API"
                    }
                ),
                // The tier's discount is applied by the edge, which knows the account's tier.
                crate::pricing::topup_cents(surface, ApiTier::OnDemand, credits as u32),
            ),
            Purchase::Plan { plan, interval } => {
                let i = plan.info();
                (
                    format!("Atelier {} ({})", i.name, id(interval)),
                    per(interval, i.monthly_cents, i.annual_cents),
                )
            }
            Purchase::Tier { tier, interval } => {
                let i = tier.info();
                (
                    format!("Atelier API {} ({})", i.name, id(interval)),
                    per(interval, i.monthly_cents, i.annual_cents),
                )
            }
        }
    }
}

/// The form body of `POST /v1/checkout/sessions` for a purchase of `cents` (a subscription recurs
/// monthly or yearly; a top-up is a one-time payment). The metadata rides on the session and, for
/// a subscription, on the subscription too (so its later events name the account).
pub fn checkout_form(
    user_id: &str,
    customer: Option<&str>,
    email: &str,
    purchase: &Purchase,
    cents: u64,
    success_url: &str,
    cancel_url: &str,
) -> Vec<(String, String)> {
    let (name, _) = purchase.line();
    let mut f: Vec<(String, String)> = vec![
        ("success_url".into(), success_url.into()),
        ("cancel_url".into(), cancel_url.into()),
        ("client_reference_id".into(), user_id.into()),
        ("line_items[0][quantity]".into(), "1".into()),
        ("line_items[0][price_data][currency]".into(), "usd".into()),
        (
            "line_items[0][price_data][unit_amount]".into(),
            cents.to_string(),
        ),
        ("line_items[0][price_data][product_data][name]".into(), name),
    ];
    match customer {
        Some(c) => f.push(("customer".into(), c.into())),
        None => f.push(("customer_email".into(), email.into())),
    }
    let recurring = match purchase {
        Purchase::TopUp { .. } => None,
        Purchase::Plan { interval, .. } | Purchase::Tier { interval, .. } => Some(*interval),
    };
    let mut meta = purchase.metadata();
    meta.push(("user_id", user_id.to_string()));
    match recurring {
        None => {
            f.push(("mode".into(), "payment".into()));
            // Save the card for automatic top-ups.
            f.push((
                "payment_intent_data[setup_future_usage]".into(),
                "off_session".into(),
            ));
        }
        Some(i) => {
            f.push(("mode".into(), "subscription".into()));
            f.push((
                "line_items[0][price_data][recurring][interval]".into(),
                match i {
                    Interval::Monthly => "month",
                    Interval::Annual => "year",
                }
                .into(),
            ));
            for (k, v) in &meta {
                f.push((format!("subscription_data[metadata][{k}]"), v.clone()));
            }
        }
    }
    for (k, v) in meta {
        f.push((format!("metadata[{k}]"), v));
    }
    f
}

/// The form body of `POST /v1/billing_portal/sessions`.
pub fn portal_form(customer: &str, return_url: &str) -> Vec<(String, String)> {
    vec![
        ("customer".into(), customer.into()),
        ("return_url".into(), return_url.into()),
    ]
}

type Form = Vec<(String, String)>;

fn pairs(f: &[(&str, String)]) -> Form {
    f.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// The form body of `POST /v1/customers`: the account's Stripe customer.
pub fn customer_form(user_id: &str, email: &str) -> Form {
    pairs(&[
        ("email", email.into()),
        ("metadata[user_id]", user_id.into()),
    ])
}

/// A Checkout Session in setup mode: the user saves a card (for automatic top-ups), nothing is
/// charged. Its `checkout.session.completed` names the SetupIntent that holds the card.
pub fn setup_checkout_form(
    user_id: &str,
    customer: &str,
    success_url: &str,
    cancel_url: &str,
) -> Form {
    pairs(&[
        ("mode", "setup".into()),
        ("currency", "usd".into()),
        ("customer", customer.into()),
        ("client_reference_id", user_id.into()),
        ("success_url", success_url.into()),
        ("cancel_url", cancel_url.into()),
        ("metadata[kind]", "payment_method".into()),
        ("metadata[user_id]", user_id.into()),
    ])
}

/// An off-session PaymentIntent charging the saved card at once (automatic top-ups, the prorated
/// part of an annual upgrade): `confirm` now, `off_session` (the user is not there; a card that
/// needs authentication is declined rather than left waiting).
pub fn off_session_payment_form(
    customer: &str,
    payment_method: &str,
    cents: u64,
    description: &str,
    user_id: &str,
    kind: &str,
) -> Form {
    pairs(&[
        ("amount", cents.to_string()),
        ("currency", "usd".into()),
        ("customer", customer.into()),
        ("payment_method", payment_method.into()),
        // A saved card, never a redirect (nobody is there to follow one).
        ("payment_method_types[0]", "card".into()),
        ("off_session", "true".into()),
        ("confirm", "true".into()),
        ("description", description.into()),
        ("metadata[kind]", kind.into()),
        ("metadata[user_id]", user_id.into()),
    ])
}

/// The Stripe product a plan or tier is billed under (a fixed id, created once) and its name.
pub fn product_of(p: &Purchase) -> (String, String) {
    let (name, _) = p.line();
    let name = name
        .rsplit_once(" (")
        .map_or(name.clone(), |(n, _)| n.to_string());
    let id = match *p {
        Purchase::Plan { plan, .. } => format!("atelier_plan_{}", id(plan)),
        Purchase::Tier { tier, .. } => format!("atelier_api_{}", id(tier)),
        Purchase::TopUp { surface, .. } => format!("atelier_topup_{}", id(surface)),
    };
    (id, name)
}

/// The form body of `POST /v1/products` for [`product_of`].
pub fn product_form(p: &Purchase) -> Form {
    let (id, name) = product_of(p);
    pairs(&[("id", id), ("name", name)])
}

/// How a live subscription is changed at Stripe (`POST /v1/subscriptions/<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionChange {
    /// A higher plan now, the cycle restarting today (monthly): Stripe invoices the full price
    /// at once and fails the update if the card is declined.
    UpgradeRestart(Purchase),
    /// A higher plan from the next renewal on, the cycle kept (annual: the prorated part is
    /// collected separately, as core computes it).
    UpgradeKeepCycle(Purchase),
    /// Renews as `Purchase` (a lower plan) at the cycle's end: the price changes without
    /// proration, so this cycle stays paid as it is; `next` in the metadata says so.
    DowngradeAtEnd { current: Purchase, to: Purchase },
    /// Undo a scheduled downgrade: renew at `Purchase` again.
    Keep(Purchase),
    /// End at the cycle's end (`true`) or undo that (`false`).
    CancelAtEnd(bool, Purchase),
}

/// The form body for a [`SubscriptionChange`] of the subscription item `item`.
pub fn subscription_change_form(user_id: &str, item: &str, change: &SubscriptionChange) -> Form {
    let mut f: Form = vec![];
    let price = |f: &mut Form, p: &Purchase| {
        let (product, _) = product_of(p);
        let (_, cents) = p.line();
        let interval = match p {
            Purchase::Plan { interval, .. } | Purchase::Tier { interval, .. } => *interval,
            Purchase::TopUp { .. } => Interval::Monthly,
        };
        f.extend(pairs(&[
            ("items[0][id]", item.into()),
            ("items[0][price_data][currency]", "usd".into()),
            ("items[0][price_data][product]", product),
            ("items[0][price_data][unit_amount]", cents.to_string()),
            (
                "items[0][price_data][recurring][interval]",
                match interval {
                    Interval::Monthly => "month",
                    Interval::Annual => "year",
                }
                .into(),
            ),
            ("proration_behavior", "none".into()),
        ]));
    };
    let meta = |f: &mut Form, p: &Purchase, next: Option<&Purchase>| {
        for (k, v) in p.metadata() {
            f.push((format!("metadata[{k}]"), v));
        }
        f.push(("metadata[user_id]".into(), user_id.into()));
        let next = next.map(|n| match *n {
            Purchase::Plan { plan, .. } => id(plan),
            Purchase::Tier { tier, .. } => id(tier),
            Purchase::TopUp { .. } => String::new(),
        });
        // An empty value removes the key at Stripe.
        f.push(("metadata[next]".into(), next.unwrap_or_default()));
    };
    match change {
        SubscriptionChange::UpgradeRestart(p) => {
            price(&mut f, p);
            f.push(("billing_cycle_anchor".into(), "now".into()));
            f.push(("payment_behavior".into(), "error_if_incomplete".into()));
            meta(&mut f, p, None);
        }
        SubscriptionChange::UpgradeKeepCycle(p) | SubscriptionChange::Keep(p) => {
            price(&mut f, p);
            meta(&mut f, p, None);
        }
        SubscriptionChange::DowngradeAtEnd { current, to } => {
            price(&mut f, to);
            meta(&mut f, current, Some(to));
        }
        SubscriptionChange::CancelAtEnd(on, p) => {
            f.push(("cancel_at_period_end".into(), on.to_string()));
            meta(&mut f, p, None);
        }
    }
    f
}

/// How a saved card is shown: "Visa •••• 4242".
pub fn card_label(brand: &str, last4: &str) -> String {
    let brand = match brand {
        "amex" => "American Express".to_string(),
        "diners" => "Diners Club".to_string(),
        "jcb" => "JCB".to_string(),
        "unionpay" => "UnionPay".to_string(),
        b => {
            let mut c = b.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_else(|| "Card".into())
        }
    };
    format!("{brand} •••• {last4}")
}

/// `application/x-www-form-urlencoded`, as Stripe's API takes it.
pub fn form_encode(fields: &[(String, String)]) -> String {
    fn enc(s: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    fn sign(secret: &str, t: u64, payload: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{payload}").as_bytes());
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn signatures() {
        let p = r#"{"id":"evt_1"}"#;
        let h = sign("whsec_a", 1000, p);
        assert_eq!(
            verify(&h, p.as_bytes(), "whsec_a", 1100, TOLERANCE_SECS),
            Ok(1000)
        );
        assert_eq!(
            verify(&h, p.as_bytes(), "whsec_b", 1100, TOLERANCE_SECS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(&h, br#"{"id":"evt_2"}"#, "whsec_a", 1100, TOLERANCE_SECS),
            Err(SignatureError::Mismatch),
            "a changed payload"
        );
        assert_eq!(
            verify(&h, p.as_bytes(), "whsec_a", 1000 + 301, TOLERANCE_SECS),
            Err(SignatureError::Stale(300))
        );
        // A rolled secret: two v1 signatures, either matches.
        let two = format!(
            "{},v1={}",
            sign("whsec_old", 1000, p),
            &sign("whsec_a", 1000, p)[10..]
        );
        assert!(verify(&two, p.as_bytes(), "whsec_a", 1000, TOLERANCE_SECS).is_ok());
        for bad in ["", "t=1000", "v1=00", "t=x,v1=00", "garbage"] {
            assert!(
                verify(bad, p.as_bytes(), "whsec_a", 1000, TOLERANCE_SECS).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn purchases_round_trip_through_metadata_and_checkout_forms() {
        for p in [
            Purchase::TopUp {
                surface: Surface::Api,
                credits: 500,
            },
            Purchase::Plan {
                plan: Plan::Agency2x,
                interval: Interval::Annual,
            },
            Purchase::Tier {
                tier: ApiTier::Tier2,
                interval: Interval::Monthly,
            },
        ] {
            let m: serde_json::Map<String, serde_json::Value> = p
                .metadata()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect();
            assert_eq!(
                Purchase::from_metadata(&serde_json::Value::Object(m)),
                Some(p)
            );
        }
        assert_eq!(
            Purchase::from_metadata(
                &serde_json::json!({"kind": "plan", "plan": "platinum", "interval": "monthly"})
            ),
            None
        );
        let p = Purchase::Plan {
            plan: Plan::Pro,
            interval: Interval::Annual,
        };
        let f = checkout_form(
            "u1",
            None,
            "a@b.co",
            &p,
            49000,
            "http://127.0.0.1/ok",
            "http://127.0.0.1/no",
        );
        let get = |k: &str| f.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("mode"), Some("subscription"));
        assert_eq!(
            get("line_items[0][price_data][recurring][interval]"),
            Some("year")
        );
        assert_eq!(get("line_items[0][price_data][unit_amount]"), Some("49000"));
        assert_eq!(get("subscription_data[metadata][user_id]"), Some("u1"));
        assert_eq!(get("metadata[plan]"), Some("pro"));
        assert_eq!(get("customer_email"), Some("a@b.co"));
        assert_eq!(
            form_encode(&[("a[b]".into(), "x y&z".into())]),
            "a%5Bb%5D=x+y%26z"
        );
        let t = checkout_form(
            "u1",
            Some("cus_1"),
            "a@b.co",
            &Purchase::TopUp {
                surface: Surface::App,
                credits: 100,
            },
            1000,
            "s",
            "c",
        );
        let get = |k: &str| t.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            (get("mode"), get("customer")),
            (Some("payment"), Some("cus_1"))
        );
        assert!(get("subscription_data[metadata][user_id]").is_none());
    }

    #[test]
    fn subscription_changes_price_the_plan_and_say_what_comes_next() {
        let pro = Purchase::Plan {
            plan: Plan::Pro,
            interval: Interval::Monthly,
        };
        let agency = Purchase::Plan {
            plan: Plan::Agency,
            interval: Interval::Monthly,
        };
        let basic = Purchase::Plan {
            plan: Plan::Basic,
            interval: Interval::Monthly,
        };
        let f = subscription_change_form("u1", "si_1", &SubscriptionChange::UpgradeRestart(agency));
        let get = |f: &Form, k: &str| {
            f.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert_eq!(get(&f, "items[0][id]"), "si_1");
        assert_eq!(get(&f, "items[0][price_data][unit_amount]"), "9900");
        assert_eq!(
            get(&f, "items[0][price_data][product]"),
            "atelier_plan_agency"
        );
        assert_eq!(get(&f, "billing_cycle_anchor"), "now");
        assert_eq!(get(&f, "payment_behavior"), "error_if_incomplete");
        assert_eq!(get(&f, "proration_behavior"), "none");
        assert_eq!(get(&f, "metadata[plan]"), "agency");
        assert_eq!(get(&f, "metadata[next]"), "");
        let d = subscription_change_form(
            "u1",
            "si_1",
            &SubscriptionChange::DowngradeAtEnd {
                current: pro,
                to: basic,
            },
        );
        assert_eq!(get(&d, "items[0][price_data][unit_amount]"), "1900");
        assert_eq!(get(&d, "billing_cycle_anchor"), "", "the cycle stays");
        assert_eq!(get(&d, "metadata[plan]"), "pro", "this cycle is still Pro");
        assert_eq!(get(&d, "metadata[next]"), "basic");
        let c = subscription_change_form("u1", "si_1", &SubscriptionChange::CancelAtEnd(true, pro));
        assert_eq!(get(&c, "cancel_at_period_end"), "true");
        assert_eq!(get(&c, "items[0][id]"), "", "the price is left alone");
        assert_eq!(
            product_of(&pro),
            ("atelier_plan_pro".into(), "Atelier Pro".into())
        );
        let pi = off_session_payment_form(
            "cus_1",
            "pm_1",
            7500,
            "Automatic top-up",
            "u1",
            "auto_topup",
        );
        assert_eq!(get(&pi, "off_session"), "true");
        assert_eq!(get(&pi, "confirm"), "true");
        assert_eq!(get(&pi, "amount"), "7500");
        assert_eq!(card_label("visa", "4242"), "Visa •••• 4242");
        assert_eq!(card_label("amex", "0005"), "American Express •••• 0005");
    }
}
