// End to end in a real headless Chromium (Debian's, driven by playwright-core): sign up, upload,
// run Background Remove, see progress and the result, download it, history, reload, sign out/in.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, ARTIFACTS, SECRET, fixture, uniqueEmail, checkCutout, decodePng, createKey, setPlan, signRequest, axeViolations as axeHelper, CHROMIUM_FLAGS as FLAGS } from './lib/helpers.mjs';

let ctx, page, profile;
const consoleErrors = [];
const editorRequests = [];
const email = uniqueEmail('e2e');
const password = 'a browser password';

before(async () => {
  profile = mkdtempSync(join(tmpdir(), 'atelier-chromium-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS,
    acceptDownloads: true, viewport: { width: 1280, height: 860 },
  });
  page = ctx.pages()[0] ?? await ctx.newPage();
  page.on('console', (m) => {
    // Expected by design: 401 from /api/me while signed out and from the wrong-password sign-in,
    // 415 from the deliberately bad upload. Anything else is a bug.
    if (m.type() === 'error' && !/status of (401|415)/.test(m.text())) consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('request', (r) => { if (new URL(r.url()).pathname.startsWith('/editor/')) editorRequests.push(r.url()); });
});

after(async () => {
  await ctx?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const tid = (id) => page.getByTestId(id);
const axeViolations = () => axeHelper(page);

/** Selects a tool in the toolbar (on the input screen: from a result, Back first). */
async function toTool(id) {
  if (await tid('back').count()) await tid('back').click();
  await page.locator(`[data-tool=${id}]`).click();
}

/** Opens "From Gallery" in `scope`, switches to `tab` and picks item `n` (-1: the last). */
async function pickFromGallery(scope, tab, n) {
  await scope.getByTestId('gallery-open').click();
  await tid(`gallery-tab-${tab}`).click();
  await tid('gallery-item').first().waitFor();
  await (n < 0 ? tid('gallery-item').last() : tid('gallery-item').nth(n)).click();
  await tid('gallery-dialog').waitFor({ state: 'detached' });
}

async function runAndWait() {
  await tid('run').click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 60000 });
  await tid('result-image').waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth > 0);
}

async function download() {
  const [dl] = await Promise.all([page.waitForEvent('download'), tid('download').click()]);
  const path = join(ARTIFACTS, dl.suggestedFilename());
  await dl.saveAs(path);
  return readFileSync(path);
}

test('sign up in the browser', async () => {
  await page.goto(BASE);
  await tid('auth-toggle').click();
  await tid('email').fill(email);
  await tid('password').fill(password);
  await tid('auth-submit').click();
  await tid('user-email').waitFor();
  assert.equal(await tid('user-email').textContent(), email);
  await page.waitForFunction(() => document.querySelector('[data-testid=credits]')?.textContent === '10 credits');
  // Sign-in lands on Home; its Background Remove card opens the Studio on that tool.
  await tid('home').waitFor();
  await tid('quick-background-remove').click();
  await page.waitForURL(/\/studio\/background-remove$/);
});

test('upload with the file picker, run, see progress and the cut-out, download a transparent PNG', async () => {
  await tid('file-input').setInputFiles({ name: 'model.jpg', mimeType: 'image/jpeg', buffer: fixture('model-photo-512.jpg') });
  await tid('preview').waitFor();
  await page.waitForFunction(() => !document.querySelector('[data-testid=run]').disabled);
  assert.equal((await tid('run').textContent()).trim(), 'Run · 1 credit', 'the cost comes from core before Run');
  await tid('run').click();
  // The result screen shows the job's state while it runs.
  await tid('status').waitFor();
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 60000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth > 0);
  assert.ok(await page.locator('.atl-canvas.atl-checker').count() === 1, 'shown on a checkerboard');
  await page.screenshot({ path: join(ARTIFACTS, 'result-screen.png') });
  const png = await download();
  const img = checkCutout(assert, png);
  assert.deepEqual([img.width, img.height], [512, 768]);
  await page.waitForFunction(() => document.querySelector('[data-testid=credits]')?.textContent === '9 credits');
});

test('solid color gives the fill instead', async () => {
  await tid('back').click();
  await tid('bg-solid').check();
  await tid('color').fill('#ff0000');
  await runAndWait();
  assert.equal(await page.locator('.atl-canvas.atl-checker').count(), 0);
  const img = decodePng(await download());
  assert.equal(img.colorType, 2);
  const [r, g, b] = img.px(2, 2);
  assert.ok(r > 245 && g < 10 && b < 10, `corner ${[r, g, b]}`);
});

test('Upscale 2x from the toolbar doubles the photo, with its cost on Run', async () => {
  await tid('back').click();
  await toTool('upscale');
  assert.equal(await tid('tool-title').textContent(), 'Upscale');
  assert.ok(await tid('factor-2x').isChecked(), '2x by default');
  assert.equal((await tid('run').textContent()).trim(), 'Run · 1 credit');
  await runAndWait();
  const img = decodePng(await download());
  assert.deepEqual([img.width, img.height], [1024, 1536]);
});

test('Reframe to 16:9 from the toolbar', async () => {
  await tid('back').click();
  await toTool('reframe');
  // Core's checks show before Run: the photo is already 2:3.
  await tid('aspect-ratio').selectOption('2:3');
  assert.match(await tid('own-error').textContent(), /already 2:3; choose another ratio/);
  assert.ok(await tid('run').isDisabled());
  await tid('aspect-ratio').selectOption('16:9');
  await tid('own-error').waitFor({ state: 'detached' });
  assert.equal((await tid('run').textContent()).trim(), 'Run · 1 credit');
  await runAndWait();
  const img = decodePng(await download());
  assert.deepEqual([img.width, img.height], [1368, 768]);
  await toTool('background-remove');
});

