// Command banli runs the Banli service: a gRPC API with a REST gateway over
// one bbolt data file.
//
//	banli [serve] [flags]   run the service (the default)
//	banli backup FILE       copy a running server's database into FILE
//	banli restore FILE      put a backup in place of the data file (server stopped)
//	banli import FILE       import cases from XLSX, CSV (UTF-8 or GBK) or JSON lines
//	banli export -o FILE    write the ledger as XLSX or CSV
//	banli get|list|assign|sign|reply|rate …  lifecycle calls for scripts
//	banli audit verify      check the audit trail's hash chain in a data file
//	banli certs init        make a CA, a server certificate and client certificates
//	banli admin-key         print the first admin's key
//	banli health            ask a server's gRPC health (a container's HEALTHCHECK)
//	banli seed              fill a running server with realistic cases
//	banli bench             drive a running server with a realistic mix
//	banli version           print the version
//
// Every flag can also be set by an environment variable BANLI_<FLAG>, with
// dashes as underscores (BANLI_GRPC_ADDR); a flag on the command line wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/banli/banli/cmd/banli/build"
	"github.com/banli/banli/cmd/banli/certs"
	"github.com/banli/banli/cmd/banli/cli"
	"github.com/banli/banli/cmd/banli/datatool"
	"github.com/banli/banli/cmd/banli/load"
	"github.com/banli/banli/cmd/banli/server"
	"github.com/banli/banli/service"
	"github.com/banli/banli/service/webhook"
	"github.com/banli/banli/store"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		args[0] = "version"
	}
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-help" || args[0] == "-h") {
		args[0] = "help" // the commands; banli serve -h lists the server's flags
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCommand(args, stderr)
	case "backup":
		return cli.BackupCommand(args, stdout, stderr, server.CheckBackup)
	case "restore":
		return datatool.RestoreCommand(args, stdout, stderr, server.DataFiles{})
	case "import":
		return cli.ImportCommand(args, stdout, stderr)
	case "export":
		return cli.ExportCommand(args, stdout, stderr)
	case "get", "list", "assign", "sign", "reply", "rate":
		return cli.LifecycleCommand(cmd, args, stdout, stderr)
	case "audit":
		return datatool.AuditCommand(args, stdout, stderr, server.DataFiles{})
	case "admin-key":
		return datatool.AdminKeyCommand(args, stdout, stderr)
	case "certs":
		return certs.Command(args, stdout, stderr)
	case "health":
		return cli.HealthCommand(args, stdout, stderr)
	case "seed":
		return load.SeedCommand(args, stdout, stderr)
	case "bench":
		return load.BenchCommand(args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, build.Read())
		return 0
	case "completion":
		if len(args) != 1 || (args[0] != "bash" && args[0] != "zsh") {
			fmt.Fprintln(stderr, "usage: banli completion bash|zsh   (e.g. source <(banli completion bash))")
			return 2
		}
		fmt.Fprint(stdout, completionScript(args[0]))
		return 0
	case "help":
		fmt.Fprintln(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "banli: unknown command %q\n\n%s\n", cmd, usage)
		return 2
	}
}

const usage = `usage:
  banli [serve] [flags]   run the service (default); banli serve -h lists the flags
  banli backup FILE       copy a running server's database into FILE (-addr, BANLI_GRPC_ADDR)
  banli restore FILE      with the server stopped, put a backup in place of the data file
                          (-data, BANLI_DATA); the replaced file is kept beside it
  banli import FILE       import cases from an XLSX, CSV (UTF-8 or GBK) or JSONL file, by Chinese
                          or English headers (-addr, -mapping, -report, -dry-run, -all-or-nothing)
  banli export -o FILE    write the ledger (台账) as XLSX, or CSV for a .csv name (-session, -unit,
                          -state, -year, -english)
  banli get NAME          a case as JSON; also list, assign, sign, reply, rate: thin lifecycle
                          calls for scripts (banli assign -h and so on)
  banli audit verify      check the audit trail's hash chain of a data file (-data, BANLI_DATA;
                          the server must be stopped, or use GET /v1/audit:verify)
  banli certs init -dir D a CA, a server certificate (-hosts) and client certificates (-clients)
                          for TLS on both listeners
  banli admin-key         print the first admin's key, written beside the data file on first
                          start (-data, BANLI_DATA; -remove deletes the file)
  banli health            gRPC health of a running server, over TLS with -ca; exit 0 if serving
  banli seed [-cases N]   fill a running server with realistic cases (-addr)
  banli bench             drive a running server with a realistic mix and report
                          throughput and p50/p95/p99 (-transport grpc|rest, -clients, -duration)
  banli version           print the version, the commit and the Go it was built with
                          (also banli --version)
  banli completion bash   shell completion of the commands and their flags, for bash or zsh:
                          source <(banli completion bash)`

