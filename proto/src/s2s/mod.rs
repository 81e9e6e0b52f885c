//! S2S stream negotiation (RFC 6120, XEP-0220, XEP-0288) as sans-IO state machines (being written).
