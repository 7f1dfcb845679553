// Atelier's storefront try-on widget: the script of /embed/try-on, the page a shop frames.
// The shopper adds a photo of themselves, the shop's page says which product (postMessage, or
// `product=` in the frame's address), and Try-On shows the product on them; the result can be
// downloaded and goes back to the shop's page by postMessage.
//
// Messages, checked both ways against the publishable key's origins:
//   shop → widget: {type: "set-product", image: "<https URL | data:image/… URI>" | Blob, category?: "auto"|"tops"|"bottoms"|"one-pieces"}
//   widget → shop: {type: "ready"} · {type: "result", id, url} · {type: "error", error, message}
//                  · {type: "resize", height} (the height its content needs, in CSS pixels)
// A message from any other origin, or from another window than the parent, is ignored.
(() => {
  'use strict';
  const cfg = JSON.parse(document.getElementById('config').textContent);
  const $ = (id) => document.getElementById(id);
  const allowed = new Set(cfg.origins);
  const CATEGORIES = new Set(['auto', 'tops', 'bottoms', 'one-pieces']);
  const LONGEST_SIDE = 2048;

  // The shop page's origin: the browser says it where it can (Chromium, Safari); otherwise the
  // first allowed message from the parent tells it.
  let shop = null;
  const anc = location.ancestorOrigins;
  if (anc && anc.length && allowed.has(anc[0])) shop = anc[0];

  let product = null; // {image, category}
  let photo = null; // data URI of the shopper's photo, downscaled
  let busy = false;

  function tell(msg) {
    if (window.parent === window) return;
    if (shop) window.parent.postMessage(msg, shop);
    // Sent to each allowed origin: the browser delivers it only to the one the parent has.
    else for (const o of allowed) window.parent.postMessage(msg, o);
  }

  function say(text, kind = '') {
    const s = $('status');
    s.textContent = text;
    s.className = `status ${kind}`;
  }

  function ready() {
    $('run').disabled = busy || !product || !photo;
  }

  function show(img, empty, src) {
    $(img).src = src;
    $(img).hidden = false;
    $(empty).hidden = true;
  }

  function setProduct(image, category) {
    if (typeof image !== 'string' || !(/^data:image\/(png|jpeg|webp);base64,/i.test(image) || /^https?:\/\//i.test(image))) {
      say('The shop sent a product image this try-on cannot use (it takes an https address or a PNG, JPEG or WebP image).', 'error');
      return;
    }
    product = { image, category: CATEGORIES.has(category) ? category : 'auto' };
    show('product', 'product-empty', image);
    $('result-box').hidden = true;
    ready();
  }

  const blobToDataUri = (blob) => new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsDataURL(blob);
  });

  // A phone's photo is large: it goes up as a JPEG no longer than 2048 px, turned upright.
  async function preparePhoto(file) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
    } catch {
      throw new Error('This file is not a photo the try-on can read. Use a JPEG, PNG or WebP picture.');
    }
    const scale = Math.min(1, LONGEST_SIDE / Math.max(bitmap.width, bitmap.height));
    const w = Math.round(bitmap.width * scale);
    const h = Math.round(bitmap.height * scale);
    if (Math.min(w, h) < 256) throw new Error('This photo is too small: use one at least 256 pixels on each side.');
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    canvas.getContext('2d').drawImage(bitmap, 0, 0, w, h);
    bitmap.close?.();
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9));
    return blobToDataUri(blob);
  }

  async function choose(input) {
    const file = input.files && input.files[0];
    input.value = '';
    if (!file) return;
    try {
      photo = await preparePhoto(file);
      show('photo', 'photo-empty', photo);
      $('result-box').hidden = true;
      say(product ? 'Ready: press “See it on me”.' : 'Photo added. Waiting for the shop to choose a product…');
    } catch (e) {
      photo = null;
      say(e.message, 'error');
    }
    ready();
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  async function call(method, path, body) {
    const r = await fetch(path, {
      method,
      headers: { 'content-type': 'application/json', 'x-widget-session': cfg.session },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
    });
    let json = null;
    try { json = await r.json(); } catch { /* not JSON */ }
    return { status: r.status, json, retry: Number(r.headers.get('retry-after')) || 0 };
  }

  function fail(error, message) {
    say(message, 'error');
    tell({ type: 'error', error, message });
  }

  async function run() {
    if (busy || !product || !photo) return;
    busy = true;
    ready();
    $('result-box').hidden = true;
    say('Sending your photo…', 'busy');
    try {
      let start;
      // The shop's try-ons in progress are limited: wait for a free place a few times.
      for (let attempt = 0; ; attempt++) {
        start = await call('POST', '/api/widget/run', { model_image: photo, garment_image: product.image, category: product.category });
        if (start.status === 429 && start.json?.error === 'ConcurrencyLimitExceeded' && attempt < 15) {
          say('Many shoppers are trying things on: waiting for a free place…', 'busy');
          await sleep(Math.max(1, start.retry) * 1000);
          continue;
        }
        break;
      }
      if (start.status !== 200 || !start.json?.id) {
        const j = start.json ?? {};
        const message = j.error === 'OutOfCredits'
          ? 'The try-on is unavailable right now (the shop’s try-on balance is used up). Please try again later.'
          : (j.errors?.[0]?.message ?? j.message ?? `The try-on could not start (${start.status}).`);
        fail(j.error ?? 'error', message);
        return;
      }
      const id = start.json.id;
      const t0 = Date.now();
      for (;;) {
        const st = await call('GET', `/api/widget/runs/${encodeURIComponent(id)}`);
        const j = st.json ?? {};
        if (st.status !== 200) {
          if (st.status === 429) { await sleep(Math.max(1, st.retry) * 1000); continue; }
          fail(j.error ?? 'error', j.message ?? `The try-on stopped (${st.status}).`);
          return;
        }
        if (j.status === 'completed' && j.output?.length) {
          const url = j.output[0];
          $('result').src = url;
          $('download').href = url;
          $('result-box').hidden = false;
          $('result').addEventListener('load', () => $('result-box').scrollIntoView({ block: 'nearest', behavior: 'smooth' }), { once: true });
          say('Here you are.', 'done');
          tell({ type: 'result', id, url });
          return;
        }
        if (['failed', 'canceled', 'time_out'].includes(j.status) || j.status === 'completed') {
          fail(j.error?.name ?? j.status, j.error?.message ?? 'The try-on did not work with these photos. Try another photo of yourself: facing the camera, in good light.');
          return;
        }
        const s = Math.round((Date.now() - t0) / 1000);
        say(j.status === 'processing' ? `Dressing you… ${s} s` : `Waiting for a free moment… ${s} s`, 'busy');
        await sleep(1000);
      }
    } catch (e) {
      fail('network', 'The connection was lost. Check your connection and try again.');
    } finally {
      busy = false;
      ready();
    }
  }

  addEventListener('message', async (e) => {
    if (e.source !== window.parent || !allowed.has(e.origin)) return;
    shop = e.origin;
    const m = e.data;
    if (!m || typeof m !== 'object' || m.type !== 'set-product') return;
    let image = m.image;
    if (image instanceof Blob) image = await blobToDataUri(image);
    setProduct(image, m.category);
  });

  for (const id of ['take', 'pick']) $(id).addEventListener('change', (e) => choose(e.target));
  $('run').addEventListener('click', run);
  // "Take a photo" only where there is a camera to take it with (phones, tablets).
  if (!matchMedia('(pointer: coarse)').matches) $('take-label').hidden = true;
  if (cfg.product) setProduct(cfg.product, cfg.category);
  ready();
  tell({ type: 'ready' });
  // The frame grows with what it shows (the one-tag embed sizes the iframe to it).
  const main = document.querySelector('main');
  let last = 0;
  new ResizeObserver(() => {
    const height = Math.ceil(main.getBoundingClientRect().height);
    if (height !== last) tell({ type: 'resize', height: (last = height) });
  }).observe(main);
})();
