//! Streaming sample decoding for the player (issue 4): waveform peaks computed
//! while a recording is ingested, and on-the-fly transcoding to 16-bit PCM for
//! encodings browsers cannot play (µ-law, A-law, 24/32-bit, float). Both take
//! the audio bytes in pieces of any size and keep at most one partial frame,
//! so memory is constant whatever the recording's length.
//!
//! Not here: parsing headers (the validator) or deciding what a client may
//! hear (the access decision). The stored original is never altered; this
//! only produces derived renditions.

use serde::{Deserialize, Serialize};

use super::g711::{alaw_to_linear, mulaw_to_linear};
use super::synth::header;
use super::{AudioLayout, Encoding};

/// Largest frame this module handles: 2 channels × 8 bytes.
const MAX_FRAME: usize = 16;

/// Feeds whole frames out of byte pieces of any size.
#[derive(Debug, Clone)]
struct Framer {
    /// Bytes per frame.
    frame: usize,
    /// A frame split across pieces.
    carry: [u8; MAX_FRAME],
    /// How much of `carry` is filled.
    carry_len: usize,
}

impl Framer {
    fn new(block_align: u16) -> Self {
        let frame = usize::from(block_align).clamp(1, MAX_FRAME);
        Self {
            frame,
            carry: [0; MAX_FRAME],
            carry_len: 0,
        }
    }

    /// Calls `f` with every complete frame in `carry ‖ bytes`.
    fn frames(&mut self, bytes: &[u8], mut f: impl FnMut(&[u8])) {
        let frame = self.frame;
        self.runs(bytes, |run| run.chunks_exact(frame).for_each(&mut f));
    }

    /// Calls `f` with the complete frames in `carry ‖ bytes` in runs: a
    /// carried frame completed by `bytes` alone, then the rest of `bytes`
    /// cut to whole frames; keeps what is left over for the next call.
    fn runs(&mut self, mut bytes: &[u8], mut f: impl FnMut(&[u8])) {
        if self.carry_len > 0 {
            let need = self.frame - self.carry_len;
            let take = need.min(bytes.len());
            if let (Some(dst), Some(src)) = (
                self.carry.get_mut(self.carry_len..self.carry_len + take),
                bytes.get(..take),
            ) {
                dst.copy_from_slice(src);
            }
            self.carry_len += take;
            bytes = bytes.get(take..).unwrap_or_default();
            if self.carry_len < self.frame {
                return;
            }
            f(self.carry.get(..self.frame).unwrap_or_default());
            self.carry_len = 0;
        }
        let whole = bytes.len() - bytes.len() % self.frame;
        let (run, rest) = bytes.split_at(whole);
        if !run.is_empty() {
            f(run);
        }
        if let Some(dst) = self.carry.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        self.carry_len = rest.len();
    }
}

