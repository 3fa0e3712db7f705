// Package identity maps a client's source address to the workload that
// owns it: a pod's namespace, name, service account and labels, read from
// the API server's Pods and Namespaces. A Table is immutable and swapped
// whole when pods change, so a lookup on the request path is one map read
// without a lock.
//
// Identity by address is what egressgw can know without a sidecar (Cilium's
// identity is address-based too): a pod able to send from another pod's
// address (NET_RAW, hostNetwork) defeats it. A NetworkPolicy or the CNI's
// anti-spoofing is what keeps addresses honest.
package identity
