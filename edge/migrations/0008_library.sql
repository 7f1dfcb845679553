-- The starter libraries (Faces, Backgrounds, Packshot References, Models): images the
-- installation offers every account as quick-picks. The bytes live in R2 under assets/<hash>,
-- like uploads; an operator adds them (`cargo xtask admin library-add`, and the stack seeds the
-- repository's library/ at start).
CREATE TABLE library_items (
  kind TEXT NOT NULL,
  hash TEXT NOT NULL,
  name TEXT NOT NULL,
  content_type TEXT NOT NULL,
  bytes INTEGER NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (kind, hash)
);
CREATE INDEX library_items_hash ON library_items(hash);
