package build

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

func newTestService(t *testing.T) *Service {
	return newTestServiceEvents(t, nil)
}

// newTestServiceEvents returns a service whose build events go to events (when not nil).
func newTestServiceEvents(t *testing.T, events chan string) *Service {
	t.Helper()
	var hook func(string)
	if events != nil {
		hook = func(id string) {
			select {
			case events <- id:
			default:
			}
		}
	}
	return newTestServiceHook(t, hook)
}

// newTestServiceHook returns a service that calls hook (when not nil) on every build event, right
// after the change was stored.
func newTestServiceHook(t *testing.T, hook func(buildID string)) *Service {
	t.Helper()
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := store.OpenBlobs(filepath.Join(dir, "blobs"), db)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := logs.Open(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Docker: dockerBackend(t), Blobs: blobs, Log: slog.New(slog.DiscardHandler), TempDir: dir}
	onEvent := func(string) {}
	if hook != nil {
		onEvent = hook
	}
	s := NewService(Config{DB: db, Blobs: blobs, Logs: ls, Runner: r, Region: "local", MaxConcurrentBuilds: 4, OnEvent: onEvent})
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// awaitPhase waits, on build events, until a build is in the given phase.
func awaitPhase(t *testing.T, s *Service, events chan string, id, phase string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		if b, _ := s.GetBuild(context.Background(), id); b.CurrentPhase == phase {
			return
		}
		select {
		case <-events:
		case <-deadline:
			t.Fatalf("build %s never reached %s", id, phase)
		}
	}
}

func TestConcurrentBuildLimitQueuesTheSecondBuild(t *testing.T) {
	events := make(chan string, 64)
	s := newTestServiceEvents(t, events)
	ctx := context.Background()
	_, err := s.CreateProject(ctx, Project{Name: "limited", ConcurrentBuildLimit: 1,
		Source:      ProjectSource{Type: SourceNone, Buildspec: "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 600\n"},
		Artifacts:   ProjectArtifacts{Type: ArtifactsNone},
		Environment: ProjectEnvironment{Image: busybox, ComputeType: "BUILD_GENERAL1_SMALL"}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.StartBuild(ctx, StartInput{ProjectName: "limited"})
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.StartBuild(ctx, StartInput{ProjectName: "limited"})
	if err != nil {
		t.Fatal(err)
	}
	// Once the first runs its command, the second must still wait in the queue.
	awaitPhase(t, s, events, first.ID, PhaseBuild)
	if b, _ := s.GetBuild(ctx, second.ID); b.CurrentPhase != PhaseQueued {
		t.Fatalf("the second build must wait in QUEUED while the first runs, it is in %s", b.CurrentPhase)
	}
	if _, err := s.StopBuild(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Wait(ctx, first.ID); b.BuildStatus != StatusStopped {
		t.Fatalf("first build %s", b.BuildStatus)
	}
	awaitPhase(t, s, events, second.ID, PhaseBuild) // it leaves the queue once the first ended
	if _, err := s.StopBuild(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	b, _ := s.Wait(ctx, second.ID)
	if b.BuildStatus != StatusStopped {
		t.Fatalf("second build %s", b.BuildStatus)
	}
	q := b.phase(PhaseQueued)
	if q == nil || q.PhaseStatus != StatusSucceeded {
		t.Errorf("the second build left the queue once the first ended: %+v", b.Phases)
	}
}

// A build is published as complete only together with its final record: a client that polls
// BatchGetBuilds must never see a finished build whose artifact location is still the runner's.
func TestACompletedBuildIsPublishedWithItsArtifacts(t *testing.T) {
	var s *Service
	var mu sync.Mutex
	var early []string
	s = newTestServiceHook(t, func(id string) {
		b, err := s.GetBuild(context.Background(), id)
		if err == nil && b.BuildComplete && (b.Artifacts == nil || !strings.HasPrefix(b.Artifacts.Location, "arn:aws:s3:::out/")) {
			mu.Lock()
			early = append(early, fmt.Sprintf("%+v", b.Artifacts))
			mu.Unlock()
		}
	})
	ctx := context.Background()
	_, err := s.CreateProject(ctx, Project{Name: "published",
		Source:      ProjectSource{Type: SourceNone, Buildspec: "version: 0.2\nphases:\n  build:\n    commands:\n      - echo hi > out.txt\nartifacts:\n  files: [out.txt]\n"},
		Artifacts:   ProjectArtifacts{Type: ArtifactsS3, Location: "out", Name: "app"},
		Environment: ProjectEnvironment{Image: busybox, ComputeType: "BUILD_GENERAL1_SMALL"}})
	if err != nil {
		t.Fatal(err)
	}
	started, err := s.StartBuild(ctx, StartInput{ProjectName: "published"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Wait(ctx, started.ID)
	if err != nil || b.BuildStatus != StatusSucceeded {
		t.Fatalf("build: %s %v", b.BuildStatus, err)
	}
	if b.Artifacts == nil || b.Artifacts.Location != "arn:aws:s3:::out/app.zip" {
		t.Fatalf("artifacts = %+v", b.Artifacts)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Fatalf("the build was seen complete before its final record, with artifacts %v", early)
	}
}
