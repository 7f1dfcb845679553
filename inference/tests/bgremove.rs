//! Background Remove on real photos with the real model (fetched by `cargo xtask test`).

use std::path::PathBuf;

use atelier_core::tool::{Background, Rgb};
use atelier_core::UploadLimits;
use atelier_inference::bgremove::BackgroundRemover;
use atelier_inference::decode::decode;

fn models_dir() -> PathBuf {
    let dir = std::env::var("ATELIER_MODELS_DIR")
        .expect("ATELIER_MODELS_DIR is not set; run the tests through `cargo xtask test`, which fetches the model");
    PathBuf::from(dir)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn artifacts() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn model_photo_gets_transparent_background_and_opaque_subject() {
    let bg = BackgroundRemover::load(&models_dir().join("u2netp.onnx")).unwrap();
    let img = decode(&fixture("model-photo.webp"), &UploadLimits::DEFAULT).unwrap();
    let out = bg.run(&img, Background::Transparent).unwrap();
    std::fs::write(artifacts().join("bgremove-model-photo.png"), &out.png).unwrap();
    let rgba = image::load_from_memory(&out.png).unwrap();
    assert!(rgba.color().has_alpha());
    let rgba = rgba.to_rgba8();
    let (w, h) = rgba.dimensions();
    assert_eq!((w, h), (832, 1248));
    for (x, y) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
        assert!(
            rgba.get_pixel(x, y)[3] < 10,
            "corner ({x},{y}) alpha {}",
            rgba.get_pixel(x, y)[3]
        );
    }
    // The man's chest (white t-shirt) sits a little above the centre of the frame.
    let chest = rgba.get_pixel(w / 2, h * 2 / 5)[3];
    assert!(chest > 245, "subject alpha {chest}");
    // Soft, not blocky: the refined edge has intermediate alpha values.
    let soft = rgba.pixels().filter(|p| p[3] > 20 && p[3] < 235).count();
    assert!(soft > 500, "only {soft} soft edge pixels");
}

#[test]
fn solid_color_fills_the_background() {
    let bg = BackgroundRemover::load(&models_dir().join("u2netp.onnx")).unwrap();
    let img = decode(&fixture("garment-on-model.webp"), &UploadLimits::DEFAULT).unwrap();
    let out = bg
        .run(
            &img,
            Background::Solid {
                color: Rgb([0, 128, 255]),
            },
        )
        .unwrap();
    std::fs::write(artifacts().join("bgremove-garment-solid.png"), &out.png).unwrap();
    let rgb = image::load_from_memory(&out.png).unwrap();
    assert!(!rgb.color().has_alpha());
    let rgb = rgb.to_rgb8();
    let c = rgb.get_pixel(2, 2);
    assert!(
        c[0] < 10 && (120..=136).contains(&c[1]) && c[2] > 245,
        "corner {c:?}"
    );
}

#[test]
fn corrupt_inputs_fail_with_image_load_error() {
    let mut bytes = fixture("model-photo.webp");
    bytes.truncate(bytes.len() / 3);
    let e = decode(&bytes, &UploadLimits::DEFAULT).unwrap_err();
    assert_eq!(e.name, atelier_core::ErrorName::ImageLoadError);
    assert!(e.message.contains("cut off"), "{}", e.message);
    let e = decode(b"GIF89a not supported", &UploadLimits::DEFAULT).unwrap_err();
    assert!(
        e.message.contains("not a PNG, JPEG or WebP"),
        "{}",
        e.message
    );
}
