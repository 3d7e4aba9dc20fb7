package main

import (
	"context"
	"time"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

// cmdHealthcheck probes the local /readyz once: exit 0 when ready, 1 with
// the reason on stderr when not, 2 on a usage error. It is the container
// healthcheck of the compose boxes (the image has no shell or curl), so it
// reads nothing but KRAITE_HTTP_ADDR and opens no broker or database.
func cmdHealthcheck(ctx context.Context, a *kraite, args []string) error {
	r := app.HealthcheckRequest{HTTPAddr: a.cfg.Exchange.HTTPAddr} // even when other variables are bad: the box reports those
	fs := a.newFlags("healthcheck", "healthcheck [--url URL] [--timeout D] [--quiet]\n\n"+
		"  Probes the readiness endpoint of the kraite process next to it once: exit status 0\n"+
		"  when it answers 2xx, 1 when it does not (the failing checks, or why it could not be\n"+
		"  reached, on stderr), 2 on a usage error. Without --url it probes /readyz on the\n"+
		"  port of KRAITE_HTTP_ADDR (a 0.0.0.0 or :: listener is probed on loopback). The\n"+
		"  container healthcheck of docker-compose.yml: [\"CMD\", \"/kraite\", \"healthcheck\"].")
	fs.StringVar(&r.URL, "url", "", "URL to probe (default: /readyz of KRAITE_HTTP_ADDR)")
	fs.DurationVar(&r.Timeout, "timeout", 5*time.Second, "give up after this long")
	fs.BoolVar(&r.Quiet, "quiet", false, "print nothing when ready (default: the /readyz body on stdout)")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return app.Healthcheck(ctx, r, a.stdout)
}
