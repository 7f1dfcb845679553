// A Stripe-shaped API on loopback for the edge's outbound calls (STRIPE_API_BASE on the test
// stack): customers, Checkout Sessions (payment, subscription and setup mode), the Billing Portal,
// SetupIntents and PaymentIntents with their cards, off-session charges (declined on demand),
// subscriptions and their updates, products, detaching a card. Form bodies are parsed the way
// Stripe reads them (`a[b][c]=v`), the secret key is checked, and an `Idempotency-Key` replays
// the first answer, as Stripe does. Every request is recorded for the tests to assert on.
import http from 'node:http';
import { randomBytes } from 'node:crypto';

export const STRIPE_KEY = 'sk_test_atelier_local';
const rid = (p) => `${p}_${randomBytes(6).toString('hex')}`;

export async function startStripe(port) {
  const calls = [];
  const state = {
    customers: new Map(), subscriptions: new Map(), products: new Map(),
    intents: new Map(), // seti_/pi_ → { payment_method: {id, card} }
    declineNext: 0, // how many following charges are declined
    idem: new Map(),
  };
  const server = http.createServer(async (req, res) => {
    let raw = '';
    for await (const c of req) raw += c;
    const url = new URL(req.url, 'http://x');
    const form = Object.fromEntries(new URLSearchParams(req.method === 'GET' ? url.search : raw));
    const call = { method: req.method, path: url.pathname, form, idempotency: req.headers['idempotency-key'] ?? null };
    calls.push(call);
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return { status, body };
    };
    if (req.headers.authorization !== `Bearer ${STRIPE_KEY}`) {
      return send(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' } });
    }
    const key = call.idempotency && `${req.method} ${url.pathname} ${call.idempotency}`;
    if (key && state.idem.has(key)) {
      const { status, body } = state.idem.get(key);
      call.replayed = true;
      return send(status, body);
    }
    const answer = route(req.method, url.pathname, form);
    if (key) state.idem.set(key, answer);
    send(answer.status, answer.body);
  });
  const ok = (body) => ({ status: 200, body });
  const err = (status, code, message, type = 'invalid_request_error') => ({ status, body: { error: { type, code, message } } });
  const meta = (form) => Object.fromEntries(Object.entries(form).filter(([k]) => k.startsWith('metadata[')).map(([k, v]) => [k.slice(9, -1), v]));
  function route(method, path, form) {
    let m;
    if (method === 'POST' && path === '/v1/customers') {
      const c = { id: rid('cus'), object: 'customer', email: form.email, metadata: meta(form), invoice_settings: {} };
      state.customers.set(c.id, c);
      return ok(c);
    }
    if (method === 'POST' && (m = path.match(/^\/v1\/customers\/([\w]+)$/))) {
      const c = state.customers.get(m[1]) ?? { id: m[1], object: 'customer', invoice_settings: {} };
      if (form['invoice_settings[default_payment_method]']) c.invoice_settings.default_payment_method = form['invoice_settings[default_payment_method]'];
      state.customers.set(c.id, c);
      return ok(c);
    }
    if (method === 'POST' && path === '/v1/checkout/sessions') {
      const id = rid('cs');
      return ok({ id, object: 'checkout.session', mode: form.mode, url: `http://127.0.0.1:${port}/pay/${id}` });
    }
    if (method === 'POST' && path === '/v1/billing_portal/sessions') {
      return ok({ id: rid('bps'), url: `http://127.0.0.1:${port}/portal/${form.customer}` });
    }
    if (method === 'GET' && (m = path.match(/^\/v1\/(setup_intents|payment_intents)\/([\w]+)$/))) {
      const i = state.intents.get(m[2]);
      return i ? ok({ id: m[2], ...i }) : err(404, 'resource_missing', `No such intent: '${m[2]}'`);
    }
    if (method === 'POST' && path === '/v1/payment_intents') {
      if (state.declineNext > 0) {
        state.declineNext -= 1;
        return err(402, 'card_declined', 'Your card was declined.', 'card_error');
      }
      const pi = { id: rid('pi'), object: 'payment_intent', status: 'succeeded', amount: Number(form.amount), payment_method: form.payment_method, metadata: meta(form) };
      return ok(pi);
    }
    if (method === 'POST' && path === '/v1/products') {
      if (state.products.has(form.id)) return err(400, 'resource_already_exists', 'Product already exists.');
      state.products.set(form.id, { id: form.id, name: form.name });
      return ok(state.products.get(form.id));
    }
    if ((m = path.match(/^\/v1\/subscriptions\/([\w]+)$/))) {
      const s = state.subscriptions.get(m[1]);
      if (!s) return err(404, 'resource_missing', `No such subscription: '${m[1]}'`);
      if (method === 'GET') return ok(s);
      if (form['payment_behavior'] === 'error_if_incomplete' && state.declineNext > 0) {
        state.declineNext -= 1;
        return err(402, 'card_declined', 'Your card was declined.', 'card_error');
      }
      const item = s.items.data[0];
      if (form['items[0][price_data][unit_amount]']) {
        item.price = { unit_amount: Number(form['items[0][price_data][unit_amount]']), product: form['items[0][price_data][product]'], recurring: { interval: form['items[0][price_data][recurring][interval]'] } };
      }
      if (form.cancel_at_period_end) s.cancel_at_period_end = form.cancel_at_period_end === 'true';
      for (const [k, v] of Object.entries(meta(form))) {
        if (v === '') delete s.metadata[k]; else s.metadata[k] = v;
      }
      return ok(s);
    }
    if (method === 'POST' && (m = path.match(/^\/v1\/payment_methods\/([\w]+)\/detach$/))) {
      return ok({ id: m[1], object: 'payment_method', customer: null });
    }
    return err(404, 'unknown', `Not in this Stripe-shaped server: ${method} ${path}`);
  }
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return {
    calls,
    state,
    /// A subscription as Checkout would have made it.
    subscription({ id = rid('sub'), customer, cents, interval = 'month', metadata, pm = rid('pm') }) {
      const s = { id, object: 'subscription', status: 'active', customer, cancel_at_period_end: false, default_payment_method: pm, metadata: { ...metadata }, items: { object: 'list', data: [{ id: rid('si'), price: { unit_amount: cents, recurring: { interval } } }] } };
      state.subscriptions.set(id, s);
      return s;
    },
    /// A SetupIntent (or PaymentIntent) that saved a card.
    intent(id, brand = 'visa', last4 = '4242') {
      const pm = { id: rid('pm'), object: 'payment_method', card: { brand, last4 } };
      state.intents.set(id, { payment_method: pm });
      return pm;
    },
    of: (method, path) => calls.filter((c) => c.method === method && (typeof path === 'string' ? c.path === path : path.test(c.path))),
    close: () => new Promise((r) => server.close(r)),
  };
}
