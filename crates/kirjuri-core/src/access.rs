//! The access decision (DESIGN.md ACC-3). Filled in below.
