//! The product cut-out that Packshot composes and Try-On dresses the model with: the matte of
//! [`BackgroundRemover`] (refined, full resolution), specks dropped, on a model photo the person
//! cut away ([`remove_person`]: the head above the neck, exposed skin by a skin model fitted on
//! the face, a lower garment cut by the frame), an elongated product straightened, the edges
//! snapped to the photo's colour edges and decontaminated. See `packshot.rs` for the steps in
//! order. Both engines import this; neither imports the other.

use std::f32::consts::FRAC_PI_2;

use fast_image_resize as fr;
use image::{DynamicImage, Rgb, RgbImage, RgbaImage};

use crate::bgremove::BackgroundRemover;
use crate::imaging::{box_mean, guided_filter, stretch, Plane};
use crate::imaging::{image_to_plane, plane_to_image, resize, resize_rgb, EngineError};

/// Analysis (components, skin, head) runs at most at this long side.
pub const ANALYSIS_SIDE: u32 = 512;
/// Larger sources are scaled down to this long side first (the output never needs more).
const MAX_SOURCE_SIDE: u32 = 4096;
/// Smaller sources are refused: there is no product to see.
const MIN_SIDE: u32 = 64;

const NO_PRODUCT: &str = "No product was found in the image: upload a photo where the product \
                          is clearly visible and fills more of the frame.";

pub(crate) fn bool_plane(m: &[bool], w: usize, h: usize) -> Plane {
    Plane::new(w, h, m.iter().map(|v| *v as u8 as f32).collect())
}

/// Square dilation of radius `r`.
pub(crate) fn dilate(m: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    if r == 0 {
        return m.to_vec();
    }
    box_mean(&bool_plane(m, w, h), r)
        .data
        .iter()
        .map(|v| *v > 1e-4)
        .collect()
}

/// Square erosion of radius `r` (the image border does not erode).
pub(crate) fn erode(m: &[bool], w: usize, h: usize, r: usize) -> Vec<bool> {
    if r == 0 {
        return m.to_vec();
    }
    box_mean(&bool_plane(m, w, h), r)
        .data
        .iter()
        .map(|v| *v > 1.0 - 1e-4)
        .collect()
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Comp {
    area: usize,
    x0: usize,
    y0: usize,
    x1: usize,
    y1: usize,
}

/// 8-connected components: a label per pixel (0 = none, else index + 1) and each one's stats.
pub(crate) fn components(m: &[bool], w: usize, h: usize) -> (Vec<u32>, Vec<Comp>) {
    let mut labels = vec![0u32; w * h];
    let mut comps = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        if !m[start] || labels[start] != 0 {
            continue;
        }
        let id = comps.len() as u32 + 1;
        let mut c = Comp {
            area: 0,
            x0: usize::MAX,
            y0: usize::MAX,
            x1: 0,
            y1: 0,
        };
        labels[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            c.area += 1;
            c.x0 = c.x0.min(x);
            c.y0 = c.y0.min(y);
            c.x1 = c.x1.max(x + 1);
            c.y1 = c.y1.max(y + 1);
            for dy in -1i64..=1 {
                for dx in -1i64..=1 {
                    let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if m[j] && labels[j] == 0 {
                        labels[j] = id;
                        stack.push(j);
                    }
                }
            }
        }
        comps.push(c);
    }
    (labels, comps)
}

/// Grows `seed` into the connected pixels of `weak` (8-connected) up to `reach` steps away.
pub(crate) fn grow(seed: &[bool], weak: &[bool], w: usize, h: usize, reach: u32) -> Vec<bool> {
    let mut out = seed.to_vec();
    let mut dist = vec![u32::MAX; w * h];
    let mut queue = std::collections::VecDeque::new();
    for (i, s) in seed.iter().enumerate() {
        if *s {
            dist[i] = 0;
            queue.push_back(i);
        }
    }
    while let Some(i) = queue.pop_front() {
        if dist[i] >= reach {
            continue;
        }
        let (x, y) = ((i % w) as i64, (i / w) as i64);
        for dy in -1..=1 {
            for dx in -1..=1 {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                    continue;
                }
                let j = ny as usize * w + nx as usize;
                if weak[j] && dist[j] == u32::MAX {
                    dist[j] = dist[i] + 1;
                    out[j] = true;
                    queue.push_back(j);
                }
            }
        }
    }
    out
}

/// Keeps the largest component and those at least `share` of its area.
pub(crate) fn keep_major(m: &[bool], w: usize, h: usize, share: f32) -> Vec<bool> {
    let (labels, comps) = components(m, w, h);
    let Some(max) = comps.iter().map(|c| c.area).max() else {
        return vec![false; w * h];
    };
    let keep: Vec<bool> = comps
        .iter()
        .map(|c| c.area as f32 >= share * max as f32)
        .collect();
    labels
        .iter()
        .map(|l| *l != 0 && keep[*l as usize - 1])
        .collect()
}

pub(crate) fn bbox(m: &[bool], w: usize) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for (i, v) in m.iter().enumerate() {
        if *v {
            let (x, y) = (i % w, i / w);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
        }
    }
    (x1 > x0).then_some((x0, y0, x1, y1))
}

pub(crate) fn resize_plane(p: &Plane, w: u32, h: u32) -> Plane {
    if (p.width, p.height) == (w as usize, h as usize) {
        return p.clone();
    }
    image_to_plane(&resize(
        &plane_to_image(p),
        w,
        h,
        fr::ResizeAlg::Convolution(fr::FilterType::Bilinear),
    ))
}

// ---------------------------------------------------------------------------------------------
// Skin and the person.

/// Full-range YCbCr (JPEG).
pub(crate) fn ycbcr(p: &Rgb<u8>) -> (f32, f32, f32) {
    let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
    (
        0.299 * r + 0.587 * g + 0.114 * b,
        128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b,
        128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b,
    )
}

/// A generic skin rule (Chai & Ngan's CbCr box, plus R > G, R > B and not too dark), used to
/// find skin before the classifier is calibrated on the photo.
pub fn generic_skin(p: &Rgb<u8>) -> bool {
    let (y, cb, cr) = ycbcr(p);
    y > 35.0
        && (77.0..=127.0).contains(&cb)
        && (133.0..=173.0).contains(&cr)
        && p[0] > p[1]
        && p[0] > p[2]
}

/// A Gaussian skin model in (Cb, Cr) fitted on the photo's own skin.
pub(crate) struct SkinModel {
    mean: [f32; 2],
    /// Inverse covariance.
    inv: [f32; 3],
}

