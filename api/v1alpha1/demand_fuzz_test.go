package v1alpha1_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// demandSchema is the generated CRD's schema of status.demand's lists: pattern and maxLength.
type demandSchema map[string]struct {
	pattern   *regexp.Regexp
	maxLength int
}

// loadDemandSchema reads the lists' schema from the generated CRD, so the tests hold the
// codec to what the API server enforces.
func loadDemandSchema(t testing.TB) demandSchema {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "corral.run_runnerpools.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]struct {
								Properties map[string]struct {
									Pattern   string `json:"pattern"`
									MaxLength int    `json:"maxLength"`
								} `json:"properties"`
							} `json:"properties"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	out := demandSchema{}
	for name, p := range crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties["demand"].Properties {
		if name == "epoch" {
			continue
		}
		out[name] = struct {
			pattern   *regexp.Regexp
			maxLength int
		}{regexp.MustCompile(p.Pattern), p.MaxLength}
	}
	if len(out) != 4 {
		t.Fatalf("status.demand lists in the CRD: %v, want queued, running, done and attributions", out)
	}
	return out
}

// check fails unless d is what the API server accepts.
func (s demandSchema) check(t testing.TB, d *corralv1.PoolDemand) {
	t.Helper()
	for name, v := range map[string]string{"queued": d.Queued, "running": d.Running, "done": d.Done, "attributions": d.Attributions} {
		if !s[name].pattern.MatchString(v) || len(v) > s[name].maxLength {
			t.Fatalf("%s %.200q (%d bytes) breaks the CRD's pattern or maxLength %d", name, v, len(v), s[name].maxLength)
		}
	}
	if d.Epoch != nil && !d.Epoch.Equal(&metav1.Time{Time: d.Epoch.Truncate(time.Second)}) {
		t.Fatalf("epoch %v is not whole seconds", d.Epoch)
	}
}

// byID indexes entries by job ID.
func byID(entries []corralv1.DemandEntry) map[int64]corralv1.DemandEntry {
	out := map[int64]corralv1.DemandEntry{}
	for _, e := range entries {
		out[e.ID] = e
	}
	return out
}

// FuzzDemandCodec decodes hostile status.demand lists. Whatever they hold, decoding never
// panics and never yields more than MaxTrackedJobs entries, and what it yields re-encodes
// to lists the API server accepts that decode to the same entries. `go test` runs the
// seeds; `go test -fuzz FuzzDemandCodec ./api/v1alpha1` explores.
func FuzzDemandCodec(f *testing.F) {
	schema := loadDemandSchema(f)
	f.Add("41234567890+1520 41234567891+1733", "41234567000+10=ab3x9", "41234560000+999999999999", int64(1767268800))
	f.Add("1+1  x+1 2+ +3 -4+1 5+-1 0+1 6+1+1 7", "11+1 12+1=ABCDE 13+1=abcde", "14+1=abcde", int64(0))
	f.Add("9223372036854775807+0 9223372036854775808+0", "", "1+1 1+1 1+1", int64(-62135596800))
	f.Add(strings.Repeat("7+7 ", 5000), strings.Repeat("8+1=zzzzz ", 3000), "\x00\xff+1", int64(253402300799))
	f.Fuzz(func(t *testing.T, queued, running, done string, epochSeconds int64) {
		// An epoch as the API server returns one: RFC 3339, whole seconds, years 0000-9999.
		epoch := time.Unix(min(max(epochSeconds, -62135596800), 253402300799), 0).UTC()
		in := &corralv1.PoolDemand{Epoch: &metav1.Time{Time: epoch}, Queued: queued, Running: running, Done: done}
		got := corralv1.DecodeDemand(in)
		if len(got) > corralv1.MaxTrackedJobs {
			t.Fatalf("decoded %d entries, more than %d", len(got), corralv1.MaxTrackedJobs)
		}
		first := byID(got)
		if len(first) != len(got) {
			t.Fatalf("a job decoded twice: %d entries, %d jobs", len(got), len(first))
		}
		for _, e := range got {
			if e.ID <= 0 || e.At.Before(epoch) || (e.State == corralv1.JobInProgress) != (e.Runner != "") {
				t.Fatalf("decoded a bad entry %+v", e)
			}
		}
		out := corralv1.EncodeDemand(got)
		schema.check(t, out)
		again := byID(corralv1.DecodeDemand(out))
		if len(again) != len(first) {
			t.Fatalf("round trip: %d jobs, then %d", len(first), len(again))
		}
		for id, e := range first {
			if a := again[id]; a.State != e.State || !a.At.Equal(e.At) || a.Runner != e.Runner {
				t.Fatalf("round trip changed job %d: %+v, then %+v", id, e, a)
			}
		}
	})
}

// TestEncodeDemandFitsTheCRD encodes the largest entries the format allows, as many as
// the bound allows, and holds the result to the CRD's schema.
func TestEncodeDemandFitsTheCRD(t *testing.T) {
	schema := loadDemandSchema(t)
	for _, state := range []corralv1.JobState{corralv1.JobQueued, corralv1.JobInProgress, corralv1.JobCompleted} {
		var entries []corralv1.DemandEntry
		for i := range corralv1.MaxTrackedJobs {
			at := t0
			if i > 0 {
				at = t0.Add(40 * 365 * 24 * time.Hour) // offsets of 12 digits
			}
			entries = append(entries, corralv1.DemandEntry{ID: 1_000_000_000_000_000_000 + int64(i), State: state, At: at, Runner: "z9z9z"})
		}
		d := corralv1.EncodeDemand(entries)
		schema.check(t, d)
		if n := len(corralv1.DecodeDemand(d)); n != corralv1.MaxTrackedJobs {
			t.Errorf("%s: decoded %d entries, want %d", state, n, corralv1.MaxTrackedJobs)
		}
	}
}
