// Package tunplugin is a kubelet device plugin that hands the node's /dev/net/tun to runner
// pods as the extended resource corral.run/tun. A Podman pool with Isolated networking then
// requests one instead of mounting a hostPath, which keeps its pod at Pod Security baseline.
//
// tun is shareable (each open gives the opener its own interface in its own network
// namespace), so the plugin advertises as many devices as pods fit on the node, all backed by
// the same node device, and every allocation gets exactly that one device node, read-write,
// without mknod rights.
package tunplugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

// ResourceName is the extended resource a runner container requests, one per pod.
const ResourceName = "corral.run/tun"

// TunPath is the tun device on the node and in the container.
const TunPath = "/dev/net/tun"

// Defaults of Options.
const (
	DefaultEndpoint       = "corral-tun.sock"
	DefaultDevices        = 110 // the kubelet's default maxPods
	DefaultHealthInterval = 5 * time.Second
	registerTimeout       = 10 * time.Second
	deviceIDPrefix        = "tun-"
)

// Options configure the plugin.
type Options struct {
	// PluginDir is the kubelet's device plugin directory, holding kubelet.sock.
	PluginDir string
	// Endpoint is the plugin's socket name in PluginDir.
	Endpoint string
	// CheckPath is where this process sees the node's tun device (in a DaemonSet pod, a
	// hostPath mount); the device is healthy while it is a character device.
	CheckPath string
	// Devices is how many pods of the node may hold the device at once.
	Devices int
	// HealthInterval is how often the device and the plugin's socket are checked.
	HealthInterval time.Duration
	Log            logr.Logger
}

func (o *Options) defaults() error {
	if o.PluginDir == "" {
		o.PluginDir = pluginapi.DevicePluginPath
	}
	if o.Endpoint == "" {
		o.Endpoint = DefaultEndpoint
	}
	if o.CheckPath == "" {
		o.CheckPath = TunPath
	}
	if o.Devices == 0 {
		o.Devices = DefaultDevices
	}
	if o.HealthInterval == 0 {
		o.HealthInterval = DefaultHealthInterval
	}
	switch {
	case o.Devices < 1 || o.Devices > 10000:
		return fmt.Errorf("devices must be between 1 and 10000, not %d", o.Devices)
	case strings.ContainsRune(o.Endpoint, '/'):
		return fmt.Errorf("endpoint %q must be a file name in the plugin directory", o.Endpoint)
	case o.HealthInterval < 0:
		return fmt.Errorf("health interval must be positive, not %s", o.HealthInterval)
	}
	return nil
}

// Plugin serves the kubelet's DevicePlugin API for corral.run/tun.
type Plugin struct {
	pluginapi.UnimplementedDevicePluginServer
	o Options

	mu      sync.Mutex
	healthy bool
	changed chan struct{} // closed and replaced when healthy changes
}

// New checks the options and returns a plugin that has not started yet.
func New(o Options) (*Plugin, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	return &Plugin{o: o, changed: make(chan struct{})}, nil
}

// Run serves and registers the plugin until ctx ends. When the kubelet restarts it removes
// every plugin socket; Run notices, serves a new socket and registers again.
func (p *Plugin) Run(ctx context.Context) error {
	p.checkHealth()
	for {
		stop, err := p.serve()
		if err != nil {
			return err
		}
		if err := p.register(ctx); err != nil {
			stop()
			p.o.Log.Error(err, "registering with the kubelet failed; retrying", "in", p.o.HealthInterval)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(p.o.HealthInterval):
			}
			continue
		}
		p.o.Log.Info("registered with the kubelet", "resource", ResourceName, "devices", p.o.Devices)
		err = p.watch(ctx)
		stop()
		if ctx.Err() != nil {
			return nil
		}
		p.o.Log.Info("serving again", "reason", err.Error())
	}
}

// socketPath is the plugin's own socket.
func (p *Plugin) socketPath() string { return filepath.Join(p.o.PluginDir, p.o.Endpoint) }

// serve listens on the plugin's socket (replacing a stale one) and serves the API.
func (p *Plugin) serve() (stop func(), err error) {
	path := p.socketPath()
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket: %w", err)
	}
	lis, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	srv := grpc.NewServer()
	pluginapi.RegisterDevicePluginServer(srv, p)
	go func() { _ = srv.Serve(lis) }()
	return srv.Stop, nil
}

