//! The CPU renderer: the exported image computed from the model with the same sampling and
//! compositing as the GPU shader. It is the reference the GPU export is checked against, and
//! the export path when an image is larger than the device's textures.

use crate::model::{Affine, Editor};
use crate::tess;

/// An RGBA8 image, rows top to bottom.
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Fills the triangles into a premultiplied RGBA8 layer (pixel centres, no anti-aliasing):
/// `color` over what is there, or transparent where `erase`.
pub fn fill(layer: &mut Rgba, tris: &[[f32; 2]], color: [u8; 3], erase: bool) {
    let (w, h) = (layer.width as i64, layer.height as i64);
    let px = if erase {
        [0, 0, 0, 0]
    } else {
        [color[0], color[1], color[2], 255]
    };
    for t in tris.chunks_exact(3) {
        let [a, b, c] = [t[0], t[1], t[2]].map(|p| [p[0] as f64, p[1] as f64]);
        let area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
        if area.abs() < 1e-12 {
            continue;
        }
        let x0 = (a[0].min(b[0]).min(c[0]).floor() as i64).max(0);
        let x1 = (a[0].max(b[0]).max(c[0]).ceil() as i64).min(w - 1);
        let y0 = (a[1].min(b[1]).min(c[1]).floor() as i64).max(0);
        let y1 = (a[1].max(b[1]).max(c[1]).ceil() as i64).min(h - 1);
        let edge = |p: [f64; 2], q: [f64; 2], x: f64, y: f64| {
            ((q[0] - p[0]) * (y - p[1]) - (q[1] - p[1]) * (x - p[0])) * area.signum()
        };
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
                if edge(a, b, fx, fy) >= 0.0
                    && edge(b, c, fx, fy) >= 0.0
                    && edge(c, a, fx, fy) >= 0.0
                {
                    let i = ((y * w + x) * 4) as usize;
                    layer.data[i..i + 4].copy_from_slice(&px);
                }
            }
        }
    }
}

/// The annotation layer at source size (premultiplied RGBA8).
pub fn annotations(ed: &Editor) -> Rgba {
    let mut layer = Rgba {
        width: ed.width,
        height: ed.height,
        data: vec![0; ed.width as usize * ed.height as usize * 4],
    };
    let mut tris = Vec::new();
    for s in &ed.edit.strokes {
        tris.clear();
        tess::stroke(s, &mut tris);
        fill(&mut layer, &tris, s.color, s.erase);
    }
    layer
}

/// Bilinear sample at source point `s` (texel centres at +0.5, edges clamped), as 0..1 floats.
pub fn sample(img: &Rgba, s: [f64; 2]) -> [f64; 4] {
    let (w, h) = (img.width as i64, img.height as i64);
    let x = s[0] - 0.5;
    let y = s[1] - 0.5;
    let (xf, yf) = (x.floor(), y.floor());
    let (fx, fy) = (x - xf, y - yf);
    let (x0, y0) = (xf as i64, yf as i64);
    let at = |xi: i64, yi: i64| {
        let i = ((yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)) * 4) as usize;
        [0, 1, 2, 3].map(|k| img.data[i + k] as f64 / 255.0)
    };
    let (p00, p10, p01, p11) = (
        at(x0, y0),
        at(x0 + 1, y0),
        at(x0, y0 + 1),
        at(x0 + 1, y0 + 1),
    );
    [0, 1, 2, 3].map(|k| {
        let top = p00[k] * (1.0 - fx) + p10[k] * fx;
        let bottom = p01[k] * (1.0 - fx) + p11[k] * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// The annotations (premultiplied) over the picture (straight alpha), straight alpha out.
pub fn composite(img: [f64; 4], ann: [f64; 4]) -> [f64; 4] {
    let k = 1.0 - ann[3];
    let a = ann[3] + img[3] * k;
    if a <= 0.0 {
        return [0.0; 4];
    }
    [
        (ann[0] + img[0] * img[3] * k) / a,
        (ann[1] + img[1] * img[3] * k) / a,
        (ann[2] + img[2] * img[3] * k) / a,
        a,
    ]
}

/// The exported image: `image` (source size) through the model's crop, rotation, flips, scale
/// and annotations.
pub fn export(ed: &Editor, image: &Rgba) -> Rgba {
    let ann = annotations(ed);
    let (ow, oh) = ed.output_size();
    let a: Affine = ed.export_affine();
    let mut data = vec![0u8; ow as usize * oh as usize * 4];
    for y in 0..oh {
        for x in 0..ow {
            let s = a.apply([x as f64 + 0.5, y as f64 + 0.5]);
            let c = composite(sample(image, s), sample(&ann, s));
            let i = ((y * ow + x) * 4) as usize;
            for k in 0..4 {
                data[i + k] = (c[k].clamp(0.0, 1.0) * 255.0).round() as u8;
            }
        }
    }
    Rgba {
        width: ow,
        height: oh,
        data,
    }
}
