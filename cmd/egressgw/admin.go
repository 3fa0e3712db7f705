package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/egressgw/egressgw/internal/reuseport"
)

// listenAdmin opens the admin listeners: --admin-listen (TCP, with
// SO_REUSEPORT under --reuse-port: a rolling update's two gateways share
// it), and --admin-socket, a Unix socket of this process alone, which the
// probes of a pod ask (with --reuse-port, a TCP probe could be answered by
// the other gateway).
func listenAdmin(o *options) ([]net.Listener, error) {
	var lc net.ListenConfig
	if o.reusePort {
		lc.Control = reuseport.Control
	}
	tcp, err := lc.Listen(context.Background(), "tcp", o.adminListen)
	if err != nil {
		return nil, fmt.Errorf("admin: listen on %s: %w", o.adminListen, err)
	}
	lns := []net.Listener{tcp}
	if o.adminSocket != "" {
		unix, err := listenUnix(o.adminSocket)
		if err != nil {
			_ = tcp.Close()
			return nil, fmt.Errorf("--admin-socket: %w", err)
		}
		lns = append(lns, unix)
	}
	return lns, nil
}

// listenUnix listens on a Unix socket at path, replacing a stale socket
// file that no process answers on (one left by a gateway that was killed).
func listenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another egressgw answers on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	return net.Listen("unix", path)
}

// probe is `egressgw probe`: it asks this pod's gateway's admin Unix
// socket for a path (default /readyz) and exits 0 on 200, 1 otherwise,
// printing the answer: the exec probe of a DaemonSet whose gateways share
// their TCP ports during a rolling update.
func probe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("egressgw probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("admin-socket", "", "the gateway's --admin-socket (required)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: egressgw probe --admin-socket PATH [/readyz|/healthz]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	path := "/readyz"
	switch fs.NArg() {
	case 0:
	case 1:
		path = fs.Arg(0)
	default:
		fs.Usage()
		return 2
	}
	if *socket == "" {
		fmt.Fprintln(stderr, "egressgw probe: --admin-socket is required")
		return 2
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	client := &http.Client{Timeout: *timeout, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", *socket)
		},
	}}
	resp, err := client.Get("http://egressgw" + path)
	if err != nil {
		fmt.Fprintf(stderr, "egressgw probe: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	out := stdout
	if resp.StatusCode != http.StatusOK {
		out = stderr
	}
	fmt.Fprintf(out, "%s %s", resp.Status, body)
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}
