use super::*;

const MINIMAL: &str = r#"
node_id = 1
domain = "N1.Icroot.lan."
data_dir = "/tmp/x"
admin_domains = ["admin.consortium.lan"]
[listen]
starttls = ["127.0.0.1:5269"]
[tls]
cert = "c.pem"
key = "k.pem"
ca = ["ca.pem"]
[discovery]
mode = "static"
routes = { "n2.icroot.lan" = "127.0.0.1:5270" }
[bootstrap]
1 = "n1.icroot.lan"
2 = "n2.icroot.lan"
"#;

#[test]
fn minimal_config_gets_defaults_and_normalized_domains() {
    let c = NodeConfig::from_toml(MINIMAL).unwrap();
    assert_eq!(c.domain, "n1.icroot.lan");
    assert_eq!(c.cluster_name, "icroot");
    assert_eq!(c.admin_http, "127.0.0.1:9269".parse().unwrap());
    assert_eq!(c.raft.heartbeat_interval, 250);
    assert_eq!(c.raft.install_snapshot_timeout, 10_000);
    assert_eq!(c.raft.snapshot_max_chunk_size, proto::stanza::raft::MAX_SNAPSHOT_CHUNK_BYTES as u64);
    assert!(c.is_admin("admin.consortium.lan"));
    assert!(!c.is_admin("ix1.demo.lan"));
    assert_eq!(c.bootstrap.len(), 2);
    let DiscoveryConfig::Static { routes } = &c.discovery else { panic!("static expected") };
    assert_eq!(routes["n2.icroot.lan"], ("127.0.0.1".to_owned(), 5270));
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    let text = MINIMAL.replace("[listen]", "heartbeat = 5\n[listen]");
    let err = NodeConfig::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("heartbeat"), "{err}");
    let text = MINIMAL.replace("mode = \"static\"", "mode = \"static\"\nnameservers = []");
    let err = NodeConfig::from_toml(&text).unwrap_err().to_string();
    assert!(err.contains("nameservers"), "{err}");
}

#[test]
fn unsafe_timers_and_inconsistent_bootstrap_are_refused() {
    let text = format!("{MINIMAL}\n[raft]\nheartbeat_interval_ms = 50\n");
    assert!(matches!(
        NodeConfig::from_toml(&text),
        Err(ConfigError::Invalid { field: "raft.heartbeat_interval_ms", .. })
    ));
    let text = format!("{MINIMAL}\n[raft]\ninstall_snapshot_timeout_ms = 200\n");
    assert!(matches!(NodeConfig::from_toml(&text), Err(ConfigError::Invalid { field: "raft", .. })));
    let text = MINIMAL.replace("1 = \"n1.icroot.lan\"", "1 = \"other.lan\"");
    assert!(matches!(NodeConfig::from_toml(&text), Err(ConfigError::Invalid { field: "bootstrap", .. })));
    let text = MINIMAL.replace("starttls = [\"127.0.0.1:5269\"]", "starttls = []");
    assert!(matches!(
        NodeConfig::from_toml(&text),
        Err(ConfigError::Invalid { field: "listen.starttls", .. })
    ));
}

#[test]
fn timers_default_and_are_bounded() {
    let c = NodeConfig::from_toml(MINIMAL).unwrap();
    assert_eq!(c.lease_expiry_tick, Duration::from_secs(1));
    assert_eq!(c.readyz_deadline, Duration::from_millis(900));
    let text = format!("{MINIMAL}\n[timers]\nlease_expiry_tick_ms = 200\nreadyz_deadline_ms = 2000\n");
    let c = NodeConfig::from_toml(&text).unwrap();
    assert_eq!(c.lease_expiry_tick, Duration::from_millis(200));
    assert_eq!(c.readyz_deadline, Duration::from_secs(2));
    let text = format!("{MINIMAL}\n[timers]\nlease_expiry_tick_ms = 10\n");
    assert!(matches!(
        NodeConfig::from_toml(&text),
        Err(ConfigError::Invalid { field: "timers.lease_expiry_tick_ms", .. })
    ));
    let text = format!("{MINIMAL}\n[timers]\ntick = 10\n");
    assert!(NodeConfig::from_toml(&text).unwrap_err().to_string().contains("tick"));
}
