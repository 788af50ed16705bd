package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/corral-run/corral/internal/tunplugin"
)

// tunPluginCommand is the subcommand that runs the node's tun device plugin (the chart's
// tunDevicePlugin DaemonSet) instead of the operator.
const tunPluginCommand = "tun-device-plugin"

// runTunPlugin runs `corral tun-device-plugin [flags]` until a signal.
func runTunPlugin(args []string) error {
	fs := flag.NewFlagSet(tunPluginCommand, flag.ContinueOnError)
	var o tunplugin.Options
	var z zap.Options
	fs.StringVar(&o.PluginDir, "plugin-dir", "/var/lib/kubelet/device-plugins", "The kubelet's device plugin directory (holds kubelet.sock).")
	fs.StringVar(&o.Endpoint, "endpoint", tunplugin.DefaultEndpoint, "The plugin's socket name in --plugin-dir.")
	fs.StringVar(&o.CheckPath, "check-path", tunplugin.TunPath, "Where this process sees the node's /dev/net/tun (its health check); pods always get the node's /dev/net/tun.")
	fs.IntVar(&o.Devices, "devices", tunplugin.DefaultDevices, "How many pods of the node may hold "+tunplugin.ResourceName+" at once (set it to the kubelet's maxPods).")
	fs.DurationVar(&o.HealthInterval, "health-interval", tunplugin.DefaultHealthInterval, "How often the device and the plugin's socket are checked.")
	z.BindFlags(fs)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s takes no arguments, got %q", tunPluginCommand, fs.Args())
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&z)))
	o.Log = ctrl.Log.WithName("tun-device-plugin")
	p, err := tunplugin.New(o)
	if err != nil {
		return err
	}
	o.Log.Info("starting", "version", version, "resource", tunplugin.ResourceName)
	return p.Run(ctrl.SetupSignalHandler())
}

// maybeRunTunPlugin runs the subcommand and exits when it is named first on the command line.
func maybeRunTunPlugin() {
	if len(os.Args) < 2 || os.Args[1] != tunPluginCommand {
		return
	}
	if err := runTunPlugin(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "corral %s: %v\n", tunPluginCommand, err)
		os.Exit(1)
	}
	os.Exit(0)
}