test('drag and drop, and paste, upload too', async () => {
  const b64 = fixture('garment-on-model.webp').toString('base64');
  const uploads = [];
  page.on('response', (r) => { if (r.url().endsWith('/api/assets') && r.request().method() === 'POST') uploads.push(r.status()); });
  await page.evaluate((data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'garment.webp', { type: 'image/webp' }));
    document.querySelector('[data-testid=drop-zone]').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, b64);
  await page.waitForFunction(() => !document.querySelector('[data-testid=run]').disabled);
  await page.evaluate((data) => {
    const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], 'pasted.webp', { type: 'image/webp' }));
    document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  }, b64);
  await page.waitForFunction(() => !document.querySelector('[data-testid=run]').disabled);
  await page.waitForTimeout(200);
  assert.deepEqual(uploads, [201, 201], 'one upload per drop and per paste');
});

test('a bad file shows a clear message', async () => {
  await tid('file-input').setInputFiles({ name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('not really a png') });
  await tid('input-error').waitFor();
  assert.match(await tid('input-error').textContent(), /not a PNG, JPEG or WebP/);
  assert.ok(await tid('run').isDisabled());
});

test('history lists the runs, survives a reload, and loads a result on click', async () => {
  const items = tid('history-item');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=history-item]').length === 4);
  await page.reload();
  await tid('user-email').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=history-item]').length === 4);
  assert.equal(await items.first().getAttribute('title'), 'Reframe', 'newest first, tool name on hover');
  await items.last().click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor();
  assert.equal(await page.locator('.atl-canvas.atl-checker').count(), 1, 'the first (transparent) run is loaded');
});

