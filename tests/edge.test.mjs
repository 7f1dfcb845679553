// Integration tests of the edge Worker in the real local Workers runtime (wrangler dev, local
// D1/R2/Queues/Durable Objects) with a real inference node behind it.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { BASE, Client, fixture, sha256, uniqueEmail, pngWithHeader, checkCutout, decodePng, signUrl, signRequest, SECRET } from './lib/helpers.mjs';

describe('sessions', () => {
  test('every API route except sign-up, sign-in and quote requires the session', async () => {
    const anon = new Client();
    const routes = [
      ['GET', '/api/me'], ['POST', '/api/assets'], ['GET', '/api/assets/' + 'a'.repeat(64)],
      ['GET', '/api/generations'], ['POST', '/api/generations'], ['GET', '/api/generations/x'],
      ['GET', '/api/generations/x/outputs/0'], ['GET', '/api/events'], ['POST', '/api/auth/signout'],
      ['POST', '/api/assets/from-output'], ['GET', '/api/capabilities'], ['GET', '/api/keys'], ['POST', '/api/keys'],
      ['GET', '/api/requests'], ['GET', '/api/assets'],
    ];
    for (const [m, p] of routes) {
      const r = await anon.req(m, p, { body: m === 'POST' ? '{}' : undefined, type: m === 'POST' ? 'application/json' : undefined });
      assert.equal(r.status, 401, `${m} ${p}`);
      assert.equal((await r.json()).error, 'unauthorized');
    }
    const forged = new Client(); forged.cookie = 'atl_session=' + 'f'.repeat(64);
    assert.equal((await forged.req('GET', '/api/me')).status, 401);
  });

  test('sign up, cookie flags, sign out, sign in', async () => {
    const c = new Client();
    const email = uniqueEmail('flow');
    const r = await c.json('POST', '/api/auth/signup', { email: email.toUpperCase(), password: 'a long password' });
    assert.equal(r.status, 201);
    assert.equal((await r.json()).user.email, email);
    assert.match(c.lastSetCookie, /HttpOnly/);
    assert.match(c.lastSetCookie, /SameSite=Lax/);
    assert.doesNotMatch(c.lastSetCookie, /Secure/, 'plain http locally');
    assert.equal((await c.req('GET', '/api/me')).status, 200);
    const dup = await new Client().json('POST', '/api/auth/signup', { email, password: 'another password' });
    assert.equal(dup.status, 409);
    const old = c.cookie;
    assert.equal((await c.req('POST', '/api/auth/signout')).status, 204);
    const stale = new Client(); stale.cookie = old;
    assert.equal((await stale.req('GET', '/api/me')).status, 401, 'the session is gone server-side');
    const back = new Client();
    assert.equal((await back.json('POST', '/api/auth/signin', { email, password: 'a long password' })).status, 200);
    assert.equal((await back.req('GET', '/api/me')).status, 200);
  });

  test('sign-up validation names each field', async () => {
    const r = await new Client().json('POST', '/api/auth/signup', { email: 'not-an-email', password: 'short' });
    assert.equal(r.status, 400);
    const b = await r.json();
    assert.deepEqual(b.errors.map((e) => e.path), ['email', 'password']);
    assert.match(b.message, /valid email/);
    const notJson = await new Client().req('POST', '/api/auth/signup', { body: 'email=a', type: 'application/x-www-form-urlencoded' });
    assert.equal(notJson.status, 415);
  });

  test('sign-in is rate-limited per account', async () => {
    const c = await new Client().signUp();
    const bad = new Client();
    for (let i = 0; i < 5; i++) {
      assert.equal((await bad.json('POST', '/api/auth/signin', { email: c.email, password: 'wrong password' })).status, 401);
    }
    const r = await bad.json('POST', '/api/auth/signin', { email: c.email, password: c.password });
    assert.equal(r.status, 429, 'locked even with the right password');
    assert.equal(r.headers.get('retry-after'), '900');
    assert.match((await r.json()).message, /Too many failed sign-ins/);
  });

  test('cross-site state changes are refused', async () => {
    const c = await new Client().signUp();
    const r = await c.req('POST', '/api/assets', { body: fixture('model-photo.webp'), type: 'image/webp', headers: { origin: 'http://evil.example' } });
    assert.equal(r.status, 403);
  });
});

