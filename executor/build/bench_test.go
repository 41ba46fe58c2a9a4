package build

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/executor/build/docker"
	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

// benchService is a build service over a temp data directory and the real Docker engine.
func benchService(b *testing.B) (*Service, *logs.Store) {
	return benchServiceCap(b, 0)
}

func benchServiceCap(b *testing.B, logCap int64) (*Service, *logs.Store) {
	b.Helper()
	dir := b.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	blobs, err := store.OpenBlobs(filepath.Join(dir, "blobs"), db)
	if err != nil {
		b.Fatal(err)
	}
	ls, err := logs.Open(filepath.Join(dir, "logs"))
	if err != nil {
		b.Fatal(err)
	}
	r := &Runner{Docker: dockerBackend(b), Blobs: blobs, Log: slog.New(slog.DiscardHandler), TempDir: dir}
	s := NewService(Config{DB: db, Blobs: blobs, Logs: ls, Runner: r, Region: "local", LogCap: logCap})
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	return s, ls
}

func benchProject(b *testing.B, s *Service, name, buildspec string) {
	b.Helper()
	_, err := s.CreateProject(context.Background(), Project{Name: name, Source: ProjectSource{Type: SourceNone, Buildspec: buildspec},
		Artifacts: ProjectArtifacts{Type: ArtifactsNone}, Environment: ProjectEnvironment{Image: busybox, ComputeType: "BUILD_GENERAL1_SMALL"}})
	if err != nil {
		b.Fatal(err)
	}
}

// rawDockerRun times `docker run --rm IMAGE true` through the same client library.
func rawDockerRun(b *testing.B, d *docker.Backend, n int) time.Duration {
	b.Helper()
	var total time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if code, err := d.RunOnce(context.Background(), busybox, []string{"true"}); err != nil || code != 0 {
			b.Fatalf("raw run: %d %v", code, err)
		}
		total += time.Since(start)
	}
	return total / time.Duration(n)
}

// firstCommandAt reads the time the build log says the first command started.
func firstCommandAt(b *testing.B, ls *logs.Store, id string) time.Time {
	b.Helper()
	rc, err := ls.Open(LogKind, id)
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	sc := bufio.NewScanner(rc)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, " Running command "); i > 0 && strings.HasPrefix(line, "[Container] ") {
			t, err := time.Parse("2006/01/02 15:04:05.000000", line[len("[Container] "):i])
			if err != nil {
				b.Fatal(err)
			}
			return t
		}
	}
	b.Fatal("no command in the log")
	return time.Time{}
}

// BenchmarkStartLatency measures from StartBuild to the first buildspec command starting, beside a
// raw `docker run --rm IMAGE true` of the same image measured in the same run.
func BenchmarkStartLatency(b *testing.B) {
	s, ls := benchService(b)
	benchProject(b, s, "latency", "version: 0.2\nphases:\n  build:\n    commands:\n      - echo go\n")
	raw := rawDockerRun(b, s.runner.Docker, 5)
	ctx := context.Background()
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		bd, err := s.StartBuild(ctx, StartInput{ProjectName: "latency"})
		if err != nil {
			b.Fatal(err)
		}
		final, err := s.Wait(ctx, bd.ID)
		if err != nil || final.BuildStatus != StatusSucceeded {
			b.Fatalf("build %s: %v", final.BuildStatus, err)
		}
		total += firstCommandAt(b, ls, bd.ID).Sub(start)
	}
	b.StopTimer()
	per := total / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/start-to-first-command")
	b.ReportMetric(float64(raw.Microseconds())/1000, "ms/raw-docker-run")
	b.ReportMetric(float64(per)/float64(raw), "start/raw")
}

