//! Packshot on CPU: sizes, backgrounds, shadows, variants, product isolation (synthetic
//! products with known masks and the real on-model fixtures) and refusals, with the real model.

use std::time::Instant;

use atelier_core::catalog::AspectRatio;
use atelier_core::pricing::Resolution;
use atelier_inference::cutout::generic_skin;
use atelier_inference::imaging::EngineError;
use atelier_inference::packshot::{self, PackshotSpec};
use image::{DynamicImage, ImageEncoder, Rgb, RgbImage};

mod common;
use common::{artifacts, fixture, remover};

fn spec(ar: Option<AspectRatio>, res: Resolution, n: u8, prompt: Option<&str>) -> PackshotSpec {
    PackshotSpec {
        aspect_ratio: ar,
        resolution: res,
        variants: n,
        prompt: prompt.map(str::to_string),
    }
}

fn png(e: &atelier_inference::imaging::Encoded) -> RgbImage {
    let img = image::load_from_memory(&e.png).unwrap();
    assert_eq!((img.width(), img.height()), (e.width, e.height));
    img.to_rgb8()
}

/// A deterministic hash noise in 0..1.
fn noise(x: u32, y: u32, seed: u32) -> f32 {
    let mut v = x
        .wrapping_mul(374_761_393)
        .wrapping_add(y.wrapping_mul(668_265_263))
        .wrapping_add(seed.wrapping_mul(2_246_822_519));
    v = (v ^ (v >> 13)).wrapping_mul(1_274_126_177);
    (v ^ (v >> 16)) as f32 / u32::MAX as f32
}

fn point_in_polygon(x: f32, y: f32, poly: &[(f32, f32)]) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let (xi, yi) = poly[i];
        let (xj, yj) = poly[j];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// A T-shirt outline in unit coordinates (0..1 both ways), neck opening cut out.
fn tshirt(u: f32, v: f32) -> bool {
    const POLY: [(f32, f32); 12] = [
        (0.38, 0.0),
        (0.15, 0.05),
        (0.0, 0.30),
        (0.11, 0.39),
        (0.21, 0.27),
        (0.21, 1.0),
        (0.79, 1.0),
        (0.79, 0.27),
        (0.89, 0.39),
        (1.0, 0.30),
        (0.85, 0.05),
        (0.62, 0.0),
    ];
    let neck = ((u - 0.5) / 0.125).powi(2) + (v / 0.09).powi(2) < 1.0;
    point_in_polygon(u, v, &POLY) && !neck
}

/// A synthetic product photo: `shape` (unit coordinates over the box `bx`, rotated by `deg`
/// about the box centre) in navy/light-blue stripes on a textured green "floor", 2×2
/// supersampled edges. Returns the photo and the truth mask (coverage > 0.5).
fn synthetic(
    w: u32,
    h: u32,
    bx: (f32, f32, f32, f32),
    deg: f32,
    shape: fn(f32, f32) -> bool,
) -> (RgbImage, Vec<bool>) {
    let mut img = RgbImage::new(w, h);
    let mut truth = vec![false; (w * h) as usize];
    let (s, c) = deg.to_radians().sin_cos();
    let (cx, cy) = ((bx.0 + bx.2) / 2.0, (bx.1 + bx.3) / 2.0);
    for y in 0..h {
        for x in 0..w {
            let mut cov = 0f32;
            let mut stripe = 0f32;
            for (ox, oy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let (px, py) = (x as f32 + ox - cx, y as f32 + oy - cy);
                // Un-rotate into the shape's frame.
                let (qx, qy) = (c * px + s * py + cx, -s * px + c * py + cy);
                let (u, v) = ((qx - bx.0) / (bx.2 - bx.0), (qy - bx.1) / (bx.3 - bx.1));
                if (0.0..=1.0).contains(&u) && (0.0..=1.0).contains(&v) && shape(u, v) {
                    cov += 0.25;
                    stripe += if ((v * 12.0) as i32) % 2 == 0 {
                        0.25
                    } else {
                        0.0
                    };
                }
            }
            truth[(y * w + x) as usize] = cov > 0.5;
            let blotch = noise(x / 24, y / 24, 7) * 30.0 - 15.0;
            let grain = noise(x, y, 3) * 36.0 - 18.0;
            let bgc = [
                62.0 + blotch * 0.6 + grain,
                142.0 + blotch + grain,
                70.0 + blotch * 0.5 + grain,
            ];
            let dark = [38.0, 56.0, 132.0];
            let light = [104.0, 146.0, 214.0];
            let shade = 1.0 - 0.08 * noise(x / 6, y / 6, 11);
            let mut p = [0u8; 3];
            for k in 0..3 {
                let f = if cov > 0.0 {
                    (dark[k] * stripe + light[k] * (cov - stripe)) / cov * shade
                } else {
                    0.0
                };
                p[k] = (f * cov + bgc[k] * (1.0 - cov)).round().clamp(0.0, 255.0) as u8;
            }
            img.put_pixel(x, y, Rgb(p));
        }
    }
    (img, truth)
}

