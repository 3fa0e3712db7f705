package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/netguard"
	"github.com/egressgw/egressgw/origination"
)

// Resolver resolves upstream host names for the gateway itself. It must be
// safe for concurrent use and honour ctx.
type Resolver interface {
	LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error)
}

// dialer connects to upstreams as an entry's resolution asks.
// Immutable after construction except rr.
type dialer struct {
	res       Resolver
	guard     *netguard.Guard        // vets addresses resolved at request time
	self      netip.Addr             // the egress address
	listening func(port uint16) bool // whether the gateway listens on port: dialling self there is a request loop
	rr        atomic.Uint32
}

// target is where one upstream's connections go, fixed per snapshot.
type target struct {
	resolution config.Resolution
	host       string           // name to resolve (DNS), or "" to use the requested host (NONE)
	static     []netip.AddrPort // STATIC endpoints
	dnsNames   []string         // DNS endpoints that are host names, with their ports
	dnsPorts   []uint16
	port       uint16 // target port
	timeout    time.Duration
	vet        bool // the addresses are resolved at request time (not STATIC, not MESH_INTERNAL): netguard checks each
}

// dial connects to t; host is the requested host, used with NONE resolution.
// Each address is resolved once and the vetted address itself is dialled:
// when t.vet, an address netguard refuses is skipped, and if every address
// was refused the error is the first refusal (a *netguard.DeniedError).
func (d *dialer) dial(ctx context.Context, t *target, host string) (*net.TCPConn, error) {
	addrs, err := d.addrs(ctx, t, host)
	if err != nil {
		return nil, &origination.ResolveError{Err: err}
	}
	name := host
	if t.host != "" {
		name = t.host
	}
	dl := net.Dialer{Timeout: t.timeout, KeepAlive: 30 * time.Second}
	start := int(d.rr.Add(1))
	var last error
	var refused error // the first address netguard refused
	for i := range addrs {
		a := addrs[(start+i)%len(addrs)]
		if t.vet {
			if err := d.guard.Check(a.Addr()); err != nil {
				if refused == nil {
					refused = err
				}
				continue
			}
		}
		if a.Addr().Unmap() == d.self && d.listening(a.Port()) {
			return nil, fmt.Errorf("dial %s (%s): %w", name, a, origination.ErrLoop)
		}
		c, err := dl.DialTCP(ctx, "tcp", netip.AddrPort{}, a) // no address string to format and parse back
		if err == nil {
			return c, nil
		}
		last = err
	}
	if last == nil && refused != nil {
		var de *netguard.DeniedError
		if _, err := netip.ParseAddr(name); err != nil && errors.As(refused, &de) {
			de.Host = name // a name, not the literal address
		}
		return nil, fmt.Errorf("dial %s: %w", name, refused)
	}
	return nil, fmt.Errorf("connect to %s: %w", name, last)
}

func (d *dialer) addrs(ctx context.Context, t *target, host string) ([]netip.AddrPort, error) {
	switch {
	case t.resolution == config.ResolutionStatic:
		return t.static, nil
	case len(t.dnsNames) > 0:
		var out []netip.AddrPort
		var last error
		for i, n := range t.dnsNames {
			ips, err := d.res.LookupAddrs(ctx, n)
			if err != nil {
				last = err
				continue
			}
			for _, ip := range ips {
				out = append(out, netip.AddrPortFrom(ip, t.dnsPorts[i]))
			}
		}
		if len(out) == 0 {
			return nil, last
		}
		return out, nil
	}
	name := t.host
	if name == "" {
		name = host
	}
	ips, err := d.res.LookupAddrs(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, len(ips))
	for i, ip := range ips {
		out[i] = netip.AddrPortFrom(ip, t.port)
	}
	return out, nil
}

// newTarget fixes where connections for entry e's port p go.
func newTarget(e *config.Entry, p *config.Port) (*target, error) {
	t := &target{resolution: e.Resolution, port: uint16(p.TargetPort), timeout: p.Pool.ConnectTimeout, vet: !e.Internal}
	if t.timeout == 0 {
		t.timeout = 10 * time.Second
	}
	switch {
	case e.Target != "":
		t.host = e.Target
	case e.Resolution == config.ResolutionDNS && e.Host != "" && e.Host[0] != '*':
		t.host = e.Host
	}
	for _, ep := range e.Endpoints {
		port := t.port
		if n, ok := ep.Ports[p.Name]; ok && n != 0 {
			port = uint16(n)
		}
		ip, err := netip.ParseAddr(ep.Address)
		switch {
		case err == nil:
			t.static = append(t.static, netip.AddrPortFrom(ip, port))
		case e.Resolution == config.ResolutionStatic:
			return nil, fmt.Errorf("%s: endpoint %q is not an IP address", e.Source, ep.Address)
		default:
			t.dnsNames = append(t.dnsNames, ep.Address)
			t.dnsPorts = append(t.dnsPorts, port)
		}
	}
	if e.Resolution == config.ResolutionDNS && len(t.static) > 0 && len(t.dnsNames) == 0 {
		t.resolution = config.ResolutionStatic // DNS entries whose endpoints are all IPs
	}
	if t.resolution == config.ResolutionStatic {
		t.vet = false // addresses the operator wrote
	}
	return t, nil
}

// key identifies everything dial depends on, for pooling across reloads.
func (t *target) key() string {
	return fmt.Sprint(t.resolution, "|", t.host, "|", t.static, "|", t.dnsNames, t.dnsPorts, "|", strconv.Itoa(int(t.port)), "|", t.timeout, "|", t.vet)
}
