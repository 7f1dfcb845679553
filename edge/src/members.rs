//! Teams: the organization switcher, the Organizations page (its card, members, seats and
//! invites), invite links, roles, removing members and leaving. Who may do what is core's
//! `org::allows`, checked through `Actor::require`; an organization the account is not a member
//! of answers 404.

use atelier_core::org::{
    clean_name, display_name, shows_menu, Action, InvitePreview, InviteView, MemberView, NewInvite,
    OrgSummary, OrgView, OrgsView, Role, Seats, INVITE_TTL_MS,
};
use serde::Deserialize;
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::{Env, Request, Response};

use crate::auth::{acting, personal_org, set_session_org, Actor};
use crate::bind;
use crate::credits;
use crate::crypto;
use crate::http::{json, json_body, now_ms, same_origin, ApiError, ApiResult};
use crate::store::orgs::{self as store, MemberRow};

fn not_found() -> ApiError {
    ApiError::new(
        404,
        "not_found",
        "There is no such organization among yours.",
    )
}

fn role_of(s: &str) -> Role {
    Role::parse(s).unwrap_or(Role::Collaborator)
}

/// `GET /api/orgs`: the organizations the account belongs to, the current one, and whether the
/// profile menu shows the Organizations section.
pub async fn list(req: &Request, env: &Env) -> ApiResult<Response> {
    let a = acting(req, env).await?;
    let rows = store::memberships(env, &a.user.id).await?;
    let own = personal_org(&a.user.id);
    let orgs: Vec<OrgSummary> = rows
        .into_iter()
        .map(|r| OrgSummary {
            personal: r.id == own,
            role: role_of(&r.role),
            id: r.id,
            name: r.name,
        })
        .collect();
    let member_elsewhere = orgs.iter().any(|o| !o.personal);
    let plan = credits::app_plan(env, &a.user.id).await?;
    json(
        200,
        &OrgsView {
            current: a.org,
            menu: shows_menu(plan, member_elsewhere),
            orgs,
        },
    )
}

#[derive(Deserialize)]
struct SwitchBody {
    #[serde(default)]
    org_id: String,
}

/// `POST /api/orgs/switch {org_id}`: every later request of this session acts in that
/// organization (the personal one is always allowed). 404 for one the account is not in.
pub async fn switch(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let a = acting(&req, env).await?;
    let body: SwitchBody = json_body(&mut req).await?;
    let own = personal_org(&a.user.id);
    let target = if body.org_id.is_empty() || body.org_id == own {
        None
    } else {
        Actor::member(env, &a.user.id, &body.org_id)
            .await?
            .ok_or_else(not_found)?;
        Some(body.org_id.as_str())
    };
    set_session_org(&req, env, target).await?;
    json(200, &json!({"current": target.unwrap_or(&own)}))
}

fn member_view(m: MemberRow, owner_of_record: &str) -> MemberView {
    MemberView {
        name: display_name(m.name.as_deref(), &m.email),
        owner_of_record: m.user_id == owner_of_record,
        role: role_of(&m.role),
        user_id: m.user_id,
        email: m.email,
        joined_at: m.created_at,
    }
}

/// Seats of the organization: invited members (all but the owner of record) and open invites.
async fn seats(env: &Env, a: &Actor, members: &[MemberRow], open: usize) -> ApiResult<Seats> {
    let plan = credits::app_plan(env, &a.payer).await?;
    let invited = members.iter().filter(|m| m.user_id != a.payer).count() as u32;
    Ok(Seats::of(plan, invited, open as u32))
}

/// `GET /api/org`: the current organization's card, members, seats and (for owners) open
/// invites.
pub async fn current(req: &Request, env: &Env) -> ApiResult<Response> {
    let a = acting(req, env).await?;
    a.require(Action::ViewMembers)?;
    let members = store::members(env, &a.org).await?;
    let open = store::open_invites(env, &a.org).await?;
    let seats = seats(env, &a, &members, open.len()).await?;
    let invites = if atelier_core::org::allows(a.role, Action::Invite) {
        open.into_iter()
            .map(|i| InviteView {
                id: i.id,
                email: i.email,
                created_at: i.created_at,
                expires_at: i.expires_at,
            })
            .collect()
    } else {
        vec![]
    };
    json(
        200,
        &OrgView {
            personal: a.personal(),
            plan: credits::app_plan(env, &a.payer).await?,
            members: members
                .into_iter()
                .map(|m| member_view(m, &a.payer))
                .collect(),
            id: a.org,
            name: a.org_name,
            role: a.role,
            seats,
            invites,
        },
    )
}

