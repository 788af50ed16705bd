package v1alpha1

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// JobAttribution is the identity of a workflow job one of the pool's runners took, from
// its in_progress delivery: one line of status.demand.attributions, decoded. Repository and
// sender are GitHub's; workflow and job names are whatever the workflow's author wrote:
// never trust them for access decisions.
// +kubebuilder:object:generate=false
type JobAttribution struct {
	// Runner is the suffix of the runner that took the job (see PoolDemand.Running).
	Runner string
	// JobID is GitHub's workflow job ID (> 0).
	JobID int64
	// StartedAt is when the receiver learned the job started, to the second.
	StartedAt time.Time
	// RunID is the workflow run's ID, RunAttempt its attempt (from 1); 0 when unknown.
	RunID      int64
	RunAttempt int32
	// Repository is owner/name; Workflow and Job the names; Sender the login of the user
	// whose action triggered the delivery. Each is AttributionText.
	Repository, Workflow, Job, Sender string
}

// attributionFields is the number of space-separated fields of one line.
const attributionFields = 9

// AttributionText makes a payload string fit for an attribution: valid UTF-8, no control
// or format characters (newlines, terminal escapes, zero-width and bidi overrides that
// make kubectl show something else), at most MaxAttributionValue bytes cut at a character
// boundary, no leading or trailing space. What is left may still be anything printable.
func AttributionText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > MaxAttributionValue {
			break
		}
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

// EncodeAttributions is the value of status.demand.attributions holding list, in its order
// (callers put the newest first): the lines that fit in MaxAttributionBytes, the rest left
// out, as are entries without a valid runner suffix or job ID. Texts are cleaned
// (AttributionText) and escaped so that a line always splits back into its fields.
func EncodeAttributions(list []JobAttribution) string {
	var b []byte
	for _, a := range list {
		if a.JobID <= 0 || !validRunnerSuffix(a.Runner) {
			continue
		}
		line := appendAttribution(nil, a)
		if len(b) > 0 {
			line = append([]byte{'\n'}, line...)
		}
		if len(b)+len(line) > MaxAttributionBytes {
			continue // a shorter, older line may still fit
		}
		b = append(b, line...)
	}
	return string(b)
}

// appendAttribution appends a's line to b.
func appendAttribution(b []byte, a JobAttribution) []byte {
	b = strconv.AppendInt(b, a.JobID, 10)
	b = append(b, ' ')
	b = append(b, a.Runner...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, max(a.StartedAt.Unix(), 0), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, max(a.RunID, 0), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(max(a.RunAttempt, 0)), 10)
	for _, t := range []string{a.Repository, a.Workflow, a.Job, a.Sender} {
		b = append(b, ' ')
		b = appendEscaped(b, AttributionText(t))
	}
	return b
}

// appendEscaped appends t with '%' and ' ' percent-escaped, "-" for an empty t and "%2D"
// for a t that is "-".
func appendEscaped(b []byte, t string) []byte {
	switch t {
	case "":
		return append(b, '-')
	case "-":
		return append(b, "%2D"...)
	}
	for i := 0; i < len(t); i++ {
		switch t[i] {
		case '%':
			b = append(b, "%25"...)
		case ' ':
			b = append(b, "%20"...)
		default:
			b = append(b, t[i])
		}
	}
	return b
}

// unescape reverses appendEscaped; ok is false for an escape appendEscaped never writes.
func unescape(f string) (string, bool) {
	if f == "-" {
		return "", true
	}
	if !strings.Contains(f, "%") {
		return f, true
	}
	var b strings.Builder
	for f != "" {
		before, after, found := strings.Cut(f, "%")
		b.WriteString(before)
		if !found {
			break
		}
		switch {
		case strings.HasPrefix(after, "25"):
			b.WriteByte('%')
		case strings.HasPrefix(after, "20"):
			b.WriteByte(' ')
		case strings.HasPrefix(after, "2D"):
			b.WriteByte('-')
		default:
			return "", false
		}
		f = after[2:]
	}
	return b.String(), true
}

// DecodeAttributions returns the attributions s holds, in its order. Malformed lines and
// a job's later lines are skipped, and texts cleaned again (the status may have been
// written by anyone allowed to write it), so whatever s holds, what comes out is what
// EncodeAttributions would write.
func DecodeAttributions(s string) []JobAttribution {
	var out []JobAttribution
	seen := map[int64]bool{}
	for rest := s; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if a, ok := parseAttribution(line); ok && !seen[a.JobID] {
			seen[a.JobID] = true
			out = append(out, a)
		}
	}
	return out
}

// parseAttribution parses one line.
func parseAttribution(line string) (JobAttribution, bool) {
	f := strings.Split(line, " ")
	if len(f) != attributionFields {
		return JobAttribution{}, false
	}
	id, err1 := strconv.ParseInt(f[0], 10, 64)
	started, err2 := strconv.ParseInt(f[2], 10, 64)
	runID, err3 := strconv.ParseInt(f[3], 10, 64)
	attempt, err4 := strconv.ParseInt(f[4], 10, 32)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || id <= 0 || started < 0 || runID < 0 || attempt < 0 ||
		!validRunnerSuffix(f[1]) {
		return JobAttribution{}, false
	}
	a := JobAttribution{JobID: id, Runner: f[1], StartedAt: time.Unix(started, 0).UTC(), RunID: runID, RunAttempt: int32(attempt)}
	for i, dst := range []*string{&a.Repository, &a.Workflow, &a.Job, &a.Sender} {
		t, ok := unescape(f[5+i])
		if !ok {
			return JobAttribution{}, false
		}
		*dst = AttributionText(t)
	}
	return a, true
}
