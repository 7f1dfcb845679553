-- How many times a lost generation was put back in the queue (#23, `jobs::recover_if_stale`).
-- Each queue message carries the count it was sent with; an older message (one a restarted edge
-- delivers late, or one still waiting when its job was re-sent) is dropped, so a job is never
-- dispatched twice from two messages.
ALTER TABLE generations ADD COLUMN requeues INTEGER NOT NULL DEFAULT 0;
