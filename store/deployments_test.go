package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDeploymentStore(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	write := func(fn func(tx *Tx) error) error { return db.Write(ctx, fn) }

	// Tokens are single-use.
	if err := write(func(tx *Tx) error {
		return tx.CreateAgentToken(ctx, AgentToken{Hash: "h1", Tags: map[string]string{"env": "prod"}, Expires: time.Now().Add(time.Hour)})
	}); err != nil {
		t.Fatal(err)
	}
	if err := write(func(tx *Tx) error { return tx.UseAgentToken(ctx, "h1", "web-1") }); err != nil {
		t.Fatal(err)
	}
	if err := write(func(tx *Tx) error { return tx.UseAgentToken(ctx, "h1", "web-2") }); !errors.Is(err, ErrConflict) {
		t.Fatalf("second use of a token: %v", err)
	}
	tok, err := db.Read().GetAgentToken(ctx, "h1")
	if err != nil || tok.UsedBy != "web-1" || tok.Used.IsZero() || tok.Tags["env"] != "prod" {
		t.Fatalf("token = %+v, %v", tok, err)
	}

	// Instances: an agent id is unique; revoke and deregister.
	for _, i := range []Instance{{Name: "web-1", ID: "i1", AgentID: "a1"}, {Name: "web-2", ID: "i2"}} {
		if err := write(func(tx *Tx) error { return tx.PutInstance(ctx, i) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := write(func(tx *Tx) error { return tx.PutInstance(ctx, Instance{Name: "web-3", ID: "i3", AgentID: "a1"}) }); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second instance with the same agent id: %v", err)
	}
	if i, err := db.Read().InstanceByAgent(ctx, "a1"); err != nil || i.Name != "web-1" || !i.Active() {
		t.Fatalf("InstanceByAgent = %+v, %v", i, err)
	}
	if err := write(func(tx *Tx) error { return tx.RevokeInstance(ctx, "web-2", true) }); err != nil {
		t.Fatal(err)
	}
	if i, _ := db.Read().GetInstance(ctx, "web-2"); i.Active() || i.Deregistered.IsZero() {
		t.Fatalf("deregistered instance = %+v", i)
	}

	// Deployments: external ids are unique; targets change by compare-and-set.
	if err := write(func(tx *Tx) error {
		if _, err := tx.CreateDeployApplication(ctx, DeployApplication{Name: "shop", ID: "app", ComputePlatform: "Server"}); err != nil {
			return err
		}
		_, err := tx.CreateDeployGroup(ctx, DeployGroup{ID: "g1", Application: "shop", Name: "web", Definition: []byte("{}")})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	d := &Deployment{ID: "d-1", Application: "shop", GroupID: "g1", GroupName: "web", ConfigName: "c", Status: "InProgress", Creator: "user",
		Revision: []byte("{}"), ExternalID: "action-1"}
	if err := write(func(tx *Tx) error { return tx.InsertDeployment(ctx, d) }); err != nil {
		t.Fatal(err)
	}
	dup := *d
	dup.ID = "d-2"
	if err := write(func(tx *Tx) error { return tx.InsertDeployment(ctx, &dup) }); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second deployment of one external id: %v", err)
	}
	target := &DeploymentTarget{DeploymentID: "d-1", Instance: "web-1", Status: "Pending", Events: []byte("[]"), RevisionSHA256: "s1"}
	if err := write(func(tx *Tx) error { return tx.InsertTarget(ctx, target) }); err != nil {
		t.Fatal(err)
	}
	target.Status, target.CommandID, target.AgentID = "InProgress", "cmd-1", "a1"
	if err := write(func(tx *Tx) error { return tx.UpdateTarget(ctx, target, "Pending") }); err != nil {
		t.Fatal(err)
	}
	// A second writer that still believes the target is Pending changes nothing.
	stale := *target
	stale.Status = "Skipped"
	if err := write(func(tx *Tx) error { return tx.UpdateTarget(ctx, &stale, "Pending") }); !errors.Is(err, ErrConflict) {
		t.Fatalf("a stale compare-and-set: %v", err)
	}
	if got, err := db.Read().TargetByCommand(ctx, "cmd-1"); err != nil || got.Status != "InProgress" || got.AgentID != "a1" {
		t.Fatalf("TargetByCommand = %+v, %v", got, err)
	}
	if open, err := db.Read().OpenTargets(ctx, "web-1"); err != nil || len(open) != 1 {
		t.Fatalf("OpenTargets = %v, %v", open, err)
	}
	target.Status = "Failed"
	if err := write(func(tx *Tx) error { return tx.UpdateTarget(ctx, target, "InProgress") }); err != nil {
		t.Fatal(err)
	}
	d.Status = "Failed"
	if err := write(func(tx *Tx) error { return tx.UpdateDeployment(ctx, d, "InProgress") }); err != nil {
		t.Fatal(err)
	}
	if err := write(func(tx *Tx) error { return tx.UpdateDeployment(ctx, d, "InProgress") }); !errors.Is(err, ErrConflict) {
		t.Fatalf("a stale deployment update: %v", err)
	}
	hist, err := db.Read().InstanceHistory(ctx, "g1")
	if err != nil || hist["web-1"].Status != "Failed" {
		t.Fatalf("InstanceHistory = %v, %v", hist, err)
	}
	if last, err := db.Read().LastDeployment(ctx, "g1", 0, "Failed"); err != nil || last.ID != "d-1" {
		t.Fatalf("LastDeployment = %+v, %v", last, err)
	}
	if _, err := db.Read().LastDeployment(ctx, "g1", 0, "Succeeded"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no successful deployment: %v", err)
	}
	// Deleting the application takes its groups, deployments and targets with it.
	if err := write(func(tx *Tx) error { return tx.DeleteDeployApplication(ctx, "shop") }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Read().TargetByCommand(ctx, "cmd-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("target after the application was deleted: %v", err)
	}
	if _, err := db.Read().GetDeployGroupByID(ctx, "g1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("group after the application was deleted: %v", err)
	}
}
