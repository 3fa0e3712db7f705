package dnsproxy

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"sync"

	"github.com/miekg/dns"
)

// The hot paths work on DNS messages in wire format: building a dns.Msg to
// pack it, or unpacking an upstream reply only to pack it again, costs more
// than the rest of a query's handling together.

const (
	headerLen = 12

	// Bits of the header's flags word (RFC 1035 section 4.1.1).
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagRA = 1 << 7
	flagCD = 1 << 4

	optDO = 1 << 15 // the DO bit in an OPT record's TTL (RFC 6891)
)

// buffers holds buffers of the largest DNS message, so that no datagram is
// ever cut short by its buffer.
var buffers = sync.Pool{New: func() any { b := make([]byte, dns.MaxMsgSize); return &b }}

// smallBuffers holds buffers for the replies the gateway builds itself. The
// largest, an intercepted AAAA answer with an OPT record, is 12+255+4+28+11
// bytes.
var smallBuffers = sync.Pool{New: func() any { return new([smallBufferLen]byte) }}

const smallBufferLen = 512

func getBuffer() *[]byte  { return buffers.Get().(*[]byte) }
func putBuffer(b *[]byte) { buffers.Put(b) }

// replyBuffers hold the upstream's replies to clients that take less than
// replyBufferLen bytes (most: 512 without EDNS, 1232 or 4096 with). Under
// a flood to a silent upstream every forwarded query in flight holds one:
// the largest message's buffer, zeroed whenever the pool's were collected,
// had made the gateway's RSS grow by 64 KiB a query.
var replyBuffers = sync.Pool{New: func() any { return new([replyBufferLen]byte) }}

const replyBufferLen = 4096

// randomID is a message ID an off-path attacker cannot guess, as dns.Id's
// is, but without dns.Id's allocation (binary.Read); and where the kernel
// has the vDSO getrandom, crypto/rand needs no system call either.
func randomID() uint16 {
	var b [2]byte
	_, _ = rand.Read(b[:]) // never fails: it crashes the program instead
	return binary.BigEndian.Uint16(b[:])
}

func msgID(msg []byte) uint16        { return binary.BigEndian.Uint16(msg) }
func setMsgID(msg []byte, id uint16) { binary.BigEndian.PutUint16(msg, id) }
func msgFlags(msg []byte) uint16     { return binary.BigEndian.Uint16(msg[2:]) }
func qdCount(msg []byte) uint16      { return binary.BigEndian.Uint16(msg[4:]) }

// questionEnd returns the offset just past the first question of msg, a
// query as miekg packs it: the question's name is never compressed, as
// nothing precedes it. ok is false if msg has no whole question.
func questionEnd(msg []byte) (end int, ok bool) {
	if len(msg) < headerLen || qdCount(msg) == 0 {
		return 0, false
	}
	off := headerLen
	for off < len(msg) {
		l := int(msg[off])
		off++
		switch {
		case l == 0:
			end = off + 4 // type and class
			return end, end <= len(msg)
		case l > 63: // a compression pointer, or reserved label types
			return 0, false
		}
		off += l
	}
	return 0, false
}

// replyStatus is what became of a datagram read while waiting for a reply.
type replyStatus uint8

const (
	replyMatches       replyStatus = iota
	replyStale                     // another ID, or not a response: an old or stray datagram
	replyOtherQuestion             // our ID, but not our question
)

// matchReply tells whether reply answers query, whose question section is
// query[headerLen:qend]: the same ID, the QR bit, and the same question, the
// name compared case-insensitively (RFC 4343). As sameQuestion does, it
// lets a reply without a question (FORMERR, some REFUSED) through on its ID
// alone.
func matchReply(reply, query []byte, qend int) replyStatus {
	if len(reply) < headerLen || msgID(reply) != msgID(query) || msgFlags(reply)&flagQR == 0 {
		return replyStale
	}
	switch qdCount(reply) {
	case 0:
		return replyMatches
	case qdCount(query):
	default:
		return replyOtherQuestion
	}
	if len(reply) < qend {
		return replyOtherQuestion
	}
	// Byte by byte: ASCII folding maps only 'A'..'Z', never a label length
	// (at most 63), so the labels must line up exactly too.
	nameEnd := qend - 4
	for i := headerLen; i < nameEnd; i++ {
		if lower(reply[i]) != lower(query[i]) {
			return replyOtherQuestion
		}
	}
	if string(reply[nameEnd:qend]) != string(query[nameEnd:qend]) {
		return replyOtherQuestion
	}
	return replyMatches
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// packIntercept appends to b the reply to r, which asks q about an
// intercepted name: authoritative, the question echoed, one A or AAAA
// record of the egress address when q asks for the egress address's family
// in class IN, else none, and an OPT record when r has one. The answer's
// owner name is a pointer to the question's, so it keeps the client's case.
func (h *Handler) packIntercept(b []byte, r *dns.Msg, q *dns.Question) (msg []byte, answers int, err error) {
	var addr net.IP
	if q.Qclass == dns.ClassINET {
		switch q.Qtype {
		case dns.TypeA:
			addr = h.a
		case dns.TypeAAAA:
			addr = h.aaaa
		}
	}
	if addr != nil {
		answers = 1
	}
	ropt := r.IsEdns0()
	flags := uint16(flagQR | flagAA | flagRA)
	if r.RecursionDesired {
		flags |= flagRD
	}
	if r.CheckingDisabled {
		flags |= flagCD
	}
	additional := 0
	if ropt != nil {
		additional = 1
	}
	b = binary.BigEndian.AppendUint16(b, r.Id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, 1) // QDCOUNT
	b = binary.BigEndian.AppendUint16(b, uint16(answers))
	b = binary.BigEndian.AppendUint16(b, 0) // NSCOUNT
	b = binary.BigEndian.AppendUint16(b, uint16(additional))

	b = b[:cap(b)]
	off, err := dns.PackDomainName(q.Name, b, headerLen, nil, false)
	if err != nil {
		return nil, 0, err
	}
	b = b[:off]
	b = binary.BigEndian.AppendUint16(b, q.Qtype)
	b = binary.BigEndian.AppendUint16(b, q.Qclass)
	if addr != nil {
		b = binary.BigEndian.AppendUint16(b, 0xC000|headerLen) // pointer to the question's name
		b = binary.BigEndian.AppendUint16(b, q.Qtype)
		b = binary.BigEndian.AppendUint16(b, dns.ClassINET)
		b = binary.BigEndian.AppendUint32(b, h.ttl)
		b = binary.BigEndian.AppendUint16(b, uint16(len(addr)))
		b = append(b, addr...)
	}
	if ropt != nil {
		var ttl uint32 // extended rcode 0, version 0, flags
		if ropt.Do() {
			ttl = optDO
		}
		b = append(b, 0) // the root name
		b = binary.BigEndian.AppendUint16(b, dns.TypeOPT)
		b = binary.BigEndian.AppendUint16(b, ednsUDPSize) // the class is the UDP payload size
		b = binary.BigEndian.AppendUint32(b, ttl)
		b = binary.BigEndian.AppendUint16(b, 0) // no options
	}
	return b, answers, nil
}
