//! openraft type configuration and conversions (being written).
