// The inference node refuses anything but a fresh, correctly signed job, used once.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { NODE, SECRET, signRequest } from './lib/helpers.mjs';

const job = (id) => JSON.stringify({
  job_id: id, tool: 'background-remove',
  options: { tool: 'background-remove', outputs: 1, face_reference: false, background: { background: 'transparent' } },
  inputs: [{ name: 'image', url: 'http://127.0.0.1:9/nothing-listens-here' }],
  outputs: [{ index: 0, upload_url: 'http://127.0.0.1:9/out' }],
  callback_url: 'http://127.0.0.1:9/cb', attempt: 1,
});

async function post(body, headers) {
  const r = await fetch(`${NODE}/v1/jobs`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: r.status, body: await r.json().catch(() => null) };
}

const signed = (body, secret = SECRET, ts = Math.floor(Date.now() / 1000)) => ({
  'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(secret, 'POST', '/v1/jobs', ts, body),
});

describe('inference node', () => {
  test('health and capabilities', async () => {
    assert.equal((await fetch(`${NODE}/healthz`)).status, 200);
    const caps = await (await fetch(`${NODE}/v1/capabilities`)).json();
    const bg = caps.tools.find((t) => t.tool === 'background-remove');
    assert.equal(bg.available, true);
    assert.ok(caps.tools.filter((t) => !t.available).every((t) => t.reason), 'unavailable tools say why');
  });

  test('an unsigned job is refused', async () => {
    const r = await post(job('unsigned'), {});
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'bad_signature');
  });

  test('a forged signature is refused', async () => {
    const r = await post(job('forged'), signed(job('forged'), 'an attacker secret'));
    assert.equal(r.status, 401);
    assert.match(r.body.message, /does not match/);
  });

  test('a signature over another body is refused', async () => {
    const r = await post(job('tampered'), signed(job('original')));
    assert.equal(r.status, 401);
  });

  test('an expired timestamp is refused', async () => {
    const old = Math.floor(Date.now() / 1000) - 3600;
    const r = await post(job('old'), signed(job('old'), SECRET, old));
    assert.equal(r.status, 401);
    assert.equal(r.body.error, 'expired_signature');
  });

  test('a replayed request is refused, and a job id runs once', async () => {
    const body = job(`replay-${Date.now()}`);
    const headers = signed(body);
    assert.equal((await post(body, headers)).status, 202);
    const again = await post(body, headers);
    assert.equal(again.status, 401);
    assert.equal(again.body.error, 'replayed_signature');
    await new Promise((r) => setTimeout(r, 1100));
    const redelivered = await post(body, signed(body));
    assert.equal(redelivered.status, 200, 'a fresh signature for the same job id is a duplicate delivery');
    assert.equal(redelivered.body.duplicate, true);
  });

  test('a malformed job with a valid signature is a 400', async () => {
    const body = '{"job_id": 5}';
    const r = await post(body, signed(body));
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'bad_job');
    assert.equal((await fetch(`${NODE}/healthz`)).status, 200, 'still serving');
  });

  test('a tool without an engine is refused, never run by another engine', async () => {
    const caps = await (await fetch(`${NODE}/v1/capabilities`)).json();
    const p2m = caps.tools.find((t) => t.tool === 'product-to-model');
    assert.equal(p2m.available, false, 'this node has no generative engine');
    // Capabilities say up to what: Try-On delivers at most 2K, Image to Video 1080p.
    assert.equal(caps.tools.find((t) => t.tool === 'try-on').max_resolution, '2k');
    assert.equal(caps.tools.find((t) => t.tool === 'image-to-video').max_video_resolution, '1080p');
    const generative = JSON.stringify({
      job_id: `p2m-${Date.now()}`, tool: 'product-to-model',
      options: { tool: 'product-to-model', outputs: 1, resolution: '1k', mode: 'fast', aspect_ratio: null, face_match: null },
      inputs: [{ name: 'image', url: 'http://127.0.0.1:9/nothing-listens-here' }],
      outputs: [{ index: 0, upload_url: 'http://127.0.0.1:9/out' }],
      callback_url: 'http://127.0.0.1:9/cb', attempt: 1,
    });
    let r = await post(generative, signed(generative));
    assert.equal(r.status, 422);
    assert.equal(r.body.error, 'unsupported_job');
    assert.match(r.body.message, /Product to Model has none here/);
    // A generative tool dressed in Background Remove's options is refused too.
    const disguised = JSON.stringify({ ...JSON.parse(job(`disguised-${Date.now()}`)), tool: 'product-to-model' });
    r = await post(disguised, signed(disguised));
    assert.equal(r.status, 422);
    assert.match(r.body.message, /options are background-remove's, not product-to-model's/);
    assert.equal((await fetch(`${NODE}/healthz`)).status, 200, 'still serving');
  });
});
