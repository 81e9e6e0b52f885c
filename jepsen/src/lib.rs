//! `jepsen` — partition and failover harness for testers: nemeses, workloads, histories,
//! linearizability checking and reports. Populated by its own issue.
