// Test harness: runs the real core in-process on a generated settings directory, with a plain HTTP
// listener on 127.0.0.1 (no trusted_hosts), so module tests exercise real sockets, real settings
// loading and the real error conventions. Written by the core; see startTestProxy below.
// (Implementation lands with the core runtime.)
export {};
