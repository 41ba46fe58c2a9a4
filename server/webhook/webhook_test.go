package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/conveyorci/conveyor/executor/source"
)

func sign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestVerify(t *testing.T) {
	const secret, body = "s3cret", `{"ref":"refs/heads/main"}`
	good := sign(secret, body)
	other := sign("other", body)
	for _, c := range []struct {
		name, provider, secret string
		h                      http.Header
		body                   string
		err                    string // "" = accepted
	}{
		{"github signed", "github", secret, headers(headerHubSHA256, "sha256="+good), body, ""},
		{"github wrong secret", "github", secret, headers(headerHubSHA256, "sha256="+other), body, "does not match"},
		{"github body changed", "github", secret, headers(headerHubSHA256, "sha256="+good), body + " ", "does not match"},
		{"github unsigned", "github", secret, headers(), body, "not signed"},
		{"github empty header", "github", secret, headers(headerHubSHA256, ""), body, "is empty"},
		{"github no prefix", "github", secret, headers(headerHubSHA256, good), body, "does not start with sha256="},
		{"github sha1 only", "github", secret, headers("X-Hub-Signature", "sha1=abc"), body, "not signed"},
		{"github not hex", "github", secret, headers(headerHubSHA256, "sha256=zz"), body, "not a hex"},
		{"github short", "github", secret, headers(headerHubSHA256, "sha256="+good[:20]), body, "not a hex"},
		{"github two headers", "github", secret, headers(headerHubSHA256, "sha256="+other, headerHubSHA256, "sha256="+good), body, "2 X-Hub-Signature-256 headers"},
		{"no secret configured", "github", "", headers(headerHubSHA256, "sha256="+sign("", body)), body, "no webhook secret"},
		{"gitea bare hex", "gitea", secret, headers(headerGitea, good), body, ""},
		{"gitea upper-case hex", "gitea", secret, headers(headerGitea, strings.ToUpper(good)), body, ""},
		{"gitea wrong", "gitea", secret, headers(headerGitea, other), body, "does not match"},
		{"gitea empty signature (hook without secret)", "gitea", secret, headers(headerGitea, "", headerHubSHA256, ""), body, "is empty"},
		{"gitea empty beats a valid compat header", "gitea", secret, headers(headerGitea, "", headerHubSHA256, "sha256="+good), body, "is empty"},
		{"gitea with a prefix is not gitea's format", "gitea", secret, headers(headerGitea, "sha256="+good), body, "not a hex"},
		{"forgejo", "gitea", secret, headers(headerForgejo, good), body, ""},
		{"gitea through the github header", "gitea", secret, headers(headerHubSHA256, "sha256="+good), body, ""},
		{"gitea unsigned", "gitea", secret, headers(), body, "not signed"},
		{"gitlab token", "gitlab", secret, headers(headerGitLab, secret), body, ""},
		{"gitlab wrong token", "gitlab", secret, headers(headerGitLab, "nope"), body, "does not match"},
		{"gitlab token prefix", "gitlab", secret, headers(headerGitLab, secret[:3]), body, "does not match"},
		{"gitlab empty", "gitlab", secret, headers(headerGitLab, ""), body, "is empty"},
		{"gitlab unsigned", "gitlab", secret, headers(), body, "not signed"},
		{"gitlab refuses a github signature", "gitlab", secret, headers(headerHubSHA256, "sha256="+good), body, "not signed"},
		{"github refuses a gitlab token", "github", secret, headers(headerGitLab, secret), body, "not signed"},
		{"git accepts github's", "git", secret, headers(headerHubSHA256, "sha256="+good), body, ""},
		{"git accepts a token", "git", secret, headers(headerGitLab, secret), body, ""},
		{"unknown provider", "svn", secret, headers(headerHubSHA256, "sha256="+good), body, "unknown provider"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.provider, []byte(c.secret), c.h, []byte(c.body))
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("Verify = %v, want a refusal saying %q", err, c.err)
			}
		})
	}
	if err := Verify("github", nil, headers(), nil); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("no secret: %v", err)
	}
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name)) // copies of shared/fixtures/webhooks
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return b
}

