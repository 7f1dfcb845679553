//! Upscale on CPU: Lanczos3 resampling (fast_image_resize) to 2x or 4x, capped at 4K on the long
//! side, then detail enhancement with an unsharp mask; Enhance keeps the size and sharpens more.
//! Alpha is kept when the input has it. (A super-resolution model is for GPU nodes: issue #4.)

use atelier_core::catalog::{upscale_output, UpscaleFactor};
use fast_image_resize as fr;
use image::{DynamicImage, ImageEncoder};

use crate::imaging::unsharp;
use crate::imaging::{Encoded, EngineError};

pub const ENGINE: &str = "lanczos3+unsharp";

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
