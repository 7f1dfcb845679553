//! Packshot on CPU nodes, without a generative model: the product is matted with U²-Netp, the
//! person is cut away when the photo is on-model, and the product is straightened, cropped and
//! composed on a clean canvas of the requested ratio and resolution with a soft shadow.
//!
//! Pipeline:
//! 1. **Matte**: [`BackgroundRemover::alpha`] (refined, full resolution). Analysis runs on a copy
//!    at most [`ANALYSIS_SIDE`] pixels on the long side. A flat image, a salient region under
//!    0.5 % of the frame, or one whose colours match its surroundings (noise, texture) is
//!    refused with [`EngineError::Input`]. Specks are dropped: only the largest connected
//!    component and those at least a tenth of its area are kept.
//! 2. **Person removal** (on-model photos, see [`remove_person`]): the head (face, hair, hat) is
//!    cut above the neck found in the mask's width profile, exposed skin (neck, arms, hands,
//!    legs) is removed with a skin classifier calibrated on the face, and a lower garment cut by
//!    the frame is cut away at the hem. Garments remain.
//! 3. **Straighten and crop**: an elongated product tilted by 3–20° is rotated onto the nearest
//!    axis (principal axis of the mask; never for on-model photos); the product is cropped to
//!    its bounding box.
//! 4. **Edges** ([`guided_filter_rgb`], [`decontaminate`]): the soft alpha is snapped to the
//!    photo's colour edges, pixels whose colour is the local old background lose their alpha,
//!    and edge colours are decontaminated (the old background is solved out and blended with
//!    colours pulled from inside the mask), so no halo of the old background shows.
//! 5. **Compose** ([`compose`]): product centred, filling [`Style::fill`] of the limiting
//!    dimension, on the style's background with a contact shadow (standing products), a drop
//!    shadow (flat-lay, on-hanger) or none (floating); optional studio floor gradient.
//!
//! Variants differ in framing tightness and shadow strength, spread and direction; the same
//! input always gives the same outputs.

use atelier_core::catalog::AspectRatio;
use atelier_core::pricing::Resolution;
use fast_image_resize as fr;
use image::{DynamicImage, ImageEncoder, Rgb, RgbImage, RgbaImage};

use crate::bgremove::BackgroundRemover;
use crate::imaging::unsharp;
use crate::imaging::{box_mean, Plane};
use crate::imaging::{Encoded, EngineError};

/// The engine's name in job events.
pub const ENGINE: &str = "packshot-matte-compose";

use crate::cutout::*;
pub use crate::cutout::{isolate, Cutout};

/// What the caller asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct PackshotSpec {
    /// None: the source's ratio (clamped to 9:16…16:9).
    pub aspect_ratio: Option<AspectRatio>,
    pub resolution: Resolution,
    /// 1..=4
    pub variants: u8,
    pub prompt: Option<String>,
}

/// The shadow under or behind the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shadow {
    /// A soft, flattened shadow where the product meets the floor (default).
    Contact,
    /// The silhouette blurred and offset (flat-lay, top-down, on-hanger against a wall).
    Drop,
    /// None (floating).
    None,
}

/// The presentation parsed from the prompt; see [`style_from_prompt`].
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    pub background: Rgb<u8>,
    pub shadow: Shadow,
    /// Multiplies the shadow's opacity: 0.6 soft/subtle, 1 default, 1.6 hard/dramatic.
    pub shadow_strength: f32,
    /// A hard shadow is sharper (less blur).
    pub hard_shadow: bool,
    /// A studio floor: the background darkens gently below the product's base.
    pub floor: bool,
    /// Share of the canvas's limiting dimension the product fills (0.82 by default).
    pub fill: f32,
}

impl Default for Style {
    fn default() -> Self {
        Style {
            background: Rgb([255, 255, 255]),
            shadow: Shadow::Contact,
            shadow_strength: 1.0,
            hard_shadow: false,
            floor: false,
            fill: DEFAULT_FILL,
        }
    }
}

const DEFAULT_FILL: f32 = 0.82;

