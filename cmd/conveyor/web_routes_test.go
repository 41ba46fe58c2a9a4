package main

// Every route of the server, walked from the router itself: an anonymous request is refused with
// 401 wherever credentials are needed, and a viewer gets 403 wherever the route needs more. The
// JSON API's operations are walked from its table with the same rule, in AWS's error shapes.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/go-chi/chi/v5"

	"github.com/conveyorci/conveyor/server/auth"
)

// access is what a route asks of its caller.
type access int

const (
	unknownAccess access = iota
	public               // no credentials
	viewerAccess         // any authenticated caller
	operatorAccess
	approverAccess
	adminAccess
	ownAuth // another credential (agent tokens, webhook signatures): keys and sessions do not count
)

var routeAccess = []struct {
	method  string
	pattern *regexp.Regexp
	access  access
}{
	{"GET", regexp.MustCompile(`^/healthz$|^/login$|^/static/\*$`), public},
	{"POST", regexp.MustCompile(`^/login$`), public},
	{"*", regexp.MustCompile(`^/metrics$`), viewerAccess},
	{"GET", regexp.MustCompile(`^/api/v1/(whoami|buckets/\{bucket\}/versions/\*|artifacts/\{sha256\}|builds/\{id\}/logs)$`), viewerAccess},
	{"GET", regexp.MustCompile(`^/api/v1/(agents|deployments/\{id\}/logs)$`), viewerAccess},
	{"POST", regexp.MustCompile(`^/api/v1/agents/(tokens|\{name\}/revoke)$`), adminAccess},
	{"GET", regexp.MustCompile(`^/api/v1/connections(/\{name\}(/deliveries)?)?$`), viewerAccess},
	{"*", regexp.MustCompile(`^/api/v1/connections(/\{name\})?$`), adminAccess},
	{"*", regexp.MustCompile(`^/api/v1/(keys|secrets|users|audit|notifications)(/.*)?$`), adminAccess},
	{"PUT", regexp.MustCompile(`^/api/v1/buckets/\{bucket\}/objects/\*$`), operatorAccess},
	{"GET", regexp.MustCompile(`^/$|^/events$|^/pipelines/|^/(builds|deployments|agents|connections)(/|$)`), viewerAccess},
	{"POST", regexp.MustCompile(`^/deployments/\{id\}/stop$`), operatorAccess},
	{"POST", regexp.MustCompile(`^/agents/\{name\}/revoke$`), adminAccess},
	{"POST", regexp.MustCompile(`^/logout$`), viewerAccess},
	{"POST", regexp.MustCompile(`^/pipelines/\{name\}/executions/\{id\}/approvals/`), approverAccess},
	{"POST", regexp.MustCompile(`^/pipelines/\{name\}/(start|executions/\{id\}/(stop|retry)|stages/\{stage\}/(transition|rollback|override))$`), operatorAccess},
	{"*", regexp.MustCompile(`^/admin/`), adminAccess},
	{"*", regexp.MustCompile(`^/agent/|^/webhooks/`), ownAuth},
}

func accessOf(method, pattern string) access {
	for _, r := range routeAccess {
		if (r.method == "*" || r.method == method) && r.pattern.MatchString(pattern) {
			return r.access
		}
	}
	return unknownAccess
}

var paramRe = regexp.MustCompile(`\{[^}]+\}`)

// probe sends one request and returns its status; streams are cut after their headers.
func probe(t *testing.T, method, target string, header http.Header, body []byte) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	resp.Body.Close() // an event stream is not read to its end
	return resp.StatusCode
}

