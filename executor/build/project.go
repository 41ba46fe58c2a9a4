package build

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Project is a CodeBuild project in the CreateProject request shape (JSON member names as the
// CodeBuild API model). Fields Conveyor stores without acting on are kept as raw JSON so that
// BatchGetProjects returns what was created.
type Project struct {
	Name                   string             `json:"name"`
	Arn                    string             `json:"arn,omitempty"`
	Description            string             `json:"description,omitempty"`
	Source                 ProjectSource      `json:"source"`
	SecondarySources       []ProjectSource    `json:"secondarySources,omitempty"`
	SourceVersion          string             `json:"sourceVersion,omitempty"`
	Artifacts              ProjectArtifacts   `json:"artifacts"`
	SecondaryArtifacts     []ProjectArtifacts `json:"secondaryArtifacts,omitempty"`
	Cache                  *ProjectCache      `json:"cache,omitempty"`
	Environment            ProjectEnvironment `json:"environment"`
	ServiceRole            string             `json:"serviceRole,omitempty"`
	TimeoutInMinutes       int                `json:"timeoutInMinutes,omitempty"`
	QueuedTimeoutInMinutes int                `json:"queuedTimeoutInMinutes,omitempty"`
	ConcurrentBuildLimit   int                `json:"concurrentBuildLimit,omitempty"`
	Tags                   []Tag              `json:"tags,omitempty"`
	Created                *float64           `json:"created,omitempty"`
	LastModified           *float64           `json:"lastModified,omitempty"`
	BadgeEnabled           bool               `json:"badgeEnabled,omitempty"`
	LogsConfig             json.RawMessage    `json:"logsConfig,omitempty"`
	VpcConfig              json.RawMessage    `json:"vpcConfig,omitempty"`
	EncryptionKey          string             `json:"encryptionKey,omitempty"`
	FileSystemLocations    json.RawMessage    `json:"fileSystemLocations,omitempty"`
	BuildBatchConfig       json.RawMessage    `json:"buildBatchConfig,omitempty"`
	AutoRetryLimit         int                `json:"autoRetryLimit,omitempty"`
}

// Tag is a CodeBuild tag.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// ProjectSource is where a build's source comes from.
type ProjectSource struct {
	Type              string          `json:"type"`
	Location          string          `json:"location,omitempty"`
	GitCloneDepth     int             `json:"gitCloneDepth,omitempty"`
	Buildspec         string          `json:"buildspec,omitempty"`
	InsecureSsl       bool            `json:"insecureSsl,omitempty"`
	ReportBuildStatus bool            `json:"reportBuildStatus,omitempty"`
	SourceIdentifier  string          `json:"sourceIdentifier,omitempty"`
	Auth              json.RawMessage `json:"auth,omitempty"`
	GitSubmodules     json.RawMessage `json:"gitSubmodulesConfig,omitempty"`
	BuildStatusConfig json.RawMessage `json:"buildStatusConfig,omitempty"`
}

// ProjectArtifacts is where a build's output goes.
type ProjectArtifacts struct {
	Type                 string `json:"type"`
	Location             string `json:"location,omitempty"`
	Path                 string `json:"path,omitempty"`
	NamespaceType        string `json:"namespaceType,omitempty"`
	Name                 string `json:"name,omitempty"`
	Packaging            string `json:"packaging,omitempty"`
	OverrideArtifactName bool   `json:"overrideArtifactName,omitempty"`
	EncryptionDisabled   bool   `json:"encryptionDisabled,omitempty"`
	ArtifactIdentifier   string `json:"artifactIdentifier,omitempty"`
	BucketOwnerAccess    string `json:"bucketOwnerAccess,omitempty"`
}

// ProjectCache selects the build cache.
type ProjectCache struct {
	Type           string   `json:"type"`
	Location       string   `json:"location,omitempty"`
	Modes          []string `json:"modes,omitempty"`
	CacheNamespace string   `json:"cacheNamespace,omitempty"`
}

// ProjectEnvironment is the build container.
type ProjectEnvironment struct {
	Type                     string                `json:"type"`
	Image                    string                `json:"image"`
	ComputeType              string                `json:"computeType"`
	ComputeConfiguration     *ComputeConfiguration `json:"computeConfiguration,omitempty"`
	EnvironmentVariables     []EnvironmentVariable `json:"environmentVariables,omitempty"`
	PrivilegedMode           bool                  `json:"privilegedMode,omitempty"`
	Certificate              string                `json:"certificate,omitempty"`
	RegistryCredential       json.RawMessage       `json:"registryCredential,omitempty"`
	ImagePullCredentialsType string                `json:"imagePullCredentialsType,omitempty"`
	Fleet                    json.RawMessage       `json:"fleet,omitempty"`
}

// ComputeConfiguration sizes ATTRIBUTE_BASED_COMPUTE (vCPUs, memory in GiB).
type ComputeConfiguration struct {
	VCPU        float64 `json:"vCpu,omitempty"`
	Memory      float64 `json:"memory,omitempty"`
	Disk        float64 `json:"disk,omitempty"`
	MachineType string  `json:"machineType,omitempty"`
}

// EnvironmentVariable is a build environment variable; Type is PLAINTEXT (default),
// PARAMETER_STORE or SECRETS_MANAGER.
type EnvironmentVariable struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Type  string `json:"type,omitempty"`
}

