//go:build !linux

package proc

import (
	"os"
	"syscall"
)

// ChildAttr: no parent-death signal outside Linux.
func ChildAttr() *syscall.SysProcAttr { return nil }

// Terminate asks a child process to stop gracefully.
var Terminate os.Signal = os.Interrupt
