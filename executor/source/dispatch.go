package source

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/conveyorci/conveyor/executor/source/filter"
	"github.com/conveyorci/conveyor/executor/source/git"
	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
)

// Origins of deliveries.
const (
	OriginWebhook = "webhook"
	OriginPoll    = "poll"
)

// defaultKeepRefused bounds the refused deliveries kept per connection: anyone can send them.
const defaultKeepRefused = 1000

// Meta is what the transport knows about a delivery beside its event.
type Meta struct {
	Origin     string
	DeliveryID string
	RemoteAddr string
	HTTPStatus int
	// Event names the event of a refused delivery (its payload is never read).
	Event string
}

// Dispatcher records every delivery with its verdict and turns accepted ones into executions. A
// delivery is recorded (and the sender answered) first; the work happens afterwards, in order per
// connection, so pushes start executions in the order they were received. Deliveries still
// pending when the server stops are processed when it starts again.
type Dispatcher struct {
	db          *store.DB
	connections *Connections
	engine      Starter
	log         *slog.Logger
	keepRefused int

	ctx    context.Context // lifetime: cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	busy  map[string]bool // connection → a worker drains its deliveries
	again map[string]bool // connection → deliveries arrived while the worker ran

	gmu     sync.Mutex // group commit of deliveries
	queue   []*recordRequest
	writing bool

	// OnRecorded hears that a connection's delivery log changed (a delivery recorded, or its
	// verdict): live views refresh. It must not block. Set before Start.
	OnRecorded func(connection string)
}

func (d *Dispatcher) recorded(connection string) {
	if d.OnRecorded != nil {
		d.OnRecorded(connection)
	}
}

// recordRequest is one delivery waiting to be recorded.
type recordRequest struct {
	del  *store.WebhookDelivery
	err  error
	done chan struct{} // recorded (or failed)
	lead chan struct{} // this request's caller writes the next batch
}

// maxBatch bounds the deliveries recorded in one transaction.
const maxBatch = 256

// NewDispatcher returns a dispatcher; call Start to process what a previous run left pending.
func NewDispatcher(db *store.DB, connections *Connections, engine Starter, log *slog.Logger) *Dispatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Dispatcher{db: db, connections: connections, engine: engine, log: log, keepRefused: defaultKeepRefused,
		ctx: ctx, cancel: cancel, busy: map[string]bool{}, again: map[string]bool{}}
}

// Start processes the deliveries a previous run recorded but did not finish.
func (d *Dispatcher) Start(ctx context.Context) error {
	names, err := d.db.Read().ConnectionsWithPendingDeliveries(ctx)
	if err != nil {
		return fmt.Errorf("pending deliveries: %w", err)
	}
	for _, n := range names {
		d.kick(n)
	}
	return nil
}

// Close stops processing and waits for the workers; what is left stays pending for the next start.
func (d *Dispatcher) Close() {
	d.cancel()
	d.wg.Wait()
}

// Refuse records a delivery that was refused before its payload was trusted (bad signature, too
// large, malformed). The delivery id it claims is not recorded as a key: an unauthenticated sender
// must not be able to make a later genuine delivery look like a duplicate.
func (d *Dispatcher) Refuse(ctx context.Context, connection string, m Meta, status, reason string) (store.WebhookDelivery, error) {
	del := store.WebhookDelivery{Connection: connection, Origin: m.Origin, RemoteAddr: m.RemoteAddr, Event: m.Event,
		Status: status, Reason: reason, HTTPStatus: m.HTTPStatus}
	if m.DeliveryID != "" {
		del.Reason += " (claimed delivery id " + clip(m.DeliveryID, 100) + ")"
	}
	err := d.record(ctx, &del)
	if err == nil {
		d.recorded(connection)
	}
	return del, err
}

