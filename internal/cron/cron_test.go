package cron

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zone data for the DST tests, whatever the host has installed
)

const business = "* * 9-17 ? * MON-FRI *"

func mustParse(t testing.TB, expr string) *Schedule {
	t.Helper()
	s, err := Parse(expr)
	if err != nil {
		t.Fatalf("Parse(%q): %v", expr, err)
	}
	return s
}

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("LoadLocation(%q): %v", name, err)
	}
	return loc
}

func utc(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

func TestParseValid(t *testing.T) {
	for _, expr := range []string{
		business,
		"* * 9-17 ? * MON-FRI",
		"* */15 * * * ?",
		"* 10-50/20 * ? * *",
		"* 5/20 * ? * *",
		"* 0 22-2 ? * *",
		"* 0 12 L * ?",
		"* 0 12 L-3 * ?",
		"* 0 12 L-0 * ?",
		"* 0 12 15W * ?",
		"* 0 12 LW * ?",
		"* 0 12 l * ?",
		"* 0 12 15w * ?",
		"* 0 12 ? * 6L",
		"* 0 12 ? * FRIL",
		"* 0 12 ? * 6#3",
		"* 0 12 ? * fri#3",
		"* 0 12 ? * L",
		"* 0 12 ? jan-mar,DEC mon",
		"* 0 12 ? * sat-sun",
		"* 0 0 1 1 ? 2025-2031/3",
		"* 0 0 1 1 ? */10",
		"* 0 0 1 1 ? 2199",
		"*\t0  12 ?\t* SUN ",
		"* 0,15,30,45 * 1-31/2 * ?",
		"* 0 0 28-3 * ?",
	} {
		s, err := Parse(expr)
		if err != nil {
			t.Errorf("Parse(%q): unexpected error %v", expr, err)
			continue
		}
		if s.String() != expr {
			t.Errorf("Parse(%q).String() = %q", expr, s.String())
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct{ expr, want string }{
		{"", "cron: expected 6 or 7 fields"},
		{"* * * * *", "got 5"},
		{"* * * * * ? * *", "got 8"},
		{"0 * * * * ?", `cron: seconds field "0": only * is supported`},
		{"* 60 * * * ?", `cron: minutes field "60": value 60 out of range 0-59`},
		{"* * 25 * * ?", `cron: hours field "25": value 25 out of range 0-23`},
		{"* * 20-24 * * ?", `cron: hours field "20-24": value 24 out of range 0-23`},
		{"* * * 0 * ?", `cron: day-of-month field "0": value 0 out of range 1-31`},
		{"* * * 32W * ?", `cron: day-of-month field "32W": value 32 out of range 1-31`},
		{"* * * L-31 * ?", `cron: day-of-month field "L-31": offset 31 out of range 0-30`},
		{"* * * L-x * ?", `cron: day-of-month field "L-x": invalid offset "X" after L-`},
		{"* * * 1-15W * ?", `cron: day-of-month field "1-15W": W needs a single day before it`},
		{"* * * L,15 * ?", `cron: day-of-month field "L,15": L and W must be used alone`},
		{"* * * 1,? * ?", `cron: day-of-month field "1,?": ? must be used alone`},
		{"* * * * 13 ?", `cron: month field "13": value 13 out of range 1-12`},
		{"* * * * FOO ?", `cron: month field "FOO": invalid value "FOO" (want 1-12 or JAN-DEC)`},
		{"* * * ? * 8", `cron: day-of-week field "8": value 8 out of range 1-7`},
		{"* * * ? * 0", `cron: day-of-week field "0": value 0 out of range 1-7`},
		{"* * * ? * 6#6", `cron: day-of-week field "6#6": occurrence 6 out of range 1-5`},
		{"* * * ? * 6#0", `cron: day-of-week field "6#0": occurrence 0 out of range 1-5`},
		{"* * * ? * 6#", `cron: day-of-week field "6#": invalid occurrence "" after #`},
		{"* * * ? * 8L", `cron: day-of-week field "8L": value 8 out of range 1-7`},
		{"* * * ? * 1,6L", `cron: day-of-week field "1,6L": L and # must be used alone`},
		{"* * * ? * MON-FUN", `cron: day-of-week field "MON-FUN": invalid value "FUN"`},
		{"* * * * * ? 1969", `cron: year field "1969": value 1969 out of range 1970-2199`},
		{"* * * * * ? 2030-2025", `cron: year field "2030-2025": range 2030-2025 ends before it starts`},
		{"* * * * * *", "cron: specify ? in either day-of-month or day-of-week"},
		{"* * * 1 * MON", "cron: specify ? in either day-of-month or day-of-week"},
		{"* * * ? * ?", "cron: ? cannot be used in both day-of-month and day-of-week"},
		{"* ? * * * ?", `cron: minutes field "?": ? is only allowed in day-of-month and day-of-week`},
		{"* */0 * * * ?", `cron: minutes field "*/0": increment 0 out of range 1-60`},
		{"* */61 * * * ?", `cron: minutes field "*/61": increment 61 out of range 1-60`},
		{"* 5/x * * * ?", `cron: minutes field "5/x": invalid increment "X"`},
		{"* 1,,2 * * * ?", `cron: minutes field "1,,2": empty list element`},
		{"* -1 * * * ?", `cron: minutes field "-1": invalid value "" (want 0-59)`},
		{"* 1-2-3 * * * ?", `cron: minutes field "1-2-3": invalid value "2-3"`},
		{"* ** * * * ?", `cron: minutes field "**": invalid value "**"`},
		{"* 12345 * * * ?", `cron: number "12345" has more than 4 digits`},
		{"* * * * * ? 99999", `cron: number "99999" has more than 4 digits`},
		{"* 00000000000000000000001 * * * ?", "has more than 4 digits"},
		{strings.Repeat("* ", 129), "cron: expression is 258 bytes, longer than the limit of 256"},
	} {
		s, err := Parse(c.expr)
		if err == nil {
			t.Errorf("Parse(%q) = %v, want error containing %q", c.expr, s, c.want)
			continue
		}
		if s != nil {
			t.Errorf("Parse(%q) returned a schedule with error %v", c.expr, err)
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error = %q, want it to contain %q", c.expr, err, c.want)
		}
	}
}

func TestMatches(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	for _, c := range []struct {
		expr string
		at   time.Time
		want bool
	}{
		// Business hours; 2026-03-02 is a Monday, 2026-03-07 a Saturday.
		{business, utc(2026, 3, 2, 9, 0), true},
		{business, time.Date(2026, 3, 2, 9, 0, 59, 999, time.UTC), true},
		{business, utc(2026, 3, 2, 17, 59), true},
		{business, utc(2026, 3, 2, 18, 0), false},
		{business, utc(2026, 3, 2, 8, 59), false},
		{business, utc(2026, 3, 6, 12, 0), true},
		{business, utc(2026, 3, 7, 10, 0), false},
		{business, utc(2026, 3, 8, 10, 0), false},
		// Evaluated in t's own location: 14:00 UTC is 09:00 in New York (EST).
		{business, utc(2026, 3, 2, 14, 0).In(ny), true},
		{business, utc(2026, 3, 2, 9, 0).In(ny), false},
		// L: last day of the month.
		{"* 0 12 L * ?", utc(2026, 2, 28, 12, 0), true},
		{"* 0 12 L * ?", utc(2024, 2, 29, 12, 0), true},
		{"* 0 12 L * ?", utc(2024, 2, 28, 12, 0), false},
		{"* 0 12 L * ?", utc(2026, 4, 30, 12, 0), true},
		{"* 0 12 L * ?", utc(2026, 5, 30, 12, 0), false},
		// L-3: three days before the last day.
		{"* 0 12 L-3 * ?", utc(2026, 2, 25, 12, 0), true},
		{"* 0 12 L-3 * ?", utc(2026, 1, 28, 12, 0), true},
		{"* 0 12 L-3 * ?", utc(2026, 1, 31, 12, 0), false},
		// 15W: 2026-08-15 is a Saturday, 2026-03-15 a Sunday.
		{"* 0 12 15W * ?", utc(2026, 8, 14, 12, 0), true},
		{"* 0 12 15W * ?", utc(2026, 8, 15, 12, 0), false},
		{"* 0 12 15W * ?", utc(2026, 3, 16, 12, 0), true},
		{"* 0 12 15W * ?", utc(2026, 3, 15, 12, 0), false},
		{"* 0 12 15W * ?", utc(2026, 4, 15, 12, 0), true}, // Wednesday
		// 1W on a Saturday moves forward to Monday the 3rd, not back into July.
		{"* 0 12 1W * ?", utc(2026, 8, 3, 12, 0), true},
		{"* 0 12 1W * ?", utc(2026, 7, 31, 12, 0), false},
		{"* 0 12 1W * ?", utc(2026, 2, 2, 12, 0), true}, // the 1st is a Sunday
		// 31W when the 31st is a Sunday moves back to Friday; no 31st, no match.
		{"* 0 12 31W * ?", utc(2026, 5, 29, 12, 0), true},
		{"* 0 12 31W * ?", utc(2026, 6, 1, 12, 0), false},
		{"* 0 12 31W * ?", utc(2026, 4, 30, 12, 0), false},
		// LW: last weekday of the month.
		{"* 0 12 LW * ?", utc(2026, 1, 30, 12, 0), true}, // the 31st is a Saturday
		{"* 0 12 LW * ?", utc(2026, 1, 31, 12, 0), false},
		{"* 0 12 LW * ?", utc(2026, 5, 29, 12, 0), true}, // the 31st is a Sunday
		{"* 0 12 LW * ?", utc(2026, 3, 31, 12, 0), true}, // Tuesday
		// 6L: last Friday; 6#3: third Friday.
		{"* 0 12 ? * 6L", utc(2026, 2, 27, 12, 0), true},
		{"* 0 12 ? * 6L", utc(2026, 2, 20, 12, 0), false},
		{"* 0 12 ? * FRIL", utc(2026, 2, 27, 12, 0), true},
		{"* 0 12 ? * 6#3", utc(2026, 3, 20, 12, 0), true},
		{"* 0 12 ? * 6#3", utc(2026, 3, 13, 12, 0), false},
		{"* 0 12 ? * 6#3", utc(2026, 3, 27, 12, 0), false},
		{"* 0 12 ? * 1#5", utc(2026, 3, 29, 12, 0), true}, // fifth Sunday of March 2026
		{"* 0 12 ? * 1#5", utc(2026, 2, 22, 12, 0), false},
		// L alone in day-of-week is Saturday.
		{"* 0 12 ? * L", utc(2026, 3, 7, 12, 0), true},
		{"* 0 12 ? * L", utc(2026, 3, 6, 12, 0), false},
		// Month and day names, case-insensitive.
		{"* 0 12 ? jan-mar,DEC mon", utc(2026, 3, 2, 12, 0), true},
		{"* 0 12 ? jan-mar,DEC mon", utc(2026, 4, 6, 12, 0), false},
		{"* 0 12 ? jan-mar,DEC mon", utc(2026, 12, 7, 12, 0), true},
		{"* 0 12 ? * sat-sun", utc(2026, 3, 8, 12, 0), true},
		{"* 0 12 ? * sat-sun", utc(2026, 3, 9, 12, 0), false},
		// Increments and wrapping ranges.
		{"* */15 * ? * *", utc(2026, 3, 2, 5, 45), true},
		{"* */15 * ? * *", utc(2026, 3, 2, 5, 46), false},
		{"* 10-50/20 * ? * *", utc(2026, 3, 2, 5, 30), true},
		{"* 10-50/20 * ? * *", utc(2026, 3, 2, 5, 50), true},
		{"* 10-50/20 * ? * *", utc(2026, 3, 2, 5, 0), false},
		{"* 10-50/20 * ? * *", utc(2026, 3, 2, 5, 20), false},
		{"* 5/20 * ? * *", utc(2026, 3, 2, 5, 45), true},
		{"* 5/20 * ? * *", utc(2026, 3, 2, 5, 55), false},
		{"* 0 22-2 ? * *", utc(2026, 3, 2, 23, 0), true},
		{"* 0 22-2 ? * *", utc(2026, 3, 2, 2, 0), true},
		{"* 0 22-2 ? * *", utc(2026, 3, 2, 3, 0), false},
		{"* 0 22-2 ? * *", utc(2026, 3, 2, 21, 0), false},
		{"* 0 12 ? * */2", utc(2026, 3, 7, 12, 0), true},  // 1,3,5,7: Sat
		{"* 0 12 ? * */2", utc(2026, 3, 2, 12, 0), false}, // Mon
		// Year field.
		{"* 0 0 1 1 ? 2025-2031/3", utc(2028, 1, 1, 0, 0), true},
		{"* 0 0 1 1 ? 2025-2031/3", utc(2027, 1, 1, 0, 0), false},
		{"* 0 0 1 1 ? 2025-2031/3", utc(2031, 1, 1, 0, 0), true},
		{"* 0 0 1 1 ? 2025-2031/3", utc(2034, 1, 1, 0, 0), false},
		{"* * * ? * *", utc(1969, 12, 31, 23, 59), false},
		{"* * * ? * *", utc(2200, 1, 1, 0, 0), false},
	} {
		if got := mustParse(t, c.expr).Matches(c.at); got != c.want {
			t.Errorf("Parse(%q).Matches(%v) = %v, want %v", c.expr, c.at, got, c.want)
		}
	}
}

func TestNext(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	for _, c := range []struct {
		name string
		expr string
		from time.Time
		want time.Time // zero: no next time
	}{
		{"inside window is the same minute truncated", business,
			time.Date(2026, 3, 2, 10, 17, 42, 5, time.UTC), utc(2026, 3, 2, 10, 17)},
		{"Friday evening to Monday morning", business,
			utc(2026, 3, 6, 18, 0), utc(2026, 3, 9, 9, 0)},
		{"before the window the same day", business,
			utc(2026, 3, 2, 7, 30), utc(2026, 3, 2, 9, 0)},
		{"in New York time", business,
			time.Date(2026, 3, 6, 18, 0, 0, 0, ny), time.Date(2026, 3, 9, 9, 0, 0, 0, ny)},
		{"February 29th", "* 0 12 29 2 ? *",
			utc(2025, 3, 1, 0, 0), utc(2028, 2, 29, 12, 0)},
		{"minute increments", "* 10-50/20 * ? * *",
			utc(2026, 3, 2, 5, 51), utc(2026, 3, 2, 6, 10)},
		{"last weekday", "* 0 12 LW * ?",
			utc(2026, 1, 30, 12, 1), utc(2026, 2, 27, 12, 0)},
		{"third Friday", "* 0 12 ? * 6#3",
			utc(2026, 3, 21, 0, 0), utc(2026, 4, 17, 12, 0)},
		{"year field", "* 0 0 1 1 ? 2025-2031/3",
			utc(2028, 1, 1, 0, 1), utc(2031, 1, 1, 0, 0)},
		{"last year", "* 59 23 L 12 ? *",
			utc(2199, 12, 31, 23, 58), utc(2199, 12, 31, 23, 59)},
		{"from before 1970", "* * * ? * *",
			time.Date(-500, 1, 1, 0, 0, 0, 0, time.UTC), utc(1970, 1, 1, 0, 0)},
		{"never: February 31st", "* * * 31 2 ? *", utc(2025, 1, 1, 0, 0), time.Time{}},
		{"never: 30W in February", "* * * 30W 2 ? *", utc(2025, 1, 1, 0, 0), time.Time{}},
		{"never: past years", "* * * ? * * 1970-2025", utc(2026, 1, 1, 0, 0), time.Time{}},
		{"never: after 2199", "* * * ? * *", utc(2200, 1, 1, 0, 0), time.Time{}},
		{"never: after last minute", "* * * ? * *", utc(2199, 12, 31, 23, 59).Add(time.Minute), time.Time{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := mustParse(t, c.expr).Next(c.from)
			if c.want.IsZero() {
				if ok {
					t.Fatalf("Next(%v) = %v, true; want none", c.from, got)
				}
				return
			}
			if !ok || !got.Equal(c.want) {
				t.Fatalf("Next(%v) = %v, %v; want %v", c.from, got, ok, c.want)
			}
			if got.Location() != c.from.Location() {
				t.Errorf("Next(%v) location = %v, want %v", c.from, got.Location(), c.from.Location())
			}
		})
	}
}

// TestNextDST pins the daylight-saving rule documented on the package: evaluation is on the wall
// clock, a wall-clock minute that does not exist is skipped (not moved), and one that happens twice
// is selected both times. In America/New_York, 2026-03-08 goes from 01:59 EST to 03:00 EDT and
// 2026-11-01 from 01:59 EDT back to 01:00 EST.
func TestNextDST(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	inNY := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, ny) }
	for _, c := range []struct {
		name string
		expr string
		from time.Time
		want time.Time
	}{
		{"02:30 does not exist on spring-forward day", "* 30 2 ? * *",
			inNY(2026, 3, 8, 0, 0), inNY(2026, 3, 9, 2, 30)},
		{"spring-forward day from the day before", "* 30 2 ? * *",
			inNY(2026, 3, 7, 2, 31), inNY(2026, 3, 9, 2, 30)},
		{"hour 2 does not exist on spring-forward day", "* * 2 ? * *",
			inNY(2026, 3, 8, 1, 59), inNY(2026, 3, 9, 2, 0)},
		{"03:00 EDT right after the gap", "* * 3 ? * *",
			inNY(2026, 3, 8, 1, 30), utc(2026, 3, 8, 7, 0)},
		{"first 01:30 on fall-back day", "* 30 1 ? * *",
			inNY(2026, 11, 1, 0, 0), utc(2026, 11, 1, 5, 30)},
		{"second 01:30 on fall-back day", "* 30 1 ? * *",
			utc(2026, 11, 1, 5, 31).In(ny), utc(2026, 11, 1, 6, 30)},
		{"after both 01:30s", "* 30 1 ? * *",
			utc(2026, 11, 1, 6, 31).In(ny), utc(2026, 11, 2, 6, 30)},
		{"02:00 EST after the repeated hour", "* 0 2 ? * *",
			utc(2026, 11, 1, 5, 30).In(ny), utc(2026, 11, 1, 7, 0)},
		// Past 2037 New York's transitions come from its TZ rule; 2040 is a leap year, where
		// ZoneBounds misreports the end of the last period (golang/go#81583).
		{"second 01:30 on fall-back day 2040", "* 30 1 ? * *",
			utc(2040, 11, 4, 5, 31).In(ny), utc(2040, 11, 4, 6, 30)},
		{"new year 2041 from the last UTC day of 2040", "* 0 0 1 1 ? *",
			inNY(2040, 12, 30, 20, 0), inNY(2041, 1, 1, 0, 0)},
		{"spring-forward day 2040", "* 30 2 ? * *",
			inNY(2040, 3, 10, 23, 0), inNY(2040, 3, 12, 2, 30)},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := mustParse(t, c.expr)
			got, ok := s.Next(c.from)
			if !ok || !got.Equal(c.want) {
				t.Fatalf("Next(%v) = %v, %v; want %v", c.from, got, ok, c.want.In(ny))
			}
			if !s.Matches(got) {
				t.Errorf("Matches(%v) = false for the result of Next", got)
			}
		})
	}
	// The nonexistent wall time is not matched at the instant the clock shows instead.
	if s := mustParse(t, "* 30 2 ? * *"); s.Matches(utc(2026, 3, 8, 7, 30).In(ny)) {
		t.Errorf("Matches(03:30 EDT on 2026-03-08) = true for a 02:30 schedule")
	}
}

