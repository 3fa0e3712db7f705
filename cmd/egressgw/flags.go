package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/egressgw/egressgw/dnsproxy"
	"github.com/egressgw/egressgw/policy"
)

// options are the flags of `egressgw run`.
type options struct {
	configs       []string
	egressAddr    netip.Addr
	dnsListen     string
	dnsUpstream   string
	dnsForwardMax int // forwarded DNS queries in flight
	dnsPerSource  int // of those, from one client address
	mode          policy.Mode
	modeName      string
	adminListen   string
	clusterDomain string
	caFile        string
	logFormat     string
	logLevel      string
	namespace     string
	labels        map[string]string
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func parseRun(args []string) (*options, error) {
	fs := flag.NewFlagSet("egressgw run", flag.ContinueOnError)
	var configs listFlag
	fs.Var(&configs, "config", "YAML file or directory (every *.yaml/*.yml); repeatable; watched for changes")
	egress := fs.String("egress-addr", "127.0.0.1", "address the egress listeners bind and the DNS interceptor answers with")
	dnsListen := fs.String("dns-listen", "", "DNS interceptor address, UDP and TCP (default <egress-addr>:53)")
	dnsUpstream := fs.String("dns-upstream", "", "resolver for names not intercepted and for upstream hosts (default: first nameserver in /etc/resolv.conf)")
	fwdMax := fs.Int("dns-forward-max", dnsproxy.DefaultForwardMax, "forwarded DNS queries in flight at most; past it, SERVFAIL")
	perSource := fs.Int("dns-forward-max-per-source", dnsproxy.DefaultForwardMaxPerSource, "forwarded DNS queries in flight at most from one client address (at most --dns-forward-max)")
	mode := fs.String("outbound-policy", "REGISTRY_ONLY", "REGISTRY_ONLY or ALLOW_ANY")
	admin := fs.String("admin-listen", "127.0.0.1:15000", "admin address: /healthz /readyz /metrics /config_dump")
	domain := fs.String("cluster-domain", "cluster.local", "Kubernetes cluster domain")
	ca := fs.String("ca-file", "", "PEM file of extra roots for TLS origination, added to the system roots")
	format := fs.String("log-format", "json", "json or console")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	ns := fs.String("namespace", "istio-system", "the gateway's own namespace (fallback for credentialName Secrets)")
	labels := fs.String("labels", "istio=egressgateway", "the gateway's labels, k=v,...: AuthorizationPolicies whose selector does not match are not applied")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (configuration goes in --config)", fs.Arg(0))
	}
	if len(configs) == 0 {
		return nil, errors.New("--config is required: a YAML file or directory of Istio resources")
	}
	o := &options{configs: configs, adminListen: *admin, clusterDomain: strings.Trim(*domain, "."), caFile: *ca,
		logFormat: *format, logLevel: *level, namespace: *ns, modeName: strings.ToUpper(*mode)}
	var err error
	if o.egressAddr, err = netip.ParseAddr(*egress); err != nil {
		return nil, fmt.Errorf("--egress-addr %q: not an IP address", *egress)
	}
	o.dnsListen = *dnsListen
	if o.dnsListen == "" {
		o.dnsListen = net.JoinHostPort(o.egressAddr.String(), "53")
	}
	switch o.modeName {
	case "REGISTRY_ONLY":
		o.mode = policy.RegistryOnly
	case "ALLOW_ANY":
		o.mode = policy.AllowAny
	default:
		return nil, fmt.Errorf("--outbound-policy %q: want REGISTRY_ONLY or ALLOW_ANY", *mode)
	}
	if o.dnsUpstream, err = upstreamAddr(*dnsUpstream); err != nil {
		return nil, err
	}
	if *fwdMax < 1 {
		return nil, fmt.Errorf("--dns-forward-max %d: want at least 1", *fwdMax)
	}
	if *perSource < 1 || *perSource > *fwdMax {
		return nil, fmt.Errorf("--dns-forward-max-per-source %d: want 1 to --dns-forward-max (%d)", *perSource, *fwdMax)
	}
	o.dnsForwardMax, o.dnsPerSource = *fwdMax, *perSource
	if o.labels, err = parseLabels(*labels); err != nil {
		return nil, err
	}
	if *format != "json" && *format != "console" {
		return nil, fmt.Errorf("--log-format %q: want json or console", *format)
	}
	return o, nil
}

// upstreamAddr returns s with a default port, or the first nameserver of /etc/resolv.conf.
func upstreamAddr(s string) (string, error) {
	if s == "" {
		f, err := os.Open("/etc/resolv.conf")
		if err != nil {
			return "", fmt.Errorf("--dns-upstream not given and /etc/resolv.conf unreadable: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) >= 2 && fields[0] == "nameserver" {
				s = fields[1]
				break
			}
		}
		if s == "" {
			return "", errors.New("--dns-upstream not given and /etc/resolv.conf names no nameserver")
		}
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		s = net.JoinHostPort(strings.Trim(s, "[]"), "53")
	}
	if ap, err := netip.ParseAddrPort(s); err != nil || !ap.IsValid() {
		return "", fmt.Errorf("--dns-upstream %q: want IP or IP:port", s)
	}
	return s, nil
}

func parseLabels(s string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels: %q is not k=v", kv)
		}
		out[k] = v
	}
	return out, nil
}
