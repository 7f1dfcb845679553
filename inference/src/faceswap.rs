//! Face Swap without a generative model: the Face Reference's face is warped onto the image's
//! face by their 468-point meshes ([`crate::face`]), colour-matched in CIE Lab, and blended in
//! with a seamless (membrane) correction so the seam takes the image's own light.
//!
//! * **Match Current Model** (`match_base`): the reference's face is warped triangle by triangle
//!   (Delaunay on the image's landmarks, one affine map per triangle) onto the current model's
//!   landmarks — the model keeps their head angle, expression and gaze direction.
//! * **Match Reference** (the default): one similarity transform (rotation, scale, shift) fitted
//!   on the two meshes places the reference's face as it is — its expression, head angle and
//!   gaze kept.
//!
//! Output is capped at 2K (2048² pixels), as the docs say.

use atelier_core::catalog::FaceMatch;
use fast_image_resize as fr;
use image::{DynamicImage, ImageEncoder, RgbImage};

use crate::face::{Face, FaceModels};
use crate::imaging::{from_lab, to_lab};
use crate::imaging::{Encoded, EngineError};

/// Face Swap's output limit: the 2K tier's pixel count.
pub const MAX_PIXELS: u64 = 2048 * 2048;
/// Below this distance between the outer eye corners (pixels) a face is too small to swap.
pub const MIN_EYE_SPAN: f32 = 12.0;

/// What a swap did, for the result's metadata and the tests.
#[derive(Debug, Clone)]
pub struct Swap {
    pub image: RgbImage,
    /// The blend mask (0..1) over the output: where the new face went.
    pub mask: Vec<f32>,
    pub target: Face,
    pub reference: Face,
}

/// Why a photo has no usable face, in words a user can act on (reported as PoseError).
fn no_face(which: &str) -> EngineError {
    EngineError::Pose(match which {
        "image" => "No face was found in the image. Face Swap needs the model's face visible \
                    (front or three-quarter view, not covered). Use a photo where the face shows, \
                    or Model Swap to change the whole person."
            .into(),
        _ => "No face was found in the Face Reference. Use a clear photo of one face, facing \
              the camera, with an angle and lighting like the model's."
            .into(),
    })
}

fn largest_face(models: &FaceModels, img: &RgbImage, which: &str) -> Result<Face, EngineError> {
    let face = models
        .faces(img)?
        .into_iter()
        .next()
        .ok_or_else(|| no_face(which))?;
    let span = face.eye_span();
    if span < MIN_EYE_SPAN {
        return Err(EngineError::Pose(format!(
            "The face in the {} is too small to swap ({span:.0} px between the outer eye corners; \
             at least {MIN_EYE_SPAN:.0}). Use a closer or larger photo.",
            if which == "image" {
                "image"
            } else {
                "Face Reference"
            }
        )));
    }
    Ok(face)
}

/// Scales `img` so it holds at most `max` pixels (kept as is when it already does).
fn cap(img: &RgbImage, max: u64) -> Result<RgbImage, EngineError> {
    let px = img.width() as u64 * img.height() as u64;
    if px <= max {
        return Ok(img.clone());
    }
    let s = (max as f64 / px as f64).sqrt();
    let w = ((img.width() as f64 * s).floor() as u32).max(1);
    let h = ((img.height() as f64 * s).floor() as u32).max(1);
    crate::imaging::resize_rgb(img, w, h, fr::FilterType::Lanczos3)
}

