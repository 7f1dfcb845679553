//! Calls to Stripe's API (outbound; `stripe` is the inbound webhook, core's `stripe` the pure
//! parts): Checkout Sessions (purchases, and setup mode to save a card), the Billing Portal,
//! customers, changes to a live subscription, off-session PaymentIntents (automatic top-ups, the
//! prorated part of an annual upgrade) and reading the card a SetupIntent or PaymentIntent saved.
//! Form-encoded, the secret key as a Bearer token, `STRIPE_API_BASE` (a loopback Stripe-shaped
//! server in tests). Every charging call carries an `Idempotency-Key`, so a retried request is
//! never charged twice. Imports only config and http, so credits may use it.

use atelier_core::stripe::{self as core_stripe, Purchase, SubscriptionChange};
use serde_json::Value;
use wasm_bindgen::JsValue;
use worker::{Env, Method};

use crate::bind;
use crate::config::Config;
use crate::http::{now_ms, ApiError, ApiResult};

pub fn provider_error(what: &str) -> ApiError {
    ApiError::new(
        502,
        "payment_provider_error",
        format!(
            "The payment provider could not {what}; nothing was charged. Try again in a moment."
        ),
    )
}

/// What Stripe answered when it refused: a declined card is the user's to fix (402), anything
/// else is ours (502).
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl Refusal {
    pub fn declined(&self) -> bool {
        self.status == 402 || self.code == "card_declined"
    }

    pub fn into_api(self, what: &str) -> ApiError {
        if self.declined() {
            ApiError::new(
                402,
                "payment_declined",
                format!(
                    "Stripe declined the payment ({}): nothing changed. Update your payment method in Manage my billing settings and try again.",
                    self.message.trim_end_matches('.')
                ),
            )
        } else {
            provider_error(what)
        }
    }
}

/// One call; `Ok(Err(refusal))` when Stripe answered with an error.
async fn request(
    env: &Env,
    method: Method,
    path: &str,
    form: &[(String, String)],
    idempotency: Option<&str>,
) -> ApiResult<Result<Value, Refusal>> {
    let c = Config::from_env(env)?.stripe;
    let key = c
        .secret_key
        .ok_or_else(|| provider_error("be reached (no key)"))?;
    let headers = worker::Headers::new();
    headers.set("Authorization", &format!("Bearer {key}"))?;
    if let Some(k) = idempotency {
        headers.set("Idempotency-Key", k)?;
    }
    let mut init = worker::RequestInit::new();
    let url = if method == Method::Get {
        let q = core_stripe::form_encode(form);
        if q.is_empty() {
            format!("{}{path}", c.api_base)
        } else {
            format!("{}{path}?{q}", c.api_base)
        }
    } else {
        headers.set("Content-Type", "application/x-www-form-urlencoded")?;
        init.with_body(Some(JsValue::from_str(&core_stripe::form_encode(form))));
        format!("{}{path}", c.api_base)
    };
    init.with_method(method).with_headers(headers);
    let req = worker::Request::new_with_init(&url, &init)?;
    let mut resp = worker::Fetch::Request(req)
        .send()
        .await
        .map_err(|_| provider_error("be reached"))?;
    let v: Value = resp.json().await.map_err(|_| provider_error("answer"))?;
    let status = resp.status_code();
    if !(200..300).contains(&status) {
        worker::console_error!("stripe {path}: {status} {v}");
        let e = &v["error"];
        return Ok(Err(Refusal {
            status,
            code: e["code"].as_str().unwrap_or_default().to_string(),
            message: e["message"]
                .as_str()
                .unwrap_or("no reason given")
                .to_string(),
        }));
    }
    Ok(Ok(v))
}

/// A call whose refusal is an error for the user (`what` names what could not be done).
async fn call(
    env: &Env,
    method: Method,
    path: &str,
    form: &[(String, String)],
    idempotency: Option<&str>,
    what: &str,
) -> ApiResult<Value> {
    request(env, method, path, form, idempotency)
        .await?
        .map_err(|r| r.into_api(what))
}

pub async fn customer_of(env: &Env, user_id: &str) -> ApiResult<Option<String>> {
    Ok(env
        .d1(bind::DB)?
        .prepare("SELECT customer_id FROM stripe_customers WHERE user_id = ?1")
        .bind(&[user_id.into()])?
        .first(Some("customer_id"))
        .await?)
}

