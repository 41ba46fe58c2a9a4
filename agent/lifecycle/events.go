package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/conveyorci/conveyor/agent/appspec"
	"github.com/conveyorci/conveyor/agent/hook"
	"github.com/conveyorci/conveyor/agent/install"
	"github.com/conveyorci/conveyor/agent/protocol"
)

// deployment is one command being run.
type deployment struct {
	x     *Executor
	cmd   protocol.Command
	rep   Reporter
	mk    *Marker
	dir   string // the deployment directory
	slog  *scriptLog
	specs map[string]*appspec.AppSpec // by revision directory
	log   *slog.Logger
}

// fromPrevious are the events whose scripts come from the last successful revision (they run
// before the new one is downloaded).
var fromPrevious = map[string]bool{
	protocol.EventApplicationStop: true, "BeforeBlockTraffic": true, "AfterBlockTraffic": true,
}

// event runs one lifecycle event. Diagnostics are never nil.
func (d *deployment) event(ctx context.Context, ev string) (string, *protocol.Diagnostics) {
	var status string
	var diag *protocol.Diagnostics
	switch {
	case ev == protocol.EventDownloadBundle:
		status, diag = d.agentStep(ev, d.downloadBundle(ctx))
	case ev == protocol.EventInstall:
		status, diag = d.agentStep(ev, d.install(ctx))
	case fromPrevious[ev]:
		status, diag = d.previousHooks(ctx, ev)
		if status == protocol.StatusFailed && d.cmd.IgnoreApplicationStopFailures {
			d.note(ev, "%s failed and the deployment goes on: ignoreApplicationStopFailures is set", ev)
			status = protocol.StatusSucceeded
			diag.Message = "ignored (ignoreApplicationStopFailures): " + diag.Message
		}
	default:
		status, diag = d.currentHooks(ctx, ev)
	}
	return status, diag
}

// agentStep turns the outcome of a step the agent does itself into a status.
func (d *deployment) agentStep(ev string, err error) (string, *protocol.Diagnostics) {
	if err != nil {
		d.note(ev, "%s failed: %v", ev, err)
		return protocol.StatusFailed, &protocol.Diagnostics{ErrorCode: protocol.ErrUnknownError, Message: clipMessage(err.Error()), LogTail: d.slog.takeTail()}
	}
	return protocol.StatusSucceeded, &protocol.Diagnostics{ErrorCode: protocol.ErrSuccess, Message: "Succeeded", LogTail: d.slog.takeTail()}
}

// note writes a line of the agent's own into the scripts log and to the server.
func (d *deployment) note(ev, format string, args ...any) {
	now := time.Now()
	text := fmt.Sprintf(format, args...)
	d.slog.line(now, "agent", text)
	d.rep.Line(protocol.LogLine{Time: now.UTC(), Event: ev, Stream: "agent", Text: text})
}

func (d *deployment) downloadBundle(ctx context.Context) error {
	dg := d.cmd.DeploymentGroupID
	last := readPointer(d.x.l.lastSuccessfulFile(dg))
	removed, err := prune(d.x.l.groupDir(dg), d.x.cfg.MaxRevisions, d.dir, last)
	for _, r := range removed {
		d.log.Info("removed an old revision", "dir", r)
	}
	if err != nil {
		d.note(protocol.EventDownloadBundle, "warning: %v", err)
	}
	bundle := filepath.Join(d.dir, bundleFile)
	n, err := download(ctx, d.x.cfg.Fetcher, d.cmd.Revision, bundle)
	if err != nil {
		return err
	}
	d.note(protocol.EventDownloadBundle, "downloaded the revision: %d bytes, sha256 %s", n, d.cmd.Revision.SHA256)
	archive := filepath.Join(d.dir, archiveDir)
	if err := unpack(ctx, bundle, d.cmd.Revision.BundleType, archive); err != nil {
		return fmt.Errorf("unpack the revision: %w", err)
	}
	stripped, err := stripTopDir(archive, d.cmd.AppSpecFilename)
	if err != nil {
		return fmt.Errorf("unpack the revision: %w", err)
	}
	if stripped {
		d.note(protocol.EventDownloadBundle, "the revision is a single directory holding the appspec: using its contents")
	}
	if _, err := d.spec(protocol.EventDownloadBundle, d.dir); err != nil {
		return err
	}
	return writePointer(d.x.l.mostRecentFile(dg), d.dir)
}