/// The least-squares similarity (scale·rotation + shift) taking `src` points onto `dst`
/// (Umeyama in 2D): returns (a, b, tx, ty) for x' = a·x − b·y + tx, y' = b·x + a·y + ty.
pub fn fit_similarity(src: &[(f32, f32)], dst: &[(f32, f32)]) -> (f32, f32, f32, f32) {
    let n = src.len() as f32;
    let mean = |p: &[(f32, f32)]| {
        let s = p.iter().fold((0f32, 0f32), |a, q| (a.0 + q.0, a.1 + q.1));
        (s.0 / n, s.1 / n)
    };
    let (ms, md) = (mean(src), mean(dst));
    let (mut sxx, mut sxy, mut var) = (0f32, 0f32, 0f32);
    for (s, d) in src.iter().zip(dst) {
        let (x, y) = (s.0 - ms.0, s.1 - ms.1);
        let (u, v) = (d.0 - md.0, d.1 - md.1);
        sxx += x * u + y * v;
        sxy += x * v - y * u;
        var += x * x + y * y;
    }
    let var = var.max(1e-6);
    let (a, b) = (sxx / var, sxy / var);
    let tx = md.0 - (a * ms.0 - b * ms.1);
    let ty = md.1 - (b * ms.0 + a * ms.1);
    (a, b, tx, ty)
}

/// A rectangle of the output that the swap works in.
#[derive(Debug, Clone, Copy)]
struct Region {
    x0: usize,
    y0: usize,
    w: usize,
    h: usize,
}

impl Region {
    fn around(pts: &[(f32, f32)], margin: f32, iw: u32, ih: u32) -> Region {
        let mut b = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in pts {
            b = (b.0.min(p.0), b.1.min(p.1), b.2.max(p.0), b.3.max(p.1));
        }
        let x0 = (b.0 - margin).floor().max(0.0) as usize;
        let y0 = (b.1 - margin).floor().max(0.0) as usize;
        let x1 = ((b.2 + margin).ceil() as usize).min(iw as usize);
        let y1 = ((b.3 + margin).ceil() as usize).min(ih as usize);
        Region {
            x0,
            y0,
            w: x1.saturating_sub(x0).max(1),
            h: y1.saturating_sub(y0).max(1),
        }
    }
}

/// Piecewise-affine warp of `src` into the region: each triangle of `dst` (indices into both
/// point lists) takes the pixels of the same triangle of `src`. Returns colours and coverage.
fn warp_triangles(
    src_img: &RgbImage,
    src: &[(f32, f32)],
    dst: &[(f32, f32)],
    tris: &[usize],
    r: Region,
) -> (Vec<[f32; 3]>, Vec<bool>) {
    let mut rgb = vec![[0f32; 3]; r.w * r.h];
    let mut cov = vec![false; r.w * r.h];
    for t in tris.chunks_exact(3) {
        let (a, b, c) = (dst[t[0]], dst[t[1]], dst[t[2]]);
        let (sa, sb, sc) = (src[t[0]], src[t[1]], src[t[2]]);
        let det = (b.0 - a.0) * (c.1 - a.1) - (c.0 - a.0) * (b.1 - a.1);
        if det.abs() < 1e-6 {
            continue;
        }
        let minx = (a.0.min(b.0).min(c.0).floor() as i64).max(r.x0 as i64);
        let maxx = (a.0.max(b.0).max(c.0).ceil() as i64).min((r.x0 + r.w) as i64 - 1);
        let miny = (a.1.min(b.1).min(c.1).floor() as i64).max(r.y0 as i64);
        let maxy = (a.1.max(b.1).max(c.1).ceil() as i64).min((r.y0 + r.h) as i64 - 1);
        for y in miny..=maxy {
            for x in minx..=maxx {
                let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
                // Barycentric weights of b and c; a's is the rest.
                let wb = ((px - a.0) * (c.1 - a.1) - (c.0 - a.0) * (py - a.1)) / det;
                let wc = ((b.0 - a.0) * (py - a.1) - (px - a.0) * (b.1 - a.1)) / det;
                let wa = 1.0 - wb - wc;
                const E: f32 = -1e-3;
                if wa < E || wb < E || wc < E {
                    continue;
                }
                let sx = wa * sa.0 + wb * sb.0 + wc * sc.0;
                let sy = wa * sa.1 + wb * sb.1 + wc * sc.1;
                let i = (y as usize - r.y0) * r.w + (x as usize - r.x0);
                rgb[i] = crate::imaging::bilinear(src_img, sx, sy, true);
                cov[i] = true;
            }
        }
    }
    (rgb, cov)
}

