//! Accounts and sessions: sign-up, sign-in (rate-limited), sign-out, the current user.
//! Sessions are random tokens in an HttpOnly, SameSite=Lax cookie; D1 stores only their SHA-256.

use serde::{Deserialize, Serialize};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{Env, Request, Response};

use atelier_core::org::{allows, Action, Role};

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
    /// The display name (the Account page); None until set.
    #[serde(default)]
    pub name: Option<String>,
    /// When the profile picture was uploaded (None: none).
    #[serde(default)]
    pub avatar_at: Option<f64>,
}

/// Who acts in a request: the member, the organization it acts in (the owner of record of what
/// it makes), that organization's owner of record (whose App and API ledgers pay) and the
/// member's role there. [`acting`] is the one place that decides it.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    pub org: String,
    pub org_name: String,
    /// The organization's owner of record: whose plan and balances the organization uses.
    pub payer: String,
    pub role: Role,
}

impl Actor {
    /// The member's own default organization.
    pub fn personal(&self) -> bool {
        self.org == personal_org(&self.user.id)
    }

    /// 403 with the docs' reason unless the member's role may do `action`.
    pub fn require(&self, action: Action) -> ApiResult<()> {
        if allows(self.role, action) {
            Ok(())
        } else {
            Err(ApiError::new(403, "forbidden", action.refusal()))
        }
    }

    /// `user_id`'s membership of `org`, or None (no longer a member): how a follow-up step
    /// that runs after the request (the Assistant's chains) acts for the member who started it.
    pub async fn member(env: &Env, user_id: &str, org: &str) -> ApiResult<Option<Actor>> {
        let row: Option<ActorRow> = env
            .d1(bind::DB)?
            .prepare(
                "SELECT u.id AS id, u.email AS email, u.created_at AS created_at, u.name AS name, u.avatar_at AS avatar_at, \
                 m.org_id AS org_id, m.role AS role, o.owner_id AS owner_id, o.name AS org_name \
                 FROM users u JOIN org_members m ON m.user_id = u.id AND m.org_id = ?2 \
                 JOIN organizations o ON o.id = m.org_id WHERE u.id = ?1",
            )
            .bind(&[user_id.into(), org.into()])?
            .first(None)
            .await?;
        Ok(row.and_then(ActorRow::actor))
    }
}

/// The personal organization's id of `user_id`.
pub fn personal_org(user_id: &str) -> String {
    format!("org_{user_id}")
}

#[derive(Deserialize)]
struct ActorRow {
    id: String,
    email: String,
    created_at: f64,
    name: Option<String>,
    avatar_at: Option<f64>,
    org_id: Option<String>,
    role: Option<String>,
    owner_id: Option<String>,
    org_name: Option<String>,
}

impl ActorRow {
    fn user(&self) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
            created_at: self.created_at,
            name: self.name.clone(),
            avatar_at: self.avatar_at,
        }
    }

    /// The membership, when the row has one.
    fn actor(self) -> Option<Actor> {
        let user = self.user();
        Some(Actor {
            org: self.org_id?,
            org_name: self.org_name?,
            payer: self.owner_id?,
            role: Role::parse(self.role.as_deref()?)?,
            user,
        })
    }
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

/// Starts a session for `user` and answers `status` with the user and the session cookie.
async fn start_session(req: &Request, env: &Env, user: &User, status: u16) -> ApiResult<Response> {
    let set = new_session(req, env, user).await?;
    let mut r = json(status, &json!({"user": user}))?;
    r.headers_mut().set("Set-Cookie", &set)?;
    Ok(r)
}

/// A new session for `user`, always a fresh token (no fixation): a session cookie the browser
/// brought is ended in the same batch. Returns the `Set-Cookie` value.
pub async fn new_session(req: &Request, env: &Env, user: &User) -> ApiResult<String> {
    let token = hex::encode(crypto::random_bytes::<32>());
    let now = now_ms();
    let expires = now + SESSION_DAYS * 24 * 3600 * 1000;
    let db = env.d1(bind::DB)?;
    let mut stmts = vec![];
    if let Some(old) = cookie(req, COOKIE) {
        stmts.push(
            db.prepare("DELETE FROM sessions WHERE token_hash = ?1")
                .bind(&[token_hash(&old).into()])?,
        );
    }
    stmts.push(
        db.prepare("INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)")
            .bind(&[token_hash(&token).into(), user.id.clone().into(), (now as f64).into(), (expires as f64).into()])?,
    );
    db.batch(stmts).await?;
    let secure = if is_https(req) { "; Secure" } else { "" };
    Ok(format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        SESSION_DAYS * 24 * 3600
    ))
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
        name: None,
        avatar_at: None,
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
    name: Option<String>,
    avatar_at: Option<f64>,
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
        .prepare("SELECT id, email, password_hash, created_at, name, avatar_at FROM users WHERE email = ?1")
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
                name: r.name,
                avatar_at: r.avatar_at,
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

