// Billing in a real headless Chromium (#15), as a newcomer uses it: a Free account opens Billing
// from the profile menu, subscribes to Pro with the local provider (after a confirmation),
// Quality mode is then allowed, tops up, sees the three buckets, schedules a downgrade and keeps
// Pro; the API tab: top-up at the on-demand rate, a commitment tier, a test card and automatic
// top-up; typed URLs, Back and reload land on the same tab; the Developer page's credits bar
// links here; axe finds nothing serious.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, ARTIFACTS, Client, fixture, uniqueEmail, axeViolations, CHROMIUM_FLAGS as FLAGS } from './lib/helpers.mjs';

let ctx, page, profile, u;
const errors = [];

before(async () => {
  u = await new Client().signUp(uniqueEmail('billing'), 'a billing password');
  profile = mkdtempSync(join(tmpdir(), 'atelier-billing-'));
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: FLAGS,
    viewport: { width: 1280, height: 900 },
  });
  page = ctx.pages()[0] ?? await ctx.newPage();
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/status of 40[19]/.test(m.text())) errors.push(m.text()); });
});

after(async () => {
  await ctx?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

const tid = (id) => page.getByTestId(id);
const num = async (id) => Number((await tid(id).locator('strong').textContent()).trim());
const confirm = async () => {
  await tid('billing-confirm').waitFor();
  await tid('billing-confirm-go').click();
  await tid('billing-confirm').waitFor({ state: 'detached' });
};

test('Free → subscribe Pro (local provider) → Quality mode allowed → top up → downgrade at the cycle end → keep Pro', async () => {
  await page.goto(BASE);
  await tid('email').fill(u.email);
  await tid('password').fill('a billing password');
  await tid('auth-submit').click();
  await tid('home').waitFor();
  // The sidebar's balance arrives with /api/me, a moment after the page.
  await page.waitForFunction(() => document.querySelector('[data-testid=credits]')?.textContent === '10 credits');
  // The Studio shows a gated choice with the plan that unlocks it, and Run waits for it.
  await page.goto(`${BASE}/studio/image-to-video`);
  await tid('gen-video-resolution').selectOption('1080p');
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=plan-gate]')].some((g) => /1080p video is available on Pro/.test(g.textContent)));
  assert.ok(await tid('run-generic').isDisabled());
  await tid('plan-upgrade').first().click();
  await page.waitForURL(/\/billing$/);
  await page.goBack();
  await tid('gen-video-resolution').waitFor();
  await tid('profile-button').click();
  await tid('to-billing').click();
  await tid('billing-page').waitFor();
  assert.equal(new URL(page.url()).pathname, '/billing');
  await tid('local-provider').waitFor();
  assert.match(await tid('current-plan').textContent(), /Free/);
  assert.equal(await tid('bucket-daily').count(), 0, 'no daily credits on Free');
  assert.equal(await num('bucket-topup'), 10);
  // Quality mode is Pro's: refused now.
  const img = (await u.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset.hash;
  const garment = (await u.upload(fixture('garment-on-model.webp'), 'image/webp')).body.asset.hash;
  const quality = () => page.request.post(BASE + '/api/generations', { data: { tool: 'try-on', inputs: { image: img, product_image: garment }, params: { generation_mode: 'quality' } }, headers: { origin: BASE } });
  let r = await (await quality()).json();
  assert.ok(r.errors.some((e) => e.code === 'plan_required'), JSON.stringify(r));
  // Subscribe: a confirmation says what it costs; nothing happens before Confirm.
  await tid('plan-pro').getByTestId('plan-action').click();
  assert.match(await tid('billing-confirm').textContent(), /Subscribe to Pro for \$49\.00 \(monthly\)/);
  await tid('billing-confirm-cancel').click();
  assert.match(await tid('current-plan').textContent(), /Free/);
  await tid('plan-pro').getByTestId('plan-action').click();
  await confirm();
  assert.match(await tid('billing-notice').textContent(), /started.*\$49\.00 was charged/);
  assert.match(await tid('current-plan').textContent(), /Pro · Monthly · next reset/);
  assert.equal(await num('bucket-daily'), 50);
  assert.equal(await num('bucket-monthly'), 750);
  assert.equal(await tid('plan-pro').getByTestId('plan-action').textContent(), 'Current plan');
  await page.waitForFunction(() => document.querySelector('[data-testid=credits]')?.textContent === '810 credits');
  r = await (await quality()).json();
  assert.ok(!(r.errors || []).some((e) => e.code === 'plan_required'), JSON.stringify(r));
  // …and the Studio no longer gates 1080p.
  await page.goto(`${BASE}/studio/image-to-video`);
  await tid('gen-video-resolution').selectOption('1080p');
  // The credits and the plan arrive together (`/api/me`).
  await page.waitForFunction(() => /^\d+ credits$/.test(document.querySelector('[data-testid=credits]')?.textContent ?? ''));
  assert.equal(await tid('plan-gate').count(), 0);
  await page.goto(`${BASE}/billing`);
  await tid('app-current').waitFor();
  if (r.generation) await page.request.post(`${BASE}/api/generations/${r.generation.id}/cancel`, { headers: { origin: BASE } });
  // Top up: 100-credit steps, the price shown before buying.
  await tid('topup-amount').fill('150');
  assert.match(await tid('topup-price').textContent(), /at least 100/);
  assert.ok(await tid('topup-buy').isDisabled());
  await tid('topup-amount').fill('300');
  assert.match(await tid('topup-price').textContent(), /\$30\.00/);
  await tid('topup-buy').click();
  await confirm();
  assert.equal(await num('bucket-topup'), 310);
  await page.waitForFunction(() => /300 App credits\s*\$30\.00\s*paid/.test(document.querySelector('[data-testid=payments]')?.textContent));
  assert.match(await tid('payments').textContent(), /Pro \(monthly\)\s*\$49\.00/);
  // Annual while on monthly: no one-click switch.
  await tid('annual').check();
  assert.equal(await tid('plan-basic').getByTestId('plan-action').textContent(), 'Other interval');
  assert.ok(await tid('plan-basic').getByTestId('plan-action').isDisabled());
  await tid('annual').uncheck();
  // Downgrade: at the end of the cycle; Keep Pro undoes it.
  await tid('plan-basic').getByTestId('plan-action').click();
  assert.match(await tid('billing-confirm').textContent(), /keep your current plan until the end of this cycle/);
  await confirm();
  assert.match(await tid('plan-pending').textContent(), /Changes to Basic on/);
  assert.match(await tid('current-plan').textContent(), /Pro/);
  await tid('plan-keep').click();
  await tid('plan-pending').waitFor({ state: 'detached' });
  // The Agency card's 2× Credits toggle.
  await tid('agency-2x').check();
  assert.match(await tid('plan-agency').textContent(), /Agency 2×.*\$199\.00\/mo.*3000 monthly credits/s);
  // Reload keeps the page; the screenshot is for people.
  await page.reload();
  await tid('app-current').waitFor();
  assert.match(await tid('current-plan').textContent(), /Pro/);
  await page.screenshot({ path: join(ARTIFACTS, 'billing-app.png'), fullPage: true });
  assert.deepEqual(await axeViolations(page), []);
});

test('API tab: on-demand top-up, Tier I, a test card and automatic top-up; Back returns to the App tab', async () => {
  await tid('billing-tab-api').click();
  await page.waitForURL(/\/billing\/api$/);
  await tid('api-current').waitFor();
  assert.match(await tid('current-plan').textContent(), /On-Demand/);
  assert.equal(await tid('bucket-monthly').count(), 0, 'without a tier only the top-up balance shows');
  await tid('topup-amount').fill('100');
  assert.match(await tid('topup-price').textContent(), /\$7\.50/);
  await tid('topup-buy').click();
  await confirm();
  assert.equal(await num('bucket-topup'), 100);
  await tid('tier-tier1').getByTestId('tier-action').click();
  assert.match(await tid('billing-confirm').textContent(), /Tier I for \$19\.00/);
  await confirm();
  assert.match(await tid('current-plan').textContent(), /Tier I · Monthly/);
  assert.equal(await num('bucket-monthly'), 282);
  await tid('topup-amount').fill('1000');
  assert.match(await tid('topup-price').textContent(), /\$67\.50 · Tier I rate/);
  // Automatic top-up needs a card: add the local provider's test card first.
  assert.ok(await tid('auto-save').isDisabled());
  await tid('card-add').click();
  await tid('payment-method').waitFor();
  await tid('auto-amount').fill('2000');
  assert.match(await tid('auto-suggest').textContent(), /600 credits/);
  await tid('auto-threshold').fill('600');
  await tid('auto-save').click();
  await page.getByText('On: when your balance reaches 600 credits, 2000 credits are bought').waitFor();
  // E-mail alerts: on by default; switched off, and still off after a reload.
  assert.equal(await tid('alerts').isChecked(), true);
  await tid('alerts').uncheck();
  await page.waitForFunction(() => document.querySelector('[data-testid=alerts]')?.checked === false && !document.querySelector('[data-testid=alerts]')?.disabled);
  await page.reload();
  await tid('auto-topup').waitFor();
  assert.equal(await tid('alerts').isChecked(), false);
  await page.screenshot({ path: join(ARTIFACTS, 'billing-api.png'), fullPage: true });
  assert.deepEqual(await axeViolations(page), []);
  await page.goBack();
  await page.waitForURL(/\/billing$/);
  await tid('app-current').waitFor();
  // A typed URL opens the API tab directly.
  await page.goto(`${BASE}/billing/api`);
  await tid('api-current').waitFor();
  assert.match(await tid('current-plan').textContent(), /Tier I/);
});

test('the Developer page\'s credits bar shows the API balance and links to API Billing', async () => {
  await page.goto(`${BASE}/developer`);
  await tid('api-credits-bar').waitFor();
  await page.waitForFunction(() => /API credits: 382/.test(document.querySelector('[data-testid=api-credits-bar]')?.textContent));
  await tid('api-topup').click();
  await page.waitForURL(/\/billing\/api$/);
  await tid('api-current').waitFor();
  assert.deepEqual(errors, []);
});