/// Even-odd fill of a polygon over the region.
fn fill_polygon(poly: &[(f32, f32)], r: Region) -> Vec<bool> {
    let mut m = vec![false; r.w * r.h];
    for yy in 0..r.h {
        let y = (r.y0 + yy) as f32 + 0.5;
        let mut xs = Vec::new();
        for i in 0..poly.len() {
            let (p, q) = (poly[i], poly[(i + 1) % poly.len()]);
            if (p.1 <= y) != (q.1 <= y) {
                xs.push(p.0 + (y - p.1) / (q.1 - p.1) * (q.0 - p.0));
            }
        }
        xs.sort_by(f32::total_cmp);
        for pair in xs.chunks_exact(2) {
            let a = ((pair[0] - 0.5).ceil().max(r.x0 as f32) as usize).saturating_sub(r.x0);
            let b = ((pair[1] - 0.5).floor() as i64 - r.x0 as i64).min(r.w as i64 - 1);
            if b < a as i64 {
                continue;
            }
            for x in a..=b as usize {
                m[yy * r.w + x] = true;
            }
        }
    }
    m
}

/// Distance (in pixels, capped at `cap`) from each inside pixel to the nearest outside pixel:
/// a two-pass chamfer transform.
fn inside_distance(m: &[bool], w: usize, h: usize, cap: f32) -> Vec<f32> {
    let mut d: Vec<f32> = m.iter().map(|&i| if i { cap } else { 0.0 }).collect();
    const D1: f32 = 1.0;
    const D2: f32 = std::f32::consts::SQRT_2;
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            if d[i] == 0.0 {
                continue;
            }
            let mut v = d[i];
            if x == 0 || y == 0 || x == w - 1 || y == h - 1 {
                v = v.min(1.0);
            }
            if x > 0 {
                v = v.min(d[i - 1] + D1);
            }
            if y > 0 {
                v = v.min(d[i - w] + D1);
                if x > 0 {
                    v = v.min(d[i - w - 1] + D2);
                }
                if x + 1 < w {
                    v = v.min(d[i - w + 1] + D2);
                }
            }
            d[i] = v;
        }
    }
    for y in (0..h).rev() {
        for x in (0..w).rev() {
            let i = y * w + x;
            if d[i] == 0.0 {
                continue;
            }
            let mut v = d[i];
            if x + 1 < w {
                v = v.min(d[i + 1] + D1);
            }
            if y + 1 < h {
                v = v.min(d[i + w] + D1);
                if x + 1 < w {
                    v = v.min(d[i + w + 1] + D2);
                }
                if x > 0 {
                    v = v.min(d[i + w - 1] + D2);
                }
            }
            d[i] = v;
        }
    }
    d
}

/// Mean and standard deviation of Lab values, weighted.
fn lab_stats(lab: &[[f32; 3]], w: &[f32]) -> ([f32; 3], [f32; 3]) {
    let total: f32 = w.iter().sum::<f32>().max(1e-6);
    let mut mean = [0f32; 3];
    for (p, &k) in lab.iter().zip(w) {
        for c in 0..3 {
            mean[c] += p[c] * k;
        }
    }
    mean = mean.map(|m| m / total);
    let mut var = [0f32; 3];
    for (p, &k) in lab.iter().zip(w) {
        for c in 0..3 {
            var[c] += (p[c] - mean[c]).powi(2) * k;
        }
    }
    (mean, var.map(|v| (v / total).sqrt()))
}

/// The inner lip line, in order (MediaPipe's `FACEMESH_LIPS` inner ring).
const INNER_LIPS: [usize; 20] = [
    78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95,
];
/// The eyebrows' upper edges.
const BROWS: [usize; 10] = [70, 63, 105, 66, 107, 336, 296, 334, 293, 300];

