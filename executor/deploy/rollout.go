package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
)

// Why a target ended (store column end_reason).
const (
	endAgent   = "agent"   // the agent reported the outcome
	endLease   = "lease"   // the agent went silent: AGENT_ISSUE
	endStopped = "stopped" // the deployment was stopped or failed while the host was in flight
	endSkipped = "skipped" // never started
	endRevoked = "revoked" // the instance was revoked or deregistered before its turn
)

// advance re-applies the rules to a deployment, and then to what its end makes possible: its
// rollback, the next queued deployment of its group. It runs inside a change.
func (s *Service) advance(ctx context.Context, tx *store.Tx, fx *effects, id string) error {
	d, err := tx.GetDeployment(ctx, id)
	if err != nil {
		return err
	}
	switch d.Status {
	case StatusInProgress:
		ended, err := s.step(ctx, tx, fx, &d)
		if err != nil || !ended {
			return err
		}
		if err := s.rollbackIfWanted(ctx, tx, fx, &d); err != nil {
			return err
		}
	case StatusQueued:
		if d.StopRequested {
			// Stopped before it started: it ends now, without hosts.
			det, err := decodeDetail(&d)
			if err != nil {
				return err
			}
			det.ErrorInformation = stopError(&det)
			return s.finish(ctx, tx, fx, &d, &det, StatusQueued, StatusStopped)
		}
	default:
		return nil
	}
	return s.startNext(ctx, tx, fx, d.GroupID)
}

// startNext starts the group's next queued deployment when none is running: a rollback first,
// else the oldest. A deployment that ends as it starts (no hosts, an impossible minimum) makes
// room for the next one.
func (s *Service) startNext(ctx context.Context, tx *store.Tx, fx *effects, groupID string) error {
	for {
		active, err := tx.ActiveDeployments(ctx, groupID)
		if err != nil {
			return err
		}
		var next *store.Deployment
		for i := range active {
			switch {
			case active[i].Status == StatusInProgress:
				return nil
			case next == nil, active[i].Creator == CreatorRollback && next.Creator != CreatorRollback:
				next = &active[i]
			}
		}
		if next == nil {
			return nil
		}
		ended, err := s.begin(ctx, tx, fx, next)
		if err != nil || !ended {
			return err
		}
		if err := s.rollbackIfWanted(ctx, tx, fx, next); err != nil {
			return err
		}
	}
}

// begin starts a queued deployment: its hosts are chosen (the group's matching instances, or a
// rollback's own), ordered, and the configuration applied to them.
func (s *Service) begin(ctx context.Context, tx *store.Tx, fx *effects, d *store.Deployment) (ended bool, err error) {
	det, err := decodeDetail(d)
	if err != nil {
		return false, err
	}
	fx.changed = append(fx.changed, d.ID)
	d.Status, d.Started = StatusInProgress, tx.Now()
	if d.StopRequested {
		det.ErrorInformation = stopError(&det)
		return true, s.finish(ctx, tx, fx, d, &det, StatusQueued, StatusStopped)
	}
	rev, err := decodeRevision(d.Revision)
	if err != nil {
		return false, err
	}
	hosts, err := s.chooseHosts(ctx, tx, d, &det, rev.SHA256)
	if err != nil {
		return false, err
	}
	cfg, err := s.config(ctx, tx, d.ConfigName)
	if err != nil {
		return false, err
	}
	plan, err := NewPlan(cfg.MinHealthy, len(hosts))
	var pe *PlanError
	if errors.As(err, &pe) && d.Creator == CreatorRollback && pe.Code == ErrCodeHealthConstraintsInvalid {
		// A rollback restores hosts that already run a failed revision; a configuration that
		// cannot run on so few hosts must not keep them broken.
		plan, err = NewPlan(MinimumHealthyHosts{Type: MostConcurrency, Value: 1}, len(hosts))
		det.StatusMessages = append(det.StatusMessages, fmt.Sprintf("%s cannot run on %d %s; the rollback goes one host at a time",
			d.ConfigName, len(hosts), plural(len(hosts), "host", "hosts")))
	}
	if errors.As(err, &pe) {
		det.ErrorInformation = &ErrorInformation{Code: pe.Code, Message: pe.Message}
		return true, s.finish(ctx, tx, fx, d, &det, StatusQueued, StatusFailed)
	}
	if err != nil {
		return false, err
	}
	det.Plan = &plan
	events := initialEvents()
	for i, h := range hosts {
		t := store.DeploymentTarget{DeploymentID: d.ID, Instance: h, Position: i, Status: TargetPending, RevisionSHA256: rev.SHA256}
		encodeEvents(&t, events)
		if err := tx.InsertTarget(ctx, &t); err != nil {
			return false, err
		}
	}
	det.encode(d)
	if err := tx.UpdateDeployment(ctx, d, StatusQueued); err != nil {
		return false, err
	}
	s.log.Info("deployment started", "deployment_id", d.ID, "hosts", len(hosts), "min_healthy", plan.MinHealthy, "config", d.ConfigName)
	return s.step(ctx, tx, fx, d)
}

