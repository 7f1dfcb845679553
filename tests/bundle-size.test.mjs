// The Studio's first load (HTML + CSS + JS + its snippets + wasm): measured twice — brotli quality
// 11 of each file, and the bytes the running instance actually sends when the browser asks for
// `Accept-Encoding: br` — and kept at or under LIMIT / SERVED_LIMIT. #14 added the router, the
// shell and the typed views and built the app with its own `wasm-release` profile (every crate
// size-optimised, one LTO unit): ~357 KB q11 before, ~356 KB after; #14's target of 250 KB needs
// the secondary screens and pages split out of the first load. #17's Gallery page costs ~75 KB
// (436 KB q11 with it); building the app with `--cfg erase_components` (Leptos' type-erased
// views) took 65 KB back: 380 KB q11, 438 KB served. #18's Home and AI Assistant (the landing
// page, its chat, inline results) cost ~27 KB: 407 KB q11, 467 KB served. Then the Gallery and
// the Developer page became modules of their own (Leptos lazy routes, split after linking by
// app/wasm-split-hook.sh), fetched when first visited: 343 KB q11, 388 KB served (Home, where
// sign-in lands, stays in: 315 / 356 KB with it split out too, but a link followed while a lazy
// page loads shows that page). #16's profile menu (the organization switcher, Account, Help), the
// organization in the app state and the sign-in providers are on every page: +12 KB, 355 KB q11,
// 404 KB served (its Organizations, invite, Account and Help pages are lazy: 11–45 KB each).
// #20 minified the CSS and HTML (Trunk's `minify = "on_release"`: −1.2 KB) and added the
// new-version and offline bars as plain DOM in index.html (356.7 KB q11, 405.7 KB served); the
// Developer page's widget keys with their Edit form left +0.9 KB in the main module (wasm-split
// keeps code both sides reach there): 357.7 KB q11, 405.6 KB served.
// #14's target is 250 KB. Sizes go to test-artifacts/first-load.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'node:http';
import { brotliCompressSync, constants } from 'node:zlib';
import { BASE, ARTIFACTS } from './lib/helpers.mjs';

const LIMIT = 358 * 1000;
// wrangler dev compresses on the fly at a lower quality than 11.
const SERVED_LIMIT = 407 * 1000;

