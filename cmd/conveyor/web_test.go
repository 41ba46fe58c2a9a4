package main

// Tests of the dashboard through HTTP against a real server: login and sessions, every role and
// CSRF rule of the forms, escaping, the audit log, users and notifications through the CLI.

import (
	"context"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/notify"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

// webClient is a browser without JavaScript: a cookie jar, no redirects followed automatically.
type webClient struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newWebClient(t *testing.T, base string) *webClient {
	jar, _ := cookiejar.New(nil)
	return &webClient{t: t, base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var (
	hiddenCSRF = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	metaCSRF   = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)
)

func (c *webClient) do(method, path string, form url.Values, header map[string]string) (int, string, http.Header) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (c *webClient) get(path string) (int, string) {
	c.t.Helper()
	st, b, _ := c.do(http.MethodGet, path, nil, nil)
	return st, b
}

// post sends a form with the session's CSRF token (unless the form carries its own).
func (c *webClient) post(path string, form url.Values) (int, string, http.Header) {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf_token"]; !ok {
		form.Set("csrf_token", c.csrf)
	}
	return c.do(http.MethodPost, path, form, nil)
}

// login logs in through the form and keeps the session's CSRF token.
func (c *webClient) login(user, password string) {
	c.t.Helper()
	if st := c.tryLogin(user, password); st != http.StatusSeeOther {
		c.t.Fatalf("login %s: status %d", user, st)
	}
	st, page := c.get("/")
	m := metaCSRF.FindStringSubmatch(page)
	if st != http.StatusOK || m == nil {
		c.t.Fatalf("after login: status %d, CSRF meta %v", st, m)
	}
	c.csrf = html.UnescapeString(m[1])
}

func (c *webClient) tryLogin(user, password string) int {
	c.t.Helper()
	_, page := c.get("/login")
	m := hiddenCSRF.FindStringSubmatch(page)
	if m == nil {
		c.t.Fatalf("no login token in the login page:\n%s", page)
	}
	st, _, _ := c.do(http.MethodPost, "/login", url.Values{"username": {user}, "password": {password}, "csrf_token": {html.UnescapeString(m[1])}}, nil)
	return st
}

// addUser creates a dashboard user with a role and returns a logged-in client.
func addUser(t *testing.T, s *testServer, name string, role auth.Role) *webClient {
	t.Helper()
	if _, err := s.app.web.users.Create(context.Background(), name, name+"-password", role); err != nil {
		t.Fatal(err)
	}
	c := newWebClient(t, s.URL)
	c.login(name, name+"-password")
	return c
}

// approvalPipeline declares Source → Build (fake, with a summary full of markup) → Approve
// (Manual) → Deploy (fake).
func approvalPipeline(name, summary string) []byte {
	fakeAction := func(n, category string, cfg map[string]string) map[string]any {
		return map[string]any{"name": n, "actionTypeId": map[string]string{"category": category, "owner": "Custom", "provider": "Fake", "version": "1"},
			"configuration": cfg}
	}
	d := map[string]any{"name": name, "pipelineType": "V2", "executionMode": "QUEUED",
		"variables": []any{map[string]string{"name": "NOTE", "defaultValue": "routine"}},
		"stages": []any{
			map[string]any{"name": "Source", "actions": []any{fakeAction("Src", "Source", map[string]string{"Summary": "commit <b>bold</b>"})}},
			map[string]any{"name": "Build", "actions": []any{fakeAction("Compile", "Build", map[string]string{"Summary": summary})}},
			map[string]any{"name": "Approve", "actions": []any{map[string]any{"name": "Release",
				"actionTypeId":  map[string]string{"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
				"configuration": map[string]string{"CustomData": "Ship #{variables.NOTE} <script>alert('x')</script>?", "ExternalEntityLink": "javascript:alert(1)"}}}},
			map[string]any{"name": "Deploy", "actions": []any{fakeAction("Roll", "Deploy", nil)}},
		}}
	b, _ := json.Marshal(map[string]any{"pipeline": d})
	return b
}

// awaitApproval waits until the pipeline's approval waits, and returns the execution id.
func awaitApproval(t *testing.T, s *testServer, name string) string {
	t.Helper()
	var exec string
	eventually(t, "the approval to wait", 15*time.Second, func() bool {
		st, err := s.app.engine.State(context.Background(), name)
		if err != nil || len(st.StageStates) < 3 {
			return false
		}
		a := st.StageStates[2].ActionStates[0].LatestExecution
		if a != nil && a.Status == pipeline.StatusInProgress {
			exec = a.PipelineExecutionID
			return true
		}
		return false
	})
	return exec
}

func TestDashboardLoginAndSessions(t *testing.T) {
	s := startServer(t)
	anon := newWebClient(t, s.URL)
	st, body := anon.get("/pipelines/nope")
	if st != http.StatusUnauthorized || !strings.Contains(body, `action="/login"`) || !strings.Contains(body, `name="next" value="/pipelines/nope"`) {
		t.Fatalf("anonymous page: %d\n%s", st, body)
	}
	if _, err := s.app.web.users.Create(context.Background(), "dora", "dora-password", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if st := anon.tryLogin("dora", "wrong-password"); st != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", st)
	}
	// A login form without its token (a foreign site posting it) is refused.
	if st, _, _ := anon.do(http.MethodPost, "/login", url.Values{"username": {"dora"}, "password": {"dora-password"}}, nil); st != http.StatusForbidden {
		t.Fatalf("login without its CSRF token: %d", st)
	}
	// Behind a TLS proxy the session cookie is Secure; always HttpOnly and SameSite=Lax.
	c := newWebClient(t, s.URL)
	_, page := c.get("/login")
	token := html.UnescapeString(hiddenCSRF.FindStringSubmatch(page)[1])
	_, _, hdr := c.do(http.MethodPost, "/login", url.Values{"username": {"dora"}, "password": {"dora-password"}, "csrf_token": {token},
		"next": {"//evil.example/"}}, map[string]string{"X-Forwarded-Proto": "https"})
	cookie := hdr.Get("Set-Cookie")
	if !strings.Contains(cookie, "conveyor_session=") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "Secure") ||
		!strings.Contains(cookie, "SameSite=Lax") {
		t.Fatalf("session cookie: %s", cookie)
	}
	if loc := hdr.Get("Location"); loc != "/" {
		t.Fatalf("redirect after login to %q: only paths on this site", loc)
	}

	// Logout needs the CSRF token, then ends the session.
	v := newWebClient(t, s.URL)
	if _, err := s.app.web.users.Create(context.Background(), "erin", "erin-password", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	v.login("erin", "erin-password")
	if st, _, _ := v.post("/logout", url.Values{"csrf_token": {"forged"}}); st != http.StatusForbidden {
		t.Fatalf("logout with a forged token: %d", st)
	}
	if st, _, _ := v.post("/logout", nil); st != http.StatusSeeOther {
		t.Fatalf("logout: %d", st)
	}
	if st, _ := v.get("/"); st != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", st)
	}
	// Failed logins are limited per user name (and per client address).
	limited := false
	for i := 0; i < 15 && !limited; i++ {
		limited = anon.tryLogin("dora", "still-wrong") == http.StatusTooManyRequests
	}
	if !limited {
		t.Fatal("repeated failed logins were never rate limited")
	}
	if st := newWebClient(t, s.URL).tryLogin("dora", "dora-password"); st != http.StatusTooManyRequests {
		t.Fatalf("the right password during the lockout: %d, want 429 (guessing stays slow)", st)
	}

	entries, _ := s.app.web.audit.List(context.Background(), store.AuditFilter{Action: "login"})
	var ok, failed int
	for _, e := range entries {
		if e.Outcome == "ok" {
			ok++
		} else {
			failed++
		}
	}
	if ok < 2 || failed < 2 {
		t.Fatalf("audit log has %d good and %d failed logins: %+v", ok, failed, entries)
	}
}

func TestDashboardRolesCSRFAndEscaping(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	markup := `<img src=x onerror="alert(1)">`
	if _, err := s.app.engine.CreatePipeline(ctx, approvalPipeline("shop", markup), nil, "test"); err != nil {
		t.Fatal(err)
	}
	exec := awaitApproval(t, s, "shop")
	viewer := addUser(t, s, "vera", auth.RoleViewer)
	operator := addUser(t, s, "otto", auth.RoleOperator)
	approver := addUser(t, s, "anna", auth.RoleApprover)
	approvalPath := "/pipelines/shop/executions/" + exec + "/approvals/Approve/Release"

	// Everyone reads; markup from users' data is text, never markup.
	for _, c := range []*webClient{viewer, operator, approver} {
		st, page := c.get("/pipelines/shop")
		if st != http.StatusOK {
			t.Fatalf("pipeline page: %d", st)
		}
		if strings.Contains(page, markup) || !strings.Contains(page, html.EscapeString(markup)) {
			t.Fatalf("the action summary must be escaped:\n%s", page)
		}
		if strings.Contains(page, "<script>alert") || strings.Contains(page, `href="javascript:`) {
			t.Fatal("markup or a javascript: link reached the page")
		}
	}
	// Only operators see the operation forms; only approvers the approval form.
	_, vpage := viewer.get("/pipelines/shop")
	_, opage := operator.get("/pipelines/shop")
	if strings.Contains(vpage, "Release change") || strings.Contains(vpage, "/stop\"") || !strings.Contains(opage, "Release change") {
		t.Fatal("viewer must not see operator buttons; operator must")
	}
	_, vappr := viewer.get(approvalPath)
	_, oappr := operator.get(approvalPath)
	_, aappr := approver.get(approvalPath)
	if strings.Contains(vappr, `value="Approved"`) || strings.Contains(oappr, `value="Approved"`) || !strings.Contains(aappr, `value="Approved"`) {
		t.Fatal("only approvers see Approve/Reject")
	}
	if !strings.Contains(aappr, "Ship routine &lt;script&gt;") {
		t.Fatalf("CustomData (resolved, escaped) missing:\n%s", aappr)
	}

	// The server enforces roles whatever the page showed: a viewer's forged POST is refused.
	if st, _, _ := viewer.post("/pipelines/shop/start", nil); st != http.StatusForbidden {
		t.Fatalf("viewer start: %d", st)
	}
	if st, _, _ := viewer.post(approvalPath, url.Values{"decision": {"Approved"}, "comment": {"sneaky"}}); st != http.StatusForbidden {
		t.Fatalf("viewer approve: %d", st)
	}
	if st, _, _ := operator.post(approvalPath, url.Values{"decision": {"Approved"}, "comment": {"sneaky"}}); st != http.StatusForbidden {
		t.Fatalf("operator approve: %d", st)
	}
	// CSRF: without the token, or with another session's, a form is refused even for the right role.
	if st, _, _ := operator.post("/pipelines/shop/start", url.Values{"csrf_token": {""}}); st != http.StatusForbidden {
		t.Fatalf("start without a token: %d", st)
	}
	if st, _, _ := operator.post("/pipelines/shop/start", url.Values{"csrf_token": {approver.csrf}}); st != http.StatusForbidden {
		t.Fatalf("start with another session's token: %d", st)
	}
	// Approvals are POST only: a GET with the decision in the query changes nothing.
	approver.get(approvalPath + "?decision=Approved&comment=via-get")
	if st, _ := s.app.engine.State(ctx, "shop"); st.StageStates[2].ActionStates[0].LatestExecution.Status != pipeline.StatusInProgress {
		t.Fatal("a GET decided the approval")
	}
	// An operator starts a release with a variable (the script's way: header token, JSON answer).
	st, body, _ := operator.do(http.MethodPost, "/pipelines/shop/start", url.Values{"var.NOTE": {"hotfix"}},
		map[string]string{"X-CSRF-Token": operator.csrf, "X-Requested-With": "conveyor"})
	if st != http.StatusOK || !strings.Contains(body, "Started execution") {
		t.Fatalf("operator start: %d %s", st, body)
	}
	// An approval needs a comment.
	st, _, hdr := approver.post(approvalPath, url.Values{"decision": {"Approved"}, "comment": {"  "}})
	if st != http.StatusSeeOther {
		t.Fatalf("approve without comment: %d", st)
	}
	if _, page := approver.get(hdr.Get("Location")); !strings.Contains(page, "a comment is required") {
		t.Fatal("the refusal must be shown on the page")
	}
	st, _, _ = approver.post(approvalPath, url.Values{"decision": {"Approved"}, "comment": {"LGTM <i>ship it</i>"}})
	if st != http.StatusSeeOther {
		t.Fatalf("approve: %d", st)
	}
	// (The release started above may enter Approve right after: look at this execution's action.)
	eventually(t, "the approval to be recorded", 10*time.Second, func() bool {
		list, _, err := s.app.engine.ListActionExecutions(ctx, "shop", exec, "", 100)
		for _, a := range list {
			if err == nil && a.StageName == "Approve" && a.Status == pipeline.StatusSucceeded && a.UpdatedBy == "user/anna" {
				return true
			}
		}
		return false
	})
	_, page := viewer.get(approvalPath)
	if !strings.Contains(page, "user/anna") || !strings.Contains(page, "LGTM &lt;i&gt;ship it&lt;/i&gt;") {
		t.Fatalf("the decision (who, why) must show, escaped:\n%s", page)
	}
	// A second decision on the same approval is refused with a message.
	st, _, hdr = approver.post(approvalPath, url.Values{"decision": {"Rejected"}, "comment": {"too late"}})
	if _, page := approver.get(hdr.Get("Location")); st != http.StatusSeeOther || !strings.Contains(page, "no longer waiting") {
		t.Fatalf("second decision: %d", st)
	}

	// Admin pages are for admins.
	if st, _ := approver.get("/admin/users"); st != http.StatusForbidden {
		t.Fatalf("approver on /admin/users: %d", st)
	}
	// Every change above is in the audit log, with who and the outcome.
	entries, _ := s.app.web.audit.List(ctx, store.AuditFilter{})
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Actor+" "+e.Action+" "+strings.SplitN(e.Outcome, ":", 2)[0]] = true
	}
	for _, want := range []string{"user/vera POST /pipelines/shop/start denied", "user/otto start ok", "user/anna approve ok",
		"user/anna reject failed", "user/otto csrf denied"} {
		if !seen[want] {
			t.Errorf("audit log lacks %q; has %v", want, seen)
		}
	}
}

func TestDashboardOperations(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	raw := fakePipeline("ops", "QUEUED", "Build", "Custom", "Fake", map[string]string{"Wait": "true"})
	createRaw(t, codePipelineClient(s.URL, "", ""), raw)
	op := addUser(t, s, "olga", auth.RoleOperator)
	var exec string
	eventually(t, "the Work stage to run", 10*time.Second, func() bool {
		st, err := s.app.engine.State(ctx, "ops")
		if err != nil || st.StageStates[1].LatestExecution == nil {
			return false
		}
		exec = st.StageStates[1].LatestExecution.PipelineExecutionID
		return st.StageStates[1].LatestExecution.Status == pipeline.StatusInProgress
	})
	// Disable the transition into Work (with a reason), then enable it again.
	if st, _, _ := op.post("/pipelines/ops/stages/Work/transition", url.Values{"enabled": {"false"}, "reason": {"Release freeze"}}); st != http.StatusSeeOther {
		t.Fatalf("disable: %d", st)
	}
	state, _ := s.app.engine.State(ctx, "ops")
	if tr := state.StageStates[1].InboundTransitionState; tr.Enabled || tr.DisabledReason != "Release freeze" || tr.LastChangedBy != "user/olga" {
		t.Fatalf("transition = %+v", tr)
	}
	if _, page := op.get("/pipelines/ops"); !strings.Contains(page, "Transition disabled") || !strings.Contains(page, "Release freeze") {
		t.Fatal("the disabled transition and its reason must show")
	}
	op.post("/pipelines/ops/stages/Work/transition", url.Values{"enabled": {"true"}})
	// Stop and abandon the running execution; then retry its stopped stage.
	if st, _, _ := op.post("/pipelines/ops/executions/"+exec+"/stop", url.Values{"mode": {"abandon"}, "reason": {"wrong branch"}}); st != http.StatusSeeOther {
		t.Fatalf("stop: %d", st)
	}
	eventually(t, "the execution to stop", 10*time.Second, func() bool {
		ex, err := s.app.engine.GetExecution(ctx, "ops", exec)
		return err == nil && ex.Status == pipeline.StatusStopped
	})
	if st, _, _ := op.post("/pipelines/ops/executions/"+exec+"/retry", url.Values{"stage": {"Work"}, "mode": {"FAILED_ACTIONS"}}); st != http.StatusSeeOther {
		t.Fatalf("retry: %d", st)
	}
	eventually(t, "the stage to run again", 10*time.Second, func() bool {
		ex, err := s.app.engine.GetExecution(ctx, "ops", exec)
		return err == nil && ex.Status == pipeline.StatusInProgress
	})
	// Pages of the execution and the history answer.
	for _, p := range []string{"/pipelines/ops/executions/" + exec, "/pipelines/ops/history", "/"} {
		if st, page := op.get(p); st != http.StatusOK || !strings.Contains(page, short(exec)) {
			t.Fatalf("%s: %d", p, st)
		}
	}
	if st, _ := op.get("/pipelines/ops/executions/nope"); st != http.StatusNotFound {
		t.Fatalf("unknown execution: %d", st)
	}
	entries, _ := s.app.web.audit.List(ctx, store.AuditFilter{Actor: "user/olga"})
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action+":"+e.Outcome)
	}
	if got := strings.Join(actions, " "); got != "retry:ok stop:ok transition.enable:ok transition.disable:ok login:ok" {
		t.Fatalf("audit = %s", got)
	}
}

