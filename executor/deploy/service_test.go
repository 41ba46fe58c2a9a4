package deploy

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/conveyorci/conveyor/agent/protocol"
	"github.com/conveyorci/conveyor/store"
	"github.com/conveyorci/conveyor/store/logs"
)

// clock is a settable clock for the store (token expiry).
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T, clk *clock) *Service {
	t.Helper()
	dir := t.TempDir()
	opts := store.Options{}
	if clk != nil {
		opts.Now = clk.Now
	}
	db, err := store.Open(context.Background(), filepath.Join(dir, "conveyor.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := store.OpenBlobs(filepath.Join(dir, "blobs"), db)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := logs.Open(filepath.Join(dir, "logs"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewService(Config{DB: db, Blobs: blobs, Logs: ls, Region: "local"})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Close(context.Background())
		_ = db.Close()
	})
	return s
}

func TestTagFilters(t *testing.T) {
	tags := map[string]string{"env": "prod", "role": "web"}
	cases := []struct {
		name string
		set  GroupSettings
		want bool
	}{
		{"key and value", GroupSettings{OnPremisesInstanceTagFilters: []TagFilter{{Key: "role", Value: "web", Type: FilterKeyAndValue}}}, true},
		{"wrong value", GroupSettings{OnPremisesInstanceTagFilters: []TagFilter{{Key: "role", Value: "db", Type: FilterKeyAndValue}}}, false},
		{"key only", GroupSettings{OnPremisesInstanceTagFilters: []TagFilter{{Key: "env", Type: FilterKeyOnly}}}, true},
		{"value only", GroupSettings{OnPremisesInstanceTagFilters: []TagFilter{{Value: "prod", Type: FilterValueOnly}}}, true},
		{"type inferred from key and value", GroupSettings{OnPremisesInstanceTagFilters: []TagFilter{{Key: "env", Value: "prod"}}}, true},
		{"filters are ORed", GroupSettings{OnPremisesInstanceTagFilters: []TagFilter{{Key: "role", Value: "db"}, {Key: "env", Value: "prod"}}}, true},
		{"tag set: AND of ORs", GroupSettings{OnPremisesTagSet: &OnPremisesTagSet{OnPremisesTagSetList: [][]TagFilter{
			{{Key: "env", Value: "prod"}, {Key: "env", Value: "staging"}}, {{Key: "role", Value: "web"}}}}}, true},
		{"tag set: one list unmatched", GroupSettings{OnPremisesTagSet: &OnPremisesTagSet{OnPremisesTagSetList: [][]TagFilter{
			{{Key: "env", Value: "prod"}}, {{Key: "role", Value: "db"}}}}}, false},
		{"no filters select nothing", GroupSettings{}, false},
	}
	for _, tc := range cases {
		if got := tc.set.matches(tags); got != tc.want {
			t.Errorf("%s: matches = %v, want %v", tc.name, got, tc.want)
		}
	}
	bad := GroupSettings{OnPremisesInstanceTagFilters: []TagFilter{{Key: "a"}}, OnPremisesTagSet: &OnPremisesTagSet{OnPremisesTagSetList: [][]TagFilter{{{Key: "b"}}}}}
	var e *Error
	if err := bad.validate(); !errors.As(err, &e) || e.Code != CodeInvalidOnPremTagCombo {
		t.Errorf("filters and a tag set together: %v", err)
	}
	if err := (&GroupSettings{OnPremisesInstanceTagFilters: []TagFilter{{Key: "a", Type: "SOME"}}}).validate(); !errors.As(err, &e) || e.Code != CodeInvalidTag {
		t.Errorf("a bad filter type: %v", err)
	}
}

func TestPages(t *testing.T) {
	var names []string
	for i := range 250 {
		names = append(names, string(rune('a'+i/26%26))+string(rune('a'+i%26))+"-"+string(rune('0'+i%10)))
	}
	var all []string
	token := ""
	for pages := 0; ; pages++ {
		got, next, err := page(names, token)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
		if next == "" {
			if pages != 2 {
				t.Errorf("%d pages, want 3", pages+1)
			}
			break
		}
		token = next
	}
	if len(all) != len(names) {
		t.Errorf("paged through %d of %d names", len(all), len(names))
	}
	if _, _, err := page(names, "%%%"); err == nil {
		t.Error("a bad token must be refused")
	}
}

func TestRegistrationTokens(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	s := newService(t, clk)
	ctx := context.Background()
	// The service makes the expiry from the real clock; the store decides with its own, which the
	// test moves.
	clk.now = time.Now().UTC()
	token, _, err := s.CreateToken(ctx, time.Hour, map[string]string{"env": "prod"}, "test")
	if err != nil {
		t.Fatal(err)
	}
	req := protocol.RegisterRequest{Token: token, Name: "web-1", Tags: map[string]string{"role": "web", "env": "dev"}, Version: "1.0"}
	resp, err := s.RegisterAgent(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := s.Authenticate(ctx, resp.AgentID, resp.Credential)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Tags["role"] != "web" || inst.Tags["env"] != "prod" {
		t.Errorf("tags = %v: the token's tags win over the agent's", inst.Tags)
	}
	if _, err := s.Authenticate(ctx, resp.AgentID, "wrong"); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("a wrong credential: %v", err)
	}
	// Single use.
	req.Name = "web-2"
	if _, err := s.RegisterAgent(ctx, req); !errors.Is(err, ErrTokenGone) {
		t.Errorf("reusing a token: %v", err)
	}
	// Expired.
	expiring, _, err := s.CreateToken(ctx, time.Minute, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	if _, err := s.RegisterAgent(ctx, protocol.RegisterRequest{Token: expiring, Name: "web-3"}); !errors.Is(err, ErrTokenGone) {
		t.Errorf("an expired token: %v", err)
	}
	// A name an active agent holds is refused and the token is kept for another try.
	fresh, _, err := s.CreateToken(ctx, time.Hour, nil, "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RegisterAgent(ctx, protocol.RegisterRequest{Token: fresh, Name: "web-1"}); !errors.Is(err, ErrNameTaken) {
		t.Errorf("a taken name: %v", err)
	}
	// Revoked: the old credential is refused, and the name may register again.
	if err := s.RevokeAgent(ctx, "web-1", false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, resp.AgentID, resp.Credential); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("a revoked agent: %v", err)
	}
	again, err := s.RegisterAgent(ctx, protocol.RegisterRequest{Token: fresh, Name: "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, again.AgentID, again.Credential); err != nil {
		t.Errorf("re-registered agent: %v", err)
	}
	if _, err := s.RegisterAgent(ctx, protocol.RegisterRequest{Token: "cvt_unknown", Name: "x"}); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("an unknown token: %v", err)
	}
	if _, err := s.RegisterAgent(ctx, protocol.RegisterRequest{Token: fresh, Name: "../etc"}); !errors.Is(err, ErrBadReport) {
		t.Errorf("a bad name: %v", err)
	}
}
