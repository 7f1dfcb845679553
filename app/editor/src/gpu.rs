//! The wgpu renderer: WebGPU where the browser gives an adapter, WebGL2 otherwise. It draws the
//! model — the picture through the crop/rotation/flips, the annotation layer over it — on the
//! page's canvas, and renders the export at full resolution into a texture it reads back.
//!
//! Annotations are drawn into a layer texture at the picture's size (source coordinates), with
//! the same triangles as the CPU reference ([`crate::tess`]); the composite pass samples both
//! through one affine map (target pixel → source pixel), exactly as [`crate::raster::export`].

use crate::model::{Affine, Editor, Mode, Shape, View};
use crate::tess;

const COMPOSITE: &str = r#"
struct U {
    m: vec4<f32>,      // target px -> source px: m.xy row 0, m.zw row 1
    t: vec4<f32>,      // t.xy translation, t.zw source size
    crop: vec4<f32>,   // the crop in target px (x0, y0, x1, y1)
    flags: vec4<f32>,  // x preview, y sRGB target, z brightness outside the crop, w device pixel ratio
};
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var img: texture_2d<f32>;
@group(0) @binding(2) var ann: texture_2d<f32>;
@group(0) @binding(3) var samp: sampler;

@vertex
fn vs(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let x = f32((i << 1u) & 2u);
    let y = f32(i & 2u);
    return vec4<f32>(x * 2.0 - 1.0, 1.0 - y * 2.0, 0.0, 1.0);
}

fn to_linear(c: vec3<f32>) -> vec3<f32> {
    let lo = c / 12.92;
    let hi = pow((c + vec3<f32>(0.055)) / 1.055, vec3<f32>(2.4));
    return select(hi, lo, c <= vec3<f32>(0.04045));
}

@fragment
fn fs(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let p = pos.xy;
    let s = vec2<f32>(u.m.x * p.x + u.m.y * p.y + u.t.x, u.m.z * p.x + u.m.w * p.y + u.t.y);
    let uv = s / u.t.zw;
    let c = textureSampleLevel(img, samp, uv, 0.0);
    let a = textureSampleLevel(ann, samp, uv, 0.0);
    let k = 1.0 - a.a;
    let alpha = a.a + c.a * k;
    var rgb = vec3<f32>(0.0);
    if (alpha > 0.0) {
        rgb = (a.rgb + c.rgb * c.a * k) / alpha;
    }
    if (u.flags.x < 0.5) {
        return vec4<f32>(rgb, alpha);
    }
    // Preview: a checkerboard under transparency, the stage colour outside the picture, the
    // outside of the crop dimmed while cropping.
    let cell = floor(p / (8.0 * u.flags.w));
    let light = (i32(cell.x) + i32(cell.y)) % 2 == 0;
    let check = select(vec3<f32>(0.78), vec3<f32>(0.93), light);
    var out = mix(check, rgb, alpha);
    let inside = s.x >= 0.0 && s.y >= 0.0 && s.x <= u.t.z && s.y <= u.t.w;
    if (!inside) {
        out = vec3<f32>(0.11, 0.11, 0.13);
    }
    let in_crop = p.x >= u.crop.x && p.y >= u.crop.y && p.x <= u.crop.z && p.y <= u.crop.w;
    if (u.flags.z > 0.0 && !in_crop) {
        out = out * u.flags.z;
    }
    if (u.flags.y > 0.5) {
        out = to_linear(out);
    }
    return vec4<f32>(out, 1.0);
}
"#;

const STROKES: &str = r#"
struct S { size: vec4<f32> };
@group(0) @binding(0) var<uniform> s: S;
struct V { @builtin(position) pos: vec4<f32>, @location(0) color: vec4<f32> };
@vertex
fn vs(@location(0) p: vec2<f32>, @location(1) c: vec4<f32>) -> V {
    var v: V;
    v.pos = vec4<f32>(p.x / s.size.x * 2.0 - 1.0, 1.0 - p.y / s.size.y * 2.0, 0.0, 1.0);
    v.color = c;
    return v;
}
@fragment
fn fs(v: V) -> @location(0) vec4<f32> { return v.color; }
"#;

