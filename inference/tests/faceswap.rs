//! Faces and Face Swap on real photos: the fixtures' faces, a headless photo, swaps in both
//! match modes checked by measuring the output's face again.

mod common;

use atelier_inference::face::{Face, FaceModels, NOSE_TIP};
use image::{Rgb, RgbImage};

fn models() -> &'static FaceModels {
    FaceModels::shared().unwrap()
}

fn rgb(name: &str) -> RgbImage {
    common::fixture(name).to_rgb8()
}

/// The mesh drawn on the photo, for a person to look at.
fn draw_mesh(img: &RgbImage, faces: &[Face], name: &str) {
    let mut out = img.clone();
    for f in faces {
        for p in &f.landmarks {
            let (x, y) = (p[0].round() as i64, p[1].round() as i64);
            if x >= 0 && y >= 0 && (x as u32) < out.width() && (y as u32) < out.height() {
                out.put_pixel(x as u32, y as u32, Rgb([0, 255, 0]));
            }
        }
        for k in f.detection.keypoints {
            let (x, y) = (k.0.round() as i64, k.1.round() as i64);
            for d in -2..=2 {
                for (xx, yy) in [(x + d, y), (x, y + d)] {
                    if xx >= 0 && yy >= 0 && (xx as u32) < out.width() && (yy as u32) < out.height()
                    {
                        out.put_pixel(xx as u32, yy as u32, Rgb([255, 0, 0]));
                    }
                }
            }
        }
    }
    out.save(common::artifacts().join(name)).unwrap();
}

#[test]
fn finds_the_face_and_its_mesh_on_the_on_model_photo() {
    let img = rgb("garment-on-model.webp");
    let t = std::time::Instant::now();
    let faces = models().faces(&img).unwrap();
    eprintln!(
        "faces on garment-on-model: {} in {:?}",
        faces.len(),
        t.elapsed()
    );
    draw_mesh(&img, &faces, "face-mesh-garment-on-model.png");
    assert_eq!(faces.len(), 1, "one face");
    let f = &faces[0];
    let d = &f.detection;
    eprintln!(
        "box {:.0},{:.0}–{:.0},{:.0} score {:.2} presence {:.2}",
        d.x0, d.y0, d.x1, d.y1, d.score, f.presence
    );
    // The face is in the upper centre: the head spans about x 205–365, y 50–270 of 576×864.
    let (cx, cy) = ((d.x0 + d.x1) / 2.0, (d.y0 + d.y1) / 2.0);
    assert!(
        (250.0..330.0).contains(&cx) && (130.0..230.0).contains(&cy),
        "centre {cx},{cy}"
    );
    assert!((80.0..200.0).contains(&d.width()), "width {}", d.width());
    // The subject's right eye is on the image's left.
    assert!(d.keypoints[0].0 < d.keypoints[1].0);
    assert_eq!(f.landmarks.len(), 468);
    let (nx, ny) = f.point(NOSE_TIP);
    assert!(
        nx > d.x0 && nx < d.x1 && ny > d.y0 && ny < d.y1,
        "nose inside the box"
    );
    // The mesh's eye corners agree with the detector's eye keypoints.
    let span = f.eye_span();
    assert!(
        (0.25 * d.width()..0.9 * d.width()).contains(&span),
        "eye span {span}"
    );
    assert!(
        f.roll_degrees().abs() < 10.0,
        "level head: {}",
        f.roll_degrees()
    );
}

#[test]
fn finds_the_astronauts_face() {
    let img = rgb("astronaut.jpg");
    let faces = models().faces(&img).unwrap();
    draw_mesh(&img, &faces, "face-mesh-astronaut.png");
    assert_eq!(faces.len(), 1);
    let d = &faces[0].detection;
    let (cx, cy) = ((d.x0 + d.x1) / 2.0, (d.y0 + d.y1) / 2.0);
    eprintln!(
        "astronaut box {:.0},{:.0}–{:.0},{:.0}; mouth {:.2}",
        d.x0,
        d.y0,
        d.x1,
        d.y1,
        faces[0].mouth_open()
    );
    assert!(
        (180.0..300.0).contains(&cx) && (60.0..200.0).contains(&cy),
        "centre {cx},{cy}"
    );
}

