//! The DOM around the canvas: toolbars, the crop frame and its handles, pointer / touch / pen /
//! keyboard input turned into [`Msg`]s, and the `edit(host, src)` entry the Studio calls.

use std::cell::RefCell;
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::{Clamped, JsCast};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Element, HtmlCanvasElement, HtmlElement, HtmlInputElement, PointerEvent};

use crate::gpu::Gpu;
use crate::model::{Editor, Handle, Mode, Msg, Tool, View, V2};
use crate::raster::{self, Rgba};

const CSS: &str = include_str!("editor.css");

/// The aspect choices of the crop (the Studio tools' ratios).
const ASPECTS: [(&str, Option<(u32, u32)>); 9] = [
    ("Free", None),
    ("1:1", Some((1, 1))),
    ("4:5", Some((4, 5))),
    ("3:4", Some((3, 4))),
    ("2:3", Some((2, 3))),
    ("9:16", Some((9, 16))),
    ("5:4", Some((5, 4))),
    ("4:3", Some((4, 3))),
    ("16:9", Some((16, 9))),
];

const COLORS: [(&str, [u8; 3]); 6] = [
    ("Red", [239, 68, 68]),
    ("Yellow", [250, 204, 21]),
    ("Green", [34, 197, 94]),
    ("Blue", [59, 130, 246]),
    ("White", [255, 255, 255]),
    ("Black", [17, 17, 17]),
];

const MISSING: &str = r#"<div class="ae-missing" role="alert" data-testid="ed-missing">
<h2>Missing WebGL Support</h2>
<p>The image editor draws with your graphics card (WebGL or WebGPU), and this browser did not
give it access. Usually hardware acceleration is turned off, or the browser or graphics driver is
out of date. You can still upload, generate and download images without the editor.</p>
<details open><summary>How to fix it</summary>
<ul>
<li><b>First:</b> update your browser, restart your computer, and pause extensions that block
scripts or graphics (uBlock Origin in strict mode, NoScript, Privacy Badger) on this site.</li>
<li><b>Chrome, Brave, Opera, Vivaldi:</b> Settings → System → turn on <i>Use hardware
acceleration when available</i> → Relaunch. Check <code>chrome://gpu</code>: WebGL and WebGL2
should read <i>Hardware accelerated</i>.</li>
<li><b>Edge:</b> Settings → System and performance → turn on <i>Use hardware acceleration when
available</i> → Restart. Check <code>edge://gpu</code>.</li>
<li><b>Firefox:</b> Settings → General → Performance → uncheck <i>Use recommended performance
settings</i>, check <i>Use hardware acceleration when available</i>, restart. If WebGL was
turned off, <code>about:config</code> → <code>webgl.disabled</code> = false.</li>
<li><b>Safari (macOS):</b> update macOS; Settings → Advanced → <i>Show features for web
developers</i>; Develop → Developer settings → Experimental Features → keep <i>WebGL via
Metal</i> on; restart Safari. On iPad and iPhone, update iOS.</li>
<li><b>Still not working:</b> try another browser or device, or update your graphics drivers.</li>
</ul></details>
<button data-act="cancel" data-testid="ed-close" class="ae-primary">Close</button>
</div>"#;

#[wasm_bindgen(
    inline_js = "export function sleep_ms(ms) { return new Promise(r => setTimeout(r, ms)); }
export function to_blob(c, type, q) { return new Promise(r => c.toBlob(r, type, q)); }
export function now() { return performance.now(); }"
)]
extern "C" {
    fn sleep_ms(ms: u32) -> js_sys::Promise;
    fn to_blob(c: &HtmlCanvasElement, ty: &str, q: f64) -> js_sys::Promise;
    fn now() -> f64;
}

pub async fn sleep(ms: u32) {
    let _ = JsFuture::from(sleep_ms(ms)).await;
}

enum Drag {
    Handle { handle: Handle, from: V2 },
    Move { from: V2 },
    Stroke,
    Pan { from: V2, pan: V2 },
}

struct Pinch {
    dist: f64,
    mid: V2,
    zoom: f64,
    pan: V2,
}

struct Inner {
    ed: Editor,
    /// Shared with an export under way (which holds it across awaits; frames wait meanwhile).
    gpu: Rc<RefCell<Gpu>>,
    view: View,
    dpr: f64,
    image: Rgba,
    root: HtmlElement,
    canvas: HtmlCanvasElement,
    drag: Option<Drag>,
    pointers: Vec<(i32, V2)>,
    pinch: Option<Pinch>,
    frame_pending: bool,
    full_redraw: bool,
    busy: bool,
    /// Milliseconds each frame took to record and submit (for the benchmark).
    frame_ms: Vec<f64>,
    resolve: Option<js_sys::Function>,
}

type State = Rc<RefCell<Option<Inner>>>;

thread_local! {
    static CURRENT: RefCell<Option<State>> = const { RefCell::new(None) };
}

fn doc() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

fn q(root: &Element, sel: &str) -> Option<HtmlElement> {
    root.query_selector(sel)
        .ok()
        .flatten()
        .and_then(|e| e.dyn_into().ok())
}

fn js_err(e: JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "unknown error".into())
}

