//! AppendEntries with 64 entries of 256 bytes: the XML path (openraft request → `<append/>` →
//! bytes → parse → openraft request) against prost encode+decode of the same data, same run.
//!
//! Run: `cargo bench -p proto --all-features --bench append_entries`. With `BENCH_ON_CPU=1` the
//! bench measures the thread's CPU time instead of wall time: on a machine shared with other
//! work, time spent waiting for a core would otherwise be counted as the code's.

use std::hint::black_box;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{Criterion, Throughput};
use openraft::raft::AppendEntriesRequest;
use openraft::{CommittedLeaderId, EntryPayload, LogId, Vote};
use prost::Message as _;
use proto::raft_types::{
    append_entries_request_from_stanza, append_entries_request_to_stanza, entry_from_record, entry_to_record,
    RaftTypes,
};
use proto::record::Command;
use proto::stanza::raft::{Append, LogEntryRecord};
use proto::xml::{parse_fragment, write};

const ENTRIES: u64 = 64;
const ENTRY_BYTES: usize = 256;
const CLUSTER: &str = "bench";

/// The prost baseline: the same request as one protobuf message.
#[derive(Clone, PartialEq, prost::Message)]
struct AppendProst {
    #[prost(uint64, tag = "1")]
    term: u64,
    #[prost(uint64, tag = "2")]
    leader: u64,
    #[prost(bool, tag = "3")]
    committed: bool,
    #[prost(message, optional, tag = "4")]
    prev_log_id: Option<LogIdProst>,
    #[prost(message, optional, tag = "5")]
    leader_commit: Option<LogIdProst>,
    #[prost(message, repeated, tag = "6")]
    entries: Vec<LogEntryRecord>,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
struct LogIdProst {
    #[prost(uint64, tag = "1")]
    term: u64,
    #[prost(uint64, tag = "2")]
    node: u64,
    #[prost(uint64, tag = "3")]
    index: u64,
}

fn log_id_prost(l: &LogId<u64>) -> LogIdProst {
    LogIdProst { term: l.leader_id.term, node: l.leader_id.node_id, index: l.index }
}

fn log_id_raft(l: LogIdProst) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(l.term, l.node), l.index)
}

/// A command whose encoding is `ENTRY_BYTES` bytes long (the actor string fills it).
fn command(seed: u64) -> Command {
    // 3 bytes of prost framing (tag + 2-byte length) around the string.
    let actor: String =
        (0..ENTRY_BYTES - 3).map(|i| char::from(b'a' + ((i as u64 + seed) % 26) as u8)).collect();
    let c = Command { actor, ..Default::default() };
    debug_assert_eq!(c.encoded_len(), ENTRY_BYTES);
    c
}

fn request() -> AppendEntriesRequest<RaftTypes> {
    AppendEntriesRequest {
        vote: Vote::new_committed(42, 1),
        prev_log_id: Some(LogId::new(CommittedLeaderId::new(41, 1), 1_000_000)),
        entries: (1..=ENTRIES)
            .map(|i| openraft::Entry {
                log_id: LogId::new(CommittedLeaderId::new(42, 1), 1_000_000 + i),
                payload: EntryPayload::Normal(command(i)),
            })
            .collect(),
        leader_commit: Some(LogId::new(CommittedLeaderId::new(41, 1), 999_990)),
    }
}

fn xml_round_trip(
    req: &AppendEntriesRequest<RaftTypes>,
    buf: &mut Vec<u8>,
) -> AppendEntriesRequest<RaftTypes> {
    buf.clear();
    write::write_stanza(&append_entries_request_to_stanza(req, CLUSTER).to_element(), "jabber:server", buf);
    let text = std::str::from_utf8(buf).expect("utf-8");
    let el = parse_fragment(text).expect("parses");
    let append = Append::try_from(&el).expect("typed");
    append_entries_request_from_stanza(&append, CLUSTER).expect("converts")
}

fn prost_round_trip(
    req: &AppendEntriesRequest<RaftTypes>,
    buf: &mut Vec<u8>,
) -> AppendEntriesRequest<RaftTypes> {
    buf.clear();
    let msg = AppendProst {
        term: req.vote.leader_id.term,
        leader: req.vote.leader_id.node_id,
        committed: req.vote.committed,
        prev_log_id: req.prev_log_id.as_ref().map(log_id_prost),
        leader_commit: req.leader_commit.as_ref().map(log_id_prost),
        entries: req.entries.iter().map(entry_to_record).collect(),
    };
    msg.encode(buf).expect("vec grows");
    let back = AppendProst::decode(buf.as_slice()).expect("decodes");
    let mut vote = Vote::new(back.term, back.leader);
    vote.committed = back.committed;
    AppendEntriesRequest {
        vote,
        prev_log_id: back.prev_log_id.map(log_id_raft),
        entries: back.entries.into_iter().map(|r| entry_from_record(r).expect("entry")).collect(),
        leader_commit: back.leader_commit.map(log_id_raft),
    }
}

