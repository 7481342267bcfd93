//! The push parser behind [`WavValidator`]: a small state machine over the
//! RIFF chunk structure. It holds at most one 40-byte header in memory and
//! counts its way past chunk bodies (the audio included) without looking at
//! them, so memory is constant whatever the upload's size and however the
//! bytes are split into pieces. It validates structure and format only; it
//! does not decode or check the audio samples themselves.

use super::codec::{self, TAG_ALAW, TAG_EXTENSIBLE, TAG_FLOAT, TAG_MULAW, TAG_PCM};
use super::{Encoding, FourCc, Place, WavError, WavInfo};

/// The lowest sample rate accepted. Telephony starts at 8 kHz; anything below
/// 1 kHz is a corrupt header, not a recording.
pub const MIN_SAMPLE_RATE: u32 = 1_000;
/// The highest sample rate accepted (the top of what studio gear records).
pub const MAX_SAMPLE_RATE: u32 = 384_000;

/// Length of `RIFF <size> WAVE`.
const RIFF_HEADER_LEN: usize = 12;
/// Length of a chunk header (`<id> <size>`).
const CHUNK_HEADER_LEN: usize = 8;
/// The longest `fmt ` chunk read (WAVE_FORMAT_EXTENSIBLE).
const FMT_MAX_LEN: usize = 40;
/// A RIFF or data size a streaming recorder writes before it knows the length.
const PLACEHOLDER_SIZE: u32 = u32::MAX;

/// Where the parser is in the chunk structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting the 12-byte RIFF header into `buf`.
    RiffHeader,
    /// Collecting an 8-byte chunk header into `buf`.
    ChunkHeader,
    /// Collecting the `fmt ` body (`size` bytes, at most 40) into `buf`.
    Fmt { size: u32 },
    /// Counting past `remaining` bytes of a chunk body and its pad byte.
    Skip { remaining: u64, place: Place },
    /// At the end the RIFF size declares; `trailing` bytes have followed it.
    End { trailing: u64 },
}

/// The audio format once the `fmt ` chunk is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Format {
    encoding: Encoding,
    format_tag: u16,
    sample_rate: u32,
    channels: u16,
    bits_per_sample: u16,
    block_align: u16,
}

/// The audio's format and position, known once the headers are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioLayout {
    /// Sample encoding.
    pub encoding: Encoding,
    /// Samples per second per channel.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: u16,
    /// Bytes per frame.
    pub block_align: u16,
    /// Offset of the first audio byte in the file.
    pub data_offset: u64,
    /// Audio length in bytes.
    pub data_len: u64,
}

/// The push parser. Feed it every byte of the upload in order, then `finish`.
///
/// ```
/// use kirjuri_core::wav::{synth, Encoding, WavValidator};
///
/// let bytes = synth::wav_bytes(Encoding::MuLaw, 2, 8_000, 8_000, false);
/// let mut validator = WavValidator::new();
/// for piece in bytes.chunks(1000) {
///     validator.feed(piece)?;
/// }
/// let info = validator.finish()?;
/// assert_eq!(info.duration_ms, 1_000);
/// # Ok::<(), kirjuri_core::wav::WavError>(())
/// ```
#[derive(Debug, Clone)]
pub struct WavValidator {
    /// Parser state.
    state: State,
    /// Bytes consumed so far: the offset of the next byte in the file.
    pos: u64,
    /// The header being collected (RIFF header, chunk header or `fmt ` body).
    buf: [u8; FMT_MAX_LEN],
    /// How many bytes of `buf` are filled.
    buf_len: usize,
    /// Offset just past the RIFF chunk (8 + RIFF size); 0 until known.
    riff_end: u64,
    /// The validated format, once the `fmt ` chunk has been read.
    format: Option<Format>,
    /// Offset and length of the audio, once the `data` header has been read.
    data: Option<(u64, u64)>,
    /// The first error; every later call repeats it.
    failed: Option<WavError>,
}

