package main

// End-to-end tests of the source side: a real git server (git's own smart HTTP backend behind
// net/http/cgi) that the git CLI pushes to, connections made with the CLI, pipelines made with
// the SDK, and webhooks shaped like GitHub's and Gitea's (the shared fixtures, rewritten to the
// test repository and its real commits, signed by the test).

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	cbtypes "github.com/aws/aws-sdk-go-v2/service/codebuild/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/executor/fake"
	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/executor/source/git/gittest"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/sourceapi"
	"github.com/conveyorci/conveyor/server/webhook"
	"github.com/conveyorci/conveyor/store"
)

const srcHookSecret = "it's a secret to everybody"

// --- a server the benchmarks and restart tests can start on a given data directory ---

// srcServer is a Conveyor server in this process whose fake provider's starts are not drained:
// the benchmark reads them to see the next stage start.
type srcServer struct {
	URL, Data string
	app       *app
	fake      *fake.Executor
	log       *lockedBuffer
	stop      func()
}

func startSrcServer(tb testing.TB, data string) *srcServer {
	tb.Helper()
	s := &srcServer{Data: data, fake: fake.New(1 << 14), log: &lockedBuffer{}}
	log := slog.New(slog.NewTextHandler(s.log, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := serverConfig{Data: data, Region: "local", AdminKeyID: testAdminKey, AdminSecret: testAdminSecret,
		Providers: func(r *executor.Registry) { fake.Register(r, s.fake) }}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := openApp(ctx, cfg, log)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	s.app, s.URL = a, "http://"+ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- a.serve(ctx, ln) }()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("server: %v", err)
			}
		})
	}
	tb.Cleanup(func() {
		s.stop()
		if tb.Failed() {
			tb.Logf("server log (warnings):\n%s", s.log.String())
		}
	})
	return s
}

// --- pipelines, connections, webhooks ---

// srcPipeline is Source (a git source action) → Work (the fake), optionally V2 with a trigger on
// the source action.
func srcPipeline(name string, source map[string]any, trigger map[string]any) []byte {
	d := map[string]any{
		"name": name,
		"stages": []any{
			map[string]any{"name": "Source", "actions": []any{source}},
			map[string]any{"name": "Work", "actions": []any{map[string]any{
				"name": "Job", "actionTypeId": map[string]string{"category": "Build", "owner": "Custom", "provider": "Fake", "version": "1"},
				"inputArtifacts": []any{map[string]string{"name": "Src"}},
			}}},
		},
	}
	if trigger != nil {
		d["pipelineType"] = "V2"
		d["triggers"] = []any{map[string]any{"providerType": "CodeStarSourceConnection", "gitConfiguration": trigger}}
	}
	b, _ := json.Marshal(map[string]any{"pipeline": d})
	return b
}

// srcCodeStarAction is a CodeStarSourceConnection source action named Source, output Src.
func srcCodeStarAction(arn, repo, branch string, extra map[string]string) map[string]any {
	cfg := map[string]string{"ConnectionArn": arn, "FullRepositoryId": repo, "BranchName": branch}
	for k, v := range extra {
		cfg[k] = v
	}
	return map[string]any{"name": "Source", "namespace": "SourceVariables",
		"actionTypeId":    map[string]string{"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
		"configuration":   cfg,
		"outputArtifacts": []any{map[string]string{"name": "Src"}}}
}

func srcConnectionArn(name string) string {
	return "arn:aws:codeconnections:local:000000000000:connection/" + name
}

// srcPushPayload rewrites a fixture push to the test repository and its commits.
func srcPushPayload(tb testing.TB, fixture, repoURL, ref, before, after string, listed []string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "server", "webhook", "testdata", fixture))
	if err != nil {
		tb.Fatal(err)
	}
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		tb.Fatal(err)
	}
	p["ref"], p["before"], p["after"] = ref, before, after
	p["repository"].(map[string]any)["clone_url"] = repoURL
	head := p["head_commit"].(map[string]any)
	head["id"] = after
	var commits []any
	for _, id := range listed {
		c := map[string]any{}
		for k, v := range head {
			c[k] = v
		}
		c["id"], c["modified"] = id, []string{"docs/notes.md"} // the payload's lists are never trusted
		commits = append(commits, c)
	}
	p["commits"] = commits
	if strings.Trim(after, "0") == "" {
		p["head_commit"] = nil
	}
	b, _ := json.Marshal(p)
	return b
}

