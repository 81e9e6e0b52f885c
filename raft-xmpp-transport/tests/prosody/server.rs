//! A real Prosody (the Debian package) run as a child process on loopback: its own config file,
//! data directory and log, certificates from the test CA, and DNS through the test's LocalDns.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use raft_xmpp_transport::pki::{write_file, DevCa};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};

/// How long Prosody may take to open its ports (it starts in well under a second here).
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// Where the `prosody` executable is, if installed.
pub fn prosody_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join("prosody")).find(|p| p.is_file())
}

/// Prosody's resolver, libunbound, comes from `lua-unbound`, a mere Recommends of the Debian
/// package; without it Prosody falls back to a resolver that reads only `/etc/resolv.conf` and
/// cannot be pointed at the test's DNS server. Fail with the fix rather than with a timeout.
fn assert_lua_unbound() {
    // Debian 12's Prosody runs on lua5.4 (its `#!/usr/bin/env lua5.4` line).
    let probe = std::process::Command::new("lua5.4").args(["-e", "require 'lunbound'"]).output();
    if let Ok(out) = probe {
        assert!(
            out.status.success(),
            "prosody is installed without lua-unbound: apt-get install lua-unbound (scripts/setup.sh does)"
        );
    }
}

/// `N` distinct loopback ports free now (bound together, then released: another process could
/// take one before Prosody binds it, which Prosody's startup failure would then report).
pub async fn free_ports<const N: usize>() -> [u16; N] {
    let mut held = Vec::with_capacity(N);
    for _ in 0..N {
        held.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    std::array::from_fn(|i| held[i].local_addr().unwrap().port())
}

/// What the Prosody config is made from.
pub struct ProsodySetup {
    /// Prosody's only VirtualHost.
    pub domain: String,
    /// Its S2S (STARTTLS) port.
    pub s2s_port: u16,
    /// Its C2S port: the test's client logs in here to make Prosody originate S2S traffic.
    pub c2s_port: u16,
    /// The DNS server Prosody's resolver (libunbound) forwards every query to.
    pub dns: SocketAddr,
    /// Load `mod_s2s_bidi` (XEP-0288): Prosody then offers and requests bidirectional streams.
    pub bidi: bool,
    /// Accounts (user, password) created with `prosodyctl register` before the start. Empty: the
    /// VirtualHost allows anonymous logins instead; otherwise it authenticates with SCRAM
    /// (`internal_hashed`).
    pub users: Vec<(String, String)>,
}

/// A running Prosody; killed when dropped.
pub struct Prosody {
    dir: PathBuf,
    child: Child,
}

/// The Lua config. Every path is absolute so Prosody's working directory does not matter.
fn config_text(setup: &ProsodySetup, dir: &Path) -> String {
    let d = dir.display();
    let ProsodySetup { domain, s2s_port, c2s_port, dns, bidi, users } = setup;
    let bidi = if *bidi { r#", "s2s_bidi""# } else { "" };
    let auth = if users.is_empty() {
        "authentication = \"anonymous\"\n  allow_anonymous_s2s = true"
    } else {
        "authentication = \"internal_hashed\""
    };
    format!(
        r#"-- Written by raft-xmpp-transport/tests/prosody: Prosody federating with an icroot node.
-- Prosody runs as the user running the tests (root in CI containers): no user switch.
run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
certificates = "{d}/certs"
log = {{ debug = "{d}/prosody.log" }}
interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ {s2s_port} }}
c2s_ports = {{ {c2s_port} }}
s2s_direct_tls_ports = {{ }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
modules_enabled = {{ "tls", "saslauth", "disco", "ping"{bidi} }}
-- Certificates only: no dialback module, authenticated TLS required both ways.
s2s_secure_auth = true
s2s_require_encryption = true
-- The test's client is on loopback; TLS is offered (STARTTLS) but not required.
c2s_require_encryption = false
ssl = {{
  certificate = "{d}/certs/{domain}.crt";
  key = "{d}/certs/{domain}.key";
  cafile = "{d}/certs/ca.pem";
}}
-- libunbound ignores /etc/hosts and /etc/resolv.conf here; every query goes to the test's DNS.
unbound = {{
  resolvconf = false;
  hoststxt = false;
  forward = "{dns_ip}@{dns_port}";
}}

VirtualHost "{domain}"
  {auth}
"#,
        dns_ip = dns.ip(),
        dns_port = dns.port(),
    )
}

/// `prosodyctl register` (next to `binary`) one account into the data directory of `config`.
fn register_user(binary: &Path, config: &Path, user: &str, domain: &str, password: &str) {
    let ctl = binary.with_file_name("prosodyctl");
    let out = std::process::Command::new(&ctl)
        .arg("--config")
        .arg(config)
        .args(["register", user, domain, password])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", ctl.display()));
    assert!(
        out.status.success(),
        "prosodyctl register {user}@{domain} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Prosody {
    /// Write the config and the certificates under a fresh directory, start Prosody and wait
    /// until its S2S and C2S ports accept connections.
    pub async fn start(binary: &Path, setup: &ProsodySetup, ca: &DevCa) -> Prosody {
        assert_lua_unbound();
        let dir =
            std::env::temp_dir().join(format!("icroot-prosody-{}-{}", std::process::id(), setup.s2s_port));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let (_, pem) = ca.issue(&setup.domain).unwrap();
        let certs = dir.join("certs");
        write_file(&certs.join(format!("{}.crt", setup.domain)), &pem.cert_pem, 0o644).unwrap();
        write_file(&certs.join(format!("{}.key", setup.domain)), &pem.key_pem, 0o600).unwrap();
        write_file(&certs.join("ca.pem"), ca.cert_pem(), 0o644).unwrap();
        let config = dir.join("prosody.cfg.lua");
        write_file(&config, &config_text(setup, &dir), 0o644).unwrap();
        for (user, password) in &setup.users {
            register_user(binary, &config, user, &setup.domain, password);
        }
        let stdout = std::fs::File::create(dir.join("stdout.log")).unwrap();
        let child = Command::new(binary)
            .arg("-F")
            .arg("--config")
            .arg(&config)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().unwrap())
            .stderr(stdout)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut prosody = Prosody { dir, child };
        prosody.wait_listening(&[setup.s2s_port, setup.c2s_port]).await;
        prosody
    }

    /// Poll until every port accepts a TCP connection; fail early if Prosody exits.
    async fn wait_listening(&mut self, ports: &[u16]) {
        let deadline = Instant::now() + STARTUP_DEADLINE;
        for port in ports {
            loop {
                if let Some(status) = self.child.try_wait().unwrap() {
                    panic!("prosody exited ({status}) before listening:\n{}", self.logs());
                }
                if TcpStream::connect(("127.0.0.1", *port)).await.is_ok() {
                    break;
                }
                assert!(Instant::now() < deadline, "prosody not listening on {port}:\n{}", self.logs());
                // Bounded poll interval while Prosody loads its modules; not a synchronisation.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }

    /// Prosody's debug log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prosody.log")).unwrap_or_default()
    }

    /// Its console output and debug log, for failure messages.
    pub fn logs(&self) -> String {
        let console = std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default();
        format!("--- console ---\n{console}\n--- prosody.log ---\n{}", self.log())
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        // Keep the directory of a failed run (or when asked) for inspection.
        if !std::thread::panicking() && std::env::var_os("ICROOT_KEEP_PROSODY").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
