// Accounts on the real stack (#16): display name and profile picture, sessions rotated at
// sign-in and "sign out everywhere", the Help page's settings, and Delete Account — every row and
// R2 object of the account and of the organization it owns counted before and after, while a
// member keeps their own account and what is shared with others stays.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { BASE, SECRET, Client, fixture, setPlan, signRequest, flatPng, rgbPng, createKey } from './lib/helpers.mjs';

const me = async (c) => (await c.req('GET', '/api/me')).json();

async function footprint(user_id, generation_ids = [], hashes = []) {
  const path = '/api/internal/admin/footprint';
  const body = JSON.stringify({ user_id, generation_ids, hashes });
  const ts = Math.floor(Date.now() / 1000);
  const r = await fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, body) } });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

async function run(c, hash) {
  const r = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: hash }, params: {} });
  const b = await r.json();
  assert.equal(r.status, 202, JSON.stringify(b));
  const g = await c.waitDone(b.generation.id);
  assert.equal(g.status, 'completed');
  return g.id;
}

describe('profile and sessions', () => {
  test('display name: saved, cleared, and a bad one names the field', async () => {
    const c = await new Client().signUp();
    let r = await c.json('PATCH', '/api/account', { name: '  Ada Lovelace ' });
    assert.equal(r.status, 200);
    assert.equal((await (await c.req('GET', '/api/account')).json()).display_name, 'Ada Lovelace');
    r = await c.json('PATCH', '/api/account', { name: 'x'.repeat(61) });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'name');
    r = await c.json('PATCH', '/api/account', { name: '' });
    const acc = await (await c.req('GET', '/api/account')).json();
    assert.equal(acc.name, null);
    assert.equal(acc.display_name, c.email.split('@')[0]);
  });

  test('profile picture: square only, stored and served back; removable', async () => {
    const c = await new Client().signUp();
    let r = await c.req('PUT', '/api/account/avatar', { body: flatPng(64, 48), type: 'image/png' });
    assert.equal(r.status, 400);
    assert.match((await r.json()).message, /square/);
    r = await c.req('PUT', '/api/account/avatar', { body: Buffer.from('not an image'), type: 'image/png' });
    assert.ok(r.status >= 400 && r.status < 500);
    const png = flatPng(64, 64, 200);
    r = await c.req('PUT', '/api/account/avatar', { body: png, type: 'image/png' });
    assert.equal(r.status, 200);
    const acc = await (await c.req('GET', '/api/account')).json();
    assert.match(acc.avatar_url, /^\/api\/account\/avatar\?v=\d+/);
    assert.ok((await me(c)).user.avatar_at > 0);
    r = await c.req('GET', '/api/account/avatar');
    assert.equal(r.status, 200);
    assert.deepEqual(Buffer.from(await r.arrayBuffer()), png);
    assert.equal((await c.req('DELETE', '/api/account/avatar')).status, 204);
    assert.equal((await c.req('GET', '/api/account/avatar')).status, 404);
  });

  test('signing in replaces the session the browser brought (no fixation); sign out everywhere ends all', async () => {
    const c = await new Client().signUp();
    const first = c.cookie;
    let r = await c.json('POST', '/api/auth/signin', { email: c.email, password: c.password });
    assert.equal(r.status, 200);
    assert.notEqual(c.cookie, first);
    const stale = new Client();
    stale.cookie = first;
    assert.equal((await stale.req('GET', '/api/me')).status, 401, 'the old session ended at sign-in');
    const other = new Client();
    await other.json('POST', '/api/auth/signin', { email: c.email, password: c.password });
    assert.equal((await other.req('GET', '/api/me')).status, 200);
    r = await c.req('POST', '/api/auth/signout-all');
    assert.equal(r.status, 204);
    assert.equal((await c.req('GET', '/api/me')).status, 401);
    assert.equal((await other.req('GET', '/api/me')).status, 401, 'the other browser too');
  });

  test('Help: support channels and legal links default to this installation', async () => {
    const c = await new Client().signUp();
    const h = await (await c.req('GET', '/api/help')).json();
    const host = new URL(BASE).hostname;
    assert.equal(h.support_email, `support@${host}`);
    assert.equal(h.billing_email, `billing@${host}`);
    assert.equal(h.legal_email, `legal@${host}`);
    assert.ok(h.privacy_url.startsWith(BASE), h.privacy_url);
    assert.ok(h.terms_url.startsWith(BASE));
    assert.equal((await new Client().req('GET', '/api/help')).status, 401);
  });
});