/// "Blue" pixels: the synthetic product on any of the test canvases (shadows are grey).
fn is_blue(p: &Rgb<u8>) -> bool {
    p[2] as i32 > p[0] as i32 + 40 && p[2] as i32 > p[1] as i32 + 10
}

fn mask_bbox(m: &[bool], w: u32) -> (u32, u32, u32, u32) {
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for (i, v) in m.iter().enumerate() {
        if *v {
            let (x, y) = (i as u32 % w, i as u32 / w);
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x + 1);
            y1 = y1.max(y + 1);
        }
    }
    assert!(x1 > x0, "empty mask");
    (x0, y0, x1, y1)
}

/// Square dilation of a mask by `k` pixels (separable window counts).
fn dilate(m: &[bool], w: u32, h: u32, k: u32) -> Vec<bool> {
    let (w, h, k) = (w as usize, h as usize, k as usize);
    let mut tmp = vec![false; w * h];
    for y in 0..h {
        let mut pre = vec![0u32; w + 1];
        for x in 0..w {
            pre[x + 1] = pre[x] + m[y * w + x] as u32;
        }
        for x in 0..w {
            tmp[y * w + x] = pre[(x + k + 1).min(w)] > pre[x.saturating_sub(k)];
        }
    }
    let mut out = vec![false; w * h];
    for x in 0..w {
        let mut pre = vec![0u32; h + 1];
        for y in 0..h {
            pre[y + 1] = pre[y] + tmp[y * w + x] as u32;
        }
        for y in 0..h {
            out[y * w + x] = pre[(y + k + 1).min(h)] > pre[y.saturating_sub(k)];
        }
    }
    out
}

fn mean_abs_diff(a: &RgbImage, b: &RgbImage) -> f64 {
    a.as_raw()
        .iter()
        .zip(b.as_raw())
        .map(|(x, y)| (*x as f64 - *y as f64).abs())
        .sum::<f64>()
        / a.as_raw().len() as f64
}

fn tshirt_photo() -> (RgbImage, Vec<bool>) {
    synthetic(900, 1200, (170.0, 260.0, 730.0, 900.0), 0.0, tshirt)
}

