//! The model's configuration: the published one ([`published`]) and any smaller one (tests).

use crate::Error;

/// Hyper-parameters of the try-on MMDiT, field for field the reference's constructor arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Model input (height, width) in pixels; a multiple of `patch_size` on both axes.
    pub input_shape: (usize, usize),
    pub hidden_size: usize,
    pub n_heads: usize,
    pub double_blocks_depth: usize,
    pub single_blocks_depth: usize,
    /// Width of the feed-forward layers: `floor(hidden_size * mlp_ratio)`.
    pub mlp_ratio: f64,
    /// Colour channels of the generated image (3).
    pub channels_in: usize,
    pub patch_size: usize,
    /// RoPE base.
    pub theta: f64,
    /// RoPE dimensions per position axis (constant, row, column); they sum to the head size.
    pub axes_dim: Vec<usize>,
    pub qkv_bias: bool,
    /// A guidance-distillation embedder (absent in v1.5).
    pub guidance_embed: bool,
    /// Garment categories (tops, bottoms, one-pieces); one more class, 0, is the null class.
    pub n_classes: usize,
    pub use_patch_mixer: bool,
    pub patch_mixer_depth: usize,
}

/// The configuration of the published checkpoint (FASHN VTON v1.5, 972M parameters).
pub fn published() -> Config {
    Config {
        input_shape: (864, 576),
        hidden_size: 1280,
        n_heads: 10,
        double_blocks_depth: 8,
        single_blocks_depth: 16,
        mlp_ratio: 4.0,
        channels_in: 3,
        patch_size: 12,
        theta: 10_000.0,
        axes_dim: vec![16, 56, 56],
        qkv_bias: true,
        guidance_embed: false,
        n_classes: 3,
        use_patch_mixer: true,
        patch_mixer_depth: 4,
    }
}

/// The largest (and only) output the published model generates: width × height in pixels.
/// Inputs of any size are fitted into it (aspect preserved, padded) and the padding is cut off
/// again, so a result is at most this large.
pub const MAX_RESOLUTION: (u32, u32) = (576, 864);

impl Config {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.n_heads
    }

    pub fn mlp_hidden(&self) -> usize {
        (self.hidden_size as f64 * self.mlp_ratio) as usize
    }

    /// Patch grid (rows, columns).
    pub fn grid(&self) -> (usize, usize) {
        (
            self.input_shape.0 / self.patch_size,
            self.input_shape.1 / self.patch_size,
        )
    }

    /// Tokens per stream (person or garment).
    pub fn tokens(&self) -> usize {
        let (h, w) = self.grid();
        h * w
    }

    /// Values per output token: `channels_in * patch_size²`.
    pub fn patch_values(&self) -> usize {
        self.channels_in * self.patch_size * self.patch_size
    }

    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.n_heads == 0 || !self.hidden_size.is_multiple_of(self.n_heads) {
            return bad(format!(
                "hidden_size {} not divisible by n_heads {}",
                self.hidden_size, self.n_heads
            ));
        }
        if self.axes_dim.iter().sum::<usize>() != self.head_dim() {
            return bad(format!(
                "axes_dim {:?} must sum to the head size {}",
                self.axes_dim,
                self.head_dim()
            ));
        }
        if self.axes_dim.len() != 3 || self.axes_dim.iter().any(|d| d % 2 != 0) {
            return bad(format!("axes_dim {:?}: three even sizes", self.axes_dim));
        }
        let (h, w) = self.input_shape;
        if self.patch_size == 0 || h % self.patch_size != 0 || w % self.patch_size != 0 {
            return bad(format!(
                "input_shape {:?} not a multiple of patch_size {}",
                self.input_shape, self.patch_size
            ));
        }
        if self.guidance_embed {
            return bad("guidance_embed is not implemented (v1.5 does not use it)".into());
        }
        Ok(())
    }
}
