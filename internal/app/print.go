package app

import (
	"fmt"
	"io"
	"strings"

	"github.com/caarlos0/env/v11"

	"github.com/kraite/stream/internal/db"
)

// Print writes every variable of the configuration as NAME=VALUE lines
// (the environment's value, else the default), grouped by part under a
// comment, with secrets masked: a password, key, token or secret shows as
// "****" when set, and a URL's password and secret query values as xxxxx.
func (c *Config) Print(w io.Writer) error {
	for i, p := range c.parts() {
		params, err := env.GetFieldParams(p.ptr)
		if err != nil {
			return fmt.Errorf("listing the variables of %s: %w", p.title, err)
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "# %s\n", p.title)
		for _, f := range params {
			v, set := c.vars[f.Key]
			if !set {
				v = f.DefaultValue
			}
			note := ""
			if !set && f.HasDefaultValue {
				note = "  # default"
			}
			fmt.Fprintf(w, "%s=%s%s\n", f.Key, maskValue(f.Key, v), note)
		}
	}
	return nil
}

// secretSuffixes end the names of variables whose value is a secret (a
// _FILE variable holds a path, shown as is).
var secretSuffixes = []string{"_PASSWORD", "_KEY", "_TOKEN", "_SECRET"}

// maskValue is what Print shows of variable key's value v: secrets as ****
// (empty when unset), URLs without their password or secret query values,
// and control characters escaped so a value cannot rewrite the terminal.
func maskValue(key, v string) string {
	for _, suf := range secretSuffixes {
		if strings.HasSuffix(key, suf) {
			if v == "" {
				return ""
			}
			return "****"
		}
	}
	if strings.Contains(v, "://") {
		v = db.MaskURL(v)
	}
	q := fmt.Sprintf("%q", v)
	if q[1:len(q)-1] != v {
		return q // quoted: it holds a quote, a backslash or a control character
	}
	return v
}

// PrintAndCheck is `kraite config`: Print, then the error of Load that made
// c (loadErr, naming every bad variable), then whether the Kafka security
// it configures can be built (a half-configured TLS or SASL).
func (c *Config) PrintAndCheck(w io.Writer, loadErr error) error {
	if err := c.Print(w); err != nil {
		return err
	}
	if loadErr != nil {
		return loadErr
	}
	_, err := c.Kafka.Build()
	return err
}