/// Background words → colour. Longer phrases win over the words inside them ("light grey" over
/// "grey"); surfaces are approximated by their colour.
const COLOURS: &[(&[&str], [u8; 3])] = &[
    (
        &[
            "white",
            "pure white",
            "bright white",
            "clean white",
            "snow white",
        ],
        [255, 255, 255],
    ),
    (
        &["off white", "ivory", "eggshell", "neutral", "warm white"],
        [246, 244, 238],
    ),
    (&["cream", "creamy"], [243, 236, 220]),
    (
        &[
            "light grey",
            "light gray",
            "pale grey",
            "pale gray",
            "silver",
            "marble",
            "soft grey",
        ],
        [230, 230, 230],
    ),
    (
        &[
            "grey",
            "gray",
            "mid grey",
            "mid gray",
            "medium grey",
            "medium gray",
            "neutral grey",
        ],
        [196, 196, 196],
    ),
    (&["concrete", "cement", "stone"], [200, 198, 194]),
    (
        &[
            "dark grey",
            "dark gray",
            "charcoal",
            "graphite",
            "slate",
            "anthracite",
        ],
        [60, 60, 62],
    ),
    (&["black", "jet black"], [20, 20, 20]),
    (
        &["beige", "sand", "oatmeal", "linen", "nude"],
        [233, 223, 207],
    ),
    (&["taupe", "greige"], [201, 188, 173]),
    (&["tan", "camel", "wood", "wooden", "oak"], [217, 195, 161]),
    (
        &[
            "pink",
            "pastel pink",
            "light pink",
            "blush",
            "rose",
            "baby pink",
        ],
        [247, 221, 226],
    ),
    (
        &[
            "blue",
            "pastel blue",
            "light blue",
            "baby blue",
            "sky blue",
            "powder blue",
        ],
        [219, 231, 244],
    ),
    (&["navy", "navy blue", "dark blue"], [31, 43, 69]),
    (
        &["green", "pastel green", "mint", "light green", "sage"],
        [220, 236, 223],
    ),
    (
        &["lavender", "lilac", "pastel purple", "purple", "violet"],
        [231, 222, 240],
    ),
    (
        &["yellow", "pastel yellow", "butter", "lemon"],
        [247, 239, 204],
    ),
    (
        &["peach", "apricot", "coral", "pastel orange"],
        [248, 223, 207],
    ),
    (&["terracotta", "rust"], [199, 121, 91]),
    (&["brown", "chocolate"], [107, 79, 58]),
    (&["red"], [201, 57, 58]),
];

/// Words after a colour that mark it as the background's ("on beige" works too).
const BACKDROP_NOUNS: &[&str] = &[
    "background",
    "backdrop",
    "surface",
    "floor",
    "wall",
    "paper",
    "sweep",
    "table",
    "seamless",
    "canvas",
    "backround",
    "bg",
];

const NO_SHADOW: &[&str] = &[
    "no shadow",
    "no shadows",
    "without shadow",
    "without shadows",
    "without a shadow",
    "shadowless",
    "no drop shadow",
];
const FLOATING: &[&str] = &[
    "floating",
    "float",
    "floats",
    "suspended",
    "levitating",
    "hovering",
];
const FLAT_LAY: &[&str] = &[
    "flat lay",
    "flatlay",
    "flat laid",
    "laid flat",
    "lay flat",
    "lying flat",
    "top down",
    "topdown",
    "overhead",
    "from above",
    "birds eye",
    "bird s eye",
    "knolling",
];
const HANGER: &[&str] = &[
    "hanger",
    "on hanger",
    "hanging",
    "against a wall",
    "on a wall",
];
const SOFT: &[&str] = &[
    "soft shadow",
    "soft shadows",
    "subtle",
    "soft light",
    "window light",
    "diffuse",
    "diffused",
    "gentle",
    "light shadow",
    "faint shadow",
];
const HARD: &[&str] = &[
    "hard shadow",
    "hard shadows",
    "strong shadow",
    "deep shadow",
    "dramatic",
    "editorial",
    "harsh",
    "high contrast",
    "crisp shadow",
    "hard light",
];
const FLOOR: &[&str] = &[
    "studio",
    "floor",
    "sweep",
    "cyclorama",
    "infinity cove",
    "plinth",
    "pedestal",
    "ground",
    "tabletop",
];
const TIGHT: &[&str] = &[
    "tight",
    "close up",
    "closeup",
    "fill the frame",
    "fills the frame",
    "full frame",
    "large",
    "zoomed in",
];
const WIDE: &[&str] = &[
    "wide",
    "airy",
    "negative space",
    "lots of space",
    "plenty of space",
    "small",
    "minimal",
    "minimalist",
    "breathing room",
    "zoomed out",
];

