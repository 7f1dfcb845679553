-- Organizations own API keys, API predictions and the API credit balance (held in the owner's
-- ledger). Every account has a personal organization, id 'org_' || user id.
CREATE TABLE organizations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  owner_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL
);
CREATE TABLE org_members (
  org_id TEXT NOT NULL REFERENCES organizations(id) ON DELETE CASCADE,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members(user_id);

INSERT OR IGNORE INTO organizations (id, name, owner_id, created_at)
  SELECT 'org_' || id, email, id, created_at FROM users;
INSERT OR IGNORE INTO org_members (org_id, user_id, role, created_at)
  SELECT 'org_' || id, id, 'owner', created_at FROM users;

-- A key's rate limits are the contract's times this scale (1 by default; an operator may raise it).
ALTER TABLE api_keys ADD COLUMN org_id TEXT;
ALTER TABLE api_keys ADD COLUMN rate_limit_scale REAL NOT NULL DEFAULT 1;
UPDATE api_keys SET org_id = 'org_' || user_id;
CREATE INDEX api_keys_org ON api_keys(org_id);

ALTER TABLE generations ADD COLUMN org_id TEXT;
UPDATE generations SET org_id = 'org_' || user_id WHERE source = 'api';
CREATE INDEX generations_org_created ON generations(org_id, created_at DESC);

-- Fixed-window request counters for rate limits, by "<key id>:<route>" and window number.
CREATE TABLE rate_windows (
  key TEXT NOT NULL,
  window INTEGER NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (key, window)
);
