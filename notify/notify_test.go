package notify_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/executor/fake"
	"github.com/conveyorci/conveyor/notify"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
)

// receiver is a local webhook endpoint: it checks each delivery's signature, answers the first
// `fail` requests with 500, and hands accepted messages to the test.
type receiver struct {
	srv    *httptest.Server
	secret []byte
	fail   int
	status int // answer with this status instead of 500 while failing

	mu       sync.Mutex
	requests int
	got      chan received
}

type received struct {
	msg     notify.Message
	raw     []byte
	headers http.Header
}

func newReceiver(t *testing.T, secret string, fail int) *receiver {
	r := &receiver{secret: []byte(secret), fail: fail, got: make(chan received, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.requests++
		n := r.requests
		r.mu.Unlock()
		if len(r.secret) > 0 {
			if err := notify.Verify(r.secret, req.Header.Get(notify.HeaderSignature), body, time.Now(), 5*time.Minute); err != nil {
				t.Errorf("delivery %d: signature: %v", n, err)
				http.Error(w, "bad signature", http.StatusUnauthorized)
				return
			}
		}
		if n <= r.fail {
			status := r.status
			if status == 0 {
				status = http.StatusInternalServerError
			}
			http.Error(w, "not now", status)
			return
		}
		var m notify.Message
		_ = json.Unmarshal(body, &m)
		r.got <- received{msg: m, raw: body, headers: req.Header.Clone()}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case m := <-r.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery within 10s")
	}
	return received{}
}

type env struct {
	db  *store.DB
	svc *notify.Service
	// attempts receives "target status" after each recorded attempt.
	attempts chan string
}

// await waits for n recorded attempts with the given outcome.
func (e *env) await(t *testing.T, n int, status string) {
	t.Helper()
	for n > 0 {
		select {
		case a := <-e.attempts:
			if strings.HasSuffix(a, " "+status) {
				n--
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("still waiting for %d attempts ending %s", n, status)
		}
	}
}

func setup(t *testing.T, backoff ...time.Duration) *env {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sealer, _ := store.NewSealer(key)
	if err := db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.PutSecret(ctx, sealer, "hook-key", "s3cret-signing-key", "")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if backoff == nil {
		backoff = []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}
	}
	attempts := make(chan string, 100)
	svc := notify.New(notify.Config{DB: db, Secrets: build.StoreSecrets{DB: db, Sealer: sealer}, BaseURL: "https://ci.example.com",
		Backoff: backoff, Timeout: 5 * time.Second, OnAttempt: func(_, target, status string) { attempts <- target + " " + status }})
	svc.Start(ctx)
	t.Cleanup(svc.Close)
	return &env{db: db, svc: svc, attempts: attempts}
}

func (e *env) target(t *testing.T, tg notify.Target) {
	t.Helper()
	if _, err := e.svc.PutTarget(context.Background(), tg); err != nil {
		t.Fatal(err)
	}
}

func (e *env) rule(t *testing.T, r notify.Rule) {
	t.Helper()
	if _, err := e.svc.PutRule(context.Background(), r); err != nil {
		t.Fatal(err)
	}
}

func TestExecutionEventsAreSignedAndRetried(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	recv := newReceiver(t, "s3cret-signing-key", 2) // the first two attempts fail
	e.target(t, notify.Target{Name: "team", Type: notify.TypeWebhook, URL: recv.srv.URL + "/hook", SigningSecret: "hook-key", AllowPrivateAddresses: true})
	e.rule(t, notify.Rule{Name: "all", Events: []string{notify.ExecutionStarted, notify.ExecutionSucceeded, notify.ExecutionFailed}, Targets: []string{"team"}})

	// A real engine with the fake provider, observed by the service.
	f := fake.New(16)
	go func() {
		for range f.Started {
		}
	}()
	reg := executor.NewRegistry()
	fake.Register(reg, f)
	eng := pipeline.New(pipeline.Config{DB: e.db, Providers: reg, Observer: e.svc})
	if err := eng.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = eng.Close(ctx) })
	decl := `{"pipeline":{"name":"shop","stages":[
		{"name":"Source","actions":[{"name":"Src","actionTypeId":{"category":"Source","owner":"Custom","provider":"Fake","version":"1"},"outputArtifacts":[{"name":"Out"}]}]},
		{"name":"Work","actions":[{"name":"Job","actionTypeId":{"category":"Build","owner":"Custom","provider":"Fake","version":"1"},
		  "inputArtifacts":[{"name":"Out"}],"configuration":{"Result":"Failed","Summary":"tests <b>failed</b>"}}]}]}}`
	if _, err := eng.CreatePipeline(ctx, []byte(decl), nil, "user/alice"); err != nil {
		t.Fatal(err)
	}
	events := map[string]received{}
	for len(events) < 2 {
		r := recv.next(t)
		events[r.msg.Event] = r
	}
	started, failed := events[notify.ExecutionStarted], events[notify.ExecutionFailed]
	if started.msg.Pipeline != "shop" || failed.msg.Status != "Failed" || failed.msg.PipelineExecutionID == "" ||
		failed.msg.URL != "https://ci.example.com/pipelines/shop/executions/"+failed.msg.PipelineExecutionID {
		t.Fatalf("messages: started %+v, failed %+v", started.msg, failed.msg)
	}
	if failed.msg.Trigger == nil || failed.msg.Trigger.Type != "CreatePipeline" || failed.msg.Trigger.Detail != "user/alice" {
		t.Fatalf("trigger = %+v", failed.msg.Trigger)
	}
	if h := failed.headers; h.Get(notify.HeaderEvent) != notify.ExecutionFailed || h.Get(notify.HeaderDelivery) != failed.msg.DeliveryID ||
		h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers = %v", h)
	}
	// Two attempts failed before one got through: the record says so.
	e.await(t, 2, store.DeliveryDelivered)
	list, err := e.svc.Deliveries(ctx, store.DeliveryFilter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("deliveries = %+v, %v", list, err)
	}
	attempts := 0
	for _, d := range list {
		if d.Status != store.DeliveryDelivered {
			t.Errorf("delivery %s is %s", d.ID, d.Status)
		}
		attempts += d.Attempts
	}
	if attempts != 4 {
		t.Fatalf("attempts = %d, want 4 (two failures, then both delivered)", attempts)
	}
}

