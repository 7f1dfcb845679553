//! Image to Video on CPU: a subtle camera move over one photo, or a dissolve from the photo into
//! an End Image, rendered frame by frame and encoded as H.264 in an MP4 that browsers play.
//!
//! **Output.** H.264 Constrained Baseline (openh264), yuv420p, BT.601 limited range (signalled
//! in the SPS), 30 fps: 150 frames for 5 s, 300 for 10 s, an IDR every 2 s, muxed by muxide with
//! `moov` before `mdat` (fast start). The frame keeps the input's aspect ratio; the tier (480,
//! 720, 1080) names the short side (720p of a 2:3 portrait is 720×1080, of a 16:9 photo
//! 1280×720), both sides even. Small inputs are upscaled to the tier (the tier is what the user
//! asked for); the long side is capped at 3840, openh264's limit.
//!
//! **Rendering.** The photo is centre-cropped to the exact frame ratio and pre-scaled once
//! (Lanczos3) to the frame size times the motion's largest zoom, so no frame is upscaled. Each
//! frame is then a sub-pixel crop window of that source resized to the frame with Catmull-Rom
//! (fast_image_resize; nearly as sharp as Lanczos3 with 4 taps instead of 6), which keeps slow
//! moves smooth. Rendering runs on the calling thread and
//! encoding on a second one, so the two overlap on a 2-core node.
//!
//! **Motions** (all eased in and out with a half cosine over the whole clip):
//! - push-in: zoom 1.00 → 1.12 while the window drifts towards the subject (the upper middle of
//!   the matte's bounding box, where face and garment are), as far as the margin allows;
//! - pull-out: the reverse;
//! - pan left/right/up/down: a fixed 1.064× zoom whose window travels 6 % of the width (or
//!   height) across the picture; "tilt up/down" are the vertical pans;
//! - parallax: the matte splits the photo into a subject layer and a background plate whose
//!   hidden part is filled by push-pull diffusion (a blurred continuation of the surroundings);
//!   the camera dollies in and drifts sideways, the subject layer growing 1.00 → 1.10 and
//!   drifting 2.8 % of the width while the background only grows to 1.04 and drifts 1 %;
//! - transition (with an End Image): a cross-dissolve (eased, over the middle 80 % of the clip)
//!   while the start image gently pushes in and the end image settles from a slight zoom to rest,
//!   so the first frame is the start image and the last frame the end image, both uncropped.
//!
//! **Default** with no prompt: parallax when the matte finds a clear subject, else a push-in to
//! the centre; with an End Image always the transition. A prompt with an End Image still has to
//! be a camera move; a pan steers the drift of the dissolve, "zoom in"/"zoom out" its zoom.
//!
//! The matte (≈250 ms) is computed only when the motion uses it: for the default, push-in,
//! pull-out and parallax; never for pans or transitions.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use fast_image_resize as fr;
use image::{DynamicImage, RgbImage};
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, UsageType, VuiConfig,
};
use openh264::formats::{RgbSliceU8, YUVBuffer};
use openh264::{OpenH264API, Timestamp};

use crate::bgremove::BackgroundRemover;
use crate::imaging::push_pull;
use crate::imaging::EngineError;
use crate::imaging::{box_mean, Plane};

/// Frames per second of every clip.
const FPS: u32 = 30;
/// openh264's largest frame side.
const MAX_SIDE: u32 = 3840;
/// Prompts are short motion instructions.
const MAX_PROMPT: usize = 200;
/// Bits per pixel per frame for the rate control (≈ 3 Mbps at 720×1280, SSIM ≈ 0.985).
const BITS_PER_PIXEL: f64 = 0.1;
/// The tail of every refusal: what the engine can do, and what to do instead.
const CAN_DO: &str = "this engine makes camera motion only: zoom in, zoom out, \
                      pan left/right/up/down, parallax; remove the prompt or use one of these.";

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSpec {
    /// Clip length: 5 or 10.
    pub seconds: u32,
    /// Resolution tier, the frame's short side: 480, 720 or 1080.
    pub height: u32,
    /// An optional short motion instruction ("slow zoom in", "pan left", "parallax").
    pub prompt: Option<String>,
}

/// A finished clip.
pub struct Video {
    pub mp4: Vec<u8>,
    /// The first frame, as shown: the Gallery's poster for the clip.
    pub poster: image::RgbImage,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub motion: Motion,
}

/// The camera motion of a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motion {
    PushIn,
    PullOut,
    PanLeft,
    PanRight,
    PanUp,
    PanDown,
    Parallax,
    /// A dissolve from the start image to the End Image.
    Transition,
}

