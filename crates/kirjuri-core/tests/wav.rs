//! Black-box tests of the streaming WAV validator and the synthetic WAV
//! builder (docs/requirements.md ING-3): every accepted format round-trips however the
//! bytes are split, every refusal carries its stable code and a message an
//! uploader can act on, and no input — truncated, mutated or random — makes
//! the validator panic or depend on how the upload was chunked.

use kirjuri_core::wav::synth::{self, chunk, list_info};
use kirjuri_core::wav::{Encoding, WavError, WavInfo, WavValidator, g711};
use proptest::prelude::*;

/// Offsets in a synthetic file's plain `fmt ` chunk.
const TAG_AT: usize = 20;
const BYTE_RATE_AT: usize = 28;
const ALIGN_AT: usize = 32;
const CB_SIZE_AT: usize = 36;
/// Offsets in a synthetic WAVE_FORMAT_EXTENSIBLE `fmt ` chunk.
const VALID_BITS_AT: usize = 38;
const GUID_AT: usize = 44;

/// Feeds the whole body in one piece.
fn validate(bytes: &[u8]) -> Result<WavInfo, WavError> {
    let mut validator = WavValidator::new();
    validator.feed(bytes)?;
    validator.finish()
}

/// Feeds the body in pieces whose sizes cycle through `sizes` (each ≥ 1).
fn validate_in_pieces(bytes: &[u8], sizes: &[usize]) -> Result<WavInfo, WavError> {
    let mut validator = WavValidator::new();
    let mut rest = bytes;
    let mut sizes = sizes.iter().copied().map(|size| size.max(1)).cycle();
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(1).min(rest.len());
        let (piece, tail) = rest.split_at(size);
        validator.feed(piece)?;
        rest = tail;
    }
    validator.finish()
}

/// A small deterministic generator for piece sizes (xorshift64).
struct Pieces(u64);

impl Pieces {
    fn sizes(&mut self, count: usize, max: u64) -> Vec<usize> {
        (0..count)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 % max + 1) as usize
            })
            .collect()
    }
}

/// A RIFF/WAVE file made of `chunks`, with a correct RIFF size.
fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = chunks.concat();
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&(4 + body.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVE");
    wav.extend(body);
    wav
}

/// A plain 16-byte `fmt ` body with consistent block align and byte rate.
fn fmt_body(tag: u16, channels: u16, sample_rate: u32, bits: u16) -> Vec<u8> {
    let align = channels * (bits / 8);
    let mut body = Vec::new();
    body.extend_from_slice(&tag.to_le_bytes());
    body.extend_from_slice(&channels.to_le_bytes());
    body.extend_from_slice(&sample_rate.to_le_bytes());
    body.extend_from_slice(&(sample_rate * u32::from(align)).to_le_bytes());
    body.extend_from_slice(&align.to_le_bytes());
    body.extend_from_slice(&bits.to_le_bytes());
    body
}

fn patch(bytes: &mut [u8], at: usize, with: &[u8]) {
    bytes[at..at + with.len()].copy_from_slice(with);
}

fn set_riff_size(bytes: &mut [u8], size: u32) {
    patch(bytes, 4, &size.to_le_bytes());
}

/// A mono 16-bit PCM file of 100 frames at 8 kHz: the usual base for refusals.
fn plain_pcm() -> Vec<u8> {
    synth::wav_bytes(Encoding::PcmS16, 1, 8_000, 100, false)
}

/// Asserts the body is refused with `code` and a message containing `words`.
fn assert_refused(bytes: &[u8], code: &str, words: &[&str]) {
    let result = validate(bytes);
    assert!(
        result.is_err(),
        "the body should be refused, got {result:?}"
    );
    let message = result
        .as_ref()
        .err()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert_eq!(
        result.err().map(|error| error.code()),
        Some(code),
        "message: {message}"
    );
    for word in words {
        assert!(
            message.contains(word),
            "{message:?} should mention {word:?}"
        );
    }
}

// ---------------------------------------------------------------- accepted

