// The AI Assistant's planner behind `POST /api/assistant/plan`: a message and how many images
// it attaches → the plan (steps as /v1/run bodies with references, their App price, whether
// it waits for a confirmation), an answer, a question or a refusal. A planned chain runs as
// Studio generations, each on the output before it. Bad bodies name the field.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { Client, fixture, giveAppCredits } from './lib/helpers.mjs';

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
});