/// Output sizes for ratios and tiers, the source's ratio when none is given, and variants
/// that differ (framing and shadow) yet are deterministic.
#[test]
fn sizes_ratios_and_variants() {
    let bg = remover();
    let (photo, _) = tshirt_photo();
    let img = DynamicImage::ImageRgb8(photo);
    let out = packshot::run(
        bg,
        &img,
        &spec(Some(AspectRatio::R4x5), Resolution::K1, 3, None),
    )
    .unwrap();
    assert_eq!(out.len(), 3);
    for e in &out {
        let r = e.width as f64 / e.height as f64;
        assert!((r / 0.8 - 1.0).abs() < 0.01, "4:5 ratio {r}");
        let mp = (e.width * e.height) as f64 / (1024.0 * 1024.0);
        assert!((mp - 1.0).abs() < 0.02, "1K pixels {mp}");
    }
    let imgs: Vec<RgbImage> = out.iter().map(png).collect();
    for i in 0..imgs.len() {
        for j in i + 1..imgs.len() {
            let d = mean_abs_diff(&imgs[i], &imgs[j]);
            assert!(d > 1.0, "variants {i} and {j} differ by only {d:.2}");
        }
    }
    // Framing differs: the product's height on the canvas.
    let heights: Vec<u32> = imgs
        .iter()
        .map(|im| {
            let m: Vec<bool> = im.pixels().map(is_blue).collect();
            let (_, y0, _, y1) = mask_bbox(&m, im.width());
            y1 - y0
        })
        .collect();
    assert!(
        heights[1] > heights[0] + 20 && heights[2] + 20 < heights[0],
        "product heights {heights:?}"
    );
    for (i, e) in out.iter().enumerate() {
        std::fs::write(
            artifacts().join(format!("packshot-variant-{i}.png")),
            &e.png,
        )
        .unwrap();
    }
    // Deterministic.
    let again = packshot::run(
        bg,
        &img,
        &spec(Some(AspectRatio::R4x5), Resolution::K1, 1, None),
    )
    .unwrap();
    assert_eq!(again[0].png, out[0].png);

    // No ratio: the source's 3:4. 16:9 at 2K: about 4 MP.
    let inherit = packshot::run(bg, &img, &spec(None, Resolution::K1, 1, None)).unwrap();
    let r = inherit[0].width as f64 / inherit[0].height as f64;
    assert!((r / 0.75 - 1.0).abs() < 0.01, "inherited ratio {r}");
    let wide = packshot::run(
        bg,
        &img,
        &spec(Some(AspectRatio::R16x9), Resolution::K2, 1, None),
    )
    .unwrap();
    let (w, h) = (wide[0].width, wide[0].height);
    assert!(((w as f64 / h as f64) / (16.0 / 9.0) - 1.0).abs() < 0.01);
    assert!(
        (((w * h) as f64 / (2048.0 * 2048.0)) - 1.0).abs() < 0.02,
        "{w}x{h}"
    );
    // Every studio ratio at every tier.
    for ar in AspectRatio::STUDIO {
        for res in Resolution::ALL {
            let (w, h) = packshot::canvas_size(ar.value(), res);
            assert!(
                ((w as f64 / h as f64) / ar.value() - 1.0).abs() < 0.01,
                "{ar:?}"
            );
            assert!(
                (((w * h) as f64 / res.pixels() as f64) - 1.0).abs() < 0.02,
                "{ar:?}"
            );
        }
    }
}

