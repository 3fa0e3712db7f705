package origination

import (
	"crypto/tls"
	"crypto/x509"
)

// TLS is how to originate TLS to one upstream port (a DestinationRule's
// tls with mode SIMPLE or MUTUAL). Built and validated once per
// configuration snapshot; immutable afterwards.
type TLS struct {
	Mutual             bool
	SNI                string   // server name to send; "" means the upstream host
	SubjectAltNames    []string // if set, the peer certificate must carry one of these (replaces host name verification)
	InsecureSkipVerify bool
	RootCAs            *x509.CertPool   // caCertificates / ca.crt; nil means system roots plus --ca-file
	Certificate        *tls.Certificate // client certificate (MUTUAL)
	Source             string           // where it came from, e.g. "DestinationRule default/nginx portLevelSettings[0].tls"
	Fingerprint        string           // stable identity of every input above (hash), for pooling connections across reloads
}
