//! Try-On, the generative engine: FASHN VTON v1.5 (`atelier-vton`, candle) when its weights are
//! installed in `<models>/vton/` (`cargo xtask models vton --from DIR`). Built only with the
//! `vton` cargo feature; without it, or without weights, Try-On is the 2D engine (`tryon.rs`).
//!
//! The folder holds `model.safetensors` (the published checkpoint, memory-mapped) and
//! `config.json`, the configuration it was checked against when it was installed (the published
//! one; the tests install a small one). The weights are checked (header only) when the node
//! starts and loaded once, on the first job: f32 on the CPU, bf16 on a CUDA device
//! (`vton-cuda` feature).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use atelier_core::catalog::Category;
use atelier_vton::candle_core::Device;
use atelier_vton::{Config, TryOnOptions, Vton, WeightsInfo, WEIGHTS_FILE};
use image::{DynamicImage, RgbImage};
use serde_json::{json, Value};

use crate::imaging::{Encoded, EngineError};

/// The folder under the models dir that holds the installed weights.
pub const DIR: &str = "vton";
/// The configuration the installed weights were checked against.
pub const CONFIG_FILE: &str = "config.json";

/// The installed model: checked at start, loaded on first use.
pub struct VtonEngine {
    dir: PathBuf,
    config: Config,
    info: WeightsInfo,
    model: Mutex<Option<Arc<Vton>>>,
}

impl std::fmt::Debug for VtonEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VtonEngine")
            .field("dir", &self.dir)
            .field("info", &self.info)
            .finish()
    }
}

/// The device jobs run on: the first CUDA device with the `vton-cuda` feature (else the CPU).
fn device() -> Device {
    #[cfg(feature = "vton-cuda")]
    {
        match Device::cuda_if_available(0) {
            Ok(d) => return d,
            Err(e) => tracing::warn!(error = %e, "no CUDA device: VTON runs on the CPU"),
        }
    }
    Device::Cpu
}

impl VtonEngine {
    /// The engine for `<models>/vton/`: `None` when no weights are installed, an error when
    /// they are there but do not match their configuration.
    pub fn installed(models_dir: &Path) -> Option<Result<VtonEngine, String>> {
        let dir = models_dir.join(DIR);
        if !dir.join(WEIGHTS_FILE).exists() {
            return None;
        }
        Some((|| {
            let config = read_config(&dir)?;
            let info = atelier_vton::check_weights(&dir, &config).map_err(|e| e.to_string())?;
            Ok(VtonEngine {
                dir,
                config,
                info,
                model: Mutex::new(None),
            })
        })())
    }

    /// The output size (width, height) of the installed configuration: the most it delivers.
    pub fn max_size(&self) -> (u32, u32) {
        let (h, w) = self.config.input_shape;
        (w as u32, h as u32)
    }

    /// The engine's name, as reported in capabilities and with each result.
    pub fn name(&self) -> String {
        let (w, h) = self.max_size();
        let on = if cfg!(feature = "vton-cuda") {
            "CUDA bf16 when a GPU is there, else CPU f32"
        } else {
            "CPU f32"
        };
        format!(
            "vton: FASHN VTON v1.5 (candle, {on}), {w}×{h}, {} sampler steps",
            atelier_vton::SamplerSettings::default().steps
        )
    }

    pub fn weights(&self) -> &WeightsInfo {
        &self.info
    }

