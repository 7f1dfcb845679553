// The AI Assistant's planner behind `POST /api/assistant/plan`: a message and how many images
// it attaches → the plan (steps as /v1/run bodies with references, their App price, whether
// it waits for a confirmation), an answer, a question or a refusal. A planned chain runs as
// Studio generations, each on the output before it. Bad bodies name the field.
// The conversation (`/api/assistant/messages`): a message is planned against the stored turns
// and its chain runs on the server, step after step, as Studio generations; a plan above the
// confirmation amount waits for its confirm; a step that cannot start ends the turn with the
// reason and charges nothing.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, Client, createKey, fixture, giveAppCredits, setPlan, sha256 } from './lib/helpers.mjs';

let c;
const plan = async (client, body) => {
  const r = await client.json('POST', '/api/assistant/plan', body);
  return { status: r.status, body: await r.json() };
};

describe('Assistant planner', () => {
  before(async () => {
    c = await new Client().signUp();
  });

  test('the Quick Start message plans Product to Model with the attached product', async () => {
    const r = await plan(c, { message: 'show this t-shirt on a male Turkish model', images: 1 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.kind, 'run');
    assert.deepEqual(r.body.steps, [
      { model_name: 'product-to-model', inputs: { product_image: '$image:0', prompt: 'male turkish model' } },
    ]);
    assert.deepEqual(r.body.tools, ['product-to-model']);
    assert.ok(r.body.credits >= 1 && r.body.reply.includes('credit'), r.body.reply);
    assert.equal(r.body.confirm, false);
  });

  test('a chain runs as Studio generations, each on the one before', async () => {
    await giveAppCredits(c.email, 10);
    const r = await plan(c, { message: 'remove the background, then upscale it 2x', images: 1 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(r.body.steps.map((s) => s.model_name), ['background-remove', 'upscale']);
    assert.equal(r.body.steps[0].inputs.image, '$image:0');
    assert.equal(r.body.steps[1].inputs.image, '$step:0');
    assert.equal(r.body.steps[1].inputs.factor, '2x');
    // Run it as the app does: the attached image, then step 0's output as step 1's input.
    const img = (await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset;
    const first = await c.json('POST', '/api/generations', { tool: r.body.tools[0], inputs: { image: img.hash } });
    assert.equal(first.status, 202, await first.clone().text());
    const g0 = await c.waitDone((await first.json()).generation.id);
    assert.equal(g0.status, 'completed');
    const carried = await c.json('POST', '/api/assets/from-output', { generation_id: g0.id, index: 0 });
    assert.equal(carried.status, 201, await carried.clone().text());
    const second = await c.json('POST', '/api/generations', {
      tool: r.body.tools[1],
      inputs: { image: (await carried.json()).asset.hash },
      params: { factor: r.body.steps[1].inputs.factor },
    });
    assert.equal(second.status, 202, await second.clone().text());
    const g1 = await c.waitDone((await second.json()).generation.id);
    assert.equal(g1.status, 'completed');
  });

  test('follow-ups use the conversation; "again" reruns the last step on the same inputs', async () => {
    const history = [{
      message: 'put this on a model',
      images: 1,
      steps: [{ model_name: 'product-to-model', inputs: { product_image: '$image:0' } }],
    }];
    let r = await plan(c, { message: 'now make a 10 second video of it in 1080p', images: 0, history });
    assert.equal(r.body.kind, 'run', JSON.stringify(r.body));
    assert.deepEqual(r.body.steps[0].inputs, { image: '$last', duration: 10, resolution: '1080p' });
    assert.equal(r.body.credits, 12);
    assert.equal(r.body.confirm, true, 'more than 10 credits waits for a confirmation');
    r = await plan(c, { message: 'again', history });
    assert.deepEqual(r.body.steps[0].inputs, { product_image: '$upload:0' });
    assert.deepEqual(r.body.refs, { images: 0, results: 1, uploads: 1 });
  });

  test('questions are answered, out-of-scope requests refused, missing images asked for', async () => {
    let r = await plan(c, { message: 'how much is a 5 second video at 720p?' });
    assert.equal(r.body.kind, 'answer');
    assert.match(r.body.reply, /3 credits/);
    r = await plan(c, { message: 'use the image at https://127.0.0.1/dress.jpg' });
    assert.equal(r.body.kind, 'refusal');
    assert.match(r.body.reply, /web/);
    r = await plan(c, { message: 'upgrade me to the agency plan' });
    assert.equal(r.body.kind, 'refusal');
    r = await plan(c, { message: 'put it on a model' });
    assert.equal(r.body.kind, 'question');
    assert.match(r.body.question, /Attach/);
    assert.deepEqual(r.body.steps, []);
  });

  test('bad bodies name the field; signed-out callers are refused', async () => {
    let r = await plan(c, { message: 'x'.repeat(4001) });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors.map((e) => e.path), ['message']);
    r = await plan(c, { message: 'upscale', images: 99 });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors.map((e) => e.path), ['images']);
    r = await plan(c, { message: '', images: 0 });
    assert.equal(r.status, 400);
    r = await plan(c, { message: 'upscale', images: 'two' });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'invalid_json');
    r = await plan(new Client(), { message: 'upscale', images: 1 });
    assert.equal(r.status, 401);
  });

  test('a developer plans with an API key; a wrong key is refused', async () => {
    const key = await createKey(c.email);
    const call = async (k) => fetch(`${BASE}/api/assistant/plan`, {
      method: 'POST',
      headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' },
      body: JSON.stringify({ message: 'remove the background and upscale it 4x', images: 1 }),
    });
    let r = await call(key);
    assert.equal(r.status, 200);
    const b = await r.json();
    assert.deepEqual(b.steps.map((s) => s.model_name), ['background-remove', 'upscale']);
    r = await call('not-a-key');
    assert.equal(r.status, 401);
  });
});

/** Polls the conversation until turn `id` is no longer running. */
async function settled(client, id, timeoutMs = 90000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const r = await client.req('GET', '/api/assistant/messages');
    assert.equal(r.status, 200);
    const t = (await r.json()).messages.find((m) => m.id === id);
    assert.ok(t, `turn ${id} is in the conversation`);
    if (t.status !== 'running') return t;
    if (Date.now() > end) throw new Error(`turn ${id} still running: ${JSON.stringify(t)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('Assistant conversation', () => {
  let u;
  let photo;
  const say = async (client, body) => {
    const r = await client.json('POST', '/api/assistant/messages', body);
    return { status: r.status, body: await r.json() };
  };
  before(async () => {
    u = await new Client().signUp();
    await giveAppCredits(u.email, 20);
    photo = (await u.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset;
  });

  test('a two-step chain runs on the server, each step on the result before it, and is charged per step', async () => {
    const before = (await (await u.req('GET', '/api/me')).json()).credits;
    const r = await say(u, { message: 'remove the background, then upscale it 2x', images: [photo.hash] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const m = r.body.message;
    assert.equal(m.status, 'running');
    assert.deepEqual(m.images, [photo.hash]);
    assert.deepEqual(m.steps.map((s) => s.tool), ['background-remove', 'upscale']);
    assert.equal(m.steps[0].generation.inputs.image, photo.hash, 'step 1 runs on the attached image');
    assert.equal(m.steps[1].generation, null, 'step 2 waits for step 1');
    const t = await settled(u, m.id);
    assert.equal(t.status, 'completed', JSON.stringify(t));
    const [g0, g1] = t.steps.map((s) => s.generation);
    assert.equal(g0.status, 'completed');
    assert.equal(g1.status, 'completed');
    assert.equal(g1.params.factor, '2x');
    // Step 2's input is step 1's output, carried into the user's assets.
    const out0 = Buffer.from(await (await u.req('GET', g0.outputs[0].url)).arrayBuffer());
    assert.equal(g1.inputs.image, sha256(out0));
    // Both are ordinary Studio generations: in history, charged.
    const hist = (await (await u.req('GET', '/api/generations')).json()).generations.map((g) => g.id);
    assert.ok(hist.includes(g0.id) && hist.includes(g1.id));
    const after = (await (await u.req('GET', '/api/me')).json()).credits;
    assert.equal(before - after, t.steps.reduce((a, s) => a + s.credits, 0), 'each step charged its price');
  });

  test('a follow-up works on the latest result; "the first one" reaches an older one', async () => {
    let r = await say(u, { message: 'reframe it to 9:16' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    let t = await settled(u, r.body.message.id);
    assert.equal(t.status, 'completed', JSON.stringify(t));
    const list = (await (await u.req('GET', '/api/assistant/messages')).json()).messages;
    const chain = list.find((m) => m.steps.length === 2);
    const upscaled = chain.steps[1].generation;
    const out = Buffer.from(await (await u.req('GET', upscaled.outputs[0].url)).arrayBuffer());
    assert.equal(t.steps[0].generation.inputs.image, sha256(out), '"it" is the latest result');
    assert.equal(t.steps[0].generation.params.aspect_ratio, '9:16');
  });

  test('a plan above the confirmation amount waits; dismiss sets it aside, confirm runs it', async () => {
    const r = await say(u, { message: 'make a 10 second video of it in 1080p' });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const m = r.body.message;
    assert.equal(m.status, 'waiting', JSON.stringify(m));
    assert.equal(m.confirm, true);
    assert.equal(m.credits, 12);
    assert.equal(m.steps[0].generation, null, 'nothing ran');
    const d = await u.json('POST', `/api/assistant/messages/${m.id}/dismiss`, {});
    assert.equal(d.status, 200);
    assert.equal((await d.json()).message.status, 'dismissed');
    const again = await u.json('POST', `/api/assistant/messages/${m.id}/confirm`, {});
    assert.equal(again.status, 409, 'a dismissed plan cannot be confirmed');
    assert.match((await again.json()).message, /dismissed/);
  });

  test('a step that cannot start ends the turn with the reason; only the steps that ran are charged', async () => {
    const poor = await new Client().signUp();
    // On Pro (1080p is allowed) but with 10 credits left: the video's 12 credits cannot be held.
    await setPlan(poor.email, { plan: 'pro' });
    await giveAppCredits(poor.email, 10);
    const img = (await poor.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset;
    const credits = async () => (await (await poor.req('GET', '/api/me')).json()).credits;
    const before = await credits();
    assert.equal(before, 10);
    const r = await say(poor, { message: 'upscale this 4x and then make a 10 second 1080p video of it', images: [img.hash] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.message.status, 'waiting');
    assert.deepEqual(r.body.message.steps.map((s) => s.tool), ['upscale', 'image-to-video']);
    const c = await poor.json('POST', `/api/assistant/messages/${r.body.message.id}/confirm`, {});
    assert.equal(c.status, 200);
    const t = await settled(poor, r.body.message.id);
    assert.equal(t.status, 'failed', JSON.stringify(t));
    assert.equal(t.steps[0].generation.status, 'completed');
    assert.match(t.error, /^Step 2 of 2, Image to Video \(10 s, 1080p\), could not start: .*credit/i);
    assert.match(t.error, /nothing was charged for them/);
    assert.equal(t.steps[1].generation, null);
    assert.equal(before - await credits(), t.steps[0].credits, 'only the step that ran was charged');
  });

  test('bad messages name the field; another account cannot see or confirm a turn', async () => {
    let r = await say(u, { message: 'upscale this', images: ['0'.repeat(64)] });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors.map((e) => e.path), ['images[0]']);
    r = await say(u, { message: 'upscale this', images: Array(9).fill(photo.hash) });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors.map((e) => e.path), ['images']);
    r = await say(u, { message: '   ', images: [] });
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors.map((e) => e.path), ['message']);
    r = await say(u, { message: 'how much is a 5 second video at 720p?' });
    assert.equal(r.status, 201);
    assert.equal(r.body.message.status, 'answered');
    const other = await new Client().signUp();
    const list = (await (await other.req('GET', '/api/assistant/messages')).json()).messages;
    assert.deepEqual(list, [], 'a new account has an empty conversation');
    const c = await other.json('POST', `/api/assistant/messages/${r.body.message.id}/confirm`, {});
    assert.equal(c.status, 404);
    const mine = await u.json('POST', `/api/assistant/messages/${r.body.message.id}/confirm`, {});
    assert.equal(mine.status, 409, 'an answer is not a plan to confirm');
    assert.equal((await new Client().req('GET', '/api/assistant/messages')).status, 401);
  });
});
