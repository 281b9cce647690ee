// Package backoff computes the kubelet-style restart back-off: the delay
// starts at Initial, doubles after every restart and stops at Max. A run
// that lasted longer than twice Max resets it, like the kubelet forgetting
// a back-off entry nobody touched for 2*Max.
package backoff

import "time"

// Backoff is not safe for concurrent use; each container owns one.
type Backoff struct {
	Initial, Max time.Duration
	next         time.Duration
}

// New returns a back-off that starts at initial and is capped at max.
func New(initial, max time.Duration) *Backoff {
	return &Backoff{Initial: initial, Max: max}
}

// Next returns the delay to wait before the next restart of something that
// just ran for ran, and advances the schedule.
func (b *Backoff) Next(ran time.Duration) time.Duration {
	if b.next == 0 || ran > 2*b.Max {
		b.next = b.Initial
	}
	d := min(b.next, b.Max)
	b.next = min(2*b.next, b.Max)
	return d
}

// Reset starts the schedule over.
func (b *Backoff) Reset() { b.next = 0 }
