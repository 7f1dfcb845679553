// Runs with the inference node stopped: dispatch fails, the queue retries it (4 retries), the
// dead-letter queue's consumer marks the generation failed. Nothing is left running forever,
// no output exists, and the edge keeps serving.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, fixture } from '../lib/helpers.mjs';

test('a job no node can take ends failed through retries and the dead-letter queue', async () => {
  const c = await new Client().signUp();
  const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
  assert.equal(a.status, 201);
  const r = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: a.body.asset.hash } });
  assert.equal(r.status, 202);
  const g = await c.waitDone((await r.json()).generation.id, 90000);
  assert.equal(g.status, 'failed');
  assert.equal(g.error.name, 'InternalServerError');
  assert.match(g.error.message, /No inference node could take the job/);
  assert.deepEqual(g.outputs, []);
  assert.equal(g.credits_used, 0, 'a failed generation costs nothing');
  assert.equal((await c.req('GET', `/api/generations/${g.id}/outputs/0`)).status, 404);
  assert.equal((await c.req('GET', '/api/me')).status, 200, 'still serving');
});

test('with no node, every tool is listed unavailable with the reason', async () => {
  const c = await new Client().signUp();
  const caps = await (await c.req('GET', '/api/capabilities')).json();
  assert.equal(caps.tools.length, 12);
  for (const t of caps.tools) {
    assert.equal(t.available, false, t.tool);
    assert.match(t.reason, /not reachable/);
  }
});
