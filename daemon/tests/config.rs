//! The configuration: embedded default, file layer, environment overrides, validation that
//! names the key, redaction, and the `check-config` command.

use std::path::{Path, PathBuf};
use std::process::Command;

use screener_daemon::config::{Config, ConfigError, LogFormat};

/// A folder that passes as a model bundle for validation (a manifest.json in it).
fn model_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
    dir
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn with_model(model: &Path, more: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut e = env(more);
    e.push((
        "SCREENER__ENGINE__MODEL_DIR".into(),
        model.display().to_string(),
    ));
    e
}

fn problems(e: ConfigError) -> Vec<String> {
    e.problems().iter().map(|p| p.to_string()).collect()
}

#[test]
fn the_embedded_default_is_sqlite_cpu_and_loopback_web_on_unprivileged_ports() {
    let model = model_dir();
    let c = Config::from_layers(None, with_model(model.path(), &[])).unwrap();
    assert_eq!(c.dicom.port, 11112);
    assert_eq!(c.dicom.ae_title, "SCREENER");
    assert!(c.dicom.allowed_calling.is_empty());
    assert_eq!(c.web.bind, "127.0.0.1:8080");
    assert!(c.destinations.is_empty());
    assert!(!c.webhook.enabled);
    assert!(!c.engine.use_gpu);
    assert_eq!(c.node.data_dir, PathBuf::from("./screener-data"));
    assert_eq!(c.store_url(), "sqlite://./screener-data/screener.sqlite3");
    assert_eq!(c.logging.format, LogFormat::Plain);
    let l = c.listener();
    assert_eq!(l.bind.port(), 11112);
    assert_eq!(c.spool().root, PathBuf::from("./screener-data/spool"));
}

#[test]
fn a_missing_model_bundle_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let e = env(&[(
        "SCREENER__ENGINE__MODEL_DIR",
        &dir.path().join("none").display().to_string(),
    )]);
    let p = problems(Config::from_layers(None, e).unwrap_err());
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("engine.model_dir: ") && p[0].contains("not an existing folder"));
    assert!(p[0].contains("set by SCREENER__ENGINE__MODEL_DIR"), "{p:?}");
    let e = env(&[(
        "SCREENER__ENGINE__MODEL_DIR",
        &dir.path().display().to_string(),
    )]);
    let p = problems(Config::from_layers(None, e).unwrap_err());
    assert!(p[0].contains("no manifest.json"), "{p:?}");
}

#[test]
fn unknown_keys_are_rejected_with_their_path() {
    let model = model_dir();
    for (text, key) in [
        ("[dicom]\nprot = 104\n", "dicom.prot"),
        ("[dicomm]\nport = 104\n", "dicomm"),
        (
            "[[destinations]]\nname='p'\nae_title='P'\nhost='h'\nport=104\ncolour='red'\n",
            "destinations[0].colour",
        ),
    ] {
        let err = Config::from_layers(Some(("test.toml", text)), with_model(model.path(), &[]))
            .unwrap_err();
        let p = problems(err);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with(&format!("{key}: unknown field")),
            "{key}: {p:?}"
        );
    }
}

#[test]
fn invalid_values_are_all_reported_with_their_keys() {
    let model = model_dir();
    let text = r#"
        [dicom]
        port = 0
        ae_title = "MUCH_TOO_LONG_AE_TITLE"
        allowed_calling = ["PACS@not-an-ip", "BAD\\AE"]
        bind = "localhost"
        [[destinations]]
        name = "pacs"
        ae_title = "PACS"
        host = "10.0.0.1"
        port = 70000
        retry = { attempts = 0, base_delay_s = 10, max_delay_s = 5 }
        [[destinations]]
        name = "pacs"
        ae_title = ""
        host = ""
        port = 104
        [store]
        url = "mysql://x"
        [web]
        bind = "127.0.0.1"
        token = "a"
        token_file = "/nonexistent"
        [webhook]
        enabled = true
        [logging]
        level = "loud"
    "#;
    let p = problems(
        Config::from_layers(Some(("bad.toml", text)), with_model(model.path(), &[])).unwrap_err(),
    );
    let keys: Vec<&str> = p.iter().map(|p| p.split(':').next().unwrap()).collect();
    for key in [
        "dicom.bind",
        "dicom.port",
        "dicom.ae_title",
        "dicom.allowed_calling[0]",
        "dicom.allowed_calling[1]",
        "destinations[0].port",
        "destinations[0].retry.attempts",
        "destinations[0].retry.max_delay_s",
        "destinations[1].name",
        "destinations[1].ae_title",
        "destinations[1].host",
        "store.url",
        "web.bind",
        "web.token",
        "webhook.url",
        "logging.level",
    ] {
        assert!(keys.contains(&key), "{key} missing from {p:#?}");
    }
    assert!(
        p.iter()
            .any(|p| p == "dicom.port: port must be 1-65535, got 0"),
        "{p:#?}"
    );
    assert!(p.iter().any(|p| p.contains("is used twice")), "{p:#?}");
}

