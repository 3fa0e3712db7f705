package config

import (
	"crypto/tls"
	"fmt"
	"slices"
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/egressgw/egressgw/route"
)

// gatewayObj is a compiled Gateway.
type gatewayObj struct {
	obj     *object
	name    string // "namespace/name"
	served  bool   // its selector matched one side's labels
	side    route.Side
	servers []*gwServer
}

// gwServer is one server of a Gateway, before it is merged into its listener.
type gwServer struct {
	gw      *gatewayObj
	field   string // "spec.servers[0]"
	port    uint32
	srv     *route.Server
	nsOf    []string // per srv.Hosts entry: the namespace a VirtualService must be in, "*" for any
	dropped bool     // every host was claimed by an earlier server
}

// serverProtocols maps a Gateway server's port.protocol to its family.
var serverProtocols = map[string]string{
	"HTTP": "http", "HTTP2": "http", "GRPC": "http", "GRPC-WEB": "http", "HTTP_PROXY": "http",
	"HTTPS": "https", "TLS": "tls",
	"TCP": "tcp", "MONGO": "tcp", "MYSQL": "tcp", "REDIS": "tcp", "THRIFT": "tcp",
}

const serverProtocolList = "HTTP, HTTP2, GRPC, GRPC-WEB, HTTPS, TLS, TCP, MONGO, MYSQL, REDIS or THRIFT"

// gateway compiles a Gateway and records it (also when its selector
// matches neither side, so that VirtualServices naming it are not told it
// does not exist).
func (c *compiler) gateway(o *object) {
	f, res := o.File, o.Resource()
	var gw networking.Gateway
	if err := unmarshalSpec(o.Spec, &gw); err != nil {
		c.r.problem(f, res, "spec", "%v", err)
		return
	}
	g := &gatewayObj{obj: o, name: o.Namespace + "/" + o.Name}
	c.gateways = append(c.gateways, g)
	c.gatewayByName[g.name] = g
	switch {
	case labelsSubset(gw.Selector, c.opts.IngressLabels):
		g.served, g.side = true, route.Ingress
	case labelsSubset(gw.Selector, c.opts.Labels):
		g.served, g.side = true, route.Egress
	default:
		c.r.warn(f, res, "spec.selector", "not applied: selector %v matches neither the ingress labels %v nor the egress labels %v",
			gw.Selector, c.opts.IngressLabels, c.opts.Labels)
		return
	}
	if len(gw.Servers) == 0 {
		c.r.problem(f, res, "spec.servers", "at least one server is required")
	}
	for i, s := range gw.Servers {
		if gs := c.gwServer(g, fmt.Sprintf("spec.servers[%d]", i), s); gs != nil {
			g.servers = append(g.servers, gs)
		}
	}
}

func (c *compiler) gwServer(g *gatewayObj, field string, s *networking.Server) *gwServer {
	o := g.obj
	f, res := o.File, o.Resource()
	before := len(c.r.problems)
	if s == nil || s.Port == nil {
		c.r.problem(f, res, field+".port", "required")
		return nil
	}
	if s.Port.Number < 1 || s.Port.Number > 65535 {
		c.r.problem(f, res, field+".port.number", "%d is not a valid port (1-65535)", s.Port.Number)
	}
	family, ok := serverProtocols[strings.ToUpper(s.Port.Protocol)]
	if !ok {
		c.r.problem(f, res, field+".port.protocol", "%q is not supported (use %s)", s.Port.Protocol, serverProtocolList)
	}
	if s.Bind != "" {
		c.r.warn(f, res, field+".bind", "not applied: the listener binds to --ingress-addr (ingress) or the egress address")
	}
	if s.Port.TargetPort != 0 {
		c.r.warn(f, res, field+".port.targetPort", "not applied: egressgw listens on port.number")
	}
	srv := &route.Server{Gateway: g.name, Field: field, PortName: s.Port.Name}
	gs := &gwServer{gw: g, field: field, port: s.Port.Number, srv: srv}
	if len(s.Hosts) == 0 {
		c.r.problem(f, res, field+".hosts", "at least one host is required")
	}
	for i, h := range s.Hosts {
		ns, host, ok := strings.Cut(h, "/")
		if !ok {
			ns, host = "*", h
		}
		if ns == "." {
			ns = o.Namespace
		}
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		if host != "*" {
			if err := checkHost(host, true); err != nil {
				c.r.problem(f, res, fmt.Sprintf("%s.hosts[%d]", field, i), "%v", err)
				continue
			}
		}
		if ns != "*" {
			if err := checkLabel(ns); err != nil {
				c.r.problem(f, res, fmt.Sprintf("%s.hosts[%d]", field, i), "%q is not a valid namespace: %v", ns, err)
				continue
			}
		}
		srv.Hosts = append(srv.Hosts, host)
		gs.nsOf = append(gs.nsOf, ns)
	}
	c.serverTLS(g, field, s.Tls, family, gs)
	if len(c.r.problems) > before {
		return nil
	}
	return gs
}

