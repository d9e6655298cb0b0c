package service

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// backupChunk is the most one streamed message carries.
const backupChunk = 1 << 20

// Backup streams a consistent copy of the database. The copy is first
// spooled to a local file, in one read transaction that lasts as long as
// the disk takes; it is then streamed from that file with no transaction
// open, so a client that reads slowly, or not at all, never holds the data
// file's map (which would keep it from growing and hold up every write).
//
// A server that keeps files streams a tar archive (BackupArchive): the
// data file, then every file content kept when the snapshot was taken or
// after it. Contents never change and are kept only after the record
// naming them commits, so the archive holds every file the snapshot
// names; one kept after the snapshot goes when the restored server opens
// (RecoverFiles).
func (s *Server) Backup(req *banliv1.BackupRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	snapshots, ok := s.store.(store.Snapshotter)
	if !ok {
		return fmt.Errorf("backup: %w", ErrUnimplemented)
	}
	spool, err := os.CreateTemp(s.spoolDir, ".banli-backup-*")
	if err != nil {
		return fmt.Errorf("spool the backup: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	size, err := snapshots.Backup(spool)
	if err != nil {
		return err
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if s.files == nil {
		w := s.chunks(stream.Context(), "application/octet-stream", stream.Send)
		if _, err := io.Copy(w, spool); err != nil {
			return err
		}
		return w.flush()
	}
	w := s.chunks(stream.Context(), "application/x-tar", stream.Send)
	if err := s.writeArchive(w, spool, size); err != nil {
		return err
	}
	return w.flush()
}

// The names in a backup archive.
const (
	// BackupArchiveData is the data file's entry, first.
	BackupArchiveData = "banli.db"
	// BackupArchiveFiles is the prefix of the file contents' entries,
	// each named by its SHA-256.
	BackupArchiveFiles = "files/"
)

// writeArchive writes the data file's snapshot and the kept contents as
// a tar archive.
func (s *Server) writeArchive(w io.Writer, data io.Reader, size int64) error {
	tw := tar.NewWriter(w)
	now := s.now()
	if err := tw.WriteHeader(&tar.Header{Name: BackupArchiveData, Mode: 0o640, Size: size, ModTime: now, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, data, size); err != nil {
		return err
	}
	kept, err := s.files.Kept()
	if err != nil {
		return err
	}
	for _, sha := range kept {
		if err := writeArchivedFile(tw, s.files, sha, now); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeArchivedFile(tw *tar.Writer, files store.Files, sha string, now time.Time) error {
	content, err := files.Open(sha)
	if err != nil {
		return fmt.Errorf("back up file %s: %w", sha, err)
	}
	defer content.Close()
	if err := tw.WriteHeader(&tar.Header{Name: BackupArchiveFiles + sha, Mode: 0o640, Size: content.Size(), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	_, err = io.CopyN(tw, content, content.Size())
	return err
}

// chunks is a chunkWriter that sends each chunk within the send timeout.
func (s *Server) chunks(ctx context.Context, contentType string, send func(*httpbody.HttpBody) error) *chunkWriter {
	return &chunkWriter{send: func(b []byte) error {
		return sendWithin(ctx, s.sendTimeout, func() error {
			return send(&httpbody.HttpBody{ContentType: contentType, Data: b})
		})
	}}
}

// sendWithin runs send, a stream's Send, and gives up after timeout: a
// reader that has stopped reading blocks Send for as long as it likes.
// The handler then returns, which ends the stream and so unblocks send.
func sendWithin(ctx context.Context, timeout time.Duration, send func() error) error {
	done := make(chan error, 1)
	go func() { done <- send() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return fmt.Errorf("the client read nothing for %s: %w", timeout, ErrSlowReader)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// chunkWriter gathers writes into chunks of backupChunk bytes.
type chunkWriter struct {
	buf  []byte
	send func([]byte) error
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		take := min(len(p), backupChunk-len(w.buf))
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
		if len(w.buf) == backupChunk {
			if err := w.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	err := w.send(w.buf)
	w.buf = w.buf[:0:0] // the sent slice belongs to the stream now
	return err
}

var _ io.Writer = (*chunkWriter)(nil)