// record stores a delivery. Callers that arrive together share one transaction (group commit):
// the first caller writes what is queued, and hands the next batch to the first caller that
// queued meanwhile, so a burst of webhooks costs a few commits instead of one each, and no
// caller waits for more than the batch before its own.
func (d *Dispatcher) record(ctx context.Context, del *store.WebhookDelivery) error {
	req := &recordRequest{del: del, done: make(chan struct{}), lead: make(chan struct{})}
	d.gmu.Lock()
	d.queue = append(d.queue, req)
	if !d.writing {
		d.writing = true
		close(req.lead)
	}
	d.gmu.Unlock()
	select {
	case <-req.done:
		return req.err
	case <-req.lead:
	}
	d.gmu.Lock()
	n := min(len(d.queue), maxBatch)
	batch := d.queue[:n:n]
	d.queue = d.queue[n:]
	d.gmu.Unlock()
	err := d.db.Write(ctx, func(tx *store.Tx) error {
		refused := map[string]bool{}
		for _, r := range batch {
			if _, err := tx.RecordWebhookDelivery(ctx, r.del); err != nil {
				return err
			}
			if r.del.Status == store.WebhookRejected || r.del.Status == store.WebhookInvalid {
				refused[r.del.Connection] = true
			}
		}
		for conn := range refused {
			if err := tx.PruneRefusedWebhookDeliveries(ctx, conn, d.keepRefused); err != nil {
				return err
			}
		}
		return nil
	})
	for _, r := range batch {
		r.err = err
		close(r.done)
	}
	d.gmu.Lock()
	if len(d.queue) > 0 {
		close(d.queue[0].lead)
	} else {
		d.writing = false
	}
	d.gmu.Unlock()
	return req.err
}

// Accept records an authenticated delivery. Pings, deletions and events no trigger acts on are
// recorded as ignored, duplicates as duplicates; the rest is queued (status pending) and processed
// after the caller has answered.
func (d *Dispatcher) Accept(ctx context.Context, connection string, ev Event, m Meta) (store.WebhookDelivery, error) {
	del := store.WebhookDelivery{Connection: connection, DeliveryID: clip(m.DeliveryID, 200), Origin: m.Origin, RemoteAddr: m.RemoteAddr,
		Event: clip(ev.Name, 100), Sender: clip(ev.Sender, 200), Repository: clip(ev.Repository, 300), Ref: clip(ev.Ref, 300),
		Before: clip(ev.Before, 64), After: clip(ev.After, 64), HTTPStatus: m.HTTPStatus}
	if pr := ev.PullRequest; pr != nil {
		del.Action = pr.Action
		if del.Action == "" {
			del.Action = clip(pr.RawAction, 50)
		}
		del.Ref = clip(fmt.Sprintf("pull/%d (%s → %s)", pr.Number, pr.SourceBranch, pr.TargetBranch), 300)
		del.After = clip(pr.HeadSHA, 64)
	}
	del.Status, del.Reason = triage(ev)
	if del.Status == store.WebhookPending {
		del.EventKey = ev.dedupeKey()
		raw, err := json.Marshal(ev)
		if err != nil {
			return del, err
		}
		del.EventJSON = raw
	} else {
		del.Processed = d.db.Now()
	}
	if err := d.record(ctx, &del); err != nil {
		return del, err
	}
	d.recorded(connection)
	if del.Status == store.WebhookPending {
		d.kick(connection)
	}
	return del, nil
}

