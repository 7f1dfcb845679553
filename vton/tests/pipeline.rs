//! The pipeline end to end on the small random checkpoint: a result of the right size comes
//! back (the pixels are noise; the plumbing is real), deterministically for a seed.

mod common;

use atelier_vton::{Category, GarmentPhoto, SamplerSettings, TryOnOptions, Vton};
use candle_core::Device;
use image::{Rgb, RgbImage};

fn photo(w: u32, h: u32, seed: u8) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        Rgb([
            (x as u8).wrapping_mul(seed),
            (y as u8).wrapping_add(seed),
            seed,
        ])
    })
}

#[test]
fn try_on_returns_the_person_aspect_fitted() {
    let vton = common::small_model();
    assert_eq!(vton.max_resolution(), (16, 24));
    let mut opts = TryOnOptions::new(Category::Bottoms);
    opts.sampler = SamplerSettings {
        steps: 3,
        ..SamplerSettings::default()
    };
    // Wider than the model's 2:3: fitted to 16 wide, 8 high after the padding is cut off.
    let person = photo(40, 20, 3);
    let garment = photo(30, 50, 7);
    let a = vton.try_on(&person, &garment, &opts).unwrap();
    assert_eq!(a.dimensions(), (16, 8));
    let b = vton.try_on(&person, &garment, &opts).unwrap();
    assert_eq!(a, b, "same seed, same image");
    opts.seed += 1;
    opts.garment_photo = GarmentPhoto::Model;
    let c = vton.try_on(&person, &garment, &opts).unwrap();
    assert_ne!(a, c);
    // A small person image is not upsampled by the pre-resize, then fitted to the input.
    let small = vton.try_on(&photo(8, 12, 1), &garment, &opts).unwrap();
    assert_eq!(small.dimensions(), (16, 24));
}

#[test]
fn missing_weights_are_refused() {
    let dir = std::env::temp_dir().join("atelier-vton-no-weights");
    std::fs::create_dir_all(&dir).unwrap();
    let err = Vton::load(&dir, &Device::Cpu).err().unwrap();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn wrong_config_is_refused_with_the_tensor() {
    let mut cfg = common::small_config();
    cfg.hidden_size = 64;
    cfg.axes_dim = vec![8, 12, 12];
    let err = Vton::load_with(
        &common::fixtures(),
        &cfg,
        &Device::Cpu,
        candle_core::DType::F32,
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("shape mismatch"), "{err}");
}
