// Atelier's storefront try-on, the one-tag embed:
//   <script src="https://<atelier>/embed/widget.js" data-key="pk_…" data-category="tops"
//           data-product="https://shop.example/images/dress.jpg" async></script>
// inserts the try-on frame where the tag stands. The page can then set the product and hear the
// result through the frame element:
//   const frame = document.querySelector('iframe[data-atelier-try-on]');
//   frame.atelierSetProduct(imageUrlOrDataUriOrBlob, 'tops');
//   frame.addEventListener('atelier:result', (e) => console.log(e.detail.url));
//   frame.addEventListener('atelier:error', (e) => console.log(e.detail.message));
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script) return;
  const base = new URL(script.src).origin;
  const q = new URLSearchParams({ key: script.dataset.key ?? '' });
  if (script.dataset.category) q.set('category', script.dataset.category);
  if (script.dataset.product) q.set('product', new URL(script.dataset.product, location.href).href);
  const frame = document.createElement('iframe');
  frame.src = `${base}/embed/try-on?${q}`;
  frame.title = 'Virtual try-on';
  frame.allow = 'camera';
  frame.dataset.atelierTryOn = '';
  frame.style.cssText = 'width:100%;max-width:480px;height:640px;border:0;display:block';
  script.insertAdjacentElement('afterend', frame);
  let isReady = false;
  let pending = null;
  frame.atelierSetProduct = (image, category = 'auto') => {
    pending = { type: 'set-product', image, category };
    if (isReady) frame.contentWindow.postMessage(pending, base);
  };
  addEventListener('message', (e) => {
    // Only the frame itself, from Atelier's origin.
    if (e.origin !== base || e.source !== frame.contentWindow || !e.data || typeof e.data !== 'object') return;
    if (e.data.type === 'ready') {
      isReady = true;
      if (pending) frame.contentWindow.postMessage(pending, base);
    }
    if (e.data.type === 'resize' && Number.isFinite(e.data.height)) {
      frame.style.height = `${Math.min(Math.max(Math.ceil(e.data.height), 320), 4000)}px`;
    }
    if (e.data.type === 'result' || e.data.type === 'error') {
      frame.dispatchEvent(new CustomEvent(`atelier:${e.data.type}`, { detail: e.data }));
    }
  });
})();
