package source

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/conveyorci/conveyor/executor/source/git"
	"github.com/conveyorci/conveyor/pipeline"
)

// Event kinds.
const (
	KindPush        = "push"
	KindPullRequest = "pull_request"
	KindPing        = "ping"
	KindOther       = "other"
)

// Event is a git event, from a webhook of any forge or from polling, in one shape.
type Event struct {
	Kind string `json:"kind"`
	// Name is the event as its sender names it (push, Push Hook, pull_request, …).
	Name string `json:"name"`
	// Repository is the repository's full name (owner/repo, group/subgroup/repo).
	Repository string `json:"repository,omitempty"`
	// CloneURL is what the payload says; it only identifies the repository, Conveyor never fetches
	// from a URL a payload names.
	CloneURL      string `json:"cloneUrl,omitempty"`
	DefaultBranch string `json:"defaultBranch,omitempty"`
	// Ref, Before and After describe a push: refs/heads/main or refs/tags/v1, and the commits
	// before and after it (forty zeros for a created or deleted ref).
	Ref    string `json:"ref,omitempty"`
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	// Sender is who pushed or acted, as the forge authenticated them (never a commit's author).
	Sender  string `json:"sender,omitempty"`
	Message string `json:"message,omitempty"`
	// PullRequest is set for pull-request events.
	PullRequest *PullRequest `json:"pullRequest,omitempty"`
}

// PullRequest is the pull-request part of an event.
type PullRequest struct {
	Number int `json:"number"`
	// Action is OPEN, UPDATED or CLOSED; "" for actions triggers do not know (labels, edits).
	Action       string `json:"action,omitempty"`
	RawAction    string `json:"rawAction,omitempty"`
	SourceBranch string `json:"sourceBranch,omitempty"`
	TargetBranch string `json:"targetBranch,omitempty"`
	HeadSHA      string `json:"headSha,omitempty"`
	Title        string `json:"title,omitempty"`
}

// Branch is the pushed branch's name, "" for other refs.
func (e Event) Branch() string {
	b, _ := strings.CutPrefix(e.Ref, "refs/heads/")
	if b == e.Ref {
		return ""
	}
	return b
}

// Tag is the pushed tag's name, "" for other refs.
func (e Event) Tag() string {
	t, _ := strings.CutPrefix(e.Ref, "refs/tags/")
	if t == e.Ref {
		return ""
	}
	return t
}

// Deleted reports a push that deleted its ref.
func (e Event) Deleted() bool { return e.Kind == KindPush && git.IsZero(e.After) }

// Revision is the commit an execution started by the event builds.
func (e Event) Revision() string {
	if e.PullRequest != nil {
		return e.PullRequest.HeadSHA
	}
	return e.After
}

// dedupeKey identifies the change an event announces (the second dedupe key beside the delivery
// id): the repository, the ref (or the pull request and its action) and the commit.
func (e Event) dedupeKey() string {
	repo := strings.ToLower(e.Repository)
	switch e.Kind {
	case KindPush:
		return repo + "\n" + e.Ref + "\n" + e.After
	case KindPullRequest:
		pr := e.PullRequest
		return repo + "\npull/" + strconv.Itoa(pr.Number) + ":" + pr.Action + "\n" + pr.HeadSHA
	}
	return ""
}

// TriggerDetail is an execution's trigger detail for executions that events start: JSON, so the
// source action can tell which ref it builds, and a person can read it.
type TriggerDetail struct {
	ConnectionArn string `json:"connectionArn"`
	DeliveryID    string `json:"deliveryId,omitempty"`
	Delivery      int64  `json:"delivery,omitempty"` // the delivery's number in the log
	Event         string `json:"event,omitempty"`
	Ref           string `json:"ref,omitempty"`
	PullRequest   int    `json:"pullRequest,omitempty"`
	Sender        string `json:"sender,omitempty"`
}

func (d TriggerDetail) String() string {
	b, _ := json.Marshal(d)
	return string(b)
}

// parseTriggerDetail reads what an event wrote; ok false for any other detail (a user's name).
func parseTriggerDetail(s string) (TriggerDetail, bool) {
	var d TriggerDetail
	if !strings.HasPrefix(s, "{") || json.Unmarshal([]byte(s), &d) != nil || d.ConnectionArn == "" {
		return TriggerDetail{}, false
	}
	return d, true
}

// sourceActions are the first stage's actions (the only ones that may be source actions).
func sourceActions(d *pipeline.Declaration) []pipeline.Action {
	if len(d.Stages) == 0 {
		return nil
	}
	return d.Stages[0].Actions
}

// triggerFor returns the V2 trigger of a source action, or nil.
func triggerFor(d *pipeline.Declaration, action string) *pipeline.GitConfiguration {
	if d.EffectivePipelineType() != pipeline.PipelineTypeV2 {
		return nil
	}
	for _, t := range d.Triggers {
		if t.GitConfiguration != nil && t.GitConfiguration.SourceActionName == action {
			return t.GitConfiguration
		}
	}
	return nil
}