/// Corners are the style's colour, the product is centred, a contact shadow sits under it
/// (darker than the background, far from black) and is gone for "floating".
#[test]
fn background_centering_and_shadow() {
    let bg = remover();
    let (photo, _) = tshirt_photo();
    let img = DynamicImage::ImageRgb8(photo);
    let cut = packshot::isolate(bg, &img).unwrap();
    for (prompt, colour, name) in [
        (None, [255u8, 255, 255], "default"),
        (Some("light grey background"), [230, 230, 230], "light-grey"),
        (
            Some("floating, on beige"),
            [233, 223, 207],
            "floating-beige",
        ),
    ] {
        let style = packshot::style_from_prompt(prompt);
        let out = packshot::compose(&cut, &style, 0, 1024, 1280).unwrap();
        out.save(artifacts().join(format!("packshot-style-{name}.png")))
            .unwrap();
        let (w, h) = out.dimensions();
        for (x, y) in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
            assert_eq!(out.get_pixel(x, y).0, colour, "{name}: corner ({x},{y})");
        }
        let m: Vec<bool> = out.pixels().map(is_blue).collect();
        let (x0, y0, x1, y1) = mask_bbox(&m, w);
        let (cx, cy) = ((x0 + x1) as f64 / 2.0, (y0 + y1) as f64 / 2.0);
        assert!((cx / w as f64 - 0.5).abs() < 0.03, "{name}: centre x {cx}");
        assert!((cy / h as f64 - 0.5).abs() < 0.03, "{name}: centre y {cy}");
        // The limiting dimension is filled to about 82 %.
        let fill = ((x1 - x0) as f64 / w as f64).max((y1 - y0) as f64 / h as f64);
        assert!((0.77..0.87).contains(&fill), "{name}: fill {fill}");
        // Just under the hem (past its anti-aliased edge), across its middle half.
        let luma = |p: &Rgb<u8>| (p[0] as f64 + p[1] as f64 + p[2] as f64) / 3.0;
        let bgl = luma(&Rgb(colour));
        let (mut darkest, mut lightest) = (f64::MAX, 0f64);
        for y in y1 + 5..y1 + h / 10 {
            for x in x0 + (x1 - x0) / 4..x1 - (x1 - x0) / 4 {
                darkest = darkest.min(luma(out.get_pixel(x, y)));
                lightest = lightest.max(luma(out.get_pixel(x, y)));
            }
        }
        if style.shadow == packshot::Shadow::None {
            // Resampling ringing and edge grain stay within a few levels.
            assert!(
                darkest >= bgl - 5.0,
                "{name}: no shadow expected, luma {darkest} on {bgl}"
            );
        } else {
            assert!(
                darkest < bgl - 25.0 && darkest > bgl * 0.45,
                "{name}: shadow luma {darkest} on {bgl}"
            );
            // It fades out: the band's lightest pixel is near the background again.
            assert!(
                lightest > bgl - 12.0,
                "{name}: shadow too long, {lightest} on {bgl}"
            );
        }
    }
}

/// Other styles on a real garment (the t-shirt of garment-on-model.webp): flat-lay's drop
/// shadow surrounds the silhouette, the studio floor darkens toward the bottom only, a hard
/// shadow is darker than a soft one, and colours are exact.
#[test]
fn styles_on_a_real_garment() {
    let bg = remover();
    let cut = packshot::isolate(bg, &fixture("garment-on-model.webp")).unwrap();
    let luma = |p: &Rgb<u8>| (p[0] as f64 + p[1] as f64 + p[2] as f64) / 3.0;
    let (w, h) = (1024u32, 1024u32);
    let render = |prompt: &str, name: &str| {
        let style = packshot::style_from_prompt(Some(prompt));
        let out = packshot::compose(&cut, &style, 0, w, h).unwrap();
        out.save(artifacts().join(format!("packshot-garment-{name}.png")))
            .unwrap();
        (style, out)
    };
    // The garment's box: dark pixels.
    let garment_box = |im: &RgbImage| {
        let m: Vec<bool> = im.pixels().map(|p| luma(p) < 60.0).collect();
        mask_bbox(&m, im.width())
    };

    let (style, flat) = render("flat-lay on light grey", "flat-lay-light-grey");
    assert_eq!(style.shadow, packshot::Shadow::Drop);
    assert_eq!(flat.get_pixel(0, 0).0, [230, 230, 230]);
    let (_, _, _, y1) = garment_box(&flat);
    // The drop shadow: darker than the background just below the hem, and on average all
    // around the silhouette (a ring 4–12 px outside it).
    let m: Vec<bool> = flat.pixels().map(|p| luma(p) < 60.0).collect();
    let near = dilate(&m, w, h, 12);
    let inner = dilate(&m, w, h, 4);
    let ring: Vec<f64> = (0..(w * h) as usize)
        .filter(|&i| near[i] && !inner[i])
        .map(|i| luma(flat.get_pixel(i as u32 % w, i as u32 / w)))
        .collect();
    let ring_mean = ring.iter().sum::<f64>() / ring.len() as f64;
    let below = luma(flat.get_pixel(w / 2, y1 + 6));
    assert!(
        below < 215.0 && below > 120.0,
        "flat-lay shadow below {below}"
    );
    assert!(ring_mean < 225.0, "flat-lay shadow around {ring_mean}");

    let (style, studio) = render("studio floor", "studio-floor");
    assert!(style.floor);
    assert_eq!(
        studio.get_pixel(0, 0).0,
        [255, 255, 255],
        "the wall stays white"
    );
    let floor = luma(studio.get_pixel(0, h - 1));
    assert!((215.0..250.0).contains(&floor), "floor corner {floor}");

    let (_, soft) = render("soft shadow, pastel pink", "soft-pink");
    let (_, hard) = render("hard shadow, pastel pink", "hard-pink");
    assert_eq!(soft.get_pixel(0, 0).0, [247, 221, 226]);
    let depth = |im: &RgbImage| {
        let (x0, _, x1, y1) = garment_box(im);
        (x0 + (x1 - x0) / 3..x1 - (x1 - x0) / 3)
            .flat_map(|x| (y1 + 3..y1 + 20).map(move |y| (x, y)))
            .map(|(x, y)| luma(im.get_pixel(x, y)))
            .fold(f64::MAX, f64::min)
    };
    let (ds, dh) = (depth(&soft), depth(&hard));
    assert!(dh + 15.0 < ds, "hard shadow {dh} vs soft {ds}");
    render("floating, on-model removed, ghost mannequin", "floating");
    render("on beige backdrop", "beige");
}

