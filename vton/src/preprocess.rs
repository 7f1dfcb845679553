//! Image ↔ tensor plumbing of the pipeline: the aspect-preserving fit, the symmetric black
//! padding to the model's input and its removal, [-1, 1] normalisation.
//!
//! The reference resizes with PIL's LANCZOS (pre-resize) and OpenCV's INTER_AREA / LANCZOS4;
//! this module uses `image`'s Lanczos3 for both, so pixels differ slightly (not proven equal).

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

/// Aspect-preserving resize so that the image fits in `target` (w, h) (sizes truncated, as the
/// reference's `int(scale * size)`).
pub fn fit<P>(
    img: &ImageBuffer<P, Vec<P::Subpixel>>,
    target: (u32, u32),
    allow_upsampling: bool,
) -> ImageBuffer<P, Vec<P::Subpixel>>
where
    P: Pixel + 'static,
{
    let s = fit_scale(img.width(), img.height(), target, allow_upsampling);
    if s == 1.0 {
        return img.clone();
    }
    let nw = ((s * img.width() as f64) as u32).max(1);
    let nh = ((s * img.height() as f64) as u32).max(1);
    imageops::resize(img, nw, nh, imageops::FilterType::Lanczos3)
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
