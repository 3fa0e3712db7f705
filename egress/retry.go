package egress

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/egressgw/egressgw/origination"
	"github.com/egressgw/egressgw/route"
)

// retryConnect reports whether a route's policy retries a failed
// connection after try tries (connect-failure, and the 5xx and
// gateway-error sets that include it).
func retryConnect(p *route.Retries, try int) bool {
	return p != nil && try < p.Attempts && p.On&(route.RetryConnectFailure|route.Retry5xx|route.RetryGatewayError|route.RetryReset) != 0
}

// retryStatus reports whether a route's policy retries a response with
// status code after try tries: 5xx, gateway-error (502, 503, 504), or
// retriable-status-codes (503, Istio's list).
func retryStatus(p *route.Retries, try, code int) bool {
	if p == nil || try >= p.Attempts {
		return false
	}
	switch {
	case p.On&route.Retry5xx != 0 && code >= 500:
	case p.On&route.RetryGatewayError != 0 && (code == 502 || code == 503 || code == 504):
	case p.On&(route.RetryRetriableStatusCodes|route.RetryUnavailable) != 0 && code == 503:
	case p.On&route.RetryRetriable4xx != 0 && code == 409:
	default:
		return false
	}
	return true
}

// backoff waits before retry try+1: a random time up to 25 ms doubled per
// retry, capped at 250 ms (Envoy's defaults). False if ctx ends first.
func backoff(ctx context.Context, try int) bool {
	max := min(25*time.Millisecond<<try, 250*time.Millisecond)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(max)) + 1))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// retryTransport retries, on the ReverseProxy path, the requests whose
// route asks for it (the route rides in the request's context): a failed
// connection, and a retriable status when the request has no body to replay.
type retryTransport struct {
	base http.RoundTripper
}

func (t retryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rv, _ := r.Context().Value(routeKey{}).(routed)
	rt := rv.rt
	if rt == nil || rt.Retries.Attempts == 0 {
		return t.base.RoundTrip(r)
	}
	p := &rt.Retries
	replayable := r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0
	for try := 0; ; try++ {
		req, cancel := r, context.CancelFunc(nil)
		if p.PerTryTimeout > 0 {
			var ctx context.Context
			ctx, cancel = context.WithTimeout(r.Context(), p.PerTryTimeout)
			req = r.WithContext(ctx)
		}
		resp, err := t.base.RoundTrip(req)
		switch {
		case err != nil && replayable && try < p.Attempts && (connectFailed(err) || perTryExpired(r, err)) && retryConnect(p, try):
		case err == nil && replayable && retryStatus(p, try, resp.StatusCode):
			_ = resp.Body.Close()
		default:
			if cancel != nil {
				if err != nil {
					cancel()
				} else {
					resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
				}
			}
			return resp, err
		}
		if cancel != nil {
			cancel()
		}
		if !backoff(r.Context(), try) {
			return nil, r.Context().Err()
		}
	}
}

// connectFailed reports an error of a connection that was never made.
func connectFailed(err error) bool {
	_, cause := origination.Classify(err)
	switch cause {
	case origination.CauseRefused, origination.CauseUnreachable, origination.CauseTimeout, origination.CauseDNS:
		return true
	}
	return false
}

// perTryExpired reports a try that ran out of its per-try timeout while the request's own context lives on.
func perTryExpired(r *http.Request, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil
}

// cancelBody ends a try's context once its response body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
