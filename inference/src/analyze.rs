//! What an image shows, for the AI Assistant (`POST /v1/analyze`): its size, the faces the face
//! detector finds, whether the pose model sees a person and how much of them is in frame, the
//! share of the image the segmentation matte calls subject, and whether the background (the
//! matte's complement) is plain or busy. The models are the ones the engines already load;
//! core's `assistant::analysis_reply` turns the facts into the answer.

use atelier_core::assistant::{Framing, ImageFacts};
use fast_image_resize as fr;
use image::{DynamicImage, RgbImage};

use crate::bgremove::BackgroundRemover;
use crate::cutout::generic_skin;
use crate::face::FaceModels;
use crate::imaging::{resize_rgb, EngineError};
use crate::pose::{self, PoseModel};

/// The side the image is analysed at (the models' own inputs are smaller still).
const SIDE: u32 = 768;
/// A face box at least this share of the image's height makes a close-up.
const CLOSE_UP: f32 = 0.3;
/// The share of the subject that must be skin for a faceless figure to count as a person.
const MIN_SKIN: f32 = 0.03;
/// The visibility above which a knee or an ankle is in the picture.
const SURE: f32 = 0.7;
/// Background luminance spread and mean gradient (0..255) under which it counts as plain.
const PLAIN_SPREAD: f32 = 22.0;
const PLAIN_GRADIENT: f32 = 5.0;

pub fn analyze(bg: &BackgroundRemover, img: &DynamicImage) -> Result<ImageFacts, EngineError> {
    let (width, height) = (img.width(), img.height());
    let mut rgb = img.to_rgb8();
    if width.max(height) > SIDE {
        let s = SIDE as f32 / width.max(height) as f32;
        rgb = resize_rgb(
            &rgb,
            ((width as f32 * s).round() as u32).max(1),
            ((height as f32 * s).round() as u32).max(1),
            fr::FilterType::Bilinear,
        )?;
    }
    let (w, h) = (rgb.width() as f32, rgb.height() as f32);
    let faces = FaceModels::shared()?.detect(&rgb)?;
    let person = PoseModel::shared()?.pose(&rgb, None)?;
    let face_tall = faces.first().map_or(0.0, |f| (f.y1 - f.y0) / h.max(1.0));
    let matte = bg.matte(&rgb)?;
    let (subject_share, plain_background, skin) =
        background(&rgb, &matte.data, matte.width, matte.height)?;
    // A ghost mannequin or a laid-out garment can look like a torso to the pose model: a
    // person also shows a face or some skin (neck, arms, hands).
    let person = person.filter(|_| !faces.is_empty() || skin >= MIN_SKIN);
    let framing = person.as_ref().map(|p| {
        // Knees and ankles count only when the model is sure of them: below the frame it
        // still guesses where they would be, with middling visibility.
        let sure = |i: usize| p.landmarks[i].visibility >= SURE;
        let seen = |a: usize, b: usize| sure(a) || sure(b);
        let inside = |a: usize| {
            let (x, y) = p.point(a);
            (0.0..w).contains(&x) && (0.0..h).contains(&y)
        };
        if face_tall >= CLOSE_UP {
            Framing::CloseUp
        } else if seen(pose::LEFT_ANKLE, pose::RIGHT_ANKLE)
            && (inside(pose::LEFT_ANKLE) || inside(pose::RIGHT_ANKLE))
        {
            Framing::FullBody
        } else if seen(pose::LEFT_KNEE, pose::RIGHT_KNEE)
            && (inside(pose::LEFT_KNEE) || inside(pose::RIGHT_KNEE))
        {
            Framing::ThreeQuarter
        } else if p.visible(pose::LEFT_SHOULDER) || p.visible(pose::RIGHT_SHOULDER) {
            Framing::UpperBody
        } else {
            Framing::CloseUp
        }
    });
    Ok(ImageFacts {
        width,
        height,
        faces: faces.len() as u32,
        person: person.is_some(),
        framing,
        plain_background,
        subject_share,
    })
}

/// The subject's share of the image; whether what is outside it is plain (a narrow spread of
/// luminance and little texture, the mean gradient); and the share of the subject that is skin
/// (the generic skin rule) — measured at the matte's size.
fn background(
    rgb: &RgbImage,
    m: &[f32],
    mw: usize,
    mh: usize,
) -> Result<(f32, bool, f32), EngineError> {
    let small = resize_rgb(rgb, mw as u32, mh as u32, fr::FilterType::Bilinear)?;
    let lum: Vec<f32> = small
        .pixels()
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect();
    let inside = m.iter().filter(|v| **v >= 0.5).count() as f32;
    let subject = inside / m.len().max(1) as f32;
    let skin = small
        .pixels()
        .zip(m)
        .filter(|(p, v)| **v >= 0.5 && generic_skin(p))
        .count() as f32
        / inside.max(1.0);
    let (mut n, mut sum, mut sq, mut grad) = (0f32, 0f32, 0f32, 0f32);
    for y in 0..mh.saturating_sub(1) {
        for x in 0..mw.saturating_sub(1) {
            let i = y * mw + x;
            // Background only, and away from the subject's edge.
            if m[i] > 0.1 || m[i + 1] > 0.1 || m[i + mw] > 0.1 {
                continue;
            }
            let l = lum[i];
            n += 1.0;
            sum += l;
            sq += l * l;
            grad += (lum[i + 1] - l).abs() + (lum[i + mw] - l).abs();
        }
    }
    if n < 100.0 {
        // Nearly all subject: no background to speak of.
        return Ok((subject, true, skin));
    }
    let mean = sum / n;
    let spread = (sq / n - mean * mean).max(0.0).sqrt();
    Ok((
        subject,
        spread < PLAIN_SPREAD && grad / n < PLAIN_GRADIENT,
        skin,
    ))
}
