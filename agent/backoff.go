package agent

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff is exponential backoff with full jitter: the n-th wait is uniform in
// [0, min(Max, Base·2ⁿ)], so a fleet of agents that lost the server together does not come back
// in step.
type backoff struct {
	Base, Max time.Duration
	n         int
}

func (b *backoff) next() time.Duration {
	ceil := b.Base << min(b.n, 30)
	if ceil <= 0 || ceil > b.Max {
		ceil = b.Max
	}
	b.n++
	return time.Duration(rand.Int64N(int64(ceil)) + 1)
}

func (b *backoff) reset() { b.n = 0 }

// wait sleeps for the next backoff, or until ctx ends (false then).
func (b *backoff) wait(ctx context.Context) bool {
	t := time.NewTimer(b.next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
