package source

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/pipeline"
	"github.com/conveyorci/conveyor/store"
)

func TestConnectionNameFromArn(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:codeconnections:local:000000000000:connection/app":             "app",
		"arn:aws:codestar-connections:us-east-1:123456789012:connection/my.app": "my.app",
		"arn:aws:codeconnections:local:000000000000:connection/../etc":          "",
		"arn:aws:codeconnections:local:000000000000:host/app":                   "",
		"arn:aws:s3:::bucket": "",
		"app":                 "",
	} {
		got, ok := ConnectionNameFromArn(arn)
		if got != want || ok != (want != "") {
			t.Errorf("ConnectionNameFromArn(%q) = %q, %v", arn, got, ok)
		}
	}
	c := &Connections{Region: "eu-west-1"}
	if name, _ := ConnectionNameFromArn(c.Arn("app")); name != "app" {
		t.Errorf("the ARN of app names %q", name)
	}
}

func TestValidateConnection(t *testing.T) {
	c := &Connections{}
	secret := "s"
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n"
	for _, tc := range []struct {
		in   ConnectionInput
		want string
	}{
		{ConnectionInput{Name: "app", Provider: "github", URL: "https://8.8.8.8/a/b.git", WebhookSecret: &secret}, ""},
		{ConnectionInput{Name: "-app", Provider: "github", URL: "https://8.8.8.8/a/b.git"}, "connection name"},
		{ConnectionInput{Name: "a/b", Provider: "github", URL: "https://8.8.8.8/a/b.git"}, "connection name"},
		{ConnectionInput{Name: "app", Provider: "svn", URL: "https://8.8.8.8/a/b.git"}, `provider "svn"`},
		{ConnectionInput{Name: "app", Provider: "gitea", URL: "file:///srv/a.git"}, "scheme"},
		{ConnectionInput{Name: "app", Provider: "gitea", URL: "http://10.0.0.5/a.git"}, "private address"},
		{ConnectionInput{Name: "app", Provider: "gitea", URL: "http://10.0.0.5/a.git", AllowPrivateNetwork: true}, ""},
		{ConnectionInput{Name: "app", Provider: "gitea", URL: "http://169.254.169.254/a.git", AllowPrivateNetwork: false}, "link-local"},
		{ConnectionInput{Name: "app", Provider: "git", URL: "https://8.8.8.8/a.git", PollInterval: 1}, "poll interval"},
		{ConnectionInput{Name: "app", Provider: "git", URL: "https://8.8.8.8/a.git", SSHKey: &key}, "needs an ssh URL"},
		{ConnectionInput{Name: "app", Provider: "git", URL: "git@8.8.8.8:a.git", SSHKey: &secret}, "not a private key"},
		{ConnectionInput{Name: "app", Provider: "git", URL: "git@8.8.8.8:a.git", SSHKey: &key}, ""},
		{ConnectionInput{Name: "app", Provider: "git", URL: "git@8.8.8.8:a.git", Token: &secret}, "token is sent over https"},
	} {
		_, err := c.Validate(context.Background(), tc.in)
		var ie *InputError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.in, err)
		case tc.want != "" && (err == nil || !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want an InputError about %q", tc.in, err, tc.want)
		}
	}
}

func action(provider string, config map[string]string) pipeline.Action {
	return pipeline.Action{Name: "Source", ActionTypeID: pipeline.ActionTypeID{Category: "Source", Owner: "AWS", Provider: provider, Version: "1"}, Configuration: config}
}

