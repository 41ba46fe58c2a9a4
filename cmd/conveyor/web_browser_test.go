package main

// Browser tests: the dashboard in real headless Chromium (Debian's chromium), driven with
// chromedp. They log in, watch a release change stage states without a reload, approve with a
// comment, check that a viewer gets no buttons and that a forged POST is refused, and open a
// build log of 100,000 lines. Screenshots of the main pages are saved in $CONVEYOR_SCREENSHOTS
// (docs/screenshots when refreshing the documentation) or in the test's temporary directory.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codebuild"
	"github.com/chromedp/chromedp"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
)

// browser starts headless Chromium for the test; without it the test fails in CI and is skipped
// elsewhere.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("Chromium is required in CI for the browser tests (apt-get install chromium)")
		}
		t.Skip("Chromium is not installed (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now, so its errors are clear
		t.Fatalf("start Chromium: %v", err)
	}
	return ctx
}

// step runs browser actions with a deadline.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, ctx context.Context, expr string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor waits until a JavaScript predicate holds in the page (checked on every DOM change). A
// navigation in between (a form that posts and redirects) ends one poll; it is started again on
// the new page.
func waitFor(t *testing.T, ctx context.Context, what, predicate string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		pctx, cancel := context.WithDeadline(ctx, deadline)
		_, err = chromedp.Run(pctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingMutation(), chromedp.WithPollingTimeout(time.Until(deadline))))
		cancel()
		if err == nil {
			return
		}
		if !strings.Contains(err.Error(), "navigated") && !strings.Contains(err.Error(), "context was destroyed") &&
			!strings.Contains(err.Error(), "Cannot find context") {
			break
		}
	}
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('main') ? document.querySelector('main').innerText : ''`))
	t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, text)
}

func screenshotDir(t *testing.T) string {
	if d := os.Getenv("CONVEYOR_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

func browserLogin(t *testing.T, ctx context.Context, base, user, password string) {
	t.Helper()
	step(t, ctx, "open the login page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)))
	step(t, ctx, "log in "+user,
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type=submit]`)))
	waitFor(t, ctx, "the pipelines page after login", `location.pathname === '/' && document.querySelector('h1') && document.querySelector('h1').textContent === 'Pipelines'`)
}

// releaseFake ends the fake action waiting in a stage of the pipeline with success.
func releaseFake(t *testing.T, s *testServer, name string, stage int, summary string) {
	t.Helper()
	eventually(t, fmt.Sprintf("the fake action of stage %d to wait", stage), 15*time.Second, func() bool {
		st, err := s.app.engine.State(context.Background(), name)
		if err != nil {
			return false
		}
		a := st.StageStates[stage].ActionStates[0].LatestExecution
		return a != nil && a.Status == pipeline.StatusInProgress &&
			s.Fake.Release(a.ActionExecutionID, executor.Result{Status: executor.Succeeded, Summary: summary})
	})
}

