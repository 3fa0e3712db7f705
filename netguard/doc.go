// Package netguard classifies the addresses egressgw is about to dial, so
// that a name resolved at request time (a wildcard's requested host, a DNS
// answer, an ALLOW_ANY Host header, an IP literal) cannot turn the gateway
// into a proxy to the node itself, its link (cloud metadata) or, unless the
// operator allows it, the private network.
//
// It is pure: no network, no logging. Classify names an address's class,
// looking through the IPv6 forms that carry an IPv4 address (IPv4-mapped,
// IPv4-compatible, NAT64, 6to4). A Guard is built once from the node's own
// addresses and the --allow-cidrs prefixes, is then immutable and safe for
// concurrent use, and its Check does not allocate when it allows.
package netguard
