package main

// `conveyor build …`: CodeBuild builds through the AWS SDK (start, get, list, stop, retry), and
// `conveyor build --local`, which runs a buildspec from a directory with the server's own build
// runner but without a server (from runLocalBuild on).

import (
	"archive/zip"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/executor/build/buildspec"
	"github.com/conveyorci/conveyor/executor/build/docker"
	"github.com/conveyorci/conveyor/internal/size"
	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

func buildCommands() []subcommand {
	return []subcommand{
		{"start", "PROJECT [--env K=V]... [--env-type K=TYPE:VALUE]... [--source-version V] [--buildspec FILE|-] [--image I] [--compute-type T] [--timeout MIN] [--token T] [--wait|--follow]",
			"start a build; prints its id (--follow streams its log, --wait waits; both exit by its result)", buildStart},
		{"get", "BUILD_ID", "show a build: status, phases, artifacts, exported variables, reports", buildGet},
		{"list", "[PROJECT] [--max N]", "list recent builds, newest first", buildList},
		{"stop", "BUILD_ID", "stop a running or queued build", buildStop},
		{"retry", "BUILD_ID [--token T] [--wait|--follow]", "start a new build with the same settings; prints its id", buildRetry},
		{"--local", "[-s DIR] [-s IDENT:DIR]... [-i IMAGE] [-b buildspec.yml] [-a OUT_DIR] [-r REPORTS_DIR] [-e ENV_FILE] [--secrets-file FILE] [--no-cache]",
			"run a buildspec from a directory in Docker, without a server (like AWS's codebuild_build.sh)", nil},
	}
}

func runBuild(ctx context.Context, args []string, out, errOut io.Writer) error {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "--local" || a == "-local" || strings.HasPrefix(a, "--local=") || strings.HasPrefix(a, "-local=") {
			return runLocalBuild(ctx, args, out, errOut)
		}
	}
	return runGroup(ctx, "build", buildCommands(), args, out, errOut) // --local was handled above
}

// captureCB records the raw request and response of a CodeBuild SDK call (see responseCapture).
func captureCB(c *responseCapture) func(*codebuild.Options) {
	return func(o *codebuild.Options) {
		c.inner = o.HTTPClient
		o.HTTPClient = c
	}
}

// cbNoInputValidation drops the SDK's client-side checks of required members (CreateProject wants
// a serviceRole, which Conveyor does not need): the server validates everything.
func cbNoInputValidation(o *codebuild.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		_, err := s.Initialize.Remove("OperationInputValidation")
		return err
	})
}

// --- start, retry ---

func buildStart(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("build start PROJECT [--env K=V]... [--env-type K=TYPE:VALUE]... [--source-version V] [--buildspec FILE|-] [--image I] [--compute-type T] [--timeout MIN] [--token T] [--wait|--follow]")
	env := &keyValues{what: "environment variable"}
	c.Var(env, "env", "a plain-text environment variable K=V for this build (repeatable; wins over the project's and the buildspec's)")
	envType := &keyValues{what: "environment variable"}
	c.Var(envType, "env-type", "a variable of a given type, K=TYPE:VALUE with TYPE PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER, e.g. TOKEN=PARAMETER_STORE:/ci/token (repeatable)")
	sourceVersion := c.String("source-version", "", "the source version (an S3 object version id for S3 sources)")
	bsFile := c.String("buildspec", "", "a buildspec file to run instead of the project's (- reads standard input); checked locally first, sent inline")
	image := c.String("image", "", "the build image instead of the project's")
	computeType := c.String("compute-type", "", "the compute type instead of the project's (BUILD_GENERAL1_SMALL, …)")
	timeout := c.Int("timeout", 0, "the build timeout in minutes (5-2160) instead of the project's")
	token := c.String("token", "", "idempotency token: starting again with the same token returns the same build")
	wait := c.Bool("wait", false, "wait for the build to end; exit 0 when it SUCCEEDED, 1 otherwise")
	follow := c.Bool("follow", false, "stream the build's log until it ends; exit 0 when it SUCCEEDED, 1 otherwise")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	in := &codebuild.StartBuildInput{ProjectName: aws.String(pos[0])}
	for _, kv := range env.pairs {
		in.EnvironmentVariablesOverride = append(in.EnvironmentVariablesOverride,
			cbtypes.EnvironmentVariable{Name: aws.String(kv[0]), Value: aws.String(kv[1]), Type: cbtypes.EnvironmentVariableTypePlaintext})
	}
	for _, kv := range envType.pairs {
		typ, val, ok := strings.Cut(kv[1], ":")
		switch {
		case !ok:
			return c.usageError("--env-type %s=%s: write K=TYPE:VALUE, e.g. TOKEN=PARAMETER_STORE:/ci/token", kv[0], kv[1])
		case typ != build.VarPlaintext && typ != build.VarParameterStore && typ != build.VarSecretsManager:
			return c.usageError("--env-type %s: type %q must be PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER", kv[0], typ)
		}
		in.EnvironmentVariablesOverride = append(in.EnvironmentVariablesOverride,
			cbtypes.EnvironmentVariable{Name: aws.String(kv[0]), Value: aws.String(val), Type: cbtypes.EnvironmentVariableType(typ)})
	}
	if *sourceVersion != "" {
		in.SourceVersion = sourceVersion
	}
	if *bsFile != "" {
		data, err := readInput(*bsFile)
		if err != nil {
			return err
		}
		name := *bsFile
		if name == "-" {
			name = "<stdin>"
		}
		if _, err := buildspec.Parse(name, data); err != nil {
			return &exitError{code: 1, err: err}
		}
		text := string(data)
		if !strings.Contains(text, "\n") {
			text += "\n" // an inline buildspec is told from a file name by its line breaks
		}
		in.BuildspecOverride = aws.String(text)
	}
	if *image != "" {
		in.ImageOverride = image
	}
	if *computeType != "" {
		in.ComputeTypeOverride = cbtypes.ComputeType(*computeType)
	}
	if *timeout != 0 {
		in.TimeoutInMinutesOverride = aws.Int32(int32(*timeout))
	}
	if *token != "" {
		in.IdempotencyToken = token
	}
	cb, err := c.cfg.codeBuild()
	if err != nil {
		return err
	}
	var cap responseCapture
	res, err := cb.StartBuild(ctx, in, captureCB(&cap))
	if err != nil {
		return apiError(err)
	}
	return afterStart(ctx, c.cfg, cb, aws.ToString(res.Build.Id), cap.response, *wait, *follow, out, errOut)
}

