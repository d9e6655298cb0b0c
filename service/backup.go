package service

import (
	"io"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// backupChunk is the most one streamed message carries.
const backupChunk = 1 << 20

// Backup streams a consistent copy of the database.
func (s *Server) Backup(req *banliv1.BackupRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	w := &chunkWriter{send: func(b []byte) error {
		return stream.Send(&httpbody.HttpBody{ContentType: "application/octet-stream", Data: b})
	}}
	if _, err := s.store.Backup(w); err != nil {
		return toStatus(err)
	}
	return toStatus(w.flush())
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