// serverTLS sets the server's protocol and TLS from its port protocol
// family and tls block.
func (c *compiler) serverTLS(g *gatewayObj, field string, t *networking.ServerTLSSettings, family string, gs *gwServer) {
	o := g.obj
	f, res := o.File, o.Resource()
	srv := gs.srv
	if family == "http" {
		srv.Protocol = route.ProtocolHTTP
		if t != nil {
			srv.HTTPSRedirect = t.HttpsRedirect
			if t.ServerCertificate != "" || t.CredentialName != "" || t.Mode != networking.ServerTLSSettings_PASSTHROUGH {
				c.r.warn(f, res, field+".tls", "only httpsRedirect applies to a plaintext %s server (use protocol HTTPS to terminate TLS)", "HTTP")
			}
		}
		return
	}
	if t == nil {
		switch family {
		case "https":
			c.r.problem(f, res, field+".tls", "an HTTPS server needs tls (mode SIMPLE or MUTUAL to terminate, PASSTHROUGH to route by SNI)")
		case "tls":
			srv.Protocol, srv.TLS = route.ProtocolTLS, &route.ServerTLS{Mode: route.TLSPassthrough, Source: "passthrough"}
		default:
			srv.Protocol = route.ProtocolTCP
		}
		return
	}
	if t.HttpsRedirect {
		c.r.warn(f, res, field+".tls.httpsRedirect", "not applied: the server already speaks TLS")
	}
	terminated := route.ProtocolHTTP
	if family != "https" {
		terminated = route.ProtocolTCP
	}
	switch t.Mode {
	case networking.ServerTLSSettings_PASSTHROUGH, networking.ServerTLSSettings_AUTO_PASSTHROUGH:
		srv.Protocol, srv.TLS = route.ProtocolTLS, &route.ServerTLS{Mode: route.TLSPassthrough, Source: "passthrough"}
	case networking.ServerTLSSettings_ISTIO_MUTUAL:
		if g.side == route.Ingress {
			c.r.problem(f, res, field+".tls.mode", "ISTIO_MUTUAL needs the mesh's CA, which egressgw does not have (no sidecars): use SIMPLE or MUTUAL with a certificate")
			return
		}
		// The sidecar-to-gateway leg: a pod without sidecar sends plaintext.
		srv.Protocol, srv.TLS = terminated, &route.ServerTLS{Mode: route.TLSAcceptPlaintext, Source: "ISTIO_MUTUAL (plaintext from pods accepted as the mesh leg)"}
	case networking.ServerTLSSettings_SIMPLE, networking.ServerTLSSettings_MUTUAL, networking.ServerTLSSettings_OPTIONAL_MUTUAL:
		srv.Protocol = terminated
		srv.TLS = c.terminatingTLS(o, field+".tls", t)
	default:
		c.r.problem(f, res, field+".tls.mode", "%v is not supported (use SIMPLE, MUTUAL, OPTIONAL_MUTUAL, PASSTHROUGH, AUTO_PASSTHROUGH or, on egress, ISTIO_MUTUAL)", t.Mode)
	}
}

