package dnsproxy

import "github.com/miekg/dns"

// ednsUDPSize is the UDP payload size advertised in the OPT records the
// gateway writes itself (the DNS Flag Day 2020 value).
const ednsUDPSize = 1232

// setEDE adds to reply an OPT record carrying an RFC 8914 Extended DNS
// Error, but only if req carried an OPT record: RFC 6891 forbids an OPT in
// a reply to a client that did not send one. The DO bit is mirrored.
func setEDE(reply, req *dns.Msg, code uint16, text string) {
	ropt := req.IsEdns0()
	if ropt == nil {
		return
	}
	opt := newOPT(ropt.Do())
	opt.Option = []dns.EDNS0{&dns.EDNS0_EDE{InfoCode: code, ExtraText: text}}
	reply.Extra = append(reply.Extra, opt)
}

// newOPT returns an empty OPT record advertising ednsUDPSize.
func newOPT(do bool) *dns.OPT {
	opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
	opt.SetUDPSize(ednsUDPSize)
	if do {
		opt.SetDo()
	}
	return opt
}

// blockedText is the EDE text of a blocked query.
func blockedText(name string) string {
	return "egressgw: " + name + " is not registered (outboundTrafficPolicy REGISTRY_ONLY)"
}
