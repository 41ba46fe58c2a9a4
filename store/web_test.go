package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUsersAndSessions(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	w := func(fn func(tx *Tx) error) error { return db.Write(ctx, fn) }
	if err := w(func(tx *Tx) error { return tx.CreateUser(ctx, User{Name: "alice", PasswordHash: "h1", Role: "admin"}) }); err != nil {
		t.Fatal(err)
	}
	if err := w(func(tx *Tx) error { return tx.CreateUser(ctx, User{Name: "alice", PasswordHash: "h2", Role: "viewer"}) }); !errors.Is(err, ErrConflict) {
		t.Fatalf("second alice: %v, want ErrConflict", err)
	}
	_ = w(func(tx *Tx) error { return tx.CreateUser(ctx, User{Name: "bob", PasswordHash: "h", Role: "viewer"}) })
	n, admins, err := db.Read().CountUsers(ctx)
	if err != nil || n != 2 || admins != 1 {
		t.Fatalf("CountUsers = %d, %d, %v", n, admins, err)
	}
	expires := time.Now().Add(time.Hour)
	if err := w(func(tx *Tx) error {
		return tx.CreateSession(ctx, Session{IDHash: "s1", User: "bob", CSRFToken: "c", Expires: expires})
	}); err != nil {
		t.Fatal(err)
	}
	s, err := db.Read().GetSession(ctx, "s1")
	if err != nil || s.User != "bob" || s.Role != "viewer" || s.CSRFToken != "c" {
		t.Fatalf("GetSession = %+v, %v", s, err)
	}
	// A role change shows in the session at once (joined, not copied).
	_ = w(func(tx *Tx) error { return tx.SetUserRole(ctx, "bob", "approver") })
	if s, _ = db.Read().GetSession(ctx, "s1"); s.Role != "approver" {
		t.Fatalf("role after set-role = %q", s.Role)
	}
	// A new password ends the user's sessions; deleting a user does too (cascade).
	_ = w(func(tx *Tx) error { return tx.SetUserPassword(ctx, "bob", "h9") })
	if _, err := db.Read().GetSession(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session after password change: %v", err)
	}
	_ = w(func(tx *Tx) error {
		return tx.CreateSession(ctx, Session{IDHash: "s2", User: "bob", CSRFToken: "c", Expires: expires})
	})
	_ = w(func(tx *Tx) error { return tx.DeleteUser(ctx, "bob") })
	if _, err := db.Read().GetSession(ctx, "s2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("session of a deleted user: %v", err)
	}
	// Expired sessions are not found and are pruned.
	_ = w(func(tx *Tx) error {
		return tx.CreateSession(ctx, Session{IDHash: "old", User: "alice", CSRFToken: "c", Expires: time.Now().Add(-time.Minute)})
	})
	if _, err := db.Read().GetSession(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	var pruned int64
	_ = w(func(tx *Tx) error { pruned, err = tx.DeleteExpiredSessions(ctx); return err })
	if pruned != 1 {
		t.Fatalf("pruned %d sessions, want 1", pruned)
	}
	if err := w(func(tx *Tx) error { return tx.SetUserRole(ctx, "nobody", "admin") }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("set-role of a missing user: %v", err)
	}
}

func TestAuditLogFilters(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	for _, e := range []AuditEntry{
		{Actor: "user/alice", Source: "ui", Action: "approve", Target: "p/s/a"},
		{Actor: "key/AKIA1", Source: "api", Action: "CodePipeline.StopPipelineExecution", Outcome: "denied"},
		{Actor: "user/alice", Source: "ui", Action: "user.create", Target: "bob"},
	} {
		if err := db.Write(ctx, func(tx *Tx) error { return tx.InsertAudit(ctx, e) }); err != nil {
			t.Fatal(err)
		}
	}
	all, err := db.Read().ListAudit(ctx, AuditFilter{})
	if err != nil || len(all) != 3 || all[0].Action != "user.create" || all[1].Outcome != "denied" || all[2].Outcome != "ok" {
		t.Fatalf("ListAudit = %+v, %v", all, err)
	}
	byActor, _ := db.Read().ListAudit(ctx, AuditFilter{Actor: "user/alice"})
	byAction, _ := db.Read().ListAudit(ctx, AuditFilter{Action: "CodePipeline."})
	page, _ := db.Read().ListAudit(ctx, AuditFilter{BeforeSeq: all[0].Seq, Limit: 1})
	if len(byActor) != 2 || len(byAction) != 1 || len(page) != 1 || page[0].Seq != all[1].Seq {
		t.Fatalf("filters: actor %d, action %d, page %+v", len(byActor), len(byAction), page)
	}
}

func TestNotificationDefinitionsAndDeliveries(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	db, err := Open(ctx, t.TempDir()+"/c.db", Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var created bool
	put := func(def string) {
		if err := db.Write(ctx, func(tx *Tx) error {
			created, err = tx.PutNotificationDefinition(ctx, NotificationTargets, "hook", []byte(def))
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	put(`{"name":"hook","v":1}`)
	if !created {
		t.Fatal("first put must create")
	}
	put(`{"name":"hook","v":2}`)
	if created {
		t.Fatal("second put must update")
	}
	d, err := db.Read().GetNotificationDefinition(ctx, NotificationTargets, "hook")
	if err != nil || string(d.Definition) != `{"name":"hook","v":2}` {
		t.Fatalf("Get = %s, %v", d.Definition, err)
	}
	if _, err := db.Read().GetNotificationDefinition(ctx, NotificationRules, "hook"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a target is not a rule: %v", err)
	}
	if _, err := db.Read().ListNotificationDefinitions(ctx, "users; DROP TABLE users"); err == nil {
		t.Fatal("an unknown kind must be refused, never spliced into SQL")
	}

	enqueue := func(id, key string) bool {
		var ok bool
		if err := db.Write(ctx, func(tx *Tx) error {
			ok, err = tx.EnqueueDelivery(ctx, Delivery{ID: id, Target: "hook", Event: "execution.failed", DedupeKey: key, Payload: []byte(`{}`)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !enqueue("d1", "execution:e1:failed") || enqueue("d2", "execution:e1:failed") {
		t.Fatal("the same event for the same target must be enqueued once")
	}
	due, err := db.Read().DueDeliveries(ctx, 10)
	if err != nil || len(due) != 1 || due[0].ID != "d1" {
		t.Fatalf("DueDeliveries = %+v, %v", due, err)
	}
	_ = db.Write(ctx, func(tx *Tx) error {
		return tx.RecordDeliveryAttempt(ctx, "d1", DeliveryPending, 503, "busy", now.Add(time.Minute))
	})
	if due, _ = db.Read().DueDeliveries(ctx, 10); len(due) != 0 {
		t.Fatalf("a delivery waiting for its retry is not due: %+v", due)
	}
	if next, _ := db.Read().NextDeliveryDue(ctx); !next.Equal(now.Add(time.Minute).UTC().Truncate(time.Millisecond)) {
		t.Fatalf("NextDeliveryDue = %v", next)
	}
	_ = db.Write(ctx, func(tx *Tx) error {
		return tx.RecordDeliveryAttempt(ctx, "d1", DeliveryFailed, 500, "gave up", time.Time{})
	})
	failed, _ := db.Read().ListDeliveries(ctx, DeliveryFilter{Status: DeliveryFailed})
	if len(failed) != 1 || failed[0].Attempts != 2 || failed[0].LastStatus != 500 {
		t.Fatalf("failed deliveries = %+v", failed)
	}
	if err := db.Write(ctx, func(tx *Tx) error { return tx.RetryDelivery(ctx, "d1") }); err != nil {
		t.Fatal(err)
	}
	if err := db.Write(ctx, func(tx *Tx) error { return tx.RetryDelivery(ctx, "d1") }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retrying a pending delivery: %v", err)
	}
	if due, _ = db.Read().DueDeliveries(ctx, 10); len(due) != 1 {
		t.Fatalf("a retried delivery is due now: %+v", due)
	}
}

func TestDashboardReads(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	err := db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.CreatePipeline(ctx, "p", []byte(`{"name":"p"}`)); err != nil {
			return err
		}
		for i, id := range []string{"e1", "e2", "e3"} {
			status := "Succeeded"
			if i == 2 {
				status = "InProgress"
			}
			if err := tx.InsertExecution(ctx, &Execution{ID: id, Pipeline: "p", PipelineVersion: 1, Status: status, Mode: "QUEUED", TriggerType: "t"}); err != nil {
				return err
			}
			if err := tx.PutStageExecution(ctx, &StageExecution{ExecutionID: id, StageName: "Build", Attempt: 1, BaseAttempt: 1, Status: status}); err != nil {
				return err
			}
			if err := tx.InsertActionExecution(ctx, &ActionExecution{ID: "a-" + id, ExecutionID: id, Pipeline: "p", PipelineVersion: 1,
				StageName: "Build", ActionName: "Approve", Attempt: 1, Status: status, UpdatedBy: "user/" + id, Deadline: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stages, err := db.Read().StageExecutionsOf(ctx, []string{"e1", "e3", "missing"})
	if err != nil || len(stages) != 2 || stages["e3"][0].Status != "InProgress" {
		t.Fatalf("StageExecutionsOf = %+v, %v", stages, err)
	}
	running, err := db.Read().RunningActions(ctx)
	if err != nil || len(running) != 1 || running[0].ExecutionID != "e3" {
		t.Fatalf("RunningActions = %+v, %v", running, err)
	}
	hist, err := db.Read().ActionHistory(ctx, "p", "Build", "Approve", 2)
	if err != nil || len(hist) != 2 || hist[0].ExecutionID != "e3" || hist[1].UpdatedBy != "user/e2" {
		t.Fatalf("ActionHistory = %+v, %v", hist, err)
	}
	recent, err := db.Read().RecentExecutions(ctx, "p", 1)
	if err != nil || len(recent) != 1 || recent[0].ID != "e3" {
		t.Fatalf("RecentExecutions(1) = %+v, %v", recent, err)
	}
	if recent, _ = db.Read().RecentExecutions(ctx, "p", 10); len(recent) != 3 {
		t.Fatalf("RecentExecutions(10) = %d executions", len(recent))
	}
}