describe('uploads: bad input is refused with a specific message and nothing is stored', () => {
  const cases = [
    ['a non-image file', () => Buffer.from('just some text, not a picture at all'), 'image/png', 415, 'unsupported_format', /not a PNG, JPEG or WebP/],
    ['a truncated JPEG', () => fixture('model-photo-512.jpg').subarray(0, 20000), 'image/jpeg', 422, 'truncated_image', /cut off/],
    // Found by the image_input fuzzer (#23): a WebP cut inside its VP8 frame header once panicked the Worker.
    ['a WebP cut inside its frame header', () => Buffer.from('UklGRhAAAABXRUJQVlA4IKwAAADwAQCdASo=', 'base64'), 'image/webp', 422, 'truncated_image', /cut off/],
    ['a 100,000 × 100,000 PNG (decompression bomb)', () => pngWithHeader(100000, 100000), 'image/png', 422, 'image_side_too_long', /100000×100000/],
    ['a 7,000 × 7,000 PNG (too many pixels)', () => pngWithHeader(7000, 7000), 'image/png', 422, 'too_many_pixels', /megapixels/],
    ['a file over the upload limit', () => Buffer.concat([pngWithHeader(100, 100), Buffer.alloc(21 * 1024 * 1024)]), 'image/png', 413, 'file_too_large', /limit is 20971520 bytes/],
    ['a wrong Content-Type', () => fixture('model-photo.webp'), 'text/plain', 415, 'unsupported_media_type', /Content-Type "text\/plain"/],
    ['a missing Content-Type', () => fixture('model-photo.webp'), null, 415, 'unsupported_media_type', /no Content-Type/],
    ['a Content-Type that does not match the bytes', () => fixture('model-photo.webp'), 'image/png', 415, 'content_type_mismatch', /is a WebP image/],
    ['an empty body', () => Buffer.alloc(0), 'image/png', 422, 'empty_file', /empty/],
  ];
  for (const [name, make, type, status, code, message] of cases) {
    test(name, async () => {
      const c = await new Client().signUp();
      const body = make();
      const r = await c.upload(body, type);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.equal(r.body.error, code);
      assert.match(r.body.message, message);
      assert.equal((await c.req('GET', `/api/assets/${sha256(body)}`)).status, 404, 'nothing stored');
      assert.equal((await c.req('GET', '/api/me')).status, 200, 'still serving');
    });
  }

  test('a good upload is stored once, by content', async () => {
    const c = await new Client().signUp();
    const img = fixture('model-photo-512.jpg');
    const a = await c.upload(img, 'image/jpeg');
    assert.equal(a.status, 201);
    assert.deepEqual([a.body.asset.width, a.body.asset.height, a.body.asset.hash], [512, 768, sha256(img)]);
    const again = await c.upload(img, 'image/jpeg');
    assert.equal(again.body.asset.hash, a.body.asset.hash);
    const r = await c.req('GET', `/api/assets/${a.body.asset.hash}`);
    assert.equal(r.status, 200);
    assert.equal(sha256(Buffer.from(await r.arrayBuffer())), sha256(img));
    const other = await new Client().signUp();
    assert.equal((await other.req('GET', `/api/assets/${a.body.asset.hash}`)).status, 404, 'assets are private');
  });
});

