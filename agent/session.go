package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conveyorci/conveyor/agent/protocol"
)

// Log shipping: lines are sent in batches every logInterval, or sooner when logBatch lines wait;
// while the server cannot be reached at most logBacklog lines are kept (the oldest are dropped,
// they stay in scripts.log on the host).
const (
	logInterval = 200 * time.Millisecond
	logBatch    = 500
	logBacklog  = 10_000
)

// session is one command on its way through the executor: it implements lifecycle.Reporter and
// keeps the lease alive.
type session struct {
	a   *Agent
	cmd protocol.Command
	log *slog.Logger
	// ctx is the agent's; calls to the server survive its end by a few seconds (reportCtx), so a
	// shutting-down agent still says how its command ended.
	ctx context.Context

	stop atomic.Bool // the server said Continue=false, or the lease is lost

	lines   chan protocol.LogLine
	flushes chan chan struct{}
	quit    chan struct{}
	shipped chan struct{}
	dropped atomic.Int64

	hbStop chan struct{}
	hbDone sync.WaitGroup
}

// runCommand runs one command to its completion and reports it.
func (a *Agent) runCommand(ctx context.Context, cmd protocol.Command) {
	s := &session{a: a, cmd: cmd, ctx: ctx, log: a.log.With("command", cmd.ID, "deployment", cmd.DeploymentID),
		lines: make(chan protocol.LogLine, 4096), flushes: make(chan chan struct{}), quit: make(chan struct{}),
		shipped: make(chan struct{}), hbStop: make(chan struct{})}
	s.log.Info("command received", "application", cmd.ApplicationName, "group", cmd.DeploymentGroupName, "events", len(cmd.Events))
	go s.shipLogs()
	s.hbDone.Add(1)
	go s.heartbeat()

	c := a.x.Run(ctx, cmd, s)

	close(s.hbStop)
	s.hbDone.Wait()
	close(s.quit)
	<-s.shipped
	s.complete(c)
}

// reportCtx bounds one call to the server: the lease while the agent runs (after that the server
// has failed the host anyway), a few seconds once the agent is stopping.
func (s *session) reportCtx() (context.Context, context.CancelFunc) {
	d := time.Duration(s.cmd.LeaseSeconds) * time.Second
	if d <= 0 {
		d = time.Minute
	}
	if s.ctx.Err() != nil {
		d = 5 * time.Second
	}
	return context.WithTimeout(context.WithoutCancel(s.ctx), d)
}

// retry calls f until it succeeds, the server refuses it for good, or ctx ends.
func (s *session) retry(ctx context.Context, what string, f func(context.Context) error) error {
	b := &backoff{Base: s.a.cfg.RetryBase, Max: min(s.a.cfg.RetryMax, 5*time.Second)}
	for {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := f(cctx)
		cancel()
		if err == nil || final(err) {
			return err
		}
		s.log.Warn("cannot reach the server; retrying", "call", what, "err", err)
		if !b.wait(ctx) {
			return err
		}
	}
}

// lost handles a refusal about this command: 403/404/409/410 mean the server no longer counts
// on this host for it (lease lost, host failed, command unknown), so the agent stops after the
// running event.
func (s *session) lost(what string, err error) {
	switch statusOf(err) {
	case http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusGone:
		if !s.stop.Swap(true) {
			s.log.Warn("the server no longer leases this command to the agent; stopping after the running event", "call", what, "err", err)
		}
	default:
		s.log.Error("the server refused a report", "call", what, "err", err)
	}
}

// Event implements lifecycle.Reporter.
func (s *session) Event(_ context.Context, r protocol.EventReport) bool {
	s.flushLogs() // the event's output reaches the server before its end
	ctx, cancel := s.reportCtx()
	defer cancel()
	var resp protocol.EventResponse
	err := s.retry(ctx, "event", func(c context.Context) error {
		_, err := s.a.c.do(c, http.MethodPost, commandPath(s.cmd.ID, "events"), r, &resp)
		return err
	})
	switch {
	case err != nil && final(err):
		s.lost("event", err)
	case err != nil:
		s.log.Error("could not report a lifecycle event; going on", "event", r.Event, "status", r.Status, "err", err)
	case !resp.Continue:
		if !s.stop.Swap(true) {
			s.log.Info("the server stopped the command; stopping after the running event", "event", r.Event, "reason", resp.Reason)
		}
	}
	return !s.stop.Load()
}

