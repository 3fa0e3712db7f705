// Package config reads users' Istio and Kubernetes YAML (ServiceEntry,
// DestinationRule, AuthorizationPolicy, ExternalName Services, Secrets) and
// compiles it into an immutable, fully validated Snapshot that the egress
// engine serves from. Load reports every problem at once, each naming the
// file, resource and field; resources egressgw does not apply are accepted
// with a warning. Watch reports changes to the files for hot reload.
package config