describe('generations', () => {
  test('validation returns every problem with its field', async () => {
    const c = await new Client().signUp();
    let r = await c.json('POST', '/api/generations', { tool: 'background-remove', params: { background: 'solid', color: 'red' } });
    assert.equal(r.status, 400);
    let b = await r.json();
    assert.deepEqual(b.errors.map((e) => e.path), ['inputs.image', 'params.color']);
    r = await c.json('POST', '/api/generations', { tool: 'teleport', inputs: { image: 'a'.repeat(64) } });
    assert.equal((await r.json()).errors[0].code, 'unknown_tool');
    r = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: 'a'.repeat(64) } });
    b = await r.json();
    assert.equal(b.errors[0].code, 'unknown_asset');
    r = await c.req('POST', '/api/generations', { body: '{"tool":', type: 'application/json' });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error, 'invalid_json');
    const list = await (await c.req('GET', '/api/generations')).json();
    assert.equal(list.generations.length, 0, 'nothing was created');
  });

  test('background remove end to end through queue, node, R2 and callbacks', async () => {
    const c = await new Client().signUp();
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const r = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: a.body.asset.hash } });
    assert.equal(r.status, 202);
    const created = (await r.json()).generation;
    assert.equal(created.status, 'in_queue');
    const g = await c.waitDone(created.id);
    assert.equal(g.status, 'completed', JSON.stringify(g.error));
    assert.equal(g.outputs.length, 1);
    assert.equal(g.credits_quoted, 1);
    assert.equal(g.credits_used, 1, 'one successful output, one credit');
    const out = await c.req('GET', `${g.outputs[0].url}?download=1`);
    assert.equal(out.status, 200);
    assert.equal(out.headers.get('content-type'), 'image/png');
    assert.match(out.headers.get('content-disposition'), /^attachment; filename="atelier-background-remove-/);
    const img = checkCutout(assert, Buffer.from(await out.arrayBuffer()));
    assert.deepEqual([img.width, img.height], [512, 768]);
    const stranger = await new Client().signUp();
    assert.equal((await stranger.req('GET', `/api/generations/${g.id}`)).status, 404);
    assert.equal((await stranger.req('GET', g.outputs[0].url)).status, 404);
  });

  test('app credits: 10 to start, held and charged per run, 402 when they run out', async () => {
    const c = await new Client().signUp();
    assert.equal((await (await c.req('GET', '/api/me')).json()).credits, 10, 'the Free plan\'s 10 credits');
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const r = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: a.body.asset.hash } });
    await c.waitDone((await r.json()).generation.id);
    assert.equal((await (await c.req('GET', '/api/me')).json()).credits, 9);
    // An operator sets the balance to 0 (what `cargo xtask admin set-credits` does).
    const path = '/api/internal/admin/keys';
    const body = JSON.stringify({ email: c.email, app_credits: 0, no_key: true });
    const ts = Math.floor(Date.now() / 1000);
    const set = await fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, body) } });
    assert.equal(set.status, 200);
    const out = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: a.body.asset.hash } });
    assert.equal(out.status, 402);
    const b = await out.json();
    assert.equal(b.error, 'out_of_credits');
    assert.match(b.message, /needs 1 credit and 0 are available/);
    const list = await (await c.req('GET', '/api/generations')).json();
    assert.equal(list.generations.length, 1, 'nothing was created');
  });

  test('solid color fills the background', async () => {
    const c = await new Client().signUp();
    const a = await c.upload(fixture('garment-on-model.webp'), 'image/webp');
    const r = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: a.body.asset.hash }, params: { background: 'solid', color: '#00ff00' } });
    const g = await c.waitDone((await r.json()).generation.id);
    assert.equal(g.status, 'completed');
    const img = decodePng(Buffer.from(await (await c.req('GET', g.outputs[0].url)).arrayBuffer()));
    assert.equal(img.colorType, 2, 'no alpha channel');
    const [r0, g0, b0] = img.px(1, 1);
    assert.ok(r0 < 10 && g0 > 245 && b0 < 10, `corner ${[r0, g0, b0]}`);
  });

  test('upscale 4x through the same path, and its options are validated', async () => {
    const c = await new Client().signUp();
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    let r = await c.json('POST', '/api/generations', { tool: 'upscale', inputs: { image: a.body.asset.hash }, params: { factor: '8x' } });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'params.factor');
    r = await c.json('POST', '/api/generations', { tool: 'upscale', inputs: { image: a.body.asset.hash }, params: { factor: '4x' } });
    assert.equal(r.status, 202);
    const g = await c.waitDone((await r.json()).generation.id);
    assert.equal(g.status, 'completed', JSON.stringify(g.error));
    assert.equal(g.engine, 'lanczos3+unsharp');
    assert.deepEqual([g.outputs[0].width, g.outputs[0].height], [2048, 3072]);
    const img = decodePng(Buffer.from(await (await c.req('GET', g.outputs[0].url)).arrayBuffer()));
    assert.deepEqual([img.width, img.height], [2048, 3072]);
  });

  test('reframe: validated ratio, the image extended to 16:9 at about one megapixel', async () => {
    const c = await new Client().signUp();
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    let r = await c.json('POST', '/api/generations', { tool: 'reframe', inputs: { image: a.body.asset.hash }, params: {} });
    assert.equal((await r.json()).errors[0].message, 'Reframe needs a target aspect ratio, e.g. 4:5.');
    r = await c.json('POST', '/api/generations', { tool: 'reframe', inputs: { image: a.body.asset.hash }, params: { aspect_ratio: '2:3' } });
    assert.equal((await r.json()).errors[0].code, 'already_matches', 'a 512×768 photo is already 2:3');
    r = await c.json('POST', '/api/generations', { tool: 'reframe', inputs: { image: a.body.asset.hash }, params: { aspect_ratio: '16:9' } });
    assert.equal(r.status, 202);
    const g = await c.waitDone((await r.json()).generation.id);
    assert.equal(g.status, 'completed', JSON.stringify(g.error));
    assert.equal(g.engine, 'reframe-expand-mirror-blur');
    const img = decodePng(Buffer.from(await (await c.req('GET', g.outputs[0].url)).arrayBuffer()));
    assert.deepEqual([img.width, img.height], [1368, 768]);
  });

  test('job events reach an open WebSocket', async () => {
    const c = await new Client().signUp();
    const ws = new WebSocket(BASE.replace('http', 'ws') + '/api/events', { headers: { cookie: c.cookie } });
    const seen = [];
    await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
    const done = new Promise((res) => ws.on('message', (m) => {
      const e = JSON.parse(m.toString());
      if (e.type === 'generation') { seen.push(e.generation.status); if (e.generation.status === 'completed') res(e.generation); }
    }));
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: a.body.asset.hash } });
    const g = await Promise.race([done, new Promise((_, rej) => setTimeout(() => rej(new Error('no completed event; saw ' + seen)), 60000))]);
    ws.close();
    assert.equal(g.outputs.length, 1);
    assert.ok(seen.includes('in_queue') && seen.includes('processing'), `saw ${seen}`);
  });

  test('a websocket without a session is refused', async () => {
    const ws = new WebSocket(BASE.replace('http', 'ws') + '/api/events');
    const status = await new Promise((res) => { ws.on('unexpected-response', (_req, r) => res(r.statusCode)); ws.on('open', () => res(101)); ws.on('error', () => res(0)); });
    assert.equal(status, 401);
  });
});

