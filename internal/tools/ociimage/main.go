// Command ociimage builds egressgw's container image without a Docker
// daemon: one layer onto an empty base, holding the static binary (with the
// file capabilities internal/caps raises) and the CA bundle TLS origination
// trusts, run as user 65532 with `egressgw run` as the entrypoint. It
// writes an OCI image layout as one tar file (an "OCI archive": load it with
// `ctr images import`, `skopeo copy oci-archive:...`, `podman load` or
// `kind load image-archive`). `make image` runs it.
//
// Uses github.com/google/go-containerregistry (empty base, layer, config,
// OCI layout). The archive is reproducible: every time stamp is zero.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "", "the static egressgw binary (CGO_ENABLED=0)")
	flag.StringVar(&o.caBundle, "ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM roots installed as /etc/ssl/certs/ca-certificates.crt")
	flag.StringVar(&o.out, "out", ".build/egressgw-image.tar", "OCI archive to write")
	flag.StringVar(&o.ref, "tag", "ghcr.io/egressgw/egressgw:dev", "image name recorded in the archive (org.opencontainers.image.ref.name)")
	flag.StringVar(&o.arch, "arch", "amd64", "the binary's GOARCH")
	flag.StringVar(&o.version, "version", "dev", "org.opencontainers.image.version")
	flag.Parse()
	if o.binary == "" {
		fmt.Fprintln(os.Stderr, "ociimage: -binary is required")
		os.Exit(2)
	}
	if err := build(o); err != nil {
		fmt.Fprintln(os.Stderr, "ociimage:", err)
		os.Exit(1)
	}
	fmt.Println(o.out)
}
