package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"
)

// AuditEvent is what the suites read of one API server audit event (audit.k8s.io/v1, the
// JSON lines of --audit-log-path): who made which request on which object, when, and how
// it was answered.
type AuditEvent struct {
	Stage      string `json:"stage"`
	RequestURI string `json:"requestURI"`
	Verb       string `json:"verb"`
	User       struct {
		Username string `json:"username"`
	} `json:"user"`
	UserAgent string `json:"userAgent"`
	ObjectRef struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		Namespace   string `json:"namespace"`
		Name        string `json:"name"`
		APIGroup    string `json:"apiGroup"`
	} `json:"objectRef"`
	ResponseStatus struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
	RequestReceived time.Time `json:"requestReceivedTimestamp"`
}

// Resource is the object's resource, with its subresource after a slash (pods,
// runnerpools/status).
func (e AuditEvent) Resource() string {
	if e.ObjectRef.Subresource != "" {
		return e.ObjectRef.Resource + "/" + e.ObjectRef.Subresource
	}
	return e.ObjectRef.Resource
}

// query is the request's query string, parsed.
func (e AuditEvent) query() url.Values {
	u, err := url.Parse(e.RequestURI)
	if err != nil {
		return nil
	}
	return u.Query()
}

// DryRun reports whether the request asked for a dry run (dryRun=All): nothing was stored.
func (e AuditEvent) DryRun() bool { return e.query().Get("dryRun") != "" }

// FieldManager is the request's fieldManager parameter: required of server-side applies,
// empty for a client that sets none (the API server then names the manager after the user
// agent).
func (e AuditEvent) FieldManager() string { return e.query().Get("fieldManager") }

// AuditLog reads an audit log as the API server appends to it.
type AuditLog struct {
	path    string
	offset  int64
	partial []byte // an event whose line is not complete yet
}

// OpenAuditLog reads path from its beginning.
func OpenAuditLog(path string) *AuditLog { return &AuditLog{path: path} }

// Read returns the events completed (stage ResponseComplete or Panic) since the last Read;
// none while the file does not exist yet.
func (a *AuditLog) Read() ([]AuditEvent, error) {
	f, err := os.Open(a.path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(a.offset, io.SeekStart); err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	a.offset += int64(len(data))
	data = append(a.partial, data...)
	end := bytes.LastIndexByte(data, '\n')
	a.partial = append([]byte(nil), data[end+1:]...)
	var out []AuditEvent
	for _, line := range bytes.Split(data[:end+1], []byte{'\n'}) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var e AuditEvent
		if err := json.Unmarshal(line, &e); err != nil {
			return out, fmt.Errorf("decoding an audit event: %w", err)
		}
		if e.Stage == "ResponseComplete" || e.Stage == "Panic" {
			out = append(out, e)
		}
	}
	return out, nil
}