// afterStart prints a started build's id (or the API's answer with --output json) and waits for
// it or follows its log when asked.
func afterStart(ctx context.Context, cfg *clientConfig, cb *codebuild.Client, id string, raw []byte, wait, follow bool, out, errOut io.Writer) error {
	switch {
	case follow:
		fmt.Fprintf(errOut, "started build %s\n", id)
		status, err := followBuildLog(ctx, cfg, id, 0, out, errOut)
		if err != nil {
			return err
		}
		return buildResult(ctx, cfg, id, status)
	case wait:
		if !cfg.json() {
			fmt.Fprintln(out, id)
		}
		b, rawBuild, err := waitBuild(ctx, cb, id)
		if err != nil {
			return err
		}
		if cfg.json() {
			if err := printRaw(out, rawBuild); err != nil {
				return err
			}
		}
		return buildResult(ctx, cfg, id, b.BuildStatus)
	case cfg.json():
		return printRaw(out, raw)
	}
	fmt.Fprintln(out, id)
	return nil
}

func buildRetry(ctx context.Context, args []string, out, errOut io.Writer) error {
	c := newCmd("build retry BUILD_ID [--token T] [--wait|--follow]")
	token := c.String("token", "", "idempotency token: retrying again with the same token returns the same build")
	wait := c.Bool("wait", false, "wait for the new build to end; exit 0 when it SUCCEEDED, 1 otherwise")
	follow := c.Bool("follow", false, "stream the new build's log until it ends; exit by its result")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cb, err := c.cfg.codeBuild()
	if err != nil {
		return err
	}
	in := &codebuild.RetryBuildInput{Id: aws.String(pos[0])}
	if *token != "" {
		in.IdempotencyToken = token
	}
	var cap responseCapture
	res, err := cb.RetryBuild(ctx, in, captureCB(&cap))
	if err != nil {
		return apiError(err)
	}
	return afterStart(ctx, c.cfg, cb, aws.ToString(res.Build.Id), cap.response, *wait, *follow, out, errOut)
}

// getBuild reads one build (Conveyor's additions included) and its raw JSON.
func getBuild(ctx context.Context, cb *codebuild.Client, id string) (build.Build, json.RawMessage, error) {
	list, raws, err := getBuilds(ctx, cb, []string{id})
	if err != nil {
		return build.Build{}, nil, err
	}
	if len(list) == 0 {
		return build.Build{}, nil, &exitError{code: 1, err: fmt.Errorf("build %s does not exist", id)}
	}
	return list[0], raws[0], nil
}

// getBuilds reads builds by id, 100 a request, in the order found.
func getBuilds(ctx context.Context, cb *codebuild.Client, ids []string) ([]build.Build, []json.RawMessage, error) {
	var list []build.Build
	var raws []json.RawMessage
	for start := 0; start < len(ids); start += 100 {
		chunk := ids[start:min(start+100, len(ids))]
		var cap responseCapture
		if _, err := cb.BatchGetBuilds(ctx, &codebuild.BatchGetBuildsInput{Ids: chunk}, captureCB(&cap)); err != nil {
			return nil, nil, apiError(err)
		}
		for _, raw := range rawList(cap.response, "builds") {
			var b build.Build
			if err := json.Unmarshal(raw, &b); err != nil {
				return nil, nil, fmt.Errorf("read build: %w", err)
			}
			list = append(list, b)
			raws = append(raws, raw)
		}
	}
	return list, raws, nil
}

// waitBuild polls a build until it ends.
func waitBuild(ctx context.Context, cb *codebuild.Client, id string) (build.Build, json.RawMessage, error) {
	delay := 500 * time.Millisecond
	for {
		b, raw, err := getBuild(ctx, cb, id)
		if err != nil {
			return build.Build{}, nil, err
		}
		if b.BuildComplete || build.Finished(b.BuildStatus) {
			return b, raw, nil
		}
		select {
		case <-ctx.Done():
			return build.Build{}, nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*3/2, 5*time.Second)
	}
}

// --- get ---

