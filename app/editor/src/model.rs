//! The editor's document — orientation, fine angle, crop, scale, annotations — and the one
//! function that changes it, [`Editor::update`], which handles one [`Msg`] at a time. Plain Rust:
//! no browser, no GPU; the renderers draw what is here and the DOM layer only sends messages.
//!
//! Coordinates:
//! - **source**: pixels of the image as loaded, origin top-left, y down.
//! - **display**: centred on the image's centre after the quarter turns, flips and the fine
//!   rotation, y down, in source pixel units. The crop rectangle lives here (axis-aligned on
//!   screen), and must stay inside the rotated image.
//!
//! `display = R(angle) · M · (source − centre)`, with `M` the quarter turns and flips (an
//! orthogonal integer matrix) and `R` the fine rotation (positive = clockwise on screen).
//! Annotations are kept in source coordinates, so they follow the picture through every
//! rotation, flip and crop.

pub type V2 = [f64; 2];

/// Smallest crop side, in source pixels (the Studio refuses smaller uploads).
pub const MIN_SIDE: f64 = 16.0;
/// The fine-rotation slider's range, in degrees.
pub const MAX_ANGLE: f64 = 45.0;
/// The output scale's range.
pub const MIN_SCALE: f64 = 0.1;
pub const MAX_SCALE: f64 = 1.0;

/// Quarter turns and flips: an orthogonal matrix with entries in {-1, 0, 1}.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Orient(pub [[i8; 2]; 2]);

impl Orient {
    pub const IDENTITY: Orient = Orient([[1, 0], [0, 1]]);
    /// 90° clockwise on screen (y down): right goes to bottom.
    pub const CW: [[i8; 2]; 2] = [[0, -1], [1, 0]];
    pub const CCW: [[i8; 2]; 2] = [[0, 1], [-1, 0]];
    pub const FLIP_H: [[i8; 2]; 2] = [[-1, 0], [0, 1]];
    pub const FLIP_V: [[i8; 2]; 2] = [[1, 0], [0, -1]];

    pub fn apply(&self, v: V2) -> V2 {
        let m = self.0;
        [
            m[0][0] as f64 * v[0] + m[0][1] as f64 * v[1],
            m[1][0] as f64 * v[0] + m[1][1] as f64 * v[1],
        ]
    }
    /// The inverse (the transpose: `M` is orthogonal).
    pub fn unapply(&self, v: V2) -> V2 {
        let m = self.0;
        [
            m[0][0] as f64 * v[0] + m[1][0] as f64 * v[1],
            m[0][1] as f64 * v[0] + m[1][1] as f64 * v[1],
        ]
    }
    /// `other · self`: `other` applied after this orientation.
    pub fn then(self, o: [[i8; 2]; 2]) -> Orient {
        let m = self.0;
        let mut r = [[0i8; 2]; 2];
        for (i, row) in r.iter_mut().enumerate() {
            for (j, cell) in row.iter_mut().enumerate() {
                *cell = o[i][0] * m[0][j] + o[i][1] * m[1][j];
            }
        }
        Orient(r)
    }
    /// Whether width and height trade places.
    pub fn swaps(&self) -> bool {
        self.0[0][0] == 0
    }
}

/// An axis-aligned rectangle in display coordinates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rect {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

impl Rect {
    pub fn w(&self) -> f64 {
        self.x1 - self.x0
    }
    pub fn h(&self) -> f64 {
        self.y1 - self.y0
    }
    pub fn center(&self) -> V2 {
        [(self.x0 + self.x1) / 2.0, (self.y0 + self.y1) / 2.0]
    }
    pub fn corners(&self) -> [V2; 4] {
        [
            [self.x0, self.y0],
            [self.x1, self.y0],
            [self.x1, self.y1],
            [self.x0, self.y1],
        ]
    }
    /// The same rectangle scaled by `k` about `c`.
    fn scaled_about(&self, c: V2, k: f64) -> Rect {
        Rect {
            x0: c[0] + (self.x0 - c[0]) * k,
            y0: c[1] + (self.y0 - c[1]) * k,
            x1: c[0] + (self.x1 - c[0]) * k,
            y1: c[1] + (self.y1 - c[1]) * k,
        }
    }
    /// The rectangle through two opposite corners after a linear map of its corners (a quarter
    /// turn or a flip keeps a rectangle axis-aligned).
    fn mapped(&self, f: impl Fn(V2) -> V2) -> Rect {
        let a = f([self.x0, self.y0]);
        let b = f([self.x1, self.y1]);
        Rect {
            x0: a[0].min(b[0]),
            y0: a[1].min(b[1]),
            x1: a[0].max(b[0]),
            y1: a[1].max(b[1]),
        }
    }
    fn lerp(&self, o: &Rect, t: f64) -> Rect {
        Rect {
            x0: self.x0 + (o.x0 - self.x0) * t,
            y0: self.y0 + (o.y0 - self.y0) * t,
            x1: self.x1 + (o.x1 - self.x1) * t,
            y1: self.y1 + (o.y1 - self.y1) * t,
        }
    }
}

