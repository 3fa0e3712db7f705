//go:build linux

// Package linklocal brings up the node-local address egressgw listens on:
// a dummy interface (NodeLocal DNSCache's pattern) carrying --egress-addr,
// made by the gateway itself so its DaemonSet needs no init image.
//
// Ensure is idempotent: an interface of that name already there is reused,
// an address already on it is kept. Nothing is torn down at exit: while a
// rolling update replaces the gateway, a pod's packet to the address must
// meet a closed port on the node, not leave the node by its default route.
//
// A kernel built without the dummy driver (CONFIG_DUMMY; some VM kernels)
// gets an empty bridge instead, which carries a local address the same way.
//
// It talks rtnetlink through golang.org/x/sys/unix (no netlink library):
// three requests, each acknowledged by the kernel.
package linklocal

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// ErrNoPermission is wrapped by Ensure's error when the kernel refused a
// change for want of CAP_NET_ADMIN.
var ErrNoPermission = errors.New("needs CAP_NET_ADMIN (in Kubernetes: securityContext.capabilities.add: [NET_ADMIN])")

// Result says what Ensure did, for the gateway's log.
type Result struct {
	Created bool   // the interface was made now (false: it was there)
	Kind    string // of a made interface: "dummy", or "bridge" on a kernel without the dummy driver
}

// Ensure makes sure an interface called name exists, is up and carries addr
// (as a /32 or /128); one it makes is a dummy interface. It must run before
// the listeners on addr bind.
func Ensure(name string, addr netip.Addr) (Result, error) {
	var r Result
	if err := checkName(name); err != nil {
		return r, err
	}
	if !addr.IsValid() {
		return r, fmt.Errorf("egress interface %s: no address to add", name)
	}
	addr = addr.Unmap()
	s, err := dial()
	if err != nil {
		return r, fmt.Errorf("egress interface %s: %w", name, err)
	}
	defer s.close()

	ifi, err := net.InterfaceByName(name)
	if err != nil {
		if r.Kind, err = s.create(name); err != nil {
			return r, err
		}
		r.Created = r.Kind != ""
		if ifi, err = net.InterfaceByName(name); err != nil {
			return r, fmt.Errorf("create interface %s: %w", name, err)
		}
	}
	if err := s.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, newAddress(ifi.Index, addr)); err != nil {
		return r, fmt.Errorf("add %s to interface %s: %w", addr, name, permission(err))
	}
	if ifi.Flags&net.FlagUp == 0 {
		if err := s.request(unix.RTM_NEWLINK, 0, setUp(ifi.Index)); err != nil {
			return r, fmt.Errorf("set interface %s up: %w", name, permission(err))
		}
	}
	return r, nil
}

// create makes interface name: a dummy one, or an empty bridge where the
// kernel has no dummy driver. It returns the kind made ("" if another
// process made it meanwhile).
func (s *nlSocket) create(name string) (string, error) {
	kind := "dummy"
	err := s.request(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, newLink(name, kind))
	if errors.Is(err, unix.EOPNOTSUPP) {
		kind = "bridge"
		err = s.request(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL, newLink(name, kind))
		if errors.Is(err, unix.EOPNOTSUPP) {
			return "", fmt.Errorf("create interface %s: the kernel has neither the dummy nor the bridge driver (modprobe dummy): %w", name, err)
		}
	}
	switch {
	case errors.Is(err, unix.EEXIST):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("create %s interface %s: %w", kind, name, permission(err))
	}
	return kind, nil
}

// checkName applies the kernel's rules for interface names (dev_valid_name).
func checkName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("egress interface %q: not a valid interface name", name)
	case len(name) >= unix.IFNAMSIZ:
		return fmt.Errorf("egress interface %q: longer than %d bytes, the kernel's limit", name, unix.IFNAMSIZ-1)
	}
	for _, c := range []byte(name) {
		if c == '/' || c == ':' || c <= ' ' || c == 0x7f {
			return fmt.Errorf("egress interface %q: %q is not allowed in an interface name", name, c)
		}
	}
	return nil
}

func permission(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w: %w", err, ErrNoPermission)
	}
	return err
}
