use super::*;

const GOOD: &str = r#"
listen = "127.0.0.1:0"
component = "edge_fn.wasm"
kv_dir = "kv"
allowed_outbound_hosts = ["http://127.0.0.1:1234", "http://127.0.0.1:*"]
prefill_interval_secs = 30

[variables]
edge_id = "edge-eu-1"
main_url = "http://127.0.0.1:8080"
"#;

/// A directory holding an (empty) component file, for `validate`.
fn base() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("edge_fn.wasm"), b"").unwrap();
    dir
}

fn validate(text: &str, base: &Path) -> Result<Settings, ConfigError> {
    Config::parse(text, base).unwrap().validate()
}

#[test]
fn good_config_validates() {
    let dir = base();
    let settings = validate(GOOD, dir.path()).unwrap();
    assert_eq!(settings.listen, "127.0.0.1:0".parse().unwrap());
    assert_eq!(settings.component, dir.path().join("edge_fn.wasm"));
    assert_eq!(settings.kv_dir, dir.path().join("kv"));
    assert_eq!(settings.prefill_interval, Some(Duration::from_secs(30)));
    assert_eq!(settings.variables.get("edge_id").unwrap(), "edge-eu-1");
    assert!(
        settings
            .allowed_outbound_hosts
            .allows(&"http://127.0.0.1:9/".parse().unwrap())
    );
}

#[test]
fn defaults_and_absolute_paths() {
    let dir = base();
    let wasm = dir.path().join("edge_fn.wasm");
    let text = format!("component = {:?}\nkv_dir = \"/tmp/x\"\n", wasm.display());
    let settings = validate(&text, Path::new("/elsewhere")).unwrap();
    assert_eq!(settings.component, wasm);
    assert_eq!(settings.kv_dir, Path::new("/tmp/x"));
    assert_eq!(settings.listen, "127.0.0.1:3000".parse().unwrap());
    assert_eq!(settings.prefill_interval, None);
    assert_eq!(
        settings.allowed_outbound_hosts,
        AllowedOutboundHosts::default()
    );
    assert_eq!(settings.client_limits, ClientLimits::default());
    assert_eq!(settings.client_limits.body_chunk_bytes(), 256 << 10);
    assert_eq!(settings.scrub_bytes_per_sec, 16 << 20);
    assert_eq!(settings.verify_cached_chunks, crate::VerifyChunks::Once);
}

#[test]
fn client_limits_are_checked() {
    let dir = base();
    // Top-level keys go before the `[variables]` table.
    let with = |line: &str| {
        validate(
            &GOOD.replace("[variables]", &format!("{line}\n[variables]")),
            dir.path(),
        )
    };
    let settings = with("client_stall_timeout_secs = 2").unwrap();
    assert_eq!(settings.client_limits.stall_timeout, Duration::from_secs(2));
    for (line, name) in [
        ("max_connections = 0", "max_connections"),
        ("client_stall_timeout_secs = 0", "client_stall_timeout_secs"),
        ("response_buffer_bytes = 1000", "response_buffer_bytes"),
    ] {
        let err = with(line).unwrap_err().to_string();
        assert!(err.contains(name), "{line}: {err}");
    }
}

#[test]
fn unknown_keys_are_rejected() {
    let err = Config::parse(&format!("{GOOD}\n[extra]\nx = 1\n"), Path::new("")).unwrap_err();
    assert!(err.to_string().contains("extra"), "{err}");
    let err = Config::parse(
        "component = \"a\"\nkv_dir = \"b\"\nlisten_addr = \"x\"\n",
        Path::new(""),
    )
    .unwrap_err();
    assert!(err.to_string().contains("listen_addr"), "{err}");
}

#[test]
fn missing_required_keys_are_rejected() {
    let err = Config::parse("kv_dir = \"b\"\n", Path::new("")).unwrap_err();
    assert!(err.to_string().contains("component"), "{err}");
}

#[test]
fn env_overrides_listen() {
    let dir = base();
    let mut config = Config::parse(GOOD, dir.path()).unwrap();
    config.apply_env(|name| (name == LISTEN_ENV).then(|| "0.0.0.0:8443".to_owned()));
    assert_eq!(
        config.validate().unwrap().listen,
        "0.0.0.0:8443".parse().unwrap()
    );
}

#[test]
fn bad_values_name_the_problem() {
    let dir = base();
    let cases = [
        (GOOD.replace("127.0.0.1:0\"", "localhost\""), "listen"),
        (GOOD.replace("edge_fn.wasm", "missing.wasm"), "missing.wasm"),
        (
            GOOD.replace("http://127.0.0.1:*", "127.0.0.1:*"),
            "127.0.0.1:*",
        ),
        (GOOD.replace("edge_id =", "Edge-Id ="), "Edge-Id"),
    ];
    for (text, needle) in cases {
        let err = validate(&text, dir.path()).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} should mention {needle:?}");
    }
    std::fs::write(dir.path().join("kv"), b"a file").unwrap();
    let err = validate(GOOD, dir.path()).unwrap_err();
    assert!(matches!(err, ConfigError::KvDir { .. }), "{err}");
}

#[test]
fn unreadable_file_names_the_path() {
    let err = Config::load(Path::new("/nonexistent/edge.toml")).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/edge.toml"), "{err}");
}

#[test]
fn platform_headers_and_outbound_timeouts() {
    let dir = base();
    let settings = validate(GOOD, dir.path()).unwrap();
    assert_eq!(settings.platform_headers, PlatformHeaders::Replace);
    assert_eq!(settings.outbound_timeouts, OutboundTimeouts::default());
    let text = format!(
        "{GOOD}\n"
    )
    .replace(
        "prefill_interval_secs = 30",
        "prefill_interval_secs = 30\nplatform_headers = \"append\"\noutbound_first_byte_timeout_secs = 2",
    );
    let settings = validate(&text, dir.path()).unwrap();
    assert_eq!(settings.platform_headers, PlatformHeaders::Append);
    assert_eq!(
        settings.outbound_timeouts.first_byte,
        Duration::from_secs(2)
    );
    let zero = GOOD.replace(
        "prefill_interval_secs = 30",
        "prefill_interval_secs = 30\noutbound_idle_timeout_secs = 0",
    );
    let err = validate(&zero, dir.path()).unwrap_err().to_string();
    assert!(err.contains("outbound_idle_timeout_secs"), "{err}");
    let bad = GOOD.replace(
        "prefill_interval_secs = 30",
        "prefill_interval_secs = 30\nplatform_headers = \"keep\"",
    );
    assert!(Config::parse(&bad, dir.path()).is_err());
}
