// The edge's route table, read from the router's source (edge/src/lib.rs), so a sweep over
// "every route" cannot miss one added later: each `(Method::X, ["api", "generations", id, …])`
// arm becomes { method: 'GET', segs: ['api', 'generations', ':id', …] }.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function routes() {
  const src = readFileSync(join(here, '..', '..', 'edge', 'src', 'lib.rs'), 'utf8');
  const out = [];
  const arm = /\(Method::(Get|Post|Put|Patch|Delete)(?:\s*\|\s*Method::\w+)*,\s*\[([^\]]*)\]\)\s*=>/g;
  for (const m of src.matchAll(arm)) {
    const parts = m[2].split(',').map((s) => s.trim()).filter(Boolean);
    if (parts.includes('..')) continue; // a catch-all (`/api/blobs/..`, `/v1/..`), not one route
    const segs = parts.map((p) => (p.startsWith('"') ? p.slice(1, -1) : `:${p}`));
    out.push({ method: m[1].toUpperCase(), segs, path: '/' + segs.join('/') });
  }
  return out;
}

/** Whether a concrete `path` (ids filled in) is an instance of the route's pattern. */
export function matches(route, method, path) {
  if (route.method !== method) return false;
  const segs = path.split('?')[0].replace(/^\//, '').split('/');
  return segs.length === route.segs.length && route.segs.every((s, i) => s.startsWith(':') || s === segs[i]);
}
