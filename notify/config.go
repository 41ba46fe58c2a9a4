// Package notify sends notifications about pipeline executions, approvals and deployments to
// targets: generic webhooks (JSON, signed with HMAC-SHA256) and Slack-compatible incoming webhooks.
// Rules say which events of which pipelines go to which targets; a Manual approval's
// NotificationArn names a target directly. Events are recorded as deliveries in the database and
// sent by a background worker with retries and backoff, so a slow or failing receiver never holds
// up a pipeline, and failures stay visible to admins.
package notify

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/conveyorci/conveyor/internal/netguard"
	"github.com/conveyorci/conveyor/internal/suggest"
)

// Events a rule can name.
const (
	ExecutionStarted     = "execution.started"
	ExecutionSucceeded   = "execution.succeeded"
	ExecutionFailed      = "execution.failed"
	ExecutionSuperseded  = "execution.superseded"
	ExecutionStopped     = "execution.stopped"
	ApprovalNeeded       = "approval.needed"
	DeploymentStarted    = "deployment.started"
	DeploymentSucceeded  = "deployment.succeeded"
	DeploymentFailed     = "deployment.failed"
	DeploymentRolledBack = "deployment.rolled_back"
)

// Events lists every event name.
var Events = []string{ExecutionStarted, ExecutionSucceeded, ExecutionFailed, ExecutionSuperseded, ExecutionStopped,
	ApprovalNeeded, DeploymentStarted, DeploymentSucceeded, DeploymentFailed, DeploymentRolledBack}

// Target types.
const (
	TypeWebhook = "webhook"
	TypeSlack   = "slack"
)

// Target is where notifications go.
type Target struct {
	Name string `json:"name"`
	// Type is webhook (Conveyor's JSON, signed) or slack (an incoming webhook's {"text", "blocks"}).
	Type string `json:"type"`
	// URL receives the POST; URLSecret instead names a secret (conveyor secrets) holding it, for
	// URLs that are credentials themselves (Slack's).
	URL       string `json:"url,omitempty"`
	URLSecret string `json:"urlSecret,omitempty"`
	// SigningSecret names the secret whose value keys the HMAC-SHA256 signature (webhook targets).
	SigningSecret string `json:"signingSecret,omitempty"`
	// AllowPrivateAddresses lets the target be on loopback, link-local or private addresses.
	AllowPrivateAddresses bool `json:"allowPrivateAddresses,omitempty"`
}

// Rule sends events of pipelines to targets.
type Rule struct {
	Name string `json:"name"`
	// Events to send (see Events).
	Events []string `json:"events"`
	// Pipelines limits the rule to these pipelines; empty means every pipeline (and deployments
	// not started by a pipeline).
	Pipelines []string `json:"pipelines,omitempty"`
	Targets   []string `json:"targets"`
}

// ValidationError lists every problem of a target or rule as "field: message".
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

func checkName(field, v string, problems *[]string) {
	if !namePattern.MatchString(v) {
		*problems = append(*problems, fmt.Sprintf("%s: %q must be 1-100 letters, digits and . _ -, starting with a letter or digit", field, v))
	}
}

// secretNamePattern is the secret store's name rule (parameter-store style paths allowed).
var secretNamePattern = regexp.MustCompile(`^[A-Za-z0-9/_.\-]{1,512}$`)

// Validate checks a target.
func (t *Target) Validate() error {
	var p []string
	checkName("name", t.Name, &p)
	switch t.Type {
	case TypeWebhook, TypeSlack:
	case "":
		p = append(p, "type: required: webhook or slack")
	default:
		msg := fmt.Sprintf("type: %q is not a target type: use webhook or slack", t.Type)
		if s := suggest.Closest(t.Type, []string{TypeWebhook, TypeSlack}); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		p = append(p, msg)
	}
	switch {
	case t.URL == "" && t.URLSecret == "":
		p = append(p, "url: required (or urlSecret, naming a secret that holds the URL)")
	case t.URL != "" && t.URLSecret != "":
		p = append(p, "urlSecret: give url or urlSecret, not both")
	case t.URL != "":
		if len(t.URL) > 2048 {
			p = append(p, "url: at most 2048 characters")
		} else if err := netguard.CheckURL(t.URL, t.AllowPrivateAddresses); err != nil {
			p = append(p, "url: "+err.Error())
		}
	case !secretNamePattern.MatchString(t.URLSecret):
		p = append(p, fmt.Sprintf("urlSecret: %q is not a secret name", t.URLSecret))
	}
	switch {
	case t.Type == TypeWebhook && t.SigningSecret == "":
		p = append(p, "signingSecret: required for webhook targets: name a secret (conveyor secrets put NAME) whose value signs each delivery")
	case t.Type == TypeSlack && t.SigningSecret != "":
		p = append(p, "signingSecret: Slack targets are not signed; leave it out")
	case t.SigningSecret != "" && !secretNamePattern.MatchString(t.SigningSecret):
		p = append(p, fmt.Sprintf("signingSecret: %q is not a secret name", t.SigningSecret))
	}
	if len(p) > 0 {
		return &ValidationError{p}
	}
	return nil
}

// Validate checks a rule (that its targets exist is checked when it is stored).
func (r *Rule) Validate() error {
	var p []string
	checkName("name", r.Name, &p)
	if len(r.Events) == 0 {
		p = append(p, "events: name at least one of "+strings.Join(Events, ", "))
	}
	for i, e := range r.Events {
		if !slices.Contains(Events, e) {
			msg := fmt.Sprintf("events[%d]: %q is not an event", i, e)
			if s := suggest.Closest(e, Events); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			p = append(p, msg+"; events are "+strings.Join(Events, ", "))
		}
	}
	for i, name := range r.Pipelines {
		if name == "" || len(name) > 100 {
			p = append(p, fmt.Sprintf("pipelines[%d]: a pipeline name has 1-100 characters", i))
		}
	}
	if len(r.Targets) == 0 {
		p = append(p, "targets: name at least one target")
	}
	for i, t := range r.Targets {
		checkName(fmt.Sprintf("targets[%d]", i), t, &p)
	}
	if len(p) > 0 {
		return &ValidationError{p}
	}
	return nil
}

func (r *Rule) matches(event, pipeline string) bool {
	if !slices.Contains(r.Events, event) {
		return false
	}
	return len(r.Pipelines) == 0 || (pipeline != "" && slices.Contains(r.Pipelines, pipeline))
}

// TargetFromArn reads a NotificationArn: a target name, or an SNS-style ARN whose last part is one
// (arn:aws:sns:REGION:ACCOUNT:NAME).
func TargetFromArn(arn string) string {
	if strings.HasPrefix(arn, "arn:") {
		if i := strings.LastIndexByte(arn, ':'); i >= 0 {
			return arn[i+1:]
		}
	}
	return arn
}