func TestParseFixtures(t *testing.T) {
	ev, err := Parse("github", headers("X-GitHub-Event", "push"), fixture(t, "github-push.json"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != source.KindPush || ev.Repository != "acme/sample-app" || ev.Branch() != "main" || ev.Sender != "dana" ||
		ev.After != "59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5" || ev.DefaultBranch != "main" || ev.CloneURL != "https://github.com/acme/sample-app.git" {
		t.Fatalf("github push = %+v", ev)
	}
	ev, err = Parse("gitea", headers("X-Gitea-Event", "push", "X-GitHub-Event", "push"), fixture(t, "gitea-push.json"))
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != source.KindPush || ev.Repository != "team/sample-app" || ev.Sender != "student" || ev.Message != "app v1.2: emphasis toggles\n" {
		t.Fatalf("gitea push = %+v", ev)
	}
	ev, err = Parse("github", headers("X-GitHub-Event", "ping"), fixture(t, "github-ping.json"))
	if err != nil || ev.Kind != source.KindPing || ev.Repository != "acme/sample-app" {
		t.Fatalf("ping = %+v, %v", ev, err)
	}
	// GitHub's form-encoded deliveries carry the same JSON in a payload field.
	form := "payload=" + url.QueryEscape(string(fixture(t, "github-push.json")))
	ev, err = Parse("github", headers("X-GitHub-Event", "push", "Content-Type", "application/x-www-form-urlencoded"), []byte(form))
	if err != nil || ev.Repository != "acme/sample-app" {
		t.Fatalf("form-encoded push = %+v, %v", ev, err)
	}
}

func TestParsePullRequestsAndGitLab(t *testing.T) {
	head := strings.Repeat("a", 40)
	for _, c := range []struct {
		action, want string
	}{{"opened", "OPEN"}, {"reopened", "OPEN"}, {"synchronize", "UPDATED"}, {"synchronized", "UPDATED"}, {"closed", "CLOSED"}, {"labeled", ""}} {
		body := `{"action":"` + c.action + `","number":7,"pull_request":{"title":"t","head":{"ref":"feature","sha":"` + head + `"},"base":{"ref":"main"}},"repository":{"full_name":"acme/app"},"sender":{"login":"dana"}}`
		ev, err := Parse("github", headers("X-GitHub-Event", "pull_request"), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		pr := ev.PullRequest
		if ev.Kind != source.KindPullRequest || pr.Action != c.want || pr.Number != 7 || pr.SourceBranch != "feature" || pr.TargetBranch != "main" || pr.HeadSHA != head {
			t.Errorf("%s: %+v %+v", c.action, ev, pr)
		}
	}
	push := `{"object_kind":"push","ref":"refs/heads/main","before":"` + strings.Repeat("0", 40) + `","after":"` + head +
		`","user_username":"lee","project":{"path_with_namespace":"group/sub/app","git_http_url":"https://gitlab.example.com/group/sub/app.git","default_branch":"main"},"commits":[{"id":"` + head + `","message":"m"}]}`
	ev, err := Parse("gitlab", headers("X-Gitlab-Event", "Push Hook"), []byte(push))
	if err != nil || ev.Kind != source.KindPush || ev.Repository != "group/sub/app" || ev.Sender != "lee" || ev.Message != "m" {
		t.Fatalf("gitlab push = %+v, %v", ev, err)
	}
	for _, c := range []struct{ action, oldrev, want string }{{"open", "", "OPEN"}, {"update", "abc", "UPDATED"}, {"update", "", ""}, {"merge", "", "CLOSED"}} {
		mr := `{"object_kind":"merge_request","user":{"username":"lee"},"project":{"path_with_namespace":"g/app"},"object_attributes":{"iid":3,"action":"` +
			c.action + `","oldrev":"` + c.oldrev + `","source_branch":"f","target_branch":"main","last_commit":{"id":"` + head + `"}}}`
		ev, err := Parse("gitlab", headers("X-Gitlab-Event", "Merge Request Hook"), []byte(mr))
		if err != nil || ev.PullRequest.Action != c.want || ev.PullRequest.Number != 3 {
			t.Errorf("gitlab %s: %+v %v", c.action, ev.PullRequest, err)
		}
	}
}

func TestParseRefusesMalformedPayloads(t *testing.T) {
	for name, c := range map[string]struct {
		event, body string
	}{
		"no event header":   {"", `{}`},
		"not json":          {"push", `ref=main`},
		"a json array":      {"push", `[1,2]`},
		"truncated":         {"push", `{"ref":"refs/heads/main","before":`},
		"short ref":         {"push", `{"ref":"main","before":"` + strings.Repeat("0", 40) + `","after":"` + strings.Repeat("a", 40) + `","repository":{"full_name":"a/b"}}`},
		"after not hex":     {"push", `{"ref":"refs/heads/main","before":"` + strings.Repeat("0", 40) + `","after":"xyz","repository":{"full_name":"a/b"}}`},
		"no repository":     {"push", `{"ref":"refs/heads/main","before":"` + strings.Repeat("0", 40) + `","after":"` + strings.Repeat("a", 40) + `"}`},
		"wrong types":       {"push", `{"ref":7}`},
		"pr without pr":     {"pull_request", `{"action":"opened","repository":{"full_name":"a/b"}}`},
		"unknown event bad": {"issues", `not json`},
	} {
		_, err := Parse("github", headers("X-GitHub-Event", c.event), []byte(c.body))
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: %v, want a ParseError", name, err)
		}
	}
	if ev, err := Parse("github", headers("X-GitHub-Event", "issues"), []byte(`{"action":"opened"}`)); err != nil || ev.Kind != source.KindOther {
		t.Errorf("an event Conveyor does not act on: %+v %v", ev, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"github-push.json", "gitea-push.json", "github-ping.json"} {
		f.Add("push", fixture(f, name))
	}
	f.Add("pull_request", []byte(`{"action":"opened","number":1,"pull_request":{"head":{"sha":"`+strings.Repeat("a", 40)+`"}},"repository":{"full_name":"a/b"}}`))
	f.Add("Push Hook", []byte(`{"object_kind":"push","ref":"refs/tags/v1","before":"`+strings.Repeat("0", 40)+`","after":"`+strings.Repeat("b", 40)+`","project":{"path_with_namespace":"g/a"}}`))
	f.Add("Merge Request Hook", []byte(`{"object_attributes":{"iid":2,"action":"update","oldrev":"x","last_commit":{"id":"`+strings.Repeat("c", 40)+`"}},"project":{"path_with_namespace":"g/a"}}`))
	f.Add("System Hook", []byte(`{"object_kind":"repository_update"}`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		for _, provider := range []string{"github", "gitea", "gitlab", "git"} {
			ev, err := Parse(provider, headers("X-GitHub-Event", event, "X-Gitlab-Event", event), body)
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) {
					t.Fatalf("a parse failure that is not a ParseError: %v", err)
				}
				continue
			}
			// What parses is consistent: pushes name a ref and commits, pull requests a head.
			switch ev.Kind {
			case source.KindPush:
				if !strings.HasPrefix(ev.Ref, "refs/") || ev.Repository == "" || len(ev.After) < 40 {
					t.Fatalf("inconsistent push: %+v", ev)
				}
			case source.KindPullRequest:
				if ev.PullRequest == nil || ev.PullRequest.Number <= 0 || len(ev.PullRequest.HeadSHA) < 40 {
					t.Fatalf("inconsistent pull request: %+v", ev)
				}
			}
		}
	})
}
