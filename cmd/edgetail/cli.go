package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"edgetail/agent"
	"edgetail/logging"

	"go.uber.org/zap"
)

// Version and Commit are stamped at build time with -ldflags -X.
var (
	Version = "dev"
	Commit  = "unknown"
)

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintf(stdout, "edgetail %s (commit %s, %s %s/%s)\n", Version, Commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return 0
		case "check":
			return check(args[1:], stdout, stderr)
		case "follow":
			return Follow(args[1:], stdout, stderr)
		case "hub":
			return hubCmd(args[1:], stdout, stderr)
		case "token":
			return newToken(stdout, stderr)
		case "help", "-h", "-help", "--help":
			usage(stderr)
			return 0
		}
	}
	return serve(args, stderr)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  edgetail [flags]                      run with the embedded default config
  edgetail -config FILE [flags]         run with a YAML config
  edgetail [flags] PATH_OR_GLOB...      quick mode: one source per argument (NAME=GLOB names it)
  edgetail check -config FILE           validate a config
  edgetail follow [flags] URL           print a stream, reconnecting and resuming
  edgetail hub [-config FILE] [-listen ADDR] [-nats URL]
                                        serve the fleet view from NATS JetStream
  edgetail token                        print a new random token and its config line
  edgetail version

flags (they beat the config file):
  -config FILE  -listen ADDR  -log-level LEVEL  -metrics-interval DURATION
`)
}

// runFlags are the flags of the serve command.
type runFlags struct {
	config, listen, logLevel string
	metricsInterval          time.Duration
	quick                    []string
}

func parseRunFlags(args []string, stderr io.Writer) (*runFlags, error) {
	fs := flag.NewFlagSet("edgetail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { usage(stderr) }
	f := &runFlags{}
	fs.StringVar(&f.config, "config", "", "YAML config file (default: the embedded default)")
	fs.StringVar(&f.listen, "listen", "", "listen address, host:port")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error")
	fs.DurationVar(&f.metricsInterval, "metrics-interval", 0, "interval of metrics sources")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	f.quick = fs.Args()
	return f, nil
}

// load builds the configuration the flags ask for.
func (f *runFlags) load() (*agent.Config, error) {
	var c *agent.Config
	var err error
	switch {
	case f.config != "" && len(f.quick) > 0:
		return nil, errors.New("give -config or paths, not both")
	case f.config != "":
		c, err = agent.LoadConfig(f.config)
	case len(f.quick) > 0:
		c, err = quickConfig(f.quick)
	default:
		c = agent.DefaultConfig()
	}
	if err != nil {
		return nil, err
	}
	if f.listen != "" {
		c.Listen = f.listen
	}
	if f.logLevel != "" {
		c.LogLevel = f.logLevel
	}
	if f.metricsInterval > 0 {
		for _, s := range c.Sources {
			if s.Metrics != nil {
				s.Metrics.Interval = f.metricsInterval
			}
		}
	}
	// Validate again: the flags may have made the config invalid.
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// quickConfig makes one file source per argument, named after the file
// (/var/log/syslog -> syslog) unless given as NAME=GLOB.
func quickConfig(args []string) (*agent.Config, error) {
	var b strings.Builder
	b.WriteString("sources:\n")
	for _, a := range args {
		name, glob, ok := strings.Cut(a, "=")
		if !ok {
			glob = a
			name = quickName(a)
		}
		abs, err := filepath.Abs(glob)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", glob, err)
		}
		fmt.Fprintf(&b, "  - name: %q\n    files: [%q]\n", name, abs)
	}
	return agent.ParseConfig([]byte(b.String()), "command line")
}

// quickName derives a source name from a path: the file's name
// (/var/log/syslog -> syslog, app.log -> app.log), or for a glob whose name
// is a pattern, its directory's (/var/log/nginx/*.log -> nginx); lower-cased,
// with characters a name cannot hold folded to '-'.
func quickName(path string) string {
	base := filepath.Base(path)
	if hasGlobMeta(base) {
		base = filepath.Base(filepath.Dir(path))
	}
	var b strings.Builder
	for _, r := range strings.ToLower(base) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	s := strings.TrimLeft(b.String(), "_.-")
	if s == "" {
		s = "file"
	}
	return s
}

func check(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("edgetail check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "YAML config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *path == "" && fs.NArg() == 1 {
		*path = fs.Arg(0)
	}
	if *path == "" {
		fmt.Fprintln(stderr, "usage: edgetail check -config FILE")
		return 2
	}
	if _, err := agent.LoadConfig(*path); err != nil {
		var ce *agent.ConfigError
		if errors.As(err, &ce) {
			for _, p := range ce.Problems {
				fmt.Fprintln(stderr, p)
			}
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", *path)
	return 0
}

// serve runs the agent until SIGTERM or SIGINT; SIGHUP reloads.
func serve(args []string, stderr io.Writer) int {
	f, err := parseRunFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	cfg, err := f.load()
	if err != nil {
		printConfigError(stderr, err)
		return 1
	}
	log, level, err := logging.New(cfg.LogLevel)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer func() { _ = log.Sync() }() // EINVAL on a terminal: nothing to do about it

	a, err := agent.New(cfg, log)
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		return 1
	}
	a.Procs = true
	notifier := agent.NewNotifier(log)
	notifier.Attach(a)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	done := make(chan error, 1)
	go func() { done <- notifier.Run(ctx, a) }() // a.Run, or the listener systemd passed
	stopping := false
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Error("stopped", zap.Error(err))
				return 1
			}
			log.Info("stopped")
			return 0
		case s := <-sigs:
			switch {
			case s == syscall.SIGHUP && !stopping:
				nc, err := f.load()
				if err != nil {
					log.Error("reload refused: config invalid, keeping the running one", zap.Error(err))
					continue
				}
				if lv, err := logging.ParseLevel(nc.LogLevel); err == nil {
					level.SetLevel(lv)
				}
				if err := a.Reload(nc); err != nil {
					log.Error("reload failed", zap.Error(err))
				}
			case s == syscall.SIGHUP:
			case stopping:
				log.Warn("second signal: exiting now")
				return 1
			default:
				log.Info("stopping", zap.String("signal", s.String()))
				stopping = true
				cancel()
			}
		}
	}
}

func printConfigError(w io.Writer, err error) {
	var ce *agent.ConfigError
	if errors.As(err, &ce) {
		fmt.Fprintln(w, "edgetail: the config has problems:")
		for _, p := range ce.Problems {
			fmt.Fprintln(w, "  "+p.String())
		}
		return
	}
	fmt.Fprintln(w, "edgetail:", err)
}

// newToken prints a random 256-bit token and the config line that grants
// it, so the token itself never has to be written into the config.
func newToken(stdout, stderr io.Writer) int {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		fmt.Fprintln(stderr, "edgetail token:", err)
		return 1
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(tok))
	fmt.Fprintf(stdout, "token: %s\n\n# in the config, under auth.tokens:\n  - name: CHANGE-ME\n    token_sha256: %q\n    sources: [\"*\"]\n", tok, hex.EncodeToString(sum[:]))
	return 0
}

func hasGlobMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }
