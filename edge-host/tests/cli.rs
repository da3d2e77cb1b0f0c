//! The `edge-host` binary as a child process: command line and start-up errors.
//! (Serving a real component is covered by the e2e tests, which build edge-fn.)

use std::path::Path;
use std::process::{Command, Output};

fn edge_host(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_edge-host"))
        .args(args)
        .env_remove("EDGE_HOST_CONFIG")
        .env_remove("EDGE_HOST_LISTEN")
        .output()
        .expect("edge-host runs")
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("edge.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_names_the_config_flag() {
    let output = edge_host(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--config <FILE>"), "{help}");
    assert!(help.contains("EDGE_HOST_LISTEN"), "{help}");
}

#[test]
fn unknown_config_key_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "component = \"x.wasm\"\nkv_dir = \"kv\"\nprefil_interval_secs = 3\n",
    );
    let output = edge_host(&["--config", &config]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("prefil_interval_secs"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn missing_component_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "component = \"nope.wasm\"\nkv_dir = \"kv\"\n");
    let output = edge_host(&["--config", &config]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("nope.wasm"), "{}", stderr(&output));
}

#[test]
fn bad_listen_from_env_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.wasm"), b"").unwrap();
    let config = write_config(dir.path(), "component = \"c.wasm\"\nkv_dir = \"kv\"\n");
    let output = Command::new(env!("CARGO_BIN_EXE_edge-host"))
        .args(["--config", &config])
        .env("EDGE_HOST_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("not-an-address"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_file_that_is_not_a_component_fails_before_listening() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("c.wasm"), b"not wasm at all").unwrap();
    let config = write_config(
        dir.path(),
        "listen = \"127.0.0.1:0\"\ncomponent = \"c.wasm\"\nkv_dir = \"kv\"\n",
    );
    let output = edge_host(&["--config", &config]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("loading component"),
        "{}",
        stderr(&output)
    );
    // No `listening on` line: callers waiting for it see the process end instead.
    assert!(output.stdout.is_empty());
}
