#!/usr/bin/env python3
"""A real XMPP client (slixmpp) asks an icroot root for registry records through its own server.

    this script --c2s (STARTTLS, SCRAM)--> Prosody --S2S--> root --> answer back the same way

It logs in as JID with PASSWORD on HOST:PORT, verifying the server certificate against CA, then
sends one registry `<get-exchange/>` iq (docs/protocol.md section 5.5) per --lookup domain to the
root domain, then (with --renew) a `<renew-lease/>` set, which acts for our server's domain. It prints one JSON object per line on stdout:

    {"event": "bound", "jid": "<our full JID>"}
    {"event": "answer", "lookup": "<domain>|renew-lease", "type": "result|error", "from": "...", "to": "...",
     "xml": "<the answer iq>"}

and exits 0 once every lookup has an answer; 1 (with the reason on stderr) if the login fails, the
stream ends or an answer does not come within --timeout seconds. Used by
root-node/tests/interop.rs; needs slixmpp (scripts/setup.sh installs it in a venv).
"""

import argparse
import asyncio
import json
import sys
import xml.etree.ElementTree as ET

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

REGISTRY_NS = "https://ns.icroot.dev/registry/0"


class Lookup(slixmpp.ClientXMPP):
    def __init__(self, args):
        super().__init__(args.jid, args.password)
        self.args = args
        self.ca_certs = args.ca
        # The port is Prosody's STARTTLS C2S port: no direct TLS, no plaintext stream.
        self.enable_direct_tls = False
        self.enable_starttls = True
        self.enable_plaintext = False
        self.outcome = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_session)
        self.add_event_handler("failed_auth", lambda _: self.fail("authentication failed"))
        self.add_event_handler("disconnected", lambda _: self.fail("disconnected"))
        self.add_event_handler("connection_failed", lambda e: self.fail(f"connection failed: {e}"))

    def fail(self, reason):
        if not self.outcome.done():
            self.outcome.set_result(reason)

    async def on_session(self, _event):
        emit({"event": "bound", "jid": str(self.boundjid)})
        requests = [(d, self.make_iq_get(ito=self.args.root), "get-exchange", {"domain": d})
                    for d in self.args.lookup]
        if self.args.renew:
            requests.append(("renew-lease", self.make_iq_set(ito=self.args.root), "renew-lease", {}))
        for label, iq, name, attrs in requests:
            iq.append(ET.Element(f"{{{REGISTRY_NS}}}{name}", attrs))
            try:
                answer = await iq.send(timeout=self.args.timeout)
            except IqError as e:
                answer = e.iq
            except IqTimeout:
                self.fail(f"no answer to {label} within {self.args.timeout} s")
                return
            emit({
                "event": "answer",
                "lookup": label,
                "type": answer["type"],
                "from": str(answer["from"]),
                "to": str(answer["to"]),
                "xml": str(answer),
            })
        self.fail(None)


def emit(obj):
    print(json.dumps(obj), flush=True)


async def run(args):
    client = Lookup(args)
    client.connect(args.host, args.port)
    try:
        reason = await asyncio.wait_for(client.outcome, timeout=args.timeout * (2 + len(args.lookup)))
    except asyncio.TimeoutError:
        reason = "timed out"
    client.disconnect()
    return reason


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jid", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--ca", required=True, help="PEM CA file the server certificate must chain to")
    p.add_argument("--root", required=True, help="the root's XMPP domain")
    p.add_argument("--lookup", action="append", default=[], help="Exchange domain to look up")
    p.add_argument("--renew", action="store_true",
                   help="then renew the lease of our own domain's Exchange (a write)")
    p.add_argument("--timeout", type=float, default=20.0)
    args = p.parse_args()
    reason = asyncio.run(run(args))
    if reason is not None:
        print(f"registry_lookup.py: {reason}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
