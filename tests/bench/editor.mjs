// Benchmark of the image editor (#19) in headless Chromium: the time each frame takes while a crop
// handle is dragged and while a line is drawn, on a 4096 × 4096 image, on WebGL2 and WebGPU
// (both through SwiftShader here: the GPU is the CPU). A frame's time is what the editor spends
// in it — the model update's redraw of the annotation layer, recording and submitting the
// composite pass, placing the crop frame — measured by the editor itself (`debug().frameMs`).
// Goal: median ≤ 8 ms (120 Hz iPads). Also prints the editor module's size (brotli, q11).
//
// Needs `dist/editor/` (cargo xtask build). Serves dist/ itself on a loopback port.
//   node tests/bench/editor.mjs
import http from 'node:http';
import { readFileSync, readdirSync, statSync, mkdtempSync, rmSync } from 'node:fs';
import { join, extname } from 'node:path';
import { tmpdir } from 'node:os';
import { brotliCompressSync, constants } from 'node:zlib';
import { chromium } from 'playwright-core';

const ROOT = new URL('../..', import.meta.url).pathname;
const DIST = join(ROOT, 'dist');
const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.jpg': 'image/jpeg' };
const HARNESS = `<!doctype html><html><head><meta charset="utf-8"><style>html,body{margin:0;height:100%}#host{position:fixed;inset:0}</style></head>
<body><div id="host"></div><script type="module">
const ed = await import('/editor/editor.js'); await ed.default(); window.ed = ed;
const img = new Image(); img.src = '/photo.jpg'; await img.decode();
const c = document.createElement('canvas'); c.width = 4096; c.height = 4096;
c.getContext('2d').drawImage(img, 0, 0, 4096, 4096);
const src = URL.createObjectURL(await new Promise((r) => c.toBlob(r, 'image/png')));
window.result = ed.edit(document.getElementById('host'), src);
</script></body></html>`;

const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  if (path === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(HARNESS);
  if (path === '/photo.jpg') return res.writeHead(200, { 'content-type': 'image/jpeg' }).end(readFileSync(join(ROOT, 'tests/fixtures/model-photo-512.jpg')));
  try {
    const body = readFileSync(join(DIST, path.replace(/\.\./g, '')));
    res.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' }).end(body);
  } catch { res.writeHead(404).end(); }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${server.address().port}`;

const BASE_FLAGS = ['--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--enable-unsafe-swiftshader'];
const BACKENDS = {
  WebGL2: [...BASE_FLAGS, '--disable-gpu'],
  WebGPU: [...BASE_FLAGS, '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=swiftshader'],
};

const stats = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const at = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { frames: s.length, median: +at(0.5).toFixed(2), p95: +at(0.95).toFixed(2) };
};

function moduleSize() {
  const dir = join(DIST, 'editor');
  let raw = 0, br = 0;
  const walk = (d) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) { walk(p); continue; }
      const b = readFileSync(p);
      raw += b.length;
      br += brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length;
    }
  };
  walk(dir);
  return { raw, brotli: br };
}

const results = { module: moduleSize() };
for (const [name, flags] of Object.entries(BACKENDS)) {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-editor-bench-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: flags, viewport: { width: 1280, height: 860 },
  });
  try {
    const page = ctx.pages()[0] ?? await ctx.newPage();
    await page.goto(base);
    await page.locator('[data-testid=ed-root][data-backend]').waitFor({ timeout: 120000 });
    const backend = await page.getAttribute('[data-testid=ed-root]', 'data-backend');
    const frameTimes = () => page.evaluate(() => Array.from(window.ed.debug().frameMs));
    await page.waitForTimeout(300);
    // Dragging the bottom-right handle in and out.
    const h = await page.getByTestId('ed-handle-bottom-right').boundingBox();
    const [x, y] = [h.x + h.width / 2, h.y + h.height / 2];
    await page.evaluate(() => window.ed.reset_frames());
    await page.mouse.move(x, y);
    await page.mouse.down();
    for (let i = 0; i < 150; i++) {
      const t = Math.sin(i / 12) * 120;
      await page.mouse.move(x - 130 + t, y - 130 + t);
      await page.evaluate(() => new Promise(requestAnimationFrame));
    }
    await page.mouse.up();
    const crop = stats(await frameTimes());
    // Drawing a long line in Annotate.
    await page.getByTestId('ed-mode-annotate').click();
    const st = await page.getByTestId('ed-stage').boundingBox();
    await page.waitForTimeout(200);
    await page.evaluate(() => window.ed.reset_frames());
    await page.mouse.move(st.x + st.width * 0.2, st.y + st.height * 0.5);
    await page.mouse.down();
    for (let i = 0; i < 150; i++) {
      await page.mouse.move(st.x + st.width * (0.2 + i * 0.004), st.y + st.height * (0.5 + Math.sin(i / 8) * 0.2));
      await page.evaluate(() => new Promise(requestAnimationFrame));
    }
    await page.mouse.up();
    const draw = stats(await frameTimes());
    results[name] = { backend, crop_drag_ms: crop, drawing_ms: draw };
  } finally {
    await ctx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
server.close();
console.log(JSON.stringify(results, null, 2));
for (const name of Object.keys(BACKENDS)) {
  const r = results[name];
  console.log(`editor ${name}: crop drag median ${r.crop_drag_ms.median} ms p95 ${r.crop_drag_ms.p95} ms; drawing median ${r.drawing_ms.median} ms p95 ${r.drawing_ms.p95} ms (4096², goal median ≤ 8 ms)`);
}
console.log(`editor module: ${results.module.raw} B raw, ${results.module.brotli} B brotli q11 (goal ≤ 650 KB = 665,600 B)`);
