package autoscale

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	corralv1 "github.com/corral-run/corral/api/v1alpha1"
	"github.com/corral-run/corral/internal/github"
	"github.com/corral-run/corral/internal/github/githubtest"
)

var (
	appKeyOnce sync.Once
	appKeyPEM  []byte
	appKeyErr  error
)

// appKey is one RSA key for the test binary: generating keys is slow.
func appKey(t interface{ Fatal(...any) }) []byte {
	appKeyOnce.Do(func() { appKeyPEM, appKeyErr = githubtest.NewPrivateKeyPEM() })
	if appKeyErr != nil {
		t.Fatal(appKeyErr)
	}
	return appKeyPEM
}

func queuedPayload(id int64) []byte {
	return githubtest.WorkflowJobPayload(githubtest.WorkflowJob{Action: "queued", ID: id, Labels: []string{"self-hosted"}})
}

// recoveryFixture is a fake GitHub with an App, and a recoverer reading its delivery log.
type recoveryFixture struct {
	srv  *githubtest.Server
	app  githubtest.App
	sink *recordingRecorder
	rec  *recoverer
}

// appSecretFixture is a fake GitHub with an App, and a fake client holding the App's
// credentials Secret (with the fake's CA) as corral-system/app.
func appSecretFixture(t *testing.T, srvOpts githubtest.Options) (*githubtest.Server, githubtest.App, client.Client, types.NamespacedName) {
	t.Helper()
	srv := githubtest.NewServer(srvOpts)
	t.Cleanup(srv.Close)
	app := srv.AddApp(githubtest.AppOptions{PrivateKeyPEM: appKey(t)})
	data := app.SecretData()
	data[KeyCABundle] = srv.CACertPEM()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = corralv1.AddToScheme(scheme)
	ref := types.NamespacedName{Namespace: "corral-system", Name: "app"}
	k8s := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ref.Namespace, Name: ref.Name, ResourceVersion: "1"}, Data: data,
	}).Build()
	return srv, app, k8s, ref
}

func newRecoveryFixture(t *testing.T, mode RecoveryMode) *recoveryFixture {
	t.Helper()
	srv, app, secrets, ref := appSecretFixture(t, githubtest.Options{})
	sink := &recordingRecorder{}
	opts := Options{Recovery: RecoveryOptions{CredentialsRef: ref, GitHubURL: srv.URL(), Mode: mode}}.withDefaults()
	return &recoveryFixture{srv: srv, app: app, sink: sink, rec: newRecoverer(opts.Recovery, secrets, secrets, sink, time.Second, NewMetrics(nil), nil)}
}

func (f *recoveryFixture) replayedJobs() map[int64]string {
	out := map[int64]string{}
	for _, ev := range f.sink.got() {
		out[ev.JobID] = ev.Delivery
	}
	return out
}