pub struct Gpu {
    pub backend: &'static str,
    pub adapter_name: String,
    pub max_texture: u32,
    device: wgpu::Device,
    queue: wgpu::Queue,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    srgb_surface: bool,
    /// The picture and the annotation layer at texture size (the picture's size, or smaller
    /// when it exceeds the device's limit — then the export is computed on the CPU).
    src_size: (u32, u32),
    pub full_size_textures: bool,
    annot_view: wgpu::TextureView,
    uniform: wgpu::Buffer,
    bind: wgpu::BindGroup,
    comp_surface: wgpu::RenderPipeline,
    comp_export: wgpu::RenderPipeline,
    strokes_pipe: wgpu::RenderPipeline,
    strokes_bind: wgpu::BindGroup,
    vertices: wgpu::Buffer,
    /// How many points of the last freehand stroke are already in the layer.
    drawn_points: usize,
    drawn_version: u64,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn adapter_for(
    backends: wgpu::Backends,
    canvas: &web_sys::HtmlCanvasElement,
) -> Result<(wgpu::Instance, wgpu::Surface<'static>, wgpu::Adapter), String> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    if backends.contains(wgpu::Backends::BROWSER_WEBGPU) {
        // Asked before the canvas gets a context: a canvas keeps the first kind it is given.
        instance
            .request_adapter(&wgpu::RequestAdapterOptions::default())
            .await
            .map_err(err)?;
    }
    let surface = instance
        .create_surface(wgpu::SurfaceTarget::Canvas(canvas.clone()))
        .map_err(err)?;
    let adapter = instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            compatible_surface: Some(&surface),
            ..Default::default()
        })
        .await
        .map_err(err)?;
    Ok((instance, surface, adapter))
}

