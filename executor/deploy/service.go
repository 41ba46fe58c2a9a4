// Package deploy is CodeDeploy for Conveyor: applications, deployment groups, deployment
// configurations, instances (hosts running `conveyor agent`) and in-place deployments over them,
// with the configurations' health rules, one active deployment per group, stop, automatic rollback
// and leases on host commands. The agent protocol (agent/protocol) is served by server/agentapi
// over the methods in hosts.go; the CodeDeploy API by server/awsapi.
//
// Every change of a deployment or a target happens in one write transaction while holding the
// service's lock, and ends with advance, which re-applies the rules to the deployments it touched
// (start queued ones, start hosts, settle the deployment, create the rollback). Side effects (waking
// a polling agent, setting a lease, closing a log, telling waiters) are applied only after the
// commit. Agent reports are compare-and-set on the target's status, so duplicates and reports
// racing a lease expiry or a stop change nothing.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

// DefaultLease is how long a host may go without a heartbeat before it is failed with AGENT_ISSUE.
const DefaultLease = 60 * time.Second

// Config wires a Service.
type Config struct {
	DB     *store.DB
	Blobs  *store.Blobs
	Logs   *logs.Store
	Region string
	Logger *slog.Logger
	// Lease is the host command lease (default DefaultLease).
	Lease time.Duration
	// OnEvent hears about every change of a deployment (live views); must not block.
	OnEvent func(deploymentID string)
}

// Service is CodeDeploy. It is safe for concurrent use.
type Service struct {
	db      *store.DB
	blobs   *store.Blobs
	sink    *logSink
	region  string
	log     *slog.Logger
	lease   time.Duration
	onEvent func(string)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu serialises every change of deployments and targets: the rules look at several hosts and
	// deployments at once, so they are applied over one consistent snapshot.
	mu sync.Mutex

	wmu  sync.Mutex
	wake map[string]chan struct{} // instance name → closed when a command for it exists
	done map[string]chan struct{} // deployment id → closed when it ends

	lmu    sync.Mutex
	leases map[string]time.Time // command id → lease expiry (memory only, renewed on restart)
	seen   map[string]time.Time // instance name → last heard from, not yet stored
}

