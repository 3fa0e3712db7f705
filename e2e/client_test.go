//go:build e2e && linux

package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// defaultTimeout bounds a short command.
const defaultTimeout = 10 * time.Second

// statusMarker ends curl's output, followed by the status code.
const statusMarker = "@@e2e-status="

// curlResult is a finished curl run.
type curlResult struct {
	result
	status int    // HTTP status; 0 if no response
	body   string // response body
}

func (r curlResult) String() string {
	return fmt.Sprintf("%s\n(status %d)", r.result, r.status)
}

// curl runs curl in namespace ns with bounded timeouts; -v puts the TLS
// details on stderr.
func (tp *topology) curl(ns string, args ...string) curlResult {
	argv := append([]string{"curl", "-sS", "--connect-timeout", "5", "--max-time", "10",
		"-w", "\n" + statusMarker + "%{http_code}"}, args...)
	r := curlResult{result: tp.execIn(ns, 20*time.Second, argv...)}
	out := r.stdout
	if i := strings.LastIndex(out, "\n"+statusMarker); i >= 0 {
		r.status, _ = strconv.Atoi(strings.TrimSpace(out[i+len(statusMarker)+1:]))
		out = out[:i]
	}
	r.body = out
	r.stdout = out
	return r
}

// podCurl runs curl in the pod, whose DNS server is egressgw.
func (tp *topology) podCurl(args ...string) curlResult { return tp.curl(tp.pod, args...) }

// dig runs a bounded dig in namespace ns.
func (tp *topology) dig(ns string, args ...string) result {
	argv := append([]string{"dig", "+time=2", "+tries=1"}, args...)
	return tp.execIn(ns, 10*time.Second, argv...)
}