// serveFlags are the flags of `banli serve`: the server's Config, and how
// it logs.
type serveFlags struct {
	server.Config
	logLevel     slog.Level
	logFormat    string
	publicFeed   bool
	webhookAllow string
}

func parseServeFlags(args []string, stderr io.Writer) (serveFlags, error) {
	var cfg serveFlags
	fs := flag.NewFlagSet("banli serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataPath, "data", "./data/banli.db", "the bbolt data file; created with its directory if missing")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:50051", "gRPC listen address")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:8080", "REST gateway, OpenAPI and probe listen address")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "log level: DEBUG, INFO, WARN or ERROR")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log format: text or json")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "how long in-flight calls may run after SIGTERM")
	fs.DurationVar(&cfg.DrainDelay, "drain-delay", 5*time.Second, "after SIGTERM, how long /readyz answers 503 while the listeners still serve, before they close (0: close at once)")
	fs.DurationVar(&cfg.LockTimeout, "lock-timeout", time.Second, "how long to wait for another process to release the data file")
	fs.StringVar(&cfg.Follow, "follow", "", "run as a standby of the primary at this gRPC address (read-only until promoted)")
	fs.StringVar(&cfg.FollowDial.TokenFile, "follow-token-file", "", "with -follow: a file holding the API key of a standby (or admin) account on the primary")
	fs.StringVar(&cfg.FollowDial.CAFile, "follow-ca", "", "with -follow: a PEM CA to verify the primary's TLS certificate")
	fs.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate for TLS on both listeners (required to listen beyond loopback)")
	fs.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of -tls-cert")
	fs.StringVar(&cfg.ClientCA, "client-ca", "", "PEM CA whose client certificates may sign in (as the account mapped to their common name)")
	fs.Float64Var(&cfg.RateLimit, "rate-limit", 500, "calls per second one account (or one address failing to sign in) may make on average; 0 turns the limit off")
	fs.IntVar(&cfg.RateBurst, "rate-burst", 1000, "calls one account may make at once above -rate-limit")
	fs.IntVar(&cfg.MaxConnections, "max-connections", server.DefaultMaxConnections, "connections both listeners hold at most, together; more are closed at once")
	fs.IntVar(&cfg.MaxConnectionsPerIP, "max-connections-per-ip", server.DefaultMaxConnectionsPerIP, "connections one client address holds at most")
	fs.IntVar(&cfg.MaxStreamsPerAccount, "max-streams-per-account", server.DefaultMaxStreamsPerAccount, "streams (imports, exports, backups) one account holds open at once")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", server.DefaultIdleTimeout, "an HTTP keep-alive or gRPC connection with no call for this long is closed")
	fs.DurationVar(&cfg.SendTimeout, "send-timeout", service.DefaultSendTimeout, "a download (export, backup) whose client reads nothing for this long is ended")
	fs.StringVar(&cfg.AuditKey, "audit-key", "", "the audit trail's key file (default audit.key beside -data; made on first start, mode 0600)")
	fs.StringVar(&cfg.DebugAddr, "debug-addr", "", "serve Go's pprof profiles here (off when empty; keep it on loopback)")
	fs.BoolVar(&cfg.publicFeed, "public-feed", true, "serve the public disclosure feed of published replies (/v1/public/replies), which needs no sign-in")
	fs.StringVar(&cfg.OTLPEndpoint, "otlp-endpoint", "", "export a trace span of every call over OTLP/gRPC to this OpenTelemetry collector, e.g. http://127.0.0.1:4317 (https:// for TLS); off when empty")
	fs.Float64Var(&cfg.WebhookRate, "webhook-rate", service.DefaultWebhookRate, "posts a second all webhooks together may make; a burst of writes beyond it is delivered after the burst")
	fs.StringVar(&cfg.webhookAllow, "webhook-allow", "", "URL prefixes webhooks may post to, separated by commas, e.g. https://sms.example.gov.cn/hooks/,https://*.platform.example.cn/ (none: no webhooks)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: banli serve [flags]\n\nEach flag may also be set as BANLI_<NAME> (e.g. BANLI_GRPC_ADDR).\n\nflags:")
		fs.PrintDefaults()
	}
	// Environment first, so that flags given on the command line override it.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		key := "BANLI_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", key, v, err)
			}
		}
	})
	if envErr != nil {
		return cfg, envErr
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	cfg.FollowDial.Addr = cfg.Follow
	cfg.PublicFeedOff = !cfg.publicFeed
	allow, err := webhook.ParseAllowList(cfg.webhookAllow)
	if err != nil {
		return cfg, fmt.Errorf("-webhook-allow: %w", err)
	}
	cfg.WebhookAllow = allow
	if cfg.WebhookRate <= 0 {
		return cfg, errors.New("-webhook-rate must be positive")
	}
	if cfg.RateLimit < 0 || cfg.RateBurst < 0 {
		return cfg, errors.New("-rate-limit and -rate-burst must not be negative")
	}
	if cfg.MaxConnections < 1 || cfg.MaxConnectionsPerIP < 1 || cfg.MaxStreamsPerAccount < 1 || cfg.IdleTimeout <= 0 || cfg.SendTimeout <= 0 {
		return cfg, errors.New("-max-connections, -max-connections-per-ip, -max-streams-per-account , -idle-timeout and -send-timeout must be positive")
	}
	if cfg.logFormat != "text" && cfg.logFormat != "json" {
		return cfg, fmt.Errorf("-log-format must be text or json, not %q", cfg.logFormat)
	}
	return cfg, nil
}

