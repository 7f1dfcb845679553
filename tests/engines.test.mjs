// Packshot and Image to Video end to end on the real stack: Studio bodies with their generic
// options and reference images, 1–4 outputs, MP4 outputs checked by the edge, the Developer API
// forms, and the bad inputs a user would send (nothing charged for what fails).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, apiClient, SECRET, Client, createKey, fixture, decodePng, flatPng, giveAppCredits, setPlan, signUrl, uniqueEmail } from './lib/helpers.mjs';

const balance = async (c) => (await (await c.req('GET', '/api/me')).json()).credits;

/** Top-level MP4 boxes, in order, and the first track's tkhd size. */
function mp4(buf) {
  const boxes = [];
  for (let at = 0; at + 8 <= buf.length;) {
    const size = buf.readUInt32BE(at);
    boxes.push(buf.toString('latin1', at + 4, at + 8));
    if (size < 8) break;
    at += size;
  }
  const t = buf.indexOf('tkhd', 0, 'latin1');
  const end = t - 4 + buf.readUInt32BE(t - 4);
  return { boxes, width: buf.readUInt32BE(end - 8) >> 16, height: buf.readUInt32BE(end - 4) >> 16 };
}

let c;
describe('Packshot and Image to Video in the Studio', () => {
  before(async () => {
    c = await new Client().signUp();
    // An End Image and 1080p are Pro features.
    await setPlan(c.email, { plan: 'pro' });
    await giveAppCredits(c.email, 60);
  });

  test('packshot: 2 variants at 4:5, 1K, on light grey; each output a PNG of that ratio; charged per output', async () => {
    const a = await c.upload(fixture('garment-on-model.webp'), 'image/webp');
    const before = await balance(c);
    const r = await c.json('POST', '/api/generations', {
      tool: 'packshot', inputs: { image: a.body.asset.hash },
      params: { prompt: 'on light grey', num_images: 2, aspect_ratio: '4:5', resolution: '1k', generation_mode: 'fast' },
    });
    assert.equal(r.status, 202, await r.clone().text());
    const created = (await r.json()).generation;
    const g = await c.waitDone(created.id, 120000);
    assert.equal(g.status, 'completed', JSON.stringify(g.error));
    assert.match(g.engine, /packshot/);
    assert.equal(g.outputs.length, 2);
    const hashes = new Set();
    for (const o of g.outputs) {
      assert.equal(o.content_type, 'image/png');
      const buf = Buffer.from(await (await c.req('GET', o.url)).arrayBuffer());
      hashes.add(buf.toString('base64').slice(-200));
      const img = decodePng(buf);
      assert.ok(Math.abs(img.width / img.height - 0.8) < 0.01, `${img.width}×${img.height}`);
      assert.ok(Math.abs(img.width * img.height / (1024 * 1024) - 1) < 0.1, `${img.width}×${img.height} is about 1 MP`);
    }
    assert.equal(hashes.size, 2, 'the variants differ');
    assert.equal(before - (await balance(c)), g.credits_used);
    assert.equal(g.credits_used, created.credits_quoted, 'both outputs delivered, both charged');
  });

  test('packshot refuses what is not an option of it, naming the field', async () => {
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const before = await balance(c);
    let r = await c.json('POST', '/api/generations', { tool: 'packshot', inputs: { image: a.body.asset.hash }, params: { num_images: 9, aspect_ratio: '21:9', duration: '5' } });
    assert.equal(r.status, 400);
    const paths = (await r.json()).errors.map((e) => e.path);
    assert.deepEqual(paths, ['params.duration', 'params.aspect_ratio']);
    r = await c.json('POST', '/api/generations', { tool: 'packshot', inputs: { image: a.body.asset.hash }, params: { num_images: 9 } });
    assert.equal(r.status, 400);
    assert.match((await r.json()).errors[0].message, /Number of outputs must be 1 to 4/);
    r = await c.json('POST', '/api/generations', { tool: 'packshot', inputs: { image: a.body.asset.hash, image_context: 'f'.repeat(64) } });
    assert.equal(r.status, 400);
    const e = (await r.json()).errors[0];
    assert.equal(e.path, 'inputs.image_context');
    assert.match(e.message, /Image Context is not among your uploads/);
    assert.equal(await balance(c), before, 'nothing held or charged for refused bodies');
  });

  test('packshot of a photo with no product fails with InputValidationError and costs nothing', async () => {
    // A flat grey square: nothing to isolate.
    const a = await c.upload(flatPng(256, 256), 'image/png');
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const before = await balance(c);
    const r = await c.json('POST', '/api/generations', { tool: 'packshot', inputs: { image: a.body.asset.hash } });
    const g = await c.waitDone((await r.json()).generation.id, 60000);
    assert.equal(g.status, 'failed');
    assert.equal(g.error.name, 'InputValidationError');
    assert.ok(g.error.message.length > 20, g.error.message);
    assert.equal(await balance(c), before);
  });

  test('image to video: 5 s at 480p is an H.264 MP4 the edge checked, served as video/mp4', async () => {
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const r = await c.json('POST', '/api/generations', { tool: 'image-to-video', inputs: { image: a.body.asset.hash }, params: { duration: '5', video_resolution: '480p' } });
    assert.equal(r.status, 202, await r.clone().text());
    const g = await c.waitDone((await r.json()).generation.id, 180000);
    assert.equal(g.status, 'completed', JSON.stringify(g.error));
    assert.equal(g.outputs.length, 1);
    const o = g.outputs[0];
    assert.equal(o.content_type, 'video/mp4');
    const resp = await c.req('GET', o.url);
    assert.equal(resp.headers.get('content-type'), 'video/mp4');
    const buf = Buffer.from(await resp.arrayBuffer());
    const m = mp4(buf);
    assert.equal(m.boxes[0], 'ftyp');
    assert.ok(m.boxes.indexOf('moov') >= 0 && m.boxes.indexOf('mdat') >= 0, m.boxes.join(','));
    assert.deepEqual([m.width, m.height], [o.width, o.height]);
    assert.equal(Math.min(o.width, o.height), 480, `${o.width}×${o.height}`);
    assert.ok(buf.includes(Buffer.from('avc1')), 'H.264 sample entry');
    // Downloaded and stored with its real extension: .mp4, not .png.
    const dl = await c.req('GET', `${o.url}?download=1`);
    assert.match(dl.headers.get('content-disposition'), new RegExp(`^attachment; filename="atelier-image-to-video-${g.id.replace(/[^a-z0-9]/gi, '').slice(0, 8)}-0\\.mp4"$`));
    const blob = async (key) => {
      const exp = Math.floor(Date.now() / 1000) + 60;
      const path = `/api/blobs/${key}`;
      return (await fetch(`${BASE}${path}?exp=${exp}&sig=${signUrl(SECRET, 'GET', path, exp)}`)).status;
    };
    assert.equal(await blob(`outputs/${g.id}/0.mp4`), 200, 'the R2 key ends in .mp4');
    assert.equal(await blob(`outputs/${g.id}/0.png`), 404, 'no .png key for a video');
  });

  test('image to video: an End Image, and a prompt it cannot honour says which motions it can', async () => {
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const e = await c.upload(fixture('garment-on-model.webp'), 'image/webp');
    const before = await balance(c);
    let r = await c.json('POST', '/api/generations', { tool: 'image-to-video', inputs: { image: a.body.asset.hash }, params: { prompt: 'the model walks towards the camera and waves', video_resolution: '480p' } });
    let g = await c.waitDone((await r.json()).generation.id, 60000);
    assert.equal(g.status, 'failed');
    assert.equal(g.error.name, 'InputValidationError');
    assert.match(g.error.message, /zoom|pan/i);
    assert.equal(await balance(c), before, 'a refused motion costs nothing');
    r = await c.json('POST', '/api/generations', { tool: 'image-to-video', inputs: { image: a.body.asset.hash, end_image: e.body.asset.hash }, params: { video_resolution: '480p' } });
    assert.equal(r.status, 400, 'End Image needs 1080p in the Studio');
    assert.match((await r.json()).errors[0].message, /1080p/);
    r = await c.json('POST', '/api/generations', { tool: 'image-to-video', inputs: { image: a.body.asset.hash, end_image: e.body.asset.hash }, params: { video_resolution: '1080p' } });
    assert.equal(r.status, 202);
    g = await c.waitDone((await r.json()).generation.id, 240000);
    assert.equal(g.status, 'completed', JSON.stringify(g.error));
    assert.match(g.engine, /transition/i);
    assert.equal(Math.min(g.outputs[0].width, g.outputs[0].height), 1080);
    assert.equal(g.inputs.end_image, e.body.asset.hash);
  });

  test('a node cannot store a broken video: the signed PUT checks the MP4', async () => {
    const path = '/api/blobs/outputs/nope/0.png';
    const exp = Math.floor(Date.now() / 1000) + 60;
    const url = `${BASE}${path}?exp=${exp}&sig=${signUrl(SECRET, 'PUT', path, exp)}`;
    const r = await fetch(url, { method: 'PUT', body: Buffer.from('\0\0\0\x10ftypisom\0\0\0\0junk'), headers: { 'content-type': 'video/mp4' } });
    assert.equal(r.status, 422);
    assert.equal((await r.json()).error, 'bad_video');
  });
});

