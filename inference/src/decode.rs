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
