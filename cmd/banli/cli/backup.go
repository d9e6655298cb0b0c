package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	"github.com/banli/banli/cmd/banli/dial"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// BackupCommand is `banli backup [-addr ADDR] FILE`: it streams a
// consistent copy of a running server's database into FILE, then checks it
// with check (the wiring's: it knows the backend's files).
func BackupCommand(args []string, stdout, stderr io.Writer, check func(path string) error) int {
	fs := flag.NewFlagSet("banli backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := dial.AddFlags(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: banli backup [-addr host:port] FILE")
		return 2
	}
	n, err := Backup(context.Background(), client, fs.Arg(0), check)
	if err != nil {
		fmt.Fprintln(stderr, "banli backup:", err)
		return 1
	}
	fmt.Fprintf(stdout, "backed up %d bytes to %s; checked: pages, indexes, statistics\n", n, fs.Arg(0))
	return 0
}

// Backup writes the server's database to path, through a temporary file
// that check (if not nil) passes before it takes path's place.
func Backup(ctx context.Context, client *dial.Flags, path string, check func(path string) error) (int64, error) {
	conn, err := client.Dial()
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stream, err := banliv1.NewBackupServiceClient(conn).Backup(ctx, &banliv1.BackupRequest{})
	if err != nil {
		return 0, err
	}
	return receiveFile(stream, path, check)
}

// receiveFile writes a stream of HttpBody chunks to path, through a
// temporary file beside it that check (if any) must pass first.
func receiveFile(stream grpc.ServerStreamingClient[httpbody.HttpBody], path string, check func(tmp string) error) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".banli-receive-*")
	if err != nil {
		// Name the file asked for, not the temporary one beside it.
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return 0, fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	var n int64
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tmp.Close()
			return 0, fmt.Errorf("receiving: %w", err)
		}
		w, err := tmp.Write(chunk.GetData())
		n += int64(w)
		if err != nil {
			tmp.Close()
			return 0, err
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, err
	}
	if err := tmp.Close(); err != nil {
		return 0, err
	}
	if check != nil {
		if err := check(tmp.Name()); err != nil {
			return 0, fmt.Errorf("the copy does not check out: %w", err)
		}
	}
	return n, os.Rename(tmp.Name(), path)
}