func TestFailuresAreRecordedAndRetriable(t *testing.T) {
	e := setup(t, 5*time.Millisecond)
	ctx := context.Background()
	down := newReceiver(t, "", 1000) // always 500
	gone := newReceiver(t, "", 1000)
	gone.status = http.StatusGone // a 4xx is final at once
	e.target(t, notify.Target{Name: "down", Type: notify.TypeSlack, URL: down.srv.URL, AllowPrivateAddresses: true})
	e.target(t, notify.Target{Name: "gone", Type: notify.TypeSlack, URL: gone.srv.URL, AllowPrivateAddresses: true})
	e.rule(t, notify.Rule{Name: "approvals", Events: []string{notify.ApprovalNeeded}, Targets: []string{"down", "gone"}})
	e.svc.ApprovalNeeded(ctx, executor.Job{PipelineName: "shop", PipelineExecutionID: "ex-1", StageName: "Gate", ActionName: "Ok",
		ActionExecutionID: "ae-1", Deadline: time.Now().Add(time.Hour)})
	e.await(t, 2, store.DeliveryFailed)
	failed, _ := e.svc.Deliveries(ctx, store.DeliveryFilter{Status: store.DeliveryFailed})
	byTarget := map[string]store.Delivery{}
	for _, d := range failed {
		byTarget[d.Target] = d
	}
	if d := byTarget["down"]; d.Attempts != 2 || d.LastStatus != 500 || !strings.Contains(d.LastError, "gave up after 2 attempts") {
		t.Fatalf("down: %+v", d)
	}
	if d := byTarget["gone"]; d.Attempts != 1 || d.LastStatus != http.StatusGone {
		t.Fatalf("gone: %+v (a 4xx answer is not retried)", d)
	}
	// An admin retries by hand once the receiver is back.
	down.mu.Lock()
	down.fail = 0
	down.mu.Unlock()
	if err := e.svc.RetryDelivery(ctx, byTarget["down"].ID); err != nil {
		t.Fatal(err)
	}
	if r := down.next(t); !strings.Contains(string(r.raw), `"blocks"`) {
		t.Fatalf("slack body = %s", r.raw)
	}
	if err := e.svc.RetryDelivery(ctx, "no-such-delivery"); err == nil {
		t.Fatal("retrying an unknown delivery must fail")
	}
}

