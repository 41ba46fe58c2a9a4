package hook

import (
	"bufio"
	"errors"
	"io"
	"strings"
)

// MaxLine is the longest line passed on whole; longer ones are split.
const MaxLine = 16 << 10

// readLines calls line for every line of r (without the line break; invalid UTF-8 replaced) until
// r ends or fails.
func readLines(r io.Reader, line func(string)) {
	br := bufio.NewReaderSize(r, MaxLine)
	for {
		b, err := br.ReadSlice('\n')
		if len(b) > 0 {
			s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
			line(strings.ToValidUTF8(s, "\uFFFD"))
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}
