//! A streaming RIFF/WAVE validator (docs/requirements.md ING-3). Bytes are pushed in as
//! they arrive from the network; it keeps only a few header bytes, so an
//! upload of any size is validated in constant memory and refused as soon as
//! the header shows a problem. It does not decode audio, and it does no I/O:
//! the caller owns the stream and decides what to do with the bytes.
//!
//! What is accepted: little-endian RIFF/WAVE with one `fmt ` chunk (16, 18 or
//! 40 bytes) describing PCM 8/16/24/32-bit, IEEE float 32/64-bit, G.711 µ-law
//! or A-law (8-bit), either directly or as WAVE_FORMAT_EXTENSIBLE; mono or
//! stereo; 1 000–384 000 Hz; one non-empty `data` chunk that holds whole
//! sample frames. Any other chunk (LIST, fact, cue, bext, JUNK, …) is skipped
//! unread, before or after the data.
//!
//! Decisions where the formats leave room, chosen because a stored recording
//! is evidence and its header must describe it exactly:
//! - Placeholder sizes left by a recorder that crashed or was still writing
//!   (RIFF size 0 or 0xFFFFFFFF, data size 0xFFFFFFFF) are refused with
//!   `wav_unfinalised` rather than guessed; a data chunk of size 0 is refused
//!   with `wav_empty_data` (no audio, or the same unfinished-recorder symptom).
//! - The RIFF size must match the body: a shorter body is truncated, a chunk
//!   reaching past the RIFF end is refused, and at most one byte may follow
//!   the RIFF end (the pad byte of an odd-sized last chunk that the writer
//!   left out of the RIFF size). A chunk's pad byte may lie outside the RIFF
//!   size only for that reason.
//! - RIFX (big-endian) and RF64/BW64 (64-bit sizes) are recognised and refused
//!   by name, under the `wav_not_riff` code.
//! - WAVE_FORMAT_EXTENSIBLE: `validBitsPerSample` may be anything up to the
//!   container size (0 is read as "not stated"); the channel mask is not
//!   checked, since Kirjuri reads channel 1 as the agent and 2 as the customer
//!   regardless of speaker positions.
//!
//! Error messages never quote the uploaded bytes beyond four-character chunk
//! names, so a mislabelled text file cannot leak its contents into a log.

mod codec;
pub mod decode;
pub mod g711;
pub mod synth;
mod validator;

use std::fmt;

pub use codec::codec_name;
pub use validator::{AudioLayout, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, WavValidator};

/// The sample encodings Kirjuri accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Every accepted encoding, for tests and tooling that want to cover them all.
    pub const ALL: [Encoding; 8] = [
        Encoding::PcmU8,
        Encoding::PcmS16,
        Encoding::PcmS24,
        Encoding::PcmS32,
        Encoding::Float32,
        Encoding::Float64,
        Encoding::MuLaw,
        Encoding::ALaw,
    ];

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

    /// The WAVE format tag that carries this encoding (the sub-format tag
    /// when wrapped in WAVE_FORMAT_EXTENSIBLE).
    pub fn format_tag(self) -> u16 {
        match self {
            Encoding::PcmU8 | Encoding::PcmS16 | Encoding::PcmS24 | Encoding::PcmS32 => {
                codec::TAG_PCM
            }
            Encoding::Float32 | Encoding::Float64 => codec::TAG_FLOAT,
            Encoding::MuLaw => codec::TAG_MULAW,
            Encoding::ALaw => codec::TAG_ALAW,
        }
    }

    /// The encoding with this wire name (the inverse of [`Encoding::as_str`]).
    pub fn from_wire(name: &str) -> Option<Encoding> {
        Encoding::ALL.into_iter().find(|e| e.as_str() == name)
    }

    /// Bits per sample as stored.
    pub fn bits_per_sample(self) -> u16 {
        match self {
            Encoding::PcmU8 | Encoding::MuLaw | Encoding::ALaw => 8,
            Encoding::PcmS16 => 16,
            Encoding::PcmS24 => 24,
            Encoding::PcmS32 | Encoding::Float32 => 32,
            Encoding::Float64 => 64,
        }
    }

    /// Bytes per sample of one channel.
    pub fn bytes_per_sample(self) -> u16 {
        self.bits_per_sample() / 8
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
    /// Playing time in milliseconds, rounded down.
    pub duration_ms: u64,
}

