//! The systemd unit in `dist/kirjuri.service` (issue 17 §4), checked the
//! way an operator's systemd would read it: `systemd-analyze verify` finds
//! no error (with `ExecStart` pointed at the binary just built, since the
//! installed path does not exist here), and `systemd-analyze security`
//! rates its exposure at most 2.0 ("OK") and confirms each hardening
//! option the unit promises. `scripts/test` installs systemd's tools.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test reports failures by panicking"
)]

use std::path::Path;
use std::process::Command;

use kirjuri_testkit::server::{MALLOC_ARENAS, SHIPPED_MALLOC_ARENAS};

/// The shipped unit's text, `dist/kirjuri.service`.
fn unit_text() -> String {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dist/kirjuri.service");
    std::fs::read_to_string(&source).expect("dist/kirjuri.service")
}

/// The unit with `ExecStart` pointed at the binary under test, in a temp dir.
fn unit_here() -> (tempfile::TempDir, std::path::PathBuf) {
    let text = unit_text();
    assert!(text.contains("ExecStart=/usr/local/bin/kirjuri serve"));
    let text = text.replace("/usr/local/bin/kirjuri", env!("CARGO_BIN_EXE_kirjuri"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kirjuri.service");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

#[test]
fn the_unit_sets_the_malloc_arenas_the_benchmarks_measure_with() {
    // Arrange
    let text = unit_text();

    // Act
    let set = format!("Environment={MALLOC_ARENAS}={SHIPPED_MALLOC_ARENAS}");

    // Assert: the benchmarks' memory figures are the unit's.
    assert!(
        text.lines().any(|line| line.trim() == set),
        "dist/kirjuri.service has no {set:?}"
    );
}

fn systemd_analyze(args: &[&str]) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze (Debian's systemd; scripts/test installs it)")
}

#[test]
fn the_unit_verifies_and_its_exposure_is_ok() {
    // Arrange
    let (_dir, unit) = unit_here();
    let unit = unit.to_str().unwrap();

    // Act
    let verify = systemd_analyze(&["verify", unit]);
    let security = systemd_analyze(&["security", "--offline=true", "--no-pager", unit]);

    // Assert
    let said = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && said.trim().is_empty(),
        "verify: {said}"
    );
    let report = String::from_utf8_lossy(&security.stdout);
    let level: f64 = report
        .lines()
        .find_map(|l| l.split("exposure level for kirjuri.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {report}"));
    assert!(level <= 2.0, "exposure {level} > 2.0: {report}");
    for promised in [
        "ProtectSystem=",
        "NoNewPrivileges=",
        "PrivateDevices=",
        "ProtectHome=",
        "RestrictSUIDSGID=",
        "MemoryDenyWriteExecute=",
    ] {
        let line = report
            .lines()
            .find(|l| l.contains(promised))
            .unwrap_or_else(|| panic!("{promised} not rated: {report}"));
        assert!(line.trim_start().starts_with('✓'), "{line}");
    }
}
