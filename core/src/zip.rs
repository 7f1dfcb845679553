//! A ZIP archive written as a stream, one file at a time: the Gallery's bulk Download. Files are
//! stored as they are (PNG, WebP, JPEG and MP4 are compressed already), so each entry is its
//! local header, its bytes, and later its central-directory record: the archive never exists
//! whole in memory, only the file being added. Plain ZIP (no ZIP64): an archive stays under
//! [`MAX_ARCHIVE_BYTES`] and [`u16::MAX`] entries, which the caller checks up front
//! ([`fits`]).

/// The largest archive this writer makes (the 32-bit offsets of plain ZIP, with room for the
/// headers).
pub const MAX_ARCHIVE_BYTES: u64 = 0xFFFF_0000;

/// Whether `count` files of `total` bytes (names up to 255 bytes) fit in one archive.
pub fn fits(count: usize, total: u64) -> bool {
    count < u16::MAX as usize
        && total + count as u64 * (30 + 46 + 2 * 255) + 22 <= MAX_ARCHIVE_BYTES
}

struct Entry {
    name: Vec<u8>,
    crc: u32,
    size: u32,
    offset: u32,
    time: (u16, u16),
}

/// Writes an archive entry by entry: [`ZipStream::file`] returns the bytes to send for one file,
/// [`ZipStream::finish`] the central directory that ends the archive.
#[derive(Default)]
pub struct ZipStream {
    entries: Vec<Entry>,
    offset: u64,
}

/// MS-DOS date and time (what ZIP stores) of a Unix time in milliseconds, UTC; 1980 at the
/// earliest.
pub fn dos_time(unix_ms: f64) -> (u16, u16) {
    let secs = (unix_ms / 1000.0).max(315_532_800.0) as i64; // 1980-01-01
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = (((year - 1980).clamp(0, 127) as u16) << 9) | ((month as u16) << 5) | day as u16;
    let time =
        (((rem / 3600) as u16) << 11) | (((rem % 3600 / 60) as u16) << 5) | ((rem % 60) / 2) as u16;
    (time, date)
}

