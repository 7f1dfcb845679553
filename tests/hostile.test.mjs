// Hostile input (#23, "Attack"): another site's requests on every cookie route, oversized and
// deeply nested JSON, header injection through webhook URLs, path traversal in asset and blob
// keys. Each is refused with a clear error, nothing is created or charged, and the server goes on
// serving (every test ends by checking that).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SECRET, Client, apiClient, createKey, flatPng, signUrl, uniqueEmail } from './lib/helpers.mjs';
import { routes } from './lib/routes.mjs';

let c, key, api;
before(async () => {
  c = await new Client().signUp();
  key = await createKey(uniqueEmail('hostile'), 10);
  api = apiClient(() => key);
});

async function stillServing() {
  const r = await c.req('GET', '/api/me');
  assert.equal(r.status, 200, 'the server still serves a signed-in request');
  const q = await fetch(`${BASE}/v1/credits`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(q.status, 200, 'and the API');
}

const generations = async () => (await (await c.req('GET', '/api/generations')).json()).generations.length;
const apiCredits = async () => (await api.call('GET', '/v1/credits')).body.credits.total;

test('another site’s request on every state-changing cookie route of the router is refused (403 cross_origin)', async () => {
  const swept = routes().filter((r) => r.method !== 'GET' && r.segs[0] === 'api'
    && !['webhooks', 'internal', 'blobs'].includes(r.segs[1]));
  assert.ok(swept.length >= 40, `the route table was read (${swept.length} routes)`);
  const fails = [];
  for (const r of swept) {
    const path = '/' + r.segs.map((s) => (s.startsWith(':') ? 'x1' : s)).join('/');
    for (const origin of ['http://evil.localhost', 'null']) {
      const res = await c.req(r.method, path, { body: '{}', type: 'application/json', headers: { origin } });
      const body = await res.json().catch(() => ({}));
      if (res.status !== 403 || body.error !== 'cross_origin') fails.push(`${r.method} ${path} (Origin ${origin}) → ${res.status} ${JSON.stringify(body)}`);
    }
  }
  assert.deepEqual(fails, []);
  // The same request from the app's own origin goes through to the handler.
  const own = await c.req('POST', '/api/collections', { body: JSON.stringify({ name: 'mine' }), type: 'application/json', headers: { origin: new URL(BASE).origin } });
  assert.equal(own.status, 201, await own.clone().text());
  await stillServing();
});

test('a JSON body over 1 MiB is refused (413 body_too_large) from its declared length or while it streams; nothing is created', async () => {
  const before = await generations();
  const big = JSON.stringify({ tool: 'background-remove', inputs: { image: 'a'.repeat(2 * 1024 * 1024) } });
  let r = await c.req('POST', '/api/generations', { body: big, type: 'application/json' });
  let e = await r.json();
  assert.equal(r.status, 413, JSON.stringify(e));
  assert.equal(e.error, 'body_too_large');
  assert.match(e.message, /2\.0 MiB .*at most 1\.0 MiB/);
  // Chunked: no length is declared, so the Worker counts as it reads.
  const chunk = new TextEncoder().encode('a'.repeat(64 * 1024));
  let sent = 0;
  const stream = new ReadableStream({
    start(ctl) { ctl.enqueue(new TextEncoder().encode('{"tool":"background-remove","inputs":{"image":"')); },
    pull(ctl) { if (sent++ < 40) ctl.enqueue(chunk); else { ctl.enqueue(new TextEncoder().encode('"}}')); ctl.close(); } },
  });
  r = await fetch(`${BASE}/api/generations`, { method: 'POST', body: stream, duplex: 'half', headers: { cookie: c.cookie, 'content-type': 'application/json' } });
  e = await r.json();
  assert.equal(r.status, 413, JSON.stringify(e));
  assert.match(e.message, /over 1\.0 MiB/);
  // The rest of the chunked body was read and dropped: the next requests (on the same
  // kept-alive connection) are answered.
  for (let i = 0; i < 3; i++) assert.equal((await c.req('GET', '/api/me')).status, 200);
  // Just under the limit is read and answered on its merits (a 400 for the bad image name).
  r = await c.req('POST', '/api/generations', { body: JSON.stringify({ tool: 'background-remove', inputs: { image: 'a'.repeat(900 * 1024) } }), type: 'application/json' });
  assert.ok(r.status !== 413 && r.status < 500, `not refused for its size: ${r.status}`);
  assert.equal(await generations(), before, 'nothing was created');
  await stillServing();
});

test('deeply nested JSON is a 400 that says what is wrong, in the Studio, on other /api routes and on /v1/run; nothing is charged', async () => {
  const credits = await apiCredits();
  const deep = '['.repeat(100000) + ']'.repeat(100000);
  const objs = '{"a":'.repeat(50000) + '1' + '}'.repeat(50000);
  for (const body of [deep, objs]) {
    // The Studio's typed body: refused for its shape, whatever the depth.
    let r = await c.req('POST', '/api/generations', { body, type: 'application/json' });
    let e = await r.json();
    assert.equal(r.status, 400, JSON.stringify(e));
    assert.equal(e.error, 'invalid_json');
    assert.match(e.message, /not valid JSON for this endpoint: .+ at line 1 column \d+/);
    // Bodies read as any JSON value stop at the parser's depth limit.
    r = await fetch(`${BASE}/v1/run`, { method: 'POST', body, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } });
    e = await r.json();
    assert.equal(r.status, 400, JSON.stringify(e));
    assert.equal(e.error, 'BadRequest');
    assert.match(e.message, /not valid JSON: recursion limit exceeded/);
  }
  const r = await c.req('POST', '/api/collections', { body: deep, type: 'application/json' });
  assert.equal(r.status, 400);
  assert.match((await r.json()).message, /recursion limit exceeded/);
  assert.equal(await apiCredits(), credits, 'nothing charged');
  await stillServing();
});