/// A drawn T-shirt on a textured green floor (known mask): after the packshot the product's
/// shape matches the truth (IoU of the bounding-box-aligned masks) and no green from the old
/// background is left on the white canvas.
#[test]
fn synthetic_garment_matches_its_known_mask() {
    let bg = remover();
    let (photo, truth) = tshirt_photo();
    photo
        .save(artifacts().join("packshot-input-synthetic.png"))
        .unwrap();
    let img = DynamicImage::ImageRgb8(photo.clone());
    let out = packshot::run(
        bg,
        &img,
        &spec(Some(AspectRatio::R1x1), Resolution::K1, 1, None),
    )
    .unwrap();
    std::fs::write(
        artifacts().join("packshot-synthetic-tshirt.png"),
        &out[0].png,
    )
    .unwrap();
    let im = png(&out[0]);
    let (w, h) = im.dimensions();
    let ours: Vec<bool> = im.pixels().map(is_blue).collect();
    let (ox0, oy0, ox1, oy1) = mask_bbox(&ours, w);
    let (tx0, ty0, tx1, ty1) = mask_bbox(&truth, photo.width());
    let (mut inter, mut union) = (0u64, 0u64);
    for y in 0..h {
        for x in 0..w {
            let inside = x >= ox0 && x < ox1 && y >= oy0 && y < oy1;
            let t = inside && {
                let u = (x - ox0) as f64 + 0.5;
                let sx = tx0 as f64 + u * (tx1 - tx0) as f64 / (ox1 - ox0) as f64;
                let v = (y - oy0) as f64 + 0.5;
                let sy = ty0 as f64 + v * (ty1 - ty0) as f64 / (oy1 - oy0) as f64;
                truth[(sy as u32).min(ty1 - 1) as usize * photo.width() as usize
                    + (sx as u32).min(tx1 - 1) as usize]
            };
            let o = ours[(y * w + x) as usize];
            inter += (t && o) as u64;
            union += (t || o) as u64;
        }
    }
    let iou = inter as f64 / union as f64;
    eprintln!("synthetic T-shirt IoU {iou:.4}");
    assert!(iou >= 0.9, "IoU {iou}");
    // Green (the source's floor) anywhere on the output.
    let green = im
        .pixels()
        .filter(|p| p[1] as i32 > p[0] as i32 + 20 && p[1] as i32 > p[2] as i32 + 5)
        .count();
    let area = ours.iter().filter(|v| **v).count();
    eprintln!("green pixels {green} of product area {area}");
    assert!(
        (green as f64) < 0.002 * area as f64,
        "{green} green pixels left"
    );
}

