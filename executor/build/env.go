package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/conveyorci/conveyor/executor/build/buildspec"
	"github.com/conveyorci/conveyor/store"
)

// SecretSource answers parameter-store names and secrets-manager ids from Conveyor's secret store.
type SecretSource interface {
	SecretValue(ctx context.Context, name string) (string, error)
}

// StoreSecrets reads secrets from the database.
type StoreSecrets struct {
	DB     *store.DB
	Sealer *store.Sealer
}

// SecretValue implements SecretSource.
func (s StoreSecrets) SecretValue(ctx context.Context, name string) (string, error) {
	return s.DB.Read().SecretValue(ctx, s.Sealer, name)
}

// environment is a build's variables in the order they are exported, and the values to mask.
type environment struct {
	names   []string
	values  map[string]string
	secret  map[string]bool
	masking []string
}

func newEnvironment() *environment {
	return &environment{values: map[string]string{}, secret: map[string]bool{}}
}

func (e *environment) set(name, value string, secret bool) {
	if _, ok := e.values[name]; !ok {
		e.names = append(e.names, name)
	}
	e.values[name] = value
	e.secret[name] = secret
	if secret && value != "" {
		e.masking = append(e.masking, value)
		// A JSON secret's members are masked too when it is used whole.
		var obj map[string]any
		if json.Unmarshal([]byte(value), &obj) == nil {
			for _, v := range obj {
				if s, ok := v.(string); ok && s != "" {
					e.masking = append(e.masking, s)
				}
			}
		}
	}
}

// list returns NAME=value pairs in order.
func (e *environment) list() []string {
	out := make([]string, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, n+"="+e.values[n])
	}
	return out
}

// resolveSecret reads a parameter-store name or a secrets-manager reference.
func resolveSecret(ctx context.Context, src SecretSource, kind, ref string) (string, error) {
	if src == nil {
		return "", fmt.Errorf("%s reference %q: no secret store is configured", kind, ref)
	}
	if kind == VarParameterStore {
		v, err := src.SecretValue(ctx, ref)
		if errors.Is(err, store.ErrNotFound) {
			return "", fmt.Errorf("parameter %q does not exist: create it with `conveyor secrets put %s`", ref, ref)
		}
		return v, err
	}
	sr, err := buildspec.ParseSecretRef(ref)
	if err != nil {
		return "", fmt.Errorf("secrets-manager reference %q: %v", ref, err)
	}
	if sr.VersionStage != "" && sr.VersionStage != "AWSCURRENT" || sr.VersionID != "" {
		return "", fmt.Errorf("secrets-manager reference %q: only the current version of a secret is kept (no version stage or id)", ref)
	}
	v, err := src.SecretValue(ctx, sr.SecretID)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("secret %q does not exist: create it with `conveyor secrets put %s`", sr.SecretID, sr.SecretID)
	}
	if err != nil || sr.JSONKey == "" {
		return v, err
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(v), &obj); err != nil {
		return "", fmt.Errorf("secret %q is not a JSON object, so it has no key %q", sr.SecretID, sr.JSONKey)
	}
	member, ok := obj[sr.JSONKey]
	if !ok {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return "", fmt.Errorf("secret %q has no key %q (it has: %s)", sr.SecretID, sr.JSONKey, strings.Join(keys, ", "))
	}
	if s, ok := member.(string); ok {
		return s, nil
	}
	b, _ := json.Marshal(member)
	return string(b), nil
}

// buildEnvironment assembles a build's variables with CodeBuild's precedence: the buildspec's
// (lowest), then the project's, then StartBuild's overrides; CODEBUILD_* variables are set by the
// build and cannot be overridden.
func buildEnvironment(ctx context.Context, spec *RunSpec, bs *buildspec.Buildspec, src SecretSource) (*environment, error) {
	env := newEnvironment()
	var problems []string
	for _, v := range bs.Env.Variables {
		env.set(v.Name, v.Value, false)
	}
	for _, v := range bs.Env.ParameterStore {
		val, err := resolveSecret(ctx, src, VarParameterStore, v.Value)
		if err != nil {
			problems = append(problems, "env.parameter-store."+v.Name+": "+err.Error())
			continue
		}
		env.set(v.Name, val, true)
	}
	for _, v := range bs.Env.SecretsManager {
		val, err := resolveSecret(ctx, src, VarSecretsManager, v.Value)
		if err != nil {
			problems = append(problems, "env.secrets-manager."+v.Name+": "+err.Error())
			continue
		}
		env.set(v.Name, val, true)
	}
	for _, v := range spec.Env {
		switch v.Type {
		case "", VarPlaintext:
			env.set(v.Name, v.Value, false)
		case VarParameterStore, VarSecretsManager:
			val, err := resolveSecret(ctx, src, v.Type, v.Value)
			if err != nil {
				problems = append(problems, "environment variable "+v.Name+": "+err.Error())
				continue
			}
			env.set(v.Name, val, true)
		default:
			problems = append(problems, fmt.Sprintf("environment variable %s: type %q must be PLAINTEXT, PARAMETER_STORE or SECRETS_MANAGER", v.Name, v.Type))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	for _, kv := range spec.systemVariables() {
		name, value, _ := strings.Cut(kv, "=")
		env.set(name, value, false)
	}
	return env, nil
}

// systemVariables are the CODEBUILD_* (and AWS_REGION) variables every build sees.
func (s *RunSpec) systemVariables() []string {
	vars := []string{
		"AWS_REGION=" + s.Region,
		"AWS_DEFAULT_REGION=" + s.Region,
		"CODEBUILD_BUILD_ID=" + s.BuildID,
		"CODEBUILD_BUILD_ARN=" + s.BuildARN,
		fmt.Sprintf("CODEBUILD_BUILD_NUMBER=%d", s.Number),
		"CODEBUILD_BUILD_IMAGE=" + s.Image,
		"CODEBUILD_BUILD_SUCCEEDING=1",
		"CODEBUILD_INITIATOR=" + s.Initiator,
		"CODEBUILD_PROJECT_ARN=" + s.ProjectARN,
		fmt.Sprintf("CODEBUILD_START_TIME=%d", s.StartTime.UnixMilli()),
		"CODEBUILD_LOG_PATH=" + s.logStream(),
		"CODEBUILD_SRC_DIR=" + s.srcDir(""),
		"CODEBUILD_SOURCE_VERSION=" + s.SourceVersion,
		"CODEBUILD_SOURCE_REPO_URL=" + s.SourceRepoURL,
	}
	if s.ResolvedSourceVersion != "" {
		vars = append(vars, "CODEBUILD_RESOLVED_SOURCE_VERSION="+s.ResolvedSourceVersion)
	}
	for _, in := range s.Sources {
		if in.Identifier != "" {
			vars = append(vars, "CODEBUILD_SRC_DIR_"+in.Identifier+"="+s.srcDir(in.Identifier))
			if in.Version != "" {
				vars = append(vars, "CODEBUILD_SOURCE_VERSION_"+in.Identifier+"="+in.Version)
			}
		}
	}
	return vars
}