func TestDashboardStageRollback(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	createRaw(t, codePipelineClient(s.URL, "", ""), fakePipeline("rbweb", "SUPERSEDED", "Deploy", "Custom", "Fake", nil))
	op := addUser(t, s, "otto", auth.RoleOperator)
	viewer := addUser(t, s, "vera", auth.RoleViewer)
	var good string
	eventually(t, "the first execution to succeed", 10*time.Second, func() bool {
		list, _, err := s.app.engine.ListExecutions(ctx, "rbweb", "", "", 1)
		if err != nil || len(list) == 0 {
			return false
		}
		good = list[0].PipelineExecutionID
		return list[0].Status == pipeline.StatusSucceeded
	})
	// Operators get a Roll back menu on Work (not on the source stage) offering the good execution.
	st, page := op.get("/pipelines/rbweb")
	if st != http.StatusOK {
		t.Fatalf("pipeline page: %d", st)
	}
	if strings.Count(page, ">Roll back</summary>") != 1 || !strings.Contains(page, `<option value="`+good+`">`+short(good)) {
		t.Fatalf("the pipeline page should offer one Roll back menu, on Work, with %s", short(good))
	}
	if _, page := viewer.get("/pipelines/rbweb"); strings.Contains(page, "Roll back") {
		t.Error("a viewer must not be offered Roll back")
	}
	if st, _, _ := viewer.post("/pipelines/rbweb/stages/Work/rollback", url.Values{"target": {good}}); st != http.StatusForbidden {
		t.Fatalf("viewer rollback: %d, want 403", st)
	}
	st, body, _ := op.do(http.MethodPost, "/pipelines/rbweb/stages/Source/rollback",
		url.Values{"target": {good}, "csrf_token": {op.csrf}}, map[string]string{"X-Requested-With": "conveyor"})
	if st != http.StatusBadRequest || !strings.Contains(body, "source stage cannot be rolled back") {
		t.Fatalf("rolling back the source stage: %d %s", st, body)
	}
	if st, _, _ := op.post("/pipelines/rbweb/stages/Work/rollback", url.Values{"target": {good}}); st != http.StatusSeeOther {
		t.Fatalf("rollback: %d", st)
	}
	var rb string
	eventually(t, "the rollback to succeed", 10*time.Second, func() bool {
		list, _, err := s.app.engine.ListExecutions(ctx, "rbweb", "", "", 1)
		if err != nil || len(list) == 0 || list[0].ExecutionType != pipeline.ExecutionTypeRollback {
			return false
		}
		rb = list[0].PipelineExecutionID
		return list[0].Status == pipeline.StatusSucceeded
	})
	if _, page := op.get("/pipelines/rbweb"); !strings.Contains(page, ">rollback</span>") {
		t.Error("the Work stage should be marked as rolled back")
	}
	if _, page := op.get("/"); !strings.Contains(page, `title="a stage rollback: it runs one stage with the artifacts of execution `+good+`">rollback</span>`) {
		t.Error("the overview should mark the latest execution as a rollback")
	}
	if _, page := op.get("/pipelines/rbweb/history"); !strings.Contains(page, `rollback</span> to <a class="mono" href="/pipelines/rbweb/executions/`+good) {
		t.Error("the history should link the rollback to its target")
	}
	if _, page := op.get("/pipelines/rbweb/executions/" + rb); !strings.Contains(page, "Rolled back to") || !strings.Contains(page, "ManualRollback") {
		t.Error("the rollback's page should show its target and trigger")
	}
	entries, _ := s.app.web.audit.List(ctx, store.AuditFilter{Actor: "user/otto"})
	if len(entries) == 0 || entries[0].Action != "rollback" || entries[0].Outcome != "ok" {
		t.Errorf("audit = %+v, want the rollback first", entries)
	}
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// The session also works for the REST extras the browser uses, with the CSRF rule for changes;
// keys issued on the keys page show their secret once; the JSON API's changes are audited.
func TestSessionRESTKeysAndAPIAudit(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	admin := addUser(t, s, "adele", auth.RoleAdmin)
	body := strings.NewReader(`{"role":"viewer","description":"from the browser"}`)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/api/v1/keys", body)
	resp, err := admin.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a REST change by session without X-CSRF-Token: %d, want 403", resp.StatusCode)
	}
	st, out, _ := admin.do(http.MethodPost, "/api/v1/keys", nil, map[string]string{"X-CSRF-Token": admin.csrf})
	if st != http.StatusBadRequest { // no body: the handler answered, so the session and token passed
		t.Fatalf("with the token: %d %s", st, out)
	}
	if st, _ := admin.get("/api/v1/whoami"); st != http.StatusOK {
		t.Fatalf("whoami by session: %d", st)
	}

	// The keys page shows a new key's secret in its answer, once.
	st, page, _ := admin.post("/admin/keys", url.Values{"role": {"operator"}, "description": {"ci <robot>"}})
	m := regexp.MustCompile(`id="new-key-secret">([^<]+)<`).FindStringSubmatch(page)
	if st != http.StatusCreated || m == nil || !strings.Contains(page, "ci &lt;robot&gt;") {
		t.Fatalf("create key: %d\n%s", st, page)
	}
	keyID := regexp.MustCompile(`id="new-key-id">([^<]+)<`).FindStringSubmatch(page)[1]
	if _, page := admin.get("/admin/keys"); strings.Contains(page, m[1]) {
		t.Fatal("the secret must not be shown again")
	}

	// The JSON API: an operator key stops an execution, a viewer key is denied; both recorded.
	createRaw(t, codePipelineClient(s.URL, "", ""), fakePipeline("audited", "QUEUED", "Build", "Custom", "Fake", map[string]string{"Wait": "true"}))
	var exec string
	eventually(t, "the execution to run", 10*time.Second, func() bool {
		st, err := s.app.engine.State(ctx, "audited")
		if err != nil || st.StageStates[1].LatestExecution == nil {
			return false
		}
		exec = st.StageStates[1].LatestExecution.PipelineExecutionID
		return true
	})
	viewerKey, _ := s.app.keys.Create(ctx, auth.RoleViewer, "")
	secret := html.UnescapeString(m[1])
	if jsonAPICallBody(t, s.URL, "CodePipeline_20150709.StopPipelineExecution", viewerKey.ID, viewerKey.Secret,
		`{"pipelineName":"audited","pipelineExecutionId":"`+exec+`"}`) != "AccessDeniedException" {
		t.Fatal("a viewer key stopped an execution")
	}
	if got := jsonAPICallBody(t, s.URL, "CodePipeline_20150709.StopPipelineExecution", keyID, secret,
		`{"pipelineName":"audited","pipelineExecutionId":"`+exec+`","abandon":true,"reason":"bad build"}`); got != "" {
		t.Fatalf("operator stop: %s", got)
	}
	entries, _ := s.app.web.audit.List(ctx, store.AuditFilter{Action: "CodePipeline.StopPipelineExecution"})
	if len(entries) != 2 || entries[0].Actor != "key/"+keyID || entries[0].Outcome != "ok" || entries[0].Target != "audited/"+exec ||
		!strings.Contains(entries[0].Detail, "reason=bad build") || entries[1].Outcome != "denied" || entries[1].Source != "api" {
		t.Fatalf("audit = %+v", entries)
	}
	keys, _ := s.app.web.audit.List(ctx, store.AuditFilter{Action: "key."})
	if len(keys) != 1 || keys[0].Target != keyID || keys[0].Actor != "user/adele" {
		t.Fatalf("key audit = %+v", keys)
	}
	rest, _ := s.app.web.audit.List(ctx, store.AuditFilter{Action: "POST /api/v1/keys"})
	if len(rest) != 1 || rest[0].Source != "rest" || !strings.HasPrefix(rest[0].Outcome, "failed") {
		t.Fatalf("REST audit = %+v", rest)
	}
}

