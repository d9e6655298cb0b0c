package main

import (
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/banli/banli/service"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
)

const auditUsage = "usage: banli audit verify [-data PATH] [-audit-key FILE] [-anchor SEQUENCE:HASH]"

// auditCommand is `banli audit verify`: it recomputes the audit trail's
// chain in a data file under its key, checks that it still holds the
// anchor given (a head printed by an earlier verification, kept apart from
// the server), and names the first broken record. Exit status 0 means
// intact, 1 broken (or the file could not be checked), 2 a usage error.
func auditCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, auditUsage)
		return 2
	}
	fs := flag.NewFlagSet("banli audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr("BANLI_DATA", "./data/banli.db"), "the data file")
	keyFile := fs.String("audit-key", envOr("BANLI_AUDIT_KEY", ""), "the audit key file (default audit.key beside -data)")
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
	key, err := readAuditKey(auditKeyPath(*keyFile, *data))
	if err != nil {
		fmt.Fprintf(stderr, "banli audit verify: %v (the trail is checked under its key; give the key file with -audit-key)\n", err)
		return 1
	}
	db, err := openBoltFile(*data, boltstore.Options{LockTimeout: 500 * time.Millisecond, ReadOnly: true, AuditKey: key})
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintf(stderr, "banli audit verify: %v (a running server holds the file: ask it with GET /v1/audit:verify)\n", err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "banli audit verify: %v\n", err)
		return 1
	}
	defer db.Close()
	v, err := service.VerifyAuditTrail(db, anchor.Sequence, anchor.Hash)
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

// parseAnchor reads SEQUENCE:HASH (hex), or nothing.
func parseAnchor(s string) (store.AuditAnchor, error) {
	if s == "" {
		return store.AuditAnchor{}, nil
	}
	seqText, hashText, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || seq == 0 {
		return store.AuditAnchor{}, fmt.Errorf("%q is not SEQUENCE:HASH", s)
	}
	hash, err := hex.DecodeString(hashText)
	if err != nil || len(hash) != 32 {
		return store.AuditAnchor{}, fmt.Errorf("%q: the hash is 64 hex digits", s)
	}
	return store.AuditAnchor{Sequence: seq, Hash: hash}, nil
}
