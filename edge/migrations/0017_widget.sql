-- The storefront try-on widget (#20). A publishable key belongs to an organization, names the
-- origins that may frame the widget (a JSON list of exact origins, core's `widget::parse_origin`)
-- and how long a shopper's photo and result are kept. Unlike an API key its value is stored
-- as is: it is public by design (it sits in the shop's page) and the Developer page shows it
-- again with the embed snippet.
CREATE TABLE widget_keys (
  id TEXT PRIMARY KEY,
  org_id TEXT NOT NULL,
  created_by TEXT,
  name TEXT NOT NULL,
  key TEXT NOT NULL UNIQUE,
  origins TEXT NOT NULL,
  retention_hours INTEGER NOT NULL DEFAULT 24,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX widget_keys_org ON widget_keys(org_id, created_at DESC);

-- A widget run is an API prediction (source 'api', the organization's API credits pay) made
-- through a publishable key; its shopper data goes at `expires_at` (the scheduled cleanup):
-- the input and output files are deleted and `purged_at` set; the row stays as the record of
-- what was charged.
ALTER TABLE generations ADD COLUMN widget_key_id TEXT;
ALTER TABLE generations ADD COLUMN expires_at INTEGER;
ALTER TABLE generations ADD COLUMN purged_at INTEGER;
CREATE INDEX generations_expires ON generations(expires_at) WHERE expires_at IS NOT NULL AND purged_at IS NULL;
