//! Try-On, the 2D engine: a non-generative try-on for tops, bottoms and one-pieces.
//!
//! 1. **The garment** is cut out of the product photo by Packshot's isolation (matte, and on
//!    on-model photos the wearer's skin, face and hair removed). Its joints come from BlazePose
//!    when it is worn in the photo, else from the cut-out's shape (a flat-lay or ghost
//!    mannequin: shoulders and hips from the torso's width and length, sleeve and leg ends from
//!    the parts outside the torso).
//! 2. **The body** comes from BlazePose on the model photo: 33 landmarks and a person mask.
//! 3. **Correspondences:** a frame over the torso (shoulders to hips, or the hips and waist for
//!    bottoms) in both photos, plus points along each sleeve or leg at the garment's own length,
//!    scaled by the bodies' sizes and laid along the model's arm or leg.
//! 4. **Warp:** a thin-plate spline from the model photo to the cut-out, solved on those points
//!    and evaluated on a 4-pixel grid, samples the garment (backward mapping, bilinear).
//! 5. **Layers:** the model's own garment of that kind (a colour region grown from the chest or
//!    thighs) is covered; where the new garment does not reach it, the new garment's colours are
//!    diffused over it. Skin of the arms and hands and the face stay in front, except where a
//!    sleeve covers the upper arm.
//! 6. **Shading:** the original photo's folds and shadows (its luminance at two scales, inside
//!    the old garment) are multiplied onto the new one.
//!
//! The output has the model photo's size (at most 2048² pixels) and everything outside the
//! garment is the model photo unchanged.

use fast_image_resize as fr;
use image::{DynamicImage, Rgb, RgbImage};

use atelier_core::catalog::Category;

use crate::bgremove::BackgroundRemover;
use crate::cutout::{self, SkinModel};
use crate::face::FaceModels;
use crate::imaging::EngineError;
use crate::imaging::{box_mean, Plane};
use crate::pose::{self, dist, Pose, PoseModel};

pub const ENGINE: &str = "tryon-2d: BlazePose landmarks (tract) on both photos, garment cut-out, \
                          thin-plate-spline warp, arms and face kept in front, shading from the photo";

/// The biggest output, in pixels (the model photo is scaled down to it).
const MAX_PIXELS: u64 = 2048 * 2048;

/// What kind of photo the product image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PhotoType {
    #[default]
    Auto,
    FlatLay,
    Model,
}

impl PhotoType {
    pub fn parse(s: &str) -> PhotoType {
        match s {
            "flat-lay" => PhotoType::FlatLay,
            "model" => PhotoType::Model,
            _ => PhotoType::Auto,
        }
    }
}

/// The garment kinds the engine places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Garment {
    Tops,
    Bottoms,
    OnePieces,
}

