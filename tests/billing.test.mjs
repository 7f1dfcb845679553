// Billing on the real stack (#15): plans enforced where the money is, the three App buckets, top-ups,
// plan changes with the documented semantics, API tiers and automatic top-up, the scheduled Worker
// on a fake clock, and 50 + 50 runs racing for an organization's last credits.
// lanes: solo — its race (100 runs for the last credits) and the year of cron runs have the stack to
// themselves when `cargo xtask test` runs suites concurrently (see xtask/src/lanes.rs).
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, Client, apiClient, createKey, fixture, giveAppCredits, setPlan, flatPng } from './lib/helpers.mjs';

const DAY = 24 * 60 * 60 * 1000;
const billing = async (c) => (await c.req('GET', '/api/billing')).json();
const at = (c, t, path, body) => c.req('POST', path, { body: JSON.stringify(body), type: 'application/json', headers: { 'x-atelier-clock': String(t) } });
const userId = async (c) => (await (await c.req('GET', '/api/me')).json()).user.id;
/** Runs the cron handler at `time` for one account only (`wrangler dev --test-scheduled`; a
 * local instance reads the fake clock and the account from the cron string). */
const cron = async (uid, time) => {
  const r = await fetch(`${BASE}/__scheduled?cron=${encodeURIComponent(`*/15 * * * * account=${uid} time=${time}`)}`);
  assert.equal(r.status, 200, await r.text());
};

