//! Image ↔ tensor plumbing of the pipeline: the aspect-preserving fit, the symmetric black
//! padding to the model's input and its removal, [-1, 1] normalisation.
//!
//! The reference's pre-resize is PIL's LANCZOS: [`resize_lanczos_pil`] is the same algorithm
//! (Pillow's two-pass fixed-point resampler), bit-equal on the shared fixture photos. Its second
//! fit, to the model's input, uses OpenCV (INTER_AREA down, LANCZOS4 up); here `image`'s
//! Lanczos3 stands in (close, not equal). That second resize only happens when the pre-resized
//! image's aspect ratio is not the input's 2:3 (for a 2:3 photo it is the identity).

use candle_core::{Device, Result, Tensor};
use image::{imageops, GrayImage, ImageBuffer, Pixel, RgbImage};

/// Padding (left, top, right, bottom) added around a fitted image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Padding {
    pub left: u32,
    pub top: u32,
    pub right: u32,
    pub bottom: u32,
}

/// The reference's scale factor for `fit` into `target` (w, h), optionally never upsampling.
fn fit_scale(w: u32, h: u32, target: (u32, u32), allow_upsampling: bool) -> f64 {
    let s = (target.0 as f64 / w as f64).min(target.1 as f64 / h as f64);
    if !allow_upsampling && s > 1.0 {
        1.0
    } else {
        s
    }
}

