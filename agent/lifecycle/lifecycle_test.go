package lifecycle

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/internal/sampleapp"
)

// sampleApp is a version of the sample app's revision adapted to this test's destination: its
// paths under dest, its port free, its health check shorter.
func (w *world) sampleApp(version, port string) tree {
	files := tree{}
	for name, f := range sampleapp.Revision(w.t, version, sampleapp.Local(w.dest, port)) {
		body := string(f.Body)
		if strings.HasSuffix(name, ".sh") {
			body = strings.Replace(body, "-lt 20", "-lt 6", 1)
		}
		files[name] = body
	}
	return files
}

func get(url string) string {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The sample app's story on one host: v1 installs and starts; v2 fails ValidateService; the
// rollback (v1 again) stops v2 with v2's own scripts; v3 stops v1 with v1's scripts and serves.
func TestSampleAppLifecycle(t *testing.T) {
	w := newWorld(t)
	port := freePort(t)
	t.Cleanup(func() { killPidFile(filepath.Join(w.dest, "sample-app.pid")) }) // whatever happens, stop the app
	app := "http://127.0.0.1:" + port + "/"

	v1 := w.command(tarball(t, w.sampleApp("v1", port), false), "tar")
	rec, c := w.run(v1)
	if c.Status != protocol.StatusSucceeded {
		t.Fatalf("v1: %+v\n%s", c.Diagnostics, rec.text())
	}
	want := []string{"ApplicationStop=Skipped", "DownloadBundle=Succeeded", "BeforeInstall=Succeeded", "Install=Succeeded",
		"AfterInstall=Succeeded", "ApplicationStart=Succeeded", "ValidateService=Succeeded"}
	if got := rec.final(); !reflect.DeepEqual(got, want) {
		t.Errorf("v1 events %v", got)
	}
	if got := get(app); !strings.HasPrefix(got, "sample-app version 1") {
		t.Fatalf("v1 serves %q", got)
	}
	if fi, err := os.Stat(w.dest + "/opt/sample-app/scripts/start_server.sh"); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("permissions not applied: %v %v", fi.Mode(), err)
	}
	log := w.scriptsLog(v1)
	for _, re := range []string{
		`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d LifecycleEvent - BeforeInstall$`,
		`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d Script - scripts/before_install.sh$`,
		`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[stdout\]BeforeInstall for deployment d-000000001 \(SampleApp/Prod\)$`,
		`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[stdout\]ValidateService passed$`,
	} {
		if !regexp.MustCompile(re).MatchString(log) {
			t.Errorf("scripts.log does not match %s:\n%s", re, log)
		}
	}
	if !strings.Contains(rec.text(), "BeforeInstall scripts/before_install.sh [stdout] BeforeInstall for deployment d-000000001 (SampleApp/Prod)") {
		t.Errorf("output not streamed:\n%s", rec.text())
	}

	v2 := w.command(tarball(t, w.sampleApp("v2-broken-port", port), false), "tar")
	rec, c = w.run(v2)
	if c.Status != protocol.StatusFailed || c.Diagnostics.ErrorCode != protocol.ErrScriptFailed || c.Diagnostics.ScriptName != "scripts/validate_service.sh" {
		t.Fatalf("v2: %+v", c.Diagnostics)
	}
	vs := rec.report("ValidateService")
	if vs.Status != protocol.StatusFailed || !strings.Contains(vs.Diagnostics.LogTail, "[stderr]ValidateService failed: nothing healthy on 127.0.0.1:"+port) ||
		vs.Diagnostics.Message != "Script at specified location: scripts/validate_service.sh failed with exit code 1" || vs.EndTime == nil {
		t.Errorf("ValidateService report %+v %+v", vs, vs.Diagnostics)
	}
	if !strings.Contains(w.scriptsLog(v2), "running ApplicationStop from the last successful revision (d-000000001)") {
		t.Errorf("v2's ApplicationStop did not come from v1:\n%s", w.scriptsLog(v2))
	}

	// The rollback is a new deployment of v1. Install of v2 succeeded, so v2 is the revision whose
	// scripts stop what runs (AWS's agent moves "last successful" at Install).
	rb := w.command(tarball(t, w.sampleApp("v1", port), false), "tar")
	rb.Creator = "codeDeployRollback"
	rec, c = w.run(rb)
	if c.Status != protocol.StatusSucceeded {
		t.Fatalf("rollback: %+v\n%s", c.Diagnostics, rec.text())
	}
	if !strings.Contains(w.scriptsLog(rb), "running ApplicationStop from the last successful revision (d-000000002)") {
		t.Errorf("rollback's ApplicationStop:\n%s", w.scriptsLog(rb))
	}
	if got := get(app); !strings.HasPrefix(got, "sample-app version 1") {
		t.Fatalf("after the rollback the app serves %q", got)
	}

	v3 := w.command(tarball(t, w.sampleApp("v3", port), false), "tar")
	rec, c = w.run(v3)
	if c.Status != protocol.StatusSucceeded {
		t.Fatalf("v3: %+v\n%s", c.Diagnostics, rec.text())
	}
	if !strings.Contains(w.scriptsLog(v3), "running ApplicationStop from the last successful revision (d-000000003)") {
		t.Errorf("v3's ApplicationStop:\n%s", w.scriptsLog(v3))
	}
	if got := get(app); !strings.HasPrefix(got, "sample-app version 3") {
		t.Fatalf("v3 serves %q", got)
	}
	if last := readPointer(filepath.Join(w.root, "deployment-instructions", "dg-1111_last_successful_install")); last != w.deployDir(v3) {
		t.Errorf("last successful install %q", last)
	}
	// Stop v3 with its own script, as the next deployment would.
	rec, c = w.run(protocol.Command{ID: "stop", DeploymentID: "d-stop", DeploymentGroupID: "dg-1111", Events: []string{protocol.EventApplicationStop}})
	if c.Status != protocol.StatusSucceeded {
		t.Errorf("stop: %+v", c.Diagnostics)
	}
}

