//go:build linux

package linklocal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// nlSocket is one rtnetlink socket; requests on it are made one at a time.
type nlSocket struct {
	fd  int
	seq uint32
}

func dial() (*nlSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open rtnetlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind rtnetlink socket: %w", err)
	}
	// A kernel that never answers must not hang the gateway's start.
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("rtnetlink socket timeout: %w", err)
	}
	return &nlSocket{fd: fd}, nil
}

func (s *nlSocket) close() { unix.Close(s.fd) }

// request sends one message of type typ with body and waits for the
// kernel's acknowledgement: nil, or the errno it answered with.
func (s *nlSocket) request(typ uint16, flags uint16, body []byte) error {
	s.seq++
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	msg = append(msg, body...)
	binary.NativeEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:6], typ)
	binary.NativeEndian.PutUint16(msg[6:8], flags|unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	binary.NativeEndian.PutUint32(msg[8:12], s.seq)
	if err := unix.Sendto(s.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send rtnetlink request: %w", err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			return fmt.Errorf("read rtnetlink answer: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return fmt.Errorf("parse rtnetlink answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != s.seq || m.Header.Type != unix.NLMSG_ERROR {
				continue
			}
			if len(m.Data) < 4 {
				return errors.New("parse rtnetlink answer: short NLMSG_ERROR")
			}
			if errno := -int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
				return unix.Errno(errno)
			}
			return nil
		}
	}
}

// attr appends one rtnetlink attribute (padded to 4 bytes) to b.
func attr(b []byte, typ uint16, data []byte) []byte {
	l := unix.SizeofRtAttr + len(data)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%unix.NLMSG_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

func ifInfo(index int32, flags, change uint32) []byte {
	m := unix.IfInfomsg{Family: unix.AF_UNSPEC, Index: index, Flags: flags, Change: change}
	return append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofIfInfomsg)...)
}

// newLink is RTM_NEWLINK's body for an interface of kind called name, up.
func newLink(name, kind string) []byte {
	b := ifInfo(0, unix.IFF_UP, unix.IFF_UP)
	b = attr(b, unix.IFLA_IFNAME, append([]byte(name), 0))
	info := attr(nil, unix.IFLA_INFO_KIND, []byte(kind))
	return attr(b, unix.IFLA_LINKINFO, info)
}

// setUp is RTM_NEWLINK's body that sets interface index up.
func setUp(index int) []byte { return ifInfo(int32(index), unix.IFF_UP, unix.IFF_UP) }

// newAddress is RTM_NEWADDR's body for addr alone (/32 or /128) on index.
func newAddress(index int, addr netip.Addr) []byte {
	m := unix.IfAddrmsg{Family: unix.AF_INET, Prefixlen: 32, Scope: unix.RT_SCOPE_UNIVERSE, Index: uint32(index)}
	if addr.Is6() {
		// No duplicate address detection: the address is node-local, and a
		// tentative one cannot be bound until DAD ends.
		m.Family, m.Prefixlen, m.Flags = unix.AF_INET6, 128, unix.IFA_F_NODAD
	}
	b := append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(&m)), unix.SizeofIfAddrmsg)...)
	raw := addr.AsSlice()
	b = attr(b, unix.IFA_LOCAL, raw)
	return attr(b, unix.IFA_ADDRESS, raw)
}
