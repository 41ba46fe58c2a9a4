package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/executor/fake"
)

// The test binary doubles as a server process for tests that must kill one (SIGKILL durability):
// with CONVEYOR_TEST_SERVE=1 it runs `conveyor server` with the scriptable fake provider.
func TestMain(m *testing.M) {
	if os.Getenv("CONVEYOR_TEST_SERVE") == "1" {
		f := fake.New(1 << 16)
		go func() { // nobody reads Started in a separate process
			for range f.Started {
			}
		}()
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := runServerWith(ctx, os.Args[1:], os.Stdout, func(r *executor.Registry) { fake.Register(r, f) })
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const (
	testAdminKey    = "AKIATESTADMIN0000001"
	testAdminSecret = "test-admin-secret-0123456789"
)

// testServer is a Conveyor server running in this process on a loopback port.
type testServer struct {
	t    *testing.T
	app  *app
	URL  string
	Data string
	Fake *fake.Executor
}

// logWriter sends server logs to the test log while the test runs.
type logWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// startServer starts a server in this process; opts adjust its configuration (e.g. a short agent
// lease).
func startServer(t *testing.T, opts ...func(*serverConfig)) *testServer {
	t.Helper()
	s := &testServer{t: t, Data: t.TempDir(), Fake: fake.New(1 << 12)}
	go func() { // tests here await state through the API; drain the start notifications
		for range s.Fake.Started {
		}
	}()
	lw := &logWriter{t: t}
	log := slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := serverConfig{Data: s.Data, Region: "local", AdminKeyID: testAdminKey, AdminSecret: testAdminSecret,
		Providers: func(r *executor.Registry) { fake.Register(r, s.Fake) }}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s.app = a
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s.URL = "http://" + ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
		lw.mu.Lock()
		lw.done = true
		lw.mu.Unlock()
	})
	return s
}

// codePipeline returns an SDK client signed with the given key (admin when empty).
func codePipelineClient(url, key, secret string) *codepipeline.Client {
	if key == "" {
		key, secret = testAdminKey, testAdminSecret
	}
	return codepipeline.New(codepipeline.Options{
		Region: "local", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider(key, secret, ""),
		Retryer:     closedConnRetryer(),
	})
}

// closedConnRetryer retries nothing but a connection the client closed under its own request: the
// SDK can close a request body while the transport still reads it, and the transport then drops the
// connection (aws/aws-sdk-go-v2#2737). Every other error reaches the test on the first attempt.
func closedConnRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 3
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			// By text as well: the deserializer does not wrap the read error.
			return aws.BoolTernary(errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "use of closed network connection"))
		})}
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		o.RateLimiter = ratelimit.None
	})
}

// eventually polls cond until it holds: across the API (or a process boundary) there is no event
// to subscribe to, so tests await a state by asking for it.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serverProcess is a Conveyor server in a child process (the test binary in serve mode).
type serverProcess struct {
	cmd  *exec.Cmd
	URL  string
	logs *strings.Builder
	mu   *sync.Mutex
	done chan struct{}
}

func startServerProcess(t *testing.T, data string) *serverProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "--data", data, "--listen", "127.0.0.1:0", "--log-level", "info")
	cmd.Env = append(os.Environ(), "CONVEYOR_TEST_SERVE=1",
		"CONVEYOR_ADMIN_ACCESS_KEY_ID="+testAdminKey, "CONVEYOR_ADMIN_SECRET_ACCESS_KEY="+testAdminSecret)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, logs: &strings.Builder{}, mu: &sync.Mutex{}, done: make(chan struct{})}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		b, _ := io.ReadAll(stderr)
		p.mu.Lock()
		p.logs.Write(b)
		p.mu.Unlock()
		close(p.done)
	}()
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if url, ok := strings.CutPrefix(lines.Text(), "Conveyor is running at "); ok {
			p.URL, _, _ = strings.Cut(url, " ")
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if p.URL == "" {
		_ = cmd.Wait()
		<-p.done
		t.Fatalf("server process did not start:\n%s", p.logs.String())
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return p
}

// kill ends the process with SIGKILL, as a crash or an OOM kill would.
func (p *serverProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	<-p.done
}

func (p *serverProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}