describe('plans are enforced where the money is', () => {
  let c, img, garment;
  before(async () => {
    c = await new Client().signUp();
    img = (await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg')).body.asset.hash;
    garment = (await c.upload(fixture('garment-on-model.webp'), 'image/webp')).body.asset.hash;
  });

  // (Create Face's Agency gate is core's catalog test: this node has no engine for it.)
  test('a Free account is refused Quality mode, 1080p video and an End Image, with the plan that unlocks each; nothing is held', async () => {
    const b = await billing(c);
    assert.equal(b.provider, 'local');
    assert.equal(b.app.plan, 'free');
    assert.deepEqual([b.app.daily, b.app.monthly, b.app.top_up, b.app.available], [0, 0, 10, 10]);
    assert.equal(b.app.journal_available, 10, 'the free credits are in the journal');
    const cases = [
      [{ tool: 'try-on', inputs: { image: img, product_image: garment }, params: { generation_mode: 'quality' } }, /Pro/],
      [{ tool: 'image-to-video', inputs: { image: img }, params: { video_resolution: '1080p' } }, /Pro/],
      [{ tool: 'image-to-video', inputs: { image: img, end_image: garment }, params: { video_resolution: '1080p' } }, /Pro/],
    ];
    for (const [body, plan] of cases) {
      const r = await c.json('POST', '/api/generations', body);
      const e = await r.json();
      assert.equal(r.status, 400, JSON.stringify(e));
      const gate = e.errors.find((x) => x.code === 'plan_required');
      assert.ok(gate, `${body.tool}: ${JSON.stringify(e)}`);
      assert.match(gate.message, plan);
    }
    assert.equal((await billing(c)).app.available, 10, 'nothing was held');
  });

  test('subscribe Pro (local provider) → Quality mode passes the gate; top up; spending order; downgrade at the cycle end', async () => {
    let r = await c.json('POST', '/api/billing/plan', { plan: 'pro', interval: 'monthly' });
    let d = await r.json();
    assert.equal(r.status, 200, JSON.stringify(d));
    assert.equal(d.result, 'started');
    assert.equal(d.charged_cents, 4900);
    assert.equal(d.billing.app.plan, 'pro');
    assert.deepEqual([d.billing.app.daily, d.billing.app.monthly, d.billing.app.top_up], [50, 750, 10]);
    assert.equal(d.billing.app.subscription.cycle_end - d.billing.app.subscription.cycle_start, 30 * DAY);
    // Quality mode is no longer refused for the plan (it may still be refused for another reason).
    r = await c.json('POST', '/api/generations', { tool: 'try-on', inputs: { image: img, product_image: garment }, params: { generation_mode: 'quality' } });
    const body = await r.json();
    assert.equal(r.status, 202, JSON.stringify(body));
    await c.json('POST', `/api/generations/${body.generation.id}/cancel`, {});
    // Top-ups: 100-credit steps, $0.10 each.
    r = await c.json('POST', '/api/billing/topup', { surface: 'app', credits: -100 });
    assert.equal(r.status, 400, 'a negative amount is not a number of credits');
    for (const bad of [150, 0, 50]) {
      r = await c.json('POST', '/api/billing/topup', { surface: 'app', credits: bad });
      assert.equal(r.status, 409, `${bad}`);
      assert.match((await r.json()).message, /at least 100 credits, in steps of 100/);
    }
    r = await c.json('POST', '/api/billing/topup', { surface: 'app', credits: 'lots' });
    assert.equal(r.status, 400);
    assert.equal((await r.json()).errors[0].path, 'credits');
    r = await c.json('POST', '/api/billing/topup', { surface: 'app', credits: 200 });
    d = await r.json();
    assert.equal(d.charged_cents, 2000);
    assert.equal(d.billing.app.top_up, 210);
    // A 1-credit run spends a daily credit first.
    const g = (await (await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: img } })).json()).generation;
    assert.equal((await c.waitDone(g.id, 120000)).status, 'completed');
    let b = await billing(c);
    assert.deepEqual([b.app.daily, b.app.monthly, b.app.top_up], [49, 750, 210]);
    assert.equal(b.app.journal_available, b.app.available, 'the journal adds up to the balance');
    // Monthly ↔ annual is not one click.
    r = await c.json('POST', '/api/billing/plan', { plan: 'pro', interval: 'annual' });
    assert.equal(r.status, 409);
    assert.match((await r.json()).message, /no one-click conversion/);
    // Downgrade: at the end of the cycle; Pro stays until then. Keep undoes it.
    d = await (await c.json('POST', '/api/billing/plan', { plan: 'basic', interval: 'monthly' })).json();
    assert.equal(d.result, 'downgrade_scheduled');
    assert.equal(d.charged_cents, null);
    assert.equal(d.billing.app.plan, 'pro');
    assert.deepEqual([d.billing.app.subscription.pending, d.billing.app.subscription.pending_to], ['downgrade', 'basic']);
    d = await (await c.json('POST', '/api/billing/keep', { surface: 'app' })).json();
    assert.equal(d.billing.app.subscription.pending, null);
    r = await c.json('POST', '/api/billing/keep', { surface: 'app' });
    assert.equal(r.status, 409);
    d = await (await c.json('POST', '/api/billing/plan', { plan: 'free' })).json();
    assert.equal(d.result, 'cancel_scheduled');
    const pays = (await (await c.req('GET', '/api/billing/payments?surface=app')).json()).payments;
    assert.deepEqual(pays.map((p) => [p.description, p.cents, p.status]).sort(), [['200 App credits', 2000, 'paid'], ['Pro (monthly)', 4900, 'paid']]);
    assert.equal((await c.req('GET', '/api/billing/payments?surface=bank')).status, 400);
  });

  test('charged only for what is delivered: a tier the engine does not reach is refused up front, in the Studio and on /v1/run', async () => {
    const caps = await (await c.req('GET', '/api/capabilities')).json();
    const tryon = caps.tools.find((t) => t.tool === 'try-on');
    assert.equal(tryon.max_resolution, '2k', 'the local Try-On engine stops at 2K');
    const before = (await billing(c)).app.available;
    const r = await c.json('POST', '/api/generations', { tool: 'try-on', inputs: { image: img, product_image: garment }, params: { resolution: '4k' } });
    const e = await r.json();
    assert.equal(r.status, 400, JSON.stringify(e));
    assert.equal(e.errors[0].path, 'params.resolution');
    assert.equal(e.errors[0].code, 'not_deliverable');
    assert.match(e.errors[0].message, /up to 2K/);
    assert.equal((await billing(c)).app.available, before, 'nothing held');
    const key = await createKey(c.email, 50);
    const api = apiClient(() => key);
    const data = (f, t) => `data:${t};base64,${fixture(f).toString('base64')}`;
    const run = await api.call('POST', '/v1/run', { model_name: 'tryon-max', inputs: { model_image: data('model-photo-512.jpg', 'image/jpeg'), product_image: data('garment-on-model.webp', 'image/webp'), resolution: '4k' } });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    const s = await api.wait(run.body.id);
    assert.equal(s.body.status, 'failed');
    assert.equal(s.body.error.name, 'InputValidationError');
    assert.match(s.body.error.message, /up to 2K/);
    assert.equal((await api.call('GET', '/v1/credits')).body.credits.total, 50, 'nothing charged');
  });

  test('bad plan names and another account\'s session are refused', async () => {
    let r = await c.json('POST', '/api/billing/plan', { plan: 'platinum' });
    assert.equal(r.status, 400);
    assert.match((await r.json()).errors[0].message, /free, basic, pro, agency or agency_2x/);
    r = await fetch(BASE + '/api/billing');
    assert.equal(r.status, 401);
    r = await fetch(BASE + '/api/billing/plan', { method: 'POST', body: JSON.stringify({ plan: 'pro' }), headers: { 'content-type': 'application/json', cookie: c.cookie, origin: 'http://evil.example' } });
    assert.equal(r.status, 403, 'cross-site plan changes are refused');
  });
});

