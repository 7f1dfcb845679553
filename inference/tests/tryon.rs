//! Body pose and the 2D Try-On on real photos.

mod common;

use atelier_inference::pose::{self, Pose, PoseModel};
use image::{Rgb, RgbImage};

fn rgb(name: &str) -> RgbImage {
    common::fixture(name).to_rgb8()
}

fn person_box(img: &RgbImage) -> Option<(f32, f32, f32, f32)> {
    let a = common::remover().alpha(img).unwrap();
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, 0f32, 0f32);
    for y in 0..a.height {
        for x in 0..a.width {
            if a.data[y * a.width + x] > 0.5 {
                x0 = x0.min(x as f32);
                y0 = y0.min(y as f32);
                x1 = x1.max(x as f32 + 1.0);
                y1 = y1.max(y as f32 + 1.0);
            }
        }
    }
    (x1 > x0).then_some((x0, y0, x1, y1))
}

/// The skeleton drawn on the photo, for a person to look at.
fn draw_pose(img: &RgbImage, p: &Pose, name: &str) {
    let mut out = img.clone();
    for (x, y, px) in out.enumerate_pixels_mut() {
        let m = p.mask.data[y as usize * p.mask.width + x as usize];
        px.0[1] = (px.0[1] as f32 * (1.0 - 0.35 * m) + 255.0 * 0.35 * m) as u8;
    }
    for (i, l) in p.landmarks.iter().enumerate() {
        let c = if l.visibility >= 0.5 {
            Rgb([255, 0, 0])
        } else {
            Rgb([0, 0, 255])
        };
        let _ = i;
        for d in -4i64..=4 {
            for (xx, yy) in [(l.x as i64 + d, l.y as i64), (l.x as i64, l.y as i64 + d)] {
                if xx >= 0 && yy >= 0 && (xx as u32) < out.width() && (yy as u32) < out.height() {
                    out.put_pixel(xx as u32, yy as u32, c);
                }
            }
        }
    }
    out.save(common::artifacts().join(name)).unwrap();
}

#[test]
fn finds_the_pose_on_both_fixtures() {
    let m = PoseModel::shared().unwrap();
    for name in ["model-photo.webp", "garment-on-model.webp"] {
        let img = rgb(name);
        let b = person_box(&img);
        let t = std::time::Instant::now();
        let p = m.pose(&img, b).unwrap().expect("a person");
        eprintln!("{name}: pose in {:?}, presence {}", t.elapsed(), p.presence);
        for i in [0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28] {
            eprintln!("  {i}: {:?}", p.landmarks[i]);
        }
        draw_pose(
            &img,
            &p,
            &format!("pose-{}.png", name.split('.').next().unwrap()),
        );
        // The subject's left shoulder is on the image's right for a person facing the camera.
        assert!(p.point(pose::LEFT_SHOULDER).0 > p.point(pose::RIGHT_SHOULDER).0);
        assert!(p.shoulder_mid().1 < p.hip_mid().1);
        assert!(p.point(pose::NOSE).1 < p.shoulder_mid().1);
    }
}

/// The model's pose in a photo (seeded by its matte's box).
fn model_pose(img: &RgbImage) -> Pose {
    PoseModel::shared()
        .unwrap()
        .pose(img, person_box(img))
        .unwrap()
        .expect("a person")
}

/// A point on the chest: 40 % of the way from the shoulders to the hips.
fn chest_of(p: &Pose) -> (u32, u32) {
    let (sm, hm) = (p.shoulder_mid(), p.hip_mid());
    (
        (sm.0 * 0.6 + hm.0 * 0.4) as u32,
        (sm.1 * 0.6 + hm.1 * 0.4) as u32,
    )
}

fn luma(p: &Rgb<u8>) -> f32 {
    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32
}

