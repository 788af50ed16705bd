//go:build !linux

package harness

import "syscall"

// sysProcAttr gives a child its own process group. Without Linux's parent-death signal, a
// suite killed abruptly may leave its children running; stop them by the PIDs in the logs.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