// BenchmarkOverhead runs a 4-phase buildspec of `true` commands: everything it takes is Conveyor's
// and Docker's overhead (the commands themselves take microseconds). The baseline is a raw docker
// run of `true` in the same run.
func BenchmarkOverhead(b *testing.B) {
	s, _ := benchService(b)
	benchProject(b, s, "overhead", `version: 0.2
phases:
  install:
    commands: ["true"]
  pre_build:
    commands: ["true"]
  build:
    commands: ["true"]
  post_build:
    commands: ["true"]
`)
	raw := rawDockerRun(b, s.runner.Docker, 5)
	ctx := context.Background()
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		bd, err := s.StartBuild(ctx, StartInput{ProjectName: "overhead"})
		if err != nil {
			b.Fatal(err)
		}
		if final, err := s.Wait(ctx, bd.ID); err != nil || final.BuildStatus != StatusSucceeded {
			b.Fatalf("build %s: %v", final.BuildStatus, err)
		}
		total += time.Since(start)
	}
	b.StopTimer()
	per := total / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/build")
	b.ReportMetric(float64(raw.Microseconds())/1000, "ms/raw-docker-run")
	b.ReportMetric(float64(per)/float64(raw), "build/raw")
}

// rssKB reads this process's resident set size.
func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// BenchmarkLogThroughput runs a build that prints 200 MB and measures MB/s through to the log on
// disk (with secret masking on) and the growth of this process's RSS while it runs, beside a raw
// exec streaming the same output to nowhere in the same run.
func BenchmarkLogThroughput(b *testing.B) {
	const size = 200 << 20
	gen := "yes 'a build log line of about eighty characters, like compiler output or test logs....' | head -c " + strconv.Itoa(size)
	s, ls := benchServiceCap(b, 256<<20) // above the default cap, so all of it is written
	benchProject(b, s, "loud", "version: 0.2\nenv:\n  variables:\n    X: y\nphases:\n  build:\n    commands:\n      - "+gen+"\n")
	ctx := context.Background()

	// Baseline: the same output through one docker exec, discarded.
	bd, err := s.runner.Docker.Setup(ctx, docker.Spec{BuildID: "bench-raw-exec", Image: busybox})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := bd.Exec(ctx, docker.ExecSpec{Cmd: []string{"/bin/sh", "-c", gen}}, io.Discard, io.Discard); err != nil {
		b.Fatal(err)
	}
	raw := time.Since(start)
	_ = bd.Destroy(context.Background())

	var peak atomic.Int64
	b.ResetTimer()
	var phaseDur time.Duration
	for i := 0; i < b.N; i++ {
		base := rssKB()
		done := make(chan struct{})
		go func() {
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					if g := rssKB() - base; g > peak.Load() {
						peak.Store(g)
					}
				}
			}
		}()
		build, err := s.StartBuild(ctx, StartInput{ProjectName: "loud"})
		if err != nil {
			b.Fatal(err)
		}
		final, err := s.Wait(ctx, build.ID)
		close(done)
		if err != nil || final.BuildStatus != StatusSucceeded {
			b.Fatalf("build %s: %v", final.BuildStatus, err)
		}
		p := final.phase(PhaseBuild)
		phaseDur += p.EndTime.Time().Sub(p.StartTime.Time())
		info, err := ls.Stat(LogKind, build.ID)
		if err != nil || info.Bytes < size || info.Truncated {
			js, _ := json.Marshal(info)
			b.Fatalf("log holds %s (%v), want at least %d bytes", js, err, size)
		}
	}
	b.StopTimer()
	mbps := float64(size) / (1 << 20) / (phaseDur.Seconds() / float64(b.N))
	rawMBps := float64(size) / (1 << 20) / raw.Seconds()
	b.ReportMetric(mbps, "MB/s-to-disk")
	b.ReportMetric(rawMBps, "MB/s-raw-exec")
	b.ReportMetric(mbps/rawMBps, "throughput/raw")
	b.ReportMetric(float64(peak.Load())/1024, "MiB-peak-RSS-growth")
}

// stageWatch records when an execution enters a stage (pipeline.Observer).
type stageWatch struct {
	stage   string
	entered chan time.Time
}

func (w *stageWatch) ExecutionStarted(string)                                   {}
func (w *stageWatch) ExecutionFinished(string, string)                          {}
func (w *stageWatch) ActionFinished(executor.ActionType, string, time.Duration) {}
func (w *stageWatch) Changed(string)                                            {}
func (w *stageWatch) StageEntered(_, stage string) {
	if stage == w.stage {
		w.entered <- time.Now()
	}
}

