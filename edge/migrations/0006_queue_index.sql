-- Queue position (`GET /api/generations/{id}` while waiting) and in-flight counts read by status.
CREATE INDEX generations_status_created ON generations(status, created_at);
