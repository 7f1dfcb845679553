// #23: the store fails while a run's outputs are written (R2 refusing writes, as a full or failing
// store would), injected into the local test stack through the signed admin route
// `/api/internal/admin/faults` (local instances only): of one user's output writes, the next
// `skip` succeed and the `count` after them fail with 503.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SECRET, Client, fixture, giveAppCredits, signRequest, signUrl } from './lib/helpers.mjs';

const balance = async (c) => (await (await c.req('GET', '/api/me')).json()).credits;

async function injectFault(email, skip, count, name = 'r2_put') {
  const path = '/api/internal/admin/faults';
  const body = JSON.stringify({ name, email, skip, count });
  const ts = Math.floor(Date.now() / 1000);
  return fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, body) } });
}

/** Whether R2 holds `key`, read through the nodes' signed blob URL. */
async function stored(key) {
  const path = `/api/blobs/${key}`;
  const exp = Math.floor(Date.now() / 1000) + 60;
  const r = await fetch(`${BASE}${path}?exp=${exp}&sig=${signUrl(SECRET, 'GET', path, exp)}`);
  assert.ok([200, 404].includes(r.status), `${key}: ${r.status}`);
  return r.status === 200;
}

test('the fault route is signed, names its faults and its user', async () => {
  const c = await new Client().signUp();
  assert.equal((await fetch(`${BASE}/api/internal/admin/faults`, { method: 'POST', body: '{}' })).status, 401);
  let r = await injectFault(c.email, 0, 1, 'disk_full');
  assert.equal(r.status, 400);
  assert.match((await r.json()).message, /r2_put/);
  r = await injectFault('nobody-here@example.com', 0, 1);
  assert.equal(r.status, 404);
});

test('a store that fails: the run fails cleanly, what it had stored is deleted, nothing is charged, the next run completes', async () => {
  const c = await new Client().signUp();
  await giveAppCredits(c.email, 20);
  const a = await c.upload(fixture('garment-on-model.webp'), 'image/webp');
  // The first output is stored, every write after it fails (the node tries each one 3 times).
  assert.equal((await injectFault(c.email, 1, 100)).status, 200);
  const before = await balance(c);
  const params = { prompt: 'on light grey', num_images: 2, aspect_ratio: '1:1', resolution: '1k', generation_mode: 'fast' };
  let r = await c.json('POST', '/api/generations', { tool: 'packshot', inputs: { image: a.body.asset.hash }, params });
  assert.equal(r.status, 202, await r.clone().text());
  const id = (await r.json()).generation.id;
  const g = await c.waitDone(id, 120000);
  assert.equal(g.status, 'failed');
  assert.equal(g.error.name, 'InternalServerError');
  assert.match(g.error.message, /could not be stored \(storage answered 503.*3 tries\)\. Nothing was charged; run it again\./);
  assert.deepEqual(g.outputs, []);
  assert.equal(g.credits_used, 0);
  assert.equal(await balance(c), before, 'the hold was released');
  // Nothing half-written stays: the first output (stored before the failure) and its thumbnail are gone.
  for (const key of [`outputs/${id}/0.png`, `outputs/${id}/0.thumb.webp`, `outputs/${id}/1.png`]) {
    assert.equal(await stored(key), false, `${key} is not in R2`);
  }
  assert.equal((await c.req('GET', `/api/generations/${id}/outputs/0`)).status, 404);
  const gallery = await (await c.req('GET', '/api/gallery')).json();
  assert.ok(!JSON.stringify(gallery).includes(id), 'the Gallery does not list it');
  // The store is back: the same run completes, charged for both outputs.
  assert.equal((await injectFault(c.email, 0, 0)).status, 200);
  r = await c.json('POST', '/api/generations', { tool: 'packshot', inputs: { image: a.body.asset.hash }, params });
  const ok = await c.waitDone((await r.json()).generation.id, 120000);
  assert.equal(ok.status, 'completed', JSON.stringify(ok.error));
  assert.equal(ok.outputs.length, 2);
  assert.ok(await stored(`outputs/${ok.id}/1.png`));
  assert.equal(before - (await balance(c)), ok.credits_used);
});

test('a store that fails once: the node writes again and the run completes', async () => {
  const c = await new Client().signUp();
  const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
  assert.equal((await injectFault(c.email, 0, 1)).status, 200);
  const r = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: a.body.asset.hash } });
  const g = await c.waitDone((await r.json()).generation.id, 60000);
  assert.equal(g.status, 'completed', JSON.stringify(g.error));
  assert.equal((await c.req('GET', g.outputs[0].url)).status, 200);
});
