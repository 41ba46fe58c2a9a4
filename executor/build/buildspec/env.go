package buildspec

import (
	"errors"
	"fmt"
	"strings"
)

// The env section: variables, parameters, secrets and exports.

var envKeys = []string{"shell", "variables", "parameter-store", "secrets-manager", "exported-variables", "git-credential-helper"}

func (d *decoder) env(f field) Env {
	var env Env
	fs := d.fields(f.value, "env", envKeys)

	if g, ok := fs["shell"]; ok {
		env.Shell = d.shell(g)
	}
	// Where each name was defined, so that one defined twice is reported with its first place.
	defined := map[string]string{}
	define := func(section string, v Var, at pos) bool {
		path := joinPath(section, v.Name)
		if prev, ok := defined[v.Name]; ok && prev != section {
			d.errorf(at, path, "%s is also defined in %s; define each variable once", v.Name, prev)
			return false
		}
		defined[v.Name] = section
		return true
	}
	if g, ok := fs["variables"]; ok {
		for _, v := range d.vars(g, "env.variables", false) {
			if define("env.variables", v.Var, v.at) {
				env.Variables = append(env.Variables, v.Var)
			}
		}
	}
	if g, ok := fs["parameter-store"]; ok {
		for _, v := range d.vars(g, "env.parameter-store", true) {
			if strings.ContainsAny(v.Value, " \t\n") {
				d.errorf(v.valuePos, joinPath("env.parameter-store", v.Name), "%q is not a parameter name (names have no spaces)", clip(v.Value))
				continue
			}
			if define("env.parameter-store", v.Var, v.at) {
				env.ParameterStore = append(env.ParameterStore, v.Var)
			}
		}
	}
	if g, ok := fs["secrets-manager"]; ok {
		for _, v := range d.vars(g, "env.secrets-manager", true) {
			ref, problem := parseSecretRef(v.Value)
			if problem != "" {
				d.errorf(v.valuePos, joinPath("env.secrets-manager", v.Name), "%s", problem)
				continue
			}
			if define("env.secrets-manager", v.Var, v.at) {
				env.SecretsManager = append(env.SecretsManager, SecretVar{Var: v.Var, Ref: ref})
			}
		}
	}
	if g, ok := fs["exported-variables"]; ok {
		seen := map[string]bool{}
		for _, item := range d.stringItems(g, "env.exported-variables", "variable name", false) {
			name := item.text
			switch {
			case !validVarName(name):
				d.errorf(item.at, item.path, "%q is not a valid environment variable name (letters, digits and _, not starting with a digit)", clip(name))
			case strings.HasPrefix(name, "AWS_"):
				d.errorf(item.at, item.path, "%s cannot be exported: CodeBuild does not export variables whose names start with AWS_", name)
			case defined[name] == "env.parameter-store" || defined[name] == "env.secrets-manager":
				d.errorf(item.at, item.path, "%s comes from %s; CodeBuild does not export parameter-store or secrets-manager variables", name, defined[name])
			case seen[name]:
				d.errorf(item.at, item.path, "%s is listed twice", name)
			default:
				seen[name] = true
				env.ExportedVariables = append(env.ExportedVariables, name)
			}
		}
	}
	if g, ok := fs["git-credential-helper"]; ok {
		env.GitCredentialHelper = d.boolean(g, "env.git-credential-helper")
	}
	return env
}

func (d *decoder) shell(f field) string {
	s, ok := d.requiredStr(f, "env.shell", "env.shell")
	if !ok {
		return ""
	}
	switch s {
	case "bash", "/bin/sh":
		return s
	}
	switch strings.ToLower(s) {
	case "powershell.exe", "cmd.exe", "pwsh.exe", "powershell", "cmd":
		d.errorf(nodePos(f.value), "env.shell", "Windows shells are not supported: Conveyor runs builds in Linux containers; use bash or /bin/sh")
	default:
		d.errorf(nodePos(f.value), "env.shell", "unsupported shell %q: use bash or /bin/sh", clip(s))
	}
	return ""
}

type varAt struct {
	Var
	at       pos // the name
	valuePos pos
}

// vars reads a name → value mapping of environment variables. Values are literal text; null is ""
// unless required.
func (d *decoder) vars(f field, path string, valueRequired bool) []varAt {
	n := f.value
	switch n.kind {
	case kindNull:
		return nil
	case kindMap:
	default:
		d.errorf(nodePos(n), path, "must be a mapping of NAME: value, found %s", n.describe())
		return nil
	}
	var out []varAt
	for _, g := range n.fields {
		p := joinPath(path, g.key)
		switch {
		case !validVarName(g.key):
			d.errorf(keyPos(g), p, "%q is not a valid environment variable name (letters, digits and _, not starting with a digit)", clip(g.key))
			continue
		case strings.HasPrefix(g.key, "CODEBUILD_"):
			d.errorf(keyPos(g), p, "names starting with CODEBUILD_ are reserved for CodeBuild's own variables; choose another name")
			continue
		}
		var value string
		switch g.value.kind {
		case kindScalar:
			value = g.value.text
		case kindNull:
		default:
			d.errorf(nodePos(g.value), p, "must be a value (a string), found %s", g.value.describe())
			continue
		}
		if valueRequired && strings.TrimSpace(value) == "" {
			d.errorf(keyPos(g), p, "%s needs a value", g.key)
			continue
		}
		out = append(out, varAt{Var: Var{Name: g.key, Value: value, Line: g.line}, at: keyPos(g), valuePos: nodePos(g.value)})
	}
	return out
}

func validVarName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseSecretRef splits secret-id[:json-key[:version-stage[:version-id]]]; see SecretRef. problem is
// "" when s is well formed.
func parseSecretRef(s string) (ref SecretRef, problem string) {
	const form = "the form is secret-id[:json-key[:version-stage[:version-id]]]"
	parts := strings.Split(s, ":")
	var rest []string
	if parts[0] == "arn" {
		// arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:NAME
		if len(parts) < 7 || parts[2] != "secretsmanager" || parts[5] != "secret" || parts[6] == "" {
			return ref, fmt.Sprintf("%q is not a Secrets Manager secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME); %s", clip(s), form)
		}
		ref.SecretID = strings.Join(parts[:7], ":")
		rest = parts[7:]
	} else {
		ref.SecretID = parts[0]
		rest = parts[1:]
	}
	if strings.TrimSpace(ref.SecretID) == "" {
		return SecretRef{}, "the secret id is empty; " + form
	}
	if len(rest) > 3 {
		return SecretRef{}, fmt.Sprintf("%q has too many ':'-separated parts; %s", clip(s), form)
	}
	for i, p := range rest {
		switch i {
		case 0:
			ref.JSONKey = p
		case 1:
			ref.VersionStage = p
		case 2:
			ref.VersionID = p
		}
	}
	return ref, ""
}

// ParseSecretRef parses a secrets-manager reference, `secret-id[:json-key[:version-stage[:version-id]]]`
// (the form buildspecs and SECRETS_MANAGER-typed project variables use).
func ParseSecretRef(s string) (SecretRef, error) {
	ref, problem := parseSecretRef(s)
	if problem != "" {
		return SecretRef{}, errors.New(problem)
	}
	return ref, nil
}
