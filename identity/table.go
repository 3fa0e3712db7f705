package identity

import (
	"net/netip"
)

// Pod is one pod with the addresses it holds.
type Pod struct {
	Namespace      string
	Name           string
	ServiceAccount string // "default" when the pod names none
	// Workload is the name of what owns the pod, as Istio's
	// source_workload metric label has it: the Deployment for a pod of a
	// ReplicaSet made by one, else the owner's name, else the pod's name.
	Workload string
	Labels   map[string]string
	IPs      []netip.Addr
}

// Principal is the pod's identity as AuthorizationPolicy principals name
// it: "<trustDomain>/ns/<namespace>/sa/<serviceAccount>".
func (p *Pod) Principal(trustDomain string) string {
	return trustDomain + "/ns/" + p.Namespace + "/sa/" + p.ServiceAccount
}

// Table is an immutable view of every known pod and namespace.
type Table struct {
	byAddr     map[netip.Addr]*Pod
	namespaces map[string]map[string]string
}

// NewTable indexes pods by address. An address claimed by two pods (a
// terminating pod and its replacement, briefly) goes to the later one in
// pods. namespaces maps each namespace to its labels.
func NewTable(pods []*Pod, namespaces map[string]map[string]string) *Table {
	t := &Table{byAddr: make(map[netip.Addr]*Pod, len(pods)), namespaces: namespaces}
	for _, p := range pods {
		for _, a := range p.IPs {
			t.byAddr[a.Unmap()] = p
		}
	}
	return t
}

// Lookup returns the pod holding address a, or nil when no known pod does
// (a node, a host-network pod, something outside the cluster). A nil
// Table knows no pod.
func (t *Table) Lookup(a netip.Addr) *Pod {
	if t == nil {
		return nil
	}
	return t.byAddr[a.Unmap()]
}

// NamespaceLabels returns the labels of namespace ns, nil if unknown.
func (t *Table) NamespaceLabels(ns string) map[string]string {
	if t == nil {
		return nil
	}
	return t.namespaces[ns]
}

// Len is the number of addresses known.
func (t *Table) Len() int {
	if t == nil {
		return 0
	}
	return len(t.byAddr)
}
