// Package build is Conveyor's CodeBuild: projects, builds that run a buildspec in a Docker
// container (one long-lived container per build, one exec per command), and the CodeBuild pipeline
// action. Sub-packages hold the parts: buildspec (the file format), docker (the container backend),
// reports (test report parsers).
//
// The build record is the CodeBuild API's Build shape; it is stored as JSON and returned by
// BatchGetBuilds as is.
package build

import (
	"strconv"
	"time"
)

// Build statuses (buildStatus and phaseStatus).
const (
	StatusInProgress = "IN_PROGRESS"
	StatusSucceeded  = "SUCCEEDED"
	StatusFailed     = "FAILED"
	StatusFault      = "FAULT"
	StatusTimedOut   = "TIMED_OUT"
	StatusStopped    = "STOPPED"
)

// Phase types, in order.
const (
	PhaseSubmitted       = "SUBMITTED"
	PhaseQueued          = "QUEUED"
	PhaseProvisioning    = "PROVISIONING"
	PhaseDownloadSource  = "DOWNLOAD_SOURCE"
	PhaseInstall         = "INSTALL"
	PhasePreBuild        = "PRE_BUILD"
	PhaseBuild           = "BUILD"
	PhasePostBuild       = "POST_BUILD"
	PhaseUploadArtifacts = "UPLOAD_ARTIFACTS"
	PhaseFinalizing      = "FINALIZING"
	PhaseCompleted       = "COMPLETED"
)

// Phase context status codes.
const (
	ContextCommandError = "COMMAND_EXECUTION_ERROR"
	ContextYAMLError    = "YAML_FILE_ERROR"
	ContextClientError  = "CLIENT_ERROR"
	ContextTimeout      = "BUILD_TIMED_OUT"
	ContextStopped      = "BUILD_STOPPED"
	ContextFault        = "INTERNAL_ERROR"
	ContextOutOfMemory  = "OUT_OF_MEMORY"
)

// Epoch is a time marshalled as epoch seconds (the AWS JSON protocol's timestamps).
type Epoch float64

// At converts a time.
func At(t time.Time) *Epoch {
	if t.IsZero() {
		return nil
	}
	e := Epoch(float64(t.UnixMilli()) / 1000)
	return &e
}

// Time converts back.
func (e *Epoch) Time() time.Time {
	if e == nil {
		return time.Time{}
	}
	return time.UnixMilli(int64(float64(*e) * 1000)).UTC()
}

// MarshalJSON writes seconds with millisecond precision.
func (e Epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(e), 'f', -1, 64)), nil
}

// Build is one build, in the CodeBuild API's Build shape.
type Build struct {
	ID                           string              `json:"id"`
	Arn                          string              `json:"arn"`
	BuildNumber                  int                 `json:"buildNumber"`
	StartTime                    *Epoch              `json:"startTime,omitempty"`
	EndTime                      *Epoch              `json:"endTime,omitempty"`
	CurrentPhase                 string              `json:"currentPhase"`
	BuildStatus                  string              `json:"buildStatus"`
	SourceVersion                string              `json:"sourceVersion,omitempty"`
	ResolvedSourceVersion        string              `json:"resolvedSourceVersion,omitempty"`
	ProjectName                  string              `json:"projectName"`
	Phases                       []BuildPhase        `json:"phases"`
	Source                       *ProjectSource      `json:"source,omitempty"`
	SecondarySources             []ProjectSource     `json:"secondarySources,omitempty"`
	SecondarySourceVersions      []SourceVersion     `json:"secondarySourceVersions,omitempty"`
	Artifacts                    *BuildArtifacts     `json:"artifacts,omitempty"`
	SecondaryArtifacts           []BuildArtifacts    `json:"secondaryArtifacts,omitempty"`
	Cache                        *ProjectCache       `json:"cache,omitempty"`
	Environment                  *ProjectEnvironment `json:"environment,omitempty"`
	ServiceRole                  string              `json:"serviceRole,omitempty"`
	Logs                         *LogsLocation       `json:"logs,omitempty"`
	TimeoutInMinutes             int                 `json:"timeoutInMinutes"`
	QueuedTimeoutInMinutes       int                 `json:"queuedTimeoutInMinutes"`
	BuildComplete                bool                `json:"buildComplete"`
	Initiator                    string              `json:"initiator"`
	ExportedEnvironmentVariables []ExportedVariable  `json:"exportedEnvironmentVariables,omitempty"`
	ReportArns                   []string            `json:"reportArns,omitempty"`
	// Conveyor additions (SDKs ignore unknown members).
	OutOfMemory bool `json:"conveyorOutOfMemory,omitempty"`
}

// BuildPhase is one phase of a build.
type BuildPhase struct {
	PhaseType         string         `json:"phaseType"`
	PhaseStatus       string         `json:"phaseStatus,omitempty"`
	StartTime         *Epoch         `json:"startTime,omitempty"`
	EndTime           *Epoch         `json:"endTime,omitempty"`
	DurationInSeconds *int64         `json:"durationInSeconds,omitempty"`
	Contexts          []PhaseContext `json:"contexts,omitempty"`
}

// PhaseContext explains a phase's outcome.
type PhaseContext struct {
	StatusCode string `json:"statusCode"`
	Message    string `json:"message"`
}

// BuildArtifacts is a build output: where it is and its checksums.
type BuildArtifacts struct {
	Location             string `json:"location,omitempty"`
	Sha256sum            string `json:"sha256sum,omitempty"`
	Md5sum               string `json:"md5sum,omitempty"`
	OverrideArtifactName bool   `json:"overrideArtifactName,omitempty"`
	ArtifactIdentifier   string `json:"artifactIdentifier,omitempty"`
	// Conveyor additions: the blob and its size, and the files it holds.
	Size  int64 `json:"conveyorSize,omitempty"`
	Files int   `json:"conveyorFiles,omitempty"`
}

// SourceVersion names a secondary source's version.
type SourceVersion struct {
	SourceIdentifier string `json:"sourceIdentifier"`
	SourceVersion    string `json:"sourceVersion"`
}

// LogsLocation says where the build log is (Conveyor serves it itself).
type LogsLocation struct {
	GroupName  string `json:"groupName,omitempty"`
	StreamName string `json:"streamName,omitempty"`
	DeepLink   string `json:"deepLink,omitempty"`
}

// ExportedVariable is a variable the buildspec exported.
type ExportedVariable struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Finished reports whether a status is final.
func Finished(status string) bool { return status != StatusInProgress && status != "" }

// phase returns the build's record of a phase type, or nil.
func (b *Build) phase(t string) *BuildPhase {
	for i := range b.Phases {
		if b.Phases[i].PhaseType == t {
			return &b.Phases[i]
		}
	}
	return nil
}
