package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/executor/fake"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

// benchDashboard is a wired server (no listener) with 200 pipelines and 10,000 executions in
// history: 5,000 of them on pipeline p000, 25 on each other one.
func benchDashboard(b *testing.B) (http.Handler, *http.Cookie) {
	b.Helper()
	ctx := context.Background()
	f := fake.New(1 << 12)
	go func() {
		for range f.Started {
		}
	}()
	cfg := serverConfig{Data: b.TempDir(), Region: "local", AdminKeyID: testAdminKey, AdminSecret: testAdminSecret,
		Providers: func(r *executor.Registry) { fake.Register(r, f) }}
	a, err := openApp(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.close)
	stages := []string{"Source", "Build", "Test", "Deploy"}
	for i := 0; i < 200; i++ {
		name := fmt.Sprintf("p%03d", i)
		var st []any
		for j, s := range stages {
			cat := []string{"Source", "Build", "Test", "Deploy"}[j]
			act := map[string]any{"name": s + "Action", "actionTypeId": map[string]string{"category": cat, "owner": "Custom", "provider": "Fake", "version": "1"}}
			if j == 0 {
				act["outputArtifacts"] = []any{map[string]string{"name": "Src"}}
			}
			st = append(st, map[string]any{"name": s, "actions": []any{act}})
		}
		raw, _ := json.Marshal(map[string]any{"pipeline": map[string]any{"name": name, "pipelineType": "V2", "stages": st}})
		if _, err := a.engine.CreatePipeline(ctx, raw, nil, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	// The history: executions with their stages and actions, written in large transactions.
	base := time.Now().Add(-30 * 24 * time.Hour)
	write := func(from, to int, pipelineOf func(int) string) {
		err := a.db.Write(ctx, func(tx *store.Tx) error {
			for n := from; n < to; n++ {
				ex := &store.Execution{ID: uuid.NewString(), Pipeline: pipelineOf(n), PipelineVersion: 1, Status: []string{"Succeeded", "Failed", "Superseded"}[n%3],
					Mode: "SUPERSEDED", Type: "STANDARD", TriggerType: "Webhook", TriggerDetail: "push to main by alice", StageIndex: 3}
				if err := tx.InsertExecution(ctx, ex); err != nil {
					return err
				}
				for j, s := range stages {
					if err := tx.PutStageExecution(ctx, &store.StageExecution{ExecutionID: ex.ID, StageName: s, StageIndex: j, Attempt: 1, BaseAttempt: 1,
						Status: "Succeeded", Started: base, Updated: base}); err != nil {
						return err
					}
					out := `{}`
					if j == 0 {
						out = fmt.Sprintf(`{"outputArtifacts":[{"name":"Src","sha256":"%064d","size":1024,"revision":{"revisionId":"%040d","summary":"Fix the checkout totals (#%d)","created":"2026-01-01T00:00:00Z"}}]}`, n, n, n)
					}
					if err := tx.InsertActionExecution(ctx, &store.ActionExecution{ID: uuid.NewString(), ExecutionID: ex.ID, Pipeline: ex.Pipeline, PipelineVersion: 1,
						StageName: s, ActionName: s + "Action", RunOrder: 1, Attempt: 1, Status: "Succeeded", Summary: "done",
						Input:  []byte(`{"actionTypeId":{"category":"Build","owner":"Custom","provider":"Fake","version":"1"},"configuration":{},"resolvedConfiguration":{}}`),
						Output: []byte(out), Deadline: base.Add(time.Hour)}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for from := 0; from < 5000; from += 1000 {
		write(from, from+1000, func(int) string { return "p000" })
	}
	for from := 0; from < 5000; from += 1000 {
		write(from, from+1000, func(n int) string { return fmt.Sprintf("p%03d", 1+n%199) })
	}
	// An operator: the pipeline page then also lists each stage's rollback targets.
	if _, err := a.web.users.Create(ctx, "bench", "bench-password", auth.RoleOperator); err != nil {
		b.Fatal(err)
	}
	rec := httptest.NewRecorder()
	if _, err := a.web.sessions.Create(ctx, rec, httptest.NewRequest(http.MethodPost, "/login", nil), "bench"); err != nil {
		b.Fatal(err)
	}
	return a.handler, rec.Result().Cookies()[0]
}

// benchPage serves one page per iteration through the whole router (authentication included) and
// reports the 50th and 99th percentile of the server time.
func benchPage(b *testing.B, h http.Handler, cookie *http.Cookie, path string) {
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		start := time.Now()
		h.ServeHTTP(rec, req)
		times = append(times, time.Since(start))
		if rec.Code != http.StatusOK {
			body, _ := io.ReadAll(rec.Body)
			b.Fatalf("%s: %d %s", path, rec.Code, body)
		}
	}
	b.StopTimer()
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
}

func BenchmarkDashboard200Pipelines10000Executions(b *testing.B) {
	h, cookie := benchDashboard(b)
	// The floor in the same run: the router, authentication middleware and one database read.
	b.Run("healthz-baseline", func(b *testing.B) { benchPage(b, h, cookie, "/healthz") })
	b.Run("pipelines", func(b *testing.B) { benchPage(b, h, cookie, "/") })
	b.Run("pipeline", func(b *testing.B) { benchPage(b, h, cookie, "/pipelines/p000") })
	b.Run("history", func(b *testing.B) { benchPage(b, h, cookie, "/pipelines/p000/history") })
}