/// A tilted elongated product (a striped tie-like strip, 12°) comes out straight: its box is
/// well filled, which a 12° tilt would not allow.
#[test]
fn tilted_product_is_straightened() {
    let bg = remover();
    fn strip(u: f32, v: f32) -> bool {
        // Rounded ends.
        let (du, dv) = ((u - 0.5).abs() * 4.0, (v - 0.5).abs() * 2.0);
        du <= 1.5 || (du - 1.5).powi(2) + dv.powi(2) * 0.25 <= 0.25
    }
    let (photo, _) = synthetic(1200, 900, (250.0, 330.0, 950.0, 530.0), 12.0, strip);
    photo
        .save(artifacts().join("packshot-input-tilted.png"))
        .unwrap();
    let img = DynamicImage::ImageRgb8(photo);
    let cut = packshot::isolate(bg, &img).unwrap();
    let angle = cut.rotated.expect("straightened").to_degrees();
    assert!((angle + 12.0).abs() < 2.0, "rotated by {angle}°");
    let out = packshot::run(
        bg,
        &img,
        &spec(
            Some(AspectRatio::R3x2),
            Resolution::K1,
            1,
            Some("on light grey"),
        ),
    )
    .unwrap();
    std::fs::write(artifacts().join("packshot-straightened.png"), &out[0].png).unwrap();
    let im = png(&out[0]);
    let m: Vec<bool> = im.pixels().map(is_blue).collect();
    let (x0, y0, x1, y1) = mask_bbox(&m, im.width());
    let fill = m.iter().filter(|v| **v).count() as f64 / ((x1 - x0) * (y1 - y0)) as f64;
    assert!(fill > 0.85, "box fill {fill:.3}");
    assert!(x1 - x0 > 3 * (y1 - y0), "lies horizontally");
}

fn skin_share(img: &RgbImage, m: &[bool]) -> f64 {
    let n = m.iter().filter(|v| **v).count().max(1);
    let s = img
        .pixels()
        .zip(m)
        .filter(|(p, k)| **k && generic_skin(p))
        .count();
    s as f64 / n as f64
}

/// The product region of a packshot on white: pixels clearly off the background, shadow aside
/// (the shadow is a neutral darkening; the product is told apart by being darker or coloured).
fn product_region(im: &RgbImage) -> Vec<bool> {
    im.pixels()
        .map(|p| {
            let (mx, mn) = (*p.0.iter().max().unwrap(), *p.0.iter().min().unwrap());
            mn < 150 || mx - mn > 25
        })
        .collect()
}

