// Command conveyor is Conveyor's one binary: the server (`conveyor server`), the deploy agent
// (`conveyor agent`) and the client commands that drive a server through its AWS-compatible API.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	_ "time/tzdata" // DeploymentWindow rules name time zones; the server may run where no zoneinfo is installed
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// command is one subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, out, errOut io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"server": {"run the Conveyor server (API, engine, UI)", runServer},
		"version": {"print the version", func(_ context.Context, _ []string, out, _ io.Writer) error {
			_, err := fmt.Fprintln(out, version)
			return err
		}},
		"validate":    {"check a pipeline declaration file and print every error", runValidate},
		"pipeline":    {"create, inspect, start, stop, retry and approve pipelines", runPipeline},
		"keys":        {"manage API access keys (create, list, delete)", runKeys},
		"apply":       {"create or update the resources declared in a conveyor.yaml", runApply},
		"upload":      {"upload a source bundle: conveyor upload BUCKET/KEY FILE.zip", runUpload},
		"build":       {"start, follow, inspect, stop and retry builds; build --local runs a buildspec here", runBuild},
		"logs":        {"print or follow a build's log: conveyor logs BUILD_ID [-f] [--tail N]", runLogs},
		"secrets":     {"store the secrets builds read (parameter-store, secrets-manager)", runSecrets},
		"projects":    {"create, inspect and delete build projects", runProjects},
		"connections": {"connect git repositories (GitHub, Gitea, GitLab, any git server): create, list, get, delete", runConnections},
		"webhooks":    {"the delivery log: conveyor webhooks deliveries CONNECTION", runWebhooks},
		"users":       {"manage the dashboard's users (create, list, delete, set-role, set-password)", runUsers},
		"agent":       {"run the deploy agent on this host: connects out to the server and runs appspec revisions", runAgent},
		"agents":      {"registration tokens for deploy hosts; list, revoke and tag the hosts' agents", runAgents},
		"deploy":      {"create, inspect, list and stop deployments; print the hosts' hook output", runDeploy},
	}
}

// exitError carries a specific exit status (e.g. 2 for usage errors, 1 for validation failures).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: conveyor COMMAND [flags]\n\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'conveyor COMMAND -h' for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, out, errOut io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(errOut)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(errOut, "conveyor: unknown command %q\n\n", args[0])
		usage(errOut)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := cmd.run(ctx, args[1:], out, errOut)
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(errOut, ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(errOut, "conveyor %s: %v\n", args[0], err)
	return 1
}