func buildGet(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("build get BUILD_ID")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cb, err := c.cfg.codeBuild()
	if err != nil {
		return err
	}
	b, raw, err := getBuild(ctx, cb, pos[0])
	if err != nil {
		return err
	}
	if c.cfg.json() {
		return printRaw(out, raw)
	}
	var reports []cbtypes.Report
	if len(b.ReportArns) > 0 {
		res, err := cb.BatchGetReports(ctx, &codebuild.BatchGetReportsInput{ReportArns: b.ReportArns})
		if err != nil {
			return apiError(err)
		}
		reports = res.Reports
	}
	return writeBuild(out, b, reports, time.Now())
}

// writeBuild prints a build for people.
func writeBuild(w io.Writer, b build.Build, reports []cbtypes.Report, now time.Time) error {
	var s strings.Builder
	fmt.Fprintf(&s, "build %s (#%d of project %s)\n", b.ID, b.BuildNumber, b.ProjectName)
	status := b.BuildStatus
	if !build.Finished(status) {
		status += " in " + b.CurrentPhase
	}
	if b.OutOfMemory {
		status += " (the build container ran out of memory)"
	}
	fmt.Fprintf(&s, "status:     %s\n", status)
	start, end := b.StartTime.Time(), b.EndTime.Time()
	if !start.IsZero() {
		if end.IsZero() {
			fmt.Fprintf(&s, "started:    %s (running for %s)\n", clock(start), duration(now.Sub(start)))
		} else {
			fmt.Fprintf(&s, "started:    %s, took %s\n", clock(start), duration(end.Sub(start)))
		}
	}
	if b.Initiator != "" {
		fmt.Fprintf(&s, "initiator:  %s\n", b.Initiator)
	}
	if b.Source != nil {
		src := b.Source.Type
		if b.Source.Location != "" {
			src += " " + b.Source.Location
		}
		if b.ResolvedSourceVersion != "" {
			src += " version " + b.ResolvedSourceVersion
		} else if b.SourceVersion != "" {
			src += " version " + b.SourceVersion
		}
		fmt.Fprintf(&s, "source:     %s\n", src)
	}
	if b.Environment != nil {
		fmt.Fprintf(&s, "image:      %s (%s)\n", b.Environment.Image, b.Environment.ComputeType)
	}
	fmt.Fprintf(&s, "log:        conveyor logs %s\n", b.ID)
	if err := writeString(w, s.String()); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if err := writePhases(w, b.Phases, now); err != nil {
		return err
	}

	arts := []build.BuildArtifacts{}
	if b.Artifacts != nil && b.Artifacts.Sha256sum != "" {
		arts = append(arts, *b.Artifacts)
	}
	arts = append(arts, b.SecondaryArtifacts...)
	if len(arts) > 0 {
		fmt.Fprintln(w, "\nARTIFACTS")
		g := &grid{}
		for _, a := range arts {
			name := a.ArtifactIdentifier
			if name == "" {
				name = "primary"
			}
			detail := size.Bytes(a.Size)
			if a.Files > 0 {
				detail += fmt.Sprintf(", %d %s", a.Files, plural(a.Files, "file", "files"))
			}
			g.row("  "+name, "sha256 "+a.Sha256sum, detail, a.Location)
		}
		if err := g.write(w); err != nil {
			return err
		}
	}
	if len(b.ExportedEnvironmentVariables) > 0 {
		fmt.Fprintln(w, "\nEXPORTED VARIABLES")
		for _, v := range b.ExportedEnvironmentVariables {
			fmt.Fprintf(w, "  %s=%s\n", v.Name, v.Value)
		}
	}
	if len(reports) > 0 {
		fmt.Fprintln(w, "\nREPORTS")
		g := &grid{}
		for _, r := range reports {
			name, _, _ := strings.Cut(aws.ToString(r.Name), ":") // the report group; the rest is the report's id
			g.row("  "+name, string(r.Status), reportSummary(r.TestSummary))
		}
		if err := g.write(w); err != nil {
			return err
		}
	}
	return nil
}

// writePhases prints a build's phases with their status, duration and context.
func writePhases(w io.Writer, phases []build.BuildPhase, now time.Time) error {
	g := &grid{}
	g.row("PHASE", "STATUS", "DURATION", "CONTEXT")
	for _, p := range phases {
		d := ""
		switch {
		case p.DurationInSeconds != nil:
			d = duration(time.Duration(*p.DurationInSeconds) * time.Second)
		case p.PhaseStatus == build.StatusInProgress && p.StartTime != nil:
			d = duration(now.Sub(p.StartTime.Time())) + "…"
		}
		ctx := ""
		if len(p.Contexts) > 0 {
			ctx = p.Contexts[0].StatusCode + ": " + oneLine(p.Contexts[0].Message, 160)
		}
		g.row(p.PhaseType, p.PhaseStatus, d, ctx)
		for _, more := range p.Contexts[min(1, len(p.Contexts)):] {
			g.note(more.StatusCode + ": " + oneLine(more.Message, 160))
		}
	}
	return g.write(w)
}

func writeString(w io.Writer, s string) error {
	_, err := io.WriteString(w, s)
	return err
}