func TestBrowserReleaseWatchApprove(t *testing.T) {
	ctx := browser(t)
	s := startServer(t)
	shots := screenshotDir(t)
	fakeAct := func(n, category string, cfg map[string]string) map[string]any {
		return map[string]any{"name": n, "actionTypeId": map[string]string{"category": category, "owner": "Custom", "provider": "Fake", "version": "1"},
			"configuration": cfg, "runOrder": 1}
	}
	decl := map[string]any{"name": "web-shop", "pipelineType": "V2", "executionMode": "QUEUED",
		"variables": []any{map[string]string{"name": "RELEASE_NOTE", "defaultValue": "routine release", "description": "shown to the approver"}},
		"stages": []any{
			map[string]any{"name": "Source", "actions": []any{fakeAct("Checkout", "Source", map[string]string{"Summary": "main@4f2a9c1: Fix the checkout totals"})}},
			map[string]any{"name": "Build", "actions": []any{fakeAct("Compile", "Build", map[string]string{"Wait": "true"}),
				fakeAct("UnitTests", "Test", map[string]string{"Summary": "412 tests passed"})}},
			map[string]any{"name": "Approve", "actions": []any{map[string]any{"name": "Release", "runOrder": 1,
				"actionTypeId": map[string]string{"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
				"configuration": map[string]string{"CustomData": "Release web-shop to production? Note: #{variables.RELEASE_NOTE}",
					"ExternalEntityLink": "https://example.com/changes"}}}},
			map[string]any{"name": "Deploy", "actions": []any{fakeAct("Production", "Deploy", map[string]string{"Summary": "3 of 3 hosts updated"})}},
		}}
	raw := mustJSON(t, map[string]any{"pipeline": decl})
	if _, err := s.app.engine.CreatePipeline(context.Background(), raw, nil, "user/admin"); err != nil {
		t.Fatal(err)
	}
	releaseFake(t, s, "web-shop", 1, "Built web-shop 2.4.1")
	first := awaitApproval(t, s, "web-shop")
	if _, err := s.app.web.users.Create(context.Background(), "anna", "anna-password", auth.RoleApprover); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.web.users.Create(context.Background(), "vera", "vera-password", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}

	// Log in; the overview shows the stages of the newest execution, the approval waiting.
	browserLogin(t, ctx, s.URL, "anna", "anna-password")
	waitFor(t, ctx, "the overview's stage chips", `document.querySelector('tr[data-pipeline="web-shop"] .chip[data-stage="Approve"][data-status="Approval"]')`)
	screenshot(t, ctx, shots, "pipelines.png")

	// The pipeline page; from here on, nothing reloads it (the marker would vanish).
	step(t, ctx, "open the pipeline", chromedp.Navigate(s.URL+"/pipelines/web-shop"), chromedp.WaitVisible(chromedp.CSS(`article[data-stage="Deploy"]`)))
	waitFor(t, ctx, "the live stream", `!document.getElementById('live').hidden`)
	screenshot(t, ctx, shots, "pipeline.png")
	eval[bool](t, ctx, `window.__noReload = true`)

	// Start a release with a variable; the Build stage turns InProgress without a reload.
	step(t, ctx, "release a change",
		chromedp.Click(chromedp.CSS(`#release > summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#release input[name="var.RELEASE_NOTE"]`)),
		chromedp.SetValue(chromedp.CSS(`#release input[name="var.RELEASE_NOTE"]`), "hotfix 2.4.2"),
		chromedp.Click(chromedp.CSS(`#release button[type=submit]`)))
	waitFor(t, ctx, "the flash message", `document.querySelector('.flash.ok') && document.querySelector('.flash.ok').textContent.startsWith('Started execution')`)
	waitFor(t, ctx, "Build to run the new execution", `document.querySelector('article[data-stage="Build"]').dataset.status === 'InProgress'`)
	releaseFake(t, s, "web-shop", 1, "Built web-shop 2.4.2")
	waitFor(t, ctx, "Build to succeed", `document.querySelector('article[data-stage="Build"]').dataset.status === 'Succeeded'`)
	// The new execution waits to enter Approve (QUEUED: the first holds it): an inbound execution.
	waitFor(t, ctx, "the inbound execution", `document.querySelector('article[data-stage="Approve"]').textContent.includes('Waiting to enter')`)
	if !eval[bool](t, ctx, `window.__noReload === true`) {
		t.Fatal("the page reloaded; states must change live")
	}

	// Approve the first execution with a comment (a plain form: it works without JavaScript).
	step(t, ctx, "open the approval", chromedp.Navigate(s.URL+"/pipelines/web-shop/executions/"+first+"/approvals/Approve/Release"),
		chromedp.WaitVisible(chromedp.CSS(`textarea[name=comment]`)))
	if got := eval[string](t, ctx, `document.querySelector('.custom-data').textContent`); got != "Release web-shop to production? Note: routine release" {
		t.Fatalf("CustomData shown: %q", got)
	}
	step(t, ctx, "write a comment", chromedp.SendKeys(chromedp.CSS(`textarea[name=comment]`), "Checked the staging numbers"))
	screenshot(t, ctx, shots, "approval.png")
	step(t, ctx, "approve", chromedp.Click(chromedp.CSS(`button[value="Approved"]`)))
	waitFor(t, ctx, "the approval to be recorded", `document.querySelector('.flash.ok') && document.querySelector('.decision-comment') &&
		document.querySelector('.decision-comment').textContent === 'Checked the staging numbers'`)
	step(t, ctx, "back to the pipeline", chromedp.Navigate(s.URL+"/pipelines/web-shop"), chromedp.WaitVisible(chromedp.CSS(`article[data-stage="Deploy"]`)))
	waitFor(t, ctx, "Deploy to succeed and the second execution to wait for approval",
		`document.querySelector('article[data-stage="Deploy"]').dataset.status === 'Succeeded' &&
		 document.querySelector('article[data-stage="Approve"] .action.st-approval')`)
	screenshot(t, ctx, shots, "pipeline-released.png")
	step(t, ctx, "open the released execution", chromedp.Navigate(s.URL+"/pipelines/web-shop/executions/"+first),
		chromedp.WaitVisible(chromedp.CSS(`section[data-stage="Deploy"]`)))
	screenshot(t, ctx, shots, "execution.png")
	second := awaitApproval(t, s, "web-shop")
	if second == first {
		t.Fatal("the second execution must be the one waiting now")
	}
	st, _ := s.app.engine.State(context.Background(), "web-shop")
	if by := st.StageStates[2].ActionStates[0].LatestExecution.LastUpdatedBy; by != "" {
		t.Fatalf("the second approval is decided already by %q", by)
	}

	// Roll Deploy back to the first execution from the stage's menu; the stage is marked as a rollback.
	step(t, ctx, "open Deploy's rollback menu", chromedp.Navigate(s.URL+"/pipelines/web-shop"),
		chromedp.WaitVisible(chromedp.CSS(`article[data-stage="Deploy"]`)),
		chromedp.Click(chromedp.CSS(`#rollback-Deploy > summary`)),
		chromedp.WaitVisible(chromedp.CSS(`#rollback-Deploy select[name=target]`)))
	if got := eval[string](t, ctx, `document.querySelector('#rollback-Deploy select[name=target]').value`); got != first {
		t.Fatalf("the rollback menu offers %q first, want %s", got, first)
	}
	step(t, ctx, "roll Deploy back", chromedp.Click(chromedp.CSS(`#rollback-Deploy button[type=submit]`)))
	waitFor(t, ctx, "the rollback's flash message", `document.querySelector('.flash.ok') && document.querySelector('.flash.ok').textContent.startsWith('Rolling stage Deploy back to execution `+first[:8]+`')`)
	waitFor(t, ctx, "Deploy to show the finished rollback", `(() => { const d = document.querySelector('article[data-stage="Deploy"]');
		const tag = d.querySelector('header .tag'); return d.dataset.status === 'Succeeded' && tag && tag.textContent === 'rollback'; })()`)

	// A viewer sees the waiting approval but no buttons, and a forged POST is refused.
	step(t, ctx, "log out", chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)))
	browserLogin(t, ctx, s.URL, "vera", "vera-password")
	approvalURL := s.URL + "/pipelines/web-shop/executions/" + second + "/approvals/Approve/Release"
	step(t, ctx, "open the approval as a viewer", chromedp.Navigate(approvalURL), chromedp.WaitVisible(chromedp.CSS(`#review-note`)))
	if n := eval[int](t, ctx, `document.querySelectorAll('button[value="Approved"], button[value="Rejected"], #release, form[action$="/stop"]').length`); n != 0 {
		t.Fatalf("a viewer sees %d approval or operator controls", n)
	}
	forge := func(withToken bool) int {
		token := `''`
		if withToken {
			token = `document.querySelector('meta[name="csrf-token"]').content`
		}
		return eval[int](t, ctx, `fetch(location.pathname, {method: 'POST', credentials: 'same-origin',
			headers: {'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': `+token+`},
			body: 'decision=Approved&comment=forged'}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	}
	if got := forge(true); got != 403 {
		t.Fatalf("a viewer's POST with its own CSRF token: %d, want 403 (role)", got)
	}
	if got := forge(false); got != 403 {
		t.Fatalf("a POST without a CSRF token: %d, want 403", got)
	}
	st, _ = s.app.engine.State(context.Background(), "web-shop")
	if a := st.StageStates[2].ActionStates[0].LatestExecution; a.Status != pipeline.StatusInProgress {
		t.Fatalf("the forged approval changed the action: %+v", a)
	}
}

func TestBrowserBuildLogOf100000Lines(t *testing.T) {
	ctx := browser(t)
	s := startServer(t)
	requireDocker(t, s)
	shots := screenshotDir(t)
	cb := codeBuildClient(s.URL)
	spec := `version: 0.2
phases:
  build:
    commands:
      - echo '<b>not bold</b> & <script>alert(1)</script>'
      - seq 1 100000 | sed 's/^/line /'
`
	if _, err := cb.CreateProject(context.Background(), noSourceProject("long-log", "conveyor/busybox:latest", spec)); err != nil {
		t.Fatal(err)
	}
	out, err := cb.StartBuild(context.Background(), &codebuild.StartBuildInput{ProjectName: aws.String("long-log")})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Build.Id)
	if b := awaitBuild(t, cb, id); string(b.BuildStatus) != "SUCCEEDED" {
		t.Fatalf("build %s: %s", id, b.BuildStatus)
	}
	if _, err := s.app.web.users.Create(context.Background(), "vera", "vera-password", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	browserLogin(t, ctx, s.URL, "vera", "vera-password")

	start := time.Now()
	step(t, ctx, "open the build", chromedp.Navigate(s.URL+"/builds/"+id))
	waitFor(t, ctx, "the last line", `[...document.querySelectorAll('#log .ln .t')].some(e => e.textContent === 'line 100000')`)
	elapsed := time.Since(start)
	if elapsed > 5*time.Second {
		t.Fatalf("the last lines took %s to show", elapsed)
	}
	t.Logf("the last line of a %d-line log showed after %s", 100002, elapsed)
	if n := eval[int](t, ctx, `document.querySelectorAll('#log .ln').length`); n > 3000 {
		t.Fatalf("%d log lines in the page: the whole log must never be rendered", n)
	}
	waitFor(t, ctx, "the log scrolled to its end", `(() => { const l = document.getElementById('log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 40 })()`)
	screenshot(t, ctx, shots, "build.png")

	// Earlier lines load on demand.
	before := eval[int](t, ctx, `+document.querySelector('#log .ln').dataset.n`)
	step(t, ctx, "load earlier lines", chromedp.Click(chromedp.CSS(`#log .log-more button`)))
	waitFor(t, ctx, "earlier lines", fmt.Sprintf(`+document.querySelector('#log .ln').dataset.n < %d`, before))

	// Search finds a line anywhere in the log and jumps to it.
	step(t, ctx, "search", chromedp.SendKeys(chromedp.CSS(`#log-search input[name=q]`), "line 50000"),
		chromedp.Click(chromedp.CSS(`#log-search button`)))
	waitFor(t, ctx, "the search hit", `document.querySelector('#log-results a')`)
	step(t, ctx, "jump to the hit", chromedp.Click(chromedp.CSS(`#log-results a`)))
	waitFor(t, ctx, "line 50000 highlighted", `(() => { const h = document.querySelector('#log .ln.hit .t'); return h && h.textContent === 'line 50000' })()`)

	// A log line with markup is text.
	step(t, ctx, "back to the start", chromedp.Navigate(s.URL+"/builds/"+id))
	step(t, ctx, "jump to line 1", chromedp.SetValue(chromedp.CSS(`#log-search input[name=q]`), "not bold"),
		chromedp.Click(chromedp.CSS(`#log-search button`)))
	waitFor(t, ctx, "the markup line in the results", `document.querySelector('#log-results a')`)
	step(t, ctx, "open it", chromedp.Click(chromedp.CSS(`#log-results a`)))
	waitFor(t, ctx, "the markup line", `document.querySelector('#log .ln.hit')`)
	text := eval[string](t, ctx, `document.querySelector('#log .ln.hit .t').textContent`)
	if !strings.Contains(text, "<b>not bold</b> & <script>alert(1)</script>") {
		t.Fatalf("the line reads %q", text)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#log b, #log script').length`); n != 0 {
		t.Fatal("markup in a log line became elements")
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