describe('internal endpoints trust only signatures', () => {
  test('callbacks need a valid signature', async () => {
    const path = '/api/internal/jobs/abc/events';
    const body = JSON.stringify({ kind: 'failed', job_id: 'abc', error: 'PipelineError', message: 'x' });
    let r = await fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 401);
    const ts = Math.floor(Date.now() / 1000);
    r = await fetch(BASE + path, { method: 'POST', body, headers: { 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest('wrong secret wrong', 'POST', path, ts, body) } });
    assert.equal(r.status, 401);
    assert.match((await r.json()).message, /does not match/);
  });

  test('blob URLs need a valid, unexpired signature, and inputs are read-only', async () => {
    const c = await new Client().signUp();
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const path = `/api/blobs/assets/${a.body.asset.hash}`;
    assert.equal((await fetch(BASE + path)).status, 403);
    const exp = Math.floor(Date.now() / 1000) + 60;
    assert.equal((await fetch(`${BASE}${path}?exp=${exp}&sig=${signUrl('not the secret!!', 'GET', path, exp)}`)).status, 403);
    const good = await fetch(`${BASE}${path}?exp=${exp}&sig=${signUrl(SECRET, 'GET', path, exp)}`);
    assert.equal(good.status, 200);
    const past = exp - 120;
    assert.equal((await fetch(`${BASE}${path}?exp=${past}&sig=${signUrl(SECRET, 'GET', path, past)}`)).status, 403);
    const put = await fetch(`${BASE}${path}?exp=${exp}&sig=${signUrl(SECRET, 'PUT', path, exp)}`, { method: 'PUT', body: fixture('model-photo-512.jpg') });
    assert.equal(put.status, 403);
  });
});

