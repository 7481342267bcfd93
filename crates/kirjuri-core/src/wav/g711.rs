//! ITU-T G.711 companding: µ-law and A-law code words to and from 16-bit
//! linear samples, bit-exact with the reference implementation (Sun
//! Microsystems' public-domain `g711.c`). Used by [`super::synth`] to write
//! telephony test files and by tests to check them; the validator itself
//! never decodes audio.

/// µ-law bias added before finding the segment (33 in 14-bit terms, ×4).
const MULAW_BIAS: i32 = 0x84;
/// Largest magnitude µ-law can represent before the bias is added.
const MULAW_CLIP: i32 = 32_635;
/// Upper ends of the eight A-law segments, in 13-bit magnitude.
const ALAW_SEGMENT_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Encodes a 16-bit linear sample as a µ-law code word.
pub fn linear_to_mulaw(sample: i16) -> u8 {
    let value = i32::from(sample);
    let (sign, magnitude) = if value < 0 {
        (0x80, -value)
    } else {
        (0x00, value)
    };
    let biased = magnitude.min(MULAW_CLIP) + MULAW_BIAS;
    // `biased >> 7` is 1..=255; the segment is the position of its top bit.
    let top = (biased >> 7).max(1) as u32;
    let segment = 31 - top.leading_zeros() as i32;
    let mantissa = (biased >> (segment + 3)) & 0x0F;
    !((sign | (segment << 4) | mantissa) as u8)
}

/// Decodes a µ-law code word to a 16-bit linear sample.
pub fn mulaw_to_linear(code: u8) -> i16 {
    let code = !code;
    let segment = i32::from((code >> 4) & 0x07);
    let mantissa = i32::from(code & 0x0F);
    let magnitude = (((mantissa << 3) + MULAW_BIAS) << segment) - MULAW_BIAS;
    let value = if code & 0x80 != 0 {
        -magnitude
    } else {
        magnitude
    };
    value as i16
}

/// Encodes a 16-bit linear sample as an A-law code word.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let value = i32::from(sample) >> 3;
    let (mask, magnitude) = if value >= 0 {
        (0xD5, value)
    } else {
        (0x55, -value - 1)
    };
    let segment = ALAW_SEGMENT_ENDS
        .iter()
        .position(|end| magnitude <= *end)
        .unwrap_or(ALAW_SEGMENT_ENDS.len()) as i32;
    let code = if segment >= 8 {
        0x7F
    } else {
        let shift = if segment < 2 { 1 } else { segment };
        (segment << 4) | ((magnitude >> shift) & 0x0F)
    };
    (code ^ mask) as u8
}

/// Decodes an A-law code word to a 16-bit linear sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    let code = code ^ 0x55;
    let mut magnitude = i32::from(code & 0x0F) << 4;
    let segment = i32::from((code & 0x70) >> 4);
    match segment {
        0 => magnitude += 8,
        1 => magnitude += 0x108,
        _ => magnitude = (magnitude + 0x108) << (segment - 1),
    }
    let value = if code & 0x80 != 0 {
        magnitude
    } else {
        -magnitude
    };
    value as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_full_scale_have_their_standard_mulaw_code_words() {
        assert_eq!(linear_to_mulaw(0), 0xFF);
        assert_eq!(linear_to_mulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_mulaw(i16::MIN), 0x00);
        assert_eq!(mulaw_to_linear(0xFF), 0);
        assert_eq!(mulaw_to_linear(0x80), 32_124);
        assert_eq!(mulaw_to_linear(0x00), -32_124);
    }

    #[test]
    fn silence_and_full_scale_have_their_standard_alaw_code_words() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0xAA), 32_256);
        assert_eq!(alaw_to_linear(0x2A), -32_256);
    }

    #[test]
    fn every_mulaw_code_word_survives_decoding_and_reencoding() {
        for code in 0..=u8::MAX {
            // 0x7F is µ-law's negative zero; it decodes to 0, which encodes as +0.
            let expected = if code == 0x7F { 0xFF } else { code };
            assert_eq!(
                linear_to_mulaw(mulaw_to_linear(code)),
                expected,
                "code {code:#04x}"
            );
        }
    }

    #[test]
    fn every_alaw_code_word_survives_decoding_and_reencoding() {
        for code in 0..=u8::MAX {
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "code {code:#04x}"
            );
        }
    }

    #[test]
    fn companding_keeps_every_sample_within_its_segment_step() {
        for sample in (i16::MIN..=i16::MAX).step_by(7) {
            let value = i32::from(sample);
            let mu = i32::from(mulaw_to_linear(linear_to_mulaw(sample)));
            let a = i32::from(alaw_to_linear(linear_to_alaw(sample)));
            // Both laws keep the error within one quantisation step, which is
            // about a sixteenth of the sample's magnitude.
            let tolerance = value.abs() / 16 + 16;
            assert!((mu - value).abs() <= tolerance, "µ-law {sample} -> {mu}");
            assert!((a - value).abs() <= tolerance, "A-law {sample} -> {a}");
        }
    }
}
