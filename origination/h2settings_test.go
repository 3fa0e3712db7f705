package origination

import (
	"context"
	"io"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestH2InvalidSettingsNamed: SETTINGS with an initial window of 2^31, in
// the handshake or later, end the connection with an error that names
// FLOW_CONTROL_ERROR and the setting, not "<nil>".
func TestH2InvalidSettingsNamed(t *testing.T) {
	bad := http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31}
	for _, tt := range []struct {
		name  string
		later bool // sent after a valid handshake, with a request open
	}{
		{name: "in the handshake"},
		{name: "after the handshake", later: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newRawH2Server(t, func(_ int, rc *rawH2Conn) {
				if !tt.later {
					_ = rc.handshake(bad)
				} else {
					if _, err := rc.firstRequest(); err != nil {
						t.Error(err)
						return
					}
					_ = rc.fr.WriteSettings(bad)
				}
				_, _ = io.Copy(io.Discard, rc)
			})
			p := newTestH2Pool(t, u)
			var err error
			if !tt.later {
				ctx, cancel := context.WithTimeout(context.Background(), h2Wait)
				defer cancel()
				_, err = p.Get(ctx, h2Host)
			} else {
				_, s := openStream(t, p, h2Req("http", "GET", "/"))
				_, err = s.ReadResponse()
			}
			if err == nil || !strings.Contains(err.Error(), "FLOW_CONTROL_ERROR") || !strings.Contains(err.Error(), "SETTINGS_INITIAL_WINDOW_SIZE") ||
				strings.Contains(err.Error(), "<nil>") {
				t.Fatalf("error %v, want one naming FLOW_CONTROL_ERROR and SETTINGS_INITIAL_WINDOW_SIZE", err)
			}
		})
	}
}

// TestH2FrameTooLarge: a frame over the 16384 bytes we allow (we announce
// no larger SETTINGS_MAX_FRAME_SIZE) ends the connection with an error
// naming FRAME_SIZE_ERROR, before a HEADERS frame that large is decoded.
func TestH2FrameTooLarge(t *testing.T) {
	u := newRawH2Server(t, func(_ int, rc *rawH2Conn) {
		hf, err := rc.firstRequest()
		if err != nil {
			t.Error(err)
			return
		}
		rc.hbuf.Reset()
		_ = rc.henc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
		_ = rc.henc.WriteField(hpack.HeaderField{Name: "x-big", Value: strings.Repeat("~", h2MaxFrameRead)})
		_ = rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: hf.StreamID, BlockFragment: rc.hbuf.Bytes(), EndHeaders: true})
		_, _ = io.Copy(io.Discard, rc)
	})
	p := newTestH2Pool(t, u)
	_, s := openStream(t, p, h2Req("http", "GET", "/"))
	if _, err := s.ReadResponse(); err == nil || !strings.Contains(err.Error(), "FRAME_SIZE_ERROR") {
		t.Fatalf("a frame over 16384 bytes: %v; want an error naming FRAME_SIZE_ERROR", err)
	}
}
