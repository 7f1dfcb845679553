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

/// Mean alpha (0..255) of a rectangle of an RGBA image.
fn mean_alpha(img: &image::RgbaImage, x0: u32, y0: u32, x1: u32, y1: u32) -> f64 {
    let mut sum = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += img.get_pixel(x, y)[3] as f64;
        }
    }
    sum / ((x1 - x0) * (y1 - y0)) as f64
}

#[test]
fn a_seated_model_comes_out_whole_lower_leg_and_boot_included() {
    // U²-Netp alone drops his left lower leg and boot (alpha ≈ 0 around x 160–230, y 1100–1180,
    // #21); the pose model's person mask keeps them.
    let bg = common::remover();
    let img = decode(&fixture_bytes("model-photo.webp"), &UploadLimits::DEFAULT).unwrap();
    let salient = bg.alpha(&img.to_rgb8()).unwrap();
    let out = bg.run(&img, Background::Transparent).unwrap();
    std::fs::write(artifacts().join("bgremove-model-photo-whole.png"), &out.png).unwrap();
    let rgba = image::load_from_memory(&out.png).unwrap().to_rgba8();
    let boot = mean_alpha(&rgba, 160, 1100, 230, 1180);
    let before: f64 = {
        let mut s = 0.0;
        for y in 1100..1180 {
            for x in 160..230 {
                s += salient.data[y * salient.width + x] as f64 * 255.0;
            }
        }
        s / (70.0 * 80.0)
    };
    eprintln!("boot region: salient matte {before:.0}, person-aware {boot:.0}");
    assert!(
        boot > 200.0,
        "the boot is kept: mean alpha {boot:.0} (salient matte alone {before:.0})"
    );
    // The background stays out: the corners, the rusty posts left of him, the top right.
    let (w, h) = rgba.dimensions();
    for (x, y) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
        assert!(rgba.get_pixel(x, y)[3] < 10, "corner ({x},{y})");
    }
    let posts = mean_alpha(&rgba, 0, 200, 100, 600);
    assert!(posts < 10.0, "the posts left of him: {posts:.0}");
    let top_right = mean_alpha(&rgba, w - 120, 20, w - 20, 120);
    assert!(top_right < 10.0, "top right: {top_right:.0}");
}

#[test]
fn a_product_photo_keeps_the_salient_matte() {
    // No person: nothing is added to the salient matte.
    let bg = common::remover();
    let mut img = image::RgbImage::from_pixel(480, 640, image::Rgb([235, 235, 235]));
    for y in 160..480 {
        for x in 140..340 {
            img.put_pixel(x, y, image::Rgb([180, 30, 40]));
        }
    }
    let a = bg.alpha(&img).unwrap();
    let b = bg.person_alpha(&img).unwrap();
    assert_eq!(a, b);
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
    use atelier_inference::imaging::EngineError;
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

/// Known truth: the person of the on-model photo (its matte on the plain studio backdrop) pasted
/// on varied backgrounds — flat, gradient, stripes, seeded noise and the seated photo's busy
/// scene (no person in it). The composite's true alpha is the pasted one, exactly; Background Remove must find it
/// again: IoU of alpha > 0.5 and the mean alpha error in a ±6 px band around the true edge.
#[test]
fn person_composites_on_varied_backgrounds_are_found_again() {
    use image::{Rgb as Px, RgbImage};
    let bg = common::remover();
    let person = common::fixture("garment-on-model.webp").to_rgb8();
    let (w, h) = person.dimensions();
    let truth = bg.alpha(&person).unwrap();
    // The seated photo's scene without its person: rusty posts, a beam, concrete (its left third).
    let seated = common::fixture("model-photo.webp").to_rgb8();
    let scene = image::imageops::resize(
        &image::imageops::crop_imm(&seated, 0, 0, 300, 450).to_image(),
        w,
        h,
        image::imageops::FilterType::Triangle,
    );
    let mut seed = 0x2545_f491_u32;
    let mut noise = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        (seed % 256) as u8
    };
    let noisy = RgbImage::from_fn(w, h, |_, _| Px([noise(), noise(), noise()]));
    let backgrounds: Vec<(&str, RgbImage)> = vec![
        ("flat grey", RgbImage::from_pixel(w, h, Px([128, 128, 128]))),
        (
            "blue-orange gradient",
            RgbImage::from_fn(w, h, |x, _| {
                let t = x as f32 / w as f32;
                Px([
                    (40.0 + 200.0 * t) as u8,
                    (90.0 + 60.0 * t) as u8,
                    (220.0 - 180.0 * t) as u8,
                ])
            }),
        ),
        (
            "stripes",
            RgbImage::from_fn(w, h, |x, y| {
                if ((x + y) / 24) % 2 == 0 {
                    Px([30, 120, 60])
                } else {
                    Px([230, 220, 120])
                }
            }),
        ),
        ("noise", noisy),
        ("busy scene", scene),
    ];
    let true_mask: Vec<bool> = truth.data.iter().map(|a| *a > 0.5).collect();
    let (wu, hu) = (w as usize, h as usize);
    // The band: pixels within 6 px of a change in the true mask.
    let mut band = vec![false; wu * hu];
    for y in 0..hu {
        for x in 0..wu {
            let k = y * wu + x;
            let edge = [(1i64, 0i64), (0, 1)].iter().any(|(dx, dy)| {
                let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                nx < wu as i64
                    && ny < hu as i64
                    && true_mask[ny as usize * wu + nx as usize] != true_mask[k]
            });
            if edge {
                for yy in y.saturating_sub(6)..(y + 7).min(hu) {
                    for xx in x.saturating_sub(6)..(x + 7).min(wu) {
                        band[yy * wu + xx] = true;
                    }
                }
            }
        }
    }
    let mut worst = 1.0f32;
    for (name, back) in &backgrounds {
        let comp = RgbImage::from_fn(w, h, |x, y| {
            let a = truth.data[y as usize * wu + x as usize];
            let (f, b) = (person.get_pixel(x, y), back.get_pixel(x, y));
            Px(std::array::from_fn(|c| {
                (f[c] as f32 * a + b[c] as f32 * (1.0 - a)).round() as u8
            }))
        });
        let found = bg.alpha(&comp).unwrap();
        let mask: Vec<bool> = found.data.iter().map(|a| *a > 0.5).collect();
        let inter = mask
            .iter()
            .zip(&true_mask)
            .filter(|(a, b)| **a && **b)
            .count();
        let union = mask
            .iter()
            .zip(&true_mask)
            .filter(|(a, b)| **a || **b)
            .count();
        let iou = inter as f32 / union.max(1) as f32;
        let (mut err, mut n) = (0f32, 0usize);
        for (k, _) in band.iter().enumerate().filter(|(_, b)| **b) {
            err += (found.data[k] - truth.data[k]).abs();
            n += 1;
        }
        let band_mae = err / n.max(1) as f32;
        eprintln!(
            "person composite on {name}: IoU {iou:.3}, boundary-band alpha MAE {band_mae:.3}"
        );
        if *name == "busy scene" {
            comp.save(artifacts().join("bgremove-composite-busy-scene.png"))
                .unwrap();
            image::GrayImage::from_fn(w, h, |x, y| {
                image::Luma([(found.data[y as usize * wu + x as usize] * 255.0) as u8])
            })
            .save(artifacts().join("bgremove-composite-busy-scene-alpha.png"))
            .unwrap();
        }
        assert!(iou >= 0.95, "{name}: IoU {iou}");
        assert!(band_mae < 0.25, "{name}: boundary MAE {band_mae}");
        worst = worst.min(iou);
    }
    eprintln!("worst IoU {worst:.3}");
}

