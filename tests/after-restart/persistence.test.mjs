// Runs after `cargo xtask test` restarted the whole stack on the same state folder: the account,
// its session-less sign-in, the history (a canceled run still canceled) and the stored outputs are
// all still there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Client, decodePng } from '../lib/helpers.mjs';

test('accounts, history and outputs survive a restart', async () => {
  const { email, password, ids } = JSON.parse(readFileSync(process.env.ATELIER_TEST_STATE, 'utf8'));
  const c = new Client();
  assert.equal((await c.json('POST', '/api/auth/signin', { email, password })).status, 200);
  const list = await (await c.req('GET', '/api/generations')).json();
  assert.deepEqual(list.generations.map((g) => g.id), ids);
  // The browser run ends with one generation canceled on purpose; it stays canceled, with nothing.
  assert.deepEqual(list.generations.filter((g) => g.status !== 'completed').map((g) => [g.status, g.outputs.length]), [['canceled', 0]]);
  for (const g of list.generations.filter((x) => x.status === 'completed')) {
    const r = await c.req('GET', g.outputs[0].url);
    assert.equal(r.status, 200);
    const buf = Buffer.from(await r.arrayBuffer());
    if (g.outputs[0].content_type === 'video/mp4') assert.equal(buf.toString('latin1', 4, 8), 'ftyp');
    else assert.ok(decodePng(buf).width > 0);
  }
});