/// What an annotation is.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// A freehand line through points `[x, y, pressure]` (source coordinates).
    Free(Vec<[f64; 3]>),
    /// A line from the first point to the second, with a head at the second.
    Arrow(V2, V2),
    /// The ellipse `centre + a·cos t + b·sin t` (source coordinates).
    Ellipse { c: V2, a: V2, b: V2 },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stroke {
    pub shape: Shape,
    /// Opaque RGB; ignored by the eraser.
    pub color: [u8; 3],
    /// Line width in source pixels (at pressure 1).
    pub width: f64,
    /// Removes annotations under it (the picture itself is never erased).
    pub erase: bool,
}

/// Everything Undo and Redo move between.
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    pub orient: Orient,
    /// Fine rotation in degrees, −45..45, positive clockwise.
    pub angle: f64,
    pub crop: Rect,
    /// A fixed crop aspect `w:h` (in display orientation), or free.
    pub aspect: Option<(u32, u32)>,
    /// Output size relative to the crop, 0.1..1.
    pub scale: f64,
    pub strokes: Vec<Stroke>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Crop,
    Annotate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Pen,
    Arrow,
    Ellipse,
    Eraser,
}

/// A crop handle: which edges it moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Handle {
    pub left: bool,
    pub top: bool,
    pub right: bool,
    pub bottom: bool,
}

impl Handle {
    pub const ALL: [(&'static str, Handle); 8] = [
        ("top-left", Handle::new(true, true, false, false)),
        ("top", Handle::new(false, true, false, false)),
        ("top-right", Handle::new(false, true, true, false)),
        ("right", Handle::new(false, false, true, false)),
        ("bottom-right", Handle::new(false, false, true, true)),
        ("bottom", Handle::new(false, false, false, true)),
        ("bottom-left", Handle::new(true, false, false, true)),
        ("left", Handle::new(true, false, false, false)),
    ];
    pub const fn new(left: bool, top: bool, right: bool, bottom: bool) -> Handle {
        Handle {
            left,
            top,
            right,
            bottom,
        }
    }
}

/// Everything that can happen to the editor. Live messages (`Angle`, `DragHandle`, `MoveCrop`,
/// `StrokeTo`) act relative to the state at the last `Begin`, so a gesture is one undo step.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    SetMode(Mode),
    SetTool(Tool),
    SetColor([u8; 3]),
    /// Line width in source pixels.
    SetWidth(f64),
    RotateQuarter {
        clockwise: bool,
    },
    FlipH,
    FlipV,
    SetAspect(Option<(u32, u32)>),
    SetScale(f64),
    ResetTransform,
    /// Starts a gesture (slider drag, handle drag, crop move, stroke).
    Begin,
    /// Fine rotation (degrees) during a gesture; the crop shrinks to stay inside the picture.
    Angle(f64),
    /// A handle dragged by `delta` (display units) since `Begin`.
    DragHandle {
        handle: Handle,
        delta: V2,
    },
    /// The whole crop moved by `delta` since `Begin`.
    MoveCrop {
        delta: V2,
    },
    /// A stroke starts at a display point.
    StrokeStart {
        at: V2,
        pressure: f64,
    },
    StrokeTo {
        at: V2,
        pressure: f64,
    },
    /// Ends the gesture: one undo step if anything changed.
    End,
    /// Drops the gesture under way: back to its start, nothing recorded.
    Cancel,
    Undo,
    Redo,
}