func TestApprovalNotificationNamesItsTarget(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	recv := newReceiver(t, "s3cret-signing-key", 0)
	e.target(t, notify.Target{Name: "approvers", Type: notify.TypeWebhook, URL: recv.srv.URL, SigningSecret: "hook-key", AllowPrivateAddresses: true})
	expires := time.Now().Add(7 * 24 * time.Hour).UTC().Truncate(time.Second)
	job := executor.Job{PipelineName: "shop", PipelineExecutionID: "ex-9", StageName: "Approve", ActionName: "Release", ActionExecutionID: "ae-9",
		Deadline: expires, Configuration: map[string]string{"CustomData": "Ship <v2>?", "ExternalEntityLink": "https://example.com/diff",
			"NotificationArn": "arn:aws:sns:local:000000000000:approvers"}}
	e.svc.ApprovalNeeded(ctx, job)
	e.svc.ApprovalNeeded(ctx, job) // the same approval twice (a resumed executor): one message
	r := recv.next(t)
	a := r.msg.Approval
	if r.msg.Event != notify.ApprovalNeeded || a == nil || a.CustomData != "Ship <v2>?" || a.ExternalEntityLink != "https://example.com/diff" ||
		!a.Expires.Equal(expires) || a.URL != "https://ci.example.com/pipelines/shop/executions/ex-9/approvals/Approve/Release" {
		t.Fatalf("approval message = %+v / %+v", r.msg, a)
	}
	// A NotificationArn naming no target is a visible failure, not a silent drop.
	job.ActionExecutionID, job.Configuration["NotificationArn"] = "ae-10", "nobody"
	e.svc.ApprovalNeeded(ctx, job)
	e.await(t, 1, store.DeliveryFailed)
	if failed, _ := e.svc.Deliveries(ctx, store.DeliveryFilter{Status: store.DeliveryFailed}); len(failed) != 1 ||
		!strings.Contains(failed[0].LastError, "target nobody does not exist") {
		t.Fatalf("failed deliveries: %+v", failed)
	}
	// Events are handled in order, so both announcements of ae-9 were handled by now: one delivery.
	if all, _ := e.svc.Deliveries(ctx, store.DeliveryFilter{}); len(all) != 2 {
		t.Fatalf("deliveries = %+v, want one for ae-9 and one for ae-10", all)
	}
}

func TestDeploymentHook(t *testing.T) {
	e := setup(t)
	recv := newReceiver(t, "s3cret-signing-key", 0)
	e.target(t, notify.Target{Name: "ops", Type: notify.TypeWebhook, URL: recv.srv.URL, SigningSecret: "hook-key", AllowPrivateAddresses: true})
	e.rule(t, notify.Rule{Name: "deploys", Events: []string{notify.DeploymentRolledBack}, Pipelines: []string{"shop"}, Targets: []string{"ops"}})
	var hook notify.DeploymentNotifier = e.svc
	hook.DeploymentChanged(context.Background(), notify.DeploymentEvent{DeploymentID: "d-1", Status: "Succeeded", Pipeline: "shop"})
	hook.DeploymentChanged(context.Background(), notify.DeploymentEvent{DeploymentID: "d-2", Status: "RolledBack", Pipeline: "other"})
	hook.DeploymentChanged(context.Background(), notify.DeploymentEvent{DeploymentID: "d-3", Application: "web", DeploymentGroup: "prod",
		Status: "RolledBack", Pipeline: "shop", Message: "alarm fired", Path: "/deployments/d-3"})
	r := recv.next(t)
	if d := r.msg.Deployment; d == nil || d.ID != "d-3" || r.msg.URL != "https://ci.example.com/deployments/d-3" || d.Message != "alarm fired" {
		t.Fatalf("deployment message = %+v", r.msg)
	}
}

