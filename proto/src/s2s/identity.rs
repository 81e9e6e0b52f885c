//! Who is on the other end: certificate names (RFC 6125) and the domain part of addresses.
//!
//! Chain verification is the driver's job (rustls with the configured trust anchors); this module
//! only answers "does this already-verified end-entity certificate name that domain?".

use rustls_pki_types::{CertificateDer, ServerName};

/// Whether `cert` (DER) carries a SAN dNSName matching `domain` under RFC 6125 rules: exact match,
/// case-insensitive, or a wildcard standing for exactly the left-most label. Anything unparsable
/// simply does not match.
pub fn cert_names_domain(cert: &CertificateDer<'_>, domain: &str) -> bool {
    let Ok(name) = ServerName::try_from(domain) else { return false };
    // An IP address is never an XMPP domain we authenticate.
    if !matches!(name, ServerName::DnsName(_)) {
        return false;
    }
    let Ok(ee) = webpki::EndEntityCert::try_from(cert) else { return false };
    ee.verify_is_valid_for_subject_name(&name).is_ok()
}

/// The domain part of a JID (`local@domain/resource` → `domain`), or `None` if it is empty.
pub fn jid_domain(jid: &str) -> Option<&str> {
    // The resource may itself contain '@' and '/', so cut it off first (RFC 7622 §3.1).
    let bare = jid.split_once('/').map_or(jid, |(b, _)| b);
    let domain = bare.rsplit_once('@').map_or(bare, |(_, d)| d);
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    (!domain.is_empty()).then_some(domain)
}

/// Case-insensitive domain comparison (DNS names are ASCII in our profile).
pub fn same_domain(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_for(names: &[&str]) -> CertificateDer<'static> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(names).unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    #[test]
    fn exact_and_case_insensitive_match() {
        let c = cert_for(&["root1.example"]);
        assert!(cert_names_domain(&c, "root1.example"));
        assert!(cert_names_domain(&c, "ROOT1.Example"));
        assert!(!cert_names_domain(&c, "root2.example"));
        assert!(!cert_names_domain(&c, "sub.root1.example"));
    }

    #[test]
    fn wildcard_only_covers_one_left_label() {
        let c = cert_for(&["*.ix.example"]);
        assert!(cert_names_domain(&c, "a.ix.example"));
        assert!(!cert_names_domain(&c, "ix.example"));
        assert!(!cert_names_domain(&c, "a.b.ix.example"));
    }

    #[test]
    fn garbage_never_matches() {
        assert!(!cert_names_domain(&CertificateDer::from(vec![1, 2, 3]), "a.example"));
        let c = cert_for(&["a.example"]);
        assert!(!cert_names_domain(&c, "not a domain"));
        assert!(!cert_names_domain(&c, "127.0.0.1"));
    }

    #[test]
    fn jid_domain_parts() {
        assert_eq!(jid_domain("a.example"), Some("a.example"));
        assert_eq!(jid_domain("u@a.example/r@x/y"), Some("a.example"));
        assert_eq!(jid_domain("a.example."), Some("a.example"));
        assert_eq!(jid_domain("u@"), None);
        assert_eq!(jid_domain(""), None);
    }
}
