// Package fake is a scriptable executor for engine tests: what an action does is written in its
// configuration, and tests await its start through a channel rather than sleeping.
//
// Configuration keys (all optional):
//
//	Result     Succeeded (default) | Failed | Error (the provider breaks: reason infrastructure) | Panic
//	Summary    the result's summary
//	Sleep      a Go duration to run for (honours cancellation)
//	Wait       "true": block until Release is called for the action execution, or ctx ends
//	Variables  JSON object of output variables
//	FailTimes  "N": fail the first N runs of this action in one pipeline execution, then succeed
//	Resumable  "false": refuse to re-attach after a server restart
package fake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/conveyorci/conveyor/executor"
)

// Executor is the fake provider. The zero value is not usable: call New.
type Executor struct {
	// Started receives every job as Execute begins (buffered; tests read it to await starts).
	Started chan executor.Job

	mu       sync.Mutex
	releases map[string]chan executor.Result
	runs     map[string]int
}

// New returns a fake with a start channel of the given capacity.
func New(buffer int) *Executor {
	return &Executor{
		Started:  make(chan executor.Job, buffer),
		releases: map[string]chan executor.Result{},
		runs:     map[string]int{},
	}
}

// Types are the action types the fake registers under, one per category that pipelines need.
var Types = []executor.ActionType{
	{Category: "Source", Owner: "Custom", Provider: "Fake"},
	{Category: "Build", Owner: "Custom", Provider: "Fake"},
	{Category: "Test", Owner: "Custom", Provider: "Fake"},
	{Category: "Deploy", Owner: "Custom", Provider: "Fake"},
	{Category: "Invoke", Owner: "Custom", Provider: "Fake"},
}

// Register adds the fake under every type in Types.
func Register(r *executor.Registry, x *Executor) {
	for _, t := range Types {
		r.Register(executor.Spec{
			Type:           t,
			OptionalConfig: []string{"Result", "Summary", "Sleep", "Wait", "Variables", "FailTimes", "Resumable"},
			MaxInputs:      5, MaxOutputs: 5,
			DefaultTimeout: time.Hour, HonoursActionTimeout: true,
		}, x)
	}
}

// Release ends a waiting action with a result; it returns false if the action is not waiting yet.
func (x *Executor) Release(actionExecutionID string, r executor.Result) bool {
	x.mu.Lock()
	ch, ok := x.releases[actionExecutionID]
	x.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case ch <- r:
		return true
	default:
		return false
	}
}

// Execute performs the scripted behaviour.
func (x *Executor) Execute(ctx context.Context, job executor.Job) (executor.Result, error) {
	cfg := job.Configuration
	var release chan executor.Result
	if cfg["Wait"] == "true" {
		release = make(chan executor.Result, 1)
		x.mu.Lock()
		x.releases[job.ActionExecutionID] = release
		x.mu.Unlock()
		defer func() {
			x.mu.Lock()
			delete(x.releases, job.ActionExecutionID)
			x.mu.Unlock()
		}()
	}
	job.Progress(executor.Progress{ExternalExecutionID: "fake-" + job.ActionExecutionID[:8], Summary: "running"})
	select {
	case x.Started <- job:
	case <-ctx.Done():
		return executor.Result{}, ctx.Err()
	}
	if d, err := time.ParseDuration(cfg["Sleep"]); err == nil && d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return executor.Failure("cancelled"), nil
		}
	}
	if release != nil {
		select {
		case r := <-release:
			return r, nil
		case <-ctx.Done():
			return executor.Failure("cancelled"), nil
		}
	}
	key := job.PipelineExecutionID + "/" + job.StageName + "/" + job.ActionName
	x.mu.Lock()
	x.runs[key]++
	run := x.runs[key]
	x.mu.Unlock()
	if n, err := strconv.Atoi(cfg["FailTimes"]); err == nil && run <= n {
		return executor.Result{Status: executor.Failed, Summary: fmt.Sprintf("scripted failure %d of %d", run, n)}, nil
	}
	res := executor.Result{Status: executor.Succeeded, Summary: cfg["Summary"], ExternalExecutionID: "fake-" + job.ActionExecutionID[:8]}
	switch cfg["Result"] {
	case "Failed":
		res.Status = executor.Failed
		if res.Summary == "" {
			res.Summary = "scripted failure"
		}
	case "Error":
		return executor.Result{}, fmt.Errorf("scripted infrastructure error")
	case "Panic":
		panic("scripted panic")
	}
	if v := cfg["Variables"]; v != "" {
		if err := json.Unmarshal([]byte(v), &res.OutputVariables); err != nil {
			return executor.Failure("Variables is not a JSON object: " + err.Error()), nil
		}
	}
	for _, name := range job.OutputArtifacts {
		sum := sha256.Sum256([]byte(job.ActionExecutionID + "/" + name))
		art := executor.Artifact{Name: name, BlobSHA256: hex.EncodeToString(sum[:])}
		if job.Type.Category == "Source" {
			art.Revision = &executor.Revision{RevisionID: "fake-" + job.PipelineExecutionID[:8], Summary: "fake revision", Created: time.Now().UTC()}
		}
		res.OutputArtifacts = append(res.OutputArtifacts, art)
	}
	return res, nil
}

// CanResume follows the Resumable configuration key (default true).
func (x *Executor) CanResume(job executor.Job) bool { return job.Configuration["Resumable"] != "false" }