// register tells the kubelet where the plugin listens.
func (p *Plugin) register(ctx context.Context) error {
	kubelet := filepath.Join(p.o.PluginDir, filepath.Base(pluginapi.KubeletSocket))
	conn, err := grpc.NewClient("unix://"+kubelet, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect to the kubelet at %s: %w", kubelet, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, registerTimeout)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version:      pluginapi.Version,
		Endpoint:     p.o.Endpoint,
		ResourceName: ResourceName,
		Options:      &pluginapi.DevicePluginOptions{},
	}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("register with the kubelet at %s: %w", kubelet, err)
	}
	return nil
}

// watch checks the device's health and the socket until ctx ends or the socket is gone
// (the kubelet restarted).
func (p *Plugin) watch(ctx context.Context) error {
	t := time.NewTicker(p.o.HealthInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		p.checkHealth()
		if _, err := os.Stat(p.socketPath()); err != nil {
			return fmt.Errorf("socket %s is gone (the kubelet restarted)", p.socketPath())
		}
	}
}

// checkHealth records whether the device is there, waking ListAndWatch streams on a change.
func (p *Plugin) checkHealth() {
	fi, err := os.Stat(p.o.CheckPath)
	healthy := err == nil && fi.Mode()&os.ModeCharDevice != 0
	p.mu.Lock()
	defer p.mu.Unlock()
	if healthy == p.healthy {
		return
	}
	p.healthy = healthy
	close(p.changed)
	p.changed = make(chan struct{})
	if healthy {
		p.o.Log.Info("tun device is healthy", "path", p.o.CheckPath)
	} else {
		p.o.Log.Info("tun device is missing or not a character device: devices unhealthy", "path", p.o.CheckPath, "error", err)
	}
}

// devices lists every device with the current health, and the channel closed on the next change.
func (p *Plugin) devices() ([]*pluginapi.Device, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	health := pluginapi.Unhealthy
	if p.healthy {
		health = pluginapi.Healthy
	}
	devs := make([]*pluginapi.Device, p.o.Devices)
	for i := range devs {
		devs[i] = &pluginapi.Device{ID: fmt.Sprintf("%s%d", deviceIDPrefix, i), Health: health}
	}
	return devs, p.changed
}

// GetDevicePluginOptions: no PreStartContainer, no preferred allocation.
func (p *Plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

// ListAndWatch sends the devices, then again whenever their health changes.
func (p *Plugin) ListAndWatch(_ *pluginapi.Empty, s grpc.ServerStreamingServer[pluginapi.ListAndWatchResponse]) error {
	for {
		devs, changed := p.devices()
		if err := s.Send(&pluginapi.ListAndWatchResponse{Devices: devs}); err != nil {
			return err
		}
		select {
		case <-s.Context().Done():
			return nil
		case <-changed:
		}
	}
}

// Allocate gives each container the node's tun device, read-write, for IDs this plugin
// advertised; anything else is refused.
func (p *Plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for _, c := range req.ContainerRequests {
		if len(c.DevicesIds) == 0 {
			return nil, errors.New("allocate: a container asked for no device")
		}
		for _, id := range c.DevicesIds {
			if !p.known(id) {
				return nil, fmt.Errorf("allocate: unknown device %q", id)
			}
		}
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Devices: []*pluginapi.DeviceSpec{{ContainerPath: TunPath, HostPath: TunPath, Permissions: "rw"}},
		})
	}
	return resp, nil
}

// known reports whether id is one of the advertised device IDs.
func (p *Plugin) known(id string) bool {
	n, ok := strings.CutPrefix(id, deviceIDPrefix)
	if !ok || n == "" || len(n) > 5 || (len(n) > 1 && n[0] == '0') {
		return false
	}
	i := 0
	for _, r := range n {
		if r < '0' || r > '9' {
			return false
		}
		i = i*10 + int(r-'0')
	}
	return i < p.o.Devices
}

// PreStartContainer is not required (GetDevicePluginOptions says so).
func (p *Plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}
