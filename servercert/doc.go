// Package servercert serves the certificates of the Gateway servers that
// terminate TLS: material read from files or Secrets, and certificates
// issued by an ACME CA (--acme-ca) for servers that have none, all held in
// one github.com/caddyserver/certmagic cache, which staples OCSP where the
// CA offers it and renews what it issued.
//
// A Manager gives each listener one tls.Config for its whole life; its
// GetConfigForClient picks the server by SNI (exact, then the longest
// wildcard, then "*"; no SNI: the port's only server or its "*" one) from
// the specs of the last Update that worked, and returns that server's own
// immutable tls.Config (versions, cipher suites, client certificates). A
// new Update is provisioned first and swapped in atomically; handshakes
// read it without a lock of this package, and connections already open
// keep what they negotiated.
package servercert
