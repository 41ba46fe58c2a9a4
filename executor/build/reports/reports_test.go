package reports

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// want is a compact expected case: status, prefix, name, duration in ns, a message fragment.
type want struct {
	status, prefix, name string
	nanos                int64
	msg                  string // substring of Message ("" = Message must be empty)
	file                 string
}

func open(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func check(t *testing.T, rep Report, wants []want, counts map[string]int) {
	t.Helper()
	if len(rep.Cases) != len(wants) {
		for _, c := range rep.Cases {
			t.Logf("%+v", c)
		}
		t.Fatalf("%d cases, want %d", len(rep.Cases), len(wants))
	}
	var total int64
	for i, w := range wants {
		c := rep.Cases[i]
		if c.Status != w.status || c.Prefix != w.prefix || c.Name != w.name || c.DurationNanos != w.nanos || c.File != w.file {
			t.Errorf("case %d = {%s %q %q %d %q}, want {%s %q %q %d %q}", i, c.Status, c.Prefix, c.Name, c.DurationNanos, c.File, w.status, w.prefix, w.name, w.nanos, w.file)
		}
		if w.msg == "" && c.Message != "" || !strings.Contains(c.Message, w.msg) {
			t.Errorf("case %d message %q, want it to contain %q", i, c.Message, w.msg)
		}
		total += c.DurationNanos
	}
	if rep.Summary.Total != len(wants) || rep.Summary.DurationNanos != total {
		t.Errorf("summary %+v", rep.Summary)
	}
	for s, n := range counts {
		if rep.Summary.ByStatus[s] != n {
			t.Errorf("summary %s = %d, want %d", s, rep.Summary.ByStatus[s], n)
		}
	}
}

func TestParseJUnitGoTestFailure(t *testing.T) {
	rep, err := ParseJUnit(open(t, "go-junit-report.xml"))
	if err != nil {
		t.Fatal(err)
	}
	const pkg = "github.com/example/sample-app"
	check(t, rep, []want{
		{StatusSucceeded, pkg, "TestHealth", 1_000_000, "", ""},
		{StatusSucceeded, pkg, "TestVersion", 0, "", ""},
		{StatusFailed, pkg, "TestListen/port_in_use", 350_000_000, "Failed\nmain_test.go:31: listen tcp :8080: bind: address already in use\n    main_test.go:32", ""},
		{StatusSkipped, pkg, "TestSlowIntegration", 0, "skipping in short mode", ""},
		{StatusError, pkg + "/internal/store", "[build failed]", 0, "undefined: sqlOpen", ""},
	}, map[string]int{StatusSucceeded: 2, StatusFailed: 1, StatusSkipped: 1, StatusError: 1, StatusUnknown: 0})
	if rep.Status() != StatusFailed {
		t.Errorf("report status %s", rep.Status())
	}
}

func TestParseJUnitPytest(t *testing.T) {
	rep, err := ParseJUnit(open(t, "pytest.xml"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, rep, []want{
		{StatusSucceeded, "tests.test_api", "test_health", 4_000_000, "", "tests/test_api.py"},
		{StatusSucceeded, "tests.test_api", "test_create_order[json]", 21_000_000, "", "tests/test_api.py"},
		{StatusFailed, "tests.test_api", "test_create_order[xml]", 19_000_000, "AssertionError: assert 415 == 201\n +  where 415 = <Response [415]>.status_code\nclient = ", "tests/test_api.py"},
		{StatusError, "tests.test_db", "test_migrations", 1_000_000, `failed on setup with "psycopg2.OperationalError`, "tests/test_db.py"},
		{StatusSkipped, "tests.test_db", "test_backup", 0, "needs S3 credentials\ntests/test_db.py:11", "tests/test_db.py"},
		{StatusSkipped, "tests.test_legacy", "test_old_format", 1_000_000, "format 1 is gone", "tests/test_legacy.py"},
	}, map[string]int{StatusSucceeded: 2, StatusFailed: 1, StatusError: 1, StatusSkipped: 2})
}

func TestParseJUnitSurefire(t *testing.T) {
	rep, err := ParseJUnit(open(t, "surefire.xml"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, rep, []want{
		{StatusSucceeded, "com.example.OrderServiceTest", "createsOrder", 12_000_000, "", ""},
		{StatusSucceeded, "com.example.OrderServiceTest", "retriesPayment", 1_500_000_000, "", ""}, // flaky, passed on rerun
		{StatusFailed, "com.example.OrderServiceTest", "rejectsNegativeTotal", 1_233_001_000_000, "expected: <IllegalArgumentException> but was: <null>\n\tat com.example", ""},
	}, map[string]int{StatusSucceeded: 2, StatusFailed: 1})
}

func TestParseJUnitJest(t *testing.T) {
	rep, err := ParseJUnit(open(t, "jest-junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, rep, []want{
		{StatusSucceeded, "cart adds an item", "cart adds an item", 4_000_000, "", "src/cart.test.ts"},
		{StatusFailed, "cart applies a coupon", "cart applies a coupon", 11_000_000, "Expected: 90\nReceived: 100", "src/cart.test.ts"},
		{StatusSkipped, "cart removes expired coupons", "cart removes expired coupons", 0, "", "src/cart.test.ts"},
		{StatusSucceeded, "checkout pays", "checkout pays", 200_000_000, "", "src/checkout.test.ts"},
	}, map[string]int{StatusSucceeded: 2, StatusFailed: 1, StatusSkipped: 1})
}

func TestParseJUnitGoogletestLatin1(t *testing.T) {
	rep, err := ParseJUnit(open(t, "googletest.xml"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, rep, []want{
		{StatusSucceeded, "Parser", "ParsesCafé", 2_000_000, "", "parser_test.cc"},
		{StatusSkipped, "Parser", "DISABLED_Slow", 0, "", "parser_test.cc"},
	}, nil)
}

func TestParseJUnitEdgeCases(t *testing.T) {
	long := strings.Repeat("é", 3000)
	cases := []struct {
		name string
		in   string
		err  error
		n    int
	}{
		{"bare testsuite", `<testsuite name="s"><testcase name="a" time="nonsense"/><testcase name="b" time="-3"/></testsuite>`, nil, 2},
		{"empty testsuites", `<testsuites/>`, nil, 0},
		{"not junit", `<html><body/></html>`, ErrInvalid, 0},
		{"not xml", `{"a":1}`, ErrInvalid, 0},
		{"empty", ``, ErrInvalid, 0},
		{"truncated", `<testsuites><testsuite><testcase name="a">`, ErrInvalid, 0},
		{"too deep", strings.Repeat("<testsuite>", maxDepth+1), ErrInvalid, 0},
		{"unknown entity", `<!DOCTYPE x [<!ENTITY a "b">]><testsuites><testcase name="&a;"/></testsuites>`, ErrInvalid, 0},
		{"unknown encoding", `<?xml version="1.0" encoding="EBCDIC"?><testsuites/>`, ErrInvalid, 0},
		{"long message", `<testsuite><testcase name="a"><failure message="` + long + `"/></testcase></testsuite>`, nil, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := ParseJUnit(strings.NewReader(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if len(rep.Cases) != tc.n {
				t.Errorf("%d cases, want %d", len(rep.Cases), tc.n)
			}
			for _, c := range rep.Cases {
				if len(c.Message) > MaxMessageBytes || !utf8.ValidString(c.Message) {
					t.Errorf("message of %d bytes, valid UTF-8 %v", len(c.Message), utf8.ValidString(c.Message))
				}
				if c.DurationNanos < 0 {
					t.Errorf("negative duration")
				}
			}
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	defer func(old int64) { maxInput = old }(maxInput)
	maxInput = 1 << 20 // MaxInputBytes behaves the same, 64 times slower
	big := bytes.NewBuffer(nil)
	big.WriteString("<testsuites>")
	pad := strings.Repeat(" ", 1<<16)
	for int64(big.Len()) <= maxInput {
		big.WriteString(pad)
	}
	big.WriteString("</testsuites>")
	if _, err := ParseJUnit(bytes.NewReader(big.Bytes())); !errors.Is(err, ErrTooLarge) {
		t.Errorf("junit: err = %v", err)
	}
	js := append([]byte("["), big.Bytes()[12:]...)
	if _, err := ParseCucumber(bytes.NewReader(js)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("cucumber: err = %v", err)
	}
}

func TestManyCasesCountedButCapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("<testsuite>")
	for range MaxCases + 10 {
		b.WriteString(`<testcase name="t" time="0.001"/>`)
	}
	b.WriteString("</testsuite>")
	rep, err := ParseJUnit(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Cases) != MaxCases || rep.Dropped != 10 || rep.Summary.Total != MaxCases+10 || rep.Summary.ByStatus[StatusSucceeded] != MaxCases+10 {
		t.Errorf("cases %d dropped %d total %d", len(rep.Cases), rep.Dropped, rep.Summary.Total)
	}
}

func TestParseCucumber(t *testing.T) {
	rep, err := ParseCucumber(open(t, "cucumber.json"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, rep, []want{
		{StatusSucceeded, "Checkout", "Pays with a card", 120_000_000 + 350_000_000 + 30_000_000, "", "features/checkout.feature"},
		{StatusFailed, "Checkout", "Pays with an expired card", 110_000_000 + 200_000_000 + 5_000_000_000, "TimeoutException: Expected condition failed", "features/checkout.feature"},
		{StatusError, "Refunds", "Partial refund", 1_000_000, "undefined step: When support refunds 10 EUR", "features/refunds.feature"},
		{StatusSkipped, "Refunds", "Refund to gift card", 2_000_000, "pending step: When support refunds it\nTODO: implement me", "features/refunds.feature"},
		{StatusFailed, "Refunds", "Refund is audited", 3_000_000, "audit log unreachable", "features/refunds.feature"},
	}, map[string]int{StatusSucceeded: 1, StatusFailed: 2, StatusError: 1, StatusSkipped: 1, StatusUnknown: 0})
}

func TestParseCucumberEdgeCases(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		err    error
		status []string
	}{
		{"empty array", `[]`, nil, nil},
		{"object not array", `{"uri":"x"}`, ErrInvalid, nil},
		{"garbage", `[{]`, ErrInvalid, nil},
		{"empty", ``, ErrInvalid, nil},
		{"no steps", `[{"name":"f","elements":[{"name":"s","type":"scenario"}]}]`, nil, []string{StatusSucceeded}},
		{"unknown status", `[{"elements":[{"name":"s","steps":[{"result":{"status":"passed"}},{"result":{"status":"weird"}}]}]}]`, nil, []string{StatusUnknown}},
		{"ambiguous", `[{"elements":[{"name":"s","steps":[{"result":{"status":"ambiguous"}}]}]}]`, nil, []string{StatusError}},
		{"seconds duration", `[{"elements":[{"name":"s","steps":[{"result":{"status":"passed","duration":0.25}}]}]}]`, nil, []string{StatusSucceeded}},
		{"failed hook before", `[{"elements":[{"name":"s","before":[{"result":{"status":"failed","error_message":"db down"}}],"steps":[{"result":{"status":"skipped"}}]}]}]`, nil, []string{StatusFailed}},
		{"deep nesting", "[" + strings.Repeat(`{"x":[`, 20000) + strings.Repeat(`]}`, 20000) + "]", ErrInvalid, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := ParseCucumber(strings.NewReader(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			var got []string
			for _, c := range rep.Cases {
				got = append(got, c.Status)
			}
			if strings.Join(got, ",") != strings.Join(tc.status, ",") {
				t.Errorf("statuses %v, want %v", got, tc.status)
			}
		})
	}
	rep, _ := ParseCucumber(strings.NewReader(`[{"elements":[{"name":"s","steps":[{"result":{"status":"passed","duration":0.25}}]}]}]`))
	if rep.Cases[0].DurationNanos != 250_000_000 {
		t.Errorf("seconds duration read as %d", rep.Cases[0].DurationNanos)
	}
}

func TestParseFormat(t *testing.T) {
	if _, err := Parse("junitxml", open(t, "pytest.xml")); err != nil {
		t.Error(err)
	}
	if _, err := Parse("CucumberJson", open(t, "cucumber.json")); err != nil {
		t.Error(err)
	}
	if _, err := Parse("NUNITXML", strings.NewReader("")); !errors.Is(err, ErrUnsupportedFormat) {
		t.Errorf("err = %v", err)
	}
}