#[derive(Deserialize)]
struct NameBody {
    #[serde(default)]
    name: String,
}

/// `PATCH /api/org {name}`: renames the current organization (owners).
pub async fn rename(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let a = acting(&req, env).await?;
    a.require(Action::Rename)?;
    let body: NameBody = json_body(&mut req).await?;
    let name = clean_name("name", &body.name).map_err(|e| ApiError::validation(vec![e]))?;
    env.d1(bind::DB)?
        .prepare("UPDATE organizations SET name = ?2 WHERE id = ?1")
        .bind(&[a.org.clone().into(), name.clone().into()])?
        .run()
        .await?;
    json(200, &json!({"id": a.org, "name": name}))
}

#[derive(Deserialize)]
struct InviteBody {
    #[serde(default)]
    email: Option<String>,
}

/// `POST /api/org/invites {email?}`: a single-use invite link, valid 7 days, for the owner to
/// copy. Takes a seat until it is accepted or expires; 409 when no seat remains.
pub async fn invite(mut req: Request, env: &Env) -> ApiResult<Response> {
    same_origin(&req)?;
    let a = acting(&req, env).await?;
    a.require(Action::Invite)?;
    let body: InviteBody = json_body(&mut req).await?;
    let email = match body.email.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(e) => {
            let e = e.to_lowercase();
            if !atelier_core::account::valid_email(&e) {
                return Err(ApiError::validation(vec![atelier_core::FieldError::new(
                    "email",
                    "invalid",
                    "email: that is not an e-mail address; leave it empty to only copy the link.",
                )]));
            }
            Some(e)
        }
    };
    let members = store::members(env, &a.org).await?;
    let open = store::open_invites(env, &a.org).await?;
    let seats = seats(env, &a, &members, open.len()).await?;
    if seats.remaining == 0 {
        let why = if seats.included == 0 {
            "Your plan includes no team seats. Subscribe to Basic (2 seats), Pro (5) or Agency (10) in Billing to invite members.".to_string()
        } else {
            format!(
                "All {} seats of your plan are taken ({} members and open invites). Remove a member, revoke an invite, or upgrade in Billing.",
                seats.included, seats.used
            )
        };
        return Err(ApiError::new(409, "no_seats", why));
    }
    let token = hex::encode(crypto::random_bytes::<32>());
    let id = crypto::new_id();
    let now = now_ms();
    let expires = now + INVITE_TTL_MS;
    env.d1(bind::DB)?
        .prepare(
            "INSERT INTO org_invites (id, org_id, token_hash, email, created_by, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&[
            id.clone().into(),
            a.org.clone().into(),
            atelier_core::sign::sha256_hex(token.as_bytes()).into(),
            email.clone().map(JsValue::from).unwrap_or(JsValue::NULL),
            a.user.id.clone().into(),
            (now as f64).into(),
            (expires as f64).into(),
        ])?
        .run()
        .await?;
    let url = req.url()?;
    let origin = url.origin().ascii_serialization();
    let link = format!("{origin}/invite/{token}");
    // The e-mail goes out only when an SMTP server is configured; the link works either way.
    let (mut emailed, mut email_error) = (false, None);
    if let (Some(to), Some(smtp)) = (email.as_deref(), crate::mail::Smtp::from_env(env)) {
        let body = format!(
            "{} invites you to join {} on Atelier.\n\nOpen this link to accept (it works once and expires in 7 days):\n{link}\n",
            a.user.email, a.org_name
        );
        match crate::mail::send(&smtp, to, &format!("Join {} on Atelier", a.org_name), &body).await
        {
            Ok(()) => emailed = true,
            Err(e) => {
                worker::console_error!("invite e-mail failed: {e}");
                email_error = Some(format!(
                    "The e-mail could not be sent ({e}); copy the link and send it yourself."
                ));
            }
        }
    }
    json(
        201,
        &NewInvite {
            id,
            url: link,
            expires_at: expires as f64,
            emailed,
            email_error,
        },
    )
}