describe('API billing', () => {
  test('on-demand top-ups, a commitment tier, discounted top-ups, automatic top-up with a saved card', async () => {
    const c = await new Client().signUp();
    let d = await (await c.json('POST', '/api/billing/topup', { surface: 'api', credits: 100 })).json();
    assert.equal(d.charged_cents, 750, '$7.50 for 100 credits on demand');
    d = await (await c.json('POST', '/api/billing/tier', { tier: 'tier1', interval: 'monthly' })).json();
    assert.equal(d.result, 'started');
    assert.equal(d.charged_cents, 1900);
    assert.equal(d.billing.api.available, 100 + 282);
    d = await (await c.json('POST', '/api/billing/topup', { surface: 'api', credits: 1000 })).json();
    assert.equal(d.charged_cents, 6750, '$0.0675 under Tier I');
    let r = await c.json('POST', '/api/billing/auto-topup', { threshold: 300, amount: 1000 });
    assert.equal(r.status, 409);
    assert.match((await r.json()).message, /saved payment method/);
    d = await (await c.json('POST', '/api/billing/payment-method', { action: 'add' })).json();
    assert.match(d.billing.api.payment_method, /local provider/);
    r = await c.json('POST', '/api/billing/auto-topup', { threshold: 300 });
    assert.equal(r.status, 400);
    d = await (await c.json('POST', '/api/billing/auto-topup', { threshold: 1500, amount: 1000 })).json();
    assert.deepEqual(d.billing.api.auto_topup, { threshold: 1500, amount: 1000 });
    // The balance (1382) is below the threshold: the next debit (a run's hold) buys.
    const key = await createKey(c.email, null);
    const api = apiClient(() => key);
    const run = await api.call('POST', '/v1/run', { model_name: 'background-remove', inputs: { image: `data:image/png;base64,${flatPng(64, 64).toString('base64')}` } });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    await api.wait(run.body.id);
    const b = await billing(c);
    assert.equal(b.api.available, 1382 + 1000 - 1);
    const pays = (await (await c.req('GET', '/api/billing/payments?surface=api')).json()).payments;
    assert.ok(pays.some((p) => p.description === 'Automatic top-up: 1000 API credits' && p.cents === 6750), JSON.stringify(pays));
    const credits = await api.call('GET', '/v1/credits');
    assert.equal(credits.body.credits.total, b.api.available);
    // Removing the card turns automatic top-up off.
    d = await (await c.json('POST', '/api/billing/payment-method', { action: 'remove' })).json();
    assert.equal(d.billing.api.auto_topup, null);
  });
});

