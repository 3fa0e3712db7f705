// Package route is the gateway's route table: Istio Gateways and
// VirtualServices, compiled (by egress/config) with the ServiceEntries and
// DestinationRules they send traffic to, looked up per request or
// connection as (listener, host or SNI, request) -> route -> cluster.
//
// Like policy/, it is pure: no I/O, no clock, no randomness of its own
// (weighted picks take the caller's number), and a Table is immutable
// once New returns it, so lookups need no lock and allocate nothing.
// Deciding (policy/) and forwarding (egress/, origination/) happen on the
// result, outside this package.
package route
