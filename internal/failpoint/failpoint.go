//go:build !failpoints

// Package failpoint lets the chaos suite crash the corral binary at named points of its
// work, e.g. between registering a runner and creating its pod. Production builds compile
// Hit to nothing: only a binary built with `-tags failpoints` (test/chaos builds one) reads
// CORRAL_FAILPOINTS, so no flag or setting of a released corral can enable a crash.
package failpoint

// Hit marks the named point. It does nothing in builds without the failpoints tag.
func Hit(string) {}
