package tunplugin

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// kubelet is the registration side of the kubelet's device manager, over the real gRPC API
// on a unix socket, as the kubelet serves it.
type kubelet struct {
	pluginapi.UnimplementedRegistrationServer
	registered chan *pluginapi.RegisterRequest
}

func (k *kubelet) Register(_ context.Context, r *pluginapi.RegisterRequest) (*pluginapi.Empty, error) {
	k.registered <- r
	return &pluginapi.Empty{}, nil
}

// startKubelet serves kubelet.sock in dir until the test ends.
func startKubelet(t *testing.T, dir string) *kubelet {
	t.Helper()
	lis, err := net.Listen("unix", filepath.Join(dir, "kubelet.sock"))
	if err != nil {
		t.Fatal(err)
	}
	k := &kubelet{registered: make(chan *pluginapi.RegisterRequest, 4)}
	srv := grpc.NewServer()
	pluginapi.RegisterRegistrationServer(srv, k)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return k
}

func (k *kubelet) waitRegister(t *testing.T) *pluginapi.RegisterRequest {
	t.Helper()
	select {
	case r := <-k.registered:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the plugin did not register with the kubelet within 10s")
		return nil
	}
}

// dial connects to the plugin's endpoint the way the kubelet does after a registration.
func dial(t *testing.T, dir string, r *pluginapi.RegisterRequest) pluginapi.DevicePluginClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+filepath.Join(dir, r.Endpoint), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pluginapi.NewDevicePluginClient(conn)
}

// shortTempDir keeps unix socket paths under the kernel's 108-byte limit.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tunp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// fakeTun is a character device the test may take away: a symlink to /dev/null.
func fakeTun(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "tun")
	if err := os.Symlink("/dev/null", path); err != nil {
		t.Fatal(err)
	}
	return path
}

func startPlugin(t *testing.T, o Options) {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

func recvHealth(t *testing.T, s grpc.ServerStreamingClient[pluginapi.ListAndWatchResponse], want int) string {
	t.Helper()
	r, err := s.Recv()
	if err != nil {
		t.Fatalf("ListAndWatch: %v", err)
	}
	if len(r.Devices) != want {
		t.Fatalf("ListAndWatch sent %d devices, want %d", len(r.Devices), want)
	}
	health := r.Devices[0].Health
	for _, d := range r.Devices {
		if d.Health != health {
			t.Fatalf("devices of mixed health: %v", r.Devices)
		}
	}
	return health
}

func TestPluginRegistersAndAllocatesTun(t *testing.T) {
	dir := shortTempDir(t)
	k := startKubelet(t, dir)
	tun := fakeTun(t, dir)
	startPlugin(t, Options{PluginDir: dir, CheckPath: tun, Devices: 3, HealthInterval: 50 * time.Millisecond, Log: testr.New(t)})

	r := k.waitRegister(t)
	if r.Version != pluginapi.Version || r.ResourceName != ResourceName || r.Endpoint != DefaultEndpoint {
		t.Fatalf("registered %+v, want version %s, resource %s, endpoint %s", r, pluginapi.Version, ResourceName, DefaultEndpoint)
	}
	c := dial(t, dir, r)
	ctx := context.Background()
	opts, err := c.GetDevicePluginOptions(ctx, &pluginapi.Empty{})
	if err != nil || opts.PreStartRequired || opts.GetPreferredAllocationAvailable {
		t.Fatalf("GetDevicePluginOptions = %+v, %v; want no options", opts, err)
	}

	resp, err := c.Allocate(ctx, &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{
		{DevicesIds: []string{"tun-0"}}, {DevicesIds: []string{"tun-2", "tun-1"}},
	}})
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if len(resp.ContainerResponses) != 2 {
		t.Fatalf("Allocate answered %d containers, want 2", len(resp.ContainerResponses))
	}
	for i, cr := range resp.ContainerResponses {
		if len(cr.Devices) != 1 || len(cr.Mounts) != 0 || len(cr.Envs) != 0 || len(cr.Annotations) != 0 || len(cr.CdiDevices) != 0 {
			t.Fatalf("container %d gets %+v, want exactly one device and nothing else", i, cr)
		}
		d := cr.Devices[0]
		if d.HostPath != TunPath || d.ContainerPath != TunPath || d.Permissions != "rw" {
			t.Fatalf("container %d gets device %+v, want %s read-write without mknod", i, d, TunPath)
		}
	}
}

