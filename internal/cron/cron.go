// Package cron evaluates the Cron setting of an AWS CodePipeline DeploymentWindow rule, "the days and
// times when the deployment will be allowed", so a pipeline can say whether a window is open now and
// when it opens next without asking AWS.
//
// The expression is Quartz style: six whitespace-separated fields and an optional seventh,
//
//	seconds minutes hours day-of-month month day-of-week [year]
//
// Seconds accepts only "*" (AWS documents it as not applicable). Minutes 0-59, hours 0-23,
// day-of-month 1-31, month 1-12 or JAN-DEC, day-of-week 1-7 or SUN-SAT (1 is Sunday) and year
// 1970-2199 take "*", lists (a,b), ranges (a-b) and increments (a/n, */n, a-b/n). Names, L and W are
// case-insensitive. A range whose start is after its end wraps around, as in Quartz: hours "22-2" are
// 22, 23, 0, 1 and 2 (not allowed for the year).
//
// Day-of-month also takes L (last day), L-n (n days before the last day), nW (the weekday nearest day
// n, never leaving the month; no match in months shorter than n days) and LW (the last weekday).
// Day-of-week also takes L alone (Saturday), nL (the last day n of the month) and n#k (the k-th day n
// of the month). Exactly one of day-of-month and day-of-week must be "?" (no specific value).
//
// Evaluation uses the wall clock of the time's own location. Across daylight-saving changes:
//   - a wall-clock minute that does not exist (spring forward) is never selected and is not moved:
//     "* 30 2 ? * *" in America/New_York skips 2026-03-08, where 02:30 does not exist, and next
//     selects 2026-03-09 02:30;
//   - a wall-clock minute that happens twice (fall back) is selected both times.
package cron

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

const (
	// maxExprLen and maxDigits bound the work done on untrusted input before it is parsed.
	maxExprLen = 256
	maxDigits  = 4

	minYear = 1970
	maxYear = 2199

	// maxSteps bounds Next's loop. A step either finds the answer, jumps straight to the next
	// selected wall-clock minute, stops at the end of a time-zone period less than farMargin
	// away or jumps to farMargin short of the answer, so real searches take a handful of steps.
	maxSteps = 1000

	// farMargin is more than any difference between two UTC offsets of one zone (tzdata offsets
	// are within -12h and +14h), which lets Next jump over whole zone periods; see next.
	farMargin = 48 * time.Hour
)

// Schedule is a parsed expression. It is immutable and safe for concurrent use.
type Schedule struct {
	expr    string
	minutes uint64    // bit v: minute v selected
	hours   uint64    // bit v: hour v selected
	months  uint64    // bit v: month v (1-12) selected
	years   [4]uint64 // bit y-minYear: year y selected
	day     dayRule
}

// dayKind says which of the day-of-month / day-of-week forms selects days; "?" is the other field.
type dayKind uint8

const (
	dayNone        dayKind = iota // "?" while parsing; selects no day in a zero Schedule
	domList                       // plain day-of-month values in dayRule.set
	domLast                       // L or L-n: last day minus dayRule.n
	domLastWeekday                // LW
	domNearest                    // nW: weekday nearest day dayRule.n
	dowList                       // plain day-of-week values (1-7) in dayRule.set
	dowLast                       // nL: last day-of-week dayRule.wd in the month
	dowNth                        // wd#n: dayRule.n-th day-of-week dayRule.wd in the month
)

type dayRule struct {
	kind dayKind
	set  uint64 // domList: bits 1-31; dowList: bits 1-7
	n    int
	wd   int // day of week, 0 = Sunday
}