test('every tool shows its controls; tools without an engine say why and cannot run; cost and checks from core; axe clean', async () => {
  await tid('back').click();
  const p2m = page.locator('[data-tool=product-to-model]');
  await page.waitForFunction(() => document.querySelector('[data-tool=product-to-model]')?.classList.contains('atl-unavailable'));
  assert.match(await p2m.getAttribute('title'), /Product to Model: no engine/);
  assert.deepEqual(await axeViolations(), [], 'input screen (Background Remove)');
  // Create Face: a prompt is required; the cost follows mode, resolution and outputs, as /api/quote says.
  await page.locator('[data-tool=face-create], [data-tool=create-face]').first().click();
  assert.equal(await tid('tool-title').textContent(), 'Create Face');
  assert.equal(await page.locator('[data-testid=drop-zone]').count(), 0, 'no main image for a text-only tool');
  assert.match(await tid('prompt').getAttribute('placeholder'), /Describe the face/);
  await page.locator('[data-field-error=prompt]').waitFor();
  await tid('prompt').fill('woman in her 30s, short curly hair');
  await page.locator('[data-field-error=prompt]').waitFor({ state: 'detached' });
  await tid('gen-mode').selectOption('quality');
  await tid('gen-resolution').selectOption('4k');
  await tid('gen-outputs').selectOption('4');
  const q = await (await page.request.post(BASE + '/api/quote', { data: { surface: 'app', model_name: 'face-create', inputs: { prompt: 'p', generation_mode: 'quality', resolution: '4k', num_images: 4 } } })).json();
  assert.ok(q.credits > 4, JSON.stringify(q));
  assert.equal((await tid('run-generic').textContent()).trim(), `Run · ${q.credits} credits`);
  assert.ok(await tid('run-generic').isDisabled());
  assert.match(await tid('unavailable-reason').textContent(), /Create Face can't run here: no engine/);
  // Gated choices show the plan that unlocks them.
  const gates = await tid('plan-gate').allTextContents();
  assert.ok(gates.some((g) => /Create Face requires the Agency plan/.test(g)), gates.join(' | '));
  assert.ok(gates.some((g) => /Quality mode is available on Pro/.test(g)), gates.join(' | '));
  assert.deepEqual(await axeViolations(), [], 'input screen (Create Face)');
  await page.screenshot({ path: join(ARTIFACTS, 'input-screen-create-face.png') });
  // Image to Video has its own options; Face Swap needs a Face Reference.
  await toTool('image-to-video');
  await tid('gen-duration').waitFor();
  await tid('gen-video-resolution').waitFor();
  await toTool('face-swap');
  await tid('gen-face-match').waitFor();
  await page.locator('[data-slot=face_reference]').waitFor();
  await page.locator('[data-field-error=inputs]').first().waitFor();
  assert.match(await page.locator('[data-field-error=inputs]').first().textContent(), /Face Swap needs an? (image|Face Reference)\./);
  // Both images come from the Gallery: the image from your uploads, the Face Reference from your
  // results (the picker opens on the Starter Faces; no created faces yet); then it validates and
  // is priced by core.
  await pickFromGallery(page.locator('section.atl-input > .atl-pick'), 'uploads', 0);
  await page.locator('[data-slot=face_reference] [data-testid=gallery-open]').click();
  assert.equal(await tid('gallery-tab-starter').getAttribute('aria-selected'), 'true');
  assert.equal((await tid('gallery-tab-starter').textContent()).trim(), 'Starter Faces');
  await tid('gallery-item').first().waitFor();
  assert.ok((await tid('gallery-item').evaluateAll((l) => l.map((b) => b.getAttribute('title')))).includes('Man in a wide brimmed hat'));
  await tid('gallery-tab-faces').click();
  assert.match(await tid('gallery-empty').textContent(), /faces you make with Create Face appear here/);
  await tid('gallery-tab-results').click();
  await tid('gallery-item').first().waitFor();
  // Hover names the tool that made it.
  assert.match(await tid('gallery-item').first().getAttribute('title'), /^(Background Remove|Upscale|Reframe)$/);
  assert.deepEqual(await axeViolations(), [], 'Gallery picker');
  await page.screenshot({ path: join(ARTIFACTS, 'gallery-picker.png') });
  await tid('gallery-item').first().click();
  await tid('gallery-dialog').waitFor({ state: 'detached' });
  await page.locator('[data-slot=face_reference] .atl-ref-thumb').waitFor();
  // With a Face Reference, Face Swap's match control.
  assert.deepEqual(await tid('gen-face-match').locator('option').allTextContents(), ['Match Reference', 'Match Current Model']);
  await page.locator('[data-field-error=inputs]').waitFor({ state: 'detached' });
  const fq = await (await page.request.post(BASE + '/api/quote', { data: { surface: 'app', model_name: 'face-swap', inputs: { image: 'data:image/png;base64,iVBORw0KGgo=', face_reference: 'data:image/png;base64,iVBORw0KGgo=' } } })).json();
  assert.equal((await tid('run-generic').textContent()).trim(), `Run · ${fq.credits} credit${fq.credits === 1 ? '' : 's'}`);
  // A face of your own needs the Agency plan on Model Swap; a Starter Face does not.
  await toTool('model-swap');
  const agency = async () => (await tid('plan-gate').allTextContents()).some((g) => /Uploading your own Face Reference requires the Agency plan/.test(g));
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=plan-gate]')].some((g) => /Agency/.test(g.textContent)));
  assert.ok(await agency(), 'your own face: gated');
  await page.locator('[data-slot=face_reference]').getByRole('button', { name: 'Remove Face Reference 1' }).click();
  // Browse all (in the slot's popover) opens the Gallery on the same library.
  await page.locator('[data-slot=face_reference] [data-testid=ref-open]').click();
  await tid('ref-browse').click();
  await tid('gallery-dialog').waitFor();
  assert.equal(await tid('gallery-tab-starter').getAttribute('aria-selected'), 'true');
  await page.keyboard.press('Escape');
  await tid('gallery-dialog').waitFor({ state: 'detached' });
  // The Face Reference popover: Upload, the Starter Faces strip, Browse all.
  await page.locator('[data-slot=face_reference] [data-testid=ref-open]').click();
  const pop = tid('ref-popover');
  assert.match(await pop.textContent(), /Upload.*Starter Faces.*Browse all/);
  await pop.getByTestId('quick-pick').first().waitFor();
  assert.deepEqual(await axeViolations(), [], 'reference popover');
  await page.screenshot({ path: join(ARTIFACTS, 'reference-popover-starter-faces.png') });
  await pop.getByRole('button', { name: 'Man in a wide brimmed hat' }).click();
  await page.locator('[data-slot=face_reference] .atl-ref-thumb').waitFor();
  await pop.waitFor({ state: 'detached' });
  assert.equal(await agency(), false, 'a Starter Face: no plan needed');
  // With a Face Reference, Model Swap's match control is Match Base.
  assert.deepEqual(await tid('gen-face-match').locator('option').allTextContents(), ['Match Reference', 'Match Base']);
  await toTool('background-remove');
  await tid('drop-zone').waitFor();
  // The main image can come from your uploads too.
  await pickFromGallery(page.locator('section.atl-input > .atl-pick'), 'uploads', -1);
  await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.getAttribute('src')?.startsWith('/api/assets/'));
  await page.waitForFunction(() => !document.querySelector('[data-testid=run]').disabled);
  // Enter inside the Gallery dialog is the dialog's: it does not start a run behind it.
  await page.locator('section.atl-input > .atl-pick [data-testid=gallery-open]').click();
  await tid('gallery-dialog').press('Enter');
  await page.keyboard.press('Escape');
  await tid('gallery-dialog').waitFor({ state: 'detached' });
  assert.equal(await tid('back').count(), 0, 'still on the input screen: nothing ran');
});

test('Product to Model: extra product images can be reordered and removed before running', async () => {
  await toTool('product-to-model');
  const slot = page.locator('[data-slot=product]');
  await pickFromGallery(slot, 'uploads', 0);
  await pickFromGallery(slot, 'uploads', 1);
  const srcs = () => slot.locator('.atl-ref-thumb').evaluateAll((l) => l.map((i) => i.getAttribute('src')));
  await page.waitForFunction(() => document.querySelectorAll('[data-slot=product] .atl-ref-thumb').length === 2);
  const before = await srcs();
  assert.notEqual(before[0], before[1]);
  await slot.getByTestId('ref-move-earlier').click();
  assert.deepEqual(await srcs(), [before[1], before[0]]);
  await slot.getByRole('button', { name: 'Remove product image 1' }).click();
  assert.deepEqual(await srcs(), [before[0]]);
  await toTool('background-remove');
  await tid('drop-zone').waitFor();
});