/// `DELETE /api/org/invites/{id}`: revokes an open invite (owners).
pub async fn revoke_invite(req: &Request, env: &Env, id: &str) -> ApiResult<Response> {
    same_origin(req)?;
    let a = acting(req, env).await?;
    a.require(Action::Invite)?;
    let n = crate::store::changes(
        env.d1(bind::DB)?
            .prepare(
                "DELETE FROM org_invites WHERE id = ?1 AND org_id = ?2 AND accepted_by IS NULL",
            )
            .bind(&[id.into(), a.org.into()])?,
    )
    .await?;
    if n == 0 {
        return Err(ApiError::new(
            404,
            "not_found",
            "There is no such open invite.",
        ));
    }
    Ok(Response::empty()?.with_status(204))
}

fn bad_invite() -> ApiError {
    ApiError::new(
        404,
        "invite_not_found",
        "This invite link is not valid: it was already used, revoked, or mistyped. Ask the organization's owner for a new one.",
    )
}

fn expired_invite() -> ApiError {
    ApiError::new(
        410,
        "invite_expired",
        "This invite link has expired (links last 7 days). Ask the organization's owner for a new one.",
    )
}

/// The open invite a token names, or why not.
async fn open_invite(env: &Env, token: &str) -> ApiResult<store::InviteRow> {
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad_invite());
    }
    let inv = store::invite_by_token(env, &atelier_core::sign::sha256_hex(token.as_bytes()))
        .await?
        .ok_or_else(bad_invite)?;
    if inv.accepted_by.is_some() {
        return Err(bad_invite());
    }
    if inv.expires_at <= now_ms() as f64 {
        return Err(expired_invite());
    }
    Ok(inv)
}

#[derive(Deserialize)]
struct OrgNameRow {
    name: String,
    inviter: String,
}

/// `GET /api/invites/{token}`: what an invite link offers (signed in).
pub async fn preview(req: &Request, env: &Env, token: &str) -> ApiResult<Response> {
    let a = acting(req, env).await?;
    let inv = open_invite(env, token).await?;
    let row: OrgNameRow = env
        .d1(bind::DB)?
        .prepare(
            "SELECT o.name AS name, u.email AS inviter FROM organizations o, users u \
             WHERE o.id = ?1 AND u.id = ?2",
        )
        .bind(&[inv.org_id.clone().into(), inv.created_by.clone().into()])?
        .first(None)
        .await?
        .ok_or_else(bad_invite)?;
    let member = Actor::member(env, &a.user.id, &inv.org_id).await?.is_some();
    json(
        200,
        &InvitePreview {
            org_name: row.name,
            invited_by: row.inviter,
            expires_at: inv.expires_at,
            member,
        },
    )
}

/// `POST /api/invites/{token}/accept`: joins the organization as a Collaborator (the invite is
/// used up in the same batch) and switches this session to it. 409 when its seats are full.
pub async fn accept(req: &Request, env: &Env, token: &str) -> ApiResult<Response> {
    same_origin(req)?;
    let a = acting(req, env).await?;
    let inv = open_invite(env, token).await?;
    if Actor::member(env, &a.user.id, &inv.org_id).await?.is_none() {
        let payer: Option<String> = env
            .d1(bind::DB)?
            .prepare("SELECT owner_id FROM organizations WHERE id = ?1")
            .bind(&[inv.org_id.clone().into()])?
            .first(Some("owner_id"))
            .await?;
        let payer = payer.ok_or_else(bad_invite)?;
        // The seat was taken by the open invite; a downgrade since may have left none.
        let plan = credits::app_plan(env, &payer).await?;
        let members = store::members(env, &inv.org_id).await?;
        let invited = members.iter().filter(|m| m.user_id != payer).count() as u32;
        if invited >= plan.info().invites {
            return Err(ApiError::new(
                409,
                "no_seats",
                "This organization has no free seat now. Ask its owner to free one or upgrade their plan.",
            ));
        }
        let now = now_ms() as f64;
        let db = env.d1(bind::DB)?;
        let r = db
            .batch(vec![
                db.prepare(
                    "UPDATE org_invites SET accepted_by = ?2, accepted_at = ?3 \
                     WHERE id = ?1 AND accepted_by IS NULL AND expires_at > ?3",
                )
                .bind(&[
                    inv.id.clone().into(),
                    a.user.id.clone().into(),
                    now.into(),
                ])?,
                db.prepare(
                    "INSERT OR IGNORE INTO org_members (org_id, user_id, role, created_at) \
                     SELECT org_id, ?2, 'collaborator', ?3 FROM org_invites \
                     WHERE id = ?1 AND accepted_by = ?2 AND accepted_at = ?3",
                )
                .bind(&[
                    inv.id.clone().into(),
                    a.user.id.clone().into(),
                    now.into(),
                ])?,
            ])
            .await?;
        let used = r
            .first()
            .and_then(|x| x.meta().ok().flatten())
            .and_then(|m| m.changes)
            .unwrap_or(0);
        if used == 0 {
            // Another account used it first.
            return Err(bad_invite());
        }
    }
    set_session_org(req, env, Some(&inv.org_id)).await?;
    json(200, &json!({"current": inv.org_id}))
}