// reportSummary reads "3 tests: 2 SUCCEEDED, 1 FAILED in 1.2s".
func reportSummary(t *cbtypes.TestReportSummary) string {
	if t == nil {
		return ""
	}
	return testSummaryText(int(aws.ToInt32(t.Total)), func() map[string]int {
		m := map[string]int{}
		for k, v := range t.StatusCounts {
			m[k] = int(v)
		}
		return m
	}(), aws.ToInt64(t.DurationInNanoSeconds))
}

func testSummaryText(total int, counts map[string]int, nanos int64) string {
	keys := make([]string, 0, len(counts))
	for k, v := range counts {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	s := fmt.Sprintf("%d %s", total, plural(total, "test", "tests"))
	if len(parts) > 0 {
		s += ": " + strings.Join(parts, ", ")
	}
	if nanos > 0 {
		s += " in " + time.Duration(nanos).Round(time.Millisecond).String()
	}
	return s
}

// duration renders a duration for people: 0s, 42s, 3m05s, 1h02m.
func duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// --- list, stop ---

func buildList(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("build list [PROJECT] [--max N]")
	maxN := c.Int("max", 20, "how many builds to show, newest first")
	pos, err := c.parse(args, 0, 1)
	if err != nil {
		return err
	}
	if *maxN < 1 {
		return c.usageError("--max must be at least 1")
	}
	cb, err := c.cfg.codeBuild()
	if err != nil {
		return err
	}
	var ids []string
	var next *string
	for len(ids) < *maxN {
		var page []string
		if len(pos) == 1 {
			res, err := cb.ListBuildsForProject(ctx, &codebuild.ListBuildsForProjectInput{ProjectName: aws.String(pos[0]),
				SortOrder: cbtypes.SortOrderTypeDescending, NextToken: next})
			if err != nil {
				return apiError(err)
			}
			page, next = res.Ids, res.NextToken
		} else {
			res, err := cb.ListBuilds(ctx, &codebuild.ListBuildsInput{SortOrder: cbtypes.SortOrderTypeDescending, NextToken: next})
			if err != nil {
				return apiError(err)
			}
			page, next = res.Ids, res.NextToken
		}
		ids = append(ids, page...)
		if aws.ToString(next) == "" {
			break
		}
	}
	ids = ids[:min(len(ids), *maxN)]
	if c.cfg.json() {
		return printJSON(out, map[string]any{"ids": append([]string{}, ids...)})
	}
	if len(ids) == 0 {
		fmt.Fprintln(out, "no builds; start one with conveyor build start PROJECT")
		return nil
	}
	list, _, err := getBuilds(ctx, cb, ids)
	if err != nil {
		return err
	}
	byID := map[string]build.Build{}
	for _, b := range list {
		byID[b.ID] = b
	}
	now := time.Now()
	g := &grid{}
	g.row("BUILD ID", "STATUS", "PHASE", "STARTED", "DURATION", "INITIATOR")
	for _, id := range ids {
		b, ok := byID[id]
		if !ok {
			continue
		}
		d := ""
		if start := b.StartTime.Time(); !start.IsZero() {
			if end := b.EndTime.Time(); !end.IsZero() {
				d = duration(end.Sub(start))
			} else {
				d = duration(now.Sub(start)) + "…"
			}
		}
		g.row(b.ID, b.BuildStatus, b.CurrentPhase, clock(b.StartTime.Time()), d, b.Initiator)
	}
	return g.write(out)
}

func buildStop(ctx context.Context, args []string, out, _ io.Writer) error {
	c := newCmd("build stop BUILD_ID")
	pos, err := c.parse(args, 1, 1)
	if err != nil {
		return err
	}
	cb, err := c.cfg.codeBuild()
	if err != nil {
		return err
	}
	var cap responseCapture
	if _, err := cb.StopBuild(ctx, &codebuild.StopBuildInput{Id: aws.String(pos[0])}, captureCB(&cap)); err != nil {
		return apiError(err)
	}
	if c.cfg.json() {
		return printRaw(out, cap.response)
	}
	var res struct {
		Build build.Build `json:"build"`
	}
	_ = json.Unmarshal(cap.response, &res)
	if build.Finished(res.Build.BuildStatus) && res.Build.BuildStatus != build.StatusStopped {
		fmt.Fprintf(out, "build %s had already ended: %s\n", pos[0], res.Build.BuildStatus)
		return nil
	}
	fmt.Fprintf(out, "stopping build %s (it was in phase %s); conveyor build get %s shows when it has stopped\n", pos[0], res.Build.CurrentPhase, pos[0])
	return nil
}

// --- build --local ---

// localDefaultImage is the image of a local build without -i.
const localDefaultImage = "conveyor/build-debian:bookworm"

// localInstance labels the containers and volumes of local builds (docker.Options.Instance).
const localInstance = "conveyor-local"

const localSynopsis = "build --local [-s DIR] [-s IDENT:DIR]... [-i IMAGE] [-b buildspec.yml] [-a OUT_DIR] [-r REPORTS_DIR] [-e ENV_FILE] [--secrets-file FILE] [--no-cache] [-d] [--compute-type T] [--timeout MIN]"

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

// localSource is a source directory of a local build.
type localSource struct {
	identifier string // "" for the primary source
	dir        string // absolute, symbolic links resolved
}

var sourceIdentifierRe = regexp.MustCompile(`^[A-Za-z0-9_]{1,127}$`)

// runLocalBuild is `conveyor build --local`: the buildspec of a directory run by the server's build
// runner in Docker, with a throw-away data directory instead of a server.
func runLocalBuild(ctx context.Context, args []string, out, errOut io.Writer) error {
	fs := flag.NewFlagSet("conveyor build --local", flag.ContinueOnError)
	fs.Bool("local", false, "run the build on this machine, without a server")
	var srcFlags stringList
	fs.Var(&srcFlags, "s", "the primary source directory (default: the current directory); IDENT:DIR adds a secondary source (repeatable)")
	image := fs.String("i", localDefaultImage, "the build image (it must be present locally or pullable)")
	bsFlag := fs.String("b", "", "the buildspec: a path relative to the primary source, or a file elsewhere (default buildspec.yml in the source)")
	artDir := fs.String("a", "", "write the artifacts here: artifacts.zip for the primary artifact, IDENT.zip for secondary ones")
	repDir := fs.String("r", "", "write each report here as GROUP.json (status, summary, test cases)")
	envFile := fs.String("e", "", "environment variables: VAR=VALUE lines, # comments and blank lines ignored, quotes kept literally")
	secretsFile := fs.String("secrets-file", "", "values for env.parameter-store and env.secrets-manager: NAME=VALUE lines (NAME is the parameter name or secret id)")
	noCache := fs.Bool("no-cache", false, "neither restore nor save the buildspec's cache.paths")
	mount := fs.Bool("m", false, "mount the source directory instead of copying it (not supported: the source is always copied)")
	privileged := fs.Bool("d", false, "run the build container privileged (Docker-in-Docker)")
	computeType := fs.String("compute-type", "", "limit CPU and memory as CodeBuild's compute type does (default: no limits, like AWS's local agent)")
	timeoutMin := fs.Int("timeout", build.DefaultTimeoutMinutes, "the build timeout in minutes")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: conveyor %s\n\nRuns a buildspec from a directory in Docker, without a server. Ctrl-C stops the build.\n\nFlags:\n", localSynopsis)
		fs.PrintDefaults()
	}
	usageErr := func(format string, a ...any) error {
		return &exitError{code: 2, err: fmt.Errorf("conveyor build --local: %s\nusage: conveyor %s", fmt.Sprintf(format, a...), localSynopsis)}
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected argument %q (the source directory is given with -s)", pos[0])
	}
	if *mount {
		return usageErr("-m is not supported: Conveyor always copies the source into the build container, so the build cannot change the directory")
	}
	if *timeoutMin < 1 || *timeoutMin > 2160 {
		return usageErr("--timeout must be 1-2160 minutes")
	}
	var limits build.Limits
	if *computeType != "" {
		if limits, err = build.LimitsFor(*computeType, nil); err != nil {
			return usageErr("--compute-type: %v", err)
		}
	}
	sources, err := localSources(srcFlags)
	if err != nil {
		return usageErr("%v", err)
	}
	primary := sources[0].dir

	// The buildspec: a file in the source is read by the runner from the source (as CodeBuild
	// does); a file elsewhere is sent inline. It is checked here first either way.
	bsPath, bsInline, bsData, err := localBuildspec(primary, *bsFlag)
	if err != nil {
		return failed("%v", err)
	}
	bs, err := buildspec.Parse(bsPath, bsData)
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	var env []build.EnvironmentVariable
	if *envFile != "" {
		vars, err := readKeyValueFile(*envFile)
		if err != nil {
			return failed("-e: %v", err)
		}
		for _, kv := range vars {
			if !localEnvNameRe.MatchString(kv[0]) || strings.HasPrefix(kv[0], "CODEBUILD_") {
				return failed("-e %s: %q is not a valid variable name, or is reserved (CODEBUILD_)", *envFile, kv[0])
			}
			env = append(env, build.EnvironmentVariable{Name: kv[0], Value: kv[1], Type: build.VarPlaintext})
		}
	}
	secrets := fileSecrets{file: *secretsFile, values: map[string]string{}}
	if *secretsFile != "" {
		vars, err := readKeyValueFile(*secretsFile)
		if err != nil {
			return failed("--secrets-file: %v", err)
		}
		for _, kv := range vars {
			secrets.values[kv[0]] = kv[1]
		}
	}

	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dctx, cancelDocker := context.WithTimeout(ctx, 10*time.Second)
	backend, err := docker.New(dctx, log, docker.Options{Instance: localInstance})
	cancelDocker()
	if err != nil {
		return failed("conveyor build --local runs the build in Docker: %v", err)
	}
	defer backend.Close()

	// A throw-away data directory: the runner stores artifacts and reports as blobs, and the log
	// in a log store, as on a server.
	data, err := os.MkdirTemp("", "conveyor-local-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(data)
	db, err := store.Open(ctx, filepath.Join(data, "conveyor.db"), store.Options{Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	blobs, err := store.OpenBlobs(filepath.Join(data, "blobs"), db)
	if err != nil {
		return err
	}
	logStore, err := logs.Open(filepath.Join(data, "logs"))
	if err != nil {
		return err
	}

	skip := []string{}
	for _, d := range []string{*artDir, *repDir} {
		if d != "" {
			if abs, err := filepath.Abs(d); err == nil {
				skip = append(skip, abs)
			}
		}
	}
	var inputs []build.Input
	for i, src := range sources {
		zipPath := filepath.Join(data, fmt.Sprintf("source-%d.zip", i))
		n, err := zipDirectory(src.dir, zipPath, skip, errOut)
		if err != nil {
			return failed("source %s: %v", src.dir, err)
		}
		label := "primary source"
		if src.identifier != "" {
			label = "secondary source " + src.identifier
		}
		fmt.Fprintf(errOut, "%s: %s (%d files)\n", label, src.dir, n)
		inputs = append(inputs, build.Input{Identifier: src.identifier, ZipPath: zipPath})
	}

	id := "local:" + uuid.NewString()
	spec := build.RunSpec{
		BuildID: id, BuildARN: "arn:aws:codebuild:local:000000000000:build/" + id,
		Project: "local", ProjectARN: "arn:aws:codebuild:local:000000000000:project/local", Number: 1,
		Initiator: localInitiator(), Region: "local", Image: *image, Limits: limits, Privileged: *privileged,
		Buildspec: bsPath, Env: env, Sources: inputs, StartTime: time.Now(),
	}
	if bsInline {
		spec.Buildspec = string(bsData)
		if !strings.Contains(spec.Buildspec, "\n") {
			spec.Buildspec += "\n"
		}
	}
	if bs.Artifacts != nil {
		spec.Outputs = append(spec.Outputs, build.Output{})
		for _, a := range bs.Artifacts.Secondary {
			spec.Outputs = append(spec.Outputs, build.Output{Identifier: a.Identifier})
		}
	}
	if !*noCache && bs.Cache != nil {
		spec.CacheVolume = localCacheVolume(primary)
	}
	b := &build.Build{ID: id, Arn: spec.BuildARN, BuildNumber: 1, ProjectName: "local", BuildStatus: build.StatusInProgress,
		StartTime: build.At(spec.StartTime), Initiator: spec.Initiator, TimeoutInMinutes: *timeoutMin,
		Environment: &build.ProjectEnvironment{Type: "LINUX_CONTAINER", Image: *image, ComputeType: *computeType, PrivilegedMode: *privileged}}

	runner := &build.Runner{Docker: backend, Blobs: blobs, Secrets: secrets, Log: log, TempDir: filepath.Join(data, "blobs", "tmp")}
	runCtx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	runCtx, cancelTimeout := context.WithTimeout(runCtx, time.Duration(*timeoutMin)*time.Minute)
	defer cancelTimeout()
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done(): // Ctrl-C: the build is STOPPED and its container removed
			fmt.Fprintln(errOut, "conveyor: stopping the build…")
			stop(build.ErrStopped())
		case <-finished:
		}
	}()

	// The log goes to the log store (which masks secrets) and from there, line by line, to out.
	var streamed chan struct{}
	openLog := func(secretValues []string) (io.WriteCloser, error) {
		w, err := logStore.Create(build.LogKind, id, logs.Options{Secrets: secretValues})
		if err != nil {
			return nil, err
		}
		lines, err := logStore.Follow(context.Background(), build.LogKind, id, 1)
		if err != nil {
			w.Close()
			return nil, err
		}
		streamed = make(chan struct{})
		go func() {
			defer close(streamed)
			bw := bufio.NewWriter(out)
			defer bw.Flush()
			for l := range lines {
				bw.WriteString(l.Text)
				bw.WriteByte('\n')
				if len(lines) == 0 {
					bw.Flush()
				}
			}
		}()
		return w, nil
	}
	result := runner.Run(runCtx, spec, build.Record{Build: b, Save: func(*build.Build) {}}, openLog)
	if streamed != nil {
		<-streamed
	}

	// Outputs on the host.
	var problems []string
	if *artDir != "" && len(result.Artifacts) > 0 {
		if err := os.MkdirAll(*artDir, 0o755); err != nil {
			return err
		}
	}
	artifactFiles := map[string]string{}
	for _, a := range result.Artifacts {
		name := "artifacts.zip"
		if a.Identifier != "" {
			name = a.Identifier + ".zip"
		}
		if *artDir == "" {
			continue
		}
		dst := filepath.Join(*artDir, name)
		if err := copyBlob(blobs, a.Blob.SHA256, dst); err != nil {
			problems = append(problems, fmt.Sprintf("write %s: %v", dst, err))
			continue
		}
		artifactFiles[a.Identifier] = dst
	}
	reportFiles := map[string]string{}
	if *repDir != "" && len(result.Reports) > 0 {
		if err := os.MkdirAll(*repDir, 0o755); err != nil {
			return err
		}
		for _, r := range result.Reports {
			name := localReportName(r.Report.Group)
			dst := filepath.Join(*repDir, name+".json")
			if err := writeLocalReport(dst, name, r); err != nil {
				problems = append(problems, fmt.Sprintf("write %s: %v", dst, err))
				continue
			}
			reportFiles[r.Report.ARN] = dst
		}
	}
	// The summary.
	var sum strings.Builder
	took := ""
	if st, en := b.StartTime.Time(), b.EndTime.Time(); !st.IsZero() && !en.IsZero() {
		took = " in " + duration(en.Sub(st))
	}
	fmt.Fprintf(&sum, "\nbuild %s: %s%s\n", id, b.BuildStatus, took)
	if err := writeString(out, sum.String()); err != nil {
		return err
	}
	if err := writePhases(out, b.Phases, time.Now()); err != nil {
		return err
	}
	if len(b.ExportedEnvironmentVariables) > 0 {
		fmt.Fprintln(out, "\nexported variables:")
		for _, v := range b.ExportedEnvironmentVariables {
			fmt.Fprintf(out, "  %s=%s\n", v.Name, v.Value)
		}
	}
	if len(result.Reports) > 0 {
		fmt.Fprintln(out, "\nreports:")
		g := &grid{}
		for _, r := range result.Reports {
			var s struct {
				Total        int            `json:"total"`
				StatusCounts map[string]int `json:"statusCounts"`
				Nanos        int64          `json:"durationInNanoSeconds"`
			}
			_ = json.Unmarshal(r.Report.Summary, &s)
			where := ""
			if f := reportFiles[r.Report.ARN]; f != "" {
				where = "→ " + f
			}
			g.row("  "+localReportName(r.Report.Group), r.Report.Status, testSummaryText(s.Total, s.StatusCounts, s.Nanos), where)
		}
		if err := g.write(out); err != nil {
			return err
		}
		if *repDir == "" {
			fmt.Fprintln(out, "  (-r DIR writes each report as DIR/GROUP.json)")
		}
	}
	if len(result.Artifacts) > 0 {
		fmt.Fprintln(out, "\nartifacts:")
		g := &grid{}
		for _, a := range result.Artifacts {
			name := "primary"
			if a.Identifier != "" {
				name = a.Identifier
			}
			where := ""
			if f := artifactFiles[a.Identifier]; f != "" {
				where = "→ " + f
			}
			g.row("  "+name, fmt.Sprintf("%d %s, %s", a.Files, plural(a.Files, "file", "files"), size.Bytes(a.Blob.Size)), "sha256 "+a.Blob.SHA256, where)
		}
		if err := g.write(out); err != nil {
			return err
		}
		if *artDir == "" {
			fmt.Fprintln(out, "  (-a DIR writes them as DIR/artifacts.zip and DIR/IDENT.zip)")
		}
	}
	if spec.CacheVolume != "" {
		fmt.Fprintf(out, "\ncache: Docker volume %s (--no-cache skips it; docker volume rm %s empties it)\n", spec.CacheVolume, spec.CacheVolume)
	}
	for _, p := range problems {
		fmt.Fprintln(errOut, "conveyor build --local: "+p)
	}
	if b.BuildStatus != build.StatusSucceeded || len(problems) > 0 {
		return &exitError{code: 1, err: fmt.Errorf("local build %s", strings.ToLower(b.BuildStatus))}
	}
	return nil
}

// localSources reads the -s flags: one plain DIR is the primary source (the current directory
// when none is given); IDENT:DIR adds a secondary source (as AWS's codebuild_build.sh reads them;
// a value that is itself an existing directory is always a directory).
func localSources(flags []string) ([]localSource, error) {
	var primary string
	var out []localSource
	seen := map[string]bool{}
	for _, f := range flags {
		if ident, dir, ok := strings.Cut(f, ":"); ok && sourceIdentifierRe.MatchString(ident) && dir != "" {
			if st, err := os.Stat(f); err != nil || !st.IsDir() {
				if seen[ident] {
					return nil, fmt.Errorf("-s %s: secondary source %s is given twice", f, ident)
				}
				seen[ident] = true
				out = append(out, localSource{identifier: ident, dir: dir})
				continue
			}
		}
		if primary != "" {
			return nil, fmt.Errorf("-s %s: the primary source is already %s (secondary sources are IDENT:DIR)", f, primary)
		}
		primary = f
	}
	if primary == "" {
		primary = "."
	}
	out = append([]localSource{{dir: primary}}, out...)
	for i := range out {
		abs, err := filepath.Abs(out[i].dir)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("-s %s: %v", out[i].dir, err)
		}
		st, err := os.Stat(abs)
		if err != nil || !st.IsDir() {
			return nil, fmt.Errorf("-s %s: not a directory", out[i].dir)
		}
		out[i].dir = abs
	}
	return out, nil
}

