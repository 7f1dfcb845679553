//! The pipeline's resizing of the shared fixture photos (`../shared/fixtures`) against the
//! reference (Pillow LANCZOS pre-resize, OpenCV fit + pad to 576×864), summarised in
//! `fixtures/preprocess.safetensors`: row and column sums of each stage and every 4th pixel.

mod common;

use std::path::PathBuf;

use atelier_vton::preprocess;
use candle_core::{DType, Tensor};
use image::{imageops::FilterType, RgbImage};

fn shared_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures")
}

fn sums(img: &RgbImage) -> (Vec<i64>, Vec<i64>) {
    let mut rows = vec![0i64; img.height() as usize];
    let mut cols = vec![0i64; img.width() as usize];
    for (x, y, p) in img.enumerate_pixels() {
        let s: i64 = p.0.iter().map(|&v| v as i64).sum();
        rows[y as usize] += s;
        cols[x as usize] += s;
    }
    (rows, cols)
}

fn i64s(t: &Tensor) -> Vec<i64> {
    t.to_dtype(DType::I64).unwrap().to_vec1().unwrap()
}

/// Largest difference of the row/column sums against the reference's, per stage.
fn check(f: &std::collections::HashMap<String, Tensor>, key: &str, img: &RgbImage) -> i64 {
    let (rows, cols) = sums(img);
    let (r, c) = (
        i64s(&f[&format!("{key}.rows")]),
        i64s(&f[&format!("{key}.cols")]),
    );
    assert_eq!((rows.len(), cols.len()), (r.len(), c.len()), "{key}: size");
    let d = |a: &[i64], b: &[i64]| a.iter().zip(b).map(|(a, b)| (a - b).abs()).max().unwrap();
    let worst = d(&rows, &r).max(d(&cols, &c));
    println!("{key}: largest row/column sum difference {worst}");
    worst
}

#[test]
fn shared_photos_are_resized_like_the_reference() {
    let dir = shared_fixtures();
    if !dir.join("model-photo.webp").is_file() {
        eprintln!("skipped: {} not found", dir.display());
        return;
    }
    let f = common::load("preprocess.safetensors");
    for name in ["model-photo", "garment-on-model"] {
        let key = name.replace('-', "_");
        let decoded = image::open(dir.join(format!("{name}.webp")))
            .unwrap()
            .to_rgb8();
        assert_eq!(
            check(&f, &format!("{key}.decoded"), &decoded),
            0,
            "WebP decoding"
        );
        let pre = preprocess::pre_resize(&decoded, (864, 864));
        assert_eq!(check(&f, &format!("{key}.pre"), &pre), 0, "Pillow LANCZOS");
        let fitted = preprocess::fit(&pre, (576, 864), true, FilterType::Lanczos3);
        let (model_input, pad) = preprocess::pad(&fitted, (576, 864));
        assert_eq!(
            check(&f, &format!("{key}.final"), &model_input),
            0,
            "fit + pad"
        );
        let p = i64s(&f[&format!("{key}.padding")]);
        assert_eq!(
            [pad.left, pad.top, pad.right, pad.bottom]
                .map(|v| v as i64)
                .to_vec(),
            p
        );
        let sub = f[&format!("{key}.final.sub4")].to_dtype(DType::U8).unwrap();
        let (sh, sw, _) = sub.dims3().unwrap();
        let sub: Vec<u8> = sub.flatten_all().unwrap().to_vec1().unwrap();
        let mut worst = 0u8;
        for y in 0..sh {
            for x in 0..sw {
                let px = model_input.get_pixel(4 * x as u32, 4 * y as u32).0;
                for c in 0..3 {
                    worst = worst.max(px[c].abs_diff(sub[(y * sw + x) * 3 + c]));
                }
            }
        }
        println!("{key}: every 4th pixel of the model input, largest difference {worst}");
        assert_eq!(worst, 0);
    }
}