/// One sample as a float in -1.0..=1.0.
fn sample_f32(encoding: Encoding, bytes: &[u8]) -> f32 {
    let arr = |n: usize| -> [u8; 8] {
        let mut out = [0u8; 8];
        if let (Some(dst), Some(src)) = (out.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        out
    };
    match encoding {
        Encoding::PcmU8 => (f32::from(bytes.first().copied().unwrap_or(128)) - 128.0) / 128.0,
        Encoding::PcmS16 => {
            let b = arr(2);
            f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0
        }
        Encoding::PcmS24 => {
            let b = arr(3);
            (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0
        }
        Encoding::PcmS32 => {
            let b = arr(4);
            i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0
        }
        Encoding::Float32 => {
            let b = arr(4);
            let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if x.is_finite() {
                x.clamp(-1.0, 1.0)
            } else {
                0.0
            }
        }
        Encoding::Float64 => {
            let x = f64::from_le_bytes(arr(8));
            if x.is_finite() {
                x.clamp(-1.0, 1.0) as f32
            } else {
                0.0
            }
        }
        Encoding::MuLaw => {
            f32::from(mulaw_to_linear(bytes.first().copied().unwrap_or(0xFF))) / 32768.0
        }
        Encoding::ALaw => {
            f32::from(alaw_to_linear(bytes.first().copied().unwrap_or(0xD5))) / 32768.0
        }
    }
}

/// One sample as signed 16-bit PCM.
fn sample_i16(encoding: Encoding, bytes: &[u8]) -> i16 {
    match encoding {
        Encoding::PcmS16 => i16::from_le_bytes([
            bytes.first().copied().unwrap_or(0),
            bytes.get(1).copied().unwrap_or(0),
        ]),
        Encoding::MuLaw => mulaw_to_linear(bytes.first().copied().unwrap_or(0xFF)),
        Encoding::ALaw => alaw_to_linear(bytes.first().copied().unwrap_or(0xD5)),
        // Scale, round and clamp: -1.0 → -32768, +1.0 → 32767.
        other => (sample_f32(other, bytes) * 32768.0)
            .round()
            .clamp(-32768.0, 32767.0) as i16,
    }
}

/// A recording's waveform: per channel, the (min, max) of each slice of time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peaks {
    /// Channel count.
    pub channels: u16,
    /// Peaks per second of audio.
    pub peaks_per_second: f64,
    /// `peaks[channel][i] = [min, max]`, each in -1.0..=1.0.
    pub peaks: Vec<Vec<[f32; 2]>>,
}

/// Builds [`Peaks`] from audio bytes as they stream past.
#[derive(Debug, Clone)]
pub struct PeakBuilder {
    layout: AudioLayout,
    framer: Framer,
    /// Frames folded into one peak.
    frames_per_peak: u64,
    /// Only every `stride`-th frame of a slice is looked at: a waveform for
    /// the screen does not need all of them, and intake must stay fast.
    stride: u64,
    /// Frames in the current slice.
    in_slice: u64,
    /// Running (min, max) per channel of the current slice.
    current: Vec<[f32; 2]>,
    /// Finished peaks.
    peaks: Vec<Vec<[f32; 2]>>,
}

/// At most this many peaks per channel: enough for any screen, and a bound
/// on memory for recordings of any length.
pub const MAX_PEAKS: u64 = 4_000;
/// At most this many peaks per second for short recordings.
pub const MAX_PEAKS_PER_SECOND: u64 = 100;
/// Frames examined per peak (evenly spaced) in long recordings; short ones
/// have fewer frames per peak and are examined whole.
pub const FRAMES_LOOKED_AT_PER_PEAK: u64 = 256;

impl PeakBuilder {
    /// A builder for audio of this layout.
    pub fn new(layout: AudioLayout) -> Self {
        let frames = layout.data_len / u64::from(layout.block_align.max(1));
        let by_rate = u64::from(layout.sample_rate) / MAX_PEAKS_PER_SECOND;
        let by_count = frames.div_ceil(MAX_PEAKS);
        let channels = usize::from(layout.channels.max(1));
        let frames_per_peak = by_rate.max(by_count).max(1);
        Self {
            layout,
            framer: Framer::new(layout.block_align),
            frames_per_peak,
            stride: (frames_per_peak / FRAMES_LOOKED_AT_PER_PEAK).max(1),
            in_slice: 0,
            current: vec![[f32::MAX, f32::MIN]; channels],
            peaks: vec![Vec::new(); channels],
        }
    }

    /// Takes the next audio bytes (only bytes inside the data chunk).
    ///
    /// The loop is made once per encoding with its conversion inlined
    /// (the common telephony encodings spelled out): matching the encoding
    /// for every sample, and dividing by the stride for every frame, used
    /// to cost intake more CPU than hashing the upload (issue 16 §1).
    pub fn push(&mut self, audio: &[u8]) {
        let s16 = |b: &[u8]| {
            b.first_chunk::<2>()
                .map_or(0.0, |b| f32::from(i16::from_le_bytes(*b)) / 32768.0)
        };
        match self.layout.encoding {
            Encoding::PcmS16 if self.stride == 1 && self.layout.channels == 1 => {
                self.push_pcm16::<2>(audio, |f: &[u8; 2]| [*f, *f]);
            }
            Encoding::PcmS16 if self.stride == 1 && self.layout.channels == 2 => {
                self.push_pcm16::<4>(audio, |f: &[u8; 4]| [[f[0], f[1]], [f[2], f[3]]]);
            }
            Encoding::PcmS16 => self.push_with(audio, s16),
            Encoding::MuLaw => self.push_with(audio, |b: &[u8]| {
                f32::from(mulaw_to_linear(b.first().copied().unwrap_or(0xFF))) / 32768.0
            }),
            Encoding::ALaw => self.push_with(audio, |b: &[u8]| {
                f32::from(alaw_to_linear(b.first().copied().unwrap_or(0xD5))) / 32768.0
            }),
            other => self.push_with(audio, move |b: &[u8]| sample_f32(other, b)),
        }
    }

    /// [`PeakBuilder::push`] for 16-bit PCM of `FRAME` bytes a frame when
    /// every frame is looked at (calls up to a few minutes): each slice's
    /// minimum and maximum are taken over the integers, a loop the compiler
    /// turns into vector instructions, and converted once per peak — the
    /// same result, as the conversion is exact and keeps the order.
    /// `samples` splits a frame into its (one or two) channels'
    /// little-endian samples; a mono frame's one sample is given twice and
    /// the second lane ignored.
    fn push_pcm16<const FRAME: usize>(
        &mut self,
        audio: &[u8],
        samples: impl Fn(&[u8; FRAME]) -> [[u8; 2]; 2],
    ) {
        let frames_per_peak = self.frames_per_peak;
        let (current, peaks, in_slice) = (&mut self.current, &mut self.peaks, &mut self.in_slice);
        self.framer.runs(audio, |mut run| {
            while !run.is_empty() {
                let left = usize::try_from(frames_per_peak - *in_slice).unwrap_or(usize::MAX);
                let (frames, _) = run.as_chunks::<FRAME>();
                let n = frames.len().min(left);
                let (span, _) = frames.split_at(n);
                if n == 0 {
                    break;
                }
                let mut lo = [i16::MAX; 2];
                let mut hi = [i16::MIN; 2];
                for frame in span {
                    let [a, b] = samples(frame).map(i16::from_le_bytes);
                    lo = [lo[0].min(a), lo[1].min(b)];
                    hi = [hi[0].max(a), hi[1].max(b)];
                }
                for ((range, lo), hi) in current.iter_mut().zip(lo).zip(hi) {
                    range[0] = range[0].min(f32::from(lo) / 32768.0);
                    range[1] = range[1].max(f32::from(hi) / 32768.0);
                }
                *in_slice += n as u64;
                if *in_slice == frames_per_peak {
                    flush(current, peaks);
                    *in_slice = 0;
                }
                run = run.get(n * FRAME..).unwrap_or_default();
            }
        });
    }

    /// [`PeakBuilder::push`] with `sample` converting one sample. Of each
    /// slice it looks at the frames whose place in the slice is a multiple
    /// of the stride, stepping straight from one to the next: in a long
    /// recording that is one frame in hundreds, and visiting the others
    /// only to skip them used to cost intake more than encrypting them.
    #[inline(always)]
    fn push_with(&mut self, audio: &[u8], sample: impl Fn(&[u8]) -> f32) {
        let width = usize::from(self.layout.encoding.bytes_per_sample()).max(1);
        let frame = self.framer.frame;
        let frames_per_peak = self.frames_per_peak;
        let stride = self.stride;
        let (current, peaks, in_slice) = (&mut self.current, &mut self.peaks, &mut self.in_slice);
        self.framer.runs(audio, |mut run| {
            while !run.is_empty() {
                let left = frames_per_peak - *in_slice;
                let n = u64::try_from(run.len() / frame).map_or(left, |have| have.min(left));
                // The first frame of this span whose place in the slice is
                // a multiple of the stride, then every stride-th.
                let mut at = (stride - *in_slice % stride) % stride;
                while at < n {
                    let start = usize::try_from(at)
                        .unwrap_or(usize::MAX)
                        .saturating_mul(frame);
                    let bytes = run.get(start..start + frame).unwrap_or_default();
                    for (range, bytes) in current.iter_mut().zip(bytes.chunks_exact(width)) {
                        let x = sample(bytes);
                        range[0] = range[0].min(x);
                        range[1] = range[1].max(x);
                    }
                    at += stride;
                }
                *in_slice += n;
                if *in_slice == frames_per_peak {
                    flush(current, peaks);
                    *in_slice = 0;
                }
                let used = usize::try_from(n)
                    .unwrap_or(usize::MAX)
                    .saturating_mul(frame);
                run = run.get(used..).unwrap_or_default();
            }
        });
    }

    /// The waveform of everything pushed.
    pub fn finish(mut self) -> Peaks {
        if self.in_slice > 0 {
            flush(&mut self.current, &mut self.peaks);
        }
        Peaks {
            channels: self.layout.channels,
            peaks_per_second: f64::from(self.layout.sample_rate) / self.frames_per_peak as f64,
            peaks: self.peaks,
        }
    }
}

fn flush(current: &mut [[f32; 2]], peaks: &mut [Vec<[f32; 2]>]) {
    for (range, out) in current.iter_mut().zip(peaks.iter_mut()) {
        out.push(*range);
        *range = [f32::MAX, f32::MIN];
    }
}

/// Length of the 44-byte header of a PCM16 rendition.
pub const PCM16_HEADER_LEN: u64 = 44;

/// The PCM16 rendition of a recording: its header and how its bytes map back
/// to the original's audio.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pcm16Rendition {
    /// The original's layout.
    pub source: AudioLayout,
}

