//! Image to Video on real photos with the real matte model: the MP4's structure (box order,
//! sample entry size, sample count, durations), the motion chosen from prompts (and refused),
//! and decoded frames (openh264's decoder) checked against what each motion should show.

use std::time::Instant;

use atelier_inference::imaging::EngineError;
use atelier_inference::video::{self, motion_for, Motion, Video, VideoSpec};
use fast_image_resize as fr;
use image::{DynamicImage, RgbImage};
use openh264::formats::YUVSource;

mod common;
use common::{artifacts, fixture, remover};

fn spec(seconds: u32, height: u32, prompt: Option<&str>) -> VideoSpec {
    VideoSpec {
        seconds,
        height,
        prompt: prompt.map(str::to_string),
    }
}

// ---------------------------------------------------------------------------------------------
// A minimal MP4 reader: just what the checks need.

fn be16(b: &[u8]) -> u32 {
    u16::from_be_bytes([b[0], b[1]]) as u32
}
fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}
fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().unwrap())
}

/// The boxes of one level: (type, payload, offset of the box in `data`).
fn boxes(data: &[u8]) -> Vec<(String, &[u8], usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 8 <= data.len() {
        let mut size = be32(&data[i..]) as usize;
        let kind = String::from_utf8_lossy(&data[i + 4..i + 8]).to_string();
        let mut header = 8;
        if size == 1 {
            size = be64(&data[i + 8..]) as usize;
            header = 16;
        } else if size == 0 {
            size = data.len() - i;
        }
        assert!(
            size >= header && i + size <= data.len(),
            "box {kind} overruns"
        );
        out.push((kind, &data[i + header..i + size], i));
        i += size;
    }
    assert_eq!(i, data.len(), "trailing bytes after the last box");
    out
}

fn child<'a>(data: &'a [u8], path: &[&str]) -> &'a [u8] {
    let mut cur = data;
    for name in path {
        cur = boxes(cur)
            .into_iter()
            .find(|(k, _, _)| k == name)
            .unwrap_or_else(|| panic!("no {name} box"))
            .1;
    }
    cur
}

/// (timescale, duration) of an mvhd or mdhd payload.
fn time_header(p: &[u8]) -> (u32, u64) {
    if p[0] == 1 {
        (be32(&p[20..]), be64(&p[24..]))
    } else {
        (be32(&p[12..]), be32(&p[16..]) as u64)
    }
}

struct Mp4 {
    top: Vec<String>,
    width: u32,
    height: u32,
    profile: u8,
    movie_seconds: f64,
    media_seconds: f64,
    stts_seconds: f64,
    sps: Vec<u8>,
    pps: Vec<u8>,
    samples: Vec<Vec<u8>>,
    sync: Vec<u32>,
}

