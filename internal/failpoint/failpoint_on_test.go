//go:build failpoints

package failpoint

import "testing"

func TestProbability(t *testing.T) {
	for _, tc := range []struct {
		spec, name string
		want       float64
		ok         bool
	}{
		{"register=0.5", "register", 0.5, true},
		{" register=0.5 , pod-created=1", "pod-created", 1, true},
		{"register=2", "register", 1, true},
		{"register=0", "register", 0, false},
		{"register=x", "register", 0, false},
		{"registered=0.5", "register", 0, false},
		{"", "register", 0, false},
	} {
		got, ok := probability(tc.spec, tc.name)
		if got != tc.want || ok != tc.ok {
			t.Errorf("probability(%q, %q) = %v, %v; want %v, %v", tc.spec, tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