func srcHMAC(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// srcGitHubHeaders are the headers of a GitHub delivery, signed with secret.
func srcGitHubHeaders(event, id, secret string, body []byte) http.Header {
	h := http.Header{"Content-Type": {"application/json"}, "X-Github-Event": {event}, "X-Github-Delivery": {id},
		"User-Agent": {"GitHub-Hookshot/test"}}
	if secret != "" {
		h.Set("X-Hub-Signature-256", "sha256="+srcHMAC(secret, body))
	}
	return h
}

// srcGiteaHeaders are the headers of a Gitea delivery, with its copies under Gogs' and GitHub's names.
func srcGiteaHeaders(event, id, secret string, body []byte) http.Header {
	sig := ""
	if secret != "" {
		sig = srcHMAC(secret, body)
	}
	h := http.Header{"Content-Type": {"application/json"}}
	for _, p := range []string{"X-Gitea-", "X-Gogs-", "X-Github-"} {
		h.Set(p+"Event", event)
		h.Set(p+"Delivery", id)
	}
	h.Set("X-Gitea-Signature", sig)
	h.Set("X-Gogs-Signature", sig)
	if sig != "" {
		sig = "sha256=" + sig
	}
	h.Set("X-Hub-Signature-256", sig)
	return h
}

var srcHookClient = &http.Client{Timeout: 30 * time.Second}

// srcSendHook posts a delivery to /webhooks/{connection} and returns the status and the answer.
func srcSendHook(tb testing.TB, serverURL, connection string, h http.Header, body []byte) (int, webhook.Answer) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, serverURL+"/webhooks/"+connection, bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header = h
	resp, err := srcHookClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var a webhook.Answer
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &a); err != nil {
		tb.Fatalf("webhook answer %d is not JSON: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, a
}

// srcDeliveries reads a connection's delivery log through the REST extra.
func srcDeliveries(t *testing.T, serverURL, connection string) []sourceapi.Delivery {
	t.Helper()
	code, body := restCall(t, serverURL, http.MethodGet, "/api/v1/connections/"+connection+"/deliveries?limit=1000", testAdminKey, testAdminSecret, nil)
	if code != http.StatusOK {
		t.Fatalf("deliveries: %d %s", code, body)
	}
	var res struct {
		Deliveries []sourceapi.Delivery `json:"deliveries"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	return res.Deliveries
}

// srcAwaitDelivery waits until delivery n is processed and returns it.
func srcAwaitDelivery(t *testing.T, serverURL, connection string, n int64) sourceapi.Delivery {
	t.Helper()
	var found sourceapi.Delivery
	eventually(t, fmt.Sprintf("delivery %d to be processed", n), 60*time.Second, func() bool {
		for _, d := range srcDeliveries(t, serverURL, connection) {
			if d.Delivery == n {
				found = d
				return d.Status != store.WebhookPending
			}
		}
		return false
	})
	return found
}

// srcExecutions lists a pipeline's executions (newest first) started by one trigger type.
func srcExecutions(t *testing.T, cp *codepipeline.Client, pipeline string, trigger types.TriggerType) []types.PipelineExecutionSummary {
	t.Helper()
	var out []types.PipelineExecutionSummary
	p := codepipeline.NewListPipelineExecutionsPaginator(cp, &codepipeline.ListPipelineExecutionsInput{PipelineName: aws.String(pipeline)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.PipelineExecutionSummaries {
			if e.Trigger != nil && e.Trigger.TriggerType == trigger {
				out = append(out, e)
			}
		}
	}
	return out
}

func srcAwaitSucceeded(t *testing.T, cp *codepipeline.Client, pipeline, id string) *types.PipelineExecution {
	t.Helper()
	var ex *types.PipelineExecution
	eventually(t, pipeline+" "+id+" to end", 120*time.Second, func() bool {
		out, err := cp.GetPipelineExecution(context.Background(), &codepipeline.GetPipelineExecutionInput{PipelineName: aws.String(pipeline), PipelineExecutionId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		ex = out.PipelineExecution
		return ex.Status != types.PipelineExecutionStatusInProgress
	})
	if ex.Status != types.PipelineExecutionStatusSucceeded {
		st, _ := cp.GetPipelineState(context.Background(), &codepipeline.GetPipelineStateInput{Name: aws.String(pipeline)})
		var why []string
		for _, s := range st.StageStates {
			for _, a := range s.ActionStates {
				if a.LatestExecution != nil && a.LatestExecution.ErrorDetails != nil {
					why = append(why, aws.ToString(a.LatestExecution.ErrorDetails.Message))
				}
			}
		}
		t.Fatalf("%s %s: %s %s", pipeline, id, ex.Status, strings.Join(why, "; "))
	}
	return ex
}

// srcSourceRun is the source action's execution in a pipeline execution.
func srcSourceRun(t *testing.T, cp *codepipeline.Client, pipeline, id string) types.ActionExecutionDetail {
	t.Helper()
	out, err := cp.ListActionExecutions(context.Background(), &codepipeline.ListActionExecutionsInput{PipelineName: aws.String(pipeline),
		Filter: &types.ActionExecutionFilter{PipelineExecutionId: aws.String(id)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range out.ActionExecutionDetails {
		if aws.ToString(a.StageName) == "Source" {
			return a
		}
	}
	t.Fatalf("no source action in %s", id)
	return types.ActionExecutionDetail{}
}

// srcEnv is a server, a git server with one repository, a connection to it and the CLI
// pointed at the server.
type srcEnv struct {
	s    *testServer
	cp   *codepipeline.Client
	git  *gittest.Server
	repo *gittest.Repo
	arn  string
}

func newSrcEnv(t *testing.T, repoPath, connection, provider string, extra ...string) *srcEnv {
	t.Helper()
	s := startServer(t)
	cliAgainst(t, s)
	e := &srcEnv{s: s, cp: codePipelineClient(s.URL, "", ""), git: gittest.NewServer(t)}
	e.repo = e.git.NewRepo(t, repoPath)
	e.repo.Commit("initial", map[string]string{"README.md": "# sample\n", "src/app.go": "package app\n"})
	e.repo.Push()
	args := append([]string{"connections", "create", connection, "--provider", provider, "--url", e.repo.URL,
		"--webhook-secret", srcHookSecret, "--allow-private-network"}, extra...)
	e.arn = strings.TrimSpace(mustCLI(t, args...))
	return e
}

func TestPushesStartExactlyOneExecutionAtTheCommit(t *testing.T) {
	for _, c := range []struct {
		provider, fixture, repoPath string
		headers                     func(event, id, secret string, body []byte) http.Header
	}{
		{"github", "github-push.json", "acme/sample-app", srcGitHubHeaders},
		{"gitea", "gitea-push.json", "team/sample-app", srcGiteaHeaders},
	} {
		t.Run(c.provider, func(t *testing.T) {
			e := newSrcEnv(t, c.repoPath, "app", c.provider)
			if e.arn != srcConnectionArn("app") {
				t.Fatalf("connections create printed %q, want the ARN alone", e.arn)
			}
			srcCreatePipeline(t, e.cp, srcPipeline("app-ci", srcCodeStarAction(e.arn, c.repoPath, "main", nil), nil))
			first := latestExecutionID(t, e.cp, "app-ci") // CreatePipeline's own execution builds the branch head
			srcAwaitSucceeded(t, e.cp, "app-ci", first)

			before := e.repo.Git("rev-parse", "HEAD")
			after := e.repo.Commit("app v1.1: serve on the new port", map[string]string{"main.go": "package main // 1.1\n"})
			e.repo.Push()
			body := srcPushPayload(t, c.fixture, e.repo.URL, "refs/heads/main", before, after, []string{after})
			code, ans := srcSendHook(t, e.s.URL, "app", c.headers("push", uuid.NewString(), srcHookSecret, body), body)
			if code != http.StatusAccepted || ans.Status != store.WebhookPending {
				t.Fatalf("push answered %d %+v", code, ans)
			}
			d := srcAwaitDelivery(t, e.s.URL, "app", ans.Delivery)
			if d.Status != store.WebhookStarted || len(d.Executions) != 1 || d.After != after || d.Sender == "" {
				t.Fatalf("delivery = %+v", d)
			}
			hooks := srcExecutions(t, e.cp, "app-ci", types.TriggerTypeWebhook)
			if len(hooks) != 1 || aws.ToString(hooks[0].PipelineExecutionId) != d.Executions[0].ExecutionID {
				t.Fatalf("%d Webhook executions, want exactly the delivery's one", len(hooks))
			}
			id := d.Executions[0].ExecutionID
			ex := srcAwaitSucceeded(t, e.cp, "app-ci", id)
			if len(ex.ArtifactRevisions) != 1 || aws.ToString(ex.ArtifactRevisions[0].RevisionId) != after ||
				aws.ToString(ex.ArtifactRevisions[0].RevisionSummary) != "app v1.1: serve on the new port" {
				t.Fatalf("artifactRevisions = %+v", ex.ArtifactRevisions)
			}
			if detail := aws.ToString(ex.Trigger.TriggerDetail); !strings.Contains(detail, e.arn) || !strings.Contains(detail, `"ref":"refs/heads/main"`) {
				t.Fatalf("trigger detail = %s", detail)
			}
			run := srcSourceRun(t, e.cp, "app-ci", id)
			vars := run.Output.OutputVariables
			if vars["CommitId"] != after || vars["BranchName"] != "main" || vars["FullRepositoryName"] != c.repoPath ||
				vars["ConnectionArn"] != e.arn || vars["CommitMessage"] != "app v1.1: serve on the new port" || vars["AuthorDate"] == "" {
				t.Fatalf("output variables = %v", vars)
			}
			// The artifact is exactly git archive of the commit.
			key := aws.ToString(run.Output.OutputArtifacts[0].S3location.Key)
			code, zipped := restCall(t, e.s.URL, http.MethodGet, "/api/v1/artifacts/"+key, testAdminKey, testAdminSecret, nil)
			if code != http.StatusOK {
				t.Fatalf("artifact: %d", code)
			}
			archive := exec.Command("git", "archive", "--format=zip", after)
			archive.Dir = e.repo.Work
			want, err := archive.Output()
			if err != nil {
				t.Fatal(err)
			}
			if got, want := srcZipTree(t, zipped), srcZipTree(t, want); got != want {
				t.Fatalf("the artifact differs from git archive:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// srcZipTree lists a zip's files (not directories) with mode and content, sorted.
func srcZipTree(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range zr.File {
		if f.FileInfo().IsDir() {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		content, _ := io.ReadAll(rc)
		rc.Close()
		lines = append(lines, fmt.Sprintf("%s %v %x", f.Name, f.Mode(), sha256.Sum256(content)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestArtifactMatchesGitArchiveForARealTree(t *testing.T) {
	e := newSrcEnv(t, "acme/tree", "tree", "github")
	files := map[string]string{"deep/a/b/c/d.txt": "deep\n", "bin/run.sh": "#!/bin/sh\necho run\n", ".gitattributes": "skip.txt export-ignore\n",
		"skip.txt": "not exported\n", "unicode/naïve.md": "é\n", "empty.txt": "x"}
	for i := range 40 {
		files[fmt.Sprintf("pkg/f%02d.go", i)] = fmt.Sprintf("package pkg // %d\n", i)
	}
	e.repo.Write(files)
	if err := os.Chmod(filepath.Join(e.repo.Work, "bin", "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("deep/a/b/c/d.txt", filepath.Join(e.repo.Work, "link.txt")); err != nil {
		t.Fatal(err)
	}
	head := e.repo.Commit("a real tree", nil)
	e.repo.Push()
	srcCreatePipeline(t, e.cp, srcPipeline("tree-ci", srcCodeStarAction(e.arn, "acme/tree", "main", nil), nil))
	id := latestExecutionID(t, e.cp, "tree-ci")
	srcAwaitSucceeded(t, e.cp, "tree-ci", id)
	run := srcSourceRun(t, e.cp, "tree-ci", id)
	if got := run.Output.OutputVariables["CommitId"]; got != head {
		t.Fatalf("the manual start built %s, want the branch head %s", got, head)
	}
	_, zipped := restCall(t, e.s.URL, http.MethodGet, "/api/v1/artifacts/"+aws.ToString(run.Output.OutputArtifacts[0].S3location.Key), testAdminKey, testAdminSecret, nil)
	archive := exec.Command("git", "archive", "--format=zip", head)
	archive.Dir = e.repo.Work
	want, err := archive.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := srcZipTree(t, zipped)
	if got != srcZipTree(t, want) {
		t.Fatalf("the artifact differs from git archive:\n%s", got)
	}
	if !strings.Contains(got, "bin/run.sh -rwxr-xr-x") || !strings.Contains(got, "link.txt L") || strings.Contains(got, "skip.txt") {
		t.Fatalf("modes, links or export-ignore lost:\n%s", got)
	}

	// CODEBUILD_CLONE_REF: the same commit with its history, on its branch.
	srcCreatePipeline(t, e.cp, srcPipeline("clone-ci", srcCodeStarAction(e.arn, "acme/tree", "main", map[string]string{"OutputArtifactFormat": "CODEBUILD_CLONE_REF"}), nil))
	id = latestExecutionID(t, e.cp, "clone-ci")
	srcAwaitSucceeded(t, e.cp, "clone-ci", id)
	run = srcSourceRun(t, e.cp, "clone-ci", id)
	_, zipped = restCall(t, e.s.URL, http.MethodGet, "/api/v1/artifacts/"+aws.ToString(run.Output.OutputArtifacts[0].S3location.Key), testAdminKey, testAdminSecret, nil)
	dir := srcUnzip(t, zipped)
	if n := gittest.Run(t, dir, "rev-list", "--count", "HEAD"); n != "2" {
		t.Fatalf("the clone has %s commits, want both", n)
	}
	if h := gittest.Run(t, dir, "rev-parse", "HEAD"); h != head {
		t.Fatalf("the clone is at %s", h)
	}
}

func srcUnzip(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		p := filepath.Join(dir, filepath.FromSlash(f.Name))
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		rc, _ := f.Open()
		content, _ := io.ReadAll(rc)
		rc.Close()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if f.Mode()&os.ModeSymlink != 0 {
			if err := os.Symlink(string(content), p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, content, f.Mode().Perm()|0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDeliveriesThatMustStartNothing(t *testing.T) {
	e := newSrcEnv(t, "acme/sample-app", "app", "github")
	srcCreatePipeline(t, e.cp, srcPipeline("app-ci", srcCodeStarAction(e.arn, "acme/sample-app", "main", nil), nil))
	before := e.repo.Git("rev-parse", "HEAD")
	after := e.repo.Commit("second", map[string]string{"a.txt": "2"})
	e.repo.Push()
	body := srcPushPayload(t, "github-push.json", e.repo.URL, "refs/heads/main", before, after, []string{after})
	id := uuid.NewString()

	code, ans := srcSendHook(t, e.s.URL, "app", srcGitHubHeaders("push", id, srcHookSecret, body), body)
	if code != http.StatusAccepted || srcAwaitDelivery(t, e.s.URL, "app", ans.Delivery).Status != store.WebhookStarted {
		t.Fatalf("the genuine push: %d %+v", code, ans)
	}

	// Each case: what is sent, the HTTP answer, and what the delivery log must say.
	other := e.repo.Commit("third", map[string]string{"a.txt": "3"})
	e.repo.Push()
	otherBody := srcPushPayload(t, "github-push.json", e.repo.URL, "refs/heads/main", after, other, []string{other})
	deletion := srcPushPayload(t, "github-push.json", e.repo.URL, "refs/heads/old", after, strings.Repeat("0", 40), nil)
	ping, err := os.ReadFile(filepath.Join("..", "..", "server", "webhook", "testdata", "github-ping.json"))
	if err != nil {
		t.Fatal(err)
	}
	wrong := srcGitHubHeaders("push", uuid.NewString(), "not the secret", otherBody)
	unsigned := srcGitHubHeaders("push", uuid.NewString(), "", otherBody)
	empty := srcGitHubHeaders("push", uuid.NewString(), "", otherBody)
	empty.Set("X-Hub-Signature-256", "")
	malformed := []byte(`{"ref": "refs/heads/main", "after": `)
	huge := bytes.Repeat([]byte(" "), 30<<20)
	for _, c := range []struct {
		name        string
		h           http.Header
		body        []byte
		code        int
		status, why string
	}{
		{"a replay of the same delivery", srcGitHubHeaders("push", id, srcHookSecret, body), body, http.StatusAccepted, store.WebhookDuplicate, "same delivery id"},
		{"a redelivery with a new id", srcGitHubHeaders("push", uuid.NewString(), srcHookSecret, body), body, http.StatusAccepted, store.WebhookDuplicate, "same repository, ref and commit"},
		{"a wrong signature", wrong, otherBody, http.StatusUnauthorized, store.WebhookRejected, "does not match"},
		{"no signature", unsigned, otherBody, http.StatusUnauthorized, store.WebhookRejected, "not signed"},
		{"an empty signature", empty, otherBody, http.StatusUnauthorized, store.WebhookRejected, "is empty"},
		{"a ping", srcGitHubHeaders("ping", uuid.NewString(), srcHookSecret, ping), ping, http.StatusOK, store.WebhookIgnored, "ping"},
		{"a branch deletion", srcGitHubHeaders("push", uuid.NewString(), srcHookSecret, deletion), deletion, http.StatusAccepted, store.WebhookIgnored, "deleted"},
		{"a malformed payload", srcGitHubHeaders("push", uuid.NewString(), srcHookSecret, malformed), malformed, http.StatusBadRequest, store.WebhookInvalid, "not valid"},
		{"a 30 MB body", srcGitHubHeaders("push", uuid.NewString(), srcHookSecret, huge), huge, http.StatusRequestEntityTooLarge, store.WebhookRejected, "25 MiB"},
		{"an event nothing acts on", srcGitHubHeaders("issues", uuid.NewString(), srcHookSecret, []byte(`{"action":"opened"}`)), []byte(`{"action":"opened"}`),
			http.StatusAccepted, store.WebhookIgnored, "not acted on"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, ans := srcSendHook(t, e.s.URL, "app", c.h, c.body)
			if code != c.code {
				t.Fatalf("answered %d %+v, want %d", code, ans, c.code)
			}
			d := srcAwaitDelivery(t, e.s.URL, "app", ans.Delivery)
			if d.Status != c.status || !strings.Contains(d.Reason, c.why) || len(d.Executions) != 0 {
				t.Fatalf("delivery log: %s %q, want %s saying %q", d.Status, d.Reason, c.status, c.why)
			}
		})
	}

	// Two copies of one push at once (a Gitea redelivery racing the original): one execution.
	var wg sync.WaitGroup
	answers := make([]webhook.Answer, 2)
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, answers[i] = srcSendHook(t, e.s.URL, "app", srcGitHubHeaders("push", uuid.NewString(), srcHookSecret, otherBody), otherBody)
		}()
	}
	wg.Wait()
	statuses := []string{srcAwaitDelivery(t, e.s.URL, "app", answers[0].Delivery).Status, srcAwaitDelivery(t, e.s.URL, "app", answers[1].Delivery).Status}
	sort.Strings(statuses)
	if statuses[0] != store.WebhookDuplicate || statuses[1] != store.WebhookStarted {
		t.Fatalf("concurrent duplicates: %v, want one started and one duplicate", statuses)
	}
	if n := len(srcExecutions(t, e.cp, "app-ci", types.TriggerTypeWebhook)); n != 2 {
		t.Fatalf("%d Webhook executions, want 2 (the push and the concurrent pair's one)", n)
	}

	// Unknown connections, and connections without a secret.
	if code, _ := srcSendHook(t, e.s.URL, "nope", srcGitHubHeaders("push", uuid.NewString(), srcHookSecret, body), body); code != http.StatusNotFound {
		t.Fatalf("unknown connection: %d", code)
	}
	mustCLI(t, "connections", "create", "nosecret", "--provider", "github", "--url", e.repo.URL, "--allow-private-network")
	code, ans = srcSendHook(t, e.s.URL, "nosecret", srcGitHubHeaders("push", uuid.NewString(), "", body), body)
	if d := srcAwaitDelivery(t, e.s.URL, "nosecret", ans.Delivery); code != http.StatusUnauthorized || !strings.Contains(d.Reason, "no webhook secret") {
		t.Fatalf("a connection without a secret: %d %+v", code, d)
	}

	// The CLI shows the log with the reasons.
	out := mustCLI(t, "webhooks", "deliveries", "app", "--limit", "50")
	for _, want := range []string{"VERDICT", "started", "duplicate", "rejected", "does not match", "ping", "deleted", after[:12]} {
		if !strings.Contains(out, want) {
			t.Errorf("conveyor webhooks deliveries lacks %q:\n%s", want, out)
		}
	}
}

// push commits files on branch and pushes, returning the new head.
func srcCommitPush(r *gittest.Repo, message string, files map[string]string, refspecs ...string) string {
	head := r.Commit(message, files)
	r.Push(refspecs...)
	return head
}

func TestTriggerFiltersDecideFromTheDiff(t *testing.T) {
	e := newSrcEnv(t, "team/sample-app", "app", "gitea")
	trigger := map[string]any{"sourceActionName": "Source",
		"push": []any{
			map[string]any{"branches": map[string]any{"includes": []string{"main", "release/**"}, "excludes": []string{"release/old*"}},
				"filePaths": map[string]any{"includes": []string{"src/**"}, "excludes": []string{"**/*.md"}}},
			map[string]any{"tags": map[string]any{"includes": []string{"v*"}}},
		}}
	srcCreatePipeline(t, e.cp, srcPipeline("filtered", srcCodeStarAction(e.arn, "team/sample-app", "main", nil), trigger))
	send := func(ref, before, after string, listed []string) sourceapi.Delivery {
		t.Helper()
		body := srcPushPayload(t, "gitea-push.json", e.repo.URL, ref, before, after, listed)
		code, ans := srcSendHook(t, e.s.URL, "app", srcGiteaHeaders("push", uuid.NewString(), srcHookSecret, body), body)
		if code != http.StatusAccepted {
			t.Fatalf("%s: answered %d %+v", ref, code, ans)
		}
		return srcAwaitDelivery(t, e.s.URL, "app", ans.Delivery)
	}
	expect := func(what string, d sourceapi.Delivery, started bool, why string) {
		t.Helper()
		if started && (d.Status != store.WebhookStarted || len(d.Executions) != 1 || d.Executions[0].TriggerType != "WebhookV2") {
			t.Fatalf("%s: %s %q, want a WebhookV2 execution", what, d.Status, d.Reason)
		}
		if !started && (d.Status != store.WebhookIgnored || !strings.Contains(d.Reason, why)) {
			t.Fatalf("%s: %s %q, want ignored saying %q", what, d.Status, d.Reason, why)
		}
	}

	// 12 commits; only the first touches src/. Gitea lists the last 5, none of which does.
	base := e.repo.Git("rev-parse", "HEAD")
	var commits []string
	for i := range 12 {
		files := map[string]string{"docs/notes.md": fmt.Sprintf("note %d\n", i)}
		if i == 0 {
			files["src/feature.go"] = "package app // feature\n"
		}
		commits = append(commits, e.repo.Commit(fmt.Sprintf("change %d", i), files))
	}
	e.repo.Push()
	head := commits[len(commits)-1]
	expect("12 commits, the src change in the first", send("refs/heads/main", base, head, commits[7:]), true, "")

	// 30 commits, the first one touching src/.
	base = head
	for i := range 30 {
		files := map[string]string{"docs/more.md": fmt.Sprintf("%d\n", i)}
		if i == 0 {
			files["src/again.go"] = "package app // again\n"
		}
		head = e.repo.Commit(fmt.Sprintf("more %d", i), files)
	}
	e.repo.Push()
	expect("a change in commit 1 of 30", send("refs/heads/main", base, head, []string{head}), true, "")

	base, head = head, srcCommitPush(e.repo, "docs only", map[string]string{"docs/x.md": "x"})
	expect("docs only", send("refs/heads/main", base, head, []string{head}), false, "no changed file passes filePaths")
	base, head = head, srcCommitPush(e.repo, "an excluded file under src", map[string]string{"src/README.md": "x"})
	expect("an excluded path", send("refs/heads/main", base, head, []string{head}), false, "no changed file passes filePaths")

	// Branches: a new release branch (compared with where it left main), an excluded one, another.
	e.repo.Git("checkout", "--quiet", "-b", "release/1.0")
	rel := srcCommitPush(e.repo, "release fix", map[string]string{"src/fix.go": "package app // fix\n"}, "release/1.0")
	expect("a new release branch", send("refs/heads/release/1.0", strings.Repeat("0", 40), rel, []string{rel}), true, "")
	e.repo.Git("checkout", "--quiet", "-b", "release/old-1")
	old := srcCommitPush(e.repo, "old", map[string]string{"src/old.go": "package app // old\n"}, "release/old-1")
	expect("an excluded branch", send("refs/heads/release/old-1", strings.Repeat("0", 40), old, []string{old}), false, `excluded by "release/old*"`)
	e.repo.Git("checkout", "--quiet", "-b", "feature")
	feat := srcCommitPush(e.repo, "feature", map[string]string{"src/f.go": "package app // f\n"}, "feature")
	expect("a branch not included", send("refs/heads/feature", strings.Repeat("0", 40), feat, []string{feat}), false, "branch feature is not included")
	// A new branch with no new commits of its own changes nothing.
	e.repo.Git("checkout", "--quiet", "main")
	e.repo.Push("main:refs/heads/release/2.0")
	expect("a new branch at main's head", send("refs/heads/release/2.0", strings.Repeat("0", 40), head, nil), false, "no changed file")

	// Tags.
	e.repo.Git("tag", "v1.0", head)
	e.repo.Git("tag", "x1", head)
	e.repo.Push("v1.0", "x1")
	expect("tag v1.0", send("refs/tags/v1.0", strings.Repeat("0", 40), head, nil), true, "")
	expect("tag x1", send("refs/tags/x1", strings.Repeat("0", 40), head, nil), false, "x1 is not included")

	if n := len(srcExecutions(t, e.cp, "filtered", types.TriggerTypeWebhookV2)); n != 4 {
		t.Fatalf("%d WebhookV2 executions, want 4", n)
	}
	// The release branch's execution built that branch's commit and says so.
	for _, ex := range srcExecutions(t, e.cp, "filtered", types.TriggerTypeWebhookV2) {
		id := aws.ToString(ex.PipelineExecutionId)
		srcAwaitSucceeded(t, e.cp, "filtered", id)
		vars := srcSourceRun(t, e.cp, "filtered", id).Output.OutputVariables
		if vars["CommitId"] == rel && vars["BranchName"] != "release/1.0" {
			t.Fatalf("the release build says BranchName %s", vars["BranchName"])
		}
	}
}

func TestPollingStartsThePipelineOnAPush(t *testing.T) {
	e := newSrcEnv(t, "acme/polled", "polled", "git", "--poll-interval", "1s")
	srcCreatePipeline(t, e.cp, srcPipeline("polled-ci", srcCodeStarAction(e.arn, "acme/polled", "main", nil), nil))
	// Polling has seen the repository once (nothing started) before the push.
	eventually(t, "the first poll", 30*time.Second, func() bool {
		_, seen, _ := e.s.app.db.Read().PollState(context.Background(), "polled", "acme/polled")
		return seen
	})
	before := e.repo.Git("rev-parse", "HEAD")
	head := srcCommitPush(e.repo, "polled change", map[string]string{"p.txt": "p"})
	var execs []types.PipelineExecutionSummary
	eventually(t, "polling to start the pipeline", 30*time.Second, func() bool {
		execs = srcExecutions(t, e.cp, "polled-ci", types.TriggerTypePollForSourceChanges)
		return len(execs) == 1
	})
	id := aws.ToString(execs[0].PipelineExecutionId)
	srcAwaitSucceeded(t, e.cp, "polled-ci", id)
	if got := srcSourceRun(t, e.cp, "polled-ci", id).Output.OutputVariables["CommitId"]; got != head {
		t.Fatalf("polling built %s, want %s", got, head)
	}
	// The webhook for the same push, arriving late, is a duplicate of what polling saw.
	body := srcPushPayload(t, "github-push.json", e.repo.URL, "refs/heads/main", before, head, []string{head})
	body = bytes.Replace(body, []byte(`"acme/sample-app"`), []byte(`"acme/polled"`), 1)
	_, ans := srcSendHook(t, e.s.URL, "polled", srcGitHubHeaders("push", uuid.NewString(), srcHookSecret, body), body)
	if d := srcAwaitDelivery(t, e.s.URL, "polled", ans.Delivery); d.Status != store.WebhookDuplicate {
		t.Fatalf("the webhook after the poll: %s %q", d.Status, d.Reason)
	}
}

func TestPullRequestTriggers(t *testing.T) {
	e := newSrcEnv(t, "acme/prs", "prs", "github")
	trigger := map[string]any{"sourceActionName": "Source",
		"pullRequest": []any{map[string]any{"events": []string{"OPEN", "UPDATED"}, "branches": map[string]any{"includes": []string{"main"}}}}}
	srcCreatePipeline(t, e.cp, srcPipeline("pr-ci", srcCodeStarAction(e.arn, "acme/prs", "main", nil), trigger))
	e.repo.Git("checkout", "--quiet", "-b", "feature")
	head := srcCommitPush(e.repo, "feature work", map[string]string{"src/f.go": "package f\n"}, "feature")
	pr := func(action, target string) sourceapi.Delivery {
		body, _ := json.Marshal(map[string]any{"action": action, "number": 7,
			"pull_request": map[string]any{"title": "Feature", "head": map[string]string{"ref": "feature", "sha": head}, "base": map[string]string{"ref": target}},
			"repository":   map[string]any{"full_name": "acme/prs", "clone_url": e.repo.URL, "default_branch": "main"}, "sender": map[string]string{"login": "dana"}})
		_, ans := srcSendHook(t, e.s.URL, "prs", srcGitHubHeaders("pull_request", uuid.NewString(), srcHookSecret, body), body)
		return srcAwaitDelivery(t, e.s.URL, "prs", ans.Delivery)
	}
	if d := pr("opened", "main"); d.Status != store.WebhookStarted || d.Action != "OPEN" {
		t.Fatalf("opened: %s %q", d.Status, d.Reason)
	}
	if d := pr("closed", "main"); d.Status != store.WebhookIgnored || !strings.Contains(d.Reason, "event CLOSED is not one of") {
		t.Fatalf("closed: %s %q", d.Status, d.Reason)
	}
	if d := pr("synchronize", "dev"); d.Status != store.WebhookIgnored || !strings.Contains(d.Reason, "target branch dev") {
		t.Fatalf("into dev: %s %q", d.Status, d.Reason)
	}
	if d := pr("labeled", "main"); d.Status != store.WebhookIgnored {
		t.Fatalf("labeled: %s %q", d.Status, d.Reason)
	}
	execs := srcExecutions(t, e.cp, "pr-ci", types.TriggerTypeWebhookV2)
	if len(execs) != 1 {
		t.Fatalf("%d executions, want 1", len(execs))
	}
	id := aws.ToString(execs[0].PipelineExecutionId)
	srcAwaitSucceeded(t, e.cp, "pr-ci", id)
	if vars := srcSourceRun(t, e.cp, "pr-ci", id).Output.OutputVariables; vars["CommitId"] != head || vars["BranchName"] != "feature" {
		t.Fatalf("the pull request's execution: %v", vars)
	}
}

func TestConnectionsCLIAndValidation(t *testing.T) {
	e := newSrcEnv(t, "acme/app", "app", "github", "--token", "tok-123")
	ctx := context.Background()
	// Unknown connections fail validation of the pipeline, naming the field.
	_, err := e.cp.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: sdkDeclaration(t,
		srcPipeline("bad", srcCodeStarAction(srcConnectionArn("missing"), "acme/app", "main", nil), nil))})
	if err == nil || !strings.Contains(err.Error(), "connection missing does not exist") || !strings.Contains(err.Error(), "ConnectionArn") {
		t.Fatalf("a pipeline naming a missing connection: %v", err)
	}
	// Refused URLs and names.
	for _, c := range []struct{ url, want string }{
		{"file:///etc", "scheme"}, {"ext::sh -c id", "white space"}, {"--upload-pack=x", "starts with '-'"},
		{"http://127.0.0.1:1/x.git", "loopback"}, {"https://user:pw@example.com/x.git", "credentials"},
	} {
		errOut := failCLI(t, 1, "connections", "create", "x", "--provider", "github", "--url", c.url, "--webhook-secret", "s")
		if !strings.Contains(errOut, c.want) {
			t.Errorf("--url %s: %s", c.url, errOut)
		}
	}
	failCLI(t, 1, "connections", "create", "app", "--provider", "github", "--url", e.repo.URL, "--allow-private-network")
	failCLI(t, 2, "connections", "create", "x", "--url", e.repo.URL)

	out := mustCLI(t, "connections", "list")
	if !strings.Contains(out, "app") || !strings.Contains(out, "signed") || strings.Contains(out, "tok-123") {
		t.Fatalf("connections list:\n%s", out)
	}
	out = mustCLI(t, "connections", "get", "app")
	if !strings.Contains(out, e.s.URL+"/webhooks/app") || !strings.Contains(out, "token") || strings.Contains(out, "tok-123") {
		t.Fatalf("connections get:\n%s", out)
	}
	var view sourceapi.Connection
	if err := json.Unmarshal([]byte(mustCLI(t, "connections", "get", "app", "--output", "json")), &view); err != nil || view.ConnectionArn != e.arn || !view.HasToken {
		t.Fatalf("get --output json: %+v %v", view, err)
	}
	// A viewer may read but not change.
	viewer := mustCLI(t, "keys", "create", "--role", "viewer", "--output", "json")
	var key struct{ AccessKeyID, SecretAccessKey string }
	_ = json.Unmarshal([]byte(viewer), &key)
	if code, _ := restCall(t, e.s.URL, http.MethodGet, "/api/v1/connections", key.AccessKeyID, key.SecretAccessKey, nil); code != http.StatusOK {
		t.Fatalf("a viewer listing connections: %d", code)
	}
	if code, _ := restCall(t, e.s.URL, http.MethodDelete, "/api/v1/connections/app", key.AccessKeyID, key.SecretAccessKey, nil); code != http.StatusForbidden {
		t.Fatalf("a viewer deleting a connection: %d", code)
	}
	// Deleting a connection a pipeline uses is refused; then allowed.
	srcCreatePipeline(t, e.cp, srcPipeline("uses-app", srcCodeStarAction(e.arn, "acme/app", "main", nil), nil))
	if errOut := failCLI(t, 1, "connections", "delete", "app"); !strings.Contains(errOut, "uses-app") {
		t.Fatalf("delete in use: %s", errOut)
	}
	if _, err := e.cp.DeletePipeline(ctx, &codepipeline.DeletePipelineInput{Name: aws.String("uses-app")}); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, "connections", "delete", "app")
	if !strings.Contains(mustCLI(t, "connections", "list"), "no connections") {
		t.Fatal("the connection is still listed")
	}
	if _, err := os.Stat(filepath.Join(e.s.Data, "git", "app")); !os.IsNotExist(err) {
		t.Fatalf("the connection's git cache is left behind: %v", err)
	}
}

func TestApplyConnectionsBeforePipelines(t *testing.T) {
	s := startServer(t)
	cliAgainst(t, s)
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "team/app")
	repo.Commit("initial", map[string]string{"a": "a"})
	repo.Push()
	t.Setenv("APP_HOOK_SECRET", "first-secret")
	dir := t.TempDir()
	yml := fmt.Sprintf(`connections:
  - name: app
    provider: gitea
    url: %s
    webhookSecret: ${APP_HOOK_SECRET}
    allowPrivateNetwork: true
    poll: true
pipelines:
  - name: from-yaml
    stages:
      - name: Source
        actions:
          - name: Source
            actionTypeId: {category: Source, owner: AWS, provider: CodeStarSourceConnection, version: "1"}
            configuration: {ConnectionArn: "%s", FullRepositoryId: team/app, BranchName: main}
            outputArtifacts: [{name: Src}]
      - name: Approve
        actions:
          - name: Approve
            actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
`, repo.URL, srcConnectionArn("app"))
	file := writeFile(t, dir, "conveyor.yaml", yml)
	out := mustCLI(t, "apply", "-f", file)
	if !strings.Contains(out, "connection app: created") || !strings.Contains(out, "pipeline from-yaml: created") {
		t.Fatalf("first apply:\n%s", out)
	}
	if out := mustCLI(t, "apply", "-f", file); !strings.Contains(out, "connection app: unchanged") {
		t.Fatalf("second apply:\n%s", out)
	}
	t.Setenv("APP_HOOK_SECRET", "second-secret")
	if out := mustCLI(t, "apply", "-f", file, "--dry-run"); !strings.Contains(out, "connection app: would update: webhookSecret") {
		t.Fatalf("dry run after the secret changed:\n%s", out)
	}
	if out := mustCLI(t, "apply", "-f", file); !strings.Contains(out, "connection app: updated: webhookSecret") || strings.Contains(out, "second-secret") {
		t.Fatalf("apply after the secret changed:\n%s", out)
	}
	var view sourceapi.Connection
	_ = json.Unmarshal([]byte(mustCLI(t, "connections", "get", "app", "--output", "json")), &view)
	if view.PollIntervalSeconds != 60 {
		t.Fatalf("poll: true gives %ds, want 60", view.PollIntervalSeconds)
	}
	// Mistakes are reported with their line, offline (validate) as by apply.
	os.Unsetenv("APP_HOOK_SECRET")
	bad := writeFile(t, dir, "bad.yaml", "connections:\n  - name: app\n    provider: bitbucket\n    url: file:///srv/app.git\n    webhookSecret: ${NOT_SET_ANYWHERE}\n    pollInterval: 5\n")
	errOut := failCLI(t, 1, "apply", "-f", bad)
	for _, want := range []string{"bad.yaml:3:5: connections[0].provider", "bad.yaml:4:5: connections[0].url", "bad.yaml:5:5: connections[0].webhookSecret: environment variable NOT_SET_ANYWHERE is not set",
		"bad.yaml:6:5: connections[0].pollInterval"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("apply of a bad file lacks %q:\n%s", want, errOut)
		}
	}
	typo := writeFile(t, dir, "typo.yaml", "connections:\n  - name: app\n    provider: gitea\n    url: https://git.example.com/a.git\n    pollIntervall: 5s\n")
	if out, errOut, code := cli(t, "validate", typo); code != 1 || !strings.Contains(out+errOut, `typo.yaml:5:5: connections[0].pollIntervall: unknown key "pollIntervall" (did you mean "pollInterval"?)`) {
		t.Errorf("validate of a typo: exit %d\n%s%s", code, out, errOut)
	}
}

func TestPendingDeliveriesSurviveARestart(t *testing.T) {
	data := t.TempDir()
	s := startSrcServer(t, data)
	ctx := context.Background()
	srv := gittest.NewServer(t)
	repo := srv.NewRepo(t, "acme/app")
	repo.Commit("initial", map[string]string{"a": "a"})
	repo.Push()
	secret := srcHookSecret
	if _, err := s.app.sources.connections.Create(ctx, srcConnInput("app", repo.URL, &secret)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.engine.CreatePipeline(ctx, srcPipeline("app-ci", srcCodeStarAction(srcConnectionArn("app"), "acme/app", "main", nil), nil), nil, "test"); err != nil {
		t.Fatal(err)
	}
	s.stop()
	// A delivery recorded but not processed when the server went down.
	head := srcCommitPush(repo, "while down", map[string]string{"a": "b"})
	db, err := store.Open(ctx, filepath.Join(data, "conveyor.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := fmt.Sprintf(`{"kind":"push","name":"push","repository":"acme/app","ref":"refs/heads/main","before":"%s","after":"%s","sender":"dana"}`, strings.Repeat("0", 40), head)
	err = db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.RecordWebhookDelivery(ctx, &store.WebhookDelivery{Connection: "app", DeliveryID: "d-1", EventKey: "k", Origin: "webhook",
			Event: "push", Ref: "refs/heads/main", After: head, Status: store.WebhookPending, EventJSON: []byte(ev)})
		return err
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s2 := startSrcServer(t, data)
	cp := codePipelineClient(s2.URL, "", "")
	var execs []types.PipelineExecutionSummary
	eventually(t, "the pending delivery to start its execution", 30*time.Second, func() bool {
		execs = srcExecutions(t, cp, "app-ci", types.TriggerTypeWebhook)
		return len(execs) == 1
	})
	srcAwaitSucceeded(t, cp, "app-ci", aws.ToString(execs[0].PipelineExecutionId))
}

func TestCodeBuildSeesTheCommitAndTheRepository(t *testing.T) {
	e := newSrcEnv(t, "acme/built", "built", "github")
	requireDocker(t, e.s)
	ctx := context.Background()
	cb := codeBuildClient(e.s.URL)
	buildspec := "version: 0.2\nphases:\n  build:\n    commands:\n      - echo \"commit=$CODEBUILD_RESOLVED_SOURCE_VERSION\"\n      - echo \"repo=$CODEBUILD_SOURCE_REPO_URL\"\n      - test -f README.md\n"
	if _, err := cb.CreateProject(ctx, &codebuild.CreateProjectInput{Name: aws.String("built"),
		Source:      &cbtypes.ProjectSource{Type: cbtypes.SourceTypeCodepipeline, Buildspec: aws.String(buildspec)},
		Artifacts:   &cbtypes.ProjectArtifacts{Type: cbtypes.ArtifactsTypeCodepipeline},
		Environment: &cbtypes.ProjectEnvironment{Type: cbtypes.EnvironmentTypeLinuxContainer, Image: aws.String("conveyor/busybox:latest"), ComputeType: cbtypes.ComputeTypeBuildGeneral1Small},
		ServiceRole: aws.String("arn:aws:iam::000000000000:role/conveyor")}); err != nil {
		t.Fatal(err)
	}
	d := map[string]any{"name": "built-ci", "stages": []any{
		map[string]any{"name": "Source", "actions": []any{srcCodeStarAction(e.arn, "acme/built", "main", map[string]string{"DetectChanges": "true"})}},
		map[string]any{"name": "Build", "actions": []any{map[string]any{"name": "Build",
			"actionTypeId":   map[string]string{"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
			"configuration":  map[string]string{"ProjectName": "built"},
			"inputArtifacts": []any{map[string]string{"name": "Src"}}}}},
	}}
	raw, _ := json.Marshal(map[string]any{"pipeline": d})
	srcCreatePipeline(t, e.cp, raw)
	srcAwaitSucceeded(t, e.cp, "built-ci", latestExecutionID(t, e.cp, "built-ci"))
	before := e.repo.Git("rev-parse", "HEAD")
	after := srcCommitPush(e.repo, "build me", map[string]string{"README.md": "# built\n"})
	body := srcPushPayload(t, "github-push.json", e.repo.URL, "refs/heads/main", before, after, []string{after})
	body = bytes.Replace(body, []byte(`"acme/sample-app"`), []byte(`"acme/built"`), 1)
	_, ans := srcSendHook(t, e.s.URL, "built", srcGitHubHeaders("push", uuid.NewString(), srcHookSecret, body), body)
	del := srcAwaitDelivery(t, e.s.URL, "built", ans.Delivery)
	if del.Status != store.WebhookStarted {
		t.Fatalf("delivery: %s %q", del.Status, del.Reason)
	}
	id := del.Executions[0].ExecutionID
	srcAwaitSucceeded(t, e.cp, "built-ci", id)
	build := actionState(t, e.cp, "built-ci", "Build", "Build")
	code, logBody := restCall(t, e.s.URL, http.MethodGet, "/api/v1/builds/"+aws.ToString(build.ExternalExecutionId)+"/logs?download=1", testAdminKey, testAdminSecret, nil)
	if code != http.StatusOK {
		t.Fatalf("build log: %d", code)
	}
	for _, want := range []string{"commit=" + after, "repo=" + e.repo.URL} {
		if !strings.Contains(string(logBody), want) {
			t.Fatalf("the build log lacks %q:\n%s", want, logBody)
		}
	}
}

// srcCreatePipeline creates a pipeline from get-pipeline JSON through the SDK, triggers included.
func srcCreatePipeline(t *testing.T, cp *codepipeline.Client, raw []byte) {
	t.Helper()
	var w struct {
		Pipeline pipeline.Declaration `json:"pipeline"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		t.Fatal(err)
	}
	w.Pipeline.RoleArn = "arn:aws:iam::000000000000:role/conveyor"
	if _, err := cp.CreatePipeline(context.Background(), &codepipeline.CreatePipelineInput{Pipeline: toSDKDeclaration(&w.Pipeline)}); err != nil {
		t.Fatalf("CreatePipeline: %v", apiError(err))
	}
}

func srcConnInput(name, url string, secret *string) source.ConnectionInput {
	return source.ConnectionInput{Name: name, Provider: "github", URL: url, WebhookSecret: secret, AllowPrivateNetwork: true}
}
