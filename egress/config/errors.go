package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with the configuration, located as precisely as
// the input allows. Empty parts are left out of String.
type Problem struct {
	File     string // path of the YAML file as given (or as found in a directory)
	Resource string // "ServiceEntry default/cnn"; "" for file-level problems
	Field    string // "spec.ports[0].number"; "" when the whole resource is meant
	Msg      string
}

// String formats p as "file: resource: field: msg".
func (p Problem) String() string {
	return joinParts(p.File, p.Resource, p.Field, p.Msg)
}

func joinParts(parts ...string) string {
	var b strings.Builder
	for _, s := range parts {
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(s)
	}
	return b.String()
}

// Error is returned by Load when the configuration has problems. It lists
// every problem found, not only the first.
type Error struct {
	Problems []Problem
}

// Error returns the problems, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// report collects problems and warnings while a configuration is read and
// compiled. It is not safe for concurrent use.
type report struct {
	problems []Problem
	warnings []string
	unserved Unserved
}

func (r *report) problem(file, resource, field, format string, args ...any) {
	r.problems = append(r.problems, Problem{File: file, Resource: resource, Field: field, Msg: fmt.Sprintf(format, args...)})
}

// unservedServer warns about a Gateway server (or a host of one) that is not served.
func (r *report) unservedServer(file, resource, field, format string, args ...any) {
	r.unserved.Servers++
	r.warn(file, resource, field, format, args...)
}

// unservedReference warns about a reference that was not found (IST0101): what depends on it is not served.
func (r *report) unservedReference(file, resource, field, format string, args ...any) {
	r.unserved.References++
	r.warn(file, resource, field, format, args...)
}

func (r *report) warn(file, resource, field, format string, args ...any) {
	r.warnings = append(r.warnings, joinParts(file, resource, field, fmt.Sprintf(format, args...)))
}

func (r *report) err() error {
	if len(r.problems) == 0 {
		return nil
	}
	return &Error{Problems: r.problems}
}
