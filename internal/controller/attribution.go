package controller

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
)

// jobMetadata is the labels and annotations that attribute a runner pod to the job it took:
// every known value as an annotation, and as a label where it is a valid label value as it
// is (a value that would have to be changed to fit is no label: a selector must not match a
// job it does not name). Pure.
func jobMetadata(a corralv1.JobAttribution) (labels, annotations map[string]string) {
	labels, annotations = map[string]string{}, map[string]string{}
	put := func(key, value string, label bool) {
		if value == "" {
			return
		}
		annotations[key] = value
		if label && len(validation.IsValidLabelValue(value)) == 0 {
			labels[key] = value
		}
	}
	put(corralv1.LabelJobID, strconv.FormatInt(a.JobID, 10), true)
	put(corralv1.LabelJobRepository, a.Repository, false)
	if a.Repository != "" {
		if v := strings.ReplaceAll(a.Repository, "/", "."); len(validation.IsValidLabelValue(v)) == 0 {
			labels[corralv1.LabelJobRepository] = v
		}
	}
	put(corralv1.LabelJobWorkflow, a.Workflow, true)
	if a.RunID > 0 {
		put(corralv1.LabelJobRunID, strconv.FormatInt(a.RunID, 10), true)
	}
	if a.RunAttempt > 0 {
		put(corralv1.LabelJobRunAttempt, strconv.FormatInt(int64(a.RunAttempt), 10), true)
	}
	put(corralv1.LabelJobName, a.Job, true)
	put(corralv1.LabelJobSender, a.Sender, true)
	return labels, annotations
}

// attributedTo reports whether pod already carries job jobID's attribution.
func attributedTo(pod *corev1.Pod, jobID int64) bool {
	return pod.Annotations[corralv1.LabelJobID] == strconv.FormatInt(jobID, 10)
}

// maxEventNote is what an Event's note may hold (events.k8s.io/v1: 1 KiB).
const maxEventNote = 1024

// jobNote is the JobStarted Event's note: the job's identity, cut to what an Event holds (the
// names alone may be 256 bytes each).
func jobNote(j corralv1.JobAttribution) string {
	note := fmt.Sprintf("runner took job %d (%q) of %s, workflow %q, run %d attempt %d, triggered by %s",
		j.JobID, j.Job, j.Repository, j.Workflow, j.RunID, j.RunAttempt, j.Sender)
	if len(note) <= maxEventNote {
		return note
	}
	cut := maxEventNote - len("...")
	for cut > 0 && !utf8.RuneStart(note[cut]) {
		cut--
	}
	return note[:cut] + "..."
}
