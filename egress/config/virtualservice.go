package config

import (
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/egressgw/egressgw/route"
)

// vsObj is a compiled VirtualService, its destinations not yet resolved
// into clusters (that depends on the listener port a route is bound to).
type vsObj struct {
	obj      *object
	name     string   // "namespace/name"
	hosts    []string // lowercase, short names expanded
	gateways []string // "mesh" or "namespace/name"
	exportTo []string // spec.exportTo as validated; nil: every namespace
	export   *route.Export
	http     []*httpRoute
	tls      []*l4Route
	tcp      []*l4Route
}

// httpRoute is an http[] entry: the route with everything but its
// destinations, and those as references.
type httpRoute struct {
	r       route.HTTPRoute
	dests   []destRef
	weights []uint32
	headers []route.HeaderOps // per destination
	mirror  *destRef
}

// l4Route is a tls[] or tcp[] entry: one route per match.
type l4Route struct {
	field   string
	matches []l4Match // none: match everything
	dests   []destRef
	weights []uint32
}

type l4Match struct {
	sniHosts []string
	port     uint32
	gateways []string
}

func canonicalHeader(h string) string { return http.CanonicalHeaderKey(strings.TrimSpace(h)) }

// virtualService decodes and validates a VirtualService. It is bound to
// listeners later (bindVirtualServices), once every Gateway is known.
func (c *compiler) virtualService(o *object) {
	f, res := o.File, o.Resource()
	var vs networking.VirtualService
	if err := unmarshalSpec(o.Spec, &vs); err != nil {
		c.r.problem(f, res, "spec", "%v", err)
		return
	}
	before := len(c.r.problems)
	v := &vsObj{obj: o, name: o.Namespace + "/" + o.Name}
	if len(vs.Hosts) == 0 {
		c.r.problem(f, res, "spec.hosts", "at least one host is required")
	}
	for i, h := range vs.Hosts {
		h = c.expandHost(h, o.Namespace)
		if h != "*" {
			if err := checkHost(h, true); err != nil {
				c.r.problem(f, res, fmt.Sprintf("spec.hosts[%d]", i), "%v", err)
				continue
			}
		}
		if !slices.Contains(v.hosts, h) {
			v.hosts = append(v.hosts, h)
		}
	}
	v.gateways = c.gatewayNames(vs.Gateways, o.Namespace)
	if len(v.gateways) == 0 {
		v.gateways = []string{route.Mesh}
	}
	v.exportTo = c.exportTo(o, vs.ExportTo)
	v.export = routeExport(o.Namespace, v.exportTo)
	for i, h := range vs.Http {
		if r := c.httpRoute(o, fmt.Sprintf("spec.http[%d]", i), h); r != nil {
			r.r.Export = v.export
			v.http = append(v.http, r)
		}
	}
	for i, t := range vs.Tls {
		field := fmt.Sprintf("spec.tls[%d]", i)
		if t == nil {
			c.r.problem(f, res, field, "empty route")
			continue
		}
		lr := &l4Route{field: field}
		if len(t.Match) == 0 {
			c.r.problem(f, res, field+".match", "at least one match with sniHosts is required")
		}
		for j, m := range t.Match {
			mf := fmt.Sprintf("%s.match[%d]", field, j)
			if m == nil || len(m.SniHosts) == 0 {
				c.r.problem(f, res, mf+".sniHosts", "required")
				continue
			}
			var sni []string
			for k, h := range m.SniHosts {
				h = c.expandHost(h, o.Namespace)
				if h != "*" {
					if err := checkHost(h, true); err != nil {
						c.r.problem(f, res, fmt.Sprintf("%s.sniHosts[%d]", mf, k), "%v", err)
						continue
					}
				}
				sni = append(sni, h)
			}
			c.l4Unsupported(o, mf, m.DestinationSubnets, m.SourceLabels, m.SourceNamespace, "")
			lr.matches = append(lr.matches, l4Match{sniHosts: sni, port: c.matchPort(o, mf+".port", m.Port), gateways: c.gatewayNames(m.Gateways, o.Namespace)})
		}
		lr.dests, lr.weights = c.l4Destinations(o, field, t.Route)
		v.tls = append(v.tls, lr)
	}
	for i, t := range vs.Tcp {
		field := fmt.Sprintf("spec.tcp[%d]", i)
		if t == nil {
			c.r.problem(f, res, field, "empty route")
			continue
		}
		lr := &l4Route{field: field}
		for j, m := range t.Match {
			mf := fmt.Sprintf("%s.match[%d]", field, j)
			if m == nil {
				continue
			}
			c.l4Unsupported(o, mf, m.DestinationSubnets, m.SourceLabels, m.SourceNamespace, m.SourceSubnet)
			lr.matches = append(lr.matches, l4Match{port: c.matchPort(o, mf+".port", m.Port), gateways: c.gatewayNames(m.Gateways, o.Namespace)})
		}
		lr.dests, lr.weights = c.l4Destinations(o, field, t.Route)
		v.tcp = append(v.tcp, lr)
	}
	if len(vs.Http)+len(vs.Tls)+len(vs.Tcp) == 0 {
		c.r.problem(f, res, "spec", "at least one http, tls or tcp route is required")
	}
	if len(c.r.problems) > before {
		return
	}
	c.vss = append(c.vss, v)
}

