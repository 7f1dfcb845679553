//! Sign-in with OpenID Connect providers: the authorization code flow with PKCE (S256), `state`
//! (bound to the browser by a cookie, single use, 10 minutes) and `nonce` checked; the ID token's
//! RS256 signature checked against the provider's JWKS with WebCrypto, and its `iss`, `aud`,
//! `exp` and `nonce`. An identity (provider, subject) maps to one account; a first sign-in links
//! the account with the same verified e-mail, or makes one (with its personal organization).
//!
//! Providers come from the environment: `OIDC_PROVIDERS` lists ids (e.g. `google,github,local`);
//! each has `OIDC_<ID>_ISSUER`, `OIDC_<ID>_CLIENT_ID`, `OIDC_<ID>_CLIENT_SECRET` (a secret) and
//! an optional `OIDC_<ID>_NAME`. One without a client id and secret is not offered.
//!
//! `github` is GitHub's OAuth app flow (GitHub is no OpenID provider): the same code flow with
//! state and PKCE, then the user's id from `GET /user` and a verified e-mail from
//! `GET /user/emails` (`OIDC_GITHUB_ISSUER` defaults to https://github.com, `OIDC_GITHUB_API` to
//! https://api.github.com).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{Env, Fetch, Headers, Method, Request, RequestInit, Response};

use crate::auth::{self, User};
use crate::bind;
use crate::config::setting as var;
use crate::crypto;
use crate::http::{cookie, is_https, json, now_ms, ApiError, ApiResult};

const FLOW_COOKIE: &str = "atl_oidc";
const FLOW_MS: u64 = 10 * 60 * 1000;
/// Clock skew allowed on `exp` / `iat`.
const SKEW_S: f64 = 120.0;

#[derive(Debug, Clone)]
struct Provider {
    /// GitHub's OAuth flow instead of OpenID Connect, with its REST API's base.
    github_api: Option<String>,
    id: String,
    name: String,
    issuer: String,
    client_id: String,
    client_secret: String,
}

fn providers(env: &Env) -> Vec<Provider> {
    let Some(list) = var(env, "OIDC_PROVIDERS") else {
        return vec![];
    };
    list.split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()))
        .filter_map(|id| {
            let up = id.to_ascii_uppercase();
            let issuer = var(env, &format!("OIDC_{up}_ISSUER")).or_else(|| match id {
                "google" => Some("https://accounts.google.com".to_string()),
                "github" => Some("https://github.com".to_string()),
                _ => None,
            })?;
            Some(Provider {
                github_api: (id == "github").then(|| {
                    var(env, "OIDC_GITHUB_API")
                        .unwrap_or_else(|| "https://api.github.com".into())
                        .trim_end_matches('/')
                        .to_string()
                }),
                id: id.to_string(),
                name: var(env, &format!("OIDC_{up}_NAME")).unwrap_or_else(|| match id {
                    "google" => "Google".into(),
                    "github" => "GitHub".into(),
                    _ => id.to_string(),
                }),
                issuer: issuer.trim_end_matches('/').to_string(),
                client_id: var(env, &format!("OIDC_{up}_CLIENT_ID"))?,
                client_secret: var(env, &format!("OIDC_{up}_CLIENT_SECRET"))?,
            })
        })
        .collect()
}

fn provider(env: &Env, id: &str) -> ApiResult<Provider> {
    providers(env)
        .into_iter()
        .find(|p| p.id == id)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "unknown_provider",
                format!("Sign-in with '{id}' is not configured here."),
            )
        })
}

#[derive(Serialize)]
struct ProviderView {
    id: String,
    name: String,
    url: String,
}

/// `GET /api/auth/providers`: what the sign-in page offers besides e-mail and password.
pub async fn list(env: &Env) -> ApiResult<Response> {
    let list: Vec<ProviderView> = providers(env)
        .into_iter()
        .map(|p| ProviderView {
            url: format!("/api/auth/oidc/{}/start", p.id),
            id: p.id,
            name: p.name,
        })
        .collect();
    json(200, &json!({ "providers": list }))
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
}

async fn fetch_json(req: Request) -> Result<Value, String> {
    let mut r = Fetch::Request(req)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = r.status_code();
    let text = r.text().await.map_err(|e| e.to_string())?;
    if !(200..300).contains(&status) {
        return Err(format!(
            "answered {status}: {}",
            text.chars().take(200).collect::<String>()
        ));
    }
    serde_json::from_str(&text).map_err(|e| e.to_string())
}

