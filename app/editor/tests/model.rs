//! The editor's model: crop math, rotation bounds, flips, scale, undo/redo of every action.

use atelier_editor::model::*;
use atelier_editor::raster::{self, Rgba};

fn ed() -> Editor {
    Editor::new(400, 300)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-6
}

fn full(e: &Editor) -> Rect {
    Editor::new(e.width, e.height).edit.crop
}

#[test]
fn a_new_editor_exports_the_image_as_it_is() {
    let e = ed();
    assert_eq!(e.output_size(), (400, 300));
    let a = e.export_affine();
    assert_eq!(a.apply([0.5, 0.5]), [0.5, 0.5]);
    assert_eq!(a.apply([399.5, 299.5]), [399.5, 299.5]);
}

#[test]
fn quarter_turns_swap_the_size_and_map_corners() {
    let mut e = ed();
    e.update(Msg::RotateQuarter { clockwise: true });
    assert_eq!(e.output_size(), (300, 400));
    // After a clockwise turn the output's top-left pixel comes from the source's bottom-left.
    let s = e.export_affine().apply([0.5, 0.5]);
    assert!(close(s[0], 0.5) && close(s[1], 299.5), "{s:?}");
    e.update(Msg::RotateQuarter { clockwise: false });
    assert_eq!(e.edit.orient, Orient::IDENTITY);
    for _ in 0..4 {
        e.update(Msg::RotateQuarter { clockwise: true });
    }
    assert_eq!(e.edit.orient, Orient::IDENTITY);
    assert_eq!(e.edit.crop, full(&e));
}

#[test]
fn flips_mirror_and_twice_is_nothing() {
    let mut e = ed();
    e.update(Msg::FlipH);
    let s = e.export_affine().apply([0.5, 0.5]);
    assert!(close(s[0], 399.5) && close(s[1], 0.5), "{s:?}");
    e.update(Msg::FlipV);
    let s = e.export_affine().apply([0.5, 0.5]);
    assert!(close(s[0], 399.5) && close(s[1], 299.5), "{s:?}");
    e.update(Msg::FlipH);
    e.update(Msg::FlipV);
    assert_eq!(e.edit.orient, Orient::IDENTITY);
}

#[test]
fn a_flip_mirrors_an_off_centre_crop_and_the_angle() {
    let mut e = ed();
    e.update(Msg::Begin);
    e.update(Msg::DragHandle {
        handle: Handle::new(true, false, false, false),
        delta: [100.0, 0.0],
    });
    e.update(Msg::End);
    assert!(close(e.edit.crop.x0, -100.0));
    e.update(Msg::FlipH);
    assert!(close(e.edit.crop.x0, -200.0) && close(e.edit.crop.x1, 100.0));
    // The same source pixels stay in the crop.
    let mut g = ed();
    g.update(Msg::Begin);
    g.update(Msg::DragHandle {
        handle: Handle::new(true, false, false, false),
        delta: [100.0, 0.0],
    });
    g.update(Msg::End);
    let a = g.export_affine().apply([0.5, 10.5]);
    let b = e.export_affine().apply([299.5, 10.5]);
    assert!(close(a[0], b[0]) && close(a[1], b[1]), "{a:?} {b:?}");
}

#[test]
fn fine_rotation_keeps_the_crop_inside_the_picture() {
    for deg in [-45.0, -30.0, -7.0, 0.5, 7.0, 20.0, 45.0, 60.0] {
        let mut e = ed();
        e.update(Msg::Begin);
        e.update(Msg::Angle(deg));
        e.update(Msg::End);
        assert!(e.edit.angle.abs() <= MAX_ANGLE);
        let crop = e.edit.crop;
        for q in crop.corners() {
            assert!(e.inside(&e.edit, q), "{deg}: corner {q:?} outside");
        }
        // The largest crop of that aspect: a little larger is outside.
        let big = Rect {
            x0: crop.x0 * 1.01,
            y0: crop.y0 * 1.01,
            x1: crop.x1 * 1.01,
            y1: crop.y1 * 1.01,
        };
        assert!(
            big.corners().iter().any(|&q| !e.inside(&e.edit, q)),
            "{deg}: not the largest"
        );
        // Aspect kept.
        assert!(close(crop.w() / crop.h(), 400.0 / 300.0), "{deg}");
    }
}