/// `POST /api/auth/signout-all`: ends every session of the account (all browsers and
/// devices), this one included.
pub async fn signout_all(req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let user = require_user(&req, env).await?;
    env.d1(bind::DB)?
        .prepare("DELETE FROM sessions WHERE user_id = ?1")
        .bind(&[user.id.into()])?
        .run()
        .await?;
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
    let a = acting(&req, env).await?;
    // The organization's balance and plan: its owner of record's.
    let account =
        crate::credits::account(env, &a.payer, atelier_core::pricing::Surface::App).await?;
    let org = json!({"id": a.org, "name": a.org_name, "role": a.role, "personal": a.personal()});
    json(
        200,
        &json!({"user": a.user, "org": org, "limits": atelier_core::UploadLimits::DEFAULT, "credits": account.ledger.available(), "plan": account.app_plan()}),
    )
}

/// The signed-in user, or 401.
pub async fn require_user(req: &Request, env: &Env) -> ApiResult<User> {
    Ok(acting(req, env).await?.user)
}

/// The signed-in member and the organization this request acts in — the session's current
/// organization while the account is still a member of it, else its personal one — or 401.
/// Every route that reads or writes what an organization owns starts here.
pub async fn acting(req: &Request, env: &Env) -> ApiResult<Actor> {
    let token = cookie(req, COOKIE).ok_or_else(ApiError::unauthorized)?;
    if token.len() != 64 {
        return Err(ApiError::unauthorized());
    }
    let row: Option<ActorRow> = env
        .d1(bind::DB)?
        .prepare(
            "SELECT u.id AS id, u.email AS email, u.created_at AS created_at, u.name AS name, u.avatar_at AS avatar_at, \
             m.org_id AS org_id, m.role AS role, o.owner_id AS owner_id, o.name AS org_name \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             LEFT JOIN org_members m ON m.user_id = u.id AND m.org_id = COALESCE(s.org_id, 'org_' || u.id) \
             LEFT JOIN organizations o ON o.id = m.org_id \
             WHERE s.token_hash = ?1 AND s.expires_at > ?2",
        )
        .bind(&[
            token_hash(&token).into(),
            JsValue::from_f64(now_ms() as f64),
        ])?
        .first(None)
        .await?;
    let row = row.ok_or_else(ApiError::unauthorized)?;
    let user = row.user();
    if let Some(actor) = row.actor() {
        return Ok(actor);
    }
    // No longer a member of the session's organization (removed, left, or it was deleted):
    // back to the personal one (made if an old account lacks it), for this session too.
    let org = crate::store::orgs::personal(env, &user.id, &user.email).await?;
    env.d1(bind::DB)?
        .prepare("UPDATE sessions SET org_id = NULL WHERE token_hash = ?1")
        .bind(&[token_hash(&token).into()])?
        .run()
        .await?;
    Ok(Actor {
        org_name: user.email.clone(),
        payer: user.id.clone(),
        org,
        role: Role::Owner,
        user,
    })
}

/// Makes `org` (None: the personal one) the organization this browser session acts in.
pub async fn set_session_org(req: &Request, env: &Env, org: Option<&str>) -> ApiResult<()> {
    let token = cookie(req, COOKIE).ok_or_else(ApiError::unauthorized)?;
    env.d1(bind::DB)?
        .prepare("UPDATE sessions SET org_id = ?2 WHERE token_hash = ?1")
        .bind(&[
            token_hash(&token).into(),
            org.map(JsValue::from).unwrap_or(JsValue::NULL),
        ])?
        .run()
        .await?;
    Ok(())
}