test('result zoom, then the suggestion bar carries the result into Upscale without re-uploading', async () => {
  // The Reframe result (newest): its "Where next?" is Upscale and Image to Video.
  await tid('history-item').first().click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth > 0);
  const reframed = await tid('result-image').evaluate((i) => i.naturalWidth);
  assert.deepEqual(await axeViolations(), [], 'result screen');
  assert.equal((await tid('zoom-reset').textContent()).trim(), '100%');
  await tid('zoom-in').click();
  await tid('zoom-in').click();
  assert.equal((await tid('zoom-reset').textContent()).trim(), '156%');
  assert.equal(await tid('result-image').evaluate((i) => i.style.zoom), '1.5625');
  await tid('zoom-out').click();
  assert.equal((await tid('zoom-reset').textContent()).trim(), '125%');
  await tid('zoom-reset').click();
  assert.equal((await tid('zoom-reset').textContent()).trim(), '100%');
  // Where next? Upscale and Image to Video are both live here.
  assert.ok(!(await page.locator('[data-next=image-to-video]').isDisabled()));
  assert.match(await page.locator('[data-next=image-to-video]').getAttribute('title'), /Continue in Image to Video/);
  const uploads = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/assets')) uploads.push(r.url()); });
  await page.locator('[data-next=upscale]').click();
  await tid('tool-title').waitFor();
  assert.equal(await tid('tool-title').textContent(), 'Upscale');
  await page.waitForFunction(() => !document.querySelector('[data-testid=run]').disabled);
  assert.equal(uploads.length, 0, 'carried over, not uploaded again');
  await tid('run').click();
  // The new run replaces the Reframe's completed status first (unless it is already done).
  await page.waitForFunction(() => document.querySelector('[data-testid=status]')?.dataset.status !== 'completed', null, { timeout: 5000 }).catch(() => {});
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 60000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth > 0, null, { timeout: 60000 });
  assert.equal(await tid('result-image').evaluate((i) => i.naturalWidth), 2 * reframed, 'Upscale 2x of the reframed result');
  await page.screenshot({ path: join(ARTIFACTS, 'result-after-suggestion.png') });
});

test('branch from a history item: its tool, input and options come back; Enter runs', async () => {
  await page.locator('[data-testid=history-item][title="Background Remove"]').first().click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor();
  await tid('branch').click();
  assert.equal(await tid('tool-title').textContent(), 'Background Remove');
  assert.ok(await tid('bg-solid').isChecked(), 'the solid-color option came back');
  assert.equal(await tid('color').inputValue(), '#ff0000');
  await page.waitForFunction(() => !document.querySelector('[data-testid=run]').disabled);
  await tid('bg-transparent').check();
  await tid('bg-transparent').focus();
  await page.keyboard.press('Enter');
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 60000 });
  assert.equal(await page.locator('.atl-canvas.atl-checker').count(), 1, 'the branch ran with the changed option');
});

