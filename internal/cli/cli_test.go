package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// A failure of the work itself (here: the database cannot be reached) exits
// 1 without the usage hint; no error exits 0.
func TestCLIExitCodes(t *testing.T) {
	var buf bytes.Buffer
	if code := ExitCode(&buf, nil); code != 0 || buf.Len() != 0 {
		t.Fatalf("nil: exit %d, %q", code, buf.String())
	}
	if code := ExitCode(&buf, errors.New("database down")); code != 1 || buf.String() != "kraite: database down\n" {
		t.Fatalf("failure: exit %d, %q", code, buf.String())
	}
	buf.Reset()
	wrapped := errors.Join(errors.New("context"), UsageErr("topics", errors.New("bad")))
	if code := ExitCode(&buf, wrapped); code != 2 || !strings.HasSuffix(buf.String(), "run 'kraite topics -h' for usage\n") {
		t.Fatalf("wrapped usage error: exit %d, %q", code, buf.String())
	}
}
