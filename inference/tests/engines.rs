//! The engines on real photos with the real model (fetched by `cargo xtask test`): Background Remove and Upscale.

use atelier_core::tool::{Background, Rgb};
use atelier_core::UploadLimits;
use atelier_inference::bgremove::BackgroundRemover;
use atelier_inference::decode::decode;

mod common;
use common::{artifacts, fixture_bytes, models_dir};

#[test]
fn model_photo_gets_transparent_background_and_opaque_subject() {
    let bg = BackgroundRemover::load(&models_dir().join("u2netp.onnx")).unwrap();
    let img = decode(&fixture_bytes("model-photo.webp"), &UploadLimits::DEFAULT).unwrap();
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
    let img = decode(
        &fixture_bytes("garment-on-model.webp"),
        &UploadLimits::DEFAULT,
    )
    .unwrap();
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
    let mut bytes = fixture_bytes("model-photo.webp");
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

/// Upscale: sizes (2x, 4x capped at 4K, Enhance) and more detail than plain Lanczos.
#[test]
fn upscale_sizes_and_detail() {
    use atelier_core::catalog::UpscaleFactor;
    use atelier_inference::upscale;
    let img = decode(
        &fixture_bytes("model-photo-512.jpg"),
        &UploadLimits::DEFAULT,
    )
    .unwrap();
    let x2 = upscale::run(&img, UpscaleFactor::X2).unwrap();
    assert_eq!((x2.width, x2.height), (1024, 1536));
    std::fs::write(artifacts().join("upscale-2x.png"), &x2.png).unwrap();
    let x4 = upscale::run(&img, UpscaleFactor::X4).unwrap();
    assert_eq!((x4.width, x4.height), (2048, 3072));
    let big = decode(
        &fixture_bytes("model-photo-1024.jpg"),
        &UploadLimits::DEFAULT,
    )
    .unwrap();
    let capped = upscale::run(&big, UpscaleFactor::X4).unwrap();
    assert_eq!((capped.width, capped.height), (4096, 4096), "capped at 4K");
    let same = upscale::run(&img, UpscaleFactor::Enhance).unwrap();
    assert_eq!((same.width, same.height), (512, 768));
    // Detail: mean absolute Laplacian of ours vs a plain Lanczos3 resize of the same photo.
    let ours = image::load_from_memory(&x2.png).unwrap().to_luma8();
    let plain = img
        .resize_exact(1024, 1536, image::imageops::FilterType::Lanczos3)
        .to_luma8();
    let energy = |g: &image::GrayImage| {
        let (w, h) = g.dimensions();
        let mut sum = 0f64;
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                let c = 4.0 * g.get_pixel(x, y)[0] as f64;
                let n = g.get_pixel(x - 1, y)[0] as f64
                    + g.get_pixel(x + 1, y)[0] as f64
                    + g.get_pixel(x, y - 1)[0] as f64
                    + g.get_pixel(x, y + 1)[0] as f64;
                sum += (c - n).abs();
            }
        }
        sum / ((w - 2) * (h - 2)) as f64
    };
    let (e_ours, e_plain) = (energy(&ours), energy(&plain));
    assert!(
        e_ours > e_plain * 1.15,
        "detail {e_ours:.3} vs plain {e_plain:.3}"
    );
}

