// Package memtrim lets a long-idle process give back the pages of its own executable that
// start-up touched.
//
// Conveyor is one binary: `conveyor agent` carries the server's packages too, and initialising
// them touches pages all over the executable's code and read-only data (each page fault maps its
// neighbours as well). Those pages stay in the process's resident set although an idle agent never
// uses them again. They are clean copies of the file, so dropping them is safe: a page that is
// needed again is read back from the page cache on its next use.
package memtrim

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ReleaseExecutablePages drops this process's references to the read-only, file-backed pages of
// its executable (code and constants; never a writable mapping). It returns the bytes covered.
func ReleaseExecutablePages() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	exe = strings.TrimSuffix(exe, " (deleted)")
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	type span struct{ start, end uintptr }
	var spans []span
	s := bufio.NewScanner(f)
	for s.Scan() {
		// 00400000-010bc000 r-xp 00000000 fe:00 10003188   /path/to/conveyor
		fields := strings.Fields(s.Text())
		if len(fields) < 6 || len(fields[1]) < 4 || fields[1][1] == 'w' || fields[1][3] != 'p' {
			continue
		}
		if path := strings.TrimSuffix(strings.Join(fields[5:], " "), " (deleted)"); path != exe {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		spans = append(spans, span{uintptr(start), uintptr(end)})
	}
	if err := s.Err(); err != nil {
		return 0, err
	}
	var total int64
	for _, sp := range spans {
		// The raw call: these ranges are not Go memory, so no slice may point at them.
		if _, _, e := syscall.Syscall(syscall.SYS_MADVISE, sp.start, sp.end-sp.start, syscall.MADV_DONTNEED); e != 0 {
			return total, fmt.Errorf("madvise %x-%x: %w", sp.start, sp.end, e)
		}
		total += int64(sp.end - sp.start)
	}
	return total, nil
}