/// Lower case, words of letters/digits (and `#`) separated by single spaces, padded with one.
fn normalize(p: &str) -> String {
    let mut s = String::from(" ");
    for c in p.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '#' {
            s.push(c);
        } else if !s.ends_with(' ') {
            s.push(' ');
        }
    }
    if !s.ends_with(' ') {
        s.push(' ');
    }
    s
}

fn has(n: &str, phrases: &[&str]) -> bool {
    phrases.iter().any(|p| n.contains(&format!(" {p} ")))
}

/// The background colour the prompt names, if any: a `#rrggbb` code, else the colour marked as
/// the background ("on beige", "grey backdrop"), else the last colour named.
fn colour_from_prompt(n: &str) -> Option<[u8; 3]> {
    // A hex code.
    for w in n.split(' ') {
        if let Some(h) = w.strip_prefix('#') {
            if h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()) {
                let v = u32::from_str_radix(h, 16).ok()?;
                return Some([(v >> 16) as u8, (v >> 8) as u8, v as u8]);
            }
        }
    }
    // Every occurrence (start, end, colour); longer phrases win where they overlap.
    let mut found: Vec<(usize, usize, [u8; 3])> = Vec::new();
    for (phrases, rgb) in COLOURS {
        for p in *phrases {
            let pat = format!(" {p} ");
            let mut from = 0;
            while let Some(i) = n[from..].find(&pat) {
                let start = from + i + 1;
                found.push((start, start + p.len(), *rgb));
                from = start;
            }
        }
    }
    let kept: Vec<_> = found
        .iter()
        .filter(|a| {
            !found
                .iter()
                .any(|b| b.0 <= a.0 && b.1 >= a.1 && (b.1 - b.0) > (a.1 - a.0))
        })
        .copied()
        .collect();
    let marked = kept.iter().filter(|(s, e, _)| {
        let before = n[..*s].trim_end();
        let after = n[*e..].trim_start();
        ["on", "against", "over", "onto"]
            .iter()
            .any(|w| before.ends_with(&format!(" {w}")))
            || BACKDROP_NOUNS
                .iter()
                .any(|w| after.starts_with(&format!("{w} ")))
    });
    marked
        .max_by_key(|m| m.0)
        .or_else(|| kept.iter().max_by_key(|m| m.0))
        .map(|m| m.2)
}

/// The style a prompt asks for. Matching is on whole words, case-insensitive, punctuation and
/// hyphens ignored ("flat-lay" = "flat lay").
///
/// - Background: white by default; the colours of [`COLOURS`] (white, off-white/ivory/neutral,
///   cream, light grey/silver/marble, grey, concrete/stone, dark grey/charcoal, black,
///   beige/sand/linen, taupe, tan/camel/wood, pastel pink/blush, pastel blue/sky blue, navy,
///   mint/sage/green, lavender/lilac, yellow/butter, peach/coral, terracotta, brown, red) or a
///   `#rrggbb` code. With several colours, the one marked as the background wins ("white shirt
///   on beige", "grey backdrop"), else the last named.
/// - Shadow: contact shadow by default (ghost mannequin, standing products); "flat-lay",
///   "top-down", "overhead", "from above", "knolling", "hanger"/"hanging", "drop shadow" →
///   drop shadow around the silhouette; "floating", "suspended", "no shadow", "shadowless" →
///   none ("drop shadow" and "contact shadow" override "floating"; "no shadow" overrides all).
/// - Shadow strength: "soft shadow", "subtle", "window light", "diffuse" → 0.6; "hard shadow",
///   "strong shadow", "dramatic", "editorial", "harsh" → 1.6 and sharper.
/// - Floor: "studio", "floor", "sweep", "cyclorama", "plinth", "pedestal", "ground", "tabletop"
///   → a studio floor gradient (not with a top-down view).
/// - Framing: "tight", "close-up", "fill the frame", "large" → 0.92 of the frame; "wide",
///   "airy", "negative space", "minimal", "small" → 0.70; default 0.82.
pub fn style_from_prompt(prompt: Option<&str>) -> Style {
    let mut style = Style::default();
    let Some(p) = prompt else {
        return style;
    };
    let n = normalize(p);
    if let Some(c) = colour_from_prompt(&n) {
        style.background = Rgb(c);
    }
    let flat = has(&n, FLAT_LAY);
    style.shadow = if has(&n, NO_SHADOW) {
        Shadow::None
    } else if has(&n, &["drop shadow", "drop shadows", "cast shadow"]) {
        Shadow::Drop
    } else if has(&n, &["contact shadow", "ground shadow", "floor shadow"]) {
        Shadow::Contact
    } else if has(&n, FLOATING) {
        Shadow::None
    } else if flat || has(&n, HANGER) {
        Shadow::Drop
    } else {
        Shadow::Contact
    };
    if has(&n, HARD) {
        style.shadow_strength = 1.6;
        style.hard_shadow = true;
    } else if has(&n, SOFT) {
        style.shadow_strength = 0.6;
    }
    style.floor = !flat && has(&n, FLOOR);
    if has(&n, TIGHT) {
        style.fill = 0.92;
    } else if has(&n, WIDE) {
        style.fill = 0.70;
    }
    style
}

