// The Gallery page in a real headless Chromium (#17), used as a newcomer would: the sidebar link,
// the date-grouped Library, filters kept in the address (reload, Back), the detail view (zoom,
// like, inputs, Use in → the Studio with the image in its slot), the context menu, Collections
// (create, bulk add, browse, rename, delete), Select All → a ZIP that opens, bulk delete, a long
// press on touch, and axe on both tabs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, ARTIFACTS, Client, fixture, uniqueEmail, giveAppCredits, axeViolations as axeHelper, CHROMIUM_FLAGS as FLAGS } from './lib/helpers.mjs';

let ctx, page, profile, api;
const errors = [];
const ids = {};

before(async () => {
  // The account and its results are made through the API (the Studio's own tests cover making
  // them in the browser); the browser signs in with the same account.
  api = await new Client().signUp(uniqueEmail('gallery'), 'a gallery password');
  await giveAppCredits(api.email, 30);
  const img = (await api.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset;
  const run = async (body) => {
    const r = await api.json('POST', '/api/generations', body);
    assert.equal(r.status, 202, await r.clone().text());
    const g = await api.waitDone((await r.json()).generation.id);
    assert.equal(g.status, 'completed');
    return g.id;
  };
  ids.bg = await run({ tool: 'background-remove', inputs: { image: img.hash } });
  ids.up = await run({ tool: 'upscale', inputs: { image: img.hash }, params: { factor: '2x' } });
  ids.bg2 = await run({ tool: 'background-remove', inputs: { image: img.hash }, params: { background: 'solid', color: '#ff0000' } });

  profile = mkdtempSync(join(tmpdir(), 'atelier-gallery-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS,
    acceptDownloads: true, viewport: { width: 1280, height: 860 },
  });
  page = ctx.pages()[0] ?? await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  // 401 from /api/me before signing in is expected; anything else is a bug.
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push(m.text()); });
  await page.goto(BASE);
  await page.getByTestId('email').fill(api.email);
  await page.getByTestId('password').fill(api.password);
  await page.getByTestId('auth-submit').click();
  await page.getByTestId('user-email').waitFor();
});

after(async () => {
  await ctx?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const tid = (id) => page.getByTestId(id);
const items = () => page.locator('[data-testid=gallery-item]');
const itemIds = () => items().evaluateAll((els) => els.map((e) => e.dataset.id));
const axeViolations = () => axeHelper(page);
const waitCount = (n) => page.waitForFunction((n) => document.querySelectorAll('[data-testid=gallery-item]').length === n, n);

test('the Library: from the sidebar, date-grouped, newest first, thumbnails, the tool on hover', async () => {
  await tid('to-gallery').click();
  await page.waitForURL(/\/gallery$/);
  await waitCount(3);
  assert.deepEqual(await itemIds(), [ids.bg2, ids.up, ids.bg]);
  assert.equal(await page.locator('.atl-g-day h2').first().textContent(), 'Today');
  // Thumbnails, not the full files, in the grid; they load.
  const src = await items().first().locator('img').getAttribute('src');
  assert.equal(src, `/api/generations/${ids.bg2}/outputs/0/thumb`);
  await page.waitForFunction(() => [...document.querySelectorAll('.atl-g-tile img')].every((i) => i.complete && i.naturalWidth > 0));
  await items().nth(1).hover();
  await page.waitForFunction(() => getComputedStyle(document.querySelectorAll('.atl-g-tool')[1]).opacity === '1');
  assert.equal(await items().nth(1).locator('.atl-g-tool').textContent(), 'Upscale');
  assert.equal(await tid('page-label').textContent(), 'Page 1 of 1');
  await page.screenshot({ path: join(ARTIFACTS, 'gallery-library.png') });
  assert.deepEqual(await axeViolations(), []);
});

test('filters combine, live in the address, survive a reload, and Back undoes them', async () => {
  await tid('filters').click();
  await tid('filter-tool').selectOption('background-remove');
  await page.waitForURL(/tool=background-remove/);
  await waitCount(2);
  await page.reload();
  await waitCount(2);
  assert.deepEqual(await itemIds(), [ids.bg2, ids.bg]);
  await tid('filters').click();
  await tid('filter-liked').check();
  await page.waitForURL(/liked=1/);
  await tid('gallery-empty').waitFor();
  assert.match(await tid('gallery-empty').textContent(), /No results match/);
  await page.goBack();
  await waitCount(2);
  await page.goBack();
  await waitCount(3);
});

test('detail view: zoom, the facts and inputs, like; Escape and Back close it', async () => {
  await items().nth(2).click();
  await tid('gallery-detail').waitFor();
  assert.match(page.url(), new RegExp(`item=${ids.bg}`));
  assert.equal(await tid('detail-tool').textContent(), 'Background Remove');
  assert.match(await tid('detail-date').textContent(), /^Today, \d\d:\d\d$/);
  assert.equal(await tid('detail-resolution').textContent(), '512 × 768');
  await tid('zoom-in').click();
  assert.equal(await tid('zoom-level').textContent(), '150%');
  await tid('zoom-reset').click();
  assert.equal(await tid('zoom-level').textContent(), '100%');
  await tid('detail-inputs').locator('summary').click();
  await page.waitForFunction(() => [...document.querySelectorAll('.atl-g-sources img')].some((i) => i.naturalWidth > 0));
  assert.equal(await tid('detail-open').getAttribute('target'), '_blank');
  await tid('detail-like').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=detail-like]').getAttribute('aria-pressed') === 'true');
  await page.screenshot({ path: join(ARTIFACTS, 'gallery-detail.png') });
  assert.deepEqual(await axeViolations(), []);
  await page.keyboard.press('Escape');
  await tid('gallery-detail').waitFor({ state: 'detached' });
  assert.doesNotMatch(page.url(), /item=/);
  // The heart shows on the tile; the liked filter finds it.
  await page.locator(`[data-id="${ids.bg}"] [data-testid=liked-mark]`).waitFor();
  await page.goto(`${BASE}/gallery?liked=1`);
  await waitCount(1);
  // Opened from a typed address, Back closes it.
  await items().first().click();
  await tid('gallery-detail').waitFor();
  await page.goBack();
  await tid('gallery-detail').waitFor({ state: 'detached' });
});

test('Use in: the result opens in the Studio tool, in its slot, and runs', async () => {
  await page.goto(`${BASE}/gallery?item=${ids.bg}`);
  await tid('gallery-detail').waitFor();
  await tid('use-in-upscale').click();
  await page.waitForURL(/\/studio\/upscale$/);
  await page.waitForFunction(() => document.querySelector('[data-testid=run]') && !document.querySelector('[data-testid=run]').disabled);
  assert.match(await page.locator('.atl-preview').getAttribute('src'), /^\/api\/assets\/[0-9a-f]{64}$/);
  await tid('run').click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 60000 });
});