async fn get_json(url: &str) -> Result<Value, String> {
    let mut init = RequestInit::new();
    let h = Headers::new();
    let _ = h.set("Accept", "application/json");
    init.with_method(Method::Get).with_headers(h);
    fetch_json(Request::new_with_init(url, &init).map_err(|e| e.to_string())?).await
}

async fn discover(p: &Provider) -> ApiResult<Discovery> {
    if p.github_api.is_some() {
        return Ok(Discovery {
            issuer: p.issuer.clone(),
            authorization_endpoint: format!("{}/login/oauth/authorize", p.issuer),
            token_endpoint: format!("{}/login/oauth/access_token", p.issuer),
            jwks_uri: String::new(),
            userinfo_endpoint: None,
        });
    }
    let url = format!("{}/.well-known/openid-configuration", p.issuer);
    let v = get_json(&url).await.map_err(|e| unavailable(p, &e))?;
    serde_json::from_value(v).map_err(|e| unavailable(p, &e.to_string()))
}

fn unavailable(p: &Provider, why: &str) -> ApiError {
    worker::console_error!("oidc {}: {why}", p.id);
    ApiError::new(
        502,
        "provider_unavailable",
        format!(
            "{} did not answer as expected. Try again, or sign in with e-mail.",
            p.name
        ),
    )
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .ok()
}

fn redirect_uri(req: &Request, p: &Provider) -> ApiResult<String> {
    let url = req.url()?;
    Ok(format!(
        "{}/api/auth/oidc/{}/callback",
        url.origin().ascii_serialization(),
        p.id
    ))
}

/// A same-origin path to come back to (never another site).
fn safe_return(path: Option<&str>) -> String {
    match path {
        Some(p)
            if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && p.len() < 500 =>
        {
            p.to_string()
        }
        _ => "/".into(),
    }
}

fn redirect(to: &str, cookies: &[String]) -> ApiResult<Response> {
    let mut r = Response::empty()?.with_status(302);
    r.headers_mut().set("Location", to)?;
    r.headers_mut().set("Cache-Control", "no-store")?;
    for c in cookies {
        r.headers_mut().append("Set-Cookie", c)?;
    }
    Ok(r)
}

