//go:build !linux

package egress

// fastPathsBuilt: egressgw's own fast paths (the HTTP/1 server loop's
// wait, the epoll relay) are Linux's; here the engine serves with the
// standard library's (Config.StdlibPaths).
const fastPathsBuilt = false