// terminatingTLS reads and validates the material of a SIMPLE, MUTUAL or
// OPTIONAL_MUTUAL server.
func (c *compiler) terminatingTLS(o *object, field string, t *networking.ServerTLSSettings) *route.ServerTLS {
	f, res := o.File, o.Resource()
	mode := t.Mode.String() // "MUTUAL" or "OPTIONAL_MUTUAL" in messages
	mutual := t.Mode == networking.ServerTLSSettings_MUTUAL || t.Mode == networking.ServerTLSSettings_OPTIONAL_MUTUAL
	out := &route.ServerTLS{Mode: route.TLSSimple}
	switch t.Mode {
	case networking.ServerTLSSettings_MUTUAL:
		out.Mode = route.TLSMutual
	case networking.ServerTLSSettings_OPTIONAL_MUTUAL:
		out.Mode = route.TLSOptionalMutual
	}
	if t.CaCrl != "" {
		c.r.problem(f, res, field+".caCrl", "certificate revocation lists are not supported")
	}
	if len(t.TlsCertificates) > 0 {
		c.r.problem(f, res, field+".tlsCertificates", "not supported: use credentialName or serverCertificate and privateKey")
	}
	for _, u := range []struct {
		name string
		set  bool
	}{{"subjectAltNames", len(t.SubjectAltNames) > 0}, {"verifyCertificateSpki", len(t.VerifyCertificateSpki) > 0}, {"verifyCertificateHash", len(t.VerifyCertificateHash) > 0}} {
		if u.set {
			c.r.warn(f, res, field+"."+u.name, "not applied: client certificates are verified against the CA only")
		}
	}
	cred := t.CredentialName
	if cred == "" && len(t.CredentialNames) > 0 {
		cred = t.CredentialNames[0]
		if len(t.CredentialNames) > 1 {
			c.r.warn(f, res, field+".credentialNames", "only the first credential (%s) is served", cred)
		}
	}
	certField := field + ".serverCertificate"
	switch {
	case cred != "":
		certField = field + ".credentialName"
		if t.ServerCertificate != "" || t.PrivateKey != "" {
			c.r.problem(f, res, certField, "cannot be combined with serverCertificate and privateKey")
		}
		if cr, missing := c.findCredential(o, cred); missing != "" {
			// Istio serves the rest: only this server's handshakes fail.
			out.Unserved = "credentialName " + cred + ": " + missing
			out.Source = "Secret " + cred + " (not found)"
			c.r.unservedServer(f, res, certField, "IST0101 referenced credentialName not found: %s; this server is not served (its TLS handshakes fail) until the Secret exists", missing)
		} else {
			out.CertPEM, out.KeyPEM, out.CAPEM = cr.cert, cr.key, cr.ca
			out.Source = "Secret " + cr.name
			if cr.cert == nil || cr.key == nil {
				c.r.problem(f, res, certField, "Secret %s has no server certificate and key (keys tls.crt and tls.key, or cert and key)", cr.name)
			}
		}
	case t.ServerCertificate != "" || t.PrivateKey != "":
		if t.ServerCertificate == "" {
			c.r.problem(f, res, field+".serverCertificate", "required with privateKey")
		} else {
			out.CertPEM = c.readFile(o, field+".serverCertificate", t.ServerCertificate)
		}
		if t.PrivateKey == "" {
			c.r.problem(f, res, field+".privateKey", "required with serverCertificate")
		} else {
			out.KeyPEM = c.readFile(o, field+".privateKey", t.PrivateKey)
		}
		out.Source = "files " + t.ServerCertificate + " " + t.PrivateKey
	case mutual:
		c.r.problem(f, res, field, "%s needs a server certificate: set credentialName, or serverCertificate and privateKey", mode)
	default:
		out.ACME, out.Source = true, "ACME"
	}
	if mutual {
		switch {
		case t.CaCertificates != "":
			out.CAPEM = c.readFile(o, field+".caCertificates", t.CaCertificates)
		case t.CaCertCredentialName != "":
			if cr, ok := c.credential(o, field+".caCertCredentialName", t.CaCertCredentialName); ok {
				out.CAPEM = cr.ca
			}
		}
		switch {
		case out.CAPEM == nil && out.Unserved != "":
			// the missing Secret is the warning; its ca.crt may be what is missing
		case out.CAPEM == nil:
			how := "set caCertificates, or credentialName with a Secret that has ca.crt"
			if cred != "" {
				how = fmt.Sprintf("set caCertificates, or add ca.crt to the credential's Secret, or create a Secret %s-cacert", cred)
			}
			c.r.problem(f, res, field+".caCertificates", "%s needs the CA that signs client certificates: %s", mode, how)
		default:
			if _, err := parseCAs(out.CAPEM); err != nil {
				c.r.problem(f, res, field+".caCertificates", "%v", err)
			}
		}
	} else if t.CaCertificates != "" {
		c.r.warn(f, res, field+".caCertificates", "not applied: mode is SIMPLE (client certificates are not requested)")
	}
	if out.CertPEM != nil && out.KeyPEM != nil {
		if _, err := tls.X509KeyPair(out.CertPEM, out.KeyPEM); err != nil {
			c.r.problem(f, res, certField, "server certificate and key: %v", err)
		}
	}
	out.MinVersion = c.tlsVersion(o, field+".minProtocolVersion", t.MinProtocolVersion, tls.VersionTLS12)
	out.MaxVersion = c.tlsVersion(o, field+".maxProtocolVersion", t.MaxProtocolVersion, 0)
	if out.MaxVersion != 0 && out.MaxVersion < out.MinVersion {
		c.r.problem(f, res, field+".maxProtocolVersion", "%s is below minProtocolVersion %s", t.MaxProtocolVersion, tls.VersionName(out.MinVersion))
	}
	out.CipherSuites = c.cipherSuites(o, field+".cipherSuites", t.CipherSuites)
	suites := make([]string, len(out.CipherSuites))
	for i, s := range out.CipherSuites {
		suites[i] = fmt.Sprint(s)
	}
	out.Fingerprint = fingerprint(t.Mode.String(), fmt.Sprintf("%d-%d-%v-%s", out.MinVersion, out.MaxVersion, out.ACME, out.Unserved), suites, false, out.CertPEM, out.KeyPEM, out.CAPEM)
	return out
}

