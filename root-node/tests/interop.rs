//! A real XMPP client reaches the root through a real XMPP server: slixmpp (Python) logs in to
//! Prosody over C2S (STARTTLS, SCRAM) and looks up registry records at the root; Prosody finds the
//! root by SRV in the test's DNS and federates to it over S2S (certificates both ways); the root
//! answers the client's full JID, and Prosody relays the answer. A write (renew-lease) from the
//! client acts for its server's domain.
//!
//! ```text
//!  registry_lookup.py ─c2s─▶ Prosody ─S2S (SRV _xmpp-server._tcp.root.icroot.lan)─▶ root node
//!          ▲                    ▲                                                      │
//!          └──── result ────────┴──── S2S (SRV _xmpp-server._tcp.prosody.ix.lan) ◀─────┘
//! ```
//!
//! Needs `prosody`, `lua-unbound` and a venv with slixmpp: `scripts/setup.sh` installs all three
//! (the venv at /var/cache/icroot/venv, or `ICROOT_VENV`). Missing any of them fails the test.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use clap::Parser;
use proto::error::{StanzaError, StanzaErrorCondition};
use proto::stanza::registry::{RecordKind, RegistryError, RegistryResult};
use proto::xml::parse_fragment;
use raft_xmpp_transport::Direction;
use root_node::cli::{run_client, Cli};
use root_node::client::Client;

#[allow(dead_code)]
#[path = "../../raft-xmpp-transport/tests/prosody/server.rs"]
mod prosody_server;

use self::prosody_server::{free_ports, prosody_binary, Prosody, ProsodySetup};
use crate::solo_root::{SoloRoot, ROOT};

const PROSODY: &str = "prosody.ix.lan";
const USER: &str = "alice";
/// The whole client run (login, S2S dial-out both ways, two lookups) on a loaded 2-core machine.
const CLIENT_DEADLINE: Duration = Duration::from_secs(60);

