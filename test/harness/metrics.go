package harness

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Metrics is a scrape of a Prometheus text endpoint: sample line (name{labels}) -> value.
type Metrics map[string]float64

// Scrape reads url (with a bearer token when given, TLS unverified: local only).
func Scrape(ctx context.Context, url, token string) (Metrics, error) {
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
	return ParseMetrics(resp.Body)
}

// ParseMetrics reads the Prometheus text format.
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
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

// Sum adds the samples of name whose labels contain every one of the given label pairs
// (`key="value"`).
func (m Metrics) Sum(name string, labels ...string) float64 {
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

// By groups the samples of name by the value of label, keeping those matching filter.
func (m Metrics) By(name, label string, filter func(string) bool) map[string]float64 {
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

// Minus returns m - before for every sample of m.
func (m Metrics) Minus(before Metrics) Metrics {
	out := Metrics{}
	for k, v := range m {
		out[k] = v - before[k]
	}
	return out
}
