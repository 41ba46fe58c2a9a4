package archive

import "testing"

func TestMatchGlob(t *testing.T) {
	cases := []struct {
		pattern, path string
		want          bool
	}{
		{"**/*", "a", true},
		{"**/*", "a/b/c", true},
		{"**/*", ".hidden", true},
		{"*", "a", true},
		{"*", "a/b", false},
		{"scripts/*", "scripts/a.sh", true},
		{"scripts/*", "scripts/sub/a.sh", false},
		{"scripts/**/*", "scripts/a.sh", true},
		{"scripts/**/*", "scripts/sub/deeper/a.sh", true},
		{"scripts/**/*", "scripts", false},
		{"scripts/**/*", "other/a.sh", false},
		{"bin/sample-app", "bin/sample-app", true},
		{"bin/sample-app", "bin/sample-app2", false},
		{"./bin/sample-app", "bin/sample-app", true},
		{"bin//sample-app", "bin/sample-app", true},
		{"*/my-file3.txt", "my-subdirectory/my-file3.txt", true},
		{"*/my-file3.txt", "a/b/my-file3.txt", false},
		{"**/*.xml", "target/surefire-reports/TEST-a.xml", true},
		{"**/*.xml", "TEST-a.xml", true},
		{"**/*.xml", "a.json", false},
		{"a/**/b", "a/b", true},
		{"a/**/b", "a/x/y/b", true},
		{"a/**/b", "a/x/y/c", false},
		{"a/**", "a/x/y", true},
		{"**", "anything/at/all", true},
		{"**/**/*", "x", true},
		{"my-build*", "my-build1", true},
		{"my-build*", "my-build1/x", false},
		{"test?.txt", "test1.txt", true},
		{"test[0-9].txt", "test7.txt", true},
		{"test[0-9].txt", "testa.txt", false},
		{"test[.txt", "test[.txt", false}, // malformed class matches nothing
		{`lit\*`, "lit*", true},
		{"/root/.m2/**/*", "/root/.m2/repository/x.jar", true},
		{"/root/.m2/**/*", "root/.m2/repository/x.jar", false},
		{"node_modules/**/*", "node_modules/.bin/tsc", true},
		{"a*b", "a/b", false},
	}
	for _, tc := range cases {
		if got := MatchGlob(tc.pattern, tc.path); got != tc.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tc.pattern, tc.path, got, tc.want)
		}
	}
}

func TestMatchGlobManyStars(t *testing.T) {
	// Linear in segments: no exponential blow-up on adversarial patterns.
	p := "**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/**/x"
	name := "a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/a/y"
	if MatchGlob(p, name) {
		t.Fatal("matched")
	}
}
