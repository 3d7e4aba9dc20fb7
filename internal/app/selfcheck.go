package app

// kraite healthcheck and kraite version: what a container or a person asks
// of a binary without a broker or a database.

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/kraite/stream/internal/ops"
)

// HealthcheckRequest is a `kraite healthcheck` call.
type HealthcheckRequest struct {
	URL      string        // URL to probe (empty: /readyz of HTTPAddr)
	HTTPAddr string        // KRAITE_HTTP_ADDR
	Timeout  time.Duration // give up after this long
	Quiet    bool          // print nothing when ready
}

// Validate names a bad timeout or URL, as its flag.
func (r HealthcheckRequest) Validate() error {
	if r.Timeout <= 0 {
		return fmt.Errorf("--timeout: %v must be positive", r.Timeout)
	}
	if r.URL != "" {
		if err := ops.CheckProbeURL(r.URL); err != nil {
			return fmt.Errorf("--url: %v", err)
		}
	}
	return nil
}

// Healthcheck probes the readiness endpoint once: nil when it answers 2xx
// (its body on w unless Quiet), else why not.
func Healthcheck(ctx context.Context, r HealthcheckRequest, w io.Writer) error {
	target := r.URL
	if target == "" {
		u, err := ops.ReadyURL(r.HTTPAddr)
		if err != nil {
			return fmt.Errorf("KRAITE_HTTP_ADDR: %w", err)
		}
		target = u
	}
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	body, err := ops.Probe(ctx, target)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	if !r.Quiet {
		fmt.Fprint(w, body)
	}
	return nil
}

// WriteVersion writes what the binary was built from, as the Go toolchain
// recorded it (runtime/debug.ReadBuildInfo): the module version ("(devel)"
// for a build from a checkout), the VCS revision and commit time (with
// "+dirty" when the tree had uncommitted changes) and the Go version.
func WriteVersion(w io.Writer) {
	version, revision, when, dirty := "(unknown)", "(unknown)", "(unknown)", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		revision += "+dirty"
	}
	fmt.Fprintf(w, "kraite %s\nrevision %s\ntime     %s\ngo       %s %s/%s\n",
		version, revision, when, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