// chooseHosts lists a deployment's hosts in rollout order: hosts whose last deployment in the group
// failed first, then hosts new to the group, hosts on an older revision, and hosts already on this
// one; by name within each.
func (s *Service) chooseHosts(ctx context.Context, tx *store.Tx, d *store.Deployment, det *detail, sha string) ([]string, error) {
	var hosts []string
	if det.Hosts != nil {
		hosts = append(hosts, det.Hosts...)
	} else {
		g, err := tx.GetDeployGroupByID(ctx, d.GroupID)
		if err != nil {
			return nil, err
		}
		var set GroupSettings
		if err := json.Unmarshal(g.Definition, &set); err != nil {
			return nil, err
		}
		all, err := tx.ListInstances(ctx)
		if err != nil {
			return nil, err
		}
		for _, i := range all {
			if i.Active() && set.matches(i.Tags) {
				hosts = append(hosts, i.Name)
			}
		}
	}
	history, err := tx.InstanceHistory(ctx, d.GroupID)
	if err != nil {
		return nil, err
	}
	rank := func(h string) int {
		t, ok := history[h]
		switch {
		case !ok:
			return 1
		case t.Status == TargetFailed:
			return 0
		case t.RevisionSHA256 != sha:
			return 2
		}
		return 3
	}
	sort.SliceStable(hosts, func(i, j int) bool {
		ri, rj := rank(hosts[i]), rank(hosts[j])
		if ri != rj {
			return ri < rj
		}
		return hosts[i] < hosts[j]
	})
	return hosts, nil
}

// step applies the configuration's rules to a running deployment: start hosts, or settle it.
func (s *Service) step(ctx context.Context, tx *store.Tx, fx *effects, d *store.Deployment) (ended bool, err error) {
	det, err := decodeDetail(d)
	if err != nil {
		return false, err
	}
	targets, err := tx.ListTargets(ctx, d.ID)
	if err != nil {
		return false, err
	}
	if d.StopRequested || det.Failing {
		return s.wind(ctx, tx, fx, d, &det, targets)
	}
	if det.Plan == nil {
		return false, fmt.Errorf("deployment %s is running without a plan", d.ID)
	}
	var c Counts
	for _, t := range targets {
		switch t.Status {
		case TargetPending:
			c.Pending++
		case TargetInProgress:
			c.InFlight++
		case TargetSucceeded:
			c.Succeeded++
		case TargetFailed, TargetSkipped:
			c.Failed++
		}
	}
	for {
		start, v := det.Plan.Next(c)
		switch v {
		case Succeed:
			det.ErrorInformation = nil
			return true, s.finish(ctx, tx, fx, d, &det, StatusInProgress, StatusSucceeded)
		case Fail:
			det.ErrorInformation = healthError(targets, det.Plan)
			det.Failing = true
			return s.wind(ctx, tx, fx, d, &det, targets)
		}
		if start == 0 {
			return false, nil
		}
		for i := range targets {
			if start == 0 {
				break
			}
			t := &targets[i]
			if t.Status != TargetPending {
				continue
			}
			start--
			c.Pending--
			inst, err := tx.GetInstance(ctx, t.Instance)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return false, err
			}
			if err != nil || !inst.Active() {
				if err := s.endTarget(ctx, tx, fx, t, TargetFailed, endRevoked, "", &Diagnostics{ErrorCode: "UnknownError",
					Message: "instance " + t.Instance + " was revoked or deregistered before its turn"}); err != nil {
					return false, err
				}
				c.Failed++
				continue
			}
			if err := s.dispatch(ctx, tx, fx, t, inst); err != nil {
				return false, err
			}
			c.InFlight++
		}
	}
}

