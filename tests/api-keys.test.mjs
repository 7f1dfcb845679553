// Developer API, second part: rate and concurrency limits, SSRF-safe image URLs, expired output
// URLs, key management and request history (organization-scoped), the OpenAPI document.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { BASE, SECRET, Client, createKey, fixture, signUrl, uniqueEmail } from './lib/helpers.mjs';

const dataUri = (name, type) => `data:${type};base64,${fixture(name).toString('base64')}`;
const IMAGE = () => dataUri('model-photo-512.jpg', 'image/jpeg');
const TERMINAL = ['completed', 'failed', 'canceled', 'time_out'];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const call = async (key, method, path, body) => {
  const r = await fetch(BASE + path, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
  });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: r.status, headers: r.headers, body: json };
};

async function wait(key, id) {
  for (let i = 0; i < 300; i++) {
    const s = await call(key, 'GET', `/v1/status/${id}`);
    if (TERMINAL.includes(s.body.status)) return s;
    await sleep(200);
  }
  throw new Error(`prediction ${id} did not finish`);
}

/** Waits until a fixed window of `secs` has at least `need` seconds left. */
async function freshWindow(secs, need) {
  while (secs - ((Date.now() / 1000) % secs) < need) await sleep(200);
}

describe('rate and concurrency limits (the contract\'s numbers, per key)', () => {
  test('/v1/credits: 30 per 10 s, then 429 RateLimitExceeded with Retry-After', async () => {
    const k = await createKey(uniqueEmail('rl-credits'), 10, 1);
    await freshWindow(10, 7);
    for (let i = 0; i < 30; i++) assert.equal((await call(k, 'GET', '/v1/credits')).status, 200, `request ${i + 1}`);
    const r = await call(k, 'GET', '/v1/credits');
    assert.equal(r.status, 429);
    assert.equal(r.body.error, 'RateLimitExceeded');
    assert.match(r.body.message, /30 requests per 10 s on \/v1\/credits/);
    const retry = Number(r.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 10, `Retry-After ${retry}`);
    const other = await createKey(uniqueEmail('rl-other'), 10, 1);
    assert.equal((await call(other, 'GET', '/v1/credits')).status, 200, 'limits are per key');
    await sleep(retry * 1000 + 200);
    assert.equal((await call(k, 'GET', '/v1/credits')).status, 200, 'the next window serves again');
  });

  test('/v1/status: 50 per 10 s', async () => {
    const k = await createKey(uniqueEmail('rl-status'), 10, 1);
    await freshWindow(10, 7);
    for (let i = 0; i < 50; i++) assert.equal((await call(k, 'GET', '/v1/status/nope')).status, 404, `request ${i + 1}`);
    const r = await call(k, 'GET', '/v1/status/nope');
    assert.equal(r.status, 429);
    assert.equal(r.body.error, 'RateLimitExceeded');
  });

  test('/v1/run: 50 per 60 s', async () => {
    const k = await createKey(uniqueEmail('rl-run'), 10, 1);
    await freshWindow(60, 20);
    // Refused bodies count too: the limit is on requests.
    for (let i = 0; i < 50; i++) assert.equal((await call(k, 'POST', '/v1/run', { model_name: 'teleport', inputs: {} })).status, 400, `request ${i + 1}`);
    const r = await call(k, 'POST', '/v1/run', { model_name: 'background-remove', inputs: { image: IMAGE() } });
    assert.equal(r.status, 429);
    assert.equal(r.body.error, 'RateLimitExceeded');
    assert.match(r.body.message, /50 requests per 60 s on \/v1\/run/);
    assert.equal((await call(k, 'GET', '/v1/credits')).body.credits.total, 10, 'nothing charged');
  });

  test('six predictions in flight, the seventh is 429 ConcurrencyLimitExceeded (nothing charged)', async () => {
    const k = await createKey(uniqueEmail('concurrency'), 20, 1);
    const ids = [];
    let refused;
    for (let i = 0; i < 7; i++) {
      // Upscaling 4× keeps each one busy long enough for seven sequential submissions.
      const r = await call(k, 'POST', '/v1/run', { model_name: 'upscale', inputs: { image: IMAGE(), factor: '4x' } });
      if (r.status === 200) ids.push(r.body.id); else { refused = r; break; }
    }
    assert.ok(refused, `all seven were accepted: ${ids.length}`);
    assert.equal(ids.length, 6);
    assert.equal(refused.status, 429);
    assert.equal(refused.body.error, 'ConcurrencyLimitExceeded');
    for (const id of ids) assert.equal((await wait(k, id)).body.status, 'completed');
    assert.equal((await call(k, 'POST', '/v1/run', { model_name: 'background-remove', inputs: { image: IMAGE() } })).status, 200, 'accepted again once they finished');
  });
});

