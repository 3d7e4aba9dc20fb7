//go:build !unix

package broker

// LockDir is a no-op where flock is not available.
func LockDir(dir string) (unlock func(), err error) { return func() {}, nil }