fn parse(mp4: &[u8]) -> Mp4 {
    let top: Vec<(String, &[u8], usize)> = boxes(mp4);
    let moov = top.iter().find(|b| b.0 == "moov").expect("moov").1;
    let (ts, dur) = time_header(child(moov, &["mvhd"]));
    let trak = child(moov, &["trak"]);
    let (mts, mdur) = time_header(child(trak, &["mdia", "mdhd"]));
    let stbl = child(trak, &["mdia", "minf", "stbl"]);
    let stsd = child(stbl, &["stsd"]);
    assert_eq!(be32(&stsd[4..]), 1, "one sample entry");
    let entries = boxes(&stsd[8..]);
    let (kind, entry, _) = &entries[0];
    assert_eq!(kind, "avc1");
    let (width, height) = (be16(&entry[24..]), be16(&entry[26..]));
    let avcc = boxes(&entry[78..])
        .into_iter()
        .find(|b| b.0 == "avcC")
        .expect("avcC")
        .1;
    let profile = avcc[1];
    assert_eq!(avcc[4] & 3, 3, "4-byte NAL lengths");
    assert_eq!(avcc[5] & 31, 1, "one SPS");
    let sps_len = be16(&avcc[6..]) as usize;
    let sps = avcc[8..8 + sps_len].to_vec();
    let rest = &avcc[8 + sps_len..];
    assert_eq!(rest[0], 1, "one PPS");
    let pps = rest[3..3 + be16(&rest[1..]) as usize].to_vec();

    let stsz = child(stbl, &["stsz"]);
    let (fixed, count) = (be32(&stsz[4..]), be32(&stsz[8..]) as usize);
    let sizes: Vec<usize> = (0..count)
        .map(|i| {
            if fixed != 0 {
                fixed as usize
            } else {
                be32(&stsz[12 + 4 * i..]) as usize
            }
        })
        .collect();
    let stbl_boxes = boxes(stbl);
    let chunks: Vec<u64> = if let Some(b) = stbl_boxes.iter().find(|b| b.0 == "stco") {
        (0..be32(&b.1[4..]) as usize)
            .map(|i| be32(&b.1[8 + 4 * i..]) as u64)
            .collect()
    } else {
        let b = stbl_boxes.iter().find(|b| b.0 == "co64").expect("stco");
        (0..be32(&b.1[4..]) as usize)
            .map(|i| be64(&b.1[8 + 8 * i..]))
            .collect()
    };
    let stsc = child(stbl, &["stsc"]);
    let runs: Vec<(u32, u32)> = (0..be32(&stsc[4..]) as usize)
        .map(|i| (be32(&stsc[8 + 12 * i..]), be32(&stsc[12 + 12 * i..])))
        .collect();
    let mut samples = Vec::new();
    let mut s = 0;
    for (c, off) in chunks.iter().enumerate() {
        let per = runs
            .iter()
            .rev()
            .find(|r| r.0 as usize <= c + 1)
            .expect("stsc run")
            .1;
        let mut at = *off as usize;
        for _ in 0..per {
            samples.push(mp4[at..at + sizes[s]].to_vec());
            at += sizes[s];
            s += 1;
        }
    }
    assert_eq!(samples.len(), count, "stsc/stco cover every sample");
    let stts = child(stbl, &["stts"]);
    let ticks: u64 = (0..be32(&stts[4..]) as usize)
        .map(|i| be32(&stts[8 + 8 * i..]) as u64 * be32(&stts[12 + 8 * i..]) as u64)
        .sum();
    let sync = stbl_boxes
        .iter()
        .find(|b| b.0 == "stss")
        .map(|b| {
            (0..be32(&b.1[4..]) as usize)
                .map(|i| be32(&b.1[8 + 4 * i..]))
                .collect()
        })
        .unwrap_or_default();
    Mp4 {
        top: top.iter().map(|b| b.0.clone()).collect(),
        width,
        height,
        profile,
        movie_seconds: dur as f64 / ts as f64,
        media_seconds: mdur as f64 / mts as f64,
        stts_seconds: ticks as f64 / mts as f64,
        sps,
        pps,
        samples,
        sync,
    }
}

/// Checks the container and returns it parsed.
fn check_mp4(v: &Video, w: u32, h: u32, seconds: u32) -> Mp4 {
    assert_eq!((v.width, v.height), (w, h));
    assert_eq!(v.frames, seconds * 30);
    let m = parse(&v.mp4);
    let order: Vec<&str> = m
        .top
        .iter()
        .map(String::as_str)
        .filter(|k| ["ftyp", "moov", "mdat"].contains(k))
        .collect();
    assert_eq!(order, ["ftyp", "moov", "mdat"], "fast start: {:?}", m.top);
    assert_eq!((m.width, m.height), (w, h), "avc1 sample entry size");
    assert_eq!(m.profile, 66, "Baseline profile");
    assert_eq!(m.samples.len() as u32, seconds * 30, "stsz sample count");
    for (what, s) in [
        ("mvhd", m.movie_seconds),
        ("mdhd", m.media_seconds),
        ("stts", m.stts_seconds),
    ] {
        assert!((s - seconds as f64).abs() < 0.02, "{what} duration {s}");
    }
    assert_eq!(m.sync.first(), Some(&1), "starts on a sync sample");
    assert!(
        m.sync.len() as u32 >= seconds / 2,
        "an IDR every 2 s: {:?}",
        m.sync
    );
    m
}

