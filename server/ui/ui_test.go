package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/executor/build"
	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/store"
)

const evil = `<script>alert("x")</script><img src=x onerror=alert(1)>`

func renderPage(t *testing.T, p *page) string {
	t.Helper()
	u, err := New(Deps{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	u.render(rec, httptest.NewRequest(http.MethodGet, "/", nil), p)
	if rec.Code != http.StatusOK {
		t.Fatalf("render %s: %d\n%s", p.Template, rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// Names, commit messages, summaries, custom data and log lines are data: they reach the page as
// text, and links with a javascript: scheme are neutralised.
func TestPagesEscapeEverything(t *testing.T) {
	now := time.Now()
	checks := []struct {
		name string
		page *page
	}{
		{"pipeline", &page{Template: "pipeline", Role: auth.RoleAdmin, Data: pipelineData{Name: "p", Stages: []stageView{{Name: "Build",
			Status: "Failed", ExecID: "e1", CanRetry: true, Actions: []actionView{{Name: "a", Category: "Source", Status: "Succeeded",
				Summary: evil, Revision: &revisionView{ID: "abc", Message: evil, URL: "javascript:alert(1)"}, ExternalURL: "javascript:alert(2)"},
				{Name: "b", Category: "Approval", Status: "InProgress", Waiting: true, Summary: evil, EntityURL: "javascript:alert(3)", Deadline: now}}}},
			History: []pipeline.ExecutionSummary{{PipelineExecutionID: "e1", Status: "Failed", StatusSummary: evil,
				SourceRevisions: []pipeline.SourceRevisionSummary{{ActionName: "a", RevisionID: "abc", RevisionSummary: evil}},
				Trigger:         pipeline.ExecutionTrigger{TriggerType: "Webhook", TriggerDetail: evil}}}}}},
		{"approval", &page{Template: "approval", Role: auth.RoleApprover, Data: approvalData{Name: "p", ExecID: "e", Stage: "s", Action: "a",
			Status: "InProgress", Waiting: true, CustomData: evil, Link: "javascript:alert(4)",
			History: []store.ActionExecution{{Status: "Succeeded", UpdatedBy: evil, Summary: evil}}}}},
		{"build", &page{Template: "build", Data: buildData{Build: build.Build{ID: "p:1", ProjectName: "p", BuildStatus: "FAILED",
			ExportedEnvironmentVariables: []build.ExportedVariable{{Name: "V", Value: evil}}},
			Tail: []string{evil, "plain line"}, TailFirst: 99, Total: 100, Finished: true,
			Reports: []reportView{{Report: build.ReportView{Type: "TEST", Name: "r"}, Cases: []build.TestCaseView{{Name: evil, Status: "FAILED", Message: evil}}}}}}},
		{"audit", &page{Template: "audit", Role: auth.RoleAdmin, Data: auditData{Entries: []store.AuditEntry{{Actor: evil, Action: "x", Detail: evil, Outcome: "ok"}}}}},
		{"error", &page{Template: "error", Data: evil}},
		{"deployment", &page{Template: "deployment", Role: auth.RoleOperator, Data: deploymentData{Active: true,
			D: deploy.DeploymentInfo{DeploymentID: "d-1", Status: "Failed", Description: evil, ErrorInformation: &deploy.ErrorInformation{Code: "X", Message: evil}},
			Targets: []deploy.InstanceTarget{{TargetID: "web-1", Status: "Failed", LifecycleEvents: []deploy.LifecycleEvent{{LifecycleEventName: "ApplicationStart",
				Status: "Failed", Diagnostics: &deploy.Diagnostics{ScriptName: evil, Message: evil, LogTail: evil}}}}},
			Logs: map[string]deploy.HostLog{"web-1": {Instance: "web-1", First: 1, Total: 1, Lines: []string{evil}}}}}},
		{"agents", &page{Template: "agents", Role: auth.RoleAdmin, Data: []deploy.Agent{{Name: "web-1", Hostname: evil, Tags: map[string]string{"role": evil},
			HasAgent: true, Work: []deploy.Work{{DeploymentID: "d-1", Event: evil}}}}}},
		{"deliveries", &page{Template: "deliveries", Data: connectionsData{Connection: &store.Connection{Name: "gh"},
			Deliveries: []store.WebhookDelivery{{Status: "rejected", Reason: evil, Sender: evil, Ref: evil}}}}},
	}
	for _, c := range checks {
		out := renderPage(t, c.page)
		if strings.Contains(out, "<script>alert") || strings.Contains(out, "<img src=x") || strings.Contains(out, `href="javascript:`) {
			t.Errorf("%s: markup or a javascript: link reached the page", c.name)
		}
		if !strings.Contains(out, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
			t.Errorf("%s: the text must be shown escaped", c.name)
		}
	}
}

func TestBuildPageCarriesOnlyTheTail(t *testing.T) {
	out := renderPage(t, &page{Template: "build", Data: buildData{Build: build.Build{ID: "p:1", ProjectName: "p"},
		Tail: []string{"line 99 999", "line 100 000"}, TailFirst: 99_999, Total: 100_000}})
	if !strings.Contains(out, `data-n="100000"`) || !strings.Contains(out, "Lines 1–99998 are not shown") || strings.Count(out, `class="ln"`) != 2 {
		t.Fatalf("the page must carry the tail and say what is not shown:\n%s", out)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/pipelines/x": "/pipelines/x", "": "/", "//evil.example/": "/", "/\\evil.example": "/", "https://evil.example/": "/",
		"/login?next=/x": "/", "/a\r\nSet-Cookie: x": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainsFold(t *testing.T) {
	for _, c := range []struct {
		line, needle string
		want         bool
	}{{"ERROR: disk full", "error", true}, {"all good", "error", false}, {"xErRoRx", "error", true}, {"err", "error", false}, {"", "a", false}} {
		if got := containsFold([]byte(c.line), []byte(c.needle)); got != c.want {
			t.Errorf("containsFold(%q, %q) = %v", c.line, c.needle, got)
		}
	}
}

func TestBackToStaysOnSite(t *testing.T) {
	for ref, want := range map[string]string{
		"http://ci.example.com/pipelines/x?y=1": "/pipelines/x?y=1", "https://evil.example/x": "/", "": "/", "/rel": "/rel",
	} {
		r := httptest.NewRequest(http.MethodPost, "http://ci.example.com/pipelines/x/start", nil)
		r.Header.Set("Referer", ref)
		if got := backTo(r); got != want {
			t.Errorf("backTo(%q) = %q, want %q", ref, got, want)
		}
	}
}
