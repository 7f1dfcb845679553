//! Timings of the node's engines for `cargo xtask bench`, on a 1024×1024 photo made from the
//! fixture (also written as PNG for the peers in tests/bench/peers.py to read):
//! - `resize_2x_ms`: Lanczos3 1024² → 2048² (the resampling step of Upscale 2x);
//! - `bgremove_alpha_{ort,tract}_ms`: Background Remove's alpha at full size (U²-Netp at 320²
//!   on ONNX Runtime or tract + guided-filter refinement), without encoding;
//! - `bgremove_matte_ort_ms`: the network step alone (resize to 320², run, normalise);
//! - `video_push_in_720_5s_ms`: Image to Video's push-in, 5 s at 30 fps, 720×720 from the same
//!   photo, rendered, H.264-encoded and muxed (the subject box from the matte included).
//! - `faceswap_1k_ms`: Face Swap (Match Current Model) of the astronaut's face onto
//!   `garment-on-model.webp` resized to 683×1024: both faces found and meshed, the warp, the
//!   colour match and the blend, without encoding. The target is written next to `out.png` as
//!   `faceswap-target-1k.png` for the peer.
//! - `tryon_1k_ms`: Try-On (2D) of `garment-on-model.webp`'s T-shirt onto `model-photo.webp`
//!   resized to 683×1024: both mattes, both poses, the face, the garment cut-out, the warp and
//!   the composite, without encoding (no peer: nothing comparable runs here).
//! - `webp_q95_1024_ms` / `_bytes`: Export for Web's lossy WebP (libwebp through the `webp`
//!   crate, quality 95, method 4) of the 1024² photo, encode only.
//!
//! Prints one JSON object with the medians. Usage: bench <models dir> <out.png> [runs]

use std::time::Instant;

use atelier_core::UploadLimits;
use atelier_inference::bgremove::BackgroundRemover;
use atelier_inference::decode::decode;
use atelier_inference::imaging::resize_rgb;
use fast_image_resize::FilterType;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time(runs: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect(),
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (models, out) = (&args[1], &args[2]);
    let runs: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(7);
    let fixture = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model-photo.webp"),
    )
    .expect("fixture");
    let photo = decode(&fixture, &UploadLimits::DEFAULT)
        .expect("decode")
        .to_rgb8();
    let img = resize_rgb(&photo, 1024, 1024, FilterType::Lanczos3).expect("resize");
    img.save(out).expect("write the bench input");
    let resize = time(runs, || {
        std::hint::black_box(resize_rgb(&img, 2048, 2048, FilterType::Lanczos3).unwrap());
    });
    let dir = std::path::Path::new(models);
    let onnx = dir.join("u2netp.onnx");
    let tract = BackgroundRemover::load(&onnx).expect("model");
    let alpha_tract = time(runs, || {
        std::hint::black_box(tract.alpha(&img).unwrap());
    });
    let lib = dir.join(atelier_inference::server::ORT_LIB_FILE);
    let ort =
        BackgroundRemover::load_ort(&onnx, &lib).expect("ONNX Runtime (run `cargo xtask setup`)");
    let alpha_ort = time(runs, || {
        std::hint::black_box(ort.alpha(&img).unwrap());
    });
    let matte_ort = time(runs, || {
        std::hint::black_box(ort.matte(&img).unwrap());
    });
    let spec = atelier_inference::video::VideoSpec {
        seconds: 5,
        height: 720,
        prompt: Some("zoom in".into()),
    };
    let still = image::DynamicImage::ImageRgb8(img.clone());
    let video = time(runs.div_ceil(2).max(3), || {
        std::hint::black_box(atelier_inference::video::run(&ort, &still, None, &spec).unwrap());
    });
    let garment = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/garment-on-model.webp"),
    )
    .expect("fixture");
    let garment = decode(&garment, &UploadLimits::DEFAULT)
        .expect("decode")
        .to_rgb8();
    let target = resize_rgb(&garment, 683, 1024, FilterType::Lanczos3).expect("resize");
    target
        .save(std::path::Path::new(out).with_file_name("faceswap-target-1k.png"))
        .expect("write the face swap target");
    let face = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/astronaut.jpg"),
    )
    .expect("fixture");
    let face = decode(&face, &UploadLimits::DEFAULT)
        .expect("decode")
        .to_rgb8();
    let faces = atelier_inference::face::FaceModels::load().expect("face models");
    let swap = time(runs, || {
        std::hint::black_box(
            atelier_inference::faceswap::swap(
                &faces,
                &target,
                &face,
                atelier_core::catalog::FaceMatch::MatchBase,
            )
            .unwrap(),
        );
    });
    let model = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/model-photo.webp"),
    )
    .expect("fixture");
    let model = decode(&model, &UploadLimits::DEFAULT)
        .expect("decode")
        .to_rgb8();
    let model = image::DynamicImage::ImageRgb8(
        resize_rgb(&model, 683, 1024, FilterType::Lanczos3).expect("resize"),
    );
    let product = image::DynamicImage::ImageRgb8(garment.clone());
    let poses = atelier_inference::pose::PoseModel::load().expect("pose model");
    let spec = atelier_inference::tryon::TryOnSpec {
        outputs: 1,
        ..Default::default()
    };
    let tryon = time(runs.div_ceil(2).max(3), || {
        std::hint::black_box(
            atelier_inference::tryon::try_on(&ort, &poses, &faces, &model, &product, &spec)
                .unwrap(),
        );
    });
    let photo = image::DynamicImage::ImageRgb8(img.clone());
    let webp_bytes = atelier_inference::export::webp_lossy(&photo, 95)
        .expect("webp")
        .len();
    let webp = time(runs, || {
        std::hint::black_box(atelier_inference::export::webp_lossy(&photo, 95).unwrap());
    });
    println!(
        "{}",
        serde_json::json!({
            "webp_q95_1024_ms": webp,
            "webp_q95_1024_bytes": webp_bytes,
            "tryon_1k_ms": tryon,
            "faceswap_1k_ms": swap,
            "video_push_in_720_5s_ms": video,
            "resize_2x_ms": resize,
            "bgremove_alpha_ort_ms": alpha_ort,
            "bgremove_matte_ort_ms": matte_ort,
            "bgremove_alpha_tract_ms": alpha_tract,
            "runs": runs
        })
    );
}