fn toolbar_html() -> String {
    let handles: String = Handle::ALL
        .iter()
        .map(|(name, _)| {
            format!(
                r#"<button class="ae-h ae-h-{name}" data-h="{name}" aria-label="Crop handle, {name} (arrow keys move it)" data-testid="ed-handle-{name}"></button>"#
            )
        })
        .collect();
    let aspects: String = ASPECTS
        .iter()
        .map(|(n, _)| format!(r#"<option value="{n}">{n}</option>"#))
        .collect();
    let colors: String = COLORS
        .iter()
        .enumerate()
        .map(|(i, (n, c))| {
            format!(
                r#"<button class="ae-swatch" data-act="color-{i}" aria-label="{n}" aria-pressed="{}" style="background:rgb({},{},{})"></button>"#,
                i == 0,
                c[0],
                c[1],
                c[2]
            )
        })
        .collect();
    format!(
        r#"<style>{CSS}</style>
<div class="ae" tabindex="-1" data-testid="ed-root">
 <div class="ae-bar ae-top">
  <div class="ae-tabs" role="tablist" aria-label="Editor tool">
   <button role="tab" data-act="mode-crop" aria-selected="true" data-testid="ed-mode-crop">Crop</button>
   <button role="tab" data-act="mode-annotate" aria-selected="false" data-testid="ed-mode-annotate">Annotate</button>
  </div>
  <span class="ae-size" data-id="size" data-testid="ed-size"></span>
  <span class="ae-spacer"></span>
  <button data-act="undo" aria-label="Undo" title="Undo (Ctrl+Z)" data-testid="ed-undo">↶</button>
  <button data-act="redo" aria-label="Redo" title="Redo (Shift+Ctrl+Z)" data-testid="ed-redo">↷</button>
  <button data-act="fit" title="Fit the picture to the window" data-testid="ed-fit">Fit</button>
  <button data-act="cancel" data-testid="ed-cancel">Cancel</button>
  <button data-act="done" class="ae-primary" data-testid="ed-done">Done</button>
 </div>
 <div class="ae-stage" data-id="stage" data-testid="ed-stage">
  <canvas data-id="canvas" data-testid="ed-canvas" aria-label="The image"></canvas>
  <div class="ae-crop" data-id="crop" tabindex="0" data-testid="ed-crop" aria-label="Crop area (drag it, or move it with the arrow keys)">{handles}</div>
  <p class="ae-status" data-id="status" aria-live="polite"></p>
 </div>
 <div class="ae-bar ae-bottom" data-id="crop-tools">
  <button data-act="rot-ccw" aria-label="Rotate 90° left" data-testid="ed-rot-ccw">⟲ 90°</button>
  <button data-act="rot-cw" aria-label="Rotate 90° right" data-testid="ed-rot-cw">⟳ 90°</button>
  <button data-act="flip-h" data-testid="ed-flip-h">Flip ↔</button>
  <button data-act="flip-v" data-testid="ed-flip-v">Flip ↕</button>
  <label>Straighten <input type="range" min="-45" max="45" step="0.1" value="0" data-input="angle" data-testid="ed-angle"></label>
  <output data-id="angle-out">0°</output>
  <label>Aspect <select data-input="aspect" data-testid="ed-aspect">{aspects}</select></label>
  <label>Scale <input type="range" min="10" max="100" step="1" value="100" data-input="scale" data-testid="ed-scale"></label>
  <output data-id="scale-out">100%</output>
  <button data-act="reset" data-testid="ed-reset">Reset</button>
 </div>
 <div class="ae-bar ae-bottom" data-id="annotate-tools" hidden>
  <div class="ae-group" role="group" aria-label="Drawing tool">
   <button data-act="tool-pen" aria-pressed="true" data-testid="ed-tool-pen">Pen</button>
   <button data-act="tool-arrow" aria-pressed="false" data-testid="ed-tool-arrow">Arrow</button>
   <button data-act="tool-ellipse" aria-pressed="false" data-testid="ed-tool-ellipse">Ellipse</button>
   <button data-act="tool-eraser" aria-pressed="false" data-testid="ed-tool-eraser">Eraser</button>
  </div>
  <div class="ae-group" role="group" aria-label="Colour">{colors}</div>
  <label>Size <input type="range" min="1" max="64" step="1" value="6" data-input="width" data-testid="ed-width"></label>
 </div>
</div>"#
    )
}

/// Decodes the image at `src` into RGBA8 pixels (the browser's decoder).
async fn load_image(src: &str) -> Result<Rgba, String> {
    let img = web_sys::HtmlImageElement::new().map_err(js_err)?;
    img.set_src(src);
    JsFuture::from(img.decode())
        .await
        .map_err(|_| "The image could not be opened.".to_string())?;
    let (w, h) = (img.natural_width(), img.natural_height());
    if w == 0 || h == 0 {
        return Err("The image is empty.".into());
    }
    let data = draw_pixels(&img, w, h, w, h)?;
    Ok(Rgba {
        width: w,
        height: h,
        data,
    })
}

fn canvas_2d(
    w: u32,
    h: u32,
) -> Result<(HtmlCanvasElement, web_sys::CanvasRenderingContext2d), String> {
    let c: HtmlCanvasElement = doc()
        .create_element("canvas")
        .map_err(js_err)?
        .unchecked_into();
    c.set_width(w);
    c.set_height(h);
    let opts = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&opts, &"willReadFrequently".into(), &true.into());
    let ctx = c
        .get_context_with_context_options("2d", &opts)
        .map_err(js_err)?
        .ok_or("no 2D canvas")?
        .unchecked_into::<web_sys::CanvasRenderingContext2d>();
    Ok((c, ctx))
}

fn draw_pixels(
    img: &web_sys::HtmlImageElement,
    sw: u32,
    sh: u32,
    w: u32,
    h: u32,
) -> Result<Vec<u8>, String> {
    let (_c, ctx) = canvas_2d(w, h)?;
    ctx.draw_image_with_html_image_element_and_sw_and_sh_and_dx_and_dy_and_dw_and_dh(
        img, 0.0, 0.0, sw as f64, sh as f64, 0.0, 0.0, w as f64, h as f64,
    )
    .map_err(js_err)?;
    let data = ctx
        .get_image_data(0.0, 0.0, w as f64, h as f64)
        .map_err(js_err)?;
    Ok(data.data().0)
}

/// Encodes RGBA8 as PNG (or, when that is over the upload limit and the image is opaque, as
/// JPEG) through the browser's encoder.
async fn encode(w: u32, h: u32, data: &[u8]) -> Result<web_sys::Blob, String> {
    let (c, ctx) = canvas_2d(w, h)?;
    let img = web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(data), w, h)
        .map_err(js_err)?;
    ctx.put_image_data(&img, 0.0, 0.0).map_err(js_err)?;
    let png: web_sys::Blob = JsFuture::from(to_blob(&c, "image/png", 1.0))
        .await
        .map_err(js_err)?
        .dyn_into()
        .map_err(|_| "The browser could not encode the image.".to_string())?;
    let opaque = data.chunks_exact(4).all(|p| p[3] == 255);
    if png.size() > 20.0 * 1024.0 * 1024.0 && opaque {
        return JsFuture::from(to_blob(&c, "image/jpeg", 0.92))
            .await
            .map_err(js_err)?
            .dyn_into()
            .map_err(|_| "The browser could not encode the image.".to_string());
    }
    Ok(png)
}

