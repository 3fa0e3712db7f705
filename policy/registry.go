package policy

// Registry maps (host, port) to a registered Entry. Built by NewRegistry.
type Registry struct{}