impl Default for WavValidator {
    fn default() -> Self {
        Self {
            state: State::RiffHeader,
            pos: 0,
            buf: [0; FMT_MAX_LEN],
            buf_len: 0,
            riff_end: 0,
            format: None,
            data: None,
            failed: None,
        }
    }
}

impl WavValidator {
    /// A validator at the start of a file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next bytes. Fails as soon as they show the file is bad; after
    /// a failure every call returns the same error.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), WavError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        self.consume(bytes)
            .inspect_err(|error| self.failed = Some(error.clone()))
    }

    /// Where the audio lies, as soon as the `fmt ` chunk and the `data` chunk
    /// header have been read (before the audio itself arrives), so a caller
    /// can decode samples while the upload streams.
    pub fn audio_layout(&self) -> Option<AudioLayout> {
        let format = self.format?;
        let (data_offset, data_len) = self.data?;
        Some(AudioLayout {
            encoding: format.encoding,
            sample_rate: format.sample_rate,
            channels: format.channels,
            block_align: format.block_align,
            data_offset,
            data_len,
        })
    }

    /// Declares the end of input; fails if the file is truncated or incomplete.
    pub fn finish(self) -> Result<WavInfo, WavError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        if self.pos == 0 {
            return Err(WavError::Empty);
        }
        let place = match self.state {
            State::End { .. } => return self.info(),
            State::RiffHeader => {
                // Too short to have been judged: say "not RIFF" unless what
                // arrived is the start of a RIFF header.
                let got = self.buf.get(..self.buf_len).unwrap_or_default();
                if self.buf_len < 4 && !b"RIFF".starts_with(got) {
                    return Err(WavError::NotRiff { looks_like: None });
                }
                Place::RiffHeader
            }
            State::ChunkHeader if self.buf_len == 0 => Place::BetweenChunks,
            State::ChunkHeader => Place::ChunkHeader,
            State::Fmt { .. } => Place::Fmt,
            State::Skip { place, .. } => place,
        };
        let expected = if self.riff_end == 0 {
            RIFF_HEADER_LEN as u64
        } else {
            self.riff_end
        };
        Err(WavError::Truncated {
            received: self.pos,
            expected,
            place,
        })
    }

    /// The summary of a file whose RIFF body was read to its end.
    fn info(&self) -> Result<WavInfo, WavError> {
        let format = self.format.ok_or(WavError::MissingFmt)?;
        let (data_offset, data_len) = self.data.ok_or(WavError::MissingData)?;
        let frames = data_len
            .checked_div(u64::from(format.block_align))
            .unwrap_or(0);
        let duration_ms = u128::from(frames) * 1000 / u128::from(format.sample_rate.max(1));
        Ok(WavInfo {
            encoding: format.encoding,
            format_tag: format.format_tag,
            sample_rate: format.sample_rate,
            channels: format.channels,
            bits_per_sample: format.bits_per_sample,
            block_align: format.block_align,
            data_offset,
            data_len,
            duration_ms: u64::try_from(duration_ms).unwrap_or(u64::MAX),
        })
    }

    /// Runs the state machine over `input` until it is used up.
    fn consume(&mut self, mut input: &[u8]) -> Result<(), WavError> {
        while !input.is_empty() {
            let used = match self.state {
                State::RiffHeader => {
                    let used = self.collect(input, RIFF_HEADER_LEN);
                    self.on_riff_header()?;
                    used
                }
                State::ChunkHeader => {
                    let used = self.collect(input, CHUNK_HEADER_LEN);
                    if self.buf_len == CHUNK_HEADER_LEN {
                        self.on_chunk_header()?;
                    }
                    used
                }
                State::Fmt { size } => {
                    let want = usize::try_from(size)
                        .unwrap_or(FMT_MAX_LEN)
                        .min(FMT_MAX_LEN);
                    let used = self.collect(input, want);
                    self.on_fmt_bytes(size, want)?;
                    used
                }
                State::Skip { remaining, place } => {
                    let step = remaining.min(input.len() as u64);
                    self.pos += step;
                    let left = remaining - step;
                    if left == 0 {
                        self.next_chunk()?;
                    } else {
                        self.state = State::Skip {
                            remaining: left,
                            place,
                        };
                    }
                    // `step` is at most `input.len()`, so it fits a usize.
                    usize::try_from(step).unwrap_or(input.len())
                }
                State::End { trailing } => {
                    // One byte may follow the RIFF end: the pad byte of an
                    // odd-sized last chunk that the writer left out of the
                    // RIFF size. More than that is not part of this file.
                    let trailing = trailing + input.len() as u64;
                    if trailing > 1 {
                        return Err(WavError::TrailingBytes {
                            riff_end: self.riff_end,
                        });
                    }
                    self.pos += input.len() as u64;
                    self.state = State::End { trailing };
                    input.len()
                }
            };
            input = input.get(used..).unwrap_or_default();
        }
        Ok(())
    }

    /// Copies bytes from `input` into `buf` until it holds `want`; returns how
    /// many were taken.
    fn collect(&mut self, input: &[u8], want: usize) -> usize {
        let need = want.saturating_sub(self.buf_len);
        let take = need.min(input.len());
        let (Some(dst), Some(src)) = (
            self.buf.get_mut(self.buf_len..self.buf_len + take),
            input.get(..take),
        ) else {
            return 0;
        };
        dst.copy_from_slice(src);
        self.buf_len += take;
        self.pos += take as u64;
        take
    }

    /// Judges the RIFF header: the magic as soon as four bytes are in (so a
    /// non-WAV upload is refused at once), the rest when all twelve are.
    fn on_riff_header(&mut self) -> Result<(), WavError> {
        if self.buf_len < 4 {
            return Ok(());
        }
        let magic = four(&self.buf, 0);
        if magic != FourCc::RIFF.0 {
            return Err(match codec::sniff(&magic) {
                Ok(looks_like) => WavError::NotRiff { looks_like },
                Err(container) => WavError::UnsupportedContainer { container },
            });
        }
        if self.buf_len < RIFF_HEADER_LEN {
            return Ok(());
        }
        let form = four(&self.buf, 8);
        if &form != b"WAVE" {
            return Err(WavError::NotWave { form: FourCc(form) });
        }
        let riff_size = le32(&self.buf, 4);
        if riff_size == 0 || riff_size == PLACEHOLDER_SIZE {
            return Err(WavError::Unfinalised {
                what: "RIFF size",
                size: riff_size,
            });
        }
        if riff_size < 4 {
            return Err(WavError::RiffTooSmall { riff_size });
        }
        self.riff_end = 8 + u64::from(riff_size);
        self.next_chunk()
    }

    /// Judges a complete chunk header and chooses how to read its body.
    fn on_chunk_header(&mut self) -> Result<(), WavError> {
        let id = FourCc(four(&self.buf, 0));
        let size = le32(&self.buf, 4);
        let offset = self.pos - CHUNK_HEADER_LEN as u64;
        self.buf_len = 0;
        match id {
            FourCc::FMT => {
                if self.format.is_some() {
                    return Err(WavError::DuplicateChunk { id });
                }
                if size < 2 {
                    return Err(WavError::FmtSize { size, tag: 0 });
                }
            }
            FourCc::DATA => {
                let format = self.format.ok_or(WavError::DataBeforeFmt)?;
                if self.data.is_some() {
                    return Err(WavError::DuplicateChunk { id });
                }
                if size == PLACEHOLDER_SIZE {
                    return Err(WavError::Unfinalised {
                        what: "data chunk size",
                        size,
                    });
                }
                if size == 0 {
                    return Err(WavError::EmptyData);
                }
                let data_len = u64::from(size);
                if data_len % u64::from(format.block_align.max(1)) != 0 {
                    return Err(WavError::PartialFrame {
                        data_len,
                        block_align: format.block_align,
                    });
                }
            }
            _ => {}
        }
        let chunk_end = self.pos + u64::from(size);
        if chunk_end > self.riff_end {
            return Err(WavError::ChunkExceedsRiff {
                id,
                offset,
                chunk_end,
                riff_end: self.riff_end,
            });
        }
        // An odd-sized chunk is followed by a pad byte. When the chunk is the
        // last one and the RIFF size leaves the pad byte out, it may follow
        // the RIFF end instead (see `State::End`).
        let padded = (chunk_end + (chunk_end - self.pos) % 2).min(self.riff_end);
        match id {
            FourCc::FMT => self.state = State::Fmt { size },
            FourCc::DATA => {
                self.data = Some((self.pos, u64::from(size)));
                self.state = State::Skip {
                    remaining: padded - self.pos,
                    place: Place::Data,
                };
            }
            _ => {
                self.state = State::Skip {
                    remaining: padded - self.pos,
                    place: Place::Chunk(id),
                };
            }
        }
        if padded == self.pos {
            self.next_chunk()?;
        }
        Ok(())
    }

    /// Judges the `fmt ` body: the format tag as soon as it is in (so an MP3
    /// in a WAV wrapper is refused before its audio is sent), the whole
    /// chunk once `want` bytes are.
    fn on_fmt_bytes(&mut self, size: u32, want: usize) -> Result<(), WavError> {
        if self.buf_len >= 2 {
            let tag = le16(&self.buf, 0);
            if tag != TAG_EXTENSIBLE && !codec::is_accepted_tag(tag) {
                return Err(WavError::UnsupportedCodec {
                    tag,
                    extensible: false,
                });
            }
        }
        if self.buf_len < want {
            return Ok(());
        }
        let format = parse_fmt(&self.buf, size)?;
        self.format = Some(format);
        self.buf_len = 0;
        // Accepted fmt sizes (16, 18, 40) are even: no pad byte to skip.
        self.next_chunk()
    }

    /// Moves on after a chunk (or the RIFF header): to the end, or to the next
    /// chunk header if there is room for one.
    fn next_chunk(&mut self) -> Result<(), WavError> {
        self.buf_len = 0;
        if self.pos >= self.riff_end {
            self.state = State::End { trailing: 0 };
            return Ok(());
        }
        let left = self.riff_end - self.pos;
        if left < CHUNK_HEADER_LEN as u64 {
            return Err(WavError::StrayBytes {
                offset: self.pos,
                count: left,
            });
        }
        self.state = State::ChunkHeader;
        Ok(())
    }
}

