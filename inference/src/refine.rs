//! Edge refinement of a coarse matte at full resolution: a guided filter (He, Sun and Tang, 2010)
//! with the photo's luminance as the guide, so the alpha follows the photo's own edges (hair,
//! fabric) instead of the blocky upsampled mask.

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
