// Package datatool holds the tools that work on a data file no server
// holds: `banli restore` and `banli audit verify`. They open the file
// through Files, which the wiring gives them (it knows the backend), and
// reach neither the store nor a server.
package datatool

import (
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/banli/banli/cmd/banli/dial"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// Files is what the tools need of the data files of the backend in use.
type Files interface {
	// InUse reports whether a running server holds the data file.
	InUse(path string) bool
	// Check opens the data file for reading and runs every check the
	// backend has: its own page check, the indexes, the statistics, the
	// uploaded files beside it.
	Check(path string) error
	// Unpack writes a backup as the data file at path, with what belongs
	// beside it (the uploaded files).
	Unpack(backupPath, path string) error
	// Move renames a data file with what belongs beside it.
	Move(from, to string) error
	// Remove removes a data file with what belongs beside it.
	Remove(path string) error
	// VerifyAudit opens the data file for reading and recomputes its audit
	// trail's chain under the key in keyFile ("": the file's default key),
	// against an anchor (sequence 0: none).
	VerifyAudit(path, keyFile string, anchorSequence uint64, anchorHash []byte) (*banliv1.VerifyAuditResponse, error)
}

// RestoreCommand is `banli restore [-data PATH] FILE`: with the server
// stopped, it checks the backup FILE and puts it in place of the data file,
// keeping the old one beside it.
func RestoreCommand(args []string, stdout, stderr io.Writer, files Files) int {
	fs := flag.NewFlagSet("banli restore", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", dial.EnvOr("BANLI_DATA", "./data/banli.db"), "the data file to replace")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: banli restore [-data PATH] FILE")
		return 2
	}
	kept, err := Restore(files, fs.Arg(0), *data)
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

// Restore checks backup and puts a copy of it at data. It refuses while a
// server holds data. The replaced file is kept, and its name returned.
func Restore(files Files, backupPath, data string) (string, error) {
	if _, err := os.Stat(data); err == nil && files.InUse(data) {
		return "", fmt.Errorf("%s is in use: stop the server first", data)
	}
	if err := os.MkdirAll(filepath.Dir(data), 0o750); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(filepath.Dir(data), ".banli-restore-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	placed := false
	defer func() {
		if !placed {
			files.Remove(tmp.Name())
		}
	}()
	if err := files.Unpack(backupPath, tmp.Name()); err != nil {
		return "", err
	}
	if err := files.Check(tmp.Name()); err != nil {
		return "", fmt.Errorf("%s does not check out: %w", backupPath, err)
	}
	kept := ""
	if _, err := os.Stat(data); err == nil {
		kept = data + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := files.Move(data, kept); err != nil {
			return "", err
		}
	}
	if err := files.Move(tmp.Name(), data); err != nil {
		return "", err
	}
	placed = true
	if dir, err := os.Open(filepath.Dir(data)); err == nil {
		dir.Sync() // make the renames durable
		dir.Close()
	}
	return kept, nil
}

const auditUsage = "usage: banli audit verify [-data PATH] [-audit-key FILE] [-anchor SEQUENCE:HASH]"

// AuditCommand is `banli audit verify`: it recomputes the audit trail's
// chain in a data file under its key, checks that it still holds the
// anchor given (a head printed by an earlier verification, kept apart from
// the server), and names the first broken record. Exit status 0 means
// intact, 1 broken (or the file could not be checked), 2 a usage error.
func AuditCommand(args []string, stdout, stderr io.Writer, files Files) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, auditUsage)
		return 2
	}
	fs := flag.NewFlagSet("banli audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", dial.EnvOr("BANLI_DATA", "./data/banli.db"), "the data file")
	keyFile := fs.String("audit-key", dial.EnvOr("BANLI_AUDIT_KEY", ""), "the audit key file (default audit.key beside -data)")
	anchorFlag := fs.String("anchor", "", "SEQUENCE:HASH, the head an earlier verification printed: the trail must still hold it")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, auditUsage)
		return 2
	}
	anchor, err := parseAnchor(*anchorFlag)
	if err != nil {
		fmt.Fprintln(stderr, "banli audit verify: -anchor:", err)
		return 2
	}
	if files.InUse(*data) {
		fmt.Fprintf(stderr, "banli audit verify: %s is in use (a running server holds the file: ask it with GET /v1/audit:verify)\n", *data)
		return 1
	}
	v, err := files.VerifyAudit(*data, *keyFile, anchor.sequence, anchor.hash)
	if err != nil {
		fmt.Fprintf(stderr, "banli audit verify: %v\n", err)
		return 1
	}
	if v.GetFirstBroken() != 0 {
		fmt.Fprintf(stdout, "BROKEN at record %d of %d: %s\n", v.FirstBroken, v.Records, v.Problem)
		return 1
	}
	fmt.Fprintf(stdout, "intact: %d records\nhead: %d:%s (keep it apart from the server; give it as -anchor next time)\n",
		v.Records, v.HeadSequence, hex.EncodeToString(v.HeadHash))
	return 0
}

// anchor is a head of the trail an auditor kept (zero: none).
type anchor struct {
	sequence uint64
	hash     []byte
}

// parseAnchor reads SEQUENCE:HASH (hex), or nothing.
func parseAnchor(s string) (anchor, error) {
	if s == "" {
		return anchor{}, nil
	}
	seqText, hashText, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || seq == 0 {
		return anchor{}, fmt.Errorf("%q is not SEQUENCE:HASH", s)
	}
	hash, err := hex.DecodeString(hashText)
	if err != nil || len(hash) != 32 {
		return anchor{}, fmt.Errorf("%q: the hash is 64 hex digits", s)
	}
	return anchor{sequence: seq, hash: hash}, nil
}

// AdminKeyCommand is `banli admin-key`: the first admin's key, which the
// server wrote to admin.key beside the data file on its first start, for
// a deployment whose volume one reads only through the binary (a
// container). Keep the key, then delete the file (-remove does).
func AdminKeyCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("banli admin-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", dial.EnvOr("BANLI_DATA", "./data/banli.db"), "the data file; admin.key is beside it")
	remove := fs.Bool("remove", false, "delete admin.key once printed")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: banli admin-key [-data FILE] [-remove]")
		return 2
	}
	path := filepath.Join(filepath.Dir(*data), "admin.key")
	key, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "banli admin-key: %v (the server writes it on its first start with an empty data file; once deleted, rotate the admin's key with another admin)\n", err)
		return 1
	}
	fmt.Fprintln(stdout, strings.TrimSpace(string(key)))
	if *remove {
		if err := os.Remove(path); err != nil {
			fmt.Fprintln(stderr, "banli admin-key:", err)
			return 1
		}
	}
	return 0
}
