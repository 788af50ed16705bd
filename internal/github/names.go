package github

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

const (
	// poolHashLength is how many hex characters of sha256(pool UID) a runner name carries.
	poolHashLength = 6
	// RunnerSuffixLength is the length of the random suffix of a runner name.
	RunnerSuffixLength = 5
	suffixAlphabet     = "abcdefghijklmnopqrstuvwxyz0123456789"
)

// RunnerNamePrefix is the prefix of every runner name of a pool: "<pool>-<hash>-", where hash
// is the first 6 hex characters of sha256(pool UID). The hash keeps names unique across
// namespaces and clusters that register runners in the same GitHub scope.
func RunnerNamePrefix(poolName string, poolUID types.UID) string {
	sum := sha256.Sum256([]byte(poolUID))
	return poolName + "-" + hex.EncodeToString(sum[:])[:poolHashLength] + "-"
}

// NewRunnerName returns prefix followed by 5 random characters of [a-z0-9] from crypto/rand.
// With pool names of at most 40 characters the result has at most 53.
func NewRunnerName(prefix string) string {
	const n = len(suffixAlphabet)
	// Reject bytes past the largest multiple of n so that every character is equally likely.
	limit := byte(256 - 256%n)
	out := make([]byte, 0, RunnerSuffixLength)
	buf := make([]byte, 2*RunnerSuffixLength)
	for len(out) < RunnerSuffixLength {
		_, _ = rand.Read(buf) // crypto/rand.Read never fails (it crashes the program instead)
		for _, b := range buf {
			if b < limit && len(out) < RunnerSuffixLength {
				out = append(out, suffixAlphabet[int(b)%n])
			}
		}
	}
	return prefix + string(out)
}

// OwnsRunnerName reports whether name is a runner of the pool with this prefix: exactly the
// prefix followed by 5 characters of [a-z0-9]. So "a-123456-" does not claim
// "a-123456-xy-abcde", which belongs to the pool "a-123456-xy" if anyone.
func OwnsRunnerName(prefix, name string) bool {
	if prefix == "" || !strings.HasSuffix(prefix, "-") || !strings.HasPrefix(name, prefix) {
		return false
	}
	suffix := name[len(prefix):]
	if len(suffix) != RunnerSuffixLength {
		return false
	}
	for i := 0; i < len(suffix); i++ {
		if !strings.ContainsRune(suffixAlphabet, rune(suffix[i])) {
			return false
		}
	}
	return true
}