/// Validates a complete `fmt ` chunk of `size` bytes (its first `min(size,
/// 40)` bytes are in `buf`) and says what audio it describes.
fn parse_fmt(buf: &[u8; FMT_MAX_LEN], size: u32) -> Result<Format, WavError> {
    let tag = le16(buf, 0);
    let channels = le16(buf, 2);
    let sample_rate = le32(buf, 4);
    let byte_rate = le32(buf, 8);
    let block_align = le16(buf, 12);
    let bits = le16(buf, 14);

    let extensible = tag == TAG_EXTENSIBLE;
    match (size, extensible) {
        (16, false) => {}
        (18, false) => check_cb_size(le16(buf, 16), 0)?,
        (40, true) => check_cb_size(le16(buf, 16), 22)?,
        _ => return Err(WavError::FmtSize { size, tag }),
    }
    let format_tag = if extensible {
        let guid = guid_at(buf, 24);
        let sub_tag = codec::subformat_tag(&guid).ok_or(WavError::UnknownSubFormat { guid })?;
        if !codec::is_accepted_tag(sub_tag) {
            return Err(WavError::UnsupportedCodec {
                tag: sub_tag,
                extensible: true,
            });
        }
        sub_tag
    } else {
        tag
    };

    if channels == 0 {
        return Err(WavError::NoChannels);
    }
    if channels > 2 {
        return Err(WavError::TooManyChannels { channels });
    }
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        return Err(WavError::BadSampleRate { sample_rate });
    }
    let encoding = encoding_for(format_tag, bits)?;
    if extensible {
        let valid_bits = le16(buf, 18);
        if valid_bits > bits {
            return Err(WavError::ValidBits { valid_bits, bits });
        }
    }
    let expected_align = u32::from(channels) * u32::from(bits / 8);
    if u32::from(block_align) != expected_align {
        return Err(WavError::BadBlockAlign {
            block_align,
            expected: expected_align,
        });
    }
    let expected_rate = u64::from(sample_rate) * u64::from(block_align);
    if u64::from(byte_rate) != expected_rate {
        return Err(WavError::BadByteRate {
            byte_rate,
            expected: expected_rate,
        });
    }
    Ok(Format {
        encoding,
        format_tag,
        sample_rate,
        channels,
        bits_per_sample: bits,
        block_align,
    })
}

