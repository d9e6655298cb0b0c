// Package build says which build of banli is running: its version, the
// commit it was built from, and the Go it was built with. The version is
// what the release sets with -ldflags "-X
// github.com/banli/banli/cmd/banli/build.version=v1.2.0"; otherwise the
// module's version (go install …@v1.2.0, or the pseudo-version Go derives
// from the checkout), or "dev". The commit and its time come from Go's VCS
// stamp, which `go build` in a checkout writes unless -buildvcs=false.
package build

import (
	"fmt"
	"runtime/debug"
)

// version is set at link time; see the package comment.
var version = ""

// Info is one build.
type Info struct {
	Version string
	// Commit is the VCS revision, "" when the binary carries none (go run,
	// go test); Modified: the checkout had uncommitted changes.
	Commit     string
	CommitTime string
	Modified   bool
	GoVersion  string
}

// Read returns this binary's build.
func Read() Info {
	info := Info{Version: version}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info.withDefaults()
	}
	info.GoVersion = bi.GoVersion
	if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Commit = s.Value
		case "vcs.time":
			info.CommitTime = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info.withDefaults()
}

func (i Info) withDefaults() Info {
	if i.Version == "" {
		i.Version = "dev"
	}
	return i
}

// ShortCommit is the commit's first 12 characters, with "+changes" when
// the checkout was modified; "unknown" without a VCS stamp.
func (i Info) ShortCommit() string {
	c := i.Commit
	if c == "" {
		return "unknown"
	}
	if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += "+changes"
	}
	return c
}

// String is the line `banli version` prints.
func (i Info) String() string {
	s := fmt.Sprintf("banli %s (commit %s", i.Version, i.ShortCommit())
	if i.CommitTime != "" {
		s += ", " + i.CommitTime
	}
	if i.GoVersion != "" {
		s += ", " + i.GoVersion
	}
	return s + ")"
}
