package logs

import (
	"bytes"
	"slices"
	"strings"
)

// MinSecretLen is the shortest secret that is masked. Shorter values ("1", "yes", "abc") would
// garble every log that happens to contain them and are no secret worth the name; they are
// ignored, which the executor should report when it loads them.
const MinSecretLen = 4

// maxPending bounds the text held back for masking; past it, an unbroken chain of overlapping
// matches is cut (pathological input, e.g. a secret "aaaa" in a megabyte of "a").
const maxPending = 1 << 20

var maskBytes = []byte("***")

// masker replaces every occurrence of a secret by "***", also when an occurrence is split
// across writes.
//
// The rule: a secret never spans a newline (secrets containing newlines are masked line by line,
// each line being a secret of its own). So when a write ends, everything up to its last newline
// is final, and of a trailing partial line only the last maxLen-1 bytes can still begin a secret;
// those are held back until the next write (or Close). Occurrences may overlap: the union of all
// of them is replaced by one "***". An occurrence that reaches into the held-back tail is held
// back whole.
type masker struct {
	secrets [][]byte
	maxLen  int
	pending []byte
	scratch []byte
	ivs     []interval
}

type interval struct{ start, end int }

func newMasker(values []string) *masker {
	seen := map[string]bool{}
	var secrets [][]byte
	maxLen := 0
	for _, v := range values {
		for _, line := range strings.Split(v, "\n") {
			line = strings.TrimSuffix(line, "\r")
			if len(line) < MinSecretLen || seen[line] {
				continue
			}
			seen[line] = true
			secrets = append(secrets, []byte(line))
			maxLen = max(maxLen, len(line))
		}
	}
	if len(secrets) == 0 {
		return nil
	}
	// Longest first: a longer secret is the better description of an overlap (the union is
	// masked anyway).
	slices.SortFunc(secrets, func(a, b []byte) int { return len(b) - len(a) })
	return &masker{secrets: secrets, maxLen: maxLen}
}

// write masks p, passing what is final to emit and keeping the rest.
func (m *masker) write(p []byte, emit func([]byte)) {
	buf := p
	if len(m.pending) > 0 {
		m.scratch = append(append(m.scratch[:0], m.pending...), p...)
		buf = m.scratch
	}
	cut := m.process(buf, false, emit)
	m.pending = append(m.pending[:0], buf[cut:]...)
}

// flush masks and emits everything held back.
func (m *masker) flush(emit func([]byte)) {
	if len(m.pending) == 0 {
		return
	}
	m.process(m.pending, true, emit)
	m.pending = m.pending[:0]
}

func (m *masker) process(buf []byte, final bool, emit func([]byte)) int {
	limit := len(buf)
	if !final {
		hb := max(len(buf)-(m.maxLen-1), 0)
		limit = hb
		from := max(hb-1, 0)
		if i := bytes.LastIndexByte(buf[from:], '\n'); i >= 0 {
			limit = max(limit, from+i+1)
		}
	}
	ivs := m.find(buf)
	cut := limit
	for _, iv := range ivs {
		if iv.start < limit && iv.end > limit {
			cut = iv.start
			if len(buf)-cut > maxPending {
				cut = iv.end // give up holding an endless chain
			}
			break
		}
	}
	pos := 0
	for _, iv := range ivs {
		if iv.start >= cut {
			break
		}
		if iv.start > pos {
			emit(buf[pos:iv.start])
		}
		emit(maskBytes)
		pos = iv.end
	}
	if cut > pos {
		emit(buf[pos:cut])
	}
	return max(cut, pos)
}

// find returns the merged intervals covered by occurrences of any secret, sorted.
func (m *masker) find(buf []byte) []interval {
	ivs := m.ivs[:0]
	for _, s := range m.secrets {
		for off := 0; off <= len(buf)-len(s); {
			i := bytes.Index(buf[off:], s)
			if i < 0 {
				break
			}
			ivs = append(ivs, interval{off + i, off + i + len(s)})
			off += i + 1
		}
	}
	m.ivs = ivs
	if len(ivs) == 0 {
		return ivs
	}
	slices.SortFunc(ivs, func(a, b interval) int { return a.start - b.start })
	out := ivs[:1]
	for _, iv := range ivs[1:] {
		last := &out[len(out)-1]
		if iv.start < last.end {
			last.end = max(last.end, iv.end)
			continue
		}
		out = append(out, iv)
	}
	return out
}
