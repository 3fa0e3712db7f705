package policy

import "errors"

// Registry maps (host, port) to a registered Entry. Built by NewRegistry.
type Registry struct{}

// NewRegistry indexes entries. Placeholder until the registry lands.
func NewRegistry(entries []Entry) (*Registry, error) { return nil, errors.New("registry: not built yet") }

// Lookup returns the index of the most specific entry registered for host on port.
func (r *Registry) Lookup(host string, port uint32) (int, bool) { return -1, false }

// Intercepts reports whether name (a DNS name, any case, trailing dot allowed) is registered on any port.
func (r *Registry) Intercepts(name string) bool { return false }
