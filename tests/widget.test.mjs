// The storefront try-on widget (#20), on the real stack and in Debian's Chromium: publishable
// keys (Developer page API and the operator's admin route), the widget page's refusals and its
// frame-ancestors, a publishable key refused by the Developer API, an end-to-end try-on inside a
// shop page served from another loopback origin with the result coming back by postMessage, a
// foreign origin's frame and messages refused, and shoppers' data deleted after the key's
// retention time (the scheduled cleanup on a fake clock).
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, SECRET, ARTIFACTS, CHROMIUM_FLAGS, Client, axeViolations, createKey, fixture, signRequest, signUrl, uniqueEmail } from './lib/helpers.mjs';

const HOUR = 3600 * 1000;
const dataUri = (name, type) => `data:${type};base64,${fixture(name).toString('base64')}`;

async function adminWidgetKey(body) {
  const path = '/api/internal/admin/widget-keys';
  const text = JSON.stringify(body);
  const ts = Math.floor(Date.now() / 1000);
  const r = await fetch(BASE + path, { method: 'POST', body: text, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, text) } });
  return { status: r.status, body: await r.json() };
}

/** Runs the scheduled handler at `time` (ms) for one widget key's runs only (and no account). */
async function cron(keyId, time) {
  const c = `*/15 * * * * account=none time=${Math.round(time)} widget-key=${keyId}`;
  const r = await fetch(`${BASE}/__scheduled?cron=${encodeURIComponent(c)}`);
  assert.equal(r.status, 200, await r.text());
}

/** A signed read of an R2 object, as a node would make it: 200 while it exists. */
async function blobStatus(key) {
  const path = `/api/blobs/${key}`;
  const exp = Math.floor(Date.now() / 1000) + 600;
  const r = await fetch(`${BASE}${path}?exp=${exp}&sig=${signUrl(SECRET, 'GET', path, exp)}`);
  await r.arrayBuffer();
  return r.status;
}