// Line implements lifecycle.Reporter; it never blocks.
func (s *session) Line(l protocol.LogLine) {
	select {
	case s.lines <- l:
	default:
		s.dropped.Add(1)
	}
}

func (s *session) flushLogs() {
	ack := make(chan struct{})
	select {
	case s.flushes <- ack:
		<-ack
	case <-s.shipped:
	}
}

func (s *session) shipLogs() {
	defer close(s.shipped)
	t := time.NewTicker(logInterval)
	defer t.Stop()
	var pending []protocol.LogLine
	take := func() {
		for {
			select {
			case l := <-s.lines:
				pending = append(pending, l)
			default:
				return
			}
		}
	}
	for {
		select {
		case l := <-s.lines:
			pending = append(pending, l)
			if len(pending) >= logBatch {
				pending = s.send(pending)
			}
		case <-t.C:
			pending = s.send(pending)
		case ack := <-s.flushes:
			take()
			pending = s.send(pending)
			close(ack)
		case <-s.quit:
			take()
			s.send(pending)
			return
		}
	}
}

// send posts pending lines in batches; what could not be sent is returned (bounded).
func (s *session) send(pending []protocol.LogLine) []protocol.LogLine {
	if n := s.dropped.Swap(0); n > 0 {
		pending = append(pending, protocol.LogLine{Time: time.Now().UTC(), Stream: "agent",
			Text: fmt.Sprintf("%d lines of output were not sent to the server (too many at once); scripts.log on the host has them", n)})
	}
	for len(pending) > 0 {
		n := min(len(pending), logBatch)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 10*time.Second)
		_, err := s.a.c.do(ctx, http.MethodPost, commandPath(s.cmd.ID, "logs"), protocol.LogBatch{Lines: pending[:n]}, nil)
		cancel()
		if err != nil && !final(err) {
			if over := len(pending) - logBacklog; over > 0 {
				s.dropped.Add(int64(over))
				pending = pending[over:]
			}
			return pending
		}
		if err != nil {
			s.lost("logs", err)
		}
		pending = pending[n:]
	}
	return pending[:0]
}

// heartbeat renews the lease at a third of its length while the command runs.
func (s *session) heartbeat() {
	defer s.hbDone.Done()
	lease := s.cmd.LeaseSeconds
	for {
		every := time.Duration(lease) * time.Second / 3
		every = max(min(every, 20*time.Second), time.Second)
		t := time.NewTimer(every)
		select {
		case <-s.hbStop:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), every)
		var resp protocol.HeartbeatResponse
		_, err := s.a.c.do(ctx, http.MethodPost, commandPath(s.cmd.ID, "heartbeat"), nil, &resp)
		cancel()
		switch {
		case err != nil && final(err):
			s.lost("heartbeat", err)
		case err != nil:
			s.log.Warn("heartbeat failed", "err", err)
		default:
			if resp.LeaseSeconds > 0 {
				lease = resp.LeaseSeconds
			}
			if !resp.Continue && !s.stop.Swap(true) {
				s.log.Info("the server stopped the command; stopping after the running event")
			}
		}
	}
}

// complete reports the command's end; the crash marker goes once the server has it (or refuses
// it). If the server cannot be reached the marker stays, and the next start sends it again.
func (s *session) complete(c protocol.Completion) {
	ctx, cancel := s.reportCtx()
	defer cancel()
	err := s.retry(ctx, "complete", func(cctx context.Context) error {
		_, err := s.a.c.do(cctx, http.MethodPost, commandPath(s.cmd.ID, "complete"), c, nil)
		return err
	})
	if err != nil && !final(err) {
		s.log.Error("could not report the command's completion; it is sent again when the agent restarts", "status", c.Status, "err", err)
		return
	}
	if err != nil {
		s.log.Warn("the server refused the command's completion", "status", c.Status, "err", err)
	}
	if err := s.a.x.Forget(s.cmd.ID); err != nil {
		s.log.Error("removing the crash marker", "err", err)
	}
	attrs := []any{"status", c.Status}
	if c.Diagnostics != nil {
		attrs = append(attrs, "code", c.Diagnostics.ErrorCode, "script", c.Diagnostics.ScriptName, "message", c.Diagnostics.Message)
	}
	s.log.Info("command completed", attrs...)
}
