package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/conveyorci/conveyor/executor/source"
	"github.com/conveyorci/conveyor/executor/source/filter"
	"github.com/conveyorci/conveyor/executor/source/git"
)

// Event and delivery-id headers, per forge; Forgejo and Gitea also send GitHub's names.
var (
	eventHeaders    = []string{"X-GitHub-Event", "X-Gitea-Event", "X-Forgejo-Event", "X-Gogs-Event", "X-Gitlab-Event"}
	deliveryHeaders = []string{"X-GitHub-Delivery", "X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Gogs-Delivery",
		// GitLab: the Idempotency-Key is the same across retries of one event; the UUIDs are fallbacks.
		"Idempotency-Key", "X-Gitlab-Event-UUID", "X-Gitlab-Webhook-UUID"}
)

func firstHeader(h http.Header, names []string) string {
	for _, n := range names {
		if v := strings.TrimSpace(h.Get(n)); v != "" {
			return v
		}
	}
	return ""
}

// EventName is the event a delivery announces, as its headers name it.
func EventName(h http.Header) string { return firstHeader(h, eventHeaders) }

// DeliveryID is the sender's id of the delivery.
func DeliveryID(h http.Header) string { return firstHeader(h, deliveryHeaders) }

// ParseError is a payload that cannot be what its headers say.
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return e.Msg }

func malformed(format string, args ...any) error {
	return &ParseError{Msg: fmt.Sprintf(format, args...)}
}

// Parse reads a verified delivery into an event. GitHub's form-encoded deliveries (payload=…) are
// read too. A payload that is not what its event says is a *ParseError.
func Parse(provider string, h http.Header, body []byte) (source.Event, error) {
	name := EventName(h)
	if name == "" {
		return source.Event{}, malformed("no event header (%s)", strings.Join(eventHeaders, ", "))
	}
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("payload") == "" {
			return source.Event{}, malformed("a form-encoded delivery needs a payload field")
		}
		body = []byte(form.Get("payload"))
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return source.Event{}, malformed("the payload is not a JSON object")
	}
	var ev source.Event
	var err error
	switch lower := strings.ToLower(name); {
	case lower == "ping":
		ev, err = parsePing(body)
	case lower == "push":
		ev, err = parseHubPush(body)
	case lower == "pull_request" || lower == "pull_request_sync":
		ev, err = parseHubPullRequest(body)
	case lower == "push hook" || lower == "tag push hook" || lower == "system hook":
		ev, err = parseLabPush(body, lower == "system hook")
	case lower == "merge request hook":
		ev, err = parseLabMergeRequest(body)
	default:
		var probe map[string]json.RawMessage
		if json.Unmarshal(body, &probe) != nil {
			return source.Event{}, malformed("the payload is not a JSON object")
		}
		ev = source.Event{Kind: source.KindOther}
	}
	if err != nil {
		return source.Event{}, err
	}
	ev.Name = name
	return ev, nil
}

func decode(body []byte, v any, what string) error {
	if err := json.Unmarshal(body, v); err != nil {
		return malformed("the %s payload is not valid: %v", what, err)
	}
	return nil
}

// checkCommit accepts a full commit id or forty zeros (a created or deleted ref).
func checkCommit(field, v string) error {
	if git.IsCommitID(v) || len(v) >= 40 && git.IsZero(v) && len(v) <= 64 {
		return nil
	}
	return malformed("%s %q is not a commit id", field, v)
}

type hubRepository struct {
	FullName      string `json:"full_name"`
	CloneURL      string `json:"clone_url"`
	DefaultBranch string `json:"default_branch"`
}

type hubUser struct {
	Login    string `json:"login"`
	Username string `json:"username"`
	Name     string `json:"name"`
}

func (u hubUser) name() string {
	for _, s := range []string{u.Login, u.Username, u.Name} {
		if s != "" {
			return s
		}
	}
	return ""
}

