//! Benchmark of the purge (RET-3). (Being written.)

fn main() {}
