// The built-in image editor (app/editor: wgpu on WebGL2 and WebGPU) in a real headless Chromium,
// loaded from the stack's /editor/editor.js the way the Studio loads it. The Studio's own use of
// it (pencil → edit → Done replaces the input) is in e2e.test.mjs.
//
// Golden images: a scripted edit (crop with a handle + straighten 7° + flip + two strokes) is
// exported by the GPU and compared with the editor's CPU renderer (`reference()`, the same model
// state computed pixel by pixel on the CPU: an independent implementation of the same maths), on
// both backends; on a 4096² photo the export has exactly the size the geometry gives.
import { test, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { BASE, ARTIFACTS, fixture, CHROMIUM_FLAGS, axeViolations } from './lib/helpers.mjs';

// WebGL2 through SwiftShader works with the usual flags; a WebGPU canvas needs Vulkan through
// SwiftShader and no --disable-gpu (shared/design/toolchain-notes.md).
const WEBGL = [...CHROMIUM_FLAGS, '--enable-unsafe-swiftshader'];
const WEBGPU = CHROMIUM_FLAGS.filter((f) => f !== '--disable-gpu').concat(['--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-angle=swiftshader']);
const NO_GPU = [...CHROMIUM_FLAGS, '--disable-webgl', '--disable-3d-apis'];

const PHOTO = fixture('model-photo-512.jpg');
const HARNESS = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Editor</title>
<style>html,body{margin:0;height:100%}#host{position:fixed;inset:0}</style></head>
<body><div id="host"></div><script type="module">
const ed = await import('/editor/editor.js');
await ed.default();
window.ed = ed;
const size = Number(new URLSearchParams(location.search).get('size') || 0);
let src = '/__editor-photo.jpg';
if (size) {
  // The photo drawn into a size × size canvas (a real photo's content at that size).
  const img = new Image(); img.src = src; await img.decode();
  const c = document.createElement('canvas'); c.width = size; c.height = size;
  c.getContext('2d').drawImage(img, 0, 0, size, size);
  src = URL.createObjectURL(await new Promise((r) => c.toBlob(r, 'image/png')));
}
window.result = ed.edit(document.getElementById('host'), src).then(async (b) => {
  if (!b) return null;
  const bmp = await createImageBitmap(b, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  const c = document.createElement('canvas'); c.width = bmp.width; c.height = bmp.height;
  const g = c.getContext('2d'); g.drawImage(bmp, 0, 0);
  window.out = g.getImageData(0, 0, bmp.width, bmp.height).data;
  return { type: b.type, width: bmp.width, height: bmp.height };
}, (e) => ({ error: String(e) }));
</script></body></html>`;

const browsers = [];
/** Closes the browsers opened so far (each test closes its own when it ends). */
async function closeAll() {
  for (const { b, dir } of browsers.splice(0)) {
    await b.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
}
after(closeAll);
afterEach(closeAll);

/** A fresh Chromium with `flags` on the harness page, the editor open on the photo. */
async function open(flags, { size = 0, touch = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'atelier-editor-'));
  const b = await chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', headless: true, args: flags,
    viewport: { width: 1100, height: 760 }, hasTouch: touch,
  });
  browsers.push({ b, dir });
  const page = b.pages()[0] ?? await b.newPage();
  const errors = [];
  const log = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.editorLog = log;
  await b.route('**/__editor-test*', (r) => r.fulfill({ contentType: 'text/html', body: HARNESS }));
  await b.route('**/__editor-photo.jpg', (r) => r.fulfill({ contentType: 'image/jpeg', body: PHOTO }));
  await page.goto(`${BASE}/__editor-test?size=${size}`);
  return { b, page, errors, tid: (id) => page.getByTestId(id) };
}

async function ready(page) {
  // Opened (a backend), or refused (the missing-WebGL panel): either way say what the page said.
  await page.locator('[data-testid=ed-root][data-backend], [data-testid=ed-missing]').first()
    .waitFor({ timeout: 90000 })
    .catch((e) => { throw new Error(`the editor did not open: ${e.message}\n${(page.editorLog ?? []).join('\n')}`); });
  const backend = await page.getAttribute('[data-testid=ed-root]', 'data-backend').catch(() => null);
  assert.ok(backend, `the editor found no GPU:\n${(page.editorLog ?? []).join('\n')}`);
  return backend;
}

/** Crop with the top-left handle, straighten 7°, flip, two strokes in two colours — by mouse. */
async function scriptedEdit(page, tid) {
  const h = await tid('ed-handle-top-left').boundingBox();
  await page.mouse.move(h.x + h.width / 2, h.y + h.height / 2);
  await page.mouse.down();
  await page.mouse.move(h.x + h.width / 2 + 60, h.y + h.height / 2 + 40, { steps: 6 });
  await page.mouse.up();
  await tid('ed-angle').fill('7');
  await tid('ed-angle').dispatchEvent('change');
  await tid('ed-flip-h').click();
  await tid('ed-mode-annotate').click();
  const st = await tid('ed-stage').boundingBox();
  for (const [y, color] of [[0.4, 0], [0.6, 3]]) {
    await page.click(`[data-act=color-${color}]`);
    await page.mouse.move(st.x + st.width * 0.35, st.y + st.height * y);
    await page.mouse.down();
    for (let i = 1; i <= 12; i++) await page.mouse.move(st.x + st.width * (0.35 + i * 0.025), st.y + st.height * (y + Math.sin(i) * 0.03));
    await page.mouse.up();
  }
}

/** Done, then the exported pixels against the CPU reference of the same state. */
async function doneAndCompare(page, tid) {
  const ref = await page.evaluate(() => {
    const r = window.ed.reference();
    window.refData = r.data;
    return { width: r.width, height: r.height };
  });
  await tid('ed-done').click();
  const out = await page.evaluate(() => window.result);
  assert.equal(out?.error, undefined, out?.error);
  assert.equal(out.type, 'image/png');
  assert.deepEqual([out.width, out.height], [ref.width, ref.height], 'the export has the model\'s size');
  const diff = await page.evaluate(() => {
    const a = window.out, b = window.refData;
    let sum = 0, over = 0, max = 0;
    for (let i = 0; i < a.length; i++) {
      const d = Math.abs(a[i] - b[i]);
      sum += d; if (d > 16) over++; if (d > max) max = d;
    }
    return { mean: sum / a.length, over: over / a.length, max, n: a.length };
  });
  return { out, ref, diff };
}

function report(name, value) {
  try { writeFileSync(join(ARTIFACTS, `editor-${name}.json`), JSON.stringify(value, null, 2)); } catch { /* no artifacts dir */ }
}

for (const [backend, flags] of [['WebGL2', WEBGL], ['WebGPU', WEBGPU]]) {
  test(`${backend}: a scripted edit exports what the CPU reference computes`, async () => {
    const { page, tid, errors } = await open(flags);
    assert.equal(await ready(page), backend);
    assert.equal(await tid('ed-size').textContent(), '512 × 768 px');
    await scriptedEdit(page, tid);
    const state = await page.evaluate(() => { const d = window.ed.debug(); return { angle: d.angle, strokes: d.strokes, width: d.width, height: d.height }; });
    assert.equal(state.angle, -7, 'flipped after straightening: the tilt is mirrored');
    assert.equal(state.strokes, 2);
    assert.ok(state.width < 512 && state.height < 768, 'cropped');
    await page.screenshot({ path: join(ARTIFACTS, `editor-${backend}.png`) }).catch(() => {});
    const { diff, out } = await doneAndCompare(page, tid);
    report(backend, { out, diff });
    // Bilinear filtering in the GPU's fixed point and triangle edges give small differences.
    assert.ok(diff.mean < 0.5, `mean difference ${diff.mean}`);
    assert.ok(diff.over < 0.002, `share of values off by more than 16: ${diff.over}`);
    assert.deepEqual(errors, []);
  });
}

test('every annotation tool (pen, arrow, ellipse, eraser) and the scale export as the reference says', async () => {
  const { page, tid, errors } = await open(WEBGL);
  await ready(page);
  await tid('ed-scale').fill('50');
  await tid('ed-scale').dispatchEvent('change');
  assert.equal(await tid('ed-size').textContent(), '256 × 384 px');
  await tid('ed-mode-annotate').click();
  const st = await tid('ed-stage').boundingBox();
  const drag = async (from, to, steps = 8) => {
    await page.mouse.move(st.x + st.width * from[0], st.y + st.height * from[1]);
    await page.mouse.down();
    await page.mouse.move(st.x + st.width * to[0], st.y + st.height * to[1], { steps });
    await page.mouse.up();
  };
  await tid('ed-tool-pen').click();
  await page.click('[data-act=color-2]');
  await drag([0.4, 0.3], [0.6, 0.3]);
  await tid('ed-tool-arrow').click();
  assert.equal(await tid('ed-tool-arrow').getAttribute('aria-pressed'), 'true');
  await page.click('[data-act=color-0]');
  await drag([0.42, 0.7], [0.55, 0.5]);
  await tid('ed-tool-ellipse').click();
  await page.click('[data-act=color-1]');
  await drag([0.45, 0.4], [0.58, 0.6]);
  await tid('ed-width').fill('30');
  await tid('ed-tool-eraser').click();
  await drag([0.5, 0.25], [0.5, 0.35], 4);
  assert.equal(await page.evaluate(() => window.ed.debug().strokes), 4);
  await page.screenshot({ path: join(ARTIFACTS, 'editor-tools.png') }).catch(() => {});
  const { diff, out } = await doneAndCompare(page, tid);
  assert.deepEqual([out.width, out.height], [256, 384]);
  assert.ok(diff.mean < 0.5, `mean difference ${diff.mean}`);
  assert.ok(diff.over < 0.002, `share off by more than 16: ${diff.over}`);
  assert.deepEqual(errors, []);
});

test('a 4096² photo opens and exports at the size its geometry gives', async () => {
  const { page, tid, errors } = await open(WEBGL, { size: 4096 });
  await ready(page);
  assert.equal(await tid('ed-size').textContent(), '4096 × 4096 px');
  await tid('ed-aspect').selectOption('1:1');
  await tid('ed-angle').fill('7');
  await tid('ed-angle').dispatchEvent('change');
  await tid('ed-flip-h').click();
  await tid('ed-mode-annotate').click();
  const st = await tid('ed-stage').boundingBox();
  for (const y of [0.3, 0.7]) {
    await page.mouse.move(st.x + st.width * 0.3, st.y + st.height * y);
    await page.mouse.down();
    await page.mouse.move(st.x + st.width * 0.7, st.y + st.height * y, { steps: 8 });
    await page.mouse.up();
  }
  const side = Math.round(4096 / (Math.cos(7 * Math.PI / 180) + Math.sin(7 * Math.PI / 180)));
  assert.equal(await tid('ed-size').textContent(), `${side} × ${side} px`);
  const { out, diff } = await doneAndCompare(page, tid);
  assert.deepEqual([out.width, out.height], [side, side]);
  report('4096', { out, diff });
  assert.ok(diff.mean < 0.5, `mean difference ${diff.mean}`);
  assert.ok(diff.over < 0.002, `share off by more than 16: ${diff.over}`);
  assert.deepEqual(errors, []);
});

test('a device whose textures are smaller than the photo: a downscaled preview, the export at full size', async () => {
  const { page, tid, errors } = await open(WEBGL);
  await ready(page);
  await tid('ed-cancel').click();
  // WebGL2's minimum guaranteed texture size is 2048; the photo is 2600².
  await page.evaluate(() => localStorage.setItem('atelier-editor-max-texture', '2048'));
  await page.goto(`${BASE}/__editor-test?size=2600`);
  await ready(page);
  const d = await page.evaluate(() => { const d = window.ed.debug(); return { max: d.maxTexture, full: d.fullSizeTextures }; });
  assert.deepEqual(d, { max: 2048, full: false });
  await tid('ed-rot-cw').click();
  await tid('ed-mode-annotate').click();
  const st = await tid('ed-stage').boundingBox();
  await page.mouse.move(st.x + st.width * 0.4, st.y + st.height * 0.5);
  await page.mouse.down();
  await page.mouse.move(st.x + st.width * 0.6, st.y + st.height * 0.5, { steps: 5 });
  await page.mouse.up();
  const { out, diff } = await doneAndCompare(page, tid);
  assert.deepEqual([out.width, out.height], [2600, 2600]);
  assert.equal(diff.max, 0, 'computed by the CPU renderer: the reference exactly');
  assert.deepEqual(errors, []);
});

test('keyboard: handles and the crop move with the arrow keys; undo, redo, Escape', async () => {
  const { page, tid } = await open(WEBGL);
  await ready(page);
  assert.deepEqual(await axeViolations(page), [], 'axe-core: no serious or critical violations (Crop)');
  await tid('ed-mode-annotate').click();
  assert.deepEqual(await axeViolations(page), [], 'axe-core (Annotate)');
  await tid('ed-mode-crop').click();
  await tid('ed-handle-right').focus();
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('Shift+ArrowLeft');
  assert.equal(await tid('ed-size').textContent(), '501 × 768 px');
  await page.keyboard.press('Control+z');
  assert.equal(await tid('ed-size').textContent(), '511 × 768 px', 'one key, one undo step');
  await page.keyboard.press('Control+Shift+z');
  assert.equal(await tid('ed-size').textContent(), '501 × 768 px');
  const crop = async () => page.evaluate(() => Array.from(window.ed.debug().crop));
  const before = await crop();
  await tid('ed-crop').focus();
  await page.keyboard.press('ArrowRight');
  const moved = await crop();
  assert.ok(Math.abs(moved[0] - before[0] - 1) < 1e-9 || moved[0] === before[0], 'moves right (or stays at the edge)');
  // The buttons: rotate, undo, redo.
  await tid('ed-rot-cw').click();
  assert.equal(await tid('ed-size').textContent(), '768 × 501 px');
  await tid('ed-undo').click();
  assert.equal(await tid('ed-size').textContent(), '501 × 768 px');
  await tid('ed-redo').click();
  assert.equal(await tid('ed-size').textContent(), '768 × 501 px');
  // Every control is a focusable element with a name.
  const unnamed = await page.evaluate(() => [...document.querySelectorAll('.ae button, .ae input, .ae select')]
    .filter((e) => !(e.getAttribute('aria-label') || e.textContent.trim() || e.closest('label')))
    .map((e) => e.outerHTML.slice(0, 80)));
  assert.deepEqual(unnamed, []);
  await page.keyboard.press('Escape');
  assert.equal(await page.evaluate(() => window.result), null, 'Escape cancels');
});

test('touch: drag a handle, draw, pinch to zoom and pan with two fingers', async () => {
  const { b, page, tid } = await open(WEBGL, { touch: true });
  await ready(page);
  const cdp = await b.newCDPSession(page);
  const touch = (type, points) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points });
  const h = await tid('ed-handle-bottom-right').boundingBox();
  const [x, y] = [h.x + h.width / 2, h.y + h.height / 2];
  await touch('touchStart', [{ x, y, id: 1 }]);
  for (let i = 1; i <= 5; i++) await touch('touchMove', [{ x: x - i * 12, y: y - i * 12, id: 1 }]);
  await touch('touchEnd', []);
  const size = await tid('ed-size').textContent();
  assert.notEqual(size, '512 × 768 px', 'the handle followed the finger');
  await tid('ed-mode-annotate').tap();
  const st = await tid('ed-stage').boundingBox();
  const [cx, cy] = [st.x + st.width / 2, st.y + st.height / 2];
  await touch('touchStart', [{ x: cx - 40, y: cy, id: 2 }]);
  for (let i = 1; i <= 6; i++) await touch('touchMove', [{ x: cx - 40 + i * 12, y: cy + i * 3, id: 2 }]);
  await touch('touchEnd', []);
  assert.equal(await page.evaluate(() => window.ed.debug().strokes), 1, 'a finger draws');
  // Two fingers apart: zoom in; the stroke the first finger began is dropped, not drawn.
  await touch('touchStart', [{ x: cx - 30, y: cy, id: 3 }]);
  await touch('touchStart', [{ x: cx - 30, y: cy, id: 3 }, { x: cx + 30, y: cy, id: 4 }]);
  for (let i = 1; i <= 6; i++) await touch('touchMove', [{ x: cx - 30 - i * 15, y: cy + i * 4, id: 3 }, { x: cx + 30 + i * 15, y: cy + i * 4, id: 4 }]);
  await touch('touchEnd', []);
  const d = await page.evaluate(() => { const d = window.ed.debug(); return { zoom: d.zoom, strokes: d.strokes }; });
  assert.ok(d.zoom > 1.5, `pinched to ${d.zoom}`);
  assert.equal(d.strokes, 1, 'the pinch left no stroke');
  await tid('ed-fit').tap();
  assert.equal(await page.evaluate(() => window.ed.debug().zoom), 1);
  await tid('ed-undo').tap();
  assert.equal(await page.evaluate(() => window.ed.debug().strokes), 0);
  await tid('ed-cancel').tap();
  assert.equal(await page.evaluate(() => window.result), null);
});

test('a pen draws thinner when pressed lightly, thicker when pressed hard', async () => {
  const { b, page, tid } = await open(WEBGL);
  await ready(page);
  await tid('ed-mode-annotate').click();
  await page.click('[data-act=color-2]');
  const cdp = await b.newCDPSession(page);
  const st = await tid('ed-stage').boundingBox();
  const pen = (type, x, force) => cdp.send('Input.dispatchMouseEvent', {
    type, x, y: st.y + st.height * 0.5, button: 'left', buttons: type === 'mouseReleased' ? 0 : 1, clickCount: 1, pointerType: 'pen', force,
  });
  // Green pixels in what Done would give, after one pen line pressed with `force`.
  const line = async (force) => {
    await pen('mousePressed', st.x + st.width * 0.4, force);
    for (let i = 1; i <= 8; i++) await pen('mouseMoved', st.x + st.width * (0.4 + i * 0.02), force);
    await pen('mouseReleased', st.x + st.width * 0.56, force);
    const n = await page.evaluate(() => {
      const r = window.ed.reference();
      let n = 0;
      for (let i = 0; i < r.data.length; i += 4) if (r.data[i] === 34 && r.data[i + 1] === 197 && r.data[i + 2] === 94) n++;
      return n;
    });
    await tid('ed-undo').click();
    return n;
  };
  const light = await line(0.1);
  const hard = await line(1.0);
  assert.ok(light > 0 && hard > 2 * light, `light ${light} px, hard ${hard} px`);
  await tid('ed-cancel').click();
});

test('without WebGL and WebGPU: the "Missing WebGL Support" message, and Close', async () => {
  const { page, tid } = await open(NO_GPU);
  await tid('ed-missing').waitFor({ timeout: 30000 });
  assert.match(await tid('ed-missing').textContent(), /Missing WebGL Support[\s\S]*hardware acceleration[\s\S]*Chrome[\s\S]*Firefox[\s\S]*Safari/);
  await tid('ed-close').click();
  assert.equal(await page.evaluate(() => window.result), null);
});
