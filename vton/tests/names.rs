//! The model built with the published configuration asks for exactly the tensors (names and
//! shapes) of the published checkpoint, as listed by the reference in
//! `fixtures/published_tensors.json` (built without memory: every tensor handed out is a
//! broadcast scalar). And the header check of a weights folder.

mod common;

use std::collections::BTreeMap;

use atelier_vton::{check_weights, expected_tensors, published};
use candle_core::DType;

#[test]
fn published_model_expects_the_published_checkpoint() {
    let ours = expected_tensors(&published()).unwrap();
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

#[test]
fn weights_folder_is_checked_from_its_header() {
    let info = check_weights(&common::fixtures(), &common::small_config()).unwrap();
    assert_eq!(info.dtype, DType::F32);
    assert_eq!(
        info.tensors,
        expected_tensors(&common::small_config()).unwrap().len()
    );
    assert!(info.bytes > 0 && info.values > 0);
    // The small checkpoint is not the published one: refused, naming what is missing.
    let err = check_weights(&common::fixtures(), &published()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}
