// Package protocol is the wire contract between the Conveyor server and `conveyor agent`, the
// CodeDeploy-style host agent. Both sides import these types; neither imports the other's code.
//
// The agent connects out to the server (no inbound port on the host) over HTTPS or HTTP, under
// PathPrefix. All bodies are JSON. Times are RFC 3339.
//
// # Registration
//
//	POST /agent/v1/register            RegisterRequest → RegisterResponse
//
// The only call without agent credentials: the single-use registration token in the body (created
// by an admin with `conveyor agents token create`) is exchanged for an agent id and a credential the
// agent stores and sends on every later call as
//
//	Authorization: Bearer <agentId>:<credential>
//
// A revoked agent, or a wrong credential, gets 401 on every call.
//
// # Work
//
//	GET  /agent/v1/commands/next?wait=<seconds>     → 200 Command | 204 (nothing within wait, ≤ 60 s)
//	POST /agent/v1/commands/{id}/events             EventReport → EventResponse
//	POST /agent/v1/commands/{id}/logs               LogBatch → 204
//	POST /agent/v1/commands/{id}/heartbeat          → HeartbeatResponse
//	POST /agent/v1/commands/{id}/complete           Completion → 204
//	GET  /agent/v1/bundles/{id}                     → the revision's bytes (sha256 in Command.Revision)
//
// The poll is a long-lived request: the server answers it the moment a command for this agent
// exists, so an idle agent starts a deployment within milliseconds. An agent's poll (idle) or a
// command's heartbeat (busy) is its heartbeat; the server records when it last heard from the agent.
// Until the agent has reported an event of a command, later polls return the same command
// again (the answer to the first may have been lost); after the first report, never. An agent that
// already runs or ran a command id must not start it again.
//
// A Command is one host's part of one deployment: every lifecycle event of that deployment on this
// host, run in the order of Command.Events. The command is leased to the agent: the agent must send
// a heartbeat (or an event report or log batch, which count as heartbeats) within
// Command.LeaseSeconds, or the server fails the host with AGENT_ISSUE and goes on by the deployment
// configuration's rules. Every call about a command is checked against the lease: another agent's
// command id, or a command whose lease was lost, gets 403 or 409; a command the server cancelled
// (StopDeployment) answers Continue=false, and the agent stops after the event it is running.
//
// Before a script-running event starts, the agent records it durably on the host; after an agent
// crash and restart, that event is reported Failed with error code FailedAfterRestart and the
// command completed Failed — never run again.
//
// # Errors
//
// Non-2xx answers carry Error. 400 malformed, 401 not authenticated or revoked, 403 not this agent's
// command or bundle, 404 unknown command, 409 lease lost (the host was failed already), 410 the
// registration token was used or expired.
package protocol

import "time"

// PathPrefix is where the agent protocol is served.
const PathPrefix = "/agent/v1"

// MaxWait is the longest a poll may wait for a command.
const MaxWait = 60 * time.Second

// RegisterRequest exchanges a registration token for an agent identity.
type RegisterRequest struct {
	Token    string            `json:"token"`
	Name     string            `json:"name"` // the instance name, unique on the server
	Tags     map[string]string `json:"tags,omitempty"`
	Hostname string            `json:"hostname,omitempty"`
	Version  string            `json:"version,omitempty"` // the agent's Conveyor version
	OS       string            `json:"os,omitempty"`
	Arch     string            `json:"arch,omitempty"`
}

// RegisterResponse is the agent's identity.
type RegisterResponse struct {
	AgentID     string `json:"agentId"`
	Credential  string `json:"credential"`
	InstanceArn string `json:"instanceArn"`
}

// Lifecycle events of an in-place deployment, in order. Start, End and the traffic events the
// server runs itself are never sent to agents.
const (
	EventApplicationStop  = "ApplicationStop"
	EventDownloadBundle   = "DownloadBundle"
	EventBeforeInstall    = "BeforeInstall"
	EventInstall          = "Install"
	EventAfterInstall     = "AfterInstall"
	EventApplicationStart = "ApplicationStart"
	EventValidateService  = "ValidateService"
)

// InPlaceEvents is the in-place order.
var InPlaceEvents = []string{EventApplicationStop, EventDownloadBundle, EventBeforeInstall, EventInstall,
	EventAfterInstall, EventApplicationStart, EventValidateService}

