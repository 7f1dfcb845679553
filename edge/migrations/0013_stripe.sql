-- Stripe (#15): the events already applied (idempotency by event id), each account's Stripe
-- customer, and each subscription's owner and the time of the last event applied to it (events
-- older than that change nothing).
CREATE TABLE stripe_events (
  id TEXT PRIMARY KEY,
  type TEXT NOT NULL,
  created INTEGER NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE TABLE stripe_customers (
  user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
  customer_id TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE stripe_subscriptions (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  surface TEXT NOT NULL,
  last_event_at INTEGER NOT NULL
);
