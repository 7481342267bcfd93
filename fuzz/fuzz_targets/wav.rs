//! Fuzz target: the streaming WAV validator (`kirjuri_core::wav`) and what
//! reads the audio it lets through (the waveform peaks, the PCM
//! transcoder). Never a panic, and the verdict does not depend on how the
//! upload was cut into pieces: the bytes fed whole and fed in pieces of a
//! size the input chooses must give the same answer.
#![no_main]

use kirjuri_core::wav::WavValidator;
use kirjuri_core::wav::decode::{PeakBuilder, Pcm16Transcoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&piece, bytes)) = data.split_first() else {
        return;
    };
    let piece = usize::from(piece).max(1);

    let mut whole = WavValidator::new();
    let whole = whole.feed(bytes).and_then(|()| whole.finish());

    let mut cut = WavValidator::new();
    let mut fed = Ok(());
    for chunk in bytes.chunks(piece) {
        fed = cut.feed(chunk);
        if fed.is_err() {
            break;
        }
    }
    let layout = cut.audio_layout();
    let cut = fed.and_then(|()| cut.finish());

    match (&whole, &cut) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the same bytes cut differently"),
        (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "the same bytes cut differently"),
        _ => panic!("whole: {whole:?}, in pieces of {piece}: {cut:?}"),
    }

    if let (Ok(_), Some(layout)) = (&whole, layout) {
        let start = usize::try_from(layout.data_offset).unwrap_or(usize::MAX);
        let audio = bytes.get(start..).unwrap_or_default();
        let audio = &audio[..audio.len().min(usize::try_from(layout.data_len).unwrap_or(usize::MAX))];
        let mut peaks = PeakBuilder::new(layout);
        let mut pcm = Pcm16Transcoder::new(layout);
        let mut out = Vec::new();
        for chunk in audio.chunks(piece) {
            peaks.push(chunk);
            pcm.push(chunk, &mut out);
        }
        let _ = peaks.finish();
    }
});