fn set_status(root: &Element, text: &str) {
    if let Some(s) = q(root, "[data-id=status]") {
        s.set_text_content(Some(text));
    }
}

/// Opens the editor in `host` on the image at `src`; resolves to the edited image (a Blob) on
/// Done, `null` on Cancel or Escape.
#[wasm_bindgen]
pub async fn edit(host: HtmlElement, src: String) -> Result<JsValue, JsValue> {
    host.set_inner_html(&toolbar_html());
    let root = q(&host, ".ae").ok_or("no root")?;
    let _ = root.focus();
    set_status(&root, "Opening the image…");
    let canvas: HtmlCanvasElement = q(&root, "[data-id=canvas]")
        .ok_or("no canvas")?
        .unchecked_into();
    let image = match load_image(&src).await {
        Ok(i) => i,
        Err(e) => return Err(JsValue::from_str(&e)),
    };
    let dpr = web_sys::window().unwrap().device_pixel_ratio().max(1.0);
    let stage = q(&root, "[data-id=stage]").ok_or("no stage")?;
    let (cw, ch) = (
        (stage.client_width() as f64 * dpr).max(1.0),
        (stage.client_height() as f64 * dpr).max(1.0),
    );
    canvas.set_width(cw as u32);
    canvas.set_height(ch as u32);
    let setting = |k: &str| {
        web_sys::window()
            .and_then(|w| w.local_storage().ok().flatten())
            .and_then(|s| s.get_item(k).ok().flatten())
    };
    let prefer = setting("atelier-editor-backend");
    let cap = setting("atelier-editor-max-texture").and_then(|v| v.parse().ok());
    let (iw, ih) = (image.width, image.height);
    let mut gpu = Gpu::new(&canvas, prefer.clone(), cap, (iw, ih), |max| {
        texture_pixels(&image, max)
    })
    .await;
    if gpu.is_err() {
        // A browser short of GPU resources may refuse a context once (a busy tab, a lost
        // device): one more try before saying WebGL is missing.
        sleep(500).await;
        gpu = Gpu::new(&canvas, prefer, cap, (iw, ih), |max| {
            texture_pixels(&image, max)
        })
        .await;
    }
    let gpu = match gpu {
        Ok(g) => g,
        Err(e) => {
            web_sys::console::warn_1(&format!("image editor: no WebGPU or WebGL2 ({e})").into());
            root.set_inner_html(MISSING);
            let (promise, resolve) = deferred();
            let r = resolve.clone();
            let close = Closure::<dyn FnMut(web_sys::Event)>::new(move |ev: web_sys::Event| {
                let is_close = ev
                    .target()
                    .and_then(|t| t.dyn_into::<Element>().ok())
                    .and_then(|t| t.closest("[data-act=cancel]").ok().flatten())
                    .is_some();
                let escape = ev
                    .dyn_ref::<web_sys::KeyboardEvent>()
                    .is_some_and(|k| k.key() == "Escape");
                if is_close || escape {
                    let _ = r.call1(&JsValue::NULL, &JsValue::NULL);
                }
            });
            root.add_event_listener_with_callback("click", close.as_ref().unchecked_ref())?;
            root.add_event_listener_with_callback("keydown", close.as_ref().unchecked_ref())?;
            close.forget();
            if let Some(b) = q(&root, "[data-act=cancel]") {
                let _ = b.focus();
            }
            let out = JsFuture::from(promise).await;
            host.set_inner_html("");
            return out;
        }
    };
    set_status(&root, "");
    let mut ed = Editor::new(iw, ih);
    ed.width_px = 6.0;
    let (promise, resolve) = deferred();
    let state: State = Rc::new(RefCell::new(Some(Inner {
        ed,
        gpu: Rc::new(RefCell::new(gpu)),
        view: View::new(cw, ch, 28.0 * dpr),
        dpr,
        image,
        root: root.clone(),
        canvas: canvas.clone(),
        drag: None,
        pointers: Vec::new(),
        pinch: None,
        frame_pending: false,
        full_redraw: true,
        busy: false,
        frame_ms: Vec::new(),
        resolve: Some(resolve),
    })));
    CURRENT.with(|c| *c.borrow_mut() = Some(state.clone()));
    let backend = state.borrow().as_ref().unwrap().gpu.borrow().backend;
    root.set_attribute("data-backend", backend)?;
    bind(&state, &root, &stage)?;
    sync_controls(&state);
    schedule(&state);
    let out = JsFuture::from(promise).await;
    // Everything the listeners could still reach is dropped here (textures, pixels).
    state.borrow_mut().take();
    CURRENT.with(|c| c.borrow_mut().take());
    host.set_inner_html("");
    out
}

