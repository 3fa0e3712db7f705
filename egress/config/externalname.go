package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// service registers a Service of type ExternalName; other Services are
// only reported.
func (c *compiler) service(o *object) {
	f, res := o.File, o.Resource()
	var svc corev1.Service
	if err := json.Unmarshal(o.JSON, &svc); err != nil {
		c.r.problem(f, res, "", "%s", jsonErr(err))
		return
	}
	if svc.Spec.Type != corev1.ServiceTypeExternalName {
		c.r.warn(f, res, "", "not applied: only type ExternalName Services are registered; for external IPs use a ServiceEntry with resolution STATIC")
		return
	}
	before := len(c.r.problems)
	target := strings.TrimSuffix(strings.ToLower(svc.Spec.ExternalName), ".")
	if target == "" {
		c.r.problem(f, res, "spec.externalName", "required for type ExternalName")
	} else if err := checkHost(target, false); err != nil {
		c.r.problem(f, res, "spec.externalName", "%v", err)
	}
	if len(svc.Spec.Ports) == 0 {
		c.r.warn(f, res, "spec.ports", "not registered: egressgw needs the ports to serve an ExternalName Service on")
		return
	}
	host := fmt.Sprintf("%s.%s.svc.%s", o.Name, o.Namespace, c.opts.ClusterDomain)
	var ports []Port
	fields := map[uint32]string{}
	for i, sp := range svc.Spec.Ports {
		field := fmt.Sprintf("spec.ports[%d]", i)
		if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
			c.r.warn(f, res, field+".protocol", "%s is not supported: port %d not registered", sp.Protocol, sp.Port)
			continue
		}
		if sp.Port < 1 || sp.Port > 65535 {
			c.r.problem(f, res, field+".port", "%d is not a valid port (1-65535)", sp.Port)
			continue
		}
		n := uint32(sp.Port)
		if prev, dup := fields[n]; dup {
			c.r.problem(f, res, field+".port", "port %d is already declared by %s", n, prev)
			continue
		}
		fields[n] = field
		ports = append(ports, Port{
			Number:     n,
			Name:       sp.Name,
			Protocol:   serviceProtocol(sp),
			TargetPort: n,
			HTTP2:      declaresHTTP2(appProtocol(sp), sp.Name),
			Pool:       defaultPool,
			Cluster:    fmt.Sprintf("outbound|%d||%s", n, host),
		})
	}
	if len(c.r.problems) > before || len(ports) == 0 {
		return
	}
	slices.SortFunc(ports, func(a, b Port) int { return int(a.Number) - int(b.Number) })
	c.entries = append(c.entries, Entry{
		Source:     "Service " + o.Namespace + "/" + o.Name + " (ExternalName)",
		Namespace:  o.Namespace,
		Host:       host,
		Target:     target,
		Resolution: ResolutionDNS,
		Ports:      ports,
	})
	c.emeta = append(c.emeta, entryMeta{obj: o, authzHost: target, portField: fields})
}

func appProtocol(sp corev1.ServicePort) string {
	if sp.AppProtocol == nil {
		return ""
	}
	return strings.TrimPrefix(*sp.AppProtocol, "kubernetes.io/")
}

// serviceProtocol is the protocol of a Service port: appProtocol if it names
// one, else the port name prefix (Istio's rules), else ProtocolAuto.
func serviceProtocol(sp corev1.ServicePort) Protocol {
	if sp.AppProtocol != nil {
		ap := strings.ToUpper(strings.TrimPrefix(*sp.AppProtocol, "kubernetes.io/"))
		switch ap {
		case "H2C", "WS":
			return ProtocolHTTP
		case "WSS":
			return ProtocolTLS
		}
		if p, ok := protocols[ap]; ok {
			return p
		}
	}
	return protocolFromName(sp.Name)
}
