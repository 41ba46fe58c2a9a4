package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/conveyorci/conveyor/executor/deploy"
	"github.com/conveyorci/conveyor/notify"
	"github.com/conveyorci/conveyor/server/live"
)

// deploymentEvents turns the deploy service's change events into live page updates (at once) and,
// when a deployment's status changes, into notifications. One worker reads the deployments in the
// order their events came, so a deployment that finishes quickly still announces that it started.
type deploymentEvents struct {
	svc    *deploy.Service // set once the service exists
	hub    *live.Hub
	notify notify.DeploymentNotifier
	log    *slog.Logger
	queue  chan string
	seen   map[string]string // deployment → the last status announced
}

func newDeploymentEvents(hub *live.Hub, n notify.DeploymentNotifier, log *slog.Logger) *deploymentEvents {
	return &deploymentEvents{hub: hub, notify: n, log: log, queue: make(chan string, 1024), seen: map[string]string{}}
}

// changed is the deploy service's OnEvent: it never blocks the service.
func (e *deploymentEvents) changed(id string) {
	e.hub.DeploymentChanged(id)
	select {
	case e.queue <- id:
	default:
		e.log.Warn("deployment event queue full: a notification may be late", "deployment_id", id)
	}
}

// run announces status changes until ctx ends.
func (e *deploymentEvents) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-e.queue:
			e.announce(ctx, id)
		}
	}
}

// announce compares a deployment's status with what was last announced.
func (e *deploymentEvents) announce(ctx context.Context, id string) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := e.svc.GetDeployment(rctx, id)
	if err != nil {
		e.log.Warn("reading a deployment for its notification", "deployment_id", id, "err", err)
		return
	}
	var status string
	switch d.Status {
	case deploy.StatusInProgress:
		status = "Started"
	case deploy.StatusSucceeded:
		status = "Succeeded"
	case deploy.StatusFailed, deploy.StatusStopped:
		status = "Failed"
		if d.RollbackInfo != nil && d.RollbackInfo.RollbackDeploymentID != "" {
			status = "RolledBack"
		}
	default:
		return
	}
	last := e.seen[id]
	if status == last {
		return
	}
	// A failed deployment that was rolled back announces both, in that order.
	if status == "RolledBack" && last != "Failed" {
		e.emit(ctx, d, "Failed")
	}
	e.emit(ctx, d, status)
	e.seen[id] = status
	if status == "Succeeded" || status == "RolledBack" {
		delete(e.seen, id) // nothing more can follow
	}
}

func (e *deploymentEvents) emit(ctx context.Context, d deploy.DeploymentInfo, status string) {
	msg := ""
	if d.ErrorInformation != nil {
		msg = d.ErrorInformation.Message
	}
	e.notify.DeploymentChanged(ctx, notify.DeploymentEvent{DeploymentID: d.DeploymentID, Application: d.ApplicationName,
		DeploymentGroup: d.DeploymentGroupName, Status: status, Message: msg, Path: "/deployments/" + d.DeploymentID})
}
