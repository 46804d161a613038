//! The media probe (issue 14, in progress): what a media URL really holds, read from its first
//! bytes before TikTok downloads it. This part is pure: given bytes, what they are.

pub mod sniff;
