package main

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// TestDeployAdminOnLoopback holds deploy/daemonset.yaml to safe admin
// defaults: its arguments parse, admin listens on loopback (pods reach the
// egress address, never the node's loopback), pprof is off, and both
// probes go to that loopback address rather than to the pod (node) IP.
func TestDeployAdminOnLoopback(t *testing.T) {
	b, err := os.ReadFile("../../deploy/daemonset.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ds *appsv1.DaemonSet
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var d appsv1.DaemonSet
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatalf("daemonset.yaml: %v", err)
		}
		if d.Kind == "DaemonSet" {
			ds = &d
		}
	}
	if ds == nil {
		t.Fatal("daemonset.yaml has no DaemonSet")
	}
	var c *corev1.Container
	for i := range ds.Spec.Template.Spec.Containers {
		if ds.Spec.Template.Spec.Containers[i].Name == "egressgw" {
			c = &ds.Spec.Template.Spec.Containers[i]
		}
	}
	if c == nil || len(c.Args) == 0 || c.Args[0] != "run" {
		t.Fatalf("no egressgw container running `egressgw run`: %+v", c)
	}
	o, err := parseRun(c.Args[1:])
	if err != nil {
		t.Fatalf("the DaemonSet's arguments are refused: %v", err)
	}
	host, portStr, err := net.SplitHostPort(o.adminListen)
	if err != nil {
		t.Fatal(err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || ip != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("--admin-listen %s: want 127.0.0.1:<port>", o.adminListen)
	}
	if o.adminPprof {
		t.Error("--admin-pprof is on in the shipped DaemonSet")
	}
	port, _ := strconv.Atoi(portStr)
	if !ds.Spec.Template.Spec.HostNetwork {
		t.Error("hostNetwork is off: the probes' host 127.0.0.1 would be the pod's own loopback")
	}
	for name, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		switch {
		case p == nil || p.HTTPGet == nil:
			t.Errorf("%s: want an httpGet probe of the admin address", name)
		case p.HTTPGet.Host != host || p.HTTPGet.Port.IntValue() != port:
			t.Errorf("%s: probes %s:%s, want %s (without host the kubelet probes the node IP, where admin does not listen)",
				name, p.HTTPGet.Host, p.HTTPGet.Port.String(), o.adminListen)
		}
	}
}