func TestWhichActionsFollowAnEvent(t *testing.T) {
	repoConn := store.Connection{Name: "app", Provider: "gitea", URL: "https://git.example.com/team/app.git"}
	forge := store.Connection{Name: "forge", Provider: "github", URL: "https://github.com/"}
	arn := func(n string) string { return (&Connections{}).Arn(n) }
	for _, c := range []struct {
		name  string
		conn  store.Connection
		act   pipeline.Action
		ev    Event
		url   string
		match bool
	}{
		{"repository connection, by full name", repoConn, action("CodeStarSourceConnection", map[string]string{"ConnectionArn": arn("app"), "FullRepositoryId": "team/app"}),
			Event{Repository: "Team/App"}, "https://git.example.com/team/app.git", true},
		{"repository connection, another name in the action", repoConn, action("CodeStarSourceConnection", map[string]string{"ConnectionArn": arn("app"), "FullRepositoryId": "x/y"}),
			Event{Repository: "team/app"}, "https://git.example.com/team/app.git", true},
		{"by clone URL", repoConn, action("CodeStarSourceConnection", map[string]string{"ConnectionArn": arn("app"), "FullRepositoryId": "x/y"}),
			Event{Repository: "renamed/app", CloneURL: "https://git.example.com/team/app.git"}, "https://git.example.com/team/app.git", true},
		{"another repository", repoConn, action("CodeStarSourceConnection", map[string]string{"ConnectionArn": arn("app"), "FullRepositoryId": "team/app"}),
			Event{Repository: "team/other", CloneURL: "https://git.example.com/team/other.git"}, "https://git.example.com/team/app.git", false},
		{"forge connection", forge, action("CodeStarSourceConnection", map[string]string{"ConnectionArn": arn("forge"), "FullRepositoryId": "acme/app"}),
			Event{Repository: "acme/app"}, "https://github.com/acme/app.git", true},
		{"forge connection, other repository", forge, action("CodeStarSourceConnection", map[string]string{"ConnectionArn": arn("forge"), "FullRepositoryId": "acme/app"}),
			Event{Repository: "acme/web"}, "https://github.com/acme/app.git", false},
		{"CodeCommit names the connection", repoConn, action("CodeCommit", map[string]string{"RepositoryName": "app"}),
			Event{Repository: "team/app"}, "https://git.example.com/team/app.git", true},
	} {
		target, ok := followedBy(c.conn, c.act)
		if !ok || target.url.String() != c.url || target.matches(c.ev) != c.match {
			t.Errorf("%s: followed %v, url %s, matches %v", c.name, ok, target.url.String(), target.matches(c.ev))
		}
	}
	if _, ok := followedBy(repoConn, action("CodeStarSourceConnection", map[string]string{"ConnectionArn": arn("other")})); ok {
		t.Error("an action on another connection follows this one")
	}
	if _, ok := followedBy(repoConn, action("S3", map[string]string{"S3Bucket": "b"})); ok {
		t.Error("an S3 action follows a connection")
	}
}

func TestTriage(t *testing.T) {
	zero, sha := strings.Repeat("0", 40), strings.Repeat("a", 40)
	for _, c := range []struct {
		ev     Event
		status string
		why    string
	}{
		{Event{Kind: KindPing}, store.WebhookIgnored, "ping"},
		{Event{Kind: KindOther, Name: "issues"}, store.WebhookIgnored, `"issues" is not acted on`},
		{Event{Kind: KindPush, Ref: "refs/heads/main", Before: zero, After: sha}, store.WebhookPending, ""},
		{Event{Kind: KindPush, Ref: "refs/heads/main", Before: sha, After: zero}, store.WebhookIgnored, "refs/heads/main was deleted"},
		{Event{Kind: KindPush, Ref: "refs/tags/v1", Before: sha, After: zero}, store.WebhookIgnored, "tag v1 was deleted"},
		{Event{Kind: KindPush, Ref: "refs/notes/x", After: sha}, store.WebhookIgnored, "neither a branch nor a tag"},
		{Event{Kind: KindPullRequest, PullRequest: &PullRequest{Action: "", RawAction: "labeled", HeadSHA: sha}}, store.WebhookIgnored, `"labeled"`},
		{Event{Kind: KindPullRequest, PullRequest: &PullRequest{Action: "OPEN", HeadSHA: sha}}, store.WebhookPending, ""},
	} {
		status, why := triage(c.ev)
		if status != c.status || !strings.Contains(why, c.why) {
			t.Errorf("%+v: %s %q", c.ev, status, why)
		}
	}
	push := Event{Kind: KindPush, Repository: "Acme/App", Ref: "refs/heads/main", After: sha}
	if push.dedupeKey() != "acme/app\nrefs/heads/main\n"+sha {
		t.Errorf("dedupe key %q", push.dedupeKey())
	}
	open := Event{Kind: KindPullRequest, Repository: "a/b", PullRequest: &PullRequest{Number: 3, Action: "OPEN", HeadSHA: sha}}
	closed := open
	closed.PullRequest = &PullRequest{Number: 3, Action: "CLOSED", HeadSHA: sha}
	if open.dedupeKey() == closed.dedupeKey() {
		t.Error("closing a pull request at the same head is not a duplicate of opening it")
	}
}

