package github

import (
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestRunnerNamePrefix(t *testing.T) {
	uid := types.UID("5f0c3a52-8d1e-4c55-9a43-0e1f2b3c4d5e")
	p := RunnerNamePrefix("builders", uid)
	if !regexp.MustCompile(`^builders-[0-9a-f]{6}-$`).MatchString(p) {
		t.Fatalf("prefix %q has the wrong shape", p)
	}
	if RunnerNamePrefix("builders", uid) != p {
		t.Error("prefix is not deterministic")
	}
	if RunnerNamePrefix("builders", "another-uid") == p {
		t.Error("two pool UIDs share a prefix")
	}
	long := strings.Repeat("p", 40) // the CRD's maximum pool name length
	if n := len(NewRunnerName(RunnerNamePrefix(long, uid))); n > 63 {
		t.Errorf("runner name of a 40-character pool has %d characters, more than 63", n)
	}
}

func TestNewRunnerName(t *testing.T) {
	prefix := RunnerNamePrefix("p", "uid")
	seen := map[string]bool{}
	chars := map[rune]bool{}
	for range 2000 {
		name := NewRunnerName(prefix)
		if !OwnsRunnerName(prefix, name) {
			t.Fatalf("pool does not own its new runner name %q", name)
		}
		seen[name] = true
		for _, r := range name[len(prefix):] {
			chars[r] = true
		}
	}
	// 36^5 = 60M names: 2000 draws collide with probability ~3%; allow a couple.
	if len(seen) < 1995 {
		t.Errorf("only %d distinct names out of 2000", len(seen))
	}
	if len(chars) != len(suffixAlphabet) {
		t.Errorf("suffixes used %d distinct characters, want all %d", len(chars), len(suffixAlphabet))
	}
}

func TestOwnsRunnerName(t *testing.T) {
	prefix := "a-123456-"
	cases := []struct {
		prefix, name string
		want         bool
	}{
		{prefix, "a-123456-abcde", true},
		{prefix, "a-123456-0z9y8", true},
		{prefix, "a-123456-xy-abcde", false}, // pool "a-123456-xy"'s runner, not ours
		{prefix, "a-123456-abcd", false},
		{prefix, "a-123456-abcdef", false},
		{prefix, "a-123456-ABCDE", false},
		{prefix, "a-123456-ab_de", false},
		{prefix, "a-123456-ab-de", false},
		{prefix, "b-123456-abcde", false},
		{prefix, "a-123457-abcde", false},
		{prefix, "xa-123456-abcde", false},
		{prefix, "a-123456-", false},
		{"", "abcde", false},
		{"a-123456", "a-123456abcde", false}, // a prefix must end with "-"
	}
	for _, tc := range cases {
		if got := OwnsRunnerName(tc.prefix, tc.name); got != tc.want {
			t.Errorf("OwnsRunnerName(%q, %q) = %t, want %t", tc.prefix, tc.name, got, tc.want)
		}
	}
}
