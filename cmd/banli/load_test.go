package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestSeedAndBench runs the data generator and the load tool against the
// real server, briefly, over gRPC and over REST.
func TestSeedAndBench(t *testing.T) {
	ts := startServer(t)
	n, err := seed(context.Background(), ts.clientAs(t, ts.adminKey), 300, 8, nil)
	if err != nil || n != 300 {
		t.Fatalf("seeded %d: %v", n, err)
	}
	for _, transport := range []string{"grpc", "rest"} {
		res, err := runBench(context.Background(), ts.clientAs(t, ts.adminKey), ts.addrs.httpAddr, transport, 8, 500*time.Millisecond, "")
		if err != nil {
			t.Fatal(err)
		}
		if res.calls == 0 || res.errors != 0 {
			t.Errorf("%s: %d calls, %d errors", transport, res.calls, res.errors)
		}
		for _, call := range []string{"create", "get", "list", "stats"} {
			if len(res.latencies[call]) == 0 {
				t.Errorf("%s: no %s calls", transport, call)
			}
		}
		if !strings.Contains(res.String(), "p99 ms") {
			t.Errorf("report:\n%s", res)
		}
	}
}
