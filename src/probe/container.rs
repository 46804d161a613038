//! A video's duration, frame rate, size and codec from its container's headers. MP4 and MOV go
//! through Mozilla's `mp4parse` (the `moov` box: track timescale and duration, `tkhd` size,
//! `stts` sample counts, `stsd` sample entry); here only the top-level boxes are walked, to find
//! where `moov` sits (ffmpeg's default puts it after the media data, at the end). WebM is read
//! by a small EBML reader of the Segment's Info and Tracks: the Matroska crates want a seekable
//! whole file and follow the SeekHead to the Cues at the end, and the probe has a prefix.

use crate::tiktok::media_rules::Codec;

/// What a container's headers say of its video track.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoFacts {
    pub duration_ms: Option<u64>,
    pub fps: Option<f64>,
    pub width: Option<u64>,
    pub height: Option<u64>,
    pub codec: Option<Codec>,
}

/// Where an MP4's `moov` box is, as far as the bytes read so far tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moov {
    /// Whole, at this range of the buffer.
    Here(std::ops::Range<usize>),
    /// Starts at this file offset, this long, beyond (or across) the end of the buffer.
    At { offset: u64, size: u64 },
    /// Not in the buffer: the next top-level box starts at this file offset.
    After(u64),
    /// The boxes end (or break) without one.
    Missing,
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.get(at..at + 8)?.try_into().ok()?))
}

/// Walks the top-level boxes of `buf`, which starts at file offset `base` on a box boundary.
pub fn find_moov(buf: &[u8], base: u64) -> Moov {
    let mut pos = 0usize;
    loop {
        if pos + 8 > buf.len() {
            return if pos >= buf.len() {
                Moov::After(base + pos as u64)
            } else {
                // A box header cut by the end of the buffer: read on from its start.
                Moov::After(base + pos as u64)
            };
        }
        let Some(small) = be_u32(buf, pos) else {
            return Moov::Missing;
        };
        let name = &buf[pos + 4..pos + 8];
        let size = match small {
            // To the end of the file: nothing comes after it.
            0 => {
                return if name == b"moov" {
                    Moov::Here(pos..buf.len())
                } else {
                    Moov::Missing
                };
            }
            1 => match be_u64(buf, pos + 8) {
                Some(large) => large,
                None => return Moov::After(base + pos as u64),
            },
            n => u64::from(n),
        };
        if size < 8 {
            return Moov::Missing;
        }
        if name == b"moov" {
            let end = pos as u64 + size;
            return if end <= buf.len() as u64 {
                Moov::Here(pos..end as usize)
            } else {
                Moov::At {
                    offset: base + pos as u64,
                    size,
                }
            };
        }
        let next = pos as u64 + size;
        if next >= buf.len() as u64 {
            return Moov::After(base + next);
        }
        pos = next as usize;
    }
}

/// The video track of a whole `moov` box.
pub fn mp4_video(moov: &[u8]) -> Option<VideoFacts> {
    let context = mp4parse::read_mp4(&mut std::io::Cursor::new(moov)).ok()?;
    let track = context
        .tracks
        .iter()
        .find(|t| t.track_type == mp4parse::TrackType::Video)?;
    let mut facts = VideoFacts::default();
    if let (Some(duration), Some(scale)) = (&track.duration, &track.timescale)
        && scale.0 > 0
    {
        facts.duration_ms = Some(duration.0.saturating_mul(1000) / scale.0);
        if let Some(stts) = &track.stts {
            let samples: u64 = stts.samples.iter().map(|s| u64::from(s.sample_count)).sum();
            if duration.0 > 0 && samples > 0 {
                facts.fps = Some(samples as f64 * scale.0 as f64 / duration.0 as f64);
            }
        }
    }
    let entry = track
        .stsd
        .as_ref()
        .and_then(|stsd| stsd.descriptions.first());
    if let Some(mp4parse::SampleEntry::Video(video)) = entry {
        facts.width = Some(u64::from(video.width));
        facts.height = Some(u64::from(video.height));
        facts.codec = Some(match video.codec_type {
            mp4parse::CodecType::H264 => Codec::H264,
            mp4parse::CodecType::VP8 => Codec::Vp8,
            mp4parse::CodecType::VP9 => Codec::Vp9,
            mp4parse::CodecType::AV1 => Codec::Av1,
            mp4parse::CodecType::MP4V => Codec::Mpeg4Part2,
            _ => sample_entry_codec(moov)?,
        });
    } else {
        // mp4parse 0.17 knows no HEVC or ProRes sample entry: it keeps neither size nor
        // codec, so the size is the track header's and the codec the entry's own name.
        if let Some(tkhd) = &track.tkhd {
            facts.width = Some(u64::from(tkhd.width >> 16));
            facts.height = Some(u64::from(tkhd.height >> 16));
        }
        facts.codec = sample_entry_codec(moov);
    }
    Some(facts)
}

