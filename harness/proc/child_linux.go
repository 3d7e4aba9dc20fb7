package proc

import (
	"os"
	"syscall"
)

// ChildAttr makes a child process die with this one (a run killed with
// SIGKILL leaves no worker or peer behind).
func ChildAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// Terminate asks a child process to stop gracefully.
var Terminate os.Signal = syscall.SIGTERM