test('context menu: right-click an item to download it', async () => {
  await tid('to-gallery').click();
  await waitCount(4);
  await items().nth(1).click({ button: 'right' });
  await tid('context-menu').waitFor();
  const [dl] = await Promise.all([page.waitForEvent('download'), tid('menu-download').click()]);
  assert.match(dl.suggestedFilename(), /^atelier-background-remove-[0-9a-f]{8}-0\.png$/);
  await page.keyboard.press('Escape');
  await tid('context-menu').waitFor({ state: 'detached' });
});

test('Collections: create, add in bulk from the Library, browse, rename, delete (items stay)', async () => {
  await tid('tab-collections').click();
  await page.waitForURL(/\/gallery\/collections$/);
  await tid('collections-empty').waitFor();
  await tid('new-collection').click();
  await tid('collection-name').fill('Summer campaign');
  await tid('create-collection').click();
  await tid('collection-card').waitFor();
  assert.equal(await tid('collection-count').textContent(), '0 items');
  assert.deepEqual(await axeViolations(), []);
  await page.screenshot({ path: join(ARTIFACTS, 'gallery-collections-empty.png') });

  await tid('tab-library').click();
  await waitCount(4);
  await tid('select-mode').click();
  await items().nth(0).click();
  await items().nth(2).click();
  assert.equal(await tid('selected-count').textContent(), '2 selected');
  const [collection] = await tid('bulk-collection').locator('option').evaluateAll((os) => os.filter((o) => o.value).map((o) => o.value));
  await tid('bulk-collection').selectOption(collection);
  await tid('gallery-notice').waitFor();
  assert.match(await tid('gallery-notice').textContent(), /now holds 2/);

  // Right-click adds one more, one at a time.
  await items().nth(1).click({ button: 'right' });
  await tid('menu-collection').click();
  await tid('menu-collection-item').click();
  await page.waitForFunction(() => /Added/.test(document.querySelector('[data-testid=gallery-notice]')?.textContent));

  await tid('tab-collections').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=collection-count]')?.textContent === '3 items');
  await tid('collection-link').click();
  await page.waitForURL(/\/gallery\/collections\/[0-9a-f]+$/);
  await waitCount(3);
  await page.waitForFunction(() => document.querySelector('[data-testid=collection-title]')?.textContent === 'Summer campaign');
  // Taken out of it from its context menu: it stays in the Library.
  await items().first().click({ button: 'right' });
  await tid('menu-remove-from-collection').click();
  await waitCount(2);

  // The Studio's "From Gallery" picker has the Collections too: open one, pick an image.
  await tid('to-studio').click();
  await page.locator('[data-tool=upscale]').click();
  await page.locator('section.atl-input > .atl-pick').getByTestId('gallery-open').click();
  await tid('gallery-tab-collections').click();
  await page.waitForFunction(() => /Summer campaign/.test(document.querySelector('[data-testid=gallery-dialog] [data-testid=gallery-item]')?.getAttribute('aria-label') ?? ''));
  await tid('gallery-item').first().click();
  await tid('picker-collections-back').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=gallery-dialog] [data-testid=gallery-item]').length === 2);
  await tid('gallery-item').first().click();
  await tid('gallery-dialog').waitFor({ state: 'detached' });
  await page.waitForFunction(() => /^\/api\/assets\/[0-9a-f]{64}$/.test(document.querySelector('.atl-preview')?.getAttribute('src') ?? ''));
  await tid('to-gallery').click();
  await tid('tab-collections').click();
  await tid('collection-menu').click();
  await tid('collection-rename').click();
  await tid('rename-input').fill('SS27');
  await tid('rename-save').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=collection-link]')?.textContent === 'SS27');
  await page.screenshot({ path: join(ARTIFACTS, 'gallery-collections.png') });
  await tid('collection-menu').click();
  await tid('collection-delete').click();
  await tid('collection-delete-confirm').click();
  await tid('collections-empty').waitFor();
  await tid('tab-library').click();
  await waitCount(4);
});

