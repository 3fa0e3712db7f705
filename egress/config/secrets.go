package config

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// secret records a core/v1 Secret for credentialName lookups. stringData
// wins over data, as the API server does when it merges them.
func (c *compiler) secret(o *object) {
	var s corev1.Secret
	if err := json.Unmarshal(o.JSON, &s); err != nil {
		c.r.problem(o.File, o.Resource(), "", "%s", jsonErr(err))
		return
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	c.secrets[o.Namespace+"/"+o.Name] = &s
}

// credential is the PEM material a credentialName refers to.
type credential struct {
	ca, cert, key []byte
	name          string // "namespace/name" of the Secret used
}

// credential finds the Secret name for a DestinationRule in namespace ns:
// in ns, else in the gateway's namespace. Keys tls.crt/tls.key/ca.crt
// (kubernetes.io/tls style) or cert/key/cacert (Istio generic); the CA may
// also come from a Secret named "<name>-cacert". Problems are reported at
// field; ok is false if the Secret was not found.
func (c *compiler) credential(o *object, field, name string) (cr credential, ok bool) {
	cr, missing := c.findCredential(o, name)
	if missing != "" {
		c.r.problem(o.File, o.Resource(), field, "%s", missing)
		return cr, false
	}
	return cr, true
}

// findCredential is credential without the problem: missing says which
// Secret was not found and where it was looked for, empty when found.
func (c *compiler) findCredential(o *object, name string) (cr credential, missing string) {
	nss := []string{o.Namespace}
	if c.opts.Namespace != o.Namespace {
		nss = append(nss, c.opts.Namespace)
	}
	for _, n := range nss {
		c.secretRefs[n+"/"+name] = true
		c.secretRefs[n+"/"+name+"-cacert"] = true
	}
	var s *corev1.Secret
	var ns string
	for _, n := range nss {
		if s = c.secrets[n+"/"+name]; s != nil {
			ns = n
			break
		}
	}
	if s == nil {
		msg := fmt.Sprintf("Secret %s/%s not found", nss[0], name)
		if len(nss) > 1 {
			msg += fmt.Sprintf(" (nor %s/%s)", nss[1], name)
		}
		return cr, msg
	}
	cr.name = ns + "/" + name
	cr.cert = secretKey(s, "tls.crt", "cert")
	cr.key = secretKey(s, "tls.key", "key")
	cr.ca = secretKey(s, "ca.crt", "cacert")
	if cr.ca == nil {
		if cs := c.secrets[ns+"/"+name+"-cacert"]; cs != nil {
			cr.ca = secretKey(cs, "ca.crt", "cacert")
		}
	}
	return cr, ""
}

func secretKey(s *corev1.Secret, keys ...string) []byte {
	for _, k := range keys {
		if v, ok := s.Data[k]; ok && len(v) > 0 {
			return v
		}
	}
	return nil
}
