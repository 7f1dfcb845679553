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
}