/// Back to the sign-in page with a message it shows.
fn fail(to: &str, message: &str) -> ApiResult<Response> {
    let q: String = url_encode(message);
    let sep = if to.contains('?') { '&' } else { '?' };
    redirect(&format!("{to}{sep}auth_error={q}"), &[clear_flow()])
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn clear_flow() -> String {
    format!("{FLOW_COOKIE}=; Path=/api/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// `GET /api/auth/oidc/{id}/start?return_to=/path`: to the provider's authorization page.
pub async fn start(req: Request, env: &Env, id: &str) -> ApiResult<Response> {
    let p = provider(env, id)?;
    let d = discover(&p).await?;
    let url = req.url()?;
    let return_to = safe_return(
        url.query_pairs()
            .find(|(k, _)| k == "return_to")
            .map(|(_, v)| v.into_owned())
            .as_deref(),
    );
    let state = b64url(&crypto::random_bytes::<32>());
    let nonce = b64url(&crypto::random_bytes::<32>());
    let verifier = b64url(&crypto::random_bytes::<32>());
    let challenge = b64url(&<sha2::Sha256 as sha2::Digest>::digest(verifier.as_bytes()));
    let db = env.d1(bind::DB)?;
    let now = now_ms() as f64;
    db.batch(vec![
        db.prepare("DELETE FROM oidc_flows WHERE created_at < ?1")
            .bind(&[(now - FLOW_MS as f64).into()])?,
        db.prepare(
            "INSERT INTO oidc_flows (state_hash, provider, nonce, verifier, return_to, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&[
            atelier_core::sign::sha256_hex(state.as_bytes()).into(),
            p.id.clone().into(),
            nonce.clone().into(),
            verifier.into(),
            return_to.into(),
            now.into(),
        ])?,
    ])
    .await?;
    let mut auth = worker::Url::parse(&d.authorization_endpoint)
        .map_err(|e| unavailable(&p, &e.to_string()))?;
    auth.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &p.client_id)
        .append_pair("redirect_uri", &redirect_uri(&req, &p)?)
        .append_pair(
            "scope",
            if p.github_api.is_some() {
                "read:user user:email"
            } else {
                "openid email profile"
            },
        )
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let secure = if is_https(&req) { "; Secure" } else { "" };
    redirect(
        auth.as_str(),
        &[format!(
            "{FLOW_COOKIE}={state}; Path=/api/auth/oidc; HttpOnly; SameSite=Lax; Max-Age=600{secure}"
        )],
    )
}

#[derive(Deserialize)]
struct Flow {
    provider: String,
    nonce: String,
    verifier: String,
    return_to: String,
    created_at: f64,
}

/// `GET /api/auth/oidc/{id}/callback?code=&state=`: checks the flow, exchanges the code, checks
/// the ID token, signs in (linking or making the account) and goes back where sign-in started.
pub async fn callback(req: Request, env: &Env, id: &str) -> ApiResult<Response> {
    let p = provider(env, id)?;
    let url = req.url()?;
    let q = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let Some(state) = q("state") else {
        return fail("/", "The sign-in answer had no state; start again.");
    };
    // The state must be this browser's (login CSRF) and used once.
    if cookie(&req, FLOW_COOKIE).as_deref() != Some(state.as_str()) {
        return fail(
            "/",
            "This sign-in was started in another browser or has expired; start again.",
        );
    }
    let db = env.d1(bind::DB)?;
    let hash = atelier_core::sign::sha256_hex(state.as_bytes());
    let flow: Option<Flow> = db
        .prepare("DELETE FROM oidc_flows WHERE state_hash = ?1 RETURNING provider, nonce, verifier, return_to, created_at")
        .bind(&[hash.into()])?
        .first(None)
        .await?;
    let Some(flow) = flow else {
        return fail("/", "This sign-in link was already used; start again.");
    };
    let back = flow.return_to.clone();
    if flow.provider != p.id || now_ms() as f64 - flow.created_at > FLOW_MS as f64 {
        return fail(&back, "This sign-in has expired; start again.");
    }
    if let Some(e) = q("error") {
        let why = q("error_description").unwrap_or(e);
        return fail(&back, &format!("{} refused the sign-in: {why}", p.name));
    }
    let Some(code) = q("code") else {
        return fail(&back, "The sign-in answer had no code; start again.");
    };
    let claims = match exchange(&req, &p, &code, &flow).await {
        Ok(c) => c,
        Err(why) => {
            worker::console_error!("oidc {}: {why}", p.id);
            return fail(&back, &format!("Signing in with {} failed: {why}", p.name));
        }
    };
    let user = match account_for(env, &p, &claims).await {
        Ok(u) => u,
        Err(e) => return fail(&back, &e.message),
    };
    let session = auth::new_session(&req, env, &user).await?;
    redirect(&back, &[session, clear_flow()])
}

/// The ID token's claims we use.
#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    aud: Value,
    exp: f64,
    #[serde(default)]
    iat: Option<f64>,
    sub: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Value>,
}