// triage decides what needs no pipeline to decide.
func triage(ev Event) (status, reason string) {
	switch ev.Kind {
	case KindPing:
		return store.WebhookIgnored, "ping: the webhook reaches Conveyor; a ping starts nothing"
	case KindPush:
		switch {
		case ev.Deleted() && ev.Tag() != "":
			return store.WebhookIgnored, fmt.Sprintf("tag %s was deleted: a deletion starts nothing", ev.Tag())
		case ev.Deleted():
			return store.WebhookIgnored, fmt.Sprintf("%s was deleted: a deletion starts nothing", ev.Ref)
		case ev.Branch() == "" && ev.Tag() == "":
			return store.WebhookIgnored, fmt.Sprintf("ref %q is neither a branch nor a tag", ev.Ref)
		case !git.IsCommitID(ev.After):
			return store.WebhookIgnored, fmt.Sprintf("after %q is not a commit id", ev.After)
		}
		return store.WebhookPending, ""
	case KindPullRequest:
		pr := ev.PullRequest
		switch {
		case pr == nil:
			return store.WebhookIgnored, "a pull request event without a pull request"
		case pr.Action == "":
			return store.WebhookIgnored, fmt.Sprintf("pull request action %q starts nothing (triggers act on opened, updated and closed)", pr.RawAction)
		case !git.IsCommitID(pr.HeadSHA):
			return store.WebhookIgnored, fmt.Sprintf("pull request head %q is not a commit id", pr.HeadSHA)
		}
		return store.WebhookPending, ""
	}
	return store.WebhookIgnored, fmt.Sprintf("event %q is not acted on: push and pull request events start pipelines", ev.Name)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return truncateUTF8(s, n)
}

// kick makes sure a worker drains the connection's pending deliveries.
func (d *Dispatcher) kick(connection string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx.Err() != nil {
		return
	}
	if d.busy[connection] {
		d.again[connection] = true
		return
	}
	d.busy[connection] = true
	d.wg.Add(1)
	go d.drain(connection)
}