func serveCommand(args []string, stderr io.Writer) int {
	cfg, err := parseServeFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "banli:", err)
		return 2
	}
	opts := &slog.HandlerOptions{Level: cfg.logLevel}
	var handler slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.logFormat == "json" {
		handler = slog.NewJSONHandler(stderr, opts)
	}
	log := slog.New(handler)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg.Log, cfg.Build = log, build.Read()
	err = server.Run(ctx, cfg.Config)
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintf(stderr, "banli: %v\nAnother banli (or other program) has %s open. Stop it, or give this one its own file with -data or BANLI_DATA.\n", err, cfg.DataPath)
		return 1
	}
	if err != nil {
		log.Error("banli stopped", "error", err)
		return 1
	}
	return 0
}

// commands are the subcommands, as completion offers them.
var commands = []string{"serve", "backup", "restore", "import", "export", "get", "list", "assign", "sign", "reply", "rate",
	"audit", "admin-key", "certs", "health", "seed", "bench", "version", "completion", "help"}

// completionScript completes the commands, then each command's flags as
// its own -h lists them, asked with the words typed so far (banli certs
// init -h) of the banli on the PATH, so that they never drift from the
// flags; then file names.
func completionScript(shell string) string {
	script := `_banli() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "` + strings.Join(commands, " ") + `" -- "$cur"))
  elif [[ "$cur" == -* ]]; then
    local flags
    flags=$(banli "${COMP_WORDS[@]:1:COMP_CWORD-1}" -h 2>&1 | sed -n 's/^  \(-[a-z-]*\).*/\1/p')
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _banli banli
`
	if shell == "zsh" {
		script = "autoload -U +X bashcompinit && bashcompinit\n" + script
	}
	return script
}
