//! The Assistant's image analysis on real photos: what each one is (a model photo, a product
//! photo, a face), its framing and background, and the tool core's reply puts first.

mod common;

use atelier_core::assistant::{analysis_reply, Framing, Subject};
use atelier_core::Tool;
use atelier_inference::analyze::analyze;

#[test]
fn the_seated_model_is_a_full_body_model_photo_on_a_busy_background() {
    let f = analyze(common::remover(), &common::fixture("model-photo.webp")).unwrap();
    eprintln!("model-photo: {f:?}");
    assert_eq!((f.width, f.height), (832, 1248));
    assert!(f.person && f.faces >= 1, "{f:?}");
    assert_eq!(f.framing, Some(Framing::FullBody));
    assert!(!f.plain_background, "{f:?}");
    assert_eq!(f.subject(), Subject::Model);
    assert_eq!(f.fitting_tools()[0].0, Tool::TryOn);
    eprintln!("{}", analysis_reply(&[f]));
}

#[test]
fn the_on_model_garment_photo_is_a_model_photo_on_a_plain_background() {
    let f = analyze(common::remover(), &common::fixture("garment-on-model.webp")).unwrap();
    eprintln!("garment-on-model: {f:?}");
    assert!(f.person, "{f:?}");
    assert!(f.plain_background, "{f:?}");
    assert_eq!(f.subject(), Subject::Model);
}

#[test]
fn a_flat_product_shot_is_a_product_photo() {
    let f = analyze(common::remover(), &common::flat_tshirt()).unwrap();
    eprintln!("flat t-shirt: {f:?}");
    assert!(!f.person && f.faces == 0, "{f:?}");
    assert!(f.plain_background, "{f:?}");
    assert_eq!(f.subject(), Subject::Product);
    assert_eq!(f.fitting_tools()[0].0, Tool::ProductToModel);
}

#[test]
fn the_astronaut_portrait_has_a_face_and_an_upper_body() {
    let f = analyze(common::remover(), &common::fixture("astronaut.jpg")).unwrap();
    eprintln!("astronaut: {f:?}");
    assert!(f.faces >= 1, "{f:?}");
    assert!(
        matches!(f.framing, Some(Framing::UpperBody | Framing::CloseUp)),
        "{f:?}"
    );
    assert_ne!(f.subject(), Subject::Product);
}

#[test]
fn a_ghost_mannequin_packshot_is_a_product_photo() {
    use atelier_core::pricing::Resolution;
    use atelier_inference::packshot::{self, PackshotSpec};
    let spec = PackshotSpec {
        aspect_ratio: None,
        resolution: Resolution::K1,
        variants: 1,
        prompt: None,
    };
    let out = packshot::run(
        common::remover(),
        &common::fixture("garment-on-model.webp"),
        &spec,
    )
    .unwrap();
    let img = image::load_from_memory(&out[0].png).unwrap();
    let f = analyze(common::remover(), &img).unwrap();
    eprintln!("packshot: {f:?}");
    assert_eq!(f.subject(), Subject::Product, "{f:?}");
    assert!(f.plain_background, "{f:?}");
}