/** What the server sends for `path` with `Accept-Encoding: br`: the encoded bytes, not decoded. */
function served(path) {
  return new Promise((resolve, reject) => {
    const req = request(BASE + path, { headers: { 'accept-encoding': 'br' } }, (res) => {
      let n = 0;
      res.on('data', (c) => { n += c.length; });
      res.on('end', () => resolve({ status: res.statusCode, bytes: n, encoding: res.headers['content-encoding'] ?? 'identity' }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('first load of the Studio route: brotli q11 and as served, at most the limit', async () => {
  const html = await (await fetch(`${BASE}/studio/background-remove`)).text();
  const urls = ['/studio/background-remove', ...new Set([...html.matchAll(/(?:href|module_or_path:)\s*=?\s*["']?(\/app-[^"' ]+\.(?:css|js|wasm))/g)].map((m) => m[1]))];
  assert.ok(urls.some((u) => u.endsWith('.wasm')) && urls.some((u) => u.endsWith('.js')) && urls.some((u) => u.endsWith('.css')), urls.join(' '));
  const sizes = {};
  for (let i = 0; i < urls.length; i++) {
    const u = urls[i];
    const r = await fetch(BASE + u);
    assert.equal(r.status, 200, u);
    const raw = Buffer.from(await r.arrayBuffer());
    // The JS glue's static imports (wasm-bindgen snippets, the split pages' loader) load with it.
    if (u.endsWith('.js')) {
      for (const m of raw.toString().matchAll(/from\s*['"]\.\/([^'"]+\.js)['"]/g)) {
        if (!urls.includes('/' + m[1])) urls.push('/' + m[1]);
      }
    }
    const s = await served(u);
    assert.equal(s.status, 200, u);
    sizes[u] = { raw: raw.length, brotli: brotliCompressSync(raw, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length, served: s.bytes, encoding: s.encoding };
  }
  const total = Object.values(sizes).reduce((a, s) => a + s.brotli, 0);
  const sent = Object.values(sizes).reduce((a, s) => a + s.served, 0);
  writeFileSync(join(ARTIFACTS, 'first-load.json'), JSON.stringify({ total_brotli: total, total_served: sent, limit: LIMIT, served_limit: SERVED_LIMIT, sizes }, null, 2));
  console.log(`first load: ${total} bytes brotli q11 (limit ${LIMIT}), ${sent} bytes as served (limit ${SERVED_LIMIT})`);
  assert.ok(total <= LIMIT, `first load ${total} bytes brotli > ${LIMIT}`);
  assert.ok(sent <= SERVED_LIMIT, `first load as served ${sent} bytes > ${SERVED_LIMIT}`);
  // The other pages are not in it: each is a module of its own, fetched when first visited.
  const split = readdirSync('dist').filter((f) => f.startsWith('split___'));
  for (const page of ['library', 'collections', 'developer', 'billing', 'organizations', 'invite', 'account', 'help']) {
    assert.ok(split.some((f) => f.startsWith(`split___${page}_route`)), `${page} is split out: ${split.join(' ')}`);
  }
  assert.ok(!urls.some((u) => u.includes('split___') || u.includes('/chunk_')), urls.join(' '));
  // Each split module has a content-hashed name (the service worker serves them cache-first),
  // and the loader names exactly those files.
  const modules = readdirSync('dist').filter((f) => /^(split___|chunk_).*\.wasm$/.test(f));
  const loader = readFileSync(join('dist', '__wasm_split.js'), 'utf8');
  const named = [...loader.matchAll(/"\.\/([^"]+\.wasm)"/g)].map((m) => m[1]).sort();
  assert.deepEqual(named, [...modules].sort(), 'the loader names every split module, and no other');
  for (const f of modules) {
    assert.match(f, /-[0-9a-f]{10}\.wasm$/, `${f} has a content hash in its name`);
    assert.equal(createHash('sha256').update(readFileSync(join('dist', f))).digest('hex').slice(0, 10), f.slice(-15, -5), `${f}: the hash is its content's`);
  }
  // Every route is served the same small shell (the app's HTML); the router picks the page.
  assert.equal((await (await fetch(`${BASE}/developer`)).text()), html, 'the same shell for every route');
});

// The image editor (#19, app/editor: wgpu with its WebGPU and WebGL2 backends) is a module of its
// own, fetched when the pencil is first clicked (e2e.test.mjs checks it is not fetched before).
// Goal ≤ 650 KB brotli; first build 659 KB (naga's WGSL front end, GLSL back end and validator,
// and wgpu-core for WebGL2, are nearly all of it). The limit catches growth.
const EDITOR_LIMIT = 672 * 1000;
test('the image editor module: what the first click on the pencil fetches, brotli q11', async () => {
  let raw = 0, br = 0;
  const files = {};
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) { walk(p); continue; }
      const b = readFileSync(p);
      const c = brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
      files[p] = { raw: b.length, brotli: c };
      raw += b.length; br += c;
    }
  };
  walk(join('dist', 'editor'));
  assert.ok(files[join('dist', 'editor', 'editor.js')] && files[join('dist', 'editor', 'editor_bg.wasm')], 'dist/editor has the module');
  try { writeFileSync(join(ARTIFACTS, 'editor-size.json'), JSON.stringify({ raw, brotli: br, files }, null, 2)); } catch { /* no artifacts dir */ }
  assert.ok(br <= EDITOR_LIMIT, `the editor is ${br} B brotli, over ${EDITOR_LIMIT}`);
  // Served as JavaScript and wasm (the Studio checks the type before importing).
  const js = await fetch(`${BASE}/editor/editor.js`, { method: 'HEAD' });
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type') ?? '', /javascript/);
});
