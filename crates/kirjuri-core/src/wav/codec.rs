//! Format-tag knowledge: the tags Kirjuri accepts, names for the common ones
//! it refuses (so the uploader reads "MPEG Layer III", not a number), the
//! WAVE_FORMAT_EXTENSIBLE sub-format GUID family, and a sniff of the first
//! four bytes of a non-RIFF upload. Pure lookups; no parsing state.

use std::fmt;

/// WAVE_FORMAT_PCM.
pub(crate) const TAG_PCM: u16 = 0x0001;
/// WAVE_FORMAT_IEEE_FLOAT.
pub(crate) const TAG_FLOAT: u16 = 0x0003;
/// WAVE_FORMAT_ALAW.
pub(crate) const TAG_ALAW: u16 = 0x0006;
/// WAVE_FORMAT_MULAW.
pub(crate) const TAG_MULAW: u16 = 0x0007;
/// WAVE_FORMAT_EXTENSIBLE: the real tag is inside the sub-format GUID.
pub(crate) const TAG_EXTENSIBLE: u16 = 0xFFFE;

/// Bytes 4..16 of every KSDATAFORMAT_SUBTYPE GUID that wraps a plain format
/// tag (`XXXXXXXX-0000-0010-8000-00aa00389b71`, stored little-endian).
pub(crate) const SUBFORMAT_TAIL: [u8; 12] = [
    0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

/// Whether Kirjuri accepts audio carried under this (sub-)format tag.
pub(crate) fn is_accepted_tag(tag: u16) -> bool {
    matches!(tag, TAG_PCM | TAG_FLOAT | TAG_ALAW | TAG_MULAW)
}

/// The format tag a WAVE_FORMAT_EXTENSIBLE sub-format GUID wraps, or `None`
/// when the GUID is not of the `XXXXXXXX-0000-0010-8000-00aa00389b71` family
/// (or its first field does not fit a 16-bit tag).
pub(crate) fn subformat_tag(guid: &[u8; 16]) -> Option<u16> {
    let [a, b, c, d, tail @ ..] = *guid;
    (c == 0 && d == 0 && tail == SUBFORMAT_TAIL).then_some(u16::from_le_bytes([a, b]))
}

/// The sub-format GUID that wraps `tag`, as stored in a file.
pub(crate) fn subformat_guid(tag: u16) -> [u8; 16] {
    let mut guid = [0u8; 16];
    let [lo, hi] = tag.to_le_bytes();
    let head = [lo, hi, 0, 0];
    for (slot, byte) in guid
        .iter_mut()
        .zip(head.iter().chain(SUBFORMAT_TAIL.iter()))
    {
        *slot = *byte;
    }
    guid
}

/// Writes a GUID stored in RIFF (mixed-endian) byte order in its usual text
/// form, e.g. `00000055-0000-0010-8000-00aa00389b71`.
pub(crate) fn write_guid(f: &mut fmt::Formatter<'_>, guid: &[u8; 16]) -> fmt::Result {
    let [a0, a1, a2, a3, b0, b1, c0, c1, d @ ..] = *guid;
    let [d0, d1, d2, d3, d4, d5, d6, d7] = d;
    write!(
        f,
        "{a3:02x}{a2:02x}{a1:02x}{a0:02x}-{b1:02x}{b0:02x}-{c1:02x}{c0:02x}-{d0:02x}{d1:02x}-\
         {d2:02x}{d3:02x}{d4:02x}{d5:02x}{d6:02x}{d7:02x}"
    )
}

/// A human name for a WAVE format tag, for refusal messages. Covers the
/// accepted tags and the codecs telephony and office software commonly put in
/// WAV files; anything else is "unknown codec".
pub fn codec_name(tag: u16) -> &'static str {
    match tag {
        0x0001 => "PCM",
        0x0002 => "Microsoft ADPCM",
        0x0003 => "IEEE float",
        0x0004 => "VSELP",
        0x0005 => "IBM CVSD",
        0x0006 => "G.711 A-law",
        0x0007 => "G.711 µ-law",
        0x0008 => "DTS",
        0x000A => "Windows Media Audio Voice",
        0x0010 => "OKI ADPCM",
        0x0011 => "IMA ADPCM",
        0x0014 => "G.723 ADPCM",
        0x0017 => "Dialogic OKI ADPCM",
        0x0020 => "Yamaha ADPCM",
        0x0022 => "DSP Group TrueSpeech",
        0x0031 => "GSM 6.10",
        0x0040 => "G.721 ADPCM",
        0x0041 => "G.728 CELP",
        0x0042 => "G.723.1",
        0x0045 | 0x0064 => "G.726 ADPCM",
        0x0050 => "MPEG Layer I/II",
        0x0055 => "MPEG Layer III",
        0x0065 => "G.722 ADPCM",
        0x0083 => "G.729A",
        0x0092 => "Dolby AC-3 (S/PDIF)",
        0x00FF => "AAC",
        0x0160 | 0x0161 => "Windows Media Audio",
        0x0162 => "Windows Media Audio Professional",
        0x0163 => "Windows Media Audio Lossless",
        0x1610 => "HE-AAC",
        0x2000 => "Dolby AC-3",
        0x2001 => "DTS",
        0x674F | 0x6750 | 0x6751 | 0x676F | 0x6770 | 0x6771 => "Ogg Vorbis",
        0x704F => "Opus",
        0xA106 => "MPEG-4 AAC",
        0xF1AC => "FLAC",
        0xFFFE => "WAVE_FORMAT_EXTENSIBLE",
        _ => "unknown codec",
    }
}