describe('Packshot and Image to Video through the Developer API', () => {
  let key;
  const dataUri = (name, type) => `data:${type};base64,${fixture(name).toString('base64')}`;
  const { call, wait } = apiClient(() => key);
  before(async () => { key = await createKey(uniqueEmail('engines-api')); });

  test('packshot: product_image, num_images 2 → two output URLs, charged for two', async () => {
    const run = await call('POST', '/v1/run', { model_name: 'packshot', inputs: { product_image: dataUri('garment-on-model.webp', 'image/webp'), num_images: 2, aspect_ratio: '1:1' } });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    const s = await wait(run.body.id);
    assert.equal(s.body.status, 'completed', JSON.stringify(s.body.error));
    assert.equal(s.body.output.length, 2);
    const img = decodePng(Buffer.from(await (await fetch(s.body.output[1])).arrayBuffer()));
    assert.equal(img.width, img.height);
    assert.ok(Number(s.headers.get('x-fashn-credits-used')) > 0);
  });

  test('image-to-video: image and end_image as data URIs; resolution coerced to 1080p with an End Image', async () => {
    const run = await call('POST', '/v1/run', { model_name: 'image-to-video', inputs: { image: dataUri('model-photo-512.jpg', 'image/jpeg'), end_image: dataUri('model-photo-512.jpg', 'image/jpeg'), resolution: '480p', duration: 5 } });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    const s = await wait(run.body.id);
    assert.equal(s.body.status, 'completed', JSON.stringify(s.body.error));
    const r = await fetch(s.body.output[0]);
    assert.equal(r.headers.get('content-type'), 'video/mp4');
    const m = mp4(Buffer.from(await r.arrayBuffer()));
    assert.equal(Math.min(m.width, m.height), 1080);
    const bad = await call('POST', '/v1/run', { model_name: 'image-to-video', inputs: { image: dataUri('model-photo-512.jpg', 'image/jpeg'), end_image: 'data:image/png;base64,bm90IGFuIGltYWdl' } });
    const f = await wait(bad.body.id);
    assert.equal(f.body.error.name, 'ImageLoadError');
    assert.match(f.body.error.message, /end_image/);
    assert.equal(f.headers.get('x-fashn-credits-used'), '0');
  });
});
