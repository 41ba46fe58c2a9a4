package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/store"
)

// The agent side of deployments: what server/agentapi calls for an authenticated agent. Every call
// about a command is checked against the target that carries it: the command must be this
// agent's (ErrNotYours), and still leased (ErrLeaseLost once the host was failed for silence).

// NextCommand waits up to wait for a command for the agent's instance and returns it, or nil
// when there is none. A command is handed out again on a later poll until the agent reports on it
// (a poll whose answer was lost must not strand the host); after that, never.
func (s *Service) NextCommand(ctx context.Context, inst store.Instance, wait time.Duration) (*protocol.Command, error) {
	timer := time.NewTimer(min(max(wait, 0), protocol.MaxWait))
	defer timer.Stop()
	for {
		ch := s.wakeChan(inst.Name)
		cmd, err := s.deliver(ctx, inst)
		if err != nil || cmd != nil {
			return cmd, err
		}
		select {
		case <-ch:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		case <-s.ctx.Done():
			return nil, nil
		}
		s.heard(inst.Name)
	}
}

// deliver finds a command for the instance and marks it delivered.
func (s *Service) deliver(ctx context.Context, inst store.Instance) (*protocol.Command, error) {
	open, err := s.db.Read().OpenTargets(ctx, inst.Name)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(open, func(t store.DeploymentTarget) bool { return deliverable(t, inst) }) {
		return nil, nil // an idle poll writes nothing
	}
	var cmd *protocol.Command
	err = s.change(ctx, func(tx *store.Tx, fx *effects) error {
		cmd = nil
		open, err := tx.OpenTargets(ctx, inst.Name)
		if err != nil {
			return err
		}
		for i := range open {
			t := &open[i]
			if !deliverable(*t, inst) {
				continue
			}
			d, err := tx.GetDeployment(ctx, t.DeploymentID)
			if err != nil {
				return err
			}
			if t.Delivered.IsZero() {
				t.Delivered = tx.Now()
				if err := tx.UpdateTarget(ctx, t, TargetInProgress); err != nil {
					return err
				}
				fx.changed = append(fx.changed, d.ID)
			}
			fx.lease(t.CommandID, time.Now().Add(s.lease))
			c, err := s.command(&d, t)
			if err != nil {
				return err
			}
			cmd = &c
			return nil
		}
		return nil
	})
	if cmd != nil {
		s.log.Debug("command delivered", "command_id", cmd.ID, "deployment_id", cmd.DeploymentID, "instance", inst.Name)
	}
	return cmd, err
}

func deliverable(t store.DeploymentTarget, inst store.Instance) bool {
	return t.AgentID == inst.AgentID && t.Reported.IsZero() && !t.CancelRequested
}

// command builds the host command of a target.
func (s *Service) command(d *store.Deployment, t *store.DeploymentTarget) (protocol.Command, error) {
	det, err := decodeDetail(d)
	if err != nil {
		return protocol.Command{}, err
	}
	rev, err := decodeRevision(d.Revision)
	if err != nil {
		return protocol.Command{}, err
	}
	r := protocol.Revision{BundlePath: bundlePath(t.CommandID), SHA256: rev.SHA256, Size: rev.Size, BundleType: rev.BundleType}
	if loc := rev.Location.S3Location; loc != nil && loc.Bucket != ArtifactBucket {
		r.Bucket, r.Key, r.Version, r.ETag = loc.Bucket, loc.Key, rev.Version, rev.ETag
	}
	return protocol.Command{ID: t.CommandID, DeploymentID: d.ID, ApplicationName: d.Application, DeploymentGroupName: d.GroupName,
		DeploymentGroupID: d.GroupID, Creator: d.Creator, Revision: r, Events: append([]string{}, agentEvents...),
		FileExistsBehavior: det.FileExistsBehavior, IgnoreApplicationStopFailures: det.IgnoreApplicationStopFailures,
		LeaseSeconds: int(s.lease / time.Second)}, nil
}

// owned reads the target of a command and checks that it is the agent's. A target that ended
// because its lease ran out answers ErrLeaseLost.
func (s *Service) owned(ctx context.Context, tx *store.Tx, inst store.Instance, cmdID string) (store.DeploymentTarget, error) {
	t, err := tx.TargetByCommand(ctx, cmdID)
	if errors.Is(err, store.ErrNotFound) {
		return t, fmt.Errorf("%w: %s", ErrUnknownCommand, cmdID)
	}
	if err != nil {
		return t, err
	}
	if t.Instance != inst.Name || t.AgentID != inst.AgentID {
		return t, fmt.Errorf("%w: command %s is not %s's", ErrNotYours, cmdID, inst.Name)
	}
	if t.Status != TargetInProgress && t.EndReason == endLease {
		return t, fmt.Errorf("%w: %s was failed with AGENT_ISSUE after %s without a heartbeat", ErrLeaseLost, inst.Name, s.lease)
	}
	return t, nil
}