// expandHost lowercases h and expands a short name (no dot) relative to ns.
func (c *compiler) expandHost(h, ns string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if h != "" && h != "*" && !strings.Contains(h, ".") {
		h = h + "." + ns + ".svc." + c.opts.ClusterDomain
	}
	return h
}

// gatewayNames expands gateways: "mesh" stays, "name" is in ns.
func (c *compiler) gatewayNames(gs []string, ns string) []string {
	var out []string
	for _, g := range gs {
		switch {
		case g == route.Mesh:
		case !strings.Contains(g, "/"):
			g = ns + "/" + g
		}
		if !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

func (c *compiler) matchPort(o *object, field string, p uint32) uint32 {
	if p > 65535 {
		c.r.problem(o.File, o.Resource(), field, "%d is not a valid port (1-65535)", p)
		return 0
	}
	return p
}

func (c *compiler) l4Unsupported(o *object, field string, subnets []string, labels map[string]string, ns, srcSubnet string) {
	for _, u := range []struct {
		name string
		set  bool
	}{{"destinationSubnets", len(subnets) > 0}, {"sourceLabels", len(labels) > 0}, {"sourceNamespace", ns != ""}, {"sourceSubnet", srcSubnet != ""}} {
		if u.set {
			c.r.warn(o.File, o.Resource(), field+"."+u.name, "not applied: egressgw does not match on it")
		}
	}
}

// destination validates one destination.
func (c *compiler) destination(o *object, field string, d *networking.Destination) (destRef, bool) {
	if d == nil || d.Host == "" {
		c.r.problem(o.File, o.Resource(), field+".host", "required")
		return destRef{}, false
	}
	ref := destRef{obj: o, field: field, host: c.expandHost(d.Host, o.Namespace), subset: d.Subset, port: d.GetPort().GetNumber()}
	if err := checkHost(ref.host, false); err != nil {
		c.r.problem(o.File, o.Resource(), field+".host", "%v", err)
		return destRef{}, false
	}
	if ref.port > 65535 {
		c.r.problem(o.File, o.Resource(), field+".port.number", "%d is not a valid port (1-65535)", ref.port)
		return destRef{}, false
	}
	return ref, true
}

// weights checks route weights: with more than one destination they must
// add up to 100.
func (c *compiler) weights(o *object, field string, ws []int32) []uint32 {
	out := make([]uint32, len(ws))
	sum := 0
	for i, w := range ws {
		if w < 0 {
			c.r.problem(o.File, o.Resource(), fmt.Sprintf("%s[%d].weight", field, i), "%d must not be negative", w)
			continue
		}
		out[i], sum = uint32(w), sum+int(w)
	}
	if len(ws) > 1 && sum != 100 {
		c.r.problem(o.File, o.Resource(), field, "weights add up to %d, not 100", sum)
	}
	if len(ws) == 1 {
		out[0] = 0
	}
	return out
}

func (c *compiler) l4Destinations(o *object, field string, rs []*networking.RouteDestination) ([]destRef, []uint32) {
	if len(rs) == 0 {
		c.r.problem(o.File, o.Resource(), field+".route", "at least one destination is required")
	}
	var refs []destRef
	ws := make([]int32, 0, len(rs))
	for i, r := range rs {
		ref, ok := c.destination(o, fmt.Sprintf("%s.route[%d].destination", field, i), r.GetDestination())
		if ok {
			refs = append(refs, ref)
			ws = append(ws, r.GetWeight())
		}
	}
	return refs, c.weights(o, field+".route", ws)
}

// httpRoute compiles one http[] entry.
func (c *compiler) httpRoute(o *object, field string, h *networking.HTTPRoute) *httpRoute {
	f, res := o.File, o.Resource()
	if h == nil {
		c.r.problem(f, res, field, "empty route")
		return nil
	}
	name := h.Name
	if name == "" {
		name = field
	}
	vs := o.Namespace + "/" + o.Name
	rule := "VirtualService " + vs + " " + field
	out := &httpRoute{r: route.HTTPRoute{VirtualService: vs, Field: field, Name: name, Rule: rule, RoutedBy: "routed by " + rule}}
	r := &out.r
	for i, m := range h.Match {
		r.Match = append(r.Match, c.httpMatch(o, fmt.Sprintf("%s.match[%d]", field, i), m))
	}
	if h.Delegate != nil {
		c.r.problem(f, res, field+".delegate", "delegate VirtualServices are not supported: put the routes in this VirtualService")
	}
	actions := 0
	if len(h.Route) > 0 {
		actions++
		ws := make([]int32, 0, len(h.Route))
		for i, rd := range h.Route {
			df := fmt.Sprintf("%s.route[%d]", field, i)
			ref, ok := c.destination(o, df+".destination", rd.GetDestination())
			if !ok {
				continue
			}
			out.dests = append(out.dests, ref)
			out.headers = append(out.headers, c.headerOps(o, df+".headers", rd.GetHeaders()))
			ws = append(ws, rd.GetWeight())
		}
		out.weights = c.weights(o, field+".route", ws)
	}
	if h.Redirect != nil {
		actions++
		r.Action.Kind = route.ActionRedirect
		r.Action.Redirect = c.redirect(o, field+".redirect", h.Redirect)
	}
	if h.DirectResponse != nil {
		actions++
		r.Action.Kind = route.ActionDirect
		r.Action.Direct = c.directResponse(o, field+".directResponse", h.DirectResponse)
	}
	switch {
	case actions == 0 && h.Delegate == nil:
		c.r.problem(f, res, field, "one of route, redirect or directResponse is required")
	case actions > 1:
		c.r.problem(f, res, field, "route, redirect and directResponse exclude each other: set one")
	}
	if h.Rewrite != nil {
		r.Rewrite = c.rewrite(o, field+".rewrite", h.Rewrite)
		if r.Action.Kind != route.ActionRoute {
			c.r.problem(f, res, field+".rewrite", "only applies to routes with destinations (not redirect or directResponse)")
		}
	}
	if h.Timeout != nil {
		r.Timeout = c.duration(o, field+".timeout", h.Timeout, false)
	}
	r.Retries = c.retries(o, field+".retries", h.Retries)
	r.Headers = c.headerOps(o, field+".headers", h.Headers)
	r.Fault = c.fault(o, field+".fault", h.Fault)
	c.mirror(o, field, h, out)
	r.CORS = c.cors(o, field+".corsPolicy", h.CorsPolicy)
	return out
}

func (c *compiler) httpMatch(o *object, field string, m *networking.HTTPMatchRequest) route.Match {
	var out route.Match
	if m == nil {
		return out
	}
	out.Name = m.Name
	out.IgnoreURICase = m.IgnoreUriCase
	out.URI = c.stringMatch(o, field+".uri", m.Uri, m.IgnoreUriCase)
	out.Scheme = c.stringMatch(o, field+".scheme", m.Scheme, false)
	out.Method = c.stringMatch(o, field+".method", m.Method, false)
	out.Authority = c.stringMatch(o, field+".authority", m.Authority, false)
	for _, k := range slices.Sorted(maps.Keys(m.Headers)) {
		hm := route.HeaderMatch{Name: canonicalHeader(k), Match: c.stringMatch(o, field+".headers."+k, m.Headers[k], false)}
		hm.Present = hm.Match.Kind == route.MatchAny
		out.Headers = append(out.Headers, hm)
	}
	for _, k := range slices.Sorted(maps.Keys(m.WithoutHeaders)) {
		out.Headers = append(out.Headers, route.HeaderMatch{Name: canonicalHeader(k), Match: c.stringMatch(o, field+".withoutHeaders."+k, m.WithoutHeaders[k], false), Absent: true})
	}
	for _, k := range slices.Sorted(maps.Keys(m.QueryParams)) {
		qm := route.HeaderMatch{Name: k, Match: c.stringMatch(o, field+".queryParams."+k, m.QueryParams[k], false)}
		qm.Present = qm.Match.Kind == route.MatchAny
		out.QueryParams = append(out.QueryParams, qm)
	}
	out.Port = c.matchPort(o, field+".port", m.Port)
	out.Gateways = c.gatewayNames(m.Gateways, o.Namespace)
	if len(m.SourceLabels) > 0 || m.SourceNamespace != "" {
		c.r.warn(o.File, o.Resource(), field+".sourceLabels", "not applied: egressgw sees no workload labels or namespaces (no sidecar)")
	}
	return out
}

// stringMatch compiles an Istio StringMatch; a regex is anchored at both
// ends (RE2, the whole value, as Envoy).
func (c *compiler) stringMatch(o *object, field string, m *networking.StringMatch, fold bool) route.StringMatch {
	switch t := m.GetMatchType().(type) {
	case *networking.StringMatch_Exact:
		v := t.Exact
		if fold {
			v = strings.ToLower(v)
		}
		return route.StringMatch{Kind: route.MatchExact, Value: v}
	case *networking.StringMatch_Prefix:
		v := t.Prefix
		if fold {
			v = strings.ToLower(v)
		}
		return route.StringMatch{Kind: route.MatchPrefix, Value: v}
	case *networking.StringMatch_Regex:
		expr := "^(?:" + t.Regex + ")$"
		if fold {
			expr = "(?i)" + expr
		}
		_, err := regexp.Compile(t.Regex) // the user's expression, for the message
		var re *regexp.Regexp
		if err == nil {
			re, err = regexp.Compile(expr)
		}
		if err != nil {
			c.r.problem(o.File, o.Resource(), field+".regex", "regex %q does not compile: %v", t.Regex, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			return route.StringMatch{Kind: route.MatchRegex, Re: regexp.MustCompile(`^\b\B$`)}
		}
		return route.StringMatch{Kind: route.MatchRegex, Value: t.Regex, Re: re}
	}
	return route.StringMatch{}
}

func (c *compiler) redirect(o *object, field string, rd *networking.HTTPRedirect) *route.Redirect {
	out := &route.Redirect{URI: rd.Uri, Authority: rd.Authority, Scheme: strings.ToLower(rd.Scheme), Code: int(rd.RedirectCode)}
	switch p := rd.RedirectPort.(type) {
	case *networking.HTTPRedirect_Port:
		out.Port = c.matchPort(o, field+".port", p.Port)
	case *networking.HTTPRedirect_DerivePort:
		if p.DerivePort == networking.HTTPRedirect_FROM_REQUEST_PORT {
			out.DerivePort = route.DeriveFromRequestPort
		} else {
			out.DerivePort = route.DeriveFromProtocolDefault
		}
	}
	if out.Scheme != "" && out.Scheme != "http" && out.Scheme != "https" {
		c.r.problem(o.File, o.Resource(), field+".scheme", "%q is not http or https", rd.Scheme)
	}
	switch out.Code {
	case 0:
		out.Code = http.StatusMovedPermanently
	case 301, 302, 303, 307, 308:
	default:
		c.r.problem(o.File, o.Resource(), field+".redirectCode", "%d is not a redirect status (301, 302, 303, 307 or 308)", out.Code)
	}
	if rd.PrefixRewrite != "" {
		c.r.warn(o.File, o.Resource(), field+".prefixRewrite", "not applied: not supported by egressgw (use uri)")
	}
	return out
}

func (c *compiler) directResponse(o *object, field string, d *networking.HTTPDirectResponse) *route.DirectResponse {
	out := &route.DirectResponse{Status: int(d.Status)}
	if d.Status < 200 || d.Status > 599 {
		c.r.problem(o.File, o.Resource(), field+".status", "%d is not an HTTP status (200-599)", d.Status)
	}
	switch b := d.GetBody().GetSpecifier().(type) {
	case *networking.HTTPBody_String_:
		out.Body = []byte(b.String_)
	case *networking.HTTPBody_Bytes:
		out.Body = b.Bytes
	}
	return out
}

var backref = regexp.MustCompile(`\\(\d)`)

func (c *compiler) rewrite(o *object, field string, rw *networking.HTTPRewrite) *route.Rewrite {
	out := &route.Rewrite{URI: rw.Uri, Authority: rw.Authority}
	if rr := rw.UriRegexRewrite; rr != nil {
		if rw.Uri != "" {
			c.r.problem(o.File, o.Resource(), field+".uriRegexRewrite", "cannot be combined with uri")
		}
		re, err := regexp.Compile(rr.Match)
		if err != nil {
			c.r.problem(o.File, o.Resource(), field+".uriRegexRewrite.match", "regex %q does not compile: %v", rr.Match, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		} else {
			out.Regex, out.RegexExpr = re, rr.Match
			out.RegexSub = backref.ReplaceAllString(strings.ReplaceAll(rr.Rewrite, "$", "$$"), "$${$1}")
		}
	}
	return out
}

// retryOnNames are Envoy's retry_on conditions that Istio passes through.
var retryOnNames = map[string]route.RetryOn{
	"5xx": route.Retry5xx, "gateway-error": route.RetryGatewayError, "reset": route.RetryReset,
	"connect-failure": route.RetryConnectFailure, "refused-stream": route.RetryRefusedStream,
	"retriable-status-codes": route.RetryRetriableStatusCodes, "retriable-4xx": route.RetryRetriable4xx,
	"envoy-ratelimited": route.RetryEnvoyRateLimited, "unavailable": route.RetryUnavailable,
	"cancelled": route.RetryCancelled, "deadline-exceeded": route.RetryDeadlineExceeded,
	"resource-exhausted": route.RetryResourceExhausted, "internal": route.RetryInternal,
	"reset-before-request": route.RetryResetBeforeRequest, "retriable-headers": route.RetryRetriableHeaders,
	"http3-post-connect-failure": route.RetryHTTP3PostConnectFailure,
}

func (c *compiler) retries(o *object, field string, r *networking.HTTPRetry) route.Retries {
	if r == nil {
		d := route.DefaultRetries
		d.Codes = slices.Clone(d.Codes)
		return d
	}
	f, res := o.File, o.Resource()
	if r.Attempts < 0 {
		c.r.problem(f, res, field+".attempts", "%d must not be negative", r.Attempts)
	}
	out := route.Retries{Attempts: int(max(r.Attempts, 0))}
	if r.PerTryTimeout != nil {
		out.PerTryTimeout = c.duration(o, field+".perTryTimeout", r.PerTryTimeout, true)
	}
	if r.Backoff != nil {
		c.r.warn(f, res, field+".backoff", "not applied: retries use Envoy's default backoff (25ms base)")
	}
	if strings.TrimSpace(r.RetryOn) == "" {
		out.On, out.Codes = route.DefaultRetries.On, []int{503}
		return out
	}
	for _, name := range strings.Split(r.RetryOn, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if bit, ok := retryOnNames[name]; ok {
			out.On |= bit
			continue
		}
		if code, err := strconv.Atoi(name); err == nil && code >= 100 && code <= 599 {
			out.On |= route.RetryRetriableStatusCodes
			out.Codes = append(out.Codes, code)
			continue
		}
		names := slices.Sorted(maps.Keys(retryOnNames))
		c.r.problem(f, res, field+".retryOn", "unknown condition %q (use %s, or an HTTP status code)", name, strings.Join(names, ", "))
	}
	if out.On&route.RetryRetriableStatusCodes != 0 && len(out.Codes) == 0 {
		out.Codes = []int{503}
	}
	return out
}

func (c *compiler) headerOps(o *object, field string, h *networking.Headers) route.HeaderOps {
	if h == nil {
		return route.HeaderOps{}
	}
	return route.HeaderOps{Request: c.headerEdit(o, field+".request", h.Request), Response: c.headerEdit(o, field+".response", h.Response)}
}

func (c *compiler) headerEdit(o *object, field string, op *networking.Headers_HeaderOperations) route.HeaderEdit {
	var out route.HeaderEdit
	if op == nil {
		return out
	}
	check := func(name string) bool {
		if name == "" || strings.ContainsAny(name, " \t\r\n:") {
			c.r.problem(o.File, o.Resource(), field, "%q is not a valid header name", name)
			return false
		}
		return true
	}
	for _, k := range slices.Sorted(maps.Keys(op.Set)) {
		if check(k) {
			out.Set = append(out.Set, route.NewHeader(canonicalHeader(k), op.Set[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(op.Add)) {
		if check(k) {
			out.Add = append(out.Add, route.NewHeader(canonicalHeader(k), op.Add[k]))
		}
	}
	for _, k := range op.Remove {
		if check(k) {
			out.Remove = append(out.Remove, canonicalHeader(k))
		}
	}
	return out
}

// perMil converts an Istio Percent (0-100) to millionths; unset: def.
func (c *compiler) perMil(o *object, field string, p *networking.Percent, def uint32) uint32 {
	if p == nil {
		return def
	}
	if p.Value < 0 || p.Value > 100 {
		c.r.problem(o.File, o.Resource(), field, "%v is not a percentage (0-100)", p.Value)
		return 0
	}
	return uint32(p.Value*10000 + 0.5)
}

func (c *compiler) fault(o *object, field string, fi *networking.HTTPFaultInjection) *route.Fault {
	if fi == nil {
		return nil
	}
	f, res := o.File, o.Resource()
	out := &route.Fault{}
	if fi.Delay == nil && fi.Abort == nil {
		c.r.problem(f, res, field, "delay or abort is required")
	}
	if d := fi.Delay; d != nil {
		switch t := d.HttpDelayType.(type) {
		case *networking.HTTPFaultInjection_Delay_FixedDelay:
			out.Delay = c.duration(o, field+".delay.fixedDelay", t.FixedDelay, true)
		case *networking.HTTPFaultInjection_Delay_ExponentialDelay:
			c.r.problem(f, res, field+".delay.exponentialDelay", "not supported (use fixedDelay)")
		default:
			c.r.problem(f, res, field+".delay.fixedDelay", "required")
		}
		out.DelayPerMil = c.perMil(o, field+".delay.percentage.value", d.Percentage, uint32(max(d.Percent, 0))*10000)
		if d.Percentage == nil && d.Percent == 0 {
			c.r.warn(f, res, field+".delay.percentage", "unset: no request is delayed (set percentage.value: 100 for every request)")
		}
	}
	if a := fi.Abort; a != nil {
		switch t := a.ErrorType.(type) {
		case *networking.HTTPFaultInjection_Abort_HttpStatus:
			out.AbortStatus = int(t.HttpStatus)
			if t.HttpStatus < 200 || t.HttpStatus > 599 {
				c.r.problem(f, res, field+".abort.httpStatus", "%d is not an HTTP status (200-599)", t.HttpStatus)
			}
		case *networking.HTTPFaultInjection_Abort_GrpcStatus:
			out.AbortGRPC = t.GrpcStatus
			out.AbortStatus = http.StatusOK
		default:
			c.r.problem(f, res, field+".abort", "httpStatus or grpcStatus is required")
		}
		out.AbortPerMil = c.perMil(o, field+".abort.percentage.value", a.Percentage, 0)
		if a.Percentage == nil {
			c.r.warn(f, res, field+".abort.percentage", "unset: no request is aborted (set percentage.value: 100 for every request)")
		}
	}
	return out
}

func (c *compiler) mirror(o *object, field string, h *networking.HTTPRoute, out *httpRoute) {
	var d *networking.Destination
	pct, pfield := h.MirrorPercentage, field+".mirrorPercentage.value"
	def := uint32(1_000_000)
	if h.MirrorPercent != nil {
		def = min(h.MirrorPercent.GetValue(), 100) * 10000
	}
	switch {
	case h.Mirror != nil:
		d = h.Mirror
		if len(h.Mirrors) > 0 {
			c.r.problem(o.File, o.Resource(), field+".mirrors", "cannot be combined with mirror")
		}
	case len(h.Mirrors) > 0:
		d, pct, pfield = h.Mirrors[0].GetDestination(), h.Mirrors[0].GetPercentage(), field+".mirrors[0].percentage.value"
		if len(h.Mirrors) > 1 {
			c.r.warn(o.File, o.Resource(), field+".mirrors", "only the first mirror is applied")
		}
	default:
		return
	}
	ref, ok := c.destination(o, field+".mirror", d)
	if !ok {
		return
	}
	out.mirror = &ref
	out.r.Mirror = &route.Mirror{PerMil: c.perMil(o, pfield, pct, def)}
}

func (c *compiler) cors(o *object, field string, p *networking.CorsPolicy) *route.CORS {
	if p == nil {
		return nil
	}
	out := &route.CORS{
		AllowMethods:     strings.Join(p.AllowMethods, ", "),
		AllowHeaders:     strings.Join(p.AllowHeaders, ", "),
		ExposeHeaders:    strings.Join(p.ExposeHeaders, ", "),
		AllowCredentials: p.AllowCredentials.GetValue(),
	}
	for _, s := range p.AllowOrigin {
		out.AllowOrigins = append(out.AllowOrigins, route.StringMatch{Kind: route.MatchExact, Value: s})
	}
	for i, m := range p.AllowOrigins {
		out.AllowOrigins = append(out.AllowOrigins, c.stringMatch(o, fmt.Sprintf("%s.allowOrigins[%d]", field, i), m, false))
	}
	if p.MaxAge != nil {
		out.MaxAge = strconv.FormatInt(int64(c.duration(o, field+".maxAge", p.MaxAge, false)/time.Second), 10)
	}
	return out
}
