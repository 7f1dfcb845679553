//! Export for Web, server side: re-encodes a stored output as JPEG (flattened on white), PNG
//! (lossless) or lossy WebP (libwebp, alpha kept) at the chosen quality, for browsers that
//! cannot encode WebP themselves and so every export is the same whatever the browser.

use atelier_core::export::{ExportFormat, ExportSpec};
use image::{DynamicImage, ImageEncoder};

use crate::imaging::EngineError;

/// One exported file.
pub struct Exported {
    pub bytes: Vec<u8>,
    pub mime: &'static str,
    pub width: u32,
    pub height: u32,
}

/// libwebp's effort (0 fastest … 6 smallest); 4 is cwebp's default.
const WEBP_METHOD: i32 = 4;

/// Encodes `img` as `spec` says.
pub fn export(img: &DynamicImage, spec: ExportSpec) -> Result<Exported, EngineError> {
    let (width, height) = (img.width(), img.height());
    let enc = |e: image::ImageError| EngineError::Encode(e.to_string());
    let alpha = img.color().has_alpha();
    let bytes = match spec.format {
        ExportFormat::Jpeg => {
            // JPEG has no transparency: flattened onto white, as a browser shows it on a page.
            let rgb = if alpha {
                let rgba = img.to_rgba8();
                let mut out = image::RgbImage::new(width, height);
                for (o, p) in out.pixels_mut().zip(rgba.pixels()) {
                    let a = p[3] as f32 / 255.0;
                    *o = image::Rgb(std::array::from_fn(|c| {
                        (p[c] as f32 * a + 255.0 * (1.0 - a)).round() as u8
                    }));
                }
                out
            } else {
                img.to_rgb8()
            };
            let mut buf = Vec::new();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut buf, spec.quality)
                .write_image(rgb.as_raw(), width, height, image::ExtendedColorType::Rgb8)
                .map_err(enc)?;
            buf
        }
        ExportFormat::Png => {
            let mut buf = Vec::new();
            let png = image::codecs::png::PngEncoder::new_with_quality(
                &mut buf,
                image::codecs::png::CompressionType::Best,
                image::codecs::png::FilterType::Adaptive,
            );
            if alpha {
                let rgba = img.to_rgba8();
                png.write_image(
                    rgba.as_raw(),
                    width,
                    height,
                    image::ExtendedColorType::Rgba8,
                )
            } else {
                let rgb = img.to_rgb8();
                png.write_image(rgb.as_raw(), width, height, image::ExtendedColorType::Rgb8)
            }
            .map_err(enc)?;
            buf
        }
        ExportFormat::Webp => webp_lossy(img, spec.quality)?,
    };
    Ok(Exported {
        bytes,
        mime: spec.format.mime(),
        width,
        height,
    })
}

/// Lossy WebP through libwebp (`webp` crate), with alpha when the image has it.
pub fn webp_lossy(img: &DynamicImage, quality: u8) -> Result<Vec<u8>, EngineError> {
    let (w, h) = (img.width(), img.height());
    let mut config = webp::WebPConfig::new()
        .map_err(|_| EngineError::Encode("libwebp: no default config".into()))?;
    config.quality = quality as f32;
    config.method = WEBP_METHOD;
    config.alpha_quality = 100;
    let (raw, alpha) = if img.color().has_alpha() {
        (img.to_rgba8().into_raw(), true)
    } else {
        (img.to_rgb8().into_raw(), false)
    };
    let encoder = if alpha {
        webp::Encoder::from_rgba(&raw, w, h)
    } else {
        webp::Encoder::from_rgb(&raw, w, h)
    };
    let mem = encoder
        .encode_advanced(&config)
        .map_err(|e| EngineError::Encode(format!("libwebp: {e:?}")))?;
    Ok(mem.to_vec())
}

/// The Gallery's thumbnail of an image output: at most `side` px on its longer side (never
/// enlarged), lossy WebP at quality 80, alpha kept. Made once, when the output is uploaded.
pub fn thumbnail(bytes: &[u8], side: u32) -> Result<Vec<u8>, EngineError> {
    let img = image::load_from_memory(bytes)
        .map_err(|e| EngineError::Encode(format!("could not read the output: {e}")))?;
    Ok(thumbnail_of(&img, side)?.bytes)
}

