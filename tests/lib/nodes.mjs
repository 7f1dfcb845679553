// The test stack's inference nodes after the restart (`cargo xtask test`) or in the soak: two
// nodes, each restarted by xtask's supervisor when it dies. ATELIER_NODES = "url=pidfile,…".
import { readFileSync } from 'node:fs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export const nodes = (process.env.ATELIER_NODES ?? '').split(',').filter(Boolean).map((s) => {
  const [url, pidfile] = s.split('=');
  return { url, pidfile };
});

/** A node's current process id (its supervisor rewrites the file at every start). */
export const pid = (n) => Number(readFileSync(n.pidfile, 'utf8'));

/** How many jobs a node holds (running or waiting for a slot), or null when it does not answer. */
export async function running(n) {
  try {
    const r = await fetch(`${n.url}/v1/capabilities`, { signal: AbortSignal.timeout(2000) });
    return r.status === 200 ? (await r.json()).running : null;
  } catch {
    return null;
  }
}

/** SIGKILLs a node, then waits until its supervisor has it back (a new process, answering);
 * returns how long that took (ms). Throws after a minute. */
export async function killAndAwaitRestart(n) {
  const old = pid(n);
  process.kill(old, 'SIGKILL');
  const t = Date.now();
  for (;;) {
    let back = false;
    try { back = pid(n) !== old && (await running(n)) !== null; } catch { /* pidfile being written */ }
    if (back) return Date.now() - t;
    if (Date.now() - t > 60000) throw new Error(`${n.url} was not restarted within a minute`);
    await sleep(100);
  }
}

/** Kills the node holding the most jobs right now; returns what was killed and when it was back. */
export async function killBusiest() {
  const held = await Promise.all(nodes.map(running));
  const i = held.indexOf(Math.max(...held.map((h) => h ?? -1)));
  return { node: nodes[i].url, holding: held[i], restartMs: await killAndAwaitRestart(nodes[i]) };
}
