-- Credit ledgers (core::ledger::Ledger as JSON), one per account and surface ('app' | 'api'),
-- updated with optimistic concurrency on `version`.
CREATE TABLE ledgers (
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  surface TEXT NOT NULL,
  json TEXT NOT NULL,
  version INTEGER NOT NULL,
  PRIMARY KEY (user_id, surface)
);
