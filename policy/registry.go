package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Registry maps (host, port) to a registered Entry. Built by NewRegistry;
// immutable and safe for concurrent use. A nil *Registry is empty.
type Registry struct {
	entries []Entry
	hosts   hostIndex
	exports []export // index-aligned with entries
	scoped  bool     // some entry is not exported to every namespace
}

// NewRegistry validates and indexes entries. Entry i is found as index i.
// When several entries register the same host on the same port, the first
// one wins (Istio: the oldest). All problems are reported, one per line,
// each naming the entry's Source.
func NewRegistry(entries []Entry) (*Registry, error) {
	nports := 0
	for _, e := range entries {
		nports += len(e.Ports)
	}
	r := &Registry{
		entries: make([]Entry, len(entries)),
		hosts:   newHostIndex(len(entries), nports),
		exports: make([]export, len(entries)),
	}
	// The registry's copies of the entries' ports share one array; each
	// is capped, so that appending to one cannot overwrite the next.
	ports := make([]uint32, 0, nports)
	var errs []error
	for i, e := range entries {
		if len(e.Ports) > 0 {
			p := len(ports)
			ports = append(ports, e.Ports...)
			e.Ports = ports[p:len(ports):len(ports)]
		}
		r.entries[i] = e
		if err := validateEntry(e); err != nil {
			errs = append(errs, fmt.Errorf("%s: host %q: %w", entryName(e, i), e.Host, err))
			continue
		}
		if err := validateAuthzHost(e.AuthzHost); err != nil {
			errs = append(errs, fmt.Errorf("%s: authzHost %q: %w", entryName(e, i), e.AuthzHost, err))
			continue
		}
		x, err := newExport(e.Namespace, e.ExportTo)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: exportTo: %w", entryName(e, i), err))
			continue
		}
		r.exports[i], r.scoped = x, r.scoped || !x.all
		r.hosts.add(e.Host, e.Ports, i)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

func validateEntry(e Entry) error {
	if err := ValidateHost(e.Host); err != nil {
		return err
	}
	if len(e.Ports) == 0 {
		return errors.New("no ports")
	}
	for _, p := range e.Ports {
		if p < 1 || p > 65535 {
			return fmt.Errorf("port %d: must be 1..65535", p)
		}
	}
	return nil
}

// validateAuthzHost checks Entry.AuthzHost: empty, or a DNS name (an
// ExternalName, which may end with a dot).
func validateAuthzHost(h string) error {
	if h == "" {
		return nil
	}
	if strings.HasPrefix(h, "*") {
		return errors.New("must not be a wildcard")
	}
	return ValidateHost(strings.TrimSuffix(h, "."))
}

func entryName(e Entry, i int) string {
	if e.Source != "" {
		return e.Source
	}
	return fmt.Sprintf("entries[%d]", i)
}

// Lookup returns the index of the most specific entry registered for host
// on port: an exact match, else the longest wildcard suffix. host may be in
// any case and end with a dot. Lookup does not allocate.
func (r *Registry) Lookup(host string, port uint32) (int, bool) {
	if port == 0 {
		return -1, false
	}
	i, ok, _ := r.find(host, port)
	return i, ok
}

// Intercepts reports whether name (a DNS name, any case, trailing dot
// allowed) is registered on any port.
func (r *Registry) Intercepts(name string) bool {
	_, ok, _ := r.find(name, 0)
	return ok
}

// find is Lookup, with port 0 meaning any port, that also reports whether
// host is registered on some port.
func (r *Registry) find(host string, port uint32) (entry int, ok, registered bool) {
	if host, valid := cleanName(host); valid && r != nil {
		return r.hosts.find(host, port, nil)
	}
	return -1, false, false
}

// Len returns the number of entries.
func (r *Registry) Len() int {
	if r == nil {
		return 0
	}
	return len(r.entries)
}

// Entry returns entry i, as given to NewRegistry. It panics if i is out of
// range, like a slice index.
func (r *Registry) Entry(i int) Entry { return r.entries[i] }