#[test]
fn puts_the_black_tshirt_on_the_seated_model() {
    use atelier_inference::face::FaceModels;
    use atelier_inference::tryon::{try_on, Garment, TryOnSpec};
    let model = common::fixture("model-photo.webp");
    let garment = common::fixture("garment-on-model.webp");
    let t = std::time::Instant::now();
    let r = try_on(
        common::remover(),
        PoseModel::shared().unwrap(),
        FaceModels::shared().unwrap(),
        &model,
        &garment,
        &TryOnSpec {
            outputs: 1,
            ..Default::default()
        },
    )
    .unwrap();
    eprintln!(
        "try-on in {:?}: {:?}, on-model {}",
        t.elapsed(),
        r.garment,
        r.garment_on_model
    );
    let out = &r.images[0];
    out.save(common::artifacts().join("tryon-black-tshirt-on-model-photo.png"))
        .unwrap();
    assert_eq!(r.garment, Garment::Tops);
    assert!(r.garment_on_model);
    let before = model.to_rgb8();
    assert_eq!(out.dimensions(), before.dimensions());
    let p = model_pose(&before);
    // The chest was a white T-shirt and is now the black one.
    let chest = chest_of(&p);
    let mean = |img: &RgbImage| {
        let mut s = 0.0;
        for dy in 0..9 {
            for dx in 0..9 {
                s += luma(img.get_pixel(chest.0 + dx - 4, chest.1 + dy - 4));
            }
        }
        s / 81.0
    };
    eprintln!("chest luma {} -> {}", mean(&before), mean(out));
    assert!(mean(&before) > 180.0 && mean(out) < 70.0);
    // The face, the trousers' knees, the boots and the background are untouched.
    let same = |x: u32, y: u32, r: u32| {
        (y - r..y + r)
            .all(|yy| (x - r..x + r).all(|xx| before.get_pixel(xx, yy) == out.get_pixel(xx, yy)))
    };
    let nose = p.point(pose::NOSE);
    assert!(same(nose.0 as u32, nose.1 as u32, 12), "the face changed");
    let knee = p.point(pose::RIGHT_KNEE);
    assert!(
        same(knee.0 as u32, knee.1 as u32, 10),
        "the trousers changed"
    );
    assert!(
        same(40, 40, 30) && same(790, 1200, 30),
        "the background changed"
    );
    // The hand resting on the hip stays in front of the new T-shirt.
    let hand = p.point(pose::LEFT_WRIST);
    let h = before.get_pixel(hand.0 as u32, hand.1 as u32);
    let o = out.get_pixel(hand.0 as u32, hand.1 as u32);
    assert!(
        (luma(h) - luma(o)).abs() < 20.0,
        "the hand was covered: {h:?} -> {o:?}"
    );
}

/// The model photo tried on itself as `category`: the result and the IoU of the placed garment
/// with the model's own garment region.
fn self_tryon(
    category: atelier_core::catalog::Category,
) -> (atelier_inference::tryon::TryOnResult, f32) {
    use atelier_inference::face::FaceModels;
    use atelier_inference::tryon::{try_on, TryOnSpec};
    let model = common::fixture("model-photo.webp");
    let r = try_on(
        common::remover(),
        PoseModel::shared().unwrap(),
        FaceModels::shared().unwrap(),
        &model,
        &model,
        &TryOnSpec {
            category: Some(category),
            outputs: 1,
            ..Default::default()
        },
    )
    .unwrap();
    let placed: Vec<bool> = r.placed.data.iter().map(|a| *a > 0.5).collect();
    let inter = placed
        .iter()
        .zip(&r.replaced)
        .filter(|(a, b)| **a && **b)
        .count();
    let union = placed
        .iter()
        .zip(&r.replaced)
        .filter(|(a, b)| **a || **b)
        .count();
    let iou = inter as f32 / union.max(1) as f32;
    (r, iou)
}

/// Known truth: the model's own T-shirt tried on the model lands where it was.
#[test]
fn the_models_own_tshirt_lands_where_it_was() {
    use atelier_core::catalog::Category;
    use atelier_inference::tryon::Garment;
    let (r, iou) = self_tryon(Category::Tops);
    let model = common::fixture("model-photo.webp");
    assert_eq!(r.garment, Garment::Tops);
    r.images[0]
        .save(common::artifacts().join("tryon-self-model-photo.png"))
        .unwrap();
    let before = model.to_rgb8();
    let (mut d, mut n) = (0f64, 0usize);
    for (k, v) in r.replaced.iter().enumerate() {
        if *v {
            let (x, y) = (
                (k % before.width() as usize) as u32,
                (k / before.width() as usize) as u32,
            );
            let (a, b) = (before.get_pixel(x, y), r.images[0].get_pixel(x, y));
            d += (0..3)
                .map(|c| (a[c] as f64 - b[c] as f64).abs())
                .sum::<f64>()
                / 3.0;
            n += 1;
        }
    }
    let mad = d / n.max(1) as f64;
    eprintln!(
        "self try-on: IoU {iou:.3} of the placed T-shirt with the old one; MAD {mad:.2} inside it"
    );
    assert!(iou > 0.9, "IoU {iou}");
    assert!(mad < 12.0, "MAD {mad}");
}

