// Package filedir keeps uploaded files' contents in a directory beside the
// data file (store.Files):
//
//	DIR/sha256/ab/ab12…ef      kept contents, by their hex SHA-256
//	DIR/incoming/ab12…ef.N     staged: whole and synced, no record yet
//	DIR/incoming/N.part        being written
//
// Every step that makes a content durable syncs the file and then the
// directory that names it, so that after a crash a name is either there
// with all its bytes or not there.
package filedir

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/banli/banli/store"
)

// Dir is a store.Files in a directory.
type Dir struct {
	root string
}

var _ store.Files = (*Dir)(nil)

// Open opens (and makes, if it is missing) the directory root.
func Open(root string) (*Dir, error) {
	for _, sub := range []string{"sha256", "incoming"} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o750); err != nil {
			return nil, fmt.Errorf("files: %w", err)
		}
	}
	return &Dir{root: root}, nil
}

// Root is the directory.
func (d *Dir) Root() string { return d.root }

func (d *Dir) keptPath(sha string) string {
	return filepath.Join(d.root, "sha256", sha[:2], sha)
}

func (d *Dir) incoming() string { return filepath.Join(d.root, "incoming") }

// Stage writes r into incoming/, hashing it as it goes, syncs it and names
// it by its hash.
func (d *Dir) Stage(r io.Reader, limit int64) (store.StagedFile, error) {
	tag := randomTag()
	part := filepath.Join(d.incoming(), tag+".part")
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, fmt.Errorf("files: %w", err)
	}
	fail := func(err error) (store.StagedFile, error) {
		f.Close()
		os.Remove(part)
		return nil, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, limit+1))
	if err != nil {
		return fail(err)
	}
	if n > limit {
		return fail(fmt.Errorf("more than %d bytes: %w", limit, store.ErrTooLarge))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("files: %w", err))
	}
	sha := hex.EncodeToString(h.Sum(nil))
	staged := filepath.Join(d.incoming(), sha+"."+tag)
	if err := os.Rename(part, staged); err != nil {
		return fail(fmt.Errorf("files: %w", err))
	}
	if err := syncDir(d.incoming()); err != nil {
		f.Close()
		os.Remove(staged)
		return nil, err
	}
	return &stagedFile{File: f, dir: d, path: staged, sha: sha, size: n}, nil
}

type stagedFile struct {
	*os.File
	dir  *Dir
	path string
	sha  string
	size int64
}

func (s *stagedFile) SHA256() string { return s.sha }
func (s *stagedFile) Size() int64    { return s.size }

func (s *stagedFile) Keep() error {
	s.File.Close()
	return s.dir.keep(s.path, s.sha)
}

func (s *stagedFile) Discard() error {
	s.File.Close()
	err := os.Remove(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// keep moves a staged content to its kept name. A content already kept
// (the same bytes uploaded twice) stays as it is and the staged copy goes.
func (d *Dir) keep(staged, sha string) error {
	kept := d.keptPath(sha)
	if _, err := os.Stat(kept); err == nil {
		return os.Remove(staged)
	}
	if err := os.MkdirAll(filepath.Dir(kept), 0o750); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if err := syncDir(filepath.Join(d.root, "sha256")); err != nil {
		return err
	}
	if err := os.Rename(staged, kept); err != nil {
		return fmt.Errorf("files: %w", err)
	}
	if err := syncDir(filepath.Dir(kept)); err != nil {
		return err
	}
	return syncDir(d.incoming())
}

// Open opens a kept content or, between its record's commit and its keep,
// a staged one.
func (d *Dir) Open(sha string) (store.ContentReader, error) {
	if !store.ValidSHA256(sha) {
		return nil, store.ErrNotFound
	}
	paths := []string{d.keptPath(sha)}
	if staged, _ := filepath.Glob(filepath.Join(d.incoming(), sha+".*")); len(staged) > 0 {
		paths = append(paths, staged...)
	}
	for _, p := range paths {
		if strings.HasSuffix(p, ".part") {
			continue
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		return contentReader{File: f, size: st.Size()}, nil
	}
	return nil, store.ErrNotFound
}

type contentReader struct {
	*os.File
	size int64
}

func (c contentReader) Size() int64 { return c.size }

// Has reports whether a content is kept or staged.
func (d *Dir) Has(sha string) (bool, error) {
	r, err := d.Open(sha)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.Close()
	return true, nil
}

// Kept lists the kept contents.
func (d *Dir) Kept() ([]string, error) {
	var out []string
	err := filepath.WalkDir(filepath.Join(d.root, "sha256"), func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.Type().IsRegular() && store.ValidSHA256(e.Name()) {
			out = append(out, e.Name())
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}

// Recover finishes what a crash interrupted: half-written contents go;
// staged ones a record names are kept, the others go; kept ones no record
// names (a restored backup's later uploads) go too.
func (d *Dir) Recover(referenced func(sha string) (bool, error)) (store.Recovery, error) {
	var rec store.Recovery
	entries, err := os.ReadDir(d.incoming())
	if err != nil {
		return rec, fmt.Errorf("files: %w", err)
	}
	for _, e := range entries {
		path := filepath.Join(d.incoming(), e.Name())
		sha, _, staged := strings.Cut(e.Name(), ".")
		if staged && store.ValidSHA256(sha) && !strings.HasSuffix(e.Name(), ".part") {
			named, err := referenced(sha)
			if err != nil {
				return rec, err
			}
			if named {
				if err := d.keep(path, sha); err != nil {
					return rec, err
				}
				rec.Kept++
				continue
			}
		}
		if err := os.RemoveAll(path); err != nil {
			return rec, err
		}
		rec.Removed++
	}
	kept, err := d.Kept()
	if err != nil {
		return rec, err
	}
	for _, sha := range kept {
		named, err := referenced(sha)
		if err != nil {
			return rec, err
		}
		if !named {
			if err := os.Remove(d.keptPath(sha)); err != nil {
				return rec, err
			}
			rec.Removed++
		}
	}
	return rec, syncDir(d.incoming())
}

// Verify rehashes every kept content.
func (d *Dir) Verify() error {
	kept, err := d.Kept()
	if err != nil {
		return err
	}
	for _, sha := range kept {
		f, err := os.Open(d.keptPath(sha))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != sha {
			return fmt.Errorf("file %s hashes to %s: %w", sha, got, store.ErrCorrupt)
		}
	}
	return nil
}

func syncDir(path string) error {
	dir, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("files: %w", err)
	}
	defer dir.Close()
	if err := dir.Sync(); err != nil {
		return fmt.Errorf("files: sync %s: %w", path, err)
	}
	return nil
}

func randomTag() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