/// Decodes every frame and returns those at `wanted` indices as RGB.
fn decode_frames(m: &Mp4, wanted: &[usize]) -> Vec<RgbImage> {
    let annexb = |nals: &[&[u8]]| {
        let mut out = Vec::new();
        for n in nals {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(n);
        }
        out
    };
    let mut dec = openh264::decoder::Decoder::new().unwrap();
    assert!(dec.decode(&annexb(&[&m.sps, &m.pps])).unwrap().is_none());
    let mut got = vec![None; wanted.len()];
    let mut decoded = 0usize;
    for s in &m.samples {
        let mut nals = Vec::new();
        let mut i = 0;
        while i < s.len() {
            let n = be32(&s[i..]) as usize;
            nals.push(&s[i + 4..i + 4 + n]);
            i += 4 + n;
        }
        if let Some(yuv) = dec.decode(&annexb(&nals)).unwrap() {
            let (w, h) = yuv.dimensions();
            if let Some(k) = wanted.iter().position(|x| *x == decoded) {
                let mut rgb = vec![0u8; w * h * 3];
                yuv.write_rgb8(&mut rgb);
                got[k] = Some(RgbImage::from_raw(w as u32, h as u32, rgb).unwrap());
            }
            decoded += 1;
        }
    }
    assert_eq!(decoded, m.samples.len(), "every sample decodes to a frame");
    got.into_iter().map(|g| g.expect("frame decoded")).collect()
}

/// A window of `img` (centre `c` in 0..1, `zoom` ≥ 1 of the whole, kept inside) resized to w×h.
fn view(img: &RgbImage, zoom: f64, c: (f64, f64), w: u32, h: u32) -> RgbImage {
    let (iw, ih) = (img.width() as f64, img.height() as f64);
    let (ww, wh) = (iw / zoom, ih / zoom);
    let cx = (c.0 * iw).clamp(ww / 2.0, iw - ww / 2.0);
    let cy = (c.1 * ih).clamp(wh / 2.0, ih - wh / 2.0);
    let src =
        fr::images::ImageRef::new(img.width(), img.height(), img.as_raw(), fr::PixelType::U8x3)
            .unwrap();
    let mut dst = fr::images::Image::new(w, h, fr::PixelType::U8x3);
    fr::Resizer::new()
        .resize(
            &src,
            &mut dst,
            &fr::ResizeOptions::new()
                .resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3))
                .crop(cx - ww / 2.0, cy - wh / 2.0, ww, wh),
        )
        .unwrap();
    RgbImage::from_raw(w, h, dst.into_vec()).unwrap()
}

fn small(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    view(img, 1.0, (0.5, 0.5), w, h)
}

/// Mean absolute difference (0..255) over a region given in 0..1 fractions (x0, y0, x1, y1).
fn mad_in(a: &RgbImage, b: &RgbImage, r: (f64, f64, f64, f64)) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let (w, h) = (a.width() as f64, a.height() as f64);
    let (x0, y0, x1, y1) = (
        (r.0 * w) as u32,
        (r.1 * h) as u32,
        (r.2 * w) as u32,
        (r.3 * h) as u32,
    );
    let mut sum = 0u64;
    let mut n = 0u64;
    for y in y0..y1 {
        for x in x0..x1 {
            let (p, q) = (a.get_pixel(x, y), b.get_pixel(x, y));
            for c in 0..3 {
                sum += (p[c] as i32 - q[c] as i32).unsigned_abs() as u64;
            }
            n += 3;
        }
    }
    sum as f64 / n as f64
}

