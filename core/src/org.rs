//! Organizations: roles and what each may do, seats, invites, and the wire types the edge and
//! the app share.
//!
//! Every account has a default (personal) organization, `org_<user id>`, that it owns; an
//! account joins others' organizations by invite. Each organization has exactly one owner of
//! record (the account whose plan and balance it uses); owners may promote collaborators to
//! the Owner role, which gives them the Owner's permissions but not the organization.

use serde::{Deserialize, Serialize};

use crate::pricing::Plan;
use crate::tool::FieldError;

/// An invite link is valid this long (the 7 days).
pub const INVITE_TTL_MS: u64 = 7 * 24 * 3600 * 1000;
/// The longest organization or display name.
pub const MAX_NAME: usize = 60;

/// A member's role ("Roles and Permissions").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Collaborator,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "collaborator" => Some(Role::Collaborator),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Collaborator => "collaborator",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Collaborator => "Collaborator",
        }
    }
}

/// Everything a member may try inside an organization; [`allows`] is the one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Run tools, upload, see and organize the organization's assets (Studio, Gallery,
    /// history, Assistant): "use shared resources and create assets".
    Use,
    /// See the members list and the organization card.
    ViewMembers,
    Invite,
    RemoveMember,
    ChangeRole,
    Rename,
    /// The Billing page, plan changes, top-ups and payment settings.
    Billing,
    /// The Developer API page: keys and request history (they spend the organization's API
    /// balance, which is billing).
    ApiKeys,
    /// Leave the organization ("owners cannot leave").
    Leave,
}

impl Action {
    pub const ALL: [Action; 9] = [
        Action::Use,
        Action::ViewMembers,
        Action::Invite,
        Action::RemoveMember,
        Action::ChangeRole,
        Action::Rename,
        Action::Billing,
        Action::ApiKeys,
        Action::Leave,
    ];

    /// Why a collaborator is refused, for the 403's message.
    pub fn refusal(self) -> &'static str {
        match self {
            Action::Invite => "Only the organization's owners can invite members.",
            Action::RemoveMember => "Only the organization's owners can remove members.",
            Action::ChangeRole => "Only the organization's owners can change roles.",
            Action::Rename => "Only the organization's owners can rename it.",
            Action::Billing => {
                "Only the organization's owners see its billing and manage its plan. Switch to your personal organization to manage your own."
            }
            Action::ApiKeys => {
                "Only the organization's owners manage its Developer API keys. Switch to your personal organization to use your own."
            }
            Action::Leave => {
                "Owners cannot leave their organization. To transfer ownership, contact support."
            }
            Action::Use | Action::ViewMembers => "You are not a member of this organization.",
        }
    }
}

/// Whether `role` may do `action`: the docs' "Roles and Permissions".
pub fn allows(role: Role, action: Action) -> bool {
    match action {
        Action::Use | Action::ViewMembers => true,
        Action::Leave => role == Role::Collaborator,
        Action::Invite
        | Action::RemoveMember
        | Action::ChangeRole
        | Action::Rename
        | Action::Billing
        | Action::ApiKeys => role == Role::Owner,
    }
}

/// Whether the profile menu shows the Organizations section: an active App subscription, or
/// membership of someone else's organization (the docs' "Access to Organizations").
pub fn shows_menu(plan: Plan, member_elsewhere: bool) -> bool {
    plan != Plan::Free || member_elsewhere
}

/// Seats: invited members (everyone but the owner of record) and open invites, against the
/// plan's quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seats {
    pub included: u32,
    pub used: u32,
    pub remaining: u32,
}

impl Seats {
    pub fn of(plan: Plan, members: u32, open_invites: u32) -> Seats {
        let included = plan.info().invites;
        let used = members + open_invites;
        Seats {
            included,
            used,
            remaining: included.saturating_sub(used),
        }
    }
}

