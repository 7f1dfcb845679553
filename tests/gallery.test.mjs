// "From Gallery" on the server: `GET /api/gallery` lists your completed Studio results, one item
// per image output, newest first, by tool and a page at a time; a picked result becomes an
// input asset. Bad filters name the field; nobody else's results show.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { Client, fixture, flatPng, giveAppCredits } from './lib/helpers.mjs';

let c, first, second;
const run = async (client, body) => {
  const r = await client.json('POST', '/api/generations', body);
  assert.equal(r.status, 202, await r.clone().text());
  return client.waitDone((await r.json()).generation.id);
};

describe('Gallery', () => {
  before(async () => {
    c = await new Client().signUp();
    await giveAppCredits(c.email, 20);
    const img = (await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset;
    first = await run(c, { tool: 'background-remove', inputs: { image: img.hash } });
    second = await run(c, { tool: 'upscale', inputs: { image: img.hash }, params: { factor: '2x' } });
    assert.equal(first.status, 'completed');
    assert.equal(second.status, 'completed');
  });

  test('lists completed results newest first, one item per output, with the tool that made it', async () => {
    const r = await c.req('GET', '/api/gallery');
    assert.equal(r.status, 200);
    const { items, next_before } = await r.json();
    assert.deepEqual(items.map((i) => i.generation_id), [second.id, first.id]);
    assert.deepEqual(items.map((i) => i.tool_label), ['Upscale', 'Background Remove']);
    assert.equal(items[1].url, `/api/generations/${first.id}/outputs/0`);
    assert.equal(items[1].width, 512);
    assert.equal(items[1].height, 768);
    assert.equal(items[0].width, 1024);
    assert.equal(next_before, null);
    // The listed URL serves the image.
    const img = await c.req('GET', items[1].url);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get('content-type'), 'image/png');
  });

  test('filters by tool and pages by generation', async () => {
    let page = await (await c.req('GET', '/api/gallery?tool=background-remove')).json();
    assert.deepEqual(page.items.map((i) => i.generation_id), [first.id]);
    page = await (await c.req('GET', '/api/gallery?tool=create-face')).json();
    assert.deepEqual(page.items, []);
    page = await (await c.req('GET', '/api/gallery?limit=1')).json();
    assert.deepEqual(page.items.map((i) => i.generation_id), [second.id]);
    assert.equal(page.next_before, second.created_at);
    page = await (await c.req('GET', `/api/gallery?limit=1&before=${page.next_before}`)).json();
    assert.deepEqual(page.items.map((i) => i.generation_id), [first.id]);
    // Images by default; no videos were made.
    page = await (await c.req('GET', '/api/gallery?media=video')).json();
    assert.deepEqual(page.items, []);
  });

  test('a picked result becomes an input asset of the same image', async () => {
    const r = await c.json('POST', '/api/assets/from-output', { generation_id: first.id, index: 0 });
    assert.equal(r.status, 201, await r.clone().text());
    const { asset } = await r.json();
    assert.equal(asset.width, 512);
    assert.equal(asset.content_type, 'image/png');
    const listed = await (await c.req('GET', '/api/assets?limit=1')).json();
    assert.equal(listed.assets[0].hash, asset.hash);
  });

  test('bad filters name the field and list what is accepted', async () => {
    let r = await c.req('GET', '/api/gallery?tool=photoshop');
    assert.equal(r.status, 400);
    let e = await r.json();
    assert.equal(e.errors[0].path, 'tool');
    assert.match(e.message, /no tool 'photoshop'.*background-remove/);
    r = await c.req('GET', '/api/gallery?media=gif&tool=nope');
    e = await r.json();
    assert.deepEqual(e.errors.map((x) => x.path).sort(), ['media', 'tool']);
    assert.match(e.message, /image, video or all/);
  });

  test('only your own results, and only when signed in', async () => {
    const other = await new Client().signUp();
    const page = await (await other.req('GET', '/api/gallery')).json();
    assert.deepEqual(page.items, []);
    const r = await other.json('POST', '/api/assets/from-output', { generation_id: first.id, index: 0 });
    assert.equal(r.status, 404);
    assert.equal((await new Client().req('GET', '/api/gallery')).status, 401);
    // A failed generation is not in the Gallery (Try-On without a person: PoseError).
    await giveAppCredits(other.email, 10);
    const flat = (await other.upload(flatPng(300, 400), 'image/png')).body.asset;
    const product = (await other.upload(fixture('garment-on-model.webp'), 'image/webp')).body.asset;
    const g = await run(other, { tool: 'try-on', inputs: { image: flat.hash, product_image: product.hash } });
    assert.equal(g.status, 'failed');
    const p = await (await other.req('GET', '/api/gallery')).json();
    assert.deepEqual(p.items, []);
  });
});
