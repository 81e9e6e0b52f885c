//! root-node integration tests.