#[test]
fn finds_the_seated_models_face_under_the_hat() {
    let img = rgb("model-photo.webp");
    let faces = models().faces(&img).unwrap();
    draw_mesh(&img, &faces, "face-mesh-model-photo.png");
    assert_eq!(faces.len(), 1);
    let d = &faces[0].detection;
    let (cx, cy) = ((d.x0 + d.x1) / 2.0, (d.y0 + d.y1) / 2.0);
    assert!(
        (420.0..520.0).contains(&cx) && (150.0..260.0).contains(&cy),
        "centre {cx},{cy}"
    );
}

/// A product on a plain floor: no face.
pub fn no_face_image() -> RgbImage {
    RgbImage::from_fn(640, 480, |x, y| {
        let dx = x as f32 - 320.0;
        let dy = y as f32 - 240.0;
        if (dx * dx / 4.0 + dy * dy) < 120.0 * 120.0 {
            Rgb([180, 40, 50])
        } else {
            Rgb([225, 222, 218])
        }
    })
}

#[test]
fn a_product_photo_has_no_face() {
    let faces = models().faces(&no_face_image()).unwrap();
    assert!(faces.is_empty(), "{} faces", faces.len());
}

use atelier_core::catalog::FaceMatch;
use atelier_inference::faceswap::{fit_similarity, swap};

/// The face's appearance in a canonical frame: the photo resampled so the mesh lands on the
/// reference's mean shape, 64² grey, normalised to zero mean and unit spread.
fn aligned_patch(img: &RgbImage, f: &Face, canon: &[(f32, f32)]) -> Vec<f32> {
    let pts: Vec<(f32, f32)> = f.landmarks.iter().map(|p| (p[0], p[1])).collect();
    // canon → image
    let (a, b, tx, ty) = fit_similarity(canon, &pts);
    let mut v = Vec::with_capacity(64 * 64);
    for y in 0..64 {
        for x in 0..64 {
            let (cx, cy) = (x as f32 / 63.0 * 0.8 + 0.1, y as f32 / 63.0 * 0.8 + 0.1);
            let (ix, iy) = (a * cx - b * cy + tx, b * cx + a * cy + ty);
            let p = img.get_pixel(
                (ix.round().max(0.0) as u32).min(img.width() - 1),
                (iy.round().max(0.0) as u32).min(img.height() - 1),
            );
            v.push(0.299 * p.0[0] as f32 + 0.587 * p.0[1] as f32 + 0.114 * p.0[2] as f32);
        }
    }
    let m = v.iter().sum::<f32>() / v.len() as f32;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f32>() / v.len() as f32)
        .sqrt()
        .max(1e-3);
    v.iter().map(|x| (x - m) / sd).collect()
}

fn patch_distance(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
}

/// A face's landmarks normalised into 0..1 of their bounding box.
fn canonical(f: &Face) -> Vec<(f32, f32)> {
    let (x0, y0, x1, y1) = f.bounds();
    f.landmarks
        .iter()
        .map(|p| ((p[0] - x0) / (x1 - x0), (p[1] - y0) / (y1 - y0)))
        .collect()
}

fn mean_abs_outside(a: &RgbImage, b: &RgbImage, mask: &[f32]) -> f32 {
    let mut s = 0f64;
    let mut n = 0u64;
    for (i, (p, q)) in a.pixels().zip(b.pixels()).enumerate() {
        if mask[i] == 0.0 {
            for c in 0..3 {
                s += (p.0[c] as f64 - q.0[c] as f64).abs();
            }
            n += 3;
        }
    }
    (s / n.max(1) as f64) as f32
}