/// The editor: the document, its history and the tool settings.
#[derive(Clone, Debug)]
pub struct Editor {
    pub width: u32,
    pub height: u32,
    pub edit: Edit,
    pub mode: Mode,
    pub tool: Tool,
    pub color: [u8; 3],
    pub width_px: f64,
    undo: Vec<Edit>,
    redo: Vec<Edit>,
    /// The state at the last `Begin`, while a gesture is under way.
    base: Option<Edit>,
    /// Bumped whenever annotations change in a way that needs a full redraw (not a stroke
    /// growing at its end).
    pub strokes_version: u64,
    /// Where the current stroke started (display), for shapes drawn corner to corner.
    anchor: V2,
}

/// What changed, so a renderer redraws only that.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Changed {
    pub view: bool,
    /// Annotations must be redrawn from scratch.
    pub strokes: bool,
    /// The last stroke grew (the renderer may draw just its new part).
    pub stroke_grew: bool,
}

fn rot(angle_deg: f64) -> (f64, f64) {
    let t = angle_deg.to_radians();
    (t.cos(), t.sin())
}

/// `R(angle) · v`.
pub fn rotate(v: V2, angle_deg: f64) -> V2 {
    let (c, s) = rot(angle_deg);
    [c * v[0] - s * v[1], s * v[0] + c * v[1]]
}

impl Editor {
    pub fn new(width: u32, height: u32) -> Editor {
        let (w, h) = (width as f64, height as f64);
        Editor {
            width,
            height,
            edit: Edit {
                orient: Orient::IDENTITY,
                angle: 0.0,
                crop: Rect {
                    x0: -w / 2.0,
                    y0: -h / 2.0,
                    x1: w / 2.0,
                    y1: h / 2.0,
                },
                aspect: None,
                scale: 1.0,
                strokes: Vec::new(),
            },
            mode: Mode::Crop,
            tool: Tool::Pen,
            color: [239, 68, 68],
            width_px: (w.max(h) / 150.0).max(2.0),
            undo: Vec::new(),
            redo: Vec::new(),
            base: None,
            strokes_version: 0,
            anchor: [0.0, 0.0],
        }
    }

    /// Width and height after the quarter turns.
    pub fn oriented_size(&self) -> V2 {
        let (w, h) = (self.width as f64, self.height as f64);
        if self.edit.orient.swaps() {
            [h, w]
        } else {
            [w, h]
        }
    }

    /// Half extents of the rotated picture's bounding box (display units).
    pub fn bounds_half(&self) -> V2 {
        let [w, h] = self.oriented_size();
        let (c, s) = rot(self.edit.angle);
        let (c, s) = (c.abs(), s.abs());
        [(w * c + h * s) / 2.0, (w * s + h * c) / 2.0]
    }

    pub fn source_center(&self) -> V2 {
        [self.width as f64 / 2.0, self.height as f64 / 2.0]
    }

    pub fn display_to_source(&self, q: V2) -> V2 {
        let o = rotate(q, -self.edit.angle);
        let s = self.edit.orient.unapply(o);
        let c = self.source_center();
        [s[0] + c[0], s[1] + c[1]]
    }

    pub fn source_to_display(&self, p: V2) -> V2 {
        let c = self.source_center();
        let o = self.edit.orient.apply([p[0] - c[0], p[1] - c[1]]);
        rotate(o, self.edit.angle)
    }

    /// The linear part of display → source (for vectors).
    pub fn display_vec_to_source(&self, v: V2) -> V2 {
        self.edit.orient.unapply(rotate(v, -self.edit.angle))
    }

    /// Whether a display point lies inside the rotated picture (with a hair of tolerance).
    pub fn inside(&self, e: &Edit, q: V2) -> bool {
        let (w, h) = (self.width as f64, self.height as f64);
        let [w, h] = if e.orient.swaps() { [h, w] } else { [w, h] };
        let o = rotate(q, -e.angle);
        let eps = 1e-12 * (w + h);
        o[0].abs() <= w / 2.0 + eps && o[1].abs() <= h / 2.0 + eps
    }