func TestTargetsAndRulesAreValidated(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	var ve *notify.ValidationError
	for _, tc := range []struct {
		t    notify.Target
		want string
	}{
		{notify.Target{Name: "a", Type: "webhok", URL: "https://x.example", SigningSecret: "hook-key"}, `did you mean "webhook"`},
		{notify.Target{Name: "a", Type: notify.TypeWebhook, URL: "https://x.example"}, "signingSecret: required"},
		{notify.Target{Name: "a", Type: notify.TypeSlack, URL: "ftp://x.example"}, "url: the URL must start with https://"},
		{notify.Target{Name: "a", Type: notify.TypeSlack, URL: "http://127.0.0.1:9/x"}, "not a public address"},
		{notify.Target{Name: "a", Type: notify.TypeSlack, URL: "http://169.254.169.254/latest"}, "not a public address"},
		{notify.Target{Name: "a", Type: notify.TypeSlack, URL: "http://localhost/x"}, "loopback"},
		{notify.Target{Name: "a", Type: notify.TypeSlack, URL: "https://user:pw@x.example"}, "user name or password"},
		{notify.Target{Name: "a", Type: notify.TypeWebhook, URL: "https://x.example", SigningSecret: "missing-secret"}, `secret "missing-secret" does not exist`},
		{notify.Target{Name: "../x", Type: notify.TypeSlack, URL: "https://x.example"}, "name:"},
	} {
		_, err := e.svc.PutTarget(ctx, tc.t)
		if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("PutTarget(%+v) = %v, want %q", tc.t, err, tc.want)
		}
	}
	_, err := e.svc.PutRule(ctx, notify.Rule{Name: "r", Events: []string{"execution.faild"}, Targets: []string{"nobody"}})
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), `did you mean "execution.failed"`) {
		t.Fatalf("bad event: %v", err)
	}
	_, err = e.svc.PutRule(ctx, notify.Rule{Name: "r", Events: []string{notify.ExecutionFailed}, Targets: []string{"nobody"}})
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), `target "nobody" does not exist`) {
		t.Fatalf("unknown target: %v", err)
	}
	e.target(t, notify.Target{Name: "hook", Type: notify.TypeSlack, URL: "https://hooks.example.com/x"})
	e.rule(t, notify.Rule{Name: "r", Events: []string{notify.ExecutionFailed}, Targets: []string{"hook"}})
	var cf *notify.ConflictError
	if err := e.svc.DeleteTarget(ctx, "hook"); !errors.As(err, &cf) {
		t.Fatalf("deleting a target a rule uses: %v", err)
	}
	if err := e.svc.DeleteRule(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteTarget(ctx, "hook"); err != nil {
		t.Fatal(err)
	}
	var nf *notify.NotFoundError
	if err := e.svc.DeleteTarget(ctx, "hook"); !errors.As(err, &nf) {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestSignatureAndSlackFormat(t *testing.T) {
	body := []byte(`{"event":"x"}`)
	now := time.Unix(1_700_000_000, 0)
	sig := notify.Sign([]byte("k"), now, body)
	if !strings.HasPrefix(sig, "t=1700000000,v1=") {
		t.Fatalf("signature header = %q", sig)
	}
	if err := notify.Verify([]byte("k"), sig, body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other key":     notify.Verify([]byte("other"), sig, body, now, time.Minute),
		"changed body":  notify.Verify([]byte("k"), sig, []byte(`{"event":"y"}`), now, time.Minute),
		"replayed late": notify.Verify([]byte("k"), sig, body, now.Add(time.Hour), 5*time.Minute),
		"malformed":     notify.Verify([]byte("k"), "v1=00", body, now, time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	m := notify.Message{Event: notify.ExecutionFailed, Pipeline: "shop", PipelineExecutionID: "0123456789", Summary: "<script>alert(1)</script> & more",
		URL: "https://ci.example.com/pipelines/shop/executions/0123456789"}
	raw, err := m.SlackBody()
	if err != nil {
		t.Fatal(err)
	}
	var slack struct {
		Text   string `json:"text"`
		Blocks []struct {
			Text struct{ Text string } `json:"text"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(raw, &slack); err != nil {
		t.Fatal(err)
	}
	text := slack.Blocks[0].Text.Text
	if slack.Text != "shop: execution 01234567 failed" || !strings.Contains(text, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more") ||
		!strings.Contains(text, "<https://ci.example.com/pipelines/shop/executions/0123456789|shop: execution 01234567 failed>") {
		t.Fatalf("slack body = %s", raw)
	}
}

func TestOneTargetReceivesItsMessagesInOrder(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	// The first request is held until every later message is recorded, so the rest are due together.
	release := make(chan struct{})
	var once sync.Once
	order := make(chan string, 20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		once.Do(func() { <-release })
		var m notify.Message
		_ = json.NewDecoder(req.Body).Decode(&m)
		order <- m.Deployment.ID
	}))
	t.Cleanup(srv.Close)
	unblock := sync.OnceFunc(func() { close(release) })
	t.Cleanup(unblock) // before srv.Close, so a failing test does not leave the handler blocked
	e.target(t, notify.Target{Name: "ops", Type: notify.TypeWebhook, URL: srv.URL, SigningSecret: "hook-key", AllowPrivateAddresses: true})
	e.rule(t, notify.Rule{Name: "all", Events: []string{notify.DeploymentSucceeded}, Targets: []string{"ops"}})
	const n = 12
	var want []string
	for i := range n {
		id := fmt.Sprintf("d-%02d", i)
		want = append(want, id)
		e.svc.DeploymentChanged(ctx, notify.DeploymentEvent{DeploymentID: id, Status: "Succeeded"})
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		all, err := e.svc.Deliveries(ctx, store.DeliveryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d deliveries recorded", len(all), n)
		}
		time.Sleep(2 * time.Millisecond) // polling stored state: nothing announces a recorded delivery
	}
	unblock()
	var got []string
	for range n {
		select {
		case id := <-order:
			got = append(got, id)
		case <-time.After(10 * time.Second):
			t.Fatalf("received %v, want %v", got, want)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("received %v, want %v (one target's messages in the order they happened)", got, want)
	}
}
