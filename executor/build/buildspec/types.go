package buildspec

import (
	"regexp"
	"strings"
)

// Buildspec versions.
const (
	Version01 = "0.1" // every command runs in a shell of its own
	Version02 = "0.2" // commands share one shell session
)

// Phase names, in execution order.
const (
	PhaseInstall   = "install"
	PhasePreBuild  = "pre_build"
	PhaseBuild     = "build"
	PhasePostBuild = "post_build"
)

// PhaseNames returns the phase names in execution order: install, pre_build, build, post_build.
func PhaseNames() []string {
	return []string{PhaseInstall, PhasePreBuild, PhaseBuild, PhasePostBuild}
}

// PhaseType returns the phase type CodeBuild reports for a phase name (INSTALL, PRE_BUILD, BUILD,
// POST_BUILD): the name in upper case.
func PhaseType(name string) string { return strings.ToUpper(name) }

// Buildspec is a parsed and validated buildspec. Everything optional that was not written is the zero
// value; the comments say what the zero value means.
type Buildspec struct {
	// Version is "0.1" or "0.2" (Version01, Version02).
	Version string
	// RunAs is the global run-as user; "" means root. Phase.RunAs already applies it.
	RunAs string
	Env   Env
	// Proxy is parsed and checked, and has no effect in Conveyor.
	Proxy Proxy
	// Phases holds the phases that were written, in execution order (install, pre_build, build,
	// post_build), whatever order the file lists them in.
	Phases []Phase
	// Reports are the report groups, in the order written (at most 5).
	Reports []Report
	// Artifacts is nil when the buildspec has no artifacts section.
	Artifacts *Artifacts
	// Cache is nil when the buildspec has no cache section.
	Cache *Cache
}

// Phase returns the phase with the given name, if the buildspec has it.
func (b *Buildspec) Phase(name string) (*Phase, bool) {
	for i := range b.Phases {
		if b.Phases[i].Name == name {
			return &b.Phases[i], true
		}
	}
	return nil, false
}

// Env is the env section.
type Env struct {
	// Shell is "bash" or "/bin/sh" as written; "" when not set (the runner's default shell).
	Shell string
	// Variables are the plain-text variables in the order written. Values are literal: $VAR is not
	// expanded, YAML numbers and booleans keep their text (1.10 stays "1.10", yes stays "yes").
	Variables []Var
	// ParameterStore maps variable names to Systems Manager parameter names (Var.Value).
	ParameterStore []Var
	// SecretsManager maps variable names to Secrets Manager references.
	SecretsManager []SecretVar
	// ExportedVariables are the names to export to CodePipeline, in order.
	ExportedVariables []string
	// GitCredentialHelper is git-credential-helper: yes.
	GitCredentialHelper bool
}

// Var is one name/value pair from a mapping, with the line it was written on.
type Var struct {
	Name, Value string
	Line        int
}

// SecretVar is one env.secrets-manager entry: Value is the reference as written, Ref its parts.
type SecretVar struct {
	Var
	Ref SecretRef
}

// SecretRef is a Secrets Manager reference secret-id[:json-key[:version-stage[:version-id]]].
//
// The secret id is either a secret name (names cannot contain ':') or a secret ARN, which has seven
// ':'-separated fields itself: arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME. So: when the
// value starts with "arn:", the first seven fields are the id and up to three more follow; otherwise
// the id ends at the first ':'. Empty parts are allowed and mean "not given"
// (MySecret::AWSPREVIOUS is the whole secret at stage AWSPREVIOUS). A JSON key cannot contain ':'.
type SecretRef struct {
	SecretID     string
	JSONKey      string // "" → the whole secret string
	VersionStage string // "" → AWSCURRENT unless VersionID is set
	VersionID    string
}

// String writes the reference back in buildspec form, leaving out trailing empty parts.
func (r SecretRef) String() string {
	parts := []string{r.SecretID, r.JSONKey, r.VersionStage, r.VersionID}
	for len(parts) > 1 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return strings.Join(parts, ":")
}

