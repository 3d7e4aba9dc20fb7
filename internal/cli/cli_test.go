package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
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

// Flags may stand anywhere among the positional arguments until "--";
// after it everything is positional. A bad flag is a usage error of the
// command, -h prints the help to the command's stdout and is flag.ErrHelp.
func TestParseFlagsAnywhereAndHelp(t *testing.T) {
	var out bytes.Buffer
	fs := NewFlags(&out, "regime", "regime override allow|block|clear --for 1h")
	dur := fs.String("for", "", "how long")
	fs.String("secret", "", "internal: not shown")
	if err := Parse(fs, []string{"override", "allow", "--for", "1h", "--", "--for", "x"}); err != nil {
		t.Fatal(err)
	}
	if *dur != "1h" || strings.Join(fs.Args(), " ") != "override allow --for x" {
		t.Fatalf("for %q, args %q", *dur, fs.Args())
	}
	if err := NoArgs(fs, 2); err == nil || !strings.Contains(err.Error(), `unexpected argument "--for"`) {
		t.Fatalf("NoArgs: %v", err)
	}
	var ue *UsageError
	if err := Parse(fs, []string{"--nope"}); !errors.As(err, &ue) || ue.Cmd != "regime" {
		t.Fatalf("bad flag: %v", err)
	}
	if out.Len() != 0 {
		t.Fatalf("a bad flag printed the help: %q", out.String())
	}
	if err := Parse(fs, []string{"status", "-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	if h := out.String(); !strings.HasPrefix(h, "Usage: kraite regime override") || !strings.Contains(h, "-for") || strings.Contains(h, "secret") {
		t.Fatalf("help:\n%s", h)
	}
}

// help <command>, <command> help and -h all reach the command's -h, which
// is no error; --version is the version command; an unknown command is a
// usage error of kraite itself.
func TestDispatchRoutesHelpAndVersion(t *testing.T) {
	var got []string
	cmds := []Command[*[]string]{
		{Name: "topics", Run: func(_ context.Context, e *[]string, args []string) error {
			*e = append(*e, "topics "+strings.Join(args, " "))
			return flag.ErrHelp
		}},
		{Name: "version", Run: func(_ context.Context, e *[]string, args []string) error {
			*e = append(*e, "version "+strings.Join(args, " "))
			return nil
		}},
	}
	usage := 0
	for _, args := range [][]string{{"help", "topics"}, {"topics", "list", "help"}, {"--version"}, {}, {"-h"}} {
		if err := Dispatch(context.Background(), cmds, &got, args, func() { usage++ }); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if want := "topics -h|topics list -h|version "; strings.Join(got, "|") != want || usage != 2 {
		t.Fatalf("ran %q, usage %d times", strings.Join(got, "|"), usage)
	}
	err := Dispatch(context.Background(), cmds, &got, []string{"nope"}, func() {})
	var ue *UsageError
	if !errors.As(err, &ue) || ue.Cmd != "" || err.Error() != `unknown command "nope"` {
		t.Fatalf("unknown command: %v", err)
	}
}

// The top-level help lists every command, names padded to the longest.
func TestWriteSummariesAlignsTheNames(t *testing.T) {
	var out bytes.Buffer
	WriteSummaries(&out, []Command[int]{{Name: "dev", Summary: "everything"}, {Name: "healthcheck", Summary: "probe"}})
	if want := "  dev          everything\n  healthcheck  probe\n"; out.String() != want {
		t.Fatalf("%q, want %q", out.String(), want)
	}
}