#[derive(Deserialize)]
struct RoleBody {
    #[serde(default)]
    role: String,
}

/// The member `user_id` of the actor's organization (not its owner of record), or 404 / 409.
async fn other_member(env: &Env, a: &Actor, user_id: &str, what: &str) -> ApiResult<()> {
    if user_id == a.payer {
        return Err(ApiError::new(
            409,
            "owner_of_record",
            format!("The organization's owner cannot be {what}. To transfer ownership, contact support."),
        ));
    }
    if user_id == a.user.id {
        return Err(ApiError::new(
            409,
            "self",
            format!("You cannot be {what} by yourself; to go, use Leave."),
        ));
    }
    Actor::member(env, user_id, &a.org)
        .await?
        .ok_or_else(|| ApiError::new(404, "not_found", "There is no such member."))?;
    Ok(())
}

/// `PATCH /api/org/members/{user_id} {role}`: makes a member an Owner or a Collaborator.
pub async fn set_role(mut req: Request, env: &Env, user_id: &str) -> ApiResult<Response> {
    same_origin(&req)?;
    let a = acting(&req, env).await?;
    a.require(Action::ChangeRole)?;
    let body: RoleBody = json_body(&mut req).await?;
    let role = Role::parse(&body.role).ok_or_else(|| {
        ApiError::validation(vec![atelier_core::FieldError::new(
            "role",
            "invalid",
            format!(
                "role: '{}' is not a role; use owner or collaborator.",
                body.role
            ),
        )])
    })?;
    other_member(env, &a, user_id, "changed").await?;
    env.d1(bind::DB)?
        .prepare("UPDATE org_members SET role = ?3 WHERE org_id = ?1 AND user_id = ?2")
        .bind(&[a.org.into(), user_id.into(), role.as_str().into()])?
        .run()
        .await?;
    json(200, &json!({"user_id": user_id, "role": role}))
}

/// `DELETE /api/org/members/{user_id}`: removes a member; their sessions fall back to their
/// personal organization, and what they made stays with this one.
pub async fn remove(req: &Request, env: &Env, user_id: &str) -> ApiResult<Response> {
    same_origin(req)?;
    let a = acting(req, env).await?;
    a.require(Action::RemoveMember)?;
    other_member(env, &a, user_id, "removed").await?;
    leave_org(env, &a.org, user_id).await?;
    Ok(Response::empty()?.with_status(204))
}

/// `POST /api/org/leave`: a collaborator leaves the current organization (owners cannot).
pub async fn leave(req: &Request, env: &Env) -> ApiResult<Response> {
    same_origin(req)?;
    let a = acting(req, env).await?;
    if a.personal() {
        return Err(ApiError::new(
            409,
            "personal",
            "This is your personal organization; it cannot be left.",
        ));
    }
    a.require(Action::Leave)?;
    leave_org(env, &a.org, &a.user.id).await?;
    json(200, &json!({"current": personal_org(&a.user.id)}))
}

async fn leave_org(env: &Env, org: &str, user_id: &str) -> ApiResult<()> {
    let db = env.d1(bind::DB)?;
    db.batch(vec![
        db.prepare("DELETE FROM org_members WHERE org_id = ?1 AND user_id = ?2")
            .bind(&[org.into(), user_id.into()])?,
        db.prepare("UPDATE sessions SET org_id = NULL WHERE user_id = ?2 AND org_id = ?1")
            .bind(&[org.into(), user_id.into()])?,
    ])
    .await?;
    Ok(())
}