// Proxy is the proxy section (explicit proxy servers); accepted and ignored by Conveyor.
type Proxy struct {
	UploadArtifacts bool
	Logs            bool
}

// Phase is one build phase.
type Phase struct {
	// Name is install, pre_build, build or post_build; PhaseType(Name) is what CodeBuild reports.
	Name string
	// Line is where the phase key was written.
	Line int
	// RunAs is the user the phase's commands run as: the phase's run-as, else the global one, else
	// "" (root).
	RunAs string
	// OnFailure is the phase's on-failure setting; Mode "" when not written.
	OnFailure OnFailure
	// RuntimeVersions (install only) maps runtime to version, literal text (golang: 1.20 → "1.20").
	// Conveyor accepts and logs it; the build image decides what is installed.
	RuntimeVersions map[string]string
	// Commands run in order; the first failing one ends the list. Never empty, except in an install
	// phase that only has runtime-versions.
	Commands []Command
	// Finally runs after Commands, whether they failed or not.
	Finally []Command
}

// Type is the phase type CodeBuild reports: INSTALL, PRE_BUILD, BUILD or POST_BUILD.
func (p Phase) Type() string { return PhaseType(p.Name) }

// Command is one command, with the line it starts on. Text is the command as YAML decodes it: block
// scalars (| and >) may span several lines.
type Command struct {
	Text string
	Line int
}

// on-failure modes.
const (
	OnFailureAbort    = "ABORT"
	OnFailureContinue = "CONTINUE"
	OnFailureRetry    = "RETRY"
)

// OnFailure is a phase's on-failure setting.
//
//	not written         Mode ""          CodeBuild's default phase transitions
//	ABORT               Mode ABORT
//	CONTINUE            Mode CONTINUE
//	RETRY               Mode RETRY, Retries 3, Pattern nil (retry whatever the output)
//	RETRY-5             Mode RETRY, Retries 5 (0-100)
//	RETRY-<regex>       Mode RETRY, Retries 3, Pattern <regex>
//	RETRY-5-<regex>     Mode RETRY, Retries 5, Pattern <regex>
//
// The keywords are matched without regard to case; the regex keeps its case. A suffix made only of
// digits is a count; digits, '-' and more text are a count and a regex; anything else is a regex.
// Regexes use Go's RE2 syntax.
type OnFailure struct {
	Mode    string
	Retries int
	Pattern *regexp.Regexp
}

// Report is one report group of the reports section.
type Report struct {
	// Group is the key as written: a report group name (CodeBuild creates <project>-<name>) or the ARN
	// of an existing report group.
	Group string
	// Line is where the group key was written.
	Line          int
	Files         []string
	BaseDirectory string
	DiscardPaths  bool
	// FileFormat is upper-cased; JUNITXML when not written.
	FileFormat string
}

// Report file formats.
var reportFormats = []string{
	"CUCUMBERJSON", "JUNITXML", "NUNITXML", "NUNIT3XML", "TESTNGXML", "VISUALSTUDIOTRX", // tests
	"CLOVERXML", "COBERTURAXML", "JACOCOXML", "SIMPLECOV", // code coverage
}

// Artifacts is the artifacts section, or one of its secondary artifacts.
type Artifacts struct {
	// Identifier is "" for the primary artifact and the artifact identifier for a secondary one.
	Identifier string
	// Line is where the artifacts key (or the identifier) was written.
	Line int
	// Files are the paths and globs to include; never empty.
	Files []string
	// Name may hold shell syntax (myname-$(date +%F)); the runner expands it.
	Name           string
	DiscardPaths   bool
	BaseDirectory  string
	ExcludePaths   []string
	EnableSymlinks bool
	S3Prefix       string
	// Secondary are the secondary artifacts in the order written (primary only).
	Secondary []Artifacts
}

// Cache is the cache section.
type Cache struct {
	Line int
	// Paths are the paths to cache; never empty.
	Paths []string
	Key   string
	// FallbackKeys (at most 5) are matched by prefix when Key misses.
	FallbackKeys []string
	// Action is "" (restore and save), "restore" or "save"; lower-cased.
	Action string
}