// TestNextBounded holds Next to a handful of steps: never-matching expressions are decided by
// calendar arithmetic alone, and long searches jump over whole time-zone periods, including past
// 2037 where New York's periods come from its TZ rule and, in leap years, ZoneBounds returns an end
// before the instant (golang/go#81583).
func TestNextBounded(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	for _, c := range []struct {
		expr     string
		from     time.Time
		ok       bool
		maxSteps int
	}{
		{"* * * 31 2 ? *", utc(1970, 1, 1, 0, 0), false, 1},
		{"* * * 31 2 ? *", inNYLoc(ny, 2026), false, 1},
		{"* * * 31 2,4,6,9,11 ? *", inNYLoc(ny, 2026), false, 1},
		{"* * * ? * 1#5 1970", inNYLoc(ny, 2026), false, 1},
		{"* * * ? * * 2199", utc(1970, 1, 1, 0, 0), true, 2},
		{"* * * ? * * 2199", inNYLoc(ny, 2026), true, 6},
		{"* 0 0 1 1 ? 2041", inNYLoc(ny, 2026), true, 8},
		{"* 0 12 29 2 ? *", inNYLoc(ny, 2025), true, 4},
		{business, inNYLoc(ny, 2026), true, 4},
	} {
		r, ok, steps := mustParse(t, c.expr).next(c.from)
		if ok != c.ok {
			t.Errorf("Parse(%q).Next(%v) = %v, %v; want ok %v", c.expr, c.from, r, ok, c.ok)
		}
		if steps > c.maxSteps {
			t.Errorf("Parse(%q).Next(%v) took %d steps, want at most %d", c.expr, c.from, steps, c.maxSteps)
		}
	}
}