    fn fits(&self, e: &Edit, r: &Rect) -> bool {
        r.w() >= MIN_SIDE - 1e-9
            && r.h() >= MIN_SIDE - 1e-9
            && r.corners().iter().all(|&q| self.inside(e, q))
    }

    /// The largest `t` in [0, 1] with `f(t)` true, given `f(0)`; `f` true on an interval.
    fn largest(f: impl Fn(f64) -> bool) -> f64 {
        if f(1.0) {
            return 1.0;
        }
        let (mut lo, mut hi) = (0.0, 1.0);
        for _ in 0..48 {
            let mid = (lo + hi) / 2.0;
            if f(mid) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// `r` shrunk about its centre (or, if its centre is outside, towards the picture's centre)
    /// until it lies inside the picture.
    fn fit(&self, e: &Edit, r: Rect) -> Rect {
        let inside = |r: &Rect| r.corners().iter().all(|&q| self.inside(e, q));
        if inside(&r) {
            return r;
        }
        let c = if self.inside(e, r.center()) {
            r.center()
        } else {
            [0.0, 0.0]
        };
        let k = Self::largest(|k| inside(&r.scaled_about(c, k)));
        r.scaled_about(c, k)
    }

    /// The output image's size in pixels for the current crop and scale.
    pub fn output_size(&self) -> (u32, u32) {
        let r = &self.edit.crop;
        let s = self.edit.scale;
        (
            ((r.w() * s).round() as u32).max(1),
            ((r.h() * s).round() as u32).max(1),
        )
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }
    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }
    pub fn in_gesture(&self) -> bool {
        self.base.is_some()
    }

    /// Records the state before a one-shot change.
    fn push(&mut self) {
        self.undo.push(self.edit.clone());
        self.redo.clear();
    }

    /// The largest crop of aspect `a:b` centred on the picture.
    fn aspect_crop(&self, e: &Edit, a: u32, b: u32) -> Rect {
        let [bw, bh] = self.bounds_half();
        let (a, b) = (a.max(1) as f64, b.max(1) as f64);
        // Start from a rectangle of that aspect around the whole bounding box, then shrink.
        let k = (bw * 2.0 / a).max(bh * 2.0 / b);
        let r = Rect {
            x0: -a * k / 2.0,
            y0: -b * k / 2.0,
            x1: a * k / 2.0,
            y1: b * k / 2.0,
        };
        self.fit(e, r)
    }

    /// Handles one message and says what changed.
    pub fn update(&mut self, msg: Msg) -> Changed {
        let view = Changed {
            view: true,
            ..Changed::default()
        };
        let all = Changed {
            view: true,
            strokes: true,
            stroke_grew: false,
        };
        match msg {
            Msg::SetMode(m) => {
                self.mode = m;
                view
            }
            Msg::SetTool(t) => {
                self.tool = t;
                Changed::default()
            }
            Msg::SetColor(c) => {
                self.color = c;
                Changed::default()
            }
            Msg::SetWidth(w) => {
                self.width_px = w.clamp(0.5, 2000.0);
                Changed::default()
            }
            Msg::RotateQuarter { clockwise } => {
                self.push();
                let m = if clockwise { Orient::CW } else { Orient::CCW };
                let o = Orient(m);
                let e = &mut self.edit;
                e.orient = e.orient.then(m);
                e.crop = e.crop.mapped(|v| o.apply(v));
                e.aspect = e.aspect.map(|(a, b)| (b, a));
                view
            }
            Msg::FlipH | Msg::FlipV => {
                self.push();
                let m = if msg == Msg::FlipH {
                    Orient::FLIP_H
                } else {
                    Orient::FLIP_V
                };
                let o = Orient(m);
                let e = &mut self.edit;
                e.orient = e.orient.then(m);
                e.angle = -e.angle;
                e.crop = e.crop.mapped(|v| o.apply(v));
                view
            }
            Msg::SetAspect(a) => {
                if a == self.edit.aspect {
                    return Changed::default();
                }
                self.push();
                self.edit.aspect = a;
                if let Some((x, y)) = a {
                    let e = self.edit.clone();
                    self.edit.crop = self.aspect_crop(&e, x, y);
                }
                view
            }
            Msg::SetScale(s) => {
                let s = s.clamp(MIN_SCALE, MAX_SCALE);
                if s == self.edit.scale {
                    return Changed::default();
                }
                if self.base.is_none() {
                    self.push();
                }
                self.edit.scale = s;
                view
            }
            Msg::ResetTransform => {
                let fresh = Editor::new(self.width, self.height).edit;
                if self.edit.orient == fresh.orient
                    && self.edit.angle == 0.0
                    && self.edit.crop == fresh.crop
                    && self.edit.aspect.is_none()
                    && self.edit.scale == 1.0
                {
                    return Changed::default();
                }
                self.push();
                self.edit = Edit {
                    strokes: std::mem::take(&mut self.edit.strokes),
                    ..fresh
                };
                view
            }
            Msg::Begin => {
                if self.base.is_none() {
                    self.base = Some(self.edit.clone());
                }
                Changed::default()
            }
            Msg::End => {
                if let Some(base) = self.base.take() {
                    if base != self.edit {
                        self.undo.push(base);
                        self.redo.clear();
                    }
                }
                Changed::default()
            }
            Msg::Cancel => {
                let Some(base) = self.base.take() else {
                    return Changed::default();
                };
                self.edit = base;
                self.strokes_version += 1;
                all
            }
            Msg::Angle(deg) => {
                let Some(base) = self.base.clone() else {
                    return Changed::default();
                };
                let deg = deg.clamp(-MAX_ANGLE, MAX_ANGLE);
                let mut e = base.clone();
                e.angle = deg;
                e.crop = self.fit(&e, base.crop);
                self.edit = Edit {
                    strokes: std::mem::take(&mut self.edit.strokes),
                    ..e
                };
                view
            }
            Msg::DragHandle { handle, delta } => {
                let Some(base) = self.base.clone() else {
                    return Changed::default();
                };
                self.edit.crop = self.dragged(&base, handle, delta);
                view
            }
            Msg::MoveCrop { delta } => {
                let Some(base) = self.base.clone() else {
                    return Changed::default();
                };
                let mut r = base.crop;
                // Each axis as far as it can go, so the crop slides along an edge.
                for axis in 0..2 {
                    let mut d = [0.0, 0.0];
                    d[axis] = delta[axis];
                    let moved = Rect {
                        x0: r.x0 + d[0],
                        y0: r.y0 + d[1],
                        x1: r.x1 + d[0],
                        y1: r.y1 + d[1],
                    };
                    let t = Self::largest(|t| self.fits(&base, &r.lerp(&moved, t)));
                    r = r.lerp(&moved, t);
                }
                self.edit.crop = r;
                view
            }
            Msg::StrokeStart { at, pressure } => {
                if self.base.is_none() {
                    self.base = Some(self.edit.clone());
                }
                let p = self.display_to_source(at);
                self.anchor = at;
                let shape = match self.tool {
                    Tool::Pen | Tool::Eraser => Shape::Free(vec![[p[0], p[1], pressure]]),
                    Tool::Arrow => Shape::Arrow(p, p),
                    Tool::Ellipse => Shape::Ellipse {
                        c: p,
                        a: [0.0, 0.0],
                        b: [0.0, 0.0],
                    },
                };
                self.edit.strokes.push(Stroke {
                    shape,
                    color: self.color,
                    width: self.width_px,
                    erase: self.tool == Tool::Eraser,
                });
                self.strokes_version += 1;
                Changed {
                    view: true,
                    strokes: false,
                    stroke_grew: true,
                }
            }
            Msg::StrokeTo { at, pressure } => {
                let p = self.display_to_source(at);
                let start = self.base.as_ref().map(|b| b.strokes.len());
                let n = self.edit.strokes.len();
                if n == 0 || start != Some(n - 1) {
                    return Changed::default();
                }
                let stroke = &mut self.edit.strokes[n - 1];
                let redraw = match &mut stroke.shape {
                    Shape::Free(points) => {
                        points.push([p[0], p[1], pressure]);
                        false
                    }
                    Shape::Arrow(_, b) => {
                        *b = p;
                        true
                    }
                    Shape::Ellipse { .. } => true,
                };
                if let Shape::Ellipse { .. } = stroke.shape {
                    // The ellipse inscribed in the display rectangle from the first point to
                    // this one (its axes along the screen's).
                    let (a0, a1) = (self.anchor, at);
                    let c = self.display_to_source([(a0[0] + a1[0]) / 2.0, (a0[1] + a1[1]) / 2.0]);
                    let a = self.display_vec_to_source([(a1[0] - a0[0]) / 2.0, 0.0]);
                    let b = self.display_vec_to_source([0.0, (a1[1] - a0[1]) / 2.0]);
                    if let Some(Stroke {
                        shape:
                            Shape::Ellipse {
                                c: sc,
                                a: sa,
                                b: sb,
                            },
                        ..
                    }) = self.edit.strokes.last_mut()
                    {
                        *sc = c;
                        *sa = a;
                        *sb = b;
                    }
                }
                if redraw {
                    self.strokes_version += 1;
                    all
                } else {
                    Changed {
                        view: true,
                        strokes: false,
                        stroke_grew: true,
                    }
                }
            }
            Msg::Undo => {
                if self.base.is_some() {
                    return Changed::default();
                }
                let Some(prev) = self.undo.pop() else {
                    return Changed::default();
                };
                self.redo.push(std::mem::replace(&mut self.edit, prev));
                self.strokes_version += 1;
                all
            }
            Msg::Redo => {
                if self.base.is_some() {
                    return Changed::default();
                }
                let Some(next) = self.redo.pop() else {
                    return Changed::default();
                };
                self.undo.push(std::mem::replace(&mut self.edit, next));
                self.strokes_version += 1;
                all
            }
        }
    }

    /// The crop after dragging `handle` by `delta` from the gesture's start, kept inside the
    /// picture, at least [`MIN_SIDE`], and at the fixed aspect if there is one.
    fn dragged(&self, base: &Edit, h: Handle, delta: V2) -> Rect {
        let r0 = base.crop;
        let mut r = r0;
        if h.left {
            r.x0 = (r0.x0 + delta[0]).min(r0.x1 - MIN_SIDE);
        }
        if h.right {
            r.x1 = (r0.x1 + delta[0]).max(r0.x0 + MIN_SIDE);
        }
        if h.top {
            r.y0 = (r0.y0 + delta[1]).min(r0.y1 - MIN_SIDE);
        }
        if h.bottom {
            r.y1 = (r0.y1 + delta[1]).max(r0.y0 + MIN_SIDE);
        }
        if let Some((a, b)) = base.aspect {
            let ratio = a.max(1) as f64 / b.max(1) as f64;
            let horizontal = h.left || h.right;
            let vertical = h.top || h.bottom;
            // The dragged size decides; the other side follows, anchored at the opposite edge
            // (or centred for an edge handle).
            let (w, hh) = if horizontal && vertical {
                let w = r.w().max(r.h() * ratio);
                (w, w / ratio)
            } else if horizontal {
                (r.w(), r.w() / ratio)
            } else {
                (r.h() * ratio, r.h())
            };
            let (w, hh) = if w / ratio < MIN_SIDE || w < MIN_SIDE {
                let k = (MIN_SIDE / w).max(MIN_SIDE / hh);
                (w * k, hh * k)
            } else {
                (w, hh)
            };
            if horizontal {
                if h.left {
                    r.x0 = r.x1 - w;
                } else {
                    r.x1 = r.x0 + w;
                }
            } else {
                let cx = (r0.x0 + r0.x1) / 2.0;
                r.x0 = cx - w / 2.0;
                r.x1 = cx + w / 2.0;
            }
            if vertical {
                if h.top {
                    r.y0 = r.y1 - hh;
                } else {
                    r.y1 = r.y0 + hh;
                }
            } else {
                let cy = (r0.y0 + r0.y1) / 2.0;
                r.y0 = cy - hh / 2.0;
                r.y1 = cy + hh / 2.0;
            }
            let t = Self::largest(|t| self.fits(base, &r0.lerp(&r, t)));
            return r0.lerp(&r, t);
        }
        // Free: each axis as far as it can go.
        let mut out = r0;
        let mut x = out;
        x.x0 = r.x0;
        x.x1 = r.x1;
        let t = Self::largest(|t| self.fits(base, &out.lerp(&x, t)));
        out = out.lerp(&x, t);
        let mut y = out;
        y.y0 = r.y0;
        y.y1 = r.y1;
        let t = Self::largest(|t| self.fits(base, &out.lerp(&y, t)));
        out.lerp(&y, t)
    }
}

/// `p ↦ m · p + t`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub m: [[f64; 2]; 2],
    pub t: V2,
}

