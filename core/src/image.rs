//! Upload limits and image sniffing: the format, the size and the structural integrity of an
//! image, read from its bytes without decoding a single pixel. The edge runs this on every upload
//! and the inference service runs it again before it decodes anything, so a decompression bomb or
//! a truncated file is refused before it costs memory.

use serde::{Deserialize, Serialize};

/// What an upload may be. The same numbers are printed in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadLimits {
    /// Largest file accepted, in bytes.
    pub max_bytes: u64,
    /// Longest side accepted, in pixels.
    pub max_side: u32,
    /// Shortest side accepted, in pixels.
    pub min_side: u32,
    /// Largest total pixel count accepted (width × height).
    pub max_pixels: u64,
}

impl UploadLimits {
    /// The limits of this installation: 20 MiB, 8192 px per side, 40 megapixels, 16 px minimum.
    pub const DEFAULT: UploadLimits = UploadLimits {
        max_bytes: 20 * 1024 * 1024,
        max_side: 8192,
        min_side: 16,
        max_pixels: 40_000_000,
    };
}

impl Default for UploadLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Formats Atelier accepts as input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    Png,
    Jpeg,
    Webp,
}

impl ImageFormat {
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Webp => "image/webp",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Png => "PNG",
            ImageFormat::Jpeg => "JPEG",
            ImageFormat::Webp => "WebP",
        }
    }

    /// Parses a Content-Type header value (parameters ignored, `image/jpg` accepted).
    pub fn from_mime(content_type: &str) -> Option<ImageFormat> {
        let base = content_type.split(';').next()?.trim().to_ascii_lowercase();
        match base.as_str() {
            "image/png" => Some(ImageFormat::Png),
            "image/jpeg" | "image/jpg" => Some(ImageFormat::Jpeg),
            "image/webp" => Some(ImageFormat::Webp),
            _ => None,
        }
    }
}

/// What the header says about an image whose structure checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

impl ImageInfo {
    pub fn pixels(&self) -> u64 {
        self.width as u64 * self.height as u64
    }
}

/// Why an upload is refused. Each has a stable code and a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageProblem {
    #[error("The file is empty. Choose a PNG, JPEG or WebP photo.")]
    Empty,
    #[error("This file is not a PNG, JPEG or WebP image. Export it in one of those formats and try again.")]
    UnsupportedFormat,
    #[error("This {0} file is cut off (it ends before the image data does). Re-export or re-download it and try again.")]
    Truncated(&'static str),
    #[error("This {0} file is damaged: {1}. Re-export it and try again.")]
    Corrupt(&'static str, &'static str),
    #[error("The file is {actual} bytes; the limit is {limit} bytes ({limit_mib} MiB). Downscale or compress it and try again.")]
    TooManyBytes {
        actual: u64,
        limit: u64,
        limit_mib: u64,
    },
    #[error("The image is {width}×{height} pixels; each side may be at most {limit} pixels. Downscale it and try again.")]
    SideTooLong { width: u32, height: u32, limit: u32 },
    #[error("The image is {width}×{height} pixels ({mp} megapixels); the limit is {limit_mp} megapixels. Downscale it and try again.")]
    TooManyPixels {
        width: u32,
        height: u32,
        mp: u64,
        limit_mp: u64,
    },
    #[error("The image is {width}×{height} pixels; each side must be at least {limit} pixels.")]
    TooSmall { width: u32, height: u32, limit: u32 },
}

impl ImageProblem {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ImageProblem::Empty => "empty_file",
            ImageProblem::UnsupportedFormat => "unsupported_format",
            ImageProblem::Truncated(_) => "truncated_image",
            ImageProblem::Corrupt(..) => "corrupt_image",
            ImageProblem::TooManyBytes { .. } => "file_too_large",
            ImageProblem::SideTooLong { .. } => "image_side_too_long",
            ImageProblem::TooManyPixels { .. } => "too_many_pixels",
            ImageProblem::TooSmall { .. } => "image_too_small",
        }
    }

    /// The HTTP status that fits: 413 for size, 415 for format, 422 for the rest.
    pub fn http_status(&self) -> u16 {
        match self {
            ImageProblem::TooManyBytes { .. } => 413,
            ImageProblem::UnsupportedFormat => 415,
            _ => 422,
        }
    }
}

