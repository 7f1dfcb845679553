//! Reframe to a target aspect ratio. The subject is found with the segmentation matte; when a
//! crop of the target ratio keeps the whole subject (with a margin), the image is cropped around
//! it; otherwise the canvas is expanded and the new areas continue the picture (mirrored edges
//! blended into a heavy blur of themselves, so borders carry on without repeating detail).
//! Output ≈ 1 megapixel, like the API's.

use atelier_core::catalog::AspectRatio;
use fast_image_resize as fr;
use image::{ImageEncoder, RgbImage};

use crate::bgremove::BackgroundRemover;
use crate::imaging::box_blur;
use crate::imaging::{resize_rgb, Encoded, EngineError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Crop,
    Expand,
}

impl Method {
    pub fn engine(self) -> &'static str {
        match self {
            Method::Crop => "reframe-subject-crop",
            Method::Expand => "reframe-expand-mirror-blur",
        }
    }
}

/// The output size for a ratio: about 1 MP, multiples of 8.
pub fn output_size(ar: AspectRatio) -> (u32, u32) {
    let r = ar.value();
    let w = ((1024.0 * 1024.0 * r).sqrt() / 8.0).round() * 8.0;
    let h = ((w / r) / 8.0).round() * 8.0;
    (w as u32, h as u32)
}

/// The subject's bounding box (x0, y0, x1, y1) in image pixels, from the 320² matte.
fn subject_box(
    bg: &BackgroundRemover,
    rgb: &RgbImage,
) -> Result<(f64, f64, f64, f64), EngineError> {
    let m = bg.matte(rgb)?;
    let (mut x0, mut y0, mut x1, mut y1) = (m.width, m.height, 0, 0);
    for y in 0..m.height {
        for x in 0..m.width {
            if m.data[y * m.width + x] > 0.5 {
                (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x + 1), y1.max(y + 1));
            }
        }
    }
    let (sx, sy) = (
        rgb.width() as f64 / m.width as f64,
        rgb.height() as f64 / m.height as f64,
    );
    if x1 <= x0 || y1 <= y0 {
        // No clear subject: keep the middle half.
        let (w, h) = (rgb.width() as f64, rgb.height() as f64);
        return Ok((w * 0.25, h * 0.25, w * 0.75, h * 0.75));
    }
    Ok((
        x0 as f64 * sx,
        y0 as f64 * sy,
        x1 as f64 * sx,
        y1 as f64 * sy,
    ))
}

/// Mirrors an index into 0..n (…, 2, 1, 0, 1, 2, …, n-1, n-2, …).
fn mirror(i: i64, n: i64) -> i64 {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let m = i.rem_euclid(period);
    if m < n {
        m
    } else {
        period - m
    }
}

fn expand(img: &RgbImage, cw: u32, ch: u32) -> RgbImage {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let (ox, oy) = ((cw as i64 - w) / 2, (ch as i64 - h) / 2);
    let mut canvas = RgbImage::new(cw, ch);
    for y in 0..ch as i64 {
        for x in 0..cw as i64 {
            let p = img.get_pixel(mirror(x - ox, w) as u32, mirror(y - oy, h) as u32);
            canvas.put_pixel(x as u32, y as u32, *p);
        }
    }
    let band = (cw as i64 - w).max(ch as i64 - h).max(2) / 2;
    let radius = (band / 6).clamp(3, 64) as usize;
    let blurred = box_blur(canvas.as_raw(), cw as usize, ch as usize, 3, 3, radius);
    let mut out = canvas.clone();
    for y in 0..ch as i64 {
        for x in 0..cw as i64 {
            let dx = if x < ox {
                ox - x
            } else if x >= ox + w {
                x - (ox + w - 1)
            } else {
                0
            };
            let dy = if y < oy {
                oy - y
            } else if y >= oy + h {
                y - (oy + h - 1)
            } else {
                0
            };
            let d = dx.max(dy);
            if d == 0 {
                continue;
            }
            let a = (d as f32 / (band as f32 * 0.5).max(1.0)).min(1.0);
            let i = ((y * cw as i64 + x) * 3) as usize;
            let px = out.get_pixel_mut(x as u32, y as u32);
            for c in 0..3 {
                px[c] = (canvas.as_raw()[i + c] as f32 * (1.0 - a) + blurred[i + c] as f32 * a)
                    .round() as u8;
            }
        }
    }
    out
}

/// Runs the tool; returns the PNG and the method chosen.
pub fn run(
    bg: &BackgroundRemover,
    img: &image::DynamicImage,
    ar: AspectRatio,
) -> Result<(Encoded, Method), EngineError> {
    let rgb = img.to_rgb8();
    let (w, h) = (rgb.width() as f64, rgb.height() as f64);
    let target = ar.value();
    if ((w / h) / target - 1.0).abs() < 0.02 {
        return Err(EngineError::Input(format!(
            "The image is already {}; choose another ratio.",
            ar.label()
        )));
    }
    let (bx0, by0, bx1, by1) = subject_box(bg, &rgb)?;
    let margin = 0.03 * w.max(h);
    let (bx0, by0, bx1, by1) = (
        (bx0 - margin).max(0.0),
        (by0 - margin).max(0.0),
        (bx1 + margin).min(w),
        (by1 + margin).min(h),
    );
    // The largest window of the target ratio inside the image.
    let (cw, ch) = if w / h > target {
        (h * target, h)
    } else {
        (w, w / target)
    };
    let fits = bx1 - bx0 <= cw && by1 - by0 <= ch;
    let (framed, method) = if fits {
        let cx = ((bx0 + bx1) / 2.0 - cw / 2.0).clamp(0.0, w - cw);
        let cy = ((by0 + by1) / 2.0 - ch / 2.0).clamp(0.0, h - ch);
        let crop = image::imageops::crop_imm(
            &rgb,
            cx.round() as u32,
            cy.round() as u32,
            cw.round() as u32,
            ch.round() as u32,
        )
        .to_image();
        (crop, Method::Crop)
    } else {
        let (ew, eh) = if w / h < target {
            (h * target, h)
        } else {
            (w, w / target)
        };
        (
            expand(&rgb, ew.round() as u32, eh.round() as u32),
            Method::Expand,
        )
    };
    let (ow, oh) = output_size(ar);
    let out = resize_rgb(&framed, ow, oh, fr::FilterType::Lanczos3)?;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(out.as_raw(), ow, oh, image::ExtendedColorType::Rgb8)
        .map_err(|e| EngineError::Encode(e.to_string()))?;
    Ok((
        Encoded {
            png,
            width: ow,
            height: oh,
        },
        method,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_about_one_megapixel() {
        assert_eq!(output_size(AspectRatio::R1x1), (1024, 1024));
        assert_eq!(output_size(AspectRatio::R16x9), (1368, 768));
        let (w, h) = output_size(AspectRatio::R2x3);
        assert!(((w as f64 / h as f64) - 2.0 / 3.0).abs() < 0.01);
    }

    #[test]
    fn mirror_reflects() {
        assert_eq!(
            (-2..6).map(|i| mirror(i, 4)).collect::<Vec<_>>(),
            [2, 1, 0, 1, 2, 3, 2, 1]
        );
    }
}
