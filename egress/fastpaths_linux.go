package egress

// fastPathsBuilt says whether egressgw's own fast paths (the HTTP/1 server
// loop, the epoll relay) are built for this system; elsewhere the engine
// serves with the standard library's (Config.StdlibPaths).
const fastPathsBuilt = true