fn mad(a: &RgbImage, b: &RgbImage) -> f64 {
    mad_in(a, b, (0.0, 0.0, 1.0, 1.0))
}

/// The best (zoom, centre, difference) of `img`'s windows against `target` in region `r`.
fn best_view(
    img: &RgbImage,
    target: &RgbImage,
    zooms: &[f64],
    r: (f64, f64, f64, f64),
) -> (f64, (f64, f64), f64) {
    let (w, h) = target.dimensions();
    let mut best = (0.0, (0.0, 0.0), f64::MAX);
    for &z in zooms {
        let half = 0.5 / z;
        for i in 0..=12 {
            for j in 0..=12 {
                let c = (
                    half + (1.0 - 2.0 * half) * i as f64 / 12.0,
                    half + (1.0 - 2.0 * half) * j as f64 / 12.0,
                );
                let d = mad_in(&view(img, z, c, w, h), target, r);
                if d < best.2 {
                    best = (z, c, d);
                }
            }
        }
    }
    best
}

// ---------------------------------------------------------------------------------------------

#[test]
fn prompts_map_to_motions_and_non_camera_requests_are_refused() {
    let ok = |p: Option<&str>, end: bool, subject: bool| motion_for(p, end, subject).unwrap();
    // Defaults.
    assert_eq!(ok(None, false, true), Motion::Parallax);
    assert_eq!(ok(None, false, false), Motion::PushIn);
    assert_eq!(ok(Some("  "), false, false), Motion::PushIn);
    assert_eq!(
        ok(Some("cinematic, slow and smooth"), false, true),
        Motion::Parallax
    );
    assert_eq!(ok(None, true, true), Motion::Transition);
    // Camera moves.
    for (p, m) in [
        ("zoom in", Motion::PushIn),
        ("Slow push-in on the model's face", Motion::PushIn),
        ("zoom in on her earrings", Motion::PushIn),
        ("close-up", Motion::PushIn),
        ("zoom", Motion::PushIn),
        ("zoom out", Motion::PullOut),
        ("pull back slowly", Motion::PullOut),
        ("camera moves away", Motion::PullOut),
        ("pan left", Motion::PanLeft),
        ("pan slowly to the left", Motion::PanLeft),
        ("camera pans right", Motion::PanRight),
        ("pan from left to right", Motion::PanRight),
        ("tilt up", Motion::PanUp),
        ("tilt down", Motion::PanDown),
        ("parallax", Motion::Parallax),
        ("subtle 3D parallax effect", Motion::Parallax),
    ] {
        assert_eq!(ok(Some(p), false, true), m, "{p}");
    }
    // With an End Image the motion is the transition, whatever camera move is asked.
    assert_eq!(ok(Some("pan left"), true, false), Motion::Transition);
    assert_eq!(
        ok(Some("smooth transition"), true, false),
        Motion::Transition
    );

    let refused = |p: &str, end: bool, subject: bool| match motion_for(Some(p), end, subject) {
        Err(EngineError::Input(m)) => m,
        other => panic!(
            "{p}: expected a refusal, got {:?}",
            other.map(|m| m.label())
        ),
    };
    const TAIL: &str = "this engine makes camera motion only: zoom in, zoom out, pan \
                        left/right/up/down, parallax; remove the prompt or use one of these.";
    for p in [
        "model raises arm",
        "walks",
        "zoom in while the model walks",
        "hair blowing in the wind",
        "make her smile",
    ] {
        let m = refused(p, false, true);
        assert!(m.ends_with(TAIL), "{p}: {m}");
        assert!(m.contains(p), "names the prompt: {m}");
    }
    let m = refused("model raises arm", true, true);
    assert!(
        m.ends_with(TAIL),
        "an End Image does not make it acceptable: {m}"
    );
    for p in [
        "orbit around the model",
        "turn the camera around her",
        "360 spin",
    ] {
        let m = refused(p, false, true);
        assert!(m.contains("orbit") && m.ends_with(TAIL), "{p}: {m}");
    }
    let m = refused("zoom in and pan left", false, true);
    assert!(
        m.contains("more than one") && m.contains("push-in") && m.contains("pan-left"),
        "{m}"
    );
    let m = refused("dissolve", false, true);
    assert!(m.contains("End Image"), "{m}");
    let m = refused("parallax", false, false);
    assert!(m.contains("no") && m.contains("zoom in"), "{m}");
    let m = refused(&"zoom in ".repeat(40), false, true);
    assert!(m.contains("short motion instruction"), "{m}");

    let labels: Vec<&str> = [
        Motion::PushIn,
        Motion::PullOut,
        Motion::PanLeft,
        Motion::PanRight,
        Motion::PanUp,
        Motion::PanDown,
        Motion::Parallax,
        Motion::Transition,
    ]
    .iter()
    .map(|m| m.label())
    .collect();
    assert_eq!(
        labels,
        [
            "push-in",
            "pull-out",
            "pan-left",
            "pan-right",
            "pan-up",
            "pan-down",
            "parallax",
            "transition"
        ]
    );
}