/// Remembers an account's Stripe customer.
pub async fn save_customer(env: &Env, user_id: &str, customer: &str) -> ApiResult<()> {
    env.d1(bind::DB)?
        .prepare(
            "INSERT INTO stripe_customers (user_id, customer_id, created_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT(user_id) DO UPDATE SET customer_id = excluded.customer_id",
        )
        .bind(&[user_id.into(), customer.into(), (now_ms() as f64).into()])?
        .run()
        .await?;
    Ok(())
}

/// The account's Stripe customer, made on first use.
async fn ensure_customer(env: &Env, user_id: &str, email: &str) -> ApiResult<String> {
    if let Some(c) = customer_of(env, user_id).await? {
        return Ok(c);
    }
    let v = call(
        env,
        Method::Post,
        "/v1/customers",
        &core_stripe::customer_form(user_id, email),
        Some(&format!("customer-{user_id}")),
        "create your billing account",
    )
    .await?;
    let id = v["id"]
        .as_str()
        .ok_or_else(|| provider_error("create your billing account"))?
        .to_string();
    save_customer(env, user_id, &id).await?;
    Ok(id)
}

/// A Checkout Session for `purchase` at `cents`; returns the URL to send the user to.
pub async fn checkout(
    env: &Env,
    user_id: &str,
    email: &str,
    purchase: &Purchase,
    cents: u64,
    back: &str,
) -> ApiResult<String> {
    let edge = Config::from_env(env)?.edge_url;
    let customer = customer_of(env, user_id).await?;
    let form = core_stripe::checkout_form(
        user_id,
        customer.as_deref(),
        email,
        purchase,
        cents,
        &format!("{edge}{back}?checkout=done"),
        &format!("{edge}{back}?checkout=canceled"),
    );
    let v = call(
        env,
        Method::Post,
        "/v1/checkout/sessions",
        &form,
        None,
        "start the payment",
    )
    .await?;
    v["url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| provider_error("open a checkout page"))
}

/// A Checkout Session in setup mode: the user saves a card with Stripe; its webhook makes it the
/// default for off-session charges.
pub async fn setup_checkout(
    env: &Env,
    user_id: &str,
    email: &str,
    back: &str,
) -> ApiResult<String> {
    let edge = Config::from_env(env)?.edge_url;
    let customer = ensure_customer(env, user_id, email).await?;
    let v = call(
        env,
        Method::Post,
        "/v1/checkout/sessions",
        &core_stripe::setup_checkout_form(
            user_id,
            &customer,
            &format!("{edge}{back}?card=saved"),
            &format!("{edge}{back}?card=canceled"),
        ),
        None,
        "open the page to save a card",
    )
    .await?;
    v["url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| provider_error("open the page to save a card"))
}

/// The Billing Portal for the account's Stripe customer.
pub async fn portal(env: &Env, user_id: &str, back: &str) -> ApiResult<String> {
    let Some(customer) = customer_of(env, user_id).await? else {
        return Err(ApiError::new(
            409,
            "no_billing_account",
            "There is nothing to manage yet: your billing settings appear after your first purchase.",
        ));
    };
    let edge = Config::from_env(env)?.edge_url;
    let v = call(
        env,
        Method::Post,
        "/v1/billing_portal/sessions",
        &core_stripe::portal_form(&customer, &format!("{edge}{back}")),
        None,
        "open the billing portal",
    )
    .await?;
    v["url"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| provider_error("open the billing portal"))
}

/// A saved card: Stripe's id and how it is shown.
pub struct Card {
    pub id: String,
    pub label: String,
}

fn card_of(pm: &Value) -> Option<Card> {
    let id = pm["id"].as_str()?.to_string();
    let card = &pm["card"];
    Some(Card {
        id,
        label: core_stripe::card_label(
            card["brand"].as_str().unwrap_or("card"),
            card["last4"].as_str().unwrap_or("????"),
        ),
    })
}

/// The card a SetupIntent (`seti_…`) or PaymentIntent (`pi_…`) saved, made the customer's default.
pub async fn saved_card(env: &Env, customer: &str, intent: &str) -> ApiResult<Option<Card>> {
    let path = if intent.starts_with("seti_") {
        format!("/v1/setup_intents/{intent}")
    } else {
        format!("/v1/payment_intents/{intent}")
    };
    let v = call(
        env,
        Method::Get,
        &path,
        &[("expand[]".into(), "payment_method".into())],
        None,
        "read the saved card",
    )
    .await?;
    let Some(card) = card_of(&v["payment_method"]) else {
        return Ok(None);
    };
    call(
        env,
        Method::Post,
        &format!("/v1/customers/{customer}"),
        &[(
            "invoice_settings[default_payment_method]".into(),
            card.id.clone(),
        )],
        None,
        "save the card",
    )
    .await?;
    Ok(Some(card))
}

/// Removes a saved card at Stripe.
pub async fn detach(env: &Env, payment_method: &str) -> ApiResult<()> {
    call(
        env,
        Method::Post,
        &format!("/v1/payment_methods/{payment_method}/detach"),
        &[],
        None,
        "remove the card",
    )
    .await
    .map(|_| ())
}

/// Charges the saved card now, with the user away (automatic top-ups, the prorated part of an
/// annual upgrade). `key` makes the charge idempotent. `Ok(Err(refusal))`: declined, or Stripe
/// refused; nothing was charged.
pub async fn charge_off_session(
    env: &Env,
    user_id: &str,
    payment_method: &str,
    cents: u64,
    description: &str,
    kind: &str,
    key: &str,
) -> ApiResult<Result<String, Refusal>> {
    let Some(customer) = customer_of(env, user_id).await? else {
        return Ok(Err(Refusal {
            status: 409,
            code: "no_customer".into(),
            message: "no Stripe customer for this account".into(),
        }));
    };
    let r = request(
        env,
        Method::Post,
        "/v1/payment_intents",
        &core_stripe::off_session_payment_form(
            &customer,
            payment_method,
            cents,
            description,
            user_id,
            kind,
        ),
        Some(key),
    )
    .await?;
    Ok(r.and_then(|v| match v["status"].as_str() {
        Some("succeeded") => Ok(v["id"].as_str().unwrap_or_default().to_string()),
        other => Err(Refusal {
            status: 402,
            code: "not_succeeded".into(),
            message: format!(
                "the payment is {} (it needs you to confirm it)",
                other.unwrap_or("unknown")
            ),
        }),
    }))
}

/// Changes a live subscription (`sub_…`): its first item's price, the cycle, cancellation at the
/// period's end and the metadata that says what comes next. An upgrade that restarts the cycle
/// is invoiced at once and refused if the card is declined (nothing changes then).
pub async fn change_subscription(
    env: &Env,
    user_id: &str,
    subscription: &str,
    change: &SubscriptionChange,
    key: &str,
) -> ApiResult<()> {
    let sub = call(
        env,
        Method::Get,
        &format!("/v1/subscriptions/{subscription}"),
        &[],
        None,
        "read your subscription",
    )
    .await?;
    let item = sub["items"]["data"][0]["id"]
        .as_str()
        .ok_or_else(|| provider_error("read your subscription"))?
        .to_string();
    let target = match change {
        SubscriptionChange::UpgradeRestart(p)
        | SubscriptionChange::UpgradeKeepCycle(p)
        | SubscriptionChange::Keep(p) => Some(p),
        SubscriptionChange::DowngradeAtEnd { to, .. } => Some(to),
        SubscriptionChange::CancelAtEnd(..) => None,
    };
    if let Some(p) = target {
        // The plan's product, created once under a fixed id.
        match request(
            env,
            Method::Post,
            "/v1/products",
            &core_stripe::product_form(p),
            None,
        )
        .await?
        {
            Ok(_) => {}
            Err(r) if r.code == "resource_already_exists" => {}
            Err(r) => return Err(r.into_api("change your subscription")),
        }
    }
    call(
        env,
        Method::Post,
        &format!("/v1/subscriptions/{subscription}"),
        &core_stripe::subscription_change_form(user_id, &item, change),
        Some(key),
        "change your subscription",
    )
    .await
    .map(|_| ())
}

/// The card a subscription is paid with (its own default, else its customer's).
pub async fn default_card(env: &Env, subscription: &str) -> ApiResult<String> {
    let sub = call(
        env,
        Method::Get,
        &format!("/v1/subscriptions/{subscription}"),
        &[("expand[]".into(), "customer".into())],
        None,
        "read your subscription",
    )
    .await?;
    let id = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .or_else(|| v["id"].as_str().map(str::to_string))
    };
    id(&sub["default_payment_method"])
        .or_else(|| id(&sub["customer"]["invoice_settings"]["default_payment_method"]))
        .ok_or_else(|| {
            ApiError::new(
                409,
                "payment_method_required",
                "Your subscription has no saved card to charge the upgrade to: add one in Manage my billing settings.",
            )
        })
}
