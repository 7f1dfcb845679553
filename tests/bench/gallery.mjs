// The Gallery at scale (#17): an account with N synthetic completed results (default 10,000,
// what `cargo xtask admin seed-gallery` makes), then
// - the API's first Library page (and a deep page, and filtered pages): p50/p95 over R requests;
// - the time to a painted grid in headless Chromium: from navigation start until every image of
//   the first page has loaded, p50/p95 over B page loads;
// - SQLite's query plans of the Library's queries (none may scan the table).
// Run with `cargo xtask bench` (a fresh stack on loopback; ATELIER_D1_PERSIST names its D1).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { chromium } from 'playwright-core';
import { BASE, SECRET, Client, signRequest } from '../lib/helpers.mjs';

const N = Number(process.env.GALLERY_N ?? 10000);
const R = Number(process.env.GALLERY_API_RUNS ?? 50);
const B = Number(process.env.GALLERY_BROWSER_RUNS ?? 10);
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))]; };
const ms = (x) => `${x.toFixed(1)} ms`;

const c = await new Client().signUp();
const images = ['faces', 'models', 'backgrounds', 'packshot-references'].flatMap((d) =>
  readdirSync(join('library', d)).filter((f) => f.endsWith('.jpg')).sort()
    .map((f) => readFileSync(join('library', d, f)).toString('base64')));
