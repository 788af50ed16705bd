//go:build bench

package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// podTimes records, by the harness's clock, when each runner pod was first seen and first
// seen Running.
type podTimes struct {
	mu      sync.Mutex
	created map[string]podSeen // pod name -> times
}

type podSeen struct {
	pool             string
	created, running time.Time
	gone             bool
}

// watchRunnerPods watches every runner pod until ctx is done.
func watchRunnerPods(ctx context.Context, e *environment) (*podTimes, error) {
	pt := &podTimes{created: map[string]podSeen{}}
	f := informers.NewSharedInformerFactoryWithOptions(e.cs, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.LabelSelector = corralv1.LabelComponent + "=" + corralv1.ComponentRunner
	}))
	inf := f.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { pt.observe(obj, false) },
		UpdateFunc: func(_, obj any) { pt.observe(obj, false) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			pt.observe(obj, true)
		},
	}); err != nil {
		return nil, fmt.Errorf("watching runner pods: %w", err)
	}
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, fmt.Errorf("runner pod cache did not sync")
	}
	return pt, nil
}

func (pt *podTimes) observe(obj any, deleted bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	now := time.Now()
	pt.mu.Lock()
	defer pt.mu.Unlock()
	s, seen := pt.created[pod.Name]
	if !seen {
		s = podSeen{pool: pod.Labels[corralv1.LabelPool], created: now}
	}
	if s.running.IsZero() && pod.Status.Phase == corev1.PodRunning {
		s.running = now
	}
	if deleted {
		s.gone = true
	}
	pt.created[pod.Name] = s
}

// pool returns the sorted creation and running times of the pool's pods, and how many of its
// pods still exist.
func (pt *podTimes) pool(name string) (created, running []time.Time, live int) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	for _, s := range pt.created {
		if s.pool != name {
			continue
		}
		created = append(created, s.created)
		if !s.running.IsZero() {
			running = append(running, s.running)
		}
		if !s.gone {
			live++
		}
	}
	sortTimes(created)
	sortTimes(running)
	return created, running, live
}

func sortTimes(ts []time.Time) { sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) }) }

// latencies pairs the i-th start with the i-th event (runners are interchangeable: GitHub
// gives a job to any idle matching runner) and returns the durations, sorted.
func latencies(starts, events []time.Time) []time.Duration {
	n := min(len(starts), len(events))
	out := make([]time.Duration, 0, n)
	for i := range n {
		out = append(out, max(0, events[i].Sub(starts[i])))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// quantile returns the q-quantile of sorted durations (nearest rank); 0 when empty.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// metrics is a scrape of a Prometheus text endpoint: sample line (name{labels}) -> value.
type metrics map[string]float64

// scrape reads url (with a bearer token when given, TLS unverified: local only).
func scrape(ctx context.Context, url, token string) (metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("building the scrape of %s: %w", url, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // local cluster
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scraping %s: %s", url, resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (metrics, error) {
	m := metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		m[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading metrics: %w", err)
	}
	return m, nil
}

// sum adds the samples of name whose labels contain every one of the given label pairs
// (`key="value"`).
func (m metrics) sum(name string, labels ...string) float64 {
	total := 0.0
	for k, v := range m {
		base, rest, _ := strings.Cut(k, "{")
		if base != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				ok = false
				break
			}
		}
		if ok {
			total += v
		}
	}
	return total
}

// by groups the samples of name by the value of label, keeping those matching filter.
func (m metrics) by(name, label string, filter func(string) bool) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		base, rest, _ := strings.Cut(k, "{")
		if base != name {
			continue
		}
		val := labelValue(rest, label)
		if filter == nil || filter(val) {
			out[val] += v
		}
	}
	return out
}

// labelValue extracts label's value from a `a="x",b="y"}` label list.
func labelValue(labels, label string) string {
	for _, part := range strings.Split(strings.TrimSuffix(labels, "}"), "\",") {
		k, v, ok := strings.Cut(part, "=\"")
		if ok && k == label {
			return strings.TrimSuffix(v, "\"")
		}
	}
	return ""
}

// diff returns after - before for every sample of after.
func diff(after, before metrics) metrics {
	out := metrics{}
	for k, v := range after {
		out[k] = v - before[k]
	}
	return out
}

// calls is a snapshot of the fake GitHub's call counts by endpoint.
type calls map[string]int

func (c calls) minus(before calls) calls {
	out := calls{}
	for k, v := range c {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
