// Sign-in with OpenID Connect (#16) end to end in Chromium against a real OpenID provider on
// loopback (oidc-provider): the authorization code flow with PKCE, state bound to the browser
// and used once, nonce and the ID token's signature checked by the edge; a new account is made
// with its personal organization; an existing account is linked by its verified e-mail; an
// unverified e-mail is refused with a message on the sign-in page.
import { test, before, after } from 'node:test';
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, Client, uniqueEmail, CHROMIUM_FLAGS as FLAGS } from './lib/helpers.mjs';
import { startProvider, providerLogin, LOOPBACK_ONLY, OIDC_PORT } from './lib/oidc.mjs';

let op;
const profiles = [];

async function fresh() {
  const profile = mkdtempSync(join(tmpdir(), 'atelier-oidc-'));
  profiles.push(profile);
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: [...FLAGS, ...LOOPBACK_ONLY],
  });
  const page = ctx.pages()[0] ?? await ctx.newPage();
  return { ctx, page };
}

before(async () => { op = await startProvider(); });
after(async () => {
  await op?.close();
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
});

test('the sign-in page offers the configured provider; the API lists it', async () => {
  const r = await fetch(`${BASE}/api/auth/providers`);
  const b = await r.json();
  assert.deepEqual(b.providers.map((p) => [p.id, p.name]), [['local', 'Test OpenID'], ['github', 'GitHub']]);
  const r2 = await fetch(`${BASE}/api/auth/oidc/nope/start`, { redirect: 'manual' });
  assert.equal(r2.status, 404);
});