func TestHookEnvironment(t *testing.T) {
	w := newWorld(t)
	out := filepath.Join(w.dest, "env")
	cmd := w.command(zipOf(t, tree{
		"appspec.yml":  w.appspec("hooks:\n  AfterInstall:\n    - location: env.sh\n"),
		"env.sh":       "#!/bin/sh\nenv > " + out + "\npwd >> " + out + "\n",
		"content.html": "hi",
	}), "zip")
	cmd.Revision.Version = "" // not versioned: no BUNDLE_VERSION
	if _, c := w.run(cmd); c.Status != protocol.StatusSucceeded {
		t.Fatalf("%+v", c.Diagnostics)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	env := string(b)
	for _, want := range []string{"LIFECYCLE_EVENT=AfterInstall", "DEPLOYMENT_ID=d-000000001", "APPLICATION_NAME=SampleApp",
		"DEPLOYMENT_GROUP_NAME=Prod", "DEPLOYMENT_GROUP_ID=dg-1111", "BUNDLE_BUCKET=releases", "BUNDLE_KEY=app.zip", "BUNDLE_ETAG=abc123",
		"PATH=", filepath.Join(w.deployDir(cmd), "deployment-archive")} {
		if !strings.Contains(env, want) {
			t.Errorf("hook environment lacks %q:\n%s", want, env)
		}
	}
	for _, not := range []string{"BUNDLE_VERSION", "BUNDLE_COMMIT", "CONVEYOR_AGENT_TOKEN"} {
		if strings.Contains(env, not) {
			t.Errorf("hook environment has %s", not)
		}
	}
}

// Script failures end the event and the command with CodeDeploy's codes; the events after it
// never run.
func TestScriptFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hooks     string
		files     tree
		event     string
		code      string
		message   string
		wantNotes string
	}{
		{"timeout", "  BeforeInstall:\n    - location: slow.sh\n      timeout: 1\n", tree{"slow.sh": "#!/bin/sh\necho going to sleep\nsleep 60\n"},
			"BeforeInstall", protocol.ErrScriptTimedOut, "Script at specified location: slow.sh failed to complete in 1 seconds", "[stdout]going to sleep"},
		{"missing", "  AfterInstall:\n    - location: scripts/nope.sh\n", tree{},
			"AfterInstall", protocol.ErrScriptMissing, "Script does not exist at specified location: scripts/nope.sh", ""},
		{"failing second script", "  ApplicationStart:\n    - location: a.sh\n    - location: b.sh\n", tree{"a.sh": "#!/bin/sh\necho a ran\n", "b.sh": "#!/bin/sh\necho b failing >&2\nexit 7\n"},
			"ApplicationStart", protocol.ErrScriptFailed, "Script at specified location: b.sh failed with exit code 7", "[stdout]a ran\n[stderr]b failing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			files := tree{"appspec.yml": w.appspec("hooks:\n" + tc.hooks)}
			for k, v := range tc.files {
				files[k] = v
			}
			cmd := w.command(tgz(t, files), "tgz")
			rec, c := w.run(cmd)
			if c.Status != protocol.StatusFailed || c.Diagnostics.ErrorCode != tc.code || c.Diagnostics.Message != tc.message {
				t.Fatalf("completion %+v", c.Diagnostics)
			}
			r := rec.report(tc.event)
			if r.Status != protocol.StatusFailed || r.Diagnostics.ScriptName == "" || !strings.Contains(r.Diagnostics.LogTail, tc.wantNotes) {
				t.Errorf("report %+v %+v", r, r.Diagnostics)
			}
			got := rec.final()
			if got[len(got)-1] != tc.event+"=Failed" {
				t.Errorf("events %v: nothing may run after the failure", got)
			}
		})
	}
}