#[test]
fn every_accepted_encoding_in_mono_and_stereo_plain_and_extensible_round_trips_in_random_pieces() {
    let mut pieces = Pieces(0x9E37_79B9_7F4A_7C15);
    for encoding in Encoding::ALL {
        for channels in [1u16, 2] {
            for extensible in [false, true] {
                for sample_rate in [8_000u32, 44_100] {
                    let frames = sample_rate / 2 + 3;
                    let bytes =
                        synth::wav_bytes(encoding, channels, sample_rate, frames, extensible);
                    let block_align = channels * encoding.bytes_per_sample();
                    let fmt_len = match (extensible, encoding.format_tag()) {
                        (true, _) => 40,
                        (false, 1) => 16,
                        (false, _) => 18,
                    };
                    let data_len = u64::from(frames) * u64::from(block_align);
                    let expected = WavInfo {
                        encoding,
                        format_tag: encoding.format_tag(),
                        sample_rate,
                        channels,
                        bits_per_sample: encoding.bits_per_sample(),
                        block_align,
                        data_offset: 12 + 8 + fmt_len + 8,
                        data_len,
                        duration_ms: u64::from(frames) * 1000 / u64::from(sample_rate),
                    };

                    let sizes = pieces.sizes(64, 97);
                    assert_eq!(validate_in_pieces(&bytes, &sizes), Ok(expected.clone()));
                    assert_eq!(
                        validate(&bytes),
                        Ok(expected),
                        "{encoding} {channels} {extensible}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_file_fed_one_byte_at_a_time_is_accepted() {
    let bytes = synth::wav_bytes(Encoding::MuLaw, 2, 8_000, 800, true);

    let info = validate_in_pieces(&bytes, &[1]).unwrap();

    assert_eq!(info.encoding, Encoding::MuLaw);
    assert_eq!(info.format_tag, 7);
    assert_eq!(info.duration_ms, 100);
}

#[test]
fn odd_sized_extra_chunks_before_and_after_the_audio_are_skipped() {
    let mut bytes = synth::wav_bytes(Encoding::PcmS24, 2, 16_000, 1_600, false);
    synth::insert_chunk_before_data(&mut bytes, &list_info(&[(*b"INAM", "Call 12")]));
    synth::insert_chunk_before_data(&mut bytes, &chunk(*b"JUNK", &[0; 3]));
    synth::insert_chunk_before_data(&mut bytes, &chunk(*b"fact", &1_600u32.to_le_bytes()));
    synth::insert_chunk_before_data(&mut bytes, &chunk(*b"bext", b"odd-sized"));
    synth::insert_chunk_before_data(&mut bytes, &chunk(*b"cue ", &[]));
    synth::append_chunk(&mut bytes, &list_info(&[(*b"ICMT", "after the audio")]));
    synth::append_chunk(&mut bytes, &chunk(*b"id3 ", &[7; 5]));
    let data_at = synth::find_chunk(&bytes, *b"data").unwrap();

    let info = validate_in_pieces(&bytes, &[3, 1, 7, 2]).unwrap();

    assert_eq!(info.data_offset, data_at as u64 + 8);
    assert_eq!(info.data_len, 1_600 * 6);
    assert_eq!(info.duration_ms, 100);
}

#[test]
fn odd_length_audio_with_its_pad_byte_is_accepted_and_the_next_chunk_follows_the_pad() {
    let mut bytes = synth::wav_bytes(Encoding::PcmU8, 1, 8_000, 8_001, false);
    assert_eq!(bytes.len() % 2, 0, "the pad byte is present");
    synth::append_chunk(&mut bytes, &list_info(&[(*b"INAM", "x")]));

    let info = validate(&bytes).unwrap();

    assert_eq!(info.data_len, 8_001);
    assert_eq!(info.duration_ms, 1_000);
}

#[test]
fn a_last_pad_byte_left_out_of_the_riff_size_may_follow_or_be_missing() {
    let mut bytes = synth::wav_bytes(Encoding::ALaw, 1, 8_000, 81, false);
    let riff_size = (bytes.len() - 8 - 1) as u32;
    set_riff_size(&mut bytes, riff_size);

    assert_eq!(validate(&bytes).unwrap().data_len, 81);
    assert_eq!(validate(&bytes[..bytes.len() - 1]).unwrap().data_len, 81);
}

#[test]
fn a_recording_of_nearly_four_gibibytes_is_validated_in_constant_memory() {
    let data_len = 4_000_000_000u64;
    let header = synth::header(Encoding::Float64, 2, 48_000, data_len, false);
    let zeros = vec![0u8; 1 << 20];
    let mut validator = WavValidator::new();

    validator.feed(&header).unwrap();
    let mut left = data_len;
    while left > 0 {
        let take = left.min(zeros.len() as u64) as usize;
        validator.feed(&zeros[..take]).unwrap();
        left -= take as u64;
    }
    let info = validator.finish().unwrap();

    assert_eq!(info.data_len, data_len);
    assert_eq!(info.duration_ms, 5_208_333); // 250 000 000 frames at 48 kHz
    assert!(std::mem::size_of::<WavValidator>() <= 256);
}

// ---------------------------------------------------------------- refused: container

#[test]
fn an_empty_body_is_refused_as_empty() {
    assert_refused(&[], "wav_empty", &["empty"]);
}

#[test]
fn a_text_file_is_refused_as_not_riff_without_quoting_it() {
    let error = validate(b"Matti Meikalainen, 040 123 4567").unwrap_err();

    assert_eq!(error.code(), "wav_not_riff");
    assert!(error.to_string().contains("does not start with RIFF"));
    assert!(!error.to_string().contains("Matti"));
}

#[test]
fn a_body_shorter_than_four_bytes_that_is_not_riff_is_refused_as_not_riff() {
    assert_refused(b"ab", "wav_not_riff", &["does not start with RIFF"]);
}

#[test]
fn other_audio_formats_are_refused_as_not_riff_and_named() {
    assert_refused(
        b"ID3\x04\0\0\0\0\0\0",
        "wav_not_riff",
        &["does not start with RIFF", "MP3"],
    );
    assert_refused(b"OggS\0\x02", "wav_not_riff", &["Ogg"]);
    assert_refused(b"fLaC\0\0\0\x22", "wav_not_riff", &["FLAC"]);
}

#[test]
fn rifx_and_rf64_files_are_refused_as_unsupported_by_name() {
    let mut rifx = plain_pcm();
    patch(&mut rifx, 0, b"RIFX");
    let mut rf64 = plain_pcm();
    patch(&mut rf64, 0, b"RF64");

    assert_refused(&rifx, "wav_not_riff", &["RIFX", "not supported"]);
    assert_refused(&rf64, "wav_not_riff", &["RF64", "not supported"]);
}

#[test]
fn a_riff_file_that_is_not_wave_is_refused_naming_its_form_type() {
    let mut avi = plain_pcm();
    patch(&mut avi, 8, b"AVI ");

    assert_refused(&avi, "wav_not_wave", &["not WAVE", "'AVI '"]);
}

#[test]
fn placeholder_riff_sizes_from_an_unfinished_recorder_are_refused() {
    for placeholder in [0u32, u32::MAX] {
        let mut bytes = plain_pcm();
        set_riff_size(&mut bytes, placeholder);

        assert_refused(&bytes, "wav_unfinalised", &["placeholder", "finalise"]);
    }
}

#[test]
fn a_placeholder_data_size_is_refused() {
    let mut bytes = plain_pcm();
    patch(&mut bytes, 40, &u32::MAX.to_le_bytes());

    assert_refused(&bytes, "wav_unfinalised", &["data chunk size"]);
}

#[test]
fn a_riff_size_too_small_for_the_form_type_is_refused() {
    let mut bytes = plain_pcm();
    set_riff_size(&mut bytes, 2);

    assert_refused(&bytes, "wav_bad_riff_size", &["too small"]);
}

// ---------------------------------------------------------------- refused: codec and format

#[test]
fn an_mp3_in_a_wav_wrapper_is_refused_naming_the_codec_and_its_tag() {
    let mut bytes = plain_pcm();
    patch(&mut bytes, TAG_AT, &0x0055u16.to_le_bytes());

    assert_refused(
        &bytes,
        "wav_unsupported_codec",
        &["unsupported codec: MPEG Layer III (format tag 0x0055)"],
    );
}

#[test]
fn common_telephony_codecs_are_refused_by_name() {
    for (tag, name) in [
        (0x0002u16, "Microsoft ADPCM"),
        (0x0011, "IMA ADPCM"),
        (0x0031, "GSM 6.10"),
        (0x0065, "G.722"),
        (0x0083, "G.729"),
        (0xF1AC, "FLAC"),
    ] {
        let mut bytes = plain_pcm();
        patch(&mut bytes, TAG_AT, &tag.to_le_bytes());

        assert_refused(
            &bytes,
            "wav_unsupported_codec",
            &[name, &format!("0x{tag:04X}")],
        );
    }
}

#[test]
fn an_unknown_format_tag_is_refused_as_an_unknown_codec() {
    let mut bytes = plain_pcm();
    patch(&mut bytes, TAG_AT, &0x1234u16.to_le_bytes());

    assert_refused(
        &bytes,
        "wav_unsupported_codec",
        &["unknown codec (format tag 0x1234)"],
    );
}

#[test]
fn an_unsupported_codec_is_refused_as_soon_as_its_tag_arrives() {
    let mut bytes = plain_pcm();
    patch(&mut bytes, TAG_AT, &0x0055u16.to_le_bytes());
    let mut validator = WavValidator::new();

    let result = validator.feed(&bytes[..TAG_AT + 2]);

    assert_eq!(result.unwrap_err().code(), "wav_unsupported_codec");
}

#[test]
fn an_extensible_file_with_an_mp3_sub_format_is_refused_naming_the_codec() {
    let mut bytes = synth::wav_bytes(Encoding::PcmS16, 2, 8_000, 10, true);
    patch(&mut bytes, GUID_AT, &0x0055u16.to_le_bytes());

    assert_refused(
        &bytes,
        "wav_unsupported_codec",
        &["MPEG Layer III", "sub-format 0x0055"],
    );
}

#[test]
fn an_extensible_file_with_a_foreign_sub_format_guid_is_refused() {
    let mut bytes = synth::wav_bytes(Encoding::PcmS16, 2, 8_000, 10, true);
    patch(&mut bytes, GUID_AT + 15, &[0x00]);

    assert_refused(
        &bytes,
        "wav_unsupported_codec",
        &["unknown WAVE_FORMAT_EXTENSIBLE sub-format 00000001-0000-0010-8000-00aa00389b00"],
    );
}

#[test]
fn bit_depths_a_codec_does_not_come_in_are_refused() {
    for (tag, bits, words) in [
        (7u16, 16u16, ["µ-law", "8 bits"]),
        (6, 16, ["A-law", "8 bits"]),
        (1, 12, ["PCM", "12"]),
        (1, 20, ["PCM", "8, 16, 24 or 32"]),
        (3, 16, ["IEEE float", "32 or 64"]),
    ] {
        let bytes = riff(&[
            chunk(*b"fmt ", &fmt_body(tag, 1, 8_000, bits)),
            chunk(*b"data", &[0; 16]),
        ]);

        assert_refused(&bytes, "wav_unsupported_bits", &words);
    }
}

#[test]
fn a_file_with_zero_channels_is_refused() {
    let bytes = synth::wav_bytes(Encoding::PcmS16, 0, 8_000, 10, false);

    assert_refused(&bytes, "wav_no_channels", &["zero"]);
}

#[test]
fn a_file_with_more_than_two_channels_is_refused_saying_mono_or_stereo_only() {
    let bytes = synth::wav_bytes(Encoding::PcmS16, 3, 8_000, 10, false);

    assert_refused(
        &bytes,
        "wav_too_many_channels",
        &["3 channels", "mono or stereo"],
    );
}

#[test]
fn a_zero_or_absurd_sample_rate_is_refused() {
    assert_refused(
        &synth::wav_bytes(Encoding::PcmS16, 1, 0, 10, false),
        "wav_bad_sample_rate",
        &["zero"],
    );
    assert_refused(
        &synth::wav_bytes(Encoding::PcmS16, 1, 500_000, 10, false),
        "wav_bad_sample_rate",
        &["500000 Hz", "384000"],
    );
}

#[test]
fn a_block_align_or_byte_rate_that_disagrees_with_the_format_is_refused() {
    let mut align = synth::wav_bytes(Encoding::PcmS16, 2, 8_000, 10, false);
    patch(&mut align, ALIGN_AT, &2u16.to_le_bytes());
    let mut rate = synth::wav_bytes(Encoding::PcmS16, 2, 8_000, 10, false);
    patch(&mut rate, BYTE_RATE_AT, &16_000u32.to_le_bytes());

    assert_refused(&align, "wav_bad_block_align", &["2 bytes", "4 bytes"]);
    assert_refused(&rate, "wav_bad_byte_rate", &["16000", "32000"]);
}

#[test]
fn a_fmt_chunk_of_an_unsupported_length_is_refused() {
    let mut body = fmt_body(1, 1, 8_000, 16);
    body.extend_from_slice(&[0; 4]);
    let bytes = riff(&[chunk(*b"fmt ", &body), chunk(*b"data", &[0; 16])]);

    assert_refused(&bytes, "wav_bad_fmt", &["20 bytes", "16, 18 or 40"]);
}

#[test]
fn an_extensible_fmt_chunk_must_be_forty_bytes_and_a_forty_byte_one_must_be_extensible() {
    let mut short = fmt_body(0xFFFE, 1, 8_000, 16);
    short.extend_from_slice(&0u16.to_le_bytes());
    let mut long = synth::wav_bytes(Encoding::PcmS16, 1, 8_000, 10, true);
    patch(&mut long, TAG_AT, &1u16.to_le_bytes());

    assert_refused(
        &riff(&[chunk(*b"fmt ", &short), chunk(*b"data", &[0; 2])]),
        "wav_bad_fmt",
        &["18 bytes", "WAVE_FORMAT_EXTENSIBLE"],
    );
    assert_refused(&long, "wav_bad_fmt", &["40 bytes"]);
}

#[test]
fn a_fmt_extension_size_that_disagrees_with_the_chunk_length_is_refused() {
    let mut bytes = synth::wav_bytes(Encoding::Float32, 1, 8_000, 10, false);
    patch(&mut bytes, CB_SIZE_AT, &22u16.to_le_bytes());

    assert_refused(&bytes, "wav_bad_fmt", &["cbSize", "22"]);
}

#[test]
fn more_valid_bits_than_stored_bits_are_refused() {
    let mut bytes = synth::wav_bytes(Encoding::PcmS16, 1, 8_000, 10, true);
    patch(&mut bytes, VALID_BITS_AT, &24u16.to_le_bytes());

    assert_refused(&bytes, "wav_bad_fmt", &["24", "16"]);
}

#[test]
fn fewer_valid_bits_than_stored_bits_are_accepted() {
    let mut bytes = synth::wav_bytes(Encoding::PcmS24, 2, 48_000, 48, true);
    patch(&mut bytes, VALID_BITS_AT, &20u16.to_le_bytes());

    let info = validate(&bytes).unwrap();

    assert_eq!(info.encoding, Encoding::PcmS24);
    assert_eq!(info.bits_per_sample, 24);
}

// ---------------------------------------------------------------- refused: chunk structure

#[test]
fn a_data_chunk_before_the_fmt_chunk_is_refused() {
    let bytes = riff(&[
        chunk(*b"data", &[0; 16]),
        chunk(*b"fmt ", &fmt_body(1, 1, 8_000, 16)),
    ]);

    assert_refused(&bytes, "wav_data_before_fmt", &["before the fmt chunk"]);
}

#[test]
fn a_file_without_a_fmt_chunk_is_refused() {
    let bytes = riff(&[list_info(&[(*b"INAM", "no format")])]);

    assert_refused(&bytes, "wav_missing_fmt", &["no fmt chunk"]);
}

#[test]
fn a_file_without_a_data_chunk_is_refused() {
    let bytes = riff(&[
        chunk(*b"fmt ", &fmt_body(1, 1, 8_000, 16)),
        list_info(&[(*b"INAM", "x")]),
    ]);

    assert_refused(&bytes, "wav_missing_data", &["no data chunk"]);
}

#[test]
fn an_empty_data_chunk_is_refused() {
    let bytes = riff(&[
        chunk(*b"fmt ", &fmt_body(1, 1, 8_000, 16)),
        chunk(*b"data", &[]),
    ]);

    assert_refused(&bytes, "wav_empty_data", &["data chunk is empty"]);
}

#[test]
fn a_second_fmt_or_data_chunk_is_refused() {
    let mut two_fmt = plain_pcm();
    synth::insert_chunk_before_data(&mut two_fmt, &chunk(*b"fmt ", &fmt_body(1, 1, 8_000, 16)));
    let mut two_data = plain_pcm();
    synth::append_chunk(&mut two_data, &chunk(*b"data", &[0; 2]));

    assert_refused(
        &two_fmt,
        "wav_duplicate_chunk",
        &["more than one 'fmt ' chunk"],
    );
    assert_refused(
        &two_data,
        "wav_duplicate_chunk",
        &["more than one 'data' chunk"],
    );
}

#[test]
fn audio_that_is_not_a_whole_number_of_frames_is_refused() {
    let mut bytes = synth::header(Encoding::PcmS16, 2, 8_000, 6, false);
    bytes.extend_from_slice(&[0; 6]);

    assert_refused(
        &bytes,
        "wav_partial_frame",
        &["6 bytes", "4-byte sample frames"],
    );
}

#[test]
fn a_riff_size_smaller_than_the_audio_is_refused_as_a_chunk_exceeding_it() {
    let mut bytes = plain_pcm();
    let riff_size = (bytes.len() - 8 - 100) as u32;
    set_riff_size(&mut bytes, riff_size);

    assert_refused(
        &bytes,
        "wav_chunk_exceeds_riff",
        &["chunk size exceeds the RIFF size", "'data'"],
    );
}

#[test]
fn an_extra_chunk_whose_size_lies_is_refused_as_exceeding_the_riff_size() {
    let mut bytes = plain_pcm();
    synth::append_chunk(&mut bytes, &chunk(*b"LIST", &[0; 10]));
    let list_at = synth::find_chunk(&bytes, *b"LIST").unwrap();
    patch(&mut bytes, list_at + 4, &1_000u32.to_le_bytes());

    assert_refused(&bytes, "wav_chunk_exceeds_riff", &["'LIST'"]);
}

#[test]
fn a_riff_size_larger_than_the_body_is_refused_as_truncated_with_both_lengths() {
    let mut bytes = plain_pcm();
    let actual = bytes.len();
    set_riff_size(&mut bytes, (actual - 8 + 100) as u32);

    assert_refused(
        &bytes,
        "wav_truncated",
        &[&format!(
            "expected {} bytes but received {actual}",
            actual + 100
        )],
    );
}

#[test]
fn a_body_cut_inside_the_audio_is_refused_as_truncated_inside_the_data_chunk() {
    let bytes = plain_pcm();
    let cut = bytes.len() - 50;

    assert_refused(
        &bytes[..cut],
        "wav_truncated",
        &[
            &format!("expected {} bytes but received {cut}", bytes.len()),
            "data chunk",
        ],
    );
}

#[test]
fn a_body_cut_inside_the_header_is_refused_as_truncated_inside_it() {
    assert_refused(
        &plain_pcm()[..7],
        "wav_truncated",
        &["at least 12 bytes", "RIFF header"],
    );
    assert_refused(&plain_pcm()[..27], "wav_truncated", &["fmt chunk"]);
    assert_refused(
        &plain_pcm()[..39],
        "wav_truncated",
        &["inside a chunk header"],
    );
    assert_refused(
        &plain_pcm()[..36],
        "wav_truncated",
        &["right after a complete chunk"],
    );
}

#[test]
fn more_than_one_byte_after_the_riff_end_is_refused() {
    let mut one = plain_pcm();
    one.push(0);
    let mut two = plain_pcm();
    two.extend_from_slice(&[0, 0]);

    assert!(validate(&one).is_ok());
    assert_refused(&two, "wav_trailing_bytes", &["past the end"]);
}

#[test]
fn a_riff_size_leaving_too_few_bytes_for_a_chunk_is_refused() {
    let mut bytes = plain_pcm();
    synth::append_chunk(&mut bytes, &[1, 2, 3]);

    assert_refused(&bytes, "wav_bad_riff_size", &["3 bytes"]);
}

#[test]
fn after_a_refusal_every_later_call_repeats_it() {
    let mut validator = WavValidator::new();
    let first = validator.feed(b"OggS").unwrap_err();

    assert_eq!(validator.feed(&plain_pcm()), Err(first.clone()));
    assert_eq!(validator.finish(), Err(first));
}

#[test]
fn a_cut_at_every_byte_of_a_small_file_is_refused_as_truncated() {
    let mut bytes = synth::wav_bytes(Encoding::PcmS16, 2, 8_000, 5, true);
    synth::insert_chunk_before_data(&mut bytes, &list_info(&[(*b"INAM", "abc")]));
    synth::append_chunk(&mut bytes, &chunk(*b"JUNK", &[0; 3]));
    assert!(validate(&bytes).is_ok());

    for cut in 0..bytes.len() {
        let whole = validate(&bytes[..cut]);
        let bytewise = validate_in_pieces(&bytes[..cut], &[1]);

        let expected = if cut == 0 {
            "wav_empty"
        } else {
            "wav_truncated"
        };
        assert_eq!(
            whole.as_ref().map_err(WavError::code),
            Err(expected),
            "cut at {cut}"
        );
        assert_eq!(bytewise, whole, "cut at {cut}");
    }
}

// ---------------------------------------------------------------- the synthetic signal

/// Decodes channel `channel` of a synthetic file to samples in [-1, 1].
fn decode_channel(bytes: &[u8], info: &WavInfo, channel: usize) -> Vec<f64> {
    let start = info.data_offset as usize;
    let audio = &bytes[start..start + info.data_len as usize];
    let width = usize::from(info.bits_per_sample / 8);
    audio
        .chunks_exact(usize::from(info.block_align))
        .map(|frame| {
            let s = &frame[channel * width..(channel + 1) * width];
            match info.encoding {
                Encoding::PcmU8 => (f64::from(s[0]) - 128.0) / 128.0,
                Encoding::PcmS16 => f64::from(i16::from_le_bytes([s[0], s[1]])) / 32_768.0,
                Encoding::PcmS24 => {
                    f64::from(i32::from_le_bytes([0, s[0], s[1], s[2]])) / 2_147_483_648.0
                }
                Encoding::PcmS32 => {
                    f64::from(i32::from_le_bytes([s[0], s[1], s[2], s[3]])) / 2_147_483_648.0
                }
                Encoding::Float32 => f64::from(f32::from_le_bytes([s[0], s[1], s[2], s[3]])),
                Encoding::Float64 => {
                    f64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
                }
                Encoding::MuLaw => f64::from(g711::mulaw_to_linear(s[0])) / 32_768.0,
                Encoding::ALaw => f64::from(g711::alaw_to_linear(s[0])) / 32_768.0,
            }
        })
        .collect()
}

#[test]
fn the_synthetic_tone_is_440_hz_for_the_agent_and_660_hz_for_the_customer_in_every_encoding() {
    for encoding in Encoding::ALL {
        let bytes = synth::wav_bytes(encoding, 2, 8_000, 8_000, false);
        let info = validate(&bytes).unwrap();

        for (channel, hz) in [(0usize, 440.0), (1, 660.0)] {
            let samples = decode_channel(&bytes, &info, channel);
            let rising = samples
                .windows(2)
                .filter(|w| w[0] < 0.0 && w[1] >= 0.0)
                .count() as f64;
            let peak = samples.iter().fold(0.0f64, |m, s| m.max(s.abs()));

            assert!(
                (rising - hz).abs() <= 2.0,
                "{encoding} channel {channel}: {rising} cycles"
            );
            assert!(
                (peak - synth::AMPLITUDE).abs() < 0.05,
                "{encoding} channel {channel}: peak {peak}"
            );
        }
    }
}

#[test]
fn a_header_followed_by_audio_pieces_equals_the_whole_synthetic_file() {
    let whole = synth::wav_bytes(Encoding::PcmU8, 1, 8_000, 1_001, false);
    let mut streamed = synth::header(Encoding::PcmU8, 1, 8_000, 1_001, false);
    streamed.extend(synth::audio(Encoding::PcmU8, 1, 8_000, 0, 500));
    streamed.extend(synth::audio(Encoding::PcmU8, 1, 8_000, 500, 501));
    streamed.push(0);

    assert_eq!(streamed, whole);
}

// ---------------------------------------------------------------- properties

/// Small valid files with extra chunks, so that mutations often land in a header.
fn valid_file() -> impl Strategy<Value = Vec<u8>> {
    (
        0..Encoding::ALL.len(),
        1u16..=2,
        any::<bool>(),
        1u32..40,
        any::<bool>(),
    )
        .prop_map(|(encoding, channels, extensible, frames, extra)| {
            let mut bytes =
                synth::wav_bytes(Encoding::ALL[encoding], channels, 8_000, frames, extensible);
            if extra {
                synth::insert_chunk_before_data(&mut bytes, &list_info(&[(*b"INAM", "odd")]));
                synth::append_chunk(&mut bytes, &chunk(*b"JUNK", &[0; 5]));
            }
            bytes
        })
}

/// One edit of a file's bytes.
#[derive(Debug, Clone)]
enum Mutation {
    Overwrite { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    // Half of the edits aim at the first 80 bytes, where the headers are.
    let at = prop_oneof![0usize..80, any::<usize>()];
    prop_oneof![
        4 => (at.clone(), any::<u8>()).prop_map(|(at, byte)| Mutation::Overwrite { at, byte }),
        1 => at.clone().prop_map(|at| Mutation::Truncate { at }),
        1 => (at.clone(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        1 => (at, 1usize..12).prop_map(|(at, len)| Mutation::Remove { at, len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, mutation: &Mutation) {
    let len = bytes.len().max(1);
    match mutation {
        Mutation::Overwrite { at, byte } => {
            let at = at % len;
            if let Some(b) = bytes.get_mut(at) {
                *b = *byte;
            }
        }
        Mutation::Truncate { at } => bytes.truncate(at % len),
        Mutation::Insert { at, bytes: new } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::Remove { at, len: n } => {
            let at = at % len;
            let end = (at + n).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic_and_give_the_same_answer_however_they_are_split(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        prop_assert_eq!(validate_in_pieces(&bytes, &sizes), validate(&bytes));
    }

    #[test]
    fn arbitrary_bytes_behind_a_riff_wave_header_never_panic_and_split_consistently(
        size in any::<u32>(),
        tail in prop::collection::vec(any::<u8>(), 0..256),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let mut bytes = b"RIFF".to_vec();
        bytes.extend_from_slice(&size.to_le_bytes());
        bytes.extend_from_slice(b"WAVE");
        bytes.extend(tail);
        prop_assert_eq!(validate_in_pieces(&bytes, &sizes), validate(&bytes));
    }

    #[test]
    fn mutated_valid_files_never_panic_and_give_the_same_answer_however_they_are_split(
        original in valid_file(),
        mutations in prop::collection::vec(mutation(), 1..4),
        sizes in prop::collection::vec(1usize..40, 1..8),
    ) {
        let mut bytes = original;
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let whole = validate(&bytes);
        prop_assert_eq!(validate_in_pieces(&bytes, &sizes), whole.clone());
        if let Ok(info) = whole {
            // Whatever was accepted is self-consistent.
            prop_assert!(info.data_len > 0);
            prop_assert_eq!(info.data_len % u64::from(info.block_align), 0);
            prop_assert!(info.data_offset + info.data_len <= bytes.len() as u64);
        }
    }

    #[test]
    fn valid_files_are_accepted_identically_in_any_pieces(
        bytes in valid_file(),
        sizes in prop::collection::vec(1usize..64, 1..8),
    ) {
        let whole = validate(&bytes);
        prop_assert!(whole.is_ok());
        prop_assert_eq!(validate_in_pieces(&bytes, &sizes), whole);
    }
}
