// Teams in a real headless Chromium (#16), two people in two browser profiles: A (e-mail, on
// Basic set by the admin command) opens Organizations from the profile menu and copies an invite
// link; B opens it signed out, signs up through a real OpenID provider on loopback
// (oidc-provider), comes back to the same address, accepts, and is switched into A's
// organization; B runs Background Remove there; A sees B's result in the history and the credits
// moved from the organization's balance; A removes B; B's address for that result is then 404
// and B is back in the personal organization. Reload and Back land on the same page; axe finds
// nothing serious on the Organizations page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, ARTIFACTS, Client, fixture, uniqueEmail, setPlan, axeViolations, CHROMIUM_FLAGS as FLAGS } from './lib/helpers.mjs';
import { startProvider, providerLogin, LOOPBACK_ONLY, fromProvider } from './lib/oidc.mjs';

const PASSWORD = 'a team password';
let a, b, op, ctxA, ctxB, pa, pb;
const profiles = [];
const errors = [];

async function open(tag) {
  const profile = mkdtempSync(join(tmpdir(), `atelier-${tag}-`));
  profiles.push(profile);
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: [...FLAGS, ...LOOPBACK_ONLY],
    viewport: { width: 1280, height: 900 },
  });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  page.on('pageerror', (e) => errors.push(`${tag}: ${e}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 40[1349]/.test(m.text()) && !fromProvider(m)) errors.push(`${tag}: ${m.text()}`);
  });
  return [ctx, page];
}

async function signIn(page, who) {
  await page.getByTestId('email').fill(who.email);
  await page.getByTestId('password').fill(PASSWORD);
  await page.getByTestId('auth-submit').click();
  await page.getByTestId('user-email').waitFor();
}

before(async () => {
  a = await new Client().signUp(uniqueEmail('owner'), PASSWORD);
  b = { email: uniqueEmail('member') };
  op = await startProvider();
  await setPlan(a.email, { plan: 'basic' });
  [ctxA, pa] = await open('team-a');
  [ctxB, pb] = await open('team-b');
});

after(async () => {
  await ctxA?.close();
  await ctxB?.close();
  await op?.close();
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
});

test('invite → accept → B runs a tool in A’s organization → A sees it and pays → A removes B → 404', async () => {
  // A: the profile menu shows the Organizations section (an active plan); Settings opens the page.
  await pa.goto(BASE);
  await signIn(pa, a);
  // The profile picture opens the menu (bottom-left); its Organizations section has the switcher.
  await pa.getByTestId('profile-button').click();
  await pa.getByTestId('org-switch').waitFor();
  await pa.getByTestId('to-organizations').click();
  await pa.waitForURL(/\/organizations$/);
  await pa.getByTestId('org-seats').waitFor();
  assert.match(await pa.getByTestId('org-seats').textContent(), /Seats: 0 of 2 used · 2 remaining/);
  assert.equal(await pa.getByTestId('org-role').textContent(), 'Owner');
  await pa.getByTestId('org-name').fill('North Studio');
  await pa.getByTestId('org-rename').click();
  await pa.getByTestId('org-notice').waitFor();
  await pa.getByTestId('org-invite').click();
  const link = await (await pa.getByTestId('org-invite-link').elementHandle()).evaluate((i) => i.value);
  assert.match(link, /\/invite\/[0-9a-f]{64}$/);
  await pa.waitForFunction(() => /1 of 2 used/.test(document.querySelector('[data-testid=org-seats]')?.textContent));
  assert.deepEqual(await axeViolations(pa), []);
  await pa.screenshot({ path: join(ARTIFACTS, 'organizations.png') });
  // Reload keeps the page (a typed URL).
  await pa.reload();
  await pa.getByTestId('org-invites').waitFor();
  const creditsBefore = Number((await pa.getByTestId('credits').textContent()).split(' ')[0]);

  // B: opens the link signed out, signs up with the OpenID provider, is back on the same address.
  await pb.goto(link);
  await pb.getByTestId('oidc-local').click();
  await providerLogin(pb, b.email);
  await pb.waitForURL(link);
  await pb.getByTestId('invite-offer').waitFor();
  assert.match(await pb.getByTestId('invite-offer').textContent(), new RegExp(`${a.email.replace(/[.]/g, '\\.')} invites you to join North Studio`));
  await pb.getByTestId('invite-accept').click();
  await pb.waitForURL(/\/studio$/);
  await pb.getByTestId('org-switch').waitFor({ state: 'attached' });
  const selected = await pb.getByTestId('org-switch').evaluate((s) => s.options[s.selectedIndex].textContent);
  assert.equal(selected, 'North Studio');
  assert.equal(await pb.getByTestId('to-billing').count(), 0, 'a collaborator has no Billing');
  // B runs Background Remove in A's organization.
  await pb.goto(`${BASE}/studio/background-remove`);
  await pb.getByTestId('file-input').setInputFiles({ name: 'model.jpg', mimeType: 'image/jpeg', buffer: fixture('model-photo-512.jpg') });
  await pb.getByTestId('preview').waitFor();
  await pb.waitForFunction(() => !document.querySelector('[data-testid=run]').disabled);
  await pb.getByTestId('run').click();
  await pb.locator('[data-testid=status][data-status=completed]').waitFor({ timeout: 60000 });
  const gens = await (await pb.request.get(`${BASE}/api/generations`)).json();
  const gid = gens.generations[0].id;
  assert.equal(gens.generations[0].tool, 'background-remove');

  // A: B's result is in the organization's history, and the organization's credits paid for it.
  await pa.goto(`${BASE}/studio`);
  await pa.waitForFunction(() => document.querySelectorAll('[data-testid=history-item][data-status=completed]').length >= 1);
  const aGens = await (await pa.request.get(`${BASE}/api/generations`)).json();
  assert.ok(aGens.generations.some((g) => g.id === gid), 'A sees B’s result');
  await pa.waitForFunction((n) => document.querySelector('[data-testid=credits]')?.textContent === `${n} credits`, creditsBefore - 1);

  // A removes B on the Organizations page.
  await pa.goto(`${BASE}/organizations`);
  await pa.getByTestId('org-member').nth(1).waitFor();
  assert.equal(await pa.getByTestId('org-member').count(), 2);
  await pa.getByTestId('org-member-remove').click();
  await pa.getByTestId('org-notice').waitFor();
  await pa.waitForFunction(() => document.querySelectorAll('[data-testid=org-member]').length === 1);
  await pa.goBack();
  await pa.waitForURL(/\/studio(\/[a-z-]+)?$/);

  // B: that result is 404 now, and B's session is back in the personal organization.
  const r = await pb.request.get(`${BASE}/api/generations/${gid}`);
  assert.equal(r.status(), 404);
  await pb.reload();
  await pb.getByTestId('user-email').waitFor();
  const me = await (await pb.request.get(`${BASE}/api/me`)).json();
  assert.equal(me.org.personal, true);
  assert.deepEqual(errors, []);
});

test('A’s Account page: a display name, a picture cropped square, Help from the menu, then Delete Account lists the organization and signs out', async () => {
  await pa.goto(`${BASE}/account`);
  await pa.getByTestId('display-name').fill('Ana Owner');
  await pa.getByTestId('save-name').click();
  await pa.getByTestId('account-notice').waitFor();
  // A 512×768 photo becomes a 256×256 picture.
  await pa.getByTestId('avatar-input').setInputFiles({ name: 'me.jpg', mimeType: 'image/jpeg', buffer: fixture('model-photo-512.jpg') });
  await pa.getByTestId('account-avatar').waitFor();
  await pa.waitForFunction(() => document.querySelector('[data-testid=account-avatar]')?.naturalWidth === 256);
  assert.equal(await pa.getByTestId('account-avatar').evaluate((i) => i.naturalHeight), 256);
  assert.deepEqual(await axeViolations(pa), []);
  await pa.screenshot({ path: join(ARTIFACTS, 'account.png') });
  // Reload: the picture is in the profile menu; Help opens from it.
  await pa.reload();
  await pa.locator('[data-testid=profile-button] img').waitFor();
  await pa.getByTestId('profile-button').click();
  await pa.getByTestId('to-help').click();
  await pa.waitForURL(/\/help$/);
  await pa.getByTestId('help-support').waitFor();
  assert.match(await pa.getByTestId('help-support').textContent(), /^support@/);
  await pa.goBack();
  await pa.waitForURL(/\/account$/);
  await pa.getByTestId('delete-account').click();
  await pa.getByTestId('delete-dialog').waitFor();
  assert.match(await pa.getByTestId('delete-orgs').textContent(), /North Studio — 1 member/);
  assert.ok(await pa.getByTestId('delete-confirm').isDisabled(), 'disabled until the e-mail is typed');
  await pa.getByTestId('delete-confirm-email').fill(a.email);
  await pa.getByTestId('delete-confirm').click();
  await pa.getByTestId('auth-submit').waitFor();
  const r = await pa.request.get(`${BASE}/api/me`);
  assert.equal(r.status(), 401);
  assert.deepEqual(errors, []);
});
