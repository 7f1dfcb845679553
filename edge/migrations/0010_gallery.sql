-- The Gallery (#17): likes, Collections, and indexes so no Library page scans the table.
ALTER TABLE generations ADD COLUMN liked INTEGER NOT NULL DEFAULT 0;

-- The Library's pages: a user's completed Studio results and imported images ('import' rows:
-- tool 'import', one output), newest first; by tool; liked only.
-- Partial indexes: only what the Library shows is in them (queries repeat these conditions
-- literally, so SQLite can use them).
CREATE INDEX generations_library ON generations(user_id, created_at DESC)
  WHERE source IN ('app', 'import') AND status = 'completed';
CREATE INDEX generations_library_tool ON generations(user_id, tool, created_at DESC)
  WHERE source IN ('app', 'import') AND status = 'completed';
CREATE INDEX generations_library_liked ON generations(user_id, created_at DESC)
  WHERE source IN ('app', 'import') AND status = 'completed' AND liked = 1;

CREATE TABLE collections (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX collections_user ON collections(user_id, created_at DESC);

-- An entry (a generation) can be in several Collections; deleting either side removes the link.
CREATE TABLE collection_items (
  collection_id TEXT NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
  generation_id TEXT NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
  added_at INTEGER NOT NULL,
  PRIMARY KEY (collection_id, generation_id)
);
CREATE INDEX collection_items_generation ON collection_items(generation_id);
CREATE INDEX collection_items_added ON collection_items(collection_id, added_at DESC);
