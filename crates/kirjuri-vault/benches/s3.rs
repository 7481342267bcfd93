//! S3 upload benchmark (placeholder until the S3 backend lands).

fn main() {}
