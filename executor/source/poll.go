package source

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/conveyorci/conveyor/store"
)

// Poller watches the repositories of connections that poll (for forges whose webhooks cannot
// reach Conveyor): every interval it lists their branches and tags (git ls-remote, nothing is
// fetched) and hands each moved ref to the dispatcher as a push, so polling and webhooks share the
// filters, the dedupe and the delivery log. What it saw is stored: a push made while the server
// was down starts its pipelines when polling resumes.
type Poller struct {
	connections *Connections
	dispatcher  *Dispatcher
	engine      Starter
	db          *store.DB
	log         *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	loops map[string]pollLoop
}

type pollLoop struct {
	interval time.Duration
	cancel   context.CancelFunc
}

// NewPoller returns a poller; Start begins polling.
func NewPoller(db *store.DB, connections *Connections, dispatcher *Dispatcher, engine Starter, log *slog.Logger) *Poller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Poller{connections: connections, dispatcher: dispatcher, engine: engine, db: db, log: log,
		ctx: ctx, cancel: cancel, loops: map[string]pollLoop{}}
}

// Start polls every connection that has a poll interval.
func (p *Poller) Start() { p.Reload() }

// Reload follows the connections' poll intervals: it starts, restarts and stops loops.
func (p *Poller) Reload() {
	list, err := p.connections.List(p.ctx)
	if err != nil {
		if p.ctx.Err() == nil {
			p.log.Error("polling: listing connections", "err", err)
		}
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return
	}
	want := map[string]time.Duration{}
	for _, c := range list {
		if c.PollInterval > 0 {
			want[c.Name] = c.PollInterval
		}
	}
	for name, l := range p.loops {
		if want[name] != l.interval {
			l.cancel()
			delete(p.loops, name)
		}
	}
	for name, interval := range want {
		if _, running := p.loops[name]; running {
			continue
		}
		ctx, cancel := context.WithCancel(p.ctx)
		p.loops[name] = pollLoop{interval: interval, cancel: cancel}
		p.wg.Add(1)
		go p.loop(ctx, name, interval)
	}
}

// Close stops polling and waits for the loops.
func (p *Poller) Close() {
	p.cancel()
	p.wg.Wait()
}

func (p *Poller) loop(ctx context.Context, name string, interval time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := p.Poll(ctx, name); err != nil && ctx.Err() == nil {
			p.log.Warn("polling failed", "connection", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Poll checks every repository that pipelines follow through the connection, once.
func (p *Poller) Poll(ctx context.Context, name string) error {
	conn, err := p.connections.Get(ctx, name)
	if err != nil {
		return err
	}
	decls, err := p.engine.Declarations(ctx)
	if err != nil {
		return err
	}
	followed := map[string]target{}
	for _, d := range decls {
		for _, act := range sourceActions(d) {
			if t, ok := followedBy(conn, act); ok {
				followed[t.url.String()] = t
			}
		}
	}
	var errs []string
	for _, t := range followed {
		if err := p.pollRepository(ctx, conn, t); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

func (p *Poller) pollRepository(ctx context.Context, conn store.Connection, t target) error {
	repo, err := p.connections.Repo(ctx, conn, t.id)
	if err != nil {
		return err
	}
	refs, err := repo.LsRemote(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", t.url.String(), err)
	}
	prev, seen, err := p.db.Read().PollState(ctx, conn.Name, t.id)
	if err != nil {
		return err
	}
	if seen {
		names := make([]string, 0, len(refs.Refs))
		for ref := range refs.Refs {
			names = append(names, ref)
		}
		sort.Strings(names)
		for _, ref := range names {
			after := refs.Refs[ref]
			if prev[ref] == after {
				continue
			}
			before := prev[ref]
			if before == "" {
				before = strings.Repeat("0", len(after))
			}
			ev := Event{Kind: KindPush, Name: "poll", Repository: t.id, CloneURL: t.url.String(), DefaultBranch: refs.DefaultBranch(),
				Ref: ref, Before: before, After: after, Sender: "polling"}
			if _, err := p.dispatcher.Accept(ctx, conn.Name, ev, Meta{Origin: OriginPoll}); err != nil {
				return err
			}
		}
	}
	// Stored after the changes were handed over: a crash in between finds them again (and the
	// dedupe keys make the second sighting a duplicate).
	return p.db.Write(ctx, func(tx *store.Tx) error { return tx.PutPollState(ctx, conn.Name, t.id, refs.Refs) })
}