describe('image URLs are fetched SSRF-safely', () => {
  test('every loopback form is refused as ImageLoadError, nothing reaches the target, nothing is charged', async () => {
    let hits = 0;
    const server = createServer((req, res) => { hits++; res.writeHead(200, { 'content-type': 'image/jpeg' }).end(fixture('model-photo-512.jpg')); });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const p = server.address().port;
    const k = await createKey(uniqueEmail('ssrf'), 5);
    try {
      for (const url of [
        `http://127.0.0.1:${p}/a.jpg`,
        `http://localhost:${p}/a.jpg`,
        `http://[::1]:${p}/a.jpg`,
        `http://0.0.0.0:${p}/a.jpg`,
        `http://2130706433:${p}/a.jpg`,
        `http://0x7f000001:${p}/a.jpg`,
        `http://[::ffff:127.0.0.1]:${p}/a.jpg`,
      ]) {
        const run = await call(k, 'POST', '/v1/run', { model_name: 'background-remove', inputs: { image: url } });
        assert.equal(run.status, 200, url);
        const s = await wait(k, run.body.id);
        assert.equal(s.body.status, 'failed', url);
        assert.equal(s.body.error.name, 'ImageLoadError', url);
        assert.match(s.body.error.message, /refused|loopback|unspecified|only http/, `${url}: ${s.body.error.message}`);
        assert.equal(s.headers.get('x-fashn-credits-used'), '0');
      }
      // Other schemes are a parameter error at submission.
      for (const url of [`ftp://127.0.0.1:${p}/a.jpg`, 'file:///etc/passwd', 'gopher://localhost/']) {
        const run = await call(k, 'POST', '/v1/run', { model_name: 'background-remove', inputs: { image: url } });
        assert.equal(run.status, 400, url);
        assert.equal(run.body.error, 'BadRequest', url);
      }
      assert.equal(hits, 0, 'the loopback server saw no request');
      assert.equal((await call(k, 'GET', '/v1/credits')).body.credits.total, 5);
    } finally {
      server.close();
    }
  });
});

describe('output URLs', () => {
  test('valid for 72 hours; an expired or re-targeted signature is refused', async () => {
    const k = await createKey(uniqueEmail('expiry'));
    const run = await call(k, 'POST', '/v1/run', { model_name: 'background-remove', inputs: { image: IMAGE() } });
    const s = await wait(k, run.body.id);
    assert.equal(s.body.status, 'completed');
    const url = new URL(s.body.output[0]);
    const exp = Number(url.searchParams.get('exp'));
    const ttl = exp - Date.now() / 1000;
    assert.ok(ttl > 72 * 3600 - 120 && ttl <= 72 * 3600 + 5, `ttl ${ttl}`);
    assert.equal((await fetch(url)).status, 200);
    // Correctly signed, but expired a second ago.
    const past = Math.floor(Date.now() / 1000) - 1;
    const expired = `${BASE}${url.pathname}?exp=${past}&sig=${signUrl(SECRET, 'GET', url.pathname, past)}`;
    const r = await fetch(expired);
    assert.equal(r.status, 403);
    assert.match((await r.json()).message, /expired/);
    // A signature for one output does not open another.
    const other = url.pathname.replace(/\/0$/, '/1');
    assert.equal((await fetch(`${BASE}${other}${url.search}`)).status, 403);
  });
});

