//! Rectified-flow Euler sampler with classifier-free guidance, as the reference pipeline runs
//! it: a shifted schedule from t = 0 (noise) to t = 1 (image), guidance on every step but the
//! last `skip_cfg_last_n_steps`.

use candle_core::{DType, Device, Result, Tensor};

use crate::model::{Conditioning, TryOnModel};

/// Sampling settings; the defaults are the reference pipeline's.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerSettings {
    pub steps: usize,
    pub time_shift_mu: f64,
    pub guidance_scale: f64,
    pub skip_cfg_last_n_steps: usize,
}

impl Default for SamplerSettings {
    fn default() -> Self {
        Self {
            steps: 30,
            time_shift_mu: 1.5,
            guidance_scale: 1.5,
            skip_cfg_last_n_steps: 1,
        }
    }
}

/// `steps + 1` times from 0 to 1: `linspace(1, 0)` shifted by `exp(-mu) / (exp(-mu) + 1/t - 1)`
/// and reversed, in f32 arithmetic like the reference's (so the values agree to the bit).
pub fn schedule(steps: usize, mu: f64) -> Vec<f32> {
    let n = steps + 1;
    let (start, end) = (1.0f32, 0.0f32);
    let step = (end - start) / steps.max(1) as f32;
    let half = n / 2;
    let em = (-mu).exp() as f32;
    let mut ts: Vec<f32> = (0..n)
        .map(|i| {
            // torch.linspace fills the first half from the start and the rest from the end,
            // with a fused multiply-add.
            let t = if i < half {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((n - 1 - i) as f32, end)
            };
            // torch evaluates `scalar / tensor` as `tensor.reciprocal() * scalar`.
            em * (1.0f32 / (em + (1.0f32 / t - 1.0f32)))
        })
        .collect();
    ts.reverse();
    ts
}

/// One Euler step from `t_curr` to `t_prev` (`t_prev > t_curr`), with guidance when
/// `guidance` is `Some(scale)`.
pub fn euler_step(
    model: &TryOnModel,
    images: &Tensor,
    t_curr: f32,
    t_prev: f32,
    cond: &Conditioning,
    guidance: Option<f64>,
) -> Result<Tensor> {
    let b = images.dim(0)?;
    let times = vec![t_curr; b];
    let v = match guidance {
        Some(g) => {
            let (v_c, v_u) = model.forward_for_cfg(images, &times, cond)?;
            (&v_u + ((v_c - &v_u)? * g)?)?
        }
        None => model.forward(images, &times, cond, None)?,
    };
    // The reference subtracts the two times in double precision.
    let dt = t_prev as f64 - t_curr as f64;
    images + (v * dt)?
}

/// The whole sampling loop from `noise` (B, C, H, W); returns images in [-1, 1] (f32).
pub fn sample(
    model: &TryOnModel,
    noise: &Tensor,
    cond: &Conditioning,
    settings: &SamplerSettings,
    mut on_step: impl FnMut(usize, usize),
) -> Result<Tensor> {
    let ts = schedule(settings.steps, settings.time_shift_mu);
    let mut images = noise.to_dtype(model.dtype())?;
    for (i, w) in ts.windows(2).enumerate() {
        let skip = settings.skip_cfg_last_n_steps > 0
            && i >= settings
                .steps
                .saturating_sub(settings.skip_cfg_last_n_steps);
        let g = (!skip).then_some(settings.guidance_scale);
        images = euler_step(model, &images, w[0], w[1], cond, g)?;
        on_step(i + 1, settings.steps);
    }
    images.to_dtype(DType::F32)?.clamp(-1.0f32, 1.0f32)
}

/// Standard-normal noise from a seed (SplitMix64 + Box–Muller). The reference draws its noise
/// from torch's generator, so the same seed does not give the same image as the reference.
pub fn noise(seed: u64, shape: (usize, usize, usize, usize), dev: &Device) -> Result<Tensor> {
    let n = shape.0 * shape.1 * shape.2 * shape.3;
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        // Uniform in (0, 1]: never 0, so the logarithm is finite.
        let u1 = ((next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (next() >> 11) as f64 / (1u64 << 53) as f64;
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(n);
    Tensor::from_vec(out, shape, dev)
}