/// The canvas for a ratio (width / height) at a resolution tier: about the tier's pixel count,
/// sides multiples of 8.
pub fn canvas_size(ratio: f64, resolution: Resolution) -> (u32, u32) {
    let px = resolution.pixels() as f64;
    let w = ((px * ratio).sqrt() / 8.0).round().max(1.0) * 8.0;
    let h = ((w / ratio) / 8.0).round().max(1.0) * 8.0;
    (w as u32, h as u32)
}

/// The canvas ratio: the requested one, else the source's clamped to 9:16…16:9.
fn canvas_ratio(spec: &PackshotSpec, w: u32, h: u32) -> f64 {
    match spec.aspect_ratio {
        Some(ar) => ar.value(),
        None => (w as f64 / h as f64).clamp(9.0 / 16.0, 16.0 / 9.0),
    }
}

// ---------------------------------------------------------------------------------------------
// Binary masks at analysis scale.

/// How the variants differ: framing, shadow strength, shadow spread, light direction.
#[derive(Debug, Clone, Copy)]
struct Variant {
    fill: f32,
    strength: f32,
    spread: f32,
    /// −1 (light from the right) … 1 (light from the left): where the contact shadow leans.
    lean: f32,
    /// The drop shadow's direction (x, y), y down.
    drop: (f32, f32),
}

const VARIANTS: [Variant; 4] = [
    Variant {
        fill: 1.0,
        strength: 1.0,
        spread: 1.0,
        lean: 0.0,
        drop: (0.25, 1.0),
    },
    Variant {
        fill: 1.09,
        strength: 1.25,
        spread: 0.8,
        lean: 0.0,
        drop: (0.7, 0.7),
    },
    Variant {
        fill: 0.86,
        strength: 0.8,
        spread: 1.35,
        lean: 0.0,
        drop: (-0.7, 0.7),
    },
    Variant {
        fill: 1.0,
        strength: 1.1,
        spread: 1.0,
        lean: 0.8,
        drop: (0.0, 1.0),
    },
];

fn resize_rgba(src: &RgbaImage, w: u32, h: u32) -> Result<RgbaImage, EngineError> {
    let img = fr::images::Image::from_vec_u8(
        src.width(),
        src.height(),
        src.as_raw().clone(),
        fr::PixelType::U8x4,
    )
    .map_err(|e| EngineError::Run(e.to_string()))?;
    let mut dst = fr::images::Image::new(w, h, fr::PixelType::U8x4);
    fr::Resizer::new()
        .resize(
            &img,
            &mut dst,
            &fr::ResizeOptions::new()
                .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
                .use_alpha(true),
        )
        .map_err(|e| EngineError::Run(e.to_string()))?;
    Ok(RgbaImage::from_raw(w, h, dst.into_vec()).expect("size"))
}

/// The product placed on the canvas: its pixels and where they go.
struct Placed {
    img: RgbaImage,
    /// Canvas position of `img`'s top-left corner.
    ox: i64,
    oy: i64,
    /// The product's tight box on the canvas (x0, y0, x1, y1).
    bx: (f32, f32, f32, f32),
}

