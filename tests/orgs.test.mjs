// Teams on the real stack (#16): invites, switching, the organization as owner of record of
// credits, uploads and results, roles checked on every route, removal, and an IDOR sweep of every
// id-bearing route of /api and /v1 across two organizations.
import { routes, matches } from './lib/routes.mjs';
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { SMTPServer } from 'smtp-server';
import { BASE, Client, apiClient, createKey, fixture, setPlan, flatPng, uniqueEmail } from './lib/helpers.mjs';

const SMTP_PORT = Number(process.env.ATELIER_SMTP_PORT ?? 18796);

const me = async (c) => (await c.req('GET', '/api/me')).json();
const body = async (r) => { const t = await r.text(); try { return JSON.parse(t); } catch { return t; } };

async function invite(owner) {
  const r = await owner.json('POST', '/api/org/invites', {});
  const b = await body(r);
  assert.equal(r.status, 201, JSON.stringify(b));
  const token = b.url.split('/invite/')[1];
  assert.match(token, /^[0-9a-f]{64}$/);
  return { ...b, token };
}

async function join(member, token) {
  const r = await member.req('POST', `/api/invites/${token}/accept`, { headers: { origin: BASE } });
  const b = await body(r);
  assert.equal(r.status, 200, JSON.stringify(b));
  return b;
}

