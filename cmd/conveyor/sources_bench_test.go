package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/executor/source/git/gittest"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
)

// benchSources is a server with a connection "bench" to a repository on a real git server and a
// V1 pipeline bench-ci (Source → the fake) that its pushes to main start.
func benchSources(b *testing.B, repoPath string, files map[string]string) (*srcServer, *gittest.Repo) {
	b.Helper()
	ctx := context.Background()
	s := startSrcServer(b, b.TempDir())
	repo := gittest.NewServer(b).NewRepo(b, repoPath)
	repo.Commit("initial", files)
	repo.Push()
	secret := srcHookSecret
	if _, err := s.app.sources.connections.Create(ctx, srcConnInput("bench", repo.URL, &secret)); err != nil {
		b.Fatal(err)
	}
	raw := srcPipeline("bench-ci", srcCodeStarAction(srcConnectionArn("bench"), repoPath, "main", nil), nil)
	if _, err := s.app.engine.CreatePipeline(ctx, raw, nil, "bench"); err != nil {
		b.Fatal(err)
	}
	// CreatePipeline's execution fetches the head: the connection's cache is warm, as a server's is.
	select {
	case <-s.fake.Started:
	case <-time.After(60 * time.Second):
		b.Fatalf("the first execution did not reach its second stage:\n%s", s.log.String())
	}
	return s, repo
}

func benchPushBody(b *testing.B, repo *gittest.Repo, repoPath, before, after string) []byte {
	body := srcPushPayload(b, "github-push.json", repo.URL, "refs/heads/main", before, after, []string{after})
	return bytes.Replace(body, []byte(`"acme/sample-app"`), []byte(`"`+repoPath+`"`), 1)
}

// BenchmarkPushToRunning1000Files measures, for a 1,000-file repository, from the webhook request
// to the source action finished and the next stage's action started (the fake provider hears
// it), one push of one changed file per iteration. The baseline, measured in the same run, is
// git's own fetch of that commit (git fetch --depth=1 into an empty repository, over the same
// HTTP server): what any CI must spend to get the commit at all.
func BenchmarkPushToRunning1000Files(b *testing.B) {
	files := map[string]string{}
	for i := range 1000 {
		files[fmt.Sprintf("src/pkg%02d/file%03d.go", i/50, i)] = fmt.Sprintf("package pkg%02d\n\n// File %d.\nvar V%d = %d\n", i/50, i, i, i) +
			strings.Repeat("// a line of padding, as real files have comments\n", 30)
	}
	s, repo := benchSources(b, "acme/big", files)
	var pushToRunning, gitFetch, answered time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		before := repo.Git("rev-parse", "HEAD")
		after := repo.Commit(fmt.Sprintf("change %d", i), map[string]string{"src/pkg00/file000.go": fmt.Sprintf("package pkg00 // change %d\n", i)})
		repo.Push()
		empty := b.TempDir()
		gittest.Run(b, empty, "init", "--quiet", "--bare")
		fetch := exec.Command("git", "fetch", "--quiet", "--depth=1", "--no-tags", "--", repo.URL, after)
		fetch.Dir = empty
		start := time.Now()
		if out, err := fetch.CombinedOutput(); err != nil {
			b.Fatalf("baseline fetch: %v\n%s", err, out)
		}
		gitFetch += time.Since(start)
		body := benchPushBody(b, repo, "acme/big", before, after)
		h := srcGitHubHeaders("push", uuid.NewString(), srcHookSecret, body)
		b.StartTimer()

		start = time.Now()
		if code, ans := srcSendHook(b, s.URL, "bench", h, body); code != http.StatusAccepted {
			b.Fatalf("webhook: %d %+v", code, ans)
		}
		answered += time.Since(start)
		for running := false; !running; {
			select {
			case job := <-s.fake.Started:
				running = len(job.InputArtifacts) == 1 && job.InputArtifacts[0].Revision != nil && job.InputArtifacts[0].Revision.RevisionID == after
			case <-time.After(60 * time.Second):
				b.Fatalf("push %d did not reach the second stage:\n%s", i, s.log.String())
			}
		}
		pushToRunning += time.Since(start)
	}
	b.StopTimer()
	per, base := pushToRunning/time.Duration(b.N), gitFetch/time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/push-to-running")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms/git-fetch-baseline")
	b.ReportMetric(float64((per-base).Microseconds())/1000, "ms-beyond-git")
	b.ReportMetric(float64((answered/time.Duration(b.N)).Microseconds())/1000, "ms/webhook-answer")
}