fn place(cut: &Cutout, cw: u32, ch: u32, fill: f32) -> Result<Placed, EngineError> {
    let (bx0, by0, bx1, by1) = cut.bbox;
    let (pw, ph) = ((bx1 - bx0) as f32, (by1 - by0) as f32);
    let scale = fill * (cw as f32 / pw).min(ch as f32 / ph);
    let iw = ((cut.image.width() as f32 * scale).round() as u32).max(1);
    let ih = ((cut.image.height() as f32 * scale).round() as u32).max(1);
    let mut img = resize_rgba(&cut.image, iw, ih)?;
    if scale > 1.3 {
        // Upscaled: restore some crispness (colour only; the alpha stays soft).
        let r = (scale.round() as usize).clamp(1, 3);
        unsharp(&mut img, iw as usize, ih as usize, 4, r, 0.35, 2);
    }
    // Centre the tight box on the canvas.
    let (tx0, ty0) = (bx0 as f32 * scale, by0 as f32 * scale);
    let (tw, th) = (pw * scale, ph * scale);
    let left = (cw as f32 - tw) / 2.0;
    let top = (ch as f32 - th) / 2.0;
    Ok(Placed {
        img,
        ox: (left - tx0).round() as i64,
        oy: (top - ty0).round() as i64,
        bx: (left, top, left + tw, top + th),
    })
}

/// The product's alpha on the canvas grid at `scale` (≤ 1), for shadows.
fn placed_alpha(p: &Placed, cw: u32, ch: u32, scale: f32) -> Plane {
    let (sw, sh) = (
        ((cw as f32 * scale).round() as usize).max(1),
        ((ch as f32 * scale).round() as usize).max(1),
    );
    let iw = ((p.img.width() as f32 * scale).round() as u32).max(1);
    let ih = ((p.img.height() as f32 * scale).round() as u32).max(1);
    let a = Plane::new(
        p.img.width() as usize,
        p.img.height() as usize,
        p.img.pixels().map(|q| q[3] as f32 / 255.0).collect(),
    );
    let a = resize_plane(&a, iw, ih);
    let (ox, oy) = (
        (p.ox as f32 * scale).round() as i64,
        (p.oy as f32 * scale).round() as i64,
    );
    let mut out = vec![0f32; sw * sh];
    for y in 0..ih as i64 {
        let cy = y + oy;
        if cy < 0 || cy >= sh as i64 {
            continue;
        }
        for x in 0..iw as i64 {
            let cx = x + ox;
            if cx < 0 || cx >= sw as i64 {
                continue;
            }
            out[cy as usize * sw + cx as usize] = a.data[y as usize * iw as usize + x as usize];
        }
    }
    Plane::new(sw, sh, out)
}

fn blur(p: &Plane, r: usize) -> Plane {
    let r = r.max(1);
    box_mean(&box_mean(&box_mean(p, r), r), r)
}

/// The shadow's opacity (0..1) on a grid `scale` times the canvas.
fn shadow_map(
    style: &Style,
    v: &Variant,
    p: &Placed,
    cw: u32,
    ch: u32,
    scale: f32,
) -> Option<Plane> {
    let strength = style.shadow_strength * v.strength;
    let a = placed_alpha(p, cw, ch, scale);
    let (sw, sh) = (a.width, a.height);
    let (bx0, _, bx1, by1) = p.bx;
    let (bx0, bx1, by1) = (bx0 * scale, bx1 * scale, by1 * scale);
    let bh = (p.bx.3 - p.bx.1) * scale;
    let bw = bx1 - bx0;
    match style.shadow {
        Shadow::None => None,
        Shadow::Contact => {
            // The footprint: how much of each column the product covers in its lowest 12 %.
            let band_top = (by1 - 0.12 * bh).max(0.0) as usize;
            let base = (by1.round() as usize).min(sh);
            let mut foot = vec![0f32; sw];
            for y in band_top..base {
                for (x, f) in foot.iter_mut().enumerate() {
                    *f = f.max(a.data[y * sw + x]);
                }
            }
            let shift = v.lean * 0.04 * bw;
            let hard = if style.hard_shadow { 0.6 } else { 1.0 };
            let core_h = (0.022 * bh * v.spread * hard).max(1.5);
            let amb_h = (0.06 * bh * v.spread).max(3.0);
            let (acx, arx) = ((bx0 + bx1) / 2.0 + shift * 1.5, 0.58 * bw * v.spread.sqrt());
            let mut s = vec![0f32; sw * sh];
            for y in 0..sh {
                let dy = y as f32 + 0.5 - by1;
                // Mostly below the base; a little behind it.
                let core = if dy >= 0.0 {
                    (-(dy / core_h).powi(2)).exp()
                } else {
                    (-(dy / (0.5 * core_h)).powi(2)).exp()
                };
                let amb_y = if dy >= 0.0 {
                    (-(dy / amb_h).powi(2)).exp()
                } else {
                    (-(dy / (0.6 * amb_h)).powi(2)).exp()
                };
                if core < 1e-3 && amb_y < 1e-3 {
                    continue;
                }
                for x in 0..sw {
                    let fx = x as f32 - shift;
                    let fi = (fx.round().max(0.0) as usize).min(sw - 1);
                    let ax = ((x as f32 + 0.5 - acx) / arx).powi(2);
                    let amb = amb_y * (-ax * 2.0).exp();
                    s[y * sw + x] = 0.36 * core * foot[fi] + 0.13 * amb;
                }
            }
            let r = ((core_h * 0.6) as usize).max(1);
            let mut s = blur(&Plane::new(sw, sh, s), r);
            for v in &mut s.data {
                *v = (*v * strength).min(0.7);
            }
            Some(s)
        }
        Shadow::Drop => {
            let dim = sw.min(sh) as f32;
            let (dx, dy) = v.drop;
            let off = 0.014 * dim * v.spread;
            let (ox, oy) = ((dx * off).round() as i64, (dy * off).round() as i64);
            let mut shifted = vec![0f32; sw * sh];
            for y in 0..sh as i64 {
                let sy = y - oy;
                if sy < 0 || sy >= sh as i64 {
                    continue;
                }
                for x in 0..sw as i64 {
                    let sx = x - ox;
                    if sx < 0 || sx >= sw as i64 {
                        continue;
                    }
                    shifted[y as usize * sw + x as usize] = a.data[sy as usize * sw + sx as usize];
                }
            }
            let hard = if style.hard_shadow { 0.35 } else { 1.0 };
            let r = ((0.009 * dim * v.spread * hard) as usize).max(1);
            let mut s = blur(&Plane::new(sw, sh, shifted), r);
            for v in &mut s.data {
                *v = (*v * 0.4 * strength).min(0.65);
            }
            Some(s)
        }
    }
}