#[test]
fn a_square_rotated_7_degrees_has_the_known_size() {
    let mut e = Editor::new(4096, 4096);
    e.update(Msg::Begin);
    e.update(Msg::Angle(7.0));
    e.update(Msg::End);
    let t = 7f64.to_radians();
    let side = 4096.0 / (t.cos() + t.sin());
    assert_eq!(e.output_size(), (side.round() as u32, side.round() as u32));
}

#[test]
fn the_slider_gesture_works_from_its_start() {
    let mut e = ed();
    e.update(Msg::Begin);
    e.update(Msg::Angle(30.0));
    let small = e.edit.crop;
    e.update(Msg::Angle(0.0));
    // Back at 0 during the same drag: the crop is what it was at the start.
    assert_eq!(e.edit.crop, full(&e));
    e.update(Msg::Angle(30.0));
    assert_eq!(e.edit.crop, small);
    e.update(Msg::End);
    e.update(Msg::Undo);
    assert_eq!(e.edit.angle, 0.0);
    assert_eq!(e.edit.crop, full(&e));
}

#[test]
fn handles_stop_at_the_edges_and_at_the_minimum_size() {
    let mut e = ed();
    e.update(Msg::Begin);
    e.update(Msg::DragHandle {
        handle: Handle::new(true, true, false, false),
        delta: [-50.0, -50.0],
    });
    let f = full(&e);
    for (a, b) in e.edit.crop.corners().iter().zip(f.corners()) {
        assert!(
            close(a[0], b[0]) && close(a[1], b[1]),
            "cannot grow past the picture"
        );
    }
    e.update(Msg::DragHandle {
        handle: Handle::new(true, true, false, false),
        delta: [1000.0, 1000.0],
    });
    assert!(close(e.edit.crop.w(), MIN_SIDE) && close(e.edit.crop.h(), MIN_SIDE));
    e.update(Msg::End);
    // Moving slides along an edge.
    e.update(Msg::Begin);
    e.update(Msg::MoveCrop {
        delta: [-1000.0, -10.0],
    });
    e.update(Msg::End);
    assert!(close(e.edit.crop.x0, -200.0) && close(e.edit.crop.y0, 150.0 - MIN_SIDE - 10.0));
}

#[test]
fn a_fixed_aspect_holds_while_dragging_and_turns_with_the_image() {
    let mut e = ed();
    e.update(Msg::SetAspect(Some((1, 1))));
    assert!(close(e.edit.crop.w(), 300.0) && close(e.edit.crop.h(), 300.0));
    e.update(Msg::Begin);
    e.update(Msg::DragHandle {
        handle: Handle::new(false, false, true, true),
        delta: [-100.0, -20.0],
    });
    e.update(Msg::End);
    assert!(close(e.edit.crop.w(), e.edit.crop.h()));
    assert!(close(e.edit.crop.w(), 280.0), "{:?}", e.edit.crop);
    e.update(Msg::SetAspect(Some((16, 9))));
    assert!(close(e.edit.crop.w() / e.edit.crop.h(), 16.0 / 9.0));
    e.update(Msg::RotateQuarter { clockwise: true });
    assert_eq!(e.edit.aspect, Some((9, 16)));
    assert!(close(e.edit.crop.w() / e.edit.crop.h(), 9.0 / 16.0));
}

#[test]
fn scale_sets_the_output_size() {
    let mut e = ed();
    e.update(Msg::SetScale(0.5));
    assert_eq!(e.output_size(), (200, 150));
    e.update(Msg::SetScale(5.0));
    assert_eq!(e.edit.scale, MAX_SCALE);
    e.update(Msg::SetScale(0.0));
    assert_eq!(e.edit.scale, MIN_SCALE);
    assert_eq!(e.output_size(), (40, 30));
}

