// The Developer API (FASHN-compatible) against the real stack: keys, run, status, outputs.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, SECRET, createKey, fixture, signRequest, uniqueEmail, decodePng } from './lib/helpers.mjs';

const api = (key) => ({
  run: async (body, query = '') => {
    const r = await fetch(`${BASE}/v1/run${query}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' } });
    return { status: r.status, headers: r.headers, body: await r.json() };
  },
  status: async (id) => {
    const r = await fetch(`${BASE}/v1/status/${id}`, { headers: { authorization: `Bearer ${key}` } });
    return { status: r.status, headers: r.headers, body: await r.json() };
  },
  async wait(id) {
    for (let i = 0; i < 300; i++) {
      const s = await this.status(id);
      if (!['starting', 'in_queue', 'processing'].includes(s.body.status)) return s;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('prediction did not finish');
  },
});

const dataUri = (name, type) => `data:${type};base64,${fixture(name).toString('base64')}`;
let key, other;

describe('Developer API', () => {
  before(async () => {
    key = await createKey(uniqueEmail('api'));
    other = await createKey(uniqueEmail('api-other'));
  });

  test('a missing or wrong key is UnauthorizedAccess', async () => {
    const r = await fetch(`${BASE}/v1/run`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 401);
    assert.deepEqual(await r.json(), { error: 'UnauthorizedAccess', message: 'Unauthorized: Invalid token' });
    assert.equal((await api('atl_wrong').status('x')).status, 401);
  });

  test('admin keys need the job secret', async () => {
    const r = await fetch(`${BASE}/api/internal/admin/keys`, { method: 'POST', body: '{"email":"x@y.co"}', headers: { 'content-type': 'application/json' } });
    assert.equal(r.status, 401);
  });

  test('background-remove with a base64 image: run, status, output, credits used', async () => {
    const a = api(key);
    const run = await a.run({ model_name: 'background-remove', inputs: { image: dataUri('model-photo-512.jpg', 'image/jpeg') } });
    assert.equal(run.status, 200);
    assert.equal(run.body.error, null);
    assert.equal(typeof run.body.id, 'string');
    const s = await a.wait(run.body.id);
    assert.equal(s.body.status, 'completed', JSON.stringify(s.body.error));
    assert.equal(s.headers.get('x-fashn-credits-used'), '1');
    assert.equal(s.body.output.length, 1);
    const out = await fetch(s.body.output[0]);
    assert.equal(out.status, 200);
    const img = decodePng(Buffer.from(await out.arrayBuffer()));
    assert.equal(img.colorType, 6);
    assert.equal((await fetch(s.body.output[0].replace(/sig=[0-9a-f]{4}/, 'sig=0000'))).status, 403, 'a tampered output URL is refused');
    assert.equal((await api(other).status(run.body.id)).status, 404, "another organization's key cannot read it");
  });

  test('return_base64 returns a data URI', async () => {
    const a = api(key);
    const run = await a.run({ model_name: 'background-remove', inputs: { image: dataUri('garment-on-model.webp', 'image/webp'), return_base64: true } });
    const s = await a.wait(run.body.id);
    assert.match(s.body.output[0], /^data:image\/png;base64,/);
  });

  test('parameter errors are 400 BadRequest at submission', async () => {
    const a = api(key);
    let r = await a.run({ model_name: 'reframe', inputs: { image: 'nope', aspect_ratio: '7:3' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'BadRequest');
    assert.match(r.body.message, /inputs\.aspect_ratio/);
    r = await a.run({ model_name: 'teleport', inputs: {} });
    assert.equal(r.status, 400);
    r = await a.run('{"model_name":');
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'BadRequest');
  });

  test('image problems and missing engines fail the prediction, costing nothing', async () => {
    const a = api(key);
    let run = await a.run({ model_name: 'background-remove', inputs: { image: 'data:image/png;base64,bm90IGFuIGltYWdl' } });
    let s = await a.wait(run.body.id);
    assert.equal(s.body.status, 'failed');
    assert.equal(s.body.error.name, 'ImageLoadError');
    assert.equal(s.headers.get('x-fashn-credits-used'), '0');
    run = await a.run({ model_name: 'background-remove', inputs: { image: 'https://127.0.0.1/a.png' } });
    s = await a.wait(run.body.id);
    assert.equal(s.body.error.name, 'ImageLoadError');
    run = await a.run({ model_name: 'model-swap', inputs: { model_image: dataUri('model-photo-512.jpg', 'image/jpeg'), prompt: 'a woman in her 30s' } });
    assert.equal(run.status, 200);
    s = await a.wait(run.body.id);
    assert.equal(s.body.error.name, 'PipelineError');
    assert.match(s.body.error.message, /no engine on this installation/);
  });

  test('reframe through the API accepts 21:9 and refuses the ratio the image already has', async () => {
    const a = api(key);
    let run = await a.run({ model_name: 'reframe', inputs: { image: dataUri('model-photo-512.jpg', 'image/jpeg'), aspect_ratio: '21:9' } });
    let s = await a.wait(run.body.id);
    assert.equal(s.body.status, 'completed', JSON.stringify(s.body.error));
    run = await a.run({ model_name: 'reframe', inputs: { image: dataUri('model-photo-512.jpg', 'image/jpeg'), aspect_ratio: '2:3' } });
    s = await a.wait(run.body.id);
    assert.equal(s.body.error.name, 'InputValidationError');
    assert.match(s.body.error.message, /already 2:3/);
  });

  test('API credits: held at run, charged per successful output, failures free, OutOfCredits at zero', async () => {
    const k = await createKey(uniqueEmail('credits'), 2);
    const balance = async () => (await (await fetch(`${BASE}/v1/credits`, { headers: { authorization: `Bearer ${k}` } })).json()).credits;
    assert.deepEqual(await balance(), { total: 2, subscription: 0, on_demand: 2 });
    const a = api(k);
    const ok = await a.run({ model_name: 'background-remove', inputs: { image: dataUri('model-photo-512.jpg', 'image/jpeg') } });
    await a.wait(ok.body.id);
    assert.equal((await balance()).total, 1);
    const bad = await a.run({ model_name: 'background-remove', inputs: { image: 'data:image/png;base64,bm90IGFuIGltYWdl' } });
    await a.wait(bad.body.id);
    assert.equal((await balance()).total, 1, 'a failed prediction costs nothing');
    const big = await a.run({ model_name: 'upscale', inputs: { image: dataUri('model-photo-512.jpg', 'image/jpeg') } });
    await a.wait(big.body.id);
    assert.equal((await balance()).total, 0);
    const out = await a.run({ model_name: 'background-remove', inputs: { image: dataUri('model-photo-512.jpg', 'image/jpeg') } });
    assert.equal(out.status, 429);
    assert.equal(out.body.error, 'OutOfCredits');
    assert.equal(out.headers.get('x-should-retry'), 'false');
    assert.match(out.body.message, /needs 1 credit and 0 are available/);
  });

  test('unknown predictions and routes are NotFound', async () => {
    const r = await api(key).status('does-not-exist');
    assert.equal(r.status, 404);
    assert.equal(r.body.error, 'NotFound');
    const x = await fetch(`${BASE}/v1/nope`);
    assert.equal(x.status, 404);
    assert.equal((await x.json()).error, 'NotFound');
  });

  // Found by schemathesis (#23): a documented path with another method was a 404.
  test('a documented path with an undocumented method is 405 with Allow', async () => {
    for (const [method, path, allow] of [['QUERY', '/v1/credits', 'GET'], ['DELETE', '/v1/status/x', 'GET'], ['GET', '/v1/run', 'POST'], ['PUT', '/v1/openapi.json', 'GET']]) {
      const r = await fetch(BASE + path, { method, headers: { authorization: `Bearer ${key}` } });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get('allow'), allow);
      const body = await r.json();
      assert.equal(body.error, 'MethodNotAllowed');
      assert.ok(body.message.includes(`${method} is not supported on ${path}; it takes ${allow}.`), body.message);
    }
  });

  // Found by schemathesis (#23): the document let a required prompt be blank, which is refused.
  test('the document requires a non-blank prompt where the API does', async () => {
    const doc = await (await fetch(`${BASE}/v1/openapi.json`)).json();
    const prompt = doc.components.schemas['Inputs.face-create'].properties.prompt;
    assert.equal(prompt.minLength, 1);
    assert.equal(prompt.pattern, '\\S');
    const r = await api(key).run({ model_name: 'face-create', inputs: { prompt: '  ' } });
    assert.equal(r.status, 400);
    assert.equal(r.body.errors[0].path, 'prompt');
  });
});

describe('webhooks', () => {
  test('a loopback receiver gets the status body, retried after failures, with a valid signature', async () => {
    const { createServer } = await import('node:http');
    const { createHmac, createHash } = await import('node:crypto');
    const k = await createKey(uniqueEmail('hooks'));
    const seen = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => { body += c; });
      req.on('end', () => {
        seen.push({ headers: req.headers, body });
        res.writeHead(seen.length < 3 ? 500 : 200).end();
      });
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${server.address().port}/hook`;
    try {
      const a = api(k);
      const run = await a.run({ model_name: 'background-remove', inputs: { image: dataUri('model-photo-512.jpg', 'image/jpeg') } }, `?webhook_url=${encodeURIComponent(url)}`);
      assert.equal(run.status, 200);
      for (let i = 0; i < 150 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 200));
      assert.equal(seen.length, 3, 'two failures, then a success: three deliveries');
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(seen.length, 3, 'no delivery after a 2xx');
      const last = seen[2];
      const payload = JSON.parse(last.body);
      assert.equal(payload.id, run.body.id);
      assert.equal(payload.status, 'completed');
      assert.equal(payload.output.length, 1);
      const ts = last.headers['x-atelier-webhook-timestamp'];
      const keyHash = createHash('sha256').update(k).digest('hex');
      const expected = createHmac('sha256', keyHash).update(`${ts}.${last.body}`).digest('hex');
      assert.equal(last.headers['x-atelier-webhook-signature'], `sha256=${expected}`);
    } finally {
      server.close();
    }
  });

  test('a receiver that never answers (beyond the timeout) is retried; one that always fails is given up after 5 retries; the predictions are unaffected', async () => {
    const { createServer } = await import('node:http');
    const k = await createKey(uniqueEmail('hooks-faults'));
    const slow = [], failing = [];
    // Hangs on the first two deliveries (the test stack's timeout is 2 s), then answers at once.
    const slowServer = createServer((req, res) => {
      req.resume();
      slow.push(Date.now());
      if (slow.length > 2) res.writeHead(200).end();
    });
    const failingServer = createServer((req, res) => { req.resume(); failing.push(Date.now()); res.writeHead(500).end('down'); });
    for (const s of [slowServer, failingServer]) await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const hook = (s) => encodeURIComponent(`http://127.0.0.1:${s.address().port}/hook`);
    try {
      const a = api(k);
      const image = dataUri('model-photo-512.jpg', 'image/jpeg');
      const [r1, r2] = [await a.run({ model_name: 'background-remove', inputs: { image } }, `?webhook_url=${hook(slowServer)}`),
        await a.run({ model_name: 'background-remove', inputs: { image } }, `?webhook_url=${hook(failingServer)}`)];
      assert.equal(r1.status, 200);
      assert.equal(r2.status, 200);
      // Retries at 1, 2, 4, 8, 16 s after each failure: all six deliveries within about a minute.
      for (let i = 0; i < 450 && (slow.length < 3 || failing.length < 6); i++) await new Promise((r) => setTimeout(r, 200));
      assert.equal(slow.length, 3, 'two timed out, the third answered');
      assert.equal(failing.length, 6, 'the first delivery and 5 retries');
      assert.ok(slow[1] - slow[0] >= 2000, 'the second delivery came after the first timed out');
      await new Promise((r) => setTimeout(r, 3000));
      assert.deepEqual([slow.length, failing.length], [3, 6], 'nothing more after success or giving up');
      for (const id of [r1.body.id, r2.body.id]) {
        const s = await a.status(id);
        assert.equal(s.body.status, 'completed', 'the prediction is unaffected by its webhook');
      }
    } finally {
      slowServer.closeAllConnections?.();
      for (const s of [slowServer, failingServer]) s.close();
    }
  });

  test('a webhook_url that is not http(s) is a 400', async () => {
    const r = await api(key).run({ model_name: 'background-remove', inputs: { image: 'data:image/png;base64,AAAA' } }, '?webhook_url=ftp%3A%2F%2Fexample.com%2Fx');
    assert.equal(r.status, 400);
    assert.equal(r.body.error, 'BadRequest');
  });
});
