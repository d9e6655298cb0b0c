package service

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// rateLimiter keeps a token bucket per identity: an account, or, for calls
// that fail to sign in, the source address. Each bucket holds up to burst
// tokens and refills at rate per second; a call takes one.
type rateLimiter struct {
	rate  float64 // tokens per second; 0 turns limiting off
	burst float64

	mu      sync.Mutex
	buckets map[string]*tokenBucket
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

// publicRate and publicBurst limit the calls that need no sign-in (the
// public feed, health checks), per address.
const (
	publicRate  = 10
	publicBurst = 20
)

// maxBuckets bounds the limiter's memory against callers that come from
// ever new addresses: past it, idle (full) buckets are dropped.
const maxBuckets = 100_000

func newRateLimiter(rate float64, burst int) *rateLimiter {
	if burst < 1 {
		burst = int(math.Max(1, math.Ceil(rate)))
	}
	return &rateLimiter{rate: rate, burst: float64(burst), buckets: map[string]*tokenBucket{}}
}

// take spends a token of identity's bucket, or says how long until one is
// there.
func (l *rateLimiter) take(identity string, now time.Time) (ok bool, wait time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets[identity]
	if !found {
		if len(l.buckets) >= maxBuckets {
			l.dropIdle(now)
		}
		b = &tokenBucket{tokens: l.burst, last: now}
		l.buckets[identity] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// dropIdle forgets buckets that have refilled: forgetting them changes
// nothing.
func (l *rateLimiter) dropIdle(now time.Time) {
	full := time.Duration(l.burst / l.rate * float64(time.Second))
	for id, b := range l.buckets {
		if now.Sub(b.last) >= full {
			delete(l.buckets, id)
		}
	}
}

// rateLimitError says a caller is over its rate, and when to retry.
type rateLimitError struct {
	identity   string
	retryAfter time.Duration
}

func (e *rateLimitError) Error() string {
	return fmt.Sprintf("too many calls from %s: retry after %d s", e.identity, retryAfterSeconds(e.retryAfter))
}

// retryAfterSeconds rounds a wait up to whole seconds, as HTTP's
// Retry-After counts them.
func retryAfterSeconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}

// streamCounter caps how many streams one account holds open at once: a
// stream holds memory and a goroutine for as long as the caller keeps it,
// so an account's streams, not only its calls, are bounded.
type streamCounter struct {
	max int // 0: no cap

	mu     sync.Mutex
	counts map[string]int
}

// open counts a stream of account, or refuses it over the cap. release
// uncounts it.
func (c *streamCounter) open(account string) (release func(), err error) {
	if c.max <= 0 {
		return func() {}, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts[account] >= c.max {
		return nil, &streamLimitError{account: account, max: c.max}
	}
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[account]++
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.counts[account]--; c.counts[account] == 0 {
			delete(c.counts, account)
		}
	}, nil
}

type streamLimitError struct {
	account string
	max     int
}

func (e *streamLimitError) Error() string {
	return fmt.Sprintf("%s has %d streams open, the most one account may: close one first", e.account, e.max)
}
