//! The real format of a media file from its first bytes, whatever its extension or its
//! `Content-Type` claim: the container's magic numbers, and for images the dimensions the
//! header states (read by `imagesize`, which parses headers only).

use crate::tiktok::media_rules::Container;

const EBML_MAGIC: [u8; 4] = [0x1A, 0x45, 0xDF, 0xA3];
/// How far into a Matroska header the doc type is looked for: it sits in the EBML header,
/// which is a few dozen bytes.
const EBML_HEADER_SCAN: usize = 64;

/// The format of a file from its first bytes (a few hundred are plenty).
pub fn sniff(head: &[u8]) -> Container {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Container::Jpeg;
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Container::Png;
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return Container::Webp;
    }
    if head.starts_with(&EBML_MAGIC) {
        let scan = &head[..head.len().min(EBML_HEADER_SCAN)];
        return if contains(scan, b"webm") {
            Container::Webm
        } else {
            Container::Unknown
        };
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return match &head[8..12] {
            b"qt  " => Container::Mov,
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" => Container::Heic,
            b"avif" | b"avis" => Container::Avif,
            // A generic still-image brand: the compatible brands say which.
            b"mif1" | b"msf1" => {
                let brands = head.get(16..head.len().min(64)).unwrap_or_default();
                if contains(brands, b"avif") {
                    Container::Avif
                } else {
                    Container::Heic
                }
            }
            _ => Container::Mp4,
        };
    }
    if head.len() >= 8 && matches!(&head[4..8], b"moov" | b"mdat" | b"wide" | b"free") {
        return Container::Mov;
    }
    if looks_like_html(head) {
        return Container::Html;
    }
    Container::Unknown
}

/// Width and height as an image's header states them.
pub fn image_dimensions(head: &[u8]) -> Option<(u64, u64)> {
    let size = imagesize::blob_size(head).ok()?;
    Some((
        u64::try_from(size.width).ok()?,
        u64::try_from(size.height).ok()?,
    ))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A document that opens, after a byte-order mark and white space, with a doctype or an
/// `<html`/`<head`/`<body` tag, in any case.
fn looks_like_html(head: &[u8]) -> bool {
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[start..];
    let lower: Vec<u8> = text
        .iter()
        .take(16)
        .map(|b| b.to_ascii_lowercase())
        .collect();
    [&b"<!doctype html"[..], b"<html", b"<head", b"<body"]
        .iter()
        .any(|tag| lower.starts_with(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        bytes.extend_from_slice(&13u32.to_be_bytes());
        bytes.extend_from_slice(b"IHDR");
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&[8, 6, 0, 0, 0]);
        bytes.extend_from_slice(&[0, 0, 0, 0]);
        bytes
    }

    fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
        let mut bytes = 20u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(brand);
        bytes.extend_from_slice(&[0, 0, 2, 0]);
        bytes.extend_from_slice(b"isom");
        bytes
    }

    #[test]
    fn images_are_known_by_their_magic_and_show_their_dimensions() {
        let bytes = png(1080, 1920);
        assert_eq!(sniff(&bytes), Container::Png);
        assert_eq!(image_dimensions(&bytes), Some((1080, 1920)));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16]), Container::Jpeg);
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Container::Webp);
    }

    #[test]
    fn containers_are_told_apart_by_brand_and_doc_type() {
        assert_eq!(sniff(&ftyp(b"isom")), Container::Mp4);
        assert_eq!(sniff(&ftyp(b"mp42")), Container::Mp4);
        assert_eq!(sniff(&ftyp(b"qt  ")), Container::Mov);
        assert_eq!(sniff(b"\0\0\0\x08wide\0\0\0\x10mdat"), Container::Mov);
        let mut webm = EBML_MAGIC.to_vec();
        webm.extend_from_slice(b"\x9f\x42\x86\x81\x01\x42\x82\x84webm");
        assert_eq!(sniff(&webm), Container::Webm);
        let mut mkv = EBML_MAGIC.to_vec();
        mkv.extend_from_slice(b"\x9f\x42\x82\x88matroska");
        assert_eq!(sniff(&mkv), Container::Unknown, "Matroska that is not WebM");
        assert_eq!(sniff(&ftyp(b"heic")), Container::Heic);
        assert_eq!(sniff(&ftyp(b"mif1")), Container::Heic);
        assert_eq!(sniff(&ftyp(b"avif")), Container::Avif);
    }

    #[test]
    fn a_web_page_is_html_however_it_opens() {
        for page in [
            &b"<!DOCTYPE html><html>"[..],
            b"\xEF\xBB\xBF  \n<html lang=en>",
            b"<HEAD><title>Sign in</title>",
            b"\r\n<body>",
        ] {
            assert_eq!(
                sniff(page),
                Container::Html,
                "{:?}",
                String::from_utf8_lossy(page)
            );
        }
        assert_eq!(sniff(b"{\"error\": \"not found\"}"), Container::Unknown);
        assert_eq!(sniff(b""), Container::Unknown);
    }

    #[test]
    fn truncated_and_junk_heads_are_unknown_and_never_panic() {
        for len in 0..24 {
            let bytes = vec![0xAB; len];
            assert_eq!(sniff(&bytes), Container::Unknown);
            assert_eq!(image_dimensions(&bytes), None);
        }
        assert_eq!(image_dimensions(&png(10, 10)[..12]), None);
    }
}