/// A four-character RIFF code (chunk id or form type). Displayed quoted when
/// it is printable ASCII and as hex otherwise, so a message never carries
/// control characters or arbitrary bytes from the upload.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    /// The `fmt ` chunk's id.
    pub const FMT: FourCc = FourCc(*b"fmt ");
    /// The `data` chunk's id.
    pub const DATA: FourCc = FourCc(*b"data");
    /// The RIFF container's magic.
    pub const RIFF: FourCc = FourCc(*b"RIFF");
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self
            .0
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b' ')
        {
            let text: String = self.0.iter().map(|b| char::from(*b)).collect();
            write!(f, "'{text}'")
        } else {
            let [a, b, c, d] = self.0;
            write!(f, "0x{a:02X}{b:02X}{c:02X}{d:02X}")
        }
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Where in the file the body ended, for truncation messages. `Display`
/// reads as the end of "it ends …".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Inside the 12-byte `RIFF….WAVE` header.
    RiffHeader,
    /// Inside an 8-byte chunk header.
    ChunkHeader,
    /// Between two chunks, before the end the RIFF size declares.
    BetweenChunks,
    /// Inside the `fmt ` chunk.
    Fmt,
    /// Inside the `data` chunk (the audio).
    Data,
    /// Inside some other chunk, named by its id.
    Chunk(FourCc),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::RiffHeader => f.write_str("inside the RIFF header"),
            Place::ChunkHeader => f.write_str("inside a chunk header"),
            Place::BetweenChunks => f.write_str("right after a complete chunk"),
            Place::Fmt => f.write_str("inside the fmt chunk"),
            Place::Data => f.write_str("inside the data chunk (the audio)"),
            Place::Chunk(id) => write!(f, "inside the {id} chunk"),
        }
    }
}

