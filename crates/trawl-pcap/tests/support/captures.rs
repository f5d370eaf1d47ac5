//! The edge-case captures `tests/gen/synthetic.py` (scapy) writes, generated once per
//! test binary into a temporary directory. Shared by `synthetic.rs` and `fuzz.rs`
//! (included with `#[path]`, next to `tshark.rs`).

use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use crate::tshark::require_tool;

/// The directory holding the generated captures.
pub fn captures() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        require_tool("python3");
        let dir = tempfile::tempdir().expect("tempdir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/gen/synthetic.py");
        let output = Command::new("python3")
            .arg(&script)
            .arg(dir.path())
            .output()
            .expect("python3 runs");
        assert!(
            output.status.success(),
            "synthetic.py failed (is scapy installed? see scripts/deps/pcap.pip): {}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
    .path()
}