// wind ends a stopped or failing deployment: hosts not started are skipped, hosts in flight are
// asked to stop after their current event (one that never picked its command up ends now), and
// once none is in flight the deployment ends.
func (s *Service) wind(ctx context.Context, tx *store.Tx, fx *effects, d *store.Deployment, det *detail, targets []store.DeploymentTarget) (bool, error) {
	inFlight := 0
	for i := range targets {
		t := &targets[i]
		switch {
		case t.Status == TargetPending:
			if err := s.endTarget(ctx, tx, fx, t, TargetSkipped, endSkipped, "", nil); err != nil {
				return false, err
			}
		case t.Status == TargetInProgress && t.Delivered.IsZero():
			if err := s.endTarget(ctx, tx, fx, t, TargetSkipped, endStopped, "", nil); err != nil {
				return false, err
			}
		case t.Status == TargetInProgress:
			inFlight++
			if !t.CancelRequested {
				t.CancelRequested = true
				if err := tx.UpdateTarget(ctx, t, TargetInProgress); err != nil {
					return false, err
				}
			}
		}
	}
	det.encode(d)
	if inFlight > 0 {
		return false, tx.UpdateDeployment(ctx, d, d.Status)
	}
	status := StatusFailed
	if d.StopRequested && !det.Failing {
		status = StatusStopped
		det.ErrorInformation = stopError(det)
	}
	return true, s.finish(ctx, tx, fx, d, det, StatusInProgress, status)
}

func stopError(det *detail) *ErrorInformation {
	by := det.StoppedBy
	if by == "" {
		by = "a user"
	}
	return &ErrorInformation{Code: ErrCodeManualStop, Message: "The deployment was stopped by " + by}
}

// healthError explains a deployment the rules failed, naming the first host that failed and how.
func healthError(targets []store.DeploymentTarget, p *Plan) *ErrorInformation {
	code := ErrCodeHealthConstraints
	msg := "The overall deployment failed because too many individual instances failed deployment, too few healthy instances are available for deployment, or some instances in your deployment group are experiencing problems."
	if p != nil {
		msg += fmt.Sprintf(" (%d of %d hosts must stay healthy.)", p.MinHealthy, p.Fleet)
	}
	if t, ok := firstFailure(targets); ok {
		msg = strings.ToUpper(failureOf(t)[:1]) + failureOf(t)[1:] + ". " + msg
		if t.EndReason == endLease {
			code = ErrCodeAgentIssue
		}
	}
	return &ErrorInformation{Code: code, Message: msg}
}

// finish ends a deployment with a final status.
func (s *Service) finish(ctx context.Context, tx *store.Tx, fx *effects, d *store.Deployment, det *detail, from, status string) error {
	d.Status, d.Completed = status, tx.Now()
	if d.Started.IsZero() {
		d.Started = d.Completed
	}
	det.Failing = false
	det.encode(d)
	if err := tx.UpdateDeployment(ctx, d, from); err != nil {
		return err
	}
	fx.finished = append(fx.finished, d.ID)
	msg := ""
	if det.ErrorInformation != nil {
		msg = det.ErrorInformation.Message
	}
	s.log.Info("deployment ended", "deployment_id", d.ID, "status", status, "reason", msg)
	return nil
}

// rollbackIfWanted creates the rollback of a deployment that just failed or was stopped, when its
// settings ask for one: a new deployment of the group's last successful revision to the hosts
// that received this one. A rollback is never rolled back.
func (s *Service) rollbackIfWanted(ctx context.Context, tx *store.Tx, fx *effects, d *store.Deployment) error {
	det, err := decodeDetail(d)
	if err != nil {
		return err
	}
	if d.Creator == CreatorRollback || det.RollbackInfo != nil {
		return nil
	}
	on := func(event string) bool {
		if det.AutoRollback == nil || !det.AutoRollback.Enabled {
			return false
		}
		for _, e := range det.AutoRollback.Events {
			if e == event {
				return true
			}
		}
		return false
	}
	want := false
	switch d.Status {
	case StatusFailed:
		want = on(RollbackOnFailure)
	case StatusStopped:
		if det.StopRollback != nil {
			want = *det.StopRollback
		} else {
			want = on(RollbackOnRequest)
		}
	}
	if !want {
		return nil
	}
	targets, err := tx.ListTargets(ctx, d.ID)
	if err != nil {
		return err
	}
	var hosts []string
	for _, t := range targets {
		if !t.Delivered.IsZero() {
			hosts = append(hosts, t.Instance)
		}
	}
	save := func(msg string) error {
		det.RollbackInfo = &RollbackInfo{RollbackMessage: msg}
		det.encode(d)
		return tx.UpdateDeployment(ctx, d, d.Status)
	}
	if len(hosts) == 0 {
		return save("No rollback: no host received this revision")
	}
	last, err := tx.LastDeployment(ctx, d.GroupID, d.Seq, StatusSucceeded)
	if errors.Is(err, store.ErrNotFound) {
		return save("No rollback: the deployment group has no earlier successful deployment to return to")
	}
	if err != nil {
		return err
	}
	rev, err := decodeRevision(last.Revision)
	if err != nil {
		return err
	}
	rdet := detail{Description: "Rollback of " + d.ID + " to the revision of " + last.ID,
		IgnoreApplicationStopFailures: det.IgnoreApplicationStopFailures, FileExistsBehavior: det.FileExistsBehavior,
		DeploymentStyle: det.DeploymentStyle, PreviousRevision: &rev.Location, Hosts: hosts,
		RollbackInfo: &RollbackInfo{RollbackTriggeringDeploymentID: d.ID,
			RollbackMessage: fmt.Sprintf("Rollback of %s to the revision of %s, the group's last successful deployment", d.ID, last.ID)}}
	rb, err := s.insertDeployment(ctx, tx, store.Deployment{Application: d.Application, GroupID: d.GroupID, GroupName: d.GroupName,
		ConfigName: d.ConfigName, Creator: CreatorRollback}, rev, rdet)
	if err != nil {
		return err
	}
	fx.changed = append(fx.changed, rb.ID)
	s.log.Info("rollback created", "deployment_id", rb.ID, "rolls_back", d.ID, "revision_of", last.ID, "hosts", len(hosts))
	det.RollbackInfo = &RollbackInfo{RollbackDeploymentID: rb.ID,
		RollbackMessage: fmt.Sprintf("Rolled back by %s to the revision of %s on %d %s", rb.ID, last.ID, len(hosts), plural(len(hosts), "host", "hosts"))}
	det.encode(d)
	return tx.UpdateDeployment(ctx, d, d.Status)
}