/// The face's own vertical axis: heights along it from the eye line, in pixels.
struct FaceFrame {
    mid: (f32, f32),
    up: (f32, f32),
    /// Height of the brows' top.
    brow: f32,
}

impl FaceFrame {
    fn new(pts: &[(f32, f32)]) -> FaceFrame {
        use crate::face::{CHIN, LEFT_EYE_OUTER, RIGHT_EYE_OUTER};
        let (r, l, c) = (pts[RIGHT_EYE_OUTER], pts[LEFT_EYE_OUTER], pts[CHIN]);
        let mid = ((r.0 + l.0) / 2.0, (r.1 + l.1) / 2.0);
        let (ux, uy) = (mid.0 - c.0, mid.1 - c.1);
        let n = (ux * ux + uy * uy).sqrt().max(1e-3);
        let mut f = FaceFrame {
            mid,
            up: (ux / n, uy / n),
            brow: 0.0,
        };
        f.brow = BROWS
            .iter()
            .map(|&i| f.height(pts[i]))
            .fold(f32::MIN, f32::max);
        f
    }

    fn height(&self, p: (f32, f32)) -> f32 {
        (p.0 - self.mid.0) * self.up.0 + (p.1 - self.mid.1) * self.up.1
    }

    /// The blend outline: the face oval with its top cut at half the eye span above the brows.
    fn outline(&self, pts: &[(f32, f32)], span: f32) -> Vec<(f32, f32)> {
        let limit = self.brow + 0.5 * span;
        crate::face::FACE_OVAL
            .iter()
            .map(|&i| {
                let p = pts[i];
                let h = self.height(p);
                if h > limit {
                    (p.0 - (h - limit) * self.up.0, p.1 - (h - limit) * self.up.1)
                } else {
                    p
                }
            })
            .collect()
    }
}

/// How skin-like a Lab colour is against a skin model (mean, spread): 1 near it, 0 far.
fn skin_likeness(p: [f32; 3], m: [f32; 3], s: [f32; 3]) -> f32 {
    const FLOOR: [f32; 3] = [6.0, 3.0, 3.0];
    let d2: f32 = (0..3)
        .map(|c| ((p[c] - m[c]) / s[c].max(FLOOR[c])).powi(2))
        .sum::<f32>()
        / 3.0;
    (2.5 - d2.sqrt()).clamp(0.0, 1.0)
}

