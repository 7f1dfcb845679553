//! MP4 outputs: a structural check of what a node uploads as a video (ISO BMFF boxes tile the
//! file, `ftyp` first, a `moov` and an `mdat`), and the picture size and duration it declares.
//! Like [`crate::image::inspect`], it reads headers only and never decodes.

/// What an MP4 declares about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mp4Info {
    pub width: u32,
    pub height: u32,
    /// The movie's duration in milliseconds (`mvhd`).
    pub duration_ms: u64,
    /// Whether `moov` comes before `mdat`, so a browser can start playing before the end.
    pub fast_start: bool,
}

/// Why bytes are not a usable MP4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mp4Problem {
    #[error("the file is not an MP4 (no ftyp box at the start)")]
    NotMp4,
    #[error("the MP4 is truncated or its boxes do not add up")]
    Truncated,
    #[error("the MP4 has no {0} box")]
    Missing(&'static str),
    #[error("the MP4 is over the size limit")]
    TooLarge,
}

/// One box: (type, payload start, end).
fn boxes(
    data: &[u8],
    mut at: usize,
    end: usize,
) -> Result<Vec<([u8; 4], usize, usize)>, Mp4Problem> {
    let mut out = vec![];
    while at < end {
        if end - at < 8 {
            return Err(Mp4Problem::Truncated);
        }
        let size32 = u32::from_be_bytes(data[at..at + 4].try_into().expect("4 bytes")) as u64;
        let kind: [u8; 4] = data[at + 4..at + 8].try_into().expect("4 bytes");
        let (header, size) = match size32 {
            0 => (8u64, (end - at) as u64),
            1 => {
                if end - at < 16 {
                    return Err(Mp4Problem::Truncated);
                }
                let s = u64::from_be_bytes(data[at + 8..at + 16].try_into().expect("8 bytes"));
                (16, s)
            }
            s => (8, s),
        };
        if size < header || size > (end - at) as u64 {
            return Err(Mp4Problem::Truncated);
        }
        out.push((kind, at + header as usize, at + size as usize));
        at += size as usize;
    }
    Ok(out)
}

fn find(data: &[u8], start: usize, end: usize, kind: &[u8; 4]) -> Option<(usize, usize)> {
    boxes(data, start, end)
        .ok()?
        .into_iter()
        .find(|(k, _, _)| k == kind)
        .map(|(_, s, e)| (s, e))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn be64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// Checks an MP4 of at most `max_bytes` and reads its size and duration.
pub fn inspect_mp4(data: &[u8], max_bytes: u64) -> Result<Mp4Info, Mp4Problem> {
    if data.len() as u64 > max_bytes {
        return Err(Mp4Problem::TooLarge);
    }
    if data.len() < 8 || &data[4..8] != b"ftyp" {
        return Err(Mp4Problem::NotMp4);
    }
    let top = boxes(data, 0, data.len())?;
    let pos = |k: &[u8; 4]| top.iter().position(|(t, _, _)| t == k);
    let moov_at = pos(b"moov").ok_or(Mp4Problem::Missing("moov"))?;
    let mdat_at = pos(b"mdat").ok_or(Mp4Problem::Missing("mdat"))?;
    let (_, ms, me) = top[moov_at];
    let (hs, he) = find(data, ms, me, b"mvhd").ok_or(Mp4Problem::Missing("mvhd"))?;
    let version = *data.get(hs).ok_or(Mp4Problem::Truncated)?;
    let (timescale, duration) = if version == 1 {
        (be32(data, hs + 20), be64(data, hs + 24))
    } else {
        (be32(data, hs + 12), be32(data, hs + 16).map(u64::from))
    };
    let (timescale, duration) = match (timescale, duration) {
        (Some(t), Some(d)) if hs + 28 <= he => (t.max(1) as u64, d),
        _ => return Err(Mp4Problem::Truncated),
    };
    // The picture size: the largest track header's width and height (16.16 fixed point, the
    // last 8 bytes of `tkhd`).
    let (mut width, mut height) = (0, 0);
    for (kind, ts, te) in boxes(data, ms, me)? {
        if &kind != b"trak" {
            continue;
        }
        if let Some((ks, ke)) = find(data, ts, te, b"tkhd") {
            if ke >= ks + 8 {
                let w = be32(data, ke - 8).unwrap_or(0) >> 16;
                let h = be32(data, ke - 4).unwrap_or(0) >> 16;
                if w * h > width * height {
                    (width, height) = (w, h);
                }
            }
        }
    }
    if width == 0 || height == 0 {
        return Err(Mp4Problem::Missing("video track"));
    }
    Ok(Mp4Info {
        width,
        height,
        duration_ms: duration * 1000 / timescale,
        fast_start: moov_at < mdat_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn bx(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(payload);
        v
    }

    /// A minimal MP4: ftyp, moov (mvhd v0 at 1000 Hz, one trak with tkhd), mdat.
    fn sample(w: u32, h: u32, ms: u32, moov_first: bool) -> Vec<u8> {
        let mut mvhd = vec![0u8; 4 + 8];
        mvhd.extend_from_slice(&1000u32.to_be_bytes());
        mvhd.extend_from_slice(&ms.to_be_bytes());
        mvhd.extend_from_slice(&[0u8; 80]);
        let mut tkhd = vec![0u8; 76];
        tkhd.extend_from_slice(&(w << 16).to_be_bytes());
        tkhd.extend_from_slice(&(h << 16).to_be_bytes());
        let moov = bx(
            b"moov",
            &[bx(b"mvhd", &mvhd), bx(b"trak", &bx(b"tkhd", &tkhd))].concat(),
        );
        let mdat = bx(b"mdat", &[1, 2, 3, 4]);
        let mut f = bx(b"ftyp", b"isom\0\0\0\0isomavc1");
        if moov_first {
            f.extend(moov);
            f.extend(mdat);
        } else {
            f.extend(mdat);
            f.extend(moov);
        }
        f
    }

    #[test]
    fn reads_size_duration_and_order() {
        let i = inspect_mp4(&sample(720, 1080, 5000, true), 1 << 20).unwrap();
        assert_eq!(
            i,
            Mp4Info {
                width: 720,
                height: 1080,
                duration_ms: 5000,
                fast_start: true
            }
        );
        assert!(
            !inspect_mp4(&sample(720, 1080, 5000, false), 1 << 20)
                .unwrap()
                .fast_start
        );
    }

    #[test]
    fn refuses_what_is_not_a_whole_mp4() {
        let f = sample(640, 480, 10_000, true);
        assert_eq!(
            inspect_mp4(&f[..f.len() - 3], 1 << 20),
            Err(Mp4Problem::Truncated)
        );
        assert_eq!(
            inspect_mp4(b"\x89PNG\r\n\x1a\n....", 1 << 20),
            Err(Mp4Problem::NotMp4)
        );
        assert_eq!(inspect_mp4(&f, 10), Err(Mp4Problem::TooLarge));
        let no_mdat = &f[..f.len() - 12];
        assert_eq!(
            inspect_mp4(no_mdat, 1 << 20),
            Err(Mp4Problem::Missing("mdat"))
        );
        assert_eq!(inspect_mp4(&[], 1 << 20), Err(Mp4Problem::NotMp4));
    }
}
