package deploy

import (
	"time"

	"github.com/conveyorci/conveyor/pipeline"
)

// The types below are CodeDeploy's API shapes with the model's member names (mixed case where the
// model is: Tag and TagFilter use Key/Value/Type, DeploymentOverview Pending/InProgress/…). The
// server only marshals them.

// Tag is a key and value on an instance or resource.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// TagFilter selects instances by tag. Type is KEY_ONLY, VALUE_ONLY or KEY_AND_VALUE.
type TagFilter struct {
	Key   string `json:"Key,omitempty"`
	Value string `json:"Value,omitempty"`
	Type  string `json:"Type,omitempty"`
}

// Tag filter types.
const (
	FilterKeyOnly     = "KEY_ONLY"
	FilterValueOnly   = "VALUE_ONLY"
	FilterKeyAndValue = "KEY_AND_VALUE"
)

// OnPremisesTagSet is a list of filter lists: an instance must match a filter of every list.
type OnPremisesTagSet struct {
	OnPremisesTagSetList [][]TagFilter `json:"onPremisesTagSetList,omitempty"`
}

// AutoRollbackConfiguration says when a failed or stopped deployment is rolled back.
type AutoRollbackConfiguration struct {
	Enabled bool     `json:"enabled"`
	Events  []string `json:"events,omitempty"`
}

// Rollback events.
const (
	RollbackOnFailure = "DEPLOYMENT_FAILURE"
	RollbackOnAlarm   = "DEPLOYMENT_STOP_ON_ALARM"
	RollbackOnRequest = "DEPLOYMENT_STOP_ON_REQUEST"
)

// DeploymentStyle is in-place (the only type so far) with or without traffic control.
type DeploymentStyle struct {
	DeploymentType   string `json:"deploymentType,omitempty"`
	DeploymentOption string `json:"deploymentOption,omitempty"`
}

// Alarm names a CloudWatch-style alarm (stored for the traffic work).
type Alarm struct {
	Name string `json:"name"`
}

// AlarmConfiguration is stored with the group; alarms are evaluated by later work.
type AlarmConfiguration struct {
	Enabled                bool    `json:"enabled"`
	IgnorePollAlarmFailure bool    `json:"ignorePollAlarmFailure"`
	Alarms                 []Alarm `json:"alarms,omitempty"`
}

// MinimumHealthyHosts is a deployment configuration's health rule.
type MinimumHealthyHosts struct {
	Type  string `json:"type"`
	Value int    `json:"value"`
}

// Minimum healthy host types. MostConcurrency is what GetDeploymentConfig reports for
// CodeDeployDefault.OneAtATime; it cannot be used in a custom configuration.
const (
	HostCount       = "HOST_COUNT"
	FleetPercent    = "FLEET_PERCENT"
	MostConcurrency = "MOST_CONCURRENCY"
)

// S3Location is a revision in a bucket of Conveyor's object store.
type S3Location struct {
	Bucket     string `json:"bucket,omitempty"`
	Key        string `json:"key,omitempty"`
	BundleType string `json:"bundleType,omitempty"`
	Version    string `json:"version,omitempty"`
	ETag       string `json:"eTag,omitempty"`
}

// GitHubLocation is accepted in the shape only (Conveyor does not fetch from GitHub).
type GitHubLocation struct {
	Repository string `json:"repository,omitempty"`
	CommitID   string `json:"commitId,omitempty"`
}

// RevisionLocation is where a revision is.
type RevisionLocation struct {
	RevisionType   string          `json:"revisionType,omitempty"`
	S3Location     *S3Location     `json:"s3Location,omitempty"`
	GitHubLocation *GitHubLocation `json:"gitHubLocation,omitempty"`
}

// ArtifactBucket is the pseudo bucket that names pipeline artifacts (and any blob) by their
// SHA-256 as the key: {revisionType: S3, s3Location: {bucket: "conveyor:artifacts", key: SHA256}}.
// The colon keeps it apart from every real bucket name.
const ArtifactBucket = "conveyor:artifacts"

