//! Annotations as triangles (source coordinates), drawn the same way by the GPU renderer and the
//! CPU reference: opaque colours, no anti-aliasing, so overlapping triangles blend to the same
//! pixels in any order.

use crate::model::{Shape, Stroke, V2};

/// How much of the line width a pressure gives: a mouse reports 0.5 (→ the set width), a pen
/// 0..1 (→ a quarter to 1.75 times).
pub fn pressure_factor(p: f64) -> f64 {
    (0.25 + 1.5 * p).clamp(0.25, 1.75)
}

fn disk(c: V2, r: f64, out: &mut Vec<[f32; 2]>) {
    if r <= 0.0 {
        return;
    }
    let n = ((r * 0.8).ceil() as usize).clamp(8, 48);
    for i in 0..n {
        let a0 = std::f64::consts::TAU * i as f64 / n as f64;
        let a1 = std::f64::consts::TAU * (i + 1) as f64 / n as f64;
        out.push([c[0] as f32, c[1] as f32]);
        out.push([(c[0] + r * a0.cos()) as f32, (c[1] + r * a0.sin()) as f32]);
        out.push([(c[0] + r * a1.cos()) as f32, (c[1] + r * a1.sin()) as f32]);
    }
}

/// A quad from `a` (radius `ra`) to `b` (radius `rb`).
fn segment(a: V2, ra: f64, b: V2, rb: f64, out: &mut Vec<[f32; 2]>) {
    let d = [b[0] - a[0], b[1] - a[1]];
    let len = (d[0] * d[0] + d[1] * d[1]).sqrt();
    if len < 1e-9 {
        return;
    }
    let n = [-d[1] / len, d[0] / len];
    let p = |c: V2, r: f64, s: f64| [(c[0] + n[0] * r * s) as f32, (c[1] + n[1] * r * s) as f32];
    let (a0, a1, b0, b1) = (p(a, ra, 1.0), p(a, ra, -1.0), p(b, rb, 1.0), p(b, rb, -1.0));
    out.extend_from_slice(&[a0, a1, b0, b0, a1, b1]);
}

/// The triangles of a freehand line from point `from` on (0 = the whole line). Drawing
/// `from = k` after `from = 0` over the first `k` points gives the whole line.
pub fn free_from(points: &[[f64; 3]], width: f64, from: usize, out: &mut Vec<[f32; 2]>) {
    let r = |p: &[f64; 3]| width * pressure_factor(p[2]) / 2.0;
    for i in from..points.len() {
        let p = &points[i];
        if i > 0 {
            let q = &points[i - 1];
            segment([q[0], q[1]], r(q), [p[0], p[1]], r(p), out);
        }
        disk([p[0], p[1]], r(p), out);
    }
}

/// All the triangles of one annotation.
pub fn stroke(s: &Stroke, out: &mut Vec<[f32; 2]>) {
    let r = s.width / 2.0;
    match &s.shape {
        Shape::Free(points) => free_from(points, s.width, 0, out),
        Shape::Arrow(a, b) => {
            let d = [b[0] - a[0], b[1] - a[1]];
            let len = (d[0] * d[0] + d[1] * d[1]).sqrt();
            if len < 1e-9 {
                disk(*a, r, out);
                return;
            }
            let u = [d[0] / len, d[1] / len];
            let n = [-u[1], u[0]];
            let head = (s.width * 4.0).min(len * 0.6);
            let half = head * 0.6;
            let base = [b[0] - u[0] * head, b[1] - u[1] * head];
            let shaft_end = [b[0] - u[0] * head * 0.5, b[1] - u[1] * head * 0.5];
            disk(*a, r, out);
            segment(*a, r, shaft_end, r, out);
            out.push([b[0] as f32, b[1] as f32]);
            out.push([
                (base[0] + n[0] * half) as f32,
                (base[1] + n[1] * half) as f32,
            ]);
            out.push([
                (base[0] - n[0] * half) as f32,
                (base[1] - n[1] * half) as f32,
            ]);
        }
        Shape::Ellipse { c, a, b } => {
            let n = 96;
            let at = |t: f64| {
                let (co, si) = (t.cos(), t.sin());
                let p = [c[0] + a[0] * co + b[0] * si, c[1] + a[1] * co + b[1] * si];
                let d = [-a[0] * si + b[0] * co, -a[1] * si + b[1] * co];
                let l = (d[0] * d[0] + d[1] * d[1]).sqrt();
                let nn = if l < 1e-9 {
                    [0.0, 0.0]
                } else {
                    [-d[1] / l, d[0] / l]
                };
                (
                    [(p[0] + nn[0] * r) as f32, (p[1] + nn[1] * r) as f32],
                    [(p[0] - nn[0] * r) as f32, (p[1] - nn[1] * r) as f32],
                )
            };
            let la = (a[0] * a[0] + a[1] * a[1]).sqrt();
            let lb = (b[0] * b[0] + b[1] * b[1]).sqrt();
            if la < 1e-9 && lb < 1e-9 {
                disk(*c, r, out);
                return;
            }
            for i in 0..n {
                let t0 = std::f64::consts::TAU * i as f64 / n as f64;
                let t1 = std::f64::consts::TAU * (i + 1) as f64 / n as f64;
                let (o0, i0) = at(t0);
                let (o1, i1) = at(t1);
                out.extend_from_slice(&[o0, i0, o1, o1, i0, i1]);
            }
        }
    }
}