describe('an organization shared by its members', () => {
  let a, b, aOrg, bUid;
  before(async () => {
    a = await new Client().signUp();
    b = await new Client().signUp();
    aOrg = (await me(a)).org.id;
    bUid = (await me(b)).user.id;
  });

  test('Free: no Organizations menu and no seats to invite with; a plan with seats opens both', async () => {
    let orgs = await (await a.req('GET', '/api/orgs')).json();
    assert.equal(orgs.menu, false, 'the docs: the menu shows with an active App subscription');
    assert.equal(orgs.orgs.length, 1);
    assert.equal(orgs.orgs[0].personal, true);
    let r = await a.json('POST', '/api/org/invites', {});
    let e = await r.json();
    assert.equal(r.status, 409);
    assert.equal(e.error, 'no_seats');
    assert.match(e.message, /Basic \(2 seats\)/);
    await setPlan(a.email, { plan: 'basic' });
    orgs = await (await a.req('GET', '/api/orgs')).json();
    assert.equal(orgs.menu, true);
    const org = await (await a.req('GET', '/api/org')).json();
    assert.deepEqual(org.seats, { included: 2, used: 0, remaining: 2 });
    assert.equal(org.role, 'owner');
    assert.equal(org.members.length, 1);
    assert.equal(org.members[0].owner_of_record, true);
  });

  test('an invite link joins B as a Collaborator, once; B acts in the organization and spends its credits', async () => {
    const inv = await invite(a);
    let org = await (await a.req('GET', '/api/org')).json();
    assert.equal(org.seats.used, 1, 'an open invite takes a seat');
    assert.equal(org.invites.length, 1);
    const preview = await (await b.req('GET', `/api/invites/${inv.token}`)).json();
    assert.equal(preview.invited_by, a.email);
    assert.equal(preview.member, false);
    assert.equal((await join(b, inv.token)).current, aOrg);
    // Single use: the same link again (by anyone) is refused.
    const c = await new Client().signUp();
    let r = await c.req('POST', `/api/invites/${inv.token}/accept`);
    assert.equal(r.status, 404);
    assert.equal((await r.json()).error, 'invite_not_found');
    r = await c.req('GET', `/api/invites/${'0'.repeat(64)}`);
    assert.equal(r.status, 404);

    const mb = await me(b);
    assert.equal(mb.org.id, aOrg);
    assert.equal(mb.org.role, 'collaborator');
    assert.equal(mb.org.personal, false);
    const orgs = await (await b.req('GET', '/api/orgs')).json();
    assert.equal(orgs.menu, true, 'invited: the menu shows on the free tier');
    assert.equal(orgs.current, aOrg);
    assert.equal(orgs.orgs.length, 2);

    // B uploads and runs a tool inside A's organization: A's balance pays.
    const before = (await me(a)).credits;
    r = await b.req('GET', '/api/billing');
    assert.equal(r.status, 403, 'billing is the owners’');
    const up = await b.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    assert.equal(up.status, 201);
    r = await b.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: up.body.asset.hash }, params: {} });
    const g = (await body(r)).generation;
    assert.equal(r.status, 202, JSON.stringify(g));
    const done = await b.waitDone(g.id);
    assert.equal(done.status, 'completed', JSON.stringify(done));
    assert.equal((await me(a)).credits, before - 1, "the organization's balance paid");
    // A sees B's result in the organization's history and Gallery, and B's upload among its assets.
    const hist = await (await a.req('GET', '/api/generations')).json();
    assert.ok(hist.generations.some((x) => x.id === g.id), 'in A’s history');
    const lib = await (await a.req('GET', '/api/gallery/entries')).json();
    assert.ok(JSON.stringify(lib).includes(g.id), 'in A’s Gallery');
    assert.equal((await a.req('GET', `/api/assets/${up.body.asset.hash}`)).status, 200);
    assert.equal((await a.req('GET', `/api/generations/${g.id}/outputs/0`)).status, 200);

    // Switching back to B's personal organization: none of it is there.
    r = await b.json('POST', '/api/orgs/switch', { org_id: '' });
    assert.equal(r.status, 200);
    assert.equal((await me(b)).org.personal, true);
    assert.equal((await b.req('GET', `/api/generations/${g.id}`)).status, 404);
    assert.equal((await b.req('GET', `/api/assets/${up.body.asset.hash}`)).status, 404);
    r = await b.json('POST', '/api/orgs/switch', { org_id: aOrg });
    assert.equal(r.status, 200);
    assert.equal((await b.req('GET', `/api/generations/${g.id}`)).status, 200);

    // A removes B: B's session falls back to personal, and the result is 404 for B.
    r = await a.req('DELETE', `/api/org/members/${bUid}`);
    assert.equal(r.status, 204);
    assert.equal((await me(b)).org.personal, true);
    assert.equal((await b.req('GET', `/api/generations/${g.id}`)).status, 404);
    r = await b.json('POST', '/api/orgs/switch', { org_id: aOrg });
    assert.equal(r.status, 404, 'no longer a member');
    // What B made stays with the organization.
    assert.equal((await a.req('GET', `/api/generations/${g.id}`)).status, 200);
    org = await (await a.req('GET', '/api/org')).json();
    assert.equal(org.members.length, 1);
    assert.deepEqual(org.seats, { included: 2, used: 0, remaining: 2 });
  });

  test('seats are the plan’s: Basic invites 2, the third is refused; a revoked invite frees its seat', async () => {
    const i1 = await invite(a);
    await invite(a);
    let r = await a.json('POST', '/api/org/invites', {});
    assert.equal(r.status, 409);
    assert.match((await r.json()).message, /All 2 seats/);
    r = await a.req('DELETE', `/api/org/invites/${i1.id}`);
    assert.equal(r.status, 204);
    const i3 = await invite(a);
    r = await a.req('DELETE', `/api/org/invites/${i3.id}`);
    assert.equal(r.status, 204);
    r = await b.req('GET', `/api/invites/${i1.token}`);
    assert.equal(r.status, 404, 'a revoked link is dead');
  });

  test('rename (owners), a bad name says which field and why; a collaborator may leave, an owner may not', async () => {
    let r = await a.json('PATCH', '/api/org', { name: '  Studio North ' });
    assert.equal(r.status, 200);
    assert.equal((await me(a)).org.name, 'Studio North');
    r = await a.json('PATCH', '/api/org', { name: '' });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'name');
    r = await a.req('POST', '/api/org/leave');
    assert.equal(r.status, 409, 'the personal organization cannot be left');
    const d = await new Client().signUp();
    const inv = await invite(a);
    await join(d, inv.token);
    r = await d.req('POST', '/api/org/leave');
    assert.equal(r.status, 200);
    assert.equal((await me(d)).org.personal, true);
  });
});

