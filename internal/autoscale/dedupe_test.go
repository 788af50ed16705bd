package autoscale

import (
	"strconv"
	"testing"
	"time"
)

func TestSeenSet(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSeenSet(time.Minute, 3)
	s.now = func() time.Time { return now }
	if !s.add("a") || s.add("a") {
		t.Fatal("a key is new once")
	}
	s.forget("a")
	if !s.add("a") {
		t.Fatal("a forgotten key is new again")
	}
	now = now.Add(2 * time.Minute)
	if !s.add("a") {
		t.Fatal("an expired key is new again")
	}
	for i := range 10 {
		s.add("k" + strconv.Itoa(i))
	}
	if n := s.len(); n != 3 {
		t.Errorf("set holds %d keys, want the bound of 3", n)
	}
	if s.add("k9") || !s.add("k0") {
		t.Error("the newest keys are kept and the oldest forgotten")
	}
	if len(s.order) > 16 {
		t.Errorf("insertion log grew to %d entries", len(s.order))
	}
}
