package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/store"
)

func TestMetricsFollowEngineEvents(t *testing.T) {
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := NewMetrics(db)
	m.ExecutionStarted("web")
	m.ExecutionStarted("web")
	m.ExecutionFinished("web", "Succeeded")
	m.ExecutionFinished("web", "Failed")
	m.StageEntered("web", "Build")
	m.ActionFinished(executor.ActionType{Category: "Build", Owner: "AWS", Provider: "CodeBuild"}, "Succeeded", 3*time.Second)
	want := `
# HELP conveyor_executions_finished_total Pipeline executions finished, by pipeline and final status.
# TYPE conveyor_executions_finished_total counter
conveyor_executions_finished_total{pipeline="web",status="Failed"} 1
conveyor_executions_finished_total{pipeline="web",status="Succeeded"} 1
# HELP conveyor_executions_started_total Pipeline executions started, by pipeline.
# TYPE conveyor_executions_started_total counter
conveyor_executions_started_total{pipeline="web"} 2
# HELP conveyor_stage_transitions_total Executions entering a stage, by pipeline and stage.
# TYPE conveyor_stage_transitions_total counter
conveyor_stage_transitions_total{pipeline="web",stage="Build"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"conveyor_executions_finished_total", "conveyor_executions_started_total", "conveyor_stage_transitions_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.actionDuration); n != 1 {
		t.Errorf("action duration series = %d, want 1", n)
	}
	before := db.Stats().Writes
	if err := db.Write(context.Background(), func(tx *store.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "conveyor_sqlite_write_transactions_total" {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != float64(before+1) {
				t.Errorf("sqlite write transactions = %v, want %d", got, before+1)
			}
			return
		}
	}
	t.Error("conveyor_sqlite_write_transactions_total missing")
}