/// The registry: a tool without an engine of its own is refused with a reason, never run by
/// another engine (the old catch-all ran Background Remove for any tool it did not list); a
/// tool with one gets its own engine's result, from options resolved by core alone.
#[test]
fn a_tool_without_an_engine_never_runs_another() {
    use atelier_core::catalog::{validate, Context, ImageInput, ImageSource, Slot, ToolRequest};
    use atelier_core::pricing::Surface;
    use atelier_core::Tool;
    use atelier_inference::engines;
    let bg = common::remover();
    let img = image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(
        96,
        128,
        image::Rgb([200, 40, 40]),
    ));
    for tool in Tool::ALL {
        let spec = atelier_core::catalog::spec(tool);
        let mut r = ToolRequest::default();
        for s in spec.slots.iter().filter(|s| s.min > 0) {
            r.images.insert(
                s.slot,
                vec![ImageInput {
                    width: Some(96),
                    height: Some(128),
                    source: ImageSource::Library,
                }],
            );
        }
        if spec.prompt == atelier_core::catalog::PromptSupport::Required {
            r.prompt = Some("a red dress".into());
        }
        if tool == Tool::Reframe {
            r.aspect_ratio = Some(atelier_core::catalog::AspectRatio::R1x1);
        }
        let ctx = Context {
            surface: Surface::Api,
            plan: None,
        };
        let options = validate(tool, &r, ctx).unwrap_or_else(|e| panic!("{tool:?}: {e:?}"));
        let engine = engines::local(tool, bg, None);
        if engine.is_some() {
            continue;
        }
        let refs = std::collections::HashMap::new();
        match engines::run(bg, None, &options, None, &img, &refs, &|_| {}) {
            Ok((out, name)) => panic!(
                "{tool:?} has no engine but produced {} output(s) from {name}",
                out.len()
            ),
            Err(e) => assert!(
                e.to_string().contains("no engine for this tool"),
                "{tool:?}: {e}"
            ),
        }
        assert!(
            matches!(
                tool,
                Tool::ProductToModel
                    | Tool::ModelSwap
                    | Tool::CreateModel
                    | Tool::CreateFace
                    | Tool::Edit
            ),
            "{tool:?} lost its engine"
        );
    }
    // A tool with an engine gets its own: Upscale 2x (core's default) doubles the size.
    let mut r = ToolRequest::default();
    r.images.insert(
        Slot::Image,
        vec![ImageInput {
            width: Some(96),
            height: Some(128),
            source: ImageSource::Upload,
        }],
    );
    let up = validate(
        Tool::Upscale,
        &r,
        Context {
            surface: Surface::App,
            plan: None,
        },
    )
    .unwrap();
    let (out, name) =
        engines::run(bg, None, &up, None, &img, &Default::default(), &|_| {}).unwrap();
    assert_eq!((out[0].width, out[0].height), (192, 256));
    assert_eq!(name, engines::local(Tool::Upscale, bg, None).unwrap().name);
}
