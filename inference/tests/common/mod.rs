//! What the engine tests share: the model folder (fetched by `cargo xtask test`), one loaded
//! segmentation model, the fixtures and the artifacts folder.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use atelier_core::UploadLimits;
use atelier_inference::bgremove::BackgroundRemover;
use atelier_inference::decode::decode;
use image::DynamicImage;

pub fn models_dir() -> PathBuf {
    let dir = std::env::var("ATELIER_MODELS_DIR").expect(
        "ATELIER_MODELS_DIR is not set; run the tests through `cargo xtask test`, which fetches the model",
    );
    PathBuf::from(dir)
}

/// One model for the whole test binary: ONNX Runtime when its library is there, else tract.
pub fn remover() -> &'static BackgroundRemover {
    static BG: OnceLock<BackgroundRemover> = OnceLock::new();
    BG.get_or_init(|| {
        let dir = models_dir();
        let onnx = dir.join("u2netp.onnx");
        let lib = dir.join(atelier_inference::server::ORT_LIB_FILE);
        if lib.exists() {
            BackgroundRemover::load_ort(&onnx, &lib).unwrap()
        } else {
            BackgroundRemover::load(&onnx).unwrap()
        }
    })
}

pub fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name),
    )
    .unwrap()
}

pub fn fixture(name: &str) -> DynamicImage {
    decode(&fixture_bytes(name), &UploadLimits::DEFAULT).unwrap()
}

pub fn artifacts() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../test-artifacts");
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// The black T-shirt of `garment-on-model.webp` as a flat product shot: Packshot's cut-out on
/// near-white (Try-On's flat-lay input, and a product photo for the Assistant's analysis).
pub fn flat_tshirt() -> DynamicImage {
    let cut =
        atelier_inference::packshot::isolate(remover(), &fixture("garment-on-model.webp")).unwrap();
    let (w, h) = cut.image.dimensions();
    let mut out = image::RgbImage::from_pixel(w + 80, h + 80, image::Rgb([246, 246, 246]));
    for (x, y, p) in cut.image.enumerate_pixels() {
        let a = p[3] as f32 / 255.0;
        let q = out.get_pixel_mut(x + 40, y + 40);
        for c in 0..3 {
            q[c] = (p[c] as f32 * a + q[c] as f32 * (1.0 - a)).round() as u8;
        }
    }
    DynamicImage::ImageRgb8(out)
}