describe('the scheduled Worker on a fake clock', () => {
  test('a year: daily refreshes, monthly resets, an upgrade and a cancel; payments and the journal add up', async () => {
    const c = await new Client().signUp();
    const uid = await userId(c);
    const t0 = Date.now();
    let r = await at(c, t0, '/api/billing/plan', { plan: 'pro', interval: 'monthly' });
    assert.equal(r.status, 200, await r.clone().text());
    const seen = [];
    for (let day = 1; day <= 365; day++) {
      const now = t0 + day * DAY;
      await cron(uid, now);
      if (day === 100) {
        r = await at(c, now, '/api/billing/plan', { plan: 'agency', interval: 'monthly' });
        const d = await r.json();
        assert.equal(d.result, 'upgraded', JSON.stringify(d));
        assert.equal(d.billing.app.top_up, 10 + 750, 'unused monthly credits became top-ups');
      }
      if (day === 200) assert.equal((await (await at(c, now, '/api/billing/plan', { plan: 'free' })).json()).result, 'cancel_scheduled');
      if ([1, 50, 150, 219, 221].includes(day)) seen.push([day, (await billing(c)).app]);
    }
    const by = Object.fromEntries(seen);
    assert.deepEqual([by[1].plan, by[1].daily, by[1].monthly], ['pro', 50, 750]);
    assert.deepEqual([by[150].plan, by[150].daily, by[150].monthly], ['agency', 100, 1500]);
    assert.equal(by[219].subscription.pending, 'cancel');
    assert.deepEqual([by[221].plan, by[221].daily, by[221].monthly, by[221].top_up], ['free', 0, 0, 760]);
    const pays = (await (await c.req('GET', '/api/billing/payments?surface=app')).json()).payments;
    const total = pays.reduce((s, p) => s + p.cents, 0);
    assert.equal(total, 4 * 4900 + 4 * 9900, pays.map((p) => `${p.description} ${p.cents}`).join('\n'));
    const b = await billing(c);
    assert.equal(b.app.journal_available, b.app.available, 'the journal adds up to the balance');
  });
});

describe('racing for the last credits', () => {
  test('50 Studio runs and 50 /v1/run for 10 + 10 credits: none negative, nothing double-charged, every hold settled', async () => {
    const c = await new Client().signUp();
    await giveAppCredits(c.email, 10);
    await setPlan(c.email, { plan: 'agency' });
    // Agency's allowance would cover everything: take it away again, leaving exactly 10.
    await giveAppCredits(c.email, 10);
    const key = await createKey(c.email, 10);
    const api = apiClient(() => key);
    const img = (await c.upload(flatPng(64, 64), 'image/png')).body.asset.hash;
    const data = `data:image/png;base64,${flatPng(64, 64).toString('base64')}`;
    const studio = Array.from({ length: 50 }, () => c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: img } }).then(async (r) => ({ status: r.status, body: await r.json() })));
    const v1 = Array.from({ length: 50 }, () => api.call('POST', '/v1/run', { model_name: 'background-remove', inputs: { image: data } }));
    const [s, a] = [await Promise.all(studio), await Promise.all(v1)];
    const okS = s.filter((r) => r.status === 202);
    const okA = a.filter((r) => r.status === 200);
    assert.equal(okS.length, 10, s.filter((r) => r.status !== 202 && r.status !== 402).map((r) => JSON.stringify(r)).join('\n'));
    assert.equal(okA.length, 10, a.filter((r) => r.status !== 200 && r.status !== 429).map((r) => JSON.stringify(r.body)).join('\n'));
    assert.ok(s.every((r) => r.status === 202 || (r.status === 402 && r.body.error === 'out_of_credits')));
    assert.ok(a.every((r) => r.status === 200 || (r.status === 429 && r.body.error === 'OutOfCredits')), JSON.stringify(a.map((r) => r.body).filter((b) => !b.id)));
    let completed = 0;
    for (const r of okS) completed += (await c.waitDone(r.body.generation.id, 240000)).status === 'completed' ? 1 : 0;
    let completedApi = 0;
    for (const r of okA) completedApi += (await api.wait(r.body.id)).body.status === 'completed' ? 1 : 0;
    const b = await billing(c);
    assert.equal(b.app.held, 0, 'every Studio hold settled or released');
    assert.equal(b.api.held, 0, 'every API hold settled or released');
    assert.equal(b.app.available, 10 - completed, `charged once per completed run (${completed})`);
    assert.equal(b.api.available, 10 - completedApi, `charged once per completed prediction (${completedApi})`);
    assert.equal(b.app.journal_available, b.app.available);
    assert.equal(b.api.journal_available, b.api.available);
  });
});
