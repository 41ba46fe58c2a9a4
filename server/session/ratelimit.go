package session

import (
	"math"
	"sync"
	"time"
)

// Limiter limits failed login attempts per key (a client address, a user name): each key has a
// bucket of Burst attempts that refills at one per Every. Only failures take from the bucket, and
// an empty bucket refuses even the right password, so guessing stays slow.
type Limiter struct {
	Burst int
	Every time.Duration
	Now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds memory under a flood of distinct keys; full buckets are dropped first.
const maxBuckets = 100_000

func (l *Limiter) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	b.tokens = math.Min(float64(l.Burst), b.tokens+now.Sub(b.at).Seconds()/l.Every.Seconds())
	b.at = now
}

// Allow reports whether an attempt for every key may go ahead, and if not, how long to wait.
func (l *Limiter) Allow(keys ...string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range keys {
		b, ok := l.buckets[k]
		if !ok {
			continue
		}
		l.refill(b, now)
		if b.tokens < 1 {
			w := time.Duration((1 - b.tokens) * float64(l.Every))
			wait = max(wait, w)
		}
	}
	return wait == 0, wait
}

// Fail takes one attempt from each key's bucket.
func (l *Limiter) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	now := l.now()
	if len(l.buckets) >= maxBuckets {
		for k, b := range l.buckets {
			l.refill(b, now)
			if b.tokens >= float64(l.Burst) {
				delete(l.buckets, k)
			}
		}
	}
	for _, k := range keys {
		b, ok := l.buckets[k]
		if !ok {
			b = &bucket{tokens: float64(l.Burst), at: now}
			l.buckets[k] = b
		}
		l.refill(b, now)
		b.tokens--
	}
}