/// On-model photos: the garment stays, the person's skin, face and hair go.
#[test]
fn on_model_photo_keeps_the_garment_and_removes_the_person() {
    let bg = remover();
    let src = fixture("garment-on-model.webp");
    let rgb = src.to_rgb8();
    let alpha = bg.alpha(&rgb).unwrap();
    let matte: Vec<bool> = alpha.data.iter().map(|a| *a > 0.5).collect();
    let before = skin_share(&rgb, &matte);
    let cut = packshot::isolate(bg, &src).unwrap();
    assert!(cut.person.on_model, "{:?}", cut.person);
    let t = Instant::now();
    let out = packshot::run(bg, &src, &spec(None, Resolution::K1, 2, None)).unwrap();
    eprintln!("garment-on-model: 2 variants in {:?}", t.elapsed());
    for (i, e) in out.iter().enumerate() {
        std::fs::write(
            artifacts().join(format!("packshot-on-model-{i}.png")),
            &e.png,
        )
        .unwrap();
    }
    let im = png(&out[0]);
    let region = product_region(&im);
    let after = skin_share(&im, &region);
    // The black t-shirt dominates what is left.
    let n = region.iter().filter(|v| **v).count() as f64;
    let dark = im
        .pixels()
        .zip(&region)
        .filter(|(p, k)| **k && (p[0] as u32 + p[1] as u32 + p[2] as u32) < 180)
        .count() as f64;
    eprintln!(
        "garment-on-model: skin share {before:.3} in the matte → {after:.3}; dark share {:.3}; {:?}",
        dark / n,
        cut.person
    );
    assert!(before > 0.08, "the source shows skin ({before})");
    assert!(after < before * 0.25, "skin share {before:.3} → {after:.3}");
    assert!(dark / n > 0.7, "dark (garment) share {:.3}", dark / n);
    // The garment fills the frame as a packshot would: centred, about 82 % of the height.
    let (x0, y0, x1, y1) = mask_bbox(&region, im.width());
    let fill = ((x1 - x0) as f64 / im.width() as f64).max((y1 - y0) as f64 / im.height() as f64);
    assert!(fill > 0.7, "fill {fill}");

    check_points(
        &cut,
        "garment-on-model",
        &[
            ("face", 285, 190),
            ("hair", 280, 70),
            ("neck", 290, 265),
            ("right arm", 95, 600),
            ("left forearm", 470, 630),
            ("hand", 380, 820),
            ("trousers, cut by the frame", 250, 800),
        ],
        &[
            ("chest", 290, 560),
            ("right sleeve", 110, 450),
            ("left sleeve", 480, 450),
            ("logo", 300, 437),
            ("hem", 300, 690),
        ],
    );

    // The man in a white t-shirt and beige trousers on a busy background (seated).
    let src = fixture("model-photo.webp");
    let cut = packshot::isolate(bg, &src).unwrap();
    assert!(cut.person.on_model, "{:?}", cut.person);
    check_points(
        &cut,
        "model-photo",
        &[
            ("face", 470, 180),
            ("hat", 480, 100),
            ("neck", 500, 290),
            ("arm", 300, 560),
            ("arm", 720, 520),
            ("hand", 560, 700),
            ("hand", 130, 700),
        ],
        &[
            ("t-shirt", 550, 450),
            ("t-shirt", 400, 480),
            ("trousers", 300, 750),
            ("trousers", 450, 1000),
            ("thigh", 380, 700),
        ],
    );
    let out = packshot::run(
        bg,
        &src,
        &spec(Some(AspectRatio::R3x4), Resolution::K1, 1, None),
    )
    .unwrap();
    std::fs::write(artifacts().join("packshot-model-photo.png"), &out[0].png).unwrap();
}

/// The cut-out's alpha around source pixel (x, y) (5×5 mean; 0 outside the crop).
fn alpha_at(cut: &packshot::Cutout, x: u32, y: u32) -> f64 {
    assert!(cut.rotated.is_none() && cut.source_scale == 1.0);
    let mut sum = 0.0;
    for dy in 0..5 {
        for dx in 0..5 {
            let (ix, iy) = (
                x as i64 + dx - 2 - cut.origin.0 as i64,
                y as i64 + dy - 2 - cut.origin.1 as i64,
            );
            if ix >= 0
                && iy >= 0
                && (ix as u32) < cut.image.width()
                && (iy as u32) < cut.image.height()
            {
                sum += cut.image.get_pixel(ix as u32, iy as u32)[3] as f64;
            }
        }
    }
    sum / 25.0
}

/// Person points must be gone from the cut-out, garment points kept.
fn check_points(
    cut: &packshot::Cutout,
    name: &str,
    gone: &[(&str, u32, u32)],
    kept: &[(&str, u32, u32)],
) {
    for (what, x, y) in gone {
        let a = alpha_at(cut, *x, *y);
        assert!(a < 30.0, "{name}: {what} at ({x},{y}) kept, alpha {a}");
    }
    for (what, x, y) in kept {
        let a = alpha_at(cut, *x, *y);
        assert!(a > 220.0, "{name}: {what} at ({x},{y}) lost, alpha {a}");
    }
}

