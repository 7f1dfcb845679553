-- The organization becomes the owner of record of what a team shares: uploads, generations
-- (Studio, imports, API), collections and Assistant conversations carry org_id, and every
-- query scopes by it. Existing rows move to their creator's personal organization
-- ('org_' || user id). App and API credits stay in ledgers keyed by the organization's owner
-- of record (organizations.owner_id): each organization has exactly one.

-- Every account has its personal organization and membership (older accounts included).
INSERT OR IGNORE INTO organizations (id, name, owner_id, created_at)
  SELECT 'org_' || id, email, id, created_at FROM users;
INSERT OR IGNORE INTO org_members (org_id, user_id, role, created_at)
  SELECT 'org_' || id, id, 'owner', created_at FROM users;

-- A display name (the Account page); the e-mail's local part stands in while it is empty. The
-- profile picture is R2 avatars/<user id>, uploaded at avatar_at (NULL: none).
ALTER TABLE users ADD COLUMN name TEXT;
ALTER TABLE users ADD COLUMN avatar_at INTEGER;

-- The organization a session acts in (switching is per browser session); NULL = personal.
ALTER TABLE sessions ADD COLUMN org_id TEXT;

-- Generations: user_id is the account that pays (the organization's owner of record, as API
-- rows already were); created_by is the member who ran it.
UPDATE generations SET org_id = 'org_' || user_id WHERE org_id IS NULL;
ALTER TABLE generations ADD COLUMN created_by TEXT;
UPDATE generations SET created_by = user_id WHERE source <> 'api';
DROP INDEX IF EXISTS generations_library;
DROP INDEX IF EXISTS generations_library_tool;
DROP INDEX IF EXISTS generations_library_liked;
CREATE INDEX generations_library ON generations(org_id, created_at DESC)
  WHERE source IN ('app', 'import') AND status = 'completed';
CREATE INDEX generations_library_tool ON generations(org_id, tool, created_at DESC)
  WHERE source IN ('app', 'import') AND status = 'completed';
CREATE INDEX generations_library_liked ON generations(org_id, created_at DESC)
  WHERE source IN ('app', 'import') AND status = 'completed' AND liked = 1;

-- Assets: keyed by (organization, content hash); created_by is the uploader.
CREATE TABLE assets_by_org (
  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  hash TEXT NOT NULL,
  content_type TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT,
  PRIMARY KEY (org_id, hash)
);
INSERT INTO assets_by_org (org_id, hash, content_type, bytes, width, height, created_at, created_by)
  SELECT 'org_' || user_id, hash, content_type, bytes, width, height, created_at, user_id FROM assets;
DROP TABLE assets;
ALTER TABLE assets_by_org RENAME TO assets;
CREATE INDEX assets_org_created ON assets(org_id, created_at DESC);

ALTER TABLE collections ADD COLUMN org_id TEXT;
UPDATE collections SET org_id = 'org_' || user_id;
CREATE INDEX collections_org ON collections(org_id, created_at DESC);

-- The Assistant's conversation is a member's own, inside the organization it acts in.
ALTER TABLE assistant_turns ADD COLUMN org_id TEXT;
UPDATE assistant_turns SET org_id = 'org_' || user_id;
CREATE INDEX assistant_turns_org_user ON assistant_turns(org_id, user_id, created_at DESC);

-- Invite links: single use, expiring; only the token's SHA-256 is stored.
CREATE TABLE org_invites (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  email TEXT,
  created_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  accepted_by TEXT,
  accepted_at INTEGER
);
CREATE INDEX org_invites_org ON org_invites(org_id, created_at DESC);

-- Sign-in with OpenID Connect: each identity (provider, subject) is one account's; flows in
-- progress are keyed by their state's SHA-256 (single use, 10 minutes).
CREATE TABLE oidc_identities (
  provider TEXT NOT NULL,
  subject TEXT NOT NULL,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  email TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (provider, subject)
);
CREATE INDEX oidc_identities_user ON oidc_identities(user_id);
CREATE TABLE oidc_flows (
  state_hash TEXT PRIMARY KEY,
  provider TEXT NOT NULL,
  nonce TEXT NOT NULL,
  verifier TEXT NOT NULL,
  return_to TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
