//! Namespace URIs used on the wire. See docs/protocol.md for what lives in each.

/// RFC 6120 server-to-server content namespace.
pub const JABBER_SERVER: &str = "jabber:server";
/// RFC 6120 client content namespace (accepted in stanzas relayed by a server).
pub const JABBER_CLIENT: &str = "jabber:client";
/// RFC 6120 stream namespace (the `stream:` prefix).
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// RFC 6120 stream error conditions.
pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// RFC 6120 stanza error conditions.
pub const STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// RFC 6120 STARTTLS.
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// RFC 6120 SASL.
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// XEP-0220 dialback elements (`db:` prefix).
pub const DIALBACK: &str = "jabber:server:dialback";
/// XEP-0220 stream feature advertising dialback.
pub const DIALBACK_FEATURE: &str = "urn:xmpp:features:dialback";
/// XEP-0288 bidirectional S2S: stream feature.
pub const BIDI_FEATURE: &str = "urn:xmpp:features:bidi";
/// XEP-0288 bidirectional S2S: request element.
pub const BIDI: &str = "urn:xmpp:bidi";
/// XEP-0362 Raft over XMPP.
pub const RAFT: &str = "urn:xmpp:raft";
/// icroot's extension to XEP-0362: what openraft needs that the XEP lacks.
/// Deliberately not under `urn:xmpp:` (reserved by the XSF).
pub const RAFT_EXT: &str = "https://ns.icroot.dev/raft-ext/0";
/// icroot's Intercloud registry protocol.
pub const REGISTRY: &str = "https://ns.icroot.dev/registry/0";
/// XEP-0030 service discovery, info.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0030 service discovery, items.
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XEP-0199 ping.
pub const PING: &str = "urn:xmpp:ping";
/// XEP-0060 publish-subscribe.
pub const PUBSUB: &str = "http://jabber.org/protocol/pubsub";
/// XEP-0060 publish-subscribe events.
pub const PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
/// XEP-0060 publish-subscribe errors.
pub const PUBSUB_ERRORS: &str = "http://jabber.org/protocol/pubsub#errors";
/// The `xml:` prefix namespace (`xml:lang`).
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