/// The picture as a texture's pixels: itself, or downscaled (nearest) to fit `max` — then the
/// preview is smaller and the export is computed on the CPU at full size.
fn texture_pixels(image: &Rgba, max: u32) -> (u32, u32, Vec<u8>) {
    let (iw, ih) = (image.width, image.height);
    if iw <= max && ih <= max {
        return (iw, ih, image.data.clone());
    }
    let k = max as f64 / iw.max(ih) as f64;
    let (w, h) = (
        ((iw as f64 * k) as u32).max(1),
        ((ih as f64 * k) as u32).max(1),
    );
    let mut small = vec![0u8; (w * h * 4) as usize];
    for y in 0..h {
        for x in 0..w {
            let sx = ((x as f64 + 0.5) / k) as u32;
            let sy = ((y as f64 + 0.5) / k) as u32;
            let s = ((sy.min(ih - 1) * iw + sx.min(iw - 1)) * 4) as usize;
            let d = ((y * w + x) * 4) as usize;
            small[d..d + 4].copy_from_slice(&image.data[s..s + 4]);
        }
    }
    (w, h, small)
}

fn deferred() -> (js_sys::Promise, js_sys::Function) {
    let mut resolve = None;
    let promise = js_sys::Promise::new(&mut |res, _rej| resolve = Some(res));
    (promise, resolve.unwrap())
}

fn finish(state: &State, value: JsValue) {
    let f = state.borrow_mut().as_mut().and_then(|i| i.resolve.take());
    if let Some(f) = f {
        let _ = f.call1(&JsValue::NULL, &value);
    }
}

/// Handles a message and schedules what it changed.
fn send(state: &State, msg: Msg) {
    let changed = {
        let mut b = state.borrow_mut();
        let Some(i) = b.as_mut() else { return };
        let c = i.ed.update(msg);
        if c.strokes {
            i.full_redraw = true;
        }
        c
    };
    if changed.view || changed.strokes || changed.stroke_grew {
        sync_controls(state);
        schedule(state);
    } else {
        sync_controls(state);
    }
}

fn schedule(state: &State) {
    {
        let mut b = state.borrow_mut();
        let Some(i) = b.as_mut() else { return };
        if i.frame_pending {
            return;
        }
        i.frame_pending = true;
    }
    let s = state.clone();
    let cb = Closure::once_into_js(move |_t: f64| frame(&s));
    let _ = web_sys::window()
        .unwrap()
        .request_animation_frame(cb.unchecked_ref());
}

fn frame(state: &State) {
    let mut b = state.borrow_mut();
    let Some(i) = b.as_mut() else { return };
    i.frame_pending = false;
    let t0 = now();
    let gpu = i.gpu.clone();
    let Ok(mut gpu) = gpu.try_borrow_mut() else {
        // An export is using the GPU: draw when it is done.
        drop(b);
        schedule(state);
        return;
    };
    let full = std::mem::take(&mut i.full_redraw);
    gpu.note_version(&i.ed);
    gpu.sync_annotations(&i.ed, full);
    gpu.render(&i.ed, &i.view, i.dpr);
    place_crop(i);
    let dt = now() - t0;
    if i.frame_ms.len() < 100_000 {
        i.frame_ms.push(dt);
    }
}

/// Puts the crop frame (CSS pixels) over the canvas.
fn place_crop(i: &Inner) {
    let Some(frame) = q(&i.root, "[data-id=crop]") else {
        return;
    };
    if i.ed.mode != Mode::Crop {
        let _ = frame.set_attribute("hidden", "");
        return;
    }
    let _ = frame.remove_attribute("hidden");
    let c = i.ed.edit.crop;
    let a = i.ed.display_to_screen(&i.view, [c.x0, c.y0]);
    let b = i.ed.display_to_screen(&i.view, [c.x1, c.y1]);
    let st = frame.style();
    let px = |v: f64| format!("{:.2}px", v / i.dpr);
    let _ = st.set_property("left", &px(a[0]));
    let _ = st.set_property("top", &px(a[1]));
    let _ = st.set_property("width", &px(b[0] - a[0]));
    let _ = st.set_property("height", &px(b[1] - a[1]));
}

