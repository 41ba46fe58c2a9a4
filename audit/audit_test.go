package audit_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/audit"
	"github.com/conveyorci/conveyor/server/auth"
	"github.com/conveyorci/conveyor/server/awsapi"
	"github.com/conveyorci/conveyor/store"
)

type memory struct{ entries []audit.Entry }

func (m *memory) Record(_ context.Context, e audit.Entry) { m.entries = append(m.entries, e) }

func TestAPIHookNamesTheResourceAndLeavesTokensOut(t *testing.T) {
	m := &memory{}
	hook := audit.APIHook(m)
	id := auth.Identity{Name: "key/AKIA1", Role: auth.RoleApprover}
	hook(context.Background(), awsapi.Call{Identity: id, Target: "CodePipeline_20150709.PutApprovalResult",
		Input: []byte(`{"pipelineName":"shop","stageName":"Approve","actionName":"Release","token":"SECRET-TOKEN",
			"result":{"status":"Approved","summary":"looks good"}}`)})
	hook(context.Background(), awsapi.Call{Identity: id, Target: "CodePipeline_20150709.StopPipelineExecution", Denied: true})
	hook(context.Background(), awsapi.Call{Identity: id, Target: "CodePipeline_20150709.CreatePipeline",
		Input: []byte(`{"pipeline":{"name":"shop","stages":[]}}`), Err: errors.New("InvalidStructureException: bad")})
	if len(m.entries) != 3 {
		t.Fatalf("entries = %+v", m.entries)
	}
	e := m.entries[0]
	if e.Action != "CodePipeline.PutApprovalResult" || e.Target != "shop/Approve/Release" || e.Source != audit.SourceAPI ||
		e.Outcome != "" || e.Actor != "key/AKIA1" || e.Role != "approver" || !strings.Contains(e.Detail, "summary:looks good") {
		t.Fatalf("approval entry = %+v", e)
	}
	for _, e := range m.entries {
		if strings.Contains(e.Detail+e.Target, "SECRET-TOKEN") {
			t.Fatalf("the approval token leaked into the audit log: %+v", e)
		}
	}
	if m.entries[1].Outcome != "denied" || m.entries[2].Target != "shop" || !strings.HasPrefix(m.entries[2].Outcome, "failed: ") {
		t.Fatalf("denied / failed entries = %+v", m.entries[1:])
	}
}

func TestLogStoresAndClips(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "c.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := &audit.Log{DB: db}
	l.Record(ctx, audit.Entry{Actor: "user/a", Source: audit.SourceUI, Action: "approve", Detail: strings.Repeat("x", 5000)})
	list, err := l.List(ctx, store.AuditFilter{})
	if err != nil || len(list) != 1 || list[0].Outcome != "ok" || len(list[0].Detail) > 1100 {
		t.Fatalf("entries = %+v, %v", list, err)
	}
}
