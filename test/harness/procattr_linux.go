package harness

import "syscall"

// sysProcAttr gives a child its own process group and kills it when the suite's process dies
// (even by SIGKILL or a test timeout), so no child outlives the suite.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