impl SkinModel {
    /// A robust fit: the Gaussian is refitted three times on the samples within 2.5σ of the
    /// previous one, so shadows, lips, hair or a hat in the samples do not widen it.
    pub(crate) fn fit(samples: &[(f32, f32)]) -> Option<SkinModel> {
        let mut model = SkinModel::fit_once(samples)?;
        for _ in 0..3 {
            let inliers: Vec<(f32, f32)> = samples
                .iter()
                .filter(|(b, r)| model.d2(*b, *r) < 6.25)
                .copied()
                .collect();
            match SkinModel::fit_once(&inliers) {
                Some(m) => model = m,
                None => break,
            }
        }
        Some(model)
    }

    fn fit_once(samples: &[(f32, f32)]) -> Option<SkinModel> {
        if samples.len() < 30 {
            return None;
        }
        let n = samples.len() as f32;
        let (mb, mr) = samples
            .iter()
            .fold((0.0, 0.0), |a, s| (a.0 + s.0 / n, a.1 + s.1 / n));
        let (mut vbb, mut vrr, mut vbr) = (0f32, 0f32, 0f32);
        for (b, r) in samples {
            vbb += (b - mb) * (b - mb) / n;
            vrr += (r - mr) * (r - mr) / n;
            vbr += (b - mb) * (r - mr) / n;
        }
        // The axes come from the covariance's eigen-decomposition. The smaller is floored
        // (σ ≥ 3.5 levels) so an evenly lit face does not give a needle-thin model; the larger
        // is capped (σ ≤ 5.5): skin's spread runs toward yellower, greyer colours, which is
        // where beige and tan garments lie.
        let half = (vbb + vrr) / 2.0;
        let d = (((vbb - vrr) / 2.0).powi(2) + vbr * vbr).sqrt();
        let (l1, l2) = ((half + d).clamp(12.0, 30.0), (half - d).max(12.0));
        // The major axis's direction.
        let (ex, ey) = if vbr.abs() > 1e-6 {
            let (x, y) = (half + d - vrr, vbr);
            let n = (x * x + y * y).sqrt();
            (x / n, y / n)
        } else if vbb >= vrr {
            (1.0, 0.0)
        } else {
            (0.0, 1.0)
        };
        // Inverse covariance = e eᵀ / l1 + f fᵀ / l2, f ⟂ e.
        let (fx, fy) = (-ey, ex);
        Some(SkinModel {
            mean: [mb, mr],
            inv: [
                ex * ex / l1 + fx * fx / l2,
                ey * ey / l1 + fy * fy / l2,
                ex * ey / l1 + fx * fy / l2,
            ],
        })
    }

    /// The mean's hue (degrees in the CbCr plane).
    fn hue(&self) -> f32 {
        (self.mean[1] - 128.0)
            .atan2(self.mean[0] - 128.0)
            .to_degrees()
    }

    /// Squared Mahalanobis distance.
    pub(crate) fn d2(&self, cb: f32, cr: f32) -> f32 {
        let (b, r) = (cb - self.mean[0], cr - self.mean[1]);
        b * b * self.inv[0] + r * r * self.inv[1] + 2.0 * b * r * self.inv[2]
    }
}

/// What [`remove_person`] found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonReport {
    /// The mask's narrowest row between head and shoulders, at analysis scale.
    pub neck_row: Option<usize>,
    /// Whether the photo was judged on-model (and the person removed).
    pub on_model: bool,
    /// Share of the product mask removed as skin / head.
    pub removed_share: f32,
    /// The hem where a lower garment cut by the frame was removed, at analysis scale.
    pub hem_row: Option<usize>,
}

/// The neck: the narrowest row of the mask between a head above it (at least 1.25× wider, tall
/// enough to be a head) and shoulders below it (at least 2× wider), in the top half of the mask.
/// Returns the row and the head's column span.
pub(crate) fn find_neck(m: &[bool], w: usize, h: usize) -> Option<(usize, usize, usize)> {
    let (_, y0, _, y1) = bbox(m, w)?;
    let rows: Vec<f32> = (0..h)
        .map(|y| m[y * w..(y + 1) * w].iter().filter(|v| **v).count() as f32)
        .collect();
    // Smooth over 5 rows.
    let sm: Vec<f32> = (0..h)
        .map(|y| {
            let (a, b) = (y.saturating_sub(2), (y + 3).min(h));
            rows[a..b].iter().sum::<f32>() / (b - a) as f32
        })
        .collect();
    let mh = y1 - y0;
    let mut best: Option<(usize, f32)> = None;
    for yn in y0 + 4..(y0 + mh / 2).min(y1) {
        let wn = sm[yn].max(1.0);
        let head = sm[y0..yn].iter().cloned().fold(0.0, f32::max);
        let below_end = (yn + 1 + mh / 4).min(y1);
        let shoulders = sm[yn + 1..below_end].iter().cloned().fold(0.0, f32::max);
        // A head is at least ~0.6 of its width tall.
        let tall_enough = (yn - y0) as f32 >= 0.6 * head;
        if head >= 1.25 * wn && shoulders >= 2.0 * wn && tall_enough {
            match best {
                Some((_, bw)) if bw <= wn => {}
                _ => best = Some((yn, wn)),
            }
        }
    }
    let (yn, _) = best?;
    let (mut hx0, mut hx1) = (w, 0);
    for y in y0..yn {
        for x in 0..w {
            if m[y * w + x] {
                hx0 = hx0.min(x);
                hx1 = hx1.max(x + 1);
            }
        }
    }
    Some((yn, hx0, hx1))
}

