// The stack was stopped (`wrangler dev` and the node) moments after 16 API predictions were
// submitted (tests/after-restart/queue-before-restart.mjs): some were queued, some on the node.
// After the restart none is lost: a prediction without news for JOB_STALE_SECS is sent again
// when it is read (or by the cron's sweep), so every one completes, charged exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { apiClient } from '../lib/helpers.mjs';
import { missingOutputs } from '../lib/load.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('predictions in flight when the stack stopped all complete after the restart, charged once', async () => {
  const { key, granted, ids } = JSON.parse(readFileSync(join(dirname(process.env.ATELIER_TEST_STATE), 'queued.json'), 'utf8'));
  const api = apiClient(() => key);
  const t = Date.now();
  const results = [];
  const seen = new Set();
  for (const id of ids) {
    for (;;) {
      const s = await api.call('GET', `/v1/status/${id}`);
      assert.equal(s.status, 200, JSON.stringify(s.body));
      seen.add(s.body.status);
      if (!['starting', 'in_queue', 'processing'].includes(s.body.status)) {
        results.push({ id, status: s.body.status, output: s.body.output ?? [], error: s.body.error });
        break;
      }
      assert.ok(Date.now() - t < 120000, `${id} still ${s.body.status} two minutes after the restart`);
      await sleep(250);
    }
  }
  console.log(`after the restart: ${JSON.stringify(results.map((r) => r.status))} in ${Date.now() - t} ms`);
  assert.deepEqual(results.filter((r) => r.status !== 'completed'), [], 'every prediction completed');
  assert.deepEqual(await missingOutputs(results), [], 'every one has its output');
  const credits = (await api.call('GET', '/v1/credits')).body.credits.total;
  assert.equal(credits, granted - ids.length, 'each charged exactly once');
});
