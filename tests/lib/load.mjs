// A load run through the Developer API (#23, "Load, with nothing lost"): `jobs` background-remove
// predictions on small images from `clients` concurrent clients, each submitting, then polling
// its prediction to a terminal state (obeying 429 Retry-After, as the SDKs do). Returns what
// happened to every job and the timings; the caller asserts (tests/load.test.mjs, small) or
// writes the figures down (`cargo xtask soak`, full size). Loopback only.
import { readFileSync } from 'node:fs';
import { BASE, flatPng } from './helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Percentiles (nearest rank) of a list of numbers, in the list's unit. */
export function percentiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p) => (s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : null);
  return { n: s.length, p50: at(50), p95: at(95), p99: at(99), max: s.length ? s[s.length - 1] : null };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
  } catch {
    return null;
  }
}

async function call(key, method, path, body, stats) {
  for (let attempt = 0; ; attempt++) {
    stats.requests++;
    let r;
    try {
      r = await fetch(BASE + path, {
        method,
        body: body && JSON.stringify(body),
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      });
    } catch (e) {
      // A dropped connection: counted, and an idempotent read is tried again.
      stats.connectionErrors++;
      if (method === 'GET' && attempt < 5) { await sleep(200); continue; }
      throw e;
    }
    if (r.status === 429) {
      stats.throttled++;
      await sleep(Math.min(5, Number(r.headers.get('retry-after') ?? 1)) * 1000);
      continue;
    }
    return { status: r.status, body: await r.json() };
  }
}

/**
 * Runs the load. `key` must hold at least `jobs` API credits and raised rate limits.
 * `onResult(n)` is called each time a job ends, with how many have.
 * Every job ends in `results` with its id, final status, output and timings (ms).
 */
export async function loadRun({ key, jobs, clients, size = 48, pollMs = 250, deadlineMs = 30 * 60 * 1000, onResult = () => {} }) {
  const stats = { requests: 0, throttled: 0, connectionErrors: 0, submitErrors: [] };
  const results = [];
  // `onResult(n)` hears how many jobs have ended, after each one.
  const ended = results.push.bind(results);
  results.push = (r) => { const n = ended(r); onResult(n); return n; };
  let next = 0;
  const t0 = Date.now();
  const one = async (i) => {
    // Each image differs a little, so none is served from a cache of another's result.
    const image = `data:image/png;base64,${flatPng(size, size, 40 + (i % 180)).toString('base64')}`;
    const submitted = Date.now();
    const run = await call(key, 'POST', '/v1/run', { model_name: 'background-remove', inputs: { image } }, stats);
    if (run.status !== 200) {
      stats.submitErrors.push(`${run.status} ${JSON.stringify(run.body)}`);
      results.push({ i, id: null, status: `submit ${run.status}`, body: run.body });
      return;
    }
    const id = run.body.id;
    let started = null;
    for (;;) {
      if (Date.now() - submitted > deadlineMs) {
        results.push({ i, id, status: 'no terminal state before the deadline' });
        return;
      }
      const s = await call(key, 'GET', `/v1/status/${id}`, null, stats);
      const st = s.body.status;
      if (st === 'processing' && started === null) started = Date.now();
      if (!['starting', 'in_queue', 'processing'].includes(st)) {
        const done = Date.now();
        results.push({
          i, id, status: st, output: s.body.output ?? [], error: s.body.error ?? null,
          queueMs: (started ?? done) - submitted, totalMs: done - submitted,
        });
        return;
      }
      await sleep(pollMs);
    }
  };
  const worker = async () => {
    while (next < jobs) await one(next++);
  };
  await Promise.all(Array.from({ length: clients }, worker));
  const wallMs = Date.now() - t0;
  const completed = results.filter((r) => r.status === 'completed');
  return {
    results,
    stats,
    wallMs,
    throughputPerS: completed.length / (wallMs / 1000),
    queue: percentiles(completed.map((r) => r.queueMs)),
    total: percentiles(completed.map((r) => r.totalMs)),
    counts: results.reduce((m, r) => ({ ...m, [r.status]: (m[r.status] ?? 0) + 1 }), {}),
  };
}

/** Fetches every completed job's outputs; returns the ones that did not come back as an image. */
export async function missingOutputs(results, concurrency = 8) {
  const bad = [];
  const todo = results.filter((r) => r.status === 'completed');
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < todo.length) {
      const r = todo[next++];
      if (!r.output.length) { bad.push(`${r.id}: completed with no output`); continue; }
      for (const url of r.output) {
        const u = new URL(url);
        const res = await fetch(BASE + u.pathname + u.search);
        const type = res.headers.get('content-type') ?? '';
        const bytes = Buffer.from(await res.arrayBuffer());
        if (res.status !== 200 || !type.startsWith('image/') || bytes.length < 8) bad.push(`${r.id}: ${url} → ${res.status} ${type} ${bytes.length} bytes`);
      }
    }
  }));
  return bad;
}