// BenchmarkWebhooks100Concurrent sends 100 signed webhooks at once: 80 distinct pushes and 20
// replays of them. Every delivery must be recorded, exactly 80 executions started, and no
// SQLITE_BUSY seen (the store's counter and the server log); it reports the answer times.
func BenchmarkWebhooks100Concurrent(b *testing.B) {
	const distinct, replays = 80, 20
	s, repo := benchSources(b, "acme/burst", map[string]string{"README.md": "burst\n"})
	ctx := context.Background()
	var answers []time.Duration
	var allProcessed time.Duration
	started := 0
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		var bodies [][]byte
		before := repo.Git("rev-parse", "HEAD")
		for j := range distinct {
			after := repo.Commit(fmt.Sprintf("burst %d.%d", i, j), map[string]string{"n.txt": fmt.Sprintf("%d.%d\n", i, j)})
			bodies = append(bodies, benchPushBody(b, repo, "acme/burst", before, after))
			before = after
		}
		repo.Push()
		type request struct {
			h    http.Header
			body []byte
		}
		var reqs []request
		for _, body := range bodies {
			reqs = append(reqs, request{srcGitHubHeaders("push", uuid.NewString(), srcHookSecret, body), body})
		}
		for j := range replays {
			reqs = append(reqs, reqs[j*distinct/replays]) // the same delivery again, id and all
		}
		first, _ := s.app.db.Read().ListWebhookDeliveries(ctx, "bench", 0, 1)
		b.StartTimer()

		times := make([]time.Duration, len(reqs))
		codes := make([]int, len(reqs))
		gate := make(chan struct{})
		var wg sync.WaitGroup
		sent := time.Now()
		for j, r := range reqs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				start := time.Now()
				codes[j], _ = srcSendHook(b, s.URL, "bench", r.h, r.body)
				times[j] = time.Since(start)
			}()
		}
		close(gate)
		wg.Wait()
		var batch []store.WebhookDelivery
		for {
			list, err := s.app.db.Read().ListWebhookDeliveries(ctx, "bench", 0, 1000)
			if err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
			pending := 0
			for _, d := range list {
				if len(first) > 0 && d.Seq <= first[0].Seq {
					continue
				}
				batch = append(batch, d)
				if d.Status == store.WebhookPending {
					pending++
				}
			}
			if pending == 0 && len(batch) == len(reqs) {
				break
			}
			if time.Since(sent) > 2*time.Minute {
				b.Fatalf("%d deliveries recorded, %d pending after 2 minutes", len(batch), pending)
			}
			time.Sleep(5 * time.Millisecond)
		}
		allProcessed += time.Since(sent)
		b.StopTimer()
		answers = append(answers, times...)
		counts := map[string]int{}
		for _, d := range batch {
			counts[d.Status]++
		}
		for j, c := range codes {
			if c != http.StatusAccepted {
				b.Fatalf("request %d answered %d", j, c)
			}
		}
		if counts[store.WebhookStarted] != distinct || counts[store.WebhookDuplicate] != replays {
			b.Fatalf("verdicts %v, want %d started and %d duplicates", counts, distinct, replays)
		}
		started += distinct
		b.StartTimer()
	}
	b.StopTimer()
	execs := 0
	next := ""
	for {
		page, tok, err := s.app.engine.ListExecutions(ctx, "bench-ci", "", next, 100)
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range page {
			if e.Trigger.TriggerType == pipeline.TriggerWebhook {
				execs++
			}
		}
		if next = tok; next == "" {
			break
		}
	}
	if execs != started {
		b.Fatalf("%d Webhook executions, want %d", execs, started)
	}
	if st := s.app.db.Stats(); st.BusyErrors != 0 {
		b.Fatalf("SQLITE_BUSY seen %d times", st.BusyErrors)
	}
	if log := s.log.String(); strings.Contains(log, "SQLITE_BUSY") || strings.Contains(log, "database busy") || strings.Contains(log, "locked") {
		b.Fatalf("the server log shows contention:\n%s", log)
	}
	sort.Slice(answers, func(i, j int) bool { return answers[i] < answers[j] })
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(answers[len(answers)/2]), "p50-answer-ms")
	b.ReportMetric(ms(answers[len(answers)*99/100]), "p99-answer-ms")
	b.ReportMetric(ms(answers[len(answers)-1]), "max-answer-ms")
	b.ReportMetric(ms(allProcessed/time.Duration(b.N)), "ms/100-all-processed")
}
