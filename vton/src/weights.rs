//! What a weights folder must hold, checked without loading it: for the installer
//! (`cargo xtask models vton --from DIR`) and for the node's capability report.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::{safetensors::MmapedSafetensors, DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

use crate::{Config, Error, Result, TryOnModel, WEIGHTS_FILE};

type Seen = Arc<Mutex<BTreeMap<String, Vec<usize>>>>;

/// A VarBuilder backend that records what the model asks for and hands out broadcast scalars
/// (no memory), so the published model can be "built" anywhere.
struct Recorder(Seen);

impl SimpleBackend for Recorder {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.0
            .lock()
            .expect("recorder lock")
            .insert(name.to_string(), s.dims().to_vec());
        Tensor::zeros((), dtype, dev)?.broadcast_as(s)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("unchecked get of {name}")
    }

    fn contains_tensor(&self, _: &str) -> bool {
        true
    }
}

/// Every tensor (name → shape) the model of `cfg` loads, taken from the model code itself.
pub fn expected_tensors(cfg: &Config) -> Result<BTreeMap<String, Vec<usize>>> {
    let seen: Seen = Arc::default();
    let vb = VarBuilder::from_backend(Box::new(Recorder(seen.clone())), DType::F32, Device::Cpu);
    TryOnModel::new(cfg, vb)?;
    let out = seen.lock().expect("recorder lock").clone();
    Ok(out)
}

/// What [`check_weights`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightsInfo {
    pub tensors: usize,
    /// Values in all tensors.
    pub values: usize,
    /// The stored dtype (bf16 for the published checkpoint).
    pub dtype: DType,
    pub bytes: u64,
}

/// Checks `dir/model.safetensors` against `cfg` (names, shapes, float dtypes) by reading its
/// header only. Extra tensors are refused too, as the reference's strict load would.
pub fn check_weights(dir: &Path, cfg: &Config) -> Result<WeightsInfo> {
    let file = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::metadata(&file)
        .map_err(|e| Error::Weights(format!("{}: {e}", file.display())))?
        .len();
    // SAFETY: read-only map of a file that is not modified while it is checked.
    let st = unsafe { MmapedSafetensors::new(&file) }
        .map_err(|e| Error::Weights(format!("{}: {e}", file.display())))?;
    let expected = expected_tensors(cfg)?;
    let mut found = BTreeMap::new();
    let mut dtype = None;
    for (name, view) in st.tensors() {
        let d =
            DType::try_from(view.dtype()).map_err(|e| Error::Weights(format!("{name}: {e}")))?;
        if !matches!(d, DType::BF16 | DType::F16 | DType::F32) {
            return Err(Error::Weights(format!("{name}: dtype {d:?}")));
        }
        dtype.get_or_insert(d);
        found.insert(name, view.shape().to_vec());
    }
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !found.contains_key(*k))
        .collect();
    let extra: Vec<&String> = found
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        // The first few names of each kind, so the message says what is wrong.
        let names = |v: &[&String]| {
            let mut s = v
                .iter()
                .take(3)
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            if v.len() > 3 {
                s.push_str(", …");
            }
            s
        };
        return Err(Error::Weights(format!(
            "{}: {} of the model's {} tensors missing ({}), {} unexpected ({})",
            file.display(),
            missing.len(),
            expected.len(),
            names(&missing),
            extra.len(),
            names(&extra)
        )));
    }
    for (name, shape) in &expected {
        if &found[name] != shape {
            return Err(Error::Weights(format!(
                "{name}: shape {:?}, expected {shape:?}",
                found[name]
            )));
        }
    }
    Ok(WeightsInfo {
        tensors: found.len(),
        values: found.values().map(|s| s.iter().product::<usize>()).sum(),
        dtype: dtype.unwrap_or(DType::F32),
        bytes,
    })
}
