package origination

import (
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// TestH2OpenAfterGoAway: a stream slot reserved before the upstream's
// GOAWAY arrived opens no stream the upstream would ignore: Open fails at
// once with a refused StreamResetError, which the caller may send again
// elsewhere.
func TestH2OpenAfterGoAway(t *testing.T) {
	reserved := make(chan struct{}) // the second slot is taken: the GOAWAY may go
	u := newFirstConnH2Server(t, func(rc *rawH2Conn, a *http2.MetaHeadersFrame) {
		select {
		case <-reserved:
		case <-time.After(h2Wait):
			t.Error("the test never reserved its second slot")
		}
		_ = rc.fr.WriteGoAway(a.StreamID, http2.ErrCodeNo, nil)
		_ = rc.headers(a.StreamID, true, ":status", "204")
		_, _ = io.Copy(io.Discard, rc)
	})
	p := newTestH2Pool(t, u)
	c1, s1 := openStream(t, p, h2Req("http", "GET", "/a"))
	c2 := getConn(t, p)
	close(reserved)
	if c2 != c1 {
		t.Fatal("the second slot is on another connection")
	}
	// The GOAWAY came before the response: once that is read, it was handled.
	if resp, err := s1.ReadResponse(); err != nil || resp.StatusCode != 204 {
		t.Fatalf("stream below the GOAWAY: %v, %v", resp, err)
	}
	_ = s1.Close()
	s2, err := c1.Open(h2Req("http", "GET", "/b"))
	if err == nil {
		bound(t, s2)
		_, err = s2.ReadResponse()
	}
	var re *StreamResetError
	if !errors.As(err, &re) || !re.Refused() {
		t.Fatalf("a stream opened after the GOAWAY: %v, want a refused StreamResetError", err)
	}
}

// TestH2NoResponseError: streams whose connection ends before any of
// their response arrived fail with a NoResponseError (not Unprocessed:
// the upstream had them); one answered in part fails otherwise; a stream
// opened on the dead connection fails Unprocessed.
func TestH2NoResponseError(t *testing.T) {
	u := newFirstConnH2Server(t, func(rc *rawH2Conn, a *http2.MetaHeadersFrame) {
		if _, err := rc.request(); err != nil {
			t.Error(err)
			return
		}
		_ = rc.headers(a.StreamID, false, ":status", "200")
		_ = rc.Close()
	})
	p := newTestH2Pool(t, u)
	c, answered := openStream(t, p, h2Req("http", "GET", "/a"))
	_, unanswered := openStream(t, p, h2Req("http", "GET", "/b"))
	var nr *NoResponseError
	if _, err := unanswered.ReadResponse(); !errors.As(err, &nr) || nr.Unprocessed() || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("unanswered stream: %v, want a NoResponseError (processed or not) of an unexpected EOF", err)
	}
	resp, err := answered.ReadResponse()
	if err != nil {
		t.Fatalf("answered stream: %v", err)
	}
	if _, err := io.ReadAll(resp.Body); err == nil || errors.As(err, &nr) {
		t.Errorf("answered stream's body: %v, want an error other than NoResponseError", err)
	}
	if _, err := c.Open(h2Req("http", "GET", "/c")); !errors.As(err, &nr) || !nr.Unprocessed() {
		t.Errorf("Open on the dead connection: %v, want an Unprocessed NoResponseError", err)
	}
}
