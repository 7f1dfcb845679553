//! What the engines share, and the only module they share: planes and their filters (box
//! means, the guided filter of He, Sun and Tang (2010) that snaps a coarse matte to the photo's
//! own edges, contrast stretch), resizing with fast_image_resize, box blurs and the unsharp mask,
//! push-pull hole filling, sRGB ↔ CIE L*a*b*, bilinear sampling, the engines' error type and
//! their encoded output. Engines import this, not each other's internals.

use fast_image_resize as fr;
use image::RgbImage;

/// A single-channel f32 plane, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Plane {
    pub width: usize,
    pub height: usize,
    pub data: Vec<f32>,
}

impl Plane {
    pub fn new(width: usize, height: usize, data: Vec<f32>) -> Self {
        assert_eq!(data.len(), width * height, "plane size");
        Plane {
            width,
            height,
            data,
        }
    }

    fn map2(&self, other: &Plane, f: impl Fn(f32, f32) -> f32) -> Plane {
        let data = self
            .data
            .iter()
            .zip(&other.data)
            .map(|(a, b)| f(*a, *b))
            .collect();
        Plane::new(self.width, self.height, data)
    }
}

/// Mean over a (2r+1)² window, clamped at the borders (divides by the window's real area).
/// Separable running sums; both passes walk memory in order (rows of the plane), so the cost is
/// a few adds per pixel whatever `r` is.
pub fn box_mean(p: &Plane, r: usize) -> Plane {
    let (w, h) = (p.width, p.height);
    // Horizontal: a running sum along each row.
    let mut tmp = vec![0f32; w * h];
    for y in 0..h {
        let row = &p.data[y * w..(y + 1) * w];
        let out = &mut tmp[y * w..(y + 1) * w];
        let mut sum = 0f64;
        let mut lo = 0; // window [lo, hi)
        let mut hi = 0;
        for (x, o) in out.iter_mut().enumerate() {
            let (a, b) = (x.saturating_sub(r), (x + r + 1).min(w));
            while hi < b {
                sum += row[hi] as f64;
                hi += 1;
            }
            while lo < a {
                sum -= row[lo] as f64;
                lo += 1;
            }
            *o = (sum / (b - a) as f64) as f32;
        }
    }
    // Vertical: running column sums over a window of rows, one row added and one dropped per step.
    let mut out = vec![0f32; w * h];
    let mut acc = vec![0f64; w];
    let (mut lo, mut hi) = (0usize, 0usize);
    for y in 0..h {
        let (a, b) = (y.saturating_sub(r), (y + r + 1).min(h));
        while hi < b {
            for (s, v) in acc.iter_mut().zip(&tmp[hi * w..(hi + 1) * w]) {
                *s += *v as f64;
            }
            hi += 1;
        }
        while lo < a {
            for (s, v) in acc.iter_mut().zip(&tmp[lo * w..(lo + 1) * w]) {
                *s -= *v as f64;
            }
            lo += 1;
        }
        let inv = 1.0 / (b - a) as f64;
        for (o, s) in out[y * w..(y + 1) * w].iter_mut().zip(&acc) {
            *o = (*s * inv) as f32;
        }
    }
    Plane::new(w, h, out)
}

/// Guided filter of `p` (the coarse alpha) by `guide` (luminance), radius `r`, regulariser `eps`.
pub fn guided_filter(guide: &Plane, p: &Plane, r: usize, eps: f32) -> Plane {
    assert_eq!((guide.width, guide.height), (p.width, p.height));
    let mean_i = box_mean(guide, r);
    let mean_p = box_mean(p, r);
    let corr_ip = box_mean(&guide.map2(p, |a, b| a * b), r);
    let corr_ii = box_mean(&guide.map2(guide, |a, _| a * a), r);
    let n = guide.data.len();
    let mut a = Vec::with_capacity(n);
    let mut b = Vec::with_capacity(n);
    for i in 0..n {
        let var_i = corr_ii.data[i] - mean_i.data[i] * mean_i.data[i];
        let cov_ip = corr_ip.data[i] - mean_i.data[i] * mean_p.data[i];
        let ai = cov_ip / (var_i + eps);
        a.push(ai);
        b.push(mean_p.data[i] - ai * mean_i.data[i]);
    }
    let mean_a = box_mean(&Plane::new(p.width, p.height, a), r);
    let mean_b = box_mean(&Plane::new(p.width, p.height, b), r);
    let data = (0..n)
        .map(|i| mean_a.data[i] * guide.data[i] + mean_b.data[i])
        .collect::<Vec<_>>();
    Plane::new(p.width, p.height, data)
}