fn swap_and_measure(mode: FaceMatch, name: &str) {
    let target = rgb("garment-on-model.webp");
    let reference = rgb("astronaut.jpg");
    let t = std::time::Instant::now();
    let s = swap(models(), &target, &reference, mode).unwrap();
    eprintln!("{name}: swap {:?}", t.elapsed());
    s.image.save(common::artifacts().join(name)).unwrap();
    assert_eq!(s.image.dimensions(), target.dimensions());
    // Nothing outside the blend mask moved.
    assert_eq!(mean_abs_outside(&s.image, &target, &s.mask), 0.0);
    let changed = s.mask.iter().filter(|&&a| a > 0.5).count();
    assert!(changed > 3000, "the face region is {changed} px");
    // The output's face is found again, where the model's was.
    let out = models().faces(&s.image).unwrap();
    assert_eq!(out.len(), 1, "one face in the output");
    let of = &out[0];
    let shift = {
        let (a, b) = (of.point(NOSE_TIP), s.target.point(NOSE_TIP));
        ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt()
    };
    assert!(shift < 0.25 * s.target.eye_span(), "nose moved {shift}");
    // Appearance: aligned into one frame, the output's face is nearer the reference's than
    // the model's own.
    let canon = canonical(&s.reference);
    let p_out = aligned_patch(&s.image, of, &canon);
    let p_ref = aligned_patch(
        &rgb("astronaut.jpg"),
        &models().faces(&reference).unwrap()[0],
        &canon,
    );
    let p_tgt = aligned_patch(&target, &s.target, &canon);
    let (d_ref, d_tgt) = (
        patch_distance(&p_out, &p_ref),
        patch_distance(&p_out, &p_tgt),
    );
    eprintln!(
        "{name}: mouth out {:.3} ref {:.3} model {:.3}; patch distance to ref {d_ref:.3}, to model {d_tgt:.3}",
        of.mouth_open(),
        s.reference.mouth_open(),
        s.target.mouth_open()
    );
    assert!(d_ref < d_tgt, "looks like the reference: {d_ref} < {d_tgt}");
}

/// The two match modes differ in one measurable property: the mouth. Match Reference keeps the
/// reference's expression (its mouth opening), Match Current Model keeps the model's own.
#[test]
fn the_match_modes_differ_by_whose_mouth_opening_the_result_keeps() {
    let target = rgb("garment-on-model.webp");
    let reference = rgb("astronaut.jpg");
    let (m_model, m_ref) = (
        models().faces(&target).unwrap()[0].mouth_open(),
        models().faces(&reference).unwrap()[0].mouth_open(),
    );
    assert!(
        (m_model - m_ref).abs() > 0.05,
        "the fixtures' mouths must differ to tell the modes apart: model {m_model:.3}, reference {m_ref:.3}"
    );
    let mouth = |mode| {
        let s = swap(models(), &target, &reference, mode).unwrap();
        models().faces(&s.image).unwrap()[0].mouth_open()
    };
    let (by_ref, by_model) = (
        mouth(FaceMatch::MatchReference),
        mouth(FaceMatch::MatchBase),
    );
    eprintln!(
        "mouth opening: model {m_model:.3}, reference {m_ref:.3}; Match Reference {by_ref:.3}, Match Current Model {by_model:.3}"
    );
    assert!(
        (by_ref - m_ref).abs() < (by_ref - m_model).abs(),
        "Match Reference keeps the reference's mouth: {by_ref:.3} (reference {m_ref:.3}, model {m_model:.3})"
    );
    assert!(
        (by_model - m_model).abs() < (by_model - m_ref).abs(),
        "Match Current Model keeps the model's mouth: {by_model:.3} (model {m_model:.3}, reference {m_ref:.3})"
    );
}

#[test]
fn match_reference_puts_the_references_face_and_expression_on_the_model() {
    swap_and_measure(FaceMatch::MatchReference, "faceswap-match-reference.png");
}

#[test]
fn match_current_model_keeps_the_models_geometry() {
    swap_and_measure(FaceMatch::MatchBase, "faceswap-match-current-model.png");
}