/// Makes the toolbars say what the model says (enabled, pressed, values, the output size).
fn sync_controls(state: &State) {
    let b = state.borrow();
    let Some(i) = b.as_ref() else { return };
    let ed = &i.ed;
    let root = &i.root;
    let set = |sel: &str, attr: &str, on: bool| {
        if let Some(e) = q(root, sel) {
            let _ = e.set_attribute(attr, if on { "true" } else { "false" });
        }
    };
    set(
        "[data-act=mode-crop]",
        "aria-selected",
        ed.mode == Mode::Crop,
    );
    set(
        "[data-act=mode-annotate]",
        "aria-selected",
        ed.mode == Mode::Annotate,
    );
    for (t, name) in [
        (Tool::Pen, "pen"),
        (Tool::Arrow, "arrow"),
        (Tool::Ellipse, "ellipse"),
        (Tool::Eraser, "eraser"),
    ] {
        set(
            &format!("[data-act=tool-{name}]"),
            "aria-pressed",
            ed.tool == t,
        );
    }
    for (k, (_, c)) in COLORS.iter().enumerate() {
        set(
            &format!("[data-act=color-{k}]"),
            "aria-pressed",
            ed.color == *c,
        );
    }
    for (sel, on) in [
        ("[data-act=undo]", ed.can_undo()),
        ("[data-act=redo]", ed.can_redo()),
    ] {
        if let Some(e) = q(root, sel) {
            if on {
                let _ = e.remove_attribute("disabled");
            } else {
                // A focused button that becomes disabled would drop the focus to the page:
                // keep it in the editor.
                if doc().active_element().as_ref() == Some(e.as_ref()) {
                    let _ = root.focus();
                }
                let _ = e.set_attribute("disabled", "");
            }
        }
    }
    for (sel, show) in [
        ("[data-id=crop-tools]", ed.mode == Mode::Crop),
        ("[data-id=annotate-tools]", ed.mode == Mode::Annotate),
    ] {
        if let Some(e) = q(root, sel) {
            if show {
                let _ = e.remove_attribute("hidden");
            } else {
                let _ = e.set_attribute("hidden", "");
            }
        }
    }
    let (w, h) = ed.output_size();
    if let Some(e) = q(root, "[data-id=size]") {
        e.set_text_content(Some(&format!("{w} × {h} px")));
    }
    let _ = root.set_attribute("data-output", &format!("{w}x{h}"));
    let input = |sel: &str| q(root, sel).and_then(|e| e.dyn_into::<HtmlInputElement>().ok());
    if !ed.in_gesture() {
        if let Some(a) = input("[data-input=angle]") {
            a.set_value(&format!("{:.1}", ed.edit.angle));
        }
        if let Some(s) = input("[data-input=scale]") {
            s.set_value(&format!("{}", (ed.edit.scale * 100.0).round()));
        }
    }
    if let Some(e) = q(root, "[data-id=angle-out]") {
        e.set_text_content(Some(&format!("{:.1}°", ed.edit.angle)));
    }
    if let Some(e) = q(root, "[data-id=scale-out]") {
        e.set_text_content(Some(&format!("{}%", (ed.edit.scale * 100.0).round())));
    }
    if let Some(sel) = q(root, "[data-input=aspect]") {
        let v = ASPECTS
            .iter()
            .find(|(_, a)| *a == ed.edit.aspect)
            .map(|(n, _)| *n)
            .unwrap_or("Free");
        let _ = js_sys::Reflect::set(&sel, &"value".into(), &v.into());
    }
}

fn point(i: &Inner, ev: &PointerEvent) -> V2 {
    let r = i.canvas.get_bounding_client_rect();
    [
        (ev.client_x() as f64 - r.left()) * i.dpr,
        (ev.client_y() as f64 - r.top()) * i.dpr,
    ]
}

fn act(state: &State, name: &str) {
    let m = match name {
        "mode-crop" => Some(Msg::SetMode(Mode::Crop)),
        "mode-annotate" => Some(Msg::SetMode(Mode::Annotate)),
        "undo" => Some(Msg::Undo),
        "redo" => Some(Msg::Redo),
        "rot-cw" => Some(Msg::RotateQuarter { clockwise: true }),
        "rot-ccw" => Some(Msg::RotateQuarter { clockwise: false }),
        "flip-h" => Some(Msg::FlipH),
        "flip-v" => Some(Msg::FlipV),
        "reset" => Some(Msg::ResetTransform),
        "tool-pen" => Some(Msg::SetTool(Tool::Pen)),
        "tool-arrow" => Some(Msg::SetTool(Tool::Arrow)),
        "tool-ellipse" => Some(Msg::SetTool(Tool::Ellipse)),
        "tool-eraser" => Some(Msg::SetTool(Tool::Eraser)),
        _ => None,
    };
    if let Some(m) = m {
        let mode_change = matches!(m, Msg::SetMode(_));
        send(state, m);
        if mode_change {
            fit(state);
        }
        return;
    }
    if let Some(k) = name
        .strip_prefix("color-")
        .and_then(|k| k.parse::<usize>().ok())
    {
        if let Some((_, c)) = COLORS.get(k) {
            send(state, Msg::SetColor(*c));
        }
        return;
    }
    match name {
        "fit" => fit(state),
        "cancel" => finish(state, JsValue::NULL),
        "done" => {
            let s = state.clone();
            wasm_bindgen_futures::spawn_local(async move { done(&s).await });
        }
        _ => {}
    }
}

fn fit(state: &State) {
    if let Some(i) = state.borrow_mut().as_mut() {
        i.view.zoom = 1.0;
        i.view.pan = [0.0, 0.0];
    }
    schedule(state);
}

