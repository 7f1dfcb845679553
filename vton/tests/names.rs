//! The model built with the published configuration asks for exactly the tensors (names and
//! shapes) of the published checkpoint, as listed by the reference in
//! `fixtures/published_tensors.json`. Built without memory: every tensor handed out is a
//! broadcast scalar.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use atelier_vton::{published, TryOnModel};
use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

type Seen = Arc<Mutex<BTreeMap<String, Vec<usize>>>>;

struct Recorder(Seen);

impl SimpleBackend for Recorder {
    fn get(&self, s: Shape, name: &str, _: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let previous = self
            .0
            .lock()
            .unwrap()
            .insert(name.to_string(), s.dims().to_vec());
        assert!(previous.is_none(), "{name} requested twice");
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> Result<Tensor> {
        candle_core::bail!("unchecked get of {name}")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

#[test]
fn published_model_expects_the_published_checkpoint() {
    let seen: Seen = Arc::default();
    let vb = VarBuilder::from_backend(Box::new(Recorder(seen.clone())), DType::F32, Device::Cpu);
    TryOnModel::new(&published(), vb).unwrap();
    let ours = seen.lock().unwrap().clone();

    let text = std::fs::read_to_string(common::fixtures().join("published_tensors.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let reference: BTreeMap<String, Vec<usize>> = v["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let shape = t["shape"].as_array().unwrap();
            (
                t["name"].as_str().unwrap().to_string(),
                shape.iter().map(|d| d.as_u64().unwrap() as usize).collect(),
            )
        })
        .collect();
    let missing: Vec<_> = reference
        .keys()
        .filter(|k| !ours.contains_key(*k))
        .collect();
    let extra: Vec<_> = ours
        .keys()
        .filter(|k| !reference.contains_key(*k))
        .collect();
    assert!(missing.is_empty(), "not loaded by us: {missing:?}");
    assert!(extra.is_empty(), "not in the checkpoint: {extra:?}");
    for (name, shape) in &reference {
        assert_eq!(&ours[name], shape, "{name}");
    }
    assert_eq!(ours.len(), 366);
    // Parameters: everything but the patch-mixer token buffer.
    let params: usize = ours
        .iter()
        .filter(|(k, _)| k.as_str() != "patch_mixer_token")
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    assert_eq!(params as u64, v["parameters"].as_u64().unwrap());
    assert_eq!(params, 971_813_808);
}