impl Affine {
    pub fn apply(&self, p: V2) -> V2 {
        [
            self.m[0][0] * p[0] + self.m[0][1] * p[1] + self.t[0],
            self.m[1][0] * p[0] + self.m[1][1] * p[1] + self.t[1],
        ]
    }
}

/// How the picture sits on the canvas: its size in device pixels, the user's zoom (1 = fit)
/// and pan (device pixels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    pub canvas: V2,
    pub zoom: f64,
    pub pan: V2,
    /// Room kept around the picture at zoom 1 (device pixels), for the crop handles.
    pub pad: f64,
}

impl View {
    pub fn new(w: f64, h: f64, pad: f64) -> View {
        View {
            canvas: [w, h],
            zoom: 1.0,
            pan: [0.0, 0.0],
            pad,
        }
    }
}

impl Editor {
    /// The display region the canvas shows: the whole rotated picture while cropping, the crop
    /// while annotating (what Done will give).
    pub fn region(&self) -> Rect {
        match self.mode {
            Mode::Crop => {
                let [bw, bh] = self.bounds_half();
                Rect {
                    x0: -bw,
                    y0: -bh,
                    x1: bw,
                    y1: bh,
                }
            }
            Mode::Annotate => self.edit.crop,
        }
    }

    /// Device pixels per display unit.
    pub fn pixels_per_unit(&self, v: &View) -> f64 {
        let r = self.region();
        let fit = ((v.canvas[0] - 2.0 * v.pad).max(1.0) / r.w())
            .min((v.canvas[1] - 2.0 * v.pad).max(1.0) / r.h());
        fit * v.zoom
    }

