//! Seconds per sampler step (and per image) of the PUBLISHED configuration with random weights.
//!
//! ```text
//! cargo run --release -p atelier-vton --example bench_step -- [--steps N] [--bf16] [--cuda]
//! ```
//! One step is one forward pass of the doubled (classifier-free guidance) batch at 864×576
//! plus the Euler update, as the reference pipeline runs it; `--steps 30` is a whole image.
//! Prints the peak resident memory (VmHWM) at the end (CPU memory; on CUDA see nvidia-smi).

use std::collections::HashMap;
use std::time::Instant;

use atelier_vton::{published, sampler, Conditioning, TryOnModel};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> atelier_vton::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let steps: usize = args
        .iter()
        .position(|a| a == "--steps")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.parse().expect("--steps N"))
        .unwrap_or(1);
    let device = if flag("--cuda") {
        Device::new_cuda(0)?
    } else {
        Device::Cpu
    };
    let dtype = if flag("--bf16") {
        DType::BF16
    } else {
        DType::F32
    };
    let cfg = published();
    let (h, w) = cfg.input_shape;
    println!(
        "FASHN VTON v1.5 published config, random weights, {w}x{h}, {dtype:?} on {device:?}, {steps} step(s)"
    );

    let t0 = Instant::now();
    // Random init through a VarMap, then the same storage as plain tensors: a model built on
    // `Var`s would record the autograd graph and keep every activation alive.
    let varmap = VarMap::new();
    TryOnModel::new(&cfg, VarBuilder::from_varmap(&varmap, dtype, &device))?;
    let tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .expect("varmap")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    drop(varmap);
    let params: usize = tensors.values().map(|t| t.elem_count()).sum();
    let model = TryOnModel::new(&cfg, VarBuilder::from_tensors(tensors, dtype, &device))?;
    println!(
        "built in {:.1} s: {params} values ({:.2} GB)",
        t0.elapsed().as_secs_f64(),
        (params * dtype.size_in_bytes()) as f64 / 1e9
    );

    let img = |c: usize| -> candle_core::Result<Tensor> {
        Tensor::rand(-1f32, 1f32, (1, c, h, w), &device)?.to_dtype(dtype)
    };
    let cond = Conditioning {
        ca: img(3)?,
        garment: img(3)?,
        person_pose: img(1)?,
        garment_pose: img(1)?,
        categories: vec![1],
    };
    let mut images = sampler::noise(7, (1, 3, h, w), &device)?.to_dtype(dtype)?;
    let schedule = sampler::schedule(30, 1.5);
    let mut times = Vec::new();
    for i in 0..steps {
        let (tc, tp) = (schedule[i % 30], schedule[i % 30 + 1]);
        let t = Instant::now();
        images = sampler::euler_step(&model, &images, tc, tp, &cond, Some(1.5))?;
        device.synchronize()?;
        let s = t.elapsed().as_secs_f64();
        println!("step {}: {s:.3} s", i + 1);
        times.push(s);
    }
    let mean = times.iter().sum::<f64>() / times.len().max(1) as f64;
    println!(
        "mean {mean:.3} s per step; {:.1} s per 30-step image",
        30.0 * mean
    );
    if let Some(m) = peak_rss_mib() {
        println!("peak resident memory {m:.0} MiB");
    }
    Ok(())
}