/// Maps a soft alpha to a cleaner one: below `lo` becomes 0, above `hi` becomes 1, linear between.
pub fn stretch(alpha: &mut Plane, lo: f32, hi: f32) {
    for v in &mut alpha.data {
        *v = ((*v - lo) / (hi - lo)).clamp(0.0, 1.0);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the model could not be loaded from {path}: {reason}")]
    Load { path: String, reason: String },
    #[error("the segmentation model failed: {0}")]
    Run(String),
    #[error("the image could not be encoded: {0}")]
    Encode(String),
    /// The input cannot be processed as asked (reported as InputValidationError).
    #[error("{0}")]
    Input(String),
    /// No usable face or body in the photo (reported as PoseError).
    #[error("{0}")]
    Pose(String),
}

/// A finished output.
pub struct Encoded {
    pub png: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

pub(crate) fn resize(
    src: &fr::images::Image<'_>,
    w: u32,
    h: u32,
    alg: fr::ResizeAlg,
) -> fr::images::Image<'static> {
    resize_with(src, w, h, alg, false)
}

/// [`resize`], with `use_alpha` (colours weighted by alpha, for images with transparency).
pub(crate) fn resize_with(
    src: &fr::images::Image<'_>,
    w: u32,
    h: u32,
    alg: fr::ResizeAlg,
    use_alpha: bool,
) -> fr::images::Image<'static> {
    let mut dst = fr::images::Image::new(w, h, src.pixel_type());
    let mut r = fr::Resizer::new();
    r.resize(
        src,
        &mut dst,
        &fr::ResizeOptions::new()
            .resize_alg(alg)
            .use_alpha(use_alpha),
    )
    .expect("resize between same pixel types");
    dst
}

/// Resizes an RGB image with fast_image_resize.
pub fn resize_rgb(
    img: &RgbImage,
    w: u32,
    h: u32,
    filter: fr::FilterType,
) -> Result<RgbImage, EngineError> {
    let src = fr::images::Image::from_vec_u8(
        img.width(),
        img.height(),
        img.as_raw().clone(),
        fr::PixelType::U8x3,
    )
    .map_err(|e| EngineError::Run(e.to_string()))?;
    let out = resize(&src, w, h, fr::ResizeAlg::Convolution(filter));
    Ok(RgbImage::from_raw(w, h, out.into_vec()).expect("size"))
}

pub(crate) fn plane_to_image(p: &Plane) -> fr::images::Image<'static> {
    let bytes: Vec<u8> = p.data.iter().flat_map(|v| v.to_ne_bytes()).collect();
    fr::images::Image::from_vec_u8(p.width as u32, p.height as u32, bytes, fr::PixelType::F32)
        .expect("plane size")
}

