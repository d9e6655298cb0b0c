package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/banli/banli/store"
)

// auditCommand is `banli audit verify [-data PATH]`: it recomputes the
// audit trail's hash chain in a data file and names the first broken
// record. Exit status 0 means intact, 1 broken.
func auditCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprintln(stderr, "usage: banli audit verify [-data PATH]")
		return 2
	}
	fs := flag.NewFlagSet("banli audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", envOr("BANLI_DATA", "./data/banli.db"), "the data file")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: banli audit verify [-data PATH]")
		return 2
	}
	db, err := store.Open(*data, store.Options{LockTimeout: 500 * time.Millisecond, ReadOnly: true})
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintf(stderr, "banli audit verify: %v (a running server holds the file: ask it with GET /v1/audit:verify)\n", err)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "banli audit verify: %v\n", err)
		return 1
	}
	defer db.Close()
	var v store.AuditVerdict
	db.View(func(r *store.Reader) error { v = r.VerifyAudit(); return nil })
	if v.FirstBroken != 0 {
		fmt.Fprintf(stdout, "BROKEN at record %d of %d: %s\n", v.FirstBroken, v.Records, v.Problem)
		return 1
	}
	fmt.Fprintf(stdout, "intact: %d records\n", v.Records)
	return 0
}
