package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/policy"
)

// check validates configuration files the way run would load them.
func check(paths []string, stdout, stderr io.Writer) int {
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "usage: egressgw check PATH... (YAML files or directories)")
		return 2
	}
	snap, err := config.Load(paths, config.Options{ClusterDomain: "cluster.local", Namespace: "istio-system",
		Labels: map[string]string{"istio": "egressgateway"}, Mode: policy.RegistryOnly})
	if err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			for _, p := range cerr.Problems {
				fmt.Fprintln(stderr, p.String())
			}
			fmt.Fprintf(stderr, "%d problem(s)\n", len(cerr.Problems))
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	for _, w := range snap.Warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	fmt.Fprintf(stdout, "ok: %d resources, %d registered hosts, %d listeners\n", len(snap.Resources), len(snap.Entries), len(snap.Listeners))
	return 0
}
