//! The HTTP server: InfluxDB OSS v2's API over the metadata store and the storage engine.