func goOn(t store.DeploymentTarget) bool { return t.Status == TargetInProgress && !t.CancelRequested }

func stopReason(t store.DeploymentTarget) string {
	switch {
	case t.CancelRequested:
		return "the deployment was stopped"
	case t.Status != TargetInProgress:
		return "the host's deployment ended (" + t.Status + ")"
	}
	return ""
}

// ReportEvent records a lifecycle event starting or ending. Reports are idempotent: a repeated
// report changes nothing, a report that contradicts a recorded outcome is ErrCommandEnded. A failed
// event fails the host at once (except a failed ApplicationStop with
// ignoreApplicationStopFailures), and the rollout goes on by the configuration's rules.
func (s *Service) ReportEvent(ctx context.Context, inst store.Instance, cmdID string, rep protocol.EventReport) (protocol.EventResponse, error) {
	if !slices.Contains(agentEvents, rep.Event) {
		return protocol.EventResponse{}, fmt.Errorf("%w: %q is not a lifecycle event an agent runs", ErrBadReport, rep.Event)
	}
	switch rep.Status {
	case protocol.StatusInProgress, protocol.StatusSucceeded, protocol.StatusFailed, protocol.StatusSkipped:
	default:
		return protocol.EventResponse{}, fmt.Errorf("%w: status %q is not InProgress, Succeeded, Failed or Skipped", ErrBadReport, rep.Status)
	}
	var resp protocol.EventResponse
	err := s.change(ctx, func(tx *store.Tx, fx *effects) error {
		t, err := s.owned(ctx, tx, inst, cmdID)
		if err != nil {
			return err
		}
		fx.lease(cmdID, time.Now().Add(s.lease))
		ev, err := decodeEvents(t)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(ev, func(e LifecycleEvent) bool { return e.LifecycleEventName == rep.Event })
		e := &ev[i]
		resp = protocol.EventResponse{Continue: goOn(t), Reason: stopReason(t)}
		switch {
		case e.Status == rep.Status, rep.Status == protocol.StatusInProgress && eventFinal(e.Status):
			return nil // a repeated or late report
		case eventFinal(e.Status):
			return fmt.Errorf("%w: %s on %s was recorded %s, not %s", ErrCommandEnded, rep.Event, inst.Name, e.Status, rep.Status)
		case t.Status != TargetInProgress:
			return fmt.Errorf("%w: the command ended (%s)", ErrCommandEnded, t.Status)
		}
		start := rep.StartTime
		if start.IsZero() {
			start = tx.Now()
		}
		e.Status = rep.Status
		if e.StartTime == nil {
			e.StartTime = ts(start)
		}
		if eventFinal(rep.Status) {
			end := tx.Now()
			if rep.EndTime != nil {
				end = *rep.EndTime
			}
			e.EndTime = ts(end)
			if rep.Diagnostics != nil {
				e.Diagnostics = diagnostics(rep.Diagnostics)
			}
		}
		encodeEvents(&t, ev)
		if t.Reported.IsZero() {
			t.Reported = tx.Now()
		}
		fx.changed = append(fx.changed, t.DeploymentID)
		if rep.Status != protocol.StatusFailed {
			return tx.UpdateTarget(ctx, &t, TargetInProgress)
		}
		d, err := tx.GetDeployment(ctx, t.DeploymentID)
		if err != nil {
			return err
		}
		det, err := decodeDetail(&d)
		if err != nil {
			return err
		}
		if rep.Event == protocol.EventApplicationStop && det.IgnoreApplicationStopFailures {
			return tx.UpdateTarget(ctx, &t, TargetInProgress)
		}
		resp = protocol.EventResponse{Continue: false, Reason: rep.Event + " failed"}
		if err := s.endTarget(ctx, tx, fx, &t, TargetFailed, endAgent, "", nil); err != nil {
			return err
		}
		return s.advance(ctx, tx, fx, t.DeploymentID)
	})
	return resp, err
}

func diagnostics(d *protocol.Diagnostics) *Diagnostics {
	const maxTail = 2048
	tail := d.LogTail
	if len(tail) > maxTail {
		tail = tail[len(tail)-maxTail:]
	}
	return &Diagnostics{ErrorCode: d.ErrorCode, ScriptName: d.ScriptName, Message: d.Message, LogTail: tail}
}

