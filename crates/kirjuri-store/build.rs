//! Rebuilds the crate when a migration changes: `sqlx::migrate!` embeds the
//! SQL files at compile time, and without this hint Cargo would not notice a
//! new or edited migration.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
