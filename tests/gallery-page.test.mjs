// The Gallery page's API (#17): Library pages of whole generations with combinable filters,
// thumbnails made once by the node, likes, Collections, the streamed ZIP (originals and Export
// for Web), and deletes that remove rows and files. Another account's ids are 404 everywhere.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE, SECRET, Client, fixture, giveAppCredits, signUrl } from './lib/helpers.mjs';

let c, other, img, bg, up, bg2;
const run = async (client, body) => {
  const r = await client.json('POST', '/api/generations', body);
  assert.equal(r.status, 202, await r.clone().text());
  const g = await client.waitDone((await r.json()).generation.id);
  assert.equal(g.status, 'completed', JSON.stringify(g.error));
  return g;
};
const entries = async (client, q = '') => {
  const r = await client.req('GET', `/api/gallery/entries${q}`);
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
};
/** Whether an R2 object exists, through a signed URL (as the node reads inputs). */
const stored = async (key) => {
  const path = `/api/blobs/${key}`;
  const exp = Math.floor(Date.now() / 1000) + 60;
  const r = await fetch(`${BASE}${path}?exp=${exp}&sig=${signUrl(SECRET, 'GET', path, exp)}`);
  return r.status === 200;
};
/** The files of a ZIP, read by Python's zipfile (which checks every CRC). */
const unzip = (buf) => {
  const dir = mkdtempSync(join(tmpdir(), 'atl-zip-'));
  const file = join(dir, 'a.zip');
  writeFileSync(file, buf);
  const out = execFileSync('python3', ['-c', `
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps([[i.filename, i.file_size, z.read(i)[:4].hex()] for i in z.infolist()]))
`, file]);
  return JSON.parse(out.toString());
};
/** A WebP's width and height (lossy, lossless or extended). */
const webpSize = (b) => {
  const kind = b.subarray(12, 16).toString();
  if (kind === 'VP8 ') return [b.readUInt16LE(26) & 0x3fff, b.readUInt16LE(28) & 0x3fff];
  if (kind === 'VP8L') {
    const bits = b.readUInt32LE(21);
    return [(bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1];
  }
  if (kind === 'VP8X') return [b.readUIntLE(24, 3) + 1, b.readUIntLE(27, 3) + 1];
  throw new Error(`not a WebP: ${kind}`);
};
const form = (client, fields, headers = {}) =>
  client.req('POST', '/api/gallery/download', {
    body: new URLSearchParams(fields).toString(),
    type: 'application/x-www-form-urlencoded',
    headers,
  });

describe('Gallery page API', () => {
  before(async () => {
    c = await new Client().signUp();
    other = await new Client().signUp();
    await giveAppCredits(c.email, 30);
    img = (await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset;
    bg = await run(c, { tool: 'background-remove', inputs: { image: img.hash } });
    up = await run(c, { tool: 'upscale', inputs: { image: img.hash }, params: { factor: '2x' } });
    bg2 = await run(c, { tool: 'background-remove', inputs: { image: img.hash } });
  });

  test('a Library page: whole generations newest first, with thumbnails made once by the node', async () => {
    const p = await entries(c);
    assert.deepEqual(p.entries.map((e) => e.id), [bg2.id, up.id, bg.id]);
    assert.equal(p.total, 3);
    assert.equal(p.page, 1);
    assert.equal(p.pages, 1);
    const o = p.entries[1].outputs[0];
    assert.equal(o.thumb_url, `/api/generations/${up.id}/outputs/0/thumb`);
    const t = await c.req('GET', o.thumb_url);
    assert.equal(t.status, 200);
    assert.equal(t.headers.get('content-type'), 'image/webp');
    const thumb = Buffer.from(await t.arrayBuffer());
    assert.equal(thumb.subarray(0, 4).toString(), 'RIFF');
    assert.ok(thumb.length < o.bytes / 5, `${thumb.length} vs ${o.bytes}`);
    // The picker's list carries it too; the thumbnail is stored next to the output.
    const picker = await (await c.req('GET', '/api/gallery?limit=1')).json();
    assert.equal(picker.items[0].thumb_url, `/api/generations/${bg2.id}/outputs/0/thumb`);
    assert.ok(await stored(`outputs/${up.id}/0.thumb.webp`));
    // Nobody else reads it.
    assert.equal((await other.req('GET', o.thumb_url)).status, 404);
  });

  test('a video gets a poster frame: its thumbnail, made once by the node with the clip', async () => {
    await giveAppCredits(c.email, 10);
    const v = await run(c, { tool: 'image-to-video', inputs: { image: img.hash }, params: { duration: '5', video_resolution: '480p' } });
    const page = await entries(c, '?media=video');
    assert.deepEqual(page.entries.map((e) => e.id), [v.id]);
    const o = page.entries[0].outputs[0];
    assert.equal(o.content_type, 'video/mp4');
    assert.equal(o.thumb_url, `/api/generations/${v.id}/outputs/0/thumb`);
    const t = await c.req('GET', o.thumb_url);
    assert.equal(t.status, 200);
    assert.equal(t.headers.get('content-type'), 'image/webp');
    const thumb = Buffer.from(await t.arrayBuffer());
    const [w, h] = webpSize(thumb);
    // The clip's frame, fitted into 384 px: the same shape as the video.
    assert.equal(Math.max(w, h), 384);
    assert.ok(Math.abs(w / h - o.width / o.height) < 0.02, `${w}x${h} vs ${o.width}x${o.height}`);
    assert.ok(thumb.length < o.bytes / 5, `${thumb.length} vs ${o.bytes}`);
    assert.ok(await stored(`outputs/${v.id}/0.thumb.webp`));
    // Deleting the clip removes its poster too.
    const r = await c.req('DELETE', `/api/generations/${v.id}`);
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(await stored(`outputs/${v.id}/0.thumb.webp`), false);
    assert.equal((await entries(c, '?media=video')).total, 0);
  });

  test('filters combine; bad ones name the field', async () => {
    assert.deepEqual((await entries(c, '?tool=upscale')).entries.map((e) => e.id), [up.id]);
    assert.equal((await entries(c, '?media=video')).total, 0);
    assert.equal((await entries(c, '?media=image&tool=background-remove')).total, 2);
    assert.equal((await entries(c, '?liked=1')).total, 0);
    let r = await c.json('PATCH', `/api/generations/${bg.id}`, { liked: true });
    assert.equal(r.status, 200, await r.clone().text());
    const liked = await entries(c, '?liked=1&tool=background-remove');
    assert.deepEqual(liked.entries.map((e) => e.id), [bg.id]);
    assert.equal(liked.entries[0].liked, true);
    assert.equal((await entries(c, '?liked=1&tool=upscale')).total, 0);
    r = await c.req('GET', '/api/gallery/entries?tool=magic&liked=perhaps&page=0');
    assert.equal(r.status, 400);
    const e = await r.json();
    assert.deepEqual(e.errors.map((x) => x.path).sort(), ['liked', 'tool']);
    r = await c.req('GET', '/api/gallery/entries?page=0');
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'page');
    r = await c.json('PATCH', `/api/generations/${bg.id}`, { liked: 'yes' });
    assert.equal(r.status, 400);
    // Unliking works; another account cannot like yours (404, not 403).
    assert.equal((await c.json('PATCH', `/api/generations/${bg.id}`, { liked: false })).status, 200);
    assert.equal((await other.json('PATCH', `/api/generations/${bg.id}`, { liked: true })).status, 404);
    assert.equal((await entries(c, '?liked=1')).total, 0);
    assert.equal((await entries(other)).total, 0);
    assert.equal((await new Client().req('GET', '/api/gallery/entries')).status, 401);
  });

  test('Collections: create, add in bulk, browse, rename, remove, delete (items stay)', async () => {
    let r = await c.json('POST', '/api/collections', { name: '   ' });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'name');
    r = await c.json('POST', '/api/collections', { name: 'x'.repeat(81) });
    assert.equal(r.status, 400);
    r = await c.json('POST', '/api/collections', { name: '  Summer campaign ' });
    assert.equal(r.status, 201, await r.clone().text());
    const { collection } = await r.json();
    assert.equal(collection.name, 'Summer campaign');
    // Bulk add (twice is the same); another account's generation is not added.
    const mine = await other.json('POST', '/api/collections', { name: 'Theirs' });
    const theirs = (await mine.json()).collection;
    r = await c.json('POST', `/api/collections/${collection.id}/items`, { ids: [bg.id, up.id, bg.id] });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal((await r.json()).count, 2);
    r = await other.json('POST', `/api/collections/${theirs.id}/items`, { ids: [bg.id] });
    assert.equal((await r.json()).count, 0);
    assert.equal((await other.json('POST', `/api/collections/${collection.id}/items`, { ids: [bg.id] })).status, 404);
    // Browsing it: the Library filtered to it, combinable with the other filters.
    let p = await entries(c, `?collection=${collection.id}`);
    assert.deepEqual(p.entries.map((e) => e.id), [up.id, bg.id]);
    p = await entries(c, `?collection=${collection.id}&tool=upscale`);
    assert.deepEqual(p.entries.map((e) => e.id), [up.id]);
    assert.equal((await other.req('GET', `/api/gallery/entries?collection=${collection.id}`)).status, 404);
    // The list: count and covers (thumbnails).
    let list = (await (await c.req('GET', '/api/collections')).json()).collections;
    assert.equal(list.length, 1);
    assert.equal(list[0].count, 2);
    assert.deepEqual(list[0].cover, [`/api/generations/${up.id}/outputs/0/thumb`, `/api/generations/${bg.id}/outputs/0/thumb`]);
    // Rename; remove one item; delete the Collection: its items stay in the Library.
    assert.equal((await c.json('PATCH', `/api/collections/${collection.id}`, { name: 'SS27' })).status, 200);
    assert.equal((await other.json('PATCH', `/api/collections/${collection.id}`, { name: 'mine' })).status, 404);
    assert.equal((await c.req('DELETE', `/api/collections/${collection.id}/items/${up.id}`)).status, 200);
    list = (await (await c.req('GET', '/api/collections')).json()).collections;
    assert.equal(list[0].name, 'SS27');
    assert.equal(list[0].count, 1);
    assert.equal((await other.req('DELETE', `/api/collections/${collection.id}`)).status, 404);
    assert.equal((await c.req('DELETE', `/api/collections/${collection.id}`)).status, 200);
    assert.deepEqual((await (await c.req('GET', '/api/collections')).json()).collections, []);
    assert.equal((await entries(c)).total, 3);
  });

  test('the ZIP: originals with readable names, Select All by filter, Export for Web', async () => {
    let r = await form(c, { ids: `${bg.id},${up.id}` });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(r.headers.get('content-type'), 'application/zip');
    assert.match(r.headers.get('content-disposition'), /attachment; filename="atelier-gallery-2-files\.zip"/);
    let files = unzip(Buffer.from(await r.arrayBuffer()));
    assert.equal(files.length, 2);
    const names = files.map((f) => f[0]).sort();
    assert.match(names[0], /^atelier-background-remove-[0-9a-f]{8}-0\.png$/);
    assert.match(names[1], /^atelier-upscale-[0-9a-f]{8}-0\.png$/);
    // The bytes are the originals.
    const original = Buffer.from(await (await c.req('GET', `/api/generations/${up.id}/outputs/0`)).arrayBuffer());
    assert.equal(files.find((f) => f[0].startsWith('atelier-upscale'))[1], original.length);
    // Select All: every entry the filters show, not only a page.
    r = await c.json('POST', '/api/gallery/download', { all: true, tool: 'background-remove' });
    files = unzip(Buffer.from(await r.arrayBuffer()));
    assert.equal(files.length, 2);
    // Export for Web: WebP files.
    r = await form(c, { all: '1', tool: 'upscale', format: 'webp', quality: '80' });
    assert.equal(r.status, 200, await r.clone().text());
    files = unzip(Buffer.from(await r.arrayBuffer()));
    assert.equal(files.length, 1);
    assert.match(files[0][0], /\.webp$/);
    assert.equal(files[0][2], '52494646'); // RIFF
    assert.ok(files[0][1] < original.length);
    // Refused: nothing selected, another site's form, a bad format, someone else's ids.
    r = await form(c, {});
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'ids');
    assert.equal((await form(c, { ids: bg.id }, { origin: 'http://localhost:9' })).status, 403);
    r = await form(c, { ids: bg.id, format: 'gif' });
    assert.equal(r.status, 400);
    assert.equal((await form(other, { ids: bg.id })).status, 404);
  });

  test('delete is final: rows and files go, a result used as an input stays usable', async () => {
    // Picked as an input elsewhere first: that asset is its own copy.
    const asset = (await (await c.json('POST', '/api/assets/from-output', { generation_id: bg2.id, index: 0 })).json()).asset;
    const cl = (await (await c.json('POST', '/api/collections', { name: 'Keep' })).json()).collection;
    await c.json('POST', `/api/collections/${cl.id}/items`, { ids: [bg2.id, up.id] });
    // Another account's ids: 404, nothing deleted.
    assert.equal((await other.req('DELETE', `/api/generations/${bg2.id}`)).status, 404);
    let r = await other.json('POST', '/api/gallery/delete', { ids: [bg2.id] });
    assert.deepEqual((await r.json()).deleted, []);
    assert.ok(await stored(`outputs/${bg2.id}/0.png`));
    // One by id.
    r = await c.req('DELETE', `/api/generations/${bg2.id}`);
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal((await c.req('GET', `/api/generations/${bg2.id}`)).status, 404);
    assert.equal(await stored(`outputs/${bg2.id}/0.png`), false);
    assert.equal(await stored(`outputs/${bg2.id}/0.thumb.webp`), false);
    assert.equal((await c.req('GET', `/api/assets/${asset.hash}`)).status, 200);
    // Gone from its Collections too.
    let list = (await (await c.req('GET', '/api/collections')).json()).collections;
    assert.equal(list.find((x) => x.id === cl.id).count, 1);
    // Select All with a filter.
    r = await c.json('POST', '/api/gallery/delete', { all: true, tool: 'upscale' });
    assert.deepEqual((await r.json()).deleted, [up.id]);
    assert.equal(await stored(`outputs/${up.id}/0.png`), false);
    list = (await (await c.req('GET', '/api/collections')).json()).collections;
    assert.equal(list.find((x) => x.id === cl.id).count, 0);
    // What is left.
    const p = await entries(c);
    assert.deepEqual(p.entries.map((e) => e.id), [bg.id]);
    assert.equal((await c.json('POST', '/api/gallery/delete', {})).status, 400);
    assert.equal((await c.json('POST', '/api/gallery/delete', { ids: Array(501).fill('x') })).status, 400);
  });

  test('Import: your own image becomes a Library entry marked as imported, usable in any tool', async () => {
    const photo = fixture('model-photo-512.jpg');
    let r = await c.req('POST', '/api/gallery/import', { body: photo, type: 'image/jpeg', headers: { 'x-file-name': encodeURIComponent('Été shoot.jpg') } });
    assert.equal(r.status, 201, await r.clone().text());
    const { entry } = await r.json();
    assert.equal(entry.tool, null);
    assert.equal(entry.params.file_name, 'Été shoot.jpg');
    assert.equal(entry.outputs[0].content_type, 'image/jpeg');
    assert.equal(entry.outputs[0].width, 512);
    assert.equal(entry.outputs[0].thumb_url, `/api/generations/${entry.id}/outputs/0/thumb`);
    // Newest in the Library; in the image view, not in a tool's or the videos'.
    assert.equal((await entries(c)).entries[0].id, entry.id);
    assert.equal((await entries(c, '?media=image')).entries[0].id, entry.id);
    assert.ok(!(await entries(c, '?tool=background-remove')).entries.some((e) => e.id === entry.id));
    assert.equal((await entries(c, '?media=video')).total, 0);
    // One entry by id; not a generation of the Studio's history.
    assert.equal((await (await c.req('GET', `/api/gallery/entries/${entry.id}`)).json()).entry.id, entry.id);
    assert.equal((await c.req('GET', `/api/generations/${entry.id}`)).status, 404);
    assert.equal((await other.req('GET', `/api/gallery/entries/${entry.id}`)).status, 404);
    const history = await (await c.req('GET', '/api/generations')).json();
    assert.ok(!history.generations.some((g) => g.id === entry.id));
    // The picker lists it as imported; it becomes an input like any result, and runs.
    const picker = await (await c.req('GET', '/api/gallery?limit=1')).json();
    assert.equal(picker.items[0].tool, null);
    assert.equal(picker.items[0].tool_label, 'Imported');
    const asset = (await (await c.json('POST', '/api/assets/from-output', { generation_id: entry.id, index: 0 })).json()).asset;
    const up2 = await run(c, { tool: 'upscale', inputs: { image: asset.hash }, params: { factor: '2x' } });
    assert.equal(up2.outputs[0].width, 1024);
    // In a ZIP with a readable name.
    r = await form(c, { ids: entry.id });
    assert.match(unzip(Buffer.from(await r.arrayBuffer()))[0][0], /^atelier-import-[0-9a-f]{8}-0\.jpg$/);
    // Bad files are refused with the reason; nothing is recorded.
    const before = (await entries(c)).total;
    r = await c.req('POST', '/api/gallery/import', { body: Buffer.from('GIF89a not really'), type: 'image/gif' });
    assert.equal(r.status, 415);
    assert.match((await r.json()).message, /image\/png, image\/jpeg or image\/webp/);
    r = await c.req('POST', '/api/gallery/import', { body: photo, type: 'image/png' });
    assert.equal(r.status, 415);
    assert.equal((await r.json()).error, 'content_type_mismatch');
    assert.equal((await c.req('POST', '/api/gallery/import', { body: photo, type: 'image/jpeg', headers: { origin: 'http://localhost:9' } })).status, 403);
    assert.equal((await entries(c)).total, before);
    // Deleted like any entry: row and files.
    assert.equal((await c.req('DELETE', `/api/generations/${entry.id}`)).status, 200);
    assert.equal(await stored(`outputs/${entry.id}/0.jpg`), false);
  });
});