// Parse parses an expression. Errors name the field, for example
// `cron: hours field "25": value 25 out of range 0-23`. Parse never panics, and rejects expressions
// longer than 256 bytes or with numbers of more than 4 digits before doing anything else, because
// the expression comes from users.
func Parse(expr string) (*Schedule, error) {
	if len(expr) > maxExprLen {
		return nil, fmt.Errorf("cron: expression is %d bytes, longer than the limit of %d", len(expr), maxExprLen)
	}
	for i := 0; i < len(expr); {
		j := i
		for j < len(expr) && isDigit(expr[j]) {
			j++
		}
		if j-i > maxDigits {
			return nil, fmt.Errorf("cron: number %q has more than %d digits", expr[i:j], maxDigits)
		}
		if j == i {
			j++
		}
		i = j
	}

	fields := strings.Fields(expr)
	if len(fields) != 6 && len(fields) != 7 {
		return nil, fmt.Errorf("cron: expected 6 or 7 fields (seconds minutes hours day-of-month month day-of-week [year]), got %d", len(fields))
	}
	s := &Schedule{expr: expr}
	if fields[0] != "*" {
		return nil, fieldErr(specs[fSeconds], fields[0], errors.New("only * is supported"))
	}
	var err error
	var set [4]uint64
	if set, err = parseList(specs[fMinutes], fields[1]); err != nil {
		return nil, err
	}
	s.minutes = set[0]
	if set, err = parseList(specs[fHours], fields[2]); err != nil {
		return nil, err
	}
	s.hours = set[0]
	dom, err := parseDayOfMonth(fields[3])
	if err != nil {
		return nil, err
	}
	if set, err = parseList(specs[fMonth], fields[4]); err != nil {
		return nil, err
	}
	s.months = set[0]
	dow, err := parseDayOfWeek(fields[5])
	if err != nil {
		return nil, err
	}
	year := "*"
	if len(fields) == 7 {
		year = fields[6]
	}
	if s.years, err = parseList(specs[fYear], year); err != nil {
		return nil, err
	}
	switch {
	case dom.kind != dayNone && dow.kind != dayNone:
		return nil, errors.New("cron: specify ? in either day-of-month or day-of-week")
	case dom.kind == dayNone && dow.kind == dayNone:
		return nil, errors.New("cron: ? cannot be used in both day-of-month and day-of-week")
	case dom.kind != dayNone:
		s.day = dom
	default:
		s.day = dow
	}
	return s, nil
}

// String returns the expression as given to Parse.
func (s *Schedule) String() string {
	if s == nil {
		return ""
	}
	return s.expr
}

// Matches reports whether the minute containing t is selected. It reads the wall clock in t's own
// location, so callers evaluate a window in its time zone by passing t.In(loc).
func (s *Schedule) Matches(t time.Time) bool {
	if s == nil {
		return false
	}
	y, mo, d := t.Date()
	h, mi, _ := t.Clock()
	return s.dateMatches(y, int(mo), d) && has(s.hours, h) && has(s.minutes, mi)
}

// Next returns the start of the first selected minute at or after the minute containing t (so a t
// inside a selected minute gives that minute, truncated), in t's location, and false when there is
// none before the end of 2199. Wall-clock minutes skipped by a daylight-saving change are never
// returned; repeated ones are returned for each occurrence.
func (s *Schedule) Next(t time.Time) (time.Time, bool) {
	r, ok, _ := s.next(t)
	return r, ok
}

