package dnsproxy

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeClock is a settable clock for the resolver cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTestResolver(t *testing.T, up *upstream) (*Resolver, *fakeClock) {
	t.Helper()
	r := NewResolver(up.addr, time.Second)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	r.now = clock.Now
	return r, clock
}

func TestResolverCacheHit(t *testing.T) {
	up := startUpstream(t)
	r, _ := newTestResolver(t, up)
	ctx := context.Background()
	want := []netip.Addr{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")}

	for i := range 3 {
		got, err := r.LookupAddrs(ctx, "V6.Example.com")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("lookup %d: %v, want %v (IPv4 first)", i, got, want)
		}
		got[0] = netip.Addr{} // callers own their slice
	}
	if seen := up.queries(); len(seen) != 2 {
		t.Errorf("upstream saw %d queries, want 2 (one A, one AAAA)", len(seen))
	}
}

func TestResolverTTLExpiry(t *testing.T) {
	tests := []struct {
		name     string
		ttl      uint32
		fresh    time.Duration // still cached this long after the lookup
		expired  time.Duration // asked again this long after
		upstream string
	}{
		{"record ttl", 30, 29 * time.Second, 30 * time.Second, ""},
		{"zero ttl clamped to 1s", 0, 999 * time.Millisecond, time.Second, ""},
		{"long ttl clamped to 300s", 86400, 299 * time.Second, 300 * time.Second, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := startUpstream(t)
			up.set(func(u *upstream) { u.ttl = tt.ttl })
			r, clock := newTestResolver(t, up)
			lookup := func() {
				t.Helper()
				if _, err := r.LookupAddrs(context.Background(), "api.example.com"); err != nil {
					t.Fatal(err)
				}
			}
			lookup()
			clock.Advance(tt.fresh)
			lookup()
			if n := len(up.queries()); n != 2 {
				t.Errorf("after %v: upstream saw %d queries, want 2", tt.fresh, n)
			}
			clock.Advance(tt.expired - tt.fresh)
			lookup()
			if n := len(up.queries()); n != 4 {
				t.Errorf("after %v: upstream saw %d queries, want 4", tt.expired, n)
			}
		})
	}
}

func TestResolverNXDOMAIN(t *testing.T) {
	up := startUpstream(t)
	r, clock := newTestResolver(t, up)
	want := "resolve nx.example.com via " + up.addr + ": NXDOMAIN"
	for range 2 {
		_, err := r.LookupAddrs(context.Background(), "nx.example.com.")
		var le *LookupError
		if err == nil || err.Error() != want || !errors.As(err, &le) || le.Rcode != dns.RcodeNameError {
			t.Fatalf("error %v, want %q", err, want)
		}
	}
	if n := len(up.queries()); n != 2 {
		t.Errorf("upstream saw %d queries, want 2: the failure is cached", n)
	}
	clock.Advance(5 * time.Second)
	r.LookupAddrs(context.Background(), "nx.example.com")
	if n := len(up.queries()); n != 4 {
		t.Errorf("upstream saw %d queries, want 4: negative cache is 5s", n)
	}
}

func TestResolverNoAddresses(t *testing.T) {
	up := startUpstream(t)
	r, _ := newTestResolver(t, up)
	want := "resolve nodata.example.com via " + up.addr + ": no A or AAAA records"
	if _, err := r.LookupAddrs(context.Background(), "nodata.example.com"); err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestResolverUpstreamDown(t *testing.T) {
	dead := deadUpstream(t)
	r := NewResolver(dead, time.Second)
	_, err := r.LookupAddrs(context.Background(), "API.example.com")
	var le *LookupError
	if !errors.As(err, &le) || le.Err == nil || le.Host != "api.example.com" || le.Upstream != dead {
		t.Errorf("error %v, want a LookupError for api.example.com via %s with the transport error", err, dead)
	}
}

func TestResolverIPLiteral(t *testing.T) {
	up := startUpstream(t)
	r, _ := newTestResolver(t, up)
	for _, host := range []string{"10.1.2.3", "2001:db8::7", "[2001:db8::7]", "::ffff:10.1.2.3"} {
		got, err := r.LookupAddrs(context.Background(), host)
		want := netip.MustParseAddr(trimBrackets(host))
		if err != nil || len(got) != 1 || got[0] != want {
			t.Errorf("LookupAddrs(%q) = %v, %v; want [%v]", host, got, err, want)
		}
	}
	if n := len(up.queries()); n != 0 {
		t.Errorf("upstream saw %d queries, want none", n)
	}
}

func trimBrackets(s string) string {
	if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		return s[1 : len(s)-1]
	}
	return s
}

func TestResolverSharesOneQuery(t *testing.T) {
	up := startUpstream(t)
	hold := make(chan struct{})
	up.set(func(u *upstream) { u.hold = hold })
	r, _ := newTestResolver(t, up)

	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := r.LookupAddrs(context.Background(), "api.example.com")
			errs <- err
		})
	}
	<-up.first
	// A caller that gives up does not stop the shared query.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.LookupAddrs(ctx, "api.example.com"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v, want context.Canceled", err)
	}
	time.Sleep(50 * time.Millisecond) // let every caller join the lookup
	close(hold)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if seen := up.queries(); len(seen) != 2 {
		t.Errorf("upstream saw %d queries, want 2 (one A, one AAAA)", len(seen))
	}
}

func TestResolverInvalidName(t *testing.T) {
	r := NewResolver(deadUpstream(t), time.Second)
	for _, host := range []string{"", ".", "a..b"} {
		if _, err := r.LookupAddrs(context.Background(), host); err == nil {
			t.Errorf("LookupAddrs(%q): no error", host)
		}
	}
}

func TestResolverCacheBounded(t *testing.T) {
	r := NewResolver(deadUpstream(t), time.Second)
	clock := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	r.now = clock.Now
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range maxCacheEntries + 10 {
		r.store(strconv.Itoa(i)+".example.", cacheEntry{expires: clock.Now().Add(time.Duration(i) * time.Second)})
	}
	if n := len(r.cache); n > maxCacheEntries {
		t.Errorf("cache holds %d entries, want at most %d", n, maxCacheEntries)
	}
}
