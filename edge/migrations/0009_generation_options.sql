-- core's resolved options (catalog::Resolved, every Auto and default applied) as validated when
-- the generation was made: the queue consumer hands them to the node as they are, instead of
-- parsing the stored params again. NULL for rows made before this migration (such a row, still
-- queued at the upgrade, fails with a clear message and costs nothing).
ALTER TABLE generations ADD COLUMN options TEXT;
