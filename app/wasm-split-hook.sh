#!/bin/bash
# Trunk post_build hook: splits the app's wasm by route (Leptos 0.8 lazy routes). Trunk has
# built and bound the whole app; this re-binds the raw cargo output after `wasm-split-cli` has
# moved each lazy route's code into its own module (`split___*.wasm`, loaded by
# `__wasm_split.js` when the route is first visited), then size-optimises every module and gives
# each split module a content-hashed name (`chunk_9-<hash>.wasm`), so the service worker can serve
# them cache-first like Trunk's own hashed files (#17: 17 network-first requests were the largest
# part of the Gallery's first paint).
# Needs: wasm-split-cli, wasm-bindgen (the version in Cargo.lock) and wasm-opt on PATH;
# ATELIER_APP_WASM, the raw `app.wasm` cargo linked (set by `cargo xtask build`).
set -euo pipefail
RAW="${ATELIER_APP_WASM:?ATELIER_APP_WASM must name the raw app.wasm (cargo xtask build sets it)}"
BG=$(ls "$TRUNK_STAGING_DIR"/app-*_bg.wasm)
NAME=$(basename "$BG" _bg.wasm)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
wasm-split-cli "$RAW" "$TMP" --out-name "$NAME" --target web
wasm-bindgen --target web --keep-lld-exports --no-demangle --no-typescript \
  --out-dir "$TRUNK_STAGING_DIR" --out-name "$NAME" "$TMP/$NAME.wasm"
rm "$TMP/$NAME.wasm"
cp "$TMP"/* "$TRUNK_STAGING_DIR"/
for w in "$TRUNK_STAGING_DIR"/*.wasm; do
  wasm-opt -Oz --enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals "$w" -o "$w"
done
# Content-hashed names; `__wasm_split.js` (imported by name from the app's wasm) keeps its own.
cd "$TRUNK_STAGING_DIR"
for w in chunk_*.wasm split___*.wasm; do
  n="${w%.wasm}-$(sha256sum "$w" | cut -c1-10).wasm"
  mv "$w" "$n"
  grep -q "\"./$w\"" __wasm_split.js || { echo "wasm-split-hook: $w is not named in __wasm_split.js" >&2; exit 1; }
  sed -i "s#\"./$w\"#\"./$n\"#" __wasm_split.js
done
# The service worker names its cache after this build (the hash of every file it serves), so a
# deploy is a byte-different sw.js: browsers install it, it takes over, deletes the previous
# build's cache, and the app shows "A new version is available — Reload" (index.html).
VERSION=$(cat index.html *.js *.wasm *.css 2>/dev/null | sha256sum | cut -c1-12)
grep -q "^const CACHE = 'atelier-shell-dev';" sw.js || { echo "wasm-split-hook: sw.js has no CACHE line to stamp" >&2; exit 1; }
sed -i "s#^const CACHE = 'atelier-shell-dev';#const CACHE = 'atelier-shell-$VERSION';#" sw.js