/// Refuses a `cbSize` that disagrees with the room the chunk length leaves.
fn check_cb_size(cb_size: u16, room: u16) -> Result<(), WavError> {
    if cb_size == room {
        Ok(())
    } else {
        Err(WavError::FmtExtensionSize {
            cb_size,
            room: u32::from(room),
        })
    }
}

/// The encoding an accepted tag has at `bits` per sample.
fn encoding_for(tag: u16, bits: u16) -> Result<Encoding, WavError> {
    let refuse = |codec: &'static str, allowed: &'static str| {
        Err(WavError::UnsupportedBits {
            codec,
            bits,
            allowed,
        })
    };
    match (tag, bits) {
        (TAG_PCM, 8) => Ok(Encoding::PcmU8),
        (TAG_PCM, 16) => Ok(Encoding::PcmS16),
        (TAG_PCM, 24) => Ok(Encoding::PcmS24),
        (TAG_PCM, 32) => Ok(Encoding::PcmS32),
        (TAG_PCM, _) => refuse("PCM", "8, 16, 24 or 32"),
        (TAG_FLOAT, 32) => Ok(Encoding::Float32),
        (TAG_FLOAT, 64) => Ok(Encoding::Float64),
        (TAG_FLOAT, _) => refuse("IEEE float", "32 or 64"),
        (TAG_MULAW, 8) => Ok(Encoding::MuLaw),
        (TAG_MULAW, _) => refuse("G.711 µ-law", "8"),
        (TAG_ALAW, 8) => Ok(Encoding::ALaw),
        (TAG_ALAW, _) => refuse("G.711 A-law", "8"),
        _ => Err(WavError::UnsupportedCodec {
            tag,
            extensible: false,
        }),
    }
}

/// Four bytes of `buf` at `at` (zeros past the end, which callers never reach).
fn four(buf: &[u8; FMT_MAX_LEN], at: usize) -> [u8; 4] {
    match buf.get(at..at + 4) {
        Some(&[a, b, c, d]) => [a, b, c, d],
        _ => [0; 4],
    }
}

/// A little-endian u16 of `buf` at `at`.
fn le16(buf: &[u8; FMT_MAX_LEN], at: usize) -> u16 {
    match buf.get(at..at + 2) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]),
        _ => 0,
    }
}

/// A little-endian u32 of `buf` at `at`.
fn le32(buf: &[u8; FMT_MAX_LEN], at: usize) -> u32 {
    u32::from_le_bytes(four(buf, at))
}

/// The 16-byte GUID of `buf` at `at`.
fn guid_at(buf: &[u8; FMT_MAX_LEN], at: usize) -> [u8; 16] {
    let mut guid = [0u8; 16];
    if let Some(src) = buf.get(at..at + 16) {
        guid.copy_from_slice(src);
    }
    guid
}
