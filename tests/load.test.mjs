// The small version of the soak's load (#23; the full one is `cargo xtask soak`, figures in
// RELIABILITY.md): 40 background-remove predictions from 8 concurrent API clients. Every one
// reaches a terminal state, every completed one has its output, and the credits add up exactly:
// granted = balance + one per completed prediction (nothing charged for a failure, nothing twice).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiClient, createKey, uniqueEmail } from './lib/helpers.mjs';
import { loadRun, missingOutputs } from './lib/load.mjs';

test('40 predictions from 8 clients: all terminal, outputs there, credits exact', async () => {
  const granted = 60;
  const key = await createKey(uniqueEmail('load'), granted, 10);
  const run = await loadRun({ key, jobs: 40, clients: 8 });
  console.log(`load: ${JSON.stringify({ counts: run.counts, wallMs: run.wallMs, perS: run.throughputPerS.toFixed(2), queue: run.queue, total: run.total, stats: { ...run.stats, submitErrors: run.stats.submitErrors.length } })}`);
  assert.deepEqual(run.stats.submitErrors, [], 'every submission accepted');
  assert.equal(run.results.length, 40);
  const stuck = run.results.filter((r) => !['completed', 'failed', 'canceled'].includes(r.status));
  assert.deepEqual(stuck, [], 'every prediction reached a terminal state');
  assert.equal(run.counts.completed, 40, `small plain images all complete: ${JSON.stringify(run.counts)}`);
  assert.deepEqual(await missingOutputs(run.results), [], 'every completed prediction has its output');
  const credits = (await apiClient(() => key).call('GET', '/v1/credits')).body.credits.total;
  assert.equal(credits, granted - run.counts.completed, 'granted = balance + spent');
});