describe('output_format', () => {
  test('jpeg gives a JPEG (transparency on white), as a URL and as base64', async () => {
    const k = await createKey(uniqueEmail('jpeg'));
    const run = await call(k, 'POST', '/v1/run', { model_name: 'background-remove', inputs: { image: IMAGE(), output_format: 'jpeg' } });
    const s = await wait(k, run.body.id);
    assert.equal(s.body.status, 'completed', JSON.stringify(s.body.error));
    const out = await fetch(s.body.output[0]);
    assert.equal(out.headers.get('content-type'), 'image/jpeg');
    const bytes = Buffer.from(await out.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    const b64 = await call(k, 'POST', '/v1/run', { model_name: 'upscale', inputs: { image: IMAGE(), output_format: 'jpeg', return_base64: true } });
    const s2 = await wait(k, b64.body.id);
    assert.match(s2.body.output[0], /^data:image\/jpeg;base64,\/9j\//);
    const bad = await call(k, 'POST', '/v1/run', { model_name: 'background-remove', inputs: { image: IMAGE(), output_format: 'gif' } });
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /output_format/);
  });
});

describe('Developer API page: keys and request history', () => {
  test('create (value shown once), list, rename, use, revoke', async () => {
    const c = await new Client().signUp();
    let r = await c.json('POST', '/api/keys', { name: 'Storefront' });
    assert.equal(r.status, 201);
    const created = await r.json();
    assert.match(created.key, /^atl_[0-9a-f]{48}$/);
    assert.equal(created.name, 'Storefront');
    const list = await (await c.req('GET', '/api/keys')).json();
    assert.equal(list.keys.length, 1);
    assert.equal(list.keys[0].prefix, created.key.slice(0, 8));
    assert.ok(!JSON.stringify(list).includes(created.key), 'the value is never listed');
    r = await c.json('PATCH', `/api/keys/${created.id}`, { name: 'Shopify store' });
    assert.equal(r.status, 200);
    r = await c.json('PATCH', `/api/keys/${created.id}`, { name: 'x'.repeat(61) });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).error, 'invalid_name');
    // New accounts have no API credits; an operator grants some.
    const credits = await call(created.key, 'GET', '/v1/credits');
    assert.equal(credits.status, 200);
    assert.equal(credits.body.credits.total, 0);
    // Another user can neither see nor revoke it.
    const d = await new Client().signUp();
    assert.equal((await (await d.req('GET', '/api/keys')).json()).keys.length, 0);
    assert.equal((await d.req('DELETE', `/api/keys/${created.id}`)).status, 404);
    // Cross-site requests are refused.
    const csrf = await c.req('DELETE', `/api/keys/${created.id}`, { headers: { origin: 'http://evil.localhost' } });
    assert.equal(csrf.status, 403);
    r = await c.req('DELETE', `/api/keys/${created.id}`);
    assert.equal(r.status, 200);
    const after = await call(created.key, 'GET', '/v1/credits');
    assert.equal(after.status, 401, 'a revoked key stops working at once');
    const listed = (await (await c.req('GET', '/api/keys')).json()).keys[0];
    assert.equal(listed.name, 'Shopify store');
    assert.ok(listed.revoked_at > 0);
    assert.equal((await c.req('GET', '/api/keys', { headers: {} })).status, 200);
    assert.equal((await fetch(`${BASE}/api/keys`)).status, 401, 'the page needs a session');
  });

  test('history: time, model, status, credits, duration, error, key — filtered, org-scoped', async () => {
    const c = await new Client().signUp();
    const k = (await (await c.json('POST', '/api/keys', { name: 'history' })).json());
    // Grant API credits to this account (as `cargo xtask admin set-credits` does).
    await createKey(c.email, 5);
    const ok = await call(k.key, 'POST', '/v1/run', { model_name: 'background-remove', inputs: { image: IMAGE() } });
    const bad = await call(k.key, 'POST', '/v1/run', { model_name: 'background-remove', inputs: { image: 'data:image/png;base64,bm90IGFuIGltYWdl' } });
    await wait(k.key, ok.body.id);
    await wait(k.key, bad.body.id);
    const all = await (await c.req('GET', '/api/requests')).json();
    const byId = Object.fromEntries(all.requests.map((x) => [x.id, x]));
    assert.equal(byId[ok.body.id].status, 'completed');
    assert.equal(byId[ok.body.id].model_name, 'background-remove');
    assert.equal(byId[ok.body.id].credits_used, 1);
    assert.ok(byId[ok.body.id].duration_ms > 0);
    assert.equal(byId[ok.body.id].key.name, 'history');
    assert.equal(byId[bad.body.id].status, 'failed');
    assert.equal(byId[bad.body.id].credits_used, 0);
    assert.equal(byId[bad.body.id].error.name, 'ImageLoadError');
    const failed = await (await c.req('GET', '/api/requests?status=failed')).json();
    assert.deepEqual(failed.requests.map((x) => x.id), [bad.body.id]);
    const other = await (await c.req('GET', '/api/requests?model=upscale')).json();
    assert.equal(other.requests.length, 0);
    const page = await (await c.req('GET', '/api/requests?limit=1')).json();
    assert.equal(page.requests.length, 1);
    const next = await (await c.req('GET', `/api/requests?limit=1&before=${page.next_before}`)).json();
    assert.equal(next.requests.length, 1);
    assert.notEqual(next.requests[0].id, page.requests[0].id);
    const stranger = await new Client().signUp();
    assert.equal((await (await stranger.req('GET', '/api/requests')).json()).requests.length, 0);
    const otherKey = await createKey(uniqueEmail('other-org'));
    assert.equal((await call(otherKey, 'GET', `/v1/status/${ok.body.id}`)).status, 404, "another organization's key cannot read it");
  });
});

describe('OpenAPI', () => {
  test('/v1/openapi.json is an OpenAPI 3.1 document of every model', async () => {
    const r = await fetch(`${BASE}/v1/openapi.json`);
    assert.equal(r.status, 200);
    const doc = await r.json();
    assert.equal(doc.openapi, '3.1.0');
    for (const p of ['/v1/run', '/v1/status/{id}', '/v1/credits']) assert.ok(doc.paths[p], p);
    const text = JSON.stringify(doc);
    for (const m of ['tryon-max', 'tryon-v1.6', 'product-to-model', 'face-to-model', 'model-create', 'model-swap', 'reframe', 'background-change', 'background-remove', 'image-to-video', 'edit', 'packshot', 'upscale', 'face-swap', 'face-create']) {
      assert.ok(text.includes(`"${m}"`), m);
    }
    assert.equal(doc.servers[0].url, BASE);
  });
});