impl Garment {
    pub fn label(self) -> &'static str {
        match self {
            Garment::Tops => "tops",
            Garment::Bottoms => "bottoms",
            Garment::OnePieces => "one-pieces",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct TryOnSpec {
    pub category: Option<Category>,
    pub photo_type: PhotoType,
    pub prompt: Option<String>,
    pub outputs: u8,
}

/// What the engine made, and what it decided.
pub struct TryOnResult {
    pub images: Vec<RgbImage>,
    pub garment: Garment,
    /// Whether the product photo was read as worn by a person.
    pub garment_on_model: bool,
    /// The garment's mask warped onto the model photo (first output), for tests.
    pub placed: Plane,
    /// The model's own garment region that was replaced.
    pub replaced: Vec<bool>,
}

type P = (f32, f32);

fn lerp(a: P, b: P, t: f32) -> P {
    (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
}

fn add(a: P, b: P) -> P {
    (a.0 + b.0, a.1 + b.1)
}

fn sub(a: P, b: P) -> P {
    (a.0 - b.0, a.1 - b.1)
}

fn scale(a: P, s: f32) -> P {
    (a.0 * s, a.1 * s)
}

fn norm(a: P) -> P {
    let n = (a.0 * a.0 + a.1 * a.1).sqrt().max(1e-6);
    (a.0 / n, a.1 / n)
}

/// Joints of one person (or one garment's virtual wearer), each [subject's right, left].
#[derive(Debug, Clone)]
struct Skeleton {
    shoulder: [P; 2],
    hip: [P; 2],
    /// Shoulder → elbow → wrist → hand, per side (a garment's: as far as its sleeve).
    arm: [Vec<P>; 2],
    /// Hip → knee → ankle → foot.
    leg: [Vec<P>; 2],
}

impl Skeleton {
    fn from_pose(p: &Pose) -> Skeleton {
        use pose::*;
        let ext = |a: P, b: P, t: f32| add(b, scale(sub(b, a), t));
        let arm = |s: usize, e: usize, w: usize| {
            let (s, e, w) = (p.point(s), p.point(e), p.point(w));
            vec![s, e, w, ext(e, w, 0.45)]
        };
        let leg = |h: usize, k: usize, a: usize| {
            let (h, k, a) = (p.point(h), p.point(k), p.point(a));
            vec![h, k, a, ext(k, a, 0.2)]
        };
        Skeleton {
            shoulder: [p.point(RIGHT_SHOULDER), p.point(LEFT_SHOULDER)],
            hip: [p.point(RIGHT_HIP), p.point(LEFT_HIP)],
            arm: [
                arm(RIGHT_SHOULDER, RIGHT_ELBOW, RIGHT_WRIST),
                arm(LEFT_SHOULDER, LEFT_ELBOW, LEFT_WRIST),
            ],
            leg: [
                leg(RIGHT_HIP, RIGHT_KNEE, RIGHT_ANKLE),
                leg(LEFT_HIP, LEFT_KNEE, LEFT_ANKLE),
            ],
        }
    }

    fn map(&self, f: impl Fn(P) -> P) -> Skeleton {
        Skeleton {
            shoulder: self.shoulder.map(&f),
            hip: self.hip.map(&f),
            arm: self.arm.clone().map(|v| v.into_iter().map(&f).collect()),
            leg: self.leg.clone().map(|v| v.into_iter().map(&f).collect()),
        }
    }

    fn sh_mid(&self) -> P {
        lerp(self.shoulder[0], self.shoulder[1], 0.5)
    }

    fn hip_mid(&self) -> P {
        lerp(self.hip[0], self.hip[1], 0.5)
    }

    fn span(&self) -> f32 {
        dist(self.shoulder[0], self.shoulder[1])
    }

    fn hip_span(&self) -> f32 {
        dist(self.hip[0], self.hip[1])
    }

    fn torso(&self) -> f32 {
        dist(self.sh_mid(), self.hip_mid())
    }

    /// The point at (u across from right to left, v down from the shoulder line to the hips).
    fn torso_at(&self, u: f32, v: f32) -> P {
        lerp(
            lerp(self.shoulder[0], self.shoulder[1], u),
            lerp(self.hip[0], self.hip[1], u),
            v,
        )
    }

    /// "Up" along the body (hips → shoulders), unit.
    fn up(&self) -> P {
        norm(sub(self.sh_mid(), self.hip_mid()))
    }

    /// The hip frame for bottoms: u across the hips (right → left), w upward in hip spans.
    fn hip_at(&self, u: f32, w: f32) -> P {
        add(
            lerp(self.hip[0], self.hip[1], u),
            scale(self.up(), w * self.hip_span()),
        )
    }
}

/// Length of a polyline.
fn length(line: &[P]) -> f32 {
    line.windows(2).map(|s| dist(s[0], s[1])).sum()
}

/// The point `a` along a polyline (clamped to its ends).
fn along(line: &[P], a: f32) -> P {
    let mut left = a.max(0.0);
    for s in line.windows(2) {
        let d = dist(s[0], s[1]);
        if left <= d && d > 0.0 {
            return lerp(s[0], s[1], left / d);
        }
        left -= d;
    }
    *line.last().expect("a polyline")
}

/// Arc length of the point of `line` nearest `p`, and the distance to it.
fn project(line: &[P], p: P) -> (f32, f32) {
    let (mut best, mut best_d, mut acc) = (0.0, f32::MAX, 0.0);
    for s in line.windows(2) {
        let (a, b) = (s[0], s[1]);
        let ab = sub(b, a);
        let l2 = (ab.0 * ab.0 + ab.1 * ab.1).max(1e-6);
        let t = (((p.0 - a.0) * ab.0 + (p.1 - a.1) * ab.1) / l2).clamp(0.0, 1.0);
        let q = lerp(a, b, t);
        let d = dist(p, q);
        if d < best_d {
            best_d = d;
            best = acc + t * l2.sqrt();
        }
        acc += l2.sqrt();
    }
    (best, best_d)
}

// ---------------------------------------------------------------------------------------------
// Thin-plate spline.

/// A 2D thin-plate spline from `src` points to `dst` points.
struct Tps {
    ctrl: Vec<P>,
    /// Per output coordinate: n kernel weights then a0, ax, ay.
    coef: [Vec<f64>; 2],
    norm: f32,
}

fn kernel(r2: f64) -> f64 {
    if r2 < 1e-12 {
        0.0
    } else {
        r2 * r2.ln()
    }
}

/// Solves `a x = b` (Gaussian elimination with partial pivoting); `None` when singular.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for c in 0..n {
        let piv = (c..n).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[piv][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, piv);
        b.swap(c, piv);
        for r in c + 1..n {
            let f = a[r][c] / a[c][c];
            if f == 0.0 {
                continue;
            }
            let (upper, lower) = a.split_at_mut(r);
            for (x, y) in lower[0][c..n].iter_mut().zip(&upper[c][c..n]) {
                *x -= f * y;
            }
            b[r] -= f * b[c];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| a[r][k] * x[k]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

impl Tps {
    /// Fits the spline; `smooth` (relative to the points' spread) lets it pass near the points
    /// rather than through them, which keeps it calm when points nearly coincide.
    fn fit(src: &[P], dst: &[P], smooth: f64) -> Option<Tps> {
        let n = src.len();
        if n < 3 {
            return None;
        }
        // Normalised coordinates keep the system well conditioned.
        let norm = src
            .iter()
            .chain(dst)
            .fold(1f32, |m, p| m.max(p.0.abs()).max(p.1.abs()));
        let s: Vec<(f64, f64)> = src
            .iter()
            .map(|p| ((p.0 / norm) as f64, (p.1 / norm) as f64))
            .collect();
        let mut a = vec![vec![0f64; n + 3]; n + 3];
        for i in 0..n {
            for j in 0..n {
                let r2 = (s[i].0 - s[j].0).powi(2) + (s[i].1 - s[j].1).powi(2);
                a[i][j] = kernel(r2);
            }
            a[i][i] += smooth;
            a[i][n] = 1.0;
            a[i][n + 1] = s[i].0;
            a[i][n + 2] = s[i].1;
            a[n][i] = 1.0;
            a[n + 1][i] = s[i].0;
            a[n + 2][i] = s[i].1;
        }
        let mut coef: [Vec<f64>; 2] = [vec![], vec![]];
        for (c, out) in coef.iter_mut().enumerate() {
            let mut b: Vec<f64> = dst
                .iter()
                .map(|p| (if c == 0 { p.0 } else { p.1 } / norm) as f64)
                .collect();
            b.extend([0.0; 3]);
            *out = solve(a.clone(), b)?;
        }
        Some(Tps {
            ctrl: src.to_vec(),
            coef,
            norm,
        })
    }

    fn eval(&self, p: P) -> P {
        let n = self.ctrl.len();
        let (x, y) = ((p.0 / self.norm) as f64, (p.1 / self.norm) as f64);
        let mut out = [0f64; 2];
        for (c, o) in out.iter_mut().enumerate() {
            let k = &self.coef[c];
            let mut v = k[n] + k[n + 1] * x + k[n + 2] * y;
            for (i, q) in self.ctrl.iter().enumerate() {
                let (qx, qy) = ((q.0 / self.norm) as f64, (q.1 / self.norm) as f64);
                v += k[i] * kernel((x - qx).powi(2) + (y - qy).powi(2));
            }
            *o = v * self.norm as f64;
        }
        (out[0] as f32, out[1] as f32)
    }
}

// ---------------------------------------------------------------------------------------------
// The garment.

/// The isolated garment: premultiplied-free RGBA cut-out and its parts.
struct GarmentCut {
    rgba: image::RgbaImage,
    skel: Skeleton,
    /// Per cut-out pixel: 0 torso, 1 right sleeve/leg, 2 left.
    part: Vec<u8>,
    /// The garment's length along each limb (0 when it has none there).
    limb_len: [f32; 2],
    on_model: bool,
}

fn alpha_mask(rgba: &image::RgbaImage, min: u8) -> Vec<bool> {
    rgba.pixels().map(|p| p[3] > min).collect()
}

/// Median left and right extent of the mask over rows y0..y1.
fn row_extent(m: &[bool], w: usize, y0: usize, y1: usize) -> Option<(f32, f32)> {
    let (mut ls, mut rs) = (vec![], vec![]);
    for y in y0..y1 {
        let row = &m[y * w..(y + 1) * w];
        if let (Some(l), Some(r)) = (row.iter().position(|v| *v), row.iter().rposition(|v| *v)) {
            ls.push(l as f32);
            rs.push(r as f32 + 1.0);
        }
    }
    if ls.is_empty() {
        return None;
    }
    ls.sort_by(f32::total_cmp);
    rs.sort_by(f32::total_cmp);
    Some((ls[ls.len() / 2], rs[rs.len() / 2]))
}

/// Runs of the mask in a row band, as (start, end) column spans of the band's union.
fn runs(m: &[bool], w: usize, y0: usize, y1: usize) -> Vec<(usize, usize)> {
    let mut col = vec![false; w];
    for y in y0..y1 {
        for x in 0..w {
            col[x] |= m[y * w + x];
        }
    }
    let mut out = vec![];
    let mut start = None;
    for (x, v) in col.iter().chain(std::iter::once(&false)).enumerate() {
        match (*v, start) {
            (true, None) => start = Some(x),
            (false, Some(s)) => {
                if x - s > 2 {
                    out.push((s, x));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// A flat-lay's virtual wearer, from the cut-out's shape.
fn flat_skeleton(m: &[bool], w: usize, h: usize, kind: Garment) -> Option<Skeleton> {
    let (_, y0, _, y1) = cutout::bbox(m, w)?;
    let l = (y1 - y0) as f32;
    let row = |t: f32| (y0 as f32 + t * l).round().clamp(0.0, (h - 1) as f32) as usize;
    match kind {
        Garment::Tops | Garment::OnePieces => {
            let (tx0, tx1) = if kind == Garment::Tops {
                row_extent(m, w, row(0.88), row(0.98).max(row(0.88) + 1))?
            } else {
                row_extent(m, w, row(0.28), row(0.34).max(row(0.28) + 1))?
            };
            let tw = tx1 - tx0;
            let cx = (tx0 + tx1) / 2.0;
            let ys = y0 as f32 + if kind == Garment::Tops { 0.16 } else { 0.06 } * l;
            let yh = if kind == Garment::Tops {
                (y0 as f32 + 0.79 * l).clamp(ys + 0.8 * tw, ys + 1.4 * tw)
            } else {
                ys + 1.0 * tw
            };
            let shoulder = [(tx0 + 0.03 * tw, ys), (tx1 - 0.03 * tw, ys)];
            let hip = [(cx - 0.22 * tw, yh), (cx + 0.22 * tw, yh)];
            // Sleeves: what lies outside the torso's columns above the hips.
            let mut arm: [Vec<P>; 2] = [vec![shoulder[0]], vec![shoulder[1]]];
            for (side, a) in arm.iter_mut().enumerate() {
                let s = shoulder[side];
                let mut pts: Vec<(f32, P)> = vec![];
                for y in y0..(yh as usize).min(h) {
                    for x in 0..w {
                        let out = if side == 0 {
                            (x as f32) < tx0 - 0.04 * tw
                        } else {
                            (x as f32) > tx1 + 0.04 * tw
                        };
                        if out && m[y * w + x] {
                            let p = (x as f32 + 0.5, y as f32 + 0.5);
                            pts.push((dist(p, s), p));
                        }
                    }
                }
                if pts.len() > m.iter().filter(|v| **v).count() / 200 {
                    pts.sort_by(|a, b| b.0.total_cmp(&a.0));
                    let far = &pts[..(pts.len() / 7).max(1)];
                    let n = far.len() as f32;
                    let end = far
                        .iter()
                        .fold((0.0, 0.0), |acc, (_, p)| (acc.0 + p.0 / n, acc.1 + p.1 / n));
                    a.push(end);
                } else {
                    // Sleeveless: the arm hangs straight down, a token length.
                    a.push(add(s, (0.0, 0.05 * tw)));
                }
            }
            let leg = [
                vec![hip[0], (hip[0].0, y1 as f32)],
                vec![hip[1], (hip[1].0, y1 as f32)],
            ];
            Some(Skeleton {
                shoulder,
                hip,
                arm,
                leg,
            })
        }
        Garment::Bottoms => {
            let (wx0, wx1) = row_extent(m, w, row(0.01), row(0.05).max(row(0.01) + 1))?;
            let ww = wx1 - wx0;
            let cx = (wx0 + wx1) / 2.0;
            let yh = y0 as f32 + 0.25 * ww;
            let hip = [(cx - 0.25 * ww, yh), (cx + 0.25 * ww, yh)];
            let bottom = runs(m, w, row(0.95), y1);
            let ends: [P; 2] = if bottom.len() >= 2 {
                let (a, b) = (bottom[0], bottom[bottom.len() - 1]);
                [
                    ((a.0 + a.1) as f32 / 2.0, y1 as f32),
                    ((b.0 + b.1) as f32 / 2.0, y1 as f32),
                ]
            } else {
                let (bx0, bx1) = row_extent(m, w, row(0.95), y1)?;
                let bc = (bx0 + bx1) / 2.0;
                let q = (bx1 - bx0) / 4.0;
                [(bc - q, y1 as f32), (bc + q, y1 as f32)]
            };
            let up = (0.0, -1.0);
            let shoulder = [
                add(hip[0], scale(up, ww * 1.6)),
                add(hip[1], scale(up, ww * 1.6)),
            ];
            Some(Skeleton {
                shoulder,
                hip,
                arm: [vec![shoulder[0]], vec![shoulder[1]]],
                leg: [vec![hip[0], ends[0]], vec![hip[1], ends[1]]],
            })
        }
    }
}

/// Which part of the garment each pixel belongs to, and how far each limb reaches.
fn garment_parts(m: &[bool], w: usize, skel: &Skeleton, kind: Garment) -> (Vec<u8>, [f32; 2]) {
    let mut part = vec![0u8; m.len()];
    let mut len = [0f32; 2];
    let span = skel.span().max(skel.hip_span()).max(1.0);
    let axis = [skel.sh_mid(), skel.hip_mid()];
    for (i, v) in m.iter().enumerate() {
        if !*v {
            continue;
        }
        let p = ((i % w) as f32 + 0.5, (i / w) as f32 + 0.5);
        match kind {
            Garment::Tops => {
                let (_, dt) = project(&axis, p);
                let d_torso = (dt - 0.5 * span).max(0.0);
                for (side, reach) in len.iter_mut().enumerate() {
                    let line = &skel.arm[side];
                    if line.len() < 2 {
                        continue;
                    }
                    let (a, d) = project(line, p);
                    // On this side of the body, and nearer the arm than the torso's edge.
                    let this_side = (p.0 < axis[0].0) == (side == 0);
                    if this_side && d + 0.02 * span < d_torso && a > 0.0 {
                        part[i] = side as u8 + 1;
                        *reach = reach.max(a);
                    }
                }
            }
            Garment::Bottoms | Garment::OnePieces => {
                // Below the crotch, the side of the centre line decides the leg.
                let hm = skel.hip_mid();
                let crotch = hm.1 + 0.45 * skel.hip_span();
                if p.1 > crotch {
                    let side = if p.0 < hm.0 { 0 } else { 1 };
                    let (a, _) = project(&skel.leg[side], p);
                    part[i] = side as u8 + 1;
                    len[side] = len[side].max(a);
                }
            }
        }
    }
    (part, len)
}

fn has_any(p: &Option<String>, words: &[&str]) -> bool {
    p.as_deref().is_some_and(|s| {
        let s = s.to_ascii_lowercase();
        words.iter().any(|w| s.contains(w))
    })
}

const TOP_WORDS: &[&str] = &[
    "shirt", "top", "tee", "blouse", "jacket", "sweater", "hoodie", "coat", "jumper", "cardigan",
];
const BOTTOM_WORDS: &[&str] = &[
    "trouser", "pants", "jeans", "shorts", "skirt", "leggings", "chinos",
];
const ONE_PIECE_WORDS: &[&str] = &["dress", "jumpsuit", "romper", "overall", "gown"];

/// The garment kind from the category, else the prompt, else the cut-out.
fn garment_kind(spec: &TryOnSpec, m: &[bool], w: usize, gpose: Option<&Skeleton>) -> Garment {
    match spec.category {
        Some(Category::Tops) => return Garment::Tops,
        Some(Category::Bottoms) => return Garment::Bottoms,
        Some(Category::OnePieces) => return Garment::OnePieces,
        _ => {}
    }
    // Bottoms named first: "shirt" is inside no bottom word, but "top" is inside none either.
    if has_any(&spec.prompt, ONE_PIECE_WORDS) {
        return Garment::OnePieces;
    }
    if has_any(&spec.prompt, BOTTOM_WORDS) {
        return Garment::Bottoms;
    }
    if has_any(&spec.prompt, TOP_WORDS) {
        return Garment::Tops;
    }
    let h = m.len() / w.max(1);
    let covered = |p: P| {
        let (x, y) = (p.0.round() as i64, p.1.round() as i64);
        (x >= 0 && y >= 0 && (x as usize) < w && (y as usize) < h) && m[y as usize * w + x as usize]
    };
    if let Some(s) = gpose {
        let chest = covered(s.torso_at(0.5, 0.35));
        let thighs =
            (0..2).any(|k| s.leg[k].len() > 1 && covered(along(&s.leg[k], 0.35 * s.torso())));
        return match (chest, thighs) {
            (true, true) => Garment::OnePieces,
            (false, true) => Garment::Bottoms,
            _ => Garment::Tops,
        };
    }
    let Some((x0, y0, x1, y1)) = cutout::bbox(m, w) else {
        return Garment::Tops;
    };
    let (bw, bh) = ((x1 - x0) as f32, (y1 - y0) as f32);
    let lower = runs(m, w, y0 + ((y1 - y0) * 85) / 100, y1);
    let top_w = row_extent(m, w, y0, y0 + ((y1 - y0) / 20).max(1))
        .map(|(a, b)| b - a)
        .unwrap_or(bw);
    if lower.len() >= 2 && top_w > 0.6 * bw && bh > 1.1 * bw {
        Garment::Bottoms
    } else if bh > 1.55 * bw {
        Garment::OnePieces
    } else {
        Garment::Tops
    }
}

/// Keeps only the part of an on-model cut-out that is `kind` when the photo shows a whole
/// outfit: the rows above (tops) or below (bottoms) the colour change between chest and thighs.
fn split_outfit(rgba: &mut image::RgbaImage, s: &Skeleton, kind: Garment) {
    if kind == Garment::OnePieces {
        return;
    }
    let (w, h) = (rgba.width() as usize, rgba.height() as usize);
    let lab_at = |p: P| -> Option<[f32; 3]> {
        let (x, y) = (p.0.round() as i64, p.1.round() as i64);
        let mut acc = [0f32; 3];
        let mut n = 0f32;
        for yy in y - 3..=y + 3 {
            for xx in x - 3..=x + 3 {
                if xx < 0 || yy < 0 || xx as usize >= w || yy as usize >= h {
                    continue;
                }
                let px = rgba.get_pixel(xx as u32, yy as u32);
                if px[3] > 200 {
                    let l = crate::imaging::to_lab([px[0] as f32, px[1] as f32, px[2] as f32]);
                    for c in 0..3 {
                        acc[c] += l[c];
                    }
                    n += 1.0;
                }
            }
        }
        (n > 4.0).then(|| acc.map(|v| v / n))
    };
    let chest = lab_at(s.torso_at(0.5, 0.4));
    let thigh = (0..2).find_map(|k| lab_at(along(&s.leg[k], 0.3 * s.torso())));
    let (Some(c), Some(t)) = (chest, thigh) else {
        return;
    };
    let de = |a: [f32; 3], b: [f32; 3]| {
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
    };
    if de(c, t) < 15.0 {
        return;
    }
    // The first row (from the chest down) whose garment pixels are mostly nearer the thighs'.
    let y_start = s.torso_at(0.5, 0.4).1.max(0.0) as usize;
    let y_end = (s.hip_mid().1 + 0.4 * s.torso()).min(h as f32) as usize;
    let mut cut = None;
    for y in y_start..y_end {
        let (mut near_t, mut n) = (0, 0);
        for x in 0..w {
            let px = rgba.get_pixel(x as u32, y as u32);
            if px[3] > 200 {
                let l = crate::imaging::to_lab([px[0] as f32, px[1] as f32, px[2] as f32]);
                n += 1;
                if de(l, t) < de(l, c) {
                    near_t += 1;
                }
            }
        }
        if n > 10 && near_t * 10 > n * 6 {
            cut = Some(y);
            break;
        }
    }
    let Some(cut) = cut else {
        return;
    };
    for (_, y, px) in rgba.enumerate_pixels_mut() {
        let above = (y as usize) < cut;
        let keep = if kind == Garment::Tops { above } else { !above };
        if !keep {
            px[3] = 0;
        }
    }
}

/// Places a garment's virtual hips for a wearer with the model's proportions: as far below the
/// shoulders, and as far apart, relative to the shoulders' span.
fn hips_from_body(sk: &mut Skeleton, b: &Skeleton) {
    let ratio = b.torso() / b.span().max(1.0);
    let down = scale(sk.up(), -ratio * sk.span());
    let c = add(sk.sh_mid(), down);
    let half = 0.5 * b.hip_span() / b.span().max(1.0) * sk.span();
    let across = norm(sub(sk.shoulder[1], sk.shoulder[0]));
    sk.hip = [sub(c, scale(across, half)), add(c, scale(across, half))];
}

fn isolate_garment(
    bg: &BackgroundRemover,
    poses: &PoseModel,
    garment: &DynamicImage,
    spec: &TryOnSpec,
    body: Option<&Skeleton>,
) -> Result<(GarmentCut, Garment), EngineError> {
    let cut = cutout::isolate(bg, garment).map_err(|e| match e {
        EngineError::Input(m) => EngineError::Input(format!("The product image: {m}")),
        other => other,
    })?;
    let worn = match spec.photo_type {
        PhotoType::Model => true,
        PhotoType::FlatLay => false,
        PhotoType::Auto => cut.person.on_model,
    };
    // A worn garment: the wearer's joints, in the cut-out's pixels.
    let gpose = if worn && cut.rotated.is_none() {
        let g = garment.to_rgb8();
        poses.pose(&g, None)?.map(|p| {
            let (ox, oy, s) = (cut.origin.0 as f32, cut.origin.1 as f32, cut.source_scale);
            let mut sk = Skeleton::from_pose(&p);
            // With the legs out of the frame BlazePose places the hips poorly (too high): the
            // wearer is then taken to have the model's proportions, from the shoulders down.
            let legs_seen = p.visible(pose::LEFT_KNEE) || p.visible(pose::RIGHT_KNEE);
            if let (false, Some(b)) = (legs_seen, body) {
                hips_from_body(&mut sk, b);
            }
            sk.map(|q| ((q.0 - ox) / s, (q.1 - oy) / s))
        })
    } else {
        None
    };
    let mut rgba = cut.image;
    let (w, h) = (rgba.width() as usize, rgba.height() as usize);
    let m = alpha_mask(&rgba, 128);
    let kind = garment_kind(spec, &m, w, gpose.as_ref());
    if let Some(s) = &gpose {
        split_outfit(&mut rgba, s, kind);
    }
    let m = alpha_mask(&rgba, 128);
    if !m.iter().any(|v| *v) {
        return Err(EngineError::Input(format!(
            "The product image has no {} to try on. Choose the category that matches the \
             garment, or use a photo of it.",
            kind.label()
        )));
    }
    let skel = match gpose {
        Some(s) => s,
        None => {
            let mut s = flat_skeleton(&m, w, h, kind).ok_or_else(|| {
                EngineError::Input("The product image: no garment was found in it.".into())
            })?;
            if let (Garment::Tops | Garment::OnePieces, Some(b)) = (kind, body) {
                hips_from_body(&mut s, b);
            }
            s
        }
    };
    let (part, limb_len) = garment_parts(&m, w, &skel, kind);
    Ok((
        GarmentCut {
            rgba,
            skel,
            part,
            limb_len,
            on_model: worn,
        },
        kind,
    ))
}

// ---------------------------------------------------------------------------------------------
// Correspondences and the warp.

/// (model-photo point, cut-out point) pairs; `fit` widens the body frame (1 = as measured).
fn correspondences(body: &Skeleton, g: &GarmentCut, kind: Garment, fit: f32) -> Vec<(P, P)> {
    let gs = &g.skel;
    let mut pairs = vec![];
    let widen = |s: &Skeleton, p: P| {
        // Away from the body's axis by `fit`.
        let axis = [s.sh_mid(), s.hip_mid()];
        let (a, _) = project(&axis, p);
        let l = dist(axis[0], axis[1]).max(1e-3);
        let c = lerp(axis[0], axis[1], (a / l).clamp(0.0, 1.0));
        add(c, scale(sub(p, c), fit))
    };
    let scale_ratio = match kind {
        Garment::Bottoms => body.hip_span() / gs.hip_span().max(1.0),
        _ => ((body.span() / gs.span().max(1.0)) * (body.torso() / gs.torso().max(1.0))).sqrt(),
    };
    match kind {
        Garment::Tops | Garment::OnePieces => {
            for v in [0.0, 0.3, 0.65, 1.0] {
                for u in [0.0, 0.5, 1.0] {
                    pairs.push((widen(body, body.torso_at(u, v)), gs.torso_at(u, v)));
                }
            }
            pairs.push((body.torso_at(0.5, -0.15), gs.torso_at(0.5, -0.15)));
        }
        Garment::Bottoms => {
            for wv in [0.0, 0.5] {
                for u in [0.0, 0.5, 1.0] {
                    pairs.push((widen(body, body.hip_at(u, wv)), gs.hip_at(u, wv)));
                }
            }
        }
    }
    let limbs: [(&Vec<P>, &Vec<P>); 2] = match kind {
        Garment::Tops => [(&body.arm[0], &gs.arm[0]), (&body.arm[1], &gs.arm[1])],
        _ => [(&body.leg[0], &gs.leg[0]), (&body.leg[1], &gs.leg[1])],
    };
    for (side, (bl, gl)) in limbs.iter().enumerate() {
        let lg = g.limb_len[side];
        if gl.len() < 2 || lg < 0.08 * gs.span().max(gs.hip_span()) {
            continue;
        }
        let total = length(bl);
        for t in [0.4, 0.75, 1.0] {
            let a = t * lg;
            let b = along(bl, (a * scale_ratio).min(total));
            pairs.push((b, along(gl, a)));
        }
    }
    pairs
}

/// The warped garment: colour, alpha and part per model-photo pixel.
struct Placed {
    rgb: Vec<[f32; 3]>,
    alpha: Vec<f32>,
    part: Vec<u8>,
}

fn place(g: &GarmentCut, tps: &Tps, w: usize, h: usize) -> Placed {
    const STEP: usize = 4;
    let (gw, gh) = (g.rgba.width() as usize, g.rgba.height() as usize);
    let (nx, ny) = (w / STEP + 2, h / STEP + 2);
    let grid: Vec<P> = (0..ny)
        .flat_map(|j| (0..nx).map(move |i| ((i * STEP) as f32 + 0.5, (j * STEP) as f32 + 0.5)))
        .map(|p| tps.eval(p))
        .collect();
    let mut out = Placed {
        rgb: vec![[0.0; 3]; w * h],
        alpha: vec![0.0; w * h],
        part: vec![0; w * h],
    };
    for y in 0..h {
        let (j, fy) = (y / STEP, (y % STEP) as f32 / STEP as f32);
        for x in 0..w {
            let (i, fx) = (x / STEP, (x % STEP) as f32 / STEP as f32);
            let g00 = grid[j * nx + i];
            let g10 = grid[j * nx + i + 1];
            let g01 = grid[(j + 1) * nx + i];
            let g11 = grid[(j + 1) * nx + i + 1];
            let top = lerp(g00, g10, fx);
            let bot = lerp(g01, g11, fx);
            let (sx, sy) = lerp(top, bot, fy);
            // Continuous coordinates (pixel centres at +0.5) → pixel indices.
            let (sx, sy) = (sx - 0.5, sy - 0.5);
            if sx < -1.0 || sy < -1.0 || sx > gw as f32 || sy > gh as f32 {
                continue;
            }
            // Bilinear, colour weighted by alpha.
            let (x0, y0) = (sx.floor() as i64, sy.floor() as i64);
            let (ax, ay) = (sx - x0 as f32, sy - y0 as f32);
            let mut acc = [0f32; 3];
            let mut a = 0f32;
            for (dx, dy, wgt) in [
                (0, 0, (1.0 - ax) * (1.0 - ay)),
                (1, 0, ax * (1.0 - ay)),
                (0, 1, (1.0 - ax) * ay),
                (1, 1, ax * ay),
            ] {
                let (xx, yy) = (x0 + dx, y0 + dy);
                if xx < 0 || yy < 0 || xx as usize >= gw || yy as usize >= gh {
                    continue;
                }
                let p = g.rgba.get_pixel(xx as u32, yy as u32);
                let pa = p[3] as f32 / 255.0 * wgt;
                for c in 0..3 {
                    acc[c] += p[c] as f32 * pa;
                }
                a += pa;
            }
            let k = y * w + x;
            if a > 1e-4 {
                out.rgb[k] = acc.map(|v| v / a);
                out.alpha[k] = a.min(1.0);
                let (nxp, nyp) = (
                    (sx.round() as i64).clamp(0, gw as i64 - 1) as usize,
                    (sy.round() as i64).clamp(0, gh as i64 - 1) as usize,
                );
                out.part[k] = g.part[nyp * gw + nxp];
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The model photo: the garment it wears, what stays in front, the shading.

/// The model's own garment of `kind`: pixels of the person connected to seeds on the chest (or
/// thighs) and of their colour (lightness counts a third, so folds and shadows stay in).
fn old_garment(
    lab: &[[f32; 3]],
    person: &[bool],
    skin: &[bool],
    w: usize,
    h: usize,
    body: &Skeleton,
    kind: Garment,
) -> Vec<bool> {
    let mut seeds: Vec<P> = vec![];
    if kind != Garment::Bottoms {
        for (u, v) in [(0.3, 0.3), (0.5, 0.3), (0.7, 0.3), (0.4, 0.55), (0.6, 0.55)] {
            seeds.push(body.torso_at(u, v));
        }
    }
    if kind != Garment::Tops {
        for k in 0..2 {
            for t in [0.25, 0.5] {
                seeds.push(along(&body.leg[k], t * body.torso()));
            }
        }
    }
    let mut region = vec![false; w * h];
    let up = body.up();
    let axis_v = |p: P| {
        let d = sub(p, body.sh_mid());
        -(d.0 * up.0 + d.1 * up.1) / body.torso().max(1.0)
    };
    let (v_min, v_max) = match kind {
        Garment::Tops => (-0.3, 1.45),
        Garment::Bottoms => (0.75, 10.0),
        Garment::OnePieces => (-0.3, 10.0),
    };
    // The colours the flood accepted, for the second pass.
    let mut colours: Vec<[f32; 3]> = vec![];
    for s in seeds {
        let (sx, sy) = (s.0.round() as i64, s.1.round() as i64);
        if sx < 3 || sy < 3 || sx as usize + 3 >= w || sy as usize + 3 >= h {
            continue;
        }
        // The seed's colour: the median of a 7×7 patch, channel by channel.
        let mut chans: [Vec<f32>; 3] = [vec![], vec![], vec![]];
        for yy in sy - 3..=sy + 3 {
            for xx in sx - 3..=sx + 3 {
                let k = yy as usize * w + xx as usize;
                if person[k] && !skin[k] {
                    for c in 0..3 {
                        chans[c].push(lab[k][c]);
                    }
                }
            }
        }
        if chans[0].len() < 10 {
            continue;
        }
        let c: [f32; 3] = std::array::from_fn(|i| {
            let v = &mut chans[i];
            v.sort_by(f32::total_cmp);
            v[v.len() / 2]
        });
        let close = |k: usize| {
            let l = lab[k];
            let d = ((l[0] - c[0]) / 3.0).powi(2) + (l[1] - c[1]).powi(2) + (l[2] - c[2]).powi(2);
            d < 12.0 * 12.0
        };
        let start = sy as usize * w + sx as usize;
        if region[start] || !close(start) {
            continue;
        }
        colours.push(c);
        let mut stack = vec![start];
        region[start] = true;
        while let Some(k) = stack.pop() {
            let (x, y) = (k % w, k / w);
            for (nx, ny) in [
                (x.wrapping_sub(1), y),
                (x + 1, y),
                (x, y.wrapping_sub(1)),
                (x, y + 1),
            ] {
                if nx >= w || ny >= h {
                    continue;
                }
                let n = ny * w + nx;
                if region[n] || !person[n] || skin[n] || !close(n) {
                    continue;
                }
                let v = axis_v((nx as f32, ny as f32));
                if v < v_min || v > v_max {
                    continue;
                }
                region[n] = true;
                stack.push(n);
            }
        }
    }
    // Second pass: patches of the same garment cut off from the rest by a hand or an arm
    // (within a tenth of the shoulders' span of the region, of one of its seed colours).
    if !colours.is_empty() {
        let r = ((0.1 * body.span().max(body.hip_span())) as usize).max(2);
        let near = box_mean(
            &Plane::new(w, h, region.iter().map(|v| *v as u8 as f32).collect()),
            r,
        );
        for k in 0..w * h {
            if region[k] || near.data[k] <= 0.0 || !person[k] || skin[k] {
                continue;
            }
            let v = axis_v(((k % w) as f32, (k / w) as f32));
            if v < v_min || v > v_max {
                continue;
            }
            let l = lab[k];
            region[k] = colours.iter().any(|c| {
                ((l[0] - c[0]) / 3.0).powi(2) + (l[1] - c[1]).powi(2) + (l[2] - c[2]).powi(2)
                    < 12.0 * 12.0
            });
        }
    }
    region
}

/// Distance from point `p` to segment ab.
fn seg_dist(p: P, a: P, b: P) -> f32 {
    project(&[a, b], p).1
}

/// Skin that stays in front of the garment: arms and hands (within their capsules), the neck,
/// and the face; `sleeve_over` says where a sleeve may cover an upper arm.
fn front_mask(
    rgb: &RgbImage,
    person: &[bool],
    body: &Skeleton,
    face_oval: Option<&[P]>,
    skin_model: Option<&SkinModel>,
) -> (Vec<bool>, Vec<bool>) {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let span = body.span().max(body.hip_span()).max(4.0);
    let mut skin = vec![false; w * h];
    for (x, y, p) in rgb.enumerate_pixels() {
        let k = y as usize * w + x as usize;
        if !person[k] {
            continue;
        }
        skin[k] = match skin_model {
            Some(m) => {
                let (l, cb, cr) = cutout::ycbcr(p);
                l > 30.0 && m.d2(cb, cr) < 9.0
            }
            None => cutout::generic_skin(p),
        };
    }
    let mut front = vec![false; w * h];
    let r_arm = 0.2 * span;
    for y in 0..h {
        for x in 0..w {
            let k = y * w + x;
            if !skin[k] {
                continue;
            }
            let p = (x as f32 + 0.5, y as f32 + 0.5);
            let in_arm = body.arm.iter().any(|a| {
                a.windows(2)
                    .any(|s| seg_dist(p, s[0], s[1]) < r_arm * if s[0] == a[0] { 1.0 } else { 1.2 })
            });
            let neck = {
                let up = body.up();
                let d = sub(p, body.sh_mid());
                let along_up = d.0 * up.0 + d.1 * up.1;
                along_up > -0.05 * body.torso()
                    && seg_dist(p, body.shoulder[0], body.shoulder[1]) < 0.6 * span
            };
            front[k] = in_arm || neck;
        }
    }
    if let Some(oval) = face_oval {
        let (mut y0, mut y1) = (f32::MAX, f32::MIN);
        for p in oval {
            y0 = y0.min(p.1);
            y1 = y1.max(p.1);
        }
        for y in (y0.max(0.0) as usize)..(y1.min(h as f32) as usize) {
            let yc = y as f32 + 0.5;
            let mut xs = vec![];
            for i in 0..oval.len() {
                let (a, b) = (oval[i], oval[(i + 1) % oval.len()]);
                if (a.1 <= yc) != (b.1 <= yc) {
                    xs.push(a.0 + (yc - a.1) / (b.1 - a.1) * (b.0 - a.0));
                }
            }
            xs.sort_by(f32::total_cmp);
            for pair in xs.chunks_exact(2) {
                let (a, b) = (pair[0].max(0.0) as usize, (pair[1].min(w as f32)) as usize);
                for x in a..b {
                    front[y * w + x] = true;
                }
            }
        }
    }
    // The upper arm, where a sleeve may cover skin.
    let mut upper = vec![false; w * h];
    for y in 0..h {
        for x in 0..w {
            let p = (x as f32 + 0.5, y as f32 + 0.5);
            upper[y * w + x] = body
                .arm
                .iter()
                .any(|a| a.len() > 1 && seg_dist(p, a[0], a[1]) < r_arm);
        }
    }
    (front, upper)
}

fn blur_plane(p: &Plane, r: usize) -> Plane {
    let r = r.max(1);
    box_mean(&box_mean(&box_mean(p, r), r), r)
}

/// The photo's shading inside `region`: luminance at a fine scale over a coarse one, each a
/// normalised (masked) blur, 1 outside.
fn shading(rgb: &RgbImage, region: &[bool], fine: usize, coarse: usize) -> Vec<f32> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let wgt = Plane::new(w, h, region.iter().map(|v| *v as u8 as f32).collect());
    let lum = Plane::new(
        w,
        h,
        rgb.pixels()
            .zip(region)
            .map(|(p, r)| {
                if *r {
                    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
                } else {
                    0.0
                }
            })
            .collect(),
    );
    let (lf, wf) = (blur_plane(&lum, fine), blur_plane(&wgt, fine));
    let (lc, wc) = (blur_plane(&lum, coarse), blur_plane(&wgt, coarse));
    (0..w * h)
        .map(|k| {
            if wf.data[k] < 0.3 || wc.data[k] < 0.05 {
                return 1.0;
            }
            let f = (lf.data[k] / wf.data[k] + 8.0) / (lc.data[k] / wc.data[k] + 8.0);
            // Fades to 1 at the region's edge.
            let t = ((wf.data[k] - 0.3) / 0.4).clamp(0.0, 1.0);
            1.0 + (f.clamp(0.55, 1.35) - 1.0) * t
        })
        .collect()
}

fn cap(img: &RgbImage) -> Result<RgbImage, EngineError> {
    let px = img.width() as u64 * img.height() as u64;
    if px <= MAX_PIXELS {
        return Ok(img.clone());
    }
    let s = (MAX_PIXELS as f64 / px as f64).sqrt();
    let w = ((img.width() as f64 * s).floor() as u32).max(1);
    let h = ((img.height() as f64 * s).floor() as u32).max(1);
    crate::imaging::resize_rgb(img, w, h, fr::FilterType::Lanczos3)
}

fn no_person() -> EngineError {
    EngineError::Pose(
        "No person was found in the model image. Try-On needs one person, seen from the front or \
         three-quarters, with the body visible (half or full length). Use another model photo."
            .into(),
    )
}

/// Tries the garment in `garment` on the person in `model`.
pub fn try_on(
    bg: &BackgroundRemover,
    poses: &PoseModel,
    faces: &FaceModels,
    model: &DynamicImage,
    garment: &DynamicImage,
    spec: &TryOnSpec,
) -> Result<TryOnResult, EngineError> {
    let rgb = cap(&model.to_rgb8())?;
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w.min(h) < 64 {
        return Err(EngineError::Input(format!(
            "The model image is too small for Try-On ({w}×{h}): use a photo at least 64 pixels \
             on each side."
        )));
    }
    // The body.
    let matte = bg.alpha(&rgb)?;
    let person_box = {
        let m: Vec<bool> = matte.data.iter().map(|a| *a > 0.5).collect();
        cutout::bbox(&m, w).map(|(x0, y0, x1, y1)| (x0 as f32, y0 as f32, x1 as f32, y1 as f32))
    };
    let pose = poses.pose(&rgb, person_box)?.ok_or_else(no_person)?;
    let body = Skeleton::from_pose(&pose);
    let inside = |i: usize| {
        let l = pose.landmarks[i];
        l.visibility >= 0.5 && l.x >= 0.0 && l.y >= 0.0 && l.x < w as f32 && l.y < h as f32
    };
    if !(inside(pose::LEFT_SHOULDER) || inside(pose::RIGHT_SHOULDER) || inside(pose::LEFT_HIP)) {
        return Err(no_person());
    }
    // The garment.
    let (g, kind) = isolate_garment(bg, poses, garment, spec, Some(&body))?;
    let need: &[usize] = match kind {
        Garment::Tops => &[pose::LEFT_SHOULDER, pose::RIGHT_SHOULDER],
        Garment::Bottoms => &[pose::LEFT_HIP, pose::RIGHT_HIP],
        Garment::OnePieces => &[pose::LEFT_SHOULDER, pose::RIGHT_SHOULDER],
    };
    if need.iter().any(|i| !inside(*i)) {
        return Err(EngineError::Pose(format!(
            "The model image does not show the body the {} go on ({} not visible). Use a \
             photo where the {} are in the frame.",
            kind.label(),
            if kind == Garment::Bottoms {
                "hips"
            } else {
                "shoulders"
            },
            if kind == Garment::Bottoms {
                "hips and legs"
            } else {
                "shoulders and torso"
            }
        )));
    }
    let person: Vec<bool> = pose
        .mask
        .data
        .iter()
        .zip(&matte.data)
        .map(|(p, m)| *p > 0.5 || (*p > 0.2 && *m > 0.5))
        .collect();
    // The face, for the skin model and to keep in front.
    let face = faces.faces(&rgb)?.into_iter().next();
    let skin_model = face.as_ref().and_then(|f| {
        let oval = f.oval();
        let (x0, y0, x1, y1) = f.bounds();
        let mut samples = vec![];
        for y in (y0.max(0.0) as u32)..(y1.min(h as f32) as u32) {
            for x in (x0.max(0.0) as u32)..(x1.min(w as f32) as u32) {
                let p = rgb.get_pixel(x, y);
                if cutout::generic_skin(p) && inside_poly(&oval, (x as f32 + 0.5, y as f32 + 0.5)) {
                    let (_, cb, cr) = cutout::ycbcr(p);
                    samples.push((cb, cr));
                }
            }
        }
        SkinModel::fit(&samples)
    });
    let oval = face.as_ref().map(|f| f.oval());
    let (front, upper_arm) = front_mask(&rgb, &person, &body, oval.as_deref(), skin_model.as_ref());
    let lab: Vec<[f32; 3]> = rgb
        .pixels()
        .map(|p| crate::imaging::to_lab([p[0] as f32, p[1] as f32, p[2] as f32]))
        .collect();
    let replaced = old_garment(&lab, &person, &front, w, h, &body, kind);
    let span = body.span().max(body.hip_span()).max(8.0);
    let shade = shading(
        &rgb,
        &replaced,
        ((0.012 * span) as usize).max(1),
        ((0.25 * span) as usize).max(2),
    );
    let tucked = has_any(&spec.prompt, &["tuck"]) && kind == Garment::Tops;
    let lowest_old = replaced
        .iter()
        .enumerate()
        .filter(|(_, v)| **v)
        .map(|(k, _)| k / w)
        .max();

    let fits = [1.0f32, 1.06, 0.95, 1.1];
    let n = spec.outputs.clamp(1, 4) as usize;
    let mut images = Vec::with_capacity(n);
    let mut first_placed = None;
    for fit in fits.iter().take(n) {
        let pairs = correspondences(&body, &g, kind, *fit);
        let (src, dst): (Vec<P>, Vec<P>) = pairs.into_iter().unzip();
        let tps = Tps::fit(&src, &dst, 1e-4).ok_or_else(|| {
            EngineError::Pose(
                "The body's pose could not be matched to the garment (the landmarks coincide). \
                 Use a photo with the body facing the camera."
                    .into(),
            )
        })?;
        let mut placed = place(&g, &tps, w, h);
        if let (true, Some(ymax)) = (tucked, lowest_old) {
            for y in ymax + 1..h {
                for x in 0..w {
                    placed.alpha[y * w + x] = 0.0;
                }
            }
        }
        // Where the old garment shows past the new one, the new one's colours spread over it.
        let mut known = vec![0f32; w * h];
        let mut cover = vec![0f32; w * h];
        for k in 0..w * h {
            if placed.alpha[k] > 0.9 {
                known[k] = 1.0;
            }
            cover[k] = placed.alpha[k];
            if replaced[k] && placed.alpha[k] < 0.9 && !front[k] {
                cover[k] = 1.0;
            }
        }
        let any_fill = (0..w * h).any(|k| cover[k] > placed.alpha[k]);
        let fill = if any_fill && known.iter().any(|v| *v > 0.0) {
            crate::imaging::push_pull(&placed.rgb, &known, w, h)
        } else {
            placed.rgb.clone()
        };
        // Front layer: skin, softened by a small blur so the edge is not a cut.
        let keep = Plane::new(
            w,
            h,
            (0..w * h)
                .map(|k| {
                    let sleeve = placed.part[k] != 0 && upper_arm[k];
                    (front[k] && !sleeve) as u8 as f32
                })
                .collect(),
        );
        let keep = blur_plane(&keep, 1);
        let mut out = rgb.clone();
        for (k, px) in out.pixels_mut().enumerate() {
            let a = cover[k] * (1.0 - keep.data[k]);
            if a <= 0.0 {
                continue;
            }
            let c = if placed.alpha[k] > 0.9 {
                placed.rgb[k]
            } else {
                let t = placed.alpha[k];
                std::array::from_fn(|i| placed.rgb[k][i] * t + fill[k][i] * (1.0 - t))
            };
            let f = shade[k];
            let orig = px.0;
            *px = Rgb(std::array::from_fn(|i| {
                let shaded = c[i] * f + 24.0 * (f - 1.0);
                (orig[i] as f32 * (1.0 - a) + shaded.clamp(0.0, 255.0) * a).round() as u8
            }));
        }
        if first_placed.is_none() {
            first_placed = Some(Plane::new(w, h, placed.alpha.clone()));
        }
        images.push(out);
    }
    Ok(TryOnResult {
        images,
        garment: kind,
        garment_on_model: g.on_model,
        placed: first_placed.expect("one output"),
        replaced,
    })
}

fn inside_poly(poly: &[P], p: P) -> bool {
    let mut inside = false;
    for i in 0..poly.len() {
        let (a, b) = (poly[i], poly[(i + 1) % poly.len()]);
        if (a.1 <= p.1) != (b.1 <= p.1) && p.0 < a.0 + (p.1 - a.1) / (b.1 - a.1) * (b.0 - a.0) {
            inside = !inside;
        }
    }
    inside
}

/// The node's entry point: the outputs as PNG, and the engine label with the garment kind.
pub fn run(
    bg: &BackgroundRemover,
    model: &DynamicImage,
    garment: Option<&DynamicImage>,
    spec: &TryOnSpec,
) -> Result<(Vec<crate::imaging::Encoded>, String), EngineError> {
    let garment = garment.ok_or_else(|| {
        EngineError::Input("Try-On needs a product image: add a photo of the garment.".into())
    })?;
    let r = try_on(
        bg,
        PoseModel::shared()?,
        FaceModels::shared()?,
        model,
        garment,
        spec,
    )?;
    let mut outs = vec![];
    for img in &r.images {
        let (w, h) = img.dimensions();
        let mut png = Vec::new();
        image::codecs::png::PngEncoder::new_with_quality(
            &mut png,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        )
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .map_err(|e| EngineError::Encode(e.to_string()))?;
        outs.push(crate::imaging::Encoded {
            png,
            width: w,
            height: h,
        });
    }
    let label = format!(
        "{ENGINE} ({}, {} product photo)",
        r.garment.label(),
        if r.garment_on_model {
            "on-model"
        } else {
            "flat-lay"
        }
    );
    Ok((outs, label))
}

use image::ImageEncoder;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_interpolates_its_points_and_is_affine_far_away() {
        let src = [
            (0.0, 0.0),
            (100.0, 0.0),
            (0.0, 100.0),
            (100.0, 100.0),
            (50.0, 50.0),
        ];
        let dst: Vec<P> = src.iter().map(|p| (2.0 * p.0 + 10.0, p.1 - 5.0)).collect();
        let t = Tps::fit(&src, &dst, 0.0).unwrap();
        for (s, d) in src.iter().zip(&dst) {
            let e = t.eval(*s);
            assert!(dist(e, *d) < 1e-2, "{e:?} vs {d:?}");
        }
        // An affine map is reproduced everywhere.
        let e = t.eval((300.0, -40.0));
        assert!(dist(e, (610.0, -45.0)) < 0.1, "{e:?}");
        // A bent point pulls its neighbourhood along.
        let mut bent = dst.clone();
        bent[4] = (120.0, 60.0);
        let t = Tps::fit(&src, &bent, 0.0).unwrap();
        assert!(dist(t.eval((50.0, 50.0)), (120.0, 60.0)) < 1e-2);
        let near = t.eval((55.0, 50.0));
        assert!(near.0 > 120.0 && near.0 < 135.0, "{near:?}");
    }

    #[test]
    fn polylines_measure_and_project() {
        let l = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)];
        assert_eq!(length(&l), 20.0);
        assert_eq!(along(&l, 15.0), (10.0, 5.0));
        assert_eq!(along(&l, 50.0), (10.0, 10.0));
        let (a, d) = project(&l, (12.0, 4.0));
        assert!((a - 14.0).abs() < 1e-4 && (d - 2.0).abs() < 1e-4);
    }

    /// A flat-lay T-shirt: torso block with two sleeves going out and down.
    fn tshirt(w: usize, h: usize) -> Vec<bool> {
        let mut m = vec![false; w * h];
        for y in 20..180 {
            for x in 60..140 {
                m[y * w + x] = true;
            }
        }
        for y in 20..60 {
            for x in 20..60 {
                if (y as i64 - 20) >= (60 - x as i64) / 2 {
                    m[y * w + x] = true;
                }
            }
            for x in 140..180 {
                if (y as i64 - 20) >= (x as i64 - 140) / 2 {
                    m[y * w + x] = true;
                }
            }
        }
        m
    }

    #[test]
    fn flat_lay_top_gets_shoulders_hips_and_sleeves() {
        let (w, h) = (200, 200);
        let m = tshirt(w, h);
        let s = flat_skeleton(&m, w, h, Garment::Tops).unwrap();
        // Right shoulder on the image's left, at the torso's edge, near the top.
        assert!(s.shoulder[0].0 < 70.0 && s.shoulder[1].0 > 130.0);
        assert!(s.shoulder[0].1 > 20.0 && s.shoulder[0].1 < 60.0);
        assert!(s.hip[0].1 > 120.0 && s.hip[0].1 < 180.0);
        // The sleeves point outward.
        assert!(s.arm[0][1].0 < 45.0, "{:?}", s.arm[0]);
        assert!(s.arm[1][1].0 > 155.0, "{:?}", s.arm[1]);
        let (part, len) = garment_parts(&m, w, &s, Garment::Tops);
        assert!(len[0] > 10.0 && len[1] > 10.0, "{len:?}");
        assert_eq!(part[100 * w + 100], 0, "the torso's middle is torso");
        assert_eq!(part[45 * w + 30], 1, "the right sleeve");
        assert_eq!(part[45 * w + 170], 2, "the left sleeve");
        assert_eq!(
            garment_kind(&TryOnSpec::default(), &m, w, None),
            Garment::Tops
        );
    }

    #[test]
    fn flat_lay_trousers_are_bottoms_with_two_legs() {
        let (w, h) = (200, 300);
        let mut m = vec![false; w * h];
        for y in 10..290 {
            for x in 50..150 {
                let leg_gap = y > 110 && (95..105).contains(&x);
                if !leg_gap {
                    m[y * w + x] = true;
                }
            }
        }
        assert_eq!(
            garment_kind(&TryOnSpec::default(), &m, w, None),
            Garment::Bottoms
        );
        let s = flat_skeleton(&m, w, h, Garment::Bottoms).unwrap();
        assert!(s.leg[0][1].0 < 95.0 && s.leg[1][1].0 > 105.0, "{:?}", s.leg);
        let spec = TryOnSpec {
            prompt: Some("the linen shirt".into()),
            ..Default::default()
        };
        assert_eq!(garment_kind(&spec, &m, w, None), Garment::Tops);
        let spec = TryOnSpec {
            category: Some(Category::OnePieces),
            ..Default::default()
        };
        assert_eq!(garment_kind(&spec, &m, w, None), Garment::OnePieces);
    }
}
