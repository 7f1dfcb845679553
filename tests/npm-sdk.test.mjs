// FASHN's official npm SDK (`fashn`, pinned in package.json) against the running stack:
// predictions.subscribe() end to end, credits used, base64 outputs, and the SDK's error classes.
// Every request the SDK makes goes through a fetch that refuses anything but ATELIER_URL.
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import Fashn, { APIError, AuthenticationError, BadRequestError, NotFoundError } from 'fashn';
import { BASE, SECRET, createKey, signRequest, uniqueEmail, decodePng, rgbPng, PNG_SIGNATURE } from './lib/helpers.mjs';

const ORIGIN = new URL(BASE).origin;
const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

const balance = async (key) => {
  const r = await fetch(`${BASE}/v1/credits`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(r.status, 200);
  return (await r.json()).credits.total;
};

/** URLs the SDK requested; anything off the local stack fails the test before leaving the machine. */
const requested = [];
const localFetch = (url, init) => {
  const u = new URL(String(url));
  requested.push(u.href);
  assert.equal(u.origin, ORIGIN, `the SDK may only call the local stack, not ${u.href}`);
  return fetch(url, init);
};

const sdk = (apiKey) => new Fashn({ apiKey, baseURL: BASE, fetch: localFetch, maxRetries: 0, timeout: 30_000, logLevel: 'off' });
// subscribe()'s own options: fast polling, a bounded wait (on expiry it resolves with status time_out).
const polling = { pollInterval: 100, timeout: 60_000, maxRetries: 0 };

/** An 8-bit RGB PNG made here: a dark, person-like figure on a light, slightly graded backdrop. */
function figurePng(width = 160, height = 240) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < width; x++) {
      const head = ((x - width / 2) / (width * 0.12)) ** 2 + ((y - height * 0.2) / (height * 0.09)) ** 2 <= 1;
      const body = Math.abs(x - width / 2) < width * 0.2 && y > height * 0.3 && y < height * 0.95;
      const px = head ? [205, 160, 130] : body ? [40, 50, 90] : [236 - (y >> 4), 238 - (y >> 4), 232];
      px.forEach((v, c) => { raw[row + 1 + x * 3 + c] = v; });
    }
  }
  return rgbPng(width, height, raw);
}

const INPUT = figurePng();
const INPUT_URI = `data:image/png;base64,${INPUT.toString('base64')}`;

/** Checks a background-remove output: a PNG with an alpha channel, the input's size. */
function checkOutputPng(buf) {
  assert.ok(buf.subarray(0, 8).equals(PNG_SIGNATURE), 'PNG signature');
  assert.equal(buf.toString('latin1', 12, 16), 'IHDR');
  assert.equal(buf[8 + 8 + 9], 6, 'IHDR color type 6 (RGBA)');
  const img = decodePng(buf);
  assert.equal(img.colorType, 6);
  assert.deepEqual([img.width, img.height], [160, 240], 'same size as the input');
}

let key;

describe('npm SDK (fashn)', () => {
  before(async () => {
    const input = decodePng(INPUT);
    assert.deepEqual([input.width, input.height, input.colorType], [160, 240, 2], 'the test input decodes');
    key = await createKey(uniqueEmail('npm-sdk'), 10);
  });

  test('subscribe() background-remove: completed, one local PNG URL with alpha, creditsUsed 1, balance −1', async () => {
    const client = sdk(key);
    const before = await balance(key);
    assert.equal(before, 10);
    let enqueued;
    const updates = [];
    const result = await client.predictions.subscribe({
      model_name: 'background-remove',
      inputs: { image: INPUT_URI },
      ...polling,
      onEnqueued: (id) => { enqueued = id; },
      onQueueUpdate: (s) => updates.push(s.status),
    });
    assert.equal(result.status, 'completed', JSON.stringify(result.error));
    assert.equal(result.error, null);
    assert.equal(typeof enqueued, 'string');
    assert.equal(result.id, enqueued);
    assert.equal(updates.at(-1), 'completed');
    assert.equal(result.creditsUsed, 1, 'creditsUsed (from x-fashn-credits-used)');
    assert.equal(result.output.length, 1);
    const out = new URL(result.output[0]);
    assert.equal(out.origin, ORIGIN, 'the output URL is on the local stack');
    assert.ok(LOOPBACK.includes(out.hostname), `loopback output host ${out.hostname}`);
    const r = await fetch(out);
    assert.equal(r.status, 200);
    checkOutputPng(Buffer.from(await r.arrayBuffer()));
    assert.equal(await balance(key), before - 1, 'GET /v1/credits dropped by 1');
    const status = await client.predictions.status(result.id);
    assert.equal(status.status, 'completed', 'status() agrees');
    assert.deepEqual(status.output, result.output);
  });

  test('subscribe() with return_base64 gives a data:image/png;base64 output', async () => {
    const result = await sdk(key).predictions.subscribe({
      model_name: 'background-remove',
      inputs: { image: INPUT_URI, return_base64: true },
      ...polling,
    });
    assert.equal(result.status, 'completed', JSON.stringify(result.error));
    assert.equal(result.creditsUsed, 1);
    assert.equal(result.output.length, 1);
    assert.match(result.output[0], /^data:image\/png;base64,/);
    checkOutputPng(Buffer.from(result.output[0].slice(result.output[0].indexOf(',') + 1), 'base64'));
  });

  test('a wrong key raises AuthenticationError (401)', async () => {
    await assert.rejects(
      sdk('atl_wrong').predictions.subscribe({ model_name: 'background-remove', inputs: { image: INPUT_URI }, ...polling }),
      (e) => {
        assert.ok(e instanceof AuthenticationError, `${e?.constructor?.name}: ${e?.message}`);
        assert.ok(e instanceof APIError);
        assert.equal(e.status, 401);
        assert.deepEqual(e.error, { error: 'UnauthorizedAccess', message: 'Unauthorized: Invalid token' });
        return true;
      },
    );
  });

  test('an unknown model raises BadRequestError (400) with our message', async () => {
    await assert.rejects(
      sdk(key).predictions.subscribe({ model_name: 'teleport', inputs: { image: INPUT_URI }, ...polling }),
      (e) => {
        assert.ok(e instanceof BadRequestError, `${e?.constructor?.name}: ${e?.message}`);
        assert.equal(e.status, 400);
        assert.equal(e.error.error, 'BadRequest');
        assert.match(e.error.message, /^model_name: "teleport" is not a model; use one of .*background-remove/);
        assert.equal(e.message, `400 ${e.error.message}`);
        assert.equal(e.headers.get('x-should-retry'), 'false');
        return true;
      },
    );
  });

  test('status() of an unknown id raises NotFoundError (404)', async () => {
    await assert.rejects(sdk(key).predictions.status('does-not-exist'), (e) => {
      assert.ok(e instanceof NotFoundError, `${e?.constructor?.name}: ${e?.message}`);
      assert.equal(e.status, 404);
      assert.equal(e.error.error, 'NotFound');
      assert.match(e.error.message, /does-not-exist/);
      return true;
    });
  });

  test('the SDK called nothing but the local stack', () => {
    assert.ok(requested.length >= 5);
    for (const u of requested) assert.equal(new URL(u).origin, ORIGIN, u);
  });
});