// localBuildspec finds the buildspec: -b relative to the primary source (or absolute) names a file
// in the source, which the runner reads from there; a file outside the source is read here and
// passed inline. It returns the name to report problems with, whether it is inline, and its text.
func localBuildspec(primary, flagValue string) (name string, inline bool, data []byte, err error) {
	if flagValue == "" {
		flagValue = "buildspec.yml"
	}
	p := flagValue
	if !filepath.IsAbs(p) {
		// Relative to the source when the file is there, else to the current directory.
		if _, err := os.Stat(filepath.Join(primary, p)); err == nil {
			p = filepath.Join(primary, p)
		}
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", false, nil, err
	}
	data, err = os.ReadFile(abs)
	if err != nil {
		if flagValue == "buildspec.yml" {
			return "", false, nil, fmt.Errorf("no buildspec.yml in %s: add one, or name the buildspec with -b FILE", primary)
		}
		return "", false, nil, fmt.Errorf("-b %s: %v", flagValue, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		if rel, err := filepath.Rel(primary, real); err == nil && rel != "." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && rel != ".." {
			return filepath.ToSlash(rel), false, data, nil
		}
	}
	return flagValue, true, data, nil
}

var localEnvNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// readKeyValueFile reads VAR=VALUE lines as AWS's local agent reads its -e file: lines starting
// with # and blank lines are ignored, the value is everything after the first = (quotes are kept
// literally). A later line for the same name wins.
func readKeyValueFile(path string) ([][2]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][2]string
	index := map[string]int{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("%s:%d: expected NAME=VALUE", path, i+1)
		}
		if j, dup := index[name]; dup {
			out[j][1] = value
			continue
		}
		index[name] = len(out)
		out = append(out, [2]string{name, value})
	}
	return out, nil
}

