//! Builds WAV files in memory for tests, benchmarks and the demo: a sine tone
//! per channel (440 Hz on channel 1, the agent; 660 Hz on channel 2, the
//! customer; a further 220 Hz step per extra channel), so a listener — or a
//! test — can tell the channels apart. µ-law and A-law are companded properly
//! with [`super::g711`].
//!
//! The builders write exactly what they are asked for, including formats the
//! validator refuses (0 or 5 channels, 0 Hz), so tests can make bad files from
//! good parts. Sizes that do not fit RIFF's 32-bit fields are written as
//! 0xFFFFFFFF, the placeholder the validator refuses. No I/O: bytes in, bytes
//! out; a benchmark streams [`header`] followed by its own data.

use std::f64::consts::TAU;

use super::codec::{self, TAG_EXTENSIBLE};
use super::{Encoding, g711};

/// Peak amplitude of the tones, as a fraction of full scale.
pub const AMPLITUDE: f64 = 0.5;

/// The tone frequency on `channel` (0-based): 440 Hz, 660 Hz, 880 Hz, …
pub fn tone_hz(channel: u16) -> f64 {
    220.0 * (f64::from(channel) + 2.0)
}

/// Bytes per sample frame for `channels` of `encoding`.
pub fn block_align(encoding: Encoding, channels: u16) -> u16 {
    channels.saturating_mul(encoding.bytes_per_sample())
}

/// A complete WAV file: header, `frames` frames of tone, and a pad byte if
/// the audio has odd length. The `fmt ` chunk is 16 bytes for PCM, 18 for
/// the other plain formats, 40 when `extensible`.
pub fn wav_bytes(
    encoding: Encoding,
    channels: u16,
    sample_rate: u32,
    frames: u32,
    extensible: bool,
) -> Vec<u8> {
    let data_len = u64::from(frames) * u64::from(block_align(encoding, channels));
    let mut wav = header(encoding, channels, sample_rate, data_len, extensible);
    wav.extend(audio(encoding, channels, sample_rate, 0, frames));
    if data_len % 2 == 1 {
        wav.push(0);
    }
    wav
}

/// Everything before the audio: the RIFF header, the `fmt ` chunk and the
/// `data` chunk header, sized for `data_len` audio bytes (plus the pad byte
/// the caller must append when `data_len` is odd). A benchmark can follow it
/// with `data_len` bytes from anywhere to stream a multi-gigabyte file.
pub fn header(
    encoding: Encoding,
    channels: u16,
    sample_rate: u32,
    data_len: u64,
    extensible: bool,
) -> Vec<u8> {
    let fmt = fmt_chunk(encoding, channels, sample_rate, extensible);
    let riff_size = 4 + fmt.len() as u64 + 8 + data_len + data_len % 2;
    let mut out = Vec::with_capacity(12 + fmt.len() + 8);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&size32(riff_size));
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(&fmt);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&size32(data_len));
    out
}

/// The `fmt ` chunk (header included) describing `encoding`.
pub fn fmt_chunk(encoding: Encoding, channels: u16, sample_rate: u32, extensible: bool) -> Vec<u8> {
    let align = block_align(encoding, channels);
    let byte_rate = size32(u64::from(sample_rate) * u64::from(align));
    let bits = encoding.bits_per_sample();
    let tag = if extensible {
        TAG_EXTENSIBLE
    } else {
        encoding.format_tag()
    };
    let mut body = Vec::with_capacity(40);
    body.extend_from_slice(&tag.to_le_bytes());
    body.extend_from_slice(&channels.to_le_bytes());
    body.extend_from_slice(&sample_rate.to_le_bytes());
    body.extend_from_slice(&byte_rate);
    body.extend_from_slice(&align.to_le_bytes());
    body.extend_from_slice(&bits.to_le_bytes());
    if extensible {
        let mask: u32 = if channels == 1 { 0x4 } else { 0x3 }; // front centre / front left+right
        body.extend_from_slice(&22u16.to_le_bytes());
        body.extend_from_slice(&bits.to_le_bytes());
        body.extend_from_slice(&mask.to_le_bytes());
        body.extend_from_slice(&codec::subformat_guid(encoding.format_tag()));
    } else if encoding.format_tag() != codec::TAG_PCM {
        // Non-PCM formats carry a WAVEFORMATEX with an empty extension.
        body.extend_from_slice(&0u16.to_le_bytes());
    }
    chunk(*b"fmt ", &body)
}