describe('roles: every team and billing route × Owner / Collaborator', () => {
  let owner, collab, coOwner;
  before(async () => {
    owner = await new Client().signUp();
    await setPlan(owner.email, { plan: 'pro' });
    collab = await new Client().signUp();
    coOwner = await new Client().signUp();
    await join(collab, (await invite(owner)).token);
    await join(coOwner, (await invite(owner)).token);
    const uid = (await me(coOwner)).user.id;
    const r = await owner.json('PATCH', `/api/org/members/${uid}`, { role: 'owner' });
    assert.equal(r.status, 200);
  });

  // [method, path, body, may an owner, may a collaborator] — the docs' Roles and Permissions.
  const routes = [
    ['GET', '/api/org', null, true, true],
    ['PATCH', '/api/org', { name: 'Renamed' }, true, false],
    ['POST', '/api/org/invites', {}, true, false],
    ['DELETE', '/api/org/invites/nope', null, true, false],
    ['PATCH', '/api/org/members/nope', { role: 'owner' }, true, false],
    ['DELETE', '/api/org/members/nope', null, true, false],
    ['GET', '/api/billing', null, true, false],
    ['POST', '/api/billing/topup', { surface: 'app', credits: 100 }, true, false],
    ['POST', '/api/billing/plan', { plan: 'agency', interval: 'monthly' }, true, false],
    ['GET', '/api/billing/payments', null, true, false],
    ['GET', '/api/keys', null, true, false],
    ['POST', '/api/keys', { name: 'k' }, true, false],
    ['GET', '/api/requests', null, true, false],
    ['GET', '/api/generations', null, true, true],
    ['GET', '/api/gallery/entries', null, true, true],
    ['GET', '/api/assets', null, true, true],
    ['GET', '/api/collections', null, true, true],
    ['GET', '/api/assistant/messages', null, true, true],
    // Last: the collaborator leaves.
    ['POST', '/api/org/leave', null, false, true],
  ];

  test('a collaborator gets 403 with the reason exactly where the docs reserve the action for owners', async () => {
    const seen = [];
    for (const [method, path, b, ownerMay, collabMay] of routes) {
      // The co-owner (promoted) stands for "Owner" so the owner of record keeps its org intact.
      for (const [who, c, may] of [['owner', coOwner, ownerMay], ['collaborator', collab, collabMay]]) {
        const r = b ? await c.json(method, path, b) : await c.req(method, path);
        const text = await r.text();
        if (may) {
          assert.notEqual(r.status, 403, `${who} ${method} ${path}: ${text}`);
        } else {
          assert.equal(r.status, 403, `${who} ${method} ${path} should be refused: ${text}`);
          assert.match(JSON.parse(text).message, /owner/i);
        }
        seen.push(`${who} ${method} ${path} ${r.status}`);
      }
    }
    assert.equal(seen.length, routes.length * 2);
    assert.equal((await me(collab)).org.personal, true, 'the collaborator left');
  });

  test('the owner of record cannot be removed or demoted, even by a co-owner', async () => {
    const uid = (await me(owner)).user.id;
    let r = await coOwner.req('DELETE', `/api/org/members/${uid}`);
    assert.equal(r.status, 409);
    assert.equal((await r.json()).error, 'owner_of_record');
    r = await coOwner.json('PATCH', `/api/org/members/${uid}`, { role: 'collaborator' });
    assert.equal(r.status, 409);
    r = await owner.json('PATCH', `/api/org/members/${(await me(coOwner)).user.id}`, { role: 'admin' });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'role');
  });
});

