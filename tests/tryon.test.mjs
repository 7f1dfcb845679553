// Try-On (the 2D engine) end to end on the real stack: a Studio run puts the black T-shirt of
// an on-model product photo on the seated model, 2 variants, charged what was quoted; no person
// in the model image is a PoseError that costs nothing; the Developer API's tryon-v1.6
// (`garment_image`) and tryon-max (`product_image`).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { apiClient, Client, createKey, fixture, decodePng, flatPng, giveAppCredits, uniqueEmail } from './lib/helpers.mjs';

const balance = async (c) => (await (await c.req('GET', '/api/me')).json()).credits;
// The chest of the model in model-photo-512.jpg (white T-shirt), from its pose.
const CHEST = [324, 303];
const lumaAt = (img, [x, y]) => {
  let s = 0;
  for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) {
    const i = ((y + dy) * img.width + x + dx) * img.channels;
    s += 0.299 * img.data[i] + 0.587 * img.data[i + 1] + 0.114 * img.data[i + 2];
  }
  return s / 25;
};

let c;
describe('Try-On in the Studio', () => {
  before(async () => {
    c = await new Client().signUp();
    await giveAppCredits(c.email, 60);
  });

  test('the black T-shirt on the seated model: 2 variants, the 2D engine named, charged as quoted', async () => {
    const model = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const product = await c.upload(fixture('garment-on-model.webp'), 'image/webp');
    const before = await balance(c);
    const r = await c.json('POST', '/api/generations', {
      tool: 'try-on', inputs: { image: model.body.asset.hash, product_image: product.body.asset.hash }, params: { num_images: 2 },
    });
    assert.equal(r.status, 202, await r.clone().text());
    const created = (await r.json()).generation;
    const g = await c.waitDone(created.id, 90000);
    assert.equal(g.status, 'completed', JSON.stringify(g.error));
    assert.match(g.engine, /^tryon-2d: .*\(tops, on-model product photo\)/);
    assert.equal(g.outputs.length, 2);
    for (const o of g.outputs) {
      const out = decodePng(Buffer.from(await (await c.req('GET', o.url)).arrayBuffer()));
      assert.equal(out.width, 512);
      assert.equal(out.height, 768);
      assert.ok(lumaAt(out, CHEST) < 80, `the chest is the black T-shirt now (${lumaAt(out, CHEST)})`);
    }
    assert.equal(g.credits_used, created.credits_quoted);
    assert.equal(before - (await balance(c)), g.credits_used);
  });

  test('no person in the model image: PoseError saying what to use, nothing charged', async () => {
    const img = await c.upload(flatPng(300, 400), 'image/png');
    const product = await c.upload(fixture('garment-on-model.webp'), 'image/webp');
    const before = await balance(c);
    const r = await c.json('POST', '/api/generations', { tool: 'try-on', inputs: { image: img.body.asset.hash, product_image: product.body.asset.hash } });
    assert.equal(r.status, 202, await r.clone().text());
    const g = await c.waitDone((await r.json()).generation.id, 60000);
    assert.equal(g.status, 'failed');
    assert.equal(g.error.name, 'PoseError');
    assert.match(g.error.message, /No person was found in the model image/);
    assert.equal(await balance(c), before);
  });

  test('a product image is required and must be one of your uploads', async () => {
    const model = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    let r = await c.json('POST', '/api/generations', { tool: 'try-on', inputs: { image: model.body.asset.hash } });
    assert.equal(r.status, 400);
    assert.match(JSON.stringify((await r.json()).errors), /[Pp]roduct/);
    r = await c.json('POST', '/api/generations', { tool: 'try-on', inputs: { image: model.body.asset.hash, product_image: 'e'.repeat(64) } });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'inputs.product_image');
  });
});

describe('Try-On through the Developer API', () => {
  let key;
  const dataUri = (name, type) => `data:${type};base64,${fixture(name).toString('base64')}`;
  const { call, wait } = apiClient(() => key);
  before(async () => { key = await createKey(uniqueEmail('tryon-api')); });

  test('tryon-v1.6 with garment_image, and tryon-max with product_image', async () => {
    for (const [model_name, field] of [['tryon-v1.6', 'garment_image'], ['tryon-max', 'product_image']]) {
      const run = await call('POST', '/v1/run', { model_name, inputs: { model_image: dataUri('model-photo-512.jpg', 'image/jpeg'), [field]: dataUri('garment-on-model.webp', 'image/webp'), category: model_name === 'tryon-v1.6' ? 'tops' : undefined } });
      assert.equal(run.status, 200, JSON.stringify(run.body));
      const s = await wait(run.body.id);
      assert.equal(s.body.status, 'completed', `${model_name}: ${JSON.stringify(s.body.error)}`);
      const img = decodePng(Buffer.from(await (await fetch(s.body.output[0])).arrayBuffer()));
      assert.equal(img.width, 512);
      assert.ok(lumaAt(img, CHEST) < 80, model_name);
      assert.ok(Number(s.headers.get('x-fashn-credits-used')) >= 1);
    }
  });

  test('a broken garment_image is an ImageLoadError naming the field; nothing charged', async () => {
    const bad = await call('POST', '/v1/run', { model_name: 'tryon-v1.6', inputs: { model_image: dataUri('model-photo-512.jpg', 'image/jpeg'), garment_image: 'data:image/png;base64,bm90IGFuIGltYWdl' } });
    const f = await wait(bad.body.id);
    assert.equal(f.body.error.name, 'ImageLoadError');
    assert.match(f.body.error.message, /garment_image/);
    assert.equal(f.headers.get('x-fashn-credits-used'), '0');
  });
});
