//! The `kv-emulator` binary stops on SIGTERM by itself, as `docker stop` needs of a container's
//! PID 1 (which no default handler covers).
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn sigterm_stops_the_emulator_with_exit_code_0() {
    let mut emulator = Command::new(env!("CARGO_BIN_EXE_kv-emulator"))
        .args(["--listen", "127.0.0.1:0"])
        .env("NO_COLOR", "1")
        .stderr(Stdio::piped())
        .spawn()
        .expect("kv-emulator starts");
    let mut log = BufReader::new(emulator.stderr.take().expect("stderr"));
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        assert_ne!(
            log.read_line(&mut line).expect("log"),
            0,
            "kv-emulator exited before listening"
        );
    }

    let kill = Command::new("kill")
        .args(["-TERM", &emulator.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());

    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = emulator.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            emulator.kill().ok();
            panic!("kv-emulator ignored SIGTERM for 5 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.success(),
        "kv-emulator exited with {status} on SIGTERM"
    );
}