#[test]
fn a_wrong_type_names_the_key() {
    let model = model_dir();
    let p = problems(
        Config::from_layers(
            Some(("t.toml", "[dicom]\nport = \"eleven\"\n")),
            with_model(model.path(), &[]),
        )
        .unwrap_err(),
    );
    assert!(p[0].starts_with("dicom.port: invalid type"), "{p:?}");
}

#[test]
fn environment_variables_override_keys_with_the_type_of_the_key() {
    let model = model_dir();
    let c = Config::from_layers(
        Some(("t.toml", "[dicom]\nport = 104\n")),
        with_model(
            model.path(),
            &[
                ("SCREENER__DICOM__PORT", "11113"),
                ("SCREENER__DICOM__AE_TITLE", "1234"),
                ("SCREENER__DICOM__FSYNC", "false"),
                ("SCREENER__DICOM__ALLOWED_CALLING", "PACS, CT1@10.0.0.1"),
                ("SCREENER__LOGGING__FORMAT", "json"),
                ("SCREENER__WEB__TOKEN", "0123456789012345"),
                ("SCREENER__STORE__URL", "postgres://app:pw@db/screener"),
                ("OTHER__DICOM__PORT", "1"),
            ],
        ),
    )
    .unwrap();
    assert_eq!(c.dicom.port, 11113);
    assert_eq!(c.dicom.ae_title, "1234");
    assert!(!c.dicom.fsync);
    assert_eq!(c.dicom.allowed_calling, ["PACS", "CT1@10.0.0.1"]);
    assert_eq!(c.logging.format, LogFormat::Json);
    assert_eq!(c.web.token.as_deref(), Some("0123456789012345"));
    assert_eq!(c.store_url(), "postgres://app:pw@db/screener");
}

#[test]
fn destinations_can_be_given_by_index_in_the_environment() {
    let model = model_dir();
    let c = Config::from_layers(
        None,
        with_model(
            model.path(),
            &[
                ("SCREENER__DESTINATIONS__0__NAME", "pacs"),
                ("SCREENER__DESTINATIONS__0__AE_TITLE", "PACS"),
                ("SCREENER__DESTINATIONS__0__HOST", "10.0.0.5"),
                ("SCREENER__DESTINATIONS__0__PORT", "104"),
                ("SCREENER__DESTINATIONS__0__RETRY__ATTEMPTS", "3"),
                ("SCREENER__DESTINATIONS__0__RETRY__BASE_DELAY_S", "1"),
                ("SCREENER__DESTINATIONS__0__RETRY__MAX_DELAY_S", "8"),
            ],
        ),
    )
    .unwrap();
    assert_eq!(c.destinations.len(), 1);
    let d = c.destinations[0].destination();
    assert_eq!(
        (d.ae_title.as_str(), d.address().as_str()),
        ("PACS", "10.0.0.5:104")
    );
    assert_eq!(c.destinations[0].retry.policy().attempts, 3);

    // Overriding one key of a destination from the file.
    let file = "[[destinations]]\nname='pacs'\nae_title='PACS'\nhost='a'\nport=104\n";
    let c = Config::from_layers(
        Some(("t.toml", file)),
        with_model(model.path(), &[("SCREENER__DESTINATIONS__0__HOST", "b")]),
    )
    .unwrap();
    assert_eq!(c.destinations[0].host, "b");
}

