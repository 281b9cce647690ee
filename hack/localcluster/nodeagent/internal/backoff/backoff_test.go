package backoff

import (
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	b := New(10*time.Second, 300*time.Second)
	want := []int{10, 20, 40, 80, 160, 300, 300}
	for i, w := range want {
		if got := b.Next(time.Second); got != time.Duration(w)*time.Second {
			t.Fatalf("step %d: got %v, want %ds", i, got, w)
		}
	}
}

func TestLongRunResets(t *testing.T) {
	b := New(10*time.Second, 300*time.Second)
	b.Next(0)
	b.Next(0)
	if got := b.Next(601 * time.Second); got != 10*time.Second {
		t.Fatalf("after a long run got %v, want 10s", got)
	}
	if got := b.Next(0); got != 20*time.Second {
		t.Fatalf("got %v, want 20s", got)
	}
	b.Reset()
	if got := b.Next(0); got != 10*time.Second {
		t.Fatalf("after Reset got %v", got)
	}
}

func TestMaxBelowDouble(t *testing.T) {
	b := New(10*time.Second, 15*time.Second)
	for i, w := range []int{10, 15, 15} {
		if got := b.Next(0); got != time.Duration(w)*time.Second {
			t.Fatalf("step %d: got %v", i, got)
		}
	}
}
