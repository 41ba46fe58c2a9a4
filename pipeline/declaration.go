// Package pipeline holds the CodePipeline model (declarations, executions, statuses), the parser and
// validator for pipeline declarations, and the engine: a persisted state machine that advances
// executions through stages and actions.
package pipeline

// Declaration is the `pipeline` object exactly as `aws codepipeline get-pipeline` prints it. Field
// names and JSON tags follow the CodePipeline API model so that a declaration round-trips unchanged.
// Fields that Conveyor stores but does not act on are kept so that GetPipeline returns what was put.
type Declaration struct {
	Name           string                   `json:"name" yaml:"name"`
	RoleArn        string                   `json:"roleArn,omitempty" yaml:"roleArn,omitempty"`
	ArtifactStore  *ArtifactStore           `json:"artifactStore,omitempty" yaml:"artifactStore,omitempty"`
	ArtifactStores map[string]ArtifactStore `json:"artifactStores,omitempty" yaml:"artifactStores,omitempty"`
	Stages         []Stage                  `json:"stages" yaml:"stages"`
	Version        int                      `json:"version,omitempty" yaml:"version,omitempty"`
	PipelineType   string                   `json:"pipelineType,omitempty" yaml:"pipelineType,omitempty"`
	ExecutionMode  string                   `json:"executionMode,omitempty" yaml:"executionMode,omitempty"`
	Variables      []VariableDeclaration    `json:"variables,omitempty" yaml:"variables,omitempty"`
	Triggers       []Trigger                `json:"triggers,omitempty" yaml:"triggers,omitempty"`
}

// ArtifactStore is accepted for compatibility; Conveyor keeps artifacts in its own blob store.
type ArtifactStore struct {
	Type          string         `json:"type" yaml:"type"`
	Location      string         `json:"location" yaml:"location"`
	EncryptionKey *EncryptionKey `json:"encryptionKey,omitempty" yaml:"encryptionKey,omitempty"`
}

// EncryptionKey is stored and returned, not used.
type EncryptionKey struct {
	ID   string `json:"id" yaml:"id"`
	Type string `json:"type" yaml:"type"`
}

// VariableDeclaration is a V2 pipeline-level variable (`#{variables.NAME}`).
type VariableDeclaration struct {
	Name         string `json:"name" yaml:"name"`
	DefaultValue string `json:"defaultValue,omitempty" yaml:"defaultValue,omitempty"`
	Description  string `json:"description,omitempty" yaml:"description,omitempty"`
}

// Trigger is a V2 trigger on a source action.
type Trigger struct {
	ProviderType     string            `json:"providerType" yaml:"providerType"`
	GitConfiguration *GitConfiguration `json:"gitConfiguration,omitempty" yaml:"gitConfiguration,omitempty"`
}

// GitConfiguration holds the push and pull-request filters of a trigger.
type GitConfiguration struct {
	SourceActionName string                 `json:"sourceActionName" yaml:"sourceActionName"`
	Push             []GitPushFilter        `json:"push,omitempty" yaml:"push,omitempty"`
	PullRequest      []GitPullRequestFilter `json:"pullRequest,omitempty" yaml:"pullRequest,omitempty"`
}

// GitPushFilter selects pushes by tag, branch and changed file paths.
type GitPushFilter struct {
	Tags      *FilterCriteria `json:"tags,omitempty" yaml:"tags,omitempty"`
	Branches  *FilterCriteria `json:"branches,omitempty" yaml:"branches,omitempty"`
	FilePaths *FilterCriteria `json:"filePaths,omitempty" yaml:"filePaths,omitempty"`
}

// GitPullRequestFilter selects pull-request events.
type GitPullRequestFilter struct {
	Events    []string        `json:"events,omitempty" yaml:"events,omitempty"`
	Branches  *FilterCriteria `json:"branches,omitempty" yaml:"branches,omitempty"`
	FilePaths *FilterCriteria `json:"filePaths,omitempty" yaml:"filePaths,omitempty"`
}