/// The first video sample entry's four-character code, read after the `stsd` header (version
/// and flags, entry count, the entry's size): where mp4parse names no codec.
fn sample_entry_codec(moov: &[u8]) -> Option<Codec> {
    let mut from = 0;
    while let Some(i) = moov[from..].windows(4).position(|w| w == b"stsd") {
        let at = from + i;
        if let Some(code) = moov.get(at + 16..at + 20) {
            let codec = match code {
                b"hvc1" | b"hev1" | b"dvh1" | b"dvhe" => Some(Codec::H265),
                b"avc1" | b"avc3" => Some(Codec::H264),
                b"vp08" => Some(Codec::Vp8),
                b"vp09" => Some(Codec::Vp9),
                b"av01" => Some(Codec::Av1),
                b"mp4v" => Some(Codec::Mpeg4Part2),
                b"apch" | b"apcn" | b"apcs" | b"apco" | b"ap4h" | b"ap4x" => Some(Codec::ProRes),
                // An audio entry: the video track's stsd is another one.
                b"mp4a" | b"Opus" | b"ac-3" | b"ec-3" | b"fLaC" | b"lpcm" | b"sowt" | b"twos" => {
                    None
                }
                other => Some(Codec::Other(String::from_utf8_lossy(other).into_owned())),
            };
            if codec.is_some() {
                return codec;
            }
        }
        from = at + 4;
    }
    None
}

// ---- WebM ----

const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_TYPE: u32 = 0x83;
const CODEC_ID: u32 = 0x86;
const DEFAULT_DURATION: u32 = 0x23_E383;
const VIDEO: u32 = 0xE0;
const PIXEL_WIDTH: u32 = 0xB0;
const PIXEL_HEIGHT: u32 = 0xBA;
const CLUSTER: u32 = 0x1F43_B675;
/// A size of all ones: the element runs to the end of its parent (a live stream's Segment).
const UNKNOWN_SIZE: u64 = u64::MAX;

/// An element's id (marker bits kept, as the spec writes ids) and the length of its encoding.
fn element_id(buf: &[u8], at: usize) -> Option<(u32, usize)> {
    let first = *buf.get(at)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 4 {
        return None;
    }
    let mut id = 0u32;
    for i in 0..len {
        id = (id << 8) | u32::from(*buf.get(at + i)?);
    }
    Some((id, len))
}

/// A data size (marker bit removed) and the length of its encoding.
fn data_size(buf: &[u8], at: usize) -> Option<(u64, usize)> {
    let first = *buf.get(at)?;
    let len = first.leading_zeros() as usize + 1;
    if len > 8 {
        return None;
    }
    let mut value = u64::from(first) & (0xFF >> len);
    let mut all_ones = value == (0xFF >> len);
    for i in 1..len {
        let b = *buf.get(at + i)?;
        all_ones &= b == 0xFF;
        value = (value << 8) | u64::from(b);
    }
    Some((if all_ones { UNKNOWN_SIZE } else { value }, len))
}

