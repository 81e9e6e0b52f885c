//! `icroot bench` against an in-process dev cluster: a short closed-loop run with every op kind
//! and a short open-loop run both finish with answered requests of each kind, no errors, and
//! the JSON shape docs/benchmarks.md describes; an overloaded open loop counts what it could not
//! send and measures latency from the scheduled send time.

use root_node::bench::{self, BenchArgs, Mix};
use root_node::dev::{DevCluster, DevOptions};

fn args(dir: &std::path::Path, rate: Option<f64>) -> BenchArgs {
    BenchArgs {
        dev_dir: Some(dir.to_owned()),
        profile: None,
        ca_cert: None,
        ca_key: None,
        pki_dir: None,
        domains: 3,
        concurrency: 4,
        duration: 2.0,
        warmup: 0.0,
        rate,
        mix: Mix::parse("write=1,renew=1,read=1,stale=1").unwrap(),
        spread: true,
        timeout: 10.0,
    }
}

fn assert_shape(j: &serde_json::Value, kinds: &[&str]) {
    assert!(j["ops"].as_u64().unwrap() > 0, "{j:#}");
    assert_eq!(j["errors_total"], 0, "{j:#}");
    assert_eq!(j["unsent"], 0, "{j:#}");
    assert!(j["errors"].as_object().unwrap().is_empty(), "{j:#}");
    assert!(j["throughput_per_sec"].as_f64().unwrap() > 0.0, "{j:#}");
    assert!(j["elapsed_secs"].as_f64().unwrap() >= 1.5, "{j:#}");
    for k in kinds {
        let op = &j["by_op"][k];
        assert!(op["ok"].as_u64().unwrap() > 0, "{k}: {j:#}");
        let lat = &op["latency_us"];
        let q: Vec<u64> =
            ["p50", "p90", "p99", "p999", "max"].iter().map(|p| lat[p].as_u64().unwrap()).collect();
        assert!(q[0] > 0 && q.windows(2).all(|w| w[0] <= w[1]), "{k} quantiles ascend: {lat}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bench_runs_closed_and_open_loop_against_a_dev_cluster() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("c");
    let cluster = DevCluster::start(&DevOptions { nodes: 3, dir: dir.clone() }).await.unwrap();

    // With the progress bar on (drawn only on a terminal; its task must let go of the clients).
    let closed = bench::run(&args(&dir, None), true).await.unwrap().to_json();
    assert_eq!(closed["settings"]["mode"], "closed");
    assert_eq!(closed["settings"]["concurrency"], 4);
    assert_shape(&closed, &["write", "renew", "read", "stale"]);

    // Open loop at 40 requests/s for 2 s: about 80 requests are scheduled, all answered.
    let open = bench::run(&args(&dir, Some(40.0)), false).await.unwrap().to_json();
    assert_eq!(open["settings"]["mode"], "open");
    assert_shape(&open, &[]);
    let ops = open["ops"].as_u64().unwrap();
    assert!((70..=81).contains(&ops), "open loop sends what is scheduled: {open:#}");

    // Open loop far beyond what one worker can do: the slots it could not send by the end are
    // counted, and latency counts from the scheduled time, so the queueing shows (about the
    // whole second for the last requests), not just each request's service time.
    let mut overload = args(&dir, Some(100_000.0));
    (overload.concurrency, overload.duration, overload.mix) = (1, 1.0, Mix::parse("stale").unwrap());
    let over = bench::run(&overload, false).await.unwrap().to_json();
    let (ops, unsent) = (over["ops"].as_u64().unwrap(), over["unsent"].as_u64().unwrap());
    assert!(ops > 0 && unsent > 0, "{over:#}");
    assert!((99_000..=100_001).contains(&(ops + unsent)), "every slot is sent or counted: {over:#}");
    let max = over["by_op"]["stale"]["latency_us"]["max"].as_u64().unwrap();
    assert!(max > 500_000, "latency from the scheduled send time: {over:#}");

    // A warm-up runs the load but is not counted: 1 s of warm-up and 1 s measured report about
    // 1 s of elapsed time, not 2.
    let mut warm = args(&dir, None);
    (warm.warmup, warm.duration) = (1.0, 1.0);
    let w = bench::run(&warm, false).await.unwrap().to_json();
    assert_eq!(w["settings"]["warmup_secs"], 1.0);
    let elapsed = w["elapsed_secs"].as_f64().unwrap();
    assert!(w["ops"].as_u64().unwrap() > 0 && (1.0..1.8).contains(&elapsed), "{w:#}");

    // The bench domains were registered as Exchanges by the setup phase and written since.
    let probe = root_node::profile::Profile::load(&dir.join("profiles/ix1.demo.lan.toml")).unwrap();
    let client = root_node::client::Client::connect(&probe).unwrap();
    let get = proto::stanza::registry::RegistryRequest::GetExchange(proto::stanza::registry::GetExchange {
        domain: "bench-2.demo.lan".into(),
        consistency: proto::stanza::registry::Consistency::Linearizable,
    });
    match client.request(&get).await.unwrap() {
        Some(proto::stanza::registry::RegistryResult::Exchange(x)) => {
            assert_eq!(x.spec.organisation, "icroot bench");
        }
        other => panic!("bench-2 is registered: {other:?}"),
    }
    client.close().await;
    cluster.shutdown().await;
}

#[tokio::test]
async fn bench_without_a_dev_cluster_says_what_is_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let e = bench::run(&args(tmp.path(), None), false).await.unwrap_err();
    assert!(format!("{e:#}").contains("icroot dev"), "{e:#}");
}

#[tokio::test]
async fn bench_of_a_profile_needs_the_ca_and_refuses_a_missing_one() {
    use clap::Parser as _;
    let tmp = tempfile::tempdir().unwrap();
    // --profile without the CA, and --dev-dir with --profile, are refused by the parser.
    for argv in [
        vec!["icroot", "bench", "--profile", "p.toml"],
        vec!["icroot", "bench", "--profile", "p.toml", "--ca-cert", "c", "--ca-key", "k", "--dev-dir", "d"],
        vec!["icroot", "bench", "--ca-cert", "c", "--ca-key", "k"],
    ] {
        assert!(root_node::cli::Cli::try_parse_from(&argv).is_err(), "{argv:?} must be refused");
    }
    let mut a = args(tmp.path(), None);
    a.dev_dir = None;
    a.profile = Some(tmp.path().join("missing.toml"));
    a.ca_cert = Some(tmp.path().join("ca.pem"));
    a.ca_key = Some(tmp.path().join("ca.key"));
    let e = bench::run(&a, false).await.unwrap_err();
    assert!(format!("{e:#}").contains("missing.toml"), "{e:#}");
}