impl Motion {
    pub fn label(self) -> &'static str {
        match self {
            Motion::PushIn => "push-in",
            Motion::PullOut => "pull-out",
            Motion::PanLeft => "pan-left",
            Motion::PanRight => "pan-right",
            Motion::PanUp => "pan-up",
            Motion::PanDown => "pan-down",
            Motion::Parallax => "parallax",
            Motion::Transition => "transition",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Prompt → motion.

/// What a prompt asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Camera(Motion),
    Transition,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Zoom,
    Push,
    Pull,
    Dolly,
    Pan,
    Tilt,
    Move,
    Crane,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    In,
    Out,
    Left,
    Right,
    Up,
    Down,
}

fn verb(w: &str) -> Option<Verb> {
    Some(match w {
        "zoom" | "zooms" | "zooming" | "zoomed" => Verb::Zoom,
        "push" | "pushes" | "pushing" | "pushed" => Verb::Push,
        "pull" | "pulls" | "pulling" | "pulled" => Verb::Pull,
        "dolly" | "dollies" | "dollying" => Verb::Dolly,
        "pan" | "pans" | "panning" | "panned" => Verb::Pan,
        "tilt" | "tilts" | "tilting" | "tilted" => Verb::Tilt,
        "move" | "moves" | "moving" | "slide" | "slides" | "sliding" | "drift" | "drifts"
        | "drifting" | "track" | "tracks" | "tracking" | "truck" | "trucks" | "trucking"
        | "glide" | "glides" | "gliding" | "travel" | "travels" | "traveling" | "travelling"
        | "go" | "goes" | "going" => Verb::Move,
        "crane" | "cranes" | "craning" | "boom" | "booms" | "pedestal" => Verb::Crane,
        _ => return None,
    })
}

fn dir(w: &str) -> Option<Dir> {
    Some(match w {
        "in" | "inward" | "inwards" | "closer" | "forward" | "forwards" => Dir::In,
        "out" | "outward" | "outwards" | "back" | "backward" | "backwards" | "away" => Dir::Out,
        "left" | "leftward" | "leftwards" => Dir::Left,
        "right" | "rightward" | "rightwards" => Dir::Right,
        "up" | "upward" | "upwards" => Dir::Up,
        "down" | "downward" | "downwards" => Dir::Down,
        _ => return None,
    })
}

fn opposite(a: Dir, b: Dir) -> bool {
    matches!(
        (a, b),
        (Dir::Left, Dir::Right)
            | (Dir::Right, Dir::Left)
            | (Dir::Up, Dir::Down)
            | (Dir::Down, Dir::Up)
    )
}

/// A direction at `j`, reading "left to right" as "right"; returns it and the index after it.
fn dir_at(t: &[String], j: usize) -> Option<(Dir, usize)> {
    let d = dir(t.get(j)?)?;
    if t.get(j + 1).map(String::as_str) == Some("to") {
        if let Some(e) = t.get(j + 2).and_then(|w| dir(w)) {
            if opposite(d, e) {
                return Some((e, j + 3));
            }
        }
    }
    Some((d, j + 1))
}

fn pan(d: Dir) -> Option<Motion> {
    match d {
        Dir::Left => Some(Motion::PanLeft),
        Dir::Right => Some(Motion::PanRight),
        Dir::Up => Some(Motion::PanUp),
        Dir::Down => Some(Motion::PanDown),
        Dir::In | Dir::Out => None,
    }
}

/// A verb with its direction; `None` when they do not make a move ("pan in").
fn combine(v: Verb, d: Dir) -> Option<Motion> {
    match d {
        Dir::In => matches!(v, Verb::Zoom | Verb::Push | Verb::Dolly | Verb::Move)
            .then_some(Motion::PushIn),
        Dir::Out => matches!(v, Verb::Zoom | Verb::Pull | Verb::Dolly | Verb::Move)
            .then_some(Motion::PullOut),
        _ => pan(d),
    }
}

/// What a verb means on its own ("zoom", "pan"): a weak ask that a stronger one overrides.
fn bare(v: Verb) -> Option<Motion> {
    match v {
        Verb::Zoom | Verb::Push | Verb::Dolly => Some(Motion::PushIn),
        Verb::Pull => Some(Motion::PullOut),
        Verb::Pan => Some(Motion::PanRight),
        Verb::Tilt | Verb::Crane => Some(Motion::PanUp),
        Verb::Move => None,
    }
}

/// Words that only colour a camera instruction.
const FILLER: &str = "\
    a an the s of with from across over in out it its this that slow slowly slower gentle \
    gently subtle subtly smooth smoothly soft softly steady steadily slight slightly little \
    bit very really just tiny small light lightly calm elegant nice quick quickly fast \
    dramatic dramatically cinematic cinematically camera cam shot motion movement move effect \
    please video clip make add give create do photo image picture frame scene way direction \
    side more some hint continuous continuously constant model subject person her his him face \
    outfit garment dress product look";
/// Prepositions after which a target noun phrase may follow ("zoom in on her earrings").
const TARGET: &str = "on onto at toward towards into to";
/// Words that end a target phrase.
const CLAUSE: &str = "and while as then but when so meanwhile";
/// Words skipped between a verb and its direction ("pan slowly to the left").
const SKIP: &str = "\
    to the a slowly gently slightly subtly smoothly softly steadily camera very bit little";
/// Orbits and turns need a 3-D view of the scene.
const ORBIT: &str = "\
    orbit orbits orbiting rotate rotates rotating rotation turn turns turning spin spins \
    spinning revolve revolves revolving arc arcs circle circles circling around 360";
/// The subject or the scene doing something: not a camera move, even inside a target phrase.
const ACTION: &str = "\
    walk walks walking walked raise raises raising raised wave waves waving smile smiles \
    smiling dance dances dancing blink blinks blinking run runs running jump jumps jumping nod \
    nods nodding talk talks talking speak speaks speaking laugh laughs laughing wink winks \
    winking pose poses posing lift lifts lifting blow blows blowing flow flows flowing wind \
    sway sways swaying breathe breathes breathing step steps stepping sit sits sitting stand \
    stands standing";

/// Whether `w` is one of the space-separated words of `list`.
fn has(list: &str, w: &str) -> bool {
    list.split_whitespace().any(|x| x == w)
}

fn tokens(prompt: &str) -> Vec<String> {
    let p = prompt
        .to_lowercase()
        .replace("2.5d", " parallax ")
        .replace("2.5-d", " parallax ")
        .replace("3-d", "3d")
        .replace("close-up", " closeup ")
        .replace("close up", " closeup ")
        .replace("ken burns", " kenburns ");
    p.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn refuse(prompt: &str, words: &[String]) -> EngineError {
    EngineError::Input(format!(
        "the prompt \"{prompt}\" asks for something other than a camera move ({}): the picture \
         itself cannot be animated; {CAN_DO}",
        words
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// Reads a prompt: `None` when it names no motion (empty, or only words like "cinematic").
fn ask(prompt: Option<&str>) -> Result<Option<Ask>, EngineError> {
    let Some(prompt) = prompt.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let chars = prompt.chars().count();
    if chars > MAX_PROMPT {
        return Err(EngineError::Input(format!(
            "the prompt has {chars} characters; keep it to a short motion instruction (at most \
             {MAX_PROMPT}), e.g. \"slow zoom in\", or remove it."
        )));
    }
    let t = tokens(prompt);
    let (mut strong, mut weak, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    let mut in_target = false;
    let mut i = 0;
    while i < t.len() {
        let w = t[i].as_str();
        if has(ORBIT, w) {
            return Err(EngineError::Input(format!(
                "the prompt \"{prompt}\" asks to orbit or turn around the subject, which needs a \
                 3-D view of the scene that one photo does not give; {CAN_DO}"
            )));
        }
        if has(ACTION, w) {
            unknown.push(t[i].clone());
            i += 1;
            continue;
        }
        if let Some(v) = verb(w) {
            in_target = false;
            // The direction may come a few words later: "pan slowly to the left".
            let mut j = i + 1;
            while j < t.len() && j <= i + 4 && has(SKIP, &t[j]) {
                j += 1;
            }
            let found = dir_at(&t, i + 1)
                .or_else(|| dir_at(&t, j))
                .and_then(|(d, next)| combine(v, d).map(|m| (m, next)));
            match found {
                Some((m, next)) => {
                    strong.push(m);
                    i = next;
                }
                None => {
                    weak.extend(bare(v));
                    i += 1;
                }
            }
            continue;
        }
        if let Some((d, next)) = dir_at(&t, i) {
            // A bare "left" is a pan; a bare "in" or "back" says nothing on its own.
            if let Some(m) = pan(d) {
                strong.push(m);
                i = next;
            } else {
                i += 1;
            }
            continue;
        }
        match w {
            "closeup" | "kenburns" => strong.push(Motion::PushIn),
            "parallax" | "3d" | "depth" => strong.push(Motion::Parallax),
            "transition" | "transitions" | "dissolve" | "dissolves" | "crossfade" | "fade"
            | "fades" | "blend" | "blends" | "morph" | "morphs" | "morphing" => {
                if !strong.contains(&Motion::Transition) {
                    strong.push(Motion::Transition);
                }
            }
            _ if has(CLAUSE, w) => in_target = false,
            _ if has(TARGET, w) => in_target = true,
            _ if has(FILLER, w) || in_target => {}
            _ => unknown.push(t[i].clone()),
        }
        i += 1;
    }
    if !unknown.is_empty() {
        return Err(refuse(prompt, &unknown));
    }
    let transition = strong.contains(&Motion::Transition);
    strong.retain(|m| *m != Motion::Transition);
    let moves = if strong.is_empty() { weak } else { strong };
    let mut distinct: Vec<Motion> = Vec::new();
    for m in moves {
        if !distinct.contains(&m) {
            distinct.push(m);
        }
    }
    if distinct.len() > 1 {
        return Err(EngineError::Input(format!(
            "the prompt \"{prompt}\" asks for more than one camera move ({}); ask for one: zoom \
             in, zoom out, pan left/right/up/down or parallax.",
            distinct
                .iter()
                .map(|m| m.label())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(match (distinct.first(), transition) {
        (Some(m), _) => Some(Ask::Camera(*m)),
        (None, true) => Some(Ask::Transition),
        (None, false) => None,
    })
}

fn decide(ask: Option<Ask>, has_end_image: bool, has_subject: bool) -> Result<Motion, EngineError> {
    if has_end_image {
        return Ok(Motion::Transition);
    }
    match ask {
        None => Ok(if has_subject {
            Motion::Parallax
        } else {
            Motion::PushIn
        }),
        Some(Ask::Transition) => Err(EngineError::Input(
            "a transition needs an End Image: add one, or ask for a camera move: zoom in, zoom \
             out, pan left/right/up/down or parallax."
                .into(),
        )),
        Some(Ask::Camera(Motion::Parallax)) if !has_subject => Err(EngineError::Input(
            "parallax needs a subject that stands out from its background, and none was found \
             in this photo; ask for zoom in, zoom out or pan left/right/up/down instead, or \
             remove the prompt."
                .into(),
        )),
        Some(Ask::Camera(m)) => Ok(m),
    }
}

/// Picks a motion from the prompt: None/empty -> Ok(default). Unknown requests ->
/// Err(EngineError::Input(message naming the motions it can honour)).
///
/// The default is [`Motion::Transition`] with an End Image, else [`Motion::Parallax`] when the
/// photo has a clear subject, else [`Motion::PushIn`].
pub fn motion_for(
    prompt: Option<&str>,
    has_end_image: bool,
    has_subject: bool,
) -> Result<Motion, EngineError> {
    decide(ask(prompt)?, has_end_image, has_subject)
}

// ---------------------------------------------------------------------------------------------
// Geometry.

/// The frame size for an input of `w`×`h` at a tier: the tier is the short side, the ratio is
/// kept, both sides even, the long side at most [`MAX_SIDE`].
fn frame_size(w: u32, h: u32, tier: u32) -> (u32, u32) {
    let (short, long) = (w.min(h).max(1) as f64, w.max(h).max(1) as f64);
    let mut s = tier as f64;
    let mut l = s * long / short;
    if l > MAX_SIDE as f64 {
        s *= MAX_SIDE as f64 / l;
        l = MAX_SIDE as f64;
    }
    let even = |v: f64| (((v / 2.0).round() as u32) * 2).max(2);
    let (s, l) = (even(s), even(l).min(MAX_SIDE));
    if w >= h {
        (l, s)
    } else {
        (s, l)
    }
}

/// Half-cosine ease-in-out on 0..1.
fn ease(t: f64) -> f64 {
    let t = t.clamp(0.0, 1.0);
    0.5 - 0.5 * (std::f64::consts::PI * t).cos()
}

fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// A camera window over a layer: zoom ≥ 1 relative to the whole layer, centre in 0..1.
#[derive(Debug, Clone, Copy, PartialEq)]
struct View {
    zoom: f64,
    cx: f64,
    cy: f64,
}

impl View {
    const REST: View = View {
        zoom: 1.0,
        cx: 0.5,
        cy: 0.5,
    };

    /// The window centre that keeps the layer point `p` where it is in the frame at this zoom.
    fn anchored(zoom: f64, p: (f64, f64)) -> View {
        View {
            zoom,
            cx: p.0 - (p.0 - 0.5) / zoom,
            cy: p.1 - (p.1 - 0.5) / zoom,
        }
    }

    /// The window in pixels of a `sw`×`sh` layer: (left, top, width, height), kept inside.
    fn window(self, sw: u32, sh: u32) -> (f64, f64, f64, f64) {
        let (sw, sh) = (sw as f64, sh as f64);
        let z = self.zoom.max(1.0);
        let (ww, wh) = (sw / z, sh / z);
        let cx = (self.cx * sw).clamp(ww / 2.0, sw - ww / 2.0);
        let cy = (self.cy * sh).clamp(wh / 2.0, sh - wh / 2.0);
        (cx - ww / 2.0, cy - wh / 2.0, ww, wh)
    }
}

const PUSH_ZOOM: f64 = 1.12;
/// Pans: a zoom that leaves 3 % of the width on each side, travelled across.
const PAN_TRAVEL: f64 = 0.06;
const PARALLAX_FG_ZOOM: f64 = 1.10;
const PARALLAX_BG_ZOOM: f64 = 1.04;
const PARALLAX_FG_DRIFT: f64 = 0.028;
const PARALLAX_BG_DRIFT: f64 = 0.010;

fn pan_zoom() -> f64 {
    1.0 / (1.0 - PAN_TRAVEL)
}

/// The camera of a single-layer move at eased time `e`.
fn single_view(m: Motion, e: f64, anchor: (f64, f64)) -> View {
    let half = PAN_TRAVEL / 2.0;
    let pan = |cx: f64, cy: f64| View {
        zoom: pan_zoom(),
        cx,
        cy,
    };
    match m {
        Motion::PushIn | Motion::PullOut => {
            let e = if m == Motion::PullOut { 1.0 - e } else { e };
            View {
                zoom: lerp(1.0, PUSH_ZOOM, e),
                cx: lerp(0.5, anchor.0, e),
                cy: lerp(0.5, anchor.1, e),
            }
        }
        Motion::PanLeft => pan(lerp(0.5 + half, 0.5 - half, e), 0.5),
        Motion::PanRight => pan(lerp(0.5 - half, 0.5 + half, e), 0.5),
        Motion::PanUp => pan(0.5, lerp(0.5 + half, 0.5 - half, e)),
        Motion::PanDown => pan(0.5, lerp(0.5 - half, 0.5 + half, e)),
        Motion::Parallax | Motion::Transition => View::REST,
    }
}

/// The largest zoom a single-layer move uses (the source is pre-scaled by it).
fn single_zoom(m: Motion) -> f64 {
    match m {
        Motion::PushIn | Motion::PullOut => PUSH_ZOOM,
        _ => pan_zoom(),
    }
}

/// The camera of a transition: where the start layer zooms to, where the end layer zooms from,
/// and the drift (fractions of the frame) of the move.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TransitionCam {
    start_to: f64,
    end_from: f64,
    drift: (f64, f64),
}

impl TransitionCam {
    fn for_ask(ask: Option<Ask>) -> TransitionCam {
        let d = 0.025;
        let (start_to, end_from, drift) = match ask {
            Some(Ask::Camera(Motion::PushIn)) => (1.10, 1.04, (0.0, 0.0)),
            Some(Ask::Camera(Motion::PullOut)) => (1.03, 1.10, (0.0, 0.0)),
            Some(Ask::Camera(Motion::PanLeft)) => (1.06, 1.06, (-d, 0.0)),
            Some(Ask::Camera(Motion::PanRight)) => (1.06, 1.06, (d, 0.0)),
            Some(Ask::Camera(Motion::PanUp)) => (1.06, 1.06, (0.0, -d)),
            Some(Ask::Camera(Motion::PanDown)) => (1.06, 1.06, (0.0, d)),
            _ => (1.06, 1.06, (0.0, 0.0)),
        };
        TransitionCam {
            start_to,
            end_from,
            drift,
        }
    }

    fn zoom(&self) -> f64 {
        self.start_to.max(self.end_from)
    }

    fn start(&self, e: f64) -> View {
        View {
            zoom: lerp(1.0, self.start_to, e),
            cx: 0.5 + self.drift.0 * e,
            cy: 0.5 + self.drift.1 * e,
        }
    }

    fn end(&self, e: f64) -> View {
        View {
            zoom: lerp(self.end_from, 1.0, e),
            cx: 0.5 - self.drift.0 * (1.0 - e),
            cy: 0.5 - self.drift.1 * (1.0 - e),
        }
    }
}

/// The dissolve's weight of the end image at time `t`: eased over the middle 80 %.
fn dissolve(t: f64) -> f64 {
    ease((t - 0.1) / 0.8)
}

// ---------------------------------------------------------------------------------------------
// Images.

fn fr_err(e: impl std::fmt::Display) -> EngineError {
    EngineError::Run(format!("resize: {e}"))
}

type Layer = fr::images::Image<'static>;

/// Centre-crops `rgb` to the ratio `w`:`h` and scales it (Lanczos3) to `w·zoom`×`h·zoom`.
fn prescale(rgb: &RgbImage, w: u32, h: u32, zoom: f64) -> Result<RgbImage, EngineError> {
    let (iw, ih) = (rgb.width() as f64, rgb.height() as f64);
    let ratio = w as f64 / h as f64;
    let (cw, ch) = if iw / ih > ratio {
        (ih * ratio, ih)
    } else {
        (iw, iw / ratio)
    };
    let (sw, sh) = (
        (w as f64 * zoom).ceil() as u32,
        (h as f64 * zoom).ceil() as u32,
    );
    let src =
        fr::images::ImageRef::new(rgb.width(), rgb.height(), rgb.as_raw(), fr::PixelType::U8x3)
            .map_err(fr_err)?;
    let mut dst = fr::images::Image::new(sw, sh, fr::PixelType::U8x3);
    fr::Resizer::new()
        .resize(
            &src,
            &mut dst,
            &fr::ResizeOptions::new()
                .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
                .crop((iw - cw) / 2.0, (ih - ch) / 2.0, cw, ch),
        )
        .map_err(fr_err)?;
    Ok(RgbImage::from_raw(sw, sh, dst.into_vec()).expect("size"))
}

fn layer3(rgb: RgbImage) -> Result<Layer, EngineError> {
    let (w, h) = rgb.dimensions();
    fr::images::Image::from_vec_u8(w, h, rgb.into_raw(), fr::PixelType::U8x3).map_err(fr_err)
}

/// The subject found by the matte, in 0..1 layer coordinates.
struct Subject {
    alpha: Plane,
    /// The point the camera goes to: the upper middle of the subject's bounding box.
    anchor: (f64, f64),
    /// A clear subject: a plausible share of the frame, with a decisive matte.
    found: bool,
}

fn find_subject(bg: &BackgroundRemover, rgb: &RgbImage) -> Result<Subject, EngineError> {
    let alpha = bg.alpha(rgb)?;
    let (w, h) = (alpha.width, alpha.height);
    let (mut x0, mut y0, mut x1, mut y1) = (w, h, 0, 0);
    let (mut fg, mut unsure) = (0usize, 0usize);
    for y in 0..h {
        for (x, a) in alpha.data[y * w..(y + 1) * w].iter().enumerate() {
            if *a > 0.5 {
                fg += 1;
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            }
            if (0.2..0.8).contains(a) {
                unsure += 1;
            }
        }
    }
    let n = (w * h).max(1) as f64;
    let share = fg as f64 / n;
    let found = (0.02..0.92).contains(&share) && (unsure as f64) < 0.5 * fg as f64;
    let anchor = if x1 > x0 && y1 > y0 {
        (
            (x0 + x1) as f64 / 2.0 / w as f64,
            (y0 as f64 + 0.4 * (y1 - y0) as f64) / h as f64,
        )
    } else {
        (0.5, 0.5)
    };
    Ok(Subject {
        alpha,
        anchor: if found { anchor } else { (0.5, 0.5) },
        found,
    })
}

/// Grows a 0/1 mask by `r` pixels (square): where any pixel within `r` is set.
fn dilate(mask: &Plane, r: usize) -> Plane {
    let mut m = box_mean(mask, r);
    for v in &mut m.data {
        *v = if *v > 1e-4 { 1.0 } else { 0.0 };
    }
    m
}

/// The parallax layers: the background plate (the subject's area filled from its
/// surroundings) and the subject as premultiplied RGBA.
fn parallax_layers(rgb: &RgbImage, alpha: &Plane) -> Result<(Layer, Layer), EngineError> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    assert_eq!((alpha.width, alpha.height), (w, h), "matte size");
    let long = w.max(h) as f64;
    let any = Plane::new(
        w,
        h,
        alpha
            .data
            .iter()
            .map(|a| if *a > 0.03 { 1.0 } else { 0.0 })
            .collect(),
    );
    // The plate is replaced on the subject and a thin ring around it (its soft edge still
    // carries the subject's colours)...
    let hole = dilate(&any, ((long * 0.004).round() as usize).max(2));
    // ...with a fill that takes its colours only from farther out, clear of that edge.
    let avoid = dilate(&hole, ((long * 0.012).round() as usize).max(3));
    // A 2-px feather across the hole's border.
    let soft = box_mean(&hole, 2);

    // Push-pull at about 320 px on the long side: the fill is smooth anyway.
    let k = w.max(h).div_ceil(320).max(1);
    let (lw, lh) = (w.div_ceil(k), h.div_ceil(k));
    let px = rgb.as_raw();
    let mut lrgb = vec![[0f32; 3]; lw * lh];
    let mut lknown = vec![0f32; lw * lh];
    for ly in 0..lh {
        for lx in 0..lw {
            let (mut s, mut kn, mut n) = ([0f32; 3], 0f32, 0f32);
            for y in ly * k..((ly + 1) * k).min(h) {
                for x in lx * k..((lx + 1) * k).min(w) {
                    let i = y * w + x;
                    let known = 1.0 - avoid.data[i];
                    for c in 0..3 {
                        s[c] += px[i * 3 + c] as f32 * known;
                    }
                    kn += known;
                    n += 1.0;
                }
            }
            let i = ly * lw + lx;
            if kn > 0.0 {
                lrgb[i] = [s[0] / kn, s[1] / kn, s[2] / kn];
            }
            lknown[i] = kn / n;
        }
    }
    let filled = push_pull(&lrgb, &lknown, lw, lh);
    let small = RgbImage::from_raw(
        lw as u32,
        lh as u32,
        filled
            .iter()
            .flat_map(|p| p.map(|v| v.round().clamp(0.0, 255.0) as u8))
            .collect(),
    )
    .expect("size");
    let fill = crate::imaging::resize_rgb(&small, w as u32, h as u32, fr::FilterType::Bilinear)?;

    let mut plate = vec![0u8; w * h * 3];
    let mut subject = vec![0u8; w * h * 4];
    let f = fill.as_raw();
    for i in 0..w * h {
        let s = soft.data[i].clamp(0.0, 1.0);
        let a = alpha.data[i].clamp(0.0, 1.0);
        for c in 0..3 {
            let p = px[i * 3 + c] as f32;
            plate[i * 3 + c] = (p + (f[i * 3 + c] as f32 - p) * s).round() as u8;
            subject[i * 4 + c] = (p * a).round() as u8;
        }
        subject[i * 4 + 3] = (a * 255.0).round() as u8;
    }
    let plate = fr::images::Image::from_vec_u8(w as u32, h as u32, plate, fr::PixelType::U8x3)
        .map_err(fr_err)?;
    let subject = fr::images::Image::from_vec_u8(w as u32, h as u32, subject, fr::PixelType::U8x4)
        .map_err(fr_err)?;
    Ok((plate, subject))
}

// ---------------------------------------------------------------------------------------------
// Frames.

/// What the frames are made of.
enum Scene {
    /// One layer under a moving camera.
    Single {
        src: Layer,
        motion: Motion,
        anchor: (f64, f64),
    },
    /// Background plate and subject, moving at different speeds.
    Parallax {
        plate: Layer,
        subject: Layer,
        anchor: (f64, f64),
        /// +1: the camera drifts right (the picture moves left); −1 the other way.
        side: f64,
    },
    /// A dissolve from `a` to `b`.
    Dissolve {
        a: Layer,
        b: Layer,
        cam: TransitionCam,
    },
}

struct Renderer {
    scene: Scene,
    width: u32,
    height: u32,
    resizer: fr::Resizer,
    tmp3: Layer,
    tmp4: Layer,
}

impl Renderer {
    fn new(scene: Scene, width: u32, height: u32) -> Renderer {
        Renderer {
            scene,
            width,
            height,
            resizer: fr::Resizer::new(),
            tmp3: fr::images::Image::new(width, height, fr::PixelType::U8x3),
            tmp4: fr::images::Image::new(width, height, fr::PixelType::U8x4),
        }
    }

    /// Renders `view` of `src` into `dst` (the frame's size).
    fn draw(
        resizer: &mut fr::Resizer,
        src: &Layer,
        view: View,
        dst: &mut Layer,
    ) -> Result<(), EngineError> {
        let (l, t, w, h) = view.window(src.width(), src.height());
        resizer
            .resize(
                src,
                dst,
                &fr::ResizeOptions::new()
                    .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::CatmullRom))
                    .use_alpha(false)
                    .crop(l, t, w, h),
            )
            .map_err(fr_err)
    }

    /// Renders frame time `t` (0..1) into `out` (RGB8 of the frame's size).
    fn frame(&mut self, t: f64, out: &mut Layer) -> Result<(), EngineError> {
        let e = ease(t);
        match &self.scene {
            Scene::Single {
                src,
                motion,
                anchor,
            } => Self::draw(
                &mut self.resizer,
                src,
                single_view(*motion, e, *anchor),
                out,
            ),
            Scene::Parallax {
                plate,
                subject,
                anchor,
                side,
            } => {
                let mut bgv = View::anchored(lerp(1.0, PARALLAX_BG_ZOOM, e), *anchor);
                bgv.cx += side * PARALLAX_BG_DRIFT * e;
                let mut fgv = View::anchored(lerp(1.0, PARALLAX_FG_ZOOM, e), *anchor);
                fgv.cx += side * PARALLAX_FG_DRIFT * e;
                Self::draw(&mut self.resizer, plate, bgv, out)?;
                Self::draw(&mut self.resizer, subject, fgv, &mut self.tmp4)?;
                for (o, f) in out
                    .buffer_mut()
                    .chunks_exact_mut(3)
                    .zip(self.tmp4.buffer().chunks_exact(4))
                {
                    // o·(255 − a)/255, rounded, in u16 (vectorises); plus the premultiplied subject.
                    let ia = 255 - f[3] as u16;
                    for c in 0..3 {
                        let t = o[c] as u16 * ia + 128;
                        o[c] = (((t + (t >> 8)) >> 8) as u8).saturating_add(f[c]);
                    }
                }
                Ok(())
            }
            Scene::Dissolve { a, b, cam } => {
                let wb = (dissolve(t) * 256.0).round() as u16;
                if wb == 0 {
                    return Self::draw(&mut self.resizer, a, cam.start(e), out);
                }
                Self::draw(&mut self.resizer, b, cam.end(e), out)?;
                if wb >= 256 {
                    return Ok(());
                }
                Self::draw(&mut self.resizer, a, cam.start(e), &mut self.tmp3)?;
                let wa = 256 - wb;
                for (o, s) in out.buffer_mut().iter_mut().zip(self.tmp3.buffer()) {
                    // ≤ 255·256 + 128: fits u16.
                    *o = ((*s as u16 * wa + *o as u16 * wb + 128) >> 8) as u8;
                }
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding.

fn encode_err(what: &str) -> impl Fn(openh264::Error) -> EngineError + '_ {
    move |e| EngineError::Encode(format!("{what}: {e}"))
}

/// Encodes the YUV frames from `rx` as H.264 and muxes them into a fast-start MP4.
fn encode(rx: mpsc::Receiver<YUVBuffer>, width: u32, height: u32) -> Result<Encoded, EngineError> {
    let bps = (width as f64 * height as f64 * FPS as f64 * BITS_PER_PIXEL).max(1_000_000.0);
    let config = EncoderConfig::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .profile(Profile::Baseline)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(bps as u32))
        .max_frame_rate(FrameRate::from_hz(FPS as f32))
        .skip_frames(false)
        .intra_frame_period(IntraFramePeriod::from_num_frames(2 * FPS))
        .vui(VuiConfig::bt601())
        .num_threads(1);
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(encode_err("cannot start the H.264 encoder"))?;
    let mux_err = |e: muxide::api::MuxerError| EngineError::Encode(format!("MP4 muxer: {e}"));
    let mut muxer = muxide::api::MuxerBuilder::new(Vec::new())
        .video(muxide::api::VideoCodec::H264, width, height, FPS as f64)
        .with_fast_start(true)
        .build()
        .map_err(mux_err)?;
    let mut n = 0u32;
    let mut busy = Duration::ZERO;
    for yuv in rx {
        let t0 = Instant::now();
        let ts = Timestamp::from_millis(n as u64 * 1000 / FPS as u64);
        let bits = encoder
            .encode_at(&yuv, ts)
            .map_err(encode_err("H.264 encoding failed"))?;
        let kind = bits.frame_type();
        if matches!(kind, FrameType::Skip | FrameType::Invalid) {
            return Err(EngineError::Encode(format!(
                "the H.264 encoder dropped frame {n} ({kind:?})"
            )));
        }
        let data = bits.to_vec();
        muxer
            .write_video(n as f64 / FPS as f64, &data, kind == FrameType::IDR)
            .map_err(mux_err)?;
        n += 1;
        busy += t0.elapsed();
    }
    muxer.finish_in_place().map_err(mux_err)?;
    Ok(Encoded {
        mp4: muxer.into_writer(),
        frames: n,
        busy,
    })
}

/// The encoder thread's result.
struct Encoded {
    mp4: Vec<u8>,
    frames: u32,
    /// Time spent encoding and muxing (not waiting for frames).
    busy: Duration,
}

/// Renders all frames on this thread while a second thread encodes them.
fn render_and_encode(
    mut renderer: Renderer,
    frames: u32,
) -> Result<(Encoded, image::RgbImage), EngineError> {
    let (w, h) = (renderer.width, renderer.height);
    let mut poster = None;
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::sync_channel::<YUVBuffer>(4);
        let encoder = s.spawn(move || encode(rx, w, h));
        let mut rgb = fr::images::Image::new(w, h, fr::PixelType::U8x3);
        let mut rendered = Ok(());
        let mut busy = Duration::ZERO;
        for i in 0..frames {
            let t0 = Instant::now();
            let t = if frames > 1 {
                i as f64 / (frames - 1) as f64
            } else {
                0.0
            };
            if let Err(e) = renderer.frame(t, &mut rgb) {
                rendered = Err(e);
                break;
            }
            if i == 0 {
                poster = image::RgbImage::from_raw(w, h, rgb.buffer().to_vec());
            }
            let yuv = YUVBuffer::from_rgb8_source(RgbSliceU8::new(
                rgb.buffer(),
                (w as usize, h as usize),
            ));
            busy += t0.elapsed();
            if tx.send(yuv).is_err() {
                break; // The encoder failed; its error is returned below.
            }
        }
        drop(tx);
        let encoded = encoder
            .join()
            .map_err(|_| EngineError::Encode("the encoder thread panicked".into()))?;
        rendered?;
        let encoded = encoded?;
        tracing::debug!(
            render_ms = busy.as_millis() as u64,
            encode_ms = encoded.busy.as_millis() as u64,
            frames,
            width = w,
            height = h,
            "image to video frames"
        );
        let poster = poster.ok_or_else(|| EngineError::Encode("no first frame".into()))?;
        Ok((encoded, poster))
    })
}

/// Makes the clip: validates the spec, picks the motion (see the module docs), renders and
/// encodes. `bg` is used only for motions that need the subject's matte.
pub fn run(
    bg: &BackgroundRemover,
    start: &DynamicImage,
    end: Option<&DynamicImage>,
    spec: &VideoSpec,
) -> Result<Video, EngineError> {
    if !matches!(spec.seconds, 5 | 10) {
        return Err(EngineError::Input(format!(
            "the clip length must be 5 or 10 seconds, not {}.",
            spec.seconds
        )));
    }
    if !matches!(spec.height, 480 | 720 | 1080) {
        return Err(EngineError::Input(format!(
            "the resolution must be 480p, 720p or 1080p, not {}p.",
            spec.height
        )));
    }
    if start.width() == 0 || start.height() == 0 {
        return Err(EngineError::Input("the start image is empty.".into()));
    }
    let started = Instant::now();
    let asked = ask(spec.prompt.as_deref())?;
    let (width, height) = frame_size(start.width(), start.height(), spec.height);
    let frames = spec.seconds * FPS;
    let start_rgb = start.to_rgb8();

    // The matte only where the motion uses it.
    let provisional = decide(asked, end.is_some(), true)?;
    let needs_matte = matches!(
        provisional,
        Motion::PushIn | Motion::PullOut | Motion::Parallax
    );

    let (scene, motion) = if let Some(end) = end {
        let cam = TransitionCam::for_ask(asked);
        let a = prescale(&start_rgb, width, height, cam.zoom())?;
        let b = prescale(&end.to_rgb8(), width, height, cam.zoom())?;
        (
            Scene::Dissolve {
                a: layer3(a)?,
                b: layer3(b)?,
                cam,
            },
            Motion::Transition,
        )
    } else if needs_matte {
        // Pre-scaled for the push's 1.12 (parallax's 1.10 fits in it too).
        let src = prescale(&start_rgb, width, height, PUSH_ZOOM)?;
        let subject = find_subject(bg, &src)?;
        let motion = decide(asked, false, subject.found)?;
        let scene = if motion == Motion::Parallax {
            let (plate, fg) = parallax_layers(&src, &subject.alpha)?;
            Scene::Parallax {
                plate,
                subject: fg,
                anchor: subject.anchor,
                side: if subject.anchor.0 < 0.48 { -1.0 } else { 1.0 },
            }
        } else {
            // A push or pull (to the subject, or to the centre when there is none).
            Scene::Single {
                src: layer3(src)?,
                motion,
                anchor: subject.anchor,
            }
        };
        (scene, motion)
    } else {
        let src = prescale(&start_rgb, width, height, single_zoom(provisional))?;
        (
            Scene::Single {
                src: layer3(src)?,
                motion: provisional,
                anchor: (0.5, 0.5),
            },
            provisional,
        )
    };
    drop(start_rgb);
    let setup = started.elapsed();
    let (Encoded { mp4, frames: n, .. }, poster) =
        render_and_encode(Renderer::new(scene, width, height), frames)?;
    tracing::debug!(
        setup_ms = setup.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        motion = motion.label(),
        "image to video done"
    );
    if n != frames {
        return Err(EngineError::Encode(format!(
            "encoded {n} frames instead of {frames}"
        )));
    }
    Ok(Video {
        mp4,
        poster,
        width,
        height,
        frames,
        motion,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_keep_the_ratio_with_the_tier_as_short_side() {
        assert_eq!(frame_size(832, 1248, 720), (720, 1080));
        assert_eq!(frame_size(1920, 1080, 720), (1280, 720));
        assert_eq!(frame_size(1920, 1080, 480), (854, 480));
        assert_eq!(frame_size(1024, 1024, 1080), (1080, 1080));
        assert_eq!(frame_size(512, 768, 1080), (1080, 1620));
        // Panoramas are capped at openh264's 3840.
        let (w, h) = frame_size(8000, 1000, 1080);
        assert_eq!(w, 3840);
        assert!(h % 2 == 0 && (478..=482).contains(&h), "{h}");
    }

    #[test]
    fn windows_stay_inside_and_eases_are_smooth() {
        let v = View {
            zoom: 1.12,
            cx: 0.99,
            cy: 0.0,
        };
        let (l, t, w, h) = v.window(1120, 1120);
        assert!((w - 1000.0).abs() < 1e-9 && (h - 1000.0).abs() < 1e-9);
        assert!((l + w - 1120.0).abs() < 1e-9 && t.abs() < 1e-9);
        assert_eq!(ease(0.0), 0.0);
        assert!((ease(1.0) - 1.0).abs() < 1e-12);
        assert!((ease(0.5) - 0.5).abs() < 1e-12);
        assert_eq!(dissolve(0.05), 0.0);
        assert!((dissolve(0.95) - 1.0).abs() < 1e-12);
        // Both ends of a transition are at rest.
        let cam = TransitionCam::for_ask(Some(Ask::Camera(Motion::PanLeft)));
        assert_eq!(cam.start(0.0), View::REST);
        assert_eq!(cam.end(1.0), View::REST);
    }

    #[test]
    fn push_pull_fills_holes_from_the_surroundings() {
        // Left half red, right half blue, a hole in the middle column band.
        let (w, h) = (16, 8);
        let mut rgb = vec![[0f32; 3]; w * h];
        let mut known = vec![1f32; w * h];
        for y in 0..h {
            for x in 0..w {
                rgb[y * w + x] = if x < 8 {
                    [255.0, 0.0, 0.0]
                } else {
                    [0.0, 0.0, 255.0]
                };
                if (6..10).contains(&x) {
                    known[y * w + x] = 0.0;
                    rgb[y * w + x] = [0.0, 255.0, 0.0];
                }
            }
        }
        let out = push_pull(&rgb, &known, w, h);
        for y in 0..h {
            assert!(
                out[y * w + 6][0] > out[y * w + 6][2],
                "red side stays reddish"
            );
            assert!(
                out[y * w + 9][2] > out[y * w + 9][0],
                "blue side stays bluish"
            );
            for x in 6..10 {
                assert!(out[y * w + x][1] < 1.0, "no trace of the hidden green");
            }
        }
    }
}
