//! Normalisation of personal names for exact-match lookup through the blind
//! index: the same name typed differently must hash the same.

/// Normal form of a name: Unicode NFC, lower case, inner whitespace collapsed
/// to one space, trimmed.
pub fn normalise_name(input: &str) -> String {
    input.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}