// A script that backgrounds a process with its stdout attached does not hang the event.
func TestBackgroundProcessDoesNotHangTheEvent(t *testing.T) {
	w := newWorld(t)
	pidFile := filepath.Join(w.dest, "bg.pid")
	cmd := w.command(tgz(t, tree{
		"appspec.yml": w.appspec("hooks:\n  ApplicationStart:\n    - location: start.sh\n      timeout: 120\n"),
		"start.sh":    "#!/bin/sh\nsleep 300 &\necho $! > " + pidFile + "\necho started\n",
	}), "tgz")
	start := time.Now()
	rec, c := w.run(cmd)
	t.Cleanup(func() { killPidFile(pidFile) })
	if c.Status != protocol.StatusSucceeded {
		t.Fatalf("%+v", c.Diagnostics)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the deployment took %v: the event must end when the script exits", d)
	}
	r := rec.report("ApplicationStart")
	if r.Status != protocol.StatusSucceeded || r.Diagnostics.ErrorCode != protocol.ErrOutputsLeftOpen || r.Diagnostics.ScriptName != "start.sh" {
		t.Errorf("report %+v %+v", r, r.Diagnostics)
	}
	if !strings.Contains(w.scriptsLog(cmd), "[agent]warning: Script at specified location: start.sh exited 0 but a process it started still holds its stdout or stderr") {
		t.Errorf("scripts.log:\n%s", w.scriptsLog(cmd))
	}
}

func TestNotExecutableScriptIsMadeExecutable(t *testing.T) {
	w := newWorld(t)
	cmd := w.command(tgz(t, tree{
		"appspec.yml": w.appspec("hooks:\n  AfterInstall:\n    - location: run.txt\n"),
		"run.txt":     "#!/bin/sh\necho ran\n", // tgz gives .txt mode 0644
	}), "tgz")
	rec, c := w.run(cmd)
	if c.Status != protocol.StatusSucceeded {
		t.Fatalf("%+v", c.Diagnostics)
	}
	if !strings.Contains(rec.text(), "Script at specified location: run.txt was not executable; made it executable") {
		t.Errorf("log:\n%s", rec.text())
	}
}

