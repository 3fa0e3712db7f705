package route

// hostIndex finds the virtual host of a request host: exact, then the
// longest wildcard suffix, then "*". (Filled in by the route table's build.)
type hostIndex struct{}
