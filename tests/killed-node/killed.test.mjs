// Inference nodes are killed (SIGKILL, no goodbye) in the middle of jobs. The stack runs two nodes
// behind the edge (`INFERENCE_URL` lists both), each restarted when it dies, as a cluster's
// orchestrator would. A job without news for JOB_STALE_SECS (ATELIER_STALE_SECS here, 10 minutes
// by default) is lost: the edge sends it again, to a node that runs it, so it finishes there, charged
// once; after three dispatches it would time out instead, its hold released.
// Runs with ATELIER_NODES = "url=pidfile,url=pidfile" (set by `cargo xtask test`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, apiClient, createKey, fixture, uniqueEmail } from '../lib/helpers.mjs';
import { loadRun, missingOutputs } from '../lib/load.mjs';
import { killAndAwaitRestart, killBusiest, nodes, running } from '../lib/nodes.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const staleMs = Number(process.env.ATELIER_STALE_SECS ?? 0) * 1000;

test('the stack runs two nodes, each restarted by its supervisor', async () => {
  assert.equal(nodes.length, 2, 'ATELIER_NODES lists two nodes (set by cargo xtask test)');
  assert.ok(staleMs >= 5000, 'ATELIER_STALE_SECS is set');
  for (const n of nodes) assert.equal(await running(n), 0, `${n.url} answers and is idle`);
});

test('a job whose node is killed mid-run is sent again and finishes on a node, charged once', async () => {
  const c = await new Client().signUp();
  const credits = async () => (await (await c.req('GET', '/api/me')).json()).credits;
  const before = await credits();
  const a = await c.upload(fixture('model-photo-512.jpg'), 'image/jpeg');
  const r = await c.json('POST', '/api/generations', { tool: 'upscale', inputs: { image: a.body.asset.hash }, params: { factor: '4x' } });
  assert.equal(r.status, 202);
  const id = (await r.json()).generation.id;
  assert.equal(await credits(), before - 1, 'held while it runs');
  // Find the node running it as soon as it reports the job running, and kill that one.
  let victim = null;
  for (let i = 0; !victim; i++) {
    const g = await c.generation(id);
    assert.ok(!['completed', 'failed'].includes(g.status) && i < 400, `the job ended before the kill: ${g.status}`);
    if (g.status === 'processing') {
      for (const n of nodes) if ((await running(n)) > 0) victim = n;
    }
    if (!victim) await sleep(25);
  }
  const killedAt = Date.now();
  const restartMs = await killAndAwaitRestart(victim);
  let g;
  for (;;) {
    g = await c.generation(id);
    if (['completed', 'failed', 'canceled', 'time_out'].includes(g.status)) break;
    assert.ok(Date.now() - killedAt < staleMs + 90000, `still ${g.status} long after the kill`);
    await sleep(300);
  }
  console.log(`killed ${victim.url} (back in ${restartMs} ms); the job ended ${g.status} ${Date.now() - killedAt} ms after the kill`);
  assert.equal(g.status, 'completed', JSON.stringify(g.error));
  assert.ok(Date.now() - killedAt >= staleMs - 1000, 'it was sent again once it counted as lost, not before');
  assert.equal(g.outputs.length, 1);
  assert.equal((await c.req('GET', g.outputs[0].url)).status, 200, 'its output is stored');
  assert.equal(g.credits_used, 1);
  assert.equal(await credits(), before - 1, 'charged once');
  assert.equal((await c.req('GET', '/api/me')).status, 200, 'the edge keeps serving');
});

test('three node deaths during a load of API predictions: every one ends, none charged twice', async () => {
  const jobs = 30;
  const granted = jobs + 10;
  const key = await createKey(uniqueEmail('node-faults'), granted, 10);
  // 256 px images, so that each node holds jobs when it is killed.
  const load = loadRun({ key, jobs, clients: 6, size: 256, pollMs: 250, deadlineMs: 5 * 60 * 1000 });
  let done = false;
  load.finally(() => { done = true; });
  const kills = [];
  for (let k = 0; k < 3 && !done; k++) {
    await sleep(k === 0 ? 1500 : 1000);
    kills.push(await killBusiest());
  }
  const run = await load;
  console.log(`node faults: ${JSON.stringify({ kills, counts: run.counts, wallMs: run.wallMs, total: run.total })}`);
  assert.equal(kills.length, 3, 'three kills happened during the load');
  assert.ok(kills.some((k) => k.holding > 0), `a node was killed while holding jobs: ${JSON.stringify(kills)}`);
  assert.deepEqual(run.stats.submitErrors, [], 'every submission accepted');
  const stuck = run.results.filter((r) => !['completed', 'failed', 'time_out'].includes(r.status));
  assert.deepEqual(stuck, [], 'every prediction reached a terminal state');
  // A job is sent at most three times: one hit by every kill may end, clearly, uncharged.
  for (const r of run.results.filter((x) => x.status !== 'completed')) assert.match(r.error?.message ?? '', /Nothing was charged/);
  assert.ok(run.counts.completed >= jobs - 3, `nearly all complete: ${JSON.stringify(run.counts)}`);
  assert.deepEqual(await missingOutputs(run.results), [], 'every completed prediction has its output');
  const credits = (await apiClient(() => key).call('GET', '/v1/credits')).body.credits.total;
  assert.equal(credits, granted - run.counts.completed, 'granted = balance + spent: nothing charged twice, nothing for a failure');
});
