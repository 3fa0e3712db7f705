package identity

import (
	"net/netip"
	"testing"
)

func TestTableLookup(t *testing.T) {
	a := &Pod{Namespace: "ns1", Name: "a", ServiceAccount: "sa1", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1")}}
	b := &Pod{Namespace: "ns2", Name: "b", ServiceAccount: "default", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}
	newer := &Pod{Namespace: "ns2", Name: "b2", ServiceAccount: "default", IPs: []netip.Addr{netip.MustParseAddr("10.0.0.2")}}
	tab := NewTable([]*Pod{a, b, newer}, map[string]map[string]string{"ns1": {"team": "x"}})
	for _, tc := range []struct {
		addr string
		want *Pod
	}{
		{"10.0.0.1", a},
		{"::ffff:10.0.0.1", a}, // IPv4-mapped, as a dual-stack listener reports it
		{"fd00::1", a},
		{"10.0.0.2", newer},
		{"10.0.0.3", nil},
	} {
		if got := tab.Lookup(netip.MustParseAddr(tc.addr)); got != tc.want {
			t.Errorf("Lookup(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if got := a.Principal("cluster.local"); got != "cluster.local/ns/ns1/sa/sa1" {
		t.Errorf("Principal = %q", got)
	}
	if got := tab.NamespaceLabels("ns1")["team"]; got != "x" {
		t.Errorf("NamespaceLabels(ns1)[team] = %q, want x", got)
	}
	var nilTab *Table
	if nilTab.Lookup(netip.MustParseAddr("10.0.0.1")) != nil || nilTab.Len() != 0 {
		t.Error("a nil Table must know no pod")
	}
}
