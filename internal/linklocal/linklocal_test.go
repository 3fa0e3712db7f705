//go:build linux

package linklocal

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inNetns runs f on a thread of its own in a new, empty network namespace
// (root only). The thread is never unlocked, so Go ends it afterwards and
// no other goroutine runs in that namespace.
func inNetns(t *testing.T, f func() error) error {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the test makes a network namespace")
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		done <- f()
	}()
	return <-done
}

// addrsOf lists name's addresses and whether it is up, in the calling thread's namespace.
func addrsOf(name string) (up bool, addrs []netip.Addr, err error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return false, nil, err
	}
	as, err := ifi.Addrs()
	if err != nil {
		return false, nil, err
	}
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsGlobalUnicast() || p.Addr().IsLinkLocalUnicast() && p.Bits() == p.Addr().BitLen() {
			addrs = append(addrs, p.Addr())
		}
	}
	return ifi.Flags&net.FlagUp != 0, addrs, nil
}

// dummyKind is the kind Ensure must make: "dummy", or "bridge" where this
// kernel has no dummy driver (asked in a namespace of its own).
func dummyKind(t *testing.T) string {
	err := inNetns(t, func() error {
		s, err := dial()
		if err != nil {
			return err
		}
		defer s.close()
		return s.request(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, newLink("probe0", "dummy"))
	})
	switch {
	case err == nil:
		return "dummy"
	case errors.Is(err, unix.EOPNOTSUPP):
		t.Log("this kernel has no dummy driver: Ensure must fall back to a bridge")
		return "bridge"
	}
	t.Fatalf("probe for the dummy driver: %v", err)
	return ""
}

func TestEnsure(t *testing.T) {
	wantKind := dummyKind(t)
	v4, v6 := netip.MustParseAddr("169.254.20.11"), netip.MustParseAddr("fd00:20::11")
	tests := []struct {
		name  string
		setup func() error // before Ensure, in the namespace
		addrs []netip.Addr // given to Ensure, one call each
		want  []netip.Addr
		// existing: setup made the interface, so Ensure must not report it made
		existing bool
	}{
		{name: "new interface", addrs: []netip.Addr{v4}, want: []netip.Addr{v4}},
		{name: "second start keeps it", addrs: []netip.Addr{v4, v4}, want: []netip.Addr{v4}},
		{name: "IPv6 beside IPv4", addrs: []netip.Addr{v4, v6}, want: []netip.Addr{v4, v6}},
		{name: "existing interface down", setup: func() error {
			s, err := dial()
			if err != nil {
				return err
			}
			defer s.close()
			b := ifInfo(0, 0, 0) // not up
			b = attr(b, unix.IFLA_IFNAME, []byte("egressgw0\x00"))
			return s.request(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, attr(b, unix.IFLA_LINKINFO, attr(nil, unix.IFLA_INFO_KIND, []byte("bridge"))))
		}, addrs: []netip.Addr{v4}, want: []netip.Addr{v4}, existing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := inNetns(t, func() error {
				if tt.setup != nil {
					if err := tt.setup(); err != nil {
						t.Errorf("setup: %v", err)
						return nil
					}
				}
				for i, a := range tt.addrs {
					r, err := Ensure("egressgw0", a)
					if err != nil {
						t.Errorf("Ensure(egressgw0, %s): %v", a, err)
						return nil
					}
					if want := i == 0 && !tt.existing; r.Created != want {
						t.Errorf("call %d: Created %v, want %v", i+1, r.Created, want)
					}
					if r.Created && r.Kind != wantKind {
						t.Errorf("made a %q interface, want %q", r.Kind, wantKind)
					}
				}
				up, got, err := addrsOf("egressgw0")
				if err != nil {
					return err
				}
				if !up {
					t.Error("egressgw0 is down, want up")
				}
				if !sameAddrs(got, tt.want) {
					t.Errorf("egressgw0 carries %v, want %v", got, tt.want)
				}
				// The address is usable: a listener binds to it.
				for _, a := range tt.want {
					ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
					if err != nil {
						t.Errorf("listen on %s: %v", a, err)
						continue
					}
					ln.Close()
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func sameAddrs(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[netip.Addr]bool{}
	for _, x := range a {
		seen[x] = true
	}
	for _, x := range b {
		if !seen[x] {
			return false
		}
	}
	return true
}

// TestEnsureWithoutCapability: without CAP_NET_ADMIN the error says what is missing.
func TestEnsureWithoutCapability(t *testing.T) {
	err := inNetns(t, func() error {
		// Capabilities are per thread: drop CAP_NET_ADMIN from this one only.
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			return err
		}
		data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			return err
		}
		_, err := Ensure("egressgw0", netip.MustParseAddr("169.254.20.11"))
		return err
	})
	if err == nil {
		t.Fatal("Ensure without CAP_NET_ADMIN succeeded, want an error")
	}
	if !errors.Is(err, ErrNoPermission) || !strings.Contains(err.Error(), "CAP_NET_ADMIN") || !strings.Contains(err.Error(), "egressgw0") {
		t.Errorf("error %q: want one naming egressgw0 and CAP_NET_ADMIN (wrapping ErrNoPermission)", err)
	}
}

func TestEnsureBadInput(t *testing.T) {
	tests := []struct {
		name, iface string
		addr        netip.Addr
		want        string
	}{
		{"empty name", "", netip.MustParseAddr("169.254.20.11"), "not a valid interface name"},
		{"too long", "egressgw-interface0", netip.MustParseAddr("169.254.20.11"), "longer than 15 bytes"},
		{"slash", "egress/gw", netip.MustParseAddr("169.254.20.11"), `'/' is not allowed`},
		{"no address", "egressgw0", netip.Addr{}, "no address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Ensure(tt.iface, tt.addr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Ensure(%q, %v) = %v, want an error containing %q", tt.iface, tt.addr, err, tt.want)
			}
		})
	}
}
