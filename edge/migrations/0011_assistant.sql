-- The AI Assistant's conversation (#18): a turn is one message, its attached images, the plan
-- the planner made for it, and how its run went. Kept per account (per organization once #16
-- shares them), oldest first.
CREATE TABLE assistant_turns (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  message TEXT NOT NULL,
  -- JSON array of the attached images' asset hashes.
  images TEXT NOT NULL,
  -- JSON: core's assistant::Plan.
  plan TEXT NOT NULL,
  -- JSON array, one per step: each image input's source, fixed when the message was planned
  -- ({"asset": hash}, {"output": [generation id, index]} or {"step": K}).
  bindings TEXT NOT NULL,
  -- answered | waiting (for a confirmation) | running | completed | failed
  status TEXT NOT NULL,
  error TEXT
);
CREATE INDEX assistant_turns_user ON assistant_turns(user_id, created_at DESC);

-- The generation each started step of a turn is (the chain advances when it ends).
CREATE TABLE assistant_steps (
  turn_id TEXT NOT NULL REFERENCES assistant_turns(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  generation_id TEXT NOT NULL UNIQUE,
  PRIMARY KEY (turn_id, step)
);
