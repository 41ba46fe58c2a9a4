package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// conveyorBin is the built binary (make bench sets CONVEYOR_BIN); benchmarks of the real process
// need it.
func conveyorBin(b *testing.B) string {
	bin := os.Getenv("CONVEYOR_BIN")
	if bin == "" {
		b.Skip("set CONVEYOR_BIN to the built binary (make bench does)")
	}
	return bin
}

// BenchmarkServerStartToHealthy measures from exec of `conveyor server` on a fresh data directory
// to the first 200 on /healthz, and the idle RSS right after; the baseline is exec of the same
// binary running `conveyor version`, measured in the same run.
func BenchmarkServerStartToHealthy(b *testing.B) {
	bin := conveyorBin(b)
	var baseline time.Duration
	for i := 0; i < 5; i++ {
		start := time.Now()
		if err := exec.Command(bin, "version").Run(); err != nil {
			b.Fatal(err)
		}
		baseline += time.Since(start)
	}
	baseline /= 5
	var total time.Duration
	var rssKB int64
	client := &http.Client{Timeout: time.Second}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		data := b.TempDir()
		cmd := exec.Command(bin, "server", "--data", data, "--listen", "127.0.0.1:0", "--log-level", "warn")
		out, _ := cmd.StdoutPipe()
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			b.Fatalf("server printed nothing: %v", err)
		}
		url, _, _ := strings.Cut(strings.TrimPrefix(line, "Conveyor is running at "), " ")
		for {
			resp, err := client.Get(url + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
		}
		total += time.Since(start)
		rssKB = rss(cmd.Process.Pid)
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}
	b.StopTimer()
	per := total / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/start")
	b.ReportMetric(float64(baseline.Microseconds())/1000, "ms/exec-baseline")
	b.ReportMetric(float64(per)/float64(baseline), "start/exec")
	b.ReportMetric(float64(rssKB)/1024, "MiB-idle-RSS")
}

// rss reads a process's resident set size in KiB from /proc.
func rss(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
