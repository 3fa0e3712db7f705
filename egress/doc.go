// Package egress is the gateway's engine: listeners on every registered
// port, the classification of each connection (TLS ClientHello or HTTP),
// the policy decision, and the forwarders (SNI passthrough, TCP, HTTP with
// TLS origination). It holds the current configuration as an immutable
// state swapped atomically; the hot path reads it without locks.
package egress
