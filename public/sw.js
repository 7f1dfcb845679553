// Atelier's service worker: the app shell works offline and starts fast once installed.
// - Pages (navigations): network first, so a deploy shows at once; offline, the cached shell.
// - Trunk's hashed files (app-<hash>.js/.wasm/.css), the pages split out of the app's wasm
//   (/split___*-<hash>.wasm, /chunk_*-<hash>.wasm, hashed by app/wasm-split-hook.sh) and the
//   icons/manifest: cache first (a new build has new names, so nothing stale is served).
// - The editor module (/editor/) and /__wasm_split.js (which names the split pages of its
//   build): network first, so a deploy never pairs a new app with an old page.
// - The API (/api/, /v1/), the storefront widget (/embed/: its own pages, framed by shops) and
//   anything cross-origin: never cached, always the network.
// The cache is named after the build (app/wasm-split-hook.sh stamps it), so each deploy is a new
// worker that takes over at once and deletes the caches of earlier builds; the page then offers
// "A new version is available — Reload" (app/index.html).
const CACHE = 'atelier-shell-dev';

self.addEventListener('install', () => self.skipWaiting());

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key !== CACHE && key.startsWith('atelier-shell-')) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/v1/')) return;
  if (url.pathname.startsWith('/embed/')) return;
  // The editor module and the split pages' loader keep their names across builds: network first.
  const unhashed = url.pathname.startsWith('/editor/') || url.pathname === '/__wasm_split.js';
  if (unhashed) {
    event.respondWith((async () => {
      const cache = await caches.open(CACHE);
      try {
        const fresh = await fetch(req);
        if (fresh.ok) await cache.put(req, fresh.clone());
        return fresh;
      } catch {
        return (await cache.match(req)) ?? Response.error();
      }
    })());
    return;
  }
  if (req.mode === 'navigate') {
    event.respondWith((async () => {
      const cache = await caches.open(CACHE);
      try {
        const fresh = await fetch(req);
        if (fresh.ok) await cache.put('/', fresh.clone());
        return fresh;
      } catch {
        const cached = await cache.match('/');
        if (!cached) return Response.error();
        // Marked as the offline copy: the page then says what needs the network (index.html).
        const html = (await cached.text()).replace(/<html\b/i, '<html data-offline="1"');
        return new Response(html, { headers: cached.headers });
      }
    })());
    return;
  }
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(req);
    if (hit) return hit;
    const fresh = await fetch(req);
    if (fresh.ok) await cache.put(req, fresh.clone());
    return fresh;
  })());
});
