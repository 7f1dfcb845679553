-- Developer API: keys (hashed at rest) and API predictions (rows of generations).
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  key_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX api_keys_user ON api_keys(user_id);

ALTER TABLE generations ADD COLUMN source TEXT NOT NULL DEFAULT 'app';
ALTER TABLE generations ADD COLUMN api_key_id TEXT;
ALTER TABLE generations ADD COLUMN model_name TEXT;
ALTER TABLE generations ADD COLUMN return_base64 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE generations ADD COLUMN webhook_url TEXT;