/// The venv's python with slixmpp, or a failure naming the fix.
fn slixmpp_python() -> PathBuf {
    let venv = std::env::var_os("ICROOT_VENV").map_or_else(|| "/var/cache/icroot/venv".into(), PathBuf::from);
    let python = venv.join("bin/python3");
    let ok = std::process::Command::new(&python)
        .args(["-c", "import slixmpp"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{} cannot import slixmpp: run scripts/setup.sh (it creates the venv and installs slixmpp)",
        python.display()
    );
    python
}

/// One JSON line the script printed.
fn events(stdout: &str) -> Vec<serde_json::Value> {
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slixmpp_client_looks_up_the_registry_through_prosody() {
    let binary = prosody_binary().expect("no `prosody` on PATH: run scripts/setup.sh");
    let python = slixmpp_python();
    let [s2s_port, c2s_port] = free_ports().await;
    let root = SoloRoot::start(|zone| {
        zone.srv(&format!("_xmpp-server._tcp.{PROSODY}"), 10, 0, s2s_port, "host.prosody.ix.lan")
            .addr("host.prosody.ix.lan", [127, 0, 0, 1].into())
    })
    .await;

    // The Prosody domain registers itself as an Exchange, through the CLI's code path.
    let client = Client::connect(&root.profile(PROSODY)).unwrap();
    let args = ["icroot", "exchange", "register", "--organisation", "Prosody Interop", "--region", "eu-west"];
    let registered = run_client(&client, &Cli::try_parse_from(args).unwrap().command).await.unwrap();
    client.close().await;
    let Some(RegistryResult::Exchange(registered)) = registered else { panic!("{registered:?}") };
    assert_eq!(registered.domain, PROSODY);

    let password = "interop-secret";
    let setup = ProsodySetup {
        domain: PROSODY.into(),
        s2s_port,
        c2s_port,
        dns: root.dns.addr(),
        bidi: false,
        users: vec![(USER.into(), password.into())],
    };
    let prosody = Prosody::start(&binary, &setup, &root.ca).await;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/registry_lookup.py");
    let run = tokio::process::Command::new(&python)
        .arg(&script)
        .args(["--jid", &format!("{USER}@{PROSODY}"), "--password", password])
        .args(["--port", &c2s_port.to_string(), "--root", ROOT])
        .arg("--ca")
        .arg(root.dir.path().join("ca.pem"))
        .args(["--lookup", PROSODY, "--lookup", "absent.ix.lan", "--renew", "--timeout", "20"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(CLIENT_DEADLINE, run).await.expect("the client hung").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "client failed ({}):\n{stdout}\n{stderr}\n{}", out.status, prosody.logs());

    let ev = events(&stdout);
    assert_eq!(ev.len(), 4, "{stdout}");
    let jid = ev[0]["jid"].as_str().unwrap();
    assert!(jid.starts_with(&format!("{USER}@{PROSODY}/")), "bound to a full JID: {jid}");

    // The Exchange record, answered by the root to the client's full JID.
    let found = &ev[1];
    assert_eq!(
        (found["lookup"].as_str(), found["type"].as_str()),
        (Some(PROSODY), Some("result")),
        "{found}"
    );
    assert_eq!((found["from"].as_str(), found["to"].as_str()), (Some(ROOT), Some(jid)), "{found}");
    let iq = parse_fragment(found["xml"].as_str().unwrap()).unwrap();
    let record = RegistryResult::try_from(iq.children().next().expect("a result payload")).unwrap();
    let RegistryResult::Exchange(record) = record else { panic!("{record:?}") };
    assert_eq!(record.domain, PROSODY);
    assert_eq!(record.spec.organisation, "Prosody Interop");
    assert_eq!(record.spec.regions, vec!["eu-west".to_owned()]);
    assert_eq!(record.modified_revision, registered.modified_revision);

    // An absent record: the registry error survives the relay, app element included.
    let absent = &ev[2];
    assert_eq!(absent["type"].as_str(), Some("error"), "{absent}");
    assert_eq!(absent["to"].as_str(), Some(jid), "{absent}");
    let iq = parse_fragment(absent["xml"].as_str().unwrap()).unwrap();
    let err = StanzaError::from_element(iq.children().find(|c| c.name() == "error").unwrap()).unwrap();
    assert_eq!(err.condition, StanzaErrorCondition::ItemNotFound);
    match RegistryError::from_stanza_error(&err) {
        RegistryError::NotFound { kind: RecordKind::Exchange, key } => assert_eq!(key, "absent.ix.lan"),
        other => panic!("expected <not-found/>, got {other:?}"),
    }

    // A write from alice@prosody.ix.lan/… acts for the domain: it renews prosody.ix.lan's lease.
    let renewed = &ev[3];
    assert_eq!((renewed["type"].as_str(), renewed["to"].as_str()), (Some("result"), Some(jid)), "{renewed}");
    let iq = parse_fragment(renewed["xml"].as_str().unwrap()).unwrap();
    let record = RegistryResult::try_from(iq.children().next().expect("a result payload")).unwrap();
    let RegistryResult::Exchange(record) = record else { panic!("{record:?}") };
    assert_eq!(record.domain, PROSODY);
    assert!(record.lease_expires_ms > registered.lease_expires_ms, "{record:?} vs {registered:?}");
    assert_eq!(record.modified_revision, registered.modified_revision, "a renewal is not a change");

    // It was Prosody's own S2S stream that reached the root (the CLI's stream closed before).
    let links = root.root.xmpp().links();
    assert!(
        links.iter().any(|(peer, dir, _)| peer == PROSODY && *dir == Direction::Inbound),
        "no inbound link from Prosody: {links:?}"
    );
    let log = prosody.log();
    assert!(log.contains(&format!("SASL EXTERNAL with {ROOT} succeeded")), "{}", prosody.logs());
    drop(prosody);
    root.shutdown().await;
}