// The GPU stays borrowed across the export's awaits on purpose: frames meanwhile find it taken
// (`try_borrow_mut`) and wait for the next one, and nothing else touches it while `busy`.
#[allow(clippy::await_holding_refcell_ref)]
async fn done(state: &State) {
    let (root, ed, gpu) = {
        let mut b = state.borrow_mut();
        let Some(i) = b.as_mut() else { return };
        if i.busy || i.ed.in_gesture() {
            return;
        }
        i.busy = true;
        (i.root.clone(), i.ed.clone(), i.gpu.clone())
    };
    set_status(&root, "Applying…");
    let exported = {
        let Ok(mut g) = gpu.try_borrow_mut() else {
            return;
        };
        g.export(&ed).await
    };
    let pixels = match exported {
        Ok(p) => Ok(p),
        // Larger than the device's textures: the same pixels from the CPU renderer.
        Err(_) => match state.borrow().as_ref() {
            Some(i) => {
                let out = raster::export(&ed, &i.image);
                Ok((out.width, out.height, out.data))
            }
            None => Err("closed".to_string()),
        },
    };
    let result = match pixels {
        Ok((w, h, data)) => encode(w, h, &data).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(blob) => finish(state, blob.into()),
        Err(e) => {
            set_status(&root, &format!("The edited image could not be made: {e}"));
            if let Some(i) = state.borrow_mut().as_mut() {
                i.busy = false;
            }
        }
    }
}

fn listen<E: JsCast + 'static>(
    el: &web_sys::EventTarget,
    name: &str,
    f: impl FnMut(E) + 'static,
) -> Result<(), JsValue> {
    let mut f = f;
    let c =
        Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| f(e.unchecked_into()));
    let opts = web_sys::AddEventListenerOptions::new();
    opts.set_passive(false);
    el.add_event_listener_with_callback_and_add_event_listener_options(
        name,
        c.as_ref().unchecked_ref(),
        &opts,
    )?;
    // Listeners live as long as the page keeps the element; what they reach is emptied when
    // the editor closes.
    c.forget();
    Ok(())
}

fn bind(state: &State, root: &HtmlElement, stage: &HtmlElement) -> Result<(), JsValue> {
    let s = state.clone();
    listen(root, "click", move |ev: web_sys::MouseEvent| {
        let Some(t) = ev.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        if let Some(b) = t.closest("[data-act]").ok().flatten() {
            if let Some(a) = b.get_attribute("data-act") {
                act(&s, &a);
            }
        }
    })?;
    let s = state.clone();
    listen(root, "input", move |ev: web_sys::Event| {
        let Some(t) = ev.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        let value = js_sys::Reflect::get(&t, &"value".into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        match t.get_attribute("data-input").as_deref() {
            Some("angle") => {
                send(&s, Msg::Begin);
                send(&s, Msg::Angle(value.parse().unwrap_or(0.0)));
            }
            Some("scale") => {
                send(&s, Msg::Begin);
                send(
                    &s,
                    Msg::SetScale(value.parse::<f64>().unwrap_or(100.0) / 100.0),
                );
            }
            Some("width") => {
                // The width is set in screen pixels and kept in source pixels at the stroke's
                // start (see the pointerdown handler).
            }
            _ => {}
        }
    })?;
    let s = state.clone();
    listen(root, "change", move |ev: web_sys::Event| {
        let Some(t) = ev.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        match t.get_attribute("data-input").as_deref() {
            Some("angle") | Some("scale") => send(&s, Msg::End),
            Some("aspect") => {
                let v = js_sys::Reflect::get(&t, &"value".into())
                    .ok()
                    .and_then(|v| v.as_string())
                    .unwrap_or_default();
                let a = ASPECTS.iter().find(|(n, _)| *n == v).and_then(|(_, a)| *a);
                send(&s, Msg::SetAspect(a));
            }
            _ => {}
        }
    })?;
    // On the window: focus may have left the editor (a button that just became disabled); the
    // editor is modal while it is open. Closed editors' listeners find no state and do nothing.
    let s = state.clone();
    listen(
        &web_sys::window().unwrap().into(),
        "keydown",
        move |ev: web_sys::KeyboardEvent| keydown(&s, &ev),
    )?;
    let s = state.clone();
    listen(stage, "pointerdown", move |ev: PointerEvent| {
        pointerdown(&s, &ev)
    })?;
    let s = state.clone();
    listen(stage, "pointermove", move |ev: PointerEvent| {
        pointermove(&s, &ev)
    })?;
    for name in ["pointerup", "pointercancel"] {
        let s = state.clone();
        listen(stage, name, move |ev: PointerEvent| pointerup(&s, &ev))?;
    }
    let s = state.clone();
    listen(stage, "wheel", move |ev: web_sys::WheelEvent| {
        ev.prevent_default();
        let mut b = s.borrow_mut();
        let Some(i) = b.as_mut() else { return };
        let r = i.canvas.get_bounding_client_rect();
        let p = [
            (ev.client_x() as f64 - r.left()) * i.dpr,
            (ev.client_y() as f64 - r.top()) * i.dpr,
        ];
        let dy = ev.delta_y() * if ev.delta_mode() == 1 { 16.0 } else { 1.0 };
        let z = (i.view.zoom * (-dy * 0.0015).exp()).clamp(0.5, 16.0);
        zoom_about(i, p, z);
        drop(b);
        schedule(&s);
    })?;
    // The stage follows the window's size.
    let s = state.clone();
    listen(
        &web_sys::window().unwrap().into(),
        "resize",
        move |_: web_sys::Event| resize(&s),
    )?;
    Ok(())
}

fn resize(state: &State) {
    {
        let mut b = state.borrow_mut();
        let Some(i) = b.as_mut() else { return };
        let Some(stage) = q(&i.root, "[data-id=stage]") else {
            return;
        };
        let (w, h) = (
            (stage.client_width() as f64 * i.dpr).max(1.0),
            (stage.client_height() as f64 * i.dpr).max(1.0),
        );
        i.canvas.set_width(w as u32);
        i.canvas.set_height(h as u32);
        i.view.canvas = [w, h];
    }
    schedule(state);
}

/// Zooms to `z`, keeping the display point under `p` where it is.
fn zoom_about(i: &mut Inner, p: V2, z: f64) {
    let k = i.ed.pixels_per_unit(&i.view);
    let k2 = k / i.view.zoom * z;
    let c = [i.view.canvas[0] / 2.0, i.view.canvas[1] / 2.0];
    let pan = i.view.pan;
    i.view.pan = [
        p[0] - c[0] - (p[0] - c[0] - pan[0]) * k2 / k,
        p[1] - c[1] - (p[1] - c[1] - pan[1]) * k2 / k,
    ];
    i.view.zoom = z;
}

fn keydown(state: &State, ev: &web_sys::KeyboardEvent) {
    if state.borrow().is_none() {
        return;
    }
    let key = ev.key();
    let ctrl = ev.ctrl_key() || ev.meta_key();
    if key == "Escape" {
        ev.prevent_default();
        ev.stop_propagation();
        finish(state, JsValue::NULL);
        return;
    }
    if ctrl && (key == "z" || key == "Z") {
        ev.prevent_default();
        send(state, if ev.shift_key() { Msg::Redo } else { Msg::Undo });
        return;
    }
    if ctrl && (key == "y" || key == "Y") {
        ev.prevent_default();
        send(state, Msg::Redo);
        return;
    }
    let step = if ev.shift_key() { 10.0 } else { 1.0 };
    let d = match key.as_str() {
        "ArrowLeft" => [-step, 0.0],
        "ArrowRight" => [step, 0.0],
        "ArrowUp" => [0.0, -step],
        "ArrowDown" => [0.0, step],
        _ => return,
    };
    let Some(t) = ev.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
        return;
    };
    let msg = if let Some(h) = t.get_attribute("data-h") {
        let Some((_, handle)) = Handle::ALL.iter().find(|(n, _)| *n == h) else {
            return;
        };
        Msg::DragHandle {
            handle: *handle,
            delta: d,
        }
    } else if t.get_attribute("data-id").as_deref() == Some("crop") {
        Msg::MoveCrop { delta: d }
    } else {
        return;
    };
    ev.prevent_default();
    send(state, Msg::Begin);
    send(state, msg);
    send(state, Msg::End);
}

