package accounts

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// ReadSecret reads an API secret from r (a file or stdin): the first line,
// its line ending removed, checked by ValidateSecret. from names the source
// in errors (the secret itself never appears in one).
func ReadSecret(r io.Reader, from string) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSecretLen+3))
	if err != nil {
		return "", fmt.Errorf("reading the API secret from %s: %w", from, err)
	}
	s := string(data)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		if strings.TrimSpace(s[i+1:]) != "" {
			return "", fmt.Errorf("the API secret from %s has more than one line", from)
		}
		s = s[:i]
	}
	s = strings.TrimSuffix(s, "\r")
	if s == "" {
		return "", fmt.Errorf("no API secret on %s (give it on stdin or with --secret-file; never as a flag)", from)
	}
	if err := ValidateSecret(s); err != nil {
		return "", fmt.Errorf("the API secret from %s: %w", from, err)
	}
	return s, nil
}

// ReadSecretFile reads an API secret from a file (see ReadSecret).
func ReadSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("secret file: %w", err)
	}
	defer f.Close()
	return ReadSecret(f, path)
}

// WriteList prints accounts as a table: the API key masked, never the
// secret.
func WriteList(w io.Writer, list []Info) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tEXCHANGE\tSTATE\tAPI KEY\tVERSION\tPUBLISHED\tUPDATED\tLABEL")
	for _, i := range list {
		state := "enabled"
		switch {
		case i.Removed:
			state = "removed"
		case !i.Enabled:
			state = "disabled"
		}
		pub := "yes"
		if i.Pending() {
			pub = fmt.Sprintf("no (at %d)", i.PublishedVersion)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", i.ID, i.Exchange, state, MaskKey(i.APIKey), i.Version, pub,
			i.UpdatedAt.UTC().Format(time.RFC3339), i.Label)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	n := 0
	for _, i := range list {
		if i.Pending() {
			n++
		}
	}
	if n > 0 {
		_, err := fmt.Fprintf(w, "\n%d change(s) not yet on kraite.accounts: run 'kraite accounts publish'\n", n)
		return err
	}
	return nil
}

// WriteAudit prints audit rows, newest first.
func WriteAudit(w io.Writer, es []AuditEntry) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tBY\tACTION\tACCOUNT\tVERSION\tDETAIL")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", e.At.UTC().Format(time.RFC3339), e.Actor, e.Action, e.ID, e.Version, e.Detail)
	}
	return tw.Flush()
}
