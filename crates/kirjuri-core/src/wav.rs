//! A streaming RIFF/WAVE validator (DESIGN.md ING-3). Bytes are pushed in as
//! they arrive from the network; it keeps only a few header bytes, so an
//! upload of any size is validated in constant memory and refused as soon as
//! the header shows a problem. It does not decode audio.

use std::fmt;

/// The sample encodings Kirjuri accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Unsigned 8-bit PCM.
    PcmU8,
    /// Signed 16-bit little-endian PCM.
    PcmS16,
    /// Signed 24-bit little-endian PCM.
    PcmS24,
    /// Signed 32-bit little-endian PCM.
    PcmS32,
    /// IEEE float, 32-bit.
    Float32,
    /// IEEE float, 64-bit.
    Float64,
    /// G.711 µ-law.
    MuLaw,
    /// G.711 A-law.
    ALaw,
}

impl Encoding {
    /// The wire name used in API answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::PcmU8 => "pcm_u8",
            Encoding::PcmS16 => "pcm_s16le",
            Encoding::PcmS24 => "pcm_s24le",
            Encoding::PcmS32 => "pcm_s32le",
            Encoding::Float32 => "float32",
            Encoding::Float64 => "float64",
            Encoding::MuLaw => "mulaw",
            Encoding::ALaw => "alaw",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a valid WAV file turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WavInfo {
    /// Sample encoding.
    pub encoding: Encoding,
    /// The `fmt ` chunk's format tag (for EXTENSIBLE, the sub-format's).
    pub format_tag: u16,
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// 1 (mono) or 2 (stereo: agent / customer).
    pub channels: u16,
    /// Bits per sample as stored.
    pub bits_per_sample: u16,
    /// Bytes per sample frame (all channels).
    pub block_align: u16,
    /// Offset of the first audio byte in the file.
    pub data_offset: u64,
    /// Length of the audio data in bytes.
    pub data_len: u64,
    /// Playing time in milliseconds.
    pub duration_ms: u64,
}

/// Why a body is not an acceptable WAV file. Messages are for the uploader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WavError {
    /// Nothing was sent.
    #[error("the body is empty; expected a WAV file")]
    Empty,
    /// Placeholder until the validator exists.
    #[error("not implemented")]
    NotImplemented,
}

impl WavError {
    /// A stable machine-readable code for the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            WavError::Empty => "wav_empty",
            WavError::NotImplemented => "wav_invalid",
        }
    }
}

/// The push parser. Feed it every byte of the upload in order, then `finish`.
#[derive(Debug, Default)]
pub struct WavValidator {}

impl WavValidator {
    /// A validator at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes. Fails as soon as they show the file is bad.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), WavError> {
        let _ = bytes;
        Ok(())
    }

    /// Declares the end of input; fails if the file is truncated or incomplete.
    pub fn finish(self) -> Result<WavInfo, WavError> {
        Err(WavError::NotImplemented)
    }
}