func (c *compiler) tlsVersion(o *object, field string, v networking.ServerTLSSettings_TLSProtocol, auto uint16) uint16 {
	switch v {
	case networking.ServerTLSSettings_TLS_AUTO:
		return auto
	case networking.ServerTLSSettings_TLSV1_0:
		return tls.VersionTLS10
	case networking.ServerTLSSettings_TLSV1_1:
		return tls.VersionTLS11
	case networking.ServerTLSSettings_TLSV1_2:
		return tls.VersionTLS12
	case networking.ServerTLSSettings_TLSV1_3:
		return tls.VersionTLS13
	}
	c.r.problem(o.File, o.Resource(), field, "%v is not supported (use TLSV1_0, TLSV1_1, TLSV1_2 or TLSV1_3)", v)
	return auto
}

// envoyCiphers maps Envoy's (BoringSSL's) cipher suite names to crypto/tls's.
var envoyCiphers = map[string]uint16{
	"ECDHE-ECDSA-AES128-GCM-SHA256": tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-RSA-AES128-GCM-SHA256":   tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	"ECDHE-ECDSA-AES256-GCM-SHA384": tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-RSA-AES256-GCM-SHA384":   tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	"ECDHE-ECDSA-CHACHA20-POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-RSA-CHACHA20-POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	"ECDHE-ECDSA-AES128-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	"ECDHE-RSA-AES128-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	"ECDHE-ECDSA-AES256-SHA":        tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	"ECDHE-RSA-AES256-SHA":          tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
	"AES128-GCM-SHA256":             tls.TLS_RSA_WITH_AES_128_GCM_SHA256,
	"AES256-GCM-SHA384":             tls.TLS_RSA_WITH_AES_256_GCM_SHA384,
	"AES128-SHA":                    tls.TLS_RSA_WITH_AES_128_CBC_SHA,
	"AES256-SHA":                    tls.TLS_RSA_WITH_AES_256_CBC_SHA,
}

// cipherSuites maps cipherSuites names (Envoy's, or crypto/tls's
// TLS_ECDHE_... names; "[A|B]" equal-preference groups flattened) to IDs.
// TLS 1.3 suites are not configurable in crypto/tls and are skipped.
func (c *compiler) cipherSuites(o *object, field string, names []string) []uint16 {
	if len(names) == 0 {
		return nil
	}
	known := map[string]uint16{}
	for k, v := range envoyCiphers {
		known[k] = v
	}
	for _, s := range slices.Concat(tls.CipherSuites(), tls.InsecureCipherSuites()) {
		known[s.Name] = s.ID
	}
	var out []uint16
	for i, n := range names {
		for _, part := range strings.Split(strings.Trim(n, "[]"), "|") {
			part = strings.TrimSpace(part)
			if id, ok := known[part]; ok {
				if !slices.Contains(out, id) {
					out = append(out, id)
				}
				continue
			}
			if strings.HasPrefix(part, "TLS_AES_") || strings.HasPrefix(part, "TLS_CHACHA20_") {
				continue // TLS 1.3: always on
			}
			allowed := make([]string, 0, len(envoyCiphers))
			for k := range envoyCiphers {
				allowed = append(allowed, k)
			}
			slices.Sort(allowed)
			c.r.problem(o.File, o.Resource(), fmt.Sprintf("%s[%d]", field, i), "unknown cipher suite %q (use one of %s, or Go's TLS_ECDHE_... names)", part, strings.Join(allowed, ", "))
		}
	}
	return out
}

// tlsKey identifies a server's TLS settings, for conflicts between servers.
func tlsKey(t *route.ServerTLS) string {
	if t == nil {
		return "plaintext"
	}
	return fmt.Sprintf("%d|%s", t.Mode, t.Fingerprint)
}

// plaintext reports whether a server reads plaintext from clients.
func plaintext(s *route.Server) bool {
	return s.TLS == nil || s.TLS.Mode == route.TLSAcceptPlaintext
}

