package main

// Deployment benchmarks against the real `conveyor server` process (make bench sets CONVEYOR_BIN),
// with scripted agents on loopback in this process:
//
//   - BenchmarkDeployFirstEvent: CreateDeployment → the first lifecycle event reported by an idle
//     agent (target: under 100 ms); baseline: one GetDeployment round trip.
//   - BenchmarkDeployAllAtOnce50: 50 agents, AllAtOnce, no-op hooks: CreateDeployment → the
//     deployment succeeded (target: under 3 s), and the server's RSS; baseline: the same number of
//     HTTP requests (16 per agent, 50 at a time) to /healthz.
//   - BenchmarkDeployOneAtATime10: 10 agents, OneAtATime, every hook 20 ms: the wall time beyond the
//     hooks' own 10 × 7 × 20 ms, per host.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/server/agentapi"
)

// benchServer is a `conveyor server` process on a fresh data directory.
type benchServer struct {
	url string
	pid int
	cfg *clientConfig
}

func startBenchServer(b *testing.B) *benchServer {
	b.Helper()
	bin := conveyorBin(b)
	data := b.TempDir()
	cmd := exec.Command(bin, "server", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn")
	cmd.Env = append(os.Environ(), "CONVEYOR_ADMIN_ACCESS_KEY_ID="+testAdminKey, "CONVEYOR_ADMIN_SECRET_ACCESS_KEY="+testAdminSecret)
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("server printed nothing: %v", err)
	}
	url, _, _ := strings.Cut(strings.TrimPrefix(line, "Conveyor is running at "), " ")
	b.Setenv("AWS_ACCESS_KEY_ID", testAdminKey)
	b.Setenv("AWS_SECRET_ACCESS_KEY", testAdminSecret)
	endpoint, region, dataDir, output := url, "local", data, "text"
	return &benchServer{url: url, pid: cmd.Process.Pid, cfg: &clientConfig{endpoint: &endpoint, region: &region, data: &dataDir, output: &output}}
}

// agents registers n scripted agents tagged role=<role>.
func (s *benchServer) agents(b *testing.B, role string, n int) []*scriptedAgent {
	b.Helper()
	ctx := context.Background()
	var out []*scriptedAgent
	for i := 1; i <= n; i++ {
		var tok agentapi.TokenResponse
		if err := s.cfg.restJSON(ctx, "POST", "/api/v1/agents/tokens", agentapi.TokenRequest{ExpiresInSeconds: 600}, &tok); err != nil {
			b.Fatal(err)
		}
		a := registerAgent(b, s.url, tok.Token, fmt.Sprintf("%s-%d", role, i), map[string]string{"role": role})
		a.http = &http.Client{Timeout: 2 * protocol.MaxWait, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		out = append(out, a)
	}
	return out
}

// group creates an application and a group of role=<role> hosts, and uploads a revision.
func (s *benchServer) group(b *testing.B, cd *codedeploy.Client, group, config string) *cdtypes.RevisionLocation {
	b.Helper()
	ctx := context.Background()
	if _, err := cd.GetApplication(ctx, &codedeploy.GetApplicationInput{ApplicationName: aws.String("bench")}); err != nil {
		if _, err := cd.CreateApplication(ctx, &codedeploy.CreateApplicationInput{ApplicationName: aws.String("bench")}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := cd.CreateDeploymentGroup(ctx, &codedeploy.CreateDeploymentGroupInput{ApplicationName: aws.String("bench"),
		DeploymentGroupName: aws.String(group), ServiceRoleArn: aws.String("arn:aws:iam::123456789012:role/unused"), DeploymentConfigName: aws.String(config),
		OnPremisesInstanceTagFilters: []cdtypes.TagFilter{{Key: aws.String("role"), Value: aws.String(group), Type: cdtypes.TagFilterTypeKeyAndValue}}}); err != nil {
		b.Fatal(err)
	}
	if err := s.cfg.rest(ctx, "PUT", "/api/v1/buckets/bench/objects/"+group+".zip", bytes.NewReader(revisionZip(b, group)), nil); err != nil {
		b.Fatal(err)
	}
	return &cdtypes.RevisionLocation{RevisionType: cdtypes.RevisionLocationTypeS3,
		S3Location: &cdtypes.S3Location{Bucket: aws.String("bench"), Key: aws.String(group + ".zip"), BundleType: cdtypes.BundleTypeZip}}
}

// play runs a command: every event InProgress then Succeeded after hook, then the completion.
// started (if not nil) hears when the first event's report was answered.
func play(a *scriptedAgent, cmd *protocol.Command, hook time.Duration, started chan<- time.Time) {
	for i, ev := range cmd.Events {
		a.event(cmd.ID, ev, protocol.StatusInProgress, nil)
		if i == 0 && started != nil {
			started <- time.Now()
		}
		if hook > 0 {
			time.Sleep(hook) // the hook's own run time
		}
		a.event(cmd.ID, ev, protocol.StatusSucceeded, nil)
	}
	a.complete(cmd.ID, protocol.StatusSucceeded)
}

// serveAgents runs agents in the background until the benchmark ends; done hears each completion.
func serveAgents(b *testing.B, agents []*scriptedAgent, hook time.Duration, started chan<- time.Time, done chan<- string) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				cmd := a.pollCtx(ctx)
				if cmd == nil {
					continue
				}
				play(a, cmd, hook, started)
				done <- a.name
			}
		}()
	}
	b.Cleanup(func() { cancel(); wg.Wait() })
}

