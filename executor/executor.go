// Package executor defines the contract between the pipeline engine and the providers that run
// actions (source, build, deploy, approval). Each provider family lives in a sub-package.
//
// Call order and guarantees, from the engine's side:
//
//  1. The engine commits the action execution (status InProgress, its id, resolved configuration,
//     input artifacts and, for approvals, its token) before it calls Execute. A provider may
//     therefore use Job.ActionExecutionID as an idempotency key and as a label on what it creates.
//  2. Execute runs in its own goroutine and blocks until the action ends. It reports progress through
//     Job.Progress (persisted: the external execution id appears in GetPipelineState while running).
//  3. A failed action is data: Execute returns a Result with Status Failed and a summary, and a nil
//     error. A non-nil error means the provider itself broke (Docker gone, disk full); the engine
//     then fails the action with reason "infrastructure".
//  4. ctx carries the action's deadline (timeout) and cancellation (stop and abandon, pipeline
//     deleted, server shutting down). On cancellation Execute must release what it holds and return
//     promptly; what it returns then is ignored when the engine already decided the outcome.
//  5. After a server restart the engine calls Execute again with Job.Resumed set for every action
//     that was InProgress, if the provider implements Resumer and says it can resume; otherwise the
//     action fails with reason "server restart". Resuming must not repeat work already done.
package executor

import (
	"context"
	"time"
)

// Status is the outcome of an action execution as the provider sees it.
type Status string

// Outcomes a provider may return.
const (
	Succeeded Status = "Succeeded"
	Failed    Status = "Failed"
)

// ActionType identifies a provider: category, owner, provider (version is always "1" here).
type ActionType struct {
	Category string
	Owner    string
	Provider string
}

func (t ActionType) String() string { return t.Category + "/" + t.Owner + "/" + t.Provider }

// Artifact is an artifact flowing between actions: a zip file in the blob store.
type Artifact struct {
	Name string `json:"name"`
	// BlobSHA256 addresses the zip in the blob store.
	BlobSHA256 string `json:"sha256"`
	Size       int64  `json:"size"`
	// Revision describes the source revision the artifact came from (source actions), or is nil.
	Revision *Revision `json:"revision,omitempty"`
}

// Revision is a source revision: a commit, an object version.
type Revision struct {
	RevisionID       string    `json:"revisionId"`
	RevisionChangeID string    `json:"revisionChangeId,omitempty"`
	Summary          string    `json:"summary,omitempty"`
	URL              string    `json:"url,omitempty"`
	Created          time.Time `json:"created"`
	// RepositoryURL is the repository a git revision came from (CODEBUILD_SOURCE_REPO_URL).
	RepositoryURL string `json:"repositoryUrl,omitempty"`
}

// SourceRevision pins the revision a source action must fetch (StartPipelineExecution's
// sourceRevisions, or the revision a trigger named).
type SourceRevision struct {
	Type  string `json:"revisionType"` // COMMIT_ID | IMAGE_DIGEST | S3_OBJECT_VERSION_ID | S3_OBJECT_KEY
	Value string `json:"revisionValue"`
}

// Progress is what a running action reports.
type Progress struct {
	ExternalExecutionID  string
	ExternalExecutionURL string
	Summary              string
	PercentComplete      int
}

// Job is one action execution handed to a provider.
type Job struct {
	ActionExecutionID   string
	PipelineName        string
	PipelineExecutionID string
	PipelineVersion     int
	StageName           string
	ActionName          string
	Type                ActionType
	// Configuration holds the action's configuration with every #{…} variable resolved.
	Configuration   map[string]string
	InputArtifacts  []Artifact
	OutputArtifacts []string
	Namespace       string
	// Token is the approval token of a Manual approval action.
	Token string
	// SourceRevision is set for source actions when the execution pins a revision.
	SourceRevision *SourceRevision
	// TriggerDetail carries what started the execution (for source actions that fetch what a
	// webhook named), as stored on the execution.
	TriggerType   string
	TriggerDetail string
	StartedAt     time.Time
	Deadline      time.Time
	// Resumed is set when the engine re-attaches to an action after a server restart.
	Resumed             bool
	ExternalExecutionID string
	// Progress persists progress; it may be called from any goroutine. Never nil.
	Progress func(Progress)
}

// Result is how an action ended, as data.
type Result struct {
	Status               Status
	Summary              string
	ErrorCode            string
	ExternalExecutionID  string
	ExternalExecutionURL string
	OutputArtifacts      []Artifact
	OutputVariables      map[string]string
}

// Executor runs actions of one provider. See the package comment for the call contract.
type Executor interface {
	Execute(ctx context.Context, job Job) (Result, error)
}

// Resumer is implemented by executors that can re-attach to an action after a server restart.
type Resumer interface {
	CanResume(job Job) bool
}

// Failure is a convenience for providers: a failed Result with a summary.
func Failure(summary string) Result { return Result{Status: Failed, Summary: summary} }