impl Pcm16Rendition {
    /// Frames of audio.
    pub fn frames(&self) -> u64 {
        self.source.data_len / u64::from(self.source.block_align.max(1))
    }

    /// Bytes per output frame.
    pub fn out_frame(&self) -> u64 {
        2 * u64::from(self.source.channels)
    }

    /// Total length of the rendition.
    pub fn len(&self) -> u64 {
        PCM16_HEADER_LEN + self.frames() * self.out_frame()
    }

    /// Whether the rendition holds no audio.
    pub fn is_empty(&self) -> bool {
        self.frames() == 0
    }

    /// The rendition's WAV header.
    pub fn header(&self) -> Vec<u8> {
        header(
            Encoding::PcmS16,
            self.source.channels,
            self.source.sample_rate,
            self.frames() * self.out_frame(),
            false,
        )
    }

    /// For output frames `first..last_exclusive`, the byte range of the
    /// original file holding them.
    pub fn source_range(&self, first_frame: u64, end_frame: u64) -> std::ops::Range<u64> {
        let align = u64::from(self.source.block_align);
        let start = self.source.data_offset + first_frame * align;
        start..self.source.data_offset + end_frame * align
    }
}

/// Converts audio bytes of any accepted encoding to 16-bit PCM, streaming.
#[derive(Debug, Clone)]
pub struct Pcm16Transcoder {
    encoding: Encoding,
    framer: Framer,
}