/// [`thumbnail`] of a decoded image (the node's `POST /v1/export` with `thumbnail: true`).
pub fn thumbnail_of(img: &DynamicImage, side: u32) -> Result<Exported, EngineError> {
    use fast_image_resize as fr;
    let img = img.to_rgba8();
    let (w, h) = img.dimensions();
    let scale = (side as f64 / w.max(h) as f64).min(1.0);
    let (tw, th) = (
        ((w as f64 * scale).round() as u32).max(1),
        ((h as f64 * scale).round() as u32).max(1),
    );
    let src = fr::images::Image::from_vec_u8(w, h, img.into_raw(), fr::PixelType::U8x4)
        .map_err(|e| EngineError::Encode(e.to_string()))?;
    let dst = crate::imaging::resize_with(
        &src,
        tw,
        th,
        fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3),
        true,
    );
    let rgba = image::RgbaImage::from_raw(tw, th, dst.into_vec())
        .ok_or_else(|| EngineError::Encode("thumbnail size".into()))?;
    let opaque = rgba.pixels().all(|p| p[3] == 255);
    let img = if opaque {
        DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(rgba).to_rgb8())
    } else {
        DynamicImage::ImageRgba8(rgba)
    };
    Ok(Exported {
        bytes: webp_lossy(&img, 80)?,
        mime: "image/webp",
        width: tw,
        height: th,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thumbnail_fits_the_side_keeps_the_shape_and_the_transparency() {
        let mut png = vec![];
        gradient(true)
            .resize_exact(960, 640, image::imageops::FilterType::Nearest)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let thumb = thumbnail(&png, 384).unwrap();
        let t = image::load_from_memory_with_format(&thumb, image::ImageFormat::WebP).unwrap();
        assert_eq!((t.width(), t.height()), (384, 256));
        assert!(t.color().has_alpha());
        assert!(
            t.to_rgba8().get_pixel(5, 128)[3] < 20,
            "the transparent band stays clear"
        );
        assert!(
            thumb.len() < png.len() / 4,
            "{} vs {}",
            thumb.len(),
            png.len()
        );
        // A small image is not enlarged.
        let mut small = vec![];
        gradient(false)
            .write_to(
                &mut std::io::Cursor::new(&mut small),
                image::ImageFormat::Png,
            )
            .unwrap();
        let t = image::load_from_memory(&thumbnail(&small, 384).unwrap()).unwrap();
        assert_eq!((t.width(), t.height()), (96, 64));
        assert!(!t.color().has_alpha());
        assert!(thumbnail(b"not an image", 384).is_err());
    }

    fn gradient(alpha: bool) -> DynamicImage {
        let img = image::RgbaImage::from_fn(96, 64, |x, y| {
            image::Rgba([
                (x * 2) as u8,
                (y * 3) as u8,
                128,
                if alpha && x < 20 { 0 } else { 255 },
            ])
        });
        if alpha {
            DynamicImage::ImageRgba8(img)
        } else {
            DynamicImage::ImageRgb8(DynamicImage::ImageRgba8(img).to_rgb8())
        }
    }

    fn spec(format: ExportFormat, quality: u8) -> ExportSpec {
        ExportSpec { format, quality }
    }

    #[test]
    fn each_format_decodes_back_at_the_same_size() {
        for f in [ExportFormat::Jpeg, ExportFormat::Png, ExportFormat::Webp] {
            let e = export(&gradient(true), spec(f, 90)).unwrap();
            let back = image::load_from_memory(&e.bytes).unwrap();
            assert_eq!((back.width(), back.height()), (96, 64), "{f:?}");
            assert_eq!(e.mime, f.mime());
            // Transparency: kept by PNG and WebP, flattened on white by JPEG.
            let p = back.to_rgba8().get_pixel(5, 5).0;
            if f.keeps_transparency() {
                assert!(p[3] < 10, "{f:?} {p:?}");
            } else {
                assert!(p[0] > 240 && p[1] > 240 && p[2] > 240, "{f:?} {p:?}");
            }
        }
    }

    #[test]
    fn quality_changes_the_size_of_lossy_formats() {
        let img = gradient(false);
        for f in [ExportFormat::Jpeg, ExportFormat::Webp] {
            let lo = export(&img, spec(f, 20)).unwrap().bytes.len();
            let hi = export(&img, spec(f, 98)).unwrap().bytes.len();
            assert!(hi > lo, "{f:?}: {lo} vs {hi}");
        }
        // PNG is lossless: the same bytes whatever the quality.
        assert_eq!(
            export(&img, spec(ExportFormat::Png, 20)).unwrap().bytes,
            export(&img, spec(ExportFormat::Png, 98)).unwrap().bytes
        );
    }
}