// FilterCriteria is a pair of glob lists; excludes win over includes.
type FilterCriteria struct {
	Includes []string `json:"includes,omitempty" yaml:"includes,omitempty"`
	Excludes []string `json:"excludes,omitempty" yaml:"excludes,omitempty"`
}

// Stage is one stage of a pipeline.
type Stage struct {
	Name        string                 `json:"name" yaml:"name"`
	Blockers    []BlockerDeclaration   `json:"blockers,omitempty" yaml:"blockers,omitempty"`
	Actions     []Action               `json:"actions" yaml:"actions"`
	OnFailure   *FailureConditions     `json:"onFailure,omitempty" yaml:"onFailure,omitempty"`
	OnSuccess   *SuccessConditions     `json:"onSuccess,omitempty" yaml:"onSuccess,omitempty"`
	BeforeEntry *BeforeEntryConditions `json:"beforeEntry,omitempty" yaml:"beforeEntry,omitempty"`
}

// BlockerDeclaration is reserved by AWS for future use; stored only.
type BlockerDeclaration struct {
	Name string `json:"name" yaml:"name"`
	Type string `json:"type" yaml:"type"`
}

// FailureConditions says what happens when a stage fails.
type FailureConditions struct {
	Result             string              `json:"result,omitempty" yaml:"result,omitempty"`
	RetryConfiguration *RetryConfiguration `json:"retryConfiguration,omitempty" yaml:"retryConfiguration,omitempty"`
	Conditions         []Condition         `json:"conditions,omitempty" yaml:"conditions,omitempty"`
}

// RetryConfiguration is the automatic stage retry mode.
type RetryConfiguration struct {
	RetryMode string `json:"retryMode,omitempty" yaml:"retryMode,omitempty"`
}

// SuccessConditions and BeforeEntryConditions are stored and returned; rules are not evaluated yet.
type SuccessConditions struct {
	Conditions []Condition `json:"conditions" yaml:"conditions"`
}

// BeforeEntryConditions gate entry into a stage (stored, not evaluated yet).
type BeforeEntryConditions struct {
	Conditions []Condition `json:"conditions" yaml:"conditions"`
}

// Condition is a stage condition: a result and the rules that decide it.
type Condition struct {
	Result string            `json:"result,omitempty" yaml:"result,omitempty"`
	Rules  []RuleDeclaration `json:"rules,omitempty" yaml:"rules,omitempty"`
}

// RuleDeclaration is one rule of a condition.
type RuleDeclaration struct {
	Name             string            `json:"name" yaml:"name"`
	RuleTypeID       RuleTypeID        `json:"ruleTypeId" yaml:"ruleTypeId"`
	Configuration    map[string]string `json:"configuration,omitempty" yaml:"configuration,omitempty"`
	Commands         []string          `json:"commands,omitempty" yaml:"commands,omitempty"`
	InputArtifacts   []ArtifactName    `json:"inputArtifacts,omitempty" yaml:"inputArtifacts,omitempty"`
	RoleArn          string            `json:"roleArn,omitempty" yaml:"roleArn,omitempty"`
	Region           string            `json:"region,omitempty" yaml:"region,omitempty"`
	TimeoutInMinutes int               `json:"timeoutInMinutes,omitempty" yaml:"timeoutInMinutes,omitempty"`
}

// RuleTypeID identifies a rule provider.
type RuleTypeID struct {
	Category string `json:"category" yaml:"category"`
	Owner    string `json:"owner,omitempty" yaml:"owner,omitempty"`
	Provider string `json:"provider" yaml:"provider"`
	Version  string `json:"version,omitempty" yaml:"version,omitempty"`
}

