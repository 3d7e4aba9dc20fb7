package kclient

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// franz-go's own INFO lines (connections, metadata, group joins) are dropped
// unless the library level is DEBUG; its warnings and errors always pass.
// kslog asks the handler which levels are enabled, so franz-go does not even
// format what would be dropped.
func TestLibraryLoggerDropsFranzGoInfoUnlessDebug(t *testing.T) {
	defer SetLibraryLogLevel(slog.LevelWarn)
	var buf bytes.Buffer
	app := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))

	lib := kslog.New(LibraryLogger(app))
	if lv := lib.Level(); lv != kgo.LogLevelWarn {
		t.Fatalf("default library level seen by franz-go: %v, want warn", lv)
	}
	lib.Log(kgo.LogLevelInfo, "connection opened to broker")
	lib.Log(kgo.LogLevelWarn, "unable to open connection")
	if s := buf.String(); strings.Contains(s, "connection opened") || !strings.Contains(s, "unable to open") {
		t.Fatalf("at the default level:\n%s", s)
	}

	buf.Reset()
	SetLibraryLogLevel(slog.LevelDebug)
	lib.Log(kgo.LogLevelInfo, "connection opened to broker")
	if !strings.Contains(buf.String(), "connection opened") {
		t.Fatalf("at debug the INFO line is missing:\n%s", buf.String())
	}
	// The application's own level still applies.
	quiet := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
	if LibraryLogger(quiet).Handler().Enabled(context.Background(), slog.LevelWarn) {
		t.Fatal("a WARN passes an application logger at ERROR")
	}
}