/// The bytes of a `data:image/…;base64,…` URI (the API's inline images; whitespace around the
/// base64 is ignored). The media type it claims is not trusted: the bytes are sniffed after
/// (`inspect`). A data URI longer than `max_bytes` decoded is refused before decoding.
pub fn decode_data_uri(v: &str, max_bytes: u64) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let v = v.trim();
    if !v.get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:")) {
        return Err(
            "Error loading image: Invalid data URI (expected data:image/…;base64,…)".into(),
        );
    }
    let (_, b64) = v
        .split_once(";base64,")
        .ok_or("Error loading image: Invalid data URI (expected data:image/…;base64,…)")?;
    let b64 = b64.trim();
    let decoded_len = b64.len() as u64 / 4 * 3;
    if decoded_len > max_bytes.saturating_add(3) {
        return Err(format!(
            "Error loading image: the image is about {decoded_len} bytes, over the {max_bytes}-byte limit; send a smaller image"
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("Error loading image: the base64 data is invalid ({e})"))
}

/// Checks a byte count against the limit before the body is read.
pub fn check_len(len: u64, limits: &UploadLimits) -> Result<(), ImageProblem> {
    if len == 0 {
        return Err(ImageProblem::Empty);
    }
    if len > limits.max_bytes {
        return Err(ImageProblem::TooManyBytes {
            actual: len,
            limit: limits.max_bytes,
            limit_mib: limits.max_bytes / (1024 * 1024),
        });
    }
    Ok(())
}

/// Sniffs the format only from the first bytes.
pub fn sniff_format(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::Webp)
    } else {
        None
    }
}

/// Reads format and size from the header, checks the file's structure end to end (PNG chunks
/// through IEND, JPEG segments through the end-of-image marker, WebP RIFF length) and applies
/// the limits. Never decodes pixels.
pub fn inspect(bytes: &[u8], limits: &UploadLimits) -> Result<ImageInfo, ImageProblem> {
    check_len(bytes.len() as u64, limits)?;
    let format = sniff_format(bytes).ok_or(ImageProblem::UnsupportedFormat)?;
    let (width, height) = match format {
        ImageFormat::Png => png_dims(bytes)?,
        ImageFormat::Jpeg => jpeg_dims(bytes)?,
        ImageFormat::Webp => webp_dims(bytes)?,
    };
    let info = ImageInfo {
        format,
        width,
        height,
    };
    check_dims(&info, limits)?;
    Ok(info)
}

/// Applies the pixel limits to known dimensions.
pub fn check_dims(info: &ImageInfo, limits: &UploadLimits) -> Result<(), ImageProblem> {
    let (width, height) = (info.width, info.height);
    if width > limits.max_side || height > limits.max_side {
        return Err(ImageProblem::SideTooLong {
            width,
            height,
            limit: limits.max_side,
        });
    }
    if info.pixels() > limits.max_pixels {
        return Err(ImageProblem::TooManyPixels {
            width,
            height,
            mp: info.pixels().div_ceil(1_000_000),
            limit_mp: limits.max_pixels / 1_000_000,
        });
    }
    if width < limits.min_side || height < limits.min_side {
        return Err(ImageProblem::TooSmall {
            width,
            height,
            limit: limits.min_side,
        });
    }
    Ok(())
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn png_dims(b: &[u8]) -> Result<(u32, u32), ImageProblem> {
    const T: ImageProblem = ImageProblem::Truncated("PNG");
    if be32(b, 8).ok_or(T)? != 13 || b.get(12..16).ok_or(T)? != b"IHDR" {
        return Err(ImageProblem::Corrupt(
            "PNG",
            "the first chunk is not a valid IHDR",
        ));
    }
    let width = be32(b, 16).ok_or(T)?;
    let height = be32(b, 20).ok_or(T)?;
    if width == 0 || height == 0 {
        return Err(ImageProblem::Corrupt(
            "PNG",
            "the header gives a zero width or height",
        ));
    }
    // Walk every chunk: length, type, data, CRC; the last must be IEND and end the file.
    let mut at = 8usize;
    let mut saw_idat = false;
    loop {
        let len = be32(b, at).ok_or(T)? as usize;
        let kind = b.get(at + 4..at + 8).ok_or(T)?;
        let end = at
            .checked_add(12)
            .and_then(|x| x.checked_add(len))
            .ok_or(T)?;
        if end > b.len() {
            return Err(T);
        }
        if kind == b"IDAT" {
            saw_idat = true;
        }
        if kind == b"IEND" {
            if !saw_idat {
                return Err(ImageProblem::Corrupt("PNG", "it has no image data"));
            }
            return Ok((width, height));
        }
        at = end;
    }
}

fn jpeg_dims(b: &[u8]) -> Result<(u32, u32), ImageProblem> {
    const T: ImageProblem = ImageProblem::Truncated("JPEG");
    let mut at = 2usize;
    let mut dims = None;
    loop {
        // Skip fill bytes before a marker.
        while b.get(at) == Some(&0xFF) && b.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if *b.get(at).ok_or(T)? != 0xFF {
            return Err(ImageProblem::Corrupt("JPEG", "a segment marker is missing"));
        }
        let marker = *b.get(at + 1).ok_or(T)?;
        match marker {
            0xD8 | 0x01 | 0xD0..=0xD7 => {
                at += 2;
                continue;
            }
            0xD9 => {
                return Err(ImageProblem::Corrupt(
                    "JPEG",
                    "it ends before any image data",
                ))
            }
            _ => {}
        }
        let len = be16(b, at + 2).ok_or(T)? as usize;
        if len < 2 {
            return Err(ImageProblem::Corrupt(
                "JPEG",
                "a segment has an invalid length",
            ));
        }
        if matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC) {
            let h = be16(b, at + 5).ok_or(T)? as u32;
            let w = be16(b, at + 7).ok_or(T)? as u32;
            if w == 0 || h == 0 {
                return Err(ImageProblem::Corrupt(
                    "JPEG",
                    "the frame header gives a zero size",
                ));
            }
            dims = Some((w, h));
        }
        let next = at + 2 + len;
        if next > b.len() {
            return Err(T);
        }
        if marker == 0xDA {
            let dims = dims.ok_or(ImageProblem::Corrupt("JPEG", "it has no frame header"))?;
            // The entropy-coded data must be followed by the end-of-image marker.
            let tail = &b[next..];
            if tail.windows(2).any(|w| w == [0xFF, 0xD9]) {
                return Ok(dims);
            }
            return Err(T);
        }
        at = next;
    }
}

