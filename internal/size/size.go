// Package size writes byte counts the way people read them, one way everywhere: build logs, the
// CLI and the dashboard show the same "1.5 MiB" for the same artifact.
package size

import "fmt"

// Bytes renders n in binary units with one decimal: "512 B", "1.5 KiB", "20.0 MiB", "2.1 GiB".
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