pub(crate) fn image_to_plane(img: &fr::images::Image<'_>) -> Plane {
    let data = img
        .buffer()
        .chunks_exact(4)
        .map(|c| f32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Plane::new(img.width() as usize, img.height() as usize, data)
}

/// Blurs `channels` of an interleaved u8 image with a (2r+1)² box, twice (≈ Gaussian).
pub(crate) fn box_blur(
    src: &[u8],
    w: usize,
    h: usize,
    stride: usize,
    channels: usize,
    r: usize,
) -> Vec<u8> {
    let mut a = src.to_vec();
    let mut tmp = vec![0u8; src.len()];
    for _ in 0..2 {
        // Horizontal.
        for y in 0..h {
            let row = &a[y * w * stride..(y + 1) * w * stride];
            let out = &mut tmp[y * w * stride..(y + 1) * w * stride];
            out.copy_from_slice(row);
            for c in 0..channels {
                let mut prefix = vec![0u32; w + 1];
                for x in 0..w {
                    prefix[x + 1] = prefix[x] + row[x * stride + c] as u32;
                }
                for x in 0..w {
                    let (lo, hi) = (x.saturating_sub(r), (x + r + 1).min(w));
                    out[x * stride + c] = ((prefix[hi] - prefix[lo]) / (hi - lo) as u32) as u8;
                }
            }
        }
        // Vertical.
        for c in 0..channels {
            let mut prefix = vec![0u32; h + 1];
            for x in 0..w {
                for y in 0..h {
                    prefix[y + 1] = prefix[y] + tmp[(y * w + x) * stride + c] as u32;
                }
                for y in 0..h {
                    let (lo, hi) = (y.saturating_sub(r), (y + r + 1).min(h));
                    a[(y * w + x) * stride + c] =
                        ((prefix[hi] - prefix[lo]) / (hi - lo) as u32) as u8;
                }
            }
        }
    }
    a
}

/// Unsharp mask on the colour channels: `x + amount × (x − blur(x))`, ignoring differences
/// of `threshold` levels or less so flat areas and noise are left alone.
pub fn unsharp(
    buf: &mut [u8],
    w: usize,
    h: usize,
    stride: usize,
    r: usize,
    amount: f32,
    threshold: u8,
) {
    let channels = stride.min(3);
    let blurred = box_blur(buf, w, h, stride, channels, r);
    for (i, v) in buf.iter_mut().enumerate() {
        if i % stride >= channels {
            continue;
        }
        let d = *v as f32 - blurred[i] as f32;
        if d.abs() > threshold as f32 {
            *v = (*v as f32 + amount * d).round().clamp(0.0, 255.0) as u8;
        }
    }
}

/// Fills the pixels of `rgb` where `known` < 1 by push-pull diffusion: known colours are
/// averaged down a pyramid, and each level's holes take the interpolated coarser level.
pub(crate) fn push_pull(rgb: &[[f32; 3]], known: &[f32], w: usize, h: usize) -> Vec<[f32; 3]> {
    if w <= 1 && h <= 1 {
        return vec![if known[0] > 0.0 { rgb[0] } else { [128.0; 3] }];
    }
    if known.iter().all(|k| *k >= 1.0) {
        return rgb.to_vec();
    }
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let mut crgb = vec![[0f32; 3]; cw * ch];
    let mut cknown = vec![0f32; cw * ch];
    for y in 0..ch {
        for x in 0..cw {
            let (mut s, mut k) = ([0f32; 3], 0f32);
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let (fx, fy) = (2 * x + dx, 2 * y + dy);
                if fx < w && fy < h {
                    let i = fy * w + fx;
                    let kk = known[i];
                    for c in 0..3 {
                        s[c] += rgb[i][c] * kk;
                    }
                    k += kk;
                }
            }
            let i = y * cw + x;
            if k > 0.0 {
                crgb[i] = [s[0] / k, s[1] / k, s[2] / k];
            }
            cknown[i] = k.min(1.0);
        }
    }
    let coarse = push_pull(&crgb, &cknown, cw, ch);
    let mut out = rgb.to_vec();
    for y in 0..h {
        let sy = ((y as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (ch - 1) as f32);
        let (y0, fy) = (sy.floor() as usize, sy.fract());
        let y1 = (y0 + 1).min(ch - 1);
        for x in 0..w {
            let i = y * w + x;
            let k = known[i].clamp(0.0, 1.0);
            if k >= 1.0 {
                continue;
            }
            let sx = ((x as f32 + 0.5) / 2.0 - 0.5).clamp(0.0, (cw - 1) as f32);
            let (x0, fx) = (sx.floor() as usize, sx.fract());
            let x1 = (x0 + 1).min(cw - 1);
            for c in 0..3 {
                let top = lerp32(coarse[y0 * cw + x0][c], coarse[y0 * cw + x1][c], fx);
                let bottom = lerp32(coarse[y1 * cw + x0][c], coarse[y1 * cw + x1][c], fx);
                let v = lerp32(top, bottom, fy);
                out[i][c] = k * rgb[i][c] + (1.0 - k) * v;
            }
        }
    }
    out
}

fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(c: f32) -> f32 {
    let c = c.clamp(0.0, 1.0);
    if c <= 0.003_130_8 {
        c * 12.92
    } else {
        1.055 * c.powf(1.0 / 2.4) - 0.055
    }
}

const WHITE: [f32; 3] = [0.950_47, 1.0, 1.088_83];

fn lab_f(t: f32) -> f32 {
    if t > 0.008_856 {
        t.cbrt()
    } else {
        7.787 * t + 16.0 / 116.0
    }
}

fn lab_f_inv(t: f32) -> f32 {
    if t > 0.206_893 {
        t * t * t
    } else {
        (t - 16.0 / 116.0) / 7.787
    }
}

/// sRGB (0..255) → CIE L*a*b* (D65).
pub fn to_lab(p: [f32; 3]) -> [f32; 3] {
    let [r, g, b] = p.map(|c| srgb_to_linear(c / 255.0));
    let x = 0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = 0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b;
    let (fx, fy, fz) = (
        lab_f(x / WHITE[0]),
        lab_f(y / WHITE[1]),
        lab_f(z / WHITE[2]),
    );
    [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
}

/// CIE L*a*b* (D65) → sRGB (0..255, unclamped above 255 is clamped).
pub fn from_lab(l: [f32; 3]) -> [f32; 3] {
    let fy = (l[0] + 16.0) / 116.0;
    let (fx, fz) = (fy + l[1] / 500.0, fy - l[2] / 200.0);
    let (x, y, z) = (
        lab_f_inv(fx) * WHITE[0],
        lab_f_inv(fy) * WHITE[1],
        lab_f_inv(fz) * WHITE[2],
    );
    let r = 3.240_454_2 * x - 1.537_138_5 * y - 0.498_531_4 * z;
    let g = -0.969_266 * x + 1.876_010_8 * y + 0.041_556 * z;
    let b = 0.055_643_4 * x - 0.204_025_9 * y + 1.057_225_2 * z;
    [r, g, b].map(|c| linear_to_srgb(c) * 255.0)
}

/// Bilinear sample of an RGB image at (x, y) in pixel units (0..255 per channel). Outside the
/// image: the nearest edge pixel when `clamp_edges`, else black.
pub(crate) fn bilinear(img: &RgbImage, x: f32, y: f32, clamp_edges: bool) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (fx, fy) = (x - 0.5, y - 0.5);
    let (x0, y0) = (fx.floor() as i64, fy.floor() as i64);
    let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
    let px = |xx: i64, yy: i64| -> [f32; 3] {
        let inside = xx >= 0 && yy >= 0 && xx < w && yy < h;
        if !inside && !clamp_edges {
            return [0.0; 3];
        }
        let p = img
            .get_pixel(xx.clamp(0, w - 1) as u32, yy.clamp(0, h - 1) as u32)
            .0;
        [p[0] as f32, p[1] as f32, p[2] as f32]
    };
    let (a, b, c, d) = (
        px(x0, y0),
        px(x0 + 1, y0),
        px(x0, y0 + 1),
        px(x0 + 1, y0 + 1),
    );
    std::array::from_fn(|i| {
        let top = a[i] + (b[i] - a[i]) * ax;
        let bottom = c[i] + (d[i] - c[i]) * ax;
        top + (bottom - top) * ay
    })
}

fn lerp32(a: f32, b: f32, t: f32) -> f32 {
    a + (b - a) * t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_mean_of_constant_is_constant() {
        let p = Plane::new(7, 5, vec![0.25; 35]);
        let m = box_mean(&p, 2);
        assert!(m.data.iter().all(|v| (v - 0.25).abs() < 1e-6));
    }

    #[test]
    fn box_mean_matches_the_naive_mean() {
        let (w, h) = (13, 9);
        let p = Plane::new(
            w,
            h,
            (0..w * h)
                .map(|i| ((i * 37 % 101) as f32) / 100.0)
                .collect(),
        );
        for r in [0, 1, 3, 7, 20] {
            let m = box_mean(&p, r);
            for y in 0..h {
                for x in 0..w {
                    let (x0, x1) = (x.saturating_sub(r), (x + r + 1).min(w));
                    let (y0, y1) = (y.saturating_sub(r), (y + r + 1).min(h));
                    let mut s = 0f32;
                    for yy in y0..y1 {
                        for xx in x0..x1 {
                            s += p.data[yy * w + xx];
                        }
                    }
                    let naive = s / ((x1 - x0) * (y1 - y0)) as f32;
                    assert!((m.data[y * w + x] - naive).abs() < 1e-5, "r {r} at {x},{y}");
                }
            }
        }
    }

    #[test]
    fn box_mean_averages_window() {
        let p = Plane::new(3, 1, vec![0.0, 3.0, 6.0]);
        let m = box_mean(&p, 1);
        assert_eq!(m.data, vec![1.5, 3.0, 4.5]);
    }

    #[test]
    fn guided_filter_snaps_a_blurry_mask_to_the_guide_edge() {
        // Guide: a sharp vertical edge at x = 20. Mask: the same edge, blurred and shifted.
        let (w, h) = (40, 10);
        let guide = Plane::new(
            w,
            h,
            (0..w * h)
                .map(|i| if i % w < 20 { 1.0 } else { 0.0 })
                .collect(),
        );
        let coarse = Plane::new(
            w,
            h,
            (0..w * h)
                .map(|i| (((22 - (i % w) as i32) as f32) / 8.0 + 0.5).clamp(0.0, 1.0))
                .collect(),
        );
        let q = guided_filter(&guide, &coarse, 4, 1e-4);
        // Far inside and outside the mask stays put; at the edge the result follows the guide:
        // a steeper step than the coarse mask had.
        assert!(q.data[5] > 0.95 && q.data[35] < 0.05);
        let step_q = q.data[19] - q.data[20];
        let step_c = coarse.data[19] - coarse.data[20];
        assert!(
            step_q > 2.0 * step_c,
            "refined step {step_q} vs coarse {step_c}"
        );
    }

    #[test]
    fn stretch_clamps() {
        let mut p = Plane::new(3, 1, vec![0.05, 0.5, 0.97]);
        stretch(&mut p, 0.1, 0.9);
        assert_eq!(p.data[0], 0.0);
        assert!((p.data[1] - 0.5).abs() < 1e-5);
        assert_eq!(p.data[2], 1.0);
    }
}