#[test]
fn bad_environment_values_name_the_variable() {
    let model = model_dir();
    let e = Config::from_layers(
        None,
        with_model(model.path(), &[("SCREENER__DICOM__PORT", "abc")]),
    )
    .unwrap_err();
    assert!(
        matches!(&e, ConfigError::Env { var, .. } if var == "SCREENER__DICOM__PORT"),
        "{e}"
    );
    let e = Config::from_layers(
        None,
        with_model(model.path(), &[("SCREENER__DICOM__PORT", "0")]),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("(set by SCREENER__DICOM__PORT)"),
        "{e}"
    );
    let e = Config::from_layers(
        None,
        with_model(model.path(), &[("SCREENER__DICOM__PROT", "1")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("dicom.prot: unknown field"), "{e}");
    assert!(e.to_string().contains("SCREENER__DICOM__PROT"), "{e}");
    let e = Config::from_layers(
        None,
        with_model(model.path(), &[("SCREENER__DESTINATIONS__1__HOST", "x")]),
    )
    .unwrap_err();
    assert!(e.to_string().contains("index 1 would leave a gap"), "{e}");
}

#[test]
fn secrets_are_redacted_when_printed() {
    let model = model_dir();
    let c = Config::from_layers(
        Some((
            "t.toml",
            "[web]\ntoken = 'super-secret-token-123'\n[webhook]\nenabled = true\n\
             url = 'https://hook:hookpw@example.org/x'\nsecret = 'hmac-secret'\n\
             [store]\nurl = 'postgres://app:dbpw@db/screener'\n",
        )),
        with_model(model.path(), &[]),
    )
    .unwrap();
    let shown = c.to_redacted_toml();
    for secret in ["super-secret-token-123", "hookpw", "hmac-secret", "dbpw"] {
        assert!(!shown.contains(secret), "{secret} shown in\n{shown}");
    }
    assert!(
        shown.contains("postgres://app:<redacted>@db/screener"),
        "{shown}"
    );
    // The printed configuration reads back as the same configuration, secrets aside.
    let back: Config = toml::from_str(&shown).unwrap();
    assert_eq!(back.dicom, c.dicom);
}

#[test]
fn the_production_example_has_every_key_and_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let text = std::fs::read_to_string(root.join("config/production.example.toml")).unwrap();
    // Complete on its own, without the default under it.
    let alone: Config = toml::from_str(&text).unwrap();
    assert!(!alone.destinations.is_empty());
    for optional in ["token_file", "secret", "url"] {
        assert!(
            text.contains(&format!("{optional} =")),
            "{optional} documented"
        );
    }
    let model = model_dir();
    let token = tempfile::NamedTempFile::new().unwrap();
    Config::from_layers(
        Some(("production.example.toml", &text)),
        with_model(
            model.path(),
            &[(
                "SCREENER__WEB__TOKEN_FILE",
                &token.path().display().to_string(),
            )],
        ),
    )
    .unwrap();
}

#[test]
fn a_generated_web_token_is_kept_and_reused() {
    let model = model_dir();
    let data = tempfile::tempdir().unwrap();
    let c = Config::from_layers(
        None,
        with_model(
            model.path(),
            &[(
                "SCREENER__NODE__DATA_DIR",
                &data.path().display().to_string(),
            )],
        ),
    )
    .unwrap();
    let first = c.web_token().unwrap();
    assert_eq!(first.len(), 48);
    assert_eq!(c.web_token().unwrap(), first);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(c.generated_token_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        c.store_url(),
        format!(
            "sqlite://{}",
            data.path().join("screener.sqlite3").display()
        )
    );
}

#[test]
fn check_config_prints_the_effective_config_or_names_the_bad_key() {
    let model = model_dir();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[web]\ntoken = 'secret-token-0123456'\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_screener"))
        .args(["check-config", good.to_str().unwrap()])
        .env("SCREENER__ENGINE__MODEL_DIR", model.path())
        .env("SCREENER__DICOM__PORT", "4242")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("port = 4242"), "{stdout}");
    assert!(
        stdout.contains("<redacted>") && !stdout.contains("secret-token"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[dicom]\nae_title = 'A\\\\B'\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_screener"))
        .args(["check-config", bad.to_str().unwrap()])
        .env("SCREENER__ENGINE__MODEL_DIR", model.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dicom.ae_title:"), "{stderr}");

    let out = Command::new(env!("CARGO_BIN_EXE_screener"))
        .args(["check-config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