/** A loopback web server standing for a shop (its own origin: another port). */
async function shop(handler) {
  const server = createServer(handler);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

const html = (res, body) => { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(body); };

describe('publishable keys', () => {
  let owner;
  before(async () => { owner = await new Client().signUp(); });

  test('made on the Developer page with checked origins and retention; listed with the embed snippets; revoked at once', async () => {
    let r = await owner.json('POST', '/api/widget-keys', { name: 'Shop', origins: ['shop.example', 'https://ok.example/path'], retention_hours: 0 });
    assert.equal(r.status, 400);
    const e = await r.json();
    assert.deepEqual(e.errors.map((x) => x.path).sort(), ['origins[0]', 'origins[1]', 'retention_hours']);
    assert.match(e.errors.find((x) => x.path === 'origins[1]').message, /without a path/);
    r = await owner.json('POST', '/api/widget-keys', { name: 'Shop', origins: ['http://shop.example'] });
    assert.equal(r.status, 400);
    assert.match((await r.json()).message, /use https/);

    r = await owner.json('POST', '/api/widget-keys', { name: 'Shop', origins: ['https://Shop.Example/', 'http://127.0.0.1:9'], retention_hours: 48 });
    assert.equal(r.status, 201, await r.clone().text());
    const { key } = await r.json();
    assert.match(key.key, /^pk_[0-9a-f]{32}$/);
    assert.deepEqual(key.origins, ['https://shop.example', 'http://127.0.0.1:9']);
    assert.equal(key.retention_hours, 48);
    assert.equal(key.snippet_script, `<script src="${BASE}/embed/widget.js" data-key="${key.key}" data-category="auto" async></script>`);
    assert.ok(key.snippet_iframe.includes(`src="${BASE}/embed/try-on?key=${key.key}"`));

    const list = await (await owner.req('GET', '/api/widget-keys')).json();
    assert.deepEqual(list.keys.map((k) => k.id), [key.id]);
    // Another account cannot see or revoke it.
    const other = await new Client().signUp();
    assert.deepEqual((await (await other.req('GET', '/api/widget-keys')).json()).keys, []);
    assert.equal((await other.req('DELETE', `/api/widget-keys/${key.id}`)).status, 404);

    const page = () => fetch(`${BASE}/embed/try-on?key=${key.key}`, { headers: { referer: 'https://shop.example/p/1', 'sec-fetch-dest': 'iframe' } });
    assert.equal((await page()).status, 200);
    // Changed in place: checked as on create; another shop origin then works with the same key.
    r = await owner.json('PATCH', `/api/widget-keys/${key.id}`, { name: 'Shop', origins: ['https://shop.example'], retention_hours: 721 });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'retention_hours');
    r = await owner.json('PATCH', `/api/widget-keys/${key.id}`, { name: 'Shop', origins: ['https://shop.example', 'https://m.shop.example'], retention_hours: 48 });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).key.key, key.key);
    const m = await fetch(`${BASE}/embed/try-on?key=${key.key}`, { headers: { referer: 'https://m.shop.example/', 'sec-fetch-dest': 'iframe' } });
    assert.equal(m.status, 200);
    assert.match(m.headers.get('content-security-policy'), /frame-ancestors https:\/\/shop\.example https:\/\/m\.shop\.example$/);
    assert.equal((await owner.req('DELETE', `/api/widget-keys/${key.id}`)).status, 200);
    const gone = await page();
    assert.equal(gone.status, 403);
    assert.match(await gone.text(), /switched off/);
    assert.equal((await owner.req('DELETE', `/api/widget-keys/${key.id}`)).status, 404, 'revoking twice is a 404');
    r = await owner.json('PATCH', `/api/widget-keys/${key.id}`, { origins: ['https://shop.example'] });
    assert.equal(r.status, 404, 'a revoked key stays revoked');
  });

  test('the operator\'s route (behind `cargo xtask admin create-widget-key`) makes one for an account', async () => {
    const r = await adminWidgetKey({ email: owner.email, origins: ['https://a.example'] });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.match(r.body.key, /^pk_/);
    assert.equal((await adminWidgetKey({ email: uniqueEmail('nobody'), origins: ['https://a.example'] })).status, 404);
    assert.equal((await adminWidgetKey({ email: owner.email, origins: [] })).status, 400);
  });

  test('a publishable key is never an API key: every Developer API route answers 401', async () => {
    const r = await adminWidgetKey({ email: owner.email, origins: ['https://a.example'] });
    const pk = r.body.key;
    for (const [method, path, body] of [['POST', '/v1/run', { model_name: 'tryon-v1.6', inputs: {} }], ['GET', '/v1/credits'], ['GET', '/v1/status/x']]) {
      const res = await fetch(BASE + path, { method, body: body && JSON.stringify(body), headers: { authorization: `Bearer ${pk}`, 'content-type': 'application/json' } });
      assert.equal(res.status, 401, `${method} ${path}`);
      assert.equal((await res.json()).error, 'UnauthorizedAccess');
    }
  });
});

