package reports

import (
	"bufio"
	"io"
)

// xmlSanitizer replaces what XML 1.0 forbids and encoding/xml rejects with "?": raw control
// bytes other than tab, newline and carriage return, and numeric character references to such
// characters (&#27; &#x1B; …). Control bytes never occur inside multi-byte UTF-8 sequences, so
// the byte-wise replacement is safe for UTF-8 and ISO-8859-1 alike.
type xmlSanitizer struct {
	r   *bufio.Reader
	out []byte
}

func newXMLSanitizer(r io.Reader) *xmlSanitizer {
	return &xmlSanitizer{r: bufio.NewReaderSize(r, 64<<10)}
}

const maxCharRef = 12 // "&#x0010FFFF;" and then some

func (s *xmlSanitizer) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	buf, err := s.r.Peek(min(len(p), s.r.Size()))
	if len(buf) == 0 {
		return 0, err
	}
	atEOF := err != nil
	out, i := 0, 0
	for i < len(buf) {
		b := buf[i]
		switch {
		case b >= 0x20 && b != '&':
			i++
		case b < 0x20:
			if b != '\t' && b != '\n' && b != '\r' {
				b = '?'
			}
			i++
		default: // '&': look at what follows, possibly beyond this chunk
			ahead := buf[i+1:]
			if len(ahead) < maxCharRef && !atEOF {
				if i > 0 {
					s.r.Discard(i)
					return out, nil // finish the chunk; the next Read starts at this "&"
				}
				la, _ := s.r.Peek(1 + maxCharRef)
				ahead = la[1:]
			}
			if n := invalidCharRef(ahead); n > 0 {
				b = '?'
				i += 1 + n
			} else {
				i++
			}
		}
		p[out] = b
		out++
	}
	s.r.Discard(i)
	return out, nil
}

// invalidCharRef looks at what follows an "&": when it is a numeric reference to a character XML
// forbids, it returns the length of the reference after the "&" (the caller writes "?" for the
// whole of it), else 0.
func invalidCharRef(peek []byte) int {
	if len(peek) > maxCharRef {
		peek = peek[:maxCharRef]
	}
	if len(peek) < 3 || peek[0] != '#' {
		return 0
	}
	i, base := 1, 10
	if peek[1] == 'x' || peek[1] == 'X' {
		i, base = 2, 16
	}
	start := i
	v := 0
	for ; i < len(peek) && peek[i] != ';'; i++ {
		d := digit(peek[i], base)
		if d < 0 {
			return 0
		}
		if v < 0x110000 {
			v = v*base + d
		}
	}
	if i == start || i >= len(peek) || validXMLChar(v) {
		return 0 // not a complete numeric reference, or a valid one
	}
	return i + 1
}

func digit(c byte, base int) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case base == 16 && c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case base == 16 && c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func validXMLChar(r int) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}
