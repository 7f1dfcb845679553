// Background Remove latency on a 1024×1024 photo: from the start of the upload to the
// `completed` event on the page's WebSocket. Median of N runs (default 10) after one warm-up.
// Run with `cargo xtask bench` (it starts a fresh stack on loopback).
import WebSocket from 'ws';
import { BASE, SECRET, Client, fixture, signRequest } from '../lib/helpers.mjs';

const N = Number(process.env.BENCH_RUNS ?? 10);
const c = await new Client().signUp();
// Enough App credits for the runs (what `cargo xtask admin set-credits` does).
{
  const path = '/api/internal/admin/keys';
  const body = JSON.stringify({ email: c.email, app_credits: 1000, no_key: true });
  const ts = Math.floor(Date.now() / 1000);
  const r = await fetch(BASE + path, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-atelier-timestamp': String(ts), 'x-atelier-signature': signRequest(SECRET, 'POST', path, ts, body) } });
  if (r.status !== 200) throw new Error(`setting credits failed: ${r.status}`);
}
const ws = new WebSocket(BASE.replace('http', 'ws') + '/api/events', { headers: { cookie: c.cookie } });
await new Promise((res, rej) => { ws.on('open', res); ws.on('error', rej); });
const waiters = new Map();
ws.on('message', (m) => {
  const e = JSON.parse(m.toString());
  if (e.type === 'generation' && ['completed', 'failed'].includes(e.generation.status)) waiters.get(e.generation.id)?.(e.generation);
});
const base = fixture('model-photo-1024.jpg');

async function once(i) {
  // A distinct file each time (bytes after the end-of-image marker), so no upload is deduplicated.
  const body = Buffer.concat([base, Buffer.from(`run-${i}-${Date.now()}`)]);
  const t0 = performance.now();
  const a = await c.upload(body, 'image/jpeg');
  const r = await c.json('POST', '/api/generations', { tool: 'background-remove', inputs: { image: a.body.asset.hash } });
  const created = await r.json();
  if (!created.generation) throw new Error(`run ${i} was refused: ${JSON.stringify(created)}`);
  const g0 = created.generation;
  const g = await new Promise((res) => waiters.set(g0.id, res));
  if (g.status !== 'completed') throw new Error(`run ${i} failed: ${JSON.stringify(g.error)}`);
  return { total: performance.now() - t0, node: g.run_ms };
}

await once(-1);
const runs = [];
for (let i = 0; i < N; i++) runs.push(await once(i));
ws.close();
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const tot = runs.map((r) => r.total), node = runs.map((r) => r.node);
console.log(`background-remove 1024x1024 JPEG, ${N} runs: upload→completed event median ${median(tot).toFixed(0)} ms (min ${Math.min(...tot).toFixed(0)}, max ${Math.max(...tot).toFixed(0)}); node pipeline median ${median(node).toFixed(0)} ms; edge+queue+transfer overhead median ${(median(tot) - median(node)).toFixed(0)} ms`);