describe('carrying a result into the next tool, and capabilities', () => {
  test('a completed result of yours becomes an input asset; others\' results, unfinished ones and bad bodies are refused', async () => {
    const c = await new Client().signUp();
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const r = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: a.body.asset.hash } });
    const id = (await r.json()).generation.id;
    const early = await c.json('POST', '/api/assets/from-output', { generation_id: id });
    // Either still running (409) or, on a fast node, already done (201).
    assert.ok([201, 409].includes(early.status), String(early.status));
    if (early.status === 409) assert.equal((await early.json()).error, 'not_completed');
    await c.waitDone(id);
    const ok = await c.json('POST', '/api/assets/from-output', { generation_id: id, index: 0 });
    assert.equal(ok.status, 201);
    const asset = (await ok.json()).asset;
    assert.equal(asset.content_type, 'image/png');
    assert.deepEqual([asset.width, asset.height], [512, 768]);
    const img = await c.req('GET', `/api/assets/${asset.hash}`);
    assert.equal(img.status, 200, 'usable as an input of the next tool');
    const next = await c.json('POST', '/api/generations', { tool: 'upscale', inputs: { image: asset.hash }, params: { factor: '2x' } });
    assert.equal(next.status, 202);
    const other = await new Client().signUp();
    assert.equal((await other.json('POST', '/api/assets/from-output', { generation_id: id })).status, 404);
    assert.equal((await c.json('POST', '/api/assets/from-output', { generation_id: id, index: 3 })).status, 404);
    assert.equal((await c.json('POST', '/api/assets/from-output', { generation_id: 'nope' })).status, 404);
    assert.equal((await c.json('POST', '/api/assets/from-output', { index: 0 })).status, 400);
    assert.equal((await fetch(`${BASE}/api/assets/from-output`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status, 401);
    const csrf = await c.req('POST', '/api/assets/from-output', { body: JSON.stringify({ generation_id: id }), type: 'application/json', headers: { origin: 'http://evil.localhost' } });
    assert.equal(csrf.status, 403);
  });

  test('capabilities come from the inference node', async () => {
    const c = await new Client().signUp();
    const caps = await (await c.req('GET', '/api/capabilities')).json();
    const by = Object.fromEntries(caps.tools.map((t) => [t.tool, t]));
    for (const t of ['background-remove', 'upscale', 'reframe', 'packshot', 'image-to-video', 'face-swap', 'try-on']) assert.equal(by[t].available, true, t);
    assert.match(by['face-swap'].engine, /MediaPipe/);
    assert.match(by['try-on'].engine, /^tryon-2d/);
    assert.equal(by['product-to-model'].available, false);
    assert.match(by['product-to-model'].reason, /no engine/);
    assert.equal((await fetch(`${BASE}/api/capabilities`)).status, 401);
  });

  test('a tool without an engine can never run another engine: refused before anything is held', async () => {
    const c = await new Client().signUp();
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const me = async () => (await (await c.req('GET', '/api/me')).json()).credits;
    const before = await me();
    for (const tool of ['product-to-model', 'model-swap', 'edit']) {
      const r = await c.json('POST', '/api/generations', { tool, inputs: { image: a.body.asset.hash }, params: tool === 'edit' ? { prompt: 'red' } : {} });
      assert.equal(r.status, 400, tool);
      const e = (await r.json()).errors[0];
      assert.deepEqual([e.path, e.code], ['tool', 'tool_unavailable'], tool);
    }
    assert.equal(await me(), before, 'nothing held or charged');
    const list = await (await c.req('GET', '/api/generations')).json();
    assert.equal(list.generations.length, 0, 'no row, so nothing could run Background Remove in its place');
  });
});

describe('queue position', () => {
  test('a waiting generation says how many jobs are ahead of it; a finished one does not', async () => {
    const c = await new Client().signUp();
    // Enough App credits for five 4x upscales (what `cargo xtask admin set-credits` does).
    const path = '/api/internal/admin/keys';
    const body = JSON.stringify({ email: c.email, app_credits: 20, no_key: true });
    const ts = Math.floor(Date.now() / 1000);
    await fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, body) } });
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const ids = [];
    for (let i = 0; i < 5; i++) {
      const r = await c.json('POST', '/api/generations', { tool: 'upscale', inputs: { image: a.body.asset.hash }, params: { factor: '4x' } });
      assert.equal(r.status, 202);
      ids.push((await r.json()).generation.id);
    }
    // The node runs two at a time: the last one waits behind others.
    const last = (await (await c.req('GET', `/api/generations/${ids[4]}`)).json()).generation;
    assert.equal(last.status, 'in_queue', 'still waiting right after submission');
    assert.ok(Number.isInteger(last.queue_position) && last.queue_position >= 1, `queue_position ${last.queue_position}`);
    for (const id of ids) assert.equal((await c.waitDone(id, 120000)).status, 'completed');
    const done = (await (await c.req('GET', `/api/generations/${ids[4]}`)).json()).generation;
    assert.equal(done.queue_position, undefined);
  });
});

describe('recent uploads (quick-pick)', () => {
  test('newest first, yours only, paged', async () => {
    const c = await new Client().signUp();
    const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    await new Promise((r) => setTimeout(r, 5));
    const b = await c.upload(fixture('garment-on-model.webp'), 'image/webp');
    const list = await (await c.req('GET', '/api/assets')).json();
    assert.deepEqual(list.assets.map((x) => x.hash), [b.body.asset.hash, a.body.asset.hash]);
    assert.equal(list.assets[0].content_type, 'image/webp');
    const page = await (await c.req('GET', '/api/assets?limit=1')).json();
    assert.equal(page.assets.length, 1);
    const next = await (await c.req('GET', `/api/assets?limit=1&before=${page.next_before}`)).json();
    assert.deepEqual(next.assets.map((x) => x.hash), [a.body.asset.hash]);
    const other = await new Client().signUp();
    assert.equal((await (await other.req('GET', '/api/assets')).json()).assets.length, 0);
  });
});
