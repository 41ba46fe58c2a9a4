package build

import (
	"context"
	"log/slog"
	"path/filepath"
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
	if events != nil {
		onEvent = func(id string) {
			select {
			case events <- id:
			default:
			}
		}
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
