package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// RunRequest is a `kraite run` call: the box to run, named by its role or
// by its components, and where its ops server listens.
type RunRequest struct {
	Role       string // a role (RoleNames)
	Components string // or its components, comma separated
	HTTPAddr   string // status page, metrics, /healthz and /readyz
}

// Validate names the flag that is missing, doubled or unknown.
func (r RunRequest) Validate() error {
	_, err := r.names()
	return err
}

// names are the components of r's role, or its --components.
func (r RunRequest) names() ([]string, error) {
	switch {
	case r.Role != "" && r.Components != "":
		return nil, errors.New("give --role or --components, not both")
	case r.Role != "":
		names, ok := RoleComponents(r.Role)
		if !ok {
			return nil, fmt.Errorf("unknown role %q (roles: %s)", r.Role, strings.Join(RoleNames(), ", "))
		}
		return names, nil
	case r.Components != "":
		names := SplitList(r.Components)
		if len(names) == 0 {
			return nil, fmt.Errorf("--components %q names no component (components: %s)", r.Components, strings.Join(ComponentNames(), ", "))
		}
		for _, n := range names {
			if !IsComponent(n) {
				// Refused before the box touches the cluster (it applies
				// the topic catalog first) or builds anything.
				return nil, fmt.Errorf("unknown component %q (known: %s)", n, strings.Join(ComponentNames(), ", "))
			}
		}
		return names, nil
	}
	return nil, errors.New("give --role or --components")
}

// Run runs the box r names (RunBox) with cfg until ctx ends or a component
// fails.
func Run(ctx context.Context, cfg *Config, log *slog.Logger, r RunRequest) error {
	names, err := r.names()
	if err != nil {
		return err
	}
	w := New(cfg, log)
	w.Exchange.HTTPAddr = r.HTTPAddr
	return w.RunBox(ctx, names, RunProcessName(r.Role, names))
}
