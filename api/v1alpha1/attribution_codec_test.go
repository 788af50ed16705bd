package v1alpha1_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// TestAttributionRoundTrip: texts that would break the line format (spaces, percent signs,
// a lone dash, an escape written literally) come back as they went in.
func TestAttributionRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	in := []corralv1.JobAttribution{
		{Runner: "abcde", JobID: 41000000001, StartedAt: at, RunID: 9000000001, RunAttempt: 2,
			Repository: "acme/app", Workflow: "CI / lint  and test", Job: "build (ubuntu, 3.12) 100%", Sender: "dependabot[bot]"},
		{Runner: "00000", JobID: 1, StartedAt: at.Add(-time.Minute), Workflow: "-", Job: "%2D%20%", Sender: "-x-"},
		{Runner: "zzzzz", JobID: 2, StartedAt: at}, // no texts at all
	}
	s := corralv1.EncodeAttributions(in)
	if strings.Count(s, "\n") != len(in)-1 {
		t.Fatalf("%q: want one line per attribution", s)
	}
	got := corralv1.DecodeAttributions(s)
	if len(got) != len(in) {
		t.Fatalf("decoded %d attributions from %q, want %d", len(got), s, len(in))
	}
	for i := range in {
		if got[i] != in[i] {
			t.Errorf("attribution %d: %+v, want %+v", i, got[i], in[i])
		}
	}
}

// TestAttributionsRefuseHostileStatus: the status is writable by anyone allowed to write
// runnerpools/status; whatever it holds, what decodes is well formed and cleaned.
func TestAttributionsRefuseHostileStatus(t *testing.T) {
	good := "7 abcde 1767268800 99 1 acme/app CI build octocat"
	for _, tc := range []struct {
		name, line string
		ok         bool
	}{
		{"well formed", good, true},
		{"too few fields", "7 abcde 1767268800 99 1 acme/app CI build", false},
		{"too many fields", good + " extra", false},
		{"bad suffix", "7 ABCDE 1767268800 99 1 acme/app CI build octocat", false},
		{"job ID 0", "0 abcde 1767268800 99 1 acme/app CI build octocat", false},
		{"negative run", "7 abcde 1767268800 -99 1 acme/app CI build octocat", false},
		{"attempt overflows int32", "7 abcde 1767268800 99 4294967296 acme/app CI build octocat", false},
		{"unknown escape", "7 abcde 1767268800 99 1 acme/app CI bu%41ild octocat", false},
		{"cut escape", "7 abcde 1767268800 99 1 acme/app CI build octocat%2", false},
	} {
		got := corralv1.DecodeAttributions("garbage\n" + tc.line + "\n\n")
		if (len(got) == 1) != tc.ok {
			t.Errorf("%s: %q decoded to %+v, want ok=%v", tc.name, tc.line, got, tc.ok)
		}
	}
	// Texts that the receiver would have cleaned are cleaned on the way out too.
	raw := "7 abcde 1767268800 99 1 acme/app \x1b[31mCI evil\u202egnp.exe " + strings.Repeat("x", 5000)
	got := corralv1.DecodeAttributions(raw)
	if len(got) != 1 || got[0].Workflow != "[31mCI" || got[0].Job != "evilgnp.exe" || len(got[0].Sender) != corralv1.MaxAttributionValue {
		t.Errorf("decoded %+v: want control and format characters dropped, texts cut to %d bytes", got, corralv1.MaxAttributionValue)
	}
}

// TestEncodeAttributionsFitsTheField: however long the texts, the field stays within
// MaxAttributionBytes and keeps the newest that fit.
func TestEncodeAttributionsFitsTheField(t *testing.T) {
	long := strings.Repeat("% ", 200) // every byte escaped: the longest line the format writes
	var in []corralv1.JobAttribution
	for i := range 50 {
		in = append(in, corralv1.JobAttribution{Runner: "abcde", JobID: int64(100 - i), StartedAt: time.Unix(1767268800, 0).UTC(),
			Repository: long, Workflow: long, Job: long, Sender: long})
	}
	in = append(in, corralv1.JobAttribution{Runner: "short", JobID: 1, StartedAt: time.Unix(1767268800, 0).UTC()})
	s := corralv1.EncodeAttributions(in)
	got := corralv1.DecodeAttributions(s)
	if len(s) > corralv1.MaxAttributionBytes || len(got) < 2 || got[0].JobID != 100 || got[len(got)-1].JobID != 1 {
		t.Errorf("%d bytes, %d attributions: want at most %d bytes, the newest first and the short old one still in",
			len(s), len(got), corralv1.MaxAttributionBytes)
	}
}

// FuzzAttributionCodec decodes hostile status.demand.attributions: never a panic, every
// text printable UTF-8 within MaxAttributionValue, and what decodes re-encodes within the
// field's bound to what decodes the same.
func FuzzAttributionCodec(f *testing.F) {
	schema := loadDemandSchema(f)
	f.Add("7 abcde 1767268800 99 1 acme/app CI build octocat\n8 zzzzz 0 0 0 - - - -")
	f.Add("1 abcde 1 1 1 %25 %20 %2D %\n2 abcde 1 1 1 a b c d e\n\n\n3 abcd 1 1 1 a b c d")
	f.Add(strings.Repeat("9 abcde 9223372036854775807 1 2147483647 \xff\xfe \u202e \x00 x\n", 300))
	f.Fuzz(func(t *testing.T, s string) {
		got := corralv1.DecodeAttributions(s)
		for _, a := range got {
			for _, text := range []string{a.Repository, a.Workflow, a.Job, a.Sender} {
				if !utf8.ValidString(text) || len(text) > corralv1.MaxAttributionValue || text != corralv1.AttributionText(text) {
					t.Fatalf("decoded an unclean text %q", text)
				}
			}
		}
		out := corralv1.EncodeAttributions(got)
		schema.check(t, &corralv1.PoolDemand{Attributions: out})
		again := corralv1.DecodeAttributions(out)
		if len(again) > len(got) {
			t.Fatalf("re-encoding made %d attributions of %d", len(again), len(got))
		}
		need := -1 // the bytes all of got takes: lines and separators
		for _, a := range got {
			need += len(corralv1.EncodeAttributions([]corralv1.JobAttribution{a})) + 1
		}
		if need <= corralv1.MaxAttributionBytes && len(again) != len(got) {
			t.Fatalf("%d attributions need %d bytes, yet only %d were kept", len(got), need, len(again))
		}
		seen := map[int64]bool{}
		for i := range again {
			if j := indexOf(got, again[i].JobID); j < 0 || got[j] != again[i] || seen[again[i].JobID] {
				t.Fatalf("round trip changed or repeated job %d: %+v", again[i].JobID, again[i])
			}
			seen[again[i].JobID] = true
		}
	})
}

// indexOf is the index of the first attribution of job id in list, or -1.
func indexOf(list []corralv1.JobAttribution, id int64) int {
	for i, a := range list {
		if a.JobID == id {
			return i
		}
	}
	return -1
}
