package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/conveyorci/conveyor/executor"
)

func runServer(ctx context.Context, args []string, out, errOut io.Writer) error {
	return runServerWith(ctx, args, out, nil)
}

// runServerWith runs the server with extra providers registered (the test binary re-executes
// itself this way to serve the scriptable fake provider).
func runServerWith(ctx context.Context, args []string, out io.Writer, providers func(*executor.Registry)) error {
	fs := flag.NewFlagSet("conveyor server", flag.ContinueOnError)
	cfg := serverConfig{Providers: providers}
	listen := stringSetting(fs, "listen", "CONVEYOR_LISTEN", "127.0.0.1:8080", "address to serve the API and UI on")
	data := stringSetting(fs, "data", "CONVEYOR_DATA", "./data", "directory for the database, blobs, logs and keys")
	region := stringSetting(fs, "region", "CONVEYOR_REGION", "local", "region used in ARNs")
	logLevel := stringSetting(fs, "log-level", "CONVEYOR_LOG_LEVEL", "info", "debug, info, warn or error")
	logFormat := stringSetting(fs, "log-format", "CONVEYOR_LOG_FORMAT", "text", "text or json")
	example := boolSetting(fs, "example", "CONVEYOR_EXAMPLE", false, "load the example pipeline if it does not exist")
	exampleAgent := boolSetting(fs, "example-agent", "CONVEYOR_EXAMPLE_AGENT", true, "with --example: run a deploy agent in the server process for the example's Deploy stage")
	publicURL := stringSetting(fs, "public-url", "CONVEYOR_PUBLIC_URL", "", "the dashboard's URL as browsers reach it, for links in notifications (default: http://<listen address>)")
	agentLease := stringSetting(fs, "agent-lease", "CONVEYOR_AGENT_LEASE", "60s", "how long a deploy host may go without a heartbeat during its command before it is failed (AGENT_ISSUE)")
	maxBuilds := stringSetting(fs, "max-concurrent-builds", "CONVEYOR_MAX_CONCURRENT_BUILDS", "0", "builds running at once; more wait queued (0: the CPU count, at least 2)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.Listen, cfg.Data, cfg.Region, cfg.LogLevel, cfg.LogFormat, cfg.Example = *listen, *data, *region, *logLevel, *logFormat, *example
	if n, err := strconv.Atoi(*maxBuilds); err != nil || n < 0 {
		return &exitError{code: 2, err: fmt.Errorf("--max-concurrent-builds %q: want a number", *maxBuilds)}
	} else {
		cfg.MaxConcurrentBuilds = n
	}
	if d, err := time.ParseDuration(*agentLease); err != nil || d < time.Second {
		return &exitError{code: 2, err: fmt.Errorf("--agent-lease %q: want a duration of at least 1s, such as 60s", *agentLease)}
	} else {
		cfg.AgentLease = d
	}
	cfg.AdminKeyID = os.Getenv("CONVEYOR_ADMIN_ACCESS_KEY_ID")
	cfg.AdminSecret = os.Getenv("CONVEYOR_ADMIN_SECRET_ACCESS_KEY")
	cfg.SecretKey = os.Getenv("CONVEYOR_SECRET_KEY")
	cfg.AdminPassword, cfg.PublicURL = os.Getenv("CONVEYOR_ADMIN_PASSWORD"), *publicURL
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat, os.Stderr)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		a.close()
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	if cfg.Example {
		if err := loadExample(ctx, a); err != nil {
			log.Error("loading the example pipeline", "err", err)
		}
		if *exampleAgent {
			if err := runExampleAgent(ctx, a, loopbackURL(ln.Addr())); err != nil {
				log.Error("starting the example agent", "err", err)
			}
		}
	}
	log.Info("conveyor server ready", "url", "http://"+ln.Addr().String(), "data", cfg.Data, "version", version)
	fmt.Fprintf(out, "Conveyor is running at http://%s (data in %s)\n", ln.Addr(), cfg.Data)
	fmt.Fprintln(out, a.web.loginHint())
	return a.serve(ctx, ln)
}

// loopbackURL is the server's own URL for clients in this process: a wildcard listen address is
// reached over loopback.
func loopbackURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
