package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/banli/banli/cmd/banli/dial"
)

// HealthCommand is `banli health`: gRPC health of a server, over its TLS
// when -ca names the CA, with no sign-in. It exits 0 when the server (or
// -service) is SERVING, 1 otherwise: a container's HEALTHCHECK, where
// the image has no curl.
func HealthCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("banli health", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := dial.AddFlags(fs)
	service := fs.String("service", "", "a service to ask for, e.g. banli.v1.ProposalService; empty asks for the server")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if rest, err := dial.Parse(fs, args); err != nil || len(rest) > 0 {
		fmt.Fprintln(stderr, "usage: banli health [-addr host:port] [-ca FILE] [-service NAME] [-timeout D]")
		return 2
	}
	opts, err := client.TransportOptions()
	if err != nil {
		fmt.Fprintln(stderr, "banli health:", err)
		return 1
	}
	conn, err := grpc.NewClient(client.Addr, opts...)
	if err != nil {
		fmt.Fprintln(stderr, "banli health:", err)
		return 1
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: *service})
	if err != nil {
		fmt.Fprintln(stderr, "banli health:", err)
		return 1
	}
	fmt.Fprintln(stdout, resp.GetStatus())
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return 1
	}
	return 0
}
