// The Studio as an installed app, in Debian's Chromium: the manifest parses with no errors,
// Chromium finds it installable, the service worker controls the page, and once visited the
// shell opens offline (the sign-in screen renders from the cache; the API is never cached).
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
  const cached = await page.evaluate(async () => {
    const c = await caches.open('atelier-shell-v2');
    return (await c.keys()).map((r) => new URL(r.url).pathname);
  });
  assert.ok(cached.includes('/'), cached.join(' '));
  assert.ok(cached.some((p) => p.endsWith('.wasm')), cached.join(' '));
  assert.ok(!cached.some((p) => p.startsWith('/api/')), 'no API response is cached');
  await ctx.setOffline(true);
  try {
    await page.reload();
    await page.getByTestId('auth-form').waitFor({ timeout: 15000 });
    await page.screenshot({ path: join(ARTIFACTS, 'pwa-offline-shell.png') });
    // The API itself is network only: offline it fails rather than answering stale data.
    const api = await page.evaluate(() => fetch('/api/me').then((r) => r.status, () => 'network error'));
    assert.equal(api, 'network error');
  } finally {
    await ctx.setOffline(false);
  }
});