test('Select All downloads every filtered item as one ZIP that opens; bulk delete removes them', async () => {
  await tid('select-mode').click();
  await tid('select-all').click();
  assert.equal(await tid('selected-count').textContent(), '4 selected');
  const [dl] = await Promise.all([page.waitForEvent('download'), tid('bulk-download').click()]);
  assert.equal(dl.suggestedFilename(), 'atelier-gallery-4-files.zip');
  const path = join(ARTIFACTS, dl.suggestedFilename());
  await dl.saveAs(path);
  const names = JSON.parse(execFileSync('python3', ['-c',
    'import json,sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(json.dumps(z.namelist()))', path]).toString());
  assert.equal(names.length, 4);
  assert.ok(names.every((n) => /^atelier-(upscale|background-remove)-[0-9a-f]{8}-0\.png$/.test(n)), names.join());
  assert.ok(readFileSync(path).length > 10000);
  await tid('cancel-selection').click();

  // Delete one of them, with a confirm.
  await tid('select-mode').click();
  const victim = (await itemIds())[3];
  await items().nth(3).click();
  await tid('bulk-delete').click();
  await tid('bulk-delete-confirm').click();
  await waitCount(3);
  assert.ok(!(await itemIds()).includes(victim));
  assert.equal((await api.req('GET', `/api/generations/${victim}`)).status, 404);
});

test('Import: pick files (a bad one is named), marked as imported, then Use in a tool', async () => {
  await tid('import-input').setInputFiles([
    { name: 'my-shoot.jpg', mimeType: 'image/jpeg', buffer: fixture('model-photo-512.jpg') },
    { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not an image') },
  ]);
  await page.waitForFunction(() => /Imported 1 image/.test(document.querySelector('[data-testid=gallery-notice]')?.textContent));
  assert.match(await tid('gallery-error').textContent(), /notes\.txt: not a PNG, JPEG or WebP image/);
  await waitCount(4);
  const first = items().first();
  assert.equal(await first.getAttribute('data-tool'), 'import');
  await first.locator('[data-testid=imported-mark]').waitFor();
  await first.click();
  await tid('gallery-detail').waitFor();
  assert.equal(await tid('detail-tool').textContent(), 'Imported');
  await tid('use-in-upscale').click();
  await page.waitForURL(/\/studio\/upscale$/);
  await page.waitForFunction(() => document.querySelector('[data-testid=run]') && !document.querySelector('[data-testid=run]').disabled);
  await tid('run').click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 60000 });
  await tid('to-gallery').click();
  await waitCount(5);
});

test('touch: a long press opens the context menu', async () => {
  const box = await items().first().boundingBox();
  await items().first().evaluate((el, [x, y]) => {
    el.dispatchEvent(new PointerEvent('pointerdown', { pointerType: 'touch', clientX: x, clientY: y, bubbles: true }));
  }, [box.x + 20, box.y + 20]);
  await tid('context-menu').waitFor({ timeout: 3000 });
  await page.keyboard.press('Escape');
  assert.deepEqual(errors, []);
});
