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
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/egressgw/egressgw/dnsproxy"
	"github.com/egressgw/egressgw/egress"
	"github.com/egressgw/egressgw/kube"
	"github.com/egressgw/egressgw/netguard"
	"github.com/egressgw/egressgw/policy"
)

// options are the flags of `egressgw run`.
type options struct {
	configs       []string
	egressAddr    netip.Addr
	egressIface   string // "": the address is the operator's to set up
	dnsListen     string
	dnsUpstream   string
	dnsForwardMax int // forwarded DNS queries in flight
	dnsPerSource  int // of those, from one client address
	mode          policy.Mode
	modeName      string
	adminListen   string
	adminPprof    bool
	clusterDomain string
	caFile        string
	logFormat     string
	logLevel      string
	namespace     string
	trustDomain   string // of AuthorizationPolicy principals
	rootNamespace string // Istio's meshConfig.rootNamespace
	labels        map[string]string
	fastPaths     bool
	allowCIDRs    []netip.Prefix // private addresses names resolved at request time may reach
	pathNorm      egress.PathNormalization
	bodyIdle      time.Duration

	ingressAddr    netip.Addr // invalid: no ingress listener
	ingressLabels  map[string]string
	egressGateways []string       // the egress gateway's own Service names (a mesh route to one is the hop into this gateway)
	trustedProxies []netip.Prefix // whose X-Forwarded-Proto and X-Forwarded-For are believed
	acmeCA         string
	acmeCARoot     string
	acmeEmail      string
	acmeStorage    string

	// Kubernetes: read the configuration from the API server too.
	kube          bool   // --kube and (in a pod, or --kubeconfig given)
	kubeconfig    string // "": in-cluster
	kubeStaleness time.Duration
	crdRecheck    time.Duration // how often kinds whose CRDs are missing are asked for again
	nodeName      string

	reusePort   bool   // SO_REUSEPORT on every listener: a rolling update's new gateway listens beside this one
	adminSocket string // admin on a Unix socket too: this process's own, for a pod's probes
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func parseRun(args []string) (*options, error) {
	fs := flag.NewFlagSet("egressgw run", flag.ContinueOnError)
	var configs, allow, egressGateways, trusted listFlag
	fs.Var(&allow, "allow-cidrs", "private or reserved CIDRs (comma-separated; repeatable) that names resolved at request time may reach; loopback, link-local, metadata and the node's own addresses stay refused")
	fs.Var(&configs, "config", "YAML file or directory (every *.yaml/*.yml); repeatable; watched for changes")
	egressAddr := fs.String("egress-addr", "127.0.0.1", "address the egress listeners bind and the DNS interceptor answers with")
	egressIface := fs.String("egress-interface", "", "at start, create this dummy interface if missing (e.g. egressgw0), put --egress-addr on it and set it up; needs CAP_NET_ADMIN (unset: --egress-addr must already be on the host)")
	dnsListen := fs.String("dns-listen", "", "DNS interceptor address, UDP and TCP (default <egress-addr>:53)")
	dnsUpstream := fs.String("dns-upstream", "", "resolver for names not intercepted and for upstream hosts (default: first nameserver in /etc/resolv.conf)")
	fwdMax := fs.Int("dns-forward-max", dnsproxy.DefaultForwardMax, "forwarded DNS queries in flight at most; past it, SERVFAIL")
	perSource := fs.Int("dns-forward-max-per-source", dnsproxy.DefaultForwardMaxPerSource, "forwarded DNS queries in flight at most from one client address (at most --dns-forward-max)")
	mode := fs.String("outbound-policy", "REGISTRY_ONLY", "REGISTRY_ONLY or ALLOW_ANY")
	admin := fs.String("admin-listen", "127.0.0.1:15000", "admin address: /healthz /readyz /metrics /config_dump (not on --egress-addr: pods reach that)")
	pprof := fs.Bool("admin-pprof", false, "also serve Go's profiles under /debug/pprof/ on the admin address")
	adminOnEgress := fs.Bool("admin-on-egress-addr", false, "allow --admin-listen on --egress-addr (or on every address), where every pod can reach the admin endpoints")
	domain := fs.String("cluster-domain", "cluster.local", "Kubernetes cluster domain")
	ca := fs.String("ca-file", "", "PEM file of extra roots for TLS origination, added to the system roots")
	format := fs.String("log-format", "json", "json or console")
	level := fs.String("log-level", "info", "debug, info, warn or error")
	ns := fs.String("namespace", "istio-system", "the gateway's own namespace (fallback for credentialName Secrets)")
	trustDomain := fs.String("trust-domain", "cluster.local", "trust domain of AuthorizationPolicy principals (<trust-domain>/ns/<namespace>/sa/<service-account>), Istio's meshConfig.trustDomain; not --cluster-domain")
	rootNS := fs.String("root-namespace", "istio-system", "Istio's root namespace (meshConfig.rootNamespace): its AuthorizationPolicies apply to every source, its Sidecar without workloadSelector is the mesh default")
	labels := fs.String("labels", "istio=egressgateway", "the gateway's labels, k=v,...: AuthorizationPolicies whose selector does not match are not applied")
	fast := fs.Bool("fast-paths", true, "serve with egressgw's own fast paths (HTTP/1 server loop and parser, HTTP/2 client, epoll relay, DNS UDP loop); false: with the libraries' (net/http server, http.Transport, io.Copy, miekg/dns's server)")
	pathNorm := fs.String("path-normalization", "MERGE_SLASHES", "request path normalization before policy and forwarding, as Istio's meshConfig.pathNormalization: NONE, BASE, MERGE_SLASHES or DECODE_AND_MERGE_SLASHES")
	bodyIdle := fs.Duration("body-idle-timeout", egress.DefaultBodyIdleTimeout, "a request body that makes no progress for this long fails with 408")
	ingressAddr := fs.String("ingress-addr", "", "address ingress Gateways' servers listen on (unset: no ingress listener)")
	ingressLabels := fs.String("ingress-labels", "istio=ingressgateway,app=istio-ingressgateway", "labels, k=v,...: a Gateway whose selector matches them is an ingress Gateway (one matching --labels is an egress Gateway)")
	fs.Var(&egressGateways, "egress-gateway-service", "host name of this egress gateway's own Service (repeatable; default istio-egressgateway.<--namespace>.svc.<--cluster-domain>): a mesh route to it is the hop into the egress Gateway's rules")
	fs.Var(&trusted, "trusted-proxies", "CIDRs (comma-separated; repeatable) of TLS-terminating load balancers in front of ingress: their X-Forwarded-Proto https is not redirected by httpsRedirect, and their X-Forwarded-For is appended to")
	acmeCA := fs.String("acme-ca", "", "ACME directory URL: Gateway servers with tls.mode SIMPLE and no certificate get theirs from it")
	acmeRoot := fs.String("acme-ca-root", "", "PEM file of the roots to trust for the ACME CA's own API (default: the system roots)")
	acmeEmail := fs.String("acme-email", "", "contact e-mail of the ACME account")
	acmeStorage := fs.String("acme-storage", "/var/lib/egressgw/acme", "directory where ACME accounts and certificates are kept")
	kubeOn := fs.Bool("kube", true, "read the configuration from the Kubernetes API server too (through --kubeconfig, or the pod's in-cluster configuration when running in a pod); false: files only")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file of the API server to read from (default: the in-cluster configuration when running in a pod)")
	kubeStale := fs.Duration("kube-max-staleness", 5*time.Minute, "/readyz fails once the API server has not been heard from (or a watch has been failing) for this long; the last configuration keeps serving")
	crdRecheck := fs.Duration("kube-crd-recheck", 30*time.Second, "how often the API server is asked again for the Istio kinds whose CustomResourceDefinitions were not installed; once they are, they are watched too")
	nodeName := fs.String("node-name", os.Getenv("NODE_NAME"), "this node's name, in the Events egressgw posts (default $NODE_NAME)")
	reusePort := fs.Bool("reuse-port", false, "set SO_REUSEPORT on every listener (DNS, egress, ingress, admin; Linux), so that a second gateway can listen beside this one: a DaemonSet's rolling update with maxSurge 1 keeps DNS and traffic answered; probe such gateways through --admin-socket")
	adminSocket := fs.String("admin-socket", "", "also serve the admin endpoints on this Unix socket, this process's own (egressgw probe asks it)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (configuration goes in --config)", fs.Arg(0))
	}
	useKube := *kubeOn && (*kubeconfig != "" || kube.InCluster())
	if *kubeconfig != "" && !*kubeOn {
		return nil, errors.New("--kubeconfig is given with --kube=false")
	}
	if len(configs) == 0 && !useKube {
		return nil, errors.New("--config is required outside Kubernetes: a YAML file or directory of Istio resources (or --kubeconfig, to read them from an API server)")
	}
	if *crdRecheck <= 0 {
		return nil, fmt.Errorf("--kube-crd-recheck %v: want a positive duration", *crdRecheck)
	}
	if *kubeStale <= 0 {
		return nil, fmt.Errorf("--kube-max-staleness %v: want a positive duration", *kubeStale)
	}
	o := &options{configs: configs, adminListen: *admin, adminPprof: *pprof, clusterDomain: strings.Trim(*domain, "."), caFile: *ca,
		logFormat: *format, logLevel: *level, namespace: *ns, modeName: strings.ToUpper(*mode), fastPaths: *fast,
		trustDomain: *trustDomain, rootNamespace: *rootNS}
	o.kube, o.kubeconfig, o.kubeStaleness, o.nodeName = useKube, *kubeconfig, *kubeStale, *nodeName
	o.reusePort, o.adminSocket, o.crdRecheck = *reusePort, *adminSocket, *crdRecheck
	var err error
	if o.egressAddr, err = netip.ParseAddr(*egressAddr); err != nil {
		return nil, fmt.Errorf("--egress-addr %q: not an IP address", *egressAddr)
	}
	if !*adminOnEgress && !o.egressAddr.IsLoopback() { // a loopback egress address is reached by no pod
		if err := adminReachable(o.adminListen, o.egressAddr); err != nil {
			return nil, err
		}
	}
	if o.egressIface = *egressIface; o.egressIface != "" && o.egressAddr.IsLoopback() {
		return nil, fmt.Errorf("--egress-interface %s with --egress-addr %s: a loopback address is already on lo; give the node-local address (e.g. 169.254.20.11)", o.egressIface, o.egressAddr)
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
	if o.trustDomain == "" || strings.ContainsAny(o.trustDomain, "/*") {
		return nil, fmt.Errorf("--trust-domain %q: want a domain such as cluster.local", o.trustDomain)
	}
	if errs := validation.IsDNS1123Label(o.rootNamespace); len(errs) > 0 {
		return nil, fmt.Errorf("--root-namespace %q: not a namespace name: %s", o.rootNamespace, errs[0])
	}
	if o.labels, err = parseLabels(*labels); err != nil {
		return nil, err
	}
	for _, s := range allow {
		ps, err := netguard.ParseCIDRs(s)
		if err != nil {
			return nil, fmt.Errorf("--allow-cidrs: %w", err)
		}
		o.allowCIDRs = append(o.allowCIDRs, ps...)
	}
	if o.pathNorm, err = egress.ParsePathNormalization(*pathNorm); err != nil {
		return nil, fmt.Errorf("--path-normalization: %w", err)
	}
	if o.bodyIdle = *bodyIdle; o.bodyIdle <= 0 {
		return nil, fmt.Errorf("--body-idle-timeout %v: want a positive duration", *bodyIdle)
	}
	if *ingressAddr != "" {
		if o.ingressAddr, err = netip.ParseAddr(*ingressAddr); err != nil {
			return nil, fmt.Errorf("--ingress-addr %q: not an IP address", *ingressAddr)
		}
	}
	if o.ingressLabels, err = parseLabels(*ingressLabels); err != nil {
		return nil, fmt.Errorf("--ingress-labels: %w", err)
	}
	for _, s := range egressGateways {
		for _, h := range strings.Split(s, ",") {
			if h = strings.ToLower(strings.Trim(strings.TrimSpace(h), ".")); h != "" {
				o.egressGateways = append(o.egressGateways, h)
			}
		}
	}
	for _, s := range trusted {
		ps, err := netguard.ParseCIDRs(s)
		if err != nil {
			return nil, fmt.Errorf("--trusted-proxies: %w", err)
		}
		o.trustedProxies = append(o.trustedProxies, ps...)
	}
	o.acmeCA, o.acmeCARoot, o.acmeEmail, o.acmeStorage = *acmeCA, *acmeRoot, *acmeEmail, *acmeStorage
	if o.acmeCARoot != "" && o.acmeCA == "" {
		return nil, errors.New("--acme-ca-root is given without --acme-ca")
	}
	if *format != "json" && *format != "console" {
		return nil, fmt.Errorf("--log-format %q: want json or console", *format)
	}
	return o, nil
}

// adminReachable refuses an admin address that pods can reach: the egress
// address (which the NetworkPolicy opens to every pod) or every address of
// the host. Host names are taken as given (e.g. localhost).
func adminReachable(listen string, egress netip.Addr) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--admin-listen %q: want host:port: %w", listen, err)
	}
	why := ""
	if ip, err := netip.ParseAddr(host); err == nil {
		switch {
		case ip.Unmap() == egress.Unmap():
			why = "is on --egress-addr " + egress.String()
		case ip.IsUnspecified():
			why = "binds every address, --egress-addr " + egress.String() + " among them"
		}
	} else if host == "" {
		why = "binds every address, --egress-addr " + egress.String() + " among them"
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("--admin-listen %s %s, which every pod may reach: /config_dump, /metrics and /readyz "+
		"would be open to them; bind the admin address to loopback (the default, 127.0.0.1:15000) "+
		"or pass --admin-on-egress-addr if pods are meant to reach it", listen, why)
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
