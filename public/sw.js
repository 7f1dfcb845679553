// Atelier's service worker: the app shell works offline and starts fast once installed.
// - Pages (navigations): network first, so a deploy shows at once; offline, the cached shell.
// - Trunk's hashed files (app-<hash>.js/.wasm/.css), the pages split out of the app's wasm
//   (/split___*-<hash>.wasm, /chunk_*-<hash>.wasm, hashed by app/wasm-split-hook.sh) and the
//   icons/manifest: cache first (a new build has new names, so nothing stale is served).
// - The editor module (/editor/) and /__wasm_split.js (which names the split pages of its
//   build): network first, so a deploy never pairs a new app with an old page.
// - The API (/api/, /v1/) and anything cross-origin: never cached, always the network.
const CACHE = 'atelier-shell-v2';

self.addEventListener('install', () => self.skipWaiting());

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) if (key !== CACHE) await caches.delete(key);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  const url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/') || url.pathname.startsWith('/v1/')) return;
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
        return (await cache.match('/')) ?? Response.error();
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