test('a new person signs up through the provider and lands signed in, with a personal organization and the free credits', async () => {
  const { ctx, page } = await fresh();
  const email = uniqueEmail('oidc');
  let authUrl;
  page.on('request', (r) => { if (r.url().includes(':' + OIDC_PORT + '/auth?')) authUrl = r.url(); });
  await page.goto(`${BASE}/studio`);
  await page.getByTestId('oidc-local').click();
  await page.waitForURL(/\/interaction\//);
  // PKCE and nonce travel to the provider.
  const auth = new URL(authUrl);
  assert.equal(auth.searchParams.get('code_challenge_method'), 'S256');
  assert.ok(auth.searchParams.get('nonce')?.length >= 40);
  assert.ok(auth.searchParams.get('state')?.length >= 40);
  let callback;
  page.on('request', (r) => { if (r.url().includes('/api/auth/oidc/local/callback')) callback = r.url(); });
  await providerLogin(page, email);
  await page.waitForURL(`${BASE}/studio`);
  await page.getByTestId('user-email').waitFor();
  assert.equal(await page.getByTestId('user-email').textContent(), email);
  const me = await (await page.request.get(`${BASE}/api/me`)).json();
  assert.equal(me.user.email, email);
  assert.equal(me.org.personal, true);
  assert.equal(me.credits, 10);
  // The same answer again (a replayed code and state) signs nobody in.
  const replay = await fetch(callback, { redirect: 'manual' });
  assert.equal(replay.status, 302);
  assert.match(replay.headers.get('location'), /auth_error=/);
  assert.ok(!(replay.headers.get('set-cookie') ?? '').includes('atl_session='), 'no session from a replay');
  await ctx.close();
});

test('an account made with e-mail and password is linked by its verified e-mail, not duplicated', async () => {
  const c = await new Client().signUp(uniqueEmail('linked'));
  const id = (await (await c.req('GET', '/api/me')).json()).user.id;
  const { ctx, page } = await fresh();
  await page.goto(BASE);
  await page.getByTestId('oidc-local').click();
  await providerLogin(page, c.email);
  await page.getByTestId('user-email').waitFor();
  const me = await (await page.request.get(`${BASE}/api/me`)).json();
  assert.equal(me.user.id, id, 'the same account');
  // Password sign-in still works for it.
  const again = await new Client().json('POST', '/api/auth/signin', { email: c.email, password: c.password });
  assert.equal(again.status, 200);
  await ctx.close();
});

test('an unverified e-mail is refused with a message, and no account is made', async () => {
  const { ctx, page } = await fresh();
  const email = `unverified-${uniqueEmail('x')}`;
  await page.goto(BASE);
  await page.getByTestId('oidc-local').click();
  await providerLogin(page, email);
  await page.getByTestId('auth-error').waitFor();
  assert.match(await page.getByTestId('auth-error').textContent(), /has not verified/);
  assert.equal((await page.request.get(`${BASE}/api/me`)).status(), 401);
  // Signing up with that e-mail is still possible (nothing was made).
  await new Client().signUp(email);
  await ctx.close();
});

test('a callback without this browser’s state cookie is refused (login CSRF)', async () => {
  const start = await fetch(`${BASE}/api/auth/oidc/local/start?return_to=//evil.example`, { redirect: 'manual' });
  assert.equal(start.status, 302);
  const state = new URL(start.headers.get('location')).searchParams.get('state');
  const r = await fetch(`${BASE}/api/auth/oidc/local/callback?code=x&state=${state}`, { redirect: 'manual' });
  assert.equal(r.status, 302);
  assert.match(r.headers.get('location'), /^\/\?auth_error=/, 'back to this site, never to another');
});

// GitHub is no OpenID provider: its OAuth app flow (code + state + PKCE, then /user and
// /user/emails) against a loopback server that answers as GitHub's documentation says and
// checks the PKCE verifier, the client secret and the redirect URI like GitHub does.
const GITHUB_PORT = Number(process.env.ATELIER_GITHUB_PORT ?? 18797);

function githubServer(email) {
  const codes = new Map();
  const seen = { verified: false };
  const id = 1e6 + Math.floor(Math.random() * 1e9);
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${GITHUB_PORT}`);
    const send = (status, body, headers = {}) => { res.writeHead(status, { 'content-type': 'application/json', ...headers }); res.end(JSON.stringify(body)); };
    if (url.pathname === '/login/oauth/authorize') {
      const q = url.searchParams;
      if (q.get('client_id') !== 'atelier-gh' || q.get('code_challenge_method') !== 'S256') return send(400, { error: 'bad request' });
      const code = randomBytes(10).toString('hex');
      codes.set(code, { challenge: q.get('code_challenge'), redirect: q.get('redirect_uri') });
      res.writeHead(302, { location: `${q.get('redirect_uri')}?code=${code}&state=${encodeURIComponent(q.get('state'))}` });
      return res.end();
    }
    if (url.pathname === '/login/oauth/access_token' && req.method === 'POST') {
      let body = '';
      for await (const c of req) body += c;
      const f = new URLSearchParams(body);
      const c = codes.get(f.get('code'));
      codes.delete(f.get('code'));
      const challenge = createHash('sha256').update(f.get('code_verifier') ?? '').digest('base64url');
      if (!c || f.get('client_secret') !== 'atelier-gh-secret' || c.redirect !== f.get('redirect_uri') || c.challenge !== challenge) {
        return send(200, { error: 'bad_verification_code' });
      }
      seen.verified = true;
      return send(200, { access_token: 'gho_test', token_type: 'bearer', scope: 'read:user,user:email' });
    }
    if (req.headers.authorization !== 'Bearer gho_test') return send(401, { message: 'Bad credentials' });
    if (url.pathname === '/api/user') return send(200, { id, login: 'octo' });
    if (url.pathname === '/api/user/emails') {
      return send(200, [{ email: `old-${email}`, primary: false, verified: false }, { email, primary: true, verified: true }]);
    }
    send(404, { message: 'Not Found' });
  });
  return { server, seen };
}

test('GitHub: the OAuth flow with state and PKCE signs in with the primary verified e-mail', async () => {
  const email = uniqueEmail('octo');
  const { server, seen } = githubServer(email);
  await new Promise((r) => server.listen(GITHUB_PORT, '127.0.0.1', r));
  try {
    const start = await fetch(`${BASE}/api/auth/oidc/github/start?return_to=/gallery`, { redirect: 'manual' });
    assert.equal(start.status, 302);
    const flow = start.headers.get('set-cookie').split(';')[0];
    const auth = new URL(start.headers.get('location'));
    assert.equal(auth.origin + auth.pathname, `http://127.0.0.1:${GITHUB_PORT}/login/oauth/authorize`);
    assert.equal(auth.searchParams.get('scope'), 'read:user user:email');
    const back = await fetch(auth, { redirect: 'manual' });
    const cb = back.headers.get('location');
    const done = await fetch(cb, { redirect: 'manual', headers: { cookie: flow } });
    assert.equal(done.status, 302);
    assert.equal(done.headers.get('location'), '/gallery');
    assert.ok(seen.verified, 'GitHub saw the right PKCE verifier');
    const session = done.headers.get('set-cookie').match(/atl_session=[0-9a-f]{64}/)[0];
    const me = await (await fetch(`${BASE}/api/me`, { headers: { cookie: session } })).json();
    assert.equal(me.user.email, email);
    // The same GitHub user again: the same account (by GitHub's user id).
    const s2 = await fetch(`${BASE}/api/auth/oidc/github/start`, { redirect: 'manual' });
    const b2 = await fetch(s2.headers.get('location'), { redirect: 'manual' });
    const d2 = await fetch(b2.headers.get('location'), { redirect: 'manual', headers: { cookie: s2.headers.get('set-cookie').split(';')[0] } });
    const session2 = d2.headers.get('set-cookie').match(/atl_session=[0-9a-f]{64}/)[0];
    const me2 = await (await fetch(`${BASE}/api/me`, { headers: { cookie: session2 } })).json();
    assert.equal(me2.user.id, me.user.id);
  } finally {
    await new Promise((r) => server.close(r));
  }
});