// ErrorInformation says why a deployment failed or stopped.
type ErrorInformation struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Deployment error codes (CodeDeploy's).
const (
	ErrCodeHealthConstraints        = "HEALTH_CONSTRAINTS"
	ErrCodeHealthConstraintsInvalid = "HEALTH_CONSTRAINTS_INVALID"
	ErrCodeNoInstances              = "NO_INSTANCES"
	ErrCodeAgentIssue               = "AGENT_ISSUE"
	ErrCodeManualStop               = "MANUAL_STOP"
	ErrCodeRevisionMissing          = "REVISION_MISSING"
)

// RollbackInfo links a failed deployment and its rollback.
type RollbackInfo struct {
	RollbackDeploymentID           string `json:"rollbackDeploymentId,omitempty"`
	RollbackTriggeringDeploymentID string `json:"rollbackTriggeringDeploymentId,omitempty"`
	RollbackMessage                string `json:"rollbackMessage,omitempty"`
}

// DeploymentOverview counts a deployment's targets by status.
type DeploymentOverview struct {
	Pending    int `json:"Pending"`
	InProgress int `json:"InProgress"`
	Succeeded  int `json:"Succeeded"`
	Failed     int `json:"Failed"`
	Skipped    int `json:"Skipped"`
	Ready      int `json:"Ready"`
}

// Deployment statuses.
const (
	StatusCreated    = "Created"
	StatusQueued     = "Queued"
	StatusInProgress = "InProgress"
	StatusSucceeded  = "Succeeded"
	StatusFailed     = "Failed"
	StatusStopped    = "Stopped"
)

// Target and lifecycle event statuses.
const (
	TargetPending    = "Pending"
	TargetInProgress = "InProgress"
	TargetSucceeded  = "Succeeded"
	TargetFailed     = "Failed"
	TargetSkipped    = "Skipped"
)

// Creators.
const (
	CreatorUser     = "user"
	CreatorPipeline = "CodePipeline"
	CreatorRollback = "codeDeployRollback"
)

// Finished says whether a deployment status is final.
func Finished(status string) bool {
	return status == StatusSucceeded || status == StatusFailed || status == StatusStopped
}

// ApplicationInfo is GetApplication's application.
type ApplicationInfo struct {
	ApplicationID   string              `json:"applicationId"`
	ApplicationName string              `json:"applicationName"`
	CreateTime      *pipeline.Timestamp `json:"createTime,omitempty"`
	LinkedToGitHub  bool                `json:"linkedToGitHub"`
	ComputePlatform string              `json:"computePlatform"`
}

// GroupSettings are a deployment group's settings, as CreateDeploymentGroup takes them and as they
// are stored.
type GroupSettings struct {
	DeploymentConfigName         string                     `json:"deploymentConfigName,omitempty"`
	ServiceRoleArn               string                     `json:"serviceRoleArn,omitempty"`
	OnPremisesInstanceTagFilters []TagFilter                `json:"onPremisesInstanceTagFilters,omitempty"`
	OnPremisesTagSet             *OnPremisesTagSet          `json:"onPremisesTagSet,omitempty"`
	AutoRollbackConfiguration    *AutoRollbackConfiguration `json:"autoRollbackConfiguration,omitempty"`
	DeploymentStyle              *DeploymentStyle           `json:"deploymentStyle,omitempty"`
	AlarmConfiguration           *AlarmConfiguration        `json:"alarmConfiguration,omitempty"`
	OutdatedInstancesStrategy    string                     `json:"outdatedInstancesStrategy,omitempty"`
}

// LastDeploymentInfo summarises a group's last (successful or attempted) deployment.
type LastDeploymentInfo struct {
	DeploymentID string              `json:"deploymentId"`
	Status       string              `json:"status"`
	EndTime      *pipeline.Timestamp `json:"endTime,omitempty"`
	CreateTime   *pipeline.Timestamp `json:"createTime,omitempty"`
}

// DeploymentGroupInfo is GetDeploymentGroup's deploymentGroupInfo.
type DeploymentGroupInfo struct {
	ApplicationName     string `json:"applicationName"`
	DeploymentGroupID   string `json:"deploymentGroupId"`
	DeploymentGroupName string `json:"deploymentGroupName"`
	GroupSettings
	ComputePlatform          string              `json:"computePlatform"`
	TargetRevision           *RevisionLocation   `json:"targetRevision,omitempty"`
	LastSuccessfulDeployment *LastDeploymentInfo `json:"lastSuccessfulDeployment,omitempty"`
	LastAttemptedDeployment  *LastDeploymentInfo `json:"lastAttemptedDeployment,omitempty"`
}

// DeploymentConfigInfo is GetDeploymentConfig's deploymentConfigInfo.
type DeploymentConfigInfo struct {
	DeploymentConfigID   string              `json:"deploymentConfigId"`
	DeploymentConfigName string              `json:"deploymentConfigName"`
	MinimumHealthyHosts  MinimumHealthyHosts `json:"minimumHealthyHosts"`
	CreateTime           *pipeline.Timestamp `json:"createTime,omitempty"`
	ComputePlatform      string              `json:"computePlatform"`
}

// DeploymentInfo is GetDeployment's deploymentInfo.
type DeploymentInfo struct {
	ApplicationName               string                     `json:"applicationName"`
	DeploymentGroupName           string                     `json:"deploymentGroupName"`
	DeploymentConfigName          string                     `json:"deploymentConfigName"`
	DeploymentID                  string                     `json:"deploymentId"`
	PreviousRevision              *RevisionLocation          `json:"previousRevision,omitempty"`
	Revision                      *RevisionLocation          `json:"revision,omitempty"`
	Status                        string                     `json:"status"`
	ErrorInformation              *ErrorInformation          `json:"errorInformation,omitempty"`
	CreateTime                    *pipeline.Timestamp        `json:"createTime,omitempty"`
	StartTime                     *pipeline.Timestamp        `json:"startTime,omitempty"`
	CompleteTime                  *pipeline.Timestamp        `json:"completeTime,omitempty"`
	DeploymentOverview            *DeploymentOverview        `json:"deploymentOverview,omitempty"`
	Description                   string                     `json:"description,omitempty"`
	Creator                       string                     `json:"creator"`
	IgnoreApplicationStopFailures bool                       `json:"ignoreApplicationStopFailures"`
	AutoRollbackConfiguration     *AutoRollbackConfiguration `json:"autoRollbackConfiguration,omitempty"`
	UpdateOutdatedInstancesOnly   bool                       `json:"updateOutdatedInstancesOnly"`
	RollbackInfo                  *RollbackInfo              `json:"rollbackInfo,omitempty"`
	DeploymentStyle               *DeploymentStyle           `json:"deploymentStyle,omitempty"`
	FileExistsBehavior            string                     `json:"fileExistsBehavior,omitempty"`
	DeploymentStatusMessages      []string                   `json:"deploymentStatusMessages"`
	ComputePlatform               string                     `json:"computePlatform"`
	ExternalID                    string                     `json:"externalId,omitempty"`
	OverrideAlarmConfiguration    *AlarmConfiguration        `json:"overrideAlarmConfiguration,omitempty"`
}

// Diagnostics explain how a lifecycle event ended.
type Diagnostics struct {
	ErrorCode  string `json:"errorCode,omitempty"`
	ScriptName string `json:"scriptName,omitempty"`
	Message    string `json:"message,omitempty"`
	LogTail    string `json:"logTail,omitempty"`
}

// LifecycleEvent is one event of a host's deployment.
type LifecycleEvent struct {
	LifecycleEventName string              `json:"lifecycleEventName"`
	Diagnostics        *Diagnostics        `json:"diagnostics,omitempty"`
	StartTime          *pipeline.Timestamp `json:"startTime,omitempty"`
	EndTime            *pipeline.Timestamp `json:"endTime,omitempty"`
	Status             string              `json:"status"`
}

// InstanceTarget is a host's part of a deployment.
type InstanceTarget struct {
	DeploymentID    string              `json:"deploymentId"`
	TargetID        string              `json:"targetId"`
	TargetArn       string              `json:"targetArn"`
	Status          string              `json:"status"`
	LastUpdatedAt   *pipeline.Timestamp `json:"lastUpdatedAt,omitempty"`
	LifecycleEvents []LifecycleEvent    `json:"lifecycleEvents"`
}

// DeploymentTarget wraps an InstanceTarget as BatchGetDeploymentTargets answers.
type DeploymentTarget struct {
	DeploymentTargetType string          `json:"deploymentTargetType"`
	InstanceTarget       *InstanceTarget `json:"instanceTarget,omitempty"`
}

// InstanceInfo is GetOnPremisesInstance's instanceInfo.
type InstanceInfo struct {
	InstanceName   string              `json:"instanceName"`
	IAMSessionArn  string              `json:"iamSessionArn,omitempty"`
	IAMUserArn     string              `json:"iamUserArn,omitempty"`
	InstanceArn    string              `json:"instanceArn"`
	RegisterTime   *pipeline.Timestamp `json:"registerTime,omitempty"`
	DeregisterTime *pipeline.Timestamp `json:"deregisterTime,omitempty"`
	Tags           []Tag               `json:"tags"`
}

// ts converts a time for the API; the zero time is left out.
func ts(t time.Time) *pipeline.Timestamp {
	if t.IsZero() {
		return nil
	}
	p := pipeline.Timestamp(t)
	return &p
}
