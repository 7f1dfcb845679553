//! Atelier's product rules, once, for the browser (wasm32), the edge (Worker, wasm32) and the
//! inference service (native).
//!
//! Invariant: nothing here does I/O, reads a clock or draws randomness. Time and ids are passed in.

pub mod account;
pub mod assistant;
pub mod billing;
pub mod catalog;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod gallery;
pub mod image;
pub mod job;
pub mod ledger;
pub mod openapi;
pub mod org;
pub mod pricing;
pub mod sign;
pub mod ssrf;
pub mod stripe;
pub mod studio;
pub mod subscription;
pub mod tool;
pub mod video;
pub mod views;
pub mod widget;
pub mod zip;

pub use image::{ImageFormat, ImageInfo, ImageProblem, UploadLimits};
pub use job::{ErrorName, JobEvent, JobRequest, JobStatus, OutputRef, OutputSlot};
pub use tool::{Background, FieldError, Tool};