// A kubelet (or anything else that reaches the socket) asking for devices the plugin never
// advertised gets an error, not a device.
func TestPluginRefusesUnknownDevices(t *testing.T) {
	dir := shortTempDir(t)
	k := startKubelet(t, dir)
	startPlugin(t, Options{PluginDir: dir, CheckPath: fakeTun(t, dir), Devices: 2, Log: testr.New(t)})
	c := dial(t, dir, k.waitRegister(t))
	for _, ids := range [][]string{{"tun-2"}, {"tun-00"}, {"tun-"}, {"gpu-0"}, {"tun-1", "../../dev/sda"}, {"tun-99999999999999999999"}, {}} {
		_, err := c.Allocate(context.Background(), &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: ids}}})
		if err == nil {
			t.Errorf("Allocate(%q) succeeded, want an error", ids)
		}
	}
}

// The devices turn unhealthy when the node's tun device goes away (or is not a character
// device) and healthy again when it is back, so the scheduler stops placing runners there.
func TestPluginReportsHealth(t *testing.T) {
	dir := shortTempDir(t)
	k := startKubelet(t, dir)
	tun := fakeTun(t, dir)
	startPlugin(t, Options{PluginDir: dir, CheckPath: tun, Devices: 4, HealthInterval: 20 * time.Millisecond, Log: testr.New(t)})
	c := dial(t, dir, k.waitRegister(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := c.ListAndWatch(ctx, &pluginapi.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if h := recvHealth(t, s, 4); h != pluginapi.Healthy {
		t.Fatalf("devices %s with the device present, want Healthy", h)
	}
	if err := os.Remove(tun); err != nil {
		t.Fatal(err)
	}
	if h := recvHealth(t, s, 4); h != pluginapi.Unhealthy {
		t.Fatalf("devices %s with the device gone, want Unhealthy", h)
	}
	// A regular file where the device was is no device.
	if err := os.WriteFile(tun, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := os.Remove(tun); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/null", tun); err != nil {
		t.Fatal(err)
	}
	if h := recvHealth(t, s, 4); h != pluginapi.Healthy {
		t.Fatalf("devices %s with the device back, want Healthy", h)
	}
}

// A restarting kubelet removes every plugin socket in its directory: the plugin serves a new
// one and registers again.
func TestPluginRegistersAgainAfterKubeletRestart(t *testing.T) {
	dir := shortTempDir(t)
	k := startKubelet(t, dir)
	startPlugin(t, Options{PluginDir: dir, CheckPath: fakeTun(t, dir), Devices: 1, HealthInterval: 20 * time.Millisecond, Log: testr.New(t)})
	r := k.waitRegister(t)
	if err := os.Remove(filepath.Join(dir, r.Endpoint)); err != nil {
		t.Fatal(err)
	}
	r = k.waitRegister(t)
	resp, err := dial(t, dir, r).Allocate(context.Background(), &pluginapi.AllocateRequest{ContainerRequests: []*pluginapi.ContainerAllocateRequest{{DevicesIds: []string{"tun-0"}}}})
	if err != nil || len(resp.ContainerResponses) != 1 {
		t.Fatalf("Allocate after re-registering = %+v, %v", resp, err)
	}
}

// Without a kubelet the plugin keeps retrying and registers once one appears.
func TestPluginWaitsForTheKubelet(t *testing.T) {
	dir := shortTempDir(t)
	startPlugin(t, Options{PluginDir: dir, CheckPath: fakeTun(t, dir), Devices: 1, HealthInterval: 20 * time.Millisecond, Log: testr.New(t)})
	time.Sleep(200 * time.Millisecond)
	k := startKubelet(t, dir)
	if r := k.waitRegister(t); r.ResourceName != ResourceName {
		t.Fatalf("registered %q", r.ResourceName)
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Devices: -1}, "devices must be between 1 and 10000"},
		{Options{Devices: 10001}, "devices must be between 1 and 10000"},
		{Options{Endpoint: "../kubelet.sock"}, "must be a file name"},
		{Options{HealthInterval: -time.Second}, "health interval must be positive"},
	} {
		if _, err := New(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.o, err, tc.want)
		}
	}
}
