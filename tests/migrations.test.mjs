// Migration 0014 (#16) on a copy of a database made by the previous schema: every existing row
// moves to its creator's personal organization, nothing is lost, and the new indexes serve the
// organization-scoped queries. SQLite (what D1 runs) through Python's standard module.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const MIGRATIONS = join(here, '..', 'edge', 'migrations');
const files = readdirSync(MIGRATIONS).filter((f) => f.endsWith('.sql')).sort();
const sql = (f) => readFileSync(join(MIGRATIONS, f), 'utf8');
const run = (db, steps) => JSON.parse(execFileSync('python3', [join(here, 'lib', 'sqlite.py'), db], { input: JSON.stringify(steps), stdio: ['pipe', 'pipe', 'pipe'] }));

test('0014 carries every row of the previous schema to its personal organization', () => {
  const db = join(mkdtempSync(join(tmpdir(), 'atelier-mig-')), 'd1.sqlite');
  const before = files.filter((f) => f < '0014');
  assert.ok(before.length >= 13);
  run(db, before.map((f) => ({ script: sql(f) })));
  // Data as the previous version wrote it: u1 signed up after organizations existed, u2's
  // organization row is missing (an account older than them that never used the API).
  run(db, [{ script: `
    INSERT INTO users (id, email, password_hash, created_at) VALUES ('u1', 'one@example.com', 'h', 1), ('u2', 'two@example.com', 'h', 2);
    INSERT INTO organizations (id, name, owner_id, created_at) VALUES ('org_u1', 'one@example.com', 'u1', 1);
    INSERT INTO org_members (org_id, user_id, role, created_at) VALUES ('org_u1', 'u1', 'owner', 1);
    INSERT INTO sessions (token_hash, user_id, created_at, expires_at) VALUES ('t1', 'u1', 1, 9999999999999);
    INSERT INTO assets (user_id, hash, content_type, bytes, width, height, created_at) VALUES
      ('u1', 'h1', 'image/png', 10, 4, 4, 5), ('u1', 'h2', 'image/jpeg', 11, 4, 4, 6), ('u2', 'h1', 'image/png', 10, 4, 4, 7);
    INSERT INTO generations (id, user_id, tool, inputs, params, status, created_at, updated_at, source) VALUES
      ('g1', 'u1', 'background-remove', '{}', '{}', 'completed', 10, 10, 'app'),
      ('g2', 'u1', 'try-on', '{}', '{}', 'failed', 11, 11, 'app'),
      ('g3', 'u2', 'import', '{}', '{}', 'completed', 12, 12, 'import');
    INSERT INTO generations (id, user_id, tool, inputs, params, status, created_at, updated_at, source, org_id) VALUES
      ('g4', 'u1', 'background-remove', '{}', '{}', 'completed', 13, 13, 'api', 'org_u1');
    INSERT INTO collections (id, user_id, name, created_at, updated_at) VALUES ('c1', 'u1', 'Looks', 20, 20);
    INSERT INTO collection_items (collection_id, generation_id, added_at) VALUES ('c1', 'g1', 21);
    INSERT INTO assistant_turns (id, user_id, created_at, updated_at, message, images, plan, bindings, status)
      VALUES ('t1', 'u1', 30, 30, 'hi', '[]', '{}', '[]', 'answered');
  ` }]);
  const count = (t) => ({ query: `SELECT COUNT(*) AS n FROM ${t}` });
  const tables = ['users', 'sessions', 'assets', 'generations', 'collections', 'collection_items', 'assistant_turns'];
  const [counts] = [run(db, tables.map(count)).map((r) => r[0].n)];
  run(db, [{ script: sql(files.find((f) => f.startsWith('0014'))) }]);
  const after = run(db, [
    ...tables.map(count),
    { query: 'SELECT org_id, hash, created_by FROM assets ORDER BY org_id, hash' },
    { query: 'SELECT id, org_id, created_by, user_id FROM generations ORDER BY id' },
    { query: 'SELECT id, org_id FROM collections' },
    { query: 'SELECT id, org_id FROM assistant_turns' },
    { query: "SELECT id, owner_id FROM organizations ORDER BY id" },
    { query: "SELECT org_id, user_id, role FROM org_members ORDER BY org_id" },
    { query: 'SELECT org_id FROM sessions' },
    { query: "EXPLAIN QUERY PLAN SELECT id FROM generations WHERE org_id = 'org_u1' AND source IN ('app', 'import') AND status = 'completed' ORDER BY created_at DESC LIMIT 40" },
    { query: "EXPLAIN QUERY PLAN SELECT hash FROM assets WHERE org_id = 'org_u1' ORDER BY created_at DESC LIMIT 24" },
  ]);
  assert.deepEqual(after.slice(0, tables.length).map((r) => r[0].n), counts, 'no row lost');
  const [assets, gens, cols, turns, orgs, members, sessions, libPlan, assetPlan] = after.slice(tables.length);
  assert.deepEqual(assets, [
    { org_id: 'org_u1', hash: 'h1', created_by: 'u1' },
    { org_id: 'org_u1', hash: 'h2', created_by: 'u1' },
    { org_id: 'org_u2', hash: 'h1', created_by: 'u2' },
  ]);
  assert.deepEqual(gens, [
    { id: 'g1', org_id: 'org_u1', created_by: 'u1', user_id: 'u1' },
    { id: 'g2', org_id: 'org_u1', created_by: 'u1', user_id: 'u1' },
    { id: 'g3', org_id: 'org_u2', created_by: 'u2', user_id: 'u2' },
    { id: 'g4', org_id: 'org_u1', created_by: null, user_id: 'u1' },
  ]);
  assert.deepEqual(cols, [{ id: 'c1', org_id: 'org_u1' }]);
  assert.deepEqual(turns, [{ id: 't1', org_id: 'org_u1' }]);
  assert.deepEqual(orgs, [{ id: 'org_u1', owner_id: 'u1' }, { id: 'org_u2', owner_id: 'u2' }], 'the missing personal organization was made');
  assert.deepEqual(members.map((m) => m.role), ['owner', 'owner']);
  assert.deepEqual(sessions, [{ org_id: null }], 'sessions act in the personal organization');
  assert.match(JSON.stringify(libPlan), /generations_library/, 'the Library query uses its partial index');
  assert.match(JSON.stringify(assetPlan), /assets_org_created/);
  // The new key: the same image may now be an asset of two organizations, once each.
  const dup = () => run(db, [{ script: "INSERT INTO assets (org_id, hash, content_type, bytes, width, height, created_at) VALUES ('org_u1', 'h1', 'image/png', 1, 1, 1, 1)" }]);
  assert.throws(dup, /UNIQUE/);
});
