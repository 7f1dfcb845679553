//! Accounts and sessions: sign-up, sign-in (rate-limited), sign-out, the current user.
//! Sessions are random tokens in an HttpOnly, SameSite=Lax cookie; D1 stores only their SHA-256.

use serde::{Deserialize, Serialize};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{Env, Request, Response};

use crate::bind;
use crate::crypto;
use crate::http::{
    self, cookie, header, is_https, json, json_body, now_ms, same_origin, ApiError, ApiResult,
};

pub const COOKIE: &str = "atl_session";
const SESSION_DAYS: u64 = 30;
/// Failed sign-ins allowed per email, and per client address, in the window.
const MAX_FAILS_PER_EMAIL: u32 = 5;
const MAX_FAILS_PER_IP: u32 = 20;
/// Default sign-ups allowed per client address in the window (`SIGNUP_LIMIT_PER_IP` overrides).
const MAX_SIGNUPS_PER_IP: u32 = 30;
const WINDOW_MS: u64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub created_at: f64,
}

#[derive(Deserialize)]
struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn client_ip(req: &Request) -> String {
    header(req, "CF-Connecting-IP").unwrap_or_else(|| "unknown".into())
}

fn token_hash(token: &str) -> String {
    atelier_core::sign::sha256_hex(token.as_bytes())
}

async fn count_attempts(env: &Env, key: &str) -> ApiResult<u32> {
    let db = env.d1(bind::DB)?;
    let since = (now_ms() - WINDOW_MS) as f64;
    let n: Option<f64> = db
        .prepare("SELECT COUNT(*) AS n FROM auth_attempts WHERE key = ?1 AND at > ?2")
        .bind(&[key.into(), since.into()])?
        .first(Some("n"))
        .await?;
    Ok(n.unwrap_or(0.0) as u32)
}

async fn record_attempt(env: &Env, keys: &[String]) -> ApiResult<()> {
    let db = env.d1(bind::DB)?;
    let now = now_ms() as f64;
    let mut stmts = vec![db
        .prepare("DELETE FROM auth_attempts WHERE at < ?1")
        .bind(&[((now_ms() - WINDOW_MS) as f64).into()])?];
    for k in keys {
        stmts.push(
            db.prepare("INSERT INTO auth_attempts (key, at) VALUES (?1, ?2)")
                .bind(&[k.into(), now.into()])?,
        );
    }
    db.batch(stmts).await?;
    Ok(())
}

fn too_many(what: &str) -> ApiError {
    ApiError::new(
        429,
        "too_many_attempts",
        format!("Too many {what}. Wait 15 minutes and try again."),
    )
    .with_header("Retry-After", "900".into())
}

async fn start_session(req: &Request, env: &Env, user: &User, status: u16) -> ApiResult<Response> {
    let token = hex::encode(crypto::random_bytes::<32>());
    let now = now_ms();
    let expires = now + SESSION_DAYS * 24 * 3600 * 1000;
    env.d1(bind::DB)?
        .prepare("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)")
        .bind(&[token_hash(&token).into(), user.id.clone().into(), (now as f64).into(), (expires as f64).into()])?
        .run()
        .await?;
    let secure = if is_https(req) { "; Secure" } else { "" };
    let mut r = json(status, &json!({"user": user}))?;
    r.headers_mut().set(
        "Set-Cookie",
        &format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SESSION_DAYS * 24 * 3600
        ),
    )?;
    Ok(r)
}

