// Package dnsproxy is the DNS server that pods use through the gateway.
//
// A Handler (a miekg/dns Handler) answers every query for a registered
// external name (Istio ServiceEntry hosts, wildcards included, and the
// NAME.NS.svc.<cluster-domain> names of ExternalName Services) with the
// gateway's own egress address, so that the pod's connection comes to the
// gateway. It never hands out the real addresses of such a name, nor any
// record (AAAA, HTTPS, SVCB) that carries them. Every other name is
// forwarded to the upstream resolver, except that under REGISTRY_ONLY an
// unregistered external name is answered NXDOMAIN with the Extended DNS
// Error "Blocked" (RFC 8914), and nothing is sent upstream. When pods are
// known (Config.Identities) and the names answer per pod (PodNames), each
// query is answered for the client's pod: a name its namespace is not
// exported, or its Sidecar does not select, is answered as unregistered,
// under the outbound traffic policy that applies to that pod.
//
// Server runs a Handler on UDP and TCP. Resolver resolves upstream host
// names for the gateway itself, through the same upstream, with a cache.
package dnsproxy
