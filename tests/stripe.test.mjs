// Stripe's webhook on the real stack (#15): payloads signed with the official `stripe` package's
// test-header helper drive the real handler — no network. Signatures (wrong secret, tampered
// payload, stale timestamp, none) are refused; a top-up and a subscription are applied once
// however often Stripe delivers them; subscription events apply in the order Stripe made them,
// not the order they arrive; renewals and failed renewals are recorded; a deleted subscription
// ends the plan.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { SMTPServer } from 'smtp-server';
import { BASE, Client, STRIPE_WEBHOOK_SECRET, createKey, apiClient, flatPng, setPlan } from './lib/helpers.mjs';
import { startStripe } from './lib/stripe-api.mjs';

const STRIPE_PORT = Number(process.env.ATELIER_STRIPE_PORT ?? 18795);
const SMTP_PORT = Number(process.env.ATELIER_SMTP_PORT ?? 18796);

const rid = (p) => `${p}_${randomBytes(8).toString('hex')}`;
const nowSecs = () => Math.floor(Date.now() / 1000);
const deliver = (event, { secret = STRIPE_WEBHOOK_SECRET, timestamp, header, payload } = {}) => {
  const body = payload ?? JSON.stringify(event);
  const h = header ?? Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
  return fetch(`${BASE}/api/webhooks/stripe`, { method: 'POST', body, headers: { 'stripe-signature': h, 'content-type': 'application/json' } });
};
const event = (type, object, created = nowSecs()) => ({ id: rid('evt'), object: 'event', type, created, data: { object } });
const billing = async (c) => (await c.req('GET', '/api/billing')).json();

/** A real SMTP server (smtp-server) on loopback that keeps what it receives. */
async function mailbox() {
  const got = [];
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ['STARTTLS'], logger: false,
    onData(stream, session, cb) {
      let raw = '';
      stream.on('data', (c) => { raw += c; });
      stream.on('end', () => { got.push({ raw, to: session.envelope.rcptTo.map((r) => r.address) }); cb(); });
    },
  });
  await new Promise((r) => server.listen(SMTP_PORT, '127.0.0.1', r));
  return { got, to: (addr) => got.filter((m) => m.to.includes(addr)), close: () => new Promise((r) => server.close(r)) };
}

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

