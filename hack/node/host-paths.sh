# Paths outside the node's state directory that the kubelet and containerd use whatever
# their configured roots (the kubelet's device manager checkpoint and the socket of the
# chart's tun device plugin, whose pods are killed with the node, included) (sourced by up.sh and down.sh): up.sh records which existed
# before, down.sh removes the others (a directory only when empty).
HOST_PATHS="/var/lib/kubelet /var/lib/kubelet/device-plugins /var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint /var/lib/kubelet/device-plugins/corral-tun.sock /var/log/containers /run/containerd /run/containerd/s /run/containerd/runc"
HOST_PATHS_DEEPEST_FIRST="/var/lib/kubelet/device-plugins/kubelet.sock /var/lib/kubelet/device-plugins/kubelet_internal_checkpoint /var/lib/kubelet/device-plugins/corral-tun.sock /var/lib/kubelet/device-plugins /var/lib/kubelet /var/log/containers /run/containerd/s /run/containerd/runc /run/containerd"
