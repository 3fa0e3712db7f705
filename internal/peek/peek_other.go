//go:build !unix

package peek

import "syscall"

// FD cannot look without taking here: it reports Ready, which makes the
// caller read to find out.
func FD(uintptr) State { return Ready }

// Conn cannot look without taking here: it reports Empty, so a client
// watch sees no hang-up and a pooled upstream connection is taken as
// alive (a request on one that was closed meanwhile is retried when safe).
func Conn(syscall.Conn) State { return Empty }
