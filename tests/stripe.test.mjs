// Stripe's webhook on the real stack (#15): payloads signed with the official `stripe` package's
// test-header helper drive the real handler — no network. Signatures (wrong secret, tampered
// payload, stale timestamp, none) are refused; a top-up and a subscription are applied once
// however often Stripe delivers them; subscription events apply in the order Stripe made them,
// not the order they arrive; renewals and failed renewals are recorded; a deleted subscription
// ends the plan.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { BASE, Client, STRIPE_WEBHOOK_SECRET } from './lib/helpers.mjs';

const rid = (p) => `${p}_${randomBytes(8).toString('hex')}`;
const nowSecs = () => Math.floor(Date.now() / 1000);
const deliver = (event, { secret = STRIPE_WEBHOOK_SECRET, timestamp, header, payload } = {}) => {
  const body = payload ?? JSON.stringify(event);
  const h = header ?? Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
  return fetch(`${BASE}/api/webhooks/stripe`, { method: 'POST', body, headers: { 'stripe-signature': h, 'content-type': 'application/json' } });
};
const event = (type, object, created = nowSecs()) => ({ id: rid('evt'), object: 'event', type, created, data: { object } });
const billing = async (c) => (await c.req('GET', '/api/billing')).json();

describe('Stripe webhooks', () => {
  let c, uid, customer;
  before(async () => {
    c = await new Client().signUp();
    uid = (await (await c.req('GET', '/api/me')).json()).user.id;
    customer = rid('cus');
  });

  test('a paid top-up Checkout adds the credits once, however often it is delivered', async () => {
    const e = event('checkout.session.completed', {
      id: rid('cs'), object: 'checkout.session', mode: 'payment', payment_status: 'paid', amount_total: 2000, customer,
      client_reference_id: uid, metadata: { kind: 'topup', surface: 'app', credits: '200', user_id: uid },
    });
    let r = await deliver(e);
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal((await r.json()).outcome, 'applied');
    assert.equal((await billing(c)).app.top_up, 210);
    r = await deliver(e);
    assert.deepEqual(await r.json(), { received: true, duplicate: true });
    const b = await billing(c);
    assert.equal(b.app.top_up, 210, 'a redelivered event changes nothing');
    assert.equal(b.app.journal_available, b.app.available);
    const pays = (await (await c.req('GET', '/api/billing/payments?surface=app')).json()).payments;
    assert.deepEqual(pays.map((p) => [p.description, p.cents, p.provider, p.status]), [['200 App credits', 2000, 'stripe', 'paid']]);
  });

  test('bad signatures, stale timestamps and non-events are refused and change nothing', async () => {
    const e = event('checkout.session.completed', {
      id: rid('cs'), payment_status: 'paid', amount_total: 1000, metadata: { kind: 'topup', surface: 'app', credits: '100', user_id: uid },
    });
    const refused = async (r, why) => {
      assert.equal(r.status, 400, why);
      assert.match((await r.json()).message, /Signature check failed|Not a Stripe event/, why);
    };
    await refused(await deliver(e, { secret: 'whsec_someone_else' }), 'another secret');
    const signed = Stripe.webhooks.generateTestHeaderString({ payload: JSON.stringify(e), secret: STRIPE_WEBHOOK_SECRET });
    const tampered = JSON.stringify(e).replace('"100"', '"100000"');
    await refused(await deliver(e, { header: signed, payload: tampered }), 'a changed payload');
    await refused(await deliver(e, { timestamp: nowSecs() - 600 }), 'ten minutes old');
    await refused(await fetch(`${BASE}/api/webhooks/stripe`, { method: 'POST', body: JSON.stringify(e) }), 'no signature');
    await refused(await deliver(null, { payload: '{"not": "an event"' }), 'signed, but not JSON');
    assert.equal((await billing(c)).app.top_up, 210);
    // Not ours, or not paid yet: acknowledged, nothing applied.
    let r = await deliver(event('payment_intent.created', { id: rid('pi') }));
    assert.equal((await r.json()).outcome, 'ignored');
    const pending = { id: rid('cs'), payment_status: 'unpaid', amount_total: 1000, metadata: { kind: 'topup', surface: 'app', credits: '100', user_id: uid } };
    r = await deliver(event('checkout.session.completed', pending));
    assert.equal((await r.json()).outcome, 'waiting_for_payment');
    assert.equal((await billing(c)).app.top_up, 210);
    r = await deliver(event('checkout.session.async_payment_succeeded', { ...pending, payment_status: 'paid' }));
    assert.equal((await r.json()).outcome, 'applied', 'a delayed payment lands when it succeeds');
    assert.equal((await billing(c)).app.top_up, 310);
    r = await deliver(event('checkout.session.completed', { ...pending, payment_status: 'paid', metadata: { ...pending.metadata, user_id: 'nobody' } }));
    assert.equal((await r.json()).outcome, 'ignored: unknown account');
  });

  test('a subscription: Checkout starts Pro; events apply in Stripe\'s order; renewals are recorded; deletion ends it', async () => {
    const sub = rid('sub');
    const meta = { kind: 'plan', plan: 'pro', interval: 'monthly', user_id: uid };
    const t = nowSecs();
    let r = await deliver(event('checkout.session.completed', {
      id: rid('cs'), mode: 'subscription', payment_status: 'paid', amount_total: 4900, customer, subscription: sub, metadata: meta,
    }, t));
    assert.equal((await r.json()).outcome, 'applied');
    let b = await billing(c);
    assert.deepEqual([b.app.plan, b.app.daily, b.app.monthly], ['pro', 50, 750]);
    const updated = (cancel, created) => event('customer.subscription.updated', { id: sub, object: 'subscription', status: 'active', cancel_at_period_end: cancel, metadata: meta }, created);
    r = await deliver(updated(true, t + 20));
    assert.equal((await r.json()).outcome, 'cancel_scheduled');
    // An older event arriving late: ignored.
    r = await deliver(updated(false, t + 10));
    assert.equal((await r.json()).outcome, 'ignored: older than the last applied event');
    assert.equal((await billing(c)).app.subscription.pending, 'cancel');
    r = await deliver(updated(false, t + 30));
    assert.equal((await r.json()).outcome, 'kept', 'the cancellation was undone in the portal');
    assert.equal((await billing(c)).app.subscription.pending, null);
    for (const [type, paid] of [['invoice.paid', 4900], ['invoice.payment_failed', 0]]) {
      r = await deliver(event(type, { id: rid('in'), object: 'invoice', billing_reason: 'subscription_cycle', subscription: sub, amount_paid: paid, amount_due: 4900 }, t + 40));
      assert.match((await r.json()).outcome, /^renewal_/);
    }
    const pays = (await (await c.req('GET', '/api/billing/payments?surface=app')).json()).payments;
    assert.deepEqual(pays.filter((p) => p.description === 'Renewal').map((p) => p.status).sort(), ['failed', 'paid']);
    r = await deliver(event('customer.subscription.deleted', { id: sub, object: 'subscription', status: 'canceled', cancel_at_period_end: false, metadata: meta }, t + 50));
    assert.equal((await r.json()).outcome, 'ended');
    b = await billing(c);
    assert.deepEqual([b.app.plan, b.app.daily, b.app.monthly, b.app.top_up], ['free', 0, 0, 310], 'plan credits end with it; top-ups stay');
    assert.equal(b.app.journal_available, b.app.available);
  });

  test('the local provider has no portal: its payment method and invoices are on the Billing page', async () => {
    const r = await c.json('POST', '/api/billing/portal', {});
    assert.equal(r.status, 409);
    assert.equal((await r.json()).error, 'no_portal');
  });
});