func parsePing(body []byte) (source.Event, error) {
	var p struct {
		Repository *hubRepository `json:"repository"`
		Sender     hubUser        `json:"sender"`
	}
	if err := decode(body, &p, "ping"); err != nil {
		return source.Event{}, err
	}
	ev := source.Event{Kind: source.KindPing, Sender: p.Sender.name()}
	if p.Repository != nil {
		ev.Repository = p.Repository.FullName
	}
	return ev, nil
}

// parseHubPush reads a push in GitHub's shape, which Gitea and Forgejo share.
func parseHubPush(body []byte) (source.Event, error) {
	var p struct {
		Ref        string        `json:"ref"`
		Before     string        `json:"before"`
		After      string        `json:"after"`
		Repository hubRepository `json:"repository"`
		HeadCommit *struct {
			Message string `json:"message"`
		} `json:"head_commit"`
		Sender hubUser `json:"sender"`
		Pusher hubUser `json:"pusher"`
	}
	if err := decode(body, &p, "push"); err != nil {
		return source.Event{}, err
	}
	if !strings.HasPrefix(p.Ref, "refs/") {
		return source.Event{}, malformed("ref %q is not a full ref name (refs/heads/…, refs/tags/…)", p.Ref)
	}
	if err := checkCommit("before", p.Before); err != nil {
		return source.Event{}, err
	}
	if err := checkCommit("after", p.After); err != nil {
		return source.Event{}, err
	}
	if p.Repository.FullName == "" {
		return source.Event{}, malformed("repository.full_name is missing")
	}
	ev := source.Event{Kind: source.KindPush, Repository: p.Repository.FullName, CloneURL: p.Repository.CloneURL,
		DefaultBranch: p.Repository.DefaultBranch, Ref: p.Ref, Before: p.Before, After: p.After, Sender: p.Sender.name()}
	if ev.Sender == "" {
		ev.Sender = p.Pusher.name()
	}
	if p.HeadCommit != nil {
		ev.Message = p.HeadCommit.Message
	}
	return ev, nil
}

// hubActions maps GitHub's and Gitea's pull-request actions to the trigger's events.
var hubActions = map[string]string{
	"opened": filter.PullRequestOpen, "reopened": filter.PullRequestOpen,
	"synchronize": filter.PullRequestUpdated, "synchronized": filter.PullRequestUpdated,
	"closed": filter.PullRequestClosed,
}

func parseHubPullRequest(body []byte) (source.Event, error) {
	var p struct {
		Action      string `json:"action"`
		Number      int    `json:"number"`
		PullRequest *struct {
			Number int    `json:"number"`
			Title  string `json:"title"`
			Head   struct {
				Ref string `json:"ref"`
				SHA string `json:"sha"`
			} `json:"head"`
			Base struct {
				Ref string `json:"ref"`
			} `json:"base"`
		} `json:"pull_request"`
		Repository hubRepository `json:"repository"`
		Sender     hubUser       `json:"sender"`
	}
	if err := decode(body, &p, "pull_request"); err != nil {
		return source.Event{}, err
	}
	if p.PullRequest == nil || p.Repository.FullName == "" {
		return source.Event{}, malformed("pull_request and repository.full_name are required")
	}
	pr := p.PullRequest
	if p.Number == 0 {
		p.Number = pr.Number
	}
	if p.Number <= 0 {
		return source.Event{}, malformed("the pull request has no number")
	}
	if err := checkCommit("pull_request.head.sha", pr.Head.SHA); err != nil {
		return source.Event{}, err
	}
	return source.Event{Kind: source.KindPullRequest, Repository: p.Repository.FullName, CloneURL: p.Repository.CloneURL,
		DefaultBranch: p.Repository.DefaultBranch, Sender: p.Sender.name(), Message: pr.Title,
		PullRequest: &source.PullRequest{Number: p.Number, Action: hubActions[p.Action], RawAction: p.Action,
			SourceBranch: pr.Head.Ref, TargetBranch: pr.Base.Ref, HeadSHA: pr.Head.SHA, Title: pr.Title}}, nil
}

