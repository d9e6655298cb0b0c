package filedir

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/banli/banli/store"
)

// TestStageKeepDiscard: a staged content is readable at once, becomes the
// store's when kept and leaves nothing when discarded or over its limit.
func TestStageKeepDiscard(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("%PDF-1.7 letter")
	s, err := d.Stage(bytes.NewReader(content), 100)
	if err != nil {
		t.Fatal(err)
	}
	if s.Size() != int64(len(content)) || !store.ValidSHA256(s.SHA256()) {
		t.Fatalf("staged %d bytes as %q", s.Size(), s.SHA256())
	}
	if held, _ := d.Has(s.SHA256()); !held {
		t.Fatal("a staged content is not readable before it is kept")
	}
	if err := s.Keep(); err != nil {
		t.Fatal(err)
	}
	r, err := d.Open(s.SHA256())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, content) {
		t.Fatalf("read back %q", got)
	}
	// The same bytes again: kept once.
	again, _ := d.Stage(bytes.NewReader(content), 100)
	if err := again.Keep(); err != nil {
		t.Fatal(err)
	}
	other, _ := d.Stage(bytes.NewReader([]byte("other")), 100)
	if err := other.Discard(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Stage(bytes.NewReader(make([]byte, 101)), 100); !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	kept, _ := d.Kept()
	incoming, _ := os.ReadDir(d.incoming())
	if len(kept) != 1 || len(incoming) != 0 {
		t.Fatalf("%d kept, %d left in incoming", len(kept), len(incoming))
	}
}

// TestRecoverFinishesACrash: what a crash leaves is sorted out by what
// the committed records name.
func TestRecoverFinishesACrash(t *testing.T) {
	d, _ := Open(t.TempDir())
	named, _ := d.Stage(bytes.NewReader([]byte("named by a record")), 100)
	unnamed, _ := d.Stage(bytes.NewReader([]byte("refused, or never committed")), 100)
	keptUnnamed, _ := d.Stage(bytes.NewReader([]byte("kept, then a backup from before it restored")), 100)
	keptUnnamed.Keep()
	os.WriteFile(filepath.Join(d.incoming(), "0123456789abcdef.part"), []byte("half"), 0o640)
	// The crash: the staged files are closed, never kept nor discarded.
	named.(*stagedFile).File.Close()
	unnamed.(*stagedFile).File.Close()

	rec, err := d.Recover(func(sha string) (bool, error) { return sha == named.SHA256(), nil })
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kept != 1 || rec.Removed != 3 {
		t.Fatalf("recovery: %+v, want 1 kept and 3 removed", rec)
	}
	kept, _ := d.Kept()
	incoming, _ := os.ReadDir(d.incoming())
	if len(kept) != 1 || kept[0] != named.SHA256() || len(incoming) != 0 {
		t.Fatalf("after recovery: kept %v, %d in incoming", kept, len(incoming))
	}
}

// TestVerifyFindsAChangedContent: a kept file whose bytes changed on disk
// is reported.
func TestVerifyFindsAChangedContent(t *testing.T) {
	d, _ := Open(t.TempDir())
	s, _ := d.Stage(bytes.NewReader([]byte("the sealed letter")), 100)
	s.Keep()
	if err := d.Verify(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(d.keptPath(s.SHA256()), []byte("the sealed letteR"), 0o640)
	if err := d.Verify(); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("a changed file: %v", err)
	}
}