#[test]
fn strokes_are_kept_in_source_coordinates() {
    let mut e = ed();
    e.update(Msg::RotateQuarter { clockwise: true });
    e.update(Msg::SetMode(Mode::Annotate));
    // The display's top-left corner is the source's bottom-left after a clockwise turn.
    e.update(Msg::StrokeStart {
        at: [-150.0, -200.0],
        pressure: 0.5,
    });
    e.update(Msg::StrokeTo {
        at: [-140.0, -200.0],
        pressure: 0.5,
    });
    e.update(Msg::End);
    let Shape::Free(p) = &e.edit.strokes[0].shape else {
        panic!()
    };
    assert!(close(p[0][0], 0.0) && close(p[0][1], 300.0), "{p:?}");
    assert!(close(p[1][0], 0.0) && close(p[1][1], 290.0), "{p:?}");
}

#[test]
fn every_action_undoes_and_redoes() {
    let actions: Vec<Vec<Msg>> = vec![
        vec![Msg::RotateQuarter { clockwise: true }],
        vec![Msg::RotateQuarter { clockwise: false }],
        vec![Msg::FlipH],
        vec![Msg::FlipV],
        vec![Msg::SetAspect(Some((4, 5)))],
        vec![Msg::SetScale(0.25)],
        vec![Msg::Begin, Msg::Angle(12.0), Msg::End],
        vec![
            Msg::Begin,
            Msg::DragHandle {
                handle: Handle::new(false, true, false, false),
                delta: [0.0, 40.0],
            },
            Msg::End,
        ],
        vec![
            Msg::Begin,
            Msg::DragHandle {
                handle: Handle::new(false, false, false, true),
                delta: [0.0, -40.0],
            },
            Msg::End,
            Msg::Begin,
            Msg::MoveCrop { delta: [0.0, 30.0] },
            Msg::End,
        ],
        vec![
            Msg::SetTool(Tool::Pen),
            Msg::StrokeStart {
                at: [0.0, 0.0],
                pressure: 0.5,
            },
            Msg::StrokeTo {
                at: [10.0, 10.0],
                pressure: 0.7,
            },
            Msg::End,
        ],
        vec![
            Msg::SetTool(Tool::Arrow),
            Msg::StrokeStart {
                at: [0.0, 0.0],
                pressure: 0.5,
            },
            Msg::StrokeTo {
                at: [50.0, 10.0],
                pressure: 0.5,
            },
            Msg::End,
        ],
        vec![
            Msg::SetTool(Tool::Ellipse),
            Msg::StrokeStart {
                at: [-20.0, -20.0],
                pressure: 0.5,
            },
            Msg::StrokeTo {
                at: [40.0, 30.0],
                pressure: 0.5,
            },
            Msg::End,
        ],
        vec![
            Msg::SetTool(Tool::Eraser),
            Msg::StrokeStart {
                at: [0.0, 0.0],
                pressure: 0.5,
            },
            Msg::StrokeTo {
                at: [5.0, 0.0],
                pressure: 0.5,
            },
            Msg::End,
        ],
    ];
    for msgs in actions {
        let mut e = ed();
        let before = e.edit.clone();
        let mut steps = 0;
        for m in &msgs {
            let undoable = matches!(m, Msg::End)
                || !matches!(
                    m,
                    Msg::Begin
                        | Msg::Angle(_)
                        | Msg::DragHandle { .. }
                        | Msg::MoveCrop { .. }
                        | Msg::StrokeStart { .. }
                        | Msg::StrokeTo { .. }
                        | Msg::SetTool(_)
                );
            e.update(m.clone());
            if undoable {
                steps += 1;
            }
        }
        let after = e.edit.clone();
        assert_ne!(after, before, "{msgs:?} changed nothing");
        assert!(e.can_undo());
        for _ in 0..steps {
            e.update(Msg::Undo);
        }
        assert_eq!(e.edit, before, "{msgs:?}: undo");
        assert!(!e.can_undo(), "{msgs:?}: one undo step per action");
        for _ in 0..steps {
            e.update(Msg::Redo);
        }
        assert_eq!(e.edit, after, "{msgs:?}: redo");
        // A new action after an undo drops the redo.
        e.update(Msg::Undo);
        e.update(Msg::FlipV);
        assert!(!e.can_redo());
    }
}