fn webp_dims(b: &[u8]) -> Result<(u32, u32), ImageProblem> {
    const T: ImageProblem = ImageProblem::Truncated("WebP");
    let riff = le32(b, 4).ok_or(T)? as usize;
    if riff.checked_add(8).ok_or(T)? > b.len() {
        return Err(T);
    }
    let chunk = b.get(12..16).ok_or(T)?;
    let data = 20usize;
    let (w, h) = match chunk {
        b"VP8 " => {
            if b.get(data + 3..data + 6).ok_or(T)? != [0x9D, 0x01, 0x2A] {
                return Err(ImageProblem::Corrupt("WebP", "the VP8 frame tag is wrong"));
            }
            let g = |i: usize| b.get(data + i).copied().ok_or(T);
            let w = u16::from_le_bytes([g(6)?, g(7)?]) & 0x3FFF;
            let h = u16::from_le_bytes([g(8)?, g(9)?]) & 0x3FFF;
            (w as u32, h as u32)
        }
        b"VP8L" => {
            if *b.get(data).ok_or(T)? != 0x2F {
                return Err(ImageProblem::Corrupt(
                    "WebP",
                    "the lossless signature is wrong",
                ));
            }
            let bits = le32(b, data + 1).ok_or(T)?;
            ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        b"VP8X" => {
            let g = |i: usize| b.get(data + i).copied().ok_or(T);
            let w = u32::from_le_bytes([g(4)?, g(5)?, g(6)?, 0]) + 1;
            let h = u32::from_le_bytes([g(7)?, g(8)?, g(9)?, 0]) + 1;
            (w, h)
        }
        _ => return Err(ImageProblem::Corrupt("WebP", "the first chunk is unknown")),
    };
    if w == 0 || h == 0 {
        return Err(ImageProblem::Corrupt(
            "WebP",
            "the header gives a zero size",
        ));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn png(width: u32, height: u32, with_iend: bool) -> Vec<u8> {
        let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
        let chunk = |v: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
            v.extend_from_slice(&(data.len() as u32).to_be_bytes());
            v.extend_from_slice(kind);
            v.extend_from_slice(data);
            v.extend_from_slice(&[0, 0, 0, 0]);
        };
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&width.to_be_bytes());
        ihdr.extend_from_slice(&height.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        chunk(&mut v, b"IHDR", &ihdr);
        chunk(&mut v, b"IDAT", &[1, 2, 3]);
        if with_iend {
            chunk(&mut v, b"IEND", &[]);
        }
        v
    }

    fn jpeg(width: u16, height: u16, with_eoi: bool) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0];
        v.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
        v.extend_from_slice(&height.to_be_bytes());
        v.extend_from_slice(&width.to_be_bytes());
        v.extend_from_slice(&[1, 1, 0x11, 0]);
        v.extend_from_slice(&[0xFF, 0xDA, 0, 2, 0x12, 0x34, 0x56]);
        if with_eoi {
            v.extend_from_slice(&[0xFF, 0xD9]);
        }
        v
    }

    #[test]
    fn png_header_and_structure() {
        let l = UploadLimits::DEFAULT;
        let info = inspect(&png(640, 480, true), &l).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (ImageFormat::Png, 640, 480)
        );
        assert_eq!(
            inspect(&png(640, 480, false), &l),
            Err(ImageProblem::Truncated("PNG"))
        );
    }

    #[test]
    fn decompression_bomb_is_refused_from_the_header() {
        let e = inspect(&png(100_000, 100_000, true), &UploadLimits::DEFAULT).unwrap_err();
        assert_eq!(e.code(), "image_side_too_long");
        assert!(e.to_string().contains("100000×100000"));
        let e = inspect(&png(8000, 8000, true), &UploadLimits::DEFAULT).unwrap_err();
        assert_eq!(e.code(), "too_many_pixels");
    }

    #[test]
    fn jpeg_truncation_is_detected() {
        let l = UploadLimits::DEFAULT;
        assert_eq!(inspect(&jpeg(800, 600, true), &l).unwrap().width, 800);
        let e = inspect(&jpeg(800, 600, false), &l).unwrap_err();
        assert_eq!(e.code(), "truncated_image");
        let full = jpeg(800, 600, true);
        for cut in 3..full.len() - 2 {
            assert!(inspect(&full[..cut], &l).is_err(), "cut at {cut} accepted");
        }
    }

    #[test]
    fn webp_cut_inside_the_vp8_frame_header_is_truncated_not_a_panic() {
        // Found by the image_input fuzzer (fuzz/regressions/image_input/crash-f1f1…): a RIFF
        // size that fits, a VP8 frame tag, then the file ends before the width.
        let mut full = b"RIFF\x10\0\0\0WEBPVP8 \xac\0\0\0\xf0\x01\x00\x9d\x01\x2a".to_vec();
        full.extend([0x40, 0x01, 0xF0, 0x00]);
        let l = UploadLimits::DEFAULT;
        for cut in 24..full.len() {
            let e = inspect(&full[..cut], &l).unwrap_err();
            assert_eq!(e.code(), "truncated_image", "cut at {cut}");
        }
    }

    #[test]
    fn non_images_and_sizes() {
        let l = UploadLimits::DEFAULT;
        assert_eq!(
            inspect(b"hello world, not an image", &l),
            Err(ImageProblem::UnsupportedFormat)
        );
        assert_eq!(inspect(b"", &l), Err(ImageProblem::Empty));
        assert_eq!(
            check_len(l.max_bytes + 1, &l).unwrap_err().http_status(),
            413
        );
        assert_eq!(
            inspect(&png(8, 8, true), &l).unwrap_err().code(),
            "image_too_small"
        );
    }

    #[test]
    fn mime_parsing() {
        assert_eq!(
            ImageFormat::from_mime("image/JPEG; q=1"),
            Some(ImageFormat::Jpeg)
        );
        assert_eq!(ImageFormat::from_mime("text/plain"), None);
    }

    #[test]
    fn real_fixtures() {
        let l = UploadLimits::DEFAULT;
        let m = include_bytes!("../../tests/fixtures/model-photo.webp");
        let info = inspect(m, &l).unwrap();
        assert_eq!(
            (info.format, info.width, info.height),
            (ImageFormat::Webp, 832, 1248)
        );
        assert_eq!(
            inspect(&m[..m.len() / 2], &l).unwrap_err().code(),
            "truncated_image"
        );
        let g = include_bytes!("../../tests/fixtures/garment-on-model.webp");
        assert_eq!(inspect(g, &l).unwrap().width, 576);
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        #[test]
        fn inspect_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = inspect(&bytes, &UploadLimits::DEFAULT);
        }

        #[test]
        fn inspect_never_panics_on_prefixed(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..128), kind in 0..3u8) {
            let mut v = match kind { 0 => b"\x89PNG\r\n\x1a\n".to_vec(), 1 => vec![0xFF, 0xD8, 0xFF], _ => b"RIFF\x10\0\0\0WEBPVP8 ".to_vec() };
            v.extend(tail);
            let _ = inspect(&v, &UploadLimits::DEFAULT);
        }
    }
}