/// What a body that does not start with `RIFF` is, judged from its first four
/// bytes: `Ok(Some(kind))` for a recognisable other format, `Err(container)`
/// for a RIFF relative Kirjuri refuses by name, `Ok(None)` otherwise.
pub(crate) fn sniff(magic: &[u8; 4]) -> Result<Option<&'static str>, &'static str> {
    Ok(match magic {
        b"RIFX" => return Err("RIFX (big-endian RIFF)"),
        b"RF64" => return Err("RF64 (64-bit WAV)"),
        b"BW64" => return Err("BW64 (broadcast 64-bit WAV)"),
        b"FORM" => Some("an AIFF file"),
        b"OggS" => Some("an Ogg (Vorbis or Opus) file"),
        b"fLaC" => Some("a FLAC file"),
        b".snd" => Some("a Sun/NeXT .au file"),
        b"#!AM" => Some("an AMR file"),
        [0x1A, 0x45, 0xDF, 0xA3] => Some("a Matroska or WebM file"),
        [b'I', b'D', b'3', _] => Some("an MP3 file"),
        [0xFF, second, _, _] if second & 0xE0 == 0xE0 => Some("an MPEG audio (MP3) file"),
        [_, _, _, _] => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subformat_guid_round_trips_to_its_tag() {
        for tag in [TAG_PCM, TAG_FLOAT, TAG_ALAW, TAG_MULAW, 0x0055] {
            assert_eq!(subformat_tag(&subformat_guid(tag)), Some(tag));
        }
    }

    #[test]
    fn a_guid_outside_the_tag_family_has_no_tag() {
        let mut guid = subformat_guid(TAG_PCM);
        guid[15] ^= 1;
        assert_eq!(subformat_tag(&guid), None);
        let mut wide = subformat_guid(TAG_PCM);
        wide[2] = 1;
        assert_eq!(subformat_tag(&wide), None);
    }

    #[test]
    fn the_pcm_subformat_guid_prints_in_its_usual_text_form() {
        struct Shown([u8; 16]);
        impl fmt::Display for Shown {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_guid(f, &self.0)
            }
        }
        assert_eq!(
            Shown(subformat_guid(TAG_PCM)).to_string(),
            "00000001-0000-0010-8000-00aa00389b71"
        );
    }
}