describe('the widget page and its calls refuse what is not theirs', () => {
  let pk, keyId;
  before(async () => {
    const owner = await new Client().signUp();
    const r = await adminWidgetKey({ email: owner.email, origins: ['https://shop.example', 'http://127.0.0.1:9'] });
    ({ key: pk, id: keyId } = r.body);
  });
  const get = (query, headers = {}) => fetch(`${BASE}/embed/try-on?${query}`, { headers: { 'sec-fetch-dest': 'iframe', ...headers } });

  test('framed by a listed origin: the page, with frame-ancestors of exactly the key\'s origins and no X-Frame-Options', async () => {
    const r = await get(`key=${pk}&category=tops`, { referer: 'https://shop.example/products/42' });
    assert.equal(r.status, 200);
    const csp = r.headers.get('content-security-policy');
    assert.match(csp, /frame-ancestors https:\/\/shop\.example http:\/\/127\.0\.0\.1:9$/);
    assert.match(csp, /script-src 'self'/);
    assert.equal(r.headers.get('x-frame-options'), null);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const body = await r.text();
    assert.match(body, /deleted after 24 hours/);
    assert.match(body, /"category":"tops"/);
  });

  test('refusal pages: no key, an unknown key, another site, opened on its own', async () => {
    for (const [query, headers, status, words] of [
      ['', {}, 404, /not set up/],
      ['key=pk_00000000000000000000000000000000', {}, 404, /unknown/],
      [`key=${pk}`, { referer: 'http://127.0.0.1:10/' }, 403, /http:\/\/127\.0\.0\.1:10 is not one of the sites/],
      [`key=${pk}`, { referer: 'http://plain-http.example/p' }, 403, /The page embedding it is not one of the sites/],
      [`key=${pk}`, { 'sec-fetch-dest': 'document' }, 403, /inside a shop/],
    ]) {
      const r = await get(query, headers);
      assert.equal(r.status, status, query);
      const text = await r.text();
      assert.match(text, words);
      assert.ok(!text.includes('x-widget-session') && !text.includes('"session"'), 'a refusal carries no session');
    }
  });

  test('its API wants the page\'s session, from its own origin; bad bodies are named', async () => {
    const page = await (await get(`key=${pk}`, { referer: 'https://shop.example/' })).text();
    const session = JSON.parse(page.match(/<script type="application\/json" id="config">(.*?)<\/script>/s)[1]).session;
    const run = (headers, body = {}) => fetch(`${BASE}/api/widget/run`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });
    assert.equal((await run({})).status, 401);
    assert.equal((await run({ 'x-widget-session': session.replace(/.$/, (c) => (c === '0' ? '1' : '0')) })).status, 401);
    const foreign = await run({ 'x-widget-session': session, origin: 'http://127.0.0.1:10' });
    assert.equal(foreign.status, 403, 'another site\'s page cannot call it');
    const missing = await run({ 'x-widget-session': session, origin: BASE });
    assert.equal(missing.status, 400);
    assert.deepEqual((await missing.json()).errors.map((e) => e.path), ['model_image', 'garment_image']);
    const notAnImage = await run({ 'x-widget-session': session }, { model_image: 'data:image/png;base64,AAAA', garment_image: dataUri('garment-on-model.webp', 'image/webp') });
    // Accepted as FASHN does, failed at once and free: the widget shows the reason.
    assert.equal(notAnImage.status, 200);
    const { id } = await notAnImage.json();
    const st = await (await fetch(`${BASE}/api/widget/runs/${id}`, { headers: { 'x-widget-session': session } })).json();
    assert.equal(st.status, 'failed');
    assert.equal(st.error.name, 'ImageLoadError');
    // Another key's session cannot read it.
    const other = await adminWidgetKey({ email: (await new Client().signUp()).email, origins: ['https://shop.example'] });
    const page2 = await (await get(`key=${other.body.key}`, { referer: 'https://shop.example/' })).text();
    const session2 = JSON.parse(page2.match(/id="config">(.*?)<\/script>/s)[1]).session;
    assert.equal((await fetch(`${BASE}/api/widget/runs/${id}`, { headers: { 'x-widget-session': session2 } })).status, 404);
    assert.ok(keyId);
  });

  test('a shopper gets 10 try-ons per 10 minutes on a key, then 429 with Retry-After; nothing is charged for them', async () => {
    const owner = await new Client().signUp();
    await createKey(owner.email, 20);
    const k = await adminWidgetKey({ email: owner.email, origins: ['https://shop.example'] });
    const page = await (await get(`key=${k.body.key}`, { referer: 'https://shop.example/' })).text();
    const session = JSON.parse(page.match(/id="config">(.*?)<\/script>/s)[1]).session;
    // An image that fails at once: each is accepted and free, and counts as a try-on.
    const body = JSON.stringify({ model_image: 'data:image/png;base64,AAAA', garment_image: 'data:image/png;base64,AAAA' });
    const statuses = [];
    let last;
    for (let i = 0; i < 11; i++) {
      last = await fetch(`${BASE}/api/widget/run`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-widget-session': session } });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [...Array(10).fill(200), 429]);
    const e = await last.json();
    assert.equal(e.error, 'rate_limited');
    assert.match(e.message, /10 per 10 min/);
    assert.ok(Number(last.headers.get('retry-after')) >= 1);
    const billing = await (await owner.req('GET', '/api/billing')).json();
    assert.equal(billing.api.available, 20, 'failed try-ons cost nothing');
  });

  test('a shop without API credits: the try-on is refused before anything is stored, and says why', async () => {
    const owner = await new Client().signUp();
    await createKey(owner.email, 0);
    const k = await adminWidgetKey({ email: owner.email, origins: ['https://shop.example'] });
    const page = await (await get(`key=${k.body.key}`, { referer: 'https://shop.example/' })).text();
    const session = JSON.parse(page.match(/id="config">(.*?)<\/script>/s)[1]).session;
    const body = JSON.stringify({ model_image: dataUri('model-photo-512.jpg', 'image/jpeg'), garment_image: dataUri('garment-on-model.webp', 'image/webp'), category: 'tops' });
    const r = await fetch(`${BASE}/api/widget/run`, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-widget-session': session } });
    assert.equal(r.status, 429);
    assert.equal((await r.json()).error, 'OutOfCredits');
    const hist = await (await owner.req('GET', '/api/requests')).json();
    assert.deepEqual(hist.requests, [], 'no prediction was recorded');
  });

  test('the widget\'s first load is its own and small (goal: 120 KB brotli)', async () => {
    const page = await get(`key=${pk}`, { referer: 'https://shop.example/' });
    const html = Buffer.from(await page.arrayBuffer());
    const files = [['page', html]];
    const text = html.toString();
    const refs = [...text.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(refs.sort(), ['/embed/try-on.css', '/embed/try-on.js'], 'nothing of the Studio');
    for (const path of [...refs, '/embed/widget.js']) {
      const r = await fetch(BASE + path);
      assert.equal(r.status, 200, path);
      files.push([path, Buffer.from(await r.arrayBuffer())]);
    }
    const { brotliCompressSync, constants } = await import('node:zlib');
    const sizes = Object.fromEntries(files.map(([n, b]) => [n, brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length]));
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    console.log(`# widget first load: ${total} bytes brotli q11 ${JSON.stringify(sizes)}`);
    assert.ok(total <= 120 * 1000, `${total}`);
  });

  test('the app\'s own pages may be framed only by the app', async () => {
    const r = await fetch(`${BASE}/gallery`);
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-security-policy'), "frame-ancestors 'self'");
  });
});

describe('a shopper tries a product on inside a shop\'s page (Chromium)', () => {
  let ctx, profile, owner, key, shopA, shopB;
  const received = [];
  before(async () => {
    owner = await new Client().signUp();
    await createKey(owner.email, 50);
    // Two shops on loopback: A is on the key's list, B is not.
    shopB = await shop((req, res) => {
      if (req.url.startsWith('/meddle')) {
        // B, framed inside A's page, tries to set another product in A's widget.
        // (Again and again, so it is not lost before the widget listens.)
        return html(res, `<script>let n = 0; const t = setInterval(() => { parent.frames[0]?.postMessage({type: 'set-product', image: ${JSON.stringify(dataUri('astronaut.jpg', 'image/jpeg'))}}, '*'); if (++n > 30) clearInterval(t); }, 100);</script>`);
      }
      html(res, `<!doctype html><title>B</title><iframe id="w" src="${BASE}/embed/try-on?key=${key.key}"></iframe>
        <iframe id="quiet" referrerpolicy="no-referrer" src="${BASE}/embed/try-on?key=${key.key}"></iframe>`);
    });
    shopA = await shop((req, res) => {
      html(res, `<!doctype html><html lang="en"><title>A shop</title><h1>Linen dress</h1>
        ${key.snippet_script}
        <iframe id="meddler" src="${shopB.origin}/meddle" style="display:none"></iframe>
        <script>
          window.messages = [];
          addEventListener('load', () => {
            const frame = document.querySelector('iframe[data-atelier-try-on]');
            frame.addEventListener('atelier:result', (e) => window.messages.push(e.detail));
            frame.addEventListener('atelier:error', (e) => window.messages.push(e.detail));
            window.setProduct = (image, category) => frame.atelierSetProduct(image, category);
          });
        </script></html>`);
    });
    profile = mkdtempSync(join(tmpdir(), 'atelier-widget-'));
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS,
      viewport: { width: 1100, height: 900 },
    });
  });
  after(async () => {
    await ctx?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    shopA?.server.close();
    shopB?.server.close();
  });

  test('the Developer page makes a publishable key for the shop and shows the snippet to paste', async () => {
    const page = await ctx.newPage();
    await page.goto(BASE);
    await page.getByTestId('email').fill(owner.email);
    await page.getByTestId('password').fill(owner.password);
    await page.getByTestId('auth-submit').click();
    await page.getByTestId('user-email').waitFor();
    await page.goto(`${BASE}/developer`);
    const section = page.getByTestId('widget-keys');
    await section.waitFor();
    await section.getByTestId('widget-key-name').fill('A shop');
    await section.getByTestId('widget-origins').fill('shop.example');
    await section.getByTestId('create-widget-key').click();
    await section.getByTestId('widget-error').filter({ hasText: 'https://shop.example' }).waitFor();
    await section.getByTestId('widget-origins').fill(shopA.origin);
    await section.getByTestId('create-widget-key').click();
    const card = section.getByTestId('widget-key');
    await card.waitFor();
    const snippet = await card.getByTestId('snippet-script').inputValue();
    assert.match(snippet, /^<script src="http:\/\/127\.0\.0\.1:\d+\/embed\/widget\.js" data-key="pk_[0-9a-f]{32}" data-category="auto" async><\/script>$/);
    assert.match(await card.textContent(), /Photos kept 24 hours/);
    await page.screenshot({ path: join(ARTIFACTS, 'widget-developer-page.png'), fullPage: true });
    const value = await card.getByTestId('widget-key-value').textContent();
    // A second domain for the same key: edited in place, the snippet stays the same.
    await card.getByTestId('edit-widget-key').click();
    await card.getByTestId('edit-origins').fill(`${shopA.origin}\nhttps://www.shop.example`);
    await card.getByTestId('save-widget-key').click();
    await section.getByTestId('widget-edit').waitFor({ state: 'detached' });
    await section.getByTestId('widget-key').filter({ hasText: 'https://www.shop.example' }).waitFor();
    assert.equal(await section.getByTestId('widget-key-value').textContent(), value, 'the same key');
    key = (await (await owner.req('GET', '/api/widget-keys')).json()).keys[0];
    assert.deepEqual(key.origins, [shopA.origin, 'https://www.shop.example']);
    assert.equal(key.snippet_script.replace(BASE, ''), snippet.replace(/^<script src="http:\/\/127\.0\.0\.1:\d+/, '<script src="'));
    await page.close();
  });

  test('the try-on runs end to end; the result comes back by postMessage; a foreign frame\'s message changes nothing', async () => {
    const page = await ctx.newPage();
    await page.goto(`${shopA.origin}/products/linen-dress`);
    const frame = page.frameLocator('iframe[data-atelier-try-on]');
    await frame.getByTestId('widget').waitFor();
    await frame.getByTestId('retention').filter({ hasText: '24 hours' }).waitFor();
    // B's message (from a frame that is not the widget's parent, of an origin not listed) is ignored.
    await page.waitForTimeout(3500);
    assert.equal(await frame.locator('#product').isHidden(), true, 'no product from a foreign message');
    assert.equal(await frame.getByTestId('run').isDisabled(), true);

    await page.evaluate((img) => window.setProduct(img, 'one-pieces'), dataUri('garment-on-model.webp', 'image/webp'));
    await frame.locator('#product:not([hidden])').waitFor();
    await frame.getByTestId('choose-photo').setInputFiles({ name: 'me.jpg', mimeType: 'image/jpeg', buffer: fixture('model-photo-1024.jpg') });
    await frame.locator('#photo:not([hidden])').waitFor();
    await frame.getByTestId('run').click();
    await page.waitForFunction(() => window.messages.length > 0, null, { timeout: 120000 });
    const [msg] = await page.evaluate(() => window.messages);
    assert.equal(msg.type, 'result', JSON.stringify(msg));
    assert.ok(msg.url.startsWith(`${BASE}/v1/outputs/${msg.id}/0?`), msg.url);
    await frame.getByTestId('result').waitFor();
    assert.equal(await frame.getByTestId('download').getAttribute('href'), msg.url);
    // The one-tag embed grows the frame to what the widget shows.
    await page.waitForFunction(() => document.querySelector('iframe[data-atelier-try-on]').getBoundingClientRect().height > 700);
    await page.screenshot({ path: join(ARTIFACTS, 'widget-result.png'), fullPage: true });

    const out = await fetch(msg.url);
    assert.equal(out.status, 200);
    assert.equal(out.headers.get('content-type'), 'image/jpeg');
    assert.ok((await out.arrayBuffer()).byteLength > 10000);
    // The merchant paid tryon-v1.6's price from its API credits, and its history says so.
    const billing = await (await owner.req('GET', '/api/billing')).json();
    assert.equal(billing.api.available, 49, JSON.stringify(billing.api));
    const hist = await (await owner.req('GET', '/api/requests')).json();
    const row = hist.requests.find((x) => x.id === msg.id);
    assert.equal(row.model_name, 'tryon-v1.6');
    assert.equal(row.key.name, 'Widget: A shop');
    // The shopper's photo is the run's own, not one of the merchant's assets.
    const assets = await (await owner.req('GET', '/api/assets')).json();
    assert.equal(assets.assets.length, 0, JSON.stringify(assets));
    assert.equal(await blobStatus(`widget/${msg.id}/image`), 200);

    // Kept for the key's 24 hours, then gone: the scheduled cleanup on a fake clock.
    await cron(key.id, Date.now() + 23 * HOUR);
    assert.equal((await fetch(msg.url)).status, 200, 'still there before its time');
    await cron(key.id, Date.now() + 25 * HOUR);
    assert.equal((await fetch(msg.url)).status, 404, 'the result is deleted');
    assert.equal(await blobStatus(`widget/${msg.id}/image`), 404, 'the shopper\'s photo is deleted');
    const after = await (await owner.req('GET', `/api/requests`)).json();
    assert.equal(after.requests.find((x) => x.id === msg.id).status, 'completed', 'the record of the charge stays');
  });

  test('another site cannot frame it: the browser enforces frame-ancestors, and the server refuses a foreign Referer', async () => {
    const page = await ctx.newPage();
    const refused = [];
    page.on('response', (r) => { if (r.url().includes('/embed/try-on?')) refused.push(r.status()); });
    await page.goto(`${shopB.origin}/`);
    await page.waitForTimeout(1500);
    // With a Referer the edge answers a refusal page; without one (referrerpolicy=no-referrer)
    // the page comes with frame-ancestors that Chromium enforces: the widget renders in neither.
    assert.deepEqual(refused.sort(), [200, 403], `one refusal, one page for the browser to block: ${refused}`);
    for (const f of page.frames().filter((x) => x !== page.mainFrame())) {
      assert.equal(await f.locator('[data-testid=widget]').count(), 0, `no widget inside ${f.url()}`);
    }
    assert.equal(await page.frameLocator('#w').getByTestId('widget-refused').count(), 1, 'the refusal says why');
    await page.screenshot({ path: join(ARTIFACTS, 'widget-foreign-origin.png') });
  });

  test('the widget passes an axe-core scan, and every control is reachable by keyboard', async () => {
    // axe is injected as a script, which the widget's CSP rightly refuses: this context alone
    // bypasses CSP (the frame-ancestors checks above run without the bypass).
    const b = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
    try {
      const page = await (await b.newContext({ bypassCSP: true })).newPage();
      await page.goto(`${shopA.origin}/`);
      await page.frameLocator('iframe[data-atelier-try-on]').getByTestId('widget').waitFor();
      const frame = page.frames().find((f) => f.url().includes('/embed/try-on?'));
      assert.deepEqual(await axeViolations(frame), []);
      // Tab moves through the shop page into the widget's photo input.
      const focusable = await frame.evaluate(() => [...document.querySelectorAll('input, button, a[href]')]
        .filter((e) => !e.closest('[hidden]') && e.tabIndex >= 0).map((e) => e.dataset.testid ?? e.id));
      assert.ok(focusable.includes('choose-photo'), focusable.join(' '));
    } finally {
      await b.close();
    }
  });

  test('on a touch device the shopper can take a photo with the camera', async () => {
    const touch = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
    try {
      const c = await touch.newContext({ viewport: { width: 1024, height: 1366 }, hasTouch: true, isMobile: true });
      const page = await c.newPage();
      await page.goto(`${shopA.origin}/`);
      const frame = page.frameLocator('iframe[data-atelier-try-on]');
      await frame.getByTestId('widget').waitFor();
      assert.equal(await frame.getByTestId('take-photo').getAttribute('capture'), 'user');
      assert.ok(await frame.locator('#take-label').isVisible(), 'Take a photo is offered on touch');
      await page.screenshot({ path: join(ARTIFACTS, 'widget-ipad.png') });
    } finally {
      await touch.close();
    }
  });
});