/// `frames` frames of the tones, starting at frame `first_frame` (so a long
/// file can be produced piece by piece with a continuous signal).
pub fn audio(
    encoding: Encoding,
    channels: u16,
    sample_rate: u32,
    first_frame: u64,
    frames: u32,
) -> Vec<u8> {
    let capacity =
        usize::try_from(frames).unwrap_or(0) * usize::from(block_align(encoding, channels));
    let mut out = Vec::with_capacity(capacity);
    let rate = f64::from(sample_rate.max(1));
    for frame in first_frame..first_frame + u64::from(frames) {
        let seconds = frame as f64 / rate;
        for channel in 0..channels {
            let sample = AMPLITUDE * (TAU * tone_hz(channel) * seconds).sin();
            encode_sample(encoding, sample, &mut out);
        }
    }
    out
}

/// Appends one sample in `[-1, 1]` in `encoding`.
fn encode_sample(encoding: Encoding, sample: f64, out: &mut Vec<u8>) {
    let linear16 = (sample * f64::from(i16::MAX)).round() as i16;
    match encoding {
        Encoding::PcmU8 => out.push((128.0 + (sample * 127.0).round()) as u8),
        Encoding::PcmS16 => out.extend_from_slice(&linear16.to_le_bytes()),
        Encoding::PcmS24 => {
            let [a, b, c, _] = ((sample * 8_388_607.0).round() as i32).to_le_bytes();
            out.extend_from_slice(&[a, b, c]);
        }
        Encoding::PcmS32 => {
            out.extend_from_slice(&((sample * f64::from(i32::MAX)).round() as i32).to_le_bytes());
        }
        Encoding::Float32 => out.extend_from_slice(&(sample as f32).to_le_bytes()),
        Encoding::Float64 => out.extend_from_slice(&sample.to_le_bytes()),
        Encoding::MuLaw => out.push(g711::linear_to_mulaw(linear16)),
        Encoding::ALaw => out.push(g711::linear_to_alaw(linear16)),
    }
}

/// A chunk: id, little-endian size, body and a pad byte if the body is odd.
pub fn chunk(id: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + body.len() + 1);
    out.extend_from_slice(&id);
    out.extend_from_slice(&size32(body.len() as u64));
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
    out
}

/// A `LIST`/`INFO` chunk with one NUL-terminated text sub-chunk per entry,
/// e.g. `[(*b"INAM", "Test call"), (*b"ICMT", "synthetic")]`.
pub fn list_info(entries: &[([u8; 4], &str)]) -> Vec<u8> {
    let mut body = b"INFO".to_vec();
    for (id, text) in entries {
        let mut value = text.as_bytes().to_vec();
        value.push(0);
        body.extend(chunk(*id, &value));
    }
    chunk(*b"LIST", &body)
}

/// Appends `chunk` (as made by [`chunk`]) after everything in `wav` and
/// updates the RIFF size.
pub fn append_chunk(wav: &mut Vec<u8>, chunk: &[u8]) {
    wav.extend_from_slice(chunk);
    fix_riff_size(wav);
}

/// Inserts `chunk` just before the `data` chunk (or appends it when there is
/// none) and updates the RIFF size.
pub fn insert_chunk_before_data(wav: &mut Vec<u8>, chunk: &[u8]) {
    let at = find_chunk(wav, *b"data").unwrap_or(wav.len());
    wav.splice(at..at, chunk.iter().copied());
    fix_riff_size(wav);
}

/// The offset of the first chunk with `id`, walking the chunk list.
pub fn find_chunk(wav: &[u8], id: [u8; 4]) -> Option<usize> {
    let mut pos = 12usize;
    loop {
        let header = wav.get(pos..pos.checked_add(8)?)?;
        let (found, size) = header.split_at(4);
        if found == id {
            return Some(pos);
        }
        let size = usize::try_from(u32::from_le_bytes(size.try_into().ok()?)).ok()?;
        pos = pos
            .checked_add(8)?
            .checked_add(size)?
            .checked_add(size % 2)?;
    }
}

/// Sets the RIFF size to the length of `wav` minus the 8-byte RIFF header.
fn fix_riff_size(wav: &mut [u8]) {
    let size = size32(wav.len().saturating_sub(8) as u64);
    if let Some(field) = wav.get_mut(4..8) {
        field.copy_from_slice(&size);
    }
}

/// A size as a RIFF u32 field; too large becomes the 0xFFFFFFFF placeholder.
fn size32(size: u64) -> [u8; 4] {
    u32::try_from(size).unwrap_or(u32::MAX).to_le_bytes()
}