impl Gpu {
    /// `prefer`: "webgl" or "webgpu" forces a backend (tests, support); otherwise WebGPU when
    /// the browser has an adapter, then WebGL2. `Err` when neither is available.
    pub async fn new(
        canvas: &web_sys::HtmlCanvasElement,
        prefer: Option<String>,
        texture_cap: Option<u32>,
        src: (u32, u32),
        pixels_within: impl FnOnce(u32) -> (u32, u32, Vec<u8>),
    ) -> Result<Gpu, String> {
        let has_webgpu =
            js_sys::Reflect::get(&web_sys::window().unwrap().navigator(), &"gpu".into())
                .map(|g| !g.is_undefined() && !g.is_null())
                .unwrap_or(false);
        let mut tried = Vec::new();
        let mut found = None;
        if prefer.as_deref() != Some("webgl") && has_webgpu {
            match adapter_for(wgpu::Backends::BROWSER_WEBGPU, canvas).await {
                Ok(a) => found = Some((a, "WebGPU")),
                Err(e) => tried.push(format!("WebGPU: {e}")),
            }
        }
        if found.is_none() && prefer.as_deref() != Some("webgpu") {
            match adapter_for(wgpu::Backends::GL, canvas).await {
                Ok(a) => found = Some((a, "WebGL2")),
                Err(e) => tried.push(format!("WebGL2: {e}")),
            }
        }
        let Some(((_instance, surface, adapter), backend)) = found else {
            return Err(tried.join("; "));
        };
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("editor"),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(err)?;
        // `texture_cap` lowers it (tests: a device with WebGL2's minimum of 2048).
        let max_texture = limits
            .max_texture_dimension_2d
            .min(texture_cap.unwrap_or(u32::MAX));
        let caps = surface.get_capabilities(&adapter);
        let format = caps
            .formats
            .iter()
            .copied()
            .find(|f| !f.is_srgb())
            .or_else(|| caps.formats.first().copied())
            .ok_or("the canvas offers no format")?;
        let config = wgpu::SurfaceConfiguration {
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT,
            format,
            color_space: Default::default(),
            width: canvas.width().max(1),
            height: canvas.height().max(1),
            present_mode: caps
                .present_modes
                .first()
                .copied()
                .unwrap_or(wgpu::PresentMode::Fifo),
            desired_maximum_frame_latency: 2,
            alpha_mode: caps
                .alpha_modes
                .first()
                .copied()
                .unwrap_or(wgpu::CompositeAlphaMode::Auto),
            view_formats: vec![],
        };
        surface.configure(&device, &config);

        // The picture, downscaled by the browser beforehand if it exceeds the limit.
        let (iw, ih, pixels) = pixels_within(max_texture);
        let pixels = &pixels[..];
        let tex_size = (iw, ih);
        let full_size_textures = (iw, ih) == src;
        let tex = |label, usage| {
            device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width: tex_size.0,
                    height: tex_size.1,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage,
                view_formats: &[],
            })
        };
        let image_tex = tex(
            "picture",
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        );
        queue.write_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &image_tex,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            pixels,
            wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(4 * iw),
                rows_per_image: Some(ih),
            },
            wgpu::Extent3d {
                width: iw,
                height: ih,
                depth_or_array_layers: 1,
            },
        );
        let annot = tex(
            "annotations",
            wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::RENDER_ATTACHMENT,
        );
        let image_view = image_tex.create_view(&Default::default());
        let annot_view = annot.create_view(&Default::default());
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("composite uniforms"),
            size: 64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let comp_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("composite"),
            source: wgpu::ShaderSource::Wgsl(COMPOSITE.into()),
        });
        let frag = wgpu::ShaderStages::FRAGMENT;
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: None,
            entries: &[
                wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: frag,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 1,
                    visibility: frag,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 2,
                    visibility: frag,
                    ty: wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                    count: None,
                },
                wgpu::BindGroupLayoutEntry {
                    binding: 3,
                    visibility: frag,
                    ty: wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                    count: None,
                },
            ],
        });
        let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: wgpu::BindingResource::TextureView(&image_view),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&annot_view),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&sampler),
                },
            ],
        });
        let comp_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: None,
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let comp = |format: wgpu::TextureFormat| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some("composite"),
                layout: Some(&comp_layout),
                vertex: wgpu::VertexState {
                    module: &comp_module,
                    entry_point: Some("vs"),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: Default::default(),
                depth_stencil: None,
                multisample: Default::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &comp_module,
                    entry_point: Some("fs"),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format,
                        blend: None,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let comp_surface = comp(format);
        let comp_export = comp(wgpu::TextureFormat::Rgba8Unorm);

        let stroke_uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("stroke uniforms"),
            size: 16,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        // Strokes are in source pixels; the layer may be smaller than the source.
        queue.write_buffer(
            &stroke_uniform,
            0,
            &f32_bytes(&[src.0 as f32, src.1 as f32, 0.0, 0.0]),
        );
        let s_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: None,
            entries: &[wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::VERTEX,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            }],
        });
        let strokes_bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &s_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: stroke_uniform.as_entire_binding(),
            }],
        });
        let s_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("strokes"),
            source: wgpu::ShaderSource::Wgsl(STROKES.into()),
        });
        let s_pl = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: None,
            bind_group_layouts: &[Some(&s_layout)],
            immediate_size: 0,
        });
        let strokes_pipe = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("strokes"),
            layout: Some(&s_pl),
            vertex: wgpu::VertexState {
                module: &s_module,
                entry_point: Some("vs"),
                compilation_options: Default::default(),
                buffers: &[Some(wgpu::VertexBufferLayout {
                    array_stride: 24,
                    step_mode: wgpu::VertexStepMode::Vertex,
                    attributes: &wgpu::vertex_attr_array![0 => Float32x2, 1 => Float32x4],
                })],
            },
            primitive: Default::default(),
            depth_stencil: None,
            multisample: Default::default(),
            fragment: Some(wgpu::FragmentState {
                module: &s_module,
                entry_point: Some("fs"),
                compilation_options: Default::default(),
                // Opaque colours and the eraser's transparent black both replace what is there,
                // as the CPU reference does.
                targets: &[Some(wgpu::ColorTargetState {
                    format: wgpu::TextureFormat::Rgba8Unorm,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });
        let vertices = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("stroke vertices"),
            size: 1 << 20,
            usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let adapter_name = adapter.get_info().name;
        let mut gpu = Gpu {
            backend,
            adapter_name,
            max_texture,
            device,
            queue,
            surface,
            config,
            srgb_surface: format.is_srgb(),
            src_size: src,
            full_size_textures,
            annot_view,
            uniform,
            bind,
            comp_surface,
            comp_export,
            strokes_pipe,
            strokes_bind,
            vertices,
            drawn_points: 0,
            drawn_version: u64::MAX,
        };
        gpu.clear_annotations();
        Ok(gpu)
    }

    fn clear_annotations(&mut self) {
        self.draw_triangles(&[], true);
    }

    fn draw_triangles(&mut self, verts: &[f32], clear: bool) {
        let bytes = f32_bytes(verts);
        if bytes.len() as u64 > self.vertices.size() {
            self.vertices = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("stroke vertices"),
                size: (bytes.len() as u64).next_power_of_two(),
                usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
        }
        if !bytes.is_empty() {
            self.queue.write_buffer(&self.vertices, 0, &bytes);
        }
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = pass(
                &mut enc,
                "annotations",
                &self.annot_view,
                clear.then_some(wgpu::Color::TRANSPARENT),
            );
            if !verts.is_empty() {
                pass.set_pipeline(&self.strokes_pipe);
                pass.set_bind_group(0, &self.strokes_bind, &[]);
                pass.set_vertex_buffer(0, self.vertices.slice(..bytes.len() as u64));
                pass.draw(0..(verts.len() / 6) as u32, 0..1);
            }
        }
        self.queue.submit([enc.finish()]);
    }

    /// Brings the annotation layer up to date with the model: the new part of a growing
    /// freehand line, or everything again.
    pub fn sync_annotations(&mut self, ed: &Editor, full: bool) {
        let strokes = &ed.edit.strokes;
        let grow = !full
            && self.drawn_version == ed.strokes_version
            && matches!(strokes.last(), Some(s) if matches!(s.shape, Shape::Free(_)));
        let mut tris = Vec::new();
        let mut verts = Vec::new();
        let push = |tris: &[[f32; 2]], color: [f32; 4], verts: &mut Vec<f32>| {
            for p in tris {
                verts.extend_from_slice(&[p[0], p[1], color[0], color[1], color[2], color[3]]);
            }
        };
        let color_of = |s: &crate::model::Stroke| {
            if s.erase {
                [0.0; 4]
            } else {
                [
                    s.color[0] as f32 / 255.0,
                    s.color[1] as f32 / 255.0,
                    s.color[2] as f32 / 255.0,
                    1.0,
                ]
            }
        };
        if grow {
            let s = strokes.last().unwrap();
            if let Shape::Free(points) = &s.shape {
                tess::free_from(points, s.width, self.drawn_points, &mut tris);
                push(&tris, color_of(s), &mut verts);
                self.drawn_points = points.len();
            }
            self.draw_triangles(&verts, false);
            return;
        }
        for s in strokes {
            tris.clear();
            tess::stroke(s, &mut tris);
            push(&tris, color_of(s), &mut verts);
        }
        self.drawn_points = match strokes.last().map(|s| &s.shape) {
            Some(Shape::Free(p)) => p.len(),
            _ => 0,
        };
        self.drawn_version = ed.strokes_version;
        self.draw_triangles(&verts, true);
    }

    /// The growing stroke started a new version (a new stroke): remember it so the next
    /// points are drawn incrementally.
    pub fn note_version(&mut self, ed: &Editor) {
        if self.drawn_version != ed.strokes_version {
            self.sync_annotations(ed, true);
        }
    }

    fn uniforms(&self, a: &Affine, crop: [f32; 4], flags: [f32; 4]) -> Vec<u8> {
        f32_bytes(&[
            a.m[0][0] as f32,
            a.m[0][1] as f32,
            a.m[1][0] as f32,
            a.m[1][1] as f32,
            a.t[0] as f32,
            a.t[1] as f32,
            self.tex_w_units().0,
            self.tex_w_units().1,
            crop[0],
            crop[1],
            crop[2],
            crop[3],
            flags[0],
            flags[1],
            flags[2],
            flags[3],
        ])
    }

    /// The source size the shader divides by (the textures may be smaller; uv is relative).
    fn tex_w_units(&self) -> (f32, f32) {
        (self.src_size.0 as f32, self.src_size.1 as f32)
    }

    /// Draws the preview on the canvas.
    pub fn render(&mut self, ed: &Editor, view: &View, dpr: f64) {
        let (w, h) = (view.canvas[0] as u32, view.canvas[1] as u32);
        if w == 0 || h == 0 {
            return;
        }
        if (w, h) != (self.config.width, self.config.height) {
            self.config.width = w;
            self.config.height = h;
            self.surface.configure(&self.device, &self.config);
        }
        let frame = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(f)
            | wgpu::CurrentSurfaceTexture::Suboptimal(f) => f,
            _ => {
                self.surface.configure(&self.device, &self.config);
                return;
            }
        };
        let a = ed.screen_affine(view);
        let c = ed.edit.crop;
        let p0 = ed.display_to_screen(view, [c.x0, c.y0]);
        let p1 = ed.display_to_screen(view, [c.x1, c.y1]);
        // Outside the crop is dimmed while cropping, and darker while annotating (it is not
        // part of the result).
        let dim = if ed.mode == Mode::Crop { 0.4 } else { 0.2 };
        let u = self.uniforms(
            &a,
            [p0[0] as f32, p0[1] as f32, p1[0] as f32, p1[1] as f32],
            [
                1.0,
                if self.srgb_surface { 1.0 } else { 0.0 },
                dim,
                dpr as f32,
            ],
        );
        self.queue.write_buffer(&self.uniform, 0, &u);
        let view_tex = frame.texture.create_view(&Default::default());
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = pass(&mut enc, "preview", &view_tex, Some(wgpu::Color::BLACK));
            pass.set_pipeline(&self.comp_surface);
            pass.set_bind_group(0, &self.bind, &[]);
            pass.draw(0..3, 0..1);
        }
        self.queue.submit([enc.finish()]);
        self.queue.present(frame);
    }

    /// Renders the export at full resolution and reads it back (RGBA8, straight alpha).
    pub async fn export(&mut self, ed: &Editor) -> Result<(u32, u32, Vec<u8>), String> {
        let (ow, oh) = ed.output_size();
        if ow > self.max_texture || oh > self.max_texture || !self.full_size_textures {
            return Err("larger than this device's textures".into());
        }
        let target = self.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("export"),
            size: wgpu::Extent3d {
                width: ow,
                height: oh,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let u = self.uniforms(&ed.export_affine(), [0.0; 4], [0.0; 4]);
        self.queue.write_buffer(&self.uniform, 0, &u);
        let tv = target.create_view(&Default::default());
        let row = (ow * 4).div_ceil(256) * 256;
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("export readback"),
            size: row as u64 * oh as u64,
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        {
            let mut pass = pass(&mut enc, "export", &tv, Some(wgpu::Color::TRANSPARENT));
            pass.set_pipeline(&self.comp_export);
            pass.set_bind_group(0, &self.bind, &[]);
            pass.draw(0..3, 0..1);
        }
        enc.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &target,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &buf,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row),
                    rows_per_image: Some(oh),
                },
            },
            wgpu::Extent3d {
                width: ow,
                height: oh,
                depth_or_array_layers: 1,
            },
        );
        self.queue.submit([enc.finish()]);
        let done = std::rc::Rc::new(std::cell::Cell::new(None::<bool>));
        let d = done.clone();
        buf.slice(..)
            .map_async(wgpu::MapMode::Read, move |r| d.set(Some(r.is_ok())));
        // WebGL cannot block: poll and yield to the browser until the map completes.
        loop {
            let _ = self.device.poll(wgpu::PollType::Poll);
            if let Some(ok) = done.get() {
                if !ok {
                    return Err("the GPU could not read the image back".into());
                }
                break;
            }
            crate::ui::sleep(4).await;
        }
        let mapped = buf.slice(..).get_mapped_range().map_err(err)?;
        let mut out = Vec::with_capacity((ow * oh * 4) as usize);
        for y in 0..oh as usize {
            let start = y * row as usize;
            out.extend_from_slice(&mapped[start..start + ow as usize * 4]);
        }
        drop(mapped);
        buf.unmap();
        target.destroy();
        buf.destroy();
        Ok((ow, oh, out))
    }
}

/// A render pass drawing into `view` alone, cleared to `clear` first (or loaded when `None`).
fn pass<'a>(
    enc: &'a mut wgpu::CommandEncoder,
    label: &'static str,
    view: &'a wgpu::TextureView,
    clear: Option<wgpu::Color>,
) -> wgpu::RenderPass<'a> {
    enc.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some(label),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: clear.map_or(wgpu::LoadOp::Load, wgpu::LoadOp::Clear),
                store: wgpu::StoreOp::Store,
            },
        })],
        ..Default::default()
    })
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}
