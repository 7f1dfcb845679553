// Home and the AI Assistant in a real headless Chromium (#18), as a newcomer uses them: sign-in
// lands on Home; a photo attached to a message runs a three-step chain on the server with each
// step's progress and result inline; a step's "Open in Studio" opens the Studio prefilled with
// that step's input and settings, its result opens on the result screen; a plan above the
// confirmation amount waits for Run; reload keeps the conversation; the Assistant page and
// Home's quick cards and recent generations work; touch on a narrow screen; axe finds nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, ARTIFACTS, Client, fixture, uniqueEmail, giveAppCredits, axeViolations as axeHelper, CHROMIUM_FLAGS as FLAGS } from './lib/helpers.mjs';

let ctx, page, profile, api;
const errors = [];
const requested = [];

before(async () => {
  api = await new Client().signUp(uniqueEmail('assistant'), 'an assistant password');
  await giveAppCredits(api.email, 30);
  profile = mkdtempSync(join(tmpdir(), 'atelier-assistant-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  page = ctx.pages()[0] ?? await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => requested.push(new URL(r.url()).pathname));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[19]/.test(m.text())) errors.push(m.text()); });
});

after(async () => {
  await ctx?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const tid = (id) => page.getByTestId(id);
const turns = () => page.locator('[data-testid=turn]');

test('sign-in lands on Home: the Assistant prompt, quick tool cards, recent generations', async () => {
  await page.goto(BASE);
  await tid('email').fill(api.email);
  await tid('password').fill('an assistant password');
  await tid('auth-submit').click();
  await tid('home').waitFor();
  assert.equal(new URL(page.url()).pathname, '/');
  // The Gallery is a module of its own, not fetched until it is visited.
  assert.ok(!requested.some((p) => p.startsWith('/split___library_route')), requested.join(' '));
  assert.equal(await tid('to-home').getAttribute('aria-current'), 'page');
  await tid('assistant-input').waitFor();
  assert.equal(await page.locator('.atl-quick-card').count(), 8);
  assert.equal(await tid('quick-product-to-model').getAttribute('href'), '/studio/product-to-model');
  await page.getByText('Your results appear here').waitFor();
  // The docs' example prompts fill the box.
  await page.getByRole('button', { name: 'How much does a 10 second 1080p video cost?' }).click();
  assert.equal(await tid('assistant-input').inputValue(), 'How much does a 10 second 1080p video cost?');
  await tid('assistant-send').click();
  await page.locator('[data-testid=turn][data-kind=answer]').waitFor();
  assert.match(await turns().last().textContent(), /12 credits/);
  assert.deepEqual(await axeViolations(), []);
});

test('a three-step chain from Home runs to the end with each result inline', async () => {
  await tid('assistant-file').setInputFiles({ name: 'model.jpg', mimeType: 'image/jpeg', buffer: fixture('model-photo-512.jpg') });
  await page.locator('[data-testid=attached] img').waitFor();
  await tid('assistant-input').fill('upscale this 2x, then reframe it to 9:16, then remove the background');
  await tid('assistant-input').press('Enter');
  const turn = turns().last();
  await turn.locator('[data-testid=step]').first().waitFor();
  assert.equal(await turn.locator('[data-testid=step]').count(), 3);
  assert.match(await turn.locator('[data-testid=reply]').textContent(), /Upscale.*Reframe.*Background Remove/s);
  await page.locator('[data-testid=turn][data-status=completed]').waitFor({ timeout: 120000 });
  assert.equal(await turn.getAttribute('data-status'), 'completed');
  assert.equal(await turn.locator('[data-testid=step][data-status=completed]').count(), 3);
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=turn]:last-child [data-testid=step-result]')]
    .filter((i) => i.complete && i.naturalWidth > 0).length === 3);
  // Credits: 1 (upscale) + 1 (reframe) + 1 (background remove) from 30.
  await page.waitForFunction(() => document.querySelector('[data-testid=credits]')?.textContent === '27 credits');
  await page.screenshot({ path: join(ARTIFACTS, 'assistant-chain.png'), fullPage: true });
  // Reload: the conversation is kept on the server.
  await page.reload();
  await page.locator('[data-testid=turn][data-status=completed]').waitFor();
  assert.equal(await turns().count(), 2);
});

test("a step's deep link opens the Studio with that step's input and settings; its result opens on the result screen", async () => {
  const turn = turns().last();
  const step = turn.locator('[data-testid=step]').nth(1);
  const gen = await (await api.req('GET', '/api/assistant/messages')).json();
  const chain = gen.messages.find((m) => m.steps.length === 3);
  const reframe = chain.steps[1].generation;
  assert.equal(reframe.tool, 'reframe');
  assert.equal(await step.locator('[data-testid=step-link]').getAttribute('href'), `/studio/reframe?branch=${reframe.id}`);
  await step.locator('[data-testid=step-link]').click();
  await page.waitForURL(/\/studio\/reframe/);
  await page.waitForFunction((h) => document.querySelector('[data-testid=preview]')?.getAttribute('src') === `/api/assets/${h}`, reframe.inputs.image);
  await page.waitForURL(/aspect_ratio=9(%3A|:)16/);
  await page.waitForFunction(() => !document.querySelector('[data-testid=run]').disabled);
  await page.screenshot({ path: join(ARTIFACTS, 'assistant-deep-link.png') });
  // Back to Home; the last step's result opens on the result screen.
  await page.goBack();
  await tid('home').waitFor();
  await turns().last().locator('[data-testid=step-result-link]').last().click();
  await page.waitForURL(/\/studio\/background-remove/);
  await page.waitForFunction(() => document.querySelector('[data-testid=result-image]')?.naturalWidth > 0);
  // The chain's results are Studio generations: in the history panel and on Home's recent row.
  assert.ok(await page.locator('[data-testid=history-item]').count() >= 3);
  await tid('to-home').click();
  await tid('home').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=recent-item]').length >= 3);
});

test('a follow-up on the latest result above the confirmation amount waits for Run; Not now sets it aside', async () => {
  await tid('assistant-input').fill('now make a 10 second video of it in 1080p');
  await tid('assistant-send').click();
  await page.locator('[data-testid=turn][data-status=waiting]').waitFor();
  const turn = turns().last();
  assert.match(await tid('confirm').textContent(), /Run · 12 credits/);
  assert.equal(await turn.locator('[data-testid=step-state]').textContent(), 'Waiting');
  // Nothing ran: the credits are unchanged.
  assert.equal(await tid('credits').textContent(), '27 credits');
  await tid('dismiss').click();
  await page.locator('[data-testid=turn][data-status=dismissed]').waitFor();
  assert.equal(await tid('confirm').count(), 0);
});

test('an image analysis names the right tool: a flat product photo (From Gallery) and a model photo (upload)', async () => {
  // A flat product shot: the Packshot of the on-model garment, made through the API, so it is
  // among the account's results for the From Gallery picker.
  const img = (await api.upload(fixture('garment-on-model.webp'), 'image/webp')).body.asset;
  const r = await api.json('POST', '/api/generations', { tool: 'packshot', inputs: { image: img.hash } });
  assert.equal(r.status, 202, await r.clone().text());
  const g = await api.waitDone((await r.json()).generation.id, 120000);
  assert.equal(g.status, 'completed');
  await tid('gallery-open').click();
  await tid('gallery-dialog').waitFor();
  await page.locator(`[data-testid=gallery-dialog] [data-testid=gallery-item][data-tool=packshot]`).first().click();
  await page.locator('[data-testid=attached] img').waitFor();
  await tid('assistant-input').fill('what can I do with this?');
  await tid('assistant-send').click();
  await page.locator('[data-testid=turn][data-kind=analyze]').waitFor({ timeout: 60000 });
  let reply = await turns().last().locator('.atl-reply').textContent();
  assert.match(reply, /^This is a product photo with no person in it.*Fits: Product to Model/s, reply);
  // A model photo, uploaded.
  await tid('assistant-file').setInputFiles({ name: 'model.webp', mimeType: 'image/webp', buffer: fixture('model-photo.webp') });
  await page.locator('[data-testid=attached] img').waitFor();
  await tid('assistant-input').fill('analyse this photo');
  await tid('assistant-send').click();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=turn][data-kind=analyze]').length === 2, null, { timeout: 60000 });
  reply = await turns().last().locator('.atl-reply').textContent();
  assert.match(reply, /^This is a model photo: a person, full body in frame, face visible.*Fits: Try-On/s, reply);
  await page.screenshot({ path: join(ARTIFACTS, 'assistant-analysis.png'), fullPage: true });
});