    pub fn screen_to_display(&self, v: &View, p: V2) -> V2 {
        let k = self.pixels_per_unit(v);
        let c = self.region().center();
        [
            c[0] + (p[0] - v.canvas[0] / 2.0 - v.pan[0]) / k,
            c[1] + (p[1] - v.canvas[1] / 2.0 - v.pan[1]) / k,
        ]
    }

    pub fn display_to_screen(&self, v: &View, q: V2) -> V2 {
        let k = self.pixels_per_unit(v);
        let c = self.region().center();
        [
            (q[0] - c[0]) * k + v.canvas[0] / 2.0 + v.pan[0],
            (q[1] - c[1]) * k + v.canvas[1] / 2.0 + v.pan[1],
        ]
    }

    /// Display → source as an affine map.
    fn display_affine(&self) -> Affine {
        let e = |v: V2| self.display_vec_to_source(v);
        let (cx, cy) = (e([1.0, 0.0]), e([0.0, 1.0]));
        Affine {
            m: [[cx[0], cy[0]], [cx[1], cy[1]]],
            t: self.source_center(),
        }
    }

    /// Canvas device pixel → source pixel.
    pub fn screen_affine(&self, v: &View) -> Affine {
        let d = self.display_affine();
        let k = self.pixels_per_unit(v);
        let c = self.region().center();
        // q = p / k + (c − (canvas/2 + pan) / k)
        let q0 = [
            c[0] - (v.canvas[0] / 2.0 + v.pan[0]) / k,
            c[1] - (v.canvas[1] / 2.0 + v.pan[1]) / k,
        ];
        Affine {
            m: [
                [d.m[0][0] / k, d.m[0][1] / k],
                [d.m[1][0] / k, d.m[1][1] / k],
            ],
            t: d.apply(q0),
        }
    }

    /// Output pixel → source pixel for the exported image ([`Editor::output_size`]).
    pub fn export_affine(&self) -> Affine {
        let d = self.display_affine();
        let r = self.edit.crop;
        let (ow, oh) = self.output_size();
        let (sx, sy) = (r.w() / ow as f64, r.h() / oh as f64);
        Affine {
            m: [
                [d.m[0][0] * sx, d.m[0][1] * sy],
                [d.m[1][0] * sx, d.m[1][1] * sy],
            ],
            t: d.apply([r.x0, r.y0]),
        }
    }
}