/// Removes the person from an on-model product mask `m` (analysis scale) and returns the
/// garment mask. Skin-coloured products and photos with no person come back unchanged.
///
/// How:
/// 1. Head: the neck is the mask's narrowest row between a head-shaped top and shoulders at
///    least twice as wide ([`find_neck`]). When the lower middle of the part above it is a face
///    (≥ 25 % of it passes [`generic_skin`]), everything above the neck within the head's
///    columns (face, hair, hat) is removed.
/// 2. Skin model: a Gaussian in CbCr fitted robustly on the face's skin (else on all
///    generic-skin pixels of the mask), its axes floored at σ 3.5 and capped at σ 5.5. Skin is
///    within d² < 7 of it, not too dark, and at least 60 % as saturated as the face (the fit
///    leans toward grey, where whites, greys and beige garments are); the skin map is closed to
///    fill pores and highlights.
/// 3. Only skin regions that touch the silhouette's outline, the image border or the head cut
///    count (neck, arms, hands, legs): skin-coloured prints inside a garment stay. They grow by
///    hysteresis into connected pixels of the same hue (±10°) and saturation at any brightness,
///    up to 8 % of the mask's height away: shaded inner arms, the underside of the chin.
/// 4. What is left is opened near the removed skin (the thin rims of mixed colour at arm
///    outlines go) and specks are dropped. If that would keep less than 30 % of the mask, the
///    product is taken to be skin-coloured and nothing is removed.
/// 5. A lower garment cut off by the bottom of the frame is removed at the upper garment's hem
///    ([`cut_at_hem`]).
///
/// Fails when: the head is seen from behind or in profile with little skin (no face found: the
/// hair stays); long hair falls on the shoulders (hair below the neck stays); the head is tilted,
/// arms are raised or hands touch it (no neck found: face skin goes, hair stays); garments of
/// the wearer's skin tone and saturation (tan, blush, camel on tanned skin) lose the parts that
/// touch bare skin; tattoos and deep shadows can leave patches of arm; hands resting on a
/// garment leave a hole where they were (nothing is inpainted); a seated or posed person gives
/// the outfit in that pose; several garments (shirt and trousers fully in frame) are all kept;
/// a second person or props held by the model stay.
pub fn remove_person(rgb: &RgbImage, m: &[bool]) -> (Vec<bool>, PersonReport) {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let px = |i: usize| rgb.get_pixel((i % w) as u32, (i / w) as u32);
    let total = m.iter().filter(|v| **v).count().max(1);
    let mut report = PersonReport::default();

    // (1) The head.
    let mut head = vec![false; w * h];
    let neck = find_neck(m, w, h);
    let mut face_samples = Vec::new();
    if let Some((yn, hx0, hx1)) = neck {
        // The face: the lower part of the head, its middle columns (hair and hats are above
        // and around it).
        let mut zone = 0usize;
        let (_, top, _, _) = bbox(m, w).unwrap_or((0, 0, 0, 0));
        let fy0 = top + (yn - top) * 45 / 100;
        let (fx0, fx1) = (hx0 + (hx1 - hx0) / 5, hx1 - (hx1 - hx0) / 5);
        for y in fy0..yn {
            for x in fx0..fx1 {
                let i = y * w + x;
                if m[i] {
                    zone += 1;
                    let p = px(i);
                    if generic_skin(p) {
                        let (_, cb, cr) = ycbcr(p);
                        face_samples.push((cb, cr));
                    }
                }
            }
        }
        if face_samples.len() as f32 >= 0.25 * zone as f32 && face_samples.len() >= 30 {
            report.neck_row = Some(yn);
            let pad = ((hx1 - hx0) / 10).max(1);
            for y in 0..=yn {
                for x in hx0.saturating_sub(pad)..(hx1 + pad).min(w) {
                    head[y * w + x] = m[y * w + x];
                }
            }
        } else {
            face_samples.clear();
        }
    }

    // (2) Skin, calibrated on the face when there is one.
    let generic: Vec<(f32, f32)> = (0..w * h)
        .filter(|&i| m[i] && generic_skin(px(i)))
        .map(|i| {
            let (_, cb, cr) = ycbcr(px(i));
            (cb, cr)
        })
        .collect();
    let model = if face_samples.is_empty() {
        SkinModel::fit(&generic)
    } else {
        SkinModel::fit(&face_samples)
    };
    let Some(model) = model else {
        return (m.to_vec(), report);
    };
    // Shading and highlights run from the skin colour toward grey, and so does the fitted
    // Gaussian: a chroma floor keeps whites and greys (a white t-shirt) out.
    let min_chroma = (0.6
        * ((model.mean[0] - 128.0).powi(2) + (model.mean[1] - 128.0).powi(2)).sqrt())
    .max(10.0);
    let raw: Vec<bool> = (0..w * h)
        .map(|i| {
            if !m[i] || head[i] {
                return false;
            }
            let p = px(i);
            let (y, cb, cr) = ycbcr(p);
            let chroma = ((cb - 128.0).powi(2) + (cr - 128.0).powi(2)).sqrt();
            y > 30.0
                && cr > 131.0
                && cb < 130.0
                && p[0] > p[2]
                && chroma >= min_chroma
                && model.d2(cb, cr) < 7.0
        })
        .collect();
    let closed = erode(&dilate(&raw, w, h, 1), w, h, 1);
    let skin: Vec<bool> = (0..w * h).map(|i| closed[i] && m[i] && !head[i]).collect();

    // (3) Skin regions touching the outline, the border or the head cut.
    let rest: Vec<bool> = (0..w * h).map(|i| m[i] && !head[i]).collect();
    let outside: Vec<bool> = dilate(&rest.iter().map(|v| !v).collect::<Vec<_>>(), w, h, 1);
    let (labels, comps) = components(&skin, w, h);
    let mut touches = vec![false; comps.len()];
    for (i, l) in labels.iter().enumerate() {
        if *l == 0 {
            continue;
        }
        let (x, y) = (i % w, i / w);
        if outside[i] || x == 0 || y == 0 || x == w - 1 || y == h - 1 {
            touches[*l as usize - 1] = true;
        }
    }
    let min_area = (total as f32 * 0.001).max(4.0) as usize;
    let body: Vec<bool> = labels
        .iter()
        .map(|l| *l != 0 && touches[*l as usize - 1] && comps[*l as usize - 1].area >= min_area)
        .collect();
    let seed_area = body.iter().filter(|v| **v).count();
    let on_model = report.neck_row.is_some() || seed_area as f32 >= 0.02 * total as f32;
    if !on_model {
        return (m.to_vec(), report);
    }
    // Shaded skin (inner arms, under the chin): hysteresis from the skin found into pixels of
    // the same hue and saturation at any brightness, within a short distance.
    let mhue = model.hue();
    let sat = |i: usize| {
        let (y, cb, cr) = ycbcr(px(i));
        ((cb - 128.0).powi(2) + (cr - 128.0).powi(2)).sqrt() / y.max(1.0)
    };
    let found: Vec<usize> = (0..w * h).filter(|&i| body[i]).collect();
    let msat = found.iter().map(|&i| sat(i)).sum::<f32>() / found.len().max(1) as f32;
    let mh = bbox(m, w).map(|b| b.3 - b.1).unwrap_or(h);
    let weak: Vec<bool> = (0..w * h)
        .map(|i| {
            if !m[i] || head[i] {
                return false;
            }
            let p = px(i);
            let (y, cb, cr) = ycbcr(p);
            let hue = (cr - 128.0).atan2(cb - 128.0).to_degrees();
            y > 12.0 && p[0] > p[1] && (hue - mhue).abs() < 10.0 && sat(i) >= 0.75 * msat
        })
        .collect();
    let reach = ((mh as f32) * 0.08).max(3.0) as u32;
    let body = grow(&body, &weak, w, h, reach);
    let body_area = body.iter().filter(|v| **v).count();
    let head_area = head.iter().filter(|v| **v).count();

    // (4) The garment: what is left, rims near removed skin opened away, specks dropped.
    let removed: Vec<bool> = (0..w * h).map(|i| body[i] || head[i]).collect();
    let left: Vec<bool> = (0..w * h).map(|i| m[i] && !removed[i]).collect();
    let opened = dilate(&erode(&left, w, h, 2), w, h, 2);
    let near = dilate(&removed, w, h, 3);
    let cleaned: Vec<bool> = (0..w * h)
        .map(|i| left[i] && (opened[i] || !near[i]))
        .collect();
    let garment = keep_major(&cleaned, w, h, 0.1);
    let kept = garment.iter().filter(|v| **v).count();
    if (kept as f32) < 0.3 * total as f32 {
        return (m.to_vec(), report);
    }
    report.on_model = true;
    report.removed_share = (body_area + head_area) as f32 / total as f32;
    // (5) A lower garment cut by the frame goes; the upper garment ends at its hem.
    let garment = match cut_at_hem(rgb, &garment) {
        Some((g, y)) => {
            report.hem_row = Some(y);
            g
        }
        None => garment,
    };
    (garment, report)
}

