// The upstream engine, against a local instance of our own edge: a second inference node, set
// up with ATELIER_UPSTREAM_URL/KEY/TOOLS, forwards background-remove and product-to-model to
// this stack's Developer API with an API key (and create-face, a prompt-only tool). Background Remove comes back as this node's own
// output (uploaded to the job's URL, charged upstream); product-to-model fails upstream (no
// engine there) and the error keeps its FASHN name and message; without an upstream the
// generative tools say how to get one.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { BASE, NODE, SECRET, createKey, decodePng, fixture, signRequest, uniqueEmail } from './lib/helpers.mjs';

let key, proc, sink, sinkUrl, nodeUrl;
const outputs = new Map();
const events = [];

async function credits() {
  return (await (await fetch(`${BASE}/v1/credits`, { headers: { authorization: `Bearer ${key}` } })).json()).credits.total;
}

/** A job for the second node: its input (if any) and its output from the loopback sink. */
const job = (id, tool, { image = true, prompt } = {}) => ({
  job_id: id, tool, prompt,
  // core's resolved options, every default applied (catalog::Resolved on the wire).
  options: { tool, outputs: 1, ...(tool === 'background-remove' ? { background: { background: 'transparent' } } : { resolution: '1k', mode: 'fast' }) },
  inputs: image ? [{ name: 'image', url: `${sinkUrl}/in/model.jpg` }] : [],
  outputs: [{ index: 0, upload_url: `${sinkUrl}/out/${id}-0` }],
  callback_url: `${sinkUrl}/events`, attempt: 1,
});

async function submit(job) {
  const body = JSON.stringify(job);
  const ts = Math.floor(Date.now() / 1000);
  return fetch(`${nodeUrl}/v1/jobs`, {
    method: 'POST', body,
    headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', '/v1/jobs', ts, body) },
  });
}

async function finished(id, ms = 60000) {
  const t = Date.now();
  for (;;) {
    const e = events.find((x) => x.job_id === id && ['completed', 'failed'].includes(x.kind));
    if (e) return e;
    if (Date.now() - t > ms) throw new Error(`job ${id}: no end event (${JSON.stringify(events.filter((x) => x.job_id === id))})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the upstream engine', () => {
  before(async () => {
    key = await createKey(uniqueEmail('upstream'), 50);
    // A loopback stand-in for the edge's side of the job: the input, the output URLs, the callback.
    sink = createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (req.method === 'GET' && req.url === '/in/model.jpg') return res.writeHead(200, { 'content-type': 'image/jpeg' }).end(fixture('model-photo-512.jpg'));
        if (req.method === 'PUT' && req.url.startsWith('/out/')) { outputs.set(req.url, { body, type: req.headers['content-type'] }); return res.writeHead(200).end(); }
        if (req.method === 'POST' && req.url === '/events') { events.push(JSON.parse(body.toString())); return res.writeHead(200).end('{}'); }
        res.writeHead(404).end();
      });
    });
    await new Promise((r) => sink.listen(0, '127.0.0.1', r));
    sinkUrl = `http://127.0.0.1:${sink.address().port}`;
    // A free port for the second node.
    const probe = createServer();
    await new Promise((r) => probe.listen(0, '127.0.0.1', r));
    const port = probe.address().port;
    await new Promise((r) => probe.close(r));
    nodeUrl = `http://127.0.0.1:${port}`;
    const bin = process.env.ATELIER_INFERENCE_BIN;
    assert.ok(bin, 'ATELIER_INFERENCE_BIN is set by cargo xtask test');
    proc = spawn(bin, [], {
      env: {
        ...process.env,
        ATELIER_JOB_SECRET: SECRET, ATELIER_INFERENCE_ADDR: `127.0.0.1:${port}`,
        ATELIER_UPSTREAM_URL: BASE, ATELIER_UPSTREAM_KEY: key,
        ATELIER_UPSTREAM_TOOLS: 'background-remove,product-to-model,create-face', ATELIER_UPSTREAM_POLL_MS: '200',
        RUST_LOG: 'atelier_inference=warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (let i = 0; i < 300; i++) {
      try { if ((await fetch(`${nodeUrl}/healthz`)).ok) return; } catch { /* starting */ }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the second node did not start');
  });

  after(async () => {
    proc?.kill('SIGKILL');
    await new Promise((r) => sink?.close(r));
  });

  test('capabilities name the upstream; without one, generative tools say how to get one', async () => {
    const by = Object.fromEntries((await (await fetch(`${nodeUrl}/v1/capabilities`)).json()).tools.map((t) => [t.tool, t]));
    assert.equal(by['background-remove'].available, true);
    assert.match(by['background-remove'].engine, /^upstream: FASHN-compatible API at 127\.0\.0\.1:\d+ \(background-remove\)$/);
    assert.equal(by['product-to-model'].available, true);
    assert.match(by['product-to-model'].engine, /\(product-to-model\)$/);
    assert.equal(by['upscale'].available, true, 'its own engines still run');
    assert.doesNotMatch(by['upscale'].engine, /upstream/);
    assert.equal(by['edit'].available, false, 'not in ATELIER_UPSTREAM_TOOLS');
    assert.match(by['create-face'].engine, /\(face-create\)$/);
    const main = Object.fromEntries((await (await fetch(`${NODE}/v1/capabilities`)).json()).tools.map((t) => [t.tool, t]));
    assert.equal(main['product-to-model'].available, false);
    assert.match(main['product-to-model'].reason, /ATELIER_UPSTREAM_URL and ATELIER_UPSTREAM_KEY/);
  });

  test('a forwarded Background Remove comes back as this node\'s output, charged upstream', async () => {
    const before = await credits();
    const id = `up-bg-${Date.now()}`;
    const r = await submit(job(id, 'background-remove'));
    assert.equal(r.status, 202, await r.clone().text());
    const done = await finished(id);
    assert.equal(done.kind, 'completed', JSON.stringify(done));
    assert.match(done.engine, /^upstream: /);
    const out = outputs.get(`/out/${id}-0`);
    assert.equal(out.type, 'image/png');
    const img = decodePng(out.body);
    assert.deepEqual([img.width, img.height, img.channels], [512, 768, 4]);
    assert.equal(img.data[3], 0, 'transparent corner: the upstream really removed the background');
    assert.equal(done.outputs[0].width, 512);
    assert.equal(before - (await credits()), 1, 'the upstream charged its API key one credit');
  });

  test('an upstream failure keeps its FASHN error name and message; nothing is charged', async () => {
    const before = await credits();
    const id = `up-p2m-${Date.now()}`;
    const r = await submit(job(id, 'product-to-model'));
    assert.equal(r.status, 202, await r.clone().text());
    const done = await finished(id);
    assert.equal(done.kind, 'failed');
    assert.equal(done.error, 'PipelineError');
    assert.match(done.message, /no engine on this installation/);
    // The node marked it as forwarded: this edge would not forward it again (the loop guard).
    assert.match(done.message, /never forwarded again/);
    assert.equal(outputs.has(`/out/${id}-0`), false);
    assert.equal(await credits(), before);
  });

  test('a prompt-only tool is forwarded with no image at all', async () => {
    const id = `up-face-${Date.now()}`;
    const r = await submit(job(id, 'create-face', { image: false, prompt: 'woman in her 30s, short curly hair' }));
    assert.equal(r.status, 202, await r.clone().text());
    const done = await finished(id);
    // The upstream (this stack) has no engine for face-create: its answer comes back by name.
    assert.equal(done.kind, 'failed');
    assert.equal(done.error, 'PipelineError');
    assert.match(done.message, /face-create has no engine on this installation/);
  });
});
