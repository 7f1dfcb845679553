// `cargo xtask soak` (#23): the full-size scenarios against a started stack, with the figures
// written into RELIABILITY.md (between its "soak figures" markers). Loopback only; every loop is
// bounded in count and time.
//
// 1. Load: ATELIER_SOAK_JOBS (1000) background-remove predictions on small images through
//    /v1/run from ATELIER_SOAK_CLIENTS (32) clients; all terminal, outputs there, credits exact.
//    The stack runs two nodes (ATELIER_NODES), each restarted by xtask when it dies; the one
//    holding the most jobs is SIGKILLed when a quarter, half and three quarters of the jobs have
//    ended: its jobs are recovered as lost (JOB_STALE_SECS, ATELIER_STALE_SECS) and run again.
// 2. Throughput: GET /v1/status/<id> and POST /api/quote from 64 connections for
//    ATELIER_SOAK_SECS (30) s each, against a trivial Worker (a JS `fetch` returning "ok") on
//    its own `wrangler dev` on this machine, as a ratio.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE, apiClient, createKey, uniqueEmail } from '../lib/helpers.mjs';
import { cpuSeconds, loadRun, missingOutputs, percentiles } from '../lib/load.mjs';
import { killBusiest, nodes } from '../lib/nodes.mjs';

const JOBS = Number(process.env.ATELIER_SOAK_JOBS ?? 1000);
const CLIENTS = Number(process.env.ATELIER_SOAK_CLIENTS ?? 32);
const SECS = Number(process.env.ATELIER_SOAK_SECS ?? 30);
const POLL_MS = Number(process.env.ATELIER_SOAK_POLL_MS ?? 1000);
const OUT = process.env.ATELIER_SOAK_OUT ?? 'RELIABILITY.md';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function workerdPids() {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('workerd'); } catch { return false; }
  }).map(Number);
}
const cpuOf = (pids) => pids.reduce((s, p) => s + (cpuSeconds(p) ?? 0), 0);

/** `conns` loops sending `make()` for `secs` seconds: requests/s, latency percentiles, errors. */
async function hammer(url, make, conns, secs) {
  const lat = [];
  let errors = 0, non2xx = 0;
  const end = Date.now() + secs * 1000;
  await Promise.all(Array.from({ length: conns }, async () => {
    while (Date.now() < end) {
      const t = performance.now();
      try {
        const r = await fetch(url, make());
        await r.arrayBuffer();
        if (r.status >= 300) non2xx++;
      } catch { errors++; }
      lat.push(performance.now() - t);
    }
  }));
  const p = percentiles(lat);
  return { requests: lat.length, perS: lat.length / secs, p50: p.p50, p99: p.p99, errors, non2xx };
}

async function trivialWorker(port) {
  const dir = mkdtempSync(join(tmpdir(), 'trivial-'));
  writeFileSync(join(dir, 'index.mjs'), 'export default { fetch() { return new Response("ok"); } };\n');
  const child = spawn('npx', ['wrangler', 'dev', join(dir, 'index.mjs'), '--ip', '127.0.0.1', '--port', String(port),
    '--compatibility-date', '2025-01-01', '--persist-to', join(dir, 'state'), '--inspector-port', String(port + 1)],
  { stdio: 'ignore', detached: true });
  for (let i = 0; i < 120; i++) {
    try { if ((await fetch(`http://127.0.0.1:${port}/`)).ok) return child; } catch { /* starting */ }
    await sleep(500);
  }
  throw new Error('the trivial Worker did not start');
}

const fmt = (x, d = 0) => (x === null || x === undefined ? '—' : Number(x).toFixed(d));