/// Why a body is not an acceptable WAV file. `Display` is a sentence for the
/// uploader; [`WavError::code`] is the stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WavError {
    /// Nothing was sent.
    Empty,
    /// The body does not begin with `RIFF`. `looks_like` names the format the
    /// first bytes suggest, when they are recognisable.
    NotRiff { looks_like: Option<&'static str> },
    /// A RIFF relative Kirjuri does not read (RIFX, RF64, BW64).
    UnsupportedContainer { container: &'static str },
    /// A RIFF file of another form type (AVI, RMID, …).
    NotWave { form: FourCc },
    /// The RIFF size cannot even hold the `WAVE` form type.
    RiffTooSmall { riff_size: u32 },
    /// A size field holds a placeholder a recorder writes before it knows the
    /// real length, so the file was never finalised.
    Unfinalised { what: &'static str, size: u32 },
    /// A codec other than PCM, float, µ-law or A-law. `extensible` says the
    /// tag came from a WAVE_FORMAT_EXTENSIBLE sub-format GUID.
    UnsupportedCodec { tag: u16, extensible: bool },
    /// A WAVE_FORMAT_EXTENSIBLE sub-format GUID outside the audio-tag family.
    UnknownSubFormat { guid: [u8; 16] },
    /// A bit depth the codec does not come in.
    UnsupportedBits {
        codec: &'static str,
        bits: u16,
        allowed: &'static str,
    },
    /// `channels` is 0.
    NoChannels,
    /// More than two channels.
    TooManyChannels { channels: u16 },
    /// A sample rate of 0 or outside 1 000–384 000 Hz.
    BadSampleRate { sample_rate: u32 },
    /// `block_align` disagrees with channels × bytes per sample.
    BadBlockAlign { block_align: u16, expected: u32 },
    /// `byte_rate` disagrees with sample rate × block align.
    BadByteRate { byte_rate: u32, expected: u64 },
    /// The `fmt ` chunk has a length Kirjuri does not read for this tag.
    FmtSize { size: u32, tag: u16 },
    /// The `fmt ` extension size (`cbSize`) disagrees with the chunk length.
    FmtExtensionSize { cb_size: u16, room: u32 },
    /// WAVE_FORMAT_EXTENSIBLE claims more valid bits than it stores.
    ValidBits { valid_bits: u16, bits: u16 },
    /// A `data` chunk before any `fmt ` chunk.
    DataBeforeFmt,
    /// The RIFF body ended without a `fmt ` chunk.
    MissingFmt,
    /// The RIFF body ended without a `data` chunk.
    MissingData,
    /// The `data` chunk has size 0.
    EmptyData,
    /// A second `fmt ` or `data` chunk.
    DuplicateChunk { id: FourCc },
    /// A chunk claims to run past the end the RIFF size declares.
    ChunkExceedsRiff {
        id: FourCc,
        offset: u64,
        chunk_end: u64,
        riff_end: u64,
    },
    /// Fewer than 8 bytes are left before the RIFF end: not enough for a chunk.
    StrayBytes { offset: u64, count: u64 },
    /// The audio is not a whole number of sample frames.
    PartialFrame { data_len: u64, block_align: u16 },
    /// The body ended early. `expected` is the length the RIFF size declares
    /// (12 while the RIFF header itself is incomplete).
    Truncated {
        received: u64,
        expected: u64,
        place: Place,
    },
    /// More than one byte follows the end the RIFF size declares.
    TrailingBytes { riff_end: u64 },
}

impl WavError {
    /// A stable machine-readable code for the API's error body.
    pub fn code(&self) -> &'static str {
        match self {
            WavError::Empty => "wav_empty",
            WavError::NotRiff { .. } | WavError::UnsupportedContainer { .. } => "wav_not_riff",
            WavError::NotWave { .. } => "wav_not_wave",
            WavError::RiffTooSmall { .. } | WavError::StrayBytes { .. } => "wav_bad_riff_size",
            WavError::Unfinalised { .. } => "wav_unfinalised",
            WavError::UnsupportedCodec { .. } | WavError::UnknownSubFormat { .. } => {
                "wav_unsupported_codec"
            }
            WavError::UnsupportedBits { .. } => "wav_unsupported_bits",
            WavError::NoChannels => "wav_no_channels",
            WavError::TooManyChannels { .. } => "wav_too_many_channels",
            WavError::BadSampleRate { .. } => "wav_bad_sample_rate",
            WavError::BadBlockAlign { .. } => "wav_bad_block_align",
            WavError::BadByteRate { .. } => "wav_bad_byte_rate",
            WavError::FmtSize { .. }
            | WavError::FmtExtensionSize { .. }
            | WavError::ValidBits { .. } => "wav_bad_fmt",
            WavError::DataBeforeFmt => "wav_data_before_fmt",
            WavError::MissingFmt => "wav_missing_fmt",
            WavError::MissingData => "wav_missing_data",
            WavError::EmptyData => "wav_empty_data",
            WavError::DuplicateChunk { .. } => "wav_duplicate_chunk",
            WavError::ChunkExceedsRiff { .. } => "wav_chunk_exceeds_riff",
            WavError::PartialFrame { .. } => "wav_partial_frame",
            WavError::Truncated { .. } => "wav_truncated",
            WavError::TrailingBytes { .. } => "wav_trailing_bytes",
        }
    }
}

/// What Kirjuri does accept, appended to codec refusals so the uploader knows
/// what to convert to.
const ACCEPTED: &str = "Kirjuri accepts PCM, IEEE float, G.711 µ-law and A-law";

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WavError::Empty => f.write_str("the body is empty; expected a WAV file"),
            WavError::NotRiff { looks_like } => {
                f.write_str("the file does not start with RIFF, so it is not a WAV file")?;
                match looks_like {
                    Some(kind) => write!(f, "; it looks like {kind}"),
                    None => Ok(()),
                }
            }
            WavError::UnsupportedContainer { container } => write!(
                f,
                "{container} files are not supported; convert the recording to a standard \
                 little-endian RIFF/WAVE file"
            ),
            WavError::NotWave { form } => write!(
                f,
                "the file is a RIFF file but not WAVE audio (its form type is {form})"
            ),
            WavError::RiffTooSmall { riff_size } => write!(
                f,
                "the RIFF size ({riff_size} bytes) is too small to hold a WAVE file"
            ),
            WavError::Unfinalised { what, size } => write!(
                f,
                "the {what} is a placeholder (0x{size:08X}) left by a recorder that did not \
                 finish the file; a recording is stored as exact evidence, so finalise the file \
                 (write its real sizes) before uploading"
            ),
            WavError::UnsupportedCodec { tag, extensible } => {
                let which = if *extensible {
                    "WAVE_FORMAT_EXTENSIBLE sub-format"
                } else {
                    "format tag"
                };
                write!(
                    f,
                    "unsupported codec: {} ({which} 0x{tag:04X}); {ACCEPTED}",
                    codec_name(*tag)
                )
            }
            WavError::UnknownSubFormat { guid } => {
                f.write_str("unsupported codec: unknown WAVE_FORMAT_EXTENSIBLE sub-format ")?;
                codec::write_guid(f, guid)?;
                write!(f, "; {ACCEPTED}")
            }
            WavError::UnsupportedBits {
                codec,
                bits,
                allowed,
            } => write!(
                f,
                "{codec} audio must have {allowed} bits per sample, but this file says {bits}"
            ),
            WavError::NoChannels => f.write_str("the file declares zero audio channels"),
            WavError::TooManyChannels { channels } => write!(
                f,
                "the file has {channels} channels; only mono or stereo (agent and customer) \
                 recordings are accepted"
            ),
            WavError::BadSampleRate { sample_rate: 0 } => f.write_str("the sample rate is zero"),
            WavError::BadSampleRate { sample_rate } => write!(
                f,
                "the sample rate {sample_rate} Hz is outside the accepted range of {} to {} Hz",
                MIN_SAMPLE_RATE, MAX_SAMPLE_RATE
            ),
            WavError::BadBlockAlign {
                block_align,
                expected,
            } => write!(
                f,
                "the fmt chunk's block alignment is {block_align} bytes, but its channels and \
                 bits per sample make a sample frame {expected} bytes"
            ),
            WavError::BadByteRate {
                byte_rate,
                expected,
            } => write!(
                f,
                "the fmt chunk's byte rate is {byte_rate} bytes per second, but its sample rate \
                 and block alignment make it {expected}"
            ),
            WavError::FmtSize {
                size,
                tag: codec::TAG_EXTENSIBLE,
            } => write!(
                f,
                "the fmt chunk is {size} bytes, but a WAVE_FORMAT_EXTENSIBLE fmt chunk is 40 bytes"
            ),
            WavError::FmtSize { size: 40, .. } => f.write_str(
                "the fmt chunk is 40 bytes, a length only WAVE_FORMAT_EXTENSIBLE uses, but its \
                 format tag is not WAVE_FORMAT_EXTENSIBLE",
            ),
            WavError::FmtSize { size, .. } => {
                let unit = if *size == 1 { "byte" } else { "bytes" };
                write!(f, "the fmt chunk is {size} {unit}; expected 16, 18 or 40")
            }
            WavError::FmtExtensionSize { cb_size, room } => write!(
                f,
                "the fmt chunk's extension size (cbSize) is {cb_size} bytes, but the chunk has \
                 room for {room}"
            ),
            WavError::ValidBits { valid_bits, bits } => write!(
                f,
                "the fmt chunk says {valid_bits} of each sample's bits are valid, but a sample \
                 only has {bits}"
            ),
            WavError::DataBeforeFmt => f.write_str(
                "the data chunk comes before the fmt chunk; the audio format must be declared \
                 before the audio",
            ),
            WavError::MissingFmt => {
                f.write_str("the file has no fmt chunk, so its audio format is unknown")
            }
            WavError::MissingData => {
                f.write_str("the file has no data chunk, so it holds no audio")
            }
            WavError::EmptyData => f.write_str(
                "the data chunk is empty: the file holds no audio, or the recorder did not \
                 finish writing it",
            ),
            WavError::DuplicateChunk { id } => {
                write!(
                    f,
                    "the file has more than one {id} chunk; exactly one is allowed"
                )
            }
            WavError::ChunkExceedsRiff {
                id,
                offset,
                chunk_end,
                riff_end,
            } => write!(
                f,
                "chunk size exceeds the RIFF size: the {id} chunk at byte {offset} runs to byte \
                 {chunk_end}, but the RIFF header says the file ends at byte {riff_end}"
            ),
            WavError::StrayBytes { offset, count } => write!(
                f,
                "the RIFF size leaves {count} bytes at byte {offset}, too few to form a chunk"
            ),
            WavError::PartialFrame {
                data_len,
                block_align,
            } => write!(
                f,
                "the data chunk is {data_len} bytes, which is not a whole number of \
                 {block_align}-byte sample frames"
            ),
            WavError::Truncated {
                received,
                expected,
                place,
            } => {
                let at_least = if *place == Place::RiffHeader {
                    "at least "
                } else {
                    ""
                };
                write!(
                    f,
                    "the file is truncated: expected {at_least}{expected} bytes but received \
                     {received}; it ends {place}"
                )
            }
            WavError::TrailingBytes { riff_end } => write!(
                f,
                "the file continues past the end its RIFF size declares (byte {riff_end}); only \
                 a single pad byte may follow"
            ),
        }
    }
}

impl std::error::Error for WavError {}