test('Developer API page: create a key (shown once), use it, see the request, rename, revoke', async () => {
  await tid('to-developer').click();
  await tid('developer-page').waitFor();
  assert.match(page.url(), /\/developer$/);
  await tid('key-name').fill('Browser key');
  await tid('create-key').click();
  const value = await tid('new-key-value').inputValue();
  assert.match(value, /^atl_[0-9a-f]{48}$/);
  await page.locator('[data-testid=key-row]').first().waitFor();
  assert.equal(await tid('key-name-cell').first().textContent(), 'Browser key');
  assert.ok(!(await tid('keys').textContent()).includes(value), 'the table shows only the prefix');
  // The key works; an operator grants API credits to this account; a prediction shows up.
  await createKey(email, 3);
  const auth = { authorization: `Bearer ${value}`, 'content-type': 'application/json' };
  const image = `data:image/jpeg;base64,${fixture('model-photo-512.jpg').toString('base64')}`;
  const run = await (await fetch(`${BASE}/v1/run`, { method: 'POST', headers: auth, body: JSON.stringify({ model_name: 'background-remove', inputs: { image } }) })).json();
  for (let i = 0; i < 150; i++) {
    const st = await (await fetch(`${BASE}/v1/status/${run.id}`, { headers: auth })).json();
    if (st.status === 'completed' || st.status === 'failed') break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await tid('refresh-history').click();
  await page.locator('[data-testid=request-row][data-status=completed]').waitFor();
  assert.match(await tid('requests').textContent(), new RegExp(run.id));
  await tid('filter-status').selectOption('failed');
  await page.locator('[data-testid=request-row]').waitFor({ state: 'detached' });
  await tid('filter-status').selectOption('');
  await page.locator('[data-testid=request-row]').first().waitFor();
  await page.screenshot({ path: join(ARTIFACTS, 'developer-page.png'), fullPage: true });
  // Rename, then revoke (confirming the dialog); the key stops working.
  // (The operator's grant above made a second key; act on the browser's own row.)
  const row = () => page.locator('[data-testid=key-row]', { has: page.locator(`text=${value.slice(0, 8)}`) });
  await row().getByTestId('rename').click();
  await row().getByTestId('rename-input').fill('Renamed key');
  await row().getByTestId('rename-save').click();
  await page.getByText('Renamed key').waitFor();
  page.once('dialog', (d) => d.accept());
  await row().getByTestId('revoke').click();
  await row().locator('[data-testid=key-status]', { hasText: 'Revoked' }).waitFor();
  assert.equal((await fetch(`${BASE}/v1/credits`, { headers: auth })).status, 401);
  // The page survives a reload; back to the Studio.
  await page.reload();
  await tid('developer-page').waitFor();
  await tid('to-studio').click();
  await tid('user-email').waitFor();
});

test('routes: a typed address, Back and Forward, and a Studio link with settings land on the right page and state', async () => {
  const pressed = (tool) => page.locator(`[data-tool=${tool}][aria-pressed=true]`).waitFor();
  // A Studio link with its settings opens that tool prefilled.
  await page.goto(`${BASE}/studio/packshot?prompt=flat-lay%20on%20light%20grey&num_images=3&aspect_ratio=4:5`);
  await pressed('packshot');
  assert.equal(await tid('prompt').inputValue(), 'flat-lay on light grey');
  assert.equal(await tid('gen-outputs').inputValue(), '3');
  assert.equal(await tid('gen-aspect').inputValue(), '4:5');
  assert.equal(await tid('to-studio').getAttribute('aria-current'), 'page');
  await page.screenshot({ path: join(ARTIFACTS, 'shell-studio-link.png') });
  // A changed setting goes into the address (replacing it), so a copied address or a reload
  // opens the same panel.
  await tid('gen-outputs').selectOption('2');
  await page.waitForURL(/\/studio\/packshot\?.*num_images=2/);
  await page.reload();
  await pressed('packshot');
  assert.equal(await tid('gen-outputs').inputValue(), '2');
  assert.equal(await tid('prompt').inputValue(), 'flat-lay on light grey');
  // Choosing a tool puts it in the address; Back returns to the link's tool and settings.
  await page.locator('[data-tool=upscale]').click();
  await page.waitForURL(/\/studio\/upscale$/);
  await page.goBack();
  await page.waitForURL(/\/studio\/packshot\?/);
  await pressed('packshot');
  assert.equal(await tid('prompt').inputValue(), 'flat-lay on light grey');
  await page.goForward();
  await pressed('upscale');
  // The sidebar's pages, Back between them, and a reload keep the page.
  await tid('to-developer').click();
  await tid('developer-page').waitFor();
  assert.match(page.url(), /\/developer$/);
  await page.goBack();
  await pressed('upscale');
  await page.reload();
  await pressed('upscale');
  // A typed address: the Developer page, the old #developer, an unknown page, an unknown tool.
  await page.goto(`${BASE}/developer`);
  await tid('developer-page').waitFor();
  await page.goto(`${BASE}/#developer`);
  await tid('developer-page').waitFor();
  await page.waitForURL(/\/developer$/);
  await page.goto(`${BASE}/nowhere`);
  await tid('not-found').waitFor();
  await page.goto(`${BASE}/studio/teleport`);
  await page.waitForURL(/\/studio\/background-remove$/);
  await page.getByText('There is no tool called "teleport"').waitFor();
  await page.goto(BASE);
  await tid('home').waitFor();
  await tid('to-studio').click();
  await page.waitForURL(/\/studio\/background-remove$/);
  await pressed('background-remove');
});

test('Packshot with 2 outputs: arrows and thumbnails; then Image to Video from the suggestion bar plays inline', async () => {
  // The Pro plan (a 1080p video is canceled below) and enough App credits for both runs (what
  // `cargo xtask admin set-plan` and `set-credits` do).
  await setPlan(email, { plan: 'pro' });
  const path = '/api/internal/admin/keys';
  const body = JSON.stringify({ email, app_credits: 40, no_key: true });
  const ts = Math.floor(Date.now() / 1000);
  await fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, body) } });
  await toTool('packshot');
  assert.equal(await tid('tool-title').textContent(), 'Packshot');
  await tid('file-input').setInputFiles({ name: 'garment.webp', mimeType: 'image/webp', buffer: fixture('garment-on-model.webp') });
  await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.getAttribute('src'));
  await tid('gen-outputs').selectOption('2');
  await tid('gen-aspect').selectOption('1:1');
  await tid('prompt').fill('on light grey');
  const q = await (await page.request.post(BASE + '/api/quote', { data: { surface: 'app', model_name: 'packshot', inputs: { product_image: 'data:image/png;base64,iVBORw0KGgo=', num_images: 2, aspect_ratio: '1:1', width: 832, height: 1248 } } })).json();
  await page.waitForFunction(() => !document.querySelector('[data-testid=run-generic]').disabled);
  assert.equal((await tid('run-generic').textContent()).trim(), `Run · ${q.credits} credit${q.credits === 1 ? '' : 's'}`);
  await tid('run-generic').click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 120000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth > 0);
  assert.equal(await tid('output-thumb').count(), 2);
  assert.equal((await tid('output-position').textContent()).trim(), '1 / 2');
  assert.match(await tid('result-image').getAttribute('src'), /\/outputs\/0$/);
  await tid('output-next').click();
  assert.equal((await tid('output-position').textContent()).trim(), '2 / 2');
  assert.match(await tid('result-image').getAttribute('src'), /\/outputs\/1$/);
  await tid('output-thumb').first().click();
  assert.equal((await tid('output-position').textContent()).trim(), '1 / 2');
  assert.equal(await tid('result-image').evaluate((i) => i.naturalWidth / i.naturalHeight), 1);
  assert.deepEqual(await axeViolations(), [], 'result screen with 2 outputs');
  await page.screenshot({ path: join(ARTIFACTS, 'result-packshot-2-outputs.png') });
  // Branching brings the generic options back, then the result again from the history.
  await tid('branch').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=gen-outputs]')?.value === '2');
  assert.equal(await tid('gen-aspect').inputValue(), '1:1');
  assert.equal(await tid('prompt').inputValue(), 'on light grey');
  await tid('history-item').first().click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth > 0);
  // Into Image to Video with the shown output, no re-upload; 5 s at 480p.
  await page.locator('[data-next=image-to-video]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=tool-title]')?.textContent === 'Image to Video');
  await tid('gen-video-resolution').selectOption('480p');
  await page.waitForFunction(() => !document.querySelector('[data-testid=run-generic]').disabled);
  await tid('run-generic').click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 180000 });
  await tid('result-video').waitFor();
  await page.waitForFunction(() => { const v = document.querySelector('[data-testid=result-video]'); return v && v.readyState >= 2 && v.videoWidth > 0; }, null, { timeout: 30000 });
  const v = await tid('result-video').evaluate((v) => ({ w: v.videoWidth, h: v.videoHeight, d: v.duration, err: v.error?.code ?? null }));
  assert.equal(v.err, null);
  assert.equal(Math.min(v.w, v.h), 480, JSON.stringify(v));
  assert.ok(Math.abs(v.d - 5) < 0.2, JSON.stringify(v));
  assert.equal((await tid('download').textContent()).trim(), 'Download MP4');
  await page.screenshot({ path: join(ARTIFACTS, 'result-video.png') });
});