fn pointerdown(state: &State, ev: &PointerEvent) {
    let Some(target) = ev.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
        return;
    };
    if ev.button() > 0 {
        return;
    }
    ev.prevent_default();
    let msg = {
        let mut b = state.borrow_mut();
        let Some(i) = b.as_mut() else { return };
        if i.busy {
            return;
        }
        let p = point(i, ev);
        if let Some(stage) = q(&i.root, "[data-id=stage]") {
            let _ = stage.set_pointer_capture(ev.pointer_id());
        }
        i.pointers.retain(|(id, _)| *id != ev.pointer_id());
        i.pointers.push((ev.pointer_id(), p));
        if i.pointers.len() == 2 {
            // A second finger: the first one's gesture is dropped; pinch and pan instead.
            let had = i.drag.take();
            let (a, b2) = (i.pointers[0].1, i.pointers[1].1);
            i.pinch = Some(Pinch {
                dist: ((a[0] - b2[0]).powi(2) + (a[1] - b2[1]).powi(2))
                    .sqrt()
                    .max(1.0),
                mid: [(a[0] + b2[0]) / 2.0, (a[1] + b2[1]) / 2.0],
                zoom: i.view.zoom,
                pan: i.view.pan,
            });
            had.filter(|_| i.ed.in_gesture()).map(|_| Msg::Cancel)
        } else if i.pointers.len() > 2 {
            None
        } else if let Some(h) = target
            .closest("[data-h]")
            .ok()
            .flatten()
            .and_then(|h| h.get_attribute("data-h"))
        {
            let handle = Handle::ALL.iter().find(|(n, _)| *n == h).map(|(_, h)| *h);
            match handle {
                Some(handle) => {
                    i.drag = Some(Drag::Handle { handle, from: p });
                    Some(Msg::Begin)
                }
                None => None,
            }
        } else if i.ed.mode == Mode::Crop {
            if target.closest("[data-id=crop]").ok().flatten().is_some() {
                i.drag = Some(Drag::Move { from: p });
                Some(Msg::Begin)
            } else {
                i.drag = Some(Drag::Pan {
                    from: p,
                    pan: i.view.pan,
                });
                None
            }
        } else {
            // Annotate: the width slider is in screen pixels; the stroke keeps source pixels.
            let css = q(&i.root, "[data-input=width]")
                .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
                .and_then(|e| e.value().parse::<f64>().ok())
                .unwrap_or(6.0);
            let w = css * i.dpr / i.ed.pixels_per_unit(&i.view);
            i.ed.update(Msg::SetWidth(w));
            i.drag = Some(Drag::Stroke);
            let at = i.ed.screen_to_display(&i.view, p);
            Some(Msg::StrokeStart {
                at,
                pressure: pressure(ev),
            })
        }
    };
    if let Some(m) = msg {
        send(state, m);
    }
}

