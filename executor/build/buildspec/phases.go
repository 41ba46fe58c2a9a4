package buildspec

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/conveyorci/conveyor/internal/yamldoc"
)

// The phases section: commands, finally, on-failure, run-as and runtime-versions.

func (d *decoder) phases(f field, globalRunAs string) []Phase {
	n := f.value
	names := PhaseNames()
	if n.kind == kindNull || (n.kind == kindMap && len(n.fields) == 0) {
		d.errorf(keyPos(f), "phases", "phases must have at least one of %s", strings.Join(names, ", "))
		return nil
	}
	fs := d.fields(n, "phases", names)
	var out []Phase
	for _, name := range names {
		g, ok := fs[name]
		if !ok {
			continue
		}
		out = append(out, d.phase(g, name, globalRunAs))
	}
	return out
}

func (d *decoder) phase(f field, name, globalRunAs string) Phase {
	path := "phases." + name
	p := Phase{Name: name, Line: f.line, RunAs: globalRunAs}
	fs := d.fields(f.value, path, phaseKeys)
	if fs == nil {
		return p
	}
	if g, ok := fs["run-as"]; ok {
		if u := d.runAs(g, path+".run-as"); u != "" {
			p.RunAs = u
		}
	}
	if g, ok := fs["on-failure"]; ok {
		if s, ok := d.requiredStr(g, path+".on-failure", "on-failure"); ok {
			of, problem := parseOnFailure(s)
			if problem != "" {
				d.errorf(nodePos(g.value), path+".on-failure", "%s", problem)
			}
			p.OnFailure = of
		}
	}
	rv, hasRuntimes := fs["runtime-versions"]
	if hasRuntimes {
		if name != PhaseInstall {
			d.errorf(keyPos(rv), path+".runtime-versions", "runtime-versions is only allowed in the install phase")
		} else {
			p.RuntimeVersions = d.runtimes(rv, path+".runtime-versions")
		}
	}
	cf, hasCommands := fs["commands"]
	if hasCommands {
		p.Commands = d.commands(cf, path+".commands")
	} else if !(name == PhaseInstall && hasRuntimes) {
		what := "commands is required when a phase is present"
		if name == PhaseInstall {
			what = "commands (or runtime-versions) is required when the install phase is present"
		}
		d.errorf(keyPos(f), path+".commands", "%s: list the phase's commands, or remove the phase", what)
	}
	if g, ok := fs["finally"]; ok {
		p.Finally = d.commands(g, path+".finally")
		if !hasCommands {
			d.errorf(keyPos(g), path+".finally", "finally needs commands: it runs after the phase's commands")
		}
	}
	return p
}

func (d *decoder) runtimes(f field, path string) map[string]string {
	n := f.value
	if n.kind == kindNull || (n.kind == kindMap && len(n.fields) == 0) {
		d.errorf(keyPos(f), path, "runtime-versions must name at least one runtime, e.g. golang: 1.22")
		return nil
	}
	if n.kind != kindMap {
		d.errorf(nodePos(n), path, "must be a mapping of runtime: version (e.g. golang: 1.22), found %s", n.describe())
		return nil
	}
	out := make(map[string]string, len(n.fields))
	for _, g := range n.fields {
		p := joinPath(path, g.key)
		if strings.TrimSpace(g.key) == "" {
			d.errorf(keyPos(g), p, "the runtime name is empty")
			continue
		}
		switch g.value.kind {
		case kindScalar:
			if strings.TrimSpace(g.value.text) == "" {
				d.errorf(keyPos(g), p, "%s needs a version (e.g. latest)", g.key)
				continue
			}
			out[g.key] = g.value.text
		case kindNull:
			d.errorf(keyPos(g), p, "%s needs a version (e.g. latest)", g.key)
		default:
			d.errorf(nodePos(g.value), p, "the version must be a value (e.g. 1.22 or latest), found %s", g.value.describe())
		}
	}
	return out
}