    /// The model, loaded (memory-mapped) on first use; concurrent first jobs wait for one load.
    fn model(&self) -> Result<Arc<Vton>, EngineError> {
        let mut slot = self.model.lock().expect("vton model lock");
        if let Some(m) = slot.as_ref() {
            return Ok(m.clone());
        }
        let dev = device();
        let dtype = if dev.is_cuda() {
            atelier_vton::candle_core::DType::BF16
        } else {
            atelier_vton::candle_core::DType::F32
        };
        let t = std::time::Instant::now();
        let m = Vton::load_with(&self.dir, &self.config, &dev, dtype).map_err(|e| {
            EngineError::Load {
                path: self.dir.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        tracing::info!(
            ms = t.elapsed().as_millis() as u64,
            cuda = dev.is_cuda(),
            "VTON model loaded"
        );
        let m = Arc::new(m);
        *slot = Some(m.clone());
        Ok(m)
    }

    /// Dresses the model photo in the product image: `outputs` images (seeds 42, 43, …), each
    /// the model photo's aspect ratio fitted in [`VtonEngine::max_size`]. `progress` hears the
    /// fraction of all sampler steps done after each step.
    pub fn run(
        &self,
        person: &DynamicImage,
        garment: Option<&DynamicImage>,
        category: Category,
        prompt: Option<&str>,
        outputs: u8,
        progress: &dyn Fn(f32),
    ) -> Result<Vec<Encoded>, EngineError> {
        let garment = garment.ok_or_else(|| {
            EngineError::Input("Try-On needs a product image: add a photo of the garment.".into())
        })?;
        let model = self.model()?;
        let (person, garment) = (person.to_rgb8(), garment.to_rgb8());
        let mut opts = TryOnOptions::new(category_of(category, prompt));
        let n = outputs.max(1) as usize;
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            opts.seed = 42 + i as u64;
            let img = model
                .try_on_with_progress(&person, &garment, &opts, |done, total| {
                    progress((i as f32 + done as f32 / total.max(1) as f32) / n as f32)
                })
                .map_err(|e| match e {
                    atelier_vton::Error::Input(m) => EngineError::Input(m),
                    e => EngineError::Run(e.to_string()),
                })?;
            out.push(encode(&img)?);
        }
        Ok(out)
    }
}

/// The category the model is conditioned on: the request's, else one named in the prompt,
/// else tops (the model needs one; Auto has no classifier here yet).
fn category_of(c: Category, prompt: Option<&str>) -> atelier_vton::Category {
    use atelier_vton::Category as V;
    match c {
        Category::Tops => V::Tops,
        Category::Bottoms => V::Bottoms,
        Category::OnePieces => V::OnePieces,
        Category::Auto => {
            let p = prompt.unwrap_or_default().to_ascii_lowercase();
            let any = |words: &[&str]| words.iter().any(|w| p.contains(w));
            if any(&["dress", "jumpsuit", "romper", "overall", "gown"]) {
                V::OnePieces
            } else if any(&[
                "trouser", "pants", "jeans", "shorts", "skirt", "leggings", "chinos",
            ]) {
                V::Bottoms
            } else {
                V::Tops
            }
        }
    }
}

fn encode(img: &RgbImage) -> Result<Encoded, EngineError> {
    use image::ImageEncoder;
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(
            img.as_raw(),
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| EngineError::Encode(e.to_string()))?;
    Ok(Encoded {
        png,
        width: img.width(),
        height: img.height(),
    })
}

/// `config.json`: the configuration as the reference's constructor arguments.
pub fn config_to_json(c: &Config) -> Value {
    json!({
        "input_shape": [c.input_shape.0, c.input_shape.1],
        "hidden_size": c.hidden_size,
        "n_heads": c.n_heads,
        "double_blocks_depth": c.double_blocks_depth,
        "single_blocks_depth": c.single_blocks_depth,
        "mlp_ratio": c.mlp_ratio,
        "channels_in": c.channels_in,
        "patch_size": c.patch_size,
        "theta": c.theta,
        "axes_dim": c.axes_dim,
        "qkv_bias": c.qkv_bias,
        "guidance_embed": c.guidance_embed,
        "n_classes": c.n_classes,
        "use_patch_mixer": c.use_patch_mixer,
        "patch_mixer_depth": c.patch_mixer_depth,
    })
}

/// Reads a configuration written by [`config_to_json`] (or the crate's `small_config.json`);
/// every field is required and checked.
pub fn config_from_json(v: &Value) -> Result<Config, String> {
    let field = |k: &str| v.get(k).ok_or_else(|| format!("{k} is missing"));
    let u = |k: &str| -> Result<usize, String> {
        field(k)?
            .as_u64()
            .map(|x| x as usize)
            .ok_or_else(|| format!("{k} must be a whole number"))
    };
    let f = |k: &str| -> Result<f64, String> {
        field(k)?
            .as_f64()
            .ok_or_else(|| format!("{k} must be a number"))
    };
    let b = |k: &str| -> Result<bool, String> {
        field(k)?
            .as_bool()
            .ok_or_else(|| format!("{k} must be true or false"))
    };
    let list = |k: &str| -> Result<Vec<usize>, String> {
        field(k)?
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_u64().map(|x| x as usize))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| format!("{k} must be a list of whole numbers"))
    };
    let shape = list("input_shape")?;
    let [h, w] = shape[..] else {
        return Err("input_shape must be [height, width]".into());
    };
    let c = Config {
        input_shape: (h, w),
        hidden_size: u("hidden_size")?,
        n_heads: u("n_heads")?,
        double_blocks_depth: u("double_blocks_depth")?,
        single_blocks_depth: u("single_blocks_depth")?,
        mlp_ratio: f("mlp_ratio")?,
        channels_in: u("channels_in")?,
        patch_size: u("patch_size")?,
        theta: f("theta")?,
        axes_dim: list("axes_dim")?,
        qkv_bias: b("qkv_bias")?,
        guidance_embed: b("guidance_embed")?,
        n_classes: u("n_classes")?,
        use_patch_mixer: b("use_patch_mixer")?,
        patch_mixer_depth: u("patch_mixer_depth")?,
    };
    c.validate().map_err(|e| e.to_string())?;
    Ok(c)
}

/// The installed folder's configuration: its `config.json`, else the published one.
fn read_config(dir: &Path) -> Result<Config, String> {
    let path = dir.join(CONFIG_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| e.to_string())
            .and_then(|v| config_from_json(&v))
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(atelier_vton::published()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Checks `from/model.safetensors` against `cfg` (every tensor's name and shape, a float dtype;
/// header only) and installs it as `<models>/vton/` with its `config.json`: hard-linked when
/// both folders are on one filesystem, else copied. The new folder is assembled beside the old
/// one and renamed into place, so a running node never maps a half-written file. Nothing is
/// downloaded. What it installed is returned.
pub fn install(from: &Path, models_dir: &Path, cfg: &Config) -> Result<WeightsInfo, String> {
    let info = atelier_vton::check_weights(from, cfg).map_err(|e| {
        format!(
            "{} does not hold the FASHN VTON v1.5 weights this node expects: {e}",
            from.display()
        )
    })?;
    std::fs::create_dir_all(models_dir).map_err(|e| format!("{}: {e}", models_dir.display()))?;
    let dest = models_dir.join(DIR);
    let staging = models_dir.join(format!("{DIR}.installing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let (src, dst) = (from.join(WEIGHTS_FILE), staging.join(WEIGHTS_FILE));
    if std::fs::hard_link(&src, &dst).is_err() {
        std::fs::copy(&src, &dst)
            .map_err(|e| format!("copying {} to {}: {e}", src.display(), dst.display()))?;
    }
    let text = serde_json::to_string_pretty(&config_to_json(cfg)).expect("config serialises");
    std::fs::write(staging.join(CONFIG_FILE), text + "\n")
        .map_err(|e| format!("{}: {e}", staging.display()))?;
    let old = models_dir.join(format!("{DIR}.old-{}", std::process::id()));
    if dest.exists() {
        std::fs::rename(&dest, &old).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    std::fs::rename(&staging, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(info)
}
