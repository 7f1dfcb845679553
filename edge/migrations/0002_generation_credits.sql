-- The quote (credits per output × outputs) fixed when the generation was created, from core.
-- A generation is charged per successful output; a failed one costs nothing.
ALTER TABLE generations ADD COLUMN credits_quoted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE generations ADD COLUMN credits_per_output INTEGER NOT NULL DEFAULT 0;
