//go:build !linux

package main

import (
	"os"
	"syscall"
)

// childProcAttr: no parent-death signal outside Linux.
func childProcAttr() *syscall.SysProcAttr { return nil }

// terminateSignal asks a child process to stop gracefully.
var terminateSignal os.Signal = os.Interrupt