describe('IDOR: every id-bearing route answers 404 for another organization’s ids', () => {
  let x, y, ids, yKey, xKey;
  before(async () => {
    x = await new Client().signUp();
    y = await new Client().signUp();
    await setPlan(x.email, { plan: 'basic' });
    const up = await x.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
    const hash = up.body.asset.hash;
    let r = await x.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: hash }, params: {} });
    const gid = (await r.json()).generation.id;
    await x.waitDone(gid);
    r = await x.json('POST', '/api/collections', { name: 'X looks' });
    const cid = (await r.json()).collection.id;
    r = await x.json('POST', '/api/assistant/messages', { message: 'hello', images: [] });
    const tid = (await r.json()).message.id;
    r = await x.json('POST', '/api/keys', { name: 'x key' });
    const kid = (await r.json()).id;
    r = await x.json('POST', '/api/widget-keys', { name: 'x shop', origins: ['https://x.example'] });
    const wid = (await r.json()).key.id;
    const inv = await invite(x);
    const xUid = (await me(x)).user.id;
    const xOrg = (await me(x)).org.id;
    // An API prediction of X's organization.
    xKey = await createKey(x.email, 100);
    const api = apiClient(() => xKey);
    const run = await api.call('POST', '/v1/run', { model_name: 'background-remove', inputs: { image: `data:image/png;base64,${flatPng(64, 64).toString('base64')}` } });
    const pid = run.body.id;
    await api.wait(pid);
    yKey = await createKey(y.email, 100);
    ids = { hash, gid, cid, tid, kid, wid, inv: inv.id, token: inv.token, xUid, xOrg, pid };
  });

  test('/api and /v1', async () => {
    const { hash, gid, cid, tid, kid, wid, inv, xUid, xOrg, pid } = ids;
    const sweep = [
      ['GET', `/api/assets/${hash}`],
      ['POST', '/api/assets/from-output', { generation_id: gid, index: 0 }],
      ['GET', `/api/generations/${gid}`],
      ['POST', `/api/generations/${gid}/cancel`],
      ['GET', `/api/generations/${gid}/outputs/0`],
      ['GET', `/api/generations/${gid}/outputs/0/thumb`],
      ['POST', `/api/generations/${gid}/outputs/0/export`, {}],
      ['GET', `/api/gallery/entries/${gid}`],
      ['PATCH', `/api/generations/${gid}`, { liked: true }],
      ['DELETE', `/api/generations/${gid}`],
      ['PATCH', `/api/collections/${cid}`, { name: 'mine now' }],
      ['DELETE', `/api/collections/${cid}`],
      ['POST', `/api/collections/${cid}/items`, { ids: [gid] }],
      ['DELETE', `/api/collections/${cid}/items/${gid}`],
      ['POST', `/api/assistant/messages/${tid}/confirm`],
      ['POST', `/api/assistant/messages/${tid}/dismiss`],
      ['PATCH', `/api/keys/${kid}`, { name: 'mine' }],
      ['DELETE', `/api/keys/${kid}`],
      ['PATCH', `/api/widget-keys/${wid}`, { name: 'mine', origins: ['https://y.example'] }],
      ['DELETE', `/api/widget-keys/${wid}`],
      ['POST', '/api/orgs/switch', { org_id: xOrg }],
      ['DELETE', `/api/org/invites/${inv}`],
      ['PATCH', `/api/org/members/${xUid}`, { role: 'collaborator' }],
      ['DELETE', `/api/org/members/${xUid}`],
    ];
    // The sweep covers every id-bearing route of the router (read from its source), but those
    // whose id is not an organization's: a new route fails here until it is swept or exempted.
    const exempt = {
      'GET /api/auth/oidc/:id/start': 'a sign-in provider, the same for everyone',
      'GET /api/auth/oidc/:id/callback': 'a sign-in provider, the same for everyone',
      'GET /api/library/:kind/:hash': 'the shared starter library, the same for every organization',
      'POST /api/library/:kind/:hash/use': 'the shared starter library, the same for every organization',
      'POST /api/internal/jobs/:id/events': 'signed with the job secret, no session (tests/edge.test.mjs)',
      'GET /api/invites/:token': 'the token is the invitation itself (orgs: invite → accept)',
      'POST /api/invites/:token/accept': 'the token is the invitation itself (orgs: invite → accept)',
      'GET /v1/status/:id': 'swept below with the other organization’s key',
      'GET /v1/outputs/:id/:index': 'a signed URL: the signature is the authority (tests/api.test.mjs)',
      'GET /api/widget/runs/:id': 'a storefront widget session, no organization session: another key\'s session gets 404 (tests/widget.test.mjs)',
    };
    const unswept = routes()
      .filter((r) => r.segs.some((s) => s.startsWith(':')) && !exempt[`${r.method} ${r.path}`])
      .filter((r) => !sweep.some(([method, path]) => matches(r, method, path)))
      .map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(unswept, [], 'id-bearing routes missing from the IDOR sweep');
    const fails = [];
    for (const [method, path, b] of sweep) {
      const r = b ? await y.json(method, path, b) : await y.req(method, path);
      if (r.status !== 404) fails.push(`${method} ${path} → ${r.status} ${await r.text()}`);
    }
    assert.deepEqual(fails, []);
    // Bulk routes take nothing of X's.
    let r = await y.json('POST', '/api/gallery/delete', { ids: [gid] });
    assert.deepEqual((await r.json()).deleted ?? [], []);
    // /v1 with Y's key: X's prediction is not found.
    const yApi = apiClient(() => yKey);
    for (const path of [`/v1/status/${pid}`]) {
      const s = await yApi.call('GET', path);
      assert.equal(s.status, 404, `${path}: ${JSON.stringify(s.body)}`);
    }
    // Everything of X's is still there and unchanged.
    assert.equal((await x.req('GET', `/api/generations/${gid}`)).status, 200);
    const cols = await (await x.req('GET', '/api/collections')).json();
    assert.equal(cols.collections.find((c) => c.id === cid)?.name, 'X looks');
    const keys = await (await x.req('GET', '/api/keys')).json();
    assert.equal(keys.keys.find((k) => k.id === kid)?.revoked_at, null);
    assert.equal((await x.req('GET', '/api/org')).status, 200);
    assert.equal((await (await x.req('GET', '/api/org')).json()).invites.length, 1);
  });
});

