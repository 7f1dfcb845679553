//! Upscale on CPU: Lanczos3 resampling (fast_image_resize) to 2x or 4x, capped at 4K on the long
//! side, then detail enhancement with an unsharp mask; Enhance keeps the size and sharpens more.
//! Alpha is kept when the input has it. (A super-resolution model is for GPU nodes: issue #4.)

use atelier_core::catalog::{upscale_output, UpscaleFactor};
use fast_image_resize as fr;
use image::{DynamicImage, ImageEncoder};

use crate::bgremove::{Encoded, EngineError};

pub const ENGINE: &str = "lanczos3+unsharp";

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

/// Runs the tool.
pub fn run(img: &DynamicImage, factor: UpscaleFactor) -> Result<Encoded, EngineError> {
    let alpha = img.color().has_alpha();
    let (w, h) = (img.width(), img.height());
    let (pixel, stride, raw) = if alpha {
        (fr::PixelType::U8x4, 4, img.to_rgba8().into_raw())
    } else {
        (fr::PixelType::U8x3, 3, img.to_rgb8().into_raw())
    };
    let (tw, th) = upscale_output(factor, w, h);
    let mut out = if (tw, th) == (w, h) {
        raw
    } else {
        let src = fr::images::Image::from_vec_u8(w, h, raw, pixel)
            .map_err(|e| EngineError::Run(e.to_string()))?;
        let mut dst = fr::images::Image::new(tw, th, pixel);
        fr::Resizer::new()
            .resize(
                &src,
                &mut dst,
                &fr::ResizeOptions::new()
                    .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3)),
            )
            .map_err(|e| EngineError::Run(e.to_string()))?;
        dst.into_vec()
    };
    let scale = tw as f32 / w as f32;
    let (radius, amount) = match factor {
        UpscaleFactor::Enhance => (1, 0.8),
        _ => (scale.round().max(1.0) as usize, 0.6),
    };
    unsharp(
        &mut out,
        tw as usize,
        th as usize,
        stride,
        radius,
        amount,
        2,
    );
    let mut png = Vec::new();
    let color = if alpha {
        image::ExtendedColorType::Rgba8
    } else {
        image::ExtendedColorType::Rgb8
    };
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&out, tw, th, color)
        .map_err(|e| EngineError::Encode(e.to_string()))?;
    Ok(Encoded {
        png,
        width: tw,
        height: th,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsharp_raises_contrast_at_an_edge_and_leaves_flat_areas() {
        let (w, h) = (20, 4);
        let mut buf: Vec<u8> = (0..w * h)
            .flat_map(|i| if i % w < 10 { [60u8; 3] } else { [180u8; 3] })
            .collect();
        let before = buf.clone();
        unsharp(&mut buf, w, h, 3, 2, 1.0, 2);
        assert!(buf[9 * 3] < before[9 * 3], "dark side darker at the edge");
        assert!(
            buf[10 * 3] > before[10 * 3],
            "light side lighter at the edge"
        );
        assert_eq!(buf[0], before[0], "flat area untouched");
    }
}