// mergeServers groups the served Gateways' servers by (side, port), in
// Istio's order, into listeners. A host claimed by an earlier server on
// the same port is not served by a later one: a warning when the TLS
// settings are the same, a problem (IST0145) when they differ.
func (c *compiler) mergeServers() {
	type claim struct {
		gs *gwServer
	}
	for _, g := range c.gateways {
		if !g.served {
			continue
		}
		for _, gs := range g.servers {
			l := c.listener(g.side, gs.port)
			claims := c.claims[l]
			if claims == nil {
				claims = map[string]*gwServer{}
				c.claims[l] = claims
			}
			f, res := g.obj.File, g.obj.Resource()
			if len(l.Servers) > 0 {
				first := c.serverOf[l.Servers[0]]
				if plaintext(first.srv) != plaintext(gs.srv) || plaintext(gs.srv) && first.srv.Protocol != gs.srv.Protocol {
					c.r.problem(f, res, gs.field, "%s port %d: cannot share the port with %s (%s): one is %s, the other %s",
						g.side, gs.port, first.srv.Name(), first.gw.obj.File, describeServer(first.srv), describeServer(gs.srv))
					continue
				}
			}
			var hosts, nsOf []string
			for i, h := range gs.srv.Hosts {
				prev := claims[h]
				switch {
				case prev == nil:
					claims[h] = gs
					hosts, nsOf = append(hosts, h), append(nsOf, gs.nsOf[i])
				case tlsKey(prev.srv.TLS) != tlsKey(gs.srv.TLS):
					c.r.problem(f, res, gs.field, "IST0145 conflicting gateways: host %s on %s port %d is also served by %s with different TLS settings (%s); one host and port can have one TLS configuration",
						h, g.side, gs.port, prev.srv.Name(), describeServer(prev.srv))
				default:
					c.r.unservedServer(f, res, gs.field, "host %s on %s port %d is not served by this server: %s, which comes first, already serves it with the same settings",
						h, g.side, gs.port, prev.srv.Name())
				}
			}
			if len(hosts) == 0 {
				gs.dropped = true
				continue
			}
			gs.srv.Hosts, gs.nsOf = hosts, nsOf
			l.Servers = append(l.Servers, gs.srv)
			c.serverOf[gs.srv] = gs
		}
	}
}

func describeServer(s *route.Server) string {
	switch {
	case s.TLS == nil && s.Protocol == route.ProtocolHTTP:
		return "plaintext HTTP"
	case s.TLS == nil:
		return "plaintext TCP"
	case s.TLS.Mode == route.TLSAcceptPlaintext:
		return "ISTIO_MUTUAL (plaintext from pods)"
	case s.TLS.Mode == route.TLSPassthrough:
		return "TLS PASSTHROUGH"
	case s.TLS.Mode == route.TLSMutual:
		return "TLS MUTUAL (" + s.TLS.Source + ")"
	case s.TLS.Mode == route.TLSOptionalMutual:
		return "TLS OPTIONAL_MUTUAL (" + s.TLS.Source + ")"
	default:
		return "TLS SIMPLE (" + s.TLS.Source + ")"
	}
}

// listener returns the route listener of (side, port), creating it.
func (c *compiler) listener(side route.Side, port uint32) *route.Listener {
	k := sidePort{side, port}
	if l, ok := c.routeLs[k]; ok {
		return l
	}
	l := &route.Listener{Side: side, Port: port}
	c.routeLs[k] = l
	c.routeOrder = append(c.routeOrder, l)
	return l
}

// sidePort identifies a listener.
type sidePort struct {
	side route.Side
	port uint32
}

// admits returns the hosts of the virtual hosts that binding VirtualService
// host h from namespace ns to server gs makes: for each server host the
// namespace rule lets it bind, the narrower of the two when one covers the
// other ("*" bound to a server of a.com and b.com gives a.com and b.com).
func (gs *gwServer) admits(h, ns string) []string {
	var out []string
	for i, sh := range gs.srv.Hosts {
		if gs.nsOf[i] != "*" && gs.nsOf[i] != ns {
			continue
		}
		vh := ""
		switch {
		case hostCovers(sh, h):
			vh = h
		case hostCovers(h, sh):
			vh = sh
		default:
			continue
		}
		if !slices.Contains(out, vh) {
			out = append(out, vh)
		}
	}
	return out
}

// hostCovers reports whether pattern (exact, "*.suffix" or "*") covers host
// (exact or a narrower pattern).
func hostCovers(pattern, host string) bool {
	return pattern == host || isWildcard(pattern) && wildcardCovers(pattern, host)
}
