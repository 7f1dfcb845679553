// The Studio's first load (HTML + CSS + JS + its snippets + wasm, as served, brotli quality 11) stays at or under
// 400 KB (#5). Sizes are written to test-artifacts/first-load.json for the closing note.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants } from 'node:zlib';
import { BASE, ARTIFACTS } from './lib/helpers.mjs';

const LIMIT = 400 * 1000;

test('first load of the Studio route is at most 400 KB brotli', async () => {
  const html = await (await fetch(`${BASE}/`)).text();
  const urls = ['/', ...new Set([...html.matchAll(/(?:href|module_or_path:)\s*=?\s*["']?(\/app-[^"' ]+\.(?:css|js|wasm))/g)].map((m) => m[1]))];
  assert.ok(urls.some((u) => u.endsWith('.wasm')) && urls.some((u) => u.endsWith('.js')) && urls.some((u) => u.endsWith('.css')), urls.join(' '));
  const sizes = {};
  for (let i = 0; i < urls.length; i++) {
    const u = urls[i];
    const r = await fetch(BASE + u);
    assert.equal(r.status, 200, u);
    const raw = Buffer.from(await r.arrayBuffer());
    // The JS glue's static imports (wasm-bindgen snippets) load with it.
    if (u.endsWith('.js')) {
      for (const m of raw.toString().matchAll(/from\s*['"]\.\/(snippets\/[^'"]+\.js)['"]/g)) {
        if (!urls.includes('/' + m[1])) urls.push('/' + m[1]);
      }
    }
    sizes[u] = { raw: raw.length, brotli: brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length };
  }
  const total = Object.values(sizes).reduce((a, s) => a + s.brotli, 0);
  writeFileSync(join(ARTIFACTS, 'first-load.json'), JSON.stringify({ total_brotli: total, limit: LIMIT, sizes }, null, 2));
  console.log(`first load: ${total} bytes brotli (limit ${LIMIT})`);
  assert.ok(total <= LIMIT, `first load ${total} bytes brotli > ${LIMIT}`);
});