// ApplicationStop runs the last successful revision's script; ignoreApplicationStopFailures lets
// a deployment get past a broken one.
func TestApplicationStopFromTheLastSuccessfulRevision(t *testing.T) {
	w := newWorld(t)
	marker := filepath.Join(w.dest, "stopped-by")
	rev := func(name string, stopExit int) []byte {
		return tgz(t, tree{
			"appspec.yml": w.appspec("file_exists_behavior: OVERWRITE\nhooks:\n  ApplicationStop:\n    - location: stop.sh\n"),
			"stop.sh":     "#!/bin/sh\necho " + name + " > " + marker + "\nexit " + string(rune('0'+stopExit)) + "\n",
		})
	}
	if _, c := w.run(w.command(rev("first", 1), "tgz")); c.Status != protocol.StatusSucceeded {
		t.Fatalf("first: %+v", c.Diagnostics)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("ApplicationStop ran on the first deployment")
	}
	// The first revision's stop script exits 1: the second deployment fails at ApplicationStop.
	rec, c := w.run(w.command(rev("second", 0), "tgz"))
	if c.Status != protocol.StatusFailed || rec.final()[0] != "ApplicationStop=Failed" {
		t.Fatalf("second: %v %+v", rec.final(), c.Diagnostics)
	}
	if b, _ := os.ReadFile(marker); string(b) != "first\n" {
		t.Errorf("ApplicationStop ran %q's script", b)
	}
	cmd := w.command(rev("third", 0), "tgz")
	cmd.IgnoreApplicationStopFailures = true
	rec, c = w.run(cmd)
	if c.Status != protocol.StatusSucceeded {
		t.Fatalf("third: %+v", c.Diagnostics)
	}
	if r := rec.report("ApplicationStop"); r.Status != protocol.StatusSucceeded || !strings.HasPrefix(r.Diagnostics.Message, "ignored (ignoreApplicationStopFailures): ") {
		t.Errorf("ignored ApplicationStop %+v", r.Diagnostics)
	}
	rec, c = w.run(w.command(rev("fourth", 0), "tgz"))
	if c.Status != protocol.StatusSucceeded {
		t.Fatalf("fourth: %+v", c.Diagnostics)
	}
	if b, _ := os.ReadFile(marker); string(b) != "third\n" {
		t.Errorf("ApplicationStop ran %q's script", b)
	}
}