func inNYLoc(ny *time.Location, y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, ny) }

// TestNextProperty checks Next against a minute-by-minute scan of the next three days: the result
// matches, and no earlier minute does.
func TestNextProperty(t *testing.T) {
	locs := []*time.Location{
		time.UTC,
		mustLoad(t, "America/New_York"),
		mustLoad(t, "Australia/Lord_Howe"), // 30-minute DST shifts
		mustLoad(t, "Asia/Kolkata"),        // half-hour offset
	}
	// Instants near the 2026 transitions of the zones above, to exercise the edges.
	transitions := []time.Time{
		utc(2026, 3, 8, 7, 0), utc(2026, 11, 1, 6, 0),
		utc(2026, 4, 4, 15, 0), utc(2026, 10, 3, 15, 30),
		// From New York's TZ rule, and the end of leap year 2040 (golang/go#81583).
		utc(2040, 3, 11, 7, 0), utc(2040, 11, 4, 6, 0), utc(2040, 12, 31, 0, 0),
	}
	exprs := []string{
		business,
		"* */15 * ? * *",
		"* 10-50/20 22-2 ? * *",
		"* 30 2 ? * *",
		"* 0,30 1-3 ? * *",
		"* 45 1 ? * SUN",
		"* 0 12 L * ?",
		"* 0 9 15W * ?",
		"* 0 0 ? * 6#3 *",
		"* 0 12 29 2 ? *",
		"* 59 23 LW * ?",
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const window = 3 * 24 * time.Hour
	for _, expr := range exprs {
		s := mustParse(t, expr)
		for _, loc := range locs {
			for i := 0; i < 12; i++ {
				var from time.Time
				if i%2 == 0 {
					from = utc(2024, 1, 1, 0, 0).Add(time.Duration(rng.Int64N(int64(6 * 365 * 24 * time.Hour))))
				} else {
					tr := transitions[rng.IntN(len(transitions))]
					from = tr.Add(time.Duration(rng.Int64N(int64(window))) - window/2)
				}
				from = from.Add(time.Duration(rng.Int64N(int64(time.Minute)))).In(loc)
				got, ok := s.Next(from)
				start := from.Add(-time.Duration(from.Second())*time.Second - time.Duration(from.Nanosecond()))
				if ok {
					if !s.Matches(got) {
						t.Errorf("%q: Next(%v) = %v, which does not match", expr, from, got)
					}
					if got.Before(start) || got.Second() != 0 || got.Nanosecond() != 0 {
						t.Errorf("%q: Next(%v) = %v, not a minute start at or after %v", expr, from, got, start)
					}
				}
				var want time.Time
				for m := start; m.Sub(start) < window; m = m.Add(time.Minute) {
					if s.Matches(m) {
						want = m
						break
					}
				}
				switch {
				case !want.IsZero() && (!ok || !got.Equal(want)):
					t.Errorf("%q: Next(%v) = %v, %v; minute scan found %v", expr, from, got, ok, want)
				case want.IsZero() && ok && got.Sub(start) < window:
					t.Errorf("%q: Next(%v) = %v; minute scan found nothing before %v", expr, from, got, start.Add(window))
				}
			}
		}
	}
}

func BenchmarkNextNever(b *testing.B) {
	s := mustParse(b, "* * * 31 2 ? *")
	from := utc(2026, 1, 1, 0, 0)
	for b.Loop() {
		s.Next(from)
	}
}

func BenchmarkNextFarInNewYork(b *testing.B) {
	s := mustParse(b, "* * * ? * * 2199")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, mustLoad(b, "America/New_York"))
	for b.Loop() {
		s.Next(from)
	}
}

func BenchmarkNextBusinessHours(b *testing.B) {
	s := mustParse(b, business)
	from := utc(2026, 3, 6, 18, 0)
	for b.Loop() {
		s.Next(from)
	}
}