test('Face Swap: image and Face Reference uploaded, Match Current Model, run; the result goes on to Upscale', async () => {
  await toTool('face-swap');
  await page.waitForFunction(() => document.querySelector('[data-testid=tool-title]')?.textContent === 'Face Swap');
  await tid('file-input').setInputFiles({ name: 'model.webp', mimeType: 'image/webp', buffer: fixture('garment-on-model.webp') });
  await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.getAttribute('src'));
  await tid('ref-input-face_reference').setInputFiles({ name: 'face.jpg', mimeType: 'image/jpeg', buffer: fixture('astronaut.jpg') });
  await page.locator('[data-slot=face_reference] .atl-ref-thumb').waitFor();
  await tid('gen-face-match').selectOption('match_base');
  const q = await (await page.request.post(BASE + '/api/quote', { data: { surface: 'app', model_name: 'face-swap', inputs: { image: 'data:image/png;base64,iVBORw0KGgo=', face_reference: 'data:image/png;base64,iVBORw0KGgo=', width: 576, height: 864 } } })).json();
  await page.waitForFunction(() => !document.querySelector('[data-testid=run-generic]').disabled);
  assert.equal((await tid('run-generic').textContent()).trim(), `Run · ${q.credits} credit${q.credits === 1 ? '' : 's'}`);
  await page.screenshot({ path: join(ARTIFACTS, 'input-screen-face-swap.png') });
  await tid('run-generic').click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 60000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth === 576);
  assert.match(await page.locator('.atl-summary').textContent(), /Match Current Model · with a Face Reference/);
  assert.equal(await tid('summary-ref').locator('img').getAttribute('alt'), 'Face Reference');
  assert.deepEqual(await axeViolations(), [], 'result screen (Face Swap)');
  await page.screenshot({ path: join(ARTIFACTS, 'result-face-swap.png') });
  // Face Swap's documented next steps; Upscale takes the result without a re-upload.
  for (const next of ['upscale', 'edit', 'reframe', 'image-to-video']) await page.locator(`[data-next=${next}]`).waitFor();
  const uploads = [];
  page.on('request', (r) => { if (r.method() === 'POST' && r.url().endsWith('/api/assets')) uploads.push(r.url()); });
  await page.locator('[data-next=upscale]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=tool-title]')?.textContent === 'Upscale');
  await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.getAttribute('src')?.startsWith('/api/assets/'));
  await page.waitForFunction(() => !document.querySelector('[data-testid=run]').disabled);
  assert.equal(uploads.length, 0, 'carried over, not uploaded again');
});