test('a webhook_url carrying a line break, tab or space (header injection), or over 2048 characters, is refused; nothing is charged', async () => {
  const credits = await apiCredits();
  const image = `data:image/png;base64,${flatPng(32, 32).toString('base64')}`;
  const cases = [
    ['http://127.0.0.1:9/hook\r\nX-Injected: 1', /line break/],
    ['http://127.0.0.1:9/hook\nSet-Cookie: a=b', /line break/],
    ['http://127.0.0.1:9/\thook', /tab/],
    ['http://127.0.0.1:9/hook x', /space/],
    [`http://127.0.0.1:9/${'a'.repeat(2100)}`, /at most 2048/],
  ];
  for (const [url, why] of cases) {
    const r = await fetch(`${BASE}/v1/run?webhook_url=${encodeURIComponent(url)}`, {
      method: 'POST',
      body: JSON.stringify({ model_name: 'background-remove', inputs: { image } }),
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    });
    const e = await r.json();
    assert.equal(r.status, 400, `${JSON.stringify(url)}: ${JSON.stringify(e)}`);
    assert.equal(e.error, 'BadRequest');
    assert.match(e.message, /webhook_url/);
    assert.match(e.message, why);
  }
  assert.equal(await apiCredits(), credits, 'nothing charged');
  await stillServing();
});

test('path traversal in asset and blob keys: not found or refused, never another key', async () => {
  for (const p of ['/api/assets/..%2f..%2fusers', '/api/assets/%2e%2e%2fsessions', '/api/generations/..%2f..%2fx/outputs/0']) {
    const r = await c.req('GET', p);
    const e = await r.json();
    assert.equal(r.status, 404, `${p}: ${JSON.stringify(e)}`);
    assert.ok(e.message, 'a JSON error with a message');
  }
  // A blob URL correctly signed over a path that climbs out of outputs/ is still refused.
  const path = '/api/blobs/outputs/..%2fassets%2fx.png';
  const exp = Math.floor(Date.now() / 1000) + 60;
  const sig = signUrl(SECRET, 'PUT', path, exp);
  let r = await fetch(`${BASE}${path}?exp=${exp}&sig=${sig}`, { method: 'PUT', body: flatPng(8, 8), headers: { 'content-type': 'image/png' } });
  let e = await r.json();
  assert.equal(r.status, 400, JSON.stringify(e));
  assert.equal(e.error, 'bad_key');
  // Unsigned: refused before anything is read.
  r = await fetch(`${BASE}/api/blobs/assets/..%2f..%2fx`);
  assert.equal(r.status, 403);
  await stillServing();
});
