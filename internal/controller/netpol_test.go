package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func nodeWith(addresses ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n"}}
	for i, a := range addresses {
		typ := corev1.NodeInternalIP
		if i%2 == 1 {
			typ = corev1.NodeExternalIP
		}
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: typ, Address: a})
	}
	return n
}

// TestNodeExceptionsChanged: only node events that change the Internet mode's exceptions
// reach the pools; a node's heartbeat or private addresses never do.
func TestNodeExceptionsChanged(t *testing.T) {
	p := nodeExceptionsChanged()
	heartbeat := nodeWith("10.0.0.9", "34.120.5.6")
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	hostname := nodeWith("10.0.0.9")
	hostname.Status.Addresses = append(hostname.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeHostName, Address: "34.120.5.6"})
	updates := []struct {
		name     string
		old, new *corev1.Node
		want     bool
	}{
		{"a heartbeat", nodeWith("10.0.0.9", "34.120.5.6"), heartbeat, false},
		{"a private address changes", nodeWith("10.0.0.9"), nodeWith("10.0.0.10"), false},
		{"a public address changes", nodeWith("10.0.0.9", "34.120.5.6"), nodeWith("10.0.0.9", "34.120.5.7"), true},
		{"a public address appears", nodeWith("10.0.0.9"), nodeWith("10.0.0.9", "2600:1f18::5"), true},
		{"a public address goes", nodeWith("10.0.0.9", "34.120.5.6"), nodeWith("10.0.0.9"), true},
		{"the same addresses in another order", nodeWith("10.0.0.9", "34.120.5.6", "10.0.0.8", "34.120.5.5"), nodeWith("10.0.0.8", "34.120.5.5", "10.0.0.9", "34.120.5.6"), false},
		{"a host name that looks like an address", nodeWith("10.0.0.9"), hostname, false},
	}
	for _, u := range updates {
		if got := p.Update(event.UpdateEvent{ObjectOld: u.old, ObjectNew: u.new}); got != u.want {
			t.Errorf("%s: passed = %t, want %t", u.name, got, u.want)
		}
	}
	if !p.Create(event.CreateEvent{Object: nodeWith("10.0.0.9", "34.120.5.6")}) || !p.Delete(event.DeleteEvent{Object: nodeWith("34.120.5.6")}) {
		t.Error("a node with a public address that comes or goes must reach the pools")
	}
	if p.Create(event.CreateEvent{Object: nodeWith("10.0.0.9")}) || p.Delete(event.DeleteEvent{Object: nodeWith("192.168.0.4")}) {
		t.Error("a node with private addresses only changes no policy")
	}
}

// TestSlimNode: a cached node keeps its name and addresses, and none of the status that
// makes nodes large.
func TestSlimNode(t *testing.T) {
	n := nodeWith("10.0.0.9", "34.120.5.6")
	n.Labels = map[string]string{"kubernetes.io/hostname": "n"}
	n.Status.Images = []corev1.ContainerImage{{Names: []string{"registry.example/big:1"}, SizeBytes: 1 << 30}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	obj, err := slimNode(n)
	if err != nil {
		t.Fatal(err)
	}
	slim := obj.(*corev1.Node)
	if slim.Name != "n" || len(slim.Status.Addresses) != 2 || slim.Status.Addresses[1].Address != "34.120.5.6" {
		t.Errorf("slim node lost its name or addresses: %+v", slim)
	}
	if len(slim.Status.Images) != 0 || len(slim.Status.Conditions) != 0 || len(slim.Labels) != 0 {
		t.Errorf("slim node keeps what is never read: %+v", slim.Status)
	}
	if got, _ := slimNode("tombstone"); got != "tombstone" {
		t.Error("a tombstone must pass unchanged")
	}
}