// spec reads and checks the appspec of the revision in deployDir (once per command). Its
// warnings go to the log of event ev.
func (d *deployment) spec(ev, deployDir string) (*appspec.AppSpec, error) {
	if s, ok := d.specs[deployDir]; ok {
		return s, nil
	}
	archive := filepath.Join(deployDir, archiveDir)
	if _, err := os.Stat(archive); err != nil {
		return nil, fmt.Errorf("the revision is not on this host (%s): DownloadBundle has not run", archive)
	}
	name, ok := findAppSpec(archive, d.cmd.AppSpecFilename)
	if !ok {
		return nil, fmt.Errorf("the revision has no %s at its root", name)
	}
	data, err := os.ReadFile(filepath.Join(archive, filepath.FromSlash(name)))
	if err != nil {
		return nil, err
	}
	s, err := appspec.Parse(name, data)
	if err != nil {
		var es appspec.Errors
		if errors.As(err, &es) {
			for _, e := range es {
				d.note(ev, "%s", e.Error())
			}
		}
		return nil, fmt.Errorf("the appspec is not valid: %w", err)
	}
	for _, w := range s.Warnings {
		d.note(ev, "warning: %s", w.Error())
	}
	d.specs[deployDir] = s
	return s, nil
}

func (d *deployment) install(ctx context.Context) error {
	s, err := d.spec(protocol.EventInstall, d.dir)
	if err != nil {
		return err
	}
	behavior := s.FileExistsBehavior // the appspec's wins over the deployment's, as in CodeDeploy
	if behavior == "" {
		behavior = strings.ToUpper(d.cmd.FileExistsBehavior)
	}
	switch behavior {
	case "":
		behavior = appspec.Disallow
	case appspec.Disallow, appspec.Overwrite, appspec.Retain:
	default:
		return fmt.Errorf("file exists behavior %q: use DISALLOW, OVERWRITE or RETAIN", d.cmd.FileExistsBehavior)
	}
	dg := d.cmd.DeploymentGroupID
	sum, err := install.Run(ctx, install.Options{
		ArchiveDir: filepath.Join(d.dir, archiveDir), Spec: s, FileExistsBehavior: behavior,
		CleanupFile: d.x.l.cleanupFile(dg), InstallFile: d.x.l.installFile(dg),
		Note: func(format string, args ...any) { d.note(protocol.EventInstall, format, args...) },
	})
	if sum.Removed > 0 || sum.KeptDirs > 0 {
		d.note(protocol.EventInstall, "removed %d paths the previous deployment installed (kept %d directories that hold other files)", sum.Removed, sum.KeptDirs)
	}
	if err != nil {
		return err
	}
	d.note(protocol.EventInstall, "installed %d files and %d directories (%s; %d existing files kept); applied %d permissions",
		sum.Copied, sum.Made, behavior, sum.Kept, sum.Permissions)
	// AWS's agent moves "last successful" when Install succeeds: from then on this revision's
	// files are on the host, so its ApplicationStop is the one that can stop what runs.
	return writePointer(d.x.l.lastSuccessfulFile(dg), d.dir)
}

// previousHooks runs ApplicationStop (and the block-traffic hooks) from the last successful
// revision; on the group's first deployment to this host there is none, and the event is
// skipped.
func (d *deployment) previousHooks(ctx context.Context, ev string) (string, *protocol.Diagnostics) {
	dir := d.dir
	if _, err := os.Stat(filepath.Join(d.dir, archiveDir)); errors.Is(err, fs.ErrNotExist) {
		dir = readPointer(d.x.l.lastSuccessfulFile(d.cmd.DeploymentGroupID))
	}
	if dir == "" {
		msg := "no revision of this deployment group was installed on this host before: nothing to stop"
		d.note(ev, "%s skipped: %s", ev, msg)
		d.slog.takeTail()
		return protocol.StatusSkipped, &protocol.Diagnostics{ErrorCode: protocol.ErrSuccess, Message: msg}
	}
	s, err := d.spec(ev, dir)
	if err != nil {
		return d.agentStep(ev, fmt.Errorf("the last successful revision (%s): %w; set ignoreApplicationStopFailures to deploy anyway", dir, err))
	}
	if dir != d.dir {
		d.note(ev, "running %s from the last successful revision (%s)", ev, filepath.Base(dir))
	}
	return d.hooks(ctx, ev, filepath.Join(dir, archiveDir), s)
}

func (d *deployment) currentHooks(ctx context.Context, ev string) (string, *protocol.Diagnostics) {
	s, err := d.spec(ev, d.dir)
	if err != nil {
		return d.agentStep(ev, err)
	}
	return d.hooks(ctx, ev, filepath.Join(d.dir, archiveDir), s)
}