describe('Delete Account', () => {
  let a, b, aId, bId, gens, aOnly, shared, bPersonal;
  before(async () => {
    a = await new Client().signUp();
    b = await new Client().signUp();
    aId = (await me(a)).user.id;
    bId = (await me(b)).user.id;
    await setPlan(a.email, { plan: 'basic' });
    // B uses the model photo in its personal organization too: that file must survive.
    shared = (await b.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset.hash;
    bPersonal = await run(b, shared);
    // A's organization: uploads, results (A's and B's), a Collection, a key, an open invite,
    // an Assistant turn and a profile picture.
    assert.equal((await a.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset.hash, shared);
    // An image only A's organization has (random pixels: no other test or run shares it).
    aOnly = (await a.upload(rgbPng(48, 48, randomBytes(48 * 48 * 3)), 'image/png')).body.asset.hash;
    gens = [await run(a, shared)];
    const inv = await (await a.json('POST', '/api/org/invites', {})).json();
    const r = await b.req('POST', `/api/invites/${inv.url.split('/invite/')[1]}/accept`);
    assert.equal(r.status, 200);
    gens.push(await run(b, (await b.upload(flatPng(80, 80, 90), 'image/png')).body.asset.hash));
    await a.json('POST', '/api/collections', { name: 'Keep' });
    await a.json('POST', '/api/keys', { name: 'k' });
    assert.equal((await a.json('POST', '/api/widget-keys', { origins: ['https://shop.example'] })).status, 201);
    await a.json('POST', '/api/org/invites', {});
    await a.json('POST', '/api/assistant/messages', { message: 'hello', images: [] });
    await a.req('PUT', '/api/account/avatar', { body: flatPng(32, 32), type: 'image/png' });
    await createKey(a.email, 10);
    const t = await a.json('POST', '/api/billing/topup', { surface: 'app', credits: 100 });
    assert.equal(t.status, 200, await t.text());
  });

  test('the dialog’s list: the organizations A owns, with their members', async () => {
    const acc = await (await a.req('GET', '/api/account')).json();
    assert.equal(acc.owned_organizations.length, 1);
    assert.equal(acc.owned_organizations[0].members, 2);
  });

  test('a wrong confirmation deletes nothing; the right one deletes every row and file of A and A’s organization', async () => {
    const before = await footprint(aId, gens, [aOnly]);
    for (const t of ['users', 'organizations', 'org_members', 'org_invites', 'assets', 'generations', 'collections', 'assistant_turns', 'api_keys', 'widget_keys', 'ledgers', 'ledger_entries', 'payments', 'sessions']) {
      assert.ok(before[t] > 0, `${t} before: ${JSON.stringify(before)}`);
    }
    assert.ok(before.r2_objects >= 5, JSON.stringify(before));
    let r = await a.json('POST', '/api/account/delete', { email: 'someone@else.com' });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'email');
    assert.deepEqual(await footprint(aId, gens, [aOnly]), before);

    r = await a.json('POST', '/api/account/delete', { email: a.email.toUpperCase() });
    assert.equal(r.status, 204, await r.text());
    const after = await footprint(aId, gens, [aOnly]);
    for (const [t, n] of Object.entries(after)) assert.equal(n, 0, `${t} after: ${JSON.stringify(after)}`);
    assert.equal((await a.req('GET', '/api/me')).status, 401);
    // A can sign up again from scratch with the same e-mail.
    const again = await new Client().signUp(a.email, 'another password here');
    assert.equal((await me(again)).credits, 10);
  });

  test('B keeps its account, is back in its personal organization, and keeps what is its own', async () => {
    const mb = await me(b);
    assert.equal(mb.user.id, bId);
    assert.equal(mb.org.personal, true);
    assert.equal((await b.req('GET', `/api/generations/${bPersonal}`)).status, 200);
    assert.equal((await b.req('GET', `/api/generations/${gens[1]}`)).status, 404, 'what B made in A’s organization went with it');
    const img = await b.req('GET', `/api/assets/${shared}`);
    assert.equal(img.status, 200, 'a file another organization still uses stays');
    assert.ok((await img.arrayBuffer()).byteLength > 1000);
    const orgs = await (await b.req('GET', '/api/orgs')).json();
    assert.equal(orgs.orgs.length, 1);
  });
});
