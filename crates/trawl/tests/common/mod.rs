//! Helpers shared by the end-to-end test files (each `tests/*.rs` is its own crate
//! and includes this module with `mod common;`).

pub mod sensor;

use std::net::TcpListener;
use std::sync::Mutex;

/// A loopback TCP port no other test in this process has been given. The kernel's
/// ephemeral pick alone can hand the same port out twice once the probe socket is
/// closed (two protocols of one sensor then collide), so handed-out ports are
/// remembered for the life of the test process.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("no free loopback port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The "N login tries" count THC-Hydra prints; panics with its output when missing.
#[allow(dead_code)] // not every test binary runs hydra
pub fn hydra_tries(output: &str) -> usize {
    let marker = output
        .find(" login tr")
        .unwrap_or_else(|| panic!("no login tries count in hydra output:\n{output}"));
    let digits: String = output[..marker]
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .chars()
        .rev()
        .collect::<String>()
        .parse()
        .expect("hydra tries")
}