async fn exchange(req: &Request, p: &Provider, code: &str, flow: &Flow) -> Result<Claims, String> {
    let d = discover(p).await.map_err(|e| e.message)?;
    let form = atelier_core::stripe::form_encode(&[
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".to_string(), code.to_string()),
        (
            "redirect_uri".to_string(),
            redirect_uri(req, p).map_err(|e| e.message)?,
        ),
        ("client_id".to_string(), p.client_id.clone()),
        ("client_secret".to_string(), p.client_secret.clone()),
        ("code_verifier".to_string(), flow.verifier.clone()),
    ]);
    let mut init = RequestInit::new();
    let h = Headers::new();
    let _ = h.set("Content-Type", "application/x-www-form-urlencoded");
    let _ = h.set("Accept", "application/json");
    init.with_method(Method::Post)
        .with_headers(h)
        .with_body(Some(JsValue::from_str(&form)));
    let tok =
        fetch_json(Request::new_with_init(&d.token_endpoint, &init).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| format!("the token endpoint {e}"))?;
    if let Some(api) = &p.github_api {
        let at = tok["access_token"]
            .as_str()
            .ok_or("GitHub sent no access token")?;
        return github_claims(api, at).await;
    }
    let id_token = tok["id_token"]
        .as_str()
        .ok_or("the provider sent no ID token")?;
    let claims = verify_id_token(id_token, &d.jwks_uri).await?;
    if claims.iss.trim_end_matches('/') != d.issuer.trim_end_matches('/')
        || claims.iss.trim_end_matches('/') != p.issuer
    {
        return Err("the ID token comes from another issuer".into());
    }
    let aud_ok = match &claims.aud {
        Value::String(a) => *a == p.client_id,
        Value::Array(v) => v.iter().any(|a| a.as_str() == Some(&p.client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err("the ID token is for another client".into());
    }
    let now = now_ms() as f64 / 1000.0;
    if claims.exp + SKEW_S < now || claims.iat.is_some_and(|t| t - SKEW_S > now) {
        return Err("the ID token has expired".into());
    }
    if claims.nonce.as_deref() != Some(flow.nonce.as_str()) {
        return Err("the ID token's nonce does not match this sign-in".into());
    }
    let mut claims = claims;
    // A provider that keeps scope claims out of the ID token serves them at userinfo.
    if claims.email.is_none() {
        if let (Some(ui), Some(at)) = (&d.userinfo_endpoint, tok["access_token"].as_str()) {
            let mut init = RequestInit::new();
            let h = Headers::new();
            let _ = h.set("Authorization", &format!("Bearer {at}"));
            let _ = h.set("Accept", "application/json");
            init.with_method(Method::Get).with_headers(h);
            let info = fetch_json(Request::new_with_init(ui, &init).map_err(|e| e.to_string())?)
                .await
                .map_err(|e| format!("the userinfo endpoint {e}"))?;
            if info["sub"].as_str() != Some(claims.sub.as_str()) {
                return Err("userinfo describes another subject".into());
            }
            claims.email = info["email"].as_str().map(str::to_string);
            claims.email_verified = Some(info["email_verified"].clone());
        }
    }
    Ok(claims)
}

async fn github_get(url: &str, token: &str) -> Result<Value, String> {
    let mut init = RequestInit::new();
    let h = Headers::new();
    let _ = h.set("Authorization", &format!("Bearer {token}"));
    let _ = h.set("Accept", "application/vnd.github+json");
    let _ = h.set("User-Agent", "Atelier");
    init.with_method(Method::Get).with_headers(h);
    fetch_json(Request::new_with_init(url, &init).map_err(|e| e.to_string())?).await
}

/// GitHub's user id and its primary verified e-mail (else any verified one), as claims.
async fn github_claims(api: &str, token: &str) -> Result<Claims, String> {
    let user = github_get(&format!("{api}/user"), token)
        .await
        .map_err(|e| format!("GitHub's /user {e}"))?;
    let id = user["id"]
        .as_u64()
        .ok_or("GitHub's /user has no id")?
        .to_string();
    let emails = github_get(&format!("{api}/user/emails"), token)
        .await
        .map_err(|e| format!("GitHub's /user/emails {e}"))?;
    let list = emails.as_array().cloned().unwrap_or_default();
    let pick = list
        .iter()
        .find(|e| e["primary"] == true && e["verified"] == true)
        .or_else(|| list.iter().find(|e| e["verified"] == true))
        .or_else(|| list.iter().find(|e| e["primary"] == true));
    Ok(Claims {
        iss: String::new(),
        aud: Value::Null,
        exp: 0.0,
        iat: None,
        sub: id,
        nonce: None,
        email: pick.and_then(|e| e["email"].as_str().map(str::to_string)),
        email_verified: pick.map(|e| e["verified"].clone()),
    })
}

/// Checks an RS256 JWT's signature with the JWKS key its header names; returns its claims.
async fn verify_id_token(jwt: &str, jwks_uri: &str) -> Result<Claims, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, c, s] = parts.as_slice() else {
        return Err("the ID token is not a JWT".into());
    };
    let header: Value = serde_json::from_slice(&b64url_decode(h).ok_or("bad JWT header")?)
        .map_err(|_| "bad JWT header")?;
    if header["alg"] != "RS256" {
        return Err(format!(
            "the ID token is signed with {}; RS256 is expected",
            header["alg"]
        ));
    }
    let kid = header["kid"].as_str();
    let jwks = get_json(jwks_uri)
        .await
        .map_err(|e| format!("the JWKS {e}"))?;
    let key = jwks["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["kty"] == "RSA" && (kid.is_none() || k["kid"].as_str() == kid))
        .ok_or("no key of the provider's JWKS matches the ID token")?;
    let sig = b64url_decode(s).ok_or("bad JWT signature")?;
    let signed = format!("{h}.{c}");
    if !rs256_verify(key, signed.as_bytes(), &sig).await? {
        return Err("the ID token's signature is wrong".into());
    }
    serde_json::from_slice(&b64url_decode(c).ok_or("bad JWT claims")?)
        .map_err(|e| format!("unreadable ID token claims: {e}"))
}

async fn rs256_verify(jwk: &Value, data: &[u8], sig: &[u8]) -> Result<bool, String> {
    let subtle = js_sys::global()
        .unchecked_into::<web_sys::WorkerGlobalScope>()
        .crypto()
        .map_err(|_| "no WebCrypto")?
        .subtle();
    let jwk = json!({"kty": "RSA", "n": jwk["n"], "e": jwk["e"], "alg": "RS256", "ext": true});
    let jwk: js_sys::Object = js_sys::JSON::parse(&jwk.to_string())
        .map_err(|_| "bad JWK")?
        .unchecked_into();
    let alg: js_sys::Object =
        js_sys::JSON::parse(r#"{"name":"RSASSA-PKCS1-v1_5","hash":"SHA-256"}"#)
            .map_err(|_| "bad algorithm")?
            .unchecked_into();
    let usages = js_sys::Array::of1(&JsValue::from_str("verify"));
    let key = JsFuture::from(
        subtle
            .import_key_with_object("jwk", &jwk, &alg, false, &usages)
            .map_err(|_| "cannot import the JWK")?,
    )
    .await
    .map_err(|_| "cannot import the JWK")?;
    let key: web_sys::CryptoKey = key.unchecked_into();
    let ok = JsFuture::from(
        subtle
            .verify_with_object_and_u8_array_and_u8_array(&alg, &key, sig, data)
            .map_err(|_| "cannot verify")?,
    )
    .await
    .map_err(|_| "cannot verify")?;
    Ok(ok.as_bool().unwrap_or(false))
}

#[derive(Deserialize)]
struct UserRow {
    id: String,
    email: String,
    created_at: f64,
    name: Option<String>,
    avatar_at: Option<f64>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> User {
        User {
            id: r.id,
            email: r.email,
            created_at: r.created_at,
            name: r.name,
            avatar_at: r.avatar_at,
        }
    }
}

/// The account of an identity: known, or linked by its verified e-mail, or new.
async fn account_for(env: &Env, p: &Provider, c: &Claims) -> ApiResult<User> {
    let db = env.d1(bind::DB)?;
    const COLS: &str = "u.id AS id, u.email AS email, u.created_at AS created_at, u.name AS name, u.avatar_at AS avatar_at";
    let known: Option<UserRow> = db
        .prepare(format!(
            "SELECT {COLS} FROM oidc_identities i JOIN users u ON u.id = i.user_id \
             WHERE i.provider = ?1 AND i.subject = ?2"
        ))
        .bind(&[p.id.clone().into(), c.sub.clone().into()])?
        .first(None)
        .await?;
    if let Some(u) = known {
        return Ok(u.into());
    }
    let verified = matches!(&c.email_verified, Some(Value::Bool(true)))
        || matches!(&c.email_verified, Some(Value::String(s)) if s == "true");
    let email = c.email.as_deref().map(|e| e.trim().to_lowercase());
    let Some(email) = email.filter(|e| atelier_core::account::valid_email(e)) else {
        return Err(ApiError::new(
            400,
            "no_email",
            format!(
                "{} did not share an e-mail address; allow it, or sign up with e-mail.",
                p.name
            ),
        ));
    };
    if !verified {
        return Err(ApiError::new(
            400,
            "email_unverified",
            format!(
                "{} has not verified {email}. Verify it there, or sign up with e-mail.",
                p.name
            ),
        ));
    }
    let now = now_ms() as f64;
    let existing: Option<UserRow> = db
        .prepare("SELECT id, email, created_at, name, avatar_at FROM users WHERE email = ?1")
        .bind(&[email.clone().into()])?
        .first(None)
        .await?;
    let user: User = match existing {
        Some(u) => u.into(),
        None => {
            let user = User {
                id: crypto::new_id(),
                email: email.clone(),
                created_at: now,
                name: None,
                avatar_at: None,
            };
            // No password: "!" is no Argon2 hash, so e-mail sign-in never matches it.
            db.prepare("INSERT OR IGNORE INTO users (id, email, password_hash, created_at) VALUES (?1, ?2, '!oidc', ?3)")
                .bind(&[user.id.clone().into(), email.clone().into(), now.into()])?
                .run()
                .await?;
            let row: UserRow = db
                .prepare(
                    "SELECT id, email, created_at, name, avatar_at FROM users WHERE email = ?1",
                )
                .bind(&[email.clone().into()])?
                .first(None)
                .await?
                .ok_or_else(|| ApiError::new(500, "internal_error", "lost the new account"))?;
            crate::store::orgs::personal(env, &row.id, &row.email).await?;
            row.into()
        }
    };
    db.prepare(
        "INSERT OR IGNORE INTO oidc_identities (provider, subject, user_id, email, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&[
        p.id.clone().into(),
        c.sub.clone().into(),
        user.id.clone().into(),
        email.into(),
        now.into(),
    ])?
    .run()
    .await?;
    Ok(user)
}