type labProject struct {
	PathWithNamespace string `json:"path_with_namespace"`
	GitHTTPURL        string `json:"git_http_url"`
	DefaultBranch     string `json:"default_branch"`
}

// parseLabPush reads GitLab's Push Hook and Tag Push Hook (and system hooks of either kind).
func parseLabPush(body []byte, system bool) (source.Event, error) {
	var p struct {
		ObjectKind   string     `json:"object_kind"`
		EventName    string     `json:"event_name"`
		Ref          string     `json:"ref"`
		Before       string     `json:"before"`
		After        string     `json:"after"`
		UserUsername string     `json:"user_username"`
		Project      labProject `json:"project"`
		Commits      []struct {
			ID      string `json:"id"`
			Message string `json:"message"`
		} `json:"commits"`
	}
	if err := decode(body, &p, "push"); err != nil {
		return source.Event{}, err
	}
	kind := p.ObjectKind
	if kind == "" {
		kind = p.EventName
	}
	if kind != "push" && kind != "tag_push" {
		if system {
			return source.Event{Kind: source.KindOther}, nil
		}
		return source.Event{}, malformed("object_kind %q is not push or tag_push", kind)
	}
	if !strings.HasPrefix(p.Ref, "refs/") {
		return source.Event{}, malformed("ref %q is not a full ref name", p.Ref)
	}
	if err := checkCommit("before", p.Before); err != nil {
		return source.Event{}, err
	}
	if err := checkCommit("after", p.After); err != nil {
		return source.Event{}, err
	}
	if p.Project.PathWithNamespace == "" {
		return source.Event{}, malformed("project.path_with_namespace is missing")
	}
	ev := source.Event{Kind: source.KindPush, Repository: p.Project.PathWithNamespace, CloneURL: p.Project.GitHTTPURL,
		DefaultBranch: p.Project.DefaultBranch, Ref: p.Ref, Before: p.Before, After: p.After, Sender: p.UserUsername}
	for _, c := range p.Commits {
		if c.ID == p.After {
			ev.Message = c.Message
		}
	}
	return ev, nil
}

func parseLabMergeRequest(body []byte) (source.Event, error) {
	var p struct {
		User struct {
			Username string `json:"username"`
		} `json:"user"`
		Project          labProject `json:"project"`
		ObjectAttributes *struct {
			IID          int    `json:"iid"`
			Action       string `json:"action"`
			Title        string `json:"title"`
			SourceBranch string `json:"source_branch"`
			TargetBranch string `json:"target_branch"`
			Oldrev       string `json:"oldrev"`
			LastCommit   struct {
				ID string `json:"id"`
			} `json:"last_commit"`
		} `json:"object_attributes"`
	}
	if err := decode(body, &p, "merge request"); err != nil {
		return source.Event{}, err
	}
	a := p.ObjectAttributes
	if a == nil || a.IID <= 0 || p.Project.PathWithNamespace == "" {
		return source.Event{}, malformed("object_attributes.iid and project.path_with_namespace are required")
	}
	if err := checkCommit("object_attributes.last_commit.id", a.LastCommit.ID); err != nil {
		return source.Event{}, err
	}
	action := ""
	switch a.Action {
	case "open", "reopen":
		action = filter.PullRequestOpen
	case "update":
		if a.Oldrev != "" { // an update without oldrev changed the description, not the commits
			action = filter.PullRequestUpdated
		}
	case "close", "merge":
		action = filter.PullRequestClosed
	}
	return source.Event{Kind: source.KindPullRequest, Repository: p.Project.PathWithNamespace, CloneURL: p.Project.GitHTTPURL,
		DefaultBranch: p.Project.DefaultBranch, Sender: p.User.Username, Message: a.Title,
		PullRequest: &source.PullRequest{Number: a.IID, Action: action, RawAction: a.Action, SourceBranch: a.SourceBranch,
			TargetBranch: a.TargetBranch, HeadSHA: a.LastCommit.ID, Title: a.Title}}, nil
}