// commands reads a commands or finally list: non-empty, each item a string.
func (d *decoder) commands(f field, path string) []Command {
	n := f.value
	switch n.kind {
	case kindNull:
		d.errorf(keyPos(f), path, "must list at least one command")
		return nil
	case kindList:
	default:
		d.errorf(nodePos(n), path, "must be a list of commands (one per line, starting with \"- \"), found %s", n.describe())
		return nil
	}
	if len(n.items) == 0 {
		d.errorf(nodePos(n), path, "must list at least one command")
		return nil
	}
	out := make([]Command, 0, len(n.items))
	for i, item := range n.items {
		p := indexPath(path, i)
		switch item.kind {
		case kindScalar:
			out = append(out, Command{Text: item.text, Line: item.line})
		case kindNull:
			d.errorf(nodePos(item), p, "empty command: write a command after the dash or remove the line")
		case kindMap:
			d.errorf(nodePos(item), p, "%s", d.mappingCommandMessage(item))
		default:
			d.errorf(nodePos(item), p, "must be a string, found %s: quote the command", item.describe())
		}
	}
	return out
}

// mappingCommandMessage explains the classic pitfall: an unquoted command containing ": " is a YAML
// mapping, not a string. When the command fits on its line it shows the quoted form.
func (d *decoder) mappingCommandMessage(item *node) string {
	line := yamldoc.SourceLine(d.data, item.line)
	r := []rune(line)
	text := ""
	if item.col >= 1 && item.col-1 < len(r) {
		text = strings.TrimSpace(string(r[item.col-1:]))
	}
	if strings.HasPrefix(text, "{") {
		return "must be a string, found a mapping: YAML reads {…} as a mapping; quote the command"
	}
	msg := `must be a string, found a mapping: quote the command, it contains ": "`
	singleLine := len(item.fields) == 1 && item.fields[0].value.kind != kindMap && item.fields[0].value.kind != kindList &&
		(item.fields[0].value.kind == kindNull || item.fields[0].value.line == item.line)
	if singleLine && text != "" && !strings.Contains(text, " #") && !strings.HasPrefix(text, "'") && !strings.HasPrefix(text, `"`) {
		msg += fmt.Sprintf(": - '%s'", clip(strings.ReplaceAll(text, "'", "''")))
	}
	return msg
}

// parseOnFailure reads an on-failure value; see OnFailure. problem is "" when s is valid.
func parseOnFailure(s string) (of OnFailure, problem string) {
	const forms = "ABORT, CONTINUE, RETRY, RETRY-<count>, RETRY-<regex> or RETRY-<count>-<regex>"
	switch {
	case strings.EqualFold(s, OnFailureAbort):
		return OnFailure{Mode: OnFailureAbort}, ""
	case strings.EqualFold(s, OnFailureContinue):
		return OnFailure{Mode: OnFailureContinue}, ""
	case strings.EqualFold(s, OnFailureRetry):
		return OnFailure{Mode: OnFailureRetry, Retries: 3}, ""
	case len(s) < len("RETRY-") || !strings.EqualFold(s[:len("RETRY-")], "RETRY-"):
		return OnFailure{}, fmt.Sprintf("unknown on-failure %q: use %s", clip(s), forms)
	}
	rest := s[len("RETRY-"):]
	of = OnFailure{Mode: OnFailureRetry, Retries: 3}
	count, regex := "", rest
	if allDigits(rest) {
		count, regex = rest, ""
	} else if i := strings.IndexByte(rest, '-'); i > 0 && allDigits(rest[:i]) {
		count, regex = rest[:i], rest[i+1:]
		if regex == "" {
			return OnFailure{}, fmt.Sprintf("%q ends with '-': give a regex after the count, or remove the '-'", clip(s))
		}
	}
	if rest == "" {
		return OnFailure{}, fmt.Sprintf("%q needs a count or a regex after RETRY-: use %s", s, forms)
	}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil || n > 100 || len(count) > 3 {
			return OnFailure{}, fmt.Sprintf("retry count %s is out of range: use 0 to 100", clip(count))
		}
		of.Retries = n
	}
	if regex != "" {
		re, err := compileRegex(regex)
		if err != nil {
			return OnFailure{}, fmt.Sprintf("invalid regex %q after RETRY-: %v", clip(regex), err)
		}
		of.Pattern = re
	}
	return of, ""
}

// maxRegexLen bounds an on-failure regex; real ones are a few words.
const maxRegexLen = 4096

func compileRegex(s string) (*regexp.Regexp, error) {
	if len(s) > maxRegexLen {
		return nil, fmt.Errorf("longer than %d characters", maxRegexLen)
	}
	return regexp.Compile(s)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