fn pressure(ev: &PointerEvent) -> f64 {
    let p = ev.pressure() as f64;
    if ev.pointer_type() == "pen" && p > 0.0 {
        p
    } else {
        0.5
    }
}

fn pointermove(state: &State, ev: &PointerEvent) {
    let msg = {
        let mut b = state.borrow_mut();
        let Some(i) = b.as_mut() else { return };
        let p = point(i, ev);
        if let Some(e) = i.pointers.iter_mut().find(|(id, _)| *id == ev.pointer_id()) {
            e.1 = p;
        } else {
            return;
        }
        if let Some(pinch) = &i.pinch {
            if i.pointers.len() >= 2 {
                let (a, b2) = (i.pointers[0].1, i.pointers[1].1);
                let dist = ((a[0] - b2[0]).powi(2) + (a[1] - b2[1]).powi(2))
                    .sqrt()
                    .max(1.0);
                let mid = [(a[0] + b2[0]) / 2.0, (a[1] + b2[1]) / 2.0];
                let (z0, pan0, mid0) = (pinch.zoom, pinch.pan, pinch.mid);
                let z = (z0 * dist / pinch.dist).clamp(0.5, 16.0);
                i.view.zoom = z0;
                i.view.pan = pan0;
                zoom_about(i, mid0, z);
                i.view.pan[0] += mid[0] - mid0[0];
                i.view.pan[1] += mid[1] - mid0[1];
                drop(b);
                schedule(state);
            }
            return;
        }
        let k = i.ed.pixels_per_unit(&i.view);
        match &i.drag {
            Some(Drag::Handle { handle, from }) => Msg::DragHandle {
                handle: *handle,
                delta: [(p[0] - from[0]) / k, (p[1] - from[1]) / k],
            },
            Some(Drag::Move { from }) => Msg::MoveCrop {
                delta: [(p[0] - from[0]) / k, (p[1] - from[1]) / k],
            },
            Some(Drag::Stroke) => {
                // Every coalesced sample (pens and fast mice give several per frame).
                let at = i.ed.screen_to_display(&i.view, p);
                Msg::StrokeTo {
                    at,
                    pressure: pressure(ev),
                }
            }
            Some(Drag::Pan { from, pan }) => {
                i.view.pan = [pan[0] + p[0] - from[0], pan[1] + p[1] - from[1]];
                drop(b);
                schedule(state);
                return;
            }
            None => return,
        }
    };
    send(state, msg);
}

fn pointerup(state: &State, ev: &PointerEvent) {
    let end = {
        let mut b = state.borrow_mut();
        let Some(i) = b.as_mut() else { return };
        i.pointers.retain(|(id, _)| *id != ev.pointer_id());
        if i.pinch.is_some() {
            if i.pointers.is_empty() {
                i.pinch = None;
            }
            false
        } else {
            i.drag.take().is_some()
        }
    };
    if end {
        send(state, Msg::End);
    }
}

/// For tests and benchmarks: what the open editor is doing.
#[wasm_bindgen]
pub fn debug() -> JsValue {
    let o = js_sys::Object::new();
    let Some(state) = CURRENT.with(|c| c.borrow().clone()) else {
        return JsValue::NULL;
    };
    let b = state.borrow();
    let Some(i) = b.as_ref() else {
        return JsValue::NULL;
    };
    let set = |k: &str, v: JsValue| {
        let _ = js_sys::Reflect::set(&o, &k.into(), &v);
    };
    if let Ok(g) = i.gpu.try_borrow() {
        set("backend", g.backend.into());
        set("adapter", g.adapter_name.clone().into());
        set("maxTexture", g.max_texture.into());
        set("fullSizeTextures", g.full_size_textures.into());
    }
    let (w, h) = i.ed.output_size();
    set("width", w.into());
    set("height", h.into());
    set("angle", i.ed.edit.angle.into());
    set("strokes", (i.ed.edit.strokes.len() as u32).into());
    set("zoom", i.view.zoom.into());
    let c = i.ed.edit.crop;
    let crop = js_sys::Array::of4(&c.x0.into(), &c.y0.into(), &c.x1.into(), &c.y1.into());
    set("crop", crop.into());
    let frames = js_sys::Float64Array::from(&i.frame_ms[..]);
    set("frameMs", frames.into());
    o.into()
}

/// For tests and benchmarks: forgets the frame times recorded so far.
#[wasm_bindgen]
pub fn reset_frames() {
    if let Some(state) = CURRENT.with(|c| c.borrow().clone()) {
        if let Some(i) = state.borrow_mut().as_mut() {
            i.frame_ms.clear();
        }
    }
}

/// For tests: the CPU reference of what Done would give now (`{width, height, data}`).
#[wasm_bindgen]
pub fn reference() -> JsValue {
    let Some(state) = CURRENT.with(|c| c.borrow().clone()) else {
        return JsValue::NULL;
    };
    let b = state.borrow();
    let Some(i) = b.as_ref() else {
        return JsValue::NULL;
    };
    let out = raster::export(&i.ed, &i.image);
    let o = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&o, &"width".into(), &out.width.into());
    let _ = js_sys::Reflect::set(&o, &"height".into(), &out.height.into());
    let _ = js_sys::Reflect::set(
        &o,
        &"data".into(),
        &js_sys::Uint8Array::from(&out.data[..]).into(),
    );
    o.into()
}