const t0 = performance.now();
for (let start = 0; start < N; start += 250) {
  const path = '/api/internal/admin/seed-gallery';
  const body = JSON.stringify({ email: c.email, count: Math.min(250, N - start), start, images });
  const ts = Math.floor(Date.now() / 1000);
  const r = await fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, body) } });
  if (r.status !== 201) throw new Error(`seeding failed at ${start}: ${r.status} ${await r.text()}`);
}
console.log(`==> Gallery benchmark: ${N} results seeded in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

async function api(label, q) {
  const times = [];
  let total = 0;
  for (let i = 0; i < R + 3; i++) {
    const t = performance.now();
    const r = await c.req('GET', `/api/gallery/entries${q}`);
    const body = await r.json();
    if (r.status !== 200) throw new Error(`${q}: ${r.status} ${JSON.stringify(body)}`);
    if (i >= 3) times.push(performance.now() - t);
    total = body.total;
  }
  console.log(`   API ${label.padEnd(34)} p50 ${ms(pct(times, 0.5))}  p95 ${ms(pct(times, 0.95))}  (${total} match)`);
}
await api('first page', '');
await api('page 100', '?page=100');
await api('tool=upscale', '?tool=upscale');
await api('liked=1', '?liked=1');
await api('media=image&tool=packshot&liked=1', '?media=image&tool=packshot&liked=1');

const profile = mkdtempSync(join(tmpdir(), 'atelier-bench-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS,
  viewport: { width: 1440, height: 900 },
});
const [name, value] = c.cookie.split('=');
await ctx.addCookies([{ name, value, url: BASE }]);
const page = ctx.pages()[0] ?? await ctx.newPage();
const painted = [];
const fromAsk = [];
for (let i = 0; i < B + 1; i++) {
  await page.goto(`${BASE}/gallery`, { waitUntil: 'commit' });
  const t = await page.waitForFunction(() => {
    // Painted: the first page's tiles are there and every image in view has loaded (the rest
    // load lazily as the grid scrolls).
    const imgs = [...document.querySelectorAll('[data-testid=gallery-item] img')];
    const inView = imgs.filter((im) => im.getBoundingClientRect().top < innerHeight);
    const done = imgs.length >= 48 && inView.length > 0 && inView.every((im) => im.complete && im.naturalWidth > 0);
    const asked = performance.getEntriesByType('resource').find((e) => e.name.includes('/api/gallery/entries'));
    return done && asked && [performance.now(), performance.now() - asked.startTime];
  }, null, { polling: 'raf', timeout: 60000 });
  if (i > 0) {
    const [total, fromRequest] = await t.jsonValue();
    painted.push(total);
    fromAsk.push(fromRequest);
  }
}
await ctx.close();
rmSync(profile, { recursive: true, force: true });
console.log(`   Chromium: first page painted (48 tiles, images in view loaded), ${B} loads:`);
console.log(`     from navigation start (HTML through the service worker, the app's wasm, /api/me, the page)  p50 ${ms(pct(painted, 0.5))}  p95 ${ms(pct(painted, 0.95))}`);
console.log(`     from the Library's request (API page, grid, thumbnails in view)                             p50 ${ms(pct(fromAsk, 0.5))}  p95 ${ms(pct(fromAsk, 0.95))}`);

// The ZIP of Select All (up to 2,000 entries): streamed, so workerd's memory should grow by about
// one file, not by the archive. Its resident memory is sampled every 50 ms while the ZIP is read.
{
  const rss = () => {
    let total = 0;
    for (const pid of execFileSync('pgrep', ['-f', 'workerd']).toString().trim().split('\n')) {
      try {
        const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
        if (m) total += Number(m[1]) * 1024;
      } catch { /* gone */ }
    }
    return total;
  };
  const base = rss();
  let peak = base;
  const timer = setInterval(() => { peak = Math.max(peak, rss()); }, 50);
  const t = performance.now();
  const r = await c.req('POST', '/api/gallery/download', { body: 'all=1', type: 'application/x-www-form-urlencoded' });
  if (r.status !== 200) throw new Error(`zip: ${r.status} ${await r.text()}`);
  let bytes = 0;
  for await (const chunk of r.body) bytes += chunk.length;
  clearInterval(timer);
  peak = Math.max(peak, rss());
  const mb = (x) => `${(x / 1e6).toFixed(1)} MB`;
  console.log(`   ZIP of Select All: ${r.headers.get('x-zip-files')} files, ${mb(bytes)} in ${((performance.now() - t) / 1000).toFixed(1)} s; workerd RSS ${mb(base)} → peak ${mb(peak)} (+${mb(peak - base)})`);
}

// The query plans (SQLite's EXPLAIN QUERY PLAN on the bench's own D1).
const persist = process.env.ATELIER_D1_PERSIST;
if (persist) {
  const user = JSON.parse(execFileSync('node_modules/.bin/wrangler', ['d1', 'execute', 'atelier', '--local', '--persist-to', persist, '--json',
    '--command', `SELECT id FROM users WHERE email = '${c.email}'`], { env: { ...process.env, CI: 'true' } }).toString())[0].results[0].id;
  const shown = "source = 'app' AND status = 'completed'";
  const plans = {
    'first page': `SELECT * FROM generations WHERE user_id = '${user}' AND ${shown} ORDER BY created_at DESC LIMIT 48 OFFSET 0`,
    'count': `SELECT COUNT(*) FROM generations WHERE user_id = '${user}' AND ${shown}`,
    'by tool': `SELECT * FROM generations WHERE user_id = '${user}' AND ${shown} AND tool IN ('upscale') ORDER BY created_at DESC LIMIT 48`,
    'liked': `SELECT * FROM generations WHERE user_id = '${user}' AND ${shown} AND liked = 1 ORDER BY created_at DESC LIMIT 48`,
    'collection': `SELECT * FROM generations WHERE user_id = '${user}' AND ${shown} AND id IN (SELECT ci.generation_id FROM collection_items ci JOIN collections c ON c.id = ci.collection_id WHERE ci.collection_id = 'x' AND c.user_id = '${user}') ORDER BY created_at DESC LIMIT 48`,
  };
  for (const [label, sql] of Object.entries(plans)) {
    const out = JSON.parse(execFileSync('node_modules/.bin/wrangler', ['d1', 'execute', 'atelier', '--local', '--persist-to', persist, '--json',
      '--command', `EXPLAIN QUERY PLAN ${sql}`], { env: { ...process.env, CI: 'true' } }).toString());
    const steps = out[0].results.map((r) => r.detail);
    console.log(`   plan ${label.padEnd(11)} ${steps.join(' | ')}`);
    if (steps.some((s) => /^SCAN generations\b/.test(s))) throw new Error(`${label} scans the table: ${steps.join(' | ')}`);
  }
}