describe('Stripe\'s API (a Stripe-shaped server on loopback): cards, off-session automatic top-ups, alerts, live plan changes', () => {
  let stripe, mail;
  before(async () => {
    stripe = await startStripe(STRIPE_PORT);
    mail = await mailbox();
  });
  after(async () => {
    await stripe?.close();
    await mail?.close();
  });
  const asStripe = { 'x-atelier-provider': 'stripe' };

  test('a card saved with Checkout in setup mode; automatic top-ups charge it off-session once; a decline turns it off; e-mail alerts', async () => {
    const c = await new Client().signUp();
    const uid = (await (await c.req('GET', '/api/me')).json()).user.id;
    // Add a card: the edge makes the Stripe customer and a setup-mode Checkout Session.
    let r = await c.req('POST', '/api/billing/payment-method', { body: JSON.stringify({ action: 'add' }), type: 'application/json', headers: asStripe });
    let d = await r.json();
    assert.equal(r.status, 200, JSON.stringify(d));
    assert.match(d.url, new RegExp(`^http://127.0.0.1:${STRIPE_PORT}/pay/cs_`));
    const made = stripe.of('POST', '/v1/customers').at(-1);
    assert.equal(made.form.email, c.email);
    const session = stripe.of('POST', '/v1/checkout/sessions').at(-1).form;
    assert.equal(session.mode, 'setup');
    const customer = session.customer;
    assert.ok(customer.startsWith('cus_'));
    assert.equal(session['metadata[kind]'], 'payment_method');
    assert.equal((await billing(c)).api.payment_method, null, 'nothing saved before Stripe says so');
    // Stripe's webhook: the SetupIntent's card becomes the default and the saved method.
    const seti = rid('seti');
    const pm = stripe.intent(seti, 'visa', '4242');
    r = await deliver(event('checkout.session.completed', { id: session.id ?? rid('cs'), object: 'checkout.session', mode: 'setup', status: 'complete', payment_status: 'no_payment_required', customer, setup_intent: seti, metadata: { kind: 'payment_method', user_id: uid } }));
    assert.equal((await r.json()).outcome, 'card_saved');
    assert.equal(stripe.state.customers.get(customer).invoice_settings.default_payment_method, pm.id);
    let b = await billing(c);
    assert.equal(b.api.payment_method, 'Visa •••• 4242');
    assert.equal(b.api.alerts, true, 'alerts are on by default');
    d = await (await c.json('POST', '/api/billing/auto-topup', { threshold: 300, amount: 1000 })).json();
    assert.deepEqual(d.billing.api.auto_topup, { threshold: 300, amount: 1000 });

    // 301 credits; a 1-credit run takes the balance to the threshold: one off-session charge.
    const key = await createKey(c.email, 301);
    const api = apiClient(() => key);
    const image = `data:image/png;base64,${flatPng(64, 64).toString('base64')}`;
    const before = stripe.of('POST', '/v1/payment_intents').length;
    let run = await api.call('POST', '/v1/run', { model_name: 'background-remove', inputs: { image } });
    assert.equal(run.status, 200, JSON.stringify(run.body));
    await api.wait(run.body.id);
    const charges = stripe.of('POST', '/v1/payment_intents').slice(before);
    assert.equal(charges.length, 1, 'charged once');
    assert.deepEqual(
      [charges[0].form.amount, charges[0].form.customer, charges[0].form.payment_method, charges[0].form.off_session, charges[0].form.confirm, charges[0].form['metadata[kind]']],
      ['7500', customer, pm.id, 'true', 'true', 'auto_topup'],
    );
    assert.match(charges[0].idempotency, /^auto-topup-/);
    b = await billing(c);
    assert.equal(b.api.available, 300 + 1000);
    assert.equal(b.api.journal_available, b.api.available);
    let pays = (await (await c.req('GET', '/api/billing/payments?surface=api')).json()).payments;
    assert.deepEqual(pays.filter((p) => p.description.startsWith('Automatic')).map((p) => [p.description, p.cents, p.provider, p.status]),
      [['Automatic top-up: 1000 API credits', 7500, 'stripe', 'paid']]);
    const bought = mail.to(c.email);
    assert.equal(bought.length, 1, 'one alert');
    assert.match(bought[0].raw, /Subject: Atelier: 1000 API credits added automatically/);
    assert.match(bought[0].raw, /\$75\.00/);
    assert.match(bought[0].raw, /Visa =E2=80=A2|Visa •/);

    // Declined: nothing added, automatic top-up off, the owner told why.
    await createKey(c.email, 301);
    stripe.state.declineNext = 1;
    run = await api.call('POST', '/v1/run', { model_name: 'background-remove', inputs: { image } });
    await api.wait(run.body.id);
    b = await billing(c);
    assert.equal(b.api.available, 300);
    assert.equal(b.api.auto_topup, null, 'switched off');
    assert.equal(b.api.journal_available, b.api.available);
    const failed = mail.to(c.email).at(-1);
    assert.match(failed.raw, /Subject: Your Atelier automatic top-up failed/);
    assert.match(failed.raw, /declined/);
    pays = (await (await c.req('GET', '/api/billing/payments?surface=api')).json()).payments;
    assert.equal(pays.filter((p) => p.description.startsWith('Automatic')).length, 1, 'no payment recorded for a declined card');

    // Low balance without automatic top-up: one alert when it crosses under 100; none with alerts off.
    await createKey(c.email, 100);
    const n = mail.to(c.email).length;
    run = await api.call('POST', '/v1/run', { model_name: 'background-remove', inputs: { image } });
    await api.wait(run.body.id);
    assert.equal(mail.to(c.email).length, n + 1);
    assert.match(mail.to(c.email).at(-1).raw, /Subject: Your Atelier API balance is low \(99 credits\)/);
    run = await api.call('POST', '/v1/run', { model_name: 'background-remove', inputs: { image } });
    await api.wait(run.body.id);
    assert.equal(mail.to(c.email).length, n + 1, 'once per crossing');
    d = await (await c.json('POST', '/api/billing/alerts', { on: false })).json();
    assert.equal(d.billing.api.alerts, false);
    r = await c.json('POST', '/api/billing/alerts', { on: 'yes' });
    assert.equal(r.status, 400);
    await createKey(c.email, 100);
    run = await api.call('POST', '/v1/run', { model_name: 'background-remove', inputs: { image } });
    await api.wait(run.body.id);
    assert.equal(mail.to(c.email).length, n + 1, 'alerts off: no e-mail');

    // Removing the card detaches it at Stripe.
    d = await (await c.json('POST', '/api/billing/payment-method', { action: 'remove' })).json();
    assert.equal(d.billing.api.payment_method, null);
    assert.equal(stripe.of('POST', `/v1/payment_methods/${pm.id}/detach`).length, 1);
  });

  test('a plan Stripe bills is changed at Stripe: upgrade now, downgrade at the cycle\'s end, keep, cancel; a declined upgrade changes nothing', async () => {
    const c = await new Client().signUp();
    const uid = (await (await c.req('GET', '/api/me')).json()).user.id;
    const customer = rid('cus');
    const meta = { kind: 'plan', plan: 'pro', interval: 'monthly', user_id: uid };
    const sub = stripe.subscription({ customer, cents: 4900, metadata: meta });
    let r = await deliver(event('checkout.session.completed', { id: rid('cs'), mode: 'subscription', payment_status: 'paid', amount_total: 4900, customer, subscription: sub.id, metadata: meta }));
    assert.equal((await r.json()).outcome, 'applied');
    const updated = () => deliver(event('customer.subscription.updated', JSON.parse(JSON.stringify(sub))));
    const payments = async () => (await (await c.req('GET', '/api/billing/payments?surface=app')).json()).payments;

    stripe.state.declineNext = 1;
    r = await c.json('POST', '/api/billing/plan', { plan: 'agency', interval: 'monthly' });
    let d = await r.json();
    assert.equal(r.status, 402, JSON.stringify(d));
    assert.equal(d.error, 'payment_declined');
    assert.match(d.message, /declined/);
    assert.equal((await billing(c)).app.plan, 'pro', 'nothing changed');
    assert.equal((await payments()).length, 1);

    r = await c.json('POST', '/api/billing/plan', { plan: 'agency', interval: 'monthly' });
    d = await r.json();
    assert.equal(r.status, 200, JSON.stringify(d));
    assert.deepEqual([d.result, d.charged_cents, d.billing.app.plan], ['upgraded', 9900, 'agency']);
    let up = stripe.of('POST', `/v1/subscriptions/${sub.id}`).at(-1).form;
    assert.deepEqual([up['items[0][price_data][unit_amount]'], up['items[0][price_data][product]'], up.billing_cycle_anchor, up.proration_behavior, up.payment_behavior, up['metadata[plan]']],
      ['9900', 'atelier_plan_agency', 'now', 'none', 'error_if_incomplete', 'agency']);
    assert.ok(stripe.state.products.has('atelier_plan_agency'));
    assert.deepEqual((await payments()).map((p) => [p.description, p.cents, p.provider]).find((p) => p[0].startsWith('Agency')), ['Agency (monthly)', 9900, 'stripe']);
    assert.equal((await (await updated()).json()).outcome, 'unchanged', 'Stripe\'s echo of our change changes nothing');

    d = await (await c.json('POST', '/api/billing/plan', { plan: 'basic', interval: 'monthly' })).json();
    assert.equal(d.result, 'downgrade_scheduled');
    up = stripe.of('POST', `/v1/subscriptions/${sub.id}`).at(-1).form;
    assert.deepEqual([up['items[0][price_data][unit_amount]'], up.billing_cycle_anchor, up['metadata[plan]'], up['metadata[next]']], ['1900', undefined, 'agency', 'basic']);
    assert.equal((await (await updated()).json()).outcome, 'unchanged');
    let b = await billing(c);
    assert.deepEqual([b.app.plan, b.app.subscription.pending, b.app.subscription.pending_to], ['agency', 'downgrade', 'basic']);

    d = await (await c.json('POST', '/api/billing/keep', { surface: 'app' })).json();
    assert.equal(d.result, 'kept');
    assert.equal(sub.items.data[0].price.unit_amount, 9900);
    assert.equal(sub.metadata.next, undefined);
    assert.equal((await (await updated()).json()).outcome, 'unchanged');

    d = await (await c.json('POST', '/api/billing/plan', { plan: 'free', interval: 'monthly' })).json();
    assert.equal(d.result, 'cancel_scheduled');
    assert.equal(sub.cancel_at_period_end, true);
    assert.equal((await (await updated()).json()).outcome, 'unchanged');
    d = await (await c.json('POST', '/api/billing/keep', { surface: 'app' })).json();
    assert.equal(sub.cancel_at_period_end, false);
    assert.equal(d.billing.app.subscription.pending, null);
    // A downgrade chosen here reaches the app's state from Stripe's event too (e.g. another tab).
    sub.metadata.next = 'pro';
    assert.equal((await (await updated()).json()).outcome, 'downgrade_scheduled');
    assert.equal((await billing(c)).app.subscription.pending_to, 'pro');
    b = await billing(c);
    assert.equal(b.app.journal_available, b.app.available);
  });

  test('with Stripe, a new subscription goes to Checkout; a plan an operator set is not changed (nothing could collect it)', async () => {
    const c = await new Client().signUp();
    const ask = (body) => c.req('POST', '/api/billing/plan', { body: JSON.stringify(body), type: 'application/json', headers: asStripe });
    let r = await ask({ plan: 'pro', interval: 'monthly' });
    let d = await r.json();
    assert.equal(r.status, 200, JSON.stringify(d));
    assert.equal(d.result, 'redirect');
    const form = stripe.of('POST', '/v1/checkout/sessions').at(-1).form;
    assert.deepEqual([form.mode, form['line_items[0][price_data][unit_amount]'], form['metadata[plan]'], form['subscription_data[metadata][user_id]'] !== undefined], ['subscription', '4900', 'pro', true]);
    assert.equal((await billing(c)).app.plan, 'free', 'nothing until Stripe confirms');
    await setPlan(c.email, { plan: 'pro' });
    r = await ask({ plan: 'agency', interval: 'monthly' });
    d = await r.json();
    assert.equal(r.status, 409);
    assert.equal(d.error, 'managed_by_operator');
    assert.equal((await billing(c)).app.plan, 'pro');
  });

  test('an annual upgrade: the prorated part is charged off-session at core\'s price; the subscription renews at the new price', async () => {
    const c = await new Client().signUp();
    const uid = (await (await c.req('GET', '/api/me')).json()).user.id;
    const meta = { kind: 'plan', plan: 'basic', interval: 'annual', user_id: uid };
    const sub = stripe.subscription({ customer: rid('cus'), cents: 19000, interval: 'year', metadata: meta });
    await deliver(event('checkout.session.completed', { id: rid('cs'), mode: 'subscription', payment_status: 'paid', amount_total: 19000, customer: sub.customer, subscription: sub.id, metadata: meta }));
    const r = await c.json('POST', '/api/billing/plan', { plan: 'pro', interval: 'annual' });
    const d = await r.json();
    assert.equal(r.status, 200, JSON.stringify(d));
    assert.equal(d.result, 'upgraded');
    const pi = stripe.of('POST', '/v1/payment_intents').at(-1);
    assert.deepEqual([Number(pi.form.amount), pi.form.payment_method, pi.form['metadata[kind]']], [d.charged_cents, sub.default_payment_method, 'upgrade']);
    assert.ok(d.charged_cents > 0 && d.charged_cents < 49000 - 19000 + 1, `prorated: ${d.charged_cents}`);
    const up = stripe.of('POST', `/v1/subscriptions/${sub.id}`).at(-1).form;
    assert.deepEqual([up['items[0][price_data][unit_amount]'], up['items[0][price_data][recurring][interval]'], up.billing_cycle_anchor], ['49000', 'year', undefined]);
  });
});
