package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
)

// backupCommand is `banli backup [-addr ADDR] FILE`: it streams a
// consistent copy of a running server's database into FILE, then checks it.
func backupCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("banli backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := addClientFlags(fs)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: banli backup [-addr host:port] FILE")
		return 2
	}
	n, err := backup(context.Background(), client, fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, "banli backup:", err)
		return 1
	}
	fmt.Fprintf(stdout, "backed up %d bytes to %s; checked: pages, indexes, statistics\n", n, fs.Arg(0))
	return 0
}

// backup writes the server's database to path, through a temporary file
// that is checked before it takes path's place.
func backup(ctx context.Context, client *clientFlags, path string) (int64, error) {
	conn, err := client.dial()
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stream, err := banliv1.NewBackupServiceClient(conn).Backup(ctx, &banliv1.BackupRequest{})
	if err != nil {
		return 0, err
	}
	return receiveFile(stream, path, checkDataFile)
}

// receiveFile writes a stream of HttpBody chunks to path, through a
// temporary file beside it that check (if any) must pass first.
func receiveFile(stream grpc.ServerStreamingClient[httpbody.HttpBody], path string, check func(tmp string) error) (int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".banli-receive-*")
	if err != nil {
		return 0, err
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

// restoreCommand is `banli restore [-data PATH] FILE`: with the server
// stopped, it checks the backup FILE and puts it in place of the data file,
// keeping the old one beside it.
func restoreCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("banli restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr("BANLI_DATA", "./data/banli.db"), "the data file to replace")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: banli restore [-data PATH] FILE")
		return 2
	}
	kept, err := restore(fs.Arg(0), *data)
	if err != nil {
		fmt.Fprintln(stderr, "banli restore:", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored %s from %s\n", *data, fs.Arg(0))
	if kept != "" {
		fmt.Fprintf(stdout, "the previous data file is kept as %s\n", kept)
	}
	return 0
}

// restore checks backup and puts a copy of it at data. It refuses while a
// server holds data. The replaced file is kept, and its name returned.
func restore(backupPath, data string) (string, error) {
	if _, err := os.Stat(data); err == nil {
		db, err := openBoltFile(data, boltstore.Options{LockTimeout: 200 * time.Millisecond, ReadOnly: true})
		if errors.Is(err, store.ErrLocked) {
			return "", fmt.Errorf("%s is in use: stop the server first", data)
		}
		if err == nil {
			db.Close()
		}
	}
	if err := os.MkdirAll(filepath.Dir(data), 0o750); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(data), ".banli-restore-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	src, err := os.Open(backupPath)
	if err != nil {
		tmp.Close()
		return "", err
	}
	_, err = io.Copy(tmp, src)
	src.Close()
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	if err := checkDataFile(tmp.Name()); err != nil {
		return "", fmt.Errorf("%s does not check out: %w", backupPath, err)
	}
	kept := ""
	if _, err := os.Stat(data); err == nil {
		kept = data + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(data, kept); err != nil {
			return "", err
		}
	}
	if err := os.Rename(tmp.Name(), data); err != nil {
		return "", err
	}
	if dir, err := os.Open(filepath.Dir(data)); err == nil {
		dir.Sync() // make the renames durable
		dir.Close()
	}
	return kept, nil
}

// checkDataFile opens a data file and runs every check: bbolt's pages,
// the indexes, and the statistics against a recount.
func checkDataFile(path string) error {
	db, err := openBoltFile(path, boltstore.Options{LockTimeout: 200 * time.Millisecond, ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	return service.CheckData(db)
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}
