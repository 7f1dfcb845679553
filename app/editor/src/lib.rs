//! Atelier's built-in image editor (crop, rotate, flip, scale, annotate), a module of its own
//! loaded on demand from `/editor/editor.js` (never on the Studio's first load).
//!
//! - [`model`]: the document and its message handler — plain Rust, tested natively.
//! - [`tess`]: annotations as triangles; [`raster`]: the CPU renderer (reference and fallback).
//! - `gpu` (wasm): the wgpu renderer — WebGPU where available, WebGL2 otherwise.
//! - `ui` (wasm): the DOM, turning pointer, touch and keyboard events into messages.

pub mod model;
pub mod raster;
pub mod tess;

#[cfg(target_arch = "wasm32")]
mod gpu;
#[cfg(target_arch = "wasm32")]
mod ui;
