//! The smallest XMPP client that makes Prosody originate S2S traffic: a plaintext C2S stream on
//! loopback, SASL ANONYMOUS, resource binding, then iq requests to any address. Prosody routes
//! requests for a remote domain over its own S2S connection, so the icroot node sees them arrive
//! from Prosody's domain.

use std::time::Duration;

use proto::ns;
use proto::xml::{Element, Limits, StreamReader, XmlEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";

/// A logged-in client session.
pub struct Client {
    tcp: TcpStream,
    reader: StreamReader,
    /// The full JID Prosody bound for us (`random@domain/resource`).
    pub jid: String,
    next_id: u32,
    /// Every read waits at most this long.
    timeout: Duration,
}

fn header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}' to='{domain}' version='1.0'>",
        ns::JABBER_CLIENT,
        ns::STREAM
    )
}

impl Client {
    /// Connect to `port` on loopback and log in to `domain` anonymously.
    pub async fn login_anonymous(port: u16, domain: &str, timeout: Duration) -> Client {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let reader = StreamReader::new(Limits::POST_AUTH);
        let mut c = Client { tcp, reader, jid: String::new(), next_id: 0, timeout };
        c.write(&header(domain)).await;
        let features = c.next_stanza().await;
        let mechanisms: Vec<String> = features
            .child("mechanisms", ns::SASL)
            .map(|m| m.children().map(|c| c.text()).collect())
            .unwrap_or_default();
        assert!(mechanisms.iter().any(|m| m == "ANONYMOUS"), "no SASL ANONYMOUS in {features}");
        c.send(&Element::new("auth", ns::SASL).with_attr("mechanism", "ANONYMOUS")).await;
        let outcome = c.next_stanza().await;
        assert!(outcome.is("success", ns::SASL), "anonymous login refused: {outcome}");
        // RFC 6120 §6.4.6: after SASL both sides restart the stream.
        c.reader.restart();
        c.write(&header(domain)).await;
        let features = c.next_stanza().await;
        assert!(features.child("bind", BIND).is_some(), "no resource binding offered: {features}");
        let bind = Element::new("iq", ns::JABBER_CLIENT)
            .with_attr("type", "set")
            .with_attr("id", "bind")
            .with_child(Element::new("bind", BIND));
        let bound = c.request(bind).await;
        c.jid = bound
            .child("bind", BIND)
            .and_then(|b| b.child("jid", BIND))
            .map(|j| j.text())
            .unwrap_or_else(|| panic!("no bound JID in {bound}"));
        c
    }

    async fn write(&mut self, text: &str) {
        self.tcp.write_all(text.as_bytes()).await.unwrap();
    }

    async fn send(&mut self, el: &Element) {
        let mut out = Vec::new();
        proto::xml::write::write_stanza(el, ns::JABBER_CLIENT, &mut out);
        self.tcp.write_all(&out).await.unwrap();
    }

    /// The next top-level element (stream headers and keepalives skipped).
    async fn next_stanza(&mut self) -> Element {
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.next_event().unwrap() {
                Some(XmlEvent::Stanza(el)) => return el,
                Some(XmlEvent::StreamClose) => panic!("prosody closed the client stream"),
                Some(_) => continue,
                None => {}
            }
            let n = tokio::time::timeout(self.timeout, self.tcp.read(&mut buf))
                .await
                .expect("prosody answered the client in time")
                .unwrap();
            assert!(n > 0, "prosody closed the client connection");
            self.reader.push(&buf[..n]);
        }
    }

    /// Send an iq get carrying `payload` to `to` and return the iq answering it.
    pub async fn get(&mut self, to: &str, payload: Element) -> Element {
        self.next_id += 1;
        let iq = Element::new("iq", ns::JABBER_CLIENT)
            .with_attr("type", "get")
            .with_attr("id", format!("c{}", self.next_id))
            .with_attr("to", to)
            .with_child(payload);
        self.request(iq).await
    }

    /// Send an iq (it must have an id) and return the iq answering it; other stanzas (presence,
    /// messages) are skipped.
    async fn request(&mut self, iq: Element) -> Element {
        let id = iq.attr("id").expect("request id").to_owned();
        self.send(&iq).await;
        loop {
            let el = self.next_stanza().await;
            if el.name() == "iq" && el.attr("id") == Some(id.as_str()) {
                return el;
            }
        }
    }
}
