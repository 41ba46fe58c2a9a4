// Package approval is the Approval/AWS/Manual provider. The engine owns the decision (a single-use
// token per action execution and one compare-and-set for approve, reject, stop and timeout); this
// executor only publishes what reviewers need and waits until the action ends one way or another.
package approval

import (
	"context"
	"time"

	"github.com/conveyorci/conveyor/executor"
)

// DefaultTimeout is CodePipeline's: an approval nobody answers fails after seven days.
const DefaultTimeout = 7 * 24 * time.Hour

// Notifier is told that an approval is waiting (the notifications work plugs in here).
type Notifier interface {
	ApprovalNeeded(ctx context.Context, job executor.Job)
}

// Executor waits for a decision.
type Executor struct {
	Notifier Notifier // optional
}

// Spec describes the Manual approval provider.
func Spec() executor.Spec {
	return executor.Spec{
		Type:                 executor.ActionType{Category: "Approval", Owner: "AWS", Provider: "Manual"},
		OptionalConfig:       []string{"CustomData", "ExternalEntityLink", "NotificationArn"},
		DefaultTimeout:       DefaultTimeout,
		HonoursActionTimeout: true,
	}
}

// Execute shows CustomData and ExternalEntityLink on the waiting action, notifies once, and waits.
// The engine cancels ctx when a reviewer decides or the execution is stopped and abandoned; the
// deadline fails the action with reason timeout.
func (x *Executor) Execute(ctx context.Context, job executor.Job) (executor.Result, error) {
	if !job.Resumed {
		job.Progress(executor.Progress{
			Summary:              job.Configuration["CustomData"],
			ExternalExecutionURL: job.Configuration["ExternalEntityLink"],
		})
		if x.Notifier != nil {
			x.Notifier.ApprovalNeeded(ctx, job)
		}
	}
	<-ctx.Done()
	return executor.Failure("Approval timed out: nobody approved or rejected it in time"), nil
}

// CanResume is always true: waiting holds no resources, and the token survives in the database.
func (x *Executor) CanResume(executor.Job) bool { return true }
