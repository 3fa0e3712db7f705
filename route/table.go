package route

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// Table is every listener of a snapshot, sorted by (Side, Port). It is
// immutable once New returns it and safe for concurrent use.
type Table struct {
	ls []*Listener
}

// New validates and indexes each listener and returns them as a Table.
// The listeners are owned by the Table from then on: they must not be
// changed.
func New(ls []*Listener) (*Table, error) {
	t := &Table{ls: slices.Clone(ls)}
	var errs []error
	t.ls = slices.DeleteFunc(t.ls, func(l *Listener) bool { return l == nil })
	slices.SortStableFunc(t.ls, func(a, b *Listener) int {
		return cmp.Or(cmp.Compare(a.Side, b.Side), cmp.Compare(a.Port, b.Port))
	})
	for i, l := range t.ls {
		if i > 0 && t.ls[i-1].Side == l.Side && t.ls[i-1].Port == l.Port {
			errs = append(errs, fmt.Errorf("build route table: %s port %d: listed twice", l.Side, l.Port))
			continue
		}
		if err := l.index(); err != nil {
			errs = append(errs, fmt.Errorf("build route table: %s port %d: %w", l.Side, l.Port, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// Listener returns the listener of side on port, or nil (also for a nil Table).
func (t *Table) Listener(side Side, port uint32) *Listener {
	if t == nil {
		return nil
	}
	lo, hi := 0, len(t.ls)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		l := t.ls[m]
		if l.Side < side || l.Side == side && l.Port < port {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(t.ls) && t.ls[lo].Side == side && t.ls[lo].Port == port {
		return t.ls[lo]
	}
	return nil
}

// MarshalJSON dumps the listeners (for /config_dump): servers without
// private keys, virtual hosts, routes; regexes as written.
func (t *Table) MarshalJSON() ([]byte, error) { return json.Marshal(t.Listeners()) }

// Listeners returns every listener, sorted by (Side, Port). The slice is
// the Table's own: do not change it.
func (t *Table) Listeners() []*Listener {
	if t == nil {
		return nil
	}
	return t.ls
}

// index builds the listener's host indexes and checks what lookups rely on.
func (l *Listener) index() error {
	var errs []error
	l.servers = newHostIndex()
	l.hosts = newHostIndex()
	l.byServer = make([]hostIndex, len(l.Servers))
	pos := make(map[*Server]int, len(l.Servers))
	for i, s := range l.Servers {
		if s == nil {
			return fmt.Errorf("servers[%d] is nil", i)
		}
		pos[s] = i
		l.byServer[i] = newHostIndex()
		for _, h := range s.Hosts {
			l.servers.add(h, i)
		}
	}
	for i, vh := range l.HTTP {
		if vh == nil {
			return fmt.Errorf("virtual host %d is nil", i)
		}
		if vh.Server == nil {
			l.hosts.add(vh.Host, i)
		} else if si, ok := pos[vh.Server]; ok {
			l.byServer[si].add(vh.Host, i)
		} else {
			errs = append(errs, fmt.Errorf("virtual host %s: its server %s is not one of the listener's", vh.Host, vh.Server.Name()))
		}
		vh.scoped = false
		for _, r := range vh.Routes {
			if r == nil {
				errs = append(errs, fmt.Errorf("virtual host %s: nil route", vh.Host))
				continue
			}
			if r.Export != nil && vh.Server == nil {
				vh.scoped = true
			}
			if err := r.check(); err != nil {
				errs = append(errs, fmt.Errorf("virtual host %s: %s %s: %w", vh.Host, r.VirtualService, r.Field, err))
			}
		}
	}
	for _, r := range l.TLS {
		if r == nil {
			return errors.New("nil tls route")
		}
		if err := checkWeights(r.Destinations, r.TotalWeight); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.VirtualService, r.Field, err))
		}
	}
	for _, r := range l.TCP {
		if r == nil {
			return errors.New("nil tcp route")
		}
		if err := checkWeights(r.Destinations, r.TotalWeight); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", r.VirtualService, r.Field, err))
		}
	}
	return errors.Join(errs...)
}

// check verifies what matching and picking rely on: compiled regexes and
// weights that add up.
func (r *HTTPRoute) check() error {
	for i := range r.Match {
		m := &r.Match[i]
		for _, s := range []*StringMatch{&m.URI, &m.Scheme, &m.Method, &m.Authority} {
			if s.Kind == MatchRegex && s.Re == nil {
				return fmt.Errorf("match[%d]: regex match without a compiled regex", i)
			}
		}
		for _, hs := range [][]HeaderMatch{m.Headers, m.QueryParams} {
			for _, h := range hs {
				if h.Match.Kind == MatchRegex && h.Match.Re == nil {
					return fmt.Errorf("match[%d] %s: regex match without a compiled regex", i, h.Name)
				}
			}
		}
	}
	switch r.Action.Kind {
	case ActionRoute:
		return checkWeights(r.Action.Destinations, r.Action.TotalWeight)
	case ActionRedirect:
		if r.Action.Redirect == nil {
			return errors.New("redirect action without a redirect")
		}
	case ActionDirect:
		if r.Action.Direct == nil {
			return errors.New("direct response action without a response")
		}
	}
	return nil
}

func checkWeights(ds []Destination, total uint32) error {
	if len(ds) == 0 {
		return errors.New("no destination")
	}
	var sum uint64
	for _, d := range ds {
		sum += uint64(d.Weight)
	}
	if len(ds) == 1 && sum == 0 {
		if total > 1 {
			return fmt.Errorf("total weight %d, but the single destination weighs 0", total)
		}
		return nil
	}
	if sum != uint64(total) {
		return fmt.Errorf("weights add up to %d, not to the total weight %d", sum, total)
	}
	return nil
}
