// The Studio as an installed app, in Debian's Chromium: the manifest parses with no errors,
// Chromium finds it installable, the service worker controls the page, and once visited the
// shell opens offline (the sign-in screen renders from the cache, with a bar that says what needs
// the network; the API is never cached). A new worker takes over visibly ("A new version is
// available" with Reload) and deletes the previous build's cache; the storefront widget (/embed/)
// is never the worker's.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, ARTIFACTS } from './lib/helpers.mjs';

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
let ctx, page, profile;

before(async () => {
  profile = mkdtempSync(join(tmpdir(), 'atelier-pwa-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS,
    viewport: { width: 1280, height: 800 },
  });
  page = ctx.pages()[0] ?? await ctx.newPage();
});

after(async () => {
  await ctx?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('the manifest is valid and Chromium finds the app installable', async () => {
  await page.goto(BASE);
  await page.getByTestId('auth-form').waitFor();
  const cdp = await ctx.newCDPSession(page);
  const m = await cdp.send('Page.getAppManifest');
  assert.deepEqual(m.errors, [], JSON.stringify(m.errors));
  const manifest = JSON.parse(m.data);
  assert.equal(manifest.name, 'Atelier');
  assert.equal(manifest.display, 'standalone');
  assert.equal(manifest.start_url, '/');
  // The service worker takes control (it claims the page once active).
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 10000 });
  const inst = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(inst.installabilityErrors, [], JSON.stringify(inst.installabilityErrors));
});

test('once visited, the app shell opens offline; the API is not served from the cache', async () => {
  // A second visit fills the cache with the hashed JS, wasm and CSS through the worker.
  await page.reload();
  await page.getByTestId('auth-form').waitFor();
  const names = await page.evaluate(() => caches.keys());
  // One cache, named after this build (app/wasm-split-hook.sh stamps sw.js).
  assert.equal(names.length, 1, names.join(' '));
  assert.match(names[0], /^atelier-shell-[0-9a-f]{12}$/);
  const cached = await page.evaluate(async (name) => {
    const c = await caches.open(name);
    return (await c.keys()).map((r) => new URL(r.url).pathname);
  }, names[0]);
  assert.ok(cached.includes('/'), cached.join(' '));
  assert.ok(cached.some((p) => p.endsWith('.wasm')), cached.join(' '));
  assert.ok(!cached.some((p) => p.startsWith('/api/')), 'no API response is cached');
  await ctx.setOffline(true);
  try {
    await page.reload();
    await page.getByTestId('auth-form').waitFor({ timeout: 15000 });
    // The offline bar says what needs the network.
    await page.getByTestId('offline-bar').filter({ hasText: 'need the network' }).waitFor({ timeout: 5000 });
    await page.screenshot({ path: join(ARTIFACTS, 'pwa-offline-shell.png') });
    // The API itself is network only: offline it fails rather than answering stale data.
    const api = await page.evaluate(() => fetch('/api/me').then((r) => r.status, () => 'network error'));
    assert.equal(api, 'network error');
  } finally {
    await ctx.setOffline(false);
  }
  await page.getByTestId('offline-bar').waitFor({ state: 'detached', timeout: 10000 });
});

test('a new version takes over visibly: the page offers a reload, and the previous build\'s cache is deleted', async () => {
  await page.goto(BASE);
  await page.getByTestId('auth-form').waitFor();
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  const before = await page.evaluate(async () => {
    await caches.open('atelier-shell-0123456789ab'); // what an earlier build left
    await caches.open('someone-else'); // not the app's: left alone
    return caches.keys();
  });
  assert.ok(before.includes('atelier-shell-0123456789ab'));
  // A deploy: a worker script the browser has not seen takes the scope.
  await page.evaluate(() => navigator.serviceWorker.register('/sw.js?deploy=2'));
  const bar = page.getByTestId('update-bar');
  await bar.filter({ hasText: 'A new version is available.' }).waitFor({ timeout: 15000 });
  await page.screenshot({ path: join(ARTIFACTS, 'pwa-update-bar.png') });
  // The controller changes as the new worker activates; its clean-up follows.
  let after = [];
  for (let i = 0; i < 50; i++) {
    after = await page.evaluate(() => caches.keys());
    if (!after.includes('atelier-shell-0123456789ab')) break;
    await page.waitForTimeout(200);
  }
  assert.ok(!after.includes('atelier-shell-0123456789ab'), after.join(' '));
  assert.ok(after.includes('someone-else'), after.join(' '));
  // A real deploy keeps the worker's address: go back to it, so the reload below finds the
  // registration it expects (otherwise that reload would itself be one more "new version").
  await page.evaluate(() => navigator.serviceWorker.register('/sw.js'));
  await page.waitForFunction(() => navigator.serviceWorker.controller?.scriptURL.endsWith('/sw.js'), null, { timeout: 15000 });
  await Promise.all([page.waitForEvent('load'), bar.getByRole('button', { name: 'Reload' }).click()]);
  await page.getByTestId('auth-form').waitFor();
  assert.equal(await page.getByTestId('update-bar').count(), 0, 'after the reload the bar is gone');
});

test('the storefront widget is never served or cached by the app\'s worker', async () => {
  await page.goto(BASE);
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null);
  const r = await page.evaluate(() => fetch('/embed/try-on.js').then((x) => x.status));
  assert.equal(r, 200);
  const cached = await page.evaluate(async () => {
    const out = [];
    for (const n of await caches.keys()) for (const q of await (await caches.open(n)).keys()) out.push(new URL(q.url).pathname);
    return out;
  });
  assert.ok(!cached.some((p) => p.startsWith('/embed/')), cached.join(' '));
});
