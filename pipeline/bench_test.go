package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/executor/fake"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
)

// finishObserver signals each finished execution.
type finishObserver struct{ done chan string }

func (o *finishObserver) ExecutionStarted(string)                                   {}
func (o *finishObserver) ExecutionFinished(_, status string)                        { o.done <- status }
func (o *finishObserver) StageEntered(string, string)                               {}
func (o *finishObserver) ActionFinished(executor.ActionType, string, time.Duration) {}
func (o *finishObserver) Changed(string)                                            {}

func benchEngine(b *testing.B, mode string) (*pipeline.Engine, *finishObserver) {
	b.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "bench.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	f := fake.New(1 << 20)
	go func() {
		for range f.Started {
		}
	}()
	reg := executor.NewRegistry()
	fake.Register(reg, f)
	obs := &finishObserver{done: make(chan string, 1<<16)}
	eng := pipeline.New(pipeline.Config{DB: db, Providers: reg, Observer: obs, MaxActiveExecutions: 1 << 20})
	b.Cleanup(func() { _ = eng.Close(ctx); db.Close() })
	d := decl("bench", mode, stage("Source", source(nil)), stage("Build", fakeAction("Build", "Build", 1, nil)),
		stage("Deploy", fakeAction("Deploy", "Deploy", 1, nil)))
	raw, _ := json.Marshal(d)
	if _, err := eng.CreatePipeline(ctx, raw, nil, "bench"); err != nil {
		b.Fatal(err)
	}
	if s := <-obs.done; s != "Succeeded" {
		b.Fatalf("first execution %s", s)
	}
	return eng, obs
}

// commitBaseline measures one FULL-sync write transaction on a database in the same directory
// tree: the floor under any state change the engine commits.
func commitBaseline(b *testing.B) time.Duration {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "baseline.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	const n = 200
	start := time.Now()
	for i := 0; i < n; i++ {
		err := db.Write(ctx, func(tx *store.Tx) error {
			return tx.SetTransition(ctx, "none", store.Transition{StageName: fmt.Sprint(i % 7), Type: "Inbound", Enabled: true})
		})
		if err != nil && err.Error() == "" {
			b.Fatal(err)
		}
	}
	return time.Since(start) / n
}

// BenchmarkSequentialExecutions runs one 3-stage execution of no-op actions at a time: its time per
// operation is the engine's latency for a whole execution, and ms/transition what each stage
// transition costs, beside the cost of one FULL-sync commit measured in the same run.
func BenchmarkSequentialExecutions(b *testing.B) {
	eng, obs := benchEngine(b, "")
	commit := commitBaseline(b)
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := eng.StartExecution(ctx, pipeline.StartInput{Pipeline: "bench"}); err != nil {
			b.Fatal(err)
		}
		if s := <-obs.done; s != "Succeeded" {
			b.Fatalf("execution %s", s)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	perExec := elapsed / time.Duration(b.N)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "executions/s")
	b.ReportMetric(float64(perExec.Microseconds())/3/1000, "ms/transition")
	b.ReportMetric(float64(commit.Microseconds())/1000, "ms/commit-baseline")
	b.ReportMetric(float64(perExec)/3/float64(commit), "transition/commit")
}

// BenchmarkParallelExecutions starts executions of a PARALLEL pipeline 32 at a time: throughput
// when the engine is busy.
func BenchmarkParallelExecutions(b *testing.B) {
	eng, obs := benchEngine(b, "PARALLEL")
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for done := 0; done < b.N; {
		batch := min(32, b.N-done)
		for i := 0; i < batch; i++ {
			if _, err := eng.StartExecution(ctx, pipeline.StartInput{Pipeline: "bench"}); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; i < batch; i++ {
			if s := <-obs.done; s != "Succeeded" {
				b.Fatalf("execution %s", s)
			}
		}
		done += batch
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "executions/s")
}
