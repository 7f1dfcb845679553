-- The quick-pick of recent uploads (`GET /api/assets`), newest first per user.
CREATE INDEX assets_user_created ON assets(user_id, created_at DESC);