func awaitSucceeded(b *testing.B, cd *codedeploy.Client, id string) {
	b.Helper()
	for {
		out, err := cd.GetDeployment(context.Background(), &codedeploy.GetDeploymentInput{DeploymentId: aws.String(id)})
		if err != nil {
			b.Fatal(err)
		}
		switch out.DeploymentInfo.Status {
		case cdtypes.DeploymentStatusSucceeded:
			return
		case cdtypes.DeploymentStatusFailed, cdtypes.DeploymentStatusStopped:
			b.Fatalf("deployment %s %s: %+v", id, out.DeploymentInfo.Status, out.DeploymentInfo.ErrorInformation)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func BenchmarkDeployFirstEvent(b *testing.B) {
	s := startBenchServer(b)
	cd, err := s.cfg.codeDeploy()
	if err != nil {
		b.Fatal(err)
	}
	rev := s.group(b, cd, "first", "CodeDeployDefault.AllAtOnce")
	started, done := make(chan time.Time, 1), make(chan string, 1)
	serveAgents(b, s.agents(b, "first", 1), 0, started, done)
	ctx := context.Background()
	in := &codedeploy.CreateDeploymentInput{ApplicationName: aws.String("bench"), DeploymentGroupName: aws.String("first"), Revision: rev}
	var total, baseline time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		out, err := cd.CreateDeployment(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		total += (<-started).Sub(t0)
		<-done // the deployment ended with the agent's completion
		b.StopTimer()
		t1 := time.Now()
		if _, err := cd.GetDeployment(ctx, &codedeploy.GetDeploymentInput{DeploymentId: out.DeploymentId}); err != nil {
			b.Fatal(err)
		}
		baseline += time.Since(t1)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/first-event")
	b.ReportMetric(float64(baseline.Microseconds())/1000/float64(b.N), "ms/api-call-baseline")
}

func BenchmarkDeployAllAtOnce50(b *testing.B) {
	const n = 50
	s := startBenchServer(b)
	cd, err := s.cfg.codeDeploy()
	if err != nil {
		b.Fatal(err)
	}
	rev := s.group(b, cd, "fleet", "CodeDeployDefault.AllAtOnce")
	agents := s.agents(b, "fleet", n)
	done := make(chan string, n)
	serveAgents(b, agents, 0, nil, done)
	// Baseline: the same number of requests (7 events × 2 + poll + completion per host) to
	// /healthz, 50 clients at once.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	t0 := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 16 {
				if resp, err := client.Get(s.url + "/healthz"); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	wg.Wait()
	baseline := time.Since(t0)
	per := timeDeployments(b, cd, "fleet", rev, n, done)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/deployment")
	b.ReportMetric(float64(baseline.Microseconds())/1000, "ms/http-baseline")
	b.ReportMetric(float64(rss(s.pid))/1024, "MiB-server-RSS")
	b.ReportMetric(float64(peakRSS(s.pid))/1024, "MiB-server-peak-RSS")
}

func BenchmarkDeployOneAtATime10(b *testing.B) {
	const n, hook = 10, 20 * time.Millisecond
	s := startBenchServer(b)
	cd, err := s.cfg.codeDeploy()
	if err != nil {
		b.Fatal(err)
	}
	rev := s.group(b, cd, "serial", "CodeDeployDefault.OneAtATime")
	done := make(chan string, n)
	serveAgents(b, s.agents(b, "serial", n), hook, nil, done)
	hooks := time.Duration(n*len(protocol.InPlaceEvents)) * hook
	per := timeDeployments(b, cd, "serial", rev, n, done)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/deployment")
	b.ReportMetric(float64(hooks.Microseconds())/1000, "ms-hooks-own")
	b.ReportMetric(float64((per-hooks).Microseconds())/1000/n, "ms-overhead/host")
}

// timeDeployments runs b.N deployments of a group of n hosts one after the other and returns the
// mean time from CreateDeployment to Succeeded.
func timeDeployments(b *testing.B, cd *codedeploy.Client, group string, rev *cdtypes.RevisionLocation, n int, done <-chan string) time.Duration {
	ctx := context.Background()
	in := &codedeploy.CreateDeploymentInput{ApplicationName: aws.String("bench"), DeploymentGroupName: aws.String(group), Revision: rev}
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		out, err := cd.CreateDeployment(ctx, in)
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			<-done
		}
		awaitSucceeded(b, cd, aws.ToString(out.DeploymentId))
		total += time.Since(t0)
	}
	b.StopTimer()
	return total / time.Duration(b.N)
}

// peakRSS reads a process's peak resident set size (VmHWM) in KiB.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb
		}
	}
	return 0
}