// BenchmarkPipelineStageToFirstCommand measures from a pipeline execution entering its Build stage
// to the build's first command starting, beside a raw docker run in the same run.
func BenchmarkPipelineStageToFirstCommand(b *testing.B) {
	s, ls := benchService(b)
	ctx := context.Background()
	_, err := s.CreateProject(ctx, Project{Name: "staged", Source: ProjectSource{Type: SourceCodePipeline, Buildspec: "version: 0.2\nphases:\n  build:\n    commands:\n      - echo go\n"},
		Artifacts: ProjectArtifacts{Type: ArtifactsCodePipeline}, Environment: ProjectEnvironment{Image: busybox, ComputeType: "BUILD_GENERAL1_SMALL"}})
	if err != nil {
		b.Fatal(err)
	}
	uploads := &source.Uploads{S3: &source.S3{DB: s.db, Blobs: s.blobs}, Log: slog.New(slog.DiscardHandler)}
	reg := executor.NewRegistry()
	reg.Register(source.S3Spec(), uploads.S3)
	for _, spec := range ActionSpecs() {
		reg.Register(spec, &Action{Builds: s})
	}
	watch := &stageWatch{stage: "Build", entered: make(chan time.Time, 16)}
	eng := pipeline.New(pipeline.Config{DB: s.db, Providers: reg, Observer: watch})
	b.Cleanup(func() { _ = eng.Close(context.Background()) })
	uploads.Engine = eng
	if _, err := uploads.Put(ctx, "bench", "src.zip", strings.NewReader(string(emptyZip())), "bench"); err != nil {
		b.Fatal(err)
	}
	decl := `{"name":"staged","stages":[
	 {"name":"Source","actions":[{"name":"S","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},
	   "configuration":{"S3Bucket":"bench","S3ObjectKey":"src.zip","PollForSourceChanges":"false"},"outputArtifacts":[{"name":"Src"}]}]},
	 {"name":"Build","actions":[{"name":"B","actionTypeId":{"category":"Build","owner":"AWS","provider":"CodeBuild","version":"1"},
	   "configuration":{"ProjectName":"staged"},"inputArtifacts":[{"name":"Src"}]}]}]}`
	raw := rawDockerRun(b, s.runner.Docker, 5)
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var execID string
		if i == 0 {
			if _, err := eng.CreatePipeline(ctx, []byte(decl), nil, "bench"); err != nil {
				b.Fatal(err)
			}
			list, _, _ := eng.ListExecutions(ctx, "staged", "", "", 1)
			execID = list[0].PipelineExecutionID
		} else if execID, err = eng.StartExecution(ctx, pipeline.StartInput{Pipeline: "staged"}); err != nil {
			b.Fatal(err)
		}
		entered := <-watch.entered
		var buildID string
		for buildID == "" {
			acts, _, _ := eng.ListActionExecutions(ctx, "staged", execID, "", 10)
			for _, a := range acts {
				if a.StageName == "Build" && a.Output.ExecutionResult != nil && a.Output.ExecutionResult.ExternalExecutionID != "" {
					buildID = a.Output.ExecutionResult.ExternalExecutionID
				}
			}
			if buildID == "" {
				time.Sleep(5 * time.Millisecond) // the action reports its build id as progress
			}
		}
		if final, err := s.Wait(ctx, buildID); err != nil || final.BuildStatus != StatusSucceeded {
			b.Fatalf("build %s: %v", final.BuildStatus, err)
		}
		total += firstCommandAt(b, ls, buildID).Sub(entered)
	}
	b.StopTimer()
	per := total / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/stage-to-first-command")
	b.ReportMetric(float64(raw.Microseconds())/1000, "ms/raw-docker-run")
	b.ReportMetric(float64(per)/float64(raw), "start/raw")
}

func emptyZip() []byte {
	var buf strings.Builder
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("README")
	_, _ = w.Write([]byte("bench"))
	_ = zw.Close()
	return []byte(buf.String())
}