/// Where an on-model garment runs out of the bottom of the photo (over ≥ 30 % of its width),
/// a second garment (trousers, a skirt) is cut by the frame: no packshot can show it whole.
/// The hem between them is the topmost clear horizontal edge inside the garment in 45–95 % of
/// its height (the hem's shadow line): a local peak of the row-mean vertical gradient at least
/// 3× the garment's median row. The cut follows it as a seam (the path of strongest vertical
/// gradient, moving at most one row per column, then smoothed) and everything below goes.
/// Returns None when there is no clear hem or the cut would keep less than 40 % of the garment.
/// Fails on garments with strong horizontal prints or stripes in that band (cut too high) and
/// when the hem's edge is faint (the cut-off garment stays).
pub(crate) fn cut_at_hem(rgb: &RgbImage, m: &[bool]) -> Option<(Vec<bool>, usize)> {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let (gx0, gy0, gx1, gy1) = bbox(m, w)?;
    let gh = gy1 - gy0;
    let bottom = (h.saturating_sub(2)..h)
        .map(|y| m[y * w..(y + 1) * w].iter().filter(|v| **v).count())
        .max()
        .unwrap_or(0);
    if gy1 < h || (bottom as f32) < 0.3 * (gx1 - gx0) as f32 || gh < 40 {
        return None;
    }
    let luma = |x: usize, y: usize| {
        let p = rgb.get_pixel(x as u32, y as u32);
        0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
    };
    // Vertical gradient inside the garment (not at its outline).
    let mut g = vec![0f32; w * h];
    for y in 1..h - 1 {
        for x in 0..w {
            if m[y * w + x] && m[(y - 1) * w + x] && m[(y + 1) * w + x] {
                g[y * w + x] = (luma(x, y + 1) - luma(x, y - 1)).abs();
            }
        }
    }
    let widest = (gy0..gy1)
        .map(|y| m[y * w..(y + 1) * w].iter().filter(|v| **v).count())
        .max()
        .unwrap_or(1);
    let row: Vec<Option<f32>> = (0..h)
        .map(|y| {
            let n = m[y * w..(y + 1) * w].iter().filter(|v| **v).count();
            (n * 5 >= widest).then(|| g[y * w..(y + 1) * w].iter().sum::<f32>() / n as f32)
        })
        .collect();
    let sm = |y: usize| -> Option<f32> {
        let v: Vec<f32> = (y.saturating_sub(1)..(y + 2).min(h))
            .filter_map(|k| row[k])
            .collect();
        (!v.is_empty()).then(|| v.iter().sum::<f32>() / v.len() as f32)
    };
    let mut all: Vec<f32> = (gy0 + gh / 10..gy1.saturating_sub(2))
        .filter_map(&sm)
        .collect();
    if all.is_empty() {
        return None;
    }
    all.sort_by(f32::total_cmp);
    let median = all[all.len() / 2];
    let (lo, hi) = (gy0 + gh * 45 / 100, gy0 + gh * 95 / 100);
    // The topmost clear peak: the first horizontal boundary below the upper body.
    let local_max = |y: usize, v: f32| {
        (y.saturating_sub(3)..=y + 3).all(|k| k == y || sm(k).is_none_or(|u| u <= v))
    };
    let (peak_y, _) = (lo..hi)
        .filter_map(|y| sm(y).map(|v| (y, v)))
        .find(|&(y, v)| v >= 3.0 * median && v >= 1.5 && local_max(y, v))?;
    // The seam through the band around the peak row.
    let d = (gh / 25).max(3);
    let (b0, b1) = (peak_y.saturating_sub(d), (peak_y + d + 1).min(h));
    let bh = b1 - b0;
    let mut score = vec![0f32; bh * w];
    let mut from = vec![0u8; bh * w];
    for x in 0..w {
        for k in 0..bh {
            let gain = g[(b0 + k) * w + x];
            if x == 0 {
                score[k] = gain;
                continue;
            }
            let mut best = (f32::MIN, 1u8);
            for (dk, code) in [(-1i64, 0u8), (0, 1), (1, 2)] {
                let pk = k as i64 + dk;
                if pk >= 0 && (pk as usize) < bh {
                    let v = score[pk as usize * w + x - 1];
                    if v > best.0 {
                        best = (v, code);
                    }
                }
            }
            score[k * w + x] = best.0 + gain;
            from[k * w + x] = best.1;
        }
    }
    let mut k = (0..bh).max_by(|a, b| score[a * w + w - 1].total_cmp(&score[b * w + w - 1]))?;
    let mut seam = vec![0usize; w];
    for x in (0..w).rev() {
        seam[x] = b0 + k;
        if x > 0 {
            k = (k as i64 + from[k * w + x] as i64 - 1) as usize;
        }
    }
    // A hem is smooth: average the seam over a few columns.
    let k = (w / 60).max(2);
    let seam: Vec<usize> = (0..w)
        .map(|x| {
            let (a, b) = (x.saturating_sub(k), (x + k + 1).min(w));
            (seam[a..b].iter().sum::<usize>() as f32 / (b - a) as f32).round() as usize
        })
        .collect();
    let cut: Vec<bool> = (0..w * h).map(|i| m[i] && i / w <= seam[i % w]).collect();
    let cut = keep_major(&cut, w, h, 0.1);
    let kept = cut.iter().filter(|v| **v).count();
    let total = m.iter().filter(|v| **v).count();
    (kept as f32 >= 0.4 * total as f32).then_some((cut, peak_y))
}

// ---------------------------------------------------------------------------------------------
// Checks on the input.

/// Histogram intersection (4 levels a channel) of the colours under the product and around it:
/// near 1 when the "product" looks like its surroundings (noise, texture, no object).
pub(crate) fn fg_bg_similarity(rgb: &RgbImage, alpha: &Plane) -> Option<f32> {
    let mut fg = [0f32; 64];
    let mut bgh = [0f32; 64];
    let (mut nf, mut nb) = (0f32, 0f32);
    for (p, a) in rgb.pixels().zip(&alpha.data) {
        let bin = (p[0] as usize >> 6) * 16 + (p[1] as usize >> 6) * 4 + (p[2] as usize >> 6);
        if *a > 0.7 {
            fg[bin] += 1.0;
            nf += 1.0;
        } else if *a < 0.1 {
            bgh[bin] += 1.0;
            nb += 1.0;
        }
    }
    let n = (rgb.width() * rgb.height()) as f32;
    if nf < 0.002 * n || nb < 0.05 * n {
        return None;
    }
    Some(fg.iter().zip(&bgh).map(|(f, b)| (f / nf).min(b / nb)).sum())
}