// Source, artifact and cache types Conveyor runs.
const (
	SourceCodePipeline = "CODEPIPELINE"
	SourceNone         = "NO_SOURCE"
	SourceS3           = "S3"

	ArtifactsCodePipeline = "CODEPIPELINE"
	ArtifactsNone         = "NO_ARTIFACTS"
	ArtifactsS3           = "S3"

	CacheNone  = "NO_CACHE"
	CacheLocal = "LOCAL"

	VarPlaintext      = "PLAINTEXT"
	VarParameterStore = "PARAMETER_STORE"
	VarSecretsManager = "SECRETS_MANAGER"

	DefaultTimeoutMinutes       = 60
	DefaultQueuedTimeoutMinutes = 480
)

var projectNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9\-_]{1,149}$`)

// Validate checks a project and fills defaults; every problem is reported, each naming its field.
func (p *Project) Validate() error {
	var problems []string
	bad := func(field, format string, args ...any) {
		problems = append(problems, field+": "+fmt.Sprintf(format, args...))
	}
	if !projectNamePattern.MatchString(p.Name) {
		bad("name", "must be 2-150 characters of letters, digits, - and _, starting with a letter or digit")
	}
	if len(p.Description) > 255 {
		bad("description", "must be at most 255 characters")
	}
	checkSource := func(field string, s ProjectSource) {
		switch s.Type {
		case SourceCodePipeline, SourceNone:
		case SourceS3:
			if b, k, ok := strings.Cut(s.Location, "/"); !ok || b == "" || k == "" {
				bad(field+".location", "an S3 source location is BUCKET/KEY of an object uploaded to Conveyor")
			}
		case "":
			bad(field+".type", "is required")
		default:
			bad(field+".type", "%q is not supported yet: use CODEPIPELINE, NO_SOURCE or S3 (to build a git repository, give a pipeline a CodeStarSourceConnection or CodeCommit source: docs/sources.md)", s.Type)
		}
		if s.Type == SourceNone && s.Buildspec == "" {
			bad(field+".buildspec", "a NO_SOURCE project needs an inline buildspec")
		}
	}
	checkSource("source", p.Source)
	for i, s := range p.SecondarySources {
		checkSource(fmt.Sprintf("secondarySources[%d]", i), s)
		if s.SourceIdentifier == "" {
			bad(fmt.Sprintf("secondarySources[%d].sourceIdentifier", i), "is required")
		}
	}
	if len(p.SecondarySources) > 12 || len(p.SecondaryArtifacts) > 12 {
		bad("secondarySources", "at most 12 secondary sources and 12 secondary artifacts")
	}
	checkArtifacts := func(field string, a ProjectArtifacts) {
		switch a.Type {
		case ArtifactsCodePipeline, ArtifactsNone:
		case ArtifactsS3:
			if a.Location == "" {
				bad(field+".location", "an S3 artifact needs a bucket")
			}
			if a.Packaging != "" && a.Packaging != "ZIP" && a.Packaging != "NONE" {
				bad(field+".packaging", "must be ZIP or NONE")
			}
			if a.NamespaceType != "" && a.NamespaceType != "NONE" && a.NamespaceType != "BUILD_ID" {
				bad(field+".namespaceType", "must be NONE or BUILD_ID")
			}
		case "":
			bad(field+".type", "is required")
		default:
			bad(field+".type", "%q is not supported: use CODEPIPELINE, NO_ARTIFACTS or S3", a.Type)
		}
	}
	checkArtifacts("artifacts", p.Artifacts)
	for i, a := range p.SecondaryArtifacts {
		checkArtifacts(fmt.Sprintf("secondaryArtifacts[%d]", i), a)
		if a.ArtifactIdentifier == "" {
			bad(fmt.Sprintf("secondaryArtifacts[%d].artifactIdentifier", i), "is required")
		}
	}
	if p.Environment.Image == "" {
		bad("environment.image", "is required")
	}
	switch p.Environment.Type {
	case "", "LINUX_CONTAINER", "ARM_CONTAINER", "LINUX_LAMBDA_CONTAINER", "ARM_LAMBDA_CONTAINER", "LINUX_EC2", "ARM_EC2":
	default:
		bad("environment.type", "%q is not supported: Conveyor runs Linux containers (LINUX_CONTAINER)", p.Environment.Type)
	}
	if p.Environment.Type == "" {
		p.Environment.Type = "LINUX_CONTAINER"
	}
	if p.Environment.ComputeType == "" {
		p.Environment.ComputeType = "BUILD_GENERAL1_SMALL"
	}
	if _, err := LimitsFor(p.Environment.ComputeType, p.Environment.ComputeConfiguration); err != nil {
		bad("environment.computeType", "%v", err)
	}
	seen := map[string]bool{}
	for i, v := range p.Environment.EnvironmentVariables {
		field := fmt.Sprintf("environment.environmentVariables[%d]", i)
		if !envNamePattern.MatchString(v.Name) {
			bad(field+".name", "%q is not a valid variable name", v.Name)
		}
		if strings.HasPrefix(v.Name, "CODEBUILD_") {
			bad(field+".name", "names starting with CODEBUILD_ are reserved")
		}
		if seen[v.Name] {
			bad(field+".name", "%s is declared twice", v.Name)
		}
		seen[v.Name] = true
		switch v.Type {
		case "", VarPlaintext, VarParameterStore, VarSecretsManager:
		default:
			bad(field+".type", "must be PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER")
		}
	}
	if p.Cache != nil {
		switch p.Cache.Type {
		case CacheNone, CacheLocal:
		case "S3":
			bad("cache.type", "S3 caches are not supported: use LOCAL (a Docker volume per project)")
		default:
			bad("cache.type", "must be NO_CACHE or LOCAL")
		}
		for _, m := range p.Cache.Modes {
			if m != "LOCAL_SOURCE_CACHE" && m != "LOCAL_CUSTOM_CACHE" && m != "LOCAL_DOCKER_LAYER_CACHE" {
				bad("cache.modes", "%q is not a cache mode: LOCAL_SOURCE_CACHE, LOCAL_CUSTOM_CACHE or LOCAL_DOCKER_LAYER_CACHE", m)
			}
		}
	}
	if p.TimeoutInMinutes == 0 {
		p.TimeoutInMinutes = DefaultTimeoutMinutes
	}
	if p.TimeoutInMinutes < 5 || p.TimeoutInMinutes > 2160 {
		bad("timeoutInMinutes", "must be 5-2160")
	}
	if p.QueuedTimeoutInMinutes == 0 {
		p.QueuedTimeoutInMinutes = DefaultQueuedTimeoutMinutes
	}
	if p.QueuedTimeoutInMinutes < 5 || p.QueuedTimeoutInMinutes > 480 {
		bad("queuedTimeoutInMinutes", "must be 5-480")
	}
	if p.ConcurrentBuildLimit < 0 {
		bad("concurrentBuildLimit", "must be positive")
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidationError lists a project's problems.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

// Limits are the container limits a compute type maps to.
type Limits struct {
	NanoCPUs    int64
	MemoryBytes int64
	// Requested are the figures before capping to the host.
	RequestedCPUs     float64
	RequestedMemoryGB float64
}

// computeTypes maps CodeBuild compute types to vCPUs and memory (GB), after CodeBuild's table for
// Linux containers.
var computeTypes = map[string][2]float64{
	"BUILD_GENERAL1_SMALL":   {2, 3},
	"BUILD_GENERAL1_MEDIUM":  {4, 7},
	"BUILD_GENERAL1_LARGE":   {8, 15},
	"BUILD_GENERAL1_XLARGE":  {36, 70},
	"BUILD_GENERAL1_2XLARGE": {72, 145},
	"BUILD_LAMBDA_1GB":       {1, 1},
	"BUILD_LAMBDA_2GB":       {1, 2},
	"BUILD_LAMBDA_4GB":       {2, 4},
	"BUILD_LAMBDA_8GB":       {4, 8},
	"BUILD_LAMBDA_10GB":      {6, 10},
}

// LimitsFor maps a compute type to container limits, capped to what this host has.
func LimitsFor(computeType string, cc *ComputeConfiguration) (Limits, error) {
	var cpus, memGB float64
	if computeType == "ATTRIBUTE_BASED_COMPUTE" {
		if cc == nil || cc.VCPU <= 0 || cc.Memory <= 0 {
			return Limits{}, fmt.Errorf("ATTRIBUTE_BASED_COMPUTE needs computeConfiguration.vCpu and .memory (GiB)")
		}
		cpus, memGB = cc.VCPU, cc.Memory
	} else {
		v, ok := computeTypes[computeType]
		if !ok {
			return Limits{}, fmt.Errorf("%q is not a compute type: use BUILD_GENERAL1_SMALL, _MEDIUM, _LARGE, _XLARGE, _2XLARGE, BUILD_LAMBDA_1GB…10GB or ATTRIBUTE_BASED_COMPUTE", computeType)
		}
		cpus, memGB = v[0], v[1]
	}
	hostCPUs, hostMem := float64(runtime.NumCPU()), float64(hostMemoryBytes())
	l := Limits{RequestedCPUs: cpus, RequestedMemoryGB: memGB}
	l.NanoCPUs = int64(min(cpus, hostCPUs) * 1e9)
	l.MemoryBytes = int64(memGB * (1 << 30))
	if hostMem > 0 && float64(l.MemoryBytes) > hostMem {
		l.MemoryBytes = int64(hostMem)
	}
	return l, nil
}

var hostMemory = sync.OnceValue(func() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
})

func hostMemoryBytes() int64 { return hostMemory() }