/// No product (a flat colour, noise) and impossible requests are input errors that say what
/// to do.
#[test]
fn no_product_is_an_input_error() {
    let bg = remover();
    let flat = DynamicImage::ImageRgb8(RgbImage::from_pixel(800, 600, Rgb([200, 180, 160])));
    let e = packshot::run(bg, &flat, &spec(None, Resolution::K1, 1, None))
        .err()
        .unwrap();
    assert!(
        matches!(e, EngineError::Input(ref m) if m.contains("upload")),
        "{e}"
    );
    let mut n = RgbImage::new(800, 600);
    for (x, y, p) in n.enumerate_pixels_mut() {
        *p = Rgb([
            (noise(x, y, 1) * 255.0) as u8,
            (noise(x, y, 2) * 255.0) as u8,
            (noise(x, y, 3) * 255.0) as u8,
        ]);
    }
    let e = packshot::run(
        bg,
        &DynamicImage::ImageRgb8(n),
        &spec(None, Resolution::K1, 1, None),
    )
    .err()
    .unwrap();
    assert!(
        matches!(e, EngineError::Input(ref m) if m.contains("No product")),
        "{e}"
    );
    let tiny = DynamicImage::ImageRgb8(RgbImage::from_pixel(40, 300, Rgb([10, 10, 10])));
    let e = packshot::run(bg, &tiny, &spec(None, Resolution::K1, 1, None))
        .err()
        .unwrap();
    assert!(
        matches!(e, EngineError::Input(ref m) if m.contains("too small")),
        "{e}"
    );
    let (photo, _) = tshirt_photo();
    let e = packshot::run(
        bg,
        &DynamicImage::ImageRgb8(photo),
        &spec(None, Resolution::K1, 5, None),
    )
    .err()
    .unwrap();
    assert!(
        matches!(e, EngineError::Input(ref m) if m.contains("1 to 4")),
        "{e}"
    );
}

/// Time per output at 1K and 2K (printed; a loose bound so a slow shared machine passes).
#[test]
fn timings() {
    let bg = remover();
    let src = fixture("garment-on-model.webp");
    let t = Instant::now();
    let cut = packshot::isolate(bg, &src).unwrap();
    let iso = t.elapsed();
    let style = packshot::style_from_prompt(Some("flat-lay on light grey"));
    let mut lines = vec![format!("isolate {iso:?}")];
    for (res, (w, h)) in [
        (Resolution::K1, packshot::canvas_size(0.8, Resolution::K1)),
        (Resolution::K2, packshot::canvas_size(0.8, Resolution::K2)),
    ] {
        let t = Instant::now();
        let img = packshot::compose(&cut, &style, 1, w, h).unwrap();
        let c = t.elapsed();
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new_with_quality(
            &mut out,
            image::codecs::png::CompressionType::Fast,
            image::codecs::png::FilterType::Adaptive,
        )
        .write_image(img.as_raw(), w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
        lines.push(format!(
            "{res:?} {w}x{h}: compose {c:?}, with PNG {:?}",
            t.elapsed()
        ));
        assert!(t.elapsed().as_secs() < 30);
    }
    // A 4K output from a large source (the garment photo scaled to 2731×4096).
    let big = DynamicImage::ImageRgb8(image::imageops::resize(
        &src.to_rgb8(),
        2731,
        4096,
        image::imageops::FilterType::Triangle,
    ));
    let t = Instant::now();
    let out = packshot::run(
        bg,
        &big,
        &spec(Some(AspectRatio::R4x5), Resolution::K4, 1, None),
    )
    .unwrap();
    lines.push(format!(
        "4K {}x{} from a 2731x4096 source, isolate included: {:?}",
        out[0].width,
        out[0].height,
        t.elapsed()
    ));
    assert!(t.elapsed().as_secs() < 120);
    eprintln!("packshot timings: {}", lines.join("; "));
}
