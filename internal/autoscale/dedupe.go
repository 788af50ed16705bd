package autoscale

import (
	"sync"
	"time"
)

// seenSet remembers keys (delivery GUIDs, job states) for a while, bounded in size: the
// oldest are forgotten first. It is an optimisation that spares redundant writes; the
// demand store's forward-only states make a delivery seen twice harmless anyway (after a
// restart, or on another replica). Safe for concurrent use.
type seenSet struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu    sync.Mutex
	at    map[string]time.Time
	order []seenEntry // insertion order; may hold entries since forgotten or re-added
}

type seenEntry struct {
	key string
	at  time.Time
}

func newSeenSet(ttl time.Duration, maxKeys int) *seenSet {
	return &seenSet{ttl: ttl, max: max(1, maxKeys), now: time.Now, at: map[string]time.Time{}}
}

// add records key and reports whether it was new (not seen within the TTL).
func (s *seenSet) add(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if at, ok := s.at[key]; ok && now.Sub(at) <= s.ttl {
		return false
	}
	s.evictLocked(now)
	s.at[key] = now
	s.order = append(s.order, seenEntry{key: key, at: now})
	return true
}

// has reports whether key was added within the TTL.
func (s *seenSet) has(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.at[key]
	return ok && s.now().Sub(at) <= s.ttl
}

// forget removes key, e.g. when the delivery it stood for was refused after all.
func (s *seenSet) forget(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.at, key)
}

// len is the number of keys remembered.
func (s *seenSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.at)
}

// evictLocked drops expired keys, and the oldest until there is room for one more.
func (s *seenSet) evictLocked(now time.Time) {
	i := 0
	for ; i < len(s.order); i++ {
		e := s.order[i]
		cur, ok := s.at[e.key]
		live := ok && cur.Equal(e.at)
		if live && now.Sub(e.at) <= s.ttl && len(s.at) < s.max {
			break
		}
		if live {
			delete(s.at, e.key)
		}
	}
	s.order = s.order[i:]
	if cap(s.order) > 2*len(s.order)+64 {
		s.order = append([]seenEntry(nil), s.order...)
	}
}