// NewService returns a service; call Start before use.
func NewService(cfg Config) *Service {
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.OnEvent == nil {
		cfg.OnEvent = func(string) {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{db: cfg.DB, blobs: cfg.Blobs, sink: newLogSink(cfg.Logs), region: cfg.Region, log: cfg.Logger,
		lease: cfg.Lease, onEvent: cfg.OnEvent, ctx: ctx, cancel: cancel,
		wake: map[string]chan struct{}{}, done: map[string]chan struct{}{},
		leases: map[string]time.Time{}, seen: map[string]time.Time{}}
}

// Lease is the host command lease.
func (s *Service) Lease() time.Duration { return s.lease }

// Start recovers after a restart: every open host command gets a fresh lease (agents could not
// reach a stopped server, so the downtime is not held against them), and every unfinished
// deployment is advanced, so queued deployments start and decisions missed by a crash are taken.
// Then the lease reaper runs until Close.
func (s *Service) Start(ctx context.Context) error {
	open, err := s.db.Read().OpenTargets(ctx, "")
	if err != nil {
		return fmt.Errorf("recover deployments: %w", err)
	}
	expiry := time.Now().Add(s.lease)
	s.lmu.Lock()
	for _, t := range open {
		if t.CommandID != "" {
			s.leases[t.CommandID] = expiry
		}
	}
	s.lmu.Unlock()
	active, err := s.db.Read().ActiveDeployments(ctx, "")
	if err != nil {
		return fmt.Errorf("recover deployments: %w", err)
	}
	for _, d := range active {
		if err := s.change(ctx, func(tx *store.Tx, fx *effects) error { return s.advance(ctx, tx, fx, d.ID) }); err != nil {
			return fmt.Errorf("recover deployment %s: %w", d.ID, err)
		}
	}
	if len(open) > 0 || len(active) > 0 {
		s.log.Info("deployments recovered", "open_commands", len(open), "active_deployments", len(active))
	}
	s.wg.Add(1)
	go s.reap()
	return nil
}

// Close stops the reaper, stores when agents were last heard from and closes open logs. Deployments
// stay as they are; the next Start goes on with them.
func (s *Service) Close(ctx context.Context) error {
	s.cancel()
	s.wg.Wait()
	err := s.flushSeen(ctx)
	s.sink.closeAll()
	return err
}

// effects are applied after a change commits.
type effects struct {
	wake     []string             // instances that have a new command
	leases   map[string]time.Time // commands whose lease starts or is renewed
	drop     []string             // commands that ended
	finished []string             // deployments that ended
	changed  []string             // deployments that changed
	logs     [][2]string          // (deployment, instance) logs to close
}

func (fx *effects) lease(cmd string, until time.Time) {
	if fx.leases == nil {
		fx.leases = map[string]time.Time{}
	}
	fx.leases[cmd] = until
}

// change runs fn in a write transaction under the service lock and applies its effects after the
// commit. fn may run more than once (the store retries on SQLITE_BUSY), with fresh effects.
func (s *Service) change(ctx context.Context, fn func(tx *store.Tx, fx *effects) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fx *effects
	err := s.db.Write(ctx, func(tx *store.Tx) error {
		fx = &effects{}
		return fn(tx, fx)
	})
	if err != nil {
		return err
	}
	s.apply(fx)
	return nil
}

func (s *Service) apply(fx *effects) {
	s.lmu.Lock()
	for cmd, until := range fx.leases {
		s.leases[cmd] = until
	}
	for _, cmd := range fx.drop {
		delete(s.leases, cmd)
	}
	s.lmu.Unlock()
	for _, l := range fx.logs {
		s.sink.close(l[0], l[1])
	}
	s.wmu.Lock()
	for _, name := range fx.wake {
		if ch, ok := s.wake[name]; ok {
			close(ch)
			delete(s.wake, name)
		}
	}
	for _, id := range fx.finished {
		if ch, ok := s.done[id]; ok {
			close(ch)
			delete(s.done, id)
		}
	}
	s.wmu.Unlock()
	seen := map[string]bool{}
	for _, id := range append(fx.changed, fx.finished...) {
		if !seen[id] {
			seen[id] = true
			s.onEvent(id)
		}
	}
}

// wakeChan returns the channel closed when a command for instance is dispatched.
func (s *Service) wakeChan(instance string) <-chan struct{} { return s.signal(s.wake, instance) }

// doneChan returns the channel closed when a deployment ends.
func (s *Service) doneChan(id string) <-chan struct{} { return s.signal(s.done, id) }

// signal returns the channel of key in m (wake or done), creating it; apply closes and forgets it.
func (s *Service) signal(m map[string]chan struct{}, key string) <-chan struct{} {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ch, ok := m[key]
	if !ok {
		ch = make(chan struct{})
		m[key] = ch
	}
	return ch
}

// Wait blocks until a deployment ends (or ctx does) and returns it.
func (s *Service) Wait(ctx context.Context, id string) (DeploymentInfo, error) {
	ch := s.doneChan(id)
	d, err := s.GetDeployment(ctx, id)
	if err != nil || Finished(d.Status) {
		return d, err
	}
	select {
	case <-ch:
		return s.GetDeployment(ctx, id)
	case <-ctx.Done():
		return DeploymentInfo{}, ctx.Err()
	}
}

// renew extends a command's lease (heartbeats, log batches); false if it has none (ended, or
// never dispatched here).
func (s *Service) renew(cmd string) bool {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if _, ok := s.leases[cmd]; !ok {
		return false
	}
	s.leases[cmd] = time.Now().Add(s.lease)
	return true
}

// heard records that an agent called.
func (s *Service) heard(instance string) {
	s.lmu.Lock()
	s.seen[instance] = time.Now()
	s.lmu.Unlock()
}

// lastSeen is when an instance's agent was last heard from, in memory or stored.
func (s *Service) lastSeen(i store.Instance) time.Time {
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if t, ok := s.seen[i.Name]; ok && t.After(i.LastSeen) {
		return t
	}
	return i.LastSeen
}

// flushSeen stores the heartbeats heard since the last flush.
func (s *Service) flushSeen(ctx context.Context) error {
	s.lmu.Lock()
	seen := s.seen
	s.seen = map[string]time.Time{}
	s.lmu.Unlock()
	if len(seen) == 0 {
		return nil
	}
	return s.db.Write(ctx, func(tx *store.Tx) error { return tx.TouchInstances(ctx, seen) })
}

// reap fails hosts whose lease ran out, and stores heartbeats every few seconds.
func (s *Service) reap() {
	defer s.wg.Done()
	tick := min(max(s.lease/10, 50*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	lastFlush := time.Now()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var expired []string
		s.lmu.Lock()
		for cmd, until := range s.leases {
			if now.After(until) {
				expired = append(expired, cmd)
			}
		}
		s.lmu.Unlock()
		for _, cmd := range expired {
			if err := s.expire(s.ctx, cmd); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Error("failing a host whose lease ran out", "command_id", cmd, "err", err)
			}
		}
		if now.Sub(lastFlush) >= 10*time.Second {
			lastFlush = now
			if err := s.flushSeen(s.ctx); err != nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("storing agent heartbeats", "err", err)
			}
		}
	}
}