func TestEveryRouteRefusesAnonymousAndUnderprivilegedCallers(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	createRaw(t, codePipelineClient(s.URL, "", ""), fakePipeline("walk", "QUEUED", "Build", "Custom", "Fake", nil))
	viewerWeb := addUser(t, s, "viewer1", auth.RoleViewer)
	viewerKey, err := s.app.keys.Create(ctx, auth.RoleViewer, "route walk")
	if err != nil {
		t.Fatal(err)
	}
	sessionCookie := ""
	for _, c := range viewerWeb.c.Jar.Cookies(mustURL(s.URL)) {
		if c.Name == "conveyor_session" {
			sessionCookie = c.Name + "=" + c.Value
		}
	}

	type route struct{ method, pattern string }
	var routes []route
	if err := chi.Walk(s.app.handler.(chi.Routes), func(method, pattern string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes = append(routes, route{method, strings.TrimSuffix(pattern, "/*/")})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Logging out ends the viewer's session: walk it last.
	key := func(r route) string {
		if r.pattern == "/logout" {
			return "\xff"
		}
		return r.pattern + r.method
	}
	sort.Slice(routes, func(i, j int) bool { return key(routes[i]) < key(routes[j]) })
	if len(routes) < 40 {
		t.Fatalf("walked only %d routes", len(routes))
	}
	for _, r := range routes {
		if r.method == http.MethodPost && r.pattern == "/" {
			continue // the JSON API: walked by operation below
		}
		path := paramRe.ReplaceAllString(r.pattern, "walk")
		path = strings.ReplaceAll(path, "*", "walk")
		a := accessOf(r.method, r.pattern)
		anon := probe(t, r.method, s.URL+path, nil, nil)
		switch {
		case a == public:
			if anon == http.StatusUnauthorized {
				t.Errorf("%s %s is public but answered 401", r.method, r.pattern)
			}
			continue
		case a == unknownAccess:
			t.Logf("%s %s is not in the access table: only its refusal of anonymous callers is checked", r.method, r.pattern)
			if anon != http.StatusUnauthorized && anon != http.StatusForbidden {
				t.Errorf("%s %s (not in the table) answered an anonymous caller %d", r.method, r.pattern, anon)
			}
			continue
		case a == ownAuth:
			if anon < 400 || anon >= 500 {
				t.Errorf("%s %s: an anonymous caller got %d", r.method, r.pattern, anon)
			}
			continue
		case anon != http.StatusUnauthorized:
			t.Errorf("%s %s: anonymous got %d, want 401", r.method, r.pattern, anon)
		}
		// The viewer, with the credential the route takes: a key for the REST extras, the session
		// (and its CSRF token) for the dashboard.
		h := http.Header{}
		var body []byte
		if strings.HasPrefix(r.pattern, "/api/") || r.pattern == "/metrics" {
			h.Set("Authorization", "Basic "+basic(viewerKey.ID, viewerKey.Secret))
		} else {
			h.Set("Cookie", sessionCookie)
			if r.method != http.MethodGet {
				h.Set("Content-Type", "application/x-www-form-urlencoded")
				body = []byte(url.Values{"csrf_token": {viewerWeb.csrf}}.Encode())
			}
		}
		got := probe(t, r.method, s.URL+path, h, body)
		switch {
		case a > viewerAccess && got != http.StatusForbidden:
			t.Errorf("%s %s: viewer got %d, want 403", r.method, r.pattern, got)
		case a == viewerAccess && (got == http.StatusForbidden || got == http.StatusUnauthorized):
			t.Errorf("%s %s: viewer got %d, want access", r.method, r.pattern, got)
		case got >= 500:
			t.Errorf("%s %s: viewer got %d", r.method, r.pattern, got)
		}
	}

	// The JSON API: anonymous callers get AWS's MissingAuthenticationTokenException; a viewer key
	// gets AccessDeniedException for every operation above viewer, and no refusal below.
	ops := s.app.web.api.Operations()
	if len(ops) < 20 {
		t.Fatalf("only %d operations", len(ops))
	}
	for target, op := range ops {
		anonType := jsonAPICall(t, s.URL, target, aws.Credentials{})
		if anonType != "MissingAuthenticationTokenException" {
			t.Errorf("%s anonymous: %s", target, anonType)
		}
		got := jsonAPICall(t, s.URL, target, aws.Credentials{AccessKeyID: viewerKey.ID, SecretAccessKey: viewerKey.Secret})
		if op.Role > auth.RoleViewer && got != "AccessDeniedException" {
			t.Errorf("%s (needs %s) as viewer: %q, want AccessDeniedException", target, op.Role, got)
		}
		if op.Role <= auth.RoleViewer && got == "AccessDeniedException" {
			t.Errorf("%s (needs %s) refused a viewer", target, op.Role)
		}
	}
}

func mustURL(s string) *url.URL { u, _ := url.Parse(s); return u }

func basic(id, secret string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// jsonAPICallBody calls an operation with a key and returns the error type ("" on success).
func jsonAPICallBody(t *testing.T, base, target, id, secret, input string) string {
	t.Helper()
	return jsonAPIRequest(t, base, target, aws.Credentials{AccessKeyID: id, SecretAccessKey: secret}, []byte(input))
}

// jsonAPICall calls an operation with an empty input, signed when creds are given, and returns
// the error type of the answer ("" when it succeeded).
func jsonAPICall(t *testing.T, base, target string, creds aws.Credentials) string {
	t.Helper()
	return jsonAPIRequest(t, base, target, creds, []byte("{}"))
}

func jsonAPIRequest(t *testing.T, base, target string, creds aws.Credentials, body []byte) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/", bytes.NewReader(body))
	req.Header.Set("X-Amz-Target", target)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if creds.AccessKeyID != "" {
		sum := sha256.Sum256(body)
		hash := hex.EncodeToString(sum[:])
		req.Header.Set("X-Amz-Content-Sha256", hash)
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hash, "codepipeline", "local", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 {
		return ""
	}
	var e struct {
		Type string `json:"__type"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("%s: %d %s", target, resp.StatusCode, b)
	}
	return e.Type
}