// Five revisions are kept per group, and the last successful one is never removed.
func TestKeepLastFiveRevisions(t *testing.T) {
	w := newWorld(t)
	ok := tgz(t, tree{"appspec.yml": w.appspec("file_exists_behavior: OVERWRITE\n"), "f": "1"})
	broken := tgz(t, tree{"appspec.yml": w.appspec("hooks:\n  BeforeInstall:\n    - location: fail.sh\n"), "fail.sh": "#!/bin/sh\nexit 1\n"})
	first := w.command(ok, "tgz")
	if _, c := w.run(first); c.Status != protocol.StatusSucceeded {
		t.Fatal(c.Diagnostics)
	}
	var cmds []protocol.Command
	for range 7 {
		cmd := w.command(broken, "tgz")
		cmds = append(cmds, cmd)
		if _, c := w.run(cmd); c.Status != protocol.StatusFailed {
			t.Fatal("a broken revision deployed")
		}
		time.Sleep(2 * time.Millisecond) // distinct creation times order the directories
	}
	entries, err := os.ReadDir(filepath.Join(w.root, "dg-1111"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{first.DeploymentID}
	for _, c := range cmds[2:] {
		want = append(want, c.DeploymentID)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
}

// When the server answers Continue=false, the agent stops after the event that was running.
func TestStopAfterTheCurrentEvent(t *testing.T) {
	w := newWorld(t)
	cmd := w.command(tgz(t, tree{"appspec.yml": w.appspec("")}), "tgz")
	rec := &recorder{stopAfter: protocol.EventBeforeInstall}
	c := w.x.Run(context.Background(), cmd, rec)
	if c.Status != protocol.StatusFailed || c.Diagnostics.Message != "the server stopped the deployment after BeforeInstall" {
		t.Fatalf("%+v", c.Diagnostics)
	}
	if got := rec.final(); !reflect.DeepEqual(got, []string{"ApplicationStop=Skipped", "DownloadBundle=Succeeded", "BeforeInstall=Succeeded"}) {
		t.Errorf("events %v", got)
	}
	if _, err := os.Stat(filepath.Join(w.dest, "app")); err == nil {
		t.Error("Install ran after the stop")
	}
	// The completion is recorded until the server has it.
	mks, err := w.x.Interrupted()
	if err != nil || len(mks) != 1 || mks[0].Completion == nil || mks[0].Completion.Status != protocol.StatusFailed {
		t.Errorf("marker %+v %v", mks, err)
	}
	// Sent the same command again (its reports were lost), the agent finds it ran it already.
	if mk, ok := w.x.Lookup(cmd.ID); !ok || mk.Completion == nil {
		t.Errorf("Lookup(%s) = %+v, %v", cmd.ID, mk, ok)
	}
	if _, ok := w.x.Lookup("never-seen"); ok {
		t.Error("Lookup found a command never run")
	}
}

func TestDownloadBundleProblems(t *testing.T) {
	t.Run("sha256 mismatch", func(t *testing.T) {
		w := newWorld(t)
		cmd := w.command(tgz(t, tree{"appspec.yml": w.appspec("")}), "tgz")
		cmd.Revision.SHA256 = strings.Repeat("0", 64)
		rec, c := w.run(cmd)
		if c.Status != protocol.StatusFailed || !strings.Contains(c.Diagnostics.Message, "the server announced 0000") || rec.final()[1] != "DownloadBundle=Failed" {
			t.Errorf("%v %+v", rec.final(), c.Diagnostics)
		}
	})
	t.Run("unsafe archive", func(t *testing.T) {
		w := newWorld(t)
		rec, c := w.run(w.command(tgz(t, tree{"appspec.yml": w.appspec(""), "../escape": "x"}), "tgz"))
		if c.Status != protocol.StatusFailed || !strings.Contains(c.Diagnostics.Message, "unsafe path") {
			t.Errorf("%v %+v", rec.final(), c.Diagnostics)
		}
		if _, err := os.Stat(filepath.Join(w.root, "dg-1111", "escape")); err == nil {
			t.Error("the archive wrote outside its directory")
		}
	})
	t.Run("invalid appspec", func(t *testing.T) {
		w := newWorld(t)
		rec, c := w.run(w.command(zipOf(t, tree{"appspec.yml": "version: 0.0\nos: linux\nhooks:\n  BeforeInstal: []\n"}), "zip"))
		if c.Status != protocol.StatusFailed || !strings.Contains(c.Diagnostics.LogTail, `appspec.yml:4:3: hooks.BeforeInstal: unknown lifecycle event "BeforeInstal" (did you mean "BeforeInstall"?)`) {
			t.Errorf("%v %+v", rec.final(), c.Diagnostics)
		}
	})
	t.Run("single top-level directory is stripped; appspec.yaml", func(t *testing.T) {
		w := newWorld(t)
		rec, c := w.run(w.command(zipOf(t, tree{"myapp/appspec.yaml": w.appspec(""), "myapp/index.html": "hello"}), "zip"))
		if c.Status != protocol.StatusSucceeded {
			t.Fatalf("%+v\n%s", c.Diagnostics, rec.text())
		}
		if b, err := os.ReadFile(filepath.Join(w.dest, "app", "index.html")); err != nil || string(b) != "hello" {
			t.Errorf("index.html: %q %v", b, err)
		}
	})
}

// After the agent dies mid-hook, the restarted agent reports that event Failed with
// FailedAfterRestart, kills what the hook left running, fails the command, and runs nothing
// again. The agent here is a child process (this test binary) killed with SIGKILL.
func TestCrashDuringAHook(t *testing.T) {
	w := newWorld(t)
	started := filepath.Join(w.dest, "hook-started")
	pidFile := filepath.Join(w.dest, "hook.pid")
	cmd := w.command(tgz(t, tree{
		"appspec.yml": w.appspec("hooks:\n  BeforeInstall:\n    - location: long.sh\n"),
		"long.sh":     "#!/bin/sh\necho $$ > " + pidFile + "\ntouch " + started + "\nsleep 300\n",
	}), "tgz")
	child := startChildAgent(t, w, cmd)
	waitFor(t, "the hook to start", func() bool { _, err := os.Stat(started); return err == nil })
	child.Process.Kill()
	child.Wait()
	hookPid := readPid(t, pidFile)
	if processStart(hookPid) == 0 {
		t.Fatal("the hook died with the agent; the test needs it alive")
	}

	x := w.executor() // the restarted agent
	mks, err := x.Interrupted()
	if err != nil || len(mks) != 1 {
		t.Fatalf("markers %v %v", mks, err)
	}
	if mks[0].Event != protocol.EventBeforeInstall || mks[0].PGID != hookPid {
		t.Errorf("marker %+v (hook pid %d)", mks[0], hookPid)
	}
	report, c := x.Recover(mks[0])
	if report == nil || report.Event != protocol.EventBeforeInstall || report.Status != protocol.StatusFailed ||
		report.Diagnostics.ErrorCode != protocol.ErrFailedAfterRestart ||
		report.Diagnostics.Message != "agent restarted during BeforeInstall; the hook it left running was killed" {
		t.Fatalf("report %+v", report)
	}
	if c.Status != protocol.StatusFailed || c.Diagnostics.ErrorCode != protocol.ErrFailedAfterRestart {
		t.Errorf("completion %+v", c)
	}
	waitFor(t, "the orphaned hook to die", func() bool { return processStart(hookPid) == 0 || isZombie(hookPid) })
	// Asked again (the server was unreachable, say), the same answer, and nothing is killed twice.
	again, c2 := x.Recover(mks[0])
	if again == nil || again.Diagnostics.Message != report.Diagnostics.Message || c2.Status != c.Status {
		t.Errorf("second recovery %+v %+v", again, c2)
	}
	if err := x.Forget(cmd.ID); err != nil {
		t.Fatal(err)
	}
	if mks, _ := w.executor().Interrupted(); len(mks) != 0 {
		t.Errorf("markers left: %+v", mks)
	}
	if !strings.Contains(w.scriptsLog(cmd), "[agent]agent restarted during BeforeInstall") {
		t.Errorf("scripts.log:\n%s", w.scriptsLog(cmd))
	}
}

func TestMarkerRoundTrip(t *testing.T) {
	w := newWorld(t)
	mk := &Marker{CommandID: "c1", DeploymentID: "d1", DeploymentGroupID: "g", Received: time.Now().Add(-25 * time.Hour)}
	if err := w.x.m.save(mk); err != nil {
		t.Fatal(err)
	}
	fresh := &Marker{CommandID: "c2", Received: time.Now(), Event: "Install"}
	w.x.m.save(fresh)
	os.WriteFile(filepath.Join(w.root, "ongoing-deployment", "c3"), []byte("{broken"), 0o600)
	mks, err := w.x.Interrupted()
	if err != nil || len(mks) != 1 || mks[0].CommandID != "c2" {
		b, _ := json.Marshal(mks)
		t.Fatalf("%s %v", b, err)
	}
	if fi, _ := os.Stat(filepath.Join(w.root, "ongoing-deployment", "c2")); fi.Mode().Perm() != 0o600 {
		t.Errorf("marker mode %v", fi.Mode())
	}
}
