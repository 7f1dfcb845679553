-- Faults a test injects into a local instance (LOCAL_INSTANCE=true; never read elsewhere):
-- of one user's generations' output writes to R2, the next `skip` succeed and the `count` after
-- them fail, as a full or failing store would (#23).
CREATE TABLE faults (
  name TEXT NOT NULL,
  user_id TEXT NOT NULL,
  skip INTEGER NOT NULL DEFAULT 0,
  count INTEGER NOT NULL,
  PRIMARY KEY (name, user_id)
);