#[test]
fn swapping_a_face_with_itself_changes_almost_nothing() {
    // Known truth: the reference is the same photo at 70 %, shifted on a grey canvas. Both
    // modes must bring that face back onto itself within resampling and mesh error.
    let img = rgb("garment-on-model.webp");
    let small = image::imageops::resize(&img, 403, 605, image::imageops::FilterType::Lanczos3);
    let mut reference = RgbImage::from_pixel(700, 700, Rgb([128, 128, 128]));
    image::imageops::overlay(&mut reference, &small, 250, 60);
    let s = swap(models(), &img, &reference, FaceMatch::MatchReference).unwrap();
    s.image
        .save(common::artifacts().join("faceswap-self-70pct.png"))
        .unwrap();
    let (mut sum, mut n) = (0f64, 0f64);
    for (i, (p, q)) in s.image.pixels().zip(img.pixels()).enumerate() {
        let a = s.mask[i] as f64;
        if a > 0.0 {
            for c in 0..3 {
                sum += a * (p.0[c] as f64 - q.0[c] as f64).abs();
                n += a;
            }
        }
    }
    let mad = sum / n;
    eprintln!(
        "self-swap: mean abs difference in the face {mad:.2} levels over {n:.0} weighted samples"
    );
    assert!(n > 3000.0 * 3.0);
    assert!(mad < 6.0, "self-swap MAD {mad}");
}

fn pose_message(
    r: Result<atelier_inference::faceswap::Swap, atelier_inference::imaging::EngineError>,
) -> String {
    match r {
        Err(atelier_inference::imaging::EngineError::Pose(m)) => m,
        Err(e) => panic!("expected a PoseError, got {e}"),
        Ok(_) => panic!("expected a PoseError, got a swap"),
    }
}

#[test]
fn no_face_in_either_photo_is_a_pose_error_naming_which() {
    let face = rgb("astronaut.jpg");
    let m = pose_message(swap(
        models(),
        &no_face_image(),
        &face,
        FaceMatch::MatchReference,
    ));
    assert!(m.contains("No face was found in the image"), "{m}");
    let m = pose_message(swap(
        models(),
        &face,
        &no_face_image(),
        FaceMatch::MatchReference,
    ));
    assert!(m.contains("Face Reference"), "{m}");
    // A face too small to swap: the astronaut shrunk to 40×40.
    let tiny = image::imageops::resize(&face, 40, 40, image::imageops::FilterType::Triangle);
    let canvas = RgbImage::from_fn(400, 400, |x, y| {
        if x < 40 && y < 40 {
            *tiny.get_pixel(x, y)
        } else {
            Rgb([200, 200, 200])
        }
    });
    let r = swap(models(), &canvas, &face, FaceMatch::MatchReference);
    assert!(r.is_err(), "a 40-px portrait is refused");
    // Without a Face Reference the tool says what to add.
    let e = atelier_inference::faceswap::run(
        models(),
        &image::DynamicImage::ImageRgb8(face.clone()),
        None,
        FaceMatch::MatchReference,
    )
    .err()
    .unwrap();
    assert!(
        matches!(e, atelier_inference::imaging::EngineError::Input(ref m) if m.contains("Face Reference")),
        "{e}"
    );
}

#[test]
fn output_is_capped_at_2k_and_keeps_transparency() {
    let img = common::fixture("garment-on-model.webp");
    // 2304×3456 (8 MP) with a transparent border.
    let big = image::imageops::resize(
        &img.to_rgba8(),
        2304,
        3456,
        image::imageops::FilterType::Triangle,
    );
    let mut big = big;
    for (x, _y, p) in big.enumerate_pixels_mut() {
        if x < 100 {
            p.0[3] = 0;
        }
    }
    let t = std::time::Instant::now();
    let e = atelier_inference::faceswap::run(
        models(),
        &image::DynamicImage::ImageRgba8(big),
        Some(&common::fixture("astronaut.jpg")),
        FaceMatch::MatchBase,
    )
    .unwrap();
    eprintln!("8 MP in, {}×{} out in {:?}", e.width, e.height, t.elapsed());
    assert!(e.width as u64 * e.height as u64 <= 2048 * 2048);
    assert!(
        e.width >= 1600,
        "not shrunk further than the cap: {}",
        e.width
    );
    let out = image::load_from_memory(&e.png).unwrap();
    assert!(out.color().has_alpha());
    let o = out.to_rgba8();
    assert_eq!(
        o.get_pixel(10, 10).0[3],
        0,
        "the transparent border stays transparent"
    );
    assert_eq!(o.get_pixel(e.width / 2, e.height / 5).0[3], 255);
}