// next is Next that also reports how many loop steps it took, so tests can hold it to its bound.
func (s *Schedule) next(t time.Time) (time.Time, bool, int) {
	if s == nil {
		return time.Time{}, false, 0
	}
	loc := t.Location()
	t = t.Round(0) // drop any monotonic reading; the result is a wall-clock time
	if t.Year() > maxYear {
		return time.Time{}, false, 0
	}
	if t.Year() < minYear-1 {
		// Nothing before 1970 can match; starting close keeps wall-clock differences small.
		t = time.Date(minYear-1, 1, 1, 0, 0, 0, 0, loc)
	}
	cur := t.Add(-time.Duration(t.Second())*time.Second - time.Duration(t.Nanosecond()))
	for step := 1; step <= maxSteps; step++ {
		// The wall clock at cur, read as UTC: one zone lookup instead of one per accessor.
		_, off := cur.Zone()
		wall := time.Unix(cur.Unix()+int64(off), int64(cur.Nanosecond())).UTC()
		if sec, ns := wall.Second(), wall.Nanosecond(); sec != 0 || ns != 0 {
			// Only after a transition between offsets that are not whole minutes (historic
			// zones): move on to the next local minute boundary.
			cur = cur.Add(time.Minute - time.Duration(sec)*time.Second - time.Duration(ns))
			continue
		}
		y, mo, d := wall.Date()
		h, mi, _ := wall.Clock()
		ny, nmo, nd, nh, nmi, ok := s.nextWall(y, int(mo), d, h, mi)
		if !ok {
			return time.Time{}, false, step
		}
		if ny == y && nmo == int(mo) && nd == d && nh == h && nmi == mi {
			return cur, true, step
		}
		// Within one zone period the offset is constant, so moving the wall clock by some amount
		// moves the instant by the same amount; past the period's end the wall clock may have
		// jumped forward (skipping minutes) or back (repeating some, perhaps ones before wall).
		gap := time.Date(ny, time.Month(nmo), nd, nh, nmi, 0, 0, time.UTC).Sub(wall)
		next := cur.Add(gap)
		if end := periodEnd(cur, off); !end.IsZero() && next.After(end) {
			if end.Sub(cur) >= farMargin {
				// Jump to farMargin short of the target instead of visiting every period on
				// the way. Every instant in between shows a wall clock in (wall, target):
				// those within farMargin of cur share its offset, later ones are at least
				// farMargin on and offsets differ by less than that; and landing farMargin
				// short keeps all of them below the target for the same reason. No wall
				// clock there is selected, by the definition of the target.
				next = cur.Add(gap - farMargin)
			} else {
				next = end // look again from the new offset
			}
		}
		cur = next
	}
	return time.Time{}, false, maxSteps
}