// Heartbeat renews a command's lease and says whether to go on.
func (s *Service) Heartbeat(ctx context.Context, inst store.Instance, cmdID string) (protocol.HeartbeatResponse, error) {
	t, err := s.owned(ctx, s.db.Read(), inst, cmdID)
	if err != nil {
		return protocol.HeartbeatResponse{}, err
	}
	s.renew(cmdID)
	return protocol.HeartbeatResponse{Continue: goOn(t), LeaseSeconds: int(s.lease / time.Second)}, nil
}

// AppendLogs writes script output to the deployment's log for the host; it renews the lease.
func (s *Service) AppendLogs(ctx context.Context, inst store.Instance, cmdID string, batch protocol.LogBatch) error {
	t, err := s.owned(ctx, s.db.Read(), inst, cmdID)
	if err != nil {
		return err
	}
	s.renew(cmdID)
	return s.sink.append(t.DeploymentID, t.Instance, batch.Lines)
}

// Complete ends a command with the agent's outcome. A repeated completion with the same outcome
// changes nothing.
func (s *Service) Complete(ctx context.Context, inst store.Instance, cmdID string, c protocol.Completion) error {
	if c.Status != protocol.StatusSucceeded && c.Status != protocol.StatusFailed {
		return fmt.Errorf("%w: a command completes Succeeded or Failed, not %q", ErrBadReport, c.Status)
	}
	return s.change(ctx, func(tx *store.Tx, fx *effects) error {
		t, err := s.owned(ctx, tx, inst, cmdID)
		if err != nil {
			return err
		}
		if t.Status != TargetInProgress {
			if t.Status == c.Status || (t.Status == TargetSkipped && t.CancelRequested) {
				return nil
			}
			return fmt.Errorf("%w: the host's deployment was recorded %s, not %s", ErrCommandEnded, t.Status, c.Status)
		}
		status, reason := c.Status, endAgent
		if t.CancelRequested && status == TargetFailed {
			reason = endStopped
		}
		var diag *Diagnostics
		if c.Diagnostics != nil {
			diag = diagnostics(c.Diagnostics)
		} else if status == TargetFailed {
			diag = &Diagnostics{ErrorCode: protocol.ErrUnknownError, Message: "the agent reported the command failed"}
			if t.CancelRequested {
				diag.Message = "stopped: the deployment was stopped or failed elsewhere"
			}
		}
		if err := s.endTarget(ctx, tx, fx, &t, status, reason, "", diag); err != nil {
			return err
		}
		s.log.Info("host finished", "deployment_id", t.DeploymentID, "instance", t.Instance, "status", status)
		return s.advance(ctx, tx, fx, t.DeploymentID)
	})
}

// Bundle opens the revision of the agent's command.
func (s *Service) Bundle(ctx context.Context, inst store.Instance, cmdID string) (*os.File, error) {
	t, err := s.owned(ctx, s.db.Read(), inst, cmdID)
	if err != nil {
		return nil, err
	}
	if t.Status != TargetInProgress {
		return nil, fmt.Errorf("%w: the command ended (%s)", ErrCommandEnded, t.Status)
	}
	s.renew(cmdID)
	f, err := s.blobs.Open(t.RevisionSHA256)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("the revision of command %s (blob %s) is missing from the blob store: %w", cmdID, t.RevisionSHA256, err)
	}
	return f, err
}

// expire fails a host whose lease ran out: AGENT_ISSUE, and the rollout goes on or stops by the
// configuration's rules.
func (s *Service) expire(ctx context.Context, cmdID string) error {
	return s.change(ctx, func(tx *store.Tx, fx *effects) error {
		fx.drop = append(fx.drop, cmdID)
		t, err := tx.TargetByCommand(ctx, cmdID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil || t.Status != TargetInProgress {
			return err
		}
		// The lease may have been renewed while this change waited for the lock.
		s.lmu.Lock()
		until, ok := s.leases[cmdID]
		s.lmu.Unlock()
		if ok && time.Now().Before(until) {
			fx.drop = nil
			return nil
		}
		running := "before it picked the command up"
		if !t.Delivered.IsZero() {
			running = "before it reported any event"
			if ev, err := decodeEvents(t); err == nil {
				for _, e := range ev {
					if e.Status == TargetInProgress {
						running = "during " + e.LifecycleEventName
					}
				}
			}
		}
		msg := fmt.Sprintf("AGENT_ISSUE: the agent on %s stopped heartbeating %s (no word for %s)", t.Instance, running, s.lease)
		diag := &Diagnostics{ErrorCode: protocol.ErrUnknownError, Message: msg}
		if err := s.endTarget(ctx, tx, fx, &t, TargetFailed, endLease, msg, diag); err != nil {
			return err
		}
		s.log.Warn("host failed: lease expired", "deployment_id", t.DeploymentID, "instance", t.Instance, "command_id", cmdID)
		return s.advance(ctx, tx, fx, t.DeploymentID)
	})
}