// fileSecrets answers parameter-store names and secrets-manager ids from --secrets-file.
type fileSecrets struct {
	file   string
	values map[string]string
}

func (f fileSecrets) SecretValue(_ context.Context, name string) (string, error) {
	if v, ok := f.values[name]; ok {
		return v, nil
	}
	if f.file == "" {
		return "", fmt.Errorf("%q is needed: a local build reads parameters and secrets from --secrets-file FILE (NAME=VALUE lines)", name)
	}
	return "", fmt.Errorf("%q is not in --secrets-file %s (NAME=VALUE lines)", name, f.file)
}

func localInitiator() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "local"
}

// localCacheVolume names the cache volume of a source directory: a second local build of the same
// directory restores what the first one saved.
func localCacheVolume(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "conveyor-local-cache-" + hex.EncodeToString(sum[:6])
}

// localReportName is the report group as the buildspec names it (the runner prefixes the project,
// "local-").
func localReportName(group string) string {
	name := strings.TrimPrefix(group, "local-")
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, name)
}

// localTestCase is a test case in a report file of -r.
type localTestCase struct {
	Name                  string `json:"name"`
	Prefix                string `json:"prefix,omitempty"`
	Status                string `json:"status"`
	DurationInNanoSeconds int64  `json:"durationInNanoSeconds"`
	Message               string `json:"message,omitempty"`
	File                  string `json:"file,omitempty"`
}