/// Bilinear sample of a plane at canvas coordinates scaled by `scale`.
fn sample(p: &Plane, x: f32, y: f32) -> f32 {
    let fx = (x - 0.5).clamp(0.0, (p.width - 1) as f32);
    let fy = (y - 0.5).clamp(0.0, (p.height - 1) as f32);
    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(p.width - 1), (y0 + 1).min(p.height - 1));
    let (tx, ty) = (fx - x0 as f32, fy - y0 as f32);
    let d = &p.data;
    let a = d[y0 * p.width + x0] * (1.0 - tx) + d[y0 * p.width + x1] * tx;
    let b = d[y1 * p.width + x0] * (1.0 - tx) + d[y1 * p.width + x1] * tx;
    a * (1.0 - ty) + b * ty
}

/// One packshot on a `cw`×`ch` canvas.
pub fn compose(
    cut: &Cutout,
    style: &Style,
    variant: usize,
    cw: u32,
    ch: u32,
) -> Result<RgbImage, EngineError> {
    let v = VARIANTS[variant % VARIANTS.len()];
    let fill = (style.fill * v.fill).clamp(0.4, 0.95);
    let placed = place(cut, cw, ch, fill)?;
    let scale = (1024.0 / cw.max(ch) as f32).min(1.0);
    let shadow = shadow_map(style, &v, &placed, cw, ch, scale);
    let bgc = [
        style.background[0] as f32,
        style.background[1] as f32,
        style.background[2] as f32,
    ];
    let base = placed.bx.3;
    let mut out = RgbImage::new(cw, ch);
    let (iw, ih) = (placed.img.width() as i64, placed.img.height() as i64);
    for y in 0..ch {
        // The studio floor: darker below the base, a soft horizon around it.
        let floor = if style.floor {
            let t = smoothstep(base - 0.06 * ch as f32, base + 0.04 * ch as f32, y as f32);
            let depth = (y as f32 - base).max(0.0) / ch as f32;
            1.0 - 0.05 * t - 0.12 * depth
        } else {
            1.0
        };
        let row = [bgc[0] * floor, bgc[1] * floor, bgc[2] * floor];
        for x in 0..cw {
            let s = shadow
                .as_ref()
                .map(|m| sample(m, (x as f32 + 0.5) * scale, (y as f32 + 0.5) * scale))
                .unwrap_or(0.0);
            let mut c = [row[0] * (1.0 - s), row[1] * (1.0 - s), row[2] * (1.0 - s)];
            let (px, py) = (x as i64 - placed.ox, y as i64 - placed.oy);
            if px >= 0 && py >= 0 && px < iw && py < ih {
                let p = placed.img.get_pixel(px as u32, py as u32);
                let a = p[3] as f32 / 255.0;
                if a > 0.0 {
                    for k in 0..3 {
                        c[k] = p[k] as f32 * a + c[k] * (1.0 - a);
                    }
                }
            }
            out.put_pixel(
                x,
                y,
                Rgb([
                    c[0].round().clamp(0.0, 255.0) as u8,
                    c[1].round().clamp(0.0, 255.0) as u8,
                    c[2].round().clamp(0.0, 255.0) as u8,
                ]),
            );
        }
    }
    Ok(out)
}