impl ZipStream {
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes of one stored file (`name` in UTF-8, made at `unix_ms`): its local header and
    /// data. Err when the archive would pass the plain-ZIP limits.
    pub fn file(&mut self, name: &str, unix_ms: f64, data: &[u8]) -> Result<Vec<u8>, String> {
        let name = name.as_bytes().to_vec();
        let header_len = 30 + name.len() as u64;
        if name.len() > u16::MAX as usize
            || self.entries.len() + 1 >= u16::MAX as usize
            || self.offset + header_len + data.len() as u64 > MAX_ARCHIVE_BYTES
        {
            return Err("the archive would pass the ZIP limits (4 GB, 65,535 files)".into());
        }
        let entry = Entry {
            crc: crc32fast::hash(data),
            size: data.len() as u32,
            offset: self.offset as u32,
            time: dos_time(unix_ms),
            name,
        };
        let mut out = Vec::with_capacity(header_len as usize + data.len());
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0x0800u16.to_le_bytes()); // flags: names are UTF-8
        out.extend_from_slice(&0u16.to_le_bytes()); // stored
        out.extend_from_slice(&entry.time.0.to_le_bytes());
        out.extend_from_slice(&entry.time.1.to_le_bytes());
        out.extend_from_slice(&entry.crc.to_le_bytes());
        out.extend_from_slice(&entry.size.to_le_bytes()); // compressed
        out.extend_from_slice(&entry.size.to_le_bytes()); // uncompressed
        out.extend_from_slice(&(entry.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(&entry.name);
        out.extend_from_slice(data);
        self.offset += out.len() as u64;
        self.entries.push(entry);
        Ok(out)
    }

    /// The central directory and its end record: the archive's last bytes.
    pub fn finish(self) -> Vec<u8> {
        let mut out = vec![];
        for e in &self.entries {
            out.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            out.extend_from_slice(&0x031Eu16.to_le_bytes()); // made by: Unix, 3.0
            out.extend_from_slice(&20u16.to_le_bytes());
            out.extend_from_slice(&0x0800u16.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(&e.time.0.to_le_bytes());
            out.extend_from_slice(&e.time.1.to_le_bytes());
            out.extend_from_slice(&e.crc.to_le_bytes());
            out.extend_from_slice(&e.size.to_le_bytes());
            out.extend_from_slice(&e.size.to_le_bytes());
            out.extend_from_slice(&(e.name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
            out.extend_from_slice(&(0o100644u32 << 16).to_le_bytes()); // -rw-r--r--
            out.extend_from_slice(&e.offset.to_le_bytes());
            out.extend_from_slice(&e.name);
        }
        let n = self.entries.len() as u16;
        let directory_len = out.len() as u32;
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // disk numbers
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&directory_len.to_le_bytes());
        out.extend_from_slice(&(self.offset as u32).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // comment
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads an archive back the way an unzip tool does: from the end record, through the
    /// central directory, to each local header (checking the CRC of every file).
    fn read(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
        let u16_at = |i: usize| u16::from_le_bytes([zip[i], zip[i + 1]]) as usize;
        let u32_at = |i: usize| u32::from_le_bytes(zip[i..i + 4].try_into().unwrap()) as usize;
        let end = zip.len() - 22;
        assert_eq!(u32_at(end), 0x0605_4b50);
        let (n, cd_len, mut cd) = (u16_at(end + 10), u32_at(end + 12), u32_at(end + 16));
        assert_eq!(cd + cd_len, end);
        let mut files = vec![];
        for _ in 0..n {
            assert_eq!(u32_at(cd), 0x0201_4b50);
            let (crc, size, name_len, local) = (
                u32_at(cd + 16),
                u32_at(cd + 20),
                u16_at(cd + 28),
                u32_at(cd + 42),
            );
            let name = String::from_utf8(zip[cd + 46..cd + 46 + name_len].to_vec()).unwrap();
            assert_eq!(u32_at(local), 0x0403_4b50);
            let start = local + 30 + u16_at(local + 26) + u16_at(local + 28);
            let data = zip[start..start + size].to_vec();
            assert_eq!(crc32fast::hash(&data) as usize, crc, "{name}");
            files.push((name, data));
            cd += 46 + name_len;
        }
        files
    }

    #[test]
    fn files_written_one_at_a_time_read_back_whole() {
        let mut z = ZipStream::new();
        let mut bytes = vec![];
        let a: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        bytes.extend(z.file("atelier-upscale-1.png", 1.7e12, &a).unwrap());
        bytes.extend(z.file("Sommer/étoile-2.webp", 1.7e12, b"").unwrap());
        bytes.extend(z.file("c.mp4", 0.0, b"video").unwrap());
        bytes.extend(z.finish());
        let files = read(&bytes);
        assert_eq!(
            files,
            vec![
                ("atelier-upscale-1.png".to_string(), a),
                ("Sommer/étoile-2.webp".to_string(), vec![]),
                ("c.mp4".to_string(), b"video".to_vec()),
            ]
        );
        // An empty archive is still a valid one.
        assert_eq!(read(&ZipStream::new().finish()), vec![]);
    }

    #[test]
    fn dos_times() {
        // 2026-12-06 05:30:42 UTC
        let (time, date) = dos_time(1_796_535_042_000.0);
        assert_eq!(date >> 9, 2026 - 1980);
        assert_eq!((date >> 5) & 15, 12);
        assert_eq!(date & 31, 6);
        assert_eq!(time >> 11, 5);
        assert_eq!((time >> 5) & 63, 30);
        assert_eq!((time & 31) * 2, 42);
        // Before 1980: 1980-01-01.
        assert_eq!(dos_time(0.0), (0, (1 << 5) | 1));
    }

    #[test]
    fn limits() {
        assert!(fits(2000, 3_000_000_000));
        assert!(!fits(2000, 4_300_000_000));
        assert!(!fits(70_000, 1));
    }
}