// writeLocalReport writes one report as JSON: its group, status, summary, files and test cases.
func writeLocalReport(path, name string, r build.ProducedReport) error {
	cases := make([]localTestCase, 0, len(r.Cases))
	for _, c := range r.Cases {
		cases = append(cases, localTestCase{Name: c.Name, Prefix: c.Prefix, Status: c.Status, DurationInNanoSeconds: c.DurationNanos,
			Message: c.Message, File: c.File})
	}
	raw := func(b []byte, def string) json.RawMessage {
		if len(b) == 0 {
			return json.RawMessage(def)
		}
		return json.RawMessage(b)
	}
	v := map[string]any{
		"name": name, "reportGroup": r.Report.Group, "reportArn": r.Report.ARN, "type": r.Report.Type, "fileFormat": r.Report.Format,
		"status": r.Report.Status, "summary": raw(r.Report.Summary, "{}"), "files": raw(r.Report.Files, "[]"), "testCases": cases,
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// copyBlob writes a stored blob to a file (through a temporary name in the same directory).
func copyBlob(blobs *store.Blobs, sha, dst string) error {
	src, err := blobs.Open(sha)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".conveyor-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// zipDirectory zips the tree under root (dotfiles included) into zipPath, keeping permission bits,
// empty directories and symbolic links that stay inside root (absolute ones are made relative).
// A link that leaves root is refused. Paths in skip (absolute) are left out with what is under
// them. It returns the number of files.
func zipDirectory(root, zipPath string, skip []string, errOut io.Writer) (int, error) {
	f, err := os.OpenFile(zipPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	files := 0
	err = filepath.WalkDir(root, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		for _, s := range skip {
			if p == s {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		switch {
		case mode.IsDir():
			h := &zip.FileHeader{Name: name + "/", Modified: info.ModTime()}
			h.SetMode(iofs.ModeDir | mode.Perm())
			_, err := zw.CreateHeader(h)
			return err
		case mode&iofs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			resolved := target
			if !filepath.IsAbs(resolved) {
				resolved = filepath.Join(filepath.Dir(p), target)
			}
			resolved = filepath.Clean(resolved)
			if real, err := filepath.EvalSymlinks(resolved); err == nil {
				resolved = real
			}
			inside, err := filepath.Rel(root, resolved)
			if err != nil || inside == ".." || strings.HasPrefix(inside, ".."+string(filepath.Separator)) {
				return fmt.Errorf("%s is a symbolic link to %s, outside the source directory: a build may only see its source", name, target)
			}
			if filepath.IsAbs(target) {
				if target, err = filepath.Rel(filepath.Dir(p), resolved); err != nil {
					return err
				}
			}
			h := &zip.FileHeader{Name: name, Modified: info.ModTime()}
			h.SetMode(iofs.ModeSymlink | 0o777)
			w, err := zw.CreateHeader(h)
			if err != nil {
				return err
			}
			_, err = io.WriteString(w, filepath.ToSlash(target))
			return err
		case mode.IsRegular():
			h, err := zip.FileInfoHeader(info)
			if err != nil {
				return err
			}
			h.Name, h.Method = name, zip.Deflate
			w, err := zw.CreateHeader(h)
			if err != nil {
				return err
			}
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			if _, err := io.Copy(w, src); err != nil {
				return err
			}
			files++
			return nil
		}
		fmt.Fprintf(errOut, "conveyor: skipping %s: not a file, directory or symbolic link\n", name)
		return nil
	})
	if err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return files, f.Close()
}