fn bench<M: Measurement>(c: &mut Criterion<M>) {
    let req = request();
    let mut buf = Vec::new();
    // Both paths must give back what they were given, or the comparison means nothing.
    assert_eq!(xml_round_trip(&req, &mut buf).entries, req.entries);
    let xml_len = buf.len();
    assert_eq!(prost_round_trip(&req, &mut buf).entries, req.entries);
    eprintln!("wire bytes: xml {xml_len}, prost {}", buf.len());

    let mut g = c.benchmark_group("append_entries_64x256");
    g.throughput(Throughput::Elements(ENTRIES));
    g.bench_function("xml", |b| b.iter(|| black_box(xml_round_trip(black_box(&req), &mut buf))));
    g.bench_function("prost", |b| b.iter(|| black_box(prost_round_trip(black_box(&req), &mut buf))));
    g.finish();

    // Where the XML path's time goes, stage by stage, so a regression points at its layer.
    let el = append_entries_request_to_stanza(&req, CLUSTER).to_element();
    buf.clear();
    write::write_stanza(&el, "jabber:server", &mut buf);
    let text = String::from_utf8(buf.clone()).expect("utf-8");
    let mut g = c.benchmark_group("append_entries_64x256_xml_stages");
    g.bench_function("1_to_element", |b| {
        b.iter(|| black_box(append_entries_request_to_stanza(black_box(&req), CLUSTER).to_element()))
    });
    g.bench_function("2_write", |b| {
        b.iter(|| {
            buf.clear();
            write::write_stanza(black_box(&el), "jabber:server", &mut buf);
            black_box(buf.len())
        })
    });
    g.bench_function("3_parse_fragment", |b| {
        b.iter(|| black_box(parse_fragment(black_box(&text)).expect("parses")))
    });
    g.bench_function("4_from_element", |b| {
        b.iter(|| {
            let append = Append::try_from(black_box(&el)).expect("typed");
            black_box(append_entries_request_from_stanza(&append, CLUSTER).expect("converts"))
        })
    });
    g.finish();
}

/// CPU time of the calling thread, in nanoseconds (criterion runs the routine on this thread).
struct OnCpu;

fn thread_cpu_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

impl Measurement for OnCpu {
    type Intermediate = u64;
    type Value = u64;

    fn start(&self) -> u64 {
        thread_cpu_ns()
    }
    fn end(&self, start: u64) -> u64 {
        thread_cpu_ns() - start
    }
    fn add(&self, a: &u64, b: &u64) -> u64 {
        a + b
    }
    fn zero(&self) -> u64 {
        0
    }
    fn to_f64(&self, v: &u64) -> f64 {
        *v as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &CpuFormatter
    }
}

/// Shows CPU nanoseconds in the unit wall-time results use, marked as CPU time.
struct CpuFormatter;

impl ValueFormatter for CpuFormatter {
    fn scale_values(&self, typical_ns: f64, values: &mut [f64]) -> &'static str {
        let (factor, unit) = match typical_ns {
            t if t < 1e3 => (1.0, "ns (cpu)"),
            t if t < 1e6 => (1e-3, "µs (cpu)"),
            _ => (1e-6, "ms (cpu)"),
        };
        values.iter_mut().for_each(|v| *v *= factor);
        unit
    }
    fn scale_throughputs(
        &self,
        typical_ns: f64,
        throughput: &Throughput,
        values: &mut [f64],
    ) -> &'static str {
        let _ = typical_ns;
        let (per, unit) = match throughput {
            Throughput::Elements(n) => (*n, "elem/s (cpu)"),
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) => (*n, "B/s (cpu)"),
            Throughput::Bits(n) => (*n, "bit/s (cpu)"),
        };
        values.iter_mut().for_each(|v| *v = per as f64 * 1e9 / *v);
        unit
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
}

fn main() {
    if std::env::var_os("BENCH_ON_CPU").is_some_and(|v| v == "1") {
        let mut c = Criterion::default().with_measurement(OnCpu).configure_from_args();
        bench(&mut c);
        c.final_summary();
    } else {
        let mut c = Criterion::<WallTime>::default().configure_from_args();
        bench(&mut c);
        c.final_summary();
    }
}
