// Export for Web, server side: a transparent Background Remove output re-encoded by the
// inference node as WebP (alpha kept), JPEG (flattened, quality changes the size) and PNG;
// bad settings name the field; only the owner, from the same origin, signed in; videos are
// downloaded as they are.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { Client, decodePng, fixture, giveAppCredits } from './lib/helpers.mjs';

let c, gen;
const exportOf = (client, id, body, headers = {}) => client.req('POST', `/api/generations/${id}/outputs/0/export`, { body: JSON.stringify(body), type: 'application/json', headers });

describe('Export for Web', () => {
  before(async () => {
    c = await new Client().signUp();
    await giveAppCredits(c.email, 20);
    const img = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const r = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: img.body.asset.hash } });
    gen = await c.waitDone((await r.json()).generation.id);
    assert.equal(gen.status, 'completed');
  });

  test('WebP at 95 % by default: lossy, transparency kept, named for the generation', async () => {
    const r = await exportOf(c, gen.id, {});
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(r.headers.get('content-type'), 'image/webp');
    const b = Buffer.from(await r.arrayBuffer());
    assert.equal(b.subarray(0, 4).toString(), 'RIFF');
    assert.equal(b.subarray(8, 12).toString(), 'WEBP');
    // Extended format with the alpha flag, and a lossy (VP8) image chunk.
    assert.equal(b.subarray(12, 16).toString(), 'VP8X');
    assert.ok(b[20] & 0x10, 'alpha flag set');
    assert.ok(b.includes(Buffer.from('VP8 ')), 'lossy bitstream');
    assert.equal(Number(r.headers.get('x-export-bytes')), b.length);
    assert.equal(r.headers.get('x-export-width'), '512');
    assert.equal(r.headers.get('x-export-height'), '768');
    assert.match(r.headers.get('content-disposition'), new RegExp(`^attachment; filename="atelier-background-remove-${gen.id.replace(/[^a-z0-9]/gi, '').slice(0, 8)}-0\\.webp"$`));
    assert.ok(b.length < gen.outputs[0].bytes, `smaller than the PNG (${b.length} vs ${gen.outputs[0].bytes})`);
  });

  test('JPEG is flattened on white and its quality changes the size; PNG keeps alpha losslessly', async () => {
    const lo = Buffer.from(await (await exportOf(c, gen.id, { format: 'jpeg', quality: 30 })).arrayBuffer());
    const hi = Buffer.from(await (await exportOf(c, gen.id, { format: 'jpeg', quality: 95 })).arrayBuffer());
    assert.deepEqual([...lo.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    assert.ok(hi.length > lo.length * 1.5, `q95 ${hi.length} vs q30 ${lo.length}`);
    const png = await exportOf(c, gen.id, { format: 'png' });
    assert.equal(png.headers.get('content-type'), 'image/png');
    const img = decodePng(Buffer.from(await png.arrayBuffer()));
    assert.equal(img.width, 512);
    assert.equal(img.channels, 4);
    assert.equal(img.data[3], 0, 'the top-left corner is still transparent');
  });

  test('bad settings name the field and say what to send', async () => {
    let r = await exportOf(c, gen.id, { format: 'gif' });
    assert.equal(r.status, 400);
    let e = await r.json();
    assert.equal(e.errors[0].path, 'format');
    assert.match(e.message, /jpeg, png, webp/);
    r = await exportOf(c, gen.id, { format: 'webp', quality: 0 });
    e = await r.json();
    assert.equal(e.errors[0].path, 'quality');
    assert.match(e.message, /1 to 100/);
    r = await exportOf(c, gen.id, { format: 'original' });
    assert.equal((await r.json()).errors[0].code, 'not_exported');
    r = await c.req('POST', `/api/generations/${gen.id}/outputs/0/export`, { body: 'not json', type: 'application/json' });
    assert.equal(r.status, 400);
    r = await c.req('POST', `/api/generations/${gen.id}/outputs/7/export`, { body: '{}', type: 'application/json' });
    assert.equal(r.status, 404);
  });

  test('only the owner, signed in, from the same origin', async () => {
    const other = await new Client().signUp();
    assert.equal((await exportOf(other, gen.id, {})).status, 404);
    assert.equal((await exportOf(c, gen.id, {}, { origin: 'http://evil.localhost' })).status, 403);
    assert.equal((await exportOf(new Client(), gen.id, {})).status, 401);
  });

  test('a video is downloaded as it is, not exported', async () => {
    const img = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const r = await c.json('POST', '/api/generations', { tool: 'image-to-video', inputs: { image: img.body.asset.hash }, params: { duration: '5', video_resolution: '480p' } });
    const v = await c.waitDone((await r.json()).generation.id, 120000);
    assert.equal(v.status, 'completed', JSON.stringify(v.error));
    const x = await exportOf(c, v.id, {});
    assert.equal(x.status, 409);
    assert.equal((await x.json()).error, 'not_an_image');
  });
});
