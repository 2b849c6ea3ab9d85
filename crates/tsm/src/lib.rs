//! TSM: InfluxDB's time-structured merge file format (blocks, index, tombstones), byte-compatible
//! with InfluxDB 1.x and 2.x.
