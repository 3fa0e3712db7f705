// Package peek looks at a socket's receive queue without taking from it
// and without waiting: whether the peer has sent something, closed, or
// neither. One non-blocking recv(MSG_PEEK) per look.
package peek

// State is what a socket's receive queue holds.
type State int

const (
	Empty  State = iota // nothing yet: a read would wait
	Ready               // bytes are waiting (or an interrupted look: read to find out)
	Closed              // the peer closed its side, or the socket has an error
)
