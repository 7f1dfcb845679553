//! Input decoding with the same limits the edge enforces, checked before any pixel is decoded.

use atelier_core::image::{inspect, UploadLimits};
use atelier_core::ErrorName;
use image::DynamicImage;

/// A decoding failure with the FASHN error name to report.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub name: ErrorName,
    pub message: String,
}

/// Checks the header against the limits, then decodes and applies EXIF orientation.
pub fn decode(bytes: &[u8], limits: &UploadLimits) -> Result<DynamicImage, DecodeError> {
    let info = inspect(bytes, limits).map_err(|p| DecodeError {
        name: ErrorName::ImageLoadError,
        message: format!("Error loading image: {p}"),
    })?;
    let format = match info.format {
        atelier_core::ImageFormat::Png => image::ImageFormat::Png,
        atelier_core::ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        atelier_core::ImageFormat::Webp => image::ImageFormat::WebP,
    };
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut l = image::Limits::default();
    l.max_image_width = Some(limits.max_side);
    l.max_image_height = Some(limits.max_side);
    l.max_alloc = Some(limits.max_pixels * 16);
    reader.limits(l);
    let mut decoder = reader.into_decoder().map_err(load_err)?;
    use image::ImageDecoder;
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(load_err)?;
    img.apply_orientation(orientation);
    Ok(img)
}

fn load_err(e: image::ImageError) -> DecodeError {
    DecodeError {
        name: ErrorName::ImageLoadError,
        message: format!("Error loading image: {e}"),
    }
}

/// Re-encodes a PNG output as JPEG (quality 92), flattening transparency onto white.
pub fn png_to_jpeg(png: &[u8]) -> Result<Vec<u8>, String> {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .map_err(|e| format!("could not read the output: {e}"))?
        .to_rgba8();
    let mut rgb = image::RgbImage::new(img.width(), img.height());
    for (dst, src) in rgb.pixels_mut().zip(img.pixels()) {
        let a = src[3] as u32;
        for c in 0..3 {
            dst[c] = ((src[c] as u32 * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 92)
        .encode_image(&rgb)
        .map_err(|e| format!("could not encode JPEG: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_flattens_transparency_onto_white() {
        let mut img = image::RgbaImage::new(16, 16);
        for (x, _, p) in img.enumerate_pixels_mut() {
            *p = if x < 8 {
                image::Rgba([0, 0, 0, 0])
            } else {
                image::Rgba([200, 10, 10, 255])
            };
        }
        let mut png = Vec::new();
        image::DynamicImage::ImageRgba8(img)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let jpeg = png_to_jpeg(&png).unwrap();
        assert_eq!(&jpeg[..3], &[0xff, 0xd8, 0xff]);
        let back = image::load_from_memory(&jpeg).unwrap().to_rgb8();
        assert!(
            back.get_pixel(1, 8).0.iter().all(|&c| c > 245),
            "transparent → white"
        );
        let red = back.get_pixel(14, 8).0;
        assert!(red[0] > 180 && red[1] < 40, "{red:?}");
        assert!(png_to_jpeg(b"not a png").is_err());
    }
}
