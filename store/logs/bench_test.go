package logs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchData is 200 MB of build-like output (lines of 60–140 bytes), written in 32 KiB chunks
// that do not respect line boundaries, as Docker's log stream delivers them.
const benchTotal = 200 << 20

var benchChunks = func() [][]byte {
	block := make([]byte, 0, 1<<20)
	for i := 0; len(block) < 1<<20-200; i++ {
		block = fmt.Appendf(block, "[Container] 2026/11/20 10:12:%02d Step %d/400 : RUN npm ci --no-audit --prefer-offline %s\n",
			i%60, i%400, "lorem ipsum dolor sit amet consectetur"[:i%38])
	}
	var chunks [][]byte
	for off := 0; off < len(block); off += 32 << 10 {
		chunks = append(chunks, block[off:min(off+32<<10, len(block))])
	}
	return chunks
}()

func benchPass(write func([]byte)) int64 {
	var n int64
	for n < benchTotal {
		for _, c := range benchChunks {
			write(c)
			n += int64(len(c))
		}
	}
	return n
}

// rawWrite is the baseline: the same bytes through a 256 KiB bufio.Writer into an os.File,
// synced at the end as Writer.Close does.
func rawWrite(b *testing.B, dir string, sync bool) time.Duration {
	start := time.Now()
	f, err := os.Create(filepath.Join(dir, "raw.log"))
	if err != nil {
		b.Fatal(err)
	}
	bw := bufio.NewWriterSize(f, writeBuffer)
	benchPass(func(c []byte) { bw.Write(c) })
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	if sync {
		f.Sync()
	}
	f.Close()
	d := time.Since(start)
	os.Remove(f.Name())
	return d
}

// BenchmarkWrite200MB writes 200 MB through a Writer (cap raised above it) and reports MB/s,
// bytes allocated per 200 MB, and the time relative to raw buffered os.File writes of the same
// data, synced like Close syncs, measured in the same run (x-raw: 1.0 = as fast as raw).
func BenchmarkWrite200MB(b *testing.B) {
	for _, bc := range []struct {
		name    string
		secrets []string
	}{
		{"raw-bufio", nil},
		{"raw-bufio-sync", nil},
		{"store", nil},
		{"store-3-secrets", []string{"ghp_4Zk9TqL2mN8vR1xW7yB3cD5eF6gH0jKlMnOp", "AKIAIOSFODNN7EXAMPLE", "s3cr3t-p4ssw0rd"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := b.TempDir()
			b.SetBytes(benchTotal)
			b.ReportAllocs()
			if bc.name == "raw-bufio" || bc.name == "raw-bufio-sync" {
				for b.Loop() {
					rawWrite(b, dir, bc.name == "raw-bufio-sync")
				}
				return
			}
			raw := rawWrite(b, dir, true) // baseline, same run, same disk
			s, err := Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			var elapsed time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				id := fmt.Sprintf("b%d", i)
				w, err := s.Create("build", id, Options{Cap: 2 * benchTotal, Secrets: bc.secrets})
				if err != nil {
					b.Fatal(err)
				}
				benchPass(func(c []byte) {
					if _, err := w.Write(c); err != nil {
						b.Fatal(err)
					}
				})
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				s.Remove("build", id)
				b.StartTimer()
				i++
			}
			b.ReportMetric(float64(elapsed)/float64(i)/float64(raw), "x-raw")
		})
	}
}