async function main() {
  const commit = process.env.ATELIER_COMMIT ?? 'unknown';
  const started = new Date().toISOString();
  const stackWorkerd = workerdPids();

  // 1. Load.
  const key = await createKey(uniqueEmail('soak'), JOBS + 100, 100);
  const api = apiClient(() => key);
  const before = (await api.call('GET', '/v1/credits')).body.credits.total;
  const cpu0 = cpuOf(stackWorkerd);
  const kills = [];
  let killing = Promise.resolve();
  const onResult = (n) => {
    // One kill at each quarter, one at a time, while two nodes run.
    if (nodes.length > 1 && kills.length < 3 && n >= (JOBS * (kills.length + 1)) / 4) {
      const k = { at: n };
      kills.push(k);
      killing = killing.then(async () => Object.assign(k, await killBusiest()));
    }
  };
  const load = await loadRun({ key, jobs: JOBS, clients: CLIENTS, pollMs: POLL_MS, onResult });
  await killing;
  const cpu1 = cpuOf(stackWorkerd);
  const staleMs = Number(process.env.ATELIER_STALE_SECS ?? 600) * 1000;
  const resent = load.results.filter((r) => r.totalMs > staleMs).length;
  const missing = await missingOutputs(load.results);
  const after = (await api.call('GET', '/v1/credits')).body.credits.total;
  const completed = load.counts.completed ?? 0;
  const terminal = load.results.filter((r) => ['completed', 'failed', 'canceled', 'time_out'].includes(r.status)).length;
  const ledgerOk = before === after + completed;
  console.log(JSON.stringify({ counts: load.counts, queue: load.queue, total: load.total, stats: { ...load.stats, submitErrors: load.stats.submitErrors.slice(0, 5) } }));

  // 2. Throughput at 64 connections against a trivial Worker.
  const anId = load.results.find((r) => r.id)?.id;
  const status = await hammer(`${BASE}/v1/status/${anId}`, () => ({ headers: { authorization: `Bearer ${key}` } }), 64, SECS);
  const quoteBody = JSON.stringify({ surface: 'api', model_name: 'tryon-max', inputs: { model_image: 'http://127.0.0.1/m.jpg', product_image: 'http://127.0.0.1/p.jpg', resolution: '2k', num_images: 2 } });
  const quote = await hammer(`${BASE}/api/quote`, () => ({ method: 'POST', body: quoteBody, headers: { 'content-type': 'application/json' } }), 64, SECS);
  const trivial = await trivialWorker(38797);
  let base;
  try {
    base = await hammer('http://127.0.0.1:38797/', () => ({}), 64, SECS);
  } finally {
    try { process.kill(-trivial.pid, 'SIGTERM'); } catch { /* gone */ }
  }

  const ok = terminal === JOBS && missing.length === 0 && ledgerOk && load.stats.submitErrors.length === 0
    && (nodes.length < 2 || kills.length === 3);
  const lines = [
    `<!-- soak figures: written by \`cargo xtask soak\`; do not edit by hand -->`,
    `Run ${started} on commit \`${commit}\`, this machine (2 cores, no GPU), the test stack (\`wrangler dev\` + ${nodes.length || 1} CPU node${nodes.length > 1 ? 's, each restarted when it dies' : ''}; \`JOB_STALE_SECS\` ${staleMs / 1000}), by \`cargo xtask soak\`.`,
    '',
    `**Load** — ${JOBS} background-remove predictions (${48}×${48} PNG data URIs, each a different gray) through \`/v1/run\` from ${CLIENTS} concurrent clients, each polling \`/v1/status\` every ${POLL_MS} ms and obeying 429 \`Retry-After\`.`,
    '',
    '| what | figure |',
    '|---|---|',
    `| terminal / submitted | ${terminal} / ${JOBS} (${Object.entries(load.counts).map(([k, v]) => `${v} ${k}`).join(', ')}) |`,
    `| completed without a fetchable output | ${missing.length} |`,
    `| credits: granted − balance = completed? | ${before} − ${after} = ${before - after}; completed ${completed}: ${ledgerOk ? 'exact' : '**MISMATCH**'} |`,
    `| wall time, throughput | ${fmt(load.wallMs / 1000, 1)} s, ${fmt(load.throughputPerS, 2)} predictions/s |`,
    `| queue time (submit → first seen processing) p50 / p95 / p99 | ${fmt(load.queue.p50)} / ${fmt(load.queue.p95)} / ${fmt(load.queue.p99)} ms |`,
    `| submit → result p50 / p95 / p99 | ${fmt(load.total.p50)} / ${fmt(load.total.p95)} / ${fmt(load.total.p99)} ms |`,
    `| API requests, 429s obeyed, dropped connections | ${load.stats.requests}, ${load.stats.throttled}, ${load.stats.connectionErrors} |`,
    `| edge CPU per API request (workerd's user+system time ÷ requests) | ${fmt(((cpu1 - cpu0) * 1000) / load.stats.requests, 2)} ms |`,
    `| node SIGKILLs during the load (the busiest node, at each quarter of the jobs ended) | ${kills.length}: ${kills.map((k) => `after ${k.at} ended, holding ${k.holding}, back in ${fmt(k.restartMs)} ms`).join('; ') || '—'} |`,
    `| predictions that took longer than \`JOB_STALE_SECS\` (recovered as lost, sent again) | ${resent} |`,
    '',
    `**Throughput** — 64 connections for ${SECS} s each, then the same against a trivial Worker (\`fetch() { return new Response("ok") }\`, its own \`wrangler dev\`) on this machine.`,
    '',
    '| route | requests/s | p50 | p99 | errors | non-2xx | ÷ trivial (requests/s) |',
    '|---|---|---|---|---|---|---|',
    ...[['GET /v1/status/{id}', status], ['POST /api/quote', quote], ['trivial Worker', base]].map(([n, r]) =>
      `| ${n} | ${fmt(r.perS)} | ${fmt(r.p50, 1)} ms | ${fmt(r.p99, 1)} ms | ${r.errors} | ${r.non2xx} | ${fmt(r.perS / base.perS, 2)} |`),
    '',
    `Result: ${ok ? 'nothing lost, nothing charged twice' : '**FAILED** — see above'}.`,
    `<!-- end of soak figures -->`,
  ];
  const text = (() => { try { return readFileSync(OUT, 'utf8'); } catch { return ''; } })();
  const a = text.indexOf('<!-- soak figures');
  const b = text.indexOf('<!-- end of soak figures -->');
  const next = a >= 0 && b > a
    ? text.slice(0, a) + lines.join('\n') + text.slice(b + '<!-- end of soak figures -->'.length)
    : `${text}\n${lines.join('\n')}\n`;
  writeFileSync(OUT, next);
  console.log(lines.join('\n'));
  if (!ok) process.exit(1);
}

main().catch((e) => { console.error(e); process.exit(1); });
