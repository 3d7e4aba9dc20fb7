package main

import "syscall"

// childProcAttr makes a child process die with this one (a chaos run
// killed with SIGKILL leaves no worker behind).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// terminateSignal asks a child process to stop gracefully.
var terminateSignal = syscall.SIGTERM