/// A trimmed name of 1..=60 characters without control characters.
pub fn clean_name(field: &str, name: &str) -> Result<String, FieldError> {
    let name = name.trim();
    let bad = |message: String| FieldError {
        path: field.into(),
        code: "invalid".into(),
        message,
    };
    if name.is_empty() {
        return Err(bad(format!("{field} is empty; type a name.")));
    }
    if name.chars().count() > MAX_NAME {
        return Err(bad(format!(
            "{field} is longer than {MAX_NAME} characters; shorten it."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(bad(format!(
            "{field} contains control characters; remove them."
        )));
    }
    Ok(name.to_string())
}

/// The name shown for an account: its display name, else its e-mail's local part.
pub fn display_name(name: Option<&str>, email: &str) -> String {
    match name.map(str::trim) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => email.split('@').next().unwrap_or(email).to_string(),
    }
}

/// One organization the account belongs to (the switcher's entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgSummary {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The account's own default organization.
    pub personal: bool,
}

/// `GET /api/orgs`: the switcher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgsView {
    pub current: String,
    pub orgs: Vec<OrgSummary>,
    /// Whether the Organizations section shows ([`shows_menu`]).
    pub menu: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberView {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: Role,
    /// The owner whose plan and balance the organization uses; cannot be removed or demoted.
    pub owner_of_record: bool,
    pub joined_at: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InviteView {
    pub id: String,
    pub email: Option<String>,
    pub created_at: f64,
    pub expires_at: f64,
}

/// `GET /api/org`: the Organizations page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrgView {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub personal: bool,
    pub plan: Plan,
    pub members: Vec<MemberView>,
    pub seats: Seats,
    /// Open invites (owners only; empty for collaborators).
    pub invites: Vec<InviteView>,
}

/// `POST /api/org/invites`: the link, shown to the owner to copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewInvite {
    pub id: String,
    pub url: String,
    pub expires_at: f64,
    /// Whether an e-mail went out (only when SMTP is configured and an address was given).
    pub emailed: bool,
    /// Why the e-mail did not go out, when one was asked for and SMTP is configured.
    #[serde(default)]
    pub email_error: Option<String>,
}

/// `GET /api/invites/{token}`: what an invite link offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvitePreview {
    pub org_name: String,
    pub invited_by: String,
    pub expires_at: f64,
    /// Already a member of that organization.
    pub member: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_for_every_role() {
        use Action::*;
        // (action, owner may, collaborator may) — the docs' table, written out.
        let table = [
            (Use, true, true),
            (ViewMembers, true, true),
            (Invite, true, false),
            (RemoveMember, true, false),
            (ChangeRole, true, false),
            (Rename, true, false),
            (Billing, true, false),
            (ApiKeys, true, false),
            (Leave, false, true),
        ];
        assert_eq!(table.len(), Action::ALL.len());
        for (a, owner, collab) in table {
            assert_eq!(allows(Role::Owner, a), owner, "{a:?} owner");
            assert_eq!(allows(Role::Collaborator, a), collab, "{a:?} collaborator");
            if !(owner && collab) {
                assert!(!a.refusal().is_empty());
            }
        }
    }

    #[test]
    fn menu_rule() {
        assert!(!shows_menu(Plan::Free, false));
        assert!(shows_menu(Plan::Free, true));
        assert!(shows_menu(Plan::Basic, false));
    }

    #[test]
    fn seats_by_plan() {
        assert_eq!(Seats::of(Plan::Free, 0, 0).remaining, 0);
        let s = Seats::of(Plan::Basic, 1, 0);
        assert_eq!((s.included, s.used, s.remaining), (2, 1, 1));
        assert_eq!(Seats::of(Plan::Pro, 3, 2).remaining, 0);
        assert_eq!(Seats::of(Plan::Agency, 0, 0).included, 10);
        // Over quota after a downgrade: nothing remains, used is still told.
        assert_eq!(
            Seats::of(Plan::Basic, 4, 0),
            Seats {
                included: 2,
                used: 4,
                remaining: 0
            }
        );
    }

    #[test]
    fn names() {
        assert_eq!(clean_name("name", "  Studio A ").unwrap(), "Studio A");
        assert_eq!(clean_name("name", " ").unwrap_err().path, "name");
        assert!(clean_name("name", &"x".repeat(61)).is_err());
        assert!(clean_name("name", "a\u{7}b").is_err());
        assert_eq!(display_name(None, "ann@x.io"), "ann");
        assert_eq!(display_name(Some(" Ann "), "ann@x.io"), "Ann");
        assert_eq!(Role::parse("owner"), Some(Role::Owner));
        assert_eq!(Role::parse("admin"), None);
    }
}
