//! Export for Web: the format and quality of a web-optimised download (Gallery's and the result
//! screen's export dialog), checked once for the app, the edge and the inference node.

use serde::{Deserialize, Serialize};

use crate::tool::FieldError;

/// The formats the export dialog offers besides Original (the stored file, not re-encoded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Jpeg,
    Png,
    Webp,
}

impl ExportFormat {
    pub fn mime(self) -> &'static str {
        match self {
            ExportFormat::Jpeg => "image/jpeg",
            ExportFormat::Png => "image/png",
            ExportFormat::Webp => "image/webp",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Jpeg => "jpg",
            ExportFormat::Png => "png",
            ExportFormat::Webp => "webp",
        }
    }

    /// Whether the format keeps an alpha channel (PNG and WebP do; JPEG is flattened on white).
    pub fn keeps_transparency(self) -> bool {
        !matches!(self, ExportFormat::Jpeg)
    }

    /// Whether the quality setting applies (PNG is lossless).
    pub fn lossy(self) -> bool {
        !matches!(self, ExportFormat::Png)
    }
}

/// The dialog's defaults: WebP at 95 %, "a good web baseline".
pub const DEFAULT_FORMAT: ExportFormat = ExportFormat::Webp;
pub const DEFAULT_QUALITY: u8 = 95;

/// A checked export request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportSpec {
    pub format: ExportFormat,
    /// 1–100 (ignored for PNG).
    pub quality: u8,
}

/// Reads `format` and `quality` from a JSON body; missing ones take the defaults.
pub fn parse_export(body: &serde_json::Value) -> Result<ExportSpec, Vec<FieldError>> {
    let mut errors = vec![];
    let format = match body.get("format") {
        None | Some(serde_json::Value::Null) => Some(DEFAULT_FORMAT),
        Some(v) => match v.as_str() {
            Some("jpeg") | Some("jpg") => Some(ExportFormat::Jpeg),
            Some("png") => Some(ExportFormat::Png),
            Some("webp") => Some(ExportFormat::Webp),
            Some("original") => {
                errors.push(FieldError::new(
                    "format",
                    "not_exported",
                    "Original is the stored file itself: download it instead of exporting.",
                ));
                None
            }
            _ => {
                errors.push(FieldError::new(
                    "format",
                    "invalid_choice",
                    "format must be one of jpeg, png, webp.",
                ));
                None
            }
        },
    };
    let quality = match body.get("quality") {
        None | Some(serde_json::Value::Null) => Some(DEFAULT_QUALITY),
        Some(v) => match v.as_u64() {
            Some(q @ 1..=100) => Some(q as u8),
            _ => {
                errors.push(FieldError::new(
                    "quality",
                    "out_of_range",
                    "quality must be a whole number from 1 to 100 (95 is the web default).",
                ));
                None
            }
        },
    };
    match (format, quality) {
        (Some(format), Some(quality)) if errors.is_empty() => Ok(ExportSpec { format, quality }),
        _ => Err(errors),
    }
}

/// The download's file name: `atelier-<tool>-<first 8 of the id>-<index>.<ext>`.
pub fn file_name(tool: &str, generation_id: &str, index: u32, format: ExportFormat) -> String {
    download_name(tool, generation_id, index, format.mime())
}

/// The file name of a stored output (or an export) of media type `mime`, with its real
/// extension (`.mp4` for a video): `atelier-<tool>-<first 8 of the id>-<index>.<ext>`.
pub fn download_name(tool: &str, generation_id: &str, index: u32, mime: &str) -> String {
    let short: String = generation_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect();
    let tool: String = tool
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!(
        "atelier-{tool}-{short}-{index}.{}",
        crate::job::extension(mime)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_are_webp_95() {
        assert_eq!(
            parse_export(&json!({})).unwrap(),
            ExportSpec {
                format: ExportFormat::Webp,
                quality: 95
            }
        );
        let s = parse_export(&json!({"format": "jpeg", "quality": 60})).unwrap();
        assert_eq!((s.format, s.quality), (ExportFormat::Jpeg, 60));
        assert!(!ExportFormat::Jpeg.keeps_transparency());
        assert!(!ExportFormat::Png.lossy());
    }

    #[test]
    fn bad_choices_name_the_field() {
        let e = parse_export(&json!({"format": "gif", "quality": 0})).unwrap_err();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].path, "format");
        assert_eq!(e[1].path, "quality");
        let e = parse_export(&json!({"quality": 101})).unwrap_err();
        assert_eq!(e[0].code, "out_of_range");
        let e = parse_export(&json!({"quality": "95"})).unwrap_err();
        assert_eq!(e[0].path, "quality");
        let e = parse_export(&json!({"format": "original"})).unwrap_err();
        assert_eq!(e[0].code, "not_exported");
    }

    #[test]
    fn file_names_are_safe() {
        assert_eq!(
            file_name("try-on", "0123abcd-ffff", 1, ExportFormat::Webp),
            "atelier-try-on-0123abcd-1.webp"
        );
        assert_eq!(
            file_name("a/../b", "x\"y", 0, ExportFormat::Jpeg),
            "atelier-ab-xy-0.jpg"
        );
    }
}