#[test]
fn a_flat_product_shot_goes_on_too_and_variants_differ() {
    use atelier_inference::face::FaceModels;
    use atelier_inference::tryon::{try_on, Garment, TryOnSpec};
    let product = common::flat_tshirt();
    product
        .save(common::artifacts().join("tryon-input-flat-tshirt.png"))
        .unwrap();
    let model = common::fixture("model-photo.webp");
    let r = try_on(
        common::remover(),
        PoseModel::shared().unwrap(),
        FaceModels::shared().unwrap(),
        &model,
        &product,
        &TryOnSpec {
            outputs: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.garment, Garment::Tops);
    assert!(!r.garment_on_model, "no person in the product shot");
    assert_eq!(r.images.len(), 2);
    r.images[0]
        .save(common::artifacts().join("tryon-flat-tshirt-on-model-photo.png"))
        .unwrap();
    r.images[1]
        .save(common::artifacts().join("tryon-flat-tshirt-variant-2.png"))
        .unwrap();
    let before = model.to_rgb8();
    let p = model_pose(&before);
    let chest = chest_of(&p);
    assert!(luma(r.images[0].get_pixel(chest.0, chest.1)) < 70.0);
    // The second variant is a looser fit: it covers more.
    let dark = |img: &RgbImage| img.pixels().filter(|p| luma(p) < 40.0).count();
    eprintln!(
        "dark pixels: {} vs {}",
        dark(&r.images[0]),
        dark(&r.images[1])
    );
    assert!(dark(&r.images[1]) > dark(&r.images[0]));
}

#[test]
fn no_person_or_no_garment_is_a_clear_error() {
    use atelier_inference::face::FaceModels;
    use atelier_inference::imaging::EngineError;
    use atelier_inference::tryon::{try_on, TryOnSpec};
    let run = |model: &image::DynamicImage, garment: &image::DynamicImage| {
        try_on(
            common::remover(),
            PoseModel::shared().unwrap(),
            FaceModels::shared().unwrap(),
            model,
            garment,
            &TryOnSpec {
                outputs: 1,
                ..Default::default()
            },
        )
    };
    // A product shot is not a model photo.
    match run(
        &common::flat_tshirt(),
        &common::fixture("garment-on-model.webp"),
    ) {
        Err(EngineError::Pose(m)) => assert!(m.contains("No person"), "{m}"),
        other => panic!("expected a PoseError, got {:?}", other.map(|r| r.garment)),
    }
    // A blank product image has no garment.
    let blank =
        image::DynamicImage::ImageRgb8(RgbImage::from_pixel(400, 600, Rgb([250, 250, 250])));
    match run(&common::fixture("model-photo.webp"), &blank) {
        Err(EngineError::Input(m)) => assert!(m.starts_with("The product image"), "{m}"),
        other => panic!(
            "expected an input error, got {:?}",
            other.map(|r| r.garment)
        ),
    }
}

/// Known truth for bottoms: the model's own trousers tried on the model land where they were.
#[test]
fn the_models_own_trousers_land_where_they_were() {
    use atelier_core::catalog::Category;
    use atelier_inference::tryon::Garment;
    let (r, iou) = self_tryon(Category::Bottoms);
    assert_eq!(r.garment, Garment::Bottoms);
    r.images[0]
        .save(common::artifacts().join("tryon-self-trousers-model-photo.png"))
        .unwrap();
    eprintln!("self try-on (bottoms): IoU {iou:.3}");
    assert!(iou > 0.75, "IoU {iou}");
}