impl Pcm16Transcoder {
    /// A transcoder starting at a frame boundary of audio in `layout`.
    pub fn new(layout: AudioLayout) -> Self {
        Self {
            encoding: layout.encoding,
            framer: Framer::new(layout.block_align),
        }
    }

    /// Appends the PCM16 form of every complete frame in `audio` to `out`.
    pub fn push(&mut self, audio: &[u8], out: &mut Vec<u8>) {
        let encoding = self.encoding;
        let width = usize::from(encoding.bytes_per_sample()).max(1);
        self.framer.frames(audio, |frame| {
            for sample in frame.chunks_exact(width) {
                out.extend_from_slice(&sample_i16(encoding, sample).to_le_bytes());
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wav::synth::wav_bytes;
    use crate::wav::{WavValidator, synth};

    fn layout_of(bytes: &[u8]) -> AudioLayout {
        let mut validator = WavValidator::new();
        validator.feed(bytes).unwrap();
        validator.audio_layout().unwrap()
    }

    #[test]
    fn every_encoding_transcodes_to_pcm16_close_to_the_pcm16_original_in_any_chunking() {
        let reference = wav_bytes(Encoding::PcmS16, 2, 8000, 4000, false);
        let ref_layout = layout_of(&reference);
        let ref_audio = &reference[ref_layout.data_offset as usize..];
        for encoding in Encoding::ALL {
            let bytes = wav_bytes(encoding, 2, 8000, 4000, false);
            let layout = layout_of(&bytes);
            let audio = &bytes
                [layout.data_offset as usize..(layout.data_offset + layout.data_len) as usize];
            for piece in [1usize, 3, 7, 1000] {
                let mut transcoder = Pcm16Transcoder::new(layout);
                let mut out = Vec::new();
                for chunk in audio.chunks(piece) {
                    transcoder.push(chunk, &mut out);
                }
                assert_eq!(out.len(), ref_audio.len(), "{encoding} piece {piece}");
                // Lossy encodings differ a little; the tone must be the same.
                let tolerance = match encoding {
                    Encoding::PcmU8 => 300,
                    Encoding::MuLaw | Encoding::ALaw => 1100,
                    _ => 2,
                };
                for (a, b) in out.chunks_exact(2).zip(ref_audio.chunks_exact(2)) {
                    let a = i32::from(i16::from_le_bytes([a[0], a[1]]));
                    let b = i32::from(i16::from_le_bytes([b[0], b[1]]));
                    assert!((a - b).abs() <= tolerance, "{encoding}: {a} vs {b}");
                }
            }
        }
    }

    #[test]
    fn the_rendition_header_describes_pcm16_of_the_same_length() {
        let bytes = wav_bytes(Encoding::MuLaw, 1, 8000, 8000, false);
        let rendition = Pcm16Rendition {
            source: layout_of(&bytes),
        };
        let mut validator = WavValidator::new();
        validator.feed(&rendition.header()).unwrap();
        validator
            .feed(&vec![0u8; (rendition.len() - PCM16_HEADER_LEN) as usize])
            .unwrap();
        let info = validator.finish().unwrap();
        assert_eq!(info.encoding, Encoding::PcmS16);
        assert_eq!(info.duration_ms, 1000);
        assert_eq!(rendition.header().len() as u64, PCM16_HEADER_LEN);
    }

    /// `audio` with xorshift noise of up to `mask` added to each byte.
    fn with_noise(audio: &[u8], mask: u8) -> Vec<u8> {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        audio
            .iter()
            .map(|byte| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                byte ^ (state as u8 & mask)
            })
            .collect()
    }

    #[test]
    fn the_integer_pcm16_peaks_equal_the_per_sample_ones_in_any_chunking() {
        for (channels, frames) in [(1u16, 7_919u32), (2, 48_000), (2, 130), (1, 1)] {
            let bytes = wav_bytes(Encoding::PcmS16, channels, 8000, frames, false);
            let layout = layout_of(&bytes);
            // Noise over the tone, so every slice has its own extremes.
            let audio = with_noise(&bytes[layout.data_offset as usize..], 0x0F);
            let mut reference = PeakBuilder::new(layout);
            let s16 = |b: &[u8]| {
                b.first_chunk::<2>()
                    .map_or(0.0, |b| f32::from(i16::from_le_bytes(*b)) / 32768.0)
            };
            reference.push_with(&audio, s16);
            let reference = reference.finish();
            for cut in [1, 3, 5, 333, 4096, audio.len().max(1)] {
                let mut fast = PeakBuilder::new(layout);
                assert_eq!(fast.stride, 1);
                for piece in audio.chunks(cut) {
                    fast.push(piece);
                }
                assert_eq!(
                    fast.finish(),
                    reference,
                    "{channels} ch, {frames} frames, pieces of {cut}"
                );
            }
        }
    }

    /// The peaks of `audio` the plain way: every frame visited, the ones
    /// at a multiple of the stride in their slice looked at.
    fn frame_by_frame(layout: AudioLayout, audio: &[u8]) -> Peaks {
        let mut builder = PeakBuilder::new(layout);
        let frame = usize::from(layout.block_align);
        let width = usize::from(layout.encoding.bytes_per_sample());
        for bytes in audio.chunks_exact(frame) {
            if builder.in_slice.is_multiple_of(builder.stride) {
                for (range, sample) in builder.current.iter_mut().zip(bytes.chunks_exact(width)) {
                    let x = sample_f32(layout.encoding, sample);
                    range[0] = range[0].min(x);
                    range[1] = range[1].max(x);
                }
            }
            builder.in_slice += 1;
            if builder.in_slice == builder.frames_per_peak {
                flush(&mut builder.current, &mut builder.peaks);
                builder.in_slice = 0;
            }
        }
        builder.finish()
    }

    #[test]
    fn the_strided_peaks_of_long_audio_equal_the_frame_by_frame_ones_in_any_chunking() {
        for (encoding, channels) in [
            (Encoding::PcmS16, 2u16),
            (Encoding::PcmS16, 1),
            (Encoding::MuLaw, 1),
            (Encoding::ALaw, 2),
        ] {
            let bytes = wav_bytes(encoding, channels, 8000, 40_000, false);
            let mut layout = layout_of(&bytes);
            let audio = with_noise(&bytes[layout.data_offset as usize..], 0x3F);
            // Claimed long enough that a slice has 1,009 frames and every
            // third is looked at; only the first 40,000 frames are given.
            layout.data_len = 1_009 * MAX_PEAKS * u64::from(layout.block_align);
            assert_eq!(PeakBuilder::new(layout).stride, 3);
            let reference = frame_by_frame(layout, &audio);
            for cut in [1, 3, 7, 333, 4096, audio.len()] {
                let mut strided = PeakBuilder::new(layout);
                for piece in audio.chunks(cut) {
                    strided.push(piece);
                }
                assert_eq!(
                    strided.finish(),
                    reference,
                    "{encoding:?} {channels} ch, pieces of {cut}"
                );
            }
        }
    }

    #[test]
    fn peaks_follow_the_tone_on_each_channel_and_stay_bounded_for_long_audio() {
        let bytes = wav_bytes(Encoding::PcmS16, 2, 8000, 8000 * 3, false);
        let layout = layout_of(&bytes);
        let mut builder = PeakBuilder::new(layout);
        for chunk in bytes[layout.data_offset as usize..].chunks(333) {
            builder.push(chunk);
        }
        let peaks = builder.finish();
        assert_eq!(peaks.peaks.len(), 2);
        assert_eq!(peaks.peaks[0].len(), 300);
        assert!(
            peaks.peaks[0]
                .iter()
                .all(|[lo, hi]| *lo < -0.3 && *hi > 0.3)
        );

        let long = AudioLayout {
            data_len: 8000 * 4 * 3600 * 10,
            ..layout
        };
        let builder = PeakBuilder::new(long);
        assert!(builder.frames_per_peak * MAX_PEAKS >= long.data_len / 4);
        let _ = synth::tone_hz(1);
    }
}