// dispatch gives a host its command: the target is in flight, leased to the instance's agent,
// and a poll waiting for it is woken after the commit.
func (s *Service) dispatch(ctx context.Context, tx *store.Tx, fx *effects, t *store.DeploymentTarget, inst store.Instance) error {
	ev, err := decodeEvents(*t)
	if err != nil {
		return err
	}
	now := tx.Now()
	for i := range ev {
		if ev[i].LifecycleEventName == eventStart {
			ev[i].Status, ev[i].StartTime, ev[i].EndTime = TargetSucceeded, ts(now), ts(now)
		}
	}
	encodeEvents(t, ev)
	t.Status, t.CommandID, t.AgentID, t.Dispatched = TargetInProgress, uuid.NewString(), inst.AgentID, now
	if err := tx.UpdateTarget(ctx, t, TargetPending); err != nil {
		return err
	}
	fx.wake = append(fx.wake, inst.Name)
	fx.lease(t.CommandID, time.Now().Add(s.lease))
	fx.changed = append(fx.changed, t.DeploymentID)
	return nil
}

// endTarget ends a target with an outcome and applies it to its events (settleEvents).
func (s *Service) endTarget(ctx context.Context, tx *store.Tx, fx *effects, t *store.DeploymentTarget, status, reason, message string, diag *Diagnostics) error {
	ev, err := decodeEvents(*t)
	if err != nil {
		return err
	}
	settleEvents(ev, status, ts(tx.Now()), diag)
	encodeEvents(t, ev)
	from := t.Status
	t.Status, t.EndReason, t.Ended = status, reason, tx.Now()
	if message != "" {
		t.Message = message
	} else if diag != nil {
		t.Message = diag.Message
	}
	if err := tx.UpdateTarget(ctx, t, from); err != nil {
		return err
	}
	if t.CommandID != "" {
		fx.drop = append(fx.drop, t.CommandID)
		fx.logs = append(fx.logs, [2]string{t.DeploymentID, t.Instance})
	}
	fx.changed = append(fx.changed, t.DeploymentID)
	return nil
}

// settleEvents applies a host's outcome to its events: the running event takes the outcome (a
// failure with diag when the agent gave none); when nothing ran and the host failed with diag
// (lease, revoked), the first event not run carries it; every other event not run is skipped; End
// follows the outcome.
func settleEvents(ev []LifecycleEvent, status string, now *pipeline.Timestamp, diag *Diagnostics) {
	failed := false
	for _, e := range ev {
		failed = failed || e.Status == TargetFailed
	}
	for i := range ev {
		e := &ev[i]
		if e.LifecycleEventName == eventEnd {
			e.Status = TargetSkipped
			if status == TargetSucceeded {
				e.Status, e.StartTime, e.EndTime = TargetSucceeded, now, now
			}
			continue
		}
		switch e.Status {
		case TargetInProgress:
			if status == TargetSucceeded {
				e.Status, e.EndTime = TargetSucceeded, now
				continue
			}
			e.Status, e.EndTime, failed = TargetFailed, now, true
			if e.Diagnostics == nil {
				e.Diagnostics = diag
			}
		case TargetPending:
			if status == TargetFailed && !failed && diag != nil {
				e.Status, e.StartTime, e.EndTime, e.Diagnostics, failed = TargetFailed, now, now, diag, true
				continue
			}
			e.Status = TargetSkipped
		}
	}
}
