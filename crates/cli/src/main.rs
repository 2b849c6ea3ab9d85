//! `ironflux`: the server and its command-line client.
fn main() {}
