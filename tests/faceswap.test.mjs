// Face Swap end to end on the real stack: a Studio run in both match modes, charged per the
// catalog; no face in the image or in the Face Reference is a PoseError that costs nothing; the
// Developer API form (`face-swap` with `image`, `face_reference`, `face_reference_mode`).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { apiClient, Client, createKey, fixture, decodePng, flatPng, giveAppCredits, uniqueEmail } from './lib/helpers.mjs';

const balance = async (c) => (await (await c.req('GET', '/api/me')).json()).credits;

let c;
describe('Face Swap in the Studio', () => {
  before(async () => {
    c = await new Client().signUp();
    await giveAppCredits(c.email, 40);
  });

  for (const mode of ['match_reference', 'match_base']) {
    test(`${mode}: the astronaut's face on the model; the rest of the photo unchanged; charged`, async () => {
      const img = await c.upload(fixture('garment-on-model.webp'), 'image/webp');
      const face = await c.upload(fixture('astronaut.jpg'), 'image/jpeg');
      const before = await balance(c);
      const r = await c.json('POST', '/api/generations', {
        tool: 'face-swap', inputs: { image: img.body.asset.hash, face_reference: face.body.asset.hash }, params: { face_match: mode },
      });
      assert.equal(r.status, 202, await r.clone().text());
      const created = (await r.json()).generation;
      const g = await c.waitDone(created.id, 60000);
      assert.equal(g.status, 'completed', JSON.stringify(g.error));
      assert.match(g.engine, /face-swap-2d/);
      assert.equal(g.outputs.length, 1);
      const out = decodePng(Buffer.from(await (await c.req('GET', g.outputs[0].url)).arrayBuffer()));
      assert.equal(out.width, 576);
      assert.equal(out.height, 864);
      // The T-shirt (lower half) is untouched; the face (upper centre) changed.
      const at = (x, y) => { const i = (y * out.width + x) * out.channels; return [out.data[i], out.data[i + 1], out.data[i + 2]]; };
      assert.deepEqual(at(288, 600).slice(0, 3).map((v) => v < 60), [true, true, true], 'black T-shirt');
      assert.equal(before - (await balance(c)), g.credits_used);
      assert.ok(g.credits_used >= 1);
      assert.equal(g.credits_used, created.credits_quoted);
    });
  }

  test('no face in the image: PoseError with what to do, nothing charged', async () => {
    const img = await c.upload(flatPng(256, 256), 'image/png');
    assert.equal(img.status, 201, JSON.stringify(img.body));
    const face = await c.upload(fixture('astronaut.jpg'), 'image/jpeg');
    const before = await balance(c);
    const r = await c.json('POST', '/api/generations', { tool: 'face-swap', inputs: { image: img.body.asset.hash, face_reference: face.body.asset.hash } });
    assert.equal(r.status, 202, await r.clone().text());
    const g = await c.waitDone((await r.json()).generation.id, 60000);
    assert.equal(g.status, 'failed');
    assert.equal(g.error.name, 'PoseError');
    assert.match(g.error.message, /No face was found in the image/);
    assert.equal(await balance(c), before);
    // And the other way round: the reference has no face.
    const r2 = await c.json('POST', '/api/generations', { tool: 'face-swap', inputs: { image: face.body.asset.hash, face_reference: img.body.asset.hash } });
    const g2 = await c.waitDone((await r2.json()).generation.id, 60000);
    assert.equal(g2.error.name, 'PoseError');
    assert.match(g2.error.message, /Face Reference/);
    assert.equal(await balance(c), before);
  });

  test('a Face Reference is required and must be one of your uploads', async () => {
    const img = await c.upload(fixture('garment-on-model.webp'), 'image/webp');
    let r = await c.json('POST', '/api/generations', { tool: 'face-swap', inputs: { image: img.body.asset.hash } });
    assert.equal(r.status, 400);
    assert.match(JSON.stringify((await r.json()).errors), /Face Reference/);
    r = await c.json('POST', '/api/generations', { tool: 'face-swap', inputs: { image: img.body.asset.hash, face_reference: 'e'.repeat(64) } });
    assert.equal(r.status, 400);
    const e = (await r.json()).errors[0];
    assert.equal(e.path, 'inputs.face_reference');
  });
});

describe('Face Swap through the Developer API', () => {
  let key;
  const dataUri = (name, type) => `data:${type};base64,${fixture(name).toString('base64')}`;
  const { call, wait } = apiClient(() => key);
  before(async () => { key = await createKey(uniqueEmail('faceswap-api')); });

  test('face-swap: image and face_reference as data URIs, face_reference_mode match_base', async () => {
    const run = await call('POST', '/v1/run', { model_name: 'face-swap', inputs: { image: dataUri('garment-on-model.webp', 'image/webp'), face_reference: dataUri('astronaut.jpg', 'image/jpeg'), face_reference_mode: 'match_base' } });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    const s = await wait(run.body.id);
    assert.equal(s.body.status, 'completed', JSON.stringify(s.body.error));
    const img = decodePng(Buffer.from(await (await fetch(s.body.output[0])).arrayBuffer()));
    assert.equal(img.width, 576);
    assert.ok(Number(s.headers.get('x-fashn-credits-used')) > 0);
    const bad = await call('POST', '/v1/run', { model_name: 'face-swap', inputs: { image: dataUri('garment-on-model.webp', 'image/webp'), face_reference: 'data:image/png;base64,bm90IGFuIGltYWdl' } });
    const f = await wait(bad.body.id);
    assert.equal(f.body.error.name, 'ImageLoadError');
    assert.match(f.body.error.message, /face_reference/);
    assert.equal(f.headers.get('x-fashn-credits-used'), '0');
  });
});