test('Try-On: model photo and product image uploaded, run; the 2D engine dresses the model; next steps offered', async () => {
  await toTool('try-on');
  await page.waitForFunction(() => document.querySelector('[data-testid=tool-title]')?.textContent === 'Try-On');
  await tid('file-input').setInputFiles({ name: 'model.jpg', mimeType: 'image/jpeg', buffer: fixture('model-photo-512.jpg') });
  await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.getAttribute('src'));
  // Without the product image Run says what is missing.
  await page.locator('[data-field-error=inputs], [data-field-error=product_image]').first().waitFor();
  await tid('ref-input-product').setInputFiles({ name: 'garment.webp', mimeType: 'image/webp', buffer: fixture('garment-on-model.webp') });
  await page.locator('[data-slot=product] .atl-ref-thumb').waitFor();
  await tid('gen-category').selectOption('tops');
  const q = await (await page.request.post(BASE + '/api/quote', { data: { surface: 'app', model_name: 'tryon-max', inputs: { model_image: 'data:image/png;base64,iVBORw0KGgo=', product_image: 'data:image/png;base64,iVBORw0KGgo=', width: 512, height: 768 } } })).json();
  await page.waitForFunction(() => !document.querySelector('[data-testid=run-generic]').disabled);
  assert.equal((await tid('run-generic').textContent()).trim(), `Run · ${q.credits} credit${q.credits === 1 ? '' : 's'}`);
  assert.deepEqual(await axeViolations(), [], 'input screen (Try-On)');
  await page.screenshot({ path: join(ARTIFACTS, 'input-screen-try-on.png') });
  await tid('run-generic').click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 90000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth === 512);
  assert.equal(await tid('summary-ref').locator('img').getAttribute('alt'), 'Product image');
  assert.match(await page.locator('.atl-summary').textContent(), /Tops/);
  assert.deepEqual(await axeViolations(), [], 'result screen (Try-On)');
  await page.screenshot({ path: join(ARTIFACTS, 'result-try-on.png') });
  for (const next of ['upscale', 'reframe', 'image-to-video']) await page.locator(`[data-next=${next}]`).waitFor();
  // Export for Web: WebP at 95 % by default, with the real file's size; JPEG saves a .jpg.
  const sized = () => page.waitForFunction(() => /File size: \d+(\.\d)? (KB|MB|bytes)/.test(document.querySelector('[data-testid=export-size]')?.textContent ?? ''));
  await tid('export-open').click();
  await tid('export-dialog').waitFor();
  assert.equal(await tid('export-format').inputValue(), 'webp');
  assert.equal(await tid('export-quality').inputValue(), '95');
  assert.match(await tid('export-resolution').textContent(), /512 × 768 px/);
  await sized();
  assert.deepEqual(await axeViolations(), [], 'Export for Web dialog');
  await page.screenshot({ path: join(ARTIFACTS, 'export-for-web-dialog.png') });
  await tid('export-format').selectOption('png');
  assert.ok(await tid('export-quality').isDisabled(), 'PNG is lossless: no quality');
  await sized();
  const pngSize = await tid('export-size').textContent();
  await tid('export-format').selectOption('jpeg');
  await sized();
  assert.notEqual(await tid('export-size').textContent(), pngSize);
  const [dl] = await Promise.all([page.waitForEvent('download'), tid('export-run').click()]);
  assert.match(dl.suggestedFilename(), /^atelier-try-on-[0-9a-z]{8}-0\.jpg$/);
  const saved = join(ARTIFACTS, dl.suggestedFilename());
  await dl.saveAs(saved);
  assert.deepEqual([...readFileSync(saved).subarray(0, 3)], [0xff, 0xd8, 0xff]);
  await page.keyboard.press('Escape');
  await tid('export-dialog').waitFor({ state: 'detached' });
});

test('iteration prompt: "What would you like to change?" reruns Packshot with the change, same inputs and options', async () => {
  await page.locator('[data-testid=history-item][title="Packshot"]').first().click();
  await page.locator('[data-testid=status][data-status=completed]').waitFor();
  const before = await tid('result-image').getAttribute('src');
  await tid('iterate').waitFor();
  assert.equal(await page.locator('label[for=atl-iterate-prompt]').textContent(), 'What would you like to change?');
  assert.equal(await tid('iterate-prompt').inputValue(), 'on light grey', 'starts from the old prompt');
  const q = await (await page.request.post(BASE + '/api/quote', { data: { surface: 'app', model_name: 'packshot', inputs: { product_image: 'data:image/png;base64,iVBORw0KGgo=', num_images: 2, aspect_ratio: '1:1', width: 576, height: 864 } } })).json();
  assert.equal((await tid('iterate-run').textContent()).trim(), `Run · ${q.credits} credit${q.credits === 1 ? '' : 's'}`);
  assert.deepEqual(await axeViolations(), [], 'result screen with the iteration prompt');
  await tid('iterate-prompt').fill('');
  await tid('iterate-prompt').press('Enter');
  await tid('iterate-error').waitFor();
  await tid('iterate-prompt').fill('on pure white');
  await page.screenshot({ path: join(ARTIFACTS, 'result-iteration-prompt.png') });
  await tid('iterate-prompt').press('Enter');
  await page.waitForFunction((b) => { const i = document.querySelector('[data-testid=result-image]'); return i && i.getAttribute('src') !== b; }, before);
  await page.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 120000 });
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth > 0);
  assert.equal(await tid('output-thumb').count(), 2, 'the same options: 2 outputs');
  assert.equal(await tid('iterate-prompt').inputValue(), 'on pure white');
  // The change took: the new packshot's corner is white, the old one's light grey.
  const corner = async (src) => {
    const img = decodePng(Buffer.from(await (await page.request.get(BASE + src)).body()));
    return img.data[0];
  };
  assert.ok((await corner(before)) < 245, 'light grey before');
  assert.ok((await corner(await tid('result-image').getAttribute('src'))) >= 250, 'white after');
});

test('a running generation can be canceled from the result screen; nothing is charged', async () => {
  const credits = async () => (await (await page.request.get(BASE + '/api/me')).json()).credits;
  const before = await credits();
  await page.locator('[data-next=image-to-video]').click();
  await page.waitForFunction(() => document.querySelector('[data-testid=tool-title]')?.textContent === 'Image to Video');
  await tid('gen-duration').selectOption('10');
  await tid('gen-video-resolution').selectOption('1080p');
  await page.waitForFunction(() => !document.querySelector('[data-testid=run-generic]').disabled);
  await tid('run-generic').click();
  await tid('cancel').click();
  await page.locator('[data-testid=status][data-status=canceled]').waitFor();
  assert.equal((await tid('status').textContent()).trim(), 'Canceled');
  assert.equal(await tid('cancel').count(), 0, 'no Cancel once it has ended');
  assert.equal(await tid('result-video').count(), 0);
  assert.equal(await credits(), before, 'the held credits came back');
});

