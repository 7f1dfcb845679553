// Cancellation on the real stack: a running or waiting generation is canceled at once, its held
// credits come back, the node drops it (nothing uploaded, counted as canceled), and what is
// already finished cannot be canceled. The node's cancel route takes only signed requests.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, NODE, SECRET, Client, fixture, giveAppCredits, setPlan, signRequest } from './lib/helpers.mjs';

const balance = async (c) => (await (await c.req('GET', '/api/me')).json()).credits;
const metric = async (tool, outcome) => {
  const text = await (await fetch(`${NODE}/metrics`)).text();
  const m = text.match(new RegExp(`atelier_jobs_total\\{tool="${tool}",outcome="${outcome}"\\} (\\d+)`));
  return m ? Number(m[1]) : 0;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let c;
describe('cancel a generation', () => {
  before(async () => {
    c = await new Client().signUp();
    // 1080p video is a Pro feature; Pro also runs 6 generations at once.
    await setPlan(c.email, { plan: 'pro' });
    await giveAppCredits(c.email, 100);
  });

  /** A slow run: a 10 s 1080p clip. */
  const slow = async (hash) => {
    const r = await c.json('POST', '/api/generations', { tool: 'image-to-video', inputs: { image: hash }, params: { duration: '10', video_resolution: '1080p' } });
    assert.equal(r.status, 202, await r.clone().text());
    return (await r.json()).generation;
  };

  test('running and waiting runs are canceled at once, cost nothing, and the node drops them', async () => {
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const hash = a.body.asset.hash;
    const before = await balance(c);
    const canceledBefore = await metric('image-to-video', 'canceled');
    // Three slow runs on a node with two slots: the third waits for a slot.
    const runs = [await slow(hash), await slow(hash), await slow(hash)];
    assert.ok(before - (await balance(c)) > 0, 'credits are held while they run');
    // Wait until the first is processing on the node, then cancel it and the waiting third.
    let first;
    for (let i = 0; i < 200; i++) {
      first = (await (await c.req('GET', `/api/generations/${runs[0].id}`)).json()).generation;
      if (first.status === 'processing') break;
      await sleep(100);
    }
    assert.equal(first.status, 'processing', 'the first run is on the node');
    for (const g of [runs[0], runs[2]]) {
      const r = await c.json('POST', `/api/generations/${g.id}/cancel`, {});
      assert.equal(r.status, 200, await r.clone().text());
      assert.equal((await r.json()).generation.status, 'canceled');
    }
    // The second finishes normally; the canceled ones stay canceled, with no outputs.
    const done = await c.waitDone(runs[1].id, 180000);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    // The node drops the running one when its step ends, and the waiting one when a slot frees
    // (or it never got it, if the cancel came before dispatch).
    for (let i = 0; i < 300 && (await metric('image-to-video', 'canceled')) < canceledBefore + 1; i++) await sleep(200);
    const dropped = (await metric('image-to-video', 'canceled')) - canceledBefore;
    assert.ok(dropped >= 1 && dropped <= 2, `the node dropped ${dropped}`);
    assert.equal(await metric('image-to-video', 'completed') >= 1, true);
    for (const g of [runs[0], runs[2]]) {
      const now = (await (await c.req('GET', `/api/generations/${g.id}`)).json()).generation;
      assert.equal(now.status, 'canceled');
      assert.equal(now.outputs.length, 0);
      assert.equal(now.credits_used, 0);
      assert.equal((await c.req('GET', `/api/generations/${g.id}/outputs/0`)).status, 404);
    }
    assert.equal(before - (await balance(c)), done.credits_used, 'only the finished run is charged');
    // What has finished cannot be canceled.
    const again = await c.json('POST', `/api/generations/${runs[0].id}/cancel`, {});
    assert.equal(again.status, 409);
    assert.match((await again.json()).message, /already canceled/);
    const finished = await c.json('POST', `/api/generations/${runs[1].id}/cancel`, {});
    assert.equal(finished.status, 409);
    assert.match((await finished.json()).message, /already completed/);
  });

  test('only the owner can cancel, and only from the app\'s own origin', async () => {
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const g = await slow(a.body.asset.hash);
    const other = await new Client().signUp();
    assert.equal((await other.json('POST', `/api/generations/${g.id}/cancel`, {})).status, 404);
    const csrf = await c.req('POST', `/api/generations/${g.id}/cancel`, { body: '{}', type: 'application/json', headers: { origin: 'http://evil.localhost' } });
    assert.equal(csrf.status, 403);
    assert.equal((await fetch(`${BASE}/api/generations/${g.id}/cancel`, { method: 'POST' })).status, 401);
    assert.equal((await c.json('POST', `/api/generations/${g.id}/cancel`, {})).status, 200);
  });

  test('the node\'s cancel route takes only the edge\'s signature', async () => {
    const path = '/v1/jobs/no-such-job/cancel';
    const unsigned = await fetch(NODE + path, { method: 'POST', body: '{}' });
    assert.equal(unsigned.status, 401);
    const ts = Math.floor(Date.now() / 1000);
    const wrongPath = await fetch(NODE + path, { method: 'POST', body: '{}', headers: { 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', '/v1/jobs/other/cancel', ts, '{}') } });
    assert.equal(wrongPath.status, 401, 'a signature is for one job');
    const ok = await fetch(NODE + path, { method: 'POST', body: '{}', headers: { 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, '{}') } });
    assert.equal(ok.status, 404);
    assert.equal((await ok.json()).error, 'unknown_job');
  });
});
