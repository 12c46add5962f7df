//! Whether a JPEG holds its end-of-image marker (EOI, `FF D9`), found by walking its
//! structure as a decoder does: segments are skipped by their length (so an EXIF thumbnail
//! with its own EOI is not mistaken for the end), entropy-coded data is scanned for the next
//! marker. Bytes after the EOI (camera trailers, motion-photo videos) do not matter.
//!
//! The `image` crate's JPEG decoder (zune-jpeg) fills whatever is missing after the data
//! runs out and reports success, so a JPEG cut in half would otherwise be classified
//! silently; libjpeg and PIL report it ("image file is truncated").

use std::io::{self, BufRead};

/// How a JPEG stream ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JpegEnd {
    /// Its EOI marker was found.
    Complete,
    /// The data ran out before an EOI marker.
    Truncated,
    /// Not a JPEG (no start-of-image marker), or a structure this walk does not follow;
    /// nothing is claimed about it.
    Unknown,
}

/// Walks the JPEG read by `reader` up to its EOI marker.
pub(crate) fn find_jpeg_end(reader: impl BufRead) -> io::Result<JpegEnd> {
    let mut stream = Stream { inner: reader };
    if stream.byte()? != Some(0xFF) || stream.byte()? != Some(0xD8) {
        return Ok(JpegEnd::Unknown);
    }
    let mut pending = None;
    loop {
        let marker = match pending.take() {
            Some(marker) => marker,
            None => match stream.next_marker(false)? {
                Some(marker) => marker,
                None => return Ok(JpegEnd::Truncated),
            },
        };
        match marker {
            0xD9 => return Ok(JpegEnd::Complete),
            // Markers without a length: TEM, restart markers, a repeated SOI.
            0x01 | 0xD0..=0xD8 => {}
            _ => {
                let Some(length) = stream.u16()? else {
                    return Ok(JpegEnd::Truncated);
                };
                if length < 2 {
                    return Ok(JpegEnd::Unknown);
                }
                if !stream.skip(u64::from(length - 2))? {
                    return Ok(JpegEnd::Truncated);
                }
                if marker == 0xDA {
                    // Start of scan: entropy-coded data follows, up to the next marker.
                    match stream.next_marker(true)? {
                        Some(next) => pending = Some(next),
                        None => return Ok(JpegEnd::Truncated),
                    }
                }
            }
        }
    }
}

struct Stream<R> {
    inner: R,
}

impl<R: BufRead> Stream<R> {
    fn byte(&mut self) -> io::Result<Option<u8>> {
        let buf = self.inner.fill_buf()?;
        let Some(&b) = buf.first() else {
            return Ok(None);
        };
        self.inner.consume(1);
        Ok(Some(b))
    }

    fn u16(&mut self) -> io::Result<Option<u16>> {
        match (self.byte()?, self.byte()?) {
            (Some(high), Some(low)) => Ok(Some(u16::from_be_bytes([high, low]))),
            _ => Ok(None),
        }
    }

    /// Skips `n` bytes; false when the data ends first.
    fn skip(&mut self, mut n: u64) -> io::Result<bool> {
        while n > 0 {
            let available = self.inner.fill_buf()?.len();
            if available == 0 {
                return Ok(false);
            }
            let step = available.min(usize::try_from(n).unwrap_or(usize::MAX));
            self.inner.consume(step);
            n -= step as u64;
        }
        Ok(true)
    }

    /// The code of the next marker (`FF xx` with `xx` not `00` and not fill `FF`), skipping
    /// anything before it; in entropy-coded data (`in_scan`) restart markers are skipped
    /// too. `None` when the data ends first.
    fn next_marker(&mut self, in_scan: bool) -> io::Result<Option<u8>> {
        loop {
            // Jump to the next 0xFF within the buffer.
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|&b| b == 0xFF) {
                Some(at) => self.inner.consume(at + 1),
                None => {
                    let len = buf.len();
                    self.inner.consume(len);
                    continue;
                }
            }
            let mut code = self.byte()?;
            while code == Some(0xFF) {
                code = self.byte()?;
            }
            match code {
                None => return Ok(None),
                Some(0x00) => {}
                Some(0xD0..=0xD7) if in_scan => {}
                Some(marker) => return Ok(Some(marker)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(bytes: &[u8]) -> JpegEnd {
        find_jpeg_end(bytes).unwrap()
    }

    /// SOI, an APP1 segment holding a whole thumbnail JPEG (with its own EOI), a DQT,
    /// SOS with entropy data (stuffed `FF 00`, a restart marker, fill bytes), EOI.
    fn structured() -> Vec<u8> {
        let thumbnail = [0xFF, 0xD8, 0xFF, 0xD9];
        let mut out = vec![0xFF, 0xD8];
        out.extend([0xFF, 0xE1, 0x00, 2 + thumbnail.len() as u8]);
        out.extend(thumbnail);
        out.extend([0xFF, 0xDB, 0x00, 0x04, 0xAB, 0xFF]);
        out.extend([0xFF, 0xDA, 0x00, 0x03, 0x01]);
        out.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56, 0xFF, 0xFF]);
        out.extend([0xFF, 0xD9]);
        out
    }

    #[test]
    fn the_structure_is_followed_to_its_end_marker() {
        let jpeg = structured();
        assert_eq!(end(&jpeg), JpegEnd::Complete);
        // Anything after the EOI is ignored.
        let mut trailer = jpeg.clone();
        trailer.extend(b"\0\0\0 appended video \xff\xd8");
        assert_eq!(end(&trailer), JpegEnd::Complete);
        // Every shorter prefix is truncated, even those ending inside the thumbnail's EOI.
        for len in 2..jpeg.len() {
            assert_eq!(end(&jpeg[..len]), JpegEnd::Truncated, "{len} bytes");
        }
        // Zeros appended to a cut file (a preallocated, half-written download) do not
        // make an end.
        let mut padded = jpeg[..jpeg.len() - 2].to_vec();
        padded.extend([0u8; 100]);
        assert_eq!(end(&padded), JpegEnd::Truncated);
    }

    #[test]
    fn non_jpeg_data_is_unknown() {
        assert_eq!(end(b""), JpegEnd::Unknown);
        assert_eq!(end(b"\x89PNG\r\n"), JpegEnd::Unknown);
        assert_eq!(end(&[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01]), JpegEnd::Unknown);
    }
}