fn encode(img: &RgbImage) -> Result<Encoded, EngineError> {
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    )
    .write_image(
        img.as_raw(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|e| EngineError::Encode(e.to_string()))?;
    Ok(Encoded {
        png,
        width: img.width(),
        height: img.height(),
    })
}

/// Runs the tool: `spec.variants` PNGs (RGB) of the canvas size for the spec.
pub fn run(
    bg: &BackgroundRemover,
    img: &DynamicImage,
    spec: &PackshotSpec,
) -> Result<Vec<Encoded>, EngineError> {
    if !(1..=4).contains(&spec.variants) {
        return Err(EngineError::Input(format!(
            "Packshot makes 1 to 4 images per run, not {}: choose a number from 1 to 4.",
            spec.variants
        )));
    }
    let style = style_from_prompt(spec.prompt.as_deref());
    let (cw, ch) = canvas_size(
        canvas_ratio(spec, img.width(), img.height()),
        spec.resolution,
    );
    let cut = isolate(bg, img)?;
    (0..spec.variants as usize)
        .map(|v| encode(&compose(&cut, &style, v, cw, ch)?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompts_map_to_styles() {
        let d = style_from_prompt(None);
        assert_eq!(d, Style::default());
        assert_eq!(d.background, Rgb([255, 255, 255]));
        let s = style_from_prompt(Some("Flat-lay on light grey, soft shadows"));
        assert_eq!(s.background, Rgb([230, 230, 230]));
        assert_eq!(s.shadow, Shadow::Drop);
        assert_eq!(s.shadow_strength, 0.6);
        assert!(!s.floor);
        assert_eq!(
            style_from_prompt(Some("grey")).background,
            Rgb([196, 196, 196])
        );
        assert_eq!(
            style_from_prompt(Some("floating garment")).shadow,
            Shadow::None
        );
        assert_eq!(
            style_from_prompt(Some("no shadow, beige")).shadow,
            Shadow::None
        );
        let s = style_from_prompt(Some("white shirt on beige backdrop"));
        assert_eq!(s.background, Rgb([233, 223, 207]));
        let s = style_from_prompt(Some("black background, a white sneaker"));
        assert_eq!(s.background, Rgb([20, 20, 20]), "the marked colour wins");
        assert_eq!(
            style_from_prompt(Some("studio backdrop #1A2B3C")).background,
            Rgb([0x1a, 0x2b, 0x3c])
        );
        let s = style_from_prompt(Some("Studio floor, hard shadow, tight crop"));
        assert!(s.floor && s.hard_shadow && s.fill > 0.9);
        assert_eq!(s.shadow, Shadow::Contact);
        assert_eq!(style_from_prompt(Some("on-hanger")).shadow, Shadow::Drop);
        assert_eq!(
            style_from_prompt(Some("floating with a drop shadow")).shadow,
            Shadow::Drop
        );
        assert!(style_from_prompt(Some("lots of space")).fill < 0.75);
        // Words inside other words do not count.
        assert_eq!(
            style_from_prompt(Some("redesign")).background,
            Rgb([255, 255, 255])
        );
    }

    #[test]
    fn canvas_sizes() {
        assert_eq!(canvas_size(1.0, Resolution::K1), (1024, 1024));
        assert_eq!(canvas_size(1.0, Resolution::K4), (4096, 4096));
        for ar in AspectRatio::STUDIO {
            for res in Resolution::ALL {
                let (w, h) = canvas_size(ar.value(), res);
                let r = w as f64 / h as f64;
                assert!((r / ar.value() - 1.0).abs() < 0.01, "{ar:?} {res:?}");
                let px = (w * h) as f64 / res.pixels() as f64;
                assert!((px - 1.0).abs() < 0.02, "{ar:?} {res:?} {px}");
            }
        }
    }
}
