package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/banli/banli/cmd/banli/cli"
	"github.com/banli/banli/cmd/banli/datatool"
	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
)

// TestBackupUnderLoadAndRestore copies the database over gRPC and over
// REST while clients keep writing, checks both copies, and restores one.
func TestBackupUnderLoadAndRestore(t *testing.T) {
	f := newFixture(t)
	before := 20
	for range before {
		f.receive(t)
	}
	var created, number atomic.Int64
	number.Store(10_000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				req := benchProposal(f, number.Add(1))
				if _, err := f.proposals.CreateProposal(context.Background(), req); err != nil {
					t.Error(err)
					return
				}
				created.Add(1)
			}
		}()
	}

	dir := t.TempDir()
	viaGRPC := filepath.Join(dir, "grpc.db")
	n, err := cli.Backup(context.Background(), f.clientAs(t, f.adminKey), viaGRPC, server.CheckBackup)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://"+f.addrs.HTTPAddr+"/v1/backup", nil)
	req.Header.Set("Authorization", "Bearer "+f.adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	viaREST := filepath.Join(dir, "rest.db")
	out, _ := os.Create(viaREST)
	m, _ := io.Copy(out, resp.Body)
	resp.Body.Close()
	out.Close()
	close(stop)
	wg.Wait()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-tar") {
		t.Errorf("REST backup: HTTP %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if err := server.CheckBackup(viaREST); err != nil {
		t.Errorf("the REST copy (%d bytes): %v", m, err)
	}
	if created.Load() == 0 {
		t.Error("no write went on during the backup")
	}

	// Restore the gRPC copy into a new place, then over it again.
	target := filepath.Join(dir, "restored", "banli.db")
	if kept, err := datatool.Restore(server.DataFiles{}, viaGRPC, target); err != nil || kept != "" {
		t.Fatalf("restore: %v (kept %q)", err, kept)
	}
	if kept, err := datatool.Restore(server.DataFiles{}, viaREST, target); err != nil || kept == "" {
		t.Fatalf("restore over a data file: %v (kept %q)", err, kept)
	}
	db, err := openDataFile(target, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var count int
	db.View(func(r store.Reader) error {
		return r.ForEachProposal(func(*banliv1.Proposal) error { count++; return nil })
	})
	db.Close()
	if count < before {
		t.Errorf("the restored file has %d cases, fewer than the %d made before the backup", count, before)
	}
	t.Logf("backup of %d bytes; %d cases restored; %d written during the backups", n, count, created.Load())

	// A running server's file is never replaced.
	if _, err := datatool.Restore(server.DataFiles{}, viaGRPC, f.dataPath); err == nil || !strings.Contains(err.Error(), "stop the server") {
		t.Errorf("restore under a running server: %v", err)
	}
	// A file that is not a database is refused.
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte("not a database"), 0o600)
	if _, err := datatool.Restore(server.DataFiles{}, junk, filepath.Join(dir, "other.db")); err == nil {
		t.Error("restored a file that is not a database")
	}
}
