-- Atelier edge schema, version 1: accounts, sessions, assets, generations.
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE COLLATE NOCASE,
  -- PHC string: algorithm, version and parameters are stored with every hash.
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Failed sign-ins (and sign-ups) by key ("email:..." or "ip:..."), for rate limiting.
CREATE TABLE auth_attempts (
  key TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX auth_attempts_key_at ON auth_attempts(key, at);

-- An uploaded image. The bytes live in R2 under assets/<hash>, shared by content.
CREATE TABLE assets (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  hash TEXT NOT NULL,
  content_type TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, hash)
);

CREATE TABLE generations (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  tool TEXT NOT NULL,
  inputs TEXT NOT NULL,
  params TEXT NOT NULL,
  status TEXT NOT NULL,
  progress REAL NOT NULL DEFAULT 0,
  stage TEXT,
  outputs TEXT NOT NULL DEFAULT '[]',
  error_name TEXT,
  error_message TEXT,
  engine TEXT,
  run_ms INTEGER,
  dispatch_attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  completed_at INTEGER
);
CREATE INDEX generations_user_created ON generations(user_id, created_at DESC);