/// The elements of `buf[start..end]` as (id, data range); stops at the first that is cut.
fn children(buf: &[u8], start: usize, end: usize) -> Vec<(u32, std::ops::Range<usize>)> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        let Some((id, id_len)) = element_id(buf, pos) else {
            break;
        };
        let Some((size, size_len)) = data_size(buf, pos + id_len) else {
            break;
        };
        let data = pos + id_len + size_len;
        // A header cut by the end of what was read: nothing of its data is here.
        if data > end {
            break;
        }
        let data_end = if size == UNKNOWN_SIZE {
            end
        } else {
            match usize::try_from(size).ok().and_then(|s| data.checked_add(s)) {
                Some(e) => e.min(end),
                None => end,
            }
        };
        out.push((id, data..data_end));
        if id == CLUSTER || data_end <= pos {
            break;
        }
        pos = data_end;
    }
    out
}

fn uint(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |v, b| (v << 8) | u64::from(*b)))
}

fn float(bytes: &[u8]) -> Option<f64> {
    match bytes.len() {
        4 => Some(f64::from(f32::from_be_bytes(bytes.try_into().ok()?))),
        8 => Some(f64::from_be_bytes(bytes.try_into().ok()?)),
        _ => None,
    }
}

/// The video track of a WebM file's head: Info's duration, the track's codec, size and frame
/// duration. Whatever the head does not hold is `None`.
pub fn webm_video(head: &[u8]) -> Option<VideoFacts> {
    let top = children(head, 0, head.len());
    let segment = top.iter().find(|(id, _)| *id == SEGMENT)?.1.clone();
    let mut facts = VideoFacts::default();
    let mut scale = 1_000_000u64;
    let mut duration = None;
    for (id, range) in children(head, segment.start, segment.end) {
        match id {
            INFO => {
                for (id, r) in children(head, range.start, range.end) {
                    match id {
                        TIMESTAMP_SCALE => scale = uint(&head[r]).unwrap_or(scale),
                        DURATION => duration = float(&head[r]),
                        _ => {}
                    }
                }
            }
            TRACKS => {
                for (id, entry) in children(head, range.start, range.end) {
                    if id == TRACK_ENTRY && read_track(head, entry, &mut facts) {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(d) = duration.filter(|d| d.is_finite() && *d >= 0.0) {
        // Duration counts timestamp ticks of `scale` nanoseconds.
        facts.duration_ms = Some((d * scale as f64 / 1_000_000.0) as u64);
    }
    Some(facts)
}

/// Reads a track entry into `facts` when it is the video track; whether it was.
fn read_track(buf: &[u8], entry: std::ops::Range<usize>, facts: &mut VideoFacts) -> bool {
    let fields = children(buf, entry.start, entry.end);
    let is_video = fields
        .iter()
        .any(|(id, r)| *id == TRACK_TYPE && uint(&buf[r.clone()]) == Some(1));
    if !is_video {
        return false;
    }
    for (id, r) in fields {
        match id {
            CODEC_ID => {
                let name = String::from_utf8_lossy(&buf[r])
                    .trim_end_matches('\0')
                    .to_owned();
                facts.codec = Some(match name.as_str() {
                    "V_VP8" => Codec::Vp8,
                    "V_VP9" => Codec::Vp9,
                    "V_AV1" => Codec::Av1,
                    "V_MPEG4/ISO/AVC" => Codec::H264,
                    "V_MPEGH/ISO/HEVC" => Codec::H265,
                    _ => Codec::Other(name),
                });
            }
            DEFAULT_DURATION => {
                if let Some(ns) = uint(&buf[r]).filter(|ns| *ns > 0) {
                    facts.fps = Some(1e9 / ns as f64);
                }
            }
            VIDEO => {
                for (id, r) in children(buf, r.start, r.end) {
                    match id {
                        PIXEL_WIDTH => facts.width = uint(&buf[r]),
                        PIXEL_HEIGHT => facts.height = uint(&buf[r]),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(name: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(name);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn moov_is_found_in_the_head_or_after_the_media_data() {
        let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0");
        let moov = boxed(b"moov", &[0; 40]);
        let mut head = ftyp.clone();
        head.extend_from_slice(&moov);
        assert_eq!(find_moov(&head, 0), Moov::Here(ftyp.len()..head.len()));
        let mut at_end = ftyp.clone();
        at_end.extend_from_slice(&1_000_000u32.to_be_bytes());
        at_end.extend_from_slice(b"mdat");
        at_end.extend_from_slice(&[0; 100]);
        assert_eq!(
            find_moov(&at_end, 0),
            Moov::After(ftyp.len() as u64 + 1_000_000)
        );
        let cut = &head[..head.len() - 10];
        assert_eq!(
            find_moov(cut, 0),
            Moov::At {
                offset: ftyp.len() as u64,
                size: 48
            }
        );
        assert_eq!(find_moov(&[0, 0, 0, 3, b'x'], 0), Moov::After(0));
        assert_eq!(
            find_moov(&[0, 0, 0, 4, b'f', b'r', b'e', b'e'], 0),
            Moov::Missing
        );
    }

    #[test]
    fn junk_never_panics_the_readers() {
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let _ = find_moov(&junk, 0);
            let _ = mp4_video(&junk);
            let _ = webm_video(&junk);
            let mut ebml = vec![0x18, 0x53, 0x80, 0x67, 0xFF];
            ebml.extend_from_slice(&junk);
            let _ = webm_video(&ebml);
            // A Segment whose first child's header is cut after its id.
            let _ = webm_video(&[0x18, 0x53, 0x80, 0x67, 0x84, 0x15, 0x49, 0xA9, 0x66]);
            let _ = webm_video(&[0x18, 0x53, 0x80, 0x67, 0x88, 0x15, 0x49, 0xA9, 0x66, 0x10]);
        }
    }

    #[test]
    fn webm_track_and_info_are_read_from_the_segment() {
        let el = |id: &[u8], body: &[u8]| {
            let mut out = id.to_vec();
            out.push(0x80 | body.len() as u8);
            out.extend_from_slice(body);
            out
        };
        let info = el(
            &[0x15, 0x49, 0xA9, 0x66],
            &[
                el(&[0x2A, 0xD7, 0xB1], &[0x0F, 0x42, 0x40]),
                el(&[0x44, 0x89], &2500.0f32.to_be_bytes()),
            ]
            .concat(),
        );
        let video = el(
            &[0xE0],
            &[el(&[0xB0], &[0x04, 0x38]), el(&[0xBA], &[0x07, 0x80])].concat(),
        );
        let track = el(
            &[0xAE],
            &[
                el(&[0x83], &[1]),
                el(&[0x86], b"V_VP9"),
                el(&[0x23, 0xE3, 0x83], &33_333_333u32.to_be_bytes()),
                video,
            ]
            .concat(),
        );
        let tracks = el(&[0x16, 0x54, 0xAE, 0x6B], &track);
        let mut file = el(&[0x1A, 0x45, 0xDF, 0xA3], &el(&[0x42, 0x82], b"webm"));
        file.extend_from_slice(&[
            0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        file.extend_from_slice(&info);
        file.extend_from_slice(&tracks);
        let facts = webm_video(&file).unwrap();
        assert_eq!(facts.codec, Some(Codec::Vp9));
        assert_eq!((facts.width, facts.height), (Some(1080), Some(1920)));
        assert_eq!(facts.duration_ms, Some(2500));
        assert!((facts.fps.unwrap() - 30.0).abs() < 0.01);
    }

    proptest::proptest! {
        /// Whatever a media host sends, the readers answer and never panic.
        #[test]
        fn any_bytes_are_read_without_a_panic(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..600),
            ebml_prefix in proptest::bool::ANY,
        ) {
            let mut buf = if ebml_prefix { vec![0x18, 0x53, 0x80, 0x67, 0x01] } else { Vec::new() };
            buf.extend_from_slice(&bytes);
            let _ = find_moov(&buf, 0);
            let _ = mp4_video(&buf);
            let _ = webm_video(&buf);
            let _ = crate::probe::sniff::sniff(&buf);
            let _ = crate::probe::sniff::image_dimensions(&buf);
        }
    }
}
