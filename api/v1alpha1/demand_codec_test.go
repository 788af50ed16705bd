package v1alpha1_test

import (
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/test/gen"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func demandAt(epoch time.Time, queued, running, done string) *corralv1.PoolDemand {
	return &corralv1.PoolDemand{Epoch: &metav1.Time{Time: epoch}, Queued: queued, Running: running, Done: done}
}

func TestEncodeDemand(t *testing.T) {
	cases := []struct {
		name    string
		entries []corralv1.DemandEntry
		want    *corralv1.PoolDemand
	}{
		{"nothing", nil, &corralv1.PoolDemand{}},
		{"one queued job", []corralv1.DemandEntry{gen.QueuedJob(41234567890, t0.Add(1520*time.Millisecond))},
			demandAt(t0.Add(time.Second), "41234567890+520", "", "")},
		{"sorted by ID, epoch the oldest second", []corralv1.DemandEntry{
			gen.QueuedJob(30, t0.Add(2500*time.Millisecond)),
			gen.RunningJob(20, "ab3x9", t0.Add(3*time.Second)),
			gen.QueuedJob(10, t0.Add(1700*time.Millisecond)),
			gen.DoneJob(5, t0.Add(90*time.Minute)),
		}, demandAt(t0.Add(time.Second), "10+700 30+1500", "20+2000=ab3x9", "5+5399000")},
		{"sub-millisecond times truncated", []corralv1.DemandEntry{gen.QueuedJob(1, t0.Add(1500*time.Microsecond))},
			demandAt(t0, "1+1", "", "")},
		{"a job listed twice keeps its furthest state", []corralv1.DemandEntry{
			gen.DoneJob(1, t0.Add(time.Second)), gen.QueuedJob(1, t0), gen.RunningJob(2, "aaaaa", t0), gen.QueuedJob(2, t0),
		}, demandAt(t0, "", "2+0=aaaaa", "1+1000")},
		{"unencodable entries left out", []corralv1.DemandEntry{
			gen.QueuedJob(0, t0), gen.QueuedJob(-4, t0), {ID: 3, State: "Lost", At: t0},
			gen.RunningJob(5, "", t0), gen.RunningJob(6, "ABCDE", t0), gen.RunningJob(7, "abcdef", t0), gen.RunningJob(8, "a b c", t0),
			gen.QueuedJob(9, t0.Add(time.Hour)),
		}, demandAt(t0.Add(time.Hour), "9+0", "", "")},
		{"largest ID", []corralv1.DemandEntry{gen.QueuedJob(math.MaxInt64, t0)}, demandAt(t0, "9223372036854775807+0", "", "")},
		{"offsets clamped to 12 digits", []corralv1.DemandEntry{gen.QueuedJob(1, t0), gen.QueuedJob(2, t0.Add(50*365*24*time.Hour))},
			demandAt(t0, "1+0 2+999999999999", "", "")},
		{"non-UTC times", []corralv1.DemandEntry{gen.QueuedJob(1, t0.In(time.FixedZone("X", 3600)))}, demandAt(t0, "1+0", "", "")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := corralv1.EncodeDemand(tc.entries)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("EncodeDemand = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeDemand(t *testing.T) {
	cases := []struct {
		name string
		in   *corralv1.PoolDemand
		want []corralv1.DemandEntry
	}{
		{"nil", nil, nil},
		{"empty", &corralv1.PoolDemand{}, nil},
		{"running first, then queued, then done", demandAt(t0, "10+700 30+1500", "20+2000=ab3x9", "5+5399000"), []corralv1.DemandEntry{
			gen.RunningJob(20, "ab3x9", t0.Add(2*time.Second)),
			gen.QueuedJob(10, t0.Add(700*time.Millisecond)), gen.QueuedJob(30, t0.Add(1500*time.Millisecond)),
			gen.DoneJob(5, t0.Add(5399*time.Second)),
		}},
		{"malformed entries skipped", demandAt(t0, "1+1  x+1 2+ +3 -4+1 5+-1 0+1 6+1+1 7 8+1=abcde 9+1234567890123 12345678901234567890+1 9999999999999999999+1 10+2", "11+1 12+1=ABCDE 13+1=abcde", "14+1=abcde 15+1"),
			[]corralv1.DemandEntry{
				gen.RunningJob(13, "abcde", t0.Add(time.Millisecond)),
				gen.QueuedJob(1, t0.Add(time.Millisecond)), gen.QueuedJob(10, t0.Add(2*time.Millisecond)),
				gen.DoneJob(15, t0.Add(time.Millisecond)),
			}},
		{"a job in several lists keeps its furthest state", demandAt(t0, "1+5 2+5 2+9", "1+6=abcde", "1+7"), []corralv1.DemandEntry{
			gen.DoneJob(1, t0.Add(7*time.Millisecond)), gen.QueuedJob(2, t0.Add(5*time.Millisecond)),
		}},
		{"no epoch: the Unix epoch", &corralv1.PoolDemand{Queued: "1+1000"}, []corralv1.DemandEntry{gen.QueuedJob(1, time.Unix(1, 0).UTC())}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := corralv1.DecodeDemand(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("DecodeDemand = %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestDecodeDemandIsBounded(t *testing.T) {
	var many []string
	for i := range 3 * corralv1.MaxTrackedJobs {
		many = append(many, fmt.Sprintf("%d+%d", i+1, i))
	}
	list := strings.Join(many, " ")
	got := corralv1.DecodeDemand(demandAt(t0, list, "", list))
	if len(got) != corralv1.MaxTrackedJobs {
		t.Fatalf("decoded %d entries, want the bound %d", len(got), corralv1.MaxTrackedJobs)
	}
	// The same jobs again in done upgrade the entries kept, and add none.
	for _, e := range got {
		if e.State != corralv1.JobCompleted || e.ID > corralv1.MaxTrackedJobs {
			t.Fatalf("entry %+v: want the first %d jobs, done", e, corralv1.MaxTrackedJobs)
		}
	}
}

func TestTracks(t *testing.T) {
	d := demandAt(t0, "10+1 123+5", "77+1=abcde", "4000+9")
	for id, want := range map[int64]bool{10: true, 123: true, 77: true, 4000: true, 1: false, 12: false, 23: false, 400: false, 5: false, 0: false, -10: false} {
		if got := d.Tracks(id); got != want {
			t.Errorf("Tracks(%d) = %v, want %v", id, got, want)
		}
	}
	var none *corralv1.PoolDemand
	if none.Tracks(10) {
		t.Error("a nil demand tracks a job")
	}
}

// TestDemandSize pins how compact the encoding is: 2,000 queued jobs with github.com's
// 11-digit job IDs, spread over a whole day, take under 45 KB.
func TestDemandSize(t *testing.T) {
	var entries []corralv1.DemandEntry
	for i := range corralv1.MaxTrackedJobs {
		entries = append(entries, gen.QueuedJob(41_000_000_000+int64(i)*7919, t0.Add(time.Duration(i)*43*time.Second+time.Duration(i%1000)*time.Millisecond)))
	}
	d := corralv1.EncodeDemand(entries)
	if n := len(d.Queued); n > 45_000 {
		t.Errorf("2,000 queued jobs encode to %d bytes, want at most 45,000", n)
	}
	if got := corralv1.DecodeDemand(d); len(got) != corralv1.MaxTrackedJobs {
		t.Errorf("decoded %d entries, want %d", len(got), corralv1.MaxTrackedJobs)
	}
}