pub async fn signup(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let c: Credentials = json_body(&mut req).await?;
    let email = c.email.trim().to_lowercase();
    let errors = atelier_core::account::validate_signup(&email, &c.password);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let ip_key = format!("signup-ip:{}", client_ip(&req));
    let limit = env
        .var("SIGNUP_LIMIT_PER_IP")
        .ok()
        .and_then(|v| v.to_string().parse::<u32>().ok())
        .unwrap_or(MAX_SIGNUPS_PER_IP);
    if count_attempts(env, &ip_key).await? >= limit {
        return Err(too_many("sign-ups from this network"));
    }
    record_attempt(env, &[ip_key]).await?;
    let db = env.d1(bind::DB)?;
    let exists: Option<String> = db
        .prepare("SELECT id FROM users WHERE email = ?1")
        .bind(&[email.clone().into()])?
        .first(Some("id"))
        .await?;
    if exists.is_some() {
        return Err(ApiError::new(
            409,
            "email_taken",
            "An account with this email already exists. Sign in instead.",
        ));
    }
    let hash = crypto::hash_password(&c.password).map_err(|e| {
        worker::console_error!("hash failed: {e}");
        ApiError::new(
            500,
            "internal_error",
            "Could not create the account. Try again.",
        )
    })?;
    let user = User {
        id: crypto::new_id(),
        email,
        created_at: now_ms() as f64,
    };
    let inserted = db
        .prepare("INSERT INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, ?3, ?4)")
        .bind(&[
            user.id.clone().into(),
            user.email.clone().into(),
            hash.into(),
            user.created_at.into(),
        ])?
        .run()
        .await;
    if inserted.is_err() {
        // A concurrent sign-up with the same email won the UNIQUE constraint.
        return Err(ApiError::new(
            409,
            "email_taken",
            "An account with this email already exists. Sign in instead.",
        ));
    }
    crate::store::orgs::personal(env, &user.id, &user.email).await?;
    start_session(&req, env, &user, 201).await
}

#[derive(Deserialize)]
struct UserRow {
    id: String,
    email: String,
    password_hash: String,
    created_at: f64,
}

pub async fn signin(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let c: Credentials = json_body(&mut req).await?;
    let email = c.email.trim().to_lowercase();
    let email_key = format!("signin-email:{email}");
    let ip_key = format!("signin-ip:{}", client_ip(&req));
    if count_attempts(env, &email_key).await? >= MAX_FAILS_PER_EMAIL {
        return Err(too_many("failed sign-ins for this account"));
    }
    if count_attempts(env, &ip_key).await? >= MAX_FAILS_PER_IP {
        return Err(too_many("failed sign-ins from this network"));
    }
    let row: Option<UserRow> = env
        .d1(bind::DB)?
        .prepare("SELECT id, email, password_hash, created_at FROM users WHERE email = ?1")
        .bind(&[email.into()])?
        .first(None)
        .await?;
    let ok = match &row {
        Some(r) => crypto::verify_password(&c.password, &r.password_hash),
        None => {
            let _ = crypto::verify_password(&c.password, crypto::DUMMY_HASH);
            false
        }
    };
    match row {
        Some(r) if ok => {
            let user = User {
                id: r.id,
                email: r.email,
                created_at: r.created_at,
            };
            env.d1(bind::DB)?
                .prepare("DELETE FROM auth_attempts WHERE key = ?1")
                .bind(&[email_key.into()])?
                .run()
                .await?;
            start_session(&req, env, &user, 200).await
        }
        _ => {
            record_attempt(env, &[email_key, ip_key]).await?;
            Err(ApiError::new(
                401,
                "invalid_credentials",
                "The email or password is wrong.",
            ))
        }
    }
}

pub async fn signout(req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = require_user(&req, env).await?;
    if let Some(token) = cookie(&req, COOKIE) {
        env.d1(bind::DB)?
            .prepare("DELETE FROM sessions WHERE token_hash = ?1 AND user_id = ?2")
            .bind(&[token_hash(&token).into(), user.id.into()])?
            .run()
            .await?;
    }
    let mut r = Response::empty()?.with_status(204);
    http::set_headers(
        &mut r,
        &[(
            "Set-Cookie",
            &format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
        )],
    )?;
    Ok(r)
}

pub async fn me(req: Request, env: &Env) -> ApiResult<Response> {
    let user = require_user(&req, env).await?;
    let account =
        crate::credits::account(env, &user.id, atelier_core::pricing::Surface::App).await?;
    json(
        200,
        &json!({"user": user, "limits": atelier_core::UploadLimits::DEFAULT, "credits": account.ledger.available(), "plan": account.app_plan()}),
    )
}

/// The signed-in user, or 401.
pub async fn require_user(req: &Request, env: &Env) -> ApiResult<User> {
    let token = cookie(req, COOKIE).ok_or_else(ApiError::unauthorized)?;
    if token.len() != 64 {
        return Err(ApiError::unauthorized());
    }
    let user: Option<User> = env
        .d1(bind::DB)?
        .prepare(
            "SELECT u.id AS id, u.email AS email, u.created_at AS created_at FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?1 AND s.expires_at > ?2",
        )
        .bind(&[
            token_hash(&token).into(),
            JsValue::from_f64(now_ms() as f64),
        ])?
        .first(None)
        .await?;
    user.ok_or_else(ApiError::unauthorized)
}
