// POST /api/quote: core's prices and validation, exposed without a session.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { BASE } from './lib/helpers.mjs';

const quote = async (body, type = 'application/json') => {
  const r = await fetch(`${BASE}/api/quote`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': type } });
  return { status: r.status, body: await r.json() };
};
const U = 'https://example.com/a.jpg';

describe('POST /api/quote', () => {
  test('the documented app examples', async () => {
    let r = await quote({ surface: 'app', model_name: 'product-to-model', plan: 'agency', inputs: { product_image: U, face_reference: U, resolution: '1k', num_images: 2 } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.credits, 6, '(1 + 2) x 2 = 6');
    assert.deepEqual(r.body.breakdown.map((l) => l.credits), [1, 2, 3]);
    r = await quote({ surface: 'app', model_name: 'model-swap', inputs: { model_image: U, resolution: '2k', generation_mode: 'quality', num_images: 4 } });
    assert.equal(r.body.credits, 8, '2 x 4 = 8');
    r = await quote({ surface: 'app', model_name: 'image-to-video', inputs: { image: U, duration: 10, resolution: '720p' } });
    assert.equal(r.body.credits, 6, '720p for 10 seconds: 6');
  });

  test('API prices differ from app prices', async () => {
    const inputs = { model_image: U, face_reference: U, resolution: '2k', generation_mode: 'quality', num_images: 2 };
    assert.equal((await quote({ surface: 'api', model_name: 'model-swap', inputs })).body.credits, 14, '(4 + 3) x 2');
    assert.equal((await quote({ surface: 'app', model_name: 'model-swap', inputs })).body.credits, 8, '(2 + 2) x 2');
    assert.equal((await quote({ surface: 'api', model_name: 'tryon-v1.6', inputs: { model_image: U, garment_image: U, num_samples: 4 } })).body.credits, 4);
    assert.equal((await quote({ surface: 'app', model_name: 'background-remove', inputs: { image: U } })).body.credits, 1);
  });

  test('auto settings resolve from inputs.width and inputs.height', async () => {
    const r = await quote({ surface: 'api', model_name: 'edit', inputs: { image: U, prompt: 'red dress', width: 4000, height: 3000 } });
    assert.equal(r.body.resolved.resolution, '4k');
    assert.equal(r.body.resolved.mode, 'balanced');
    assert.equal(r.body.credits, 4);
  });

  test('plan gates and every validation problem, in the app shape', async () => {
    const r = await quote({ surface: 'app', model_name: 'image-to-video', plan: 'basic', inputs: { image: U, end_image: U, resolution: '480p', duration: 7 } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'validation_failed');
    assert.deepEqual(r.body.errors.map((e) => e.path), ['inputs.duration']);
    const r2 = await quote({ surface: 'app', model_name: 'image-to-video', plan: 'basic', inputs: { image: U, end_image: U, resolution: '480p' } });
    assert.deepEqual(r2.body.errors.map((e) => e.message), ['End Image is available on Pro and higher.', 'End Image requires 1080p.']);
  });

  test('API errors keep FASHN\'s shape', async () => {
    const r = await quote({ surface: 'api', model_name: 'reframe', inputs: { image: 'nope' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'BadRequest');
    assert.match(r.body.message, /inputs\.image/);
    assert.match(r.body.message, /inputs\.aspect_ratio/);
  });

  test('bad bodies', async () => {
    assert.equal((await quote({ model_name: 'edit' })).body.errors[0].path, 'surface');
    assert.equal((await quote({ surface: 'app', model_name: 'teleport' })).body.errors[0].code, 'unknown_model');
    assert.equal((await quote('{"surface":', 'application/json')).status, 400);
    assert.equal((await quote('surface=app', 'text/plain')).status, 415);
  });
});