test('the pencil opens the editor on demand and the edited image replaces the input', async () => {
  await tid('back').click();
  await toTool('background-remove');
  // A portrait photo, so that a quarter turn shows.
  await tid('file-input').setInputFiles({ name: 'model.jpg', mimeType: 'image/jpeg', buffer: fixture('model-photo-512.jpg') });
  await page.waitForFunction(() => document.querySelector('[data-testid=preview]')?.naturalWidth === 512
    && !document.querySelector('[data-testid=run]').disabled);
  assert.deepEqual(editorRequests, [], 'the editor is not loaded before it is opened');
  // An installation without the editor says so, and the Studio goes on.
  // (An installation without dist/editor/: the SPA fallback answers its URL with the app's HTML.)
  await ctx.route('**/editor/editor.js', (r) => r.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Atelier</title>' }));
  await tid('drop-zone').hover();
  await page.locator('[data-testid=drop-zone] [data-testid=edit-image]').click();
  assert.match(await tid('editor-error').textContent(), /isn't available on this installation/);
  await tid('editor-close').click();
  await tid('editor').waitFor({ state: 'detached' });
  await ctx.unroute('**/editor/editor.js');
  // The real editor (app/editor, wgpu): a quarter turn right, Done.
  {
    const dims = () => page.evaluate(() => {
      const i = document.querySelector('[data-testid=preview]');
      return [i.getAttribute('src'), i.naturalWidth, i.naturalHeight];
    });
    const [src, w, h] = await dims();
    assert.deepEqual([w, h], [512, 768]);
    await page.locator('[data-testid=drop-zone] [data-testid=edit-image]').click();
    await page.locator('[data-testid=ed-root][data-backend]').waitFor();
    assert.equal(await tid('ed-size').textContent(), '512 × 768 px');
    await tid('ed-rot-cw').click();
    assert.equal(await tid('ed-size').textContent(), '768 × 512 px');
    await tid('ed-done').click();
    await tid('editor').waitFor({ state: 'detached' });
    await page.waitForFunction((old) => {
      const i = document.querySelector('[data-testid=preview]');
      return i && i.getAttribute('src') !== old && i.naturalWidth > 0;
    }, src);
    const [src2, w2, h2] = await dims();
    assert.match(src2, /^\/api\/assets\/[0-9a-f]{64}$/);
    assert.deepEqual([w2, h2], [h, w]);
    // What runs is the edited image.
    await runAndWait();
    assert.deepEqual(await page.evaluate(() => {
      const i = document.querySelector('[data-testid=result-image]');
      return [i.naturalWidth, i.naturalHeight];
    }), [h, w]);
    await tid('back').click();
    // A reference's pencil: Cancel keeps it, Done replaces it in its slot.
    await toTool('face-swap');
    const ref = page.locator('[data-slot=face_reference] .atl-ref-thumb');
    if ((await ref.count()) === 0) await pickFromGallery(page.locator('[data-slot=face_reference]'), 'uploads', 0);
    const refSrc = await ref.getAttribute('src');
    await page.locator('[data-slot=face_reference] [data-testid=edit-image]').click();
    await page.locator('[data-testid=ed-root][data-backend]').waitFor();
    await tid('ed-flip-h').click();
    await tid('ed-cancel').click();
    await tid('editor').waitFor({ state: 'detached' });
    assert.equal(await ref.getAttribute('src'), refSrc);
    // Escape is Cancel too.
    await page.locator('[data-slot=face_reference] [data-testid=edit-image]').click();
    await page.locator('[data-testid=ed-root][data-backend]').waitFor();
    await page.keyboard.press('Escape');
    await tid('editor').waitFor({ state: 'detached' });
    assert.equal(await ref.getAttribute('src'), refSrc);
    await page.locator('[data-slot=face_reference] [data-testid=edit-image]').click();
    await page.locator('[data-testid=ed-root][data-backend]').waitFor();
    await tid('ed-flip-h').click();
    await tid('ed-done').click();
    await page.waitForFunction((old) => document.querySelector('[data-slot=face_reference] .atl-ref-thumb')?.getAttribute('src') !== old, refSrc);
  }
  await toTool('background-remove');
  await tid('drop-zone').waitFor();
});

test('sign out and sign back in', async () => {
  const spent = await tid('credits').textContent();
  assert.notEqual(spent, '10 credits', 'this account has spent credits');
  await tid('profile-button').click();
  await tid('signout').click();
  await tid('auth-form').waitFor();
  assert.equal((await page.request.get(BASE + '/api/me')).status(), 401);
  // Another account signed in on the same page shows its own credits, not the last account's.
  await tid('auth-toggle').click();
  await tid('email').fill(uniqueEmail('e2e-other'));
  await tid('password').fill(password);
  await tid('auth-submit').click();
  await tid('user-email').waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid=credits]')?.textContent === '10 credits');
  await tid('profile-button').click();
  await tid('signout').click();
  await tid('auth-form').waitFor();
  await tid('email').fill(email);
  await tid('password').fill('wrong password');
  await tid('auth-submit').click();
  await tid('auth-error').waitFor();
  assert.match(await tid('auth-error').textContent(), /email or password is wrong/);
  await tid('password').fill(password);
  await tid('auth-submit').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=history-item]').length === 13);
  const list = await (await page.request.get(BASE + '/api/generations')).json();
  writeFileSync(process.env.ATELIER_TEST_STATE ?? join(ARTIFACTS, 'handoff.json'),
    JSON.stringify({ email, password, ids: list.generations.map((g) => g.id) }));
});

test('no errors in the console', () => {
  assert.deepEqual(consoleErrors, []);
});