// periodEnd returns the instant after cur at which the UTC offset off in effect at cur next changes, or
// an earlier instant up to which it is known not to change, or the zero Time if it never changes.
//
// It starts from Time.ZoneBounds but does not trust it blindly: in leap years served by a zone's
// POSIX TZ rule (after its last listed transition, e.g. New York after 2037), ZoneBounds returns an
// end that is not after t (golang/go#81583), which would stall the search. And a bound that hides
// an offset change would make Next skip or misplace minutes, so it is checked against Zone, which
// Matches relies on anyway.
func periodEnd(cur time.Time, off int) time.Time {
	_, end := cur.ZoneBounds()
	if end.IsZero() {
		return end
	}
	if !end.After(cur) {
		end = cur.Add(24 * time.Hour) // re-evaluated there; ZoneBounds is sound again a day later
	}
	last := end.Add(-time.Second) // transitions are at whole seconds
	if _, o := last.Zone(); o == off {
		return end
	}
	// The offset changes before end: find where, to the second, keeping off(lo) == off != off(hi).
	lo, hi := cur, last
	for hi.Sub(lo) > time.Second {
		mid := lo.Add((hi.Sub(lo) / 2).Truncate(time.Second))
		if _, o := mid.Zone(); o == off {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// nextWall returns the first selected wall-clock minute at or after the given one, ignoring time
// zones, and false if there is none up to the end of maxYear.
func (s *Schedule) nextWall(y, mo, d, h, mi int) (int, int, int, int, int, bool) {
	if y < minYear {
		y, mo, d, h, mi = minYear, 1, 1, 0, 0
	}
	if y > maxYear {
		return 0, 0, 0, 0, 0, false
	}
	if s.dateMatches(y, mo, d) {
		if has(s.hours, h) {
			if m := nextBit(s.minutes, mi); m >= 0 {
				return y, mo, d, h, m, true
			}
		}
		if nh := nextBit(s.hours, h+1); nh >= 0 {
			if m := nextBit(s.minutes, 0); m >= 0 {
				return y, mo, d, nh, m, true
			}
		}
	}
	y, mo, d, ok := s.nextDate(y, mo, d+1)
	h, mi = nextBit(s.hours, 0), nextBit(s.minutes, 0)
	if !ok || h < 0 || mi < 0 {
		return 0, 0, 0, 0, 0, false
	}
	return y, mo, d, h, mi, true
}

// nextDate returns the first selected date at or after y-mo-d; d may be one past the month's end.
// It does at most one day-mask computation per selected month up to maxYear.
func (s *Schedule) nextDate(y, mo, d int) (int, int, int, bool) {
	for ; y <= maxYear; y, mo, d = y+1, 1, 1 {
		if !s.yearSelected(y) {
			continue
		}
		for ; mo <= 12; mo, d = mo+1, 1 {
			if !has(s.months, mo) || d > 31 {
				continue
			}
			if mask := s.dayMask(y, mo) &^ (uint64(1)<<d - 1); mask != 0 {
				return y, mo, bits.TrailingZeros64(mask), true
			}
		}
	}
	return 0, 0, 0, false
}

func (s *Schedule) yearSelected(y int) bool {
	if y < minYear || y > maxYear {
		return false
	}
	i := y - minYear
	return s.years[i/64]&(1<<(i%64)) != 0
}

func (s *Schedule) dateMatches(y, mo, d int) bool {
	return s.yearSelected(y) && has(s.months, mo) && s.dayMask(y, mo)&(1<<d) != 0
}

// dayMask returns the selected days (bits 1-31) of month mo of year y.
func (s *Schedule) dayMask(y, mo int) uint64 {
	last := daysIn(y, mo)
	first := weekday(y, mo, 1) // weekday of the 1st, 0 = Sunday
	wdOf := func(d int) int { return (first + d - 1) % 7 }
	one := func(d int) uint64 {
		if d < 1 || d > last {
			return 0
		}
		return 1 << d
	}
	r := s.day
	switch r.kind {
	case domList:
		return r.set & (uint64(1)<<(last+1) - 2)
	case domLast:
		return one(last - r.n)
	case domLastWeekday:
		switch wdOf(last) {
		case 6:
			return one(last - 1)
		case 0:
			return one(last - 2)
		}
		return one(last)
	case domNearest:
		d := r.n
		if d > last {
			return 0
		}
		switch wdOf(d) {
		case 6: // Saturday: the Friday before, unless that is in the previous month
			if d == 1 {
				return one(3)
			}
			return one(d - 1)
		case 0: // Sunday: the Monday after, unless that is in the next month
			if d == last {
				return one(d - 2)
			}
			return one(d + 1)
		}
		return one(d)
	case dowList:
		var m uint64
		for wd := 0; wd < 7; wd++ {
			if r.set&(1<<(wd+1)) == 0 {
				continue
			}
			for d := 1 + (wd-first+7)%7; d <= last; d += 7 {
				m |= 1 << d
			}
		}
		return m
	case dowLast:
		d := 1 + (r.wd-first+7)%7
		for d+7 <= last {
			d += 7
		}
		return one(d)
	case dowNth:
		return one(1 + (r.wd-first+7)%7 + 7*(r.n-1))
	}
	return 0
}

// Field descriptions, used for parsing and for naming the field in errors.
const (
	fSeconds = iota
	fMinutes
	fHours
	fDayOfMonth
	fMonth
	fDayOfWeek
	fYear
)

type fieldSpec struct {
	name     string
	min, max int
	names    []string // names[i] is value min+i
	wrap     bool     // a-b with a > b wraps around
}

var specs = [...]fieldSpec{
	fSeconds:    {name: "seconds", min: 0, max: 59},
	fMinutes:    {name: "minutes", min: 0, max: 59, wrap: true},
	fHours:      {name: "hours", min: 0, max: 23, wrap: true},
	fDayOfMonth: {name: "day-of-month", min: 1, max: 31, wrap: true},
	fMonth: {name: "month", min: 1, max: 12, wrap: true,
		names: []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}},
	fDayOfWeek: {name: "day-of-week", min: 1, max: 7, wrap: true,
		names: []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}},
	fYear: {name: "year", min: minYear, max: maxYear},
}

func fieldErr(f fieldSpec, text string, err error) error {
	return fmt.Errorf("cron: %s field %q: %w", f.name, text, err)
}

// parseDayOfMonth parses the day-of-month field; kind dayNone means "?".
func parseDayOfMonth(text string) (dayRule, error) {
	f := specs[fDayOfMonth]
	u := strings.ToUpper(text)
	switch {
	case u == "?":
		return dayRule{}, nil
	case u == "L":
		return dayRule{kind: domLast}, nil
	case u == "LW":
		return dayRule{kind: domLastWeekday}, nil
	case strings.HasPrefix(u, "L-"):
		n, ok := number(u[2:])
		if !ok {
			return dayRule{}, fieldErr(f, text, fmt.Errorf("invalid offset %q after L-", u[2:]))
		}
		if n > 30 {
			return dayRule{}, fieldErr(f, text, fmt.Errorf("offset %d out of range 0-30", n))
		}
		return dayRule{kind: domLast, n: n}, nil
	case strings.HasSuffix(u, "W"):
		n, ok := number(u[:len(u)-1])
		if !ok {
			return dayRule{}, fieldErr(f, text, errors.New("W needs a single day before it, like 15W"))
		}
		if n < 1 || n > 31 {
			return dayRule{}, fieldErr(f, text, fmt.Errorf("value %d out of range 1-31", n))
		}
		return dayRule{kind: domNearest, n: n}, nil
	case strings.ContainsAny(u, "LW"):
		return dayRule{}, fieldErr(f, text, errors.New("L and W must be used alone, like L, L-3, LW or 15W"))
	}
	set, err := parseList(f, text)
	return dayRule{kind: domList, set: set[0]}, err
}

// parseDayOfWeek parses the day-of-week field; kind dayNone means "?".
func parseDayOfWeek(text string) (dayRule, error) {
	f := specs[fDayOfWeek]
	u := strings.ToUpper(text)
	single := !strings.ContainsAny(u, ",-/*")
	switch {
	case u == "?":
		return dayRule{}, nil
	case u == "L":
		return dayRule{kind: dowList, set: 1 << 7}, nil
	case single && strings.Contains(u, "#"):
		day, nth, _ := strings.Cut(u, "#")
		wd, err := value(f, day)
		if err != nil {
			return dayRule{}, fieldErr(f, text, err)
		}
		n, ok := number(nth)
		if !ok {
			return dayRule{}, fieldErr(f, text, fmt.Errorf("invalid occurrence %q after #", nth))
		}
		if n < 1 || n > 5 {
			return dayRule{}, fieldErr(f, text, fmt.Errorf("occurrence %d out of range 1-5", n))
		}
		return dayRule{kind: dowNth, wd: wd - 1, n: n}, nil
	case single && strings.HasSuffix(u, "L"):
		wd, err := value(f, u[:len(u)-1])
		if err != nil {
			return dayRule{}, fieldErr(f, text, err)
		}
		return dayRule{kind: dowLast, wd: wd - 1}, nil
	case strings.ContainsAny(u, "L#"):
		return dayRule{}, fieldErr(f, text, errors.New("L and # must be used alone, like L, 6L or 6#3"))
	}
	set, err := parseList(f, text)
	return dayRule{kind: dowList, set: set[0]}, err
}

// parseList parses "*", values, ranges, increments and comma lists into a bit set indexed by
// value-f.min for the year and by value otherwise.
func parseList(f fieldSpec, text string) ([4]uint64, error) {
	var set [4]uint64
	if strings.Contains(text, "?") {
		if f.name == specs[fDayOfMonth].name || f.name == specs[fDayOfWeek].name {
			return set, fieldErr(f, text, errors.New("? must be used alone"))
		}
		return set, fieldErr(f, text, errors.New("? is only allowed in day-of-month and day-of-week"))
	}
	offset := 0
	if f.max >= 64 {
		offset = f.min
	}
	span := f.max - f.min + 1
	for item := range strings.SplitSeq(strings.ToUpper(text), ",") {
		if item == "" {
			return set, fieldErr(f, text, errors.New("empty list element"))
		}
		base, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, ok := number(stepText)
			if !ok {
				return set, fieldErr(f, text, fmt.Errorf("invalid increment %q", stepText))
			}
			if n < 1 || n > span {
				return set, fieldErr(f, text, fmt.Errorf("increment %d out of range 1-%d", n, span))
			}
			step = n
		}
		var lo, hi int
		if base == "*" {
			lo, hi = f.min, f.max
		} else if a, b, isRange := strings.Cut(base, "-"); isRange {
			var err error
			if lo, err = value(f, a); err != nil {
				return set, fieldErr(f, text, err)
			}
			if hi, err = value(f, b); err != nil {
				return set, fieldErr(f, text, err)
			}
			if lo > hi && !f.wrap {
				return set, fieldErr(f, text, fmt.Errorf("range %d-%d ends before it starts", lo, hi))
			}
		} else {
			var err error
			if lo, err = value(f, base); err != nil {
				return set, fieldErr(f, text, err)
			}
			hi = lo
			if hasStep {
				hi = f.max // Quartz: a/n runs from a to the field's maximum
			}
		}
		count := (hi-lo+span)%span + 1
		for i := 0; i < count; i += step {
			v := f.min + (lo-f.min+i)%span - offset
			set[v/64] |= 1 << (v % 64)
		}
	}
	return set, nil
}