test('the Assistant page keeps the whole conversation; a message without what it needs asks for it', async () => {
  await tid('to-assistant').click();
  await page.waitForURL(/\/assistant$/);
  await tid('assistant-page').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('[data-testid=turn]').length === 5);
  await tid('assistant-input').fill('swap the face with this one');
  await tid('assistant-send').click();
  await page.locator('[data-testid=turn][data-kind=question]').waitFor();
  assert.match(await turns().last().textContent(), /Whose face should I use\? Attach the face reference photo/);
  // An empty message is refused in place, with what to do.
  await tid('assistant-send').click();
  await tid('assistant-error').waitFor();
  assert.match(await tid('assistant-error').textContent(), /Write what you would like/);
  await page.goBack();
  await tid('home').waitFor();
  assert.deepEqual(await axeViolations(), []);
  assert.deepEqual(errors, []);
});

test('touch on a narrow screen: the composer and the quick cards are comfortable targets, no sideways scrolling', async () => {
  const touch = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'atelier-assistant-touch-')), {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS,
    viewport: { width: 810, height: 1080 }, hasTouch: true, isMobile: true,
  });
  try {
    const p = touch.pages()[0] ?? await touch.newPage();
    await p.goto(BASE);
    await p.getByTestId('email').fill(api.email);
    await p.getByTestId('password').fill('an assistant password');
    await p.getByTestId('auth-submit').tap();
    await p.getByTestId('home').waitFor();
    await p.locator('[data-testid=turn]').first().waitFor();
    for (const id of ['assistant-send', 'attach', 'quick-try-on']) {
      const b = await p.getByTestId(id).boundingBox();
      assert.ok(b.height >= 40, `${id} is ${b.height}px tall`);
    }
    assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), 'no sideways scrolling');
    await p.screenshot({ path: join(ARTIFACTS, 'assistant-ipad.png') });
    await p.getByTestId('quick-try-on').tap();
    await p.waitForURL(/\/studio\/try-on$/);
  } finally {
    await touch.close();
  }
});

const axeViolations = () => axeHelper(page);
