// Shared helpers for the node test suites. Everything targets the stack `cargo xtask test`
// started on loopback (ATELIER_URL, ATELIER_INFERENCE_URL).
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { readFileSync, mkdirSync } from 'node:fs';
import { inflateSync, deflateSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

export const BASE = process.env.ATELIER_URL ?? 'http://127.0.0.1:18787';
export const NODE = process.env.ATELIER_INFERENCE_URL ?? 'http://127.0.0.1:18790';
export const SECRET = process.env.ATELIER_JOB_SECRET ?? '';
export const ARTIFACTS = process.env.ATELIER_ARTIFACTS ?? 'test-artifacts';
mkdirSync(ARTIFACTS, { recursive: true });

const here = dirname(fileURLToPath(import.meta.url));
export const fixture = (name) => readFileSync(join(here, '..', 'fixtures', name));
export const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
export const uniqueEmail = (tag) => `${tag}-${randomBytes(5).toString('hex')}@example.com`;

/** A signed-in API client with its own cookie. */
export class Client {
  constructor() { this.cookie = ''; }
  async req(method, path, { body, type, headers = {} } = {}) {
    const h = { ...headers };
    if (this.cookie) h.cookie = this.cookie;
    if (type !== undefined && type !== null) h['content-type'] = type;
    const r = await fetch(BASE + path, { method, body, headers: h });
    const set = r.headers.get('set-cookie');
    if (set) {
      const [pair] = set.split(';');
      this.cookie = pair.endsWith('=') ? '' : pair;
      this.lastSetCookie = set;
    }
    return r;
  }
  json(method, path, value) {
    return this.req(method, path, { body: JSON.stringify(value), type: 'application/json' });
  }
  async signUp(email = uniqueEmail('user'), password = 'correct horse battery') {
    const r = await this.json('POST', '/api/auth/signup', { email, password });
    if (r.status !== 201) throw new Error(`sign-up failed: ${r.status} ${await r.text()}`);
    this.email = email; this.password = password;
    return this;
  }
  async upload(buf, type) {
    const r = await this.req('POST', '/api/assets', { body: buf, type });
    return { status: r.status, body: await r.json() };
  }
  async generation(id) {
    const r = await this.req('GET', `/api/generations/${id}`);
    return (await r.json()).generation;
  }
  async waitDone(id, timeoutMs = 60000) {
    const t = Date.now();
    for (;;) {
      const g = await this.generation(id);
      if (['completed', 'failed', 'canceled', 'time_out'].includes(g.status)) return g;
      if (Date.now() - t > timeoutMs) throw new Error(`generation ${id} still ${g.status}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Creates (or reuses) the account for `email` through the signed admin endpoint and returns a
 * new API key. Test keys get 10× the contract's rate limits unless `scale` says otherwise (the
 * rate-limit tests use 1), so polling tests don't trip them.
 */
export async function createKey(email, apiCredits = 1000, scale = 10) {
  const path = '/api/internal/admin/keys';
  const body = JSON.stringify({ email, api_credits: apiCredits, rate_limit_scale: scale });
  const ts = Math.floor(Date.now() / 1000);
  const r = await fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, body) } });
  if (r.status !== 201) throw new Error(`create key: ${r.status} ${await r.text()}`);
  return (await r.json()).key;
}

/** Signs a request the way edge and nodes do (see core/src/sign.rs). */
export function signRequest(secret, method, path, ts, body) {
  const derived = createHmac('sha256', secret).update('atelier/request/v1').digest();
  const canonical = `${method.toUpperCase()}\n${path}\n${ts}\n${sha256(body)}`;
  return createHmac('sha256', derived).update(canonical).digest('hex');
}

export function signUrl(secret, method, path, exp) {
  const derived = createHmac('sha256', secret).update('atelier/url/v1').digest();
  return createHmac('sha256', derived).update(`${method.toUpperCase()}\n${path}\n${exp}`).digest('hex');
}

function crc32(buf) {
  let c, crc = 0xffffffff;
  for (let n = 0; n < buf.length; n++) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** A structurally valid PNG whose header claims any size (for decompression-bomb tests). */
export function pngWithHeader(width, height) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 6;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Decodes an 8-bit RGB/RGBA, non-interlaced PNG: {width, height, channels, colorType, data}. */
export function decodePng(buf) {
  if (buf.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let at = 8, width, height, depth, colorType, interlace;
  const idat = [];
  while (at < buf.length) {
    const len = buf.readUInt32BE(at); const type = buf.toString('latin1', at + 4, at + 8);
    const data = buf.subarray(at + 8, at + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      depth = data[8]; colorType = data[9]; interlace = data[12];
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    at += 12 + len;
  }
  if (depth !== 8 || interlace !== 0 || ![2, 6].includes(colorType)) throw new Error(`unsupported PNG ${depth}/${colorType}/${interlace}`);
  const channels = colorType === 6 ? 4 : 3;
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[y * stride + x - channels] : 0;
      const b = y > 0 ? out[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? out[(y - 1) * stride + x - channels] : 0;
      let v = line[x];
      if (f === 1) v += a;
      else if (f === 2) v += b;
      else if (f === 3) v += (a + b) >> 1;
      else if (f === 4) { const p = a + b - c; const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c); v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
      out[y * stride + x] = v & 0xff;
    }
  }
  return { width, height, channels, colorType, data: out, px: (x, y) => Array.from(out.subarray((y * width + x) * channels, (y * width + x + 1) * channels)) };
}

/** Asserts the cut-out's shape: alpha channel, transparent corners, opaque subject. */
export function checkCutout(assert, png) {
  const img = decodePng(png);
  assert.equal(img.colorType, 6, 'RGBA PNG');
  const { width: w, height: h } = img;
  for (const [x, y] of [[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]]) {
    assert.ok(img.px(x, y)[3] < 10, `corner (${x},${y}) alpha ${img.px(x, y)[3]}`);
  }
  const chest = img.px(Math.floor(w / 2), Math.floor((h * 2) / 5))[3];
  assert.ok(chest > 245, `subject alpha ${chest}`);
  return img;
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** An 8-bit RGB PNG of `raw`: `height` scanlines of `width` pixels, each after its filter byte. */
export function rgbPng(width, height, raw) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0); ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; // 8-bit RGB, no interlace
  return Buffer.concat([PNG_SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A flat grey RGB PNG of w × h: nothing in it to isolate, no face. */
export function flatPng(w, h, v = 128) {
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(w * 3, v)]);
  return rgbPng(w, h, Buffer.concat(Array.from({ length: h }, () => row)));
}

/** A Developer API client for `key`: `call(method, path, body)` → {status, headers, body}, and
 * `wait(id)` polling /v1/status until the prediction is terminal. */
export function apiClient(key) {
  const call = async (method, path, body) => {
    const r = await fetch(BASE + path, { method, body: body && JSON.stringify(body), headers: { authorization: `Bearer ${key()}`, 'content-type': 'application/json' } });
    return { status: r.status, headers: r.headers, body: await r.json() };
  };
  const wait = async (id) => {
    for (let i = 0; i < 900; i++) {
      const s = await call('GET', `/v1/status/${id}`);
      if (!['starting', 'in_queue', 'processing'].includes(s.body.status)) return s;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('prediction did not finish');
  };
  return { call, wait };
}

/** Grants `n` Studio credits to the account of `email` (the signed admin route). */
export async function giveAppCredits(email, n) {
  const path = '/api/internal/admin/keys';
  const body = JSON.stringify({ email, app_credits: n, no_key: true });
  const ts = Math.floor(Date.now() / 1000);
  const r = await fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, body) } });
  if (!r.ok) throw new Error(`granting credits failed: ${r.status} ${await r.text()}`);
}

/** The flags every headless Chromium of the browser tests runs with. */
export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** axe-core in `page`: serious or critical violations, as "rule (impact): target — help" lines. */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.addScriptTag({ path: AXE });
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return r.violations.filter((v) => ['serious', 'critical'].includes(v.impact))
    .flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')} — ${v.help}`));
}

/** Puts the account of `email` on an App `plan` (and/or API `tier`) from now, nothing charged
 * (the signed admin route behind `cargo xtask admin set-plan`). Returns the Billing view. */
export async function setPlan(email, { plan, tier, interval } = {}) {
  const path = '/api/internal/admin/plan';
  const body = JSON.stringify({ email, plan, tier, interval });
  const ts = Math.floor(Date.now() / 1000);
  const r = await fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, body) } });
  if (!r.ok) throw new Error(`setting the plan failed: ${r.status} ${await r.text()}`);
  return r.json();
}

/** The Stripe webhook secret of the test stack (`cargo xtask test` sets it on the Worker). */
export const STRIPE_WEBHOOK_SECRET = process.env.ATELIER_STRIPE_WEBHOOK_SECRET ?? 'whsec_atelier_local_test';