// drain processes a connection's pending deliveries oldest first until none are left.
func (d *Dispatcher) drain(connection string) {
	defer d.wg.Done()
	for {
		d.mu.Lock()
		d.again[connection] = false
		d.mu.Unlock()
		list, err := d.db.Read().PendingWebhookDeliveries(d.ctx, connection, 50)
		if err != nil && d.ctx.Err() == nil {
			d.log.Error("reading pending deliveries", "connection", connection, "err", err)
		}
		for _, del := range list {
			if d.ctx.Err() != nil {
				break
			}
			d.process(d.ctx, del)
		}
		d.mu.Lock()
		if err != nil || d.ctx.Err() != nil || len(list) == 0 && !d.again[connection] {
			d.busy[connection] = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
	}
}

// process decides a pending delivery and records the verdict. Executions carry the delivery as
// their client request token, so a delivery processed again after a crash starts nothing twice.
func (d *Dispatcher) process(ctx context.Context, del store.WebhookDelivery) {
	status, reason, execs := d.decide(ctx, del)
	if ctx.Err() != nil {
		return // stays pending; the next start processes it again
	}
	err := d.db.Write(ctx, func(tx *store.Tx) error { return tx.FinishWebhookDelivery(ctx, del.Seq, status, reason, execs) })
	if err != nil {
		d.log.Error("recording a delivery's verdict", "connection", del.Connection, "delivery", del.Seq, "err", err)
		return
	}
	d.recorded(del.Connection)
	ids := make([]string, len(execs))
	for i, e := range execs {
		ids[i] = e.Pipeline + "/" + e.ExecutionID
	}
	d.log.Info("delivery processed", "connection", del.Connection, "delivery", del.Seq, "delivery_id", del.DeliveryID,
		"origin", del.Origin, "ref", del.Ref, "commit", del.After, "status", status, "executions", strings.Join(ids, ","), "reason", reason)
}

func (d *Dispatcher) decide(ctx context.Context, del store.WebhookDelivery) (status, reason string, execs []store.WebhookExecution) {
	var ev Event
	if err := json.Unmarshal(del.EventJSON, &ev); err != nil {
		return store.WebhookFailed, "the recorded event cannot be read: " + err.Error(), nil
	}
	conn, err := d.connections.Get(ctx, del.Connection)
	if err != nil {
		return store.WebhookFailed, err.Error(), nil
	}
	decls, err := d.engine.Declarations(ctx)
	if err != nil {
		return store.WebhookFailed, "listing pipelines: " + err.Error(), nil
	}
	m := &matcher{ctx: ctx, d: d, conn: conn, ev: ev, origin: del.Origin, changes: map[string]changeResult{}}
	var notStarted, failures []string
	watched := false
	for _, decl := range decls {
		var revs []pipeline.SourceRevisionInput
		var whys []string
		trigger := ""
		for _, act := range sourceActions(decl) {
			target, ok := followedBy(conn, act)
			if !ok || !target.matches(ev) {
				continue
			}
			watched = true
			tt, why, err := m.decide(decl, act, target)
			switch {
			case err != nil:
				failures = append(failures, fmt.Sprintf("%s: %v", decl.Name, err))
			case why != "":
				whys = append(whys, act.Name+": "+why)
			default:
				revs = append(revs, pipeline.SourceRevisionInput{ActionName: act.Name, RevisionType: "COMMIT_ID", RevisionValue: ev.Revision()})
				if trigger == "" || tt == pipeline.TriggerWebhookV2 {
					trigger = tt
				}
			}
		}
		if len(revs) == 0 {
			if len(whys) > 0 {
				notStarted = append(notStarted, decl.Name+" ("+strings.Join(whys, "; ")+")")
			}
			continue
		}
		id, err := d.engine.StartExecution(ctx, pipeline.StartInput{
			Pipeline: decl.Name, TriggerType: trigger, TriggerDetail: m.detail(del).String(),
			ClientRequestToken: fmt.Sprintf("delivery-%d", del.Seq), SourceRevisions: revs,
		})
		if err != nil {
			failures = append(failures, fmt.Sprintf("starting %s: %v", decl.Name, err))
			continue
		}
		execs = append(execs, store.WebhookExecution{Pipeline: decl.Name, ExecutionID: id, TriggerType: trigger})
	}
	var parts []string
	if len(execs) > 0 {
		started := make([]string, len(execs))
		for i, e := range execs {
			started[i] = fmt.Sprintf("%s (%s, execution %s)", e.Pipeline, e.TriggerType, e.ExecutionID)
		}
		parts = append(parts, "started "+strings.Join(started, ", "))
	}
	if len(notStarted) > 0 {
		parts = append(parts, "not started: "+strings.Join(notStarted, "; "))
	}
	if len(failures) > 0 {
		parts = append(parts, "errors: "+strings.Join(failures, "; "))
	}
	switch {
	case len(execs) > 0:
		return store.WebhookStarted, strings.Join(parts, "; "), execs
	case len(failures) > 0:
		return store.WebhookFailed, strings.Join(parts, "; "), nil
	case !watched:
		repo := ev.Repository
		if repo == "" {
			repo = "(unnamed)"
		}
		return store.WebhookIgnored, fmt.Sprintf("no pipeline has a source action on connection %s for repository %s", conn.Name, repo), nil
	}
	return store.WebhookIgnored, strings.Join(parts, "; "), nil
}

// matcher decides, for one event, which source actions it starts; changed paths are computed
// once per repository and only when a filter asks.
type matcher struct {
	ctx     context.Context
	d       *Dispatcher
	conn    store.Connection
	ev      Event
	origin  string
	changes map[string]changeResult
}

type changeResult struct {
	paths []string
	err   error
}

type target struct {
	id  string // the repository as the action names it
	url git.URL
}

// followedBy returns the repository a source action follows through conn, if it uses conn.
func followedBy(conn store.Connection, act pipeline.Action) (target, bool) {
	if connectionOf(act) != conn.Name {
		return target{}, false
	}
	id := act.Configuration["FullRepositoryId"]
	if act.ActionTypeID.Provider == CodeCommitType.Provider {
		id = ""
	}
	if hasVariable(id) {
		return target{}, false
	}
	u, err := repositoryURL(conn, id)
	if err != nil {
		return target{}, false
	}
	if id == "" {
		id = u.RepositoryID()
	}
	return target{id: id, url: u}, true
}

// matches reports whether an event is about the repository: by its full name, or by its clone URL.
func (t target) matches(ev Event) bool {
	if strings.EqualFold(ev.Repository, t.id) || strings.EqualFold(ev.Repository, t.url.RepositoryID()) {
		return true
	}
	if cu, err := git.ParseURL(ev.CloneURL); ev.CloneURL != "" && err == nil {
		return strings.EqualFold(cu.Host, t.url.Host) && cu.Port == t.url.Port && strings.EqualFold(cu.RepositoryID(), t.url.RepositoryID())
	}
	return false
}

// decide returns the trigger type when the event starts the action, else why not.
func (m *matcher) decide(decl *pipeline.Declaration, act pipeline.Action, t target) (trigger, why string, err error) {
	ev := m.ev
	if g := triggerFor(decl, act.Name); g != nil {
		var dec filter.Decision
		if pr := ev.PullRequest; pr != nil {
			dec, err = filter.MatchPullRequest(g.PullRequest, filter.PullRequest{Event: pr.Action, TargetBranch: pr.TargetBranch,
				Paths: m.paths(t, "", pr.HeadSHA, pr.TargetBranch)})
		} else {
			// A new branch is compared with where it left the default branch; the default branch
			// itself, new (a first push), with nothing: all its files are new.
			base := ev.DefaultBranch
			if ev.Branch() == base {
				base = ""
			}
			dec, err = filter.MatchPush(g.Push, filter.Push{Branch: ev.Branch(), Tag: ev.Tag(),
				Paths: m.paths(t, ev.Before, ev.After, base)})
		}
		if err != nil || !dec.Match {
			return "", dec.Reason, err
		}
		return m.triggerType(pipeline.TriggerWebhookV2), "", nil
	}
	branch := act.Configuration["BranchName"]
	switch {
	case ev.PullRequest != nil:
		return "", "pull requests start a pipeline only through a V2 trigger's pullRequest filters", nil
	case ev.Tag() != "":
		return "", fmt.Sprintf("a tag push, and the action follows branch %s (a V2 trigger with a tags filter starts on tags)", branch), nil
	case ev.Branch() != branch:
		return "", fmt.Sprintf("branch %s is not the action's BranchName %s", ev.Branch(), branch), nil
	case act.ActionTypeID.Provider == CodeStarType.Provider && act.Configuration["DetectChanges"] == "false":
		return "", "DetectChanges is false", nil
	}
	return m.triggerType(pipeline.TriggerWebhook), "", nil
}

func (m *matcher) triggerType(webhook string) string {
	if m.origin == OriginPoll {
		return pipeline.TriggerPollForSourceChanges
	}
	return webhook
}

// paths returns a function computing the files changed by before..after (merge base with base
// branch when before is unknown), with git, once per repository.
func (m *matcher) paths(t target, before, after, baseBranch string) func() ([]string, error) {
	return func() ([]string, error) {
		key := t.url.String() + "\n" + before + "\n" + after + "\n" + baseBranch
		if r, ok := m.changes[key]; ok {
			return r.paths, r.err
		}
		repo, err := m.d.connections.Repo(m.ctx, m.conn, t.id)
		var ch git.Changes
		if err == nil {
			ch, err = repo.ChangedPaths(m.ctx, before, after, baseBranch)
		}
		if err != nil {
			err = fmt.Errorf("computing the changed files of %s: %w", t.url.String(), err)
		}
		m.changes[key] = changeResult{ch.Paths, err}
		return ch.Paths, err
	}
}

// detail is the trigger detail of executions the delivery starts.
func (m *matcher) detail(del store.WebhookDelivery) TriggerDetail {
	d := TriggerDetail{ConnectionArn: m.d.connections.Arn(m.conn.Name), DeliveryID: del.DeliveryID, Delivery: del.Seq,
		Event: m.ev.Name, Ref: m.ev.Ref, Sender: m.ev.Sender}
	if pr := m.ev.PullRequest; pr != nil {
		d.Event += " " + pr.Action
		d.Ref, d.PullRequest = "refs/heads/"+pr.SourceBranch, pr.Number
	}
	return d
}