/// Swaps the largest face of `target` for the largest face of `reference`.
pub fn swap(
    models: &FaceModels,
    target: &RgbImage,
    reference: &RgbImage,
    mode: FaceMatch,
) -> Result<Swap, EngineError> {
    let target = cap(target, MAX_PIXELS)?;
    let tf = largest_face(models, &target, "image")?;
    let mut reference = reference.clone();
    let mut rf = largest_face(models, &reference, "reference")?;
    // A much larger reference face is brought near the target's size first, so the warp
    // samples an area-filtered image rather than aliasing.
    let ratio = rf.eye_span() / tf.eye_span();
    if ratio > 1.6 {
        let s = 1.2 / ratio;
        let (w, h) = (
            ((reference.width() as f32 * s).round() as u32).max(1),
            ((reference.height() as f32 * s).round() as u32).max(1),
        );
        let (sx, sy) = (
            w as f32 / reference.width() as f32,
            h as f32 / reference.height() as f32,
        );
        reference = crate::imaging::resize_rgb(&reference, w, h, fr::FilterType::Lanczos3)?;
        for p in rf.landmarks.iter_mut() {
            p[0] *= sx;
            p[1] *= sy;
            p[2] *= sx;
        }
    }
    let src: Vec<(f32, f32)> = rf.landmarks.iter().map(|p| (p[0], p[1])).collect();
    let tpts: Vec<(f32, f32)> = tf.landmarks.iter().map(|p| (p[0], p[1])).collect();
    let dst: Vec<(f32, f32)> = match mode {
        FaceMatch::MatchBase => tpts.clone(),
        FaceMatch::MatchReference => {
            let (a, b, tx, ty) = fit_similarity(&src, &tpts);
            src.iter()
                .map(|&(x, y)| (a * x - b * y + tx, b * x + a * y + ty))
                .collect()
        }
    };
    let span = {
        let (p, q) = (
            dst[crate::face::RIGHT_EYE_OUTER],
            dst[crate::face::LEFT_EYE_OUTER],
        );
        ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt()
    };
    let (iw, ih) = target.dimensions();
    let region = Region::around(&dst, span * 0.3, iw, ih);
    // One triangulation of the destination points serves both meshes.
    let flat: Vec<delaunator::Point> = dst
        .iter()
        .map(|p| delaunator::Point {
            x: p.0 as f64,
            y: p.1 as f64,
        })
        .collect();
    let tris = delaunator::triangulate(&flat).triangles;
    let (warped, covered) = warp_triangles(&reference, &src, &dst, &tris, region);
    // The face outline, its forehead cut above the brows, pulled in a little and feathered.
    let frame = FaceFrame::new(&dst);
    let oval = frame.outline(&dst, span);
    let inside: Vec<bool> = fill_polygon(&oval, region)
        .into_iter()
        .zip(&covered)
        .map(|(a, &b)| a && b)
        .collect();
    let (rw, rh) = (region.w, region.h);
    let erode = (span * 0.05).max(1.0);
    let feather = (span * 0.12).max(2.0);
    let dist = inside_distance(&inside, rw, rh, erode + feather + 2.0);
    let outline_alpha: Vec<f32> = dist
        .iter()
        .map(|&d| {
            let t = ((d - erode) / feather).clamp(0.0, 1.0);
            t * t * (3.0 - 2.0 * t)
        })
        .collect();
    let t_rgb: Vec<[f32; 3]> = (0..rw * rh)
        .map(|i| {
            let p = target
                .get_pixel((region.x0 + i % rw) as u32, (region.y0 + i / rw) as u32)
                .0;
            [p[0] as f32, p[1] as f32, p[2] as f32]
        })
        .collect();
    let w_lab: Vec<[f32; 3]> = warped.iter().map(|&p| to_lab(p)).collect();
    let t_lab: Vec<[f32; 3]> = t_rgb.iter().map(|&p| to_lab(p)).collect();
    let heights: Vec<f32> = (0..rw * rh)
        .map(|i| {
            frame.height((
                (region.x0 + i % rw) as f32 + 0.5,
                (region.y0 + i / rw) as f32 + 0.5,
            ))
        })
        .collect();
    // Skin models of both faces from the cheeks and nose (between the eyes and the mouth).
    let cheeks: Vec<f32> = heights
        .iter()
        .zip(&outline_alpha)
        .map(|(&h, &a)| {
            if a >= 0.99 && (-0.55 * span..-0.15 * span).contains(&h) {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let (ref_skin_m, ref_skin_s) = lab_stats(&w_lab, &cheeks);
    let (tgt_skin_m, tgt_skin_s) = lab_stats(&t_lab, &cheeks);
    // Above the brows only skin is swapped, where both faces show skin: the reference's fringe
    // or hat stays out, and so does the model's own hair over the forehead.
    let band = (frame.brow - 0.1 * span, 0.1 * span);
    let forehead_raw: Vec<f32> = (0..rw * rh)
        .map(|i| {
            skin_likeness(w_lab[i], ref_skin_m, ref_skin_s)
                * skin_likeness(t_lab[i], tgt_skin_m, tgt_skin_s)
        })
        .collect();
    let forehead = crate::imaging::box_mean(
        &crate::imaging::Plane::new(rw, rh, forehead_raw),
        (span * 0.03).max(1.0) as usize,
    );
    // Match Current Model keeps the model's own mouth opening: a reference's open mouth
    // squeezed into a closed one would show as a line of teeth.
    let mouth_factor: Vec<f32> = match mode {
        FaceMatch::MatchBase => {
            let lips: Vec<(f32, f32)> = INNER_LIPS.iter().map(|&i| dst[i]).collect();
            let outside: Vec<bool> = fill_polygon(&lips, region).iter().map(|m| !m).collect();
            let edge = (span * 0.02).max(1.0);
            inside_distance(&outside, rw, rh, edge + 1.0)
                .iter()
                .map(|&d| (d / edge).clamp(0.0, 1.0))
                .collect()
        }
        FaceMatch::MatchReference => vec![1.0; rw * rh],
    };
    let keep: Vec<f32> = (0..rw * rh)
        .map(|i| {
            let t = ((heights[i] - band.0) / band.1).clamp(0.0, 1.0);
            (1.0 - t + t * forehead.data[i]) * mouth_factor[i]
        })
        .collect();
    let alpha: Vec<f32> = outline_alpha
        .iter()
        .zip(&keep)
        .map(|(a, k)| a * k)
        .collect();
    if alpha.iter().all(|&a| a <= 0.0) {
        return Err(EngineError::Pose(
            "The face in the image is too small or too close to the edge to swap. Use a photo \
             where the whole face is in the frame."
                .into(),
        ));
    }
    // Colour: the reference's skin matched to the model's in Lab (mean and spread of the
    // cheeks and nose, skin to skin).
    let (wm, ws, tm, ts) = (ref_skin_m, ref_skin_s, tgt_skin_m, tgt_skin_s);
    let gain: [f32; 3] = std::array::from_fn(|c| (ts[c] / ws[c].max(1e-3)).clamp(0.6, 1.6));
    let mut matched: Vec<[f32; 3]> = w_lab
        .iter()
        .map(|p| from_lab(std::array::from_fn(|c| (p[c] - wm[c]) * gain[c] + tm[c])))
        .collect();
    // Seamless correction: the difference to the model's photo on a thin ring just inside the
    // blend's inner edge is spread over the face by push-pull (a membrane), so the new face
    // takes the photo's local light at its border.
    let ring: Vec<f32> = (0..rw * rh)
        .map(|i| {
            let d = dist[i];
            if outline_alpha[i] > 0.0 && d <= erode + feather + 1.5 && d >= erode {
                keep[i]
            } else {
                0.0
            }
        })
        .collect();
    let diff: Vec<[f32; 3]> = (0..rw * rh)
        .map(|i| std::array::from_fn(|c| (t_rgb[i][c] - matched[i][c]).clamp(-60.0, 60.0)))
        .collect();
    if ring.iter().any(|&k| k > 0.0) {
        let membrane = crate::imaging::push_pull(&diff, &ring, rw, rh);
        // The correction fades out over two feather widths inside the blend's inner edge:
        // the skin match already set the face's level, and shading at the border (a lit
        // forehead, shadowed temples) must not tint the whole face.
        let deep = inside_distance(&inside, rw, rh, erode + 4.0 * feather);
        for i in 0..rw * rh {
            if alpha[i] > 0.0 {
                let t = ((deep[i] - erode - feather) / (2.0 * feather)).clamp(0.0, 1.0);
                for c in 0..3 {
                    matched[i][c] += membrane[i][c] * (1.0 - t);
                }
            }
        }
    }
    let mut out = target.clone();
    let mut mask = vec![0f32; (iw * ih) as usize];
    for i in 0..rw * rh {
        let a = alpha[i];
        if a <= 0.0 {
            continue;
        }
        let (x, y) = (region.x0 + i % rw, region.y0 + i / rw);
        mask[y * iw as usize + x] = a;
        let p = out.get_pixel_mut(x as u32, y as u32);
        for c in 0..3 {
            let v = t_rgb[i][c] * (1.0 - a) + matched[i][c] * a;
            p.0[c] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    Ok(Swap {
        image: out,
        mask,
        target: tf,
        reference: rf,
    })
}

/// The Face Swap tool: the image's face replaced by the Face Reference's, as PNG (the image's
/// transparency kept).
pub fn run(
    models: &FaceModels,
    img: &DynamicImage,
    reference: Option<&DynamicImage>,
    mode: FaceMatch,
) -> Result<Encoded, EngineError> {
    let reference = reference.ok_or_else(|| {
        EngineError::Input(
            "Face Swap needs a Face Reference: add a clear photo of the face to use.".into(),
        )
    })?;
    let s = swap(models, &img.to_rgb8(), &reference.to_rgb8(), mode)?;
    let (w, h) = s.image.dimensions();
    let mut png = Vec::new();
    let enc = image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    );
    if img.color().has_alpha() {
        let a = img.to_rgba8();
        let a = if a.dimensions() == (w, h) {
            a
        } else {
            image::imageops::resize(&a, w, h, image::imageops::FilterType::Triangle)
        };
        let mut rgba = image::RgbaImage::new(w, h);
        for (x, y, p) in rgba.enumerate_pixels_mut() {
            let c = s.image.get_pixel(x, y).0;
            *p = image::Rgba([c[0], c[1], c[2], a.get_pixel(x, y).0[3]]);
        }
        enc.write_image(rgba.as_raw(), w, h, image::ExtendedColorType::Rgba8)
    } else {
        enc.write_image(s.image.as_raw(), w, h, image::ExtendedColorType::Rgb8)
    }
    .map_err(|e| EngineError::Encode(e.to_string()))?;
    Ok(Encoded {
        png,
        width: w,
        height: h,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similarity_recovers_a_known_transform() {
        let src = [(0.0, 0.0), (10.0, 0.0), (0.0, 5.0), (7.0, 3.0)];
        let (a, b) = (
            0.8f32 * 30f32.to_radians().cos(),
            0.8f32 * 30f32.to_radians().sin(),
        );
        let dst: Vec<(f32, f32)> = src
            .iter()
            .map(|&(x, y)| (a * x - b * y + 3.0, b * x + a * y - 2.0))
            .collect();
        let (fa, fb, tx, ty) = fit_similarity(&src, &dst);
        assert!((fa - a).abs() < 1e-4 && (fb - b).abs() < 1e-4);
        assert!((tx - 3.0).abs() < 1e-3 && (ty + 2.0).abs() < 1e-3);
    }

    #[test]
    fn lab_round_trips() {
        for p in [
            [0.0, 0.0, 0.0],
            [255.0, 255.0, 255.0],
            [200.0, 120.0, 90.0],
            [10.0, 200.0, 30.0],
        ] {
            let q = from_lab(to_lab(p));
            for c in 0..3 {
                assert!((p[c] - q[c]).abs() < 0.5, "{p:?} → {q:?}");
            }
        }
        // White is L 100, a = b = 0.
        let w = to_lab([255.0; 3]);
        assert!((w[0] - 100.0).abs() < 0.1 && w[1].abs() < 0.1 && w[2].abs() < 0.1);
    }

    #[test]
    fn polygon_fill_and_distance() {
        let r = Region {
            x0: 0,
            y0: 0,
            w: 20,
            h: 20,
        };
        let sq = [(5.0, 5.0), (15.0, 5.0), (15.0, 15.0), (5.0, 15.0)];
        let m = fill_polygon(&sq, r);
        assert_eq!(m.iter().filter(|&&b| b).count(), 100);
        let d = inside_distance(&m, 20, 20, 50.0);
        assert_eq!(d[0], 0.0);
        assert_eq!(d[5 * 20 + 5], 1.0);
        assert!((d[10 * 20 + 10] - 5.0).abs() < 1e-4);
    }
}
