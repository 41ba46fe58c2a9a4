package suggest

import (
	"strings"
	"testing"
)

func TestClosest(t *testing.T) {
	cases := []struct {
		in   string
		want string
	}{
		{"pre-build", "pre_build"}, {"PRE_BUILD", "pre_build"}, {"comands", "commands"}, {"stagess", "stages"},
		{"actionTypeID", "actionTypeId"}, {"xyz", ""}, {"env", "env"}, {"evn", ""}, {strings.Repeat("a", 500), ""},
	}
	candidates := []string{"pre_build", "commands", "stages", "actionTypeId", "env"}
	for _, c := range cases {
		if got := Closest(c.in, candidates); got != c.want {
			t.Errorf("Closest(%q) = %q, want %q", c.in[:min(len(c.in), 20)], got, c.want)
		}
	}
}

func TestDistance(t *testing.T) {
	if d := Distance("kitten", "sitting", 10); d != 3 {
		t.Errorf("kitten/sitting = %d, want 3", d)
	}
	if d := Distance("a", "abcdefgh", 3); d != 3 {
		t.Errorf("a distance beyond the limit must be the limit, got %d", d)
	}
}
