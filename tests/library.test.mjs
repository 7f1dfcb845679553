// The starter libraries: every stack is seeded from the repository's library/ (faces,
// backgrounds, packshot references, models); any account lists them, sees the images and uses
// one as an input; a library face is a Face Reference that runs (Face Swap here). Adding needs
// the job secret's signature; bad kinds and images say what to send.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE, SECRET, Client, fixture, giveAppCredits, sha256, signRequest } from './lib/helpers.mjs';

const ROOT = join(import.meta.dirname, '..', 'library');
const FOLDERS = { face: 'faces', background: 'backgrounds', 'packshot-reference': 'packshot-references', model: 'models' };
let c;

const adminAdd = async (body, sign = true) => {
  const path = '/api/internal/admin/library';
  const text = JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000);
  const headers = { 'content-type': 'application/json' };
  if (sign) Object.assign(headers, { 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, text) });
  return fetch(BASE + path, { method: 'POST', body: text, headers });
};

describe('Starter libraries', () => {
  before(async () => {
    c = await new Client().signUp();
  });

  test('every library holds the repository files, named after them, in order', async () => {
    for (const [kind, folder] of Object.entries(FOLDERS)) {
      const r = await c.req('GET', `/api/library?kind=${kind}`);
      assert.equal(r.status, 200);
      const page = await r.json();
      const files = readdirSync(join(ROOT, folder)).filter((f) => /\.(jpe?g|png|webp)$/.test(f)).sort();
      assert.ok(files.length > 0, folder);
      const hashes = new Set(page.items.map((i) => i.hash));
      for (const f of files) assert.ok(hashes.has(sha256(readFileSync(join(ROOT, folder, f)))), `${folder}/${f} is in ${kind}`);
      assert.ok(page.items.every((i) => i.kind === kind && i.width > 0 && i.url === `/api/library/${kind}/${i.hash}`));
    }
    const faces = (await (await c.req('GET', '/api/library?kind=face')).json());
    assert.equal(faces.label, 'Starter Faces');
    assert.ok(faces.items.some((i) => i.name === 'Man in a wide brimmed hat'), JSON.stringify(faces.items.map((i) => i.name)));
    // Its image is served to any signed-in account.
    const img = await c.req('GET', faces.items[0].url);
    assert.equal(img.status, 200);
    assert.equal(img.headers.get('content-type'), 'image/jpeg');
    assert.equal(sha256(Buffer.from(await img.arrayBuffer())), faces.items[0].hash);
  });

  test('a library face is used as a Face Reference: Face Swap runs with it', async () => {
    await giveAppCredits(c.email, 10);
    const face = (await (await c.req('GET', '/api/library?kind=face')).json()).items
      .find((i) => i.name === 'Woman with short brown hair');
    assert.ok(face);
    const r = await c.json('POST', `/api/library/face/${face.hash}/use`, {});
    assert.equal(r.status, 201, await r.clone().text());
    const { asset } = await r.json();
    assert.equal(asset.hash, face.hash);
    assert.equal(asset.library, true);
    assert.equal((await c.req('GET', `/api/assets/${face.hash}`)).status, 200, 'now one of your assets');
    const image = (await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset;
    const g = await c.json('POST', '/api/generations', { tool: 'face-swap', inputs: { image: image.hash, face_reference: face.hash } });
    assert.equal(g.status, 202, await g.clone().text());
    const done = await c.waitDone((await g.json()).generation.id, 60000);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
  });

  test('bad kinds and unknown images say what to use; signed in only', async () => {
    let r = await c.req('GET', '/api/library?kind=hats');
    assert.equal(r.status, 400);
    let e = await r.json();
    assert.equal(e.errors[0].path, 'kind');
    assert.match(e.message, /no 'hats' library; use one of face, background, packshot-reference, model/);
    r = await c.req('GET', '/api/library');
    assert.equal((await r.json()).errors[0].code, 'required');
    r = await c.json('POST', `/api/library/face/${'0'.repeat(64)}/use`, {});
    assert.equal(r.status, 404);
    assert.match((await r.json()).message, /no such image in Starter Faces/);
    // A model photo is not a face: the same hash under another library is not found.
    const model = (await (await c.req('GET', '/api/library?kind=model')).json()).items[0];
    assert.equal((await c.req('GET', `/api/library/face/${model.hash}`)).status, 404);
    assert.equal((await new Client().req('GET', '/api/library?kind=face')).status, 401);
  });

  test('adding takes the signature; bad bodies name the field; the same image again only renames', async () => {
    const image = fixture('astronaut.jpg').toString('base64');
    let r = await adminAdd({ kind: 'face', name: 'Nope', image }, false);
    assert.equal(r.status, 401);
    r = await adminAdd({ kind: 'hats', name: 'x', image });
    assert.equal((await r.json()).errors[0].path, 'kind');
    r = await adminAdd({ kind: 'face', name: '  ', image });
    assert.equal((await r.json()).errors[0].path, 'name');
    r = await adminAdd({ kind: 'face', name: 'x', image: 'not base64!' });
    assert.equal((await r.json()).errors[0].path, 'image');
    r = await adminAdd({ kind: 'face', name: 'x', image: Buffer.from('not an image').toString('base64') });
    assert.equal(r.status, 415);
    assert.match((await r.json()).message, /^image: /);
    // Astronaut is the library's "Woman with short brown hair": adding it again renames it.
    const before = (await (await c.req('GET', '/api/library?kind=face')).json()).items.length;
    r = await adminAdd({ kind: 'face', name: 'Renamed by the test', image });
    assert.equal(r.status, 201, await r.clone().text());
    assert.equal((await r.json()).item.hash, sha256(fixture('astronaut.jpg')));
    const after = (await (await c.req('GET', '/api/library?kind=face')).json()).items;
    assert.equal(after.length, before);
    assert.ok(after.some((i) => i.name === 'Renamed by the test'));
    // Put the name back for the other tests.
    await adminAdd({ kind: 'face', name: 'Woman with short brown hair', image });
  });
});
