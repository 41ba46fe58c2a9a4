package buildspec

import (
	"fmt"
	"strings"

	"github.com/conveyorci/conveyor/internal/suggest"
)

// unknownKeyMessage names an unknown key, suggests the closest allowed one when it is a likely typo
// (pre-build → pre_build), and lists what is allowed.
func unknownKeyMessage(key string, allowed []string) string {
	msg := fmt.Sprintf("unknown key %q", key)
	if s := suggest.Closest(key, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if hint := misplacedHint(key); hint != "" {
		msg += " (" + hint + ")"
	}
	return msg + "; allowed here: " + strings.Join(allowed, ", ")
}

var (
	topLevelKeys = []string{"version", "run-as", "env", "proxy", "batch", "phases", "reports", "artifacts", "cache"}
	phaseKeys    = []string{"run-as", "on-failure", "runtime-versions", "commands", "finally"}
)

// misplacedHint explains a key that is valid somewhere else: usually an indentation mistake.
func misplacedHint(key string) string {
	for _, k := range phaseKeys {
		if k == key {
			return key + " belongs inside a phase (install, pre_build, build or post_build): check the indentation"
		}
	}
	for _, k := range topLevelKeys {
		if k == key {
			return key + " is a top-level key: check the indentation"
		}
	}
	return ""
}