/// Reframe: expansion when no crop keeps the subject, a crop around the subject when one does,
/// and a refusal when the image already has the ratio.
#[test]
fn reframe_expands_or_crops_around_the_subject() {
    use atelier_core::catalog::AspectRatio;
    use atelier_inference::bgremove::EngineError;
    use atelier_inference::reframe::{self, Method};
    let bg = BackgroundRemover::load(&models_dir().join("u2netp.onnx")).unwrap();
    let img = decode(&fixture_bytes("model-photo.webp"), &UploadLimits::DEFAULT).unwrap();
    let (out, method) = reframe::run(&bg, &img, AspectRatio::R1x1).unwrap();
    assert_eq!(
        method,
        Method::Expand,
        "a square crop would cut the seated man"
    );
    assert_eq!((out.width, out.height), (1024, 1024));
    std::fs::write(artifacts().join("reframe-expand-1x1.png"), &out.png).unwrap();
    let rgb = image::load_from_memory(&out.png).unwrap().to_rgb8();
    // The new side bands continue the photo: neither black nor flat.
    let band: Vec<f64> = (0..1024).map(|y| rgb.get_pixel(40, y)[1] as f64).collect();
    let mean = band.iter().sum::<f64>() / band.len() as f64;
    let var = band.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / band.len() as f64;
    assert!(
        mean > 40.0 && var > 20.0,
        "band mean {mean:.1} variance {var:.1}"
    );

    // A small subject on a wide canvas: a 4:5 crop keeps it whole.
    let garment = decode(
        &fixture_bytes("garment-on-model.webp"),
        &UploadLimits::DEFAULT,
    )
    .unwrap()
    .to_rgb8();
    let mut wide = image::RgbImage::from_pixel(1728, 864, image::Rgb([200, 200, 200]));
    image::imageops::overlay(&mut wide, &garment, 576, 0);
    let (out, method) = reframe::run(
        &bg,
        &image::DynamicImage::ImageRgb8(wide),
        AspectRatio::R4x5,
    )
    .unwrap();
    assert_eq!(method, Method::Crop);
    std::fs::write(artifacts().join("reframe-crop-4x5.png"), &out.png).unwrap();
    let rgb = image::load_from_memory(&out.png).unwrap().to_rgb8();
    let (w, h) = rgb.dimensions();
    // The black t-shirt (below its printed logo) stays in the middle of the frame.
    let mut sum = 0u32;
    for y in h * 65 / 100..h * 65 / 100 + 20 {
        for x in w / 2 - 10..w / 2 + 10 {
            sum += rgb.get_pixel(x, y)[1] as u32;
        }
    }
    assert!(
        sum / 400 < 60,
        "mean green {} where the shirt should be",
        sum / 400
    );
    // The crop kept the subject whole: the frame's edges are the backdrop, not the shirt.
    assert!(rgb.get_pixel(2, h / 2)[1] > 150 && rgb.get_pixel(w - 3, h / 2)[1] > 150);

    let e = reframe::run(&bg, &img, AspectRatio::R2x3).err().unwrap();
    assert!(
        matches!(e, EngineError::Input(ref m) if m.contains("already 2:3")),
        "{e}"
    );
}

/// ONNX Runtime (the node's default where its library is present) and tract give the same
/// matte: the runtime is an implementation choice, not a different result.
#[test]
fn ort_and_tract_give_the_same_matte() {
    let dir = models_dir();
    let lib = dir.join(atelier_inference::server::ORT_LIB_FILE);
    assert!(
        lib.exists(),
        "{} is missing; `cargo xtask test` fetches it from the onnxruntime wheel",
        lib.display()
    );
    let onnx = dir.join("u2netp.onnx");
    let tract = BackgroundRemover::load(&onnx).unwrap();
    let ort = BackgroundRemover::load_ort(&onnx, &lib).unwrap();
    assert_eq!((tract.runtime(), ort.runtime()), ("tract", "ort"));
    let img = decode(
        &fixture_bytes("model-photo-512.jpg"),
        &UploadLimits::DEFAULT,
    )
    .unwrap()
    .to_rgb8();
    let (a, b) = (tract.matte(&img).unwrap(), ort.matte(&img).unwrap());
    let diff: f32 = a
        .data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .sum::<f32>()
        / a.data.len() as f32;
    assert!(diff < 0.002, "mean abs difference {diff}");
    let fg = b.data.iter().filter(|v| **v > 0.5).count() as f32 / b.data.len() as f32;
    assert!((0.1..0.8).contains(&fg), "foreground share {fg}");
}