func TestRecoveryReplaysFailedDeliveriesOnce(t *testing.T) {
	f := newRecoveryFixture(t, RecoveryReplay)
	ctx := context.Background()
	now := f.srv.Now()
	// Too old to recover (the log is in time order, as GitHub's).
	f.srv.RecordDelivery(f.app.ID, githubtest.Delivery{Event: "workflow_job", StatusCode: 0, Payload: queuedPayload(4), DeliveredAt: now.Add(-2 * time.Hour)})
	// No webhook configured: GitHub could not connect, as while Corral was down.
	down := f.srv.DeliverAppEvent(ctx, f.app.ID, "workflow_job", queuedPayload(1))
	f.srv.RecordDelivery(f.app.ID, githubtest.Delivery{Event: "workflow_job", StatusCode: 202, Payload: queuedPayload(2)})
	retried := f.srv.RecordDelivery(f.app.ID, githubtest.Delivery{Event: "workflow_job", StatusCode: 503, Payload: queuedPayload(3)})
	f.srv.RecordDelivery(f.app.ID, githubtest.Delivery{GUID: retried.GUID, Redelivery: true, Event: "workflow_job", StatusCode: 200, Payload: queuedPayload(3)})
	f.srv.RecordDelivery(f.app.ID, githubtest.Delivery{Event: "ping", StatusCode: 0, Payload: []byte(`{}`)})
	unsigned := f.srv.RecordDelivery(f.app.ID, githubtest.Delivery{Event: "workflow_job", StatusCode: 401, Payload: queuedPayload(5)})

	if err := f.rec.cycle(ctx); err != nil {
		t.Fatal(err)
	}
	want := map[int64]string{1: down.GUID, 5: unsigned.GUID}
	if got := f.replayedJobs(); len(got) != 2 || got[1] != want[1] || got[5] != want[5] {
		t.Fatalf("replayed %v, want jobs 1 and 5 (failed, recent, never succeeded) with their GUIDs", got)
	}
	if f.srv.CallCount(githubtest.EndpointAppHookDelivery) != 2 {
		t.Errorf("fetched %d deliveries, want only the 2 replayed", f.srv.CallCount(githubtest.EndpointAppHookDelivery))
	}
	for _, ev := range f.sink.got() {
		if ev.ReceivedAt.After(time.Now()) || ev.ReceivedAt.Before(now.Add(-time.Minute)) {
			t.Errorf("replayed event time %v, want the original delivery's", ev.ReceivedAt)
		}
	}

	// Next cycle: nothing new, nothing replayed twice; a new failure is picked up.
	if err := f.rec.cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(f.sink.got()); n != 2 {
		t.Fatalf("second cycle replayed again: %d events", n)
	}
	late := f.srv.DeliverAppEvent(ctx, f.app.ID, "workflow_job", queuedPayload(6))
	if err := f.rec.cycle(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.replayedJobs(); len(got) != 3 || got[6] != late.GUID {
		t.Errorf("after a new failure replayed %v, want job 6 too", got)
	}
}

func TestRecoveryRetriesWhatItCouldNotRecord(t *testing.T) {
	for _, err := range []error{errBacklogFull, errors.New("etcd is unavailable"), context.DeadlineExceeded} {
		t.Run(err.Error(), func(t *testing.T) {
			f := newRecoveryFixture(t, RecoveryReplay)
			ctx := context.Background()
			f.srv.DeliverAppEvent(ctx, f.app.ID, "workflow_job", queuedPayload(1))
			f.srv.DeliverAppEvent(ctx, f.app.ID, "workflow_job", queuedPayload(2))
			f.sink.fail(err)
			if err := f.rec.cycle(ctx); err != nil {
				t.Fatal(err)
			}
			if n := f.srv.CallCount(githubtest.EndpointAppHookDelivery); n != 1 {
				t.Errorf("fetched %d deliveries while the store refused, want 1 (the cycle stops)", n)
			}
			f.sink.fail(nil)
			if err := f.rec.cycle(ctx); err != nil {
				t.Fatal(err)
			}
			if got := f.replayedJobs(); len(got) != 2 {
				t.Errorf("once the store took them again replayed %v, want jobs 1 and 2", got)
			}
		})
	}
}

func TestRecoveryRedelivers(t *testing.T) {
	f := newRecoveryFixture(t, RecoveryRedeliver)
	ctx := context.Background()
	var mu sync.Mutex
	status, received := http.StatusServiceUnavailable, 0
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		received++
		w.WriteHeader(status)
	}))
	t.Cleanup(hs.Close)
	f.srv.SetAppWebhook(f.app.ID, githubtest.AppWebhook{URL: hs.URL, Secret: "s"})
	failed := f.srv.DeliverAppEvent(ctx, f.app.ID, "workflow_job", queuedPayload(1))
	mu.Lock()
	status = http.StatusAccepted
	mu.Unlock()

	for range 2 {
		if err := f.rec.cycle(ctx); err != nil {
			t.Fatal(err)
		}
	}
	log := f.srv.Deliveries(f.app.ID)
	if len(log) != 2 || !log[1].Redelivery || log[1].GUID != failed.GUID || !log[1].Succeeded() {
		t.Fatalf("delivery log = %+v, want one successful redelivery", log)
	}
	if received != 2 || len(f.sink.got()) != 0 {
		t.Errorf("receiver got %d requests (want 2), %d replayed locally (want 0)", received, len(f.sink.got()))
	}
}

func TestFailedDeliveries(t *testing.T) {
	d := func(id int64, guid, event, action string, code int) github.HookDelivery {
		return github.HookDelivery{ID: id, GUID: guid, Event: event, Action: action, StatusCode: code}
	}
	got := failedDeliveries([]github.HookDelivery{
		d(9, "a", "workflow_job", "queued", 0),
		d(8, "b", "workflow_job", "completed", 500),
		d(7, "b", "workflow_job", "completed", 502), // older attempt of b
		d(6, "c", "workflow_job", "queued", 500),
		d(5, "c", "workflow_job", "queued", 202), // c succeeded once
		d(4, "d", "push", "", 500),
		d(3, "e", "workflow_job", "requested", 500),
		d(2, "f", "workflow_job", "", 404), // action unknown to the list: fetched and checked
	})
	var ids []int64
	for _, x := range got {
		ids = append(ids, x.ID)
	}
	if len(ids) != 3 || ids[0] != 2 || ids[1] != 8 || ids[2] != 9 {
		t.Errorf("failedDeliveries = %v, want [2 8 9] (oldest first, latest attempt per GUID)", ids)
	}
}
