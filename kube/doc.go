// Package kube reads egressgw's configuration from the Kubernetes API
// server through client-go informers (istio.io/client-go's for Istio's
// kinds): ServiceEntry, DestinationRule, Gateway, VirtualService, Sidecar
// and AuthorizationPolicy; Services and EndpointSlices (which a selector-less Service's Endpoints
// are mirrored into); the
// Secrets that credentialNames name, each through its own field-selected
// watch, never every Secret of the cluster; and Pods and Namespaces, which
// become the identity.Table that per-namespace policy decides on.
//
// A Source only reads and reports. It hands the current objects, as the
// JSON the files would hold, to the caller, which compiles them with the
// files into one config.Snapshot (config.Compile); Changed says when to
// compile again, and changes that arrive while a compile runs are folded
// into the next one. Report posts a Kubernetes Event on each resource the
// compile skipped, naming the field. Informers reconnect with client-go's
// backoff; the last objects they saw stay available while the API server
// is away, so the last good configuration keeps serving.
package kube