func TestSpecsValidateConfiguration(t *testing.T) {
	exists := func(name string) error {
		if name == "app" {
			return nil
		}
		return store.ErrNotFound
	}
	arn := (&Connections{}).Arn
	for _, c := range []struct {
		config map[string]string
		key    string
		want   string
	}{
		{map[string]string{"ConnectionArn": arn("app"), "FullRepositoryId": "a/b", "BranchName": "main"}, "", ""},
		{map[string]string{"ConnectionArn": arn("gone"), "FullRepositoryId": "a/b", "BranchName": "main"}, "ConnectionArn", "connection gone does not exist"},
		{map[string]string{"ConnectionArn": "arn:aws:s3:::x", "FullRepositoryId": "a/b", "BranchName": "main"}, "ConnectionArn", "not a connection ARN"},
		{map[string]string{"ConnectionArn": "#{variables.CONN}", "FullRepositoryId": "a/b", "BranchName": "main"}, "", ""},
		{map[string]string{"ConnectionArn": arn("app"), "FullRepositoryId": "../x", "BranchName": "main"}, "FullRepositoryId", "not a repository"},
		{map[string]string{"ConnectionArn": arn("app"), "FullRepositoryId": "a/b", "BranchName": "a..b"}, "BranchName", "not a valid branch"},
		{map[string]string{"ConnectionArn": arn("app"), "FullRepositoryId": "a/b", "BranchName": "main", "OutputArtifactFormat": "TAR"}, "OutputArtifactFormat", "CODE_ZIP"},
		{map[string]string{"ConnectionArn": arn("app"), "FullRepositoryId": "a/b", "BranchName": "main", "DetectChanges": "yes"}, "DetectChanges", "true or false"},
	} {
		problems := CodeStarSpec(exists).ValidateConfig(c.config)
		if c.key == "" && len(problems) > 0 || c.key != "" && !strings.Contains(problems[c.key], c.want) {
			t.Errorf("%v: %v", c.config, problems)
		}
	}
	// Offline (no lookup), a missing connection cannot be known.
	if p := CodeStarSpec(nil).ValidateConfig(map[string]string{"ConnectionArn": arn("gone")}); len(p) != 0 {
		t.Errorf("offline: %v", p)
	}
	if p := CodeCommitSpec(exists).ValidateConfig(map[string]string{"RepositoryName": "gone", "BranchName": "main"}); !strings.Contains(p["RepositoryName"], "does not exist") {
		t.Errorf("CodeCommit: %v", p)
	}
}

func TestTriggerDetailRoundTrips(t *testing.T) {
	d := TriggerDetail{ConnectionArn: "arn:aws:codeconnections:local:000000000000:connection/app", DeliveryID: "x", Delivery: 4, Ref: "refs/heads/dev", Sender: "dana"}
	got, ok := parseTriggerDetail(d.String())
	if !ok || got != d {
		t.Fatalf("round trip: %+v %v", got, ok)
	}
	for _, s := range []string{"user/alice", "", "{}", `{"connectionArn": 7}`} {
		if _, ok := parseTriggerDetail(s); ok {
			t.Errorf("%q taken for an event's detail", s)
		}
	}
}
