package egress

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// stdlibInTests makes the test engines and relays serve with the standard
// library's paths (Config.StdlibPaths); TestStdlibPaths sets it.
var stdlibInTests bool

// accessLogInTests, when set, is the test engines' access log.
var accessLogInTests *zap.Logger

// panicCore is a zap core whose writes panic: a bug in logging, on the
// path of every request and connection.
type panicCore struct{ zapcore.LevelEnabler }

func (c panicCore) With([]zapcore.Field) zapcore.Core { return c }
func (c panicCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	return ce.AddCore(e, c)
}
func (panicCore) Write(e zapcore.Entry, _ []zapcore.Field) error {
	panic("access log exploded: " + e.Message)
}
func (panicCore) Sync() error { return nil }

// TestConnectionPanicIsSurvived: a panic on a connection's goroutine (here
// in the access log) is reported and counted, the connection closed, and
// the gateway serves on, as net/http's server does for its handlers.
func TestConnectionPanicIsSurvived(t *testing.T) {
	accessLogInTests = zap.New(panicCore{zapcore.InfoLevel})
	defer func() { accessLogInTests = nil }()
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	for i := range 2 {
		c := env.dial(t)
		c.send(rawRequest(http.MethodGet, "/doc"))
		_ = c.c.SetReadDeadline(time.Now().Add(h1Wait))
		_, err := io.ReadAll(c.br) // the response, if written before the log line, then the close
		if err != nil {
			t.Fatalf("connection %d: %v, want it closed after the panic", i, err)
		}
	}
	// The connection is closed as its goroutine unwinds, a moment before the panic is counted.
	eventually(t, "egressgw_recovered_panics_total{where=connection} is not 2", func() bool {
		return counterValue(env.eng.metrics.Panics.WithLabelValues("connection")) == 2
	})
	gw, client := tcpPair(t)
	defer client.Close()
	func() {
		defer env.eng.survive(gw)
		panic(http.ErrAbortHandler) // a handler's way to abort a response: not a bug
	}()
	if got := counterValue(env.eng.metrics.Panics.WithLabelValues("connection")); got != 2 {
		t.Errorf("http.ErrAbortHandler counted as a panic: %v, want 2", got)
	}
}

// counterValue reads c.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}
