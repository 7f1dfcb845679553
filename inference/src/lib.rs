//! An Atelier inference node: accepts signed jobs from the edge, runs the tool's pipeline,
//! uploads outputs through the signed URLs in the job and reports events to the callback URL.
//!
//! Invariant: the node never sees user credentials; it trusts only requests signed with the
//! shared job secret, each used once inside the replay window.

pub mod analyze;
pub mod bgremove;
pub mod cutout;
pub mod decode;
pub mod engines;
pub mod export;
pub mod face;
pub mod faceswap;
pub mod fetch;
pub mod imaging;
pub mod metrics;
pub mod packshot;
pub mod pose;

pub mod reframe;
pub mod server;
pub mod tryon;
pub mod upscale;
pub mod upstream;
pub mod video;
#[cfg(feature = "vton")]
pub mod vton;

pub use server::{router, Config, Node};
