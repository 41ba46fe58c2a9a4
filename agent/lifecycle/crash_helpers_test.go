package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/agent/protocol"
)

// TestMain lets the test binary play an agent process that can be killed: with
// LIFECYCLE_TEST_CHILD set it runs the command in that variable on the root in
// LIFECYCLE_TEST_ROOT, fetching bundles from LIFECYCLE_TEST_BUNDLES.
func TestMain(m *testing.M) {
	if spec := os.Getenv("LIFECYCLE_TEST_CHILD"); spec != "" {
		var cmd protocol.Command
		if err := json.Unmarshal([]byte(spec), &cmd); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		x, err := New(Config{Root: os.Getenv("LIFECYCLE_TEST_ROOT"), Fetcher: dirFetcher{os.Getenv("LIFECYCLE_TEST_BUNDLES")}})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		x.Run(context.Background(), cmd, &recorder{})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startChildAgent(t *testing.T, w *world, cmd protocol.Command) *exec.Cmd {
	t.Helper()
	spec, _ := json.Marshal(cmd)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "LIFECYCLE_TEST_CHILD="+string(spec), "LIFECYCLE_TEST_ROOT="+w.root, "LIFECYCLE_TEST_BUNDLES="+w.bundles)
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Process.Kill(); child.Wait() })
	return child
}

// waitFor polls cond across a process boundary, with a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func killPidFile(file string) {
	if b, err := os.ReadFile(file); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}