#[test]
fn reset_puts_the_transform_back_and_keeps_annotations() {
    let mut e = ed();
    e.update(Msg::FlipH);
    e.update(Msg::SetScale(0.5));
    e.update(Msg::StrokeStart {
        at: [0.0, 0.0],
        pressure: 0.5,
    });
    e.update(Msg::End);
    let before = e.edit.clone();
    e.update(Msg::ResetTransform);
    assert_eq!(e.edit.orient, Orient::IDENTITY);
    assert_eq!(e.edit.scale, 1.0);
    assert_eq!(e.edit.strokes.len(), 1);
    e.update(Msg::Undo);
    assert_eq!(e.edit, before);
}

#[test]
fn screen_and_display_round_trip_at_any_zoom_and_pan() {
    let mut e = ed();
    e.update(Msg::Begin);
    e.update(Msg::Angle(10.0));
    e.update(Msg::End);
    let mut v = View::new(800.0, 600.0, 24.0);
    v.zoom = 2.5;
    v.pan = [30.0, -12.0];
    let q = [12.5, -40.0];
    let p = e.display_to_screen(&v, q);
    let back = e.screen_to_display(&v, p);
    assert!(close(back[0], q[0]) && close(back[1], q[1]));
    let s = e.screen_affine(&v).apply(p);
    let s2 = e.display_to_source(q);
    assert!(close(s[0], s2[0]) && close(s[1], s2[1]));
}

fn pattern(w: u32, h: u32) -> Rgba {
    let mut data = Vec::new();
    for y in 0..h {
        for x in 0..w {
            data.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 128, 255]);
        }
    }
    Rgba {
        width: w,
        height: h,
        data,
    }
}

#[test]
fn the_cpu_export_follows_the_model() {
    let img = pattern(64, 48);
    let mut e = Editor::new(64, 48);
    let out = raster::export(&e, &img);
    assert_eq!(out.data, img.data, "identity is exact");
    e.update(Msg::FlipH);
    let out = raster::export(&e, &img);
    assert_eq!(&out.data[0..4], &img.data[63 * 4..64 * 4]);
    e.update(Msg::SetMode(Mode::Annotate));
    e.update(Msg::SetColor([0, 255, 0]));
    e.update(Msg::SetWidth(6.0));
    e.update(Msg::StrokeStart {
        at: [-20.0, 0.0],
        pressure: 0.5,
    });
    e.update(Msg::StrokeTo {
        at: [20.0, 0.0],
        pressure: 0.5,
    });
    e.update(Msg::End);
    let out = raster::export(&e, &img);
    let mid = ((24 * 64 + 32) * 4) as usize;
    assert_eq!(&out.data[mid..mid + 4], &[0, 255, 0, 255]);
    // The eraser takes the annotation away, not the picture.
    e.update(Msg::SetTool(Tool::Eraser));
    e.update(Msg::SetWidth(20.0));
    e.update(Msg::StrokeStart {
        at: [0.0, 0.0],
        pressure: 0.5,
    });
    e.update(Msg::End);
    let out = raster::export(&e, &img);
    let flipped = raster::export(
        &{
            let mut f = Editor::new(64, 48);
            f.update(Msg::FlipH);
            f
        },
        &img,
    );
    assert_eq!(&out.data[mid..mid + 4], &flipped.data[mid..mid + 4]);
}
