// Command egressgw is an egress gateway for Kubernetes pods without a
// sidecar, configured with Istio's own YAML.
package main

import (
	"fmt"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `egressgw: an egress gateway for pods without a sidecar, configured with Istio YAML.

Usage:
  egressgw run --config PATH [flags]   serve (see egressgw run -h)
  egressgw check PATH...               validate configuration; exit 1 on any error
  egressgw demo                        self-contained offline demonstration
  egressgw probe --admin-socket PATH   ask a gateway's admin socket for /readyz (a pod's exec probe)
  egressgw version                     print the version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = run(os.Args[2:])
	case "check":
		os.Exit(check(os.Args[2:], os.Stdout, os.Stderr))
	case "probe":
		os.Exit(probe(os.Args[2:], os.Stdout, os.Stderr))
	case "demo":
		err = demo(os.Stdout)
	case "version", "--version", "-v":
		fmt.Println("egressgw", version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "egressgw: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "egressgw:", err)
		os.Exit(1)
	}
}