/// Pillow's Lanczos kernel (a = 3).
fn lanczos(x: f64) -> f64 {
    fn sinc(x: f64) -> f64 {
        if x == 0.0 {
            1.0
        } else {
            let x = x * std::f64::consts::PI;
            x.sin() / x
        }
    }
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`: for each output index, the first
/// input index and the fixed-point weights.
fn pil_coeffs(in_size: usize, out_size: usize) -> Vec<(usize, Vec<i32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = 3.0 * filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let ss = 1.0 / filterscale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize - xmin;
            let w: Vec<f64> = (0..xmax)
                .map(|x| lanczos((x as f64 + xmin as f64 - center + 0.5) * ss))
                .collect();
            let total: f64 = w.iter().sum();
            let k = w
                .iter()
                .map(|&w| {
                    let w = if total != 0.0 { w / total } else { w };
                    let f = w * (1u32 << PRECISION_BITS) as f64;
                    (if w < 0.0 { -0.5 + f } else { 0.5 + f }) as i32
                })
                .collect();
            (xmin, k)
        })
        .collect()
}

fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

/// `PIL.Image.resize((w, h), Image.LANCZOS)` of an 8-bit image, to the bit: Pillow's separable
/// fixed-point resampler (horizontal pass over the rows the vertical pass needs, then vertical).
pub fn resize_lanczos_pil<P>(
    img: &ImageBuffer<P, Vec<u8>>,
    w: u32,
    h: u32,
) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let ch = P::CHANNEL_COUNT as usize;
    let (iw, ih) = (img.width() as usize, img.height() as usize);
    let (ow, oh) = (w as usize, h as usize);
    let src = img.as_raw();
    let need_h = ow != iw;
    let need_v = oh != ih;
    let vert = pil_coeffs(ih, oh);
    let (first, last) = (vert[0].0, vert[oh - 1].0 + vert[oh - 1].1.len());
    // Horizontal pass over the source rows first..last.
    let (tmp, tw, row0) = if need_h {
        let horiz = pil_coeffs(iw, ow);
        let rows = last - first;
        let mut t = vec![0u8; rows * ow * ch];
        for y in 0..rows {
            let line = &src[(y + first) * iw * ch..(y + first + 1) * iw * ch];
            for (xx, (xmin, k)) in horiz.iter().enumerate() {
                for c in 0..ch {
                    let mut acc: i32 = 1 << (PRECISION_BITS - 1);
                    for (x, &kw) in k.iter().enumerate() {
                        acc += line[(x + xmin) * ch + c] as i32 * kw;
                    }
                    t[(y * ow + xx) * ch + c] = clip8(acc);
                }
            }
        }
        (t, ow, first)
    } else {
        (src.clone(), iw, 0)
    };
    let out = if need_v {
        let mut o = vec![0u8; oh * tw * ch];
        for (yy, (ymin, k)) in vert.iter().enumerate() {
            let ymin = ymin - row0;
            for x in 0..tw * ch {
                let mut acc: i32 = 1 << (PRECISION_BITS - 1);
                for (y, &kw) in k.iter().enumerate() {
                    acc += tmp[(y + ymin) * tw * ch + x] as i32 * kw;
                }
                o[yy * tw * ch + x] = clip8(acc);
            }
        }
        o
    } else {
        tmp
    };
    ImageBuffer::from_raw(w, h, out).expect("sized buffer")
}

/// The reference's new size for a fit into `target` (w, h), `None` when the scale is 1.
fn fit_size(w: u32, h: u32, target: (u32, u32), allow_upsampling: bool) -> Option<(u32, u32)> {
    let s = fit_scale(w, h, target, allow_upsampling);
    if s == 1.0 {
        return None;
    }
    Some((
        ((s * w as f64) as u32).max(1),
        ((s * h as f64) as u32).max(1),
    ))
}

/// The reference's pre-resize: fit in `target` (w, h) with PIL's LANCZOS, never upsampling.
pub fn pre_resize<P>(img: &ImageBuffer<P, Vec<u8>>, target: (u32, u32)) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8> + 'static,
{
    match fit_size(img.width(), img.height(), target, false) {
        Some((w, h)) => resize_lanczos_pil(img, w, h),
        None => img.clone(),
    }
}

/// Aspect-preserving resize so that the image fits in `target` (w, h) (sizes truncated, as the
/// reference's `int(scale * size)`), with `filter` (the reference: OpenCV's INTER_AREA /
/// LANCZOS4 for photos, INTER_NEAREST_EXACT for pose maps).
pub fn fit<P>(
    img: &ImageBuffer<P, Vec<P::Subpixel>>,
    target: (u32, u32),
    allow_upsampling: bool,
    filter: imageops::FilterType,
) -> ImageBuffer<P, Vec<P::Subpixel>>
where
    P: Pixel + 'static,
{
    match fit_size(img.width(), img.height(), target, allow_upsampling) {
        Some((w, h)) => imageops::resize(img, w, h, filter),
        None => img.clone(),
    }
}

/// Pads symmetrically (extra pixel right/bottom) with black to `target` (w, h).
pub fn pad<P>(
    img: &ImageBuffer<P, Vec<P::Subpixel>>,
    target: (u32, u32),
) -> (ImageBuffer<P, Vec<P::Subpixel>>, Padding)
where
    P: Pixel + 'static,
{
    let tw = target.0.saturating_sub(img.width());
    let th = target.1.saturating_sub(img.height());
    let p = Padding {
        left: tw / 2,
        top: th / 2,
        right: tw - tw / 2,
        bottom: th - th / 2,
    };
    let mut out = ImageBuffer::new(img.width() + tw, img.height() + th);
    imageops::replace(&mut out, img, p.left as i64, p.top as i64);
    (out, p)
}

/// Cuts the padding off again.
pub fn unpad(img: &RgbImage, p: Padding) -> RgbImage {
    let w = img.width() - p.left - p.right;
    let h = img.height() - p.top - p.bottom;
    imageops::crop_imm(img, p.left, p.top, w, h).to_image()
}

/// (1, 3, H, W) in [-1, 1]: `x / 127.5 - 1`.
pub fn rgb_to_tensor(img: &RgbImage, dev: &Device) -> Result<Tensor> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut v = vec![0f32; 3 * w * h];
    for (x, y, px) in img.enumerate_pixels() {
        for c in 0..3 {
            v[c * w * h + y as usize * w + x as usize] = px.0[c] as f32 / 127.5 - 1.0;
        }
    }
    Tensor::from_vec(v, (1, 3, h, w), dev)
}

/// (1, 1, H, W) in [-1, 1].
pub fn gray_to_tensor(img: &GrayImage, dev: &Device) -> Result<Tensor> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let v: Vec<f32> = img
        .as_raw()
        .iter()
        .map(|&p| p as f32 / 127.5 - 1.0)
        .collect();
    Tensor::from_vec(v, (1, 1, h, w), dev)
}

/// (3, H, W) in [-1, 1] → RGB, `floor((x + 1) / 2 · 255)` like torchvision's `to_pil_image`.
pub fn tensor_to_rgb(t: &Tensor) -> Result<RgbImage> {
    let (c, h, w) = t.dims3()?;
    if c != 3 {
        candle_core::bail!("expected 3 channels, got {c}");
    }
    let v: Vec<f32> = t.flatten_all()?.to_vec1()?;
    let mut img = RgbImage::new(w as u32, h as u32);
    for (x, y, px) in img.enumerate_pixels_mut() {
        for ch in 0..3 {
            let val = v[ch * w * h + y as usize * w + x as usize].clamp(-1.0, 1.0);
            px.0[ch] = (((val + 1.0) * 0.5) * 255.0) as u8;
        }
    }
    Ok(img)
}