// Action is one action of a stage.
type Action struct {
	Name                 string                `json:"name" yaml:"name"`
	ActionTypeID         ActionTypeID          `json:"actionTypeId" yaml:"actionTypeId"`
	RunOrder             int                   `json:"runOrder,omitempty" yaml:"runOrder,omitempty"`
	Configuration        map[string]string     `json:"configuration,omitempty" yaml:"configuration,omitempty"`
	Commands             []string              `json:"commands,omitempty" yaml:"commands,omitempty"`
	OutputArtifacts      []OutputArtifact      `json:"outputArtifacts,omitempty" yaml:"outputArtifacts,omitempty"`
	InputArtifacts       []ArtifactName        `json:"inputArtifacts,omitempty" yaml:"inputArtifacts,omitempty"`
	OutputVariables      []string              `json:"outputVariables,omitempty" yaml:"outputVariables,omitempty"`
	RoleArn              string                `json:"roleArn,omitempty" yaml:"roleArn,omitempty"`
	Region               string                `json:"region,omitempty" yaml:"region,omitempty"`
	Namespace            string                `json:"namespace,omitempty" yaml:"namespace,omitempty"`
	TimeoutInMinutes     int                   `json:"timeoutInMinutes,omitempty" yaml:"timeoutInMinutes,omitempty"`
	EnvironmentVariables []EnvironmentVariable `json:"environmentVariables,omitempty" yaml:"environmentVariables,omitempty"`
}

// EffectiveRunOrder is the action's runOrder with the default of 1 applied.
func (a Action) EffectiveRunOrder() int {
	if a.RunOrder == 0 {
		return 1
	}
	return a.RunOrder
}

// ActionTypeID names an action provider.
type ActionTypeID struct {
	Category string `json:"category" yaml:"category"`
	Owner    string `json:"owner" yaml:"owner"`
	Provider string `json:"provider" yaml:"provider"`
	Version  string `json:"version" yaml:"version"`
}

// String renders the type as Category/Owner/Provider, the form used in error messages.
func (t ActionTypeID) String() string { return t.Category + "/" + t.Owner + "/" + t.Provider }

// ArtifactName references an artifact by name (input artifacts).
type ArtifactName struct {
	Name string `json:"name" yaml:"name"`
}

// OutputArtifact declares an artifact an action produces.
type OutputArtifact struct {
	Name  string   `json:"name" yaml:"name"`
	Files []string `json:"files,omitempty" yaml:"files,omitempty"`
}

// EnvironmentVariable belongs to the Commands action.
type EnvironmentVariable struct {
	Name  string `json:"name" yaml:"name"`
	Value string `json:"value" yaml:"value"`
	Type  string `json:"type,omitempty" yaml:"type,omitempty"`
}

// Pipeline types and execution modes.
const (
	PipelineTypeV1 = "V1"
	PipelineTypeV2 = "V2"

	ModeSuperseded = "SUPERSEDED"
	ModeQueued     = "QUEUED"
	ModeParallel   = "PARALLEL"
)

// EffectiveExecutionMode applies the SUPERSEDED default.
func (d *Declaration) EffectiveExecutionMode() string {
	if d.ExecutionMode == "" {
		return ModeSuperseded
	}
	return d.ExecutionMode
}

// EffectivePipelineType applies the V1 default.
func (d *Declaration) EffectivePipelineType() string {
	if d.PipelineType == "" {
		return PipelineTypeV1
	}
	return d.PipelineType
}

// StageIndex returns the index of the named stage, or -1.
func (d *Declaration) StageIndex(name string) int {
	for i, s := range d.Stages {
		if s.Name == name {
			return i
		}
	}
	return -1
}

// Action returns the named action of the named stage.
func (d *Declaration) Action(stage, action string) (*Action, bool) {
	i := d.StageIndex(stage)
	if i < 0 {
		return nil, false
	}
	for j := range d.Stages[i].Actions {
		if d.Stages[i].Actions[j].Name == action {
			return &d.Stages[i].Actions[j], true
		}
	}
	return nil, false
}
