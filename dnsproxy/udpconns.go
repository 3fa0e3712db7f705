package dnsproxy

import (
	"net"
	"sync"
)

const (
	// maxIdleConns bounds the sockets kept between exchanges. Sockets beyond
	// it, opened in a burst, are closed after their exchange.
	maxIdleConns = 128
	// maxConnUses retires a socket after that many exchanges, so that the
	// source ports the upstream sees keep changing, as with a socket per
	// query, at a dial every thousand queries rather than every query.
	maxConnUses = 1000
)

// udpConns keeps connected UDP sockets to the upstream between exchanges:
// opening one per query (socket, connect, registering with the poller,
// close) costs more than the exchange itself. Each socket serves one
// exchange at a time, so a reply can only be mistaken for another query's
// if it carries that query's random ID and question (see matchReply); a
// socket on which an exchange failed, a timeout included, is closed rather
// than reused, so the late reply has nowhere to land. Safe for concurrent
// use.
type udpConns struct {
	addr string

	mu   sync.Mutex
	idle []*udpConn // guarded by mu; a stack: the warmest socket first
}

type udpConn struct {
	net.Conn
	uses int
}

// get returns an idle socket, or a new one.
func (p *udpConns) get() (*udpConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return c, nil
	}
	p.mu.Unlock()
	conn, err := net.Dial("udp", p.addr)
	if err != nil {
		return nil, err
	}
	rc, err := newRawConn(conn)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &udpConn{Conn: rc}, nil
}

// put takes back c after an exchange: kept for the next one if the
// exchange succeeded, else closed.
func (p *udpConns) put(c *udpConn, ok bool) {
	c.uses++
	if ok && c.uses < maxConnUses {
		p.mu.Lock()
		if len(p.idle) < maxIdleConns {
			p.idle = append(p.idle, c)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
	}
	_ = c.Close()
}
