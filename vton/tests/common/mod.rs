//! Shared helpers of the equality tests: the fixtures written by `reference/make_fixtures.py`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use atelier_vton::{model::Rope, Conditioning, Config, Vton};
use candle_core::{DType, Device, IndexOp, Tensor};

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn load(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixtures().join(name), &Device::Cpu).expect(name)
}

pub fn small_config() -> Config {
    let text = std::fs::read_to_string(fixtures().join("small_config.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let u = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("{k}")) as usize;
    let pair = |k: &str| {
        (
            v[k][0].as_u64().unwrap() as usize,
            v[k][1].as_u64().unwrap() as usize,
        )
    };
    Config {
        input_shape: pair("input_shape"),
        hidden_size: u("hidden_size"),
        n_heads: u("n_heads"),
        double_blocks_depth: u("double_blocks_depth"),
        single_blocks_depth: u("single_blocks_depth"),
        mlp_ratio: v["mlp_ratio"].as_f64().unwrap(),
        channels_in: u("channels_in"),
        patch_size: u("patch_size"),
        theta: v["theta"].as_f64().unwrap(),
        axes_dim: v["axes_dim"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect(),
        qkv_bias: v["qkv_bias"].as_bool().unwrap(),
        guidance_embed: v["guidance_embed"].as_bool().unwrap(),
        n_classes: u("n_classes"),
        use_patch_mixer: v["use_patch_mixer"].as_bool().unwrap(),
        patch_mixer_depth: u("patch_mixer_depth"),
    }
}

/// The small random-weights model, loaded from the fixtures folder like a real weights folder.
pub fn small_model() -> Vton {
    Vton::load_with(&fixtures(), &small_config(), &Device::Cpu, DType::F32).unwrap()
}

/// Largest absolute difference; panics on a shape mismatch.
pub fn max_abs_diff(ours: &Tensor, reference: &Tensor) -> f32 {
    assert_eq!(ours.dims(), reference.dims(), "shape");
    (ours.to_dtype(DType::F32).unwrap() - reference.to_dtype(DType::F32).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

pub fn assert_close(what: &str, ours: &Tensor, reference: &Tensor, tol: f32) {
    let d = max_abs_diff(ours, reference);
    let scale = reference
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    println!("{what}: max abs diff {d:.3e} (max |ref| {scale:.3})");
    assert!(d <= tol, "{what}: max abs diff {d} > {tol}");
}

/// The reference's RoPE table (B, 1, L, D/2, 2, 2) as cos/sin (L, D/2).
pub fn rope_from(pe: &Tensor) -> Rope {
    let t = pe.i((0, 0)).unwrap();
    Rope {
        cos: t.i((.., .., 0, 0)).unwrap().contiguous().unwrap(),
        sin: t.i((.., .., 1, 0)).unwrap().contiguous().unwrap(),
    }
}

pub fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32).unwrap().to_vec1().unwrap()
}

pub fn u32s(t: &Tensor) -> Vec<u32> {
    t.to_dtype(DType::I64)
        .unwrap()
        .to_vec1::<i64>()
        .unwrap()
        .into_iter()
        .map(|x| x as u32)
        .collect()
}

pub fn conditioning(f: &HashMap<String, Tensor>) -> Conditioning {
    Conditioning {
        ca: f["ca"].clone(),
        garment: f["garment"].clone(),
        person_pose: f["person_pose"].clone(),
        garment_pose: f["garment_pose"].clone(),
        categories: u32s(&f["categories"]),
    }
}
