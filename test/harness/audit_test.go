package harness

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAuditLogReadsCompleteEventsAsTheyAreAppended(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	log := OpenAuditLog(path)
	if evs, err := log.Read(); err != nil || len(evs) != 0 {
		t.Fatalf("before the file exists: %v, %v", evs, err)
	}
	first := `{"stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces/b/pods?dryRun=All","objectRef":{"resource":"pods","namespace":"b"},"requestReceivedTimestamp":"2026-12-02T10:00:00.123456Z"}
{"stage":"ResponseStarted","verb":"watch"}
{"stage":"ResponseComplete","verb":"patch","requestURI":"/apis/corral.run/v1alpha1/namespaces/b/runnerpools/p/status?fieldManager=corral-webhook&force=true","objectRef":{"resource":"runnerpools","subresource":"status","name":"p"}`
	if err := os.WriteFile(path, []byte(first), 0o600); err != nil {
		t.Fatal(err)
	}
	evs, err := log.Read()
	if err != nil || len(evs) != 1 || !evs[0].DryRun() || evs[0].Resource() != "pods" || evs[0].RequestReceived.Nanosecond() != 123456000 {
		t.Fatalf("first read = %+v, %v; want the dry-run create only (the patch's line is not complete)", evs, err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("}\n")
	_ = f.Close()
	evs, err = log.Read()
	if err != nil || len(evs) != 1 || evs[0].Resource() != "runnerpools/status" || evs[0].FieldManager() != "corral-webhook" || evs[0].DryRun() {
		t.Fatalf("second read = %+v, %v; want the status apply of corral-webhook", evs, err)
	}
}