// notificationReceiver is a webhook target on loopback that checks each delivery's signature with
// key and hands the messages over.
func notificationReceiver(t *testing.T, key string) (*httptest.Server, <-chan notify.Message) {
	t.Helper()
	got := make(chan notify.Message, 32)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(key), r.Header.Get(notify.HeaderSignature), body, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var m notify.Message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("notification body: %v\n%s", err, body)
		}
		got <- m
	}))
	t.Cleanup(recv.Close)
	return recv, got
}

// A Manual approval's NotificationArn reaches its target through the wired server: the approval
// executor's notifier, the engine's observer, the delivery worker and the link to the dashboard.
func TestApprovalNotificationEndToEnd(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	recv, got := notificationReceiver(t, "sign-me")
	cliAgainst(t, s)
	mustCLI(t, "secrets", "put", "approvers-key", "sign-me")
	if _, err := s.app.web.notify.PutTarget(ctx, notify.Target{Name: "approvers", Type: notify.TypeWebhook, URL: recv.URL,
		SigningSecret: "approvers-key", AllowPrivateAddresses: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.app.web.notify.PutRule(ctx, notify.Rule{Name: "starts", Events: []string{notify.ExecutionStarted}, Targets: []string{"approvers"}}); err != nil {
		t.Fatal(err)
	}
	raw := approvalPipeline("notified", "built")
	raw = []byte(strings.Replace(string(raw), `"ExternalEntityLink":"javascript:alert(1)"`,
		`"ExternalEntityLink":"https://example.com/diff","NotificationArn":"arn:aws:sns:local:000000000000:approvers"`, 1))
	if _, err := s.app.engine.CreatePipeline(ctx, raw, nil, "test"); err != nil {
		t.Fatal(err)
	}
	events := map[string]notify.Message{}
	for len(events) < 2 {
		select {
		case m := <-got:
			events[m.Event] = m
		case <-time.After(15 * time.Second):
			t.Fatalf("deliveries so far: %+v", events)
		}
	}
	a := events[notify.ApprovalNeeded].Approval
	exec := events[notify.ExecutionStarted].PipelineExecutionID
	if a == nil || a.CustomData != "Ship routine <script>alert('x')</script>?" || a.ExternalEntityLink != "https://example.com/diff" ||
		a.URL != s.URL+"/pipelines/notified/executions/"+exec+"/approvals/Approve/Release" || a.Expires.Before(time.Now().Add(6*24*time.Hour)) {
		t.Fatalf("approval message: %+v", a)
	}
}
