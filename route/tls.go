package route

// ServerFor returns the server that terminates a TLS connection with the
// given SNI (lowercase): the server whose hosts admit it. With no SNI, the
// port's only server, or the one whose hosts are "*"; otherwise nil (the
// handshake fails with unrecognized_name).
func (l *Listener) ServerFor(sni string) *Server {
	if sni == "" {
		if len(l.Servers) == 1 {
			return l.Servers[0]
		}
		if l.servers.any >= 0 {
			return l.Servers[l.servers.any]
		}
		return nil
	}
	if i := l.servers.find(sni); i >= 0 {
		return l.Servers[i]
	}
	return nil
}

// LookupTLS returns the first TLS route whose sniHosts admit sni and whose
// port (if set) is port, or nil. The gateway is the one of the server
// admitting sni, or mesh when none does (LookupTLSVia names it).
func (l *Listener) LookupTLS(sni string, port uint32) *TLSRoute {
	gw := Mesh
	if s := l.ServerFor(sni); s != nil && sni != "" {
		gw = s.Gateway
	}
	return l.LookupTLSVia(gw, sni, port)
}

// LookupTLSVia is LookupTLS for a connection that came through gateway gw
// ("namespace/name", or "mesh" for a pod's own connection): routes whose
// gateways do not include it are skipped.
func (l *Listener) LookupTLSVia(gw, sni string, port uint32) *TLSRoute {
	return l.LookupTLSFrom(gw, sni, port, Source{})
}

// LookupTLSFrom is LookupTLSVia for a pod's connection from src: the mesh
// routes not exported to its namespace are skipped (see Source).
func (l *Listener) LookupTLSFrom(gw, sni string, port uint32, src Source) *TLSRoute {
	for _, r := range l.TLS {
		if r.Port != 0 && r.Port != port || len(r.Gateways) > 0 && !containsString(r.Gateways, gw) {
			continue
		}
		if r.Export != nil && r.Server == nil && !src.sees(r.Export) {
			continue
		}
		for _, h := range r.SNIHosts {
			if hostMatches(h, sni) {
				return r
			}
		}
	}
	return nil
}

// LookupTCP returns the first TCP route whose port (if set) is port, or
// nil, whatever gateways it is bound to.
func (l *Listener) LookupTCP(port uint32) *TCPRoute { return l.LookupTCPVia("", port) }

// LookupTCPVia is LookupTCP for a connection that came through gateway gw
// (as LookupTLSVia); "" ignores the routes' gateways.
func (l *Listener) LookupTCPVia(gw string, port uint32) *TCPRoute {
	for _, r := range l.TCP {
		if r.Port != 0 && r.Port != port || gw != "" && len(r.Gateways) > 0 && !containsString(r.Gateways, gw) {
			continue
		}
		return r
	}
	return nil
}
