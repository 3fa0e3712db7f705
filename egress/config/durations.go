package config

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// durationKeys are the fields of Istio's networking APIs that hold a
// google.protobuf.Duration.
var durationKeys = map[string]bool{
	"timeout": true, "perTryTimeout": true, "backoff": true, "fixedDelay": true, "exponentialDelay": true,
	"maxAge": true, "connectTimeout": true, "idleTimeout": true, "interval": true, "baseEjectionTime": true,
	"ttl": true, "time": true, "maxConnectionDuration": true, "warmupDurationSecs": true, "duration": true,
}

// userKeys are fields whose keys are the user's (header names, labels):
// their values are never durations.
var userKeys = map[string]bool{"set": true, "add": true, "labels": true, "matchLabels": true, "selector": true, "sourceLabels": true}

// goDurations rewrites the Duration fields of a spec written as Go
// durations ("500ms", "3m", "1h30m", as Istio's docs and kubectl accept)
// into protojson's seconds form ("0.5s"). It returns nil if nothing changed.
func goDurations(spec []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	if !rewriteDurations(v) {
		return nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return out
}

func rewriteDurations(v any) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && durationKeys[k] {
				if d, err := time.ParseDuration(s); err == nil {
					x[k] = strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
					changed = true
				}
				continue
			}
			if !userKeys[k] {
				changed = rewriteDurations(e) || changed
			}
		}
	case []any:
		for _, e := range x {
			changed = rewriteDurations(e) || changed
		}
	}
	return changed
}