describe('invite e-mails (SMTP configured: a real SMTP server on loopback, smtp-server)', () => {
  test('an invite with an address is e-mailed with its link; with the server down the link still works and says why', async () => {
    const owner = await new Client().signUp();
    await setPlan(owner.email, { plan: 'pro' });
    const got = [];
    const server = new SMTPServer({
      authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
      onData(stream, session, cb) {
        let raw = '';
        stream.on('data', (c) => { raw += c; });
        stream.on('end', () => { got.push({ raw, from: session.envelope.mailFrom.address, to: session.envelope.rcptTo.map((r) => r.address) }); cb(); });
      },
    });
    await new Promise((r) => server.listen(SMTP_PORT, '127.0.0.1', r));
    const to = uniqueEmail('teammate');
    let inv;
    try {
      const r = await owner.json('POST', '/api/org/invites', { email: to });
      inv = await r.json();
      assert.equal(r.status, 201, JSON.stringify(inv));
      assert.equal(inv.emailed, true, JSON.stringify(inv));
    } finally {
      await new Promise((r) => server.close(r));
    }
    // Only this invite's message (other suites' accounts may be sent balance alerts meanwhile).
    const mine = got.filter((m) => m.to.includes(to));
    assert.equal(mine.length, 1);
    assert.deepEqual(mine[0].to, [to]);
    assert.equal(mine[0].from, 'atelier@localhost');
    assert.ok(mine[0].raw.includes(inv.url), 'the message carries the link');
    assert.match(mine[0].raw, /Subject: Join .* on Atelier/);
    // The listed invite keeps its address.
    const org = await (await owner.req('GET', '/api/org')).json();
    assert.equal(org.invites.find((i) => i.id === inv.id).email, to);
    // The server is gone now: the invite is made, not e-mailed, and the owner is told.
    const r2 = await owner.json('POST', '/api/org/invites', { email: uniqueEmail('later') });
    const inv2 = await r2.json();
    assert.equal(r2.status, 201);
    assert.equal(inv2.emailed, false);
    assert.match(inv2.email_error, /could not be sent/);
    // A bad address names the field.
    const r3 = await owner.json('POST', '/api/org/invites', { email: 'not-an-address' });
    assert.equal(r3.status, 400);
    assert.equal((await r3.json()).errors[0].path, 'email');
  });
});