#[test]
fn specs_outside_the_catalogue_are_input_errors() {
    let bg = remover();
    let img = fixture("model-photo-512.jpg");
    for (s, what) in [
        (spec(7, 720, None), "5 or 10"),
        (spec(5, 600, None), "480p"),
    ] {
        match video::run(bg, &img, None, &s) {
            Err(EngineError::Input(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("expected an input error, got ok={}", other.is_ok()),
        }
    }
    match video::run(bg, &img, None, &spec(5, 480, Some("model raises arm"))) {
        Err(EngineError::Input(m)) => assert!(m.contains("camera motion only"), "{m}"),
        other => panic!("expected an input error, got ok={}", other.is_ok()),
    }
}

/// 720p push-in on the 2:3 portrait: 720×1080, 150 frames, 5 s; the first frame is the whole
/// photo and the last a 1.12× window of it.
#[test]
fn push_in_720p_ends_on_a_zoomed_window_of_the_photo() {
    let bg = remover();
    let img = fixture("model-photo.webp");
    let t = Instant::now();
    let v = video::run(bg, &img, None, &spec(5, 720, Some("slow zoom in"))).unwrap();
    println!(
        "push-in 720p 5 s: {:.2} s, {} bytes",
        t.elapsed().as_secs_f64(),
        v.mp4.len()
    );
    std::fs::write(artifacts().join("video-push-in-720p.mp4"), &v.mp4).unwrap();
    assert_eq!(v.motion, Motion::PushIn);
    let m = check_mp4(&v, 720, 1080, 5);
    let frames = decode_frames(&m, &[0, 149]);
    let photo = img.to_rgb8();
    let first = mad(&frames[0], &small(&photo, 720, 1080));
    assert!(first < 4.0, "first frame vs the photo: {first:.2}");
    // The poster (the Gallery's thumbnail of the clip) is the first frame as rendered.
    assert_eq!(v.poster.dimensions(), (720, 1080));
    let poster = mad(&frames[0], &v.poster);
    assert!(poster < 3.0, "first frame vs the poster: {poster:.2}");

    // The last frame, compared at a quarter size with windows of the photo.
    let last = small(&frames[1], 180, 270);
    let all = (0.0, 0.0, 1.0, 1.0);
    let (z, c, d) = best_view(&photo, &last, &[1.0, 1.04, 1.08, 1.12, 1.16], all);
    let unzoomed = mad(&last, &small(&photo, 180, 270));
    println!("push-in last frame: zoom {z} at {c:?}, difference {d:.2} (unzoomed {unzoomed:.2})");
    assert_eq!(z, 1.12, "the push ends at 1.12×");
    assert!(
        d < 4.0 && unzoomed > 2.0 * d,
        "best {d:.2}, unzoomed {unzoomed:.2}"
    );
    // The camera went towards the seated man (upper middle of the frame), not into a corner.
    assert!(
        (0.4..=0.6).contains(&c.0) && c.1 <= 0.55,
        "window centre {c:?}"
    );
}

/// 1080p transition: the first frame is the start image, the last the End Image.
#[test]
fn transition_1080p_goes_from_the_start_image_to_the_end_image() {
    let bg = remover();
    let start = fixture("model-photo.webp");
    let end = fixture("garment-on-model.webp");
    let t = Instant::now();
    let v = video::run(bg, &start, Some(&end), &spec(5, 1080, None)).unwrap();
    println!(
        "transition 1080p 5 s: {:.2} s, {} bytes",
        t.elapsed().as_secs_f64(),
        v.mp4.len()
    );
    std::fs::write(artifacts().join("video-transition-1080p.mp4"), &v.mp4).unwrap();
    assert_eq!(v.motion, Motion::Transition);
    let m = check_mp4(&v, 1080, 1620, 5);
    let frames = decode_frames(&m, &[0, 75, 149]);
    frames[1]
        .save(artifacts().join("video-transition-1080p-middle.png"))
        .unwrap();
    let (s, e) = (
        small(&start.to_rgb8(), 1080, 1620),
        small(&end.to_rgb8(), 1080, 1620),
    );
    let (first_s, first_e) = (mad(&frames[0], &s), mad(&frames[0], &e));
    let (last_s, last_e) = (mad(&frames[2], &s), mad(&frames[2], &e));
    println!("first: {first_s:.2} vs start, {first_e:.2} vs end; last: {last_s:.2} vs start, {last_e:.2} vs end");
    assert!(
        first_s < 4.0 && first_e > 20.0,
        "first {first_s:.2} / {first_e:.2}"
    );
    assert!(
        last_e < 4.0 && last_s > 20.0,
        "last {last_e:.2} / {last_s:.2}"
    );
    // Halfway it is a mix: far from both.
    let (mid_s, mid_e) = (mad(&frames[1], &s), mad(&frames[1], &e));
    assert!(mid_s > 8.0 && mid_e > 8.0, "middle {mid_s:.2} / {mid_e:.2}");
}

/// No prompt on a photo with a clear subject: parallax. The background follows a gentle zoom
/// (≈1.04×) while the subject grows more (≈1.10×).
#[test]
fn default_on_a_model_photo_is_parallax_with_a_faster_subject() {
    let bg = remover();
    let img = fixture("model-photo.webp");
    let t = Instant::now();
    let v = video::run(bg, &img, None, &spec(5, 480, None)).unwrap();
    println!("parallax 480p 5 s: {:.2} s", t.elapsed().as_secs_f64());
    std::fs::write(artifacts().join("video-parallax-480p.mp4"), &v.mp4).unwrap();
    assert_eq!(v.motion, Motion::Parallax);
    let m = check_mp4(&v, 480, 720, 5);
    let frames = decode_frames(&m, &[0, 149]);
    frames[1]
        .save(artifacts().join("video-parallax-480p-last.png"))
        .unwrap();
    let photo = img.to_rgb8();
    let first = mad(&frames[0], &small(&photo, 480, 720));
    assert!(first < 5.0, "first frame vs the photo: {first:.2}");
    let last = small(&frames[1], 160, 240);
    let zooms = [1.0, 1.02, 1.04, 1.06, 1.08, 1.10, 1.12, 1.14];
    // Top corners: background. The chest and trousers: subject.
    let (bz, bc, bd) = best_view(&photo, &last, &zooms, (0.0, 0.0, 0.22, 0.15));
    let (sz, sc, sd) = best_view(&photo, &last, &zooms, (0.4, 0.35, 0.6, 0.55));
    println!("parallax: background {bz}× at {bc:?} ({bd:.2}), subject {sz}× at {sc:?} ({sd:.2})");
    assert!((1.02..=1.06).contains(&bz), "background zoom {bz}");
    assert!((1.08..=1.12).contains(&sz), "subject zoom {sz}");
    // The subject patch also shows some background between the arms: a looser match.
    assert!(bd < 6.0 && sd < 12.0, "matches {bd:.2} {sd:.2}");
}

/// A picture with no subject (a soft gradient): the default is a push-in to the centre, and
/// parallax is refused.
#[test]
fn no_subject_defaults_to_a_push_in_and_refuses_parallax() {
    let bg = remover();
    let grad = RgbImage::from_fn(640, 960, |x, y| {
        image::Rgb([(x / 4) as u8, (y / 5) as u8, (160 + (x + y) / 20) as u8])
    });
    let img = DynamicImage::ImageRgb8(grad);
    let v = video::run(bg, &img, None, &spec(5, 480, None)).unwrap();
    assert_eq!(v.motion, Motion::PushIn);
    check_mp4(&v, 480, 720, 5);
    match video::run(bg, &img, None, &spec(5, 480, Some("parallax"))) {
        Err(EngineError::Input(m)) => assert!(m.contains("parallax needs a subject"), "{m}"),
        other => panic!("expected an input error, got ok={}", other.is_ok()),
    }
}

/// A 16:9 photo panned left at 480p: 854×480, and the picture slides right by 6 % of the
/// source width (× the pan's 1.064 zoom ≈ 54 px).
#[test]
fn pan_left_on_a_landscape_photo_slides_the_picture() {
    let bg = remover();
    let photo = fixture("model-photo.webp").to_rgb8();
    let wide = image::imageops::crop_imm(&photo, 0, 390, 832, 468).to_image();
    let v = video::run(
        bg,
        &DynamicImage::ImageRgb8(wide),
        None,
        &spec(5, 480, Some("pan to the left")),
    )
    .unwrap();
    assert_eq!(v.motion, Motion::PanLeft);
    let m = check_mp4(&v, 854, 480, 5);
    let frames = decode_frames(&m, &[0, 149]);
    let (a, b) = (&frames[0], &frames[1]);
    let luma = |p: &image::Rgb<u8>| p[0] as i32 * 3 + p[1] as i32 * 6 + p[2] as i32;
    let mut best = (0i32, f64::MAX);
    for dx in -90i32..=90 {
        let (mut sum, mut n) = (0i64, 0i64);
        for y in (0..480).step_by(2) {
            for x in 100..754 {
                let xs = x - dx;
                sum +=
                    (luma(b.get_pixel(x as u32, y)) - luma(a.get_pixel(xs as u32, y))).abs() as i64;
                n += 1;
            }
        }
        let d = sum as f64 / n as f64;
        if d < best.1 {
            best = (dx, d);
        }
    }
    println!(
        "pan left: the picture moved {} px (difference {:.2})",
        best.0, best.1
    );
    assert!((50..=59).contains(&best.0), "shift {}", best.0);
}

/// Encode times for every tier and length (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn encode_times() {
    // The engine's debug lines split each run into setup (pre-scale, matte), render and encode.
    tracing_subscriber::fmt()
        .with_env_filter("atelier_inference=debug")
        .with_target(false)
        .init();
    let bg = remover();
    let img = fixture("model-photo.webp");
    let end = fixture("garment-on-model.webp");
    for height in [480, 720, 1080] {
        for seconds in [5, 10] {
            for (what, prompt, e) in [
                ("push-in", Some("zoom in"), None),
                ("parallax", None, None),
                ("transition", None, Some(&end)),
            ] {
                let t = Instant::now();
                let v = video::run(bg, &img, e, &spec(seconds, height, prompt)).unwrap();
                let s = t.elapsed().as_secs_f64();
                assert_eq!(v.frames, seconds * 30);
                println!(
                    "{what:10} {height}p {seconds:2} s: {s:6.2} s ({:5.1} ms/frame), {:.1} MB",
                    s * 1000.0 / v.frames as f64,
                    v.mp4.len() as f64 / 1e6
                );
            }
        }
    }
}
