package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/banli/banli/cmd/banli/load"
)

// TestSeedAndBench runs the data generator and the load tool against the
// real server, briefly, over gRPC and over REST.
func TestSeedAndBench(t *testing.T) {
	ts := startServer(t)
	n, err := load.Seed(context.Background(), ts.clientAs(t, ts.adminKey), 300, 8, nil)
	if err != nil || n != 300 {
		t.Fatalf("seeded %d: %v", n, err)
	}
	for _, transport := range []string{"grpc", "rest"} {
		res, err := load.RunBench(context.Background(), ts.clientAs(t, ts.adminKey), ts.addrs.HTTPAddr, transport, 8, 500*time.Millisecond, "")
		if err != nil {
			t.Fatal(err)
		}
		if res.Calls == 0 || res.Errors != 0 {
			t.Errorf("%s: %d calls, %d errors", transport, res.Calls, res.Errors)
		}
		for _, call := range []string{"create", "get", "list", "stats"} {
			if len(res.Latencies[call]) == 0 {
				t.Errorf("%s: no %s calls", transport, call)
			}
		}
		if !strings.Contains(res.String(), "p99 ms") {
			t.Errorf("report:\n%s", res)
		}
	}
}
