package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func testSealer(t *testing.T) *Sealer {
	t.Helper()
	s, err := NewSealer(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func strp(s string) *string { return &s }

func TestConnectionsKeepSecretsSealedAndApart(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	s := testSealer(t)
	c := Connection{Name: "app", Provider: "gitea", URL: "https://git.example.com/team/app.git", PollInterval: time.Minute}
	err := db.Write(ctx, func(tx *Tx) error {
		return tx.CreateConnection(ctx, s, c, ConnectionSecrets{Token: strp("tok-123"), WebhookSecret: strp("hook-secret")})
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Write(ctx, func(tx *Tx) error { return tx.CreateConnection(ctx, s, c, ConnectionSecrets{}) })
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	got, err := db.Read().GetConnection(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if !got.HasToken || got.HasSSHKey || !got.HasWebhookSecret || got.PollInterval != time.Minute || got.URL != c.URL {
		t.Fatalf("connection = %+v", got)
	}
	// Nothing in the database holds a secret in the clear.
	var raw []byte
	if err := db.r.QueryRowContext(ctx, `SELECT token_sealed || secret_sealed FROM connections`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("tok-123")) || bytes.Contains(raw, []byte("hook-secret")) {
		t.Fatal("secrets stored in the clear")
	}
	open, err := db.Read().ConnectionSecrets(ctx, s, "app")
	if err != nil || open.Token != "tok-123" || open.WebhookSecret != "hook-secret" || open.SSHKey != "" {
		t.Fatalf("secrets = %+v, %v", open, err)
	}
	// A sealed token copied into the webhook secret's column does not open: each has its own context.
	if _, err := db.w.ExecContext(ctx, `UPDATE connections SET secret_sealed = token_sealed`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Read().ConnectionSecrets(ctx, s, "app"); err == nil {
		t.Fatal("a token moved into the webhook secret column opened")
	}

	// Update: nil keeps, "" removes, a value replaces.
	c.URL, c.PollInterval = "https://git.example.com/team/app2.git", 0
	err = db.Write(ctx, func(tx *Tx) error {
		return tx.UpdateConnection(ctx, s, c, ConnectionSecrets{Token: strp(""), WebhookSecret: strp("new-secret")})
	})
	if err != nil {
		t.Fatal(err)
	}
	open, err = db.Read().ConnectionSecrets(ctx, s, "app")
	if err != nil || open.Token != "" || open.WebhookSecret != "new-secret" {
		t.Fatalf("after update: %+v, %v", open, err)
	}
	if got, _ := db.Read().GetConnection(ctx, "app"); got.URL != c.URL || got.PollInterval != 0 || got.HasToken {
		t.Fatalf("after update: %+v", got)
	}
	if err := db.Write(ctx, func(tx *Tx) error { return tx.UpdateConnection(ctx, s, Connection{Name: "nope"}, ConnectionSecrets{}) }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of a missing connection: %v", err)
	}
	list, err := db.Read().ListConnections(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
	if err := db.Write(ctx, func(tx *Tx) error { return tx.DeleteConnection(ctx, "app") }); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Read().GetConnection(ctx, "app"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func createTestConnection(t *testing.T, db *DB, name string) {
	t.Helper()
	err := db.Write(context.Background(), func(tx *Tx) error {
		return tx.CreateConnection(context.Background(), testSealer(t), Connection{Name: name, Provider: "github", URL: "https://github.com/a/b"}, ConnectionSecrets{})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func recordWebhook(t *testing.T, db *DB, d WebhookDelivery) (WebhookDelivery, *WebhookDelivery) {
	t.Helper()
	var first *WebhookDelivery
	err := db.Write(context.Background(), func(tx *Tx) error {
		var err error
		first, err = tx.RecordWebhookDelivery(context.Background(), &d)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, first
}

func TestDeliveriesDedupeOnDeliveryIDAndOnPush(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	createTestConnection(t, db, "app")
	createTestConnection(t, db, "other")
	push := WebhookDelivery{Connection: "app", DeliveryID: "d-1", EventKey: "acme/app\nrefs/heads/main\nabc", Origin: "webhook",
		Event: "push", Ref: "refs/heads/main", After: "abc", Status: WebhookPending}
	first, dup := recordWebhook(t, db, push)
	if dup != nil || first.Status != WebhookPending || first.Seq == 0 {
		t.Fatalf("first delivery: %+v dup %v", first, dup)
	}
	// The same delivery id again (a GitHub redelivery).
	again, dup := recordWebhook(t, db, push)
	if dup == nil || dup.Seq != first.Seq || again.Status != WebhookDuplicate || !strings.Contains(again.Reason, "same delivery id") {
		t.Fatalf("redelivery: %+v dup %+v", again, dup)
	}
	// A new delivery id for the same push (a Gitea redelivery).
	gitea := push
	gitea.DeliveryID = "d-2"
	again, dup = recordWebhook(t, db, gitea)
	if dup == nil || again.Status != WebhookDuplicate || !strings.Contains(again.Reason, "same repository, ref and commit") {
		t.Fatalf("same push, new id: %+v dup %+v", again, dup)
	}
	// The same keys on another connection are not duplicates.
	other := push
	other.Connection = "other"
	if d, dup := recordWebhook(t, db, other); dup != nil || d.Status != WebhookPending {
		t.Fatalf("other connection: %+v dup %+v", d, dup)
	}
	// A failed delivery gives its push key back, so a redelivery is tried again.
	if err := db.Write(ctx, func(tx *Tx) error {
		return tx.FinishWebhookDelivery(ctx, first.Seq, WebhookFailed, "git fetch failed", nil)
	}); err != nil {
		t.Fatal(err)
	}
	retry := push
	retry.DeliveryID = "d-3"
	if d, dup := recordWebhook(t, db, retry); dup != nil || d.Status != WebhookPending {
		t.Fatalf("redelivery after a failure: %+v dup %+v", d, dup)
	}
	pending, err := db.Read().PendingWebhookDeliveries(ctx, "app", 10)
	if err != nil || len(pending) != 1 || pending[0].DeliveryID != "d-3" {
		t.Fatalf("pending = %+v, %v", pending, err)
	}
	names, err := db.Read().ConnectionsWithPendingDeliveries(ctx)
	if err != nil || strings.Join(names, ",") != "app,other" {
		t.Fatalf("connections with pending deliveries = %v, %v", names, err)
	}
	execs := []WebhookExecution{{Pipeline: "p", ExecutionID: "e", TriggerType: "Webhook"}}
	if err := db.Write(ctx, func(tx *Tx) error {
		return tx.FinishWebhookDelivery(ctx, pending[0].Seq, WebhookStarted, "started p", execs)
	}); err != nil {
		t.Fatal(err)
	}
	list, err := db.Read().ListWebhookDeliveries(ctx, "app", 0, 10)
	if err != nil || len(list) != 4 {
		t.Fatalf("list = %d, %v", len(list), err)
	}
	if list[0].Status != WebhookStarted || len(list[0].Executions) != 1 || list[0].Executions[0].ExecutionID != "e" || list[0].Processed.IsZero() {
		t.Fatalf("newest delivery = %+v", list[0])
	}
	if older, _ := db.Read().ListWebhookDeliveries(ctx, "app", list[1].Seq, 10); len(older) != 2 {
		t.Fatalf("deliveries before %d: %d", list[1].Seq, len(older))
	}
}

func TestConcurrentDuplicatesStartOnce(t *testing.T) {
	db, _ := openTest(t)
	createTestConnection(t, db, "app")
	var wg sync.WaitGroup
	results := make([]WebhookDelivery, 20)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = recordWebhook(t, db, WebhookDelivery{Connection: "app", DeliveryID: fmt.Sprintf("id-%d", i), EventKey: "k",
				Origin: "webhook", Status: WebhookPending})
		}()
	}
	wg.Wait()
	pending := 0
	for _, r := range results {
		if r.Status == WebhookPending {
			pending++
		}
	}
	if pending != 1 {
		t.Fatalf("%d of 20 concurrent deliveries of one push were accepted, want 1", pending)
	}
}

func TestRefusedDeliveriesArePruned(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	createTestConnection(t, db, "app")
	recordWebhook(t, db, WebhookDelivery{Connection: "app", DeliveryID: "good", Origin: "webhook", Status: WebhookIgnored})
	for range 7 {
		recordWebhook(t, db, WebhookDelivery{Connection: "app", Origin: "webhook", Status: WebhookRejected, Reason: "bad signature"})
	}
	if err := db.Write(ctx, func(tx *Tx) error { return tx.PruneRefusedWebhookDeliveries(ctx, "app", 3) }); err != nil {
		t.Fatal(err)
	}
	list, _ := db.Read().ListWebhookDeliveries(ctx, "app", 0, 100)
	rejected := 0
	for _, d := range list {
		if d.Status == WebhookRejected {
			rejected++
		}
	}
	if rejected != 3 || len(list) != 4 {
		t.Fatalf("after pruning: %d rejected of %d, want 3 of 4", rejected, len(list))
	}
}

func TestPollState(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	createTestConnection(t, db, "app")
	if _, ok, err := db.Read().PollState(ctx, "app", "a/b"); ok || err != nil {
		t.Fatalf("never polled: ok %v err %v", ok, err)
	}
	for _, refs := range []map[string]string{{"refs/heads/main": "1"}, {"refs/heads/main": "2", "refs/tags/v1": "3"}} {
		if err := db.Write(ctx, func(tx *Tx) error { return tx.PutPollState(ctx, "app", "a/b", refs) }); err != nil {
			t.Fatal(err)
		}
	}
	refs, ok, err := db.Read().PollState(ctx, "app", "a/b")
	if !ok || err != nil || refs["refs/heads/main"] != "2" || refs["refs/tags/v1"] != "3" {
		t.Fatalf("poll state = %v %v %v", refs, ok, err)
	}
}