// value parses one value of field f: a number in range or, where the field has them, a name.
func value(f fieldSpec, s string) (int, error) {
	if n, ok := number(s); ok {
		if n < f.min || n > f.max {
			return 0, fmt.Errorf("value %d out of range %d-%d", n, f.min, f.max)
		}
		return n, nil
	}
	for i, name := range f.names {
		if strings.EqualFold(s, name) {
			return f.min + i, nil
		}
	}
	if f.names != nil {
		return 0, fmt.Errorf("invalid value %q (want %d-%d or %s-%s)", s, f.min, f.max, f.names[0], f.names[len(f.names)-1])
	}
	return 0, fmt.Errorf("invalid value %q (want %d-%d)", s, f.min, f.max)
}

// number parses 1 to 4 ASCII digits; Parse has already rejected longer numbers, so it cannot overflow.
func number(s string) (int, bool) {
	if s == "" || len(s) > maxDigits {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// has reports whether bit v of set is set, for v in 0-63.
func has(set uint64, v int) bool { return v >= 0 && v < 64 && set&(1<<v) != 0 }

// nextBit returns the smallest set bit >= v, or -1.
func nextBit(set uint64, v int) int {
	if v >= 64 {
		return -1
	}
	if m := set &^ (uint64(1)<<v - 1); m != 0 {
		return bits.TrailingZeros64(m)
	}
	return -1
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y, mo int) int {
	switch mo {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// weekday returns the day of the week of y-mo-d in the proleptic Gregorian calendar, 0 = Sunday
// (Sakamoto's method; valid for the years 1-9999 this package evaluates).
func weekday(y, mo, d int) int {
	t := [...]int{0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4}
	if mo < 3 {
		y--
	}
	return (y + y/4 - y/100 + y/400 + t[mo-1] + d) % 7
}