pub(crate) fn luma_std(rgb: &RgbImage) -> f32 {
    let n = (rgb.width() * rgb.height()).max(1) as f64;
    let (mut s, mut s2) = (0f64, 0f64);
    for p in rgb.pixels() {
        let y = 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64;
        s += y;
        s2 += y * y;
    }
    ((s2 / n - (s / n).powi(2)).max(0.0)).sqrt() as f32
}

// ---------------------------------------------------------------------------------------------
// Straightening.

/// The rotation (radians, in image coordinates with y down) that puts an elongated mask's
/// principal axis onto the nearest image axis; None when the mask is not clearly elongated
/// (axis ratio under 2.2) or tilted by less than 3° or more than 20°.
pub fn straighten_angle(m: &[bool], w: usize) -> Option<f32> {
    let (mut n, mut sx, mut sy) = (0f64, 0f64, 0f64);
    for (i, v) in m.iter().enumerate() {
        if *v {
            n += 1.0;
            sx += (i % w) as f64;
            sy += (i / w) as f64;
        }
    }
    if n < 50.0 {
        return None;
    }
    let (cx, cy) = (sx / n, sy / n);
    let (mut mu20, mut mu02, mut mu11) = (0f64, 0f64, 0f64);
    for (i, v) in m.iter().enumerate() {
        if *v {
            let (dx, dy) = ((i % w) as f64 - cx, (i / w) as f64 - cy);
            mu20 += dx * dx;
            mu02 += dy * dy;
            mu11 += dx * dy;
        }
    }
    let half = (mu20 + mu02) / 2.0;
    let d = (((mu20 - mu02) / 2.0).powi(2) + mu11 * mu11).sqrt();
    let (l1, l2) = (half + d, (half - d).max(1e-9));
    // Axis-length ratio = sqrt of the eigenvalue ratio.
    if (l1 / l2).sqrt() < 2.2 {
        return None;
    }
    let theta = 0.5 * (2.0 * mu11).atan2(mu20 - mu02) as f32;
    let dev = theta - (theta / FRAC_PI_2).round() * FRAC_PI_2;
    let deg = dev.abs().to_degrees();
    (3.0..=20.0).contains(&deg).then_some(-dev)
}

