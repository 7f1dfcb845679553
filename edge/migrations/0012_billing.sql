-- Billing (#15). `ledgers.json` now holds core::billing::Account (the ledger with the App plan or
-- API tier, daily credits, automatic top-up); a bare ledger from before still reads as Free.
-- `due_at`: when the scheduled Worker must next bring the account up to date.
ALTER TABLE ledgers ADD COLUMN due_at INTEGER;
CREATE INDEX ledgers_due ON ledgers(due_at);

-- The journal: one row per bucket counter moved (core::ledger::Entry), written in the same batch
-- as the new state; seq 0 of each version names the change (op) and carries no amount. A writer
-- that lost the race fails on this primary key, so its whole batch rolls back.
CREATE TABLE ledger_entries (
  user_id TEXT NOT NULL,
  surface TEXT NOT NULL,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  at INTEGER NOT NULL,
  op TEXT NOT NULL,
  bucket INTEGER,
  kind TEXT,
  field TEXT,
  delta INTEGER NOT NULL,
  PRIMARY KEY (user_id, surface, version, seq)
);

-- What was collected (or is due, without a provider): purchases, renewals, automatic top-ups.
CREATE TABLE payments (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL,
  surface TEXT NOT NULL,
  provider TEXT NOT NULL,
  description TEXT NOT NULL,
  cents INTEGER NOT NULL,
  credits INTEGER NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX payments_user ON payments(user_id, surface, created_at DESC);

-- The Studio generations an account has running (dispatched, not ended): the plan's
-- simultaneous-generation limit counts these.
CREATE INDEX generations_running ON generations(user_id)
  WHERE source = 'app' AND status IN ('starting', 'in_queue', 'processing') AND dispatch_attempts > 0;
