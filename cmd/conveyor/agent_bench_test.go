package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkAgentIdleRSS measures a registered `conveyor agent` waiting for work (long-polling a
// real server process): its resident set once idle, and its peak. The baseline, from the same
// run, is the peak resident set of the same binary running `conveyor version` (what loading the
// binary and its package initialisation cost before any work). Target: idle RSS under 20 MB.
func BenchmarkAgentIdleRSS(b *testing.B) {
	bin := conveyorBin(b)
	var baselineKB int64
	for range 3 {
		cmd := exec.Command(bin, "version")
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		baselineKB = max(baselineKB, cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss)
	}

	data := b.TempDir()
	srv := exec.Command(bin, "server", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn")
	srv.Env = append(os.Environ(), "CONVEYOR_ADMIN_ACCESS_KEY_ID="+testAdminKey, "CONVEYOR_ADMIN_SECRET_ACCESS_KEY="+testAdminSecret)
	out, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		b.Fatalf("server printed nothing: %v", err)
	}
	url, _, _ := strings.Cut(strings.TrimPrefix(line, "Conveyor is running at "), " ")

	var idleKB, peakKB int64
	b.ResetTimer()
	for i := range b.N {
		tok := exec.Command(bin, "agents", "token", "create", "--endpoint", url)
		tok.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+testAdminKey, "AWS_SECRET_ACCESS_KEY="+testAdminSecret)
		token, err := tok.Output()
		if err != nil {
			b.Fatalf("agents token create: %v", err)
		}
		root := b.TempDir()
		agent := exec.Command(bin, "agent", "--server", url, "--token", strings.TrimSpace(string(token)),
			"--name", "bench-"+strconv.Itoa(i), "--root", root, "--log-level", "warn")
		if err := agent.Start(); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for { // registered: the identity file is written just before the first poll
			if _, err := os.Stat(filepath.Join(root, "agent.json")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("the agent did not register within 30s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		// Sample while it waits in its long poll; keep the largest.
		for range 10 {
			time.Sleep(100 * time.Millisecond)
			idleKB = max(idleKB, rss(agent.Process.Pid))
		}
		peakKB = max(peakKB, peakRSS(agent.Process.Pid))
		agent.Process.Signal(syscall.SIGTERM)
		agent.Wait()
	}
	b.StopTimer()
	b.ReportMetric(float64(idleKB)/1024, "MiB-agent-idle-RSS")
	b.ReportMetric(float64(peakKB)/1024, "MiB-agent-peak-RSS")
	b.ReportMetric(float64(baselineKB)/1024, "MiB-version-baseline-RSS")
}