// hooks runs an event's scripts in appspec order; the first failure ends the event.
func (d *deployment) hooks(ctx context.Context, ev, archive string, s *appspec.AppSpec) (string, *protocol.Diagnostics) {
	scripts := s.Hooks[ev]
	d.slog.takeTail()
	if len(scripts) == 0 {
		return protocol.StatusSucceeded, &protocol.Diagnostics{ErrorCode: protocol.ErrSuccess, Message: "Succeeded (the appspec has no scripts for " + ev + ")"}
	}
	d.slog.header(time.Now(), "LifecycleEvent - "+ev)
	env := d.env(ev)
	var warning *protocol.Diagnostics
	for _, sc := range scripts {
		d.slog.header(time.Now(), "Script - "+sc.Location)
		out := func(stream, text string) {
			now := time.Now()
			d.slog.line(now, stream, text)
			d.rep.Line(protocol.LogLine{Time: now.UTC(), Event: ev, Script: sc.Location, Stream: stream, Text: text})
		}
		started := func(pgid int) {
			d.mk.PGID, d.mk.PGIDStart = pgid, processStart(pgid)
			if err := d.x.m.save(d.mk); err != nil {
				d.log.Error("recording a running hook", "event", ev, "err", err)
			}
		}
		res := d.x.runner.Run(ctx, hook.Script{Event: ev, Location: sc.Location, Path: filepath.Join(archive, filepath.FromSlash(sc.Location)),
			Dir: archive, Env: env, Timeout: sc.Timeout, RunAs: sc.RunAs, Sudo: sc.Sudo}, out, d.slog.late, started)
		if res.MadeExecutable {
			d.note(ev, "Script at specified location: %s was not executable; made it executable", sc.Location)
		}
		if res.Code != protocol.ErrSuccess {
			d.note(ev, "%s (%s)", res.Message, res.Code)
			return protocol.StatusFailed, &protocol.Diagnostics{ErrorCode: res.Code, ScriptName: sc.Location, Message: res.Message, LogTail: d.slog.takeTail()}
		}
		if res.OutputsLeftOpen {
			msg := fmt.Sprintf("Script at specified location: %s exited 0 but a process it started still holds its stdout or stderr; "+
				"the event ended when the script exited (redirect the background process's output, e.g. >/dev/null 2>&1)", sc.Location)
			d.note(ev, "warning: %s (%s)", msg, protocol.ErrOutputsLeftOpen)
			warning = &protocol.Diagnostics{ErrorCode: protocol.ErrOutputsLeftOpen, ScriptName: sc.Location, Message: msg}
		}
	}
	if warning != nil {
		warning.LogTail = d.slog.takeTail()
		return protocol.StatusSucceeded, warning
	}
	return protocol.StatusSucceeded, &protocol.Diagnostics{ErrorCode: protocol.ErrSuccess, Message: "Succeeded", LogTail: d.slog.takeTail()}
}

// env is the hooks' environment: the agent's, plus CodeDeploy's variables for this event.
func (d *deployment) env(ev string) []string {
	rev := d.cmd.Revision
	vars := [][2]string{
		{"LIFECYCLE_EVENT", ev}, {"DEPLOYMENT_ID", d.cmd.DeploymentID}, {"APPLICATION_NAME", d.cmd.ApplicationName},
		{"DEPLOYMENT_GROUP_NAME", d.cmd.DeploymentGroupName}, {"DEPLOYMENT_GROUP_ID", d.cmd.DeploymentGroupID},
		{"BUNDLE_BUCKET", rev.Bucket}, {"BUNDLE_KEY", rev.Key}, {"BUNDLE_VERSION", rev.Version}, {"BUNDLE_ETAG", rev.ETag},
		{"BUNDLE_COMMIT", rev.CommitID},
	}
	set := map[string]bool{}
	var env []string
	for _, v := range vars {
		if v[1] != "" || !strings.HasPrefix(v[0], "BUNDLE_") {
			env = append(env, v[0]+"="+v[1])
			set[v[0]] = true
		}
	}
	for _, kv := range d.x.cfg.Env {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] && !strings.HasPrefix(k, "BUNDLE_") && !strings.HasPrefix(k, "CONVEYOR_AGENT_") {
			env = append(env, kv)
		}
	}
	return env
}

// clipMessage keeps diagnostics messages short; the full text is in the log.
func clipMessage(s string) string {
	const max = 1024
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