/// Rotates a straight-alpha RGBA image by `angle` (image coordinates, y down) about its centre,
/// onto a canvas that holds all of it (bilinear, premultiplied).
pub(crate) fn rotate_rgba(src: &RgbaImage, angle: f32) -> RgbaImage {
    let (w, h) = (src.width() as f32, src.height() as f32);
    let (s, c) = angle.sin_cos();
    let ow = (w * c.abs() + h * s.abs()).ceil() as u32;
    let oh = (w * s.abs() + h * c.abs()).ceil() as u32;
    let (ocx, ocy) = (ow as f32 / 2.0, oh as f32 / 2.0);
    let (icx, icy) = (w / 2.0, h / 2.0);
    let mut out = RgbaImage::new(ow, oh);
    let get = |x: i64, y: i64| -> [f32; 4] {
        if x < 0 || y < 0 || x >= src.width() as i64 || y >= src.height() as i64 {
            return [0.0; 4];
        }
        let p = src.get_pixel(x as u32, y as u32);
        let a = p[3] as f32 / 255.0;
        [p[0] as f32 * a, p[1] as f32 * a, p[2] as f32 * a, a]
    };
    for oy in 0..oh {
        for ox in 0..ow {
            let (u, v) = (ox as f32 + 0.5 - ocx, oy as f32 + 0.5 - ocy);
            // Inverse rotation.
            let (sx, sy) = (c * u + s * v + icx - 0.5, -s * u + c * v + icy - 0.5);
            let (x0, y0) = (sx.floor(), sy.floor());
            let (fx, fy) = (sx - x0, sy - y0);
            let (x0, y0) = (x0 as i64, y0 as i64);
            let mut acc = [0f32; 4];
            for (dx, dy, wt) in [
                (0, 0, (1.0 - fx) * (1.0 - fy)),
                (1, 0, fx * (1.0 - fy)),
                (0, 1, (1.0 - fx) * fy),
                (1, 1, fx * fy),
            ] {
                let p = get(x0 + dx, y0 + dy);
                for k in 0..4 {
                    acc[k] += p[k] * wt;
                }
            }
            if acc[3] > 1e-4 {
                out.put_pixel(
                    ox,
                    oy,
                    image::Rgba([
                        (acc[0] / acc[3]).round().clamp(0.0, 255.0) as u8,
                        (acc[1] / acc[3]).round().clamp(0.0, 255.0) as u8,
                        (acc[2] / acc[3]).round().clamp(0.0, 255.0) as u8,
                        (acc[3] * 255.0).round().clamp(0.0, 255.0) as u8,
                    ]),
                );
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Edges.

/// The colour guided filter's regulariser (colours 0..1): above the variance of fabric or floor
/// grain, below that of a real edge, so the alpha follows edges and ignores texture.
const EDGE_EPS: f32 = 1e-2;

/// Guided filter of `p` with the RGB photo as the guide (He, Sun and Tang, 2010, §3.4): the
/// alpha follows colour edges even where two colours have the same luminance, which the
/// luminance-guided refinement in [`BackgroundRemover::alpha`] cannot see.
pub fn guided_filter_rgb(rgb: &RgbImage, p: &Plane, r: usize, eps: f32) -> Plane {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    assert_eq!((w, h), (p.width, p.height));
    let n = w * h;
    let ch: Vec<Vec<f32>> = (0..3)
        .map(|c| rgb.pixels().map(|q| q[c] as f32 / 255.0).collect())
        .collect();
    let mean = |v: Vec<f32>| box_mean(&Plane::new(w, h, v), r).data;
    let m_i: Vec<Vec<f32>> = ch.iter().map(|c| mean(c.clone())).collect();
    let m_p = mean(p.data.clone());
    let m_ip: Vec<Vec<f32>> = ch
        .iter()
        .map(|c| mean(c.iter().zip(&p.data).map(|(a, b)| a * b).collect()))
        .collect();
    const PAIRS: [(usize, usize); 6] = [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)];
    let m_ii: Vec<Vec<f32>> = PAIRS
        .iter()
        .map(|&(a, b)| mean(ch[a].iter().zip(&ch[b]).map(|(x, y)| x * y).collect()))
        .collect();
    let mut ab: Vec<Vec<f32>> = vec![vec![0f32; n]; 4];
    for i in 0..n {
        let mi = [m_i[0][i], m_i[1][i], m_i[2][i]];
        let cov = [
            m_ip[0][i] - mi[0] * m_p[i],
            m_ip[1][i] - mi[1] * m_p[i],
            m_ip[2][i] - mi[2] * m_p[i],
        ];
        let v = |k: usize| m_ii[k][i] - mi[PAIRS[k].0] * mi[PAIRS[k].1];
        let (s00, s01, s02, s11, s12, s22) = (v(0) + eps, v(1), v(2), v(3) + eps, v(4), v(5) + eps);
        // Inverse of the symmetric 3×3 by its adjugate.
        let c00 = s11 * s22 - s12 * s12;
        let c01 = s02 * s12 - s01 * s22;
        let c02 = s01 * s12 - s02 * s11;
        let c11 = s00 * s22 - s02 * s02;
        let c12 = s01 * s02 - s00 * s12;
        let c22 = s00 * s11 - s01 * s01;
        let det = s00 * c00 + s01 * c01 + s02 * c02;
        let inv = 1.0 / det.max(1e-12);
        let a = [
            (c00 * cov[0] + c01 * cov[1] + c02 * cov[2]) * inv,
            (c01 * cov[0] + c11 * cov[1] + c12 * cov[2]) * inv,
            (c02 * cov[0] + c12 * cov[1] + c22 * cov[2]) * inv,
        ];
        ab[0][i] = a[0];
        ab[1][i] = a[1];
        ab[2][i] = a[2];
        ab[3][i] = m_p[i] - a[0] * mi[0] - a[1] * mi[1] - a[2] * mi[2];
    }
    let ab: Vec<Vec<f32>> = ab.into_iter().map(mean).collect();
    Plane::new(
        w,
        h,
        (0..n)
            .map(|i| {
                (ab[0][i] * ch[0][i] + ab[1][i] * ch[1][i] + ab[2][i] * ch[2][i] + ab[3][i])
                    .clamp(0.0, 1.0)
            })
            .collect(),
    )
}

pub(crate) fn smoothstep(lo: f32, hi: f32, x: f32) -> f32 {
    let t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// The product cut out with clean edges. Near the outline, with F the product's colour pulled
/// from inside the mask and B the old background's from just outside (local means):
/// - alpha: a pixel whose colour lies near B on the line from B to F is background, whatever
///   the matte said (α ≤ smoothstep(0.1, 0.6, (I−B)·(F−B)/|F−B|²) where F and B differ
///   clearly); this removes
///   specks and rims of old background the matte let through; along cuts where skin was
///   removed (`strict`) the estimate is used as is, so no skin-coloured rim stays;
/// - colour: where α is partial, B is solved out (F = (I − (1−α)B)/α) and, as α falls, blended
///   with F, so no old background tints the edge.
pub fn decontaminate(rgb: &RgbImage, alpha: &Plane, strict: Option<&[bool]>) -> RgbaImage {
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let r = ((w.max(h) as f32 * 0.006).round() as usize).max(2);
    let inner: Vec<f32> = alpha
        .data
        .iter()
        .map(|a| (*a >= 0.97) as u8 as f32)
        .collect();
    let outer: Vec<f32> = alpha
        .data
        .iter()
        .map(|a| (*a <= 0.03) as u8 as f32)
        .collect();
    let chan = |c: usize, wt: &[f32]| {
        Plane::new(
            w,
            h,
            rgb.pixels().zip(wt).map(|(p, k)| p[c] as f32 * k).collect(),
        )
    };
    let den_in = box_mean(&Plane::new(w, h, inner.clone()), r);
    let den_in_wide = box_mean(&Plane::new(w, h, inner.clone()), 4 * r);
    let den_out = box_mean(&Plane::new(w, h, outer.clone()), 2 * r);
    let den_out_wide = box_mean(&Plane::new(w, h, outer.clone()), 6 * r);
    let mut f_in = Vec::new();
    let mut f_in_wide = Vec::new();
    let mut b_out = Vec::new();
    let mut b_out_wide = Vec::new();
    for c in 0..3 {
        f_in.push(box_mean(&chan(c, &inner), r));
        f_in_wide.push(box_mean(&chan(c, &inner), 4 * r));
        b_out.push(box_mean(&chan(c, &outer), 2 * r));
        b_out_wide.push(box_mean(&chan(c, &outer), 6 * r));
    }
    let mut out = RgbaImage::new(w as u32, h as u32);
    for (i, (p, o)) in rgb.pixels().zip(out.pixels_mut()).enumerate() {
        let mut a = alpha.data[i].clamp(0.0, 1.0);
        let orig = [p[0] as f32, p[1] as f32, p[2] as f32];
        let pulled: Option<[f32; 3]> = if den_in.data[i] > 0.02 {
            Some([0, 1, 2].map(|c| f_in[c].data[i] / den_in.data[i]))
        } else if den_in_wide.data[i] > 0.002 {
            Some([0, 1, 2].map(|c| f_in_wide[c].data[i] / den_in_wide.data[i]))
        } else {
            None
        };
        let back: Option<[f32; 3]> = if den_out.data[i] > 0.02 {
            Some([0, 1, 2].map(|c| b_out[c].data[i] / den_out.data[i]))
        } else if den_out_wide.data[i] > 0.01 {
            Some([0, 1, 2].map(|c| b_out_wide[c].data[i] / den_out_wide.data[i]))
        } else {
            None
        };
        if let (Some(f), Some(b)) = (pulled, back) {
            let fb = [f[0] - b[0], f[1] - b[1], f[2] - b[2]];
            let n2 = fb[0] * fb[0] + fb[1] * fb[1] + fb[2] * fb[2];
            if n2 > 60.0 * 60.0 && a > 0.0 {
                let dot =
                    (orig[0] - b[0]) * fb[0] + (orig[1] - b[1]) * fb[1] + (orig[2] - b[2]) * fb[2];
                let ac = dot / n2;
                // Lenient by default (shading near an outline also moves toward B); the plain
                // estimate where skin was cut away, so no rim of skin colour stays.
                let cap = if strict.is_some_and(|m| m[i]) {
                    ac.clamp(0.0, 1.0)
                } else {
                    smoothstep(0.1, 0.6, ac)
                };
                a = a.min(cap);
            }
        }
        let mut px = [p[0], p[1], p[2], (a * 255.0).round() as u8];
        if a < 0.97 {
            let t = smoothstep(0.35, 0.95, a);
            for c in 0..3 {
                let pull = pulled.map_or(orig[c], |f| f[c]);
                // Solved out, but kept near the product's own colours: where α is
                // underestimated the solution overshoots (white glints on a dark background).
                let solved = match back {
                    Some(b) if a > 0.05 => {
                        let v = (orig[c] - (1.0 - a) * b[c]) / a;
                        let (lo, hi) = (pull.min(orig[c]) - 24.0, pull.max(orig[c]) + 24.0);
                        v.clamp(lo.max(0.0), hi.min(255.0))
                    }
                    _ => orig[c],
                };
                px[c] = (pull * (1.0 - t) + solved * t).round().clamp(0.0, 255.0) as u8;
            }
        }
        *o = image::Rgba(px);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The product, isolated once for all variants.

/// The isolated product: straight-alpha RGBA cropped to the product (plus a small margin) and
/// the tight box of the product inside it.
pub struct Cutout {
    pub image: RgbaImage,
    /// (x0, y0, x1, y1) of alpha > 0.05 inside `image`.
    pub bbox: (u32, u32, u32, u32),
    pub person: PersonReport,
    /// The rotation applied (radians), if the product was straightened.
    pub rotated: Option<f32>,
    /// Where `image`'s top-left corner was in the source, and source pixels per `image` pixel
    /// (above 1 when a very large source was scaled down); meaningful when not `rotated`.
    pub origin: (u32, u32),
    pub source_scale: f32,
}

pub(crate) fn alpha_bbox(img: &RgbaImage, min: u8) -> Option<(u32, u32, u32, u32)> {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (x, y, p) in img.enumerate_pixels() {
        if p[3] > min {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
        }
    }
    (x1 > x0).then_some((x0, y0, x1, y1))
}

/// Mattes, removes the person, crops, decontaminates and straightens the product.
pub fn isolate(bg: &BackgroundRemover, img: &DynamicImage) -> Result<Cutout, EngineError> {
    let mut rgb = img.to_rgb8();
    let (mut w, mut h) = rgb.dimensions();
    let source_scale = (w.max(h) as f32 / MAX_SOURCE_SIDE as f32).max(1.0);
    if w.max(h) > MAX_SOURCE_SIDE {
        let s = MAX_SOURCE_SIDE as f32 / w.max(h) as f32;
        let (nw, nh) = (
            ((w as f32 * s).round() as u32).max(1),
            ((h as f32 * s).round() as u32).max(1),
        );
        rgb = resize_rgb(&rgb, nw, nh, fr::FilterType::Lanczos3)?;
        (w, h) = (nw, nh);
    }
    if w.min(h) < MIN_SIDE {
        return Err(EngineError::Input(format!(
            "The image is too small for a packshot ({w}×{h}): upload a photo at least \
             {MIN_SIDE} pixels on each side."
        )));
    }
    // Analysis copy.
    let s = (ANALYSIS_SIDE as f32 / w.max(h) as f32).min(1.0);
    let (aw, ah) = (
        ((w as f32 * s).round() as u32).max(1),
        ((h as f32 * s).round() as u32).max(1),
    );
    let small = if s < 1.0 {
        resize_rgb(&rgb, aw, ah, fr::FilterType::Bilinear)?
    } else {
        rgb.clone()
    };
    if luma_std(&small) < 3.0 {
        return Err(EngineError::Input(format!(
            "The image is a flat colour with nothing in it. {NO_PRODUCT}"
        )));
    }
    let alpha = bg.alpha(&rgb)?;
    let alpha_a = resize_plane(&alpha, aw, ah);
    let (aw, ah) = (aw as usize, ah as usize);
    let fg: Vec<bool> = alpha_a.data.iter().map(|a| *a > 0.5).collect();
    let fg_share = fg.iter().filter(|v| **v).count() as f32 / (aw * ah) as f32;
    if fg_share < 0.005 {
        return Err(EngineError::Input(NO_PRODUCT.into()));
    }
    if let Some(sim) = fg_bg_similarity(&small, &alpha_a) {
        tracing::debug!(similarity = sim, "packshot fg/bg colour similarity");
        if sim > 0.85 {
            return Err(EngineError::Input(NO_PRODUCT.into()));
        }
    }
    let major = keep_major(&fg, aw, ah, 0.1);
    let (garment, person) = remove_person(&small, &major);
    if !garment.iter().any(|v| *v) {
        return Err(EngineError::Input(NO_PRODUCT.into()));
    }
    // The keep mask: removed areas cut (edge refined on the photo), elsewhere dilated so the
    // matte's own soft edge decides.
    let removed: Vec<bool> = (0..aw * ah).map(|i| major[i] && !garment[i]).collect();
    let grown = dilate(&garment, aw, ah, 2);
    let keep_a: Vec<f32> = (0..aw * ah)
        .map(|i| (garment[i] || (grown[i] && !removed[i])) as u8 as f32)
        .collect();
    let mut keep = resize_plane(&Plane::new(aw, ah, keep_a), w, h);
    if person.on_model {
        let guide = Plane::new(
            w as usize,
            h as usize,
            rgb.pixels()
                .map(|p| (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32) / 255.0)
                .collect(),
        );
        let r = ((1.0 / s) * 1.5).ceil().max(2.0) as usize;
        keep = guided_filter(&guide, &keep, r, 1e-3);
        // Sharpen the cut and pull it slightly into the garment, so no rim of skin stays.
        stretch(&mut keep, 0.55, 0.95);
    }
    let final_alpha: Vec<f32> = alpha
        .data
        .iter()
        .zip(&keep.data)
        .map(|(a, k)| (a * k.clamp(0.0, 1.0)).clamp(0.0, 1.0))
        .collect();
    // Crop around alpha > 0.02, with a margin for resampling.
    let (wu, hu) = (w as usize, h as usize);
    let m: Vec<bool> = final_alpha.iter().map(|a| *a > 0.02).collect();
    let Some((x0, y0, x1, y1)) = bbox(&m, wu) else {
        return Err(EngineError::Input(NO_PRODUCT.into()));
    };
    let pad = ((w.max(h) as f32 * 0.02) as usize).max(4);
    let (cx0, cy0) = (x0.saturating_sub(pad), y0.saturating_sub(pad));
    let (cx1, cy1) = ((x1 + pad).min(wu), (y1 + pad).min(hu));
    let (cw, ch) = (cx1 - cx0, cy1 - cy0);
    let crop_rgb =
        image::imageops::crop_imm(&rgb, cx0 as u32, cy0 as u32, cw as u32, ch as u32).to_image();
    let crop_alpha = Plane::new(
        cw,
        ch,
        (cy0..cy1)
            .flat_map(|y| final_alpha[y * wu + cx0..y * wu + cx1].iter().copied())
            .collect(),
    );
    // Edges: the matte snapped to the photo's colour edges, then decontaminated.
    let r = ((w.max(h) as f32 / 400.0).round() as usize).max(2);
    let mut crop_alpha = guided_filter_rgb(&crop_rgb, &crop_alpha, r, EDGE_EPS);
    stretch(&mut crop_alpha, 0.2, 0.85);
    let strict: Option<Vec<bool>> = person.on_model.then(|| {
        let near = dilate(&removed, aw, ah, 2);
        let near = resize_plane(&bool_plane(&near, aw, ah), w, h);
        (cy0..cy1)
            .flat_map(|y| {
                near.data[y * wu + cx0..y * wu + cx1]
                    .iter()
                    .map(|v| *v > 0.01)
            })
            .collect()
    });
    let mut image = decontaminate(&crop_rgb, &crop_alpha, strict.as_deref());
    // Straighten elongated, slightly tilted products (not people's poses).
    let rotated = if person.on_model {
        None
    } else {
        straighten_angle(&garment, aw)
    };
    if let Some(angle) = rotated {
        image = rotate_rgba(&image, angle);
    }
    let bbox = alpha_bbox(&image, 12).ok_or_else(|| EngineError::Input(NO_PRODUCT.into()))?;
    Ok(Cutout {
        image,
        bbox,
        person,
        rotated,
        origin: (
            (cx0 as f32 * source_scale).round() as u32,
            (cy0 as f32 * source_scale).round() as u32,
        ),
        source_scale,
    })
}

// ---------------------------------------------------------------------------------------------
// Composition.

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(w: usize, h: usize, deg: f32) -> Vec<bool> {
        let (s, c) = deg.to_radians().sin_cos();
        (0..w * h)
            .map(|i| {
                let (x, y) = (
                    (i % w) as f32 - w as f32 / 2.0,
                    (i / w) as f32 - h as f32 / 2.0,
                );
                // Along the bar's axis (rotated by `deg` from the x axis, y down).
                let (u, v) = (c * x + s * y, -s * x + c * y);
                u.abs() < 80.0 && v.abs() < 15.0
            })
            .collect()
    }

    #[test]
    fn straightens_a_tilted_bar_and_leaves_straight_or_round_ones() {
        let (w, h) = (240, 240);
        let a = straighten_angle(&bar(w, h, 10.0), w).unwrap();
        assert!((a.to_degrees() + 10.0).abs() < 0.5, "{}", a.to_degrees());
        let a = straighten_angle(&bar(w, h, 84.0), w).unwrap();
        assert!((a.to_degrees() - 6.0).abs() < 0.5, "{}", a.to_degrees());
        assert!(straighten_angle(&bar(w, h, 1.0), w).is_none());
        assert!(
            straighten_angle(&bar(w, h, 40.0), w).is_none(),
            "a diagonal is intended"
        );
        let disc: Vec<bool> = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f32 - 120.0, (i / w) as f32 - 120.0);
                x * x + y * y < 80.0 * 80.0
            })
            .collect();
        assert!(straighten_angle(&disc, w).is_none());
        // Rotating by the angle found makes the bar axis-aligned.
        let m = bar(w, h, 10.0);
        let mut img = RgbaImage::new(w as u32, h as u32);
        for (i, v) in m.iter().enumerate() {
            if *v {
                img.put_pixel(
                    (i % w) as u32,
                    (i / w) as u32,
                    image::Rgba([200, 0, 0, 255]),
                );
            }
        }
        let r = rotate_rgba(&img, straighten_angle(&m, w).unwrap());
        let (x0, y0, x1, y1) = alpha_bbox(&r, 128).unwrap();
        assert!(
            (x1 - x0) as i32 - 160 <= 4 && (y1 - y0) as i32 - 30 <= 4,
            "{x0},{y0},{x1},{y1}"
        );
    }

    #[test]
    fn decontamination_removes_the_old_background_from_edges() {
        // A red square on green, with a soft 6-pixel edge whose colour mixes both.
        let (w, h) = (60u32, 60u32);
        let mut rgb = RgbImage::new(w, h);
        let mut alpha = vec![0f32; (w * h) as usize];
        for y in 0..h {
            for x in 0..w {
                let d = (x as f32 - 30.0).abs().max((y as f32 - 30.0).abs());
                let a = ((20.0 - d) / 6.0 + 0.5).clamp(0.0, 1.0);
                alpha[(y * w + x) as usize] = a;
                let mix = |f: f32, b: f32| (f * a + b * (1.0 - a)).round() as u8;
                rgb.put_pixel(
                    x,
                    y,
                    Rgb([mix(220.0, 30.0), mix(20.0, 180.0), mix(20.0, 30.0)]),
                );
            }
        }
        let out = decontaminate(&rgb, &Plane::new(w as usize, h as usize, alpha), None);
        for p in out.pixels() {
            if p[3] > 10 {
                assert!(p[1] < 60 && p[0] > 150, "edge colour {p:?} still green");
            }
        }
    }

    #[test]
    fn salient_region_like_its_surroundings_is_not_a_product() {
        let (w, h) = (200u32, 150u32);
        let hash = |x: u32, y: u32, c: u32| {
            let v = (x.wrapping_mul(73_856_093)
                ^ y.wrapping_mul(19_349_663)
                ^ c.wrapping_mul(83_492_791))
            .wrapping_mul(2_654_435_761);
            (v >> 24) as u8
        };
        let noise = RgbImage::from_fn(w, h, |x, y| {
            Rgb([hash(x, y, 1), hash(x, y, 2), hash(x, y, 3)])
        });
        // A blob in the middle, as a network might "find" in noise.
        let blob = Plane::new(
            w as usize,
            h as usize,
            (0..w * h)
                .map(|i| {
                    let (x, y) = ((i % w) as f32 - 100.0, (i / w) as f32 - 75.0);
                    (x * x + y * y < 40.0 * 40.0) as u8 as f32
                })
                .collect(),
        );
        let sim = fg_bg_similarity(&noise, &blob).unwrap();
        assert!(sim > 0.9, "noise {sim}");
        let mut product = noise.clone();
        for (i, p) in product.pixels_mut().enumerate() {
            *p = if blob.data[i] > 0.5 {
                Rgb([30, 40, 120])
            } else {
                Rgb([235, 235, 235])
            };
        }
        let sim = fg_bg_similarity(&product, &blob).unwrap();
        assert!(sim < 0.1, "product {sim}");
    }

    #[test]
    fn morphology_and_components() {
        let (w, h) = (10, 6);
        let mut m = vec![false; w * h];
        for y in 1..4 {
            for x in 1..5 {
                m[y * w + x] = true;
            }
        }
        m[5 * w + 9] = true;
        let (_, comps) = components(&m, w, h);
        assert_eq!(comps.len(), 2);
        assert_eq!(comps[0].area, 12);
        let k = keep_major(&m, w, h, 0.1);
        assert!(!k[5 * w + 9] && k[2 * w + 2]);
        let e = erode(&m, w, h, 1);
        assert_eq!(e.iter().filter(|v| **v).count(), 2);
        let d = dilate(&m, w, h, 1);
        assert!(d[0] && d[4 * w + 5] && !d[7]);
    }
}
