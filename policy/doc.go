// Package policy decides whether traffic may leave through the gateway.
//
// It is pure: no network, no logging, no clock. A Policy is built once per
// configuration snapshot (NewRegistry, NewAuthz) and is then immutable and
// safe for concurrent use; Decide does not allocate.
package policy
