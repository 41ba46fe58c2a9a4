package pipeline

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/conveyorci/conveyor/executor"
	"github.com/conveyorci/conveyor/internal/cron"
	"github.com/conveyorci/conveyor/internal/suggest"
)

// Kinds of validation error. They map to the exceptions CodePipeline answers CreatePipeline and
// UpdatePipeline with (see ValidationErrors.Code).
const (
	KindStructure = "structure" // InvalidStructureException
	KindStage     = "stage"     // InvalidStageDeclarationException
	KindAction    = "action"    // InvalidActionDeclarationException
)

// FieldError is one problem with a declaration.
type FieldError struct {
	// Path is the canonical path of the offending field, e.g.
	// stages[2].actions[0].inputArtifacts[0].name ("" for the whole declaration).
	Path    string
	Message string
	Kind    string // KindStructure, KindStage or KindAction
	// File, Line and Column say where the field was written, when a SourceMap was given. A field
	// that is missing is reported where its parent object starts.
	File         string
	Line, Column int
}

func (e FieldError) Error() string { return formatLocated(e.File, e.Line, e.Column, e.Path, e.Message) }

// ValidationErrors lists every problem found, sorted by position (then path).
type ValidationErrors []FieldError

// Error prints one line per problem: "file:line:col: path: message".
func (v ValidationErrors) Error() string {
	lines := make([]string, len(v))
	for i, e := range v {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Code is the CodePipeline exception to answer with: InvalidStructureException when any problem is
// about the pipeline as a whole, else InvalidStageDeclarationException when any is about a stage,
// else InvalidActionDeclarationException.
func (v ValidationErrors) Code() ErrorCode {
	code := CodeInvalidAction
	for _, e := range v {
		switch e.Kind {
		case KindStructure:
			return CodeInvalidStructure
		case KindStage:
			code = CodeInvalidStage
		}
	}
	return code
}

func (v ValidationErrors) sort() {
	sort.SliceStable(v, func(i, j int) bool {
		a, b := v[i], v[j]
		if (a.Line == 0) != (b.Line == 0) {
			return a.Line != 0 // located errors first
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		if a.Path != b.Path {
			return naturalLess(a.Path, b.Path)
		}
		return a.Message < b.Message
	})
}

// naturalLess orders strings with embedded numbers numerically: stages[2] before stages[10].
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		if isASCIIDigit(a[0]) && isASCIIDigit(b[0]) {
			na, ra := splitDigits(a)
			nb, rb := splitDigits(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			a, b = ra, rb
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isASCIIDigit(c byte) bool { return c >= '0' && c <= '9' }

func splitDigits(s string) (string, string) {
	i := 0
	for i < len(s) && isASCIIDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// Providers is what Validate needs of the provider registry; *executor.Registry satisfies it.
type Providers interface {
	Lookup(executor.ActionType) (executor.Provider, bool)
	Types() []executor.ActionType
}

// VariableRef is one #{namespace.key} reference in a configuration value. Start and End are byte
// offsets of the whole reference in the string (End exclusive).
type VariableRef struct {
	Namespace, Key string
	Start, End     int
}

// Reserved variable namespaces.
const (
	NamespaceCodePipeline = "codepipeline" // #{codepipeline.PipelineExecutionId}
	NamespaceVariables    = "variables"    // #{variables.NAME}, V2 pipeline variables
)

// VariableRefs returns every well-formed #{ns.key} reference in s, in order. Malformed references
// (an unclosed `#{`, a missing dot) are skipped here; Validate reports them.
func VariableRefs(s string) []VariableRef {
	refs, _ := scanVariableRefs(s)
	return refs
}

type badVariableRef struct{ start, end int }

func scanVariableRefs(s string) (refs []VariableRef, bad []badVariableRef) {
	i := 0
	for {
		k := strings.Index(s[i:], "#{")
		if k < 0 {
			return refs, bad
		}
		start := i + k
		closing := strings.IndexByte(s[start+2:], '}')
		if closing < 0 {
			return refs, append(bad, badVariableRef{start, len(s)})
		}
		end := start + 2 + closing + 1
		ns, key, ok := strings.Cut(s[start+2:end-1], ".")
		if ok && namespaceRe.MatchString(ns) && variableKeyRe.MatchString(key) {
			refs = append(refs, VariableRef{Namespace: ns, Key: key, Start: start, End: end})
			i = end
		} else {
			bad = append(bad, badVariableRef{start, end})
			i = start + 2
		}
	}
}

// Patterns and limits of the CodePipeline model (aws-formats.md §4.1).
var (
	nameRe         = regexp.MustCompile(`^[A-Za-z0-9.@\-_]+$`) // pipeline, stage, action, rule, blocker
	artifactNameRe = regexp.MustCompile(`^[a-zA-Z0-9_\-]+$`)
	namespaceRe    = regexp.MustCompile(`^[A-Za-z0-9@\-_]+$`) // also pipeline variable names
	variableKeyRe  = regexp.MustCompile(`^[A-Za-z0-9@\-_.]+$`)
	providerRe     = regexp.MustCompile(`^[0-9A-Za-z_-]+$`) // action provider and version
	envVarNameRe   = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	locationRe     = regexp.MustCompile(`^[a-zA-Z0-9\-\.]+$`)
	roleArnRe      = regexp.MustCompile(`^arn:aws(-[\w]+)*:iam::[0-9]{12}:role/`)
)

const (
	charsName      = "letters, digits, '.', '@', '-' and '_'"
	charsArtifact  = "letters, digits, '-' and '_'"
	charsNamespace = "letters, digits, '@', '-' and '_'"
	charsProvider  = "letters, digits, '-' and '_'"
	charsEnvVar    = "letters, digits and '_'"
	charsLocation  = "letters, digits, '-' and '.'"
)

var (
	actionCategories = []string{"Source", "Build", "Deploy", "Test", "Invoke", "Approval", "Compute"}
	actionOwners     = []string{"AWS", "ThirdParty", "Custom"}
	stageResults     = []string{"ROLLBACK", "FAIL", "RETRY", "SKIP"}
	retryModes       = []string{"FAILED_ACTIONS", "ALL_ACTIONS"}
	prEvents         = []string{"OPEN", "UPDATED", "CLOSED"}
	envVarTypes      = []string{"PLAINTEXT", "SECRETS_MANAGER"}
	commandsType     = executor.ActionType{Category: "Compute", Owner: "AWS", Provider: "Commands"}
)

const (
	categorySource           = "Source"
	triggerProviderCodeStar  = "CodeStarSourceConnection"
	resultRollback           = "ROLLBACK"
	resultRetry              = "RETRY"
	resultFail               = "FAIL"
	resultSkip               = "SKIP"
	defaultActionVersion     = "1"
	maxConfigKeyLen          = 50
	maxConfigValueLen        = 1000
	maxRuleConfigValueLen    = 10000
	minTimeout, maxTimeout   = 5, 86400
	minRunOrder, maxRunOrder = 1, 999
)

// Validate checks a declaration against CodePipeline's rules and the registered providers. It
// returns nil or ValidationErrors with every problem found, sorted by position (then path). sm may
// be nil (no positions); providers may be nil to skip the provider checks (action types,
// configuration keys, artifact counts).
func Validate(d *Declaration, providers Providers, sm *SourceMap) error {
	if d == nil {
		return ValidationErrors{{Kind: KindStructure, Message: "no pipeline declaration"}}
	}
	v := &validator{d: d, providers: providers, v2: d.PipelineType == PipelineTypeV2}
	v.pipeline()
	v.stages()
	v.flow()
	v.triggers()
	return v.finish(sm)
}

type pendingError struct {
	FieldError
	atKey bool // position of the key (a map key that is itself wrong), not its value
}

type validator struct {
	d         *Declaration
	providers Providers
	v2        bool
	errs      []pendingError
}

func (v *validator) add(kind, path, format string, args ...any) {
	v.errs = append(v.errs, pendingError{FieldError: FieldError{Path: path, Kind: kind, Message: fmt.Sprintf(format, args...)}})
}

func (v *validator) addAtKey(kind, path, format string, args ...any) {
	v.add(kind, path, format, args...)
	v.errs[len(v.errs)-1].atKey = true
}

func (v *validator) finish(sm *SourceMap) error {
	if len(v.errs) == 0 {
		return nil
	}
	out := make(ValidationErrors, 0, len(v.errs))
	seen := map[FieldError]bool{}
	for _, e := range v.errs {
		fe := e.FieldError
		var pos Position
		if e.atKey {
			pos, _ = sm.KeyPosition(fe.Path)
		}
		if pos.IsZero() {
			pos = sm.Nearest(fe.Path)
		}
		if sm != nil {
			fe.File = sm.File
		}
		fe.Line, fe.Column = pos.Line, pos.Column
		if seen[fe] {
			continue
		}
		seen[fe] = true
		out = append(out, fe)
	}
	out.sort()
	return out
}

// --- small checks ---

func runeLen(s string) int { return utf8.RuneCountInString(s) }

// quoteVal shows a value in a message, shortened when long.
func quoteVal(s string) string {
	if runeLen(s) > 60 {
		r := []rune(s)
		return strconv.Quote(string(r[:57])) + "…"
	}
	return strconv.Quote(s)
}

// name checks a required name: present, length, characters.
func (v *validator) name(kind, path, what, s string, maxLen int, re *regexp.Regexp, chars string) {
	if s == "" {
		v.add(kind, path, "%s is required", what)
		return
	}
	v.optionalName(kind, path, what, s, 1, maxLen, re, chars)
}

// optionalName checks a name that was given.
func (v *validator) optionalName(kind, path, what, s string, minLen, maxLen int, re *regexp.Regexp, chars string) {
	n := runeLen(s)
	switch {
	case n < minLen || n > maxLen:
		v.add(kind, path, "%s %s is %d characters long; use %d to %d %s", what, quoteVal(s), n, minLen, maxLen, chars)
	case re != nil && !re.MatchString(s):
		v.add(kind, path, "%s %s contains characters that are not allowed; use %s", what, quoteVal(s), chars)
	}
}

func (v *validator) length(kind, path, what, s string, minLen, maxLen int) {
	n := runeLen(s)
	if n < minLen || n > maxLen {
		if minLen == 0 {
			v.add(kind, path, "%s is %d characters long; at most %d are allowed", what, n, maxLen)
			return
		}
		v.add(kind, path, "%s is %d characters long; it must be %d to %d", what, n, minLen, maxLen)
	}
}

func (v *validator) enum(kind, path, what, s string, allowed []string) bool {
	for _, a := range allowed {
		if s == a {
			return true
		}
	}
	if s == "" {
		v.add(kind, path, "%s is required; use one of %s", what, strings.Join(allowed, ", "))
		return false
	}
	if sug := suggest.Closest(s, allowed); sug != "" {
		v.add(kind, path, "%s %s is not valid (did you mean %q?); use one of %s", what, quoteVal(s), sug, strings.Join(allowed, ", "))
		return false
	}
	v.add(kind, path, "%s %s is not valid; use one of %s", what, quoteVal(s), strings.Join(allowed, ", "))
	return false
}

func (v *validator) count(kind, path, what string, n, minN, maxN int) {
	if n < minN || n > maxN {
		v.add(kind, path, "%s, found %d", what, n)
	}
}

func (v *validator) roleArn(kind, path, s string) {
	if s == "" {
		return
	}
	if runeLen(s) > 1024 || !roleArnRe.MatchString(s) {
		v.add(kind, path, "roleArn %s is not an IAM role ARN (arn:aws:iam::123456789012:role/NAME, at most 1024 characters); Conveyor does not need roleArn, so it may be left out", quoteVal(s))
	}
}

func (v *validator) timeout(kind, path string, minutes int) {
	if minutes != 0 && (minutes < minTimeout || minutes > maxTimeout) {
		v.add(kind, path, "timeoutInMinutes is %d; it must be between %d and %d (60 days)", minutes, minTimeout, maxTimeout)
	}
}

func (v *validator) region(kind, path, s string) {
	if s != "" {
		v.length(kind, path, "region", s, 4, 30)
	}
}

func (v *validator) needsV2(kind, path, what string) {
	if !v.v2 {
		v.add(kind, path, "using %s requires pipelineType V2 (this pipeline is %s); add `pipelineType: V2`", what, v.d.EffectivePipelineType())
	}
}

// --- the pipeline object ---

func (v *validator) pipeline() {
	d := v.d
	v.name(KindStructure, "name", "pipeline name", d.Name, 100, nameRe, charsName)
	v.roleArn(KindStructure, "roleArn", d.RoleArn)
	if d.ArtifactStore != nil && len(d.ArtifactStores) > 0 {
		v.add(KindStructure, "artifactStores", "artifactStore and artifactStores cannot both be set; use one (Conveyor keeps artifacts in its own store and ignores both)")
	}
	if d.ArtifactStore != nil {
		v.artifactStore("artifactStore", d.ArtifactStore)
	}
	for _, region := range sortedMapKeys(d.ArtifactStores) {
		p := joinPath("artifactStores", region)
		if n := runeLen(region); n < 4 || n > 30 {
			v.addAtKey(KindStructure, p, "artifactStores key %s must be a region name of 4 to 30 characters", quoteVal(region))
		}
		s := d.ArtifactStores[region]
		v.artifactStore(p, &s)
	}
	if d.Version < 0 {
		v.add(KindStructure, "version", "version is %d; it must be 1 or greater (or left out)", d.Version)
	}
	if d.PipelineType != "" {
		v.enum(KindStructure, "pipelineType", "pipelineType", d.PipelineType, []string{PipelineTypeV1, PipelineTypeV2})
	}
	switch d.ExecutionMode {
	case "", ModeSuperseded:
	case ModeQueued, ModeParallel:
		v.needsV2(KindStructure, "executionMode", "executionMode "+d.ExecutionMode)
	default:
		v.enum(KindStructure, "executionMode", "executionMode", d.ExecutionMode, []string{ModeSuperseded, ModeQueued, ModeParallel})
	}
	v.variables()
}

func (v *validator) artifactStore(path string, s *ArtifactStore) {
	v.enum(KindStructure, path+".type", "artifact store type", s.Type, []string{"S3"})
	if s.Location == "" {
		v.add(KindStructure, path+".location", "artifact store location is required")
	} else {
		v.optionalName(KindStructure, path+".location", "artifact store location", s.Location, 3, 63, locationRe, charsLocation)
	}
	if k := s.EncryptionKey; k != nil {
		if k.ID == "" {
			v.add(KindStructure, path+".encryptionKey.id", "encryptionKey.id is required")
		} else {
			v.length(KindStructure, path+".encryptionKey.id", "encryptionKey.id", k.ID, 1, 400)
		}
		v.enum(KindStructure, path+".encryptionKey.type", "encryptionKey.type", k.Type, []string{"KMS"})
	}
}

func (v *validator) variables() {
	vars := v.d.Variables
	if len(vars) == 0 {
		return
	}
	v.needsV2(KindStructure, "variables", "pipeline variables")
	v.count(KindStructure, "variables", "a pipeline declares at most 50 variables", len(vars), 0, 50)
	seen := map[string]int{}
	for i, pv := range vars {
		p := indexPath("variables", i)
		v.name(KindStructure, p+".name", "variable name", pv.Name, 128, namespaceRe, charsNamespace)
		if j, dup := seen[pv.Name]; dup && pv.Name != "" {
			v.add(KindStructure, p+".name", "variable %s is already declared at variables[%d]; variable names must be unique", quoteVal(pv.Name), j)
		} else {
			seen[pv.Name] = i
		}
		if pv.DefaultValue != "" {
			v.length(KindStructure, p+".defaultValue", "defaultValue", pv.DefaultValue, 1, 1000)
		}
		v.length(KindStructure, p+".description", "description", pv.Description, 0, 200)
	}
}

// --- stages and actions ---

func (v *validator) stages() {
	stages := v.d.Stages
	if n := len(stages); n < 2 || n > 50 {
		v.add(KindStructure, "stages", "a pipeline needs 2 to 50 stages, found %d", n)
	}
	stageNames := map[string]int{}
	nonSource := false
	for i := range stages {
		s := &stages[i]
		p := indexPath("stages", i)
		v.name(KindStage, p+".name", "stage name", s.Name, 100, nameRe, charsName)
		if j, dup := stageNames[s.Name]; dup && s.Name != "" {
			v.add(KindStage, p+".name", "stage name %s is already used by stages[%d]; stage names must be unique", quoteVal(s.Name), j)
		} else {
			stageNames[s.Name] = i
		}
		if n := len(s.Actions); n < 1 || n > 50 {
			v.add(KindStage, p+".actions", "a stage needs 1 to 50 actions, found %d", n)
		}
		v.blockers(p, s.Blockers)
		v.stageConditions(p, s)

		actionNames := map[string]int{}
		for j := range s.Actions {
			a := &s.Actions[j]
			ap := indexPath(p+".actions", j)
			v.action(ap, a)
			if j2, dup := actionNames[a.Name]; dup && a.Name != "" {
				v.add(KindAction, ap+".name", "action name %s is already used by %s.actions[%d]; action names must be unique within a stage", quoteVal(a.Name), p, j2)
			} else {
				actionNames[a.Name] = j
			}
			cat := a.ActionTypeID.Category
			switch {
			case i == 0 && cat != categorySource && cat != "":
				v.add(KindStructure, ap+".actionTypeId.category", "the first stage may contain only source actions; move %s action %s to a later stage", cat, quoteVal(a.Name))
			case i > 0 && cat == categorySource:
				v.add(KindStructure, ap+".actionTypeId.category", "only the first stage may contain source actions; move source action %s to stage %s", quoteVal(a.Name), quoteVal(stages[0].Name))
			}
			if cat != categorySource {
				nonSource = true
			}
		}
	}
	if len(stages) > 0 && !nonSource {
		v.add(KindStructure, "stages", "a pipeline needs at least one action that is not a source action (build, test, deploy, approval, …)")
	}
}

func (v *validator) blockers(stagePath string, blockers []BlockerDeclaration) {
	for k, b := range blockers {
		p := indexPath(stagePath+".blockers", k)
		v.name(KindStage, p+".name", "blocker name", b.Name, 100, nameRe, charsName)
		v.enum(KindStage, p+".type", "blocker type", b.Type, []string{"Schedule"})
	}
}

func (v *validator) action(p string, a *Action) {
	v.name(KindAction, p+".name", "action name", a.Name, 100, nameRe, charsName)

	t := a.ActionTypeID
	tp := p + ".actionTypeId"
	okCat := v.enum(KindAction, tp+".category", "category", t.Category, actionCategories)
	okOwner := v.enum(KindAction, tp+".owner", "owner", t.Owner, actionOwners)
	okProvider, okVersion := t.Provider != "", t.Version != ""
	if !okProvider {
		v.add(KindAction, tp+".provider", "provider is required (for example S3, CodeBuild, Manual)")
	} else if n := runeLen(t.Provider); n > 35 || !providerRe.MatchString(t.Provider) {
		v.add(KindAction, tp+".provider", "provider %s is not valid; use 1 to 35 %s", quoteVal(t.Provider), charsProvider)
		okProvider = false
	}
	if !okVersion {
		v.add(KindAction, tp+".version", "version is required; AWS providers use version \"1\"")
	} else if n := runeLen(t.Version); n > 9 || !providerRe.MatchString(t.Version) {
		v.add(KindAction, tp+".version", "version %s is not valid; use 1 to 9 %s (AWS providers use \"1\")", quoteVal(t.Version), charsProvider)
		okVersion = false
	}

	if a.RunOrder != 0 && (a.RunOrder < minRunOrder || a.RunOrder > maxRunOrder) {
		v.add(KindAction, p+".runOrder", "runOrder is %d; it must be between %d and %d (default 1)", a.RunOrder, minRunOrder, maxRunOrder)
	}
	for _, k := range sortedMapKeys(a.Configuration) {
		kp := joinPath(p+".configuration", k)
		if n := runeLen(k); n < 1 || n > maxConfigKeyLen {
			v.addAtKey(KindAction, kp, "configuration key %s is %d characters long; keys must be 1 to %d characters", quoteVal(k), n, maxConfigKeyLen)
		}
		if val := a.Configuration[k]; val == "" {
			v.add(KindAction, kp, "configuration value of %s is empty; values must be 1 to %d characters (leave the key out instead)", k, maxConfigValueLen)
		} else if n := runeLen(val); n > maxConfigValueLen {
			v.add(KindAction, kp, "configuration value of %s is %d characters long; at most %d are allowed", k, n, maxConfigValueLen)
		}
	}
	seenIn := map[string]int{}
	for k, in := range a.InputArtifacts {
		ip := indexPath(p+".inputArtifacts", k) + ".name"
		v.name(KindAction, ip, "input artifact name", in.Name, 100, artifactNameRe, charsArtifact)
		if k2, dup := seenIn[in.Name]; dup && in.Name != "" {
			v.add(KindAction, ip, "input artifact %s is already listed at inputArtifacts[%d]", quoteVal(in.Name), k2)
		} else {
			seenIn[in.Name] = k
		}
	}
	for k, out := range a.OutputArtifacts {
		op := indexPath(p+".outputArtifacts", k)
		v.name(KindAction, op+".name", "output artifact name", out.Name, 100, artifactNameRe, charsArtifact)
		if out.Files != nil {
			v.count(KindAction, op+".files", "an output artifact lists 1 to 10 files", len(out.Files), 1, 10)
			for f, file := range out.Files {
				v.length(KindAction, indexPath(op+".files", f), "file path", file, 1, 128)
			}
		}
	}
	if a.Namespace != "" {
		v.optionalName(KindAction, p+".namespace", "namespace", a.Namespace, 1, 100, namespaceRe, charsNamespace)
		if a.Namespace == NamespaceCodePipeline || a.Namespace == NamespaceVariables {
			v.add(KindAction, p+".namespace", "namespace %s is reserved (#{codepipeline.…} and #{variables.…} are provided by the pipeline); choose another name", quoteVal(a.Namespace))
		}
	}
	v.region(KindAction, p+".region", a.Region)
	v.roleArn(KindAction, p+".roleArn", a.RoleArn)
	v.timeout(KindAction, p+".timeoutInMinutes", a.TimeoutInMinutes)
	v.commandsFields(p, a)

	if okCat && okOwner && okProvider && okVersion {
		v.provider(p, a)
	}
}

// commandsFields checks the fields only the Compute/AWS/Commands action uses.
func (v *validator) commandsFields(p string, a *Action) {
	isCommands := a.ActionTypeID.Category == commandsType.Category && a.ActionTypeID.Owner == commandsType.Owner &&
		a.ActionTypeID.Provider == commandsType.Provider
	if isCommands {
		v.needsV2(KindAction, p+".actionTypeId", "the Commands action")
	}
	check := func(field string, present bool) bool {
		if present && !isCommands {
			v.add(KindAction, p+"."+field, "%s is only used by the %s action", field, commandsType)
			return false
		}
		return present
	}
	if check("commands", a.Commands != nil) {
		v.count(KindAction, p+".commands", "the Commands action runs 1 to 50 commands", len(a.Commands), 1, 50)
		for k, c := range a.Commands {
			v.length(KindAction, indexPath(p+".commands", k), "command", c, 1, 1000)
		}
	}
	if check("outputVariables", a.OutputVariables != nil) {
		v.count(KindAction, p+".outputVariables", "an action exports 1 to 15 output variables", len(a.OutputVariables), 1, 15)
		for k, name := range a.OutputVariables {
			v.length(KindAction, indexPath(p+".outputVariables", k), "output variable name", name, 1, 128)
		}
	}
	if check("environmentVariables", a.EnvironmentVariables != nil) {
		v.count(KindAction, p+".environmentVariables", "an action sets 1 to 10 environment variables", len(a.EnvironmentVariables), 1, 10)
		for k, ev := range a.EnvironmentVariables {
			ep := indexPath(p+".environmentVariables", k)
			v.name(KindAction, ep+".name", "environment variable name", ev.Name, 128, envVarNameRe, charsEnvVar)
			v.length(KindAction, ep+".value", "environment variable value", ev.Value, 1, 2000)
			if ev.Type != "" {
				v.enum(KindAction, ep+".type", "environment variable type", ev.Type, envVarTypes)
			}
		}
	}
}

func (v *validator) provider(p string, a *Action) {
	if v.providers == nil {
		return
	}
	t := executor.ActionType{Category: a.ActionTypeID.Category, Owner: a.ActionTypeID.Owner, Provider: a.ActionTypeID.Provider}
	prov, ok := v.providers.Lookup(t)
	if !ok {
		types := v.providers.Types()
		names := make([]string, len(types))
		hint := ""
		for i, ty := range types {
			names[i] = ty.String()
			if strings.EqualFold(ty.Provider, t.Provider) && hint == "" {
				hint = fmt.Sprintf(" (did you mean %s?)", ty)
			}
		}
		supported := strings.Join(names, ", ")
		if supported == "" {
			supported = "none registered"
		}
		v.add(KindAction, p+".actionTypeId", "action type %s is not supported%s; supported: %s", t, hint, supported)
		return
	}
	if a.ActionTypeID.Version != defaultActionVersion {
		v.add(KindAction, p+".actionTypeId.version", "%s has only version \"1\", found %s", t, quoteVal(a.ActionTypeID.Version))
	}
	spec := prov.Spec
	allowed := append(append([]string{}, spec.RequiredConfig...), spec.OptionalConfig...)
	for _, k := range spec.RequiredConfig {
		if _, ok := a.Configuration[k]; !ok {
			v.add(KindAction, joinPath(p+".configuration", k), "%s needs configuration key %s (required: %s)", t, k, strings.Join(spec.RequiredConfig, ", "))
		}
	}
	for _, k := range sortedMapKeys(a.Configuration) {
		if slices.Contains(allowed, k) {
			continue
		}
		hint := ""
		if s := suggest.Closest(k, allowed); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		if len(allowed) == 0 {
			v.addAtKey(KindAction, joinPath(p+".configuration", k), "unknown configuration key %s: %s takes no configuration", quoteVal(k), t)
			continue
		}
		v.addAtKey(KindAction, joinPath(p+".configuration", k), "unknown configuration key %s for %s%s; allowed: %s", quoteVal(k), t, hint, strings.Join(allowed, ", "))
	}
	v.artifactCount(p+".inputArtifacts", t, "input artifact", len(a.InputArtifacts), spec.MinInputs, spec.MaxInputs)
	v.artifactCount(p+".outputArtifacts", t, "output artifact", len(a.OutputArtifacts), spec.MinOutputs, spec.MaxOutputs)
	if spec.ValidateConfig != nil {
		cfg := make(map[string]string, len(a.Configuration))
		for k, val := range a.Configuration {
			cfg[k] = val
		}
		msgs := spec.ValidateConfig(cfg)
		for _, k := range sortedMapKeys(msgs) {
			v.add(KindAction, joinPath(p+".configuration", k), "%s", msgs[k])
		}
	}
}

func (v *validator) artifactCount(path string, t executor.ActionType, what string, n, minN, maxN int) {
	if n >= minN && n <= maxN {
		return
	}
	plural := func(k int) string {
		if k == 1 {
			return what
		}
		return what + "s"
	}
	switch {
	case maxN == 0:
		v.add(KindAction, path, "%s takes no %s, found %d", t, plural(2), n)
	case minN == maxN:
		v.add(KindAction, path, "%s takes exactly %d %s, found %d", t, minN, plural(minN), n)
	default:
		v.add(KindAction, path, "%s takes %d to %d %s, found %d", t, minN, maxN, plural(maxN), n)
	}
}

// --- stage conditions ---

func (v *validator) stageConditions(p string, s *Stage) {
	parallel := v.d.EffectiveExecutionMode() == ModeParallel
	noRollback := func(path, result string) {
		if parallel && result == resultRollback {
			v.add(KindStage, path, "ROLLBACK is not available in PARALLEL execution mode (executions do not share stage state)")
		}
	}
	if f := s.OnFailure; f != nil {
		fp := p + ".onFailure"
		v.needsV2(KindStage, fp, "onFailure")
		if f.Result == "" {
			if len(f.Conditions) == 0 {
				v.add(KindStage, fp+".result", "onFailure needs a result (ROLLBACK, FAIL, RETRY or SKIP) or a condition")
			}
		} else if v.enum(KindStage, fp+".result", "onFailure result", f.Result, stageResults) {
			noRollback(fp+".result", f.Result)
		}
		if rc := f.RetryConfiguration; rc != nil {
			if f.Result != resultRetry {
				v.add(KindStage, fp+".retryConfiguration", "retryConfiguration only applies when result is RETRY")
			}
			v.enum(KindStage, fp+".retryConfiguration.retryMode", "retryMode", rc.RetryMode, retryModes)
		}
		if len(f.Conditions) > 1 {
			v.add(KindStage, fp+".conditions", "onFailure takes at most 1 condition, found %d", len(f.Conditions))
		}
		if f.Result == resultRetry && len(f.Conditions) > 0 {
			v.add(KindStage, fp+".conditions", "an automatic RETRY cannot be combined with conditions")
		}
		for k := range f.Conditions {
			v.condition(indexPath(fp+".conditions", k), &f.Conditions[k], stageResults, noRollback)
		}
	}
	if sc := s.OnSuccess; sc != nil {
		sp := p + ".onSuccess"
		v.needsV2(KindStage, sp, "onSuccess")
		v.conditions(sp, sc.Conditions, []string{"ROLLBACK", "FAIL"}, noRollback)
	}
	if be := s.BeforeEntry; be != nil {
		bp := p + ".beforeEntry"
		v.needsV2(KindStage, bp, "beforeEntry")
		v.conditions(bp, be.Conditions, []string{"FAIL", "SKIP"}, noRollback)
	}
}

func (v *validator) conditions(p string, conds []Condition, results []string, noRollback func(string, string)) {
	if len(conds) != 1 {
		v.add(KindStage, p+".conditions", "exactly 1 condition is required, found %d", len(conds))
	}
	for k := range conds {
		v.condition(indexPath(p+".conditions", k), &conds[k], results, noRollback)
	}
}

func (v *validator) condition(p string, c *Condition, results []string, noRollback func(string, string)) {
	if c.Result != "" && v.enum(KindStage, p+".result", "condition result", c.Result, results) {
		noRollback(p+".result", c.Result)
	}
	v.count(KindStage, p+".rules", "a condition has 1 to 5 rules", len(c.Rules), 1, 5)
	names := map[string]int{}
	for k := range c.Rules {
		r := &c.Rules[k]
		rp := indexPath(p+".rules", k)
		v.name(KindStage, rp+".name", "rule name", r.Name, 100, nameRe, charsName)
		if k2, dup := names[r.Name]; dup && r.Name != "" {
			v.add(KindStage, rp+".name", "rule name %s is already used by rules[%d]", quoteVal(r.Name), k2)
		} else {
			names[r.Name] = k
		}
		tp := rp + ".ruleTypeId"
		v.enum(KindStage, tp+".category", "rule category", r.RuleTypeID.Category, []string{"Rule"})
		if r.RuleTypeID.Owner != "" {
			v.enum(KindStage, tp+".owner", "rule owner", r.RuleTypeID.Owner, []string{"AWS"})
		}
		if r.RuleTypeID.Provider == "" {
			v.add(KindStage, tp+".provider", "rule provider is required (for example VariableCheck, CloudWatchAlarm)")
		} else {
			v.optionalName(KindStage, tp+".provider", "rule provider", r.RuleTypeID.Provider, 1, 35, providerRe, charsProvider)
		}
		if r.RuleTypeID.Version != "" {
			v.optionalName(KindStage, tp+".version", "rule version", r.RuleTypeID.Version, 1, 9, providerRe, charsProvider)
		}
		for _, key := range sortedMapKeys(r.Configuration) {
			kp := joinPath(rp+".configuration", key)
			if n := runeLen(key); n < 1 || n > maxConfigKeyLen {
				v.addAtKey(KindStage, kp, "configuration key %s is %d characters long; keys must be 1 to %d characters", quoteVal(key), n, maxConfigKeyLen)
			}
			v.length(KindStage, kp, "rule configuration value of "+key, r.Configuration[key], 1, maxRuleConfigValueLen)
		}
		if r.Commands != nil {
			v.count(KindStage, rp+".commands", "a rule runs 1 to 50 commands", len(r.Commands), 1, 50)
			for ci, c := range r.Commands {
				v.length(KindStage, indexPath(rp+".commands", ci), "command", c, 1, 1000)
			}
		}
		for ai, in := range r.InputArtifacts {
			v.name(KindStage, indexPath(rp+".inputArtifacts", ai)+".name", "input artifact name", in.Name, 100, artifactNameRe, charsArtifact)
		}
		v.roleArn(KindStage, rp+".roleArn", r.RoleArn)
		v.region(KindStage, rp+".region", r.Region)
		v.timeout(KindStage, rp+".timeoutInMinutes", r.TimeoutInMinutes)
		v.ruleConfiguration(rp, r)
		if c.Result == resultSkip && r.RuleTypeID.Provider == RuleDeploymentWindow {
			v.add(KindStage, tp+".provider", "a condition with result SKIP takes VariableCheck rules, not DeploymentWindow (a window waits; it never fails)")
		}
	}
}

// ruleParameters are the configuration keys of each rule provider Conveyor evaluates, required first.
var ruleParameters = map[string]struct{ required, optional []string }{
	RuleVariableCheck:    {required: []string{"Operator", "Value", "Variable"}},
	RuleDeploymentWindow: {required: []string{"Cron"}, optional: []string{"TimeZone"}},
}

// ruleConfiguration checks a rule's provider and configuration. Values that hold #{...} references
// are checked when the rule runs.
func (v *validator) ruleConfiguration(rp string, r *RuleDeclaration) {
	provider := r.RuleTypeID.Provider
	params, ok := ruleParameters[provider]
	if provider == "" {
		return
	}
	if !ok {
		v.add(KindStage, rp+".ruleTypeId.provider", "rule provider %s is not supported by Conveyor (supported: %s); CloudWatchAlarm, LambdaInvoke, Commands and CodeBuild rules need AWS services",
			quoteVal(provider), strings.Join(SupportedRuleProviders, ", "))
		return
	}
	all := append(slices.Clone(params.required), params.optional...)
	var missing []string
	for _, key := range params.required {
		if _, ok := r.Configuration[key]; !ok {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		v.add(KindStage, rp+".configuration", "%s rules need configuration %s", provider, strings.Join(missing, ", "))
	}
	for _, key := range sortedMapKeys(r.Configuration) {
		if slices.Contains(all, key) {
			continue
		}
		hint := ""
		if s := suggest.Closest(key, all); s != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", s)
		}
		v.addAtKey(KindStage, joinPath(rp+".configuration", key), "unknown configuration key %s for %s rules%s; allowed: %s",
			quoteVal(key), provider, hint, strings.Join(all, ", "))
	}
	fixed := func(key string) (string, bool) {
		val, ok := r.Configuration[key]
		return val, ok && len(VariableRefs(val)) == 0
	}
	switch provider {
	case RuleVariableCheck:
		if op, ok := fixed("Operator"); ok {
			if v.enum(KindStage, joinPath(rp+".configuration", "Operator"), "Operator", op, variableOperators) && op == "MATCHES" {
				if val, ok := fixed("Value"); ok {
					if _, err := regexp.Compile(val); err != nil {
						v.add(KindStage, joinPath(rp+".configuration", "Value"), "not a valid regular expression: %v", err)
					}
				}
			}
		}
	case RuleDeploymentWindow:
		if expr, ok := fixed("Cron"); ok {
			if _, err := cron.Parse(expr); err != nil {
				v.add(KindStage, joinPath(rp+".configuration", "Cron"), "%v", err)
			}
		}
		if tz, ok := fixed("TimeZone"); ok {
			if _, err := windowLocation(tz); err != nil {
				v.add(KindStage, joinPath(rp+".configuration", "TimeZone"), "%v", err)
			}
		}
	}
}

// --- artifacts, namespaces and variable references across actions ---

type artifactProducer struct {
	stage, action int
	runOrder      int
	stageName     string
	actionName    string
}

func (pr artifactProducer) describe() string {
	return fmt.Sprintf("action %s in stage %s", quoteVal(pr.actionName), quoteVal(pr.stageName))
}

// runsBefore reports whether pr finishes before an action at (stage, runOrder) starts.
func (pr artifactProducer) runsBefore(stage, runOrder int) bool {
	return pr.stage < stage || (pr.stage == stage && pr.runOrder < runOrder)
}

func (v *validator) flow() {
	stages := v.d.Stages
	outputs := map[string]artifactProducer{}
	namespaces := map[string]artifactProducer{}
	for i := range stages {
		for j := range stages[i].Actions {
			a := &stages[i].Actions[j]
			pr := artifactProducer{stage: i, action: j, runOrder: a.EffectiveRunOrder(), stageName: stages[i].Name, actionName: a.Name}
			ap := indexPath(indexPath("stages", i)+".actions", j)
			for k, out := range a.OutputArtifacts {
				if out.Name == "" {
					continue
				}
				if prev, dup := outputs[out.Name]; dup {
					v.add(KindStructure, indexPath(ap+".outputArtifacts", k)+".name",
						"output artifact %s is already produced by %s; output artifact names must be unique in the pipeline", quoteVal(out.Name), prev.describe())
					continue
				}
				outputs[out.Name] = pr
			}
			if ns := a.Namespace; ns != "" {
				if prev, dup := namespaces[ns]; dup {
					v.add(KindStructure, ap+".namespace", "namespace %s is already declared by %s; namespaces must be unique in the pipeline", quoteVal(ns), prev.describe())
				} else {
					namespaces[ns] = pr
				}
			}
		}
	}
	outputNames := sortedMapKeys(outputs)
	nsNames := sortedMapKeys(namespaces)
	for i := range stages {
		for j := range stages[i].Actions {
			a := &stages[i].Actions[j]
			ap := indexPath(indexPath("stages", i)+".actions", j)
			ro := a.EffectiveRunOrder()
			if ns := a.Namespace; ns != "" {
				if _, clash := outputs[ns]; clash {
					v.add(KindStructure, ap+".namespace", "namespace %s has the same name as an output artifact; namespaces and artifact names must differ", quoteVal(ns))
				}
			}
			for k, in := range a.InputArtifacts {
				if in.Name == "" {
					continue
				}
				ip := indexPath(ap+".inputArtifacts", k) + ".name"
				pr, ok := outputs[in.Name]
				switch {
				case !ok:
					v.add(KindStructure, ip, "input artifact %s is not produced by any action%s", quoteVal(in.Name), declaredList(in.Name, "output artifacts", outputNames))
				case pr.stage == i && pr.action == j:
					v.add(KindStructure, ip, "action %s cannot take its own output artifact %s as input", quoteVal(a.Name), quoteVal(in.Name))
				case pr.stage > i:
					v.add(KindStructure, ip, "input artifact %s is produced by %s, which runs later; an action can only use artifacts of actions that run before it (an earlier stage, or a lower runOrder in the same stage)", quoteVal(in.Name), pr.describe())
				case pr.stage == i && pr.runOrder >= ro:
					v.add(KindStructure, ip, "input artifact %s is produced by %s with runOrder %d, which does not run before this action (runOrder %d); give this action a higher runOrder", quoteVal(in.Name), pr.describe(), pr.runOrder, ro)
				}
			}
			v.references(ap, i, j, ro, a, namespaces, nsNames)
		}
	}
}

// declaredList renders "; declared output artifacts: A, B" (with a suggestion when one is close).
func declaredList(name, what string, names []string) string {
	if len(names) == 0 {
		return "; the pipeline declares no " + what
	}
	s := ""
	if sug := suggest.Closest(name, names); sug != "" {
		s = fmt.Sprintf(" (did you mean %q?)", sug)
	}
	const maxListed = 20
	listed := names
	more := ""
	if len(listed) > maxListed {
		listed, more = listed[:maxListed], fmt.Sprintf(", … (%d more)", len(names)-maxListed)
	}
	return fmt.Sprintf("%s; declared %s: %s%s", s, what, strings.Join(listed, ", "), more)
}

func (v *validator) references(ap string, stage, action, runOrder int, a *Action, namespaces map[string]artifactProducer, nsNames []string) {
	var varNames []string
	for _, pv := range v.d.Variables {
		if pv.Name != "" {
			varNames = append(varNames, pv.Name)
		}
	}
	for _, k := range sortedMapKeys(a.Configuration) {
		val := a.Configuration[k]
		kp := joinPath(ap+".configuration", k)
		refs, bad := scanVariableRefs(val)
		for _, b := range bad {
			v.add(KindAction, kp, "malformed variable reference %s; write #{namespace.name} (namespace and name use %s; a name may also contain '.')", quoteVal(val[b.start:b.end]), charsNamespace)
		}
		for _, r := range refs {
			text := val[r.Start:r.End]
			switch r.Namespace {
			case NamespaceCodePipeline:
				if r.Key != "PipelineExecutionId" {
					v.add(KindAction, kp, "%s is not defined; the codepipeline namespace provides only #{codepipeline.PipelineExecutionId}", text)
				}
			case NamespaceVariables:
				if !slices.Contains(varNames, r.Key) {
					v.add(KindAction, kp, "%s refers to pipeline variable %s, which is not declared%s", text, quoteVal(r.Key), declaredList(r.Key, "variables", varNames))
				}
			default:
				pr, ok := namespaces[r.Namespace]
				switch {
				case !ok:
					v.add(KindAction, kp, "%s refers to namespace %s, which no action declares%s", text, quoteVal(r.Namespace), declaredList(r.Namespace, "namespaces", nsNames))
				case pr.stage == stage && pr.action == action:
					v.add(KindAction, kp, "%s refers to this action's own namespace; its variables exist only after it ran", text)
				case !pr.runsBefore(stage, runOrder):
					v.add(KindAction, kp, "%s refers to namespace %s of %s, which does not run before this action (an earlier stage, or a lower runOrder in the same stage)", text, quoteVal(r.Namespace), pr.describe())
				}
			}
		}
	}
}

// --- triggers ---

func (v *validator) triggers() {
	trigs := v.d.Triggers
	if len(trigs) == 0 {
		return
	}
	v.needsV2(KindStructure, "triggers", "triggers")
	v.count(KindStructure, "triggers", "a pipeline has at most 50 triggers", len(trigs), 0, 50)
	var first []Action
	firstName := ""
	if len(v.d.Stages) > 0 {
		first, firstName = v.d.Stages[0].Actions, v.d.Stages[0].Name
	}
	bySource := map[string]int{}
	for i := range trigs {
		t := &trigs[i]
		p := indexPath("triggers", i)
		if t.ProviderType == "" {
			v.add(KindStructure, p+".providerType", "providerType is required; use CodeStarSourceConnection")
		} else if t.ProviderType != triggerProviderCodeStar {
			v.add(KindStructure, p+".providerType", "providerType %s is not supported; use CodeStarSourceConnection", quoteVal(t.ProviderType))
		}
		g := t.GitConfiguration
		if g == nil {
			v.add(KindStructure, p+".gitConfiguration", "gitConfiguration is required (sourceActionName and push or pullRequest filters)")
			continue
		}
		gp := p + ".gitConfiguration"
		sp := gp + ".sourceActionName"
		if g.SourceActionName == "" {
			v.add(KindStructure, sp, "sourceActionName is required: the source action of stage %s this trigger starts", quoteVal(firstName))
		} else {
			var src *Action
			var names []string
			for j := range first {
				names = append(names, first[j].Name)
				if first[j].Name == g.SourceActionName {
					src = &first[j]
				}
			}
			switch {
			case src == nil:
				v.add(KindStructure, sp, "sourceActionName %s does not name an action of the first stage %s%s", quoteVal(g.SourceActionName), quoteVal(firstName), declaredList(g.SourceActionName, "actions", names))
			case src.ActionTypeID.Category != categorySource || src.ActionTypeID.Provider != triggerProviderCodeStar:
				v.add(KindStructure, sp, "action %s is %s; triggers work only with CodeStarSourceConnection source actions", quoteVal(src.Name), src.ActionTypeID)
			}
			if k, dup := bySource[g.SourceActionName]; dup {
				v.add(KindStructure, sp, "source action %s already has a trigger (triggers[%d]); use one trigger per source action, with several push or pullRequest filters", quoteVal(g.SourceActionName), k)
			} else {
				bySource[g.SourceActionName] = i
			}
		}
		if len(g.Push) == 0 && len(g.PullRequest) == 0 {
			v.add(KindStructure, gp, "a trigger needs at least one push or pullRequest filter")
		}
		if len(g.Push) > 3 {
			v.add(KindStructure, gp+".push", "a trigger has 1 to 3 push filters, found %d", len(g.Push))
		}
		for k, f := range g.Push {
			fp := indexPath(gp+".push", k)
			if f.Tags == nil && f.Branches == nil && f.FilePaths == nil {
				v.add(KindStructure, fp, "an empty push filter; set tags, branches or filePaths")
			}
			v.criteria(fp+".tags", f.Tags)
			v.criteria(fp+".branches", f.Branches)
			v.criteria(fp+".filePaths", f.FilePaths)
		}
		if len(g.PullRequest) > 3 {
			v.add(KindStructure, gp+".pullRequest", "a trigger has 1 to 3 pullRequest filters, found %d", len(g.PullRequest))
		}
		for k, f := range g.PullRequest {
			fp := indexPath(gp+".pullRequest", k)
			if f.Events != nil {
				v.count(KindStructure, fp+".events", "a pullRequest filter lists 1 to 3 events (OPEN, UPDATED, CLOSED)", len(f.Events), 1, 3)
				seen := map[string]bool{}
				for e, ev := range f.Events {
					ep := indexPath(fp+".events", e)
					if v.enum(KindStructure, ep, "pull request event", ev, prEvents) {
						if seen[ev] {
							v.add(KindStructure, ep, "event %s is listed twice", ev)
						}
						seen[ev] = true
					}
				}
			}
			v.criteria(fp+".branches", f.Branches)
			v.criteria(fp+".filePaths", f.FilePaths)
		}
	}
}

func (v *validator) criteria(p string, c *FilterCriteria) {
	if c == nil {
		return
	}
	if len(c.Includes) == 0 && len(c.Excludes) == 0 {
		v.add(KindStructure, p, "a filter needs includes, excludes or both")
	}
	for _, part := range []struct {
		name     string
		patterns []string
	}{{"includes", c.Includes}, {"excludes", c.Excludes}} {
		if part.patterns == nil {
			continue
		}
		pp := p + "." + part.name
		v.count(KindStructure, pp, part.name+" lists 1 to 8 glob patterns", len(part.patterns), 1, 8)
		for k, pat := range part.patterns {
			v.length(KindStructure, indexPath(pp, k), "pattern", pat, 1, 255)
		}
	}
}
