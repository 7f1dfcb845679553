// The Studio on an iPad-sized touch screen (1024×1366 portrait, touch, no mouse) in headless
// Chromium: sign up with taps, pick a photo, run, pinch to zoom the result, no sideways scrolling;
// then Try-On's inputs picked by taps (Starter Models, the product slot's popover).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, ARTIFACTS, fixture, uniqueEmail } from './lib/helpers.mjs';

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];
let ctx, page, profile;
const errors = [];

before(async () => {
  profile = mkdtempSync(join(tmpdir(), 'atelier-ipad-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS,
    viewport: { width: 1024, height: 1366 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2,
  });
  page = ctx.pages()[0] ?? await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
});

after(async () => {
  await ctx?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const tid = (id) => page.getByTestId(id);

test('iPad portrait: sign up, pick, run, pinch-zoom the result', async () => {
  await page.goto(BASE);
  await tid('auth-toggle').tap();
  await tid('email').fill(uniqueEmail('ipad'));
  await tid('password').fill('an ipad password');
  await tid('auth-submit').tap();
  await tid('user-email').waitFor();
  await tid('to-studio').tap();
  await tid('file-input').setInputFiles({ name: 'model.jpg', mimeType: 'image/jpeg', buffer: fixture('model-photo-512.jpg') });
  await page.waitForFunction(() => !document.querySelector('[data-testid=run]').disabled);
  const run = await tid('run').boundingBox();
  assert.ok(run.height >= 40, `Run is a comfortable touch target (${run.height}px)`);
  await tid('run').tap();
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 60000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth > 0);
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');

  // Two fingers spread apart on the result: the zoom grows.
  const box = await page.locator('.atl-canvas').boundingBox();
  const cx = box.x + box.width / 2, cy = box.y + Math.min(box.height, 400) / 2;
  const cdp = await ctx.newCDPSession(page);
  const touch = (type, d) => cdp.send('Input.dispatchTouchEvent', {
    type, touchPoints: type === 'touchEnd' ? [] : [{ x: cx - d, y: cy, id: 1 }, { x: cx + d, y: cy, id: 2 }],
  });
  await touch('touchStart', 40);
  for (const d of [60, 80, 100, 120]) await touch('touchMove', d);
  await touch('touchEnd', 0);
  const zoom = Number(await tid('result-image').evaluate((i) => i.style.zoom || '1'));
  assert.ok(zoom > 2.5 && zoom <= 3.05, `pinch zoom ${zoom}`);
  await page.screenshot({ path: join(ARTIFACTS, 'ipad-result.png') });
  // No hover on touch: the history says which tool made each result without one (#20).
  const label = await tid('history-item').first().evaluate((i) => {
    const s = getComputedStyle(i, '::before');
    return [s.content, s.opacity];
  });
  assert.deepEqual(label, ['"Background Remove"', '1']);
  await tid('zoom-reset').tap();
  assert.equal((await tid('zoom-reset').textContent()).trim(), '100%');

  // Drag and drop is replaced by the pickers: Try-On's model from the Starter Models, the
  // product from the slot's popover (your uploads), all by taps.
  await tid('back').tap();
  await page.locator('[data-tool=try-on]').tap();
  await page.locator('section.atl-input > .atl-pick [data-testid=gallery-open]').tap();
  assert.equal((await tid('gallery-tab-starter').textContent()).trim(), 'Starter Models');
  await tid('gallery-item').first().tap();
  await tid('gallery-dialog').waitFor({ state: 'detached' });
  await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.naturalWidth > 0);
  // No hover on touch: the pencil and the remove button are always shown.
  assert.equal(await page.locator('[data-testid=drop-zone] [data-testid=edit-image]').evaluate((b) => getComputedStyle(b).opacity), '1');
  await page.locator('[data-slot=product] [data-testid=ref-open]').tap();
  assert.match(await tid('ref-popover').textContent(), /Your uploads/);
  await tid('quick-pick').first().tap();
  await page.locator('[data-slot=product] .atl-ref-thumb').waitFor();
  assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling on the input screen');
  await page.screenshot({ path: join(ARTIFACTS, 'ipad-input-try-on.png') });
  assert.deepEqual(errors, []);
});

test('iPad landscape and portrait, touch only: every main screen fits, and the Library names each result\'s tool without hover', async () => {
  for (const [w, h] of [[1366, 1024], [1024, 1366]]) {
    await page.setViewportSize({ width: w, height: h });
    for (const [path, ready] of [['/', 'user-email'], ['/studio', 'tool-title'], ['/billing', 'billing-page'], ['/organizations', 'organizations-page'], ['/help', 'help-page'], ['/gallery', 'gallery-page'], ['/developer', 'developer-page'], ['/account', 'account-page']]) {
      await page.goto(BASE + path);
      await tid(ready).waitFor();
      assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${w}×${h} ${path}: no sideways scrolling`);
    }
    await page.goto(`${BASE}/gallery`);
    const tool = page.locator('.atl-g-tile .atl-g-tool').first();
    await tool.waitFor();
    assert.equal(await tool.evaluate((l) => getComputedStyle(l).opacity), '1', `${w}×${h}: the tool is shown on the tile`);
    await page.screenshot({ path: join(ARTIFACTS, `ipad-gallery-${w}x${h}.png`) });
  }
  assert.deepEqual(errors, []);
});
