// The inference node is killed (SIGKILL, no goodbye) in the middle of a job. The edge hears
// nothing more; after JOB_STALE_SECS (15 s in this stage, 10 minutes by default) the job reads
// as timed out, its hold is released and nothing is charged. Runs with ATELIER_INFERENCE_PID.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, fixture } from '../lib/helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('a job whose node is killed mid-run ends timed out, and costs nothing', async () => {
  const pid = Number(process.env.ATELIER_INFERENCE_PID);
  assert.ok(pid > 0, 'ATELIER_INFERENCE_PID is set by cargo xtask test');
  const c = await new Client().signUp();
  const credits = async () => (await (await c.req('GET', '/api/me')).json()).credits;
  const before = await credits();
  const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
  const r = await c.json('POST', '/api/generations', { tool: 'upscale', inputs: { image: a.body.asset.hash }, params: { factor: '4x' } });
  assert.equal(r.status, 202);
  const id = (await r.json()).generation.id;
  assert.equal(await credits(), before - 1, 'held while it runs');
  // Kill the node as soon as it reports the job running.
  for (let i = 0; ; i++) {
    const g = await c.generation(id);
    if (g.status === 'processing') break;
    assert.ok(!['completed', 'failed'].includes(g.status) && i < 400, `the job ended before the kill: ${g.status}`);
    await sleep(25);
  }
  process.kill(pid, 'SIGKILL');
  const t = Date.now();
  let g;
  for (;;) {
    g = await c.generation(id);
    if (['completed', 'failed', 'canceled', 'time_out'].includes(g.status)) break;
    assert.ok(Date.now() - t < 60000, `still ${g.status} a minute after the kill`);
    await sleep(500);
  }
  assert.equal(g.status, 'time_out', JSON.stringify(g.error));
  assert.match(g.error.message, /did not finish in time. Nothing was charged/);
  assert.deepEqual(g.outputs, []);
  assert.equal(g.credits_used ?? 0, 0);
  assert.equal(await credits(), before, 'the hold was released');
  assert.equal((await c.req('GET', '/api/me')).status, 200, 'the edge keeps serving');
});
