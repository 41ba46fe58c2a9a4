package docker

import (
	"context"
	"testing"
	"time"
)

// BenchmarkExecStart compares what a build pays before its first command has run — Setup (create
// and start the long-lived container) plus the first Exec of `true` — with the plain
// create/start/wait/remove of a `true` container (RunOnce, i.e. `docker run --rm IMAGE true`
// through the library), on the same image in the same run. Destroy is reported separately: it runs
// after the build, off the critical path.
//
//	go test -run '^$' -bench ExecStart -benchtime 20x ./executor/build/docker
func BenchmarkExecStart(b *testing.B) {
	be := newBackend(b)
	ctx := context.Background()
	var setupExec, destroy, runOnce, nextExec time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		bd, err := be.Setup(ctx, Spec{BuildID: "bench:" + randomHex(6), Image: testImage})
		if err != nil {
			b.Fatal(err)
		}
		if st, err := bd.Exec(ctx, ExecSpec{Cmd: []string{"true"}}, nil, nil); err != nil || st.ExitCode != 0 {
			b.Fatalf("Exec: %+v %v", st, err)
		}
		t1 := time.Now()
		if st, err := bd.Exec(ctx, ExecSpec{Cmd: []string{"true"}}, nil, nil); err != nil || st.ExitCode != 0 {
			b.Fatalf("Exec: %+v %v", st, err)
		}
		t2 := time.Now()
		if err := bd.Destroy(ctx); err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if code, err := be.RunOnce(ctx, testImage, []string{"true"}); err != nil || code != 0 {
			b.Fatalf("RunOnce: %d %v", code, err)
		}
		t4 := time.Now()
		setupExec += t1.Sub(t0)
		nextExec += t2.Sub(t1)
		destroy += t3.Sub(t2)
		runOnce += t4.Sub(t3)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(setupExec), "setup+exec-ms/op")
	b.ReportMetric(ms(nextExec), "exec-ms/op")
	b.ReportMetric(ms(destroy), "destroy-ms/op")
	b.ReportMetric(ms(runOnce), "runonce-ms/op")
	b.ReportMetric(float64(setupExec)/float64(runOnce), "setup+exec/runonce")
	b.ReportMetric(float64(setupExec+destroy)/float64(runOnce), "(setup+exec+destroy)/runonce")
}

// BenchmarkExec measures one command in a running build: Exec (wrapper, event watch for OOM and
// exit) against the bare create/attach/inspect of an exec that Exec is built on.
func BenchmarkExec(b *testing.B) {
	be := newBackend(b)
	bd := setup(b, be, Spec{})
	ctx := context.Background()
	b.Run("Exec", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if st, err := bd.Exec(ctx, ExecSpec{Cmd: []string{"true"}}, nil, nil); err != nil || st.ExitCode != 0 {
				b.Fatalf("Exec: %+v %v", st, err)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if code, _, err := bd.run(ctx, []string{"true"}); err != nil || code != 0 {
				b.Fatalf("run: %d %v", code, err)
			}
		}
	})
}