// Command is one host's part of a deployment.
type Command struct {
	ID                  string `json:"id"`
	DeploymentID        string `json:"deploymentId"`
	ApplicationName     string `json:"applicationName"`
	DeploymentGroupName string `json:"deploymentGroupName"`
	DeploymentGroupID   string `json:"deploymentGroupId"`
	// Creator is "user", "CodePipeline" or "codeDeployRollback".
	Creator  string   `json:"creator"`
	Revision Revision `json:"revision"`
	// Events are the lifecycle events to run, in order.
	Events []string `json:"events"`
	// FileExistsBehavior is the deployment's: DISALLOW, OVERWRITE or RETAIN. As in CodeDeploy, an
	// appspec's file_exists_behavior takes precedence; with neither, DISALLOW.
	FileExistsBehavior string `json:"fileExistsBehavior,omitempty"`
	// IgnoreApplicationStopFailures makes a failed ApplicationStop non-fatal.
	IgnoreApplicationStopFailures bool `json:"ignoreApplicationStopFailures,omitempty"`
	// AppSpecFilename defaults to appspec.yml (appspec.yaml is tried too).
	AppSpecFilename string `json:"appSpecFilename,omitempty"`
	// LeaseSeconds is how long the server waits between heartbeats before failing the host.
	LeaseSeconds int `json:"leaseSeconds"`
}

// Revision is what a deployment installs.
type Revision struct {
	// BundlePath is where to download the bundle, relative to the server URL.
	BundlePath string `json:"bundlePath"`
	SHA256     string `json:"sha256"`
	Size       int64  `json:"size"`
	BundleType string `json:"bundleType"` // zip | tar | tgz
	// For the hooks' BUNDLE_* variables.
	Bucket   string `json:"bucket,omitempty"`
	Key      string `json:"key,omitempty"`
	Version  string `json:"version,omitempty"`
	ETag     string `json:"eTag,omitempty"`
	CommitID string `json:"commitId,omitempty"`
}

// Event statuses.
const (
	StatusPending    = "Pending"
	StatusInProgress = "InProgress"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
	StatusSkipped    = "Skipped"
)

// Diagnostic error codes (CodeDeploy's, plus the host agent's own).
const (
	ErrSuccess             = "Success"
	ErrScriptMissing       = "ScriptMissing"
	ErrScriptNotExecutable = "ScriptNotExecutable"
	ErrScriptTimedOut      = "ScriptTimedOut"
	ErrScriptFailed        = "ScriptFailed"
	ErrUnknownError        = "UnknownError"
	ErrOutputsLeftOpen     = "OutputsLeftOpen"
	ErrFailedAfterRestart  = "FailedAfterRestart"
)

// Diagnostics explain how an event ended.
type Diagnostics struct {
	ErrorCode  string `json:"errorCode"`
	ScriptName string `json:"scriptName,omitempty"`
	Message    string `json:"message,omitempty"`
	LogTail    string `json:"logTail,omitempty"` // the last ~2 KB of the script's output
}

// EventReport is a lifecycle event starting (InProgress) or ending.
type EventReport struct {
	Event       string       `json:"event"`
	Status      string       `json:"status"`
	StartTime   time.Time    `json:"startTime"`
	EndTime     *time.Time   `json:"endTime,omitempty"`
	Diagnostics *Diagnostics `json:"diagnostics,omitempty"`
}

// EventResponse tells the agent whether to go on with the next event.
type EventResponse struct {
	Continue bool   `json:"continue"`
	Reason   string `json:"reason,omitempty"`
}

// LogLine is one line of hook script output.
type LogLine struct {
	Time   time.Time `json:"time"`
	Event  string    `json:"event"`
	Script string    `json:"script,omitempty"`
	Stream string    `json:"stream"` // stdout | stderr | agent
	Text   string    `json:"text"`
}

// LogBatch is script output sent while a command runs.
type LogBatch struct {
	Lines []LogLine `json:"lines"`
}

// HeartbeatResponse renews the lease and says whether to go on.
type HeartbeatResponse struct {
	Continue     bool `json:"continue"`
	LeaseSeconds int  `json:"leaseSeconds"`
}

// Completion ends a command.
type Completion struct {
	Status      string       `json:"status"` // Succeeded | Failed
	Diagnostics *Diagnostics `json:"diagnostics,omitempty"`
}

// Error is the body of a non-2xx answer.
type Error struct {
	Code    string `json:"error"`
	Message string `json:"message"`
}

// AgentHeader carries the agent's version on every call.
const AgentHeader = "X-Conveyor-Agent-Version"
