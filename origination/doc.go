// Package origination sends plaintext HTTP requests to upstreams over TLS
// (or plain HTTP), as a DestinationRule asks, through pooled connections
// that outlive configuration reloads.
package origination
